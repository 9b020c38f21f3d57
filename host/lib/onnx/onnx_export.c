/* onnx_export.c — the qpipe IR to ONNX ModelProto (protobuf-c, generated from the system onnx.proto), and atomic file writing. */
#include "onnx/onnx_export.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx/onnx.pb-c.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnx_export.c writes tensor data as raw_data (little-endian by the ONNX spec) as is"
#endif

/* Protobuf messages cannot exceed 2 GiB; bigger models would need external data files. */
#define ONNX_MAX_PROTO_BYTES ((size_t)INT32_MAX)

/* Every message of one export is allocated here and freed together: the message tree points
 * into the graph's own strings and buffers, so nothing else needs freeing. */
typedef struct pool {
    void **items;
    size_t n, cap;
} pool;

static void *pool_calloc(pool *p, size_t count, size_t size) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        void **grown = realloc(p->items, cap * sizeof *grown);
        if (!grown) return NULL;
        p->items = grown;
        p->cap = cap;
    }
    void *mem = calloc(count ? count : 1, size ? size : 1);
    if (mem) p->items[p->n++] = mem;
    return mem;
}

static void pool_free(pool *p) {
    for (size_t i = 0; i < p->n; i++) free(p->items[i]);
    free(p->items);
}

/* protobuf-c wants mutable pointers for fields it only reads while packing. */
static char *mut(const char *s) { return (char *)(uintptr_t)s; }
static char *name_or_null(const char *s) { return s && s[0] ? mut(s) : NULL; }

#define NOMEM() qp_error(QP_ERR_NOMEM, "out of memory writing ONNX")

static qp_status tensor_proto(pool *p, const char *name, qp_dtype dtype, const qp_shape *shape, const void *data,
                              size_t nbytes, Onnx__TensorProto **out) {
    Onnx__TensorProto *tp = pool_calloc(p, 1, sizeof *tp);
    if (!tp) return NOMEM();
    onnx__tensor_proto__init(tp);
    tp->name = name_or_null(name);
    tp->has_data_type = 1;
    tp->data_type = (int32_t)dtype;
    if (shape->rank > 0) {
        tp->dims = pool_calloc(p, (size_t)shape->rank, sizeof *tp->dims);
        if (!tp->dims) return NOMEM();
        for (int d = 0; d < shape->rank; d++) tp->dims[d] = shape->dims[d];
        tp->n_dims = (size_t)shape->rank;
    }
    tp->has_raw_data = 1;
    tp->raw_data.len = data ? nbytes : 0;
    tp->raw_data.data = (uint8_t *)(uintptr_t)data;
    *out = tp;
    return QP_OK;
}

/* Tensor type of a value info: dtype when known, shape when the rank is known (a dim of -1
 * is written by name when the model named it, else left unset). */
static qp_status value_info(pool *p, const qp_tensor *t, Onnx__ValueInfoProto **out) {
    Onnx__ValueInfoProto *vi = pool_calloc(p, 1, sizeof *vi);
    if (!vi) return NOMEM();
    onnx__value_info_proto__init(vi);
    vi->name = mut(t->name);
    if (t->dtype != QP_DT_UNDEFINED || t->shape.rank >= 0) {
        Onnx__TypeProto *type = pool_calloc(p, 1, sizeof *type);
        Onnx__TypeProto__Tensor *tt = pool_calloc(p, 1, sizeof *tt);
        if (!type || !tt) return NOMEM();
        onnx__type_proto__init(type);
        onnx__type_proto__tensor__init(tt);
        type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
        type->tensor_type = tt;
        if (t->dtype != QP_DT_UNDEFINED) {
            tt->has_elem_type = 1;
            tt->elem_type = (int32_t)t->dtype;
        }
        if (t->shape.rank >= 0) {
            Onnx__TensorShapeProto *shape = pool_calloc(p, 1, sizeof *shape);
            if (!shape) return NOMEM();
            onnx__tensor_shape_proto__init(shape);
            int rank = t->shape.rank;
            if (rank > 0) {
                shape->dim = pool_calloc(p, (size_t)rank, sizeof *shape->dim);
                if (!shape->dim) return NOMEM();
                for (int d = 0; d < rank; d++) {
                    Onnx__TensorShapeProto__Dimension *dim = pool_calloc(p, 1, sizeof *dim);
                    if (!dim) return NOMEM();
                    onnx__tensor_shape_proto__dimension__init(dim);
                    if (t->shape.dims[d] >= 0) {
                        dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                        dim->dim_value = t->shape.dims[d];
                    } else if (t->dim_param[d] && t->dim_param[d][0]) {
                        dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                        dim->dim_param = t->dim_param[d];
                    }
                    shape->dim[d] = dim;
                }
                shape->n_dim = (size_t)rank;
            }
            tt->shape = shape;
        }
        vi->type = type;
    }
    *out = vi;
    return QP_OK;
}

static const char *attr_kind(qp_attr_type type) {
    switch (type) {
    case QP_ATTR_GRAPH: return "a subgraph";
    case QP_ATTR_GRAPHS: return "a list of subgraphs";
    case QP_ATTR_TENSORS: return "a list of tensors";
    case QP_ATTR_SPARSE_TENSOR: return "a sparse tensor";
    case QP_ATTR_SPARSE_TENSORS: return "a list of sparse tensors";
    case QP_ATTR_TYPE_PROTO: return "a type proto";
    case QP_ATTR_TYPE_PROTOS: return "a list of type protos";
    default: return "of an unknown kind";
    }
}

static qp_status attribute(pool *p, const qp_node *n, const qp_attr *a, Onnx__AttributeProto **out) {
    Onnx__AttributeProto *ap = pool_calloc(p, 1, sizeof *ap);
    if (!ap) return NOMEM();
    onnx__attribute_proto__init(ap);
    ap->name = mut(a->name);
    ap->has_type = 1;
    ap->type = (Onnx__AttributeProto__AttributeType)a->type;
    switch (a->type) {
    case QP_ATTR_FLOAT: ap->has_f = 1; ap->f = a->f; break;
    case QP_ATTR_INT: ap->has_i = 1; ap->i = a->i; break;
    case QP_ATTR_STRING:
        ap->has_s = 1;
        ap->s.len = a->s ? a->s_len : 0;
        ap->s.data = (uint8_t *)a->s;
        break;
    case QP_ATTR_FLOATS: ap->n_floats = a->n > 0 ? (size_t)a->n : 0; ap->floats = a->floats; break;
    case QP_ATTR_INTS: ap->n_ints = a->n > 0 ? (size_t)a->n : 0; ap->ints = a->ints; break;
    case QP_ATTR_STRINGS:
        if (a->n > 0) {
            ap->strings = pool_calloc(p, (size_t)a->n, sizeof *ap->strings);
            if (!ap->strings) return NOMEM();
            for (int k = 0; k < a->n; k++) {
                ap->strings[k].data = (uint8_t *)a->strings[k];
                ap->strings[k].len = a->strings[k] ? strlen(a->strings[k]) : 0;
            }
            ap->n_strings = (size_t)a->n;
        }
        break;
    case QP_ATTR_TENSOR: {
        if (!a->t)
            return qp_error(QP_ERR_INVALID_ARG, "node '%s' (%s): tensor attribute '%s' holds no tensor", n->name,
                            n->op_type, a->name);
        qp_status st = tensor_proto(p, NULL, a->t->dtype, &a->t->shape, a->t->data, a->t->nbytes, &ap->t);
        if (st != QP_OK) return st;
        break;
    }
    default:
        return qp_error(QP_ERR_UNSUPPORTED,
                        "node '%s' (%s): attribute '%s' is %s, which qpipe keeps only by type and cannot write "
                        "back (ops with subgraphs are not supported)",
                        n->name, n->op_type, a->name, attr_kind(a->type));
    }
    *out = ap;
    return QP_OK;
}

static const char *tensor_ref(const qp_graph *g, int id) { return id >= 0 && id < g->n_tensors ? g->tensors[id]->name : ""; }

static qp_status node_proto(pool *p, const qp_graph *g, const qp_node *n, Onnx__NodeProto **out) {
    Onnx__NodeProto *np = pool_calloc(p, 1, sizeof *np);
    if (!np) return NOMEM();
    onnx__node_proto__init(np);
    np->name = name_or_null(n->name);
    np->op_type = mut(n->op_type);
    np->domain = name_or_null(n->domain);
    if (n->n_inputs > 0) {
        np->input = pool_calloc(p, (size_t)n->n_inputs, sizeof *np->input);
        if (!np->input) return NOMEM();
        for (int k = 0; k < n->n_inputs; k++) np->input[k] = mut(tensor_ref(g, n->inputs[k]));
        np->n_input = (size_t)n->n_inputs;
    }
    if (n->n_outputs > 0) {
        np->output = pool_calloc(p, (size_t)n->n_outputs, sizeof *np->output);
        if (!np->output) return NOMEM();
        for (int k = 0; k < n->n_outputs; k++) np->output[k] = mut(tensor_ref(g, n->outputs[k]));
        np->n_output = (size_t)n->n_outputs;
    }
    if (n->n_attrs > 0) {
        np->attribute = pool_calloc(p, (size_t)n->n_attrs, sizeof *np->attribute);
        if (!np->attribute) return NOMEM();
        for (int k = 0; k < n->n_attrs; k++) {
            qp_status st = attribute(p, n, &n->attrs[k], &np->attribute[k]);
            if (st != QP_OK) return st;
        }
        np->n_attribute = (size_t)n->n_attrs;
    }
    *out = np;
    return QP_OK;
}

static int is_written_initializer(const qp_tensor *t, const qp_onnx_export_options *o) {
    if (!t->is_initializer) return 0;
    return o->keep_unused_initializers || t->n_consumers > 0 || t->is_graph_output;
}

/* Builds the message tree in pool p (pointing into graph). */
static qp_status build_model(pool *p, const qp_graph *g, const qp_onnx_export_options *o, Onnx__ModelProto **out) {
    qp_status st = QP_OK;
    Onnx__ModelProto *mp = pool_calloc(p, 1, sizeof *mp);
    Onnx__GraphProto *gp = pool_calloc(p, 1, sizeof *gp);
    if (!mp || !gp) return NOMEM();
    onnx__model_proto__init(mp);
    onnx__graph_proto__init(gp);
    mp->graph = gp;
    mp->has_ir_version = 1;
    /* IR 8 is what ONNX 1.10-1.12 write; a graph that never had one gets it. */
    mp->ir_version = g->ir_version > 0 ? g->ir_version : 8;
    mp->producer_name = name_or_null(o->producer_name ? o->producer_name : g->producer_name);
    mp->producer_version = name_or_null(o->producer_version);
    gp->name = mut(g->name && g->name[0] ? g->name : "qpipe");

    if (g->n_opsets > 0) {
        mp->opset_import = pool_calloc(p, (size_t)g->n_opsets, sizeof *mp->opset_import);
        if (!mp->opset_import) return NOMEM();
        for (int k = 0; k < g->n_opsets; k++) {
            Onnx__OperatorSetIdProto *op = pool_calloc(p, 1, sizeof *op);
            if (!op) return NOMEM();
            onnx__operator_set_id_proto__init(op);
            op->domain = mut(g->opsets[k].domain ? g->opsets[k].domain : "");
            op->has_version = 1;
            op->version = g->opsets[k].version;
            mp->opset_import[k] = op;
        }
        mp->n_opset_import = (size_t)g->n_opsets;
    }

    if (g->n_nodes > 0) {
        gp->node = pool_calloc(p, (size_t)g->n_nodes, sizeof *gp->node);
        if (!gp->node) return NOMEM();
        for (int id = 0; id < g->n_nodes && st == QP_OK; id++) st = node_proto(p, g, &g->nodes[id], &gp->node[id]);
        if (st != QP_OK) return st;
        gp->n_node = (size_t)g->n_nodes;
    }

    size_t n_init = 0, n_vi = 0;
    for (int t = 0; t < g->n_tensors; t++) {
        const qp_tensor *tensor = g->tensors[t];
        if (is_written_initializer(tensor, o)) n_init++;
        else if (!tensor->is_initializer && !tensor->is_graph_input && !tensor->is_graph_output &&
                 tensor->dtype != QP_DT_UNDEFINED)
            n_vi++;
    }
    /* IR < 4 requires every initializer to be listed as a graph input as well. */
    int inits_as_inputs = mp->ir_version < 4;
    size_t n_inputs = (size_t)g->n_inputs + (inits_as_inputs ? n_init : 0);
    gp->initializer = pool_calloc(p, n_init, sizeof *gp->initializer);
    gp->value_info = pool_calloc(p, n_vi, sizeof *gp->value_info);
    gp->input = pool_calloc(p, n_inputs, sizeof *gp->input);
    gp->output = pool_calloc(p, (size_t)g->n_outputs, sizeof *gp->output);
    if (!gp->initializer || !gp->value_info || !gp->input || !gp->output) return NOMEM();
    for (int i = 0; i < g->n_inputs && st == QP_OK; i++) st = value_info(p, g->tensors[g->inputs[i]], &gp->input[gp->n_input++]);
    for (int t = 0; t < g->n_tensors && st == QP_OK; t++) {
        const qp_tensor *tensor = g->tensors[t];
        if (is_written_initializer(tensor, o)) {
            st = tensor_proto(p, tensor->name, tensor->dtype, &tensor->shape, tensor->data, tensor->nbytes,
                              &gp->initializer[gp->n_initializer++]);
            if (st == QP_OK && inits_as_inputs) st = value_info(p, tensor, &gp->input[gp->n_input++]);
        } else if (!tensor->is_initializer && !tensor->is_graph_input && !tensor->is_graph_output &&
                   tensor->dtype != QP_DT_UNDEFINED) {
            st = value_info(p, tensor, &gp->value_info[gp->n_value_info++]);
        }
    }
    for (int i = 0; i < g->n_outputs && st == QP_OK; i++)
        st = value_info(p, g->tensors[g->outputs[i]], &gp->output[gp->n_output++]);
    if (st != QP_OK) return st;
    *out = mp;
    return QP_OK;
}

static qp_status check_graph(const qp_graph *g) {
    if (!g) return qp_error(QP_ERR_INVALID_ARG, "no graph to export");
    for (int t = 0; t < g->n_tensors; t++) {
        const qp_tensor *tensor = g->tensors[t];
        if (!tensor->name || !tensor->name[0])
            return qp_error(QP_ERR_INVALID_ARG, "tensor #%d has no name; ONNX needs every value named", t);
        if (tensor->is_initializer && (tensor->dtype == QP_DT_UNDEFINED || tensor->dtype == QP_DT_STRING))
            return qp_error(QP_ERR_UNSUPPORTED, "initializer '%s' has dtype %s, which qpipe cannot write",
                            tensor->name, qp_dtype_name(tensor->dtype));
        if (tensor->is_initializer && tensor->data) {
            int64_t numel = qp_shape_numel(&tensor->shape);
            if (numel < 0 || (size_t)numel * qp_dtype_size(tensor->dtype) != tensor->nbytes)
                return qp_error(QP_ERR_INVALID_ARG, "initializer '%s' holds %zu bytes, which does not fit its %s shape",
                                tensor->name, tensor->nbytes, qp_dtype_name(tensor->dtype));
        }
    }
    return QP_OK;
}

qp_status qp_onnx_export_memory(const qp_graph *g, const qp_onnx_export_options *options, void **bytes, size_t *n) {
    if (!bytes || !n) return qp_error(QP_ERR_INVALID_ARG, "qp_onnx_export_memory: NULL output");
    *bytes = NULL;
    *n = 0;
    qp_status st = check_graph(g);
    if (st != QP_OK) return st;
    qp_onnx_export_options defaults = {0};
    pool p = {0};
    Onnx__ModelProto *mp = NULL;
    st = build_model(&p, g, options ? options : &defaults, &mp);
    if (st == QP_OK) {
        size_t size = onnx__model_proto__get_packed_size(mp);
        if (size > ONNX_MAX_PROTO_BYTES) {
            st = qp_error(QP_ERR_UNSUPPORTED,
                          "the model needs %zu bytes, over protobuf's 2 GiB limit; qpipe does not write external "
                          "data files", size);
        } else {
            uint8_t *buf = malloc(size ? size : 1);
            if (!buf) {
                st = NOMEM();
            } else {
                size_t packed = onnx__model_proto__pack(mp, buf);
                if (packed != size) {
                    free(buf);
                    st = qp_error(QP_ERR_INTERNAL, "protobuf-c packed %zu bytes, expected %zu", packed, size);
                } else {
                    *bytes = buf;
                    *n = size;
                }
            }
        }
    }
    pool_free(&p);
    return st;
}

/* ---- files ----------------------------------------------------------------------------------- */

typedef struct file_buffer {
    ProtobufCBuffer base;
    FILE *f;
    int failed;
} file_buffer;

static void file_append(ProtobufCBuffer *buffer, size_t len, const uint8_t *data) {
    file_buffer *fb = (file_buffer *)buffer;
    if (!fb->failed && len && fwrite(data, 1, len, fb->f) != len) fb->failed = errno ? errno : EIO;
}

typedef struct model_job {
    const qp_graph *graph;
    const qp_onnx_export_options *options;
} model_job;

/* Streams the message into the file, so a big model is not held twice in memory. */
static qp_status write_model(FILE *f, void *user) {
    const model_job *job = user;
    qp_onnx_export_options defaults = {0};
    pool p = {0};
    Onnx__ModelProto *mp = NULL;
    qp_status st = build_model(&p, job->graph, job->options ? job->options : &defaults, &mp);
    if (st == QP_OK) {
        size_t size = onnx__model_proto__get_packed_size(mp);
        if (size > ONNX_MAX_PROTO_BYTES) {
            st = qp_error(QP_ERR_UNSUPPORTED,
                          "the model needs %zu bytes, over protobuf's 2 GiB limit; qpipe does not write external "
                          "data files", size);
        } else {
            file_buffer fb = {.base = {.append = file_append}, .f = f};
            errno = 0;
            size_t packed = onnx__model_proto__pack_to_buffer(mp, &fb.base);
            if (fb.failed) st = qp_error(QP_ERR_IO, "write failed: %s", strerror(fb.failed));
            else if (packed != size) st = qp_error(QP_ERR_INTERNAL, "protobuf-c wrote %zu bytes, expected %zu", packed, size);
        }
    }
    pool_free(&p);
    return st;
}

qp_status qp_onnx_save(const qp_graph *g, const char *path, const qp_onnx_export_options *options) {
    if (!path || !path[0]) return qp_error(QP_ERR_INVALID_ARG, "qp_onnx_save: no path");
    qp_status st = check_graph(g);
    if (st != QP_OK) return qp_error_prefix(st, "%s: ", path);
    model_job job = {g, options};
    return qp_write_file_atomic(path, write_model, &job);
}

/* Creates the missing folders of path's parent, recording them (deepest last) so a failed
 * export can remove exactly what it created. */
static qp_status make_parents(const char *path, char ***created, int *n_created) {
    *created = NULL;
    *n_created = 0;
    size_t len = strlen(path);
    char *buf = malloc(len + 1);
    if (!buf) return qp_error(QP_ERR_NOMEM, "out of memory");
    memcpy(buf, path, len + 1);
    qp_status st = QP_OK;
    for (size_t i = 1; i < len && st == QP_OK; i++) {
        if (buf[i] != '/') continue;
        buf[i] = '\0';
        struct stat sb;
        if (stat(buf, &sb) != 0) {
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                st = qp_error(QP_ERR_IO, "cannot create folder '%s': %s", buf, strerror(errno));
            } else {
                char **grown = realloc(*created, (size_t)(*n_created + 1) * sizeof *grown);
                char *copy = malloc(i + 1);
                if (grown) *created = grown;
                if (!grown || !copy) {
                    free(copy);
                    rmdir(buf);
                    st = qp_error(QP_ERR_NOMEM, "out of memory");
                } else {
                    memcpy(copy, buf, i + 1);
                    (*created)[(*n_created)++] = copy;
                }
            }
        } else if (!S_ISDIR(sb.st_mode)) {
            st = qp_error(QP_ERR_IO, "'%s' is not a folder", buf);
        }
        buf[i] = '/';
    }
    free(buf);
    return st;
}

static void remove_created(char **created, int n_created, int remove) {
    for (int i = n_created - 1; i >= 0; i--) {
        if (remove) rmdir(created[i]);
        free(created[i]);
    }
    free(created);
}

qp_status qp_write_file_atomic(const char *path, qp_file_writer write, void *user) {
    if (!path || !path[0]) return qp_error(QP_ERR_INVALID_ARG, "no output path given");
    size_t len = strlen(path);
    if (path[len - 1] == '/') return qp_error(QP_ERR_INVALID_ARG, "%s: names a folder, not a file", path);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return qp_error(QP_ERR_INVALID_ARG, "%s: is a folder, not a file", path);
    char **created = NULL;
    int n_created = 0;
    qp_status st = make_parents(path, &created, &n_created);
    if (st != QP_OK) {
        remove_created(created, n_created, 1);
        return qp_error_prefix(st, "%s: ", path);
    }
    char *tmp = malloc(len + 32);
    if (!tmp) {
        remove_created(created, n_created, 1);
        return qp_error(QP_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, len + 32, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        st = qp_error(QP_ERR_IO, "%s: cannot create '%s': %s", path, tmp, strerror(errno));
        free(tmp);
        remove_created(created, n_created, 1);
        return st;
    }
    qp_error_clear();
    st = write(f, user);
    if (st != QP_OK) {
        if (!qp_error_message()[0]) qp_error(st, "%s", qp_status_name(st));
        qp_error_prefix(st, "%s: ", path);
    }
    if (st == QP_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        st = qp_error(QP_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (fclose(f) != 0 && st == QP_OK) st = qp_error(QP_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (st == QP_OK && rename(tmp, path) != 0)
        st = qp_error(QP_ERR_IO, "%s: cannot rename '%s' into place: %s", path, tmp, strerror(errno));
    if (st != QP_OK) unlink(tmp);
    free(tmp);
    remove_created(created, n_created, st != QP_OK);
    return st;
}
