/* q8_lut.c — elementwise unary ops on uint8 through a 256-entry table computed at plan time by the op's own fp32 code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "engine/int8_ops/q8_ops.h"

typedef struct lut_state {
    const qp_q8_config *cfg;
    uint8_t table[256];
    int64_t chunk;
    int n_chunks;
} lut_state;

static unsigned data_in(const qp_plan *plan, const qp_node *n) { (void)plan; (void)n; return 1u; }
static unsigned data_out(const qp_plan *plan, const qp_node *n) { (void)plan; (void)n; return 1u; }

static int lut_check(const qp_q8_prep *p, char *why, size_t cap) {
    uint8_t table[256];
    if (p->n_outputs != 1) {
        snprintf(why, cap, "%d outputs", p->n_outputs);
        return 0;
    }
    if (qp_shape_numel(&p->inputs[0]->shape) != qp_shape_numel(&p->outputs[0]->shape)) {
        snprintf(why, cap, "not elementwise here");
        return 0;
    }
    if (qp_q8_unary_table(p, 0, table) != QP_OK) {
        snprintf(why, cap, "cannot tabulate %s: %s", p->node->op_type, qp_error_message());
        qp_error_clear();
        return 0;
    }
    return 1;
}

static void lut_release(void *state) { free(state); }

static qp_status lut_prepare(const qp_q8_prep *p, void **state, size_t *scratch_bytes) {
    lut_state *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "out of memory");
    s->cfg = qp_q8_get_config();
    qp_status st = qp_q8_unary_table(p, 0, s->table);
    if (st != QP_OK) {
        free(s);
        return st;
    }
    /* The fused-clamp bounds do not apply: a table op has none fused into it. */
    s->n_chunks = qp_q8_chunks(qp_shape_numel(&p->inputs[0]->shape), p->n_threads, 16384, &s->chunk);
    *state = s;
    *scratch_bytes = 0;
    return QP_OK;
}

typedef struct lut_job {
    const lut_state *s;
    const uint8_t *x;
    uint8_t *y;
    int64_t n;
} lut_job;

static void lut_range(void *user, int64_t begin, int64_t end) {
    const lut_job *j = user;
    for (int64_t c = begin; c < end; c++) {
        int64_t i0 = c * j->s->chunk, n = j->n - i0 < j->s->chunk ? j->n - i0 : j->s->chunk;
        j->s->cfg->lut(n, j->s->table, j->x + i0, j->y + i0);
    }
}

static qp_status lut_run(qp_op_context *ctx) {
    const lut_state *s = ctx->state;
    lut_job j = {s, ctx->inputs[0]->data, ctx->outputs[0]->data, (int64_t)ctx->outputs[0]->nbytes};
    qp_parallel_for(ctx->n_threads, s->n_chunks, lut_range, &j);
    return QP_OK;
}

#define LUT_OP(NAME, TYPE)                                                                          \
    static const qp_q8_op NAME = {.op_type = TYPE, .data_inputs = data_in, .data_outputs = data_out, \
                                  .check = lut_check, .prepare = lut_prepare, .release = lut_release, \
                                  .run = lut_run}
LUT_OP(relu_op, "Relu");
LUT_OP(clip_op, "Clip");
LUT_OP(sigmoid_op, "Sigmoid");
LUT_OP(hard_sigmoid_op, "HardSigmoid");
LUT_OP(hard_swish_op, "HardSwish");
LUT_OP(tanh_op, "Tanh");
LUT_OP(leaky_relu_op, "LeakyRelu");
LUT_OP(elu_op, "Elu");
LUT_OP(selu_op, "Selu");
LUT_OP(celu_op, "Celu");
LUT_OP(softplus_op, "Softplus");
LUT_OP(softsign_op, "Softsign");
LUT_OP(gelu_op, "Gelu");
LUT_OP(erf_op, "Erf");
LUT_OP(mish_op, "Mish");
LUT_OP(thresholded_relu_op, "ThresholdedRelu");
LUT_OP(abs_op, "Abs");
LUT_OP(neg_op, "Neg");

const qp_q8_op *const qp_q8_unary_ops[] = {
    &relu_op, &clip_op, &sigmoid_op, &hard_sigmoid_op, &hard_swish_op, &tanh_op, &leaky_relu_op, &elu_op, &selu_op,
    &celu_op, &softplus_op, &softsign_op, &gelu_op, &erf_op, &mish_op, &thresholded_relu_op, &abs_op, &neg_op, NULL,
};
