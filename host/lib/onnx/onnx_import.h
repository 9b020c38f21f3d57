/* onnx_import.h — ONNX protobuf (via protobuf-c) to the qpipe IR, with validation. */
#ifndef QPIPE_ONNX_IMPORT_H
#define QPIPE_ONNX_IMPORT_H

#include <stddef.h>

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loads an ONNX model file. External data files are resolved relative to the model's folder.
 * Constant nodes are kept as nodes (the engine folds them). On failure returns a status and a
 * message that starts with the path: "model.onnx: truncated or corrupt protobuf ...". */
QP_API qp_status qp_onnx_load(const char *path, qp_graph **out);
/* Same from memory; base_dir resolves external data (may be NULL); name is used in messages. */
QP_API qp_status qp_onnx_load_memory(const void *bytes, size_t n, const char *base_dir,
                                     const char *name, qp_graph **out);

/* Loads a serialized TensorProto (the ONNX backend tests' input_0.pb / output_0.pb).
 * *data is malloc'd and owned by the caller. */
QP_API qp_status qp_onnx_load_tensor(const char *path, char **name, qp_dtype *dtype,
                                     qp_shape *shape, void **data, size_t *nbytes);

#ifdef __cplusplus
}
#endif
#endif
