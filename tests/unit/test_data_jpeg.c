/* test_data_jpeg.c — JPEG decoding: round trips through libjpeg, grey and CMYK conversion, every error path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "data/dataset.h"
#include "test_support.h"


/* A smooth 24x16 gradient, so quality-100 JPEG error stays small. */
static void make_gradient(qp_image *img, int channels) {
    assert_int_equal(qp_image_alloc(img, 24, 16, channels), QP_OK);
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 24; x++)
            for (int c = 0; c < channels; c++)
                img->pixels[((size_t)y * 24 + x) * channels + c] =
                    (uint8_t)(40 + x * 4 + y * 3 + c * 30);
}

static int max_abs_diff(const uint8_t *a, const uint8_t *b, size_t n) {
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > m) m = d;
    }
    return m;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

static void test_rgb_round_trip(void **state) {
    (void)state;
    char path[4096];
    qp_image src, dec;
    make_gradient(&src, 3);
    assert_int_equal(qp_image_save_jpeg(qp_test_tmp_path("rgb.jpg", path), &src, 100), QP_OK);
    int w, h, comps;
    assert_int_equal(qp_image_jpeg_info(path, &w, &h, &comps), QP_OK);
    assert_int_equal(w, 24);
    assert_int_equal(h, 16);
    assert_int_equal(comps, 3);
    assert_int_equal(qp_image_load_jpeg(path, 0, &dec), QP_OK);
    assert_int_equal(dec.width, 24);
    assert_int_equal(dec.height, 16);
    assert_int_equal(dec.channels, 3);
    /* quality 100 with chroma subsampling: a few levels on a smooth gradient */
    assert_true(max_abs_diff(src.pixels, dec.pixels, 24 * 16 * 3) <= 6);
    qp_image_free(&dec);

    /* asking for grey converts the decoded RGB with Pillow's luma */
    qp_image rgb, grey, expect;
    assert_int_equal(qp_image_load_jpeg(path, 3, &rgb), QP_OK);
    assert_int_equal(qp_image_load_jpeg(path, 1, &grey), QP_OK);
    assert_int_equal(grey.channels, 1);
    assert_int_equal(qp_image_convert(&rgb, 1, &expect), QP_OK);
    assert_memory_equal(grey.pixels, expect.pixels, 24 * 16);
    qp_image_free(&rgb);
    qp_image_free(&grey);
    qp_image_free(&expect);
    qp_image_free(&src);
}

static void test_greyscale_to_rgb(void **state) {
    (void)state;
    char path[4096];
    qp_image src, g, rgb;
    make_gradient(&src, 1);
    assert_int_equal(qp_image_save_jpeg(qp_test_tmp_path("grey.jpg", path), &src, 100), QP_OK);
    assert_int_equal(qp_image_load_jpeg(path, 0, &g), QP_OK);
    assert_int_equal(g.channels, 1);
    assert_true(max_abs_diff(src.pixels, g.pixels, 24 * 16) <= 2);
    assert_int_equal(qp_image_load_jpeg(path, 3, &rgb), QP_OK);
    assert_int_equal(rgb.channels, 3);
    for (int i = 0; i < 24 * 16; i++) {
        assert_int_equal(rgb.pixels[3 * i], g.pixels[i]);
        assert_int_equal(rgb.pixels[3 * i + 1], g.pixels[i]);
        assert_int_equal(rgb.pixels[3 * i + 2], g.pixels[i]);
    }
    qp_image_free(&src);
    qp_image_free(&g);
    qp_image_free(&rgb);
}

/* Writes a 16x8 CMYK JPEG with libjpeg (as Photoshop does, Adobe marker included). */
static void write_cmyk_jpeg(const char *path) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    jpeg_stdio_dest(&c, f);
    c.image_width = 16;
    c.image_height = 8;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    unsigned char row[16 * 4];
    while (c.next_scanline < c.image_height) {
        for (int x = 0; x < 16; x++) {
            row[4 * x + 0] = (unsigned char)(200 + x);
            row[4 * x + 1] = (unsigned char)(60 + 8 * x);
            row[4 * x + 2] = (unsigned char)(10 * c.next_scanline);
            row[4 * x + 3] = (unsigned char)(255 - 9 * x);
        }
        JSAMPROW rows[1] = {row};
        jpeg_write_scanlines(&c, rows, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

/* Reads the stored CMYK samples back with plain libjpeg. */
static void read_cmyk_raw(const char *path, unsigned char *out) {
    struct jpeg_decompress_struct d;
    struct jpeg_error_mgr err;
    d.err = jpeg_std_error(&err);
    jpeg_create_decompress(&d);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    jpeg_stdio_src(&d, f);
    jpeg_read_header(&d, TRUE);
    assert_int_equal(d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK, 1);
    d.out_color_space = JCS_CMYK;
    jpeg_start_decompress(&d);
    while (d.output_scanline < d.output_height) {
        JSAMPROW rows[1] = {out + (size_t)d.output_scanline * 16 * 4};
        jpeg_read_scanlines(&d, rows, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    fclose(f);
}

static void test_cmyk_to_rgb_like_pillow(void **state) {
    (void)state;
    char path[4096];
    write_cmyk_jpeg(qp_test_tmp_path("cmyk.jpg", path));
    unsigned char raw[16 * 8 * 4];
    read_cmyk_raw(path, raw);
    qp_image rgb;
    assert_int_equal(qp_image_load_jpeg(path, 0, &rgb), QP_OK);
    assert_int_equal(rgb.channels, 3);
    assert_int_equal(rgb.width, 16);
    for (int i = 0; i < 16 * 8; i++) {
        /* Pillow: CMYK;I (inverted), then cmyk2rgb: nk - MULDIV255(C, nk) */
        int nk = raw[4 * i + 3];
        for (int c = 0; c < 3; c++) {
            int inv = 255 - raw[4 * i + c];
            int tmp = inv * nk + 128;
            int want = nk - (((tmp >> 8) + tmp) >> 8);
            assert_int_equal(rgb.pixels[3 * i + c], want);
        }
    }
    qp_image_free(&rgb);
}

static void expect_decode_error(const void *data, size_t n, const char *name, const char *fragment) {
    qp_image img;
    qp_status st = qp_image_decode_jpeg(data, n, name, 3, &img);
    if (st != QP_ERR_PARSE)
        fail_msg("%s: expected a parse error, got %d (%s)", name, st, qp_error_message());
    assert_non_null(strstr(qp_error_message(), name));
    if (!strstr(qp_error_message(), fragment))
        fail_msg("message '%s' lacks '%s'", qp_error_message(), fragment);
    assert_null(img.pixels);
}

static void test_errors(void **state) {
    (void)state;
    char path[4096];
    qp_image src;
    make_gradient(&src, 3);
    assert_int_equal(qp_image_save_jpeg(qp_test_tmp_path("ok.jpg", path), &src, 90), QP_OK);
    qp_image_free(&src);
    size_t n;
    unsigned char *good = slurp(path, &n);
    unsigned char *bad = malloc(n);
    assert_non_null(bad);

    /* truncated: header intact, scan cut short (Pillow refuses these too) */
    expect_decode_error(good, n - 60, "cut.jpg", "truncated JPEG data");
    expect_decode_error(good, 100, "head.jpg", "truncated JPEG data");
    /* header only partly there */
    expect_decode_error(good, 20, "tiny.jpg", "tiny.jpg");

    /* corrupt bytes: the SOF0 frame's sample precision set to 7 bits */
    memcpy(bad, good, n);
    size_t sof = 0;
    for (size_t i = 2; i + 1 < n; i++)
        if (bad[i] == 0xFF && bad[i + 1] == 0xC0) {
            sof = i;
            break;
        }
    assert_true(sof > 0);
    bad[sof + 4] = 7;
    expect_decode_error(bad, n, "precision.jpg", "cannot decode JPEG");
    /* corrupt bytes: the component count of the frame set to 0 */
    memcpy(bad, good, n);
    bad[sof + 9] = 0;
    expect_decode_error(bad, n, "components.jpg", "cannot decode JPEG");

    /* not a JPEG at all */
    expect_decode_error("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, "image.png", "Not a JPEG file");
    expect_decode_error("", 0, "empty.jpg", "empty");

    /* garbage in the entropy-coded data must never crash: error or a decoded image */
    memcpy(bad, good, n);
    for (size_t i = n / 2; i < n / 2 + 40 && i < n - 2; i++) bad[i] = (unsigned char)(i * 97);
    qp_image img;
    qp_status st = qp_image_decode_jpeg(bad, n, "scan.jpg", 3, &img);
    assert_true(st == QP_OK || st == QP_ERR_PARSE);
    if (st == QP_OK) {
        assert_int_equal(img.width, 24);
        qp_image_free(&img);
    }

    /* files on disk: the truncated one through the path API; a missing one is an I/O error */
    qp_test_write_file(qp_test_tmp_path("trunc.jpg", path), good, n - 60);
    assert_int_equal(qp_image_load_jpeg(path, 3, &img), QP_ERR_PARSE);
    assert_non_null(strstr(qp_error_message(), "trunc.jpg: truncated JPEG data"));
    assert_int_equal(qp_image_load_jpeg(qp_test_tmp_path("missing.jpg", path), 3, &img), QP_ERR_IO);
    assert_non_null(strstr(qp_error_message(), "missing.jpg"));
    assert_int_equal(qp_image_jpeg_info(path, NULL, NULL, NULL), QP_ERR_IO);
    qp_test_write_file(qp_test_tmp_path("text.jpg", path), "hello, world", 12);
    assert_int_equal(qp_image_jpeg_info(path, NULL, NULL, NULL), QP_ERR_PARSE);
    assert_non_null(strstr(qp_error_message(), "text.jpg"));
    assert_int_equal(qp_image_load_jpeg(path, 2, &img), QP_ERR_INVALID_ARG);
    free(good);
    free(bad);
}

/* A real photo from the sample set decodes at its header's size. */
static void test_real_photo(void **state) {
    (void)state;
    QP_REQUIRE_SHARED("models/imagenet/images/n01443537_goldfish.JPEG");
    char path[4096];
    qp_test_shared_path("models/imagenet/images/n01443537_goldfish.JPEG", path);
    int w, h;
    assert_int_equal(qp_image_jpeg_info(path, &w, &h, NULL), QP_OK);
    qp_image img;
    assert_int_equal(qp_image_load_jpeg(path, 3, &img), QP_OK);
    assert_int_equal(img.width, w);
    assert_int_equal(img.height, h);
    assert_int_equal(w, 376);
    assert_int_equal(h, 263);
    qp_image_free(&img);
}


/* Random byte damage anywhere (markers, tables, scan) and random cuts: always an error or an
 * image, never a crash or a leak (run under the sanitizer build). */
static void test_random_damage_never_crashes(void **state) {
    (void)state;
    char path[4096];
    qp_image src;
    make_gradient(&src, 3);
    assert_int_equal(qp_image_save_jpeg(qp_test_tmp_path("fuzz.jpg", path), &src, 90), QP_OK);
    qp_image_free(&src);
    size_t n;
    unsigned char *good = slurp(path, &n);
    unsigned char *bad = malloc(n);
    assert_non_null(bad);
    uint32_t rng = 12345u;
    int errors = 0, decoded = 0;
    for (int iter = 0; iter < 400; iter++) {
        memcpy(bad, good, n);
        int flips = 1 + iter % 4;
        for (int k = 0; k < flips; k++) {
            rng = rng * 1664525u + 1013904223u;
            size_t pos = (rng >> 8) % n;
            rng = rng * 1664525u + 1013904223u;
            bad[pos] = (unsigned char)(rng >> 24);
        }
        size_t len = n;
        if (iter % 5 == 0) {
            rng = rng * 1664525u + 1013904223u;
            len = (rng >> 8) % n;
        }
        qp_image img;
        qp_status st = qp_image_decode_jpeg(bad, len, "fuzz.jpg", iter % 3 == 0 ? 1 : 3, &img);
        if (st == QP_OK) {
            assert_true(img.width > 0 && img.height > 0);
            qp_image_free(&img);
            decoded++;
        } else {
            assert_int_equal(st == QP_ERR_PARSE || st == QP_ERR_UNSUPPORTED, 1);
            assert_non_null(strstr(qp_error_message(), "fuzz.jpg"));
            errors++;
        }
    }
    assert_true(errors > 0); /* the damage was real */
    print_message("random damage: %d decoded, %d refused\n", decoded, errors);
    free(good);
    free(bad);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rgb_round_trip),
        cmocka_unit_test(test_greyscale_to_rgb),
        cmocka_unit_test(test_cmyk_to_rgb_like_pillow),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_real_photo),
        cmocka_unit_test(test_random_damage_never_crashes),
    };
    return cmocka_run_group_tests(tests, qp_test_tmpdir_setup, qp_test_tmpdir_teardown);
}
