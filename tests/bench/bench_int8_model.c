/* bench_int8_model.c — times a model's int8 and fp32 plans and profiles both per op type (not a test). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "kernels/int8/q8_config.h"
#include "quant/qdq_import.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Per-node timing from the observer: the time since the previous observed output is charged
 * to the node that produced this tensor (the first output of a node only). */
typedef struct profile {
    const qp_graph *g;
    int *producer;      /* tensor id -> node id */
    double *node_time;  /* the minimum over runs (the machine is shared; minima are stable) */
    double *run_time;   /* this run */
    double last;
    int enabled;
} profile;

static void observe(void *user, int tensor_id, const qp_value *value) {
    (void)value;
    profile *p = user;
    if (!p->enabled) return;
    const double t = now_s();
    const int node = tensor_id >= 0 && tensor_id < p->g->n_tensors ? p->producer[tensor_id] : -1;
    if (node >= 0 && p->g->nodes[node].outputs[0] == tensor_id) {
        p->run_time[node] += t - p->last;
        p->last = t;
    }
}

static int cmp_double_desc(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static double min_ms_seen;
static double median_ms(qp_plan *plan, int repeat) {
    double *t = calloc((size_t)repeat, sizeof *t);
    for (int i = 0; i < 2; i++) qp_plan_run(plan);
    for (int i = 0; i < repeat; i++) {
        const double t0 = now_s();
        qp_plan_run(plan);
        t[i] = (now_s() - t0) * 1e3;
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_double_desc);
    const double m = t[repeat / 2];
    min_ms_seen = t[repeat - 1];
    free(t);
    return m;
}

/* Per-node minima over `repeat` observed runs into times[] (0 for nodes never observed). */
static void profile_nodes(qp_plan *plan, profile *prof, int repeat, double *times) {
    const int n_nodes = prof->g->n_nodes;
    prof->enabled = 1;
    for (int n = 0; n < n_nodes; n++) times[n] = INFINITY;
    for (int r = 0; r < repeat; r++) {
        for (int n = 0; n < n_nodes; n++) prof->run_time[n] = 0;
        prof->last = now_s();
        qp_plan_run(plan);
        for (int n = 0; n < n_nodes; n++)
            if (prof->run_time[n] < times[n]) times[n] = prof->run_time[n];
    }
    for (int n = 0; n < n_nodes; n++)
        if (times[n] == INFINITY) times[n] = 0;
    prof->enabled = 0;
}

static void fill_inputs(qp_plan *plan) {
    uint64_t s = 7;
    for (int i = 0; i < qp_plan_num_inputs(plan); i++) {
        qp_value *v = qp_plan_input(plan, i);
        if (v->dtype != QP_DT_FLOAT) continue;
        float *f = v->data;
        for (size_t k = 0; k < v->nbytes / 4; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            f[k] = (float)((double)(s >> 40) / 16777216.0 * 2.0 - 1.0);
        }
    }
}

/* "Conv dw 3x3 s2", "Conv 1x1", "Conv 3x3 s2", or the op type. */
static const char *op_kind(const qp_graph *g, const int *producer, int n) {
    static char names[256][48];
    static int n_names;
    const qp_node *nd = &g->nodes[n];
    if ((strcmp(nd->op_type, "Clip") == 0 || strcmp(nd->op_type, "Relu") == 0) && nd->n_inputs > 0 &&
        nd->inputs[0] >= 0 && producer[nd->inputs[0]] >= 0 &&
        strcmp(g->nodes[producer[nd->inputs[0]]].op_type, "Conv") == 0)
        nd = &g->nodes[producer[nd->inputs[0]]];
    if (strcmp(nd->op_type, "Conv") != 0) return nd->op_type;
    int64_t group = 1, k = 0, s = 1;
    for (int a = 0; a < nd->n_attrs; a++) {
        if (strcmp(nd->attrs[a].name, "group") == 0) group = nd->attrs[a].i;
        if (strcmp(nd->attrs[a].name, "kernel_shape") == 0 && nd->attrs[a].n > 0) k = nd->attrs[a].ints[0];
        if (strcmp(nd->attrs[a].name, "strides") == 0 && nd->attrs[a].n > 0) s = nd->attrs[a].ints[0];
    }
    char buf[48];
    snprintf(buf, sizeof buf, "Conv %s%lldx%lld s%lld", group > 1 ? "dw/g " : "", (long long)k, (long long)k, (long long)s);
    for (int i = 0; i < n_names; i++)
        if (strcmp(names[i], buf) == 0) return names[i];
    if (n_names == 256) return "Conv";
    snprintf(names[n_names], sizeof names[n_names], "%s", buf);
    return names[n_names++];
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_int8_model QDQ.onnx [batch] [threads] [repeat] [per-node.csv]\n");
        return 2;
    }
    const int batch = argc > 2 ? atoi(argv[2]) : 1, threads = argc > 3 ? atoi(argv[3]) : 1;
    const int repeat = argc > 4 ? atoi(argv[4]) : 20;
    const char *csv_path = argc > 5 ? argv[5] : NULL; /* per-node rows, for joining with ORT's profile */
    qp_graph *g = NULL;
    qp_encodings *enc = NULL;
    if (qp_model_load_any(argv[1], &g, &enc, NULL) != QP_OK) {
        fprintf(stderr, "%s\n", qp_error_message());
        return 1;
    }
    profile prof = {.g = g};
    prof.producer = malloc((size_t)g->n_tensors * sizeof(int));
    for (int t = 0; t < g->n_tensors; t++) prof.producer[t] = -1;
    for (int n = 0; n < g->n_nodes; n++)
        for (int o = 0; o < g->nodes[n].n_outputs; o++)
            if (g->nodes[n].outputs[o] >= 0) prof.producer[g->nodes[n].outputs[o]] = n;
    prof.node_time = calloc((size_t)g->n_nodes, sizeof(double));
    prof.run_time = calloc((size_t)g->n_nodes, sizeof(double));
    double *fp32_time = calloc((size_t)g->n_nodes, sizeof(double));
    int64_t *node_macs = calloc((size_t)g->n_nodes, sizeof(int64_t));

    printf("%s  batch %d  threads %d  int8 isa %s\n", argv[1], batch, threads, qp_q8_active_isa());
    double ms[3] = {0};
    for (int mode = QP_MODE_INT8; mode >= QP_MODE_FP32; mode -= 2) {
        qp_plan_options o = {.mode = (qp_engine_mode)mode, .batch = batch, .n_threads = threads,
                             .encodings = enc, .observer = observe, .observer_user = &prof};
        qp_plan *plan = NULL;
        if (qp_plan_create(g, &o, &plan) != QP_OK) {
            fprintf(stderr, "plan: %s\n", qp_error_message());
            return 1;
        }
        fill_inputs(plan);
        ms[mode] = median_ms(plan, repeat);
        printf("%s: median %.3f ms, min %.3f ms\n", mode == QP_MODE_INT8 ? "int8" : "fp32", ms[mode], min_ms_seen);
        if (mode == QP_MODE_INT8) {
            char buf[2000];
            qp_plan_fp32_fallback_summary(plan, buf, sizeof buf);
            printf("int8 nodes %d, fp32 fallbacks %d %s\n", qp_plan_num_int8_nodes(plan),
                   qp_plan_num_fp32_fallbacks(plan), buf);
            profile_nodes(plan, &prof, repeat, prof.node_time);
            for (int n = 0; n < g->n_nodes; n++) node_macs[n] = qp_node_macs(g, plan, n);
            /* a Relu/Clip fused into a Conv carries the Conv's time, so give it the MACs too */
            for (int n = 0; n < g->n_nodes; n++) {
                const qp_node *nd = &g->nodes[n];
                const int src = nd->n_inputs > 0 && nd->inputs[0] >= 0 ? prof.producer[nd->inputs[0]] : -1;
                if (src >= 0 && prof.node_time[src] == 0 && node_macs[src] > 0 &&
                    (strcmp(nd->op_type, "Clip") == 0 || strcmp(nd->op_type, "Relu") == 0)) {
                    node_macs[n] = node_macs[src];
                    node_macs[src] = 0;
                }
            }
            FILE *csv = csv_path ? fopen(csv_path, "w") : NULL;
            if (csv_path && !csv) fprintf(stderr, "cannot write %s\n", csv_path);
            if (csv) {
                fprintf(csv, "index,node,kind,ms,mmac,out_shape\n");
                for (int n = 0; n < g->n_nodes; n++) {
                    if (prof.node_time[n] <= 0) continue;
                    const qp_node *nd = &g->nodes[n];
                    /* a fused Relu/Clip carries its Conv's time: name the Conv */
                    const int src = nd->n_inputs > 0 && nd->inputs[0] >= 0 ? prof.producer[nd->inputs[0]] : -1;
                    const qp_node *named = src >= 0 && prof.node_time[src] == 0 && node_macs[n] > 0 ? &g->nodes[src] : nd;
                    const qp_value *v = qp_plan_tensor(plan, nd->outputs[0]);
                    char shape[96] = "";
                    for (int d = 0; v && d < v->shape.rank; d++)
                        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? "x" : "",
                                 (long long)v->shape.dims[d]);
                    fprintf(csv, "%d,%s,%s,%.4f,%.3f,%s\n", n, named->name ? named->name : "", op_kind(g, prof.producer, n),
                            prof.node_time[n] * 1e3, node_macs[n] * 1e-6, shape);
                }
                fclose(csv);
            }
        }
        else /* the fp32 plan with an observer runs Relu/Clip unfused: their time counts to the Conv's kind */
            profile_nodes(plan, &prof, repeat, fp32_time);
        qp_plan_free(plan);
    }
    printf("median: int8 %.3f ms, fp32 %.3f ms, fp32/int8 %.2fx\n", ms[QP_MODE_INT8], ms[QP_MODE_FP32],
           ms[QP_MODE_FP32] / ms[QP_MODE_INT8]);

    /* per op kind (a Relu/Clip fused into a Conv is charged to the Conv, which has no observed
     * output of its own), and the heaviest nodes */
    typedef struct { const char *op; double t, t32; int n; int64_t macs; } op_row;
    op_row rows[64];
    int n_rows = 0;
    double total = 0;
    for (int n = 0; n < g->n_nodes; n++) {
        total += prof.node_time[n];
        const char *op = op_kind(g, prof.producer, n);
        int r = 0;
        while (r < n_rows && strcmp(rows[r].op, op) != 0) r++;
        if (r == n_rows && n_rows < 64) rows[n_rows++] = (op_row){op, 0, 0, 0, 0};
        if (r < 64) {
            rows[r].t += prof.node_time[n];
            rows[r].t32 += fp32_time[n];
            rows[r].n++;
            rows[r].macs += node_macs[n];
        }
    }
    double total32 = 0;
    for (int n = 0; n < g->n_nodes; n++) total32 += fp32_time[n];
    printf("int8 profile (observer-based, per-node minimum over runs; sum %.3f ms; fp32 sum %.3f ms):\n", total * 1e3,
           total32 * 1e3);
    for (int r = 0; r < n_rows; r++)
        if (rows[r].t > 0 || rows[r].t32 > 0)
            printf("  %-22s %3d nodes %8.3f ms  %5.1f%%  %8.2f MMAC  %7.1f GMAC/s   fp32 %8.3f ms  x%.2f\n", rows[r].op,
                   rows[r].n, rows[r].t * 1e3, 100 * rows[r].t / total, rows[r].macs * 1e-6,
                   rows[r].t > 0 ? rows[r].macs / rows[r].t * 1e-9 : 0.0, rows[r].t32 * 1e3,
                   rows[r].t > 0 ? rows[r].t32 / rows[r].t : 0.0);
    printf("heaviest nodes:\n");
    for (int k = 0; k < 25; k++) {
        int best = -1;
        for (int n = 0; n < g->n_nodes; n++)
            if (prof.node_time[n] > 0 && (best < 0 || prof.node_time[n] > prof.node_time[best])) best = n;
        if (best < 0) break;
        const qp_node *nd = &g->nodes[best];
        printf("  %-32s %-18s %8.3f ms %8.2f MMAC %7.1f GMAC/s\n", nd->name ? nd->name : "?",
               op_kind(g, prof.producer, best), prof.node_time[best] * 1e3, node_macs[best] * 1e-6,
               node_macs[best] / prof.node_time[best] * 1e-9);
        prof.node_time[best] = -prof.node_time[best];
    }
    free(prof.node_time);
    free(prof.run_time);
    free(fp32_time);
    free(node_macs);
    free(prof.producer);
    qp_encodings_free(enc);
    qp_graph_free(g);
    return 0;
}
