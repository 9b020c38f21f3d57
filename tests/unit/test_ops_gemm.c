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

/* ---- op fixture: one node on a scratch graph, run through its qp_op_def like the engine does ---- */

typedef struct op_fixture {
    qp_graph *graph;
    int node;
    int n_in, n_out;
    qp_value in[6];
    const qp_value *in_ptrs[6];
    qp_value out[3];
    qp_value *out_ptrs[3];
    qp_op_context ctx;
    const qp_op_def *op;
    void *state;
} op_fixture;

static __attribute__((unused)) void fx_init(op_fixture *f, const char *op_type, int n_in, int n_out) {
    memset(f, 0, sizeof *f);
    f->graph = qp_graph_new();
    assert_non_null(f->graph);
    int ins[6], outs[3];
    for (int i = 0; i < n_in; i++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        ins[i] = qp_graph_get_or_add_tensor(f->graph, name);
    }
    for (int i = 0; i < n_out; i++) {
        char name[16];
        snprintf(name, sizeof name, "out%d", i);
        outs[i] = qp_graph_get_or_add_tensor(f->graph, name);
    }
    f->node = qp_graph_add_node(f->graph, "n0", op_type, "", ins, n_in, outs, n_out);
    assert_true(f->node >= 0);
    f->n_in = n_in;
    f->n_out = n_out;
    for (int i = 0; i < n_out; i++) f->out_ptrs[i] = &f->out[i];
    f->op = qp_op_find("", op_type);
    assert_non_null(f->op);
}

static qp_node *fx_node(op_fixture *f) {
    return &f->graph->nodes[f->node];
}

/* Input i: a float tensor of the given dims; data copied (NULL: input omitted). */
static __attribute__((unused)) void fx_input(op_fixture *f, int i, int rank, const int64_t *dims, const float *data) {
    if (!data) {
        f->in_ptrs[i] = NULL;
        return;
    }
    qp_shape s = {.rank = rank};
    for (int d = 0; d < rank; d++) s.dims[d] = dims[d];
    qp_value_set(&f->in[i], QP_DT_FLOAT, &s);
    f->in[i].data = malloc(f->in[i].nbytes ? f->in[i].nbytes : 1);
    assert_non_null(f->in[i].data);
    memcpy(f->in[i].data, data, f->in[i].nbytes);
    f->in_ptrs[i] = &f->in[i];
}

static __attribute__((unused)) void fx_ints(op_fixture *f, const char *name, const int64_t *v, int n) {
    qp_attr *a = qp_node_add_attr(fx_node(f), name, QP_ATTR_INTS);
    assert_non_null(a);
    a->ints = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
    a->n = n;
}

static __attribute__((unused)) void fx_int(op_fixture *f, const char *name, int64_t v) {
    qp_attr *a = qp_node_add_attr(fx_node(f), name, QP_ATTR_INT);
    assert_non_null(a);
    a->i = v;
}

static __attribute__((unused)) void fx_float(op_fixture *f, const char *name, float v) {
    qp_attr *a = qp_node_add_attr(fx_node(f), name, QP_ATTR_FLOAT);
    assert_non_null(a);
    a->f = v;
}

static __attribute__((unused)) void fx_string(op_fixture *f, const char *name, const char *v) {
    qp_attr *a = qp_node_add_attr(fx_node(f), name, QP_ATTR_STRING);
    assert_non_null(a);
    a->s = strdup(v);
    a->s_len = strlen(v);
}

/* Runs infer, allocates outputs, prepares and runs, as the engine does for run-time inputs. */
static __attribute__((unused)) qp_status fx_run_opset(op_fixture *f, int n_threads, int64_t opset) {
    f->ctx = (qp_op_context){.node = fx_node(f), .opset = opset, .inputs = f->in_ptrs, .n_inputs = f->n_in,
                             .outputs = f->out_ptrs, .n_outputs = f->n_out, .n_threads = n_threads};
    /* run-time inputs have no data before run: hide it so infer/prepare cannot depend on it */
    void *saved[6];
    for (int i = 0; i < f->n_in; i++) {
        saved[i] = f->in[i].data;
        f->in[i].data = NULL;
    }
    qp_status st = f->op->infer(&f->ctx);
    if (st == QP_OK) {
        for (int i = 0; i < f->n_out; i++) {
            free(f->out[i].data);
            f->out[i].data = calloc(1, f->out[i].nbytes ? f->out[i].nbytes : 1);
            assert_non_null(f->out[i].data);
        }
    }
    size_t scratch = 0;
    if (st == QP_OK && f->op->prepare) st = f->op->prepare(&f->ctx, &f->state, &scratch);
    for (int i = 0; i < f->n_in; i++) f->in[i].data = saved[i];
    if (st != QP_OK) return st;
    f->ctx.state = f->state;
    /* poison the scratch so a kernel that reads it before writing shows up as a wrong result */
    f->ctx.scratch = scratch ? aligned_alloc(64, (scratch + 63) / 64 * 64) : NULL;
    if (scratch) memset(f->ctx.scratch, 0x7f, (scratch + 63) / 64 * 64);
    f->ctx.scratch_bytes = scratch;
    st = f->op->run(&f->ctx);
    free(f->ctx.scratch);
    f->ctx.scratch = NULL;
    return st;
}

static __attribute__((unused)) qp_status fx_run(op_fixture *f, int n_threads) {
    return fx_run_opset(f, n_threads, 17);
}

static __attribute__((unused)) void fx_free(op_fixture *f) {
    if (f->op && f->op->release && f->state) f->op->release(f->state);
    for (int i = 0; i < 6; i++) free(f->in[i].data);
    for (int i = 0; i < 3; i++) free(f->out[i].data);
    qp_graph_free(f->graph);
    memset(f, 0, sizeof *f);
}

static __attribute__((unused)) float *fx_out(op_fixture *f, int i) {
    return f->out[i].data;
}

static __attribute__((unused)) int64_t fx_out_numel(op_fixture *f, int i) {
    return qp_shape_numel(&f->out[i].shape);
}

/* Deterministic pseudo-random values in [-1, 1) (xorshift), so failures reproduce. */
static __attribute__((unused)) float *random_floats(int64_t n, uint32_t seed) {
    float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    assert_non_null(v);
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        v[i] = (float)((s >> 8) / 8388608.0 - 1.0);
    }
    return v;
}

/* Tolerance: float32 sums of up to a few thousand products, reordered (sgemm blocking, FMA),
 * differ from a double-precision reference by a few ulps of the largest partial sums; 1e-5 of
 * the output's largest magnitude is ~100 ulps of it and still catches any wrong tap or index. */
static __attribute__((unused)) void assert_close(const float *got, const double *want, int64_t n) {
    double scale = 1e-30;
    for (int64_t i = 0; i < n; i++) scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]);
        if (!(err <= 1e-5 * scale) && !(isinf(want[i]) && (double)got[i] == want[i])) {
            print_error("element %lld: got %.9g, want %.9g (scale %.3g)\n", (long long)i, (double)got[i], want[i],
                        scale);
            fail();
        }
    }
}
/* ---- end of op fixture ---- */

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
