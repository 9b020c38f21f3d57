/* test_ops_activation.c — activation ops (Relu, Sigmoid, HardSwish, Clip, PRelu, Gelu, ...) against formulas
 * evaluated in double here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "engine/op.h"
#include "ops/ops_common_invoke.h"

static const float X[9] = {-100.0f, -3.5f, -1.0f, -0.25f, 0.0f, 0.3f, 1.0f, 2.5f, 100.0f};

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

/* Runs op (with attributes already set on f) on X and compares with ref(x) in double. */
static void check_unary(fixture *f, int64_t opset, double (*ref)(double, const double *), const double *p,
                        double tol) {
    qp_value x = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){9}, (void *)X);
    const qp_value *ins[1] = {&x};
    qp_value out;
    assert_int_equal(qp_ops_invoke(f->node, opset, ins, 1, &out, 1, 1), QP_OK);
    assert_int_equal(out.dtype, QP_DT_FLOAT);
    for (int i = 0; i < 9; i++) {
        double want = ref(X[i], p), got = ((float *)out.data)[i];
        if (fabs(got - want) > tol * (1 + fabs(want)))
            fail_msg("%s(%g): got %.9g, want %.9g", f->node->op_type, X[i], got, want);
    }
    free(out.data);
    qp_graph_free(f->g);
}

static double r_relu(double x, const double *p) {
    (void)p;
    return x > 0 ? x : 0;
}
static double r_leaky(double x, const double *p) {
    return x < 0 ? p[0] * x : x;
}
static double r_sigmoid(double x, const double *p) {
    (void)p;
    return 1 / (1 + exp(-x));
}
static double r_tanh(double x, const double *p) {
    (void)p;
    return tanh(x);
}
static double r_hsig(double x, const double *p) {
    return fmax(0, fmin(1, p[0] * x + p[1]));
}
static double r_hswish(double x, const double *p) {
    (void)p;
    return x * fmax(0, fmin(1, x / 6 + 0.5));
}
static double r_elu(double x, const double *p) {
    return x < 0 ? p[0] * (exp(x) - 1) : x;
}
static double r_selu(double x, const double *p) {
    return x > 0 ? p[1] * x : p[1] * (p[0] * exp(x) - p[0]);
}
static double r_celu(double x, const double *p) {
    return fmax(0, x) + fmin(0, p[0] * (exp(x / p[0]) - 1));
}
static double r_softplus(double x, const double *p) {
    (void)p;
    return x > 30 ? x : log(exp(x) + 1);
}
static double r_softsign(double x, const double *p) {
    (void)p;
    return x / (1 + fabs(x));
}
static double r_thresh(double x, const double *p) {
    return x > p[0] ? x : 0;
}
static double r_gelu(double x, const double *p) {
    (void)p;
    return 0.5 * x * (1 + erf(x / sqrt(2)));
}
static double r_gelu_tanh(double x, const double *p) {
    (void)p;
    return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
static double r_mish(double x, const double *p) {
    return x * tanh(r_softplus(x, p));
}
static double r_shrink(double x, const double *p) {
    return x < -p[0] ? x + p[1] : x > p[0] ? x - p[1] : 0;
}

static void test_default_attributes(void **state) {
    (void)state;
    static const double leaky[] = {0.01}, hsig[] = {0.2, 0.5}, elu[] = {1.0}, thresh[] = {1.0},
                        shrink[] = {0.5, 0}, selu[] = {1.67326319217681884765625, 1.05070102214813232421875},
                        celu[] = {1.0};
    fixture f;
    f = make("Relu", 1), check_unary(&f, 14, r_relu, NULL, 0);
    f = make("LeakyRelu", 1), check_unary(&f, 16, r_leaky, leaky, 1e-6);
    f = make("Sigmoid", 1), check_unary(&f, 13, r_sigmoid, NULL, 1e-6);
    f = make("Tanh", 1), check_unary(&f, 13, r_tanh, NULL, 1e-6);
    f = make("HardSigmoid", 1), check_unary(&f, 6, r_hsig, hsig, 1e-6);
    f = make("HardSwish", 1), check_unary(&f, 14, r_hswish, NULL, 1e-6);
    f = make("Elu", 1), check_unary(&f, 6, r_elu, elu, 1e-6);
    f = make("Selu", 1), check_unary(&f, 6, r_selu, selu, 1e-6);
    f = make("Celu", 1), check_unary(&f, 12, r_celu, celu, 1e-6);
    f = make("Softplus", 1), check_unary(&f, 1, r_softplus, NULL, 1e-6);
    f = make("Softsign", 1), check_unary(&f, 1, r_softsign, NULL, 1e-6);
    f = make("ThresholdedRelu", 1), check_unary(&f, 10, r_thresh, thresh, 0);
    f = make("Gelu", 1), check_unary(&f, 20, r_gelu, NULL, 1e-6);
    f = make("Mish", 1), check_unary(&f, 18, r_mish, NULL, 1e-6);
    f = make("Shrink", 1), check_unary(&f, 9, r_shrink, shrink, 1e-6);
}

static void test_explicit_attributes(void **state) {
    (void)state;
    fixture f;
    static const double leaky[] = {0.1}, hsig[] = {0.5, 0.6}, elu[] = {2.0}, selu[] = {2.0, 3.0},
                        thresh[] = {2.0}, shrink[] = {1.5, 0.25};
    f = make("LeakyRelu", 1);
    qp_ops_set_attr_float(f.node, "alpha", 0.1f);
    check_unary(&f, 16, r_leaky, leaky, 1e-6);
    f = make("HardSigmoid", 1);
    qp_ops_set_attr_float(f.node, "alpha", 0.5f);
    qp_ops_set_attr_float(f.node, "beta", 0.6f);
    check_unary(&f, 6, r_hsig, hsig, 1e-6);
    f = make("Elu", 1);
    qp_ops_set_attr_float(f.node, "alpha", 2.0f);
    check_unary(&f, 6, r_elu, elu, 1e-6);
    f = make("Selu", 1);
    qp_ops_set_attr_float(f.node, "alpha", 2.0f);
    qp_ops_set_attr_float(f.node, "gamma", 3.0f);
    check_unary(&f, 6, r_selu, selu, 1e-6);
    f = make("ThresholdedRelu", 1);
    qp_ops_set_attr_float(f.node, "alpha", 2.0f);
    check_unary(&f, 10, r_thresh, thresh, 0);
    f = make("Gelu", 1);
    qp_ops_set_attr_string(f.node, "approximate", "tanh");
    check_unary(&f, 20, r_gelu_tanh, NULL, 1e-6);
    f = make("Shrink", 1);
    qp_ops_set_attr_float(f.node, "lambd", 1.5f);
    qp_ops_set_attr_float(f.node, "bias", 0.25f);
    check_unary(&f, 9, r_shrink, shrink, 1e-6);
}

static void run_clip(int64_t opset, fixture *f, const qp_value *const *ins, int n_in, const float *want) {
    qp_value out;
    assert_int_equal(qp_ops_invoke(f->node, opset, ins, n_in, &out, 1, 1), QP_OK);
    for (int i = 0; i < 9; i++)
        assert_float_equal(((float *)out.data)[i], want[i], 0);
    free(out.data);
    qp_graph_free(f->g);
}

static void test_clip_attribute_and_input_forms(void **state) {
    (void)state;
    qp_value x = qp_ops_value(QP_DT_FLOAT, 1, (int64_t[]){9}, (void *)X);
    float lo = -1.0f, hi = 2.0f, inverted_lo = 5.0f;
    qp_value vlo = qp_ops_value(QP_DT_FLOAT, 0, NULL, &lo), vhi = qp_ops_value(QP_DT_FLOAT, 0, NULL, &hi),
             vinv = qp_ops_value(QP_DT_FLOAT, 0, NULL, &inverted_lo);
    float both[9], only_lo[9], only_hi[9], inverted[9];
    for (int i = 0; i < 9; i++) {
        both[i] = X[i] < -1 ? -1 : X[i] > 2 ? 2 : X[i];
        only_lo[i] = X[i] < -1 ? -1 : X[i];
        only_hi[i] = X[i] > 2 ? 2 : X[i];
        inverted[i] = 2; /* min > max: numpy.clip gives max */
    }
    fixture f = make("Clip", 1); /* opset 6: attributes */
    qp_ops_set_attr_float(f.node, "min", -1.0f);
    qp_ops_set_attr_float(f.node, "max", 2.0f);
    const qp_value *ins1[1] = {&x};
    run_clip(6, &f, ins1, 1, both);
    f = make("Clip", 3);
    const qp_value *ins3[3] = {&x, &vlo, &vhi};
    run_clip(13, &f, ins3, 3, both);
    f = make("Clip", 2);
    const qp_value *ins_lo[2] = {&x, &vlo};
    run_clip(13, &f, ins_lo, 2, only_lo);
    f = make("Clip", 3);
    const qp_value *ins_hi[3] = {&x, NULL, &vhi};
    run_clip(13, &f, ins_hi, 3, only_hi);
    f = make("Clip", 1);
    run_clip(13, &f, ins1, 1, X);
    f = make("Clip", 3);
    const qp_value *ins_inv[3] = {&x, &vinv, &vhi};
    run_clip(13, &f, ins_inv, 3, inverted);
}

static void test_clip_int8_and_errors(void **state) {
    (void)state;
    int8_t x[5] = {-128, -5, 0, 5, 127}, lo = -3, hi = 4;
    qp_value vx = qp_ops_value(QP_DT_INT8, 1, (int64_t[]){5}, x),
             vlo = qp_ops_value(QP_DT_INT8, 0, NULL, &lo), vhi = qp_ops_value(QP_DT_INT8, 0, NULL, &hi);
    const qp_value *ins[3] = {&vx, &vlo, &vhi};
    fixture f = make("Clip", 3);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 3, &out, 1, 1), QP_OK);
    const int8_t want[5] = {-3, -3, 0, 4, 4};
    assert_memory_equal(out.data, want, 5);
    free(out.data);
    float flo = 0;
    qp_value vflo = qp_ops_value(QP_DT_FLOAT, 0, NULL, &flo);
    const qp_value *bad[3] = {&vx, &vflo, NULL};
    assert_int_equal(qp_ops_invoke(f.node, 13, bad, 3, &out, 1, 1), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "min"));
    qp_graph_free(f.g);
}

static void test_relu_integers(void **state) {
    (void)state;
    int32_t x[4] = {-7, 0, 3, INT32_MIN};
    qp_value vx = qp_ops_value(QP_DT_INT32, 1, (int64_t[]){4}, x);
    const qp_value *ins[1] = {&vx};
    fixture f = make("Relu", 1);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 14, ins, 1, &out, 1, 1), QP_OK);
    const int32_t want[4] = {0, 0, 3, 0};
    assert_memory_equal(out.data, want, sizeof want);
    free(out.data);
    uint8_t b[1] = {1};
    qp_value vb = qp_ops_value(QP_DT_BOOL, 1, (int64_t[]){1}, b);
    const qp_value *bad[1] = {&vb};
    assert_int_equal(qp_ops_invoke(f.node, 14, bad, 1, &out, 1, 1), QP_ERR_UNSUPPORTED);
    qp_graph_free(f.g);
}

static void test_prelu_per_channel(void **state) {
    (void)state;
    float x[2 * 3 * 2], slope[3] = {0.1f, 0.2f, 0.3f};
    for (int i = 0; i < 12; i++)
        x[i] = (float)(i - 6);
    qp_value vx = qp_ops_value(QP_DT_FLOAT, 3, (int64_t[]){2, 3, 2}, x),
             vs = qp_ops_value(QP_DT_FLOAT, 2, (int64_t[]){3, 1}, slope);
    const qp_value *ins[2] = {&vx, &vs};
    fixture f = make("PRelu", 2);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 16, ins, 2, &out, 1, 1), QP_OK);
    for (int i = 0; i < 12; i++) {
        int c = (i / 2) % 3;
        float want = x[i] < 0 ? slope[c] * x[i] : x[i];
        assert_float_equal(((float *)out.data)[i], want, 0);
    }
    free(out.data);
    /* A slope that would grow the output is not unidirectional broadcasting. */
    float wide[4] = {0};
    qp_value vw = qp_ops_value(QP_DT_FLOAT, 4, (int64_t[]){2, 2, 3, 2}, wide);
    const qp_value *bad[2] = {&vx, &vw};
    assert_int_equal(qp_ops_invoke(f.node, 16, bad, 2, &out, 1, 1), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "broadcast"));
    qp_graph_free(f.g);
}

static void test_double_precision(void **state) {
    (void)state;
    double x[3] = {-2, 0.5, 40};
    qp_value vx = qp_ops_value(QP_DT_DOUBLE, 1, (int64_t[]){3}, x);
    const qp_value *ins[1] = {&vx};
    fixture f = make("Sigmoid", 1);
    qp_value out;
    assert_int_equal(qp_ops_invoke(f.node, 13, ins, 1, &out, 1, 1), QP_OK);
    assert_int_equal(out.dtype, QP_DT_DOUBLE);
    for (int i = 0; i < 3; i++)
        assert_float_equal(((double *)out.data)[i], 1 / (1 + exp(-x[i])), 1e-15);
    free(out.data);
    qp_graph_free(f.g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_attributes),
        cmocka_unit_test(test_explicit_attributes),
        cmocka_unit_test(test_clip_attribute_and_input_forms),
        cmocka_unit_test(test_clip_int8_and_errors),
        cmocka_unit_test(test_relu_integers),
        cmocka_unit_test(test_prelu_per_channel),
        cmocka_unit_test(test_double_precision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
