/* params.h — a pass's parameter values: parsed from YAML/--set text, checked against its table. */
#ifndef QPIPE_PLUGIN_PARAMS_H
#define QPIPE_PLUGIN_PARAMS_H

#include <stddef.h>

#include "qpipe/qp_plugin.h"
#include "qpipe/qp_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values start as the table's defaults (a required parameter starts unset). `def` must outlive
 * the params (it lives in the plugin, so: until qp_registry_free). */
qp_status qp_params_new(const qp_pass_def *def, qp_params **out);
void qp_params_free(qp_params *params);

/* Sets one value from its text, as YAML or --set gives it. A later set of the same key replaces
 * the earlier one (--set overrides the file). `where` ("file:line:col", or NULL) starts every
 * message: "<where>: unknown parameter 'binz' for pass 'calib_kl' (did you mean 'bins'? known:
 * bins, method)", "<where>: parameter 'bins' of pass 'calib_kl' must be in [128, 65536], got 9".
 * bool: true/false/yes/no/on/off/1/0 (any case); int: decimal; float: decimal or exponent,
 * finite; enum: one of the choices, exactly. Surrounding spaces are ignored except for STRING. */
qp_status qp_params_set(qp_params *params, const char *key, const char *text, const char *where);

/* After every set: QP_ERR_INVALID_ARG naming the first required parameter still unset,
 * "<where>: pass 'export_qdq' needs parameter 'path' (string: output file)". */
qp_status qp_params_check_required(const qp_params *params, const char *where);

/* Whether a value came from qp_params_set rather than the default. */
int qp_params_is_set(const qp_params *params, const char *name);

/* The pass the params belong to. */
QP_API const qp_pass_def *qp_params_pass(const qp_params *params);
/* An independent copy (AutoQuant varies one candidate's options without touching the base). */
qp_status qp_params_copy(const qp_params *params, qp_params **out);
/* "bins=4096 method=kl" in table order, for reports and logs: every parameter with a value, or
 * only those set explicitly (only_set). Returns buf; ends in "..." when it does not fit. */
QP_API const char *qp_params_format(const qp_params *params, int only_set, char *buf, size_t size);

/* Checks one parameter definition (name, type, choices, range, default); the message names the
 * parameter: "parameter 'bins': default '9' is out of range [128, 65536]". */
qp_status qp_param_def_check(const qp_param_def *param);

/* How `qpipe passes` shows one parameter. */
typedef struct qp_param_info {
    const char *type;         /* "bool", "int", "float", "string", "enum" */
    const char *default_text; /* the default as YAML text, or "(required)" */
    char range[256];          /* "[128, 65536]", "kl|percentile|mse", or "" */
} qp_param_info;
QP_API void qp_params_describe(const qp_param_def *param, qp_param_info *info);
QP_API const char *qp_param_type_name(qp_param_type type);

#ifdef __cplusplus
}
#endif
#endif
