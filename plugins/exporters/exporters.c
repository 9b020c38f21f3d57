/* exporters.c — plugin passes export_qdq, export_encodings, export_scale_table and import_encodings: thin wrappers over the session's export API (ABI 1.1). */
#include <string.h>

#include <qpipe/qp_plugin.h>

static qp_status export_qdq_run(qp_session *s, const qp_params *params, void *user) {
    (void)user;
    qp_qdq_options o;
    qp_qdq_options_init(&o);
    const char *act = qp_params_string(params, "activations");
    o.activations = strcmp(act, "uint8") == 0 ? QP_QDQ_ACT_UINT8 : strcmp(act, "int8") == 0 ? QP_QDQ_ACT_INT8 : QP_QDQ_ACT_AUTO;
    o.tensorrt = qp_params_bool(params, "tensorrt");
    o.opset = (int)qp_params_int(params, "opset");
    return qp_session_export_qdq(s, qp_params_string(params, "path"), &o);
}

static qp_status export_encodings_run(qp_session *s, const qp_params *params, void *user) {
    (void)user;
    qp_encodings_file_options o;
    qp_encodings_file_options_init(&o);
    o.version = qp_params_string(params, "version");
    return qp_session_export_encodings(s, qp_params_string(params, "path"), &o);
}

static qp_status export_scale_table_run(qp_session *s, const qp_params *params, void *user) {
    (void)user;
    return qp_session_export_scale_table(s, qp_params_string(params, "path"));
}

static qp_status import_encodings_run(qp_session *s, const qp_params *params, void *user) {
    (void)user;
    qp_encodings_file_options o;
    qp_encodings_file_options_init(&o);
    o.strict = qp_params_bool(params, "strict");
    return qp_session_import_encodings(s, qp_params_string(params, "path"), &o);
}

static const qp_param_def export_qdq_params[] = {
    {.name = "path", .type = QP_PARAM_STRING, .default_value = NULL, .help = "output .onnx file", .min = 1, .max = 0},
    {.name = "activations", .type = QP_PARAM_ENUM, .default_value = "auto",
     .help = "activation type: auto (asymmetric encodings uint8, symmetric int8), uint8 or int8", .min = 1, .max = 0,
     .choices = "auto|uint8|int8"},
    {.name = "tensorrt", .type = QP_PARAM_BOOL, .default_value = "false",
     .help = "TensorRT's QDQ subset: int8 with zero points 0, biases kept in float", .min = 1, .max = 0},
    {.name = "opset", .type = QP_PARAM_INT, .default_value = "13",
     .help = "default-domain opset of the file (13 is the first with per-channel DequantizeLinear)", .min = 13, .max = 21},
};

static const qp_param_def export_encodings_params[] = {
    {.name = "path", .type = QP_PARAM_STRING, .default_value = NULL, .help = "output .json file", .min = 1, .max = 0},
    {.name = "version", .type = QP_PARAM_ENUM, .default_value = "0.6.1",
     .help = "AIMET layout: 0.6.1 (keyed by tensor name) or 1.0.0 (lists with enc_type)", .min = 1, .max = 0,
     .choices = "0.6.1|1.0.0"},
};

static const qp_param_def export_scale_table_params[] = {
    {.name = "path", .type = QP_PARAM_STRING, .default_value = NULL, .help = "output .json file", .min = 1, .max = 0},
};

static const qp_param_def import_encodings_params[] = {
    {.name = "path", .type = QP_PARAM_STRING, .default_value = NULL, .help = "AIMET encodings .json file", .min = 1, .max = 0},
    {.name = "strict", .type = QP_PARAM_BOOL, .default_value = "true",
     .help = "a tensor name the model lacks is an error (false: warn and skip it)", .min = 1, .max = 0},
};

#define N_PARAMS(table) ((int)(sizeof table / sizeof table[0]))

static const qp_pass_def exporter_passes[] = {
    {.name = "export_qdq", .version = "1.0.0",
     .summary = "write QDQ ONNX (Q/DQ pairs, int8 weights per channel, int32 biases) that computes what qpipe's int8 engine does",
     .params = export_qdq_params, .n_params = N_PARAMS(export_qdq_params), .run = export_qdq_run},
    {.name = "export_encodings", .version = "1.0.0",
     .summary = "write the encodings as AIMET encodings JSON (0.6.1 or 1.0.0 layout)",
     .params = export_encodings_params, .n_params = N_PARAMS(export_encodings_params), .run = export_encodings_run},
    {.name = "export_scale_table", .version = "1.0.0",
     .summary = "write a Bolt-style clip-value table per layer (inputs, weights, outputs)",
     .params = export_scale_table_params, .n_params = N_PARAMS(export_scale_table_params), .run = export_scale_table_run},
    {.name = "import_encodings", .version = "1.0.0",
     .summary = "set the session's encodings from an AIMET encodings file (either layout)",
     .params = import_encodings_params, .n_params = N_PARAMS(import_encodings_params), .run = import_encodings_run},
};

static const qp_plugin_desc exporters_plugin = {
    .abi_major = QP_ABI_VERSION_MAJOR,
    .abi_minor = QP_ABI_VERSION_MINOR,
    .name = "exporters",
    .version = "1.0.0",
    .summary = "QDQ ONNX, AIMET encodings and Bolt scale-table export; AIMET encodings import",
    .passes = exporter_passes,
    .n_passes = N_PARAMS(exporter_passes),
};

QP_PLUGIN_DEFINE(exporters_plugin)
