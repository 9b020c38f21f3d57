/* f32_gemm__avx2.c — the fp32 GEMM micro-kernel for AVX2+FMA: 6 rows x up to 16 columns (2 ymm) in 12 accumulators, B packed or in place. */
#include <immintrin.h>
#include <math.h>

#include "kernels/fp32/f32_kernels.h"

#pragma GCC target("avx2,fma")

#define QP_ROW_FMA(i)                                                              \
    do {                                                                           \
        const __m256 x = _mm256_broadcast_ss(a##i + p);                            \
        c##i##0 = _mm256_fmadd_ps(x, b0, c##i##0);                                 \
        if (nv > 1) c##i##1 = _mm256_fmadd_ps(x, b1, c##i##1);                     \
    } while (0)

/* max(lo, v) / min(hi, v) keep a NaN v, like Clip's compare-and-select. */
#define QP_FINISH(v, bias_v)                                                       \
    do {                                                                           \
        v = _mm256_add_ps(v, bias_v);                                              \
        if (do_lo) v = _mm256_max_ps(lo_v, v);                                     \
        if (do_hi) v = _mm256_min_ps(hi_v, v);                                     \
    } while (0)

#define QP_ROW_STORE(i)                                                            \
    do {                                                                           \
        if (i < mr) {                                                              \
            float *restrict row = c + (i) * ldc;                                   \
            const __m256 bias_v = _mm256_set1_ps(bias ? bias[i] : 0.0f);           \
            QP_FINISH(c##i##0, bias_v);                                            \
            if (nv > 1) QP_FINISH(c##i##1, bias_v);                                \
            if (nv == 1) _mm256_maskstore_ps(row, last, c##i##0);                  \
            else _mm256_storeu_ps(row, c##i##0);                                   \
            if (nv == 2) _mm256_maskstore_ps(row + 8, last, c##i##1);              \
        }                                                                          \
    } while (0)

static inline __attribute__((always_inline)) void tile_6xnv(const qp_f32_gemm_tile *t, const int nv) {
    const int64_t k = t->k, lda = t->lda, mr = t->mr, ldc = t->ldc;
    const float *restrict a0 = t->a;
    const float *restrict a1 = a0 + (mr > 1 ? 1 : mr - 1) * lda;
    const float *restrict a2 = a0 + (mr > 2 ? 2 : mr - 1) * lda;
    const float *restrict a3 = a0 + (mr > 3 ? 3 : mr - 1) * lda;
    const float *restrict a4 = a0 + (mr > 4 ? 4 : mr - 1) * lda;
    const float *restrict a5 = a0 + (mr > 5 ? 5 : mr - 1) * lda;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const int lanes = (int)(t->nr - 8 * (nv - 1));
    const __m256i last = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const float *restrict b = t->b;
    const int64_t ldb = t->ldb;
    /* the last vector is a masked load: B may be the matrix itself, whose row ends there */
    for (int64_t p = 0; p < k; p++, b += ldb) {
        const __m256 b0 = nv == 1 ? _mm256_maskload_ps(b, last) : _mm256_loadu_ps(b);
        const __m256 b1 = nv == 2 ? _mm256_maskload_ps(b + 8, last) : b0;
        QP_ROW_FMA(0);
        QP_ROW_FMA(1);
        QP_ROW_FMA(2);
        QP_ROW_FMA(3);
        QP_ROW_FMA(4);
        QP_ROW_FMA(5);
    }
    float *restrict c = t->c;
    const float *bias = t->bias;
    const int do_lo = t->lo != -INFINITY, do_hi = t->hi != INFINITY;
    const __m256 lo_v = _mm256_set1_ps(t->lo), hi_v = _mm256_set1_ps(t->hi);
    QP_ROW_STORE(0);
    QP_ROW_STORE(1);
    QP_ROW_STORE(2);
    QP_ROW_STORE(3);
    QP_ROW_STORE(4);
    QP_ROW_STORE(5);
}

void qp_f32_gemm_ukernel_6x16__avx2(const qp_f32_gemm_tile *t) {
    if (t->mr <= 0 || t->nr <= 0) return;
    if (t->nr <= 8)
        tile_6xnv(t, 1);
    else
        tile_6xnv(t, 2);
}
