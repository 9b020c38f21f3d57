/* add_u8__avx2.c — AVX2 quantized Add (one rounding, wide multipliers): 16 elements per step along the innermost level. */
#include "kernels/int8/q8_add.h"

/* Every function below, the helpers of q8_avx2.h included, is built for this ISA; the rest of
 * the library stays baseline x86-64 and this code only runs when the dispatch says so. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif
#include "kernels/int8/q8_avx2.h"
#include "kernels/int8/q8_wide_avx2.h"

void qp_u8_add__avx2(const qp_u8_add_args *args) {
    const qp_u8_add_params *p = args->params;
    const int64_t sa = args->a_stride[2], sb = args->b_stride[2];
    /* shift < 32 only for scale ratios above ~2^21 (a degenerate model): the scalar path */
    const int vector_ok = (sa == 1 || sa == 0) && (sb == 1 || sb == 0) && p->shift >= 32;
    const qp_q8_wide_avx2 wa = qp_q8_wide_avx2_make(p->a_multiplier, p->shift);
    const qp_q8_wide_avx2 wb = qp_q8_wide_avx2_make(p->b_multiplier, p->shift);
    const __m256i za = _mm256_set1_epi32(p->a_zero_point), zb = _mm256_set1_epi32(p->b_zero_point);
    const __m256i zp16 = _mm256_set1_epi16((int16_t)p->out_zero_point);
    const __m128i qmin = _mm_set1_epi8((char)p->qmin), qmax = _mm_set1_epi8((char)p->qmax);
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
                    const __m256i a0 = _mm256_sub_epi32(_mm256_cvtepu8_epi32(av), za);
                    const __m256i b0 = _mm256_sub_epi32(_mm256_cvtepu8_epi32(bv), zb);
                    const __m256i a1 = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(av, 8)), za);
                    const __m256i b1 = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(bv, 8)), zb);
                    _mm_storeu_si128((__m128i *)(out + i),
                                     qp_q8_avx2_pack16(qp_q8_wide_avx2_sum2(a0, &wa, b0, &wb),
                                                       qp_q8_wide_avx2_sum2(a1, &wa, b1, &wb), zp16, qmin, qmax));
                }
            }
            for (; i < args->inner; i++) out[i] = qp_u8_add_one(a[i * sa], b[i * sb], p);
            out += args->inner;
        }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
