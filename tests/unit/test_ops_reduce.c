/* test_ops_reduce.c — Reduce* over every axis subset of a 4-D tensor against a direct double-precision walk,
 * plus ArgMax/ArgMin. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "engine/op.h"
#include "ops/ops_common_invoke.h"

typedef struct fixture {
    qp_graph *g;
    qp_node *node;
} fixture;

static fixture make(const char *op, int n_in) {
    fixture f = {qp_graph_new(), NULL};
    assert_non_null(f.g);
    f.node = qp_ops_scratch_node(f.g, op, n_in, 1);
    assert_non_null(f.node);
    return f;
}

enum { K_SUM, K_MEAN, K_MAX, K_MIN, K_PROD, K_L1, K_L2, K_SUMSQ, K_LOGSUM, K_LSE };
static const char *const OPS[] = {"ReduceSum",    "ReduceMean",     "ReduceMax", "ReduceMin",
                                  "ReduceProd",   "ReduceL1",       "ReduceL2",  "ReduceSumSquare",
                                  "ReduceLogSum", "ReduceLogSumExp"};

/* Reference: for output element o, fold every input whose kept coordinates match. */
static double reference(int kind, const float *x, const int64_t *dims, int mask, int64_t o) {
    int64_t n = dims[0] * dims[1] * dims[2] * dims[3];
    double acc = kind == K_PROD  ? 1
                 : kind == K_MAX ? -INFINITY
                 : kind == K_MIN ? INFINITY
                                 : 0,
           mx = -INFINITY;
    int64_t count = 0;
    for (int pass = 0; pass < (kind == K_LSE ? 2 : 1); pass++)
        for (int64_t i = 0; i < n; i++) {
            int64_t rem = i, key = 0, mul = 1, idx[4];
            for (int d = 3; d >= 0; d--) {
                idx[d] = rem % dims[d];
                rem /= dims[d];
            }
            for (int d = 3; d >= 0; d--)
                if (!(mask & (1 << d))) {
                    key += idx[d] * mul;
                    mul *= dims[d];
                }
            if (key != o) continue;
            double v = x[i];
            if (kind == K_LSE && pass == 0) {
                mx = v > mx ? v : mx;
                continue;
            }
            count++;
            switch (kind) {
            case K_MAX: acc = v > acc ? v : acc; break;
            case K_MIN: acc = v < acc ? v : acc; break;
            case K_PROD: acc *= v; break;
            case K_L1: acc += fabs(v); break;
            case K_L2:
            case K_SUMSQ: acc += v * v; break;
            case K_LSE: acc += exp(v - mx); break;
            default: acc += v; break;
            }
        }
    switch (kind) {
    case K_MEAN: return acc / (double)count;
    case K_L2: return sqrt(acc);
    case K_LOGSUM: return log(acc);
    case K_LSE: return log(acc) + mx;
    default: return acc;
    }
}

/* Each op, each of the 16 axis masks, keepdims 0/1, opset 13 (attribute axes; ReduceSum input)
 * and 18 (input axes) on a [2,3,4,5] tensor of positive values. */
static void test_all_reductions_all_axes(void **state) {
    (void)state;
    int64_t dims[4] = {2, 3, 4, 5};
    float x[120];
    unsigned seed = 11;
    for (int i = 0; i < 120; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = 0.5f + (float)((seed >> 8) & 0xff) / 256.0f;
    }
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 4, dims, x);
    for (int kind = 0; kind < 10; kind++)
        for (int mask = 0; mask < 16; mask++)
            for (int keep = 0; keep < 2; keep++)
                for (int opset = 13; opset <= 18; opset += 5) {
                    int64_t axes[4];
                    int n_axes = 0;
                    for (int d = 0; d < 4; d++)
                        if (mask & (1 << d)) axes[n_axes++] = d - (d % 2 ? 4 : 0); /* mix negative axes in */
                    fixture f = make(OPS[kind], 2);
                    qp_ops_set_attr_int(f.node, "keepdims", keep);
                    int axes_as_input = opset >= 18 || kind == K_SUM;
                    qp_value va = qp_ops_value(QP_DT_INT64, 1, (int64_t[]){n_axes}, axes);
                    const qp_value *ins[2] = {&vx, &va};
                    int n_in = 1;
                    if (axes_as_input) {
                        if (n_axes) n_in = 2;
                    } else if (n_axes) {
                        qp_ops_set_attr_ints(f.node, "axes", axes, n_axes);
                    }
                    qp_value out;
                    assert_int_equal(qp_ops_invoke(f.node, opset, ins, n_in, &out, 1, 2), QP_OK);
                    int eff = mask ? mask : 15; /* no axes: reduce all */
                    int rank = 0;
                    int64_t n_out = 1;
                    for (int d = 0; d < 4; d++) {
                        if (!(eff & (1 << d))) {
                            assert_int_equal(out.shape.dims[rank++], dims[d]);
                            n_out *= dims[d];
                        } else if (keep) {
                            assert_int_equal(out.shape.dims[rank++], 1);
                        }
                    }
                    assert_int_equal(out.shape.rank, rank);
                    for (int64_t o = 0; o < n_out; o++) {
                        double want = reference(kind, x, dims, eff, o), got = ((float *)out.data)[o];
                        if (fabs(got - want) > 1e-5 * (1 + fabs(want)))
                            fail_msg("%s mask %d keep %d opset %d out %lld: got %.8g want %.8g", OPS[kind],
                                     mask, keep, opset, (long long)o, got, want);
                    }
                    free(out.data);
                    qp_graph_free(f.g);
                }
}

static void test_noop_with_empty_axes_and_empty_input(void **state) {
    (void)state;
    float x[6] = {1, 2, 3, 4, 5, 6};
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){2, 3}, x);
    qp_value empty_axes = qp_ops_value(QP_DT_INT64, 1, (int64_t[]){0}, NULL); /* no data needed when empty */
    const qp_value *ins[2] = {&vx, &empty_axes};
    fixture f = make("ReduceSum", 2);
    qp_ops_set_attr_int(f.node, "noop_with_empty_axes", 1);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 2, &out, 1, 1), QP_OK);
    assert_int_equal(out.shape.rank, 2);
    assert_memory_equal(out.data, x, sizeof x);
    free(out.data);
    qp_graph_free(f.g);
    /* Reducing over an empty axis gives the identity of the reduction. */
    qp_value ve = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){0, 3}, x);
    const qp_value *eins[1] = {&ve};
    f = make("ReduceProd", 1);
    qp_ops_set_attr_ints(f.node, "axes", (int64_t[]){0}, 1);
    qp_ops_set_attr_int(f.node, "keepdims", 0);
    assert_int_equal(qp_ops_invoke(f.node, 13, eins, 1, &out, 1, 1), QP_OK);
    for (int i = 0; i < 3; i++)
        assert_float_equal(((float *)out.data)[i], 1.0f, 0);
    free(out.data);
    qp_graph_free(f.g);
    /* Axes that are only known at run time cannot be planned. */
    int64_t ax = 0;
    qp_value dyn = qp_ops_value(QP_DT_INT64, 1, (int64_t[]){1}, NULL);
    const qp_value *dins[2] = {&vx, &dyn};
    f = make("ReduceSum", 2);
    qp_value o = {0};
    qp_value *outs[1] = {&o};
    qp_op_context ctx = {
        .node = f.node, .opset = 13, .inputs = dins, .n_inputs = 2, .outputs = outs, .n_outputs = 1};
    assert_int_equal(qp_op_find("", "ReduceSum")->infer(&ctx), QP_ERR_UNSUPPORTED);
    (void)ax;
    qp_graph_free(f.g);
}

static void test_integer_and_double_reductions(void **state) {
    (void)state;
    int32_t xi[6] = {1, -2, 3, 4, 5, -6};
    qp_value vi = qp_ops_value(QP_DT_INT32, 2, (int64_t[]){2, 3}, xi);
    const qp_value *ins[1] = {&vi};
    fixture f = make("ReduceSum", 1);
    qp_ops_set_attr_int(f.node, "keepdims", 0);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 11, ins, 1, &out, 1, 1), QP_OK);
    assert_int_equal(out.dtype, QP_DT_INT32);
    assert_int_equal(out.shape.rank, 0);
    assert_int_equal(*(int32_t *)out.data, 5);
    free(out.data);
    qp_graph_free(f.g);
    f = make("ReduceMax", 1);
    qp_ops_set_attr_ints(f.node, "axes", (int64_t[]){1}, 1);
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 1, &out, 1, 1), QP_OK);
    assert_int_equal(((int32_t *)out.data)[0], 3);
    assert_int_equal(((int32_t *)out.data)[1], 5);
    free(out.data);
    qp_graph_free(f.g);
    double xd[4] = {1000, 1000, -1000, 0};
    qp_value vd = qp_ops_value(QP_DT_DOUBLE, 2, (int64_t[]){2, 2}, xd);
    const qp_value *dins[1] = {&vd};
    f = make("ReduceLogSumExp", 1);
    qp_ops_set_attr_ints(f.node, "axes", (int64_t[]){1}, 1);
    assert_int_equal(qp_ops_invoke(f.node, 13, dins, 1, &out, 1, 1), QP_OK);
    assert_float_equal(((double *)out.data)[0], 1000 + log(2.0), 1e-12); /* no overflow */
    assert_float_equal(((double *)out.data)[1], 0.0, 1e-12);
    free(out.data);
    qp_graph_free(f.g);
    f = make("ReduceLogSum", 1);
    const qp_value *bad[1] = {&vi};
    assert_int_equal(qp_ops_invoke(f.node, 13, bad, 1, &out, 1, 1), QP_ERR_UNSUPPORTED);
    qp_graph_free(f.g);
}

static void test_argmax_argmin(void **state) {
    (void)state;
    float x[2 * 3 * 2] = {1, 9, 5, 9, 5, 2, /* */ 7, 0, 7, 0, 3, 0};
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 3, (int64_t[]){2, 3, 2}, x);
    const qp_value *ins[1] = {&vx};
    static const struct {
        const char *op;
        int64_t axis, keep, last;
        int rank;
        int64_t dims[3];
        int64_t want[6];
    } cases[] = {
        {"ArgMax", 1, 1, 0, 3, {2, 1, 2}, {1, 0, 0, 0}},
        {"ArgMax", 1, 1, 1, 3, {2, 1, 2}, {2, 1, 1, 2}},
        {"ArgMin", 1, 0, 0, 2, {2, 2}, {0, 2, 2, 0}},
        {"ArgMin", -1, 0, 1, 2, {2, 3}, {0, 0, 1, 1, 1, 1}},
        {"ArgMax", 0, 0, 0, 2, {3, 2}, {1, 0, 1, 0, 0, 0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fixture f = make(cases[c].op, 1);
        qp_ops_set_attr_int(f.node, "axis", cases[c].axis);
        qp_ops_set_attr_int(f.node, "keepdims", cases[c].keep);
        qp_ops_set_attr_int(f.node, "select_last_index", cases[c].last);
        qp_value out;
        assert_int_equal(qp_ops_invoke(f.node, 13, ins, 1, &out, 1, 1), QP_OK);
        assert_int_equal(out.dtype, QP_DT_INT64);
        assert_int_equal(out.shape.rank, cases[c].rank);
        int64_t n = 1;
        for (int d = 0; d < cases[c].rank; d++) {
            assert_int_equal(out.shape.dims[d], cases[c].dims[d]);
            n *= cases[c].dims[d];
        }
        for (int64_t i = 0; i < n; i++)
            if (((int64_t *)out.data)[i] != cases[c].want[i])
                fail_msg("case %zu [%lld]: got %lld want %lld", c, (long long)i,
                         (long long)((int64_t *)out.data)[i], (long long)cases[c].want[i]);
        free(out.data);
        qp_graph_free(f.g);
    }
}

static void test_cumsum(void **state) {
    (void)state;
    int64_t x[6] = {1, 2, 3, 4, 5, 6};
    int32_t axis = -1;
    qp_value vx = qp_ops_value(QP_DT_INT64, 2, (int64_t[]){2, 3}, x),
             va = qp_ops_value(QP_DT_INT32, 0, NULL, &axis);
    const qp_value *ins[2] = {&vx, &va};
    static const struct {
        int ex, rev;
        int64_t want[6];
    } cases[] = {{0, 0, {1, 3, 6, 4, 9, 15}},
                 {1, 0, {0, 1, 3, 0, 4, 9}},
                 {0, 1, {6, 5, 3, 15, 11, 6}},
                 {1, 1, {5, 3, 0, 11, 6, 0}}};
    for (int c = 0; c < 4; c++) {
        fixture f = make("CumSum", 2);
        qp_ops_set_attr_int(f.node, "exclusive", cases[c].ex);
        qp_ops_set_attr_int(f.node, "reverse", cases[c].rev);
        qp_value out;
        assert_int_equal(qp_ops_invoke(f.node, 14, ins, 2, &out, 1, 1), QP_OK);
        assert_memory_equal(out.data, cases[c].want, sizeof cases[c].want);
        free(out.data);
        qp_graph_free(f.g);
    }
    axis = 0;
    fixture f = make("CumSum", 2);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 14, ins, 2, &out, 1, 1), QP_OK);
    const int64_t want0[6] = {1, 2, 3, 5, 7, 9};
    assert_memory_equal(out.data, want0, sizeof want0);
    free(out.data);
    qp_graph_free(f.g);
}

static void test_topk(void **state) {
    (void)state;
    float x[2 * 5] = {3, 1, 3, 5, 0, /* */ -1, -1, 2, NAN, 7};
    int64_t k = 3;
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){2, 5}, x),
             vk = qp_ops_value(QP_DT_INT64, 1, (int64_t[]){1}, &k);
    const qp_value *ins[2] = {&vx, &vk};
    fixture f = {qp_graph_new(), NULL}; /* TopK has two outputs */
    f.node = qp_ops_scratch_node(f.g, "TopK", 2, 2);
    qp_value outs[2];
    assert_int_equal(qp_ops_invoke(f.node, 11, ins, 2, outs, 2, 1), QP_OK);
    const int64_t want_i[6] = {3, 0, 2, 3, 4, 2}; /* ties keep the lower index; NaN ranks highest */
    assert_memory_equal(outs[1].data, want_i, sizeof want_i);
    assert_float_equal(((float *)outs[0].data)[0], 5, 0);
    assert_true(isnan(((float *)outs[0].data)[3]));
    free(outs[0].data);
    free(outs[1].data);
    qp_graph_free(f.g);
    f.g = qp_graph_new();
    f.node = qp_ops_scratch_node(f.g, "TopK", 2, 2);
    qp_ops_set_attr_int(f.node, "largest", 0);
    assert_int_equal(qp_ops_invoke(f.node, 11, ins, 2, outs, 2, 1), QP_OK);
    const int64_t want_s[6] = {4, 1, 0, 0, 1, 2};
    assert_memory_equal(outs[1].data, want_s, sizeof want_s);
    free(outs[0].data);
    free(outs[1].data);
    k = 6;
    assert_int_equal(qp_ops_invoke(f.node, 11, ins, 2, outs, 2, 1), QP_ERR_SHAPE);
    qp_graph_free(f.g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_reductions_all_axes),
        cmocka_unit_test(test_noop_with_empty_axes_and_empty_input),
        cmocka_unit_test(test_integer_and_double_reductions),
        cmocka_unit_test(test_argmax_argmin),
        cmocka_unit_test(test_cumsum),
        cmocka_unit_test(test_topk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
