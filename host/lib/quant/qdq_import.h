/* qdq_import.h — quantized ONNX graphs (QDQ and QOperator formats) to a float graph plus encodings, so the engine runs any quantized model in int8. */
#ifndef QPIPE_QDQ_IMPORT_H
#define QPIPE_QDQ_IMPORT_H

#include "ir/ir.h"
#include "quant/encodings.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qp_qdq_import_stats {
    int activations; /* activation encodings recovered (Q/DQ pairs, QLinear* inputs and outputs) */
    int weights;     /* integer weights folded to float initializers with their encodings */
    int biases;      /* int32 biases folded to float */
    int converted;   /* QLinear* / QGemm nodes (QOperator format) turned into float ops */
    int kept;        /* QuantizeLinear/DequantizeLinear nodes kept as fp32 reference ops */
    int clamped;     /* int8 weight values of -128 under a zero point of 0, which qpipe's symmetric
                      * range [-127, 127] holds as -127 */
} qp_qdq_import_stats;

/* 1 when the graph holds QuantizeLinear, DequantizeLinear or QLinear* nodes. */
QP_API int qp_qdq_is_quantized(const qp_graph *graph);

/* Rewrites a quantized graph into a float graph (a new graph; graph is not changed) and the
 * encodings, by tensor id of the new graph, that make the int8 engine compute what the file
 * computes:
 *  - DequantizeLinear of an integer initializer is folded into a float initializer (named like
 *    the DQ's output) carrying the weight's encoding (per channel on the DQ's axis); int32
 *    biases fold to float without one (the engine derives s_in * s_w);
 *  - a QuantizeLinear -> DequantizeLinear pair on an activation disappears, its scale and zero
 *    point becoming the encoding of the tensor it quantized;
 *  - QLinearConv, QLinearMatMul, QGemm and com.microsoft's QLinearAdd, QLinearMul,
 *    QLinearGlobalAveragePool, QLinearAveragePool, QLinearConcat, QLinearSigmoid and
 *    QLinearLeakyRelu become their float ops with encodings on inputs and outputs; ops that
 *    only move quantized values (Reshape, Transpose, MaxPool, ...) run on the float values with
 *    the input's encoding;
 *  - anything else stays as it is: Q/DQ nodes qpipe cannot fold run as fp32 reference ops.
 * Encoding conventions: uint8 -> asymmetric; int8 weights with zero point 0 -> symmetric; int8
 * activations -> asymmetric with zero point zp + 128 (exact, including the -128 code); 16-bit
 * likewise. Graph input and output names are kept. stats may be NULL. */
QP_API qp_status qp_qdq_import(const qp_graph *graph, qp_graph **out, qp_encodings **encodings,
                               qp_qdq_import_stats *stats);

/* Loads an ONNX model for the engine. A float model comes back as is with *encodings = NULL; a
 * quantized one (qp_qdq_is_quantized) goes through qp_qdq_import. Messages start with the path.
 * stats may be NULL. */
QP_API qp_status qp_model_load_any(const char *path, qp_graph **graph, qp_encodings **encodings,
                                   qp_qdq_import_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
