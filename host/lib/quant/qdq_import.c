/* qdq_import.c — QDQ / QOperator ONNX graphs to a float graph with encodings: folds weight DQs, removes activation Q->DQ pairs, converts QLinear* ops. */
#include "quant/qdq_import.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_import.h"
#include "quant/qdq_export.h"

/* Quantization parameters read from a Q/DQ/QLinear node's constant inputs. */
typedef struct qparm {
    qp_dtype dtype; /* type of the quantized values */
    int n;          /* 1 = per-tensor */
    int axis;       /* normalized axis when n > 1, else -1 */
    float *scale;
    int32_t *zp;
} qparm;

typedef struct ib {
    const qp_graph *g;
    qp_graph *ng;
    qp_encodings *enc;
    qp_qdq_import_stats *stats;
    int *vid;      /* [old tensor] ng id holding the old tensor's own value (same dtype), -1 = not made */
    int *fid;      /* [old tensor] quantized tensors: ng id of the dequantized float value */
    int *qp;       /* [old tensor] quantized tensors: index into params, -1 = not a quantized value */
    int *wfold;    /* [old tensor] integer initializer folded to float: ng id */
    int *wfold_qp; /* params of that fold */
    unsigned char *copy_q; /* [old tensor] quantize copies of it: it has readers besides Q nodes
                            * of one parameter set (the engine replaces an encoded tensor's
                            * values for every reader, the file does not) */
    qparm *params;
    int n_params, cap_params;
} ib;

static int op_is(const qp_node *n, const char *op) {
    return (n->domain[0] == '\0' || strcmp(n->domain, "ai.onnx") == 0) && strcmp(n->op_type, op) == 0;
}
static int ms_op_is(const qp_node *n, const char *op) {
    return strcmp(n->domain, "com.microsoft") == 0 && strcmp(n->op_type, op) == 0;
}

int qp_qdq_is_quantized(const qp_graph *g) {
    for (int id = 0; g && id < g->n_nodes; id++) {
        const qp_node *n = &g->nodes[id];
        if (op_is(n, "QuantizeLinear") || op_is(n, "DequantizeLinear") || strncmp(n->op_type, "QLinear", 7) == 0 ||
            ms_op_is(n, "QGemm"))
            return 1;
    }
    return 0;
}

static const qp_tensor *T(const ib *b, int t) { return b->g->tensors[t]; }
static int is_const(const ib *b, int t) { return t >= 0 && T(b, t)->is_initializer && T(b, t)->data; }

static int is_int_dtype(qp_dtype dt) {
    return dt == QP_DT_UINT8 || dt == QP_DT_INT8 || dt == QP_DT_UINT16 || dt == QP_DT_INT16 || dt == QP_DT_INT32;
}

static int32_t read_int(const void *data, qp_dtype dt, int64_t i) {
    switch (dt) {
    case QP_DT_UINT8: return ((const uint8_t *)data)[i];
    case QP_DT_INT8: return ((const int8_t *)data)[i];
    case QP_DT_UINT16: return ((const uint16_t *)data)[i];
    case QP_DT_INT16: return ((const int16_t *)data)[i];
    default: return ((const int32_t *)data)[i];
    }
}

/* ---- quantization parameters ------------------------------------------------------------------ */

/* Reads (scale, zero point) constants into the params table. value_dtype is the quantized
 * type when the zero point is absent (ONNX: the input's type for DQ, uint8 for Q); axis_attr
 * and rank place a per-axis scale. Returns the index, or -1 when they are not constants of a
 * form qpipe folds (the node is then kept as it is). */
static int read_params(ib *b, int scale_t, int zp_t, qp_dtype value_dtype, int64_t axis_attr, int rank) {
    if (scale_t < 0 || !is_const(b, scale_t) || T(b, scale_t)->dtype != QP_DT_FLOAT) return -1;
    const qp_tensor *s = T(b, scale_t);
    int64_t n = qp_shape_numel(&s->shape);
    if (n < 1 || s->shape.rank > 1 || n > (1 << 24)) return -1;
    qp_dtype dt = value_dtype;
    if (zp_t >= 0) {
        if (!is_const(b, zp_t)) return -1;
        const qp_tensor *z = T(b, zp_t);
        if (qp_shape_numel(&z->shape) != n || !is_int_dtype(z->dtype)) return -1;
        dt = z->dtype;
    }
    if (!is_int_dtype(dt)) dt = QP_DT_UINT8;
    int axis = -1;
    if (n > 1) {
        if (rank < 1) return -1;
        axis = (int)(axis_attr < 0 ? axis_attr + rank : axis_attr);
        if (axis < 0 || axis >= rank) return -1;
    }
    if (b->n_params == b->cap_params) {
        int cap = b->cap_params ? b->cap_params * 2 : 64;
        qparm *grown = realloc(b->params, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        b->params = grown;
        b->cap_params = cap;
    }
    qparm *p = &b->params[b->n_params];
    p->scale = malloc((size_t)n * sizeof *p->scale);
    p->zp = malloc((size_t)n * sizeof *p->zp);
    if (!p->scale || !p->zp) {
        free(p->scale);
        free(p->zp);
        return -1;
    }
    memcpy(p->scale, s->data, (size_t)n * sizeof(float));
    for (int64_t c = 0; c < n; c++) p->zp[c] = zp_t >= 0 ? read_int(T(b, zp_t)->data, dt, c) : 0;
    p->dtype = dt;
    p->n = (int)n;
    p->axis = axis;
    return b->n_params++;
}

static int params_equal(const ib *b, int i, int j) {
    if (i == j) return 1;
    if (i < 0 || j < 0) return 0;
    const qparm *p = &b->params[i], *q = &b->params[j];
    return p->dtype == q->dtype && p->n == q->n && p->axis == q->axis &&
           memcmp(p->scale, q->scale, (size_t)p->n * sizeof(float)) == 0 &&
           memcmp(p->zp, q->zp, (size_t)p->n * sizeof(int32_t)) == 0;
}

/* qpipe's encoding model for a parameter set: uint8 -> asymmetric; int8 with zero point 0 ->
 * symmetric for weights (the int8 kernels want symmetric weights); other int8 -> asymmetric with
 * zero point + 128, which holds exactly the same values. Returns 0 for types without one. */
static int to_encoding(const qparm *p, int weight, int *bits, int *sym, int32_t *zp) {
    int half;
    switch (p->dtype) {
    case QP_DT_UINT8: *bits = 8, *sym = 0, half = 0; break;
    case QP_DT_UINT16: *bits = 16, *sym = 0, half = 0; break;
    case QP_DT_INT8: *bits = 8, half = 128; break;
    case QP_DT_INT16: *bits = 16, half = 32768; break;
    default: return 0;
    }
    if (p->dtype == QP_DT_INT8 || p->dtype == QP_DT_INT16) {
        int all_zero = 1;
        for (int c = 0; c < p->n; c++) all_zero &= p->zp[c] == 0;
        *sym = weight && all_zero;
        if (*sym) half = 0;
    }
    for (int c = 0; c < p->n; c++) zp[c] = p->zp[c] + half;
    return 1;
}

/* Records parameter set pi as ng tensor id's encoding (no-op for types without one, or for
 * parameters the encoding model refuses, such as a zero scale: the tensor then stays float). */
static qp_status set_encoding(ib *b, int id, int pi, int weight) {
    const qparm *p = &b->params[pi];
    int bits, sym;
    int32_t *zp = calloc((size_t)p->n, sizeof *zp);
    if (!zp) return qp_error(QP_ERR_NOMEM, "out of memory");
    qp_status st = QP_OK;
    if (to_encoding(p, weight, &bits, &sym, zp)) {
        st = qp_encodings_set(b->enc, id, bits, sym, p->n > 1 ? p->axis : -1, p->n, p->scale, zp);
        if (st == QP_ERR_INVALID_ARG) {
            qp_encodings_clear(b->enc, id);
            qp_error_clear();
            st = QP_OK;
        } else if (st == QP_OK && !weight) {
            b->stats->activations++;
        }
    }
    free(zp);
    return st;
}

/* Whether ng tensor id already carries exactly pi's encoding. */
static int has_encoding(const ib *b, int id, int pi, int *other) {
    const qp_encoding *e = qp_encodings_get(b->enc, id);
    *other = 0;
    if (!e) return 0;
    const qparm *p = &b->params[pi];
    int bits, sym;
    int32_t zp[1];
    if (p->n != 1 || e->n != 1 || !to_encoding(p, 0, &bits, &sym, zp)) {
        *other = 1;
        return 0;
    }
    int same = e->bits == bits && e->symmetric == sym && e->scale[0] == p->scale[0] && e->zero_point[0] == zp[0];
    *other = !same;
    return same;
}

/* ---- new-graph tensors ---------------------------------------------------------------------------- */

/* An ng tensor for old tensor t's value: its own name while that is free. */
static int named_like(ib *b, int t, const char *suffix, qp_dtype dtype) {
    const qp_tensor *src = T(b, t);
    int id = !suffix && qp_graph_find_tensor(b->ng, src->name) < 0 ? qp_graph_get_or_add_tensor(b->ng, src->name)
                                                                   : qp_qdq_new_tensor(b->g, b->ng, src->name, suffix ? suffix : "_float");
    if (id < 0) return -1;
    qp_tensor *dst = b->ng->tensors[id];
    dst->dtype = dtype;
    dst->shape = src->shape;
    for (int d = 0; d < QP_MAX_RANK && d < src->shape.rank; d++)
        if (src->dim_param[d] && !dst->dim_param[d]) dst->dim_param[d] = strdup(src->dim_param[d]);
    return id;
}

/* An ng tensor for the float value of quantized old tensor t: "x" for an old "x_quantized" when
 * that name is free in both graphs, else t's own name while free, else a fresh one. */
static int float_named(ib *b, int t) {
    const char *name = T(b, t)->name;
    size_t len = strlen(name), sl = strlen("_quantized");
    if (len > sl && strcmp(name + len - sl, "_quantized") == 0) {
        char *stripped = strdup(name);
        if (!stripped) return -1;
        stripped[len - sl] = '\0';
        int free_name = qp_graph_find_tensor(b->g, stripped) < 0 && qp_graph_find_tensor(b->ng, stripped) < 0;
        int id = free_name ? qp_graph_get_or_add_tensor(b->ng, stripped) : -2;
        free(stripped);
        if (id >= 0) {
            b->ng->tensors[id]->dtype = QP_DT_FLOAT;
            b->ng->tensors[id]->shape = T(b, t)->shape;
            return id;
        }
        if (id == -1) return -1;
    }
    return named_like(b, t, NULL, QP_DT_FLOAT);
}

static int add_node(ib *b, const char *name, const char *op, const char *domain, const int *ins, int n_in,
                    const int *outs, int n_out) {
    return qp_graph_add_node(b->ng, name, op, domain, ins, n_in, outs, n_out);
}

static qp_status params_consts(ib *b, int pi, const char *base, int *s_id, int *z_id) {
    const qparm *p = &b->params[pi];
    qp_shape shape = p->n > 1 ? (qp_shape){.rank = 1, .dims = {p->n}} : (qp_shape){.rank = 0};
    size_t es = qp_dtype_size(p->dtype);
    unsigned char *zp = malloc((size_t)p->n * es);
    if (!zp) return qp_error(QP_ERR_NOMEM, "out of memory");
    for (int c = 0; c < p->n; c++) {
        switch (p->dtype) {
        case QP_DT_UINT8: zp[c] = (uint8_t)p->zp[c]; break;
        case QP_DT_INT8: ((int8_t *)zp)[c] = (int8_t)p->zp[c]; break;
        case QP_DT_UINT16: ((uint16_t *)zp)[c] = (uint16_t)p->zp[c]; break;
        case QP_DT_INT16: ((int16_t *)zp)[c] = (int16_t)p->zp[c]; break;
        default: ((int32_t *)zp)[c] = p->zp[c]; break;
        }
    }
    *s_id = qp_qdq_new_const(b->g, b->ng, base, "_scale", QP_DT_FLOAT, &shape, p->scale);
    *z_id = *s_id < 0 ? -1 : qp_qdq_new_const(b->g, b->ng, base, "_zero_point", p->dtype, &shape, zp);
    free(zp);
    return *z_id < 0 ? QP_ERR_NOMEM : QP_OK;
}

static qp_status set_axis(ib *b, int node, const qparm *p) {
    if (p->n <= 1) return QP_OK;
    qp_attr *a = qp_node_add_attr(&b->ng->nodes[node], "axis", QP_ATTR_INT);
    if (!a) return qp_error(QP_ERR_NOMEM, "out of memory");
    a->i = p->axis;
    return QP_OK;
}

static qp_status value_of(ib *b, int t, int *out);

/* Folds integer initializer t with parameter set pi into a float initializer named like name
 * (the DQ's output, or t itself), carrying the encoding unless the type has none (int32). */
static qp_status fold_const(ib *b, int t, int pi, int weight, const char *name, int *out) {
    if (b->wfold[t] >= 0 && params_equal(b, b->wfold_qp[t], pi)) {
        *out = b->wfold[t];
        return QP_OK;
    }
    const qp_tensor *src = T(b, t);
    const qparm *p = &b->params[pi];
    if (!is_int_dtype(src->dtype))
        return qp_error(QP_ERR_INVALID_MODEL, "'%s' is %s; a DequantizeLinear input must be an integer tensor", src->name,
                        qp_dtype_name(src->dtype));
    int64_t numel = qp_shape_numel(&src->shape), inner = 1;
    if (p->n > 1) {
        if (p->axis >= src->shape.rank || src->shape.dims[p->axis] != p->n)
            return qp_error(QP_ERR_SHAPE, "'%s': %d scales for axis %d of its shape", src->name, p->n, p->axis);
        for (int d = p->axis + 1; d < src->shape.rank; d++) inner *= src->shape.dims[d];
    }
    float *data = malloc((size_t)(numel > 0 ? numel : 1) * sizeof *data);
    if (!data) return qp_error(QP_ERR_NOMEM, "out of memory folding '%s'", src->name);
    int sym_weight = weight && p->dtype == QP_DT_INT8;
    for (int c = 0; sym_weight && c < p->n; c++) sym_weight = p->zp[c] == 0;
    for (int64_t i = 0; i < numel; i++) {
        int64_t c = p->n > 1 ? (i / inner) % p->n : 0;
        int32_t q = read_int(src->data, src->dtype, i);
        if (sym_weight && q == -128) b->stats->clamped++;
        /* As ONNX Runtime computes it: (q - zp) in integers, then one float multiply. */
        data[i] = (float)(q - p->zp[c]) * p->scale[c];
    }
    qp_shape shape = src->shape;
    int id = qp_graph_find_tensor(b->ng, name) < 0 ? qp_graph_get_or_add_tensor(b->ng, name)
                                                   : qp_qdq_new_tensor(b->g, b->ng, name, "_float");
    if (id < 0) {
        free(data);
        return QP_ERR_NOMEM;
    }
    qp_tensor_set_data(b->ng->tensors[id], QP_DT_FLOAT, &shape, data, (size_t)(numel > 0 ? numel : 0) * sizeof(float));
    qp_status st = set_encoding(b, id, pi, weight);
    if (st != QP_OK) return st;
    if (p->dtype == QP_DT_INT32) b->stats->biases++;
    else if (weight) b->stats->weights++;
    b->wfold[t] = id;
    b->wfold_qp[t] = pi;
    *out = id;
    return QP_OK;
}

/* The ng id holding quantized tensor t's float value as read with parameter set pi (-1: the
 * set t already carries). A raw integer tensor gets a DequantizeLinear; an integer initializer
 * is folded. */
static qp_status float_of(ib *b, int t, int pi, int weight, int *out) {
    if (b->qp[t] >= 0 && (pi < 0 || params_equal(b, b->qp[t], pi))) {
        *out = b->fid[t];
        return QP_OK;
    }
    if (pi < 0) return value_of(b, t, out);
    if (is_const(b, t) && b->qp[t] < 0) {
        /* "w_quantized" folds to "w" when that name is free in both graphs. */
        char name[512];
        snprintf(name, sizeof name, "%s", T(b, t)->name);
        size_t len = strlen(name), sl = strlen("_quantized");
        if (len > sl && strcmp(name + len - sl, "_quantized") == 0) {
            name[len - sl] = '\0';
            if (qp_graph_find_tensor(b->g, name) >= 0 || qp_graph_find_tensor(b->ng, name) >= 0)
                snprintf(name, sizeof name, "%s", T(b, t)->name);
        }
        return fold_const(b, t, pi, weight, name, out);
    }
    int raw;
    qp_status st = value_of(b, t, &raw);
    if (st != QP_OK) return st;
    int s_id, z_id;
    if ((st = params_consts(b, pi, T(b, t)->name, &s_id, &z_id)) != QP_OK) return st;
    int f = b->qp[t] < 0 ? float_named(b, t) : qp_qdq_new_tensor(b->g, b->ng, T(b, t)->name, "_dequantized");
    if (f < 0) return QP_ERR_NOMEM;
    b->ng->tensors[f]->dtype = QP_DT_FLOAT;
    int ins[3] = {raw, s_id, z_id};
    int node = add_node(b, T(b, t)->name, "DequantizeLinear", "", ins, 3, &f, 1);
    if (node < 0 || (st = set_axis(b, node, &b->params[pi])) != QP_OK) return node < 0 ? QP_ERR_NOMEM : st;
    b->stats->kept++;
    if ((st = set_encoding(b, f, pi, 0)) != QP_OK) return st;
    if (b->qp[t] < 0) { /* first reading fixes t's float form for later readers */
        b->qp[t] = pi;
        b->fid[t] = f;
    }
    *out = f;
    return QP_OK;
}

/* The ng id holding old tensor t's own value: initializers are copied, quantized tensors known
 * only as floats are quantized again (a QuantizeLinear, exact: the float values sit on the grid). */
static qp_status value_of(ib *b, int t, int *out) {
    if (b->vid[t] >= 0) {
        *out = b->vid[t];
        return QP_OK;
    }
    const qp_tensor *src = T(b, t);
    if (src->is_initializer) {
        void *copy = malloc(src->nbytes ? src->nbytes : 1);
        if (!copy) return qp_error(QP_ERR_NOMEM, "out of memory");
        if (src->nbytes) memcpy(copy, src->data, src->nbytes);
        int id = qp_graph_find_tensor(b->ng, src->name) < 0 ? qp_graph_get_or_add_tensor(b->ng, src->name)
                                                            : qp_qdq_new_tensor(b->g, b->ng, src->name, "_value");
        if (id < 0) {
            free(copy);
            return QP_ERR_NOMEM;
        }
        qp_tensor_set_data(b->ng->tensors[id], src->dtype, &src->shape, copy, src->nbytes);
        *out = b->vid[t] = id;
        return QP_OK;
    }
    if (b->qp[t] < 0 || b->fid[t] < 0)
        return qp_error(QP_ERR_INTERNAL, "QDQ import: tensor '%s' has no value", src->name);
    const qparm *p = &b->params[b->qp[t]];
    int s_id, z_id;
    qp_status st = params_consts(b, b->qp[t], src->name, &s_id, &z_id);
    if (st != QP_OK) return st;
    int raw = named_like(b, t, "_raw", p->dtype);
    if (raw < 0) return QP_ERR_NOMEM;
    int ins[3] = {b->fid[t], s_id, z_id};
    int node = add_node(b, src->name, "QuantizeLinear", "", ins, 3, &raw, 1);
    if (node < 0 || (st = set_axis(b, node, p)) != QP_OK) return node < 0 ? QP_ERR_NOMEM : st;
    b->stats->kept++;
    *out = b->vid[t] = raw;
    return QP_OK;
}

/* The quantized type of old tensor t when known. */
static qp_dtype quant_dtype(const ib *b, int t) {
    if (b->qp[t] >= 0) return b->params[b->qp[t]].dtype;
    return T(b, t)->dtype;
}

static int rank_of(const ib *b, int t) { return t >= 0 ? T(b, t)->shape.rank : -1; }

static int in(const qp_node *n, int k) { return k < n->n_inputs ? n->inputs[k] : -1; }

/* Copies node n into ng with inputs ins (ng ids) and outputs outs, attributes too except
 * `skip_attr` (may be NULL). */
static qp_status copy_node(ib *b, const qp_node *n, const char *op, const char *domain, const int *ins, int n_in,
                           const int *outs, int n_out, const char *skip_attr) {
    int id = add_node(b, n->name, op, domain, ins, n_in, outs, n_out);
    if (id < 0) return QP_ERR_NOMEM;
    for (int a = 0; a < n->n_attrs; a++) {
        if (skip_attr && strcmp(n->attrs[a].name, skip_attr) == 0) continue;
        qp_status st = qp_qdq_copy_attr(&b->ng->nodes[id], &n->attrs[a]);
        if (st != QP_OK) return st;
    }
    return QP_OK;
}

/* Output t of a converted node: a float tensor with parameter set pi's encoding (pi < 0: plain
 * float, not quantized). */
static qp_status quant_output(ib *b, int t, int pi, int *out) {
    int f = pi >= 0 ? float_named(b, t) : named_like(b, t, NULL, QP_DT_FLOAT);
    if (f < 0) return QP_ERR_NOMEM;
    if (pi >= 0) {
        b->qp[t] = pi;
        b->fid[t] = f;
        qp_status st = set_encoding(b, f, pi, 0);
        if (st != QP_OK) return st;
    } else {
        b->vid[t] = f;
    }
    *out = f;
    return QP_OK;
}

/* ---- node handlers ------------------------------------------------------------------------------- */

static qp_status keep_node(ib *b, const qp_node *n) {
    int ins[64], outs[64];
    if (n->n_inputs > 64 || n->n_outputs > 64)
        return qp_error(QP_ERR_UNSUPPORTED, "node '%s' has more than 64 inputs or outputs", n->name);
    for (int k = 0; k < n->n_inputs; k++) {
        ins[k] = -1;
        if (n->inputs[k] >= 0) {
            qp_status st = value_of(b, n->inputs[k], &ins[k]);
            if (st != QP_OK) return st;
        }
    }
    for (int k = 0; k < n->n_outputs; k++) {
        int t = n->outputs[k];
        outs[k] = -1;
        if (t < 0) continue;
        outs[k] = named_like(b, t, NULL, T(b, t)->dtype);
        if (outs[k] < 0) return QP_ERR_NOMEM;
        b->vid[t] = outs[k];
    }
    if (op_is(n, "QuantizeLinear") || op_is(n, "DequantizeLinear")) b->stats->kept++;
    return copy_node(b, n, n->op_type, n->domain, ins, n->n_inputs, outs, n->n_outputs, NULL);
}

static qp_status handle_dq(ib *b, const qp_node *n) {
    int x = in(n, 0), y = n->n_outputs > 0 ? n->outputs[0] : -1;
    if (x < 0 || y < 0) return keep_node(b, n);
    int pi = read_params(b, in(n, 1), in(n, 2), quant_dtype(b, x), qp_node_attr_int(n, "axis", 1), rank_of(b, x));
    if (pi < 0) return keep_node(b, n);
    if (is_const(b, x)) { /* a weight or bias: folded */
        int f;
        qp_status st = fold_const(b, x, pi, 1, T(b, y)->name, &f);
        if (st == QP_OK) b->vid[y] = f;
        return st;
    }
    int f;
    qp_status st = float_of(b, x, pi, 0, &f);
    if (st == QP_OK) b->vid[y] = f;
    return st;
}

static qp_status handle_q(ib *b, const qp_node *n) {
    int x = in(n, 0), y = n->n_outputs > 0 ? n->outputs[0] : -1;
    if (x < 0 || y < 0) return keep_node(b, n);
    int pi = read_params(b, in(n, 1), in(n, 2), QP_DT_UINT8, qp_node_attr_int(n, "axis", 1), rank_of(b, x));
    if (pi < 0 || b->params[pi].n != 1 || b->params[pi].dtype == QP_DT_INT32) return keep_node(b, n);
    int c;
    qp_status st = value_of(b, x, &c);
    if (st != QP_OK) return st;
    int other;
    if (b->copy_q[x] || !has_encoding(b, c, pi, &other)) {
        if (b->copy_q[x] || other) { /* the float value is read unquantized too, or another way */
            int v = float_named(b, y);
            if (v < 0) return QP_ERR_NOMEM;
            if (add_node(b, n->name, "Identity", "", &c, 1, &v, 1) < 0) return QP_ERR_NOMEM;
            c = v;
        }
        if ((st = set_encoding(b, c, pi, 0)) != QP_OK) return st;
    }
    b->qp[y] = pi;
    b->fid[y] = c;
    return QP_OK;
}

/* QLinear* (QOperator format) -> the float op: data input k of the op is (slot, scale slot,
 * zero-point slot) in the QLinear node; the output's parameters sit at out_s/out_z. */
typedef struct qlinear_input {
    int slot, scale, zp;
    int weight;   /* read as a weight (symmetric int8 encodings) */
    int axis;     /* per-axis parameters: axis; -1 = the input's last axis */
} qlinear_input;

static qp_status convert_qlinear(ib *b, const qp_node *n, const char *op, const qlinear_input *ins, int n_ins, int out_s,
                                 int out_z, int bias_slot, const char *skip_attr) {
    int fin[68], pis[68];
    int y = n->n_outputs > 0 ? n->outputs[0] : -1;
    if (y < 0 || n_ins > 64) return keep_node(b, n);
    for (int k = 0; k < n_ins; k++) {
        int t = in(n, ins[k].slot);
        if (t < 0) return keep_node(b, n);
        int axis = ins[k].axis >= 0 ? ins[k].axis : rank_of(b, t) - 1;
        pis[k] = read_params(b, in(n, ins[k].scale), in(n, ins[k].zp), quant_dtype(b, t), axis, rank_of(b, t));
        if (pis[k] < 0) return keep_node(b, n);
    }
    int po = -1;
    if (out_s >= 0) {
        po = read_params(b, in(n, out_s), in(n, out_z), QP_DT_UINT8, 1, rank_of(b, y));
        if (po < 0 || b->params[po].n != 1) return keep_node(b, n);
    }
    int bias = bias_slot >= 0 ? in(n, bias_slot) : -1;
    if (bias >= 0 && (!is_const(b, bias) || T(b, bias)->dtype != QP_DT_INT32 || b->params[pis[0]].n != 1))
        return keep_node(b, n);
    for (int k = 0; k < n_ins; k++) {
        qp_status st = float_of(b, in(n, ins[k].slot), pis[k], ins[k].weight, &fin[k]);
        if (st != QP_OK) return st;
    }
    int n_fin = n_ins;
    if (bias >= 0) {
        /* The int32 bias is in units of s_x * s_w[c]: as float it is what the engine re-derives. */
        const qparm *px = &b->params[pis[0]], *pw = &b->params[pis[1]];
        const qp_tensor *bt = T(b, bias);
        int64_t nb = qp_shape_numel(&bt->shape);
        if (pw->n != 1 && pw->n != nb) return keep_node(b, n);
        float *data = malloc((size_t)(nb > 0 ? nb : 1) * sizeof *data);
        if (!data) return qp_error(QP_ERR_NOMEM, "out of memory");
        for (int64_t c = 0; c < nb; c++)
            data[c] = (float)((const int32_t *)bt->data)[c] * (px->scale[0] * pw->scale[pw->n > 1 ? c : 0]);
        char base[512];
        snprintf(base, sizeof base, "%s", bt->name);
        size_t bl = strlen(base), sl = strlen("_quantized");
        if (bl > sl && strcmp(base + bl - sl, "_quantized") == 0) {
            base[bl - sl] = '\0';
            if (qp_graph_find_tensor(b->g, base) >= 0) base[bl - sl] = '_';
        }
        int bid = qp_qdq_new_const(NULL, b->ng, base, "", QP_DT_FLOAT, &bt->shape, data);
        free(data);
        if (bid < 0) return QP_ERR_NOMEM;
        b->stats->biases++;
        fin[n_fin++] = bid;
    }
    int out;
    qp_status st = quant_output(b, y, po, &out);
    if (st != QP_OK) return st;
    b->stats->converted++;
    return copy_node(b, n, op, "", fin, n_fin, &out, 1, skip_attr);
}

static qp_status handle_qlinear(ib *b, const qp_node *n, int *handled) {
    *handled = 1;
    if (op_is(n, "QLinearConv")) {
        qlinear_input ins[2] = {{0, 1, 2, 0, 1}, {3, 4, 5, 1, 0}};
        return convert_qlinear(b, n, "Conv", ins, 2, 6, 7, 8, NULL);
    }
    if (op_is(n, "QLinearMatMul")) {
        qlinear_input ins[2] = {{0, 1, 2, 0, -1}, {3, 4, 5, 1, -1}};
        return convert_qlinear(b, n, "MatMul", ins, 2, 6, 7, -1, NULL);
    }
    if (ms_op_is(n, "QLinearAdd") || ms_op_is(n, "QLinearMul")) {
        qlinear_input ins[2] = {{0, 1, 2, 0, 1}, {3, 4, 5, 0, 1}};
        return convert_qlinear(b, n, ms_op_is(n, "QLinearAdd") ? "Add" : "Mul", ins, 2, 6, 7, -1, NULL);
    }
    if (ms_op_is(n, "QLinearGlobalAveragePool") || ms_op_is(n, "QLinearAveragePool")) {
        if (qp_node_attr_int(n, "channels_last", 0) != 0) return keep_node(b, n);
        qlinear_input ins[1] = {{0, 1, 2, 0, 1}};
        return convert_qlinear(b, n, ms_op_is(n, "QLinearAveragePool") ? "AveragePool" : "GlobalAveragePool", ins, 1, 3,
                               4, -1, "channels_last");
    }
    if (ms_op_is(n, "QLinearSigmoid") || ms_op_is(n, "QLinearLeakyRelu")) {
        qlinear_input ins[1] = {{0, 1, 2, 0, 1}};
        return convert_qlinear(b, n, ms_op_is(n, "QLinearSigmoid") ? "Sigmoid" : "LeakyRelu", ins, 1, 3, 4, -1, NULL);
    }
    if (ms_op_is(n, "QLinearConcat")) {
        int k = (n->n_inputs - 2) / 3;
        if (k < 1 || k > 64 || n->n_inputs != 2 + 3 * k) return keep_node(b, n);
        qlinear_input ins[64];
        for (int i = 0; i < k; i++) ins[i] = (qlinear_input){2 + 3 * i, 3 + 3 * i, 4 + 3 * i, 0, 1};
        return convert_qlinear(b, n, "Concat", ins, k, 0, 1, -1, NULL);
    }
    *handled = 0;
    return QP_OK;
}

/* Ops that only move or select values: on a quantized input they run on its float values and
 * their data outputs keep its encoding. */
static int moves_values(const qp_node *n) {
    static const char *const ops[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Dropout",
                                      "Slice", "Split", "Gather", "Expand", "Tile", "DepthToSpace", "SpaceToDepth",
                                      "MaxPool", "GlobalMaxPool", "ReduceMax", "ReduceMin", NULL};
    if (n->domain[0] != '\0' && strcmp(n->domain, "ai.onnx") != 0) return 0;
    for (const char *const *op = ops; *op; op++)
        if (strcmp(n->op_type, *op) == 0) return 1;
    return 0;
}

static qp_status handle_other(ib *b, const qp_node *n) {
    int x = in(n, 0);
    int quantized_input = x >= 0 && b->qp[x] >= 0;
    int others_quantized = 0;
    for (int k = 1; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0 && b->qp[n->inputs[k]] >= 0) others_quantized = 1;
    int concat = op_is(n, "Concat") && n->n_inputs > 0;
    if (concat) { /* Concat of values that share one parameter set */
        quantized_input = 1;
        for (int k = 0; k < n->n_inputs && quantized_input; k++)
            quantized_input = n->inputs[k] >= 0 && b->qp[n->inputs[k]] >= 0 && params_equal(b, b->qp[n->inputs[k]], b->qp[x]);
        others_quantized = 0;
    }
    int shape_only = (op_is(n, "Shape") || op_is(n, "Size")) && quantized_input;
    if (!quantized_input || others_quantized || !(moves_values(n) || concat || shape_only) || n->n_inputs > 64 ||
        n->n_outputs > 64)
        return keep_node(b, n);
    int ins[64], outs[64];
    for (int k = 0; k < n->n_inputs; k++) {
        int t = n->inputs[k];
        ins[k] = -1;
        if (t < 0) continue;
        qp_status st = (k == 0 || concat) ? float_of(b, t, -1, 0, &ins[k]) : value_of(b, t, &ins[k]);
        if (st != QP_OK) return st;
    }
    int pi = b->qp[x];
    for (int k = 0; k < n->n_outputs; k++) {
        int t = n->outputs[k];
        outs[k] = -1;
        if (t < 0) continue;
        /* MaxPool's indices and Dropout's mask are not data: plain outputs. */
        int data = !shape_only && !(k == 1 && (op_is(n, "MaxPool") || op_is(n, "Dropout")));
        qp_status st = data ? quant_output(b, t, pi, &outs[k]) : QP_OK;
        if (st != QP_OK) return st;
        if (!data) {
            outs[k] = named_like(b, t, NULL, T(b, t)->dtype);
            if (outs[k] < 0) return QP_ERR_NOMEM;
            b->vid[t] = outs[k];
        }
    }
    return copy_node(b, n, n->op_type, n->domain, ins, n->n_inputs, outs, n->n_outputs, NULL);
}

/* ---- renaming graph outputs ------------------------------------------------------------------------ */

/* A copy of g with tensor i named names[i] (NULL: unchanged); g's buffers move into the copy. */
static qp_status rename_copy(qp_graph *g, char **names, qp_graph **out) {
    qp_graph *c = qp_graph_new();
    if (!c) return qp_error(QP_ERR_NOMEM, "out of memory");
    qp_status st = QP_OK;
    c->name = g->name, g->name = NULL;
    c->producer_name = g->producer_name, g->producer_name = NULL;
    c->ir_version = g->ir_version;
    c->opsets = g->opsets, c->n_opsets = g->n_opsets;
    g->opsets = NULL, g->n_opsets = 0;
    for (int t = 0; t < g->n_tensors && st == QP_OK; t++) {
        qp_tensor *src = g->tensors[t];
        int id = qp_graph_get_or_add_tensor(c, names[t] ? names[t] : src->name);
        if (id != t) {
            st = id < 0 ? QP_ERR_NOMEM : qp_error(QP_ERR_INTERNAL, "QDQ import: duplicate name '%s'", names[t] ? names[t] : src->name);
            break;
        }
        qp_tensor *dst = c->tensors[id];
        dst->dtype = src->dtype;
        dst->shape = src->shape;
        memcpy(dst->dim_param, src->dim_param, sizeof dst->dim_param);
        memset(src->dim_param, 0, sizeof src->dim_param);
        dst->is_graph_input = src->is_graph_input;
        if (src->is_initializer) {
            qp_tensor_set_data(dst, src->dtype, &src->shape, src->data, src->nbytes);
            src->data = NULL;
        }
    }
    for (int id = 0; id < g->n_nodes && st == QP_OK; id++) {
        qp_node *n = &g->nodes[id];
        int nid = qp_graph_add_node(c, n->name, n->op_type, n->domain, n->inputs, n->n_inputs, n->outputs, n->n_outputs);
        if (nid < 0) {
            st = QP_ERR_NOMEM;
            break;
        }
        c->nodes[nid].attrs = n->attrs, c->nodes[nid].n_attrs = n->n_attrs;
        n->attrs = NULL, n->n_attrs = 0;
    }
    if (st == QP_OK) {
        c->inputs = g->inputs, c->n_inputs = g->n_inputs;
        c->outputs = g->outputs, c->n_outputs = g->n_outputs;
        g->inputs = g->outputs = NULL;
        g->n_inputs = g->n_outputs = 0;
    }
    qp_graph_free(g);
    if (st != QP_OK) {
        qp_graph_free(c);
        return st;
    }
    *out = c;
    return QP_OK;
}

/* Graph outputs keep their names: the tensor that ends up holding an output's value is renamed
 * to it (or, when it cannot be, an Identity produces the name). */
static qp_status fix_outputs(ib *b, const int *out_ids) {
    qp_graph *ng = b->ng;
    int n_out = b->g->n_outputs;
    int *claim_id = malloc((size_t)(n_out ? n_out : 1) * sizeof *claim_id);
    const char **claim_name = malloc((size_t)(n_out ? n_out : 1) * sizeof *claim_name);
    ng->outputs = malloc((size_t)(n_out ? n_out : 1) * sizeof(int));
    qp_status st = claim_id && claim_name && ng->outputs ? QP_OK : qp_error(QP_ERR_NOMEM, "out of memory");
    int n_claims = 0;
    for (int i = 0; i < n_out && st == QP_OK; i++) {
        const char *want = T(b, b->g->outputs[i])->name;
        int id = out_ids[i];
        if (strcmp(ng->tensors[id]->name, want) != 0) {
            int taken = qp_graph_find_tensor(ng, want) >= 0, claimed = 0;
            for (int c = 0; c < n_claims; c++) {
                taken |= strcmp(claim_name[c], want) == 0;
                claimed |= claim_id[c] == id;
            }
            if (!taken && !claimed && !ng->tensors[id]->is_graph_input) {
                claim_id[n_claims] = id;
                claim_name[n_claims++] = want;
            } else {
                int v = taken ? qp_qdq_new_tensor(NULL, ng, want, "") : qp_graph_get_or_add_tensor(ng, want);
                if (v < 0 || add_node(b, want, "Identity", "", &id, 1, &v, 1) < 0) {
                    st = QP_ERR_NOMEM;
                    break;
                }
                const qp_encoding *e = qp_encodings_get(b->enc, id);
                if (e && qp_encodings_set(b->enc, v, e->bits, e->symmetric, e->axis, e->n, e->scale, e->zero_point) != QP_OK)
                    st = QP_ERR_NOMEM;
                ng->tensors[v]->dtype = ng->tensors[id]->dtype;
                ng->tensors[v]->shape = ng->tensors[id]->shape;
                id = v;
            }
        }
        ng->outputs[i] = id;
        ng->n_outputs = i + 1;
    }
    if (st == QP_OK && n_claims) {
        char **names = calloc((size_t)ng->n_tensors, sizeof *names);
        if (!names) {
            st = qp_error(QP_ERR_NOMEM, "out of memory");
        } else {
            for (int c = 0; c < n_claims; c++) names[claim_id[c]] = (char *)(uintptr_t)claim_name[c];
            st = rename_copy(ng, names, &b->ng); /* frees ng either way */
            if (st != QP_OK) b->ng = NULL;
            free(names);
        }
    }
    free(claim_id);
    free(claim_name);
    return st;
}

/* ---- entry points ---------------------------------------------------------------------------------- */

/* Marks the float tensors a QuantizeLinear cannot simply annotate: read by anything else than
 * QuantizeLinear nodes with one parameter set (a float op, a graph output, Q nodes with two
 * different parameter sets). */
static void find_copies(ib *b) {
    const qp_graph *g = b->g;
    int *first = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *first);
    if (!first) return; /* without the table every Q annotates: still runs, only less exact */
    for (int t = 0; t < g->n_tensors; t++) first[t] = -1;
    for (int id = 0; id < g->n_nodes; id++) {
        const qp_node *n = &g->nodes[id];
        for (int k = 0; k < n->n_inputs; k++) {
            int t = n->inputs[k];
            if (t < 0 || g->tensors[t]->is_initializer) continue;
            if (k == 0 && op_is(n, "QuantizeLinear")) {
                int pi = read_params(b, in(n, 1), in(n, 2), QP_DT_UINT8, qp_node_attr_int(n, "axis", 1), rank_of(b, t));
                if (pi >= 0 && (first[t] < 0 || params_equal(b, first[t], pi))) {
                    first[t] = pi;
                    continue;
                }
            }
            b->copy_q[t] = 1;
        }
    }
    for (int i = 0; i < g->n_outputs; i++) b->copy_q[g->outputs[i]] = 1;
    free(first);
}

static qp_status import_graph(ib *b) {
    const qp_graph *g = b->g;
    find_copies(b);
    qp_graph *ng = b->ng;
    qp_status st = QP_OK;
    ng->name = strdup(g->name ? g->name : "");
    ng->producer_name = strdup(g->producer_name ? g->producer_name : "");
    ng->ir_version = g->ir_version;
    ng->opsets = calloc((size_t)(g->n_opsets ? g->n_opsets : 1), sizeof *ng->opsets);
    if (!ng->name || !ng->producer_name || !ng->opsets) return qp_error(QP_ERR_NOMEM, "out of memory");
    for (int k = 0; k < g->n_opsets; k++) {
        ng->opsets[k] = (qp_opset){strdup(g->opsets[k].domain ? g->opsets[k].domain : ""), g->opsets[k].version};
        ng->n_opsets = k + 1;
        if (!ng->opsets[k].domain) return qp_error(QP_ERR_NOMEM, "out of memory");
    }
    ng->inputs = malloc((size_t)(g->n_inputs ? g->n_inputs : 1) * sizeof(int));
    if (!ng->inputs) return qp_error(QP_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_inputs; i++) {
        int t = g->inputs[i];
        int id = named_like(b, t, NULL, T(b, t)->dtype);
        if (id < 0) return QP_ERR_NOMEM;
        ng->tensors[id]->is_graph_input = 1;
        b->vid[t] = id;
        ng->inputs[ng->n_inputs++] = id;
    }
    for (int id = 0; id < g->n_nodes && st == QP_OK; id++) {
        const qp_node *n = &g->nodes[id];
        int handled = 0;
        if (op_is(n, "DequantizeLinear")) st = handle_dq(b, n);
        else if (op_is(n, "QuantizeLinear")) st = handle_q(b, n);
        else if ((st = handle_qlinear(b, n, &handled)) == QP_OK && !handled) st = handle_other(b, n);
    }
    if (st != QP_OK) return st;
    int *out_ids = malloc((size_t)(g->n_outputs ? g->n_outputs : 1) * sizeof *out_ids);
    if (!out_ids) return qp_error(QP_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_outputs && st == QP_OK; i++) {
        int t = g->outputs[i];
        /* An integer output stays integer (the file's own type); float outputs are their values. */
        st = value_of(b, t, &out_ids[i]);
    }
    if (st == QP_OK) st = fix_outputs(b, out_ids);
    free(out_ids);
    if (st == QP_OK) st = qp_graph_finalize(b->ng);
    return st;
}

qp_status qp_qdq_import(const qp_graph *g, qp_graph **out, qp_encodings **encodings, qp_qdq_import_stats *stats_out) {
    *out = NULL;
    *encodings = NULL;
    if (!g) return qp_error(QP_ERR_INVALID_ARG, "qp_qdq_import: no graph");
    qp_qdq_import_stats stats = {0};
    ib b = {.g = g, .stats = &stats};
    size_t nt = (size_t)(g->n_tensors ? g->n_tensors : 1);
    b.vid = malloc(nt * sizeof(int));
    b.fid = malloc(nt * sizeof(int));
    b.qp = malloc(nt * sizeof(int));
    b.wfold = malloc(nt * sizeof(int));
    b.wfold_qp = malloc(nt * sizeof(int));
    b.copy_q = calloc(nt, 1);
    b.ng = qp_graph_new();
    b.enc = qp_encodings_new(0);
    qp_status st = QP_OK;
    if (!b.vid || !b.fid || !b.qp || !b.wfold || !b.wfold_qp || !b.copy_q || !b.ng || !b.enc)
        st = qp_error(QP_ERR_NOMEM, "out of memory");
    for (int t = 0; st == QP_OK && t < g->n_tensors; t++) b.vid[t] = b.fid[t] = b.qp[t] = b.wfold[t] = b.wfold_qp[t] = -1;
    if (st == QP_OK) st = import_graph(&b);
    for (int i = 0; i < b.n_params; i++) {
        free(b.params[i].scale);
        free(b.params[i].zp);
    }
    free(b.params);
    free(b.vid);
    free(b.fid);
    free(b.qp);
    free(b.wfold);
    free(b.wfold_qp);
    free(b.copy_q);
    if (st != QP_OK) {
        qp_graph_free(b.ng);
        qp_encodings_free(b.enc);
        return st;
    }
    if (stats_out) *stats_out = stats;
    *out = b.ng;
    *encodings = b.enc;
    return QP_OK;
}

qp_status qp_model_load_any(const char *path, qp_graph **graph, qp_encodings **encodings, qp_qdq_import_stats *stats) {
    *graph = NULL;
    *encodings = NULL;
    if (stats) memset(stats, 0, sizeof *stats);
    qp_graph *g = NULL;
    qp_status st = qp_onnx_load(path, &g);
    if (st != QP_OK) return st;
    if (!qp_qdq_is_quantized(g)) {
        *graph = g;
        return QP_OK;
    }
    st = qp_qdq_import(g, graph, encodings, stats);
    qp_graph_free(g);
    if (st != QP_OK) return qp_error_prefix(st, "%s: ", path);
    return QP_OK;
}
