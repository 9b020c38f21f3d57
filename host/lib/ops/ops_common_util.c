/* ops_common_util.c — helpers behind ops_common_util.h: constant inputs, broadcasting, strided copies,
 * parallel maps. */
#include "ops/ops_common_util.h"

#include <math.h>
#include <string.h>

#include "kernels/fp32/f32_kernels.h"

/* Below this many elements per thread, waking threads costs more than it saves. */
#define QP_OPS_GRAIN 32768

qp_status qp_ops_check_arity(const qp_op_context *ctx, int min_in, int max_in, int min_out, int max_out) {
    const char *op = ctx->node ? ctx->node->op_type : "op";
    if (ctx->n_inputs < min_in || ctx->n_inputs > max_in)
        return qp_error(QP_ERR_INVALID_MODEL, "%s takes %d to %d inputs, node has %d", op, min_in, max_in,
                        ctx->n_inputs);
    for (int i = 0; i < min_in; i++)
        if (!ctx->inputs[i]) return qp_error(QP_ERR_INVALID_MODEL, "%s: required input %d is missing", op, i);
    if (ctx->n_outputs < min_out || ctx->n_outputs > max_out)
        return qp_error(QP_ERR_INVALID_MODEL, "%s has %d to %d outputs, node has %d", op, min_out, max_out,
                        ctx->n_outputs);
    return QP_OK;
}

int qp_ops_is_float(qp_dtype dt) {
    return dt == QP_DT_FLOAT || dt == QP_DT_DOUBLE;
}

int qp_ops_is_signed_int(qp_dtype dt) {
    return dt == QP_DT_INT8 || dt == QP_DT_INT16 || dt == QP_DT_INT32 || dt == QP_DT_INT64;
}

int qp_ops_is_unsigned_int(qp_dtype dt) {
    return dt == QP_DT_UINT8 || dt == QP_DT_UINT16 || dt == QP_DT_UINT32 || dt == QP_DT_UINT64;
}

int qp_ops_is_int(qp_dtype dt) {
    return qp_ops_is_signed_int(dt) || qp_ops_is_unsigned_int(dt);
}

int qp_ops_is_numeric(qp_dtype dt) {
    return qp_ops_is_float(dt) || qp_ops_is_int(dt);
}

double qp_ops_load_f64(const void *p, qp_dtype dt, int64_t i) {
    switch (dt) {
    case QP_DT_FLOAT: return ((const float *)p)[i];
    case QP_DT_DOUBLE: return ((const double *)p)[i];
    case QP_DT_INT8: return ((const int8_t *)p)[i];
    case QP_DT_UINT8:
    case QP_DT_BOOL: return ((const uint8_t *)p)[i];
    case QP_DT_INT16: return ((const int16_t *)p)[i];
    case QP_DT_UINT16: return ((const uint16_t *)p)[i];
    case QP_DT_INT32: return ((const int32_t *)p)[i];
    case QP_DT_UINT32: return ((const uint32_t *)p)[i];
    case QP_DT_INT64: return (double)((const int64_t *)p)[i];
    case QP_DT_UINT64: return (double)((const uint64_t *)p)[i];
    default: return 0.0;
    }
}

/* Saturating double -> integer conversion; C leaves out-of-range conversions undefined. */
static double clamp_trunc(double v, double lo, double hi) {
    if (v != v) return 0.0;
    v = trunc(v);
    return v < lo ? lo : v > hi ? hi : v;
}

void qp_ops_store_f64(void *p, qp_dtype dt, int64_t i, double v) {
    switch (dt) {
    case QP_DT_FLOAT: ((float *)p)[i] = (float)v; break;
    case QP_DT_DOUBLE: ((double *)p)[i] = v; break;
    case QP_DT_INT8: ((int8_t *)p)[i] = (int8_t)clamp_trunc(v, INT8_MIN, INT8_MAX); break;
    case QP_DT_UINT8: ((uint8_t *)p)[i] = (uint8_t)clamp_trunc(v, 0, UINT8_MAX); break;
    case QP_DT_BOOL: ((uint8_t *)p)[i] = v != 0.0; break;
    case QP_DT_INT16: ((int16_t *)p)[i] = (int16_t)clamp_trunc(v, INT16_MIN, INT16_MAX); break;
    case QP_DT_UINT16: ((uint16_t *)p)[i] = (uint16_t)clamp_trunc(v, 0, UINT16_MAX); break;
    case QP_DT_INT32: ((int32_t *)p)[i] = (int32_t)clamp_trunc(v, INT32_MIN, INT32_MAX); break;
    case QP_DT_UINT32: ((uint32_t *)p)[i] = (uint32_t)clamp_trunc(v, 0, UINT32_MAX); break;
    case QP_DT_INT64: {
        double t = clamp_trunc(v, -9223372036854775808.0, 9223372036854775807.0);
        ((int64_t *)p)[i] = t >= 9223372036854775807.0 ? INT64_MAX : (int64_t)t;
        break;
    }
    case QP_DT_UINT64: {
        double t = clamp_trunc(v, 0, 18446744073709551615.0);
        ((uint64_t *)p)[i] = t >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)t;
        break;
    }
    default: break;
    }
}

static qp_status const_input(const qp_op_context *ctx, int index, const char *name, int cap, int *n,
                             const qp_value **out) {
    const char *op = ctx->node ? ctx->node->op_type : "op";
    const qp_value *v = qp_ops_in(ctx, index);
    if (!v) return qp_error(QP_ERR_INVALID_MODEL, "%s: input %d ('%s') is missing", op, index, name);
    if (v->shape.rank > 1)
        return qp_error(QP_ERR_SHAPE, "%s: input '%s' must be a scalar or 1-D, got rank %d", op, name,
                        v->shape.rank);
    int64_t numel = qp_shape_numel(&v->shape);
    if (numel < 0) return qp_error(QP_ERR_UNSUPPORTED, "%s: input '%s' has an unknown length", op, name);
    if (numel > cap)
        return qp_error(QP_ERR_UNSUPPORTED, "%s: input '%s' has %lld values; qpipe handles at most %d", op,
                        name, (long long)numel, cap);
    if (numel > 0 && !v->data)
        return qp_error(
            QP_ERR_UNSUPPORTED,
            "%s: input '%s' is computed at run time; data-dependent output shape is not supported "
            "(it must be an initializer or fold to a constant)",
            op, name);
    *n = (int)numel;
    *out = v;
    return QP_OK;
}

qp_status qp_ops_const_ints(const qp_op_context *ctx, int index, const char *name, int64_t *out, int cap,
                            int *n) {
    const qp_value *v;
    qp_status st = const_input(ctx, index, name, cap, n, &v);
    if (st != QP_OK) return st;
    if (v->dtype != QP_DT_INT64 && v->dtype != QP_DT_INT32)
        return qp_error(QP_ERR_SHAPE, "%s: input '%s' must be int64 or int32, got %s",
                        ctx->node ? ctx->node->op_type : "op", name, qp_dtype_name(v->dtype));
    for (int i = 0; i < *n; i++)
        out[i] = qp_value_get_int(v, i);
    return QP_OK;
}

qp_status qp_ops_const_floats(const qp_op_context *ctx, int index, const char *name, double *out, int cap,
                              int *n) {
    const qp_value *v;
    qp_status st = const_input(ctx, index, name, cap, n, &v);
    if (st != QP_OK) return st;
    if (!qp_ops_is_float(v->dtype))
        return qp_error(QP_ERR_UNSUPPORTED, "%s: input '%s' must be float32 or float64, got %s",
                        ctx->node ? ctx->node->op_type : "op", name, qp_dtype_name(v->dtype));
    for (int i = 0; i < *n; i++)
        out[i] = qp_ops_load_f64(v->data, v->dtype, i);
    return QP_OK;
}

qp_status qp_ops_check_output_shape(const qp_op_context *ctx, const qp_shape *shape) {
    const int64_t limit = INT64_C(1) << 48;
    int64_t n = 1;
    for (int d = 0; d < shape->rank; d++) {
        int64_t v = shape->dims[d];
        if (v < 0 || v > limit || (v > 0 && n > limit / v)) {
            char buf[160];
            return qp_error(QP_ERR_SHAPE, "%s: output shape %s is negative or too large",
                            ctx->node ? ctx->node->op_type : "op", qp_shape_str(shape, buf, sizeof buf));
        }
        n *= v;
    }
    return QP_OK;
}

qp_status qp_ops_normalize_axes(int64_t *axes, int n, int rank, const char *what) {
    for (int i = 0; i < n; i++) {
        int64_t a = axes[i];
        if (a < -rank || a >= rank)
            return qp_error(QP_ERR_INVALID_MODEL, "%s: axis %lld out of range for rank %d", what,
                            (long long)a, rank);
        axes[i] = a < 0 ? a + rank : a;
        for (int j = 0; j < i; j++)
            if (axes[j] == axes[i])
                return qp_error(QP_ERR_INVALID_MODEL, "%s: axis %lld appears twice", what, (long long)a);
    }
    return QP_OK;
}

qp_status qp_ops_broadcast_shapes(const qp_shape *const *shapes, int n, qp_shape *out) {
    qp_shape acc = *shapes[0];
    for (int i = 1; i < n; i++) {
        qp_status st = qp_broadcast_shape(&acc, shapes[i], &acc);
        if (st != QP_OK) return st;
    }
    *out = acc;
    return QP_OK;
}

void qp_ops_bcast_init(qp_ops_bcast *b, const qp_shape *out, const qp_shape *const *ins, int n_in) {
    memset(b, 0, sizeof *b);
    b->n_in = n_in;
    b->numel = qp_shape_numel(out);
    int present[QP_MAX_RANK][QP_OPS_MAX_BCAST_INPUTS];
    int kept = 0;
    for (int d = 0; d < out->rank; d++) {
        int64_t od = out->dims[d];
        if (od == 1) continue; /* contributes nothing to any offset */
        int flags[QP_OPS_MAX_BCAST_INPUTS];
        for (int k = 0; k < n_in; k++) {
            int ia = d - (out->rank - ins[k]->rank);
            int64_t id = ia >= 0 ? ins[k]->dims[ia] : 1;
            flags[k] = id != 1 || od == 0;
        }
        int same = kept > 0;
        for (int k = 0; same && k < n_in; k++)
            same = flags[k] == present[kept - 1][k];
        if (same) {
            b->dims[kept - 1] *= od;
        } else {
            b->dims[kept] = od;
            for (int k = 0; k < n_in; k++)
                present[kept][k] = flags[k];
            kept++;
        }
    }
    if (kept == 0) {
        b->dims[0] = 1;
        for (int k = 0; k < n_in; k++)
            present[0][k] = 0;
        kept = 1;
    }
    b->rank = kept;
    for (int k = 0; k < n_in; k++) {
        int64_t acc = 1;
        for (int d = kept - 1; d >= 0; d--) {
            b->strides[k][d] = present[d][k] ? acc : 0;
            if (present[d][k]) acc *= b->dims[d];
        }
        b->inner_stride[k] = b->strides[k][kept - 1];
    }
}

typedef struct bcast_job {
    const qp_ops_bcast *b;
    qp_ops_segment_fn fn;
    void *user;
} bcast_job;

static void bcast_range(void *user, int64_t begin, int64_t end) {
    const bcast_job *job = user;
    const qp_ops_bcast *b = job->b;
    int r = b->rank, n_in = b->n_in;
    int64_t idx[QP_MAX_RANK], off[QP_OPS_MAX_BCAST_INPUTS] = {0};
    int64_t rem = begin;
    for (int d = r - 1; d >= 0; d--) {
        idx[d] = rem % b->dims[d];
        rem /= b->dims[d];
    }
    for (int k = 0; k < n_in; k++)
        for (int d = 0; d < r; d++)
            off[k] += idx[d] * b->strides[k][d];
    int64_t pos = begin;
    while (pos < end) {
        int last = r - 1;
        int64_t seg = b->dims[last] - idx[last];
        if (seg > end - pos) seg = end - pos;
        job->fn(job->user, b, pos, off, seg);
        pos += seg;
        if (pos >= end) break;
        idx[last] += seg;
        for (int k = 0; k < n_in; k++)
            off[k] += seg * b->strides[k][last];
        for (int d = last; d > 0 && idx[d] == b->dims[d]; d--) {
            for (int k = 0; k < n_in; k++)
                off[k] += b->strides[k][d - 1] - b->dims[d] * b->strides[k][d];
            idx[d] = 0;
            idx[d - 1]++;
        }
    }
}

void qp_ops_bcast_run(const qp_ops_bcast *b, int n_threads, qp_ops_segment_fn fn, void *user) {
    if (b->numel <= 0) return;
    bcast_job job = {b, fn, user};
    qp_ops_parallel(n_threads, b->numel, QP_OPS_GRAIN, bcast_range, &job);
}

void qp_ops_shape_strides(const qp_shape *shape, int64_t *strides) {
    int64_t acc = 1;
    for (int d = shape->rank - 1; d >= 0; d--) {
        strides[d] = acc;
        acc *= shape->dims[d];
    }
}

typedef struct copy_job {
    unsigned char *dst;
    const unsigned char *src;
    size_t esize;
    int rank;
    int64_t dims[QP_OPS_MAX_VIEW_RANK];
    int64_t strides[QP_OPS_MAX_VIEW_RANK];
    int64_t offset;
} copy_job;

static void copy_segment(const copy_job *j, int64_t pos, int64_t off, int64_t n) {
    int64_t s = j->strides[j->rank - 1];
    unsigned char *d = j->dst + (size_t)pos * j->esize;
    const unsigned char *src = j->src;
    if (s == 1) {
        memcpy(d, src + off * (int64_t)j->esize, (size_t)n * j->esize);
        return;
    }
    switch (j->esize) {
    case 1:
        for (int64_t i = 0; i < n; i++)
            d[i] = src[off + i * s];
        break;
    case 2: {
        uint16_t *o = (uint16_t *)d;
        const uint16_t *x = (const uint16_t *)src;
        for (int64_t i = 0; i < n; i++)
            o[i] = x[off + i * s];
        break;
    }
    case 4: {
        uint32_t *o = (uint32_t *)d;
        const uint32_t *x = (const uint32_t *)src;
        for (int64_t i = 0; i < n; i++)
            o[i] = x[off + i * s];
        break;
    }
    case 8: {
        uint64_t *o = (uint64_t *)d;
        const uint64_t *x = (const uint64_t *)src;
        for (int64_t i = 0; i < n; i++)
            o[i] = x[off + i * s];
        break;
    }
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy(d + (size_t)i * j->esize, src + (off + i * s) * (int64_t)j->esize, j->esize);
    }
}

static void copy_range(void *user, int64_t begin, int64_t end) {
    const copy_job *j = user;
    int r = j->rank;
    int64_t idx[QP_OPS_MAX_VIEW_RANK], off = j->offset, rem = begin;
    for (int d = r - 1; d >= 0; d--) {
        idx[d] = rem % j->dims[d];
        rem /= j->dims[d];
        off += idx[d] * j->strides[d];
    }
    int64_t pos = begin;
    while (pos < end) {
        int last = r - 1;
        int64_t seg = j->dims[last] - idx[last];
        if (seg > end - pos) seg = end - pos;
        copy_segment(j, pos, off, seg);
        pos += seg;
        if (pos >= end) break;
        idx[last] += seg;
        off += seg * j->strides[last];
        for (int d = last; d > 0 && idx[d] == j->dims[d]; d--) {
            off += j->strides[d - 1] - j->dims[d] * j->strides[d];
            idx[d] = 0;
            idx[d - 1]++;
        }
    }
}

void qp_ops_strided_copy(void *dst, const void *src, size_t esize, int rank, const int64_t *dims,
                         const int64_t *strides, int64_t offset, int n_threads) {
    copy_job j = {.dst = dst, .src = src, .esize = esize, .offset = offset};
    int64_t numel = 1;
    for (int d = 0; d < rank; d++)
        numel *= dims[d];
    if (numel <= 0) return;
    int kept = 0;
    for (int d = 0; d < rank; d++) {
        if (dims[d] == 1) continue;
        if (kept > 0 && j.strides[kept - 1] == strides[d] * dims[d]) {
            j.dims[kept - 1] *= dims[d];
            j.strides[kept - 1] = strides[d];
        } else {
            j.dims[kept] = dims[d];
            j.strides[kept] = strides[d];
            kept++;
        }
    }
    if (kept == 0) {
        j.dims[0] = 1;
        j.strides[0] = 1;
        kept = 1;
    }
    j.rank = kept;
    qp_ops_parallel(n_threads, numel, QP_OPS_GRAIN, copy_range, &j);
}

typedef struct map_job {
    const unsigned char *in;
    unsigned char *out;
    size_t in_esize, out_esize;
    qp_ops_map_fn fn;
    const void *params;
} map_job;

static void map_range(void *user, int64_t begin, int64_t end) {
    const map_job *m = user;
    m->fn(m->params, end - begin, m->in + (size_t)begin * m->in_esize, m->out + (size_t)begin * m->out_esize);
}

void qp_ops_map(int n_threads, int64_t n, const void *in, size_t in_esize, void *out, size_t out_esize,
                qp_ops_map_fn fn, const void *params) {
    if (n <= 0) return;
    map_job m = {in, out, in_esize, out_esize, fn, params};
    qp_ops_parallel(n_threads, n, QP_OPS_GRAIN, map_range, &m);
}

void qp_ops_parallel(int n_threads, int64_t n, int64_t grain, qp_range_fn fn, void *user) {
    if (n <= 0) return;
    int64_t max_threads = grain > 0 ? n / grain : n;
    if (max_threads < 1) max_threads = 1;
    if (n_threads > max_threads) n_threads = (int)max_threads;
    qp_parallel_for(n_threads, n, fn, user);
}

void qp_ops_copy(void *dst, const void *src, size_t n) {
    if (n > 0 && dst != src) memcpy(dst, src, n);
}

#define NODE_FMT "node '%s' (%s): "
#define NODE_ARGS(node) (node)->name ? (node)->name : "", (node)->op_type

qp_status qp_ops_spatial_attr(const qp_node *node, const char *name, int n, int64_t fallback,
                             int64_t min_value, int64_t *out) {
    int count = 0;
    const int64_t *v = qp_node_attr_ints(node, name, &count);
    for (int i = 0; i < n; i++) out[i] = fallback;
    if (!v) return QP_OK;
    if (count != n)
        return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "attribute '%s' has %d values, expected %d",
                        NODE_ARGS(node), name, count, n);
    for (int i = 0; i < n; i++) {
        if (v[i] < min_value)
            return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "attribute '%s'[%d] = %lld, must be >= %lld",
                            NODE_ARGS(node), name, i, (long long)v[i], (long long)min_value);
        out[i] = v[i];
    }
    return QP_OK;
}

qp_status qp_ops_auto_pad_attr(const qp_node *node, qp_f32_auto_pad *out) {
    const char *s = qp_node_attr_string(node, "auto_pad", "NOTSET");
    if (strcmp(s, "NOTSET") == 0 || s[0] == '\0') *out = QP_F32_AUTO_PAD_NOTSET;
    else if (strcmp(s, "SAME_UPPER") == 0) *out = QP_F32_AUTO_PAD_SAME_UPPER;
    else if (strcmp(s, "SAME_LOWER") == 0) *out = QP_F32_AUTO_PAD_SAME_LOWER;
    else if (strcmp(s, "VALID") == 0) *out = QP_F32_AUTO_PAD_VALID;
    else
        return qp_error(QP_ERR_INVALID_MODEL,
                        NODE_FMT "auto_pad '%s' (allowed: NOTSET, SAME_UPPER, SAME_LOWER, VALID)",
                        NODE_ARGS(node), s);
    return QP_OK;
}

