/* elementwise.c — ONNX elementwise math, comparison and logic ops with numpy broadcasting (Add, Mul, Where,
 * Exp, Equal, ...). */
#include <math.h>
#include <string.h>

#include "engine/op.h"
#include "ops/ops_common_util.h"

/* ---------------------------------------------------------------------------------------------
 * Binary kernels: one function per (op, dtype); sa/sb are the inner strides (0 = broadcast
 * scalar, 1 = contiguous), so the compiler gets a separate vectorisable loop for each case. */
typedef void (*binary_fn)(int64_t n, const void *a, int64_t sa, const void *b, int64_t sb, void *o);

typedef struct binary_spec {
    binary_fn fn[QP_OPS_DT_COUNT];
    int to_bool;
    const char *dtypes; /* for messages */
} binary_spec;

#define BINARY_LOOPS(T, TO, OPF)                                                                             \
    const T *a = pa, *b = pb;                                                                                \
    TO *o = po;                                                                                              \
    if (sa && sb) {                                                                                          \
        for (int64_t i = 0; i < n; i++)                                                                      \
            o[i] = OPF(a[i], b[i]);                                                                          \
    } else if (sa) {                                                                                         \
        const T y = b[0];                                                                                    \
        for (int64_t i = 0; i < n; i++)                                                                      \
            o[i] = OPF(a[i], y);                                                                             \
    } else if (sb) {                                                                                         \
        const T x = a[0];                                                                                    \
        for (int64_t i = 0; i < n; i++)                                                                      \
            o[i] = OPF(x, b[i]);                                                                             \
    } else {                                                                                                 \
        const TO v = OPF(a[0], b[0]);                                                                        \
        for (int64_t i = 0; i < n; i++)                                                                      \
            o[i] = v;                                                                                        \
    }

#define DEFINE_BINARY(NAME, SFX, T, TO, BODY)                                                                \
    static inline TO NAME##_op_##SFX(T x, T y) {                                                             \
        BODY                                                                                                 \
    }                                                                                                        \
    static void NAME##_##SFX(int64_t n, const void *pa, int64_t sa, const void *pb, int64_t sb, void *po) {  \
        BINARY_LOOPS(T, TO, NAME##_op_##SFX)                                                                 \
    }

/* Arithmetic wraps (via the unsigned twin W) instead of overflowing. */
#define X_ADD(S, T, DT, W) DEFINE_BINARY(add, S, T, T, return (T)((W)x + (W)y);)
#define X_SUB(S, T, DT, W) DEFINE_BINARY(sub, S, T, T, return (T)((W)x - (W)y);)
#define X_MUL(S, T, DT, W) DEFINE_BINARY(mul, S, T, T, return (T)((W)x * (W)y);)
#define E_ADD(S, T, DT, W) [DT] = add_##S,
#define E_SUB(S, T, DT, W) [DT] = sub_##S,
#define E_MUL(S, T, DT, W) [DT] = mul_##S,
QP_OPS_FOR_NUMERIC(X_ADD)
QP_OPS_FOR_NUMERIC(X_SUB)
QP_OPS_FOR_NUMERIC(X_MUL)

/* Integer division truncates toward zero like C (ONNX Runtime's behaviour); x/0 gives 0 and
 * MIN/-1 wraps, where C would trap. */
#define X_DIV_F(S, T, DT, W) DEFINE_BINARY(div, S, T, T, return x / y;)
#define X_DIV_S(S, T, DT, W)                                                                                 \
    DEFINE_BINARY(div, S, T, T, if (y == 0) return 0; if (y == -1) return (T)((W)0 - (W)x);                  \
                  return (T)(x / y);)
#define X_DIV_U(S, T, DT, W) DEFINE_BINARY(div, S, T, T, return y == 0 ? 0 : (T)(x / y);)
#define E_DIV(S, T, DT, W) [DT] = div_##S,
QP_OPS_FOR_FLOAT(X_DIV_F)
QP_OPS_FOR_SIGNED(X_DIV_S)
QP_OPS_FOR_UNSIGNED(X_DIV_U)

/* Max/Min propagate NaN like numpy's maximum/minimum. */
#define X_MAX_F(S, T, DT, W) DEFINE_BINARY(max, S, T, T, return (x != x || x > y) ? x : y;)
#define X_MIN_F(S, T, DT, W) DEFINE_BINARY(min, S, T, T, return (x != x || x < y) ? x : y;)
#define X_MAX_I(S, T, DT, W) DEFINE_BINARY(max, S, T, T, return x > y ? x : y;)
#define X_MIN_I(S, T, DT, W) DEFINE_BINARY(min, S, T, T, return x < y ? x : y;)
#define E_MAX(S, T, DT, W) [DT] = max_##S,
#define E_MIN(S, T, DT, W) [DT] = min_##S,
QP_OPS_FOR_FLOAT(X_MAX_F)
QP_OPS_FOR_FLOAT(X_MIN_F)
QP_OPS_FOR_INT(X_MAX_I)
QP_OPS_FOR_INT(X_MIN_I)

/* Mod: fmod=0 takes the divisor's sign (Python %), fmod=1 the dividend's (C fmod). */
static inline float py_mod_f32(float x, float y) {
    float r = fmodf(x, y);
    return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}
static inline double py_mod_f64(double x, double y) {
    double r = fmod(x, y);
    return (r != 0 && ((r < 0) != (y < 0))) ? r + y : r;
}
DEFINE_BINARY(mod, f32, float, float, return py_mod_f32(x, y);)
DEFINE_BINARY(mod, f64, double, double, return py_mod_f64(x, y);)
DEFINE_BINARY(fmod, f32, float, float, return fmodf(x, y);)
DEFINE_BINARY(fmod, f64, double, double, return fmod(x, y);)
#define X_MOD_S(S, T, DT, W)                                                                                 \
    DEFINE_BINARY(mod, S, T, T, if (y == 0 || y == -1) return 0; T r = (T)(x % y);                           \
                  return (r != 0 && ((r < 0) != (y < 0))) ? (T)(r + y) : r;)
#define X_FMOD_S(S, T, DT, W)                                                                                \
    DEFINE_BINARY(fmod, S, T, T, if (y == 0 || y == -1) return 0; return (T)(x % y);)
#define X_MOD_U(S, T, DT, W) DEFINE_BINARY(mod, S, T, T, return y == 0 ? 0 : (T)(x % y);)
#define X_FMOD_U(S, T, DT, W) DEFINE_BINARY(fmod, S, T, T, return y == 0 ? 0 : (T)(x % y);)
#define E_MOD(S, T, DT, W) [DT] = mod_##S,
#define E_FMOD(S, T, DT, W) [DT] = fmod_##S,
QP_OPS_FOR_SIGNED(X_MOD_S)
QP_OPS_FOR_SIGNED(X_FMOD_S)
QP_OPS_FOR_UNSIGNED(X_MOD_U)
QP_OPS_FOR_UNSIGNED(X_FMOD_U)

/* Comparisons produce bool (one byte, 0/1). */
#define X_CMP(S, T, DT, W)                                                                                   \
    DEFINE_BINARY(eq, S, T, uint8_t, return x == y;)                                                         \
    DEFINE_BINARY(lt, S, T, uint8_t, return x < y;)                                                          \
    DEFINE_BINARY(gt, S, T, uint8_t, return x > y;)                                                          \
    DEFINE_BINARY(le, S, T, uint8_t, return x <= y;)                                                         \
    DEFINE_BINARY(ge, S, T, uint8_t, return x >= y;)
#define E_EQ(S, T, DT, W) [DT] = eq_##S,
#define E_LT(S, T, DT, W) [DT] = lt_##S,
#define E_GT(S, T, DT, W) [DT] = gt_##S,
#define E_LE(S, T, DT, W) [DT] = le_##S,
#define E_GE(S, T, DT, W) [DT] = ge_##S,
QP_OPS_FOR_NUMERIC(X_CMP)
DEFINE_BINARY(eq, bool, uint8_t, uint8_t, return (x != 0) == (y != 0);)

DEFINE_BINARY(and, bool, uint8_t, uint8_t, return (x != 0) & (y != 0);)
DEFINE_BINARY(or, bool, uint8_t, uint8_t, return (x != 0) | (y != 0);)
DEFINE_BINARY(xor, bool, uint8_t, uint8_t, return (x != 0) ^ (y != 0);)

/* BitShift: shifting by the type's width or more gives 0 (C leaves it undefined). */
#define X_SHIFT(S, T, DT, W)                                                                                 \
    DEFINE_BINARY(shl, S, T, T, return y >= (T)(8 * sizeof(T)) ? 0 : (T)((W)x << y);)                        \
    DEFINE_BINARY(shr, S, T, T, return y >= (T)(8 * sizeof(T)) ? 0 : (T)(x >> y);)
#define E_SHL(S, T, DT, W) [DT] = shl_##S,
#define E_SHR(S, T, DT, W) [DT] = shr_##S,
QP_OPS_FOR_UNSIGNED(X_SHIFT)

#define NUMERIC "float32, float64 and the integer types"
static const binary_spec add_spec = {{QP_OPS_FOR_NUMERIC(E_ADD)}, 0, NUMERIC};
static const binary_spec sub_spec = {{QP_OPS_FOR_NUMERIC(E_SUB)}, 0, NUMERIC};
static const binary_spec mul_spec = {{QP_OPS_FOR_NUMERIC(E_MUL)}, 0, NUMERIC};
static const binary_spec div_spec = {{QP_OPS_FOR_NUMERIC(E_DIV)}, 0, NUMERIC};
static const binary_spec max_spec = {{QP_OPS_FOR_NUMERIC(E_MAX)}, 0, NUMERIC};
static const binary_spec min_spec = {{QP_OPS_FOR_NUMERIC(E_MIN)}, 0, NUMERIC};
static const binary_spec mod_spec = {{QP_OPS_FOR_NUMERIC(E_MOD)}, 0, NUMERIC};
static const binary_spec fmod_spec = {{QP_OPS_FOR_NUMERIC(E_FMOD)}, 0, NUMERIC};
static const binary_spec equal_spec = {
    {QP_OPS_FOR_NUMERIC(E_EQ)[QP_DT_BOOL] = eq_bool}, 1, NUMERIC " and bool"};
static const binary_spec less_spec = {{QP_OPS_FOR_NUMERIC(E_LT)}, 1, NUMERIC};
static const binary_spec greater_spec = {{QP_OPS_FOR_NUMERIC(E_GT)}, 1, NUMERIC};
static const binary_spec less_equal_spec = {{QP_OPS_FOR_NUMERIC(E_LE)}, 1, NUMERIC};
static const binary_spec greater_equal_spec = {{QP_OPS_FOR_NUMERIC(E_GE)}, 1, NUMERIC};
static const binary_spec and_spec = {{[QP_DT_BOOL] = and_bool}, 1, "bool"};
static const binary_spec or_spec = {{[QP_DT_BOOL] = or_bool}, 1, "bool"};
static const binary_spec xor_spec = {{[QP_DT_BOOL] = xor_bool}, 1, "bool"};
static const binary_spec shl_spec = {{QP_OPS_FOR_UNSIGNED(E_SHL)}, 0, "the unsigned integer types"};
static const binary_spec shr_spec = {{QP_OPS_FOR_UNSIGNED(E_SHR)}, 0, "the unsigned integer types"};

static binary_fn spec_fn(const binary_spec *spec, qp_dtype dt) {
    return (int)dt >= 0 && (int)dt < QP_OPS_DT_COUNT ? spec->fn[dt] : NULL;
}

static qp_status check_binary_dtypes(const qp_op_context *ctx, const binary_spec *spec, const qp_value *a,
                                     const qp_value *b) {
    if (a->dtype != b->dtype)
        return qp_error(QP_ERR_SHAPE, "%s: input dtypes differ (%s and %s)", ctx->node->op_type,
                        qp_dtype_name(a->dtype), qp_dtype_name(b->dtype));
    if (!spec_fn(spec, a->dtype))
        return qp_error(QP_ERR_UNSUPPORTED, "%s: dtype %s is not supported (supported: %s)",
                        ctx->node->op_type, qp_dtype_name(a->dtype), spec->dtypes);
    return QP_OK;
}

static qp_status binary_infer(qp_op_context *ctx, const binary_spec *spec) {
    qp_status st = qp_ops_check_arity(ctx, 2, 2, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *a = ctx->inputs[0], *b = ctx->inputs[1];
    if ((st = check_binary_dtypes(ctx, spec, a, b)) != QP_OK) return st;
    qp_shape out;
    if ((st = qp_broadcast_shape(&a->shape, &b->shape, &out)) != QP_OK) return st;
    qp_value_set(ctx->outputs[0], spec->to_bool ? QP_DT_BOOL : a->dtype, &out);
    return QP_OK;
}

typedef struct binary_job {
    binary_fn fn;
    const unsigned char *a, *b;
    unsigned char *o;
    size_t ea, eb, eo;
} binary_job;

static void binary_segment(void *user, const qp_ops_bcast *bc, int64_t out_off, const int64_t *in_off,
                           int64_t n) {
    const binary_job *j = user;
    j->fn(n, j->a + (size_t)in_off[0] * j->ea, bc->inner_stride[0], j->b + (size_t)in_off[1] * j->eb,
          bc->inner_stride[1], j->o + (size_t)out_off * j->eo);
}

/* out = fn(a, b) with a and b broadcast to out's shape (out may alias a when shapes match). */
static void binary_apply(binary_fn fn, const qp_value *a, const qp_value *b, qp_value *out, int n_threads) {
    const qp_shape *shapes[2] = {&a->shape, &b->shape};
    qp_ops_bcast bc;
    qp_ops_bcast_init(&bc, &out->shape, shapes, 2);
    binary_job j = {fn,
                    a->data,
                    b->data,
                    out->data,
                    qp_dtype_size(a->dtype),
                    qp_dtype_size(b->dtype),
                    qp_dtype_size(out->dtype)};
    qp_ops_bcast_run(&bc, n_threads, binary_segment, &j);
}

static qp_status binary_run(qp_op_context *ctx, const binary_spec *spec) {
    binary_apply(spec_fn(spec, ctx->inputs[0]->dtype), ctx->inputs[0], ctx->inputs[1], ctx->outputs[0],
                 ctx->n_threads);
    return QP_OK;
}

#define BINARY_OP(NAME, TYPE, SPEC)                                                                          \
    static qp_status NAME##_infer(qp_op_context *ctx) {                                                      \
        return binary_infer(ctx, &SPEC);                                                                     \
    }                                                                                                        \
    static qp_status NAME##_run(qp_op_context *ctx) {                                                        \
        return binary_run(ctx, &SPEC);                                                                       \
    }                                                                                                        \
    static const qp_op_def NAME##_def = {TYPE, "", NAME##_infer, NULL, NULL, NAME##_run};

BINARY_OP(add, "Add", add_spec)
BINARY_OP(sub, "Sub", sub_spec)
BINARY_OP(mul, "Mul", mul_spec)
BINARY_OP(div, "Div", div_spec)
BINARY_OP(equal, "Equal", equal_spec)
BINARY_OP(less, "Less", less_spec)
BINARY_OP(greater, "Greater", greater_spec)
BINARY_OP(less_equal, "LessOrEqual", less_equal_spec)
BINARY_OP(greater_equal, "GreaterOrEqual", greater_equal_spec)
BINARY_OP(and, "And", and_spec)
BINARY_OP(or, "Or", or_spec)
BINARY_OP(xor, "Xor", xor_spec)

/* Mod: the fmod attribute picks the sign convention; floats require fmod=1 by the spec, but
 * fmod=0 on floats is given Python semantics rather than refused. */
static const binary_spec *mod_pick(const qp_op_context *ctx) {
    return qp_node_attr_int(ctx->node, "fmod", 0) ? &fmod_spec : &mod_spec;
}
static qp_status mod_infer(qp_op_context *ctx) {
    return binary_infer(ctx, mod_pick(ctx));
}
static qp_status mod_run(qp_op_context *ctx) {
    return binary_run(ctx, mod_pick(ctx));
}
static const qp_op_def mod_def = {"Mod", "", mod_infer, NULL, NULL, mod_run};

static const binary_spec *shift_pick(const qp_op_context *ctx) {
    const char *dir = qp_node_attr_string(ctx->node, "direction", "");
    if (strcmp(dir, "LEFT") == 0) return &shl_spec;
    if (strcmp(dir, "RIGHT") == 0) return &shr_spec;
    return NULL;
}
static qp_status bitshift_infer(qp_op_context *ctx) {
    const binary_spec *spec = shift_pick(ctx);
    if (!spec)
        return qp_error(QP_ERR_INVALID_MODEL,
                        "BitShift: attribute 'direction' must be \"LEFT\" or \"RIGHT\", got \"%s\"",
                        qp_node_attr_string(ctx->node, "direction", ""));
    return binary_infer(ctx, spec);
}
static qp_status bitshift_run(qp_op_context *ctx) {
    return binary_run(ctx, shift_pick(ctx));
}
static const qp_op_def bitshift_def = {"BitShift", "", bitshift_infer, NULL, NULL, bitshift_run};

/* ---------------------------------------------------------------------------------------------
 * Pow: base and exponent may have different dtypes; the result takes the base's dtype. */
static qp_status pow_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 2, 2, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *a = ctx->inputs[0], *b = ctx->inputs[1];
    if (!qp_ops_is_numeric(a->dtype) || !qp_ops_is_numeric(b->dtype))
        return qp_error(QP_ERR_UNSUPPORTED, "Pow: dtypes %s ^ %s are not supported (supported: " NUMERIC ")",
                        qp_dtype_name(a->dtype), qp_dtype_name(b->dtype));
    qp_shape out;
    if ((st = qp_broadcast_shape(&a->shape, &b->shape, &out)) != QP_OK) return st;
    qp_value_set(ctx->outputs[0], a->dtype, &out);
    return QP_OK;
}

typedef struct pow_job {
    const qp_value *a, *b;
    qp_value *o;
} pow_job;

/* Exact integer power by squaring (wrapping like numpy); negative exponents go through double. */
static int64_t ipow(int64_t x, int64_t y) {
    if (y < 0) {
        double r = pow((double)x, (double)y);
        return (int64_t)(r > 0 ? floor(r) : ceil(r));
    }
    uint64_t result = 1, base = (uint64_t)x;
    while (y) {
        if (y & 1) result *= base;
        base *= base;
        y >>= 1;
    }
    return (int64_t)result;
}

static void pow_segment(void *user, const qp_ops_bcast *bc, int64_t out_off, const int64_t *in_off,
                        int64_t n) {
    const pow_job *j = user;
    int64_t sa = bc->inner_stride[0], sb = bc->inner_stride[1];
    qp_dtype da = j->a->dtype, db = j->b->dtype;
    if (da == QP_DT_FLOAT && db == QP_DT_FLOAT) {
        const float *a = (const float *)j->a->data + in_off[0], *b = (const float *)j->b->data + in_off[1];
        float *o = (float *)j->o->data + out_off;
        if (!sb && b[0] == 2.0f) { /* the common x^2 of decomposed norms */
            for (int64_t i = 0; i < n; i++)
                o[i] = a[i * sa] * a[i * sa];
            return;
        }
        for (int64_t i = 0; i < n; i++)
            o[i] = powf(a[i * sa], b[i * sb]);
        return;
    }
    if (qp_ops_is_int(da) && qp_ops_is_int(db)) {
        for (int64_t i = 0; i < n; i++) {
            int64_t x = qp_value_get_int(j->a, in_off[0] + i * sa),
                    y = qp_value_get_int(j->b, in_off[1] + i * sb);
            int64_t r = ipow(x, y);
            switch (da) {
            case QP_DT_INT8: ((int8_t *)j->o->data)[out_off + i] = (int8_t)r; break;
            case QP_DT_UINT8: ((uint8_t *)j->o->data)[out_off + i] = (uint8_t)r; break;
            case QP_DT_INT16: ((int16_t *)j->o->data)[out_off + i] = (int16_t)r; break;
            case QP_DT_UINT16: ((uint16_t *)j->o->data)[out_off + i] = (uint16_t)r; break;
            case QP_DT_INT32: ((int32_t *)j->o->data)[out_off + i] = (int32_t)r; break;
            case QP_DT_UINT32: ((uint32_t *)j->o->data)[out_off + i] = (uint32_t)r; break;
            case QP_DT_UINT64: ((uint64_t *)j->o->data)[out_off + i] = (uint64_t)r; break;
            default: ((int64_t *)j->o->data)[out_off + i] = r; break;
            }
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        double x = qp_ops_load_f64(j->a->data, da, in_off[0] + i * sa);
        double y = qp_ops_load_f64(j->b->data, db, in_off[1] + i * sb);
        qp_ops_store_f64(j->o->data, da, out_off + i, pow(x, y));
    }
}

static qp_status pow_run(qp_op_context *ctx) {
    const qp_value *a = ctx->inputs[0], *b = ctx->inputs[1];
    const qp_shape *shapes[2] = {&a->shape, &b->shape};
    qp_ops_bcast bc;
    qp_ops_bcast_init(&bc, &ctx->outputs[0]->shape, shapes, 2);
    pow_job j = {a, b, ctx->outputs[0]};
    qp_ops_bcast_run(&bc, ctx->n_threads, pow_segment, &j);
    return QP_OK;
}
static const qp_op_def pow_def = {"Pow", "", pow_infer, NULL, NULL, pow_run};

/* ---------------------------------------------------------------------------------------------
 * Variadic Sum / Max / Min / Mean: every input broadcasts into the output, folded pairwise. */
static qp_status variadic_infer(qp_op_context *ctx, const binary_spec *spec, int float_only) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1 << 20, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *first = ctx->inputs[0];
    qp_shape out = first->shape;
    for (int i = 0; i < ctx->n_inputs; i++) {
        const qp_value *v = ctx->inputs[i];
        if (!v) return qp_error(QP_ERR_INVALID_MODEL, "%s: input %d is missing", ctx->node->op_type, i);
        if ((st = check_binary_dtypes(ctx, spec, first, v)) != QP_OK) return st;
        if ((st = qp_broadcast_shape(&out, &v->shape, &out)) != QP_OK) return st;
    }
    if (float_only && !qp_ops_is_float(first->dtype))
        return qp_error(QP_ERR_UNSUPPORTED, "%s: dtype %s is not supported (supported: float32, float64)",
                        ctx->node->op_type, qp_dtype_name(first->dtype));
    qp_value_set(ctx->outputs[0], first->dtype, &out);
    return QP_OK;
}

static void expand_into(const qp_value *in, qp_value *out, int n_threads) {
    int64_t strides[QP_MAX_RANK] = {0}, in_strides[QP_MAX_RANK];
    qp_ops_shape_strides(&in->shape, in_strides);
    int r = out->shape.rank, off = r - in->shape.rank;
    for (int d = 0; d < in->shape.rank; d++)
        strides[d + off] = in->shape.dims[d] == 1 ? 0 : in_strides[d];
    qp_ops_strided_copy(out->data, in->data, qp_dtype_size(in->dtype), r, out->shape.dims, strides, 0,
                        n_threads);
}

static qp_status variadic_run(qp_op_context *ctx, const binary_spec *spec) {
    qp_value *out = ctx->outputs[0];
    binary_fn fn = spec_fn(spec, out->dtype);
    if (ctx->n_inputs == 1) {
        expand_into(ctx->inputs[0], out, ctx->n_threads);
        return QP_OK;
    }
    binary_apply(fn, ctx->inputs[0], ctx->inputs[1], out, ctx->n_threads);
    for (int i = 2; i < ctx->n_inputs; i++)
        binary_apply(fn, out, ctx->inputs[i], out, ctx->n_threads);
    return QP_OK;
}

static qp_status sum_infer(qp_op_context *ctx) {
    return variadic_infer(ctx, &add_spec, 0);
}
static qp_status sum_run(qp_op_context *ctx) {
    return variadic_run(ctx, &add_spec);
}
static qp_status max_infer(qp_op_context *ctx) {
    return variadic_infer(ctx, &max_spec, 0);
}
static qp_status max_run(qp_op_context *ctx) {
    return variadic_run(ctx, &max_spec);
}
static qp_status min_infer(qp_op_context *ctx) {
    return variadic_infer(ctx, &min_spec, 0);
}
static qp_status min_run(qp_op_context *ctx) {
    return variadic_run(ctx, &min_spec);
}
static qp_status mean_infer(qp_op_context *ctx) {
    return variadic_infer(ctx, &add_spec, 1);
}
static qp_status mean_run(qp_op_context *ctx) {
    variadic_run(ctx, &add_spec);
    qp_value *out = ctx->outputs[0];
    int64_t n = qp_shape_numel(&out->shape);
    if (out->dtype == QP_DT_FLOAT) {
        float *o = out->data, k = (float)ctx->n_inputs;
        for (int64_t i = 0; i < n; i++)
            o[i] /= k;
    } else {
        double *o = out->data, k = (double)ctx->n_inputs;
        for (int64_t i = 0; i < n; i++)
            o[i] /= k;
    }
    return QP_OK;
}
static const qp_op_def sum_def = {"Sum", "", sum_infer, NULL, NULL, sum_run};
static const qp_op_def max_def = {"Max", "", max_infer, NULL, NULL, max_run};
static const qp_op_def min_def = {"Min", "", min_infer, NULL, NULL, min_run};
static const qp_op_def mean_def = {"Mean", "", mean_infer, NULL, NULL, mean_run};

/* ---------------------------------------------------------------------------------------------
 * Where(condition, X, Y): any dtype, three-way broadcast. */
static qp_status where_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 3, 3, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *c = ctx->inputs[0], *x = ctx->inputs[1], *y = ctx->inputs[2];
    if (c->dtype != QP_DT_BOOL)
        return qp_error(QP_ERR_SHAPE, "Where: condition must be bool, got %s", qp_dtype_name(c->dtype));
    if (x->dtype != y->dtype)
        return qp_error(QP_ERR_SHAPE, "Where: X and Y dtypes differ (%s and %s)", qp_dtype_name(x->dtype),
                        qp_dtype_name(y->dtype));
    if (qp_dtype_size(x->dtype) == 0)
        return qp_error(QP_ERR_UNSUPPORTED, "Where: dtype %s is not supported", qp_dtype_name(x->dtype));
    const qp_shape *shapes[3] = {&c->shape, &x->shape, &y->shape};
    qp_shape out;
    if ((st = qp_ops_broadcast_shapes(shapes, 3, &out)) != QP_OK) return st;
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}

typedef struct where_job {
    const uint8_t *c;
    const unsigned char *x, *y;
    unsigned char *o;
    size_t es;
} where_job;

#define WHERE_LOOP(T)                                                                                        \
    do {                                                                                                     \
        const T *x = (const T *)j->x + in_off[1], *y = (const T *)j->y + in_off[2];                          \
        T *o = (T *)j->o + out_off;                                                                          \
        for (int64_t i = 0; i < n; i++)                                                                      \
            o[i] = c[i * sc] ? x[i * sx] : y[i * sy];                                                        \
    } while (0)

static void where_segment(void *user, const qp_ops_bcast *bc, int64_t out_off, const int64_t *in_off,
                          int64_t n) {
    const where_job *j = user;
    const uint8_t *c = j->c + in_off[0];
    int64_t sc = bc->inner_stride[0], sx = bc->inner_stride[1], sy = bc->inner_stride[2];
    switch (j->es) {
    case 1: WHERE_LOOP(uint8_t); break;
    case 2: WHERE_LOOP(uint16_t); break;
    case 4: WHERE_LOOP(uint32_t); break;
    case 8: WHERE_LOOP(uint64_t); break;
    default:
        for (int64_t i = 0; i < n; i++) {
            const unsigned char *src = c[i * sc] ? j->x + (in_off[1] + i * sx) * (int64_t)j->es
                                                 : j->y + (in_off[2] + i * sy) * (int64_t)j->es;
            memcpy(j->o + (out_off + i) * (int64_t)j->es, src, j->es);
        }
    }
}

static qp_status where_run(qp_op_context *ctx) {
    const qp_value *c = ctx->inputs[0], *x = ctx->inputs[1], *y = ctx->inputs[2];
    const qp_shape *shapes[3] = {&c->shape, &x->shape, &y->shape};
    qp_ops_bcast bc;
    qp_ops_bcast_init(&bc, &ctx->outputs[0]->shape, shapes, 3);
    where_job j = {c->data, x->data, y->data, ctx->outputs[0]->data, qp_dtype_size(x->dtype)};
    qp_ops_bcast_run(&bc, ctx->n_threads, where_segment, &j);
    return QP_OK;
}
static const qp_op_def where_def = {"Where", "", where_infer, NULL, NULL, where_run};

/* ---------------------------------------------------------------------------------------------
 * Unary ops: a per-dtype map function; the output has the input's shape. */
typedef struct unary_spec {
    qp_ops_map_fn fn[QP_OPS_DT_COUNT];
    qp_dtype out; /* QP_DT_UNDEFINED: same as input */
    const char *dtypes;
} unary_spec;

#define DEFINE_UNARY(NAME, S, T, TO, EXPR)                                                                   \
    static void NAME##_##S(const void *params, int64_t n, const void *pin, void *pout) {                     \
        (void)params;                                                                                        \
        const T *in = pin;                                                                                   \
        TO *o = pout;                                                                                        \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            const T x = in[i];                                                                               \
            o[i] = (TO)(EXPR);                                                                               \
        }                                                                                                    \
    }
#define FLOAT_UNARY(NAME, EF, ED)                                                                            \
    DEFINE_UNARY(NAME, f32, float, float, EF)                                                                \
    DEFINE_UNARY(NAME, f64, double, double, ED)                                                              \
    static const unary_spec NAME##_spec = {                                                                  \
        {[QP_DT_FLOAT] = NAME##_f32, [QP_DT_DOUBLE] = NAME##_f64}, QP_DT_UNDEFINED, "float32, float64"};

FLOAT_UNARY(exp, expf(x), exp(x))
FLOAT_UNARY(log, logf(x), log(x))
FLOAT_UNARY(sqrt, sqrtf(x), sqrt(x))
FLOAT_UNARY(reciprocal, 1.0f / x, 1.0 / x)
FLOAT_UNARY(floor, floorf(x), floor(x))
FLOAT_UNARY(ceil, ceilf(x), ceil(x))
FLOAT_UNARY(round, nearbyintf(x), nearbyint(x)) /* half to even in the default rounding mode */
FLOAT_UNARY(sin, sinf(x), sin(x))
FLOAT_UNARY(cos, cosf(x), cos(x))
FLOAT_UNARY(tan, tanf(x), tan(x))
FLOAT_UNARY(asin, asinf(x), asin(x))
FLOAT_UNARY(acos, acosf(x), acos(x))
FLOAT_UNARY(atan, atanf(x), atan(x))
FLOAT_UNARY(sinh, sinhf(x), sinh(x))
FLOAT_UNARY(cosh, coshf(x), cosh(x))
FLOAT_UNARY(asinh, asinhf(x), asinh(x))
FLOAT_UNARY(acosh, acoshf(x), acosh(x))
FLOAT_UNARY(atanh, atanhf(x), atanh(x))
FLOAT_UNARY(erf, erff(x), erf(x))

#define X_ABS_F(S, T, DT, W) DEFINE_UNARY(abs, S, T, T, x < 0 ? -x : x)
#define X_ABS_S(S, T, DT, W) DEFINE_UNARY(abs, S, T, T, x < 0 ? (T)((W)0 - (W)x) : x)
#define X_ABS_U(S, T, DT, W) DEFINE_UNARY(abs, S, T, T, x)
#define X_NEG_F(S, T, DT, W) DEFINE_UNARY(neg, S, T, T, -x)
#define X_NEG_S(S, T, DT, W) DEFINE_UNARY(neg, S, T, T, (T)((W)0 - (W)x))
#define X_SIGN(S, T, DT, W) DEFINE_UNARY(sign, S, T, T, x > 0 ? (T)1 : x < 0 ? (T)-1 : x)
#define X_SIGN_U(S, T, DT, W) DEFINE_UNARY(sign, S, T, T, x > 0 ? 1 : 0)
#define E_ABS(S, T, DT, W) [DT] = abs_##S,
#define E_NEG(S, T, DT, W) [DT] = neg_##S,
#define E_SIGN(S, T, DT, W) [DT] = sign_##S,
QP_OPS_FOR_FLOAT(X_ABS_F)
QP_OPS_FOR_SIGNED(X_ABS_S)
QP_OPS_FOR_UNSIGNED(X_ABS_U)
QP_OPS_FOR_FLOAT(X_NEG_F)
QP_OPS_FOR_SIGNED(X_NEG_S)
QP_OPS_FOR_FLOAT(X_SIGN)
QP_OPS_FOR_SIGNED(X_SIGN)
QP_OPS_FOR_UNSIGNED(X_SIGN_U)
static const unary_spec abs_spec = {{QP_OPS_FOR_NUMERIC(E_ABS)}, QP_DT_UNDEFINED, NUMERIC};
static const unary_spec neg_spec = {{QP_OPS_FOR_FLOAT(E_NEG) QP_OPS_FOR_SIGNED(E_NEG)},
                                    QP_DT_UNDEFINED,
                                    "float32, float64 and the signed integer types"};
static const unary_spec sign_spec = {{QP_OPS_FOR_NUMERIC(E_SIGN)}, QP_DT_UNDEFINED, NUMERIC};

DEFINE_UNARY(not, bool, uint8_t, uint8_t, x == 0)
static const unary_spec not_spec = {{[QP_DT_BOOL] = not_bool}, QP_DT_UNDEFINED, "bool"};
DEFINE_UNARY(isnan, f32, float, uint8_t, x != x)
DEFINE_UNARY(isnan, f64, double, uint8_t, x != x)
static const unary_spec isnan_spec = {
    {[QP_DT_FLOAT] = isnan_f32, [QP_DT_DOUBLE] = isnan_f64}, QP_DT_BOOL, "float32, float64"};

typedef struct isinf_params {
    int pos, neg;
} isinf_params;
static void isinf_f32(const void *params, int64_t n, const void *pin, void *pout) {
    const isinf_params *p = params;
    const float *in = pin;
    uint8_t *o = pout;
    for (int64_t i = 0; i < n; i++)
        o[i] = (p->pos && in[i] == INFINITY) || (p->neg && in[i] == -INFINITY);
}
static void isinf_f64(const void *params, int64_t n, const void *pin, void *pout) {
    const isinf_params *p = params;
    const double *in = pin;
    uint8_t *o = pout;
    for (int64_t i = 0; i < n; i++)
        o[i] = (p->pos && in[i] == INFINITY) || (p->neg && in[i] == -INFINITY);
}
static const unary_spec isinf_spec = {
    {[QP_DT_FLOAT] = isinf_f32, [QP_DT_DOUBLE] = isinf_f64}, QP_DT_BOOL, "float32, float64"};

static qp_status unary_infer(qp_op_context *ctx, const unary_spec *spec) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if ((int)x->dtype < 0 || (int)x->dtype >= QP_OPS_DT_COUNT || !spec->fn[x->dtype])
        return qp_error(QP_ERR_UNSUPPORTED, "%s: dtype %s is not supported (supported: %s)",
                        ctx->node->op_type, qp_dtype_name(x->dtype), spec->dtypes);
    qp_value_set(ctx->outputs[0], spec->out != QP_DT_UNDEFINED ? spec->out : x->dtype, &x->shape);
    return QP_OK;
}

static qp_status unary_run(qp_op_context *ctx, const unary_spec *spec, const void *params) {
    const qp_value *x = ctx->inputs[0];
    qp_value *y = ctx->outputs[0];
    qp_ops_map(ctx->n_threads, qp_shape_numel(&x->shape), x->data, qp_dtype_size(x->dtype), y->data,
               qp_dtype_size(y->dtype), spec->fn[x->dtype], params);
    return QP_OK;
}

#define UNARY_OP(NAME, TYPE)                                                                                 \
    static qp_status NAME##_infer(qp_op_context *ctx) {                                                      \
        return unary_infer(ctx, &NAME##_spec);                                                               \
    }                                                                                                        \
    static qp_status NAME##_run(qp_op_context *ctx) {                                                        \
        return unary_run(ctx, &NAME##_spec, NULL);                                                           \
    }                                                                                                        \
    static const qp_op_def NAME##_def = {TYPE, "", NAME##_infer, NULL, NULL, NAME##_run};

UNARY_OP(abs, "Abs")
UNARY_OP(neg, "Neg")
UNARY_OP(sign, "Sign")
UNARY_OP(exp, "Exp")
UNARY_OP(log, "Log")
UNARY_OP(sqrt, "Sqrt")
UNARY_OP(reciprocal, "Reciprocal")
UNARY_OP(floor, "Floor")
UNARY_OP(ceil, "Ceil")
UNARY_OP(round, "Round")
UNARY_OP(sin, "Sin")
UNARY_OP(cos, "Cos")
UNARY_OP(tan, "Tan")
UNARY_OP(asin, "Asin")
UNARY_OP(acos, "Acos")
UNARY_OP(atan, "Atan")
UNARY_OP(sinh, "Sinh")
UNARY_OP(cosh, "Cosh")
UNARY_OP(asinh, "Asinh")
UNARY_OP(acosh, "Acosh")
UNARY_OP(atanh, "Atanh")
UNARY_OP(erf, "Erf")
UNARY_OP(not, "Not")
UNARY_OP(isnan, "IsNaN")

static qp_status isinf_infer(qp_op_context *ctx) {
    return unary_infer(ctx, &isinf_spec);
}
static qp_status isinf_run(qp_op_context *ctx) {
    isinf_params p = {(int)qp_node_attr_int(ctx->node, "detect_positive", 1) != 0,
                      (int)qp_node_attr_int(ctx->node, "detect_negative", 1) != 0};
    return unary_run(ctx, &isinf_spec, &p);
}
static const qp_op_def isinf_def = {"IsInf", "", isinf_infer, NULL, NULL, isinf_run};

const qp_op_def *const qp_ops_elementwise[] = {
    &add_def,        &sub_def,           &mul_def,   &div_def,  &pow_def,   &mod_def,   &bitshift_def,
    &sum_def,        &max_def,           &min_def,   &mean_def, &equal_def, &less_def,  &greater_def,
    &less_equal_def, &greater_equal_def, &and_def,   &or_def,   &xor_def,   &not_def,   &where_def,
    &abs_def,        &neg_def,           &sign_def,  &exp_def,  &log_def,   &sqrt_def,  &reciprocal_def,
    &floor_def,      &ceil_def,          &round_def, &sin_def,  &cos_def,   &tan_def,   &asin_def,
    &acos_def,       &atan_def,          &sinh_def,  &cosh_def, &asinh_def, &acosh_def, &atanh_def,
    &erf_def,        &isnan_def,         &isinf_def, NULL,
};
