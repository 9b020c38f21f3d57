/* mul_u8__avx2.c — AVX2 quantized Mul (ONNX Runtime's QLinearMul arithmetic): 16 elements per step along the innermost level. */
#include "kernels/int8/q8_add.h"

/* Every function below, the helpers of q8_avx2.h included, is built for this ISA; the rest of
 * the library stays baseline x86-64 and this code only runs when the dispatch says so. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif
#include "kernels/int8/q8_avx2.h"

/* 8 products (exact int32) -> float, times the ratio, plus zo: two roundings, as MLAS's SSE2
 * kernel (the barrier keeps the compiler from fusing them into an FMA). */
static inline __m256i mul8(__m256i prod, __m256 ratio, __m256 zo) {
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(prod), ratio);
    __asm__("" : "+x"(v));
    return _mm256_cvtps_epi32(_mm256_add_ps(v, zo));
}

/* (a - za) and (b - zb) fit int16 (-255..255) and their product fits int32: vpmullw and vpmulhw
 * give its two halves, and interleaving them per 128-bit lane yields elements 0-3|8-11 and
 * 4-7|12-15, which vpackssdw puts back in order without a cross-lane permute. */
static inline __m128i mul16(__m128i av, __m128i bv, __m256i za, __m256i zb, __m256 ratio, __m256 zo, __m128i qmin,
                            __m128i qmax) {
    const __m256i a16 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(av), za);
    const __m256i b16 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(bv), zb);
    const __m256i lo = _mm256_mullo_epi16(a16, b16), hi = _mm256_mulhi_epi16(a16, b16);
    const __m256i p0 = mul8(_mm256_unpacklo_epi16(lo, hi), ratio, zo);
    const __m256i p1 = mul8(_mm256_unpackhi_epi16(lo, hi), ratio, zo);
    const __m256i v = _mm256_packs_epi32(p0, p1);
    const __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return _mm_min_epu8(_mm_max_epu8(bytes, qmin), qmax);
}

void qp_u8_mul__avx2(const qp_u8_mul_args *args) {
    const qp_u8_mul_params *p = args->params;
    const __m256 ratio = _mm256_set1_ps(p->ratio), zo = _mm256_set1_ps(p->out_zero_point);
    const __m256i za = _mm256_set1_epi16((int16_t)p->a_zero_point);
    const __m256i zb = _mm256_set1_epi16((int16_t)p->b_zero_point);
    const __m128i qmin = _mm_set1_epi8((char)p->qmin), qmax = _mm_set1_epi8((char)p->qmax);
    const int64_t sa = args->a_stride[2], sb = args->b_stride[2];
    const int vector_ok = (sa == 1 || sa == 0) && (sb == 1 || sb == 0);
    uint8_t *out = args->out;
    for (int64_t o = 0; o < args->outer; o++)
        for (int64_t m = 0; m < args->mid; m++) {
            const uint8_t *a = args->a + o * args->a_stride[0] + m * args->a_stride[1];
            const uint8_t *b = args->b + o * args->b_stride[0] + m * args->b_stride[1];
            int64_t i = 0;
            if (vector_ok) {
                const __m128i a_bcast = _mm_set1_epi8((char)a[0]), b_bcast = _mm_set1_epi8((char)b[0]);
                for (; i + 16 <= args->inner; i += 16) {
                    const __m128i av = sa ? _mm_loadu_si128((const __m128i *)(a + i)) : a_bcast;
                    const __m128i bv = sb ? _mm_loadu_si128((const __m128i *)(b + i)) : b_bcast;
                    _mm_storeu_si128((__m128i *)(out + i), mul16(av, bv, za, zb, ratio, zo, qmin, qmax));
                }
            }
            for (; i < args->inner; i++) out[i] = qp_u8_mul_one(a[i * sa], b[i * sb], p);
            out += args->inner;
        }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
