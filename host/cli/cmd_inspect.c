/* cmd_inspect.c — `qpipe inspect MODEL`: inputs, outputs, op histogram, parameters, MACs per layer. */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "onnx/onnx_import.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: qpipe inspect MODEL.onnx [--shape NAME=1x3x224x224]... [--batch N] [--layers]\n\n"
            "Prints the model's inputs and outputs with shapes, the op histogram, the parameter count\n"
            "and the multiply-accumulates (total, and per layer with --layers).\n\n"
            "  --shape NAME=DIMS  fix a graph input's shape (for symbolic dims other than batch)\n"
            "  --batch N          batch size used for shapes and MACs (default 1)\n"
            "  --layers           list MACs and output shape for every Conv/Gemm/MatMul node\n"
            "  -h, --help         this text\n\n"
            "Exit codes: 0 success, 1 bad input, 2 usage error.\n");
}

static void print_tensor_line(const qp_tensor *t, const qp_value *planned) {
    char shape[256];
    size_t used = (size_t)snprintf(shape, sizeof shape, "[");
    for (int d = 0; d < t->shape.rank && used < sizeof shape; d++) {
        if (t->dim_param[d])
            used += (size_t)snprintf(shape + used, sizeof shape - used, "%s%s", d ? "," : "", t->dim_param[d]);
        else if (t->shape.dims[d] < 0)
            used += (size_t)snprintf(shape + used, sizeof shape - used, "%s?", d ? "," : "");
        else
            used += (size_t)snprintf(shape + used, sizeof shape - used, "%s%" PRId64, d ? "," : "", t->shape.dims[d]);
    }
    if (used < sizeof shape) snprintf(shape + used, sizeof shape - used, "%s", t->shape.rank < 0 ? "?]" : "]");
    char resolved[256] = "";
    if (planned && planned->shape.rank >= 0) qp_shape_str(&planned->shape, resolved, sizeof resolved);
    printf("  %-32s %-8s %-24s%s%s\n", t->name, qp_dtype_name(t->dtype), shape,
           resolved[0] ? " -> " : "", resolved);
}

typedef struct op_count {
    const char *op_type;
    int count;
} op_count;

static int by_count_desc(const void *a, const void *b) {
    const op_count *x = a, *y = b;
    if (x->count != y->count) return y->count - x->count;
    return strcmp(x->op_type, y->op_type);
}

int cmd_inspect(int argc, char **argv) {
    static const struct option options[] = {
        {"shape", required_argument, 0, 's'}, {"batch", required_argument, 0, 'b'},
        {"layers", no_argument, 0, 'l'},      {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    cli_shapes shapes = {0};
    int batch = 1, layers = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 's': if (cli_add_shape("inspect", &shapes, optarg)) return QP_EXIT_USAGE; break;
        case 'b':
            if (cli_parse_int(optarg, 1, &batch)) return cli_usage_error("inspect", "--batch wants a positive integer");
            break;
        case 'l': layers = 1; break;
        case 'h': usage(stdout); return QP_EXIT_OK;
        default: return cli_usage_error("inspect", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage_error("inspect", "expected exactly one MODEL argument");
    const char *path = argv[optind];
    qp_graph *g = NULL;
    qp_status st = qp_onnx_load(path, &g);
    if (st != QP_OK) return cli_fail("inspect", st);

    /* Shapes and MACs need a plan; a model with unsupported ops is still described. */
    qp_plan *plan = NULL;
    qp_plan_options popts = {.mode = QP_MODE_FP32, .batch = batch, .n_threads = 1,
                             .input_shapes = shapes.items, .n_input_shapes = shapes.n};
    qp_status plan_status = qp_plan_create(g, &popts, &plan);
    char plan_error[1024];
    snprintf(plan_error, sizeof plan_error, "%s", qp_error_message());

    printf("model: %s\n", path);
    printf("producer: %s, ir_version %" PRId64 ", opsets:", g->producer_name ? g->producer_name : "?", g->ir_version);
    for (int i = 0; i < g->n_opsets; i++)
        printf(" %s%s%" PRId64, g->opsets[i].domain[0] ? g->opsets[i].domain : "ai.onnx", "=", g->opsets[i].version);
    printf("\ninputs (%d):\n", g->n_inputs);
    for (int i = 0; i < g->n_inputs; i++)
        print_tensor_line(g->tensors[g->inputs[i]], plan ? qp_plan_tensor(plan, g->inputs[i]) : NULL);
    printf("outputs (%d):\n", g->n_outputs);
    for (int i = 0; i < g->n_outputs; i++)
        print_tensor_line(g->tensors[g->outputs[i]], plan ? qp_plan_tensor(plan, g->outputs[i]) : NULL);

    op_count *hist = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *hist);
    int n_hist = 0;
    for (int id = 0; id < g->n_nodes && hist; id++) {
        int k = 0;
        while (k < n_hist && strcmp(hist[k].op_type, g->nodes[id].op_type) != 0) k++;
        if (k == n_hist) hist[n_hist++] = (op_count){g->nodes[id].op_type, 0};
        hist[k].count++;
    }
    if (hist) qsort(hist, (size_t)n_hist, sizeof *hist, by_count_desc);
    printf("nodes: %d\nop histogram:\n", g->n_nodes);
    for (int k = 0; k < n_hist; k++) printf("  %-24s %d\n", hist[k].op_type, hist[k].count);
    free(hist);

    /* Parameters: elements of float initializers plus Constant-node tensors (weights of models
     * such as ppocr live in Constant nodes). */
    int64_t params = 0;
    for (int t = 0; t < g->n_tensors; t++)
        if (g->tensors[t]->is_initializer && g->tensors[t]->data)
            params += qp_shape_numel(&g->tensors[t]->shape);
    for (int id = 0; id < g->n_nodes; id++) {
        const qp_attr *value = strcmp(g->nodes[id].op_type, "Constant") == 0 ? qp_node_attr(&g->nodes[id], "value") : NULL;
        if (value && value->t) params += qp_shape_numel(&value->t->shape);
    }
    printf("parameters: %" PRId64 "\n", params);

    if (!plan) {
        printf("MACs: unavailable (%s: %s)\n", qp_status_name(plan_status), plan_error);
        qp_graph_free(g);
        return QP_EXIT_OK;
    }
    int64_t total = 0;
    for (int id = 0; id < g->n_nodes; id++) total += qp_node_macs(g, plan, id);
    printf("MACs (batch %d): %" PRId64 " (%.3f G)\n", batch, total, (double)total / 1e9);
    printf("activation arena: %.2f MiB\n", (double)qp_plan_arena_bytes(plan) / (1024.0 * 1024.0));
    if (layers) {
        printf("per layer:\n  %-40s %-14s %-22s %14s %7s\n", "node", "op", "output", "MACs", "share");
        for (int id = 0; id < g->n_nodes; id++) {
            int64_t macs = qp_node_macs(g, plan, id);
            if (!macs) continue;
            const qp_node *n = &g->nodes[id];
            char shape[128] = "?";
            const qp_value *out = qp_plan_tensor(plan, n->outputs[0]);
            if (out) qp_shape_str(&out->shape, shape, sizeof shape);
            printf("  %-40s %-14s %-22s %14" PRId64 " %6.2f%%\n", n->name[0] ? n->name : "(unnamed)",
                   n->op_type, shape, macs, 100.0 * (double)macs / (double)total);
        }
    }
    qp_plan_free(plan);
    qp_graph_free(g);
    return QP_EXIT_OK;
}
