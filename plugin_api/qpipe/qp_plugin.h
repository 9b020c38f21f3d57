/* qp_plugin.h — the plugin ABI: the entry symbol, the plugin and pass descriptors, typed parameters. */
#ifndef QPIPE_QP_PLUGIN_H
#define QPIPE_QP_PLUGIN_H

#include <stdint.h>

#include "qpipe/qp_session.h"
#include "qpipe/qp_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A plugin built for another major version is refused; within a major version the API only
 * grows (new functions, new fields in reserved space), so a plugin built for minor m loads into
 * any host with minor >= m. */
#define QP_ABI_VERSION_MAJOR 1
#define QP_ABI_VERSION_MINOR 1

/* The one symbol every plugin exports. */
#define QP_PLUGIN_ENTRY_SYMBOL "qp_plugin_entry"

typedef enum qp_param_type {
    QP_PARAM_BOOL = 1,   /* YAML true/false */
    QP_PARAM_INT = 2,    /* range [min, max] checked */
    QP_PARAM_FLOAT = 3,  /* range [min, max] checked */
    QP_PARAM_STRING = 4, /* free text (paths) */
    QP_PARAM_ENUM = 5,   /* one of `choices`, a '|'-separated list: "kl|percentile|mse" */
} qp_param_type;

/* One parameter a pass accepts. The host validates YAML and --set values against it before any
 * pass runs, so a run function can trust what qp_params_* return. */
typedef struct qp_param_def {
    const char *name;
    qp_param_type type;
    const char *default_value; /* as YAML text: "2048", "true", "kl"; NULL = required */
    const char *help;
    double min, max;           /* INT and FLOAT; ignored when min > max (no range) */
    const char *choices;       /* ENUM */
    void *reserved[4];
} qp_param_def;

/* Validated parameter values, by name. Asking for a name the pass did not declare returns the
 * type's zero and records an error (a plugin bug, caught by the plugin's own tests). */
typedef struct qp_params qp_params;
QP_API int qp_params_bool(const qp_params *params, const char *name);
QP_API int64_t qp_params_int(const qp_params *params, const char *name);
QP_API double qp_params_float(const qp_params *params, const char *name);
QP_API const char *qp_params_string(const qp_params *params, const char *name); /* STRING and ENUM */

typedef qp_status (*qp_pass_run_fn)(qp_session *session, const qp_params *params, void *user);

typedef struct qp_pass_def {
    const char *name;     /* how YAML names the pass: lowercase, [a-z0-9_] */
    const char *version;  /* the pass's own version, e.g. "1.0.0" */
    const char *summary;  /* one line for `qpipe passes` */
    const qp_param_def *params;
    int n_params;
    qp_pass_run_fn run;
    void *user;           /* handed back to run */
    void *reserved[8];    /* room to grow without breaking built plugins */
} qp_pass_def;

typedef struct qp_plugin_desc {
    uint32_t abi_major;   /* QP_ABI_VERSION_MAJOR the plugin was built with */
    uint32_t abi_minor;   /* QP_ABI_VERSION_MINOR the plugin was built with */
    const char *name;
    const char *version;
    const char *summary;
    const qp_pass_def *passes;
    int n_passes;
    void *reserved[8];
} qp_plugin_desc;

/* The entry symbol: receives the host's ABI version and returns the plugin's descriptor (static
 * storage), or NULL to decline (e.g. a host too old for it). */
typedef const qp_plugin_desc *(*qp_plugin_entry_fn)(uint32_t host_abi_major, uint32_t host_abi_minor);

#if defined(__GNUC__)
#define QP_PLUGIN_VISIBLE __attribute__((visibility("default")))
#else
#define QP_PLUGIN_VISIBLE
#endif

/* Defines the entry symbol returning `desc` (a qp_plugin_desc with static storage). */
#define QP_PLUGIN_DEFINE(desc)                                                                 \
    QP_PLUGIN_VISIBLE const qp_plugin_desc *qp_plugin_entry(uint32_t host_abi_major,           \
                                                            uint32_t host_abi_minor) {         \
        (void)host_abi_major;                                                                  \
        (void)host_abi_minor;                                                                  \
        return &(desc);                                                                        \
    }

#ifdef __cplusplus
}
#endif
#endif
