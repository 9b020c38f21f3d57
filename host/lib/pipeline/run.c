/* run.c — turns a resolved pipeline into a session (model, quant settings, data, layers) and runs its passes in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/pipeline_impl.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

qp_status qp_pipeline_make_session(qp_pipeline *p, qp_session **out) {
    *out = NULL;
    if (!p->resolved) return qp_error(QP_ERR_INVALID_ARG, "%s: pipeline not resolved", p->path);
    qp_session *s;
    qp_status st = qp_session_new(&s);
    if (st != QP_OK) return st;
    qp_session_set_verbosity(s, p->verbosity);
    if (p->progress >= 0) qp_session_set_progress(s, p->progress);
    qp_session_set_run_options(s, p->batch, p->threads);
    if ((st = qp_session_load_model(s, p->model)) != QP_OK) {
        st = pl_error(p, p->model_node, st, "model: %s", qp_error_message());
        goto fail;
    }
    if ((st = qp_session_set_quant_config(s, &p->quant)) != QP_OK) goto fail;
    for (int r = 0; r < 2; r++) {
        if (!p->data[r].present) continue;
        st = r == 0 ? qp_session_set_calibration(s, &p->data[r].cfg) : qp_session_set_evaluation(s, &p->data[r].cfg);
        if (st != QP_OK) {
            st = pl_error(p, p->data[r].images_node, st, "data.%s: %s", r == 0 ? "calibration" : "evaluation",
                          qp_error_message());
            goto fail;
        }
    }
    for (int i = 0; i < p->n_layers; i++) {
        if ((st = qp_session_add_layer_override(s, &p->layers[i])) != QP_OK) {
            const pl_node *e = p->layer_nodes[i];
            const pl_node *at = strstr(qp_error_message(), "until:") ? pl_map_get(e, "until") : pl_map_get(e, "name");
            st = pl_error(p, at ? at : e, st, "layers[%d]: %s", i, qp_error_message());
            goto fail;
        }
    }
    /* Plan the fp32 engine now: a model it cannot run, or images that do not fit the model's
     * input, are reported before any pass spends time. */
    if ((st = qp_session_prepare(s)) != QP_OK) {
        const pl_node *at = p->preprocess_node ? p->preprocess_node : p->model_node;
        st = pl_error(p, strstr(qp_error_message(), "preprocess") ? at : p->model_node, st, "%s", qp_error_message());
        goto fail;
    }
    *out = s;
    return QP_OK;
fail:
    qp_session_free(s);
    return st;
}

qp_status qp_pipeline_run_passes(qp_pipeline *p, qp_session *s, qp_pass_timing *timings) {
    char where[1200];
    for (int i = 0; i < p->n_passes; i++) {
        const pl_pass *ps = &p->passes[i];
        if (timings) timings[i] = (qp_pass_timing){.name = ps->def->name, .seconds = 0};
        qp_session_set_current_pass(s, ps->def->name);
        qp_log(s, QP_LOG_DEBUG, "running (%s)", pl_where(p, ps->node, where, sizeof where));
        qp_error_clear();
        double t0 = now_s();
        qp_status st = ps->def->run(s, ps->params, ps->def->user);
        double seconds = now_s() - t0;
        if (timings) timings[i].seconds = seconds;
        qp_session_set_current_pass(s, NULL);
        if (st != QP_OK) {
            pl_where(p, ps->node, where, sizeof where);
            if (!qp_error_message()[0]) /* a plugin that returned a status without a message */
                return qp_error(st, "pass '%s' (%s): %s", ps->def->name, where, qp_status_name(st));
            return qp_error_prefix(st, "pass '%s' (%s): ", ps->def->name, where);
        }
        qp_log(s, QP_LOG_INFO, "%s: done in %.2f s", ps->def->name, seconds);
    }
    return QP_OK;
}
