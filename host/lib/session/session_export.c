/* session_export.c — the session's export and import API (ABI 1.1): QDQ ONNX, AIMET encodings JSON (0.6.1 and 1.0.0), Bolt scale tables. */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_export.h"
#include "quant/qdq_export.h"
#include "session/session.h"

#define QP_VERSION_STRING "0.1.0"

/* Reads a versioned options struct: the fields the caller's struct_size covers, defaults for
 * the rest. */
static qp_status read_options(const void *in, void *out, size_t out_size, const char *what) {
    if (!in) return QP_OK;
    size_t given = *(const size_t *)in;
    if (given < sizeof(size_t))
        return qp_error(QP_ERR_INVALID_ARG, "%s: struct_size is %zu; initialize the struct with its _init function", what,
                        given);
    memcpy(out, in, given < out_size ? given : out_size);
    *(size_t *)out = out_size;
    return QP_OK;
}

static void session_warn(void *user, const char *message) { qp_log(user, QP_LOG_WARN, "%s", message); }

static int has_any_encoding(qp_session *s) {
    const qp_encodings *e = qp_session_encodings(s);
    for (int t = 0; e && t < e->n_tensors; t++)
        if (e->by_tensor[t]) return 1;
    return 0;
}

/* ---- QDQ ONNX -------------------------------------------------------------------------------------- */

void qp_qdq_options_init(qp_qdq_options *o) {
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->activations = QP_QDQ_ACT_AUTO;
    o->opset = 13;
}

qp_status qp_session_export_qdq(qp_session *s, const char *path, const qp_qdq_options *options) {
    qp_qdq_options o;
    qp_qdq_options_init(&o);
    qp_status st = read_options(options, &o, sizeof o, "qp_qdq_options");
    if (st != QP_OK) return st;
    if (!path || !path[0]) return qp_error(QP_ERR_INVALID_ARG, "export_qdq: no output path");
    if ((st = qp_session_prepare(s)) != QP_OK) return st;
    if (!has_any_encoding(s))
        return qp_error(QP_ERR_INVALID_ARG, "%s: the session has no encodings to export: run a calibration pass "
                        "(calib_minmax, ...) or import_encodings before export_qdq", path);
    const qp_graph *g = qp_session_graph(s);
    const qp_encodings *enc = qp_session_encodings(s);

    /* The engine's own decisions (fusions, int32 biases), planned at the session's input shapes. */
    qp_plan *fp32 = NULL;
    if ((st = qp_session_fp32_plan(s, &fp32)) != QP_OK) return st;
    int n_in = qp_plan_num_inputs(fp32);
    qp_input_shape *shapes_in = calloc((size_t)(n_in ? n_in : 1), sizeof *shapes_in);
    if (!shapes_in) return qp_error(QP_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n_in; i++) {
        shapes_in[i].name = qp_plan_input_name(fp32, i);
        shapes_in[i].shape = qp_plan_input(fp32, i)->shape;
    }
    qp_plan_options base = {.batch = qp_session_batch(s), .n_threads = qp_session_threads(s),
                            .input_shapes = shapes_in, .n_input_shapes = n_in};
    qp_qdq_decisions dec = {0};
    qp_shape *shapes = NULL;
    st = qp_qdq_engine_decisions(g, enc, &base, &dec, &shapes);
    free(shapes_in);
    if (st != QP_OK) return qp_error_prefix(st, "%s: planning the int8 engine's decisions: ", path);

    qp_qdq_export_config cfg = {.activations = o.activations, .tensorrt = o.tensorrt, .opset = o.opset,
                                .decisions = &dec, .shapes = shapes, .warn = session_warn, .warn_user = s};
    qp_graph *ng = NULL;
    qp_qdq_export_stats stats;
    st = qp_qdq_export_graph(g, enc, &cfg, &ng, &stats);
    qp_qdq_decisions_free(&dec);
    free(shapes);
    if (st != QP_OK) return qp_error_prefix(st, "%s: ", path);
    qp_onnx_export_options wo = {.producer_name = "qpipe", .producer_version = QP_VERSION_STRING};
    st = qp_onnx_save(ng, path, &wo);
    qp_graph_free(ng);
    if (st != QP_OK) return st;
    qp_log(s, QP_LOG_INFO, "wrote %s: %d activation Q/DQ pairs, %d quantized weights, %d int32 biases, opset %lld%s", path,
           stats.activations, stats.weights, stats.biases, (long long)stats.opset,
           o.tensorrt ? " (TensorRT mode)" : "");
    return QP_OK;
}

/* ---- AIMET encodings JSON -------------------------------------------------------------------------- */

void qp_encodings_file_options_init(qp_encodings_file_options *o) {
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->version = "0.6.1";
    o->strict = 1;
}

/* AIMET's offset is -zero_point on the unsigned grid: symmetric b-bit encodings have offset
 * -2^(b-1) (so min = offset * scale, max = min + (2^b - 1) * scale). */
static int64_t aimet_offset(int bits, int symmetric, int32_t zp) {
    return symmetric ? -((int64_t)1 << (bits - 1)) : -(int64_t)zp;
}

static json_t *enc_061(int bits, int symmetric, float scale, int32_t zp) {
    int64_t offset = aimet_offset(bits, symmetric, zp);
    double min = (double)offset * scale, max = min + (double)(((int64_t)1 << bits) - 1) * scale;
    return json_pack("{s:i, s:s, s:s, s:f, s:f, s:I, s:f}", "bitwidth", bits, "dtype", "int", "is_symmetric",
                     symmetric ? "True" : "False", "max", max, "min", min, "offset", (json_int_t)offset, "scale",
                     (double)scale);
}

static json_t *enc_100(const char *name, int bits, int symmetric, int n, const float *scale, const int32_t *zp) {
    json_t *scales = json_array(), *offsets = json_array();
    for (int c = 0; scales && offsets && c < n; c++) {
        json_array_append_new(scales, json_real((double)scale[c]));
        json_array_append_new(offsets, json_integer((json_int_t)aimet_offset(bits, symmetric, zp[c])));
    }
    return json_pack("{s:s, s:s, s:s, s:b, s:i, s:o, s:o}", "name", name, "dtype", "INT", "enc_type",
                     n > 1 ? "PER_CHANNEL" : "PER_TENSOR", "is_sym", symmetric, "bw", bits, "scale", scales, "offset",
                     offsets);
}

typedef struct json_job {
    json_t *root;
} json_job;

static qp_status write_json(FILE *f, void *user) {
    json_job *job = user;
    if (json_dumpf(job->root, f, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) != 0 || fputc('\n', f) == EOF)
        return qp_error(QP_ERR_IO, "write failed");
    return QP_OK;
}

static qp_status save_json(const char *path, json_t *root) {
    if (!root) return qp_error(QP_ERR_NOMEM, "%s: out of memory building JSON", path);
    json_job job = {root};
    qp_status st = qp_write_file_atomic(path, write_json, &job);
    json_decref(root);
    return st;
}

qp_status qp_session_export_encodings(qp_session *s, const char *path, const qp_encodings_file_options *options) {
    qp_encodings_file_options o;
    qp_encodings_file_options_init(&o);
    qp_status st = read_options(options, &o, sizeof o, "qp_encodings_file_options");
    if (st != QP_OK) return st;
    if (!o.version) o.version = "0.6.1";
    int v1 = strcmp(o.version, "1.0.0") == 0;
    if (!v1 && strcmp(o.version, "0.6.1") != 0)
        return qp_error(QP_ERR_INVALID_ARG, "encodings version '%s' (allowed: 0.6.1, 1.0.0)", o.version);
    if (!path || !path[0]) return qp_error(QP_ERR_INVALID_ARG, "export_encodings: no output path");
    if ((st = qp_session_prepare(s)) != QP_OK) return st;
    if (!has_any_encoding(s))
        return qp_error(QP_ERR_INVALID_ARG, "%s: the session has no encodings to export: run a calibration pass "
                        "(calib_minmax, ...) before export_encodings", path);
    const qp_model *m = qp_session_model(s);
    json_t *acts = v1 ? json_array() : json_object(), *params = v1 ? json_array() : json_object();
    int n_act = 0, n_param = 0;
    for (int t = 0; acts && params && t < qp_model_num_tensors(m); t++) {
        qp_tensor_role role = qp_session_tensor_role(s, t);
        int bits, sym, axis;
        const float *scale;
        const int32_t *zp;
        int n = qp_session_get_encoding(s, t, &bits, &sym, &axis, &scale, &zp, NULL, NULL);
        if (role == QP_ROLE_NONE || n == 0) continue;
        const char *name = qp_model_tensor_name(m, t);
        json_t *entry;
        if (v1) {
            entry = enc_100(name, bits, sym, n, scale, zp);
        } else {
            entry = json_array();
            for (int c = 0; entry && c < n; c++) json_array_append_new(entry, enc_061(bits, sym, scale[c], zp[c]));
        }
        if (!entry) break;
        json_t *list = role == QP_ROLE_ACTIVATION ? acts : params;
        if (v1) json_array_append_new(list, entry);
        else json_object_set_new(list, name, entry);
        if (role == QP_ROLE_ACTIVATION) n_act++;
        else n_param++;
    }
    const qp_quant_config *qc = qp_session_quant_config(s);
    json_t *args = json_pack("{s:i, s:s, s:b, s:i, s:b, s:s}", "activation_bitwidth", qc->activations.bits, "dtype", "int",
                             "is_symmetric", qc->activations.symmetric, "param_bitwidth", qc->weights.bits,
                             "per_channel_quantization", qc->weights.per_channel, "quant_scheme", "post_training_tf");
    json_t *root = acts && params && args
                       ? json_pack("{s:s, s:o, s:o, s:[], s:o}", "version", o.version, "activation_encodings", acts,
                                   "param_encodings", params, "excluded_layers", "quantizer_args", args)
                       : NULL;
    if (!root) {
        json_decref(acts);
        json_decref(params);
        json_decref(args);
    }
    if ((st = save_json(path, root)) != QP_OK) return st;
    qp_log(s, QP_LOG_INFO, "wrote %s: AIMET %s encodings, %d activations and %d parameters", path, o.version, n_act,
           n_param);
    return QP_OK;
}

/* One encoding read from the file, before it is matched to the model. */
typedef struct file_enc {
    int bits, symmetric, float_dtype, n;
    float *scale;
    int64_t *offset;
} file_enc;

static void file_enc_free(file_enc *e) {
    free(e->scale);
    free(e->offset);
    memset(e, 0, sizeof *e);
}

static qp_status bad_entry(const char *path, const char *section, const char *name, const char *why) {
    return qp_error(QP_ERR_PARSE, "%s: %s: '%s': %s", path, section, name, why);
}

static int json_truthy(const json_t *v, int *out) {
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 1;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strcmp(s, "True") == 0 || strcmp(s, "true") == 0) return *out = 1, 1;
        if (strcmp(s, "False") == 0 || strcmp(s, "false") == 0) return *out = 0, 1;
    }
    return 0;
}

static int json_number(const json_t *v, double *out) {
    if (!json_is_number(v)) return 0;
    *out = json_number_value(v);
    return isfinite(*out);
}

static qp_status alloc_channels(file_enc *e, int n) {
    e->n = n;
    e->scale = calloc((size_t)(n ? n : 1), sizeof *e->scale);
    e->offset = calloc((size_t)(n ? n : 1), sizeof *e->offset);
    return e->scale && e->offset ? QP_OK : qp_error(QP_ERR_NOMEM, "out of memory");
}

/* 0.6.1 (and 0.4/0.5): a list of {bitwidth, dtype, is_symmetric, max, min, offset, scale}, one
 * per channel. */
static qp_status parse_061(const char *path, const char *section, const char *name, const json_t *list, file_enc *e) {
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > (1u << 24))
        return bad_entry(path, section, name, "expected a non-empty list of encodings");
    qp_status st = alloc_channels(e, (int)json_array_size(list));
    for (int c = 0; st == QP_OK && c < e->n; c++) {
        const json_t *item = json_array_get(list, (size_t)c);
        if (!json_is_object(item)) return bad_entry(path, section, name, "an encoding is not an object");
        const json_t *dtype = json_object_get(item, "dtype");
        if (dtype && json_is_string(dtype) && (strcmp(json_string_value(dtype), "float") == 0)) {
            e->float_dtype = 1;
            return QP_OK;
        }
        double bits, scale, offset;
        int sym;
        if (!json_number(json_object_get(item, "bitwidth"), &bits))
            return bad_entry(path, section, name, "'bitwidth' missing or not a number");
        if (!json_truthy(json_object_get(item, "is_symmetric"), &sym))
            return bad_entry(path, section, name, "'is_symmetric' missing or not \"True\"/\"False\"");
        if (!json_number(json_object_get(item, "scale"), &scale))
            return bad_entry(path, section, name, "'scale' missing or not a number");
        if (!json_number(json_object_get(item, "offset"), &offset))
            return bad_entry(path, section, name, "'offset' missing or not a number");
        if (c > 0 && ((int)bits != e->bits || sym != e->symmetric))
            return bad_entry(path, section, name, "channels differ in bitwidth or symmetry");
        e->bits = (int)bits;
        e->symmetric = sym;
        e->scale[c] = (float)scale;
        e->offset[c] = (int64_t)llround(offset);
    }
    return st;
}

/* 1.0.0: {name, dtype, enc_type, is_sym, bw, scale: [...], offset: [...]}. */
static qp_status parse_100(const char *path, const char *section, const json_t *item, const char **name_out, file_enc *e) {
    const json_t *name = json_object_get(item, "name");
    if (!json_is_object(item) || !json_is_string(name))
        return qp_error(QP_ERR_PARSE, "%s: %s: an entry without a string 'name'", path, section);
    const char *nm = *name_out = json_string_value(name);
    const json_t *dtype = json_object_get(item, "dtype");
    if (dtype && json_is_string(dtype) && strcmp(json_string_value(dtype), "FLOAT") == 0) {
        e->float_dtype = 1;
        return QP_OK;
    }
    double bits;
    int sym;
    if (!json_number(json_object_get(item, "bw"), &bits)) return bad_entry(path, section, nm, "'bw' missing or not a number");
    if (!json_truthy(json_object_get(item, "is_sym"), &sym)) return bad_entry(path, section, nm, "'is_sym' missing or not a boolean");
    const json_t *scales = json_object_get(item, "scale"), *offsets = json_object_get(item, "offset");
    if (!json_is_array(scales) || !json_is_array(offsets) || json_array_size(scales) == 0 ||
        json_array_size(scales) != json_array_size(offsets) || json_array_size(scales) > (1u << 24))
        return bad_entry(path, section, nm, "'scale' and 'offset' must be lists of the same non-zero length");
    const json_t *enc_type = json_object_get(item, "enc_type");
    if (enc_type && json_is_string(enc_type) && strcmp(json_string_value(enc_type), "PER_BLOCK") == 0)
        return bad_entry(path, section, nm, "PER_BLOCK encodings are not supported");
    qp_status st = alloc_channels(e, (int)json_array_size(scales));
    e->bits = (int)bits;
    e->symmetric = sym;
    for (int c = 0; st == QP_OK && c < e->n; c++) {
        double scale, offset;
        if (!json_number(json_array_get(scales, (size_t)c), &scale) || !json_number(json_array_get(offsets, (size_t)c), &offset))
            return bad_entry(path, section, nm, "'scale' and 'offset' must hold numbers");
        e->scale[c] = (float)scale;
        e->offset[c] = (int64_t)llround(offset);
    }
    return st;
}

typedef struct import_counts {
    int set, shared, skipped_float, skipped_bias, skipped_role, unknown;
} import_counts;

/* Matches one file encoding to the model and sets it. */
static qp_status apply_entry(qp_session *s, const char *path, const char *section, const char *name, const file_enc *e,
                             int strict, import_counts *counts) {
    qp_model *m = qp_session_model(s);
    int t = qp_model_find_tensor(m, name);
    if (t < 0) {
        counts->unknown++;
        if (strict)
            return qp_error(QP_ERR_INVALID_ARG, "%s: %s: tensor '%s' is not in the model (import with strict: false to "
                            "skip names the model lacks)", path, section, name);
        qp_log(s, QP_LOG_WARN, "%s: %s: tensor '%s' is not in the model; skipped", path, section, name);
        return QP_OK;
    }
    if (e->float_dtype) {
        counts->skipped_float++;
        return QP_OK;
    }
    qp_tensor_role role = qp_session_tensor_role(s, t);
    if (role == QP_ROLE_BIAS || (e->bits > 16 && role != QP_ROLE_NONE)) {
        counts->skipped_bias++; /* qpipe derives bias encodings (s_in * s_w) */
        return QP_OK;
    }
    if (role == QP_ROLE_NONE) {
        counts->skipped_role++;
        qp_log(s, QP_LOG_WARN, "%s: %s: tensor '%s' is not quantized in this session (role none); skipped", path, section,
               name);
        return QP_OK;
    }
    if (e->bits < 2 || e->bits > 16)
        return bad_entry(path, section, name, "bitwidth outside 2..16");
    int axis = -1;
    if (e->n > 1) {
        axis = role == QP_ROLE_WEIGHT ? qp_session_weight_axis(s, t) : -1;
        if (axis < 0)
            return qp_error(QP_ERR_INVALID_ARG, "%s: %s: '%s' has %d per-channel encodings but qpipe knows no channel axis "
                            "for it", path, section, name, e->n);
    }
    /* An AIMET symmetric encoding with offset -2^(b-1) is qpipe's symmetric one; "unsigned
     * symmetric" (offset 0) is the grid [0, 2^b - 1] * scale, an asymmetric encoding with zero
     * point 0. */
    int32_t *zp = calloc((size_t)e->n, sizeof *zp);
    if (!zp) return qp_error(QP_ERR_NOMEM, "out of memory");
    int symmetric = e->symmetric;
    for (int c = 0; c < e->n && symmetric; c++) symmetric = e->offset[c] == -((int64_t)1 << (e->bits - 1));
    int64_t top = ((int64_t)1 << e->bits) - 1;
    qp_status st = QP_OK;
    for (int c = 0; c < e->n && !symmetric; c++) {
        if (-e->offset[c] < 0 || -e->offset[c] > top) {
            char why[160];
            snprintf(why, sizeof why, "offset %lld does not put zero on the %d-bit grid (allowed: -%lld..0)",
                     (long long)e->offset[c], e->bits, (long long)top);
            st = bad_entry(path, section, name, why);
        }
        zp[c] = (int32_t)-e->offset[c];
    }
    if (st == QP_OK) st = qp_session_set_encoding(s, t, e->bits, symmetric, axis, e->n, e->scale, zp);
    free(zp);
    if (st != QP_OK) return qp_error_prefix(st, "%s: %s: ", path, section);
    if (qp_session_encoding_source(s, t) != t) counts->shared++;
    else counts->set++;
    return QP_OK;
}

qp_status qp_session_import_encodings(qp_session *s, const char *path, const qp_encodings_file_options *options) {
    qp_encodings_file_options o;
    qp_encodings_file_options_init(&o);
    qp_status st = read_options(options, &o, sizeof o, "qp_encodings_file_options");
    if (st != QP_OK) return st;
    if (!path || !path[0]) return qp_error(QP_ERR_INVALID_ARG, "import_encodings: no path");
    if ((st = qp_session_prepare(s)) != QP_OK) return st;
    json_error_t err;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        if (err.line <= 0) return qp_error(QP_ERR_IO, "%s: %s", path, err.text);
        return qp_error(QP_ERR_PARSE, "%s:%d:%d: %s", path, err.line, err.column, err.text);
    }
    const json_t *acts = json_object_get(root, "activation_encodings"), *params = json_object_get(root, "param_encodings");
    const json_t *version = json_object_get(root, "version");
    if (!json_is_object(root) || (!acts && !params)) {
        json_decref(root);
        return qp_error(QP_ERR_PARSE, "%s: not an AIMET encodings file (no activation_encodings or param_encodings)", path);
    }
    import_counts counts = {0};
    const json_t *sections[2] = {acts, params};
    const char *names[2] = {"activation_encodings", "param_encodings"};
    for (int k = 0; k < 2 && st == QP_OK; k++) {
        const json_t *sec = sections[k];
        if (!sec) continue;
        if (json_is_object(sec)) { /* 0.6.1 and older: keyed by tensor name */
            const char *key;
            json_t *value;
            json_object_foreach((json_t *)(uintptr_t)sec, key, value) {
                file_enc e = {0};
                st = parse_061(path, names[k], key, value, &e);
                if (st == QP_OK) st = apply_entry(s, path, names[k], key, &e, o.strict, &counts);
                file_enc_free(&e);
                if (st != QP_OK) break;
            }
        } else if (json_is_array(sec)) { /* 1.0.0 */
            for (size_t i = 0; i < json_array_size(sec) && st == QP_OK; i++) {
                file_enc e = {0};
                const char *name = "";
                st = parse_100(path, names[k], json_array_get(sec, i), &name, &e);
                if (st == QP_OK) st = apply_entry(s, path, names[k], name, &e, o.strict, &counts);
                file_enc_free(&e);
            }
        } else {
            st = qp_error(QP_ERR_PARSE, "%s: %s must be an object (0.6.1) or a list (1.0.0)", path, names[k]);
        }
    }
    if (st == QP_OK)
        qp_log(s, QP_LOG_INFO,
               "imported %d encodings from %s (AIMET %s); skipped: %d float, %d bias (derived), %d shared with their "
               "source tensor, %d not quantized here, %d names not in the model",
               counts.set, path, json_is_string(version) ? json_string_value(version) : "0.4", counts.skipped_float,
               counts.skipped_bias, counts.shared, counts.skipped_role, counts.unknown);
    json_decref(root);
    return st;
}

/* ---- Bolt scale table -------------------------------------------------------------------------------- */

static double clip_value(qp_session *s, int t) {
    const float *min, *max;
    int n = qp_session_get_encoding(s, t, NULL, NULL, NULL, NULL, NULL, &min, &max);
    double clip = -1;
    for (int c = 0; c < n; c++) clip = fmax(clip, fmax(fabs((double)min[c]), fabs((double)max[c])));
    return clip;
}

qp_status qp_session_export_scale_table(qp_session *s, const char *path) {
    if (!path || !path[0]) return qp_error(QP_ERR_INVALID_ARG, "export_scale_table: no output path");
    qp_status st = qp_session_prepare(s);
    if (st != QP_OK) return st;
    if (!has_any_encoding(s))
        return qp_error(QP_ERR_INVALID_ARG, "%s: the session has no encodings to export: run a calibration pass "
                        "(calib_minmax, ...) before export_scale_table", path);
    const qp_model *m = qp_session_model(s);
    json_t *root = json_object();
    int layers = 0;
    for (int id = 0; root && id < qp_model_num_nodes(m); id++) {
        json_t *inputs = json_object(), *weights = json_object(), *outputs = json_object();
        int any = 0;
        for (int k = 0; inputs && k < qp_model_node_num_inputs(m, id); k++) {
            int t = qp_model_node_input(m, id, k);
            if (t < 0) continue;
            qp_tensor_role role = qp_session_tensor_role(s, t);
            double clip = clip_value(s, t);
            if (clip < 0 || role == QP_ROLE_BIAS || role == QP_ROLE_NONE) continue;
            json_object_set_new(role == QP_ROLE_WEIGHT ? weights : inputs, qp_model_tensor_name(m, t), json_real(clip));
            any = 1;
        }
        for (int k = 0; outputs && k < qp_model_node_num_outputs(m, id); k++) {
            int t = qp_model_node_output(m, id, k);
            double clip = t >= 0 ? clip_value(s, t) : -1;
            if (clip < 0) continue;
            json_object_set_new(outputs, qp_model_tensor_name(m, t), json_real(clip));
            any = 1;
        }
        if (any && inputs && weights && outputs) {
            char fallback[64];
            const char *name = qp_model_node_name(m, id);
            if (!name || !name[0]) {
                snprintf(fallback, sizeof fallback, "%s_%d", qp_model_node_op(m, id), id);
                name = fallback;
            }
            json_object_set_new(root, name, json_pack("{s:o, s:o, s:o}", "inputs", inputs, "weights", weights, "outputs", outputs));
            layers++;
        } else {
            json_decref(inputs);
            json_decref(weights);
            json_decref(outputs);
        }
    }
    if ((st = save_json(path, root)) != QP_OK) return st;
    qp_log(s, QP_LOG_INFO, "wrote %s: clip values of %d layers", path, layers);
    return QP_OK;
}
