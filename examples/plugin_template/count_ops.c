/* count_ops.c — template plugin: one pass, `count_ops`, that logs the model's op histogram. Copy this
 * folder to start a plugin; docs/plugins.md is the guide. */
#include <stdlib.h>
#include <string.h>

#include "qpipe/qp_plugin.h"

typedef struct op_count {
    const char *op; /* owned by the model: valid during the pass */
    int count;
} op_count;

static int by_count(const void *a, const void *b) {
    const op_count *x = a, *y = b;
    if (x->count != y->count) return y->count - x->count;
    return strcmp(x->op, y->op);
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const op_count *)a)->op, ((const op_count *)b)->op);
}

/* The host validated the parameters against the table below before calling: `top` is in [0, 1000]
 * and `order` is "count" or "name". */
static qp_status count_ops_run(qp_session *session, const qp_params *params, void *user) {
    (void)user;
    const qp_model *model = qp_session_model(session);
    int64_t top = qp_params_int(params, "top");
    int by_name_order = strcmp(qp_params_string(params, "order"), "name") == 0;
    int n_nodes = qp_model_num_nodes(model);
    op_count *hist = calloc((size_t)(n_nodes > 0 ? n_nodes : 1), sizeof *hist);
    if (!hist) return qp_error(QP_ERR_NOMEM, "count_ops: out of memory for %d nodes", n_nodes);
    int n = 0;
    for (int node = 0; node < n_nodes; node++) {
        const char *op = qp_model_node_op(model, node);
        int k = 0;
        while (k < n && strcmp(hist[k].op, op) != 0) k++;
        if (k == n) hist[n++] = (op_count){op, 0};
        hist[k].count++;
    }
    qsort(hist, (size_t)n, sizeof *hist, by_name_order ? by_name : by_count);
    qp_log(session, QP_LOG_INFO, "%d nodes, %d op types", n_nodes, n);
    for (int k = 0; k < n && (top == 0 || k < top); k++)
        qp_log(session, QP_LOG_INFO, "  %-24s %d", hist[k].op, hist[k].count);
    free(hist);
    return QP_OK;
}

static const qp_param_def count_ops_params[] = {
    {.name = "top", .type = QP_PARAM_INT, .default_value = "0", .help = "show only the N most frequent ops (0 = all)",
     .min = 0, .max = 1000},
    {.name = "order", .type = QP_PARAM_ENUM, .default_value = "count", .help = "sort by count or by op name",
     .min = 1, .max = 0, .choices = "count|name"},
};

static const qp_pass_def passes[] = {
    {.name = "count_ops",
     .version = "1.0.0",
     .summary = "log the model's op histogram (template plugin)",
     .params = count_ops_params,
     .n_params = sizeof count_ops_params / sizeof count_ops_params[0],
     .run = count_ops_run},
};

static const qp_plugin_desc plugin = {
    .abi_major = QP_ABI_VERSION_MAJOR, /* what this file was compiled against: the host checks it */
    .abi_minor = QP_ABI_VERSION_MINOR,
    .name = "plugin_template",
    .version = "1.0.0",
    .summary = "template for third-party qpipe plugins",
    .passes = passes,
    .n_passes = sizeof passes / sizeof passes[0],
};

QP_PLUGIN_DEFINE(plugin)
