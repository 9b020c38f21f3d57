/* quant.c — ONNX QuantizeLinear / DequantizeLinear (per-tensor and per-axis, 8/16-bit) and
 * DynamicQuantizeLinear in float. */
#include <math.h>
#include <string.h>

#include "engine/op.h"
#include "ops/ops_common_util.h"

static int quant_dtype(qp_dtype dt) {
    return dt == QP_DT_UINT8 || dt == QP_DT_INT8 || dt == QP_DT_UINT16 || dt == QP_DT_INT16;
}

static void quant_range(qp_dtype dt, float *lo, float *hi) {
    switch (dt) {
    case QP_DT_INT8: *lo = -128, *hi = 127; break;
    case QP_DT_UINT16: *lo = 0, *hi = 65535; break;
    case QP_DT_INT16: *lo = -32768, *hi = 32767; break;
    case QP_DT_INT32: *lo = -2147483648.0f, *hi = 2147483520.0f; break; /* largest float below 2^31 */
    default: *lo = 0, *hi = 255; break;
    }
}

/* Checks scale/zero-point shapes: a scalar (or one value) is per-tensor, a 1-D tensor of
 * x.shape[axis] values is per-axis. Sets *axis_out to -1 for per-tensor. */
static qp_status check_params(const qp_op_context *ctx, const qp_value *x, const qp_value *scale,
                              const qp_value *zp, int *axis_out) {
    const char *op = ctx->node->op_type;
    if (qp_node_attr_int(ctx->node, "block_size", 0) != 0)
        return qp_error(QP_ERR_UNSUPPORTED, "%s: blocked quantization (block_size) is not supported", op);
    if (scale->dtype != QP_DT_FLOAT)
        return qp_error(QP_ERR_UNSUPPORTED, "%s: scale dtype %s is not supported (supported: float32)", op,
                        qp_dtype_name(scale->dtype));
    if (zp) {
        char a[128], b[128];
        if (zp->shape.rank != scale->shape.rank ||
            memcmp(zp->shape.dims, scale->shape.dims,
                   sizeof(int64_t) * (size_t)(zp->shape.rank > 0 ? zp->shape.rank : 0)))
            return qp_error(QP_ERR_SHAPE, "%s: zero point shape %s differs from scale shape %s", op,
                            qp_shape_str(&zp->shape, a, sizeof a), qp_shape_str(&scale->shape, b, sizeof b));
    }
    int64_t n = qp_shape_numel(&scale->shape);
    *axis_out = -1;
    if (scale->shape.rank == 0 || (scale->shape.rank == 1 && n == 1 && ctx->opset < 13)) return QP_OK;
    if (scale->shape.rank != 1)
        return qp_error(QP_ERR_SHAPE, "%s: scale must be a scalar or 1-D, got rank %d", op,
                        scale->shape.rank);
    int axis = 0;
    qp_status st = qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", 1), x->shape.rank, &axis, ctx->node);
    if (st != QP_OK) {
        if (n == 1) return QP_OK; /* a one-value 1-D scale on a low-rank input is per-tensor */
        return st;
    }
    if (n != x->shape.dims[axis]) {
        if (n == 1) return QP_OK;
        return qp_error(QP_ERR_SHAPE, "%s: %lld scales for axis %d of size %lld", op, (long long)n, axis,
                        (long long)x->shape.dims[axis]);
    }
    *axis_out = axis;
    return QP_OK;
}

static void axis_geometry(const qp_shape *s, int axis, int64_t *outer, int64_t *channels, int64_t *inner) {
    int64_t numel = qp_shape_numel(s);
    if (axis < 0) {
        *outer = 1, *channels = 1, *inner = numel;
        return;
    }
    *outer = 1, *inner = 1, *channels = s->dims[axis];
    for (int d = 0; d < axis; d++)
        *outer *= s->dims[d];
    for (int d = axis + 1; d < s->rank; d++)
        *inner *= s->dims[d];
}

static qp_status quantize_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 2, 3, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0], *scale = ctx->inputs[1], *zp = qp_ops_in(ctx, 2);
    if (x->dtype != QP_DT_FLOAT)
        return qp_error(QP_ERR_UNSUPPORTED,
                        "QuantizeLinear: input dtype %s is not supported (supported: float32)",
                        qp_dtype_name(x->dtype));
    qp_dtype out = zp ? zp->dtype : (qp_dtype)qp_node_attr_int(ctx->node, "output_dtype", QP_DT_UINT8);
    if (!quant_dtype(out))
        return qp_error(QP_ERR_UNSUPPORTED,
                        "QuantizeLinear: output dtype %s is not supported (supported: uint8, "
                        "int8, uint16, int16)",
                        qp_dtype_name(out));
    int axis = 0;
    if ((st = check_params(ctx, x, scale, zp, &axis)) != QP_OK) return st;
    qp_value_set(ctx->outputs[0], out, &x->shape);
    return QP_OK;
}

static void store_q(void *y, qp_dtype dt, int64_t i, float v) {
    switch (dt) {
    case QP_DT_INT8: ((int8_t *)y)[i] = (int8_t)v; break;
    case QP_DT_UINT16: ((uint16_t *)y)[i] = (uint16_t)v; break;
    case QP_DT_INT16: ((int16_t *)y)[i] = (int16_t)v; break;
    default: ((uint8_t *)y)[i] = (uint8_t)v; break;
    }
}

/* Round half to even of a float already clamped to |v| < 2^22: adding and removing 1.5 * 2^23
 * leaves the integer the FPU's default rounding picks (what nearbyintf returns), without a libm
 * call, so the loops vectorise. */
static inline float round_even_small(float v) {
    const float magic = 12582912.0f;
    return (v + magic) - magic;
}

/* round(x / scale) half to even, plus the zero point, saturated; NaN maps to the zero point.
 * The quotient is clamped to just beyond the output range first, which keeps the rounding trick
 * valid and changes no saturated result. */
static void quantize_block(const float *x, int64_t n, float scale, float zp, qp_dtype dt, void *y,
                           int64_t y_off) {
    float lo, hi;
    quant_range(dt, &lo, &hi);
    float qlo = lo - zp - 1.0f, qhi = hi - zp + 1.0f;
    if (dt == QP_DT_UINT8) {
        uint8_t *o = (uint8_t *)y + y_off;
        for (int64_t i = 0; i < n; i++) {
            float q = x[i] / scale;
            float v = q != q ? zp : round_even_small(q < qlo ? qlo : q > qhi ? qhi : q) + zp;
            o[i] = (uint8_t)(v < lo ? lo : v > hi ? hi : v);
        }
        return;
    }
    if (dt == QP_DT_INT8) {
        int8_t *o = (int8_t *)y + y_off;
        for (int64_t i = 0; i < n; i++) {
            float q = x[i] / scale;
            float v = q != q ? zp : round_even_small(q < qlo ? qlo : q > qhi ? qhi : q) + zp;
            o[i] = (int8_t)(v < lo ? lo : v > hi ? hi : v);
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float q = x[i] / scale;
        float v = q != q ? zp : round_even_small(q < qlo ? qlo : q > qhi ? qhi : q) + zp;
        store_q(y, dt, y_off + i, v < lo ? lo : v > hi ? hi : v);
    }
}

static qp_status quantize_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0], *scale = ctx->inputs[1], *zp = qp_ops_in(ctx, 2);
    qp_value *y = ctx->outputs[0];
    int axis = 0;
    qp_status st = check_params(ctx, x, scale, zp, &axis);
    if (st != QP_OK) return st;
    int64_t outer, channels, inner;
    axis_geometry(&x->shape, axis, &outer, &channels, &inner);
    const float *xs = x->data, *ss = scale->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < channels; c++) {
            float z = zp ? (float)qp_value_get_int(zp, axis < 0 ? 0 : c) : 0.0f;
            int64_t off = (o * channels + c) * inner;
            quantize_block(xs + off, inner, ss[axis < 0 ? 0 : c], z, y->dtype, y->data, off);
        }
    return QP_OK;
}
static const qp_op_def quantize_def = {"QuantizeLinear", "", quantize_infer, NULL, NULL, quantize_run};

static qp_status dequantize_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 2, 3, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0], *scale = ctx->inputs[1], *zp = qp_ops_in(ctx, 2);
    if (!quant_dtype(x->dtype) && x->dtype != QP_DT_INT32)
        return qp_error(QP_ERR_UNSUPPORTED,
                        "DequantizeLinear: input dtype %s is not supported (supported: uint8, "
                        "int8, uint16, int16, int32)",
                        qp_dtype_name(x->dtype));
    if (zp && zp->dtype != x->dtype)
        return qp_error(QP_ERR_SHAPE, "DequantizeLinear: zero point dtype %s differs from input dtype %s",
                        qp_dtype_name(zp->dtype), qp_dtype_name(x->dtype));
    int axis = 0;
    if ((st = check_params(ctx, x, scale, zp, &axis)) != QP_OK) return st;
    qp_value_set(ctx->outputs[0], QP_DT_FLOAT, &x->shape);
    return QP_OK;
}

/* (x - zp) in int32, then one float multiply: ONNX Runtime's order of operations. */
static qp_status dequantize_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0], *scale = ctx->inputs[1], *zp = qp_ops_in(ctx, 2);
    int axis = 0;
    qp_status st = check_params(ctx, x, scale, zp, &axis);
    if (st != QP_OK) return st;
    int64_t outer, channels, inner;
    axis_geometry(&x->shape, axis, &outer, &channels, &inner);
    const float *ss = scale->data;
    float *y = ctx->outputs[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < channels; c++) {
            int64_t z = zp ? qp_value_get_int(zp, axis < 0 ? 0 : c) : 0, off = (o * channels + c) * inner;
            float s = ss[axis < 0 ? 0 : c];
            switch (x->dtype) {
            case QP_DT_UINT8: {
                const uint8_t *q = (const uint8_t *)x->data + off;
                for (int64_t i = 0; i < inner; i++)
                    y[off + i] = (float)((int32_t)q[i] - (int32_t)z) * s;
                break;
            }
            case QP_DT_INT8: {
                const int8_t *q = (const int8_t *)x->data + off;
                for (int64_t i = 0; i < inner; i++)
                    y[off + i] = (float)((int32_t)q[i] - (int32_t)z) * s;
                break;
            }
            default:
                for (int64_t i = 0; i < inner; i++)
                    y[off + i] = (float)(qp_value_get_int(x, off + i) - z) * s;
                break;
            }
        }
    return QP_OK;
}
static const qp_op_def dequantize_def = {"DequantizeLinear", "", dequantize_infer, NULL, NULL,
                                         dequantize_run};

/* DynamicQuantizeLinear: uint8 with scale and zero point from the data's range (widened to 0). */
static qp_status dynamic_quantize_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1, 3, 3);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if (x->dtype != QP_DT_FLOAT)
        return qp_error(QP_ERR_UNSUPPORTED,
                        "DynamicQuantizeLinear: input dtype %s is not supported (supported: "
                        "float32)",
                        qp_dtype_name(x->dtype));
    qp_shape scalar = {.rank = 0};
    qp_value_set(ctx->outputs[0], QP_DT_UINT8, &x->shape);
    qp_value_set(ctx->outputs[1], QP_DT_FLOAT, &scalar);
    qp_value_set(ctx->outputs[2], QP_DT_UINT8, &scalar);
    return QP_OK;
}

static qp_status dynamic_quantize_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0];
    const float *xs = x->data;
    int64_t n = qp_shape_numel(&x->shape);
    float mn = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        mn = xs[i] < mn ? xs[i] : mn;
        mx = xs[i] > mx ? xs[i] : mx;
    }
    float scale = (mx - mn) / 255.0f;
    float zp = scale > 0 ? nearbyintf(0 - mn / scale) : 0;
    zp = zp < 0 ? 0 : zp > 255 ? 255 : zp;
    *(float *)ctx->outputs[1]->data = scale;
    *(uint8_t *)ctx->outputs[2]->data = (uint8_t)zp;
    if (scale > 0)
        quantize_block(xs, n, scale, zp, QP_DT_UINT8, ctx->outputs[0]->data, 0);
    else if (n > 0)
        memset(ctx->outputs[0]->data, (int)zp, (size_t)n);
    return QP_OK;
}
static const qp_op_def dynamic_quantize_def = {
    "DynamicQuantizeLinear", "", dynamic_quantize_infer, NULL, NULL, dynamic_quantize_run};

const qp_op_def *const qp_ops_quant[] = {&quantize_def, &dequantize_def, &dynamic_quantize_def, NULL};
