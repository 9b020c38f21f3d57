/* test_ops_gemm.c — unit tests of Gemm (transposes, alpha/beta, C broadcast) and MatMul (numpy batch broadcasting, 1-D operands). */
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

/* ---- Gemm ---- */

/* Y = alpha * op(A) * op(B) + beta * C with C broadcast from c_rows x c_cols (0 = no C). */
static void check_gemm(int64_t m, int64_t n, int64_t k, int ta, int tb, float alpha, float beta, int c_rank,
                       int64_t c_rows, int64_t c_cols, int threads, uint32_t seed) {
    float *a = random_floats(m * k, seed), *b = random_floats(k * n, seed + 1);
    float *c = random_floats(c_rows * c_cols > 0 ? c_rows * c_cols : 1, seed + 2);
    double *want = malloc(sizeof(double) * (size_t)(m * n));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double acc = 0.0;
            for (int64_t p = 0; p < k; p++) {
                double av = ta ? a[p * m + i] : a[i * k + p], bv = tb ? b[j * k + p] : b[p * n + j];
                acc += av * bv;
            }
            double cv = 0.0;
            if (c_rank > 0) cv = c[(c_rows == 1 ? 0 : i) * c_cols + (c_cols == 1 ? 0 : j)];
            want[i * n + j] = alpha * acc + beta * cv;
        }
    op_fixture f;
    fx_init(&f, "Gemm", c_rank > 0 ? 3 : 2, 1);
    fx_input(&f, 0, 2, ta ? (int64_t[]){k, m} : (int64_t[]){m, k}, a);
    fx_input(&f, 1, 2, tb ? (int64_t[]){n, k} : (int64_t[]){k, n}, b);
    if (c_rank == 2) fx_input(&f, 2, 2, (int64_t[]){c_rows, c_cols}, c);
    if (c_rank == 1) fx_input(&f, 2, 1, (int64_t[]){c_cols}, c);
    if (c_rank == 3) fx_input(&f, 2, 0, (int64_t[]){0}, c); /* scalar C */
    fx_int(&f, "transA", ta);
    fx_int(&f, "transB", tb);
    fx_float(&f, "alpha", alpha);
    fx_float(&f, "beta", beta);
    assert_int_equal(fx_run(&f, threads), QP_OK);
    assert_int_equal(f.out[0].shape.rank, 2);
    assert_int_equal(f.out[0].shape.dims[0], m);
    assert_int_equal(f.out[0].shape.dims[1], n);
    assert_close(fx_out(&f, 0), want, m * n);
    fx_free(&f);
    free(a);
    free(b);
    free(c);
    free(want);
}

static void test_gemm(void **state) {
    (void)state;
    check_gemm(3, 5, 4, 0, 0, 1.0f, 1.0f, 0, 0, 0, 1, 1);
    check_gemm(3, 5, 4, 1, 0, 0.5f, 2.0f, 2, 3, 5, 1, 2);  /* full C */
    check_gemm(3, 5, 4, 0, 1, 1.0f, 1.0f, 1, 1, 5, 1, 3);  /* row vector C */
    check_gemm(3, 5, 4, 1, 1, 2.0f, -1.0f, 2, 3, 1, 2, 4); /* column C */
    check_gemm(3, 5, 4, 0, 0, 1.0f, 0.5f, 3, 1, 1, 1, 5);  /* scalar C */
    check_gemm(1, 1000, 1280, 0, 1, 1.0f, 1.0f, 1, 1, 1000, 2, 6); /* a classifier head */
    check_gemm(70, 300, 33, 0, 0, 1.0f, 1.0f, 2, 1, 1, 2, 7);      /* split into blocks */
    check_gemm(4, 3, 0, 0, 0, 1.0f, 1.0f, 2, 4, 3, 1, 8);          /* K = 0: beta * C */
}

static void test_gemm_errors(void **state) {
    (void)state;
    float data[64] = {0};
    op_fixture f;
    fx_init(&f, "Gemm", 2, 1);
    fx_input(&f, 0, 2, (int64_t[]){3, 4}, data);
    fx_input(&f, 1, 2, (int64_t[]){5, 6}, data);
    assert_int_equal(fx_run(&f, 1), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "n0"));
    fx_free(&f);
    fx_init(&f, "Gemm", 3, 1);
    fx_input(&f, 0, 2, (int64_t[]){3, 4}, data);
    fx_input(&f, 1, 2, (int64_t[]){4, 6}, data);
    fx_input(&f, 2, 1, (int64_t[]){3}, data); /* C [3] does not broadcast to [3, 6] */
    assert_int_equal(fx_run(&f, 1), QP_ERR_SHAPE);
    fx_free(&f);
    fx_init(&f, "Gemm", 2, 1);
    fx_input(&f, 0, 3, (int64_t[]){1, 3, 4}, data);
    fx_input(&f, 1, 2, (int64_t[]){4, 6}, data);
    assert_int_equal(fx_run(&f, 1), QP_ERR_SHAPE);
    fx_free(&f);
    fx_init(&f, "Gemm", 2, 1);
    fx_input(&f, 0, 2, (int64_t[]){3, 4}, data);
    fx_input(&f, 1, 2, (int64_t[]){4, 6}, data);
    f.in[1].dtype = QP_DT_INT32;
    assert_int_equal(fx_run(&f, 1), QP_ERR_UNSUPPORTED);
    fx_free(&f);
}

/* ---- MatMul ---- */

/* numpy.matmul on shapes a, b (rank 1 allowed): checks the output shape and values. */
static void check_matmul(int ra, const int64_t *da, int rb, const int64_t *db, int rexp, const int64_t *dexp,
                         int threads, uint32_t seed) {
    int64_t na = 1, nb = 1, ny = 1;
    for (int i = 0; i < ra; i++) na *= da[i];
    for (int i = 0; i < rb; i++) nb *= db[i];
    for (int i = 0; i < rexp; i++) ny *= dexp[i];
    float *a = random_floats(na, seed), *b = random_floats(nb, seed + 1);
    /* reference: promote to matrices, broadcast batch dims by index arithmetic */
    int64_t m = ra == 1 ? 1 : da[ra - 2], k = da[ra - 1], n = rb == 1 ? 1 : db[rb - 1];
    int bra = ra > 2 ? ra - 2 : 0, brb = rb > 2 ? rb - 2 : 0, br = bra > brb ? bra : brb;
    int64_t batch[8], nbatch = 1;
    for (int i = 0; i < br; i++) {
        int ia = i - (br - bra), ib = i - (br - brb);
        int64_t x = ia >= 0 ? da[ia] : 1, y = ib >= 0 ? db[ib] : 1;
        batch[i] = x > y ? x : y;
        nbatch *= batch[i];
    }
    assert_int_equal(nbatch * m * n, ny);
    double *want = malloc(sizeof(double) * (size_t)ny);
    for (int64_t t = 0; t < nbatch; t++) {
        int64_t rem = t, oa = 0, ob = 0, sa = 1, sb = 1;
        for (int i = br - 1; i >= 0; i--) {
            int64_t idx = rem % batch[i];
            rem /= batch[i];
            int ia = i - (br - bra), ib = i - (br - brb);
            if (ia >= 0) {
                if (da[ia] != 1) oa += idx * sa;
                sa *= da[ia];
            }
            if (ib >= 0) {
                if (db[ib] != 1) ob += idx * sb;
                sb *= db[ib];
            }
        }
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0.0;
                for (int64_t p = 0; p < k; p++) acc += (double)a[oa * m * k + i * k + p] * b[ob * k * n + p * n + j];
                want[t * m * n + i * n + j] = acc;
            }
    }
    op_fixture f;
    fx_init(&f, "MatMul", 2, 1);
    fx_input(&f, 0, ra, da, a);
    fx_input(&f, 1, rb, db, b);
    assert_int_equal(fx_run(&f, threads), QP_OK);
    assert_int_equal(f.out[0].shape.rank, rexp);
    for (int i = 0; i < rexp; i++) assert_int_equal(f.out[0].shape.dims[i], dexp[i]);
    assert_close(fx_out(&f, 0), want, ny);
    fx_free(&f);
    free(a);
    free(b);
    free(want);
}

static void test_matmul(void **state) {
    (void)state;
    check_matmul(2, (int64_t[]){3, 4}, 2, (int64_t[]){4, 5}, 2, (int64_t[]){3, 5}, 1, 1);
    check_matmul(3, (int64_t[]){2, 3, 4}, 3, (int64_t[]){2, 4, 5}, 3, (int64_t[]){2, 3, 5}, 2, 2);
    /* batch broadcasting both ways, and a shared 2-D B folded into one product */
    check_matmul(4, (int64_t[]){2, 1, 3, 4}, 3, (int64_t[]){5, 4, 2}, 4, (int64_t[]){2, 5, 3, 2}, 1, 3);
    check_matmul(3, (int64_t[]){1, 3, 4}, 3, (int64_t[]){3, 4, 2}, 3, (int64_t[]){3, 3, 2}, 1, 4);
    check_matmul(4, (int64_t[]){2, 3, 70, 40}, 2, (int64_t[]){40, 300}, 4, (int64_t[]){2, 3, 70, 300}, 2, 5);
    /* 1-D operands: the promoted dim is dropped */
    check_matmul(1, (int64_t[]){4}, 2, (int64_t[]){4, 5}, 1, (int64_t[]){5}, 1, 6);
    check_matmul(3, (int64_t[]){2, 3, 4}, 1, (int64_t[]){4}, 2, (int64_t[]){2, 3}, 1, 7);
    check_matmul(1, (int64_t[]){4}, 1, (int64_t[]){4}, 0, (int64_t[]){0}, 1, 8);
    check_matmul(1, (int64_t[]){4}, 3, (int64_t[]){2, 4, 3}, 2, (int64_t[]){2, 3}, 1, 9);
}

static void test_matmul_errors(void **state) {
    (void)state;
    float data[64] = {0};
    op_fixture f;
    fx_init(&f, "MatMul", 2, 1);
    fx_input(&f, 0, 2, (int64_t[]){3, 4}, data);
    fx_input(&f, 1, 2, (int64_t[]){5, 6}, data);
    assert_int_equal(fx_run(&f, 1), QP_ERR_SHAPE);
    fx_free(&f);
    fx_init(&f, "MatMul", 2, 1);
    fx_input(&f, 0, 3, (int64_t[]){2, 3, 4}, data);
    fx_input(&f, 1, 3, (int64_t[]){3, 4, 2}, data); /* batch 2 vs 3 */
    assert_int_equal(fx_run(&f, 1), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "MatMul"));
    fx_free(&f);
}

int main(void) {
    /* see test_ops_conv.c: exercise qpipe's own split of sgemm */
    openblas_set_num_threads(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_gemm_errors),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_matmul_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
