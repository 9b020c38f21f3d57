/* idx.h — read IDX files (the MNIST format), plain or gzip-compressed. */
#ifndef QPIPE_DATA_IDX_H
#define QPIPE_DATA_IDX_H

#include <stdint.h>

#include "ir/ir.h"
#include "qpipe/qp_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An IDX array: dtype UINT8, INT8, INT16, INT32, FLOAT or DOUBLE; data converted from the file's
 * big-endian order to host order; owned. */
typedef struct qp_idx {
    qp_dtype dtype;
    qp_shape shape;
    void *data;
    size_t nbytes;
} qp_idx;

/* Reads path (gzip or plain: zlib's gzread reads both). max_items > 0 keeps only the first
 * max_items entries along dim 0 (and reads no further), 0 reads all. Fails with QP_ERR_PARSE
 * naming the file for a bad magic, an unknown type code, a bad rank or truncated data. */
QP_API qp_status qp_idx_read(const char *path, int64_t max_items, qp_idx *out);

QP_API void qp_idx_free(qp_idx *idx);

#ifdef __cplusplus
}
#endif
#endif
