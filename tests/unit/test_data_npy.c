/* test_data_npy.c — .npy round trips for every dtype, header versions, and every error path. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/npy.h"
#include "test_support.h"


/* Builds a .npy image: magic, version, header dict padded like NumPy, then data. */
static size_t make_npy(unsigned char *buf, int major, const char *dict, const void *data,
                       size_t nbytes) {
    size_t prefix = major == 1 ? 10 : 12, len = strlen(dict);
    size_t total = (prefix + len + 1 + 63) / 64 * 64, header_len = total - prefix;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    buf[8] = (unsigned char)(header_len & 0xff);
    buf[9] = (unsigned char)(header_len >> 8);
    if (major != 1) buf[10] = buf[11] = 0;
    memcpy(buf + prefix, dict, len);
    memset(buf + prefix + len, ' ', header_len - len - 1);
    buf[total - 1] = '\n';
    if (nbytes) memcpy(buf + total, data, nbytes);
    return total + nbytes;
}

static void test_float32_round_trip(void **state) {
    (void)state;
    char path[4096];
    float values[24];
    for (int i = 0; i < 24; i++) values[i] = (float)i * 0.25f - 3.0f;
    qp_shape shape = {3, {2, 3, 4}};
    assert_int_equal(qp_npy_write(qp_test_tmp_path("a.npy", path), QP_DT_FLOAT, &shape, values), QP_OK);

    /* the header is what NumPy writes: v1.0, dict, data 64-byte aligned */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char head[128];
    assert_int_equal(fread(head, 1, sizeof head, f), sizeof head);
    fclose(f);
    assert_memory_equal(head, "\x93NUMPY\x01\x00", 8);
    size_t header_len = (size_t)head[8] | (size_t)head[9] << 8;
    assert_int_equal((10 + header_len) % 64, 0);
    assert_memory_equal(head + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }",
                        strlen("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }"));
    assert_int_equal(head[10 + header_len - 1], '\n');

    qp_npy npy;
    assert_int_equal(qp_npy_read(path, &npy), QP_OK);
    assert_int_equal(npy.dtype, QP_DT_FLOAT);
    assert_int_equal(npy.shape.rank, 3);
    assert_int_equal(npy.shape.dims[0], 2);
    assert_int_equal(npy.shape.dims[2], 4);
    assert_int_equal(npy.nbytes, sizeof values);
    assert_memory_equal(npy.data, values, sizeof values);
    qp_npy_free(&npy);

    /* no temporary file is left behind */
    DIR *d = opendir(qp_test_tmpdir());
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') {
            files++;
            assert_null(strstr(e->d_name, ".tmp"));
        }
    closedir(d);
    assert_true(files >= 1);
}

static void test_all_dtypes_round_trip(void **state) {
    (void)state;
    char path[4096];
    const qp_dtype dtypes[] = {QP_DT_FLOAT, QP_DT_DOUBLE, QP_DT_INT64, QP_DT_INT32,
                               QP_DT_UINT8, QP_DT_INT8,   QP_DT_BOOL,  QP_DT_INT16,
                               QP_DT_UINT16, QP_DT_UINT32, QP_DT_UINT64, QP_DT_FLOAT16};
    unsigned char data[5 * 8];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 7 + 1);
    for (size_t k = 0; k < sizeof dtypes / sizeof dtypes[0]; k++) {
        qp_shape shape = {1, {5}};
        if (dtypes[k] == QP_DT_BOOL) memset(data, 1, 5);
        assert_int_equal(qp_npy_write(qp_test_tmp_path("t.npy", path), dtypes[k], &shape, data), QP_OK);
        qp_npy npy;
        assert_int_equal(qp_npy_read(path, &npy), QP_OK);
        assert_int_equal(npy.dtype, dtypes[k]);
        assert_int_equal(npy.shape.rank, 1);
        assert_int_equal(npy.shape.dims[0], 5);
        assert_int_equal(npy.nbytes, 5 * qp_dtype_size(dtypes[k]));
        assert_memory_equal(npy.data, data, npy.nbytes);
        qp_npy_free(&npy);
    }
    /* a scalar and an empty array */
    double scalar = 2.5;
    qp_shape s0 = {0, {0}};
    assert_int_equal(qp_npy_write(path, QP_DT_DOUBLE, &s0, &scalar), QP_OK);
    qp_npy npy;
    assert_int_equal(qp_npy_read(path, &npy), QP_OK);
    assert_int_equal(npy.shape.rank, 0);
    assert_true(*(double *)npy.data == 2.5);
    qp_npy_free(&npy);
    qp_shape empty = {2, {0, 3}};
    assert_int_equal(qp_npy_write(path, QP_DT_FLOAT, &empty, NULL), QP_OK);
    assert_int_equal(qp_npy_read(path, &npy), QP_OK);
    assert_int_equal(npy.nbytes, 0);
    assert_int_equal(npy.shape.dims[1], 3);
    qp_npy_free(&npy);
}

static void test_read_f32_converts(void **state) {
    (void)state;
    char path[4096];
    unsigned char buf[512];
    const int64_t i64[3] = {-2, 0, 70000};
    size_t n = make_npy(buf, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", i64,
                        sizeof i64);
    qp_test_write_file(qp_test_tmp_path("i64.npy", path), buf, n);
    float *f;
    qp_shape shape;
    assert_int_equal(qp_npy_read_f32(path, &f, &shape), QP_OK);
    assert_int_equal(shape.rank, 1);
    assert_true(f[0] == -2.0f && f[1] == 0.0f && f[2] == 70000.0f);
    free(f);

    const unsigned char b1[4] = {0, 1, 1, 0};
    n = make_npy(buf, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 2), }", b1, 4);
    qp_test_write_file(path, buf, n);
    assert_int_equal(qp_npy_read_f32(path, &f, &shape), QP_OK);
    assert_true(f[0] == 0.0f && f[1] == 1.0f && f[2] == 1.0f && f[3] == 0.0f);
    free(f);

    const uint16_t f16[4] = {0x3c00, 0xc000, 0x3555, 0x0001}; /* 1, -2, ~0.333, 2^-24 */
    n = make_npy(buf, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", f16, 8);
    qp_test_write_file(path, buf, n);
    assert_int_equal(qp_npy_read_f32(path, &f, &shape), QP_OK);
    assert_true(f[0] == 1.0f && f[1] == -2.0f);
    assert_float_equal(f[2], 0.33325195f, 1e-7);
    assert_float_equal(f[3], 5.9604645e-8f, 1e-12);
    free(f);

    const unsigned char u1[3] = {0, 128, 255};
    n = make_npy(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", u1, 3);
    qp_test_write_file(path, buf, n);
    assert_int_equal(qp_npy_read_f32(path, &f, &shape), QP_OK);
    assert_true(f[1] == 128.0f && f[2] == 255.0f);
    free(f);
}

/* Version 2.0 (4-byte header length) and keys in another order with double quotes. */
static void test_v2_header(void **state) {
    (void)state;
    unsigned char buf[512];
    const int32_t v[2] = {7, -9};
    size_t n = make_npy(buf, 2, "{\"shape\": (1, 2), \"fortran_order\": False, \"descr\": \"<i4\"}",
                        v, sizeof v);
    qp_npy npy;
    assert_int_equal(qp_npy_parse(buf, n, "v2.npy", &npy), QP_OK);
    assert_int_equal(npy.dtype, QP_DT_INT32);
    assert_int_equal(npy.shape.rank, 2);
    assert_int_equal(((int32_t *)npy.data)[1], -9);
    qp_npy_free(&npy);
}

static void expect_parse_error(const unsigned char *buf, size_t n, qp_status want,
                               const char *fragment) {
    qp_npy npy;
    qp_status st = qp_npy_parse(buf, n, "bad.npy", &npy);
    if (st != want)
        fail_msg("expected status %d, got %d (%s)", want, st, qp_error_message());
    assert_non_null(strstr(qp_error_message(), "bad.npy"));
    if (!strstr(qp_error_message(), fragment))
        fail_msg("message '%s' lacks '%s'", qp_error_message(), fragment);
    assert_null(npy.data);
}

static void test_errors(void **state) {
    (void)state;
    unsigned char buf[512];
    const float v[4] = {1, 2, 3, 4};
    size_t n;

    memcpy(buf, "PK\x03\x04garbagegarbage", 18);
    expect_parse_error(buf, 18, QP_ERR_PARSE, "bad magic");
    expect_parse_error(buf, 3, QP_ERR_PARSE, "bad magic");

    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", v, sizeof v);
    expect_parse_error(buf, n - 1, QP_ERR_PARSE, "truncated .npy data");
    expect_parse_error(buf, 40, QP_ERR_PARSE, "truncated .npy header");

    n = make_npy(buf, 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", v, sizeof v);
    expect_parse_error(buf, n, QP_ERR_UNSUPPORTED, "unsupported .npy descr '<c8'");
    n = make_npy(buf, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", v, sizeof v);
    expect_parse_error(buf, n, QP_ERR_UNSUPPORTED, "big-endian");
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", v, sizeof v);
    expect_parse_error(buf, n, QP_ERR_UNSUPPORTED, "fortran_order True");
    n = make_npy(buf, 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", v,
                 sizeof v);
    expect_parse_error(buf, n, QP_ERR_UNSUPPORTED, "structured");
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", v, sizeof v);
    expect_parse_error(buf, n, QP_ERR_PARSE, "bad shape");
    n = make_npy(buf, 1, "{'descr': '<f4', 'shape': (4,), }", v, sizeof v);
    expect_parse_error(buf, n, QP_ERR_PARSE, "missing 'fortran_order'");
    n = make_npy(buf, 1, "'descr': '<f4'", v, sizeof v);
    expect_parse_error(buf, n, QP_ERR_PARSE, "malformed");
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }",
                 v, sizeof v);
    expect_parse_error(buf, n, QP_ERR_UNSUPPORTED, "more than 8 dimensions");
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", v, sizeof v);
    buf[6] = 4;
    expect_parse_error(buf, n, QP_ERR_UNSUPPORTED, "version 4.0");

    /* files: missing, and a truncated file on disk */
    char path[4096];
    qp_npy npy;
    assert_int_equal(qp_npy_read(qp_test_tmp_path("missing.npy", path), &npy), QP_ERR_IO);
    assert_non_null(strstr(qp_error_message(), "missing.npy"));
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", v, sizeof v);
    qp_test_write_file(qp_test_tmp_path("cut.npy", path), buf, n - 5);
    assert_int_equal(qp_npy_read(path, &npy), QP_ERR_PARSE);
    assert_non_null(strstr(qp_error_message(), "cut.npy: truncated .npy data"));

    /* writer errors name the file */
    qp_shape shape = {1, {4}};
    assert_int_equal(qp_npy_write(qp_test_tmp_path("no/such/dir/x.npy", path), QP_DT_FLOAT, &shape, v),
                     QP_ERR_IO);
    assert_non_null(strstr(qp_error_message(), "no/such/dir/x.npy"));
    assert_int_equal(qp_npy_write(qp_test_tmp_path("s.npy", path), QP_DT_STRING, &shape, v),
                     QP_ERR_UNSUPPORTED);
}

/* The models' reference tensors, written by NumPy. */
static void test_reads_numpy_files(void **state) {
    (void)state;
    QP_REQUIRE_SHARED("models/mobilenetv2-12/ref/input_0.npy");
    char path[4096];
    qp_npy npy;
    assert_int_equal(qp_npy_read(qp_test_shared_path("models/mobilenetv2-12/ref/input_0.npy", path),
                                 &npy), QP_OK);
    assert_int_equal(npy.dtype, QP_DT_FLOAT);
    assert_int_equal(npy.shape.rank, 4);
    assert_int_equal(npy.shape.dims[1], 3);
    assert_int_equal(npy.shape.dims[3], 224);
    assert_int_equal(npy.nbytes, 3 * 224 * 224 * 4);
    qp_npy_free(&npy);
}


/* Random damage to header and data: an error or an array, never a crash. */
static void test_random_damage_never_crashes(void **state) {
    (void)state;
    unsigned char good[512], bad[512];
    const float v[6] = {1, 2, 3, 4, 5, 6};
    size_t n = make_npy(good, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v,
                        sizeof v);
    uint32_t rng = 777u;
    int errors = 0;
    for (int iter = 0; iter < 2000; iter++) {
        memcpy(bad, good, n);
        for (int k = 0; k < 1 + iter % 3; k++) {
            rng = rng * 1664525u + 1013904223u;
            size_t pos = (rng >> 8) % 90; /* the magic, lengths and dict */
            rng = rng * 1664525u + 1013904223u;
            bad[pos] = (unsigned char)(rng >> 24);
        }
        qp_npy npy;
        qp_status st = qp_npy_parse(bad, iter % 7 == 0 ? n - (size_t)(iter % 50) : n, "f.npy", &npy);
        if (st == QP_OK) {
            assert_true(npy.nbytes <= n);
            qp_npy_free(&npy);
        } else {
            assert_true(st == QP_ERR_PARSE || st == QP_ERR_UNSUPPORTED);
            errors++;
        }
    }
    assert_true(errors > 100);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_float32_round_trip),
        cmocka_unit_test(test_all_dtypes_round_trip),
        cmocka_unit_test(test_read_f32_converts),
        cmocka_unit_test(test_v2_header),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_reads_numpy_files),
        cmocka_unit_test(test_random_damage_never_crashes),
    };
    return cmocka_run_group_tests(tests, qp_test_tmpdir_setup, qp_test_tmpdir_teardown);
}
