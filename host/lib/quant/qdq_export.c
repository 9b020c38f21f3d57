/* qdq_export.c — graph + encodings -> QDQ ONNX graph (Q/DQ on activations, int8 weights per channel, int32 biases, opset upgrade to 13+). */
#include "quant/qdq_export.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/int8_ops/q8_ops.h"

static char *dup_str(const char *s) {
    size_t n = strlen(s ? s : "") + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s ? s : "", n);
    return d;
}

static int op_is(const qp_node *n, const char *op) {
    return (n->domain[0] == '\0' || strcmp(n->domain, "ai.onnx") == 0) && strcmp(n->op_type, op) == 0;
}

/* ---- graph-building helpers ------------------------------------------------------------------- */

int qp_qdq_new_tensor(const qp_graph *old, qp_graph *ng, const char *base, const char *suffix) {
    size_t cap = strlen(base) + strlen(suffix) + 24;
    char *name = malloc(cap);
    if (!name) return qp_error(QP_ERR_NOMEM, "out of memory"), -1;
    snprintf(name, cap, "%s%s", base, suffix);
    for (int k = 1; (old && qp_graph_find_tensor(old, name) >= 0) || qp_graph_find_tensor(ng, name) >= 0; k++)
        snprintf(name, cap, "%s%s_%d", base, suffix, k);
    int id = qp_graph_get_or_add_tensor(ng, name);
    free(name);
    return id;
}

int qp_qdq_new_const(const qp_graph *old, qp_graph *ng, const char *base, const char *suffix, qp_dtype dtype,
                     const qp_shape *shape, const void *data) {
    int64_t numel = qp_shape_numel(shape);
    size_t nbytes = (size_t)(numel > 0 ? numel : 0) * qp_dtype_size(dtype);
    void *copy = malloc(nbytes ? nbytes : 1);
    if (!copy) return qp_error(QP_ERR_NOMEM, "out of memory"), -1;
    if (nbytes) memcpy(copy, data, nbytes);
    int id = qp_qdq_new_tensor(old, ng, base, suffix);
    if (id < 0) {
        free(copy);
        return -1;
    }
    qp_tensor_set_data(ng->tensors[id], dtype, shape, copy, nbytes);
    return id;
}

qp_status qp_qdq_copy_attr(qp_node *node, const qp_attr *src) {
    qp_attr *a = qp_node_add_attr(node, src->name, src->type);
    if (!a) return qp_error(QP_ERR_NOMEM, "out of memory copying attribute '%s'", src->name);
    a->f = src->f;
    a->i = src->i;
    a->n = 0;
    if (src->s) {
        a->s = malloc(src->s_len + 1);
        if (!a->s) return qp_error(QP_ERR_NOMEM, "out of memory");
        memcpy(a->s, src->s, src->s_len + 1);
        a->s_len = src->s_len;
    }
    if (src->floats) {
        a->floats = malloc((size_t)(src->n > 0 ? src->n : 1) * sizeof(float));
        if (!a->floats) return qp_error(QP_ERR_NOMEM, "out of memory");
        if (src->n > 0) memcpy(a->floats, src->floats, (size_t)src->n * sizeof(float));
    }
    if (src->ints) {
        a->ints = malloc((size_t)(src->n > 0 ? src->n : 1) * sizeof(int64_t));
        if (!a->ints) return qp_error(QP_ERR_NOMEM, "out of memory");
        if (src->n > 0) memcpy(a->ints, src->ints, (size_t)src->n * sizeof(int64_t));
    }
    if (src->strings) {
        a->strings = calloc((size_t)(src->n > 0 ? src->n : 1), sizeof(char *));
        if (!a->strings) return qp_error(QP_ERR_NOMEM, "out of memory");
        for (int k = 0; k < src->n; k++) {
            a->strings[k] = dup_str(src->strings[k]);
            a->n = k + 1; /* so the graph frees what was copied so far */
            if (!a->strings[k]) return qp_error(QP_ERR_NOMEM, "out of memory");
        }
    }
    a->n = src->n;
    if (src->t) {
        a->t = calloc(1, sizeof *a->t);
        if (!a->t) return qp_error(QP_ERR_NOMEM, "out of memory");
        *a->t = *src->t;
        a->t->data = malloc(src->t->nbytes ? src->t->nbytes : 1);
        if (!a->t->data) return qp_error(QP_ERR_NOMEM, "out of memory");
        if (src->t->nbytes) memcpy(a->t->data, src->t->data, src->t->nbytes);
    }
    return QP_OK;
}

/* ---- the engine's decisions ---------------------------------------------------------------------- */

void qp_qdq_decisions_free(qp_qdq_decisions *d) {
    if (!d) return;
    free(d->skip);
    free(d->int_bias);
    d->skip = d->int_bias = NULL;
}

static qp_status decisions_alloc(const qp_graph *g, qp_qdq_decisions *d) {
    d->n_tensors = g->n_tensors;
    d->n_nodes = g->n_nodes;
    d->skip = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), 1);
    d->int_bias = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), 1);
    if (!d->skip || !d->int_bias) {
        qp_qdq_decisions_free(d);
        return qp_error(QP_ERR_NOMEM, "out of memory");
    }
    return QP_OK;
}

qp_status qp_qdq_engine_decisions(const qp_graph *g, const qp_encodings *enc, const qp_plan_options *base,
                                  qp_qdq_decisions *out, qp_shape **shapes_out) {
    memset(out, 0, sizeof *out);
    if (shapes_out) *shapes_out = NULL;
    qp_plan_options o = {0};
    if (base) o = *base;
    /* An fp32 plan carrying the encodings: its steps are still one per node, which is what the
     * int8 lowering decides on (a lowered int8 plan no longer has that list). */
    o.mode = QP_MODE_FP32;
    o.encodings = enc;
    o.observer = NULL;
    o.observer_user = NULL;
    qp_plan *plan = NULL;
    qp_status st = qp_plan_create(g, &o, &plan);
    if (st != QP_OK) return st;
    qp_q8_decision *d = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *d);
    if (!d) st = qp_error(QP_ERR_NOMEM, "out of memory");
    if (st == QP_OK) st = qp_q8_decide(plan, d);
    if (st == QP_OK) st = decisions_alloc(g, out);
    if (st == QP_OK) {
        for (int id = 0; id < g->n_nodes; id++) {
            const qp_node *n = &g->nodes[id];
            if (d[id].fused_act >= 0 && n->n_outputs > 0 && n->outputs[0] >= 0) out->skip[n->outputs[0]] = 1;
            if (d[id].int8 && (op_is(n, "Conv") || op_is(n, "Gemm")) && n->n_inputs > 2 && n->inputs[2] >= 0)
                out->int_bias[id] = 1;
        }
    }
    if (st == QP_OK && shapes_out) {
        qp_shape *shapes = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *shapes);
        if (!shapes) {
            st = qp_error(QP_ERR_NOMEM, "out of memory");
        } else {
            for (int t = 0; t < g->n_tensors; t++) {
                const qp_value *v = qp_plan_tensor(plan, t);
                shapes[t] = v ? v->shape : (qp_shape){.rank = -1};
            }
            *shapes_out = shapes;
        }
    }
    if (st != QP_OK) qp_qdq_decisions_free(out);
    free(d);
    qp_plan_free(plan);
    return st;
}

static int usable_act(const qp_encodings *enc, int t) {
    const qp_encoding *e = qp_encodings_get(enc, t);
    return e && e->n == 1 && e->bits <= 8;
}

qp_status qp_qdq_static_decisions(const qp_graph *g, const qp_encodings *enc, qp_qdq_decisions *out) {
    memset(out, 0, sizeof *out);
    qp_status st = decisions_alloc(g, out);
    if (st != QP_OK) return st;
    for (int id = 0; id < g->n_nodes; id++) {
        const qp_node *n = &g->nodes[id];
        if (n->n_outputs < 1 || n->outputs[0] < 0) continue;
        int weighted = op_is(n, "Conv") || op_is(n, "Gemm");
        if (weighted || op_is(n, "MatMul") || op_is(n, "Add")) {
            const qp_tensor *o = g->tensors[n->outputs[0]];
            if (!o->is_graph_output && o->n_consumers == 1) {
                const qp_node *a = &g->nodes[o->consumers[0]];
                int fusable = (op_is(a, "Relu") || op_is(a, "Clip")) && a->n_inputs >= 1 && a->inputs[0] == n->outputs[0] &&
                              a->n_outputs >= 1 && a->outputs[0] >= 0 && usable_act(enc, a->outputs[0]);
                for (int k = 1; fusable && k < a->n_inputs; k++)
                    if (a->inputs[k] >= 0 && !g->tensors[a->inputs[k]]->is_initializer) fusable = 0;
                if (fusable) out->skip[n->outputs[0]] = 1;
            }
        }
        if (weighted && n->n_inputs > 2 && n->inputs[0] >= 0 && n->inputs[1] >= 0 && n->inputs[2] >= 0) {
            const qp_encoding *w = qp_encodings_get(enc, n->inputs[1]);
            if (usable_act(enc, n->inputs[0]) && w && w->symmetric && w->bits <= 8 &&
                g->tensors[n->inputs[2]]->is_initializer)
                out->int_bias[id] = 1;
        }
    }
    return QP_OK;
}

/* ---- the rewrite ----------------------------------------------------------------------------------- */

typedef struct xb {
    const qp_graph *g;
    qp_graph *ng;
    const qp_encodings *enc;
    const qp_qdq_export_config *cfg;
    const qp_qdq_decisions *dec;
    qp_qdq_export_stats *stats;
    int64_t old_opset, new_opset;
    unsigned char *act_q, *const_q, *bias_reuse;
    int *dq_of;
    char first_widened[256];
} xb;

/* Quantization parameters as written: storage dtype, scale and zero point per channel, and the
 * encoding's integer range in the storage domain. */
typedef struct qparams {
    qp_dtype dtype;
    int n, axis;
    float *scale;
    int32_t *zp;
    int32_t lo, hi;   /* the encoding's range, shifted into the storage domain */
    int32_t shift;    /* storage value = encoding value + shift */
    int narrower;     /* the encoding holds fewer bits than the storage type */
} qparams;

static void qparams_free(qparams *q) {
    free(q->scale);
    free(q->zp);
}

static const char *tname(const xb *b, int t) { return b->g->tensors[t]->name; }

static qp_status make_qparams(xb *b, int t, const qp_encoding *e, int is_const, qparams *q) {
    memset(q, 0, sizeof *q);
    const char *name = tname(b, t);
    if (e->bits > 16)
        return qp_error(QP_ERR_UNSUPPORTED, "tensor '%s' has a %d-bit encoding; QDQ export writes at most 16 bits",
                        name, e->bits);
    int wide = e->bits > 8;
    if (wide && b->new_opset < 21)
        return qp_error(QP_ERR_UNSUPPORTED,
                        "tensor '%s' has a %d-bit encoding; 16-bit QuantizeLinear needs opset 21 (export_qdq: "
                        "{opset: 21})", name, e->bits);
    if (wide && b->cfg->tensorrt)
        return qp_error(QP_ERR_UNSUPPORTED, "tensor '%s' has a %d-bit encoding; TensorRT's QDQ takes 8-bit only", name,
                        e->bits);
    q->n = e->n;
    q->axis = e->axis;
    q->scale = malloc((size_t)e->n * sizeof *q->scale);
    q->zp = malloc((size_t)e->n * sizeof *q->zp);
    if (!q->scale || !q->zp) return qp_error(QP_ERR_NOMEM, "out of memory");
    int symmetric = e->symmetric;
    for (int c = 0; c < e->n; c++) {
        q->scale[c] = e->scale[c];
        q->zp[c] = e->zero_point[c];
    }
    if (b->cfg->tensorrt && !symmetric) {
        /* TensorRT takes zero points of 0 only: keep the range, lose the offset. */
        int32_t smax = (int32_t)((1u << (e->bits - 1)) - 1);
        for (int c = 0; c < e->n; c++) {
            float m = fmaxf(fabsf(e->min[c]), fabsf(e->max[c])) / (float)smax;
            q->scale[c] = m > 1e-8f ? m : 1e-8f;
            q->zp[c] = 0;
        }
        symmetric = 1;
        if (!b->stats->widened++) snprintf(b->first_widened, sizeof b->first_widened, "%s", name);
    }
    int is_signed;
    if (is_const || b->cfg->tensorrt) is_signed = symmetric;
    else if (b->cfg->activations == QP_QDQ_ACT_UINT8) is_signed = 0;
    else if (b->cfg->activations == QP_QDQ_ACT_INT8) is_signed = 1;
    else is_signed = symmetric;
    if (b->cfg->tensorrt) is_signed = 1;
    int storage_bits = wide ? 16 : 8;
    q->dtype = wide ? (is_signed ? QP_DT_INT16 : QP_DT_UINT16) : (is_signed ? QP_DT_INT8 : QP_DT_UINT8);
    int32_t half = (int32_t)1 << (storage_bits - 1);
    q->shift = symmetric == is_signed ? 0 : symmetric ? half : -half;
    int32_t qmin, qmax;
    qp_quant_range(e->bits, symmetric, &qmin, &qmax);
    q->lo = qmin + q->shift;
    q->hi = qmax + q->shift;
    for (int c = 0; c < e->n; c++) q->zp[c] += q->shift;
    q->narrower = e->bits < storage_bits;
    return QP_OK;
}

/* Scale and zero-point initializers: scalars for per-tensor encodings, 1-D for per-channel. */
static qp_status qparam_consts(xb *b, const char *base, const qparams *q, int *scale_id, int *zp_id) {
    qp_shape shape = q->axis >= 0 ? (qp_shape){.rank = 1, .dims = {q->n}} : (qp_shape){.rank = 0};
    size_t es = qp_dtype_size(q->dtype);
    unsigned char *zp = malloc((size_t)q->n * es);
    if (!zp) return qp_error(QP_ERR_NOMEM, "out of memory");
    for (int c = 0; c < q->n; c++) {
        switch (q->dtype) {
        case QP_DT_INT8: ((int8_t *)zp)[c] = (int8_t)q->zp[c]; break;
        case QP_DT_UINT8: zp[c] = (uint8_t)q->zp[c]; break;
        case QP_DT_INT16: ((int16_t *)zp)[c] = (int16_t)q->zp[c]; break;
        case QP_DT_UINT16: ((uint16_t *)zp)[c] = (uint16_t)q->zp[c]; break;
        default: ((int32_t *)zp)[c] = q->zp[c]; break;
        }
    }
    *scale_id = qp_qdq_new_const(b->g, b->ng, base, "_scale", QP_DT_FLOAT, &shape, q->scale);
    *zp_id = *scale_id < 0 ? -1 : qp_qdq_new_const(b->g, b->ng, base, "_zero_point", q->dtype, &shape, zp);
    free(zp);
    return *zp_id < 0 ? QP_ERR_NOMEM : QP_OK;
}

static int add_node(xb *b, const char *base, const char *suffix, const char *op, const int *ins, int n_in,
                    const int *outs, int n_out) {
    char name[600];
    snprintf(name, sizeof name, "%s%s", base, suffix);
    return qp_graph_add_node(b->ng, name, op, "", ins, n_in, outs, n_out);
}

static qp_status set_int_attr(qp_graph *ng, int node, const char *name, int64_t v) {
    qp_attr *a = qp_node_add_attr(&ng->nodes[node], name, QP_ATTR_INT);
    if (!a) return qp_error(QP_ERR_NOMEM, "out of memory");
    a->i = v;
    return QP_OK;
}

static void copy_meta(qp_graph *ng, int dst, const qp_tensor *src, qp_dtype dtype) {
    qp_tensor *t = ng->tensors[dst];
    t->dtype = dtype;
    t->shape = src->shape;
}

/* Q and DQ after tensor src (an ng id holding old tensor t's float value). out: the DQ output
 * (-1 = a new tensor "<t>_dequantized"). Returns the id consumers read in *dq_out. */
static qp_status emit_qdq(xb *b, int src, int t, int out, int *dq_out) {
    const qp_encoding *e = qp_encodings_get(b->enc, t);
    const qp_tensor *old = b->g->tensors[t];
    qparams q;
    qp_status st = make_qparams(b, t, e, 0, &q);
    int scale_id = -1, zp_id = -1;
    if (st == QP_OK) st = qparam_consts(b, old->name, &q, &scale_id, &zp_id);
    int qid = st == QP_OK ? qp_qdq_new_tensor(b->g, b->ng, old->name, "_quantized") : -1;
    if (st == QP_OK && qid < 0) st = QP_ERR_NOMEM;
    if (st == QP_OK) {
        copy_meta(b->ng, qid, old, q.dtype);
        int ins[3] = {src, scale_id, zp_id};
        int node = add_node(b, old->name, "_QuantizeLinear", "QuantizeLinear", ins, 3, &qid, 1);
        if (node < 0) st = QP_ERR_NOMEM;
        else if (q.axis >= 0) st = set_int_attr(b->ng, node, "axis", q.axis);
    }
    /* Encodings narrower than the storage type clamp to their own range: a Clip after the DQ
     * keeps the file exact (the engine clamps q to [qmin, qmax] of the encoding). */
    int clip = st == QP_OK && q.narrower && q.axis < 0;
    int dq = -1;
    if (st == QP_OK) {
        dq = out >= 0 && !clip ? out : qp_qdq_new_tensor(b->g, b->ng, old->name, "_dequantized");
        if (dq < 0) st = QP_ERR_NOMEM;
    }
    if (st == QP_OK) {
        copy_meta(b->ng, dq, old, QP_DT_FLOAT);
        int ins[3] = {qid, scale_id, zp_id};
        int node = add_node(b, old->name, "_DequantizeLinear", "DequantizeLinear", ins, 3, &dq, 1);
        if (node < 0) st = QP_ERR_NOMEM;
        else if (q.axis >= 0) st = set_int_attr(b->ng, node, "axis", q.axis);
    }
    if (st == QP_OK && clip) {
        float lo = (float)(q.lo - q.zp[0]) * q.scale[0], hi = (float)(q.hi - q.zp[0]) * q.scale[0];
        qp_shape scalar = {.rank = 0};
        int lo_id = qp_qdq_new_const(b->g, b->ng, old->name, "_clip_min", QP_DT_FLOAT, &scalar, &lo);
        int hi_id = lo_id < 0 ? -1 : qp_qdq_new_const(b->g, b->ng, old->name, "_clip_max", QP_DT_FLOAT, &scalar, &hi);
        int clipped = out >= 0 ? out : hi_id < 0 ? -1 : qp_qdq_new_tensor(b->g, b->ng, old->name, "_clipped");
        if (clipped < 0) {
            st = QP_ERR_NOMEM;
        } else {
            copy_meta(b->ng, clipped, old, QP_DT_FLOAT);
            int ins[3] = {dq, lo_id, hi_id};
            if (add_node(b, old->name, "_Clip", "Clip", ins, 3, &clipped, 1) < 0) st = QP_ERR_NOMEM;
            dq = clipped;
        }
    }
    qparams_free(&q);
    if (st != QP_OK) return st;
    b->stats->activations++;
    *dq_out = dq;
    return QP_OK;
}

/* Channel count and inner size of a per-channel encoding over shape, or an error. */
static qp_status channel_geometry(const xb *b, int t, const qp_encoding *e, const qp_shape *shape, int64_t *inner) {
    *inner = 1;
    if (e->axis < 0) return e->n == 1 ? QP_OK : qp_error(QP_ERR_INVALID_ARG, "tensor '%s': %d channels without an axis", tname(b, t), e->n);
    char buf[128];
    if (e->axis >= shape->rank || shape->dims[e->axis] != e->n)
        return qp_error(QP_ERR_SHAPE, "tensor '%s': encoding has %d channels on axis %d but the tensor has shape %s",
                        tname(b, t), e->n, e->axis, qp_shape_str(shape, buf, sizeof buf));
    for (int d = e->axis + 1; d < shape->rank; d++) *inner *= shape->dims[d];
    return QP_OK;
}

/* A constant with an encoding (a weight): stored quantized, exactly as the engine rounds it
 * (round half to even, clamp to the encoding's range), behind a DQ named like the constant. */
static qp_status emit_weight(xb *b, int t) {
    const qp_encoding *e = qp_encodings_get(b->enc, t);
    const qp_tensor *old = b->g->tensors[t];
    int64_t inner;
    qp_status st = channel_geometry(b, t, e, &old->shape, &inner);
    if (st != QP_OK) return st;
    qparams q;
    if ((st = make_qparams(b, t, e, 1, &q)) != QP_OK) {
        qparams_free(&q);
        return st;
    }
    int64_t numel = qp_shape_numel(&old->shape);
    size_t es = qp_dtype_size(q.dtype);
    unsigned char *data = malloc((size_t)(numel > 0 ? numel : 1) * es);
    if (!data) st = qp_error(QP_ERR_NOMEM, "out of memory quantizing '%s'", old->name);
    const float *w = old->data;
    int32_t qmin = q.lo - q.shift, qmax = q.hi - q.shift;
    for (int64_t i = 0; st == QP_OK && i < numel; i++) {
        int64_t c = e->n > 1 ? (i / inner) % e->n : 0;
        /* In the encoding's own domain first (zero point and range before the storage shift),
         * so the integer is the one the engine computes. */
        float v = nearbyintf(w[i] / q.scale[c]) + (float)(q.zp[c] - q.shift);
        v = v < (float)qmin ? (float)qmin : v > (float)qmax ? (float)qmax : v;
        int32_t s = (int32_t)v + q.shift;
        switch (q.dtype) {
        case QP_DT_INT8: ((int8_t *)data)[i] = (int8_t)s; break;
        case QP_DT_UINT8: data[i] = (uint8_t)s; break;
        case QP_DT_INT16: ((int16_t *)data)[i] = (int16_t)s; break;
        default: ((uint16_t *)data)[i] = (uint16_t)s; break;
        }
    }
    int scale_id = -1, zp_id = -1, qid = -1;
    if (st == QP_OK) st = qparam_consts(b, old->name, &q, &scale_id, &zp_id);
    if (st == QP_OK) {
        qid = qp_qdq_new_const(b->g, b->ng, old->name, "_quantized", q.dtype, &old->shape, data);
        if (qid < 0) st = QP_ERR_NOMEM;
    }
    if (st == QP_OK) {
        int ins[3] = {qid, scale_id, zp_id};
        int node = add_node(b, old->name, "_DequantizeLinear", "DequantizeLinear", ins, 3, &t, 1);
        if (node < 0) st = QP_ERR_NOMEM;
        else if (q.axis >= 0) st = set_int_attr(b->ng, node, "axis", q.axis);
    }
    free(data);
    qparams_free(&q);
    if (st == QP_OK) b->stats->weights++;
    return st;
}

/* Output channels of an int8 Conv/Gemm whose bias the engine rounds to int32, or 0 when the
 * node's bias is not one it quantizes (it then stays float). */
static int64_t bias_channels(const qp_graph *g, const qp_encodings *enc, int node_id) {
    const qp_node *n = &g->nodes[node_id];
    if (n->n_inputs < 3 || n->inputs[0] < 0 || n->inputs[1] < 0 || n->inputs[2] < 0) return 0;
    const qp_tensor *bias = g->tensors[n->inputs[2]], *w = g->tensors[n->inputs[1]];
    const qp_encoding *in_e = qp_encodings_get(enc, n->inputs[0]), *w_e = qp_encodings_get(enc, n->inputs[1]);
    if (!in_e || !w_e || in_e->n != 1 || !bias->is_initializer || !bias->data || bias->dtype != QP_DT_FLOAT ||
        w->shape.rank < 2)
        return 0;
    int64_t n_out = op_is(n, "Conv") || qp_node_attr_int(n, "transB", 0) ? w->shape.dims[0] : w->shape.dims[1];
    int64_t n_b = qp_shape_numel(&bias->shape);
    if (n_out < 1 || (n_b != 1 && n_b != n_out) || (w_e->n != 1 && w_e->n != n_out)) return 0;
    return n_out;
}

/* Bias of an int8 Conv/Gemm as the engine holds it: int32 at scale s_in * s_w[c]. */
static qp_status emit_bias(xb *b, int node_id, int *out) {
    const qp_node *n = &b->g->nodes[node_id];
    int bt = n->inputs[2];
    const qp_tensor *bias = b->g->tensors[bt];
    const qp_encoding *in_e = qp_encodings_get(b->enc, n->inputs[0]), *w_e = qp_encodings_get(b->enc, n->inputs[1]);
    int64_t n_out = bias_channels(b->g, b->enc, node_id);
    if (n_out == 0) {
        *out = bt; /* not what the engine quantizes: leave it float */
        return QP_OK;
    }
    int64_t n_b = qp_shape_numel(&bias->shape);
    int32_t *qb = malloc((size_t)n_out * sizeof *qb), *zp = calloc((size_t)n_out, sizeof *zp);
    float *scales = malloc((size_t)n_out * sizeof *scales);
    qp_status st = qb && zp && scales ? QP_OK : qp_error(QP_ERR_NOMEM, "out of memory");
    if (st == QP_OK) qp_q8_quantize_bias(bias->data, n_b, n_out, in_e->scale[0], w_e, qb, scales);
    int per_channel = w_e->n > 1;
    qp_shape vec = {.rank = 1, .dims = {n_out}}, scalar = {.rank = 0};
    int q_id = -1, s_id = -1, z_id = -1, dq = -1;
    if (st == QP_OK) {
        q_id = qp_qdq_new_const(b->g, b->ng, bias->name, "_quantized", QP_DT_INT32, &vec, qb);
        s_id = q_id < 0 ? -1 : qp_qdq_new_const(b->g, b->ng, bias->name, "_scale", QP_DT_FLOAT, per_channel ? &vec : &scalar, scales);
        z_id = s_id < 0 ? -1 : qp_qdq_new_const(b->g, b->ng, bias->name, "_zero_point", QP_DT_INT32, per_channel ? &vec : &scalar, zp);
        dq = z_id < 0 ? -1 : b->bias_reuse[bt] ? bt : qp_qdq_new_tensor(b->g, b->ng, bias->name, "_dequantized");
        if (dq < 0) st = QP_ERR_NOMEM;
    }
    if (st == QP_OK) {
        b->ng->tensors[dq]->dtype = QP_DT_FLOAT;
        b->ng->tensors[dq]->shape = vec;
        int ins[3] = {q_id, s_id, z_id};
        int node = add_node(b, bias->name, "_DequantizeLinear", "DequantizeLinear", ins, 3, &dq, 1);
        if (node < 0) st = QP_ERR_NOMEM;
        else if (per_channel) st = set_int_attr(b->ng, node, "axis", 0);
    }
    free(qb);
    free(zp);
    free(scales);
    if (st == QP_OK) {
        b->stats->biases++;
        *out = dq;
    }
    return st;
}

/* ---- opset upgrade ------------------------------------------------------------------------------------ */

static int has_attr(const qp_node *n, const char *name) { return qp_node_attr(n, name) != NULL; }

/* An INTS attribute as an int64 initializer input (-1 when the attribute is absent). */
static int ints_input(xb *b, const qp_node *n, const char *attr, const char *suffix, int *id) {
    int count = 0;
    const int64_t *v = qp_node_attr_ints(n, attr, &count);
    *id = -1;
    if (!v) return 0;
    qp_shape shape = {.rank = 1, .dims = {count}};
    *id = qp_qdq_new_const(b->g, b->ng, n->name[0] ? n->name : n->op_type, suffix, QP_DT_INT64, &shape, v);
    return *id < 0 ? -1 : 0;
}

static int float_input(xb *b, const qp_node *n, const char *attr, const char *suffix, int *id) {
    const qp_attr *a = qp_node_attr(n, attr);
    *id = -1;
    if (!a) return 0;
    qp_shape scalar = {.rank = 0};
    *id = qp_qdq_new_const(b->g, b->ng, n->name[0] ? n->name : n->op_type, suffix, QP_DT_FLOAT, &scalar, &a->f);
    return *id < 0 ? -1 : 0;
}

static int in_list(const char *s, const char *const *list) {
    for (; *list; list++)
        if (strcmp(s, *list) == 0) return 1;
    return 0;
}

static qp_status upgrade_refused(const xb *b, const qp_node *n, const char *why) {
    return qp_error(QP_ERR_UNSUPPORTED, "node '%s' (%s): cannot upgrade from opset %lld to %lld for QDQ export: %s",
                    n->name, n->op_type, (long long)b->old_opset, (long long)b->new_opset, why);
}

/* Copies node n into ng with inputs ins (already remapped), rewriting what changed between the
 * model's opset and the export's: attributes that became inputs, dropped attributes, and the
 * pre-13 Softmax family's 2-D coercion. */
static qp_status emit_node(xb *b, int node_id, const int *ins) {
    const qp_node *n = &b->g->nodes[node_id];
    int64_t from = b->old_opset, to = b->new_opset;
    int onnx = n->domain[0] == '\0' || strcmp(n->domain, "ai.onnx") == 0;
    int extra[4] = {-1, -1, -1, -1}, n_extra = 0, keep_inputs = n->n_inputs;
    const char *drop[4] = {NULL, NULL, NULL, NULL};
    int rewritten = 0;
    const char *op = n->op_type;
    if (onnx && from > 0 && from < to) {
        static const char *const reduce18[] = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                                               "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", NULL};
        static const char *const legacy_binary[] = {"Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal",
                                                    "Greater", "Less", "PRelu", NULL};
        if (strcmp(op, "Upsample") == 0) return upgrade_refused(b, n, "Upsample was removed; re-export the model with Resize");
        if (strcmp(op, "Resize") == 0 && from < 11)
            return upgrade_refused(b, n, "Resize-10 semantics differ from Resize-11 (re-export the model at opset >= 11)");
        if (strcmp(op, "Reshape") == 0 && from < 5 && has_attr(n, "shape"))
            return upgrade_refused(b, n, "Reshape with a 'shape' attribute (opset < 5)");
        if (from < 7 && in_list(op, legacy_binary) && qp_node_attr_int(n, "broadcast", 0) != 0)
            return upgrade_refused(b, n, "legacy 'broadcast'/'axis' attributes (opset < 7)");
        if (from < 7) drop[0] = "broadcast", drop[1] = "consumed_inputs", drop[2] = "is_test";
        if (((strcmp(op, "Squeeze") == 0 || strcmp(op, "Unsqueeze") == 0 || strcmp(op, "ReduceSum") == 0) && from < 13) ||
            (in_list(op, reduce18) && from < 18 && to >= 18)) {
            if (has_attr(n, "axes")) {
                if (ints_input(b, n, "axes", "_axes", &extra[0]) < 0) return QP_ERR_NOMEM;
                keep_inputs = 1, n_extra = 1, drop[3] = "axes", rewritten = 1;
            }
        } else if (strcmp(op, "Split") == 0 && from < 13) {
            if (has_attr(n, "split")) {
                if (ints_input(b, n, "split", "_split", &extra[0]) < 0) return QP_ERR_NOMEM;
                keep_inputs = 1, n_extra = 1, drop[3] = "split", rewritten = 1;
            }
        } else if (strcmp(op, "Clip") == 0 && from < 11) {
            if (float_input(b, n, "min", "_min", &extra[0]) < 0 || float_input(b, n, "max", "_max", &extra[1]) < 0)
                return QP_ERR_NOMEM;
            keep_inputs = 1, n_extra = extra[1] >= 0 ? 2 : extra[0] >= 0 ? 1 : 0;
            drop[2] = "min", drop[3] = "max", rewritten = 1;
        } else if (strcmp(op, "Pad") == 0 && from < 11) {
            if (ints_input(b, n, "pads", "_pads", &extra[0]) < 0 || float_input(b, n, "value", "_value", &extra[1]) < 0)
                return QP_ERR_NOMEM;
            keep_inputs = 1, n_extra = extra[1] >= 0 ? 2 : 1;
            drop[2] = "pads", drop[3] = "value", rewritten = 1;
        } else if (strcmp(op, "Slice") == 0 && from < 10) {
            if (ints_input(b, n, "starts", "_starts", &extra[0]) < 0 || ints_input(b, n, "ends", "_ends", &extra[1]) < 0 ||
                ints_input(b, n, "axes", "_axes", &extra[2]) < 0)
                return QP_ERR_NOMEM;
            keep_inputs = 1, n_extra = extra[2] >= 0 ? 3 : 2;
            drop[1] = "starts", drop[2] = "ends", drop[3] = "axes", rewritten = 1;
        } else if (strcmp(op, "TopK") == 0 && from < 10) {
            int64_t k = qp_node_attr_int(n, "k", 1);
            qp_shape one = {.rank = 1, .dims = {1}};
            extra[0] = qp_qdq_new_const(b->g, b->ng, n->name, "_k", QP_DT_INT64, &one, &k);
            if (extra[0] < 0) return QP_ERR_NOMEM;
            keep_inputs = 1, n_extra = 1, drop[3] = "k", rewritten = 1;
        } else if (strcmp(op, "Dropout") == 0 && from < 12) {
            drop[2] = "ratio", drop[3] = "is_test", rewritten = 1;
        } else if (strcmp(op, "BatchNormalization") == 0 && from < 9) {
            drop[3] = "spatial", rewritten = 1;
        } else if ((strcmp(op, "Softmax") == 0 || strcmp(op, "LogSoftmax") == 0 || strcmp(op, "Hardmax") == 0) && from < 13) {
            /* Before 13 the input was coerced to 2-D at axis; from 13 the op works along one axis.
             * Same result when axis is the last one or every later dim is 1. */
            int x = n->inputs[0];
            const qp_shape *s = b->cfg->shapes ? &b->cfg->shapes[x] : &b->g->tensors[x]->shape;
            if (s->rank < 1) return upgrade_refused(b, n, "the input's rank is unknown (plan the model first)");
            int64_t axis = qp_node_attr_int(n, "axis", 1);
            if (axis < 0) axis += s->rank;
            if (axis < 0 || axis >= s->rank) return upgrade_refused(b, n, "axis out of range");
            int trailing_ones = 1;
            for (int d = (int)axis + 1; d < s->rank; d++) trailing_ones &= s->dims[d] == 1;
            b->stats->upgraded++;
            if (axis == s->rank - 1 || trailing_ones) {
                int id = qp_graph_add_node(b->ng, n->name, op, "", ins, n->n_inputs, n->outputs, n->n_outputs);
                if (id < 0) return QP_ERR_NOMEM;
                return set_int_attr(b->ng, id, "axis", axis);
            }
            const char *base = n->name[0] ? n->name : op;
            int flat = qp_qdq_new_tensor(b->g, b->ng, base, "_2d"), soft = flat < 0 ? -1 : qp_qdq_new_tensor(b->g, b->ng, base, "_2d_out");
            int shape = soft < 0 ? -1 : qp_qdq_new_tensor(b->g, b->ng, base, "_shape");
            if (shape < 0) return QP_ERR_NOMEM;
            int f = add_node(b, base, "_flatten", "Flatten", ins, 1, &flat, 1);
            if (f < 0 || set_int_attr(b->ng, f, "axis", axis) != QP_OK) return QP_ERR_NOMEM;
            int sm = qp_graph_add_node(b->ng, n->name, op, "", &flat, 1, &soft, 1);
            if (sm < 0 || set_int_attr(b->ng, sm, "axis", 1) != QP_OK) return QP_ERR_NOMEM;
            if (add_node(b, base, "_shape", "Shape", ins, 1, &shape, 1) < 0) return QP_ERR_NOMEM;
            int rin[2] = {soft, shape};
            return add_node(b, base, "_reshape", "Reshape", rin, 2, n->outputs, 1) < 0 ? QP_ERR_NOMEM : QP_OK;
        } else if (strcmp(op, "Gemm") == 0 && from < 7) {
            drop[0] = "broadcast", rewritten = 1;
        }
        if (from < 7) rewritten = rewritten || has_attr(n, "consumed_inputs") || has_attr(n, "is_test");
    }
    if (n_extra == 0 || keep_inputs > n->n_inputs) keep_inputs = n->n_inputs; /* nothing moved */
    int total = keep_inputs + n_extra;
    int all_ins[64];
    if (total > 64) return qp_error(QP_ERR_UNSUPPORTED, "node '%s' has %d inputs; the exporter takes at most 64", n->name, total);
    for (int k = 0; k < keep_inputs; k++) all_ins[k] = ins[k];
    for (int k = 0; k < n_extra; k++) all_ins[keep_inputs + k] = extra[k];
    int id = qp_graph_add_node(b->ng, n->name, n->op_type, n->domain, all_ins, total, n->outputs, n->n_outputs);
    if (id < 0) return QP_ERR_NOMEM;
    for (int a = 0; a < n->n_attrs; a++) {
        const qp_attr *attr = &n->attrs[a];
        int dropped = 0;
        for (int k = 0; k < 4; k++) dropped |= drop[k] && strcmp(drop[k], attr->name) == 0;
        if (dropped) continue;
        qp_status st = qp_qdq_copy_attr(&b->ng->nodes[id], attr);
        if (st != QP_OK) return st;
    }
    if (rewritten) b->stats->upgraded++;
    return QP_OK;
}

/* IR version an opset needs (ONNX's versioning table). */
static int64_t ir_for_opset(int64_t opset) {
    if (opset >= 21) return 10;
    if (opset >= 19) return 9;
    if (opset >= 14) return 8;
    return 7;
}

static void warn(const xb *b, const char *fmt, ...) QP_PRINTF(2, 3);
static void warn(const xb *b, const char *fmt, ...) {
    if (!b->cfg->warn) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    b->cfg->warn(b->cfg->warn_user, msg);
}

static qp_status build(xb *b) {
    const qp_graph *g = b->g;
    qp_graph *ng = b->ng;
    int nt = g->n_tensors;
    qp_status st = QP_OK;
    ng->name = dup_str(g->name);
    ng->producer_name = dup_str("qpipe");
    ng->ir_version = g->ir_version > ir_for_opset(b->new_opset) ? g->ir_version : ir_for_opset(b->new_opset);
    int has_default = 0;
    ng->opsets = calloc((size_t)g->n_opsets + 1, sizeof *ng->opsets);
    if (!ng->name || !ng->producer_name || !ng->opsets) return qp_error(QP_ERR_NOMEM, "out of memory");
    for (int k = 0; k < g->n_opsets; k++) {
        const char *d = g->opsets[k].domain ? g->opsets[k].domain : "";
        int is_default = d[0] == '\0' || strcmp(d, "ai.onnx") == 0;
        ng->opsets[k] = (qp_opset){dup_str(is_default ? "" : d), is_default ? b->new_opset : g->opsets[k].version};
        ng->n_opsets = k + 1;
        if (!ng->opsets[k].domain) return qp_error(QP_ERR_NOMEM, "out of memory");
        has_default |= is_default;
    }
    if (!has_default) {
        ng->opsets[ng->n_opsets] = (qp_opset){dup_str(""), b->new_opset};
        if (!ng->opsets[ng->n_opsets++].domain) return qp_error(QP_ERR_NOMEM, "out of memory");
    }

    /* Tensors keep their ids; a quantized graph output gives its name to the DQ that ends it. */
    for (int t = 0; t < nt; t++) {
        const qp_tensor *src = g->tensors[t];
        int id;
        if (b->act_q[t] && src->is_graph_output && !src->is_graph_input) {
            id = qp_qdq_new_tensor(g, ng, src->name, "_float");
        } else {
            id = qp_graph_get_or_add_tensor(ng, src->name);
        }
        if (id != t) return id < 0 ? QP_ERR_NOMEM : qp_error(QP_ERR_INTERNAL, "tensor ids diverged at '%s'", src->name);
        qp_tensor *dst = ng->tensors[id];
        dst->dtype = src->dtype;
        dst->shape = src->shape;
        for (int d = 0; d < QP_MAX_RANK; d++)
            if (src->dim_param[d] && !(dst->dim_param[d] = dup_str(src->dim_param[d]))) return qp_error(QP_ERR_NOMEM, "out of memory");
        dst->is_graph_input = src->is_graph_input;
        if (src->is_initializer && !b->const_q[t] && !b->bias_reuse[t]) {
            void *copy = malloc(src->nbytes ? src->nbytes : 1);
            if (!copy) return qp_error(QP_ERR_NOMEM, "out of memory");
            if (src->nbytes) memcpy(copy, src->data, src->nbytes);
            qp_tensor_set_data(dst, src->dtype, &src->shape, copy, src->nbytes);
        }
    }
    ng->inputs = malloc((size_t)(g->n_inputs ? g->n_inputs : 1) * sizeof(int));
    ng->outputs = malloc((size_t)(g->n_outputs ? g->n_outputs : 1) * sizeof(int));
    if (!ng->inputs || !ng->outputs) return qp_error(QP_ERR_NOMEM, "out of memory");
    memcpy(ng->inputs, g->inputs, (size_t)g->n_inputs * sizeof(int));
    ng->n_inputs = g->n_inputs;

    for (int t = 0; t < nt && st == QP_OK; t++)
        if (b->const_q[t]) st = emit_weight(b, t);
    for (int i = 0; i < g->n_inputs && st == QP_OK; i++) {
        int t = g->inputs[i];
        if (b->act_q[t]) st = emit_qdq(b, t, t, -1, &b->dq_of[t]);
    }
    for (int id = 0; id < g->n_nodes && st == QP_OK; id++) {
        const qp_node *n = &g->nodes[id];
        int ins[64];
        if (n->n_inputs > 64) return qp_error(QP_ERR_UNSUPPORTED, "node '%s' has %d inputs; the exporter takes at most 64", n->name, n->n_inputs);
        for (int k = 0; k < n->n_inputs && st == QP_OK; k++) {
            int t = n->inputs[k];
            ins[k] = t;
            if (t < 0) continue;
            if (k == 2 && b->dec->int_bias[id] && !b->cfg->tensorrt) st = emit_bias(b, id, &ins[k]);
            else if (b->dq_of[t] >= 0) ins[k] = b->dq_of[t];
        }
        if (st == QP_OK) st = emit_node(b, id, ins);
        for (int k = 0; k < n->n_outputs && st == QP_OK; k++) {
            int o = n->outputs[k];
            if (o < 0 || !b->act_q[o]) continue;
            const qp_tensor *t = g->tensors[o];
            if (!t->n_consumers && !t->is_graph_output) continue;
            int out = -1;
            if (t->is_graph_output) {
                out = qp_graph_get_or_add_tensor(ng, t->name);
                if (out < 0) return QP_ERR_NOMEM;
            }
            st = emit_qdq(b, o, o, out, &b->dq_of[o]);
        }
    }
    if (st != QP_OK) return st;
    for (int i = 0; i < g->n_outputs; i++) {
        int t = g->outputs[i];
        ng->outputs[i] = b->dq_of[t] >= 0 && !g->tensors[t]->is_graph_input ? b->dq_of[t] : t;
    }
    ng->n_outputs = g->n_outputs;
    return qp_graph_finalize(ng);
}

qp_status qp_qdq_export_graph(const qp_graph *g, const qp_encodings *enc, const qp_qdq_export_config *config,
                              qp_graph **out, qp_qdq_export_stats *stats_out) {
    *out = NULL;
    if (!g || !enc || !config) return qp_error(QP_ERR_INVALID_ARG, "qp_qdq_export_graph: NULL argument");
    if (config->opset != 0 && config->opset < 13)
        return qp_error(QP_ERR_INVALID_ARG, "QDQ export needs opset >= 13 (per-channel DequantizeLinear), got %lld",
                        (long long)config->opset);
    if (config->activations < QP_QDQ_ACT_AUTO || config->activations > QP_QDQ_ACT_INT8)
        return qp_error(QP_ERR_INVALID_ARG, "activation type %d (allowed: auto, uint8, int8)", config->activations);
    qp_qdq_export_stats stats = {0};
    xb b = {.g = g, .enc = enc, .cfg = config, .stats = &stats};
    qp_qdq_decisions own = {0};
    qp_status st = QP_OK;
    if (config->decisions) {
        if (config->decisions->n_tensors != g->n_tensors || config->decisions->n_nodes != g->n_nodes)
            return qp_error(QP_ERR_INVALID_ARG, "QDQ export: decisions were made for another graph");
        b.dec = config->decisions;
    } else {
        if ((st = qp_qdq_static_decisions(g, enc, &own)) != QP_OK) return st;
        b.dec = &own;
    }
    int64_t want = config->opset ? config->opset : 13;
    b.old_opset = qp_graph_opset(g, "");
    b.new_opset = b.old_opset > want ? b.old_opset : want;
    size_t nt = (size_t)(g->n_tensors ? g->n_tensors : 1);
    b.act_q = calloc(nt, 1);
    b.const_q = calloc(nt, 1);
    b.bias_reuse = calloc(nt, 1);
    b.dq_of = malloc(nt * sizeof *b.dq_of);
    b.ng = qp_graph_new();
    if (!b.act_q || !b.const_q || !b.bias_reuse || !b.dq_of || !b.ng) st = qp_error(QP_ERR_NOMEM, "out of memory");
    for (int t = 0; st == QP_OK && t < g->n_tensors; t++) {
        const qp_tensor *tensor = g->tensors[t];
        b.dq_of[t] = -1;
        if (!qp_encodings_get(enc, t)) continue;
        int is_float = tensor->dtype == QP_DT_FLOAT || tensor->dtype == QP_DT_UNDEFINED;
        if (tensor->is_initializer) b.const_q[t] = tensor->data && tensor->dtype == QP_DT_FLOAT;
        else b.act_q[t] = is_float && !b.dec->skip[t];
    }
    for (int id = 0; st == QP_OK && id < g->n_nodes; id++) {
        const qp_node *n = &g->nodes[id];
        if (!b.dec->int_bias[id] || config->tensorrt || n->n_inputs < 3 || n->inputs[2] < 0) continue;
        int bt = n->inputs[2];
        const qp_tensor *bias = g->tensors[bt];
        /* The DQ output can take the bias's own name when nothing else reads the float bias. */
        b.bias_reuse[bt] = bias->n_consumers == 1 && !bias->is_graph_output && !b.const_q[bt] &&
                           bias_channels(g, enc, id) > 0;
    }
    if (st == QP_OK) st = build(&b);
    if (st == QP_OK && stats.widened)
        warn(&b, "TensorRT mode: %d asymmetric encoding%s widened to symmetric ones (first: '%s'); qpipe's own engine "
                 "uses the asymmetric ones, so the file differs from it there (set quant.activations.symmetric: true "
                 "for a file that matches)", stats.widened, stats.widened == 1 ? "" : "s", b.first_widened);
    if (st == QP_OK && b.new_opset != b.old_opset && stats.upgraded)
        warn(&b, "opset %lld -> %lld: %d node%s rewritten (attributes that became inputs)", (long long)b.old_opset,
             (long long)b.new_opset, stats.upgraded, stats.upgraded == 1 ? "" : "s");
    stats.opset = b.new_opset;
    free(b.act_q);
    free(b.const_q);
    free(b.bias_reuse);
    free(b.dq_of);
    qp_qdq_decisions_free(&own);
    if (st != QP_OK) {
        qp_graph_free(b.ng);
        return st;
    }
    if (stats_out) *stats_out = stats;
    *out = b.ng;
    return QP_OK;
}
