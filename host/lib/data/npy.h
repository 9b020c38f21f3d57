/* npy.h — read and write NumPy .npy files (v1/v2/v3 headers, little-endian, C order). */
#ifndef QPIPE_DATA_NPY_H
#define QPIPE_DATA_NPY_H

#include <stddef.h>

#include "ir/ir.h"
#include "qpipe/qp_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One array as stored in a .npy file. data is in host (little-endian) order, C order, owned. */
typedef struct qp_npy {
    qp_dtype dtype;
    qp_shape shape; /* rank 0 for a scalar */
    void *data;     /* malloc'd, never NULL after a successful read (1 byte for empty arrays) */
    size_t nbytes;
} qp_npy;

/* Reads path. Accepted descr: '<f4' '<f8' '<f2' '<i8' '<i4' '<i2' '<u2' '<u4' '<u8' '|u1' '|i1'
 * '|b1' ('=' and '<' alike, '|' and '<' alike for one-byte types). Fails with QP_ERR_PARSE
 * naming the file for a bad magic, malformed header or truncated data, and QP_ERR_UNSUPPORTED
 * for big-endian or other descrs and fortran_order True. */
QP_API qp_status qp_npy_read(const char *path, qp_npy *out);

/* Same from a memory buffer; name is used in messages. */
QP_API qp_status qp_npy_parse(const void *bytes, size_t size, const char *name, qp_npy *out);

/* Reads path and converts any numeric dtype to float32 (bool to 0/1). *data is malloc'd. */
QP_API qp_status qp_npy_read_f32(const char *path, float **data, qp_shape *shape);

/* Writes data (C order, host order) to path through a temporary file renamed into place, so a
 * crash never leaves half a file. dtype: FLOAT, DOUBLE, FLOAT16, INT64, INT32, INT16, INT8,
 * UINT8, UINT16, UINT32, UINT64, BOOL. */
QP_API qp_status qp_npy_write(const char *path, qp_dtype dtype, const qp_shape *shape,
                              const void *data);

QP_API void qp_npy_free(qp_npy *npy);

#ifdef __cplusplus
}
#endif
#endif
