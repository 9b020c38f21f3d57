/* session_model.c — the qp_model_* accessors of qp_session.h: the session's graph as plugins see it. */
#include <stdlib.h>
#include <string.h>

#include "session/session_impl.h"

static const qp_graph *G(const qp_model *m) { return m->session->graph; }

static const qp_node *node_at(const qp_model *m, int node) {
    const qp_graph *g = G(m);
    return g && node >= 0 && node < g->n_nodes ? &g->nodes[node] : NULL;
}

static const qp_tensor *tensor_at(const qp_model *m, int tensor) {
    const qp_graph *g = G(m);
    return g && tensor >= 0 && tensor < g->n_tensors ? g->tensors[tensor] : NULL;
}

int qp_model_num_nodes(const qp_model *m) { return G(m) ? G(m)->n_nodes : 0; }

const char *qp_model_node_name(const qp_model *m, int node) {
    const qp_node *n = node_at(m, node);
    return n ? n->name : NULL;
}

const char *qp_model_node_op(const qp_model *m, int node) {
    const qp_node *n = node_at(m, node);
    return n ? n->op_type : NULL;
}

const char *qp_model_node_domain(const qp_model *m, int node) {
    const qp_node *n = node_at(m, node);
    return n ? n->domain : NULL;
}

int qp_model_node_num_inputs(const qp_model *m, int node) {
    const qp_node *n = node_at(m, node);
    return n ? n->n_inputs : 0;
}

int qp_model_node_input(const qp_model *m, int node, int k) {
    const qp_node *n = node_at(m, node);
    return n && k >= 0 && k < n->n_inputs ? n->inputs[k] : -1;
}

int qp_model_node_num_outputs(const qp_model *m, int node) {
    const qp_node *n = node_at(m, node);
    return n ? n->n_outputs : 0;
}

int qp_model_node_output(const qp_model *m, int node, int k) {
    const qp_node *n = node_at(m, node);
    return n && k >= 0 && k < n->n_outputs ? n->outputs[k] : -1;
}

int64_t qp_model_node_attr_int(const qp_model *m, int node, const char *name, int64_t fallback) {
    const qp_node *n = node_at(m, node);
    return n ? qp_node_attr_int(n, name, fallback) : fallback;
}

float qp_model_node_attr_float(const qp_model *m, int node, const char *name, float fallback) {
    const qp_node *n = node_at(m, node);
    return n ? qp_node_attr_float(n, name, fallback) : fallback;
}

int qp_model_node_attr_ints(const qp_model *m, int node, const char *name, const int64_t **values) {
    const qp_node *n = node_at(m, node);
    int count = 0;
    const int64_t *v = n ? qp_node_attr_ints(n, name, &count) : NULL;
    if (values) *values = v;
    return v ? count : 0;
}

int qp_model_num_tensors(const qp_model *m) { return G(m) ? G(m)->n_tensors : 0; }

int qp_model_find_tensor(const qp_model *m, const char *name) {
    return G(m) && name ? qp_graph_find_tensor(G(m), name) : -1;
}

const char *qp_model_tensor_name(const qp_model *m, int tensor) {
    const qp_tensor *t = tensor_at(m, tensor);
    return t ? t->name : NULL;
}

/* Shapes and dtypes of activations come from the session's fp32 plan; a model the engine cannot
 * plan still answers for initializers. */
static const qp_value *planned(const qp_model *m, int tensor) {
    qp_plan *plan;
    if (qp_session_fp32_plan(m->session, &plan) != QP_OK) return NULL;
    const qp_value *v = qp_plan_tensor(plan, tensor);
    return v && v->shape.rank >= 0 ? v : NULL;
}

int qp_model_tensor_dtype(const qp_model *m, int tensor) {
    const qp_tensor *t = tensor_at(m, tensor);
    if (!t) return 0;
    if (t->dtype != QP_DT_UNDEFINED) return t->dtype;
    const qp_value *v = planned(m, tensor);
    return v ? v->dtype : 0;
}

int qp_model_tensor_rank(const qp_model *m, int tensor) {
    const qp_tensor *t = tensor_at(m, tensor);
    if (!t) return -1;
    if (t->is_initializer) return t->shape.rank;
    const qp_value *v = planned(m, tensor);
    return v ? v->shape.rank : -1;
}

int64_t qp_model_tensor_dim(const qp_model *m, int tensor, int axis) {
    const qp_tensor *t = tensor_at(m, tensor);
    if (!t) return -1;
    const qp_shape *shape = t->is_initializer ? &t->shape : NULL;
    const qp_value *v = shape ? NULL : planned(m, tensor);
    if (v) shape = &v->shape;
    if (!shape || axis < 0 || axis >= shape->rank) return -1;
    return shape->dims[axis];
}

const void *qp_model_tensor_data(const qp_model *m, int tensor, size_t *nbytes) {
    const qp_tensor *t = tensor_at(m, tensor);
    if (!t || !t->is_initializer) {
        if (nbytes) *nbytes = 0;
        return NULL;
    }
    if (nbytes) *nbytes = t->nbytes;
    return t->data;
}

qp_status qp_model_set_tensor_data(qp_model *m, int tensor, const void *data, size_t nbytes) {
    qp_session *s = m->session;
    const qp_tensor *t = tensor_at(m, tensor);
    if (!t) return qp_error(QP_ERR_INVALID_ARG, "no tensor with id %d", tensor);
    if (!t->is_initializer)
        return qp_error(QP_ERR_INVALID_ARG, "tensor '%s' is an activation; only initializers can be rewritten",
                        t->name);
    if (nbytes != t->nbytes || !data)
        return qp_error(QP_ERR_INVALID_ARG, "tensor '%s' holds %zu bytes; %zu given", t->name, t->nbytes, nbytes);
    /* Plans point at the old contents and may have packed them: rebuild them on next use. */
    qp_plan_free(s->fp32_plan);
    s->fp32_plan = NULL;
    if (nbytes) memmove(t->data, data, nbytes);
    qp_encodings_clear(s->encodings, tensor);
    return QP_OK;
}

int qp_model_tensor_producer(const qp_model *m, int tensor) {
    const qp_tensor *t = tensor_at(m, tensor);
    return t ? t->producer : -1;
}

int qp_model_tensor_num_consumers(const qp_model *m, int tensor) {
    const qp_tensor *t = tensor_at(m, tensor);
    return t ? t->n_consumers : 0;
}

int qp_model_tensor_consumer(const qp_model *m, int tensor, int k) {
    const qp_tensor *t = tensor_at(m, tensor);
    return t && k >= 0 && k < t->n_consumers ? t->consumers[k] : -1;
}

int qp_model_tensor_is_graph_output(const qp_model *m, int tensor) {
    const qp_tensor *t = tensor_at(m, tensor);
    return t ? t->is_graph_output : 0;
}
