/* pipeline.h — YAML pipelines: parsing, --set overrides, validation, building the session and running the passes. */
#ifndef QPIPE_PIPELINE_H
#define QPIPE_PIPELINE_H

#include <stdint.h>

#include "plugin/registry.h"
#include "session/session.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A pipeline goes through four steps, each reporting errors as "file:line:col: message" (or
 * "--set KEY=VALUE: message" for overrides) before anything runs:
 *   qp_pipeline_load      libyaml parse into a tree (malformed YAML: libyaml's line and column)
 *   qp_pipeline_set       --set overrides edit the tree
 *   qp_pipeline_resolve   keys, types, ranges, pass names and parameters (via the registry),
 *                         model and image paths exist
 *   qp_pipeline_make_session  loads the model, opens the data sets, checks layers: names,
 *                         plans the fp32 engine
 * then qp_pipeline_run_passes runs the passes in order. docs/pipelines.md is the reference. */
typedef struct qp_pipeline qp_pipeline;

QP_API qp_status qp_pipeline_load(const char *path, qp_pipeline **out);
/* Same from text: name is used in messages, base_dir resolves relative paths (NULL = "."). */
QP_API qp_status qp_pipeline_load_string(const char *text, const char *name, const char *base_dir,
                                         qp_pipeline **out);
QP_API void qp_pipeline_free(qp_pipeline *pipeline);

/* One "KEY=VALUE" override. KEY is a dotted path: model, data.calibration.count, quant.weights.bits,
 * run.batch, layers.0.skip, or PASS.PARAM / passes.PASS.PARAM for every pass of that name in the
 * list. VALUE is read as YAML (so "[0.5, 0.5, 0.5]" is a list); paths in VALUE are relative to
 * the current directory. */
QP_API qp_status qp_pipeline_set(qp_pipeline *pipeline, const char *assignment);

QP_API qp_status qp_pipeline_resolve(qp_pipeline *pipeline, const qp_registry *registry);

/* Verbosity and progress settings for the session it builds (defaults: INFO, auto). */
QP_API void qp_pipeline_set_logging(qp_pipeline *pipeline, qp_log_level verbosity, int progress);
QP_API qp_status qp_pipeline_make_session(qp_pipeline *pipeline, qp_session **out);

typedef struct qp_pass_timing {
    const char *name;  /* valid while the pipeline lives */
    double seconds;
} qp_pass_timing;

/* Runs every pass in order; timings (n = qp_pipeline_num_passes) receives each pass's wall time,
 * as far as they got. A failing pass stops the run: "pass 'calib_minmax' (x.yaml:14:5): ...". */
QP_API qp_status qp_pipeline_run_passes(qp_pipeline *pipeline, qp_session *session, qp_pass_timing *timings);

/* ---- what a resolved pipeline says -------------------------------------------------------------- */
QP_API const char *qp_pipeline_path(const qp_pipeline *pipeline);
QP_API const char *qp_pipeline_model(const qp_pipeline *pipeline);  /* resolved path */
QP_API int qp_pipeline_num_passes(const qp_pipeline *pipeline);
QP_API const char *qp_pipeline_pass_name(const qp_pipeline *pipeline, int i);
QP_API const qp_params *qp_pipeline_pass_params(const qp_pipeline *pipeline, int i);
QP_API const qp_quant_config *qp_pipeline_quant(const qp_pipeline *pipeline);
QP_API int qp_pipeline_batch(const qp_pipeline *pipeline);
QP_API int qp_pipeline_threads(const qp_pipeline *pipeline);
QP_API int qp_pipeline_num_layers(const qp_pipeline *pipeline);
QP_API const qp_layer_override *qp_pipeline_layer(const qp_pipeline *pipeline, int i);
/* role: 0 calibration, 1 evaluation. NULL when the pipeline has no such data set. The config's
 * paths are resolved against the pipeline's folder. */
QP_API const qp_dataset_config *qp_pipeline_data(const qp_pipeline *pipeline, int role);

/* ---- scoring ------------------------------------------------------------------------------------- */
typedef struct qp_mode_score {
    int available;        /* 0: the engine could not run this mode (error holds why) */
    char error[512];
    int64_t top1, top5;   /* labelled images whose label is in the top 1 / top 5 */
    int64_t agree;        /* images whose top-1 equals fp32's top-1 */
    double signal, noise; /* sum x^2 of fp32 outputs, sum (x - x_mode)^2 */
} qp_mode_score;

typedef struct qp_score {
    int64_t images;    /* evaluated */
    int64_t labelled;  /* with a label; 0 = no accuracy */
    int64_t skipped;   /* unreadable */
    int64_t classes;   /* values per image of output 0 */
    qp_mode_score fp32, quantsim, int8;
    double seconds;
} qp_score;

/* Runs the evaluation set through the fp32, quantsim and int8 engines (one batch at a time, so
 * memory stays bounded). Top-1/top-5 and agreement use output 0; SQNR sums over every float
 * output. A mode the engine cannot plan is reported in its qp_mode_score, not as an error. */
QP_API qp_status qp_session_score(qp_session *session, qp_score *score);
/* 10 log10(signal / noise); +inf when noise is 0. */
QP_API double qp_score_sqnr_db(const qp_mode_score *mode);
/* Writes the JSON report (see docs/pipelines.md) to a temporary name and renames it into place. */
QP_API qp_status qp_score_write_json(const char *path, const char *model, const qp_score *score,
                                     const qp_pass_timing *timings, int n_timings);

#ifdef __cplusplus
}
#endif
#endif
