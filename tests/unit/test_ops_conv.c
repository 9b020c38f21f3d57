/* test_ops_conv.c — unit tests of Conv and ConvTranspose against naive ONNX-definition loops (all paths: 1x1, depthwise, im2col). */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#include "engine/op.h"
#include "ir/ir.h"
#include <cblas.h>

#include "op_fixture.h"

/* ---- naive references (double accumulation, ONNX definitions verbatim) ---- */

typedef struct conv_case {
    int n_spatial;
    int64_t batch, c_in, c_out, group;
    int64_t in[3], kernel[3], stride[3], dilation[3], pad_begin[3], pad_end[3];
    int with_bias;
} conv_case;

/* Promotes dims to 3 (leading 1s) so one loop nest covers 1-D, 2-D and 3-D. */
static void promote(const conv_case *c, int64_t *in, int64_t *k, int64_t *s, int64_t *d, int64_t *pb, int64_t *pe) {
    int lead = 3 - c->n_spatial;
    for (int i = 0; i < 3; i++) {
        int j = i - lead;
        in[i] = j >= 0 ? c->in[j] : 1;
        k[i] = j >= 0 ? c->kernel[j] : 1;
        s[i] = j >= 0 ? c->stride[j] : 1;
        d[i] = j >= 0 ? c->dilation[j] : 1;
        pb[i] = j >= 0 ? c->pad_begin[j] : 0;
        pe[i] = j >= 0 ? c->pad_end[j] : 0;
    }
}

static void conv_out_dims(const conv_case *c, int64_t *out3) {
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3];
    promote(c, in, k, s, d, pb, pe);
    for (int i = 0; i < 3; i++) out3[i] = (in[i] + pb[i] + pe[i] - ((k[i] - 1) * d[i] + 1)) / s[i] + 1;
}

static void ref_conv(const conv_case *c, const float *x, const float *w, const float *b, double *y) {
    int64_t in[3], k[3], s[3], d[3], pb[3], pe[3], out[3];
    promote(c, in, k, s, d, pb, pe);
    conv_out_dims(c, out);
    int64_t cin_g = c->c_in / c->group, cout_g = c->c_out / c->group;
    int64_t ivol = in[0] * in[1] * in[2], ovol = out[0] * out[1] * out[2], kvol = k[0] * k[1] * k[2];
    for (int64_t n = 0; n < c->batch; n++)
        for (int64_t m = 0; m < c->c_out; m++) {
            int64_t g = m / cout_g;
            for (int64_t o0 = 0; o0 < out[0]; o0++)
                for (int64_t o1 = 0; o1 < out[1]; o1++)
                    for (int64_t o2 = 0; o2 < out[2]; o2++) {
                        double acc = c->with_bias ? b[m] : 0.0;
                        for (int64_t ci = 0; ci < cin_g; ci++)
                            for (int64_t k0 = 0; k0 < k[0]; k0++)
                                for (int64_t k1 = 0; k1 < k[1]; k1++)
                                    for (int64_t k2 = 0; k2 < k[2]; k2++) {
                                        int64_t i0 = o0 * s[0] - pb[0] + k0 * d[0];
                                        int64_t i1 = o1 * s[1] - pb[1] + k1 * d[1];
                                        int64_t i2 = o2 * s[2] - pb[2] + k2 * d[2];
                                        if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 || i2 >= in[2])
                                            continue;
                                        double xv = x[(n * c->c_in + g * cin_g + ci) * ivol +
                                                      (i0 * in[1] + i1) * in[2] + i2];
                                        double wv = w[(m * cin_g + ci) * kvol + (k0 * k[1] + k1) * k[2] + k2];
                                        acc += xv * wv;
                                    }
                        y[(n * c->c_out + m) * ovol + (o0 * out[1] + o1) * out[2] + o2] = acc;
                    }
        }
}

/* Runs Conv on random data for case c (explicit pads) and compares with ref_conv, at 1, 2 and 3
 * threads; the thread counts must agree bit for bit. */
static void check_conv(const conv_case *c, uint32_t seed) {
    int ns = c->n_spatial;
    int64_t xdims[5] = {c->batch, c->c_in}, wdims[5] = {c->c_out, c->c_in / c->group}, bdims[1] = {c->c_out};
    int64_t xn = c->batch * c->c_in, wn = c->c_out * (c->c_in / c->group);
    for (int i = 0; i < ns; i++) {
        xdims[2 + i] = c->in[i];
        wdims[2 + i] = c->kernel[i];
        xn *= c->in[i];
        wn *= c->kernel[i];
    }
    float *x = random_floats(xn, seed), *w = random_floats(wn, seed + 1), *b = random_floats(c->c_out, seed + 2);
    int64_t out3[3];
    conv_out_dims(c, out3);
    int64_t yn = c->batch * c->c_out * out3[0] * out3[1] * out3[2];
    double *want = malloc(sizeof(double) * (size_t)yn);
    ref_conv(c, x, w, b, want);
    float *first = NULL;
    for (int threads = 1; threads <= 3; threads++) {
        op_fixture f;
        fx_init(&f, "Conv", c->with_bias ? 3 : 2, 1);
        fx_input(&f, 0, ns + 2, xdims, x);
        fx_input(&f, 1, ns + 2, wdims, w);
        if (c->with_bias) fx_input(&f, 2, 1, bdims, b);
        int64_t pads[6];
        for (int i = 0; i < ns; i++) {
            pads[i] = c->pad_begin[i];
            pads[i + ns] = c->pad_end[i];
        }
        fx_ints(&f, "pads", pads, 2 * ns);
        fx_ints(&f, "strides", c->stride, ns);
        fx_ints(&f, "dilations", c->dilation, ns);
        fx_int(&f, "group", c->group);
        assert_int_equal(fx_run(&f, threads), QP_OK);
        assert_int_equal(fx_out_numel(&f, 0), yn);
        for (int i = 0; i < ns; i++) assert_int_equal(f.out[0].shape.dims[2 + i], out3[3 - ns + i]);
        assert_close(fx_out(&f, 0), want, yn);
        if (!first) {
            first = malloc(sizeof(float) * (size_t)yn);
            memcpy(first, fx_out(&f, 0), sizeof(float) * (size_t)yn);
        } else {
            assert_memory_equal(first, fx_out(&f, 0), sizeof(float) * (size_t)yn);
        }
        fx_free(&f);
    }
    free(first);
    free(want);
    free(x);
    free(w);
    free(b);
}

static conv_case case_2d(int64_t n, int64_t ci, int64_t co, int64_t g, int64_t h, int64_t w, int64_t kh, int64_t kw,
                         int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                         int bias) {
    conv_case c = {.n_spatial = 2, .batch = n, .c_in = ci, .c_out = co, .group = g, .with_bias = bias};
    c.in[0] = h, c.in[1] = w, c.kernel[0] = kh, c.kernel[1] = kw, c.stride[0] = sh, c.stride[1] = sw;
    c.dilation[0] = dh, c.dilation[1] = dw, c.pad_begin[0] = pt, c.pad_begin[1] = pl, c.pad_end[0] = pb,
    c.pad_end[1] = pr;
    return c;
}

static void test_conv_im2col_2d(void **state) {
    (void)state;
    /* asymmetric pads, mixed strides and dilations, odd sizes, with and without bias */
    conv_case a = case_2d(2, 5, 7, 1, 9, 11, 3, 2, 2, 1, 1, 2, 1, 0, 2, 1, 1);
    check_conv(&a, 1);
    conv_case b = case_2d(1, 3, 4, 1, 7, 6, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 0);
    check_conv(&b, 2);
    conv_case c = case_2d(1, 3, 8, 1, 33, 37, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1); /* a stem-like conv */
    check_conv(&c, 3);
    conv_case d = case_2d(1, 2, 3, 1, 5, 5, 3, 3, 3, 3, 2, 2, 0, 0, 0, 0, 1); /* stride > kernel span gap */
    check_conv(&d, 4);
}

static void test_conv_groups(void **state) {
    (void)state;
    conv_case a = case_2d(2, 6, 9, 3, 8, 7, 3, 3, 1, 2, 1, 1, 1, 1, 0, 1, 1);
    check_conv(&a, 10);
    conv_case b = case_2d(1, 8, 4, 2, 5, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1); /* grouped 1x1 */
    check_conv(&b, 11);
}

static void test_conv_pointwise(void **state) {
    (void)state;
    conv_case a = case_2d(2, 5, 7, 1, 13, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1);
    check_conv(&a, 20);
    conv_case b = case_2d(1, 64, 48, 1, 20, 20, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0); /* big enough to split */
    check_conv(&b, 21);
    conv_case c = case_2d(1, 4, 6, 1, 9, 9, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1); /* 1x1 stride 2: im2col path */
    check_conv(&c, 22);
}

static void test_conv_depthwise(void **state) {
    (void)state;
    /* 3x3 fast path: stride 1 and 2, pads 0/1, odd and tiny planes */
    conv_case a = case_2d(2, 6, 6, 6, 9, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    check_conv(&a, 30);
    conv_case b = case_2d(1, 5, 5, 5, 14, 15, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1);
    check_conv(&b, 31);
    conv_case c = case_2d(1, 3, 3, 3, 3, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0);
    check_conv(&c, 32);
    conv_case d = case_2d(1, 4, 4, 4, 8, 8, 3, 3, 2, 1, 1, 1, 0, 2, 1, 0, 1); /* asymmetric pads */
    check_conv(&d, 33);
    conv_case e = case_2d(1, 4, 4, 4, 10, 10, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1); /* stride 3 */
    check_conv(&e, 38);
    /* generic kernel: 5x5 with dilation and stride, 3x1, and a channel multiplier of 2 */
    conv_case f = case_2d(2, 3, 3, 3, 17, 12, 5, 5, 2, 1, 2, 1, 4, 2, 3, 2, 1);
    check_conv(&f, 34);
    conv_case g = case_2d(1, 4, 4, 4, 6, 7, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0);
    check_conv(&g, 35);
    conv_case h = case_2d(1, 3, 6, 3, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    check_conv(&h, 36);
    conv_case i = case_2d(1, 4, 4, 4, 9, 9, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1); /* 3x3 dilated: generic */
    check_conv(&i, 37);
}

/* Shapes of the packed GEMM and depthwise kernels' edges: tiles of rows and column panels cut
 * mid-way, one output channel, large K, several images whose depthwise planes are split across
 * thread slots, small planes (one call for many planes) and narrow stride-2 outputs. */
static void test_conv_kernel_edges(void **state) {
    (void)state;
    conv_case a = case_2d(3, 17, 9, 1, 7, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1); /* 7x7 pointwise, batch 3 */
    check_conv(&a, 60);
    conv_case b = case_2d(1, 40, 1, 1, 11, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1); /* one channel out, K = 360 */
    check_conv(&b, 61);
    conv_case c = case_2d(2, 24, 24, 24, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1); /* small planes, two images */
    check_conv(&c, 62);
    conv_case d = case_2d(2, 10, 10, 10, 14, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1); /* 14x14 -> 7x7 */
    check_conv(&d, 63);
    conv_case e = case_2d(1, 6, 6, 6, 14, 14, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 0); /* 5x5 small plane */
    check_conv(&e, 64);
    conv_case f = case_2d(1, 3, 5, 1, 60, 61, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0, 1); /* stem, panels across rows */
    check_conv(&f, 65);
}

static void test_conv_1d_3d(void **state) {
    (void)state;
    conv_case a = {.n_spatial = 1, .batch = 2, .c_in = 3, .c_out = 4, .group = 1, .with_bias = 1};
    a.in[0] = 19, a.kernel[0] = 4, a.stride[0] = 2, a.dilation[0] = 2, a.pad_begin[0] = 3, a.pad_end[0] = 1;
    check_conv(&a, 40);
    conv_case dw = a;
    dw.c_in = dw.c_out = dw.group = 4;
    check_conv(&dw, 41);
    conv_case b = {.n_spatial = 3, .batch = 1, .c_in = 2, .c_out = 4, .group = 2, .with_bias = 1};
    for (int i = 0; i < 3; i++) {
        b.in[i] = 5 + i;
        b.kernel[i] = 3 - (i == 2);
        b.stride[i] = 1 + (i == 1);
        b.dilation[i] = 1 + (i == 0);
        b.pad_begin[i] = i;
        b.pad_end[i] = 1;
    }
    check_conv(&b, 42);
}

/* auto_pad: SAME_UPPER puts the odd pad at the end, SAME_LOWER at the start, VALID pads nothing. */
static void test_conv_auto_pad(void **state) {
    (void)state;
    const char *modes[3] = {"SAME_UPPER", "SAME_LOWER", "VALID"};
    for (int m = 0; m < 3; m++) {
        conv_case c = case_2d(1, 2, 3, 1, 7, 7, 4, 4, 2, 2, 1, 1, 0, 0, 0, 0, 1);
        if (m < 2) {
            /* out = ceil(7/2) = 4, total = (4-1)*2 + 4 - 7 = 3 */
            int64_t small = 1, big = 2;
            c.pad_begin[0] = c.pad_begin[1] = m == 0 ? small : big;
            c.pad_end[0] = c.pad_end[1] = m == 0 ? big : small;
        }
        int64_t xdims[4] = {1, 2, 7, 7}, wdims[4] = {3, 2, 4, 4}, bdims[1] = {3};
        float *x = random_floats(98, 50 + m), *w = random_floats(96, 60 + m), *b = random_floats(3, 70 + m);
        int64_t out3[3];
        conv_out_dims(&c, out3);
        double want[3 * 16];
        ref_conv(&c, x, w, b, want);
        op_fixture f;
        fx_init(&f, "Conv", 3, 1);
        fx_input(&f, 0, 4, xdims, x);
        fx_input(&f, 1, 4, wdims, w);
        fx_input(&f, 2, 1, bdims, b);
        fx_ints(&f, "strides", (int64_t[]){2, 2}, 2);
        fx_string(&f, "auto_pad", modes[m]);
        assert_int_equal(fx_run(&f, 1), QP_OK);
        assert_int_equal(f.out[0].shape.dims[2], m < 2 ? 4 : 2);
        assert_int_equal(f.out[0].shape.dims[2], out3[1]);
        assert_close(fx_out(&f, 0), want, fx_out_numel(&f, 0));
        fx_free(&f);
        free(x);
        free(w);
        free(b);
    }
}

static void test_conv_errors(void **state) {
    (void)state;
    float data[64] = {0};
    op_fixture f;
    /* W expects 3 input channels, X has 4 */
    fx_init(&f, "Conv", 2, 1);
    fx_input(&f, 0, 4, (int64_t[]){1, 4, 4, 4}, data);
    fx_input(&f, 1, 4, (int64_t[]){2, 3, 1, 1}, data);
    assert_int_equal(fx_run(&f, 1), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "n0"));
    fx_free(&f);
    /* kernel_shape disagreeing with W */
    fx_init(&f, "Conv", 2, 1);
    fx_input(&f, 0, 4, (int64_t[]){1, 1, 4, 4}, data);
    fx_input(&f, 1, 4, (int64_t[]){1, 1, 3, 3}, data);
    fx_ints(&f, "kernel_shape", (int64_t[]){2, 2}, 2);
    assert_int_equal(fx_run(&f, 1), QP_ERR_SHAPE);
    fx_free(&f);
    /* kernel larger than the padded input */
    fx_init(&f, "Conv", 2, 1);
    fx_input(&f, 0, 4, (int64_t[]){1, 1, 2, 2}, data);
    fx_input(&f, 1, 4, (int64_t[]){1, 1, 3, 3}, data);
    assert_int_equal(fx_run(&f, 1), QP_ERR_SHAPE);
    fx_free(&f);
    /* bad auto_pad and wrong-length strides are model errors */
    fx_init(&f, "Conv", 2, 1);
    fx_input(&f, 0, 4, (int64_t[]){1, 1, 4, 4}, data);
    fx_input(&f, 1, 4, (int64_t[]){1, 1, 3, 3}, data);
    fx_string(&f, "auto_pad", "SAME");
    assert_int_equal(fx_run(&f, 1), QP_ERR_INVALID_MODEL);
    assert_non_null(strstr(qp_error_message(), "SAME_UPPER"));
    fx_free(&f);
    fx_init(&f, "Conv", 2, 1);
    fx_input(&f, 0, 4, (int64_t[]){1, 1, 4, 4}, data);
    fx_input(&f, 1, 4, (int64_t[]){1, 1, 3, 3}, data);
    fx_ints(&f, "strides", (int64_t[]){1, 1, 1}, 3);
    assert_int_equal(fx_run(&f, 1), QP_ERR_INVALID_MODEL);
    fx_free(&f);
    /* bias of the wrong length */
    fx_init(&f, "Conv", 3, 1);
    fx_input(&f, 0, 4, (int64_t[]){1, 1, 4, 4}, data);
    fx_input(&f, 1, 4, (int64_t[]){2, 1, 3, 3}, data);
    fx_input(&f, 2, 1, (int64_t[]){3}, data);
    assert_int_equal(fx_run(&f, 1), QP_ERR_SHAPE);
    fx_free(&f);
    /* a non-float dtype is valid ONNX that qpipe does not implement */
    fx_init(&f, "Conv", 2, 1);
    fx_input(&f, 0, 4, (int64_t[]){1, 1, 4, 4}, data);
    fx_input(&f, 1, 4, (int64_t[]){1, 1, 3, 3}, data);
    f.in[0].dtype = QP_DT_DOUBLE;
    assert_int_equal(fx_run(&f, 1), QP_ERR_UNSUPPORTED);
    fx_free(&f);
    /* more than 3 spatial dims */
    fx_init(&f, "Conv", 2, 1);
    fx_input(&f, 0, 6, (int64_t[]){1, 1, 1, 1, 1, 1}, data);
    fx_input(&f, 1, 6, (int64_t[]){1, 1, 1, 1, 1, 1}, data);
    assert_int_equal(fx_run(&f, 1), QP_ERR_UNSUPPORTED);
    fx_free(&f);
}

/* ---- ConvTranspose ---- */

typedef struct convt_case {
    int n_spatial;
    int64_t batch, c_in, c_out, group;
    int64_t in[2], kernel[2], stride[2], dilation[2], pad_begin[2], pad_end[2], out_pad[2];
    int with_bias;
} convt_case;

static void convt_out_dims(const convt_case *c, int64_t *out) {
    for (int i = 0; i < c->n_spatial; i++)
        out[i] = c->stride[i] * (c->in[i] - 1) + c->out_pad[i] + (c->kernel[i] - 1) * c->dilation[i] + 1 -
                 c->pad_begin[i] - c->pad_end[i];
}

/* y[n, m, o] = b[m] + sum over x[n, c, i] * w[c, m', k] with o = i*stride - pad_begin + k*dilation. */
static void ref_convt(const convt_case *c, const float *x, const float *w, const float *b, double *y) {
    int64_t out[2] = {1, 1}, in[2] = {1, 1}, k[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1}, pb[2] = {0, 0};
    convt_out_dims(c, out + 2 - c->n_spatial);
    for (int i = 0; i < c->n_spatial; i++) {
        int j = i + 2 - c->n_spatial;
        in[j] = c->in[i], k[j] = c->kernel[i], s[j] = c->stride[i], d[j] = c->dilation[i], pb[j] = c->pad_begin[i];
    }
    if (c->n_spatial == 1) out[0] = 1;
    int64_t cin_g = c->c_in / c->group, cout_g = c->c_out / c->group, ovol = out[0] * out[1];
    for (int64_t n = 0; n < c->batch; n++)
        for (int64_t m = 0; m < c->c_out; m++)
            for (int64_t o = 0; o < ovol; o++) y[(n * c->c_out + m) * ovol + o] = c->with_bias ? b[m] : 0.0;
    for (int64_t n = 0; n < c->batch; n++)
        for (int64_t ch = 0; ch < c->c_in; ch++) {
            int64_t g = ch / cin_g;
            for (int64_t i0 = 0; i0 < in[0]; i0++)
                for (int64_t i1 = 0; i1 < in[1]; i1++)
                    for (int64_t ml = 0; ml < cout_g; ml++)
                        for (int64_t k0 = 0; k0 < k[0]; k0++)
                            for (int64_t k1 = 0; k1 < k[1]; k1++) {
                                int64_t o0 = i0 * s[0] - pb[0] + k0 * d[0], o1 = i1 * s[1] - pb[1] + k1 * d[1];
                                if (o0 < 0 || o0 >= out[0] || o1 < 0 || o1 >= out[1]) continue;
                                int64_t m = g * cout_g + ml;
                                y[(n * c->c_out + m) * ovol + o0 * out[1] + o1] +=
                                    (double)x[((n * c->c_in + ch) * in[0] + i0) * in[1] + i1] *
                                    w[((ch * cout_g + ml) * k[0] + k0) * k[1] + k1];
                            }
        }
}

static void check_convt(const convt_case *c, uint32_t seed) {
    int ns = c->n_spatial;
    int64_t xdims[4] = {c->batch, c->c_in}, wdims[4] = {c->c_in, c->c_out / c->group}, bdims[1] = {c->c_out};
    int64_t xn = c->batch * c->c_in, wn = c->c_in * (c->c_out / c->group), out[2], yn = c->batch * c->c_out;
    convt_out_dims(c, out);
    for (int i = 0; i < ns; i++) {
        xdims[2 + i] = c->in[i];
        wdims[2 + i] = c->kernel[i];
        xn *= c->in[i];
        wn *= c->kernel[i];
        yn *= out[i];
    }
    float *x = random_floats(xn, seed), *w = random_floats(wn, seed + 1), *b = random_floats(c->c_out, seed + 2);
    double *want = malloc(sizeof(double) * (size_t)yn);
    ref_convt(c, x, w, b, want);
    op_fixture f;
    fx_init(&f, "ConvTranspose", c->with_bias ? 3 : 2, 1);
    fx_input(&f, 0, ns + 2, xdims, x);
    fx_input(&f, 1, ns + 2, wdims, w);
    if (c->with_bias) fx_input(&f, 2, 1, bdims, b);
    int64_t pads[4];
    for (int i = 0; i < ns; i++) {
        pads[i] = c->pad_begin[i];
        pads[i + ns] = c->pad_end[i];
    }
    fx_ints(&f, "pads", pads, 2 * ns);
    fx_ints(&f, "strides", c->stride, ns);
    fx_ints(&f, "dilations", c->dilation, ns);
    fx_ints(&f, "output_padding", c->out_pad, ns);
    fx_int(&f, "group", c->group);
    assert_int_equal(fx_run(&f, 2), QP_OK);
    assert_int_equal(fx_out_numel(&f, 0), yn);
    for (int i = 0; i < ns; i++) assert_int_equal(f.out[0].shape.dims[2 + i], out[i]);
    assert_close(fx_out(&f, 0), want, yn);
    fx_free(&f);
    free(want);
    free(x);
    free(w);
    free(b);
}

static void test_convtranspose(void **state) {
    (void)state;
    convt_case a = {.n_spatial = 2, .batch = 2, .c_in = 3, .c_out = 4, .group = 1, .with_bias = 1};
    a.in[0] = 5, a.in[1] = 4, a.kernel[0] = 3, a.kernel[1] = 2, a.stride[0] = 2, a.stride[1] = 3;
    a.dilation[0] = 1, a.dilation[1] = 2, a.pad_begin[0] = 1, a.pad_begin[1] = 0, a.pad_end[0] = 2, a.pad_end[1] = 1;
    a.out_pad[0] = 1, a.out_pad[1] = 2;
    check_convt(&a, 80);
    convt_case g = a;
    g.c_in = 4, g.c_out = 6, g.group = 2, g.with_bias = 0;
    check_convt(&g, 81);
    convt_case one = {.n_spatial = 1, .batch = 1, .c_in = 2, .c_out = 3, .group = 1, .with_bias = 1};
    one.in[0] = 7, one.kernel[0] = 4, one.stride[0] = 3, one.dilation[0] = 1, one.pad_begin[0] = 2, one.pad_end[0] = 0;
    check_convt(&one, 82);
}

/* output_shape larger than the natural size appends zeros; SAME_UPPER keeps in*stride. */
static void test_convtranspose_output_shape(void **state) {
    (void)state;
    float x[9], w[9];
    for (int i = 0; i < 9; i++) x[i] = (float)i, w[i] = 1.0f;
    op_fixture f;
    fx_init(&f, "ConvTranspose", 2, 1);
    fx_input(&f, 0, 4, (int64_t[]){1, 1, 3, 3}, x);
    fx_input(&f, 1, 4, (int64_t[]){1, 1, 3, 3}, w);
    fx_ints(&f, "strides", (int64_t[]){3, 2}, 2);
    fx_ints(&f, "output_shape", (int64_t[]){10, 8}, 2);
    assert_int_equal(fx_run(&f, 1), QP_OK);
    assert_int_equal(f.out[0].shape.dims[2], 10);
    assert_int_equal(f.out[0].shape.dims[3], 8);
    const float *y = fx_out(&f, 0);
    assert_true(y[0] == 0.0f && y[2] == 1.0f && y[4] == 3.0f); /* row 0: x row 0 through a width-3 window */
    for (int c = 0; c < 8; c++) assert_true(y[9 * 8 + c] == 0.0f); /* the appended row */
    for (int r = 0; r < 10; r++) assert_true(y[r * 8 + 7] == 0.0f); /* the appended column */
    fx_free(&f);

    fx_init(&f, "ConvTranspose", 2, 1);
    fx_input(&f, 0, 4, (int64_t[]){1, 1, 3, 3}, x);
    fx_input(&f, 1, 4, (int64_t[]){1, 1, 3, 3}, w);
    fx_ints(&f, "strides", (int64_t[]){2, 2}, 2);
    fx_string(&f, "auto_pad", "SAME_UPPER");
    assert_int_equal(fx_run(&f, 1), QP_OK);
    assert_int_equal(f.out[0].shape.dims[2], 6);
    /* the ONNX backend test's first row: [0, 0, 1, 1, 3, 2] */
    const float row0[6] = {0, 0, 1, 1, 3, 2};
    assert_memory_equal(fx_out(&f, 0), row0, sizeof row0);
    fx_free(&f);
}

static void test_convtranspose_errors(void **state) {
    (void)state;
    float data[32] = {0};
    op_fixture f;
    fx_init(&f, "ConvTranspose", 2, 1);
    fx_input(&f, 0, 4, (int64_t[]){1, 2, 2, 2}, data);
    fx_input(&f, 1, 4, (int64_t[]){3, 1, 2, 2}, data); /* W's first dim must be C_in */
    assert_int_equal(fx_run(&f, 1), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "ConvTranspose"));
    fx_free(&f);
}

int main(void) {
    /* OpenBLAS single-threaded, as the engine should run it, so the tests exercise the sgemm
     * split across qpipe's own threads (with OpenBLAS threads the split is skipped) */
    openblas_set_num_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_im2col_2d),     cmocka_unit_test(test_conv_groups),
        cmocka_unit_test(test_conv_pointwise),     cmocka_unit_test(test_conv_depthwise),
        cmocka_unit_test(test_conv_kernel_edges), cmocka_unit_test(test_conv_1d_3d),         cmocka_unit_test(test_conv_auto_pad),
        cmocka_unit_test(test_conv_errors),        cmocka_unit_test(test_convtranspose),
        cmocka_unit_test(test_convtranspose_output_shape), cmocka_unit_test(test_convtranspose_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
