/* test_support.h — shared helpers for cmocka tests: shared-data lookup with explicit skips, temp dirs, graph building. */
#ifndef QPIPE_TEST_SUPPORT_H
#define QPIPE_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/engine.h"
#include "ir/ir.h"

/* Absolute path of a file under ../shared (buf must hold 4096). */
const char *qp_test_shared_path(const char *relative, char *buf);
/* Skips the current test with a clear message when ../shared/<relative> is absent. */
#define QP_REQUIRE_SHARED(relative)                                                          \
    do {                                                                                     \
        char qp_req_buf_[4096];                                                              \
        if (!qp_test_file_exists(qp_test_shared_path(relative, qp_req_buf_))) {             \
            print_message("SKIP: %s not found (needs ../shared beside the checkout)\n",      \
                          qp_req_buf_);                                                      \
            skip();                                                                          \
        }                                                                                    \
    } while (0)
int qp_test_file_exists(const char *path);
/* Creates a fresh temporary directory (removed by qp_test_rmtree); returns a static-lifetime copy. */
char *qp_test_mkdtemp(void);
void qp_test_rmtree(const char *path);
/* A cmocka group fixture for tests that write files: qp_test_tmpdir_setup makes a fresh directory,
 * qp_test_tmp_path names a file in it (buf must hold 4096), qp_test_tmpdir_teardown removes it. */
int qp_test_tmpdir_setup(void **state);
int qp_test_tmpdir_teardown(void **state);
const char *qp_test_tmp_path(const char *name, char *buf);
const char *qp_test_tmpdir(void);
/* Writes bytes to path; asserts on failure. */
void qp_test_write_file(const char *path, const void *data, size_t n);

/* Adds a float initializer to g; returns tensor id. */
int qp_test_add_initializer(qp_graph *g, const char *name, const qp_shape *shape, const float *values);
/* Adds a float graph input with the given shape; returns tensor id. */
int qp_test_add_input(qp_graph *g, const char *name, qp_dtype dtype, const qp_shape *shape);
void qp_test_add_output(qp_graph *g, int tensor_id);

/* Plans g in `mode` (int8 must have no fp32 fallback), runs it once on x and returns a malloc'd copy
 * of output 0 (*n_out bytes). Fails the test on any error. */
float *qp_test_run_plan(const qp_graph *g, const qp_encodings *e, qp_engine_mode mode, int batch, int threads,
                        const float *x, size_t *n_out);

/* The int8 engine's invariants on one input: INT8 at 1 thread equals QUANTSIM byte for byte, and
 * 2 to max_threads threads give the same bytes. Fails the test naming `what` and the batch;
 * returns the 1-thread INT8 output (*n_out bytes; free it). */
float *qp_test_check_int8_invariants(const qp_graph *g, const qp_encodings *e, int batch, const float *x,
                                     int max_threads, const char *what, size_t *n_out);

#endif
