/* op_fixture.h — unit-test harness for one op: a node on a scratch graph, run through its qp_op_def as the engine does. */
#ifndef QPIPE_TEST_OP_FIXTURE_H
#define QPIPE_TEST_OP_FIXTURE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/op.h"
#include "ir/ir.h"
#include "test_support.h"

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

#endif
