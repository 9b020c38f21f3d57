/* u8s8_gemm__ref.c — the scalar reference u8 x s8 GEMM every SIMD variant must match bit for bit. */
#include <string.h>

#include "kernels/int8/q8_kernels.h"

/* Packed layout: bias[m] (int32) then W row-major [m][k] (int8): the plain layout, so the
 * reference shows the arithmetic and nothing else. */
static size_t ref_pack_size(int64_t m, int64_t k) {
    return (size_t)m * sizeof(int32_t) + (size_t)m * (size_t)k;
}

static void ref_pack(int64_t m, int64_t k, const int8_t *w, int64_t w_row_stride,
                     const int32_t *bias, void *packed) {
    uint8_t *p = packed;
    for (int64_t r = 0; r < m; r++) {
        const int32_t b = bias ? bias[r] : 0;
        memcpy(p + r * sizeof(int32_t), &b, sizeof b);
    }
    p += m * sizeof(int32_t);
    for (int64_t r = 0; r < m; r++) memcpy(p + r * k, w + r * w_row_stride, (size_t)k);
}

/* One row of int32 accumulators. */
static size_t ref_scratch_size(int64_t k, int64_t n) {
    (void)k;
    return (size_t)n * sizeof(uint32_t);
}

static void ref_run(const qp_u8s8_gemm_args *a) {
    const int64_t n = a->n, k = a->k;
    const uint8_t *packed = a->packed_w;
    const int8_t *weights = (const int8_t *)(packed + a->m * sizeof(int32_t));
    /* uint32 so the accumulation wraps modulo 2^32 exactly like the SIMD adds (defined in C). */
    uint32_t *acc = a->scratch;
    for (int64_t r = a->m_begin; r < a->m_end; r++) {
        int32_t bias;
        memcpy(&bias, packed + r * sizeof(int32_t), sizeof bias);
        for (int64_t j = 0; j < n; j++) acc[j] = (uint32_t)bias;
        const int8_t *wrow = weights + r * k;
        for (int64_t i = 0; i < k; i++) {
            const int32_t wv = wrow[i];
            if (wv == 0) continue;
            const uint8_t *xrow = a->x + i * a->x_k_stride;
            if (a->x_n_stride == 1)
                for (int64_t j = 0; j < n; j++) acc[j] += (uint32_t)(wv * xrow[j]);
            else
                for (int64_t j = 0; j < n; j++) acc[j] += (uint32_t)(wv * xrow[j * a->x_n_stride]);
        }
        const float scale = a->scale[r];
        uint8_t *orow = a->out + r * a->out_m_stride;
        for (int64_t j = 0; j < n; j++)
            orow[j * a->out_n_stride] = qp_requantize((int32_t)acc[j], scale, a->out_zero_point, a->qmin, a->qmax);
    }
}

const qp_u8s8_gemm_variant qp_u8s8_gemm__ref = {
    .name = "u8s8_gemm__ref",
    .mr = 1,
    .nr = 1,
    .pack_size = ref_pack_size,
    .pack = ref_pack,
    .scratch_size = ref_scratch_size,
    .run = ref_run,
};
