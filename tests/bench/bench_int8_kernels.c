/* bench_int8_kernels.c — prints the speed of every int8 kernel variant this CPU runs on CNN-shaped problems, checking each against the reference (not a test). */
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

/* The thread's CPU time, not wall time: the development VM is shared, and a kernel that is
 * descheduled for a while should not look slower. Kernels are single-threaded. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
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
static const char *only; /* run only the problems whose label contains this */
static int wanted(const char *label) { return !only || strstr(label, only) != NULL; }

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
    if (!wanted(label)) return;
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
    float *rq = alloc_or_die((size_t)M * sizeof(float));
    for (int64_t i = 0; i < M; i++) rq[i] = (float)(60.0 / (sqrt((double)K) * 5400.0));
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
            .out_n_stride = gemm_layout ? M : 1, .scale = rq, .out_zero_point = 128,
            .qmin = 0, .qmax = 255, .scratch = scratch};
        const double t = time_it(run_gemm, &c);
        if (i == 0) ref_time = t;
        const int same = i == 0 || memcmp(out, ref_out, (size_t)(M * N)) == 0;
        printf("  %-28s %9.3f ms  %7.2f GOPS  x%6.1f vs ref%s\n", v->name, t * 1e3, ops / t * 1e-9,
               ref_time / t, same ? "" : "  OUTPUT MISMATCH");
        if (win && i == n_configs - 1) {
            const double t_im2col = time_it(run_im2col, &c);
            printf("  %-28s %9.3f ms  (%.0f%% of the %s conv)\n", "im2col", t_im2col * 1e3,
                   100.0 * t_im2col / t, configs[i]->isa_name);
        }
        /* the same conv without im2col: the GEMM reads the image itself (args.implicit) */
        if (win && v->implicit && win->stride_h == 1 && win->stride_w == 1 && win->dilation_h == 1 &&
            win->dilation_w == 1 && win->out_w == win->in_w) {
            const qp_u8s8_gemm_implicit im = {.input = image, .h = win->in_h, .w = win->in_w,
                                              .kernel_h = win->kernel_h, .kernel_w = win->kernel_w,
                                              .pad_top = win->pad_top, .pad_left = win->pad_left, .zero_point = 128};
            gemm_ctx ci = c;
            ci.win = NULL;
            ci.args.implicit = &im;
            ci.args.out = out;
            memset(out, 0, (size_t)(M * N));
            const double ti = time_it(run_gemm, &ci);
            const int same_i = memcmp(out, ref_out, (size_t)(M * N)) == 0;
            printf("  %-28s %9.3f ms  %7.2f GOPS  x%6.1f vs ref%s\n", "  implicit im2col", ti * 1e3, ops / ti * 1e-9,
                   ref_time / ti, same_i ? "" : "  OUTPUT MISMATCH");
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

/* zp: the input and output zero point; 0 with the output range [0, 255] is what a depthwise conv
 * after ReLU6 gets (MobileNetV2), 128 takes the VNNI kernel's general epilogue. */
static void bench_dwconv(const char *label, int64_t channels, int64_t hw, int64_t k, int64_t stride, int32_t zp) {
    if (!wanted(label)) return;
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
    qp_u8s8_gemm_fold_bias(channels, k * k, w, k * k, NULL, zp, bias);
    float *rq = alloc_or_die((size_t)channels * sizeof(float));
    for (int64_t i = 0; i < channels; i++) rq[i] = (float)(60.0 / (k * 5400.0));
    uint8_t *out = alloc_or_die((size_t)(channels * out_hw * out_hw));
    uint8_t *ref_out = alloc_or_die((size_t)(channels * out_hw * out_hw));
    void *scratch = alloc_or_die(qp_u8_dwconv_scratch_size(&win));
    const double ops = 2.0 * (double)(channels * out_hw * out_hw * k * k);
    printf("%s: C=%lld %lldx%lld k=%lld s=%lld zp=%d\n", label, (long long)channels, (long long)hw,
           (long long)hw, (long long)k, (long long)stride, zp);
    double ref_time = 0.0;
    for (int i = 0; i < n_configs; i++) {
        if (i > 0 && configs[i]->dwconv == configs[i - 1]->dwconv) continue;
        dw_ctx c = {.fn = configs[i]->dwconv};
        c.args = (qp_u8_dwconv_args){.win = win, .channels = channels, .input = in, .weights = w,
                                     .bias = bias, .input_zero_point = zp, .scale = rq,
                                     .out_zero_point = zp, .qmin = 0, .qmax = 255, .output = out,
                                     .scratch = scratch};
        memset(out, 0, (size_t)(channels * out_hw * out_hw));
        const double t = time_it(run_dw, &c);
        if (i == 0) {
            ref_time = t;
            memcpy(ref_out, out, (size_t)(channels * out_hw * out_hw));
        }
        const int same = memcmp(ref_out, out, (size_t)(channels * out_hw * out_hw)) == 0;
        char name[64];
        snprintf(name, sizeof name, "u8_dwconv__%s", i == 0 ? "ref" : configs[i]->isa_name);
        printf("  %-28s %9.3f ms  %7.2f GOPS  x%6.1f vs ref%s\n", name, t * 1e3, ops / t * 1e-9, ref_time / t,
               same ? "" : "  OUTPUT MISMATCH");
    }
    free(scratch);
    free(ref_out);
    free(out);
    free(rq);
    free(bias);
    free(w);
    free(in);
}

/* ---- memory-bound kernels: Add/Mul, pooling, LUT, im2col ------------------------------------ */

typedef struct misc_ctx {
    const qp_q8_config *cfg;
    int kind;
    const void *args;
    const uint8_t *table, *in;
    uint8_t *out;
    int64_t n;
    const qp_q8_window *win;
    int64_t channels;
} misc_ctx;

enum { MISC_ADD, MISC_MUL, MISC_MAXPOOL, MISC_AVGPOOL, MISC_GAP, MISC_LUT, MISC_IM2COL };

static void run_misc(void *p) {
    const misc_ctx *c = p;
    switch (c->kind) {
    case MISC_ADD: c->cfg->add(c->args); break;
#ifndef QP_BENCH_BASELINE
    case MISC_MUL: c->cfg->mul(c->args); break;
#endif
    case MISC_MAXPOOL: c->cfg->maxpool(c->args); break;
    case MISC_AVGPOOL: c->cfg->avgpool(c->args); break;
    case MISC_GAP: c->cfg->global_avgpool(c->args); break;
    case MISC_LUT: c->cfg->lut(c->n, c->table, c->in, c->out); break;
    case MISC_IM2COL: c->cfg->im2col(c->win, c->channels, c->in, 128, c->out); break;
    default: break;
    }
}

/* The function a config uses for this kind, to time each distinct variant once. */
static const void *misc_fn(const qp_q8_config *cfg, int kind) {
    switch (kind) {
    case MISC_ADD: return (const void *)cfg->add;
#ifndef QP_BENCH_BASELINE
    case MISC_MUL: return (const void *)cfg->mul;
#endif
    case MISC_MAXPOOL: return (const void *)cfg->maxpool;
    case MISC_AVGPOOL: return (const void *)cfg->avgpool;
    case MISC_GAP: return (const void *)cfg->global_avgpool;
    case MISC_LUT: return (const void *)cfg->lut;
    case MISC_IM2COL: return (const void *)cfg->im2col;
    default: return NULL;
    }
}

/* Times every distinct variant of `kind`; out_bytes of output are compared with the first
 * (scalar) one. Prints Gbyte/s of output. */
static void bench_misc(const char *label, misc_ctx *c, uint8_t *out, size_t out_bytes) {
    if (!wanted(label)) return;
    const qp_q8_config *configs[8];
    const int n_configs = qp_q8_runnable_configs(configs, 8);
    uint8_t *ref = alloc_or_die(out_bytes);
    double ref_time = 0;
    printf("%s\n", label);
    for (int i = 0; i < n_configs; i++) {
        if (i > 0 && misc_fn(configs[i], c->kind) == misc_fn(configs[i - 1], c->kind)) continue;
        c->cfg = configs[i];
        memset(out, 0, out_bytes);
        const double t = time_it(run_misc, c);
        if (i == 0) {
            ref_time = t;
            memcpy(ref, out, out_bytes);
        }
        printf("  %-28s %9.3f ms  %7.2f GB/s out  x%6.1f vs ref%s\n", configs[i]->isa_name, t * 1e3,
               (double)out_bytes / t * 1e-9, ref_time / t, memcmp(ref, out, out_bytes) ? "  OUTPUT MISMATCH" : "");
    }
    free(ref);
}

static void fill_random(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng_u32();
}

static void bench_memory_bound(void) {
    /* MobileNetV2's first residual Add (24 @56x56), and an SE-style per-channel Mul */
    const int64_t n = 24 * 56 * 56;
    uint8_t *a = alloc_or_die((size_t)n), *b = alloc_or_die((size_t)n), *out = alloc_or_die((size_t)n);
    fill_random(a, (size_t)n);
    fill_random(b, (size_t)n);
    qp_u8_add_params ap;
    qp_u8_add_params_init(0.05, 120, 0.07, 130, 0.09, 125, 0, 255, &ap);
    const qp_u8_add_args aa = {.outer = 1, .mid = 1, .inner = n, .a = a, .a_stride = {0, 0, 1}, .b = b,
                               .b_stride = {0, 0, 1}, .out = out, .params = &ap};
    misc_ctx c = {.kind = MISC_ADD, .args = &aa};
    bench_misc("Add u8 (MobileNetV2 residual, 24 @56x56)", &c, out, (size_t)n);
#ifndef QP_BENCH_BASELINE
    qp_u8_mul_params mp;
    qp_u8_mul_params_init(0.05, 120, 0.004, 0, 0.03, 128, 0, 255, &mp);
    const qp_u8_mul_args ma = {.outer = 1, .mid = 24, .inner = 56 * 56, .a = a, .a_stride = {0, 56 * 56, 1}, .b = b,
                               .b_stride = {0, 1, 0}, .out = out, .params = &mp};
    c = (misc_ctx){.kind = MISC_MUL, .args = &ma};
    bench_misc("Mul u8 (SE scale, 24 @56x56 x [24])", &c, out, (size_t)n);
#endif
    free(a);
    free(b);
    free(out);

    /* SqueezeNet's first MaxPool (3x3 s2, ceil mode: 64 @111x111 -> 55x55) */
    const qp_q8_window mp_win = {.in_h = 111, .in_w = 111, .out_h = 55, .out_w = 55, .kernel_h = 3, .kernel_w = 3,
                                 .stride_h = 2, .stride_w = 2, .dilation_h = 1, .dilation_w = 1};
    uint8_t *img = alloc_or_die(64 * 111 * 111), *pooled = alloc_or_die(64 * 55 * 55);
    fill_random(img, 64 * 111 * 111);
    const qp_u8_pool_args pa = {.win = mp_win, .channels = 64, .input = img, .output = pooled, .qmin = 0, .qmax = 255};
    c = (misc_ctx){.kind = MISC_MAXPOOL, .args = &pa};
    bench_misc("MaxPool 3x3 s2 (SqueezeNet, 64 @111x111)", &c, pooled, 64 * 55 * 55);
    float table[10];
    qp_u8_avgpool_scale_table(0.05f, 0.05f, 9, table);
    const qp_q8_window ap_win = {.in_h = 111, .in_w = 111, .out_h = 111, .out_w = 111, .kernel_h = 3,
                                 .kernel_w = 3, .stride_h = 1, .stride_w = 1, .dilation_h = 1, .dilation_w = 1,
                                 .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1};
    uint8_t *avg_out = alloc_or_die(64 * 111 * 111);
    const qp_u8_pool_args avg = {.win = ap_win, .channels = 64, .input = img, .output = avg_out, .qmin = 0,
                                 .qmax = 255, .count_scale = table, .input_zero_point = 128, .out_zero_point = 128};
    c = (misc_ctx){.kind = MISC_AVGPOOL, .args = &avg};
    bench_misc("AveragePool 3x3 s1 pad 1 (64 @111x111)", &c, avg_out, 64 * 111 * 111);
    uint8_t gap_out[1280];
    float gq;
    qp_requant_mean_scale(1.0f, 1.0f, 49, &gq);
    const qp_u8_global_avgpool_args ga = {.channels = 1280, .plane = 49, .input = img, .output = gap_out,
                                          .scale = gq, .input_zero_point = 128, .out_zero_point = 128,
                                          .qmin = 0, .qmax = 255};
    c = (misc_ctx){.kind = MISC_GAP, .args = &ga};
    bench_misc("GlobalAveragePool (MobileNetV2, 1280 @7x7)", &c, gap_out, sizeof gap_out);
    uint8_t lut_table[256];
    qp_u8_lut_requant_table(0.05, 100, 0.07, 120, 0, 255, lut_table);
    c = (misc_ctx){.kind = MISC_LUT, .table = lut_table, .in = img, .out = avg_out, .n = 64 * 111 * 111};
    bench_misc("LUT (re-encoding, 64 @111x111)", &c, avg_out, 64 * 111 * 111);
    free(avg_out);
    free(pooled);
    free(img);

    /* im2col alone: SqueezeNet's fire 3x3 expand (16 @55x55) and the stem (3 @224x224 s2) */
    const qp_q8_window fire = {.in_h = 55, .in_w = 55, .out_h = 55, .out_w = 55, .kernel_h = 3, .kernel_w = 3,
                               .stride_h = 1, .stride_w = 1, .dilation_h = 1, .dilation_w = 1, .pad_top = 1,
                               .pad_left = 1, .pad_bottom = 1, .pad_right = 1};
    const qp_q8_window stem = {.in_h = 224, .in_w = 224, .out_h = 112, .out_w = 112, .kernel_h = 3,
                               .kernel_w = 3, .stride_h = 2, .stride_w = 2, .dilation_h = 1, .dilation_w = 1,
                               .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1};
    uint8_t *src = alloc_or_die(16 * 55 * 55 + 3 * 224 * 224);
    fill_random(src, 16 * 55 * 55 + 3 * 224 * 224);
    const size_t fire_bytes = qp_u8_im2col_size(&fire, 16), stem_bytes = qp_u8_im2col_size(&stem, 3);
    uint8_t *col = alloc_or_die(fire_bytes > stem_bytes ? fire_bytes : stem_bytes);
    c = (misc_ctx){.kind = MISC_IM2COL, .win = &fire, .channels = 16, .in = src, .out = col};
    bench_misc("im2col 3x3 s1 (SqueezeNet fire, 16 @55x55)", &c, col, fire_bytes);
    c = (misc_ctx){.kind = MISC_IM2COL, .win = &stem, .channels = 3, .in = src, .out = col};
    bench_misc("im2col 3x3 s2 (stem, 3 @224x224)", &c, col, stem_bytes);
    free(col);
    free(src);
}

/* ---- direct convolution for few input channels (the stem) vs im2col + GEMM -------------------- */

typedef struct smallc_ctx {
    qp_u8_conv_smallc_fn fn;
    qp_u8_conv_smallc_args args;
} smallc_ctx;

static void run_smallc(void *p) {
    smallc_ctx *c = p;
    c->fn(&c->args);
}

/* c_in -> c_out with a k x k kernel, stride s, pad p on hw x hw: the best config's im2col + GEMM
 * (what the Conv op runs without the direct kernel), then every direct variant, checked against
 * the reference; GMAC/s counts the real taps (c_in * k * k per output). */
static void bench_smallc(const char *label, int64_t c_in, int64_t c_out, int64_t hw, int64_t k, int64_t s, int64_t p) {
    if (!wanted(label)) return;
    const qp_q8_config *configs[8];
    const int n_configs = qp_q8_runnable_configs(configs, 8);
    const int64_t out_hw = (hw + 2 * p - k) / s + 1, n = out_hw * out_hw, kk = c_in * k * k;
    const qp_q8_window win = {.in_h = hw, .in_w = hw, .out_h = out_hw, .out_w = out_hw, .kernel_h = k,
                              .kernel_w = k, .stride_h = s, .stride_w = s, .dilation_h = 1, .dilation_w = 1,
                              .pad_top = p, .pad_left = p, .pad_bottom = p, .pad_right = p};
    uint8_t *in = alloc_or_die((size_t)(c_in * hw * hw));
    fill_random(in, (size_t)(c_in * hw * hw));
    int8_t *w = alloc_or_die((size_t)(c_out * kk));
    for (int64_t i = 0; i < c_out * kk; i++) w[i] = (int8_t)((int)(rng_u32() % 255) - 127);
    int32_t *bias = alloc_or_die((size_t)c_out * 4);
    qp_u8s8_gemm_fold_bias(c_out, kk, w, kk, NULL, 128, bias);
    float *rq = alloc_or_die((size_t)c_out * sizeof(float));
    for (int64_t i = 0; i < c_out; i++) rq[i] = (float)(60.0 / (sqrt((double)kk) * 5400.0));
    uint8_t *ref = alloc_or_die((size_t)(c_out * n)), *out = alloc_or_die((size_t)(c_out * n));
    uint8_t *col = alloc_or_die(qp_u8_im2col_size(&win, c_in));
    const double macs = (double)(c_out * n * kk);
    printf("%s: %lld->%lld %lldx%lld k%lld s%lld p%lld\n", label, (long long)c_in, (long long)c_out, (long long)hw,
           (long long)hw, (long long)k, (long long)s, (long long)p);
    /* im2col + GEMM of the best config: the bytes every variant must give */
    const qp_q8_config *best = configs[n_configs - 1];
    const qp_u8s8_gemm_variant *v = best->gemm;
    void *packed = alloc_or_die(v->pack_size(c_out, kk)), *gscratch = alloc_or_die(v->scratch_size(kk, n));
    v->pack(c_out, kk, w, kk, bias, packed);
    gemm_ctx g = {.v = v, .cfg = best, .win = &win, .image = in, .col = col, .channels = c_in};
    g.args = (qp_u8s8_gemm_args){.m = c_out, .n = n, .k = kk, .m_begin = 0, .m_end = c_out, .packed_w = packed,
                                 .x = col, .x_k_stride = n, .x_n_stride = 1, .out = ref, .out_m_stride = n,
                                 .out_n_stride = 1, .scale = rq, .out_zero_point = 128, .qmin = 0, .qmax = 255,
                                 .scratch = gscratch};
    double tg = time_it(run_gemm, &g);
    printf("  %-28s %9.3f ms  %7.2f GMAC/s\n", "im2col + gemm", tg * 1e3, macs / tg * 1e-9);
    /* "same" stride-1 convs run the GEMM on the image itself (implicit im2col) in the Conv op */
    if (v->implicit && s == 1 && win.out_w == win.in_w && k <= 16) {
        const qp_u8s8_gemm_implicit im = {.input = in, .h = hw, .w = hw, .kernel_h = k, .kernel_w = k,
                                          .pad_top = p, .pad_left = p, .zero_point = 128};
        gemm_ctx gi = g;
        gi.win = NULL;
        gi.args.implicit = &im;
        gi.args.out = out;
        const double ti = time_it(run_gemm, &gi);
        printf("  %-28s %9.3f ms  %7.2f GMAC/s%s\n", "implicit gemm", ti * 1e3, macs / ti * 1e-9,
               memcmp(out, ref, (size_t)(c_out * n)) ? "  OUTPUT MISMATCH" : "");
        if (ti < tg) tg = ti;
    }
    void *scratch = alloc_or_die(qp_u8_conv_smallc_scratch_size(&win, c_in, c_out));
    smallc_ctx c = {.fn = qp_u8_conv_smallc__ref};
    c.args = (qp_u8_conv_smallc_args){.win = win, .c_in = c_in, .c_out = c_out, .input = in, .weights = w,
                                      .bias = bias, .input_zero_point = 128, .scale = rq, .out_zero_point = 128,
                                      .qmin = 0, .qmax = 255, .output = out, .scratch = scratch};
    for (int i = -1; i < n_configs; i++) {
        if (i >= 0 && (!configs[i]->conv_smallc || (i > 0 && configs[i]->conv_smallc == configs[i - 1]->conv_smallc)))
            continue;
        c.fn = i < 0 ? qp_u8_conv_smallc__ref : configs[i]->conv_smallc;
        memset(out, 0, (size_t)(c_out * n));
        const double t = time_it(run_smallc, &c);
        char name[64];
        snprintf(name, sizeof name, "u8_conv_smallc__%s", i < 0 ? "ref" : configs[i]->isa_name);
        printf("  %-28s %9.3f ms  %7.2f GMAC/s  x%5.2f vs the GEMM path%s\n", name, t * 1e3, macs / t * 1e-9, tg / t,
               memcmp(out, ref, (size_t)(c_out * n)) ? "  OUTPUT MISMATCH" : "");
    }
    free(scratch);
    free(gscratch);
    free(packed);
    free(col);
    free(out);
    free(ref);
    free(rq);
    free(bias);
    free(w);
    free(in);
}

static void bench_stems(void) {
    /* the stems: MobileNetV2 (3->32), ShuffleNet-v2 (3->24), SqueezeNet 1.1 (3->64, no pad) */
    bench_smallc("stem direct (MobileNetV2, 3->32 3x3 s2 @224x224)", 3, 32, 224, 3, 2, 1);
    bench_smallc("stem direct (ShuffleNet-v2, 3->24 3x3 s2 @224x224)", 3, 24, 224, 3, 2, 1);
    bench_smallc("stem direct (SqueezeNet 1.1, 3->64 3x3 s2 p0 @224x224)", 3, 64, 224, 3, 2, 0);
    /* where else it might win: other small-C_in shapes ("stem direct" filters them all) */
    bench_smallc("stem direct (1->32 3x3 s1 @112x112)", 1, 32, 112, 3, 1, 1);
    bench_smallc("stem direct (3->16 3x3 s1 @112x112)", 3, 16, 112, 3, 1, 1);
    bench_smallc("stem direct (4->32 3x3 s2 @112x112)", 4, 32, 112, 3, 2, 1);
    bench_smallc("stem direct (5->32 3x3 s1 @56x56)", 5, 32, 56, 3, 1, 1);
    bench_smallc("stem direct (3->32 2x2 s2 @224x224)", 3, 32, 224, 2, 2, 0);
    bench_smallc("stem direct (3->8 3x3 s2 @224x224)", 3, 8, 224, 3, 2, 1);
    bench_smallc("stem direct (3->32 3x3 s2 @32x32)", 3, 32, 32, 3, 2, 1);
    bench_smallc("stem direct (3->32 3x3 s2 @14x14)", 3, 32, 14, 3, 2, 1);
    bench_smallc("stem direct (2->64 3x3 s1 @7x7)", 2, 64, 7, 3, 1, 1);
    bench_smallc("stem direct (4->16 1x1 s1 @56x56)", 4, 16, 56, 1, 1, 0);
}

int main(int argc, char **argv) {
    /* [seconds] [filter], or just [filter] when the first argument is not a number */
    char *end = NULL;
    if (argc > 1) {
        const double sec = strtod(argv[1], &end);
        if (end != argv[1] && *end == '\0') min_seconds = sec;
        else only = argv[1];
    }
    if (argc > 2) only = argv[2];
    if (!(min_seconds > 0)) min_seconds = 0.3;
    printf("int8 kernel micro-benchmark, one thread; dispatch would pick: %s\n"
           "GOPS = 2 * M * N * K / time (multiply and add counted separately)\n\n",
           qp_q8_active_isa());
    /* MobileNetV1 pointwise conv at 28x28, and MobileNetV2's 24->144 expansion at 56x56 */
    bench_gemm("1x1 conv (MobileNetV1 pw, 128->128 @28x28)", 128, 28 * 28, 128, 0, NULL, 0);
    bench_gemm("1x1 conv (MobileNetV2 expand, 24->144 @56x56)", 144, 56 * 56, 24, 0, NULL, 0);
    bench_gemm("1x1 conv (MobileNetV2 first expand, 16->96 @112x112)", 96, 112 * 112, 16, 0, NULL, 0);
    bench_gemm("1x1 conv (MobileNetV2 project, 144->24 @56x56)", 24, 56 * 56, 144, 0, NULL, 0);
    bench_gemm("1x1 conv (MobileNetV2 last, 320->1280 @7x7)", 1280, 7 * 7, 320, 0, NULL, 0);
    bench_gemm("1x1 conv (MobileNetV2 project, 384->64 @14x14)", 64, 14 * 14, 384, 0, NULL, 0);
    bench_gemm("1x1 conv (MobileNetV2 project, 960->160 @7x7)", 160, 7 * 7, 960, 0, NULL, 0);
    /* ResNet-style 3x3 conv 64->64 at 56x56 through im2col */
    const qp_q8_window win = {.in_h = 56, .in_w = 56, .out_h = 56, .out_w = 56, .kernel_h = 3,
                              .kernel_w = 3, .stride_h = 1, .stride_w = 1, .dilation_h = 1,
                              .dilation_w = 1, .pad_top = 1, .pad_left = 1, .pad_bottom = 1,
                              .pad_right = 1};
    bench_gemm("3x3 conv (64->64 @56x56)", 64, 56 * 56, 64 * 9, 0, &win, 64);
    /* SqueezeNet 1.1 fire2 expand3x3: 16 -> 64 at 55x55 */
    const qp_q8_window fire = {.in_h = 55, .in_w = 55, .out_h = 55, .out_w = 55, .kernel_h = 3,
                               .kernel_w = 3, .stride_h = 1, .stride_w = 1, .dilation_h = 1,
                               .dilation_w = 1, .pad_top = 1, .pad_left = 1, .pad_bottom = 1,
                               .pad_right = 1};
    bench_gemm("3x3 conv (SqueezeNet fire2 expand, 16->64 @55x55)", 64, 55 * 55, 16 * 9, 0, &fire, 16);
    /* the stem of MobileNetV2/ShuffleNet: 3 -> 24..32 channels, 3x3 stride 2 at 224x224 */
    const qp_q8_window stem = {.in_h = 224, .in_w = 224, .out_h = 112, .out_w = 112, .kernel_h = 3,
                               .kernel_w = 3, .stride_h = 2, .stride_w = 2, .dilation_h = 1,
                               .dilation_w = 1, .pad_top = 1, .pad_left = 1, .pad_bottom = 1,
                               .pad_right = 1};
    bench_gemm("3x3 s2 stem conv (3->24 @224x224)", 24, 112 * 112, 27, 0, &stem, 3);
    bench_stems(); /* the same convs without im2col: the direct small-C_in kernel */
    /* classifier: 1280 -> 1000, batch 1 and 8 */
    bench_gemm("Gemm (classifier 1280->1000, batch 1)", 1000, 1, 1280, 1, NULL, 0);
    bench_gemm("Gemm (classifier 1280->1000, batch 8)", 1000, 8, 1280, 1, NULL, 0);
    /* every depthwise shape of MobileNetV2 with its encoding after ReLU6 (labels start "dw" for
     * the filter), two of them with zero points 128, then 5x5 ones */
    bench_dwconv("dw 3x3 s1 (MobileNetV2, 32 @112x112)", 32, 112, 3, 1, 0);
    bench_dwconv("dw 3x3 s2 (MobileNetV2, 96 @112x112)", 96, 112, 3, 2, 0);
    bench_dwconv("dw 3x3 s1 (MobileNetV2, 144 @56x56)", 144, 56, 3, 1, 0);
    bench_dwconv("dw 3x3 s2 (MobileNetV2, 144 @56x56)", 144, 56, 3, 2, 0);
    bench_dwconv("dw 3x3 s1 (MobileNetV2, 192 @28x28)", 192, 28, 3, 1, 0);
    bench_dwconv("dw 3x3 s2 (MobileNetV2, 192 @28x28)", 192, 28, 3, 2, 0);
    bench_dwconv("dw 3x3 s1 (MobileNetV2, 384 @14x14)", 384, 14, 3, 1, 0);
    bench_dwconv("dw 3x3 s1 (MobileNetV2, 576 @14x14)", 576, 14, 3, 1, 0);
    bench_dwconv("dw 3x3 s2 (MobileNetV2, 576 @14x14 -> 7x7)", 576, 14, 3, 2, 0);
    bench_dwconv("dw 3x3 s1 (MobileNetV2, 960 @7x7)", 960, 7, 3, 1, 0);
    bench_dwconv("dw 3x3 s1 (zero points 128, 144 @56x56)", 144, 56, 3, 1, 128);
    bench_dwconv("dw 3x3 s1 (zero points 128, 384 @14x14)", 384, 14, 3, 1, 128);
    bench_dwconv("dw 5x5 s1 (EfficientNet-like, 240 @28x28)", 240, 28, 5, 1, 128);
    bench_dwconv("dw 5x5 s2 (MnasNet-like, 240 @28x28)", 240, 28, 5, 2, 128);
    bench_memory_bound();
    return 0;
}
