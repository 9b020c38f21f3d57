/* test_encodings_json.c — AIMET encodings JSON (0.6.1 and 1.0.0): documented field names and types, export -> import round trip, import errors; Bolt scale tables. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#include "session/session.h"

#define assert_ok(expr)                                                                        \
    do {                                                                                       \
        qp_status st_ = (expr);                                                                \
        if (st_ != QP_OK) fail_msg("%s -> %d: %s", #expr, (int)st_, qp_error_message());       \
    } while (0)

static const char *model_path(char *buf) {
    snprintf(buf, 4096, "%s/examples/fashion_mnist/model.onnx", QP_SOURCE_DIR);
    return buf;
}

static qp_session *new_session(void) {
    char path[4096];
    qp_session *s;
    assert_ok(qp_session_new(&s));
    qp_session_set_verbosity(s, QP_LOG_ERROR);
    assert_ok(qp_session_load_model(s, model_path(path)));
    qp_session_set_run_options(s, 2, 1);
    assert_ok(qp_session_prepare(s));
    return s;
}

/* Deterministic encodings for every quantized tensor: activations asymmetric (one symmetric),
 * weights symmetric per channel from their data. */
static void set_encodings(qp_session *s) {
    qp_model *m = qp_session_model(s);
    int n_act = 0;
    for (int t = 0; t < qp_model_num_tensors(m); t++) {
        qp_tensor_role role = qp_session_tensor_role(s, t);
        if (role == QP_ROLE_ACTIVATION && qp_session_encoding_source(s, t) == t) {
            float lo = -0.5f - 0.01f * (float)t, hi = 1.0f + 0.37f * (float)t;
            assert_ok(qp_session_set_range(s, t, 8, n_act == 3, -1, 1, &lo, &hi));
            n_act++;
        } else if (role == QP_ROLE_WEIGHT) {
            int axis = qp_session_weight_axis(s, t);
            int n = (int)qp_model_tensor_dim(m, t, axis);
            size_t nbytes;
            const float *w = qp_model_tensor_data(m, t, &nbytes);
            int64_t inner = 1, numel = (int64_t)(nbytes / sizeof(float));
            for (int d = axis + 1; d < qp_model_tensor_rank(m, t); d++) inner *= qp_model_tensor_dim(m, t, d);
            float *lo = calloc((size_t)n, sizeof *lo), *hi = calloc((size_t)n, sizeof *hi);
            for (int64_t i = 0; i < numel; i++) {
                int64_t c = (i / inner) % n;
                lo[c] = fminf(lo[c], w[i]);
                hi[c] = fmaxf(hi[c], w[i]);
            }
            assert_ok(qp_session_set_range(s, t, 8, 1, axis, n, lo, hi));
            free(lo);
            free(hi);
        }
    }
    assert_true(n_act > 10);
}

static json_t *load_json(const char *path) {
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) fail_msg("%s:%d:%d: %s", path, err.line, err.column, err.text);
    return root;
}

/* Exactly these keys, with these JSON types ('i' integer, 'r' real or integer, 's' string,
 * 'b' boolean, 'a' array). */
static void check_keys(const json_t *obj, const char *const *keys, const char *types, int n) {
    assert_true(json_is_object(obj));
    assert_int_equal(json_object_size(obj), (size_t)n);
    for (int k = 0; k < n; k++) {
        const json_t *v = json_object_get(obj, keys[k]);
        if (!v) fail_msg("missing key '%s'", keys[k]);
        int ok = types[k] == 'i' ? json_is_integer(v) : types[k] == 'r' ? json_is_number(v) : types[k] == 's' ? json_is_string(v)
                 : types[k] == 'b' ? json_is_boolean(v) : json_is_array(v);
        if (!ok) fail_msg("key '%s' has the wrong JSON type (wanted %c)", keys[k], types[k]);
    }
}

static char *tmpfile_path(const char *dir, const char *name) {
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/%s", dir, name);
    return p;
}

static void test_aimet_0_6_1_fields(void **state) {
    (void)state;
    qp_session *s = new_session();
    set_encodings(s);
    char *dir = qp_test_mkdtemp(), *path = tmpfile_path(dir, "enc.json");
    assert_ok(qp_session_export_encodings(s, path, NULL)); /* NULL: defaults, version 0.6.1 */
    json_t *root = load_json(path);
    assert_string_equal(json_string_value(json_object_get(root, "version")), "0.6.1");
    assert_true(json_is_array(json_object_get(root, "excluded_layers")));
    assert_true(json_is_object(json_object_get(root, "quantizer_args")));
    static const char *const keys[] = {"bitwidth", "dtype", "is_symmetric", "max", "min", "offset", "scale"};
    const json_t *acts = json_object_get(root, "activation_encodings"), *params = json_object_get(root, "param_encodings");
    assert_true(json_is_object(acts) && json_object_size(acts) > 10);
    assert_true(json_is_object(params) && json_object_size(params) > 10);
    const qp_model *m = qp_session_model(s);
    int weights = 0, biases = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *name;
        json_t *list;
        json_object_foreach((json_t *)(pass ? params : acts), name, list) {
            int t = qp_model_find_tensor(m, name);
            assert_true(t >= 0);
            int bits, sym, axis;
            const float *scale;
            const int32_t *zp;
            int n = qp_session_get_encoding(s, t, &bits, &sym, &axis, &scale, &zp, NULL, NULL);
            assert_int_equal(json_array_size(list), (size_t)n);
            for (int c = 0; c < n; c++) {
                const json_t *e = json_array_get(list, (size_t)c);
                check_keys(e, keys, "issrrir", 7);
                assert_string_equal(json_string_value(json_object_get(e, "dtype")), "int");
                assert_string_equal(json_string_value(json_object_get(e, "is_symmetric")), sym ? "True" : "False");
                assert_int_equal(json_integer_value(json_object_get(e, "bitwidth")), bits);
                /* AIMET's offset: -zero point; symmetric b-bit: -2^(b-1). min = offset * scale. */
                int64_t offset = json_integer_value(json_object_get(e, "offset"));
                assert_int_equal(offset, sym ? -((int64_t)1 << (bits - 1)) : -zp[c]);
                double sc = json_number_value(json_object_get(e, "scale"));
                assert_true((float)sc == scale[c]);
                assert_true(fabs(json_number_value(json_object_get(e, "min")) - (double)offset * sc) <= 1e-6 * fabs((double)offset * sc) + 1e-12);
            }
            qp_tensor_role role = qp_session_tensor_role(s, t);
            assert_int_equal(role == QP_ROLE_ACTIVATION, !pass);
            weights += role == QP_ROLE_WEIGHT && n > 1;
            biases += role == QP_ROLE_BIAS && bits == 32;
        }
    }
    assert_true(weights > 5);
    assert_true(biases >= 1); /* the Gemm's (the convolutions have none before BN folding) */
    json_decref(root);
    qp_session_free(s);
    qp_test_rmtree(dir);
    free(dir);
    free(path);
}

static void test_aimet_1_0_0_fields(void **state) {
    (void)state;
    qp_session *s = new_session();
    set_encodings(s);
    char *dir = qp_test_mkdtemp(), *path = tmpfile_path(dir, "enc.json");
    qp_encodings_file_options o;
    qp_encodings_file_options_init(&o);
    o.version = "1.0.0";
    assert_ok(qp_session_export_encodings(s, path, &o));
    json_t *root = load_json(path);
    assert_string_equal(json_string_value(json_object_get(root, "version")), "1.0.0");
    static const char *const keys[] = {"name", "dtype", "enc_type", "is_sym", "bw", "scale", "offset"};
    int per_channel = 0;
    for (int pass = 0; pass < 2; pass++) {
        const json_t *list = json_object_get(root, pass ? "param_encodings" : "activation_encodings");
        assert_true(json_is_array(list) && json_array_size(list) > 10);
        for (size_t i = 0; i < json_array_size(list); i++) {
            const json_t *e = json_array_get(list, i);
            check_keys(e, keys, "sssbiaa", 7);
            assert_string_equal(json_string_value(json_object_get(e, "dtype")), "INT");
            const char *type = json_string_value(json_object_get(e, "enc_type"));
            size_t n = json_array_size(json_object_get(e, "scale"));
            assert_int_equal(json_array_size(json_object_get(e, "offset")), n);
            assert_string_equal(type, n > 1 ? "PER_CHANNEL" : "PER_TENSOR");
            per_channel += n > 1;
            for (size_t c = 0; c < n; c++) {
                assert_true(json_is_number(json_array_get(json_object_get(e, "scale"), c)));
                assert_true(json_is_integer(json_array_get(json_object_get(e, "offset"), c)));
            }
            int t = qp_model_find_tensor(qp_session_model(s), json_string_value(json_object_get(e, "name")));
            assert_true(t >= 0);
        }
    }
    assert_true(per_channel > 5);
    json_decref(root);
    qp_session_free(s);
    qp_test_rmtree(dir);
    free(dir);
    free(path);
}

/* Export, import into a fresh session: identical encodings, for both layouts. */
static void test_roundtrip(void **state) {
    (void)state;
    static const char *const versions[] = {"0.6.1", "1.0.0"};
    for (int v = 0; v < 2; v++) {
        qp_session *a = new_session();
        set_encodings(a);
        char *dir = qp_test_mkdtemp(), *path = tmpfile_path(dir, "enc.json");
        qp_encodings_file_options o;
        qp_encodings_file_options_init(&o);
        o.version = versions[v];
        assert_ok(qp_session_export_encodings(a, path, &o));
        qp_session *b = new_session();
        assert_ok(qp_session_import_encodings(b, path, NULL));
        const qp_model *m = qp_session_model(a);
        int compared = 0;
        for (int t = 0; t < qp_model_num_tensors(m); t++) {
            int bits1, sym1, axis1, bits2, sym2, axis2;
            const float *s1, *s2, *mn1, *mn2;
            const int32_t *z1, *z2;
            int n1 = qp_session_get_encoding(a, t, &bits1, &sym1, &axis1, &s1, &z1, &mn1, NULL);
            int n2 = qp_session_get_encoding(b, t, &bits2, &sym2, &axis2, &s2, &z2, &mn2, NULL);
            if (n1 != n2) fail_msg("%s: tensor '%s' has %d channels, %d after the round trip", versions[v], qp_model_tensor_name(m, t), n1, n2);
            if (!n1) continue;
            assert_int_equal(bits1, bits2);
            assert_int_equal(sym1, sym2);
            assert_int_equal(axis1, axis2);
            assert_memory_equal(s1, s2, (size_t)n1 * sizeof(float));
            assert_memory_equal(z1, z2, (size_t)n1 * sizeof(int32_t));
            assert_memory_equal(mn1, mn2, (size_t)n1 * sizeof(float));
            compared++;
        }
        assert_true(compared > 30);
        qp_session_free(a);
        qp_session_free(b);
        qp_test_rmtree(dir);
        free(dir);
        free(path);
    }
}

static void write_text(const char *path, const char *text) { qp_test_write_file(path, text, strlen(text)); }

static void test_import_errors_and_variants(void **state) {
    (void)state;
    qp_session *s = new_session();
    char *dir = qp_test_mkdtemp(), *path = tmpfile_path(dir, "enc.json");
    qp_encodings_file_options o;
    qp_encodings_file_options_init(&o);
    /* A name the model lacks: an error when strict (the default), skipped otherwise. */
    write_text(path, "{\"version\": \"1.0.0\", \"activation_encodings\": [{\"name\": \"nope\", \"dtype\": \"INT\", "
                     "\"enc_type\": \"PER_TENSOR\", \"is_sym\": false, \"bw\": 8, \"scale\": [0.1], \"offset\": [-3]}], "
                     "\"param_encodings\": []}");
    assert_int_equal(qp_session_import_encodings(s, path, NULL), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "tensor 'nope' is not in the model"));
    assert_non_null(strstr(qp_error_message(), path));
    o.strict = 0;
    assert_ok(qp_session_import_encodings(s, path, &o));
    /* Malformed JSON: file:line:column. */
    write_text(path, "{\"activation_encodings\": {\n  \"input\": [}\n");
    assert_int_equal(qp_session_import_encodings(s, path, NULL), QP_ERR_PARSE);
    assert_non_null(strstr(qp_error_message(), ":2:"));
    /* Not an encodings file. */
    write_text(path, "{\"hello\": 1}");
    assert_int_equal(qp_session_import_encodings(s, path, NULL), QP_ERR_PARSE);
    assert_non_null(strstr(qp_error_message(), "not an AIMET encodings file"));
    /* Missing fields and offsets off the grid are named. */
    write_text(path, "{\"activation_encodings\": {\"input\": [{\"bitwidth\": 8, \"is_symmetric\": \"False\", \"offset\": 0}]}}");
    assert_int_equal(qp_session_import_encodings(s, path, NULL), QP_ERR_PARSE);
    assert_non_null(strstr(qp_error_message(), "'input': 'scale' missing"));
    write_text(path, "{\"activation_encodings\": {\"input\": [{\"bitwidth\": 8, \"is_symmetric\": \"False\", \"offset\": 7, "
                     "\"scale\": 0.5}]}}");
    assert_int_equal(qp_session_import_encodings(s, path, NULL), QP_ERR_PARSE);
    assert_non_null(strstr(qp_error_message(), "offset 7 does not put zero on the 8-bit grid"));
    /* AIMET's "unsigned symmetric" (offset 0): the grid [0, 255] * scale, asymmetric zero point 0;
     * a symmetric offset -128: qpipe's symmetric encoding. Older files (0.4: no dtype) read too. */
    write_text(path, "{\"activation_encodings\": {\"input\": [{\"bitwidth\": 8, \"is_symmetric\": \"True\", \"offset\": 0, "
                     "\"scale\": 0.25, \"min\": 0, \"max\": 63.75}]}, \"param_encodings\": {}}");
    assert_ok(qp_session_import_encodings(s, path, NULL));
    int t = qp_model_find_tensor(qp_session_model(s), "input");
    int bits, sym;
    const float *scale;
    const int32_t *zp;
    assert_int_equal(qp_session_get_encoding(s, t, &bits, &sym, NULL, &scale, &zp, NULL, NULL), 1);
    assert_int_equal(sym, 0);
    assert_int_equal(zp[0], 0);
    assert_true(scale[0] == 0.25f);
    write_text(path, "{\"version\": \"1.0.0\", \"activation_encodings\": [{\"name\": \"input\", \"dtype\": \"INT\", "
                     "\"enc_type\": \"PER_TENSOR\", \"is_sym\": true, \"bw\": 8, \"scale\": [0.5], \"offset\": [-128]}]}");
    assert_ok(qp_session_import_encodings(s, path, NULL));
    assert_int_equal(qp_session_get_encoding(s, t, &bits, &sym, NULL, &scale, &zp, NULL, NULL), 1);
    assert_int_equal(sym, 1);
    assert_int_equal(zp[0], 0);
    /* Float entries and 32-bit (bias) entries are skipped, not errors. */
    write_text(path, "{\"activation_encodings\": {\"input\": [{\"bitwidth\": 16, \"dtype\": \"float\"}]}, "
                     "\"param_encodings\": {}}");
    assert_ok(qp_session_import_encodings(s, path, NULL));
    assert_int_equal(qp_session_get_encoding(s, t, &bits, NULL, NULL, NULL, NULL, NULL, NULL), 1);
    assert_int_equal(bits, 8); /* the earlier encoding is kept */
    assert_int_equal(qp_session_import_encodings(s, "/nonexistent/enc.json", NULL), QP_ERR_IO);
    qp_session_free(s);
    qp_test_rmtree(dir);
    free(dir);
    free(path);
}

static void test_scale_table(void **state) {
    (void)state;
    qp_session *s = new_session();
    set_encodings(s);
    char *dir = qp_test_mkdtemp(), *path = tmpfile_path(dir, "scale.json");
    assert_ok(qp_session_export_scale_table(s, path));
    json_t *root = load_json(path);
    assert_true(json_object_size(root) > 10);
    const char *layer;
    json_t *entry;
    const qp_model *m = qp_session_model(s);
    int with_weights = 0;
    json_object_foreach(root, layer, entry) {
        static const char *const keys[] = {"inputs", "weights", "outputs"};
        assert_true(json_is_object(entry) && json_object_size(entry) == 3);
        for (int k = 0; k < 3; k++) {
            const json_t *group = json_object_get(entry, keys[k]);
            assert_true(json_is_object(group));
            const char *name;
            json_t *clip;
            json_object_foreach((json_t *)group, name, clip) {
                assert_true(json_is_number(clip));
                int t = qp_model_find_tensor(m, name);
                assert_true(t >= 0);
                const float *mn, *mx;
                int n = qp_session_get_encoding(s, t, NULL, NULL, NULL, NULL, NULL, &mn, &mx);
                double want = 0;
                for (int c = 0; c < n; c++) want = fmax(want, fmax(fabs(mn[c]), fabs(mx[c])));
                assert_true(fabs(json_number_value(clip) - want) <= 1e-6 * want);
                if (k == 1) assert_int_equal(qp_session_tensor_role(s, t), QP_ROLE_WEIGHT);
            }
        }
        with_weights += json_object_size(json_object_get(entry, "weights")) > 0;
    }
    assert_true(with_weights > 5);
    json_decref(root);
    qp_session_free(s);
    qp_test_rmtree(dir);
    free(dir);
    free(path);
}

/* Nothing to export: an error that says why, and no file. */
static void test_exports_without_encodings_fail_cleanly(void **state) {
    (void)state;
    qp_session *s = new_session();
    char *dir = qp_test_mkdtemp(), *path = tmpfile_path(dir, "out/enc.json"), *out_dir = tmpfile_path(dir, "out");
    assert_int_equal(qp_session_export_encodings(s, path, NULL), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "no encodings to export"));
    assert_int_equal(qp_session_export_scale_table(s, path), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_session_export_qdq(s, path, NULL), QP_ERR_INVALID_ARG);
    assert_false(qp_test_file_exists(out_dir));
    qp_encodings_file_options o;
    qp_encodings_file_options_init(&o);
    o.version = "2.0";
    set_encodings(s);
    assert_int_equal(qp_session_export_encodings(s, path, &o), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "allowed: 0.6.1, 1.0.0"));
    o.struct_size = 0; /* an options struct nobody initialized */
    assert_int_equal(qp_session_export_encodings(s, path, &o), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "struct_size"));
    assert_false(qp_test_file_exists(out_dir));
    qp_session_free(s);
    qp_test_rmtree(dir);
    free(dir);
    free(path);
    free(out_dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aimet_0_6_1_fields),
        cmocka_unit_test(test_aimet_1_0_0_fields),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_import_errors_and_variants),
        cmocka_unit_test(test_scale_table),
        cmocka_unit_test(test_exports_without_encodings_fail_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
