/* cmd_eval.c — `qpipe eval MODEL --images DIR|IDX ...`: top-1/top-5 of a classifier in fp32, quantsim or int8 (QDQ models). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include <sys/stat.h>

#include "data/dataset.h"
#include "data/npy.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: qpipe eval MODEL.onnx --images DIR|IDX [--labels FILE] [--list FILE] [--count N]\n"
            "                  [preprocessing flags] [--mode fp32|quantsim|int8] [--batch N] [--threads N]\n"
            "                  [--encodings FILE.json] [--json FILE] [--dump DIR]\n\n"
            "Runs a classifier over a folder of JPEGs (or an IDX image file, MNIST format, plain or\n"
            "gz) and prints top-1 and top-5 accuracy against the labels. Unreadable images are\n"
            "skipped, counted and named. A quantized model (QDQ, or QOperator QLinear* ops) is read\n"
            "into qpipe's encodings and runs on the int8 engine by default; so does a float model given\n"
            "--encodings (an AIMET encodings file, as a pipeline's export_encodings writes it).\n\n"
            "data:\n"
            "  --images DIR|FILE  JPEG folder (sorted by name) or IDX images file\n"
            "  --labels FILE      '<file> <class>' lines for a folder, or the IDX labels file;\n"
            "                     without it, one sub-folder per class gives the labels\n"
            "  --list FILE        only the image names listed (one per line)\n"
            "  --count N          at most N images\n"
            "preprocessing (value = (pixel*scale - mean[c]) / std[c], c in output channel order):\n"
            "  --preset NAME      imagenet | caffe | raw\n"
            "  --resize N|HxW     shorter side to N (aspect kept), or exactly HxW; 'none'\n"
            "  --crop N|HxW       centre crop after resizing\n"
            "  --color RGB|BGR|GRAY   --layout NCHW|NHWC\n"
            "  --scale S          e.g. 1/255      --mean M[,M,M]     --std S[,S,S]\n"
            "run:\n"
            "  --mode MODE        fp32 | quantsim | int8 (default: int8 for quantized models, else fp32;\n"
            "                     fp32 on a quantized model runs its dequantized weights in float)\n"
            "  --encodings FILE   AIMET encodings (0.6.1 or 1.0.0) for the float MODEL\n"
            "  --batch N          batch size (default 8)     --threads N (default: all cores)\n"
            "  --json FILE        also write {\"model\",\"mode\",\"images\",\"labelled\",\"skipped\",\"top1\",\"top5\",\"seconds\"}\n"
            "  --dump DIR         also write each batch's inputs and outputs as DIR/batch_<k>_input.npy and\n"
            "                     _output.npy (float32, only the batch's real images) and DIR/labels.txt\n"
            "  -h, --help         this text\n\n"
            "Exit codes: 0 success, 1 bad input, 2 usage error.\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Rank of the true class among the logits (0 = top-1): counts classes scoring strictly higher,
 * plus equal-scoring classes with a lower index (ties resolved like an arg-max). */
static int64_t label_rank(const float *logits, int64_t classes, int label) {
    int64_t rank = 0;
    for (int64_t c = 0; c < classes; c++)
        if (logits[c] > logits[label] || (logits[c] == logits[label] && c < label)) rank++;
    return rank;
}

static int write_json(const char *path, const char *model, const char *mode, int64_t images, int64_t labelled,
                      int64_t skipped, double top1, double top5, double seconds) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    fprintf(f, "{\"model\": \"%s\", \"mode\": \"%s\", \"images\": %" PRId64 ", \"labelled\": %" PRId64 ", \"skipped\": %" PRId64
               ", \"top1\": %.6f, \"top5\": %.6f, \"seconds\": %.3f}\n",
            model, mode, images, labelled, skipped, top1, top5, seconds);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        remove(tmp);
        return -1;
    }
    return 0;
}

/* --dump: the batch's real rows of input and output 0, so another runtime can be compared on
 * exactly the tensors qpipe saw. */
static qp_status dump_batch(const char *dir, int k, const qp_value *in, const qp_value *out, int rows, int batch) {
    char path[4096];
    qp_shape shape = in->shape;
    shape.dims[0] = rows;
    snprintf(path, sizeof path, "%s/batch_%05d_input.npy", dir, k);
    qp_status st = qp_npy_write(path, QP_DT_FLOAT, &shape, in->data);
    if (st != QP_OK) return st;
    shape = out->shape;
    if (shape.rank < 1 || shape.dims[0] != batch) return qp_error(QP_ERR_SHAPE, "--dump: output 0 is not batched");
    shape.dims[0] = rows;
    snprintf(path, sizeof path, "%s/batch_%05d_output.npy", dir, k);
    return qp_npy_write(path, QP_DT_FLOAT, &shape, out->data);
}

int cmd_eval(int argc, char **argv) {
    static const struct option options[] = {
        {"images", required_argument, 0, 'I'}, {"labels", required_argument, 0, 'L'},
        {"list", required_argument, 0, 'l'},   {"count", required_argument, 0, 'n'},
        {"preset", required_argument, 0, 'p'}, {"resize", required_argument, 0, 'r'},
        {"crop", required_argument, 0, 'c'},   {"color", required_argument, 0, 'C'},
        {"layout", required_argument, 0, 'y'}, {"scale", required_argument, 0, 's'},
        {"mean", required_argument, 0, 'm'},   {"std", required_argument, 0, 'd'},
        {"batch", required_argument, 0, 'b'},  {"threads", required_argument, 0, 't'},
        {"json", required_argument, 0, 'j'},   {"help", no_argument, 0, 'h'},
        {"mode", required_argument, 0, 'M'},   {"dump", required_argument, 0, 'D'},
        {"encodings", required_argument, 0, 'e'}, {0, 0, 0, 0}};
    qp_dataset_config cfg;
    qp_dataset_config_init(&cfg);
    int batch = 8, n_threads = 0, c, count;
    const char *json_path = NULL, *dump_dir = NULL, *encodings_path = NULL;
    qp_engine_mode mode = QP_MODE_FP32;
    int mode_given = 0;
    qp_status st;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case 'I': cfg.images = optarg; break;
        case 'L': cfg.labels = optarg; break;
        case 'l': cfg.list = optarg; break;
        case 'n':
            if (cli_parse_int(optarg, 1, &count)) return cli_usage_error("eval", "--count wants a positive integer");
            cfg.count = count;
            break;
        case 'p': key = "preset"; break;
        case 'r': key = "resize"; break;
        case 'c': key = "crop"; break;
        case 'C': key = "color"; break;
        case 'y': key = "layout"; break;
        case 's': key = "scale"; break;
        case 'm': key = "mean"; break;
        case 'd': key = "std"; break;
        case 'b':
            if (cli_parse_int(optarg, 1, &batch)) return cli_usage_error("eval", "--batch wants a positive integer");
            break;
        case 't':
            if (cli_parse_int(optarg, 1, &n_threads)) return cli_usage_error("eval", "--threads wants a positive integer");
            break;
        case 'j': json_path = optarg; break;
        case 'M':
            if (cli_parse_mode(optarg, &mode)) return cli_usage_error("eval", "--mode wants fp32, quantsim or int8, got '%s'", optarg);
            mode_given = 1;
            break;
        case 'D': dump_dir = optarg; break;
        case 'e': encodings_path = optarg; break;
        case 'h': usage(stdout); return QP_EXIT_OK;
        default: return cli_usage_error("eval", "unknown option");
        }
        if (key && (st = qp_preprocess_set(&cfg.preprocess, key, optarg)) != QP_OK)
            return cli_usage_error("eval", "%s", qp_error_message());
    }
    if (optind != argc - 1) return cli_usage_error("eval", "expected exactly one MODEL argument");
    if (!cfg.images) return cli_usage_error("eval", "--images is required");
    if ((st = qp_preprocess_validate(&cfg.preprocess)) != QP_OK) return cli_usage_error("eval", "%s", qp_error_message());
    cfg.threads = n_threads;
    const char *model_path = argv[optind];

    qp_graph *g;
    cli_model model;
    int load_rc = cli_model_load("eval", model_path, encodings_path, &model);
    if (load_rc != QP_EXIT_OK) return load_rc;
    g = model.graph;
    const qp_encodings *enc = model.encodings;
    const qp_qdq_import_stats qstats = model.qdq;
    if (!mode_given) mode = enc ? QP_MODE_INT8 : QP_MODE_FP32;
    if (mode != QP_MODE_FP32 && !enc) {
        cli_model_free(&model);
        return cli_usage_error("eval", "--mode %s needs a quantized model (QuantizeLinear/DequantizeLinear or QLinear* "
                               "nodes); %s has none (export one with a pipeline's export_qdq pass)", cli_mode_name(mode),
                               model_path);
    }
    if (dump_dir && mkdir(dump_dir, 0777) != 0 && errno != EEXIST) {
        cli_model_free(&model);
        fprintf(stderr, "qpipe eval: error: cannot create %s: %s\n", dump_dir, strerror(errno));
        return QP_EXIT_BAD_INPUT;
    }
    qp_dataset *ds = NULL;
    if ((st = qp_dataset_open(&cfg, &ds)) != QP_OK) {
        cli_model_free(&model);
        return cli_fail("eval", st);
    }
    FILE *labels_out = NULL;
    int64_t n_batches = 0;
    int rc = QP_EXIT_OK;
    qp_plan *plan = NULL;
    qp_dataset_iter *it = NULL;
    int ch, h, w;
    qp_dataset_sample_shape(ds, &ch, &h, &w);
    if (g->n_inputs != 1) {
        rc = cli_usage_error("eval", "eval needs a model with one input; %s has %d", model_path, g->n_inputs);
        goto done;
    }
    qp_input_shape fixed = {g->tensors[g->inputs[0]]->name, {.rank = 4, .dims = {batch, ch, h, w}}};
    if (qp_dataset_preprocess(ds)->layout == QP_LAYOUT_NHWC)
        fixed.shape = (qp_shape){.rank = 4, .dims = {batch, h, w, ch}};
    qp_plan_options popts = {.mode = mode, .batch = batch, .n_threads = n_threads,
                             .input_shapes = &fixed, .n_input_shapes = 1, .encodings = enc};
    if ((st = qp_plan_create(g, &popts, &plan)) != QP_OK || (st = qp_dataset_iter_new(ds, batch, &it)) != QP_OK) {
        rc = cli_fail("eval", st);
        goto done;
    }
    if (dump_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/labels.txt", dump_dir);
        if (!(labels_out = fopen(path, "w"))) {
            fprintf(stderr, "qpipe eval: error: cannot write %s: %s\n", path, strerror(errno));
            rc = QP_EXIT_BAD_INPUT;
            goto done;
        }
    }
    const qp_value *out = qp_plan_output(plan, 0);
    int64_t classes = qp_shape_numel(&out->shape) / batch;
    qp_value *in = qp_plan_input(plan, 0);
    size_t sample_bytes = in->nbytes / (size_t)batch;
    int64_t images = 0, labelled = 0, top1 = 0, top5 = 0;
    double t0 = now_s();
    for (;;) {
        qp_batch b;
        if ((st = qp_dataset_iter_next(it, &b)) != QP_OK) {
            rc = cli_fail("eval", st);
            goto done;
        }
        if (b.n == 0) break;
        /* A short last batch runs padded with zeros: samples are independent in inference. */
        memcpy(in->data, b.data, (size_t)b.n * sample_bytes);
        memset((char *)in->data + (size_t)b.n * sample_bytes, 0, (size_t)(batch - b.n) * sample_bytes);
        if ((st = qp_plan_run(plan)) != QP_OK) {
            rc = cli_fail("eval", st);
            goto done;
        }
        if (dump_dir) {
            if ((st = dump_batch(dump_dir, (int)n_batches, in, out, b.n, batch)) != QP_OK) {
                rc = cli_fail("eval", st);
                goto done;
            }
            for (int i = 0; i < b.n; i++)
                fprintf(labels_out, "%s %d\n", qp_dataset_name(ds, b.indices[i]), b.labels[i]);
        }
        n_batches++;
        for (int i = 0; i < b.n; i++) {
            images++;
            int label = b.labels[i];
            if (label < 0) continue;
            if (label >= classes) {
                fprintf(stderr, "qpipe eval: error: %s has label %d but the model outputs %" PRId64 " classes\n",
                        qp_dataset_name(ds, b.indices[i]), label, classes);
                rc = QP_EXIT_BAD_INPUT;
                goto done;
            }
            int64_t rank = label_rank((const float *)out->data + (int64_t)i * classes, classes, label);
            labelled++;
            top1 += rank < 1;
            top5 += rank < 5;
        }
    }
    double seconds = now_s() - t0;
    int64_t skipped = qp_dataset_iter_skipped(it);
    for (int64_t k = 0; k < skipped; k++)
        fprintf(stderr, "qpipe eval: skipped %s: %s\n", qp_dataset_iter_skipped_name(it, k),
                qp_dataset_iter_skipped_reason(it, k));
    double acc1 = labelled ? (double)top1 / (double)labelled : 0, acc5 = labelled ? (double)top5 / (double)labelled : 0;
    printf("model:    %s\n", model_path);
    if (encodings_path)
        printf("encodings: %s\n", encodings_path);
    else if (enc)
        printf("quantized: %d activation encodings, %d weights, %d biases, %d QLinear ops converted, %d Q/DQ kept as "
               "fp32 ops\n", qstats.activations, qstats.weights, qstats.biases, qstats.converted, qstats.kept);
    if (mode == QP_MODE_INT8) {
        char fallbacks[1024];
        if (qp_plan_fp32_fallback_summary(plan, fallbacks, sizeof fallbacks)) {
            printf("in fp32:  %s\n", fallbacks);
            for (int i = 0; i < qp_plan_num_fp32_fallbacks(plan) && i < 5; i++) {
                int id = qp_plan_fp32_fallback_node(plan, i);
                const qp_node *fn = &g->nodes[id];
                if (fn->name[0]) printf("          '%s' (%s): %s\n", fn->name, fn->op_type, qp_plan_fp32_fallback_reason(plan, i));
                else printf("          node #%d (%s): %s\n", id, fn->op_type, qp_plan_fp32_fallback_reason(plan, i));
            }
        }
    }
    printf("images:   %" PRId64 " evaluated, %" PRId64 " labelled, %" PRId64 " skipped (unreadable)\n", images,
           labelled, skipped);
    if (labelled) {
        printf("%s top-1: %.2f%% (%" PRId64 "/%" PRId64 ")\n", cli_mode_name(mode), 100 * acc1, top1, labelled);
        printf("%s top-5: %.2f%% (%" PRId64 "/%" PRId64 ")\n", cli_mode_name(mode), 100 * acc5, top5, labelled);
    } else {
        printf("no labels: accuracy not computed\n");
    }
    printf("time:     %.2f s (%.1f images/s, batch %d)\n", seconds, seconds > 0 ? (double)images / seconds : 0, batch);
    if (json_path && write_json(json_path, model_path, cli_mode_name(mode), images, labelled, skipped, acc1, acc5, seconds) != 0) {
        fprintf(stderr, "qpipe eval: error: cannot write %s\n", json_path);
        rc = QP_EXIT_BAD_INPUT;
    }
    if (images == 0) {
        fprintf(stderr, "qpipe eval: error: no readable images in %s\n", cfg.images);
        rc = QP_EXIT_BAD_INPUT;
    }
done:
    if (labels_out && fclose(labels_out) != 0 && rc == QP_EXIT_OK) {
        fprintf(stderr, "qpipe eval: error: cannot write %s/labels.txt\n", dump_dir);
        rc = QP_EXIT_BAD_INPUT;
    }
    qp_dataset_iter_free(it);
    qp_plan_free(plan);
    qp_dataset_close(ds);
    cli_model_free(&model);
    return rc;
}
