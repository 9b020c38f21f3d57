/* test_ops_shape.c — shape and data-movement ops (Reshape, Transpose, Concat, Split, Slice, Pad, Gather,
 * Cast, ...) against values computed here. */
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

static fixture make(const char *op, int n_in, int n_out) {
    fixture f = {qp_graph_new(), NULL};
    assert_non_null(f.g);
    f.node = qp_ops_scratch_node(f.g, op, n_in, n_out);
    assert_non_null(f.node);
    return f;
}

static void assert_shape(const qp_value *v, int rank, const int64_t *dims) {
    assert_int_equal(v->shape.rank, rank);
    for (int d = 0; d < rank; d++)
        assert_int_equal(v->shape.dims[d], dims[d]);
}

/* 0..n-1 as floats. */
static float *iota(int64_t n) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)i;
    return p;
}

static qp_value i64(int rank, const int64_t *dims, int64_t *data) {
    return qp_ops_value(QP_DT_INT64, rank, dims, data);
}

static void test_reshape(void **state) {
    (void)state;
    float *x = iota(24);
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 3, (int64_t[]){2, 3, 4}, x);
    int64_t spec[3] = {0, -1, 2};
    qp_value vs = i64(1, (int64_t[]){3}, spec);
    const qp_value *ins[2] = {&vx, &vs};
    fixture f = make("Reshape", 2, 1);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 14, ins, 2, &out, 1, 1), QP_OK);
    assert_shape(&out, 3, (int64_t[]){2, 6, 2});
    assert_memory_equal(out.data, x, 24 * sizeof(float));
    free(out.data);
    /* Two -1s, and a count mismatch. */
    int64_t bad1[2] = {-1, -1}, bad2[2] = {5, 5};
    qp_value vb1 = i64(1, (int64_t[]){2}, bad1), vb2 = i64(1, (int64_t[]){2}, bad2);
    const qp_value *ins_b1[2] = {&vx, &vb1}, *ins_b2[2] = {&vx, &vb2};
    assert_int_equal(qp_ops_invoke(f.node, 14, ins_b1, 2, &out, 1, 1), QP_ERR_SHAPE);
    assert_int_equal(qp_ops_invoke(f.node, 14, ins_b2, 2, &out, 1, 1), QP_ERR_SHAPE);
    /* A shape only known at run time cannot be planned. */
    qp_value dyn = i64(1, (int64_t[]){3}, NULL);
    const qp_value *ins_dyn[2] = {&vx, &dyn};
    qp_value o = {0};
    qp_value *outs[1] = {&o};
    qp_op_context ctx = {
        .node = f.node, .opset = 14, .inputs = ins_dyn, .n_inputs = 2, .outputs = outs, .n_outputs = 1};
    assert_int_equal(qp_op_find("", "Reshape")->infer(&ctx), QP_ERR_UNSUPPORTED);
    assert_non_null(strstr(qp_error_message(), "data-dependent"));
    qp_graph_free(f.g);

    /* allowzero keeps a literal 0 dim; opset 1 reads the attribute. */
    qp_value empty = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){0, 3}, x);
    int64_t z[2] = {3, 0};
    qp_value vz = i64(1, (int64_t[]){2}, z);
    const qp_value *ins_z[2] = {&empty, &vz};
    f = make("Reshape", 2, 1);
    qp_ops_set_attr_int(f.node, "allowzero", 1);
    assert_int_equal(qp_ops_invoke(f.node, 14, ins_z, 2, &out, 1, 1), QP_OK);
    assert_shape(&out, 2, (int64_t[]){3, 0});
    free(out.data);
    qp_graph_free(f.g);
    f = make("Reshape", 1, 1);
    qp_ops_set_attr_ints(f.node, "shape", (int64_t[]){4, -1}, 2);
    assert_int_equal(qp_ops_invoke(f.node, 1, ins, 1, &out, 1, 1), QP_OK);
    assert_shape(&out, 2, (int64_t[]){4, 6});
    free(out.data);
    qp_graph_free(f.g);
    free(x);
}

static void test_flatten_squeeze_unsqueeze(void **state) {
    (void)state;
    float *x = iota(24);
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 4, (int64_t[]){2, 1, 3, 4}, x);
    const qp_value *ins[1] = {&vx};
    qp_value out;
    static const struct {
        int64_t axis;
        int64_t d0, d1;
    } flat[] = {{0, 1, 24}, {2, 2, 12}, {-1, 6, 4}, {4, 24, 1}};
    for (int i = 0; i < 4; i++) {
        fixture f = make("Flatten", 1, 1);
        qp_ops_set_attr_int(f.node, "axis", flat[i].axis);
        assert_int_equal(qp_ops_invoke(f.node, 13, ins, 1, &out, 1, 1), QP_OK);
        assert_shape(&out, 2, (int64_t[]){flat[i].d0, flat[i].d1});
        free(out.data);
        qp_graph_free(f.g);
    }
    fixture f = make("Squeeze", 1, 1); /* no axes: every 1 */
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 1, &out, 1, 1), QP_OK);
    assert_shape(&out, 3, (int64_t[]){2, 3, 4});
    free(out.data);
    qp_graph_free(f.g);
    int64_t ax[1] = {-3};
    qp_value vax = i64(1, (int64_t[]){1}, ax);
    const qp_value *ins_ax[2] = {&vx, &vax};
    f = make("Squeeze", 2, 1);
    assert_int_equal(qp_ops_invoke(f.node, 13, ins_ax, 2, &out, 1, 1), QP_OK);
    assert_shape(&out, 3, (int64_t[]){2, 3, 4});
    free(out.data);
    ax[0] = 0; /* size 2: not squeezable */
    assert_int_equal(qp_ops_invoke(f.node, 13, ins_ax, 2, &out, 1, 1), QP_ERR_SHAPE);
    qp_graph_free(f.g);
    f = make("Unsqueeze", 1, 1); /* opset 11: attribute, unsorted and negative axes */
    qp_ops_set_attr_ints(f.node, "axes", (int64_t[]){-1, 0}, 2);
    assert_int_equal(qp_ops_invoke(f.node, 11, ins, 1, &out, 1, 1), QP_OK);
    assert_shape(&out, 6, (int64_t[]){1, 2, 1, 3, 4, 1});
    assert_memory_equal(out.data, x, 24 * sizeof(float));
    free(out.data);
    qp_graph_free(f.g);
    int64_t uax[2] = {1, 1};
    qp_value vuax = i64(1, (int64_t[]){2}, uax);
    const qp_value *ins_u[2] = {&vx, &vuax};
    f = make("Unsqueeze", 2, 1);
    assert_int_equal(qp_ops_invoke(f.node, 13, ins_u, 2, &out, 1, 1), QP_ERR_INVALID_MODEL); /* duplicate */
    qp_graph_free(f.g);
    free(x);
}

static void test_transpose(void **state) {
    (void)state;
    float *x = iota(2 * 3 * 4 * 5);
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 4, (int64_t[]){2, 3, 4, 5}, x);
    const qp_value *ins[1] = {&vx};
    static const int64_t perms[][4] = {{0, 2, 3, 1}, {3, 2, 1, 0}, {1, 0, 2, 3}, {0, 1, 3, 2}};
    for (int p = 0; p < 5; p++) {
        fixture f = make("Transpose", 1, 1);
        int64_t perm[4] = {3, 2, 1, 0};
        if (p < 4) {
            memcpy(perm, perms[p], sizeof perm);
            qp_ops_set_attr_ints(f.node, "perm", perm, 4);
        }
        qp_value out;
        assert_int_equal(qp_ops_invoke(f.node, 13, ins, 1, &out, 1, 2), QP_OK);
        int64_t in_strides[4] = {60, 20, 5, 1}, od[4];
        for (int d = 0; d < 4; d++)
            od[d] = vx.shape.dims[perm[d]];
        assert_shape(&out, 4, od);
        for (int64_t i = 0; i < 120; i++) {
            int64_t rem = i, src = 0;
            for (int d = 3; d >= 0; d--) {
                src += (rem % od[d]) * in_strides[perm[d]];
                rem /= od[d];
            }
            assert_float_equal(((float *)out.data)[i], x[src], 0);
        }
        free(out.data);
        qp_graph_free(f.g);
    }
    fixture f = make("Transpose", 1, 1);
    qp_ops_set_attr_ints(f.node, "perm", (int64_t[]){0, 0, 1, 2}, 4);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 1, &out, 1, 1), QP_ERR_INVALID_MODEL);
    qp_graph_free(f.g);
    free(x);
}

static void test_concat_and_split(void **state) {
    (void)state;
    int64_t a[4] = {1, 2, 3, 4}, b[2] = {5, 6}, c[6] = {7, 8, 9, 10, 11, 12};
    qp_value va = i64(2, (int64_t[]){2, 2}, a), vb = i64(2, (int64_t[]){2, 1}, b),
             vc = i64(2, (int64_t[]){2, 3}, c);
    const qp_value *ins[3] = {&va, &vb, &vc};
    fixture f = make("Concat", 3, 1);
    qp_ops_set_attr_int(f.node, "axis", -1);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 3, &out, 1, 1), QP_OK);
    assert_shape(&out, 2, (int64_t[]){2, 6});
    const int64_t want[12] = {1, 2, 5, 7, 8, 9, 3, 4, 6, 10, 11, 12};
    assert_memory_equal(out.data, want, sizeof want);
    qp_graph_free(f.g);
    const qp_value *bad[2] = {&va, &vc};
    f = make("Concat", 2, 1);
    qp_ops_set_attr_int(f.node, "axis", 0);
    qp_value bad_out;
    assert_int_equal(qp_ops_invoke(f.node, 13, bad, 2, &bad_out, 1, 1), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "does not match"));
    qp_graph_free(f.g);

    /* Split the concatenation back with an explicit 'split' input. */
    qp_value whole = out;
    int64_t sizes[3] = {2, 1, 3};
    qp_value vs = i64(1, (int64_t[]){3}, sizes);
    const qp_value *sins[2] = {&whole, &vs};
    qp_value parts[3];
    f = make("Split", 2, 3);
    qp_ops_set_attr_int(f.node, "axis", 1);
    assert_int_equal(qp_ops_invoke(f.node, 13, sins, 2, parts, 3, 1), QP_OK);
    assert_memory_equal(parts[0].data, a, sizeof a);
    assert_memory_equal(parts[1].data, b, sizeof b);
    assert_memory_equal(parts[2].data, c, sizeof c);
    for (int i = 0; i < 3; i++)
        free(parts[i].data);
    qp_graph_free(f.g);
    /* Equal parts (opset 18 num_outputs: ceil-sized, smaller last). */
    f = make("Split", 1, 4);
    qp_ops_set_attr_int(f.node, "axis", 1);
    qp_ops_set_attr_int(f.node, "num_outputs", 4);
    qp_value parts4[4];
    assert_int_equal(qp_ops_invoke(f.node, 18, sins, 1, parts4, 4, 1), QP_OK);
    assert_shape(&parts4[0], 2, (int64_t[]){2, 2});
    assert_shape(&parts4[2], 2, (int64_t[]){2, 2});
    assert_shape(&parts4[3], 2, (int64_t[]){2, 0});
    const int64_t want_p1[4] = {5, 7, 6, 10};
    assert_memory_equal(parts4[1].data, want_p1, sizeof want_p1);
    for (int i = 0; i < 4; i++)
        free(parts4[i].data);
    qp_graph_free(f.g);
    /* opset 11: attribute, sizes must add up. */
    f = make("Split", 1, 2);
    qp_ops_set_attr_int(f.node, "axis", 1);
    qp_ops_set_attr_ints(f.node, "split", (int64_t[]){2, 3}, 2);
    assert_int_equal(qp_ops_invoke(f.node, 11, sins, 1, parts, 2, 1), QP_ERR_SHAPE);
    qp_graph_free(f.g);
    free(out.data);
}

/* Slice against a direct walk of the spec's clamping rules on a 1-D input of 10. */
static void test_slice(void **state) {
    (void)state;
    float *x = iota(10);
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){10}, x);
    static const struct {
        int64_t s, e, step;
        int n;
        float want[10];
    } cases[] = {
        {2, 7, 1, 5, {2, 3, 4, 5, 6}},
        {-3, 100, 1, 3, {7, 8, 9}},
        {8, 2, -2, 3, {8, 6, 4}},
        {100, -100, -3, 4, {9, 6, 3, 0}},
        {-1, -11, -1, 10, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
        {5, 5, 1, 0, {0}},
        {-100, 3, 1, 3, {0, 1, 2}},
        {0, INT64_MAX, 4, 3, {0, 4, 8}},
        {INT64_MAX, INT64_MIN, -4, 3, {9, 5, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t s = cases[c].s, e = cases[c].e, ax = 0, st = cases[c].step;
        qp_value vs = i64(1, (int64_t[]){1}, &s), ve = i64(1, (int64_t[]){1}, &e),
                 va = i64(1, (int64_t[]){1}, &ax), vst = i64(1, (int64_t[]){1}, &st);
        const qp_value *ins[5] = {&vx, &vs, &ve, &va, &vst};
        fixture f = make("Slice", 5, 1);
        qp_value out;
        assert_int_equal(qp_ops_invoke(f.node, 13, ins, 5, &out, 1, 1), QP_OK);
        assert_shape(&out, 1, (int64_t[]){cases[c].n});
        for (int i = 0; i < cases[c].n; i++)
            assert_float_equal(((float *)out.data)[i], cases[c].want[i], 0);
        free(out.data);
        qp_graph_free(f.g);
    }
    free(x);
    /* 2-D with default axes and steps (3 inputs), and opset 1 attributes with a negative axis. */
    x = iota(20);
    qp_value v2 = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){4, 5}, x);
    int64_t s2[2] = {1, 0}, e2[2] = {3, -1};
    qp_value vs2 = i64(1, (int64_t[]){2}, s2), ve2 = i64(1, (int64_t[]){2}, e2);
    const qp_value *ins2[3] = {&v2, &vs2, &ve2};
    fixture f = make("Slice", 3, 1);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 10, ins2, 3, &out, 1, 1), QP_OK);
    assert_shape(&out, 2, (int64_t[]){2, 4});
    const float want2[8] = {5, 6, 7, 8, 10, 11, 12, 13};
    assert_memory_equal(out.data, want2, sizeof want2);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Slice", 1, 1);
    qp_ops_set_attr_ints(f.node, "starts", (int64_t[]){1}, 1);
    qp_ops_set_attr_ints(f.node, "ends", (int64_t[]){3}, 1);
    qp_ops_set_attr_ints(f.node, "axes", (int64_t[]){-1}, 1);
    assert_int_equal(qp_ops_invoke(f.node, 1, ins2, 1, &out, 1, 1), QP_OK);
    assert_shape(&out, 2, (int64_t[]){4, 2});
    const float want3[8] = {1, 2, 6, 7, 11, 12, 16, 17};
    assert_memory_equal(out.data, want3, sizeof want3);
    free(out.data);
    qp_graph_free(f.g);
    free(x);
}

/* numpy.pad semantics for each mode on [[1,2,3],[4,5,6]], pads (1,2) x (2,1). */
static void test_pad_modes(void **state) {
    (void)state;
    float x[6] = {1, 2, 3, 4, 5, 6}, value = 9;
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){2, 3}, x),
             vv = qp_ops_value(QP_DT_FLOAT, 0, NULL, &value);
    int64_t pads[4] = {1, 2, 2, 1};
    qp_value vp = i64(1, (int64_t[]){4}, pads);
    static const struct {
        const char *mode;
        float want[5 * 6];
    } cases[] = {
        {"constant",
         {9, 9, 9, 9, 9, 9, 9, 9, 1, 2, 3, 9, 9, 9, 4, 5, 6, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}},
        {"edge", {1, 1, 1, 2, 3, 3, 1, 1, 1, 2, 3, 3, 4, 4, 4, 5, 6, 6, 4, 4, 4, 5, 6, 6, 4, 4, 4, 5, 6, 6}},
        {"reflect",
         {6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5, 3, 2, 1, 2, 3, 2, 6, 5, 4, 5, 6, 5}},
        {"wrap", {5, 6, 4, 5, 6, 4, 2, 3, 1, 2, 3, 1, 5, 6, 4, 5, 6, 4, 2, 3, 1, 2, 3, 1, 5, 6, 4, 5, 6, 4}},
    };
    for (int c = 0; c < 4; c++) {
        fixture f = make("Pad", 3, 1);
        qp_ops_set_attr_string(f.node, "mode", cases[c].mode);
        const qp_value *ins[3] = {&vx, &vp, &vv};
        qp_value out;
        assert_int_equal(qp_ops_invoke(f.node, 13, ins, c == 0 ? 3 : 2, &out, 1, 1), QP_OK);
        assert_shape(&out, 2, (int64_t[]){5, 6});
        for (int i = 0; i < 30; i++)
            if (((float *)out.data)[i] != cases[c].want[i])
                fail_msg("Pad %s [%d]: got %g want %g", cases[c].mode, i, ((float *)out.data)[i],
                         cases[c].want[i]);
        free(out.data);
        qp_graph_free(f.g);
    }
    /* Negative pads crop; opset 2 attributes with 'value'. */
    fixture f = make("Pad", 1, 1);
    qp_ops_set_attr_ints(f.node, "pads", (int64_t[]){0, -1, 1, 0}, 4);
    qp_ops_set_attr_float(f.node, "value", -1.0f);
    const qp_value *ins[1] = {&vx};
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 2, ins, 1, &out, 1, 1), QP_OK);
    assert_shape(&out, 2, (int64_t[]){3, 2});
    const float want[6] = {2, 3, 5, 6, -1, -1};
    assert_memory_equal(out.data, want, sizeof want);
    free(out.data);
    qp_graph_free(f.g);
}

static void test_shape_size_gather(void **state) {
    (void)state;
    float *x = iota(24);
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 3, (int64_t[]){2, 3, 4}, x);
    const qp_value *ins[1] = {&vx};
    fixture f = make("Shape", 1, 1);
    qp_ops_set_attr_int(f.node, "start", -2);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 15, ins, 1, &out, 1, 1), QP_OK);
    assert_int_equal(out.dtype, QP_DT_INT64);
    const int64_t want_shape[2] = {3, 4};
    assert_memory_equal(out.data, want_shape, sizeof want_shape);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Size", 1, 1);
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 1, &out, 1, 1), QP_OK);
    assert_int_equal(out.shape.rank, 0);
    assert_int_equal(*(int64_t *)out.data, 24);
    free(out.data);
    qp_graph_free(f.g);

    int32_t idx[4] = {2, -1, 0, 1};
    qp_value vi = qp_ops_value(QP_DT_INT32, 2, (int64_t[]){2, 2}, idx);
    const qp_value *gins[2] = {&vx, &vi};
    f = make("Gather", 2, 1);
    qp_ops_set_attr_int(f.node, "axis", 1);
    assert_int_equal(qp_ops_invoke(f.node, 13, gins, 2, &out, 1, 1), QP_OK);
    assert_shape(&out, 4, (int64_t[]){2, 2, 2, 4});
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 4; k++) {
            int row = idx[k] < 0 ? idx[k] + 3 : idx[k];
            for (int j = 0; j < 4; j++)
                assert_float_equal(((float *)out.data)[(b * 4 + k) * 4 + j], x[(b * 3 + row) * 4 + j], 0);
        }
    free(out.data);
    idx[0] = 3;
    assert_int_equal(qp_ops_invoke(f.node, 13, gins, 2, &out, 1, 1), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "out of range"));
    qp_graph_free(f.g);
    /* Scalar index: the gathered axis disappears. */
    int64_t scalar = -1;
    qp_value vsc = i64(0, NULL, &scalar);
    const qp_value *sins[2] = {&vx, &vsc};
    f = make("Gather", 2, 1);
    assert_int_equal(qp_ops_invoke(f.node, 13, sins, 2, &out, 1, 1), QP_OK);
    assert_shape(&out, 2, (int64_t[]){3, 4});
    assert_memory_equal(out.data, x + 12, 12 * sizeof(float));
    free(out.data);
    qp_graph_free(f.g);

    float d2[4] = {1, 2, 3, 4};
    int64_t ge[4] = {0, 0, 1, 0};
    qp_value vd = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){2, 2}, d2), vge = i64(2, (int64_t[]){2, 2}, ge);
    const qp_value *geins[2] = {&vd, &vge};
    f = make("GatherElements", 2, 1);
    qp_ops_set_attr_int(f.node, "axis", 1);
    assert_int_equal(qp_ops_invoke(f.node, 13, geins, 2, &out, 1, 1), QP_OK);
    const float want_ge[4] = {1, 1, 4, 3};
    assert_memory_equal(out.data, want_ge, sizeof want_ge);
    free(out.data);
    qp_graph_free(f.g);
    free(x);
}

static void test_constants(void **state) {
    (void)state;
    fixture f = make("Constant", 0, 1);
    qp_ops_set_attr_floats(f.node, "value_floats", (float[]){1.5f, -2}, 2);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 13, NULL, 0, &out, 1, 1), QP_OK);
    assert_shape(&out, 1, (int64_t[]){2});
    assert_float_equal(((float *)out.data)[1], -2.0f, 0);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Constant", 0, 1);
    int32_t tv[6] = {1, 2, 3, 4, 5, 6};
    qp_shape ts = {.rank = 2, .dims = {2, 3}};
    qp_ops_set_attr_tensor(f.node, "value", QP_DT_INT32, &ts, tv);
    assert_int_equal(qp_ops_invoke(f.node, 13, NULL, 0, &out, 1, 1), QP_OK);
    assert_int_equal(out.dtype, QP_DT_INT32);
    assert_memory_equal(out.data, tv, sizeof tv);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Constant", 0, 1);
    qp_ops_set_attr_int(f.node, "value_int", 42);
    assert_int_equal(qp_ops_invoke(f.node, 13, NULL, 0, &out, 1, 1), QP_OK);
    assert_int_equal(out.shape.rank, 0);
    assert_int_equal(*(int64_t *)out.data, 42);
    free(out.data);
    qp_graph_free(f.g);

    int64_t shape[3] = {2, 1, 3};
    qp_value vs = i64(1, (int64_t[]){3}, shape);
    const qp_value *ins[1] = {&vs};
    f = make("ConstantOfShape", 1, 1);
    int32_t seven = 7;
    qp_shape one = {.rank = 1, .dims = {1}};
    qp_ops_set_attr_tensor(f.node, "value", QP_DT_INT32, &one, &seven);
    assert_int_equal(qp_ops_invoke(f.node, 9, ins, 1, &out, 1, 1), QP_OK);
    assert_int_equal(out.dtype, QP_DT_INT32);
    assert_shape(&out, 3, shape);
    for (int i = 0; i < 6; i++)
        assert_int_equal(((int32_t *)out.data)[i], 7);
    free(out.data);
    qp_graph_free(f.g);
    f = make("ConstantOfShape", 1, 1); /* default: float 0 */
    assert_int_equal(qp_ops_invoke(f.node, 9, ins, 1, &out, 1, 1), QP_OK);
    assert_int_equal(out.dtype, QP_DT_FLOAT);
    for (int i = 0; i < 6; i++)
        assert_float_equal(((float *)out.data)[i], 0, 0);
    free(out.data);
    qp_graph_free(f.g);
}

static qp_value cast_to(const qp_value *x, qp_dtype to, int64_t opset) {
    fixture f = make("Cast", 1, 1);
    qp_ops_set_attr_int(f.node, "to", to);
    const qp_value *ins[1] = {x};
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, opset, ins, 1, &out, 1, 1), QP_OK);
    assert_int_equal(out.dtype, to);
    qp_graph_free(f.g);
    return out;
}

static void test_cast(void **state) {
    (void)state;
    float x[7] = {-300.7f, -1.9f, -0.5f, 0.0f, 0.6f, 200.2f, NAN};
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){7}, x);
    qp_value o = cast_to(&vx, QP_DT_INT8, 13);
    const int8_t want_i8[7] = {-128, -1, 0, 0, 0, 127, 0}; /* truncate, saturate, NaN -> 0 */
    assert_memory_equal(o.data, want_i8, 7);
    free(o.data);
    o = cast_to(&vx, QP_DT_BOOL, 13);
    const uint8_t want_b[7] = {1, 1, 1, 0, 1, 1, 1};
    assert_memory_equal(o.data, want_b, 7);
    free(o.data);
    o = cast_to(&vx, QP_DT_INT64, 13);
    assert_int_equal(((int64_t *)o.data)[0], -300);
    assert_int_equal(((int64_t *)o.data)[5], 200);
    free(o.data);

    uint8_t u[3] = {0, 128, 255};
    qp_value vu = qp_ops_value(QP_DT_UINT8, 1, (int64_t[]){3}, u);
    o = cast_to(&vu, QP_DT_FLOAT, 13);
    assert_float_equal(((float *)o.data)[2], 255.0f, 0);
    free(o.data);
    int64_t big[2] = {-1, 300};
    qp_value vbig = i64(1, (int64_t[]){2}, big);
    o = cast_to(&vbig, QP_DT_UINT8, 13); /* integer -> integer wraps like numpy */
    assert_int_equal(((uint8_t *)o.data)[0], 255);
    assert_int_equal(((uint8_t *)o.data)[1], 44);
    free(o.data);

    /* float16: exact values survive a round trip; 1/3 rounds to nearest even. */
    float h[5] = {1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 1.0f / 3.0f};
    qp_value vh = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){5}, h);
    qp_value half = cast_to(&vh, QP_DT_FLOAT16, 13);
    const uint16_t want_h[5] = {0x3c00, 0xc100, 0x7bff, 0x0400, 0x3555};
    assert_memory_equal(half.data, want_h, sizeof want_h);
    qp_value back = cast_to(&half, QP_DT_FLOAT, 13);
    for (int i = 0; i < 4; i++)
        assert_float_equal(((float *)back.data)[i], h[i], 0);
    assert_float_equal(((float *)back.data)[4], 0.333251953125f, 0);
    free(back.data);
    free(half.data);

    /* bfloat16 truncates before opset 19, rounds to nearest even from 19. */
    float bf = 0.47892547f;           /* 0x3EF5 3558: the dropped half is below the midpoint */
    float bf_up = 1.00390625f * 1.5f; /* 0x3FC0 C000: above the midpoint */
    float bfs[2] = {bf, bf_up};
    qp_value vbf = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){2}, bfs);
    o = cast_to(&vbf, QP_DT_BFLOAT16, 13);
    assert_int_equal(((uint16_t *)o.data)[0], 0x3ef5);
    assert_int_equal(((uint16_t *)o.data)[1], 0x3fc0);
    free(o.data);
    o = cast_to(&vbf, QP_DT_BFLOAT16, 19);
    assert_int_equal(((uint16_t *)o.data)[1], 0x3fc1);
    free(o.data);

    fixture f = make("Cast", 1, 1);
    qp_ops_set_attr_int(f.node, "to", QP_DT_STRING);
    const qp_value *ins[1] = {&vx};
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 1, &out, 1, 1), QP_ERR_UNSUPPORTED);
    qp_graph_free(f.g);
}

static void test_expand_tile_range(void **state) {
    (void)state;
    float x[3] = {1, 2, 3};
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){3, 1}, x);
    int64_t shape[3] = {2, 1, 4};
    qp_value vs = i64(1, (int64_t[]){3}, shape);
    const qp_value *ins[2] = {&vx, &vs};
    fixture f = make("Expand", 2, 1);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 2, &out, 1, 1), QP_OK);
    assert_shape(&out, 3, (int64_t[]){2, 3, 4});
    for (int i = 0; i < 24; i++)
        assert_float_equal(((float *)out.data)[i], x[(i / 4) % 3], 0);
    free(out.data);
    qp_graph_free(f.g);

    int64_t reps[2] = {2, 3};
    qp_value vr = i64(1, (int64_t[]){2}, reps);
    float t[4] = {1, 2, 3, 4};
    qp_value vt = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){2, 2}, t);
    const qp_value *tins[2] = {&vt, &vr};
    f = make("Tile", 2, 1);
    assert_int_equal(qp_ops_invoke(f.node, 13, tins, 2, &out, 1, 1), QP_OK);
    assert_shape(&out, 2, (int64_t[]){4, 6});
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 6; c++)
            assert_float_equal(((float *)out.data)[r * 6 + c], t[(r % 2) * 2 + c % 2], 0);
    free(out.data);
    qp_graph_free(f.g);

    int32_t s = 10, l = 4, d = -3;
    qp_value v0 = qp_ops_value(QP_DT_INT32, 0, NULL, &s), v1 = qp_ops_value(QP_DT_INT32, 0, NULL, &l),
             v2 = qp_ops_value(QP_DT_INT32, 0, NULL, &d);
    const qp_value *rins[3] = {&v0, &v1, &v2};
    f = make("Range", 3, 1);
    assert_int_equal(qp_ops_invoke(f.node, 11, rins, 3, &out, 1, 1), QP_OK);
    assert_shape(&out, 1, (int64_t[]){2});
    const int32_t want_r[2] = {10, 7};
    assert_memory_equal(out.data, want_r, sizeof want_r);
    free(out.data);
    float fs = 1, fl = 2.1f, fd = 0.25f;
    qp_value f0 = qp_ops_value(QP_DT_FLOAT, 0, NULL, &fs), f1 = qp_ops_value(QP_DT_FLOAT, 0, NULL, &fl),
             f2 = qp_ops_value(QP_DT_FLOAT, 0, NULL, &fd);
    const qp_value *fins[3] = {&f0, &f1, &f2};
    assert_int_equal(qp_ops_invoke(f.node, 11, fins, 3, &out, 1, 1), QP_OK);
    assert_shape(&out, 1, (int64_t[]){5});
    assert_float_equal(((float *)out.data)[4], 2.0f, 0);
    free(out.data);
    fd = 0;
    assert_int_equal(qp_ops_invoke(f.node, 11, fins, 3, &out, 1, 1), QP_ERR_INVALID_MODEL);
    qp_graph_free(f.g);
}

/* DepthToSpace matches its reshape-transpose definition; SpaceToDepth inverts DCR. */
static void test_depth_space(void **state) {
    (void)state;
    int64_t n = 1, c = 8, h = 2, w = 3, b = 2, cc = c / (b * b);
    float *x = iota(n * c * h * w);
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 4, (int64_t[]){n, c, h, w}, x);
    const qp_value *ins[1] = {&vx};
    for (int crd = 0; crd < 2; crd++) {
        fixture f = make("DepthToSpace", 1, 1);
        qp_ops_set_attr_int(f.node, "blocksize", b);
        qp_ops_set_attr_string(f.node, "mode", crd ? "CRD" : "DCR");
        qp_value out;
        assert_int_equal(qp_ops_invoke(f.node, 13, ins, 1, &out, 1, 1), QP_OK);
        assert_shape(&out, 4, (int64_t[]){n, cc, h * b, w * b});
        for (int64_t oc = 0; oc < cc; oc++)
            for (int64_t y = 0; y < h * b; y++)
                for (int64_t xx = 0; xx < w * b; xx++) {
                    int64_t bh = y % b, bw = xx % b;
                    int64_t ic = crd ? oc * b * b + bh * b + bw : (bh * b + bw) * cc + oc;
                    float want = x[(ic * h + y / b) * w + xx / b];
                    assert_float_equal(((float *)out.data)[(oc * h * b + y) * w * b + xx], want, 0);
                }
        if (!crd) {
            fixture g = make("SpaceToDepth", 1, 1);
            qp_ops_set_attr_int(g.node, "blocksize", b);
            const qp_value *back_in[1] = {&out};
            qp_value back;
            assert_int_equal(qp_ops_invoke(g.node, 13, back_in, 1, &back, 1, 1), QP_OK);
            assert_shape(&back, 4, (int64_t[]){n, c, h, w});
            assert_memory_equal(back.data, x, sizeof(float) * (size_t)(n * c * h * w));
            free(back.data);
            qp_graph_free(g.g);
        }
        free(out.data);
        qp_graph_free(f.g);
    }
    free(x);
}

static void test_identity_dropout(void **state) {
    (void)state;
    float x[3] = {1, 2, 3};
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){3}, x);
    const qp_value *ins[1] = {&vx};
    fixture f = make("Dropout", 1, 2);
    qp_value outs[2];
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 1, outs, 2, 1), QP_OK);
    assert_memory_equal(outs[0].data, x, sizeof x);
    assert_int_equal(outs[1].dtype, QP_DT_BOOL);
    const uint8_t ones[3] = {1, 1, 1};
    assert_memory_equal(outs[1].data, ones, 3);
    free(outs[0].data);
    free(outs[1].data);
    qp_graph_free(f.g);
    uint8_t training = 1;
    float ratio = 0.5f;
    qp_value vt = qp_ops_value(QP_DT_BOOL, 0, NULL, &training),
             vr = qp_ops_value(QP_DT_FLOAT, 0, NULL, &ratio);
    const qp_value *tins[3] = {&vx, &vr, &vt};
    f = make("Dropout", 3, 1);
    assert_int_equal(qp_ops_invoke(f.node, 13, tins, 3, outs, 1, 1), QP_ERR_UNSUPPORTED);
    assert_non_null(strstr(qp_error_message(), "training"));
    qp_graph_free(f.g);
    f = make("Identity", 1, 1);
    assert_int_equal(qp_ops_invoke(f.node, 16, ins, 1, outs, 1, 1), QP_OK);
    assert_memory_equal(outs[0].data, x, sizeof x);
    free(outs[0].data);
    qp_graph_free(f.g);
}

static void test_gather_nd_and_scatter(void **state) {
    (void)state;
    /* GatherND with batch_dims=1: data [2,2,2], one index pair per batch. */
    int32_t data[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int64_t idx[2] = {1, 0};
    qp_value vd = qp_ops_value(QP_DT_INT32, 3, (int64_t[]){2, 2, 2}, data),
             vi = i64(2, (int64_t[]){2, 1}, idx);
    const qp_value *ins[2] = {&vd, &vi};
    fixture f = make("GatherND", 2, 1);
    qp_ops_set_attr_int(f.node, "batch_dims", 1);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 2, &out, 1, 1), QP_OK);
    assert_shape(&out, 2, (int64_t[]){2, 2});
    const int32_t want_g[4] = {2, 3, 4, 5};
    assert_memory_equal(out.data, want_g, sizeof want_g);
    free(out.data);
    qp_graph_free(f.g);

    /* ScatterND with add: duplicate targets accumulate. */
    float base[4] = {1, 2, 3, 4}, upd[3] = {10, 20, 30};
    int64_t sidx[3] = {1, -1, 1};
    qp_value vb = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){4}, base), vsi = i64(2, (int64_t[]){3, 1}, sidx),
             vu = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){3}, upd);
    const qp_value *sins[3] = {&vb, &vsi, &vu};
    f = make("ScatterND", 3, 1);
    qp_ops_set_attr_string(f.node, "reduction", "add");
    assert_int_equal(qp_ops_invoke(f.node, 16, sins, 3, &out, 1, 1), QP_OK);
    const float want_s[4] = {1, 42, 3, 24};
    assert_memory_equal(out.data, want_s, sizeof want_s);
    free(out.data);
    sidx[0] = 4;
    assert_int_equal(qp_ops_invoke(f.node, 16, sins, 3, &out, 1, 1), QP_ERR_INVALID_ARG);
    qp_graph_free(f.g);

    /* ScatterElements along axis 1 with a negative index. */
    float d2[6] = {0, 0, 0, 0, 0, 0}, u2[2] = {5, 7};
    int64_t e2[2] = {-1, 0};
    qp_value v2 = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){2, 3}, d2), vi2 = i64(2, (int64_t[]){2, 1}, e2),
             vu2 = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){2, 1}, u2);
    const qp_value *eins[3] = {&v2, &vi2, &vu2};
    f = make("ScatterElements", 3, 1);
    qp_ops_set_attr_int(f.node, "axis", 1);
    assert_int_equal(qp_ops_invoke(f.node, 16, eins, 3, &out, 1, 1), QP_OK);
    const float want_e[6] = {0, 0, 5, 7, 0, 0};
    assert_memory_equal(out.data, want_e, sizeof want_e);
    free(out.data);
    qp_graph_free(f.g);
}

static void test_one_hot_trilu_eye(void **state) {
    (void)state;
    int64_t idx[3] = {0, -1, 5};
    float depth = 3, values[2] = {-1, 9};
    qp_value vi = i64(1, (int64_t[]){3}, idx), vd = qp_ops_value(QP_DT_FLOAT, 0, NULL, &depth),
             vv = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){2}, values);
    const qp_value *ins[3] = {&vi, &vd, &vv};
    fixture f = make("OneHot", 3, 1);
    qp_ops_set_attr_int(f.node, "axis", 0);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 11, ins, 3, &out, 1, 1), QP_OK);
    assert_shape(&out, 2, (int64_t[]){3, 3});
    const float want_oh[9] = {9,  -1, -1, -1, -1,
                              -1, -1, 9,  -1}; /* [depth, n]: 0 -> row 0, -1 -> row 2, 5 -> none */
    assert_memory_equal(out.data, want_oh, sizeof want_oh);
    free(out.data);
    qp_graph_free(f.g);

    int64_t x[12];
    for (int i = 0; i < 12; i++)
        x[i] = i + 1;
    int64_t k = -1;
    qp_value vx = i64(2, (int64_t[]){3, 4}, x), vk = i64(0, NULL, &k);
    const qp_value *tins[2] = {&vx, &vk};
    f = make("Trilu", 2, 1);
    assert_int_equal(qp_ops_invoke(f.node, 14, tins, 2, &out, 1, 1), QP_OK); /* upper, k = -1 */
    const int64_t want_u[12] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 10, 11, 12};
    assert_memory_equal(out.data, want_u, sizeof want_u);
    free(out.data);
    qp_graph_free(f.g);
    f = make("Trilu", 1, 1);
    qp_ops_set_attr_int(f.node, "upper", 0);
    assert_int_equal(qp_ops_invoke(f.node, 14, tins, 1, &out, 1, 1), QP_OK); /* lower, k = 0 */
    const int64_t want_l[12] = {1, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0};
    assert_memory_equal(out.data, want_l, sizeof want_l);
    free(out.data);
    qp_graph_free(f.g);

    f = make("EyeLike", 1, 1);
    qp_ops_set_attr_int(f.node, "k", 1);
    qp_ops_set_attr_int(f.node, "dtype", QP_DT_FLOAT);
    assert_int_equal(qp_ops_invoke(f.node, 9, tins, 1, &out, 1, 1), QP_OK);
    assert_int_equal(out.dtype, QP_DT_FLOAT);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            assert_float_equal(((float *)out.data)[r * 4 + c], c == r + 1 ? 1.0f : 0.0f, 0);
    free(out.data);
    qp_graph_free(f.g);
}

/* Shapes built from data are checked before any size arithmetic can overflow. */
static void test_huge_shapes_rejected(void **state) {
    (void)state;
    float x[4] = {0};
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){2, 2}, x);
    int64_t reps[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    qp_value vr = i64(1, (int64_t[]){2}, reps);
    const qp_value *ins[2] = {&vx, &vr};
    qp_value out;
    static const char *const ops[] = {"Tile", "Expand", "Reshape"};
    for (int i = 0; i < 3; i++) {
        fixture f = make(ops[i], 2, 1);
        assert_int_equal(qp_ops_invoke(f.node, 13, ins, 2, &out, 1, 1), QP_ERR_SHAPE);
        qp_graph_free(f.g);
    }
    const qp_value *cins[1] = {&vr};
    fixture f = make("ConstantOfShape", 1, 1);
    assert_int_equal(qp_ops_invoke(f.node, 9, cins, 1, &out, 1, 1), QP_ERR_SHAPE);
    qp_graph_free(f.g);
    int64_t pads[4] = {INT64_MAX, 0, INT64_MAX, 0};
    qp_value vp = i64(1, (int64_t[]){4}, pads);
    const qp_value *pins[2] = {&vx, &vp};
    f = make("Pad", 2, 1);
    assert_int_equal(qp_ops_invoke(f.node, 13, pins, 2, &out, 1, 1), QP_ERR_SHAPE);
    qp_graph_free(f.g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reshape),
        cmocka_unit_test(test_flatten_squeeze_unsqueeze),
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_concat_and_split),
        cmocka_unit_test(test_slice),
        cmocka_unit_test(test_pad_modes),
        cmocka_unit_test(test_shape_size_gather),
        cmocka_unit_test(test_constants),
        cmocka_unit_test(test_cast),
        cmocka_unit_test(test_expand_tile_range),
        cmocka_unit_test(test_depth_space),
        cmocka_unit_test(test_identity_dropout),
        cmocka_unit_test(test_gather_nd_and_scatter),
        cmocka_unit_test(test_one_hot_trilu_eye),
        cmocka_unit_test(test_huge_shapes_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
