/* qp_session.h — what a pass sees: the model (read, rewrite weights), quantization settings and
 * encodings, calibration runs over the data set, logging. Opaque handles and accessors only. */
#ifndef QPIPE_QP_SESSION_H
#define QPIPE_QP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "qpipe/qp_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qp_session qp_session; /* one pipeline run: model, encodings, data, engine */
typedef struct qp_model qp_model;     /* the graph of a session */

/* ---- the model ------------------------------------------------------------------------------
 * Nodes and tensors are numbered 0..count-1; nodes are in topological order. Tensor dtypes use
 * ONNX's TensorProto.DataType numbers (1 = float32, 2 = uint8, 3 = int8, 6 = int32, 7 = int64). */
QP_API qp_model *qp_session_model(qp_session *session);

QP_API int qp_model_num_nodes(const qp_model *model);
QP_API const char *qp_model_node_name(const qp_model *model, int node);
QP_API const char *qp_model_node_op(const qp_model *model, int node);       /* "Conv" */
QP_API const char *qp_model_node_domain(const qp_model *model, int node);   /* "" = ONNX */
QP_API int qp_model_node_num_inputs(const qp_model *model, int node);
QP_API int qp_model_node_input(const qp_model *model, int node, int k);     /* tensor, -1 = omitted */
QP_API int qp_model_node_num_outputs(const qp_model *model, int node);
QP_API int qp_model_node_output(const qp_model *model, int node, int k);
QP_API int64_t qp_model_node_attr_int(const qp_model *model, int node, const char *name, int64_t fallback);
QP_API float qp_model_node_attr_float(const qp_model *model, int node, const char *name, float fallback);
/* Points *values at an INTS attribute and returns its length (0 when absent). */
QP_API int qp_model_node_attr_ints(const qp_model *model, int node, const char *name, const int64_t **values);

QP_API int qp_model_num_tensors(const qp_model *model);
QP_API int qp_model_find_tensor(const qp_model *model, const char *name);   /* -1 if absent */
QP_API const char *qp_model_tensor_name(const qp_model *model, int tensor);
QP_API int qp_model_tensor_dtype(const qp_model *model, int tensor);
/* Rank and dims as planned for the session's batch size (activations included); -1 if unknown. */
QP_API int qp_model_tensor_rank(const qp_model *model, int tensor);
QP_API int64_t qp_model_tensor_dim(const qp_model *model, int tensor, int axis);
/* Contents of an initializer (weights, biases), or NULL for activations. */
QP_API const void *qp_model_tensor_data(const qp_model *model, int tensor, size_t *nbytes);
/* Replaces an initializer's contents (same dtype and element count); the host re-plans the
 * engine and drops the tensor's encoding, since encodings are derived, never patched. */
QP_API qp_status qp_model_set_tensor_data(qp_model *model, int tensor, const void *data, size_t nbytes);
QP_API int qp_model_tensor_producer(const qp_model *model, int tensor);     /* node or -1 */
QP_API int qp_model_tensor_num_consumers(const qp_model *model, int tensor);
QP_API int qp_model_tensor_consumer(const qp_model *model, int tensor, int k);
QP_API int qp_model_tensor_is_graph_output(const qp_model *model, int tensor);

/* ---- quantization settings (from the pipeline's quant: and layers: sections) ---------------- */
typedef enum qp_tensor_role {
    QP_ROLE_NONE = 0,       /* not quantized (shape tensors, tensors inside skipped layers) */
    QP_ROLE_ACTIVATION = 1, /* quantized activation: graph inputs and outputs of quantized ops */
    QP_ROLE_WEIGHT = 2,     /* Conv/ConvTranspose/Gemm/MatMul weights */
    QP_ROLE_BIAS = 3,       /* int32 with scale s_in * s_w, derived by the host */
} qp_tensor_role;
QP_API qp_tensor_role qp_session_tensor_role(const qp_session *session, int tensor);

typedef struct qp_quant_spec {
    int bits;          /* 2..16 */
    int symmetric;     /* 1: zero point 0, signed range; 0: asymmetric, unsigned range */
    int per_channel;   /* weights only: one encoding per output channel */
} qp_quant_spec;
/* The spec that applies to a tensor (layer overrides included); QP_ERR_INVALID_ARG for role NONE. */
QP_API qp_status qp_session_quant_spec(const qp_session *session, int tensor, qp_quant_spec *spec);
/* Channel axis of a weight for per-channel encodings (0 for Conv, 1 for ConvTranspose, ...). */
QP_API int qp_session_weight_axis(const qp_session *session, int tensor);

/* ---- encodings (AIMET style, keyed by tensor) -------------------------------------------------
 * Setting a range derives scale and zero point the standard way (symmetric: scale = max|x| /
 * (2^(bits-1) - 1), zero point 0; asymmetric: range widened to contain 0, scale = (max - min) /
 * (2^bits - 1), zero point = round(-min / scale)), keeping min/max as given. n = 1 for per-tensor
 * (axis -1), else the channel count along axis. */
QP_API qp_status qp_session_set_range(qp_session *session, int tensor, int bits, int symmetric, int axis,
                                      int n, const float *min, const float *max);
/* Returns the number of channels of tensor's encoding (0 when it has none) and fills what is asked
 * (any pointer may be NULL). The arrays stay valid until the encoding changes. */
QP_API int qp_session_get_encoding(const qp_session *session, int tensor, int *bits, int *symmetric, int *axis,
                                   const float **scale, const int32_t **zero_point, const float **min,
                                   const float **max);
QP_API void qp_session_clear_encoding(qp_session *session, int tensor);

/* ---- running the model over the calibration set ----------------------------------------------- */
/* Called for every float activation of role ACTIVATION after each batch: data is the batch's
 * values (row-major, dims[0] = batch), valid only during the call. */
typedef void (*qp_activation_fn)(void *user, int tensor, const float *data, int rank, const int64_t *dims);
/* Runs the fp32 engine over the calibration images in batches, calling fn for every activation;
 * no activation is kept after its batch. */
QP_API qp_status qp_session_run_calibration(qp_session *session, qp_activation_fn fn, void *user);
QP_API int64_t qp_session_calibration_size(const qp_session *session);

/* ---- logging and progress --------------------------------------------------------------------- */
typedef enum qp_log_level { QP_LOG_ERROR = 0, QP_LOG_WARN = 1, QP_LOG_INFO = 2, QP_LOG_DEBUG = 3 } qp_log_level;
QP_API void qp_log(qp_session *session, qp_log_level level, const char *fmt, ...) QP_PRINTF(3, 4);
/* Progress of long work; drawn on a terminal, silent in pipes and CI. */
QP_API void qp_progress(qp_session *session, const char *what, int64_t done, int64_t total);

/* ==== ABI 1.1: export and import (plugins/exporters; docs/export.md) ============================
 * Options structs are versioned by size: the caller sets struct_size = sizeof(the struct it was
 * compiled with) (the *_init functions do), the host reads only the fields that size covers and
 * treats the rest as zero, so a struct can grow in later minor versions. reserved[] stays zero. */

/* Sets an encoding given directly by scale and zero point (no range rounding), with the same
 * role rules as qp_session_set_range: QP_ERR_INVALID_ARG for role NONE and BIAS; a tensor that
 * shares another's encoding ignores it. Zero points follow the encoding model: 0 for symmetric
 * encodings, [0, 2^bits - 1] for asymmetric ones. */
QP_API qp_status qp_session_set_encoding(qp_session *session, int tensor, int bits, int symmetric, int axis, int n,
                                         const float *scale, const int32_t *zero_point);

typedef enum qp_qdq_activation_type {
    QP_QDQ_ACT_AUTO = 0,  /* asymmetric encodings as uint8, symmetric ones as int8 (zero point 0) */
    QP_QDQ_ACT_UINT8 = 1, /* every activation uint8 (symmetric ones with zero point 2^(bits-1)) */
    QP_QDQ_ACT_INT8 = 2,  /* every activation int8 (asymmetric ones with zero point zp - 128) */
} qp_qdq_activation_type;

typedef struct qp_qdq_options {
    size_t struct_size;
    int activations;  /* qp_qdq_activation_type */
    int tensorrt;     /* 1: TensorRT's QDQ subset: int8 only, zero points 0 (asymmetric encodings are
                       * widened to symmetric ones, with a warning), biases kept in float */
    int opset;        /* default-domain opset of the file, at least 13 (per-channel Q/DQ); 0 = 13 */
    void *reserved[8];
} qp_qdq_options;
QP_API void qp_qdq_options_init(qp_qdq_options *options);
/* Writes the session's model as QDQ ONNX: QuantizeLinear/DequantizeLinear around every tensor
 * the int8 engine quantizes, weights as int8 initializers (per channel on the weight's axis),
 * biases of int8 Conv/Gemm as int32 with scale s_in * s_w, ops the engine keeps in float left
 * untouched. The file is written to a temporary name and renamed into place. options may be
 * NULL (defaults). */
QP_API qp_status qp_session_export_qdq(qp_session *session, const char *path, const qp_qdq_options *options);

typedef struct qp_encodings_file_options {
    size_t struct_size;
    const char *version; /* AIMET layout: "0.6.1" (default when NULL) or "1.0.0" */
    int strict;          /* import: 1 = a tensor name the model lacks is an error; 0 = warned and skipped */
    void *reserved[8];
} qp_encodings_file_options;
QP_API void qp_encodings_file_options_init(qp_encodings_file_options *options);
/* Writes the session's encodings as AIMET encodings JSON (activation_encodings and
 * param_encodings keyed by ONNX tensor name; biases with their derived 32-bit encodings). */
QP_API qp_status qp_session_export_encodings(qp_session *session, const char *path,
                                             const qp_encodings_file_options *options);
/* Sets the session's encodings from an AIMET encodings file (either layout, detected from the
 * file), so encodings made by another tool can be scored on qpipe's engines. Encodings already
 * set on tensors the file does not name are kept. */
QP_API qp_status qp_session_import_encodings(qp_session *session, const char *path,
                                             const qp_encodings_file_options *options);
/* Writes a Bolt-style clip-value table: {"<node>": {"inputs": {...}, "weights": {...},
 * "outputs": {...}}} with clip = max(|min|, |max|) of each encoded tensor's range. */
QP_API qp_status qp_session_export_scale_table(qp_session *session, const char *path);

#ifdef __cplusplus
}
#endif
#endif
