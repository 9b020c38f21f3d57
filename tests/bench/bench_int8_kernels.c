/* bench_int8_kernels.c — prints GOPS of every int8 GEMM/depthwise variant this CPU runs on CNN-shaped problems (not a test). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/int8/q8_config.h"
#include "kernels/int8/q8_kernels.h"

static uint64_t rng_state = 42;
static uint32_t rng_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *alloc_or_die(size_t n) {
    void *p = calloc(n ? n : 1, 1);
    if (!p) {
        fprintf(stderr, "bench: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static double min_seconds = 0.3;

/* Seconds per call: repeats until min_seconds have passed, keeps the best of 3 such rounds. */
typedef void (*bench_fn)(void *ctx);
static double time_it(bench_fn fn, void *ctx) {
    fn(ctx); /* warm up caches and pages */
    double best = INFINITY;
    for (int round = 0; round < 3; round++) {
        int reps = 0;
        const double t0 = now_s();
        double t;
        do {
            fn(ctx);
            reps++;
            t = now_s() - t0;
        } while (t < min_seconds / 3);
        if (t / reps < best) best = t / reps;
    }
    return best;
}

typedef struct gemm_ctx {
    const qp_u8s8_gemm_variant *v;
    qp_u8s8_gemm_args args;
    const qp_q8_config *cfg;
    const qp_q8_window *win; /* non-NULL: im2col first */
    const uint8_t *image;
    uint8_t *col;
    int64_t channels;
} gemm_ctx;

static void run_gemm(void *p) {
    gemm_ctx *c = p;
    if (c->win) c->cfg->im2col(c->win, c->channels, c->image, 128, c->col);
    c->v->run(&c->args);
}

static void run_im2col(void *p) {
    gemm_ctx *c = p;
    c->cfg->im2col(c->win, c->channels, c->image, 128, c->col);
}

/* out[M][N] = W[M][K] x X[K][N] (conv layout) or out[N][M] with X read as A[N][K] (gemm layout).
 * With win set, X comes from im2col of an image and the timing includes it. */
static void bench_gemm(const char *label, int64_t M, int64_t N, int64_t K, int gemm_layout,
                       const qp_q8_window *win, int64_t channels) {
    const qp_q8_config *configs[8];
    const int n_configs = qp_q8_runnable_configs(configs, 8);
    int8_t *w = alloc_or_die((size_t)(M * K));
    for (int64_t i = 0; i < M * K; i++) w[i] = (int8_t)((int)(rng_u32() % 255) - 127);
    uint8_t *x = alloc_or_die((size_t)(K * N));
    for (int64_t i = 0; i < K * N; i++) x[i] = (uint8_t)rng_u32();
    uint8_t *image = NULL, *col = NULL;
    if (win) {
        image = alloc_or_die((size_t)(channels * win->in_h * win->in_w));
        for (int64_t i = 0; i < channels * win->in_h * win->in_w; i++) image[i] = (uint8_t)rng_u32();
        col = x; /* the column matrix is X */
    }
    int32_t *bias = alloc_or_die((size_t)M * 4);
    qp_q31 *rq = alloc_or_die((size_t)M * sizeof(qp_q31));
    for (int64_t i = 0; i < M; i++) qp_q31_from_real(60.0 / (sqrt((double)K) * 5400.0), &rq[i]);
    qp_u8s8_gemm_fold_bias(M, K, w, K, NULL, 128, bias);
    uint8_t *ref_out = alloc_or_die((size_t)(M * N)), *out = alloc_or_die((size_t)(M * N));
    const double ops = 2.0 * (double)M * (double)N * (double)K;
    double ref_time = 0.0;
    printf("%s: M=%lld N=%lld K=%lld%s\n", label, (long long)M, (long long)N, (long long)K,
           win ? " (im2col + gemm)" : gemm_layout ? " (Gemm layout: A[N][K], out[N][M])" : "");
    for (int i = 0; i < n_configs; i++) {
        const qp_u8s8_gemm_variant *v = configs[i]->gemm;
        void *packed = alloc_or_die(v->pack_size(M, K));
        v->pack(M, K, w, K, bias, packed);
        void *scratch = alloc_or_die(v->scratch_size(K, N));
        gemm_ctx c = {.v = v, .cfg = configs[i], .win = win, .image = image, .col = col,
                      .channels = channels};
        c.args = (qp_u8s8_gemm_args){
            .m = M, .n = N, .k = K, .m_begin = 0, .m_end = M, .packed_w = packed, .x = x,
            .x_k_stride = gemm_layout ? 1 : N, .x_n_stride = gemm_layout ? K : 1,
            .out = i == 0 ? ref_out : out, .out_m_stride = gemm_layout ? 1 : N,
            .out_n_stride = gemm_layout ? M : 1, .requant = rq, .out_zero_point = 128,
            .qmin = 0, .qmax = 255, .scratch = scratch};
        const double t = time_it(run_gemm, &c);
        if (i == 0) ref_time = t;
        const int same = i == 0 || memcmp(out, ref_out, (size_t)(M * N)) == 0;
        printf("  %-28s %9.3f ms  %7.2f GOPS  x%6.1f vs ref%s\n", v->name, t * 1e3, ops / t * 1e-9,
               ref_time / t, same ? "" : "  OUTPUT MISMATCH");
        if (win && i == n_configs - 1) {
            const double t_im2col = time_it(run_im2col, &c);
            printf("  %-28s %9.3f ms  (%.0f%% of the %s conv)\n", "u8_im2col__ref", t_im2col * 1e3,
                   100.0 * t_im2col / t, configs[i]->isa_name);
        }
        free(scratch);
        free(packed);
    }
    free(out);
    free(ref_out);
    free(rq);
    free(bias);
    free(image);
    free(x);
    free(w);
}

typedef struct dw_ctx {
    qp_u8_dwconv_fn fn;
    qp_u8_dwconv_args args;
} dw_ctx;

static void run_dw(void *p) {
    dw_ctx *c = p;
    c->fn(&c->args);
}

static void bench_dwconv(const char *label, int64_t channels, int64_t hw, int64_t k, int64_t stride) {
    const qp_q8_config *configs[8];
    const int n_configs = qp_q8_runnable_configs(configs, 8);
    const int64_t pad = k / 2, out_hw = (hw + 2 * pad - k) / stride + 1;
    const qp_q8_window win = {.in_h = hw, .in_w = hw, .out_h = out_hw, .out_w = out_hw,
                              .kernel_h = k, .kernel_w = k, .stride_h = stride, .stride_w = stride,
                              .dilation_h = 1, .dilation_w = 1, .pad_top = pad, .pad_left = pad,
                              .pad_bottom = pad, .pad_right = pad};
    uint8_t *in = alloc_or_die((size_t)(channels * hw * hw));
    for (int64_t i = 0; i < channels * hw * hw; i++) in[i] = (uint8_t)rng_u32();
    int8_t *w = alloc_or_die((size_t)(channels * k * k));
    for (int64_t i = 0; i < channels * k * k; i++) w[i] = (int8_t)((int)(rng_u32() % 255) - 127);
    int32_t *bias = alloc_or_die((size_t)channels * 4);
    qp_u8s8_gemm_fold_bias(channels, k * k, w, k * k, NULL, 128, bias);
    qp_q31 *rq = alloc_or_die((size_t)channels * sizeof(qp_q31));
    for (int64_t i = 0; i < channels; i++) qp_q31_from_real(60.0 / (k * 5400.0), &rq[i]);
    uint8_t *out = alloc_or_die((size_t)(channels * out_hw * out_hw));
    void *scratch = alloc_or_die(qp_u8_dwconv_scratch_size(&win));
    const double ops = 2.0 * (double)(channels * out_hw * out_hw * k * k);
    printf("%s: C=%lld %lldx%lld k=%lld s=%lld\n", label, (long long)channels, (long long)hw,
           (long long)hw, (long long)k, (long long)stride);
    double ref_time = 0.0;
    for (int i = 0; i < n_configs; i++) {
        if (i > 0 && configs[i]->dwconv == configs[i - 1]->dwconv) continue;
        dw_ctx c = {.fn = configs[i]->dwconv};
        c.args = (qp_u8_dwconv_args){.win = win, .channels = channels, .input = in, .weights = w,
                                     .bias = bias, .input_zero_point = 128, .requant = rq,
                                     .out_zero_point = 128, .qmin = 0, .qmax = 255, .output = out,
                                     .scratch = scratch};
        const double t = time_it(run_dw, &c);
        if (i == 0) ref_time = t;
        printf("  %-28s %9.3f ms  %7.2f GOPS  x%6.1f vs ref\n",
               i == 0 ? "u8_dwconv__ref" : "u8_dwconv__avx2", t * 1e3, ops / t * 1e-9, ref_time / t);
    }
    free(scratch);
    free(out);
    free(rq);
    free(bias);
    free(w);
    free(in);
}

int main(int argc, char **argv) {
    if (argc > 1) min_seconds = atof(argv[1]);
    if (!(min_seconds > 0)) min_seconds = 0.3;
    printf("int8 kernel micro-benchmark, one thread; dispatch would pick: %s\n"
           "GOPS = 2 * M * N * K / time (multiply and add counted separately)\n\n",
           qp_q8_active_isa());
    /* MobileNetV1 pointwise conv at 28x28, and MobileNetV2's 24->144 expansion at 56x56 */
    bench_gemm("1x1 conv (MobileNetV1 pw, 128->128 @28x28)", 128, 28 * 28, 128, 0, NULL, 0);
    bench_gemm("1x1 conv (MobileNetV2 expand, 24->144 @56x56)", 144, 56 * 56, 24, 0, NULL, 0);
    /* ResNet-style 3x3 conv 64->64 at 56x56 through im2col */
    const qp_q8_window win = {.in_h = 56, .in_w = 56, .out_h = 56, .out_w = 56, .kernel_h = 3,
                              .kernel_w = 3, .stride_h = 1, .stride_w = 1, .dilation_h = 1,
                              .dilation_w = 1, .pad_top = 1, .pad_left = 1, .pad_bottom = 1,
                              .pad_right = 1};
    bench_gemm("3x3 conv (64->64 @56x56)", 64, 56 * 56, 64 * 9, 0, &win, 64);
    /* classifier: 1280 -> 1000, batch 1 and 8 */
    bench_gemm("Gemm (classifier 1280->1000, batch 1)", 1000, 1, 1280, 1, NULL, 0);
    bench_gemm("Gemm (classifier 1280->1000, batch 8)", 1000, 8, 1280, 1, NULL, 0);
    bench_dwconv("depthwise 3x3 s1 (MobileNetV2, 144 @56x56)", 144, 56, 3, 1);
    bench_dwconv("depthwise 3x3 s2 (MobileNetV2, 144 @56x56)", 144, 56, 3, 2);
    bench_dwconv("depthwise 5x5 s1 (EfficientNet-like, 240 @28x28)", 240, 28, 5, 1);
    return 0;
}
