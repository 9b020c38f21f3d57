/* onnx_export.h — the qpipe IR to an ONNX ModelProto (protobuf-c), written atomically. */
#ifndef QPIPE_ONNX_EXPORT_H
#define QPIPE_ONNX_EXPORT_H

#include <stddef.h>
#include <stdio.h>

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the writer does beyond copying the graph. Zero-initialize, then set what you need. */
typedef struct qp_onnx_export_options {
    /* 1: write every initializer, also those no node reads (a faithful copy of an imported
     * file); 0: drop unused initializers (what passes leave behind after rewiring). */
    int keep_unused_initializers;
    /* Overrides the graph's producer_name when not NULL ("qpipe"); producer_version likewise. */
    const char *producer_name;
    const char *producer_version;
} qp_onnx_export_options;

/* Serializes graph (finalized: unique names, topological order) to a malloc'd buffer. Every
 * attribute kind and dtype the importer keeps is written back: FLOAT, INT, STRING, TENSOR,
 * FLOATS, INTS, STRINGS attributes; tensors as little-endian raw_data; graph inputs and outputs
 * with dtype and shape (symbolic dims by name); value_info for intermediate tensors whose dtype
 * is known. Attributes the importer keeps only by type (subgraphs, sparse tensors, type protos)
 * cannot be written back: QP_ERR_UNSUPPORTED naming the node. options may be NULL. */
QP_API qp_status qp_onnx_export_memory(const qp_graph *graph, const qp_onnx_export_options *options, void **bytes,
                                       size_t *n);

/* Writes graph to path through a temporary file in the same folder renamed into place: a failed
 * or interrupted export leaves neither a partial model nor the temporary file behind. Missing
 * parent folders are created (and removed again when the export fails). Messages start with
 * the path. */
QP_API qp_status qp_onnx_save(const qp_graph *graph, const char *path, const qp_onnx_export_options *options);

/* ---- atomic file writing, shared by every exporter (ONNX, JSON encodings, scale tables) ---- */

/* Called with the temporary file open for writing; returns QP_OK or an error (with message). */
typedef qp_status (*qp_file_writer)(FILE *f, void *user);
/* Creates missing parent folders of path, writes "<path>.tmp-<pid>" through write, flushes and
 * syncs it, and renames it to path. On any failure the temporary file and the folders created
 * here are removed and the error names path. */
QP_API qp_status qp_write_file_atomic(const char *path, qp_file_writer write, void *user);

#ifdef __cplusplus
}
#endif
#endif
