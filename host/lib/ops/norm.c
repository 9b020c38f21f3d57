/* norm.c — ONNX normalisation ops in fp32: BatchNormalization (inference), LRN, InstanceNormalization,
 * LayerNormalization, Softmax, LogSoftmax, Hardmax. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "engine/op.h"

#define NODE_FMT "node '%s' (%s): "
#define NODE_ARGS(node) (node)->name ? (node)->name : "", (node)->op_type

static int has_output(const qp_op_context *ctx, int k) {
    return ctx->n_outputs > k && ctx->outputs[k] != NULL;
}

static const qp_value *input_at(const qp_op_context *ctx, int i) {
    return i < ctx->n_inputs ? ctx->inputs[i] : NULL;
}

static qp_status need_float_inputs(const qp_op_context *ctx, int required) {
    for (int i = 0; i < ctx->n_inputs; i++) {
        if (!ctx->inputs[i]) {
            if (i < required)
                return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "input %d is required", NODE_ARGS(ctx->node), i);
            continue;
        }
        if (ctx->inputs[i]->dtype != QP_DT_FLOAT)
            return qp_error(QP_ERR_UNSUPPORTED, NODE_FMT "input %d is %s; only float32 is implemented",
                            NODE_ARGS(ctx->node), i, qp_dtype_name(ctx->inputs[i]->dtype));
    }
    if (ctx->n_inputs < required)
        return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "needs %d inputs, has %d", NODE_ARGS(ctx->node), required,
                        ctx->n_inputs);
    return QP_OK;
}

/* N, C and the product of the remaining dims of an [N, C, ...] input. */
static qp_status nc_plane(const qp_op_context *ctx, int64_t *n, int64_t *c, int64_t *plane) {
    const qp_shape *s = &ctx->inputs[0]->shape;
    if (s->rank < 2)
        return qp_error(QP_ERR_SHAPE, NODE_FMT "X must have rank >= 2 (N, C, ...), got %d", NODE_ARGS(ctx->node),
                        s->rank);
    *n = s->dims[0];
    *c = s->dims[1];
    *plane = 1;
    for (int i = 2; i < s->rank; i++) *plane *= s->dims[i];
    return QP_OK;
}

static qp_status check_channel_vector(const qp_op_context *ctx, int i, const char *what, int64_t c) {
    const qp_value *v = input_at(ctx, i);
    if (v && qp_shape_numel(&v->shape) != c)
        return qp_error(QP_ERR_SHAPE, NODE_FMT "%s must hold %lld values (one per channel)", NODE_ARGS(ctx->node),
                        what, (long long)c);
    return QP_OK;
}

/* --- BatchNormalization (inference): y = x * a[c] + b[c] with a = scale / sqrt(var + eps) --- */

static qp_status bn_check(const qp_op_context *ctx, int64_t *n, int64_t *c, int64_t *plane) {
    const qp_node *node = ctx->node;
    qp_status st = need_float_inputs(ctx, 5);
    if (st != QP_OK) return st;
    if (qp_node_attr_int(node, "training_mode", 0) != 0)
        return qp_error(QP_ERR_UNSUPPORTED, NODE_FMT "training_mode=1 (only inference is implemented)",
                        NODE_ARGS(node));
    for (int k = 1; k < ctx->n_outputs; k++)
        if (ctx->outputs[k])
            return qp_error(QP_ERR_UNSUPPORTED,
                            NODE_FMT "output %d (running/saved statistics) exists only in training mode",
                            NODE_ARGS(node), k);
    if (qp_node_attr_int(node, "spatial", 1) == 0)
        return qp_error(QP_ERR_UNSUPPORTED, NODE_FMT "spatial=0 (per-element statistics)", NODE_ARGS(node));
    if ((st = nc_plane(ctx, n, c, plane)) != QP_OK) return st;
    static const char *const names[] = {"", "scale", "B", "input_mean", "input_var"};
    for (int i = 1; i < 5; i++)
        if ((st = check_channel_vector(ctx, i, names[i], *c)) != QP_OK) return st;
    return QP_OK;
}

static qp_status bn_infer(qp_op_context *ctx) {
    int64_t n = 0, c = 0, plane = 0;
    qp_status st = bn_check(ctx, &n, &c, &plane);
    if (st != QP_OK) return st;
    qp_value_set(ctx->outputs[0], QP_DT_FLOAT, &ctx->inputs[0]->shape);
    return QP_OK;
}

static qp_status bn_prepare(qp_op_context *ctx, void **state, size_t *scratch_bytes) {
    int64_t n = 0, c = 0, plane = 0;
    qp_status st = bn_check(ctx, &n, &c, &plane);
    if (st != QP_OK) return st;
    *state = NULL;
    *scratch_bytes = (size_t)(2 * c) * sizeof(float);
    return QP_OK;
}

typedef struct affine_job {
    const float *x, *a, *b;
    float *y;
    int64_t channels, plane;
} affine_job;

static void affine_range(void *user, int64_t begin, int64_t end) {
    const affine_job *job = user;
    for (int64_t p = begin; p < end; p++) {
        const float a = job->a[p % job->channels], b = job->b[p % job->channels];
        const float *restrict x = job->x + p * job->plane;
        float *restrict y = job->y + p * job->plane;
        for (int64_t i = 0; i < job->plane; i++) y[i] = x[i] * a + b;
    }
}

static qp_status bn_run(qp_op_context *ctx) {
    int64_t n = 0, c = 0, plane = 0;
    qp_status st = bn_check(ctx, &n, &c, &plane);
    if (st != QP_OK) return st;
    if (ctx->scratch_bytes < (size_t)(2 * c) * sizeof(float))
        return qp_error(QP_ERR_INTERNAL, NODE_FMT "scratch too small", NODE_ARGS(ctx->node));
    const float eps = qp_node_attr_float(ctx->node, "epsilon", 1e-5f);
    const float *scale = ctx->inputs[1]->data, *bias = ctx->inputs[2]->data;
    const float *mean = ctx->inputs[3]->data, *var = ctx->inputs[4]->data;
    float *a = ctx->scratch, *b = a + c;
    for (int64_t k = 0; k < c; k++) {
        double inv = 1.0 / sqrt((double)var[k] + (double)eps);
        a[k] = (float)(scale[k] * inv);
        b[k] = (float)(bias[k] - mean[k] * (double)scale[k] * inv);
    }
    affine_job job = {ctx->inputs[0]->data, a, b, ctx->outputs[0]->data, c, plane};
    qp_parallel_for(ctx->n_threads, n * c, affine_range, &job);
    return QP_OK;
}

static const qp_op_def batch_norm_op = {
    .op_type = "BatchNormalization", .domain = "", .infer = bn_infer, .prepare = bn_prepare, .run = bn_run};

/* --- InstanceNormalization: per (n, c) plane statistics --- */

static qp_status in_check(const qp_op_context *ctx, int64_t *n, int64_t *c, int64_t *plane) {
    qp_status st = need_float_inputs(ctx, 3);
    if (st != QP_OK) return st;
    if ((st = nc_plane(ctx, n, c, plane)) != QP_OK) return st;
    if (ctx->inputs[0]->shape.rank < 3)
        return qp_error(QP_ERR_SHAPE, NODE_FMT "X must have rank >= 3", NODE_ARGS(ctx->node));
    if ((st = check_channel_vector(ctx, 1, "scale", *c)) != QP_OK) return st;
    return check_channel_vector(ctx, 2, "B", *c);
}

static qp_status in_infer(qp_op_context *ctx) {
    int64_t n = 0, c = 0, plane = 0;
    qp_status st = in_check(ctx, &n, &c, &plane);
    if (st != QP_OK) return st;
    qp_value_set(ctx->outputs[0], QP_DT_FLOAT, &ctx->inputs[0]->shape);
    return QP_OK;
}

typedef struct in_job {
    const float *x, *scale, *bias;
    float *y;
    int64_t channels, plane;
    float eps;
} in_job;

/* Mean and population variance in double (two passes), so long planes lose no precision. */
static void plane_stats(const float *x, int64_t n, double *mean, double *var) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    double m = n > 0 ? sum / (double)n : 0.0, sq = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = x[i] - m;
        sq += d * d;
    }
    *mean = m;
    *var = n > 0 ? sq / (double)n : 0.0;
}

static void in_range(void *user, int64_t begin, int64_t end) {
    const in_job *job = user;
    for (int64_t p = begin; p < end; p++) {
        const float *x = job->x + p * job->plane;
        float *y = job->y + p * job->plane;
        double mean, var;
        plane_stats(x, job->plane, &mean, &var);
        int64_t ch = p % job->channels;
        double inv = 1.0 / sqrt(var + (double)job->eps);
        const float a = (float)(job->scale[ch] * inv), b = (float)(job->bias[ch] - mean * job->scale[ch] * inv);
        for (int64_t i = 0; i < job->plane; i++) y[i] = x[i] * a + b;
    }
}

static qp_status in_run(qp_op_context *ctx) {
    int64_t n = 0, c = 0, plane = 0;
    qp_status st = in_check(ctx, &n, &c, &plane);
    if (st != QP_OK) return st;
    in_job job = {ctx->inputs[0]->data, ctx->inputs[1]->data, ctx->inputs[2]->data, ctx->outputs[0]->data, c,
                  plane, qp_node_attr_float(ctx->node, "epsilon", 1e-5f)};
    qp_parallel_for(ctx->n_threads, n * c, in_range, &job);
    return QP_OK;
}

static const qp_op_def instance_norm_op = {
    .op_type = "InstanceNormalization", .domain = "", .infer = in_infer, .run = in_run};

/* --- LRN: across channels, window [c - floor((size-1)/2), c + ceil((size-1)/2)] --- */

static qp_status lrn_check(const qp_op_context *ctx, int64_t *n, int64_t *c, int64_t *plane) {
    qp_status st = need_float_inputs(ctx, 1);
    if (st != QP_OK) return st;
    if (qp_node_attr_int(ctx->node, "size", 0) < 1)
        return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "attribute 'size' is required and must be >= 1",
                        NODE_ARGS(ctx->node));
    return nc_plane(ctx, n, c, plane);
}

static qp_status lrn_infer(qp_op_context *ctx) {
    int64_t n = 0, c = 0, plane = 0;
    qp_status st = lrn_check(ctx, &n, &c, &plane);
    if (st != QP_OK) return st;
    qp_value_set(ctx->outputs[0], QP_DT_FLOAT, &ctx->inputs[0]->shape);
    return QP_OK;
}

typedef struct lrn_job {
    const float *x;
    float *y;
    int64_t channels, plane, size;
    float alpha, beta, bias;
} lrn_job;

static void lrn_range(void *user, int64_t begin, int64_t end) {
    const lrn_job *job = user;
    const int64_t before = (job->size - 1) / 2, after = job->size - 1 - before;
    const float k = job->alpha / (float)job->size;
    for (int64_t p = begin; p < end; p++) {
        int64_t img = p / job->channels, ch = p % job->channels;
        int64_t c0 = ch - before < 0 ? 0 : ch - before;
        int64_t c1 = ch + after >= job->channels ? job->channels - 1 : ch + after;
        float *restrict y = job->y + p * job->plane;
        for (int64_t i = 0; i < job->plane; i++) y[i] = 0.0f;
        for (int64_t cc = c0; cc <= c1; cc++) {
            const float *restrict xc = job->x + (img * job->channels + cc) * job->plane;
            for (int64_t i = 0; i < job->plane; i++) y[i] += xc[i] * xc[i];
        }
        const float *restrict x = job->x + p * job->plane;
        for (int64_t i = 0; i < job->plane; i++) y[i] = x[i] / powf(job->bias + k * y[i], job->beta);
    }
}

static qp_status lrn_run(qp_op_context *ctx) {
    int64_t n = 0, c = 0, plane = 0;
    qp_status st = lrn_check(ctx, &n, &c, &plane);
    if (st != QP_OK) return st;
    const qp_node *node = ctx->node;
    lrn_job job = {ctx->inputs[0]->data,
                   ctx->outputs[0]->data,
                   c,
                   plane,
                   qp_node_attr_int(node, "size", 1),
                   qp_node_attr_float(node, "alpha", 1e-4f),
                   qp_node_attr_float(node, "beta", 0.75f),
                   qp_node_attr_float(node, "bias", 1.0f)};
    qp_parallel_for(ctx->n_threads, n * c, lrn_range, &job);
    return QP_OK;
}

static const qp_op_def lrn_op = {.op_type = "LRN", .domain = "", .infer = lrn_infer, .run = lrn_run};

/* --- LayerNormalization (opset 17): statistics over dims [axis, rank) --- */

typedef struct ln_geom {
    int axis;
    int64_t outer, inner;
} ln_geom;

/* Scale/B must broadcast (unidirectionally) to X.shape[axis:]. */
static qp_status ln_param_check(const qp_op_context *ctx, int i, const char *what, const qp_shape *xs, int axis) {
    const qp_value *v = input_at(ctx, i);
    if (!v) return QP_OK;
    int norm_rank = xs->rank - axis;
    int ok = v->shape.rank <= norm_rank;
    for (int d = 0; ok && d < v->shape.rank; d++) {
        int64_t vd = v->shape.dims[v->shape.rank - 1 - d], xd = xs->dims[xs->rank - 1 - d];
        ok = vd == 1 || vd == xd;
    }
    if (!ok) {
        char sv[128], sx[128];
        return qp_error(QP_ERR_SHAPE, NODE_FMT "%s %s does not broadcast to the normalized dims of X %s (axis %d)",
                        NODE_ARGS(ctx->node), what, qp_shape_str(&v->shape, sv, sizeof sv),
                        qp_shape_str(xs, sx, sizeof sx), axis);
    }
    return QP_OK;
}

static qp_status ln_check(const qp_op_context *ctx, ln_geom *g) {
    qp_status st = need_float_inputs(ctx, 2);
    if (st != QP_OK) return st;
    const qp_shape *xs = &ctx->inputs[0]->shape;
    if (xs->rank < 1) return qp_error(QP_ERR_SHAPE, NODE_FMT "X must have rank >= 1", NODE_ARGS(ctx->node));
    if ((st = qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", -1), xs->rank, &g->axis, ctx->node)) != QP_OK)
        return st;
    if ((st = ln_param_check(ctx, 1, "Scale", xs, g->axis)) != QP_OK) return st;
    if ((st = ln_param_check(ctx, 2, "B", xs, g->axis)) != QP_OK) return st;
    g->outer = 1;
    g->inner = 1;
    for (int d = 0; d < xs->rank; d++) {
        if (d < g->axis) g->outer *= xs->dims[d];
        else g->inner *= xs->dims[d];
    }
    return QP_OK;
}

static qp_status ln_infer(qp_op_context *ctx) {
    ln_geom g = {0};
    qp_status st = ln_check(ctx, &g);
    if (st != QP_OK) return st;
    const qp_shape *xs = &ctx->inputs[0]->shape;
    qp_value_set(ctx->outputs[0], QP_DT_FLOAT, xs);
    qp_shape stats = *xs;
    for (int d = g.axis; d < stats.rank; d++) stats.dims[d] = 1;
    for (int k = 1; k < 3; k++)
        if (has_output(ctx, k)) qp_value_set(ctx->outputs[k], QP_DT_FLOAT, &stats);
    return QP_OK;
}

static qp_status ln_prepare(qp_op_context *ctx, void **state, size_t *scratch_bytes) {
    ln_geom g = {0};
    qp_status st = ln_check(ctx, &g);
    if (st != QP_OK) return st;
    *state = NULL;
    *scratch_bytes = (size_t)(2 * g.inner) * sizeof(float);
    return QP_OK;
}

/* Expands a parameter broadcast to the normalized dims into a dense row of `inner` values. */
static void expand_param(const qp_value *v, const qp_shape *xs, int axis, float fallback, float *out, int64_t inner) {
    if (!v) {
        for (int64_t i = 0; i < inner; i++) out[i] = fallback;
        return;
    }
    const float *src = v->data;
    int norm_rank = xs->rank - axis;
    for (int64_t i = 0; i < inner; i++) {
        int64_t rem = i, offset = 0, stride = 1;
        for (int d = 0; d < norm_rank; d++) {
            int64_t xd = xs->dims[xs->rank - 1 - d];
            int64_t idx = rem % xd;
            rem /= xd;
            if (d < v->shape.rank) {
                int64_t vd = v->shape.dims[v->shape.rank - 1 - d];
                if (vd != 1) offset += idx * stride;
                stride *= vd;
            }
        }
        out[i] = src[offset];
    }
}

typedef struct ln_job {
    const float *x, *scale, *bias;
    float *y, *mean_out, *inv_out;
    int64_t inner;
    float eps;
} ln_job;

static void ln_range(void *user, int64_t begin, int64_t end) {
    const ln_job *job = user;
    for (int64_t r = begin; r < end; r++) {
        const float *x = job->x + r * job->inner;
        float *y = job->y + r * job->inner;
        double mean, var;
        plane_stats(x, job->inner, &mean, &var);
        double inv = 1.0 / sqrt(var + (double)job->eps);
        const float m = (float)mean, s = (float)inv;
        for (int64_t i = 0; i < job->inner; i++) y[i] = (x[i] - m) * s * job->scale[i] + job->bias[i];
        if (job->mean_out) job->mean_out[r] = m;
        if (job->inv_out) job->inv_out[r] = s;
    }
}

static qp_status ln_run(qp_op_context *ctx) {
    ln_geom g = {0};
    qp_status st = ln_check(ctx, &g);
    if (st != QP_OK) return st;
    if (ctx->scratch_bytes < (size_t)(2 * g.inner) * sizeof(float))
        return qp_error(QP_ERR_INTERNAL, NODE_FMT "scratch too small", NODE_ARGS(ctx->node));
    const qp_shape *xs = &ctx->inputs[0]->shape;
    float *scale = ctx->scratch, *bias = scale + g.inner;
    expand_param(input_at(ctx, 1), xs, g.axis, 1.0f, scale, g.inner);
    expand_param(input_at(ctx, 2), xs, g.axis, 0.0f, bias, g.inner);
    ln_job job = {ctx->inputs[0]->data,
                  scale,
                  bias,
                  ctx->outputs[0]->data,
                  has_output(ctx, 1) ? ctx->outputs[1]->data : NULL,
                  has_output(ctx, 2) ? ctx->outputs[2]->data : NULL,
                  g.inner,
                  qp_node_attr_float(ctx->node, "epsilon", 1e-5f)};
    qp_parallel_for(ctx->n_threads, g.outer, ln_range, &job);
    return QP_OK;
}

static const qp_op_def layer_norm_op = {
    .op_type = "LayerNormalization", .domain = "", .infer = ln_infer, .prepare = ln_prepare, .run = ln_run};

/* --- Softmax / LogSoftmax / Hardmax --- */

typedef enum softmax_kind { SOFTMAX, LOG_SOFTMAX, HARDMAX } softmax_kind;

/* Before opset 13 the input is coerced to 2-D at axis (default 1) and normalised over the whole
 * second half; from 13 on only dim `axis` (default -1) is normalised. Both become an
 * (outer, len, inner) view. */
static qp_status softmax_view(const qp_op_context *ctx, int64_t *outer, int64_t *len, int64_t *inner) {
    qp_status st = need_float_inputs(ctx, 1);
    if (st != QP_OK) return st;
    const qp_shape *xs = &ctx->inputs[0]->shape;
    const int legacy = ctx->opset > 0 && ctx->opset < 13;
    *outer = *len = *inner = 1;
    if (xs->rank == 0) return QP_OK;
    int axis;
    if ((st = qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", legacy ? 1 : -1), xs->rank, &axis, ctx->node)) !=
        QP_OK)
        return st;
    for (int d = 0; d < xs->rank; d++) {
        if (d < axis) *outer *= xs->dims[d];
        else if (d == axis || legacy) *len *= xs->dims[d];
        else *inner *= xs->dims[d];
    }
    return QP_OK;
}

static qp_status softmax_infer(qp_op_context *ctx) {
    int64_t outer = 1, len = 1, inner = 1;
    qp_status st = softmax_view(ctx, &outer, &len, &inner);
    if (st != QP_OK) return st;
    qp_value_set(ctx->outputs[0], QP_DT_FLOAT, &ctx->inputs[0]->shape);
    return QP_OK;
}

typedef struct softmax_job {
    const float *x;
    float *y;
    int64_t len, inner;
    softmax_kind kind;
} softmax_job;

/* One normalised vector per item (outer index, inner index); elements are `inner` apart. */
static void softmax_range(void *user, int64_t begin, int64_t end) {
    const softmax_job *job = user;
    const int64_t len = job->len, step = job->inner;
    for (int64_t item = begin; item < end; item++) {
        int64_t o = item / step, i = item % step;
        const float *x = job->x + o * len * step + i;
        float *y = job->y + o * len * step + i;
        float mx = -INFINITY;
        int64_t arg = 0;
        for (int64_t a = 0; a < len; a++)
            if (x[a * step] > mx || a == 0) {
                mx = x[a * step];
                arg = a;
            }
        if (job->kind == HARDMAX) {
            for (int64_t a = 0; a < len; a++) y[a * step] = a == arg ? 1.0f : 0.0f;
            continue;
        }
        double sum = 0.0;
        if (job->kind == SOFTMAX) {
            for (int64_t a = 0; a < len; a++) {
                float e = expf(x[a * step] - mx);
                y[a * step] = e;
                sum += e;
            }
            const float inv = (float)(1.0 / sum);
            for (int64_t a = 0; a < len; a++) y[a * step] *= inv;
        } else {
            for (int64_t a = 0; a < len; a++) sum += expf(x[a * step] - mx);
            /* (x - max) first: exact for large inputs, where max + log(sum) would round */
            const float log_sum = (float)log(sum);
            for (int64_t a = 0; a < len; a++) y[a * step] = (x[a * step] - mx) - log_sum;
        }
    }
}

static qp_status softmax_run(qp_op_context *ctx) {
    int64_t outer = 1, len = 1, inner = 1;
    qp_status st = softmax_view(ctx, &outer, &len, &inner);
    if (st != QP_OK) return st;
    const char *op = ctx->node->op_type;
    softmax_job job = {ctx->inputs[0]->data, ctx->outputs[0]->data, len, inner,
                       strcmp(op, "Softmax") == 0      ? SOFTMAX
                       : strcmp(op, "LogSoftmax") == 0 ? LOG_SOFTMAX
                                                       : HARDMAX};
    if (len == 0) return QP_OK;
    qp_parallel_for(ctx->n_threads, outer * inner, softmax_range, &job);
    return QP_OK;
}

static const qp_op_def softmax_op = {.op_type = "Softmax", .domain = "", .infer = softmax_infer, .run = softmax_run};
static const qp_op_def log_softmax_op = {
    .op_type = "LogSoftmax", .domain = "", .infer = softmax_infer, .run = softmax_run};
static const qp_op_def hardmax_op = {.op_type = "Hardmax", .domain = "", .infer = softmax_infer, .run = softmax_run};

const qp_op_def *const qp_ops_norm[] = {&batch_norm_op, &lrn_op,         &instance_norm_op, &layer_norm_op,
                                        &softmax_op,    &log_softmax_op, &hardmax_op,       NULL};
