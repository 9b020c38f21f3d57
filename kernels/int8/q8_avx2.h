/* q8_avx2.h — AVX2 requantization helpers, bit-exact with requant.h; include after #pragma GCC target("avx2"). */
#ifndef QPIPE_Q8_AVX2_H
#define QPIPE_Q8_AVX2_H

#include <immintrin.h>
#include <stdint.h>

#include "kernels/int8/requant.h"

/* One qp_q31 spread over vectors, built once per row/channel, outside inner loops.
 *
 * qp_q31_mul needs a 64-bit arithmetic right shift by total = 31 + shift, which AVX2 lacks
 * (no vpsraq). Two exact routes, chosen here so the lane code has no branch on the shift:
 * - total >= 32: y + 2^(total-1) fits int64; its high dword is floor(. / 2^32), then a 32-bit
 *   arithmetic shift by total - 32 finishes the floor division (floors of divisions compose).
 *   Shifts: even lanes >> 32, odd lanes << 0, post shift total - 32.
 * - total <= 31 (m >= 1/2): x is first shifted left by -shift (saturating), which makes total 31
 *   exactly: (x 2^l m + 2^30) >> 31 == (x m + 2^(30-l)) >> (31-l). |y + 2^30| < 2^62, so bits
 *   31..62 are the result. Shifts: even lanes >> 31, odd lanes << 1, no post shift. When the
 *   left shift saturates, both this and the reference give |result| >= 2^30 - 1 with the sign
 *   of x, which every output stage clamps identically. */
typedef struct qp_q8_avx2_rq {
    __m256i multiplier;
    __m256i rounding;            /* 64-bit lanes */
    __m128i left;                /* pre shift (saturating), total <= 31 only */
    __m128i even_right, odd_left; /* move bits [s, s+32) of each 64-bit product to its result dword */
    __m128i post;                /* 32-bit arithmetic shift */
    int has_left;
} qp_q8_avx2_rq;

static inline qp_q8_avx2_rq qp_q8_avx2_rq_make(qp_q31 q) {
    qp_q8_avx2_rq rq;
    const int total = 31 + q.shift;
    rq.multiplier = _mm256_set1_epi32(q.multiplier);
    if (total >= 32) {
        rq.rounding = _mm256_set1_epi64x((int64_t)1 << (total - 1));
        rq.left = _mm_cvtsi32_si128(0);
        rq.even_right = _mm_cvtsi32_si128(32);
        rq.odd_left = _mm_cvtsi32_si128(0);
        rq.post = _mm_cvtsi32_si128(total - 32);
        rq.has_left = 0;
    } else {
        rq.rounding = _mm256_set1_epi64x((int64_t)1 << 30);
        rq.left = _mm_cvtsi32_si128(31 - total);
        rq.even_right = _mm_cvtsi32_si128(31);
        rq.odd_left = _mm_cvtsi32_si128(1);
        rq.post = _mm_cvtsi32_si128(0);
        rq.has_left = total < 31;
    }
    return rq;
}

/* qp_q31_mul on 8 lanes (multiplier >= 0): exact, except that a result beyond +-2^30 may come
 * out as another value beyond +-2^30 of the same sign (see above). */
static inline __m256i qp_q8_avx2_q31_mul(__m256i x, const qp_q8_avx2_rq *rq) {
    if (rq->has_left) {
        /* saturating left shift: lanes whose bits do not survive the round trip clamp */
        const __m256i y = _mm256_sll_epi32(x, rq->left);
        const __m256i kept = _mm256_cmpeq_epi32(_mm256_sra_epi32(y, rq->left), x);
        const __m256i sat = _mm256_xor_si256(_mm256_srai_epi32(x, 31), _mm256_set1_epi32(INT32_MAX));
        x = _mm256_blendv_epi8(sat, y, kept);
    }
    __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, rq->multiplier), rq->rounding);
    __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), rq->multiplier), rq->rounding);
    /* only the result dword of each lane is kept, so logical 64-bit shifts do */
    even = _mm256_srl_epi64(even, rq->even_right);
    odd = _mm256_sll_epi64(odd, rq->odd_left);
    return _mm256_sra_epi32(_mm256_blend_epi32(even, odd, 0xAA), rq->post);
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
