/* cmd_infer.c — `qpipe infer MODEL --input [NAME=]FILE.npy ... --out DIR`: run once, write outputs as .npy. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "data/npy.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: qpipe infer MODEL.onnx --input [NAME=]FILE.npy [--input ...] --out DIR [--mode MODE]\n"
            "                   [--encodings FILE.json] [--threads N]\n\n"
            "Runs the model on the given NumPy arrays (their shapes fix the input shapes) and\n"
            "writes each output to DIR/<output name>.npy. Float outputs are written as float32, others in\n"
            "their own dtype. In file names, characters other than letters, digits, '.', '_' and '-'\n"
            "become '_'. Inputs without NAME= are matched to graph inputs in model order.\n\n"
            "  --input [NAME=]FILE  an input array (repeat for several inputs)\n"
            "  --out DIR            output folder (created if missing)\n"
            "  --mode MODE          fp32 | quantsim | int8 (default: int8 for quantized models, QDQ or\n"
            "                       QLinear* ops, else fp32); int8 outputs are written dequantized\n"
            "  --encodings FILE     AIMET encodings (0.6.1 or 1.0.0) for the float MODEL: it then runs in\n"
            "                       int8 by default\n"
            "  --threads N          threads (default: all cores)\n"
            "  -h, --help           this text\n\n"
            "Exit codes: 0 success, 1 bad input, 2 usage error.\n");
}

/* Output file name: the tensor name with every character outside [A-Za-z0-9._-] replaced. */
static void safe_file_name(const char *tensor, char *buf, size_t cap) {
    size_t i = 0;
    for (; tensor[i] && i + 1 < cap; i++) {
        char ch = tensor[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == '-';
        buf[i] = ok ? ch : '_';
    }
    buf[i] = '\0';
}

typedef struct input_arg {
    const char *name; /* NULL: positional */
    const char *file;
    qp_npy array;
} input_arg;

int cmd_infer(int argc, char **argv) {
    static const struct option options[] = {
        {"input", required_argument, 0, 'i'}, {"out", required_argument, 0, 'o'},
        {"threads", required_argument, 0, 't'}, {"mode", required_argument, 0, 'M'},
        {"encodings", required_argument, 0, 'e'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    input_arg inputs[32];
    int n_inputs = 0, n_threads = 0, c;
    const char *out_dir = NULL;
    const char *encodings_path = NULL;
    qp_engine_mode mode = QP_MODE_FP32;
    int mode_given = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (n_inputs == 32) return cli_usage_error("infer", "too many --input flags");
            inputs[n_inputs++] = (input_arg){.name = NULL, .file = optarg};
            break;
        case 'o': out_dir = optarg; break;
        case 't':
            if (cli_parse_int(optarg, 1, &n_threads)) return cli_usage_error("infer", "--threads wants a positive integer");
            break;
        case 'M':
            if (cli_parse_mode(optarg, &mode))
                return cli_usage_error("infer", "--mode wants fp32, quantsim or int8, got '%s'", optarg);
            mode_given = 1;
            break;
        case 'e': encodings_path = optarg; break;
        case 'h': usage(stdout); return QP_EXIT_OK;
        default: return cli_usage_error("infer", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("infer", "expected exactly one MODEL argument");
    if (!out_dir) return cli_usage_error("infer", "--out DIR is required");
    if (n_inputs == 0) return cli_usage_error("infer", "at least one --input is required");

    cli_model model;
    int load_rc = cli_model_load("infer", argv[optind], encodings_path, &model);
    if (load_rc != QP_EXIT_OK) return load_rc;
    qp_graph *g = model.graph;
    const qp_encodings *enc = model.encodings;
    qp_status st;
    if (!mode_given) mode = enc ? QP_MODE_INT8 : QP_MODE_FP32;
    if (mode != QP_MODE_FP32 && !enc) {
        cli_model_free(&model);
        return cli_usage_error("infer", "--mode %s needs a quantized model (QuantizeLinear/DequantizeLinear or QLinear* "
                               "nodes); %s has none", cli_mode_name(mode), argv[optind]);
    }
    int rc = QP_EXIT_OK;
    qp_input_shape shapes[32];
    int slot_of[32];
    /* Resolve NAME=FILE (only when NAME is a graph input, so paths with '=' still work). */
    for (int k = 0; k < n_inputs; k++) {
        const char *eq = strchr(inputs[k].file, '=');
        slot_of[k] = -1;
        if (eq) {
            for (int i = 0; i < g->n_inputs; i++) {
                const char *name = g->tensors[g->inputs[i]]->name;
                if (strlen(name) == (size_t)(eq - inputs[k].file) && strncmp(name, inputs[k].file, strlen(name)) == 0) {
                    slot_of[k] = i;
                    inputs[k].file = eq + 1;
                }
            }
        }
        if (slot_of[k] < 0) slot_of[k] = k;
        if (slot_of[k] >= g->n_inputs) {
            rc = cli_usage_error("infer", "%d inputs given but the model has %d", n_inputs, g->n_inputs);
            goto done;
        }
        for (int j = 0; j < k; j++)
            if (slot_of[j] == slot_of[k]) {
                rc = cli_usage_error("infer", "input '%s' given twice", g->tensors[g->inputs[slot_of[k]]]->name);
                goto done;
            }
    }
    for (int k = 0; k < n_inputs; k++) {
        const qp_tensor *t = g->tensors[g->inputs[slot_of[k]]];
        if (t->dtype == QP_DT_FLOAT) {
            float *data = NULL;
            qp_shape shape;
            st = qp_npy_read_f32(inputs[k].file, &data, &shape);
            inputs[k].array = (qp_npy){QP_DT_FLOAT, shape, data, st == QP_OK ? (size_t)qp_shape_numel(&shape) * 4 : 0};
        } else {
            st = qp_npy_read(inputs[k].file, &inputs[k].array);
            if (st == QP_OK && inputs[k].array.dtype != t->dtype)
                st = qp_error(QP_ERR_INVALID_ARG, "%s: dtype %s does not match input '%s' (%s)", inputs[k].file,
                              qp_dtype_name(inputs[k].array.dtype), t->name, qp_dtype_name(t->dtype));
        }
        if (st != QP_OK) {
            rc = cli_fail("infer", st);
            goto done;
        }
        shapes[k] = (qp_input_shape){t->name, inputs[k].array.shape};
    }
    if (n_inputs < g->n_inputs) {
        rc = cli_usage_error("infer", "the model has %d inputs; %d given (first missing: '%s')", g->n_inputs,
                             n_inputs, g->tensors[g->inputs[n_inputs]]->name);
        goto done;
    }
    qp_plan_options popts = {.mode = mode, .n_threads = n_threads, .input_shapes = shapes,
                             .n_input_shapes = n_inputs, .encodings = enc};
    qp_plan *plan = NULL;
    if ((st = qp_plan_create(g, &popts, &plan)) != QP_OK) {
        rc = cli_fail("infer", st);
        goto done;
    }
    for (int k = 0; k < n_inputs; k++) {
        qp_value *v = qp_plan_input(plan, slot_of[k]);
        memcpy(v->data, inputs[k].array.data, v->nbytes);
    }
    if ((st = qp_plan_run(plan)) != QP_OK) {
        rc = cli_fail("infer", st);
    } else if (mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "qpipe infer: error: cannot create %s: %s\n", out_dir, strerror(errno));
        rc = QP_EXIT_BAD_INPUT;
    } else {
        for (int i = 0; i < qp_plan_num_outputs(plan) && rc == QP_EXIT_OK; i++) {
            char file[1024], path[4096];
            safe_file_name(qp_plan_output_name(plan, i), file, sizeof file);
            snprintf(path, sizeof path, "%s/%s.npy", out_dir, file);
            const qp_value *v = qp_plan_output(plan, i);
            if ((st = qp_npy_write(path, v->dtype, &v->shape, v->data)) != QP_OK) rc = cli_fail("infer", st);
            else printf("%s -> %s\n", qp_plan_output_name(plan, i), path);
        }
    }
    qp_plan_free(plan);
done:
    for (int k = 0; k < n_inputs; k++) free(inputs[k].array.data);
    cli_model_free(&model);
    return rc;
}
