/* test_data_preprocess.c — Pillow-exact resize, geometry, option parsing, and the models' reference inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "test_support.h"

#include "../fixtures/data/pil_resize_expected.h"

/* Must match synthetic() in tests/fixtures/data/gen_pil_resize.py. */
static uint8_t synthetic_pixel(int x, int y, int c) {
    return (uint8_t)((x * 37 + y * 91 + c * 53 + x * y * 7) & 255);
}

static void make_synthetic(qp_image *img, int channels) {
    assert_int_equal(qp_image_alloc(img, PIL_SRC_W, PIL_SRC_H, channels), QP_OK);
    for (int y = 0; y < PIL_SRC_H; y++)
        for (int x = 0; x < PIL_SRC_W; x++)
            for (int c = 0; c < channels; c++)
                img->pixels[((size_t)y * PIL_SRC_W + x) * channels + c] = synthetic_pixel(x, y, c);
}

/* Every case of the generated table matches Pillow byte for byte. */
static void test_resize_matches_pillow(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof pil_cases / sizeof pil_cases[0]; i++) {
        const pil_case *pc = &pil_cases[i];
        qp_image src, out;
        make_synthetic(&src, pc->channels);
        assert_int_equal(qp_image_resize(&src, pc->w, pc->h, &out), QP_OK);
        assert_int_equal(out.width, pc->w);
        assert_int_equal(out.height, pc->h);
        size_t n = (size_t)pc->w * pc->h * pc->channels;
        for (size_t k = 0; k < n; k++) {
            if (out.pixels[k] != pc->expected[k])
                fail_msg("case %s: byte %zu is %d, Pillow gives %d", pc->name, k, out.pixels[k],
                         pc->expected[k]);
        }
        qp_image_free(&src);
        qp_image_free(&out);
    }
}

/* A crop window of the resize equals the same window cut from the full resize. */
static void test_resize_crop_equals_crop_of_resize(void **state) {
    (void)state;
    qp_image src, full, win;
    make_synthetic(&src, 3);
    assert_int_equal(qp_image_resize(&src, 17, 11, &full), QP_OK);
    assert_int_equal(qp_image_resize_crop(&src, 17, 11, 4, 3, 9, 6, &win), QP_OK);
    for (int y = 0; y < 6; y++)
        assert_memory_equal(win.pixels + (size_t)y * 9 * 3,
                            full.pixels + ((size_t)(y + 3) * 17 + 4) * 3, 9 * 3);
    qp_image_free(&win);
    /* no resize at all: a plain crop */
    assert_int_equal(qp_image_resize_crop(&src, PIL_SRC_W, PIL_SRC_H, 2, 1, 5, 4, &win), QP_OK);
    for (int y = 0; y < 4; y++)
        assert_memory_equal(win.pixels + (size_t)y * 5 * 3,
                            src.pixels + ((size_t)(y + 1) * PIL_SRC_W + 2) * 3, 5 * 3);
    qp_image_free(&win);
    assert_int_equal(qp_image_resize_crop(&src, 17, 11, 10, 0, 9, 6, &win), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "does not fit"));
    assert_int_equal(qp_image_resize(&src, 0, 5, &win), QP_ERR_INVALID_ARG);
    qp_image_free(&src);
    qp_image_free(&full);
}

static void test_convert_like_pillow(void **state) {
    (void)state;
    qp_image rgb, grey, back;
    assert_int_equal(qp_image_alloc(&rgb, 2, 1, 3), QP_OK);
    const uint8_t px[6] = {255, 0, 0, 10, 200, 30};
    memcpy(rgb.pixels, px, 6);
    assert_int_equal(qp_image_convert(&rgb, 1, &grey), QP_OK);
    /* (19595 R + 38470 G + 7471 B + 32768) >> 16 */
    assert_int_equal(grey.pixels[0], 76);
    assert_int_equal(grey.pixels[1], (10 * 19595 + 200 * 38470 + 30 * 7471 + 32768) >> 16);
    assert_int_equal(qp_image_convert(&grey, 3, &back), QP_OK);
    assert_int_equal(back.pixels[3], grey.pixels[1]);
    assert_int_equal(back.pixels[4], grey.pixels[1]);
    assert_int_equal(back.pixels[5], grey.pixels[1]);
    qp_image_free(&rgb);
    qp_image_free(&grey);
    qp_image_free(&back);
}

static void test_geometry(void **state) {
    (void)state;
    qp_preprocess pp;
    qp_geometry g;
    qp_preprocess_init(&pp);
    assert_int_equal(qp_preprocess_set(&pp, "resize", "256"), QP_OK);
    assert_int_equal(qp_preprocess_set(&pp, "crop", "224"), QP_OK);
    /* 500x313: 313 -> 256, 500*256/313 = 408.95 -> 409; crop x = round(185/2) = 92 (ties even) */
    assert_int_equal(qp_preprocess_geometry(&pp, 500, 313, &g), QP_OK);
    assert_int_equal(g.resize_w, 409);
    assert_int_equal(g.resize_h, 256);
    assert_int_equal(g.crop_x, 92);
    assert_int_equal(g.crop_y, 16);
    /* 500x375 -> 341x256, (341-224)/2 = 58.5 -> 58 as Python's round() */
    assert_int_equal(qp_preprocess_geometry(&pp, 500, 375, &g), QP_OK);
    assert_int_equal(g.resize_w, 341);
    assert_int_equal(g.crop_x, 58);
    /* portrait, and an exact .5 resize: 512x681 -> 256x340.5 -> 340 (ties even) */
    assert_int_equal(qp_preprocess_geometry(&pp, 512, 681, &g), QP_OK);
    assert_int_equal(g.resize_w, 256);
    assert_int_equal(g.resize_h, 340);
    assert_int_equal(g.crop_y, 58);
    assert_int_equal(qp_preprocess_geometry(&pp, 512, 683, &g), QP_OK);
    assert_int_equal(g.resize_h, 342);
    /* exact resize */
    assert_int_equal(qp_preprocess_set(&pp, "resize", "48x192"), QP_OK);
    assert_int_equal(qp_preprocess_set(&pp, "crop", "none"), QP_OK);
    assert_int_equal(qp_preprocess_geometry(&pp, 500, 375, &g), QP_OK);
    assert_int_equal(g.resize_h, 48);
    assert_int_equal(g.resize_w, 192);
    assert_int_equal(g.crop_w, 192);
    /* no resize, crop larger than the image */
    assert_int_equal(qp_preprocess_set(&pp, "resize", "none"), QP_OK);
    assert_int_equal(qp_preprocess_set(&pp, "crop", "30x40"), QP_OK);
    assert_int_equal(qp_preprocess_geometry(&pp, 20, 50, &g), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "larger than the decoded image"));
}

static void test_options_parse(void **state) {
    (void)state;
    qp_preprocess pp;
    qp_preprocess_init(&pp);
    assert_int_equal(qp_preprocess_set(&pp, "scale", "1/255"), QP_OK);
    assert_true(fabs(pp.scale - 1.0 / 255.0) < 1e-15);
    assert_int_equal(qp_preprocess_set(&pp, "mean", "[0.485, 0.456, 0.406]"), QP_OK);
    assert_true(pp.mean[1] == 0.456);
    assert_int_equal(qp_preprocess_set(&pp, "std", "0.5"), QP_OK);
    assert_true(pp.std[0] == 0.5 && pp.std[2] == 0.5);
    assert_int_equal(qp_preprocess_set(&pp, "color", "bgr"), QP_OK);
    assert_int_equal(pp.color, QP_COLOR_BGR);
    assert_int_equal(qp_preprocess_set(&pp, "color", "grey"), QP_OK);
    assert_int_equal(qp_preprocess_channels(&pp), 1);
    assert_int_equal(qp_preprocess_set(&pp, "layout", "NHWC"), QP_OK);
    assert_int_equal(pp.layout, QP_LAYOUT_NHWC);
    assert_int_equal(qp_preprocess_set(&pp, "crop", "48,192"), QP_OK);
    assert_int_equal(pp.crop_h, 48);
    assert_int_equal(pp.crop_w, 192);

    assert_int_equal(qp_preprocess_set(&pp, "color", "HSV"), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "allowed: RGB, BGR, GRAY"));
    assert_int_equal(qp_preprocess_set(&pp, "std", "1,0,1"), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_preprocess_set(&pp, "mean", "1,2"), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_preprocess_set(&pp, "resize", "-3"), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_preprocess_set(&pp, "scale", "abc"), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_preprocess_set(&pp, "colour_space", "RGB"), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "unknown option 'colour_space'"));

    assert_int_equal(qp_preprocess_set(&pp, "preset", "caffe"), QP_OK);
    assert_int_equal(pp.color, QP_COLOR_BGR);
    assert_true(pp.mean[0] == 103.939 && pp.scale == 1.0 && pp.resize == 256 && pp.crop_h == 224);
    char buf[256];
    qp_preprocess_describe(&pp, buf, sizeof buf);
    assert_non_null(strstr(buf, "resize=256 crop=224x224 color=BGR"));

    /* crop larger than the resize is refused up front */
    assert_int_equal(qp_preprocess_set(&pp, "crop", "300"), QP_OK);
    assert_int_equal(qp_preprocess_validate(&pp), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "larger than the resize"));
}

/* Normalization, channel order and layout on a 2x1 image without resizing. */
static void test_normalize_and_layout(void **state) {
    (void)state;
    qp_image img;
    assert_int_equal(qp_image_alloc(&img, 2, 1, 3), QP_OK);
    const uint8_t px[6] = {10, 20, 30, 40, 50, 60};
    memcpy(img.pixels, px, 6);
    qp_preprocess pp;
    qp_preprocess_init(&pp);
    assert_int_equal(qp_preprocess_set(&pp, "mean", "1,2,3"), QP_OK);
    assert_int_equal(qp_preprocess_set(&pp, "std", "2"), QP_OK);
    float out[6];
    assert_int_equal(qp_preprocess_image(&pp, &img, "x", out, 1, 2), QP_OK);
    const float nchw_rgb[6] = {4.5f, 19.5f, 9.0f, 24.0f, 13.5f, 28.5f};
    for (int i = 0; i < 6; i++) assert_float_equal(out[i], nchw_rgb[i], 1e-6);
    assert_int_equal(qp_preprocess_set(&pp, "color", "BGR"), QP_OK);
    assert_int_equal(qp_preprocess_set(&pp, "layout", "NHWC"), QP_OK);
    assert_int_equal(qp_preprocess_image(&pp, &img, "x", out, 1, 2), QP_OK);
    /* pixel 0 as B,G,R with means 1,2,3 */
    const float nhwc_bgr[6] = {14.5f, 9.0f, 3.5f, 29.5f, 24.0f, 18.5f};
    for (int i = 0; i < 6; i++) assert_float_equal(out[i], nhwc_bgr[i], 1e-6);
    assert_int_equal(qp_preprocess_image(&pp, &img, "x.jpg", out, 2, 1), QP_ERR_SHAPE);
    assert_non_null(strstr(qp_error_message(), "x.jpg"));
    qp_image_free(&img);
}

/* ---- the models' reference inputs, made with Pillow from the ImageNet sample JPEGs ---- */

typedef struct ref_model {
    const char *dir;
    const char *options[6][2];
    const char *images[8];
} ref_model;

static const char *const imagenet8[8] = {
    "n01443537_goldfish.JPEG",   "n01484850_great_white_shark.JPEG",
    "n01491361_tiger_shark.JPEG", "n01496331_electric_ray.JPEG",
    "n01498041_stingray.JPEG",   "n01514668_cock.JPEG",
    "n01518878_ostrich.JPEG",    "n01530575_brambling.JPEG"};

/* Returns the largest |ours - ref| over the model's reference inputs. */
static double compare_model(const char *model, const char *const (*options)[2], int n_options,
                            int n_images) {
    char path[4096], rel[512];
    qp_preprocess pp;
    qp_preprocess_init(&pp);
    for (int i = 0; i < n_options; i++)
        assert_int_equal(qp_preprocess_set(&pp, options[i][0], options[i][1]), QP_OK);
    double worst = 0.0;
    for (int i = 0; i < n_images; i++) {
        snprintf(rel, sizeof rel, "models/%s/ref/input_%d.npy", model, i);
        float *ref;
        qp_shape shape;
        assert_int_equal(qp_npy_read_f32(qp_test_shared_path(rel, path), &ref, &shape), QP_OK);
        assert_int_equal(shape.rank, 4);
        size_t n = (size_t)qp_shape_numel(&shape);
        float *ours;
        snprintf(rel, sizeof rel, "models/imagenet/images/%s", imagenet8[i]);
        int c, h, w;
        qp_status st = qp_preprocess_jpeg_alloc(&pp, qp_test_shared_path(rel, path), &ours, &c, &h, &w);
        if (st != QP_OK) fail_msg("%s", qp_error_message());
        assert_int_equal(c, shape.dims[1]);
        assert_int_equal(h, shape.dims[2]);
        assert_int_equal(w, shape.dims[3]);
        double m = 0.0;
        for (size_t k = 0; k < n; k++) {
            double d = fabs((double)ours[k] - ref[k]);
            if (d > m) m = d;
        }
        print_message("%s input_%d (%s): max |ours - ref| = %.3g\n", model, i, imagenet8[i], m);
        if (m > worst) worst = m;
        free(ours);
        free(ref);
    }
    return worst;
}

/* The resampler is bit-exact with Pillow and libjpeg is the same library Pillow uses, so the
 * only differences left are float rounding of (x*scale - mean)/std: a few float32 ulps. The
 * bound 1e-5 is far below one uint8 step (1/255/0.229 = 0.017 for MobileNet, 1 for SqueezeNet)
 * and would catch any resampling or rounding difference. */
static void test_reference_inputs_mobilenetv2(void **state) {
    (void)state;
    QP_REQUIRE_SHARED("models/mobilenetv2-12/ref/input_0.npy");
    QP_REQUIRE_SHARED("models/imagenet/images");
    static const char *const opts[][2] = {{"resize", "256"}, {"crop", "224"}, {"color", "RGB"},
                                          {"scale", "0.00392156862745098"},
                                          {"mean", "0.485,0.456,0.406"},
                                          {"std", "0.229,0.224,0.225"}};
    double worst = compare_model("mobilenetv2-12", opts, 6, 8);
    assert_true(worst <= 1e-5);
}

static void test_reference_inputs_squeezenet(void **state) {
    (void)state;
    QP_REQUIRE_SHARED("models/squeezenet1.1/ref/input_0.npy");
    QP_REQUIRE_SHARED("models/imagenet/images");
    static const char *const opts[][2] = {{"preset", "caffe"}};
    double worst = compare_model("squeezenet1.1", opts, 1, 8);
    assert_true(worst <= 1e-4); /* values up to 150: 1e-4 is a few float32 ulps */
}

static void test_reference_inputs_exact_resize(void **state) {
    (void)state;
    QP_REQUIRE_SHARED("models/ppocr-cls/ref/input_0.npy");
    QP_REQUIRE_SHARED("models/ultraface-rfb-320/ref/input_0.npy");
    QP_REQUIRE_SHARED("models/imagenet/images");
    static const char *const ppocr[][2] = {{"resize", "48x192"}, {"scale", "1/255"},
                                           {"mean", "0.5"}, {"std", "0.5"}};
    assert_true(compare_model("ppocr-cls", ppocr, 4, 4) <= 1e-5);
    static const char *const ultraface[][2] = {{"resize", "240x320"}, {"mean", "127"},
                                               {"std", "128"}};
    assert_true(compare_model("ultraface-rfb-320", ultraface, 3, 4) <= 1e-5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_matches_pillow),
        cmocka_unit_test(test_resize_crop_equals_crop_of_resize),
        cmocka_unit_test(test_convert_like_pillow),
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_options_parse),
        cmocka_unit_test(test_normalize_and_layout),
        cmocka_unit_test(test_reference_inputs_mobilenetv2),
        cmocka_unit_test(test_reference_inputs_squeezenet),
        cmocka_unit_test(test_reference_inputs_exact_resize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
