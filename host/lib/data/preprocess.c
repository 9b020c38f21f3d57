/* preprocess.c — image to float tensor: colour, Pillow-compatible resize, centre crop, scale/mean/std. */
#define _DEFAULT_SOURCE /* strtok_r and strcasecmp also under strict -std=c11 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/image.h"

void qp_preprocess_init(qp_preprocess *pp) {
    memset(pp, 0, sizeof *pp);
    pp->resize_mode = QP_RESIZE_NONE;
    pp->color = QP_COLOR_RGB;
    pp->layout = QP_LAYOUT_NCHW;
    pp->scale = 1.0;
    for (int c = 0; c < 3; c++) {
        pp->mean[c] = 0.0;
        pp->std[c] = 1.0;
    }
}

/* Parses a positive int that must span the whole of [s, end). */
static int parse_positive(const char *s, const char *end, int *out) {
    while (s < end && isspace((unsigned char)*s)) s++;
    while (end > s && isspace((unsigned char)end[-1])) end--;
    if (s == end) return 0;
    long v = 0;
    for (const char *p = s; p < end; p++) {
        if (!isdigit((unsigned char)*p)) return 0;
        v = v * 10 + (*p - '0');
        if (v > 65535) return 0;
    }
    if (v <= 0) return 0;
    *out = (int)v;
    return 1;
}

/* Copies value without surrounding brackets and blanks into buf. */
static void strip_brackets(const char *value, char *buf, size_t cap) {
    while (isspace((unsigned char)*value)) value++;
    snprintf(buf, cap, "%s", value);
    size_t n = strlen(buf);
    while (n && isspace((unsigned char)buf[n - 1])) buf[--n] = '\0';
    if (n >= 2 && ((buf[0] == '[' && buf[n - 1] == ']') || (buf[0] == '(' && buf[n - 1] == ')'))) {
        memmove(buf, buf + 1, n - 2);
        buf[n - 2] = '\0';
    }
}

/* "224" -> 224x224; "48x192", "48,192", "[48, 192]" -> HxW. Returns 0 when malformed. */
static int parse_size(const char *value, int *h, int *w, int *square) {
    char buf[64];
    strip_brackets(value, buf, sizeof buf);
    char *sep = strpbrk(buf, "xX,");
    if (!sep) {
        *square = 1;
        return parse_positive(buf, buf + strlen(buf), h) && (*w = *h, 1);
    }
    *square = 0;
    return parse_positive(buf, sep, h) && parse_positive(sep + 1, buf + strlen(buf), w);
}

/* A number or a fraction "a/b". */
static int parse_number(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno) return 0;
    while (isspace((unsigned char)*end)) end++;
    if (*end == '/') {
        const char *d = end + 1;
        double den = strtod(d, &end);
        if (end == d || den == 0.0) return 0;
        v /= den;
        while (isspace((unsigned char)*end)) end++;
    }
    if (*end) return 0;
    if (!isfinite(v)) return 0;
    *out = v;
    return 1;
}

/* One value (broadcast) or three, separated by commas and/or blanks. */
static int parse_triple(const char *value, double out[3]) {
    char buf[256];
    strip_brackets(value, buf, sizeof buf);
    double v[4];
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        if (n == 4 || !parse_number(tok, &v[n])) return 0;
        n++;
    }
    if (n == 1) {
        out[0] = out[1] = out[2] = v[0];
        return 1;
    }
    if (n != 3) return 0;
    for (int i = 0; i < 3; i++) out[i] = v[i];
    return 1;
}

static void set_imagenet(qp_preprocess *pp, int caffe) {
    qp_preprocess_init(pp);
    pp->resize_mode = QP_RESIZE_SHORTER;
    pp->resize = 256;
    pp->crop_h = pp->crop_w = 224;
    if (caffe) {
        pp->color = QP_COLOR_BGR;
        pp->mean[0] = 103.939;
        pp->mean[1] = 116.779;
        pp->mean[2] = 123.68;
    } else {
        static const double mean[3] = {0.485, 0.456, 0.406}, stdv[3] = {0.229, 0.224, 0.225};
        pp->scale = 1.0 / 255.0;
        memcpy(pp->mean, mean, sizeof mean);
        memcpy(pp->std, stdv, sizeof stdv);
    }
}

qp_status qp_preprocess_set(qp_preprocess *pp, const char *key, const char *value) {
    if (!key || !value) return qp_error(QP_ERR_INVALID_ARG, "preprocess: key and value are required");
    if (strcmp(key, "resize") == 0) {
        int h, w, square;
        if (strcasecmp(value, "none") == 0 || strcasecmp(value, "no") == 0 ||
            strcmp(value, "0") == 0) {
            pp->resize_mode = QP_RESIZE_NONE;
        } else if (parse_size(value, &h, &w, &square)) {
            if (square) {
                pp->resize_mode = QP_RESIZE_SHORTER;
                pp->resize = h;
            } else {
                pp->resize_mode = QP_RESIZE_EXACT;
                pp->resize_h = h;
                pp->resize_w = w;
            }
        } else {
            return qp_error(QP_ERR_INVALID_ARG, "preprocess: resize '%s' is not valid (allowed: N "
                            "for the shorter side, HxW for an exact size, or none)", value);
        }
    } else if (strcmp(key, "crop") == 0) {
        int h, w, square;
        if (strcasecmp(value, "none") == 0 || strcasecmp(value, "no") == 0 ||
            strcmp(value, "0") == 0) {
            pp->crop_h = pp->crop_w = 0;
        } else if (parse_size(value, &h, &w, &square)) {
            pp->crop_h = h;
            pp->crop_w = w;
        } else {
            return qp_error(QP_ERR_INVALID_ARG, "preprocess: crop '%s' is not valid (allowed: N, "
                            "HxW or none)", value);
        }
    } else if (strcmp(key, "color") == 0 || strcmp(key, "colour") == 0) {
        if (strcasecmp(value, "RGB") == 0) pp->color = QP_COLOR_RGB;
        else if (strcasecmp(value, "BGR") == 0) pp->color = QP_COLOR_BGR;
        else if (strcasecmp(value, "GRAY") == 0 || strcasecmp(value, "GREY") == 0 ||
                 strcasecmp(value, "L") == 0)
            pp->color = QP_COLOR_GRAY;
        else
            return qp_error(QP_ERR_INVALID_ARG, "preprocess: color '%s' is not valid (allowed: RGB, "
                            "BGR, GRAY)", value);
    } else if (strcmp(key, "layout") == 0) {
        if (strcasecmp(value, "NCHW") == 0) pp->layout = QP_LAYOUT_NCHW;
        else if (strcasecmp(value, "NHWC") == 0) pp->layout = QP_LAYOUT_NHWC;
        else
            return qp_error(QP_ERR_INVALID_ARG, "preprocess: layout '%s' is not valid (allowed: "
                            "NCHW, NHWC)", value);
    } else if (strcmp(key, "scale") == 0) {
        double v;
        char buf[64];
        strip_brackets(value, buf, sizeof buf);
        if (!parse_number(buf, &v) || v == 0.0)
            return qp_error(QP_ERR_INVALID_ARG, "preprocess: scale '%s' is not a non-zero number "
                            "(e.g. 1, 0.00392156862745098, 1/255)", value);
        pp->scale = v;
    } else if (strcmp(key, "mean") == 0 || strcmp(key, "std") == 0) {
        double v[3];
        if (!parse_triple(value, v))
            return qp_error(QP_ERR_INVALID_ARG, "preprocess: %s '%s' is not valid (one number, or "
                            "three: 0.485,0.456,0.406)", key, value);
        if (key[0] == 's') {
            for (int i = 0; i < 3; i++)
                if (v[i] == 0.0)
                    return qp_error(QP_ERR_INVALID_ARG, "preprocess: std '%s' has a zero", value);
            memcpy(pp->std, v, sizeof v);
        } else {
            memcpy(pp->mean, v, sizeof v);
        }
    } else if (strcmp(key, "preset") == 0) {
        if (strcasecmp(value, "imagenet") == 0 || strcasecmp(value, "torchvision") == 0)
            set_imagenet(pp, 0);
        else if (strcasecmp(value, "caffe") == 0)
            set_imagenet(pp, 1);
        else if (strcasecmp(value, "raw") == 0)
            qp_preprocess_init(pp);
        else
            return qp_error(QP_ERR_INVALID_ARG, "preprocess: preset '%s' is not known (allowed: "
                            "imagenet, caffe, raw)", value);
    } else {
        return qp_error(QP_ERR_INVALID_ARG, "preprocess: unknown option '%s' (allowed: resize, crop, "
                        "color, layout, scale, mean, std, preset)", key);
    }
    return QP_OK;
}

qp_status qp_preprocess_validate(const qp_preprocess *pp) {
    if (pp->resize_mode == QP_RESIZE_SHORTER && (pp->resize <= 0 || pp->resize > 65535))
        return qp_error(QP_ERR_INVALID_ARG, "preprocess: resize %d is out of range 1..65535",
                        pp->resize);
    if (pp->resize_mode == QP_RESIZE_EXACT &&
        (pp->resize_h <= 0 || pp->resize_w <= 0 || pp->resize_h > 65535 || pp->resize_w > 65535))
        return qp_error(QP_ERR_INVALID_ARG, "preprocess: resize %dx%d is out of range 1..65535",
                        pp->resize_h, pp->resize_w);
    if (pp->resize_mode != QP_RESIZE_NONE && pp->resize_mode != QP_RESIZE_SHORTER &&
        pp->resize_mode != QP_RESIZE_EXACT)
        return qp_error(QP_ERR_INVALID_ARG, "preprocess: unknown resize mode %d", (int)pp->resize_mode);
    if ((pp->crop_h == 0) != (pp->crop_w == 0) || pp->crop_h < 0 || pp->crop_w < 0)
        return qp_error(QP_ERR_INVALID_ARG, "preprocess: crop %dx%d must be positive (or 0x0 for "
                        "none)", pp->crop_h, pp->crop_w);
    if (pp->crop_h > 0) {
        int max_h = 0, max_w = 0;
        if (pp->resize_mode == QP_RESIZE_SHORTER) max_h = max_w = pp->resize;
        if (pp->resize_mode == QP_RESIZE_EXACT) {
            max_h = pp->resize_h;
            max_w = pp->resize_w;
        }
        /* after a shorter-side resize the long side is >= resize, so resize bounds both */
        if (max_h && (pp->crop_h > max_h || pp->crop_w > max_w))
            return qp_error(QP_ERR_INVALID_ARG, "preprocess: crop %dx%d is larger than the resize "
                            "%dx%d", pp->crop_h, pp->crop_w, max_h, max_w);
    }
    if (pp->color != QP_COLOR_RGB && pp->color != QP_COLOR_BGR && pp->color != QP_COLOR_GRAY)
        return qp_error(QP_ERR_INVALID_ARG, "preprocess: unknown color %d", (int)pp->color);
    if (pp->layout != QP_LAYOUT_NCHW && pp->layout != QP_LAYOUT_NHWC)
        return qp_error(QP_ERR_INVALID_ARG, "preprocess: unknown layout %d", (int)pp->layout);
    if (!(pp->scale != 0.0) || !isfinite(pp->scale))
        return qp_error(QP_ERR_INVALID_ARG, "preprocess: scale must be a non-zero number");
    for (int c = 0; c < 3; c++)
        if (!(pp->std[c] != 0.0) || !isfinite(pp->std[c]) || !isfinite(pp->mean[c]))
            return qp_error(QP_ERR_INVALID_ARG, "preprocess: std[%d] must be non-zero and mean/std "
                            "finite", c);
    return QP_OK;
}

int qp_preprocess_channels(const qp_preprocess *pp) { return pp->color == QP_COLOR_GRAY ? 1 : 3; }

int qp_preprocess_fixed_size(const qp_preprocess *pp, int *height, int *width) {
    if (pp->crop_h > 0) {
        *height = pp->crop_h;
        *width = pp->crop_w;
        return 1;
    }
    if (pp->resize_mode == QP_RESIZE_EXACT) {
        *height = pp->resize_h;
        *width = pp->resize_w;
        return 1;
    }
    return 0;
}

/* round(num / den) with ties to even, like Python's round(), which the reference pipelines use. */
static int64_t div_round_half_even(int64_t num, int64_t den) {
    int64_t q = num / den, r = num % den;
    if (2 * r > den || (2 * r == den && (q & 1))) q++;
    return q;
}

qp_status qp_preprocess_geometry(const qp_preprocess *pp, int width, int height, qp_geometry *g) {
    if (width <= 0 || height <= 0)
        return qp_error(QP_ERR_INVALID_ARG, "preprocess: image size %dx%d is invalid", width, height);
    int rw = width, rh = height;
    if (pp->resize_mode == QP_RESIZE_SHORTER) {
        if (width < height) {
            rw = pp->resize;
            rh = (int)div_round_half_even((int64_t)height * pp->resize, width);
        } else {
            rh = pp->resize;
            rw = (int)div_round_half_even((int64_t)width * pp->resize, height);
        }
        if (rw > 65535 || rh > 65535)
            return qp_error(QP_ERR_SHAPE, "preprocess: a %dx%d image resized to shorter side %d "
                            "would be %dx%d, too large", width, height, pp->resize, rw, rh);
    } else if (pp->resize_mode == QP_RESIZE_EXACT) {
        rw = pp->resize_w;
        rh = pp->resize_h;
    }
    int cw = pp->crop_w > 0 ? pp->crop_w : rw, ch = pp->crop_h > 0 ? pp->crop_h : rh;
    if (cw > rw || ch > rh)
        return qp_error(QP_ERR_SHAPE, "preprocess: crop %dx%d is larger than the %s image %dx%d",
                        ch, cw, pp->resize_mode == QP_RESIZE_NONE ? "decoded" : "resized", rh, rw);
    g->resize_w = rw;
    g->resize_h = rh;
    g->crop_w = cw;
    g->crop_h = ch;
    g->crop_x = (int)div_round_half_even(rw - cw, 2);
    g->crop_y = (int)div_round_half_even(rh - ch, 2);
    return QP_OK;
}

qp_status qp_preprocess_image(const qp_preprocess *pp, const qp_image *image, const char *name,
                              float *out, int out_height, int out_width) {
    if (!name) name = "<image>";
    qp_status st = qp_preprocess_validate(pp);
    if (st != QP_OK) return st;
    const int C = qp_preprocess_channels(pp);
    qp_geometry g;
    if ((st = qp_preprocess_geometry(pp, image->width, image->height, &g)) != QP_OK)
        return qp_error_prefix(st, "%s: ", name);
    if (g.crop_h != out_height || g.crop_w != out_width)
        return qp_error(QP_ERR_SHAPE, "%s: a %dx%d image preprocesses to %dx%d, expected %dx%d "
                        "(images of different sizes need resize or crop)", name, image->width,
                        image->height, g.crop_h, g.crop_w, out_height, out_width);

    /* colour first, as Pillow's convert() precedes resize() in the reference pipelines */
    qp_image converted = {0}, resized = {0};
    const qp_image *src = image;
    if (image->channels != C) {
        if ((st = qp_image_convert(image, C, &converted)) != QP_OK)
            return qp_error_prefix(st, "%s: ", name);
        src = &converted;
    }
    st = qp_image_resize_crop(src, g.resize_w, g.resize_h, g.crop_x, g.crop_y, g.crop_w, g.crop_h,
                              &resized);
    qp_image_free(&converted);
    if (st != QP_OK) return qp_error_prefix(st, "%s: ", name);

    /* (pixel * scale - mean) / std in double, rounded once: NumPy float64 pipelines give the
     * same float32 values */
    const size_t hw = (size_t)g.crop_h * (size_t)g.crop_w;
    for (int c = 0; c < C; c++) {
        int src_c = pp->color == QP_COLOR_BGR ? 2 - c : c;
        double mean = pp->mean[c], stdv = pp->std[c], scale = pp->scale;
        float lut[256];
        for (int v = 0; v < 256; v++) lut[v] = (float)((v * scale - mean) / stdv);
        const uint8_t *px = resized.pixels + src_c;
        if (pp->layout == QP_LAYOUT_NCHW) {
            float *dst = out + (size_t)c * hw;
            for (size_t i = 0; i < hw; i++) dst[i] = lut[px[i * (size_t)C]];
        } else {
            for (size_t i = 0; i < hw; i++) out[i * (size_t)C + (size_t)c] = lut[px[i * (size_t)C]];
        }
    }
    qp_image_free(&resized);
    return QP_OK;
}

qp_status qp_preprocess_jpeg(const qp_preprocess *pp, const char *path, float *out, int out_height,
                             int out_width) {
    qp_image image;
    qp_status st = qp_image_load_jpeg(path, qp_preprocess_channels(pp), &image);
    if (st != QP_OK) return st;
    st = qp_preprocess_image(pp, &image, path, out, out_height, out_width);
    qp_image_free(&image);
    return st;
}

qp_status qp_preprocess_jpeg_alloc(const qp_preprocess *pp, const char *path, float **out,
                                   int *channels, int *height, int *width) {
    *out = NULL;
    qp_image image;
    qp_status st = qp_image_load_jpeg(path, qp_preprocess_channels(pp), &image);
    if (st != QP_OK) return st;
    qp_geometry g;
    st = qp_preprocess_geometry(pp, image.width, image.height, &g);
    if (st != QP_OK) {
        qp_image_free(&image);
        return qp_error_prefix(st, "%s: ", path);
    }
    int C = qp_preprocess_channels(pp);
    float *buf = malloc((size_t)C * (size_t)g.crop_h * (size_t)g.crop_w * sizeof *buf);
    if (!buf) st = qp_error(QP_ERR_NOMEM, "%s: out of memory", path);
    else st = qp_preprocess_image(pp, &image, path, buf, g.crop_h, g.crop_w);
    qp_image_free(&image);
    if (st != QP_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    if (channels) *channels = C;
    if (height) *height = g.crop_h;
    if (width) *width = g.crop_w;
    return QP_OK;
}

const char *qp_preprocess_describe(const qp_preprocess *pp, char *buf, size_t cap) {
    char resize[48], crop[32];
    if (pp->resize_mode == QP_RESIZE_SHORTER) snprintf(resize, sizeof resize, "%d", pp->resize);
    else if (pp->resize_mode == QP_RESIZE_EXACT)
        snprintf(resize, sizeof resize, "%dx%d", pp->resize_h, pp->resize_w);
    else snprintf(resize, sizeof resize, "none");
    if (pp->crop_h > 0) snprintf(crop, sizeof crop, "%dx%d", pp->crop_h, pp->crop_w);
    else snprintf(crop, sizeof crop, "none");
    const char *color = pp->color == QP_COLOR_BGR ? "BGR" : pp->color == QP_COLOR_GRAY ? "GRAY" : "RGB";
    if (pp->color == QP_COLOR_GRAY)
        snprintf(buf, cap, "resize=%s crop=%s color=%s scale=%.9g mean=%.9g std=%.9g layout=%s",
                 resize, crop, color, pp->scale, pp->mean[0], pp->std[0],
                 pp->layout == QP_LAYOUT_NHWC ? "NHWC" : "NCHW");
    else
        snprintf(buf, cap, "resize=%s crop=%s color=%s scale=%.9g mean=[%.9g,%.9g,%.9g] "
                 "std=[%.9g,%.9g,%.9g] layout=%s", resize, crop, color, pp->scale, pp->mean[0],
                 pp->mean[1], pp->mean[2], pp->std[0], pp->std[1], pp->std[2],
                 pp->layout == QP_LAYOUT_NHWC ? "NHWC" : "NCHW");
    return buf;
}
