/* f32_gemm__avx512.c — the fp32 GEMM micro-kernel for AVX-512: 8 rows x up to 48 columns (3 zmm) in 24 accumulators, B packed or in place. */
#include <immintrin.h>
#include <math.h>

#include "kernels/fp32/f32_kernels.h"

#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")

/* One row of the k loop: broadcast a[i][p], multiply-add into the row's nv accumulators. */
#define QP_ROW_FMA(i)                                                              \
    do {                                                                           \
        const __m512 x = _mm512_set1_ps(a##i[p]);                                  \
        c##i##0 = _mm512_fmadd_ps(x, b0, c##i##0);                                 \
        if (nv > 1) c##i##1 = _mm512_fmadd_ps(x, b1, c##i##1);                     \
        if (nv > 2) c##i##2 = _mm512_fmadd_ps(x, b2, c##i##2);                     \
    } while (0)

/* max(lo, v) / min(hi, v) keep a NaN v, like Clip's compare-and-select. */
#define QP_FINISH(v, bias_v)                                                       \
    do {                                                                           \
        v = _mm512_add_ps(v, bias_v);                                              \
        if (do_lo) v = _mm512_max_ps(lo_v, v);                                     \
        if (do_hi) v = _mm512_min_ps(hi_v, v);                                     \
    } while (0)

#define QP_ROW_STORE(i)                                                            \
    do {                                                                           \
        if (i < mr) {                                                              \
            float *restrict row = c + (i) * ldc;                                   \
            const __m512 bias_v = _mm512_set1_ps(bias ? bias[i] : 0.0f);           \
            QP_FINISH(c##i##0, bias_v);                                            \
            if (nv > 1) QP_FINISH(c##i##1, bias_v);                                \
            if (nv > 2) QP_FINISH(c##i##2, bias_v);                                \
            if (nv == 1) _mm512_mask_storeu_ps(row, last, c##i##0);                \
            else _mm512_storeu_ps(row, c##i##0);                                   \
            if (nv == 2) _mm512_mask_storeu_ps(row + 16, last, c##i##1);           \
            else if (nv > 2) _mm512_storeu_ps(row + 16, c##i##1);                  \
            if (nv == 3) _mm512_mask_storeu_ps(row + 32, last, c##i##2);           \
        }                                                                          \
    } while (0)

static inline __attribute__((always_inline)) void tile_8xnv(const qp_f32_gemm_tile *t, const int nv) {
    const int64_t k = t->k, lda = t->lda, mr = t->mr, ldc = t->ldc;
    /* rows past mr repeat the last valid row: always readable, results dropped */
    const float *restrict a0 = t->a;
    const float *restrict a1 = a0 + (mr > 1 ? 1 : mr - 1) * lda;
    const float *restrict a2 = a0 + (mr > 2 ? 2 : mr - 1) * lda;
    const float *restrict a3 = a0 + (mr > 3 ? 3 : mr - 1) * lda;
    const float *restrict a4 = a0 + (mr > 4 ? 4 : mr - 1) * lda;
    const float *restrict a5 = a0 + (mr > 5 ? 5 : mr - 1) * lda;
    const float *restrict a6 = a0 + (mr > 6 ? 6 : mr - 1) * lda;
    const float *restrict a7 = a0 + (mr > 7 ? 7 : mr - 1) * lda;
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    __m512 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    __m512 c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
    __m512 c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
    const int lanes = (int)(t->nr - 16 * (nv - 1));
    const __mmask16 last = (__mmask16)((1u << lanes) - 1u);
    const float *restrict b = t->b;
    const int64_t ldb = t->ldb;
    /* the last vector is a masked load: B may be the matrix itself, whose row ends there */
    for (int64_t p = 0; p < k; p++, b += ldb) {
        const __m512 b0 = nv == 1 ? _mm512_maskz_loadu_ps(last, b) : _mm512_loadu_ps(b);
        const __m512 b1 = nv == 2 ? _mm512_maskz_loadu_ps(last, b + 16) : nv > 2 ? _mm512_loadu_ps(b + 16) : b0;
        const __m512 b2 = nv == 3 ? _mm512_maskz_loadu_ps(last, b + 32) : b0;
        QP_ROW_FMA(0);
        QP_ROW_FMA(1);
        QP_ROW_FMA(2);
        QP_ROW_FMA(3);
        QP_ROW_FMA(4);
        QP_ROW_FMA(5);
        QP_ROW_FMA(6);
        QP_ROW_FMA(7);
    }
    float *restrict c = t->c;
    const float *bias = t->bias;
    const int do_lo = t->lo != -INFINITY, do_hi = t->hi != INFINITY;
    const __m512 lo_v = _mm512_set1_ps(t->lo), hi_v = _mm512_set1_ps(t->hi);
    QP_ROW_STORE(0);
    QP_ROW_STORE(1);
    QP_ROW_STORE(2);
    QP_ROW_STORE(3);
    QP_ROW_STORE(4);
    QP_ROW_STORE(5);
    QP_ROW_STORE(6);
    QP_ROW_STORE(7);
}

void qp_f32_gemm_ukernel_8x48__avx512(const qp_f32_gemm_tile *t) {
    if (t->mr <= 0 || t->nr <= 0) return;
    if (t->nr <= 16)
        tile_8xnv(t, 1);
    else if (t->nr <= 32)
        tile_8xnv(t, 2);
    else
        tile_8xnv(t, 3);
}
