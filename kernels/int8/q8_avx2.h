/* q8_avx2.h — AVX2 requantization helpers, bit-exact with requant.h; include after #pragma GCC target("avx2"). */
#ifndef QPIPE_Q8_AVX2_H
#define QPIPE_Q8_AVX2_H

#include <immintrin.h>
#include <stdint.h>

#include "kernels/int8/requant.h"

/* One qp_q31 spread over vectors, built once per row/channel, outside inner loops. */
typedef struct qp_q8_avx2_rq {
    __m256i multiplier;
    __m256i half_mask;   /* ((1 << right) - 1) >> 1: the RDBPOT threshold for x >= 0 */
    __m256i mask;        /* (1 << right) - 1 */
    __m128i left, right; /* shift counts */
    int has_left;
} qp_q8_avx2_rq;

static inline qp_q8_avx2_rq qp_q8_avx2_rq_make(qp_q31 q) {
    qp_q8_avx2_rq rq;
    const int right = q.shift > 0 ? q.shift : 0, left = q.shift < 0 ? -q.shift : 0;
    const int32_t mask = (int32_t)(((int64_t)1 << right) - 1);
    rq.multiplier = _mm256_set1_epi32(q.multiplier);
    rq.mask = _mm256_set1_epi32(mask);
    rq.half_mask = _mm256_set1_epi32(mask >> 1);
    rq.left = _mm_cvtsi32_si128(left);
    rq.right = _mm_cvtsi32_si128(right);
    rq.has_left = left > 0;
    return rq;
}

/* qp_q31_mul on 8 lanes (multiplier >= 0, so SRDHM never hits its INT32_MIN^2 case). */
static inline __m256i qp_q8_avx2_q31_mul(__m256i x, const qp_q8_avx2_rq *rq) {
    if (rq->has_left) {
        /* saturating left shift: lanes whose bits do not survive the round trip clamp */
        const __m256i y = _mm256_sll_epi32(x, rq->left);
        const __m256i kept = _mm256_cmpeq_epi32(_mm256_sra_epi32(y, rq->left), x);
        const __m256i sat = _mm256_xor_si256(_mm256_srai_epi32(x, 31), _mm256_set1_epi32(INT32_MAX));
        x = _mm256_blendv_epi8(sat, y, kept);
    }
    /* SRDHM = (x*m + 2^30) >> 31 taken in 64 bits; only bits 31..62 are kept, so a logical
     * shift gives the same low dword as an arithmetic one. */
    const __m256i rounding = _mm256_set1_epi64x((int64_t)1 << 30);
    __m256i even = _mm256_mul_epi32(x, rq->multiplier);
    __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), rq->multiplier);
    even = _mm256_srli_epi64(_mm256_add_epi64(even, rounding), 31);
    odd = _mm256_slli_epi64(_mm256_add_epi64(odd, rounding), 1); /* result lands in the high dword */
    const __m256i high = _mm256_blend_epi32(even, odd, 0xAA);
    /* RDBPOT: ties away from zero via the threshold bumped by one for negative values */
    const __m256i remainder = _mm256_and_si256(high, rq->mask);
    const __m256i threshold = _mm256_add_epi32(rq->half_mask, _mm256_srli_epi32(high, 31));
    const __m256i shifted = _mm256_sra_epi32(high, rq->right);
    return _mm256_sub_epi32(shifted, _mm256_cmpgt_epi32(remainder, threshold));
}

/* Output stage for 16 requantized lanes (lo = 0..7, hi = 8..15): saturate to int16, add the zero
 * point saturating, saturate to u8, clamp. Equal to clamp(zp + v) on unbounded integers because
 * zp is 0..255 and every saturation bound lies outside [qmin, qmax]. */
static inline __m128i qp_q8_avx2_pack16(__m256i lo, __m256i hi, __m256i zp16, __m128i qmin,
                                        __m128i qmax) {
    __m256i v = _mm256_packs_epi32(lo, hi); /* per lane: lo[0..3] hi[0..3] | lo[4..7] hi[4..7] */
    v = _mm256_permute4x64_epi64(v, 0xD8);
    v = _mm256_adds_epi16(v, zp16);
    const __m128i b = _mm_packus_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return _mm_min_epu8(_mm_max_epu8(b, qmin), qmax);
}

/* Same, for outputs split even (0,2,..,14) / odd (1,3,..,15), as stride-1 depthwise makes them. */
static inline __m128i qp_q8_avx2_pack16_even_odd(__m256i even, __m256i odd, __m256i zp16,
                                                 __m128i qmin, __m128i qmax) {
    __m256i v = _mm256_packs_epi32(even, odd); /* per lane: e0..e3 o0..o3 */
    const __m256i interleave = _mm256_setr_epi8(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15,
                                                0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15);
    v = _mm256_shuffle_epi8(v, interleave);
    v = _mm256_adds_epi16(v, zp16);
    const __m128i b = _mm_packus_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return _mm_min_epu8(_mm_max_epu8(b, qmin), qmax);
}

#endif
