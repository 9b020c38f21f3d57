/* shape.c — ONNX shape and data-movement ops (Reshape, Transpose, Concat, Slice, Pad, Gather, Cast, Expand,
 * ...), dtype-generic by element size. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/op.h"
#include "ops/ops_common_index.h"
#include "ops/ops_common_util.h"

static size_t value_bytes(const qp_value *v) {
    int64_t n = qp_shape_numel(&v->shape);
    return n > 0 ? (size_t)n * qp_dtype_size(v->dtype) : 0;
}

static qp_status require_sized(const qp_op_context *ctx, const qp_value *v) {
    if (qp_dtype_size(v->dtype) == 0)
        return qp_error(QP_ERR_UNSUPPORTED, "%s: dtype %s is not supported", ctx->node->op_type,
                        qp_dtype_name(v->dtype));
    return QP_OK;
}

/* Ops whose output is the input's bytes under another shape. */
static qp_status copy_run(qp_op_context *ctx) {
    qp_ops_copy(ctx->outputs[0]->data, ctx->inputs[0]->data, value_bytes(ctx->inputs[0]));
    return QP_OK;
}

static qp_status shape_from_dims(const int64_t *dims, int rank, qp_shape *out) {
    if (rank > QP_MAX_RANK)
        return qp_error(QP_ERR_UNSUPPORTED, "output rank %d exceeds qpipe's maximum of %d", rank,
                        QP_MAX_RANK);
    out->rank = rank;
    for (int i = 0; i < rank; i++)
        out->dims[i] = dims[i];
    return QP_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Reshape: 0 copies the input dim (unless allowzero), -1 is inferred. Opset < 5 reads the
 * 'shape' attribute. */
static qp_status reshape_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, ctx->opset < 5 ? 1 : 2, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if ((st = require_sized(ctx, x)) != QP_OK) return st;
    int64_t spec[QP_MAX_RANK];
    int n = 0;
    if (ctx->opset < 5) {
        const int64_t *a = qp_node_attr_ints(ctx->node, "shape", &n);
        if (n > QP_MAX_RANK)
            return qp_error(QP_ERR_UNSUPPORTED, "Reshape: rank %d exceeds %d", n, QP_MAX_RANK);
        if (n) memcpy(spec, a, sizeof(int64_t) * (size_t)n);
    } else {
        if (!qp_ops_in(ctx, 1)) return qp_error(QP_ERR_INVALID_MODEL, "Reshape: input 'shape' is missing");
        if ((st = qp_ops_const_ints(ctx, 1, "shape", spec, QP_MAX_RANK, &n)) != QP_OK) return st;
    }
    int allowzero = ctx->opset >= 14 && qp_node_attr_int(ctx->node, "allowzero", 0) != 0;
    int64_t numel = qp_shape_numel(&x->shape), known = 1;
    int infer_at = -1;
    qp_shape out = {.rank = n};
    for (int i = 0; i < n; i++) {
        int64_t v = spec[i];
        if (v == 0 && !allowzero) {
            if (i >= x->shape.rank)
                return qp_error(QP_ERR_SHAPE, "Reshape: shape[%d] = 0 copies a dim the rank-%d input lacks",
                                i, x->shape.rank);
            v = x->shape.dims[i];
        } else if (v == -1) {
            if (infer_at >= 0) return qp_error(QP_ERR_SHAPE, "Reshape: more than one -1 in shape");
            infer_at = i;
            continue;
        } else if (v < 0) {
            return qp_error(QP_ERR_SHAPE, "Reshape: invalid dim %lld in shape", (long long)v);
        }
        if (v > 0 && known > (INT64_C(1) << 48) / v)
            return qp_error(QP_ERR_SHAPE, "Reshape: shape describes more than 2^48 elements");
        out.dims[i] = v;
        known *= v;
    }
    char sa[128];
    if (infer_at >= 0) {
        if (known == 0 || numel % known != 0)
            return qp_error(QP_ERR_SHAPE, "Reshape: cannot infer the -1 dim reshaping %s (%lld elements)",
                            qp_shape_str(&x->shape, sa, sizeof sa), (long long)numel);
        out.dims[infer_at] = numel / known;
    } else if (known != numel) {
        char sb[128];
        return qp_error(QP_ERR_SHAPE, "Reshape: %s (%lld elements) cannot become %s",
                        qp_shape_str(&x->shape, sa, sizeof sa), (long long)numel,
                        qp_shape_str(&out, sb, sizeof sb));
    }
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}
static const qp_op_def reshape_def = {"Reshape", "", reshape_infer, NULL, NULL, copy_run};

/* Flatten: [d0..d(axis-1)] x [d(axis)..]. */
static qp_status flatten_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if ((st = require_sized(ctx, x)) != QP_OK) return st;
    int r = x->shape.rank;
    int64_t axis = qp_node_attr_int(ctx->node, "axis", 1);
    if (axis < -r || axis > r)
        return qp_error(QP_ERR_INVALID_MODEL, "Flatten: axis %lld out of range for rank %d", (long long)axis,
                        r);
    if (axis < 0) axis += r;
    qp_shape out = {.rank = 2, .dims = {1, 1}};
    for (int d = 0; d < r; d++)
        out.dims[d < axis ? 0 : 1] *= x->shape.dims[d];
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}
static const qp_op_def flatten_def = {"Flatten", "", flatten_infer, NULL, NULL, copy_run};

/* Squeeze: axes from the attribute (opset < 13) or the optional input; none = every 1 dim. */
static qp_status read_axes(const qp_op_context *ctx, int64_t *axes, int *n, int *present) {
    *n = 0;
    *present = 0;
    if (ctx->opset < 13) {
        const qp_attr *a = qp_node_attr(ctx->node, "axes");
        if (!a) return QP_OK;
        int cnt = 0;
        const int64_t *v = qp_node_attr_ints(ctx->node, "axes", &cnt);
        if (cnt > QP_MAX_RANK * 2)
            return qp_error(QP_ERR_INVALID_MODEL, "%s: too many axes", ctx->node->op_type);
        if (cnt) memcpy(axes, v, sizeof(int64_t) * (size_t)cnt);
        *n = cnt;
        *present = 1;
        return QP_OK;
    }
    if (!qp_ops_in(ctx, 1)) return QP_OK;
    *present = 1;
    return qp_ops_const_ints(ctx, 1, "axes", axes, QP_MAX_RANK * 2, n);
}

static qp_status squeeze_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, ctx->opset < 13 ? 1 : 2, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if ((st = require_sized(ctx, x)) != QP_OK) return st;
    int64_t axes[QP_MAX_RANK * 2];
    int n, present, r = x->shape.rank;
    if ((st = read_axes(ctx, axes, &n, &present)) != QP_OK) return st;
    if ((st = qp_ops_normalize_axes(axes, n, r, "Squeeze")) != QP_OK) return st;
    int drop[QP_MAX_RANK] = {0};
    if (n == 0) {
        for (int d = 0; d < r; d++)
            drop[d] = x->shape.dims[d] == 1;
    } else {
        for (int i = 0; i < n; i++) {
            if (x->shape.dims[axes[i]] != 1)
                return qp_error(QP_ERR_SHAPE, "Squeeze: axis %lld has size %lld, not 1", (long long)axes[i],
                                (long long)x->shape.dims[axes[i]]);
            drop[axes[i]] = 1;
        }
    }
    qp_shape out = {.rank = 0};
    for (int d = 0; d < r; d++)
        if (!drop[d]) out.dims[out.rank++] = x->shape.dims[d];
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}
static const qp_op_def squeeze_def = {"Squeeze", "", squeeze_infer, NULL, NULL, copy_run};

static qp_status unsqueeze_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, ctx->opset < 13 ? 1 : 2, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if ((st = require_sized(ctx, x)) != QP_OK) return st;
    int64_t axes[QP_MAX_RANK * 2];
    int n, present;
    if ((st = read_axes(ctx, axes, &n, &present)) != QP_OK) return st;
    if (!present || n == 0) return qp_error(QP_ERR_INVALID_MODEL, "Unsqueeze: 'axes' is required");
    int r = x->shape.rank + n;
    if (r > QP_MAX_RANK)
        return qp_error(QP_ERR_UNSUPPORTED, "Unsqueeze: output rank %d exceeds qpipe's maximum of %d", r,
                        QP_MAX_RANK);
    if ((st = qp_ops_normalize_axes(axes, n, r, "Unsqueeze")) != QP_OK) return st;
    int is_new[QP_MAX_RANK] = {0};
    for (int i = 0; i < n; i++)
        is_new[axes[i]] = 1;
    qp_shape out = {.rank = r};
    for (int d = 0, k = 0; d < r; d++)
        out.dims[d] = is_new[d] ? 1 : x->shape.dims[k++];
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}
static const qp_op_def unsqueeze_def = {"Unsqueeze", "", unsqueeze_infer, NULL, NULL, copy_run};

/* Identity, and Dropout in inference mode (optional mask output all true). */
static qp_status identity_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if ((st = require_sized(ctx, x)) != QP_OK) return st;
    qp_value_set(ctx->outputs[0], x->dtype, &x->shape);
    return QP_OK;
}
static const qp_op_def identity_def = {"Identity", "", identity_infer, NULL, NULL, copy_run};

static qp_status dropout_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, ctx->opset >= 12 ? 3 : 1, 1, 2);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0], *training = qp_ops_in(ctx, 2);
    if ((st = require_sized(ctx, x)) != QP_OK) return st;
    if (training) {
        if (!training->data)
            return qp_error(
                QP_ERR_UNSUPPORTED,
                "Dropout: 'training_mode' is computed at run time; only a constant false is supported");
        const qp_value *ratio = qp_ops_in(ctx, 1);
        int ratio_zero = ratio && ratio->data && qp_shape_numel(&ratio->shape) >= 1 &&
                         qp_ops_load_f64(ratio->data, ratio->dtype, 0) == 0.0;
        if (training->dtype != QP_DT_BOOL || qp_shape_numel(&training->shape) != 1)
            return qp_error(QP_ERR_SHAPE, "Dropout: 'training_mode' must be a bool scalar");
        if (((const uint8_t *)training->data)[0] && !ratio_zero)
            return qp_error(QP_ERR_UNSUPPORTED, "Dropout: training mode (random masking) is not supported");
    }
    qp_value_set(ctx->outputs[0], x->dtype, &x->shape);
    if (ctx->n_outputs > 1) qp_value_set(ctx->outputs[1], QP_DT_BOOL, &x->shape);
    return QP_OK;
}
static qp_status dropout_run(qp_op_context *ctx) {
    copy_run(ctx);
    if (ctx->n_outputs > 1 && ctx->outputs[1]->data)
        memset(ctx->outputs[1]->data, 1, value_bytes(ctx->outputs[1]));
    return QP_OK;
}
static const qp_op_def dropout_def = {"Dropout", "", dropout_infer, NULL, NULL, dropout_run};

/* ---------------------------------------------------------------------------------------------
 * Transpose: perm defaults to reversing the dims. */
static qp_status transpose_perm(const qp_op_context *ctx, int rank, int *perm) {
    int n = 0;
    const int64_t *p = qp_node_attr_ints(ctx->node, "perm", &n);
    if (!p) {
        for (int i = 0; i < rank; i++)
            perm[i] = rank - 1 - i;
        return QP_OK;
    }
    if (n != rank)
        return qp_error(QP_ERR_INVALID_MODEL, "Transpose: perm has %d entries for a rank-%d input", n, rank);
    int seen[QP_MAX_RANK] = {0};
    for (int i = 0; i < n; i++) {
        if (p[i] < 0 || p[i] >= rank || seen[p[i]])
            return qp_error(QP_ERR_INVALID_MODEL, "Transpose: perm is not a permutation of 0..%d", rank - 1);
        seen[p[i]] = 1;
        perm[i] = (int)p[i];
    }
    return QP_OK;
}

static qp_status transpose_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if ((st = require_sized(ctx, x)) != QP_OK) return st;
    int perm[QP_MAX_RANK];
    if ((st = transpose_perm(ctx, x->shape.rank, perm)) != QP_OK) return st;
    qp_shape out = {.rank = x->shape.rank};
    for (int i = 0; i < out.rank; i++)
        out.dims[i] = x->shape.dims[perm[i]];
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}

static qp_status transpose_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0];
    qp_value *y = ctx->outputs[0];
    int perm[QP_MAX_RANK];
    transpose_perm(ctx, x->shape.rank, perm);
    int64_t in_strides[QP_MAX_RANK], strides[QP_MAX_RANK];
    qp_ops_shape_strides(&x->shape, in_strides);
    for (int i = 0; i < x->shape.rank; i++)
        strides[i] = in_strides[perm[i]];
    qp_ops_strided_copy(y->data, x->data, qp_dtype_size(x->dtype), y->shape.rank, y->shape.dims, strides, 0,
                        ctx->n_threads);
    return QP_OK;
}
static const qp_op_def transpose_def = {"Transpose", "", transpose_infer, NULL, NULL, transpose_run};

/* ---------------------------------------------------------------------------------------------
 * Concat / Split along one axis: rows of (dim * inner) elements interleave per outer index. */
static qp_status concat_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1 << 20, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *first = ctx->inputs[0];
    if ((st = require_sized(ctx, first)) != QP_OK) return st;
    const qp_attr *axis_attr = qp_node_attr(ctx->node, "axis");
    if (!axis_attr && ctx->opset >= 4)
        return qp_error(QP_ERR_INVALID_MODEL, "Concat: attribute 'axis' is required");
    int r = first->shape.rank, axis = 0;
    if (r == 0) return qp_error(QP_ERR_SHAPE, "Concat: inputs must have rank >= 1");
    if ((st = qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", 1), r, &axis, ctx->node)) != QP_OK)
        return st;
    qp_shape out = first->shape;
    out.dims[axis] = 0;
    for (int i = 0; i < ctx->n_inputs; i++) {
        const qp_value *v = ctx->inputs[i];
        if (!v) return qp_error(QP_ERR_INVALID_MODEL, "Concat: input %d is missing", i);
        char sa[128], sb[128];
        if (v->dtype != first->dtype)
            return qp_error(QP_ERR_SHAPE, "Concat: input %d has dtype %s, input 0 has %s", i,
                            qp_dtype_name(v->dtype), qp_dtype_name(first->dtype));
        int ok = v->shape.rank == r;
        for (int d = 0; ok && d < r; d++)
            ok = d == axis || v->shape.dims[d] == first->shape.dims[d];
        if (!ok)
            return qp_error(QP_ERR_SHAPE, "Concat: input %d shape %s does not match %s outside axis %d", i,
                            qp_shape_str(&v->shape, sa, sizeof sa),
                            qp_shape_str(&first->shape, sb, sizeof sb), axis);
        out.dims[axis] += v->shape.dims[axis];
    }
    qp_value_set(ctx->outputs[0], first->dtype, &out);
    return QP_OK;
}

static void axis_split(const qp_shape *s, int axis, int64_t *outer, int64_t *inner) {
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < axis; d++)
        *outer *= s->dims[d];
    for (int d = axis + 1; d < s->rank; d++)
        *inner *= s->dims[d];
}

static qp_status concat_run(qp_op_context *ctx) {
    qp_value *y = ctx->outputs[0];
    int axis = 0;
    qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", 1), y->shape.rank, &axis, ctx->node);
    int64_t outer, inner;
    axis_split(&y->shape, axis, &outer, &inner);
    size_t es = qp_dtype_size(y->dtype), out_row = (size_t)(y->shape.dims[axis] * inner) * es, col = 0;
    for (int i = 0; i < ctx->n_inputs; i++) {
        const qp_value *v = ctx->inputs[i];
        size_t row = (size_t)(v->shape.dims[axis] * inner) * es;
        if (row)
            for (int64_t o = 0; o < outer; o++)
                memcpy((unsigned char *)y->data + (size_t)o * out_row + col,
                       (const unsigned char *)v->data + (size_t)o * row, row);
        col += row;
    }
    return QP_OK;
}
static const qp_op_def concat_def = {"Concat", "", concat_infer, NULL, NULL, concat_run};

/* Split sizes: attribute 'split' (opset < 13), input 'split' (opset >= 13), else equal parts
 * (ceil-sized with a smaller last part, as opset 18's num_outputs defines). */
static qp_status split_sizes(const qp_op_context *ctx, int64_t dim, int64_t *sizes) {
    int n_out = ctx->n_outputs, n = 0;
    qp_status st;
    if (ctx->opset < 13 && qp_node_attr(ctx->node, "split")) {
        const int64_t *s = qp_node_attr_ints(ctx->node, "split", &n);
        if (n != n_out)
            return qp_error(QP_ERR_INVALID_MODEL, "Split: 'split' has %d entries for %d outputs", n, n_out);
        memcpy(sizes, s, sizeof(int64_t) * (size_t)n);
    } else if (ctx->opset >= 13 && qp_ops_in(ctx, 1)) {
        if ((st = qp_ops_const_ints(ctx, 1, "split", sizes, n_out, &n)) != QP_OK) return st;
        if (n != n_out)
            return qp_error(QP_ERR_INVALID_MODEL, "Split: 'split' has %d entries for %d outputs", n, n_out);
    } else {
        int64_t parts = n_out;
        if (ctx->opset >= 18 && qp_node_attr(ctx->node, "num_outputs")) {
            parts = qp_node_attr_int(ctx->node, "num_outputs", n_out);
            if (parts != n_out)
                return qp_error(QP_ERR_INVALID_MODEL, "Split: num_outputs = %lld but the node has %d outputs",
                                (long long)parts, n_out);
        }
        int64_t chunk = (dim + parts - 1) / parts;
        for (int i = 0; i < n_out; i++) {
            int64_t left = dim - chunk * i;
            sizes[i] = left < 0 ? 0 : left < chunk ? left : chunk;
        }
        return QP_OK;
    }
    int64_t total = 0;
    for (int i = 0; i < n_out; i++) {
        if (sizes[i] < 0 || sizes[i] > dim)
            return qp_error(QP_ERR_INVALID_MODEL, "Split: split size %lld out of range for an axis of %lld",
                            (long long)sizes[i], (long long)dim);
        total += sizes[i];
    }
    if (total != dim)
        return qp_error(QP_ERR_SHAPE, "Split: sizes add up to %lld but the axis has %lld", (long long)total,
                        (long long)dim);
    return QP_OK;
}

static qp_status split_prepare_sizes(const qp_op_context *ctx, int *axis, int64_t **sizes) {
    const qp_value *x = ctx->inputs[0];
    qp_status st;
    if (x->shape.rank == 0) return qp_error(QP_ERR_SHAPE, "Split: input must have rank >= 1");
    if ((st = qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", 0), x->shape.rank, axis, ctx->node)) !=
        QP_OK)
        return st;
    *sizes = malloc(sizeof(int64_t) * (size_t)ctx->n_outputs);
    if (!*sizes) return qp_error(QP_ERR_NOMEM, "out of memory");
    if ((st = split_sizes(ctx, x->shape.dims[*axis], *sizes)) != QP_OK) {
        free(*sizes);
        *sizes = NULL;
    }
    return st;
}

static qp_status split_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, ctx->opset >= 13 ? 2 : 1, 1, 1 << 20);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if ((st = require_sized(ctx, x)) != QP_OK) return st;
    int axis = 0;
    int64_t *sizes;
    if ((st = split_prepare_sizes(ctx, &axis, &sizes)) != QP_OK) return st;
    for (int i = 0; i < ctx->n_outputs; i++) {
        qp_shape s = x->shape;
        s.dims[axis] = sizes[i];
        qp_value_set(ctx->outputs[i], x->dtype, &s);
    }
    free(sizes);
    return QP_OK;
}

static qp_status split_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0];
    int axis = 0;
    int64_t *sizes, outer, inner;
    qp_status st = split_prepare_sizes(ctx, &axis, &sizes);
    if (st != QP_OK) return st;
    axis_split(&x->shape, axis, &outer, &inner);
    size_t es = qp_dtype_size(x->dtype), in_row = (size_t)(x->shape.dims[axis] * inner) * es, col = 0;
    for (int i = 0; i < ctx->n_outputs; i++) {
        size_t row = (size_t)(sizes[i] * inner) * es;
        if (row && ctx->outputs[i]->data)
            for (int64_t o = 0; o < outer; o++)
                memcpy((unsigned char *)ctx->outputs[i]->data + (size_t)o * row,
                       (const unsigned char *)x->data + (size_t)o * in_row + col, row);
        col += row;
    }
    free(sizes);
    return QP_OK;
}
static const qp_op_def split_def = {"Split", "", split_infer, NULL, NULL, split_run};

/* ---------------------------------------------------------------------------------------------
 * Slice: starts/ends/axes/steps from attributes (opset < 10) or constant inputs; clamping as the
 * spec defines, negative steps walk backwards. */
typedef struct slice_geom {
    int64_t start[QP_MAX_RANK], step[QP_MAX_RANK], len[QP_MAX_RANK];
} slice_geom;

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

static qp_status slice_geometry(const qp_op_context *ctx, slice_geom *g) {
    const qp_value *x = ctx->inputs[0];
    int r = x->shape.rank, n_starts = 0, n_ends = 0, n_axes = -1, n_steps = -1;
    int64_t starts[QP_MAX_RANK], ends[QP_MAX_RANK], axes[QP_MAX_RANK], steps[QP_MAX_RANK];
    qp_status st;
    if (ctx->opset < 10) {
        const int64_t *s = qp_node_attr_ints(ctx->node, "starts", &n_starts);
        const int64_t *e = qp_node_attr_ints(ctx->node, "ends", &n_ends);
        int na = 0;
        const int64_t *a = qp_node_attr_ints(ctx->node, "axes", &na);
        if (n_starts > QP_MAX_RANK || n_ends > QP_MAX_RANK || na > QP_MAX_RANK)
            return qp_error(QP_ERR_INVALID_MODEL, "Slice: more entries than the input has dims");
        if (n_starts) memcpy(starts, s, sizeof(int64_t) * (size_t)n_starts);
        if (n_ends) memcpy(ends, e, sizeof(int64_t) * (size_t)n_ends);
        if (a) {
            memcpy(axes, a, sizeof(int64_t) * (size_t)na);
            n_axes = na;
        }
    } else {
        if ((st = qp_ops_const_ints(ctx, 1, "starts", starts, QP_MAX_RANK, &n_starts)) != QP_OK) return st;
        if ((st = qp_ops_const_ints(ctx, 2, "ends", ends, QP_MAX_RANK, &n_ends)) != QP_OK) return st;
        if (qp_ops_in(ctx, 3) &&
            (st = qp_ops_const_ints(ctx, 3, "axes", axes, QP_MAX_RANK, &n_axes)) != QP_OK)
            return st;
        if (qp_ops_in(ctx, 4) &&
            (st = qp_ops_const_ints(ctx, 4, "steps", steps, QP_MAX_RANK, &n_steps)) != QP_OK)
            return st;
    }
    if (n_starts != n_ends)
        return qp_error(QP_ERR_INVALID_MODEL, "Slice: %d starts but %d ends", n_starts, n_ends);
    if (n_axes < 0) {
        n_axes = n_starts;
        for (int i = 0; i < n_axes; i++)
            axes[i] = i;
    }
    if (n_axes != n_starts || (n_steps >= 0 && n_steps != n_starts))
        return qp_error(QP_ERR_INVALID_MODEL, "Slice: starts, ends, axes and steps differ in length");
    if (n_starts > r)
        return qp_error(QP_ERR_INVALID_MODEL, "Slice: %d axes for a rank-%d input", n_starts, r);
    if ((st = qp_ops_normalize_axes(axes, n_axes, r, "Slice")) != QP_OK) return st;
    for (int d = 0; d < r; d++) {
        g->start[d] = 0;
        g->step[d] = 1;
        g->len[d] = x->shape.dims[d];
    }
    for (int i = 0; i < n_axes; i++) {
        int d = (int)axes[i];
        int64_t dim = x->shape.dims[d], step = n_steps >= 0 ? steps[i] : 1, s = starts[i], e = ends[i];
        if (step == 0) return qp_error(QP_ERR_INVALID_MODEL, "Slice: step 0 on axis %d", d);
        if (step == INT64_MIN) step = -INT64_MAX;
        if (s < 0) s += dim;
        if (e < 0) e += dim;
        int64_t len;
        if (step > 0) {
            s = clamp64(s, 0, dim);
            e = clamp64(e, 0, dim);
            len = e > s ? (e - s) / step + ((e - s) % step != 0) : 0;
        } else {
            s = clamp64(s, 0, dim - 1);
            e = clamp64(e, -1, dim - 1);
            len = s > e ? (s - e) / -step + ((s - e) % -step != 0) : 0;
        }
        g->start[d] = s;
        g->step[d] = step;
        g->len[d] = len;
    }
    return QP_OK;
}

static qp_status slice_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, ctx->opset < 10 ? 1 : 3, ctx->opset < 10 ? 1 : 5, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if ((st = require_sized(ctx, x)) != QP_OK) return st;
    slice_geom g;
    if ((st = slice_geometry(ctx, &g)) != QP_OK) return st;
    qp_shape out = {.rank = x->shape.rank};
    for (int d = 0; d < out.rank; d++)
        out.dims[d] = g.len[d];
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}

static qp_status slice_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0];
    qp_value *y = ctx->outputs[0];
    slice_geom g;
    qp_status st = slice_geometry(ctx, &g);
    if (st != QP_OK) return st;
    int64_t in_strides[QP_MAX_RANK], strides[QP_MAX_RANK], offset = 0;
    qp_ops_shape_strides(&x->shape, in_strides);
    for (int d = 0; d < x->shape.rank; d++) {
        strides[d] = g.step[d] * in_strides[d];
        offset += g.start[d] * in_strides[d];
    }
    qp_ops_strided_copy(y->data, x->data, qp_dtype_size(x->dtype), y->shape.rank, y->shape.dims, strides,
                        offset, ctx->n_threads);
    return QP_OK;
}
static const qp_op_def slice_def = {"Slice", "", slice_infer, NULL, NULL, slice_run};

/* ---------------------------------------------------------------------------------------------
 * Pad: modes constant / reflect / edge / wrap; pads from attributes (opset < 11) or inputs,
 * negative pads crop. */
enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

typedef struct pad_geom {
    int mode;
    int64_t begin[QP_MAX_RANK], end[QP_MAX_RANK];
} pad_geom;

static qp_status pad_geometry(const qp_op_context *ctx, pad_geom *g) {
    const qp_value *x = ctx->inputs[0];
    int r = x->shape.rank, n = 0;
    int64_t pads[2 * QP_MAX_RANK], axes[QP_MAX_RANK];
    const char *mode = qp_node_attr_string(ctx->node, "mode", "constant");
    if (strcmp(mode, "constant") == 0)
        g->mode = PAD_CONSTANT;
    else if (strcmp(mode, "reflect") == 0)
        g->mode = PAD_REFLECT;
    else if (strcmp(mode, "edge") == 0)
        g->mode = PAD_EDGE;
    else if (strcmp(mode, "wrap") == 0)
        g->mode = PAD_WRAP;
    else
        return qp_error(QP_ERR_UNSUPPORTED,
                        "Pad: mode \"%s\" is not supported (supported: constant, reflect, edge, wrap)", mode);
    qp_status st;
    int n_axes = r;
    for (int d = 0; d < r; d++)
        axes[d] = d;
    if (ctx->opset < 11) {
        const int64_t *p = qp_node_attr_ints(ctx->node, ctx->opset < 2 ? "paddings" : "pads", &n);
        if (n > 2 * QP_MAX_RANK) return qp_error(QP_ERR_INVALID_MODEL, "Pad: too many pads");
        if (n) memcpy(pads, p, sizeof(int64_t) * (size_t)n);
    } else {
        if ((st = qp_ops_const_ints(ctx, 1, "pads", pads, 2 * QP_MAX_RANK, &n)) != QP_OK) return st;
        if (qp_ops_in(ctx, 3)) {
            if ((st = qp_ops_const_ints(ctx, 3, "axes", axes, QP_MAX_RANK, &n_axes)) != QP_OK) return st;
            if ((st = qp_ops_normalize_axes(axes, n_axes, r, "Pad")) != QP_OK) return st;
        }
    }
    if (n != 2 * n_axes)
        return qp_error(QP_ERR_INVALID_MODEL, "Pad: %d pads for %d axes (need %d)", n, n_axes, 2 * n_axes);
    for (int d = 0; d < r; d++)
        g->begin[d] = g->end[d] = 0;
    for (int i = 0; i < n_axes; i++) {
        int d = (int)axes[i];
        g->begin[d] = pads[i];
        g->end[d] = pads[i + n_axes];
        if (g->begin[d] < -(INT64_C(1) << 48) || g->begin[d] > (INT64_C(1) << 48) ||
            g->end[d] < -(INT64_C(1) << 48) || g->end[d] > (INT64_C(1) << 48))
            return qp_error(QP_ERR_SHAPE, "Pad: pad of axis %d is out of range", d);
        int64_t dim = x->shape.dims[d];
        if (dim + g->begin[d] + g->end[d] < 0)
            return qp_error(QP_ERR_SHAPE, "Pad: pads on axis %d crop more than its %lld elements", d,
                            (long long)dim);
        if (g->mode != PAD_CONSTANT && dim == 0 && (g->begin[d] > 0 || g->end[d] > 0))
            return qp_error(QP_ERR_SHAPE, "Pad: mode \"%s\" cannot pad the empty axis %d", mode, d);
    }
    return QP_OK;
}

static qp_status pad_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, ctx->opset < 11 ? 1 : 4, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0], *cv = qp_ops_in(ctx, 2);
    if ((st = require_sized(ctx, x)) != QP_OK) return st;
    if (qp_dtype_size(x->dtype) > 8)
        return qp_error(QP_ERR_UNSUPPORTED, "Pad: dtype %s is not supported", qp_dtype_name(x->dtype));
    if (cv && (cv->dtype != x->dtype || qp_shape_numel(&cv->shape) > 1))
        return qp_error(QP_ERR_SHAPE, "Pad: constant_value must be a scalar of the input's dtype");
    pad_geom g;
    if ((st = pad_geometry(ctx, &g)) != QP_OK) return st;
    qp_shape out = x->shape;
    for (int d = 0; d < out.rank; d++)
        out.dims[d] += g.begin[d] + g.end[d];
    if ((st = qp_ops_check_output_shape(ctx, &out)) != QP_OK) return st;
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}

/* Input index for output index o along a dim of size n padded by `begin`; -1 = constant. */
static int64_t pad_map(int64_t o, int64_t begin, int64_t n, int mode) {
    int64_t i = o - begin;
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case PAD_EDGE: return i < 0 ? 0 : n - 1;
    case PAD_WRAP: return ((i % n) + n) % n;
    case PAD_REFLECT: {
        if (n == 1) return 0;
        int64_t period = 2 * (n - 1);
        i = ((i % period) + period) % period;
        return i < n ? i : period - i;
    }
    default: return -1;
    }
}

static qp_status pad_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0], *cv = qp_ops_in(ctx, 2);
    qp_value *y = ctx->outputs[0];
    pad_geom g;
    qp_status st = pad_geometry(ctx, &g);
    if (st != QP_OK) return st;
    size_t es = qp_dtype_size(x->dtype);
    int64_t numel = qp_shape_numel(&y->shape);
    if (numel <= 0) return QP_OK;
    unsigned char fill[8] = {0};
    if (cv && cv->data && qp_shape_numel(&cv->shape) == 1)
        memcpy(fill, cv->data, es);
    else if (ctx->opset < 11)
        qp_ops_store_f64(fill, x->dtype, 0, qp_node_attr_float(ctx->node, "value", 0.0f));
    int zero_fill = 1;
    for (size_t b = 0; b < es; b++)
        zero_fill &= fill[b] == 0;
    int r = y->shape.rank;
    if (r == 0) {
        memcpy(y->data, x->data, es);
        return QP_OK;
    }
    int64_t in_strides[QP_MAX_RANK];
    qp_ops_shape_strides(&x->shape, in_strides);
    int last = r - 1;
    int64_t w_out = y->shape.dims[last], w_in = x->shape.dims[last], pb = g.begin[last];
    int64_t rows = numel / w_out, idx[QP_MAX_RANK] = {0};
    /* The part of each row that is a straight copy of the input row. */
    int64_t mid_lo = clamp64(pb, 0, w_out), mid_hi = clamp64(pb + w_in, 0, w_out);
    if (mid_hi < mid_lo) mid_hi = mid_lo;
    unsigned char *out = y->data;
    const unsigned char *in = x->data;
    for (int64_t row = 0; row < rows; row++) {
        unsigned char *dst = out + (size_t)(row * w_out) * es;
        int64_t src = 0;
        int constant_row = 0;
        for (int d = 0; d < last; d++) {
            int64_t i = pad_map(idx[d], g.begin[d], x->shape.dims[d], g.mode);
            if (i < 0) {
                constant_row = 1;
                break;
            }
            src += i * in_strides[d];
        }
        if (constant_row) {
            if (zero_fill)
                memset(dst, 0, (size_t)w_out * es);
            else
                for (int64_t j = 0; j < w_out; j++)
                    memcpy(dst + (size_t)j * es, fill, es);
        } else {
            for (int64_t j = 0; j < w_out; j++) {
                if (j == mid_lo && mid_hi > mid_lo) {
                    memcpy(dst + (size_t)j * es, in + (size_t)(src + j - pb) * es,
                           (size_t)(mid_hi - mid_lo) * es);
                    j = mid_hi - 1;
                    continue;
                }
                int64_t i = pad_map(j, pb, w_in, g.mode);
                if (i < 0)
                    memcpy(dst + (size_t)j * es, fill, es);
                else
                    memcpy(dst + (size_t)j * es, in + (size_t)(src + i) * es, es);
            }
        }
        for (int d = last - 1; d >= 0; d--) {
            if (++idx[d] < y->shape.dims[d]) break;
            idx[d] = 0;
        }
    }
    return QP_OK;
}
static const qp_op_def pad_def = {"Pad", "", pad_infer, NULL, NULL, pad_run};

/* ---------------------------------------------------------------------------------------------
 * Shape (start/end since opset 15) and Size: computed from the input's shape only. */
static void shape_range(const qp_op_context *ctx, int r, int64_t *start, int64_t *end) {
    int64_t s = qp_node_attr_int(ctx->node, "start", 0), e = qp_node_attr_int(ctx->node, "end", r);
    if (s < 0) s += r;
    if (e < 0) e += r;
    *start = clamp64(s, 0, r);
    *end = clamp64(e, 0, r);
    if (*end < *start) *end = *start;
}

static qp_status shape_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1, 1, 1);
    if (st != QP_OK) return st;
    int64_t s, e;
    shape_range(ctx, ctx->inputs[0]->shape.rank, &s, &e);
    qp_shape out = {.rank = 1, .dims = {e - s}};
    qp_value_set(ctx->outputs[0], QP_DT_INT64, &out);
    return QP_OK;
}
static qp_status shape_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0];
    int64_t s, e, *o = ctx->outputs[0]->data;
    shape_range(ctx, x->shape.rank, &s, &e);
    for (int64_t d = s; d < e; d++)
        o[d - s] = x->shape.dims[d];
    return QP_OK;
}
static const qp_op_def shape_def = {"Shape", "", shape_infer, NULL, NULL, shape_run};

static qp_status size_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1, 1, 1);
    if (st != QP_OK) return st;
    qp_shape out = {.rank = 0};
    qp_value_set(ctx->outputs[0], QP_DT_INT64, &out);
    return QP_OK;
}
static qp_status size_run(qp_op_context *ctx) {
    *(int64_t *)ctx->outputs[0]->data = qp_shape_numel(&ctx->inputs[0]->shape);
    return QP_OK;
}
static const qp_op_def size_def = {"Size", "", size_infer, NULL, NULL, size_run};

/* ---------------------------------------------------------------------------------------------
 * Gather / GatherElements: int32 or int64 indices, negative ones count from the end. */
static qp_status check_indices_dtype(const qp_op_context *ctx, const qp_value *idx) {
    if (idx->dtype != QP_DT_INT32 && idx->dtype != QP_DT_INT64)
        return qp_error(QP_ERR_SHAPE, "%s: indices must be int32 or int64, got %s", ctx->node->op_type,
                        qp_dtype_name(idx->dtype));
    return QP_OK;
}

static qp_status gather_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 2, 2, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0], *idx = ctx->inputs[1];
    if ((st = require_sized(ctx, x)) != QP_OK || (st = check_indices_dtype(ctx, idx)) != QP_OK) return st;
    int r = x->shape.rank, axis = 0;
    if (r == 0) return qp_error(QP_ERR_SHAPE, "Gather: data must have rank >= 1");
    if ((st = qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", 0), r, &axis, ctx->node)) != QP_OK)
        return st;
    int out_rank = r - 1 + idx->shape.rank;
    if (out_rank > QP_MAX_RANK)
        return qp_error(QP_ERR_UNSUPPORTED, "Gather: output rank %d exceeds qpipe's maximum of %d", out_rank,
                        QP_MAX_RANK);
    qp_shape out = {.rank = out_rank};
    int k = 0;
    for (int d = 0; d < axis; d++)
        out.dims[k++] = x->shape.dims[d];
    for (int d = 0; d < idx->shape.rank; d++)
        out.dims[k++] = idx->shape.dims[d];
    for (int d = axis + 1; d < r; d++)
        out.dims[k++] = x->shape.dims[d];
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}

static qp_status gather_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0], *idx = ctx->inputs[1];
    int axis = 0;
    qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", 0), x->shape.rank, &axis, ctx->node);
    int64_t outer, inner, dim = x->shape.dims[axis], n_idx = qp_shape_numel(&idx->shape);
    axis_split(&x->shape, axis, &outer, &inner);
    size_t block = (size_t)inner * qp_dtype_size(x->dtype);
    for (int64_t k = 0; k < n_idx; k++) {
        int64_t i = qp_value_get_int(idx, k);
        if (i < -dim || i >= dim)
            return qp_error(QP_ERR_INVALID_ARG, "Gather: index %lld out of range for axis %d of size %lld",
                            (long long)i, axis, (long long)dim);
    }
    if (!block) return QP_OK;
    unsigned char *out = ctx->outputs[0]->data;
    const unsigned char *in = x->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < n_idx; k++) {
            int64_t i = qp_value_get_int(idx, k);
            if (i < 0) i += dim;
            memcpy(out + (size_t)(o * n_idx + k) * block, in + (size_t)(o * dim + i) * block, block);
        }
    return QP_OK;
}
static const qp_op_def gather_def = {"Gather", "", gather_infer, NULL, NULL, gather_run};

static qp_status gather_elements_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 2, 2, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0], *idx = ctx->inputs[1];
    if ((st = require_sized(ctx, x)) != QP_OK || (st = check_indices_dtype(ctx, idx)) != QP_OK) return st;
    int r = x->shape.rank, axis = 0;
    if (r == 0 || idx->shape.rank != r)
        return qp_error(QP_ERR_SHAPE, "GatherElements: data and indices must have the same rank >= 1");
    if ((st = qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", 0), r, &axis, ctx->node)) != QP_OK)
        return st;
    for (int d = 0; d < r; d++)
        if (d != axis && idx->shape.dims[d] > x->shape.dims[d])
            return qp_error(QP_ERR_SHAPE, "GatherElements: indices dim %d (%lld) exceeds data's (%lld)", d,
                            (long long)idx->shape.dims[d], (long long)x->shape.dims[d]);
    qp_value_set(ctx->outputs[0], x->dtype, &idx->shape);
    return QP_OK;
}

static qp_status gather_elements_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0], *idx = ctx->inputs[1];
    int r = x->shape.rank, axis = 0;
    qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", 0), r, &axis, ctx->node);
    int64_t strides[QP_MAX_RANK], pos[QP_MAX_RANK] = {0}, n = qp_shape_numel(&idx->shape),
                                  dim = x->shape.dims[axis];
    qp_ops_shape_strides(&x->shape, strides);
    size_t es = qp_dtype_size(x->dtype);
    unsigned char *out = ctx->outputs[0]->data;
    const unsigned char *in = x->data;
    for (int64_t k = 0; k < n; k++) {
        int64_t i = qp_value_get_int(idx, k);
        if (i < -dim || i >= dim)
            return qp_error(QP_ERR_INVALID_ARG,
                            "GatherElements: index %lld out of range for axis %d of size %lld", (long long)i,
                            axis, (long long)dim);
        if (i < 0) i += dim;
        int64_t off = 0;
        for (int d = 0; d < r; d++)
            off += (d == axis ? i : pos[d]) * strides[d];
        memcpy(out + (size_t)k * es, in + (size_t)off * es, es);
        for (int d = r - 1; d >= 0; d--) {
            if (++pos[d] < idx->shape.dims[d]) break;
            pos[d] = 0;
        }
    }
    return QP_OK;
}
static const qp_op_def gather_elements_def = {"GatherElements",   "", gather_elements_infer, NULL, NULL,
                                              gather_elements_run};

/* ---------------------------------------------------------------------------------------------
 * Constant and ConstantOfShape. */
typedef struct const_src {
    qp_dtype dtype;
    qp_shape shape;
    const void *data;
} const_src;

static qp_status constant_source(const qp_op_context *ctx, const_src *c, float *fbuf, int64_t *ibuf) {
    const qp_node *n = ctx->node;
    for (int i = 0; i < n->n_attrs; i++) {
        const qp_attr *a = &n->attrs[i];
        if (strcmp(a->name, "value") == 0) {
            if (!a->t) return qp_error(QP_ERR_INVALID_MODEL, "Constant: attribute 'value' holds no tensor");
            if (qp_dtype_size(a->t->dtype) == 0 || a->t->shape.rank < 0)
                return qp_error(QP_ERR_UNSUPPORTED, "Constant: dtype %s is not supported",
                                qp_dtype_name(a->t->dtype));
            int64_t numel = qp_shape_numel(&a->t->shape);
            if (numel > 0 && (!a->t->data || a->t->nbytes < (size_t)numel * qp_dtype_size(a->t->dtype)))
                return qp_error(QP_ERR_INVALID_MODEL,
                                "Constant: tensor holds fewer bytes than its shape needs");
            *c = (const_src){a->t->dtype, a->t->shape, a->t->data};
            return QP_OK;
        }
        if (strcmp(a->name, "value_float") == 0) {
            *fbuf = a->f;
            *c = (const_src){QP_DT_FLOAT, {.rank = 0}, fbuf};
            return QP_OK;
        }
        if (strcmp(a->name, "value_int") == 0) {
            *ibuf = a->i;
            *c = (const_src){QP_DT_INT64, {.rank = 0}, ibuf};
            return QP_OK;
        }
        if (strcmp(a->name, "value_floats") == 0) {
            *c = (const_src){QP_DT_FLOAT, {.rank = 1, .dims = {a->n}}, a->floats};
            return QP_OK;
        }
        if (strcmp(a->name, "value_ints") == 0) {
            *c = (const_src){QP_DT_INT64, {.rank = 1, .dims = {a->n}}, a->ints};
            return QP_OK;
        }
        if (strncmp(a->name, "value_string", 12) == 0 || strcmp(a->name, "sparse_value") == 0)
            return qp_error(QP_ERR_UNSUPPORTED, "Constant: attribute '%s' is not supported", a->name);
    }
    return qp_error(QP_ERR_INVALID_MODEL, "Constant: no value attribute");
}

static qp_status constant_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 0, 0, 1, 1);
    if (st != QP_OK) return st;
    const_src c;
    float f;
    int64_t i;
    if ((st = constant_source(ctx, &c, &f, &i)) != QP_OK) return st;
    qp_value_set(ctx->outputs[0], c.dtype, &c.shape);
    return QP_OK;
}
static qp_status constant_run(qp_op_context *ctx) {
    const_src c;
    float f;
    int64_t i;
    qp_status st = constant_source(ctx, &c, &f, &i);
    if (st != QP_OK) return st;
    qp_ops_copy(ctx->outputs[0]->data, c.data, value_bytes(ctx->outputs[0]));
    return QP_OK;
}
static const qp_op_def constant_def = {"Constant", "", constant_infer, NULL, NULL, constant_run};

static qp_status constant_of_shape_geometry(const qp_op_context *ctx, qp_shape *shape, const_src *value) {
    int64_t dims[QP_MAX_RANK];
    int n;
    qp_status st = qp_ops_const_ints(ctx, 0, "input", dims, QP_MAX_RANK, &n);
    if (st != QP_OK) return st;
    for (int i = 0; i < n; i++)
        if (dims[i] < 0)
            return qp_error(QP_ERR_SHAPE, "ConstantOfShape: negative dim %lld", (long long)dims[i]);
    shape_from_dims(dims, n, shape);
    static const float zero = 0.0f;
    *value = (const_src){QP_DT_FLOAT, {.rank = 1, .dims = {1}}, &zero};
    const qp_attr *a = qp_node_attr(ctx->node, "value");
    if (a) {
        if (!a->t || qp_shape_numel(&a->t->shape) != 1 || !a->t->data || qp_dtype_size(a->t->dtype) == 0 ||
            a->t->nbytes < qp_dtype_size(a->t->dtype))
            return qp_error(QP_ERR_INVALID_MODEL, "ConstantOfShape: 'value' must be a one-element tensor");
        *value = (const_src){a->t->dtype, a->t->shape, a->t->data};
    }
    return QP_OK;
}

static qp_status constant_of_shape_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1, 1, 1);
    if (st != QP_OK) return st;
    qp_shape shape;
    const_src value;
    if ((st = constant_of_shape_geometry(ctx, &shape, &value)) != QP_OK) return st;
    if ((st = qp_ops_check_output_shape(ctx, &shape)) != QP_OK) return st;
    qp_value_set(ctx->outputs[0], value.dtype, &shape);
    return QP_OK;
}
static qp_status constant_of_shape_run(qp_op_context *ctx) {
    qp_shape shape;
    const_src value;
    qp_status st = constant_of_shape_geometry(ctx, &shape, &value);
    if (st != QP_OK) return st;
    size_t es = qp_dtype_size(value.dtype);
    int64_t n = qp_shape_numel(&shape);
    unsigned char *o = ctx->outputs[0]->data;
    for (int64_t i = 0; i < n; i++)
        memcpy(o + (size_t)i * es, value.data, es);
    return QP_OK;
}
static const qp_op_def constant_of_shape_def = {"ConstantOfShape",    "", constant_of_shape_infer, NULL, NULL,
                                                constant_of_shape_run};

/* ---------------------------------------------------------------------------------------------
 * Cast / CastLike between float32/64, float16, bfloat16, the integer types and bool. Values
 * pass through an int64 buffer when both sides are integer-like (exact), else a double buffer.
 * Float -> integer saturates (ONNX leaves out-of-range undefined); bfloat16 truncates before
 * opset 19 (the reference of those opsets) and rounds to nearest even after. */
static int cast_supported(qp_dtype dt) {
    return qp_ops_is_numeric(dt) || dt == QP_DT_BOOL || dt == QP_DT_FLOAT16 || dt == QP_DT_BFLOAT16;
}
static int integer_like(qp_dtype dt) {
    return qp_ops_is_int(dt) || dt == QP_DT_BOOL;
}

static float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static uint16_t float_to_bf16(float f, int round) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if (round) {
        if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);
        x += 0x7fff + ((x >> 16) & 1);
    }
    return (uint16_t)(x >> 16);
}

#define CAST_CHUNK 256

static void load_chunk_i64(const void *src, qp_dtype dt, int64_t base, int n, int64_t *buf) {
    switch (dt) {
#define LOAD_I(S, T, DT, W)                                                                                  \
    case DT:                                                                                                 \
        for (int i = 0; i < n; i++)                                                                          \
            buf[i] = (int64_t)((const T *)src)[base + i];                                                    \
        break;
        QP_OPS_FOR_INT(LOAD_I)
#undef LOAD_I
    case QP_DT_BOOL:
        for (int i = 0; i < n; i++)
            buf[i] = ((const uint8_t *)src)[base + i] != 0;
        break;
    default: break;
    }
}

static void store_chunk_i64(void *dst, qp_dtype dt, int64_t base, int n, const int64_t *buf) {
    switch (dt) {
#define STORE_I(S, T, DT, W)                                                                                 \
    case DT:                                                                                                 \
        for (int i = 0; i < n; i++)                                                                          \
            ((T *)dst)[base + i] = (T)buf[i];                                                                \
        break;
        QP_OPS_FOR_INT(STORE_I)
#undef STORE_I
    case QP_DT_BOOL:
        for (int i = 0; i < n; i++)
            ((uint8_t *)dst)[base + i] = buf[i] != 0;
        break;
    default: break;
    }
}

static void load_chunk_f64(const void *src, qp_dtype dt, int64_t base, int n, double *buf) {
    switch (dt) {
    case QP_DT_FLOAT16:
        for (int i = 0; i < n; i++)
            buf[i] = qp_half_to_float(((const uint16_t *)src)[base + i]);
        break;
    case QP_DT_BFLOAT16:
        for (int i = 0; i < n; i++)
            buf[i] = bf16_to_float(((const uint16_t *)src)[base + i]);
        break;
#define LOAD_F(S, T, DT, W)                                                                                  \
    case DT:                                                                                                 \
        for (int i = 0; i < n; i++)                                                                          \
            buf[i] = (double)((const T *)src)[base + i];                                                     \
        break;
        QP_OPS_FOR_NUMERIC(LOAD_F)
#undef LOAD_F
    case QP_DT_BOOL:
        for (int i = 0; i < n; i++)
            buf[i] = ((const uint8_t *)src)[base + i] != 0;
        break;
    default: break;
    }
}

static void store_chunk_f64(void *dst, qp_dtype dt, int64_t base, int n, const double *buf, int bf16_round) {
    switch (dt) {
    case QP_DT_FLOAT:
        for (int i = 0; i < n; i++)
            ((float *)dst)[base + i] = (float)buf[i];
        break;
    case QP_DT_DOUBLE: memcpy((double *)dst + base, buf, sizeof(double) * (size_t)n); break;
    case QP_DT_FLOAT16:
        for (int i = 0; i < n; i++)
            ((uint16_t *)dst)[base + i] = qp_float_to_half((float)buf[i]);
        break;
    case QP_DT_BFLOAT16:
        for (int i = 0; i < n; i++)
            ((uint16_t *)dst)[base + i] = float_to_bf16((float)buf[i], bf16_round);
        break;
    case QP_DT_BOOL:
        for (int i = 0; i < n; i++)
            ((uint8_t *)dst)[base + i] = buf[i] != 0;
        break;
        /* Saturating truncation for the integer types of at most 32 bits, where every bound is exact
         * in double; the 64-bit types go through qp_ops_store_f64's careful edge handling. */
#define STORE_SAT(DT, T, LO, HI)                                                                             \
    case DT:                                                                                                 \
        for (int i = 0; i < n; i++) {                                                                        \
            double v = buf[i];                                                                               \
            v = v != v ? 0.0 : v < (LO) ? (LO) : v > (HI) ? (HI) : v;                                        \
            ((T *)dst)[base + i] = (T)v;                                                                     \
        }                                                                                                    \
        break;
        STORE_SAT(QP_DT_INT8, int8_t, INT8_MIN, INT8_MAX)
        STORE_SAT(QP_DT_UINT8, uint8_t, 0, UINT8_MAX)
        STORE_SAT(QP_DT_INT16, int16_t, INT16_MIN, INT16_MAX)
        STORE_SAT(QP_DT_UINT16, uint16_t, 0, UINT16_MAX)
        STORE_SAT(QP_DT_INT32, int32_t, INT32_MIN, INT32_MAX)
        STORE_SAT(QP_DT_UINT32, uint32_t, 0, UINT32_MAX)
#undef STORE_SAT
    default:
        for (int i = 0; i < n; i++)
            qp_ops_store_f64(dst, dt, base + i, buf[i]);
        break;
    }
}

typedef struct cast_job {
    const void *src;
    void *dst;
    qp_dtype from, to;
    int bf16_round;
} cast_job;

static void cast_range(void *user, int64_t begin, int64_t end) {
    const cast_job *j = user;
    int via_int = integer_like(j->from) && integer_like(j->to);
    for (int64_t base = begin; base < end; base += CAST_CHUNK) {
        int n = (int)(end - base < CAST_CHUNK ? end - base : CAST_CHUNK);
        if (via_int) {
            int64_t buf[CAST_CHUNK];
            load_chunk_i64(j->src, j->from, base, n, buf);
            store_chunk_i64(j->dst, j->to, base, n, buf);
        } else {
            double buf[CAST_CHUNK];
            load_chunk_f64(j->src, j->from, base, n, buf);
            store_chunk_f64(j->dst, j->to, base, n, buf, j->bf16_round);
        }
    }
}

static qp_status cast_common_infer(qp_op_context *ctx, qp_dtype to) {
    const qp_value *x = ctx->inputs[0];
    if (!cast_supported(x->dtype) || !cast_supported(to))
        return qp_error(QP_ERR_UNSUPPORTED,
                        "%s: %s -> %s is not supported (supported: float32, float64, float16, bfloat16, the "
                        "integer types, bool)",
                        ctx->node->op_type, qp_dtype_name(x->dtype), qp_dtype_name(to));
    qp_value_set(ctx->outputs[0], to, &x->shape);
    return QP_OK;
}

static qp_status cast_common_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0];
    qp_value *y = ctx->outputs[0];
    if (x->dtype == y->dtype) return copy_run(ctx);
    cast_job j = {x->data, y->data, x->dtype, y->dtype, ctx->opset >= 19};
    qp_ops_parallel(ctx->n_threads, qp_shape_numel(&x->shape), 65536, cast_range, &j);
    return QP_OK;
}

static qp_status cast_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1, 1, 1);
    if (st != QP_OK) return st;
    if (!qp_node_attr(ctx->node, "to"))
        return qp_error(QP_ERR_INVALID_MODEL, "Cast: attribute 'to' is required");
    return cast_common_infer(ctx, (qp_dtype)qp_node_attr_int(ctx->node, "to", 0));
}
static const qp_op_def cast_def = {"Cast", "", cast_infer, NULL, NULL, cast_common_run};

static qp_status cast_like_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 2, 2, 1, 1);
    if (st != QP_OK) return st;
    return cast_common_infer(ctx, ctx->inputs[1]->dtype);
}
static const qp_op_def cast_like_def = {"CastLike", "", cast_like_infer, NULL, NULL, cast_common_run};

/* ---------------------------------------------------------------------------------------------
 * Expand (bidirectional broadcast to a constant shape) and Tile. */
static qp_status expand_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 2, 2, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if ((st = require_sized(ctx, x)) != QP_OK) return st;
    int64_t dims[QP_MAX_RANK];
    int n;
    if ((st = qp_ops_const_ints(ctx, 1, "shape", dims, QP_MAX_RANK, &n)) != QP_OK) return st;
    qp_shape target, out;
    for (int i = 0; i < n; i++)
        if (dims[i] < 0)
            return qp_error(QP_ERR_SHAPE, "Expand: negative dim %lld in shape", (long long)dims[i]);
    shape_from_dims(dims, n, &target);
    if ((st = qp_broadcast_shape(&x->shape, &target, &out)) != QP_OK) return st;
    if ((st = qp_ops_check_output_shape(ctx, &out)) != QP_OK) return st;
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}

static qp_status expand_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0];
    qp_value *y = ctx->outputs[0];
    int64_t strides[QP_MAX_RANK] = {0}, in_strides[QP_MAX_RANK];
    qp_ops_shape_strides(&x->shape, in_strides);
    int off = y->shape.rank - x->shape.rank;
    for (int d = 0; d < x->shape.rank; d++)
        strides[d + off] = x->shape.dims[d] == 1 ? 0 : in_strides[d];
    qp_ops_strided_copy(y->data, x->data, qp_dtype_size(x->dtype), y->shape.rank, y->shape.dims, strides, 0,
                        ctx->n_threads);
    return QP_OK;
}
static const qp_op_def expand_def = {"Expand", "", expand_infer, NULL, NULL, expand_run};

static qp_status tile_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 2, 2, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if ((st = require_sized(ctx, x)) != QP_OK) return st;
    int64_t reps[QP_MAX_RANK];
    int n;
    if ((st = qp_ops_const_ints(ctx, 1, "repeats", reps, QP_MAX_RANK, &n)) != QP_OK) return st;
    if (n != x->shape.rank)
        return qp_error(QP_ERR_SHAPE, "Tile: %d repeats for a rank-%d input", n, x->shape.rank);
    qp_shape out = x->shape;
    for (int d = 0; d < n; d++) {
        if (reps[d] < 0 || reps[d] > (INT64_C(1) << 48) ||
            (reps[d] && out.dims[d] > (INT64_C(1) << 48) / reps[d]))
            return qp_error(QP_ERR_SHAPE, "Tile: repeat %lld is negative or too large", (long long)reps[d]);
        out.dims[d] *= reps[d];
    }
    if ((st = qp_ops_check_output_shape(ctx, &out)) != QP_OK) return st;
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}

static qp_status tile_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0];
    qp_value *y = ctx->outputs[0];
    int r = x->shape.rank;
    /* The output viewed as [rep0, d0, rep1, d1, ...] reads the input with stride 0 on reps. */
    int64_t dims[QP_OPS_MAX_VIEW_RANK], strides[QP_OPS_MAX_VIEW_RANK], in_strides[QP_MAX_RANK];
    qp_ops_shape_strides(&x->shape, in_strides);
    for (int d = 0; d < r; d++) {
        dims[2 * d] = x->shape.dims[d] ? y->shape.dims[d] / x->shape.dims[d] : 0;
        strides[2 * d] = 0;
        dims[2 * d + 1] = x->shape.dims[d];
        strides[2 * d + 1] = in_strides[d];
    }
    if (r == 0) return copy_run(ctx);
    qp_ops_strided_copy(y->data, x->data, qp_dtype_size(x->dtype), 2 * r, dims, strides, 0, ctx->n_threads);
    return QP_OK;
}
static const qp_op_def tile_def = {"Tile", "", tile_infer, NULL, NULL, tile_run};

/* ---------------------------------------------------------------------------------------------
 * Range(start, limit, delta): length max(ceil((limit - start) / delta), 0). */
static qp_status range_length(const qp_op_context *ctx, int64_t *len) {
    const qp_value *v[3] = {ctx->inputs[0], ctx->inputs[1], ctx->inputs[2]};
    static const char *names[3] = {"start", "limit", "delta"};
    qp_dtype dt = v[0]->dtype;
    if (dt != QP_DT_FLOAT && dt != QP_DT_DOUBLE && dt != QP_DT_INT16 && dt != QP_DT_INT32 &&
        dt != QP_DT_INT64)
        return qp_error(QP_ERR_UNSUPPORTED,
                        "Range: dtype %s is not supported (supported: float32, float64, int16, "
                        "int32, int64)",
                        qp_dtype_name(dt));
    for (int i = 0; i < 3; i++) {
        if (v[i]->dtype != dt) return qp_error(QP_ERR_SHAPE, "Range: inputs must share one dtype");
        if (qp_shape_numel(&v[i]->shape) != 1)
            return qp_error(QP_ERR_SHAPE, "Range: '%s' must be a scalar", names[i]);
        if (!v[i]->data)
            return qp_error(
                QP_ERR_UNSUPPORTED,
                "Range: input '%s' is computed at run time; data-dependent output shape is not supported",
                names[i]);
    }
    double n;
    if (qp_ops_is_float(dt)) {
        double s = qp_ops_load_f64(v[0]->data, dt, 0), l = qp_ops_load_f64(v[1]->data, dt, 0),
               d = qp_ops_load_f64(v[2]->data, dt, 0);
        if (d == 0 || d != d) return qp_error(QP_ERR_INVALID_MODEL, "Range: delta must be non-zero");
        n = ceil((l - s) / d);
    } else {
        int64_t s = qp_value_get_int(v[0], 0), l = qp_value_get_int(v[1], 0), d = qp_value_get_int(v[2], 0);
        if (d == 0) return qp_error(QP_ERR_INVALID_MODEL, "Range: delta must be non-zero");
        double span = (double)l - (double)s;
        if (fabs(span) > 9e15) { /* beyond that the length is far too big anyway */
            n = ceil(span / (double)d);
        } else { /* exact ceiling division */
            int64_t ispan = l - s, q = ispan / d;
            if (ispan % d != 0 && ((ispan < 0) == (d < 0))) q++;
            n = (double)q;
        }
    }
    if (!(n > 0)) n = 0;
    if (n > (double)(INT64_C(1) << 40)) return qp_error(QP_ERR_SHAPE, "Range: %.0f elements is too many", n);
    *len = (int64_t)n;
    return QP_OK;
}

static qp_status range_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 3, 3, 1, 1);
    if (st != QP_OK) return st;
    int64_t len = 0;
    if ((st = range_length(ctx, &len)) != QP_OK) return st;
    qp_shape out = {.rank = 1, .dims = {len}};
    qp_value_set(ctx->outputs[0], ctx->inputs[0]->dtype, &out);
    return QP_OK;
}

static qp_status range_run(qp_op_context *ctx) {
    qp_value *y = ctx->outputs[0];
    int64_t n = qp_shape_numel(&y->shape);
    const qp_value *s = ctx->inputs[0], *d = ctx->inputs[2];
    if (qp_ops_is_float(y->dtype)) {
        double start = qp_ops_load_f64(s->data, s->dtype, 0), delta = qp_ops_load_f64(d->data, d->dtype, 0);
        for (int64_t i = 0; i < n; i++)
            qp_ops_store_f64(y->data, y->dtype, i, start + (double)i * delta);
    } else {
        int64_t start = qp_value_get_int(s, 0), delta = qp_value_get_int(d, 0);
        for (int64_t i = 0; i < n; i++) {
            int64_t v = (int64_t)((uint64_t)start + (uint64_t)i * (uint64_t)delta);
            switch (y->dtype) {
            case QP_DT_INT16: ((int16_t *)y->data)[i] = (int16_t)v; break;
            case QP_DT_INT32: ((int32_t *)y->data)[i] = (int32_t)v; break;
            default: ((int64_t *)y->data)[i] = v; break;
            }
        }
    }
    return QP_OK;
}
static const qp_op_def range_def = {"Range", "", range_infer, NULL, NULL, range_run};

/* ---------------------------------------------------------------------------------------------
 * DepthToSpace (DCR / CRD) and SpaceToDepth: one strided copy each over a 6-D view. */
static qp_status space_depth_infer(qp_op_context *ctx, int to_space) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if ((st = require_sized(ctx, x)) != QP_OK) return st;
    int64_t b = qp_node_attr_int(ctx->node, "blocksize", 0);
    if (b <= 0 || b > 65536)
        return qp_error(QP_ERR_INVALID_MODEL, "%s: 'blocksize' %lld must be in 1..65536", ctx->node->op_type,
                        (long long)b);
    if (x->shape.rank != 4) return qp_error(QP_ERR_SHAPE, "%s: input must be 4-D (NCHW)", ctx->node->op_type);
    const int64_t *d = x->shape.dims;
    qp_shape out = {.rank = 4};
    if (to_space) {
        const char *mode = qp_node_attr_string(ctx->node, "mode", "DCR");
        if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
            return qp_error(QP_ERR_INVALID_MODEL, "DepthToSpace: mode must be \"DCR\" or \"CRD\", got \"%s\"",
                            mode);
        if (d[1] % (b * b))
            return qp_error(QP_ERR_SHAPE, "DepthToSpace: channels %lld not divisible by blocksize^2",
                            (long long)d[1]);
        out.dims[0] = d[0], out.dims[1] = d[1] / (b * b), out.dims[2] = d[2] * b, out.dims[3] = d[3] * b;
    } else {
        if (d[2] % b || d[3] % b)
            return qp_error(QP_ERR_SHAPE, "SpaceToDepth: H and W must be divisible by blocksize %lld",
                            (long long)b);
        out.dims[0] = d[0], out.dims[1] = d[1] * b * b, out.dims[2] = d[2] / b, out.dims[3] = d[3] / b;
    }
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}

static qp_status space_depth_run(qp_op_context *ctx, int to_space) {
    const qp_value *x = ctx->inputs[0];
    qp_value *y = ctx->outputs[0];
    int64_t b = qp_node_attr_int(ctx->node, "blocksize", 1);
    const int64_t *d = x->shape.dims;
    int64_t sW = 1, sH = d[3], sC = d[2] * d[3], sN = d[1] * sC;
    int64_t dims[6], strides[6];
    if (to_space) {
        int64_t c_out = y->shape.dims[1];
        /* Output viewed as [N, C', H, b, W, b]. */
        int64_t v_dims[6] = {d[0], c_out, d[2], b, d[3], b};
        int crd = strcmp(qp_node_attr_string(ctx->node, "mode", "DCR"), "CRD") == 0;
        int64_t v_str_dcr[6] = {sN, sC, sH, b * c_out * sC, sW, c_out * sC};
        int64_t v_str_crd[6] = {sN, b * b * sC, sH, b * sC, sW, sC};
        memcpy(dims, v_dims, sizeof dims);
        memcpy(strides, crd ? v_str_crd : v_str_dcr, sizeof strides);
    } else {
        /* Output viewed as [N, b, b, C, H/b, W/b]. */
        int64_t v_dims[6] = {d[0], b, b, d[1], d[2] / b, d[3] / b};
        int64_t v_str[6] = {sN, sH, sW, sC, b * sH, b * sW};
        memcpy(dims, v_dims, sizeof dims);
        memcpy(strides, v_str, sizeof strides);
    }
    qp_ops_strided_copy(y->data, x->data, qp_dtype_size(x->dtype), 6, dims, strides, 0, ctx->n_threads);
    return QP_OK;
}
static qp_status d2s_infer(qp_op_context *ctx) {
    return space_depth_infer(ctx, 1);
}
static qp_status d2s_run(qp_op_context *ctx) {
    return space_depth_run(ctx, 1);
}
static qp_status s2d_infer(qp_op_context *ctx) {
    return space_depth_infer(ctx, 0);
}
static qp_status s2d_run(qp_op_context *ctx) {
    return space_depth_run(ctx, 0);
}
static const qp_op_def depth_to_space_def = {"DepthToSpace", "", d2s_infer, NULL, NULL, d2s_run};
static const qp_op_def space_to_depth_def = {"SpaceToDepth", "", s2d_infer, NULL, NULL, s2d_run};

const qp_op_def *const qp_ops_shape[] = {
    &reshape_def,
    &flatten_def,
    &transpose_def,
    &concat_def,
    &split_def,
    &slice_def,
    &squeeze_def,
    &unsqueeze_def,
    &pad_def,
    &shape_def,
    &size_def,
    &gather_def,
    &gather_elements_def,
    &identity_def,
    &dropout_def,
    &constant_def,
    &constant_of_shape_def,
    &cast_def,
    &cast_like_def,
    &expand_def,
    &tile_def,
    &range_def,
    &depth_to_space_def,
    &space_to_depth_def,
    &qp_op_gather_nd,
    &qp_op_scatter_nd,
    &qp_op_scatter_elements,
    &qp_op_scatter,
    &qp_op_one_hot,
    &qp_op_trilu,
    &qp_op_eye_like,
    NULL,
};
