/* graph_edit.h — graph surgery for passes (removing nodes, adding initializers, Constant nodes to initializers). */
#ifndef QPIPE_GRAPH_EDIT_H
#define QPIPE_GRAPH_EDIT_H

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Removes the nodes with remove[id] != 0 (freeing them) and keeps the others in order. Tensors
 * stay (ids are stable; a tensor left without producer or consumers is simply unused). Call
 * qp_graph_finalize afterwards. */
QP_API void qp_graph_remove_nodes(qp_graph *graph, const unsigned char *remove);

/* Adds a float initializer with a fresh name derived from base ("base", "base_1", ...); takes
 * ownership of data (malloc'd). Returns the tensor id or -1 (error set). */
QP_API int qp_graph_add_initializer(qp_graph *graph, const char *base, qp_dtype dtype, const qp_shape *shape,
                                    void *data, size_t nbytes);

/* Turns every Constant node with a tensor-valued attribute (value, value_float(s), value_int(s))
 * whose output is not a graph output into an initializer of the same name, and removes the
 * node. Returns the number converted (>= 0) or -1 on allocation failure; finalizes the graph
 * when anything changed. */
QP_API int qp_graph_constants_to_initializers(qp_graph *graph);

/* Evaluates every node whose inputs are all initializers (weights reshaped or transposed in the
 * graph, constant arithmetic) with the engine's own op implementations and replaces it by its
 * outputs as initializers, so the quantizer sees such weights as weights. Nodes that depend on
 * input shapes (Shape, Size and what follows) are left to the planner, since their values change
 * with the batch size. Nodes whose op fails or is unknown are kept. Returns the number of nodes
 * folded or -1 on allocation failure; finalizes the graph when anything changed. */
QP_API int qp_graph_fold_constants(qp_graph *graph);

/* Sets (adding when absent) an INT or FLOAT attribute of a node. */
QP_API qp_status qp_node_set_attr_int(qp_node *node, const char *name, int64_t value);
QP_API qp_status qp_node_set_attr_float(qp_node *node, const char *name, float value);

#ifdef __cplusplus
}
#endif
#endif
