/* op.h — the operator interface: one qp_op_def per ONNX op holds shape inference, preparation and fp32 execution together. */
#ifndef QPIPE_OP_H
#define QPIPE_OP_H

#include <stddef.h>
#include <stdint.h>

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A tensor as the engine sees it: the shape is fully known once the plan exists. data points
 * into the plan's arena, into constant storage, or (during infer) is NULL for values that are
 * only known at run time. */
typedef struct qp_value {
    qp_dtype dtype;
    qp_shape shape;
    void *data;
    size_t nbytes;
} qp_value;

/* What an op function receives. inputs[i] is NULL for an omitted optional input; the arrays
 * have exactly the node's arity. */
typedef struct qp_op_context {
    const qp_node *node;
    int64_t opset;                  /* opset version of the node's domain in this model */
    const qp_value *const *inputs;
    int n_inputs;
    qp_value *const *outputs;
    int n_outputs;
    void *state;                    /* from prepare(), or NULL */
    void *scratch;                  /* scratch_bytes from prepare(), 64-byte aligned, or NULL */
    size_t scratch_bytes;
    int n_threads;
    /* prepare() only, fp32 plans only: {lo, hi} of a Relu/Clip the planner fused into this op's
     * output (plan.c, Conv only), to be applied as Clip does (v < lo ? lo : v, then v > hi ? hi : v);
     * NULL otherwise. Saves the activation's pass over memory; the op keeps the bounds in its state. */
    const float *fused_clamp;
} qp_op_context;

typedef struct qp_op_def {
    const char *op_type;
    const char *domain;             /* "" for the default ONNX domain */
    /* Required. Sets outputs[k]->dtype and ->shape from inputs (input data is available when the
     * input is a plan-time constant, e.g. Reshape's shape). Returns QP_ERR_UNSUPPORTED (with a
     * message naming the attribute or dtype) for valid ONNX that qpipe does not implement, and
     * QP_ERR_SHAPE / QP_ERR_INVALID_MODEL for inputs that do not fit the op. Must not touch
     * output data. */
    qp_status (*infer)(qp_op_context *ctx);
    /* Optional. Called once after shapes are known; builds private state (e.g. packed weights,
     * for which constant inputs' data is available) and asks for scratch memory. */
    qp_status (*prepare)(qp_op_context *ctx, void **state, size_t *scratch_bytes);
    /* Optional. Frees what prepare() built. */
    void (*release)(void *state);
    /* Required. Computes outputs; output buffers are allocated by the engine with the inferred
     * sizes. Deterministic for a given thread count and, for fp32, independent of it where the
     * op's doc does not say otherwise. */
    qp_status (*run)(qp_op_context *ctx);
} qp_op_def;

/* The op for (domain, op_type), or NULL. "ai.onnx" is treated as "". */
const qp_op_def *qp_op_find(const char *domain, const char *op_type);
/* Iterates over every registered op: returns NULL past the end. */
const qp_op_def *qp_op_at(int index);

/* Helpers shared by op implementations. */
/* Numpy-style multidirectional broadcast of a and b into out; QP_ERR_SHAPE when incompatible. */
qp_status qp_broadcast_shape(const qp_shape *a, const qp_shape *b, qp_shape *out);
/* Fills output shape/dtype and sizes nbytes: nbytes = numel * dtype size. */
void qp_value_set(qp_value *value, qp_dtype dtype, const qp_shape *shape);
/* Reads element i of an integer tensor (int32/int64/...) as int64. */
int64_t qp_value_get_int(const qp_value *value, int64_t index);
/* Normalises a possibly negative axis against rank; QP_ERR_INVALID_MODEL when out of range. */
qp_status qp_normalize_axis(int64_t axis, int rank, int *out_axis, const qp_node *node);

/* Op families: each ops/<family>.c defines a NULL-terminated table of pointers. */
extern const qp_op_def *const qp_ops_elementwise[]; /* Add Sub Mul Div Pow Sum Max Min Mean Abs Neg Exp Log Sqrt Reciprocal Floor Ceil Equal Less Greater Where Not And Or ... */
extern const qp_op_def *const qp_ops_activation[];  /* Relu LeakyRelu PRelu Clip Sigmoid Tanh HardSigmoid HardSwish Elu Selu Softplus Softsign Erf Gelu ... */
extern const qp_op_def *const qp_ops_conv[];        /* Conv ConvTranspose */
extern const qp_op_def *const qp_ops_gemm[];        /* Gemm MatMul */
extern const qp_op_def *const qp_ops_pool[];        /* MaxPool AveragePool GlobalAveragePool GlobalMaxPool LpPool */
extern const qp_op_def *const qp_ops_norm[];        /* BatchNormalization LRN InstanceNormalization LayerNormalization Softmax LogSoftmax */
extern const qp_op_def *const qp_ops_shape[];       /* Reshape Flatten Transpose Concat Split Slice Squeeze Unsqueeze Pad Shape Gather Identity Dropout Constant Cast Expand Tile Size ConstantOfShape Range */
extern const qp_op_def *const qp_ops_reduce[];      /* ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd ReduceL2 ArgMax ArgMin ... */
extern const qp_op_def *const qp_ops_resize[];      /* Resize Upsample */
extern const qp_op_def *const qp_ops_quant[];       /* QuantizeLinear DequantizeLinear */

#ifdef __cplusplus
}
#endif
#endif
