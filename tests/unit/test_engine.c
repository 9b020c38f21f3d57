/* test_engine.c — the fp32 planner: constant folding, arena reuse, observer, error messages naming nodes, API edges. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "test_support.h"

/* A node with up to three inputs (NULL = none) and one output, by tensor name. */
static int node(qp_graph *g, const char *name, const char *op, const char *in0, const char *in1, const char *in2,
                const char *out) {
    int ins[3], n_in = 0;
    const char *names[3] = {in0, in1, in2};
    for (int i = 0; i < 3; i++)
        if (names[i]) ins[n_in++] = qp_graph_get_or_add_tensor(g, names[i]);
    int o = qp_graph_get_or_add_tensor(g, out);
    int id = qp_graph_add_node(g, name, op, "", ins, n_in, &o, 1);
    assert_true(id >= 0);
    return id;
}

static void set_opset(qp_graph *g, int64_t version) {
    g->opsets = calloc(1, sizeof *g->opsets);
    g->opsets[0].domain = strdup("");
    g->opsets[0].version = version;
    g->n_opsets = 1;
}

static qp_graph *new_graph(void) {
    qp_graph *g = qp_graph_new();
    assert_non_null(g);
    set_opset(g, 13);
    return g;
}

static void finalize(qp_graph *g) {
    qp_status st = qp_graph_finalize(g);
    if (st != QP_OK) print_error("%s\n", qp_error_message());
    assert_int_equal(st, QP_OK);
}

static qp_plan *plan_ok(const qp_graph *g, const qp_plan_options *o) {
    qp_plan *plan = NULL;
    qp_status st = qp_plan_create(g, o, &plan);
    if (st != QP_OK) print_error("%s\n", qp_error_message());
    assert_int_equal(st, QP_OK);
    return plan;
}

typedef struct seen {
    int count;
    int ids[64];
    int64_t numel[64];
} seen;

static void record(void *user, int tensor_id, const qp_value *v) {
    seen *s = user;
    if (s->count < 64) {
        s->ids[s->count] = tensor_id;
        s->numel[s->count] = qp_shape_numel(&v->shape);
    }
    s->count++;
}

/* y = x * (a + b): a + b has only constant inputs, so it folds; the observer sees Mul only. */
static void test_constant_folding(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s4 = {.rank = 1, .dims = {4}};
    const float a[] = {1, 2, 3, 4}, b[] = {10, 20, 30, 40};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &s4);
    qp_test_add_initializer(g, "a", &s4, a);
    qp_test_add_initializer(g, "b", &s4, b);
    node(g, "sum", "Add", "a", "b", NULL, "ab");
    node(g, "mul", "Mul", "x", "ab", NULL, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    seen s = {0};
    qp_plan_options o = {.n_threads = 1, .observer = record, .observer_user = &s};
    qp_plan *plan = plan_ok(g, &o);
    const int ab = qp_graph_find_tensor(g, "ab");
    /* The folded value is known right after planning. */
    const float *abv = qp_plan_tensor(plan, ab)->data;
    for (int i = 0; i < 4; i++) assert_float_equal(abv[i], a[i] + b[i], 0);
    float *x = qp_plan_input(plan, 0)->data;
    for (int i = 0; i < 4; i++) x[i] = (float)(i + 1);
    assert_int_equal(qp_plan_run(plan), QP_OK);
    const float *y = qp_plan_output(plan, 0)->data;
    for (int i = 0; i < 4; i++) assert_float_equal(y[i], (float)(i + 1) * (a[i] + b[i]), 0);
    assert_int_equal(s.count, 1); /* only Mul ran */
    assert_int_equal(s.ids[0], qp_graph_find_tensor(g, "y"));
    assert_int_equal(s.numel[0], 4);
    qp_plan_free(plan);
    qp_graph_free(g);
}

/* A chain of 6 Relus over 64K floats: lifetimes let buffers be reused, so the arena is far
 * smaller than the sum of the activations. */
static void test_arena_reuse_on_chain(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s = {.rank = 2, .dims = {256, 256}};
    qp_test_add_input(g, "t0", QP_DT_FLOAT, &s);
    char in[16], out[16], name[16];
    const int n_layers = 6;
    for (int i = 0; i < n_layers; i++) {
        snprintf(in, sizeof in, "t%d", i);
        snprintf(out, sizeof out, "t%d", i + 1);
        snprintf(name, sizeof name, "relu%d", i);
        node(g, name, i == 0 ? "Relu" : "Neg", in, NULL, NULL, out);
    }
    qp_test_add_output(g, qp_graph_find_tensor(g, out));
    finalize(g);
    qp_plan_options o = {.n_threads = 1};
    qp_plan *plan = plan_ok(g, &o);
    size_t one = 256 * 256 * sizeof(float);
    size_t sum = (size_t)n_layers * one;
    assert_true(qp_plan_arena_bytes(plan) < sum);
    assert_true(qp_plan_arena_bytes(plan) <= 2 * one + 64);
    assert_true(qp_plan_arena_bytes(plan) >= 2 * one); /* a step's input and output cannot share */
    float *x = qp_plan_input(plan, 0)->data;
    for (int i = 0; i < 256 * 256; i++) x[i] = (float)(i % 7) - 3.0f;
    assert_int_equal(qp_plan_run(plan), QP_OK);
    const float *y = qp_plan_output(plan, 0)->data;
    /* relu, then five negations: -relu(x). */
    for (int i = 0; i < 256 * 256; i++) assert_float_equal(y[i], -fmaxf(x[i], 0.0f), 0);
    qp_plan_free(plan);
    qp_graph_free(g);
}

/* The observer sees every executed output once, in execution order, with its shape. */
static void test_observer_order(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s = {.rank = 2, .dims = {2, 3}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    node(g, "r", "Relu", "x", NULL, NULL, "r");
    node(g, "n", "Neg", "r", NULL, NULL, "n");
    node(g, "a", "Add", "r", "n", NULL, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    seen s_ = {0};
    qp_plan_options o = {.n_threads = 1, .observer = record, .observer_user = &s_};
    qp_plan *plan = plan_ok(g, &o);
    assert_int_equal(qp_plan_run(plan), QP_OK);
    assert_int_equal(s_.count, 3);
    assert_int_equal(s_.ids[0], qp_graph_find_tensor(g, "r"));
    assert_int_equal(s_.ids[1], qp_graph_find_tensor(g, "n"));
    assert_int_equal(s_.ids[2], qp_graph_find_tensor(g, "y"));
    for (int i = 0; i < 3; i++) assert_int_equal(s_.numel[i], 6);
    assert_int_equal(qp_plan_run(plan), QP_OK); /* runs again: three more calls */
    assert_int_equal(s_.count, 6);
    qp_plan_free(plan);
    qp_graph_free(g);
}

/* Shape errors at plan time name the node and its op. */
static void test_error_names_node(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape sa = {.rank = 2, .dims = {2, 3}}, sb = {.rank = 2, .dims = {4, 5}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &sa);
    qp_test_add_input(g, "z", QP_DT_FLOAT, &sb);
    node(g, "ok_relu", "Relu", "x", NULL, NULL, "r");
    node(g, "bad_add", "Add", "r", "z", NULL, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    qp_plan *plan = NULL;
    qp_plan_options o = {.n_threads = 1};
    qp_status st = qp_plan_create(g, &o, &plan);
    assert_int_not_equal(st, QP_OK);
    assert_null(plan);
    assert_non_null(strstr(qp_error_message(), "node 'bad_add' (Add)"));
    qp_graph_free(g);
}

/* Unsupported ops are all listed, each with its first node, before any planning. */
static void test_unsupported_ops_listed(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s = {.rank = 1, .dims = {3}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    node(g, "f1", "FrobnicateA", "x", NULL, NULL, "a");
    node(g, "r", "Relu", "a", NULL, NULL, "b");
    node(g, "f2", "FrobnicateA", "b", NULL, NULL, "c");
    node(g, "q1", "QuuxB", "c", NULL, NULL, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    assert_int_equal(qp_graph_check_ops(g), QP_ERR_UNSUPPORTED);
    const char *msg = qp_error_message();
    assert_non_null(strstr(msg, "FrobnicateA (first used by node 'f1' (FrobnicateA))"));
    assert_non_null(strstr(msg, "QuuxB (first used by node 'q1' (QuuxB))"));
    assert_null(strstr(msg, "'f2'"));
    qp_plan *plan = NULL;
    assert_int_equal(qp_plan_create(g, NULL, &plan), QP_ERR_UNSUPPORTED);
    assert_null(plan);
    assert_non_null(strstr(qp_error_message(), "QuuxB"));
    qp_graph_free(g);
}

/* Quantized modes refuse to plan without encodings, and unknown modes are rejected. */
static void test_mode_arguments(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s = {.rank = 1, .dims = {3}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    node(g, "r", "Relu", "x", NULL, NULL, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    qp_plan *plan = NULL;
    qp_plan_options o = {.mode = QP_MODE_QUANTSIM};
    assert_int_equal(qp_plan_create(g, &o, &plan), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "encodings"));
    o.mode = (qp_engine_mode)7;
    assert_int_equal(qp_plan_create(g, &o, &plan), QP_ERR_INVALID_ARG);
    assert_null(plan);
    /* fp32: no fallbacks to report, mode reads back. */
    o.mode = QP_MODE_FP32;
    plan = plan_ok(g, &o);
    assert_int_equal(qp_plan_mode(plan), QP_MODE_FP32);
    assert_int_equal(qp_plan_num_fp32_fallbacks(plan), 0);
    char buf[64];
    assert_int_equal(qp_plan_fp32_fallback_summary(plan, buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(qp_plan_fp32_fallback_node(plan, 0), -1);
    qp_plan_free(plan);
    qp_graph_free(g);
}

/* Symbolic batch dims take options.batch; explicit shapes override; other unknown dims fail
 * with a message naming the input. */
static void test_input_shapes(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s = {.rank = 2, .dims = {-1, 5}};
    int x = qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    node(g, "r", "Relu", "x", NULL, NULL, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    finalize(g);
    qp_plan_options o = {.batch = 3, .n_threads = 1};
    qp_plan *plan = plan_ok(g, &o);
    assert_int_equal(qp_plan_input(plan, 0)->shape.dims[0], 3);
    assert_int_equal(qp_plan_output(plan, 0)->shape.dims[0], 3);
    assert_string_equal(qp_plan_input_name(plan, 0), "x");
    assert_string_equal(qp_plan_output_name(plan, 0), "y");
    assert_null(qp_plan_tensor(plan, -1));
    qp_plan_free(plan);
    qp_input_shape fixed = {"x", {.rank = 2, .dims = {7, 5}}};
    o.input_shapes = &fixed;
    o.n_input_shapes = 1;
    plan = plan_ok(g, &o);
    assert_int_equal(qp_plan_output(plan, 0)->shape.dims[0], 7);
    qp_plan_free(plan);
    g->tensors[x]->shape.dims[1] = -1;
    o.n_input_shapes = 0;
    assert_int_equal(qp_plan_create(g, &o, &plan), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "'x'"));
    qp_graph_free(g);
}

/* Graph outputs stay intact until the end even when their buffer could otherwise be reused,
 * and the same inputs give bit-identical outputs run after run. */
static void test_outputs_survive_and_repeat(void **state) {
    (void)state;
    qp_graph *g = new_graph();
    qp_shape s = {.rank = 1, .dims = {1000}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    node(g, "r", "Relu", "x", NULL, NULL, "early");
    node(g, "n1", "Neg", "early", NULL, NULL, "a");
    node(g, "n2", "Neg", "a", NULL, NULL, "b");
    node(g, "n3", "Sigmoid", "b", NULL, NULL, "late");
    qp_test_add_output(g, qp_graph_find_tensor(g, "early"));
    qp_test_add_output(g, qp_graph_find_tensor(g, "late"));
    finalize(g);
    qp_plan_options o = {.n_threads = 2};
    qp_plan *plan = plan_ok(g, &o);
    float *x = qp_plan_input(plan, 0)->data;
    for (int i = 0; i < 1000; i++) x[i] = sinf((float)i);
    assert_int_equal(qp_plan_run(plan), QP_OK);
    const float *early = qp_plan_output(plan, 0)->data, *late = qp_plan_output(plan, 1)->data;
    float first[1000];
    for (int i = 0; i < 1000; i++) {
        assert_float_equal(early[i], fmaxf(x[i], 0.0f), 0);
        first[i] = late[i];
    }
    assert_int_equal(qp_plan_run(plan), QP_OK);
    assert_memory_equal(first, late, sizeof first);
    qp_plan_free(plan);
    qp_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant_folding),   cmocka_unit_test(test_arena_reuse_on_chain),
        cmocka_unit_test(test_observer_order),     cmocka_unit_test(test_error_names_node),
        cmocka_unit_test(test_unsupported_ops_listed), cmocka_unit_test(test_mode_arguments),
        cmocka_unit_test(test_input_shapes),       cmocka_unit_test(test_outputs_survive_and_repeat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
