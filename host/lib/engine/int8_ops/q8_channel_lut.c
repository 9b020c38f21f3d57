/* q8_channel_lut.c — per-channel elementwise ops on uint8 (BatchNormalization, PRelu) through one 256-entry table per channel, built by the op's own fp32 code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "engine/int8_ops/q8_ops.h"
#include "ops/ops_common_invoke.h"

typedef struct chlut_state {
    const qp_q8_config *cfg;
    int64_t batch, channels, inner;
    uint8_t *tables; /* channels x 256 */
} chlut_state;

static unsigned data_in(const qp_plan *plan, const qp_node *n) { (void)plan; (void)n; return 1u; }
static unsigned data_out(const qp_plan *plan, const qp_node *n) { (void)plan; (void)n; return 1u; }

/* PRelu's slope must vary along the channel axis only (or be a scalar). */
static int slope_per_channel(const qp_shape *x, const qp_shape *slope) {
    int64_t n = qp_shape_numel(slope);
    if (n == 1) return 1;
    if (x->rank < 2 || n != x->dims[1] || slope->rank > x->rank) return 0;
    for (int i = 0; i < slope->rank; i++) {
        int axis = x->rank - slope->rank + i;
        if (slope->dims[i] != 1 && axis != 1) return 0;
    }
    return 1;
}

/* Runs the node on a probe of shape [256, C, 1, ...] holding the 256 dequantized codes in every
 * channel; tables[c * 256 + q] = Q_out(result[q, c]). */
static qp_status build_tables(const qp_q8_prep *p, int64_t channels, uint8_t *tables) {
    const qp_shape *xs = &p->inputs[0]->shape;
    qp_shape ps = {.rank = xs->rank};
    ps.dims[0] = 256;
    ps.dims[1] = channels;
    for (int d = 2; d < xs->rank; d++) ps.dims[d] = 1;
    float *probe = malloc((size_t)(256 * channels) * sizeof *probe);
    const qp_value **ins = calloc((size_t)p->n_inputs, sizeof *ins);
    qp_value *copies = calloc((size_t)p->n_inputs, sizeof *copies);
    qp_value *outs = calloc((size_t)p->n_outputs, sizeof *outs);
    qp_status st = probe && ins && copies && outs ? qp_q8_quantsim_inputs(p, ins, copies)
                                                  : qp_error(QP_ERR_NOMEM, "out of memory building tables");
    if (st == QP_OK) {
        for (int q = 0; q < 256; q++)
            for (int64_t c = 0; c < channels; c++) probe[q * channels + c] = qp_q8_dequantize((uint8_t)q, &p->in_act[0]);
        qp_value x = {.dtype = QP_DT_FLOAT, .shape = ps, .data = probe, .nbytes = (size_t)(256 * channels) * sizeof(float)};
        ins[0] = &x;
        st = qp_ops_invoke(p->node, p->opset, ins, p->n_inputs, outs, p->n_outputs, 1);
        if (st == QP_OK) {
            if (qp_shape_numel(&outs[0].shape) != 256 * channels || outs[0].dtype != QP_DT_FLOAT) {
                st = qp_error(QP_ERR_UNSUPPORTED, "%s is not per-channel elementwise", p->node->op_type);
            } else {
                const float *y = outs[0].data;
                for (int q = 0; q < 256; q++)
                    for (int64_t c = 0; c < channels; c++)
                        tables[c * 256 + q] = qp_q8_quantize(y[q * channels + c], &p->out_act[0]);
            }
            for (int k = 0; k < p->n_outputs; k++) free(outs[k].data);
        }
        qp_q8_free_quantsim_inputs(p->n_inputs, copies);
    }
    free(probe);
    free(copies);
    free(ins);
    free(outs);
    return st;
}

static int chlut_check(const qp_q8_prep *p, char *why, size_t cap) {
    const qp_shape *xs = &p->inputs[0]->shape;
    if (xs->rank < 2 || xs->dims[1] < 1 || xs->dims[1] > (1 << 20)) {
        snprintf(why, cap, "input of rank %d", xs->rank);
        return 0;
    }
    for (int k = 1; k < p->n_outputs; k++)
        if (p->outputs[k]) {
            snprintf(why, cap, "training-mode outputs");
            return 0;
        }
    if (strcmp(p->node->op_type, "PRelu") == 0 && !slope_per_channel(xs, &p->inputs[1]->shape)) {
        snprintf(why, cap, "slope does not vary along the channel axis only");
        return 0;
    }
    if (strcmp(p->node->op_type, "BatchNormalization") == 0 && qp_node_attr_int(p->node, "training_mode", 0)) {
        snprintf(why, cap, "training mode");
        return 0;
    }
    uint8_t *tables = malloc((size_t)xs->dims[1] * 256);
    int ok = tables && build_tables(p, xs->dims[1], tables) == QP_OK;
    if (!ok) {
        snprintf(why, cap, "cannot tabulate %s: %s", p->node->op_type, qp_error_message());
        qp_error_clear();
    }
    free(tables);
    return ok;
}

static void chlut_release(void *state) {
    chlut_state *s = state;
    if (!s) return;
    free(s->tables);
    free(s);
}

static qp_status chlut_prepare(const qp_q8_prep *p, void **state, size_t *scratch_bytes) {
    const qp_shape *xs = &p->inputs[0]->shape;
    chlut_state *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "out of memory");
    s->cfg = qp_q8_get_config();
    s->batch = xs->dims[0];
    s->channels = xs->dims[1];
    s->inner = 1;
    for (int d = 2; d < xs->rank; d++) s->inner *= xs->dims[d];
    s->tables = malloc((size_t)s->channels * 256);
    qp_status st = s->tables ? build_tables(p, s->channels, s->tables) : qp_error(QP_ERR_NOMEM, "out of memory");
    if (st != QP_OK) {
        chlut_release(s);
        return st;
    }
    *scratch_bytes = 0;
    *state = s;
    return QP_OK;
}

typedef struct chlut_job {
    const chlut_state *s;
    const uint8_t *x;
    uint8_t *y;
} chlut_job;

static void chlut_range(void *user, int64_t begin, int64_t end) {
    const chlut_job *j = user;
    const chlut_state *s = j->s;
    for (int64_t plane = begin; plane < end; plane++) {
        int64_t c = plane % s->channels;
        s->cfg->lut(s->inner, s->tables + c * 256, j->x + plane * s->inner, j->y + plane * s->inner);
    }
}

static qp_status chlut_run(qp_op_context *ctx) {
    const chlut_state *s = ctx->state;
    chlut_job j = {s, ctx->inputs[0]->data, ctx->outputs[0]->data};
    int64_t planes = s->batch * s->channels;
    int threads = planes * s->inner >= 65536 ? ctx->n_threads : 1;
    qp_parallel_for(threads, planes, chlut_range, &j);
    return QP_OK;
}

const qp_q8_op qp_q8_batchnorm_op = {
    .op_type = "BatchNormalization", .data_inputs = data_in, .data_outputs = data_out,
    .check = chlut_check, .prepare = chlut_prepare, .release = chlut_release, .run = chlut_run,
};
const qp_q8_op qp_q8_prelu_op = {
    .op_type = "PRelu", .data_inputs = data_in, .data_outputs = data_out,
    .check = chlut_check, .prepare = chlut_prepare, .release = chlut_release, .run = chlut_run,
};
