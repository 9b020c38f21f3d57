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
