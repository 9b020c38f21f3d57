/* q8_wide_avx2.h — AVX2 form of qp_wide_requantize's rounding (int64 multipliers, shift >= 32); include after the avx2 target pragma. */
#ifndef QPIPE_Q8_WIDE_AVX2_H
#define QPIPE_Q8_WIDE_AVX2_H

#include <immintrin.h>
#include <stdint.h>

/* AVX2 has no 64x64 multiply and no 64-bit arithmetic shift. The multiplier (< 2^53) is split as
 * mh * 2^31 + ml so vpmuldq (signed 32 x 32 -> 64) makes both partial products of a small
 * operand x: x m = x ml + (x mh << 31). Adding 2^62 makes the sum (|sum| < 2^62) non-negative,
 * so a logical shift is the floor; with shift >= 32 the quotient is below 2^32 and takes one
 * dword, from which the 2^(62 - shift) of the bias is subtracted in 32 bits. */
typedef struct qp_q8_wide_avx2 {
    __m256i low, high;  /* ml and mh in the low dword of each 64-bit lane */
    __m256i bias;       /* 2^62 + 2^(shift-1) */
    __m128i even_shift, odd_shift; /* shift, shift - 32 */
    __m256i unbias;     /* 2^(62 - shift) in 32-bit lanes */
} qp_q8_wide_avx2;

static inline qp_q8_wide_avx2 qp_q8_wide_avx2_make(int64_t multiplier, int32_t shift) {
    qp_q8_wide_avx2 w;
    w.low = _mm256_set1_epi64x(multiplier & 0x7FFFFFFF);
    w.high = _mm256_set1_epi64x(multiplier >> 31);
    const int s = shift >= 32 && shift <= 62 ? shift : 32; /* callers take the vector path only then */
    w.bias = _mm256_set1_epi64x((int64_t)(((uint64_t)1 << 62) + ((uint64_t)1 << (s - 1))));
    w.even_shift = _mm_cvtsi32_si128(s);
    w.odd_shift = _mm_cvtsi32_si128(s - 32);
    w.unbias = _mm256_set1_epi32((int32_t)((int64_t)1 << (62 - s)));
    return w;
}

/* x * multiplier (64-bit lanes, x in the low dword of each) without the bias. */
static inline __m256i qp_q8_wide_avx2_product(__m256i x, const qp_q8_wide_avx2 *w) {
    return _mm256_add_epi64(_mm256_mul_epi32(x, w->low), _mm256_slli_epi64(_mm256_mul_epi32(x, w->high), 31));
}

/* Rounds even-lane and odd-lane 64-bit sums (bias not yet added) to 8 int32 results in order. */
static inline __m256i qp_q8_wide_avx2_round(__m256i even, __m256i odd, const qp_q8_wide_avx2 *w) {
    even = _mm256_srl_epi64(_mm256_add_epi64(even, w->bias), w->even_shift);
    odd = _mm256_srl_epi32(_mm256_add_epi64(odd, w->bias), w->odd_shift); /* the high dword is the quotient's */
    return _mm256_sub_epi32(_mm256_blend_epi32(even, odd, 0xAA), w->unbias);
}

/* round((x * mx + y * my) / 2^shift) for 8 int32 lanes of small x, y (|x|, |y| <= 255). */
static inline __m256i qp_q8_wide_avx2_sum2(__m256i x, const qp_q8_wide_avx2 *wx, __m256i y,
                                           const qp_q8_wide_avx2 *wy) {
    const __m256i x_odd = _mm256_srli_epi64(x, 32), y_odd = _mm256_srli_epi64(y, 32);
    const __m256i even = _mm256_add_epi64(qp_q8_wide_avx2_product(x, wx), qp_q8_wide_avx2_product(y, wy));
    const __m256i odd = _mm256_add_epi64(qp_q8_wide_avx2_product(x_odd, wx), qp_q8_wide_avx2_product(y_odd, wy));
    return qp_q8_wide_avx2_round(even, odd, wx);
}

/* round(x * m / 2^shift) for 8 int32 lanes, |x| <= 65025. */
static inline __m256i qp_q8_wide_avx2_scale(__m256i x, const qp_q8_wide_avx2 *w) {
    return qp_q8_wide_avx2_round(qp_q8_wide_avx2_product(x, w),
                                 qp_q8_wide_avx2_product(_mm256_srli_epi64(x, 32), w), w);
}

#endif
