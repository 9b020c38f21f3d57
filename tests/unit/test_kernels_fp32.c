/* test_kernels_fp32.c — unit tests of the fp32 kernels: window arithmetic, im2col/col2im, every ISA variant of depthwise conv and pooling against the reference, sgemm blocks. */
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

static void test_dwconv2d_variants(void **state) {
    (void)state;
    qp_f32_config configs[4];
    int n_configs = qp_f32_runnable_configs(configs, 4);
    assert_true(n_configs >= 1);
    assert_string_equal(configs[0].isa, "ref");
    print_message("dwconv2d variants tested: %d (chosen: %s)\n", n_configs, qp_f32_get_config()->isa);
    /* h, w, kh, kw, stride, dilation, pad_top, pad_left, pad_bottom, pad_right */
    const int64_t cases[][10] = {{112, 112, 3, 3, 1, 1, 1, 1, 1, 1}, {57, 33, 3, 3, 2, 1, 1, 1, 1, 1},
                                 {7, 7, 3, 3, 2, 1, 0, 1, 1, 0},      {2, 3, 3, 3, 1, 1, 1, 1, 1, 1},
                                 {31, 40, 5, 5, 2, 1, 2, 2, 2, 2},    {20, 20, 3, 3, 1, 2, 2, 2, 2, 2},
                                 {9, 50, 1, 7, 1, 1, 0, 3, 0, 3},     {16, 17, 3, 3, 3, 1, 1, 1, 1, 1}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int64_t *c = cases[t];
        qp_f32_window w = {{1, c[0], c[1]}, {1, 0, 0}, {1, c[2], c[3]}, {1, c[4], c[4]},
                           {1, c[5], c[5]}, {0, c[6], c[7]}, {0, c[8], c[9]}};
        for (int i = 1; i < 3; i++)
            assert_int_equal(qp_f32_window_dim(w.in[i], w.kernel[i], w.stride[i], w.dilation[i], QP_F32_AUTO_PAD_NOTSET,
                                               0, &w.pad_begin[i], &w.pad_end[i], &w.out[i]),
                             0);
        const int64_t on = w.out[1] * w.out[2];
        float *x = random_floats(c[0] * c[1], (uint32_t)t + 100), *k = random_floats(c[2] * c[3], (uint32_t)t + 200);
        float *scratch = malloc(qp_f32_dwconv2d_scratch_size(&w));
        memset(scratch, 0x7f, qp_f32_dwconv2d_scratch_size(&w)); /* garbage: the kernel must not rely on it */
        float *ref = malloc(sizeof(float) * (size_t)on), *got = malloc(sizeof(float) * (size_t)on);
        /* naive definition first, so the reference variant is itself checked */
        double *naive = malloc(sizeof(double) * (size_t)on);
        for (int64_t oh = 0; oh < w.out[1]; oh++)
            for (int64_t ow = 0; ow < w.out[2]; ow++) {
                double acc = 0.25;
                for (int64_t a = 0; a < c[2]; a++)
                    for (int64_t b = 0; b < c[3]; b++) {
                        int64_t ih = oh * c[4] - c[6] + a * c[5], iw = ow * c[4] - c[7] + b * c[5];
                        if (ih >= 0 && ih < c[0] && iw >= 0 && iw < c[1]) acc += (double)x[ih * c[1] + iw] * k[a * c[3] + b];
                    }
                naive[oh * w.out[2] + ow] = acc;
            }
        qp_f32_dwconv2d_args args = {.win = w, .input = x, .kernel = k, .bias = 0.25f, .scratch = scratch, .output = ref};
        configs[0].dwconv2d(&args);
        assert_close(ref, naive, on);
        for (int v = 1; v < n_configs; v++) {
            args.output = got;
            configs[v].dwconv2d(&args);
            compare(got, ref, on, 0);
        }
        free(x), free(k), free(scratch), free(ref), free(got), free(naive);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_dim),        cmocka_unit_test(test_im2col),
        cmocka_unit_test(test_dwconv2d_variants), cmocka_unit_test(test_pool_variants),
        cmocka_unit_test(test_gemm_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
