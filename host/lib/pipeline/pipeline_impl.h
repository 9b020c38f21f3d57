/* pipeline_impl.h — the pipeline's located YAML tree and resolved configuration, shared by the pipeline's own files. */
#ifndef QPIPE_PIPELINE_IMPL_H
#define QPIPE_PIPELINE_IMPL_H

#include <stddef.h>

#include "pipeline/pipeline.h"

typedef enum pl_kind { PL_NULL, PL_SCALAR, PL_SEQ, PL_MAP } pl_kind;

/* A YAML node with its position: line/col are 1-based in the file; origin is the --set
 * assignment a node came from (NULL for the file). */
typedef struct pl_node {
    pl_kind kind;
    int line, col;
    const char *origin;
    char *text;  /* SCALAR (and NULL's spelling) */
    int quoted;
    struct pl_node **items; /* SEQ items, MAP values */
    struct pl_node **keys;  /* MAP keys (scalars) */
    int n, cap;
} pl_node;

typedef struct pl_data {
    int present;
    qp_dataset_config cfg;
    char *images, *labels, *list; /* resolved paths, owned */
    const pl_node *node, *images_node;
} pl_data;

typedef struct pl_pass {
    const qp_pass_def *def;
    qp_params *params;
    const pl_node *node;
} pl_pass;

struct qp_pipeline {
    char *path;
    char *dir;
    pl_node *root;
    char **sets; /* --set assignments (nodes' origin points into them) */
    int n_sets;
    qp_log_level verbosity;
    int progress;

    int resolved;
    char *model;
    const pl_node *model_node;
    pl_data data[2];
    const pl_node *preprocess_node;
    qp_quant_config quant;
    qp_layer_override *layers; /* strings point into the tree */
    const pl_node **layer_nodes;
    int n_layers;
    pl_pass *passes;
    int n_passes;
    int batch, threads;
};

void pl_node_free(pl_node *n);
pl_node *pl_map_get(const pl_node *map, const char *key);
const char *pl_pass_entry_name(const pl_node *entry);
/* "file:line:col" or "--set KEY=VALUE". */
const char *pl_where(const qp_pipeline *p, const pl_node *n, char *buf, size_t cap);
/* Records "<where>: message" and returns st. */
qp_status pl_error(const qp_pipeline *p, const pl_node *n, qp_status st, const char *fmt, ...) QP_PRINTF(4, 5);
void pl_resolved_clear(qp_pipeline *p);

#endif
