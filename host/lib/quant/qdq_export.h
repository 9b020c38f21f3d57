/* qdq_export.h — the QDQ rewrite: a float graph and its encodings to an ONNX graph with QuantizeLinear/DequantizeLinear pairs that computes what qpipe's int8 engine computes. */
#ifndef QPIPE_QDQ_EXPORT_H
#define QPIPE_QDQ_EXPORT_H

#include "engine/engine.h"
#include "ir/ir.h"
#include "qpipe/qp_session.h"
#include "quant/encodings.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the int8 engine departs from "quantize every encoded tensor": read from a plan by
 * qp_qdq_engine_decisions, so the file follows the engine's own fusion and bias decisions. */
typedef struct qp_qdq_decisions {
    /* [n_tensors]: 1 for tensors the engine never materializes although they carry an encoding
     * (the output of a Conv/Gemm/MatMul/Add whose Relu/Clip it fuses): no Q/DQ there. */
    unsigned char *skip;
    /* [n_nodes]: 1 for Conv/Gemm nodes the engine runs in int8 with a bias: the bias becomes
     * int32 at scale s_in * s_w[c]. Other biases stay float, as the engine keeps them. */
    unsigned char *int_bias;
    int n_tensors, n_nodes;
} qp_qdq_decisions;

QP_API void qp_qdq_decisions_free(qp_qdq_decisions *decisions);
/* Plans graph in fp32 with encodings (base supplies batch, threads and input shapes; may be NULL)
 * and records the int8 engine's per-node decisions. shapes_out, when not NULL, receives every
 * tensor's inferred shape ([n_tensors], malloc'd; rank -1 when unknown). */
QP_API qp_status qp_qdq_engine_decisions(const qp_graph *graph, const qp_encodings *encodings,
                                         const qp_plan_options *base, qp_qdq_decisions *out, qp_shape **shapes_out);
/* Without a plan: the same decisions by the engine's static rules (Relu/Clip fused into a
 * single-consumer Conv/Gemm/MatMul/Add producer whose output is not a graph output; biases of
 * Conv/Gemm whose input is per-tensor and weight symmetric). Used when the graph cannot be
 * planned and by tests. */
QP_API qp_status qp_qdq_static_decisions(const qp_graph *graph, const qp_encodings *encodings, qp_qdq_decisions *out);

typedef struct qp_qdq_export_config {
    int activations;          /* qp_qdq_activation_type */
    int tensorrt;
    int64_t opset;            /* minimum default-domain opset; 0 = 13 */
    const qp_qdq_decisions *decisions; /* NULL = qp_qdq_static_decisions */
    const qp_shape *shapes;   /* [n_tensors] inferred shapes (Softmax upgrades need ranks); may be NULL */
    void (*warn)(void *user, const char *message);
    void *warn_user;
} qp_qdq_export_config;

typedef struct qp_qdq_export_stats {
    int activations;     /* Q/DQ pairs on activations */
    int weights;         /* constants stored quantized (weights) */
    int biases;          /* int32 biases */
    int widened;         /* TensorRT mode: asymmetric encodings made symmetric */
    int upgraded;        /* nodes rewritten for the opset upgrade */
    int64_t opset;       /* default-domain opset of the result */
} qp_qdq_export_stats;

/* Builds the QDQ graph (a new graph; graph and encodings are not changed). Encodings are by
 * tensor id of graph. stats may be NULL. Fails, naming the node or tensor, for encodings wider
 * than 8 bits below opset 21, a node whose opset upgrade qpipe cannot do (Upsample, Resize-10,
 * legacy broadcast attributes), and a per-channel encoding whose axis does not fit. */
QP_API qp_status qp_qdq_export_graph(const qp_graph *graph, const qp_encodings *encodings,
                                     const qp_qdq_export_config *config, qp_graph **out, qp_qdq_export_stats *stats);

/* ---- graph-building helpers shared with qdq_import.c ----------------------------------------- */

/* Adds a tensor to ng named base + suffix, made unique against both graphs ("_1", "_2", ...).
 * Returns its id or -1 (error set). */
int qp_qdq_new_tensor(const qp_graph *old, qp_graph *ng, const char *base, const char *suffix);
/* Same, as an initializer holding a copy of data. */
int qp_qdq_new_const(const qp_graph *old, qp_graph *ng, const char *base, const char *suffix, qp_dtype dtype,
                     const qp_shape *shape, const void *data);
/* Appends a deep copy of src to node's attributes. */
qp_status qp_qdq_copy_attr(qp_node *node, const qp_attr *src);

#ifdef __cplusplus
}
#endif
#endif
