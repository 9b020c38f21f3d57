/* engine.h — plans a graph once per (batch size, input shapes) and runs it in fp32, quantsim or int8 mode. */
#ifndef QPIPE_ENGINE_H
#define QPIPE_ENGINE_H

#include "engine/op.h"
#include "ir/ir.h"
#include "quant/encodings.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qp_engine_mode {
    QP_MODE_FP32 = 0,
    QP_MODE_QUANTSIM = 1,
    QP_MODE_INT8 = 2,
} qp_engine_mode;

/* A shape to use for one graph input, overriding the model's (symbolic or fixed) dims. */
typedef struct qp_input_shape {
    const char *name;
    qp_shape shape;
} qp_input_shape;

/* Called after a node has produced its outputs, once per output tensor (calibration hooks). */
typedef void (*qp_tensor_observer)(void *user, int tensor_id, const qp_value *value);

typedef struct qp_plan_options {
    qp_engine_mode mode;
    int batch;                         /* replaces dim 0 of inputs whose dim 0 is symbolic/unknown; 0 = 1 */
    int n_threads;                     /* 0 = all cores */
    const qp_input_shape *input_shapes;/* optional explicit shapes, by input name */
    int n_input_shapes;
    qp_tensor_observer observer;       /* optional */
    void *observer_user;
    /* QUANTSIM and INT8: the tensors to quantize and how (a tensor without an encoding stays
     * float). Must outlive the plan. Ignored in FP32 mode. */
    const qp_encodings *encodings;
    /* QUANTSIM only. 0 (default): the nodes the int8 engine runs in integer arithmetic are
     * simulated exactly in the integer domain, so QUANTSIM reproduces INT8. 1: every node computes
     * in float on fake-quantized values (AIMET's formulation; what an exported QDQ model computes
     * run in float), which can differ from INT8 by a step near rounding ties (docs/engine.md). */
    int quantsim_float;
} qp_plan_options;

typedef struct qp_plan qp_plan;

/* Infers every shape, folds plan-time constants (the Shape->Gather->Concat->Reshape chains of
 * exported models), prepares every op, and lays all activations out in one arena by lifetime.
 * Errors name the node ("node 'conv1' (Conv): ..."). When some ops have no implementation the
 * error lists every unsupported op type and the first node using each. */
QP_API qp_status qp_plan_create(const qp_graph *graph, const qp_plan_options *options, qp_plan **out);
QP_API void qp_plan_free(qp_plan *plan);

QP_API int qp_plan_num_inputs(const qp_plan *plan);
/* The value for graph input i: shape/dtype fixed by the plan; write data into value->data
 * (value->nbytes bytes) before qp_plan_run. */
QP_API qp_value *qp_plan_input(qp_plan *plan, int i);
QP_API const char *qp_plan_input_name(const qp_plan *plan, int i);
QP_API int qp_plan_num_outputs(const qp_plan *plan);
QP_API const qp_value *qp_plan_output(const qp_plan *plan, int i);
QP_API const char *qp_plan_output_name(const qp_plan *plan, int i);

QP_API qp_status qp_plan_run(qp_plan *plan);

/* Bytes of the activation arena (figures for benchmarks and the memory bound). */
QP_API size_t qp_plan_arena_bytes(const qp_plan *plan);
/* Inferred shape of any tensor in the graph (after planning), or NULL if tensor_id is invalid. */
QP_API const qp_value *qp_plan_tensor(const qp_plan *plan, int tensor_id);

/* Multiply-accumulates of one node at the plan's shapes (Conv, ConvTranspose, Gemm, MatMul;
 * 0 for other ops). */
QP_API int64_t qp_node_macs(const qp_graph *graph, const qp_plan *plan, int node_id);

/* Lists unsupported ops of a graph without planning: writes a message like
 * "unsupported ops: Foo (first used by node 'n3'), Bar (node 'n7')" and returns
 * QP_ERR_UNSUPPORTED, or QP_OK when every op has an implementation. */
QP_API qp_status qp_graph_check_ops(const qp_graph *graph);

/* --- Quantized modes (docs/engine.md) ---------------------------------------------------------
 * QUANTSIM: float compute; constants with an encoding are fake-quantized once at plan time and
 * every activation with an encoding right after it is produced (graph inputs through a copy, so
 * the caller's buffer is left as written). Nodes the int8 engine runs with integer arithmetic
 * (Conv, Gemm, MatMul, GlobalAveragePool, ReduceMean, Add/Mul of two tensors) are simulated in the
 * integer domain — their fp32 op on integer-valued floats, then one rounding with the int8
 * engine's bias and multipliers — so QUANTSIM reproduces INT8 exactly.
 * INT8: nodes with an int8 implementation whose data tensors all have (per-tensor, <= 8-bit)
 * encodings run in integer arithmetic on uint8 data; every other node runs its fp32 op between
 * dequantize and quantize steps. Relu/Clip directly after Conv/Gemm/MatMul/binary ops is fused
 * into their clamp. Graph inputs and outputs stay float32 in both modes.
 * Observer: in QUANTSIM it sees the simulated floats; in INT8 it sees uint8 values (dtype UINT8)
 * for tensors produced by int8 steps, floats otherwise. */

QP_API qp_engine_mode qp_plan_mode(const qp_plan *plan);
/* INT8 mode: the nodes that run through fp32 ops (in graph order), and why each does; 0 in the
 * other modes. Nodes folded at plan time do not run and are not listed. */
QP_API int qp_plan_num_fp32_fallbacks(const qp_plan *plan);
QP_API int qp_plan_fp32_fallback_node(const qp_plan *plan, int i);      /* node id, -1 out of range */
QP_API const char *qp_plan_fp32_fallback_reason(const qp_plan *plan, int i);
/* Nodes run by int8 steps (a fused Relu/Clip counts as a node). */
QP_API int qp_plan_num_int8_nodes(const qp_plan *plan);
/* Writes "Softmax (1 node: 'prob'), BatchNormalization (2 nodes: 'bn1', 'bn2')" (op types in order
 * of first appearance, up to four names each, then "...") into buf; returns the length the full
 * text needs (like snprintf), 0 when nothing runs in fp32. */
QP_API size_t qp_plan_fp32_fallback_summary(const qp_plan *plan, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
