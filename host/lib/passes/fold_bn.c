/* fold_bn.c — built-in pass fold_bn: folds inference BatchNormalization and constant per-channel Add/Sub into the preceding Conv, ConvTranspose or Gemm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/builtin.h"
#include "passes/graph_edit.h"
#include "session/session.h"

static int op_is(const qp_node *n, const char *op) { return n->domain[0] == '\0' && strcmp(n->op_type, op) == 0; }

/* A float initializer of exactly `count` elements (any count when negative), or NULL. */
static float *float_init(const qp_graph *g, int t, int64_t count) {
    if (t < 0) return NULL;
    const qp_tensor *tensor = g->tensors[t];
    if (!tensor->is_initializer || tensor->dtype != QP_DT_FLOAT || !tensor->data) return NULL;
    if (count >= 0 && qp_shape_numel(&tensor->shape) != count) return NULL;
    return tensor->data;
}

static int only_consumer_is(const qp_graph *g, int t, int node) {
    const qp_tensor *tensor = g->tensors[t];
    return tensor->n_consumers == 1 && tensor->consumers[0] == node && !tensor->is_graph_output;
}

/* What a fold needs to know about the producer it folds into: the output channel count and the
 * layout facts the weight update needs. */
typedef struct fold_plan {
    int conv;
    int64_t channels;
    int out_rank;     /* rank of the producer's output (Conv: the weight's rank; Gemm: 2) */
    int groups;       /* ConvTranspose */
    int gemm_trans_b;
} fold_plan;

/* Why node `folded` (reading tensor x) cannot be folded into x's producer (NULL when it can).
 * `need_weight_alone`: the fold rescales the weight, so no other node may read it. */
static const char *check_producer(const qp_graph *g, int folded, int x, int need_weight_alone, fold_plan *p) {
    int prod = g->tensors[x]->producer;
    if (prod < 0) return "its input is not produced by a node";
    const qp_node *conv = &g->nodes[prod];
    if (!op_is(conv, "Conv") && !op_is(conv, "ConvTranspose") && !op_is(conv, "Gemm"))
        return "not preceded by Conv, ConvTranspose or Gemm";
    if (conv->n_outputs != 1 || conv->outputs[0] != x) return "unexpected producer outputs";
    if (!only_consumer_is(g, x, folded)) return "the preceding op's output has other consumers";
    if (conv->n_inputs < 2 || conv->inputs[1] < 0) return "malformed producer";
    int w = conv->inputs[1];
    const qp_tensor *wt = g->tensors[w];
    if (!float_init(g, w, -1)) return "the weight is not a float32 initializer";
    if (need_weight_alone && !only_consumer_is(g, w, prod)) return "the weight is shared with other nodes";
    p->conv = prod;
    p->groups = 1;
    p->out_rank = wt->shape.rank;
    if (op_is(conv, "Conv")) {
        if (wt->shape.rank < 1) return "weight without shape";
        p->channels = wt->shape.dims[0];
    } else if (op_is(conv, "ConvTranspose")) {
        p->groups = (int)qp_node_attr_int(conv, "group", 1);
        if (wt->shape.rank < 2 || p->groups < 1 || wt->shape.dims[0] % p->groups) return "weight without shape";
        p->channels = wt->shape.dims[1] * p->groups;
    } else {
        if (wt->shape.rank != 2 || qp_node_attr_int(conv, "transA", 0) != 0) return "Gemm with transA or odd weight";
        p->gemm_trans_b = (int)qp_node_attr_int(conv, "transB", 0);
        p->channels = wt->shape.dims[p->gemm_trans_b ? 0 : 1];
        p->out_rank = 2;
    }
    if (p->out_rank < 2) return "weight without shape";
    int b = conv->n_inputs > 2 ? conv->inputs[2] : -1;
    if (b >= 0) {
        const qp_tensor *bt = g->tensors[b];
        if (!float_init(g, b, -1)) return "the bias is not a float32 initializer";
        if (!only_consumer_is(g, b, prod)) return "the bias is shared with other nodes";
        int64_t n = qp_shape_numel(&bt->shape);
        /* Gemm's C may be a scalar or a full matrix: only per-channel vectors are folded. */
        if (n != p->channels && !(op_is(conv, "Gemm") && n == 1)) return "the bias is not one value per channel";
    }
    return NULL;
}

static const char *check_bn(const qp_graph *g, int bn_id, fold_plan *p) {
    const qp_node *bn = &g->nodes[bn_id];
    if (bn->n_inputs < 5 || bn->inputs[0] < 0) return "malformed";
    if (qp_node_attr_int(bn, "training_mode", 0) != 0) return "training mode";
    for (int k = 1; k < bn->n_outputs; k++) {
        int t = bn->outputs[k];
        if (t >= 0 && (g->tensors[t]->n_consumers > 0 || g->tensors[t]->is_graph_output))
            return "its running statistics outputs are used";
    }
    const char *why = check_producer(g, bn_id, bn->inputs[0], 1, p);
    if (why) return why;
    for (int k = 1; k < 5; k++)
        if (!float_init(g, bn->inputs[k], p->channels)) return "BatchNormalization parameters are not constants per channel";
    return NULL;
}

/* An Add (either operand order) or Sub (producer output minus constant) whose other operand is a
 * float constant that broadcasts along the producer's channel axis only: after numpy's right
 * alignment against the producer's output [N, C, ...], every dim is 1 except, optionally, the one
 * on axis 1, which is C. Sets *constant and *sign (+1 Add, -1 Sub); returns NULL with *constant
 * untouched when the node is no candidate at all (no constant operand, or constant - tensor,
 * which would negate the weights). */
static const char *check_add(const qp_graph *g, int id, fold_plan *p, int *constant, double *sign) {
    const qp_node *n = &g->nodes[id];
    const int is_sub = op_is(n, "Sub");
    if (n->n_inputs != 2 || n->n_outputs != 1 || n->inputs[0] < 0 || n->inputs[1] < 0) return "malformed";
    int side = -1; /* which input is the producer's output */
    for (int k = 0; k < 2 && side < 0; k++) {
        if (is_sub && k == 1) break;
        if (float_init(g, n->inputs[1 - k], -1) && !float_init(g, n->inputs[k], -1)) side = k;
    }
    if (side < 0) return NULL; /* *constant stays -1: not a candidate */
    const char *why = check_producer(g, id, n->inputs[side], 0, p);
    if (why) return why;
    const qp_tensor *c = g->tensors[n->inputs[1 - side]];
    if (c->shape.rank > p->out_rank) return "the constant has more dims than the output (it would broadcast it)";
    for (int i = 0; i < c->shape.rank; i++) {
        const int axis = p->out_rank - c->shape.rank + i;
        const int64_t d = c->shape.dims[i];
        if (d != 1 && !(axis == 1 && d == p->channels)) return "the constant is not one value per channel";
    }
    *constant = n->inputs[1 - side];
    *sign = is_sub ? -1.0 : 1.0;
    return NULL;
}

/* Rewrites the producer to compute out[c] = conv(x)[c] * scale[c] + shift[c] (scale NULL: 1) and
 * to write tensor `out`. */
static qp_status fold_affine(qp_session *session, const fold_plan *p, const double *scale, const double *shift, int out) {
    qp_graph *g = qp_session_graph(session);
    qp_model *m = qp_session_model(session);
    const int64_t C = p->channels;
    qp_node *conv = &g->nodes[p->conv];
    int w = conv->inputs[1];
    const qp_tensor *wt = g->tensors[w];
    qp_status st = QP_OK;
    if (scale) {
        int64_t numel = qp_shape_numel(&wt->shape);
        float *nw = malloc((size_t)(numel > 0 ? numel : 1) * sizeof *nw);
        if (!nw) return qp_error(QP_ERR_NOMEM, "out of memory folding into '%s'", conv->name);
        const float *ow = wt->data;
        if (op_is(conv, "Conv") || (op_is(conv, "Gemm") && p->gemm_trans_b)) {
            int64_t inner = numel / C; /* rows are output channels */
            for (int64_t c = 0; c < C; c++)
                for (int64_t i = 0; i < inner; i++) nw[c * inner + i] = (float)(ow[c * inner + i] * scale[c]);
        } else if (op_is(conv, "Gemm")) { /* B is [K, C]: columns are output channels */
            for (int64_t i = 0; i < numel; i++) nw[i] = (float)(ow[i] * scale[i % C]);
        } else { /* ConvTranspose: W is [Cin, C/g, k...]; input channel i of group i/(Cin/g) feeds outputs of that group */
            int64_t cin = wt->shape.dims[0], per_group_out = C / p->groups, per_group_in = cin / p->groups;
            int64_t inner = numel / (cin * per_group_out);
            for (int64_t i = 0; i < cin; i++)
                for (int64_t j = 0; j < per_group_out; j++) {
                    double sc = scale[(i / per_group_in) * per_group_out + j];
                    for (int64_t k = 0; k < inner; k++) {
                        int64_t at = (i * per_group_out + j) * inner + k;
                        nw[at] = (float)(ow[at] * sc);
                    }
                }
        }
        st = qp_model_set_tensor_data(m, w, nw, (size_t)numel * sizeof *nw);
        free(nw);
        conv = &g->nodes[p->conv];
        wt = g->tensors[w];
    }

    /* bias' = beta_gemm * b * scale + shift; Gemm's beta moves into the bias. */
    int b = conv->n_inputs > 2 ? conv->inputs[2] : -1;
    float *nb = st == QP_OK ? malloc((size_t)C * sizeof *nb) : NULL;
    if (st == QP_OK && !nb) st = qp_error(QP_ERR_NOMEM, "out of memory folding into '%s'", conv->name);
    if (st == QP_OK) {
        double gemm_beta = op_is(conv, "Gemm") ? qp_node_attr_float(conv, "beta", 1.0f) : 1.0;
        const float *ob = b >= 0 ? g->tensors[b]->data : NULL;
        int64_t nob = b >= 0 ? qp_shape_numel(&g->tensors[b]->shape) : 0;
        for (int64_t c = 0; c < C; c++) {
            double bias = ob ? gemm_beta * ob[nob == 1 ? 0 : c] : 0.0;
            nb[c] = (float)(bias * (scale ? scale[c] : 1.0) + shift[c]);
        }
        qp_shape bshape = {.rank = 1, .dims = {C}};
        if (b >= 0 && nob == C) {
            st = qp_model_set_tensor_data(m, b, nb, (size_t)C * sizeof *nb);
            free(nb);
        } else {
            char base[512];
            const char *wname = wt->name;
            size_t len = strlen(wname);
            if (len > 7 && strcmp(wname + len - 7, ".weight") == 0)
                snprintf(base, sizeof base, "%.*s.bias", (int)(len - 7), wname);
            else
                snprintf(base, sizeof base, "%s_bias", wname);
            int nid = qp_graph_add_initializer(g, base, QP_DT_FLOAT, &bshape, nb, (size_t)C * sizeof *nb);
            conv = &g->nodes[p->conv];
            if (nid < 0) {
                st = QP_ERR_NOMEM;
            } else if (b >= 0) {
                conv->inputs[2] = nid; /* a broadcast scalar C replaced by a vector */
            } else {
                int *grown = realloc(conv->inputs, 3 * sizeof *grown);
                if (!grown) {
                    st = qp_error(QP_ERR_NOMEM, "out of memory folding into '%s'", conv->name);
                } else {
                    conv->inputs = grown;
                    for (int k = conv->n_inputs; k < 3; k++) conv->inputs[k] = -1;
                    conv->inputs[2] = nid;
                    conv->n_inputs = 3;
                }
            }
        }
        if (st == QP_OK && op_is(conv, "Gemm")) st = qp_node_set_attr_float(conv, "beta", 1.0f);
    }
    if (st != QP_OK) return st;
    /* The producer now writes the folded node's output: consumers and graph outputs keep their
     * tensor. */
    g->nodes[p->conv].outputs[0] = out;
    return QP_OK;
}

/* y = (x - mean) * s + beta with s = gamma / sqrt(var + eps): scale s, shift beta - mean * s. */
static qp_status fold_bn_node(qp_session *session, int bn_id, const fold_plan *p) {
    qp_graph *g = qp_session_graph(session);
    const qp_node *bn = &g->nodes[bn_id];
    const int64_t C = p->channels;
    const float *gamma = g->tensors[bn->inputs[1]]->data, *beta = g->tensors[bn->inputs[2]]->data;
    const float *mean = g->tensors[bn->inputs[3]]->data, *var = g->tensors[bn->inputs[4]]->data;
    double eps = qp_node_attr_float(bn, "epsilon", 1e-5f);
    double *scale = malloc((size_t)C * 2 * sizeof *scale);
    if (!scale) return qp_error(QP_ERR_NOMEM, "out of memory folding BatchNormalization '%s'", bn->name);
    double *shift = scale + C;
    for (int64_t c = 0; c < C; c++) {
        scale[c] = (double)gamma[c] / sqrt((double)var[c] + eps);
        shift[c] = beta[c] - mean[c] * scale[c];
    }
    qp_status st = fold_affine(session, p, scale, shift, bn->outputs[0]);
    free(scale);
    return st;
}

static qp_status fold_add_node(qp_session *session, int id, const fold_plan *p, int constant, double sign) {
    qp_graph *g = qp_session_graph(session);
    const int64_t C = p->channels;
    const qp_tensor *ct = g->tensors[constant];
    const float *cv = ct->data;
    const int per_channel = qp_shape_numel(&ct->shape) != 1;
    double *shift = malloc((size_t)C * sizeof *shift);
    if (!shift) return qp_error(QP_ERR_NOMEM, "out of memory folding '%s'", g->nodes[id].name);
    for (int64_t c = 0; c < C; c++) shift[c] = sign * cv[per_channel ? c : 0];
    qp_status st = fold_affine(session, p, NULL, shift, g->nodes[id].outputs[0]);
    free(shift);
    return st;
}

/* One sweep over the graph; chains (Conv -> BN -> Add) fold over successive sweeps, since a
 * producer's new output is only linked up by qp_graph_finalize. *kept counts the candidates left
 * unfolded (-vv says why). */
static qp_status fold_sweep(qp_session *session, int *n_bn, int *n_add, int *folded, int *kept) {
    qp_graph *g = qp_session_graph(session);
    unsigned char *remove = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), 1);
    if (!remove) return qp_error(QP_ERR_NOMEM, "out of memory");
    qp_status st = QP_OK;
    *folded = *kept = 0;
    for (int id = 0; id < g->n_nodes && st == QP_OK; id++) {
        const qp_node *n = &g->nodes[id];
        const int is_bn = op_is(n, "BatchNormalization");
        if (!is_bn && !op_is(n, "Add") && !op_is(n, "Sub")) continue;
        fold_plan p = {0};
        int constant = -1;
        double sign = 1;
        const char *why = is_bn ? check_bn(g, id, &p) : check_add(g, id, &p, &constant, &sign);
        if (!is_bn && !why && constant < 0) continue; /* no constant operand: not a candidate */
        if (why) {
            (*kept)++;
            qp_log(session, QP_LOG_DEBUG, "kept '%s' (%s): %s", n->name, n->op_type, why);
            continue;
        }
        st = is_bn ? fold_bn_node(session, id, &p) : fold_add_node(session, id, &p, constant, sign);
        if (st == QP_OK) {
            remove[id] = 1;
            (*folded)++;
            ++*(is_bn ? n_bn : n_add);
        }
    }
    if (*folded) {
        qp_graph_remove_nodes(g, remove);
        qp_status fst = qp_graph_finalize(g);
        if (st == QP_OK) st = fst;
        qp_session_graph_changed(session);
    }
    free(remove);
    return st;
}

static qp_status fold_bn_run(qp_session *session, const qp_params *params, void *user) {
    (void)params;
    (void)user;
    qp_graph *g = qp_session_graph(session);
    if (!g) return qp_error(QP_ERR_INVALID_ARG, "fold_bn: the session has no model");
    int n_bn = 0, n_add = 0, folded = 0, kept = 0;
    do {
        qp_status st = fold_sweep(session, &n_bn, &n_add, &folded, &kept);
        if (st != QP_OK) return st;
    } while (folded > 0);
    char adds[64] = "";
    if (n_add) snprintf(adds, sizeof adds, " and %d constant Add/Sub node%s", n_add, n_add == 1 ? "" : "s");
    qp_log(session, QP_LOG_INFO, "folded %d BatchNormalization node%s%s%s", n_bn, n_bn == 1 ? "" : "s", adds,
           kept ? " (some kept: -vv says why)" : "");
    return QP_OK;
}

const qp_pass_def qp_pass_fold_bn = {
    .name = "fold_bn",
    .version = "1.1.0",
    .summary = "fold inference BatchNormalization and constant per-channel Add/Sub into the preceding Conv, ConvTranspose or Gemm",
    .params = NULL,
    .n_params = 0,
    .run = fold_bn_run,
};
