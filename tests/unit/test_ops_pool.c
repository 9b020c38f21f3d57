/* test_ops_pool.c — unit tests of MaxPool, AveragePool, LpPool and the global pools against naive ONNX-definition loops. */
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

/* ---- naive reference: every tap of every window, ONNX definitions verbatim ---- */

enum { P_MAX, P_AVG, P_AVG_PAD, P_LP };

typedef struct pool_case {
    int n_spatial, kind, ceil_mode;
    int64_t batch, channels, p;
    int64_t in[3], kernel[3], stride[3], dilation[3], pad_begin[3], pad_end[3];
} pool_case;

static void pool_promote(const pool_case *c, int64_t *in, int64_t *k, int64_t *s, int64_t *d, int64_t *pb,
                         int64_t *pe, int64_t *out) {
    int lead = 3 - c->n_spatial;
    for (int i = 0; i < 3; i++) {
        int j = i - lead;
        in[i] = j >= 0 ? c->in[j] : 1;
        k[i] = j >= 0 ? c->kernel[j] : 1;
        s[i] = j >= 0 ? c->stride[j] : 1;
        d[i] = j >= 0 ? c->dilation[j] : 1;
        pb[i] = j >= 0 ? c->pad_begin[j] : 0;
        pe[i] = j >= 0 ? c->pad_end[j] : 0;
        int64_t span = (k[i] - 1) * d[i] + 1, padded = in[i] + pb[i] + pe[i] - span;
        out[i] = (c->ceil_mode ? (padded + s[i] - 1) / s[i] : padded / s[i]) + 1;
        if (c->ceil_mode && (out[i] - 1) * s[i] >= in[i] + pb[i]) out[i]--;
    }
}

static void ref_pool(const pool_case *c, const float *x, double *y, int64_t *arg) {
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
    pool_promote(c, in, k, s, d, pb, pe, out);
    int64_t ivol = in[0] * in[1] * in[2], ovol = out[0] * out[1] * out[2];
    for (int64_t pl = 0; pl < c->batch * c->channels; pl++)
        for (int64_t o0 = 0; o0 < out[0]; o0++)
            for (int64_t o1 = 0; o1 < out[1]; o1++)
                for (int64_t o2 = 0; o2 < out[2]; o2++) {
                    double acc = c->kind == P_MAX ? -INFINITY : 0.0;
                    int64_t valid = 0, padded = 0, best = -1;
                    for (int64_t k0 = 0; k0 < k[0]; k0++)
                        for (int64_t k1 = 0; k1 < k[1]; k1++)
                            for (int64_t k2 = 0; k2 < k[2]; k2++) {
                                int64_t i[3] = {o0 * s[0] - pb[0] + k0 * d[0], o1 * s[1] - pb[1] + k1 * d[1],
                                                o2 * s[2] - pb[2] + k2 * d[2]};
                                int inside = 1, inside_pad = 1;
                                for (int q = 0; q < 3; q++) {
                                    inside &= i[q] >= 0 && i[q] < in[q];
                                    inside_pad &= i[q] >= -pb[q] && i[q] < in[q] + pe[q];
                                }
                                padded += inside_pad;
                                if (!inside) continue;
                                valid++;
                                int64_t idx = (i[0] * in[1] + i[1]) * in[2] + i[2];
                                double v = x[pl * ivol + idx];
                                if (c->kind == P_MAX) {
                                    if (v > acc) acc = v, best = idx;
                                } else if (c->kind == P_LP) {
                                    acc += pow(fabs(v), (double)c->p);
                                } else {
                                    acc += v;
                                }
                            }
                    if (c->kind == P_AVG) acc /= (double)valid;
                    if (c->kind == P_AVG_PAD) acc /= (double)padded;
                    if (c->kind == P_LP) acc = pow(acc, 1.0 / (double)c->p);
                    int64_t o = pl * ovol + (o0 * out[1] + o1) * out[2] + o2;
                    y[o] = acc;
                    if (arg) arg[o] = pl * ivol + best;
                }
}

static const char *const POOL_OPS[] = {"MaxPool", "AveragePool", "AveragePool", "LpPool"};

static void check_pool(const pool_case *c, int threads, uint32_t seed) {
    int ns = c->n_spatial;
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
    pool_promote(c, in, k, s, d, pb, pe, out);
    int64_t xn = c->batch * c->channels * in[0] * in[1] * in[2], yn = c->batch * c->channels * out[0] * out[1] * out[2];
    int64_t xdims[5] = {c->batch, c->channels};
    for (int i = 0; i < ns; i++) xdims[2 + i] = c->in[i];
    float *x = random_floats(xn, seed);
    double *want = malloc(sizeof(double) * (size_t)yn);
    ref_pool(c, x, want, NULL);
    op_fixture f;
    fx_init(&f, POOL_OPS[c->kind], 1, 1);
    fx_input(&f, 0, ns + 2, xdims, x);
    int64_t pads[6];
    for (int i = 0; i < ns; i++) pads[i] = c->pad_begin[i], pads[i + ns] = c->pad_end[i];
    fx_ints(&f, "kernel_shape", c->kernel, ns);
    fx_ints(&f, "strides", c->stride, ns);
    fx_ints(&f, "pads", pads, 2 * ns);
    if (c->kind != P_LP) fx_int(&f, "ceil_mode", c->ceil_mode);
    if (c->kind != P_LP) fx_ints(&f, "dilations", c->dilation, ns);
    if (c->kind == P_AVG_PAD) fx_int(&f, "count_include_pad", 1);
    if (c->kind == P_LP) fx_int(&f, "p", c->p);
    assert_int_equal(fx_run(&f, threads), QP_OK);
    assert_int_equal(fx_out_numel(&f, 0), yn);
    for (int i = 0; i < ns; i++) assert_int_equal(f.out[0].shape.dims[2 + i], out[3 - ns + i]);
    assert_close(fx_out(&f, 0), want, yn);
    fx_free(&f);
    free(x);
    free(want);
}

static pool_case pool_2d(int kind, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt,
                         int64_t pl, int64_t pb, int64_t pr, int ceil_mode) {
    pool_case c = {.n_spatial = 2, .kind = kind, .ceil_mode = ceil_mode, .batch = 2, .channels = 3, .p = 2};
    c.in[0] = h, c.in[1] = w, c.kernel[0] = kh, c.kernel[1] = kw, c.stride[0] = sh, c.stride[1] = sw;
    c.dilation[0] = c.dilation[1] = 1;
    c.pad_begin[0] = pt, c.pad_begin[1] = pl, c.pad_end[0] = pb, c.pad_end[1] = pr;
    return c;
}

static void test_maxpool(void **state) {
    (void)state;
    pool_case a = pool_2d(P_MAX, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, 0); /* the 3x3 fast path */
    check_pool(&a, 1, 1);
    pool_case b = pool_2d(P_MAX, 112, 112, 3, 3, 2, 2, 0, 0, 0, 0, 1); /* SqueezeNet's ceil_mode pool */
    check_pool(&b, 2, 2);
    pool_case c = pool_2d(P_MAX, 8, 7, 3, 3, 1, 1, 1, 0, 2, 1, 0); /* 3x3 stride 1, asymmetric pads */
    check_pool(&c, 1, 3);
    pool_case d = pool_2d(P_MAX, 10, 9, 2, 3, 2, 3, 1, 0, 0, 2, 1); /* generic kernel, ceil_mode */
    check_pool(&d, 2, 4);
    pool_case e = pool_2d(P_MAX, 9, 9, 3, 2, 1, 2, 0, 0, 0, 0, 0);
    e.dilation[0] = 2, e.dilation[1] = 3; /* dilations */
    check_pool(&e, 1, 5);
    pool_case g = pool_2d(P_MAX, 4, 4, 3, 3, 3, 3, 0, 0, 0, 0, 1); /* stride 3 fast path with ceil */
    check_pool(&g, 1, 6);
}

static void test_averagepool(void **state) {
    (void)state;
    pool_case a = pool_2d(P_AVG, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, 0);
    check_pool(&a, 1, 10);
    pool_case b = pool_2d(P_AVG_PAD, 9, 11, 3, 3, 2, 2, 1, 1, 1, 1, 0);
    check_pool(&b, 2, 11);
    pool_case c = pool_2d(P_AVG, 4, 4, 3, 3, 2, 2, 0, 0, 0, 0, 1); /* the ONNX ceil test's shape */
    check_pool(&c, 1, 12);
    pool_case d = pool_2d(P_AVG_PAD, 7, 6, 3, 2, 2, 2, 1, 1, 2, 1, 1); /* ceil window past the pads */
    check_pool(&d, 1, 13);
    pool_case e = pool_2d(P_AVG, 13, 13, 13, 13, 1, 1, 0, 0, 0, 0, 0); /* a global window */
    check_pool(&e, 1, 14);
}

static void test_pool_1d_3d_lp(void **state) {
    (void)state;
    pool_case a = {.n_spatial = 1, .kind = P_MAX, .batch = 1, .channels = 2, .p = 2};
    a.in[0] = 17, a.kernel[0] = 4, a.stride[0] = 3, a.dilation[0] = 1, a.pad_begin[0] = 2, a.pad_end[0] = 1;
    check_pool(&a, 1, 20);
    a.kind = P_AVG;
    check_pool(&a, 1, 21);
    pool_case b = {.n_spatial = 3, .kind = P_AVG_PAD, .batch = 1, .channels = 2, .p = 2};
    for (int i = 0; i < 3; i++)
        b.in[i] = 5 + i, b.kernel[i] = 2 + (i == 1), b.stride[i] = 2, b.dilation[i] = 1, b.pad_begin[i] = 1,
        b.pad_end[i] = i == 2;
    check_pool(&b, 2, 22);
    b.kind = P_MAX;
    check_pool(&b, 2, 23);
    pool_case c = pool_2d(P_LP, 8, 9, 3, 2, 2, 1, 1, 0, 1, 1, 0);
    check_pool(&c, 1, 24);
    c.p = 3;
    check_pool(&c, 1, 25);
    c.p = 1;
    check_pool(&c, 1, 26);
}

static void test_pool_auto_pad(void **state) {
    (void)state;
    /* in 7, kernel 4, stride 2: out 4, total pad 3 -> SAME_UPPER (1, 2), SAME_LOWER (2, 1); VALID: out 2 */
    const char *modes[3] = {"SAME_UPPER", "SAME_LOWER", "VALID"};
    for (int m = 0; m < 3; m++) {
        pool_case c = pool_2d(P_AVG, 7, 7, 4, 4, 2, 2, 0, 0, 0, 0, 0);
        if (m < 2) {
            c.pad_begin[0] = c.pad_begin[1] = m == 0 ? 1 : 2;
            c.pad_end[0] = c.pad_end[1] = m == 0 ? 2 : 1;
        }
        int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
        pool_promote(&c, in, k, s, d, pb, pe, out);
        float *x = random_floats(2 * 3 * 49, 30 + m);
        double *want = malloc(sizeof(double) * 2 * 3 * 16);
        ref_pool(&c, x, want, NULL);
        op_fixture f;
        fx_init(&f, "AveragePool", 1, 1);
        fx_input(&f, 0, 4, (int64_t[]){2, 3, 7, 7}, x);
        fx_ints(&f, "kernel_shape", (int64_t[]){4, 4}, 2);
        fx_ints(&f, "strides", (int64_t[]){2, 2}, 2);
        fx_string(&f, "auto_pad", modes[m]);
        assert_int_equal(fx_run(&f, 1), QP_OK);
        assert_int_equal(f.out[0].shape.dims[2], m < 2 ? 4 : 2);
        assert_int_equal(f.out[0].shape.dims[3], out[2]);
        assert_close(fx_out(&f, 0), want, fx_out_numel(&f, 0));
        fx_free(&f);
        free(x);
        free(want);
    }
}

/* MaxPool's Indices output: flat index of the first maximum, row-major or (storage_order=1) column-major. */
static void test_maxpool_indices(void **state) {
    (void)state;
    pool_case c = pool_2d(P_MAX, 6, 5, 3, 2, 2, 1, 1, 0, 1, 1, 0);
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
    pool_promote(&c, in, k, s, d, pb, pe, out);
    int64_t xn = 2 * 3 * 30, yn = 2 * 3 * out[1] * out[2];
    float *x = random_floats(xn, 40);
    double *want = malloc(sizeof(double) * (size_t)yn);
    int64_t *arg = malloc(sizeof(int64_t) * (size_t)yn);
    ref_pool(&c, x, want, arg);
    for (int order = 0; order < 2; order++) {
        op_fixture f;
        fx_init(&f, "MaxPool", 1, 2);
        fx_input(&f, 0, 4, (int64_t[]){2, 3, 6, 5}, x);
        fx_ints(&f, "kernel_shape", (int64_t[]){3, 2}, 2);
        fx_ints(&f, "strides", (int64_t[]){2, 1}, 2);
        fx_ints(&f, "pads", (int64_t[]){1, 0, 1, 1}, 4);
        fx_int(&f, "storage_order", order);
        assert_int_equal(fx_run(&f, 1), QP_OK);
        assert_int_equal(f.out[1].dtype, QP_DT_INT64);
        assert_close(fx_out(&f, 0), want, yn);
        const int64_t *got = f.out[1].data;
        for (int64_t i = 0; i < yn; i++) {
            int64_t plane = arg[i] / 30, local = arg[i] % 30, h = local / 5, w = local % 5;
            int64_t expect = order == 0 ? arg[i] : plane * 30 + h + w * 6;
            assert_int_equal(got[i], expect);
        }
        fx_free(&f);
    }
    free(x);
    free(want);
    free(arg);
}

static void test_global_pool(void **state) {
    (void)state;
    for (int is_max = 0; is_max < 2; is_max++) {
        int64_t dims[5] = {2, 3, 5, 7, 3};
        float *x = random_floats(2 * 3 * 105, 50 + is_max);
        double want[6];
        for (int p = 0; p < 6; p++) {
            double acc = is_max ? -INFINITY : 0.0;
            for (int i = 0; i < 105; i++) acc = is_max ? fmax(acc, x[p * 105 + i]) : acc + x[p * 105 + i];
            want[p] = is_max ? acc : acc / 105.0;
        }
        op_fixture f;
        fx_init(&f, is_max ? "GlobalMaxPool" : "GlobalAveragePool", 1, 1);
        fx_input(&f, 0, 5, dims, x);
        assert_int_equal(fx_run(&f, 2), QP_OK);
        assert_int_equal(f.out[0].shape.rank, 5);
        for (int i = 2; i < 5; i++) assert_int_equal(f.out[0].shape.dims[i], 1);
        assert_close(fx_out(&f, 0), want, 6);
        fx_free(&f);
        free(x);
    }
}

static void test_pool_errors(void **state) {
    (void)state;
    float data[64] = {0};
    op_fixture f;
    fx_init(&f, "MaxPool", 1, 1); /* kernel_shape is required */
    fx_input(&f, 0, 4, (int64_t[]){1, 1, 4, 4}, data);
    assert_int_equal(fx_run(&f, 1), QP_ERR_INVALID_MODEL);
    assert_non_null(strstr(qp_error_message(), "kernel_shape"));
    fx_free(&f);
    fx_init(&f, "AveragePool", 1, 1); /* pads as large as the window */
    fx_input(&f, 0, 4, (int64_t[]){1, 1, 4, 4}, data);
    fx_ints(&f, "kernel_shape", (int64_t[]){2, 2}, 2);
    fx_ints(&f, "pads", (int64_t[]){2, 0, 0, 0}, 4);
    assert_int_equal(fx_run(&f, 1), QP_ERR_INVALID_MODEL);
    fx_free(&f);
    fx_init(&f, "MaxPool", 1, 1); /* window larger than the input */
    fx_input(&f, 0, 4, (int64_t[]){1, 1, 2, 2}, data);
    fx_ints(&f, "kernel_shape", (int64_t[]){3, 3}, 2);
    assert_int_equal(fx_run(&f, 1), QP_ERR_SHAPE);
    fx_free(&f);
    fx_init(&f, "MaxPool", 1, 1); /* uint8 MaxPool is valid ONNX, not implemented */
    fx_input(&f, 0, 4, (int64_t[]){1, 1, 4, 4}, data);
    f.in[0].dtype = QP_DT_UINT8;
    fx_ints(&f, "kernel_shape", (int64_t[]){2, 2}, 2);
    assert_int_equal(fx_run(&f, 1), QP_ERR_UNSUPPORTED);
    fx_free(&f);
    fx_init(&f, "GlobalAveragePool", 1, 1);
    fx_input(&f, 0, 2, (int64_t[]){1, 4}, data);
    assert_int_equal(fx_run(&f, 1), QP_ERR_SHAPE);
    fx_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool),        cmocka_unit_test(test_averagepool),
        cmocka_unit_test(test_pool_1d_3d_lp),  cmocka_unit_test(test_pool_auto_pad),
        cmocka_unit_test(test_maxpool_indices), cmocka_unit_test(test_global_pool),
        cmocka_unit_test(test_pool_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
