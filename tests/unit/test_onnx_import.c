/* test_onnx_import.c — ONNX import: models built in C with protobuf-c, packed, then loaded (data, attributes, validation errors). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_support.h"
#include "onnx/onnx.pb-c.h"
#include "onnx/onnx_import.h"

/* ---- a tiny model builder: protobuf-c structs on the heap, freed together ------------------ */

typedef struct mb {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsets[1];
    Onnx__NodeProto *nodes[16];
    Onnx__TensorProto *inits[32];
    Onnx__ValueInfoProto *inputs[8];
    Onnx__ValueInfoProto *outputs[8];
    Onnx__ValueInfoProto *value_infos[8];
    void *allocs[512];
    int n_allocs;
} mb;

static void *mb_alloc(mb *b, size_t n) {
    void *p = calloc(1, n ? n : 1);
    assert_non_null(p);
    assert_true(b->n_allocs < 512);
    b->allocs[b->n_allocs++] = p;
    return p;
}

static void *mb_copy(mb *b, const void *src, size_t n) {
    void *p = mb_alloc(b, n);
    if (n) memcpy(p, src, n);
    return p;
}

static mb *mb_new(void) {
    mb *b = calloc(1, sizeof *b);
    assert_non_null(b);
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    b->model = model;
    b->graph = graph;
    b->opset = opset;
    b->opset.domain = "";
    b->opset.has_version = 1;
    b->opset.version = 13;
    b->opsets[0] = &b->opset;
    b->model.has_ir_version = 1;
    b->model.ir_version = 7;
    b->model.producer_name = "qpipe-test";
    b->model.n_opset_import = 1;
    b->model.opset_import = b->opsets;
    b->model.graph = &b->graph;
    b->graph.name = "g";
    b->graph.node = b->nodes;
    b->graph.initializer = b->inits;
    b->graph.input = b->inputs;
    b->graph.output = b->outputs;
    b->graph.value_info = b->value_infos;
    return b;
}

static void mb_free(mb *b) {
    for (int i = 0; i < b->n_allocs; i++) free(b->allocs[i]);
    free(b);
}

static Onnx__TensorProto *mb_tensor(mb *b, const char *name, int dtype, const int64_t *dims, int nd) {
    Onnx__TensorProto init = ONNX__TENSOR_PROTO__INIT;
    Onnx__TensorProto *t = mb_copy(b, &init, sizeof init);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)nd;
    t->dims = mb_copy(b, dims, (size_t)nd * sizeof(int64_t));
    return t;
}

static Onnx__TensorProto *mb_add_init(mb *b, Onnx__TensorProto *t) {
    assert_true(b->graph.n_initializer < 32);
    b->inits[b->graph.n_initializer++] = t;
    return t;
}

static Onnx__TensorProto *mb_init_raw(mb *b, const char *name, int dtype, const int64_t *dims, int nd,
                                      const void *data, size_t nbytes) {
    Onnx__TensorProto *t = mb_tensor(b, name, dtype, dims, nd);
    t->has_raw_data = 1;
    t->raw_data.len = nbytes;
    t->raw_data.data = mb_copy(b, data, nbytes);
    return mb_add_init(b, t);
}

/* dims: -1 means a symbolic dim named by params[d]. */
static Onnx__ValueInfoProto *mb_value_info(mb *b, const char *name, int elem, const int64_t *dims,
                                           int nd, const char *const *params) {
    Onnx__ValueInfoProto vi_init = ONNX__VALUE_INFO_PROTO__INIT;
    Onnx__TypeProto type_init = ONNX__TYPE_PROTO__INIT;
    Onnx__TypeProto__Tensor tt_init = ONNX__TYPE_PROTO__TENSOR__INIT;
    Onnx__TensorShapeProto shape_init = ONNX__TENSOR_SHAPE_PROTO__INIT;
    Onnx__ValueInfoProto *vi = mb_copy(b, &vi_init, sizeof vi_init);
    Onnx__TypeProto *type = mb_copy(b, &type_init, sizeof type_init);
    Onnx__TypeProto__Tensor *tt = mb_copy(b, &tt_init, sizeof tt_init);
    vi->name = (char *)name;
    vi->type = type;
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    if (nd >= 0) {
        Onnx__TensorShapeProto *shape = mb_copy(b, &shape_init, sizeof shape_init);
        shape->n_dim = (size_t)nd;
        shape->dim = mb_alloc(b, (size_t)(nd ? nd : 1) * sizeof *shape->dim);
        for (int d = 0; d < nd; d++) {
            Onnx__TensorShapeProto__Dimension dim_init = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
            Onnx__TensorShapeProto__Dimension *dim = mb_copy(b, &dim_init, sizeof dim_init);
            if (dims[d] >= 0) {
                dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                dim->dim_value = dims[d];
            } else if (params && params[d]) {
                dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                dim->dim_param = (char *)params[d];
            }
            shape->dim[d] = dim;
        }
        tt->shape = shape;
    }
    return vi;
}

static void mb_input(mb *b, const char *name, int elem, const int64_t *dims, int nd,
                     const char *const *params) {
    b->inputs[b->graph.n_input++] = mb_value_info(b, name, elem, dims, nd, params);
}

static void mb_output(mb *b, const char *name, int elem, const int64_t *dims, int nd) {
    b->outputs[b->graph.n_output++] = mb_value_info(b, name, elem, dims, nd, NULL);
}

/* ins/outs: NULL-terminated name lists ("" = omitted optional). */
static Onnx__NodeProto *mb_node(mb *b, const char *name, const char *op, const char *const *ins,
                                const char *const *outs) {
    Onnx__NodeProto init = ONNX__NODE_PROTO__INIT;
    Onnx__NodeProto *n = mb_copy(b, &init, sizeof init);
    n->name = (char *)name;
    n->op_type = (char *)op;
    while (ins && ins[n->n_input]) n->n_input++;
    while (outs && outs[n->n_output]) n->n_output++;
    n->input = (char **)ins;
    n->output = (char **)outs;
    n->attribute = mb_alloc(b, 16 * sizeof *n->attribute);
    b->nodes[b->graph.n_node++] = n;
    return n;
}

static Onnx__AttributeProto *mb_attr(mb *b, Onnx__NodeProto *n, const char *name, int type) {
    Onnx__AttributeProto init = ONNX__ATTRIBUTE_PROTO__INIT;
    Onnx__AttributeProto *a = mb_copy(b, &init, sizeof init);
    a->name = (char *)name;
    if (type >= 0) {
        a->has_type = 1;
        a->type = (Onnx__AttributeProto__AttributeType)type;
    }
    n->attribute[n->n_attribute++] = a;
    return a;
}

static uint8_t *mb_pack(mb *b, size_t *n) {
    *n = onnx__model_proto__get_packed_size(&b->model);
    uint8_t *buf = malloc(*n ? *n : 1);
    assert_non_null(buf);
    assert_int_equal(onnx__model_proto__pack(&b->model, buf), *n);
    return buf;
}

/* Packs the model and loads it from memory: returns the status, graph in *out. */
static qp_status mb_load(mb *b, const char *base_dir, qp_graph **out) {
    size_t n;
    uint8_t *buf = mb_pack(b, &n);
    qp_status st = qp_onnx_load_memory(buf, n, base_dir, "test.onnx", out);
    free(buf);
    return st;
}

/* The usual one-node model: y = Relu(x), x float [1,4]. */
static const char *const X_IN[] = {"x", NULL};
static const char *const Y_OUT[] = {"y", NULL};
static const int64_t DIMS_1x4[] = {1, 4};

static mb *mb_relu_model(void) {
    mb *b = mb_new();
    mb_input(b, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2, NULL);
    mb_node(b, "relu", "Relu", X_IN, Y_OUT);
    mb_output(b, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2);
    return b;
}

static const qp_tensor *tensor_named(const qp_graph *g, const char *name) {
    int id = qp_graph_find_tensor(g, name);
    assert_true(id >= 0);
    return g->tensors[id];
}

static void assert_error_contains(qp_status st, qp_status want, const char *prefix, const char *part) {
    const char *msg = qp_error_message();
    if (st != want || strncmp(msg, prefix, strlen(prefix)) != 0 || !strstr(msg, part))
        print_message("status %d (want %d), message: %s\n", (int)st, (int)want, msg);
    assert_int_equal(st, want);
    assert_true(strncmp(msg, prefix, strlen(prefix)) == 0);
    assert_non_null(strstr(msg, part));
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_minimal_model_metadata_and_symbolic_batch(void **state) {
    (void)state;
    mb *b = mb_new();
    static const int64_t dims[] = {-1, 3, 8};
    static const char *const params[] = {"N", NULL, NULL};
    mb_input(b, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, dims, 3, params);
    mb_node(b, "relu", "Relu", X_IN, Y_OUT);
    static const int64_t ydims[] = {-1, 3, 8};
    mb_output(b, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, ydims, 3);
    qp_graph *g = NULL;
    assert_int_equal(mb_load(b, NULL, &g), QP_OK);
    assert_int_equal(g->ir_version, 7);
    assert_string_equal(g->producer_name, "qpipe-test");
    assert_string_equal(g->name, "g");
    assert_int_equal(qp_graph_opset(g, ""), 13);
    assert_int_equal(qp_graph_opset(g, "ai.onnx"), 13);
    assert_int_equal(g->n_inputs, 1);
    assert_int_equal(g->n_outputs, 1);
    assert_int_equal(g->n_nodes, 1);
    assert_string_equal(g->nodes[0].op_type, "Relu");
    assert_string_equal(g->nodes[0].domain, "");
    const qp_tensor *x = g->tensors[g->inputs[0]];
    assert_string_equal(x->name, "x");
    assert_true(x->is_graph_input);
    assert_false(x->is_initializer);
    assert_int_equal(x->dtype, QP_DT_FLOAT);
    assert_int_equal(x->shape.rank, 3);
    assert_int_equal(x->shape.dims[0], -1);
    assert_int_equal(x->shape.dims[1], 3);
    assert_int_equal(x->shape.dims[2], 8);
    assert_non_null(x->dim_param[0]);
    assert_string_equal(x->dim_param[0], "N");
    assert_null(x->dim_param[1]);
    const qp_tensor *y = g->tensors[g->outputs[0]];
    assert_true(y->is_graph_output);
    assert_int_equal(y->producer, 0);
    assert_int_equal(y->shape.rank, 3);
    assert_int_equal(y->shape.dims[2], 8);
    qp_graph_free(g);
    mb_free(b);
}

static void test_initializers_raw_and_typed_every_dtype(void **state) {
    (void)state;
    mb *b = mb_relu_model();
    static const int64_t d3[] = {3}, d2x2[] = {2, 2}, d4[] = {4};
    const float fvals[3] = {1.5f, -2.0f, 3.25f};
    mb_init_raw(b, "f_raw", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d3, 1, fvals, sizeof fvals);
    Onnx__TensorProto *t = mb_add_init(b, mb_tensor(b, "f_typed", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d3, 1));
    t->n_float_data = 3;
    t->float_data = mb_copy(b, fvals, sizeof fvals);

    const int32_t i8vals[4] = {-128, -1, 0, 127};
    t = mb_add_init(b, mb_tensor(b, "i8_typed", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, d2x2, 2));
    t->n_int32_data = 4;
    t->int32_data = mb_copy(b, i8vals, sizeof i8vals);
    const int8_t i8raw[4] = {-128, -1, 0, 127};
    mb_init_raw(b, "i8_raw", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, d2x2, 2, i8raw, sizeof i8raw);

    const int32_t u8vals[3] = {0, 128, 255};
    t = mb_add_init(b, mb_tensor(b, "u8_typed", ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, d3, 1));
    t->n_int32_data = 3;
    t->int32_data = mb_copy(b, u8vals, sizeof u8vals);

    const int32_t i16vals[3] = {-32768, 5, 32767};
    t = mb_add_init(b, mb_tensor(b, "i16_typed", ONNX__TENSOR_PROTO__DATA_TYPE__INT16, d3, 1));
    t->n_int32_data = 3;
    t->int32_data = mb_copy(b, i16vals, sizeof i16vals);

    const int32_t u16vals[3] = {0, 40000, 65535};
    t = mb_add_init(b, mb_tensor(b, "u16_typed", ONNX__TENSOR_PROTO__DATA_TYPE__UINT16, d3, 1));
    t->n_int32_data = 3;
    t->int32_data = mb_copy(b, u16vals, sizeof u16vals);

    const int32_t boolvals[4] = {1, 0, 0, 1};
    t = mb_add_init(b, mb_tensor(b, "bool_typed", ONNX__TENSOR_PROTO__DATA_TYPE__BOOL, d4, 1));
    t->n_int32_data = 4;
    t->int32_data = mb_copy(b, boolvals, sizeof boolvals);

    const int32_t f16vals[3] = {0x3c00, 0xc000, 0x7bff}; /* 1.0, -2.0, 65504 */
    t = mb_add_init(b, mb_tensor(b, "f16_typed", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, d3, 1));
    t->n_int32_data = 3;
    t->int32_data = mb_copy(b, f16vals, sizeof f16vals);

    const int32_t i32vals[3] = {INT32_MIN, 0, INT32_MAX};
    t = mb_add_init(b, mb_tensor(b, "i32_typed", ONNX__TENSOR_PROTO__DATA_TYPE__INT32, d3, 1));
    t->n_int32_data = 3;
    t->int32_data = mb_copy(b, i32vals, sizeof i32vals);

    const int64_t i64vals[3] = {INT64_MIN, -7, INT64_MAX};
    t = mb_add_init(b, mb_tensor(b, "i64_typed", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, d3, 1));
    t->n_int64_data = 3;
    t->int64_data = mb_copy(b, i64vals, sizeof i64vals);
    mb_init_raw(b, "i64_raw", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, d3, 1, i64vals, sizeof i64vals);

    const double dvals[3] = {1e-300, -0.5, 1e300};
    t = mb_add_init(b, mb_tensor(b, "f64_typed", ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, d3, 1));
    t->n_double_data = 3;
    t->double_data = mb_copy(b, dvals, sizeof dvals);

    const uint64_t u32vals[3] = {0, 7, UINT32_MAX};
    t = mb_add_init(b, mb_tensor(b, "u32_typed", ONNX__TENSOR_PROTO__DATA_TYPE__UINT32, d3, 1));
    t->n_uint64_data = 3;
    t->uint64_data = mb_copy(b, u32vals, sizeof u32vals);

    const uint64_t u64vals[3] = {0, 1ull << 63, UINT64_MAX};
    t = mb_add_init(b, mb_tensor(b, "u64_typed", ONNX__TENSOR_PROTO__DATA_TYPE__UINT64, d3, 1));
    t->n_uint64_data = 3;
    t->uint64_data = mb_copy(b, u64vals, sizeof u64vals);

    /* A scalar (rank 0) and an empty tensor (a zero dim). */
    const float scalar = 42.0f;
    mb_init_raw(b, "scalar", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, NULL, 0, &scalar, sizeof scalar);
    static const int64_t d0x3[] = {0, 3};
    mb_add_init(b, mb_tensor(b, "empty", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d0x3, 2));

    qp_graph *g = NULL;
    assert_int_equal(mb_load(b, NULL, &g), QP_OK);
    assert_int_equal(g->n_inputs, 1); /* initializers are not inputs */

    const qp_tensor *x = tensor_named(g, "f_raw");
    assert_true(x->is_initializer);
    assert_false(x->is_graph_input);
    assert_int_equal(x->producer, -1);
    assert_int_equal(x->dtype, QP_DT_FLOAT);
    assert_int_equal(x->shape.rank, 1);
    assert_int_equal(x->shape.dims[0], 3);
    assert_int_equal(x->nbytes, sizeof fvals);
    assert_memory_equal(x->data, fvals, sizeof fvals);
    x = tensor_named(g, "f_typed");
    assert_int_equal(x->nbytes, sizeof fvals);
    assert_memory_equal(x->data, fvals, sizeof fvals);

    x = tensor_named(g, "i8_typed");
    assert_int_equal(x->dtype, QP_DT_INT8);
    assert_int_equal(x->shape.rank, 2);
    assert_int_equal(x->nbytes, 4);
    assert_memory_equal(x->data, i8raw, 4);
    x = tensor_named(g, "i8_raw");
    assert_memory_equal(x->data, i8raw, 4);

    const uint8_t u8want[3] = {0, 128, 255};
    x = tensor_named(g, "u8_typed");
    assert_int_equal(x->dtype, QP_DT_UINT8);
    assert_memory_equal(x->data, u8want, 3);

    const int16_t i16want[3] = {-32768, 5, 32767};
    x = tensor_named(g, "i16_typed");
    assert_int_equal(x->dtype, QP_DT_INT16);
    assert_int_equal(x->nbytes, 6);
    assert_memory_equal(x->data, i16want, 6);

    const uint16_t u16want[3] = {0, 40000, 65535};
    x = tensor_named(g, "u16_typed");
    assert_int_equal(x->dtype, QP_DT_UINT16);
    assert_memory_equal(x->data, u16want, 6);

    const uint8_t boolwant[4] = {1, 0, 0, 1};
    x = tensor_named(g, "bool_typed");
    assert_int_equal(x->dtype, QP_DT_BOOL);
    assert_int_equal(x->nbytes, 4);
    assert_memory_equal(x->data, boolwant, 4);

    const uint16_t f16want[3] = {0x3c00, 0xc000, 0x7bff};
    x = tensor_named(g, "f16_typed");
    assert_int_equal(x->dtype, QP_DT_FLOAT16); /* kept as float16, not widened */
    assert_int_equal(x->nbytes, 6);
    assert_memory_equal(x->data, f16want, 6);

    x = tensor_named(g, "i32_typed");
    assert_int_equal(x->dtype, QP_DT_INT32);
    assert_memory_equal(x->data, i32vals, sizeof i32vals);

    x = tensor_named(g, "i64_typed");
    assert_int_equal(x->dtype, QP_DT_INT64);
    assert_int_equal(x->nbytes, 24);
    assert_memory_equal(x->data, i64vals, sizeof i64vals);
    x = tensor_named(g, "i64_raw");
    assert_memory_equal(x->data, i64vals, sizeof i64vals);

    x = tensor_named(g, "f64_typed");
    assert_int_equal(x->dtype, QP_DT_DOUBLE);
    assert_memory_equal(x->data, dvals, sizeof dvals);

    const uint32_t u32want[3] = {0, 7, UINT32_MAX};
    x = tensor_named(g, "u32_typed");
    assert_int_equal(x->dtype, QP_DT_UINT32);
    assert_int_equal(x->nbytes, 12);
    assert_memory_equal(x->data, u32want, 12);

    x = tensor_named(g, "u64_typed");
    assert_int_equal(x->dtype, QP_DT_UINT64);
    assert_memory_equal(x->data, u64vals, sizeof u64vals);

    x = tensor_named(g, "scalar");
    assert_int_equal(x->shape.rank, 0);
    assert_int_equal(x->nbytes, 4);
    assert_true(*(const float *)x->data == 42.0f);

    x = tensor_named(g, "empty");
    assert_true(x->is_initializer);
    assert_non_null(x->data);
    assert_int_equal(x->nbytes, 0);
    assert_int_equal(x->shape.dims[0], 0);
    qp_graph_free(g);
    mb_free(b);
}

static void test_initializers_listed_as_inputs_are_initializers(void **state) {
    (void)state;
    mb *b = mb_new();
    static const int64_t d4[] = {4};
    const float w[4] = {1, 2, 3, 4};
    mb_input(b, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d4, 1, NULL);
    mb_input(b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d4, 1, NULL); /* IR 3 style */
    mb_init_raw(b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d4, 1, w, sizeof w);
    static const char *const ins[] = {"x", "w", NULL};
    mb_node(b, "add", "Add", ins, Y_OUT);
    mb_output(b, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d4, 1);
    qp_graph *g = NULL;
    assert_int_equal(mb_load(b, NULL, &g), QP_OK);
    assert_int_equal(g->n_inputs, 1);
    assert_string_equal(g->tensors[g->inputs[0]]->name, "x");
    const qp_tensor *wt = tensor_named(g, "w");
    assert_true(wt->is_initializer);
    assert_false(wt->is_graph_input);
    assert_int_equal(wt->n_consumers, 1);
    qp_graph_free(g);
    mb_free(b);
}

static void test_attributes_of_every_kind(void **state) {
    (void)state;
    mb *b = mb_relu_model();
    static const char *const c_out[] = {"c", NULL};
    Onnx__NodeProto *konst = mb_node(b, "const", "Constant", NULL, c_out);
    Onnx__AttributeProto *a = mb_attr(b, konst, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    static const int64_t d2[] = {2};
    const int64_t cvals[2] = {5, -6};
    a->t = mb_tensor(b, "cval", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, d2, 1);
    a->t->n_int64_data = 2;
    a->t->int64_data = mb_copy(b, cvals, sizeof cvals);

    static const char *const n_in[] = {"y", "c", "", NULL};
    static const char *const n_out[] = {"z", "", NULL};
    Onnx__NodeProto *n = mb_node(b, "custom", "Custom", n_in, n_out);
    n->domain = "com.example";
    /* proto2: a scalar is only serialized when its has_ flag is set. */
    a = mb_attr(b, n, "alpha", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = 0.25f;
    a = mb_attr(b, n, "axis", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = -3;
    a = mb_attr(b, n, "mode", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.data = (uint8_t *)"nearest";
    a->s.len = 7;
    const float fl[3] = {0.5f, 1.5f, -2.5f};
    a = mb_attr(b, n, "scales", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    a->n_floats = 3;
    a->floats = mb_copy(b, fl, sizeof fl);
    const int64_t in[4] = {1, 1, 2, 2};
    a = mb_attr(b, n, "pads", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = 4;
    a->ints = mb_copy(b, in, sizeof in);
    a = mb_attr(b, n, "names", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
    a->n_strings = 2;
    a->strings = mb_alloc(b, 2 * sizeof *a->strings);
    a->strings[0].data = (uint8_t *)"ab";
    a->strings[0].len = 2;
    a->strings[1].data = (uint8_t *)"xyz";
    a->strings[1].len = 3;
    Onnx__GraphProto sub = ONNX__GRAPH_PROTO__INIT;
    sub.name = "body";
    a = mb_attr(b, n, "body", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH);
    a->g = &sub;
    Onnx__SparseTensorProto sparse = ONNX__SPARSE_TENSOR_PROTO__INIT;
    a = mb_attr(b, n, "sparse", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR);
    a->sparse_tensor = &sparse;
    /* Old exporters omit AttributeProto.type: it is inferred from the field holding the value. */
    a = mb_attr(b, n, "untyped_i", -1);
    a->has_i = 1;
    a->i = 9;
    a = mb_attr(b, n, "untyped_ints", -1);
    a->n_ints = 2;
    a->ints = mb_copy(b, in, 2 * sizeof(int64_t));
    b->outputs[b->graph.n_output++] =
        mb_value_info(b, "z", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, NULL, -1, NULL);

    qp_graph *g = NULL;
    qp_status st = mb_load(b, NULL, &g);
    if (st != QP_OK) print_message("%s\n", qp_error_message());
    assert_int_equal(st, QP_OK);
    assert_int_equal(g->n_nodes, 3);
    const qp_node *kn = NULL, *cn = NULL;
    for (int i = 0; i < g->n_nodes; i++) {
        if (strcmp(g->nodes[i].op_type, "Constant") == 0) kn = &g->nodes[i];
        if (strcmp(g->nodes[i].op_type, "Custom") == 0) cn = &g->nodes[i];
    }
    assert_non_null(kn);
    assert_non_null(cn);
    const qp_attr *value = qp_node_attr(kn, "value");
    assert_non_null(value);
    assert_int_equal(value->type, QP_ATTR_TENSOR);
    assert_non_null(value->t);
    assert_int_equal(value->t->dtype, QP_DT_INT64);
    assert_int_equal(value->t->shape.rank, 1);
    assert_int_equal(value->t->shape.dims[0], 2);
    assert_int_equal(value->t->nbytes, 16);
    assert_memory_equal(value->t->data, cvals, 16);

    assert_string_equal(cn->domain, "com.example");
    assert_int_equal(cn->n_inputs, 3);
    assert_int_equal(cn->inputs[2], -1); /* omitted optional input */
    assert_int_equal(cn->n_outputs, 2);
    assert_int_equal(cn->outputs[1], -1);
    assert_true(qp_node_attr_float(cn, "alpha", 0) == 0.25f);
    assert_int_equal(qp_node_attr_int(cn, "axis", 0), -3);
    assert_string_equal(qp_node_attr_string(cn, "mode", ""), "nearest");
    assert_int_equal(qp_node_attr(cn, "mode")->s_len, 7);
    int cnt = 0;
    const float *fs = qp_node_attr_floats(cn, "scales", &cnt);
    assert_int_equal(cnt, 3);
    assert_memory_equal(fs, fl, sizeof fl);
    const int64_t *is = qp_node_attr_ints(cn, "pads", &cnt);
    assert_int_equal(cnt, 4);
    assert_memory_equal(is, in, sizeof in);
    const qp_attr *names = qp_node_attr(cn, "names");
    assert_int_equal(names->type, QP_ATTR_STRINGS);
    assert_int_equal(names->n, 2);
    assert_string_equal(names->strings[0], "ab");
    assert_string_equal(names->strings[1], "xyz");
    assert_int_equal(qp_node_attr(cn, "body")->type, QP_ATTR_GRAPH);
    assert_int_equal(qp_node_attr(cn, "sparse")->type, QP_ATTR_SPARSE_TENSOR);
    assert_int_equal(qp_node_attr_int(cn, "untyped_i", 0), 9);
    qp_node_attr_ints(cn, "untyped_ints", &cnt);
    assert_int_equal(cnt, 2);
    qp_graph_free(g);
    mb_free(b);
}

static void test_sparse_constant_is_unsupported(void **state) {
    (void)state;
    mb *b = mb_relu_model();
    static const char *const c_out[] = {"c", NULL};
    Onnx__NodeProto *konst = mb_node(b, "k", "Constant", NULL, c_out);
    Onnx__SparseTensorProto sparse = ONNX__SPARSE_TENSOR_PROTO__INIT;
    mb_attr(b, konst, "sparse_value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR)
        ->sparse_tensor = &sparse;
    qp_graph *g = NULL;
    assert_error_contains(mb_load(b, NULL, &g), QP_ERR_UNSUPPORTED, "test.onnx: ", "sparse");
    assert_null(g);
    mb_free(b);
}

static void test_string_tensor_is_unsupported(void **state) {
    (void)state;
    mb *b = mb_relu_model();
    static const int64_t d1[] = {1};
    Onnx__TensorProto *t = mb_add_init(b, mb_tensor(b, "names", ONNX__TENSOR_PROTO__DATA_TYPE__STRING, d1, 1));
    ProtobufCBinaryData s = {.len = 2, .data = (uint8_t *)"hi"};
    t->n_string_data = 1;
    t->string_data = &s;
    qp_graph *g = NULL;
    assert_error_contains(mb_load(b, NULL, &g), QP_ERR_UNSUPPORTED, "test.onnx: ", "string");
    mb_free(b);
}

static void test_nodes_out_of_order_are_sorted(void **state) {
    (void)state;
    mb *b = mb_new();
    mb_input(b, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2, NULL);
    static const char *const t_out[] = {"t", NULL}, *const t_in[] = {"t", NULL};
    mb_node(b, "second", "Relu", t_in, Y_OUT);
    mb_node(b, "first", "Relu", X_IN, t_out);
    mb_output(b, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2);
    qp_graph *g = NULL;
    assert_int_equal(mb_load(b, NULL, &g), QP_OK);
    assert_string_equal(g->nodes[0].name, "first");
    assert_string_equal(g->nodes[1].name, "second");
    qp_graph_free(g);
    mb_free(b);
}

static void test_value_info_shapes_applied(void **state) {
    (void)state;
    mb *b = mb_new();
    mb_input(b, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2, NULL);
    static const char *const t_out[] = {"t", NULL}, *const t_in[] = {"t", NULL};
    mb_node(b, "first", "Relu", X_IN, t_out);
    mb_node(b, "second", "Relu", t_in, Y_OUT);
    mb_output(b, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2);
    b->value_infos[b->graph.n_value_info++] =
        mb_value_info(b, "t", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2, NULL);
    b->value_infos[b->graph.n_value_info++] = /* names no tensor: ignored, not created */
        mb_value_info(b, "ghost", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2, NULL);
    qp_graph *g = NULL;
    assert_int_equal(mb_load(b, NULL, &g), QP_OK);
    const qp_tensor *t = tensor_named(g, "t");
    assert_int_equal(t->dtype, QP_DT_FLOAT);
    assert_int_equal(t->shape.rank, 2);
    assert_int_equal(t->shape.dims[1], 4);
    assert_int_equal(qp_graph_find_tensor(g, "ghost"), -1);
    qp_graph_free(g);
    mb_free(b);
}

static void test_external_data(void **state) {
    (void)state;
    char *dir = qp_test_mkdtemp();
    char path[4096];
    /* 8 junk bytes, then 4 floats: exercises offset. */
    const float w[4] = {0.5f, -1.0f, 2.0f, 8.0f};
    uint8_t file[8 + sizeof w];
    memset(file, 0xAB, 8);
    memcpy(file + 8, w, sizeof w);
    snprintf(path, sizeof path, "%s/weights.bin", dir);
    qp_test_write_file(path, file, sizeof file);
    snprintf(path, sizeof path, "%s/sub", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/sub/w2.bin", dir);
    qp_test_write_file(path, w, sizeof w);

    static const int64_t d4[] = {4};
    struct {
        const char *location, *offset, *length;
        qp_status want;
        const char *part;
    } cases[] = {
        {"weights.bin", "8", "16", QP_OK, NULL},
        {"weights.bin", "8", NULL, QP_OK, NULL},
        {"./sub/../sub/w2.bin", NULL, NULL, QP_OK, NULL},
        {"weights.bin", "8", "12", QP_ERR_INVALID_MODEL, "wrong dtype/size"},
        {"weights.bin", "16", NULL, QP_ERR_INVALID_MODEL, "too few"},
        {"weights.bin", "x", NULL, QP_ERR_INVALID_MODEL, "non-negative integer"},
        {"missing.bin", NULL, NULL, QP_ERR_IO, "missing.bin"},
        {"../weights.bin", NULL, NULL, QP_ERR_INVALID_MODEL, "escapes the model's folder"},
        {"sub/../../weights.bin", NULL, NULL, QP_ERR_INVALID_MODEL, "escapes the model's folder"},
        {"/etc/passwd", NULL, NULL, QP_ERR_INVALID_MODEL, "absolute path"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mb *b = mb_relu_model();
        Onnx__TensorProto *t = mb_add_init(b, mb_tensor(b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d4, 1));
        t->has_data_location = 1;
        t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        Onnx__StringStringEntryProto *entries = mb_alloc(b, 3 * sizeof *entries);
        t->external_data = mb_alloc(b, 3 * sizeof *t->external_data);
        const char *keys[3] = {"location", "offset", "length"};
        const char *vals[3] = {cases[c].location, cases[c].offset, cases[c].length};
        for (int k = 0; k < 3; k++) {
            if (!vals[k]) continue;
            Onnx__StringStringEntryProto init = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
            entries[k] = init;
            entries[k].key = (char *)keys[k];
            entries[k].value = (char *)vals[k];
            t->external_data[t->n_external_data++] = &entries[k];
        }
        size_t n;
        uint8_t *buf = mb_pack(b, &n);
        snprintf(path, sizeof path, "%s/model.onnx", dir);
        qp_test_write_file(path, buf, n);
        qp_graph *g = NULL;
        qp_status st = qp_onnx_load(path, &g);
        if (cases[c].want == QP_OK) {
            if (st != QP_OK) print_message("case %zu: %s\n", c, qp_error_message());
            assert_int_equal(st, QP_OK);
            const qp_tensor *wt = tensor_named(g, "w");
            assert_int_equal(wt->nbytes, sizeof w);
            assert_memory_equal(wt->data, w, sizeof w);
            qp_graph_free(g);
        } else {
            assert_error_contains(st, cases[c].want, path, cases[c].part);
            assert_non_null(strstr(qp_error_message(), "'w'"));
            assert_null(g);
        }
        /* From memory there is no folder to resolve against. */
        if (c == 0) {
            assert_error_contains(qp_onnx_load_memory(buf, n, NULL, "mem.onnx", &g),
                                  QP_ERR_INVALID_ARG, "mem.onnx: ", "without a base folder");
        }
        free(buf);
        mb_free(b);
    }
    qp_test_rmtree(dir);
    free(dir);
}

/* A model whose bytes are mostly one big initializer, so a cut lands inside it. */
static uint8_t *big_model(size_t *n) {
    mb *b = mb_relu_model();
    static const int64_t d[] = {1000};
    float *vals = calloc(1000, sizeof(float));
    for (int i = 0; i < 1000; i++) vals[i] = (float)i;
    mb_init_raw(b, "big", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d, 1, vals, 1000 * sizeof(float));
    free(vals);
    uint8_t *buf = mb_pack(b, n);
    mb_free(b);
    return buf;
}

static void test_truncated_model(void **state) {
    (void)state;
    size_t n;
    uint8_t *buf = big_model(&n);
    qp_graph *g = NULL;
    assert_int_equal(qp_onnx_load_memory(buf, n, NULL, "full.onnx", &g), QP_OK);
    qp_graph_free(g);
    g = NULL;
    assert_error_contains(qp_onnx_load_memory(buf, n / 2, NULL, "cut.onnx", &g), QP_ERR_PARSE,
                          "cut.onnx: ", "not a valid ONNX model (truncated or corrupt protobuf)");
    assert_null(g);
    /* Cuts anywhere must fail cleanly (parse error or a validation error), never crash. */
    for (size_t cut = 1; cut < n; cut += 97) {
        qp_status st = qp_onnx_load_memory(buf, cut, NULL, "cut.onnx", &g);
        assert_int_not_equal(st, QP_OK);
        assert_null(g);
        assert_true(strncmp(qp_error_message(), "cut.onnx: ", 10) == 0);
    }
    char *dir = qp_test_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/cut.onnx", dir);
    qp_test_write_file(path, buf, n - 10);
    assert_error_contains(qp_onnx_load(path, &g), QP_ERR_PARSE, path, "truncated or corrupt");
    qp_test_rmtree(dir);
    free(dir);
    free(buf);
}

static void test_garbage_and_empty(void **state) {
    (void)state;
    uint8_t junk[256];
    for (int i = 0; i < 256; i++) junk[i] = (uint8_t)(0xff - i);
    qp_graph *g = NULL;
    assert_error_contains(qp_onnx_load_memory(junk, sizeof junk, NULL, "junk.onnx", &g), QP_ERR_PARSE,
                          "junk.onnx: ", "not a valid ONNX model");
    assert_null(g);
    /* Text that happens to parse as protobuf still has no graph. */
    const char *text = "hello";
    qp_status st = qp_onnx_load_memory(text, strlen(text), NULL, "text.onnx", &g);
    assert_true(st == QP_ERR_PARSE || st == QP_ERR_INVALID_MODEL);
    assert_true(strncmp(qp_error_message(), "text.onnx: ", 11) == 0);
    assert_null(g);
    assert_error_contains(qp_onnx_load_memory(junk, 0, NULL, "none.onnx", &g), QP_ERR_PARSE,
                          "none.onnx: ", "empty file");

    char *dir = qp_test_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/empty.onnx", dir);
    qp_test_write_file(path, "", 0);
    assert_error_contains(qp_onnx_load(path, &g), QP_ERR_PARSE, path, "empty file");
    snprintf(path, sizeof path, "%s/absent.onnx", dir);
    assert_error_contains(qp_onnx_load(path, &g), QP_ERR_IO, path, "cannot open");
    assert_error_contains(qp_onnx_load(dir, &g), QP_ERR_IO, dir, "not a regular file");
    qp_test_rmtree(dir);
    free(dir);
}

static void test_missing_graph(void **state) {
    (void)state;
    mb *b = mb_new();
    b->model.graph = NULL;
    qp_graph *g = NULL;
    assert_error_contains(mb_load(b, NULL, &g), QP_ERR_INVALID_MODEL, "test.onnx: ", "missing graph");
    mb_free(b);
}

static void test_missing_initializer(void **state) {
    (void)state;
    mb *b = mb_new();
    mb_input(b, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2, NULL);
    static const char *const ins[] = {"x", "weight", NULL};
    mb_node(b, "conv", "Conv", ins, Y_OUT);
    mb_output(b, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2);
    qp_graph *g = NULL;
    assert_error_contains(mb_load(b, NULL, &g), QP_ERR_INVALID_MODEL, "test.onnx: ",
                          "missing initializer");
    assert_non_null(strstr(qp_error_message(), "'weight'"));
    assert_null(g);
    mb_free(b);
}

static void test_cycle(void **state) {
    (void)state;
    mb *b = mb_new();
    mb_input(b, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2, NULL);
    static const char *const a_in[] = {"x", "b", NULL}, *const a_out[] = {"a", NULL};
    static const char *const b_in[] = {"a", NULL}, *const b_out[] = {"b", NULL};
    mb_node(b, "n1", "Add", a_in, a_out);
    mb_node(b, "n2", "Relu", b_in, b_out);
    mb_output(b, "a", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2);
    qp_graph *g = NULL;
    assert_error_contains(mb_load(b, NULL, &g), QP_ERR_INVALID_MODEL, "test.onnx: ", "cycle");
    mb_free(b);
}

static void test_duplicate_producer_and_duplicates(void **state) {
    (void)state;
    mb *b = mb_relu_model();
    mb_node(b, "relu2", "Relu", X_IN, Y_OUT);
    qp_graph *g = NULL;
    assert_error_contains(mb_load(b, NULL, &g), QP_ERR_INVALID_MODEL, "test.onnx: ",
                          "already produced by another node");
    mb_free(b);

    b = mb_relu_model();
    const float v[4] = {0};
    mb_init_raw(b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2, v, sizeof v);
    mb_init_raw(b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2, v, sizeof v);
    assert_error_contains(mb_load(b, NULL, &g), QP_ERR_INVALID_MODEL, "test.onnx: ", "listed twice");
    mb_free(b);

    b = mb_relu_model();
    mb_input(b, "x", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2, NULL);
    assert_error_contains(mb_load(b, NULL, &g), QP_ERR_INVALID_MODEL, "test.onnx: ",
                          "graph input 'x' is listed twice");
    mb_free(b);

    /* A node writing over an initializer. */
    b = mb_relu_model();
    mb_init_raw(b, "y", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, DIMS_1x4, 2, v, sizeof v);
    assert_error_contains(mb_load(b, NULL, &g), QP_ERR_INVALID_MODEL, "test.onnx: ", "initializer");
    mb_free(b);
}

static void test_tensor_size_and_dtype_errors(void **state) {
    (void)state;
    static const int64_t d3[] = {3};
    const float f4[4] = {1, 2, 3, 4};
    struct {
        const char *label;
        qp_status want;
        const char *part;
    } cases[] = {
        {"raw too short", QP_ERR_INVALID_MODEL, "wrong dtype/size"},
        {"typed count", QP_ERR_INVALID_MODEL, "wrong dtype/size"},
        {"int32_data for float", QP_ERR_INVALID_MODEL, "wrong dtype/size"},
        {"int8 out of range", QP_ERR_INVALID_MODEL, "does not fit int8"},
        {"unknown dtype", QP_ERR_INVALID_MODEL, "unknown data_type enum 99"},
        {"undefined dtype", QP_ERR_INVALID_MODEL, "UNDEFINED"},
        {"complex", QP_ERR_UNSUPPORTED, "complex64"},
        {"negative dim", QP_ERR_INVALID_MODEL, "negative"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mb *b = mb_relu_model();
        Onnx__TensorProto *t = NULL;
        switch (c) {
        case 0: t = mb_init_raw(b, "bad", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d3, 1, f4, 10); break;
        case 1:
            t = mb_add_init(b, mb_tensor(b, "bad", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d3, 1));
            t->n_float_data = 4;
            t->float_data = mb_copy(b, f4, sizeof f4);
            break;
        case 2: {
            const int32_t iv[3] = {1, 2, 3};
            t = mb_add_init(b, mb_tensor(b, "bad", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d3, 1));
            t->n_int32_data = 3;
            t->int32_data = mb_copy(b, iv, sizeof iv);
            break;
        }
        case 3: {
            const int32_t iv[3] = {1, 300, 3};
            t = mb_add_init(b, mb_tensor(b, "bad", ONNX__TENSOR_PROTO__DATA_TYPE__INT8, d3, 1));
            t->n_int32_data = 3;
            t->int32_data = mb_copy(b, iv, sizeof iv);
            break;
        }
        case 4: t = mb_init_raw(b, "bad", 99, d3, 1, f4, 12); break;
        case 5: t = mb_init_raw(b, "bad", 0, d3, 1, f4, 12); break;
        case 6: t = mb_init_raw(b, "bad", ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX64, d3, 1, f4, 12); break;
        case 7: {
            static const int64_t neg[] = {-3};
            t = mb_init_raw(b, "bad", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, neg, 1, f4, 12);
            break;
        }
        }
        (void)t;
        qp_graph *g = NULL;
        qp_status st = mb_load(b, NULL, &g);
        print_message("%s: %s\n", cases[c].label, qp_error_message());
        assert_error_contains(st, cases[c].want, "test.onnx: ", cases[c].part);
        assert_non_null(strstr(qp_error_message(), "'bad'"));
        assert_null(g);
        mb_free(b);
    }
}

static void test_non_tensor_input_is_unsupported(void **state) {
    (void)state;
    mb *b = mb_relu_model();
    b->inputs[0]->type->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    Onnx__TypeProto__Sequence seq = ONNX__TYPE_PROTO__SEQUENCE__INIT;
    b->inputs[0]->type->sequence_type = &seq;
    qp_graph *g = NULL;
    assert_error_contains(mb_load(b, NULL, &g), QP_ERR_UNSUPPORTED, "test.onnx: ", "sequence");
    mb_free(b);
}

static void test_load_tensor_file(void **state) {
    (void)state;
    char *dir = qp_test_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/input_0.pb", dir);
    Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT;
    int64_t dims[3] = {2, 1, 3};
    const float vals[6] = {1, 2, 3, 4, 5, 6};
    t.name = "x";
    t.has_data_type = 1;
    t.data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t.n_dims = 3;
    t.dims = dims;
    t.has_raw_data = 1;
    t.raw_data.len = sizeof vals;
    t.raw_data.data = (uint8_t *)vals;
    size_t n = onnx__tensor_proto__get_packed_size(&t);
    uint8_t *buf = malloc(n);
    onnx__tensor_proto__pack(&t, buf);
    qp_test_write_file(path, buf, n);

    char *name = NULL;
    qp_dtype dtype;
    qp_shape shape;
    void *data = NULL;
    size_t nbytes = 0;
    assert_int_equal(qp_onnx_load_tensor(path, &name, &dtype, &shape, &data, &nbytes), QP_OK);
    assert_string_equal(name, "x");
    assert_int_equal(dtype, QP_DT_FLOAT);
    assert_int_equal(shape.rank, 3);
    assert_int_equal(shape.dims[0], 2);
    assert_int_equal(shape.dims[2], 3);
    assert_int_equal(nbytes, sizeof vals);
    assert_memory_equal(data, vals, sizeof vals);
    free(name);
    free(data);

    /* name is optional; a truncated file fails with the path in front. */
    qp_test_write_file(path, buf, n - 5);
    data = NULL;
    assert_error_contains(qp_onnx_load_tensor(path, NULL, &dtype, &shape, &data, &nbytes),
                          QP_ERR_PARSE, path, "truncated or corrupt");
    assert_null(data);
    t.raw_data.len = 8; /* size mismatch */
    n = onnx__tensor_proto__get_packed_size(&t);
    onnx__tensor_proto__pack(&t, buf);
    qp_test_write_file(path, buf, n);
    assert_error_contains(qp_onnx_load_tensor(path, NULL, &dtype, &shape, &data, &nbytes),
                          QP_ERR_INVALID_MODEL, path, "wrong dtype/size");
    free(buf);
    qp_test_rmtree(dir);
    free(dir);
}

/* Flipped bytes anywhere in a model: every load either succeeds or fails with a message that
 * starts with the name; never a crash (run under ASan to catch bad reads). */
static void test_corrupted_bytes_never_crash(void **state) {
    (void)state;
    mb *b = mb_relu_model();
    static const int64_t d2[] = {2};
    const float w[2] = {1, 2};
    mb_init_raw(b, "w", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d2, 1, w, sizeof w);
    static const char *const c_out[] = {"c", NULL};
    Onnx__NodeProto *konst = mb_node(b, "k", "Constant", NULL, c_out);
    Onnx__AttributeProto *a = mb_attr(b, konst, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    a->t = mb_tensor(b, "cv", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d2, 1);
    a->t->n_float_data = 2;
    a->t->float_data = mb_copy(b, w, sizeof w);
    a = mb_attr(b, konst, "ints", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = 2;
    a->ints = mb_copy(b, d2, sizeof d2);
    size_t n;
    uint8_t *buf = mb_pack(b, &n);
    mb_free(b);
    static const uint8_t flips[] = {0x01, 0x08, 0x80, 0xff};
    int ok = 0, failed = 0;
    for (size_t pos = 0; pos < n; pos++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            buf[pos] ^= flips[f];
            qp_graph *g = NULL;
            qp_status st = qp_onnx_load_memory(buf, n, NULL, "flip.onnx", &g);
            if (st == QP_OK) {
                assert_non_null(g);
                ok++;
            } else {
                assert_null(g);
                assert_true(strncmp(qp_error_message(), "flip.onnx: ", 11) == 0);
                failed++;
            }
            qp_graph_free(g);
            buf[pos] ^= flips[f];
        }
    }
    assert_true(failed > 0); /* the mutations did reach the validation paths */
    print_message("%d mutated models loaded, %d rejected\n", ok, failed);
    free(buf);
}

static void test_too_large_is_rejected_before_parsing(void **state) {
    (void)state;
    qp_graph *g = NULL;
    const uint8_t byte = 0;
    /* The size check comes first, so the (short) buffer is never read. */
    assert_error_contains(qp_onnx_load_memory(&byte, (size_t)3 << 30, NULL, "huge.onnx", &g),
                          QP_ERR_PARSE, "huge.onnx: ", "file too large");
    assert_null(g);
}

/* Weights are copied out of the model's bytes (the import splits raw_data off the parsed message,
 * onnx_import.c): the graph keeps correct, aligned data once the buffer or the file is gone,
 * whatever the payloads' alignment in the file. */
static void test_raw_data_outlives_buffer_and_file(void **state) {
    (void)state;
    mb *b = mb_relu_model();
    /* names of every length shift each payload's offset in the packed bytes by one */
    static const char *const names[] = {"a", "bb", "ccc", "dddd", "eeeee", "ffffff", "ggggggg"};
    static const int64_t d[] = {257};
    float vals[7][257];
    for (int t = 0; t < 7; t++) {
        for (int i = 0; i < 257; i++) vals[t][i] = (float)(t * 1000 + i) * 0.5f;
        mb_init_raw(b, names[t], ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d, 1, vals[t], sizeof vals[t]);
    }
    const uint16_t half[3] = {0x3c00, 0xc000, 0x7bff};
    static const int64_t d3[] = {3};
    mb_init_raw(b, "h", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, d3, 1, half, sizeof half);
    static const int64_t d0[] = {0};
    mb_init_raw(b, "empty", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d0, 1, NULL, 0);
    size_t n;
    uint8_t *buf = mb_pack(b, &n);
    mb_free(b);
    int misaligned = 0;
    for (int t = 0; t < 7; t++) { /* the payloads do sit at odd offsets */
        for (size_t off = 0; off + sizeof vals[t] <= n; off++)
            if (memcmp(buf + off, vals[t], sizeof vals[t]) == 0) {
                misaligned += off % sizeof(float) != 0;
                break;
            }
    }
    assert_true(misaligned >= 3);

    char *dir = qp_test_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    qp_test_write_file(path, buf, n);
    qp_graph *from_mem = NULL, *from_file = NULL;
    assert_int_equal(qp_onnx_load_memory(buf, n, NULL, "mem.onnx", &from_mem), QP_OK);
    assert_int_equal(qp_onnx_load(path, &from_file), QP_OK);
    memset(buf, 0x5a, n); /* the bytes are gone: nothing may point into them */
    free(buf);
    qp_test_rmtree(dir);
    free(dir);
    const qp_graph *graphs[2] = {from_mem, from_file};
    for (int k = 0; k < 2; k++) {
        for (int t = 0; t < 7; t++) {
            const qp_tensor *tt = tensor_named(graphs[k], names[t]);
            assert_true(tt->is_initializer);
            assert_int_equal(tt->nbytes, sizeof vals[t]);
            assert_int_equal((uintptr_t)tt->data % 16, 0);
            assert_memory_equal(tt->data, vals[t], sizeof vals[t]);
        }
        const qp_tensor *h = tensor_named(graphs[k], "h");
        assert_int_equal(h->dtype, QP_DT_FLOAT16);
        assert_memory_equal(h->data, half, sizeof half);
        const qp_tensor *e = tensor_named(graphs[k], "empty");
        assert_true(e->is_initializer);
        assert_non_null(e->data);
        assert_int_equal(e->nbytes, 0);
    }
    qp_graph_free(from_mem);
    qp_graph_free(from_file);
}

/* Raw and external initializers side by side in a file: both come out right. */
static void test_raw_and_external_data_together(void **state) {
    (void)state;
    char *dir = qp_test_mkdtemp();
    char path[4096];
    const float ext[4] = {0.25f, -4.0f, 16.0f, 3.0f}, raw[5] = {1, 2, 3, 4, 5};
    snprintf(path, sizeof path, "%s/w.bin", dir);
    qp_test_write_file(path, ext, sizeof ext);
    mb *b = mb_relu_model();
    static const int64_t d4[] = {4}, d5[] = {5};
    mb_init_raw(b, "r1", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d5, 1, raw, sizeof raw);
    Onnx__TensorProto *t = mb_add_init(b, mb_tensor(b, "e", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d4, 1));
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    Onnx__StringStringEntryProto *entry = mb_alloc(b, sizeof *entry);
    Onnx__StringStringEntryProto init = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
    *entry = init;
    entry->key = "location";
    entry->value = "w.bin";
    t->external_data = mb_alloc(b, sizeof *t->external_data);
    t->external_data[t->n_external_data++] = entry;
    mb_init_raw(b, "r2", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d4, 1, ext, sizeof ext);
    size_t n;
    uint8_t *buf = mb_pack(b, &n);
    mb_free(b);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    qp_test_write_file(path, buf, n);
    free(buf);
    qp_graph *g = NULL;
    assert_int_equal(qp_onnx_load(path, &g), QP_OK);
    assert_memory_equal(tensor_named(g, "r1")->data, raw, sizeof raw);
    assert_memory_equal(tensor_named(g, "e")->data, ext, sizeof ext);
    assert_memory_equal(tensor_named(g, "r2")->data, ext, sizeof ext);
    qp_graph_free(g);
    qp_test_rmtree(dir);
    free(dir);
}

/* Bytes the wire walk leaves to protobuf-c (a graph field twice, which protobuf merges) still
 * import as protobuf defines them. */
static void test_repeated_graph_field_merges(void **state) {
    (void)state;
    static const int64_t d2[] = {2};
    const float w1[2] = {7, 8}, w2[2] = {9, 10};
    mb *b = mb_relu_model();
    mb_init_raw(b, "w1", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d2, 1, w1, sizeof w1);
    size_t n1;
    uint8_t *first = mb_pack(b, &n1);
    mb_free(b);
    /* a second ModelProto.graph (field 7) holding only initializer w2 */
    mb *b2 = mb_new();
    b2->graph.name = NULL;
    mb_init_raw(b2, "w2", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, d2, 1, w2, sizeof w2);
    size_t n_graph = onnx__graph_proto__get_packed_size(&b2->graph);
    uint8_t *buf = malloc(n1 + n_graph + 16);
    assert_non_null(buf);
    memcpy(buf, first, n1);
    size_t n = n1;
    buf[n++] = (7 << 3) | 2;
    for (size_t v = n_graph; ; v >>= 7) {
        buf[n++] = (uint8_t)(v >= 0x80 ? (v & 0x7f) | 0x80 : v);
        if (v < 0x80) break;
    }
    n += onnx__graph_proto__pack(&b2->graph, buf + n);
    mb_free(b2);
    free(first);
    qp_graph *g = NULL;
    assert_int_equal(qp_onnx_load_memory(buf, n, NULL, "merged.onnx", &g), QP_OK);
    assert_memory_equal(tensor_named(g, "w1")->data, w1, sizeof w1);
    assert_memory_equal(tensor_named(g, "w2")->data, w2, sizeof w2);
    qp_graph_free(g);
    free(buf);
}

/* A real model's weights as the split import copies them from the file mapping (dropping its pages
 * as it goes) equal what protobuf-c unpacks from the same bytes. */
static void test_shared_model_weights_match_protobuf(void **state) {
    (void)state;
    QP_REQUIRE_SHARED("models/mobilenetv2-12/model.onnx");
    char path[4096];
    qp_test_shared_path("models/mobilenetv2-12/model.onnx", path);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *bytes = malloc((size_t)size);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, (size_t)size, bytes);
    free(bytes);
    assert_non_null(mp);
    qp_graph *g = NULL;
    assert_int_equal(qp_onnx_load(path, &g), QP_OK);
    size_t checked = 0;
    for (size_t k = 0; k < mp->graph->n_initializer; k++) {
        const Onnx__TensorProto *tp = mp->graph->initializer[k];
        if (!tp->has_raw_data) continue;
        const qp_tensor *t = tensor_named(g, tp->name);
        assert_int_equal(t->nbytes, tp->raw_data.len);
        assert_memory_equal(t->data, tp->raw_data.data, tp->raw_data.len);
        checked++;
    }
    assert_true(checked > 50);
    onnx__model_proto__free_unpacked(mp, NULL);
    qp_graph_free(g);
}

/* Every real model in ../shared imports, with the node counts onnx (Python) reports. */
static void test_shared_models_import(void **state) {
    (void)state;
    static const struct {
        const char *path;
        int nodes, inputs, outputs;
        const char *input;
    } models[] = {
        {"models/mnist-8/model.onnx", 12, 1, 1, "Input3"},
        {"models/mobilenetv2-12/model.onnx", 106, 1, 1, "input"},
        {"models/mobilenetv2-12/int8-qoperator.onnx", 73, 1, 1, "input"},
        {"models/ppocr-cls/model.onnx", 471, 1, 1, "x"},
        {"models/shufflenet-v2-12/model.onnx", 174, 1, 1, "input"},
        {"models/shufflenet-v2-12/qdq.onnx", 550, 1, 1, "input"},
        {"models/squeezenet1.1/model.onnx", 66, 1, 1, "data_0"},
        {"models/ultraface-rfb-320/model.onnx", 242, 1, 2, "input"},
    };
    QP_REQUIRE_SHARED("models");
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char path[4096];
        qp_test_shared_path(models[i].path, path);
        if (!qp_test_file_exists(path)) {
            print_message("SKIP: %s not found\n", path);
            continue;
        }
        qp_graph *g = NULL;
        qp_status st = qp_onnx_load(path, &g);
        if (st != QP_OK) print_message("%s\n", qp_error_message());
        assert_int_equal(st, QP_OK);
        assert_int_equal(g->n_nodes, models[i].nodes);
        assert_int_equal(g->n_inputs, models[i].inputs);
        assert_int_equal(g->n_outputs, models[i].outputs);
        assert_string_equal(g->tensors[g->inputs[0]]->name, models[i].input);
        assert_true(qp_graph_opset(g, "") > 0);
        qp_graph_free(g);
    }
    /* Symbolic dims keep their names; ultraface lists 244 initializers as inputs too. */
    char path[4096];
    qp_graph *g = NULL;
    qp_test_shared_path("models/mobilenetv2-12/model.onnx", path);
    if (qp_test_file_exists(path)) {
        assert_int_equal(qp_onnx_load(path, &g), QP_OK);
        const qp_tensor *in = g->tensors[g->inputs[0]];
        assert_int_equal(in->shape.rank, 4);
        assert_int_equal(in->shape.dims[0], -1);
        assert_string_equal(in->dim_param[0], "batch_size");
        assert_int_equal(in->shape.dims[1], 3);
        qp_graph_free(g);
    }
    qp_test_shared_path("models/ultraface-rfb-320/model.onnx", path);
    if (qp_test_file_exists(path)) {
        assert_int_equal(qp_onnx_load(path, &g), QP_OK);
        int inits = 0;
        for (int i = 0; i < g->n_tensors; i++) inits += g->tensors[i]->is_initializer;
        assert_int_equal(inits, 244);
        qp_graph_free(g);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_model_metadata_and_symbolic_batch),
        cmocka_unit_test(test_initializers_raw_and_typed_every_dtype),
        cmocka_unit_test(test_initializers_listed_as_inputs_are_initializers),
        cmocka_unit_test(test_attributes_of_every_kind),
        cmocka_unit_test(test_sparse_constant_is_unsupported),
        cmocka_unit_test(test_string_tensor_is_unsupported),
        cmocka_unit_test(test_nodes_out_of_order_are_sorted),
        cmocka_unit_test(test_value_info_shapes_applied),
        cmocka_unit_test(test_external_data),
        cmocka_unit_test(test_truncated_model),
        cmocka_unit_test(test_garbage_and_empty),
        cmocka_unit_test(test_missing_graph),
        cmocka_unit_test(test_missing_initializer),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_duplicate_producer_and_duplicates),
        cmocka_unit_test(test_tensor_size_and_dtype_errors),
        cmocka_unit_test(test_non_tensor_input_is_unsupported),
        cmocka_unit_test(test_load_tensor_file),
        cmocka_unit_test(test_corrupted_bytes_never_crash),
        cmocka_unit_test(test_too_large_is_rejected_before_parsing),
        cmocka_unit_test(test_shared_models_import),
        cmocka_unit_test(test_raw_data_outlives_buffer_and_file),
        cmocka_unit_test(test_raw_and_external_data_together),
        cmocka_unit_test(test_repeated_graph_field_merges),
        cmocka_unit_test(test_shared_model_weights_match_protobuf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
