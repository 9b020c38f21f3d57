/* ops_common_invoke.c — qp_ops_invoke: one node through infer, prepare, run and release. */
#include "ops/ops_common_invoke.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

qp_status qp_ops_invoke(const qp_node *node, int64_t opset, const qp_value *const *inputs, int n_inputs,
                        qp_value *outputs, int n_outputs, int n_threads) {
    const qp_op_def *op = qp_op_find(node->domain, node->op_type);
    if (!op) return qp_error(QP_ERR_UNSUPPORTED, "no implementation of op '%s'", node->op_type);
    qp_value **outs = calloc((size_t)(n_outputs > 0 ? n_outputs : 1), sizeof *outs);
    if (!outs) return qp_error(QP_ERR_NOMEM, "out of memory");
    for (int k = 0; k < n_outputs; k++) {
        memset(&outputs[k], 0, sizeof outputs[k]);
        outputs[k].shape.rank = -1;
        outs[k] = &outputs[k];
    }
    qp_op_context ctx = {.node = node,
                         .opset = opset,
                         .inputs = inputs,
                         .n_inputs = n_inputs,
                         .outputs = outs,
                         .n_outputs = n_outputs,
                         .n_threads = n_threads};
    qp_status st = op->infer(&ctx);
    for (int k = 0; st == QP_OK && k < n_outputs; k++) {
        int64_t numel = qp_shape_numel(&outputs[k].shape);
        if (outputs[k].shape.rank < 0 || numel < 0) {
            st = qp_error(QP_ERR_INTERNAL, "%s: output %d has no inferred shape", node->op_type, k);
            break;
        }
        outputs[k].nbytes = (size_t)numel * qp_dtype_size(outputs[k].dtype);
        outputs[k].data = malloc(outputs[k].nbytes ? outputs[k].nbytes : 1);
        if (!outputs[k].data) st = qp_error(QP_ERR_NOMEM, "out of memory");
    }
    void *state = NULL, *scratch = NULL;
    size_t scratch_bytes = 0;
    if (st == QP_OK && op->prepare) st = op->prepare(&ctx, &state, &scratch_bytes);
    if (st == QP_OK && scratch_bytes) {
        scratch = aligned_alloc(64, (scratch_bytes + 63) / 64 * 64);
        if (!scratch) st = qp_error(QP_ERR_NOMEM, "out of memory");
    }
    if (st == QP_OK) {
        ctx.state = state;
        ctx.scratch = scratch;
        ctx.scratch_bytes = scratch_bytes;
        st = op->run(&ctx);
    }
    free(scratch);
    if (op->release && state) op->release(state);
    if (st != QP_OK)
        for (int k = 0; k < n_outputs; k++) {
            free(outputs[k].data);
            outputs[k].data = NULL;
        }
    free(outs);
    return st;
}

qp_node *qp_ops_scratch_node(qp_graph *g, const char *op_type, int n_inputs, int n_outputs) {
    int ins[64], outs[64];
    if (n_inputs < 0 || n_inputs > 64 || n_outputs < 0 || n_outputs > 64) {
        qp_error(QP_ERR_INVALID_ARG, "qp_ops_scratch_node: at most 64 inputs and outputs");
        return NULL;
    }
    char name[160];
    for (int i = 0; i < n_inputs; i++) {
        snprintf(name, sizeof name, "%s_%d_in%d", op_type, g->n_nodes, i);
        if ((ins[i] = qp_graph_get_or_add_tensor(g, name)) < 0) return NULL;
    }
    for (int k = 0; k < n_outputs; k++) {
        snprintf(name, sizeof name, "%s_%d_out%d", op_type, g->n_nodes, k);
        if ((outs[k] = qp_graph_get_or_add_tensor(g, name)) < 0) return NULL;
    }
    snprintf(name, sizeof name, "%s_%d", op_type, g->n_nodes);
    int id = qp_graph_add_node(g, name, op_type, "", ins, n_inputs, outs, n_outputs);
    return id < 0 ? NULL : &g->nodes[id];
}

qp_status qp_ops_set_attr_int(qp_node *node, const char *name, int64_t v) {
    qp_attr *a = qp_node_add_attr(node, name, QP_ATTR_INT);
    if (!a) return qp_error(QP_ERR_NOMEM, "out of memory");
    a->i = v;
    return QP_OK;
}

qp_status qp_ops_set_attr_float(qp_node *node, const char *name, float v) {
    qp_attr *a = qp_node_add_attr(node, name, QP_ATTR_FLOAT);
    if (!a) return qp_error(QP_ERR_NOMEM, "out of memory");
    a->f = v;
    return QP_OK;
}

qp_status qp_ops_set_attr_string(qp_node *node, const char *name, const char *v) {
    qp_attr *a = qp_node_add_attr(node, name, QP_ATTR_STRING);
    if (!a || !(a->s = strdup(v))) return qp_error(QP_ERR_NOMEM, "out of memory");
    a->s_len = strlen(v);
    return QP_OK;
}

qp_status qp_ops_set_attr_ints(qp_node *node, const char *name, const int64_t *v, int n) {
    qp_attr *a = qp_node_add_attr(node, name, QP_ATTR_INTS);
    if (!a || !(a->ints = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1))))
        return qp_error(QP_ERR_NOMEM, "out of memory");
    if (n > 0) memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
    a->n = n;
    return QP_OK;
}

qp_status qp_ops_set_attr_floats(qp_node *node, const char *name, const float *v, int n) {
    qp_attr *a = qp_node_add_attr(node, name, QP_ATTR_FLOATS);
    if (!a || !(a->floats = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1))))
        return qp_error(QP_ERR_NOMEM, "out of memory");
    if (n > 0) memcpy(a->floats, v, sizeof(float) * (size_t)n);
    a->n = n;
    return QP_OK;
}

qp_status qp_ops_set_attr_tensor(qp_node *node, const char *name, qp_dtype dtype, const qp_shape *shape,
                                 const void *data) {
    qp_attr *a = qp_node_add_attr(node, name, QP_ATTR_TENSOR);
    if (!a || !(a->t = calloc(1, sizeof *a->t))) return qp_error(QP_ERR_NOMEM, "out of memory");
    int64_t n = qp_shape_numel(shape);
    size_t bytes = n > 0 ? (size_t)n * qp_dtype_size(dtype) : 0;
    a->t->dtype = dtype;
    a->t->shape = *shape;
    a->t->nbytes = bytes;
    if (!(a->t->data = malloc(bytes ? bytes : 1))) return qp_error(QP_ERR_NOMEM, "out of memory");
    if (bytes) memcpy(a->t->data, data, bytes);
    return QP_OK;
}

qp_value qp_ops_value(qp_dtype dtype, int rank, const int64_t *dims, void *data) {
    qp_value v = {.dtype = dtype, .data = data};
    qp_shape s = {.rank = rank};
    for (int d = 0; d < rank; d++)
        s.dims[d] = dims[d];
    qp_value_set(&v, dtype, &s);
    v.data = data;
    return v;
}
