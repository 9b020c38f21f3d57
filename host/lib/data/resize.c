/* resize.c — Pillow-compatible BILINEAR resampling of 8-bit images (bit-exact with Image.resize). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/image.h"

/* Pillow keeps 8 bits for the result and 2 for overflow of negative-lobed filters; matching its
 * fixed-point format is what makes the output bit-exact, not just close. */
#define RESAMPLE_PRECISION_BITS (32 - 8 - 2)

/* For each output position: the first input index and the count of taps, then ksize weights. */
typedef struct resample_coeffs {
    int ksize;
    int *first;
    int *count;
    int32_t *weights;
} resample_coeffs;

static void coeffs_free(resample_coeffs *c) {
    free(c->first);
    free(c->count);
    free(c->weights);
    memset(c, 0, sizeof *c);
}

static double triangle(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Same arithmetic, in the same order and precision, as Pillow's precompute_coeffs followed by
 * normalize_coeffs_8bpc: the triangle is stretched by the downscale factor (antialiasing) and
 * the weights of each output sample are normalized before conversion to fixed point. */
static qp_status coeffs_build(int in_size, int out_size, resample_coeffs *c) {
    memset(c, 0, sizeof *c);
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    c->ksize = ksize;
    c->first = malloc((size_t)out_size * sizeof *c->first);
    c->count = malloc((size_t)out_size * sizeof *c->count);
    c->weights = calloc((size_t)out_size * (size_t)ksize, sizeof *c->weights);
    double *w = malloc((size_t)ksize * sizeof *w);
    if (!c->first || !c->count || !c->weights || !w) {
        free(w);
        coeffs_free(c);
        return qp_error(QP_ERR_NOMEM, "out of memory for resampling coefficients");
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale;
        double ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        if (xmax > ksize) xmax = ksize; /* cannot happen; keeps the indexing provably in range */
        double ww = 0.0;
        for (int x = 0; x < xmax; x++) {
            w[x] = triangle((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = c->weights + (size_t)xx * (size_t)ksize;
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? w[x] / ww : w[x];
            double fixed = v * (1 << RESAMPLE_PRECISION_BITS);
            k[x] = (int32_t)(v < 0 ? -0.5 + fixed : 0.5 + fixed);
        }
        c->first[xx] = xmin;
        c->count[xx] = xmax;
    }
    free(w);
    return QP_OK;
}

static inline uint8_t clip8(int32_t v) {
    v >>= RESAMPLE_PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

qp_status qp_image_resize_crop(const qp_image *in, int resize_w, int resize_h, int crop_x,
                               int crop_y, int crop_w, int crop_h, qp_image *out) {
    memset(out, 0, sizeof *out);
    if (!in || !in->pixels || in->width <= 0 || in->height <= 0 ||
        (in->channels != 1 && in->channels != 3))
        return qp_error(QP_ERR_INVALID_ARG, "resize: the source is not a 1- or 3-channel image");
    if (resize_w <= 0 || resize_h <= 0 || resize_w > 65535 || resize_h > 65535)
        return qp_error(QP_ERR_INVALID_ARG, "resize: target %dx%d is out of range 1..65535",
                        resize_w, resize_h);
    if (crop_w <= 0 || crop_h <= 0 || crop_x < 0 || crop_y < 0 || crop_x > resize_w - crop_w ||
        crop_y > resize_h - crop_h)
        return qp_error(QP_ERR_INVALID_ARG, "crop %dx%d at (%d,%d) does not fit in the resized "
                        "image %dx%d", crop_w, crop_h, crop_x, crop_y, resize_w, resize_h);
    const int C = in->channels;
    const size_t in_stride = (size_t)in->width * (size_t)C;
    const int need_h = resize_w != in->width, need_v = resize_h != in->height;
    resample_coeffs ch = {0}, cv = {0};
    uint8_t *temp = NULL;
    qp_status st = QP_OK;
    if (need_h && (st = coeffs_build(in->width, resize_w, &ch)) != QP_OK) return st;
    if (need_v && (st = coeffs_build(in->height, resize_h, &cv)) != QP_OK) goto done;
    if ((st = qp_image_alloc(out, crop_w, crop_h, C)) != QP_OK) goto done;

    /* Source rows the crop window needs: the vertical taps of its rows, or the rows themselves. */
    int row0 = crop_y, row1 = crop_y + crop_h;
    if (need_v) {
        row0 = in->height;
        row1 = 0;
        for (int y = crop_y; y < crop_y + crop_h; y++) {
            if (cv.first[y] < row0) row0 = cv.first[y];
            if (cv.first[y] + cv.count[y] > row1) row1 = cv.first[y] + cv.count[y];
        }
        if (row1 <= row0) { /* no taps at all: cannot happen with positive sizes */
            row0 = 0;
            row1 = 1;
        }
    }

    /* Horizontal pass into temp (rows row0..row1, crop columns only), rounded to 8 bits as in
     * Pillow; without horizontal scaling the window is read from the source in place. */
    const uint8_t *hsrc;
    size_t hstride;
    const size_t row_bytes = (size_t)crop_w * (size_t)C;
    if (need_h) {
        temp = malloc((size_t)(row1 - row0) * row_bytes);
        if (!temp) {
            st = qp_error(QP_ERR_NOMEM, "resize: out of memory");
            goto done;
        }
        for (int y = row0; y < row1; y++) {
            const uint8_t *src = in->pixels + (size_t)y * in_stride;
            uint8_t *dst = temp + (size_t)(y - row0) * row_bytes;
            for (int xx = 0; xx < crop_w; xx++) {
                int ox = crop_x + xx;
                const int32_t *k = ch.weights + (size_t)ox * (size_t)ch.ksize;
                const uint8_t *s = src + (size_t)ch.first[ox] * (size_t)C;
                int n = ch.count[ox];
                if (C == 3) {
                    int32_t a0 = 1 << (RESAMPLE_PRECISION_BITS - 1), a1 = a0, a2 = a0;
                    for (int x = 0; x < n; x++) {
                        a0 += s[3 * x] * k[x];
                        a1 += s[3 * x + 1] * k[x];
                        a2 += s[3 * x + 2] * k[x];
                    }
                    dst[3 * xx] = clip8(a0);
                    dst[3 * xx + 1] = clip8(a1);
                    dst[3 * xx + 2] = clip8(a2);
                } else {
                    int32_t a0 = 1 << (RESAMPLE_PRECISION_BITS - 1);
                    for (int x = 0; x < n; x++) a0 += s[x] * k[x];
                    dst[xx] = clip8(a0);
                }
            }
        }
        hsrc = temp;
        hstride = row_bytes;
    } else {
        hsrc = in->pixels + (size_t)row0 * in_stride + (size_t)crop_x * (size_t)C;
        hstride = in_stride;
    }

    /* Vertical pass over the crop rows. */
    if (need_v) {
        int32_t *acc = malloc(row_bytes * sizeof *acc);
        if (!acc) {
            st = qp_error(QP_ERR_NOMEM, "resize: out of memory");
            goto done;
        }
        for (int yy = 0; yy < crop_h; yy++) {
            int oy = crop_y + yy;
            const int32_t *k = cv.weights + (size_t)oy * (size_t)cv.ksize;
            for (size_t i = 0; i < row_bytes; i++) acc[i] = 1 << (RESAMPLE_PRECISION_BITS - 1);
            for (int t = 0; t < cv.count[oy]; t++) {
                const uint8_t *s = hsrc + (size_t)(cv.first[oy] + t - row0) * hstride;
                int32_t kt = k[t];
                for (size_t i = 0; i < row_bytes; i++) acc[i] += s[i] * kt;
            }
            uint8_t *dst = out->pixels + (size_t)yy * row_bytes;
            for (size_t i = 0; i < row_bytes; i++) dst[i] = clip8(acc[i]);
        }
        free(acc);
    } else {
        for (int yy = 0; yy < crop_h; yy++)
            memcpy(out->pixels + (size_t)yy * row_bytes, hsrc + (size_t)yy * hstride, row_bytes);
    }

done:
    free(temp);
    coeffs_free(&ch);
    coeffs_free(&cv);
    if (st != QP_OK) qp_image_free(out);
    return st;
}

qp_status qp_image_resize(const qp_image *in, int width, int height, qp_image *out) {
    return qp_image_resize_crop(in, width, height, 0, 0, width, height, out);
}
