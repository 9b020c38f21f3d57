/* npy.c — NumPy .npy reader and writer (little-endian, C order) behind npy.h. */
#define _DEFAULT_SOURCE /* O_CLOEXEC and getpid also under strict -std=c11 */
#include "data/npy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

typedef struct descr_entry {
    const char *code; /* kind + size, without the byte-order character */
    qp_dtype dtype;
} descr_entry;

static const descr_entry descr_table[] = {
    {"f4", QP_DT_FLOAT},  {"f8", QP_DT_DOUBLE}, {"f2", QP_DT_FLOAT16}, {"i8", QP_DT_INT64},
    {"i4", QP_DT_INT32},  {"i2", QP_DT_INT16},  {"i1", QP_DT_INT8},    {"u1", QP_DT_UINT8},
    {"u2", QP_DT_UINT16}, {"u4", QP_DT_UINT32}, {"u8", QP_DT_UINT64},  {"b1", QP_DT_BOOL},
};

static const char *descr_for_dtype(qp_dtype dtype) {
    switch (dtype) {
    case QP_DT_FLOAT: return "<f4";
    case QP_DT_DOUBLE: return "<f8";
    case QP_DT_FLOAT16: return "<f2";
    case QP_DT_INT64: return "<i8";
    case QP_DT_INT32: return "<i4";
    case QP_DT_INT16: return "<i2";
    case QP_DT_INT8: return "|i1";
    case QP_DT_UINT8: return "|u1";
    case QP_DT_UINT16: return "<u2";
    case QP_DT_UINT32: return "<u4";
    case QP_DT_UINT64: return "<u8";
    case QP_DT_BOOL: return "|b1";
    default: return NULL;
    }
}

static size_t npy_item_size(qp_dtype dtype) {
    switch (dtype) {
    case QP_DT_DOUBLE:
    case QP_DT_INT64:
    case QP_DT_UINT64: return 8;
    case QP_DT_FLOAT:
    case QP_DT_INT32:
    case QP_DT_UINT32: return 4;
    case QP_DT_FLOAT16:
    case QP_DT_INT16:
    case QP_DT_UINT16: return 2;
    case QP_DT_INT8:
    case QP_DT_UINT8:
    case QP_DT_BOOL: return 1;
    default: return 0;
    }
}

/* A cursor over the header's Python dict literal. */
typedef struct header_cursor {
    const char *p;
    const char *end;
} header_cursor;

static void skip_space(header_cursor *c) {
    while (c->p < c->end && isspace((unsigned char)*c->p)) c->p++;
}

static int accept_char(header_cursor *c, char ch) {
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* Reads a quoted Python string into buf; 0 on malformed input. */
static int read_string(header_cursor *c, char *buf, size_t cap) {
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        if (n + 1 >= cap) return 0;
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    buf[n] = '\0';
    return 1;
}

static int accept_word(header_cursor *c, const char *word) {
    skip_space(c);
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

/* Parses "(1, 3, 224, 224)", "(5,)" or "()"; 0 on malformed input, -1 when rank is too large. */
static int read_shape(header_cursor *c, qp_shape *shape) {
    shape->rank = 0;
    if (!accept_char(c, '(')) return 0;
    for (;;) {
        if (accept_char(c, ')')) return 1;
        skip_space(c);
        if (c->p >= c->end || !isdigit((unsigned char)*c->p)) return 0;
        int64_t v = 0;
        while (c->p < c->end && isdigit((unsigned char)*c->p)) {
            if (v > (INT64_MAX - 9) / 10) return 0;
            v = v * 10 + (*c->p++ - '0');
        }
        /* numpy may write 3L on Python 2 */
        if (c->p < c->end && (*c->p == 'L' || *c->p == 'l')) c->p++;
        if (shape->rank >= QP_MAX_RANK) return -1;
        shape->dims[shape->rank++] = v;
        if (accept_char(c, ',')) continue;
        if (accept_char(c, ')')) return 1;
        return 0;
    }
}

static qp_status parse_header(const char *text, size_t len, const char *name, qp_dtype *dtype,
                              qp_shape *shape) {
    header_cursor c = {text, text + len};
    char key[64];
    char descr[64] = "";
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0;
    if (!accept_char(&c, '{'))
        return qp_error(QP_ERR_PARSE, "%s: malformed .npy header (expected a '{' dict): %.*s", name,
                        (int)(len > 120 ? 120 : len), text);
    for (;;) {
        if (accept_char(&c, '}')) break;
        if (!read_string(&c, key, sizeof key) || !accept_char(&c, ':'))
            return qp_error(QP_ERR_PARSE, "%s: malformed .npy header: %.*s", name,
                            (int)(len > 120 ? 120 : len), text);
        if (strcmp(key, "descr") == 0) {
            if (!read_string(&c, descr, sizeof descr))
                return qp_error(QP_ERR_UNSUPPORTED,
                                "%s: unsupported .npy descr (structured dtypes are not supported; "
                                "allowed: '<f4' '<f8' '<i8' '<i4' '|u1' '|i1' '|b1' and kin)",
                                name);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (accept_word(&c, "True")) {
                fortran = 1;
            } else if (!accept_word(&c, "False")) {
                return qp_error(QP_ERR_PARSE, "%s: malformed .npy header: fortran_order is not "
                                "True or False", name);
            }
            have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            int r = read_shape(&c, shape);
            if (r < 0)
                return qp_error(QP_ERR_UNSUPPORTED, "%s: .npy array has more than %d dimensions",
                                name, QP_MAX_RANK);
            if (r == 0)
                return qp_error(QP_ERR_PARSE, "%s: malformed .npy header: bad shape tuple", name);
            have_shape = 1;
        } else {
            return qp_error(QP_ERR_PARSE, "%s: malformed .npy header: unknown key '%s'", name, key);
        }
        if (accept_char(&c, ',')) continue;
        if (accept_char(&c, '}')) break;
        return qp_error(QP_ERR_PARSE, "%s: malformed .npy header: expected ',' or '}'", name);
    }
    if (!have_descr || !have_order || !have_shape)
        return qp_error(QP_ERR_PARSE, "%s: malformed .npy header: missing '%s'", name,
                        !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    if (fortran)
        return qp_error(QP_ERR_UNSUPPORTED,
                        "%s: fortran_order True is not supported (only C order); save with "
                        "np.ascontiguousarray", name);
    char order = descr[0];
    const char *code = descr + 1;
    if (order == '>')
        return qp_error(QP_ERR_UNSUPPORTED, "%s: big-endian descr '%s' is not supported (only "
                        "little-endian '<')", name, descr);
    if (order != '<' && order != '|' && order != '=')
        return qp_error(QP_ERR_UNSUPPORTED, "%s: unsupported .npy descr '%s'", name, descr);
    for (size_t i = 0; i < sizeof descr_table / sizeof descr_table[0]; i++) {
        if (strcmp(code, descr_table[i].code) == 0) {
            *dtype = descr_table[i].dtype;
            return QP_OK;
        }
    }
    return qp_error(QP_ERR_UNSUPPORTED,
                    "%s: unsupported .npy descr '%s' (allowed: '<f4' '<f8' '<f2' '<i8' '<i4' '<i2' "
                    "'|i1' '|u1' '<u2' '<u4' '<u8' '|b1')", name, descr);
}

qp_status qp_npy_parse(const void *bytes, size_t size, const char *name, qp_npy *out) {
    const unsigned char *b = bytes;
    memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    if (size < 10 || memcmp(b, npy_magic, sizeof npy_magic) != 0)
        return qp_error(QP_ERR_PARSE, "%s: not a .npy file (bad magic; expected \\x93NUMPY)", name);
    unsigned major = b[6];
    size_t header_len, data_start;
    if (major == 1) {
        header_len = (size_t)b[8] | (size_t)b[9] << 8;
        data_start = 10 + header_len;
    } else if (major == 2 || major == 3) {
        if (size < 12) return qp_error(QP_ERR_PARSE, "%s: truncated .npy header", name);
        header_len = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        data_start = 12 + header_len;
    } else {
        return qp_error(QP_ERR_UNSUPPORTED, "%s: .npy format version %u.%u is not supported "
                        "(1.0, 2.0, 3.0)", name, major, (unsigned)b[7]);
    }
    if (data_start > size)
        return qp_error(QP_ERR_PARSE, "%s: truncated .npy header (%zu bytes announced, file has "
                        "%zu)", name, header_len, size);
    qp_dtype dtype = QP_DT_UNDEFINED;
    qp_shape shape = {0};
    qp_status st = parse_header((const char *)b + (data_start - header_len), header_len, name,
                                &dtype, &shape);
    if (st != QP_OK) return st;
    size_t item = npy_item_size(dtype);
    size_t numel = 1;
    for (int i = 0; i < shape.rank; i++) {
        uint64_t d = (uint64_t)shape.dims[i];
        if (d != 0 && numel > SIZE_MAX / item / d)
            return qp_error(QP_ERR_PARSE, "%s: .npy shape is too large", name);
        numel *= (size_t)d;
    }
    size_t nbytes = numel * item;
    if (size - data_start < nbytes)
        return qp_error(QP_ERR_PARSE, "%s: truncated .npy data: shape needs %zu bytes, file has %zu "
                        "after the header", name, nbytes, size - data_start);
    void *data = malloc(nbytes ? nbytes : 1);
    if (!data) return qp_error(QP_ERR_NOMEM, "%s: out of memory for %zu bytes", name, nbytes);
    if (nbytes) memcpy(data, b + data_start, nbytes);
    out->dtype = dtype;
    out->shape = shape;
    out->data = data;
    out->nbytes = nbytes;
    return QP_OK;
}

qp_status qp_npy_read(const char *path, qp_npy *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return qp_error(QP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char *buf = NULL;
    size_t size = 0, cap = 0;
    qp_status st = QP_OK;
    for (;;) {
        if (size == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) {
                st = qp_error(QP_ERR_NOMEM, "%s: out of memory reading the file", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + size, 1, cap - size, f);
        size += got;
        if (got == 0) {
            if (ferror(f)) st = qp_error(QP_ERR_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st == QP_OK) st = qp_npy_parse(buf, size, path, out);
    free(buf);
    return st;
}

qp_status qp_npy_read_f32(const char *path, float **data, qp_shape *shape) {
    *data = NULL;
    qp_npy npy;
    qp_status st = qp_npy_read(path, &npy);
    if (st != QP_OK) return st;
    size_t n = npy.nbytes / npy_item_size(npy.dtype);
    if (npy.dtype == QP_DT_FLOAT) {
        *data = npy.data;
        *shape = npy.shape;
        return QP_OK;
    }
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (!f) {
        qp_npy_free(&npy);
        return qp_error(QP_ERR_NOMEM, "%s: out of memory", path);
    }
    const unsigned char *src = npy.data;
    for (size_t i = 0; i < n; i++) {
        switch (npy.dtype) {
        case QP_DT_DOUBLE: { double v; memcpy(&v, src + 8 * i, 8); f[i] = (float)v; break; }
        case QP_DT_FLOAT16: { uint16_t v; memcpy(&v, src + 2 * i, 2); f[i] = qp_half_to_float(v); break; }
        case QP_DT_INT64: { int64_t v; memcpy(&v, src + 8 * i, 8); f[i] = (float)v; break; }
        case QP_DT_UINT64: { uint64_t v; memcpy(&v, src + 8 * i, 8); f[i] = (float)v; break; }
        case QP_DT_INT32: { int32_t v; memcpy(&v, src + 4 * i, 4); f[i] = (float)v; break; }
        case QP_DT_UINT32: { uint32_t v; memcpy(&v, src + 4 * i, 4); f[i] = (float)v; break; }
        case QP_DT_INT16: { int16_t v; memcpy(&v, src + 2 * i, 2); f[i] = (float)v; break; }
        case QP_DT_UINT16: { uint16_t v; memcpy(&v, src + 2 * i, 2); f[i] = (float)v; break; }
        case QP_DT_INT8: f[i] = (float)(int8_t)src[i]; break;
        case QP_DT_UINT8: f[i] = (float)src[i]; break;
        case QP_DT_BOOL: f[i] = src[i] ? 1.0f : 0.0f; break;
        default: f[i] = 0.0f; break;
        }
    }
    *shape = npy.shape;
    *data = f;
    qp_npy_free(&npy);
    return QP_OK;
}

qp_status qp_npy_write(const char *path, qp_dtype dtype, const qp_shape *shape, const void *data) {
    const char *descr = descr_for_dtype(dtype);
    if (!descr)
        return qp_error(QP_ERR_UNSUPPORTED, "%s: cannot write dtype %s to .npy", path,
                        qp_dtype_name(dtype));
    if (!shape || shape->rank < 0 || shape->rank > QP_MAX_RANK)
        return qp_error(QP_ERR_INVALID_ARG, "%s: .npy shape must have rank 0..%d", path,
                        QP_MAX_RANK);
    size_t item = npy_item_size(dtype), numel = 1;
    char dict[64 + QP_MAX_RANK * 24];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                       descr);
    for (int i = 0; i < shape->rank; i++) {
        if (shape->dims[i] < 0)
            return qp_error(QP_ERR_INVALID_ARG, "%s: .npy shape has an unknown dimension", path);
        if (shape->dims[i] != 0 && numel > SIZE_MAX / item / (uint64_t)shape->dims[i])
            return qp_error(QP_ERR_INVALID_ARG, "%s: .npy shape is too large", path);
        numel *= (size_t)shape->dims[i];
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%s%lld", i ? ", " : "",
                        (long long)shape->dims[i]);
    }
    len += snprintf(dict + len, sizeof dict - (size_t)len, "%s), }", shape->rank == 1 ? "," : "");
    size_t nbytes = numel * item;
    if (nbytes && !data) return qp_error(QP_ERR_INVALID_ARG, "%s: no data to write", path);

    /* numpy pads the header with spaces and a newline so the data starts 64-byte aligned */
    size_t total = 10 + (size_t)len + 1;
    size_t padded = (total + 63) / 64 * 64;
    unsigned char header[sizeof dict + 128];
    memcpy(header, npy_magic, 6);
    header[6] = 1;
    header[7] = 0;
    size_t header_len = padded - 10;
    header[8] = (unsigned char)(header_len & 0xff);
    header[9] = (unsigned char)(header_len >> 8);
    memcpy(header + 10, dict, (size_t)len);
    memset(header + 10 + len, ' ', padded - 10 - (size_t)len - 1);
    header[padded - 1] = '\n';

    /* mkstemp would leave mode 0600 after the rename; O_EXCL with the process id and a counter
     * gives a unique name and the usual umask-derived mode */
    static _Atomic unsigned tmp_counter;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 48);
    if (!tmp) return qp_error(QP_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, plen + 48, "%s.tmp.%ld.%u", path, (long)getpid(), tmp_counter++);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        qp_status st = qp_error(QP_ERR_IO, "%s: cannot create temporary file %s: %s", path, tmp,
                                strerror(errno));
        free(tmp);
        return st;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        qp_status st = qp_error(QP_ERR_IO, "%s: cannot open temporary file: %s", path,
                                strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return st;
    }
    int ok = fwrite(header, 1, padded, f) == padded;
    if (ok && nbytes) ok = fwrite(data, 1, nbytes, f) == nbytes;
    int err = ok ? 0 : errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        err = errno;
    }
    if (!ok) {
        unlink(tmp);
        free(tmp);
        return qp_error(QP_ERR_IO, "%s: write failed: %s", path, strerror(err));
    }
    free(tmp);
    return QP_OK;
}

void qp_npy_free(qp_npy *npy) {
    if (!npy) return;
    free(npy->data);
    npy->data = NULL;
    npy->nbytes = 0;
}
