/* registry_internal.h — the registry's layout, shared by registry.c (the table) and loader.c (plugins). */
#ifndef QPIPE_PLUGIN_REGISTRY_INTERNAL_H
#define QPIPE_PLUGIN_REGISTRY_INTERNAL_H

#include "plugin/registry.h"

typedef struct registry_pass {
    const qp_pass_def *def;
    char *origin;
} registry_pass;

/* A plugin file seen by the loader; handle is NULL for one that declined. */
typedef struct registry_plugin {
    void *handle;
    char *path;     /* as found on the search path: what messages and origins show */
    char *realpath; /* identity: a file reached twice loads once */
} registry_plugin;

struct qp_registry {
    registry_pass *passes; /* sorted by name */
    int n_passes, cap_passes;
    registry_plugin *plugins;
    int n_plugins, cap_plugins;
    char **notes;
    int n_notes, cap_notes;
    char **search; /* NULL-terminated, from the last qp_registry_load_search_path */
    int n_search;
};

/* Checks every pass of a plugin (or any batch) and adds all of them, or none. */
qp_status qp_registry_add_batch(qp_registry *reg, const qp_pass_def *defs, int n_defs, const char *origin);
/* Appends a formatted note; QP_ERR_NOMEM on failure. */
qp_status qp_registry_add_note(qp_registry *reg, const char *fmt, ...) QP_PRINTF(2, 3);

#endif
