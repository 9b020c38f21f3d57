/* image.h — 8-bit images: JPEG decoding, Pillow-compatible resampling and preprocessing to float. */
#ifndef QPIPE_DATA_IMAGE_H
#define QPIPE_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "qpipe/qp_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Interleaved 8-bit pixels, row-major (HWC); channels 1 (grey) or 3 (RGB). */
typedef struct qp_image {
    int width;
    int height;
    int channels;
    uint8_t *pixels; /* owned, width*height*channels bytes */
} qp_image;

/* Allocates a zero-filled image. */
QP_API qp_status qp_image_alloc(qp_image *image, int width, int height, int channels);
QP_API void qp_image_free(qp_image *image);

/* Decodes a JPEG file. channels: 0 keeps the file's own (1 for greyscale, 3 otherwise), 1 or 3
 * converts as Pillow's convert("L") / convert("RGB") would (CMYK and YCCK are read with Adobe's
 * inverted polarity, like Pillow). Corrupt, truncated or non-JPEG data give QP_ERR_PARSE with a
 * message naming the file; a missing file QP_ERR_IO. */
QP_API qp_status qp_image_load_jpeg(const char *path, int channels, qp_image *out);
/* Same from memory; name is used in messages. */
QP_API qp_status qp_image_decode_jpeg(const void *data, size_t size, const char *name, int channels,
                                      qp_image *out);
/* Reads only the JPEG header: size and the component count of the file (1, 3 or 4). */
QP_API qp_status qp_image_jpeg_info(const char *path, int *width, int *height, int *components);

/* Writes an 8-bit JPEG (1 or 3 channels) with libjpeg; for tests and fixtures. */
QP_API qp_status qp_image_save_jpeg(const char *path, const qp_image *image, int quality);

/* Converts between 1 and 3 channels exactly as Pillow does: grey to RGB replicates, RGB to grey
 * is L = (19595 R + 38470 G + 7471 B + 32768) >> 16. channels equal to the source copies. */
QP_API qp_status qp_image_convert(const qp_image *in, int channels, qp_image *out);

/* Resizes in to resize_w x resize_h with Pillow's BILINEAR filter (a triangle filter whose
 * support grows with the downscale factor, separable, 22-bit fixed-point weights, rounding to
 * 8 bits after each pass: bit-exact with Pillow's Image.resize) and returns the window
 * [crop_x, crop_x+crop_w) x [crop_y, crop_y+crop_h) of the result. Only the rows and columns
 * the window needs are computed. */
QP_API qp_status qp_image_resize_crop(const qp_image *in, int resize_w, int resize_h, int crop_x,
                                      int crop_y, int crop_w, int crop_h, qp_image *out);
QP_API qp_status qp_image_resize(const qp_image *in, int width, int height, qp_image *out);

/* ---- preprocessing: image -> float tensor ---- */

typedef enum qp_resize_mode {
    QP_RESIZE_NONE = 0,    /* keep the decoded size (crop may still apply) */
    QP_RESIZE_SHORTER = 1, /* shorter side to `resize`, aspect kept, other side rounded */
    QP_RESIZE_EXACT = 2,   /* to resize_h x resize_w, aspect not kept */
} qp_resize_mode;

typedef enum qp_color {
    QP_COLOR_RGB = 0,
    QP_COLOR_BGR = 1,
    QP_COLOR_GRAY = 2, /* one channel */
} qp_color;

typedef enum qp_layout {
    QP_LAYOUT_NCHW = 0,
    QP_LAYOUT_NHWC = 1,
} qp_layout;

/* value = (pixel * scale - mean[c]) / std[c], with c counted in the OUTPUT channel order
 * (for BGR, mean[0] is the blue mean: Caffe's [103.939, 116.779, 123.68]). */
typedef struct qp_preprocess {
    qp_resize_mode resize_mode;
    int resize;              /* QP_RESIZE_SHORTER: target of the shorter side */
    int resize_h, resize_w;  /* QP_RESIZE_EXACT */
    int crop_h, crop_w;      /* centre crop after resizing; 0 = none */
    qp_color color;
    qp_layout layout;
    /* double so pipelines written in float64 (NumPy) are matched to the last float bit */
    double scale;
    double mean[3];
    double std[3];
} qp_preprocess;

/* Defaults: no resize, no crop, RGB, NCHW, scale 1, mean 0, std 1. */
QP_API void qp_preprocess_init(qp_preprocess *pp);

/* Sets one option from CLI/YAML-style text. Keys and values:
 *   resize  "256" (shorter side), "240x320" (exact HxW), "none"
 *   crop    "224", "48x192" (HxW), "none"
 *   color   "RGB", "BGR", "GRAY" (also "grey", "L")
 *   layout  "NCHW", "NHWC"
 *   scale   a number or a fraction: "0.00392156862745098", "1/255"
 *   mean, std  one value or one per channel: "0.485,0.456,0.406", "[0.485, 0.456, 0.406]", "127"
 *   preset  "imagenet" (resize 256, crop 224, RGB, 1/255, torchvision mean/std),
 *           "caffe" (resize 256, crop 224, BGR, 0..255, mean [103.939,116.779,123.68]),
 *           "raw" (the defaults)
 * Unknown keys or bad values give QP_ERR_INVALID_ARG naming the key and what is allowed. */
QP_API qp_status qp_preprocess_set(qp_preprocess *pp, const char *key, const char *value);

/* Checks the options fit together (positive sizes, std != 0, crop not larger than the resize). */
QP_API qp_status qp_preprocess_validate(const qp_preprocess *pp);

QP_API int qp_preprocess_channels(const qp_preprocess *pp);

/* The output size when it does not depend on the image (resize SHORTER/EXACT with a crop, EXACT
 * alone, or a crop alone); returns 0 and leaves h, w untouched when it does. */
QP_API int qp_preprocess_fixed_size(const qp_preprocess *pp, int *height, int *width);

/* The geometry for one source image: size after resizing and the crop window. */
typedef struct qp_geometry {
    int resize_w, resize_h;
    int crop_x, crop_y, crop_w, crop_h;
} qp_geometry;
QP_API qp_status qp_preprocess_geometry(const qp_preprocess *pp, int width, int height,
                                        qp_geometry *geometry);

/* Converts, resizes, crops and normalizes image into out, which holds channels * out_height *
 * out_width floats in pp->layout. The preprocessed size must be out_height x out_width, else
 * QP_ERR_SHAPE (images of different sizes need a resize or crop). name is used in messages. */
QP_API qp_status qp_preprocess_image(const qp_preprocess *pp, const qp_image *image,
                                     const char *name, float *out, int out_height, int out_width);

/* Loads a JPEG and preprocesses it into out, as qp_preprocess_image. */
QP_API qp_status qp_preprocess_jpeg(const qp_preprocess *pp, const char *path, float *out,
                                    int out_height, int out_width);

/* Loads a JPEG and preprocesses it into a malloc'd buffer whose size follows the image. */
QP_API qp_status qp_preprocess_jpeg_alloc(const qp_preprocess *pp, const char *path, float **out,
                                          int *channels, int *height, int *width);

/* "resize=256 crop=224x224 color=RGB scale=0.00392157 mean=[...] std=[...] layout=NCHW". */
QP_API const char *qp_preprocess_describe(const qp_preprocess *pp, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
