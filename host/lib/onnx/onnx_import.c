/* onnx_import.c — ONNX ModelProto/TensorProto (protobuf-c, generated from the system onnx.proto) to the qpipe IR. */
#include "onnx/onnx_import.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx/onnx.pb-c.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnx_import.c copies raw_data (little-endian by the ONNX spec) as is: big-endian hosts need byte swapping"
#endif

/* Protobuf messages cannot exceed 2 GiB; larger models must keep weights in external data. */
#define ONNX_MAX_PROTO_BYTES ((size_t)INT32_MAX)

/* Where initializer k's raw_data lies in the model's bytes (the split path, see split_model). */
typedef struct raw_ref {
    size_t offset, len;
    int present;
} raw_ref;

/* Context of one import: where external data lives, and where raw_data left out of the parsed
 * message lives. */
typedef struct import_ctx {
    const char *base_dir;    /* folder of the model file, or NULL when loaded from memory */
    const uint8_t *bytes;    /* the model's bytes (split path), else NULL */
    const raw_ref *raw;      /* one per graph initializer, in file order, or NULL */
    size_t n_raw;
    int release_pages;       /* bytes is a private read-only file mapping: drop copied pages */
} import_ctx;

/* Drops the whole pages of [p, p + n) from a private read-only file mapping: they were copied,
 * and reading them again would only fault them back in from the page cache. */
static void release_mapped(const uint8_t *p, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t begin = ((uintptr_t)p + page - 1) / page * page, end = ((uintptr_t)p + n) / page * page;
    if (end > begin) madvise((void *)begin, end - begin, MADV_DONTNEED);
}

static char *dup_bytes(const void *bytes, size_t n) {
    char *out = malloc(n + 1);
    if (!out) return NULL;
    if (n) memcpy(out, bytes, n);
    out[n] = '\0';
    return out;
}

static char *dup_str(const char *s) { return dup_bytes(s ? s : "", s ? strlen(s) : 0); }

/* ONNX dtype enum -> qp_dtype. Newer ONNX types (float8, int4, ...) and complex/string are
 * valid ONNX that qpipe does not hold; anything else is a corrupt or future file. */
static qp_status dtype_from_onnx(int32_t onnx_type, const char *what, qp_dtype *out) {
    switch (onnx_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: case ONNX__TENSOR_PROTO__DATA_TYPE__STRING:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16:
        *out = (qp_dtype)onnx_type;
        return QP_OK;
    case ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX64:
        return qp_error(QP_ERR_UNSUPPORTED, "%s has dtype complex64, which qpipe does not support", what);
    case ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX128:
        return qp_error(QP_ERR_UNSUPPORTED, "%s has dtype complex128, which qpipe does not support", what);
    case 17: case 18: case 19: case 20:
        return qp_error(QP_ERR_UNSUPPORTED, "%s has a float8 dtype (ONNX enum %d), which qpipe does not support",
                        what, (int)onnx_type);
    case 21: case 22: case 23: case 24: case 25:
        return qp_error(QP_ERR_UNSUPPORTED,
                        "%s has a 4-bit or newer dtype (ONNX enum %d), which qpipe does not support",
                        what, (int)onnx_type);
    case ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED:
        return qp_error(QP_ERR_INVALID_MODEL, "%s: wrong dtype: data_type is UNDEFINED (0)", what);
    default:
        return qp_error(QP_ERR_INVALID_MODEL, "%s: wrong dtype: unknown data_type enum %d", what,
                        (int)onnx_type);
    }
}

/* ---- external data ------------------------------------------------------------------------ */

/* A location may name a file in the model's folder or below it: absolute paths and ".." steps
 * that climb above the folder are refused so a model cannot read arbitrary files. */
static qp_status check_external_location(const char *location, const char *what) {
    if (!location[0])
        return qp_error(QP_ERR_INVALID_MODEL, "%s: external data has an empty 'location'", what);
    if (location[0] == '/' || location[0] == '\\' || (location[0] && location[1] == ':'))
        return qp_error(QP_ERR_INVALID_MODEL,
                        "%s: external data location '%s' is an absolute path; only paths relative "
                        "to the model's folder are allowed", what, location);
    int depth = 0;
    const char *p = location;
    while (*p) {
        const char *end = p;
        while (*end && *end != '/' && *end != '\\') end++;
        size_t len = (size_t)(end - p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (--depth < 0)
                return qp_error(QP_ERR_INVALID_MODEL,
                                "%s: external data location '%s' escapes the model's folder "
                                "('..'); only paths inside the model's folder are allowed",
                                what, location);
        } else if (len > 0 && !(len == 1 && p[0] == '.')) {
            depth++;
        }
        p = *end ? end + 1 : end;
    }
    return QP_OK;
}

static qp_status parse_external_int(const char *key, const char *value, const char *what,
                                    int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(value ? value : "", &end, 10);
    if (!value || !value[0] || *end || errno || v < 0)
        return qp_error(QP_ERR_INVALID_MODEL,
                        "%s: external data '%s' is '%s'; a non-negative integer is required", what,
                        key, value ? value : "");
    *out = v;
    return QP_OK;
}

static qp_status read_external(const Onnx__TensorProto *tp, const import_ctx *ctx,
                               const char *what, size_t expected, void **out) {
    const char *location = NULL;
    int64_t offset = 0, length = -1;
    for (size_t k = 0; k < tp->n_external_data; k++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[k];
        const char *key = e->key ? e->key : "";
        qp_status st = QP_OK;
        if (strcmp(key, "location") == 0)
            location = e->value ? e->value : "";
        else if (strcmp(key, "offset") == 0)
            st = parse_external_int(key, e->value, what, &offset);
        else if (strcmp(key, "length") == 0)
            st = parse_external_int(key, e->value, what, &length);
        /* "checksum" and unknown keys carry nothing we need. */
        if (st != QP_OK) return st;
    }
    if (!location)
        return qp_error(QP_ERR_INVALID_MODEL,
                        "%s: data_location is EXTERNAL but external_data has no 'location'", what);
    qp_status st = check_external_location(location, what);
    if (st != QP_OK) return st;
    if (!ctx->base_dir)
        return qp_error(QP_ERR_INVALID_ARG,
                        "%s: external data '%s' cannot be resolved: the model was loaded from memory "
                        "without a base folder", what, location);
    if (length >= 0 && (uint64_t)length != expected)
        return qp_error(QP_ERR_INVALID_MODEL,
                        "%s: wrong dtype/size: external data length is %" PRId64
                        " bytes, expected %zu", what, length, expected);

    size_t path_len = strlen(ctx->base_dir) + strlen(location) + 2;
    char *path = malloc(path_len);
    if (!path) return qp_error(QP_ERR_NOMEM, "%s: out of memory", what);
    snprintf(path, path_len, "%s/%s", ctx->base_dir, location);
    FILE *f = fopen(path, "rb");
    if (!f) {
        st = qp_error(QP_ERR_IO, "%s: cannot open external data file '%s': %s", what, path,
                      strerror(errno));
        free(path);
        return st;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = qp_error(QP_ERR_IO, "%s: external data '%s' is not a regular file", what, path);
    } else if ((uint64_t)offset > (uint64_t)sb.st_size ||
               (uint64_t)sb.st_size - (uint64_t)offset < expected) {
        st = qp_error(QP_ERR_INVALID_MODEL,
                      "%s: external data file '%s' holds %lld bytes, too few for %zu bytes at "
                      "offset %" PRId64, what, path, (long long)sb.st_size, expected, offset);
    } else {
        void *buf = malloc(expected ? expected : 1);
        if (!buf) {
            st = qp_error(QP_ERR_NOMEM, "%s: out of memory reading %zu bytes of external data",
                          what, expected);
        } else if (fseeko(f, (off_t)offset, SEEK_SET) != 0 ||
                   fread(buf, 1, expected, f) != expected) {
            free(buf);
            st = qp_error(QP_ERR_IO, "%s: cannot read external data file '%s'", what, path);
        } else {
            *out = buf;
        }
    }
    fclose(f);
    free(path);
    return st;
}

/* ---- tensors ------------------------------------------------------------------------------ */

/* Names the typed fields that hold values, for messages about data in the wrong field. */
static const char *filled_fields(const Onnx__TensorProto *tp, char *buf, size_t cap) {
    const struct { size_t n; const char *name; } fields[] = {
        {tp->n_float_data, "float_data"}, {tp->n_int32_data, "int32_data"},
        {tp->n_int64_data, "int64_data"}, {tp->n_double_data, "double_data"},
        {tp->n_uint64_data, "uint64_data"}, {tp->n_string_data, "string_data"},
    };
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0] && used < cap; i++)
        if (fields[i].n)
            used += (size_t)snprintf(buf + used, cap - used, "%s%s (%zu)", used ? ", " : "",
                                     fields[i].name, fields[i].n);
    return buf;
}

static qp_status typed_count_check(const Onnx__TensorProto *tp, size_t have, int64_t numel,
                                   const char *field, const char *what) {
    if (have == (size_t)numel) return QP_OK;
    char others[200];
    if (have == 0 && filled_fields(tp, others, sizeof others)[0])
        return qp_error(QP_ERR_INVALID_MODEL,
                        "%s: wrong dtype/size: %" PRId64 " values expected in %s, but the tensor "
                        "holds %s", what, numel, field, others);
    if (have == 0)
        return qp_error(QP_ERR_INVALID_MODEL,
                        "%s: wrong dtype/size: no data (expected %" PRId64 " values in %s or "
                        "raw_data)", what, numel, field);
    return qp_error(QP_ERR_INVALID_MODEL,
                    "%s: wrong dtype/size: %s holds %zu values, expected %" PRId64, what, field,
                    have, numel);
}

/* int32_data carries every type narrower than 32 bits (float16/bfloat16 as their bit pattern):
 * values must fit the declared type, or the file is lying about its dtype. */
static qp_status narrow_from_int32(const Onnx__TensorProto *tp, qp_dtype dtype, int64_t numel,
                                   void *dst, const char *what) {
    int64_t lo, hi;
    switch (dtype) {
    case QP_DT_INT8: lo = INT8_MIN; hi = INT8_MAX; break;
    case QP_DT_UINT8: lo = 0; hi = UINT8_MAX; break;
    case QP_DT_INT16: lo = INT16_MIN; hi = INT16_MAX; break;
    case QP_DT_UINT16: case QP_DT_FLOAT16: case QP_DT_BFLOAT16: lo = 0; hi = UINT16_MAX; break;
    case QP_DT_BOOL: lo = 0; hi = 1; break;
    default: lo = INT32_MIN; hi = INT32_MAX; break;
    }
    for (int64_t i = 0; i < numel; i++) {
        int32_t v = tp->int32_data[i];
        if (v < lo || v > hi)
            return qp_error(QP_ERR_INVALID_MODEL,
                            "%s: wrong dtype/size: int32_data[%" PRId64 "] = %d does not fit %s",
                            what, i, (int)v, qp_dtype_name(dtype));
        switch (qp_dtype_size(dtype)) {
        case 1: ((uint8_t *)dst)[i] = (uint8_t)v; break;
        case 2: ((uint16_t *)dst)[i] = (uint16_t)v; break;
        default: ((int32_t *)dst)[i] = v; break;
        }
    }
    return QP_OK;
}

/* Converts a TensorProto: dtype, shape and a malloc'd little-endian copy of its data (never
 * NULL, even for empty tensors, so "has data" and "is constant" stay the same test). With
 * steal, raw_data's buffer is moved out of the message (which must come from an unpack with
 * the default allocator) instead of copied. */
static qp_status tensor_from_proto(Onnx__TensorProto *tp, const import_ctx *ctx, int steal,
                                   const char *what, qp_dtype *dtype_out, qp_shape *shape_out,
                                   void **data_out, size_t *nbytes_out) {
    qp_dtype dtype;
    if (!tp->has_data_type)
        return qp_error(QP_ERR_INVALID_MODEL, "%s: wrong dtype: data_type is missing", what);
    qp_status st = dtype_from_onnx(tp->data_type, what, &dtype);
    if (st != QP_OK) return st;
    if (dtype == QP_DT_STRING)
        return qp_error(QP_ERR_UNSUPPORTED,
                        "%s has dtype string; qpipe supports numeric and bool tensors only", what);
    if (tp->segment)
        return qp_error(QP_ERR_UNSUPPORTED, "%s is a segment of a larger tensor, which qpipe does "
                        "not support", what);
    if (tp->n_dims > QP_MAX_RANK)
        return qp_error(QP_ERR_UNSUPPORTED, "%s has rank %zu; qpipe supports rank <= %d", what,
                        tp->n_dims, QP_MAX_RANK);
    qp_shape shape = {.rank = (int)tp->n_dims};
    size_t esize = qp_dtype_size(dtype);
    uint64_t numel = 1;
    for (size_t d = 0; d < tp->n_dims; d++) {
        if (tp->dims[d] < 0)
            return qp_error(QP_ERR_INVALID_MODEL, "%s: dimension %zu is negative (%" PRId64 ")",
                            what, d, tp->dims[d]);
        shape.dims[d] = tp->dims[d];
        if (tp->dims[d] && numel > (uint64_t)INT64_MAX / esize / (uint64_t)tp->dims[d])
            return qp_error(QP_ERR_INVALID_MODEL, "%s: element count overflows", what);
        numel *= (uint64_t)tp->dims[d];
    }
    if (numel > SIZE_MAX / esize)
        return qp_error(QP_ERR_NOMEM, "%s: %" PRIu64 " elements do not fit in memory", what, numel);
    size_t nbytes = (size_t)numel * esize;
    char shape_buf[128];
    qp_shape_str(&shape, shape_buf, sizeof shape_buf);

    void *data = NULL;
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        st = read_external(tp, ctx, what, nbytes, &data);
        if (st != QP_OK) return st;
    } else if (tp->has_raw_data) {
        if (tp->raw_data.len != nbytes)
            return qp_error(QP_ERR_INVALID_MODEL,
                            "%s (%s %s): wrong dtype/size: raw_data holds %zu bytes, expected %zu "
                            "(%" PRIu64 " elements x %zu bytes)", what, qp_dtype_name(dtype),
                            shape_buf, tp->raw_data.len, nbytes, numel, esize);
        if (nbytes && steal) {
            /* protobuf-c with the default allocator gives each bytes field its own malloc'd
             * block: taking it saves a copy of every weight (peak memory on big models). */
            data = tp->raw_data.data;
            tp->raw_data.data = NULL;
            tp->raw_data.len = 0;
            tp->has_raw_data = 0;
        } else {
            data = malloc(nbytes ? nbytes : 1);
            if (!data) return qp_error(QP_ERR_NOMEM, "%s: out of memory (%zu bytes)", what, nbytes);
            if (nbytes) memcpy(data, tp->raw_data.data, nbytes);
        }
    } else {
        int64_t n = (int64_t)numel;
        char field_what[600];
        snprintf(field_what, sizeof field_what, "%s (%s %s)", what, qp_dtype_name(dtype), shape_buf);
        /* Which typed field carries this dtype (onnx.proto's comments on each field). */
        size_t have;
        const char *field;
        switch (dtype) {
        case QP_DT_FLOAT: have = tp->n_float_data; field = "float_data"; break;
        case QP_DT_DOUBLE: have = tp->n_double_data; field = "double_data"; break;
        case QP_DT_INT64: have = tp->n_int64_data; field = "int64_data"; break;
        case QP_DT_UINT32: case QP_DT_UINT64: have = tp->n_uint64_data; field = "uint64_data"; break;
        default: have = tp->n_int32_data; field = "int32_data"; break; /* int32 and narrower */
        }
        /* Count first, so a lying header cannot make us allocate before it is caught. */
        st = typed_count_check(tp, have, n, field, field_what);
        if (st != QP_OK) return st;
        data = malloc(nbytes ? nbytes : 1);
        if (!data) return qp_error(QP_ERR_NOMEM, "%s: out of memory (%zu bytes)", what, nbytes);
        switch (dtype) {
        case QP_DT_FLOAT: if (n) memcpy(data, tp->float_data, nbytes); break;
        case QP_DT_DOUBLE: if (n) memcpy(data, tp->double_data, nbytes); break;
        case QP_DT_INT64: if (n) memcpy(data, tp->int64_data, nbytes); break;
        case QP_DT_UINT64: if (n) memcpy(data, tp->uint64_data, nbytes); break;
        case QP_DT_UINT32:
            for (int64_t i = 0; st == QP_OK && i < n; i++) {
                if (tp->uint64_data[i] > UINT32_MAX)
                    st = qp_error(QP_ERR_INVALID_MODEL, "%s: wrong dtype/size: uint64_data[%" PRId64
                                  "] does not fit uint32", field_what, i);
                else
                    ((uint32_t *)data)[i] = (uint32_t)tp->uint64_data[i];
            }
            break;
        default: st = narrow_from_int32(tp, dtype, n, data, field_what); break;
        }
        if (st != QP_OK) {
            free(data);
            return st;
        }
    }
    *dtype_out = dtype;
    *shape_out = shape;
    *data_out = data;
    *nbytes_out = nbytes;
    return QP_OK;
}

/* ---- value infos (graph inputs, outputs, value_info) --------------------------------------- */

/* Applies a ValueInfo's tensor type to t: dims with dim_value stay, dim_param and unset dims
 * become -1 (dim_param names kept for display). A missing shape leaves the rank unknown. */
static qp_status apply_value_info(qp_tensor *t, const Onnx__ValueInfoProto *vi, const char *role) {
    const Onnx__TypeProto *type = vi->type;
    if (!type || type->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET) return QP_OK;
    if (type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
        const char *kind = type->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE ? "sequence"
                           : type->value_case == ONNX__TYPE_PROTO__VALUE_MAP_TYPE      ? "map"
                           : type->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE ? "optional"
                           : type->value_case == ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE
                               ? "sparse tensor" : "non-tensor";
        return qp_error(QP_ERR_UNSUPPORTED, "%s '%s' has type %s; qpipe supports dense tensors only",
                        role, t->name, kind);
    }
    const Onnx__TypeProto__Tensor *tt = type->tensor_type;
    if (!tt) return QP_OK;
    char what[512];
    snprintf(what, sizeof what, "%s '%s'", role, t->name);
    if (tt->has_elem_type && tt->elem_type != 0) {
        qp_dtype dtype;
        qp_status st = dtype_from_onnx(tt->elem_type, what, &dtype);
        if (st != QP_OK) return st;
        t->dtype = dtype;
    }
    if (!tt->shape) return QP_OK;
    if (tt->shape->n_dim > QP_MAX_RANK)
        return qp_error(QP_ERR_UNSUPPORTED, "%s has rank %zu; qpipe supports rank <= %d", what,
                        tt->shape->n_dim, QP_MAX_RANK);
    qp_shape shape = {.rank = (int)tt->shape->n_dim};
    for (int d = 0; d < shape.rank; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
        free(t->dim_param[d]);
        t->dim_param[d] = NULL;
        shape.dims[d] = -1;
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (dim->dim_value >= 0) shape.dims[d] = dim->dim_value;
        } else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM &&
                   dim->dim_param && dim->dim_param[0]) {
            t->dim_param[d] = dup_str(dim->dim_param);
            if (!t->dim_param[d]) return qp_error(QP_ERR_NOMEM, "out of memory reading %s", what);
        }
    }
    t->shape = shape;
    return QP_OK;
}

/* ---- attributes --------------------------------------------------------------------------- */

/* Old exporters leave AttributeProto.type unset: infer it from the field that holds a value. */
static Onnx__AttributeProto__AttributeType attr_type_of(const Onnx__AttributeProto *a) {
    if (a->has_type) return a->type;
    if (a->has_f) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (a->has_i) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (a->has_s) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (a->t) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (a->g) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (a->sparse_tensor) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR;
    if (a->tp) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO;
    if (a->n_floats) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (a->n_ints) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (a->n_strings) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    if (a->n_tensors) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS;
    if (a->n_graphs) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS;
    if (a->n_sparse_tensors) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS;
    if (a->n_type_protos) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

static qp_status convert_attr(qp_node *node, const Onnx__AttributeProto *a, const import_ctx *ctx,
                              const char *node_what) {
    const char *name = a->name ? a->name : "";
    char what[700];
    snprintf(what, sizeof what, "%s attribute '%s'", node_what, name);
    if (!name[0]) return qp_error(QP_ERR_INVALID_MODEL, "%s has an attribute without a name", node_what);
    Onnx__AttributeProto__AttributeType type = attr_type_of(a);
    if (type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR && strcmp(node->op_type, "Constant") == 0)
        return qp_error(QP_ERR_UNSUPPORTED, "%s: sparse tensor constants are not supported", what);
    if (a->ref_attr_name && a->ref_attr_name[0])
        return qp_error(QP_ERR_UNSUPPORTED, "%s refers to function attribute '%s', which is only "
                        "valid inside functions", what, a->ref_attr_name);
    qp_attr *attr = qp_node_add_attr(node, name, (qp_attr_type)type);
    if (!attr) return qp_error(QP_ERR_NOMEM, "out of memory reading %s", what);
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: attr->f = a->f; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: attr->i = a->i; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        attr->s = dup_bytes(a->s.data, a->s.len);
        attr->s_len = a->s.len;
        if (!attr->s) return qp_error(QP_ERR_NOMEM, "out of memory reading %s", what);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        if (a->n_floats > INT_MAX) return qp_error(QP_ERR_UNSUPPORTED, "%s is too long", what);
        attr->floats = malloc((a->n_floats ? a->n_floats : 1) * sizeof(float));
        if (!attr->floats) return qp_error(QP_ERR_NOMEM, "out of memory reading %s", what);
        if (a->n_floats) memcpy(attr->floats, a->floats, a->n_floats * sizeof(float));
        attr->n = (int)a->n_floats;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        if (a->n_ints > INT_MAX) return qp_error(QP_ERR_UNSUPPORTED, "%s is too long", what);
        attr->ints = malloc((a->n_ints ? a->n_ints : 1) * sizeof(int64_t));
        if (!attr->ints) return qp_error(QP_ERR_NOMEM, "out of memory reading %s", what);
        if (a->n_ints) memcpy(attr->ints, a->ints, a->n_ints * sizeof(int64_t));
        attr->n = (int)a->n_ints;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        if (a->n_strings > INT_MAX) return qp_error(QP_ERR_UNSUPPORTED, "%s is too long", what);
        attr->strings = calloc(a->n_strings ? a->n_strings : 1, sizeof(char *));
        if (!attr->strings) return qp_error(QP_ERR_NOMEM, "out of memory reading %s", what);
        for (size_t k = 0; k < a->n_strings; k++) {
            attr->strings[k] = dup_bytes(a->strings[k].data, a->strings[k].len);
            attr->n = (int)k + 1; /* so qp_graph_free releases what was copied so far */
            if (!attr->strings[k]) return qp_error(QP_ERR_NOMEM, "out of memory reading %s", what);
        }
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
        if (!a->t) return qp_error(QP_ERR_INVALID_MODEL, "%s is a tensor attribute without a tensor", what);
        qp_attr_tensor *t = calloc(1, sizeof *t);
        if (!t) return qp_error(QP_ERR_NOMEM, "out of memory reading %s", what);
        qp_status st = tensor_from_proto(a->t, ctx, 1, what, &t->dtype, &t->shape, &t->data, &t->nbytes);
        if (st != QP_OK) {
            free(t);
            return st;
        }
        attr->t = t;
        break;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED:
        return qp_error(QP_ERR_INVALID_MODEL, "%s has no type and no value", what);
    default:
        /* Subgraphs, tensor lists, sparse tensors and type protos: only the type is kept; the ops
         * that take them (If, Loop, Scan, ...) are not implemented, and the op check names them. */
        break;
    }
    return QP_OK;
}

/* ---- graph -------------------------------------------------------------------------------- */

static qp_status append_id(int **ids, int *n, int id) {
    int *grown = realloc(*ids, (size_t)(*n + 1) * sizeof *grown);
    if (!grown) return qp_error(QP_ERR_NOMEM, "out of memory");
    grown[(*n)++] = id;
    *ids = grown;
    return QP_OK;
}

static qp_status add_tensor_id(qp_graph *g, const char *name, int *id) {
    *id = qp_graph_get_or_add_tensor(g, name);
    return *id < 0 ? QP_ERR_NOMEM : QP_OK;
}

static qp_status convert_node(qp_graph *g, const Onnx__NodeProto *np, int index,
                              const import_ctx *ctx) {
    char what[600];
    if (np->name && np->name[0])
        snprintf(what, sizeof what, "node '%s' (%s)", np->name, np->op_type ? np->op_type : "?");
    else
        snprintf(what, sizeof what, "node #%d (%s)", index, np->op_type ? np->op_type : "?");
    if (!np->op_type || !np->op_type[0])
        return qp_error(QP_ERR_INVALID_MODEL, "%s has no op_type", what);
    if (np->n_input > INT_MAX / 2 || np->n_output > INT_MAX / 2)
        return qp_error(QP_ERR_INVALID_MODEL, "%s has too many inputs or outputs", what);
    int *ids = malloc((np->n_input + np->n_output + 1) * sizeof *ids);
    if (!ids) return qp_error(QP_ERR_NOMEM, "out of memory reading %s", what);
    qp_status st = QP_OK;
    for (size_t k = 0; st == QP_OK && k < np->n_input; k++) {
        ids[k] = -1;
        if (np->input[k] && np->input[k][0]) st = add_tensor_id(g, np->input[k], &ids[k]);
    }
    int *out_ids = ids + np->n_input;
    for (size_t k = 0; st == QP_OK && k < np->n_output; k++) {
        out_ids[k] = -1;
        if (np->output[k] && np->output[k][0]) st = add_tensor_id(g, np->output[k], &out_ids[k]);
    }
    int node_id = -1;
    if (st == QP_OK) {
        node_id = qp_graph_add_node(g, np->name, np->op_type, np->domain, ids, (int)np->n_input,
                                    out_ids, (int)np->n_output);
        if (node_id < 0) st = QP_ERR_NOMEM;
    }
    free(ids);
    /* Attributes go in right away: the node array may move on the next qp_graph_add_node. */
    for (size_t k = 0; st == QP_OK && k < np->n_attribute; k++)
        st = convert_attr(&g->nodes[node_id], np->attribute[k], ctx, what);
    return st;
}

static qp_status convert_graph(const Onnx__ModelProto *mp, const import_ctx *ctx, qp_graph *g) {
    const Onnx__GraphProto *gp = mp->graph;
    qp_status st;

    g->ir_version = mp->has_ir_version ? mp->ir_version : 0;
    g->producer_name = dup_str(mp->producer_name);
    g->name = dup_str(gp->name);
    if (!g->producer_name || !g->name) return qp_error(QP_ERR_NOMEM, "out of memory");
    if (mp->n_opset_import) {
        g->opsets = calloc(mp->n_opset_import, sizeof *g->opsets);
        if (!g->opsets) return qp_error(QP_ERR_NOMEM, "out of memory");
        for (size_t k = 0; k < mp->n_opset_import; k++) {
            const Onnx__OperatorSetIdProto *op = mp->opset_import[k];
            const char *domain = op->domain && strcmp(op->domain, "ai.onnx") != 0 ? op->domain : "";
            g->opsets[k].domain = dup_str(domain);
            g->opsets[k].version = op->has_version ? op->version : 0;
            g->n_opsets = (int)k + 1;
            if (!g->opsets[k].domain) return qp_error(QP_ERR_NOMEM, "out of memory");
        }
    }

    for (size_t k = 0; k < gp->n_initializer; k++) {
        Onnx__TensorProto *tp = gp->initializer[k];
        if (!tp->name || !tp->name[0])
            return qp_error(QP_ERR_INVALID_MODEL, "initializer #%zu has no name", k);
        if (qp_graph_find_tensor(g, tp->name) >= 0)
            return qp_error(QP_ERR_INVALID_MODEL, "initializer '%s' is listed twice", tp->name);
        char what[600];
        snprintf(what, sizeof what, "initializer '%s'", tp->name);
        qp_dtype dtype;
        qp_shape shape;
        void *data;
        size_t nbytes;
        const raw_ref *raw = ctx->raw && k < ctx->n_raw && ctx->raw[k].present ? &ctx->raw[k] : NULL;
        if (raw) { /* the split path: raw_data lies in the file, lent to the message for this call */
            tp->has_raw_data = 1;
            tp->raw_data.data = (uint8_t *)ctx->bytes + raw->offset;
            tp->raw_data.len = raw->len;
        }
        st = tensor_from_proto(tp, ctx, !raw, what, &dtype, &shape, &data, &nbytes);
        if (raw) {
            tp->has_raw_data = 0; /* not the message's to free */
            tp->raw_data.data = NULL;
            tp->raw_data.len = 0;
            if (ctx->release_pages) release_mapped(ctx->bytes + raw->offset, raw->len);
        }
        if (st != QP_OK) return st;
        int id = qp_graph_get_or_add_tensor(g, tp->name);
        if (id < 0) {
            free(data);
            return QP_ERR_NOMEM;
        }
        qp_tensor_set_data(g->tensors[id], dtype, &shape, data, nbytes);
    }
    if (gp->n_sparse_initializer)
        return qp_error(QP_ERR_UNSUPPORTED, "sparse initializer '%s' is not supported",
                        gp->sparse_initializer[0]->values && gp->sparse_initializer[0]->values->name
                            ? gp->sparse_initializer[0]->values->name : "?");

    for (size_t k = 0; k < gp->n_input; k++) {
        const Onnx__ValueInfoProto *vi = gp->input[k];
        if (!vi->name || !vi->name[0])
            return qp_error(QP_ERR_INVALID_MODEL, "graph input #%zu has no name", k);
        int id = qp_graph_find_tensor(g, vi->name);
        /* Exporters for IR < 4 list every initializer as an input too: it stays an initializer. */
        if (id >= 0 && g->tensors[id]->is_initializer) continue;
        if (id >= 0)
            return qp_error(QP_ERR_INVALID_MODEL, "graph input '%s' is listed twice", vi->name);
        st = add_tensor_id(g, vi->name, &id);
        if (st != QP_OK) return st;
        qp_tensor *t = g->tensors[id];
        t->is_graph_input = 1;
        st = apply_value_info(t, vi, "graph input");
        if (st == QP_OK) st = append_id(&g->inputs, &g->n_inputs, id);
        if (st != QP_OK) return st;
    }

    for (size_t k = 0; k < gp->n_node; k++) {
        st = convert_node(g, gp->node[k], (int)k, ctx);
        if (st != QP_OK) return st;
    }

    for (size_t k = 0; k < gp->n_output; k++) {
        const Onnx__ValueInfoProto *vi = gp->output[k];
        if (!vi->name || !vi->name[0])
            return qp_error(QP_ERR_INVALID_MODEL, "graph output #%zu has no name", k);
        int id;
        st = add_tensor_id(g, vi->name, &id);
        if (st != QP_OK) return st;
        qp_tensor *t = g->tensors[id];
        if (!t->is_initializer && !t->is_graph_input && !t->is_graph_output) {
            st = apply_value_info(t, vi, "graph output");
            if (st != QP_OK) return st;
        }
        t->is_graph_output = 1; /* finalize sets it too; value_info below must not override */
        st = append_id(&g->outputs, &g->n_outputs, id);
        if (st != QP_OK) return st;
    }

    /* value_info only annotates tensors the nodes use; an entry for an unknown name is ignored
     * rather than creating a tensor nobody produces. Non-tensor annotations are skipped too:
     * they only matter to ops qpipe does not implement. */
    for (size_t k = 0; k < gp->n_value_info; k++) {
        const Onnx__ValueInfoProto *vi = gp->value_info[k];
        int id = vi->name ? qp_graph_find_tensor(g, vi->name) : -1;
        if (id < 0) continue;
        qp_tensor *t = g->tensors[id];
        if (t->is_initializer || t->is_graph_input || t->is_graph_output) continue;
        if (vi->type && vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) continue;
        st = apply_value_info(t, vi, "value_info");
        if (st != QP_OK) return st;
    }
    return qp_graph_finalize(g);
}

/* ---- the split path: weights copied once, straight from the file ---------------------------
 * protobuf-c copies every bytes field while it unpacks, so a plain unpack holds the file (mapped
 * or read) and a second copy of every weight at once: the import, not the engine, set qpipe's
 * peak memory. Instead a small wire-format walk copies the model without the initializers'
 * raw_data payloads (ModelProto.graph -> GraphProto.initializer -> TensorProto.raw_data, fields
 * 7, 5, 9), protobuf-c unpacks that stripped copy (a few KiB), and each initializer's data is
 * copied once from the original bytes into the IR; from a file mapping, the copied pages are
 * dropped right away. Anything the walk does not expect (groups, a repeated graph or raw_data,
 * a malformed length) makes it give up, and the plain unpack runs, so errors and results on odd
 * files are the plain path's. */

enum { WIRE_MODEL = 0, WIRE_GRAPH = 1, WIRE_TENSOR = 2 };
enum { FIELD_MODEL_GRAPH = 7, FIELD_GRAPH_INITIALIZER = 5, FIELD_TENSOR_RAW_DATA = 9 };

typedef struct wire_split {
    const uint8_t *base;
    raw_ref *raw;        /* grown per initializer */
    size_t n_raw, cap_raw;
    int n_graphs;
} wire_split;

static int wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        const uint8_t byte = *(*p)++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

static size_t varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *out, uint64_t v) {
    while (v >= 0x80) {
        *out++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *out++ = (uint8_t)v;
    return out;
}

/* Copies message [p, end) at `level` without initializers' raw_data into out (NULL: only
 * measures); *size gets the stripped size. Records raw refs when out is set. 0 = give up. */
static int wire_strip(wire_split *ws, const uint8_t *p, const uint8_t *end, int level, uint8_t *out,
                      size_t *size) {
    size_t used = 0;
    int seen_raw = 0;
    while (p < end) {
        const uint8_t *field_start = p;
        uint64_t tag, len = 0;
        if (!wire_varint(&p, end, &tag) || tag > UINT32_MAX || (tag >> 3) == 0) return 0;
        const size_t tag_bytes = (size_t)(p - field_start);
        const uint32_t field = (uint32_t)(tag >> 3), wt = (uint32_t)(tag & 7);
        switch (wt) {
        case 0: if (!wire_varint(&p, end, &len)) return 0; break;
        case 1: if (end - p < 8) return 0; p += 8; break;
        case 5: if (end - p < 4) return 0; p += 4; break;
        case 2:
            if (!wire_varint(&p, end, &len) || len > (uint64_t)(end - p)) return 0;
            break;
        default: return 0; /* groups (3, 4) and invalid wire types: the plain path decides */
        }
        if (wt != 2) {
            if (out) memcpy(out + used, field_start, (size_t)(p - field_start));
            used += (size_t)(p - field_start);
            continue;
        }
        const uint8_t *payload = p;
        p += len;
        const int sub = level == WIRE_MODEL && field == FIELD_MODEL_GRAPH        ? WIRE_GRAPH
                        : level == WIRE_GRAPH && field == FIELD_GRAPH_INITIALIZER ? WIRE_TENSOR
                                                                                  : -1;
        if (level == WIRE_TENSOR && field == FIELD_TENSOR_RAW_DATA) {
            if (seen_raw++) return 0; /* a repeated raw_data: the last one wins; leave it to protobuf-c */
            if (out) {
                raw_ref *r = &ws->raw[ws->n_raw - 1];
                *r = (raw_ref){(size_t)(payload - ws->base), (size_t)len, 1};
            }
            continue;
        }
        if (sub < 0) { /* any other field is copied as is */
            if (out) memcpy(out + used, field_start, (size_t)(p - field_start));
            used += (size_t)(p - field_start);
            continue;
        }
        if (sub == WIRE_GRAPH && out && ws->n_graphs++) return 0; /* a repeated graph merges: plain path */
        if (sub == WIRE_TENSOR && out) {
            if (ws->n_raw == ws->cap_raw) {
                size_t cap = ws->cap_raw ? ws->cap_raw * 2 : 64;
                raw_ref *grown = realloc(ws->raw, cap * sizeof *grown);
                if (!grown) return 0;
                ws->raw = grown;
                ws->cap_raw = cap;
            }
            ws->raw[ws->n_raw++] = (raw_ref){0, 0, 0};
        }
        size_t inner = 0;
        if (!wire_strip(ws, payload, payload + len, sub, NULL, &inner)) return 0;
        if (out) {
            memcpy(out + used, field_start, tag_bytes); /* the tag as written, then the new length */
            uint8_t *q = put_varint(out + used + tag_bytes, inner);
            if (!wire_strip(ws, payload, payload + len, sub, q, &inner)) return 0;
        }
        used += tag_bytes + varint_size(inner) + inner;
    }
    *size = used;
    return 1;
}

/* The stripped model and the raw refs, or 0 when the walk gave up (or out of memory). */
static int split_model(const uint8_t *bytes, size_t n, uint8_t **stripped, size_t *n_stripped, raw_ref **raw,
                       size_t *n_raw) {
    wire_split ws = {.base = bytes};
    size_t size = 0;
    if (!wire_strip(&ws, bytes, bytes + n, WIRE_MODEL, NULL, &size)) return 0;
    uint8_t *out = malloc(size ? size : 1);
    if (!out) return 0;
    size_t written = 0;
    if (!wire_strip(&ws, bytes, bytes + n, WIRE_MODEL, out, &written) || written != size) {
        free(out);
        free(ws.raw);
        return 0;
    }
    *stripped = out;
    *n_stripped = size;
    *raw = ws.raw;
    *n_raw = ws.n_raw;
    return 1;
}

/* Unpacks the model and converts it, through the stripped copy when split_model understands the
 * file (else the plain unpack). */
static qp_status load_parsed(const uint8_t *bytes, size_t n, const char *base_dir, const char *name,
                             int release_pages, qp_graph **out) {
    uint8_t *stripped = NULL;
    size_t n_stripped = 0, n_raw = 0;
    raw_ref *raw = NULL;
    Onnx__ModelProto *mp = NULL;
    if (split_model(bytes, n, &stripped, &n_stripped, &raw, &n_raw)) {
        mp = onnx__model_proto__unpack(NULL, n_stripped, stripped);
        free(stripped);
        if (mp && (!mp->graph || mp->graph->n_initializer != n_raw)) {
            onnx__model_proto__free_unpacked(mp, NULL);
            mp = NULL;
        }
        if (!mp) { /* the plain path reports what is wrong */
            free(raw);
            raw = NULL;
            n_raw = 0;
        } else if (release_pages) {
            release_mapped(bytes, n); /* the walk's page faults; each weight is read once below */
        }
    }
    if (!mp) mp = onnx__model_proto__unpack(NULL, n, bytes);
    if (!mp) {
        free(raw);
        return qp_error(QP_ERR_PARSE, "%s: not a valid ONNX model (truncated or corrupt protobuf)", name);
    }
    if (!mp->graph) {
        onnx__model_proto__free_unpacked(mp, NULL);
        free(raw);
        return qp_error(QP_ERR_INVALID_MODEL,
                        "%s: missing graph: the file parses as protobuf but holds no ONNX graph "
                        "(not an ONNX model, or truncated)", name);
    }
    qp_graph *g = qp_graph_new();
    if (!g) {
        onnx__model_proto__free_unpacked(mp, NULL);
        free(raw);
        return qp_error(QP_ERR_NOMEM, "%s: out of memory", name);
    }
    import_ctx ctx = {.base_dir = base_dir, .bytes = raw ? bytes : NULL, .raw = raw,
                      .n_raw = n_raw, .release_pages = raw && release_pages};
    qp_status st = convert_graph(mp, &ctx, g);
    onnx__model_proto__free_unpacked(mp, NULL);
    free(raw);
    if (st != QP_OK) {
        qp_graph_free(g);
        return qp_error_prefix(st, "%s: ", name);
    }
    *out = g;
    return QP_OK;
}

qp_status qp_onnx_load_memory(const void *bytes, size_t n, const char *base_dir, const char *name,
                              qp_graph **out) {
    if (!out) return qp_error(QP_ERR_INVALID_ARG, "qp_onnx_load_memory: out is NULL");
    *out = NULL;
    if (!name) name = "<memory>";
    if (!bytes && n) return qp_error(QP_ERR_INVALID_ARG, "%s: bytes is NULL", name);
    if (n == 0) return qp_error(QP_ERR_PARSE, "%s: empty file (0 bytes): not an ONNX model", name);
    if (n > ONNX_MAX_PROTO_BYTES)
        return qp_error(QP_ERR_PARSE,
                        "%s: file too large (%zu bytes): ONNX protobuf files are limited to 2 GiB; "
                        "larger models must store weights as external data", name, n);
    return load_parsed(bytes, n, base_dir, name, 0, out);
}

/* A file's bytes: mapped read-only where possible (no anonymous copy of a big model while
 * protobuf-c unpacks it), else read into a malloc'd buffer. */
typedef struct file_bytes {
    void *data;
    size_t n;
    int mapped;
} file_bytes;

static void file_bytes_release(file_bytes *fb) {
    if (fb->mapped)
        munmap(fb->data, fb->n);
    else
        free(fb->data);
    fb->data = NULL;
}

/* Opens a whole regular file (at most max_bytes). Messages start with the path. */
static qp_status file_bytes_open(const char *path, size_t max_bytes, file_bytes *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return qp_error(QP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    qp_status st = QP_OK;
    if (fstat(fd, &sb) != 0)
        st = qp_error(QP_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = qp_error(QP_ERR_IO, "%s: not a regular file", path);
    else if (sb.st_size == 0)
        st = qp_error(QP_ERR_PARSE, "%s: empty file (0 bytes): not an ONNX file", path);
    else if ((uint64_t)sb.st_size > max_bytes)
        st = qp_error(QP_ERR_PARSE,
                      "%s: file too large (%lld bytes): ONNX protobuf files are limited to 2 GiB; "
                      "larger models must store weights as external data", path,
                      (long long)sb.st_size);
    if (st != QP_OK) {
        close(fd);
        return st;
    }
    size_t n = (size_t)sb.st_size;
    void *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map != MAP_FAILED) {
        close(fd);
        *out = (file_bytes){map, n, 1};
        return QP_OK;
    }
    void *buf = malloc(n);
    if (!buf) {
        close(fd);
        return qp_error(QP_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return qp_error(QP_ERR_IO, "%s: read %zu of %zu bytes", path, got, n);
    }
    *out = (file_bytes){buf, n, 0};
    return QP_OK;
}

/* The folder part of path ("." when it has none), malloc'd. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return dup_str(".");
    if (slash == path) return dup_str("/");
    return dup_bytes(path, (size_t)(slash - path));
}

qp_status qp_onnx_load(const char *path, qp_graph **out) {
    if (!out) return qp_error(QP_ERR_INVALID_ARG, "qp_onnx_load: out is NULL");
    *out = NULL;
    if (!path) return qp_error(QP_ERR_INVALID_ARG, "qp_onnx_load: path is NULL");
    file_bytes fb;
    qp_status st = file_bytes_open(path, ONNX_MAX_PROTO_BYTES, &fb);
    if (st != QP_OK) return st;
    char *dir = dir_of(path);
    st = dir ? load_parsed(fb.data, fb.n, dir, path, fb.mapped, out)
             : qp_error(QP_ERR_NOMEM, "%s: out of memory", path);
    free(dir);
    file_bytes_release(&fb);
    return st;
}

qp_status qp_onnx_load_tensor(const char *path, char **name, qp_dtype *dtype, qp_shape *shape,
                              void **data, size_t *nbytes) {
    if (!path || !dtype || !shape || !data || !nbytes)
        return qp_error(QP_ERR_INVALID_ARG, "qp_onnx_load_tensor: NULL argument");
    *data = NULL;
    if (name) *name = NULL;
    file_bytes fb;
    qp_status st = file_bytes_open(path, ONNX_MAX_PROTO_BYTES, &fb);
    if (st != QP_OK) return st;
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, fb.n, fb.data);
    file_bytes_release(&fb);
    if (!tp)
        return qp_error(QP_ERR_PARSE, "%s: not a valid ONNX TensorProto (truncated or corrupt protobuf)",
                        path);
    char *dir = dir_of(path);
    import_ctx ctx = {.base_dir = dir};
    char what[600];
    snprintf(what, sizeof what, "tensor '%s'", tp->name ? tp->name : "");
    st = dir ? tensor_from_proto(tp, &ctx, 1, what, dtype, shape, data, nbytes)
             : qp_error(QP_ERR_NOMEM, "out of memory");
    if (st == QP_OK && name) {
        *name = dup_str(tp->name);
        if (!*name) {
            free(*data);
            *data = NULL;
            st = qp_error(QP_ERR_NOMEM, "out of memory");
        }
    }
    free(dir);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    if (st != QP_OK) return qp_error_prefix(st, "%s: ", path);
    return QP_OK;
}
