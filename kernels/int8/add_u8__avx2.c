/* add_u8__avx2.c — AVX2 quantized Add (ONNX Runtime's QLinearAdd arithmetic: float FMAs, vcvtps2dq): 16 elements per step along the innermost level. */
#include "kernels/int8/q8_add.h"

/* Every function below, the helpers of q8_avx2.h included, is built for this ISA; the rest of
 * the library stays baseline x86-64 and this code only runs when the dispatch says so. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif
#include "kernels/int8/q8_avx2.h"

/* 8 lanes of q8_add.h's formula before the final clamp (vfmadd231ps as in MLAS). */
static inline __m256i add8(__m128i a8, __m128i b8, __m256 ra, __m256 rb, __m256 fixed, int a_bcast) {
    const __m256 af = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(a8));
    const __m256 bf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b8));
    const __m256 v = a_bcast ? _mm256_fmadd_ps(bf, rb, _mm256_fmadd_ps(af, ra, fixed))
                             : _mm256_fmadd_ps(af, ra, _mm256_fmadd_ps(bf, rb, fixed));
    return _mm256_cvtps_epi32(v);
}

void qp_u8_add__avx2(const qp_u8_add_args *args) {
    const qp_u8_add_params *p = args->params;
    const int64_t sa = args->a_stride[2], sb = args->b_stride[2];
    const int vector_ok = (sa == 1 || sa == 0) && (sb == 1 || sb == 0);
    const int a_bcast = sa == 0 && sb != 0;
    const __m256 ra = _mm256_set1_ps(p->a_ratio), rb = _mm256_set1_ps(p->b_ratio), fixed = _mm256_set1_ps(p->fixed);
    const __m256i zero16 = _mm256_setzero_si256();
    const __m128i qmin = _mm_set1_epi8((char)p->qmin), qmax = _mm_set1_epi8((char)p->qmax);
    uint8_t *out = args->out;
    for (int64_t o = 0; o < args->outer; o++)
        for (int64_t m = 0; m < args->mid; m++) {
            const uint8_t *a = args->a + o * args->a_stride[0] + m * args->a_stride[1];
            const uint8_t *b = args->b + o * args->b_stride[0] + m * args->b_stride[1];
            int64_t i = 0;
            if (vector_ok) {
                const __m128i a_bc = _mm_set1_epi8((char)a[0]), b_bc = _mm_set1_epi8((char)b[0]);
                for (; i + 16 <= args->inner; i += 16) {
                    const __m128i av = sa ? _mm_loadu_si128((const __m128i *)(a + i)) : a_bc;
                    const __m128i bv = sb ? _mm_loadu_si128((const __m128i *)(b + i)) : b_bc;
                    const __m256i lo = add8(av, bv, ra, rb, fixed, a_bcast);
                    const __m256i hi = add8(_mm_srli_si128(av, 8), _mm_srli_si128(bv, 8), ra, rb, fixed, a_bcast);
                    /* vpackssdw + vpackuswb saturate like MLAS; zero point 0: it is in `fixed` */
                    _mm_storeu_si128((__m128i *)(out + i), qp_q8_avx2_pack16(lo, hi, zero16, qmin, qmax));
                }
            }
            for (; i < args->inner; i++)
                out[i] = a_bcast ? qp_u8_add_one_a_bcast(a[0], b[i * sb], p) : qp_u8_add_one(a[i * sa], b[i * sb], p);
            out += args->inner;
        }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
