/* f32_gemm__ref.c — the portable fp32 GEMM micro-kernel (4 x 16), the reference the SIMD variants must match bit for bit. */
#include <math.h>

#include "kernels/fp32/f32_kernels.h"

/* fmaf in the SIMD kernels' order: one rounding per step, k ascending, then + bias, then clamp. */
void qp_f32_gemm_ukernel_4x16__ref(const qp_f32_gemm_tile *t) {
    enum { MR = 4, NR = 16 };
    if (t->mr <= 0 || t->nr <= 0) return;
    const int64_t mr = t->mr < MR ? t->mr : MR, nr = t->nr < NR ? t->nr : NR;
    float acc[MR][NR] = {{0}};
    for (int64_t p = 0; p < t->k; p++) {
        const float *b = t->b + p * t->ldb;
        for (int64_t i = 0; i < mr; i++) {
            const float a = t->a[i * t->lda + p];
            for (int64_t j = 0; j < nr; j++) acc[i][j] = fmaf(a, b[j], acc[i][j]);
        }
    }
    for (int64_t i = 0; i < mr; i++) {
        const float bias = t->bias ? t->bias[i] : 0.0f;
        for (int64_t j = 0; j < nr; j++) {
            float v = acc[i][j] + bias;
            v = t->lo > v ? t->lo : v; /* keeps NaN, like max(lo, v) in the SIMD variants */
            v = t->hi < v ? t->hi : v;
            t->c[i * t->ldc + j] = v;
        }
    }
}
