/* pool.c — ONNX MaxPool, AveragePool, LpPool, GlobalAveragePool, GlobalMaxPool in fp32 (1-3 spatial dims). */
#include <math.h>
#include <string.h>

#include "core/parallel.h"
#include "engine/op.h"
#include "kernels/fp32/f32_kernels.h"
#include "ops/ops_common_util.h"

#define NODE_FMT "node '%s' (%s): "
#define NODE_ARGS(node) (node)->name ? (node)->name : "", (node)->op_type

typedef struct pool_geom {
    int n_spatial;
    int64_t batch, channels;
    int64_t in_spatial[3], out_spatial[3];
    qp_f32_window win;
    int64_t in_volume, out_volume;
} pool_geom;

static qp_status input_plane_shape(const qp_op_context *ctx, pool_geom *g) {
    const qp_node *node = ctx->node;
    if (ctx->n_inputs < 1 || !ctx->inputs[0])
        return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "needs input X", NODE_ARGS(node));
    const qp_value *x = ctx->inputs[0];
    if (x->dtype != QP_DT_FLOAT)
        return qp_error(QP_ERR_UNSUPPORTED, NODE_FMT "X is %s; only float32 is implemented", NODE_ARGS(node),
                        qp_dtype_name(x->dtype));
    if (x->shape.rank < 3)
        return qp_error(QP_ERR_SHAPE, NODE_FMT "X must have rank >= 3 (N, C, spatial...), got %d",
                        NODE_ARGS(node), x->shape.rank);
    if (x->shape.rank > 5)
        return qp_error(QP_ERR_UNSUPPORTED, NODE_FMT "%d spatial dims (at most 3 are implemented)",
                        NODE_ARGS(node), x->shape.rank - 2);
    memset(g, 0, sizeof *g);
    g->n_spatial = x->shape.rank - 2;
    g->batch = x->shape.dims[0];
    g->channels = x->shape.dims[1];
    for (int i = 0; i < x->shape.rank; i++)
        if (x->shape.dims[i] < 0 || (i >= 2 && x->shape.dims[i] < 1))
            return qp_error(QP_ERR_SHAPE, NODE_FMT "X needs known, positive spatial dims", NODE_ARGS(node));
    for (int i = 0; i < g->n_spatial; i++) g->in_spatial[i] = x->shape.dims[i + 2];
    return QP_OK;
}

/* Reads the window attributes of MaxPool/AveragePool/LpPool and sizes the output. */
static qp_status pool_geometry(const qp_op_context *ctx, pool_geom *g) {
    qp_status st = input_plane_shape(ctx, g);
    if (st != QP_OK) return st;
    const qp_node *node = ctx->node;
    const int ns = g->n_spatial;
    int64_t kernel[3], strides[3], dilations[3], pads[6];
    int n_kernel = 0;
    if (!qp_node_attr_ints(node, "kernel_shape", &n_kernel))
        return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "attribute 'kernel_shape' is required", NODE_ARGS(node));
    if ((st = qp_ops_spatial_attr(node, "kernel_shape", ns, 1, 1, kernel)) != QP_OK) return st;
    if ((st = qp_ops_spatial_attr(node, "strides", ns, 1, 1, strides)) != QP_OK) return st;
    if ((st = qp_ops_spatial_attr(node, "dilations", ns, 1, 1, dilations)) != QP_OK) return st;
    if ((st = qp_ops_spatial_attr(node, "pads", 2 * ns, 0, 0, pads)) != QP_OK) return st;
    qp_f32_auto_pad auto_pad;
    if ((st = qp_ops_auto_pad_attr(node, &auto_pad)) != QP_OK) return st;
    int ceil_mode = qp_node_attr_int(node, "ceil_mode", 0) != 0;
    for (int i = 0; i < ns; i++) {
        if (qp_f32_window_dim(g->in_spatial[i], kernel[i], strides[i], dilations[i], auto_pad, ceil_mode,
                              &pads[i], &pads[i + ns], &g->out_spatial[i]) != 0)
            return qp_error(QP_ERR_SHAPE,
                            NODE_FMT "spatial dim %d: input %lld with kernel %lld, dilation %lld, pads %lld+%lld "
                            "leaves no output", NODE_ARGS(node), i, (long long)g->in_spatial[i],
                            (long long)kernel[i], (long long)dilations[i], (long long)pads[i],
                            (long long)pads[i + ns]);
        if (pads[i] >= (kernel[i] - 1) * dilations[i] + 1 || pads[i + ns] >= (kernel[i] - 1) * dilations[i] + 1)
            return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "pads of dim %d (%lld, %lld) must be smaller than the "
                            "window (%lld)", NODE_ARGS(node), i, (long long)pads[i], (long long)pads[i + ns],
                            (long long)((kernel[i] - 1) * dilations[i] + 1));
    }
    const int lead = 3 - ns;
    for (int d = 0; d < 3; d++) {
        int s = d - lead;
        g->win.in[d] = s >= 0 ? g->in_spatial[s] : 1;
        g->win.out[d] = s >= 0 ? g->out_spatial[s] : 1;
        g->win.kernel[d] = s >= 0 ? kernel[s] : 1;
        g->win.stride[d] = s >= 0 ? strides[s] : 1;
        g->win.dilation[d] = s >= 0 ? dilations[s] : 1;
        g->win.pad_begin[d] = s >= 0 ? pads[s] : 0;
        g->win.pad_end[d] = s >= 0 ? pads[s + ns] : 0;
    }
    g->in_volume = g->win.in[0] * g->win.in[1] * g->win.in[2];
    g->out_volume = g->win.out[0] * g->win.out[1] * g->win.out[2];
    return QP_OK;
}

static void set_pool_output(qp_value *out, const pool_geom *g) {
    qp_shape shape = {.rank = g->n_spatial + 2};
    shape.dims[0] = g->batch;
    shape.dims[1] = g->channels;
    for (int i = 0; i < g->n_spatial; i++) shape.dims[i + 2] = g->out_spatial[i];
    qp_value_set(out, QP_DT_FLOAT, &shape);
}

static int has_output(const qp_op_context *ctx, int k) {
    return ctx->n_outputs > k && ctx->outputs[k] != NULL;
}

static qp_status pool_infer(qp_op_context *ctx) {
    pool_geom g = {0};
    qp_status st = pool_geometry(ctx, &g);
    if (st != QP_OK) return st;
    set_pool_output(ctx->outputs[0], &g);
    if (has_output(ctx, 1)) {
        if (strcmp(ctx->node->op_type, "MaxPool") != 0)
            return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "has one output only", NODE_ARGS(ctx->node));
        if (qp_node_attr_int(ctx->node, "storage_order", 0) != 0 && g.n_spatial == 3)
            return qp_error(QP_ERR_UNSUPPORTED, NODE_FMT "Indices with storage_order=1 for 3-D pooling",
                            NODE_ARGS(ctx->node));
        qp_value_set(ctx->outputs[1], QP_DT_INT64, &ctx->outputs[0]->shape);
    }
    if (strcmp(ctx->node->op_type, "LpPool") == 0 && qp_node_attr_int(ctx->node, "p", 2) < 1)
        return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "p must be >= 1", NODE_ARGS(ctx->node));
    return QP_OK;
}

/* The pooling kernel writes a per-call scratch row, so work is split into one slot per thread,
 * each with its own slice of scratch; slots cover planes in order, independent of timing. */
static int64_t pool_slots(const qp_op_context *ctx, int64_t planes) {
    int64_t t = ctx->n_threads > 1 ? ctx->n_threads : 1;
    return t < planes ? t : (planes > 0 ? planes : 1);
}

static qp_status pool_prepare(qp_op_context *ctx, void **state, size_t *scratch_bytes) {
    pool_geom g = {0};
    qp_status st = pool_geometry(ctx, &g);
    if (st != QP_OK) return st;
    *state = NULL;
    size_t per = (qp_f32_pool_scratch_size(&g.win) + 63) / 64 * 64;
    *scratch_bytes = per * (size_t)pool_slots(ctx, g.batch * g.channels);
    return QP_OK;
}

typedef struct pool_job {
    const pool_geom *g;
    qp_f32_pool_kind kind;
    float p;
    const float *x;
    float *y;
    char *scratch;
    size_t scratch_per_slot;
    int64_t slots, planes;
    qp_f32_pool_fn fn;
} pool_job;

static void pool_slot_range(void *user, int64_t begin, int64_t end) {
    const pool_job *job = user;
    for (int64_t slot = begin; slot < end; slot++) {
        qp_f32_pool_args a = {.win = job->g->win, .kind = job->kind, .p = job->p,
                              .scratch = (float *)(job->scratch + slot * job->scratch_per_slot)};
        int64_t p0 = job->planes * slot / job->slots, p1 = job->planes * (slot + 1) / job->slots;
        for (int64_t plane = p0; plane < p1; plane++) {
            a.input = job->x + plane * job->g->in_volume;
            a.output = job->y + plane * job->g->out_volume;
            job->fn(&a);
        }
    }
}

/* MaxPool's optional Indices: a scalar pass that mirrors ONNX Runtime (first maximum wins,
 * flat index over the whole input, row- or column-major within a plane by storage_order). */
static void max_indices(const pool_geom *g, int storage_order, const float *x, int64_t *indices) {
    const qp_f32_window *w = &g->win;
    const int64_t planes = g->batch * g->channels;
    for (int64_t plane = 0; plane < planes; plane++) {
        const float *xp = x + plane * g->in_volume;
        int64_t *ip = indices + plane * g->out_volume;
        for (int64_t od = 0; od < w->out[0]; od++)
            for (int64_t oh = 0; oh < w->out[1]; oh++)
                for (int64_t ow = 0; ow < w->out[2]; ow++) {
                    int64_t kb[3], ke[3], o[3] = {od, oh, ow};
                    for (int d = 0; d < 3; d++)
                        qp_f32_window_taps(o[d], w->stride[d], w->pad_begin[d], w->dilation[d], w->kernel[d], 0,
                                           w->in[d], &kb[d], &ke[d]);
                    float best = -INFINITY;
                    int64_t best_d = -1, best_h = 0, best_w = 0;
                    for (int64_t kd = kb[0]; kd < ke[0]; kd++)
                        for (int64_t kh = kb[1]; kh < ke[1]; kh++)
                            for (int64_t kw = kb[2]; kw < ke[2]; kw++) {
                                int64_t id = od * w->stride[0] - w->pad_begin[0] + kd * w->dilation[0];
                                int64_t ih = oh * w->stride[1] - w->pad_begin[1] + kh * w->dilation[1];
                                int64_t iw = ow * w->stride[2] - w->pad_begin[2] + kw * w->dilation[2];
                                float v = xp[(id * w->in[1] + ih) * w->in[2] + iw];
                                if (best_d < 0 || v > best) {
                                    best = v;
                                    best_d = id;
                                    best_h = ih;
                                    best_w = iw;
                                }
                            }
                    if (best_d < 0) best_d = 0;
                    int64_t local = storage_order ? best_h + best_w * w->in[1]
                                                  : (best_d * w->in[1] + best_h) * w->in[2] + best_w;
                    ip[(od * w->out[1] + oh) * w->out[2] + ow] = plane * g->in_volume + local;
                }
    }
}

static qp_status pool_run(qp_op_context *ctx) {
    pool_geom g = {0};
    qp_status st = pool_geometry(ctx, &g);
    if (st != QP_OK) return st;
    const char *op = ctx->node->op_type;
    pool_job job = {.g = &g, .x = ctx->inputs[0]->data, .y = ctx->outputs[0]->data, .p = 2.0f,
                    .fn = qp_f32_get_config()->pool, .planes = g.batch * g.channels};
    if (strcmp(op, "MaxPool") == 0) {
        job.kind = QP_F32_POOL_MAX;
    } else if (strcmp(op, "AveragePool") == 0) {
        job.kind = qp_node_attr_int(ctx->node, "count_include_pad", 0) ? QP_F32_POOL_AVG_INCLUDE_PAD
                                                                        : QP_F32_POOL_AVG_EXCLUDE_PAD;
    } else {
        job.kind = QP_F32_POOL_LP;
        job.p = (float)qp_node_attr_int(ctx->node, "p", 2);
    }
    if (job.planes == 0) return QP_OK;
    job.slots = pool_slots(ctx, job.planes);
    job.scratch_per_slot = (qp_f32_pool_scratch_size(&g.win) + 63) / 64 * 64;
    if (ctx->scratch_bytes < job.scratch_per_slot * (size_t)job.slots) {
        /* fewer slots than threads when the plan sized scratch for fewer threads */
        job.slots = (int64_t)(ctx->scratch_bytes / job.scratch_per_slot);
        if (job.slots < 1) return qp_error(QP_ERR_INTERNAL, NODE_FMT "scratch too small", NODE_ARGS(ctx->node));
    }
    job.scratch = ctx->scratch;
    qp_parallel_for(ctx->n_threads, job.slots, pool_slot_range, &job);
    if (has_output(ctx, 1))
        max_indices(&g, qp_node_attr_int(ctx->node, "storage_order", 0) != 0, job.x, ctx->outputs[1]->data);
    return QP_OK;
}

static const qp_op_def max_pool_op = {
    .op_type = "MaxPool", .domain = "", .infer = pool_infer, .prepare = pool_prepare, .run = pool_run};
static const qp_op_def average_pool_op = {
    .op_type = "AveragePool", .domain = "", .infer = pool_infer, .prepare = pool_prepare, .run = pool_run};
static const qp_op_def lp_pool_op = {
    .op_type = "LpPool", .domain = "", .infer = pool_infer, .prepare = pool_prepare, .run = pool_run};

/* --- GlobalAveragePool / GlobalMaxPool: one value per plane --- */

static qp_status global_infer(qp_op_context *ctx) {
    pool_geom g = {0};
    qp_status st = input_plane_shape(ctx, &g);
    if (st != QP_OK) return st;
    qp_shape shape = ctx->inputs[0]->shape;
    for (int i = 2; i < shape.rank; i++) shape.dims[i] = 1;
    qp_value_set(ctx->outputs[0], QP_DT_FLOAT, &shape);
    return QP_OK;
}

typedef struct global_job {
    const float *x;
    float *y;
    int64_t volume;
    int is_max;
} global_job;

static void global_range(void *user, int64_t begin, int64_t end) {
    const global_job *job = user;
    const int64_t n = job->volume;
    for (int64_t plane = begin; plane < end; plane++) {
        const float *restrict x = job->x + plane * n;
        if (job->is_max) {
            float m = x[0];
            for (int64_t i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
            job->y[plane] = m;
        } else {
            /* eight float lanes summed separately keep the loop vectorizable and deterministic */
            float acc[8] = {0};
            int64_t i = 0;
            for (; i + 8 <= n; i += 8)
                for (int l = 0; l < 8; l++) acc[l] += x[i + l];
            double sum = 0.0;
            for (int l = 0; l < 8; l++) sum += acc[l];
            for (; i < n; i++) sum += x[i];
            job->y[plane] = (float)(sum / (double)n);
        }
    }
}

static qp_status global_run(qp_op_context *ctx) {
    pool_geom g = {0};
    qp_status st = input_plane_shape(ctx, &g);
    if (st != QP_OK) return st;
    int64_t volume = g.in_spatial[0];
    for (int i = 1; i < g.n_spatial; i++) volume *= g.in_spatial[i];
    global_job job = {ctx->inputs[0]->data, ctx->outputs[0]->data, volume,
                      strcmp(ctx->node->op_type, "GlobalMaxPool") == 0};
    qp_parallel_for(ctx->n_threads, g.batch * g.channels, global_range, &job);
    return QP_OK;
}

static const qp_op_def global_average_pool_op = {
    .op_type = "GlobalAveragePool", .domain = "", .infer = global_infer, .run = global_run};
static const qp_op_def global_max_pool_op = {
    .op_type = "GlobalMaxPool", .domain = "", .infer = global_infer, .run = global_run};

const qp_op_def *const qp_ops_pool[] = {&max_pool_op,      &average_pool_op,        &lp_pool_op,
                                        &global_max_pool_op, &global_average_pool_op, NULL};
