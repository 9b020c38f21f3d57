/* q8_avx2.h — AVX2 requantization and packing helpers, bit-exact with requant.h; include after #pragma GCC target("avx2"). */
#ifndef QPIPE_Q8_AVX2_H
#define QPIPE_Q8_AVX2_H

#include <immintrin.h>
#include <stdint.h>

#include "kernels/int8/requant.h"

/* requant.h's output stage on 8 lanes, before the zero point: round_half_even(clamp((float)acc *
 * scale, lo, hi)) with lo = qmin - zp and hi = qmax - zp as floats. vcvtdq2ps, vmulps, vmaxps,
 * vminps and vcvtps2dq are the instructions MLAS runs, in its order (no FMA: nothing is added to
 * the product), so the lanes equal qp_requantize bit for bit. */
static inline __m256i qp_q8_avx2_requant(__m256i acc, __m256 scale, __m256 lo, __m256 hi) {
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), scale);
    v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
    return _mm256_cvtps_epi32(v);
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
