/* idx.c — IDX (MNIST) reader over zlib's gzread, which reads gzip and plain files alike. */
#include "data/idx.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Reads exactly n bytes; returns 0 when fewer were available (truncated or corrupt stream). */
static int read_exact(gzFile gz, void *buf, size_t n, size_t *got_out) {
    size_t got = 0;
    unsigned char *p = buf;
    while (got < n) {
        size_t want = n - got;
        if (want > (1u << 30)) want = 1u << 30;
        int r = gzread(gz, p + got, (unsigned)want);
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got_out) *got_out = got;
    return got == n;
}

static qp_status truncated(gzFile gz, const char *path, const char *what, size_t want,
                           size_t got) {
    int zerr = Z_OK;
    const char *zmsg = gzerror(gz, &zerr);
    if (zerr != Z_OK && zerr != Z_BUF_ERROR && zmsg && *zmsg)
        return qp_error(QP_ERR_PARSE, "%s: corrupt IDX %s: %s", path, what, zmsg);
    return qp_error(QP_ERR_PARSE, "%s: truncated IDX %s: expected %zu bytes, got %zu", path,
                    what, want, got);
}

static int type_info(unsigned code, qp_dtype *dtype, size_t *size) {
    switch (code) {
    case 0x08: *dtype = QP_DT_UINT8; *size = 1; return 1;
    case 0x09: *dtype = QP_DT_INT8; *size = 1; return 1;
    case 0x0B: *dtype = QP_DT_INT16; *size = 2; return 1;
    case 0x0C: *dtype = QP_DT_INT32; *size = 4; return 1;
    case 0x0D: *dtype = QP_DT_FLOAT; *size = 4; return 1;
    case 0x0E: *dtype = QP_DT_DOUBLE; *size = 8; return 1;
    default: return 0;
    }
}

static void swap_to_host(unsigned char *data, size_t n_items, size_t item) {
    if (item == 1) return;
    for (size_t i = 0; i < n_items; i++) {
        unsigned char *p = data + i * item;
        for (size_t a = 0, b = item - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
    }
}

qp_status qp_idx_read(const char *path, int64_t max_items, qp_idx *out) {
    memset(out, 0, sizeof *out);
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return qp_error(QP_ERR_IO, "%s: cannot open: %s", path,
                        errno ? strerror(errno) : "out of memory");
    unsigned char magic[4];
    size_t got = 0;
    qp_status st = QP_OK;
    if (!read_exact(gz, magic, 4, &got)) {
        st = got == 0 ? qp_error(QP_ERR_PARSE, "%s: empty file, not an IDX file", path)
                      : truncated(gz, path, "header", 4, got);
        goto done;
    }
    qp_dtype dtype;
    size_t item;
    if (magic[0] != 0 || magic[1] != 0 || !type_info(magic[2], &dtype, &item)) {
        st = qp_error(QP_ERR_PARSE,
                      "%s: not an IDX file (magic %02x %02x %02x %02x; expected 00 00 <type "
                      "08|09|0B|0C|0D|0E> <rank>)", path, magic[0], magic[1], magic[2], magic[3]);
        goto done;
    }
    int rank = magic[3];
    if (rank < 1 || rank > QP_MAX_RANK) {
        st = qp_error(QP_ERR_PARSE, "%s: IDX rank %d is out of range 1..%d", path, rank,
                      QP_MAX_RANK);
        goto done;
    }
    unsigned char dims_be[4 * QP_MAX_RANK];
    if (!read_exact(gz, dims_be, 4 * (size_t)rank, &got)) {
        st = truncated(gz, path, "header", 4 * (size_t)rank, got);
        goto done;
    }
    qp_shape shape = {.rank = rank};
    for (int i = 0; i < rank; i++) {
        const unsigned char *d = dims_be + 4 * i;
        shape.dims[i] = (int64_t)((uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
                                  (uint32_t)d[2] << 8 | d[3]);
    }
    if (max_items > 0 && shape.dims[0] > max_items) shape.dims[0] = max_items;
    size_t numel = 1;
    for (int i = 0; i < rank; i++) {
        uint64_t d = (uint64_t)shape.dims[i];
        /* also bounds a malicious header's allocation: 2^40 bytes is far beyond any IDX set */
        if (d != 0 && numel > ((uint64_t)1 << 40) / item / d) {
            st = qp_error(QP_ERR_PARSE, "%s: IDX dimensions are implausibly large", path);
            goto done;
        }
        numel *= (size_t)d;
    }
    size_t nbytes = numel * item;
    /* grow the buffer as data arrives, so a header announcing more than the file holds costs
     * no more memory than the file itself */
    size_t cap = nbytes < ((size_t)1 << 24) ? nbytes : (size_t)1 << 24, have = 0;
    unsigned char *data = malloc(cap ? cap : 1);
    while (data && have < nbytes) {
        if (have == cap) {
            size_t ncap = cap * 2 < nbytes ? cap * 2 : nbytes;
            unsigned char *nd = realloc(data, ncap);
            if (!nd) {
                free(data);
                data = NULL;
                break;
            }
            data = nd;
            cap = ncap;
        }
        size_t got_now = 0;
        int complete = read_exact(gz, data + have, cap - have, &got_now);
        have += got_now;
        if (!complete) break;
    }
    if (!data) {
        st = qp_error(QP_ERR_NOMEM, "%s: out of memory for %zu bytes of IDX data", path, nbytes);
        goto done;
    }
    if (have < nbytes) {
        st = truncated(gz, path, "data", nbytes, have);
        free(data);
        goto done;
    }
    swap_to_host(data, numel, item);
    out->dtype = dtype;
    out->shape = shape;
    out->data = data;
    out->nbytes = nbytes;
done:
    gzclose(gz);
    return st;
}

void qp_idx_free(qp_idx *idx) {
    if (!idx) return;
    free(idx->data);
    idx->data = NULL;
    idx->nbytes = 0;
}
