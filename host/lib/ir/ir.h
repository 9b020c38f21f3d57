/* ir.h — the graph IR: tensors and nodes in topological order, addressed by integer ids. */
#ifndef QPIPE_IR_H
#define QPIPE_IR_H

#include <stddef.h>
#include <stdint.h>

#include "qpipe/qp_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Numbering is ONNX's TensorProto.DataType, so importer and exporter need no table. */
typedef enum qp_dtype {
    QP_DT_UNDEFINED = 0,
    QP_DT_FLOAT = 1,
    QP_DT_UINT8 = 2,
    QP_DT_INT8 = 3,
    QP_DT_UINT16 = 4,
    QP_DT_INT16 = 5,
    QP_DT_INT32 = 6,
    QP_DT_INT64 = 7,
    QP_DT_STRING = 8,
    QP_DT_BOOL = 9,
    QP_DT_FLOAT16 = 10,
    QP_DT_DOUBLE = 11,
    QP_DT_UINT32 = 12,
    QP_DT_UINT64 = 13,
    QP_DT_BFLOAT16 = 16,
} qp_dtype;

/* IEEE binary16 <-> float32: widening is exact; narrowing rounds to nearest even. */
QP_API float qp_half_to_float(uint16_t h);
QP_API uint16_t qp_float_to_half(float f);

/* Bytes per element; 0 for UNDEFINED and STRING. */
QP_API size_t qp_dtype_size(qp_dtype dtype);
/* "float32", "int64", ... (ONNX spelling without the tensor(...) wrapper). */
QP_API const char *qp_dtype_name(qp_dtype dtype);

#define QP_MAX_RANK 8

/* A shape: rank -1 means unknown rank; a dim of -1 means unknown (symbolic dims keep their
 * name in dim_param so the CLI can print "N" rather than "-1"). */
typedef struct qp_shape {
    int rank;
    int64_t dims[QP_MAX_RANK];
} qp_shape;

QP_API int64_t qp_shape_numel(const qp_shape *shape); /* -1 if any dim unknown */
/* Writes "[1,3,224,224]" (unknown dims as "?") into buf; returns buf. */
QP_API const char *qp_shape_str(const qp_shape *shape, char *buf, size_t cap);

typedef struct qp_tensor {
    char *name;
    qp_dtype dtype;
    qp_shape shape;
    char *dim_param[QP_MAX_RANK]; /* symbolic dim names from the model, or NULL */
    void *data;                   /* initializer/constant contents, owned; NULL for activations */
    size_t nbytes;
    int producer;                 /* node id, or -1 for graph inputs and initializers */
    int *consumers;               /* node ids (a node appears once per input slot using it) */
    int n_consumers;
    int cap_consumers;
    unsigned is_graph_input : 1;  /* a real model input (not an initializer) */
    unsigned is_graph_output : 1;
    unsigned is_initializer : 1;  /* data != NULL from the model (initializer or Constant folded) */
} qp_tensor;

typedef enum qp_attr_type {
    QP_ATTR_UNDEFINED = 0,
    QP_ATTR_FLOAT = 1,
    QP_ATTR_INT = 2,
    QP_ATTR_STRING = 3,
    QP_ATTR_TENSOR = 4,
    QP_ATTR_GRAPH = 5,
    QP_ATTR_FLOATS = 6,
    QP_ATTR_INTS = 7,
    QP_ATTR_STRINGS = 8,
    QP_ATTR_TENSORS = 9,
    QP_ATTR_GRAPHS = 10,
    QP_ATTR_SPARSE_TENSOR = 11,
    QP_ATTR_SPARSE_TENSORS = 12,
    QP_ATTR_TYPE_PROTO = 13,
    QP_ATTR_TYPE_PROTOS = 14,
} qp_attr_type; /* ONNX AttributeProto.AttributeType numbering */

/* A tensor-valued attribute (Constant's value): a free-standing tensor, not in the graph. */
typedef struct qp_attr_tensor {
    qp_dtype dtype;
    qp_shape shape;
    void *data;
    size_t nbytes;
} qp_attr_tensor;

typedef struct qp_attr {
    char *name;
    qp_attr_type type;
    float f;
    int64_t i;
    char *s;          /* NUL-terminated copy (strings may hold bytes; s_len is exact) */
    size_t s_len;
    float *floats;
    int64_t *ints;
    char **strings;
    int n;            /* element count of floats/ints/strings */
    qp_attr_tensor *t;
} qp_attr;

typedef struct qp_node {
    char *name;
    char *op_type;
    char *domain;     /* "" for the default ONNX domain */
    int *inputs;      /* tensor ids; -1 marks an omitted optional input ("" in ONNX) */
    int n_inputs;
    int *outputs;     /* tensor ids; -1 marks an omitted optional output */
    int n_outputs;
    qp_attr *attrs;
    int n_attrs;
} qp_node;

typedef struct qp_opset {
    char *domain;
    int64_t version;
} qp_opset;

typedef struct qp_name_index qp_name_index; /* name -> tensor id hash, private to ir.c */

typedef struct qp_graph {
    char *name;
    qp_tensor **tensors; /* pointers so a tensor stays put while the table grows */
    int n_tensors;
    int cap_tensors;
    qp_node *nodes;      /* topological order once qp_graph_finalize() succeeds */
    int n_nodes;
    int cap_nodes;
    int *inputs;         /* graph input tensor ids (initializers excluded), model order */
    int n_inputs;
    int *outputs;        /* graph output tensor ids, model order */
    int n_outputs;
    qp_opset *opsets;
    int n_opsets;
    int64_t ir_version;
    char *producer_name;
    qp_name_index *index;
} qp_graph;

QP_API qp_graph *qp_graph_new(void);
QP_API void qp_graph_free(qp_graph *graph);
/* Frees what a node owns (names, edges, attributes), not the node itself: for passes that drop
 * nodes from g->nodes. */
void qp_node_free_contents(qp_node *node);

/* Tensor id for name, or -1. */
QP_API int qp_graph_find_tensor(const qp_graph *graph, const char *name);
/* Returns the id of the tensor called name, creating an empty one (dtype UNDEFINED, rank -1)
 * if none exists. Returns -1 (and sets the error) on allocation failure. */
QP_API int qp_graph_get_or_add_tensor(qp_graph *graph, const char *name);
/* Appends a node; copies strings; inputs/outputs are tensor ids (-1 allowed).
 * Returns the node id or -1 on allocation failure. Attributes are added with qp_node_add_attr. */
QP_API int qp_graph_add_node(qp_graph *graph, const char *name, const char *op_type,
                             const char *domain, const int *inputs, int n_inputs,
                             const int *outputs, int n_outputs);
/* Appends a zeroed attribute with a copy of name and returns it (NULL on allocation failure). */
QP_API qp_attr *qp_node_add_attr(qp_node *node, const char *name, qp_attr_type type);

QP_API int64_t qp_graph_opset(const qp_graph *graph, const char *domain); /* 0 if absent */

/* Checks the graph and brings it into canonical form: producer/consumer links rebuilt,
 * nodes sorted topologically. Fails with QP_ERR_INVALID_MODEL naming the problem:
 * a tensor produced twice, a node input nobody produces (dangling edge, missing
 * initializer), a cycle, a graph output nobody produces. */
QP_API qp_status qp_graph_finalize(qp_graph *graph);

/* Attribute lookup helpers: return the attribute or fallback when absent. */
QP_API const qp_attr *qp_node_attr(const qp_node *node, const char *name);
QP_API int64_t qp_node_attr_int(const qp_node *node, const char *name, int64_t fallback);
QP_API float qp_node_attr_float(const qp_node *node, const char *name, float fallback);
/* Returns the string, or fallback when absent. */
QP_API const char *qp_node_attr_string(const qp_node *node, const char *name, const char *fallback);
/* Returns the ints array and its length via n (0 and NULL when absent). */
QP_API const int64_t *qp_node_attr_ints(const qp_node *node, const char *name, int *n);
QP_API const float *qp_node_attr_floats(const qp_node *node, const char *name, int *n);

/* Sets tensor data (takes ownership of data, which must come from malloc). */
QP_API void qp_tensor_set_data(qp_tensor *tensor, qp_dtype dtype, const qp_shape *shape,
                               void *data, size_t nbytes);

#ifdef __cplusplus
}
#endif
#endif
