/* cmd_run.c — `qpipe run PIPELINE.yaml`: validates a pipeline, runs its passes and scores fp32, quantsim and int8. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pipeline/pipeline.h"
#include "plugin/registry.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: qpipe run PIPELINE.yaml [--set KEY=VALUE]... [--json FILE] [--plugin-path DIRS]\n"
            "                 [--model FILE] [--calib PATH] [--eval PATH] [-v | -q] [--no-progress]\n\n"
            "Runs a YAML pipeline: loads the model, runs the passes in order (timing each), then scores\n"
            "the result on data.evaluation with the fp32, quantsim and int8 engines: top-1/top-5 when\n"
            "labels exist, agreement of the top-1 with fp32, and the SQNR of the outputs. The whole\n"
            "pipeline (keys, types, ranges, pass names and parameters, files) is checked before any\n"
            "pass runs; errors name file:line:column. docs/pipelines.md is the reference.\n\n"
            "  --set KEY=VALUE     override a pipeline value (repeatable): model=m.onnx,\n"
            "                      data.calibration.count=64, quant.weights.bits=4, run.batch=16,\n"
            "                      calib_minmax.symmetric=true (PASS.PARAM); VALUE is YAML\n"
            "  --model FILE        same as --set model=FILE\n"
            "  --calib PATH        same as --set data.calibration.images=PATH\n"
            "  --eval PATH         same as --set data.evaluation.images=PATH\n"
            "  --json FILE         write {\"model\", \"images\", \"fp32\": {top1, top5}, \"quantsim\" and\n"
            "                      \"int8\": {top1, top5, agreement, sqnr_db}, \"passes\": [{name, seconds}]}\n"
            "                      (fractions; null where not measured)\n"
            "  --plugin-path DIRS  colon-separated plugin folders or files, searched first\n"
            "  -v, --verbose       more messages (repeat for debug)   -q, --quiet  errors only\n"
            "  --no-progress       no progress line even on a terminal\n"
            "  -h, --help          this text\n\n"
            "Exit codes: 0 success, 1 bad input or a failed pass or engine, 2 usage error.\n");
}

static void print_percent(int ok, int64_t num, int64_t den) {
    if (ok && den > 0) printf("  %8.2f%%", 100.0 * (double)num / (double)den);
    else printf("  %9s", "-");
}

static void print_mode(const char *name, const qp_mode_score *m, const qp_score *s, int compare) {
    printf("%-9s", name);
    if (!m->available) {
        printf("  unavailable: %s\n", m->error[0] ? m->error : "not run");
        return;
    }
    print_percent(1, m->top1, s->labelled);
    print_percent(1, m->top5, s->labelled);
    print_percent(compare, m->agree, s->images);
    double db = qp_score_sqnr_db(m);
    if (!compare) printf("  %9s", "-");
    else if (isinf(db)) printf("  %9s", "inf");
    else printf("  %9.2f", db);
    printf("\n");
}

static int add_set(qp_pipeline *p, const char *key, const char *value) {
    size_t n = strlen(key) + strlen(value) + 2;
    char *text = malloc(n);
    if (!text) return -1;
    snprintf(text, n, "%s=%s", key, value);
    qp_status st = qp_pipeline_set(p, text);
    free(text);
    return st == QP_OK ? 0 : -1;
}

int cmd_run(int argc, char **argv) {
    static const struct option options[] = {
        {"set", required_argument, 0, 's'},      {"json", required_argument, 0, 'j'},
        {"plugin-path", required_argument, 0, 'P'}, {"model", required_argument, 0, 'm'},
        {"calib", required_argument, 0, 'c'},    {"eval", required_argument, 0, 'e'},
        {"verbose", no_argument, 0, 'v'},        {"quiet", no_argument, 0, 'q'},
        {"no-progress", no_argument, 0, 'n'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *json_path = NULL, *plugin_path = NULL, *model = NULL, *calib = NULL, *eval = NULL;
    const char **sets = calloc((size_t)argc + 1, sizeof *sets);
    int n_sets = 0, verbosity = QP_LOG_INFO, progress = -1, c;
    if (!sets) return cli_fail("run", qp_error(QP_ERR_NOMEM, "out of memory"));
    optind = 1;
    while ((c = getopt_long(argc, argv, "vqh", options, NULL)) != -1) {
        switch (c) {
        case 's': sets[n_sets++] = optarg; break;
        case 'j': json_path = optarg; break;
        case 'P': plugin_path = optarg; break;
        case 'm': model = optarg; break;
        case 'c': calib = optarg; break;
        case 'e': eval = optarg; break;
        case 'v': verbosity = verbosity < QP_LOG_DEBUG ? verbosity + 1 : verbosity; break;
        case 'q': verbosity = QP_LOG_ERROR; break;
        case 'n': progress = 0; break;
        case 'h': free(sets); usage(stdout); return QP_EXIT_OK;
        default: free(sets); return cli_usage_error("run", "unknown option");
        }
    }
    if (optind != argc - 1) {
        free(sets);
        return cli_usage_error("run", "expected exactly one PIPELINE.yaml argument");
    }
    for (int i = 0; i < n_sets; i++)
        if (!strchr(sets[i], '=') || sets[i][0] == '=') {
            int rc = cli_usage_error("run", "--set wants KEY=VALUE, got '%s'", sets[i]);
            free(sets);
            return rc;
        }

    qp_registry *reg = NULL;
    qp_pipeline *p = NULL;
    qp_session *s = NULL;
    qp_pass_timing *timings = NULL;
    int rc = cli_load_registry("run", plugin_path, &reg);
    if (rc != QP_EXIT_OK) {
        free(sets);
        return rc;
    }
    qp_status st = qp_pipeline_load(argv[optind], &p);
    if (st == QP_OK && model && add_set(p, "model", model)) st = QP_ERR_INVALID_ARG;
    if (st == QP_OK && calib && add_set(p, "data.calibration.images", calib)) st = QP_ERR_INVALID_ARG;
    if (st == QP_OK && eval && add_set(p, "data.evaluation.images", eval)) st = QP_ERR_INVALID_ARG;
    for (int i = 0; st == QP_OK && i < n_sets; i++) st = qp_pipeline_set(p, sets[i]);
    if (st == QP_OK) st = qp_pipeline_resolve(p, reg);
    if (st == QP_OK) {
        qp_pipeline_set_logging(p, (qp_log_level)verbosity, progress);
        st = qp_pipeline_make_session(p, &s);
    }
    int n_passes = st == QP_OK ? qp_pipeline_num_passes(p) : 0;
    if (st == QP_OK && !(timings = calloc((size_t)(n_passes ? n_passes : 1), sizeof *timings)))
        st = qp_error(QP_ERR_NOMEM, "out of memory");
    if (st == QP_OK) st = qp_pipeline_run_passes(p, s, timings);
    qp_score score;
    memset(&score, 0, sizeof score);
    int scored = 0;
    if (st == QP_OK && qp_session_evaluation_dataset(s)) {
        st = qp_session_score(s, &score);
        scored = st == QP_OK;
    }
    if (st != QP_OK) {
        rc = cli_fail("run", st);
        goto done;
    }

    printf("pipeline: %s\nmodel:    %s\n", qp_pipeline_path(p), qp_pipeline_model(p));
    if (scored) {
        printf("images:   %" PRId64 " evaluated, %" PRId64 " labelled", score.images, score.labelled);
        if (score.skipped) printf(", %" PRId64 " skipped (unreadable)", score.skipped);
        printf("\n\n%-9s  %9s  %9s  %9s  %9s\n", "engine", "top-1", "top-5", "agreement", "SQNR dB");
        print_mode("fp32", &score.fp32, &score, 0);
        print_mode("quantsim", &score.quantsim, &score, 1);
        print_mode("int8", &score.int8, &score, 1);
        if (!score.labelled) printf("(no labels: accuracy not computed)\n");
    } else {
        printf("(no data.evaluation: nothing scored)\n");
    }
    printf("\n%-24s %9s\n", "pass", "seconds");
    for (int i = 0; i < n_passes; i++) printf("%-24s %9.3f\n", timings[i].name, timings[i].seconds);
    if (scored) printf("%-24s %9.3f\n", "(evaluation)", score.seconds);
    if (json_path) {
        st = qp_score_write_json(json_path, qp_pipeline_model(p), &score, timings, n_passes);
        if (st != QP_OK) rc = cli_fail("run", st);
    }
    /* A pipeline whose quantized model cannot be scored has not done its job. */
    if (rc == QP_EXIT_OK && scored && (!score.quantsim.available || !score.int8.available)) {
        fprintf(stderr, "qpipe run: error: %s engine unavailable: %s\n", !score.quantsim.available ? "quantsim" : "int8",
                !score.quantsim.available ? score.quantsim.error : score.int8.error);
        rc = QP_EXIT_BAD_INPUT;
    }
done:
    free(timings);
    qp_session_free(s);
    qp_pipeline_free(p); /* before the registry: its parameters point into plugin tables */
    qp_registry_free(reg);
    free(sets);
    return rc;
}
