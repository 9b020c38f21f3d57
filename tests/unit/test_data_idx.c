/* test_data_idx.c — IDX reading, plain and gzip, limits and error paths; the real MNIST files when present. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/dataset.h"
#include "test_support.h"


/* An IDX3 u8 file of n images of h x w with pixel = (i*31 + y*w + x) & 255. */
static size_t make_idx3(unsigned char *buf, int n, int h, int w) {
    unsigned char *p = buf;
    *p++ = 0, *p++ = 0, *p++ = 0x08, *p++ = 3;
    const int dims[3] = {n, h, w};
    for (int i = 0; i < 3; i++) {
        *p++ = (unsigned char)(dims[i] >> 24);
        *p++ = (unsigned char)(dims[i] >> 16);
        *p++ = (unsigned char)(dims[i] >> 8);
        *p++ = (unsigned char)dims[i];
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < h * w; k++) *p++ = (unsigned char)((i * 31 + k) & 255);
    return (size_t)(p - buf);
}

static void write_gz(const char *path, const void *data, size_t n) {
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(gz), Z_OK);
}

static void test_plain_and_gzip(void **state) {
    (void)state;
    char path[4096];
    unsigned char buf[4096];
    size_t n = make_idx3(buf, 5, 4, 3);
    for (int gz = 0; gz < 2; gz++) {
        if (gz) write_gz(qp_test_tmp_path("img.idx3.gz", path), buf, n);
        else qp_test_write_file(qp_test_tmp_path("img.idx3", path), buf, n);
        qp_idx idx;
        assert_int_equal(qp_idx_read(path, 0, &idx), QP_OK);
        assert_int_equal(idx.dtype, QP_DT_UINT8);
        assert_int_equal(idx.shape.rank, 3);
        assert_int_equal(idx.shape.dims[0], 5);
        assert_int_equal(idx.shape.dims[1], 4);
        assert_int_equal(idx.shape.dims[2], 3);
        assert_int_equal(idx.nbytes, 60);
        assert_memory_equal(idx.data, buf + 16, 60);
        qp_idx_free(&idx);
        /* max_items keeps the first images only */
        assert_int_equal(qp_idx_read(path, 2, &idx), QP_OK);
        assert_int_equal(idx.shape.dims[0], 2);
        assert_int_equal(idx.nbytes, 24);
        assert_memory_equal(idx.data, buf + 16, 24);
        qp_idx_free(&idx);
    }
}

/* Multi-byte types are big-endian in the file and host order in memory. */
static void test_big_endian_types(void **state) {
    (void)state;
    char path[4096];
    const unsigned char i32[] = {0, 0, 0x0C, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xfe, 0, 1, 0, 0};
    qp_test_write_file(qp_test_tmp_path("i32.idx", path), i32, sizeof i32);
    qp_idx idx;
    assert_int_equal(qp_idx_read(path, 0, &idx), QP_OK);
    assert_int_equal(idx.dtype, QP_DT_INT32);
    assert_int_equal(((int32_t *)idx.data)[0], -2);
    assert_int_equal(((int32_t *)idx.data)[1], 65536);
    qp_idx_free(&idx);
    const unsigned char f32[] = {0, 0, 0x0D, 1, 0, 0, 0, 1, 0x3f, 0xc0, 0, 0};
    qp_test_write_file(path, f32, sizeof f32);
    assert_int_equal(qp_idx_read(path, 0, &idx), QP_OK);
    assert_int_equal(idx.dtype, QP_DT_FLOAT);
    assert_true(((float *)idx.data)[0] == 1.5f);
    qp_idx_free(&idx);
}

static void expect_error(const char *path, qp_status want, const char *fragment) {
    qp_idx idx;
    qp_status st = qp_idx_read(path, 0, &idx);
    if (st != want) fail_msg("%s: expected %d, got %d (%s)", path, want, st, qp_error_message());
    assert_non_null(strstr(qp_error_message(), path));
    if (!strstr(qp_error_message(), fragment))
        fail_msg("message '%s' lacks '%s'", qp_error_message(), fragment);
    assert_null(idx.data);
}

static void test_errors(void **state) {
    (void)state;
    char path[4096];
    unsigned char buf[4096];
    size_t n = make_idx3(buf, 5, 4, 3);

    /* truncated data, plain and inside a complete gzip stream */
    qp_test_write_file(qp_test_tmp_path("short.idx", path), buf, n - 7);
    expect_error(path, QP_ERR_PARSE, "truncated IDX data: expected 60 bytes, got 53");
    write_gz(qp_test_tmp_path("short.idx.gz", path), buf, n - 7);
    expect_error(path, QP_ERR_PARSE, "truncated IDX data");

    /* a gzip file cut in the middle of its compressed stream */
    write_gz(qp_test_tmp_path("full.gz", path), buf, n);
    FILE *f = fopen(path, "rb");
    unsigned char gzbytes[4096];
    size_t gzn = fread(gzbytes, 1, sizeof gzbytes, f);
    fclose(f);
    assert_true(gzn > 30);
    qp_test_write_file(qp_test_tmp_path("cut.gz", path), gzbytes, gzn / 2);
    expect_error(path, QP_ERR_PARSE, "IDX");

    /* truncated header */
    qp_test_write_file(qp_test_tmp_path("head.idx", path), buf, 9);
    expect_error(path, QP_ERR_PARSE, "truncated IDX header");

    /* wrong magic: a PNG signature, and an unknown type code */
    qp_test_write_file(qp_test_tmp_path("png.idx", path), "\x89PNG\r\n\x1a\n", 8);
    expect_error(path, QP_ERR_PARSE, "not an IDX file (magic 89 50 4e 47");
    unsigned char bad[16];
    memcpy(bad, buf, 16);
    bad[2] = 0x07;
    qp_test_write_file(qp_test_tmp_path("type.idx", path), bad, 16);
    expect_error(path, QP_ERR_PARSE, "not an IDX file");
    bad[2] = 0x08;
    bad[3] = 0;
    qp_test_write_file(qp_test_tmp_path("rank.idx", path), bad, 16);
    expect_error(path, QP_ERR_PARSE, "rank 0");
    qp_test_write_file(qp_test_tmp_path("empty.idx", path), "", 0);
    expect_error(path, QP_ERR_PARSE, "empty file");

    expect_error(qp_test_tmp_path("missing.idx", path), QP_ERR_IO, "cannot open");
}

/* The real data: MNIST t10k (shared) and Fashion-MNIST (system datasets folder). */
static void test_mnist_files(void **state) {
    (void)state;
    QP_REQUIRE_SHARED("models/mnist-8/t10k/t10k-images-idx3-ubyte.gz");
    char path[4096];
    qp_idx images, labels;
    assert_int_equal(qp_idx_read(qp_test_shared_path("models/mnist-8/t10k/t10k-images-idx3-ubyte.gz",
                                                     path), 0, &images), QP_OK);
    assert_int_equal(images.shape.rank, 3);
    assert_int_equal(images.shape.dims[0], 10000);
    assert_int_equal(images.shape.dims[1], 28);
    assert_int_equal(images.shape.dims[2], 28);
    assert_int_equal(qp_idx_read(qp_test_shared_path("models/mnist-8/t10k/t10k-labels-idx1-ubyte.gz",
                                                     path), 0, &labels), QP_OK);
    assert_int_equal(labels.shape.rank, 1);
    assert_int_equal(labels.shape.dims[0], 10000);
    /* the first MNIST test digits are 7, 2, 1, 0, 4 */
    const uint8_t *l = labels.data;
    assert_int_equal(l[0], 7);
    assert_int_equal(l[1], 2);
    assert_int_equal(l[2], 1);
    assert_int_equal(l[3], 0);
    assert_int_equal(l[4], 4);
    qp_idx_free(&images);
    qp_idx_free(&labels);
}

static void test_fashion_mnist(void **state) {
    (void)state;
    const char *dir = "/usr/share/datasets/fashion-mnist";
    char path[4096];
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", dir);
    if (!qp_test_file_exists(path)) {
        print_message("SKIP: %s not found\n", path);
        skip();
    }
    qp_idx labels;
    assert_int_equal(qp_idx_read(path, 0, &labels), QP_OK);
    assert_int_equal(labels.shape.dims[0], 10000);
    int counts[10] = {0};
    for (int i = 0; i < 10000; i++) {
        uint8_t v = ((uint8_t *)labels.data)[i];
        assert_true(v < 10);
        counts[v]++;
    }
    for (int c = 0; c < 10; c++) assert_int_equal(counts[c], 1000); /* balanced test set */
    qp_idx_free(&labels);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    qp_idx images;
    assert_int_equal(qp_idx_read(path, 100, &images), QP_OK);
    assert_int_equal(images.shape.dims[0], 100);
    assert_int_equal(images.shape.dims[1], 28);
    qp_idx_free(&images);
}


/* Random damage to the header (dims announcing gigabytes included): an error or an array,
 * never a crash, and no allocation beyond what the file holds. */
static void test_random_damage_never_crashes(void **state) {
    (void)state;
    char path[4096];
    unsigned char good[4096], bad[4096];
    size_t n = make_idx3(good, 5, 4, 3);
    uint32_t rng = 99u;
    int errors = 0;
    qp_test_tmp_path("fuzz.idx", path);
    for (int iter = 0; iter < 200; iter++) {
        memcpy(bad, good, n);
        for (int k = 0; k < 1 + iter % 3; k++) {
            rng = rng * 1664525u + 1013904223u;
            size_t pos = (rng >> 8) % 16;
            rng = rng * 1664525u + 1013904223u;
            bad[pos] = (unsigned char)(rng >> 24);
        }
        qp_test_write_file(path, bad, n);
        qp_idx idx;
        qp_status st = qp_idx_read(path, 0, &idx);
        if (st == QP_OK) {
            assert_true(idx.nbytes <= n);
            qp_idx_free(&idx);
        } else {
            assert_int_equal(st, QP_ERR_PARSE);
            assert_non_null(strstr(qp_error_message(), "fuzz.idx"));
            errors++;
        }
    }
    assert_true(errors > 50);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_gzip),
        cmocka_unit_test(test_big_endian_types),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_mnist_files),
        cmocka_unit_test(test_fashion_mnist),
        cmocka_unit_test(test_random_damage_never_crashes),
    };
    return cmocka_run_group_tests(tests, qp_test_tmpdir_setup, qp_test_tmpdir_teardown);
}
