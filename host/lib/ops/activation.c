/* activation.c — ONNX activation ops (Relu, Clip, Sigmoid, HardSwish, PRelu, Gelu, ...) over float tensors,
 * some also over integers. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "engine/op.h"
#include "kernels/fp32/f32_kernels.h"
#include "ops/ops_common_util.h"

typedef struct act_params {
    float alpha, beta, gamma;
    int approximate_tanh; /* Gelu */
} act_params;

typedef struct act_spec {
    qp_ops_map_fn fn[QP_OPS_DT_COUNT];
    const char *dtypes;
    float alpha, beta, gamma; /* attribute defaults */
} act_spec;

#define DEFINE_ACT(NAME, S, T, EXPR)                                                                         \
    static void NAME##_##S(const void *params, int64_t n, const void *pin, void *pout) {                     \
        const act_params pv = *(const act_params *)params; /* a local copy cannot alias o[] */               \
        const act_params *p = &pv;                                                                           \
        (void)p;                                                                                             \
        const T *in = pin;                                                                                   \
        T *o = pout;                                                                                         \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            const T x = in[i];                                                                               \
            o[i] = (T)(EXPR);                                                                                \
        }                                                                                                    \
    }

/* Float activations: EF is the float32 expression, ED the float64 one; both may use x and p. */
#define FLOAT_ACT(NAME, EF, ED, A, B, G)                                                                     \
    DEFINE_ACT(NAME, f32, float, EF)                                                                         \
    DEFINE_ACT(NAME, f64, double, ED)                                                                        \
    static const act_spec NAME##_spec = {                                                                    \
        {[QP_DT_FLOAT] = NAME##_f32, [QP_DT_DOUBLE] = NAME##_f64}, "float32, float64", A, B, G};

static inline float sigmoid_scalar_f32(float x) {
    float e = expf(-fabsf(x)), r = 1.0f / (1.0f + e);
    return x >= 0 ? r : e * r;
}
static inline double sigmoid_scalar_f64(double x) {
    double e = exp(-fabs(x)), r = 1.0 / (1.0 + e);
    return x >= 0 ? r : e * r;
}
/* log(1 + e^x) without overflow for large x. */
static inline float softplus_scalar_f32(float x) {
    return x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x));
}
static inline double softplus_scalar_f64(double x) {
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static inline float gelu_scalar_f32(float x, int tanh_approx) {
    if (tanh_approx) {
        const float k = 0.7978845608028654f; /* sqrt(2/pi) */
        return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
    }
    return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
}
static inline double gelu_scalar_f64(double x, int tanh_approx) {
    if (tanh_approx) {
        const double k = 0.7978845608028654;
        return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
    }
    return 0.5 * x * (1.0 + erf(x * 0.7071067811865476));
}

FLOAT_ACT(leaky_relu, x < 0 ? p->alpha * x : x, x < 0 ? (double)p->alpha * x : x, 0.01f, 0, 0)
FLOAT_ACT(sigmoid, sigmoid_scalar_f32(x), sigmoid_scalar_f64(x), 0, 0, 0)
FLOAT_ACT(tanh, tanhf(x), tanh(x), 0, 0, 0)
/* Comparisons rather than fminf/fmaxf: they vectorise, and NaN propagates as in numpy. */
static inline float clamp01_f32(float v) {
    return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
}
static inline double clamp01_f64(double v) {
    return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
}

FLOAT_ACT(hard_sigmoid, clamp01_f32(p->alpha *x + p->beta), clamp01_f64((double)p->alpha *x + p->beta), 0.2f,
          0.5f, 0)
FLOAT_ACT(hard_swish, x *clamp01_f32(x *(1.0f / 6.0f) + 0.5f), x *clamp01_f64(x / 6.0 + 0.5), 0, 0, 0)
FLOAT_ACT(elu, x < 0 ? p->alpha * expm1f(x) : x, x < 0 ? (double)p->alpha * expm1(x) : x, 1.0f, 0, 0)
FLOAT_ACT(selu, x > 0 ? p->gamma * x : p->gamma * (p->alpha * expf(x) - p->alpha),
          x > 0 ? (double)p->gamma * x : (double)p->gamma * ((double)p->alpha * exp(x) - p->alpha),
          1.67326319217681884765625f, 0, 1.05070102214813232421875f)
FLOAT_ACT(celu, fmaxf(0.0f, x) + fminf(0.0f, p->alpha *expm1f(x / p->alpha)),
          fmax(0.0, x) + fmin(0.0, (double)p->alpha *expm1(x / p->alpha)), 1.0f, 0, 0)
FLOAT_ACT(softplus, softplus_scalar_f32(x), softplus_scalar_f64(x), 0, 0, 0)
FLOAT_ACT(softsign, x / (1.0f + fabsf(x)), x / (1.0 + fabs(x)), 0, 0, 0)
FLOAT_ACT(thresholded_relu, x > p->alpha ? x : 0.0f, x > p->alpha ? x : 0.0, 1.0f, 0, 0)
FLOAT_ACT(gelu, gelu_scalar_f32(x, p->approximate_tanh), gelu_scalar_f64(x, p->approximate_tanh), 0, 0, 0)
FLOAT_ACT(mish, x *tanhf(softplus_scalar_f32(x)), x *tanh(softplus_scalar_f64(x)), 0, 0, 0)
/* Shrink: alpha holds lambd, beta holds bias. */
FLOAT_ACT(shrink, x<-p->alpha ? x + p->beta : x> p->alpha ? x - p->beta : 0.0f,
          x<-p->alpha ? x + p->beta : x> p->alpha ? x - p->beta : 0.0, 0.5f, 0.0f, 0)

/* Relu also takes the signed integer types (opset 14). x < 0 keeps NaN as NaN. */
#define X_RELU(S, T, DT, W) DEFINE_ACT(relu, S, T, x < 0 ? 0 : x)
#define E_RELU(S, T, DT, W) [DT] = relu_##S,
QP_OPS_FOR_FLOAT(X_RELU)
QP_OPS_FOR_SIGNED(X_RELU)
static const act_spec relu_spec = {{QP_OPS_FOR_FLOAT(E_RELU) QP_OPS_FOR_SIGNED(E_RELU)},
                                   "float32, float64 and the signed integer types",
                                   0,
                                   0,
                                   0};

/* float32 Relu/Clip through the per-ISA clamp kernel (this file is built for the baseline ISA):
 * chunks of the array on the engine's threads, the same results as the scalar definitions. */
typedef struct f32_clamp_job {
    qp_f32_clamp_fn fn;
    const float *in;
    float *out;
    float lo, hi;
} f32_clamp_job;

static void f32_clamp_range(void *user, int64_t begin, int64_t end) {
    const f32_clamp_job *j = user;
    j->fn(j->in + begin, j->out + begin, end - begin, j->lo, j->hi);
}

static void f32_clamp_run(const qp_op_context *ctx, float lo, float hi) {
    f32_clamp_job j = {qp_f32_get_config()->clamp, ctx->inputs[0]->data, ctx->outputs[0]->data, lo, hi};
    qp_ops_parallel(ctx->n_threads, qp_shape_numel(&ctx->inputs[0]->shape), 32768, f32_clamp_range, &j);
}

static qp_status act_infer(qp_op_context *ctx, const act_spec *spec) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if ((int)x->dtype < 0 || (int)x->dtype >= QP_OPS_DT_COUNT || !spec->fn[x->dtype])
        return qp_error(QP_ERR_UNSUPPORTED, "%s: dtype %s is not supported (supported: %s)",
                        ctx->node->op_type, qp_dtype_name(x->dtype), spec->dtypes);
    qp_value_set(ctx->outputs[0], x->dtype, &x->shape);
    return QP_OK;
}

static qp_status act_run(qp_op_context *ctx, const act_spec *spec, const act_params *p) {
    const qp_value *x = ctx->inputs[0];
    qp_value *y = ctx->outputs[0];
    size_t es = qp_dtype_size(x->dtype);
    qp_ops_map(ctx->n_threads, qp_shape_numel(&x->shape), x->data, es, y->data, es, spec->fn[x->dtype], p);
    return QP_OK;
}

/* Attribute names: most activations read alpha/beta/gamma; Shrink reads lambd/bias. */
static act_params read_params(const qp_op_context *ctx, const act_spec *spec, const char *a_name,
                              const char *b_name) {
    act_params p = {qp_node_attr_float(ctx->node, a_name, spec->alpha),
                    qp_node_attr_float(ctx->node, b_name, spec->beta),
                    qp_node_attr_float(ctx->node, "gamma", spec->gamma), 0};
    return p;
}

#define ACT_OP(NAME, TYPE)                                                                                   \
    static qp_status NAME##_infer(qp_op_context *ctx) {                                                      \
        return act_infer(ctx, &NAME##_spec);                                                                 \
    }                                                                                                        \
    static qp_status NAME##_run(qp_op_context *ctx) {                                                        \
        act_params p = read_params(ctx, &NAME##_spec, "alpha", "beta");                                      \
        return act_run(ctx, &NAME##_spec, &p);                                                               \
    }                                                                                                        \
    static const qp_op_def NAME##_def = {TYPE, "", NAME##_infer, NULL, NULL, NAME##_run};

static qp_status relu_infer(qp_op_context *ctx) {
    return act_infer(ctx, &relu_spec);
}
static qp_status relu_run(qp_op_context *ctx) {
    if (ctx->inputs[0]->dtype == QP_DT_FLOAT) { /* x < 0 ? 0 : x is max(0, x) with NaN kept */
        f32_clamp_run(ctx, 0.0f, INFINITY);
        return QP_OK;
    }
    act_params p = read_params(ctx, &relu_spec, "alpha", "beta");
    return act_run(ctx, &relu_spec, &p);
}
static const qp_op_def relu_def = {"Relu", "", relu_infer, NULL, NULL, relu_run};
ACT_OP(leaky_relu, "LeakyRelu")
ACT_OP(sigmoid, "Sigmoid")
ACT_OP(tanh, "Tanh")
ACT_OP(hard_sigmoid, "HardSigmoid")
ACT_OP(hard_swish, "HardSwish")
ACT_OP(elu, "Elu")
ACT_OP(selu, "Selu")
ACT_OP(celu, "Celu")
ACT_OP(softplus, "Softplus")
ACT_OP(softsign, "Softsign")
ACT_OP(thresholded_relu, "ThresholdedRelu")
ACT_OP(mish, "Mish")

static qp_status shrink_infer(qp_op_context *ctx) {
    return act_infer(ctx, &shrink_spec);
}
static qp_status shrink_run(qp_op_context *ctx) {
    act_params p = read_params(ctx, &shrink_spec, "lambd", "bias");
    return act_run(ctx, &shrink_spec, &p);
}
static const qp_op_def shrink_def = {"Shrink", "", shrink_infer, NULL, NULL, shrink_run};

static qp_status gelu_infer(qp_op_context *ctx) {
    const char *approx = qp_node_attr_string(ctx->node, "approximate", "none");
    if (strcmp(approx, "none") != 0 && strcmp(approx, "tanh") != 0)
        return qp_error(QP_ERR_INVALID_MODEL,
                        "Gelu: attribute 'approximate' must be \"none\" or \"tanh\", got \"%s\"", approx);
    return act_infer(ctx, &gelu_spec);
}
static qp_status gelu_run(qp_op_context *ctx) {
    act_params p = {0, 0, 0, strcmp(qp_node_attr_string(ctx->node, "approximate", "none"), "tanh") == 0};
    return act_run(ctx, &gelu_spec, &p);
}
static const qp_op_def gelu_def = {"Gelu", "", gelu_infer, NULL, NULL, gelu_run};

/* ---------------------------------------------------------------------------------------------
 * Clip: bounds come from attributes before opset 11 and from optional scalar inputs after
 * (either may be omitted). A missing bound does not clip. min > max yields max (numpy.clip). */
typedef void (*clip_fn)(int64_t n, const void *in, void *out, const void *lo, const void *hi);

#define X_CLIP(S, T, DT, W)                                                                                  \
    static void clip_##S(int64_t n, const void *pin, void *pout, const void *plo, const void *phi) {         \
        const T *in = pin;                                                                                   \
        T *o = pout;                                                                                         \
        if (plo && phi) {                                                                                    \
            const T lo = *(const T *)plo, hi = *(const T *)phi;                                              \
            for (int64_t i = 0; i < n; i++) {                                                                \
                T v = in[i] < lo ? lo : in[i];                                                               \
                o[i] = v > hi ? hi : v;                                                                      \
            }                                                                                                \
        } else if (plo) {                                                                                    \
            const T lo = *(const T *)plo;                                                                    \
            for (int64_t i = 0; i < n; i++)                                                                  \
                o[i] = in[i] < lo ? lo : in[i];                                                              \
        } else if (phi) {                                                                                    \
            const T hi = *(const T *)phi;                                                                    \
            for (int64_t i = 0; i < n; i++)                                                                  \
                o[i] = in[i] > hi ? hi : in[i];                                                              \
        } else if (o != in) {                                                                                \
            memcpy(o, in, (size_t)n * sizeof(T));                                                            \
        }                                                                                                    \
    }
#define E_CLIP(S, T, DT, W) [DT] = clip_##S,
QP_OPS_FOR_NUMERIC(X_CLIP)
static const clip_fn clip_table[QP_OPS_DT_COUNT] = {QP_OPS_FOR_NUMERIC(E_CLIP)};

static qp_status clip_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, ctx->opset >= 11 ? 3 : 1, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if ((int)x->dtype < 0 || (int)x->dtype >= QP_OPS_DT_COUNT || !clip_table[x->dtype] ||
        (ctx->opset < 11 && !qp_ops_is_float(x->dtype)))
        return qp_error(QP_ERR_UNSUPPORTED, "Clip: dtype %s is not supported (supported: float32, float64%s)",
                        qp_dtype_name(x->dtype), ctx->opset >= 11 ? " and the integer types" : "");
    for (int i = 1; i < ctx->n_inputs; i++) {
        const qp_value *b = ctx->inputs[i];
        if (!b) continue;
        if (b->dtype != x->dtype)
            return qp_error(QP_ERR_SHAPE, "Clip: bound '%s' has dtype %s, input has %s",
                            i == 1 ? "min" : "max", qp_dtype_name(b->dtype), qp_dtype_name(x->dtype));
        if (qp_shape_numel(&b->shape) != 1)
            return qp_error(QP_ERR_SHAPE, "Clip: bound '%s' must be a scalar", i == 1 ? "min" : "max");
    }
    qp_value_set(ctx->outputs[0], x->dtype, &x->shape);
    return QP_OK;
}

typedef struct clip_job {
    clip_fn fn;
    const unsigned char *in;
    unsigned char *out;
    size_t es;
    const void *lo, *hi;
} clip_job;

static void clip_range(void *user, int64_t begin, int64_t end) {
    const clip_job *j = user;
    j->fn(end - begin, j->in + (size_t)begin * j->es, j->out + (size_t)begin * j->es, j->lo, j->hi);
}

/* Declared in ops_common_util.h so the planner's Conv+Clip fusion reads the bounds as this op does. */
void qp_ops_clip_bounds(const qp_node *node, int64_t opset, qp_dtype dtype, const qp_value *min_in,
                        const qp_value *max_in, qp_ops_clip_scalar store[2], const void *bounds[2]) {
    if (opset < 11) { /* the float limits as defaults: no clipping, in effect */
        const float lo = qp_node_attr_float(node, "min", -FLT_MAX);
        const float hi = qp_node_attr_float(node, "max", FLT_MAX);
        if (dtype == QP_DT_FLOAT) {
            store[0].f = lo;
            store[1].f = hi;
        } else {
            store[0].d = lo;
            store[1].d = hi;
        }
        bounds[0] = &store[0];
        bounds[1] = &store[1];
        return;
    }
    bounds[0] = min_in ? min_in->data : NULL;
    bounds[1] = max_in ? max_in->data : NULL;
}

static qp_status clip_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0];
    qp_ops_clip_scalar store[2];
    const void *b[2];
    qp_ops_clip_bounds(ctx->node, ctx->opset, x->dtype, qp_ops_in(ctx, 1), qp_ops_in(ctx, 2), store, b);
    if (x->dtype == QP_DT_FLOAT && (b[0] || b[1])) {
        float f[2];
        qp_ops_clip_bounds_f32(b, f);
        f32_clamp_run(ctx, f[0], f[1]);
        return QP_OK;
    }
    clip_job j = {clip_table[x->dtype], x->data, ctx->outputs[0]->data, qp_dtype_size(x->dtype), b[0], b[1]};
    qp_ops_parallel(ctx->n_threads, qp_shape_numel(&x->shape), 32768, clip_range, &j);
    return QP_OK;
}
static const qp_op_def clip_def = {"Clip", "", clip_infer, NULL, NULL, clip_run};

/* ---------------------------------------------------------------------------------------------
 * PRelu: slope broadcasts unidirectionally to X. Before opset 7 a 1-D slope holds one value per
 * channel (axis 1), so it is viewed as [C, 1, ..., 1]. */
static qp_shape prelu_slope_shape(const qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0], *s = ctx->inputs[1];
    qp_shape shape = s->shape;
    if (ctx->opset < 7 && s->shape.rank == 1 && s->shape.dims[0] > 1 && x->shape.rank >= 2 &&
        s->shape.dims[0] == x->shape.dims[1]) {
        shape.rank = x->shape.rank - 1;
        for (int d = 1; d < shape.rank; d++)
            shape.dims[d] = 1;
    }
    return shape;
}

static qp_status prelu_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 2, 2, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0], *s = ctx->inputs[1];
    qp_shape slope = prelu_slope_shape(ctx);
    if (!qp_ops_is_float(x->dtype) && x->dtype != QP_DT_INT32 && x->dtype != QP_DT_INT64)
        return qp_error(QP_ERR_UNSUPPORTED,
                        "PRelu: dtype %s is not supported (supported: float32, float64, int32, int64)",
                        qp_dtype_name(x->dtype));
    if (s->dtype != x->dtype)
        return qp_error(QP_ERR_SHAPE, "PRelu: slope dtype %s differs from input dtype %s",
                        qp_dtype_name(s->dtype), qp_dtype_name(x->dtype));
    qp_shape out;
    char sx[128], ss[128];
    if (qp_broadcast_shape(&x->shape, &slope, &out) != QP_OK || out.rank != x->shape.rank ||
        memcmp(out.dims, x->shape.dims, sizeof(int64_t) * (size_t)out.rank) != 0)
        return qp_error(QP_ERR_SHAPE, "PRelu: slope %s does not broadcast to input %s",
                        qp_shape_str(&s->shape, ss, sizeof ss), qp_shape_str(&x->shape, sx, sizeof sx));
    qp_value_set(ctx->outputs[0], x->dtype, &x->shape);
    return QP_OK;
}

typedef struct prelu_job {
    const qp_value *x, *s;
    qp_value *y;
} prelu_job;

#define PRELU_LOOP(T)                                                                                        \
    do {                                                                                                     \
        const T *x = (const T *)j->x->data + in_off[0], *s = (const T *)j->s->data + in_off[1];              \
        T *y = (T *)j->y->data + out_off;                                                                    \
        if (ss) {                                                                                            \
            for (int64_t i = 0; i < n; i++)                                                                  \
                y[i] = x[i] < 0 ? (T)(s[i] * x[i]) : x[i];                                                   \
        } else {                                                                                             \
            const T k = s[0];                                                                                \
            for (int64_t i = 0; i < n; i++)                                                                  \
                y[i] = x[i] < 0 ? (T)(k * x[i]) : x[i];                                                      \
        }                                                                                                    \
    } while (0)

static void prelu_segment(void *user, const qp_ops_bcast *bc, int64_t out_off, const int64_t *in_off,
                          int64_t n) {
    const prelu_job *j = user;
    int64_t ss = bc->inner_stride[1];
    switch (j->x->dtype) {
    case QP_DT_FLOAT: PRELU_LOOP(float); break;
    case QP_DT_DOUBLE: PRELU_LOOP(double); break;
    case QP_DT_INT32: { /* products wrap rather than overflow */
        const int32_t *x = (const int32_t *)j->x->data + in_off[0],
                      *s = (const int32_t *)j->s->data + in_off[1];
        int32_t *y = (int32_t *)j->y->data + out_off;
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] < 0 ? (int32_t)((uint32_t)s[i * ss] * (uint32_t)x[i]) : x[i];
        break;
    }
    default: {
        const int64_t *x = (const int64_t *)j->x->data + in_off[0],
                      *s = (const int64_t *)j->s->data + in_off[1];
        int64_t *y = (int64_t *)j->y->data + out_off;
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] < 0 ? (int64_t)((uint64_t)s[i * ss] * (uint64_t)x[i]) : x[i];
        break;
    }
    }
}

static qp_status prelu_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0], *s = ctx->inputs[1];
    qp_shape slope = prelu_slope_shape(ctx);
    const qp_shape *shapes[2] = {&x->shape, &slope};
    qp_ops_bcast bc;
    qp_ops_bcast_init(&bc, &x->shape, shapes, 2);
    prelu_job j = {x, s, ctx->outputs[0]};
    qp_ops_bcast_run(&bc, ctx->n_threads, prelu_segment, &j);
    return QP_OK;
}
static const qp_op_def prelu_def = {"PRelu", "", prelu_infer, NULL, NULL, prelu_run};

const qp_op_def *const qp_ops_activation[] = {
    &relu_def,         &leaky_relu_def,       &prelu_def, &clip_def, &sigmoid_def, &tanh_def,
    &hard_sigmoid_def, &hard_swish_def,       &elu_def,   &selu_def, &celu_def,    &softplus_def,
    &softsign_def,     &thresholded_relu_def, &gelu_def,  &mish_def, &shrink_def,  NULL,
};
