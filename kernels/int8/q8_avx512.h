/* q8_avx512.h — AVX-512 requantization helpers, bit-exact with requant.h; include after the avx512 target pragma. */
#ifndef QPIPE_Q8_AVX512_H
#define QPIPE_Q8_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#include "kernels/int8/requant.h"

/* One qp_q31 spread over zmm registers. Two routes, picked per multiplier outside the loops:
 * - total = 31 + shift >= 33 (m < 1/4, every real conv): the high dword of x * multiplier is
 *   floor(x m / 2^32), |.| < 2^30, and since 2^(total-1) is a multiple of 2^32 the rounding
 *   term can be added after it in 32 bits: (hi + 2^(total-33)) >> (total-32). One vpshufd with
 *   a mask gathers the high dwords of the even and odd products, so 6 ops per 16 lanes.
 * - total <= 32: the two routes of qp_q8_avx2_rq_make (q8_avx2.h): 64-bit rounding add, then
 *   bits [32, 64) (total 32) or, after a saturating pre shift by -shift, bits [31, 63). */
typedef struct qp_q8_avx512_rq {
    __m512i multiplier;
    __m512i rounding;             /* high route: 2^(total-33) per dword; else 64-bit lanes */
    __m128i left;                 /* pre shift, total <= 31 only */
    __m128i even_right, odd_left; /* bits [s, s+32) of each product to its result dword */
    __m128i post;                 /* 32-bit arithmetic shift */
    int has_left, high;
} qp_q8_avx512_rq;

static inline qp_q8_avx512_rq qp_q8_avx512_rq_make(qp_q31 q) {
    qp_q8_avx512_rq rq;
    const int total = 31 + q.shift;
    rq.multiplier = _mm512_set1_epi32(q.multiplier);
    rq.high = total >= 33;
    if (rq.high) {
        rq.rounding = _mm512_set1_epi32((int32_t)1 << (total - 33));
        rq.post = _mm_cvtsi32_si128(total - 32);
        rq.left = rq.even_right = rq.odd_left = _mm_setzero_si128();
        rq.has_left = 0;
        return rq;
    }
    const int at32 = total == 32;
    rq.rounding = _mm512_set1_epi64((int64_t)1 << (at32 ? 31 : 30));
    rq.left = _mm_cvtsi32_si128(at32 ? 0 : 31 - total);
    rq.even_right = _mm_cvtsi32_si128(at32 ? 32 : 31);
    rq.odd_left = _mm_cvtsi32_si128(at32 ? 0 : 1);
    rq.post = _mm_setzero_si128();
    rq.has_left = !at32 && total < 31;
    return rq;
}

/* qp_q31_mul on 16 lanes; same contract as qp_q8_avx2_q31_mul. */
static inline __m512i qp_q8_avx512_q31_mul(__m512i x, const qp_q8_avx512_rq *rq) {
    if (rq->high) {
        const __m512i even = _mm512_mul_epi32(x, rq->multiplier);
        const __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), rq->multiplier);
        /* even dwords take the high dword of `even` (dword swap within each qword) */
        const __m512i high = _mm512_mask_shuffle_epi32(odd, 0x5555, even, _MM_PERM_CDAB);
        return _mm512_sra_epi32(_mm512_add_epi32(high, rq->rounding), rq->post);
    }
    if (rq->has_left) {
        const __m512i y = _mm512_sll_epi32(x, rq->left);
        const __mmask16 kept = _mm512_cmpeq_epi32_mask(_mm512_sra_epi32(y, rq->left), x);
        const __m512i sat = _mm512_xor_si512(_mm512_srai_epi32(x, 31), _mm512_set1_epi32(INT32_MAX));
        x = _mm512_mask_blend_epi32(kept, sat, y);
    }
    __m512i even = _mm512_add_epi64(_mm512_mul_epi32(x, rq->multiplier), rq->rounding);
    __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), rq->multiplier), rq->rounding);
    even = _mm512_srl_epi64(even, rq->even_right);
    odd = _mm512_sll_epi64(odd, rq->odd_left);
    return _mm512_mask_blend_epi32(0xAAAA, even, odd);
}

/* Bytes [start, start + 64) of a row of `width` bytes that lie inside it, as a load mask: masked
 * loads then read padding as the merge value and never touch memory outside the row. */
static inline __mmask64 qp_q8_avx512_inside_mask(int64_t start, int64_t width) {
    const int64_t lo = start < 0 ? -start : 0, hi = width - start < 64 ? width - start : 64;
    if (hi <= lo) return 0;
    const uint64_t upto_hi = hi >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << hi) - 1);
    return (__mmask64)(upto_hi & ~(((uint64_t)1 << lo) - 1));
}

/* 64 requantized lanes (a: outputs 0..15, b: 16..31, c: 32..47, d: 48..63) -> 64 bytes in order:
 * vpackssdw and vpackuswb interleave per 128-bit lane (lane l holds 4 outputs of each input at
 * group l), one vpermd puts the dword groups back. Saturations as in qp_q8_avx512_pack16. */
static inline __m512i qp_q8_avx512_pack64(__m512i a, __m512i b, __m512i c, __m512i d, __m512i zp16,
                                          __m512i qmin, __m512i qmax) {
    const __m512i ab = _mm512_adds_epi16(_mm512_packs_epi32(a, b), zp16);
    const __m512i cd = _mm512_adds_epi16(_mm512_packs_epi32(c, d), zp16);
    const __m512i bytes = _mm512_packus_epi16(ab, cd);
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_min_epu8(_mm512_max_epu8(_mm512_permutexvar_epi32(order, bytes), qmin), qmax);
}

#endif
