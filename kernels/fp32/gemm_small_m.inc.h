/* gemm_small_m.inc.h — sgemm for a few rows of A (a fully connected layer at batch 1-4): B streamed once, no packing;
 * included once per ISA (QP_F32_ISA_NAME) so the loops vectorize at each width. */
#ifndef QP_F32_ISA_NAME
#error "define QP_F32_ISA_NAME(name) before including gemm_small_m.inc.h"
#endif

#include "kernels/fp32/f32_kernels.h"

enum { QP_SMALL_M_LANES = 16, QP_SMALL_M_COLS = 256 };

/* sum over p of a[p] * b[p] in 16 fixed lanes, then a fixed reduction tree: the same order for a
 * given ISA build whatever the caller's split. */
static inline float QP_F32_ISA_NAME(small_m_dot)(const float *restrict a, const float *restrict b, int64_t k) {
    float part[QP_SMALL_M_LANES] = {0};
    int64_t p = 0;
    for (; p + QP_SMALL_M_LANES <= k; p += QP_SMALL_M_LANES)
        for (int l = 0; l < QP_SMALL_M_LANES; l++) part[l] += a[p + l] * b[p + l];
    for (int l = 0; p < k; p++, l++) part[l] += a[p] * b[p];
    for (int w = QP_SMALL_M_LANES / 2; w > 0; w /= 2)
        for (int l = 0; l < w; l++) part[l] += part[l + w];
    return part[0];
}

/* Columns [n_begin, n_end) of C = alpha * A * op(B) + beta * C, A not transposed, m <= QP_F32_SMALL_M. op(B) = B
 * ([k x n]) is read row by row into a column-chunk accumulator; op(B) = B^T ([n x k]) is one dot product per
 * output. Either way each weight is read once per call, where a packing sgemm copies B first. */
void QP_F32_ISA_NAME(qp_f32_gemm_small_m)(const qp_f32_gemm_args *g, int64_t n_begin, int64_t n_end) {
    const int64_t m = g->m, k = g->k;
    for (int64_t j0 = n_begin; j0 < n_end; j0 += QP_SMALL_M_COLS) {
        const int64_t w = n_end - j0 < QP_SMALL_M_COLS ? n_end - j0 : QP_SMALL_M_COLS;
        float acc[QP_F32_SMALL_M][QP_SMALL_M_COLS];
        if (g->trans_b) {
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < w; j++)
                    acc[i][j] = QP_F32_ISA_NAME(small_m_dot)(g->a + i * g->lda, g->b + (j0 + j) * g->ldb, k);
        } else {
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < w; j++) acc[i][j] = 0.0f;
            for (int64_t p = 0; p < k; p++) {
                const float *restrict brow = g->b + p * g->ldb + j0;
                for (int64_t i = 0; i < m; i++) {
                    const float av = g->a[i * g->lda + p];
                    float *restrict row = acc[i];
                    for (int64_t j = 0; j < w; j++) row[j] += av * brow[j];
                }
            }
        }
        for (int64_t i = 0; i < m; i++) {
            float *restrict c = g->c + i * g->ldc + j0;
            if (g->beta == 0.0f)
                for (int64_t j = 0; j < w; j++) c[j] = g->alpha * acc[i][j];
            else
                for (int64_t j = 0; j < w; j++) c[j] = g->alpha * acc[i][j] + g->beta * c[j];
        }
    }
}
