/* test_data_dataset.c — image folders, labels, lists, class folders, IDX pairs and batch iteration. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data/dataset.h"
#include "test_support.h"

static char *tmpdir;

static const char *tmp_path(const char *name, char *buf) {
    snprintf(buf, 4096, "%s/%s", tmpdir, name);
    return buf;
}

static void write_jpeg(const char *rel, int w, int h, int seed) {
    char path[4096];
    qp_image img;
    assert_int_equal(qp_image_alloc(&img, w, h, 3), QP_OK);
    for (int i = 0; i < w * h * 3; i++) img.pixels[i] = (uint8_t)((i * 7 + seed * 50) & 255);
    assert_int_equal(qp_image_save_jpeg(tmp_path(rel, path), &img, 90), QP_OK);
    qp_image_free(&img);
}

static void write_text(const char *rel, const char *text) {
    char path[4096];
    qp_test_write_file(tmp_path(rel, path), text, strlen(text));
}

static void make_dir(const char *rel) {
    char path[4096];
    assert_int_equal(mkdir(tmp_path(rel, path), 0755), 0);
}

/* flat/: a.jpg b.JPEG c.jpeg d.jpg e.jpe (good), bad.jpg (not a JPEG), trunc.jpg (cut short),
 * notes.txt and .hidden.jpg (ignored). classes/: cat/ (2), dog/ (1), emu/ (empty). */
static int setup(void **state) {
    (void)state;
    tmpdir = qp_test_mkdtemp();
    make_dir("flat");
    write_jpeg("flat/a.jpg", 32, 24, 1);
    write_jpeg("flat/b.JPEG", 24, 32, 2);
    write_jpeg("flat/c.jpeg", 40, 40, 3);
    write_jpeg("flat/d.jpg", 30, 20, 4);
    write_jpeg("flat/e.jpe", 20, 30, 5);
    write_text("flat/bad.jpg", "this is not a JPEG file at all");
    write_jpeg("flat/trunc.jpg", 64, 64, 6);
    char path[4096];
    FILE *f = fopen(tmp_path("flat/trunc.jpg", path), "rb");
    unsigned char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    qp_test_write_file(path, buf, n - 100);
    write_text("flat/notes.txt", "not an image");
    write_jpeg("flat/.hidden.jpg", 8, 8, 7);
    make_dir("classes");
    make_dir("classes/cat");
    make_dir("classes/dog");
    make_dir("classes/emu");
    write_jpeg("classes/cat/x1.jpg", 20, 20, 8);
    write_jpeg("classes/cat/x2.jpg", 20, 20, 9);
    write_jpeg("classes/dog/y1.jpg", 20, 20, 10);
    make_dir("empty");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    qp_test_rmtree(tmpdir);
    free(tmpdir);
    return 0;
}

static void config_small(qp_dataset_config *cfg, const char *images) {
    static char path[4096];
    qp_dataset_config_init(cfg);
    cfg->images = tmp_path(images, path);
    assert_int_equal(qp_preprocess_set(&cfg->preprocess, "resize", "16"), QP_OK);
    assert_int_equal(qp_preprocess_set(&cfg->preprocess, "crop", "16"), QP_OK);
    cfg->threads = 1;
}

static void test_folder_scan_sorted_and_filtered(void **state) {
    (void)state;
    qp_dataset_config cfg;
    config_small(&cfg, "flat");
    qp_dataset *ds;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_OK);
    /* byte order: upper case sorts first; .txt and hidden files are not images */
    const char *want[] = {"a.jpg", "b.JPEG", "bad.jpg", "c.jpeg", "d.jpg", "e.jpe", "trunc.jpg"};
    assert_int_equal(qp_dataset_size(ds), 7);
    for (int i = 0; i < 7; i++) assert_string_equal(qp_dataset_name(ds, i), want[i]);
    assert_int_equal(qp_dataset_label(ds, 0), -1);
    assert_int_equal(qp_dataset_labelled_count(ds), 0);
    assert_int_equal(qp_dataset_num_classes(ds), 0);
    int c, h, w;
    qp_dataset_sample_shape(ds, &c, &h, &w);
    assert_int_equal(c, 3);
    assert_int_equal(h, 16);
    assert_int_equal(w, 16);
    qp_dataset_close(ds);
}

static void test_labels_file(void **state) {
    (void)state;
    char lpath[4096];
    write_text("labels.txt", "# file class\na.jpg 3\nb.JPEG\t1\n\nc.jpeg 0\r\nunknown.jpg 5\n");
    qp_dataset_config cfg;
    config_small(&cfg, "flat");
    cfg.labels = tmp_path("labels.txt", lpath);
    qp_dataset *ds;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_OK);
    assert_int_equal(qp_dataset_label(ds, 0), 3); /* a.jpg */
    assert_int_equal(qp_dataset_label(ds, 1), 1); /* b.JPEG */
    assert_int_equal(qp_dataset_label(ds, 2), -1); /* bad.jpg: not listed */
    assert_int_equal(qp_dataset_label(ds, 3), 0); /* c.jpeg */
    assert_int_equal(qp_dataset_labelled_count(ds), 3);
    assert_int_equal(qp_dataset_num_classes(ds), 4);
    qp_dataset_close(ds);

    write_text("labels_bad.txt", "a.jpg 3\nb.JPEG one\n");
    cfg.labels = tmp_path("labels_bad.txt", lpath);
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_ERR_PARSE);
    assert_non_null(strstr(qp_error_message(), "labels_bad.txt:2: expected '<file> <class>'"));
    write_text("labels_neg.txt", "a.jpg -3\n");
    cfg.labels = tmp_path("labels_neg.txt", lpath);
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_ERR_PARSE);
    assert_non_null(strstr(qp_error_message(), "labels_neg.txt:1"));
    write_text("labels_dup.txt", "a.jpg 3\nc.jpeg 1\na.jpg 4\n");
    cfg.labels = tmp_path("labels_dup.txt", lpath);
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_ERR_PARSE);
    assert_non_null(strstr(qp_error_message(), "labels_dup.txt:3: 'a.jpg' is already labelled on line 1"));
    write_text("labels_one.txt", "7\n");
    cfg.labels = tmp_path("labels_one.txt", lpath);
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_ERR_PARSE);
    cfg.labels = tmp_path("no_labels.txt", lpath);
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_ERR_IO);
    assert_non_null(strstr(qp_error_message(), "no_labels.txt"));
}

static void test_list_filter_and_count(void **state) {
    (void)state;
    char lpath[4096];
    write_text("list.txt", "e.jpe\n\n  c.jpeg  \na.jpg 3\n");
    qp_dataset_config cfg;
    config_small(&cfg, "flat");
    cfg.list = tmp_path("list.txt", lpath);
    qp_dataset *ds;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_OK);
    /* folder order, not list order; "a.jpg 3" (a labels line) selects a.jpg */
    assert_int_equal(qp_dataset_size(ds), 3);
    assert_string_equal(qp_dataset_name(ds, 0), "a.jpg");
    assert_string_equal(qp_dataset_name(ds, 1), "c.jpeg");
    assert_string_equal(qp_dataset_name(ds, 2), "e.jpe");
    qp_dataset_close(ds);

    cfg.count = 2;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_OK);
    assert_int_equal(qp_dataset_size(ds), 2);
    assert_string_equal(qp_dataset_name(ds, 1), "c.jpeg");
    qp_dataset_close(ds);

    write_text("list_missing.txt", "a.jpg\nz.jpg\n");
    cfg.list = tmp_path("list_missing.txt", lpath);
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_ERR_IO);
    assert_non_null(strstr(qp_error_message(), "list_missing.txt:2: 'z.jpg' is not an image in"));
    cfg.count = -1;
    cfg.list = NULL;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_ERR_INVALID_ARG);
}

static void test_class_folders(void **state) {
    (void)state;
    qp_dataset_config cfg;
    config_small(&cfg, "classes");
    qp_dataset *ds;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_OK); /* AUTO: no images at the top */
    assert_int_equal(qp_dataset_size(ds), 3);
    assert_string_equal(qp_dataset_name(ds, 0), "cat/x1.jpg");
    assert_string_equal(qp_dataset_name(ds, 2), "dog/y1.jpg");
    assert_int_equal(qp_dataset_label(ds, 1), 0);
    assert_int_equal(qp_dataset_label(ds, 2), 1);
    assert_int_equal(qp_dataset_num_classes(ds), 3); /* emu/ is empty but still a class */
    assert_string_equal(qp_dataset_class_name(ds, 2), "emu");
    assert_null(qp_dataset_class_name(ds, 3));
    qp_dataset_close(ds);

    /* NO: only the folder's own files, and there are none */
    cfg.class_dirs = QP_CLASS_DIRS_NO;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_ERR_IO);
    assert_non_null(strstr(qp_error_message(), "no JPEG images found"));
    /* YES on a flat folder: no sub-folders, so no images */
    config_small(&cfg, "flat");
    cfg.class_dirs = QP_CLASS_DIRS_YES;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_ERR_IO);
    config_small(&cfg, "empty");
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_ERR_IO);
    config_small(&cfg, "does-not-exist");
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_ERR_IO);
    assert_non_null(strstr(qp_error_message(), "does-not-exist"));
}

/* 7 entries, 2 unreadable, batches of 2: 2, 2, 1, then the end; order and labels kept. */
static void test_batches_skip_and_remainder(void **state) {
    (void)state;
    char lpath[4096];
    write_text("labels2.txt", "a.jpg 0\nb.JPEG 1\nc.jpeg 2\nd.jpg 3\ne.jpe 4\ntrunc.jpg 5\n");
    qp_dataset_config cfg;
    config_small(&cfg, "flat");
    cfg.labels = tmp_path("labels2.txt", lpath);
    assert_int_equal(qp_preprocess_set(&cfg.preprocess, "preset", "imagenet"), QP_OK);
    assert_int_equal(qp_preprocess_set(&cfg.preprocess, "resize", "20"), QP_OK);
    assert_int_equal(qp_preprocess_set(&cfg.preprocess, "crop", "12x16"), QP_OK);
    qp_dataset *ds;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_OK);
    qp_dataset_iter *it;
    assert_int_equal(qp_dataset_iter_new(ds, 0, &it), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_dataset_iter_new(ds, 2, &it), QP_OK);
    const int want_n[] = {2, 2, 1, 0};
    const int want_labels[] = {0, 1, 2, 3, 4};
    const size_t numel = 3 * 12 * 16;
    float *one = malloc(numel * sizeof *one);
    assert_non_null(one);
    int seen = 0;
    for (int b = 0; b < 4; b++) {
        qp_batch batch;
        assert_int_equal(qp_dataset_iter_next(it, &batch), QP_OK);
        assert_int_equal(batch.n, want_n[b]);
        assert_int_equal(batch.channels, 3);
        assert_int_equal(batch.height, 12);
        assert_int_equal(batch.width, 16);
        for (int i = 0; i < batch.n; i++, seen++) {
            assert_int_equal(batch.labels[i], want_labels[seen]);
            /* batch contents equal a single-sample load of the same index */
            assert_int_equal(qp_dataset_load(ds, batch.indices[i], one), QP_OK);
            assert_memory_equal(batch.data + (size_t)i * numel, one, numel * sizeof *one);
        }
    }
    assert_int_equal(seen, 5);
    assert_int_equal(qp_dataset_iter_skipped(it), 2);
    assert_string_equal(qp_dataset_iter_skipped_name(it, 0), "bad.jpg");
    assert_string_equal(qp_dataset_iter_skipped_name(it, 1), "trunc.jpg");
    assert_non_null(strstr(qp_dataset_iter_skipped_reason(it, 0), "bad.jpg"));
    assert_non_null(strstr(qp_dataset_iter_skipped_reason(it, 0), "Not a JPEG file"));
    assert_non_null(strstr(qp_dataset_iter_skipped_reason(it, 1), "truncated JPEG data"));
    assert_null(qp_dataset_iter_skipped_name(it, 2));

    /* rewind gives the same first batch and clears the skip list */
    qp_dataset_iter_rewind(it);
    assert_int_equal(qp_dataset_iter_skipped(it), 0);
    qp_batch batch;
    assert_int_equal(qp_dataset_iter_next(it, &batch), QP_OK);
    assert_int_equal(batch.n, 2);
    assert_int_equal(batch.indices[0], 0);
    qp_dataset_iter_free(it);
    free(one);
    assert_int_equal(qp_dataset_load(ds, 99, NULL), QP_ERR_INVALID_ARG);
    qp_dataset_close(ds);
}

/* Decoding threads do not change a single bit. */
static void test_threads_deterministic(void **state) {
    (void)state;
    qp_dataset_config cfg;
    config_small(&cfg, "flat");
    float *out[2];
    int n[2];
    for (int t = 0; t < 2; t++) {
        cfg.threads = t ? 3 : 1;
        qp_dataset *ds;
        qp_dataset_iter *it;
        qp_batch batch;
        assert_int_equal(qp_dataset_open(&cfg, &ds), QP_OK);
        assert_int_equal(qp_dataset_iter_new(ds, 7, &it), QP_OK);
        assert_int_equal(qp_dataset_iter_next(it, &batch), QP_OK);
        n[t] = batch.n;
        out[t] = malloc((size_t)batch.n * 3 * 16 * 16 * sizeof(float));
        memcpy(out[t], batch.data, (size_t)batch.n * 3 * 16 * 16 * sizeof(float));
        qp_dataset_iter_free(it);
        qp_dataset_close(ds);
    }
    assert_int_equal(n[0], 5);
    assert_int_equal(n[1], 5);
    assert_memory_equal(out[0], out[1], 5 * 3 * 16 * 16 * sizeof(float));
    free(out[0]);
    free(out[1]);
}

/* Without resize or crop the first image fixes the size; others are skipped with the reason. */
static void test_size_from_first_image(void **state) {
    (void)state;
    char path[4096];
    qp_dataset_config cfg;
    qp_dataset_config_init(&cfg);
    cfg.images = tmp_path("flat", path);
    cfg.threads = 1;
    assert_int_equal(qp_preprocess_set(&cfg.preprocess, "color", "GRAY"), QP_OK);
    qp_dataset *ds;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_OK);
    int c, h, w;
    qp_dataset_sample_shape(ds, &c, &h, &w);
    assert_int_equal(c, 1);
    assert_int_equal(h, 24); /* a.jpg is 32x24 */
    assert_int_equal(w, 32);
    qp_dataset_iter *it;
    qp_batch batch;
    assert_int_equal(qp_dataset_iter_new(ds, 8, &it), QP_OK);
    assert_int_equal(qp_dataset_iter_next(it, &batch), QP_OK);
    assert_int_equal(batch.n, 1);
    assert_int_equal(qp_dataset_iter_skipped(it), 6);
    assert_non_null(strstr(qp_dataset_iter_skipped_reason(it, 0), "b.JPEG"));
    assert_non_null(strstr(qp_dataset_iter_skipped_reason(it, 0), "need resize or crop"));
    qp_dataset_iter_free(it);
    qp_dataset_close(ds);
}

static void write_idx_gz(const char *rel, const unsigned char *header, size_t hn,
                         const unsigned char *data, size_t n) {
    char path[4096];
    gzFile gz = gzopen(tmp_path(rel, path), "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, header, (unsigned)hn), (int)hn);
    if (n) assert_int_equal(gzwrite(gz, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(gz), Z_OK);
}

static void test_idx_dataset(void **state) {
    (void)state;
    const unsigned char ih[16] = {0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 6};
    unsigned char pixels[5 * 4 * 6];
    for (int i = 0; i < 5 * 24; i++) pixels[i] = (unsigned char)(i * 2);
    write_idx_gz("img.idx3.gz", ih, 16, pixels, sizeof pixels);
    const unsigned char lh[8] = {0, 0, 8, 1, 0, 0, 0, 5};
    const unsigned char labels[5] = {9, 8, 7, 6, 5};
    write_idx_gz("lab.idx1.gz", lh, 8, labels, 5);
    const unsigned char lh3[8] = {0, 0, 8, 1, 0, 0, 0, 3};
    write_idx_gz("lab3.idx1.gz", lh3, 8, labels, 3);

    char ipath[4096], lpath[4096];
    qp_dataset_config cfg;
    qp_dataset_config_init(&cfg);
    cfg.images = tmp_path("img.idx3.gz", ipath);
    cfg.labels = tmp_path("lab.idx1.gz", lpath);
    cfg.threads = 1;
    assert_int_equal(qp_preprocess_set(&cfg.preprocess, "color", "GRAY"), QP_OK);
    assert_int_equal(qp_preprocess_set(&cfg.preprocess, "scale", "1/255"), QP_OK);
    qp_dataset *ds;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_OK);
    assert_int_equal(qp_dataset_size(ds), 5);
    assert_string_equal(qp_dataset_name(ds, 3), "img.idx3.gz[3]");
    assert_int_equal(qp_dataset_num_classes(ds), 10);
    int c, h, w;
    qp_dataset_sample_shape(ds, &c, &h, &w);
    assert_true(c == 1 && h == 4 && w == 6);
    qp_dataset_iter *it;
    qp_batch batch;
    assert_int_equal(qp_dataset_iter_new(ds, 3, &it), QP_OK);
    assert_int_equal(qp_dataset_iter_next(it, &batch), QP_OK);
    assert_int_equal(batch.n, 3);
    assert_int_equal(batch.labels[2], 7);
    for (int i = 0; i < 3 * 24; i++) assert_float_equal(batch.data[i], pixels[i] / 255.0f, 1e-6);
    assert_int_equal(qp_dataset_iter_next(it, &batch), QP_OK);
    assert_int_equal(batch.n, 2);
    assert_int_equal(batch.labels[1], 5);
    assert_int_equal(qp_dataset_iter_next(it, &batch), QP_OK);
    assert_int_equal(batch.n, 0);
    qp_dataset_iter_free(it);
    qp_dataset_close(ds);

    /* RGB from grey replicates; count limits the images read */
    assert_int_equal(qp_preprocess_set(&cfg.preprocess, "color", "RGB"), QP_OK);
    cfg.count = 2;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_OK);
    assert_int_equal(qp_dataset_size(ds), 2);
    qp_dataset_sample_shape(ds, &c, NULL, NULL);
    assert_int_equal(c, 3);
    float one[3 * 24];
    assert_int_equal(qp_dataset_load(ds, 1, one), QP_OK);
    assert_float_equal(one[0], one[24], 0);
    assert_float_equal(one[0], pixels[24] / 255.0f, 1e-6);
    qp_dataset_close(ds);

    /* too few labels, a list with IDX, a wrong-magic labels file */
    cfg.count = 0;
    cfg.labels = tmp_path("lab3.idx1.gz", lpath);
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "3 labels for 5 images"));
    cfg.labels = NULL;
    cfg.list = lpath;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_ERR_INVALID_ARG);
    cfg.list = NULL;
    cfg.labels = tmp_path("labels.txt", lpath);
    write_text("labels.txt", "a.jpg 1\n");
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_ERR_PARSE);
    assert_non_null(strstr(qp_error_message(), "not an IDX file"));
}

/* MNIST test digits through the dataset equal the model's reference inputs exactly. */
static void test_mnist_reference_inputs(void **state) {
    (void)state;
    QP_REQUIRE_SHARED("models/mnist-8/t10k/t10k-images-idx3-ubyte.gz");
    QP_REQUIRE_SHARED("models/mnist-8/ref/input_0.npy");
    char ipath[4096], lpath[4096], rpath[4096], rel[256];
    qp_dataset_config cfg;
    qp_dataset_config_init(&cfg);
    cfg.images = qp_test_shared_path("models/mnist-8/t10k/t10k-images-idx3-ubyte.gz", ipath);
    cfg.labels = qp_test_shared_path("models/mnist-8/t10k/t10k-labels-idx1-ubyte.gz", lpath);
    cfg.count = 8;
    assert_int_equal(qp_preprocess_set(&cfg.preprocess, "color", "GRAY"), QP_OK);
    qp_dataset *ds;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_OK);
    qp_dataset_iter *it;
    qp_batch batch;
    assert_int_equal(qp_dataset_iter_new(ds, 8, &it), QP_OK);
    assert_int_equal(qp_dataset_iter_next(it, &batch), QP_OK);
    assert_int_equal(batch.n, 8);
    assert_int_equal(batch.labels[0], 7);
    for (int i = 0; i < 8; i++) {
        snprintf(rel, sizeof rel, "models/mnist-8/ref/input_%d.npy", i);
        float *ref;
        qp_shape shape;
        assert_int_equal(qp_npy_read_f32(qp_test_shared_path(rel, rpath), &ref, &shape), QP_OK);
        assert_int_equal(qp_shape_numel(&shape), 28 * 28);
        assert_memory_equal(batch.data + (size_t)i * 784, ref, 784 * sizeof(float));
        free(ref);
    }
    qp_dataset_iter_free(it);
    qp_dataset_close(ds);
}

/* The ImageNet sample set with its calibration list and labels file. */
static void test_imagenet_calibration_list(void **state) {
    (void)state;
    QP_REQUIRE_SHARED("models/imagenet/calibration.txt");
    char ipath[4096], lpath[4096], listpath[4096];
    qp_dataset_config cfg;
    qp_dataset_config_init(&cfg);
    cfg.images = qp_test_shared_path("models/imagenet/images", ipath);
    cfg.labels = qp_test_shared_path("models/imagenet/labels.txt", lpath);
    cfg.list = qp_test_shared_path("models/imagenet/calibration.txt", listpath);
    assert_int_equal(qp_preprocess_set(&cfg.preprocess, "preset", "imagenet"), QP_OK);
    qp_dataset *ds;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_OK);
    assert_int_equal(qp_dataset_size(ds), 250);
    assert_int_equal(qp_dataset_labelled_count(ds), 250);
    for (int64_t i = 0; i < 250; i++) assert_int_equal(qp_dataset_label(ds, i) % 4, 0);
    assert_string_equal(qp_dataset_name(ds, 0), "n01440764_tench.JPEG");
    qp_dataset_close(ds);

    cfg.count = 6;
    assert_int_equal(qp_dataset_open(&cfg, &ds), QP_OK);
    qp_dataset_iter *it;
    qp_batch batch;
    assert_int_equal(qp_dataset_iter_new(ds, 4, &it), QP_OK);
    assert_int_equal(qp_dataset_iter_next(it, &batch), QP_OK);
    assert_int_equal(batch.n, 4);
    assert_int_equal(batch.labels[0], 0);
    assert_int_equal(batch.labels[1], 4);
    assert_int_equal(qp_dataset_iter_next(it, &batch), QP_OK);
    assert_int_equal(batch.n, 2);
    assert_int_equal(qp_dataset_iter_next(it, &batch), QP_OK);
    assert_int_equal(batch.n, 0);
    assert_int_equal(qp_dataset_iter_skipped(it), 0);
    qp_dataset_iter_free(it);
    qp_dataset_close(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folder_scan_sorted_and_filtered),
        cmocka_unit_test(test_labels_file),
        cmocka_unit_test(test_list_filter_and_count),
        cmocka_unit_test(test_class_folders),
        cmocka_unit_test(test_batches_skip_and_remainder),
        cmocka_unit_test(test_threads_deterministic),
        cmocka_unit_test(test_size_from_first_image),
        cmocka_unit_test(test_idx_dataset),
        cmocka_unit_test(test_mnist_reference_inputs),
        cmocka_unit_test(test_imagenet_calibration_list),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
