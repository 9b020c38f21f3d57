/* test_kernels_fp32.c — unit tests of the fp32 kernels: window arithmetic, im2col/col2im, every ISA variant of the packed GEMM, depthwise conv and pooling against the reference, sgemm blocks. */
#define _GNU_SOURCE
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#include "engine/op.h"
#include "ir/ir.h"
#include <cblas.h>

#include "kernels/fp32/f32_kernels.h"

#include "op_fixture.h"

/* ---- window arithmetic ---- */

static void test_window_dim(void **state) {
    (void)state;
    int64_t pb = 0, pe = 0, out = 0;
    /* SAME_UPPER: odd total pad goes to the end; SAME_LOWER: to the start */
    assert_int_equal(qp_f32_window_dim(7, 4, 2, 1, QP_F32_AUTO_PAD_SAME_UPPER, 0, &pb, &pe, &out), 0);
    assert_int_equal(out, 4);
    assert_int_equal(pb, 1);
    assert_int_equal(pe, 2);
    assert_int_equal(qp_f32_window_dim(7, 4, 2, 1, QP_F32_AUTO_PAD_SAME_LOWER, 0, &pb, &pe, &out), 0);
    assert_int_equal(pb, 2);
    assert_int_equal(pe, 1);
    assert_int_equal(qp_f32_window_dim(7, 3, 2, 2, QP_F32_AUTO_PAD_VALID, 0, &pb, &pe, &out), 0);
    assert_int_equal(out, 2); /* span 5: windows at 0 and 2 */
    /* ceil_mode: 112, k3, s2 -> 56; a window starting in the end padding is dropped */
    pb = pe = 0;
    assert_int_equal(qp_f32_window_dim(112, 3, 2, 1, QP_F32_AUTO_PAD_NOTSET, 1, &pb, &pe, &out), 0);
    assert_int_equal(out, 56);
    pb = 0, pe = 1;
    assert_int_equal(qp_f32_window_dim(5, 2, 2, 1, QP_F32_AUTO_PAD_NOTSET, 1, &pb, &pe, &out), 0);
    assert_int_equal(out, 3); /* (5+1-2)/2 = 2 exactly: ceil adds nothing */
    pb = pe = 0;
    assert_int_equal(qp_f32_window_dim(6, 3, 2, 1, QP_F32_AUTO_PAD_NOTSET, 1, &pb, &pe, &out), 0);
    assert_int_equal(out, 3); /* ceil(1.5) + 1 */
    pb = pe = 0;
    assert_int_equal(qp_f32_window_dim(6, 3, 2, 1, QP_F32_AUTO_PAD_NOTSET, 0, &pb, &pe, &out), 0);
    assert_int_equal(out, 2);
    pb = pe = 0;
    assert_int_equal(qp_f32_window_dim(2, 3, 1, 1, QP_F32_AUTO_PAD_NOTSET, 0, &pb, &pe, &out), -1);
    assert_int_equal(qp_f32_window_dim(4, 3, 0, 1, QP_F32_AUTO_PAD_NOTSET, 0, &pb, &pe, &out), -1);

    int64_t kb, ke;
    qp_f32_window_taps(0, 2, 1, 1, 3, 0, 10, &kb, &ke); /* input -1..1: tap 0 is in the pad */
    assert_int_equal(kb, 1);
    assert_int_equal(ke, 3);
    qp_f32_window_taps(4, 2, 1, 2, 3, 0, 10, &kb, &ke); /* input 7, 9, 11 */
    assert_int_equal(kb, 0);
    assert_int_equal(ke, 2);
    qp_f32_window_taps(0, 1, 5, 1, 3, 0, 10, &kb, &ke); /* entirely in the pad */
    assert_true(kb >= ke);
}

/* ---- im2col / col2im ---- */

static qp_f32_window make_window(int64_t ih, int64_t iw, int64_t kh, int64_t kw, int64_t s, int64_t d, int64_t p) {
    qp_f32_window w = {{1, ih, iw}, {1, 0, 0}, {1, kh, kw}, {1, s, s}, {1, d, d}, {0, p, p}, {0, p, p}};
    for (int i = 1; i < 3; i++) {
        int64_t pb = p, pe = p;
        assert_int_equal(qp_f32_window_dim(w.in[i], w.kernel[i], s, d, QP_F32_AUTO_PAD_NOTSET, 0, &pb, &pe, &w.out[i]),
                         0);
    }
    return w;
}

static void test_im2col(void **state) {
    (void)state;
    const int64_t shapes[][7] = {{7, 9, 3, 3, 1, 1, 1}, {8, 5, 3, 2, 2, 1, 2}, {9, 9, 2, 3, 3, 2, 1}, {5, 4, 1, 1, 1, 1, 0}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int64_t *s = shapes[t];
        qp_f32_window w = make_window(s[0], s[1], s[2], s[3], s[4], s[5], s[6]);
        const int64_t channels = 3, rows = qp_f32_im2col_rows_per_channel(&w), cols = qp_f32_im2col_cols(&w);
        const int64_t plane = s[0] * s[1];
        float *x = random_floats(channels * plane, (uint32_t)t), *col = random_floats(channels * rows * cols, 9);
        float *got = malloc(sizeof(float) * (size_t)(channels * rows * cols));
        /* two channel ranges, as two threads would */
        qp_f32_im2col(&w, 0, 1, x, got);
        qp_f32_im2col(&w, 1, channels, x, got);
        for (int64_t c = 0; c < channels; c++)
            for (int64_t kh = 0; kh < s[2]; kh++)
                for (int64_t kw = 0; kw < s[3]; kw++)
                    for (int64_t oh = 0; oh < w.out[1]; oh++)
                        for (int64_t ow = 0; ow < w.out[2]; ow++) {
                            int64_t ih = oh * s[4] - s[6] + kh * s[5], iw = ow * s[4] - s[6] + kw * s[5];
                            float want = ih >= 0 && ih < s[0] && iw >= 0 && iw < s[1] ? x[c * plane + ih * s[1] + iw]
                                                                                     : 0.0f;
                            int64_t r = (c * s[2] + kh) * s[3] + kw;
                            assert_true(got[r * cols + oh * w.out[2] + ow] == want);
                        }
        /* col2im is the adjoint: <im2col(x), col> == <x, col2im(col)> */
        float *back = calloc((size_t)(channels * plane), sizeof(float));
        qp_f32_col2im_add(&w, 0, channels, col, back);
        double lhs = 0.0, rhs = 0.0;
        for (int64_t i = 0; i < channels * rows * cols; i++) lhs += (double)got[i] * col[i];
        for (int64_t i = 0; i < channels * plane; i++) rhs += (double)x[i] * back[i];
        assert_true(fabs(lhs - rhs) <= 1e-4 * (fabs(lhs) + 1.0));
        free(x), free(col), free(got), free(back);
    }
}

/* ---- every runnable ISA variant against the reference ---- */

static void compare(const float *got, const float *ref, int64_t n, int exact) {
    double scale = 1e-30;
    for (int64_t i = 0; i < n; i++) scale = fabs(ref[i]) > scale ? fabs(ref[i]) : scale;
    for (int64_t i = 0; i < n; i++) {
        /* FMA contraction in the SIMD builds reorders nothing but rounds once per tap: a few ulps */
        double tol = exact ? 0.0 : 1e-6 * scale;
        if (!(fabs((double)got[i] - ref[i]) <= tol) && !(got[i] == ref[i])) {
            print_error("element %lld: %.9g vs reference %.9g\n", (long long)i, (double)got[i], (double)ref[i]);
            fail();
        }
    }
}

/* Relu/Clip's vector kernel: every variant equals Clip's scalar definition bit for bit (NaN, -0,
 * infinities, open bounds), out of place and in place, at lengths around the vector widths. */
static void test_clamp_variants(void **state) {
    (void)state;
    qp_f32_config configs[4];
    const int n_configs = qp_f32_runnable_configs(configs, 4);
    const float bounds[][2] = {{0.0f, INFINITY}, {0.0f, 6.0f}, {-INFINITY, 0.5f}, {-1.0f, -2.0f}, {-FLT_MAX, FLT_MAX}};
    const int64_t lengths[] = {0, 1, 7, 15, 16, 17, 33, 100};
    float in[100], want[100], got[100];
    for (int i = 0; i < 100; i++) in[i] = (float)((i * 37) % 23) - 11.0f + 0.25f * (float)(i % 3);
    in[2] = NAN, in[3] = -0.0f, in[4] = INFINITY, in[5] = -INFINITY, in[20] = 0.0f;
    for (int v = 0; v < n_configs; v++)
        for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++)
            for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
                const int64_t n = lengths[l];
                const float lo = bounds[b][0], hi = bounds[b][1];
                for (int64_t i = 0; i < n; i++) {
                    const float x = in[i] < lo ? lo : in[i];
                    want[i] = x > hi ? hi : x;
                }
                for (int i = 0; i < 100; i++) got[i] = 12345.0f;
                configs[v].clamp(in, got, n, lo, hi);
                assert_memory_equal(got, want, (size_t)n * sizeof(float));
                for (int64_t i = n; i < 100; i++) assert_true(got[i] == 12345.0f); /* nothing past n */
                memcpy(got, in, sizeof in);
                configs[v].clamp(got, got, n, lo, hi);
                assert_memory_equal(got, want, (size_t)n * sizeof(float));
            }
}

static void test_dwconv2d_variants(void **state) {
    (void)state;
    qp_f32_config configs[4];
    int n_configs = qp_f32_runnable_configs(configs, 4);
    assert_true(n_configs >= 1);
    assert_string_equal(configs[0].isa, "ref");
    print_message("dwconv2d variants tested: %d (chosen: %s)\n", n_configs, qp_f32_get_config()->isa);
    /* h, w, kh, kw, stride, dilation, pad_top, pad_left, pad_bottom, pad_right: large and small
     * (one-call-many-planes) stride-1 planes, narrow stride-2 outputs, odd sizes, 1x1 planes */
    const int64_t cases[][10] = {{112, 112, 3, 3, 1, 1, 1, 1, 1, 1}, {57, 33, 3, 3, 2, 1, 1, 1, 1, 1},
                                 {7, 7, 3, 3, 2, 1, 0, 1, 1, 0},      {2, 3, 3, 3, 1, 1, 1, 1, 1, 1},
                                 {31, 40, 5, 5, 2, 1, 2, 2, 2, 2},    {20, 20, 3, 3, 1, 2, 2, 2, 2, 2},
                                 {9, 50, 1, 7, 1, 1, 0, 3, 0, 3},     {16, 17, 3, 3, 3, 1, 1, 1, 1, 1},
                                 {7, 7, 3, 3, 1, 1, 1, 1, 1, 1},      {14, 14, 3, 3, 1, 1, 1, 1, 1, 1},
                                 {14, 14, 5, 5, 1, 1, 2, 2, 2, 2},    {1, 1, 3, 3, 1, 1, 1, 1, 1, 1},
                                 {14, 14, 3, 3, 2, 1, 1, 1, 1, 1},    {28, 28, 3, 3, 2, 1, 0, 0, 1, 1},
                                 {16, 16, 3, 3, 1, 2, 2, 2, 2, 2},    {9, 13, 3, 3, 2, 1, 1, 1, 1, 1},
                                 {13, 5, 3, 3, 1, 1, 1, 1, 1, 1},     {63, 63, 3, 3, 2, 1, 1, 1, 1, 1}};
    enum { PLANES = 3 };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int64_t *c = cases[t];
        qp_f32_window w = {{1, c[0], c[1]}, {1, 0, 0}, {1, c[2], c[3]}, {1, c[4], c[4]},
                           {1, c[5], c[5]}, {0, c[6], c[7]}, {0, c[8], c[9]}};
        for (int i = 1; i < 3; i++)
            assert_int_equal(qp_f32_window_dim(w.in[i], w.kernel[i], w.stride[i], w.dilation[i], QP_F32_AUTO_PAD_NOTSET,
                                               0, &w.pad_begin[i], &w.pad_end[i], &w.out[i]),
                             0);
        const int64_t in_n = c[0] * c[1], on = w.out[1] * w.out[2], taps = c[2] * c[3];
        float *x = random_floats(PLANES * in_n, (uint32_t)t + 100), *k = random_floats(PLANES * taps, (uint32_t)t + 200);
        const float biases[PLANES] = {0.25f, -0.5f, 0.125f};
        float *scratch = malloc(qp_f32_dwconv2d_scratch_size(&w));
        memset(scratch, 0x7f, qp_f32_dwconv2d_scratch_size(&w)); /* garbage: the kernel must not rely on it */
        float *ref = malloc(sizeof(float) * (size_t)(PLANES * on)), *got = malloc(sizeof(float) * (size_t)(PLANES * on));
        /* naive definition first, so the reference variant is itself checked; mag = sum |x||k| + |bias| */
        double *naive = malloc(sizeof(double) * (size_t)(PLANES * on)), *mag = malloc(sizeof(double) * (size_t)(PLANES * on));
        for (int64_t p = 0; p < PLANES; p++)
            for (int64_t oh = 0; oh < w.out[1]; oh++)
                for (int64_t ow = 0; ow < w.out[2]; ow++) {
                    double acc = biases[p], m = fabs(biases[p]);
                    for (int64_t a = 0; a < c[2]; a++)
                        for (int64_t b = 0; b < c[3]; b++) {
                            int64_t ih = oh * c[4] - c[6] + a * c[5], iw = ow * c[4] - c[7] + b * c[5];
                            if (ih >= 0 && ih < c[0] && iw >= 0 && iw < c[1]) {
                                double prod = (double)x[p * in_n + ih * c[1] + iw] * k[p * taps + a * c[3] + b];
                                acc += prod;
                                m += fabs(prod);
                            }
                        }
                    naive[p * on + oh * w.out[2] + ow] = acc;
                    mag[p * on + oh * w.out[2] + ow] = m;
                }
        /* reference: one plane per call */
        for (int64_t p = 0; p < PLANES; p++) {
            qp_f32_dwconv2d_args args = {.win = w, .input = x + p * in_n, .kernel = k + p * taps, .bias = biases[p],
                                         .scratch = scratch, .output = ref + p * on};
            configs[0].dwconv2d(&args);
        }
        assert_close(ref, naive, PLANES * on);
        for (int v = 0; v < n_configs; v++) {
            /* every variant, all planes in one call with per-plane biases */
            for (int64_t i = 0; i < PLANES * on; i++) got[i] = NAN;
            qp_f32_dwconv2d_args args = {.win = w, .input = x, .kernel = k, .scratch = scratch, .output = got,
                                         .planes = PLANES, .biases = biases};
            configs[v].dwconv2d(&args);
            /* taps + 1 roundings in any order, each within FLT_EPSILON / 2 of sum |x||k| + |bias|,
             * in the variant and in the reference */
            for (int64_t i = 0; i < PLANES * on; i++) {
                double tol = 2.0 * (double)(taps + 1) * (FLT_EPSILON / 2) * mag[i] + 1e-30;
                if (!(fabs((double)got[i] - ref[i]) <= tol)) {
                    print_error("%s case %zu element %lld: %.9g vs reference %.9g\n", configs[v].isa, t, (long long)i,
                                (double)got[i], (double)ref[i]);
                    fail();
                }
            }
            /* a fused Relu/Clip clamps the same floats: bit for bit what Clip does to the output */
            const float bounds[2][2] = {{0.0f, INFINITY}, {-0.125f, 0.25f}};
            for (int bi = 0; bi < 2; bi++) {
                float *clamped = malloc(sizeof(float) * (size_t)(PLANES * on));
                qp_f32_dwconv2d_args cargs = args;
                cargs.output = clamped;
                cargs.clamp = 1;
                cargs.lo = bounds[bi][0];
                cargs.hi = bounds[bi][1];
                configs[v].dwconv2d(&cargs);
                int n_clamped = 0;
                for (int64_t i = 0; i < PLANES * on; i++) {
                    float want = got[i] < cargs.lo ? cargs.lo : got[i];
                    want = want > cargs.hi ? cargs.hi : want;
                    n_clamped += want != got[i];
                    if (memcmp(&want, &clamped[i], sizeof want) != 0) {
                        print_error("%s case %zu clamp [%g, %g] element %lld: %.9g, want %.9g\n", configs[v].isa, t,
                                    (double)cargs.lo, (double)cargs.hi, (long long)i, (double)clamped[i], (double)want);
                        fail();
                    }
                }
                assert_true(n_clamped > 0 || PLANES * on < 4);
                free(clamped);
            }
        }
        free(x), free(k), free(scratch), free(ref), free(got), free(naive), free(mag);
    }
}

static void test_pool_variants(void **state) {
    (void)state;
    qp_f32_config configs[4];
    int n_configs = qp_f32_runnable_configs(configs, 4);
    /* h, w, kh, kw, stride, dilation, pad_begin, pad_end, ceil_mode */
    const int64_t cases[][9] = {{111, 111, 3, 3, 2, 1, 0, 0, 1}, {13, 14, 3, 3, 1, 1, 1, 1, 0},
                                {9, 9, 2, 2, 2, 1, 0, 0, 0},     {10, 12, 3, 2, 2, 2, 1, 1, 1},
                                {5, 5, 3, 3, 3, 1, 1, 1, 1}};
    const qp_f32_pool_kind kinds[4] = {QP_F32_POOL_MAX, QP_F32_POOL_AVG_EXCLUDE_PAD, QP_F32_POOL_AVG_INCLUDE_PAD,
                                       QP_F32_POOL_LP};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int64_t *c = cases[t];
        qp_f32_window w = {{1, c[0], c[1]}, {1, 0, 0}, {1, c[2], c[3]}, {1, c[4], c[4]},
                           {1, c[5], c[5]}, {0, c[6], c[6]}, {0, c[7], c[7]}};
        for (int i = 1; i < 3; i++)
            assert_int_equal(qp_f32_window_dim(w.in[i], w.kernel[i], w.stride[i], w.dilation[i], QP_F32_AUTO_PAD_NOTSET,
                                               (int)c[8], &w.pad_begin[i], &w.pad_end[i], &w.out[i]),
                             0);
        const int64_t on = w.out[1] * w.out[2];
        float *x = random_floats(c[0] * c[1], (uint32_t)t + 300);
        float *scratch = malloc(qp_f32_pool_scratch_size(&w));
        float *ref = malloc(sizeof(float) * (size_t)on), *got = malloc(sizeof(float) * (size_t)on);
        for (int kind = 0; kind < 4; kind++) {
            qp_f32_pool_args args = {.win = w, .kind = kinds[kind], .p = 2.0f, .input = x, .output = ref,
                                     .scratch = scratch};
            configs[0].pool(&args);
            if (kinds[kind] == QP_F32_POOL_MAX) {
                /* max is exact: compare with the definition */
                for (int64_t oh = 0; oh < w.out[1]; oh++)
                    for (int64_t ow = 0; ow < w.out[2]; ow++) {
                        float m = -INFINITY;
                        for (int64_t a = 0; a < c[2]; a++)
                            for (int64_t b = 0; b < c[3]; b++) {
                                int64_t ih = oh * c[4] - c[6] + a * c[5], iw = ow * c[4] - c[6] + b * c[5];
                                if (ih >= 0 && ih < c[0] && iw >= 0 && iw < c[1] && x[ih * c[1] + iw] > m)
                                    m = x[ih * c[1] + iw];
                            }
                        assert_true(ref[oh * w.out[2] + ow] == m);
                    }
            }
            for (int v = 1; v < n_configs; v++) {
                args.output = got;
                configs[v].pool(&args);
                compare(got, ref, on, kinds[kind] == QP_F32_POOL_MAX);
            }
        }
        free(x), free(scratch), free(ref), free(got);
    }
}

/* ---- qpipe's packed GEMM: every variant against exact sums ---- */

/* |computed - exact| for one output of k fused multiply-adds, a bias add and a clamp: each of the
 * k + 1 roundings errs by at most u = FLT_EPSILON / 2 of the running sum, which is bounded by
 * sum |a||b| + |bias|, so (k + 1) * u * (sum |a||b| + |bias|) bounds the error (the clamp is exact). */
static double gemm_bound(int64_t k, double abs_sum) {
    return (double)(k + 1) * (FLT_EPSILON / 2) * abs_sum + 1e-30;
}

/* C = clamp(A B + bias) in double, with sum |a||b| + |bias| for the bound. B is given as a
 * row-major k x n matrix. */
static void gemm_exact(int64_t m, int64_t n, int64_t k, const float *a, const float *b, const float *bias, float lo,
                       float hi, double *want, double *abs_sum) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = bias ? bias[i] : 0.0, mag = bias ? fabs(bias[i]) : 0.0;
            for (int64_t p = 0; p < k; p++) {
                acc += (double)a[i * k + p] * b[p * n + j];
                mag += fabs((double)a[i * k + p] * b[p * n + j]);
            }
            want[i * n + j] = acc < lo ? lo : acc > hi ? hi : acc;
            abs_sum[i * n + j] = mag;
        }
}

static void run_gemm(const qp_f32_gemm_kernel *kern, const qp_f32_gemm_nn_args *g, int n_slots) {
    void *scratch = aligned_alloc(64, qp_f32_gemm_nn_scratch_size(kern, g->k) * (size_t)n_slots);
    assert_non_null(scratch);
    /* slots in reverse: they must be independent */
    for (int s = n_slots - 1; s >= 0; s--)
        qp_f32_gemm_nn_slot(kern, g, s, n_slots, (char *)scratch + (size_t)s * qp_f32_gemm_nn_scratch_size(kern, g->k));
    free(scratch);
}

static void test_gemm_nn_variants(void **state) {
    (void)state;
    qp_f32_config configs[4];
    int n_configs = qp_f32_runnable_configs(configs, 4);
    print_message("gemm variants tested: %d (chosen: %s)\n", n_configs, qp_f32_get_config()->isa);
    /* m, n, k: tails in every dim (mr = 4/6/8, nr = 16/48, vectors of 8/16), one row, one column,
     * k = 1, and a large-channel 7x7 layer */
    const int64_t shapes[][3] = {{1, 1, 1},   {1, 17, 1},  {7, 49, 27},  {9, 50, 33}, {17, 97, 5},
                                 {33, 48, 64}, {8, 16, 1}, {3, 1000, 17}, {13, 33, 0}, {320, 49, 960}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int64_t m = shapes[t][0], n = shapes[t][1], k = shapes[t][2];
        float *a = random_floats(m * k, (uint32_t)t + 1), *b = random_floats(k * n, (uint32_t)t + 70);
        float *bias = random_floats(m, (uint32_t)t + 140);
        const int clamp = t % 2 == 1; /* Relu6-like clamp on every other shape */
        const float lo = clamp ? 0.0f : -INFINITY, hi = clamp ? 0.5f : INFINITY;
        double *want = malloc(sizeof(double) * (size_t)(m * n)), *mag = malloc(sizeof(double) * (size_t)(m * n));
        gemm_exact(m, n, k, a, b, t % 3 == 2 ? NULL : bias, lo, hi, want, mag);
        float *ref = malloc(sizeof(float) * (size_t)(m * n)), *got = malloc(sizeof(float) * (size_t)(m * n));
        for (int v = 0; v < n_configs; v++) {
            for (int n_slots = 1; n_slots <= 3; n_slots++) {
                float *out = v == 0 && n_slots == 1 ? ref : got;
                for (int64_t i = 0; i < m * n; i++) out[i] = NAN; /* every element must be written */
                qp_f32_gemm_nn_args g = {.m = m, .n = n, .k = k, .a = a, .lda = k, .b = b, .ldb = n, .c = out,
                                         .ldc = n, .bias = t % 3 == 2 ? NULL : bias, .lo = lo, .hi = hi};
                run_gemm(&configs[v].gemm, &g, n_slots);
                for (int64_t i = 0; i < m * n; i++)
                    if (!(fabs(out[i] - want[i]) <= gemm_bound(k, mag[i]))) {
                        print_error("%s m=%lld n=%lld k=%lld slots=%d element %lld: %.9g vs exact %.9g\n",
                                    configs[v].isa, (long long)m, (long long)n, (long long)k, n_slots, (long long)i,
                                    (double)out[i], want[i]);
                        fail();
                    }
                /* the same fma sequence in every variant and split: bit-identical to the reference */
                if (out != ref) assert_memory_equal(out, ref, sizeof(float) * (size_t)(m * n));
            }
        }
        free(a), free(b), free(bias), free(want), free(mag), free(ref), free(got);
    }
}

/* B read through a conv window (implicit im2col) equals B materialized by qp_f32_im2col. */
static void test_gemm_nn_window(void **state) {
    (void)state;
    qp_f32_config configs[4];
    int n_configs = qp_f32_runnable_configs(configs, 4);
    /* ih, iw, kh, kw, stride, dilation, pad, channels, out channels */
    const int64_t cases[][9] = {{7, 9, 3, 3, 1, 1, 1, 3, 5},  {8, 5, 3, 2, 2, 1, 2, 2, 9},   {9, 9, 2, 3, 3, 2, 1, 4, 8},
                                {5, 4, 1, 1, 1, 1, 0, 1, 1},  {224, 7, 3, 3, 2, 1, 1, 3, 17}, {3, 3, 3, 3, 1, 1, 2, 2, 3},
                                {13, 1, 3, 1, 1, 1, 1, 16, 7}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int64_t *c = cases[t];
        qp_f32_window w = make_window(c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
        const int64_t channels = c[7], m = c[8];
        const int64_t k = channels * qp_f32_im2col_rows_per_channel(&w), n = qp_f32_im2col_cols(&w);
        float *x = random_floats(channels * c[0] * c[1], (uint32_t)t + 400), *a = random_floats(m * k, (uint32_t)t + 500);
        float *col = malloc(sizeof(float) * (size_t)(k * n));
        qp_f32_im2col(&w, 0, channels, x, col);
        float *want = malloc(sizeof(float) * (size_t)(m * n)), *got = malloc(sizeof(float) * (size_t)(m * n));
        for (int v = 0; v < n_configs; v++) {
            qp_f32_gemm_nn_args g = {.m = m, .n = n, .k = k, .a = a, .lda = k, .b = col, .ldb = n, .c = want, .ldc = n,
                                     .lo = -INFINITY, .hi = INFINITY};
            run_gemm(&configs[v].gemm, &g, 1);
            g.b = x;
            g.win = &w;
            g.c = got;
            run_gemm(&configs[v].gemm, &g, 2);
            assert_memory_equal(got, want, sizeof(float) * (size_t)(m * n));
        }
        free(x), free(a), free(col), free(want), free(got);
    }
}

/* ---- sgemm blocks ---- */

static void test_gemm_blocks(void **state) {
    (void)state;
    openblas_set_num_threads(1);
    const int64_t shapes[][3] = {{48, 400, 64}, {200, 49, 30}, {5, 7, 3}, {33, 1000, 17}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int64_t m = shapes[t][0], n = shapes[t][1], k = shapes[t][2];
        float *a = random_floats(m * k, (uint32_t)t), *b = random_floats(k * n, (uint32_t)t + 50);
        float *whole = calloc((size_t)(m * n), sizeof(float)), *split = calloc((size_t)(m * n), sizeof(float));
        qp_f32_gemm_args g = {.m = m, .n = n, .k = k, .alpha = 1.0f, .a = a, .lda = k, .b = b, .ldb = n, .c = whole, .ldc = n};
        qp_f32_gemm_block(&g, 0, 1);
        int blocks = qp_f32_gemm_blocks(&g);
        assert_true(blocks >= 1);
        if (m * n >= 48 * 400) assert_true(blocks > 1);
        g.c = split;
        for (int i = blocks - 1; i >= 0; i--) qp_f32_gemm_block(&g, i, blocks);
        /* blocks cover C exactly once and agree with the whole product */
        double *want = malloc(sizeof(double) * (size_t)(m * n));
        for (int64_t i = 0; i < m * n; i++) want[i] = whole[i];
        assert_close(split, want, m * n);
        free(a), free(b), free(whole), free(split), free(want);
    }
}

/* A few rows of A (classifiers at batch 1-4): every small-M variant against a double product, with
 * B plain or transposed, alpha and beta, k past and below the 16 lanes; the column blocks a thread
 * split makes give the same bits as one call. */
static void test_gemm_small_m(void **state) {
    (void)state;
    qp_f32_config configs[4];
    const int n_configs = qp_f32_runnable_configs(configs, 4);
    const int64_t shapes[][3] = {{1, 1000, 1280}, {4, 300, 37}, {2, 5, 3}, {3, 600, 16}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++)
        for (int trans_b = 0; trans_b < 2; trans_b++) {
            const int64_t m = shapes[t][0], n = shapes[t][1], k = shapes[t][2];
            float *a = random_floats(m * k, (uint32_t)t + 70), *b = random_floats(k * n, (uint32_t)t + 80);
            float *c0 = random_floats(m * n, (uint32_t)t + 90);
            float *got = malloc(sizeof(float) * (size_t)(m * n)), *split = malloc(sizeof(float) * (size_t)(m * n));
            double *want = malloc(sizeof(double) * (size_t)(m * n));
            const float alpha = 0.75f, beta = t % 2 ? 0.5f : 0.0f;
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) {
                    double acc = 0;
                    for (int64_t p = 0; p < k; p++)
                        acc += (double)a[i * k + p] * (trans_b ? b[j * k + p] : b[p * n + j]);
                    want[i * n + j] = alpha * acc + beta * (double)c0[i * n + j];
                }
            qp_f32_gemm_args g = {.trans_b = trans_b, .m = m, .n = n, .k = k, .alpha = alpha, .a = a, .lda = k,
                                  .b = b, .ldb = trans_b ? k : n, .beta = beta, .ldc = n};
            for (int v = 0; v < n_configs; v++) {
                memcpy(got, c0, sizeof(float) * (size_t)(m * n));
                g.c = got;
                configs[v].gemm_small_m(&g, 0, n);
                for (int64_t i = 0; i < m * n; i++) {
                    const double tol = 1e-5 * (1.0 + fabs(want[i])) * sqrt((double)k);
                    if (!(fabs(got[i] - want[i]) <= tol)) {
                        print_error("%s shape %zu trans_b %d element %lld: %.9g want %.9g\n", configs[v].isa, t,
                                    trans_b, (long long)i, (double)got[i], want[i]);
                        fail();
                    }
                }
            }
            /* the engine's path: whole vs the blocks of a thread split, bit for bit */
            memcpy(got, c0, sizeof(float) * (size_t)(m * n));
            memcpy(split, c0, sizeof(float) * (size_t)(m * n));
            g.c = got;
            qp_f32_gemm_block(&g, 0, 1);
            g.c = split;
            const int blocks = qp_f32_gemm_blocks(&g);
            if (n >= 256) assert_true(blocks > 1);
            for (int i = 0; i < blocks; i++) qp_f32_gemm_block(&g, i, blocks);
            assert_memory_equal(got, split, sizeof(float) * (size_t)(m * n));
            free(a), free(b), free(c0), free(got), free(split), free(want);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_dim),        cmocka_unit_test(test_im2col),
        cmocka_unit_test(test_clamp_variants),
        cmocka_unit_test(test_dwconv2d_variants), cmocka_unit_test(test_pool_variants),
        cmocka_unit_test(test_gemm_blocks),       cmocka_unit_test(test_gemm_nn_variants),
        cmocka_unit_test(test_gemm_nn_window),    cmocka_unit_test(test_gemm_small_m),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
