/* test_onnx_export.c — ONNX writer: import -> export -> import gives the same graph (backend tests, real models, every attribute kind and dtype); atomic saves. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_support.h"

#include "onnx/onnx.pb-c.h"
#include "onnx/onnx_export.h"
#include "onnx/onnx_import.h"

/* Describes the first difference between two graphs into buf; returns 0 when they are equal. */
static int graph_diff(const qp_graph *a, const qp_graph *b, char *buf, size_t cap) {
#define DIFF(...) do { snprintf(buf, cap, __VA_ARGS__); return 1; } while (0)
    if (a->ir_version != b->ir_version) DIFF("ir_version %lld vs %lld", (long long)a->ir_version, (long long)b->ir_version);
    if (a->n_opsets != b->n_opsets) DIFF("%d vs %d opsets", a->n_opsets, b->n_opsets);
    for (int k = 0; k < a->n_opsets; k++)
        if (strcmp(a->opsets[k].domain, b->opsets[k].domain) || a->opsets[k].version != b->opsets[k].version)
            DIFF("opset %d differs", k);
    if (a->n_nodes != b->n_nodes) DIFF("%d vs %d nodes", a->n_nodes, b->n_nodes);
    if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs) DIFF("graph inputs/outputs differ in count");
    for (int i = 0; i < a->n_inputs; i++)
        if (strcmp(a->tensors[a->inputs[i]]->name, b->tensors[b->inputs[i]]->name)) DIFF("graph input %d differs", i);
    for (int i = 0; i < a->n_outputs; i++)
        if (strcmp(a->tensors[a->outputs[i]]->name, b->tensors[b->outputs[i]]->name)) DIFF("graph output %d differs", i);
    for (int id = 0; id < a->n_nodes; id++) {
        const qp_node *x = &a->nodes[id], *y = &b->nodes[id];
        if (strcmp(x->name, y->name) || strcmp(x->op_type, y->op_type) || strcmp(x->domain, y->domain))
            DIFF("node %d: '%s' (%s) vs '%s' (%s)", id, x->name, x->op_type, y->name, y->op_type);
        if (x->n_inputs != y->n_inputs || x->n_outputs != y->n_outputs || x->n_attrs != y->n_attrs)
            DIFF("node '%s': input/output/attribute counts differ", x->name);
        for (int k = 0; k < x->n_inputs; k++) {
            const char *nx = x->inputs[k] >= 0 ? a->tensors[x->inputs[k]]->name : "";
            const char *ny = y->inputs[k] >= 0 ? b->tensors[y->inputs[k]]->name : "";
            if (strcmp(nx, ny)) DIFF("node '%s' input %d: '%s' vs '%s'", x->name, k, nx, ny);
        }
        for (int k = 0; k < x->n_outputs; k++) {
            const char *nx = x->outputs[k] >= 0 ? a->tensors[x->outputs[k]]->name : "";
            const char *ny = y->outputs[k] >= 0 ? b->tensors[y->outputs[k]]->name : "";
            if (strcmp(nx, ny)) DIFF("node '%s' output %d: '%s' vs '%s'", x->name, k, nx, ny);
        }
        for (int k = 0; k < x->n_attrs; k++) {
            const qp_attr *p = &x->attrs[k], *q = &y->attrs[k];
            if (strcmp(p->name, q->name) || p->type != q->type) DIFF("node '%s' attribute %d differs", x->name, k);
            int same = 1;
            switch (p->type) {
            case QP_ATTR_FLOAT: same = memcmp(&p->f, &q->f, sizeof p->f) == 0; break;
            case QP_ATTR_INT: same = p->i == q->i; break;
            case QP_ATTR_STRING: same = p->s_len == q->s_len && memcmp(p->s, q->s, p->s_len) == 0; break;
            case QP_ATTR_FLOATS: same = p->n == q->n && (!p->n || memcmp(p->floats, q->floats, (size_t)p->n * sizeof(float)) == 0); break;
            case QP_ATTR_INTS: same = p->n == q->n && (!p->n || memcmp(p->ints, q->ints, (size_t)p->n * sizeof(int64_t)) == 0); break;
            case QP_ATTR_STRINGS:
                same = p->n == q->n;
                for (int s = 0; same && s < p->n; s++) same = strcmp(p->strings[s], q->strings[s]) == 0;
                break;
            case QP_ATTR_TENSOR:
                same = p->t->dtype == q->t->dtype && p->t->shape.rank == q->t->shape.rank &&
                       p->t->nbytes == q->t->nbytes && (!p->t->nbytes || memcmp(p->t->data, q->t->data, p->t->nbytes) == 0) &&
                       memcmp(p->t->shape.dims, q->t->shape.dims, sizeof(int64_t) * (size_t)(p->t->shape.rank > 0 ? p->t->shape.rank : 0)) == 0;
                break;
            default: break;
            }
            if (!same) DIFF("node '%s' attribute '%s' value differs", x->name, p->name);
        }
    }
    for (int t = 0; t < a->n_tensors; t++) {
        const qp_tensor *x = a->tensors[t];
        int u = qp_graph_find_tensor(b, x->name);
        if (u < 0) {
            if (x->is_initializer || x->n_consumers || x->producer >= 0) DIFF("tensor '%s' missing", x->name);
            continue;
        }
        const qp_tensor *y = b->tensors[u];
        if (x->dtype != y->dtype) DIFF("tensor '%s' dtype %d vs %d", x->name, x->dtype, y->dtype);
        if (x->shape.rank != y->shape.rank) DIFF("tensor '%s' rank %d vs %d", x->name, x->shape.rank, y->shape.rank);
        for (int d = 0; d < x->shape.rank; d++) {
            if (x->shape.dims[d] != y->shape.dims[d]) DIFF("tensor '%s' dim %d differs", x->name, d);
            const char *px = x->dim_param[d] ? x->dim_param[d] : "", *py = y->dim_param[d] ? y->dim_param[d] : "";
            if (strcmp(px, py)) DIFF("tensor '%s' dim_param %d: '%s' vs '%s'", x->name, d, px, py);
        }
        if (x->is_initializer != y->is_initializer || x->is_graph_input != y->is_graph_input ||
            x->is_graph_output != y->is_graph_output)
            DIFF("tensor '%s' flags differ", x->name);
        if (x->nbytes != y->nbytes || (x->nbytes && memcmp(x->data, y->data, x->nbytes)))
            DIFF("tensor '%s' data differs", x->name);
    }
    for (int t = 0; t < b->n_tensors; t++)
        if (qp_graph_find_tensor(a, b->tensors[t]->name) < 0) DIFF("extra tensor '%s'", b->tensors[t]->name);
    return 0;
#undef DIFF
}

static const qp_onnx_export_options keep_all = {.keep_unused_initializers = 1};

/* Export to memory and import again; returns the status of the export. */
static qp_status roundtrip(const qp_graph *g, qp_graph **back) {
    void *bytes = NULL;
    size_t n = 0;
    *back = NULL;
    qp_status st = qp_onnx_export_memory(g, &keep_all, &bytes, &n);
    if (st != QP_OK) return st;
    st = qp_onnx_load_memory(bytes, n, NULL, "roundtrip", back);
    free(bytes);
    if (st != QP_OK) fail_msg("re-import failed: %s", qp_error_message());
    return st;
}

static void test_backend_node_models_roundtrip(void **state) {
    (void)state;
    const char *root = QP_ONNX_TESTDATA_DIR "/node";
    DIR *dir = opendir(root);
    if (!dir) {
        print_message("SKIP: %s not found (Debian package libonnx-testdata)\n", root);
        skip();
    }
    int same = 0, refused = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s/model.onnx", root, e->d_name);
        qp_graph *g = NULL;
        if (qp_onnx_load(path, &g) != QP_OK) continue; /* types qpipe does not hold */
        qp_graph *back = NULL;
        qp_status st = roundtrip(g, &back);
        if (st == QP_ERR_UNSUPPORTED) {
            /* Only subgraph-style attributes may be refused, and the message names the node. */
            assert_non_null(strstr(qp_error_message(), "keeps only by type"));
            refused++;
        } else {
            assert_int_equal(st, QP_OK);
            char diff[512];
            if (graph_diff(g, back, diff, sizeof diff)) fail_msg("%s: %s", path, diff);
            same++;
        }
        qp_graph_free(back);
        qp_graph_free(g);
    }
    closedir(dir);
    print_message("backend node models: %d identical after export, %d refused (subgraphs)\n", same, refused);
    assert_true(same > 500);
}

static void roundtrip_file(const char *relative) {
    char path[4096];
    qp_test_shared_path(relative, path);
    qp_graph *g = NULL;
    assert_int_equal(qp_onnx_load(path, &g), QP_OK);
    char *dir = qp_test_mkdtemp();
    char out[4096];
    snprintf(out, sizeof out, "%s/sub/dir/model.onnx", dir);
    assert_int_equal(qp_onnx_save(g, out, &keep_all), QP_OK);
    qp_graph *back = NULL;
    if (qp_onnx_load(out, &back) != QP_OK) fail_msg("%s", qp_error_message());
    char diff[512];
    if (graph_diff(g, back, diff, sizeof diff)) fail_msg("%s: %s", relative, diff);
    /* Only the model is left in the folder: no temporary file. */
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/sub/dir", dir);
    DIR *d = opendir(sub);
    assert_non_null(d);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') files++;
    closedir(d);
    assert_int_equal(files, 1);
    qp_graph_free(back);
    qp_graph_free(g);
    qp_test_rmtree(dir);
    free(dir);
}

static void test_shared_models_roundtrip(void **state) {
    (void)state;
    static const char *const models[] = {
        "models/squeezenet1.1/model.onnx",     "models/mobilenetv2-12/model.onnx", "models/mobilenetv2-12/int8-qoperator.onnx",
        "models/shufflenet-v2-12/model.onnx", "models/shufflenet-v2-12/qdq.onnx", "models/mnist-8/model.onnx",
        "models/ultraface-rfb-320/model.onnx", "models/ppocr-cls/model.onnx"};
    QP_REQUIRE_SHARED("models/squeezenet1.1/model.onnx");
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) roundtrip_file(models[i]);
}

static int add_node(qp_graph *g, const char *name, const char *op, const char *in, const char *out) {
    int i = qp_graph_get_or_add_tensor(g, in), o = qp_graph_get_or_add_tensor(g, out);
    return qp_graph_add_node(g, name, op, "", &i, 1, &o, 1);
}

static void set_data(qp_graph *g, const char *name, qp_dtype dt, int64_t n) {
    int id = qp_graph_get_or_add_tensor(g, name);
    size_t bytes = (size_t)n * qp_dtype_size(dt);
    unsigned char *data = malloc(bytes ? bytes : 1);
    for (size_t k = 0; k < bytes; k++) data[k] = (unsigned char)(k * 37u + (unsigned)dt);
    if (dt == QP_DT_BOOL)
        for (size_t k = 0; k < bytes; k++) data[k] &= 1;
    qp_shape shape = {.rank = 2, .dims = {1, n}};
    qp_tensor_set_data(g->tensors[id], dt, &shape, data, bytes);
}

/* A graph with every attribute kind and every dtype the importer holds, symbolic dims and an
 * omitted optional input. */
static qp_graph *kitchen_sink(int64_t ir_version) {
    qp_graph *g = qp_graph_new();
    g->ir_version = ir_version;
    g->opsets = calloc(2, sizeof *g->opsets);
    g->opsets[0] = (qp_opset){strdup(""), 13};
    g->opsets[1] = (qp_opset){strdup("com.example"), 2};
    g->n_opsets = 2;
    qp_shape in_shape = {.rank = 2, .dims = {-1, 4}};
    int x = qp_test_add_input(g, "x", QP_DT_FLOAT, &in_shape);
    g->tensors[x]->dim_param[0] = strdup("batch");
    int id = add_node(g, "weird", "Custom", "x", "y");
    g->nodes[id].domain = (free(g->nodes[id].domain), strdup("com.example"));
    qp_attr *a = qp_node_add_attr(&g->nodes[id], "f", QP_ATTR_FLOAT);
    a->f = -0.0f;
    a = qp_node_add_attr(&g->nodes[id], "i", QP_ATTR_INT);
    a->i = -(1ll << 40);
    a = qp_node_add_attr(&g->nodes[id], "s", QP_ATTR_STRING);
    a->s = malloc(4);
    memcpy(a->s, "a\0b", 4);
    a->s_len = 3;
    a = qp_node_add_attr(&g->nodes[id], "fs", QP_ATTR_FLOATS);
    a->floats = malloc(3 * sizeof(float));
    a->floats[0] = 1.5f, a->floats[1] = NAN, a->floats[2] = -INFINITY;
    a->n = 3;
    a = qp_node_add_attr(&g->nodes[id], "is", QP_ATTR_INTS);
    a->ints = malloc(2 * sizeof(int64_t));
    a->ints[0] = INT64_MIN, a->ints[1] = 7;
    a->n = 2;
    a = qp_node_add_attr(&g->nodes[id], "ss", QP_ATTR_STRINGS);
    a->strings = calloc(2, sizeof(char *));
    a->strings[0] = strdup("NOTSET"), a->strings[1] = strdup("");
    a->n = 2;
    a = qp_node_add_attr(&g->nodes[id], "empty_ints", QP_ATTR_INTS);
    a->ints = malloc(sizeof(int64_t));
    a = qp_node_add_attr(&g->nodes[id], "t", QP_ATTR_TENSOR);
    a->t = calloc(1, sizeof *a->t);
    a->t->dtype = QP_DT_INT64;
    a->t->shape = (qp_shape){.rank = 1, .dims = {2}};
    a->t->nbytes = 16;
    a->t->data = malloc(16);
    ((int64_t *)a->t->data)[0] = 3, ((int64_t *)a->t->data)[1] = -9;
    /* Every dtype as an initializer feeding a Concat-like custom node. */
    static const qp_dtype dts[] = {QP_DT_FLOAT,  QP_DT_UINT8,  QP_DT_INT8,   QP_DT_UINT16, QP_DT_INT16,
                                   QP_DT_INT32,  QP_DT_INT64,  QP_DT_BOOL,   QP_DT_FLOAT16, QP_DT_DOUBLE,
                                   QP_DT_UINT32, QP_DT_UINT64, QP_DT_BFLOAT16};
    int ins[16], n_in = 0;
    ins[n_in++] = qp_graph_find_tensor(g, "y");
    ins[n_in++] = -1;
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++) {
        char name[32];
        snprintf(name, sizeof name, "w_%s", qp_dtype_name(dts[k]));
        set_data(g, name, dts[k], 5);
        ins[n_in++] = qp_graph_find_tensor(g, name);
    }
    set_data(g, "empty", QP_DT_FLOAT, 0);
    ins[n_in++] = qp_graph_find_tensor(g, "empty");
    int z = qp_graph_get_or_add_tensor(g, "z");
    qp_graph_add_node(g, "", "Many", "com.example", ins, n_in, &z, 1);
    g->tensors[z]->dtype = QP_DT_FLOAT;
    g->tensors[z]->shape = (qp_shape){.rank = 3, .dims = {-1, 2, -1}};
    g->tensors[z]->dim_param[0] = strdup("N");
    qp_test_add_output(g, z);
    int y = qp_graph_find_tensor(g, "y");
    g->tensors[y]->dtype = QP_DT_FLOAT; /* value_info of an intermediate */
    g->tensors[y]->shape = (qp_shape){.rank = -1};
    assert_int_equal(qp_graph_finalize(g), QP_OK);
    return g;
}

static void test_every_attribute_kind_and_dtype(void **state) {
    (void)state;
    for (int ir = 3; ir <= 8; ir += 5) {
        qp_graph *g = kitchen_sink(ir), *back = NULL;
        assert_int_equal(roundtrip(g, &back), QP_OK);
        char diff[512];
        if (graph_diff(g, back, diff, sizeof diff)) fail_msg("ir %d: %s", ir, diff);
        /* NaN and -0.0 survive bit for bit. */
        const qp_attr *fs = qp_node_attr(&back->nodes[0], "fs");
        assert_true(isnan(fs->floats[1]));
        assert_true(signbit(qp_node_attr(&back->nodes[0], "f")->f));
        assert_int_equal(qp_node_attr(&back->nodes[0], "s")->s_len, 3);
        qp_graph_free(back);
        qp_graph_free(g);
    }
}

/* IR < 4 lists initializers as graph inputs too (the format requires it); later IRs do not. */
static void test_ir3_lists_initializers_as_inputs(void **state) {
    (void)state;
    for (int ir = 3; ir <= 7; ir += 4) {
        qp_graph *g = kitchen_sink(ir);
        void *bytes;
        size_t n;
        assert_int_equal(qp_onnx_export_memory(g, &keep_all, &bytes, &n), QP_OK);
        Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, n, bytes);
        assert_non_null(mp);
        assert_int_equal(mp->ir_version, ir);
        assert_int_equal(mp->graph->n_input, ir < 4 ? 1 + mp->graph->n_initializer : 1);
        assert_int_equal(mp->graph->n_initializer, 14);
        assert_int_equal(mp->graph->n_value_info, 1); /* y */
        onnx__model_proto__free_unpacked(mp, NULL);
        free(bytes);
        qp_graph_free(g);
    }
}

static void test_unused_initializers_dropped_by_default(void **state) {
    (void)state;
    qp_graph *g = kitchen_sink(8);
    set_data(g, "orphan", QP_DT_FLOAT, 3);
    assert_int_equal(qp_graph_finalize(g), QP_OK);
    void *bytes;
    size_t n;
    assert_int_equal(qp_onnx_export_memory(g, NULL, &bytes, &n), QP_OK);
    qp_graph *back = NULL;
    assert_int_equal(qp_onnx_load_memory(bytes, n, NULL, "m", &back), QP_OK);
    assert_true(qp_graph_find_tensor(back, "orphan") < 0);
    assert_true(qp_graph_find_tensor(back, "w_int8") >= 0);
    free(bytes);
    qp_graph_free(back);
    assert_int_equal(qp_onnx_export_memory(g, &keep_all, &bytes, &n), QP_OK);
    assert_int_equal(qp_onnx_load_memory(bytes, n, NULL, "m", &back), QP_OK);
    assert_true(qp_graph_find_tensor(back, "orphan") >= 0);
    free(bytes);
    qp_graph_free(back);
    qp_graph_free(g);
}

/* A graph the writer refuses leaves no file, no temporary and no folder it created. */
static void test_failed_save_leaves_nothing(void **state) {
    (void)state;
    qp_graph *g = kitchen_sink(8);
    qp_node_add_attr(&g->nodes[0], "body", QP_ATTR_GRAPH);
    char *dir = qp_test_mkdtemp();
    char out[4096], made[4096];
    snprintf(out, sizeof out, "%s/new/deeper/model.onnx", dir);
    assert_int_equal(qp_onnx_save(g, out, NULL), QP_ERR_UNSUPPORTED);
    assert_non_null(strstr(qp_error_message(), out));
    assert_non_null(strstr(qp_error_message(), "node 'weird' (Custom): attribute 'body' is a subgraph"));
    snprintf(made, sizeof made, "%s/new", dir);
    assert_false(qp_test_file_exists(made));
    /* An existing model is left as it was when the new export fails. */
    snprintf(out, sizeof out, "%s/keep.onnx", dir);
    qp_test_write_file(out, "old", 3);
    assert_int_equal(qp_onnx_save(g, out, NULL), QP_ERR_UNSUPPORTED);
    struct stat sb;
    assert_int_equal(stat(out, &sb), 0);
    assert_int_equal(sb.st_size, 3);
    /* A folder as the target is refused up front. */
    assert_int_equal(qp_onnx_save(g, dir, NULL), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "is a folder"));
    qp_graph_free(g);
    qp_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_attribute_kind_and_dtype),
        cmocka_unit_test(test_ir3_lists_initializers_as_inputs),
        cmocka_unit_test(test_unused_initializers_dropped_by_default),
        cmocka_unit_test(test_failed_save_leaves_nothing),
        cmocka_unit_test(test_backend_node_models_roundtrip),
        cmocka_unit_test(test_shared_models_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
