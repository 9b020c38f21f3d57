/* reduce.c — ONNX reductions (ReduceMean/Sum/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp), ArgMax/ArgMin,
 * CumSum and TopK. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/op.h"
#include "ops/ops_common_util.h"

typedef enum reduce_kind {
    R_SUM,
    R_MEAN,
    R_MAX,
    R_MIN,
    R_PROD,
    R_L1,
    R_L2,
    R_SUMSQ,
    R_LOGSUM,
    R_LOGSUMEXP,
    R_SUMEXP, /* internal second pass of LogSumExp */
} reduce_kind;

/* The input viewed as alternating kept/reduced groups of merged dims (size-1 dims dropped). */
typedef struct reduce_geom {
    int n_groups;
    int64_t size[QP_MAX_RANK];
    int64_t stride[QP_MAX_RANK];
    int is_reduced[QP_MAX_RANK];
    int64_t count; /* elements folded into each output */
    int64_t out_numel;
} reduce_geom;

/* Axes: an attribute before opset 18 (ReduceSum: before 13), an optional input after. */
static qp_status reduce_axes(const qp_op_context *ctx, int rank, int reduced[QP_MAX_RANK], int *identity) {
    int64_t axes[QP_MAX_RANK * 2];
    int n = 0;
    qp_status st;
    int from_input = ctx->opset >= (strcmp(ctx->node->op_type, "ReduceSum") == 0 ? 13 : 18);
    if (from_input) {
        if (qp_ops_in(ctx, 1) && (st = qp_ops_const_ints(ctx, 1, "axes", axes, QP_MAX_RANK * 2, &n)) != QP_OK)
            return st;
    } else {
        const int64_t *a = qp_node_attr_ints(ctx->node, "axes", &n);
        if (n > QP_MAX_RANK * 2)
            return qp_error(QP_ERR_INVALID_MODEL, "%s: too many axes", ctx->node->op_type);
        if (n) memcpy(axes, a, sizeof(int64_t) * (size_t)n);
    }
    if ((st = qp_ops_normalize_axes(axes, n, rank, ctx->node->op_type)) != QP_OK) return st;
    *identity = 0;
    for (int d = 0; d < rank; d++)
        reduced[d] = n == 0;
    if (n == 0 && from_input && qp_node_attr_int(ctx->node, "noop_with_empty_axes", 0)) {
        *identity = 1;
        for (int d = 0; d < rank; d++)
            reduced[d] = 0;
    }
    for (int i = 0; i < n; i++)
        reduced[axes[i]] = 1;
    return QP_OK;
}

static void reduce_geometry(const qp_shape *s, const int *reduced, reduce_geom *g) {
    int64_t strides[QP_MAX_RANK];
    qp_ops_shape_strides(s, strides);
    g->n_groups = 0;
    g->count = 1;
    g->out_numel = 1;
    for (int d = 0; d < s->rank; d++) {
        int64_t n = s->dims[d];
        if (reduced[d])
            g->count *= n;
        else
            g->out_numel *= n;
        if (n == 1) continue;
        int k = g->n_groups;
        if (k > 0 && g->is_reduced[k - 1] == reduced[d]) {
            g->size[k - 1] *= n;
            g->stride[k - 1] = strides[d];
        } else {
            g->size[k] = n;
            g->stride[k] = strides[d];
            g->is_reduced[k] = reduced[d];
            g->n_groups++;
        }
    }
}

static qp_status reduce_infer_common(qp_op_context *ctx, int float_only) {
    int from_input = ctx->opset >= (strcmp(ctx->node->op_type, "ReduceSum") == 0 ? 13 : 18);
    qp_status st = qp_ops_check_arity(ctx, 1, from_input ? 2 : 1, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if (!qp_ops_is_numeric(x->dtype) || (float_only && !qp_ops_is_float(x->dtype)))
        return qp_error(QP_ERR_UNSUPPORTED, "%s: dtype %s is not supported (supported: float32, float64%s)",
                        ctx->node->op_type, qp_dtype_name(x->dtype),
                        float_only ? "" : " and the integer types");
    int reduced[QP_MAX_RANK], identity;
    if ((st = reduce_axes(ctx, x->shape.rank, reduced, &identity)) != QP_OK) return st;
    int keepdims = qp_node_attr_int(ctx->node, "keepdims", 1) != 0;
    qp_shape out = {.rank = 0};
    for (int d = 0; d < x->shape.rank; d++) {
        if (!reduced[d])
            out.dims[out.rank++] = x->shape.dims[d];
        else if (keepdims)
            out.dims[out.rank++] = 1;
    }
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}

/* Accumulators are double: float32 sums stay accurate, int values up to 2^53 exact. */
static double reduce_init(reduce_kind k) {
    switch (k) {
    case R_PROD: return 1.0;
    case R_MAX: return -INFINITY;
    case R_MIN: return INFINITY;
    default: return 0.0;
    }
}

static double reduce_finish(reduce_kind k, double a, int64_t count, double shift) {
    switch (k) {
    case R_MEAN: return a / (double)count;
    case R_L2: return sqrt(a);
    case R_LOGSUM: return log(a);
    case R_SUMEXP: return isinf(shift) ? shift : log(a) + shift;
    default: return a;
    }
}

/* Every generated accumulator reads its input through x (a T pointer). */
#define XV(k) ((double)x[k])

/* Sums of a run use four partial accumulators: independent add chains keep the FPU busy (the
 * grouping is fixed, so results do not depend on threads). */
#define SUM4(EXPR_K)                                                                                         \
    do {                                                                                                     \
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                                               \
        int64_t i = 0;                                                                                       \
        for (; i + 4 <= n; i += 4) {                                                                         \
            {                                                                                                \
                int64_t ix = i;                                                                              \
                s0 += EXPR_K;                                                                                \
            }                                                                                                \
            {                                                                                                \
                int64_t ix = i + 1;                                                                          \
                s1 += EXPR_K;                                                                                \
            }                                                                                                \
            {                                                                                                \
                int64_t ix = i + 2;                                                                          \
                s2 += EXPR_K;                                                                                \
            }                                                                                                \
            {                                                                                                \
                int64_t ix = i + 3;                                                                          \
                s3 += EXPR_K;                                                                                \
            }                                                                                                \
        }                                                                                                    \
        for (; i < n; i++) {                                                                                 \
            int64_t ix = i;                                                                                  \
            s0 += EXPR_K;                                                                                    \
        }                                                                                                    \
        a += (s0 + s1) + (s2 + s3);                                                                          \
    } while (0)

/* acc (one value) folds a contiguous run of n inputs. */
#define ACC_SCALAR_CASES                                                                                     \
    case R_SUM:                                                                                              \
    case R_MEAN:                                                                                             \
    case R_LOGSUM: SUM4(XV(ix)); break;                                                                      \
    case R_L1: SUM4(fabs(XV(ix))); break;                                                                    \
    case R_L2:                                                                                               \
    case R_SUMSQ: SUM4(XV(ix) * XV(ix)); break;                                                              \
    case R_PROD:                                                                                             \
        for (int64_t i = 0; i < n; i++)                                                                      \
            a *= XV(i);                                                                                      \
        break;                                                                                               \
    case R_MAX:                                                                                              \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            double v = XV(i);                                                                                \
            if (v > a || v != v) a = v;                                                                      \
        }                                                                                                    \
        break;                                                                                               \
    case R_MIN:                                                                                              \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            double v = XV(i);                                                                                \
            if (v < a || v != v) a = v;                                                                      \
        }                                                                                                    \
        break;                                                                                               \
    case R_SUMEXP: SUM4(exp(XV(ix) - shift)); break;                                                         \
    default: break;

/* acc[j] folds input j of a contiguous run of n (one input per output). */
#define ACC_VECTOR_CASES                                                                                     \
    case R_SUM:                                                                                              \
    case R_MEAN:                                                                                             \
    case R_LOGSUM:                                                                                           \
        for (int64_t i = 0; i < n; i++)                                                                      \
            acc[i] += XV(i);                                                                                 \
        break;                                                                                               \
    case R_L1:                                                                                               \
        for (int64_t i = 0; i < n; i++)                                                                      \
            acc[i] += fabs(XV(i));                                                                           \
        break;                                                                                               \
    case R_L2:                                                                                               \
    case R_SUMSQ:                                                                                            \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            double v = XV(i);                                                                                \
            acc[i] += v * v;                                                                                 \
        }                                                                                                    \
        break;                                                                                               \
    case R_PROD:                                                                                             \
        for (int64_t i = 0; i < n; i++)                                                                      \
            acc[i] *= XV(i);                                                                                 \
        break;                                                                                               \
    case R_MAX:                                                                                              \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            double v = XV(i);                                                                                \
            if (v > acc[i] || v != v) acc[i] = v;                                                            \
        }                                                                                                    \
        break;                                                                                               \
    case R_MIN:                                                                                              \
        for (int64_t i = 0; i < n; i++) {                                                                    \
            double v = XV(i);                                                                                \
            if (v < acc[i] || v != v) acc[i] = v;                                                            \
        }                                                                                                    \
        break;                                                                                               \
    case R_SUMEXP:                                                                                           \
        for (int64_t i = 0; i < n; i++)                                                                      \
            acc[i] += exp(XV(i) - shift[i]);                                                                 \
        break;                                                                                               \
    default:                                                                                                 \
        break;

#define X_ACC(S, T, DT, W)                                                                                   \
    static double acc_scalar_##S(reduce_kind k, const void *px, int64_t n, double a, double shift) {         \
        const T *x = px;                                                                                     \
        switch (k) { ACC_SCALAR_CASES }                                                                      \
        return a;                                                                                            \
    }                                                                                                        \
    static void acc_vector_##S(reduce_kind k, const void *px, int64_t n, double *acc, const double *shift) { \
        const T *x = px;                                                                                     \
        switch (k) { ACC_VECTOR_CASES }                                                                      \
    }
QP_OPS_FOR_NUMERIC(X_ACC)

typedef double (*acc_scalar_fn)(reduce_kind, const void *, int64_t, double, double);
typedef void (*acc_vector_fn)(reduce_kind, const void *, int64_t, double *, const double *);
#define E_ACC_S(S, T, DT, W) [DT] = acc_scalar_##S,
#define E_ACC_V(S, T, DT, W) [DT] = acc_vector_##S,
static const acc_scalar_fn acc_scalar_table[QP_OPS_DT_COUNT] = {QP_OPS_FOR_NUMERIC(E_ACC_S)};
static const acc_vector_fn acc_vector_table[QP_OPS_DT_COUNT] = {QP_OPS_FOR_NUMERIC(E_ACC_V)};

#define VEC_BLOCK 256

typedef struct reduce_job {
    const reduce_geom *g;
    reduce_kind kind;
    const unsigned char *x;
    unsigned char *y;
    qp_dtype dt;
    size_t es;
    int kept[QP_MAX_RANK], n_kept; /* group indices */
    int red[QP_MAX_RANK], n_red;
    int64_t inner;    /* >1: last group kept -> vector mode */
    int64_t red_last; /* scalar mode: size of the contiguous last reduced group */
} reduce_job;

/* Offset of output number `o` within the input (kept groups only), outer part of vector mode
 * excluded when `skip_last` is set. */
static int64_t kept_offset(const reduce_job *j, int64_t o, int skip_last) {
    int64_t off = 0;
    for (int i = j->n_kept - 1 - skip_last; i >= 0; i--) {
        const reduce_geom *g = j->g;
        int gi = j->kept[i];
        off += (o % g->size[gi]) * g->stride[gi];
        o /= g->size[gi];
    }
    return off;
}

/* Walks every combination of the reduced groups (except `skip_last`: the contiguous last one)
 * calling the accumulator at each base offset. */
#define FOR_EACH_REDUCED(j, n_walk, base, BODY)                                                              \
    do {                                                                                                     \
        int64_t ridx_[QP_MAX_RANK] = {0}, roff_ = 0;                                                         \
        for (;;) {                                                                                           \
            int64_t base = roff_;                                                                            \
            BODY;                                                                                            \
            int w_ = (n_walk)-1;                                                                             \
            for (; w_ >= 0; w_--) {                                                                          \
                int gi_ = (j)->red[w_];                                                                      \
                roff_ += (j)->g->stride[gi_];                                                                \
                if (++ridx_[w_] < (j)->g->size[gi_]) break;                                                  \
                roff_ -= (j)->g->stride[gi_] * (j)->g->size[gi_];                                            \
                ridx_[w_] = 0;                                                                               \
            }                                                                                                \
            if (w_ < 0) break;                                                                               \
        }                                                                                                    \
    } while (0)

static void reduce_range(void *user, int64_t begin, int64_t end) {
    const reduce_job *j = user;
    acc_scalar_fn fs = acc_scalar_table[j->dt];
    acc_vector_fn fv = acc_vector_table[j->dt];
    const reduce_geom *g = j->g;
    if (j->inner > 1) {
        /* Items are (outer kept index, block of the inner kept group). */
        int64_t blocks = (j->inner + VEC_BLOCK - 1) / VEC_BLOCK;
        for (int64_t item = begin; item < end; item++) {
            int64_t o = item / blocks, b0 = (item % blocks) * VEC_BLOCK;
            int64_t n = j->inner - b0 < VEC_BLOCK ? j->inner - b0 : VEC_BLOCK;
            int64_t off = kept_offset(j, o, 1) + b0; /* inner group has stride 1 */
            double acc[VEC_BLOCK], shift[VEC_BLOCK];
            reduce_kind k = j->kind == R_LOGSUMEXP ? R_MAX : j->kind;
            for (int pass = 0; pass < (j->kind == R_LOGSUMEXP ? 2 : 1); pass++) {
                if (pass == 1) {
                    memcpy(shift, acc, sizeof(double) * (size_t)n);
                    k = R_SUMEXP;
                }
                for (int64_t i = 0; i < n; i++)
                    acc[i] = reduce_init(k);
                if (g->count > 0)
                    FOR_EACH_REDUCED(j, j->n_red, roff,
                                     fv(k, j->x + (size_t)(off + roff) * j->es, n, acc, shift));
            }
            for (int64_t i = 0; i < n; i++)
                qp_ops_store_f64(j->y, j->dt, o * j->inner + b0 + i,
                                 reduce_finish(k, acc[i], g->count, k == R_SUMEXP ? shift[i] : 0.0));
        }
        return;
    }
    for (int64_t o = begin; o < end; o++) {
        int64_t off = kept_offset(j, o, 0);
        double a = 0, shift = 0;
        reduce_kind k = j->kind == R_LOGSUMEXP ? R_MAX : j->kind;
        for (int pass = 0; pass < (j->kind == R_LOGSUMEXP ? 2 : 1); pass++) {
            if (pass == 1) {
                shift = a;
                k = R_SUMEXP;
            }
            a = reduce_init(k);
            if (g->count > 0)
                FOR_EACH_REDUCED(j, j->n_red - 1, roff,
                                 a = fs(k, j->x + (size_t)(off + roff) * j->es, j->red_last, a, shift));
        }
        qp_ops_store_f64(j->y, j->dt, o, reduce_finish(k, a, g->count, shift));
    }
}

static qp_status reduce_run_common(qp_op_context *ctx, reduce_kind kind) {
    const qp_value *x = ctx->inputs[0];
    qp_value *y = ctx->outputs[0];
    int reduced[QP_MAX_RANK], identity;
    qp_status st = reduce_axes(ctx, x->shape.rank, reduced, &identity);
    if (st != QP_OK) return st;
    if (identity) {
        qp_ops_copy(y->data, x->data,
                    y->nbytes ? y->nbytes : (size_t)qp_shape_numel(&x->shape) * qp_dtype_size(x->dtype));
        return QP_OK;
    }
    reduce_geom g;
    reduce_geometry(&x->shape, reduced, &g);
    if (g.out_numel <= 0) return QP_OK;
    reduce_job j = {
        .g = &g, .kind = kind, .x = x->data, .y = y->data, .dt = x->dtype, .es = qp_dtype_size(x->dtype)};
    for (int i = 0; i < g.n_groups; i++) {
        if (g.is_reduced[i])
            j.red[j.n_red++] = i;
        else
            j.kept[j.n_kept++] = i;
    }
    if (g.count > 0 && j.n_red == 0) { /* reducing only size-1 dims: every output sees one input */
        g.size[g.n_groups] = 1;
        g.stride[g.n_groups] = 1;
        g.is_reduced[g.n_groups] = 1;
        j.red[j.n_red++] = g.n_groups++;
    }
    int64_t items;
    if (g.n_groups > 0 && !g.is_reduced[g.n_groups - 1] && g.size[g.n_groups - 1] > 1) {
        j.inner = g.size[g.n_groups - 1];
        items = (g.out_numel / j.inner) * ((j.inner + VEC_BLOCK - 1) / VEC_BLOCK);
    } else {
        j.inner = 1;
        j.red_last = j.n_red > 0 ? g.size[j.red[j.n_red - 1]] : 0;
        items = g.out_numel;
    }
    int64_t work_per_item = g.count > 0 ? g.count : 1;
    qp_ops_parallel(ctx->n_threads, items, 32768 / work_per_item + 1, reduce_range, &j);
    return QP_OK;
}

#define REDUCE_OP(NAME, TYPE, KIND, FLOAT_ONLY)                                                              \
    static qp_status NAME##_infer(qp_op_context *ctx) {                                                      \
        return reduce_infer_common(ctx, FLOAT_ONLY);                                                         \
    }                                                                                                        \
    static qp_status NAME##_run(qp_op_context *ctx) {                                                        \
        return reduce_run_common(ctx, KIND);                                                                 \
    }                                                                                                        \
    static const qp_op_def NAME##_def = {TYPE, "", NAME##_infer, NULL, NULL, NAME##_run};

REDUCE_OP(reduce_sum, "ReduceSum", R_SUM, 0)
REDUCE_OP(reduce_mean, "ReduceMean", R_MEAN, 0)
REDUCE_OP(reduce_max, "ReduceMax", R_MAX, 0)
REDUCE_OP(reduce_min, "ReduceMin", R_MIN, 0)
REDUCE_OP(reduce_prod, "ReduceProd", R_PROD, 0)
REDUCE_OP(reduce_l1, "ReduceL1", R_L1, 0)
REDUCE_OP(reduce_l2, "ReduceL2", R_L2, 0)
REDUCE_OP(reduce_sum_square, "ReduceSumSquare", R_SUMSQ, 0)
REDUCE_OP(reduce_log_sum, "ReduceLogSum", R_LOGSUM, 1)
REDUCE_OP(reduce_log_sum_exp, "ReduceLogSumExp", R_LOGSUMEXP, 1)

/* ---------------------------------------------------------------------------------------------
 * ArgMax / ArgMin along one axis, int64 output; ties pick the first index unless
 * select_last_index. */
static qp_status arg_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, 1, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if (!qp_ops_is_numeric(x->dtype))
        return qp_error(QP_ERR_UNSUPPORTED,
                        "%s: dtype %s is not supported (supported: float32, float64 and the "
                        "integer types)",
                        ctx->node->op_type, qp_dtype_name(x->dtype));
    int axis = 0, r = x->shape.rank;
    if (r == 0) return qp_error(QP_ERR_SHAPE, "%s: input must have rank >= 1", ctx->node->op_type);
    if ((st = qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", 0), r, &axis, ctx->node)) != QP_OK)
        return st;
    if (x->shape.dims[axis] == 0)
        return qp_error(QP_ERR_SHAPE, "%s: cannot take the index over an empty axis", ctx->node->op_type);
    int keepdims = qp_node_attr_int(ctx->node, "keepdims", 1) != 0;
    qp_shape out = {.rank = 0};
    for (int d = 0; d < r; d++) {
        if (d != axis)
            out.dims[out.rank++] = x->shape.dims[d];
        else if (keepdims)
            out.dims[out.rank++] = 1;
    }
    qp_value_set(ctx->outputs[0], QP_DT_INT64, &out);
    return QP_OK;
}

typedef void (*arg_fn)(const void *x, int64_t outer, int64_t dim, int64_t inner, int is_max, int last,
                       int64_t *out);

/* Better-than test: strict for the first index, non-strict for the last. */
#define X_ARG(S, T, DT, W)                                                                                   \
    static void arg_##S(const void *px, int64_t outer, int64_t dim, int64_t inner, int is_max, int last,     \
                        int64_t *out) {                                                                      \
        const T *x = px;                                                                                     \
        for (int64_t o = 0; o < outer; o++)                                                                  \
            for (int64_t b0 = 0; b0 < inner; b0 += VEC_BLOCK) {                                              \
                int64_t n = inner - b0 < VEC_BLOCK ? inner - b0 : VEC_BLOCK;                                 \
                T best[VEC_BLOCK];                                                                           \
                int64_t *idx = out + o * inner + b0;                                                         \
                const T *row = x + o * dim * inner + b0;                                                     \
                for (int64_t i = 0; i < n; i++) {                                                            \
                    best[i] = row[i];                                                                        \
                    idx[i] = 0;                                                                              \
                }                                                                                            \
                for (int64_t k = 1; k < dim; k++) {                                                          \
                    const T *r = row + k * inner;                                                            \
                    for (int64_t i = 0; i < n; i++) {                                                        \
                        T v = r[i];                                                                          \
                        int better = is_max ? (last ? v >= best[i] : v > best[i])                            \
                                            : (last ? v <= best[i] : v < best[i]);                           \
                        if (better) {                                                                        \
                            best[i] = v;                                                                     \
                            idx[i] = k;                                                                      \
                        }                                                                                    \
                    }                                                                                        \
                }                                                                                            \
            }                                                                                                \
    }
#define E_ARG(S, T, DT, W) [DT] = arg_##S,
QP_OPS_FOR_NUMERIC(X_ARG)
static const arg_fn arg_table[QP_OPS_DT_COUNT] = {QP_OPS_FOR_NUMERIC(E_ARG)};

static qp_status arg_run(qp_op_context *ctx, int is_max) {
    const qp_value *x = ctx->inputs[0];
    int axis = 0;
    qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", 0), x->shape.rank, &axis, ctx->node);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= x->shape.dims[d];
    for (int d = axis + 1; d < x->shape.rank; d++)
        inner *= x->shape.dims[d];
    if (outer * inner == 0) return QP_OK;
    arg_table[x->dtype](x->data, outer, x->shape.dims[axis], inner, is_max,
                        qp_node_attr_int(ctx->node, "select_last_index", 0) != 0, ctx->outputs[0]->data);
    return QP_OK;
}
static qp_status argmax_run(qp_op_context *ctx) {
    return arg_run(ctx, 1);
}
static qp_status argmin_run(qp_op_context *ctx) {
    return arg_run(ctx, 0);
}
static const qp_op_def argmax_def = {"ArgMax", "", arg_infer, NULL, NULL, argmax_run};
static const qp_op_def argmin_def = {"ArgMin", "", arg_infer, NULL, NULL, argmin_run};

/* ---------------------------------------------------------------------------------------------
 * CumSum along an axis given as a (run-time readable) scalar input; exclusive and reverse. */
static qp_status cumsum_axis(const qp_op_context *ctx, int *axis) {
    const qp_value *a = ctx->inputs[1];
    if ((a->dtype != QP_DT_INT32 && a->dtype != QP_DT_INT64) || qp_shape_numel(&a->shape) != 1)
        return qp_error(QP_ERR_SHAPE, "CumSum: axis must be an int32 or int64 scalar");
    if (!a->data) { /* known at run time only: any axis is possible, checked then */
        *axis = -1;
        return QP_OK;
    }
    return qp_normalize_axis(qp_value_get_int(a, 0), ctx->inputs[0]->shape.rank, axis, ctx->node);
}

static qp_status cumsum_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 2, 2, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if (!qp_ops_is_numeric(x->dtype))
        return qp_error(QP_ERR_UNSUPPORTED,
                        "CumSum: dtype %s is not supported (supported: float32, float64 and the "
                        "integer types)",
                        qp_dtype_name(x->dtype));
    if (x->shape.rank < 1) return qp_error(QP_ERR_SHAPE, "CumSum: input must have rank >= 1");
    int axis = 0;
    if ((st = cumsum_axis(ctx, &axis)) != QP_OK) return st;
    qp_value_set(ctx->outputs[0], x->dtype, &x->shape);
    return QP_OK;
}

/* Sums run in the tensor's own type (as numpy.cumsum does); integers wrap. */
#define X_CUMSUM(S, T, DT, W)                                                                                \
    static void cumsum_##S(const void *px, void *py, int64_t outer, int64_t dim, int64_t inner,              \
                           int exclusive, int reverse) {                                                     \
        const T *x = px;                                                                                     \
        T *y = py;                                                                                           \
        for (int64_t o = 0; o < outer; o++) {                                                                \
            const T *xo = x + o * dim * inner;                                                               \
            T *yo = y + o * dim * inner;                                                                     \
            for (int64_t step = 0; step < dim; step++) {                                                     \
                int64_t k = reverse ? dim - 1 - step : step, prev = reverse ? k + 1 : k - 1;                 \
                T *row = yo + k * inner;                                                                     \
                const T *xr = exclusive ? xo + prev * inner : xo + k * inner;                                \
                if (step == 0) {                                                                             \
                    for (int64_t i = 0; i < inner; i++)                                                      \
                        row[i] = exclusive ? (T)0 : xr[i];                                                   \
                } else {                                                                                     \
                    const T *before = yo + prev * inner;                                                     \
                    for (int64_t i = 0; i < inner; i++)                                                      \
                        row[i] = (T)((W)before[i] + (W)xr[i]);                                               \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    }
#define E_CUMSUM(S, T, DT, W) [DT] = cumsum_##S,
QP_OPS_FOR_NUMERIC(X_CUMSUM)
typedef void (*cumsum_fn)(const void *, void *, int64_t, int64_t, int64_t, int, int);
static const cumsum_fn cumsum_table[QP_OPS_DT_COUNT] = {QP_OPS_FOR_NUMERIC(E_CUMSUM)};

static qp_status cumsum_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0];
    int axis = 0;
    qp_status st = cumsum_axis(ctx, &axis);
    if (st != QP_OK) return st;
    int64_t outer = 1, inner = 1, dim = x->shape.dims[axis];
    for (int d = 0; d < axis; d++)
        outer *= x->shape.dims[d];
    for (int d = axis + 1; d < x->shape.rank; d++)
        inner *= x->shape.dims[d];
    if (outer * dim * inner == 0) return QP_OK;
    cumsum_table[x->dtype](x->data, ctx->outputs[0]->data, outer, dim, inner,
                           qp_node_attr_int(ctx->node, "exclusive", 0) != 0,
                           qp_node_attr_int(ctx->node, "reverse", 0) != 0);
    return QP_OK;
}
static const qp_op_def cumsum_def = {"CumSum", "", cumsum_infer, NULL, NULL, cumsum_run};

/* ---------------------------------------------------------------------------------------------
 * TopK: k from the attribute (opset 1) or a plan-time constant input; values and int64 indices,
 * ties broken by the lower index, always sorted (sorted=0 leaves the order open). */
typedef struct topk_item {
    double v;
    int64_t i;
    int nan;
} topk_item;

/* NaN ranks above every number (numpy's sort puts it last ascending). */
static int topk_cmp_largest(const void *pa, const void *pb) {
    const topk_item *a = pa, *b = pb;
    if (a->nan != b->nan) return a->nan ? -1 : 1;
    if (!a->nan && a->v != b->v) return a->v > b->v ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}
static int topk_cmp_smallest(const void *pa, const void *pb) {
    const topk_item *a = pa, *b = pb;
    if (a->nan != b->nan) return a->nan ? 1 : -1;
    if (!a->nan && a->v != b->v) return a->v < b->v ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static qp_status topk_geometry(const qp_op_context *ctx, int *axis, int64_t *k) {
    const qp_value *x = ctx->inputs[0];
    qp_status st;
    if (x->shape.rank < 1) return qp_error(QP_ERR_SHAPE, "TopK: input must have rank >= 1");
    if ((st = qp_normalize_axis(qp_node_attr_int(ctx->node, "axis", -1), x->shape.rank, axis, ctx->node)) !=
        QP_OK)
        return st;
    if (ctx->opset < 10) {
        *k = qp_node_attr_int(ctx->node, "k", -1);
    } else {
        int64_t kv[1];
        int n;
        if ((st = qp_ops_const_ints(ctx, 1, "K", kv, 1, &n)) != QP_OK) return st;
        if (n != 1) return qp_error(QP_ERR_SHAPE, "TopK: K must hold one value");
        *k = kv[0];
    }
    if (*k < 0 || *k > x->shape.dims[*axis])
        return qp_error(QP_ERR_SHAPE, "TopK: k = %lld for an axis of %lld", (long long)*k,
                        (long long)x->shape.dims[*axis]);
    return QP_OK;
}

static qp_status topk_infer(qp_op_context *ctx) {
    qp_status st = qp_ops_check_arity(ctx, 1, ctx->opset < 10 ? 1 : 2, 2, 2);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if (!qp_ops_is_numeric(x->dtype))
        return qp_error(QP_ERR_UNSUPPORTED, "TopK: dtype %s is not supported", qp_dtype_name(x->dtype));
    int axis = 0;
    int64_t k;
    if ((st = topk_geometry(ctx, &axis, &k)) != QP_OK) return st;
    qp_shape out = x->shape;
    out.dims[axis] = k;
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    qp_value_set(ctx->outputs[1], QP_DT_INT64, &out);
    return QP_OK;
}

static qp_status topk_prepare(qp_op_context *ctx, void **state, size_t *scratch_bytes) {
    int axis = 0;
    int64_t k;
    *state = NULL;
    qp_status st = topk_geometry(ctx, &axis, &k);
    if (st != QP_OK) return st;
    *scratch_bytes = (size_t)ctx->inputs[0]->shape.dims[axis] * sizeof(topk_item);
    return QP_OK;
}

static qp_status topk_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0];
    qp_value *vals = ctx->outputs[0], *idx = ctx->outputs[1];
    int axis = 0;
    int64_t k;
    qp_status st = topk_geometry(ctx, &axis, &k);
    if (st != QP_OK) return st;
    int64_t outer = 1, inner = 1, dim = x->shape.dims[axis];
    for (int d = 0; d < axis; d++)
        outer *= x->shape.dims[d];
    for (int d = axis + 1; d < x->shape.rank; d++)
        inner *= x->shape.dims[d];
    if (outer * inner * k == 0) return QP_OK;
    topk_item *items = ctx->scratch, *owned = NULL;
    if (!items || ctx->scratch_bytes < (size_t)dim * sizeof *items) {
        items = owned = malloc((size_t)dim * sizeof *items);
        if (!items) return qp_error(QP_ERR_NOMEM, "out of memory");
    }
    int largest = qp_node_attr_int(ctx->node, "largest", 1) != 0;
    size_t es = qp_dtype_size(x->dtype);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            for (int64_t d = 0; d < dim; d++) {
                double v = qp_ops_load_f64(x->data, x->dtype, (o * dim + d) * inner + in);
                items[d] = (topk_item){v, d, v != v};
            }
            qsort(items, (size_t)dim, sizeof *items, largest ? topk_cmp_largest : topk_cmp_smallest);
            for (int64_t j = 0; j < k; j++) {
                int64_t dst = (o * k + j) * inner + in, src = (o * dim + items[j].i) * inner + in;
                memcpy((unsigned char *)vals->data + (size_t)dst * es,
                       (const unsigned char *)x->data + (size_t)src * es, es);
                ((int64_t *)idx->data)[dst] = items[j].i;
            }
        }
    free(owned);
    return QP_OK;
}
static const qp_op_def topk_def = {"TopK", "", topk_infer, topk_prepare, NULL, topk_run};

const qp_op_def *const qp_ops_reduce[] = {
    &reduce_sum_def,
    &reduce_mean_def,
    &reduce_max_def,
    &reduce_min_def,
    &reduce_prod_def,
    &reduce_l1_def,
    &reduce_l2_def,
    &reduce_sum_square_def,
    &reduce_log_sum_def,
    &reduce_log_sum_exp_def,
    &argmax_def,
    &argmin_def,
    &cumsum_def,
    &topk_def,
    NULL,
};
