/* test_support.c — helpers behind test_support.h. */
#define _XOPEN_SOURCE 700
#include "test_support.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"

const char *qp_test_shared_path(const char *relative, char *buf) {
    const char *root = getenv("QP_SHARED_DIR");
    snprintf(buf, 4096, "%s/%s", root && *root ? root : QP_SHARED_DIR, relative);
    return buf;
}

int qp_test_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

char *qp_test_mkdtemp(void) {
    char tmpl[] = "/tmp/qpipe-test-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    return strdup(dir);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void qp_test_rmtree(const char *path) {
    if (path) nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void qp_test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

int qp_test_add_initializer(qp_graph *g, const char *name, const qp_shape *shape, const float *values) {
    int id = qp_graph_get_or_add_tensor(g, name);
    assert_true(id >= 0);
    int64_t n = qp_shape_numel(shape);
    float *copy = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    assert_non_null(copy);
    if (n > 0) memcpy(copy, values, (size_t)n * sizeof(float));
    qp_tensor_set_data(g->tensors[id], QP_DT_FLOAT, shape, copy, (size_t)n * sizeof(float));
    return id;
}

int qp_test_add_input(qp_graph *g, const char *name, qp_dtype dtype, const qp_shape *shape) {
    int id = qp_graph_get_or_add_tensor(g, name);
    assert_true(id >= 0);
    g->tensors[id]->dtype = dtype;
    g->tensors[id]->shape = *shape;
    g->tensors[id]->is_graph_input = 1;
    g->inputs = realloc(g->inputs, (size_t)(g->n_inputs + 1) * sizeof(int));
    g->inputs[g->n_inputs++] = id;
    return id;
}

void qp_test_add_output(qp_graph *g, int tensor_id) {
    g->outputs = realloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof(int));
    g->outputs[g->n_outputs++] = tensor_id;
}

static char *test_tmpdir;

int qp_test_tmpdir_setup(void **state) {
    (void)state;
    test_tmpdir = qp_test_mkdtemp();
    return test_tmpdir ? 0 : -1;
}

int qp_test_tmpdir_teardown(void **state) {
    (void)state;
    if (test_tmpdir) qp_test_rmtree(test_tmpdir);
    free(test_tmpdir);
    test_tmpdir = NULL;
    return 0;
}

const char *qp_test_tmp_path(const char *name, char *buf) {
    snprintf(buf, 4096, "%s/%s", test_tmpdir, name);
    return buf;
}

const char *qp_test_tmpdir(void) { return test_tmpdir; }

float *qp_test_run_plan(const qp_graph *g, const qp_encodings *e, qp_engine_mode mode, int batch, int threads,
                  const float *x, size_t *n_out) {
    qp_plan_options o = {.mode = mode, .batch = batch, .n_threads = threads, .encodings = e};
    qp_plan *plan = NULL;
    if (qp_plan_create(g, &o, &plan) != QP_OK) fail_msg("plan: %s", qp_error_message());
    if (mode == QP_MODE_INT8 && qp_plan_num_fp32_fallbacks(plan) != 0)
        fail_msg("node %d runs in fp32: %s", qp_plan_fp32_fallback_node(plan, 0), qp_plan_fp32_fallback_reason(plan, 0));
    qp_value *in = qp_plan_input(plan, 0);
    memcpy(in->data, x, in->nbytes);
    assert_int_equal(qp_plan_run(plan), QP_OK);
    const qp_value *y = qp_plan_output(plan, 0);
    float *copy = malloc(y->nbytes);
    memcpy(copy, y->data, y->nbytes);
    *n_out = y->nbytes;
    qp_plan_free(plan);
    return copy;
}

float *qp_test_check_int8_invariants(const qp_graph *g, const qp_encodings *e, int batch, const float *x,
                                     int max_threads, const char *what, size_t *n_out) {
    size_t n;
    float *ref = qp_test_run_plan(g, e, QP_MODE_INT8, batch, 1, x, n_out);
    float *sim = qp_test_run_plan(g, e, QP_MODE_QUANTSIM, batch, 1, x, &n);
    assert_int_equal(n, *n_out);
    if (memcmp(sim, ref, n)) fail_msg("batch %d: INT8 %s differs from QUANTSIM", batch, what);
    free(sim);
    for (int threads = 2; threads <= max_threads; threads++) {
        float *got = qp_test_run_plan(g, e, QP_MODE_INT8, batch, threads, x, &n);
        assert_int_equal(n, *n_out);
        if (memcmp(got, ref, n)) fail_msg("batch %d: INT8 %s on %d threads differs from 1 thread", batch, what, threads);
        free(got);
    }
    return ref;
}
