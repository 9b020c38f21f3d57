/* run_conformance.c — runs the ONNX backend tests (model.onnx plus test_data_set_N/{input,output}_i.pb) through qpipe and reports pass/fail per op. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "onnx/onnx.pb-c.h"
#include "onnx/onnx_import.h"

/* The suites Debian's libonnx-testdata installs that hold single-model tests with .pb data. */
static const char *const SUITES[] = {"node", "pytorch-converted", "pytorch-operator"};

/* ONNX's backend test defaults (onnx/backend/test/runner: rtol=1e-3, atol=1e-7). */
#define DEFAULT_RTOL 1e-3
#define DEFAULT_ATOL 1e-7

typedef enum outcome { OUT_PASS = 0, OUT_FAIL = 1, OUT_UNSUPPORTED = 2 } outcome;

/* What a child process sends back for one test (fixed size: one write, no framing). */
typedef struct test_result {
    int outcome;
    int n_data_sets;
    int n_frozen;       /* parameter inputs baked in as initializers (summed over data sets) */
    double max_abs_err; /* over all float outputs of all data sets; -1 when none */
    char detail[1536];
} test_result;

typedef struct test_case {
    char *rel;            /* "node/test_abs" */
    char *dir;            /* absolute folder */
    char **ops;           /* distinct op types ("domain::Op" outside the default domain) */
    int n_ops;
    test_result result;
    int done;
    double seconds;
} test_case;

typedef struct options {
    const char *data_dir;
    const char *filter;
    const char *markdown;
    int verbose;
    int jobs;
    int fork_tests;
    int timeout_s;
    int n_threads;
    int freeze_params;
} options;

/* ---- per-op tolerance exceptions ------------------------------------------------------------ */

/* Where qpipe's float arithmetic legitimately differs from numpy's reference by more than the
 * default tolerance. Keep each entry justified: loosening hides real bugs. */
typedef struct tolerance_rule {
    const char *test_prefix; /* matches test folder names starting with this */
    double rtol, atol;
    const char *why;
} tolerance_rule;

static const tolerance_rule TOLERANCE_RULES[] = {
    {NULL, 0, 0, NULL},
};

static void tolerance_for(const char *test_name, double *rtol, double *atol, const char **why) {
    *rtol = DEFAULT_RTOL;
    *atol = DEFAULT_ATOL;
    *why = NULL;
    for (const tolerance_rule *r = TOLERANCE_RULES; r->test_prefix; r++)
        if (strncmp(test_name, r->test_prefix, strlen(r->test_prefix)) == 0) {
            *rtol = r->rtol;
            *atol = r->atol;
            *why = r->why;
            return;
        }
}

/* ---- small helpers -------------------------------------------------------------------------- */

static char *xstrdup(const char *s) {
    char *d = strdup(s);
    if (!d) {
        fprintf(stderr, "qp_conformance: out of memory\n");
        exit(2);
    }
    return d;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void set_detail(test_result *r, int outcome_value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_detail(test_result *r, int outcome_value, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
    r->outcome = outcome_value;
}

static int is_float_dtype(qp_dtype dt) {
    return dt == QP_DT_FLOAT || dt == QP_DT_DOUBLE || dt == QP_DT_FLOAT16 || dt == QP_DT_BFLOAT16;
}

static double float_at(qp_dtype dt, const void *data, int64_t i) {
    switch (dt) {
    case QP_DT_FLOAT: return ((const float *)data)[i];
    case QP_DT_DOUBLE: return ((const double *)data)[i];
    case QP_DT_FLOAT16: return qp_half_to_float(((const uint16_t *)data)[i]);
    case QP_DT_BFLOAT16: {
        uint32_t bits = (uint32_t)((const uint16_t *)data)[i] << 16;
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    default: return 0;
    }
}

static void index_str(const qp_shape *s, int64_t flat, char *buf, size_t cap) {
    int64_t idx[QP_MAX_RANK];
    for (int d = s->rank - 1; d >= 0; d--) {
        idx[d] = s->dims[d] ? flat % s->dims[d] : 0;
        flat = s->dims[d] ? flat / s->dims[d] : 0;
    }
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < s->rank && used < cap; d++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%lld", d ? "," : "", (long long)idx[d]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

/* ---- comparison ----------------------------------------------------------------------------- */

/* Returns 1 when got matches want; otherwise writes why into msg. Updates *max_err for floats. */
static int compare_output(const qp_value *got, qp_dtype want_dt, const qp_shape *want_shape,
                          const void *want, size_t want_bytes, double rtol, double atol,
                          double *max_err, char *msg, size_t cap) {
    char a[128], b[128];
    if (got->dtype != want_dt) {
        snprintf(msg, cap, "dtype %s, expected %s", qp_dtype_name(got->dtype), qp_dtype_name(want_dt));
        return 0;
    }
    int same_shape = got->shape.rank == want_shape->rank;
    for (int d = 0; same_shape && d < want_shape->rank; d++)
        same_shape = got->shape.dims[d] == want_shape->dims[d];
    if (!same_shape) {
        snprintf(msg, cap, "shape %s, expected %s", qp_shape_str(&got->shape, a, sizeof a),
                 qp_shape_str(want_shape, b, sizeof b));
        return 0;
    }
    int64_t n = qp_shape_numel(want_shape);
    size_t esize = qp_dtype_size(want_dt);
    if (got->nbytes != want_bytes || want_bytes != (size_t)n * esize || (n && !got->data)) {
        snprintf(msg, cap, "%zu bytes, expected %zu", got->nbytes, want_bytes);
        return 0;
    }
    if (!is_float_dtype(want_dt)) {
        for (int64_t i = 0; i < n; i++) {
            const unsigned char *x = (const unsigned char *)got->data + (size_t)i * esize;
            const unsigned char *y = (const unsigned char *)want + (size_t)i * esize;
            if (memcmp(x, y, esize) == 0) continue;
            int64_t gv = qp_value_get_int(got, i);
            qp_value wv = {want_dt, *want_shape, (void *)want, want_bytes};
            index_str(want_shape, i, a, sizeof a);
            snprintf(msg, cap, "element %s is %lld, expected %lld (exact match required)", a,
                     (long long)gv, (long long)qp_value_get_int(&wv, i));
            return 0;
        }
        return 1;
    }
    double worst_excess = 0;
    int64_t worst = -1;
    const char *kind = NULL;
    for (int64_t i = 0; i < n; i++) {
        double x = float_at(want_dt, got->data, i), y = float_at(want_dt, want, i);
        if (isnan(y) || isnan(x)) {
            if (isnan(x) != isnan(y) && !kind) {
                kind = "NaN position differs";
                worst = i;
            }
            continue;
        }
        if (isinf(y) || isinf(x)) {
            if (x != y && !kind) {
                kind = "infinity differs";
                worst = i;
            }
            continue;
        }
        double err = fabs(x - y);
        if (err > *max_err) *max_err = err;
        double excess = err - (atol + rtol * fabs(y));
        if (excess > worst_excess) {
            worst_excess = excess;
            if (!kind) worst = i;
        }
    }
    if (worst < 0) return 1;
    index_str(want_shape, worst, a, sizeof a);
    double x = float_at(want_dt, got->data, worst), y = float_at(want_dt, want, worst);
    if (kind)
        snprintf(msg, cap, "%s at %s: got %.9g, expected %.9g", kind, a, x, y);
    else
        snprintf(msg, cap, "max |got-want| %.3g; worst at %s: got %.9g, expected %.9g "
                 "(allowed %.3g = atol %.0e + rtol %.0e * |want|)", *max_err, a, x, y,
                 atol + rtol * fabs(y), atol, rtol);
    return 0;
}

/* ---- one test (runs in a child process) ----------------------------------------------------- */

typedef struct loaded_tensor {
    char *name;
    qp_dtype dtype;
    qp_shape shape;
    void *data;
    size_t nbytes;
} loaded_tensor;

static void free_tensors(loaded_tensor *t, int n) {
    for (int i = 0; i < n; i++) {
        free(t[i].name);
        free(t[i].data);
    }
    free(t);
}

/* Loads prefix_0.pb, prefix_1.pb, ... from dir until one is missing. */
static qp_status load_pb_series(const char *dir, const char *prefix, loaded_tensor **out, int *n_out) {
    *out = NULL;
    *n_out = 0;
    loaded_tensor *list = NULL;
    int n = 0;
    for (;;) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s_%d.pb", dir, prefix, n);
        if (!file_exists(path)) break;
        loaded_tensor *grown = realloc(list, (size_t)(n + 1) * sizeof *grown);
        if (!grown) {
            free_tensors(list, n);
            return qp_error(QP_ERR_NOMEM, "out of memory");
        }
        list = grown;
        loaded_tensor *t = &list[n];
        memset(t, 0, sizeof *t);
        qp_status st = qp_onnx_load_tensor(path, &t->name, &t->dtype, &t->shape, &t->data, &t->nbytes);
        if (st != QP_OK) {
            free_tensors(list, n);
            return st;
        }
        n++;
    }
    *out = list;
    *n_out = n;
    return QP_OK;
}

/* Which loaded tensor feeds graph input `name` (position k among the graph's inputs): by name
 * when the .pb files carry names, else by position as ONNX's runner does. */
static int match_by_name(const loaded_tensor *ts, int n, const char *name, int position) {
    for (int i = 0; i < n; i++)
        if (ts[i].name && strcmp(ts[i].name, name) == 0) return i;
    return position < n ? position : -1;
}

/* numpy has no bfloat16, so ONNX's test generator stores bfloat16 data as uint16 bit patterns. */
static int dtype_matches(qp_dtype model_dt, qp_dtype data_dt) {
    return model_dt == data_dt || (model_dt == QP_DT_BFLOAT16 && data_dt == QP_DT_UINT16);
}

/* Input slots that ONNX ops read as parameters (target shapes, axes, pads, scales, sizes, counts,
 * quantization parameters), as bitmasks of input indices. qpipe plans static shapes, so these
 * must be known at plan time; in deployed models they are initializers or folded constants.
 * The backend tests feed them as graph inputs, so the runner bakes such inputs into the graph
 * as initializers (with the data set's values) before planning. Everything else stays a
 * run-time input, so the planner's arena and run loop are exercised. */
typedef struct param_slots {
    const char *op;
    unsigned mask;
} param_slots;

static const param_slots PARAM_SLOTS[] = {
    {"Reshape", 1u << 1}, {"Expand", 1u << 1}, {"ConstantOfShape", 1u << 0}, {"Tile", 1u << 1},
    {"Slice", 0xfu << 1}, {"Pad", 0x7u << 1}, {"Resize", 0x7u << 1}, {"Upsample", 1u << 1},
    {"Range", 0x7u}, {"Squeeze", 1u << 1}, {"Unsqueeze", 1u << 1}, {"Split", 1u << 1},
    {"TopK", 1u << 1}, {"OneHot", 1u << 1}, {"CumSum", 1u << 1}, {"Dropout", 0x3u << 1},
    {"ReduceSum", 1u << 1}, {"ReduceMean", 1u << 1}, {"ReduceMax", 1u << 1},
    {"ReduceMin", 1u << 1}, {"ReduceProd", 1u << 1}, {"ReduceL1", 1u << 1},
    {"ReduceL2", 1u << 1}, {"ReduceLogSum", 1u << 1}, {"ReduceLogSumExp", 1u << 1},
    {"ReduceSumSquare", 1u << 1}, {"NonZero", 1u << 0}, {"Compress", 1u << 1},
    {"CenterCropPad", 1u << 1}, {"MaxUnpool", 1u << 2},
    {"QuantizeLinear", 0x3u << 1}, {"DequantizeLinear", 0x3u << 1},
    {"QLinearConv", 0xffu << 1}, {"QLinearMatMul", 0x7fu << 1}, {"ConvInteger", 0x7u << 1},
    {"MatMulInteger", 0x3u << 2},
};

static unsigned param_mask(const qp_node *n) {
    if (n->domain[0]) return 0;
    for (size_t i = 0; i < sizeof PARAM_SLOTS / sizeof PARAM_SLOTS[0]; i++)
        if (strcmp(PARAM_SLOTS[i].op, n->op_type) == 0) return PARAM_SLOTS[i].mask;
    return 0;
}

/* Turns graph inputs that feed parameter slots into initializers holding feed data.
 * feed[tensor id] = index into ins, or -1. Returns the number frozen, or -1 on error. */
static int freeze_param_inputs(qp_graph *g, const loaded_tensor *ins, const int *feed,
                               test_result *r) {
    unsigned char *freeze = calloc((size_t)(g->n_tensors ? g->n_tensors : 1), 1);
    if (!freeze) return -1;
    for (int id = 0; id < g->n_nodes; id++) {
        const qp_node *n = &g->nodes[id];
        unsigned mask = param_mask(n);
        for (int k = 0; k < n->n_inputs && k < 32; k++)
            if ((mask >> k & 1u) && n->inputs[k] >= 0 && g->tensors[n->inputs[k]]->is_graph_input)
                freeze[n->inputs[k]] = 1;
    }
    int n_frozen = 0, kept = 0;
    for (int i = 0; i < g->n_inputs; i++) {
        int id = g->inputs[i];
        if (!freeze[id]) {
            g->inputs[kept++] = id;
            continue;
        }
        qp_tensor *t = g->tensors[id];
        const loaded_tensor *src = &ins[feed[id]];
        void *copy = malloc(src->nbytes ? src->nbytes : 1);
        if (!copy) {
            free(freeze);
            return -1;
        }
        if (src->nbytes) memcpy(copy, src->data, src->nbytes);
        qp_dtype dt = dtype_matches(t->dtype, src->dtype) ? t->dtype : src->dtype;
        qp_tensor_set_data(t, dt, &src->shape, copy, src->nbytes);
        t->is_graph_input = 0;
        n_frozen++;
    }
    g->n_inputs = kept;
    free(freeze);
    if (n_frozen && qp_graph_finalize(g) != QP_OK) {
        set_detail(r, OUT_FAIL, "re-linking after baking parameter inputs: %s", qp_error_message());
        return -1;
    }
    return n_frozen;
}

static void run_data_set(const char *model_path, const char *set_dir, const options *opt,
                         double rtol, double atol, test_result *r) {
    loaded_tensor *ins = NULL, *outs = NULL;
    int n_in = 0, n_out = 0;
    qp_graph *g = NULL;
    qp_plan *plan = NULL;
    qp_input_shape *shapes = NULL;
    int *feed = NULL;
    const char *set_name = strrchr(set_dir, '/') ? strrchr(set_dir, '/') + 1 : set_dir;
    qp_status st = load_pb_series(set_dir, "input", &ins, &n_in);
    if (st == QP_OK) st = load_pb_series(set_dir, "output", &outs, &n_out);
    if (st != QP_OK) { /* string, complex or float8 data: valid ONNX qpipe does not hold */
        set_detail(r, st == QP_ERR_UNSUPPORTED ? OUT_UNSUPPORTED : OUT_FAIL, "%s: test data: %s",
                   set_name, qp_error_message());
        goto done;
    }
    /* A fresh graph per data set: parameter inputs are baked in with this set's values. */
    if ((st = qp_onnx_load(model_path, &g)) != QP_OK) {
        set_detail(r, OUT_FAIL, "import: %s", qp_error_message());
        goto done;
    }
    if (n_in != g->n_inputs) {
        set_detail(r, OUT_FAIL, "%s: %d input files for %d graph inputs", set_name, n_in, g->n_inputs);
        goto done;
    }
    feed = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *feed);
    shapes = calloc((size_t)(g->n_inputs ? g->n_inputs : 1), sizeof *shapes);
    if (!feed || !shapes) {
        set_detail(r, OUT_FAIL, "out of memory");
        goto done;
    }
    for (int t = 0; t < g->n_tensors; t++) feed[t] = -1;
    for (int i = 0; i < g->n_inputs; i++)
        feed[g->inputs[i]] = match_by_name(ins, n_in, g->tensors[g->inputs[i]]->name, i);
    int n_frozen = opt->freeze_params ? freeze_param_inputs(g, ins, feed, r) : 0;
    if (n_frozen < 0) {
        if (r->outcome == OUT_PASS) set_detail(r, OUT_FAIL, "out of memory");
        goto done;
    }
    r->n_frozen += n_frozen;
    for (int i = 0; i < g->n_inputs; i++) {
        const qp_tensor *t = g->tensors[g->inputs[i]];
        shapes[i].name = t->name;
        shapes[i].shape = ins[feed[g->inputs[i]]].shape;
    }
    qp_plan_options po = {.mode = QP_MODE_FP32, .batch = 1, .n_threads = opt->n_threads,
                          .input_shapes = shapes, .n_input_shapes = g->n_inputs};
    st = qp_plan_create(g, &po, &plan);
    if (st == QP_ERR_UNSUPPORTED) {
        set_detail(r, OUT_UNSUPPORTED, "unsupported (%s)", qp_error_message());
        goto done;
    }
    if (st != QP_OK) {
        set_detail(r, OUT_FAIL, "plan: %s: %s", qp_status_name(st), qp_error_message());
        goto done;
    }
    for (int i = 0; i < qp_plan_num_inputs(plan); i++) {
        const char *name = qp_plan_input_name(plan, i);
        int id = qp_graph_find_tensor(g, name);
        const loaded_tensor *src = id >= 0 && feed[id] >= 0 ? &ins[feed[id]] : NULL;
        qp_value *v = qp_plan_input(plan, i);
        if (!src || !dtype_matches(v->dtype, src->dtype) || v->nbytes != src->nbytes) {
            char a[128], b[128];
            set_detail(r, OUT_FAIL, "%s: input '%s' planned as %s %s, data is %s %s", set_name, name,
                       qp_dtype_name(v->dtype), qp_shape_str(&v->shape, a, sizeof a),
                       src ? qp_dtype_name(src->dtype) : "missing",
                       src ? qp_shape_str(&src->shape, b, sizeof b) : "");
            goto done;
        }
        if (v->nbytes) memcpy(v->data, src->data, v->nbytes);
    }
    st = qp_plan_run(plan);
    if (st != QP_OK) {
        set_detail(r, st == QP_ERR_UNSUPPORTED ? OUT_UNSUPPORTED : OUT_FAIL, "run: %s: %s",
                   qp_status_name(st), qp_error_message());
        goto done;
    }
    if (qp_plan_num_outputs(plan) < n_out) {
        set_detail(r, OUT_FAIL, "%s: the graph has %d outputs, the test expects %d", set_name,
                   qp_plan_num_outputs(plan), n_out);
        goto done;
    }
    for (int k = 0; k < n_out; k++) {
        char why[1024];
        const qp_value *got = qp_plan_output(plan, k);
        qp_dtype want_dt = dtype_matches(got->dtype, outs[k].dtype) ? got->dtype : outs[k].dtype;
        double err = r->max_abs_err < 0 ? 0 : r->max_abs_err;
        int ok = compare_output(got, want_dt, &outs[k].shape, outs[k].data, outs[k].nbytes, rtol,
                                atol, &err, why, sizeof why);
        if (is_float_dtype(want_dt)) r->max_abs_err = err;
        if (!ok) {
            set_detail(r, OUT_FAIL, "%s: output %d '%s': %s", set_name, k,
                       qp_plan_output_name(plan, k), why);
            goto done;
        }
    }
done:
    qp_plan_free(plan);
    qp_graph_free(g);
    free(feed);
    free(shapes);
    free_tensors(ins, n_in);
    free_tensors(outs, n_out);
}

static void run_test(const test_case *tc, const options *opt, test_result *r) {
    memset(r, 0, sizeof *r);
    r->max_abs_err = -1;
    r->outcome = OUT_PASS;
    char path[4096], set_dir[4200];
    snprintf(path, sizeof path, "%s/model.onnx", tc->dir);
    qp_graph *g = NULL;
    qp_status st = qp_onnx_load(path, &g);
    if (st != QP_OK) {
        /* Strip the long absolute path the importer puts in front. */
        const char *msg = qp_error_message();
        if (strncmp(msg, path, strlen(path)) == 0) msg += strlen(path);
        if (*msg == ':') msg++;
        while (*msg == ' ') msg++;
        if (st == QP_ERR_UNSUPPORTED)
            set_detail(r, OUT_UNSUPPORTED, "unsupported (import: %s)", msg);
        else
            set_detail(r, OUT_FAIL, "import: %s: %s", qp_status_name(st), msg);
        return;
    }
    st = qp_graph_check_ops(g);
    qp_graph_free(g);
    if (st != QP_OK) {
        set_detail(r, OUT_UNSUPPORTED, "%s", qp_error_message());
        return;
    }
    double rtol, atol;
    const char *why;
    const char *base = strrchr(tc->rel, '/') ? strrchr(tc->rel, '/') + 1 : tc->rel;
    tolerance_for(base, &rtol, &atol, &why);
    for (int set = 0;; set++) {
        snprintf(set_dir, sizeof set_dir, "%s/test_data_set_%d", tc->dir, set);
        if (!dir_exists(set_dir)) break;
        r->n_data_sets++;
        run_data_set(path, set_dir, opt, rtol, atol, r);
        if (r->outcome != OUT_PASS) break;
    }
    if (r->outcome == OUT_PASS && r->n_data_sets == 0)
        set_detail(r, OUT_FAIL, "no test_data_set_N folder");
}

/* ---- discovery ------------------------------------------------------------------------------ */

/* Distinct op types of the model, read straight from the protobuf so tests the importer rejects
 * are still attributed to their ops. */
static void read_ops(test_case *tc) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", tc->dir);
    FILE *f = fopen(path, "rb");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, (size_t)n, buf);
        if (mp && mp->graph) {
            tc->ops = calloc(mp->graph->n_node + 1, sizeof *tc->ops);
            for (size_t k = 0; tc->ops && k < mp->graph->n_node; k++) {
                const Onnx__NodeProto *np = mp->graph->node[k];
                char name[512];
                const char *dom = np->domain && strcmp(np->domain, "ai.onnx") ? np->domain : "";
                snprintf(name, sizeof name, "%s%s%s", dom, dom[0] ? "::" : "",
                         np->op_type ? np->op_type : "?");
                int seen = 0;
                for (int i = 0; i < tc->n_ops && !seen; i++) seen = strcmp(tc->ops[i], name) == 0;
                if (!seen) tc->ops[tc->n_ops++] = xstrdup(name);
            }
        }
        if (mp) onnx__model_proto__free_unpacked(mp, NULL);
    }
    free(buf);
    fclose(f);
}

static int name_cmp(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

static test_case *discover(const options *opt, int *n_out) {
    test_case *cases = NULL;
    int n = 0, cap = 0;
    for (size_t s = 0; s < sizeof SUITES / sizeof SUITES[0]; s++) {
        char suite_dir[4096];
        snprintf(suite_dir, sizeof suite_dir, "%s/%s", opt->data_dir, SUITES[s]);
        struct dirent **entries = NULL;
        int m = scandir(suite_dir, &entries, NULL, name_cmp);
        if (m < 0) {
            fprintf(stderr, "qp_conformance: warning: cannot read %s: %s\n", suite_dir, strerror(errno));
            continue;
        }
        for (int i = 0; i < m; i++) {
            char rel[1024], dir[4400], model[4500];
            snprintf(rel, sizeof rel, "%s/%s", SUITES[s], entries[i]->d_name);
            snprintf(dir, sizeof dir, "%s/%s", suite_dir, entries[i]->d_name);
            snprintf(model, sizeof model, "%s/model.onnx", dir);
            int wanted = entries[i]->d_name[0] != '.' && file_exists(model) &&
                         (!opt->filter || strstr(rel, opt->filter));
            free(entries[i]);
            if (!wanted) continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                cases = realloc(cases, (size_t)cap * sizeof *cases);
                if (!cases) {
                    fprintf(stderr, "qp_conformance: out of memory\n");
                    exit(2);
                }
            }
            test_case *tc = &cases[n++];
            memset(tc, 0, sizeof *tc);
            tc->rel = xstrdup(rel);
            tc->dir = xstrdup(dir);
            read_ops(tc);
        }
        free(entries);
    }
    *n_out = n;
    return cases;
}

/* ---- scheduling: one child process per test ------------------------------------------------- */

/* A crashing or hanging op costs one test, not the run: each test runs in a fork()ed child
 * that sends its result through a pipe. The parent never touches the engine (no OpenMP or
 * OpenBLAS threads exist in it when it forks). */
typedef struct running {
    pid_t pid;
    int fd;
    int test;
    double start;
} running;

static void start_child(test_case *cases, int t, const options *opt, running *slot) {
    int fds[2];
    if (pipe(fds) != 0) {
        perror("qp_conformance: pipe");
        exit(2);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("qp_conformance: fork");
        exit(2);
    }
    if (pid == 0) {
        close(fds[0]);
        if (opt->timeout_s > 0) alarm((unsigned)opt->timeout_s);
        test_result r;
        run_test(&cases[t], opt, &r);
        ssize_t w = write(fds[1], &r, sizeof r);
        _exit(w == (ssize_t)sizeof r ? 0 : 3);
    }
    close(fds[1]);
    slot->pid = pid;
    slot->fd = fds[0];
    slot->test = t;
    slot->start = now_seconds();
}

static void finish_child(test_case *cases, running *slot, int wstatus, const options *opt) {
    test_case *tc = &cases[slot->test];
    test_result r;
    ssize_t got = read(slot->fd, &r, sizeof r);
    close(slot->fd);
    if (got == (ssize_t)sizeof r && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
        tc->result = r;
    } else {
        memset(&tc->result, 0, sizeof tc->result);
        tc->result.max_abs_err = -1;
        if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGALRM)
            set_detail(&tc->result, OUT_FAIL, "timed out after %d s", opt->timeout_s);
        else if (WIFSIGNALED(wstatus))
            set_detail(&tc->result, OUT_FAIL, "crashed (signal %d: %s)", WTERMSIG(wstatus),
                       strsignal(WTERMSIG(wstatus)));
        else
            set_detail(&tc->result, OUT_FAIL, "test process exited with status %d",
                       WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
    }
    tc->seconds = now_seconds() - slot->start;
    tc->done = 1;
}

static const char *outcome_word(int o) {
    return o == OUT_PASS ? "pass" : o == OUT_FAIL ? "FAIL" : "unsupported";
}

static void print_case(const test_case *tc, const options *opt) {
    const test_result *r = &tc->result;
    printf("%-11s %s", outcome_word(r->outcome), tc->rel);
    if (r->outcome != OUT_PASS) printf(": %s", r->detail);
    if (opt->verbose) {
        if (r->max_abs_err >= 0) printf("  [max |err| %.3g]", r->max_abs_err);
        if (r->n_frozen) printf("  [%d parameter input(s) planned as constants]", r->n_frozen);
        printf("  [%.2f s]", tc->seconds);
    }
    printf("\n");
    fflush(stdout);
}

static void run_all(test_case *cases, int n, const options *opt) {
    if (!opt->fork_tests) {
        for (int t = 0; t < n; t++) {
            double start = now_seconds();
            run_test(&cases[t], opt, &cases[t].result);
            cases[t].seconds = now_seconds() - start;
            cases[t].done = 1;
            print_case(&cases[t], opt);
        }
        return;
    }
    running *slots = calloc((size_t)opt->jobs, sizeof *slots);
    int n_running = 0, next = 0, next_print = 0;
    while (next < n || n_running > 0) {
        while (next < n && n_running < opt->jobs) start_child(cases, next++, opt, &slots[n_running++]);
        int wstatus;
        pid_t pid = waitpid(-1, &wstatus, 0);
        if (pid < 0) {
            if (errno == EINTR) continue;
            perror("qp_conformance: waitpid");
            exit(2);
        }
        for (int i = 0; i < n_running; i++) {
            if (slots[i].pid != pid) continue;
            finish_child(cases, &slots[i], wstatus, opt);
            slots[i] = slots[--n_running];
            break;
        }
        while (next_print < n && cases[next_print].done) print_case(&cases[next_print++], opt);
    }
    free(slots);
}

/* ---- reports -------------------------------------------------------------------------------- */

typedef struct op_stats {
    const char *op;
    int pass, fail, unsupported;
    char failing[600];   /* first few failing test names */
    int n_failing_listed;
    char reason[300];    /* first unsupported reason naming this op, else the first one */
} op_stats;

static int op_stats_cmp(const void *a, const void *b) {
    return strcmp(((const op_stats *)a)->op, ((const op_stats *)b)->op);
}

static op_stats *collect_op_stats(const test_case *cases, int n, int *n_ops) {
    op_stats *stats = NULL;
    int m = 0, cap = 0;
    for (int t = 0; t < n; t++) {
        const test_case *tc = &cases[t];
        for (int k = 0; k < tc->n_ops; k++) {
            int i = 0;
            while (i < m && strcmp(stats[i].op, tc->ops[k]) != 0) i++;
            if (i == m) {
                if (m == cap) {
                    cap = cap ? cap * 2 : 128;
                    stats = realloc(stats, (size_t)cap * sizeof *stats);
                    if (!stats) exit(2);
                }
                memset(&stats[m], 0, sizeof stats[m]);
                stats[m++].op = tc->ops[k];
            }
            op_stats *s = &stats[i];
            const char *base = strrchr(tc->rel, '/') + 1;
            switch (tc->result.outcome) {
            case OUT_PASS: s->pass++; break;
            case OUT_FAIL:
                s->fail++;
                if (s->n_failing_listed < 6) {
                    size_t used = strlen(s->failing);
                    snprintf(s->failing + used, sizeof s->failing - used, "%s%s",
                             used ? ", " : "", base);
                    s->n_failing_listed++;
                }
                break;
            default: {
                s->unsupported++;
                /* Prefer a reason that names this op over one about a neighbour op. */
                int names_op = strstr(tc->result.detail, tc->ops[k]) != NULL;
                if (!s->reason[0] || (names_op && !strstr(s->reason, tc->ops[k]))) {
                    size_t len = strnlen(tc->result.detail, sizeof s->reason - 1);
                    memcpy(s->reason, tc->result.detail, len); /* truncation is fine here */
                    s->reason[len] = '\0';
                }
                break;
            }
            }
        }
    }
    qsort(stats, (size_t)m, sizeof *stats, op_stats_cmp);
    *n_ops = m;
    return stats;
}

static void print_op_table(const op_stats *stats, int m) {
    printf("\n%-34s %6s %6s %12s\n", "op", "pass", "fail", "unsupported");
    for (int i = 0; i < m; i++)
        printf("%-34s %6d %6d %12d\n", stats[i].op, stats[i].pass, stats[i].fail, stats[i].unsupported);
    printf("\n");
}

/* Markdown cells cannot hold '|' or newlines. */
static void md_cell(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else if (*s == '\n') fputc(' ', f);
        else fputc(*s, f);
    }
}

static int write_markdown(const char *path, const op_stats *stats, int m, int passed, int failed,
                          int skipped, const options *opt) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "qp_conformance: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "# Supported ONNX ops\n\n");
    fprintf(f, "Generated by `qp_conformance --markdown` from the ONNX backend tests that Debian's "
               "`libonnx-testdata` installs (suites `node`, `pytorch-converted`, `pytorch-operator`%s%s%s). "
               "Do not edit by hand: rerun the conformance runner.\n\n",
            opt->filter ? "; filter `" : "", opt->filter ? opt->filter : "", opt->filter ? "`" : "");
    fprintf(f, "A test counts toward every op its model contains, so an op can show failures or "
               "skips caused by another op in the same test. Outputs are compared as ONNX's "
               "backend runner does: floats within |got − want| ≤ atol + rtol·|want| "
               "(rtol = 1e-3, atol = 1e-7, NaNs in the same places), integers and bools exactly.\n\n");
    fprintf(f, "Totals: %d passed, %d failed, %d skipped (unsupported).\n\n", passed, failed, skipped);
    fprintf(f, "| op | tests passed/total | notes |\n|---|---|---|\n");
    for (int i = 0; i < m; i++) {
        const op_stats *s = &stats[i];
        fprintf(f, "| ");
        md_cell(f, s->op);
        fprintf(f, " | %d/%d | ", s->pass, s->pass + s->fail + s->unsupported);
        int wrote = 0;
        if (s->fail) {
            fprintf(f, "failing: ");
            md_cell(f, s->failing);
            if (s->fail > s->n_failing_listed) fprintf(f, " (+%d more)", s->fail - s->n_failing_listed);
            wrote = 1;
        }
        if (s->unsupported) {
            fprintf(f, "%s%d skipped: ", wrote ? "; " : "", s->unsupported);
            md_cell(f, s->reason);
        }
        fprintf(f, " |\n");
    }
    if (TOLERANCE_RULES[0].test_prefix) {
        fprintf(f, "\n## Tolerance exceptions\n\n| tests | rtol | atol | why |\n|---|---|---|---|\n");
        for (const tolerance_rule *r = TOLERANCE_RULES; r->test_prefix; r++) {
            fprintf(f, "| `%s*` | %g | %g | ", r->test_prefix, r->rtol, r->atol);
            md_cell(f, r->why);
            fprintf(f, " |\n");
        }
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "qp_conformance: cannot write %s: %s\n", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

/* ---- main ----------------------------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: qp_conformance [--filter SUBSTR] [--markdown FILE] [--verbose] [--jobs N]\n"
            "                      [--data DIR] [--timeout SECONDS] [--threads N] [--no-fork]\n"
            "                      [--no-freeze]\n"
            "Runs the ONNX backend tests under DIR/{node,pytorch-converted,pytorch-operator}\n"
            "(default %s, or $QP_ONNX_TESTDATA_DIR) and reports pass/fail/unsupported per test and op.\n"
            "Graph inputs that feed parameter slots (Reshape's shape, Slice's starts, Resize's\n"
            "scales, ...) are baked in as initializers before planning; --no-freeze keeps them\n"
            "as run-time inputs. --no-fork runs tests in-process (for debuggers).\n"
            "Exit status: 0 when no test failed, 1 when any failed, 2 on usage errors.\n",
            QP_ONNX_TESTDATA_DIR);
}

static int parse_int_arg(const char *flag, const char *value, int lo) {
    char *end = NULL;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || !*value || *end || v < lo || v > 1000000) {
        fprintf(stderr, "qp_conformance: %s needs an integer >= %d (got '%s')\n", flag, lo,
                value ? value : "");
        exit(2);
    }
    return (int)v;
}

int main(int argc, char **argv) {
    options opt = {.data_dir = QP_ONNX_TESTDATA_DIR, .jobs = 1, .fork_tests = 1, .timeout_s = 120,
                   .n_threads = 1, .freeze_params = 1};
    const char *env = getenv("QP_ONNX_TESTDATA_DIR");
    if (env && *env) opt.data_dir = env;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--filter") == 0 && next) opt.filter = argv[++i];
        else if (strcmp(a, "--markdown") == 0 && next) opt.markdown = argv[++i];
        else if (strcmp(a, "--data") == 0 && next) opt.data_dir = argv[++i];
        else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) opt.verbose = 1;
        else if (strcmp(a, "--no-fork") == 0) opt.fork_tests = 0;
        else if (strcmp(a, "--no-freeze") == 0) opt.freeze_params = 0;
        else if (strcmp(a, "--jobs") == 0 || strcmp(a, "-j") == 0) opt.jobs = parse_int_arg(a, next, 1), i++;
        else if (strcmp(a, "--timeout") == 0) opt.timeout_s = parse_int_arg(a, next, 0), i++;
        else if (strcmp(a, "--threads") == 0) opt.n_threads = parse_int_arg(a, next, 0), i++;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "qp_conformance: unknown or incomplete argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!dir_exists(opt.data_dir)) {
        fprintf(stderr, "qp_conformance: test data folder %s not found (Debian: apt install "
                        "libonnx-testdata; or pass --data DIR)\n", opt.data_dir);
        return 2;
    }
    int n = 0;
    test_case *cases = discover(&opt, &n);
    if (n == 0) {
        fprintf(stderr, "qp_conformance: no tests found under %s%s%s\n", opt.data_dir,
                opt.filter ? " matching " : "", opt.filter ? opt.filter : "");
        return 2;
    }
    double start = now_seconds();
    run_all(cases, n, &opt);
    int passed = 0, failed = 0, skipped = 0;
    for (int t = 0; t < n; t++) {
        passed += cases[t].result.outcome == OUT_PASS;
        failed += cases[t].result.outcome == OUT_FAIL;
        skipped += cases[t].result.outcome == OUT_UNSUPPORTED;
    }
    int n_ops = 0;
    op_stats *stats = collect_op_stats(cases, n, &n_ops);
    print_op_table(stats, n_ops);
    int rc = failed ? 1 : 0;
    if (opt.markdown && write_markdown(opt.markdown, stats, n_ops, passed, failed, skipped, &opt) != 0)
        rc = 2;
    if (opt.verbose) printf("(%.1f s)\n", now_seconds() - start);
    printf("conformance: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
    free(stats);
    for (int t = 0; t < n; t++) {
        for (int k = 0; k < cases[t].n_ops; k++) free(cases[t].ops[k]);
        free(cases[t].ops);
        free(cases[t].rel);
        free(cases[t].dir);
    }
    free(cases);
    return rc;
}
