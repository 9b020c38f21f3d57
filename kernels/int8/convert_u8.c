/* convert_u8.c — float <-> u8 conversions at the int8 engine's borders (graph inputs/outputs, fp32 fallbacks): reference, AVX2 and AVX-512. */
#include "kernels/int8/q8_kernels.h"

/* The reference. x / scale is an IEEE division and the rounding is to nearest even, exactly the
 * engine's scalar qp_q8_quantize, so the vector variants (same division, same rounding mode)
 * agree bit for bit. The clamp is taken in float before the conversion to an integer. NaN gives
 * qmin. */
static inline uint8_t quantize_one(float x, const qp_u8_convert_params *p) {
    float q = x / p->scale;
    q = __builtin_fabsf(q) < 8388608.0f ? (q + 12582912.0f) - 12582912.0f : q; /* half to even */
    q += (float)p->zero_point;
    if (!(q >= (float)p->qmin)) q = (float)p->qmin; /* NaN too */
    if (q > (float)p->qmax) q = (float)p->qmax;
    return (uint8_t)q;
}

void qp_f32_quantize_u8__ref(int64_t n, const float *src, const qp_u8_convert_params *p, uint8_t *dst) {
    for (int64_t i = 0; i < n; i++) dst[i] = quantize_one(src[i], p);
}

void qp_u8_dequantize_f32__ref(int64_t n, const uint8_t *src, const qp_u8_convert_params *p, float *dst) {
    const float zp = (float)p->zero_point, s = p->scale;
    for (int64_t i = 0; i < n; i++) dst[i] = ((float)src[i] - zp) * s;
}

#if defined(__x86_64__) || defined(__i386__)

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#include <immintrin.h>

/* vroundps with the nearest-even mode is the rounding the reference's 1.5 * 2^23 trick computes
 * (both leave |q| >= 2^23 unchanged); max(q, qmin) with q first returns qmin for NaN. No FMA:
 * the division and the additions are separate operations, as in the reference. */
void qp_f32_quantize_u8__avx2(int64_t n, const float *src, const qp_u8_convert_params *p, uint8_t *dst) {
    const __m256 scale = _mm256_set1_ps(p->scale), zp = _mm256_set1_ps((float)p->zero_point);
    const __m256 lo = _mm256_set1_ps((float)p->qmin), hi = _mm256_set1_ps((float)p->qmax);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            __m256 v = _mm256_div_ps(_mm256_loadu_ps(src + i + 8 * k), scale);
            v = _mm256_add_ps(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zp);
            v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
            q[k] = _mm256_cvttps_epi32(v);
        }
        const __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi16(_mm256_packs_epi32(q[0], q[1]),
                                                                       _mm256_packs_epi32(q[2], q[3])), 0xD8);
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_shuffle_epi32(w, 0xD8));
    }
    for (; i < n; i++) dst[i] = quantize_one(src[i], p);
}

void qp_u8_dequantize_f32__avx2(int64_t n, const uint8_t *src, const qp_u8_convert_params *p, float *dst) {
    const __m256 scale = _mm256_set1_ps(p->scale), zp = _mm256_set1_ps((float)p->zero_point);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(src + i))));
        _mm256_storeu_ps(dst + i, _mm256_mul_ps(_mm256_sub_ps(v, zp), scale));
    }
    qp_u8_dequantize_f32__ref(n - i, src + i, p, dst + i);
}

#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq")
#endif

void qp_f32_quantize_u8__avx512(int64_t n, const float *src, const qp_u8_convert_params *p, uint8_t *dst) {
    const __m512 scale = _mm512_set1_ps(p->scale), zp = _mm512_set1_ps((float)p->zero_point);
    const __m512 lo = _mm512_set1_ps((float)p->qmin), hi = _mm512_set1_ps((float)p->qmax);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, src + i), scale);
        v = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zp);
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        _mm_mask_storeu_epi8(dst + i, m, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
    }
}

void qp_u8_dequantize_f32__avx512(int64_t n, const uint8_t *src, const qp_u8_convert_params *p, float *dst) {
    const __m512 scale = _mm512_set1_ps(p->scale), zp = _mm512_set1_ps((float)p->zero_point);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, src + i)));
        _mm512_mask_storeu_ps(dst + i, m, _mm512_mul_ps(_mm512_sub_ps(v, zp), scale));
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

#endif
