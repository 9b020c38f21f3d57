/* sgemm_blocks.c — sgemm cut into independent blocks so one thread pool (OpenMP) drives single-threaded OpenBLAS. */
#include <cblas.h>

#include "kernels/fp32/f32_kernels.h"

/* Blocks have fixed sizes, chosen from the shape alone: the same element is always computed by
 * the same sgemm call whatever the thread count, so results are bit-identical across thread
 * counts (OpenBLAS picks different kernels for different call shapes, so splitting by thread
 * count would not be). 128 columns (or 32 rows) keep the per-call packing overhead near 1%. */
#define QP_F32_GEMM_BLOCK_N 128
#define QP_F32_GEMM_BLOCK_M 32

static int ld(int64_t v) {
    return v > 1 ? (int)v : 1;
}

/* Splits N when it has at least two column blocks, else M, else nothing. */
static int split_columns(const qp_f32_gemm_args *g) {
    return g->n >= 2 * QP_F32_GEMM_BLOCK_N;
}

int qp_f32_gemm_blocks(const qp_f32_gemm_args *g) {
    /* OpenBLAS running its own threads: let it split, never nest two pools */
    if (openblas_get_num_threads() > 1 || g->m <= 0 || g->n <= 0) return 1;
    if (split_columns(g)) return (int)((g->n + QP_F32_GEMM_BLOCK_N - 1) / QP_F32_GEMM_BLOCK_N);
    if (g->m >= 2 * QP_F32_GEMM_BLOCK_M) return (int)((g->m + QP_F32_GEMM_BLOCK_M - 1) / QP_F32_GEMM_BLOCK_M);
    return 1;
}

void qp_f32_gemm_block(const qp_f32_gemm_args *g, int block, int n_blocks) {
    if (g->m <= 0 || g->n <= 0) return;
    const int split_n = n_blocks > 1 && split_columns(g);
    const int64_t extent = split_n ? g->n : g->m;
    const int64_t size = n_blocks == 1 ? extent : split_n ? QP_F32_GEMM_BLOCK_N : QP_F32_GEMM_BLOCK_M;
    int64_t begin = block * size, end = begin + size;
    if (end > extent) end = extent;
    if (begin >= end) return;
    const float *a = g->a, *b = g->b;
    float *c = g->c;
    int64_t m = g->m, n = g->n;
    if (split_n) {
        b += g->trans_b ? begin * g->ldb : begin;
        c += begin;
        n = end - begin;
    } else {
        a += g->trans_a ? begin : begin * g->lda;
        c += begin * g->ldc;
        m = end - begin;
    }
    /* a few rows (batch 1-4 fully connected): stream B once; OpenBLAS would pack it per call */
    if (!g->trans_a && m <= QP_F32_SMALL_M && g->k > 0) {
        qp_f32_gemm_args rows = *g; /* the kernel indexes B and C by absolute column */
        rows.a = a;
        rows.c = split_n ? g->c : c;
        rows.m = m;
        qp_f32_get_config()->gemm_small_m(&rows, split_n ? begin : 0, split_n ? end : n);
        return;
    }
    if (g->k == 0) {
        /* BLAS scales C by beta; do the same without passing a zero leading dimension */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * g->ldc + j] = g->beta == 0.0f ? 0.0f : g->beta * c[i * g->ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, g->trans_a ? CblasTrans : CblasNoTrans, g->trans_b ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)g->k, g->alpha, a, ld(g->lda), b, ld(g->ldb), g->beta, c, ld(g->ldc));
}
