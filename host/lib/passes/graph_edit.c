/* graph_edit.c — graph surgery for passes: node removal, fresh initializers, Constant folding into initializers. */
#include "passes/graph_edit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/op.h"

void qp_graph_remove_nodes(qp_graph *g, const unsigned char *remove) {
    int kept = 0;
    for (int id = 0; id < g->n_nodes; id++) {
        if (remove[id]) {
            qp_node_free_contents(&g->nodes[id]);
            continue;
        }
        if (kept != id) g->nodes[kept] = g->nodes[id];
        kept++;
    }
    g->n_nodes = kept;
}

int qp_graph_add_initializer(qp_graph *g, const char *base, qp_dtype dtype, const qp_shape *shape, void *data,
                             size_t nbytes) {
    char name[512];
    snprintf(name, sizeof name, "%s", base);
    for (int k = 1; qp_graph_find_tensor(g, name) >= 0; k++) snprintf(name, sizeof name, "%s_%d", base, k);
    int id = qp_graph_get_or_add_tensor(g, name);
    if (id < 0) {
        free(data);
        return -1;
    }
    qp_tensor_set_data(g->tensors[id], dtype, shape, data, nbytes);
    return id;
}

/* The tensor a Constant node defines, moved out of its attribute (or built from a scalar/list
 * attribute). Returns 1 when converted, 0 when the node has no convertible attribute, -1 on
 * allocation failure. */
static int constant_to_tensor(qp_node *n, qp_tensor *out) {
    for (int i = 0; i < n->n_attrs; i++) {
        qp_attr *a = &n->attrs[i];
        qp_shape shape = {.rank = 0};
        void *data = NULL;
        size_t nbytes = 0;
        qp_dtype dtype;
        if (strcmp(a->name, "value") == 0 && a->type == QP_ATTR_TENSOR && a->t) {
            dtype = a->t->dtype;
            shape = a->t->shape;
            nbytes = a->t->nbytes;
            data = a->t->data ? a->t->data : malloc(1);
            if (!data) return -1;
            a->t->data = NULL;
        } else if (strcmp(a->name, "value_float") == 0 && a->type == QP_ATTR_FLOAT) {
            dtype = QP_DT_FLOAT;
            nbytes = sizeof(float);
            if (!(data = malloc(nbytes))) return -1;
            memcpy(data, &a->f, nbytes);
        } else if (strcmp(a->name, "value_int") == 0 && a->type == QP_ATTR_INT) {
            dtype = QP_DT_INT64;
            nbytes = sizeof(int64_t);
            if (!(data = malloc(nbytes))) return -1;
            memcpy(data, &a->i, nbytes);
        } else if (strcmp(a->name, "value_floats") == 0 && a->type == QP_ATTR_FLOATS) {
            dtype = QP_DT_FLOAT;
            shape = (qp_shape){.rank = 1, .dims = {a->n}};
            nbytes = (size_t)a->n * sizeof(float);
            if (!(data = malloc(nbytes ? nbytes : 1))) return -1;
            if (nbytes) memcpy(data, a->floats, nbytes);
        } else if (strcmp(a->name, "value_ints") == 0 && a->type == QP_ATTR_INTS) {
            dtype = QP_DT_INT64;
            shape = (qp_shape){.rank = 1, .dims = {a->n}};
            nbytes = (size_t)a->n * sizeof(int64_t);
            if (!(data = malloc(nbytes ? nbytes : 1))) return -1;
            if (nbytes) memcpy(data, a->ints, nbytes);
        } else {
            continue;
        }
        qp_tensor_set_data(out, dtype, &shape, data, nbytes);
        return 1;
    }
    return 0;
}

int qp_graph_constants_to_initializers(qp_graph *g) {
    unsigned char *remove = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), 1);
    if (!remove) {
        qp_error(QP_ERR_NOMEM, "out of memory converting Constant nodes");
        return -1;
    }
    int converted = 0;
    for (int id = 0; id < g->n_nodes; id++) {
        qp_node *n = &g->nodes[id];
        if (strcmp(n->op_type, "Constant") != 0 || n->domain[0] != '\0' || n->n_outputs != 1 || n->outputs[0] < 0)
            continue;
        qp_tensor *t = g->tensors[n->outputs[0]];
        if (t->is_graph_output || t->is_graph_input) continue;
        int r = constant_to_tensor(n, t);
        if (r < 0) {
            free(remove);
            qp_error(QP_ERR_NOMEM, "out of memory converting Constant nodes");
            return -1;
        }
        if (r == 0) continue;
        t->producer = -1;
        remove[id] = 1;
        converted++;
    }
    if (converted) {
        qp_graph_remove_nodes(g, remove);
        if (qp_graph_finalize(g) != QP_OK) converted = -1;
    }
    free(remove);
    return converted;
}

static void *alloc_aligned(size_t n) {
    size_t rounded = (n + 63) / 64 * 64;
    return aligned_alloc(64, rounded ? rounded : 64);
}

/* Runs one node on constant inputs; on success its outputs hold malloc'd data. */
static int evaluate_node(const qp_graph *g, const qp_node *n, const qp_op_def *op, qp_value *outs) {
    qp_value ins[16];
    const qp_value *in_ptrs[16];
    qp_value *out_ptrs[16];
    if (n->n_inputs > 16 || n->n_outputs > 16) return 0;
    for (int k = 0; k < n->n_inputs; k++) {
        in_ptrs[k] = NULL;
        if (n->inputs[k] < 0) continue;
        const qp_tensor *t = g->tensors[n->inputs[k]];
        ins[k] = (qp_value){t->dtype, t->shape, t->data, t->nbytes};
        in_ptrs[k] = &ins[k];
    }
    for (int k = 0; k < n->n_outputs; k++) {
        memset(&outs[k], 0, sizeof outs[k]);
        outs[k].shape.rank = -1;
        out_ptrs[k] = &outs[k];
    }
    qp_op_context ctx = {.node = n, .opset = qp_graph_opset(g, n->domain), .inputs = in_ptrs,
                         .n_inputs = n->n_inputs, .outputs = out_ptrs, .n_outputs = n->n_outputs, .n_threads = 1};
    if (op->infer(&ctx) != QP_OK) return 0;
    int ok = 1;
    for (int k = 0; k < n->n_outputs && ok; k++) {
        int64_t numel = qp_shape_numel(&outs[k].shape);
        size_t size = qp_dtype_size(outs[k].dtype);
        if (numel < 0 || size == 0) ok = 0;
        else if (!(outs[k].data = alloc_aligned((size_t)numel * size))) ok = 0;
        else outs[k].nbytes = (size_t)numel * size;
    }
    void *state = NULL, *scratch = NULL;
    size_t scratch_bytes = 0;
    if (ok && op->prepare && op->prepare(&ctx, &state, &scratch_bytes) != QP_OK) ok = 0;
    if (ok && scratch_bytes && !(scratch = alloc_aligned(scratch_bytes))) ok = 0;
    ctx.state = state;
    ctx.scratch = scratch;
    ctx.scratch_bytes = scratch_bytes;
    if (ok && op->run(&ctx) != QP_OK) ok = 0;
    if (op->release && state) op->release(state);
    free(scratch);
    if (!ok)
        for (int k = 0; k < n->n_outputs; k++) {
            free(outs[k].data);
            outs[k].data = NULL;
        }
    return ok;
}

int qp_graph_fold_constants(qp_graph *g) {
    unsigned char *remove = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), 1);
    if (!remove) {
        qp_error(QP_ERR_NOMEM, "out of memory folding constants");
        return -1;
    }
    int folded = 0;
    for (int id = 0; id < g->n_nodes; id++) {
        const qp_node *n = &g->nodes[id];
        int foldable = n->n_inputs > 0 && n->n_outputs > 0 && n->n_outputs <= 16;
        for (int k = 0; k < n->n_inputs && foldable; k++) {
            int t = n->inputs[k];
            foldable = t < 0 || (g->tensors[t]->is_initializer && (g->tensors[t]->data || g->tensors[t]->nbytes == 0));
        }
        for (int k = 0; k < n->n_outputs && foldable; k++) {
            int t = n->outputs[k];
            foldable = t < 0 || (!g->tensors[t]->is_graph_output && !g->tensors[t]->is_graph_input);
        }
        const qp_op_def *op = foldable ? qp_op_find(n->domain, n->op_type) : NULL;
        if (!op) continue;
        qp_value outs[16];
        if (!evaluate_node(g, n, op, outs)) {
            qp_error_clear(); /* the engine will report it when it plans the node */
            continue;
        }
        for (int k = 0; k < n->n_outputs; k++) {
            if (n->outputs[k] < 0) {
                free(outs[k].data);
                continue;
            }
            qp_tensor *t = g->tensors[n->outputs[k]];
            qp_tensor_set_data(t, outs[k].dtype, &outs[k].shape, outs[k].data, outs[k].nbytes);
            t->producer = -1;
        }
        remove[id] = 1;
        folded++;
    }
    if (folded) {
        qp_graph_remove_nodes(g, remove);
        if (qp_graph_finalize(g) != QP_OK) folded = -1;
    }
    free(remove);
    return folded;
}

static qp_attr *find_or_add(qp_node *node, const char *name, qp_attr_type type) {
    for (int i = 0; i < node->n_attrs; i++)
        if (strcmp(node->attrs[i].name, name) == 0) {
            node->attrs[i].type = type;
            return &node->attrs[i];
        }
    return qp_node_add_attr(node, name, type);
}

qp_status qp_node_set_attr_int(qp_node *node, const char *name, int64_t value) {
    qp_attr *a = find_or_add(node, name, QP_ATTR_INT);
    if (!a) return qp_error(QP_ERR_NOMEM, "out of memory setting attribute '%s'", name);
    a->i = value;
    return QP_OK;
}

qp_status qp_node_set_attr_float(qp_node *node, const char *name, float value) {
    qp_attr *a = find_or_add(node, name, QP_ATTR_FLOAT);
    if (!a) return qp_error(QP_ERR_NOMEM, "out of memory setting attribute '%s'", name);
    a->f = value;
    return QP_OK;
}
