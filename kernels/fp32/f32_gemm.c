/* f32_gemm.c — qpipe's packed fp32 GEMM driver: B panels (plain or implicit im2col) packed per thread, tiles split into slots. */
#include "kernels/fp32/f32_kernels.h"

static int64_t round_up(int64_t v, int64_t to) {
    return (v + to - 1) / to * to;
}

size_t qp_f32_gemm_nn_scratch_size(const qp_f32_gemm_kernel *kernel, int64_t k) {
    size_t bytes = (size_t)(k > 0 ? k : 1) * (size_t)round_up(kernel->nr, kernel->vec) * sizeof(float);
    return (bytes + 63) / 64 * 64;
}

/* Slots split column panels when there are plenty (each slot packs only its own panels), else
 * rows (each slot packs every panel, computes its rows). Either way an element's arithmetic is
 * the same, so the split changes nothing in the result. */
void qp_f32_gemm_nn_slot(const qp_f32_gemm_kernel *kernel, const qp_f32_gemm_nn_args *g, int slot, int n_slots,
                         void *scratch) {
    if (g->m <= 0 || g->n <= 0) return;
    const int64_t mr = kernel->mr, nr = kernel->nr;
    const int64_t panels = (g->n + nr - 1) / nr, tiles = (g->m + mr - 1) / mr;
    if (n_slots < 1) n_slots = 1;
    int64_t p_begin = 0, p_end = panels, t_begin = 0, t_end = tiles;
    if (n_slots > 1 && (panels >= 4 * n_slots || tiles < n_slots)) {
        p_begin = panels * slot / n_slots;
        p_end = panels * (slot + 1) / n_slots;
    } else {
        t_begin = tiles * slot / n_slots;
        t_end = tiles * (slot + 1) / n_slots;
    }
    float *packed = scratch;
    qp_f32_gemm_tile tile = {.k = g->k, .lda = g->lda, .ldc = g->ldc, .lo = g->lo, .hi = g->hi};
    for (int64_t panel = p_begin; panel < p_end && t_begin < t_end; panel++) {
        const int64_t n0 = panel * nr, width = g->n - n0 < nr ? g->n - n0 : nr;
        const int64_t stride = round_up(width, kernel->vec);
        if (!g->win) { /* read in place: L2 serves the strided rows as fast as a packed copy */
            tile.b = g->b + n0;
            tile.ldb = g->ldb;
        } else {
            if (g->k > 0) kernel->pack_window(g->win, g->b, g->k, n0, width, stride, packed);
            tile.b = packed;
            tile.ldb = stride;
        }
        tile.nr = width;
        for (int64_t t = t_begin; t < t_end; t++) {
            const int64_t m0 = t * mr;
            tile.mr = g->m - m0 < mr ? g->m - m0 : mr;
            tile.a = g->a + m0 * g->lda;
            tile.c = g->c + m0 * g->ldc + n0;
            tile.bias = g->bias ? g->bias + m0 : NULL;
            kernel->ukernel(&tile);
        }
    }
}
