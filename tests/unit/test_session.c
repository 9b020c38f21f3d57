/* test_session.c — the session behind qp_session.h: tensor roles, shared encodings, layer overrides, encodings API, calibration batches. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/graph_edit.h"
#include "quant/encodings.h"
#include "session/session.h"
#include "test_support.h"

/* Fails with the library's message, which says what went wrong. */
#define assert_ok(expr)                                                                        \
    do {                                                                                       \
        qp_status st_ = (expr);                                                                \
        if (st_ != QP_OK) fail_msg("%s -> %d: %s", #expr, (int)st_, qp_error_message());       \
    } while (0)

static int node(qp_graph *g, const char *name, const char *op, const char *const *ins, int n_in, const char *out) {
    int in_ids[8], out_id = qp_graph_get_or_add_tensor(g, out);
    for (int i = 0; i < n_in; i++) in_ids[i] = ins[i] ? qp_graph_get_or_add_tensor(g, ins[i]) : -1;
    int id = qp_graph_add_node(g, name, op, "", in_ids, n_in, &out_id, 1);
    assert_true(id >= 0);
    return id;
}

static void attr_int(qp_graph *g, int node_id, const char *name, int64_t v) {
    qp_attr *a = qp_node_add_attr(&g->nodes[node_id], name, QP_ATTR_INT);
    assert_non_null(a);
    a->i = v;
}

/* x[N,3,4,4] -> Conv(w, b) -> y -> Relu -> r -> Reshape(shape) -> f[N,32] -> Gemm(W2^T, b2) -> g
 *   -> MatMul(M) -> out[N,3]; plus t = ConvTranspose(y, wt) as a second output. */
static void set_opset(qp_graph *g) {
    g->opsets = calloc(1, sizeof *g->opsets);
    g->opsets[0].domain = strdup("");
    g->opsets[0].version = 13;
    g->n_opsets = 1;
}

static qp_graph *make_graph(void) {
    qp_graph *g = qp_graph_new();
    set_opset(g);
    qp_shape xs = {.rank = 4, .dims = {-1, 3, 4, 4}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &xs);
    float w[6] = {1, 0.5f, -1, 0.25f, 2, -0.5f}, b[2] = {0.1f, -0.2f};
    qp_test_add_initializer(g, "w", &(qp_shape){.rank = 4, .dims = {2, 3, 1, 1}}, w);
    qp_test_add_initializer(g, "b", &(qp_shape){.rank = 1, .dims = {2}}, b);
    float w2[5 * 32], b2[5], m[5 * 3], wt[2 * 4 * 2 * 2];
    for (int i = 0; i < 5 * 32; i++) w2[i] = (float)((i % 7) - 3) * 0.1f;
    for (int i = 0; i < 5; i++) b2[i] = 0.01f * (float)i;
    for (int i = 0; i < 15; i++) m[i] = (float)((i % 5) - 2) * 0.2f;
    for (int i = 0; i < 32; i++) wt[i] = (float)((i % 3) - 1);
    qp_test_add_initializer(g, "w2", &(qp_shape){.rank = 2, .dims = {5, 32}}, w2);
    qp_test_add_initializer(g, "b2", &(qp_shape){.rank = 1, .dims = {5}}, b2);
    qp_test_add_initializer(g, "m", &(qp_shape){.rank = 2, .dims = {5, 3}}, m);
    qp_test_add_initializer(g, "wt", &(qp_shape){.rank = 4, .dims = {2, 4, 2, 2}}, wt);
    int shape_id = qp_graph_get_or_add_tensor(g, "shape");
    int64_t *sd = malloc(2 * sizeof *sd);
    sd[0] = -1;
    sd[1] = 32;
    qp_tensor_set_data(g->tensors[shape_id], QP_DT_INT64, &(qp_shape){.rank = 1, .dims = {2}}, sd, 16);
    node(g, "conv", "Conv", (const char *[]){"x", "w", "b"}, 3, "y");
    node(g, "relu", "Relu", (const char *[]){"y"}, 1, "r");
    node(g, "flat", "Reshape", (const char *[]){"r", "shape"}, 2, "f");
    int gemm = node(g, "gemm", "Gemm", (const char *[]){"f", "w2", "b2"}, 3, "g");
    attr_int(g, gemm, "transB", 1);
    node(g, "mm", "MatMul", (const char *[]){"g", "m"}, 2, "out");
    node(g, "deconv", "ConvTranspose", (const char *[]){"y", "wt"}, 2, "t");
    qp_test_add_output(g, qp_graph_find_tensor(g, "out"));
    qp_test_add_output(g, qp_graph_find_tensor(g, "t"));
    assert_ok(qp_graph_finalize(g));
    return g;
}

static qp_session *make_session(void) {
    qp_session *s;
    assert_ok(qp_session_new(&s));
    qp_session_set_verbosity(s, QP_LOG_ERROR);
    assert_ok(qp_session_set_graph(s, make_graph()));
    qp_session_set_run_options(s, 2, 1);
    return s;
}

static int T(qp_session *s, const char *name) {
    int t = qp_model_find_tensor(qp_session_model(s), name);
    assert_true(t >= 0);
    return t;
}

static void test_roles_and_weight_axes(void **state) {
    (void)state;
    qp_session *s = make_session();
    assert_ok(qp_session_prepare(s));
    assert_int_equal(qp_session_tensor_role(s, T(s, "x")), QP_ROLE_ACTIVATION);
    assert_int_equal(qp_session_tensor_role(s, T(s, "w")), QP_ROLE_WEIGHT);
    assert_int_equal(qp_session_tensor_role(s, T(s, "b")), QP_ROLE_BIAS);
    assert_int_equal(qp_session_tensor_role(s, T(s, "y")), QP_ROLE_ACTIVATION);
    assert_int_equal(qp_session_tensor_role(s, T(s, "r")), QP_ROLE_ACTIVATION);
    assert_int_equal(qp_session_tensor_role(s, T(s, "f")), QP_ROLE_ACTIVATION);
    assert_int_equal(qp_session_tensor_role(s, T(s, "shape")), QP_ROLE_NONE);
    assert_int_equal(qp_session_tensor_role(s, T(s, "w2")), QP_ROLE_WEIGHT);
    assert_int_equal(qp_session_tensor_role(s, T(s, "b2")), QP_ROLE_BIAS);
    assert_int_equal(qp_session_tensor_role(s, T(s, "m")), QP_ROLE_WEIGHT);
    assert_int_equal(qp_session_tensor_role(s, T(s, "wt")), QP_ROLE_WEIGHT);
    assert_int_equal(qp_session_tensor_role(s, T(s, "out")), QP_ROLE_ACTIVATION);
    assert_int_equal(qp_session_tensor_role(s, -1), QP_ROLE_NONE);
    assert_int_equal(qp_session_tensor_role(s, 100000), QP_ROLE_NONE);
    /* Reshape's output shares the Relu output's encoding; others own theirs */
    assert_int_equal(qp_session_encoding_source(s, T(s, "f")), T(s, "r"));
    assert_int_equal(qp_session_encoding_source(s, T(s, "r")), T(s, "r"));
    assert_int_equal(qp_session_weight_axis(s, T(s, "w")), 0);
    assert_int_equal(qp_session_weight_axis(s, T(s, "w2")), 0);  /* Gemm transB=1 */
    assert_int_equal(qp_session_weight_axis(s, T(s, "m")), 1);   /* MatMul: last */
    assert_int_equal(qp_session_weight_axis(s, T(s, "wt")), 1);  /* ConvTranspose */
    assert_int_equal(qp_session_weight_axis(s, T(s, "y")), -1);
    /* shapes as planned at the session's batch size */
    qp_model *m = qp_session_model(s);
    assert_int_equal(qp_model_tensor_rank(m, T(s, "f")), 2);
    assert_int_equal(qp_model_tensor_dim(m, T(s, "f"), 0), 2);
    assert_int_equal(qp_model_tensor_dim(m, T(s, "f"), 1), 32);
    assert_int_equal(qp_model_tensor_dim(m, T(s, "t"), 1), 4);
    assert_int_equal(qp_model_tensor_dtype(m, T(s, "g")), 1);
    qp_session_free(s);
}

static void test_gemm_without_trans_b_uses_last_axis(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    qp_test_add_input(g, "a", QP_DT_FLOAT, &(qp_shape){.rank = 2, .dims = {-1, 4}});
    float w[12] = {0};
    qp_test_add_initializer(g, "w", &(qp_shape){.rank = 2, .dims = {4, 3}}, w);
    node(g, "fc", "Gemm", (const char *[]){"a", "w"}, 2, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    assert_ok(qp_graph_finalize(g));
    qp_session *s;
    assert_ok(qp_session_new(&s));
    assert_ok(qp_session_set_graph(s, g));
    assert_int_equal(qp_session_weight_axis(s, T(s, "w")), 1);
    qp_quant_spec spec;
    assert_ok(qp_session_quant_spec(s, T(s, "w"), &spec));
    assert_int_equal(spec.bits, 8);
    assert_int_equal(spec.symmetric, 1);
    assert_int_equal(spec.per_channel, 1);
    assert_ok(qp_session_quant_spec(s, T(s, "y"), &spec));
    assert_int_equal(spec.symmetric, 0);
    assert_int_equal(spec.per_channel, 0);
    qp_session_free(s);
}

static void test_layer_skip_until(void **state) {
    (void)state;
    qp_session *s = make_session();
    const char *until[] = {"gemm"};
    qp_layer_override l = {.name = "relu", .skip = 1, .until = until, .n_until = 1};
    assert_ok(qp_session_add_layer_override(s, &l));
    assert_ok(qp_session_prepare(s));
    /* relu and flat are the region; gemm ends it and stays quantized */
    assert_int_equal(qp_session_tensor_role(s, T(s, "r")), QP_ROLE_NONE);
    assert_int_equal(qp_session_tensor_role(s, T(s, "f")), QP_ROLE_NONE);
    assert_int_equal(qp_session_tensor_role(s, T(s, "y")), QP_ROLE_ACTIVATION);
    assert_int_equal(qp_session_tensor_role(s, T(s, "g")), QP_ROLE_ACTIVATION);
    assert_int_equal(qp_session_tensor_role(s, T(s, "w2")), QP_ROLE_WEIGHT);
    assert_true(qp_session_node_skipped(s, 1)); /* relu */
    assert_false(qp_session_node_skipped(s, 3)); /* gemm */
    qp_session_free(s);

    /* skipping one weighted node alone: its weights and bias are not quantized */
    s = make_session();
    qp_layer_override conv = {.name = "conv", .skip = 1};
    assert_ok(qp_session_add_layer_override(s, &conv));
    assert_int_equal(qp_session_tensor_role(s, T(s, "w")), QP_ROLE_NONE);
    assert_int_equal(qp_session_tensor_role(s, T(s, "b")), QP_ROLE_NONE);
    assert_int_equal(qp_session_tensor_role(s, T(s, "y")), QP_ROLE_NONE);
    assert_int_equal(qp_session_tensor_role(s, T(s, "x")), QP_ROLE_NONE); /* only consumer skipped */
    assert_int_equal(qp_session_tensor_role(s, T(s, "r")), QP_ROLE_ACTIVATION);
    qp_session_free(s);
}

static void test_layer_bits_and_errors(void **state) {
    (void)state;
    qp_session *s = make_session();
    qp_layer_override l = {.name = "gemm", .skip = -1, .bits = 4};
    assert_ok(qp_session_add_layer_override(s, &l));
    qp_quant_spec spec;
    assert_ok(qp_session_quant_spec(s, T(s, "w2"), &spec));
    assert_int_equal(spec.bits, 4);
    assert_ok(qp_session_quant_spec(s, T(s, "g"), &spec));
    assert_int_equal(spec.bits, 4);
    assert_ok(qp_session_quant_spec(s, T(s, "out"), &spec));
    assert_int_equal(spec.bits, 8);
    assert_int_equal(qp_session_quant_spec(s, T(s, "shape"), &spec), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "not quantized"));

    qp_layer_override bad = {.name = "nope", .skip = 1};
    assert_int_equal(qp_session_add_layer_override(s, &bad), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "no node named 'nope'"));
    assert_non_null(strstr(qp_error_message(), "'conv'")); /* examples of real names */
    const char *upstream[] = {"conv"};
    qp_layer_override back = {.name = "gemm", .skip = 1, .until = upstream, .n_until = 1};
    assert_int_equal(qp_session_add_layer_override(s, &back), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "not downstream of 'gemm'"));
    qp_session_free(s);
}

static void test_encodings_shared_and_checked(void **state) {
    (void)state;
    qp_session *s = make_session();
    float lo = -1, hi = 3;
    assert_ok(qp_session_set_range(s, T(s, "r"), 8, 0, -1, 1, &lo, &hi));
    int bits, sym, axis;
    const float *scale, *mn, *mx;
    const int32_t *zp;
    assert_int_equal(qp_session_get_encoding(s, T(s, "r"), &bits, &sym, &axis, &scale, &zp, &mn, &mx), 1);
    float want_scale;
    int32_t want_zp;
    qp_encoding_from_range(8, 0, -1, 3, &want_scale, &want_zp);
    assert_float_equal(scale[0], want_scale, 0);
    assert_int_equal(zp[0], want_zp);
    assert_int_equal(bits, 8);
    assert_int_equal(axis, -1);
    /* the Reshape output got a copy; setting it directly does not change the pair */
    assert_int_equal(qp_session_get_encoding(s, T(s, "f"), NULL, NULL, NULL, &scale, &zp, NULL, NULL), 1);
    assert_float_equal(scale[0], want_scale, 0);
    float lo2 = 0, hi2 = 100;
    assert_ok(qp_session_set_range(s, T(s, "f"), 8, 0, -1, 1, &lo2, &hi2));
    assert_int_equal(qp_session_get_encoding(s, T(s, "f"), NULL, NULL, NULL, &scale, NULL, NULL, NULL), 1);
    assert_float_equal(scale[0], want_scale, 0);
    const qp_encodings *store = qp_session_encodings(s);
    assert_non_null(qp_encodings_get(store, T(s, "f")));
    /* an encoding given by scale and zero point (imported from another tool) follows the same rules */
    const float s_half = 0.5f;
    const int32_t zp10 = 10, zp0 = 0;
    assert_ok(qp_session_set_encoding(s, T(s, "r"), 8, 0, -1, 1, &s_half, &zp10));
    assert_int_equal(qp_session_get_encoding(s, T(s, "f"), NULL, NULL, NULL, &scale, &zp, &mn, &mx), 1);
    assert_float_equal(scale[0], 0.5f, 0);
    assert_int_equal(zp[0], 10);
    assert_float_equal(mn[0], -5.0f, 0);
    assert_float_equal(mx[0], 122.5f, 0);
    assert_int_equal(qp_session_set_encoding(s, T(s, "r"), 8, 1, -1, 1, &s_half, &zp10), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "zero point 0"));
    assert_int_equal(qp_session_set_encoding(s, T(s, "shape"), 8, 1, -1, 1, &s_half, &zp0), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_session_set_encoding(s, T(s, "b"), 8, 1, -1, 1, &s_half, &zp0), QP_ERR_INVALID_ARG);
    const float bad_scale = -1;
    assert_int_equal(qp_session_set_encoding(s, T(s, "r"), 8, 0, -1, 1, &bad_scale, &zp0), QP_ERR_INVALID_ARG);
    /* clearing the source clears the copies */
    qp_session_clear_encoding(s, T(s, "r"));
    assert_int_equal(qp_session_get_encoding(s, T(s, "f"), NULL, NULL, NULL, NULL, NULL, NULL, NULL), 0);

    /* per-channel weights: the channel count must match the axis */
    float wmin[2] = {-1, -2}, wmax[2] = {1, 2};
    assert_ok(qp_session_set_range(s, T(s, "w"), 8, 1, 0, 2, wmin, wmax));
    assert_int_equal(qp_session_get_encoding(s, T(s, "w"), NULL, &sym, &axis, &scale, &zp, NULL, NULL), 2);
    assert_int_equal(axis, 0);
    assert_float_equal(scale[1], 2.0f / 127, 1e-9);
    assert_int_equal(qp_session_set_range(s, T(s, "w"), 8, 1, 0, 3, wmin, wmax), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "3 channels"));
    assert_int_equal(qp_session_set_range(s, T(s, "w"), 8, 1, 5, 2, wmin, wmax), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_session_set_range(s, T(s, "w"), 1, 1, -1, 1, wmin, wmax), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_session_set_range(s, T(s, "shape"), 8, 0, -1, 1, &lo, &hi), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_session_set_range(s, T(s, "b"), 8, 0, -1, 1, &lo, &hi), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "derived"));

    /* the bias encoding follows from the input and weight encodings: s_in * s_w[c], 32 bits */
    assert_int_equal(qp_session_get_encoding(s, T(s, "b"), NULL, NULL, NULL, NULL, NULL, NULL, NULL), 0);
    float xlo = -2, xhi = 2;
    assert_ok(qp_session_set_range(s, T(s, "x"), 8, 0, -1, 1, &xlo, &xhi));
    const float *xs, *ws;
    assert_int_equal(qp_session_get_encoding(s, T(s, "x"), NULL, NULL, NULL, &xs, NULL, NULL, NULL), 1);
    assert_int_equal(qp_session_get_encoding(s, T(s, "w"), NULL, NULL, NULL, &ws, NULL, NULL, NULL), 2);
    assert_int_equal(qp_session_get_encoding(s, T(s, "b"), &bits, &sym, &axis, &scale, &zp, NULL, NULL), 2);
    assert_int_equal(bits, 32);
    assert_int_equal(axis, 0);
    assert_float_equal(scale[0], xs[0] * ws[0], 0);
    assert_float_equal(scale[1], xs[0] * ws[1], 0);
    assert_int_equal(zp[1], 0);
    qp_session_free(s);
}

static void test_set_tensor_data(void **state) {
    (void)state;
    qp_session *s = make_session();
    qp_model *m = qp_session_model(s);
    float wmin[2] = {-1, -2}, wmax[2] = {1, 2};
    int w = T(s, "w");
    assert_ok(qp_session_set_range(s, w, 8, 1, 0, 2, wmin, wmax));
    size_t nbytes;
    const float *old = qp_model_tensor_data(m, w, &nbytes);
    assert_non_null(old);
    assert_int_equal(nbytes, 6 * sizeof(float));
    float fresh[6] = {6, 5, 4, 3, 2, 1};
    assert_int_equal(qp_model_set_tensor_data(m, w, fresh, 5 * sizeof(float)), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_model_set_tensor_data(m, T(s, "y"), fresh, sizeof fresh), QP_ERR_INVALID_ARG);
    assert_ok(qp_model_set_tensor_data(m, w, fresh, sizeof fresh));
    assert_memory_equal(qp_model_tensor_data(m, w, NULL), fresh, sizeof fresh);
    assert_int_equal(qp_session_get_encoding(s, w, NULL, NULL, NULL, NULL, NULL, NULL, NULL), 0);
    assert_null(qp_model_tensor_data(m, T(s, "y"), &nbytes));
    /* the engine sees the new weights: a new plan runs with them */
    qp_plan *plan;
    assert_ok(qp_session_fp32_plan(s, &plan));
    qp_value *in = qp_plan_input(plan, 0);
    for (size_t i = 0; i < in->nbytes / sizeof(float); i++) ((float *)in->data)[i] = 1;
    assert_ok(qp_plan_run(plan));
    const qp_value *y = qp_plan_tensor(plan, T(s, "y"));
    assert_float_equal(((const float *)y->data)[0], 6 + 5 + 4 + 0.1f, 1e-5);
    qp_session_free(s);
}

static void test_model_accessors(void **state) {
    (void)state;
    qp_session *s = make_session();
    qp_model *m = qp_session_model(s);
    assert_int_equal(qp_model_num_nodes(m), 6);
    assert_string_equal(qp_model_node_op(m, 0), "Conv");
    assert_string_equal(qp_model_node_name(m, 3), "gemm");
    assert_string_equal(qp_model_node_domain(m, 0), "");
    assert_int_equal(qp_model_node_num_inputs(m, 0), 3);
    assert_int_equal(qp_model_node_input(m, 0, 1), T(s, "w"));
    assert_int_equal(qp_model_node_input(m, 0, 9), -1);
    assert_int_equal(qp_model_node_output(m, 0, 0), T(s, "y"));
    assert_int_equal(qp_model_node_attr_int(m, 3, "transB", 0), 1);
    assert_int_equal(qp_model_node_attr_int(m, 3, "transA", 7), 7);
    assert_float_equal(qp_model_node_attr_float(m, 3, "alpha", 1.5f), 1.5f, 0);
    assert_int_equal(qp_model_node_attr_ints(m, 0, "pads", NULL), 0);
    assert_null(qp_model_node_name(m, 99));
    assert_int_equal(qp_model_tensor_producer(m, T(s, "y")), 0);
    assert_int_equal(qp_model_tensor_num_consumers(m, T(s, "y")), 2);
    assert_int_equal(qp_model_tensor_consumer(m, T(s, "y"), 0), 1);
    assert_true(qp_model_tensor_is_graph_output(m, T(s, "out")));
    assert_false(qp_model_tensor_is_graph_output(m, T(s, "y")));
    assert_int_equal(qp_model_find_tensor(m, "absent"), -1);
    assert_string_equal(qp_model_tensor_name(m, T(s, "w2")), "w2");
    assert_int_equal(qp_model_tensor_dtype(m, T(s, "shape")), 7);
    qp_session_free(s);
}

/* Weights held in Constant nodes become initializers, so passes can read and rewrite them. */
static void test_constant_weights_become_initializers(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 4, .dims = {1, 1, 2, 2}});
    int w = qp_graph_get_or_add_tensor(g, "cw");
    int cst = qp_graph_add_node(g, "const_w", "Constant", "", NULL, 0, &w, 1);
    qp_attr *a = qp_node_add_attr(&g->nodes[cst], "value", QP_ATTR_TENSOR);
    a->t = calloc(1, sizeof *a->t);
    a->t->dtype = QP_DT_FLOAT;
    a->t->shape = (qp_shape){.rank = 4, .dims = {1, 1, 1, 1}};
    a->t->data = malloc(sizeof(float));
    *(float *)a->t->data = 3;
    a->t->nbytes = sizeof(float);
    node(g, "conv", "Conv", (const char *[]){"x", "cw"}, 2, "y");
    /* a MatMul weight stored transposed and flipped back in the graph (as mnist-8 reshapes its) */
    set_opset(g);
    const float mt[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    qp_test_add_initializer(g, "mt", &(qp_shape){.rank = 2, .dims = {3, 4}}, mt);
    node(g, "flat", "Reshape", (const char *[]){"y", "shape"}, 2, "f");
    int64_t *sd = malloc(2 * sizeof *sd);
    sd[0] = 1;
    sd[1] = 4;
    qp_tensor_set_data(g->tensors[qp_graph_get_or_add_tensor(g, "shape")], QP_DT_INT64,
                       &(qp_shape){.rank = 1, .dims = {2}}, sd, 2 * sizeof *sd);
    node(g, "tr", "Transpose", (const char *[]){"mt"}, 1, "m");
    node(g, "mm", "MatMul", (const char *[]){"f", "m"}, 2, "z");
    qp_test_add_output(g, qp_graph_find_tensor(g, "z"));
    assert_ok(qp_graph_finalize(g));
    qp_session *s;
    assert_ok(qp_session_new(&s));
    assert_ok(qp_session_set_graph(s, g));
    qp_model *m = qp_session_model(s);
    assert_int_equal(qp_model_num_nodes(m), 3); /* conv, flat, mm: Constant and Transpose folded */
    const float *data = qp_model_tensor_data(m, T(s, "cw"), NULL);
    assert_non_null(data);
    assert_float_equal(data[0], 3, 0);
    assert_int_equal(qp_session_tensor_role(s, T(s, "cw")), QP_ROLE_WEIGHT);
    size_t nbytes;
    const float *mdata = qp_model_tensor_data(m, T(s, "m"), &nbytes);
    assert_non_null(mdata);
    assert_int_equal(nbytes, 12 * sizeof(float));
    assert_float_equal(mdata[1], 5, 0); /* the transpose: [[1,5,9],[2,6,10],...] */
    assert_int_equal(qp_model_tensor_dim(m, T(s, "m"), 0), 4);
    assert_int_equal(qp_session_tensor_role(s, T(s, "m")), QP_ROLE_WEIGHT);
    assert_int_equal(qp_session_weight_axis(s, T(s, "m")), 1);
    qp_session_free(s);
}

/* A plain IDX file of n grey h x w images; pixel i of image k = pixels(k, i). */
static void write_idx(const char *path, int n, int h, int w, int (*pixels)(int, int)) {
    size_t size = 16 + (size_t)n * h * w;
    unsigned char *buf = malloc(size);
    unsigned char header[16] = {0, 0, 8, 3};
    int dims[3] = {n, h, w};
    for (int d = 0; d < 3; d++) {
        header[4 + 4 * d] = (unsigned char)(dims[d] >> 24);
        header[5 + 4 * d] = (unsigned char)(dims[d] >> 16);
        header[6 + 4 * d] = (unsigned char)(dims[d] >> 8);
        header[7 + 4 * d] = (unsigned char)dims[d];
    }
    memcpy(buf, header, 16);
    for (int k = 0; k < n; k++)
        for (int i = 0; i < h * w; i++) buf[16 + (size_t)k * h * w + i] = (unsigned char)pixels(k, i);
    qp_test_write_file(path, buf, size);
    free(buf);
}

static int ramp(int k, int i) { return 10 * k + i; }

typedef struct seen {
    int input, rows, calls;
    float min, max;
    int rows_per_call[8];
} seen;

static void record(void *user, int tensor, const float *data, int rank, const int64_t *dims) {
    seen *sn = user;
    if (tensor != sn->input) return;
    int64_t n = 1;
    for (int d = 0; d < rank; d++) n *= dims[d];
    for (int64_t i = 0; i < n; i++) {
        sn->min = data[i] < sn->min ? data[i] : sn->min;
        sn->max = data[i] > sn->max ? data[i] : sn->max;
    }
    if (sn->calls < 8) sn->rows_per_call[sn->calls] = (int)dims[0];
    sn->calls++;
    sn->rows += (int)dims[0];
}

/* 5 images in batches of 2: the last batch shows its one real row only. */
static void test_calibration_batches(void **state) {
    (void)state;
    char *dir = qp_test_mkdtemp(), path[4096];
    snprintf(path, sizeof path, "%s/calib-idx3-ubyte", dir);
    write_idx(path, 5, 2, 2, ramp);
    qp_graph *g = qp_graph_new();
    qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 4, .dims = {-1, 1, 2, 2}});
    set_opset(g);
    const float one = 1;
    qp_test_add_initializer(g, "k", &(qp_shape){.rank = 1, .dims = {1}}, &one);
    node(g, "relu", "Relu", (const char *[]){"x"}, 1, "r");
    node(g, "scale", "Mul", (const char *[]){"r", "k"}, 2, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    assert_ok(qp_graph_finalize(g));
    qp_session *s;
    assert_ok(qp_session_new(&s));
    qp_session_set_verbosity(s, QP_LOG_ERROR);
    assert_ok(qp_session_set_graph(s, g));
    qp_session_set_run_options(s, 2, 1);
    assert_int_equal(qp_session_run_calibration(s, record, NULL), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "data.calibration"));
    qp_dataset_config cfg;
    qp_dataset_config_init(&cfg);
    cfg.images = path;
    assert_ok(qp_preprocess_set(&cfg.preprocess, "color", "GRAY"));
    assert_ok(qp_session_set_calibration(s, &cfg));
    assert_int_equal(qp_session_calibration_size(s), 5);
    seen sn = {.input = T(s, "x"), .min = 1e9f, .max = -1e9f};
    assert_ok(qp_session_run_calibration(s, record, &sn));
    assert_int_equal(sn.calls, 3);
    assert_int_equal(sn.rows, 5);
    assert_int_equal(sn.rows_per_call[2], 1);
    assert_float_equal(sn.min, 0, 0);
    assert_float_equal(sn.max, 43, 0);
    /* a weight rewritten between two calibration runs: the second run sees it */
    seen out = {.input = T(s, "y"), .min = 1e9f, .max = -1e9f};
    const float two = 2;
    assert_ok(qp_model_set_tensor_data(qp_session_model(s), T(s, "k"), &two, sizeof two));
    assert_ok(qp_session_run_calibration(s, record, &out));
    assert_float_equal(out.max, 86, 0);
    assert_int_equal(out.rows, 5);
    /* missing image folder: reported when the data set is set */
    cfg.images = "/nonexistent/qpipe/images";
    assert_int_not_equal(qp_session_set_calibration(s, &cfg), QP_OK);
    assert_non_null(strstr(qp_error_message(), "/nonexistent/qpipe/images"));
    qp_session_free(s);
    qp_test_rmtree(dir);
    free(dir);
}

static void test_log_without_session(void **state) {
    (void)state;
    qp_log(NULL, QP_LOG_DEBUG, "a message with no session: %d", 42);
    qp_progress(NULL, "nothing", 1, 2);
    qp_session *s;
    assert_ok(qp_session_new(&s));
    assert_int_equal(qp_session_prepare(s), QP_ERR_INVALID_ARG); /* no model yet */
    assert_int_equal(qp_session_tensor_role(s, 0), QP_ROLE_NONE);
    qp_session_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles_and_weight_axes),
        cmocka_unit_test(test_gemm_without_trans_b_uses_last_axis),
        cmocka_unit_test(test_layer_skip_until),
        cmocka_unit_test(test_layer_bits_and_errors),
        cmocka_unit_test(test_encodings_shared_and_checked),
        cmocka_unit_test(test_set_tensor_data),
        cmocka_unit_test(test_model_accessors),
        cmocka_unit_test(test_constant_weights_become_initializers),
        cmocka_unit_test(test_calibration_batches),
        cmocka_unit_test(test_log_without_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
