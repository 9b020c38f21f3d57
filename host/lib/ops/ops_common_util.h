/* ops_common_util.h — helpers the non-conv op families share: input checks, plan-time constant inputs, dtype
 * classes, broadcast iteration, strided copies, parallel maps. */
#ifndef QPIPE_OPS_COMMON_UTIL_H
#define QPIPE_OPS_COMMON_UTIL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "core/parallel.h"
#include "engine/op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Input i, or NULL when the node has fewer inputs or the optional input is omitted. */
static inline const qp_value *qp_ops_in(const qp_op_context *ctx, int i) {
    return i >= 0 && i < ctx->n_inputs ? ctx->inputs[i] : NULL;
}

/* Checks the node's arity: between min_in and max_in inputs with the first min_in present, and
 * between min_out and max_out outputs. QP_ERR_INVALID_MODEL naming the op otherwise. */
qp_status qp_ops_check_arity(const qp_op_context *ctx, int min_in, int max_in, int min_out, int max_out);

/* Dtype classes. "numeric" is float32/float64 and the eight integer types (not bool). */
int qp_ops_is_float(qp_dtype dtype);
int qp_ops_is_signed_int(qp_dtype dtype);
int qp_ops_is_unsigned_int(qp_dtype dtype);
int qp_ops_is_int(qp_dtype dtype);
int qp_ops_is_numeric(qp_dtype dtype);

/* Element i of a numeric/bool tensor as double, and the reverse (integers: NaN -> 0,
 * truncation toward zero, saturation to the type's range). */
double qp_ops_load_f64(const void *data, qp_dtype dtype, int64_t i);
void qp_ops_store_f64(void *data, qp_dtype dtype, int64_t i, double v);

/* Reads an int32/int64 scalar or 1-D input whose data is known at plan time into out (at most
 * cap values). A run-time-only input gives QP_ERR_UNSUPPORTED ("data-dependent output shape"). */
qp_status qp_ops_const_ints(const qp_op_context *ctx, int index, const char *name, int64_t *out, int cap,
                            int *n);
/* Same for float/double inputs (Resize scales). */
qp_status qp_ops_const_floats(const qp_op_context *ctx, int index, const char *name, double *out, int cap,
                              int *n);

/* Rejects output shapes built from data (Reshape's shape, Tile's repeats, Resize's sizes, ...)
 * with a negative dim or more than 2^48 elements, before any size computation can overflow. */
qp_status qp_ops_check_output_shape(const qp_op_context *ctx, const qp_shape *shape);

/* Conv/pool window attributes: n values of attribute `name` (all `fallback` when absent), each
 * >= min_value; and auto_pad. Errors name the node and the attribute. */
qp_status qp_ops_spatial_attr(const qp_node *node, const char *name, int n, int64_t fallback, int64_t min_value,
                              int64_t *out);
enum qp_f32_auto_pad;
qp_status qp_ops_auto_pad_attr(const qp_node *node, enum qp_f32_auto_pad *out);

/* Normalises axes (each in [-rank, rank)) in place and rejects duplicates. */
qp_status qp_ops_normalize_axes(int64_t *axes, int n, int rank, const char *what);

/* Multidirectional broadcast of up to QP_OPS_MAX_BCAST_INPUTS shapes; QP_ERR_SHAPE if they do
 * not broadcast. */
qp_status qp_ops_broadcast_shapes(const qp_shape *const *shapes, int n, qp_shape *out);

/* Broadcast iteration: the output is walked in contiguous segments of its innermost
 * (collapsed) dimension; for each input the element offset of the segment start and its inner
 * stride (0 = broadcast, 1 = contiguous) are given. Dims where all inputs behave alike are
 * merged first, so same-shape, scalar and per-channel ([1,C,1,1]) cases yield long segments. */
#define QP_OPS_MAX_BCAST_INPUTS 3
typedef struct qp_ops_bcast {
    int rank; /* collapsed rank, >= 1 */
    int n_in;
    int64_t numel;
    int64_t dims[QP_MAX_RANK];
    int64_t strides[QP_OPS_MAX_BCAST_INPUTS][QP_MAX_RANK];
    int64_t inner_stride[QP_OPS_MAX_BCAST_INPUTS];
} qp_ops_bcast;

/* Inputs must already broadcast to out (unidirectionally). */
void qp_ops_bcast_init(qp_ops_bcast *b, const qp_shape *out, const qp_shape *const *ins, int n_in);
typedef void (*qp_ops_segment_fn)(void *user, const qp_ops_bcast *b, int64_t out_offset,
                                  const int64_t *in_offsets, int64_t n);
/* Calls fn over every output segment; splits the work across n_threads when it is large. */
void qp_ops_bcast_run(const qp_ops_bcast *b, int n_threads, qp_ops_segment_fn fn, void *user);

/* Copies a strided view of src into contiguous dst: element (i_0..i_{r-1}) of the view is
 * src[offset + sum i_d * strides[d]] (in elements; strides may be zero or negative). */
#define QP_OPS_MAX_VIEW_RANK (2 * QP_MAX_RANK)
void qp_ops_strided_copy(void *dst, const void *src, size_t esize, int rank, const int64_t *dims,
                         const int64_t *strides, int64_t offset, int n_threads);

/* Row-major element strides of a shape. */
void qp_ops_shape_strides(const qp_shape *shape, int64_t *strides);

/* Elementwise map over n items split across threads in chunks of at least `grain` items. */
typedef void (*qp_ops_map_fn)(const void *params, int64_t n, const void *in, void *out);
void qp_ops_map(int n_threads, int64_t n, const void *in, size_t in_esize, void *out, size_t out_esize,
                qp_ops_map_fn fn, const void *params);

/* qp_parallel_for with at most n / grain threads, so small tensors stay on one thread. */
void qp_ops_parallel(int n_threads, int64_t n, int64_t grain, qp_range_fn fn, void *user);

/* Clip's bounds (ONNX), read in this one place (activation.c) by the Clip op and by the planner's
 * Conv+Relu/Clip fusion, so a fused clamp is the op's own. Before opset 11 they are the float
 * attributes min and max (defaults -FLT_MAX and FLT_MAX), converted into store[] for dtype (float32
 * or float64, the only types Clip-6 takes); from opset 11 the optional scalar inputs min_in and
 * max_in, already in dtype (NULL: omitted). Sets bounds[0] (min) and bounds[1] (max) to each bound's
 * data, or to NULL for a side that does not clip; they may point into store. */
typedef union qp_ops_clip_scalar {
    float f;
    double d;
} qp_ops_clip_scalar;
void qp_ops_clip_bounds(const qp_node *node, int64_t opset, qp_dtype dtype, const qp_value *min_in,
                        const qp_value *max_in, qp_ops_clip_scalar store[2], const void *bounds[2]);
/* Float32 bounds from qp_ops_clip_bounds as the clamp applies them (v < lo ? lo : v, then
 * v > hi ? hi : v): a side that does not clip becomes -inf / +inf. Relu is [0, +inf). */
static inline void qp_ops_clip_bounds_f32(const void *const bounds[2], float out[2]) {
    out[0] = bounds[0] ? *(const float *)bounds[0] : -INFINITY;
    out[1] = bounds[1] ? *(const float *)bounds[1] : INFINITY;
}

/* memcpy that accepts n == 0 with NULL pointers (empty tensors have no buffer). */
void qp_ops_copy(void *dst, const void *src, size_t n);

/* Type lists for kernels generated per dtype: X(suffix, C type, qp_dtype, wrap-around type). The
 * wrap-around type is where +,-,* happen so signed overflow wraps instead of being undefined. */
#define QP_OPS_FOR_FLOAT(X) X(f32, float, QP_DT_FLOAT, float) X(f64, double, QP_DT_DOUBLE, double)
#define QP_OPS_FOR_SIGNED(X)                                                                                 \
    X(i8, int8_t, QP_DT_INT8, uint32_t)                                                                      \
    X(i16, int16_t, QP_DT_INT16, uint32_t) X(i32, int32_t, QP_DT_INT32, uint32_t)                            \
        X(i64, int64_t, QP_DT_INT64, uint64_t)
#define QP_OPS_FOR_UNSIGNED(X)                                                                               \
    X(u8, uint8_t, QP_DT_UINT8, uint32_t)                                                                    \
    X(u16, uint16_t, QP_DT_UINT16, uint32_t) X(u32, uint32_t, QP_DT_UINT32, uint32_t)                        \
        X(u64, uint64_t, QP_DT_UINT64, uint64_t)
#define QP_OPS_FOR_INT(X) QP_OPS_FOR_SIGNED(X) QP_OPS_FOR_UNSIGNED(X)
#define QP_OPS_FOR_NUMERIC(X) QP_OPS_FOR_FLOAT(X) QP_OPS_FOR_INT(X)

/* Size of per-dtype dispatch tables (indexed by qp_dtype). */
#define QP_OPS_DT_COUNT 17

#ifdef __cplusplus
}
#endif
#endif
