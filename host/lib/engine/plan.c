/* plan.c — the engine's planner and executor: shape inference, constant folding, mode lowering, arena layout, run loop. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "engine/engine.h"
#include "engine/int8_ops/q8_ops.h"
#include "engine/plan_internal.h"
#include "ops/ops_common_util.h"

/* OpenBLAS's thread control is not in cblas.h on every distribution. */
extern void openblas_set_num_threads(int num_threads);

enum { QP_ARENA_ALIGN = 64 };

const char *qp_plan_node_desc(const qp_graph *g, int node_id, char *buf, size_t cap) {
    const qp_node *n = &g->nodes[node_id];
    if (n->name && n->name[0])
        snprintf(buf, cap, "node '%s' (%s)", n->name, n->op_type);
    else
        snprintf(buf, cap, "node #%d (%s)", node_id, n->op_type);
    return buf;
}

void *qp_plan_alloc(size_t n) {
    size_t rounded = (n + QP_ARENA_ALIGN - 1) / QP_ARENA_ALIGN * QP_ARENA_ALIGN;
    return aligned_alloc(QP_ARENA_ALIGN, rounded ? rounded : QP_ARENA_ALIGN);
}

qp_status qp_plan_own(qp_plan *plan, void *ptr) {
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

static qp_status reserve_values(qp_plan *plan, int n) {
    if (n <= plan->cap_values) return QP_OK;
    int cap = plan->cap_values ? plan->cap_values : 16;
    while (cap < n) cap *= 2;
    qp_value *values = realloc(plan->values, (size_t)cap * sizeof *values);
    if (values) plan->values = values;
    unsigned char *is_const = realloc(plan->is_const, (size_t)cap);
    if (is_const) plan->is_const = is_const;
    unsigned char *is_input = realloc(plan->is_input, (size_t)cap);
    if (is_input) plan->is_input = is_input;
    if (!values || !is_const || !is_input) return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    memset(plan->values + plan->cap_values, 0, (size_t)(cap - plan->cap_values) * sizeof *values);
    memset(plan->is_const + plan->cap_values, 0, (size_t)(cap - plan->cap_values));
    memset(plan->is_input + plan->cap_values, 0, (size_t)(cap - plan->cap_values));
    plan->cap_values = cap;
    return QP_OK;
}

int qp_plan_add_value(qp_plan *plan, qp_dtype dtype, const qp_shape *shape) {
    if (reserve_values(plan, plan->n_values + 1) != QP_OK) return -1;
    int id = plan->n_values++;
    qp_value *v = &plan->values[id];
    memset(v, 0, sizeof *v);
    v->dtype = dtype;
    v->shape = *shape;
    int64_t numel = shape->rank >= 0 ? qp_shape_numel(shape) : -1;
    v->nbytes = numel > 0 ? (size_t)numel * qp_dtype_size(dtype) : 0;
    return id;
}

int qp_plan_add_const(qp_plan *plan, qp_dtype dtype, const qp_shape *shape, void *data) {
    if (qp_plan_own(plan, data) != QP_OK) return -1;
    int id = qp_plan_add_value(plan, dtype, shape);
    if (id < 0) return -1;
    plan->values[id].data = data;
    plan->is_const[id] = 1;
    return id;
}

static qp_status reserve_steps(qp_plan *plan, int n) {
    if (n <= plan->cap_steps) return QP_OK;
    int cap = plan->cap_steps ? plan->cap_steps * 2 : 64;
    while (cap < n) cap *= 2;
    qp_plan_step *steps = realloc(plan->steps, (size_t)cap * sizeof *steps);
    if (!steps) return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    plan->steps = steps;
    plan->cap_steps = cap;
    return QP_OK;
}

static int *own_ints(qp_plan *plan, const int *src, int n) {
    int *copy = malloc((size_t)(n > 0 ? n : 1) * sizeof *copy);
    if (qp_plan_own(plan, copy) != QP_OK) return NULL;
    if (n > 0) memcpy(copy, src, (size_t)n * sizeof *copy);
    return copy;
}

qp_status qp_plan_push_step(qp_plan *plan, qp_step_kind kind, int node_id, int tensor_id, const int *in, int n_in,
                            const int *out, int n_out, qp_plan_step **out_step) {
    qp_status st = reserve_steps(plan, plan->n_steps + 1);
    if (st != QP_OK) return st;
    qp_plan_step s = {.kind = kind, .node_id = node_id, .tensor_id = tensor_id, .n_in = n_in, .n_out = n_out};
    if (node_id >= 0) s.opset = qp_graph_opset(plan->graph, plan->graph->nodes[node_id].domain);
    s.in = own_ints(plan, in, n_in);
    s.out = own_ints(plan, out, n_out);
    if (!s.in || !s.out) return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    plan->steps[plan->n_steps] = s;
    if (out_step) *out_step = &plan->steps[plan->n_steps];
    plan->n_steps++;
    return QP_OK;
}

qp_status qp_plan_step_observe(qp_plan *plan, qp_plan_step *s, int tensor_id, int value) {
    int *grown = malloc((size_t)(s->n_observe + 1) * 2 * sizeof *grown);
    if (qp_plan_own(plan, grown) != QP_OK) return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    if (s->n_observe) memcpy(grown, s->observe, (size_t)s->n_observe * 2 * sizeof *grown);
    grown[2 * s->n_observe] = tensor_id;
    grown[2 * s->n_observe + 1] = value;
    s->observe = grown; /* the old array stays owned by the plan; these lists are tiny */
    s->n_observe++;
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
        qp_plan_node_desc(g, id, where, sizeof where);
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

/* Points a step's pointer arrays at the value table (which may have moved since the step was
 * made). */
static qp_status resolve_step(qp_plan *plan, qp_plan_step *s) {
    if (!s->inputs) {
        s->inputs = calloc((size_t)(s->n_in ? s->n_in : 1), sizeof *s->inputs);
        if (qp_plan_own(plan, (void *)s->inputs) != QP_OK) return QP_ERR_NOMEM;
    }
    if (!s->outputs) {
        s->outputs = calloc((size_t)(s->n_out ? s->n_out : 1), sizeof *s->outputs);
        if (qp_plan_own(plan, s->outputs) != QP_OK) return QP_ERR_NOMEM;
    }
    for (int k = 0; k < s->n_in; k++) s->inputs[k] = s->in[k] >= 0 ? &plan->values[s->in[k]] : NULL;
    for (int k = 0; k < s->n_out; k++) s->outputs[k] = s->out[k] >= 0 ? &plan->values[s->out[k]] : NULL;
    return QP_OK;
}

static void make_ctx(const qp_plan *plan, const qp_plan_step *s, qp_op_context *ctx) {
    memset(ctx, 0, sizeof *ctx);
    ctx->node = s->node_id >= 0 ? &plan->graph->nodes[s->node_id] : NULL;
    ctx->opset = s->opset;
    ctx->inputs = s->inputs;
    ctx->n_inputs = s->n_in;
    ctx->outputs = s->outputs;
    ctx->n_outputs = s->n_out;
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

/* Infers every node's outputs in graph order; nodes whose inputs are all plan-time constants
 * run right away (folding); the others become fp32 OP steps, prepared later (after a lowering
 * may have swapped their weights). */
static qp_status plan_nodes(qp_plan *plan) {
    const qp_graph *g = plan->graph;
    char where[300];
    for (int id = 0; id < g->n_nodes; id++) {
        const qp_node *n = &g->nodes[id];
        const qp_op_def *op = qp_op_find(n->domain, n->op_type);
        if (!op) return qp_error(QP_ERR_UNSUPPORTED, "%s: unsupported op", qp_plan_node_desc(g, id, where, sizeof where));
        int *outs = malloc((size_t)(n->n_outputs ? n->n_outputs : 1) * sizeof *outs);
        if (!outs) return qp_error(QP_ERR_NOMEM, "out of memory while planning");
        qp_status st = QP_OK;
        for (int k = 0; k < n->n_outputs && st == QP_OK; k++) {
            outs[k] = n->outputs[k];
            if (outs[k] < 0) { /* omitted optional output: give the op somewhere harmless to write */
                qp_shape unknown = {.rank = -1};
                outs[k] = qp_plan_add_value(plan, QP_DT_UNDEFINED, &unknown);
                if (outs[k] < 0) st = QP_ERR_NOMEM;
            }
        }
        qp_plan_step *s = NULL;
        if (st == QP_OK) st = qp_plan_push_step(plan, QP_STEP_OP, id, -1, n->inputs, n->n_inputs, outs, n->n_outputs, &s);
        free(outs);
        if (st != QP_OK) return st;
        s->op = op;
        int all_const = 1;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) all_const &= plan->is_const[n->inputs[k]];
        if ((st = resolve_step(plan, s)) != QP_OK) return st;
        qp_op_context ctx;
        make_ctx(plan, s, &ctx);
        st = op->infer(&ctx);
        if (st != QP_OK) return qp_error_prefix(st, "%s: ", qp_plan_node_desc(g, id, where, sizeof where));
        for (int k = 0; k < n->n_outputs; k++) {
            qp_value *v = s->outputs[k];
            if (v->shape.rank < 0 || qp_shape_numel(&v->shape) < 0)
                return qp_error(QP_ERR_INTERNAL, "%s: output %d has no inferred shape",
                                qp_plan_node_desc(g, id, where, sizeof where), k);
            v->nbytes = (size_t)qp_shape_numel(&v->shape) * qp_dtype_size(v->dtype);
            if (n->outputs[k] < 0) { /* dummy: its own buffer, never in the arena */
                if ((st = qp_plan_own(plan, v->data = qp_plan_alloc(v->nbytes))) != QP_OK) return st;
                plan->is_input[s->out[k]] = 1;
            }
        }
        if (all_const || is_shape_only_op(n)) {
            /* Fold: run now, keep the result as a constant of the plan. */
            for (int k = 0; k < n->n_outputs; k++) {
                int t = n->outputs[k];
                if (t < 0) continue;
                if ((st = qp_plan_own(plan, plan->values[t].data = qp_plan_alloc(plan->values[t].nbytes))) != QP_OK)
                    return st;
            }
            size_t scratch = 0;
            void *state = NULL;
            if (op->prepare && (st = op->prepare(&ctx, &state, &scratch)) != QP_OK)
                return qp_error_prefix(st, "%s: ", qp_plan_node_desc(g, id, where, sizeof where));
            void *scratch_buf = scratch ? qp_plan_alloc(scratch) : NULL;
            ctx.state = state;
            ctx.scratch = scratch_buf;
            ctx.scratch_bytes = scratch;
            ctx.n_threads = 1;
            st = scratch && !scratch_buf ? qp_error(QP_ERR_NOMEM, "out of memory") : op->run(&ctx);
            free(scratch_buf);
            if (op->release) op->release(state);
            if (st != QP_OK) return qp_error_prefix(st, "%s: ", qp_plan_node_desc(g, id, where, sizeof where));
            for (int k = 0; k < n->n_outputs; k++)
                if (n->outputs[k] >= 0) plan->is_const[n->outputs[k]] = 1;
            plan->n_steps--; /* folded: no step */
            continue;
        }
        for (int k = 0; k < n->n_outputs; k++)
            if (n->outputs[k] >= 0 && (st = qp_plan_step_observe(plan, s, n->outputs[k], n->outputs[k])) != QP_OK)
                return st;
    }
    return QP_OK;
}

static int is_op(const qp_plan *plan, const qp_plan_step *s, const char *op_type) {
    if (s->kind != QP_STEP_OP || s->node_id < 0) return 0;
    const qp_node *n = &plan->graph->nodes[s->node_id];
    return n->domain[0] == '\0' && strcmp(n->op_type, op_type) == 0;
}

/* The bounds {lo, hi} of a Relu/Clip step when they are plan-time float32 constants, read as
 * clip_run reads them. */
static int clamp_bounds(const qp_plan *plan, const qp_plan_step *a, float bounds[2]) {
    if (is_op(plan, a, "Relu")) {
        bounds[0] = 0.0f;
        bounds[1] = INFINITY;
        return 1;
    }
    if (!is_op(plan, a, "Clip")) return 0;
    const qp_value *in[2] = {NULL, NULL}; /* min, max; NULL when omitted */
    if (a->opset >= 11)
        for (int k = 1; k < a->n_in && k < 3; k++) {
            const int v = a->in[k];
            if (v < 0) continue;
            const qp_value *bound = &plan->values[v];
            if (!plan->is_const[v] || bound->dtype != QP_DT_FLOAT || bound->nbytes != sizeof(float) ||
                !bound->data)
                return 0;
            in[k - 1] = bound;
        }
    qp_ops_clip_scalar store[2];
    const void *b[2];
    qp_ops_clip_bounds(&plan->graph->nodes[a->node_id], a->opset, QP_DT_FLOAT, in[0], in[1], store, b);
    qp_ops_clip_bounds_f32(b, bounds);
    return 1;
}

/* fp32 plans without an observer or encodings: each Conv whose output only feeds one Relu/Clip (not a
 * graph output, no other reader) computes the activation in its epilogue. The clamp is applied to the
 * same float, in Clip's compare-and-select form, so results are bit-identical to the unfused
 * plan. Calibration registers an observer, which must see every node's output: no fusion then,
 * and quantsim/int8 plans have their own fusion. */
static qp_status fuse_clamps(qp_plan *plan) {
    /* An fp32 plan given encodings is the int8 lowering's preview (qp_qdq_engine_decisions runs
     * qp_q8_decide on its one-step-per-node list): it keeps every step. */
    if (plan->options.mode != QP_MODE_FP32 || plan->options.observer || plan->options.encodings) return QP_OK;
    const qp_graph *g = plan->graph;
    int *readers = calloc((size_t)(plan->n_values ? plan->n_values : 1), sizeof *readers);
    int *reader_step = malloc((size_t)(plan->n_values ? plan->n_values : 1) * sizeof *reader_step);
    unsigned char *drop = calloc((size_t)(plan->n_steps ? plan->n_steps : 1), 1);
    if (!readers || !reader_step || !drop) {
        free(readers);
        free(reader_step);
        free(drop);
        return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    }
    for (int si = 0; si < plan->n_steps; si++) {
        const qp_plan_step *s = &plan->steps[si];
        for (int k = 0; k < s->n_in; k++)
            if (s->in[k] >= 0) {
                readers[s->in[k]]++;
                reader_step[s->in[k]] = si;
            }
    }
    for (int si = 0; si < plan->n_steps; si++) {
        qp_plan_step *s = &plan->steps[si];
        if (!is_op(plan, s, "Conv") || s->n_out != 1) continue;
        const int vo = s->out[0];
        if (vo < 0 || vo >= g->n_tensors || g->tensors[vo]->is_graph_output || readers[vo] != 1) continue;
        const int ai = reader_step[vo];
        const qp_plan_step *a = &plan->steps[ai];
        float bounds[2];
        if (ai <= si || a->n_out != 1 || a->n_in < 1 || a->in[0] != vo || !clamp_bounds(plan, a, bounds))
            continue;
        const int va = a->out[0];
        if (va < 0 || plan->is_const[va] || plan->is_input[va] || plan->values[va].dtype != QP_DT_FLOAT ||
            plan->values[va].nbytes != plan->values[vo].nbytes)
            continue;
        s->out[0] = va; /* the Conv's own output vo (its node's outputs[0]) is no longer computed */
        s->has_clamp = 1;
        s->clamp[0] = bounds[0];
        s->clamp[1] = bounds[1];
        drop[ai] = 1;
    }
    int kept = 0;
    for (int si = 0; si < plan->n_steps; si++)
        if (!drop[si]) plan->steps[kept++] = plan->steps[si];
    plan->n_steps = kept;
    free(readers);
    free(reader_step);
    free(drop);
    return QP_OK;
}

/* Prepares the fp32 OP steps (after the lowering, so quantsim's prepare sees the fake-quantized
 * weights it will run with). */
static qp_status prepare_steps(qp_plan *plan) {
    char where[300];
    for (int si = 0; si < plan->n_steps; si++) {
        qp_plan_step *s = &plan->steps[si];
        if (s->kind != QP_STEP_OP || s->prepared) continue;
        qp_status st = resolve_step(plan, s);
        if (st != QP_OK) return st;
        qp_op_context ctx;
        make_ctx(plan, s, &ctx);
        if (s->has_clamp) ctx.fused_clamp = s->clamp;
        if (s->op->prepare && (st = s->op->prepare(&ctx, &s->state, &s->scratch_bytes)) != QP_OK)
            return qp_error_prefix(st, "%s: ", qp_plan_node_desc(plan->graph, s->node_id, where, sizeof where));
        s->prepared = 1;
    }
    for (int si = 0; si < plan->n_steps; si++)
        if (plan->steps[si].scratch_bytes > plan->scratch_bytes) plan->scratch_bytes = plan->steps[si].scratch_bytes;
    return QP_OK;
}

/* Placement of one activation in the arena. */
typedef struct arena_item {
    int value;
    int first, last;   /* steps during which the buffer must stay intact */
    size_t size;
    size_t offset;
} arena_item;

static int by_size_desc(const void *a, const void *b) {
    const arena_item *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->value - y->value; /* deterministic layout */
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
    plan->arena = qp_plan_alloc(total);
    if (!plan->arena) return qp_error(QP_ERR_NOMEM, "out of memory allocating a %zu-byte arena", total);
    for (int i = 0; i < n_items; i++) plan->values[items[i].value].data = plan->arena + items[i].offset;
    return QP_OK;
}

/* Unary elementwise ops whose fp32 kernels read element i before writing element i and nothing
 * else (ops/activation.c), so they may run with the output in the input's buffer. */
static int runs_in_place(const qp_plan *plan, const qp_plan_step *s) {
    static const char *const ops[] = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid",
                                      "HardSwish", "Elu", "Selu", "Softplus", "Softsign"};
    if (s->n_in < 1 || s->n_out != 1) return 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (is_op(plan, s, ops[i])) return 1;
    return 0;
}

/* Steps that only relabel their input's bytes (Reshape and kin: a memcpy in ops/shape.c; in int8
 * plans q8_shape.c's copy, or an elementwise table when the encodings differ), so the output may
 * be the input's buffer and nothing moves. ShuffleNet's channel shuffles run 32 per image. */
static int relabels(const qp_plan *plan, const qp_plan_step *s, qp_step_kind kind) {
    static const char *const ops[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"};
    if (s->kind != kind || s->node_id < 0 || s->n_in < 1 || s->n_out != 1) return 0;
    const qp_node *n = &plan->graph->nodes[s->node_id];
    if (n->domain[0] != '\0') return 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(n->op_type, ops[i]) == 0) return 1;
    return 0;
}

/* The output of an in-place step takes its input's buffer when that input dies there
 * (alias[out] = the value owning the buffer, its lifetime extended): in fp32 plans the
 * activations above, so a Conv -> Relu/Clip chain that is not fused (an observer is set) holds
 * one activation instead of two and the activation runs on cache-hot data, and the relabelling
 * ops; in int8 plans the int8 relabelling steps. (fp32 steps inside int8/quantsim plans are left
 * alone: the lowerings' conversions read those tensors.) */
static void alias_in_place(const qp_plan *plan, int *first, int *last, int *alias) {
    const qp_engine_mode mode = plan->options.mode;
    if (mode != QP_MODE_FP32 && mode != QP_MODE_INT8) return;
    for (int si = 0; si < plan->n_steps; si++) {
        const qp_plan_step *s = &plan->steps[si];
        const int in_place = mode == QP_MODE_FP32 ? runs_in_place(plan, s) || relabels(plan, s, QP_STEP_OP)
                                                  : relabels(plan, s, QP_STEP_INT8);
        if (!in_place) continue;
        const int vi = s->in[0], vo = s->out[0];
        if (vi < 0 || vo < 0 || vi == vo || first[vi] < 0 || last[vi] != si || first[vo] != si) continue;
        if (plan->is_const[vi] || plan->is_input[vi] || plan->is_const[vo] || plan->is_input[vo]) continue;
        const qp_value *in = &plan->values[vi], *out = &plan->values[vo];
        if (in->dtype != out->dtype || in->nbytes != out->nbytes) continue;
        const int root = alias[vi] >= 0 ? alias[vi] : vi;
        alias[vo] = root;
        if (last[vo] > last[root]) last[root] = last[vo];
    }
}

/* Lifetimes over executed steps: a value lives from the first step touching it to its last
 * reader; graph outputs live to the end. Graph inputs, constants and dummies have their own
 * buffers. */
static qp_status plan_memory(qp_plan *plan) {
    const qp_graph *g = plan->graph;
    int nv = plan->n_values;
    int *first = malloc((size_t)(nv ? nv : 1) * sizeof *first);
    int *last = malloc((size_t)(nv ? nv : 1) * sizeof *last);
    int *alias = malloc((size_t)(nv ? nv : 1) * sizeof *alias);
    arena_item *items = malloc((size_t)(nv ? nv : 1) * sizeof *items);
    if (!first || !last || !alias || !items) {
        free(first);
        free(last);
        free(alias);
        free(items);
        return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    }
    for (int v = 0; v < nv; v++) first[v] = last[v] = alias[v] = -1;
    for (int si = 0; si < plan->n_steps; si++) {
        const qp_plan_step *s = &plan->steps[si];
        for (int k = 0; k < s->n_out; k++) {
            int v = s->out[k];
            if (v < 0) continue;
            if (first[v] < 0) first[v] = si;
            last[v] = si;
        }
        for (int k = 0; k < s->n_in; k++) {
            int v = s->in[k];
            if (v < 0) continue;
            if (first[v] < 0) first[v] = si;
            last[v] = si;
        }
    }
    for (int k = 0; k < g->n_outputs; k++)
        if (first[g->outputs[k]] >= 0) last[g->outputs[k]] = plan->n_steps;
    alias_in_place(plan, first, last, alias);
    int n_items = 0;
    for (int v = 0; v < nv; v++) {
        if (first[v] < 0 || plan->is_const[v] || plan->is_input[v] || alias[v] >= 0) continue;
        items[n_items++] = (arena_item){.value = v, .first = first[v], .last = last[v],
                                        .size = plan->values[v].nbytes};
    }
    qp_status st = layout_arena(plan, items, n_items);
    if (st == QP_OK)
        for (int v = 0; v < nv; v++)
            if (alias[v] >= 0) plan->values[v].data = plan->values[alias[v]].data;
    free(items);
    free(first);
    free(last);
    free(alias);
    if (st != QP_OK) return st;
    if (plan->scratch_bytes) {
        plan->scratch = qp_plan_alloc(plan->scratch_bytes);
        if (!plan->scratch) return qp_error(QP_ERR_NOMEM, "out of memory for %zu scratch bytes", plan->scratch_bytes);
    }
    return QP_OK;
}

static qp_status check_mode(const qp_plan_options *o) {
    if (o->mode != QP_MODE_FP32 && o->mode != QP_MODE_QUANTSIM && o->mode != QP_MODE_INT8)
        return qp_error(QP_ERR_INVALID_ARG, "engine mode %d (allowed: fp32, quantsim, int8)", (int)o->mode);
    if (o->mode != QP_MODE_FP32 && !o->encodings)
        return qp_error(QP_ERR_INVALID_ARG, "engine mode %s needs encodings (run calibration first, or give "
                        "encodings to the plan)", o->mode == QP_MODE_INT8 ? "int8" : "quantsim");
    return QP_OK;
}

qp_status qp_plan_create(const qp_graph *g, const qp_plan_options *options, qp_plan **out) {
    *out = NULL;
    /* Before any BLAS call made while planning (constant folding, prepare): OpenBLAS's own
     * helper threads otherwise wake for it and spin on sched_yield for a while afterwards,
     * competing with qpipe's workers (seen as ~12% of perf samples in a 1-thread run). */
    openblas_set_num_threads(1);
    qp_plan_options defaults = {0};
    qp_status st = check_mode(options ? options : &defaults);
    if (st != QP_OK) return st;
    if ((st = qp_graph_check_ops(g)) != QP_OK) return st;
    qp_plan *plan = calloc(1, sizeof *plan);
    if (!plan) return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    plan->graph = g;
    if (options) plan->options = *options;
    plan->n_threads = plan->options.n_threads > 0 ? plan->options.n_threads : qp_cpu_count();
    plan->input_ids = malloc((size_t)(g->n_inputs ? g->n_inputs : 1) * sizeof(int));
    if (!plan->input_ids || reserve_values(plan, g->n_tensors + 16) != QP_OK) {
        qp_plan_free(plan);
        return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    }
    plan->n_values = g->n_tensors;
    for (int t = 0; t < g->n_tensors; t++) {
        const qp_tensor *tensor = g->tensors[t];
        plan->values[t].shape.rank = -1;
        if (tensor->is_initializer && tensor->data != NULL) {
            plan->values[t] = (qp_value){tensor->dtype, tensor->shape, tensor->data, tensor->nbytes};
            plan->is_const[t] = 1;
        } else if (tensor->is_initializer) { /* empty initializer (zero elements) */
            plan->values[t] = (qp_value){tensor->dtype, tensor->shape, NULL, 0};
            plan->is_const[t] = 1;
            if ((st = qp_plan_own(plan, plan->values[t].data = qp_plan_alloc(0))) != QP_OK) goto fail;
        }
    }
    for (int i = 0; i < g->n_inputs; i++) {
        int id = g->inputs[i];
        qp_shape shape;
        if ((st = resolve_input_shape(plan, id, &shape)) != QP_OK) goto fail;
        qp_value_set(&plan->values[id], g->tensors[id]->dtype, &shape);
        plan->is_input[id] = 1;
        plan->input_ids[plan->n_inputs++] = id;
    }
    /* Input buffers come after inference and preparation: until then their data must read as
     * NULL ("known only at run time"), or ops would infer shapes from placeholder zeros. */
    if ((st = plan_nodes(plan)) != QP_OK) goto fail;
    if (plan->options.mode == QP_MODE_QUANTSIM && (st = qp_quantsim_lower(plan)) != QP_OK) goto fail;
    if (plan->options.mode == QP_MODE_INT8 && (st = qp_int8_lower(plan)) != QP_OK) goto fail;
    if ((st = fuse_clamps(plan)) != QP_OK) goto fail;
    if ((st = prepare_steps(plan)) != QP_OK) goto fail;
    for (int i = 0; i < plan->n_inputs; i++) {
        qp_value *v = &plan->values[plan->input_ids[i]];
        if ((st = qp_plan_own(plan, v->data = qp_plan_alloc(v->nbytes))) != QP_OK) goto fail;
        memset(v->data, 0, v->nbytes);
    }
    if ((st = plan_memory(plan)) != QP_OK) goto fail;
    /* a fused Conv's own output is never computed: it reads as the activation's (same shape) */
    for (int si = 0; si < plan->n_steps; si++) {
        const qp_plan_step *s = &plan->steps[si];
        if (s->has_clamp) plan->values[g->nodes[s->node_id].outputs[0]].data = plan->values[s->out[0]].data;
    }
    for (int si = 0; si < plan->n_steps; si++)
        if ((st = resolve_step(plan, &plan->steps[si])) != QP_OK) goto fail;
    *out = plan;
    return QP_OK;
fail:
    qp_plan_free(plan);
    return st;
}

void qp_plan_free(qp_plan *plan) {
    if (!plan) return;
    for (int i = 0; i < plan->n_steps; i++) {
        qp_plan_step *s = &plan->steps[i];
        if (!s->state) continue;
        if (s->kind == QP_STEP_INT8 && s->q8 && s->q8->release) s->q8->release(s->state);
        else if (s->kind == QP_STEP_OP && s->op->release) s->op->release(s->state);
    }
    for (int i = 0; i < plan->n_owned; i++) free(plan->owned[i]);
    for (int i = 0; i < plan->n_fallbacks; i++) free(plan->fallback_reasons[i]);
    free(plan->fallback_reasons);
    free(plan->fallback_nodes);
    free(plan->owned);
    free(plan->steps);
    free(plan->arena);
    free(plan->scratch);
    free(plan->values);
    free(plan->is_const);
    free(plan->is_input);
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
qp_engine_mode qp_plan_mode(const qp_plan *plan) { return plan->options.mode; }

int qp_plan_num_fp32_fallbacks(const qp_plan *plan) { return plan->n_fallbacks; }
int qp_plan_num_int8_nodes(const qp_plan *plan) { return plan->n_int8_nodes; }
int qp_plan_fp32_fallback_node(const qp_plan *plan, int i) {
    return i >= 0 && i < plan->n_fallbacks ? plan->fallback_nodes[i] : -1;
}
const char *qp_plan_fp32_fallback_reason(const qp_plan *plan, int i) {
    return i >= 0 && i < plan->n_fallbacks ? plan->fallback_reasons[i] : NULL;
}

/* "Softmax (1 node: 'prob'), BatchNormalization (2 nodes: 'bn1', 'bn2')": op types in order of
 * first appearance, at most four names each. */
size_t qp_plan_fp32_fallback_summary(const qp_plan *plan, char *buf, size_t cap) {
    const qp_graph *g = plan->graph;
    size_t used = 0;
    if (cap) buf[0] = '\0';
#define APPEND(...)                                                                               \
    do {                                                                                          \
        int w_ = snprintf(cap > used ? buf + used : NULL, cap > used ? cap - used : 0, __VA_ARGS__); \
        if (w_ > 0) used += (size_t)w_;                                                           \
    } while (0)
    for (int i = 0; i < plan->n_fallbacks; i++) {
        const qp_node *n = &g->nodes[plan->fallback_nodes[i]];
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = strcmp(g->nodes[plan->fallback_nodes[j]].op_type, n->op_type) == 0;
        if (seen) continue;
        int count = 0;
        for (int j = i; j < plan->n_fallbacks; j++) count += strcmp(g->nodes[plan->fallback_nodes[j]].op_type, n->op_type) == 0;
        APPEND("%s%s (%d node%s: ", used ? ", " : "", n->op_type, count, count == 1 ? "" : "s");
        int listed = 0;
        for (int j = i; j < plan->n_fallbacks; j++) {
            const qp_node *m = &g->nodes[plan->fallback_nodes[j]];
            if (strcmp(m->op_type, n->op_type) != 0) continue;
            if (listed == 4) {
                APPEND(", ...");
                break;
            }
            if (m->name && m->name[0]) APPEND("%s'%s'", listed ? ", " : "", m->name);
            else APPEND("%s#%d", listed ? ", " : "", plan->fallback_nodes[j]);
            listed++;
        }
        APPEND(")");
    }
#undef APPEND
    return used;
}

qp_status qp_plan_run(qp_plan *plan) {
    const qp_graph *g = plan->graph;
    /* Ops split their sgemm calls into fixed blocks across qpipe's own threads (deterministic for
     * any thread count); OpenBLAS threads on top would spin against ours on the same cores. */
    openblas_set_num_threads(1);
    for (int si = 0; si < plan->n_steps; si++) {
        qp_plan_step *s = &plan->steps[si];
        qp_status st = QP_OK;
        if (s->kind == QP_STEP_OP || s->kind == QP_STEP_INT8) {
            qp_op_context ctx;
            make_ctx(plan, s, &ctx);
            st = s->kind == QP_STEP_OP ? s->op->run(&ctx) : s->q8->run(&ctx);
        } else {
            qp_run_conversion(plan, s);
        }
        if (st != QP_OK) {
            char where[300];
            if (s->node_id < 0) return st;
            return qp_error_prefix(st, "%s: ", qp_plan_node_desc(g, s->node_id, where, sizeof where));
        }
        if (plan->options.observer)
            for (int k = 0; k < s->n_observe; k++)
                plan->options.observer(plan->options.observer_user, s->observe[2 * k],
                                       &plan->values[s->observe[2 * k + 1]]);
    }
    return QP_OK;
}
