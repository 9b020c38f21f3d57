/* ops_common_index.c — index-driven data ops: GatherND, ScatterND, ScatterElements/Scatter, OneHot, Trilu,
 * EyeLike. */
#include <string.h>

#include "engine/op.h"
#include "ops/ops_common_index.h"
#include "ops/ops_common_util.h"

static size_t value_bytes(const qp_value *v) {
    int64_t n = qp_shape_numel(&v->shape);
    return n > 0 ? (size_t)n * qp_dtype_size(v->dtype) : 0;
}

static int64_t prod(const int64_t *dims, int from, int to) {
    int64_t p = 1;
    for (int d = from; d < to; d++)
        p *= dims[d];
    return p;
}

static qp_status check_int64_indices(const qp_op_context *ctx, const qp_value *idx, int allow_int32) {
    if (idx->dtype != QP_DT_INT64 && !(allow_int32 && idx->dtype == QP_DT_INT32))
        return qp_error(QP_ERR_SHAPE, "%s: indices must be int64%s, got %s", ctx->node->op_type,
                        allow_int32 ? " or int32" : "", qp_dtype_name(idx->dtype));
    return QP_OK;
}

/* Resolves a possibly negative index against dim; -1 (and an error) when out of range. */
static qp_status resolve(const qp_op_context *ctx, int64_t i, int64_t dim, int64_t *out) {
    if (i < -dim || i >= dim)
        return qp_error(QP_ERR_INVALID_ARG, "%s: index %lld out of range for a dim of %lld",
                        ctx->node->op_type, (long long)i, (long long)dim);
    *out = i < 0 ? i + dim : i;
    return QP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Scatter reductions (opset 16 add/mul, opset 18 max/min), per element in the data's dtype. */
enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

static qp_status scatter_reduction(const qp_op_context *ctx, int *red) {
    const char *r = qp_node_attr_string(ctx->node, "reduction", "none");
    static const char *const names[] = {"none", "add", "mul", "max", "min"};
    for (int i = 0; i < 5; i++)
        if (strcmp(r, names[i]) == 0) {
            *red = i;
            return QP_OK;
        }
    return qp_error(QP_ERR_UNSUPPORTED,
                    "%s: reduction \"%s\" is not supported (supported: none, add, mul, max, min)",
                    ctx->node->op_type, r);
}

static void apply_reduction(qp_dtype dt, size_t es, int red, unsigned char *dst, const unsigned char *src) {
    if (red == RED_NONE) {
        memcpy(dst, src, es);
        return;
    }
    switch (dt) {
#define RED_CASE(S, T, DT, W)                                                                                \
    case DT: {                                                                                               \
        T a, b;                                                                                              \
        memcpy(&a, dst, sizeof a);                                                                           \
        memcpy(&b, src, sizeof b);                                                                           \
        a = red == RED_ADD   ? (T)((W)a + (W)b)                                                              \
            : red == RED_MUL ? (T)((W)a * (W)b)                                                              \
            : red == RED_MAX ? (b > a ? b : a)                                                               \
                             : (b < a ? b : a);                                                              \
        memcpy(dst, &a, sizeof a);                                                                           \
        break;                                                                                               \
    }
        QP_OPS_FOR_NUMERIC(RED_CASE)
#undef RED_CASE
    default: memcpy(dst, src, es); break;
    }
}

static qp_status check_reduction_dtype(const qp_op_context *ctx, qp_dtype dt, int red) {
    if (red != RED_NONE && !qp_ops_is_numeric(dt))
        return qp_error(QP_ERR_UNSUPPORTED, "%s: reductions need a numeric dtype, got %s", ctx->node->op_type,
                        qp_dtype_name(dt));
    if (qp_dtype_size(dt) == 0)
        return qp_error(QP_ERR_UNSUPPORTED, "%s: dtype %s is not supported", ctx->node->op_type,
                        qp_dtype_name(dt));
    return QP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * GatherND (batch_dims since opset 12). */
static qp_status gather_nd_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 2, 2, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0], *idx = ctx->inputs[1];
    if ((st = check_int64_indices(ctx, idx, 0)) != QP_OK) return st;
    if (qp_dtype_size(x->dtype) == 0)
        return qp_error(QP_ERR_UNSUPPORTED, "GatherND: dtype %s is not supported", qp_dtype_name(x->dtype));
    int r = x->shape.rank, q = idx->shape.rank;
    int64_t b = qp_node_attr_int(ctx->node, "batch_dims", 0);
    if (r < 1 || q < 1 || b < 0 || b >= q || b >= r)
        return qp_error(QP_ERR_SHAPE, "GatherND: data rank %d, indices rank %d, batch_dims %lld do not fit",
                        r, q, (long long)b);
    int64_t m = idx->shape.dims[q - 1];
    if (m < 1 || m > r - b)
        return qp_error(QP_ERR_SHAPE, "GatherND: index tuples of %lld for data rank %d with batch_dims %lld",
                        (long long)m, r, (long long)b);
    for (int d = 0; d < b; d++)
        if (idx->shape.dims[d] != x->shape.dims[d])
            return qp_error(QP_ERR_SHAPE, "GatherND: batch dim %d differs between data and indices", d);
    int out_rank = q - 1 + r - (int)(b + m);
    if (out_rank > QP_MAX_RANK)
        return qp_error(QP_ERR_UNSUPPORTED, "GatherND: output rank %d too large", out_rank);
    qp_shape out = {.rank = out_rank};
    int k = 0;
    for (int d = 0; d < q - 1; d++)
        out.dims[k++] = idx->shape.dims[d];
    for (int d = (int)(b + m); d < r; d++)
        out.dims[k++] = x->shape.dims[d];
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}

static qp_status gather_nd_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0], *idx = ctx->inputs[1];
    int r = x->shape.rank, q = idx->shape.rank, b = (int)qp_node_attr_int(ctx->node, "batch_dims", 0);
    int m = (int)idx->shape.dims[q - 1];
    int64_t strides[QP_MAX_RANK];
    qp_ops_shape_strides(&x->shape, strides);
    int64_t batches = prod(x->shape.dims, 0, b), per_batch = prod(idx->shape.dims, b, q - 1);
    int64_t batch_stride = prod(x->shape.dims, b, r), slice = prod(x->shape.dims, b + m, r);
    size_t es = qp_dtype_size(x->dtype), slice_bytes = (size_t)slice * es;
    const int64_t *ix = idx->data;
    unsigned char *out = ctx->outputs[0]->data;
    for (int64_t bi = 0; bi < batches; bi++)
        for (int64_t t = 0; t < per_batch; t++) {
            const int64_t *tuple = ix + (bi * per_batch + t) * m;
            int64_t off = bi * batch_stride;
            for (int k = 0; k < m; k++) {
                int64_t v = 0;
                qp_status st = resolve(ctx, tuple[k], x->shape.dims[b + k], &v);
                if (st != QP_OK) return st;
                off += v * strides[b + k];
            }
            if (slice_bytes)
                memcpy(out + (size_t)(bi * per_batch + t) * slice_bytes,
                       (const unsigned char *)x->data + (size_t)off * es, slice_bytes);
        }
    return QP_OK;
}
const qp_op_def qp_op_gather_nd = {"GatherND", "", gather_nd_infer, NULL, NULL, gather_nd_run};

/* ---------------------------------------------------------------------------------------------
 * ScatterND: output = data with updates written (or reduced) at index tuples. */
static qp_status scatter_nd_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 3, 3, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0], *idx = ctx->inputs[1], *upd = ctx->inputs[2];
    int red = RED_NONE;
    if ((st = check_int64_indices(ctx, idx, 0)) != QP_OK || (st = scatter_reduction(ctx, &red)) != QP_OK ||
        (st = check_reduction_dtype(ctx, x->dtype, red)) != QP_OK)
        return st;
    if (upd->dtype != x->dtype) return qp_error(QP_ERR_SHAPE, "ScatterND: updates dtype differs from data");
    int r = x->shape.rank, q = idx->shape.rank;
    if (q < 1) return qp_error(QP_ERR_SHAPE, "ScatterND: indices must have rank >= 1");
    int64_t m = idx->shape.dims[q - 1];
    if (m < 1 || m > r)
        return qp_error(QP_ERR_SHAPE, "ScatterND: index tuples of %lld for data rank %d", (long long)m, r);
    int ok = upd->shape.rank == q - 1 + r - (int)m;
    for (int d = 0; ok && d < q - 1; d++)
        ok = upd->shape.dims[d] == idx->shape.dims[d];
    for (int d = (int)m; ok && d < r; d++)
        ok = upd->shape.dims[q - 1 + d - m] == x->shape.dims[d];
    if (!ok)
        return qp_error(QP_ERR_SHAPE, "ScatterND: updates shape must be indices.shape[:-1] + data.shape[m:]");
    qp_value_set(ctx->outputs[0], x->dtype, &x->shape);
    return QP_OK;
}

static qp_status scatter_nd_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0], *idx = ctx->inputs[1], *upd = ctx->inputs[2];
    qp_value *y = ctx->outputs[0];
    int red = RED_NONE;
    scatter_reduction(ctx, &red);
    qp_ops_copy(y->data, x->data, value_bytes(x));
    int r = x->shape.rank, q = idx->shape.rank, m = (int)idx->shape.dims[q - 1];
    int64_t strides[QP_MAX_RANK];
    qp_ops_shape_strides(&x->shape, strides);
    int64_t tuples = prod(idx->shape.dims, 0, q - 1), slice = prod(x->shape.dims, m, r);
    size_t es = qp_dtype_size(x->dtype);
    const int64_t *ix = idx->data;
    unsigned char *out = y->data;
    const unsigned char *u = upd->data;
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off = 0;
        for (int k = 0; k < m; k++) {
            int64_t v = 0;
            qp_status st = resolve(ctx, ix[t * m + k], x->shape.dims[k], &v);
            if (st != QP_OK) return st;
            off += v * strides[k];
        }
        if (red == RED_NONE) {
            if (slice) memcpy(out + (size_t)off * es, u + (size_t)(t * slice) * es, (size_t)slice * es);
        } else {
            for (int64_t e = 0; e < slice; e++)
                apply_reduction(x->dtype, es, red, out + (size_t)(off + e) * es,
                                u + (size_t)(t * slice + e) * es);
        }
    }
    return QP_OK;
}
const qp_op_def qp_op_scatter_nd = {"ScatterND", "", scatter_nd_infer, NULL, NULL, scatter_nd_run};

/* ---------------------------------------------------------------------------------------------
 * ScatterElements (and its opset 9-10 name Scatter). */
static qp_status scatter_elements_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 3, 3, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0], *idx = ctx->inputs[1], *upd = ctx->inputs[2];
    int red = RED_NONE, axis = 0;
    if ((st = check_int64_indices(ctx, idx, 1)) != QP_OK || (st = scatter_reduction(ctx, &red)) != QP_OK ||
        (st = check_reduction_dtype(ctx, x->dtype, red)) != QP_OK)
        return st;
    if (upd->dtype != x->dtype)
        return qp_error(QP_ERR_SHAPE, "%s: updates dtype differs from data", ctx->node->op_type);
    int r = x->shape.rank;
    if (r < 1 || idx->shape.rank != r || upd->shape.rank != r)
        return qp_error(QP_ERR_SHAPE, "%s: data, indices and updates must share one rank >= 1",
                        ctx->node->op_type);
    if ((st = qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", 0), r, &axis, ctx->node)) != QP_OK)
        return st;
    for (int d = 0; d < r; d++) {
        if (upd->shape.dims[d] != idx->shape.dims[d])
            return qp_error(QP_ERR_SHAPE, "%s: updates and indices shapes differ", ctx->node->op_type);
        if (d != axis && idx->shape.dims[d] > x->shape.dims[d])
            return qp_error(QP_ERR_SHAPE, "%s: indices dim %d exceeds data's", ctx->node->op_type, d);
    }
    qp_value_set(ctx->outputs[0], x->dtype, &x->shape);
    return QP_OK;
}

static qp_status scatter_elements_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0], *idx = ctx->inputs[1], *upd = ctx->inputs[2];
    qp_value *y = ctx->outputs[0];
    int red = RED_NONE, axis = 0, r = x->shape.rank;
    scatter_reduction(ctx, &red);
    qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", 0), r, &axis, ctx->node);
    qp_ops_copy(y->data, x->data, value_bytes(x));
    int64_t strides[QP_MAX_RANK], pos[QP_MAX_RANK] = {0}, n = qp_shape_numel(&idx->shape);
    qp_ops_shape_strides(&x->shape, strides);
    size_t es = qp_dtype_size(x->dtype);
    for (int64_t k = 0; k < n; k++) {
        int64_t v = 0;
        qp_status st = resolve(ctx, qp_value_get_int(idx, k), x->shape.dims[axis], &v);
        if (st != QP_OK) return st;
        int64_t off = 0;
        for (int d = 0; d < r; d++)
            off += (d == axis ? v : pos[d]) * strides[d];
        apply_reduction(x->dtype, es, red, (unsigned char *)y->data + (size_t)off * es,
                        (const unsigned char *)upd->data + (size_t)k * es);
        for (int d = r - 1; d >= 0; d--) {
            if (++pos[d] < idx->shape.dims[d]) break;
            pos[d] = 0;
        }
    }
    return QP_OK;
}
const qp_op_def qp_op_scatter_elements = {"ScatterElements",   "", scatter_elements_infer, NULL, NULL,
                                          scatter_elements_run};
const qp_op_def qp_op_scatter = {"Scatter", "", scatter_elements_infer, NULL, NULL, scatter_elements_run};

/* ---------------------------------------------------------------------------------------------
 * OneHot(indices, depth, values): depth must be known at plan time (it sets the shape). */
static qp_status one_hot_geometry(const qp_op_context *ctx, int64_t *depth, int *axis) {
    const qp_value *idx = ctx->inputs[0], *dv = ctx->inputs[1], *vals = ctx->inputs[2];
    if (!qp_ops_is_numeric(idx->dtype) || !qp_ops_is_numeric(dv->dtype))
        return qp_error(QP_ERR_UNSUPPORTED, "OneHot: indices and depth must be numeric");
    if (qp_shape_numel(&dv->shape) != 1) return qp_error(QP_ERR_SHAPE, "OneHot: depth must hold one value");
    if (!dv->data)
        return qp_error(
            QP_ERR_UNSUPPORTED,
            "OneHot: input 'depth' is computed at run time; data-dependent output shape is not supported");
    if (qp_shape_numel(&vals->shape) != 2 || vals->shape.rank != 1)
        return qp_error(QP_ERR_SHAPE, "OneHot: values must be [off_value, on_value]");
    if (qp_dtype_size(vals->dtype) == 0)
        return qp_error(QP_ERR_UNSUPPORTED, "OneHot: values dtype %s is not supported",
                        qp_dtype_name(vals->dtype));
    double d = qp_ops_load_f64(dv->data, dv->dtype, 0);
    if (!(d >= 1) || d > (double)(INT64_C(1) << 31))
        return qp_error(QP_ERR_INVALID_MODEL, "OneHot: depth %g is invalid", d);
    *depth = (int64_t)d;
    int r = idx->shape.rank + 1;
    if (r > QP_MAX_RANK) return qp_error(QP_ERR_UNSUPPORTED, "OneHot: output rank %d too large", r);
    return qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", -1), r, axis, ctx->node);
}

static qp_status one_hot_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 3, 3, 1, 1);
    if (st != QP_OK) return st;
    int64_t depth;
    int axis = 0;
    if ((st = one_hot_geometry(ctx, &depth, &axis)) != QP_OK) return st;
    const qp_value *idx = ctx->inputs[0];
    qp_shape out = {.rank = idx->shape.rank + 1};
    for (int d = 0, k = 0; d < out.rank; d++)
        out.dims[d] = d == axis ? depth : idx->shape.dims[k++];
    if ((st = qp_ops_check_output_shape(ctx, &out)) != QP_OK) return st;
    qp_value_set(ctx->outputs[0], ctx->inputs[2]->dtype, &out);
    return QP_OK;
}

static qp_status one_hot_run(qp_op_context *ctx) {
    const qp_value *idx = ctx->inputs[0], *vals = ctx->inputs[2];
    qp_value *y = ctx->outputs[0];
    int64_t depth;
    int axis = 0;
    qp_status st = one_hot_geometry(ctx, &depth, &axis);
    if (st != QP_OK) return st;
    size_t es = qp_dtype_size(vals->dtype);
    const unsigned char *off = vals->data, *on = off + es;
    unsigned char *out = y->data;
    int64_t n_out = qp_shape_numel(&y->shape);
    for (int64_t i = 0; i < n_out; i++)
        memcpy(out + (size_t)i * es, off, es);
    int64_t outer = prod(idx->shape.dims, 0, axis), inner = prod(idx->shape.dims, axis, idx->shape.rank);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double v = qp_ops_load_f64(idx->data, idx->dtype, o * inner + i);
            if (!(v == v)) continue;
            int64_t c = v < 0 ? (int64_t)v + depth : (int64_t)v;
            if (v < -(double)depth || v >= (double)depth || c < 0 || c >= depth) continue;
            memcpy(out + (size_t)((o * depth + c) * inner + i) * es, on, es);
        }
    return QP_OK;
}
const qp_op_def qp_op_one_hot = {"OneHot", "", one_hot_infer, NULL, NULL, one_hot_run};

/* ---------------------------------------------------------------------------------------------
 * Trilu: keeps the upper (j - i >= k) or lower (j - i <= k) triangle of the last two dims. */
static qp_status trilu_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, 2, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0], *k = qp_ops_in(ctx, 1);
    if (x->shape.rank < 2) return qp_error(QP_ERR_SHAPE, "Trilu: input must have rank >= 2");
    if (qp_dtype_size(x->dtype) == 0)
        return qp_error(QP_ERR_UNSUPPORTED, "Trilu: dtype %s is not supported", qp_dtype_name(x->dtype));
    if (k && (k->dtype != QP_DT_INT64 || qp_shape_numel(&k->shape) != 1))
        return qp_error(QP_ERR_SHAPE, "Trilu: k must be an int64 scalar");
    qp_value_set(ctx->outputs[0], x->dtype, &x->shape);
    return QP_OK;
}

static qp_status trilu_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0], *kv = qp_ops_in(ctx, 1);
    int64_t k = kv ? *(const int64_t *)kv->data : 0;
    int upper = qp_node_attr_int(ctx->node, "upper", 1) != 0, r = x->shape.rank;
    int64_t rows = x->shape.dims[r - 2], cols = x->shape.dims[r - 1], mats = prod(x->shape.dims, 0, r - 2);
    size_t es = qp_dtype_size(x->dtype);
    unsigned char *out = ctx->outputs[0]->data;
    const unsigned char *in = x->data;
    for (int64_t mtx = 0; mtx < mats; mtx++)
        for (int64_t i = 0; i < rows; i++) {
            size_t row = (size_t)((mtx * rows + i) * cols) * es;
            for (int64_t j = 0; j < cols; j++) {
                int keep = upper ? j - i >= k : j - i <= k;
                if (keep)
                    memcpy(out + row + (size_t)j * es, in + row + (size_t)j * es, es);
                else
                    memset(out + row + (size_t)j * es, 0, es);
            }
        }
    return QP_OK;
}
const qp_op_def qp_op_trilu = {"Trilu", "", trilu_infer, NULL, NULL, trilu_run};

/* EyeLike: ones on the k-th diagonal of a 2-D tensor shaped like the input. */
static qp_status eye_like_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if (x->shape.rank != 2) return qp_error(QP_ERR_SHAPE, "EyeLike: input must be 2-D");
    qp_dtype dt = (qp_dtype)qp_node_attr_int(ctx->node, "dtype", x->dtype);
    if (!qp_ops_is_numeric(dt) && dt != QP_DT_BOOL)
        return qp_error(QP_ERR_UNSUPPORTED, "EyeLike: dtype %s is not supported", qp_dtype_name(dt));
    qp_value_set(ctx->outputs[0], dt, &x->shape);
    return QP_OK;
}

static qp_status eye_like_run(qp_op_context *ctx) {
    qp_value *y = ctx->outputs[0];
    int64_t k = qp_node_attr_int(ctx->node, "k", 0), rows = y->shape.dims[0], cols = y->shape.dims[1];
    if (rows * cols > 0) memset(y->data, 0, value_bytes(y));
    if (k >= cols || k <= -rows) return QP_OK; /* the diagonal misses the matrix */
    for (int64_t i = 0; i < rows; i++) {
        int64_t j = i + k;
        if (j >= 0 && j < cols) qp_ops_store_f64(y->data, y->dtype, i * cols + j, 1.0);
    }
    return QP_OK;
}
const qp_op_def qp_op_eye_like = {"EyeLike", "", eye_like_infer, NULL, NULL, eye_like_run};
