/* session_impl.h — the layout of struct qp_session, shared by the session's own source files only. */
#ifndef QPIPE_SESSION_IMPL_H
#define QPIPE_SESSION_IMPL_H

#include "session/session.h"

struct qp_model {
    qp_session *session;
};

typedef struct session_layer {
    char *name;
    int skip; /* 1 skip, 0 quantize, -1 not given */
    char **until;
    int n_until;
    int bits;
} session_layer;

/* Host-derived bias encoding (int32, scale = s_in * s_w), recomputed when asked for. */
typedef struct bias_encoding {
    int n;
    int axis;
    float *scale;
    int32_t *zero_point;
    float *min, *max;
} bias_encoding;

typedef struct session_data {
    int present;
    qp_dataset_config cfg; /* strings below are owned copies */
    char *images, *labels, *list;
    qp_dataset *ds;
} session_data;

struct qp_session {
    struct qp_model model;
    qp_graph *graph;
    char *model_path;
    qp_encodings *encodings;
    qp_quant_config quant;
    session_layer *layers;
    int n_layers;

    /* Derived from the graph, the layer overrides and the fp32 plan's dtypes; rebuilt after
     * qp_session_graph_changed. */
    int derived_valid;
    int n_tensors, n_nodes;
    unsigned char *is_const;
    unsigned char *node_skip;
    int *node_bits;
    qp_tensor_role *roles;
    int *source;
    int *weight_axis;
    int *weight_node; /* the consumer that makes a tensor a weight or bias */
    bias_encoding *bias;

    session_data calib, eval;
    int batch;      /* requested */
    int plan_batch; /* effective, fixed once the fp32 plan exists */
    int threads;

    qp_log_level verbosity;
    int progress; /* -1 auto (stderr is a TTY), 0 off, 1 on */
    int progress_drawn;
    double progress_last;
    char *current_pass;

    qp_plan *fp32_plan;
    qp_input_shape input_shape;
    char *input_name;
    int has_input_shape;

    /* Set only while qp_session_run_calibration runs. */
    qp_activation_fn calib_fn;
    void *calib_user;
    int calib_rows;
};

/* Derives roles and the plan when needed (const callers go through this). */
qp_status qp_session_derive(qp_session *session);
/* Clears the progress line before printing something else on stderr. */
void qp_session_progress_clear(qp_session *session);

#endif
