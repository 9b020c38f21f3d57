/* int8_lower.c — INT8 mode: decides which nodes run in integer arithmetic, fuses Relu/Clip, and inserts the uint8<->float conversions around fp32 fallbacks. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/int8_ops/q8_ops.h"
#include "engine/plan_internal.h"

static const char *tensor_name(const qp_graph *g, int t) { return g->tensors[t]->name; }

int qp_q8_usable_encoding(const qp_plan *plan, int t, const qp_encoding **enc_out, qp_q8_act *act) {
    if (enc_out) *enc_out = NULL;
    if (t < 0 || t >= plan->graph->n_tensors || plan->values[t].dtype != QP_DT_FLOAT) return 0;
    const qp_encoding *enc = qp_encodings_get(plan->options.encodings, t);
    if (enc_out) *enc_out = enc;
    qp_q8_act tmp;
    return enc && qp_q8_act_from_encoding(enc, act ? act : &tmp);
}

/* Why tensor t cannot be held as uint8 (for the fp32 report). */
static void unusable_reason(const qp_plan *plan, int t, const char *role, char *why, size_t cap) {
    const qp_encoding *enc = qp_encodings_get(plan->options.encodings, t);
    if (!enc)
        snprintf(why, cap, "%s '%s' has no encoding", role, tensor_name(plan->graph, t));
    else if (enc->n != 1)
        snprintf(why, cap, "%s '%s' has a per-channel encoding (int8 activations are per-tensor)", role,
                 tensor_name(plan->graph, t));
    else
        snprintf(why, cap, "%s '%s' is quantized to %d bits (int8 activations take at most 8)", role,
                 tensor_name(plan->graph, t), enc->bits);
}

/* The clamp a Relu/Clip node applies, as float bounds; 0 when its bounds are not constants. */
static int activation_bounds(const qp_plan *plan, const qp_node *a, float *lo, float *hi) {
    *lo = -INFINITY;
    *hi = INFINITY;
    if (strcmp(a->op_type, "Relu") == 0) {
        *lo = 0.0f;
        return 1;
    }
    if (qp_graph_opset(plan->graph, a->domain) < 11) {
        *lo = qp_node_attr_float(a, "min", -FLT_MAX);
        *hi = qp_node_attr_float(a, "max", FLT_MAX);
        return 1;
    }
    for (int k = 1; k < a->n_inputs && k < 3; k++) {
        int t = a->inputs[k];
        if (t < 0) continue;
        const qp_value *v = &plan->values[t];
        if (!plan->is_const[t] || v->dtype != QP_DT_FLOAT || qp_shape_numel(&v->shape) != 1) return 0;
        float b = *(const float *)v->data;
        if (b != b) return 0;
        const qp_encoding *e = qp_encodings_get(plan->options.encodings, t);
        if (e) { /* QUANTSIM fake-quantizes an encoded bound like any constant */
            int32_t qmin, qmax;
            qp_quant_range(e->bits, e->symmetric, &qmin, &qmax);
            b = qp_fake_quant(b, e->scale[0], e->zero_point[0], qmin, qmax);
        }
        if (k == 1) *lo = b;
        else *hi = b;
    }
    return 1;
}

static int32_t bound_code(float b, const qp_q8_act *act) {
    if (b == -INFINITY) return act->qmin;
    if (b == INFINITY) return act->qmax;
    return qp_q8_quantize(b, act);
}

/* The Relu/Clip that can run inside node_id's clamp, or -1. */
static int fusable_activation(const qp_plan *plan, int node_id, const unsigned char *has_step) {
    const qp_graph *g = plan->graph;
    const qp_node *n = &g->nodes[node_id];
    if (n->n_outputs < 1 || n->outputs[0] < 0) return -1;
    const qp_tensor *t = g->tensors[n->outputs[0]];
    if (t->is_graph_output || t->n_consumers != 1) return -1;
    int a = t->consumers[0];
    const qp_node *an = &g->nodes[a];
    if (!has_step[a] || an->domain[0] != '\0' || an->n_inputs < 1 || an->inputs[0] != n->outputs[0]) return -1;
    if (strcmp(an->op_type, "Relu") != 0 && strcmp(an->op_type, "Clip") != 0) return -1;
    if (an->n_outputs < 1 || an->outputs[0] < 0) return -1;
    float lo, hi;
    if (!activation_bounds(plan, an, &lo, &hi)) return -1;
    if (!qp_q8_usable_encoding(plan, an->outputs[0], NULL, NULL)) return -1;
    return a;
}

void qp_q8_prep_free(qp_q8_prep_buf *b) {
    free(b->inputs);
    free(b->outputs);
    free(b->in_enc);
    free(b->in_act);
    free(b->out_act);
}

int qp_q8_prep_build(const qp_plan *plan, int node_id, const qp_q8_op *q8, int fused_act, qp_q8_prep_buf *b,
                     char *why, size_t cap) {
    const qp_graph *g = plan->graph;
    const qp_node *n = &g->nodes[node_id];
    memset(b, 0, sizeof *b);
    int ni = n->n_inputs, no = n->n_outputs;
    b->inputs = calloc((size_t)(ni ? ni : 1), sizeof *b->inputs);
    b->in_enc = calloc((size_t)(ni ? ni : 1), sizeof *b->in_enc);
    b->in_act = calloc((size_t)(ni ? ni : 1), sizeof *b->in_act);
    b->outputs = calloc((size_t)(no ? no : 1), sizeof *b->outputs);
    b->out_act = calloc((size_t)(no ? no : 1), sizeof *b->out_act);
    if (!b->inputs || !b->in_enc || !b->in_act || !b->outputs || !b->out_act) {
        snprintf(why, cap, "out of memory");
        return 0;
    }
    unsigned din = q8->data_inputs(plan, n), dout = q8->data_outputs(plan, n);
    for (int k = 0; k < ni; k++) {
        int t = n->inputs[k];
        if (t < 0) continue;
        b->inputs[k] = &plan->values[t];
        b->in_enc[k] = qp_encodings_get(plan->options.encodings, t);
        if (din & (1u << k)) {
            if (!qp_q8_usable_encoding(plan, t, NULL, &b->in_act[k])) {
                unusable_reason(plan, t, "input", why, cap);
                return 0;
            }
        } else if (plan->values[t].dtype == QP_DT_FLOAT && !plan->is_const[t]) {
            snprintf(why, cap, "input %d ('%s') is computed at run time; the int8 kernel needs a constant", k,
                     tensor_name(g, t));
            return 0;
        }
    }
    for (int k = 0; k < no; k++) {
        int t = n->outputs[k];
        if (k == 0 && fused_act >= 0) t = g->nodes[fused_act].outputs[0];
        if (t < 0) {
            if (dout & (1u << k)) {
                snprintf(why, cap, "output %d is omitted", k);
                return 0;
            }
            continue;
        }
        b->outputs[k] = &plan->values[t];
        if ((dout & (1u << k)) && !qp_q8_usable_encoding(plan, t, NULL, &b->out_act[k])) {
            unusable_reason(plan, t, "output", why, cap);
            return 0;
        }
    }
    b->p = (qp_q8_prep){.plan = plan, .node = n, .node_id = node_id, .opset = qp_graph_opset(g, n->domain), .n_inputs = ni,
                        .n_outputs = no, .inputs = b->inputs, .in_enc = b->in_enc, .in_act = b->in_act,
                        .outputs = b->outputs, .out_act = b->out_act, .fused_activation = fused_act,
                        .n_threads = plan->n_threads};
    if (no > 0 && (dout & 1u)) {
        b->p.out_lo = b->out_act[0].qmin;
        b->p.out_hi = b->out_act[0].qmax;
        if (fused_act >= 0) {
            float lo, hi;
            activation_bounds(plan, &g->nodes[fused_act], &lo, &hi);
            int32_t lo_q = bound_code(lo, &b->out_act[0]), hi_q = bound_code(hi, &b->out_act[0]);
            if (lo_q > b->p.out_lo) b->p.out_lo = lo_q;
            if (hi_q < b->p.out_hi) b->p.out_hi = hi_q;
            if (b->p.out_lo > b->p.out_hi) b->p.out_lo = b->p.out_hi; /* Clip(min > max) gives max */
        }
    }
    return 1;
}

qp_status qp_q8_decide(const qp_plan *plan, qp_q8_decision *d) {
    const qp_graph *g = plan->graph;
    unsigned char *has_step = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), 1);
    if (!has_step) return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    for (int si = 0; si < plan->n_steps; si++) has_step[plan->steps[si].node_id] = 1;
    for (int id = 0; id < g->n_nodes; id++) {
        d[id] = (qp_q8_decision){.has_step = has_step[id], .fused_into = -1, .fused_act = -1,
                                 .out_tensor = g->nodes[id].n_outputs ? g->nodes[id].outputs[0] : -1};
    }
    for (int id = 0; id < g->n_nodes; id++) {
        if (!has_step[id] || d[id].fused_into >= 0) continue;
        const qp_node *n = &g->nodes[id];
        const qp_q8_op *q8 = qp_q8_find(n);
        if (!q8) {
            snprintf(d[id].why, sizeof d[id].why, "no int8 implementation of %s", n->op_type);
            continue;
        }
        int act = q8->can_fuse_activation ? fusable_activation(plan, id, has_step) : -1;
        for (int attempt = act >= 0 ? 0 : 1; attempt < 2 && !d[id].int8; attempt++) {
            int fused = attempt == 0 ? act : -1;
            qp_q8_prep_buf b;
            if (qp_q8_prep_build(plan, id, q8, fused, &b, d[id].why, sizeof d[id].why) &&
                q8->check(&b.p, d[id].why, sizeof d[id].why)) {
                d[id].int8 = 1;
                d[id].why[0] = '\0';
                if (fused >= 0) {
                    d[id].fused_act = fused;
                    d[id].out_tensor = g->nodes[fused].outputs[0];
                    d[fused].fused_into = id;
                    d[fused].int8 = 1;
                }
            }
            qp_q8_prep_free(&b);
        }
    }
    free(has_step);
    return QP_OK;
}

/* --- lowering ------------------------------------------------------------------------------- */

typedef struct lower_state {
    qp_plan *plan;
    qp_q8_decision *d;
    int *u8;          /* per graph tensor: value index of its uint8 form, -1 = none */
    int *twin;        /* per graph input: fake-quantized float twin for fp32 readers */
    int *fq_const;    /* per constant: fake-quantized copy for fp32 readers */
    unsigned char *need_u8, *float_reader, *produced_u8;
} lower_state;

static qp_status push_conv(qp_plan *plan, qp_step_kind kind, int tensor, int src, int dst, qp_plan_step **out) {
    return qp_plan_push_step(plan, kind, -1, tensor, &src, 1, &dst, 1, out);
}

static qp_status record_fallback(qp_plan *plan, int node_id, const char *why) {
    int *nodes = realloc(plan->fallback_nodes, (size_t)(plan->n_fallbacks + 1) * sizeof *nodes);
    if (nodes) plan->fallback_nodes = nodes;
    char **reasons = realloc(plan->fallback_reasons, (size_t)(plan->n_fallbacks + 1) * sizeof *reasons);
    if (reasons) plan->fallback_reasons = reasons;
    char *copy = strdup(why && why[0] ? why : "no int8 implementation");
    if (!nodes || !reasons || !copy) {
        free(copy);
        return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    }
    plan->fallback_nodes[plan->n_fallbacks] = node_id;
    plan->fallback_reasons[plan->n_fallbacks++] = copy;
    return QP_OK;
}

/* The uint8 constant for constant tensor t (quantized once at plan time). */
static qp_status u8_const(lower_state *ls, int t) {
    qp_plan *plan = ls->plan;
    qp_q8_act act;
    qp_q8_usable_encoding(plan, t, NULL, &act);
    const qp_value *v = &plan->values[t];
    int64_t n = qp_shape_numel(&v->shape);
    uint8_t *q = qp_plan_alloc((size_t)n);
    if (!q) return qp_error(QP_ERR_NOMEM, "out of memory quantizing '%s'", tensor_name(plan->graph, t));
    const float *x = v->data;
    qp_u8_convert_params cp = {act.scale, act.zero_point, (uint8_t)act.qmin, (uint8_t)act.qmax};
    qp_q8_get_config()->quantize(n, x, &cp, q);
    qp_shape shape = v->shape;
    ls->u8[t] = qp_plan_add_const(plan, QP_DT_UINT8, &shape, q);
    return ls->u8[t] < 0 ? QP_ERR_NOMEM : QP_OK;
}

static qp_status fq_const_copy(lower_state *ls, int t, int *out) {
    qp_plan *plan = ls->plan;
    if (ls->fq_const[t] < 0) {
        const qp_encoding *enc = qp_encodings_get(plan->options.encodings, t);
        const qp_value *v = &plan->values[t];
        qp_status st = qp_check_encoding_shape(plan->graph, t, enc, &v->shape);
        if (st != QP_OK) return st;
        float *copy = qp_plan_alloc(v->nbytes);
        if (!copy) return qp_error(QP_ERR_NOMEM, "out of memory fake-quantizing '%s'", tensor_name(plan->graph, t));
        qp_fake_quant_tensor(enc, &v->shape, v->data, copy, 1);
        qp_shape shape = v->shape;
        ls->fq_const[t] = qp_plan_add_const(plan, QP_DT_FLOAT, &shape, copy);
        if (ls->fq_const[t] < 0) return QP_ERR_NOMEM;
    }
    *out = ls->fq_const[t];
    return QP_OK;
}

static int float_enc(const qp_plan *plan, int t) {
    return t >= 0 && t < plan->graph->n_tensors && plan->values[t].dtype == QP_DT_FLOAT &&
           qp_encodings_get(plan->options.encodings, t) != NULL;
}

qp_status qp_q8_push_step(qp_plan *plan, int node_id, const qp_q8_op *q8, const qp_q8_prep *p, const qp_op_def *op,
                          const int *in, int n_in, const int *out, int n_out) {
    void *state = NULL;
    size_t scratch = 0;
    char where[300];
    qp_status st = q8->prepare(p, &state, &scratch);
    if (st != QP_OK)
        return qp_error_prefix(st, "%s: int8: ", qp_plan_node_desc(plan->graph, node_id, where, sizeof where));
    qp_plan_step *s = NULL;
    if ((st = qp_plan_push_step(plan, QP_STEP_INT8, node_id, -1, in, n_in, out, n_out, &s)) != QP_OK) {
        if (state && q8->release) q8->release(state);
        return st;
    }
    s->q8 = q8;
    s->op = op;
    s->state = state;
    s->scratch_bytes = scratch;
    s->prepared = 1;
    return QP_OK;
}

static qp_status emit_int8(lower_state *ls, const qp_plan_step *src) {
    qp_plan *plan = ls->plan;
    const qp_graph *g = plan->graph;
    int id = src->node_id;
    const qp_node *n = &g->nodes[id];
    const qp_q8_op *q8 = qp_q8_find(n);
    unsigned din = q8->data_inputs(plan, n), dout = q8->data_outputs(plan, n);
    char why[200] = "";
    qp_q8_prep_buf b;
    if (!qp_q8_prep_build(plan, id, q8, ls->d[id].fused_act, &b, why, sizeof why)) {
        qp_q8_prep_free(&b);
        return qp_error(QP_ERR_INTERNAL, "node '%s': int8 lowering changed its mind: %s", n->name, why);
    }
    int *in = malloc((size_t)(n->n_inputs ? n->n_inputs : 1) * sizeof *in);
    int *out = malloc((size_t)(n->n_outputs ? n->n_outputs : 1) * sizeof *out);
    qp_status st = in && out ? QP_OK : qp_error(QP_ERR_NOMEM, "out of memory while planning");
    for (int k = 0; st == QP_OK && k < n->n_inputs; k++) {
        int t = n->inputs[k];
        in[k] = t < 0 ? -1 : (din & (1u << k)) ? ls->u8[t] : plan->values[t].dtype == QP_DT_FLOAT ? -1 : t;
    }
    for (int k = 0; st == QP_OK && k < n->n_outputs; k++) {
        int t = k == 0 ? ls->d[id].out_tensor : n->outputs[k];
        out[k] = t < 0 ? src->out[k] : (dout & (1u << k)) ? ls->u8[t] : t;
    }
    if (st == QP_OK) st = qp_q8_push_step(plan, id, q8, &b.p, src->op, in, n->n_inputs, out, n->n_outputs);
    qp_q8_prep_free(&b);
    if (st != QP_OK) {
        free(in);
        free(out);
        return st;
    }
    int step_index = plan->n_steps - 1;
    plan->n_int8_nodes += 1 + (ls->d[id].fused_act >= 0);
    for (int k = 0; k < n->n_outputs && st == QP_OK; k++) {
        int t = k == 0 ? ls->d[id].out_tensor : n->outputs[k];
        if (t < 0) continue;
        st = qp_plan_step_observe(plan, &plan->steps[step_index], t, out[k]);
        if (st == QP_OK && (dout & (1u << k)) && ls->float_reader[t]) {
            qp_plan_step *dq;
            if ((st = push_conv(plan, QP_STEP_DEQUANTIZE, t, ls->u8[t], t, &dq)) == QP_OK)
                qp_q8_usable_encoding(plan, t, NULL, &dq->act);
        }
    }
    free(in);
    free(out);
    return st;
}

static qp_status emit_fp32(lower_state *ls, const qp_plan_step *src) {
    qp_plan *plan = ls->plan;
    const qp_graph *g = plan->graph;
    const qp_node *n = &g->nodes[src->node_id];
    int *in = malloc((size_t)(src->n_in ? src->n_in : 1) * sizeof *in);
    if (!in) return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    qp_status st = QP_OK;
    for (int k = 0; k < src->n_in && st == QP_OK; k++) {
        int t = src->in[k];
        in[k] = t;
        if (t < 0 || t >= g->n_tensors) continue;
        if (ls->twin[t] >= 0) in[k] = ls->twin[t];
        else if (plan->is_const[t] && float_enc(plan, t)) st = fq_const_copy(ls, t, &in[k]);
    }
    qp_plan_step *s = NULL;
    if (st == QP_OK) st = qp_plan_push_step(plan, QP_STEP_OP, src->node_id, -1, in, src->n_in, src->out, src->n_out, &s);
    free(in);
    if (st != QP_OK) return st;
    s->op = src->op;
    int step_index = plan->n_steps - 1;
    if ((st = record_fallback(plan, src->node_id, ls->d[src->node_id].why)) != QP_OK) return st;
    for (int k = 0; k < n->n_outputs && st == QP_OK; k++) {
        int t = n->outputs[k];
        if (t < 0) continue;
        if (!float_enc(plan, t)) {
            st = qp_plan_step_observe(plan, &plan->steps[step_index], t, t);
            continue;
        }
        const qp_encoding *enc = qp_encodings_get(plan->options.encodings, t);
        if ((st = qp_check_encoding_shape(g, t, enc, &plan->values[t].shape)) != QP_OK) return st;
        qp_plan_step *c;
        if (ls->u8[t] >= 0) { /* quantize for int8 readers; fp32 readers see the same values */
            if ((st = push_conv(plan, QP_STEP_QUANTIZE, t, t, ls->u8[t], &c)) != QP_OK) return st;
            qp_q8_usable_encoding(plan, t, NULL, &c->act);
            c->fq_in_place = ls->float_reader[t];
            if (c->fq_in_place) { /* the float buffer is rewritten too: list it as an output */
                int *both = malloc(2 * sizeof *both);
                if (qp_plan_own(plan, both) != QP_OK) return QP_ERR_NOMEM;
                both[0] = ls->u8[t];
                both[1] = t;
                c->out = both;
                c->n_out = 2;
            }
        } else {
            if ((st = push_conv(plan, QP_STEP_FAKE_QUANT, t, t, t, &c)) != QP_OK) return st;
            c->enc = enc;
        }
        st = qp_plan_step_observe(plan, c, t, t);
    }
    return st;
}

qp_status qp_int8_lower(qp_plan *plan) {
    const qp_graph *g = plan->graph;
    int nt = g->n_tensors ? g->n_tensors : 1;
    lower_state ls = {.plan = plan};
    ls.d = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *ls.d);
    ls.u8 = malloc((size_t)nt * sizeof *ls.u8);
    ls.twin = malloc((size_t)nt * sizeof *ls.twin);
    ls.fq_const = malloc((size_t)nt * sizeof *ls.fq_const);
    ls.need_u8 = calloc((size_t)nt, 1);
    ls.float_reader = calloc((size_t)nt, 1);
    ls.produced_u8 = calloc((size_t)nt, 1);
    qp_plan_step *old = NULL;
    int n_old = plan->n_steps;
    qp_status st = QP_OK;
    if (!ls.d || !ls.u8 || !ls.twin || !ls.fq_const || !ls.need_u8 || !ls.float_reader || !ls.produced_u8) {
        st = qp_error(QP_ERR_NOMEM, "out of memory while planning");
        goto done;
    }
    for (int t = 0; t < g->n_tensors; t++) ls.u8[t] = ls.twin[t] = ls.fq_const[t] = -1;
    if ((st = qp_q8_decide(plan, ls.d)) != QP_OK) goto done;

    /* Who reads what: int8 steps read data inputs as uint8, fp32 steps read floats. */
    for (int si = 0; si < n_old; si++) {
        int id = plan->steps[si].node_id;
        const qp_node *n = &g->nodes[id];
        if (ls.d[id].fused_into >= 0) continue;
        if (ls.d[id].int8) {
            const qp_q8_op *q8 = qp_q8_find(n);
            unsigned din = q8->data_inputs(plan, n), dout = q8->data_outputs(plan, n);
            for (int k = 0; k < n->n_inputs; k++)
                if (n->inputs[k] >= 0 && (din & (1u << k))) ls.need_u8[n->inputs[k]] = 1;
            for (int k = 0; k < n->n_outputs; k++) {
                int t = k == 0 ? ls.d[id].out_tensor : n->outputs[k];
                if (t >= 0 && (dout & (1u << k))) ls.produced_u8[t] = 1;
            }
        } else {
            for (int k = 0; k < n->n_inputs; k++)
                if (n->inputs[k] >= 0) ls.float_reader[n->inputs[k]] = 1;
        }
    }
    for (int k = 0; k < g->n_outputs; k++) ls.float_reader[g->outputs[k]] = 1;
    for (int t = 0; t < g->n_tensors; t++) {
        if (!ls.need_u8[t] && !ls.produced_u8[t]) continue;
        if (plan->is_const[t]) {
            if ((st = u8_const(&ls, t)) != QP_OK) goto done;
            continue;
        }
        qp_shape shape = plan->values[t].shape;
        if ((ls.u8[t] = qp_plan_add_value(plan, QP_DT_UINT8, &shape)) < 0) {
            st = QP_ERR_NOMEM;
            goto done;
        }
    }

    old = malloc((size_t)(n_old ? n_old : 1) * sizeof *old);
    if (!old) {
        st = qp_error(QP_ERR_NOMEM, "out of memory while planning");
        goto done;
    }
    memcpy(old, plan->steps, (size_t)n_old * sizeof *old);
    plan->n_steps = 0;
    /* Graph inputs: quantized for int8 readers; fp32 readers get a fake-quantized twin so the
     * caller's buffer stays as written. Not observed (the observer sees node outputs only). */
    for (int i = 0; i < plan->n_inputs; i++) {
        int t = plan->input_ids[i];
        if (!float_enc(plan, t)) continue;
        const qp_encoding *enc = qp_encodings_get(plan->options.encodings, t);
        if ((st = qp_check_encoding_shape(g, t, enc, &plan->values[t].shape)) != QP_OK) goto done;
        qp_plan_step *c;
        if (ls.u8[t] >= 0) {
            if ((st = push_conv(plan, QP_STEP_QUANTIZE, t, t, ls.u8[t], &c)) != QP_OK) goto done;
            qp_q8_usable_encoding(plan, t, NULL, &c->act);
        }
        if (ls.float_reader[t]) {
            qp_shape shape = plan->values[t].shape;
            if ((ls.twin[t] = qp_plan_add_value(plan, QP_DT_FLOAT, &shape)) < 0) {
                st = QP_ERR_NOMEM;
                goto done;
            }
            if ((st = push_conv(plan, QP_STEP_FAKE_QUANT, t, t, ls.twin[t], &c)) != QP_OK) goto done;
            c->enc = enc;
        }
    }
    for (int si = 0; si < n_old && st == QP_OK; si++) {
        int id = old[si].node_id;
        if (ls.d[id].fused_into >= 0) continue;
        st = ls.d[id].int8 ? emit_int8(&ls, &old[si]) : emit_fp32(&ls, &old[si]);
    }
done:
    free(old);
    free(ls.d);
    free(ls.u8);
    free(ls.twin);
    free(ls.fq_const);
    free(ls.need_u8);
    free(ls.float_reader);
    free(ls.produced_u8);
    return st;
}
