/* ir.c — graph construction, name lookup, attribute access and topological validation. */
#include "ir/ir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Open-addressing hash from tensor name to id; sized to a power of two, rebuilt on growth. */
struct qp_name_index {
    int *slots; /* tensor id or -1 */
    size_t cap;
};

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static char *dup_string(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (out) memcpy(out, s, n + 1);
    return out;
}

size_t qp_dtype_size(qp_dtype dtype) {
    switch (dtype) {
    case QP_DT_FLOAT: case QP_DT_INT32: case QP_DT_UINT32: return 4;
    case QP_DT_UINT8: case QP_DT_INT8: case QP_DT_BOOL: return 1;
    case QP_DT_UINT16: case QP_DT_INT16: case QP_DT_FLOAT16: case QP_DT_BFLOAT16: return 2;
    case QP_DT_INT64: case QP_DT_DOUBLE: case QP_DT_UINT64: return 8;
    case QP_DT_STRING: case QP_DT_UNDEFINED: return 0;
    }
    return 0;
}

const char *qp_dtype_name(qp_dtype dtype) {
    switch (dtype) {
    case QP_DT_UNDEFINED: return "undefined";
    case QP_DT_FLOAT: return "float32";
    case QP_DT_UINT8: return "uint8";
    case QP_DT_INT8: return "int8";
    case QP_DT_UINT16: return "uint16";
    case QP_DT_INT16: return "int16";
    case QP_DT_INT32: return "int32";
    case QP_DT_INT64: return "int64";
    case QP_DT_STRING: return "string";
    case QP_DT_BOOL: return "bool";
    case QP_DT_FLOAT16: return "float16";
    case QP_DT_DOUBLE: return "float64";
    case QP_DT_UINT32: return "uint32";
    case QP_DT_UINT64: return "uint64";
    case QP_DT_BFLOAT16: return "bfloat16";
    }
    return "unknown";
}

int64_t qp_shape_numel(const qp_shape *shape) {
    if (shape->rank < 0) return -1;
    int64_t n = 1;
    for (int i = 0; i < shape->rank; i++) {
        if (shape->dims[i] < 0) return -1;
        n *= shape->dims[i];
    }
    return n;
}

const char *qp_shape_str(const qp_shape *shape, char *buf, size_t cap) {
    if (cap == 0) return buf;
    if (shape->rank < 0) {
        snprintf(buf, cap, "[?]");
        return buf;
    }
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < shape->rank && used < cap; i++) {
        if (shape->dims[i] < 0)
            used += (size_t)snprintf(buf + used, cap - used, "%s?", i ? "," : "");
        else
            used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? "," : "",
                                     (long long)shape->dims[i]);
    }
    if (used < cap) snprintf(buf + used, cap - used, "]");
    return buf;
}

qp_graph *qp_graph_new(void) {
    qp_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->index = calloc(1, sizeof *g->index);
    if (!g->index) {
        free(g);
        return NULL;
    }
    return g;
}

static void free_attr(qp_attr *a) {
    free(a->name);
    free(a->s);
    free(a->floats);
    free(a->ints);
    for (int k = 0; a->strings && k < a->n; k++) free(a->strings[k]);
    free(a->strings);
    if (a->t) {
        free(a->t->data);
        free(a->t);
    }
}

void qp_node_free_contents(qp_node *n) {
    free(n->name);
    free(n->op_type);
    free(n->domain);
    free(n->inputs);
    free(n->outputs);
    for (int a = 0; a < n->n_attrs; a++) free_attr(&n->attrs[a]);
    free(n->attrs);
}

void qp_graph_free(qp_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_tensors; i++) {
        qp_tensor *t = g->tensors[i];
        free(t->name);
        for (int d = 0; d < QP_MAX_RANK; d++) free(t->dim_param[d]);
        free(t->data);
        free(t->consumers);
        free(t);
    }
    free(g->tensors);
    for (int i = 0; i < g->n_nodes; i++) qp_node_free_contents(&g->nodes[i]);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    for (int i = 0; i < g->n_opsets; i++) free(g->opsets[i].domain);
    free(g->opsets);
    free(g->name);
    free(g->producer_name);
    if (g->index) free(g->index->slots);
    free(g->index);
    free(g);
}

static qp_status index_rebuild(qp_graph *g, size_t cap) {
    int *slots = malloc(cap * sizeof *slots);
    if (!slots) return qp_error(QP_ERR_NOMEM, "out of memory indexing tensor names");
    for (size_t i = 0; i < cap; i++) slots[i] = -1;
    for (int id = 0; id < g->n_tensors; id++) {
        size_t h = (size_t)name_hash(g->tensors[id]->name) & (cap - 1);
        while (slots[h] >= 0) h = (h + 1) & (cap - 1);
        slots[h] = id;
    }
    free(g->index->slots);
    g->index->slots = slots;
    g->index->cap = cap;
    return QP_OK;
}

int qp_graph_find_tensor(const qp_graph *g, const char *name) {
    if (!g->index->cap || !name) return -1;
    size_t h = (size_t)name_hash(name) & (g->index->cap - 1);
    while (g->index->slots[h] >= 0) {
        int id = g->index->slots[h];
        if (strcmp(g->tensors[id]->name, name) == 0) return id;
        h = (h + 1) & (g->index->cap - 1);
    }
    return -1;
}

int qp_graph_get_or_add_tensor(qp_graph *g, const char *name) {
    int id = qp_graph_find_tensor(g, name);
    if (id >= 0) return id;
    if (g->n_tensors == g->cap_tensors) {
        int cap = g->cap_tensors ? g->cap_tensors * 2 : 64;
        qp_tensor **grown = realloc(g->tensors, (size_t)cap * sizeof *grown);
        if (!grown) return qp_error(QP_ERR_NOMEM, "out of memory adding tensor '%s'", name), -1;
        g->tensors = grown;
        g->cap_tensors = cap;
    }
    qp_tensor *t = calloc(1, sizeof *t);
    if (!t || !(t->name = dup_string(name))) {
        free(t);
        qp_error(QP_ERR_NOMEM, "out of memory adding tensor '%s'", name);
        return -1;
    }
    t->shape.rank = -1;
    t->producer = -1;
    id = g->n_tensors++;
    g->tensors[id] = t;
    /* Keep the load factor under 1/2. */
    if ((size_t)g->n_tensors * 2 > g->index->cap) {
        if (index_rebuild(g, g->index->cap ? g->index->cap * 2 : 128) != QP_OK) {
            g->n_tensors--;
            free(t->name);
            free(t);
            return -1;
        }
    } else {
        size_t h = (size_t)name_hash(name) & (g->index->cap - 1);
        while (g->index->slots[h] >= 0) h = (h + 1) & (g->index->cap - 1);
        g->index->slots[h] = id;
    }
    return id;
}

int qp_graph_add_node(qp_graph *g, const char *name, const char *op_type, const char *domain,
                      const int *inputs, int n_inputs, const int *outputs, int n_outputs) {
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        qp_node *grown = realloc(g->nodes, (size_t)cap * sizeof *grown);
        if (!grown) return qp_error(QP_ERR_NOMEM, "out of memory adding node '%s'", name), -1;
        g->nodes = grown;
        g->cap_nodes = cap;
    }
    qp_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = dup_string(name);
    n->op_type = dup_string(op_type);
    n->domain = dup_string(domain && strcmp(domain, "ai.onnx") != 0 ? domain : "");
    n->inputs = malloc((size_t)(n_inputs ? n_inputs : 1) * sizeof(int));
    n->outputs = malloc((size_t)(n_outputs ? n_outputs : 1) * sizeof(int));
    if (!n->name || !n->op_type || !n->domain || !n->inputs || !n->outputs) {
        free(n->name);
        free(n->op_type);
        free(n->domain);
        free(n->inputs);
        free(n->outputs);
        qp_error(QP_ERR_NOMEM, "out of memory adding node '%s'", name);
        return -1;
    }
    if (n_inputs) memcpy(n->inputs, inputs, (size_t)n_inputs * sizeof(int));
    if (n_outputs) memcpy(n->outputs, outputs, (size_t)n_outputs * sizeof(int));
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    return g->n_nodes++;
}

qp_attr *qp_node_add_attr(qp_node *node, const char *name, qp_attr_type type) {
    qp_attr *grown = realloc(node->attrs, (size_t)(node->n_attrs + 1) * sizeof *grown);
    if (!grown) return NULL;
    node->attrs = grown;
    qp_attr *a = &grown[node->n_attrs];
    memset(a, 0, sizeof *a);
    a->name = dup_string(name);
    if (!a->name) return NULL;
    a->type = type;
    node->n_attrs++;
    return a;
}

int64_t qp_graph_opset(const qp_graph *g, const char *domain) {
    if (!domain || strcmp(domain, "ai.onnx") == 0) domain = "";
    for (int i = 0; i < g->n_opsets; i++) {
        const char *d = g->opsets[i].domain ? g->opsets[i].domain : "";
        if (strcmp(d, "ai.onnx") == 0) d = "";
        if (strcmp(d, domain) == 0) return g->opsets[i].version;
    }
    return 0;
}

static qp_status add_consumer(qp_tensor *t, int node_id) {
    if (t->n_consumers == t->cap_consumers) {
        int cap = t->cap_consumers ? t->cap_consumers * 2 : 4;
        int *grown = realloc(t->consumers, (size_t)cap * sizeof *grown);
        if (!grown) return qp_error(QP_ERR_NOMEM, "out of memory linking tensor '%s'", t->name);
        t->consumers = grown;
        t->cap_consumers = cap;
    }
    t->consumers[t->n_consumers++] = node_id;
    return QP_OK;
}

static const char *node_label(const qp_node *n, int id, char *buf, size_t cap) {
    if (n->name && n->name[0])
        snprintf(buf, cap, "node '%s' (%s)", n->name, n->op_type);
    else
        snprintf(buf, cap, "node #%d (%s)", id, n->op_type);
    return buf;
}

/* Producer links, then Kahn's algorithm in original order (stable: a graph that is already
 * sorted keeps its order, which keeps reports and exports diff-friendly). */
qp_status qp_graph_finalize(qp_graph *g) {
    char label[512];
    for (int i = 0; i < g->n_tensors; i++) {
        g->tensors[i]->producer = -1;
        g->tensors[i]->n_consumers = 0;
    }
    for (int id = 0; id < g->n_nodes; id++) {
        const qp_node *n = &g->nodes[id];
        for (int k = 0; k < n->n_outputs; k++) {
            int t = n->outputs[k];
            if (t < 0) continue;
            if (t >= g->n_tensors) return qp_error(QP_ERR_INTERNAL, "node output id out of range");
            qp_tensor *tensor = g->tensors[t];
            if (tensor->producer >= 0 || tensor->is_initializer || tensor->is_graph_input)
                return qp_error(QP_ERR_INVALID_MODEL, "%s: output '%s' is already %s",
                                node_label(n, id, label, sizeof label), tensor->name,
                                tensor->producer >= 0 ? "produced by another node"
                                : tensor->is_initializer ? "an initializer" : "a graph input");
            tensor->producer = id;
        }
    }
    for (int id = 0; id < g->n_nodes; id++) {
        const qp_node *n = &g->nodes[id];
        for (int k = 0; k < n->n_inputs; k++) {
            int t = n->inputs[k];
            if (t < 0) continue;
            qp_tensor *tensor = g->tensors[t];
            if (tensor->producer < 0 && !tensor->is_initializer && !tensor->is_graph_input)
                return qp_error(QP_ERR_INVALID_MODEL,
                                "%s: input '%s' is not produced by any node, nor a graph input or "
                                "initializer (dangling edge or missing initializer)",
                                node_label(n, id, label, sizeof label), tensor->name);
            qp_status st = add_consumer(tensor, id);
            if (st != QP_OK) return st;
        }
    }
    for (int k = 0; k < g->n_outputs; k++) {
        qp_tensor *tensor = g->tensors[g->outputs[k]];
        tensor->is_graph_output = 1;
        if (tensor->producer < 0 && !tensor->is_initializer && !tensor->is_graph_input)
            return qp_error(QP_ERR_INVALID_MODEL, "graph output '%s' is not produced by any node",
                            tensor->name);
    }

    /* Kahn: pending[id] = number of inputs whose producer has not been emitted yet. */
    int *pending = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *pending);
    int *order = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *order);
    int *emitted = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *emitted);
    if (!pending || !order || !emitted) {
        free(pending);
        free(order);
        free(emitted);
        return qp_error(QP_ERR_NOMEM, "out of memory sorting the graph");
    }
    for (int id = 0; id < g->n_nodes; id++)
        for (int k = 0; k < g->nodes[id].n_inputs; k++) {
            int t = g->nodes[id].inputs[k];
            if (t >= 0 && g->tensors[t]->producer >= 0) pending[id]++;
        }
    int n_order = 0;
    /* Repeatedly take the lowest-numbered ready node: O(n^2) worst case but n is a few thousand
     * at most, and it keeps the model's own order whenever that order is valid. */
    int progress = 1;
    while (n_order < g->n_nodes && progress) {
        progress = 0;
        for (int id = 0; id < g->n_nodes; id++) {
            if (emitted[id] || pending[id] != 0) continue;
            emitted[id] = 1;
            order[n_order++] = id;
            progress = 1;
            const qp_node *n = &g->nodes[id];
            for (int k = 0; k < n->n_outputs; k++) {
                int t = n->outputs[k];
                if (t < 0) continue;
                const qp_tensor *tensor = g->tensors[t];
                for (int c = 0; c < tensor->n_consumers; c++) pending[tensor->consumers[c]]--;
            }
            break; /* restart from the lowest id */
        }
    }
    if (n_order < g->n_nodes) {
        int culprit = 0;
        while (culprit < g->n_nodes && emitted[culprit]) culprit++;
        qp_status st = qp_error(QP_ERR_INVALID_MODEL, "the graph has a cycle through %s",
                                node_label(&g->nodes[culprit], culprit, label, sizeof label));
        free(pending);
        free(order);
        free(emitted);
        return st;
    }
    int in_order = 1;
    for (int i = 0; i < n_order; i++) in_order &= order[i] == i;
    qp_status st = QP_OK;
    if (!in_order) {
        qp_node *sorted = malloc((size_t)g->n_nodes * sizeof *sorted);
        if (!sorted) {
            st = qp_error(QP_ERR_NOMEM, "out of memory sorting the graph");
        } else {
            for (int i = 0; i < n_order; i++) sorted[i] = g->nodes[order[i]];
            free(g->nodes);
            g->nodes = sorted;
            g->cap_nodes = g->n_nodes;
        }
    }
    free(pending);
    free(order);
    free(emitted);
    if (st != QP_OK || in_order) return st;
    return qp_graph_finalize(g); /* relink with the new ids (already sorted, so no recursion) */
}

const qp_attr *qp_node_attr(const qp_node *node, const char *name) {
    for (int i = 0; i < node->n_attrs; i++)
        if (strcmp(node->attrs[i].name, name) == 0) return &node->attrs[i];
    return NULL;
}

int64_t qp_node_attr_int(const qp_node *node, const char *name, int64_t fallback) {
    const qp_attr *a = qp_node_attr(node, name);
    return a && a->type == QP_ATTR_INT ? a->i : fallback;
}

float qp_node_attr_float(const qp_node *node, const char *name, float fallback) {
    const qp_attr *a = qp_node_attr(node, name);
    if (!a) return fallback;
    if (a->type == QP_ATTR_FLOAT) return a->f;
    if (a->type == QP_ATTR_INT) return (float)a->i;
    return fallback;
}

const char *qp_node_attr_string(const qp_node *node, const char *name, const char *fallback) {
    const qp_attr *a = qp_node_attr(node, name);
    return a && a->type == QP_ATTR_STRING ? a->s : fallback;
}

const int64_t *qp_node_attr_ints(const qp_node *node, const char *name, int *n) {
    const qp_attr *a = qp_node_attr(node, name);
    if (!a || a->type != QP_ATTR_INTS) {
        *n = 0;
        return NULL;
    }
    *n = a->n;
    return a->ints;
}

const float *qp_node_attr_floats(const qp_node *node, const char *name, int *n) {
    const qp_attr *a = qp_node_attr(node, name);
    if (!a || a->type != QP_ATTR_FLOATS) {
        *n = 0;
        return NULL;
    }
    *n = a->n;
    return a->floats;
}

void qp_tensor_set_data(qp_tensor *t, qp_dtype dtype, const qp_shape *shape, void *data,
                        size_t nbytes) {
    free(t->data);
    t->dtype = dtype;
    t->shape = *shape;
    t->data = data;
    t->nbytes = nbytes;
    t->is_initializer = 1;
}

/* IEEE binary16 conversions (float16 initializers, npy files, Cast): exact widening; narrowing
 * rounds to nearest even, overflows to infinity, keeps NaN. */
float qp_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while (!(mant & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | mant << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | mant << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t qp_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, exp = (x >> 23) & 0xff, mant = x & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        mant |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e), half = mant >> shift, rem = mant & ((1u << shift) - 1),
                 mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | (uint32_t)e << 10 | mant >> 13, rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* may carry into the exponent: correct */
    return (uint16_t)half;
}
