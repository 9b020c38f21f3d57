/* q8_shape.c — uint8 pass-through of data-movement ops (Reshape, Transpose, Slice, Concat, ...), re-encoding through a table when encodings differ. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "engine/int8_ops/q8_ops.h"

enum { MAX_TABLES = 32 };

typedef struct move_state {
    const qp_q8_config *cfg;
    const qp_op_def *op;        /* generic ops: the fp32 op run on uint8 data */
    void *op_state;
    size_t op_scratch;
    int n_tables;
    int needs_table[MAX_TABLES];
    uint8_t table[MAX_TABLES][256];
    /* Concat */
    int64_t outer, out_block;   /* out = outer x out_block bytes */
    int64_t *in_block;          /* per input: bytes per outer index */
} move_state;

static unsigned first_in(const qp_plan *plan, const qp_node *n) { (void)plan; (void)n; return 1u; }
static unsigned first_out(const qp_plan *plan, const qp_node *n) { (void)plan; (void)n; return 1u; }
static unsigned all_in(const qp_plan *plan, const qp_node *n) { (void)plan; return n->n_inputs >= 32 ? 0xffffffffu : (1u << n->n_inputs) - 1; }
static unsigned all_out(const qp_plan *plan, const qp_node *n) { (void)plan; return n->n_outputs >= 32 ? 0xffffffffu : (1u << n->n_outputs) - 1; }

static void move_release(void *state) {
    move_state *s = state;
    if (!s) return;
    if (s->op && s->op->release && s->op_state) s->op->release(s->op_state);
    free(s->in_block);
    free(s);
}

static void apply_table(const move_state *s, int k, uint8_t *data, int64_t n) {
    if (k < s->n_tables && s->needs_table[k]) s->cfg->lut(n, s->table[k], data, data);
}

/* --- Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout: the bytes do not move ---------- */

static int copy_check(const qp_q8_prep *p, char *why, size_t cap) {
    if (p->n_outputs > 1 && p->outputs[1] && p->outputs[1]->dtype != QP_DT_BOOL &&
        p->outputs[1]->dtype != QP_DT_FLOAT) {
        snprintf(why, cap, "a %s mask output", qp_dtype_name(p->outputs[1]->dtype));
        return 0;
    }
    if (qp_shape_numel(&p->inputs[0]->shape) != qp_shape_numel(&p->outputs[0]->shape)) {
        snprintf(why, cap, "input and output sizes differ");
        return 0;
    }
    if (strcmp(p->node->op_type, "Dropout") == 0 && p->n_inputs > 2 && p->inputs[2]) {
        const qp_value *training = p->inputs[2];
        if (!training->data || (training->dtype == QP_DT_BOOL && *(const uint8_t *)training->data)) {
            snprintf(why, cap, "training mode");
            return 0;
        }
    }
    return 1;
}

static qp_status copy_prepare(const qp_q8_prep *p, void **state, size_t *scratch_bytes) {
    move_state *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "out of memory");
    s->cfg = qp_q8_get_config();
    s->n_tables = 1;
    s->needs_table[0] = !qp_q8_requant_table(&p->in_act[0], &p->out_act[0], s->table[0]);
    *state = s;
    *scratch_bytes = 0;
    return QP_OK;
}

static qp_status copy_run(qp_op_context *ctx) {
    const move_state *s = ctx->state;
    const qp_value *x = ctx->inputs[0];
    qp_value *y = ctx->outputs[0];
    if (s->needs_table[0]) s->cfg->lut((int64_t)x->nbytes, s->table[0], x->data, y->data);
    else if (y->data != x->data && x->nbytes) memcpy(y->data, x->data, x->nbytes);
    if (ctx->n_outputs > 1 && ctx->outputs[1]) { /* Dropout's mask in inference: all kept */
        qp_value *mask = ctx->outputs[1];
        int64_t n = qp_shape_numel(&mask->shape);
        if (mask->dtype == QP_DT_BOOL) memset(mask->data, 1, (size_t)n);
        else
            for (int64_t i = 0; i < n; i++) ((float *)mask->data)[i] = 1.0f;
    }
    return QP_OK;
}

#define COPY_OP(NAME, TYPE)                                                                        \
    static const qp_q8_op NAME = {.op_type = TYPE, .data_inputs = first_in, .data_outputs = first_out, \
                                  .check = copy_check, .prepare = copy_prepare, .release = move_release, \
                                  .run = copy_run}
COPY_OP(reshape_op, "Reshape");
COPY_OP(flatten_op, "Flatten");
COPY_OP(squeeze_op, "Squeeze");
COPY_OP(unsqueeze_op, "Unsqueeze");
COPY_OP(identity_op, "Identity");
COPY_OP(dropout_op, "Dropout");

/* --- Transpose, Slice, Split, Gather, ...: the fp32 op's own code on uint8 data -------------- */

/* Builds the op context with uint8 stand-ins for the data tensors (infer/prepare read shapes and
 * the constant non-data inputs only). */
static qp_status generic_call(const qp_q8_prep *p, const qp_q8_op *q8, int do_prepare, move_state *s, char *why,
                              size_t cap) {
    const qp_op_def *op = qp_op_find(p->node->domain, p->node->op_type);
    if (!op) {
        snprintf(why, cap, "no fp32 %s", p->node->op_type);
        return QP_ERR_UNSUPPORTED;
    }
    unsigned din = q8->data_inputs(p->plan, p->node), dout = q8->data_outputs(p->plan, p->node);
    int ni = p->n_inputs, no = p->n_outputs;
    qp_value *in_vals = calloc((size_t)(ni ? ni : 1), sizeof *in_vals);
    const qp_value **ins = calloc((size_t)(ni ? ni : 1), sizeof *ins);
    qp_value *out_vals = calloc((size_t)(no ? no : 1), sizeof *out_vals);
    qp_value **outs = calloc((size_t)(no ? no : 1), sizeof *outs);
    qp_status st = in_vals && ins && out_vals && outs ? QP_OK : qp_error(QP_ERR_NOMEM, "out of memory");
    for (int k = 0; st == QP_OK && k < ni; k++) {
        if (!p->inputs[k]) continue;
        in_vals[k] = *p->inputs[k];
        if (din & (1u << k)) {
            in_vals[k].dtype = QP_DT_UINT8;
            in_vals[k].data = NULL;
            in_vals[k].nbytes = (size_t)qp_shape_numel(&in_vals[k].shape);
        }
        ins[k] = &in_vals[k];
    }
    for (int k = 0; k < no; k++) {
        out_vals[k].shape.rank = -1;
        outs[k] = &out_vals[k];
    }
    qp_op_context ctx = {.node = p->node, .opset = p->opset, .inputs = ins, .n_inputs = ni, .outputs = outs,
                         .n_outputs = no, .n_threads = p->n_threads};
    if (st == QP_OK) {
        st = op->infer(&ctx);
        if (st != QP_OK) {
            snprintf(why, cap, "the fp32 %s does not take uint8 data (%s)", p->node->op_type, qp_error_message());
            qp_error_clear();
        }
    }
    for (int k = 0; st == QP_OK && k < no; k++) {
        if (!p->outputs[k]) continue;
        const qp_shape *want = &p->outputs[k]->shape;
        int same = out_vals[k].shape.rank == want->rank;
        for (int d = 0; same && d < want->rank; d++) same = out_vals[k].shape.dims[d] == want->dims[d];
        if (!same || ((dout & (1u << k)) && out_vals[k].dtype != QP_DT_UINT8)) {
            snprintf(why, cap, "the fp32 %s gives another shape or dtype on uint8 data", p->node->op_type);
            st = QP_ERR_UNSUPPORTED;
        }
    }
    if (st == QP_OK && do_prepare) {
        s->op = op;
        if (op->prepare) st = op->prepare(&ctx, &s->op_state, &s->op_scratch);
    }
    free(in_vals);
    free(ins);
    free(out_vals);
    free(outs);
    return st;
}

static const qp_q8_op *find_self(const qp_node *node);

static int generic_check(const qp_q8_prep *p, char *why, size_t cap) {
    if (p->n_outputs > MAX_TABLES) {
        snprintf(why, cap, "more than %d outputs", MAX_TABLES);
        return 0;
    }
    return generic_call(p, find_self(p->node), 0, NULL, why, cap) == QP_OK;
}

static qp_status generic_prepare(const qp_q8_prep *p, void **state, size_t *scratch_bytes) {
    char why[200] = "";
    move_state *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "out of memory");
    s->cfg = qp_q8_get_config();
    qp_status st = generic_call(p, find_self(p->node), 1, s, why, sizeof why);
    if (st != QP_OK) {
        move_release(s);
        return why[0] ? qp_error(st, "%s", why) : st;
    }
    unsigned dout = find_self(p->node)->data_outputs(p->plan, p->node);
    s->n_tables = p->n_outputs;
    for (int k = 0; k < p->n_outputs; k++)
        if ((dout & (1u << k)) && p->outputs[k])
            s->needs_table[k] = !qp_q8_requant_table(&p->in_act[0], &p->out_act[k], s->table[k]);
    *scratch_bytes = s->op_scratch;
    *state = s;
    return QP_OK;
}

static qp_status generic_run(qp_op_context *ctx) {
    const move_state *s = ctx->state;
    qp_op_context inner = *ctx;
    inner.state = s->op_state;
    qp_status st = s->op->run(&inner);
    for (int k = 0; st == QP_OK && k < ctx->n_outputs; k++)
        if (ctx->outputs[k]) apply_table(s, k, ctx->outputs[k]->data, (int64_t)ctx->outputs[k]->nbytes);
    return st;
}

#define GENERIC_OP(NAME, TYPE, OUTS)                                                               \
    static const qp_q8_op NAME = {.op_type = TYPE, .data_inputs = first_in, .data_outputs = OUTS,    \
                                  .check = generic_check, .prepare = generic_prepare,                \
                                  .release = move_release, .run = generic_run}
GENERIC_OP(transpose_op, "Transpose", first_out);
GENERIC_OP(slice_op, "Slice", first_out);
GENERIC_OP(split_op, "Split", all_out);
GENERIC_OP(gather_op, "Gather", first_out);
GENERIC_OP(expand_op, "Expand", first_out);
GENERIC_OP(tile_op, "Tile", first_out);
GENERIC_OP(d2s_op, "DepthToSpace", first_out);
GENERIC_OP(s2d_op, "SpaceToDepth", first_out);

const qp_q8_op *const qp_q8_shape_ops[] = {
    &reshape_op, &flatten_op, &squeeze_op, &unsqueeze_op, &identity_op, &dropout_op,
    &transpose_op, &slice_op, &split_op, &gather_op, &expand_op, &tile_op, &d2s_op, &s2d_op, NULL,
};

static const qp_q8_op *find_self(const qp_node *node) {
    for (const qp_q8_op *const *op = qp_q8_shape_ops; *op; op++)
        if (strcmp((*op)->op_type, node->op_type) == 0) return *op;
    return NULL;
}

/* --- Concat: inputs re-encoded to the output's encoding while copying ----------------------- */

static int concat_axis(const qp_q8_prep *p, int *axis) {
    int rank = p->outputs[0]->shape.rank;
    int64_t a = qp_node_attr_int(p->node, "axis", 0);
    if (a < 0) a += rank;
    if (a < 0 || a >= rank) return 0;
    *axis = (int)a;
    return 1;
}

static int concat_check(const qp_q8_prep *p, char *why, size_t cap) {
    int axis;
    if (p->n_inputs > MAX_TABLES || p->n_inputs < 1) {
        snprintf(why, cap, "%d inputs (int8 Concat takes 1..%d)", p->n_inputs, MAX_TABLES);
        return 0;
    }
    if (!concat_axis(p, &axis)) {
        snprintf(why, cap, "axis out of range");
        return 0;
    }
    return 1;
}

static qp_status concat_prepare(const qp_q8_prep *p, void **state, size_t *scratch_bytes) {
    move_state *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "out of memory");
    s->in_block = calloc((size_t)p->n_inputs, sizeof *s->in_block);
    if (!s->in_block) {
        free(s);
        return qp_error(QP_ERR_NOMEM, "out of memory");
    }
    s->cfg = qp_q8_get_config();
    int axis = 0;
    concat_axis(p, &axis);
    const qp_shape *os = &p->outputs[0]->shape;
    s->outer = 1;
    for (int d = 0; d < axis; d++) s->outer *= os->dims[d];
    s->out_block = s->outer ? qp_shape_numel(os) / s->outer : 0;
    s->n_tables = p->n_inputs;
    for (int k = 0; k < p->n_inputs; k++) {
        int64_t n = qp_shape_numel(&p->inputs[k]->shape);
        s->in_block[k] = s->outer ? n / s->outer : 0;
        s->needs_table[k] = !qp_q8_requant_table(&p->in_act[k], &p->out_act[0], s->table[k]);
    }
    *state = s;
    *scratch_bytes = 0;
    return QP_OK;
}

typedef struct concat_job {
    const move_state *s;
    qp_op_context *ctx;
} concat_job;

static void concat_range(void *user, int64_t begin, int64_t end) {
    const concat_job *j = user;
    const move_state *s = j->s;
    uint8_t *y = j->ctx->outputs[0]->data;
    for (int64_t o = begin; o < end; o++) {
        uint8_t *dst = y + o * s->out_block;
        for (int k = 0; k < j->ctx->n_inputs; k++) {
            const uint8_t *src = (const uint8_t *)j->ctx->inputs[k]->data + o * s->in_block[k];
            if (s->needs_table[k]) s->cfg->lut(s->in_block[k], s->table[k], src, dst);
            else if (s->in_block[k]) memcpy(dst, src, (size_t)s->in_block[k]);
            dst += s->in_block[k];
        }
    }
}

static qp_status concat_run(qp_op_context *ctx) {
    const move_state *s = ctx->state;
    concat_job j = {s, ctx};
    int threads = s->outer * s->out_block >= 65536 ? ctx->n_threads : 1;
    qp_parallel_for(threads, s->outer, concat_range, &j);
    return QP_OK;
}

const qp_q8_op qp_q8_concat_op = {
    .op_type = "Concat", .data_inputs = all_in, .data_outputs = first_out,
    .check = concat_check, .prepare = concat_prepare, .release = move_release, .run = concat_run,
};
