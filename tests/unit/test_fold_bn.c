/* test_fold_bn.c — the fold_bn pass: fp32 outputs before and after folding BN and constant Add/Sub agree (synthetic layers, the example, UltraFace, mnist-8). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/npy.h"
#include "passes/builtin.h"
#include "session/session.h"
#include "test_support.h"

#define assert_ok(expr)                                                                        \
    do {                                                                                       \
        qp_status st_ = (expr);                                                                \
        if (st_ != QP_OK) fail_msg("%s -> %d: %s", #expr, (int)st_, qp_error_message());       \
    } while (0)

static uint32_t rng_state = 12345;
static float frand(void) { /* deterministic, in [-1, 1) */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) / (float)(1u << 23) - 1.0f;
}

static void set_opset(qp_graph *g) {
    g->opsets = calloc(1, sizeof *g->opsets);
    g->opsets[0].domain = strdup("");
    g->opsets[0].version = 13;
    g->n_opsets = 1;
}

static int random_init(qp_graph *g, const char *name, qp_shape shape, float lo, float hi) {
    int64_t n = qp_shape_numel(&shape);
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * (frand() + 1) / 2;
    int id = qp_test_add_initializer(g, name, &shape, v);
    free(v);
    return id;
}

static int add(qp_graph *g, const char *name, const char *op, const char *const *ins, int n_in, const char *out) {
    int in_ids[8], out_id = qp_graph_get_or_add_tensor(g, out);
    for (int i = 0; i < n_in; i++) in_ids[i] = qp_graph_get_or_add_tensor(g, ins[i]);
    return qp_graph_add_node(g, name, op, "", in_ids, n_in, &out_id, 1);
}

static void attr_int(qp_graph *g, int node, const char *name, int64_t v) {
    qp_attr *a = qp_node_add_attr(&g->nodes[node], name, QP_ATTR_INT);
    a->i = v;
}

static void attr_ints(qp_graph *g, int node, const char *name, const int64_t *v, int n) {
    qp_attr *a = qp_node_add_attr(&g->nodes[node], name, QP_ATTR_INTS);
    a->ints = malloc((size_t)n * sizeof *a->ints);
    memcpy(a->ints, v, (size_t)n * sizeof *a->ints);
    a->n = n;
}

/* BatchNormalization over `in` with C channels, random statistics. */
static void add_bn(qp_graph *g, const char *in, const char *out, int64_t c) {
    qp_shape s = {.rank = 1, .dims = {c}};
    random_init(g, "bn.scale", s, 0.5f, 2.0f);
    random_init(g, "bn.bias", s, -1, 1);
    random_init(g, "bn.mean", s, -0.5f, 0.5f);
    random_init(g, "bn.var", s, 0.1f, 3.0f);
    int id = add(g, "bn", "BatchNormalization", (const char *[]){in, "bn.scale", "bn.bias", "bn.mean", "bn.var"}, 5, out);
    qp_attr *a = qp_node_add_attr(&g->nodes[id], "epsilon", QP_ATTR_FLOAT);
    a->f = 1e-3f;
}

static int count_op(qp_session *s, const char *op) {
    qp_model *m = qp_session_model(s);
    int n = 0;
    for (int i = 0; i < qp_model_num_nodes(m); i++) n += strcmp(qp_model_node_op(m, i), op) == 0;
    return n;
}

/* Runs the session's fp32 plan on `input` (or seeded random data) and returns a copy of every
 * output, back to back. */
static float *run_outputs(qp_session *s, const float *input, size_t *count) {
    qp_plan *plan;
    assert_ok(qp_session_fp32_plan(s, &plan));
    qp_value *in = qp_plan_input(plan, 0);
    size_t n_in = in->nbytes / sizeof(float);
    rng_state = 777;
    for (size_t i = 0; i < n_in; i++) ((float *)in->data)[i] = input ? input[i] : frand();
    assert_ok(qp_plan_run(plan));
    size_t total = 0;
    for (int k = 0; k < qp_plan_num_outputs(plan); k++) total += qp_plan_output(plan, k)->nbytes / sizeof(float);
    float *out = malloc(total * sizeof *out);
    size_t off = 0;
    for (int k = 0; k < qp_plan_num_outputs(plan); k++) {
        const qp_value *v = qp_plan_output(plan, k);
        memcpy(out + off, v->data, v->nbytes);
        off += v->nbytes / sizeof(float);
    }
    *count = total;
    return out;
}

/* max |a - b| relative to max(1, max |a|) */
static double rel_diff(const float *a, const float *b, size_t n) {
    double worst = 0, scale = 1;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)a[i]));
    }
    return worst / scale;
}

/* Folds, then checks the outputs and how many BatchNormalization nodes are left. */
static void fold_and_compare(qp_session *s, const float *input, int bn_left, double tolerance) {
    size_t n_before, n_after;
    float *before = run_outputs(s, input, &n_before);
    assert_ok(qp_pass_fold_bn.run(s, NULL, qp_pass_fold_bn.user));
    assert_int_equal(count_op(s, "BatchNormalization"), bn_left);
    float *after = run_outputs(s, input, &n_after);
    assert_int_equal(n_before, n_after);
    double d = rel_diff(before, after, n_before);
    if (d > tolerance) fail_msg("outputs differ by %g relative after folding (allowed %g)", d, tolerance);
    free(before);
    free(after);
}

static qp_session *session_for(qp_graph *g) {
    assert_ok(qp_graph_finalize(g));
    qp_session *s;
    assert_ok(qp_session_new(&s));
    qp_session_set_verbosity(s, QP_LOG_ERROR);
    qp_session_set_run_options(s, 2, 1);
    assert_ok(qp_session_set_graph(s, g));
    return s;
}

static void test_conv_without_bias(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    set_opset(g);
    qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 4, .dims = {-1, 3, 5, 5}});
    random_init(g, "conv.weight", (qp_shape){.rank = 4, .dims = {4, 3, 3, 3}}, -1, 1);
    int conv = add(g, "conv", "Conv", (const char *[]){"x", "conv.weight"}, 2, "c");
    attr_ints(g, conv, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
    add_bn(g, "c", "y", 4);
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    qp_session *s = session_for(g);
    fold_and_compare(s, NULL, 0, 1e-5);
    /* the bias was created with a name derived from the weight's, and the Conv now writes y */
    qp_model *m = qp_session_model(s);
    assert_int_equal(qp_model_num_nodes(m), 1);
    assert_int_equal(qp_model_node_num_inputs(m, 0), 3);
    assert_string_equal(qp_model_tensor_name(m, qp_model_node_input(m, 0, 2)), "conv.bias");
    assert_string_equal(qp_model_tensor_name(m, qp_model_node_output(m, 0, 0)), "y");
    assert_int_equal(qp_session_tensor_role(s, qp_model_node_input(m, 0, 2)), QP_ROLE_BIAS);
    qp_session_free(s);
}

static void test_grouped_conv_transpose(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    set_opset(g);
    qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 4, .dims = {-1, 4, 3, 3}});
    random_init(g, "w", (qp_shape){.rank = 4, .dims = {4, 3, 2, 2}}, -1, 1); /* 2 groups of 2 in, 3 out */
    random_init(g, "b", (qp_shape){.rank = 1, .dims = {6}}, -1, 1);
    int ct = add(g, "deconv", "ConvTranspose", (const char *[]){"x", "w", "b"}, 3, "c");
    attr_int(g, ct, "group", 2);
    attr_ints(g, ct, "strides", (const int64_t[]){2, 2}, 2);
    add_bn(g, "c", "y", 6);
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    qp_session *s = session_for(g);
    fold_and_compare(s, NULL, 0, 1e-5);
    qp_session_free(s);
}

static void test_gemm_both_layouts(void **state) {
    (void)state;
    for (int trans_b = 0; trans_b < 2; trans_b++) {
        qp_graph *g = qp_graph_new();
        set_opset(g);
        qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 2, .dims = {-1, 4}});
        random_init(g, "fc.weight", trans_b ? (qp_shape){.rank = 2, .dims = {5, 4}} : (qp_shape){.rank = 2, .dims = {4, 5}},
                    -1, 1);
        random_init(g, "fc.bias", (qp_shape){.rank = 1, .dims = {5}}, -1, 1);
        int gemm = add(g, "fc", "Gemm", (const char *[]){"x", "fc.weight", "fc.bias"}, 3, "c");
        attr_int(g, gemm, "transB", trans_b);
        qp_attr *beta = qp_node_add_attr(&g->nodes[gemm], "beta", QP_ATTR_FLOAT);
        beta->f = 0.5f; /* moves into the folded bias */
        qp_attr *alpha = qp_node_add_attr(&g->nodes[gemm], "alpha", QP_ATTR_FLOAT);
        alpha->f = 1.5f;
        add_bn(g, "c", "y", 5);
        qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
        qp_session *s = session_for(g);
        fold_and_compare(s, NULL, 0, 1e-5);
        assert_float_equal(qp_model_node_attr_float(qp_session_model(s), 0, "beta", 0), 1.0f, 0);
        qp_session_free(s);
    }
}

/* The Conv's output is also a graph output: folding would change it, so the BN stays. */
static void test_shared_output_is_not_folded(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    set_opset(g);
    qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 4, .dims = {-1, 2, 3, 3}});
    random_init(g, "w", (qp_shape){.rank = 4, .dims = {2, 2, 1, 1}}, -1, 1);
    add(g, "conv", "Conv", (const char *[]){"x", "w"}, 2, "c");
    add_bn(g, "c", "y", 2);
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    qp_test_add_output(g, qp_graph_find_tensor(g, "c"));
    qp_session *s = session_for(g);
    fold_and_compare(s, NULL, 1, 0);
    qp_session_free(s);
}

static void check_model(const char *model, const char *input_npy, int bn_before) {
    qp_session *s;
    assert_ok(qp_session_new(&s));
    qp_session_set_verbosity(s, QP_LOG_ERROR);
    qp_session_set_run_options(s, 1, 0);
    assert_ok(qp_session_load_model(s, model));
    assert_int_equal(count_op(s, "BatchNormalization"), bn_before);
    float *input;
    qp_shape shape;
    assert_ok(qp_npy_read_f32(input_npy, &input, &shape));
    fold_and_compare(s, input, 0, 1e-5);
    free(input);
    qp_session_free(s);
}

static void test_fashion_mnist_example(void **state) {
    (void)state;
    check_model(QP_SOURCE_DIR "/examples/fashion_mnist/model.onnx", QP_SOURCE_DIR "/examples/fashion_mnist/ref/input_0.npy",
                12);
}

static void test_ultraface(void **state) {
    (void)state;
    QP_REQUIRE_SHARED("models/ultraface-rfb-320/model.onnx");
    char model[4096], input[4096];
    qp_test_shared_path("models/ultraface-rfb-320/model.onnx", model);
    qp_test_shared_path("models/ultraface-rfb-320/ref/input_0.npy", input);
    check_model(model, input, 35);
}

/* Folds and checks the outputs and the node count left (BN or not). */
static void fold_and_count(qp_session *s, int nodes_left, double tolerance) {
    size_t n_before, n_after;
    float *before = run_outputs(s, NULL, &n_before);
    assert_ok(qp_pass_fold_bn.run(s, NULL, qp_pass_fold_bn.user));
    assert_int_equal(qp_model_num_nodes(qp_session_model(s)), nodes_left);
    float *after = run_outputs(s, NULL, &n_after);
    assert_int_equal(n_before, n_after);
    double d = rel_diff(before, after, n_before);
    if (d > tolerance) fail_msg("outputs differ by %g relative after folding (allowed %g)", d, tolerance);
    free(before);
    free(after);
}

/* x -> Conv 3x3 (4 channels, bias or not) -> "c"; returns the Conv's node id. */
static int conv_layer(qp_graph *g, int with_bias) {
    qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 4, .dims = {-1, 3, 5, 5}});
    random_init(g, "conv.weight", (qp_shape){.rank = 4, .dims = {4, 3, 3, 3}}, -1, 1);
    if (with_bias) random_init(g, "conv.bias", (qp_shape){.rank = 1, .dims = {4}}, -1, 1);
    int conv = add(g, "conv", "Conv", (const char *[]){"x", "conv.weight", "conv.bias"}, with_bias ? 3 : 2, "c");
    attr_ints(g, conv, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
    return conv;
}

/* mnist-8's pattern: Conv without bias + Add of a [C, 1, 1] constant (either operand order), and
 * Sub of a [1, C, 1, 1] constant, a scalar, a [1] constant: one Conv with a bias is left. */
static void test_conv_add_constant(void **state) {
    (void)state;
    static const qp_shape shapes[] = {{.rank = 3, .dims = {4, 1, 1}}, {.rank = 4, .dims = {1, 4, 1, 1}},
                                      {.rank = 0}, {.rank = 1, .dims = {1}}, {.rank = 3, .dims = {1, 1, 1}}};
    for (int variant = 0; variant < 10; variant++) {
        const int sub = variant % 2, shape = variant / 2;
        qp_graph *g = qp_graph_new();
        set_opset(g);
        conv_layer(g, variant % 3 == 0);
        random_init(g, "k", shapes[shape], -2, 2);
        if (sub)
            add(g, "sub", "Sub", (const char *[]){"c", "k"}, 2, "y");
        else if (variant % 4 == 0)
            add(g, "add", "Add", (const char *[]){"k", "c"}, 2, "y");
        else
            add(g, "add", "Add", (const char *[]){"c", "k"}, 2, "y");
        qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
        qp_session *s = session_for(g);
        fold_and_count(s, 1, 1e-5);
        qp_model *m = qp_session_model(s);
        assert_string_equal(qp_model_node_op(m, 0), "Conv");
        assert_int_equal(qp_model_node_num_inputs(m, 0), 3);
        assert_string_equal(qp_model_tensor_name(m, qp_model_node_output(m, 0, 0)), "y");
        assert_int_equal(qp_session_tensor_role(s, qp_model_node_input(m, 0, 2)), QP_ROLE_BIAS);
        qp_session_free(s);
    }
}

/* Gemm (bias scalar, per column or absent; beta != 1) + Add of [N] / [1, N] constants. */
static void test_gemm_add_constant(void **state) {
    (void)state;
    for (int variant = 0; variant < 3; variant++) {
        qp_graph *g = qp_graph_new();
        set_opset(g);
        qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 2, .dims = {-1, 4}});
        random_init(g, "fc.weight", (qp_shape){.rank = 2, .dims = {4, 5}}, -1, 1);
        if (variant == 0) random_init(g, "fc.bias", (qp_shape){.rank = 1, .dims = {5}}, -1, 1);
        if (variant == 1) random_init(g, "fc.bias", (qp_shape){.rank = 0}, -1, 1);
        int gemm = add(g, "fc", "Gemm", (const char *[]){"x", "fc.weight", "fc.bias"}, variant == 2 ? 2 : 3, "c");
        qp_attr *beta = qp_node_add_attr(&g->nodes[gemm], "beta", QP_ATTR_FLOAT);
        beta->f = 0.5f;
        random_init(g, "k", variant == 1 ? (qp_shape){.rank = 2, .dims = {1, 5}} : (qp_shape){.rank = 1, .dims = {5}}, -1, 1);
        add(g, "add", "Add", (const char *[]){"c", "k"}, 2, "y");
        qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
        qp_session *s = session_for(g);
        fold_and_count(s, 1, 1e-5);
        assert_float_equal(qp_model_node_attr_float(qp_session_model(s), 0, "beta", 0), 1.0f, 0);
        qp_session_free(s);
    }
}

/* Conv -> BN -> Add -> Sub folds completely (over successive sweeps). */
static void test_conv_bn_add_chain(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    set_opset(g);
    conv_layer(g, 1);
    add_bn(g, "c", "b", 4);
    random_init(g, "k1", (qp_shape){.rank = 3, .dims = {4, 1, 1}}, -1, 1);
    random_init(g, "k2", (qp_shape){.rank = 1, .dims = {1}}, -1, 1);
    add(g, "add", "Add", (const char *[]){"b", "k1"}, 2, "a");
    add(g, "sub", "Sub", (const char *[]){"a", "k2"}, 2, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    qp_session *s = session_for(g);
    fold_and_count(s, 1, 1e-5);
    qp_session_free(s);
}

/* Adds that must stay: operand not constant, constant that is not per channel (full plane, per
 * column, one more dim than the output), constant - conv, a Conv output read elsewhere or a graph
 * output, a bias shared with another Conv. Outputs are unchanged, bit for bit. */
static void test_add_not_folded(void **state) {
    (void)state;
    for (int variant = 0; variant < 8; variant++) {
        qp_graph *g = qp_graph_new();
        set_opset(g);
        conv_layer(g, 1);
        int nodes = 2;
        switch (variant) {
        case 0: { /* both operands are Conv outputs */
            random_init(g, "w2", (qp_shape){.rank = 4, .dims = {4, 3, 1, 1}}, -1, 1);
            add(g, "conv2", "Conv", (const char *[]){"x", "w2"}, 2, "c2");
            add(g, "add", "Add", (const char *[]){"c", "c2"}, 2, "y");
            nodes = 3;
            break;
        }
        case 1:
            random_init(g, "k", (qp_shape){.rank = 3, .dims = {4, 5, 5}}, -1, 1);
            add(g, "add", "Add", (const char *[]){"c", "k"}, 2, "y");
            break;
        case 2:
            random_init(g, "k", (qp_shape){.rank = 1, .dims = {5}}, -1, 1);
            add(g, "add", "Add", (const char *[]){"c", "k"}, 2, "y");
            break;
        case 3:
            random_init(g, "k", (qp_shape){.rank = 5, .dims = {1, 1, 4, 1, 1}}, -1, 1);
            add(g, "add", "Add", (const char *[]){"c", "k"}, 2, "y");
            break;
        case 4:
            random_init(g, "k", (qp_shape){.rank = 3, .dims = {4, 1, 1}}, -1, 1);
            add(g, "sub", "Sub", (const char *[]){"k", "c"}, 2, "y");
            break;
        case 5: /* the Conv output also feeds a Relu */
            random_init(g, "k", (qp_shape){.rank = 3, .dims = {4, 1, 1}}, -1, 1);
            add(g, "add", "Add", (const char *[]){"c", "k"}, 2, "y");
            add(g, "relu", "Relu", (const char *[]){"c"}, 1, "r");
            qp_test_add_output(g, qp_graph_find_tensor(g, "r"));
            nodes = 3;
            break;
        case 6: /* the Conv output is a graph output */
            random_init(g, "k", (qp_shape){.rank = 3, .dims = {4, 1, 1}}, -1, 1);
            add(g, "add", "Add", (const char *[]){"c", "k"}, 2, "y");
            qp_test_add_output(g, qp_graph_find_tensor(g, "c"));
            break;
        case 7: { /* a second Conv shares the bias */
            random_init(g, "k", (qp_shape){.rank = 3, .dims = {4, 1, 1}}, -1, 1);
            add(g, "add", "Add", (const char *[]){"c", "k"}, 2, "y");
            int c2 = add(g, "conv2", "Conv", (const char *[]){"x", "conv.weight", "conv.bias"}, 3, "c2");
            attr_ints(g, c2, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
            qp_test_add_output(g, qp_graph_find_tensor(g, "c2"));
            nodes = 3;
            break;
        }
        }
        qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
        qp_session *s = session_for(g);
        fold_and_count(s, nodes, 0);
        qp_session_free(s);
    }
}

/* mnist-8: both Conv + Add [C, 1, 1] pairs fold; the MatMul's Add stays (MatMul is not folded into). */
static void test_mnist8(void **state) {
    (void)state;
    QP_REQUIRE_SHARED("models/mnist-8/model.onnx");
    char model[4096], input[4096];
    qp_test_shared_path("models/mnist-8/model.onnx", model);
    qp_test_shared_path("models/mnist-8/ref/input_0.npy", input);
    qp_session *s;
    assert_ok(qp_session_new(&s));
    qp_session_set_verbosity(s, QP_LOG_ERROR);
    qp_session_set_run_options(s, 1, 0);
    assert_ok(qp_session_load_model(s, model));
    assert_int_equal(count_op(s, "Add"), 3);
    float *in;
    qp_shape shape;
    assert_ok(qp_npy_read_f32(input, &in, &shape));
    fold_and_compare(s, in, 0, 1e-5);
    assert_int_equal(count_op(s, "Add"), 1);
    assert_int_equal(count_op(s, "Conv"), 2);
    free(in);
    qp_session_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_without_bias),
        cmocka_unit_test(test_grouped_conv_transpose),
        cmocka_unit_test(test_gemm_both_layouts),
        cmocka_unit_test(test_shared_output_is_not_folded),
        cmocka_unit_test(test_fashion_mnist_example),
        cmocka_unit_test(test_ultraface),
        cmocka_unit_test(test_conv_add_constant),
        cmocka_unit_test(test_gemm_add_constant),
        cmocka_unit_test(test_conv_bn_add_chain),
        cmocka_unit_test(test_add_not_folded),
        cmocka_unit_test(test_mnist8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
