/* ops_common_invoke.h — runs a single op outside any plan (unit tests, one-off evaluation of a node). */
#ifndef QPIPE_OPS_COMMON_INVOKE_H
#define QPIPE_OPS_COMMON_INVOKE_H

#include "engine/op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Looks up node's op, infers output shapes (inputs that carry data count as plan-time
 * constants; NULL entries are omitted optional inputs), mallocs each output's data, then
 * prepares, runs and releases the op. On success the caller frees outputs[k].data with free().
 * On failure no output data is left allocated. */
qp_status qp_ops_invoke(const qp_node *node, int64_t opset, const qp_value *const *inputs, int n_inputs,
                        qp_value *outputs, int n_outputs, int n_threads);

/* Builders for evaluating ops in isolation (tests, folding passes). */
/* Appends a node of op_type with fresh tensors "<op>_<id>_in<i>" / "_out<k>" to g and returns
 * it (NULL on allocation failure). The pointer is valid until the next node is added to g. */
qp_node *qp_ops_scratch_node(qp_graph *g, const char *op_type, int n_inputs, int n_outputs);
/* Attribute setters (copy their arguments; return QP_ERR_NOMEM on allocation failure). */
qp_status qp_ops_set_attr_int(qp_node *node, const char *name, int64_t v);
qp_status qp_ops_set_attr_float(qp_node *node, const char *name, float v);
qp_status qp_ops_set_attr_string(qp_node *node, const char *name, const char *v);
qp_status qp_ops_set_attr_ints(qp_node *node, const char *name, const int64_t *v, int n);
qp_status qp_ops_set_attr_floats(qp_node *node, const char *name, const float *v, int n);
qp_status qp_ops_set_attr_tensor(qp_node *node, const char *name, qp_dtype dtype, const qp_shape *shape,
                                 const void *data);
/* A value viewing data (not copied) with nbytes derived from shape and dtype. */
qp_value qp_ops_value(qp_dtype dtype, int rank, const int64_t *dims, void *data);

#ifdef __cplusplus
}
#endif
#endif
