/* jpeg.c — JPEG decoding and encoding with libjpeg-turbo, errors turned into qp_status via longjmp. */
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "data/image.h"

/* Guards allocations against hostile headers: 2^27 pixels (134 MP) is above Pillow's
 * decompression-bomb warning threshold (89 MP) and far above any dataset photo. */
#define QP_MAX_IMAGE_PIXELS ((uint64_t)1 << 27)

qp_status qp_image_alloc(qp_image *image, int width, int height, int channels) {
    memset(image, 0, sizeof *image);
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3))
        return qp_error(QP_ERR_INVALID_ARG, "image size %dx%d with %d channels is invalid "
                        "(positive size, 1 or 3 channels)", width, height, channels);
    if ((uint64_t)width * (uint64_t)height > QP_MAX_IMAGE_PIXELS)
        return qp_error(QP_ERR_UNSUPPORTED, "image size %dx%d exceeds the limit of %llu pixels",
                        width, height, (unsigned long long)QP_MAX_IMAGE_PIXELS);
    size_t n = (size_t)width * (size_t)height * (size_t)channels;
    image->pixels = calloc(n, 1);
    if (!image->pixels)
        return qp_error(QP_ERR_NOMEM, "out of memory for a %dx%d image", width, height);
    image->width = width;
    image->height = height;
    image->channels = channels;
    return QP_OK;
}

void qp_image_free(qp_image *image) {
    if (!image) return;
    free(image->pixels);
    memset(image, 0, sizeof *image);
}

qp_status qp_image_convert(const qp_image *in, int channels, qp_image *out) {
    qp_status st = qp_image_alloc(out, in->width, in->height, channels);
    if (st != QP_OK) return st;
    size_t n = (size_t)in->width * (size_t)in->height;
    const uint8_t *s = in->pixels;
    uint8_t *d = out->pixels;
    if (in->channels == channels) {
        memcpy(d, s, n * (size_t)channels);
    } else if (in->channels == 1 && channels == 3) {
        for (size_t i = 0; i < n; i++) d[3 * i] = d[3 * i + 1] = d[3 * i + 2] = s[i];
    } else if (in->channels == 3 && channels == 1) {
        /* Pillow's rgb2l: ITU-R 601-2 luma in 16-bit fixed point, rounded */
        for (size_t i = 0; i < n; i++)
            d[i] = (uint8_t)(((uint32_t)s[3 * i] * 19595u + (uint32_t)s[3 * i + 1] * 38470u +
                              (uint32_t)s[3 * i + 2] * 7471u + 0x8000u) >> 16);
    } else {
        qp_image_free(out);
        return qp_error(QP_ERR_INVALID_ARG, "cannot convert an image from %d to %d channels",
                        in->channels, channels);
    }
    return QP_OK;
}

/* ---- decoding ---- */

typedef struct jpeg_error_ctx {
    struct jpeg_error_mgr pub; /* first, so the libjpeg pointer casts back to this */
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    int truncated;
} jpeg_error_ctx;

static void on_error_exit(j_common_ptr cinfo) {
    jpeg_error_ctx *ctx = (jpeg_error_ctx *)cinfo->err;
    cinfo->err->format_message(cinfo, ctx->message);
    longjmp(ctx->jump, 1);
}

/* libjpeg only warns when data runs out and pads the image with grey; Pillow refuses such
 * files ("image file is truncated"), so a premature end is fatal here too. Other warnings
 * (extraneous bytes, bogus progression) are tolerated as Pillow tolerates them. */
static void on_emit_message(j_common_ptr cinfo, int msg_level) {
    jpeg_error_ctx *ctx = (jpeg_error_ctx *)cinfo->err;
    if (msg_level < 0) {
        cinfo->err->num_warnings++;
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
            ctx->truncated = 1;
            snprintf(ctx->message, sizeof ctx->message, "truncated JPEG data");
            longjmp(ctx->jump, 1);
        }
    }
}

static void install_error_manager(j_common_ptr cinfo, jpeg_error_ctx *ctx) {
    memset(ctx, 0, sizeof *ctx);
    cinfo->err = jpeg_std_error(&ctx->pub);
    ctx->pub.error_exit = on_error_exit;
    ctx->pub.emit_message = on_emit_message;
}

/* Pillow reads every CMYK JPEG as Adobe-inverted ("CMYK;I") and converts with cmyk2rgb:
 * with C = 255 - stored, nk = stored K, out = nk - C*nk/255 (MULDIV255 rounding). */
static uint8_t cmyk_channel(uint8_t stored_c, uint8_t stored_k) {
    int nk = stored_k, c = 255 - stored_c;
    int tmp = c * nk + 128;
    int v = nk - (((tmp >> 8) + tmp) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* State the decoder keeps outside local variables, so longjmp cannot clobber it. */
typedef struct decode_state {
    struct jpeg_decompress_struct cinfo;
    jpeg_error_ctx err;
    uint8_t *pixels;
    uint8_t *row;
} decode_state;

static qp_status decode_into(decode_state *s, const void *data, size_t size, const char *name,
                             int channels, qp_image *out) {
    struct jpeg_decompress_struct *cinfo = &s->cinfo;
    if (setjmp(s->err.jump)) {
        jpeg_destroy_decompress(cinfo);
        free(s->pixels);
        free(s->row);
        s->pixels = s->row = NULL;
        return qp_error(QP_ERR_PARSE, "%s: %s%s", name,
                        s->err.truncated ? "" : "cannot decode JPEG: ", s->err.message);
    }
    jpeg_create_decompress(cinfo);
    jpeg_mem_src(cinfo, (const unsigned char *)data, (unsigned long)size);
    jpeg_read_header(cinfo, TRUE);

    int native = cinfo->jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
    int want = channels ? channels : native;
    int cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
    /* Pillow decodes a colour file to RGB and derives grey with its own luma formula, which
     * differs from libjpeg's Y channel; decode to RGB and convert afterwards to match it. */
    int decoded_channels;
    if (cmyk) {
        cinfo->out_color_space = JCS_CMYK;
        decoded_channels = 4;
    } else if (native == 1) {
        cinfo->out_color_space = JCS_GRAYSCALE;
        decoded_channels = 1;
    } else {
        cinfo->out_color_space = JCS_RGB;
        decoded_channels = 3;
    }
    uint64_t pixels = (uint64_t)cinfo->image_width * cinfo->image_height;
    if (pixels == 0 || pixels > QP_MAX_IMAGE_PIXELS) {
        snprintf(s->err.message, sizeof s->err.message, "image size %ux%u is out of range",
                 (unsigned)cinfo->image_width, (unsigned)cinfo->image_height);
        longjmp(s->err.jump, 1);
    }
    jpeg_start_decompress(cinfo);
    int w = (int)cinfo->output_width, h = (int)cinfo->output_height;
    size_t row_bytes = (size_t)w * (size_t)decoded_channels;
    s->pixels = malloc((size_t)w * (size_t)h * (size_t)(decoded_channels == 4 ? 3 : decoded_channels));
    s->row = malloc(row_bytes);
    if (!s->pixels || !s->row) {
        snprintf(s->err.message, sizeof s->err.message, "out of memory for %dx%d pixels", w, h);
        longjmp(s->err.jump, 1);
    }
    while (cinfo->output_scanline < cinfo->output_height) {
        int y = (int)cinfo->output_scanline;
        if (decoded_channels == 4) {
            JSAMPROW rows[1] = {s->row};
            jpeg_read_scanlines(cinfo, rows, 1);
            uint8_t *dst = s->pixels + (size_t)y * (size_t)w * 3;
            for (int x = 0; x < w; x++) {
                const uint8_t *px = s->row + 4 * x;
                dst[3 * x + 0] = cmyk_channel(px[0], px[3]);
                dst[3 * x + 1] = cmyk_channel(px[1], px[3]);
                dst[3 * x + 2] = cmyk_channel(px[2], px[3]);
            }
        } else {
            JSAMPROW rows[1] = {s->pixels + (size_t)y * row_bytes};
            jpeg_read_scanlines(cinfo, rows, 1);
        }
    }
    jpeg_finish_decompress(cinfo);
    jpeg_destroy_decompress(cinfo);
    free(s->row);
    s->row = NULL;

    qp_image decoded = {w, h, decoded_channels == 4 ? 3 : decoded_channels, s->pixels};
    s->pixels = NULL;
    if (decoded.channels == want) {
        *out = decoded;
        return QP_OK;
    }
    qp_status st = qp_image_convert(&decoded, want, out);
    qp_image_free(&decoded);
    if (st != QP_OK) return qp_error_prefix(st, "%s: ", name);
    return QP_OK;
}

qp_status qp_image_decode_jpeg(const void *data, size_t size, const char *name, int channels,
                               qp_image *out) {
    memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    if (channels != 0 && channels != 1 && channels != 3)
        return qp_error(QP_ERR_INVALID_ARG, "%s: JPEG channels must be 0, 1 or 3, not %d", name,
                        channels);
    if (size == 0) return qp_error(QP_ERR_PARSE, "%s: empty file, not a JPEG", name);
    decode_state *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "%s: out of memory", name);
    install_error_manager((j_common_ptr)&s->cinfo, &s->err);
    qp_status st = decode_into(s, data, size, name, channels, out);
    free(s);
    return st;
}

/* Reads a whole file; *data is malloc'd. */
static qp_status read_file(const char *path, unsigned char **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return qp_error(QP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 17;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return qp_error(QP_ERR_NOMEM, "%s: out of memory reading the file", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return qp_error(QP_ERR_IO, "%s: read error", path);
    }
    *data = buf;
    *size = n;
    return QP_OK;
}

qp_status qp_image_load_jpeg(const char *path, int channels, qp_image *out) {
    memset(out, 0, sizeof *out);
    unsigned char *data;
    size_t size;
    qp_status st = read_file(path, &data, &size);
    if (st != QP_OK) return st;
    st = qp_image_decode_jpeg(data, size, path, channels, out);
    free(data);
    return st;
}

typedef struct header_state {
    struct jpeg_decompress_struct cinfo;
    jpeg_error_ctx err;
    FILE *file;
} header_state;

static qp_status read_header(header_state *s, const char *path, int *width, int *height,
                             int *components) {
    if (setjmp(s->err.jump)) {
        jpeg_destroy_decompress(&s->cinfo);
        return qp_error(QP_ERR_PARSE, "%s: %s%s", path,
                        s->err.truncated ? "" : "cannot decode JPEG: ", s->err.message);
    }
    jpeg_create_decompress(&s->cinfo);
    jpeg_stdio_src(&s->cinfo, s->file);
    jpeg_read_header(&s->cinfo, TRUE);
    if (width) *width = (int)s->cinfo.image_width;
    if (height) *height = (int)s->cinfo.image_height;
    if (components) *components = s->cinfo.num_components;
    jpeg_destroy_decompress(&s->cinfo);
    return QP_OK;
}

qp_status qp_image_jpeg_info(const char *path, int *width, int *height, int *components) {
    header_state *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "%s: out of memory", path);
    s->file = fopen(path, "rb");
    if (!s->file) {
        qp_status st = qp_error(QP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        free(s);
        return st;
    }
    install_error_manager((j_common_ptr)&s->cinfo, &s->err);
    qp_status st = read_header(s, path, width, height, components);
    fclose(s->file);
    free(s);
    return st;
}

/* ---- encoding (tests, fixtures) ---- */

typedef struct encode_state {
    struct jpeg_compress_struct cinfo;
    jpeg_error_ctx err;
    FILE *file;
} encode_state;

static qp_status encode_into(encode_state *s, const char *path, const qp_image *image,
                             int quality) {
    if (setjmp(s->err.jump)) {
        jpeg_destroy_compress(&s->cinfo);
        return qp_error(QP_ERR_IO, "%s: cannot encode JPEG: %s", path, s->err.message);
    }
    jpeg_create_compress(&s->cinfo);
    jpeg_stdio_dest(&s->cinfo, s->file);
    s->cinfo.image_width = (JDIMENSION)image->width;
    s->cinfo.image_height = (JDIMENSION)image->height;
    s->cinfo.input_components = image->channels;
    s->cinfo.in_color_space = image->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&s->cinfo);
    jpeg_set_quality(&s->cinfo, quality, TRUE);
    jpeg_start_compress(&s->cinfo, TRUE);
    size_t stride = (size_t)image->width * (size_t)image->channels;
    while (s->cinfo.next_scanline < s->cinfo.image_height) {
        JSAMPROW row[1] = {image->pixels + (size_t)s->cinfo.next_scanline * stride};
        jpeg_write_scanlines(&s->cinfo, row, 1);
    }
    jpeg_finish_compress(&s->cinfo);
    jpeg_destroy_compress(&s->cinfo);
    return QP_OK;
}

qp_status qp_image_save_jpeg(const char *path, const qp_image *image, int quality) {
    if (!image || !image->pixels || image->width <= 0 || image->height <= 0 ||
        (image->channels != 1 && image->channels != 3))
        return qp_error(QP_ERR_INVALID_ARG, "%s: can only write 1- or 3-channel images", path);
    if (quality < 1 || quality > 100)
        return qp_error(QP_ERR_INVALID_ARG, "%s: JPEG quality %d is outside 1..100", path, quality);
    encode_state *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "%s: out of memory", path);
    s->file = fopen(path, "wb");
    if (!s->file) {
        qp_status st = qp_error(QP_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        free(s);
        return st;
    }
    install_error_manager((j_common_ptr)&s->cinfo, &s->err);
    qp_status st = encode_into(s, path, image, quality);
    if (fclose(s->file) != 0 && st == QP_OK)
        st = qp_error(QP_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    free(s);
    return st;
}
