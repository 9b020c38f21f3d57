/* test_ops_norm.c — unit tests of BatchNormalization, InstanceNormalization, LRN, LayerNormalization and the Softmax family (both opset semantics). */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#include "engine/op.h"
#include "ir/ir.h"

#include "op_fixture.h"

/* ---- BatchNormalization ---- */

static void test_batchnorm(void **state) {
    (void)state;
    const int64_t n = 2, c = 3, plane = 20;
    float *x = random_floats(n * c * plane, 1), *scale = random_floats(c, 2), *bias = random_floats(c, 3);
    float *mean = random_floats(c, 4), *var = random_floats(c, 5);
    for (int i = 0; i < c; i++) var[i] = fabsf(var[i]) + 0.1f;
    double want[2 * 3 * 20];
    for (int64_t i = 0; i < n * c * plane; i++) {
        int64_t ch = (i / plane) % c;
        want[i] = ((double)x[i] - mean[ch]) / sqrt((double)var[ch] + 1e-3) * scale[ch] + bias[ch];
    }
    int64_t xdims[4] = {n, c, 4, 5}, cdims[1] = {c};
    for (int threads = 1; threads <= 2; threads++) {
        op_fixture f;
        fx_init(&f, "BatchNormalization", 5, 1);
        fx_input(&f, 0, 4, xdims, x);
        fx_input(&f, 1, 1, cdims, scale);
        fx_input(&f, 2, 1, cdims, bias);
        fx_input(&f, 3, 1, cdims, mean);
        fx_input(&f, 4, 1, cdims, var);
        fx_float(&f, "epsilon", 1e-3f);
        assert_int_equal(fx_run(&f, threads), QP_OK);
        assert_close(fx_out(&f, 0), want, n * c * plane);
        fx_free(&f);
    }
    /* training mode and its extra outputs are not implemented; a wrong-length mean is a shape error */
    op_fixture f;
    fx_init(&f, "BatchNormalization", 5, 1);
    for (int i = 0; i < 5; i++) fx_input(&f, i, i ? 1 : 4, i ? cdims : xdims, i ? scale : x);
    fx_int(&f, "training_mode", 1);
    assert_int_equal(fx_run(&f, 1), QP_ERR_UNSUPPORTED);
    assert_non_null(strstr(qp_error_message(), "training_mode"));
    fx_free(&f);
    fx_init(&f, "BatchNormalization", 5, 3);
    for (int i = 0; i < 5; i++) fx_input(&f, i, i ? 1 : 4, i ? cdims : xdims, i ? scale : x);
    assert_int_equal(fx_run(&f, 1), QP_ERR_UNSUPPORTED);
    fx_free(&f);
    fx_init(&f, "BatchNormalization", 5, 1);
    for (int i = 0; i < 5; i++) fx_input(&f, i, i ? 1 : 4, i ? (int64_t[]){i == 3 ? 2 : c} : xdims, i ? scale : x);
    assert_int_equal(fx_run(&f, 1), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "input_mean"));
    fx_free(&f);
    free(x), free(scale), free(bias), free(mean), free(var);
}

/* ---- InstanceNormalization and LRN ---- */

static void test_instancenorm(void **state) {
    (void)state;
    const int64_t n = 2, c = 3, plane = 35;
    float *x = random_floats(n * c * plane, 10), *scale = random_floats(c, 11), *bias = random_floats(c, 12);
    double want[2 * 3 * 35];
    for (int64_t p = 0; p < n * c; p++) {
        double m = 0.0, v = 0.0;
        for (int64_t i = 0; i < plane; i++) m += x[p * plane + i];
        m /= plane;
        for (int64_t i = 0; i < plane; i++) v += (x[p * plane + i] - m) * (x[p * plane + i] - m);
        v /= plane;
        for (int64_t i = 0; i < plane; i++)
            want[p * plane + i] = (x[p * plane + i] - m) / sqrt(v + 1e-5) * scale[p % c] + bias[p % c];
    }
    op_fixture f;
    fx_init(&f, "InstanceNormalization", 3, 1);
    fx_input(&f, 0, 4, (int64_t[]){n, c, 5, 7}, x);
    fx_input(&f, 1, 1, (int64_t[]){c}, scale);
    fx_input(&f, 2, 1, (int64_t[]){c}, bias);
    assert_int_equal(fx_run(&f, 2), QP_OK);
    assert_close(fx_out(&f, 0), want, n * c * plane);
    fx_free(&f);
    free(x), free(scale), free(bias);
}

static void test_lrn(void **state) {
    (void)state;
    const int64_t n = 2, c = 7, plane = 6;
    for (int64_t size = 2; size <= 5; size += 3) {
        float *x = random_floats(n * c * plane, 20 + (uint32_t)size);
        double want[2 * 7 * 6];
        const double alpha = 2e-2, beta = 0.6, bias = 1.5;
        for (int64_t i = 0; i < n * c * plane; i++) {
            int64_t img = i / (c * plane), ch = (i / plane) % c, pos = i % plane;
            double sq = 0.0;
            for (int64_t cc = ch - (size - 1) / 2; cc <= ch + (size - 1) - (size - 1) / 2; cc++)
                if (cc >= 0 && cc < c) {
                    double v = x[(img * c + cc) * plane + pos];
                    sq += v * v;
                }
            want[i] = x[i] / pow(bias + alpha / (double)size * sq, beta);
        }
        op_fixture f;
        fx_init(&f, "LRN", 1, 1);
        fx_input(&f, 0, 4, (int64_t[]){n, c, 2, 3}, x);
        fx_int(&f, "size", size);
        fx_float(&f, "alpha", (float)alpha);
        fx_float(&f, "beta", (float)beta);
        fx_float(&f, "bias", (float)bias);
        assert_int_equal(fx_run(&f, 2), QP_OK);
        assert_close(fx_out(&f, 0), want, n * c * plane);
        fx_free(&f);
        free(x);
    }
    op_fixture f;
    float data[8] = {0};
    fx_init(&f, "LRN", 1, 1); /* size is required */
    fx_input(&f, 0, 4, (int64_t[]){1, 2, 2, 2}, data);
    assert_int_equal(fx_run(&f, 1), QP_ERR_INVALID_MODEL);
    fx_free(&f);
}

/* ---- LayerNormalization ---- */

static void test_layernorm(void **state) {
    (void)state;
    const int64_t dims[3] = {2, 3, 5};
    float *x = random_floats(30, 30);
    for (int axis = -1; axis >= -3; axis--) {
        int a = 3 + axis;
        int64_t outer = 1, inner = 1;
        for (int d = 0; d < 3; d++) {
            if (d < a) outer *= dims[d];
            else inner *= dims[d];
        }
        float *scale = random_floats(inner, 31), *bias = random_floats(inner, 32);
        double want[30], want_mean[6], want_inv[6];
        for (int64_t r = 0; r < outer; r++) {
            double m = 0.0, v = 0.0;
            for (int64_t i = 0; i < inner; i++) m += x[r * inner + i];
            m /= inner;
            for (int64_t i = 0; i < inner; i++) v += (x[r * inner + i] - m) * (x[r * inner + i] - m);
            v /= inner;
            want_mean[r] = m;
            want_inv[r] = 1.0 / sqrt(v + 1e-4);
            for (int64_t i = 0; i < inner; i++)
                want[r * inner + i] = (x[r * inner + i] - m) * want_inv[r] * scale[i] + bias[i];
        }
        op_fixture f;
        fx_init(&f, "LayerNormalization", 3, 3);
        fx_input(&f, 0, 3, dims, x);
        fx_input(&f, 1, 3 - a, dims + a, scale);
        fx_input(&f, 2, 3 - a, dims + a, bias);
        fx_int(&f, "axis", axis);
        fx_float(&f, "epsilon", 1e-4f);
        assert_int_equal(fx_run(&f, 2), QP_OK);
        assert_close(fx_out(&f, 0), want, 30);
        assert_int_equal(f.out[1].shape.rank, 3);
        assert_int_equal(f.out[1].shape.dims[2], 1);
        assert_close(fx_out(&f, 1), want_mean, outer);
        assert_close(fx_out(&f, 2), want_inv, outer);
        fx_free(&f);
        free(scale), free(bias);
    }
    /* Scale broadcast from [1, 5] over the normalized dims [3, 5]; no B */
    float *scale = random_floats(5, 33);
    double want[30];
    for (int64_t r = 0; r < 2; r++) {
        double m = 0.0, v = 0.0;
        for (int i = 0; i < 15; i++) m += x[r * 15 + i];
        m /= 15;
        for (int i = 0; i < 15; i++) v += (x[r * 15 + i] - m) * (x[r * 15 + i] - m);
        v /= 15;
        for (int i = 0; i < 15; i++) want[r * 15 + i] = (x[r * 15 + i] - m) / sqrt(v + 1e-5) * scale[i % 5];
    }
    op_fixture f;
    fx_init(&f, "LayerNormalization", 2, 1);
    fx_input(&f, 0, 3, dims, x);
    fx_input(&f, 1, 2, (int64_t[]){1, 5}, scale);
    fx_int(&f, "axis", 1);
    assert_int_equal(fx_run(&f, 1), QP_OK);
    assert_close(fx_out(&f, 0), want, 30);
    fx_free(&f);
    fx_init(&f, "LayerNormalization", 2, 1); /* [4] does not broadcast to [3, 5] */
    fx_input(&f, 0, 3, dims, x);
    fx_input(&f, 1, 1, (int64_t[]){4}, scale);
    fx_int(&f, "axis", 1);
    assert_int_equal(fx_run(&f, 1), QP_ERR_SHAPE);
    fx_free(&f);
    free(scale);
    free(x);
}

/* ---- Softmax, LogSoftmax, Hardmax ---- */

/* Reference over an (outer, len, inner) view; kind 0 softmax, 1 log-softmax, 2 hardmax. */
static void ref_softmax(const float *x, double *y, int64_t outer, int64_t len, int64_t inner, int kind) {
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xv = x + o * len * inner + i;
            double *yv = y + o * len * inner + i;
            double mx = xv[0];
            int64_t arg = 0;
            for (int64_t a = 1; a < len; a++)
                if (xv[a * inner] > mx) mx = xv[a * inner], arg = a;
            double sum = 0.0;
            for (int64_t a = 0; a < len; a++) sum += exp(xv[a * inner] - mx);
            for (int64_t a = 0; a < len; a++)
                yv[a * inner] = kind == 0   ? exp(xv[a * inner] - mx) / sum
                                : kind == 1 ? xv[a * inner] - mx - log(sum)
                                            : (a == arg ? 1.0 : 0.0);
        }
}

static void test_softmax_family(void **state) {
    (void)state;
    const char *ops[3] = {"Softmax", "LogSoftmax", "Hardmax"};
    const int64_t dims[3] = {3, 4, 5};
    float *x = random_floats(60, 40);
    for (int i = 0; i < 60; i++) x[i] *= 30.0f; /* large logits exercise the max shift */
    x[7] = x[6];                                /* a tie: Hardmax takes the first */
    for (int kind = 0; kind < 3; kind++)
        for (int axis = -3; axis <= 3; axis++) {
            if (axis == 3) continue;
            int a = axis < 0 ? axis + 3 : axis;
            for (int legacy = 0; legacy < 2; legacy++) {
                int64_t outer = 1, len = 1, inner = 1;
                for (int d = 0; d < 3; d++) {
                    if (d < a) outer *= dims[d];
                    else if (d == a || legacy) len *= dims[d];
                    else inner *= dims[d];
                }
                double want[60];
                ref_softmax(x, want, outer, len, inner, kind);
                op_fixture f;
                fx_init(&f, ops[kind], 1, 1);
                fx_input(&f, 0, 3, dims, x);
                fx_int(&f, "axis", axis);
                assert_int_equal(fx_run_opset(&f, 2, legacy ? 11 : 13), QP_OK);
                assert_close(fx_out(&f, 0), want, 60);
                fx_free(&f);
            }
        }
    /* defaults: axis 1 before opset 13 (2-D coercion), -1 from 13 */
    for (int legacy = 0; legacy < 2; legacy++) {
        double want[60];
        if (legacy) ref_softmax(x, want, 3, 20, 1, 0);
        else ref_softmax(x, want, 12, 5, 1, 0);
        op_fixture f;
        fx_init(&f, "Softmax", 1, 1);
        fx_input(&f, 0, 3, dims, x);
        assert_int_equal(fx_run_opset(&f, 1, legacy ? 11 : 13), QP_OK);
        assert_close(fx_out(&f, 0), want, 60);
        fx_free(&f);
    }
    op_fixture f;
    fx_init(&f, "Softmax", 1, 1);
    fx_input(&f, 0, 3, dims, x);
    fx_int(&f, "axis", 3);
    assert_int_equal(fx_run(&f, 1), QP_ERR_INVALID_MODEL);
    fx_free(&f);
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batchnorm), cmocka_unit_test(test_instancenorm),
        cmocka_unit_test(test_lrn),       cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_softmax_family),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
