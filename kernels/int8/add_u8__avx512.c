/* add_u8__avx512.c — AVX-512 quantized Add and Mul (one rounding, wide multipliers): vpmullq and vpsraq on 64-bit lanes, 16 elements per step. */
#include "kernels/int8/q8_add.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq")
#endif
#include <immintrin.h>

/* AVX-512DQ has the 64-bit multiply and arithmetic shift AVX2 lacks, so qp_wide_requantize is
 * written out directly on 8 lanes of int64 for any shift, clamped in 64 bits. */
typedef struct wide512 {
    __m512i bias, zo, qmin, qmax;
    __m128i shift;
} wide512;

static inline wide512 wide512_make(int32_t shift, int32_t zo, uint8_t qmin, uint8_t qmax) {
    wide512 w;
    w.bias = _mm512_set1_epi64((int64_t)1 << (shift - 1));
    w.shift = _mm_cvtsi32_si128(shift);
    w.zo = _mm512_set1_epi64(zo);
    w.qmin = _mm512_set1_epi64(qmin);
    w.qmax = _mm512_set1_epi64(qmax);
    return w;
}

/* 8 sums -> 8 bytes in the low half of an xmm. */
static inline __m128i wide512_finish(__m512i sum, const wide512 *w) {
    __m512i v = _mm512_add_epi64(_mm512_sra_epi64(_mm512_add_epi64(sum, w->bias), w->shift), w->zo);
    v = _mm512_min_epi64(_mm512_max_epi64(v, w->qmin), w->qmax);
    return _mm512_cvtepi64_epi8(v);
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
                    const __m128i a_bcast = _mm_set1_epi8((char)a[0]);                             \
                    const __m128i b_bcast = _mm_set1_epi8((char)b[0]);                             \
                    for (; i + 16 <= (ARGS)->inner; i += 16) {                                     \
                        const __m128i av = sa ? _mm_loadu_si128((const __m128i *)(a + i)) : a_bcast; \
                        const __m128i bv = sb ? _mm_loadu_si128((const __m128i *)(b + i)) : b_bcast; \
                        _mm_storeu_si128((__m128i *)(out + i), STEP(av, bv));                      \
                    }                                                                              \
                }                                                                                  \
                for (; i < (ARGS)->inner; i++) out[i] = ONE(a[i * sa], b[i * sb], p);             \
                out += (ARGS)->inner;                                                              \
            }                                                                                      \
    } while (0)

typedef struct add_ctx {
    wide512 w;
    __m512i za, zb, ma, mb;
} add_ctx;

static inline __m128i add8(__m128i a8, __m128i b8, const add_ctx *c) {
    const __m512i da = _mm512_sub_epi64(_mm512_cvtepu8_epi64(a8), c->za);
    const __m512i db = _mm512_sub_epi64(_mm512_cvtepu8_epi64(b8), c->zb);
    return wide512_finish(_mm512_add_epi64(_mm512_mullo_epi64(da, c->ma), _mm512_mullo_epi64(db, c->mb)), &c->w);
}

static inline __m128i add16(__m128i av, __m128i bv, const add_ctx *c) {
    return _mm_unpacklo_epi64(add8(av, bv, c), add8(_mm_unpackhi_epi64(av, av), _mm_unpackhi_epi64(bv, bv), c));
}

void qp_u8_add__avx512(const qp_u8_add_args *args) {
    const qp_u8_add_params *p = args->params;
    const add_ctx c = {.w = wide512_make(p->shift, p->out_zero_point, p->qmin, p->qmax),
                       .za = _mm512_set1_epi64(p->a_zero_point), .zb = _mm512_set1_epi64(p->b_zero_point),
                       .ma = _mm512_set1_epi64(p->a_multiplier), .mb = _mm512_set1_epi64(p->b_multiplier)};
#define STEP(AV, BV) add16(AV, BV, &c)
    QP_BINARY_WALK(args, qp_u8_add_one, STEP);
#undef STEP
}

typedef struct mul_ctx {
    wide512 w;
    __m512i za, zb, m;
} mul_ctx;

/* The 16 products are exact in int32; they are widened to int64 in two halves for the multiplier. */
static inline __m128i mul16(__m128i av, __m128i bv, const mul_ctx *c) {
    const __m512i prod = _mm512_mullo_epi32(_mm512_sub_epi32(_mm512_cvtepu8_epi32(av), c->za),
                                            _mm512_sub_epi32(_mm512_cvtepu8_epi32(bv), c->zb));
    const __m128i lo = wide512_finish(_mm512_mullo_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(prod)), c->m), &c->w);
    const __m128i hi = wide512_finish(_mm512_mullo_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(prod, 1)), c->m), &c->w);
    return _mm_unpacklo_epi64(lo, hi);
}

void qp_u8_mul__avx512(const qp_u8_mul_args *args) {
    const qp_u8_mul_params *p = args->params;
    const mul_ctx c = {.w = wide512_make(p->shift, p->out_zero_point, p->qmin, p->qmax),
                       .za = _mm512_set1_epi32(p->a_zero_point), .zb = _mm512_set1_epi32(p->b_zero_point),
                       .m = _mm512_set1_epi64(p->multiplier)};
#define STEP(AV, BV) mul16(AV, BV, &c)
    QP_BINARY_WALK(args, qp_u8_mul_one, STEP);
#undef STEP
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
