/* ops_common_index.h — index-driven data ops (GatherND, ScatterND, ScatterElements, OneHot, Trilu, EyeLike)
 * that shape.c registers. */
#ifndef QPIPE_OPS_COMMON_INDEX_H
#define QPIPE_OPS_COMMON_INDEX_H

#include "engine/op.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const qp_op_def qp_op_gather_nd;
extern const qp_op_def qp_op_scatter_nd;
extern const qp_op_def qp_op_scatter_elements;
extern const qp_op_def qp_op_scatter; /* opset 9-10 name of ScatterElements */
extern const qp_op_def qp_op_one_hot;
extern const qp_op_def qp_op_trilu;
extern const qp_op_def qp_op_eye_like;

#ifdef __cplusplus
}
#endif
#endif
