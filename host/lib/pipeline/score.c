/* score.c — scores a session on its evaluation set in fp32, quantsim and int8: top-1/top-5, agreement with fp32, SQNR; JSON report. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/pipeline.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Rank of the true class (0 = top-1): classes scoring higher, plus equal scores at a lower index
 * (ties resolved like an arg-max), as `qpipe eval` counts. */
static int64_t label_rank(const float *logits, int64_t classes, int label) {
    int64_t rank = 0;
    for (int64_t c = 0; c < classes; c++)
        if (logits[c] > logits[label] || (logits[c] == logits[label] && c < label)) rank++;
    return rank;
}

static int64_t argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

double qp_score_sqnr_db(const qp_mode_score *m) {
    if (m->noise <= 0) return INFINITY;
    return 10.0 * log10(m->signal / m->noise);
}

typedef struct mode_run {
    qp_mode_score *score;
    qp_plan *plan;
    int owned;
} mode_run;

qp_status qp_session_score(qp_session *s, qp_score *out) {
    memset(out, 0, sizeof *out);
    qp_dataset *ds = qp_session_evaluation_dataset(s);
    if (!ds) return qp_error(QP_ERR_INVALID_ARG, "scoring needs data.evaluation in the pipeline");
    qp_plan *fp32;
    qp_status st = qp_session_prepare(s);
    if (st == QP_OK) st = qp_session_fp32_plan(s, &fp32);
    if (st != QP_OK) return st;
    mode_run modes[3] = {{&out->fp32, fp32, 0}, {&out->quantsim, NULL, 1}, {&out->int8, NULL, 1}};
    out->fp32.available = 1;
    const qp_engine_mode engine_modes[3] = {QP_MODE_FP32, QP_MODE_QUANTSIM, QP_MODE_INT8};
    for (int m = 1; m < 3; m++) {
        if (qp_session_create_plan(s, engine_modes[m], &modes[m].plan) == QP_OK) {
            modes[m].score->available = 1;
            char fallbacks[2048];
            if (engine_modes[m] == QP_MODE_INT8) {
                if (qp_plan_fp32_fallback_summary(modes[m].plan, fallbacks, sizeof fallbacks))
                    qp_log(s, QP_LOG_INFO, "int8: %d nodes in integer kernels; ops run in fp32: %s",
                           qp_plan_num_int8_nodes(modes[m].plan), fallbacks);
                else
                    qp_log(s, QP_LOG_INFO, "int8: all %d quantized nodes run in integer kernels",
                           qp_plan_num_int8_nodes(modes[m].plan));
            }
        } else {
            snprintf(modes[m].score->error, sizeof modes[m].score->error, "%s", qp_error_message());
            qp_log(s, QP_LOG_WARN, "%s engine unavailable: %s", m == 1 ? "quantsim" : "int8", qp_error_message());
        }
    }
    const int batch = qp_session_batch(s);
    const int n_out = qp_plan_num_outputs(fp32);
    const qp_value *out0 = qp_plan_output(fp32, 0);
    out->classes = qp_shape_numel(&out0->shape) / batch;
    /* fp32 outputs of the batch, kept while the other modes run */
    size_t ref_bytes = 0;
    for (int k = 0; k < n_out; k++) ref_bytes += qp_plan_output(fp32, k)->nbytes;
    unsigned char *ref = malloc(ref_bytes ? ref_bytes : 1);
    qp_dataset_iter *it = NULL;
    if (!ref) st = qp_error(QP_ERR_NOMEM, "out of memory scoring");
    if (st == QP_OK) st = qp_dataset_iter_new(ds, batch, &it);
    const size_t sample_bytes = qp_plan_input(fp32, 0)->nbytes / (size_t)batch;
    const int64_t total = qp_dataset_size(ds);
    double t0 = now_s();
    while (st == QP_OK) {
        qp_batch b;
        if ((st = qp_dataset_iter_next(it, &b)) != QP_OK || b.n == 0) break;
        for (int m = 0; m < 3 && st == QP_OK; m++) {
            if (!modes[m].score->available) continue;
            qp_value *in = qp_plan_input(modes[m].plan, 0);
            if (in->nbytes != sample_bytes * (size_t)batch) {
                st = qp_error(QP_ERR_SHAPE, "the %s plan's input differs from fp32's", m == 1 ? "quantsim" : "int8");
                break;
            }
            /* A short last batch runs padded with zeros: images are independent in inference. */
            memcpy(in->data, b.data, (size_t)b.n * sample_bytes);
            memset((char *)in->data + (size_t)b.n * sample_bytes, 0, (size_t)(batch - b.n) * sample_bytes);
            if ((st = qp_plan_run(modes[m].plan)) != QP_OK) {
                if (m == 0) break;
                /* A mode that fails at run time is reported like one that cannot be planned. */
                snprintf(modes[m].score->error, sizeof modes[m].score->error, "%s", qp_error_message());
                qp_log(s, QP_LOG_WARN, "%s engine failed: %s", m == 1 ? "quantsim" : "int8", qp_error_message());
                modes[m].score->available = 0;
                st = QP_OK;
                continue;
            }
            qp_mode_score *sc = modes[m].score;
            size_t off = 0;
            for (int k = 0; k < n_out; k++) {
                const qp_value *o = qp_plan_output(modes[m].plan, k);
                const qp_value *r = qp_plan_output(fp32, k);
                if (m == 0) memcpy(ref + off, o->data, o->nbytes);
                if (o->dtype == QP_DT_FLOAT && r->dtype == QP_DT_FLOAT && o->nbytes == r->nbytes) {
                    /* only the real rows count where the batch is the leading dim */
                    int64_t numel = (int64_t)(o->nbytes / sizeof(float));
                    int64_t used = numel % batch == 0 ? numel / batch * b.n : numel;
                    const float *x = (const float *)(ref + off), *y = o->data;
                    double sig = 0, noise = 0;
                    for (int64_t i = 0; i < used; i++) {
                        double d = (double)x[i] - (double)y[i];
                        sig += (double)x[i] * x[i];
                        noise += d * d;
                    }
                    sc->signal += sig;
                    sc->noise += noise;
                }
                off += r->nbytes;
            }
            if (out0->dtype != QP_DT_FLOAT) continue;
            const float *logits = qp_plan_output(modes[m].plan, 0)->data, *ref0 = (const float *)ref;
            for (int i = 0; i < b.n; i++) {
                const float *row = logits + (int64_t)i * out->classes, *ref_row = ref0 + (int64_t)i * out->classes;
                if (argmax(row, out->classes) == argmax(ref_row, out->classes)) sc->agree++;
                int label = b.labels[i];
                if (label < 0) continue;
                if (label >= out->classes) {
                    st = qp_error(QP_ERR_INVALID_ARG, "%s has label %d but the model outputs %" PRId64 " classes",
                                  qp_dataset_name(ds, b.indices[i]), label, out->classes);
                    break;
                }
                int64_t rank = label_rank(row, out->classes, label);
                sc->top1 += rank < 1;
                sc->top5 += rank < 5;
            }
        }
        if (st != QP_OK) break;
        for (int i = 0; i < b.n; i++) out->labelled += b.labels[i] >= 0;
        out->images += b.n;
        qp_progress(s, "evaluation", out->images, total);
    }
    out->seconds = now_s() - t0;
    if (it) {
        out->skipped = qp_dataset_iter_skipped(it);
        for (int64_t k = 0; k < out->skipped && k < 5; k++)
            qp_log(s, QP_LOG_WARN, "skipped evaluation image %s: %s", qp_dataset_iter_skipped_name(it, k),
                   qp_dataset_iter_skipped_reason(it, k));
    }
    if (st == QP_OK && out->images == 0) st = qp_error(QP_ERR_INVALID_ARG, "no readable evaluation images");
    qp_dataset_iter_free(it);
    free(ref);
    for (int m = 1; m < 3; m++) qp_plan_free(modes[m].plan);
    return st;
}

/* ---- JSON ------------------------------------------------------------------------------------------ */

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
        else if (*c < 0x20) fprintf(f, "\\u%04x", *c);
        else fputc(*c, f);
    }
    fputc('"', f);
}

static void json_fraction(FILE *f, int ok, int64_t num, int64_t den) {
    if (!ok || den <= 0) fputs("null", f);
    else fprintf(f, "%.6f", (double)num / (double)den);
}

static void json_mode(FILE *f, const char *name, const qp_mode_score *m, const qp_score *s, int full) {
    fprintf(f, "  \"%s\": {\"top1\": ", name);
    json_fraction(f, m->available, m->top1, s->labelled);
    fputs(", \"top5\": ", f);
    json_fraction(f, m->available, m->top5, s->labelled);
    if (full) {
        fputs(", \"agreement\": ", f);
        json_fraction(f, m->available, m->agree, s->images);
        double db = qp_score_sqnr_db(m);
        /* JSON has no infinity: identical outputs (no noise) write null, like an unavailable mode. */
        if (m->available && isfinite(db)) fprintf(f, ", \"sqnr_db\": %.4f", db);
        else fputs(", \"sqnr_db\": null", f);
    }
    fputs("},\n", f);
}

qp_status qp_score_write_json(const char *path, const char *model, const qp_score *s, const qp_pass_timing *timings,
                              int n_timings) {
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) return qp_error(QP_ERR_NOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        free(tmp);
        return qp_error(QP_ERR_IO, "%s: cannot write", path);
    }
    fputs("{\n  \"model\": ", f);
    json_string(f, model ? model : "");
    fprintf(f, ",\n  \"images\": %" PRId64 ",\n", s->images);
    json_mode(f, "fp32", &s->fp32, s, 0);
    json_mode(f, "quantsim", &s->quantsim, s, 1);
    json_mode(f, "int8", &s->int8, s, 1);
    fputs("  \"passes\": [", f);
    for (int i = 0; i < n_timings; i++) {
        fputs(i ? ", " : "", f);
        fputs("{\"name\": ", f);
        json_string(f, timings[i].name ? timings[i].name : "");
        fprintf(f, ", \"seconds\": %.3f}", timings[i].seconds);
    }
    fputs("]\n}\n", f);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        free(tmp);
        return qp_error(QP_ERR_IO, "%s: cannot write", path);
    }
    free(tmp);
    return QP_OK;
}
