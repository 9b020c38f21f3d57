/* test_ops_quant.c — QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear: rounding ties, saturation,
 * per-axis parameters. */
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

static void test_quantize_per_tensor_ties_and_saturation(void **state) {
    (void)state;
    /* x / 2: 0.5, 1.5, 2.5, -0.5, -1.5, big, -big, 0.25 */
    float x[8] = {1, 3, 5, -1, -3, 1000, -1000, 0.5f}, scale = 2;
    uint8_t zp = 10;
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){8}, x),
             vs = qp_ops_value(QP_DT_FLOAT, 0, NULL, &scale), vz = qp_ops_value(QP_DT_UINT8, 0, NULL, &zp);
    const qp_value *ins[3] = {&vx, &vs, &vz};
    fixture f = make("QuantizeLinear", 3, 1);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 3, &out, 1, 1), QP_OK);
    assert_int_equal(out.dtype, QP_DT_UINT8);
    const uint8_t want[8] = {10, 12, 12, 10, 8, 255, 0, 10}; /* half to even, then + zp, saturated */
    assert_memory_equal(out.data, want, 8);
    free(out.data);
    int8_t zp8 = -3;
    qp_value vz8 = qp_ops_value(QP_DT_INT8, 0, NULL, &zp8);
    const qp_value *ins8[3] = {&vx, &vs, &vz8};
    assert_int_equal(qp_ops_invoke(f.node, 13, ins8, 3, &out, 1, 1), QP_OK);
    assert_int_equal(out.dtype, QP_DT_INT8);
    const int8_t want8[8] = {-3, -1, -1, -3, -5, 127, -128, -3};
    assert_memory_equal(out.data, want8, 8);
    free(out.data);
    qp_graph_free(f.g);
    /* No zero point: uint8 with zero point 0. */
    f = make("QuantizeLinear", 2, 1);
    assert_int_equal(qp_ops_invoke(f.node, 10, ins, 2, &out, 1, 1), QP_OK);
    assert_int_equal(out.dtype, QP_DT_UINT8);
    const uint8_t want0[8] = {0, 2, 2, 0, 0, 255, 0, 0};
    assert_memory_equal(out.data, want0, 8);
    free(out.data);
    qp_graph_free(f.g);
}

static void test_per_axis(void **state) {
    (void)state;
    float x[2 * 3 * 2];
    for (int i = 0; i < 12; i++)
        x[i] = (float)(i * 10);
    float scales[3] = {1, 10, 100};
    uint8_t zps[3] = {0, 5, 128};
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 3, (int64_t[]){2, 3, 2}, x),
             vs = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){3}, scales),
             vz = qp_ops_value(QP_DT_UINT8, 1, (int64_t[]){3}, zps);
    const qp_value *ins[3] = {&vx, &vs, &vz};
    fixture f = make("QuantizeLinear", 3, 1); /* axis defaults to 1 */
    qp_value q;
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 3, &q, 1, 1), QP_OK);
    for (int i = 0; i < 12; i++) {
        int c = (i / 2) % 3;
        double v = nearbyint(x[i] / scales[c]) + zps[c];
        uint8_t want = (uint8_t)(v > 255 ? 255 : v);
        assert_int_equal(((uint8_t *)q.data)[i], want);
    }
    qp_graph_free(f.g);
    const qp_value *dins[3] = {&q, &vs, &vz};
    f = make("DequantizeLinear", 3, 1);
    qp_value d;
    assert_int_equal(qp_ops_invoke(f.node, 13, dins, 3, &d, 1, 1), QP_OK);
    assert_int_equal(d.dtype, QP_DT_FLOAT);
    for (int i = 0; i < 12; i++) {
        int c = (i / 2) % 3;
        assert_float_equal(((float *)d.data)[i], (float)(((uint8_t *)q.data)[i] - zps[c]) * scales[c], 0);
    }
    free(d.data);
    /* axis 0 with 3 scales on a dim of 2 is a shape error. */
    qp_ops_set_attr_int(f.node, "axis", 0);
    assert_int_equal(qp_ops_invoke(f.node, 13, dins, 3, &d, 1, 1), QP_ERR_SHAPE);
    qp_graph_free(f.g);
    free(q.data);
}

static void test_dequantize_int8_int32(void **state) {
    (void)state;
    int8_t q[4] = {-128, -1, 0, 127};
    int8_t zp = -1;
    float scale = 0.5f;
    qp_value vq = qp_ops_value(QP_DT_INT8, 1, (int64_t[]){4}, q),
             vs = qp_ops_value(QP_DT_FLOAT, 0, NULL, &scale), vz = qp_ops_value(QP_DT_INT8, 0, NULL, &zp);
    const qp_value *ins[3] = {&vq, &vs, &vz};
    fixture f = make("DequantizeLinear", 3, 1);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 3, &out, 1, 1), QP_OK);
    const float want[4] = {-63.5f, 0, 0.5f, 64};
    assert_memory_equal(out.data, want, sizeof want);
    free(out.data);
    qp_graph_free(f.g);
    int32_t b[3] = {-100000, 0, 7};
    float bs = 0.001f;
    qp_value vb = qp_ops_value(QP_DT_INT32, 1, (int64_t[]){3}, b),
             vbs = qp_ops_value(QP_DT_FLOAT, 0, NULL, &bs);
    const qp_value *bins[2] = {&vb, &vbs};
    f = make("DequantizeLinear", 2, 1);
    assert_int_equal(qp_ops_invoke(f.node, 13, bins, 2, &out, 1, 1), QP_OK);
    assert_float_equal(((float *)out.data)[0], -100000 * 0.001f, 0);
    assert_float_equal(((float *)out.data)[2], 7 * 0.001f, 0);
    free(out.data);
    /* Mismatched zero-point dtype is refused. */
    uint8_t uz = 0;
    qp_value vuz = qp_ops_value(QP_DT_UINT8, 0, NULL, &uz);
    const qp_value *bad[3] = {&vq, &vs, &vuz};
    assert_int_equal(qp_ops_invoke(f.node, 13, bad, 3, &out, 1, 1), QP_ERR_SHAPE);
    qp_graph_free(f.g);
}

/* ONNX's test_dynamicquantizelinear example. */
static void test_dynamic_quantize(void **state) {
    (void)state;
    float x[6] = {0, 2, -3, -2.5f, 1.34f, 0.5f};
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){6}, x);
    const qp_value *ins[1] = {&vx};
    fixture f = make("DynamicQuantizeLinear", 1, 3);
    qp_value outs[3];
    assert_int_equal(qp_ops_invoke(f.node, 11, ins, 1, outs, 3, 1), QP_OK);
    float scale = (2.0f - -3.0f) / 255.0f;
    assert_float_equal(*(float *)outs[1].data, scale, 0);
    assert_int_equal(*(uint8_t *)outs[2].data, 153);
    const uint8_t want[6] = {153, 255, 0, 26, 221, 179};
    assert_memory_equal(outs[0].data, want, 6);
    for (int i = 0; i < 3; i++)
        free(outs[i].data);
    qp_graph_free(f.g);
}

static void test_unsupported(void **state) {
    (void)state;
    double x[2] = {1, 2};
    float scale = 1;
    qp_value vx = qp_ops_value(QP_DT_DOUBLE, 1, (int64_t[]){2}, x),
             vs = qp_ops_value(QP_DT_FLOAT, 0, NULL, &scale);
    const qp_value *ins[2] = {&vx, &vs};
    fixture f = make("QuantizeLinear", 2, 1);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 2, &out, 1, 1), QP_ERR_UNSUPPORTED);
    qp_graph_free(f.g);
    float fx[4] = {0};
    qp_value vf = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){4}, fx);
    const qp_value *fins[2] = {&vf, &vs};
    f = make("QuantizeLinear", 2, 1);
    qp_ops_set_attr_int(f.node, "block_size", 2);
    assert_int_equal(qp_ops_invoke(f.node, 21, fins, 2, &out, 1, 1), QP_ERR_UNSUPPORTED);
    assert_non_null(strstr(qp_error_message(), "block"));
    qp_graph_free(f.g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_per_tensor_ties_and_saturation),
        cmocka_unit_test(test_per_axis),
        cmocka_unit_test(test_dequantize_int8_int32),
        cmocka_unit_test(test_dynamic_quantize),
        cmocka_unit_test(test_unsupported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
