/* plan.c — the engine's planner and executor: shape inference, constant folding, arena layout, run loop. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "engine/engine.h"

/* OpenBLAS's thread control is not in cblas.h on every distribution. */
extern void openblas_set_num_threads(int num_threads);

enum { QP_ARENA_ALIGN = 64 };

typedef struct plan_step {
    int node_id;
    const qp_op_def *op;
    int64_t opset;
    const qp_value **inputs;   /* n_inputs pointers into plan->values (NULL if omitted) */
    qp_value **outputs;        /* n_outputs pointers into plan->values or plan->dummies */
    void *state;
    size_t scratch_bytes;
} plan_step;

struct qp_plan {
    const qp_graph *graph;
    qp_plan_options options;
    int n_threads;
    qp_value *values;          /* one per graph tensor */
    unsigned char *is_const;   /* value known at plan time (initializer or folded) */
    void **owned;              /* buffers the plan malloc'd (folded constants, inputs, dummies) */
    int n_owned, cap_owned;
    plan_step *steps;
    int n_steps;
    unsigned char *arena;
    size_t arena_bytes;
    void *scratch;
    size_t scratch_bytes;
    int *input_ids;
    int n_inputs;
};

static const char *node_desc(const qp_graph *g, int node_id, char *buf, size_t cap) {
    const qp_node *n = &g->nodes[node_id];
    if (n->name && n->name[0])
        snprintf(buf, cap, "node '%s' (%s)", n->name, n->op_type);
    else
        snprintf(buf, cap, "node #%d (%s)", node_id, n->op_type);
    return buf;
}

static void *aligned_alloc_bytes(size_t n) {
    size_t rounded = (n + QP_ARENA_ALIGN - 1) / QP_ARENA_ALIGN * QP_ARENA_ALIGN;
    return aligned_alloc(QP_ARENA_ALIGN, rounded ? rounded : QP_ARENA_ALIGN);
}

static qp_status own(qp_plan *plan, void *ptr) {
    if (!ptr) return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    if (plan->n_owned == plan->cap_owned) {
        int cap = plan->cap_owned ? plan->cap_owned * 2 : 64;
        void **grown = realloc(plan->owned, (size_t)cap * sizeof *grown);
        if (!grown) {
            free(ptr);
            return qp_error(QP_ERR_NOMEM, "out of memory while planning");
        }
        plan->owned = grown;
        plan->cap_owned = cap;
    }
    plan->owned[plan->n_owned++] = ptr;
    return QP_OK;
}

qp_status qp_graph_check_ops(const qp_graph *g) {
    char msg[2048] = "";
    size_t used = 0;
    int n_missing = 0;
    for (int id = 0; id < g->n_nodes; id++) {
        const qp_node *n = &g->nodes[id];
        if (qp_op_find(n->domain, n->op_type)) continue;
        int seen = 0; /* report each op type once, at its first node */
        for (int prev = 0; prev < id && !seen; prev++)
            seen = strcmp(g->nodes[prev].op_type, n->op_type) == 0 &&
                   strcmp(g->nodes[prev].domain, n->domain) == 0;
        if (seen) continue;
        char where[300];
        node_desc(g, id, where, sizeof where);
        if (used < sizeof msg)
            used += (size_t)snprintf(msg + used, sizeof msg - used, "%s%s%s%s (first used by %s)",
                                     n_missing ? ", " : "", n->domain[0] ? n->domain : "",
                                     n->domain[0] ? "::" : "", n->op_type, where);
        n_missing++;
    }
    if (!n_missing) return QP_OK;
    return qp_error(QP_ERR_UNSUPPORTED, "unsupported op%s: %s", n_missing > 1 ? "s" : "", msg);
}

/* Shape of graph input `id`: explicit override, else the model's dims with an unknown leading
 * dim taken as the batch size. Any other unknown dim is an error that says how to fix it. */
static qp_status resolve_input_shape(qp_plan *plan, int id, qp_shape *out) {
    const qp_tensor *t = plan->graph->tensors[id];
    for (int k = 0; k < plan->options.n_input_shapes; k++)
        if (strcmp(plan->options.input_shapes[k].name, t->name) == 0) {
            *out = plan->options.input_shapes[k].shape;
            return QP_OK;
        }
    if (t->shape.rank < 0)
        return qp_error(QP_ERR_SHAPE, "graph input '%s' has no shape in the model; give one "
                        "explicitly (e.g. --shape %s=1x3x224x224)", t->name, t->name);
    *out = t->shape;
    for (int d = 0; d < out->rank; d++) {
        if (out->dims[d] >= 0) continue;
        if (d == 0) {
            out->dims[0] = plan->options.batch > 0 ? plan->options.batch : 1;
            continue;
        }
        return qp_error(QP_ERR_SHAPE, "graph input '%s' has unknown dim %d%s%s%s; give its shape "
                        "explicitly (e.g. --shape %s=...)", t->name, d,
                        t->dim_param[d] ? " ('" : "", t->dim_param[d] ? t->dim_param[d] : "",
                        t->dim_param[d] ? "')" : "", t->name);
    }
    return QP_OK;
}

static void make_ctx(const qp_plan *plan, const plan_step *s, qp_op_context *ctx) {
    const qp_node *n = &plan->graph->nodes[s->node_id];
    memset(ctx, 0, sizeof *ctx);
    ctx->node = n;
    ctx->opset = s->opset;
    ctx->inputs = s->inputs;
    ctx->n_inputs = n->n_inputs;
    ctx->outputs = s->outputs;
    ctx->n_outputs = n->n_outputs;
    ctx->state = s->state;
    ctx->scratch = plan->scratch;
    ctx->scratch_bytes = s->scratch_bytes;
    ctx->n_threads = plan->n_threads;
}

/* Ops whose outputs depend only on input shapes, so they fold even when the input's data is
 * computed at run time (Shape in the Shape->Gather->Concat->Reshape chains of exported models). */
static int is_shape_only_op(const qp_node *n) {
    return n->domain[0] == '\0' && (strcmp(n->op_type, "Shape") == 0 || strcmp(n->op_type, "Size") == 0);
}

/* Placement of one activation in the arena. */
typedef struct arena_item {
    int tensor_id;
    int first, last;   /* steps during which the buffer must stay intact */
    size_t size;
    size_t offset;
} arena_item;

static int by_size_desc(const void *a, const void *b) {
    const arena_item *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->tensor_id - y->tensor_id; /* deterministic layout */
}

/* Greedy-by-size placement (TFLite's strategy): biggest tensors first, each at the lowest
 * offset that does not overlap a placed tensor whose lifetime intersects its own. */
static qp_status layout_arena(qp_plan *plan, arena_item *items, int n_items) {
    qsort(items, (size_t)n_items, sizeof *items, by_size_desc);
    size_t total = 0;
    size_t *starts = malloc((size_t)(n_items ? n_items : 1) * 2 * sizeof *starts);
    if (!starts) return qp_error(QP_ERR_NOMEM, "out of memory laying out the arena");
    for (int i = 0; i < n_items; i++) {
        /* Collect conflicting intervals, then scan for the first gap that fits. */
        int n_conf = 0;
        for (int j = 0; j < i; j++) {
            if (items[j].last < items[i].first || items[i].last < items[j].first) continue;
            starts[2 * n_conf] = items[j].offset;
            starts[2 * n_conf + 1] = items[j].offset + items[j].size;
            n_conf++;
        }
        size_t offset = 0;
        int moved = 1;
        while (moved) {
            moved = 0;
            for (int c = 0; c < n_conf; c++)
                if (offset < starts[2 * c + 1] && starts[2 * c] < offset + items[i].size) {
                    offset = (starts[2 * c + 1] + QP_ARENA_ALIGN - 1) / QP_ARENA_ALIGN * QP_ARENA_ALIGN;
                    moved = 1;
                }
        }
        items[i].offset = offset;
        if (offset + items[i].size > total) total = offset + items[i].size;
    }
    free(starts);
    plan->arena_bytes = total;
    plan->arena = aligned_alloc_bytes(total);
    if (!plan->arena) return qp_error(QP_ERR_NOMEM, "out of memory allocating a %zu-byte arena", total);
    for (int i = 0; i < n_items; i++) plan->values[items[i].tensor_id].data = plan->arena + items[i].offset;
    return QP_OK;
}

static qp_status plan_nodes(qp_plan *plan) {
    const qp_graph *g = plan->graph;
    char where[300];
    plan->steps = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *plan->steps);
    if (!plan->steps) return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    for (int id = 0; id < g->n_nodes; id++) {
        const qp_node *n = &g->nodes[id];
        plan_step s = {.node_id = id, .op = qp_op_find(n->domain, n->op_type),
                       .opset = qp_graph_opset(g, n->domain)};
        if (!s.op) return qp_error(QP_ERR_UNSUPPORTED, "%s: unsupported op", node_desc(g, id, where, sizeof where));
        s.inputs = calloc((size_t)(n->n_inputs ? n->n_inputs : 1), sizeof *s.inputs);
        s.outputs = calloc((size_t)(n->n_outputs ? n->n_outputs : 1), sizeof *s.outputs);
        qp_status st = own(plan, (void *)s.inputs);
        if (st == QP_OK) st = own(plan, s.outputs);
        if (st != QP_OK) return st;
        int all_const = 1;
        for (int k = 0; k < n->n_inputs; k++) {
            int t = n->inputs[k];
            if (t < 0) continue;
            s.inputs[k] = &plan->values[t];
            all_const &= plan->is_const[t];
        }
        for (int k = 0; k < n->n_outputs; k++) {
            int t = n->outputs[k];
            if (t >= 0) {
                s.outputs[k] = &plan->values[t];
            } else { /* omitted optional output: give the op somewhere harmless to write */
                s.outputs[k] = calloc(1, sizeof(qp_value));
                if ((st = own(plan, s.outputs[k])) != QP_OK) return st;
            }
        }
        qp_op_context ctx;
        make_ctx(plan, &s, &ctx);
        st = s.op->infer(&ctx);
        if (st != QP_OK) return qp_error_prefix(st, "%s: ", node_desc(g, id, where, sizeof where));
        for (int k = 0; k < n->n_outputs; k++) {
            qp_value *v = s.outputs[k];
            if (v->shape.rank < 0 || qp_shape_numel(&v->shape) < 0)
                return qp_error(QP_ERR_INTERNAL, "%s: output %d has no inferred shape",
                                node_desc(g, id, where, sizeof where), k);
            v->nbytes = (size_t)qp_shape_numel(&v->shape) * qp_dtype_size(v->dtype);
            if (n->outputs[k] < 0) { /* dummy: allocate right away */
                if ((st = own(plan, v->data = aligned_alloc_bytes(v->nbytes))) != QP_OK) return st;
            }
        }
        if (all_const || is_shape_only_op(n)) {
            /* Fold: run now, keep the result as a constant of the plan. */
            for (int k = 0; k < n->n_outputs; k++) {
                int t = n->outputs[k];
                if (t < 0) continue;
                if ((st = own(plan, plan->values[t].data = aligned_alloc_bytes(plan->values[t].nbytes))) != QP_OK)
                    return st;
            }
            size_t scratch = 0;
            void *state = NULL;
            if (s.op->prepare && (st = s.op->prepare(&ctx, &state, &scratch)) != QP_OK)
                return qp_error_prefix(st, "%s: ", node_desc(g, id, where, sizeof where));
            void *scratch_buf = scratch ? aligned_alloc_bytes(scratch) : NULL;
            ctx.state = state;
            ctx.scratch = scratch_buf;
            ctx.scratch_bytes = scratch;
            ctx.n_threads = 1;
            st = scratch && !scratch_buf ? qp_error(QP_ERR_NOMEM, "out of memory") : s.op->run(&ctx);
            free(scratch_buf);
            if (s.op->release) s.op->release(state);
            if (st != QP_OK) return qp_error_prefix(st, "%s: ", node_desc(g, id, where, sizeof where));
            for (int k = 0; k < n->n_outputs; k++)
                if (n->outputs[k] >= 0) plan->is_const[n->outputs[k]] = 1;
            continue;
        }
        if (s.op->prepare && (st = s.op->prepare(&ctx, &s.state, &s.scratch_bytes)) != QP_OK)
            return qp_error_prefix(st, "%s: ", node_desc(g, id, where, sizeof where));
        if (s.scratch_bytes > plan->scratch_bytes) plan->scratch_bytes = s.scratch_bytes;
        plan->steps[plan->n_steps++] = s;
    }
    return QP_OK;
}

/* Lifetimes over executed steps: a tensor lives from its producing step to its last reader;
 * graph outputs live to the end. Graph inputs get their own buffers (the caller fills them). */
static qp_status plan_memory(qp_plan *plan) {
    const qp_graph *g = plan->graph;
    int *first = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *first);
    int *last = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *last);
    if (!first || !last) {
        free(first);
        free(last);
        return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    }
    for (int t = 0; t < g->n_tensors; t++) first[t] = last[t] = -1;
    for (int si = 0; si < plan->n_steps; si++) {
        const qp_node *n = &g->nodes[plan->steps[si].node_id];
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0) first[n->outputs[k]] = last[n->outputs[k]] = si;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) last[n->inputs[k]] = si;
    }
    for (int k = 0; k < g->n_outputs; k++) last[g->outputs[k]] = plan->n_steps;
    arena_item *items = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *items);
    int n_items = 0;
    if (!items) {
        free(first);
        free(last);
        return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    }
    for (int t = 0; t < g->n_tensors; t++) {
        if (first[t] < 0 || plan->is_const[t]) continue;
        items[n_items++] = (arena_item){.tensor_id = t, .first = first[t], .last = last[t],
                                        .size = plan->values[t].nbytes};
    }
    qp_status st = layout_arena(plan, items, n_items);
    free(items);
    free(first);
    free(last);
    if (st != QP_OK) return st;
    if (plan->scratch_bytes) {
        plan->scratch = aligned_alloc_bytes(plan->scratch_bytes);
        if (!plan->scratch) return qp_error(QP_ERR_NOMEM, "out of memory for %zu scratch bytes", plan->scratch_bytes);
    }
    return QP_OK;
}

qp_status qp_plan_create(const qp_graph *g, const qp_plan_options *options, qp_plan **out) {
    *out = NULL;
    qp_status st = qp_graph_check_ops(g);
    if (st != QP_OK) return st;
    qp_plan *plan = calloc(1, sizeof *plan);
    if (!plan) return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    plan->graph = g;
    if (options) plan->options = *options;
    plan->n_threads = plan->options.n_threads > 0 ? plan->options.n_threads : qp_cpu_count();
    plan->values = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *plan->values);
    plan->is_const = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), 1);
    plan->input_ids = malloc((size_t)(g->n_inputs ? g->n_inputs : 1) * sizeof(int));
    if (!plan->values || !plan->is_const || !plan->input_ids) {
        qp_plan_free(plan);
        return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    }
    for (int t = 0; t < g->n_tensors; t++) {
        const qp_tensor *tensor = g->tensors[t];
        plan->values[t].shape.rank = -1;
        if (tensor->is_initializer && tensor->data != NULL) {
            plan->values[t] = (qp_value){tensor->dtype, tensor->shape, tensor->data, tensor->nbytes};
            plan->is_const[t] = 1;
        } else if (tensor->is_initializer) { /* empty initializer (zero elements) */
            plan->values[t] = (qp_value){tensor->dtype, tensor->shape, NULL, 0};
            plan->is_const[t] = 1;
            if ((st = own(plan, plan->values[t].data = aligned_alloc_bytes(0))) != QP_OK) goto fail;
        }
    }
    for (int i = 0; i < g->n_inputs; i++) {
        int id = g->inputs[i];
        qp_shape shape;
        if ((st = resolve_input_shape(plan, id, &shape)) != QP_OK) goto fail;
        qp_value_set(&plan->values[id], g->tensors[id]->dtype, &shape);
        if ((st = own(plan, plan->values[id].data = aligned_alloc_bytes(plan->values[id].nbytes))) != QP_OK)
            goto fail;
        memset(plan->values[id].data, 0, plan->values[id].nbytes);
        plan->input_ids[plan->n_inputs++] = id;
    }
    if ((st = plan_nodes(plan)) != QP_OK) goto fail;
    if ((st = plan_memory(plan)) != QP_OK) goto fail;
    *out = plan;
    return QP_OK;
fail:
    qp_plan_free(plan);
    return st;
}

void qp_plan_free(qp_plan *plan) {
    if (!plan) return;
    for (int i = 0; i < plan->n_steps; i++)
        if (plan->steps[i].op->release) plan->steps[i].op->release(plan->steps[i].state);
    for (int i = 0; i < plan->n_owned; i++) free(plan->owned[i]);
    free(plan->owned);
    free(plan->steps);
    free(plan->arena);
    free(plan->scratch);
    free(plan->values);
    free(plan->is_const);
    free(plan->input_ids);
    free(plan);
}

int qp_plan_num_inputs(const qp_plan *plan) { return plan->n_inputs; }
qp_value *qp_plan_input(qp_plan *plan, int i) { return &plan->values[plan->input_ids[i]]; }
const char *qp_plan_input_name(const qp_plan *plan, int i) {
    return plan->graph->tensors[plan->input_ids[i]]->name;
}
int qp_plan_num_outputs(const qp_plan *plan) { return plan->graph->n_outputs; }
const qp_value *qp_plan_output(const qp_plan *plan, int i) {
    return &plan->values[plan->graph->outputs[i]];
}
const char *qp_plan_output_name(const qp_plan *plan, int i) {
    return plan->graph->tensors[plan->graph->outputs[i]]->name;
}
size_t qp_plan_arena_bytes(const qp_plan *plan) { return plan->arena_bytes; }
const qp_value *qp_plan_tensor(const qp_plan *plan, int tensor_id) {
    if (tensor_id < 0 || tensor_id >= plan->graph->n_tensors) return NULL;
    return &plan->values[tensor_id];
}

qp_status qp_plan_run(qp_plan *plan) {
    const qp_graph *g = plan->graph;
    openblas_set_num_threads(plan->n_threads);
    for (int si = 0; si < plan->n_steps; si++) {
        plan_step *s = &plan->steps[si];
        qp_op_context ctx;
        make_ctx(plan, s, &ctx);
        qp_status st = s->op->run(&ctx);
        if (st != QP_OK) {
            char where[300];
            return qp_error_prefix(st, "%s: ", node_desc(g, s->node_id, where, sizeof where));
        }
        if (plan->options.observer) {
            const qp_node *n = &g->nodes[s->node_id];
            for (int k = 0; k < n->n_outputs; k++)
                if (n->outputs[k] >= 0)
                    plan->options.observer(plan->options.observer_user, n->outputs[k], s->outputs[k]);
        }
    }
    return QP_OK;
}
