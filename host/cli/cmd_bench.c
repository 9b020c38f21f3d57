/* cmd_bench.c — `qpipe bench MODEL`: median latency, GMAC/s and memory per (batch, threads), in fp32, quantsim or int8 (QDQ models). */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli.h"
#include "data/npy.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: qpipe bench MODEL.onnx [--batch 1,8] [--threads 1,2] [--repeat N] [--warmup N]\n"
            "                   [--shape NAME=DIMS]... [--input FILE.npy] [--encodings FILE.json]\n"
            "                   [--mode MODE] [--json FILE]\n\n"
            "Times the engine on seeded random inputs and prints, for every batch size and thread\n"
            "count, the median latency of --repeat runs (after --warmup), GMAC/s, the activation arena\n"
            "and the process's peak resident memory so far (VmHWM from /proc/self/status, which counts\n"
            "this process alone; getrusage's ru_maxrss where /proc is unreadable, which on Linux also\n"
            "carries the high-water mark of a parent that forked this process).\n\n"
            "  --batch LIST    comma-separated batch sizes (default 1,8)\n"
            "  --threads LIST  comma-separated thread counts (default 1,2)\n"
            "  --repeat N      timed runs per configuration (default 20)\n"
            "  --warmup N      untimed runs first (default 3)\n"
            "  --shape N=DIMS  fix an input's shape (batch dim is still replaced by --batch)\n"
            "  --input FILE    use this array's first sample, repeated over the batch, for input 0\n"
            "  --encodings F   AIMET encodings (0.6.1 or 1.0.0, as export_encodings writes them) for the\n"
            "                  float MODEL: it then runs like a quantized model\n"
            "  --mode LIST     comma-separated from fp32, quantsim, int8 (default: fp32,int8 for quantized\n"
            "                  models, i.e. QDQ or QLinear* ops read into qpipe's encodings, with the int8\n"
            "                  speed-up over fp32; fp32 otherwise). fp32 of a quantized model runs its\n"
            "                  dequantized weights in float\n"
            "  --json FILE     also write [{\"mode\",\"batch\",\"threads\",\"median_ms\",\"gmacs\",...}]\n"
            "  -h, --help      this text\n\n"
            "Exit codes: 0 success, 1 bad input, 2 usage error.\n");
}

static int parse_list(const char *text, int *out, int cap) {
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == cap || cli_parse_int(tok, 1, &out[n])) return -1;
        n++;
    }
    return n;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Peak resident bytes of this process: VmHWM is per address space, unlike ru_maxrss, which Linux
 * keeps across exec, so a child forked from a big parent (a Python harness) reports the parent's
 * peak. Falls back to ru_maxrss when /proc is not there. */
static double peak_rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        long long kib = -1;
        while (kib < 0 && fgets(line, sizeof line, f))
            if (strncmp(line, "VmHWM:", 6) == 0 && sscanf(line + 6, "%lld", &kib) != 1) kib = -1;
        fclose(f);
        if (kib >= 0) return (double)kib * 1024.0;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss * 1024.0;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Deterministic inputs: floats uniform in [-1, 1) from a fixed LCG; integer inputs zero. */
static void fill_inputs(qp_plan *plan) {
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < qp_plan_num_inputs(plan); i++) {
        qp_value *v = qp_plan_input(plan, i);
        if (v->dtype != QP_DT_FLOAT) continue;
        float *x = v->data;
        for (size_t k = 0; k < v->nbytes / sizeof(float); k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            x[k] = (float)((double)(seed >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
        }
    }
}

int cmd_bench(int argc, char **argv) {
    static const struct option options[] = {
        {"batch", required_argument, 0, 'b'},  {"threads", required_argument, 0, 't'},
        {"repeat", required_argument, 0, 'r'}, {"warmup", required_argument, 0, 'w'},
        {"shape", required_argument, 0, 's'},  {"json", required_argument, 0, 'j'},
        {"input", required_argument, 0, 'i'},  {"help", no_argument, 0, 'h'},
        {"mode", required_argument, 0, 'M'},   {"encodings", required_argument, 0, 'e'}, {0, 0, 0, 0}};
    qp_engine_mode modes[3];
    int n_modes = 0;
    int batches[8] = {1, 8}, n_batches = 2, threads[8] = {1, 2}, n_threads = 2;
    int repeat = 20, warmup = 3, c;
    const char *json_path = NULL, *input_path = NULL, *encodings_path = NULL;
    cli_shapes shapes = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'b':
            if ((n_batches = parse_list(optarg, batches, 8)) <= 0)
                return cli_usage_error("bench", "--batch wants a list like 1,8");
            break;
        case 't':
            if ((n_threads = parse_list(optarg, threads, 8)) <= 0)
                return cli_usage_error("bench", "--threads wants a list like 1,2");
            break;
        case 'r':
            if (cli_parse_int(optarg, 1, &repeat)) return cli_usage_error("bench", "--repeat wants a positive integer");
            break;
        case 'w':
            if (cli_parse_int(optarg, 0, &warmup)) return cli_usage_error("bench", "--warmup wants an integer >= 0");
            break;
        case 's': if (cli_add_shape("bench", &shapes, optarg)) return QP_EXIT_USAGE; break;
        case 'j': json_path = optarg; break;
        case 'e': encodings_path = optarg; break;
        case 'i': input_path = optarg; break;
        case 'M': {
            char list[64];
            snprintf(list, sizeof list, "%s", optarg);
            n_modes = 0;
            for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                qp_engine_mode found;
                if (cli_parse_mode(tok, &found) || n_modes == 3)
                    return cli_usage_error("bench", "--mode wants a list of fp32, quantsim, int8; got '%s'", optarg);
                modes[n_modes++] = found;
            }
            if (n_modes == 0) return cli_usage_error("bench", "--mode wants a list of fp32, quantsim, int8");
            break;
        }
        case 'h': usage(stdout); return QP_EXIT_OK;
        default: return cli_usage_error("bench", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("bench", "expected exactly one MODEL argument");
    const char *path = argv[optind];
    cli_model model;
    int load_rc = cli_model_load("bench", path, encodings_path, &model);
    if (load_rc != QP_EXIT_OK) return load_rc;
    qp_graph *g = model.graph;
    const qp_encodings *enc = model.encodings;
    qp_status st;
    if (n_modes == 0) {
        modes[n_modes++] = QP_MODE_FP32;
        if (enc) modes[n_modes++] = QP_MODE_INT8;
    }
    for (int mi = 0; mi < n_modes; mi++)
        if (modes[mi] != QP_MODE_FP32 && !enc) {
            cli_model_free(&model);
            return cli_usage_error("bench", "--mode %s needs a quantized model (QuantizeLinear/DequantizeLinear or "
                                   "QLinear* nodes); %s has none", cli_mode_name(modes[mi]), path);
        }
    float *sample = NULL;
    size_t sample_floats = 0;
    if (input_path) {
        qp_shape shape;
        if ((st = qp_npy_read_f32(input_path, &sample, &shape)) != QP_OK) {
            cli_model_free(&model);
            return cli_fail("bench", st);
        }
        sample_floats = (size_t)(qp_shape_numel(&shape) / (shape.rank > 0 && shape.dims[0] > 0 ? shape.dims[0] : 1));
    }

    FILE *json = NULL;
    char json_tmp[4096];
    if (json_path) {
        snprintf(json_tmp, sizeof json_tmp, "%s.tmp", json_path);
        json = fopen(json_tmp, "w");
        if (!json) {
            cli_model_free(&model);
            fprintf(stderr, "qpipe bench: error: cannot write %s\n", json_tmp);
            return QP_EXIT_BAD_INPUT;
        }
        fprintf(json, "[");
    }
    printf("%-6s %5s %7s %11s %9s %11s %12s\n", "mode", "batch", "threads", "median_ms", "GMAC/s",
           "arena_MiB", "peak_rss_MiB");
    double *times = malloc((size_t)repeat * sizeof *times);
    int first = 1, rc = QP_EXIT_OK;
    double medians[3][8][8] = {{{0}}}; /* [mode][batch][threads], for the speed-up summary */
    for (int mi = 0; mi < n_modes && rc == QP_EXIT_OK; mi++) {
    const qp_engine_mode mode = modes[mi];
    for (int bi = 0; bi < n_batches && rc == QP_EXIT_OK; bi++) {
        for (int ti = 0; ti < n_threads && rc == QP_EXIT_OK; ti++) {
            /* Explicit shapes keep their dims but take the benchmark's batch size. */
            qp_input_shape fixed[16];
            for (int k = 0; k < shapes.n; k++) {
                fixed[k] = shapes.items[k];
                fixed[k].shape.dims[0] = batches[bi];
            }
            qp_plan_options popts = {.mode = mode, .batch = batches[bi], .n_threads = threads[ti],
                                     .input_shapes = fixed, .n_input_shapes = shapes.n, .encodings = enc};
            qp_plan *plan = NULL;
            if ((st = qp_plan_create(g, &popts, &plan)) != QP_OK) {
                rc = cli_fail("bench", st);
                break;
            }
            fill_inputs(plan);
            if (sample) { /* the given sample, repeated over the batch */
                qp_value *in = qp_plan_input(plan, 0);
                size_t per = in->nbytes / sizeof(float) / (size_t)batches[bi];
                if (per != sample_floats) {
                    st = qp_error(QP_ERR_SHAPE, "%s: sample has %zu values, input '%s' wants %zu", input_path,
                                  sample_floats, qp_plan_input_name(plan, 0), per);
                    rc = cli_fail("bench", st);
                    qp_plan_free(plan);
                    break;
                }
                for (int b = 0; b < batches[bi]; b++)
                    memcpy((float *)in->data + (size_t)b * per, sample, per * sizeof(float));
            }
            for (int w = 0; w < warmup && st == QP_OK; w++) st = qp_plan_run(plan);
            for (int r = 0; r < repeat && st == QP_OK; r++) {
                double t0 = now_ms();
                st = qp_plan_run(plan);
                times[r] = now_ms() - t0;
            }
            if (st != QP_OK) {
                rc = cli_fail("bench", st);
                qp_plan_free(plan);
                break;
            }
            qsort(times, (size_t)repeat, sizeof *times, compare_double);
            double median = repeat % 2 ? times[repeat / 2] : 0.5 * (times[repeat / 2 - 1] + times[repeat / 2]);
            int64_t macs = 0;
            for (int id = 0; id < g->n_nodes; id++) macs += qp_node_macs(g, plan, id);
            /* The two largest activations bound what any runtime must hold at once. */
            size_t big1 = 0, big2 = 0;
            for (int t = 0; t < g->n_tensors; t++) {
                const qp_value *v = qp_plan_tensor(plan, t);
                if (g->tensors[t]->is_initializer || !v || v->shape.rank < 0) continue;
                if (v->nbytes > big1) { big2 = big1; big1 = v->nbytes; }
                else if (v->nbytes > big2) big2 = v->nbytes;
            }
            const double rss_bytes = peak_rss_bytes();
            double rss_mib = rss_bytes / (1024.0 * 1024.0);
            double gmacs = median > 0 ? (double)macs / (median * 1e6) : 0;
            double arena_mib = (double)qp_plan_arena_bytes(plan) / (1024.0 * 1024.0);
            printf("%-6s %5d %7d %11.3f %9.2f %11.2f %12.1f\n", cli_mode_name(mode), batches[bi], threads[ti], median,
                   gmacs, arena_mib, rss_mib);
            if (json)
                fprintf(json,
                        "%s\n  {\"mode\": \"%s\", \"batch\": %d, \"threads\": %d, \"median_ms\": %.4f, "
                        "\"min_ms\": %.4f, \"gmacs\": %.4f, \"macs\": %" PRId64 ", \"arena_bytes\": %zu, "
                        "\"largest_activations_bytes\": [%zu, %zu], \"peak_rss_bytes\": %.0f, \"repeat\": %d}",
                        first ? "" : ",", cli_mode_name(mode), batches[bi], threads[ti], median, times[0], gmacs, macs,
                        qp_plan_arena_bytes(plan), big1, big2, rss_bytes, repeat);
            first = 0;
            medians[mode][bi][ti] = median;
            qp_plan_free(plan);
        }
    }
    }
    for (int bi = 0; bi < n_batches && rc == QP_EXIT_OK; bi++)
        for (int ti = 0; ti < n_threads; ti++)
            if (medians[QP_MODE_FP32][bi][ti] > 0 && medians[QP_MODE_INT8][bi][ti] > 0)
                printf("int8 speed-up over fp32 at batch %d, %d thread%s: %.2fx\n", batches[bi], threads[ti],
                       threads[ti] > 1 ? "s" : "", medians[QP_MODE_FP32][bi][ti] / medians[QP_MODE_INT8][bi][ti]);
    free(times);
    free(sample);
    if (json) {
        fprintf(json, "\n]\n");
        int bad = fclose(json) != 0 || rc != QP_EXIT_OK;
        if (bad || rename(json_tmp, json_path) != 0) {
            remove(json_tmp);
            if (rc == QP_EXIT_OK) {
                fprintf(stderr, "qpipe bench: error: cannot write %s\n", json_path);
                rc = QP_EXIT_BAD_INPUT;
            }
        }
    }
    cli_model_free(&model);
    return rc;
}
