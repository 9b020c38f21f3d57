/* add_u8__avx512.c — AVX-512 quantized Add and Mul (ONNX Runtime's QLinearAdd / QLinearMul arithmetic), 16 elements per step. */
#include "kernels/int8/q8_add.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq")
#endif
#include <immintrin.h>

/* 16 results of vcvtps2dq -> bytes with vpackssdw + vpackuswb's saturation (clamp to 0..255,
 * which max(., 0) then vpmovusdb gives), then the fused clamp. */
static inline __m128i finish16(__m512i r, __m128i qmin, __m128i qmax) {
    const __m128i bytes = _mm512_cvtusepi32_epi8(_mm512_max_epi32(r, _mm512_setzero_si512()));
    return _mm_min_epu8(_mm_max_epu8(bytes, qmin), qmax);
}

/* The [outer][mid][inner] walk shared by Add and Mul; STEP makes 16 outputs from 16 a and 16 b. */
#define QP_BINARY_WALK(ARGS, ONE, STEP)                                                            \
    do {                                                                                           \
        const int64_t sa = (ARGS)->a_stride[2], sb = (ARGS)->b_stride[2];                         \
        const int vector_ok = (sa == 1 || sa == 0) && (sb == 1 || sb == 0);                       \
        uint8_t *out = (ARGS)->out;                                                                \
        for (int64_t o = 0; o < (ARGS)->outer; o++)                                                \
            for (int64_t m = 0; m < (ARGS)->mid; m++) {                                            \
                const uint8_t *a = (ARGS)->a + o * (ARGS)->a_stride[0] + m * (ARGS)->a_stride[1]; \
                const uint8_t *b = (ARGS)->b + o * (ARGS)->b_stride[0] + m * (ARGS)->b_stride[1]; \
                int64_t i = 0;                                                                     \
                if (vector_ok) {                                                                   \
                    const __m128i a_bc = _mm_set1_epi8((char)a[0]);                                \
                    const __m128i b_bc = _mm_set1_epi8((char)b[0]);                                \
                    for (; i + 16 <= (ARGS)->inner; i += 16) {                                     \
                        const __m128i av = sa ? _mm_loadu_si128((const __m128i *)(a + i)) : a_bc;  \
                        const __m128i bv = sb ? _mm_loadu_si128((const __m128i *)(b + i)) : b_bc;  \
                        _mm_storeu_si128((__m128i *)(out + i), STEP(av, bv));                      \
                    }                                                                              \
                }                                                                                  \
                for (; i < (ARGS)->inner; i++) out[i] = ONE(a, b, i, sa, sb);                      \
                out += (ARGS)->inner;                                                              \
            }                                                                                      \
    } while (0)

void qp_u8_add__avx512(const qp_u8_add_args *args) {
    const qp_u8_add_params *p = args->params;
    const int a_bcast = args->a_stride[2] == 0 && args->b_stride[2] != 0;
    const __m512 ra = _mm512_set1_ps(p->a_ratio), rb = _mm512_set1_ps(p->b_ratio), fixed = _mm512_set1_ps(p->fixed);
    const __m128i qmin = _mm_set1_epi8((char)p->qmin), qmax = _mm_set1_epi8((char)p->qmax);
#define STEP(AV, BV)                                                                                       \
    finish16(_mm512_cvtps_epi32(a_bcast ? _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(BV)), rb,  \
                                                          _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(AV)), ra, fixed)) \
                                        : _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(AV)), ra,  \
                                                          _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(BV)), rb, fixed))), \
             qmin, qmax)
#define ONE(A, B, I, SA, SB) (a_bcast ? qp_u8_add_one_a_bcast((A)[0], (B)[(I) * (SB)], p) : qp_u8_add_one((A)[(I) * (SA)], (B)[(I) * (SB)], p))
    QP_BINARY_WALK(args, ONE, STEP);
#undef ONE
#undef STEP
}

/* The products are exact in int32 (|.| <= 65025); times the ratio, rounded, plus zo, rounded:
 * no FMA (the barrier keeps the compiler from contracting the two). */
static inline __m128i mul16(__m128i av, __m128i bv, __m512i za, __m512i zb, __m512 ratio, __m512 zo, __m128i qmin,
                            __m128i qmax) {
    const __m512i prod = _mm512_mullo_epi32(_mm512_sub_epi32(_mm512_cvtepu8_epi32(av), za),
                                            _mm512_sub_epi32(_mm512_cvtepu8_epi32(bv), zb));
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(prod), ratio);
    __asm__("" : "+v"(v));
    return finish16(_mm512_cvtps_epi32(_mm512_add_ps(v, zo)), qmin, qmax);
}

void qp_u8_mul__avx512(const qp_u8_mul_args *args) {
    const qp_u8_mul_params *p = args->params;
    const __m512i za = _mm512_set1_epi32(p->a_zero_point), zb = _mm512_set1_epi32(p->b_zero_point);
    const __m512 ratio = _mm512_set1_ps(p->ratio), zo = _mm512_set1_ps(p->out_zero_point);
    const __m128i qmin = _mm_set1_epi8((char)p->qmin), qmax = _mm_set1_epi8((char)p->qmax);
#define STEP(AV, BV) mul16(AV, BV, za, zb, ratio, zo, qmin, qmax)
#define ONE(A, B, I, SA, SB) qp_u8_mul_one((A)[(I) * (SA)], (B)[(I) * (SB)], p)
    QP_BINARY_WALK(args, ONE, STEP);
#undef ONE
#undef STEP
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
