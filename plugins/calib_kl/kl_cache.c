/* kl_cache.c — reads and writes calib_kl's TensorRT-style calibration table (format in kl_cache.h and docs/calibration.md). */
#define _POSIX_C_SOURCE 200809L
#include "kl_cache.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* TensorRT 8.6.1: the version tag of the tables TensorRT 8.6 writes. Readers accept any. */
#define KL_TRT_TAG "TRT-8601-"

uint64_t kl_hash_str(uint64_t h, const char *s) {
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    h ^= 0xff; /* terminator, so ("ab", "c") and ("a", "bc") differ */
    h *= 0x100000001b3ull;
    return h;
}

uint64_t kl_hash_int(uint64_t h, int64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return kl_hash_str(h, buf);
}

const char *kl_cache_algorithm(const char *method) {
    if (strcmp(method, "percentile") == 0) return "PercentileCalibration";
    if (strcmp(method, "mse") == 0) return "MSECalibration";
    return "EntropyCalibration2";
}

void kl_cache_entry_set(kl_cache_entry *e, float lo, float hi, int symmetric) {
    double amax = fmax(fabs((double)lo), fabs((double)hi));
    e->scale = (float)(amax / 127.0);
    e->has_range = !symmetric;
    e->min = symmetric ? 0.0f : lo;
    e->max = symmetric ? 0.0f : hi;
}

void kl_cache_entry_range(const kl_cache_entry *e, float *lo, float *hi) {
    if (e->has_range) {
        *lo = e->min;
        *hi = e->max;
        return;
    }
    float amax = (float)((double)e->scale * 127.0);
    *lo = -amax;
    *hi = amax;
}

int kl_cache_add(kl_cache *c, const char *name, float lo, float hi, int symmetric) {
    kl_cache_entry *grown = realloc(c->entries, (size_t)(c->n_entries + 1) * sizeof *grown);
    if (!grown) return -1;
    c->entries = grown;
    kl_cache_entry *e = &grown[c->n_entries];
    memset(e, 0, sizeof *e);
    size_t len = strlen(name) + 1;
    if (!(e->name = malloc(len))) return -1;
    memcpy(e->name, name, len);
    kl_cache_entry_set(e, lo, hi, symmetric);
    c->n_entries++;
    return 0;
}

void kl_cache_free(kl_cache *c) {
    for (int i = 0; i < c->n_entries; i++)
        free(c->entries[i].name);
    free(c->entries);
    memset(c, 0, sizeof *c);
}

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ---- writing ------------------------------------------------------------------------------------------ */

qp_status kl_cache_write(const char *path, const kl_cache *c) {
    size_t len = strlen(path);
    char *tmp = malloc(len + 32);
    if (!tmp) return qp_error(QP_ERR_NOMEM, "out of memory");
    snprintf(tmp, len + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        qp_status st = qp_error(QP_ERR_IO, "%s: cannot write the calibration cache (as %s): %s", path, tmp,
                                strerror(errno));
        free(tmp);
        return st;
    }
    fprintf(f, "%s%s", KL_TRT_TAG, c->algorithm);
    if (c->has_settings)
        fprintf(f, " qpipe method=%s bins=%d percentile=%.17g spec=%016llx", c->method, c->bins,
                c->percentile, (unsigned long long)c->spec_hash);
    fputc('\n', f);
    for (int i = 0; i < c->n_entries; i++) {
        const kl_cache_entry *e = &c->entries[i];
        fprintf(f, "%s: %08x", e->name, (unsigned)float_bits(e->scale));
        if (e->has_range)
            fprintf(f, " %08x %08x", (unsigned)float_bits(e->min), (unsigned)float_bits(e->max));
        fputc('\n', f);
    }
    int failed = ferror(f);
    failed |= fclose(f) != 0;
    if (failed || rename(tmp, path) != 0) {
        qp_status st =
            qp_error(QP_ERR_IO, "%s: cannot write the calibration cache: %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return QP_OK;
}

/* ---- reading ------------------------------------------------------------------------------------------ */

/* A float32 from its bit pattern in hex (1..8 digits, as TensorRT writes them). */
static int parse_hex_float(const char *s, size_t n, float *out) {
    if (n < 1 || n > 8) return -1;
    uint32_t u = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        int v = isdigit(c)               ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (v < 0) return -1;
        u = (u << 4) | (uint32_t)v;
    }
    memcpy(out, &u, sizeof *out);
    return 0;
}

/* The " qpipe key=value ..." tail of the header. */
static qp_status parse_settings(const char *path, char *s, kl_cache *c) {
    int have = 0;
    for (char *tok = strtok(s, " \t"); tok; tok = strtok(NULL, " \t")) {
        char *eq = strchr(tok, '=');
        if (!eq) return qp_error(QP_ERR_PARSE, "%s:1: expected key=value in the header, got '%s'", path, tok);
        *eq = '\0';
        const char *key = tok, *val = eq + 1;
        char *end = NULL;
        if (strcmp(key, "method") == 0) {
            if (strcmp(val, "kl") && strcmp(val, "percentile") && strcmp(val, "mse"))
                return qp_error(QP_ERR_PARSE, "%s:1: method '%s' is not one of kl, percentile, mse", path,
                                val);
            snprintf(c->method, sizeof c->method, "%s", val);
            have |= 1;
        } else if (strcmp(key, "bins") == 0) {
            long v = strtol(val, &end, 10);
            if (end == val || *end || v < 1 || v > 1 << 20)
                return qp_error(QP_ERR_PARSE, "%s:1: bins=%s is not a bin count", path, val);
            c->bins = (int)v;
            have |= 2;
        } else if (strcmp(key, "percentile") == 0) {
            c->percentile = strtod(val, &end);
            if (end == val || *end || !isfinite(c->percentile))
                return qp_error(QP_ERR_PARSE, "%s:1: percentile=%s is not a number", path, val);
            have |= 4;
        } else if (strcmp(key, "spec") == 0) {
            unsigned long long v = strtoull(val, &end, 16);
            if (end == val || *end || strlen(val) != 16)
                return qp_error(QP_ERR_PARSE, "%s:1: spec=%s is not 16 hex digits", path, val);
            c->spec_hash = v;
            have |= 8;
        } else {
            return qp_error(QP_ERR_PARSE,
                            "%s:1: unknown header key '%s' (known: method, bins, percentile, spec)", path,
                            key);
        }
    }
    if (have != 15)
        return qp_error(QP_ERR_PARSE, "%s:1: the qpipe header needs method, bins, percentile and spec", path);
    c->has_settings = 1;
    return QP_OK;
}

static qp_status parse_header(const char *path, char *line, kl_cache *c) {
    char *p = line;
    int ok = strncmp(p, "TRT-", 4) == 0;
    if (ok) {
        p += 4;
        char *digits = p;
        while (isdigit((unsigned char)*p))
            p++;
        ok = p > digits && *p == '-';
    }
    char *algo = ok ? ++p : NULL;
    if (ok) {
        while (isalnum((unsigned char)*p) || *p == '_')
            p++;
        ok = p > algo && (*p == '\0' || *p == ' ') && (size_t)(p - algo) < sizeof c->algorithm;
    }
    if (!ok)
        return qp_error(
            QP_ERR_PARSE,
            "%s:1: not a calibration table: expected a 'TRT-<version>-<algorithm>' header, got '%.60s'", path,
            line);
    memcpy(c->algorithm, algo, (size_t)(p - algo));
    c->algorithm[p - algo] = '\0';
    if (*p == '\0') return QP_OK;
    p++;
    if (strncmp(p, "qpipe", 5) != 0 || (p[5] != ' ' && p[5] != '\0'))
        return qp_error(QP_ERR_PARSE, "%s:1: unexpected text after the header's algorithm: '%.60s'", path, p);
    return parse_settings(path, p + 5, c);
}

static qp_status parse_entry(const char *path, int line_no, char *line, kl_cache *c) {
    /* The name may itself hold ": " (TensorFlow-style names): the fields follow the last one. */
    char *sep = NULL;
    for (char *p = strstr(line, ": "); p; p = strstr(p + 1, ": "))
        sep = p;
    if (!sep || sep == line)
        return qp_error(QP_ERR_PARSE,
                        "%s:%d: expected '<tensor>: <hex scale>[ <hex min> <hex max>]', got '%.60s'", path,
                        line_no, line);
    *sep = '\0';
    float v[3];
    int n = 0;
    for (char *p = sep + 2;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p) break;
        char *start = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (n == 3 || parse_hex_float(start, (size_t)(p - start), &v[n]) != 0)
            return qp_error(QP_ERR_PARSE,
                            "%s:%d: tensor '%s': expected 1 or 3 float32 hex values (like 3c010a14), "
                            "got '%.40s'",
                            path, line_no, line, sep + 2);
        n++;
    }
    if (n != 1 && n != 3)
        return qp_error(QP_ERR_PARSE, "%s:%d: tensor '%s': expected 1 or 3 float32 hex values, got %d", path,
                        line_no, line, n);
    if (!isfinite(v[0]) || v[0] < 0)
        return qp_error(QP_ERR_PARSE, "%s:%d: tensor '%s': scale %g is not a finite non-negative number",
                        path, line_no, line, (double)v[0]);
    if (n == 3 && (!isfinite(v[1]) || !isfinite(v[2]) || v[1] > v[2]))
        return qp_error(QP_ERR_PARSE, "%s:%d: tensor '%s': range [%g, %g] is not finite and ordered", path,
                        line_no, line, (double)v[1], (double)v[2]);
    for (int i = 0; i < c->n_entries; i++)
        if (strcmp(c->entries[i].name, line) == 0)
            return qp_error(QP_ERR_PARSE, "%s:%d: tensor '%s' is listed twice (first on line %d)", path,
                            line_no, line, c->entries[i].line);
    if (kl_cache_add(c, line, 0, 0, 1) != 0) return qp_error(QP_ERR_NOMEM, "out of memory");
    kl_cache_entry *e = &c->entries[c->n_entries - 1];
    e->scale = v[0];
    e->has_range = n == 3;
    e->min = n == 3 ? v[1] : 0.0f;
    e->max = n == 3 ? v[2] : 0.0f;
    e->line = line_no;
    return QP_OK;
}

qp_status kl_cache_read(const char *path, kl_cache *c) {
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "r");
    if (!f) return qp_error(QP_ERR_IO, "%s: cannot open the calibration cache: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int line_no = 0;
    qp_status st = QP_OK;
    while (st == QP_OK && (len = getline(&line, &cap, f)) >= 0) {
        line_no++;
        if ((size_t)len != strlen(line)) {
            st = qp_error(QP_ERR_PARSE, "%s:%d: NUL byte in a text table", path, line_no);
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (line_no == 1) {
            st = parse_header(path, line, c);
            continue;
        }
        int blank = 1;
        for (ssize_t i = 0; i < len && blank; i++)
            blank = isspace((unsigned char)line[i]) != 0;
        if (!blank) st = parse_entry(path, line_no, line, c);
    }
    if (st == QP_OK && ferror(f)) st = qp_error(QP_ERR_IO, "%s: read error: %s", path, strerror(errno));
    if (st == QP_OK && line_no == 0)
        st = qp_error(QP_ERR_PARSE, "%s:1: empty file, expected a 'TRT-<version>-<algorithm>' header", path);
    free(line);
    fclose(f);
    return st;
}
