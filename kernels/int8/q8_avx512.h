/* q8_avx512.h — AVX-512 requantization and packing helpers, bit-exact with requant.h; include after the avx512 target pragma. */
#ifndef QPIPE_Q8_AVX512_H
#define QPIPE_Q8_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#include "kernels/int8/requant.h"

/* requant.h's output stage on 16 lanes, before the zero point (see qp_q8_avx2_requant). */
static inline __m512i qp_q8_avx512_requant(__m512i acc, __m512 scale, __m512 lo, __m512 hi) {
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), scale);
    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
    return _mm512_cvtps_epi32(v);
}

/* The same output stage without the float clamp, for scales <= 1/2 (every real convolution:
 * s_in * s_w / s_out is far below 1): then |acc * scale| < 2^31, the conversion cannot overflow,
 * and since rounding is monotone and the bounds are integers, clamping after rounding (what
 * qp_q8_avx512_pack64's saturating packs and u8 min/max do) gives the same bytes as clamping
 * before. Two operations fewer per 16 outputs: a tenth of a small-K GEMM or a depthwise conv. */
#define QP_Q8_NOCLAMP_MAX_SCALE 0.5f
static inline __m512i qp_q8_avx512_requant_noclamp(__m512i acc, __m512 scale) {
    return _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), scale));
}

/* Bytes [start, start + 64) of a row of `width` bytes that lie inside it, as a load mask: masked
 * loads then read padding as the merge value and never touch memory outside the row. */
static inline __mmask64 qp_q8_avx512_inside_mask(int64_t start, int64_t width) {
    const int64_t lo = start < 0 ? -start : 0, hi = width - start < 64 ? width - start : 64;
    if (hi <= lo) return 0;
    const uint64_t upto_hi = hi >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << hi) - 1);
    return (__mmask64)(upto_hi & ~(((uint64_t)1 << lo) - 1));
}

/* 64 requantized lanes (a: outputs 0..15, b: 16..31, c: 32..47, d: 48..63) -> 64 bytes in order,
 * without a u8 clamp: for [qmin, qmax] = [0, 255] (ReLU/ReLU6 outputs usually are), which
 * vpackuswb's saturation already gives. vpackssdw and vpackuswb interleave per 128-bit lane
 * (lane l holds 4 outputs of each input at group l), one vpermd puts the dword groups back. */
static inline __m512i qp_q8_avx512_pack64_full_range(__m512i a, __m512i b, __m512i c, __m512i d, __m512i zp16) {
    const __m512i ab = _mm512_adds_epi16(_mm512_packs_epi32(a, b), zp16);
    const __m512i cd = _mm512_adds_epi16(_mm512_packs_epi32(c, d), zp16);
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_epi32(order, _mm512_packus_epi16(ab, cd));
}

/* The same with the output clamp to [qmin, qmax] (saturations as in qp_q8_avx512_pack16). */
static inline __m512i qp_q8_avx512_pack64(__m512i a, __m512i b, __m512i c, __m512i d, __m512i zp16,
                                          __m512i qmin, __m512i qmax) {
    return _mm512_min_epu8(_mm512_max_epu8(qp_q8_avx512_pack64_full_range(a, b, c, d, zp16), qmin), qmax);
}

#endif
