/* test_pipeline.c — YAML pipelines: a full file, every error with its file:line:col, --set overrides, session building, scoring JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/pipeline.h"
#include "plugin/params.h"
#include "plugin/registry.h"
#include "test_support.h"

#define assert_ok(expr)                                                                        \
    do {                                                                                       \
        qp_status st_ = (expr);                                                                \
        if (st_ != QP_OK) fail_msg("%s -> %d: %s", #expr, (int)st_, qp_error_message());       \
    } while (0)

/* The message must start with `prefix` (where + what). */
#define assert_message_starts(prefix)                                                          \
    do {                                                                                       \
        if (strncmp(qp_error_message(), (prefix), strlen(prefix)) != 0)                       \
            fail_msg("message '%s' does not start with '%s'", qp_error_message(), (prefix));   \
    } while (0)
#define assert_message_has(part)                                                               \
    do {                                                                                       \
        if (!strstr(qp_error_message(), (part)))                                               \
            fail_msg("message '%s' lacks '%s'", qp_error_message(), (part));                   \
    } while (0)

static qp_status fake_run(qp_session *s, const qp_params *p, void *user) {
    (void)s;
    (void)p;
    ++*(int *)user;
    return QP_OK;
}

static int fake_runs;
static const qp_param_def fake_params[] = {
    {.name = "bins", .type = QP_PARAM_INT, .default_value = "2048", .min = 128, .max = 65536, .help = "histogram bins"},
    {.name = "method", .type = QP_PARAM_ENUM, .default_value = "kl", .choices = "kl|percentile|mse", .help = "method"},
    {.name = "symmetric", .type = QP_PARAM_BOOL, .default_value = "false", .help = "signed"},
};
static const qp_pass_def fake_pass = {.name = "calib_fake", .version = "1.0.0", .summary = "a test pass",
                                      .params = fake_params, .n_params = 3, .run = fake_run, .user = &fake_runs};

typedef struct fixture {
    char *dir;
    qp_registry *reg;
} fixture;

static fixture fx;

static int setup(void **state) {
    (void)state;
    fx.dir = qp_test_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/m.onnx", fx.dir);
    qp_test_write_file(path, "x", 1); /* resolve only checks that it exists */
    snprintf(path, sizeof path, "%s/calib", fx.dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/labels.txt", fx.dir);
    qp_test_write_file(path, "a.jpg 1\n", 8);
    assert_ok(qp_registry_new(&fx.reg));
    assert_ok(qp_registry_add_builtins(fx.reg));
    assert_ok(qp_registry_add(fx.reg, &fake_pass, "test"));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    qp_registry_free(fx.reg);
    qp_test_rmtree(fx.dir);
    free(fx.dir);
    return 0;
}

/* Loads text as "x.yaml" from the fixture folder, applies sets, resolves. */
static qp_status try_pipeline(const char *text, const char *const *sets, int n_sets, qp_pipeline **out) {
    qp_pipeline *p = NULL;
    qp_status st = qp_pipeline_load_string(text, "x.yaml", fx.dir, &p);
    for (int i = 0; st == QP_OK && i < n_sets; i++) st = qp_pipeline_set(p, sets[i]);
    if (st == QP_OK) st = qp_pipeline_resolve(p, fx.reg);
    if (out && st == QP_OK) *out = p;
    else qp_pipeline_free(p);
    return st;
}

static const char *good_yaml =
    "# a pipeline using every key\n"
    "model: m.onnx\n"
    "data:\n"
    "  calibration: {images: calib, count: 64}\n"
    "  evaluation:\n"
    "    images: calib\n"
    "    labels: labels.txt\n"
    "    class_dirs: no\n"
    "  preprocess: {preset: imagenet, resize: [240, 320], crop: none, mean: [0.5, 0.5, 0.5], std: 0.5}\n"
    "quant:\n"
    "  weights: {bits: 4, granularity: per_tensor, symmetric: true}\n"
    "  activations: {bits: 16, symmetric: true}\n"
    "layers:\n"
    "  - {name: fc, skip: true, until: [head, tail]}\n"
    "  - name: conv1\n"
    "    bits: 6\n"
    "passes:\n"
    "  - fold_bn\n"
    "  - calib_fake: {bins: 4096, method: mse}\n"
    "run: {batch: 16, threads: 2}\n";

static void test_good_pipeline(void **state) {
    (void)state;
    qp_pipeline *p;
    assert_ok(try_pipeline(good_yaml, NULL, 0, &p));
    char want[4096];
    snprintf(want, sizeof want, "%s/m.onnx", fx.dir);
    assert_string_equal(qp_pipeline_model(p), want);
    const qp_dataset_config *calib = qp_pipeline_data(p, 0), *eval = qp_pipeline_data(p, 1);
    assert_non_null(calib);
    assert_non_null(eval);
    assert_int_equal(calib->count, 64);
    snprintf(want, sizeof want, "%s/labels.txt", fx.dir);
    assert_string_equal(eval->labels, want);
    assert_int_equal(eval->class_dirs, QP_CLASS_DIRS_NO);
    assert_int_equal(calib->preprocess.resize_mode, QP_RESIZE_EXACT);
    assert_int_equal(calib->preprocess.resize_h, 240);
    assert_int_equal(calib->preprocess.resize_w, 320);
    assert_int_equal(calib->preprocess.crop_h, 0);
    assert_float_equal(calib->preprocess.mean[2], 0.5, 0);
    assert_float_equal(calib->preprocess.std[0], 0.5, 0);
    assert_float_equal(calib->preprocess.scale, 1.0 / 255, 1e-12); /* from the preset */
    const qp_quant_config *q = qp_pipeline_quant(p);
    assert_int_equal(q->weights.bits, 4);
    assert_int_equal(q->weights.per_channel, 0);
    assert_int_equal(q->activations.bits, 16);
    assert_int_equal(q->activations.symmetric, 1);
    assert_int_equal(qp_pipeline_num_layers(p), 2);
    const qp_layer_override *l0 = qp_pipeline_layer(p, 0), *l1 = qp_pipeline_layer(p, 1);
    assert_string_equal(l0->name, "fc");
    assert_int_equal(l0->skip, 1);
    assert_int_equal(l0->n_until, 2);
    assert_string_equal(l0->until[1], "tail");
    assert_int_equal(l1->skip, -1);
    assert_int_equal(l1->bits, 6);
    assert_int_equal(qp_pipeline_num_passes(p), 2);
    assert_string_equal(qp_pipeline_pass_name(p, 0), "fold_bn");
    assert_string_equal(qp_pipeline_pass_name(p, 1), "calib_fake");
    assert_int_equal(qp_params_int(qp_pipeline_pass_params(p, 1), "bins"), 4096);
    assert_string_equal(qp_params_string(qp_pipeline_pass_params(p, 1), "method"), "mse");
    assert_false(qp_params_bool(qp_pipeline_pass_params(p, 1), "symmetric"));
    assert_int_equal(qp_pipeline_batch(p), 16);
    assert_int_equal(qp_pipeline_threads(p), 2);
    qp_pipeline_free(p);
}

static void test_defaults(void **state) {
    (void)state;
    qp_pipeline *p;
    assert_ok(try_pipeline("model: m.onnx\n", NULL, 0, &p));
    assert_null(qp_pipeline_data(p, 0));
    assert_int_equal(qp_pipeline_num_passes(p), 0);
    assert_int_equal(qp_pipeline_quant(p)->weights.bits, 8);
    assert_int_equal(qp_pipeline_quant(p)->weights.per_channel, 1);
    assert_int_equal(qp_pipeline_quant(p)->activations.symmetric, 0);
    assert_int_equal(qp_pipeline_batch(p), 8);
    qp_pipeline_free(p);
}

static void test_unknown_pass(void **state) {
    (void)state;
    const char *y = "model: m.onnx\n"
                    "passes:\n"
                    "  - fold_bn\n"
                    "  - calib_fakee: {bins: 4096}\n";
    assert_int_equal(try_pipeline(y, NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:4:5: unknown pass 'calib_fakee'");
    assert_message_has("did you mean 'calib_fake'?");
    assert_message_has("known: calib_fake, fold_bn");
    assert_int_equal(try_pipeline("model: m.onnx\npasses: [nothing_like_it]\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:2:10: unknown pass 'nothing_like_it'");
}

static void test_unknown_keys(void **state) {
    (void)state;
    assert_int_equal(try_pipeline("model: m.onnx\nquant:\n  weights: {bits: 8, granularty: per_channel}\n", NULL, 0, NULL),
                     QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:3:22: unknown key 'granularty' in quant.weights (did you mean 'granularity'?");
    assert_message_has("allowed: bits, granularity, symmetric");
    assert_int_equal(try_pipeline("model: m.onnx\npases: [fold_bn]\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:2:1: unknown key 'pases' in the pipeline (did you mean 'passes'?");
    assert_int_equal(try_pipeline("model: m.onnx\nlayers:\n  - {name: a, skp: true}\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:3:15: unknown key 'skp' in layers[0]");
    assert_int_equal(try_pipeline("model: m.onnx\npasses:\n  - calib_fake: {binz: 10}\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:3:18: unknown parameter 'binz' for pass 'calib_fake' (did you mean 'bins'?");
}

static void test_wrong_types(void **state) {
    (void)state;
    assert_int_equal(try_pipeline("model: m.onnx\nquant:\n  weights:\n    bits: eight\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:4:11: quant.weights.bits must be an integer in 2..16, got 'eight'");
    assert_int_equal(try_pipeline("model: m.onnx\ndata: [1, 2]\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:2:7: data must be a mapping (keys: calibration, evaluation, preprocess), got a list");
    assert_int_equal(try_pipeline("model: m.onnx\nquant: {weights: {symmetric: maybe}}\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:2:30: quant.weights.symmetric must be true or false, got 'maybe'");
    assert_int_equal(try_pipeline("model: m.onnx\nquant: {weights: {granularity: per_row}}\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_has("must be per_channel or per_tensor, got 'per_row'");
    assert_int_equal(try_pipeline("model: m.onnx\npasses:\n  - calib_fake: {symmetric: perhaps}\n", NULL, 0, NULL),
                     QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:3:29: parameter 'symmetric' of pass 'calib_fake'");
    assert_int_equal(try_pipeline("model: m.onnx\ndata: {preprocess: {color: PURPLE}}\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:2:28: data.preprocess.color: ");
    assert_int_equal(try_pipeline("- just\n- a list\n", NULL, 0, NULL), QP_ERR_PARSE);
    assert_message_starts("x.yaml:1:1: a pipeline is a mapping");
    assert_int_equal(try_pipeline("model: m.onnx\npasses:\n  - calib_fake:\n    bins: 4096\n", NULL, 0, NULL),
                     QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:3:5: a pass is written 'name' or 'name: {param: value}'; this entry has 2 keys");
}

static void test_out_of_range(void **state) {
    (void)state;
    assert_int_equal(try_pipeline("model: m.onnx\nquant:\n  weights:\n    bits: 32\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:4:11: quant.weights.bits: 32 is out of range 2..16");
    assert_int_equal(try_pipeline("model: m.onnx\npasses:\n  - calib_fake: {bins: 9}\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:3:24: parameter 'bins' of pass 'calib_fake' must be in [128, 65536]");
    assert_int_equal(try_pipeline("model: m.onnx\nrun: {batch: 0}\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:2:14: run.batch: 0 is out of range 1..4096");
}

static void test_missing_files(void **state) {
    (void)state;
    assert_int_equal(try_pipeline("passes: [fold_bn]\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:1:1: the pipeline needs 'model: path/to/model.onnx'");
    assert_int_equal(try_pipeline("model: nope.onnx\n", NULL, 0, NULL), QP_ERR_IO);
    assert_message_starts("x.yaml:1:8: model: cannot find 'nope.onnx'");
    assert_int_equal(try_pipeline("model: m.onnx\ndata:\n  calibration:\n    images: nowhere\n", NULL, 0, NULL), QP_ERR_IO);
    assert_message_starts("x.yaml:4:13: data.calibration.images: cannot find 'nowhere'");
    assert_int_equal(try_pipeline("model: m.onnx\ndata:\n  evaluation: {images: calib, labels: gone.txt}\n", NULL, 0, NULL),
                     QP_ERR_IO);
    assert_message_starts("x.yaml:3:39: data.evaluation.labels: cannot find 'gone.txt'");
    assert_int_equal(try_pipeline("model: m.onnx\ndata:\n  evaluation: {count: 5}\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:3:15: data.evaluation needs 'images'");
    /* a typo is reported before a missing file, whatever the order in the file */
    assert_int_equal(try_pipeline("model: nope.onnx\nquant: {weights: {bits: 1}}\n", NULL, 0, NULL), QP_ERR_INVALID_ARG);
    assert_message_has("quant.weights.bits");
}

static void test_malformed_yaml(void **state) {
    (void)state;
    assert_int_equal(try_pipeline("model: m.onnx\npasses: [fold_bn\n", NULL, 0, NULL), QP_ERR_PARSE);
    assert_message_starts("x.yaml:3:1: malformed YAML: ");
    assert_int_equal(try_pipeline("model: m.onnx\n  passes: x\n", NULL, 0, NULL), QP_ERR_PARSE);
    assert_message_starts("x.yaml:2:9: malformed YAML: mapping values are not allowed");
    assert_int_equal(try_pipeline("model: m.onnx\nmodel: m.onnx\n", NULL, 0, NULL), QP_ERR_PARSE);
    assert_message_starts("x.yaml:2:1: duplicate key 'model' (first at x.yaml:1:1)");
    assert_int_equal(try_pipeline("", NULL, 0, NULL), QP_ERR_PARSE);
    assert_message_has("empty pipeline");
    assert_int_equal(try_pipeline("model: m.onnx\n---\nmodel: m.onnx\n", NULL, 0, NULL), QP_ERR_PARSE);
    assert_message_has("one YAML document");
    qp_pipeline *p;
    assert_int_equal(qp_pipeline_load("/nonexistent/x.yaml", &p), QP_ERR_IO);
    assert_message_starts("/nonexistent/x.yaml: cannot open");
}

static void test_set_overrides(void **state) {
    (void)state;
    char model[4096], set_model[4200];
    snprintf(model, sizeof model, "%s/m.onnx", fx.dir);
    snprintf(set_model, sizeof set_model, "model=%s", model);
    const char *sets[] = {"data.calibration.count=128", "calib_fake.bins=8192", "passes.calib_fake.method=percentile",
                          "fold_bn", "quant.weights.bits=5", "data.preprocess.mean=[0.1, 0.2, 0.3]",
                          "layers.1.bits=3", "run.batch=4", set_model};
    const char *all[9];
    int n = 0;
    for (int i = 0; i < 9; i++)
        if (i != 3) all[n++] = sets[i];
    qp_pipeline *p;
    assert_ok(try_pipeline(good_yaml, all, n, &p));
    assert_int_equal(qp_pipeline_data(p, 0)->count, 128);
    assert_int_equal(qp_params_int(qp_pipeline_pass_params(p, 1), "bins"), 8192);
    assert_string_equal(qp_params_string(qp_pipeline_pass_params(p, 1), "method"), "percentile");
    assert_int_equal(qp_pipeline_quant(p)->weights.bits, 5);
    assert_float_equal(qp_pipeline_data(p, 1)->preprocess.mean[1], 0.2, 0);
    assert_int_equal(qp_pipeline_layer(p, 1)->bits, 3);
    assert_int_equal(qp_pipeline_batch(p), 4);
    assert_string_equal(qp_pipeline_model(p), model); /* --set paths are not relative to the file */
    qp_pipeline_free(p);

    /* a pass written as a bare name gets parameters too */
    const char *bare[] = {"calib_fake.symmetric=true"};
    assert_ok(try_pipeline("model: m.onnx\npasses: [calib_fake]\n", bare, 1, &p));
    assert_true(qp_params_bool(qp_pipeline_pass_params(p, 0), "symmetric"));
    qp_pipeline_free(p);
}

static void test_set_errors(void **state) {
    (void)state;
    const char *no_eq[] = {"fold_bn"};
    assert_int_equal(try_pipeline(good_yaml, no_eq, 1, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("--set fold_bn: expected KEY=VALUE");
    const char *unknown[] = {"nokey=1"};
    assert_int_equal(try_pipeline(good_yaml, unknown, 1, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("--set nokey=1: 'nokey' is neither a pipeline key");
    assert_message_has("passes: fold_bn, calib_fake");
    const char *bad_key[] = {"quant.weights.bitz=4"};
    assert_int_equal(try_pipeline(good_yaml, bad_key, 1, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("--set quant.weights.bitz=4: unknown key 'bitz' in quant.weights");
    const char *bad_value[] = {"data.calibration.count=abc"};
    assert_int_equal(try_pipeline(good_yaml, bad_value, 1, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("--set data.calibration.count=abc: data.calibration.count must be an integer");
    const char *bad_param[] = {"calib_fake.bins=1"};
    assert_int_equal(try_pipeline(good_yaml, bad_param, 1, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("--set calib_fake.bins=1: parameter 'bins' of pass 'calib_fake' must be in [128, 65536]");
    const char *no_param[] = {"fold_bn.x=1"};
    assert_int_equal(try_pipeline(good_yaml, no_param, 1, NULL), QP_ERR_INVALID_ARG);
    assert_message_starts("--set fold_bn.x=1: unknown parameter 'x' for pass 'fold_bn'");
    const char *deep[] = {"calib_fake.a.b=1"};
    assert_int_equal(try_pipeline(good_yaml, deep, 1, NULL), QP_ERR_INVALID_ARG);
    assert_message_has("PASS.PARAM=VALUE");
    const char *index[] = {"layers.7.bits=3"};
    assert_int_equal(try_pipeline(good_yaml, index, 1, NULL), QP_ERR_INVALID_ARG);
    assert_message_has("not an index of the list (0..1)");
    const char *missing[] = {"model=/nonexistent/model.onnx"};
    assert_int_equal(try_pipeline(good_yaml, missing, 1, NULL), QP_ERR_IO);
    assert_message_starts("--set model=/nonexistent/model.onnx: model: cannot find");
}

/* The real example model and data: layers: names are checked against the model, the images
 * against the model's input, all before any pass; then passes run and the set is scored. */
static void test_session_from_pipeline(void **state) {
    (void)state;
    const char *idx = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    if (!qp_test_file_exists(idx)) {
        print_message("SKIP: %s missing (Debian package dataset-fashion-mnist)\n", idx);
        skip();
    }
    const char *base = "model: " QP_SOURCE_DIR "/examples/fashion_mnist/model.onnx\n"
                       "data:\n"
                       "  calibration: {images: /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz, count: 16}\n"
                       "  evaluation:\n"
                       "    images: /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz\n"
                       "    labels: /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz\n"
                       "    count: 40\n"
                       "  preprocess: {color: GRAY, scale: 1/255, mean: 0.2860, std: 0.3530}\n"
                       "passes: [fold_bn, calib_fake, fold_bn]\n"
                       "run: {batch: 16, threads: 1}\n";
    char text[4096];
    qp_pipeline *p;
    qp_session *s;
    snprintf(text, sizeof text, "%slayers:\n  - {name: nope, skip: true}\n", base);
    assert_ok(try_pipeline(text, NULL, 0, &p));
    assert_int_equal(qp_pipeline_make_session(p, &s), QP_ERR_INVALID_ARG);
    assert_message_starts("x.yaml:12:12: layers[0]: no node named 'nope' in the model");
    qp_pipeline_free(p);

    const char *wrong_size[] = {"data.preprocess.resize=[32, 32]"};
    assert_ok(try_pipeline(base, wrong_size, 1, &p));
    assert_int_equal(qp_pipeline_make_session(p, &s), QP_ERR_SHAPE);
    assert_message_has("[16,1,32,32]");
    assert_message_has("check data.preprocess");
    qp_pipeline_free(p);

    snprintf(text, sizeof text, "%slayers:\n  - {name: /head/head.0/Conv, skip: true}\n", base);
    assert_ok(try_pipeline(text, NULL, 0, &p));
    qp_pipeline_set_logging(p, QP_LOG_ERROR, 0);
    assert_ok(qp_pipeline_make_session(p, &s));
    qp_pass_timing timings[3];
    fake_runs = 0;
    assert_ok(qp_pipeline_run_passes(p, s, timings));
    assert_int_equal(fake_runs, 1);
    assert_string_equal(timings[1].name, "calib_fake");
    assert_true(timings[0].seconds >= 0);
    qp_score score;
    assert_ok(qp_session_score(s, &score));
    assert_int_equal(score.images, 40);
    assert_int_equal(score.labelled, 40);
    assert_int_equal(score.classes, 10);
    assert_true(score.fp32.available);
    assert_true(score.fp32.top1 >= 30); /* 91.8% on the full test set */
    assert_int_equal(score.fp32.agree, 40);
    qp_session_free(s);
    qp_pipeline_free(p);
}

static void test_json_report(void **state) {
    (void)state;
    qp_score s = {.images = 10, .labelled = 8, .classes = 10};
    s.fp32 = (qp_mode_score){.available = 1, .top1 = 6, .top5 = 8, .agree = 10, .signal = 4, .noise = 0};
    s.quantsim = (qp_mode_score){.available = 1, .top1 = 5, .top5 = 8, .agree = 9, .signal = 100, .noise = 1};
    s.int8 = (qp_mode_score){.available = 0};
    qp_pass_timing t[2] = {{"fold_bn", 0.25}, {"calib \"minmax\"", 1.5}};
    char path[4096];
    snprintf(path, sizeof path, "%s/report.json", fx.dir);
    assert_ok(qp_score_write_json(path, "a/model.onnx", &s, t, 2));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_non_null(strstr(buf, "\"model\": \"a/model.onnx\""));
    assert_non_null(strstr(buf, "\"images\": 10"));
    assert_non_null(strstr(buf, "\"fp32\": {\"top1\": 0.750000, \"top5\": 1.000000}"));
    assert_non_null(strstr(buf, "\"quantsim\": {\"top1\": 0.625000, \"top5\": 1.000000, \"agreement\": 0.900000, "
                                "\"sqnr_db\": 20.0000}"));
    assert_non_null(strstr(buf, "\"int8\": {\"top1\": null, \"top5\": null, \"agreement\": null, \"sqnr_db\": null}"));
    assert_non_null(strstr(buf, "{\"name\": \"calib \\\"minmax\\\"\", \"seconds\": 1.500}"));
    snprintf(path, sizeof path, "%s/report.json.tmp", fx.dir);
    assert_false(qp_test_file_exists(path));
    assert_int_equal(qp_score_write_json("/nonexistent/dir/r.json", "m", &s, t, 2), QP_ERR_IO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_pipeline),     cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_unknown_pass),      cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_wrong_types),       cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_missing_files),     cmocka_unit_test(test_malformed_yaml),
        cmocka_unit_test(test_set_overrides),     cmocka_unit_test(test_set_errors),
        cmocka_unit_test(test_session_from_pipeline), cmocka_unit_test(test_json_report),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
