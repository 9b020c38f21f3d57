/* session.h — the host side of qp_session: model, quantization settings, encodings, data sets, engine plans, logging. */
#ifndef QPIPE_SESSION_H
#define QPIPE_SESSION_H

#include "data/dataset.h"
#include "engine/engine.h"
#include "ir/ir.h"
#include "qpipe/qp_session.h"
#include "quant/encodings.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The pipeline's quant: section. Defaults (qp_quant_config_init): weights int8 symmetric
 * per-channel, activations uint8 asymmetric per-tensor (the ONNX Runtime / TensorRT convention). */
typedef struct qp_quant_config {
    qp_quant_spec weights;
    qp_quant_spec activations; /* per_channel is always 0 */
} qp_quant_config;

QP_API void qp_quant_config_init(qp_quant_config *config);

/* One entry of the pipeline's layers: section (CLIKA style). The region it covers:
 *  - without until: the node called `name` alone;
 *  - with until: `name` and every node reachable from it along data edges without passing
 *    through a node listed in until. The until nodes themselves are NOT in the region (they end
 *    it); paths that never meet an until node run to the graph outputs.
 * skip: 1 = the region's tensors are not quantized (role NONE), 0 = they are, -1 = not given.
 * bits (0 = not given): bit-width of the region's weights and output activations. When regions
 * overlap, later entries win for what they give. */
typedef struct qp_layer_override {
    const char *name;
    int skip;
    const char *const *until;
    int n_until;
    int bits;
} qp_layer_override;

/* ---- life cycle ------------------------------------------------------------------------------- */
QP_API qp_status qp_session_new(qp_session **out);
QP_API void qp_session_free(qp_session *session);

/* Loads an ONNX model into the session (see qp_session_set_graph). */
QP_API qp_status qp_session_load_model(qp_session *session, const char *path);
/* Takes ownership of graph (also on failure). Constants are made initializers first: Constant
 * nodes holding a tensor (Paddle and some exporters store weights that way), and the outputs of
 * nodes computed from initializers alone (a weight reshaped or transposed in the graph), see
 * qp_graph_fold_constants. So every weight is an initializer that passes read and rewrite through
 * qp_model_tensor_data. */
QP_API qp_status qp_session_set_graph(qp_session *session, qp_graph *graph);
QP_API qp_graph *qp_session_graph(qp_session *session);
QP_API const char *qp_session_model_path(const qp_session *session);

/* ---- configuration (before passes run) ------------------------------------------------------ */
QP_API qp_status qp_session_set_quant_config(qp_session *session, const qp_quant_config *config);
QP_API const qp_quant_config *qp_session_quant_config(const qp_session *session);
/* Adds one layers: entry; QP_ERR_INVALID_ARG naming the node when `name` or an until node is
 * not in the graph, or an until node is not downstream of `name`. */
QP_API qp_status qp_session_add_layer_override(qp_session *session, const qp_layer_override *layer);
/* Opens the data set now (so a missing folder is reported before any pass runs); cfg's strings
 * are copied. NULL removes it. */
QP_API qp_status qp_session_set_calibration(qp_session *session, const qp_dataset_config *cfg);
QP_API qp_status qp_session_set_evaluation(qp_session *session, const qp_dataset_config *cfg);
QP_API qp_dataset *qp_session_evaluation_dataset(qp_session *session); /* NULL when none */
/* batch: images per engine run (>= 1; models with a fixed batch dimension use theirs).
 * threads: 0 = all cores. */
QP_API void qp_session_set_run_options(qp_session *session, int batch, int threads);
QP_API int qp_session_batch(const qp_session *session);  /* the effective batch of the plans */
QP_API int qp_session_threads(const qp_session *session);

/* ---- logging ---------------------------------------------------------------------------------- */
/* Messages at or below level are printed (default QP_LOG_INFO). */
QP_API void qp_session_set_verbosity(qp_session *session, qp_log_level level);
/* Progress bars are drawn only when stderr is a terminal; 0 turns them off, 1 forces them. */
QP_API void qp_session_set_progress(qp_session *session, int enabled);
/* Names the running pass in log lines ("qpipe: calib_minmax: ..."); NULL clears. */
QP_API void qp_session_set_current_pass(qp_session *session, const char *name);

/* ---- derived state ---------------------------------------------------------------------------- */
/* Plans the fp32 engine and derives tensor roles; call before passes run so that a model the
 * engine cannot run is reported up front. Cheap when nothing changed. */
QP_API qp_status qp_session_prepare(qp_session *session);
/* The tensor whose encoding `tensor` shares: itself, or for outputs of ops that only move or
 * select values (Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Identity, Dropout, Slice,
 * Split, Gather on data, Expand, Tile, DepthToSpace, SpaceToDepth, MaxPool, GlobalMaxPool,
 * ReduceMax, ReduceMin) the source of its data input, followed back through chains of such
 * ops. Calibration observes and sets only source tensors; the session copies a source's
 * encoding to the tensors sharing it, so the int8 engine moves int8 values through those ops
 * without requantizing. Setting a sharing tensor's range directly is ignored. */
QP_API int qp_session_encoding_source(const qp_session *session, int tensor);
QP_API int qp_session_node_skipped(const qp_session *session, int node);
/* The encodings store the engine's QUANTSIM and INT8 modes read (sharing tensors included). */
QP_API const qp_encodings *qp_session_encodings(const qp_session *session);
/* Call after editing the graph's structure (passes that add, remove or rewire nodes): drops
 * plans and derived roles, and the encodings of tensors that are no longer quantized. */
QP_API void qp_session_graph_changed(qp_session *session);

/* ---- engine ------------------------------------------------------------------------------------ */
/* The session's cached fp32 plan (owned by the session; valid until the graph or a weight
 * changes). Its input is fed with preprocessed images of the data sets. */
QP_API qp_status qp_session_fp32_plan(qp_session *session, qp_plan **plan);
/* A new plan in `mode` over the session's graph and encodings (caller frees it before changing
 * the session). */
QP_API qp_status qp_session_create_plan(qp_session *session, qp_engine_mode mode, qp_plan **plan);

#ifdef __cplusplus
}
#endif
#endif
