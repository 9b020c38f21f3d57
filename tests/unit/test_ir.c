/* test_ir.c — graph IR: name index, topological sort, and the validation errors of qp_graph_finalize. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

static int add_node(qp_graph *g, const char *name, const char *op, const char *in0, const char *in1,
                    const char *out) {
    int ins[2], n_in = 0, outs[1];
    if (in0) ins[n_in++] = qp_graph_get_or_add_tensor(g, in0);
    if (in1) ins[n_in++] = qp_graph_get_or_add_tensor(g, in1);
    outs[0] = qp_graph_get_or_add_tensor(g, out);
    return qp_graph_add_node(g, name, op, "", ins, n_in, outs, 1);
}

static void test_name_index_survives_growth(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "t%d", i);
        assert_int_equal(qp_graph_get_or_add_tensor(g, name), i);
    }
    for (int i = 0; i < 5000; i += 7) {
        snprintf(name, sizeof name, "t%d", i);
        assert_int_equal(qp_graph_find_tensor(g, name), i);
        assert_int_equal(qp_graph_get_or_add_tensor(g, name), i); /* no duplicate */
    }
    assert_int_equal(qp_graph_find_tensor(g, "absent"), -1);
    assert_int_equal(g->n_tensors, 5000);
    qp_graph_free(g);
}

static void test_finalize_sorts_and_links(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    qp_shape s = {.rank = 1, .dims = {4}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    /* Listed consumer-first: finalize must reorder to b, then a. */
    add_node(g, "a", "Relu", "y", NULL, "z");
    add_node(g, "b", "Relu", "x", NULL, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "z"));
    assert_int_equal(qp_graph_finalize(g), QP_OK);
    assert_string_equal(g->nodes[0].name, "b");
    assert_string_equal(g->nodes[1].name, "a");
    const qp_tensor *y = g->tensors[qp_graph_find_tensor(g, "y")];
    assert_int_equal(y->producer, 0);
    assert_int_equal(y->n_consumers, 1);
    assert_int_equal(y->consumers[0], 1);
    assert_true(g->tensors[qp_graph_find_tensor(g, "z")]->is_graph_output);
    qp_graph_free(g);
}

static void test_finalize_rejects_cycle(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    qp_shape s = {.rank = 1, .dims = {4}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    add_node(g, "a", "Add", "x", "c", "b");
    add_node(g, "loop", "Relu", "b", NULL, "c");
    qp_test_add_output(g, qp_graph_find_tensor(g, "c"));
    assert_int_equal(qp_graph_finalize(g), QP_ERR_INVALID_MODEL);
    assert_non_null(strstr(qp_error_message(), "cycle"));
    qp_graph_free(g);
}

static void test_finalize_rejects_dangling_input(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    qp_shape s = {.rank = 1, .dims = {4}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    add_node(g, "conv1", "Conv", "x", "conv1.weight", "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    assert_int_equal(qp_graph_finalize(g), QP_ERR_INVALID_MODEL);
    assert_non_null(strstr(qp_error_message(), "conv1.weight"));
    assert_non_null(strstr(qp_error_message(), "node 'conv1' (Conv)"));
    qp_graph_free(g);
}

static void test_finalize_rejects_two_producers(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    qp_shape s = {.rank = 1, .dims = {4}};
    qp_test_add_input(g, "x", QP_DT_FLOAT, &s);
    add_node(g, "a", "Relu", "x", NULL, "y");
    add_node(g, "b", "Relu", "x", NULL, "y");
    qp_test_add_output(g, qp_graph_find_tensor(g, "y"));
    assert_int_equal(qp_graph_finalize(g), QP_ERR_INVALID_MODEL);
    assert_non_null(strstr(qp_error_message(), "already produced"));
    qp_graph_free(g);
}

static void test_attribute_helpers(void **state) {
    (void)state;
    qp_graph *g = qp_graph_new();
    int id = add_node(g, "c", "Conv", NULL, NULL, "y");
    qp_node *n = &g->nodes[id];
    qp_attr *a = qp_node_add_attr(n, "group", QP_ATTR_INT);
    a->i = 32;
    a = qp_node_add_attr(n, "pads", QP_ATTR_INTS);
    static const int64_t pads[] = {1, 1, 1, 1};
    a->ints = malloc(sizeof pads);
    memcpy(a->ints, pads, sizeof pads);
    a->n = 4;
    a = qp_node_add_attr(n, "alpha", QP_ATTR_FLOAT);
    a->f = 0.5f;
    assert_int_equal(qp_node_attr_int(n, "group", 1), 32);
    assert_int_equal(qp_node_attr_int(n, "missing", 7), 7);
    assert_true(qp_node_attr_float(n, "alpha", 0) == 0.5f);
    int count;
    const int64_t *p = qp_node_attr_ints(n, "pads", &count);
    assert_int_equal(count, 4);
    assert_int_equal(p[3], 1);
    assert_null(qp_node_attr_ints(n, "group", &count)); /* wrong type reads as absent */
    assert_int_equal(count, 0);
    qp_graph_free(g);
}

static void test_shape_helpers(void **state) {
    (void)state;
    qp_shape s = {.rank = 4, .dims = {1, 3, -1, 224}};
    char buf[64];
    assert_string_equal(qp_shape_str(&s, buf, sizeof buf), "[1,3,?,224]");
    assert_int_equal(qp_shape_numel(&s), -1);
    s.dims[2] = 224;
    assert_int_equal(qp_shape_numel(&s), 3 * 224 * 224);
    qp_shape scalar = {.rank = 0};
    assert_int_equal(qp_shape_numel(&scalar), 1);
    assert_int_equal(qp_dtype_size(QP_DT_INT64), 8);
    assert_string_equal(qp_dtype_name(QP_DT_UINT8), "uint8");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_index_survives_growth),
        cmocka_unit_test(test_finalize_sorts_and_links),
        cmocka_unit_test(test_finalize_rejects_cycle),
        cmocka_unit_test(test_finalize_rejects_dangling_input),
        cmocka_unit_test(test_finalize_rejects_two_producers),
        cmocka_unit_test(test_attribute_helpers),
        cmocka_unit_test(test_shape_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
