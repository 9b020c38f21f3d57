/* calib_kl.c — plugin pass calib_kl: activation encodings from streaming histograms (kl, percentile, mse), min/max weights, calibration cache. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <qpipe/qp_plugin.h>

#include "kl_cache.h"
#include "kl_hist.h"
#include "kl_pool.h"

#define KL_FLOAT32 1                  /* ONNX TensorProto.DataType */
#define KL_SAMPLE_MIN_PER_IMAGE 16384 /* activations smaller than this per image are never sampled */

typedef struct kl_options {
    kl_method method;
    const char *method_name;
    int bins;
    double percentile;
    const char *symmetric; /* spec | true | false */
    int bits;              /* 0: the spec's */
    const char *cache;
    int weights; /* set weight encodings (min/max) */
    int benchmark;
    int threads; /* binning threads; 0: one per core */
    int sample;  /* bin one value in `sample` */
    uint64_t seed;
    int outputs_minmax; /* model outputs keep min/max */
} kl_options;

/* Histograms by tensor id; a tensor the session never hands us keeps bins == 0. */
typedef struct kl_state {
    kl_hist *hists;
    int n_tensors;
    int bins;
    int out_of_memory;
    kl_pool *pool; /* NULL: bin on the calling thread */
    int sample;    /* bin one value in `sample` */
    uint64_t seed;
    uint64_t *seen; /* by tensor: values seen so far, where sampling positions continue */
    int *every;     /* by tensor: its sampling (1: every value) */
} kl_state;

static double clock_seconds(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now_seconds(void) {
    return clock_seconds(CLOCK_MONOTONIC);
}
/* CPU time of the whole process (every thread): on a shared machine it is what the work cost,
 * where wall time also counts the time other processes held the cores. */
static double cpu_seconds(void) {
    return clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
}

static void kl_observe(void *user, int tensor, const float *data, int rank, const int64_t *dims) {
    kl_state *st = user;
    if (tensor < 0 || tensor >= st->n_tensors || st->out_of_memory) return;
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= dims[d] > 0 ? dims[d] : 0;
    kl_hist *h = &st->hists[tensor];
    if (h->bins == 0) {
        kl_hist_init(h, st->bins);
        /* Sampling pays only on large activations; small ones (logits, pooled features) are
         * binned whole. Decided once per tensor from its size per image (dims[0] is the batch),
         * so neither the batch size nor a short last batch changes it. */
        int64_t per_image = rank > 0 && dims[0] > 0 ? n / dims[0] : n;
        st->every[tensor] = per_image >= KL_SAMPLE_MIN_PER_IMAGE ? st->sample : 1;
    }
    /* Sampling positions continue across batches; the key is the seed's and the tensor's. */
    kl_sample smp = {.every = st->every[tensor],
                     .key = kl_hash_int(kl_hash_int(KL_HASH_INIT, (int64_t)st->seed), tensor),
                     .origin = (int64_t)st->seen[tensor]};
    st->seen[tensor] += (uint64_t)n;
    if ((st->pool ? kl_pool_add(st->pool, h, data, n, &smp) : kl_hist_add_sampled(h, data, n, &smp)) != 0)
        st->out_of_memory = 1;
}

/* Plain fp32 inference: the baseline the benchmark compares calibration with. */
static void kl_observe_nothing(void *user, int tensor, const float *data, int rank, const int64_t *dims) {
    (void)user, (void)tensor, (void)data, (void)rank, (void)dims;
}

/* Whether a tensor belongs to the model's output head: a graph output, or a tensor from which
 * outputs are computed only by ops that keep each value's rank among its neighbours (reshapes,
 * Softmax, Sigmoid, Relu, a global average, a constant bias or factor), as logits -> + bias ->
 * output, or class maps -> Relu -> GlobalAveragePool -> Softmax -> output. Clipping any of them
 * clips the largest outputs, which decide the arg-max. */
static int is_model_output(const qp_model *m, int t, int depth) {
    static const char *const head_ops[] = {
        "Reshape",           "Flatten", "Squeeze",    "Unsqueeze", "Identity",
        "Transpose",         "Softmax", "LogSoftmax", "Sigmoid",   "Relu",
        "GlobalAveragePool", "Add",     "Sub",        "Mul",       "Div"};
    if (qp_model_tensor_is_graph_output(m, t)) return 1;
    int n = qp_model_tensor_num_consumers(m, t);
    if (depth > 16 || n == 0) return 0;
    for (int k = 0; k < n; k++) {
        int node = qp_model_tensor_consumer(m, t, k), known = 0;
        const char *op = qp_model_node_op(m, node);
        if (qp_model_node_domain(m, node)[0] != '\0') return 0;
        for (size_t i = 0; i < sizeof head_ops / sizeof head_ops[0] && !known; i++)
            known = strcmp(op, head_ops[i]) == 0;
        if (!known) return 0;
        int binary = strcmp(op, "Add") == 0 || strcmp(op, "Sub") == 0 || strcmp(op, "Mul") == 0 ||
                     strcmp(op, "Div") == 0;
        if (binary) { /* the other operand must be a constant (bias, scale) */
            if (qp_model_node_num_inputs(m, node) != 2) return 0;
            int other = qp_model_node_input(m, node, qp_model_node_input(m, node, 0) == t ? 1 : 0);
            size_t nbytes;
            if (other < 0 || other == t || !qp_model_tensor_data(m, other, &nbytes)) return 0;
        } else if (qp_model_node_input(m, node, 0) != t) {
            return 0;
        }
        if (!is_model_output(m, qp_model_node_output(m, node, 0), depth + 1)) return 0;
    }
    return 1;
}

/* The encoding an activation gets: the session's spec with the pass's overrides. */
static qp_status activation_spec(qp_session *s, const kl_options *o, int tensor, qp_quant_spec *spec) {
    qp_status st = qp_session_quant_spec(s, tensor, spec);
    if (st != QP_OK) return st;
    if (o->bits) spec->bits = o->bits;
    if (strcmp(o->symmetric, "true") == 0)
        spec->symmetric = 1;
    else if (strcmp(o->symmetric, "false") == 0)
        spec->symmetric = 0;
    return QP_OK;
}

/* Fingerprint of every activation's (name, bits, symmetric, kept at min/max as a model output),
 * and whether all are int8 symmetric: TensorRT's own setting, for which the table is written
 * without qpipe's header tail. */
static qp_status spec_fingerprint(qp_session *s, const kl_options *o, uint64_t *hash,
                                  int *all_int8_symmetric) {
    qp_model *m = qp_session_model(s);
    uint64_t h = KL_HASH_INIT;
    int trt = 1;
    for (int t = 0; t < qp_model_num_tensors(m); t++) {
        if (qp_session_tensor_role(s, t) != QP_ROLE_ACTIVATION) continue;
        qp_quant_spec spec;
        qp_status st = activation_spec(s, o, t, &spec);
        if (st != QP_OK) return st;
        h = kl_hash_str(h, qp_model_tensor_name(m, t));
        h = kl_hash_int(h, spec.bits);
        h = kl_hash_int(h, spec.symmetric);
        h = kl_hash_int(h, o->outputs_minmax && is_model_output(m, t, 0));
        trt &= spec.bits == 8 && spec.symmetric;
    }
    *hash = h;
    *all_int8_symmetric = trt;
    return QP_OK;
}

/* Sets a tensor's encoding from a range, always through its cache entry, so a run that reads the
 * cache sets exactly what the run that wrote it did. */
static qp_status apply_entry(qp_session *s, int tensor, const qp_quant_spec *spec, const kl_cache_entry *e) {
    float lo, hi;
    kl_cache_entry_range(e, &lo, &hi);
    return qp_session_set_range(s, tensor, spec->bits, spec->symmetric, -1, 1, &lo, &hi);
}

/* ---- the cache ------------------------------------------------------------------------------------------
 */

/* Why a readable table cannot serve this run (written into why), or "" when it can. */
static void cache_mismatch(qp_session *s, const kl_options *o, const kl_cache *c, uint64_t hash, int trt,
                           char *why, size_t cap) {
    qp_model *m = qp_session_model(s);
    why[0] = '\0';
    if (strcmp(c->algorithm, kl_cache_algorithm(o->method_name)) != 0 &&
        !(o->method == KL_METHOD_KL && strcmp(c->algorithm, "EntropyCalibration") == 0)) {
        snprintf(why, cap, "it holds %s, this run computes %s", c->algorithm,
                 kl_cache_algorithm(o->method_name));
        return;
    }
    if (c->has_settings) {
        if (strcmp(c->method, o->method_name) != 0 || c->bins != o->bins ||
            (o->method == KL_METHOD_PERCENTILE && c->percentile != o->percentile)) {
            snprintf(why, cap,
                     "it was computed with method=%s bins=%d percentile=%g, this run uses method=%s bins=%d "
                     "percentile=%g",
                     c->method, c->bins, c->percentile, o->method_name, o->bins, o->percentile);
            return;
        }
        if (c->spec_hash != hash) {
            snprintf(
                why, cap,
                "the activations (names, bit-widths, symmetry, output handling) differ from those it was "
                "written for");
            return;
        }
    } else if (!trt) {
        snprintf(why, cap,
                 "a TensorRT table holds int8 symmetric encodings, this run's activations are not all int8 "
                 "symmetric");
        return;
    }
    for (int i = 0; i < c->n_entries; i++) {
        const kl_cache_entry *e = &c->entries[i];
        int t = qp_model_find_tensor(m, e->name);
        if (t < 0) {
            snprintf(why, cap, "line %d: tensor '%.200s' is not in the model", e->line, e->name);
            return;
        }
        if (qp_session_tensor_role(s, t) != QP_ROLE_ACTIVATION) {
            snprintf(why, cap, "line %d: tensor '%.200s' is not a quantized activation", e->line, e->name);
            return;
        }
    }
}

/* Applies a matching table. *used = 0 (nothing changed) when it does not match this run. */
static qp_status cache_apply(qp_session *s, const kl_options *o, const kl_cache *c, uint64_t hash, int trt,
                             int *used) {
    char why[512];
    *used = 0;
    cache_mismatch(s, o, c, hash, trt, why, sizeof why);
    qp_model *m = qp_session_model(s);
    if (!why[0]) {
        /* From a clean slate, so that the coverage check below sees only what the table sets. */
        for (int t = 0; t < qp_model_num_tensors(m); t++)
            if (qp_session_tensor_role(s, t) == QP_ROLE_ACTIVATION) qp_session_clear_encoding(s, t);
        for (int i = 0; i < c->n_entries; i++) {
            int t = qp_model_find_tensor(m, c->entries[i].name);
            qp_quant_spec spec;
            qp_status st = activation_spec(s, o, t, &spec);
            if (st == QP_OK) st = apply_entry(s, t, &spec, &c->entries[i]);
            if (st != QP_OK) return qp_error_prefix(st, "%s:%d: ", o->cache, c->entries[i].line);
        }
        /* A TensorRT table carries no fingerprint: it must cover every activation (shared
         * encodings, such as Reshape outputs, come with their source's). */
        for (int t = 0; t < qp_model_num_tensors(m) && !c->has_settings && !why[0]; t++)
            if (qp_session_tensor_role(s, t) == QP_ROLE_ACTIVATION &&
                qp_session_get_encoding(s, t, NULL, NULL, NULL, NULL, NULL, NULL, NULL) == 0)
                snprintf(why, sizeof why, "it has no entry for activation '%.200s'",
                         qp_model_tensor_name(m, t));
    }
    if (why[0]) {
        qp_log(s, QP_LOG_WARN,
               "calibration cache %s does not fit this run (%s): calibrating and rewriting it", o->cache,
               why);
        return QP_OK;
    }
    *used = 1;
    return QP_OK;
}

/* ---- calibration ------------------------------------------------------------------------------------------
 */

typedef struct kl_timing {
    double forward_s, forward_cpu_s; /* fp32 runs with histograms: wall and CPU seconds */
    double ranges_s;                 /* the range searches */
    double plain_s, plain_cpu_s;     /* plain fp32 runs over the same images (benchmark) */
} kl_timing;

/* Each observed activation's range by the method, applied through its cache-table entry;
 * NaN/Inf and degenerate tensors reported once. */
static qp_status set_ranges(qp_session *s, const kl_options *o, const kl_state *st, kl_cache *table) {
    qp_model *m = qp_session_model(s);
    qp_status status = QP_OK;
    int64_t nonfinite = 0;
    int n_nonfinite_tensors = 0, first_nonfinite = -1, n_degenerate = 0, first_degenerate = -1;
    for (int t = 0; t < st->n_tensors && status == QP_OK; t++) {
        kl_hist *h = &st->hists[t];
        if (h->bins == 0) continue;
        if (h->nonfinite) {
            nonfinite += (int64_t)h->nonfinite;
            if (n_nonfinite_tensors++ == 0) first_nonfinite = t;
        }
        qp_quant_spec spec;
        if ((status = activation_spec(s, o, t, &spec)) != QP_OK) break;
        kl_settings ks = {
            .method = o->method, .bits = spec.bits, .symmetric = spec.symmetric, .percentile = o->percentile};
        if (o->outputs_minmax && is_model_output(m, t, 0)) { /* percentile 100 is exactly min/max */
            ks.method = KL_METHOD_PERCENTILE;
            ks.percentile = 100.0;
        }
        float lo, hi;
        int rc = kl_hist_range(h, &ks, &lo, &hi);
        if (rc == KL_RANGE_NOMEM) {
            status = qp_error(QP_ERR_NOMEM, "out of memory searching the range of '%s'",
                              qp_model_tensor_name(m, t));
            break;
        }
        if (rc == KL_RANGE_DEGENERATE && n_degenerate++ == 0) first_degenerate = t;
        qp_log(s, QP_LOG_DEBUG, "'%s': min %g max %g -> [%g, %g] (%d-bit %s)", qp_model_tensor_name(m, t),
               (double)(h->finite ? h->min : 0), (double)(h->finite ? h->max : 0), (double)lo, (double)hi,
               spec.bits, spec.symmetric ? "symmetric" : "asymmetric");
        if (kl_cache_add(table, qp_model_tensor_name(m, t), lo, hi, spec.symmetric) != 0) {
            status = qp_error(QP_ERR_NOMEM, "out of memory");
            break;
        }
        status = apply_entry(s, t, &spec, &table->entries[table->n_entries - 1]);
    }
    uint64_t observed = 0;
    for (int t = 0; t < st->n_tensors; t++)
        observed += st->hists[t].finite + st->hists[t].nonfinite;
    qp_log(s, QP_LOG_DEBUG, "%llu activation values observed", (unsigned long long)observed);
    if (status == QP_OK && nonfinite)
        qp_log(s, QP_LOG_WARN, "ignored %lld NaN/Inf activation values in %d tensor%s (first: '%s')",
               (long long)nonfinite, n_nonfinite_tensors, n_nonfinite_tensors == 1 ? "" : "s",
               qp_model_tensor_name(m, first_nonfinite));
    if (status == QP_OK && n_degenerate)
        qp_log(s, QP_LOG_WARN,
               "%d activation%s had no finite non-zero value on any calibration image (first: '%s'): "
               "given scale 1",
               n_degenerate, n_degenerate == 1 ? "" : "s", qp_model_tensor_name(m, first_degenerate));
    return status;
}

static qp_status calibrate(qp_session *s, const kl_options *o, kl_cache *table, kl_timing *timing) {
    qp_model *m = qp_session_model(s);
    kl_state st = {
        .n_tensors = qp_model_num_tensors(m), .bins = o->bins, .sample = o->sample, .seed = o->seed};
    st.hists = calloc((size_t)(st.n_tensors > 0 ? st.n_tensors : 1), sizeof *st.hists);
    st.seen = calloc((size_t)(st.n_tensors > 0 ? st.n_tensors : 1), sizeof *st.seen);
    st.every = calloc((size_t)(st.n_tensors > 0 ? st.n_tensors : 1), sizeof *st.every);
    if (!st.hists || !st.seen || !st.every) {
        free(st.hists);
        free(st.seen);
        free(st.every);
        return qp_error(QP_ERR_NOMEM, "out of memory");
    }
    int threads = o->threads;
    if (threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores < 1 ? 1 : cores > 64 ? 64 : (int)cores;
    }
    st.pool = kl_pool_new(threads, o->bins);
    qp_status status = QP_OK;
    double plain[2] = {INFINITY, INFINITY}, plain_cpu[2] = {INFINITY, INFINITY};
    /* benchmark: plain, histograms, plain again; the faster plain run is the baseline, so the cold
     * first pass over the images does not flatter the overhead. */
    if (o->benchmark) {
        double t0 = now_seconds(), c0 = cpu_seconds();
        status = qp_session_run_calibration(s, kl_observe_nothing, NULL);
        plain[0] = now_seconds() - t0;
        plain_cpu[0] = cpu_seconds() - c0;
    }
    double t0 = now_seconds(), c0 = cpu_seconds();
    if (status == QP_OK) status = qp_session_run_calibration(s, kl_observe, &st);
    timing->forward_s = now_seconds() - t0;
    timing->forward_cpu_s = cpu_seconds() - c0;
    if (status == QP_OK && st.out_of_memory)
        status = qp_error(QP_ERR_NOMEM, "out of memory growing a histogram");
    if (status == QP_OK && o->benchmark) {
        double t1 = now_seconds(), c1 = cpu_seconds();
        status = qp_session_run_calibration(s, kl_observe_nothing, NULL);
        plain[1] = now_seconds() - t1;
        plain_cpu[1] = cpu_seconds() - c1;
    }
    timing->plain_s = fmin(plain[0], plain[1]);
    timing->plain_cpu_s = fmin(plain_cpu[0], plain_cpu[1]);

    t0 = now_seconds();
    if (status == QP_OK) status = set_ranges(s, o, &st, table);
    timing->ranges_s = now_seconds() - t0;
    kl_pool_free(st.pool);
    for (int t = 0; t < st.n_tensors; t++)
        kl_hist_free(&st.hists[t]);
    free(st.hists);
    free(st.seen);
    free(st.every);
    return status;
}

/* ---- weights: min/max per output channel (or per tensor), as quant.weights says -------------------------
 */

static qp_status weight_encodings(qp_session *s, int *count) {
    qp_model *m = qp_session_model(s);
    float *lo = NULL, *hi = NULL;
    int cap = 0;
    int64_t nonfinite = 0;
    qp_status st = QP_OK;
    *count = 0;
    for (int t = 0; t < qp_model_num_tensors(m) && st == QP_OK; t++) {
        if (qp_session_tensor_role(s, t) != QP_ROLE_WEIGHT || qp_model_tensor_dtype(m, t) != KL_FLOAT32)
            continue;
        size_t nbytes = 0;
        const float *w = qp_model_tensor_data(m, t, &nbytes);
        int rank = qp_model_tensor_rank(m, t);
        if (!w || rank < 0) {
            st = qp_error(QP_ERR_INVALID_ARG, "weight '%s' has no data", qp_model_tensor_name(m, t));
            break;
        }
        qp_quant_spec spec;
        if ((st = qp_session_quant_spec(s, t, &spec)) != QP_OK) break;
        int axis = spec.per_channel ? qp_session_weight_axis(s, t) : -1;
        int64_t channels = axis >= 0 && axis < rank ? qp_model_tensor_dim(m, t, axis) : 1;
        if (channels < 1 || channels > INT32_MAX) axis = -1, channels = 1;
        int64_t inner = 1, numel = (int64_t)(nbytes / sizeof(float));
        for (int d = axis + 1; axis >= 0 && d < rank; d++)
            inner *= qp_model_tensor_dim(m, t, d);
        if (axis < 0) inner = numel;
        if (inner < 1 || numel % (inner * channels) != 0) {
            st = qp_error(QP_ERR_SHAPE,
                          "weight '%s': %lld values do not split into %lld channels along axis %d",
                          qp_model_tensor_name(m, t), (long long)numel, (long long)channels, axis);
            break;
        }
        int n = (int)channels;
        if (n > cap) {
            float *a = realloc(lo, (size_t)n * sizeof *a);
            if (a) lo = a;
            float *b = a ? realloc(hi, (size_t)n * sizeof *b) : NULL;
            if (b) hi = b;
            if (!a || !b) {
                st = qp_error(QP_ERR_NOMEM, "out of memory");
                break;
            }
            cap = n;
        }
        for (int c = 0; c < n; c++)
            lo[c] = INFINITY, hi[c] = -INFINITY;
        for (int64_t i = 0; i < numel; i++) {
            float v = w[i];
            if (!isfinite(v)) {
                nonfinite++;
                continue;
            }
            int c = (int)((i / inner) % channels);
            lo[c] = v < lo[c] ? v : lo[c];
            hi[c] = v > hi[c] ? v : hi[c];
        }
        for (int c = 0; c < n; c++)
            if (lo[c] > hi[c]) lo[c] = hi[c] = 0; /* a channel without a finite value */
        st = qp_session_set_range(s, t, spec.bits, spec.symmetric, axis, n, lo, hi);
        if (st == QP_OK) ++*count;
    }
    free(lo);
    free(hi);
    if (nonfinite) qp_log(s, QP_LOG_WARN, "ignored %lld NaN/Inf weight values", (long long)nonfinite);
    return st;
}

/* ---- the pass --------------------------------------------------------------------------------------------
 */

static qp_status read_options(const qp_params *params, kl_options *o) {
    o->method_name = qp_params_string(params, "method");
    o->method = strcmp(o->method_name, "percentile") == 0 ? KL_METHOD_PERCENTILE
                : strcmp(o->method_name, "mse") == 0      ? KL_METHOD_MSE
                                                          : KL_METHOD_KL;
    o->bins = (int)qp_params_int(params, "bins");
    o->percentile = qp_params_float(params, "percentile");
    o->symmetric = qp_params_string(params, "symmetric");
    o->bits = (int)qp_params_int(params, "bits");
    o->cache = qp_params_string(params, "cache");
    o->weights = strcmp(qp_params_string(params, "weights"), "minmax") == 0;
    o->benchmark = qp_params_bool(params, "benchmark");
    o->threads = (int)qp_params_int(params, "threads");
    o->sample = (int)qp_params_int(params, "sample");
    o->seed = (uint64_t)qp_params_int(params, "seed");
    o->outputs_minmax = strcmp(qp_params_string(params, "outputs"), "minmax") == 0;
    if (o->bits == 1)
        return qp_error(QP_ERR_INVALID_ARG, "bits must be 0 (from quant.activations) or 2..16, got 1");
    return QP_OK;
}

static qp_status calib_kl_run(qp_session *s, const qp_params *params, void *user) {
    (void)user;
    kl_options o;
    qp_status st = read_options(params, &o);
    if (st != QP_OK) return st;
    uint64_t hash;
    int trt;
    if ((st = spec_fingerprint(s, &o, &hash, &trt)) != QP_OK) return st;

    int from_cache = 0;
    if (o.cache[0] && access(o.cache, F_OK) == 0) {
        kl_cache c;
        st = kl_cache_read(o.cache, &c);
        if (st == QP_OK) st = cache_apply(s, &o, &c, hash, trt, &from_cache);
        if (from_cache)
            qp_log(s, QP_LOG_INFO, "%d activation encodings from calibration cache %s (no forward passes)",
                   c.n_entries, o.cache);
        kl_cache_free(&c);
        if (st != QP_OK) return st;
    } else if (o.cache[0]) {
        qp_log(s, QP_LOG_INFO, "calibration cache %s does not exist yet: calibrating and writing it",
               o.cache);
    }

    if (!from_cache) {
        kl_cache table = {.has_settings = !(o.method == KL_METHOD_KL && o.bins == 2048 && trt),
                          .bins = o.bins,
                          .percentile = o.percentile,
                          .spec_hash = hash};
        snprintf(table.algorithm, sizeof table.algorithm, "%s", kl_cache_algorithm(o.method_name));
        snprintf(table.method, sizeof table.method, "%s", o.method_name);
        kl_timing timing = {0};
        st = calibrate(s, &o, &table, &timing);
        int64_t images = qp_session_calibration_size(s);
        if (st == QP_OK) {
            double total = timing.forward_s + timing.ranges_s;
            qp_log(s, QP_LOG_INFO,
                   "%d activation encodings (%s, %d bins) from %lld images: forward passes with "
                   "histograms %.2f s, range search %.2f s (%.1f images/s)",
                   table.n_entries, o.method_name, o.bins, (long long)images, timing.forward_s,
                   timing.ranges_s, total > 0 ? (double)images / total : 0.0);
            if (o.benchmark && timing.plain_s > 0 && timing.plain_cpu_s > 0) {
                /* the range search runs on one thread: its wall time is its CPU time */
                double cpu = timing.forward_cpu_s + timing.ranges_s;
                qp_log(
                    s, QP_LOG_INFO,
                    "benchmark: plain fp32 inference of the same images %.2f s, %.2f CPU s (%.1f images/s); "
                    "forward passes with histograms %.2f s, %.2f CPU s: overhead %+.1f%% wall, %+.1f%% CPU; "
                    "with the range search %+.1f%% wall, %+.1f%% CPU",
                    timing.plain_s, timing.plain_cpu_s, (double)images / timing.plain_s, timing.forward_s,
                    timing.forward_cpu_s, 100.0 * (timing.forward_s / timing.plain_s - 1.0),
                    100.0 * (timing.forward_cpu_s / timing.plain_cpu_s - 1.0),
                    100.0 * (total / timing.plain_s - 1.0), 100.0 * (cpu / timing.plain_cpu_s - 1.0));
            }
        }
        if (st == QP_OK && o.cache[0]) {
            st = kl_cache_write(o.cache, &table);
            if (st == QP_OK) qp_log(s, QP_LOG_INFO, "wrote calibration cache %s", o.cache);
        }
        kl_cache_free(&table);
        if (st != QP_OK) return st;
    }

    if (o.weights) {
        int n_weights = 0;
        if ((st = weight_encodings(s, &n_weights)) != QP_OK) return st;
        qp_log(s, QP_LOG_INFO, "%d weight encodings (min/max)", n_weights);
    }
    return QP_OK;
}

static const qp_param_def calib_kl_params[] = {
    {.name = "method",
     .type = QP_PARAM_ENUM,
     .default_value = "kl",
     .choices = "kl|percentile|mse",
     .min = 1,
     .max = 0,
     .help = "kl: TensorRT entropy calibration; percentile: clip at `percentile`; mse: least expected "
             "squared error"},
    {.name = "bins",
     .type = QP_PARAM_INT,
     .default_value = "2048",
     .min = 128,
     .max = 65536,
     .help = "histogram bins per sign (bin width a power of two, doubled as the range grows)"},
    {.name = "percentile",
     .type = QP_PARAM_FLOAT,
     .default_value = "99.99",
     .min = 50,
     .max = 100,
     .help = "method percentile: share of |x| kept (symmetric), or of x with (100 - p)/2 cut on each side"},
    {.name = "symmetric",
     .type = QP_PARAM_ENUM,
     .default_value = "spec",
     .choices = "spec|true|false",
     .min = 1,
     .max = 0,
     .help = "activation encodings signed around 0 (true) or asymmetric (false); spec: quant.activations"},
    {.name = "bits",
     .type = QP_PARAM_INT,
     .default_value = "0",
     .min = 0,
     .max = 16,
     .help = "activation bit-width; 0: quant.activations.bits (and layers: overrides)"},
    {.name = "cache",
     .type = QP_PARAM_STRING,
     .default_value = "",
     .help = "TensorRT-style calibration table: read when it fits the run (no forward passes), else written"},
    {.name = "outputs",
     .type = QP_PARAM_ENUM,
     .default_value = "minmax",
     .choices = "minmax|method",
     .min = 1,
     .max = 0,
     .help = "model outputs (logits, probabilities): minmax keeps their extremes, which decide the arg-max"},
    {.name = "weights",
     .type = QP_PARAM_ENUM,
     .default_value = "minmax",
     .choices = "minmax|keep",
     .min = 1,
     .max = 0,
     .help = "minmax: weight encodings from min/max per quant.weights; keep: leave them to another pass"},
    {.name = "sample",
     .type = QP_PARAM_INT,
     .default_value = "8",
     .min = 1,
     .max = 64,
     .help = "bin one value in `sample` of activations with >= 16384 values per image; 1: every value"},
    {.name = "seed",
     .type = QP_PARAM_INT,
     .default_value = "0",
     .min = 0,
     .max = 2147483647,
     .help = "seed of the sampling offsets (sample > 1)"},
    {.name = "threads",
     .type = QP_PARAM_INT,
     .default_value = "0",
     .min = 0,
     .max = 1024,
     .help = "threads binning large activations while the engine waits; 0: one per core"},
    {.name = "benchmark",
     .type = QP_PARAM_BOOL,
     .default_value = "false",
     .help = "also time plain fp32 inference of the calibration images and log the calibration overhead"},
};

static const qp_pass_def calib_kl_passes[] = {
    {.name = "calib_kl",
     .version = "1.0.0",
     .summary = "activation encodings from histograms (TensorRT KL, percentile, MSE), weight min/max, "
                "calibration cache",
     .params = calib_kl_params,
     .n_params = (int)(sizeof calib_kl_params / sizeof calib_kl_params[0]),
     .run = calib_kl_run},
};

static const qp_plugin_desc calib_kl_plugin = {
    .abi_major = QP_ABI_VERSION_MAJOR,
    .abi_minor = QP_ABI_VERSION_MINOR,
    .name = "calib_kl",
    .version = "1.0.0",
    .summary = "histogram calibration: kl, percentile, mse",
    .passes = calib_kl_passes,
    .n_passes = 1,
};

QP_PLUGIN_DEFINE(calib_kl_plugin)
