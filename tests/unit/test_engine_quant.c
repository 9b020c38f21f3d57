/* test_engine_quant.c — QUANTSIM and INT8 engine modes: fake-quant numerics, int8 lowering per op, fp32 fallback report, determinism, int8-vs-quantsim agreement on real models. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/idx.h"
#include "data/npy.h"
#include "engine/engine.h"
#include "engine/plan_internal.h"
#include "onnx/onnx_import.h"
#include "kernels/int8/requant.h"
#include "test_support.h"

/* ---- graph building ------------------------------------------------------------------------ */

static qp_graph *new_graph(void) {
    qp_graph *g = qp_graph_new();
    assert_non_null(g);
    g->opsets = calloc(1, sizeof *g->opsets);
    g->opsets[0].domain = strdup("");
    g->opsets[0].version = 13;
    g->n_opsets = 1;
    return g;
}

/* Adds a node; ins/outs are tensor names (NULL entries = omitted). Returns the node (valid until
 * the next node is added). */
static qp_node *add(qp_graph *g, const char *name, const char *op, const char *const *ins, int n_in, const char *out) {
    int in_ids[8], out_id = qp_graph_get_or_add_tensor(g, out);
    for (int i = 0; i < n_in; i++) in_ids[i] = ins[i] ? qp_graph_get_or_add_tensor(g, ins[i]) : -1;
    int id = qp_graph_add_node(g, name, op, "", in_ids, n_in, &out_id, 1);
    assert_true(id >= 0);
    return &g->nodes[id];
}
#define ADD(g, name, op, out, ...)                                                                  \
    add(g, name, op, (const char *const[]){__VA_ARGS__},                                           \
        (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)), out)

static void attr_int(qp_node *n, const char *name, int64_t v) {
    qp_attr *a = qp_node_add_attr(n, name, QP_ATTR_INT);
    assert_non_null(a);
    a->i = v;
}
static void attr_float(qp_node *n, const char *name, float v) {
    qp_attr *a = qp_node_add_attr(n, name, QP_ATTR_FLOAT);
    assert_non_null(a);
    a->f = v;
}
static void attr_ints(qp_node *n, const char *name, const int64_t *v, int count) {
    qp_attr *a = qp_node_add_attr(n, name, QP_ATTR_INTS);
    assert_non_null(a);
    a->ints = malloc((size_t)count * sizeof *a->ints);
    memcpy(a->ints, v, (size_t)count * sizeof *a->ints);
    a->n = count;
}

static uint64_t rng_state = 88172645463325252ull;
static float frand(float lo, float hi) { /* xorshift: the same numbers on every run */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((rng_state >> 11) * (1.0 / 9007199254740992.0));
}

static void init_tensor(qp_graph *g, const char *name, qp_shape shape, float lo, float hi) {
    int64_t n = qp_shape_numel(&shape);
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = frand(lo, hi);
    qp_test_add_initializer(g, name, &shape, v);
    free(v);
}

static void init_values(qp_graph *g, const char *name, qp_shape shape, const float *v) {
    qp_test_add_initializer(g, name, &shape, v);
}

static void finalize(qp_graph *g) {
    qp_status st = qp_graph_finalize(g);
    if (st != QP_OK) print_error("%s\n", qp_error_message());
    assert_int_equal(st, QP_OK);
}

/* ---- calibration stand-in: min/max from fp32 runs --------------------------------------- */

typedef struct ranges {
    float *mn, *mx;
    int n;
} ranges;

static void observe_range(void *user, int t, const qp_value *v) {
    ranges *r = user;
    if (v->dtype != QP_DT_FLOAT || t >= r->n) return;
    const float *x = v->data;
    for (int64_t i = 0, n = qp_shape_numel(&v->shape); i < n; i++) {
        if (x[i] < r->mn[t]) r->mn[t] = x[i];
        if (x[i] > r->mx[t]) r->mx[t] = x[i];
    }
}

/* A float tensor whose value the plan knows (initializer or folded): never observed at run time. */
static const float *const_data(const qp_graph *g, const qp_plan *plan, const ranges *r, int t) {
    if (t < 0 || g->tensors[t]->is_graph_input || r->mn[t] <= r->mx[t]) return NULL;
    const qp_value *v = qp_plan_tensor(plan, t);
    return v && v->dtype == QP_DT_FLOAT ? v->data : NULL;
}

/* Weights (input 1 of Conv/Gemm/MatMul): symmetric 8-bit per output channel. Constant data inputs
 * of elementwise ops and Concat: asymmetric 8-bit per tensor, from their values. */
static void constant_encodings(const qp_graph *g, const qp_plan *plan, const ranges *r, qp_encodings *e) {
    static const char *const data_ops[] = {"Add", "Sub", "Mul", "Div", "Concat", "Max", "Min", "Sum", NULL};
    for (int id = 0; id < g->n_nodes; id++) {
        const qp_node *n = &g->nodes[id];
        int conv = strcmp(n->op_type, "Conv") == 0, gemm = strcmp(n->op_type, "Gemm") == 0,
            mm = strcmp(n->op_type, "MatMul") == 0;
        if ((conv || gemm || mm) && n->n_inputs >= 2) {
            const float *x = const_data(g, plan, r, n->inputs[1]);
            const qp_shape *ws = &qp_plan_tensor(plan, n->inputs[1])->shape;
            if (!x || (!conv && ws->rank != 2)) continue;
            int axis = conv ? 0 : (gemm && qp_node_attr_int(n, "transB", 0)) ? 0 : 1;
            int64_t ch = ws->dims[axis], inner = 1;
            for (int d = axis + 1; d < ws->rank; d++) inner *= ws->dims[d];
            float *mn = calloc((size_t)ch, sizeof *mn), *mx = calloc((size_t)ch, sizeof *mx);
            for (int64_t i = 0, total = qp_shape_numel(ws); i < total; i++) {
                int64_t c = (i / inner) % ch;
                if (x[i] < mn[c]) mn[c] = x[i];
                if (x[i] > mx[c]) mx[c] = x[i];
            }
            assert_int_equal(qp_encodings_set_range(e, n->inputs[1], 8, 1, axis, (int)ch, mn, mx), QP_OK);
            free(mn);
            free(mx);
            continue;
        }
        int is_data_op = 0;
        for (int k = 0; data_ops[k]; k++) is_data_op |= strcmp(n->op_type, data_ops[k]) == 0;
        for (int k = 0; is_data_op && k < n->n_inputs; k++) {
            const float *x = const_data(g, plan, r, n->inputs[k]);
            if (!x) continue;
            float mn = 0, mx = 0;
            for (int64_t i = 0, total = qp_shape_numel(&qp_plan_tensor(plan, n->inputs[k])->shape); i < total; i++) {
                if (x[i] < mn) mn = x[i];
                if (x[i] > mx) mx = x[i];
            }
            assert_int_equal(qp_encodings_set_range(e, n->inputs[k], 8, 0, -1, 1, &mn, &mx), QP_OK);
        }
    }
}

/* Runs fp32 on n samples (each `per` floats, for graph input 0 of shape `shape`) and gives every
 * activation an asymmetric 8-bit per-tensor encoding from its observed range, plus encodings for
 * constants (see constant_encodings). */
static qp_encodings *calibrate(const qp_graph *g, const qp_shape *shape, const float *samples, int n, int64_t per) {
    ranges r = {malloc((size_t)g->n_tensors * sizeof(float)), malloc((size_t)g->n_tensors * sizeof(float)),
                g->n_tensors};
    for (int t = 0; t < g->n_tensors; t++) {
        r.mn[t] = INFINITY;
        r.mx[t] = -INFINITY;
    }
    qp_input_shape in = {g->tensors[g->inputs[0]]->name, *shape};
    qp_plan_options o = {.n_threads = 1, .input_shapes = &in, .n_input_shapes = 1, .observer = observe_range,
                         .observer_user = &r};
    qp_plan *plan = NULL;
    assert_int_equal(qp_plan_create(g, &o, &plan), QP_OK);
    for (int s = 0; s < n; s++) {
        memcpy(qp_plan_input(plan, 0)->data, samples + s * per, (size_t)per * sizeof(float));
        observe_range(&r, g->inputs[0], qp_plan_input(plan, 0));
        assert_int_equal(qp_plan_run(plan), QP_OK);
    }
    qp_encodings *e = qp_encodings_new(g->n_tensors);
    for (int t = 0; t < g->n_tensors; t++)
        if (r.mn[t] <= r.mx[t]) assert_int_equal(qp_encodings_set_range(e, t, 8, 0, -1, 1, &r.mn[t], &r.mx[t]), QP_OK);
    constant_encodings(g, plan, &r, e);
    qp_plan_free(plan);
    free(r.mn);
    free(r.mx);
    return e;
}

/* ---- running -------------------------------------------------------------------------------- */

static qp_plan *make_plan(const qp_graph *g, qp_engine_mode mode, const qp_encodings *e, const qp_shape *shape,
                          int threads) {
    qp_input_shape in = {g->tensors[g->inputs[0]]->name, *shape};
    qp_plan_options o = {.mode = mode, .n_threads = threads, .input_shapes = &in, .n_input_shapes = 1,
                         .encodings = e};
    qp_plan *plan = NULL;
    qp_status st = qp_plan_create(g, &o, &plan);
    if (st != QP_OK) print_error("plan: %s\n", qp_error_message());
    assert_int_equal(st, QP_OK);
    return plan;
}

/* Runs the plan on x; returns a malloc'd copy of output 0. */
static float *run_copy(qp_plan *plan, const float *x, int64_t *n_out) {
    qp_value *in = qp_plan_input(plan, 0);
    memcpy(in->data, x, in->nbytes);
    qp_status st = qp_plan_run(plan);
    if (st != QP_OK) print_error("run: %s\n", qp_error_message());
    assert_int_equal(st, QP_OK);
    const qp_value *out = qp_plan_output(plan, 0);
    float *copy = malloc(out->nbytes);
    memcpy(copy, out->data, out->nbytes);
    *n_out = qp_shape_numel(&out->shape);
    return copy;
}

/* Largest difference between two outputs in steps of the output's encoding. */
static double max_steps(const float *a, const float *b, int64_t n, float scale) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / scale;
        if (!(d <= worst)) worst = d;
    }
    return worst;
}

static int64_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Calibrates g on random inputs, then checks that INT8 runs every node in integer arithmetic
 * (when all_int8) and stays within max_diff output steps of QUANTSIM. */
static void check_int8_vs_quantsim(qp_graph *g, const qp_shape *shape, int all_int8, double max_diff) {
    const int n_cal = 8;
    int64_t per = qp_shape_numel(shape);
    float *samples = malloc((size_t)(n_cal * per) * sizeof(float));
    for (int64_t i = 0; i < n_cal * per; i++) samples[i] = frand(-2.0f, 2.0f);
    qp_encodings *e = calibrate(g, shape, samples, n_cal, per);
    qp_plan *qs = make_plan(g, QP_MODE_QUANTSIM, e, shape, 1);
    qp_plan *q8 = make_plan(g, QP_MODE_INT8, e, shape, 1);
    if (all_int8 && qp_plan_num_fp32_fallbacks(q8) != 0) {
        char buf[512];
        qp_plan_fp32_fallback_summary(q8, buf, sizeof buf);
        print_error("ran in fp32: %s (%s)\n", buf, qp_plan_fp32_fallback_reason(q8, 0));
    }
    if (all_int8) assert_int_equal(qp_plan_num_fp32_fallbacks(q8), 0);
    const qp_encoding *oe = qp_encodings_get(e, g->outputs[0]);
    assert_non_null(oe);
    double worst = 0;
    for (int s = 0; s < n_cal; s++) {
        int64_t n1, n2;
        float *a = run_copy(qs, samples + s * per, &n1), *b = run_copy(q8, samples + s * per, &n2);
        assert_int_equal(n1, n2);
        double d = max_steps(a, b, n1, oe->scale[0]);
        if (d > worst) worst = d;
        free(a);
        free(b);
    }
    if (!(worst <= max_diff + 1e-3)) print_error("int8 vs quantsim: %g output steps (allowed %g)\n", worst, max_diff);
    assert_true(worst <= max_diff + 1e-3);
    qp_plan_free(qs);
    qp_plan_free(q8);
    qp_encodings_free(e);
    free(samples);
}

/* ---- fake-quant numerics ------------------------------------------------------------------- */

/* Quantsim rounds half to even, clamps to the range, leaves the caller's input buffer alone, and
 * the int8 engine gives the same values through its tables. */
static void test_fake_quant_rounding(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s = {.rank = 1, .dims = {8}};
    int x = qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    ADD(g, "r", "Relu", "y", "x");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    qp_encodings *e = qp_encodings_new(g->n_tensors);
    float scale = 1.0f;
    int32_t zp = 10; /* asymmetric: codes 0..255 cover [-10, 245] */
    assert_int_equal(qp_encodings_set(e, x, 8, 0, -1, 1, &scale, &zp), QP_OK);
    int32_t zp0 = 0;
    assert_int_equal(qp_encodings_set(e, qp_graph_find_tensor(g, "y"), 8, 0, -1, 1, &scale, &zp0), QP_OK);
    const float in[8] = {0.5f, 1.5f, 2.5f, -0.5f, 300.0f, 3.49f, -20.0f, -1.5f};
    const float want[8] = {0, 2, 2, 0, 245, 3, 0, 0}; /* relu after fq: -0.5 -> -0 -> 0, -1.5 -> -2 -> 0 */
    for (int mode = QP_MODE_QUANTSIM; mode <= QP_MODE_INT8; mode++) {
        qp_plan *plan = make_plan(g, (qp_engine_mode)mode, e, &s, 1);
        int64_t n;
        float *y = run_copy(plan, in, &n);
        for (int i = 0; i < 8; i++) assert_float_equal(y[i], want[i], 0);
        assert_memory_equal(qp_plan_input(plan, 0)->data, in, sizeof in);
        free(y);
        assert_int_equal(qp_plan_num_fp32_fallbacks(plan), 0);
        if (mode == QP_MODE_INT8) assert_int_equal(qp_plan_num_int8_nodes(plan), 1);
        qp_plan_free(plan);
    }
    /* Symmetric input: signed narrow range [-127, 127], zero point 0. */
    float s2 = 0.5f;
    assert_int_equal(qp_encodings_set(e, x, 8, 1, -1, 1, &s2, &zp0), QP_OK);
    qp_encodings_clear(e, qp_graph_find_tensor(g, "y"));
    qp_plan *plan = make_plan(g, QP_MODE_QUANTSIM, e, &s, 1);
    const float in2[8] = {0.25f, 0.75f, -0.25f, -0.75f, 100.0f, -100.0f, 1.26f, 0.0f};
    const float want2[8] = {0.0f, 1.0f, 0.0f, 0.0f, 63.5f, 0.0f, 1.5f, 0.0f};
    int64_t n;
    float *y = run_copy(plan, in2, &n);
    for (int i = 0; i < 8; i++) assert_float_equal(y[i], want2[i], 0);
    free(y);
    qp_plan_free(plan);
    /* INT8 with an unquantized output: Relu cannot run in int8 and falls back, saying why. */
    plan = make_plan(g, QP_MODE_INT8, e, &s, 1);
    assert_int_equal(qp_plan_num_fp32_fallbacks(plan), 1);
    assert_non_null(strstr(qp_plan_fp32_fallback_reason(plan, 0), "output 'y' has no encoding"));
    y = run_copy(plan, in2, &n);
    for (int i = 0; i < 8; i++) assert_float_equal(y[i], want2[i], 0);
    free(y);
    qp_plan_free(plan);
    qp_encodings_free(e);
    qp_graph_free(g);
}

/* Quantsim Conv: per-channel fake-quantized weights and the bias rounded to int32 at s_in * s_w[c],
 * computed here by hand. */
static void test_quantsim_conv_weights_and_bias(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape xs = {.rank = 4, .dims = {1, 2, 1, 1}};
    int x = qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    const float w[4] = {0.30f, -0.71f, 1.00f, 0.123f}, b[2] = {0.0317f, -0.5555f};
    init_values(g, "w", (qp_shape){.rank = 4, .dims = {2, 2, 1, 1}}, w);
    init_values(g, "b", (qp_shape){.rank = 1, .dims = {2}}, b);
    ADD(g, "conv", "Conv", "y", "x", "w", "b");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    qp_encodings *e = qp_encodings_new(g->n_tensors);
    float sx = 0.05f, sy = 0.01f;
    int32_t zx = 100, zy = 128;
    float wmin[2] = {-0.71f, 0.0f}, wmax[2] = {0.30f, 1.0f};
    assert_int_equal(qp_encodings_set(e, x, 8, 0, -1, 1, &sx, &zx), QP_OK);
    assert_int_equal(qp_encodings_set(e, qp_graph_find_tensor(g, "y"), 8, 0, -1, 1, &sy, &zy), QP_OK);
    assert_int_equal(qp_encodings_set_range(e, qp_graph_find_tensor(g, "w"), 8, 1, 0, 2, wmin, wmax), QP_OK);
    const qp_encoding *we = qp_encodings_get(e, qp_graph_find_tensor(g, "w"));
    const float in[2] = {0.512f, -1.234f};
    float want[2];
    for (int c = 0; c < 2; c++) {
        float acc = 0;
        for (int k = 0; k < 2; k++)
            acc += qp_fake_quant(in[k], sx, zx, 0, 255) * qp_fake_quant(w[c * 2 + k], we->scale[c], 0, -127, 127);
        float bs = sx * we->scale[c];
        acc += nearbyintf(b[c] / bs) * bs;
        want[c] = qp_fake_quant(acc, sy, zy, 0, 255);
    }
    for (int mode = QP_MODE_QUANTSIM; mode <= QP_MODE_INT8; mode++) {
        qp_plan *plan = make_plan(g, (qp_engine_mode)mode, e, &xs, 1);
        int64_t n;
        float *y = run_copy(plan, in, &n);
        assert_int_equal(n, 2);
        for (int c = 0; c < 2; c++) assert_true(fabsf(y[c] - want[c]) <= 1e-6f);
        free(y);
        qp_plan_free(plan);
    }
    /* The float formulation (AIMET's) computes the same here: fake-quantized weights, the bias
     * rounded at s_in * s_w[c] and dequantized. */
    qp_input_shape ishape = {"x", xs};
    qp_plan_options fo = {.mode = QP_MODE_QUANTSIM, .n_threads = 1, .input_shapes = &ishape, .n_input_shapes = 1,
                          .encodings = e, .quantsim_float = 1};
    qp_plan *fplan = NULL;
    assert_int_equal(qp_plan_create(g, &fo, &fplan), QP_OK);
    int64_t fn;
    float *fy = run_copy(fplan, in, &fn);
    for (int c = 0; c < 2; c++) assert_true(fabsf(fy[c] - want[c]) <= 1e-6f);
    free(fy);
    qp_plan_free(fplan);
    /* Without an output encoding the Conv is not an int8 node: QUANTSIM runs it in float on the
     * fake-quantized input and weights with the float bias, as INT8 does around its fp32 op. */
    qp_encodings_clear(e, qp_graph_find_tensor(g, "y"));
    for (int c = 0; c < 2; c++) {
        want[c] = b[c];
        for (int k = 0; k < 2; k++)
            want[c] += qp_fake_quant(in[k], sx, zx, 0, 255) * qp_fake_quant(w[c * 2 + k], we->scale[c], 0, -127, 127);
    }
    for (int mode = QP_MODE_QUANTSIM; mode <= QP_MODE_INT8; mode++) {
        qp_plan *plan = make_plan(g, (qp_engine_mode)mode, e, &xs, 1);
        int64_t n;
        float *y = run_copy(plan, in, &n);
        for (int c = 0; c < 2; c++) assert_true(fabsf(y[c] - want[c]) <= 1e-6f);
        assert_int_equal(qp_plan_num_fp32_fallbacks(plan), mode == QP_MODE_INT8);
        free(y);
        qp_plan_free(plan);
    }
    qp_encodings_free(e);
    qp_graph_free(g);
}

/* ---- int8 lowering per op ------------------------------------------------------------------ */

static void test_int8_conv_fused_relu(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape xs = {.rank = 4, .dims = {2, 3, 9, 11}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    init_tensor(g, "w", (qp_shape){.rank = 4, .dims = {8, 3, 3, 3}}, -0.5f, 0.5f);
    init_tensor(g, "b", (qp_shape){.rank = 1, .dims = {8}}, -0.2f, 0.2f);
    qp_node *c = ADD(g, "conv", "Conv", "c", "x", "w", "b");
    const int64_t pads[4] = {1, 1, 1, 1}, strides[2] = {2, 2};
    attr_ints(c, "pads", pads, 4);
    attr_ints(c, "strides", strides, 2);
    ADD(g, "relu", "Relu", "y", "c");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    check_int8_vs_quantsim(g, &xs, 1, 1.0);
    qp_graph_free(g);
}

static void test_int8_depthwise_clip_and_grouped(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape xs = {.rank = 4, .dims = {1, 4, 10, 10}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    init_tensor(g, "wd", (qp_shape){.rank = 4, .dims = {4, 1, 3, 3}}, -1.0f, 1.0f);
    init_tensor(g, "wg", (qp_shape){.rank = 4, .dims = {6, 2, 1, 1}}, -1.0f, 1.0f);
    const float lo = 0.0f, hi = 1.5f;
    init_values(g, "lo", (qp_shape){.rank = 0}, &lo);
    init_values(g, "hi", (qp_shape){.rank = 0}, &hi);
    qp_node *d = ADD(g, "dw", "Conv", "d", "x", "wd");
    const int64_t pads[4] = {1, 1, 1, 1};
    attr_ints(d, "pads", pads, 4);
    attr_int(d, "group", 4);
    ADD(g, "clip", "Clip", "dc", "d", "lo", "hi");
    qp_node *gc = ADD(g, "grouped", "Conv", "y", "dc", "wg");
    attr_int(gc, "group", 2);
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    check_int8_vs_quantsim(g, &xs, 1, 1.0);
    qp_graph_free(g);
}

static void test_int8_gemm_matmul(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape xs = {.rank = 2, .dims = {3, 16}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    init_tensor(g, "w1", (qp_shape){.rank = 2, .dims = {12, 16}}, -0.5f, 0.5f); /* transB = 1 */
    init_tensor(g, "b1", (qp_shape){.rank = 1, .dims = {12}}, -0.5f, 0.5f);
    init_tensor(g, "w2", (qp_shape){.rank = 2, .dims = {12, 7}}, -0.5f, 0.5f);  /* transB = 0 */
    init_tensor(g, "b2", (qp_shape){.rank = 2, .dims = {1, 7}}, -0.5f, 0.5f);
    init_tensor(g, "w3", (qp_shape){.rank = 2, .dims = {7, 5}}, -0.5f, 0.5f);
    qp_node *g1 = ADD(g, "fc1", "Gemm", "h1", "x", "w1", "b1");
    attr_int(g1, "transB", 1);
    ADD(g, "relu", "Relu", "h1r", "h1");
    ADD(g, "fc2", "Gemm", "h2", "h1r", "w2", "b2");
    ADD(g, "mm", "MatMul", "y", "h2", "w3");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    check_int8_vs_quantsim(g, &xs, 1, 1.0);
    qp_graph_free(g);
}

static void test_int8_add_broadcast(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape xs = {.rank = 4, .dims = {2, 4, 5, 5}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    init_tensor(g, "bias", (qp_shape){.rank = 4, .dims = {1, 4, 1, 1}}, -1.0f, 1.0f);
    init_tensor(g, "row", (qp_shape){.rank = 1, .dims = {5}}, -3.0f, 3.0f);
    ADD(g, "sig", "Sigmoid", "s", "x");
    ADD(g, "add_c", "Add", "a", "x", "bias");     /* per-channel constant */
    ADD(g, "add_s", "Add", "b", "a", "s");        /* same shape, different encodings */
    ADD(g, "add_r", "Add", "c", "row", "b");      /* broadcast on the left */
    ADD(g, "relu", "Relu", "y", "c");             /* fused into the last Add */
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    /* Quantsim rounds a' + b' once in float, int8 adds in fixed point: a tie can land either way. */
    check_int8_vs_quantsim(g, &xs, 1, 1.0);
    qp_graph_free(g);
}

static void test_int8_pools(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape xs = {.rank = 4, .dims = {1, 3, 13, 12}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    qp_node *mp = ADD(g, "maxpool", "MaxPool", "m", "x");
    const int64_t k3[2] = {3, 3}, s2[2] = {2, 2}, p1[4] = {1, 1, 1, 1}, k2[2] = {2, 2};
    attr_ints(mp, "kernel_shape", k3, 2);
    attr_ints(mp, "strides", s2, 2);
    attr_ints(mp, "pads", p1, 4);
    attr_int(mp, "ceil_mode", 1);
    qp_node *ap = ADD(g, "avgpool", "AveragePool", "a", "m");
    attr_ints(ap, "kernel_shape", k3, 2);
    attr_ints(ap, "pads", p1, 4);
    qp_node *ap2 = ADD(g, "avgpool_pad", "AveragePool", "a2", "a");
    attr_ints(ap2, "kernel_shape", k2, 2);
    attr_ints(ap2, "pads", p1, 4);
    attr_int(ap2, "count_include_pad", 1);
    ADD(g, "gap", "GlobalAveragePool", "y", "a2");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    check_int8_vs_quantsim(g, &xs, 1, 1.0);
    qp_graph_free(g);
}

/* 1 when the plan's step for node `name` writes its output into its input's buffer, 0 when it
 * has its own buffer, -1 when no step runs the node. */
static int step_runs_in_place(const qp_plan *plan, const qp_graph *g, const char *name) {
    for (int si = 0; si < plan->n_steps; si++) {
        const qp_plan_step *st = &plan->steps[si];
        if (st->node_id < 0 || strcmp(g->nodes[st->node_id].name, name) != 0 || st->n_in < 1 || st->n_out < 1) continue;
        return plan->values[st->in[0]].data == plan->values[st->out[0]].data;
    }
    return -1;
}

static void test_int8_concat_shape_and_tables(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape xs = {.rank = 4, .dims = {2, 3, 4, 5}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    const int64_t perm[4] = {0, 1, 3, 2};
    const int64_t shape[3] = {2, 9, 20};
    qp_test_add_initializer(g, "dummy", &(qp_shape){.rank = 1, .dims = {1}}, (const float[]){0});
    int sh = qp_graph_get_or_add_tensor(g, "shape");
    int64_t *shape_data = malloc(sizeof shape);
    memcpy(shape_data, shape, sizeof shape);
    qp_tensor_set_data(g->tensors[sh], QP_DT_INT64, &(qp_shape){.rank = 1, .dims = {3}}, shape_data, sizeof shape);
    ADD(g, "hswish", "HardSwish", "h", "x");
    ADD(g, "tanh", "Tanh", "t", "x");
    qp_node *lr = ADD(g, "leaky", "LeakyRelu", "l", "x");
    attr_float(lr, "alpha", 0.1f);
    qp_node *tr = ADD(g, "transpose", "Transpose", "tt", "t");
    attr_ints(tr, "perm", perm, 4);
    qp_node *tr2 = ADD(g, "transpose_back", "Transpose", "tb", "tt");
    attr_ints(tr2, "perm", perm, 4);
    qp_node *cat = ADD(g, "concat", "Concat", "c", "h", "tb", "l");
    attr_int(cat, "axis", 1);
    ADD(g, "reshape", "Reshape", "r", "c", "shape");
    qp_node *fl = ADD(g, "flatten", "Flatten", "y", "r");
    attr_int(fl, "axis", 1);
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    check_int8_vs_quantsim(g, &xs, 1, 0.0); /* tables and data movement are exact */
    /* Reshape and Flatten relabel bytes: they run in their input's buffer (the input dies there). */
    float samples[120];
    for (int i = 0; i < 120; i++) samples[i] = frand(-2.0f, 2.0f);
    qp_encodings *e = calibrate(g, &xs, samples, 1, 120);
    qp_plan *plan = make_plan(g, QP_MODE_INT8, e, &xs, 1);
    assert_int_equal(step_runs_in_place(plan, g, "reshape"), 1);
    assert_int_equal(step_runs_in_place(plan, g, "flatten"), 1);
    assert_int_equal(step_runs_in_place(plan, g, "transpose"), 0); /* moves bytes */
    qp_plan_free(plan);
    plan = make_plan(g, QP_MODE_FP32, NULL, &xs, 1); /* fp32 plans alike */
    assert_int_equal(step_runs_in_place(plan, g, "reshape"), 1);
    assert_int_equal(step_runs_in_place(plan, g, "flatten"), 1);
    assert_int_equal(step_runs_in_place(plan, g, "transpose"), 0);
    qp_plan_free(plan);
    qp_encodings_free(e);
    qp_graph_free(g);
}

/* BatchNormalization and PRelu run as one table per channel, exactly like quantsim. */
static void test_int8_per_channel_tables(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape xs = {.rank = 4, .dims = {2, 5, 3, 4}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    qp_shape c = {.rank = 1, .dims = {5}};
    init_tensor(g, "gamma", c, 0.5f, 2.0f);
    init_tensor(g, "beta", c, -1.0f, 1.0f);
    init_tensor(g, "mean", c, -0.5f, 0.5f);
    init_tensor(g, "var", c, 0.1f, 3.0f);
    init_tensor(g, "slope", (qp_shape){.rank = 3, .dims = {5, 1, 1}}, 0.0f, 0.5f);
    ADD(g, "bn", "BatchNormalization", "b", "x", "gamma", "beta", "mean", "var");
    ADD(g, "prelu", "PRelu", "y", "b", "slope");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    check_int8_vs_quantsim(g, &xs, 1, 0.0);
    qp_graph_free(g);
}

/* A graph with an op the int8 engine lacks still runs, converting around it, and the report
 * names it; int8 and quantsim agree. */
static void test_int8_fallback_report(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape xs = {.rank = 2, .dims = {4, 10}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    init_tensor(g, "w", (qp_shape){.rank = 2, .dims = {10, 6}}, -1.0f, 1.0f);
    ADD(g, "fc", "MatMul", "logits", "x", "w");
    ADD(g, "prob", "LogSoftmax", "p", "logits");
    ADD(g, "lrn_like", "Exp", "e", "p");
    ADD(g, "out", "Relu", "y", "e");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    check_int8_vs_quantsim(g, &xs, 0, 1.0);
    qp_shape s = xs;
    float samples[40];
    for (int i = 0; i < 40; i++) samples[i] = frand(-1, 1);
    qp_encodings *e = calibrate(g, &s, samples, 1, 40);
    qp_plan *plan = make_plan(g, QP_MODE_INT8, e, &s, 1);
    assert_int_equal(qp_plan_num_fp32_fallbacks(plan), 2);
    assert_string_equal(g->nodes[qp_plan_fp32_fallback_node(plan, 0)].name, "prob");
    assert_non_null(strstr(qp_plan_fp32_fallback_reason(plan, 0), "no int8 implementation of LogSoftmax"));
    char buf[256];
    size_t len = qp_plan_fp32_fallback_summary(plan, buf, sizeof buf);
    assert_string_equal(buf, "LogSoftmax (1 node: 'prob'), Exp (1 node: 'lrn_like')");
    assert_int_equal(len, strlen(buf));
    char tiny[8];
    assert_int_equal(qp_plan_fp32_fallback_summary(plan, tiny, sizeof tiny), len); /* truncates safely */
    assert_int_equal(strlen(tiny), 7);
    assert_int_equal(qp_plan_num_int8_nodes(plan), 2); /* MatMul, Relu */
    qp_plan_free(plan);
    qp_encodings_free(e);
    qp_graph_free(g);
}

/* Same inputs and thread count: bit-identical outputs; int8 also across 1 and 2 threads. */
static void test_determinism(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape xs = {.rank = 4, .dims = {2, 8, 16, 16}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    init_tensor(g, "w1", (qp_shape){.rank = 4, .dims = {16, 8, 3, 3}}, -0.3f, 0.3f);
    init_tensor(g, "w2", (qp_shape){.rank = 4, .dims = {16, 1, 3, 3}}, -0.5f, 0.5f);
    init_tensor(g, "w3", (qp_shape){.rank = 2, .dims = {10, 16}}, -0.5f, 0.5f);
    qp_node *c1 = ADD(g, "c1", "Conv", "a", "x", "w1");
    const int64_t pads[4] = {1, 1, 1, 1};
    attr_ints(c1, "pads", pads, 4);
    ADD(g, "r1", "Relu", "ar", "a");
    qp_node *c2 = ADD(g, "c2", "Conv", "b", "ar", "w2");
    attr_ints(c2, "pads", pads, 4);
    attr_int(c2, "group", 16);
    ADD(g, "add", "Add", "s", "b", "ar");
    ADD(g, "gap", "GlobalAveragePool", "p", "s");
    qp_node *fl = ADD(g, "flat", "Flatten", "f", "p");
    attr_int(fl, "axis", 1);
    qp_node *fc = ADD(g, "fc", "Gemm", "y", "f", "w3");
    attr_int(fc, "transB", 1);
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    int64_t per = qp_shape_numel(&xs);
    float *x = malloc((size_t)per * sizeof *x);
    for (int64_t i = 0; i < per; i++) x[i] = frand(-1, 1);
    qp_encodings *e = calibrate(g, &xs, x, 1, per);
    float *ref[3] = {NULL, NULL, NULL};
    for (int mode = QP_MODE_FP32; mode <= QP_MODE_INT8; mode++) {
        qp_plan *p2 = make_plan(g, (qp_engine_mode)mode, e, &xs, 2);
        int64_t n;
        float *a = run_copy(p2, x, &n), *b = run_copy(p2, x, &n);
        assert_memory_equal(a, b, (size_t)n * sizeof *a);
        ref[mode] = a;
        free(b);
        qp_plan_free(p2);
    }
    qp_plan *p1 = make_plan(g, QP_MODE_INT8, e, &xs, 1);
    int64_t n;
    float *one = run_copy(p1, x, &n);
    assert_memory_equal(one, ref[QP_MODE_INT8], (size_t)n * sizeof *one);
    assert_int_equal(qp_plan_num_fp32_fallbacks(p1), 0);
    free(one);
    qp_plan_free(p1);
    for (int m = 0; m < 3; m++) free(ref[m]);
    free(x);
    qp_encodings_free(e);
    qp_graph_free(g);
}

/* Few channels and small planes: the int8 engine splits depthwise and pooling planes by output
 * rows, and the convolutions' GEMM by rows of W; any thread count gives the same bytes. */
static void test_determinism_row_splits(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape xs = {.rank = 4, .dims = {1, 3, 30, 28}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    init_tensor(g, "wd", (qp_shape){.rank = 4, .dims = {3, 1, 3, 3}}, -1.0f, 1.0f);
    init_tensor(g, "bd", (qp_shape){.rank = 1, .dims = {3}}, -0.2f, 0.2f);
    init_tensor(g, "w1", (qp_shape){.rank = 4, .dims = {32, 3, 3, 3}}, -0.5f, 0.5f);
    init_tensor(g, "w2", (qp_shape){.rank = 4, .dims = {24, 32, 1, 1}}, -0.3f, 0.3f);
    init_tensor(g, "w3", (qp_shape){.rank = 2, .dims = {10, 24}}, -0.5f, 0.5f);
    const int64_t pads[4] = {1, 1, 1, 1}, k3[2] = {3, 3}, s2[2] = {2, 2};
    qp_node *d = ADD(g, "dw", "Conv", "d", "x", "wd", "bd");
    attr_ints(d, "pads", pads, 4);
    attr_int(d, "group", 3);
    ADD(g, "r0", "Relu", "dr", "d");
    qp_node *mp = ADD(g, "maxpool", "MaxPool", "m", "dr");
    attr_ints(mp, "kernel_shape", k3, 2);
    attr_ints(mp, "strides", s2, 2);
    attr_ints(mp, "pads", pads, 4);
    qp_node *ap = ADD(g, "avgpool", "AveragePool", "a", "m");
    attr_ints(ap, "kernel_shape", k3, 2);
    attr_ints(ap, "pads", pads, 4);
    qp_node *c1 = ADD(g, "c1", "Conv", "c", "a", "w1"); /* 32 x 8x7: few columns for the GEMM */
    attr_ints(c1, "pads", pads, 4);
    attr_ints(c1, "strides", s2, 2);
    ADD(g, "r1", "Relu", "cr", "c");
    ADD(g, "pw", "Conv", "p", "cr", "w2");
    ADD(g, "gap", "GlobalAveragePool", "q", "p");
    qp_node *fl = ADD(g, "flat", "Flatten", "f", "q");
    attr_int(fl, "axis", 1);
    qp_node *fc = ADD(g, "fc", "Gemm", "y", "f", "w3");
    attr_int(fc, "transB", 1);
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    int64_t per = qp_shape_numel(&xs);
    float *x = malloc((size_t)per * sizeof *x);
    for (int64_t i = 0; i < per; i++) x[i] = frand(-1, 1);
    qp_encodings *e = calibrate(g, &xs, x, 1, per);
    qp_plan *p1 = make_plan(g, QP_MODE_INT8, e, &xs, 1);
    assert_int_equal(qp_plan_num_fp32_fallbacks(p1), 0);
    int64_t n;
    float *one = run_copy(p1, x, &n);
    for (int threads = 2; threads <= 5; threads++) {
        qp_plan *pt = make_plan(g, QP_MODE_INT8, e, &xs, threads);
        int64_t nt;
        float *many = run_copy(pt, x, &nt);
        assert_int_equal(nt, n);
        assert_memory_equal(one, many, (size_t)n * sizeof *one);
        free(many);
        qp_plan_free(pt);
    }
    free(one);
    qp_plan_free(p1);
    free(x);
    qp_encodings_free(e);
    qp_graph_free(g);
}

/* Encodings that do not fit the tensor are an error naming it; per-channel activation encodings
 * run in quantsim and make INT8 fall back with a reason. */
static void test_encoding_errors_and_per_channel_activations(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape xs = {.rank = 4, .dims = {1, 3, 2, 2}};
    int x = qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    ADD(g, "sig", "Sigmoid", "y", "x");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    qp_encodings *e = qp_encodings_new(g->n_tensors);
    const float mn[4] = {-1, -1, -1, -1}, mx[4] = {1, 2, 3, 4};
    assert_int_equal(qp_encodings_set_range(e, x, 8, 0, 1, 4, mn, mx), QP_OK); /* 4 channels, dim is 3 */
    qp_input_shape in = {"x", xs};
    qp_plan_options o = {.mode = QP_MODE_QUANTSIM, .n_threads = 1, .input_shapes = &in, .n_input_shapes = 1,
                         .encodings = e};
    qp_plan *plan = NULL;
    assert_int_equal(qp_plan_create(g, &o, &plan), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "tensor 'x'"));
    assert_int_equal(qp_encodings_set_range(e, x, 8, 0, 1, 3, mn, mx), QP_OK);
    assert_int_equal(qp_encodings_set_range(e, qp_graph_find_tensor(g, "y"), 8, 0, -1, 1, mn, mx), QP_OK);
    float in_x[12];
    for (int i = 0; i < 12; i++) in_x[i] = (float)i * 0.3f - 1.0f;
    o.mode = QP_MODE_INT8;
    assert_int_equal(qp_plan_create(g, &o, &plan), QP_OK);
    assert_int_equal(qp_plan_num_fp32_fallbacks(plan), 1);
    assert_non_null(strstr(qp_plan_fp32_fallback_reason(plan, 0), "per-channel"));
    int64_t n;
    float *a = run_copy(plan, in_x, &n);
    qp_plan_free(plan);
    o.mode = QP_MODE_QUANTSIM;
    assert_int_equal(qp_plan_create(g, &o, &plan), QP_OK);
    float *b = run_copy(plan, in_x, &n);
    assert_memory_equal(a, b, (size_t)n * sizeof *a);
    /* channel 0 covers [-1, 1]: 1.4 clamps to the top of that range. */
    assert_true(fabsf(b[0] - qp_fake_quant(1.0f / (1.0f + expf(1.0f)), qp_encodings_get(e, g->outputs[0])->scale[0],
                                           qp_encodings_get(e, g->outputs[0])->zero_point[0], 0, 255)) < 1e-6f);
    free(a);
    free(b);
    qp_plan_free(plan);
    qp_encodings_free(e);
    qp_graph_free(g);
}

/* ---- real models ------------------------------------------------------------------------------ */

/* Folds each BatchNormalization that directly follows a Conv into the Conv (test-local stand-in
 * for the fold_bn pass): the Conv then writes the BN's output, and the BN node is neutralized
 * into an Identity of a constant that folds away at plan time. */
static void fold_batchnorm(qp_graph *g) {
    int folded = 0;
    for (int id = 0; id < g->n_nodes; id++) {
        qp_node *bn = &g->nodes[id];
        if (strcmp(bn->op_type, "BatchNormalization") != 0) continue;
        const qp_tensor *x = g->tensors[bn->inputs[0]];
        if (x->producer < 0 || x->n_consumers != 1) continue;
        qp_node *conv = &g->nodes[x->producer];
        if (strcmp(conv->op_type, "Conv") != 0) continue;
        qp_tensor *w = g->tensors[conv->inputs[1]];
        int have_data = w->data != NULL;
        for (int k = 1; k < 5; k++) have_data &= g->tensors[bn->inputs[k]]->data != NULL;
        if (!have_data) continue; /* weights from Constant nodes: leave the BN in place */
        const float *gamma = g->tensors[bn->inputs[1]]->data, *beta = g->tensors[bn->inputs[2]]->data;
        const float *mean = g->tensors[bn->inputs[3]]->data, *var = g->tensors[bn->inputs[4]]->data;
        float eps = qp_node_attr_float(bn, "epsilon", 1e-5f);
        int64_t c_out = w->shape.dims[0], per = qp_shape_numel(&w->shape) / c_out;
        float *wd = w->data;
        float *bias = calloc((size_t)c_out, sizeof *bias);
        const float *old_b = conv->n_inputs > 2 && conv->inputs[2] >= 0 ? g->tensors[conv->inputs[2]]->data : NULL;
        for (int64_t c = 0; c < c_out; c++) {
            float k = gamma[c] / sqrtf(var[c] + eps);
            for (int64_t i = 0; i < per; i++) wd[c * per + i] *= k;
            bias[c] = ((old_b ? old_b[c] : 0.0f) - mean[c]) * k + beta[c];
        }
        char name[64];
        snprintf(name, sizeof name, "folded_bias_%d", folded);
        int b_id = qp_test_add_initializer(g, name, &(qp_shape){.rank = 1, .dims = {c_out}}, bias);
        free(bias);
        conv = &g->nodes[x->producer]; /* tensors may have grown; nodes did not move */
        if (conv->n_inputs < 3) {
            conv->inputs = realloc(conv->inputs, 3 * sizeof *conv->inputs);
            conv->n_inputs = 3;
        }
        conv->inputs[2] = b_id;
        conv->outputs[0] = bn->outputs[0];
        snprintf(name, sizeof name, "folded_dead_%d", folded);
        int dead = qp_graph_get_or_add_tensor(g, name);
        bn->inputs[0] = b_id;
        bn->n_inputs = 1;
        bn->outputs[0] = dead;
        free(bn->op_type);
        bn->op_type = strdup("Identity");
        folded++;
    }
    finalize(g);
}

/* Fashion-MNIST preprocessing (examples/fashion_mnist/README.md). */
static float *fashion_images(const char *path, int64_t count) {
    qp_idx idx;
    if (qp_idx_read(path, count, &idx) != QP_OK) return NULL;
    const uint8_t *p = idx.data;
    float *x = malloc((size_t)count * 784 * sizeof *x);
    const float scale = 1.0f / 255.0f, mean = 0.2860f, std = 0.3530f;
    for (int64_t i = 0; i < count * 784; i++) x[i] = ((float)p[i] * scale - mean) / std;
    qp_idx_free(&idx);
    return x;
}

typedef struct agreement {
    int n, top1_same, top1_fp32_vs_qs;
    double worst_steps;
    double sq_int8_qs, sq_qs_fp32; /* summed squared differences of the outputs */
} agreement;

/* Runs fp32, quantsim and int8 over n samples in batches; counts top-1 agreement. */
static agreement compare_modes(const qp_graph *g, const qp_encodings *e, const float *x, int n, int batch,
                               const qp_shape *sample_shape) {
    agreement a = {0};
    qp_shape bs = *sample_shape;
    bs.dims[0] = batch;
    int64_t per = qp_shape_numel(sample_shape);
    qp_plan *p[3];
    for (int m = 0; m < 3; m++) p[m] = make_plan(g, (qp_engine_mode)m, e, &bs, 1);
    const qp_encoding *oe = qp_encodings_get(e, g->outputs[0]);
    for (int s = 0; s + batch <= n; s += batch) {
        float *y[3];
        int64_t ny = 0;
        for (int m = 0; m < 3; m++) y[m] = run_copy(p[m], x + (int64_t)s * per, &ny);
        int64_t classes = ny / batch;
        for (int b = 0; b < batch; b++) {
            int64_t t0 = argmax(y[0] + b * classes, classes), t1 = argmax(y[1] + b * classes, classes),
                    t2 = argmax(y[2] + b * classes, classes);
            a.top1_same += t1 == t2;
            a.top1_fp32_vs_qs += t0 == t1;
            a.n++;
        }
        if (oe) {
            double d = max_steps(y[1], y[2], ny, oe->scale[0]);
            if (d > a.worst_steps) a.worst_steps = d;
        }
        for (int64_t i = 0; i < ny; i++) {
            a.sq_int8_qs += ((double)y[2][i] - y[1][i]) * ((double)y[2][i] - y[1][i]);
            a.sq_qs_fp32 += ((double)y[1][i] - y[0][i]) * ((double)y[1][i] - y[0][i]);
        }
        for (int m = 0; m < 3; m++) free(y[m]);
    }
    for (int m = 0; m < 3; m++) qp_plan_free(p[m]);
    return a;
}

static void test_example_model_agreement(void **state) {
    (void)state;
    const char *test_images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    const char *train_images = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
    if (!qp_test_file_exists(test_images) || !qp_test_file_exists(train_images)) {
        print_message("SKIP: %s not found (Debian package dataset-fashion-mnist)\n", test_images);
        skip();
    }
    const int n_cal = 256, n_eval = 1000, batch = 100;
    float *cal = fashion_images(train_images, n_cal), *eval = fashion_images(test_images, n_eval);
    assert_non_null(cal);
    assert_non_null(eval);
    qp_shape one = {.rank = 4, .dims = {1, 1, 28, 28}}, calb = {.rank = 4, .dims = {64, 1, 28, 28}};
    for (int folded = 0; folded < 2; folded++) {
        qp_graph *g = NULL;
        assert_int_equal(qp_onnx_load(QP_SOURCE_DIR "/examples/fashion_mnist/model.onnx", &g), QP_OK);
        if (folded) fold_batchnorm(g);
        qp_encodings *e = calibrate(g, &calb, cal, n_cal / 64, 64 * 784);
        agreement a = compare_modes(g, e, eval, n_eval, batch, &one);
        qp_plan *q8 = make_plan(g, QP_MODE_INT8, e, &one, 1);
        char buf[512];
        qp_plan_fp32_fallback_summary(q8, buf, sizeof buf);
        print_message("fashion_mnist (%s BN): int8 vs quantsim top-1 %d/%d, fp32 vs quantsim %d/%d, logits within "
                      "%.2f steps, |int8 - quantsim| / |quantsim - fp32| = %.3f; int8 nodes %d, fp32: %s\n",
                      folded ? "folded" : "unfolded", a.top1_same, a.n, a.top1_fp32_vs_qs, a.n, a.worst_steps,
                      sqrt(a.sq_int8_qs / (a.sq_qs_fp32 > 0 ? a.sq_qs_fp32 : 1)), qp_plan_num_int8_nodes(q8),
                      buf[0] ? buf : "none");
        assert_int_equal(qp_plan_num_fp32_fallbacks(q8), 0); /* unfolded BN runs as per-channel tables */
        qp_plan_free(q8);
        assert_true(a.top1_same * 1000 >= a.n * 995);        /* >= 99.5% */
        assert_true(a.top1_fp32_vs_qs * 100 >= a.n * 95);    /* quantsim close to fp32 */
        /* QUANTSIM simulates the int8 arithmetic exactly (up to float sums > 2^24) */
        assert_int_equal(a.top1_same, a.n);
        assert_true(a.worst_steps <= 1.0 + 1e-3);
        assert_true(a.sq_int8_qs <= 0.01 * 0.01 * a.sq_qs_fp32);
        qp_encodings_free(e);
        qp_graph_free(g);
    }
    free(cal);
    free(eval);
}

/* Shared models on their reference inputs: int8 and quantsim give the same top-1 and close
 * logits. Calibration uses the same reference inputs (a handful: enough for a consistency check,
 * not for accuracy). */
static void check_shared_model(const char *folder) {
    char rel[512], path[4096];
    snprintf(rel, sizeof rel, "models/%s/model.onnx", folder);
    QP_REQUIRE_SHARED(rel);
    qp_graph *g = NULL;
    assert_int_equal(qp_onnx_load(qp_test_shared_path(rel, path), &g), QP_OK);
    fold_batchnorm(g);
    float *all = NULL;
    qp_shape shape = {0};
    int n = 0;
    int64_t per = 0;
    for (;; n++) {
        snprintf(rel, sizeof rel, "models/%s/ref/input_%d.npy", folder, n);
        if (!qp_test_file_exists(qp_test_shared_path(rel, path))) break;
        float *x = NULL;
        assert_int_equal(qp_npy_read_f32(path, &x, &shape), QP_OK);
        per = qp_shape_numel(&shape);
        all = realloc(all, (size_t)((n + 1) * per) * sizeof *all);
        memcpy(all + n * per, x, (size_t)per * sizeof *x);
        free(x);
    }
    assert_true(n > 0);
    qp_encodings *e = calibrate(g, &shape, all, n, per);
    agreement a = compare_modes(g, e, all, n, 1, &shape);
    qp_plan *q8 = make_plan(g, QP_MODE_INT8, e, &shape, 1);
    char buf[1024];
    qp_plan_fp32_fallback_summary(q8, buf, sizeof buf);
    print_message("%s: int8 vs quantsim top-1 %d/%d, fp32 vs quantsim %d/%d, output within %.2f steps, |int8 - "
                  "quantsim| / |quantsim - fp32| = %.3f; int8 nodes %d, fp32: %s\n",
                  folder, a.top1_same, a.n, a.top1_fp32_vs_qs, a.n, a.worst_steps,
                  sqrt(a.sq_int8_qs / (a.sq_qs_fp32 > 0 ? a.sq_qs_fp32 : 1)), qp_plan_num_int8_nodes(q8),
                  buf[0] ? buf : "none");
    qp_plan_free(q8);
    assert_int_equal(a.top1_same, a.n);
    assert_true(a.sq_int8_qs <= 0.05 * 0.05 * a.sq_qs_fp32);
    qp_encodings_free(e);
    free(all);
    qp_graph_free(g);
}

static void test_shared_mobilenetv2(void **state) { (void)state; check_shared_model("mobilenetv2-12"); }
static void test_shared_squeezenet(void **state) { (void)state; check_shared_model("squeezenet1.1"); }
static void test_shared_shufflenet(void **state) { (void)state; check_shared_model("shufflenet-v2-12"); }
static void test_shared_mnist(void **state) { (void)state; check_shared_model("mnist-8"); }
static void test_shared_ppocr(void **state) { (void)state; check_shared_model("ppocr-cls"); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_quant_rounding),
        cmocka_unit_test(test_quantsim_conv_weights_and_bias),
        cmocka_unit_test(test_int8_conv_fused_relu),
        cmocka_unit_test(test_int8_depthwise_clip_and_grouped),
        cmocka_unit_test(test_int8_gemm_matmul),
        cmocka_unit_test(test_int8_add_broadcast),
        cmocka_unit_test(test_int8_pools),
        cmocka_unit_test(test_int8_concat_shape_and_tables),
        cmocka_unit_test(test_int8_per_channel_tables),
        cmocka_unit_test(test_int8_fallback_report),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_determinism_row_splits),
        cmocka_unit_test(test_encoding_errors_and_per_channel_activations),
        cmocka_unit_test(test_example_model_agreement),
        cmocka_unit_test(test_shared_mobilenetv2),
        cmocka_unit_test(test_shared_squeezenet),
        cmocka_unit_test(test_shared_shufflenet),
        cmocka_unit_test(test_shared_mnist),
        cmocka_unit_test(test_shared_ppocr),
    };
    const char *filter = getenv("QP_TEST_FILTER"); /* e.g. QP_TEST_FILTER='test_shared_*' */
    if (filter && *filter) cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
