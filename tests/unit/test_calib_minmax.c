/* test_calib_minmax.c — the calib_minmax plugin: range and moving-average math, a synthetic graph with known ranges, loading the built plugin. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/params.h"
#include "plugin/registry.h"
#include "quant/encodings.h"
#include "session/session.h"
#include "test_support.h"

/* The plugin's source, so its static helpers can be tested directly; the built .so is loaded
 * through the registry below as qpipe would. */
#include "plugins/calib_minmax/calib_minmax.c"

#define assert_ok(expr)                                                                        \
    do {                                                                                       \
        qp_status st_ = (expr);                                                                \
        if (st_ != QP_OK) fail_msg("%s -> %d: %s", #expr, (int)st_, qp_error_message());       \
    } while (0)

static void test_finite_range_ignores_nan_and_inf(void **state) {
    (void)state;
    float x[6] = {1.5f, NAN, -2.0f, INFINITY, 0.25f, -INFINITY};
    float lo, hi;
    int64_t bad = 0;
    assert_int_equal(mm_finite_range(x, 6, &lo, &hi, &bad), 3);
    assert_int_equal(bad, 3);
    assert_float_equal(lo, -2.0f, 0);
    assert_float_equal(hi, 1.5f, 0);
    float only_nan[2] = {NAN, NAN};
    assert_int_equal(mm_finite_range(only_nan, 2, &lo, &hi, &bad), 0);
    assert_int_equal(bad, 5);
}

static void test_update_overall_and_moving_average(void **state) {
    (void)state;
    const float batches[3][2] = {{-1, 1}, {-3, 2}, {0, 5}};
    mm_range overall = {0}, ema = {0};
    for (int b = 0; b < 3; b++) {
        mm_update(&overall, batches[b][0], batches[b][1], 0, 0.5);
        mm_update(&ema, batches[b][0], batches[b][1], 1, 0.5);
    }
    assert_float_equal(overall.min, -3, 0);
    assert_float_equal(overall.max, 5, 0);
    /* starts at the first batch: (-1, 1), then (-2, 1.5), then (-1, 3.25) */
    assert_float_equal(ema.min, -1.0f, 1e-6);
    assert_float_equal(ema.max, 3.25f, 1e-6);
    assert_int_equal(ema.seen, 3);
    /* momentum 0: the last batch alone; momentum 1: the first batch forever */
    mm_range last = {0}, first = {0};
    for (int b = 0; b < 3; b++) {
        mm_update(&last, batches[b][0], batches[b][1], 1, 0.0);
        mm_update(&first, batches[b][0], batches[b][1], 1, 1.0);
    }
    assert_float_equal(last.min, 0, 0);
    assert_float_equal(last.max, 5, 0);
    assert_float_equal(first.min, -1, 0);
    assert_float_equal(first.max, 1, 0);
}

static void write_idx(const char *path, int n, int h, int w, const unsigned char *pixels) {
    size_t size = 16 + (size_t)n * h * w;
    unsigned char *buf = malloc(size);
    unsigned char header[16] = {0, 0, 8, 3};
    int dims[3] = {n, h, w};
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 4; k++) header[4 + 4 * d + k] = (unsigned char)(dims[d] >> (24 - 8 * k));
    memcpy(buf, header, 16);
    memcpy(buf + 16, pixels, (size_t)n * h * w);
    qp_test_write_file(path, buf, size);
    free(buf);
}

/* x[N,1,2,2] -> Conv 1x1 (w = [2, -0.5], b = [0, 1]) -> y[N,2,2,2] -> Relu -> out.
 * With pixels p: y0 = 2p, y1 = 1 - p/2; out = relu(y). */
typedef struct fixture {
    char *dir;
    qp_session *session;
    qp_registry *registry;
} fixture;

static int T(qp_session *s, const char *name) {
    int t = qp_model_find_tensor(qp_session_model(s), name);
    assert_true(t >= 0);
    return t;
}

static void make_fixture(fixture *f, int batch) {
    f->dir = qp_test_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/images-idx3-ubyte", f->dir);
    /* 3 images; image 1 holds the extremes 0 and 200, image 2 stays in 10..13 */
    const unsigned char pixels[12] = {5, 6, 7, 8, 0, 200, 100, 50, 10, 11, 12, 13};
    write_idx(path, 3, 2, 2, pixels);
    qp_graph *g = qp_graph_new();
    g->opsets = calloc(1, sizeof *g->opsets);
    g->opsets[0].domain = strdup("");
    g->opsets[0].version = 13;
    g->n_opsets = 1;
    qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 4, .dims = {-1, 1, 2, 2}});
    const float w[2] = {2, -0.5f}, b[2] = {0, 1};
    qp_test_add_initializer(g, "w", &(qp_shape){.rank = 4, .dims = {2, 1, 1, 1}}, w);
    qp_test_add_initializer(g, "b", &(qp_shape){.rank = 1, .dims = {2}}, b);
    int ins[3] = {qp_graph_get_or_add_tensor(g, "x"), qp_graph_get_or_add_tensor(g, "w"), qp_graph_get_or_add_tensor(g, "b")};
    int y = qp_graph_get_or_add_tensor(g, "y"), out = qp_graph_get_or_add_tensor(g, "out");
    qp_graph_add_node(g, "conv", "Conv", "", ins, 3, &y, 1);
    qp_graph_add_node(g, "relu", "Relu", "", &y, 1, &out, 1);
    qp_test_add_output(g, out);
    assert_ok(qp_graph_finalize(g));
    assert_ok(qp_session_new(&f->session));
    qp_session_set_verbosity(f->session, QP_LOG_ERROR);
    assert_ok(qp_session_set_graph(f->session, g));
    qp_session_set_run_options(f->session, batch, 1);
    qp_dataset_config cfg;
    qp_dataset_config_init(&cfg);
    cfg.images = path;
    assert_ok(qp_preprocess_set(&cfg.preprocess, "color", "GRAY"));
    assert_ok(qp_session_set_calibration(f->session, &cfg));
    assert_ok(qp_registry_new(&f->registry));
}

static void free_fixture(fixture *f) {
    qp_session_free(f->session);
    qp_registry_free(f->registry);
    qp_test_rmtree(f->dir);
    free(f->dir);
}

static qp_status run_pass(fixture *f, const char *const *kv, int n_kv) {
    qp_params *params;
    assert_ok(qp_params_new(&calib_minmax_passes[0], &params));
    for (int i = 0; i < n_kv; i++) assert_ok(qp_params_set(params, kv[2 * i], kv[2 * i + 1], "test"));
    qp_status st = calib_minmax_passes[0].run(f->session, params, NULL);
    qp_params_free(params);
    return st;
}

/* The encoding the standard rule gives for [lo, hi]. */
static void expect_encoding(qp_session *s, const char *name, int bits, int symmetric, float lo, float hi) {
    float want_scale;
    int32_t want_zp;
    qp_encoding_from_range(bits, symmetric, lo, hi, &want_scale, &want_zp);
    int got_bits, got_sym, axis;
    const float *scale;
    const int32_t *zp;
    assert_int_equal(qp_session_get_encoding(s, T(s, name), &got_bits, &got_sym, &axis, &scale, &zp, NULL, NULL), 1);
    assert_int_equal(got_bits, bits);
    assert_int_equal(got_sym, symmetric);
    assert_int_equal(axis, -1);
    if (fabsf(scale[0] - want_scale) > 1e-6f * want_scale)
        fail_msg("%s: scale %g, want %g (range [%g, %g])", name, (double)scale[0], (double)want_scale, (double)lo,
                 (double)hi);
    assert_int_equal(zp[0], want_zp);
}

static void test_known_ranges(void **state) {
    (void)state;
    fixture f;
    make_fixture(&f, 2); /* batches of 2: the last batch is padded */
    assert_ok(run_pass(&f, NULL, 0));
    qp_session *s = f.session;
    expect_encoding(s, "x", 8, 0, 0, 200);
    /* y0 = 2p in [0, 400], y1 = 1 - p/2 in [-99, 1] */
    expect_encoding(s, "y", 8, 0, -99, 400);
    expect_encoding(s, "out", 8, 0, 0, 400);
    /* weights per output channel, symmetric: channel 0 max |2|, channel 1 max |-0.5| */
    const float *scale;
    int axis, sym;
    assert_int_equal(qp_session_get_encoding(s, T(s, "w"), NULL, &sym, &axis, &scale, NULL, NULL, NULL), 2);
    assert_int_equal(axis, 0);
    assert_int_equal(sym, 1);
    assert_float_equal(scale[0], 2.0f / 127, 1e-9);
    assert_float_equal(scale[1], 0.5f / 127, 1e-9);
    free_fixture(&f);
}

static void test_params_override_spec(void **state) {
    (void)state;
    fixture f;
    make_fixture(&f, 3);
    qp_quant_config q;
    qp_quant_config_init(&q);
    q.weights.per_channel = 0;
    assert_ok(qp_session_set_quant_config(f.session, &q));
    const char *kv[] = {"symmetric", "true", "bits", "6"};
    assert_ok(run_pass(&f, kv, 2));
    expect_encoding(f.session, "y", 6, 1, -99, 400);
    /* per-tensor weights when the quant spec says so */
    const float *scale;
    assert_int_equal(qp_session_get_encoding(f.session, T(f.session, "w"), NULL, NULL, NULL, &scale, NULL, NULL, NULL), 1);
    assert_float_equal(scale[0], 2.0f / 127, 1e-9);
    const char *bad[] = {"bits", "1"};
    assert_int_equal(run_pass(&f, bad, 1), QP_ERR_INVALID_ARG);
    free_fixture(&f);
}

static void test_moving_average_over_batches(void **state) {
    (void)state;
    fixture f;
    make_fixture(&f, 1); /* one image per batch: x ranges [5,8], [0,200], [10,13] */
    const char *kv[] = {"moving_average", "true", "momentum", "0.5"};
    assert_ok(run_pass(&f, kv, 2));
    /* min: 5 -> 2.5 -> 6.25; max: 8 -> 104 -> 58.5 */
    expect_encoding(f.session, "x", 8, 0, 6.25f, 58.5f);
    free_fixture(&f);
}

/* The plugin as qpipe loads it: the built .so, found and registered with its parameters. */
static void test_built_plugin_loads(void **state) {
    (void)state;
    const char *path = QP_BINARY_DIR "/plugins/calib_minmax.so";
    if (!qp_test_file_exists(path)) fail_msg("%s was not built", path);
    qp_registry *reg;
    assert_ok(qp_registry_new(&reg));
    assert_ok(qp_registry_load_file(reg, path));
    const char *origin;
    const qp_pass_def *def = qp_registry_find(reg, "calib_minmax", &origin);
    assert_non_null(def);
    assert_non_null(strstr(origin, "calib_minmax.so"));
    assert_int_equal(def->n_params, 4);
    qp_params *params;
    assert_ok(qp_params_new(def, &params));
    assert_int_equal(qp_params_set(params, "momentum", "1.5", "x.yaml:3:4"), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "x.yaml:3:4"));
    assert_float_equal(qp_params_float(params, "momentum"), 0.9, 1e-12);
    assert_string_equal(qp_params_string(params, "symmetric"), "spec");
    qp_params_free(params);
    qp_registry_free(reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finite_range_ignores_nan_and_inf),
        cmocka_unit_test(test_update_overall_and_moving_average),
        cmocka_unit_test(test_known_ranges),
        cmocka_unit_test(test_params_override_spec),
        cmocka_unit_test(test_moving_average_over_batches),
        cmocka_unit_test(test_built_plugin_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
