/* test_q8_pool.c — int8 pooling: every SIMD MaxPool/AveragePool/GlobalAveragePool variant bit-exact with the reference on odd shapes, any split, and the engine's MaxPool equal for any thread count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "kernels/int8/q8_config.h"
#include "kernels/int8/q8_kernels.h"
#include "test_support.h"

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint32_t rng_u32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)(rng_u32() * (1.0 / 4294967296.0)); }

static void fill(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng_u32();
}

/* Output size of ONNX's formula (floor, or ceil with ceil_mode; a ceil window must start inside
 * the input or the left padding). */
static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1, int ceil_mode) {
    const int64_t span = in + p0 + p1 - ((k - 1) * d + 1);
    if (span < 0) return 0;
    int64_t o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + p0) o--;
    return o;
}

/* Plain loops: max over the taps inside the input, qmin when none, clamped. */
static void naive_maxpool(const qp_q8_window *w, int64_t channels, const uint8_t *in, uint8_t qmin, uint8_t qmax,
                          uint8_t *out) {
    for (int64_t c = 0; c < channels; c++)
        for (int64_t oh = 0; oh < w->out_h; oh++)
            for (int64_t ow = 0; ow < w->out_w; ow++) {
                int best = -1;
                for (int64_t kh = 0; kh < w->kernel_h; kh++)
                    for (int64_t kw = 0; kw < w->kernel_w; kw++) {
                        const int64_t ih = oh * w->stride_h - w->pad_top + kh * w->dilation_h;
                        const int64_t iw = ow * w->stride_w - w->pad_left + kw * w->dilation_w;
                        if (ih < 0 || ih >= w->in_h || iw < 0 || iw >= w->in_w) continue;
                        const int v = in[(c * w->in_h + ih) * w->in_w + iw];
                        if (v > best) best = v;
                    }
                if (best < qmin) best = qmin;
                if (best > qmax) best = qmax;
                out[(c * w->out_h + oh) * w->out_w + ow] = (uint8_t)best;
            }
}

static void expect_same(const uint8_t *got, const uint8_t *want, size_t n, const char *what, const char *isa,
                        const qp_q8_window *w, int64_t channels) {
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("%s (%s): byte %zu is %u, want %u; %lld ch %lldx%lld -> %lldx%lld k %lldx%lld s %lldx%lld "
                     "d %lldx%lld pads %lld,%lld",
                     what, isa, i, got[i], want[i], (long long)channels, (long long)w->in_h, (long long)w->in_w,
                     (long long)w->out_h, (long long)w->out_w, (long long)w->kernel_h, (long long)w->kernel_w,
                     (long long)w->stride_h, (long long)w->stride_w, (long long)w->dilation_h,
                     (long long)w->dilation_w, (long long)w->pad_top, (long long)w->pad_left);
}

typedef struct shape {
    int64_t h, w, k, s, d, pad, ceil_mode, channels;
} shape;

/* Every runnable MaxPool and AveragePool against the reference (MaxPool also against plain
 * loops), whole, split by output rows, and split by channels. */
static void check_shape(const shape *sh, int64_t kh, int64_t kw, int64_t sh_, int64_t sw) {
    qp_q8_window w = {.in_h = sh->h, .in_w = sh->w, .kernel_h = kh, .kernel_w = kw, .stride_h = sh_, .stride_w = sw,
                      .dilation_h = sh->d, .dilation_w = sh->d, .pad_top = sh->pad, .pad_left = sh->pad,
                      .pad_bottom = sh->pad, .pad_right = sh->pad};
    w.out_h = out_size(sh->h, kh, sh_, sh->d, sh->pad, sh->pad, (int)sh->ceil_mode);
    w.out_w = out_size(sh->w, kw, sw, sh->d, sh->pad, sh->pad, (int)sh->ceil_mode);
    if (w.out_h < 1 || w.out_w < 1) return;
    assert_int_equal(qp_q8_window_check(&w), QP_OK);
    const int64_t C = sh->channels, n_in = C * w.in_h * w.in_w, n_out = C * w.out_h * w.out_w;
    uint8_t *in = malloc((size_t)n_in), *want = malloc((size_t)n_out), *got = malloc((size_t)n_out);
    uint8_t *ref = malloc((size_t)n_out);
    assert_non_null(in);
    assert_non_null(want);
    assert_non_null(got);
    assert_non_null(ref);
    fill(in, (size_t)n_in);
    const uint8_t qmin = (uint8_t)(rng_u32() % 3 == 0 ? 40 : 0), qmax = (uint8_t)(rng_u32() % 3 == 0 ? 200 : 255);
    naive_maxpool(&w, C, in, qmin, qmax, want);
    const qp_q8_config *cfgs[8];
    const int n_cfg = qp_q8_runnable_configs(cfgs, 8);
    const int64_t taps = kh * kw;
    float *table = malloc((size_t)(taps + 1) * sizeof *table);
    assert_non_null(table);
    assert_int_equal(qp_u8_avgpool_scale_table(0.031f, 0.027f, taps, table), QP_OK);
    for (int include = 0; include < 2; include++) {
        qp_u8_pool_args avg = {.win = w, .channels = C, .input = in, .output = ref, .qmin = qmin, .qmax = qmax,
                               .count_include_pad = include, .count_scale = table, .input_zero_point = 121,
                               .out_zero_point = 117};
        qp_u8_avgpool__ref(&avg);
        for (int v = 0; v < n_cfg; v++) {
            memset(got, 0xA5, (size_t)n_out);
            avg.output = got;
            cfgs[v]->avgpool(&avg);
            expect_same(got, ref, (size_t)n_out, include ? "avgpool count_include_pad" : "avgpool", cfgs[v]->isa_name,
                        &w, C);
            avg.output = ref;
        }
    }
    for (int v = 0; v < n_cfg; v++) {
        qp_u8_pool_args a = {.win = w, .channels = C, .input = in, .output = got, .qmin = qmin, .qmax = qmax};
        memset(got, 0xA5, (size_t)n_out);
        cfgs[v]->maxpool(&a);
        expect_same(got, want, (size_t)n_out, "maxpool", cfgs[v]->isa_name, &w, C);
        /* rows [0, r) then [r, out_h): each call writes only its rows */
        const int64_t r = w.out_h / 3 + 1 < w.out_h ? w.out_h / 3 + 1 : w.out_h;
        memset(got, 0xA5, (size_t)n_out);
        a.row_begin = 0;
        a.row_end = r;
        cfgs[v]->maxpool(&a);
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = r * w.out_w; i < w.out_h * w.out_w; i++)
                if (got[c * w.out_h * w.out_w + i] != 0xA5) fail_msg("maxpool (%s) wrote outside rows [0, %lld)",
                                                                     cfgs[v]->isa_name, (long long)r);
        a.row_begin = r;
        a.row_end = w.out_h;
        cfgs[v]->maxpool(&a);
        expect_same(got, want, (size_t)n_out, "maxpool split by rows", cfgs[v]->isa_name, &w, C);
        /* channels one by one */
        memset(got, 0xA5, (size_t)n_out);
        for (int64_t c = 0; c < C; c++) {
            qp_u8_pool_args one = {.win = w, .channels = 1, .input = in + c * w.in_h * w.in_w,
                                   .output = got + c * w.out_h * w.out_w, .qmin = qmin, .qmax = qmax};
            cfgs[v]->maxpool(&one);
        }
        expect_same(got, want, (size_t)n_out, "maxpool split by channels", cfgs[v]->isa_name, &w, C);
    }
    free(table);
    free(ref);
    free(got);
    free(want);
    free(in);
}

/* SqueezeNet's pools (3x3 s2 on 111, 55, 27), tiny planes (1x1, 2x2), planes whose rows fill
 * one, two or more vector slots, pads, ceil mode, dilations, strides 1-4 and 9, channels 1-300. */
static void test_maxpool_shapes(void **state) {
    (void)state;
    static const shape shapes[] = {
        {111, 111, 3, 2, 1, 0, 1, 3},  {55, 55, 3, 2, 1, 0, 1, 5},   {27, 27, 3, 2, 1, 0, 1, 300},
        {1, 1, 3, 2, 1, 1, 0, 7},      {1, 1, 1, 1, 1, 0, 0, 2},     {2, 2, 2, 2, 1, 0, 0, 33},
        {2, 2, 3, 1, 1, 1, 1, 9},      {13, 13, 3, 1, 1, 1, 0, 17},  {13, 13, 3, 2, 1, 1, 1, 4},
        {14, 14, 2, 2, 1, 0, 0, 64},   {7, 7, 3, 2, 2, 1, 1, 11},    {31, 33, 3, 2, 1, 0, 1, 3},
        {33, 64, 3, 2, 1, 1, 1, 2},    {64, 65, 2, 1, 1, 0, 0, 2},   {20, 127, 3, 1, 1, 1, 0, 2},
        {9, 130, 3, 2, 1, 1, 1, 2},    {5, 300, 5, 3, 1, 2, 1, 2},   {4, 2100, 3, 2, 1, 1, 0, 1},
        {6, 57, 4, 4, 1, 1, 1, 3},     {8, 90, 2, 9, 1, 0, 1, 2},    {17, 17, 5, 1, 3, 2, 0, 2},
        {12, 12, 7, 2, 1, 3, 1, 1},    {3, 41, 3, 2, 1, 0, 1, 1},    {111, 111, 3, 2, 1, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        check_shape(s, s->k, s->k, s->s, s->s);
        if (s->h > 1) check_shape(s, s->k, s->k > 1 ? s->k - 1 : 2, s->s, s->s > 1 ? s->s - 1 : 2);
    }
}

/* Random windows on random small planes. */
static void test_maxpool_random(void **state) {
    (void)state;
    for (int t = 0; t < 150; t++) {
        shape s = {.h = 1 + rng_u32() % 40, .w = 1 + rng_u32() % 90, .d = 1 + rng_u32() % 2,
                   .s = 1 + rng_u32() % 3, .ceil_mode = rng_u32() % 2, .channels = 1 + rng_u32() % 6};
        const int64_t kh = 1 + rng_u32() % 4, kw = 1 + rng_u32() % 4;
        s.pad = rng_u32() % (kh < kw ? kh : kw);
        check_shape(&s, kh, kw, s.s, 1 + rng_u32() % 3);
    }
}

static void test_global_avgpool_variants(void **state) {
    (void)state;
    static const int64_t planes[] = {1, 2, 7, 49, 63, 64, 65, 169, 196, 3025};
    const qp_q8_config *cfgs[8];
    const int n_cfg = qp_q8_runnable_configs(cfgs, 8);
    for (size_t p = 0; p < sizeof planes / sizeof planes[0]; p++) {
        const int64_t C = 37, plane = planes[p];
        uint8_t *in = malloc((size_t)(C * plane)), want[37], got[37];
        assert_non_null(in);
        fill(in, (size_t)(C * plane));
        float scale;
        assert_int_equal(qp_requant_mean_scale(0.02f, 0.015f, plane, &scale), QP_OK);
        qp_u8_global_avgpool_args a = {.channels = C, .plane = plane, .input = in, .output = want, .scale = scale,
                                       .input_zero_point = 131, .out_zero_point = 120, .qmin = 3, .qmax = 250};
        qp_u8_global_avgpool__ref(&a);
        for (int v = 0; v < n_cfg; v++) {
            a.output = got;
            memset(got, 0, sizeof got);
            cfgs[v]->global_avgpool(&a);
            if (memcmp(got, want, sizeof got)) fail_msg("global avgpool (%s) differs, plane %lld", cfgs[v]->isa_name,
                                                        (long long)plane);
        }
        free(in);
    }
}

/* ---- engine: MaxPool for any batch and thread count ------------------------------------ */

static qp_encodings *encodings_for(const qp_graph *g) {
    qp_encodings *e = qp_encodings_new(g->n_tensors);
    assert_non_null(e);
    for (int t = 0; t < g->n_tensors; t++) {
        const float mn = -3.0f, mx = 3.0f;
        if (!g->tensors[t]->is_initializer) assert_int_equal(qp_encodings_set_range(e, t, 8, 0, -1, 1, &mn, &mx), QP_OK);
    }
    return e;
}

static void set_ints(qp_node *n, const char *name, const int64_t *v, int count) {
    qp_attr *a = qp_node_add_attr(n, name, QP_ATTR_INTS);
    a->ints = malloc((size_t)count * sizeof *a->ints);
    memcpy(a->ints, v, (size_t)count * sizeof *v);
    a->n = count;
}

/* MaxPool 3x3 s2 (ceil) on 27x27 -> 13x13 and then 3x3 s1 pad 1 on 13x13, 40 channels: INT8 equals
 * QUANTSIM, and 2-4 threads give the bytes of one, at batch 1, 2 and 8. */
static void test_engine_maxpool_threads(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    g->opsets = calloc(1, sizeof *g->opsets);
    g->opsets[0].domain = strdup("");
    g->opsets[0].version = 13;
    g->n_opsets = 1;
    qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 4, .dims = {-1, 40, 27, 27}});
    const int64_t k[2] = {3, 3}, s2[2] = {2, 2}, s1[2] = {1, 1}, pads[4] = {1, 1, 1, 1};
    int i0 = qp_graph_get_or_add_tensor(g, "x"), o0 = qp_graph_get_or_add_tensor(g, "p");
    int id = qp_graph_add_node(g, "pool1", "MaxPool", "", &i0, 1, &o0, 1);
    assert_true(id >= 0);
    set_ints(&g->nodes[id], "kernel_shape", k, 2);
    set_ints(&g->nodes[id], "strides", s2, 2);
    qp_node_add_attr(&g->nodes[id], "ceil_mode", QP_ATTR_INT)->i = 1;
    int o1 = qp_graph_get_or_add_tensor(g, "y");
    id = qp_graph_add_node(g, "pool2", "MaxPool", "", &o0, 1, &o1, 1);
    assert_true(id >= 0);
    set_ints(&g->nodes[id], "kernel_shape", k, 2);
    set_ints(&g->nodes[id], "strides", s1, 2);
    set_ints(&g->nodes[id], "pads", pads, 4);
    qp_test_add_output(g, o1);
    assert_int_equal(qp_graph_finalize(g), QP_OK);
    qp_encodings *e = encodings_for(g);
    static const int batches[] = {1, 2, 8};
    for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
        const int batch = batches[bi];
        const size_t n_in = (size_t)batch * 40 * 27 * 27;
        float *x = malloc(n_in * sizeof *x);
        for (size_t i = 0; i < n_in; i++) x[i] = frand(-3.5f, 3.5f);
        size_t n_ref;
        free(qp_test_check_int8_invariants(g, e, batch, x, 4, "MaxPool", &n_ref));
        assert_int_equal(n_ref, (size_t)batch * 40 * 13 * 13 * sizeof(float));
        free(x);
    }
    qp_encodings_free(e);
    qp_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool_shapes),
        cmocka_unit_test(test_maxpool_random),
        cmocka_unit_test(test_global_avgpool_variants),
        cmocka_unit_test(test_engine_maxpool_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
