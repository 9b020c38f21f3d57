/* test_kernels_int8.c — every int8 kernel variant this CPU runs vs the reference (bit-exact), and the reference vs plain int64 loops. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#include "kernels/int8/q8_config.h"
#include "kernels/int8/q8_kernels.h"

/* ---------------------------------------------------------------------------------------- */
/* helpers                                                                                  */
/* ---------------------------------------------------------------------------------------- */

static uint64_t rng_state;
static void rng_seed(uint64_t seed) { rng_state = seed * 0x9E3779B97F4A7C15ull + 1; }
static uint32_t rng_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
/* uniform in [lo, hi] */
static int64_t rng_int(int64_t lo, int64_t hi) { return lo + (int64_t)(rng_u32() % (uint64_t)(hi - lo + 1)); }
static double rng_unit(void) { return (double)rng_u32() / 4294967296.0; }

static void *xcalloc(size_t n) {
    void *p = calloc(n ? n : 1, 1);
    assert_non_null(p);
    return p;
}

static const qp_q8_config *runnable[8];
static int n_runnable;

static int setup_configs(void **state) {
    (void)state;
    n_runnable = qp_q8_runnable_configs(runnable, 8);
    print_message("int8 variants on this CPU:");
    for (int i = 0; i < n_runnable; i++) print_message(" %s", runnable[i]->isa_name);
    print_message("\n");
    return n_runnable >= 1 ? 0 : -1;
}

/* A requantization scale (requant.h) near m. */
static float rq_scale(double m) { return (float)m; }

/* Reports the first differing byte of two buffers. */
static void expect_same_bytes(const uint8_t *got, const uint8_t *want, size_t n, const char *what,
                              const char *variant) {
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("%s [%s]: byte %zu is %u, expected %u", what, variant, i, got[i], want[i]);
}

/* ---------------------------------------------------------------------------------------- */
/* GEMM                                                                                      */
/* ---------------------------------------------------------------------------------------- */

enum { W_RANDOM, W_PLUS127, W_MINUS127, W_MINUS128, W_ALTERNATE, W_RANDOM_EXTREME };
enum { X_RANDOM, X_ALL255, X_ALL0 };
enum { LAYOUT_CONV, LAYOUT_GEMM };
enum { M_TYPICAL, M_LARGE, M_PER_TENSOR, M_MIXED };

typedef struct gemm_case {
    int64_t m, n, k;
    int32_t za, zo;
    uint8_t qmin, qmax;
    int layout, weights, acts, multipliers;
} gemm_case;

typedef struct gemm_data {
    gemm_case c;
    int8_t *w;            /* [m][k] */
    int32_t *bias;        /* raw bias [m] */
    int32_t *folded;      /* bias - za * rowsum */
    float *scale;         /* [m] */
    uint8_t *x;           /* conv: [k][ldx]; gemm: [n][lda] */
    int64_t x_k_stride, x_n_stride, x_bytes;
    int64_t out_m_stride, out_n_stride, out_bytes;
    uint8_t *expected;    /* out buffer with 0xA5 outside the written elements */
} gemm_data;

static void gemm_data_make(gemm_data *d, const gemm_case *c) {
    memset(d, 0, sizeof *d);
    d->c = *c;
    const int64_t m = c->m, n = c->n, k = c->k;
    d->w = xcalloc((size_t)(m * k));
    d->bias = xcalloc((size_t)m * 4);
    d->folded = xcalloc((size_t)m * 4);
    d->scale = xcalloc((size_t)m * sizeof(float));
    for (int64_t i = 0; i < m * k; i++) {
        int v = 0;
        switch (c->weights) {
        case W_RANDOM: v = (int)rng_int(-127, 127); break;
        case W_PLUS127: v = 127; break;
        case W_MINUS127: v = -127; break;
        case W_MINUS128: v = -128; break;
        case W_ALTERNATE: v = (i % 2) ? -127 : 127; break;
        case W_RANDOM_EXTREME: v = (rng_u32() & 1) ? 127 : -127; break;
        }
        d->w[i] = (int8_t)v;
    }
    if (c->layout == LAYOUT_CONV) {
        d->x_n_stride = 1;
        d->x_k_stride = n + 3; /* a row stride wider than n */
        d->x_bytes = k * d->x_k_stride;
        d->out_n_stride = 1;
        d->out_m_stride = n + 5;
        d->out_bytes = m * d->out_m_stride;
    } else {
        d->x_k_stride = 1;
        d->x_n_stride = k + 2; /* A[n][k] with a padded row */
        d->x_bytes = n * d->x_n_stride;
        d->out_m_stride = 1;
        d->out_n_stride = m + 1; /* out[n][m] */
        d->out_bytes = n * d->out_n_stride;
    }
    d->x = xcalloc((size_t)d->x_bytes);
    for (int64_t i = 0; i < d->x_bytes; i++)
        d->x[i] = c->acts == X_ALL255 ? 255 : c->acts == X_ALL0 ? 0 : (uint8_t)rng_u32();
    const int extreme = c->weights != W_RANDOM || c->acts != X_RANDOM;
    const double scale = extreme ? (double)k * 255.0 * 128.0 : sqrt((double)k) * 5400.0 + 1.0;
    const double per_tensor = rng_unit() * 1.5 + 0.5;
    for (int64_t r = 0; r < m; r++) {
        d->bias[r] = (int32_t)rng_int(-20000, 20000);
        double mult = 60.0 / scale * (rng_unit() * 1.5 + 0.5);
        if (c->multipliers == M_LARGE) mult = 1.0 + rng_unit() * 300.0; /* most outputs clamp */
        if (c->multipliers == M_PER_TENSOR) mult = 60.0 / scale * per_tensor;
        if (c->multipliers == M_MIXED && r % 3 == 1) mult = rng_unit() * 4.0 + 0.5;
        if (c->multipliers == M_MIXED && r % 4 == 2) mult = ldexp(1.0, -31);
        /* powers of two: exact ties (half to even) for many accumulators */
        if (c->multipliers == M_MIXED && r % 4 == 3) mult = ldexp(1.0, -(int)rng_int(0, 14));
        d->scale[r] = rq_scale(mult);
    }
    assert_int_equal(qp_u8s8_gemm_fold_bias(m, k, d->w, k, d->bias, c->za, d->folded), QP_OK);

    /* plain int64: acc = bias + sum w * (x - za) */
    d->expected = xcalloc((size_t)d->out_bytes);
    memset(d->expected, 0xA5, (size_t)d->out_bytes);
    for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < n; j++) {
            int64_t acc = d->bias[r];
            for (int64_t i = 0; i < k; i++)
                acc += (int64_t)d->w[r * k + i] *
                       ((int64_t)d->x[i * d->x_k_stride + j * d->x_n_stride] - c->za);
            assert_true(acc >= INT32_MIN && acc <= INT32_MAX);
            d->expected[r * d->out_m_stride + j * d->out_n_stride] =
                qp_requantize((int32_t)acc, d->scale[r], c->zo,
                              c->qmin, c->qmax);
        }
}

static void gemm_data_free(gemm_data *d) {
    free(d->w);
    free(d->bias);
    free(d->folded);
    free(d->scale);
    free(d->x);
    free(d->expected);
}

static qp_u8s8_gemm_args gemm_args(const gemm_data *d, const void *packed, uint8_t *out, void *scratch) {
    qp_u8s8_gemm_args a = {
        .m = d->c.m, .n = d->c.n, .k = d->c.k, .m_begin = 0, .m_end = d->c.m,
        .packed_w = packed, .x = d->x, .x_k_stride = d->x_k_stride, .x_n_stride = d->x_n_stride,
        .out = out, .out_m_stride = d->out_m_stride, .out_n_stride = d->out_n_stride,
        .scale = d->scale, .out_zero_point = d->c.zo, .qmin = d->c.qmin, .qmax = d->c.qmax,
        .scratch = scratch,
    };
    return a;
}

/* Runs one variant whole, split by rows and split by columns; each must equal the int64 loop. */
static void check_gemm_variant(const gemm_data *d, const qp_u8s8_gemm_variant *v) {
    const gemm_case *c = &d->c;
    char what[160];
    snprintf(what, sizeof what, "gemm m=%lld n=%lld k=%lld layout=%d w=%d x=%d za=%d zo=%d [%d,%d]",
             (long long)c->m, (long long)c->n, (long long)c->k, c->layout, c->weights, c->acts,
             (int)c->za, (int)c->zo, c->qmin, c->qmax);
    void *packed = xcalloc(v->pack_size(c->m, c->k));
    v->pack(c->m, c->k, d->w, c->k, d->folded, packed);
    const size_t scratch_bytes = v->scratch_size(c->k, c->n);
    void *scratch = xcalloc(scratch_bytes);
    uint8_t *out = xcalloc((size_t)d->out_bytes);

    memset(out, 0xA5, (size_t)d->out_bytes);
    qp_u8s8_gemm_args a = gemm_args(d, packed, out, scratch);
    v->run(&a);
    expect_same_bytes(out, d->expected, (size_t)d->out_bytes, what, v->name);

    /* rows in two parts, the split on a tile boundary */
    const int64_t split_m = (c->m / 2 / v->mr) * v->mr;
    if (split_m > 0) {
        memset(out, 0xA5, (size_t)d->out_bytes);
        a.m_begin = split_m;
        a.m_end = c->m;
        v->run(&a);
        a.m_begin = 0;
        a.m_end = split_m;
        v->run(&a);
        expect_same_bytes(out, d->expected, (size_t)d->out_bytes, what, v->name);
    }
    /* columns in two parts by pointer offsets; scratch for the whole n covers both */
    if (c->n > 1) {
        const int64_t n1 = c->n / 3 + 1;
        assert_true(v->scratch_size(c->k, n1) <= scratch_bytes);
        assert_true(v->scratch_size(c->k, c->n - n1) <= scratch_bytes);
        memset(out, 0xA5, (size_t)d->out_bytes);
        a = gemm_args(d, packed, out, scratch);
        a.n = n1;
        v->run(&a);
        a.n = c->n - n1;
        a.x = d->x + n1 * d->x_n_stride;
        a.out = out + n1 * d->out_n_stride;
        v->run(&a);
        expect_same_bytes(out, d->expected, (size_t)d->out_bytes, what, v->name);
    }
    free(out);
    free(scratch);
    free(packed);
}

static void check_gemm_case(const gemm_case *c) {
    gemm_data d;
    gemm_data_make(&d, c);
    for (int i = 0; i < n_runnable; i++) check_gemm_variant(&d, runnable[i]->gemm);
    gemm_data_free(&d);
}

static void test_gemm_fixed_shapes(void **state) {
    (void)state;
    rng_seed(1);
    static const int64_t shapes[][3] = {
        {1, 1, 1},    {1, 17, 5},   {4, 16, 2},    {5, 33, 3},    {8, 32, 4},   {9, 31, 7},
        {17, 100, 27}, {33, 15, 64}, {64, 1, 147},  {3, 1000, 9},  {16, 64, 300}, {24, 100, 1152},
        {7, 2, 1},    {40, 49, 96}, {13, 257, 13}, {2, 3, 4097}, {1, 200, 1},  {100, 1, 1280},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int layout = 0; layout < 2; layout++) {
            const gemm_case c = {.m = shapes[s][0], .n = shapes[s][1], .k = shapes[s][2],
                                 .za = (int32_t)rng_int(0, 255), .zo = (int32_t)rng_int(0, 255),
                                 .qmin = 0, .qmax = 255, .layout = layout,
                                 .weights = W_RANDOM, .acts = X_RANDOM,
                                 .multipliers = (int)(s % 4)};
            check_gemm_case(&c);
        }
}

static void test_gemm_random_shapes_and_clamps(void **state) {
    (void)state;
    rng_seed(2);
    for (int t = 0; t < 60; t++) {
        gemm_case c = {.m = rng_int(1, 48), .n = rng_int(1, 130), .k = rng_int(1, 400),
                       .za = (int32_t)rng_int(0, 255), .zo = (int32_t)rng_int(0, 255),
                       .layout = t % 2, .weights = W_RANDOM, .acts = X_RANDOM,
                       .multipliers = (int)rng_int(0, 3)};
        /* full range, ReLU (qmin = zo), ReLU6-like, and a narrow clamp */
        switch (t % 4) {
        case 0: c.qmin = 0; c.qmax = 255; break;
        case 1: c.qmin = (uint8_t)c.zo; c.qmax = 255; break;
        case 2: c.qmin = (uint8_t)c.zo; c.qmax = (uint8_t)(c.zo + (255 - c.zo) / 2); break;
        default: c.qmin = 100; c.qmax = 140; break;
        }
        check_gemm_case(&c);
    }
}

/* All-255 activations against all-127 (or -127/-128) weights: the case where vpmaddubsw's int16
 * pair sums would saturate (255*127*2 = 64770). Every variant must still equal the int64 loop. */
static void test_gemm_saturation_trap(void **state) {
    (void)state;
    rng_seed(3);
    const int weights[] = {W_PLUS127, W_MINUS127, W_MINUS128, W_ALTERNATE, W_RANDOM_EXTREME};
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++)
        for (int layout = 0; layout < 2; layout++) {
            gemm_case c = {.m = 9, .n = 48, .k = 1000, .za = 0, .zo = 128, .qmin = 0, .qmax = 255,
                           .layout = layout, .weights = weights[i], .acts = X_ALL255,
                           .multipliers = M_TYPICAL};
            check_gemm_case(&c);
            /* x - za = -255 everywhere: all-zero codes with the zero point at 255 */
            c.za = 255;
            c.acts = X_ALL0;
            check_gemm_case(&c);
            /* multipliers >= 1 on accumulators of ~2^25: the left shift must saturate, not wrap */
            c.multipliers = M_LARGE;
            check_gemm_case(&c);
            c.multipliers = M_MIXED;
            check_gemm_case(&c);
        }
    /* the narrow (GEMV) paths with the same extremes: n <= 4 columns, odd k */
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++)
        for (int64_t n = 1; n <= 4; n++) {
            gemm_case c = {.m = 11, .n = n, .k = 1001, .za = 0, .zo = 128, .qmin = 0, .qmax = 255,
                           .layout = (int)(n % 2), .weights = weights[i], .acts = X_ALL255,
                           .multipliers = M_TYPICAL};
            check_gemm_case(&c);
        }
    /* the same products without the zero-point fold hiding them: za in the middle */
    gemm_case c = {.m = 4, .n = 33, .k = 4000, .za = 3, .zo = 7, .qmin = 0, .qmax = 255,
                   .layout = LAYOUT_CONV, .weights = W_PLUS127, .acts = X_ALL255,
                   .multipliers = M_MIXED};
    check_gemm_case(&c);
}

/* The requantization epilogue over scales from 2^-31 to 2^31: rows with one scale each, large
 * biases so accumulators span int32 (most above 2^24, where int->float conversion rounds),
 * scales that make exact ties, every output code range (zo, clamps) exercised. Every SIMD
 * epilogue must equal qp_requantize. */
static void test_gemm_epilogue_all_shifts(void **state) {
    (void)state;
    rng_seed(12);
    const int64_t m = 63 * 3, k = 8;
    gemm_case c = {.m = m, .n = 0, .k = k, .za = 0, .zo = 0, .qmin = 0, .qmax = 255,
                   .layout = LAYOUT_CONV, .weights = W_RANDOM, .acts = X_RANDOM, .multipliers = M_TYPICAL};
    for (int round = 0; round < 8; round++) {
        const int64_t n = round < 4 ? 37 : 5; /* the tiled path and the narrow (GEMV) path */
        c.n = n;
        c.zo = (int32_t)rng_int(0, 255);
        c.layout = round % 2;
        c.qmin = round == 3 ? (uint8_t)c.zo : 0;
        gemm_data d;
        gemm_data_make(&d, &c);
        for (int64_t r = 0; r < m; r++) {
            const int e = (int)(r / 3) - 31;
            d.scale[r] = r % 3 == 0   ? ldexpf(1.0f, e) /* powers of two: exact ties */
                         : r % 3 == 1 ? ldexpf(0.99999994f, e)
                                      : ldexpf(0.5f + (float)(rng_u32() % (1u << 23)) / (float)(1u << 24), e);
            /* biases from tiny to nearly +-2^31 (room left for the +-2^18 of the products) */
            const int mag = (int)rng_int(0, 30);
            d.bias[r] = (int32_t)((rng_u32() & 1 ? 1 : -1) * (int64_t)rng_int(0, ((int64_t)1 << mag) - 1));
            d.folded[r] = d.bias[r];
        }
        for (int64_t r = 0; r < m; r++)
            for (int64_t j = 0; j < n; j++) {
                int64_t acc = d.bias[r];
                for (int64_t i = 0; i < k; i++)
                    acc += (int64_t)d.w[r * k + i] * d.x[i * d.x_k_stride + j * d.x_n_stride];
                d.expected[r * d.out_m_stride + j * d.out_n_stride] =
                    qp_requantize((int32_t)acc, d.scale[r], c.zo, c.qmin, c.qmax);
            }
        for (int i = 0; i < n_runnable; i++) check_gemm_variant(&d, runnable[i]->gemm);
        gemm_data_free(&d);
    }
}

static void test_gemm_fold_bias(void **state) {
    (void)state;
    const int8_t w[2][3] = {{1, -2, 3}, {127, 127, 127}};
    const int32_t bias[2] = {10, -5};
    int32_t out[2];
    assert_int_equal(qp_u8s8_gemm_fold_bias(2, 3, &w[0][0], 3, bias, 100, out), QP_OK);
    assert_int_equal(out[0], 10 - 100 * 2);
    assert_int_equal(out[1], -5 - 100 * 381);
    assert_int_equal(qp_u8s8_gemm_fold_bias(2, 3, &w[0][0], 3, NULL, 1, out), QP_OK);
    assert_int_equal(out[0], -2);
    /* in place */
    int32_t inplace[2] = {1, 2};
    assert_int_equal(qp_u8s8_gemm_fold_bias(2, 3, &w[0][0], 3, inplace, 0, inplace), QP_OK);
    assert_int_equal(inplace[1], 2);
    /* overflow is an error naming the channel */
    const int32_t big[2] = {0, INT32_MIN + 10};
    assert_int_equal(qp_u8s8_gemm_fold_bias(2, 3, &w[0][0], 3, big, 255, out), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "output channel 1"));
}

/* ---------------------------------------------------------------------------------------- */
/* im2col and whole convolutions (im2col + GEMM per group)                                   */
/* ---------------------------------------------------------------------------------------- */

typedef struct geom {
    int64_t h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
} geom;

/* Added to the ONNX output size: kernels must stay in bounds (reading padding) even when the
 * output is larger than the pads imply. */
static int64_t extra_outputs;

/* ONNX output size (+ extra_outputs); 0 when the window does not fit. */
static int make_window(const geom *g, qp_q8_window *win) {
    const int64_t oh = (g->h + g->pt + g->pb - g->dh * (g->kh - 1) - 1) / g->sh + 1 + extra_outputs;
    const int64_t ow = (g->w + g->pl + g->pr - g->dw * (g->kw - 1) - 1) / g->sw + 1 + extra_outputs;
    if (g->h + g->pt + g->pb - g->dh * (g->kh - 1) - 1 < 0 || g->w + g->pl + g->pr - g->dw * (g->kw - 1) - 1 < 0)
        return 0;
    *win = (qp_q8_window){.in_h = g->h, .in_w = g->w, .out_h = oh, .out_w = ow, .kernel_h = g->kh,
                          .kernel_w = g->kw, .stride_h = g->sh, .stride_w = g->sw,
                          .dilation_h = g->dh, .dilation_w = g->dw, .pad_top = g->pt,
                          .pad_left = g->pl, .pad_bottom = g->pb, .pad_right = g->pr};
    assert_int_equal(qp_q8_window_check(win), QP_OK);
    return 1;
}

/* The tap (c, kh, kw) of output (oh, ow): the input byte, or pad when outside. */
static int tap_value(const qp_q8_window *w, const uint8_t *in, int64_t c, int64_t kh, int64_t kw,
                     int64_t oh, int64_t ow, int pad) {
    const int64_t ih = oh * w->stride_h - w->pad_top + kh * w->dilation_h;
    const int64_t iw = ow * w->stride_w - w->pad_left + kw * w->dilation_w;
    if (ih < 0 || ih >= w->in_h || iw < 0 || iw >= w->in_w) return pad;
    return in[(c * w->in_h + ih) * w->in_w + iw];
}

static const geom conv_geoms[] = {
    /* h   w  kh kw sh sw dh dw pt pl pb pr */
    {5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     {7, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {8, 17, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1},    {9, 9, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2},
    {11, 13, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},   {6, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
    {6, 6, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0},     {10, 12, 4, 4, 1, 1, 1, 1, 1, 2, 2, 1},
    {1, 20, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1},    {12, 1, 3, 1, 3, 1, 1, 1, 1, 0, 1, 0},
    {4, 4, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3},     {15, 15, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3},
    {1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     {9, 40, 3, 5, 1, 3, 1, 2, 1, 4, 1, 4},
};

static void test_im2col_pads_with_zero_point(void **state) {
    (void)state;
    rng_seed(4);
    for (size_t g = 0; g < sizeof conv_geoms / sizeof conv_geoms[0]; g++) {
        qp_q8_window win;
        if (!make_window(&conv_geoms[g], &win)) continue;
        const int64_t channels = 3, n = win.out_h * win.out_w;
        const uint8_t pad = (uint8_t)rng_int(1, 255);
        uint8_t *in = xcalloc((size_t)(channels * win.in_h * win.in_w));
        for (int64_t i = 0; i < channels * win.in_h * win.in_w; i++) in[i] = (uint8_t)rng_u32();
        const size_t bytes = qp_u8_im2col_size(&win, channels);
        assert_int_equal(bytes, (size_t)(channels * win.kernel_h * win.kernel_w * n));
        uint8_t *col = xcalloc(bytes);
        for (int v = 0; v < n_runnable; v++) {
            memset(col, 0, bytes);
            runnable[v]->im2col(&win, channels, in, pad, col);
            for (int64_t c = 0; c < channels; c++)
                for (int64_t kh = 0; kh < win.kernel_h; kh++)
                    for (int64_t kw = 0; kw < win.kernel_w; kw++)
                        for (int64_t oh = 0; oh < win.out_h; oh++)
                            for (int64_t ow = 0; ow < win.out_w; ow++) {
                                const int64_t row = (c * win.kernel_h + kh) * win.kernel_w + kw;
                                const int want = tap_value(&win, in, c, kh, kw, oh, ow, pad);
                                if (col[row * n + oh * win.out_w + ow] != want)
                                    fail_msg("im2col geom %zu [%s] row %lld col %lld: %d != %d", g,
                                             runnable[v]->isa_name, (long long)row,
                                             (long long)(oh * win.out_w + ow),
                                             col[row * n + oh * win.out_w + ow], want);
                            }
        }
        free(col);
        free(in);
    }
}

/* A grouped Conv the way the engine runs it: per group, fold bias, pack, im2col (or the input
 * itself for 1x1/stride 1/no pad), GEMM into the group's output planes. */
static void check_conv(const geom *g, int64_t cin, int64_t cout, int64_t groups) {
    qp_q8_window win;
    if (!make_window(g, &win)) return;
    const int64_t cin_g = cin / groups, cout_g = cout / groups, kk = cin_g * g->kh * g->kw;
    const int64_t plane_in = g->h * g->w, n = win.out_h * win.out_w;
    const int32_t za = (int32_t)rng_int(0, 255), zo = (int32_t)rng_int(0, 255);
    uint8_t *in = xcalloc((size_t)(cin * plane_in));
    for (int64_t i = 0; i < cin * plane_in; i++) in[i] = (uint8_t)rng_u32();
    int8_t *w = xcalloc((size_t)(cout * kk));
    for (int64_t i = 0; i < cout * kk; i++) w[i] = (int8_t)rng_int(-127, 127);
    int32_t *bias = xcalloc((size_t)cout * 4), *folded = xcalloc((size_t)cout * 4);
    float *rq = xcalloc((size_t)cout * sizeof(float));
    for (int64_t o = 0; o < cout; o++) {
        bias[o] = (int32_t)rng_int(-5000, 5000);
        rq[o] = rq_scale(60.0 / (sqrt((double)kk) * 5400.0) * (0.5 + rng_unit()));
    }
    uint8_t *want = xcalloc((size_t)(cout * n));
    for (int64_t o = 0; o < cout; o++) {
        const int64_t grp = o / cout_g;
        for (int64_t oh = 0; oh < win.out_h; oh++)
            for (int64_t ow = 0; ow < win.out_w; ow++) {
                int64_t acc = bias[o];
                for (int64_t c = 0; c < cin_g; c++)
                    for (int64_t kh = 0; kh < g->kh; kh++)
                        for (int64_t kw = 0; kw < g->kw; kw++)
                            acc += (int64_t)w[((o * cin_g + c) * g->kh + kh) * g->kw + kw] *
                                   (tap_value(&win, in, grp * cin_g + c, kh, kw, oh, ow, za) - za);
                want[o * n + oh * win.out_w + ow] =
                    qp_requantize((int32_t)acc, rq[o], zo, 0, 255);
            }
    }
    const int direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 &&
                       g->pl == 0 && g->pb == 0 && g->pr == 0;
    uint8_t *got = xcalloc((size_t)(cout * n));
    uint8_t *col = xcalloc(qp_u8_im2col_size(&win, cin_g));
    for (int v = 0; v < n_runnable; v++) {
        const qp_q8_config *cfg = runnable[v];
        memset(got, 0, (size_t)(cout * n));
        for (int64_t grp = 0; grp < groups; grp++) {
            const int8_t *wg = w + grp * cout_g * kk;
            assert_int_equal(qp_u8s8_gemm_fold_bias(cout_g, kk, wg, kk, bias + grp * cout_g, za,
                                                    folded + grp * cout_g),
                             QP_OK);
            void *packed = xcalloc(cfg->gemm->pack_size(cout_g, kk));
            cfg->gemm->pack(cout_g, kk, wg, kk, folded + grp * cout_g, packed);
            void *scratch = xcalloc(cfg->gemm->scratch_size(kk, n));
            const uint8_t *x = in + grp * cin_g * plane_in;
            if (!direct) {
                cfg->im2col(&win, cin_g, x, (uint8_t)za, col);
                x = col;
            }
            const qp_u8s8_gemm_args a = {
                .m = cout_g, .n = n, .k = kk, .m_begin = 0, .m_end = cout_g, .packed_w = packed,
                .x = x, .x_k_stride = n, .x_n_stride = 1, .out = got + grp * cout_g * n,
                .out_m_stride = n, .out_n_stride = 1, .scale = rq + grp * cout_g,
                .out_zero_point = zo, .qmin = 0, .qmax = 255, .scratch = scratch};
            cfg->gemm->run(&a);
            free(scratch);
            free(packed);
        }
        expect_same_bytes(got, want, (size_t)(cout * n), "conv via im2col + gemm", cfg->isa_name);
    }
    free(col);
    free(got);
    free(want);
    free(rq);
    free(folded);
    free(bias);
    free(w);
    free(in);
}

static void test_conv_im2col_gemm_groups(void **state) {
    (void)state;
    rng_seed(5);
    for (size_t g = 0; g < sizeof conv_geoms / sizeof conv_geoms[0]; g++) {
        check_conv(&conv_geoms[g], 4, 6, 1);
        check_conv(&conv_geoms[g], 4, 6, 2);
    }
    const geom pointwise = {14, 14, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0};
    check_conv(&pointwise, 24, 40, 1);
    const geom stem = {32, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1};
    check_conv(&stem, 3, 16, 1);
}

/* ---------------------------------------------------------------------------------------- */
/* depthwise                                                                                 */
/* ---------------------------------------------------------------------------------------- */

static void check_dwconv(const geom *g, int64_t channels, int extreme) {
    qp_q8_window win;
    if (!make_window(g, &win)) return;
    const int64_t taps = g->kh * g->kw, plane_in = g->h * g->w, plane_out = win.out_h * win.out_w;
    const int32_t za = extreme ? 0 : (int32_t)rng_int(0, 255);
    const int32_t zo = (int32_t)rng_int(0, 255);
    const uint8_t qmin = extreme ? 0 : (uint8_t)rng_int(0, 60), qmax = extreme ? 255 : (uint8_t)rng_int(190, 255);
    uint8_t *in = xcalloc((size_t)(channels * plane_in));
    for (int64_t i = 0; i < channels * plane_in; i++) in[i] = extreme ? 255 : (uint8_t)rng_u32();
    int8_t *w = xcalloc((size_t)(channels * taps));
    for (int64_t i = 0; i < channels * taps; i++)
        w[i] = extreme ? (int8_t)((i % 3) ? 127 : -128) : (int8_t)rng_int(-127, 127);
    int32_t *bias = xcalloc((size_t)channels * 4), *folded = xcalloc((size_t)channels * 4);
    float *rq = xcalloc((size_t)channels * sizeof(float));
    for (int64_t c = 0; c < channels; c++) {
        bias[c] = (int32_t)rng_int(-3000, 3000);
        rq[c] = rq_scale((extreme ? 60.0 / (taps * 255.0 * 128.0) : 60.0 / (sqrt((double)taps) * 5400.0)) *
                         (0.5 + rng_unit()));
    }
    if (!extreme && channels > 2) rq[2] = rq_scale(3.5); /* one channel with a scale above 1 */
    if (extreme && channels > 3) {
        rq[1] = rq_scale(30000.0);        /* a ~2^18 accumulator times 30000: clamps */
        rq[2] = rq_scale(ldexp(1.0, -3)); /* ties */
        rq[3] = rq_scale(ldexp(1.0, -30));
    }
    assert_int_equal(qp_u8s8_gemm_fold_bias(channels, taps, w, taps, bias, za, folded), QP_OK);
    uint8_t *want = xcalloc((size_t)(channels * plane_out));
    for (int64_t c = 0; c < channels; c++)
        for (int64_t oh = 0; oh < win.out_h; oh++)
            for (int64_t ow = 0; ow < win.out_w; ow++) {
                int64_t acc = bias[c];
                for (int64_t kh = 0; kh < g->kh; kh++)
                    for (int64_t kw = 0; kw < g->kw; kw++)
                        acc += (int64_t)w[c * taps + kh * g->kw + kw] *
                               (tap_value(&win, in, c, kh, kw, oh, ow, za) - za);
                want[c * plane_out + oh * win.out_w + ow] =
                    qp_requantize((int32_t)acc, rq[c], zo, qmin, qmax);
            }
    uint8_t *got = xcalloc((size_t)(channels * plane_out));
    void *scratch = xcalloc(qp_u8_dwconv_scratch_size(&win));
    for (int v = 0; v < n_runnable; v++) {
        memset(got, 0xA5, (size_t)(channels * plane_out));
        const qp_u8_dwconv_args a = {.win = win, .channels = channels, .input = in, .weights = w,
                                     .bias = folded, .input_zero_point = za, .scale = rq,
                                     .out_zero_point = zo, .qmin = qmin, .qmax = qmax,
                                     .output = got, .scratch = scratch};
        runnable[v]->dwconv(&a);
        /* rows in three parts, as threads would split one image: the same bytes */
        if (win.out_h >= 3) {
            uint8_t *split = xcalloc((size_t)(channels * plane_out));
            memset(split, 0xA5, (size_t)(channels * plane_out));
            const int64_t cut1 = win.out_h / 3, cut2 = cut1 + (win.out_h - cut1) / 2 + 1;
            const int64_t cuts[4] = {0, cut1, cut2, win.out_h};
            for (int part = 0; part < 3; part++) {
                qp_u8_dwconv_args p = a;
                p.output = split;
                p.row_begin = cuts[part];
                p.row_end = cuts[part + 1];
                if (p.row_begin == 0 && p.row_end == 0) continue;
                runnable[v]->dwconv(&p);
            }
            expect_same_bytes(split, got, (size_t)(channels * plane_out), "dwconv split by rows", runnable[v]->isa_name);
            free(split);
        }
        char what[160];
        snprintf(what, sizeof what, "dwconv %lldx%lld k%lldx%lld s%lld,%lld d%lld,%lld p%lld,%lld,%lld,%lld",
                 (long long)g->h, (long long)g->w, (long long)g->kh, (long long)g->kw,
                 (long long)g->sh, (long long)g->sw, (long long)g->dh, (long long)g->dw,
                 (long long)g->pt, (long long)g->pl, (long long)g->pb, (long long)g->pr);
        expect_same_bytes(got, want, (size_t)(channels * plane_out), what, runnable[v]->isa_name);
    }
    free(scratch);
    free(got);
    free(want);
    free(rq);
    free(folded);
    free(bias);
    free(w);
    free(in);
}

static void test_dwconv_geometries(void **state) {
    (void)state;
    rng_seed(6);
    static const int64_t sizes[][2] = {{1, 1}, {5, 5}, {7, 16}, {8, 17}, {14, 14}, {9, 40},
                                       {3, 70}, {4, 33}, {2, 112}};
    static const int64_t kernels[][8] = {
        /* kh kw sh sw pt pl pb pr */
        {3, 3, 1, 1, 1, 1, 1, 1}, {3, 3, 2, 2, 1, 1, 1, 1}, {3, 3, 2, 2, 0, 0, 1, 1},
        {5, 5, 1, 1, 2, 2, 2, 2}, {5, 5, 2, 2, 2, 2, 2, 2}, {7, 7, 1, 1, 3, 3, 3, 3},
        {1, 1, 1, 1, 0, 0, 0, 0}, {2, 2, 2, 2, 0, 0, 0, 0}, {4, 4, 1, 1, 1, 2, 2, 1},
        {3, 1, 1, 1, 1, 0, 1, 0}, {1, 3, 1, 1, 0, 1, 0, 1}, {3, 3, 3, 3, 1, 1, 1, 1},
        {3, 3, 1, 2, 0, 0, 0, 0}, {6, 6, 1, 1, 0, 0, 0, 0}, {3, 3, 1, 1, 4, 4, 4, 4},
    };
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
            const int64_t *kk = kernels[k];
            const geom g = {sizes[s][0], sizes[s][1], kk[0], kk[1], kk[2], kk[3], 1, 1,
                            kk[4], kk[5], kk[6], kk[7]};
            check_dwconv(&g, 3, 0);
        }
    /* dilation (reference path inside every variant) and a wide plane */
    const geom dil = {11, 30, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2};
    check_dwconv(&dil, 2, 0);
    const geom dil_h = {11, 30, 3, 3, 1, 1, 2, 1, 2, 1, 2, 1};
    check_dwconv(&dil_h, 2, 0);
    const geom wide = {3, 300, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
    check_dwconv(&wide, 1, 0);
    /* extremes: all-255 input, +127/-128 weights */
    const geom ext = {9, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
    check_dwconv(&ext, 4, 1);
    const geom ext2 = {9, 40, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2};
    check_dwconv(&ext2, 4, 1);
}

/* Depthwise with a chosen encoding (za, zo, [qmin, qmax]) and every scale at most 1/2 but channel
 * `clamp_c` (-1: none), whose scale needs the float clamp: the 3x3 column-strip variants pick
 * their epilogue and load per call from these (za = 0 and [0, 255] being the common case after a
 * ReLU). Rows are split into 4 uneven parts as threads would. Returns the outputs compared. */
static int64_t check_dwconv_encoding(const geom *g, int64_t channels, int32_t za, int32_t zo, uint8_t qmin,
                                     uint8_t qmax, int64_t clamp_c) {
    qp_q8_window win;
    if (!make_window(g, &win)) return 0;
    const int64_t taps = g->kh * g->kw, plane_in = g->h * g->w, plane_out = win.out_h * win.out_w;
    const size_t n_out = (size_t)(channels * plane_out);
    uint8_t *in = xcalloc((size_t)(channels * plane_in));
    for (int64_t i = 0; i < channels * plane_in; i++) in[i] = (uint8_t)rng_u32();
    int8_t *w = xcalloc((size_t)(channels * taps));
    for (int64_t i = 0; i < channels * taps; i++) w[i] = (int8_t)rng_int(-128, 127);
    int32_t *bias = xcalloc((size_t)channels * 4), *folded = xcalloc((size_t)channels * 4);
    float *rq = xcalloc((size_t)channels * sizeof(float));
    for (int64_t c = 0; c < channels; c++) {
        bias[c] = (int32_t)rng_int(-3000, 3000);
        rq[c] = rq_scale(60.0 / (sqrt((double)taps) * 5400.0) * (0.5 + rng_unit()));
    }
    if (clamp_c >= 0 && clamp_c < channels) rq[clamp_c] = rq_scale(2.5);
    assert_int_equal(qp_u8s8_gemm_fold_bias(channels, taps, w, taps, bias, za, folded), QP_OK);
    uint8_t *want = xcalloc(n_out);
    for (int64_t c = 0; c < channels; c++)
        for (int64_t oh = 0; oh < win.out_h; oh++)
            for (int64_t ow = 0; ow < win.out_w; ow++) {
                int64_t acc = bias[c];
                for (int64_t kh = 0; kh < g->kh; kh++)
                    for (int64_t kw = 0; kw < g->kw; kw++)
                        acc += (int64_t)w[c * taps + kh * g->kw + kw] * (tap_value(&win, in, c, kh, kw, oh, ow, za) - za);
                want[c * plane_out + oh * win.out_w + ow] = qp_requantize((int32_t)acc, rq[c], zo, qmin, qmax);
            }
    uint8_t *got = xcalloc(n_out);
    void *scratch = xcalloc(qp_u8_dwconv_scratch_size(&win));
    char what[160];
    snprintf(what, sizeof what, "dwconv %lldx%lld s%lld p%lld,%lld,%lld,%lld C=%lld za=%d [%d,%d] clamp channel %lld",
             (long long)g->h, (long long)g->w, (long long)g->sh, (long long)g->pt, (long long)g->pl, (long long)g->pb,
             (long long)g->pr, (long long)channels, za, qmin, qmax, (long long)clamp_c);
    for (int v = 0; v < n_runnable; v++) {
        const qp_u8_dwconv_args a = {.win = win, .channels = channels, .input = in, .weights = w, .bias = folded,
                                     .input_zero_point = za, .scale = rq, .out_zero_point = zo, .qmin = qmin,
                                     .qmax = qmax, .output = got, .scratch = scratch};
        memset(got, 0xA5, n_out);
        runnable[v]->dwconv(&a);
        expect_same_bytes(got, want, n_out, what, runnable[v]->isa_name);
        memset(got, 0xA5, n_out);
        const int64_t cuts[5] = {0, win.out_h / 5, win.out_h / 2, win.out_h - win.out_h / 7, win.out_h};
        for (int part = 0; part < 4; part++) {
            if (cuts[part] == cuts[part + 1]) continue;
            qp_u8_dwconv_args p = a;
            p.row_begin = cuts[part];
            p.row_end = cuts[part + 1];
            runnable[v]->dwconv(&p);
        }
        expect_same_bytes(got, want, n_out, what, runnable[v]->isa_name);
    }
    free(scratch);
    free(got);
    free(want);
    free(rq);
    free(folded);
    free(bias);
    free(w);
    free(in);
    return (int64_t)n_out;
}

/* The 3x3 planes of MobileNetV2 and the edges of the column-strip variants: 32-column blocks and
 * a last one of at most 16 (stride 1), 31-column blocks (stride 2), planes of 9-16 columns (two
 * channels a vector, odd channel counts leaving one alone) and of at most 8 (two channels a
 * vector half), rows not a multiple of a group, pads of 0 and 2, in the common encoding (za = 0,
 * [0, 255]) and others, with and without a channel needing the float clamp. */
static void test_dwconv_3x3_strips(void **state) {
    (void)state;
    rng_seed(65);
    static const int64_t shapes[][4] = {
        /* h w stride channels */
        {112, 112, 1, 3}, {112, 112, 2, 2}, {56, 56, 1, 5}, {56, 56, 2, 5}, {28, 28, 1, 5}, {28, 28, 2, 5},
        {14, 14, 1, 7},   {14, 14, 2, 7},   {7, 7, 1, 9},   {8, 8, 1, 5},   {9, 9, 1, 3},   {16, 16, 1, 4},
        {17, 17, 1, 3},   {33, 33, 1, 2},   {63, 63, 2, 2}, {62, 64, 2, 3}, {5, 300, 1, 2}, {40, 5, 2, 3},
        {3, 18, 1, 3},    {2, 2, 1, 3},
    };
    static const int64_t pads[][4] = {{1, 1, 1, 1}, {0, 0, 1, 1}, {2, 2, 2, 2}};
    int64_t compared = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t p = 0; p < sizeof pads / sizeof pads[0]; p++) {
            const int64_t *sh = shapes[s], *pd = pads[p];
            const geom g = {sh[0], sh[1], 3, 3, sh[2], sh[2], 1, 1, pd[0], pd[1], pd[2], pd[3]};
            const int64_t channels = sh[3];
            compared += check_dwconv_encoding(&g, channels, 0, (int32_t)rng_int(0, 3), 0, 255, -1);
            compared += check_dwconv_encoding(&g, channels, 0, 0, 0, 255, rng_int(0, channels - 1));
            compared += check_dwconv_encoding(&g, channels, (int32_t)rng_int(1, 255), (int32_t)rng_int(0, 255),
                                              (uint8_t)rng_int(0, 40), (uint8_t)rng_int(200, 255), -1);
            compared += check_dwconv_encoding(&g, channels, 0, (int32_t)rng_int(0, 255), (uint8_t)rng_int(1, 40), 255,
                                              channels > 2 ? 2 : -1);
        }
    assert_true(compared > 1000000);
}

/* ---------------------------------------------------------------------------------------- */
/* Add                                                                                       */
/* ---------------------------------------------------------------------------------------- */

/* ONNX Runtime's QLinearAdd / QLinearMul arithmetic written out a second way: IEEE float
 * operations emulated in quad precision (exact products and sums, one rounding to float), the
 * fused multiply-adds included, and vcvtps2dq + saturating packs spelled out. */
typedef __float128 quad;
static float f_div(float x, float y) { return (float)((quad)x / (quad)y); }
static float f_mul(float x, float y) { return (float)((quad)x * (quad)y); }
static float f_add(float x, float y) { return (float)((quad)x + (quad)y); }
static float f_fma(float x, float y, float z) { return (float)((quad)x * (quad)y + (quad)z); }
static int cvt_sat_u8(float v) { /* vcvtps2dq (integer indefinite outside int32), then saturation */
    if (!(v >= -2147483648.0f && v < 2147483648.0f)) return 0;
    const double r = nearbyint((double)v);
    return r < 0 ? 0 : r > 255 ? 255 : (int)r;
}
static uint8_t clamp_code(int64_t v, int lo, int hi) { return (uint8_t)(v < lo ? lo : v > hi ? hi : v); }

typedef struct binary_enc {
    float sa, sb, so;
    int32_t za, zb, zo;
    uint8_t qmin, qmax;
} binary_enc;

/* -1 when the float value left int32 (its output is then 0 or qmin, not a rounding of it). */
static int add_expected(int a, int b, const binary_enc *e, int a_bcast, uint8_t *out) {
    const float ra = f_div(e->sa, e->so), rb = f_div(e->sb, e->so);
    const float fixed = f_add((float)e->zo, -f_fma(ra, (float)e->za, f_mul(rb, (float)e->zb)));
    const float v = a_bcast ? f_fma((float)b, rb, f_fma((float)a, ra, fixed)) : f_fma((float)a, ra, f_fma((float)b, rb, fixed));
    *out = clamp_code(cvt_sat_u8(v), e->qmin, e->qmax);
    return v >= -2147483648.0f && v < 2147483648.0f;
}

static double add_out_scale_factor = 1.0; /* divides s_out: large values leave int32 */

static void check_add(int64_t outer, int64_t mid, int64_t inner, const int64_t as[3],
                      const int64_t bs[3], int64_t a_len, int64_t b_len, const char *what) {
    const float sa = (float)(0.01 + 0.2 * rng_unit()), sb = (float)(0.01 + 0.2 * rng_unit());
    const float so = (float)((0.02 + 0.3 * rng_unit()) / add_out_scale_factor);
    const int32_t za = (int32_t)rng_int(0, 255), zb = (int32_t)rng_int(0, 255), zo = (int32_t)rng_int(0, 255);
    const uint8_t qmin = (uint8_t)rng_int(0, 20), qmax = (uint8_t)rng_int(235, 255);
    const binary_enc enc = {sa, sb, so, za, zb, zo, qmin, qmax};
    const int a_bcast = as[2] == 0 && bs[2] != 0;
    qp_u8_add_params p;
    assert_int_equal(qp_u8_add_params_init(sa, za, sb, zb, so, zo, qmin, qmax, &p), QP_OK);
    uint8_t *a = xcalloc((size_t)a_len), *b = xcalloc((size_t)b_len);
    for (int64_t i = 0; i < a_len; i++) a[i] = (uint8_t)rng_u32();
    for (int64_t i = 0; i < b_len; i++) b[i] = (uint8_t)rng_u32();
    a[0] = 255;
    b[0] = 0;
    const int64_t n = outer * mid * inner;
    uint8_t *want = xcalloc((size_t)n), *got = xcalloc((size_t)n);
    int64_t idx = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t m = 0; m < mid; m++)
            for (int64_t i = 0; i < inner; i++, idx++) {
                const int av = a[o * as[0] + m * as[1] + i * as[2]];
                const int bv = b[o * bs[0] + m * bs[1] + i * bs[2]];
                const int in_range = add_expected(av, bv, &enc, a_bcast, &want[idx]);
                /* float arithmetic: within half a step (plus float error) of real arithmetic */
                double real = ((double)sa * (av - za) + (double)sb * (bv - zb)) / so + zo;
                real = real < qmin ? qmin : real > qmax ? qmax : real;
                if (in_range && fabs(real - want[idx]) > 0.5 + 1e-3)
                    fail_msg("%s: add %d + %d = %u, real %.9f", what, av, bv, want[idx], real);
            }
    for (int v = 0; v < n_runnable; v++) {
        memset(got, 0xA5, (size_t)n);
        const qp_u8_add_args args = {.outer = outer, .mid = mid, .inner = inner, .a = a,
                                     .a_stride = {as[0], as[1], as[2]}, .b = b,
                                     .b_stride = {bs[0], bs[1], bs[2]}, .out = got, .params = &p};
        runnable[v]->add(&args);
        expect_same_bytes(got, want, (size_t)n, what, runnable[v]->isa_name);
    }
    free(got);
    free(want);
    free(a);
    free(b);
}

static void test_add_broadcasts(void **state) {
    (void)state;
    rng_seed(7);
    static const int64_t lens[] = {1, 15, 16, 17, 100, 1000};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        const int64_t n = lens[i];
        const int64_t full[3] = {0, 0, 1}, scalar[3] = {0, 0, 0};
        check_add(1, 1, n, full, full, n, n, "add same shape");
        check_add(1, 1, n, full, scalar, n, 1, "add scalar b");
        check_add(1, 1, n, scalar, full, 1, n, "add scalar a");
    }
    /* per-channel NCHW: N=2, C=5, HW=37; b has C values */
    const int64_t nchw[3] = {5 * 37, 37, 1}, per_c[3] = {0, 1, 0};
    check_add(2, 5, 37, nchw, per_c, 2 * 5 * 37, 5, "add per-channel b");
    check_add(2, 5, 37, per_c, nchw, 5, 2 * 5 * 37, "add per-channel a");
    /* a read transposed (inner stride != 1): the general path */
    const int64_t transposed[3] = {0, 1, 7}, plain[3] = {0, 33, 1};
    check_add(1, 7, 33, transposed, plain, 7 * 33, 7 * 33, "add strided a");
    /* [N][C][1] + [N][C][HW]-style: a broadcast along the inner level of every row */
    const int64_t row_bcast[3] = {0, 1, 0}, rows[3] = {0, 50, 1};
    check_add(1, 9, 50, row_bcast, rows, 9, 9 * 50, "add row broadcast a");
    /* scale ratios so large that sums leave int32 (vcvtps2dq's integer indefinite), and tiny ones */
    const int64_t full[3] = {0, 0, 1};
    add_out_scale_factor = ldexp(1.0, 28);
    check_add(1, 1, 100, full, full, 100, 100, "add huge ratio");
    add_out_scale_factor = ldexp(1.0, -12);
    check_add(1, 1, 100, full, full, 100, 100, "add tiny ratio");
    add_out_scale_factor = 1.0;
}

/* Exact ties (s_a / s_out = 1/2, s_b / s_out = 1/4): rounded half to even (vcvtps2dq). */
static void test_add_ties_round_half_even(void **state) {
    (void)state;
    qp_u8_add_params p;
    assert_int_equal(qp_u8_add_params_init(0.5, 100, 0.25, 100, 1.0, 100, 0, 255, &p), QP_OK);
    uint8_t a[32], b[32], want[32], got[32];
    for (int i = 0; i < 32; i++) {
        a[i] = (uint8_t)(100 + (i % 8) - 4); /* a - za in -4..3 */
        b[i] = (uint8_t)(100 + (i / 8) - 2); /* b - zb in -2..1 */
        const double real = 0.5 * (a[i] - 100) + 0.25 * (b[i] - 100);
        want[i] = (uint8_t)(100 + nearbyint(real)); /* -1.5 -> -2, -0.5 -> 0, 0.5 -> 0, 1.5 -> 2 */
    }
    const qp_u8_add_args args = {.outer = 1, .mid = 1, .inner = 32, .a = a, .a_stride = {0, 0, 1},
                                 .b = b, .b_stride = {0, 0, 1}, .out = got, .params = &p};
    for (int v = 0; v < n_runnable; v++) {
        memset(got, 0, sizeof got);
        runnable[v]->add(&args);
        expect_same_bytes(got, want, 32, "add ties", runnable[v]->isa_name);
    }
}

static void test_add_params_errors(void **state) {
    (void)state;
    qp_u8_add_params p;
    assert_int_equal(qp_u8_add_params_init(0.0, 0, 1.0, 0, 1.0, 0, 0, 255, &p), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "int8 Add: scales"));
    assert_int_equal(qp_u8_add_params_init(1e30, 0, 1.0, 0, 1e-30, 0, 0, 255, &p), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "int8 Add: requantization ratio"));
    assert_int_equal(qp_u8_add_params_init(1.0, 0, NAN, 0, 1.0, 0, 0, 255, &p), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_u8_add_params_init(1.0, 300, 1.0, 0, 1.0, 0, 0, 255, &p), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "zero point 300 of a"));
    assert_int_equal(qp_u8_add_params_init(1.0, 0, 1.0, 0, 1.0, 0, 200, 100, &p), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "clamp"));
    /* equal scales: a + b - z exactly */
    assert_int_equal(qp_u8_add_params_init(0.1, 10, 0.1, 20, 0.1, 30, 0, 255, &p), QP_OK);
    const uint8_t a = 50, b = 60;
    uint8_t out = 0;
    const qp_u8_add_args args = {.outer = 1, .mid = 1, .inner = 1, .a = &a, .a_stride = {0, 0, 1},
                                 .b = &b, .b_stride = {0, 0, 1}, .out = &out, .params = &p};
    for (int v = 0; v < n_runnable; v++) {
        runnable[v]->add(&args);
        assert_int_equal(out, 50 - 10 + 60 - 20 + 30);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Mul                                                                                       */
/* ---------------------------------------------------------------------------------------- */

static void check_mul(int64_t outer, int64_t mid, int64_t inner, const int64_t as[3],
                      const int64_t bs[3], int64_t a_len, int64_t b_len, double range, const char *what) {
    /* range scales s_a s_b / s_out: ~1 maps products onto the output range; 40 makes most
     * outputs clamp; 1/1000 squeezes everything near zo */
    const float sa = (float)(0.01 + 0.2 * rng_unit()), sb = (float)(0.01 + 0.2 * rng_unit());
    const float so = (float)((double)sa * sb * 128.0 * 128.0 / 127.0 / range * (0.5 + rng_unit()));
    const int32_t za = (int32_t)rng_int(0, 255), zb = (int32_t)rng_int(0, 255), zo = (int32_t)rng_int(0, 255);
    const uint8_t qmin = (uint8_t)rng_int(0, 20), qmax = (uint8_t)rng_int(235, 255);
    const float ratio = f_div(f_mul(sa, sb), so);
    qp_u8_mul_params p;
    assert_int_equal(qp_u8_mul_params_init(sa, za, sb, zb, so, zo, qmin, qmax, &p), QP_OK);
    uint8_t *a = xcalloc((size_t)a_len), *b = xcalloc((size_t)b_len);
    for (int64_t i = 0; i < a_len; i++) a[i] = (uint8_t)rng_u32();
    for (int64_t i = 0; i < b_len; i++) b[i] = (uint8_t)rng_u32();
    a[0] = 255;
    b[0] = 0;
    const int64_t n = outer * mid * inner;
    uint8_t *want = xcalloc((size_t)n), *got = xcalloc((size_t)n);
    int64_t idx = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t m = 0; m < mid; m++)
            for (int64_t i = 0; i < inner; i++, idx++) {
                const int av = a[o * as[0] + m * as[1] + i * as[2]];
                const int bv = b[o * bs[0] + m * bs[1] + i * bs[2]];
                const int64_t product = (int64_t)(av - za) * (bv - zb);
                const float v = f_add(f_mul((float)product, ratio), (float)zo); /* no FMA in MLAS's Mul */
                want[idx] = clamp_code(cvt_sat_u8(v), qmin, qmax);
                /* and within half a step (plus float error) of real arithmetic */
                double real = ((double)sa * (av - za)) * ((double)sb * (bv - zb)) / so + zo;
                real = real < qmin ? qmin : real > qmax ? qmax : real;
                if (fabs(v) < 2147483648.0f && fabs(real - want[idx]) > 0.5 + 1e-3)
                    fail_msg("%s: mul %d * %d = %u, real %.6f", what, av, bv, want[idx], real);
            }
    for (int v = 0; v < n_runnable; v++) {
        memset(got, 0xA5, (size_t)n);
        const qp_u8_mul_args args = {.outer = outer, .mid = mid, .inner = inner, .a = a,
                                     .a_stride = {as[0], as[1], as[2]}, .b = b,
                                     .b_stride = {bs[0], bs[1], bs[2]}, .out = got, .params = &p};
        runnable[v]->mul(&args);
        expect_same_bytes(got, want, (size_t)n, what, runnable[v]->isa_name);
    }
    free(got);
    free(want);
    free(a);
    free(b);
}

static void test_mul_broadcasts(void **state) {
    (void)state;
    rng_seed(11);
    static const int64_t lens[] = {1, 15, 16, 17, 100, 1000};
    static const double ranges[] = {1.0, 40.0, 1.0 / 1000.0, 1e7 /* most products clamp */};
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            const int64_t n = lens[i];
            const int64_t full[3] = {0, 0, 1}, scalar[3] = {0, 0, 0};
            check_mul(1, 1, n, full, full, n, n, ranges[r], "mul same shape");
            check_mul(1, 1, n, full, scalar, n, 1, ranges[r], "mul scalar b");
            check_mul(1, 1, n, scalar, full, 1, n, ranges[r], "mul scalar a");
        }
    /* SE block: [N, C, H, W] * [N, C, 1, 1] */
    const int64_t nchw[3] = {5 * 37, 37, 1}, per_c[3] = {0, 1, 0}, per_nc[3] = {5, 1, 0};
    check_mul(2, 5, 37, nchw, per_c, 2 * 5 * 37, 5, 1.0, "mul per-channel b");
    check_mul(2, 5, 37, nchw, per_nc, 2 * 5 * 37, 2 * 5, 1.0, "mul per-image-channel b");
    check_mul(2, 5, 37, per_c, nchw, 5, 2 * 5 * 37, 1.0, "mul per-channel a");
    const int64_t transposed[3] = {0, 1, 7}, plain[3] = {0, 33, 1};
    check_mul(1, 7, 33, transposed, plain, 7 * 33, 7 * 33, 1.0, "mul strided a");
}

static void test_mul_params_errors(void **state) {
    (void)state;
    qp_u8_mul_params p;
    assert_int_equal(qp_u8_mul_params_init(0.0, 0, 1.0, 0, 1.0, 0, 0, 255, &p), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "int8 Mul: scales"));
    assert_int_equal(qp_u8_mul_params_init(1.0, 0, 1.0, -1, 1.0, 0, 0, 255, &p), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "zero point -1 of b"));
    assert_int_equal(qp_u8_mul_params_init(1.0, 0, 1.0, 0, 1.0, 0, 9, 8, &p), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_u8_mul_params_init(1e30, 0, 1e30, 0, 1e-30, 0, 0, 255, &p), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "int8 Mul: requantization"));
    /* s_a s_b = s_out: the product of the centred codes, plus zo */
    assert_int_equal(qp_u8_mul_params_init(0.5, 10, 0.25, 20, 0.125, 30, 0, 255, &p), QP_OK);
    const uint8_t a = 15, b = 24;
    uint8_t out = 0;
    const qp_u8_mul_args args = {.outer = 1, .mid = 1, .inner = 1, .a = &a, .a_stride = {0, 0, 1},
                                 .b = &b, .b_stride = {0, 0, 1}, .out = &out, .params = &p};
    for (int v = 0; v < n_runnable; v++) {
        runnable[v]->mul(&args);
        assert_int_equal(out, 5 * 4 + 30);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* pooling and LUT                                                                           */
/* ---------------------------------------------------------------------------------------- */

static void check_pools(const geom *g, int64_t channels) {
    qp_q8_window win;
    if (!make_window(g, &win)) return;
    const int64_t plane_in = g->h * g->w, plane_out = win.out_h * win.out_w, taps = g->kh * g->kw;
    uint8_t *in = xcalloc((size_t)(channels * plane_in));
    for (int64_t i = 0; i < channels * plane_in; i++) in[i] = (uint8_t)rng_u32();
    uint8_t *want = xcalloc((size_t)(channels * plane_out)), *got = xcalloc((size_t)(channels * plane_out));
    const uint8_t qmin = (uint8_t)rng_int(0, 40), qmax = (uint8_t)rng_int(200, 255);

    /* MaxPool */
    for (int64_t c = 0; c < channels; c++)
        for (int64_t oh = 0; oh < win.out_h; oh++)
            for (int64_t ow = 0; ow < win.out_w; ow++) {
                int best = -1;
                for (int64_t kh = 0; kh < g->kh; kh++)
                    for (int64_t kw = 0; kw < g->kw; kw++) {
                        const int v = tap_value(&win, in, c, kh, kw, oh, ow, -1);
                        if (v > best) best = v;
                    }
                if (best < qmin) best = qmin;
                if (best > qmax) best = qmax;
                want[c * plane_out + oh * win.out_w + ow] = (uint8_t)best;
            }
    for (int v = 0; v < n_runnable; v++) {
        const qp_u8_pool_args a = {.win = win, .channels = channels, .input = in, .output = got,
                                   .qmin = qmin, .qmax = qmax};
        memset(got, 0xA5, (size_t)(channels * plane_out));
        runnable[v]->maxpool(&a);
        expect_same_bytes(got, want, (size_t)(channels * plane_out), "maxpool", runnable[v]->isa_name);
        if (win.out_h >= 2) { /* split by rows */
            memset(got, 0xA5, (size_t)(channels * plane_out));
            qp_u8_pool_args p = a;
            p.row_begin = 0;
            p.row_end = win.out_h / 2;
            runnable[v]->maxpool(&p);
            p.row_begin = p.row_end;
            p.row_end = win.out_h;
            runnable[v]->maxpool(&p);
            expect_same_bytes(got, want, (size_t)(channels * plane_out), "maxpool split by rows", runnable[v]->isa_name);
        }
    }

    /* AveragePool, both count modes */
    const float si = 0.02f + 0.1f * (float)rng_unit(), so = 0.02f + 0.1f * (float)rng_unit();
    const int32_t za = (int32_t)rng_int(0, 255), zo = (int32_t)rng_int(0, 255);
    float *table = xcalloc((size_t)(taps + 1) * sizeof(float));
    assert_int_equal(qp_u8_avgpool_scale_table(si, so, taps, table), QP_OK);
    for (int include = 0; include < 2; include++) {
        for (int64_t c = 0; c < channels; c++)
            for (int64_t oh = 0; oh < win.out_h; oh++)
                for (int64_t ow = 0; ow < win.out_w; ow++) {
                    int64_t sum = 0, valid = 0, padded = 0;
                    for (int64_t kh = 0; kh < g->kh; kh++)
                        for (int64_t kw = 0; kw < g->kw; kw++) {
                            const int64_t ih = oh * g->sh - g->pt + kh * g->dh;
                            const int64_t iw = ow * g->sw - g->pl + kw * g->dw;
                            const int v = tap_value(&win, in, c, kh, kw, oh, ow, -1);
                            if (v >= 0) {
                                sum += v - za;
                                valid++;
                            }
                            padded += ih >= -g->pt && ih < g->h + g->pb && iw >= -g->pl && iw < g->w + g->pr;
                        }
                    const int64_t count = include ? padded : valid;
                    const uint8_t out = qp_requantize((int32_t)sum, count ? table[count] : 0.0f, zo, qmin, qmax);
                    want[c * plane_out + oh * win.out_w + ow] = out;
                    if (count) {
                        double real = round(si * (double)sum / ((double)count * so)) + zo;
                        real = real < qmin ? qmin : real > qmax ? qmax : real;
                        if (fabs(real - out) > 1.0) fail_msg("avgpool: more than one step from float");
                    }
                }
        for (int v = 0; v < n_runnable; v++) {
            const qp_u8_pool_args a = {.win = win, .channels = channels, .input = in, .output = got,
                                       .qmin = qmin, .qmax = qmax, .count_include_pad = include,
                                       .count_scale = table, .input_zero_point = za,
                                       .out_zero_point = zo};
            memset(got, 0xA5, (size_t)(channels * plane_out));
            runnable[v]->avgpool(&a);
            expect_same_bytes(got, want, (size_t)(channels * plane_out),
                              include ? "avgpool count_include_pad" : "avgpool", runnable[v]->isa_name);
            if (win.out_h >= 2) {
                memset(got, 0xA5, (size_t)(channels * plane_out));
                qp_u8_pool_args p = a;
                p.row_begin = 0;
                p.row_end = 1;
                runnable[v]->avgpool(&p);
                p.row_begin = 1;
                p.row_end = win.out_h;
                runnable[v]->avgpool(&p);
                expect_same_bytes(got, want, (size_t)(channels * plane_out), "avgpool split by rows",
                                  runnable[v]->isa_name);
            }
        }
    }
    free(table);
    free(got);
    free(want);
    free(in);
}

static void test_pools(void **state) {
    (void)state;
    rng_seed(8);
    static const geom geoms[] = {
        {8, 8, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0},   {7, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
        {7, 7, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1},   /* ceil_mode-like: last window overhangs the pad */
        {5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   {7, 7, 7, 7, 1, 1, 1, 1, 0, 0, 0, 0},
        {12, 10, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2}, {3, 3, 2, 2, 2, 2, 1, 1, 2, 2, 2, 2},
        {1, 17, 1, 4, 1, 3, 1, 1, 0, 1, 0, 2},
        /* wide rows: several 64-output blocks, masks at both ends, each stride class */
        {3, 130, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, {5, 200, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1},
        {4, 90, 2, 5, 1, 5, 1, 1, 0, 2, 0, 2},  {2, 300, 1, 3, 1, 9, 1, 1, 0, 0, 0, 0},
        {6, 140, 3, 3, 2, 3, 1, 2, 1, 2, 1, 2},
    };
    for (size_t g = 0; g < sizeof geoms / sizeof geoms[0]; g++) check_pools(&geoms[g], 3);
}

static void test_global_avgpool(void **state) {
    (void)state;
    rng_seed(9);
    static const int64_t planes[] = {1, 49, 3136};
    for (size_t p = 0; p < 3; p++) {
        const int64_t channels = 5, plane = planes[p];
        uint8_t *in = xcalloc((size_t)(channels * plane));
        for (int64_t i = 0; i < channels * plane; i++) in[i] = (uint8_t)rng_u32();
        if (p == 2) memset(in, 255, (size_t)plane); /* channel 0 at the top of the range */
        const double si = 0.05, so = 0.03;
        float scale;
        assert_int_equal(qp_requant_mean_scale((float)si, (float)so, plane, &scale), QP_OK);
        qp_u8_global_avgpool_args a = {.channels = channels, .plane = plane, .input = in,
                                       .scale = scale,
                                       .input_zero_point = 100, .out_zero_point = 20,
                                       .qmin = 0, .qmax = 255};
        uint8_t want[5], got[5];
        for (int64_t c = 0; c < channels; c++) {
            int64_t sum = 0;
            for (int64_t i = 0; i < plane; i++) sum += in[c * plane + i] - 100;
            want[c] = qp_requantize((int32_t)sum, a.scale, 20, 0, 255);
            double real = round(si * (double)sum / ((double)plane * so)) + 20;
            real = real < 0 ? 0 : real > 255 ? 255 : real;
            assert_true(fabs(real - want[c]) <= 1.0);
        }
        for (int v = 0; v < n_runnable; v++) {
            a.output = got;
            runnable[v]->global_avgpool(&a);
            expect_same_bytes(got, want, 5, "global avgpool", runnable[v]->isa_name);
        }
        free(in);
    }
}

static void test_lut(void **state) {
    (void)state;
    uint8_t table[256], in[300], out[300];
    /* identical encodings: the identity */
    assert_int_equal(qp_u8_lut_requant_table(0.1, 7, 0.1, 7, 0, 255, table), QP_OK);
    for (int q = 0; q < 256; q++) assert_int_equal(table[q], q);
    /* half the scale, shifted zero point, with a clamp */
    assert_int_equal(qp_u8_lut_requant_table(0.1, 10, 0.2, 100, 5, 250, table), QP_OK);
    assert_int_equal(table[10], 100);
    assert_int_equal(table[11], 101); /* 0.5 -> 1 (ties away from zero) */
    assert_int_equal(table[9], 99);   /* -0.5 -> -1 */
    assert_int_equal(table[255], 223); /* 245 / 2 = 122.5 -> 123 */
    assert_int_equal(qp_u8_lut_requant_table(1.0, 0, 0.01, 0, 5, 250, table), QP_OK);
    assert_int_equal(table[0], 5);
    assert_int_equal(table[200], 250);
    for (int i = 0; i < 300; i++) in[i] = (uint8_t)(i * 37);
    for (int v = 0; v < n_runnable; v++) {
        memset(out, 0, sizeof out);
        runnable[v]->lut(300, table, in, out);
        for (int i = 0; i < 300; i++) assert_int_equal(out[i], table[in[i]]);
    }
    assert_int_equal(qp_u8_lut_requant_table(-1.0, 0, 1.0, 0, 0, 255, table), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_u8_lut_requant_table(1.0, 256, 1.0, 0, 0, 255, table), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_u8_lut_requant_table(1.0, 0, 1.0, 0, 9, 8, table), QP_ERR_INVALID_ARG);
    float t[2];
    assert_int_equal(qp_u8_avgpool_scale_table(1.0f, 1.0f, 0, t), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_u8_avgpool_scale_table(1.0f, 0.0f, 1, t), QP_ERR_INVALID_ARG);
}

/* float -> u8 and back: every variant equals the reference, and the reference equals
 * nearbyintf(x / scale) + zp clamped (half to even), on ties, huge values, infinities and NaN. */
static void test_float_conversions(void **state) {
    (void)state;
    rng_seed(13);
    enum { N = 203 };
    float src[N], back[N], want_back[N];
    uint8_t got[N], want[N];
    const qp_u8_convert_params p = {.scale = 0.0371f, .zero_point = 117, .qmin = 3, .qmax = 250};
    for (int i = 0; i < N; i++) {
        switch (i % 7) {
        case 0: src[i] = ((float)rng_int(-140, 140) + 0.5f) * p.scale; break; /* near ties */
        case 1: src[i] = (float)(rng_unit() * 20.0 - 10.0); break;
        case 2: src[i] = (float)ldexp(rng_unit(), (int)rng_int(-140, 127)) * (rng_u32() & 1 ? 1.0f : -1.0f); break;
        case 3: src[i] = i % 2 ? INFINITY : -INFINITY; break;
        case 4: src[i] = i % 3 ? NAN : -0.0f; break;
        case 5: src[i] = (float)rng_int(-5, 5) * p.scale; break;
        default: src[i] = (float)(rng_unit() * 1e-3); break;
        }
    }
    for (int i = 0; i < N; i++) {
        float q = nearbyintf(src[i] / p.scale) + (float)p.zero_point;
        want[i] = isnan(q) || q < p.qmin ? p.qmin : q > p.qmax ? p.qmax : (uint8_t)q;
    }
    qp_f32_quantize_u8__ref(N, src, &p, got);
    expect_same_bytes(got, want, N, "quantize reference vs nearbyintf", "scalar");
    for (int i = 0; i < N; i++) want_back[i] = ((float)want[i] - (float)p.zero_point) * p.scale;
    for (int v = 0; v < n_runnable; v++)
        for (int n = N; n >= 1; n -= 37) { /* tails of every length class */
            memset(got, 0xA5, sizeof got);
            runnable[v]->quantize(n, src, &p, got);
            expect_same_bytes(got, want, (size_t)n, "quantize", runnable[v]->isa_name);
            assert_int_equal(got[n < N ? n : N - 1], n < N ? 0xA5 : want[N - 1]); /* nothing past n */
            for (int i = 0; i < N; i++) back[i] = -1.0f;
            runnable[v]->dequantize(n, want, &p, back);
            assert_memory_equal(back, want_back, (size_t)n * sizeof(float));
            if (n < N) assert_true(back[n] == -1.0f);
        }
}

/* Outputs beyond what the pads imply read padding everywhere, never outside the buffers (the
 * sanitizer build checks the "never"). */
static void test_outputs_beyond_padding(void **state) {
    (void)state;
    rng_seed(10);
    extra_outputs = 3;
    const geom g1 = {6, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, g2 = {7, 21, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0};
    check_dwconv(&g1, 2, 0);
    check_dwconv(&g2, 2, 0);
    check_pools(&g1, 2);
    check_pools(&g2, 2);
    check_conv(&g1, 2, 3, 1);
    check_conv(&g2, 2, 3, 1);
    extra_outputs = 0;
}

/* ---------------------------------------------------------------------------------------- */
/* windows and dispatch                                                                      */
/* ---------------------------------------------------------------------------------------- */

static void test_window_check(void **state) {
    (void)state;
    qp_q8_window w = {.in_h = 4, .in_w = 4, .out_h = 2, .out_w = 2, .kernel_h = 3, .kernel_w = 3,
                      .stride_h = 1, .stride_w = 1, .dilation_h = 1, .dilation_w = 1};
    assert_int_equal(qp_q8_window_check(&w), QP_OK);
    w.stride_w = 0;
    assert_int_equal(qp_q8_window_check(&w), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "stride_w = 0"));
    w.stride_w = 1;
    w.pad_bottom = -1;
    assert_int_equal(qp_q8_window_check(&w), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "pad_bottom"));
}

static void test_dispatch(void **state) {
    (void)state;
    qp_q8_isa isa;
    assert_int_equal(qp_q8_parse_isa("scalar", &isa), 0);
    assert_int_equal(isa, QP_Q8_ISA_SCALAR);
    assert_int_equal(qp_q8_parse_isa("ref", &isa), 0);
    assert_int_equal(isa, QP_Q8_ISA_SCALAR);
    assert_int_equal(qp_q8_parse_isa("avx2", &isa), 0);
    assert_int_equal(isa, QP_Q8_ISA_AVX2);
    assert_int_equal(qp_q8_parse_isa("avx512vnni", &isa), 0);
    assert_int_equal(isa, QP_Q8_ISA_AVX512VNNI);
    assert_int_equal(qp_q8_parse_isa("sse9", &isa), -1);
    assert_int_equal(qp_q8_parse_isa(NULL, &isa), -1);
    /* the request lowers, never raises */
    assert_int_equal(qp_q8_isa_for_request("scalar", QP_Q8_ISA_AVX512VNNI), QP_Q8_ISA_SCALAR);
    assert_int_equal(qp_q8_isa_for_request("avx2", QP_Q8_ISA_AVX512VNNI), QP_Q8_ISA_AVX2);
    assert_int_equal(qp_q8_isa_for_request("avx512vnni", QP_Q8_ISA_AVX2), QP_Q8_ISA_AVX2);
    assert_int_equal(qp_q8_isa_for_request("avx2", QP_Q8_ISA_SCALAR), QP_Q8_ISA_SCALAR);
    assert_int_equal(qp_q8_isa_for_request("bogus", QP_Q8_ISA_AVX2), QP_Q8_ISA_AVX2);
    assert_int_equal(qp_q8_isa_for_request("", QP_Q8_ISA_AVX2), QP_Q8_ISA_AVX2);
    assert_int_equal(qp_q8_isa_for_request(NULL, QP_Q8_ISA_AVX2), QP_Q8_ISA_AVX2);
    /* tables: scalar first and always present; nothing above the CPU */
    const qp_q8_isa cpu = qp_q8_cpu_isa();
    assert_int_equal(n_runnable, (int)cpu + 1);
    assert_int_equal(runnable[0]->isa, QP_Q8_ISA_SCALAR);
    assert_ptr_equal(runnable[0]->gemm, &qp_u8s8_gemm__ref);
    assert_ptr_equal(qp_q8_config_for_isa(QP_Q8_ISA_SCALAR), runnable[0]);
    if (cpu < QP_Q8_ISA_AVX512VNNI) assert_null(qp_q8_config_for_isa(QP_Q8_ISA_AVX512VNNI));
    for (int i = 0; i < n_runnable; i++) {
        const qp_q8_config *c = runnable[i];
        assert_int_equal(c->isa, i);
        assert_non_null(c->gemm);
        assert_non_null(c->im2col);
        assert_non_null(c->dwconv);
        assert_non_null(c->add);
        assert_non_null(c->mul);
        assert_non_null(c->maxpool);
        assert_non_null(c->avgpool);
        assert_non_null(c->global_avgpool);
        assert_non_null(c->lut);
        assert_non_null(c->quantize);
        assert_non_null(c->dequantize);
        /* the direct small-C_in conv needs VNNI (and VBMI); elsewhere the Conv uses im2col + GEMM */
        if (c->isa < QP_Q8_ISA_AVX512VNNI) assert_null(c->conv_smallc);
    }
    /* the process-wide choice honours QPIPE_ISA as read at first use */
    const char *request = getenv("QPIPE_ISA");
    const qp_q8_config *chosen = qp_q8_get_config();
    assert_int_equal(chosen->isa, qp_q8_isa_for_request(request, cpu));
    assert_ptr_equal(qp_q8_get_config(), chosen);
    assert_string_equal(qp_q8_active_isa(), chosen->isa_name);
    print_message("dispatch: cpu level %d, chosen %s (%s)\n", (int)cpu, chosen->isa_name, chosen->gemm->name);
}

/* ---------------------------------------------------------------------------------------- */
/* speed paths (q8speed): implicit im2col, im2col row blocks, small-plane depthwise            */
/* ---------------------------------------------------------------------------------------- */

/* The GEMM reading a "same" stride-1 conv's input planes itself (args.implicit) gives the bytes
 * of im2col + the reference GEMM, for odd kernels, pads, planes narrower and wider than a
 * 32-column block, a few channels, and column splits (n0 > 0). */
static void test_gemm_implicit_im2col(void **state) {
    (void)state;
    rng_seed(61);
    int checked = 0;
    for (int trial = 0; trial < 60; trial++) {
        const int64_t kh = rng_int(1, 5), kw = rng_int(1, 5), h = rng_int(1, 21), w = rng_int(1, 40);
        const int64_t pl = rng_int(0, kw - 1), pt = rng_int(0, kh + 1), cin = rng_int(1, 6), m = rng_int(1, 40);
        /* out_w == w needs pl + pr = kw - 1; rows may be padded any way */
        const geom g = {h, w, kh, kw, 1, 1, 1, 1, pt, pl, rng_int(0, 2), kw - 1 - pl};
        qp_q8_window win;
        const int64_t saved = extra_outputs;
        extra_outputs = 0;
        const int ok = make_window(&g, &win);
        extra_outputs = saved;
        if (!ok || win.out_w != w) continue;
        const int64_t k = cin * kh * kw, n = win.out_h * win.out_w;
        const int32_t za = (int32_t)rng_int(0, 255), zo = (int32_t)rng_int(0, 255);
        uint8_t *in = xcalloc((size_t)(cin * h * w));
        for (int64_t i = 0; i < cin * h * w; i++) in[i] = (uint8_t)rng_u32();
        int8_t *wt = xcalloc((size_t)(m * k));
        for (int64_t i = 0; i < m * k; i++) wt[i] = (int8_t)rng_int(-128, 127);
        int32_t *bias = xcalloc((size_t)m * 4);
        float *rq = xcalloc((size_t)m * sizeof(float));
        for (int64_t o = 0; o < m; o++) {
            bias[o] = (int32_t)rng_int(-5000, 5000);
            rq[o] = rq_scale(60.0 / (sqrt((double)k) * 5400.0) * (0.5 + rng_unit()));
        }
        assert_int_equal(qp_u8s8_gemm_fold_bias(m, k, wt, k, bias, za, bias), QP_OK);
        uint8_t *col = xcalloc(qp_u8_im2col_size(&win, cin));
        qp_u8_im2col__ref(&win, cin, in, (uint8_t)za, col);
        uint8_t *want = xcalloc((size_t)(m * n)), *got = xcalloc((size_t)(m * n));
        void *packed = xcalloc(qp_u8s8_gemm__ref.pack_size(m, k));
        qp_u8s8_gemm__ref.pack(m, k, wt, k, bias, packed);
        void *scratch = xcalloc(qp_u8s8_gemm__ref.scratch_size(k, n));
        const qp_u8s8_gemm_args ra = {.m = m, .n = n, .k = k, .m_begin = 0, .m_end = m, .packed_w = packed,
                                      .x = col, .x_k_stride = n, .x_n_stride = 1, .out = want, .out_m_stride = n,
                                      .out_n_stride = 1, .scale = rq, .out_zero_point = zo, .qmin = 0, .qmax = 255,
                                      .scratch = scratch};
        qp_u8s8_gemm__ref.run(&ra);
        free(scratch);
        free(packed);
        for (int v = 0; v < n_runnable; v++) {
            const qp_u8s8_gemm_variant *gv = runnable[v]->gemm;
            if (!gv->implicit) continue;
            void *pk = xcalloc(gv->pack_size(m, k));
            gv->pack(m, k, wt, k, bias, pk);
            void *sc = xcalloc(gv->scratch_size(k, n));
            memset(got, 0xA5, (size_t)(m * n));
            const int64_t cut = n > 40 ? rng_int(1, n - 1) : n; /* a column split, as threads do */
            for (int64_t n0 = 0; n0 < n; n0 = n0 < cut ? cut : n) {
                const int64_t n1 = n0 < cut ? cut : n;
                const qp_u8s8_gemm_implicit im = {.input = in, .h = h, .w = w, .kernel_h = kh, .kernel_w = kw,
                                                  .pad_top = pt, .pad_left = pl, .n0 = n0, .zero_point = (uint8_t)za};
                const qp_u8s8_gemm_args a = {.m = m, .n = n1 - n0, .k = k, .m_begin = 0, .m_end = m, .packed_w = pk,
                                             .out = got + n0, .out_m_stride = n, .out_n_stride = 1, .scale = rq,
                                             .out_zero_point = zo, .qmin = 0, .qmax = 255, .scratch = sc,
                                             .implicit = &im};
                gv->run(&a);
            }
            char what[120];
            snprintf(what, sizeof what, "implicit im2col %lldx%lld k%lldx%lld pt%lld pl%lld cin %lld m %lld",
                     (long long)h, (long long)w, (long long)kh, (long long)kw, (long long)pt, (long long)pl,
                     (long long)cin, (long long)m);
            expect_same_bytes(got, want, (size_t)(m * n), what, runnable[v]->isa_name);
            checked++;
            free(sc);
            free(pk);
        }
        free(got);
        free(want);
        free(col);
        free(rq);
        free(bias);
        free(wt);
        free(in);
    }
    if (n_runnable > 0 && runnable[n_runnable - 1]->gemm->implicit) assert_true(checked > 20);
}

/* im2col of output rows [r0, r1) through a window shifted by r0 rows (pad_top - r0 * stride_h,
 * negative past the top padding; how the engine unfolds big images a block at a time) gives
 * those rows of the whole-image im2col. */
static void test_im2col_row_blocks(void **state) {
    (void)state;
    rng_seed(62);
    static const geom geoms[] = {{23, 19, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, {30, 31, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
                                 {17, 70, 5, 3, 2, 1, 1, 1, 2, 1, 2, 1}, {12, 12, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2}};
    for (size_t gi = 0; gi < sizeof geoms / sizeof geoms[0]; gi++) {
        qp_q8_window win;
        if (!make_window(&geoms[gi], &win)) continue;
        const int64_t c = 3, taps = win.kernel_h * win.kernel_w, n = win.out_h * win.out_w;
        uint8_t *in = xcalloc((size_t)(c * win.in_h * win.in_w));
        for (int64_t i = 0; i < c * win.in_h * win.in_w; i++) in[i] = (uint8_t)rng_u32();
        uint8_t *whole = xcalloc(qp_u8_im2col_size(&win, c)), *block = xcalloc(qp_u8_im2col_size(&win, c));
        for (int v = 0; v < n_runnable; v++) {
            runnable[v]->im2col(&win, c, in, 17, whole);
            for (int64_t r0 = 0; r0 < win.out_h; r0 += 4) {
                const int64_t r1 = r0 + 4 < win.out_h ? r0 + 4 : win.out_h, nb = (r1 - r0) * win.out_w;
                qp_q8_window sub = win;
                sub.out_h = r1 - r0;
                sub.pad_top = win.pad_top - r0 * win.stride_h;
                runnable[v]->im2col(&sub, c, in, 17, block);
                for (int64_t row = 0; row < c * taps; row++)
                    expect_same_bytes(block + row * nb, whole + row * n + r0 * win.out_w, (size_t)nb,
                                      "im2col row block", runnable[v]->isa_name);
            }
        }
        free(block);
        free(whole);
        free(in);
    }
}

/* Planes narrower than 16 outputs (the VNNI kernel's flat path): odd sizes, strides, dilations,
 * 5x5 kernels, windows past 64 bytes, many channels, extreme values; row splits inside. */
static void test_dwconv_small_planes(void **state) {
    (void)state;
    rng_seed(63);
    static const geom geoms[] = {
        {7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     {14, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
        {14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   {13, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
        {10, 15, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2},   {28, 14, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1},
        {9, 11, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},    {6, 30, 3, 3, 1, 2, 1, 1, 1, 1, 1, 1},
        {3, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},     {1, 9, 1, 7, 1, 1, 1, 1, 0, 3, 0, 3},
        {20, 5, 7, 3, 1, 1, 1, 1, 3, 1, 3, 1},    {15, 15, 4, 4, 1, 1, 1, 1, 2, 1, 1, 2},
    };
    for (size_t gi = 0; gi < sizeof geoms / sizeof geoms[0]; gi++) check_dwconv(&geoms[gi], 37, 0);
    const geom ext = {7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
    check_dwconv(&ext, 4, 1);
    const geom ext5 = {11, 11, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2};
    check_dwconv(&ext5, 4, 1);
}

/* X packed once (pack_x) and shared by row ranges, as threads splitting a 7x7 plane's GEMM by
 * rows do: the same bytes as each range packing X itself, for im2col columns and implicit X. */
static void test_gemm_shared_packed_x(void **state) {
    (void)state;
    rng_seed(64);
    int checked = 0;
    for (int trial = 0; trial < 24; trial++) {
        const int implicit = trial % 2;
        const int64_t h = rng_int(2, 9), w = rng_int(2, 9), cin = rng_int(1, 40), m = rng_int(9, 70);
        const int64_t kh = implicit ? 3 : 1, kw = implicit ? 3 : 1, k = cin * kh * kw, n = h * w;
        const int32_t za = (int32_t)rng_int(0, 255), zo = (int32_t)rng_int(0, 255);
        uint8_t *in = xcalloc((size_t)(cin * n));
        for (int64_t i = 0; i < cin * n; i++) in[i] = (uint8_t)rng_u32();
        int8_t *wt = xcalloc((size_t)(m * k));
        for (int64_t i = 0; i < m * k; i++) wt[i] = (int8_t)rng_int(-128, 127);
        int32_t *bias = xcalloc((size_t)m * 4);
        float *rq = xcalloc((size_t)m * sizeof(float));
        for (int64_t o = 0; o < m; o++) rq[o] = rq_scale(60.0 / (sqrt((double)k) * 5400.0) * (0.5 + rng_unit()));
        assert_int_equal(qp_u8s8_gemm_fold_bias(m, k, wt, k, bias, za, bias), QP_OK);
        uint8_t *want = xcalloc((size_t)(m * n)), *got = xcalloc((size_t)(m * n));
        for (int v = 0; v < n_runnable; v++) {
            const qp_u8s8_gemm_variant *gv = runnable[v]->gemm;
            if (!gv->pack_x || (implicit && !gv->implicit)) continue;
            void *pk = xcalloc(gv->pack_size(m, k));
            gv->pack(m, k, wt, k, bias, pk);
            void *sc = xcalloc(gv->scratch_size(k, n));
            void *px = xcalloc(gv->packed_x_size(k, n));
            const qp_u8s8_gemm_implicit im = {.input = in, .h = h, .w = w, .kernel_h = kh, .kernel_w = kw,
                                              .pad_top = 1, .pad_left = 1, .zero_point = (uint8_t)za};
            qp_u8s8_gemm_args a = {.m = m, .n = n, .k = k, .m_begin = 0, .m_end = m, .packed_w = pk,
                                   .x = implicit ? NULL : in, .x_k_stride = n, .x_n_stride = 1, .out = want,
                                   .out_m_stride = n, .out_n_stride = 1, .scale = rq, .out_zero_point = zo,
                                   .qmin = 0, .qmax = 255, .scratch = sc, .implicit = implicit ? &im : NULL};
            gv->run(&a);
            gv->pack_x(&a, px);
            memset(got, 0xA5, (size_t)(m * n));
            a.out = got;
            a.x_packed = px;
            for (int64_t m0 = 0; m0 < m; m0 += gv->mr * 2) { /* row ranges sharing the packing */
                a.m_begin = m0;
                a.m_end = m0 + gv->mr * 2 < m ? m0 + gv->mr * 2 : m;
                gv->run(&a);
            }
            expect_same_bytes(got, want, (size_t)(m * n), implicit ? "shared packed X (implicit)" : "shared packed X",
                              runnable[v]->isa_name);
            checked++;
            free(px);
            free(sc);
            free(pk);
        }
        free(got);
        free(want);
        free(rq);
        free(bias);
        free(wt);
        free(in);
    }
    if (n_runnable > 0 && runnable[n_runnable - 1]->gemm->pack_x) assert_true(checked >= 20);
}

/* ---------------------------------------------------------------------------------------- */
/* direct convolution for few input channels (the stem)                                     */
/* ---------------------------------------------------------------------------------------- */

/* The quad layout: every tap exactly once, in weight order, at most 4 a quad and 2 rows a quad,
 * and the counts the kernel's register budget is planned for. */
static void test_conv_smallc_layout(void **state) {
    (void)state;
    static const struct {
        int64_t c_in, kh, kw, quads;
    } counts[] = {{3, 3, 3, 7}, {1, 3, 3, 3}, {2, 3, 3, 5}, {4, 3, 3, 9}, {5, 3, 3, 12}, {6, 3, 3, 0},
                  {3, 3, 1, 5}, {3, 4, 4, 12}, {1, 1, 1, 1}, {3, 2, 2, 3}, {2, 1, 3, 2}, {13, 1, 1, 7}, {25, 1, 1, 0}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        const qp_q8_window w = {.in_h = 9, .in_w = 9, .out_h = 9, .out_w = 9, .kernel_h = counts[i].kh,
                                .kernel_w = counts[i].kw, .stride_h = 1, .stride_w = 1, .dilation_h = 1, .dilation_w = 1};
        if (qp_u8_smallc_layout(&w, counts[i].c_in, NULL) != counts[i].quads)
            fail_msg("layout %lld ch %lldx%lld: %d quads, expected %lld", (long long)counts[i].c_in,
                     (long long)counts[i].kh, (long long)counts[i].kw, qp_u8_smallc_layout(&w, counts[i].c_in, NULL),
                     (long long)counts[i].quads);
        assert_int_equal(qp_u8_conv_smallc_supported(&w, counts[i].c_in), counts[i].quads > 0);
    }
    for (int64_t c_in = 1; c_in <= 6; c_in++)
        for (int64_t kh = 1; kh <= 4; kh++)
            for (int64_t kw = 1; kw <= 4; kw++) {
                const qp_q8_window w = {.kernel_h = kh, .kernel_w = kw, .stride_w = 1, .dilation_w = 1};
                qp_u8_smallc_quad quads[QP_U8_SMALLC_MAX_QUADS];
                const int n = qp_u8_smallc_layout(&w, c_in, quads);
                if (!n) {
                    assert_true(c_in * kh * kw > 4 * 8); /* only big kernels run out of quads */
                    continue;
                }
                int32_t next = 0;
                for (int q = 0; q < n; q++)
                    for (int t = 0; t < 4; t++) {
                        const int32_t k = quads[q].k[t];
                        if (k < 0) continue;
                        assert_int_equal(k, next++); /* weight order, each tap once */
                        const int32_t row = (int32_t)(k / kw);
                        assert_true(row == quads[q].row[0] || row == quads[q].row[1]);
                    }
                assert_int_equal(next, c_in * kh * kw);
            }
    /* the SIMD limits: 16 outputs' taps in one 64-byte load, kernel_w <= 4 */
    qp_q8_window w = {.kernel_h = 3, .kernel_w = 3, .stride_w = 4, .dilation_w = 1};
    assert_true(qp_u8_conv_smallc_supported(&w, 3));
    w.dilation_w = 2;
    assert_false(qp_u8_conv_smallc_supported(&w, 3));
    w.stride_w = 1;
    w.kernel_w = 5;
    assert_false(qp_u8_conv_smallc_supported(&w, 1));
}

/* One direct conv: plain int64 loops, im2col + the reference GEMM, the reference direct kernel
 * and every SIMD variant give the same bytes, also split by output rows; rows outside the range
 * stay untouched. extreme: inputs 255, weights +-127/-128, scales that clamp and tie. */
static void check_conv_smallc(const geom *g, int64_t c_in, int64_t c_out, int extreme, int64_t more_outputs) {
    qp_q8_window win;
    if (!make_window(g, &win)) return;
    win.out_h += more_outputs; /* outputs past what the pads imply read padding only */
    win.out_w += more_outputs;
    const int64_t kk = c_in * g->kh * g->kw, plane_in = g->h * g->w, n = win.out_h * win.out_w;
    const int32_t za = extreme ? (int32_t)rng_int(0, 1) * 255 : (int32_t)rng_int(0, 255);
    const int32_t zo = (int32_t)rng_int(0, 255);
    const uint8_t qmin = (uint8_t)(rng_u32() % 3 ? 0 : rng_int(0, 100));
    const uint8_t qmax = (uint8_t)(rng_u32() % 3 ? 255 : rng_int(150, 255));
    uint8_t *in = xcalloc((size_t)(c_in * plane_in));
    for (int64_t i = 0; i < c_in * plane_in; i++) in[i] = extreme ? (uint8_t)(rng_u32() % 5 ? 255 : 0) : (uint8_t)rng_u32();
    int8_t *w = xcalloc((size_t)(c_out * kk));
    for (int64_t i = 0; i < c_out * kk; i++)
        w[i] = extreme ? (int8_t)(rng_u32() % 3 == 0 ? -128 : rng_u32() % 2 ? 127 : -127) : (int8_t)rng_int(-127, 127);
    int32_t *bias = xcalloc((size_t)c_out * 4), *folded = xcalloc((size_t)c_out * 4);
    float *rq = xcalloc((size_t)c_out * sizeof(float));
    for (int64_t o = 0; o < c_out; o++) {
        bias[o] = (int32_t)rng_int(-20000, 20000);
        rq[o] = rq_scale((extreme ? 60.0 / (kk * 255.0 * 128.0) : 60.0 / (sqrt((double)kk) * 5400.0)) * (0.5 + rng_unit()));
        if (o % 7 == 3) rq[o] = rq_scale(ldexp(1.0, -(int)rng_int(0, 8))); /* ties */
        if (o % 11 == 5) rq[o] = rq_scale(0.75 + 40.0 * rng_unit());       /* clamps: the float-clamp path */
    }
    assert_int_equal(qp_u8s8_gemm_fold_bias(c_out, kk, w, kk, bias, za, folded), QP_OK);
    uint8_t *want = xcalloc((size_t)(c_out * n));
    for (int64_t o = 0; o < c_out; o++)
        for (int64_t oh = 0; oh < win.out_h; oh++)
            for (int64_t ow = 0; ow < win.out_w; ow++) {
                int64_t acc = bias[o];
                for (int64_t c = 0; c < c_in; c++)
                    for (int64_t kh = 0; kh < g->kh; kh++)
                        for (int64_t kw = 0; kw < g->kw; kw++)
                            acc += (int64_t)w[((o * c_in + c) * g->kh + kh) * g->kw + kw] *
                                   (tap_value(&win, in, c, kh, kw, oh, ow, za) - za);
                want[o * n + oh * win.out_w + ow] = qp_requantize((int32_t)acc, rq[o], zo, qmin, qmax);
            }
    char what[200];
    snprintf(what, sizeof what, "conv_smallc %lld->%lld %lldx%lld k%lldx%lld s%lld,%lld d%lld,%lld p%lld,%lld,%lld,%lld%s",
             (long long)c_in, (long long)c_out, (long long)g->h, (long long)g->w, (long long)g->kh, (long long)g->kw,
             (long long)g->sh, (long long)g->sw, (long long)g->dh, (long long)g->dw, (long long)g->pt,
             (long long)g->pl, (long long)g->pb, (long long)g->pr, extreme ? " extreme" : "");
    uint8_t *got = xcalloc((size_t)(c_out * n));
    /* im2col + the reference GEMM: what the Conv op computes without the direct kernel */
    {
        const qp_u8s8_gemm_variant *v = &qp_u8s8_gemm__ref;
        void *packed = xcalloc(v->pack_size(c_out, kk)), *scratch = xcalloc(v->scratch_size(kk, n));
        uint8_t *col = xcalloc(qp_u8_im2col_size(&win, c_in));
        v->pack(c_out, kk, w, kk, folded, packed);
        qp_u8_im2col__ref(&win, c_in, in, (uint8_t)za, col);
        const qp_u8s8_gemm_args a = {.m = c_out, .n = n, .k = kk, .m_begin = 0, .m_end = c_out, .packed_w = packed,
                                     .x = col, .x_k_stride = n, .x_n_stride = 1, .out = got, .out_m_stride = n,
                                     .out_n_stride = 1, .scale = rq, .out_zero_point = zo, .qmin = qmin,
                                     .qmax = qmax, .scratch = scratch};
        v->run(&a);
        expect_same_bytes(got, want, (size_t)(c_out * n), what, "im2col + gemm__ref");
        free(col);
        free(scratch);
        free(packed);
    }
    /* scratch of exactly the size asked, misaligned by one byte */
    const size_t scratch_bytes = qp_u8_conv_smallc_scratch_size(&win, c_in, c_out);
    uint8_t *scratch = xcalloc(scratch_bytes + 1);
    qp_u8_conv_smallc_fn fns[9] = {qp_u8_conv_smallc__ref};
    const char *names[9] = {"ref"};
    int n_fns = 1;
    for (int v = 0; v < n_runnable; v++)
        if (runnable[v]->conv_smallc) {
            fns[n_fns] = runnable[v]->conv_smallc;
            names[n_fns++] = runnable[v]->isa_name;
        }
    for (int f = 0; f < n_fns; f++) {
        memset(got, 0xA5, (size_t)(c_out * n));
        const qp_u8_conv_smallc_args a = {.win = win, .c_in = c_in, .c_out = c_out, .input = in, .weights = w,
                                          .bias = folded, .input_zero_point = za, .scale = rq, .out_zero_point = zo,
                                          .qmin = qmin, .qmax = qmax, .output = got, .scratch = scratch + 1};
        fns[f](&a);
        expect_same_bytes(got, want, (size_t)(c_out * n), what, names[f]);
        if (win.out_h < 3) continue;
        /* rows in three parts, as threads split one image: the same bytes; a part's call leaves
         * the other rows alone */
        const int64_t cut1 = win.out_h / 3, cut2 = cut1 + (win.out_h - cut1) / 2 + 1;
        const int64_t cuts[4] = {0, cut1, cut2, win.out_h};
        memset(got, 0xA5, (size_t)(c_out * n));
        for (int part = 0; part < 3; part++) {
            qp_u8_conv_smallc_args p = a;
            p.row_begin = cuts[part];
            p.row_end = cuts[part + 1];
            if (p.row_begin == p.row_end) continue;
            fns[f](&p);
            if (part == 0)
                for (int64_t o = 0; o < c_out; o++)
                    for (int64_t i = cuts[1] * win.out_w; i < n; i++)
                        if (got[o * n + i] != 0xA5) fail_msg("%s [%s]: rows past the range were written", what, names[f]);
        }
        expect_same_bytes(got, want, (size_t)(c_out * n), what, names[f]);
    }
    free(scratch);
    free(got);
    free(want);
    free(rq);
    free(folded);
    free(bias);
    free(w);
    free(in);
}

static void test_conv_smallc(void **state) {
    (void)state;
    rng_seed(71);
    /* the stems, scaled down: 3x3 s2 pad 1 (MobileNetV2, ShuffleNet) and pad 0 (SqueezeNet),
     * widths around the 16-column blocks */
    static const geom stems[] = {
        /* h   w  kh kw sh sw dh dw pt pl pb pr */
        {32, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1}, {23, 33, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0},
        {9, 70, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},  {5, 224, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
        {6, 31, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  {3, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    };
    static const int64_t outs[] = {32, 24, 64, 1, 5, 13, 20, 37};
    for (size_t gi = 0; gi < sizeof stems / sizeof stems[0]; gi++)
        for (size_t oi = 0; oi < sizeof outs / sizeof outs[0]; oi++)
            check_conv_smallc(&stems[gi], 3, outs[oi], 0, 0);
    check_conv_smallc(&stems[0], 3, 32, 1, 0);
    check_conv_smallc(&stems[1], 3, 21, 1, 0);
    /* random geometries: 1-5 channels, kernels 1-4 (sometimes 5: the reference fallback), strides
     * 1-3, dilations 1-2, pads 0-2, outputs past the padding */
    for (int trial = 0; trial < 150; trial++) {
        geom g = {.h = rng_int(1, 20), .w = rng_int(1, 80), .kh = rng_int(1, 4), .kw = rng_int(1, trial % 10 ? 4 : 5),
                  .sh = rng_int(1, 3), .sw = rng_int(1, 3), .dh = rng_int(1, 2), .dw = rng_int(1, 2),
                  .pt = rng_int(0, 2), .pl = rng_int(0, 2), .pb = rng_int(0, 2), .pr = rng_int(0, 2)};
        if (trial % 3 == 0) g.dh = g.dw = 1;
        const int64_t c_in = rng_int(1, 5), c_out = rng_int(1, 40);
        check_conv_smallc(&g, c_in, c_out, trial % 9 == 4, trial % 13 == 6 ? 2 : 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_window_check),
        cmocka_unit_test(test_gemm_fold_bias),
        cmocka_unit_test(test_gemm_fixed_shapes),
        cmocka_unit_test(test_gemm_random_shapes_and_clamps),
        cmocka_unit_test(test_gemm_saturation_trap),
        cmocka_unit_test(test_gemm_epilogue_all_shifts),
        cmocka_unit_test(test_im2col_pads_with_zero_point),
        cmocka_unit_test(test_conv_im2col_gemm_groups),
        cmocka_unit_test(test_dwconv_geometries),
        cmocka_unit_test(test_dwconv_3x3_strips),
        cmocka_unit_test(test_add_broadcasts),
        cmocka_unit_test(test_add_params_errors),
        cmocka_unit_test(test_add_ties_round_half_even),
        cmocka_unit_test(test_mul_broadcasts),
        cmocka_unit_test(test_mul_params_errors),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_global_avgpool),
        cmocka_unit_test(test_lut),
        cmocka_unit_test(test_float_conversions),
        cmocka_unit_test(test_outputs_beyond_padding),
        cmocka_unit_test(test_gemm_implicit_im2col),
        cmocka_unit_test(test_im2col_row_blocks),
        cmocka_unit_test(test_dwconv_small_planes),
        cmocka_unit_test(test_gemm_shared_packed_x),
        cmocka_unit_test(test_conv_smallc_layout),
        cmocka_unit_test(test_conv_smallc),
    };
    return cmocka_run_group_tests(tests, setup_configs, NULL);
}
