/* test_qdq.c — QDQ export and import: the file computes what the engine computes, encodings survive export -> import, opset upgrades, TensorRT mode, QOperator models, the shared quantized models. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#include "data/npy.h"
#include "engine/engine.h"
#include "onnx/onnx_export.h"
#include "onnx/onnx_import.h"
#include "quant/qdq_export.h"
#include "quant/qdq_import.h"
#include "session/session.h"

#define assert_ok(expr)                                                                        \
    do {                                                                                       \
        qp_status st_ = (expr);                                                                \
        if (st_ != QP_OK) fail_msg("%s -> %d: %s", #expr, (int)st_, qp_error_message());       \
    } while (0)

/* ---- graph building -------------------------------------------------------------------------- */

static void set_opset(qp_graph *g, int64_t v) {
    g->opsets = calloc(1, sizeof *g->opsets);
    g->opsets[0].domain = strdup("");
    g->opsets[0].version = v;
    g->n_opsets = 1;
    g->ir_version = 7;
}

static int node(qp_graph *g, const char *name, const char *op, const char *const *ins, int n_in, const char *out) {
    int in_ids[16], out_id = qp_graph_get_or_add_tensor(g, out);
    for (int i = 0; i < n_in; i++) in_ids[i] = ins[i] ? qp_graph_get_or_add_tensor(g, ins[i]) : -1;
    int id = qp_graph_add_node(g, name, op, "", in_ids, n_in, &out_id, 1);
    assert_true(id >= 0);
    return id;
}

static void attr_int(qp_graph *g, int id, const char *name, int64_t v) {
    qp_attr *a = qp_node_add_attr(&g->nodes[id], name, QP_ATTR_INT);
    a->i = v;
}

static void attr_ints(qp_graph *g, int id, const char *name, const int64_t *v, int n) {
    qp_attr *a = qp_node_add_attr(&g->nodes[id], name, QP_ATTR_INTS);
    a->ints = malloc((size_t)n * sizeof *a->ints);
    memcpy(a->ints, v, (size_t)n * sizeof *a->ints);
    a->n = n;
}

static void attr_float(qp_graph *g, int id, const char *name, float v) {
    qp_attr *a = qp_node_add_attr(&g->nodes[id], name, QP_ATTR_FLOAT);
    a->f = v;
}

static uint32_t lcg = 12345;
static float frand(void) {
    lcg = lcg * 1664525u + 1013904223u;
    return (float)(lcg >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

static void init_random(qp_graph *g, const char *name, qp_shape shape, float scale) {
    int64_t n = qp_shape_numel(&shape);
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = frand() * scale;
    qp_test_add_initializer(g, name, &shape, v);
    free(v);
}

/* x[N,3,8,8] -> Conv(w,b) -> c -> Relu -> r -> Conv depthwise(w2,b2) -> d -> Clip(0,6) -> e
 *   -> Add(e, r) -> a -> GlobalAveragePool -> p -> Flatten -> f -> Gemm(w3^T, b3) -> out */
static qp_graph *small_cnn(void) {
    qp_graph *g = qp_graph_new();
    set_opset(g, 13);
    qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 4, .dims = {-1, 3, 8, 8}});
    init_random(g, "w", (qp_shape){.rank = 4, .dims = {4, 3, 3, 3}}, 0.5f);
    init_random(g, "b", (qp_shape){.rank = 1, .dims = {4}}, 0.2f);
    init_random(g, "w2", (qp_shape){.rank = 4, .dims = {4, 1, 3, 3}}, 0.7f);
    init_random(g, "b2", (qp_shape){.rank = 1, .dims = {4}}, 0.1f);
    init_random(g, "w3", (qp_shape){.rank = 2, .dims = {5, 4}}, 1.0f);
    init_random(g, "b3", (qp_shape){.rank = 1, .dims = {5}}, 0.3f);
    float lo = 0.0f, hi = 6.0f;
    qp_test_add_initializer(g, "lo", &(qp_shape){.rank = 0}, &lo);
    qp_test_add_initializer(g, "hi", &(qp_shape){.rank = 0}, &hi);
    static const int64_t pads[4] = {1, 1, 1, 1};
    int c1 = node(g, "conv1", "Conv", (const char *[]){"x", "w", "b"}, 3, "c");
    attr_ints(g, c1, "pads", pads, 4);
    node(g, "relu1", "Relu", (const char *[]){"c"}, 1, "r");
    int c2 = node(g, "dw", "Conv", (const char *[]){"r", "w2", "b2"}, 3, "d");
    attr_ints(g, c2, "pads", pads, 4);
    attr_int(g, c2, "group", 4);
    node(g, "clip", "Clip", (const char *[]){"d", "lo", "hi"}, 3, "e");
    node(g, "add", "Add", (const char *[]){"e", "r"}, 2, "a");
    node(g, "gap", "GlobalAveragePool", (const char *[]){"a"}, 1, "p");
    node(g, "flat", "Flatten", (const char *[]){"p"}, 1, "f");
    int gm = node(g, "fc", "Gemm", (const char *[]){"f", "w3", "b3"}, 3, "out");
    attr_int(g, gm, "transB", 1);
    qp_test_add_output(g, qp_graph_find_tensor(g, "out"));
    assert_ok(qp_graph_finalize(g));
    return g;
}

/* ---- running ------------------------------------------------------------------------------------ */

typedef struct ranges {
    float *min, *max;
    int n;
} ranges;

static void observe(void *user, int t, const qp_value *v) {
    ranges *r = user;
    if (t < 0 || t >= r->n || v->dtype != QP_DT_FLOAT) return;
    const float *x = v->data;
    for (size_t i = 0; i < v->nbytes / sizeof(float); i++) {
        if (x[i] < r->min[t]) r->min[t] = x[i];
        if (x[i] > r->max[t]) r->max[t] = x[i];
    }
}

static float *make_input(int64_t n) {
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++) x[i] = frand() * 2.0f;
    return x;
}

/* Runs g once in mode on input x (batch 2); returns a copy of output 0. */
static float *run(const qp_graph *g, const qp_encodings *enc, qp_engine_mode mode, const float *x, int64_t *n_out) {
    qp_plan_options o = {.mode = mode, .batch = 2, .n_threads = 1, .encodings = enc};
    qp_plan *plan = NULL;
    assert_ok(qp_plan_create(g, &o, &plan));
    qp_value *in = qp_plan_input(plan, 0);
    memcpy(in->data, x, in->nbytes);
    assert_ok(qp_plan_run(plan));
    const qp_value *out = qp_plan_output(plan, 0);
    float *copy = malloc(out->nbytes);
    memcpy(copy, out->data, out->nbytes);
    *n_out = (int64_t)(out->nbytes / sizeof(float));
    qp_plan_free(plan);
    return copy;
}

/* Calibrates g on x: asymmetric 8-bit activations (every float non-constant tensor), symmetric
 * per-channel weights on the given axis for each named weight. */
static qp_encodings *calibrate(const qp_graph *g, const float *x, const char *const *weights, const int *axes, int n_weights,
                               int act_bits, int act_symmetric) {
    ranges r = {calloc((size_t)g->n_tensors, sizeof(float)), calloc((size_t)g->n_tensors, sizeof(float)), g->n_tensors};
    for (int t = 0; t < g->n_tensors; t++) r.min[t] = INFINITY, r.max[t] = -INFINITY;
    qp_plan_options o = {.mode = QP_MODE_FP32, .batch = 2, .n_threads = 1, .observer = observe, .observer_user = &r};
    qp_plan *plan = NULL;
    assert_ok(qp_plan_create(g, &o, &plan));
    qp_value *in = qp_plan_input(plan, 0);
    memcpy(in->data, x, in->nbytes);
    observe(&r, g->inputs[0], in);
    assert_ok(qp_plan_run(plan));
    qp_encodings *enc = qp_encodings_new(g->n_tensors);
    for (int t = 0; t < g->n_tensors; t++) {
        const qp_tensor *tensor = g->tensors[t];
        if (tensor->is_initializer || !(r.max[t] >= r.min[t])) continue;
        assert_ok(qp_encodings_set_range(enc, t, act_bits, act_symmetric, -1, 1, &r.min[t], &r.max[t]));
    }
    for (int k = 0; k < n_weights; k++) {
        int t = qp_graph_find_tensor(g, weights[k]);
        const qp_tensor *w = g->tensors[t];
        int64_t n = w->shape.dims[axes[k]], inner = 1;
        for (int d = axes[k] + 1; d < w->shape.rank; d++) inner *= w->shape.dims[d];
        float *lo = calloc((size_t)n, sizeof *lo), *hi = calloc((size_t)n, sizeof *hi);
        const float *v = w->data;
        for (int64_t i = 0; i < qp_shape_numel(&w->shape); i++) {
            int64_t c = (i / inner) % n;
            lo[c] = fminf(lo[c], v[i]);
            hi[c] = fmaxf(hi[c], v[i]);
        }
        assert_ok(qp_encodings_set_range(enc, t, 8, 1, axes[k], (int)n, lo, hi));
        free(lo);
        free(hi);
    }
    qp_plan_free(plan);
    free(r.min);
    free(r.max);
    return enc;
}

static qp_encodings *calibrate_cnn(const qp_graph *g, const float *x) {
    static const char *const w[] = {"w", "w2", "w3"};
    static const int axes[] = {0, 0, 0};
    return calibrate(g, x, w, axes, 3, 8, 0);
}

/* Export with the engine's own decisions. */
static qp_graph *export_qdq(const qp_graph *g, const qp_encodings *enc, int activations, int tensorrt, qp_qdq_export_stats *stats,
                            void (*warn)(void *, const char *), void *warn_user) {
    qp_plan_options base = {.batch = 2, .n_threads = 1};
    qp_qdq_decisions dec;
    qp_shape *shapes = NULL;
    assert_ok(qp_qdq_engine_decisions(g, enc, &base, &dec, &shapes));
    qp_qdq_export_config cfg = {.activations = activations, .tensorrt = tensorrt, .decisions = &dec, .shapes = shapes,
                                .warn = warn, .warn_user = warn_user};
    qp_graph *out = NULL;
    assert_ok(qp_qdq_export_graph(g, enc, &cfg, &out, stats));
    qp_qdq_decisions_free(&dec);
    free(shapes);
    return out;
}

/* Serialize and parse again: what a reader of the file sees. */
static qp_graph *through_file(const qp_graph *g) {
    void *bytes;
    size_t n;
    assert_ok(qp_onnx_export_memory(g, NULL, &bytes, &n));
    qp_graph *back = NULL;
    assert_ok(qp_onnx_load_memory(bytes, n, NULL, "qdq", &back));
    free(bytes);
    return back;
}

static const qp_node *find_node_by_output(const qp_graph *g, const char *tensor) {
    int t = qp_graph_find_tensor(g, tensor);
    assert_true(t >= 0);
    assert_true(g->tensors[t]->producer >= 0);
    return &g->nodes[g->tensors[t]->producer];
}

static int count_op(const qp_graph *g, const char *op) {
    int n = 0;
    for (int id = 0; id < g->n_nodes; id++) n += strcmp(g->nodes[id].op_type, op) == 0;
    return n;
}

static const qp_tensor *tensor(const qp_graph *g, const char *name) {
    int t = qp_graph_find_tensor(g, name);
    if (t < 0) fail_msg("no tensor '%s'", name);
    return g->tensors[t];
}

/* ---- export --------------------------------------------------------------------------------------- */

/* The exported file, read back by qpipe's importer, gives the same encodings and the int8 engine
 * computes bit for bit the same outputs; run as plain ONNX (Q/DQ as float reference ops) it
 * computes what QUANTSIM computes. */
static void test_export_import_is_exact(void **state) {
    (void)state;
    qp_graph *g = small_cnn();
    float *x = make_input(2 * 3 * 8 * 8);
    qp_encodings *enc = calibrate_cnn(g, x);
    qp_qdq_export_stats stats;
    qp_graph *q = export_qdq(g, enc, QP_QDQ_ACT_AUTO, 0, &stats, NULL, NULL);
    qp_graph *file = through_file(q);

    int64_t n1, n2, n3, n4;
    float *int8_ref = run(g, enc, QP_MODE_INT8, x, &n1);
    float *qsim_ref = run(g, enc, QP_MODE_QUANTSIM, x, &n2);
    float *file_fp32 = run(file, NULL, QP_MODE_FP32, x, &n3);
    assert_int_equal(n1, 10);
    assert_int_equal(n3, n2);
    for (int64_t i = 0; i < n2; i++)
        if (fabsf(file_fp32[i] - qsim_ref[i]) > 1e-5f * fmaxf(1.0f, fabsf(qsim_ref[i])))
            fail_msg("output %lld: QDQ file in fp32 %g, quantsim %g", (long long)i, file_fp32[i], qsim_ref[i]);

    qp_graph *back = NULL;
    qp_encodings *enc2 = NULL;
    qp_qdq_import_stats istats;
    assert_ok(qp_qdq_import(file, &back, &enc2, &istats));
    assert_int_equal(istats.kept, 0);
    assert_int_equal(istats.weights, 3);
    assert_int_equal(istats.biases, 3);
    float *int8_back = run(back, enc2, QP_MODE_INT8, x, &n4);
    assert_int_equal(n4, n1);
    for (int64_t i = 0; i < n1; i++)
        if (int8_back[i] != int8_ref[i]) fail_msg("int8 output %lld: %g after export/import, %g before", (long long)i, int8_back[i], int8_ref[i]);

    /* Every encoding the engine uses comes back under the same name, bit for bit. */
    for (int t = 0; t < g->n_tensors; t++) {
        const qp_encoding *e = qp_encodings_get(enc, t);
        /* c and d: the Relu/Clip after them is fused, so the engine never quantizes them */
        if (!e || strcmp(g->tensors[t]->name, "c") == 0 || strcmp(g->tensors[t]->name, "d") == 0) continue;
        int u = qp_graph_find_tensor(back, g->tensors[t]->name);
        assert_true(u >= 0);
        const qp_encoding *f = qp_encodings_get(enc2, u);
        if (!f) fail_msg("'%s' lost its encoding", g->tensors[t]->name);
        assert_int_equal(f->bits, e->bits);
        assert_int_equal(f->symmetric, e->symmetric);
        assert_int_equal(f->axis, e->axis);
        assert_int_equal(f->n, e->n);
        assert_memory_equal(f->scale, e->scale, (size_t)e->n * sizeof(float));
        assert_memory_equal(f->zero_point, e->zero_point, (size_t)e->n * sizeof(int32_t));
    }
    /* Same graph as before the export: node names and ops in order. */
    assert_int_equal(back->n_nodes, g->n_nodes);
    for (int id = 0; id < g->n_nodes; id++) {
        assert_string_equal(back->nodes[id].name, g->nodes[id].name);
        assert_string_equal(back->nodes[id].op_type, g->nodes[id].op_type);
    }
    assert_string_equal(back->tensors[back->outputs[0]]->name, "out");
    free(x);
    free(int8_ref);
    free(qsim_ref);
    free(file_fp32);
    free(int8_back);
    qp_graph_free(back);
    qp_encodings_free(enc2);
    qp_graph_free(file);
    qp_graph_free(q);
    qp_encodings_free(enc);
    qp_graph_free(g);
}

static void test_export_structure(void **state) {
    (void)state;
    qp_graph *g = small_cnn();
    float *x = make_input(2 * 3 * 8 * 8);
    qp_encodings *enc = calibrate_cnn(g, x);
    qp_qdq_export_stats stats;
    qp_graph *q = export_qdq(g, enc, QP_QDQ_ACT_AUTO, 0, &stats, NULL, NULL);
    assert_int_equal(stats.opset, 13);
    assert_int_equal(qp_graph_opset(q, ""), 13);
    assert_int_equal(stats.weights, 3);
    assert_int_equal(stats.biases, 3);
    /* Conv1's output is never materialized by the engine (Relu fused into the clamp): no Q/DQ. */
    assert_true(qp_graph_find_tensor(q, "c_quantized") < 0);
    assert_true(qp_graph_find_tensor(q, "r_quantized") >= 0);
    assert_int_equal(count_op(q, "QuantizeLinear"), stats.activations);
    /* Weights: int8, per channel on axis 0, values exactly the engine's rounding. */
    const qp_node *dq = find_node_by_output(q, "w");
    assert_string_equal(dq->op_type, "DequantizeLinear");
    assert_int_equal(qp_node_attr_int(dq, "axis", -1), 0);
    const qp_tensor *wq = tensor(q, "w_quantized"), *w = tensor(g, "w");
    assert_int_equal(wq->dtype, QP_DT_INT8);
    const qp_encoding *we = qp_encodings_get(enc, qp_graph_find_tensor(g, "w"));
    for (int i = 0; i < 4 * 27; i++) {
        float v = nearbyintf(((const float *)w->data)[i] / we->scale[i / 27]);
        v = fminf(127, fmaxf(-127, v));
        assert_int_equal(((const int8_t *)wq->data)[i], (int8_t)v);
    }
    assert_int_equal(tensor(q, "w_zero_point")->dtype, QP_DT_INT8);
    assert_int_equal(tensor(q, "w_scale")->shape.rank, 1);
    /* Gemm transB=1: per output row, axis 0. */
    assert_int_equal(qp_node_attr_int(find_node_by_output(q, "w3"), "axis", -1), 0);
    /* Bias: int32 = round(b / (s_in * s_w)), scale s_in * s_w, zero point int32 0, axis 0. */
    const qp_tensor *bq = tensor(q, "b_quantized"), *bs = tensor(q, "b_scale"), *b = tensor(g, "b");
    assert_int_equal(bq->dtype, QP_DT_INT32);
    const qp_encoding *xe = qp_encodings_get(enc, qp_graph_find_tensor(g, "x"));
    for (int c = 0; c < 4; c++) {
        float s = xe->scale[0] * we->scale[c];
        assert_true(((const float *)bs->data)[c] == s);
        assert_int_equal(((const int32_t *)bq->data)[c], (int32_t)nearbyint((double)((const float *)b->data)[c] / (double)s));
    }
    assert_int_equal(tensor(q, "b_zero_point")->dtype, QP_DT_INT32);
    assert_int_equal(qp_node_attr_int(find_node_by_output(q, "b"), "axis", -1), 0);
    /* Activations: asymmetric encodings as uint8, scalar scale and zero point. */
    const qp_tensor *rz = tensor(q, "r_zero_point");
    assert_int_equal(rz->dtype, QP_DT_UINT8);
    assert_int_equal(rz->shape.rank, 0);
    /* The graph output keeps its name: the DQ produces "out", the Gemm writes "out_float". */
    assert_string_equal(q->tensors[q->outputs[0]]->name, "out");
    assert_string_equal(find_node_by_output(q, "out")->op_type, "DequantizeLinear");
    assert_string_equal(find_node_by_output(q, "out_float")->op_type, "Gemm");
    free(x);
    qp_graph_free(q);
    qp_encodings_free(enc);
    qp_graph_free(g);
}

static void test_int8_and_uint8_activations(void **state) {
    (void)state;
    qp_graph *g = small_cnn();
    float *x = make_input(2 * 3 * 8 * 8);
    qp_encodings *enc = calibrate_cnn(g, x);
    qp_graph *q = export_qdq(g, enc, QP_QDQ_ACT_INT8, 0, NULL, NULL, NULL);
    const qp_encoding *re = qp_encodings_get(enc, qp_graph_find_tensor(g, "r"));
    const qp_tensor *rz = tensor(q, "r_zero_point");
    assert_int_equal(rz->dtype, QP_DT_INT8);
    assert_int_equal(*(const int8_t *)rz->data, re->zero_point[0] - 128);
    assert_int_equal(tensor(q, "r_quantized")->dtype, QP_DT_INT8);
    /* int8 activations with a zero point come back as the same asymmetric encoding. */
    qp_graph *back = NULL, *file = through_file(q);
    qp_encodings *enc2 = NULL;
    assert_ok(qp_qdq_import(file, &back, &enc2, NULL));
    const qp_encoding *f = qp_encodings_get(enc2, qp_graph_find_tensor(back, "r"));
    assert_non_null(f);
    assert_int_equal(f->symmetric, 0);
    assert_int_equal(f->zero_point[0], re->zero_point[0]);
    int64_t n1, n2;
    float *a = run(g, enc, QP_MODE_INT8, x, &n1), *b = run(back, enc2, QP_MODE_INT8, x, &n2);
    assert_memory_equal(a, b, (size_t)n1 * sizeof(float));
    free(a);
    free(b);
    qp_graph_free(back);
    qp_encodings_free(enc2);
    qp_graph_free(file);
    qp_graph_free(q);
    qp_encodings_free(enc);
    /* Symmetric activations as uint8: zero point 128. */
    static const char *const w[] = {"w", "w2", "w3"};
    static const int axes[] = {0, 0, 0};
    enc = calibrate(g, x, w, axes, 3, 8, 1);
    q = export_qdq(g, enc, QP_QDQ_ACT_UINT8, 0, NULL, NULL, NULL);
    rz = tensor(q, "r_zero_point");
    assert_int_equal(rz->dtype, QP_DT_UINT8);
    assert_int_equal(*(const uint8_t *)rz->data, 128);
    qp_graph_free(q);
    q = export_qdq(g, enc, QP_QDQ_ACT_AUTO, 0, NULL, NULL, NULL); /* auto: symmetric -> int8, zero point 0 */
    assert_int_equal(tensor(q, "r_zero_point")->dtype, QP_DT_INT8);
    assert_int_equal(*(const int8_t *)tensor(q, "r_zero_point")->data, 0);
    qp_graph_free(q);
    qp_encodings_free(enc);
    free(x);
    qp_graph_free(g);
}

static int warnings;
static char last_warning[1024];
static void on_warn(void *user, const char *msg) {
    (void)user;
    warnings++;
    snprintf(last_warning, sizeof last_warning, "%s", msg);
}

static void test_tensorrt_mode(void **state) {
    (void)state;
    qp_graph *g = small_cnn();
    float *x = make_input(2 * 3 * 8 * 8);
    qp_encodings *enc = calibrate_cnn(g, x);
    qp_qdq_export_stats stats;
    warnings = 0;
    qp_graph *q = export_qdq(g, enc, QP_QDQ_ACT_AUTO, 1, &stats, on_warn, NULL);
    assert_true(stats.widened > 0);
    assert_int_equal(stats.biases, 0);
    assert_true(warnings >= 1);
    assert_non_null(strstr(last_warning, "TensorRT mode"));
    /* Every zero point is int8 0; biases stay float initializers. */
    int zps = 0;
    for (int t = 0; t < q->n_tensors; t++) {
        const qp_tensor *z = q->tensors[t];
        size_t len = strlen(z->name);
        if (len < 11 || strcmp(z->name + len - 11, "_zero_point") != 0) continue;
        assert_int_equal(z->dtype, QP_DT_INT8);
        for (size_t i = 0; i < z->nbytes; i++) assert_int_equal(((const int8_t *)z->data)[i], 0);
        zps++;
    }
    assert_true(zps >= stats.activations + stats.weights);
    assert_true(tensor(q, "b")->is_initializer);
    assert_int_equal(tensor(q, "b")->dtype, QP_DT_FLOAT);
    /* The widened range still holds the encoding's range. */
    const qp_encoding *re = qp_encodings_get(enc, qp_graph_find_tensor(g, "x"));
    float s = *(const float *)tensor(q, "x_scale")->data;
    assert_true(s * 127.0f >= fmaxf(fabsf(re->min[0]), fabsf(re->max[0])) * 0.9999f);
    qp_graph_free(q);
    qp_encodings_free(enc);
    free(x);
    qp_graph_free(g);
}

/* 16-bit encodings need opset 21; 4-bit ones get a Clip after the DQ so the file clamps where
 * the engine does. */
static void test_bit_widths(void **state) {
    (void)state;
    qp_graph *g = small_cnn();
    float *x = make_input(2 * 3 * 8 * 8);
    qp_encodings *enc = calibrate_cnn(g, x);
    int r = qp_graph_find_tensor(g, "r");
    float lo = -1, hi = 3;
    assert_ok(qp_encodings_set_range(enc, r, 16, 0, -1, 1, &lo, &hi));
    qp_qdq_export_config cfg = {0};
    qp_graph *q = NULL;
    assert_int_equal(qp_qdq_export_graph(g, enc, &cfg, &q, NULL), QP_ERR_UNSUPPORTED);
    assert_non_null(strstr(qp_error_message(), "tensor 'r' has a 16-bit encoding"));
    assert_non_null(strstr(qp_error_message(), "opset 21"));
    cfg.opset = 21;
    assert_ok(qp_qdq_export_graph(g, enc, &cfg, &q, NULL));
    assert_int_equal(tensor(q, "r_quantized")->dtype, QP_DT_UINT16);
    assert_int_equal(qp_graph_opset(q, ""), 21);
    assert_true(q->ir_version >= 10);
    qp_graph_free(q);
    /* 4 bits: Q/DQ in uint8, then a Clip to the 4-bit range; the file in fp32 = quantsim. */
    assert_ok(qp_encodings_set_range(enc, r, 4, 0, -1, 1, &lo, &hi));
    q = export_qdq(g, enc, QP_QDQ_ACT_AUTO, 0, NULL, NULL, NULL);
    assert_int_equal(count_op(q, "Clip"), 2);
    assert_true(qp_graph_find_tensor(q, "r_clip_max") >= 0);
    qp_graph *file = through_file(q);
    int64_t n1, n2;
    float *a = run(file, NULL, QP_MODE_FP32, x, &n1), *b = run(g, enc, QP_MODE_QUANTSIM, x, &n2);
    for (int64_t i = 0; i < n1; i++) assert_true(fabsf(a[i] - b[i]) <= 1e-5f * fmaxf(1.0f, fabsf(b[i])));
    free(a);
    free(b);
    qp_graph_free(file);
    qp_graph_free(q);
    qp_encodings_free(enc);
    free(x);
    qp_graph_free(g);
}

/* ---- opset upgrade ------------------------------------------------------------------------------ */

/* Attributes that became inputs (Unsqueeze/Squeeze/Split/Clip/Slice/Pad), dropped attributes
 * (Dropout ratio) and the pre-13 Softmax coercion: the opset-13 file computes the same. */
static void test_opset_upgrade(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    set_opset(g, 9);
    qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 3, .dims = {-1, 4, 6}});
    static const int64_t one[1] = {1}, two[1] = {2}, split[2] = {2, 2}, start[1] = {1}, end[1] = {5}, pads[6] = {0, 0, 1, 0, 0, 1};
    int id = node(g, "unsq", "Unsqueeze", (const char *[]){"x"}, 1, "u");
    attr_ints(g, id, "axes", one, 1);
    id = node(g, "sq", "Squeeze", (const char *[]){"u"}, 1, "s");
    attr_ints(g, id, "axes", one, 1);
    id = node(g, "clip", "Clip", (const char *[]){"s"}, 1, "c");
    attr_float(g, id, "min", -0.5f);
    attr_float(g, id, "max", 0.75f);
    id = node(g, "slice", "Slice", (const char *[]){"c"}, 1, "sl");
    attr_ints(g, id, "starts", start, 1);
    attr_ints(g, id, "ends", end, 1);
    attr_ints(g, id, "axes", two, 1);
    id = node(g, "pad", "Pad", (const char *[]){"sl"}, 1, "pd");
    attr_ints(g, id, "pads", pads, 6);
    attr_float(g, id, "value", 0.25f);
    id = node(g, "drop", "Dropout", (const char *[]){"pd"}, 1, "dr");
    attr_float(g, id, "ratio", 0.3f);
    int sp_in = qp_graph_find_tensor(g, "dr"), sp_out[2] = {qp_graph_get_or_add_tensor(g, "h1"), qp_graph_get_or_add_tensor(g, "h2")};
    id = qp_graph_add_node(g, "split", "Split", "", &sp_in, 1, sp_out, 2);
    attr_ints(g, id, "split", split, 2);
    attr_int(g, id, "axis", 1);
    node(g, "soft", "Softmax", (const char *[]){"h1"}, 1, "y1"); /* axis 1 of [N,2,6]: the whole row */
    id = node(g, "soft2", "Softmax", (const char *[]){"h2"}, 1, "y2");
    attr_int(g, id, "axis", 2);                                   /* the last axis: unchanged */
    node(g, "cat", "Concat", (const char *[]){"y1", "y2"}, 2, "y");
    attr_int(g, g->n_nodes - 1, "axis", 1);
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    assert_ok(qp_graph_finalize(g));

    qp_encodings *none = qp_encodings_new(g->n_tensors);
    qp_qdq_export_config cfg = {0};
    qp_graph *q = NULL;
    qp_qdq_export_stats stats;
    /* Softmax needs the input's rank, which only planning knows here. */
    assert_int_equal(qp_qdq_export_graph(g, none, &cfg, &q, &stats), QP_ERR_UNSUPPORTED);
    assert_non_null(strstr(qp_error_message(), "node 'soft' (Softmax): cannot upgrade from opset 9 to 13"));
    q = export_qdq(g, none, QP_QDQ_ACT_AUTO, 0, &stats, NULL, NULL);
    assert_int_equal(qp_graph_opset(q, ""), 13);
    assert_int_equal(stats.upgraded, 9);
    for (int n = 0; n < q->n_nodes; n++) {
        const qp_node *nd = &q->nodes[n];
        assert_null(qp_node_attr(nd, strcmp(nd->op_type, "Split") == 0 ? "split" : "axes"));
        assert_null(qp_node_attr(nd, "ratio"));
    }
    assert_int_equal(count_op(q, "Flatten"), 1); /* soft: coerced to 2-D as before opset 13 */
    qp_graph *file = through_file(q);
    float *x = make_input(2 * 4 * 6);
    int64_t n1, n2;
    float *a = run(g, NULL, QP_MODE_FP32, x, &n1), *b = run(file, NULL, QP_MODE_FP32, x, &n2);
    assert_int_equal(n1, n2);
    assert_int_equal(n1, 2 * 4 * 6);
    for (int64_t i = 0; i < n1; i++)
        if (fabsf(a[i] - b[i]) > 1e-6f) fail_msg("output %lld: opset 9 %g, opset 13 %g", (long long)i, a[i], b[i]);
    free(a);
    free(b);
    free(x);
    qp_graph_free(file);
    qp_graph_free(q);

    qp_encodings_free(none);
    qp_graph_free(g);

    /* What cannot be upgraded is named. */
    g = qp_graph_new();
    set_opset(g, 9);
    qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 4, .dims = {1, 1, 2, 2}});
    node(g, "up", "Upsample", (const char *[]){"x"}, 1, "z");
    qp_test_add_output(g, qp_graph_find_tensor(g, "z"));
    assert_ok(qp_graph_finalize(g));
    none = qp_encodings_new(g->n_tensors);
    assert_int_equal(qp_qdq_export_graph(g, none, &cfg, &q, NULL), QP_ERR_UNSUPPORTED);
    if (!strstr(qp_error_message(), "node 'up' (Upsample): cannot upgrade from opset 9 to 13")) fail_msg("%s", qp_error_message());
    qp_encodings_free(none);
    qp_graph_free(g);
}

/* ---- import of other tools' files -------------------------------------------------------------- */

static int add_const(qp_graph *g, const char *name, qp_dtype dt, qp_shape shape, const void *data) {
    int id = qp_graph_get_or_add_tensor(g, name);
    size_t n = (size_t)qp_shape_numel(&shape) * qp_dtype_size(dt);
    void *copy = malloc(n ? n : 1);
    memcpy(copy, data, n);
    qp_tensor_set_data(g->tensors[id], dt, &shape, copy, n);
    return id;
}

/* An ONNX Runtime style QDQ graph: int8 activations with a zero point, per-channel int8 weights
 * (one of them -128), int32 bias, a Q feeding two DQs, and a second Q with other parameters on
 * the same tensor. */
static qp_graph *ort_style_qdq(void) {
    qp_graph *g = qp_graph_new();
    set_opset(g, 13);
    qp_test_add_input(g, "in", QP_DT_FLOAT, &(qp_shape){.rank = 4, .dims = {-1, 2, 4, 4}});
    float s_in = 0.02f, s_y = 0.05f, s_y2 = 0.1f, s_w[3] = {0.01f, 0.02f, 0.015f};
    int8_t zp_in = -5, zp_y = 10, zp_w[3] = {0, 0, 0};
    uint8_t zp_y2 = 128;
    int8_t w[3 * 2];
    for (int i = 0; i < 6; i++) w[i] = (int8_t)(i * 23 - 60);
    w[5] = -128;
    int32_t b[3] = {100, -2000, 5};
    qp_shape scalar = {.rank = 0}, three = {.rank = 1, .dims = {3}};
    add_const(g, "s_in", QP_DT_FLOAT, scalar, &s_in);
    add_const(g, "zp_in", QP_DT_INT8, scalar, &zp_in);
    add_const(g, "s_y", QP_DT_FLOAT, scalar, &s_y);
    add_const(g, "zp_y", QP_DT_INT8, scalar, &zp_y);
    add_const(g, "s_y2", QP_DT_FLOAT, scalar, &s_y2);
    add_const(g, "zp_y2", QP_DT_UINT8, scalar, &zp_y2);
    add_const(g, "w_q", QP_DT_INT8, (qp_shape){.rank = 4, .dims = {3, 2, 1, 1}}, w);
    add_const(g, "s_w", QP_DT_FLOAT, three, s_w);
    add_const(g, "zp_w", QP_DT_INT8, three, zp_w);
    float s_b[3];
    for (int c = 0; c < 3; c++) s_b[c] = s_in * s_w[c];
    int32_t zp_b[3] = {0, 0, 0};
    add_const(g, "b_q", QP_DT_INT32, three, b);
    add_const(g, "s_b", QP_DT_FLOAT, three, s_b);
    add_const(g, "zp_b", QP_DT_INT32, three, zp_b);
    node(g, "q_in", "QuantizeLinear", (const char *[]){"in", "s_in", "zp_in"}, 3, "in_q");
    node(g, "dq_in", "DequantizeLinear", (const char *[]){"in_q", "s_in", "zp_in"}, 3, "in_dq");
    int id = node(g, "dq_w", "DequantizeLinear", (const char *[]){"w_q", "s_w", "zp_w"}, 3, "w");
    attr_int(g, id, "axis", 0);
    id = node(g, "dq_b", "DequantizeLinear", (const char *[]){"b_q", "s_b", "zp_b"}, 3, "b");
    attr_int(g, id, "axis", 0);
    node(g, "conv", "Conv", (const char *[]){"in_dq", "w", "b"}, 3, "y");
    node(g, "q_y", "QuantizeLinear", (const char *[]){"y", "s_y", "zp_y"}, 3, "y_q");
    node(g, "dq_y1", "DequantizeLinear", (const char *[]){"y_q", "s_y", "zp_y"}, 3, "y_dq1");
    node(g, "dq_y2", "DequantizeLinear", (const char *[]){"y_q", "s_y", "zp_y"}, 3, "y_dq2");
    node(g, "relu", "Relu", (const char *[]){"y_dq1"}, 1, "r");
    node(g, "sig", "Sigmoid", (const char *[]){"y_dq2"}, 1, "sg");
    node(g, "q_y2", "QuantizeLinear", (const char *[]){"y", "s_y2", "zp_y2"}, 3, "y2_q"); /* other params */
    node(g, "dq_y3", "DequantizeLinear", (const char *[]){"y2_q", "s_y2", "zp_y2"}, 3, "y_dq3");
    node(g, "add", "Add", (const char *[]){"r", "sg"}, 2, "a");
    node(g, "add2", "Add", (const char *[]){"a", "y_dq3"}, 2, "a2");
    node(g, "q_out", "QuantizeLinear", (const char *[]){"a2", "s_y", "zp_y"}, 3, "a2_q");
    node(g, "dq_out", "DequantizeLinear", (const char *[]){"a2_q", "s_y", "zp_y"}, 3, "output");
    qp_test_add_output(g, qp_graph_find_tensor(g, "output"));
    assert_ok(qp_graph_finalize(g));
    return g;
}

static void test_import_ort_style_qdq(void **state) {
    (void)state;
    qp_graph *g = ort_style_qdq();
    assert_true(qp_qdq_is_quantized(g));
    qp_graph *f = NULL;
    qp_encodings *enc = NULL;
    qp_qdq_import_stats st;
    assert_ok(qp_qdq_import(g, &f, &enc, &st));
    assert_int_equal(count_op(f, "QuantizeLinear"), 0);
    assert_int_equal(count_op(f, "DequantizeLinear"), 0);
    assert_int_equal(st.kept, 0);
    assert_int_equal(st.weights, 1);
    assert_int_equal(st.biases, 1);
    assert_int_equal(st.clamped, 1);
    /* y is read raw (by the second Q) and quantized two ways: each Q gets a copy to annotate, as
     * the engine replaces an encoded tensor's values for all of its readers. */
    assert_int_equal(count_op(f, "Identity"), 2);
    /* int8 activation with zero point -5 -> asymmetric, zero point 123: the same grid. */
    const qp_encoding *ie = qp_encodings_get(enc, qp_graph_find_tensor(f, "in"));
    assert_non_null(ie);
    assert_int_equal(ie->symmetric, 0);
    assert_int_equal(ie->zero_point[0], 123);
    assert_true(ie->scale[0] == 0.02f);
    /* Weights: symmetric per channel on axis 0, folded to floats. */
    const qp_encoding *we = qp_encodings_get(enc, qp_graph_find_tensor(f, "w"));
    assert_non_null(we);
    assert_int_equal(we->symmetric, 1);
    assert_int_equal(we->axis, 0);
    assert_int_equal(we->n, 3);
    const qp_tensor *w = tensor(f, "w");
    assert_true(w->is_initializer);
    assert_true(((const float *)w->data)[1] == (float)(23 - 60) * 0.01f);
    const qp_tensor *b = tensor(f, "b");
    assert_true(((const float *)b->data)[1] == (float)-2000 * (0.02f * 0.02f));
    assert_null(qp_encodings_get(enc, qp_graph_find_tensor(f, "b")));
    assert_null(qp_encodings_get(enc, qp_graph_find_tensor(f, "y")));
    const qp_encoding *ye = qp_encodings_get(enc, qp_graph_find_tensor(f, "y_q"));
    assert_non_null(ye);
    assert_int_equal(ye->zero_point[0], 138);
    const qp_encoding *ye2 = qp_encodings_get(enc, qp_graph_find_tensor(f, "y2_q"));
    assert_non_null(ye2);
    assert_int_equal(ye2->zero_point[0], 128);
    assert_true(ye2->scale[0] == 0.1f);
    /* The graph output keeps its name. */
    assert_string_equal(f->tensors[f->outputs[0]]->name, "output");
    /* Same values as the QDQ file run with reference Q/DQ ops (quantsim = fake-quant everywhere). */
    float *x = make_input(2 * 2 * 4 * 4);
    int64_t n1, n2;
    float *a = run(g, NULL, QP_MODE_FP32, x, &n1), *c = run(f, enc, QP_MODE_QUANTSIM, x, &n2);
    assert_int_equal(n1, n2);
    /* Exact, except in channel 2, whose weight -128 qpipe's symmetric range holds as -127. */
    for (int64_t i = 0; i < n1; i++) {
        int channel = (int)((i / 16) % 3);
        float tol = channel == 2 ? 0.3f : 1e-6f; /* a few output steps of 0.05 */
        if (fabsf(a[i] - c[i]) > tol) fail_msg("output %lld (channel %d): file %g, imported %g", (long long)i, channel, a[i], c[i]);
    }
    free(a);
    free(c);
    free(x);
    qp_graph_free(f);
    qp_encodings_free(enc);
    qp_graph_free(g);
}

/* QOperator format: QLinearConv (+ int32 bias), com.microsoft QLinearAdd with a constant,
 * Reshape on quantized values, QLinearMatMul, DequantizeLinear at the end. */
static void test_import_qoperator(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    set_opset(g, 12);
    g->opsets = realloc(g->opsets, 2 * sizeof *g->opsets);
    g->opsets[1] = (qp_opset){strdup("com.microsoft"), 1};
    g->n_opsets = 2;
    qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 4, .dims = {1, 2, 2, 2}});
    float sx = 0.05f, sy = 0.1f, sa = 0.2f, sc = 0.01f, so = 0.3f, sw[2] = {0.02f, 0.04f}, sm = 0.03f;
    uint8_t zx = 128, zy = 0, za = 3, zc = 7, zo = 100;
    int8_t zw[2] = {0, 0}, zm = 0;
    int8_t w[2 * 2] = {10, -20, 30, 127};
    int32_t bias[2] = {50, -70};
    uint8_t cst[2 * 2 * 2 * 2];
    int8_t m[8 * 3];
    for (int i = 0; i < 16; i++) cst[i] = (uint8_t)(i * 13);
    for (int i = 0; i < 24; i++) m[i] = (int8_t)(i * 7 - 80);
    int64_t shape[2] = {1, 8};
    qp_shape sc0 = {.rank = 0};
    add_const(g, "sx", QP_DT_FLOAT, sc0, &sx);
    add_const(g, "zx", QP_DT_UINT8, sc0, &zx);
    add_const(g, "sy", QP_DT_FLOAT, sc0, &sy);
    add_const(g, "zy", QP_DT_UINT8, sc0, &zy);
    add_const(g, "sa", QP_DT_FLOAT, sc0, &sa);
    add_const(g, "za", QP_DT_UINT8, sc0, &za);
    add_const(g, "sc", QP_DT_FLOAT, sc0, &sc);
    add_const(g, "zc", QP_DT_UINT8, sc0, &zc);
    add_const(g, "so", QP_DT_FLOAT, sc0, &so);
    add_const(g, "zo", QP_DT_UINT8, sc0, &zo);
    add_const(g, "sw", QP_DT_FLOAT, (qp_shape){.rank = 1, .dims = {2}}, sw);
    add_const(g, "zw", QP_DT_INT8, (qp_shape){.rank = 1, .dims = {2}}, zw);
    add_const(g, "sm", QP_DT_FLOAT, sc0, &sm);
    add_const(g, "zm", QP_DT_INT8, sc0, &zm);
    add_const(g, "w_quantized", QP_DT_INT8, (qp_shape){.rank = 4, .dims = {2, 2, 1, 1}}, w);
    add_const(g, "b_quantized", QP_DT_INT32, (qp_shape){.rank = 1, .dims = {2}}, bias);
    add_const(g, "cst_quantized", QP_DT_UINT8, (qp_shape){.rank = 4, .dims = {1, 2, 2, 2}}, cst);
    add_const(g, "m_quantized", QP_DT_INT8, (qp_shape){.rank = 2, .dims = {8, 3}}, m);
    add_const(g, "shape", QP_DT_INT64, (qp_shape){.rank = 1, .dims = {2}}, shape);
    node(g, "qx", "QuantizeLinear", (const char *[]){"x", "sx", "zx"}, 3, "x_quantized");
    node(g, "conv", "QLinearConv",
         (const char *[]){"x_quantized", "sx", "zx", "w_quantized", "sw", "zw", "sy", "zy", "b_quantized"}, 9, "y_quantized");
    int id = node(g, "add", "QLinearAdd", (const char *[]){"y_quantized", "sy", "zy", "cst_quantized", "sc", "zc", "sa", "za"}, 8,
                  "a_quantized");
    free(g->nodes[id].domain);
    g->nodes[id].domain = strdup("com.microsoft");
    node(g, "flat", "Reshape", (const char *[]){"a_quantized", "shape"}, 2, "f_quantized");
    node(g, "mm", "QLinearMatMul", (const char *[]){"f_quantized", "sa", "za", "m_quantized", "sm", "zm", "so", "zo"}, 8,
         "o_quantized");
    node(g, "dq", "DequantizeLinear", (const char *[]){"o_quantized", "so", "zo"}, 3, "out");
    qp_test_add_output(g, qp_graph_find_tensor(g, "out"));
    assert_ok(qp_graph_finalize(g));

    qp_graph *f = NULL;
    qp_encodings *enc = NULL;
    qp_qdq_import_stats st;
    assert_ok(qp_qdq_import(g, &f, &enc, &st));
    assert_int_equal(st.converted, 3);
    assert_int_equal(st.kept, 0);
    assert_int_equal(count_op(f, "Conv"), 1);
    assert_int_equal(count_op(f, "Add"), 1);
    assert_int_equal(count_op(f, "MatMul"), 1);
    assert_int_equal(count_op(f, "Reshape"), 1);
    assert_int_equal(count_op(f, "QLinearConv") + count_op(f, "QLinearAdd") + count_op(f, "QLinearMatMul"), 0);
    /* Float tensors take the names without "_quantized" when free. */
    const qp_encoding *ye = qp_encodings_get(enc, qp_graph_find_tensor(f, "y"));
    assert_non_null(ye);
    assert_true(ye->scale[0] == 0.1f);
    const qp_encoding *fe = qp_encodings_get(enc, qp_graph_find_tensor(f, "f"));
    const qp_encoding *ae = qp_encodings_get(enc, qp_graph_find_tensor(f, "a"));
    assert_non_null(fe);
    assert_non_null(ae);
    assert_int_equal(fe->zero_point[0], ae->zero_point[0]); /* Reshape keeps the encoding */
    const qp_encoding *we = qp_encodings_get(enc, qp_graph_find_tensor(f, "w"));
    assert_int_equal(we->n, 2);
    assert_int_equal(we->symmetric, 1);
    const qp_encoding *me = qp_encodings_get(enc, qp_graph_find_tensor(f, "m"));
    assert_int_equal(me->n, 1);
    const qp_tensor *b = tensor(f, "b");
    assert_true(((const float *)b->data)[1] == (float)-70 * (0.05f * 0.04f));
    const qp_tensor *c = tensor(f, "cst");
    assert_true(((const float *)c->data)[1] == (float)(13 - 7) * 0.01f);
    assert_non_null(qp_encodings_get(enc, qp_graph_find_tensor(f, "cst")));
    assert_string_equal(f->tensors[f->outputs[0]]->name, "out");
    /* It runs in every mode. */
    float *x = make_input(8);
    int64_t n;
    for (int mode = 0; mode < 3; mode++) {
        qp_plan_options o = {.mode = (qp_engine_mode)mode, .n_threads = 1, .encodings = enc};
        qp_plan *plan = NULL;
        assert_ok(qp_plan_create(f, &o, &plan));
        memcpy(qp_plan_input(plan, 0)->data, x, 8 * sizeof(float));
        assert_ok(qp_plan_run(plan));
        const qp_value *out = qp_plan_output(plan, 0);
        n = (int64_t)(out->nbytes / sizeof(float));
        assert_int_equal(n, 3);
        for (int64_t i = 0; i < n; i++) assert_true(isfinite(((const float *)out->data)[i]));
        qp_plan_free(plan);
    }
    free(x);
    qp_graph_free(f);
    qp_encodings_free(enc);
    qp_graph_free(g);
}

/* ---- the quantized models in ../shared/models --------------------------------------------------- */

static int argmax(const float *v, int64_t n) {
    int best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = (int)i;
    return best;
}

/* Loads a quantized model, runs the 8 reference inputs in int8, and counts how often its top-1
 * equals the fp32 reference's. */
static int agreement_with_fp32(const char *model, qp_qdq_import_stats *st) {
    char path[4096], dir[4096];
    qp_test_shared_path(model, path);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    qp_graph *g = NULL;
    qp_encodings *enc = NULL;
    assert_ok(qp_model_load_any(path, &g, &enc, st));
    assert_non_null(enc);
    qp_plan_options o = {.mode = QP_MODE_INT8, .n_threads = 2, .encodings = enc};
    qp_plan *plan = NULL;
    assert_ok(qp_plan_create(g, &o, &plan));
    int agree = 0;
    for (int i = 0; i < 8; i++) {
        char in_path[4200], out_path[4200];
        snprintf(in_path, sizeof in_path, "%s/ref/input_%d.npy", dir, i);
        snprintf(out_path, sizeof out_path, "%s/ref/output_%d_0.npy", dir, i);
        qp_npy in, ref;
        assert_ok(qp_npy_read(in_path, &in));
        assert_ok(qp_npy_read(out_path, &ref));
        qp_value *v = qp_plan_input(plan, 0);
        assert_int_equal(v->nbytes, in.nbytes);
        memcpy(v->data, in.data, in.nbytes);
        assert_ok(qp_plan_run(plan));
        const qp_value *out = qp_plan_output(plan, 0);
        int64_t n = (int64_t)(out->nbytes / sizeof(float));
        assert_int_equal((size_t)n * sizeof(float), ref.nbytes);
        agree += argmax(out->data, n) == argmax(ref.data, n);
        qp_npy_free(&in);
        qp_npy_free(&ref);
    }
    qp_plan_free(plan);
    qp_graph_free(g);
    qp_encodings_free(enc);
    return agree;
}

static void test_shared_qdq_model_runs(void **state) {
    (void)state;
    QP_REQUIRE_SHARED("models/shufflenet-v2-12/qdq.onnx");
    qp_qdq_import_stats st;
    int agree = agreement_with_fp32("models/shufflenet-v2-12/qdq.onnx", &st);
    print_message("shufflenet-v2-12 qdq.onnx: %d/8 top-1 agree with fp32; %d activation encodings, %d weights, %d biases\n",
                  agree, st.activations, st.weights, st.biases);
    assert_int_equal(st.kept, 0);
    assert_int_equal(st.weights, 57);
    assert_int_equal(st.biases, 56);
    assert_true(agree >= 6);
}

static void test_shared_qoperator_model_runs(void **state) {
    (void)state;
    QP_REQUIRE_SHARED("models/mobilenetv2-12/int8-qoperator.onnx");
    qp_qdq_import_stats st;
    int agree = agreement_with_fp32("models/mobilenetv2-12/int8-qoperator.onnx", &st);
    print_message("mobilenetv2-12 int8-qoperator.onnx: %d/8 top-1 agree with fp32; %d QLinear ops converted\n", agree,
                  st.converted);
    assert_int_equal(st.converted, 52 + 11 + 1 + 1); /* QLinearConv, QLinearAdd, QLinearGlobalAveragePool, QLinearMatMul */
    assert_int_equal(st.kept, 0);
    assert_true(agree >= 6);
}

static void test_load_any(void **state) {
    (void)state;
    QP_REQUIRE_SHARED("models/mnist-8/model.onnx");
    char path[4096];
    qp_graph *g = NULL;
    qp_encodings *enc = (qp_encodings *)1;
    assert_ok(qp_model_load_any(qp_test_shared_path("models/mnist-8/model.onnx", path), &g, &enc, NULL));
    assert_null(enc); /* a float model comes back as is */
    assert_false(qp_qdq_is_quantized(g));
    qp_graph_free(g);
    assert_int_equal(qp_model_load_any("/nonexistent/model.onnx", &g, &enc, NULL), QP_ERR_IO);
    assert_non_null(strstr(qp_error_message(), "/nonexistent/model.onnx"));
}

/* Through the session API (what export_qdq runs): the file, loaded back, gives bit for bit what
 * the session's int8 engine computes. */
static void test_session_export_matches_engine(void **state) {
    (void)state;
    char path[4096], dir_out[4200];
    snprintf(path, sizeof path, "%s/examples/fashion_mnist/model.onnx", QP_SOURCE_DIR);
    qp_session *s;
    assert_ok(qp_session_new(&s));
    qp_session_set_verbosity(s, QP_LOG_ERROR);
    assert_ok(qp_session_load_model(s, path));
    qp_session_set_run_options(s, 2, 1);
    assert_ok(qp_session_prepare(s));
    /* Encodings from the fp32 engine's ranges on the example's reference inputs. */
    qp_npy in0, in1;
    snprintf(path, sizeof path, "%s/examples/fashion_mnist/ref/input_0.npy", QP_SOURCE_DIR);
    assert_ok(qp_npy_read(path, &in0));
    snprintf(path, sizeof path, "%s/examples/fashion_mnist/ref/input_1.npy", QP_SOURCE_DIR);
    assert_ok(qp_npy_read(path, &in1));
    float *x = malloc(2 * in0.nbytes);
    memcpy(x, in0.data, in0.nbytes);
    memcpy((char *)x + in0.nbytes, in1.data, in1.nbytes);
    const qp_graph *g = qp_session_graph(s);
    ranges r = {calloc((size_t)g->n_tensors, sizeof(float)), calloc((size_t)g->n_tensors, sizeof(float)), g->n_tensors};
    for (int t = 0; t < g->n_tensors; t++) r.min[t] = INFINITY, r.max[t] = -INFINITY;
    qp_plan_options o = {.mode = QP_MODE_FP32, .batch = 2, .n_threads = 1, .observer = observe, .observer_user = &r};
    qp_plan *plan = NULL;
    assert_ok(qp_plan_create(g, &o, &plan));
    memcpy(qp_plan_input(plan, 0)->data, x, 2 * in0.nbytes);
    observe(&r, g->inputs[0], qp_plan_input(plan, 0));
    assert_ok(qp_plan_run(plan));
    qp_plan_free(plan);
    qp_model *m = qp_session_model(s);
    for (int t = 0; t < g->n_tensors; t++) {
        qp_tensor_role role = qp_session_tensor_role(s, t);
        if (role == QP_ROLE_ACTIVATION && qp_session_encoding_source(s, t) == t && r.max[t] >= r.min[t]) {
            assert_ok(qp_session_set_range(s, t, 8, 0, -1, 1, &r.min[t], &r.max[t]));
        } else if (role == QP_ROLE_WEIGHT) {
            int axis = qp_session_weight_axis(s, t), n = (int)qp_model_tensor_dim(m, t, axis);
            const qp_tensor *w = g->tensors[t];
            int64_t inner = 1;
            for (int d = axis + 1; d < w->shape.rank; d++) inner *= w->shape.dims[d];
            float *lo = calloc((size_t)n, sizeof *lo), *hi = calloc((size_t)n, sizeof *hi);
            for (int64_t i = 0; i < qp_shape_numel(&w->shape); i++) {
                int64_t c = (i / inner) % n;
                lo[c] = fminf(lo[c], ((const float *)w->data)[i]);
                hi[c] = fmaxf(hi[c], ((const float *)w->data)[i]);
            }
            assert_ok(qp_session_set_range(s, t, 8, 1, axis, n, lo, hi));
            free(lo);
            free(hi);
        }
    }
    free(r.min);
    free(r.max);
    char *dir = qp_test_mkdtemp();
    snprintf(dir_out, sizeof dir_out, "%s/out/fashion.qdq.onnx", dir);
    assert_ok(qp_session_export_qdq(s, dir_out, NULL));
    assert_ok(qp_session_create_plan(s, QP_MODE_INT8, &plan));
    memcpy(qp_plan_input(plan, 0)->data, x, 2 * in0.nbytes);
    assert_ok(qp_plan_run(plan));
    const qp_value *ref = qp_plan_output(plan, 0);

    qp_graph *file = NULL;
    qp_encodings *enc = NULL;
    assert_ok(qp_model_load_any(dir_out, &file, &enc, NULL));
    assert_non_null(enc);
    int64_t n;
    float *got = run(file, enc, QP_MODE_INT8, x, &n);
    assert_int_equal((size_t)n * sizeof(float), ref->nbytes);
    for (int64_t i = 0; i < n; i++)
        if (got[i] != ((const float *)ref->data)[i])
            fail_msg("logit %lld: %g from the QDQ file, %g from the session", (long long)i, got[i], ((const float *)ref->data)[i]);
    /* TensorRT mode writes a file too (with a warning about the widened encodings). */
    qp_qdq_options qo;
    qp_qdq_options_init(&qo);
    qo.tensorrt = 1;
    snprintf(dir_out, sizeof dir_out, "%s/out/fashion.trt.onnx", dir);
    assert_ok(qp_session_export_qdq(s, dir_out, &qo));
    assert_true(qp_test_file_exists(dir_out));
    free(got);
    qp_plan_free(plan);
    qp_graph_free(file);
    qp_encodings_free(enc);
    qp_npy_free(&in0);
    qp_npy_free(&in1);
    free(x);
    qp_session_free(s);
    qp_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_import_is_exact),
        cmocka_unit_test(test_export_structure),
        cmocka_unit_test(test_int8_and_uint8_activations),
        cmocka_unit_test(test_tensorrt_mode),
        cmocka_unit_test(test_bit_widths),
        cmocka_unit_test(test_opset_upgrade),
        cmocka_unit_test(test_import_ort_style_qdq),
        cmocka_unit_test(test_import_qoperator),
        cmocka_unit_test(test_load_any),
        cmocka_unit_test(test_session_export_matches_engine),
        cmocka_unit_test(test_shared_qdq_model_runs),
        cmocka_unit_test(test_shared_qoperator_model_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
