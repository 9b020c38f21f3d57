/* calib_minmax.c — plugin pass calib_minmax: encodings from the min/max of activations over the calibration set and of the weights. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <qpipe/qp_plugin.h>

/* Running range of one activation. */
typedef struct mm_range {
    float min, max;
    int seen;            /* batches with at least one finite value */
    int64_t nonfinite;   /* NaN/Inf values ignored */
} mm_range;

typedef struct mm_state {
    qp_session *session;
    mm_range *ranges; /* by tensor id */
    int n_tensors;
    int moving_average;
    double momentum;
} mm_state;

/* Min and max of the finite values of x; returns how many were finite, counts the others. */
static int64_t mm_finite_range(const float *x, int64_t n, float *lo, float *hi, int64_t *nonfinite) {
    float mn = INFINITY, mx = -INFINITY;
    int64_t finite = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (!isfinite(v)) continue;
        finite++;
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
    }
    *nonfinite += n - finite;
    *lo = mn;
    *hi = mx;
    return finite;
}

/* Folds one batch's range in: the overall extremes, or TensorFlow's moving average of the
 * per-batch extremes (started at the first batch, then r = momentum * r + (1 - momentum) * batch),
 * which forgets outlier batches. */
static void mm_update(mm_range *r, float lo, float hi, int moving_average, double momentum) {
    if (!r->seen) {
        r->min = lo;
        r->max = hi;
    } else if (moving_average) {
        r->min = (float)(momentum * r->min + (1.0 - momentum) * lo);
        r->max = (float)(momentum * r->max + (1.0 - momentum) * hi);
    } else {
        r->min = lo < r->min ? lo : r->min;
        r->max = hi > r->max ? hi : r->max;
    }
    r->seen++;
}

static void mm_observe(void *user, int tensor, const float *data, int rank, const int64_t *dims) {
    mm_state *st = user;
    if (tensor < 0 || tensor >= st->n_tensors) return;
    int64_t n = 1;
    for (int d = 0; d < rank; d++) n *= dims[d];
    mm_range *r = &st->ranges[tensor];
    float lo, hi;
    if (mm_finite_range(data, n, &lo, &hi, &r->nonfinite) > 0) mm_update(r, lo, hi, st->moving_average, st->momentum);
}

/* Per-channel (axis >= 0) or per-tensor range of a float weight, NaN/Inf ignored. */
static qp_status mm_weight_range(const qp_model *m, int t, int axis, int n_channels, float *mins, float *maxs,
                                 int64_t *nonfinite) {
    size_t nbytes;
    const float *w = qp_model_tensor_data(m, t, &nbytes);
    int rank = qp_model_tensor_rank(m, t);
    if (!w || rank < 0) return qp_error(QP_ERR_INVALID_ARG, "weight '%s' has no data", qp_model_tensor_name(m, t));
    int64_t numel = (int64_t)(nbytes / sizeof(float)), inner = 1, outer = 1;
    if (axis >= 0) {
        for (int d = axis + 1; d < rank; d++) inner *= qp_model_tensor_dim(m, t, d);
        for (int d = 0; d < axis; d++) outer *= qp_model_tensor_dim(m, t, d);
    }
    for (int c = 0; c < n_channels; c++) {
        mins[c] = INFINITY;
        maxs[c] = -INFINITY;
    }
    if (axis < 0) {
        mm_finite_range(w, numel, &mins[0], &maxs[0], nonfinite);
    } else {
        for (int64_t o = 0; o < outer; o++)
            for (int c = 0; c < n_channels; c++) {
                float lo, hi;
                if (mm_finite_range(w + (o * n_channels + c) * inner, inner, &lo, &hi, nonfinite) == 0) continue;
                mins[c] = lo < mins[c] ? lo : mins[c];
                maxs[c] = hi > maxs[c] ? hi : maxs[c];
            }
    }
    for (int c = 0; c < n_channels; c++)
        if (mins[c] > maxs[c]) mins[c] = maxs[c] = 0; /* a channel with no finite value */
    return QP_OK;
}

static qp_status calibrate_weights(qp_session *s, int *n_weights) {
    qp_model *m = qp_session_model(s);
    int nt = qp_model_num_tensors(m);
    float *mins = NULL, *maxs = NULL;
    int cap = 0;
    int64_t nonfinite = 0;
    qp_status st = QP_OK;
    *n_weights = 0;
    for (int t = 0; t < nt && st == QP_OK; t++) {
        if (qp_session_tensor_role(s, t) != QP_ROLE_WEIGHT || qp_model_tensor_dtype(m, t) != 1) continue;
        qp_quant_spec spec;
        if ((st = qp_session_quant_spec(s, t, &spec)) != QP_OK) break;
        int axis = spec.per_channel ? qp_session_weight_axis(s, t) : -1;
        int n = 1;
        if (axis >= 0) {
            int64_t dim = qp_model_tensor_dim(m, t, axis);
            if (dim < 1) axis = -1;
            else n = (int)dim;
        }
        if (n > cap) {
            float *a = realloc(mins, (size_t)n * sizeof *a);
            if (a) mins = a;
            float *b = realloc(maxs, (size_t)n * sizeof *b);
            if (b) maxs = b;
            if (!a || !b) {
                st = qp_error(QP_ERR_NOMEM, "out of memory");
                break;
            }
            cap = n;
        }
        if ((st = mm_weight_range(m, t, axis, n, mins, maxs, &nonfinite)) != QP_OK) break;
        st = qp_session_set_range(s, t, spec.bits, spec.symmetric, axis, n, mins, maxs);
        if (st == QP_OK) ++*n_weights;
    }
    free(mins);
    free(maxs);
    if (nonfinite) qp_log(s, QP_LOG_WARN, "ignored %lld NaN/Inf weight values", (long long)nonfinite);
    return st;
}

static qp_status calib_minmax_run(qp_session *s, const qp_params *params, void *user) {
    (void)user;
    qp_model *m = qp_session_model(s);
    const char *sym = qp_params_string(params, "symmetric");
    int bits = (int)qp_params_int(params, "bits");
    if (bits == 1) return qp_error(QP_ERR_INVALID_ARG, "bits must be 0 (from quant.activations) or 2..16, got 1");
    mm_state st = {.session = s, .n_tensors = qp_model_num_tensors(m),
                   .moving_average = qp_params_bool(params, "moving_average"),
                   .momentum = qp_params_float(params, "momentum")};
    st.ranges = calloc((size_t)(st.n_tensors > 0 ? st.n_tensors : 1), sizeof *st.ranges);
    if (!st.ranges) return qp_error(QP_ERR_NOMEM, "out of memory");

    qp_status status = qp_session_run_calibration(s, mm_observe, &st);
    int n_act = 0, n_weights = 0, n_bad_tensors = 0, first_bad = -1;
    int64_t nonfinite = 0;
    for (int t = 0; t < st.n_tensors && status == QP_OK; t++) {
        mm_range *r = &st.ranges[t];
        if (r->nonfinite) {
            nonfinite += r->nonfinite;
            if (n_bad_tensors++ == 0) first_bad = t;
        }
        /* Tensors never observed share another tensor's encoding (or saw only NaN/Inf). */
        if (!r->seen || qp_session_tensor_role(s, t) != QP_ROLE_ACTIVATION) continue;
        qp_quant_spec spec;
        if ((status = qp_session_quant_spec(s, t, &spec)) != QP_OK) break;
        if (bits) spec.bits = bits;
        if (strcmp(sym, "true") == 0) spec.symmetric = 1;
        else if (strcmp(sym, "false") == 0) spec.symmetric = 0;
        status = qp_session_set_range(s, t, spec.bits, spec.symmetric, -1, 1, &r->min, &r->max);
        n_act++;
    }
    free(st.ranges);
    if (status == QP_OK && nonfinite)
        qp_log(s, QP_LOG_WARN, "ignored %lld NaN/Inf activation values in %d tensor%s (first: '%s')",
               (long long)nonfinite, n_bad_tensors, n_bad_tensors == 1 ? "" : "s", qp_model_tensor_name(m, first_bad));
    if (status == QP_OK) status = calibrate_weights(s, &n_weights);
    if (status == QP_OK)
        qp_log(s, QP_LOG_INFO, "%d activation and %d weight encodings from %lld calibration images%s", n_act, n_weights,
               (long long)qp_session_calibration_size(s), st.moving_average ? " (moving average)" : "");
    return status;
}

static const qp_param_def calib_minmax_params[] = {
    {.name = "symmetric", .type = QP_PARAM_ENUM, .default_value = "spec", .choices = "spec|true|false",
     .help = "activation encodings signed around 0 (true) or asymmetric (false); spec: quant.activations.symmetric"},
    {.name = "bits", .type = QP_PARAM_INT, .default_value = "0", .min = 0, .max = 16,
     .help = "activation bit-width; 0: quant.activations.bits (and layers: overrides)"},
    {.name = "moving_average", .type = QP_PARAM_BOOL, .default_value = "false",
     .help = "moving average of per-batch min/max (TensorFlow style) instead of the overall min/max"},
    {.name = "momentum", .type = QP_PARAM_FLOAT, .default_value = "0.9", .min = 0, .max = 1,
     .help = "moving-average weight of the running range: r = momentum * r + (1 - momentum) * batch"},
};

static const qp_pass_def calib_minmax_passes[] = {
    {.name = "calib_minmax",
     .version = "1.0.0",
     .summary = "encodings from activation min/max over the calibration set and weight min/max (per channel)",
     .params = calib_minmax_params,
     .n_params = (int)(sizeof calib_minmax_params / sizeof calib_minmax_params[0]),
     .run = calib_minmax_run},
};

static const qp_plugin_desc calib_minmax_plugin = {
    .abi_major = QP_ABI_VERSION_MAJOR,
    .abi_minor = QP_ABI_VERSION_MINOR,
    .name = "calib_minmax",
    .version = "1.0.0",
    .summary = "min/max calibration",
    .passes = calib_minmax_passes,
    .n_passes = 1,
};

QP_PLUGIN_DEFINE(calib_minmax_plugin)
