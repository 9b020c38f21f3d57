/* session.c — session life cycle, configuration, tensor roles, encodings and the engine plans of a pipeline run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_import.h"
#include "passes/graph_edit.h"
#include "session/session_impl.h"

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void qp_quant_config_init(qp_quant_config *c) {
    c->weights = (qp_quant_spec){.bits = 8, .symmetric = 1, .per_channel = 1};
    c->activations = (qp_quant_spec){.bits = 8, .symmetric = 0, .per_channel = 0};
}

qp_status qp_session_new(qp_session **out) {
    *out = NULL;
    qp_session *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "out of memory creating a session");
    s->model.session = s;
    qp_quant_config_init(&s->quant);
    s->batch = 8;
    s->verbosity = QP_LOG_INFO;
    s->progress = -1;
    *out = s;
    return QP_OK;
}

static void free_bias(qp_session *s) {
    if (!s->bias) return;
    for (int t = 0; t < s->n_tensors; t++) {
        free(s->bias[t].scale);
        free(s->bias[t].zero_point);
        free(s->bias[t].min);
        free(s->bias[t].max);
    }
    free(s->bias);
    s->bias = NULL;
}

static void free_derived(qp_session *s) {
    free(s->is_const);
    free(s->node_skip);
    free(s->node_bits);
    free(s->roles);
    free(s->source);
    free(s->weight_axis);
    free(s->weight_node);
    free_bias(s);
    s->is_const = s->node_skip = NULL;
    s->node_bits = s->source = s->weight_axis = s->weight_node = NULL;
    s->roles = NULL;
    s->derived_valid = 0;
}

static void drop_plan(qp_session *s) {
    qp_plan_free(s->fp32_plan);
    s->fp32_plan = NULL;
}

static void data_clear(session_data *d) {
    qp_dataset_close(d->ds);
    free(d->images);
    free(d->labels);
    free(d->list);
    memset(d, 0, sizeof *d);
}

static void free_layer(session_layer *l) {
    free(l->name);
    for (int u = 0; u < l->n_until; u++) free(l->until[u]);
    free(l->until);
}

static void layers_clear(qp_session *s) {
    for (int i = 0; i < s->n_layers; i++) free_layer(&s->layers[i]);
    free(s->layers);
    s->layers = NULL;
    s->n_layers = 0;
}

void qp_session_free(qp_session *s) {
    if (!s) return;
    qp_session_progress_clear(s);
    drop_plan(s);
    free_derived(s);
    layers_clear(s);
    data_clear(&s->calib);
    data_clear(&s->eval);
    qp_encodings_free(s->encodings);
    qp_graph_free(s->graph);
    free(s->model_path);
    free(s->current_pass);
    free(s->input_name);
    free(s);
}

qp_status qp_session_load_model(qp_session *s, const char *path) {
    qp_graph *g = NULL;
    qp_status st = qp_onnx_load(path, &g);
    if (st != QP_OK) return st;
    char *copy = dup_str(path);
    if (!copy) {
        qp_graph_free(g);
        return qp_error(QP_ERR_NOMEM, "out of memory");
    }
    if ((st = qp_session_set_graph(s, g)) != QP_OK) {
        free(copy);
        return st;
    }
    free(s->model_path);
    s->model_path = copy;
    return QP_OK;
}

qp_status qp_session_set_graph(qp_session *s, qp_graph *g) {
    if (qp_graph_constants_to_initializers(g) < 0 || qp_graph_fold_constants(g) < 0) {
        qp_graph_free(g);
        return qp_error_prefix(QP_ERR_INVALID_MODEL, "folding constants: ");
    }
    qp_encodings *enc = qp_encodings_new(g->n_tensors);
    if (!enc) {
        qp_graph_free(g);
        return qp_error(QP_ERR_NOMEM, "out of memory creating encodings");
    }
    drop_plan(s);
    free_derived(s);
    layers_clear(s);
    qp_encodings_free(s->encodings);
    qp_graph_free(s->graph);
    s->graph = g;
    s->encodings = enc;
    s->plan_batch = 0;
    return QP_OK;
}

qp_graph *qp_session_graph(qp_session *s) { return s->graph; }
const char *qp_session_model_path(const qp_session *s) { return s->model_path ? s->model_path : ""; }
qp_model *qp_session_model(qp_session *s) { return &s->model; }

qp_status qp_session_set_quant_config(qp_session *s, const qp_quant_config *c) {
    if (c->weights.bits < 2 || c->weights.bits > 16 || c->activations.bits < 2 || c->activations.bits > 16)
        return qp_error(QP_ERR_INVALID_ARG, "bit-widths must be 2..16 (weights %d, activations %d)", c->weights.bits,
                        c->activations.bits);
    s->quant = *c;
    s->quant.activations.per_channel = 0;
    return QP_OK;
}

const qp_quant_config *qp_session_quant_config(const qp_session *s) { return &s->quant; }

static int find_node(const qp_graph *g, const char *name) {
    for (int id = 0; id < g->n_nodes; id++)
        if (strcmp(g->nodes[id].name, name) == 0) return id;
    return -1;
}

/* "(node names look like 'a', 'b', 'c', ...)": helps when a user guessed the naming scheme. */
static const char *name_examples(const qp_graph *g, char *buf, size_t cap) {
    size_t used = (size_t)snprintf(buf, cap, "node names look like ");
    int shown = 0;
    for (int id = 0; id < g->n_nodes && shown < 3 && used < cap; id++) {
        if (!g->nodes[id].name[0]) continue;
        used += (size_t)snprintf(buf + used, cap - used, "%s'%s'", shown ? ", " : "", g->nodes[id].name);
        shown++;
    }
    if (!shown) snprintf(buf, cap, "the model's nodes have no names");
    return buf;
}

/* Marks the nodes of one layers: entry's region (see qp_layer_override): start alone, or with
 * follow, everything downstream of start that is reachable without entering an until node. */
static void layer_region(const qp_graph *g, int start, char *const *until, int n_until, int follow,
                         unsigned char *in_region, int *queue) {
    memset(in_region, 0, (size_t)(g->n_nodes ? g->n_nodes : 1));
    if (start < 0) return;
    in_region[start] = 1;
    if (!follow) return;
    int head = 0, tail = 0;
    queue[tail++] = start;
    while (head < tail) {
        const qp_node *n = &g->nodes[queue[head++]];
        for (int k = 0; k < n->n_outputs; k++) {
            if (n->outputs[k] < 0) continue;
            const qp_tensor *t = g->tensors[n->outputs[k]];
            for (int c = 0; c < t->n_consumers; c++) {
                int id = t->consumers[c];
                if (in_region[id]) continue;
                int stop = 0;
                for (int u = 0; u < n_until && !stop; u++) stop = strcmp(g->nodes[id].name, until[u]) == 0;
                if (stop) continue;
                in_region[id] = 1;
                queue[tail++] = id;
            }
        }
    }
}

qp_status qp_session_add_layer_override(qp_session *s, const qp_layer_override *l) {
    if (!s->graph) return qp_error(QP_ERR_INVALID_ARG, "layers: no model loaded");
    const qp_graph *g = s->graph;
    char examples[512];
    int start = l->name ? find_node(g, l->name) : -1;
    if (start < 0)
        return qp_error(QP_ERR_INVALID_ARG, "no node named '%s' in the model (%s)", l->name ? l->name : "",
                        name_examples(g, examples, sizeof examples));
    if (l->bits != 0 && (l->bits < 2 || l->bits > 16))
        return qp_error(QP_ERR_INVALID_ARG, "bits %d out of range 2..16", l->bits);
    for (int u = 0; u < l->n_until; u++)
        if (find_node(g, l->until[u]) < 0)
            return qp_error(QP_ERR_INVALID_ARG, "until: no node named '%s' in the model (%s)", l->until[u],
                            name_examples(g, examples, sizeof examples));
    session_layer copy = {.name = dup_str(l->name), .skip = l->skip, .bits = l->bits};
    qp_status st = copy.name ? QP_OK : qp_error(QP_ERR_NOMEM, "out of memory");
    if (st == QP_OK && l->n_until > 0) {
        copy.until = calloc((size_t)l->n_until, sizeof *copy.until);
        if (!copy.until) st = qp_error(QP_ERR_NOMEM, "out of memory");
        for (int u = 0; st == QP_OK && u < l->n_until; u++) {
            copy.until[u] = dup_str(l->until[u]);
            copy.n_until = u + 1;
            if (!copy.until[u]) st = qp_error(QP_ERR_NOMEM, "out of memory");
        }
    }
    /* An until node the region never reaches is almost certainly a typo in the pipeline. */
    if (st == QP_OK && copy.n_until > 0) {
        unsigned char *in_region = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), 1);
        int *queue = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *queue);
        if (!in_region || !queue) st = qp_error(QP_ERR_NOMEM, "out of memory");
        if (st == QP_OK) {
            layer_region(g, start, NULL, 0, 1, in_region, queue);
            for (int u = 0; u < copy.n_until && st == QP_OK; u++) {
                int id = find_node(g, copy.until[u]);
                if (!in_region[id] || id == start)
                    st = qp_error(QP_ERR_INVALID_ARG, "until: node '%s' is not downstream of '%s'", copy.until[u],
                                  copy.name);
            }
        }
        free(in_region);
        free(queue);
    }
    session_layer *grown = st == QP_OK ? realloc(s->layers, (size_t)(s->n_layers + 1) * sizeof *grown) : NULL;
    if (st == QP_OK && !grown) st = qp_error(QP_ERR_NOMEM, "out of memory");
    if (st != QP_OK) {
        free_layer(&copy);
        return st;
    }
    s->layers = grown;
    s->layers[s->n_layers++] = copy;
    s->derived_valid = 0;
    return QP_OK;
}

static qp_status data_set(qp_session *s, session_data *d, const qp_dataset_config *cfg) {
    data_clear(d);
    drop_plan(s);
    s->plan_batch = 0;
    s->derived_valid = 0;
    if (!cfg) return QP_OK;
    d->cfg = *cfg;
    d->images = dup_str(cfg->images);
    d->labels = dup_str(cfg->labels);
    d->list = dup_str(cfg->list);
    if ((cfg->images && !d->images) || (cfg->labels && !d->labels) || (cfg->list && !d->list)) {
        data_clear(d);
        return qp_error(QP_ERR_NOMEM, "out of memory");
    }
    d->cfg.images = d->images;
    d->cfg.labels = d->labels;
    d->cfg.list = d->list;
    if (d->cfg.threads == 0) d->cfg.threads = s->threads;
    qp_status st = qp_dataset_open(&d->cfg, &d->ds);
    if (st != QP_OK) {
        data_clear(d);
        return st;
    }
    d->present = 1;
    return QP_OK;
}

qp_status qp_session_set_calibration(qp_session *s, const qp_dataset_config *cfg) { return data_set(s, &s->calib, cfg); }
qp_status qp_session_set_evaluation(qp_session *s, const qp_dataset_config *cfg) { return data_set(s, &s->eval, cfg); }
qp_dataset *qp_session_evaluation_dataset(qp_session *s) { return s->eval.present ? s->eval.ds : NULL; }

void qp_session_set_run_options(qp_session *s, int batch, int threads) {
    s->batch = batch > 0 ? batch : 1;
    s->threads = threads > 0 ? threads : 0;
    drop_plan(s);
    s->plan_batch = 0;
}

int qp_session_batch(const qp_session *s) { return s->plan_batch > 0 ? s->plan_batch : s->batch; }
int qp_session_threads(const qp_session *s) { return s->threads; }

int64_t qp_session_calibration_size(const qp_session *s) {
    return s->calib.present ? qp_dataset_size(s->calib.ds) : 0;
}

/* ---- the fp32 plan ------------------------------------------------------------------------------ */

/* The input shape the data sets imply, and the effective batch: a model whose batch dimension is
 * fixed keeps it (its Reshapes often bake it in). */
static qp_status resolve_input(qp_session *s) {
    const qp_graph *g = s->graph;
    s->has_input_shape = 0;
    s->plan_batch = s->batch;
    const qp_dataset *ds = s->calib.present ? s->calib.ds : s->eval.present ? s->eval.ds : NULL;
    if (g->n_inputs >= 1) {
        const qp_tensor *in = g->tensors[g->inputs[0]];
        if (in->shape.rank >= 1 && in->shape.dims[0] > 0) s->plan_batch = (int)in->shape.dims[0];
    }
    if (!ds) return QP_OK;
    if (g->n_inputs != 1)
        return qp_error(QP_ERR_UNSUPPORTED, "data sets feed one image input, but the model has %d inputs",
                        g->n_inputs);
    const qp_tensor *in = g->tensors[g->inputs[0]];
    int c, h, w;
    qp_dataset_sample_shape(ds, &c, &h, &w);
    int nhwc = qp_dataset_preprocess(ds)->layout == QP_LAYOUT_NHWC;
    qp_shape want = {.rank = 4, .dims = {s->plan_batch, nhwc ? h : c, nhwc ? w : h, nhwc ? c : w}};
    if (s->calib.present && s->eval.present) {
        int c2, h2, w2;
        qp_dataset_sample_shape(s->eval.ds, &c2, &h2, &w2);
        if (c2 != c || h2 != h || w2 != w)
            return qp_error(QP_ERR_SHAPE, "calibration images are %dx%dx%d but evaluation images %dx%dx%d", c, h, w,
                            c2, h2, w2);
    }
    if (in->dtype != QP_DT_FLOAT)
        return qp_error(QP_ERR_UNSUPPORTED, "model input '%s' is %s; image data sets give float32", in->name,
                        qp_dtype_name(in->dtype));
    char b1[128], b2[128];
    if (in->shape.rank >= 0) {
        int ok = in->shape.rank == 4;
        for (int d = 1; ok && d < 4; d++) ok = in->shape.dims[d] < 0 || in->shape.dims[d] == want.dims[d];
        if (!ok)
            return qp_error(QP_ERR_SHAPE,
                            "the preprocessed images are %s (%s) but model input '%s' is %s; check "
                            "data.preprocess (resize, crop, color, layout)",
                            qp_shape_str(&want, b1, sizeof b1), nhwc ? "NHWC" : "NCHW", in->name,
                            qp_shape_str(&in->shape, b2, sizeof b2));
    }
    /* Plans keep a pointer to input_shape: the name stays put while it does not change. */
    if (!s->input_name || strcmp(s->input_name, in->name) != 0) {
        free(s->input_name);
        if (!(s->input_name = dup_str(in->name))) return qp_error(QP_ERR_NOMEM, "out of memory");
    }
    s->input_shape.name = s->input_name;
    s->input_shape.shape = want;
    s->has_input_shape = 1;
    return QP_OK;
}

static void observe(void *user, int tensor, const qp_value *value);

static qp_status build_plan(qp_session *s, qp_engine_mode mode, qp_plan **out) {
    if (!s->graph) return qp_error(QP_ERR_INVALID_ARG, "the session has no model");
    qp_status st = resolve_input(s);
    if (st != QP_OK) return st;
    qp_plan_options o = {.mode = mode, .batch = s->plan_batch, .n_threads = s->threads,
                         .input_shapes = s->has_input_shape ? &s->input_shape : NULL,
                         .n_input_shapes = s->has_input_shape ? 1 : 0};
    if (mode == QP_MODE_FP32) {
        o.observer = observe;
        o.observer_user = s;
    } else {
        o.encodings = qp_session_encodings(s);
    }
    return qp_plan_create(s->graph, &o, out);
}

qp_status qp_session_fp32_plan(qp_session *s, qp_plan **plan) {
    *plan = NULL;
    if (!s->fp32_plan) {
        qp_status st = build_plan(s, QP_MODE_FP32, &s->fp32_plan);
        if (st != QP_OK) return st;
    }
    *plan = s->fp32_plan;
    return QP_OK;
}

qp_status qp_session_create_plan(qp_session *s, qp_engine_mode mode, qp_plan **plan) {
    *plan = NULL;
    if (mode != QP_MODE_FP32) {
        qp_status st = qp_session_derive(s);
        if (st != QP_OK) return st;
    }
    return build_plan(s, mode, plan);
}

/* ---- roles ---------------------------------------------------------------------------------------- */

static int op_is(const qp_node *n, const char *op) { return n->domain[0] == '\0' && strcmp(n->op_type, op) == 0; }

/* Ops whose output values are a rearrangement or a selection of their data input's values: the
 * output shares the input's encoding (see qp_session_encoding_source). */
static int shares_input_encoding(const qp_node *n) {
    static const char *const ops[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Identity",
                                      "Dropout", "Slice", "Split", "Gather", "Expand", "Tile", "DepthToSpace",
                                      "SpaceToDepth", "MaxPool", "GlobalMaxPool", "ReduceMax", "ReduceMin"};
    if (n->domain[0] != '\0') return 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (strcmp(n->op_type, ops[i]) == 0) return 1;
    return 0;
}

static int is_weighted_op(const qp_node *n) {
    return op_is(n, "Conv") || op_is(n, "ConvTranspose") || op_is(n, "Gemm");
}

static qp_dtype tensor_dtype(const qp_session *s, int t) {
    const qp_tensor *tensor = s->graph->tensors[t];
    if (tensor->dtype != QP_DT_UNDEFINED) return tensor->dtype;
    if (s->fp32_plan) {
        const qp_value *v = qp_plan_tensor(s->fp32_plan, t);
        if (v) return v->dtype;
    }
    return QP_DT_UNDEFINED;
}

static void apply_layers(qp_session *s) {
    const qp_graph *g = s->graph;
    unsigned char *in_region = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), 1);
    int *queue = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *queue);
    if (!in_region || !queue) {
        free(in_region);
        free(queue);
        return;
    }
    for (int i = 0; i < s->n_layers; i++) {
        const session_layer *l = &s->layers[i];
        if (find_node(g, l->name) < 0) {
            qp_log(s, QP_LOG_WARN, "layers: node '%s' is no longer in the graph (removed by a pass); entry ignored",
                   l->name);
            continue;
        }
        layer_region(g, find_node(g, l->name), l->until, l->n_until, l->n_until > 0, in_region, queue);
        for (int id = 0; id < g->n_nodes; id++) {
            if (!in_region[id]) continue;
            if (l->skip >= 0) s->node_skip[id] = (unsigned char)l->skip;
            if (l->bits > 0) s->node_bits[id] = l->bits;
        }
    }
    free(in_region);
    free(queue);
}

static void sync_shared(qp_session *s, int root);

qp_status qp_session_derive(qp_session *s) {
    if (s->derived_valid) return QP_OK;
    if (!s->graph) return qp_error(QP_ERR_INVALID_ARG, "the session has no model");
    qp_plan *plan;
    qp_status st = qp_session_fp32_plan(s, &plan);
    if (st != QP_OK) return st;
    free_derived(s);
    const qp_graph *g = s->graph;
    int nt = g->n_tensors, nn = g->n_nodes;
    size_t ct = (size_t)(nt ? nt : 1), cn = (size_t)(nn ? nn : 1);
    s->is_const = calloc(ct, 1);
    s->node_skip = calloc(cn, 1);
    s->node_bits = calloc(cn, sizeof(int));
    s->roles = calloc(ct, sizeof *s->roles);
    s->source = malloc(ct * sizeof(int));
    s->weight_axis = malloc(ct * sizeof(int));
    s->weight_node = malloc(ct * sizeof(int));
    s->bias = calloc(ct, sizeof *s->bias);
    if (!s->is_const || !s->node_skip || !s->node_bits || !s->roles || !s->source || !s->weight_axis ||
        !s->weight_node || !s->bias) {
        free_derived(s);
        return qp_error(QP_ERR_NOMEM, "out of memory deriving tensor roles");
    }
    s->n_tensors = nt;
    s->n_nodes = nn;
    for (int t = 0; t < nt; t++) {
        s->source[t] = t;
        s->weight_axis[t] = -1;
        s->weight_node[t] = -1;
        s->is_const[t] = g->tensors[t]->is_initializer;
    }
    /* Constants as the planner folds them: nodes whose inputs are all constant, and Shape/Size. */
    for (int id = 0; id < nn; id++) {
        const qp_node *n = &g->nodes[id];
        int all_const = 1;
        for (int k = 0; k < n->n_inputs; k++)
            if (n->inputs[k] >= 0) all_const &= s->is_const[n->inputs[k]];
        if (all_const || op_is(n, "Shape") || op_is(n, "Size"))
            for (int k = 0; k < n->n_outputs; k++)
                if (n->outputs[k] >= 0) s->is_const[n->outputs[k]] = 1;
    }
    apply_layers(s);

    /* Weights and biases: constant float inputs of the ops the int8 kernels multiply with. */
    for (int id = 0; id < nn; id++) {
        const qp_node *n = &g->nodes[id];
        if (s->node_skip[id]) continue;
        int w = -1, b = -1, axis = -1;
        if (is_weighted_op(n)) {
            w = n->n_inputs > 1 ? n->inputs[1] : -1;
            b = n->n_inputs > 2 ? n->inputs[2] : -1;
            if (op_is(n, "Conv")) axis = 0;
            else if (op_is(n, "ConvTranspose")) axis = 1;
            else axis = qp_node_attr_int(n, "transB", 0) ? 0 : 1;
        } else if (op_is(n, "MatMul") && n->n_inputs == 2 && n->inputs[0] >= 0 && n->inputs[1] >= 0) {
            int a = n->inputs[0], bb = n->inputs[1];
            const qp_value *va = qp_plan_tensor(plan, a), *vb = qp_plan_tensor(plan, bb);
            if (s->is_const[bb] && !s->is_const[a]) {
                w = bb;
                axis = vb && vb->shape.rank >= 1 ? vb->shape.rank - 1 : -1;
            } else if (s->is_const[a] && !s->is_const[bb]) {
                w = a; /* constant left operand: its rows are the output rows */
                axis = va && va->shape.rank >= 2 ? va->shape.rank - 2 : 0;
            }
        }
        if (b >= 0 && s->is_const[b] && tensor_dtype(s, b) == QP_DT_FLOAT && s->roles[b] == QP_ROLE_NONE) {
            s->roles[b] = QP_ROLE_BIAS;
            s->weight_node[b] = id;
        }
        if (w >= 0 && s->is_const[w] && tensor_dtype(s, w) == QP_DT_FLOAT && s->roles[w] != QP_ROLE_WEIGHT) {
            s->roles[w] = QP_ROLE_WEIGHT;
            s->weight_axis[w] = axis;
            s->weight_node[w] = id;
        }
    }

    /* Activations, in topological order so a sharing tensor finds its source's role. */
    for (int i = 0; i < g->n_inputs; i++) {
        int t = g->inputs[i];
        const qp_tensor *tensor = g->tensors[t];
        if (tensor_dtype(s, t) != QP_DT_FLOAT) continue;
        int used = tensor->is_graph_output;
        for (int c = 0; c < tensor->n_consumers && !used; c++) used = !s->node_skip[tensor->consumers[c]];
        if (used) s->roles[t] = QP_ROLE_ACTIVATION;
    }
    for (int id = 0; id < nn; id++) {
        const qp_node *n = &g->nodes[id];
        for (int k = 0; k < n->n_outputs; k++) {
            int t = n->outputs[k];
            if (t < 0 || s->is_const[t]) continue;
            if (s->node_skip[id] || tensor_dtype(s, t) != QP_DT_FLOAT) continue;
            int in = n->n_inputs > 0 ? n->inputs[0] : -1;
            if (shares_input_encoding(n) && in >= 0 && !s->is_const[in]) {
                if (s->roles[in] == QP_ROLE_ACTIVATION) {
                    s->roles[t] = QP_ROLE_ACTIVATION;
                    s->source[t] = s->source[in];
                }
                continue;
            }
            s->roles[t] = QP_ROLE_ACTIVATION;
        }
    }
    s->derived_valid = 1;

    /* Encodings follow the roles: drop what is no longer quantized, refresh shared copies. */
    for (int t = 0; t < nt; t++) {
        if (s->roles[t] == QP_ROLE_NONE || s->roles[t] == QP_ROLE_BIAS) qp_encodings_clear(s->encodings, t);
        else if (s->source[t] == t) sync_shared(s, t);
    }
    return QP_OK;
}

qp_status qp_session_prepare(qp_session *s) { return qp_session_derive(s); }

void qp_session_graph_changed(qp_session *s) {
    drop_plan(s);
    s->derived_valid = 0;
}

static int derived_ok(const qp_session *s, int tensor) {
    if (!s->graph || tensor < 0 || tensor >= s->graph->n_tensors) return 0;
    return qp_session_derive((qp_session *)s) == QP_OK && tensor < s->n_tensors;
}

qp_tensor_role qp_session_tensor_role(const qp_session *s, int tensor) {
    return derived_ok(s, tensor) ? s->roles[tensor] : QP_ROLE_NONE;
}

int qp_session_encoding_source(const qp_session *s, int tensor) {
    return derived_ok(s, tensor) ? s->source[tensor] : tensor;
}

int qp_session_node_skipped(const qp_session *s, int node) {
    if (qp_session_derive((qp_session *)s) != QP_OK || node < 0 || node >= s->n_nodes) return 0;
    return s->node_skip[node];
}

int qp_session_weight_axis(const qp_session *s, int tensor) {
    return derived_ok(s, tensor) && s->roles[tensor] == QP_ROLE_WEIGHT ? s->weight_axis[tensor] : -1;
}

qp_status qp_session_quant_spec(const qp_session *s, int tensor, qp_quant_spec *spec) {
    if (!s->graph || tensor < 0 || tensor >= s->graph->n_tensors)
        return qp_error(QP_ERR_INVALID_ARG, "no tensor with id %d", tensor);
    qp_status st = qp_session_derive((qp_session *)s);
    if (st != QP_OK) return st;
    const char *name = s->graph->tensors[tensor]->name;
    int node = -1;
    switch (s->roles[tensor]) {
    case QP_ROLE_NONE:
        return qp_error(QP_ERR_INVALID_ARG, "tensor '%s' is not quantized (role NONE)", name);
    case QP_ROLE_WEIGHT:
        *spec = s->quant.weights;
        node = s->weight_node[tensor];
        break;
    case QP_ROLE_BIAS:
        *spec = (qp_quant_spec){.bits = 32, .symmetric = 1, .per_channel = s->quant.weights.per_channel};
        return QP_OK;
    case QP_ROLE_ACTIVATION:
        *spec = s->quant.activations;
        node = s->graph->tensors[s->source[tensor]]->producer;
        break;
    }
    if (node >= 0 && s->node_bits[node] > 0) spec->bits = s->node_bits[node];
    return QP_OK;
}

/* ---- encodings -------------------------------------------------------------------------------------- */

/* Copies root's encoding to every tensor that shares it (per-tensor encodings only: a
 * per-channel axis does not survive a reshape). */
static void sync_shared(qp_session *s, int root) {
    const qp_encoding *enc = qp_encodings_get(s->encodings, root);
    for (int t = 0; t < s->n_tensors; t++) {
        if (t == root || s->source[t] != root) continue;
        if (!enc || enc->axis >= 0) {
            qp_encodings_clear(s->encodings, t);
            continue;
        }
        if (qp_encodings_set(s->encodings, t, enc->bits, enc->symmetric, -1, 1, enc->scale, enc->zero_point) == QP_OK) {
            qp_encoding *copy = s->encodings->by_tensor[t];
            copy->min[0] = enc->min[0];
            copy->max[0] = enc->max[0];
        }
    }
}

const qp_encodings *qp_session_encodings(const qp_session *s) { return s->encodings; }

/* The checks qp_session_set_range and qp_session_set_encoding share. *ignored is set for a tensor
 * that shares another's encoding (QP_OK, nothing to store). */
static qp_status check_settable(qp_session *s, int tensor, int axis, int n, int *ignored) {
    *ignored = 0;
    qp_status st = qp_session_derive(s);
    if (st != QP_OK) return st;
    if (tensor < 0 || tensor >= s->n_tensors) return qp_error(QP_ERR_INVALID_ARG, "no tensor with id %d", tensor);
    const char *name = s->graph->tensors[tensor]->name;
    switch (s->roles[tensor]) {
    case QP_ROLE_NONE: return qp_error(QP_ERR_INVALID_ARG, "tensor '%s' is not quantized (role NONE)", name);
    case QP_ROLE_BIAS:
        return qp_error(QP_ERR_INVALID_ARG, "tensor '%s' is a bias: its encoding is derived (scale = s_in * s_w)",
                        name);
    default: break;
    }
    if (s->source[tensor] != tensor) {
        qp_log(s, QP_LOG_DEBUG, "'%s' shares the encoding of '%s'; its own is not used", name,
               s->graph->tensors[s->source[tensor]]->name);
        *ignored = 1;
        return QP_OK;
    }
    if (axis >= 0) {
        int rank = qp_model_tensor_rank(&s->model, tensor);
        if (axis >= rank)
            return qp_error(QP_ERR_INVALID_ARG, "tensor '%s': axis %d out of range for rank %d", name, axis, rank);
        int64_t dim = qp_model_tensor_dim(&s->model, tensor, axis);
        if (dim != n)
            return qp_error(QP_ERR_INVALID_ARG, "tensor '%s': %d channels given for axis %d of size %lld", name, n,
                            axis, (long long)dim);
    } else if (n != 1) {
        return qp_error(QP_ERR_INVALID_ARG, "tensor '%s': a per-tensor encoding (axis -1) has 1 channel, not %d", name,
                        n);
    }
    return QP_OK;
}

qp_status qp_session_set_range(qp_session *s, int tensor, int bits, int symmetric, int axis, int n, const float *min,
                               const float *max) {
    int ignored;
    qp_status st = check_settable(s, tensor, axis, n, &ignored);
    if (st != QP_OK || ignored) return st;
    const char *name = s->graph->tensors[tensor]->name;
    if (!min || !max) return qp_error(QP_ERR_INVALID_ARG, "tensor '%s': NULL range", name);
    st = qp_encodings_set_range(s->encodings, tensor, bits, symmetric, axis, n, min, max);
    if (st != QP_OK) return qp_error_prefix(st, "tensor '%s': ", name);
    sync_shared(s, tensor);
    return QP_OK;
}

qp_status qp_session_set_encoding(qp_session *s, int tensor, int bits, int symmetric, int axis, int n,
                                  const float *scale, const int32_t *zero_point) {
    int ignored;
    qp_status st = check_settable(s, tensor, axis, n, &ignored);
    if (st != QP_OK || ignored) return st;
    const char *name = s->graph->tensors[tensor]->name;
    if (!scale || !zero_point) return qp_error(QP_ERR_INVALID_ARG, "tensor '%s': NULL scale or zero point", name);
    for (int c = 0; symmetric && c < n; c++)
        if (zero_point[c] != 0)
            return qp_error(QP_ERR_INVALID_ARG, "tensor '%s': a symmetric encoding has zero point 0, channel %d has %d",
                            name, c, zero_point[c]);
    st = qp_encodings_set(s->encodings, tensor, bits, symmetric, axis, n, scale, zero_point);
    if (st != QP_OK) return qp_error_prefix(st, "tensor '%s': ", name);
    sync_shared(s, tensor);
    return QP_OK;
}

void qp_session_clear_encoding(qp_session *s, int tensor) {
    if (qp_session_derive(s) != QP_OK || tensor < 0 || tensor >= s->n_tensors) return;
    if (s->source[tensor] != tensor) return;
    qp_encodings_clear(s->encodings, tensor);
    sync_shared(s, tensor);
}

/* The bias encoding implied by its node's input and weight encodings, or NULL when either is
 * missing. */
static const bias_encoding *derive_bias(qp_session *s, int tensor) {
    int node = s->weight_node[tensor];
    if (node < 0) return NULL;
    const qp_node *n = &s->graph->nodes[node];
    const qp_encoding *in = qp_encodings_get(s->encodings, n->inputs[0]);
    const qp_encoding *w = qp_encodings_get(s->encodings, n->inputs[1]);
    if (!in || !w || in->n != 1) return NULL;
    bias_encoding *b = &s->bias[tensor];
    if (b->n != w->n) {
        free(b->scale);
        free(b->zero_point);
        free(b->min);
        free(b->max);
        b->n = 0;
        b->scale = malloc((size_t)w->n * sizeof(float));
        b->zero_point = calloc((size_t)w->n, sizeof(int32_t));
        b->min = malloc((size_t)w->n * sizeof(float));
        b->max = malloc((size_t)w->n * sizeof(float));
        if (!b->scale || !b->zero_point || !b->min || !b->max) return NULL;
        b->n = w->n;
    }
    b->axis = w->n > 1 ? 0 : -1;
    const double qmax = 2147483647.0;
    for (int c = 0; c < w->n; c++) {
        b->scale[c] = in->scale[0] * w->scale[c];
        b->min[c] = (float)(-qmax * b->scale[c]);
        b->max[c] = (float)(qmax * b->scale[c]);
    }
    return b;
}

int qp_session_get_encoding(const qp_session *cs, int tensor, int *bits, int *symmetric, int *axis, const float **scale,
                            const int32_t **zero_point, const float **min, const float **max) {
    qp_session *s = (qp_session *)cs;
    if (!derived_ok(s, tensor)) return 0;
    if (s->roles[tensor] == QP_ROLE_BIAS) {
        const bias_encoding *b = derive_bias(s, tensor);
        if (!b) return 0;
        if (bits) *bits = 32;
        if (symmetric) *symmetric = 1;
        if (axis) *axis = b->axis;
        if (scale) *scale = b->scale;
        if (zero_point) *zero_point = b->zero_point;
        if (min) *min = b->min;
        if (max) *max = b->max;
        return b->n;
    }
    const qp_encoding *e = qp_encodings_get(s->encodings, tensor);
    if (!e) return 0;
    if (bits) *bits = e->bits;
    if (symmetric) *symmetric = e->symmetric;
    if (axis) *axis = e->axis;
    if (scale) *scale = e->scale;
    if (zero_point) *zero_point = e->zero_point;
    if (min) *min = e->min;
    if (max) *max = e->max;
    return e->n;
}

/* ---- calibration -------------------------------------------------------------------------------------- */

static void observe(void *user, int tensor, const qp_value *v) {
    qp_session *s = user;
    if (!s->calib_fn || !s->derived_valid || tensor >= s->n_tensors) return;
    if (s->roles[tensor] != QP_ROLE_ACTIVATION || s->source[tensor] != tensor || v->dtype != QP_DT_FLOAT) return;
    int64_t dims[QP_MAX_RANK];
    for (int d = 0; d < v->shape.rank; d++) dims[d] = v->shape.dims[d];
    /* Padded rows of a short last batch are hidden where the batch is the leading dim; elsewhere
     * the padding repeats real rows, which leaves minima and maxima unchanged. */
    if (v->shape.rank > 0 && dims[0] == s->plan_batch && s->calib_rows < s->plan_batch) dims[0] = s->calib_rows;
    s->calib_fn(s->calib_user, tensor, (const float *)v->data, v->shape.rank, dims);
}

qp_status qp_session_run_calibration(qp_session *s, qp_activation_fn fn, void *user) {
    if (!s->calib.present)
        return qp_error(QP_ERR_INVALID_ARG, "this pass needs calibration images: add data.calibration to the pipeline");
    qp_status st = qp_session_derive(s);
    qp_plan *plan = NULL;
    if (st == QP_OK) st = qp_session_fp32_plan(s, &plan); /* rebuilt if a weight changed since */
    if (st != QP_OK) return st;
    qp_dataset_iter *it = NULL;
    if ((st = qp_dataset_iter_new(s->calib.ds, s->plan_batch, &it)) != QP_OK) return st;
    qp_value *in = qp_plan_input(plan, 0);
    int input_id = s->graph->inputs[0];
    size_t sample_bytes = in->nbytes / (size_t)s->plan_batch;
    int64_t total = qp_dataset_size(s->calib.ds), done = 0;
    for (;;) {
        qp_batch b;
        if ((st = qp_dataset_iter_next(it, &b)) != QP_OK) break;
        if (b.n == 0) break;
        if ((size_t)b.channels * (size_t)b.height * (size_t)b.width * sizeof(float) != sample_bytes) {
            st = qp_error(QP_ERR_SHAPE, "calibration sample of %dx%dx%d floats does not fit the model input",
                          b.channels, b.height, b.width);
            break;
        }
        for (int r = 0; r < s->plan_batch; r++)
            memcpy((char *)in->data + (size_t)r * sample_bytes, b.data + (size_t)(r % b.n) * (sample_bytes / sizeof(float)),
                   sample_bytes);
        s->calib_fn = fn;
        s->calib_user = user;
        s->calib_rows = b.n;
        observe(s, input_id, in); /* graph inputs are not produced by any step */
        st = qp_plan_run(plan);
        s->calib_fn = NULL;
        s->calib_user = NULL;
        if (st != QP_OK) break;
        done += b.n;
        qp_progress(s, "calibration", done, total);
    }
    s->calib_fn = NULL;
    if (st == QP_OK) {
        int64_t skipped = qp_dataset_iter_skipped(it);
        for (int64_t k = 0; k < skipped && k < 5; k++)
            qp_log(s, QP_LOG_WARN, "skipped calibration image %s: %s", qp_dataset_iter_skipped_name(it, k),
                   qp_dataset_iter_skipped_reason(it, k));
        if (skipped > 5) qp_log(s, QP_LOG_WARN, "... and %lld more unreadable calibration images", (long long)(skipped - 5));
        if (done == 0) st = qp_error(QP_ERR_INVALID_ARG, "no readable calibration images in %s", s->calib.images);
    }
    qp_dataset_iter_free(it);
    return st;
}
