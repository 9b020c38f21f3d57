/* conv.c — ONNX Conv and ConvTranspose in fp32: qpipe's packed GEMM (1x1 and implicit im2col), the depthwise kernel; ConvTranspose through sgemm + col2im. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "engine/op.h"
#include "kernels/fp32/f32_kernels.h"
#include "ops/ops_common_util.h"

#define NODE_FMT "node '%s' (%s): "
#define NODE_ARGS(node) (node)->name ? (node)->name : "", (node)->op_type

typedef struct gemm_job {
    const qp_f32_gemm_args *args;
    int n_blocks;
} gemm_job;

static void gemm_range(void *user, int64_t begin, int64_t end) {
    const gemm_job *job = user;
    for (int64_t b = begin; b < end; b++) qp_f32_gemm_block(job->args, (int)b, job->n_blocks);
}

/* sgemm on the engine's thread pool (see qp_f32_gemm_blocks for when it splits). */
static void parallel_gemm(const qp_f32_gemm_args *args, int n_threads) {
    gemm_job job = {args, qp_f32_gemm_blocks(args)};
    qp_parallel_for(n_threads, job.n_blocks, gemm_range, &job);
}

typedef enum conv_path {
    CONV_PATH_POINTWISE, /* 1x1, stride 1, no pads: the GEMM reads the input as its B matrix */
    CONV_PATH_DEPTHWISE, /* one input channel per group, 1-D/2-D: the depthwise kernel */
    CONV_PATH_IM2COL,    /* everything else: the GEMM packs im2col panels straight from the image */
} conv_path;

/* Everything Conv/ConvTranspose derive from attributes and shapes. A plan's shapes are fixed
 * (a new batch size or input shape is a new plan, prepared anew), so prepare derives it once into
 * the op's state and run reads it from there. */
typedef struct conv_geom {
    int n_spatial;
    int64_t batch, c_in, c_out, group, cin_g, cout_g;
    int64_t in_spatial[3], out_spatial[3];
    qp_f32_window win;     /* Conv: input -> output. ConvTranspose: output ("image") -> input */
    int64_t kernel_volume, in_volume, out_volume;
    conv_path path;
} conv_geom;

/* Checks X, W, B (dtype, rank) common to both ops and reads the spatial attributes. */
static qp_status conv_common(const qp_op_context *ctx, conv_geom *g, int64_t *kernel, int64_t *strides,
                             int64_t *dilations, int64_t *pads, qp_f32_auto_pad *auto_pad) {
    const qp_node *node = ctx->node;
    if (ctx->n_inputs < 2 || !ctx->inputs[0] || !ctx->inputs[1])
        return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "needs inputs X and W", NODE_ARGS(node));
    const qp_value *x = ctx->inputs[0], *w = ctx->inputs[1];
    const qp_value *b = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    if (x->dtype != QP_DT_FLOAT || w->dtype != QP_DT_FLOAT || (b && b->dtype != QP_DT_FLOAT))
        return qp_error(QP_ERR_UNSUPPORTED, NODE_FMT "only float32 is implemented (X is %s, W is %s)",
                        NODE_ARGS(node), qp_dtype_name(x->dtype), qp_dtype_name(w->dtype));
    int rank = x->shape.rank;
    if (rank < 3)
        return qp_error(QP_ERR_SHAPE, NODE_FMT "X must have rank >= 3 (N, C, spatial...), got %d",
                        NODE_ARGS(node), rank);
    if (rank > 5)
        return qp_error(QP_ERR_UNSUPPORTED, NODE_FMT "%d spatial dims (at most 3 are implemented)",
                        NODE_ARGS(node), rank - 2);
    if (w->shape.rank != rank)
        return qp_error(QP_ERR_SHAPE, NODE_FMT "W has rank %d, X has rank %d", NODE_ARGS(node),
                        w->shape.rank, rank);
    for (int i = 0; i < rank; i++)
        if (x->shape.dims[i] < 0 || w->shape.dims[i] < 1 || (i >= 2 && x->shape.dims[i] < 1))
            return qp_error(QP_ERR_SHAPE, NODE_FMT "X and W need known, positive dims",
                            NODE_ARGS(node));
    memset(g, 0, sizeof *g);
    g->n_spatial = rank - 2;
    g->batch = x->shape.dims[0];
    g->c_in = x->shape.dims[1];
    g->group = qp_node_attr_int(node, "group", 1);
    if (g->group < 1)
        return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "group must be >= 1, got %lld", NODE_ARGS(node),
                        (long long)g->group);
    int ns = g->n_spatial;
    qp_status st;
    if ((st = qp_ops_spatial_attr(node, "strides", ns, 1, 1, strides)) != QP_OK) return st;
    if ((st = qp_ops_spatial_attr(node, "dilations", ns, 1, 1, dilations)) != QP_OK) return st;
    if ((st = qp_ops_spatial_attr(node, "pads", 2 * ns, 0, 0, pads)) != QP_OK) return st;
    if ((st = qp_ops_spatial_attr(node, "kernel_shape", ns, 0, 1, kernel)) != QP_OK) return st;
    for (int i = 0; i < ns; i++) {
        if (kernel[i] == 0) kernel[i] = w->shape.dims[i + 2];
        if (kernel[i] != w->shape.dims[i + 2])
            return qp_error(QP_ERR_SHAPE, NODE_FMT "kernel_shape[%d] = %lld but W has %lld there",
                            NODE_ARGS(node), i, (long long)kernel[i], (long long)w->shape.dims[i + 2]);
        g->in_spatial[i] = x->shape.dims[i + 2];
    }
    return qp_ops_auto_pad_attr(node, auto_pad);
}

/* Fills the D,H,W window from the last n_spatial entries (1-D and 2-D promoted to 3-D). */
static void promote_window(conv_geom *g, const int64_t *image, const int64_t *sweep, const int64_t *kernel,
                           const int64_t *strides, const int64_t *dilations, const int64_t *pad_begin,
                           const int64_t *pad_end) {
    int lead = 3 - g->n_spatial;
    for (int d = 0; d < 3; d++) {
        int s = d - lead;
        g->win.in[d] = s >= 0 ? image[s] : 1;
        g->win.out[d] = s >= 0 ? sweep[s] : 1;
        g->win.kernel[d] = s >= 0 ? kernel[s] : 1;
        g->win.stride[d] = s >= 0 ? strides[s] : 1;
        g->win.dilation[d] = s >= 0 ? dilations[s] : 1;
        g->win.pad_begin[d] = s >= 0 ? pad_begin[s] : 0;
        g->win.pad_end[d] = s >= 0 ? pad_end[s] : 0;
    }
    g->kernel_volume = g->win.kernel[0] * g->win.kernel[1] * g->win.kernel[2];
}

static qp_status check_bias(const qp_op_context *ctx, int64_t c_out) {
    const qp_value *b = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    if (b && (b->shape.rank != 1 || b->shape.dims[0] != c_out))
        return qp_error(QP_ERR_SHAPE, NODE_FMT "B must have shape [%lld]", NODE_ARGS(ctx->node),
                        (long long)c_out);
    return QP_OK;
}

static qp_status conv_geometry(const qp_op_context *ctx, conv_geom *g) {
    int64_t kernel[3], strides[3], dilations[3], pads[6], out[3];
    qp_f32_auto_pad auto_pad;
    qp_status st = conv_common(ctx, g, kernel, strides, dilations, pads, &auto_pad);
    if (st != QP_OK) return st;
    const qp_node *node = ctx->node;
    const qp_value *w = ctx->inputs[1];
    int ns = g->n_spatial;
    g->c_out = w->shape.dims[0];
    if (g->c_in % g->group != 0 || g->c_out % g->group != 0)
        return qp_error(QP_ERR_SHAPE, NODE_FMT "channels in (%lld) and out (%lld) must divide by group %lld",
                        NODE_ARGS(node), (long long)g->c_in, (long long)g->c_out, (long long)g->group);
    g->cin_g = g->c_in / g->group;
    g->cout_g = g->c_out / g->group;
    if (w->shape.dims[1] != g->cin_g)
        return qp_error(QP_ERR_SHAPE, NODE_FMT "W has %lld input channels per group, X gives %lld / group %lld",
                        NODE_ARGS(node), (long long)w->shape.dims[1], (long long)g->c_in,
                        (long long)g->group);
    if ((st = check_bias(ctx, g->c_out)) != QP_OK) return st;
    for (int i = 0; i < ns; i++) {
        if (qp_f32_window_dim(g->in_spatial[i], kernel[i], strides[i], dilations[i], auto_pad, 0, &pads[i],
                              &pads[i + ns], &out[i]) != 0)
            return qp_error(QP_ERR_SHAPE, NODE_FMT "spatial dim %d: input %lld with kernel %lld, dilation %lld, "
                            "pads %lld+%lld leaves no output", NODE_ARGS(node), i, (long long)g->in_spatial[i],
                            (long long)kernel[i], (long long)dilations[i], (long long)pads[i],
                            (long long)pads[i + ns]);
        g->out_spatial[i] = out[i];
    }
    promote_window(g, g->in_spatial, g->out_spatial, kernel, strides, dilations, pads, pads + ns);
    g->in_volume = g->win.in[0] * g->win.in[1] * g->win.in[2];
    g->out_volume = g->win.out[0] * g->win.out[1] * g->win.out[2];
    int pointwise = 1;
    for (int d = 0; d < 3; d++)
        if (g->win.kernel[d] != 1 || g->win.stride[d] != 1 || g->win.pad_begin[d] != 0 || g->win.pad_end[d] != 0)
            pointwise = 0;
    if (pointwise)
        g->path = CONV_PATH_POINTWISE;
    else if (g->cin_g == 1 && g->group > 1 && ns <= 2)
        g->path = CONV_PATH_DEPTHWISE;
    else
        g->path = CONV_PATH_IM2COL;
    return QP_OK;
}

static qp_status conv_infer(qp_op_context *ctx) {
    conv_geom g = {0};
    qp_status st = conv_geometry(ctx, &g);
    if (st != QP_OK) return st;
    qp_shape shape = {.rank = g.n_spatial + 2};
    shape.dims[0] = g.batch;
    shape.dims[1] = g.c_out;
    for (int i = 0; i < g.n_spatial; i++) shape.dims[i + 2] = g.out_spatial[i];
    qp_value_set(ctx->outputs[0], QP_DT_FLOAT, &shape);
    return QP_OK;
}

/* The depthwise kernel writes a per-call scratch, so planes are split into one slot per thread,
 * each slot with its own slice of scratch; slots cover planes in order, independent of timing. */
static int64_t dw_slots(int n_threads, int64_t planes) {
    int64_t t = n_threads > 1 ? n_threads : 1;
    return t < planes ? t : (planes > 0 ? planes : 1);
}

static size_t dw_scratch_per_slot(const conv_geom *g) {
    return (qp_f32_dwconv2d_scratch_size(&g->win) + 63) / 64 * 64;
}

/* The GEMM's packing scratch: one panel per slot, one slot per thread (a slot runs on one thread
 * at a time, so its panel is private). */
static int64_t gemm_slots(int n_threads) {
    return n_threads > 1 ? n_threads : 1;
}

/* Pointwise convs read their input in place: no panel to pack. */
static size_t gemm_scratch_per_slot(const conv_geom *g) {
    if (g->path == CONV_PATH_POINTWISE) return 0;
    return qp_f32_gemm_nn_scratch_size(&qp_f32_get_config()->gemm, g->cin_g * g->kernel_volume);
}

/* What prepare derives for run (Conv and ConvTranspose): the geometry, and for a Conv with a fused
 * Relu/Clip (qp_op_context.fused_clamp) the clamp of its epilogue. */
typedef struct conv_state {
    conv_geom g;
    int clamp;
    float lo, hi; /* -INFINITY / INFINITY without a fused clamp */
} conv_state;

/* Derives the geometry with `geometry` into a new state (freed by the op's release). */
static qp_status new_state(qp_op_context *ctx, qp_status (*geometry)(const qp_op_context *, conv_geom *),
                           conv_state **out) {
    *out = NULL;
    conv_state *cs = calloc(1, sizeof *cs);
    if (!cs) return qp_error(QP_ERR_NOMEM, NODE_FMT "out of memory", NODE_ARGS(ctx->node));
    qp_status st = geometry(ctx, &cs->g);
    if (st != QP_OK) {
        free(cs);
        return st;
    }
    cs->clamp = ctx->fused_clamp != NULL;
    cs->lo = cs->clamp ? ctx->fused_clamp[0] : -INFINITY;
    cs->hi = cs->clamp ? ctx->fused_clamp[1] : INFINITY;
    *out = cs;
    return QP_OK;
}

static qp_status conv_prepare(qp_op_context *ctx, void **state, size_t *scratch_bytes) {
    conv_state *cs;
    qp_status st = new_state(ctx, conv_geometry, &cs);
    if (st != QP_OK) return st;
    const conv_geom *g = &cs->g;
    if (g->path == CONV_PATH_DEPTHWISE)
        *scratch_bytes = dw_scratch_per_slot(g) * (size_t)dw_slots(ctx->n_threads, g->batch * g->c_out);
    else
        *scratch_bytes = gemm_scratch_per_slot(g) * (size_t)gemm_slots(ctx->n_threads);
    *state = cs;
    return QP_OK;
}

typedef struct conv_gemm_job {
    const qp_f32_gemm_kernel *kernel;
    qp_f32_gemm_nn_args args;
    char *scratch;
    size_t scratch_per_slot;
    int slots;
} conv_gemm_job;

static void conv_gemm_range(void *user, int64_t begin, int64_t end) {
    const conv_gemm_job *job = user;
    for (int64_t slot = begin; slot < end; slot++)
        qp_f32_gemm_nn_slot(job->kernel, &job->args, (int)slot, job->slots,
                            job->scratch_per_slot ? job->scratch + (size_t)slot * job->scratch_per_slot : NULL);
}

/* Output rows start as the bias (or zero) so sgemm can accumulate with beta = 1. */
static void fill_bias(float *out, const float *bias, int64_t channels, int64_t volume) {
    for (int64_t c = 0; c < channels; c++) {
        float v = bias ? bias[c] : 0.0f;
        float *row = out + c * volume;
        for (int64_t i = 0; i < volume; i++) row[i] = v;
    }
}

typedef struct dw_job {
    const conv_geom *g;
    const float *x, *w, *b;
    char *scratch;
    float *y;
    int64_t slots, planes;
    qp_f32_dwconv2d_fn fn;
    const conv_state *state; /* its fused Relu/Clip, if any */
} dw_job;

static void dw_slot_range(void *user, int64_t begin, int64_t end) {
    const dw_job *job = user;
    const conv_geom *g = job->g;
    for (int64_t slot = begin; slot < end; slot++) {
        qp_f32_dwconv2d_args a = {.win = g->win, .scratch = (float *)(job->scratch + slot * dw_scratch_per_slot(g)),
                                  .clamp = job->state->clamp, .lo = job->state->clamp ? job->state->lo : 0.0f,
                                  .hi = job->state->clamp ? job->state->hi : 0.0f};
        int64_t p0 = job->planes * slot / job->slots, p1 = job->planes * (slot + 1) / job->slots;
        for (int64_t plane = p0; plane < p1;) {
            int64_t n = plane / g->c_out, m = plane % g->c_out;
            int64_t c = m / g->cout_g; /* the one input channel of output channel m's group */
            /* one output per input channel: the planes of one image up to the slot's end are
             * consecutive in input, weights, bias and output, so one call covers them */
            int64_t run = g->cout_g == 1 ? (p1 - plane < g->c_out - m ? p1 - plane : g->c_out - m) : 1;
            a.input = job->x + (n * g->c_in + c) * g->in_volume;
            a.kernel = job->w + m * g->kernel_volume;
            a.bias = 0.0f;
            a.biases = job->b ? job->b + m : NULL;
            a.planes = run;
            a.output = job->y + plane * g->out_volume;
            job->fn(&a);
            plane += run;
        }
    }
}

static qp_status conv_run(qp_op_context *ctx) {
    if (!ctx->state) return qp_error(QP_ERR_INTERNAL, NODE_FMT "run without prepare", NODE_ARGS(ctx->node));
    const conv_state *cs = ctx->state;
    const conv_geom *g = &cs->g;
    const float *x = ctx->inputs[0]->data, *w = ctx->inputs[1]->data;
    const float *b = ctx->n_inputs > 2 && ctx->inputs[2] ? ctx->inputs[2]->data : NULL;
    float *y = ctx->outputs[0]->data;
    if (g->batch == 0) return QP_OK;

    if (g->path == CONV_PATH_DEPTHWISE) {
        const int64_t planes = g->batch * g->c_out;
        dw_job job = {g, x, w, b, ctx->scratch, y, dw_slots(ctx->n_threads, planes), planes,
                      qp_f32_get_config()->dwconv2d, cs};
        /* fewer slots than threads when the plan sized scratch for fewer threads */
        if (ctx->scratch_bytes < dw_scratch_per_slot(g) * (size_t)job.slots)
            job.slots = (int64_t)(ctx->scratch_bytes / dw_scratch_per_slot(g));
        if (job.slots < 1) return qp_error(QP_ERR_INTERNAL, NODE_FMT "scratch too small", NODE_ARGS(ctx->node));
        qp_parallel_for(ctx->n_threads, job.slots, dw_slot_range, &job);
        return QP_OK;
    }

    const int64_t k_rows = g->cin_g * g->kernel_volume;
    conv_gemm_job job = {.kernel = &qp_f32_get_config()->gemm, .scratch = ctx->scratch,
                         .scratch_per_slot = gemm_scratch_per_slot(g),
                         .slots = (int)gemm_slots(ctx->n_threads)};
    /* fewer slots than threads when the plan sized scratch for fewer threads */
    if (job.scratch_per_slot && ctx->scratch_bytes < job.scratch_per_slot * (size_t)job.slots)
        job.slots = (int)(ctx->scratch_bytes / job.scratch_per_slot);
    if (job.slots < 1) return qp_error(QP_ERR_INTERNAL, NODE_FMT "scratch too small", NODE_ARGS(ctx->node));
    for (int64_t n = 0; n < g->batch; n++) {
        for (int64_t grp = 0; grp < g->group; grp++) {
            job.args = (qp_f32_gemm_nn_args){
                .m = g->cout_g, .n = g->out_volume, .k = k_rows, .a = w + grp * g->cout_g * k_rows,
                .lda = k_rows,
                .b = x + (n * g->c_in + grp * g->cin_g) * g->in_volume, .ldb = g->in_volume,
                .win = g->path == CONV_PATH_IM2COL ? &g->win : NULL,
                .c = y + (n * g->c_out + grp * g->cout_g) * g->out_volume, .ldc = g->out_volume,
                .bias = b ? b + grp * g->cout_g : NULL, .lo = cs->lo, .hi = cs->hi};
            qp_parallel_for(ctx->n_threads, job.slots, conv_gemm_range, &job);
        }
    }
    return QP_OK;
}

static const qp_op_def conv_op = {.op_type = "Conv",
                                  .domain = "",
                                  .infer = conv_infer,
                                  .prepare = conv_prepare,
                                  .release = free,
                                  .run = conv_run};

/* ConvTranspose: y = col2im(W^T x). The window describes the equivalent forward Conv from the
 * ConvTranspose output (the "image") to its input, so im2col's adjoint scatters exactly the
 * taps ONNX defines: out[i*stride - pad_begin + k*dilation] += x[i] * w[k]. */
static qp_status convt_geometry(const qp_op_context *ctx, conv_geom *g) {
    int64_t kernel[3], strides[3], dilations[3], pads[6], out_pad[3], out[3];
    qp_f32_auto_pad auto_pad;
    qp_status st = conv_common(ctx, g, kernel, strides, dilations, pads, &auto_pad);
    if (st != QP_OK) return st;
    const qp_node *node = ctx->node;
    const qp_value *w = ctx->inputs[1];
    int ns = g->n_spatial;
    if (w->shape.dims[0] != g->c_in)
        return qp_error(QP_ERR_SHAPE, NODE_FMT "W has %lld input channels, X has %lld", NODE_ARGS(node),
                        (long long)w->shape.dims[0], (long long)g->c_in);
    if (g->c_in % g->group != 0)
        return qp_error(QP_ERR_SHAPE, NODE_FMT "input channels %lld must divide by group %lld",
                        NODE_ARGS(node), (long long)g->c_in, (long long)g->group);
    g->cin_g = g->c_in / g->group;
    g->cout_g = w->shape.dims[1];
    g->c_out = g->cout_g * g->group;
    if ((st = check_bias(ctx, g->c_out)) != QP_OK) return st;
    if ((st = qp_ops_spatial_attr(node, "output_padding", ns, 0, 0, out_pad)) != QP_OK) return st;
    int n_shape = 0;
    const int64_t *out_shape = qp_node_attr_ints(node, "output_shape", &n_shape);
    if (out_shape && n_shape != ns && n_shape != ns + 2)
        return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "output_shape has %d values, expected %d",
                        NODE_ARGS(node), n_shape, ns);
    if (out_shape) out_shape += n_shape - ns;
    for (int i = 0; i < ns; i++) {
        const int64_t in = g->in_spatial[i], span = (kernel[i] - 1) * dilations[i] + 1;
        const int64_t full = strides[i] * (in - 1) + out_pad[i] + span;
        if (out_shape || auto_pad == QP_F32_AUTO_PAD_SAME_UPPER || auto_pad == QP_F32_AUTO_PAD_SAME_LOWER) {
            out[i] = out_shape ? out_shape[i] : in * strides[i];
            int64_t total = full - out[i];
            if (total < 0) total = 0; /* a larger output_shape only appends zeros */
            pads[i] = auto_pad == QP_F32_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
            pads[i + ns] = total - pads[i];
        } else {
            if (auto_pad == QP_F32_AUTO_PAD_VALID) pads[i] = pads[i + ns] = 0;
            out[i] = full - pads[i] - pads[i + ns];
        }
        if (out[i] < 1)
            return qp_error(QP_ERR_SHAPE, NODE_FMT "spatial dim %d: output size %lld < 1", NODE_ARGS(node), i,
                            (long long)out[i]);
        g->out_spatial[i] = out[i];
    }
    /* image = ConvTranspose output, sweep = ConvTranspose input */
    promote_window(g, g->out_spatial, g->in_spatial, kernel, strides, dilations, pads, pads + ns);
    g->out_volume = g->win.in[0] * g->win.in[1] * g->win.in[2];
    g->in_volume = g->win.out[0] * g->win.out[1] * g->win.out[2];
    g->path = CONV_PATH_IM2COL;
    return QP_OK;
}

static qp_status convt_infer(qp_op_context *ctx) {
    conv_geom g = {0};
    qp_status st = convt_geometry(ctx, &g);
    if (st != QP_OK) return st;
    qp_shape shape = {.rank = g.n_spatial + 2};
    shape.dims[0] = g.batch;
    shape.dims[1] = g.c_out;
    for (int i = 0; i < g.n_spatial; i++) shape.dims[i + 2] = g.out_spatial[i];
    qp_value_set(ctx->outputs[0], QP_DT_FLOAT, &shape);
    return QP_OK;
}

static qp_status convt_prepare(qp_op_context *ctx, void **state, size_t *scratch_bytes) {
    conv_state *cs;
    qp_status st = new_state(ctx, convt_geometry, &cs);
    if (st != QP_OK) return st;
    *scratch_bytes = (size_t)(cs->g.cout_g * cs->g.kernel_volume * cs->g.in_volume) * sizeof(float);
    *state = cs;
    return QP_OK;
}

typedef struct col2im_job {
    const qp_f32_window *win;
    const float *col;
    float *image;
} col2im_job;

static void col2im_range(void *user, int64_t begin, int64_t end) {
    const col2im_job *job = user;
    qp_f32_col2im_add(job->win, begin, end, job->col, job->image);
}

static qp_status convt_run(qp_op_context *ctx) {
    if (!ctx->state) return qp_error(QP_ERR_INTERNAL, NODE_FMT "run without prepare", NODE_ARGS(ctx->node));
    const conv_state *cs = ctx->state;
    const conv_geom *g = &cs->g;
    const float *x = ctx->inputs[0]->data, *w = ctx->inputs[1]->data;
    const float *b = ctx->n_inputs > 2 && ctx->inputs[2] ? ctx->inputs[2]->data : NULL;
    float *y = ctx->outputs[0]->data;
    const int64_t col_rows = g->cout_g * g->kernel_volume;
    if (ctx->scratch_bytes < (size_t)(col_rows * g->in_volume) * sizeof(float))
        return qp_error(QP_ERR_INTERNAL, NODE_FMT "scratch too small", NODE_ARGS(ctx->node));
    float *col = ctx->scratch;
    for (int64_t n = 0; n < g->batch; n++) {
        float *y_n = y + n * g->c_out * g->out_volume;
        fill_bias(y_n, b, g->c_out, g->out_volume);
        for (int64_t grp = 0; grp < g->group; grp++) {
            const float *x_g = x + (n * g->c_in + grp * g->cin_g) * g->in_volume;
            const float *w_g = w + grp * g->cin_g * col_rows;
            qp_f32_gemm_args mm = {.trans_a = 1, .m = col_rows, .n = g->in_volume, .k = g->cin_g,
                                   .alpha = 1.0f, .a = w_g, .lda = col_rows, .b = x_g, .ldb = g->in_volume,
                                   .beta = 0.0f, .c = col, .ldc = g->in_volume};
            parallel_gemm(&mm, ctx->n_threads);
            col2im_job job = {&g->win, col, y_n + grp * g->cout_g * g->out_volume};
            qp_parallel_for(ctx->n_threads, g->cout_g, col2im_range, &job);
        }
    }
    return QP_OK;
}

static const qp_op_def conv_transpose_op = {.op_type = "ConvTranspose",
                                            .domain = "",
                                            .infer = convt_infer,
                                            .prepare = convt_prepare,
                                            .release = free,
                                            .run = convt_run};

const qp_op_def *const qp_ops_conv[] = {&conv_op, &conv_transpose_op, NULL};
