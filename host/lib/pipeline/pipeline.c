/* pipeline.c — YAML pipeline files: libyaml into a located tree, --set overrides, and validation into a run configuration. */
#include "pipeline/pipeline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "plugin/params.h"
#include "pipeline/pipeline_impl.h"

/* ---- the tree ------------------------------------------------------------------------------------ */

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *dup_str(const char *s) { return s ? dup_n(s, strlen(s)) : NULL; }

void pl_node_free(pl_node *n) {
    if (!n) return;
    free(n->text);
    for (int i = 0; i < n->n; i++) {
        pl_node_free(n->items[i]);
        if (n->keys) pl_node_free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n);
}

static pl_node *node_new(pl_kind kind, int line, int col, const char *origin) {
    pl_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->line = line;
    n->col = col;
    n->origin = origin;
    return n;
}

static int node_append(pl_node *parent, pl_node *key, pl_node *value) {
    if (parent->n == parent->cap) {
        int cap = parent->cap ? parent->cap * 2 : 4;
        pl_node **items = realloc(parent->items, (size_t)cap * sizeof *items);
        if (!items) return -1;
        parent->items = items;
        if (parent->kind == PL_MAP) {
            pl_node **keys = realloc(parent->keys, (size_t)cap * sizeof *keys);
            if (!keys) return -1;
            parent->keys = keys;
        }
        parent->cap = cap;
    }
    if (parent->kind == PL_MAP) parent->keys[parent->n] = key;
    parent->items[parent->n++] = value;
    return 0;
}

static const char *kind_name(pl_kind k) {
    switch (k) {
    case PL_NULL: return "nothing (null)";
    case PL_SCALAR: return "a scalar";
    case PL_SEQ: return "a list";
    case PL_MAP: return "a mapping";
    }
    return "?";
}

const char *pl_where(const qp_pipeline *p, const pl_node *n, char *buf, size_t cap) {
    if (n && n->origin)
        snprintf(buf, cap, "--set %s", n->origin);
    else if (n)
        snprintf(buf, cap, "%s:%d:%d", p->path, n->line, n->col);
    else
        snprintf(buf, cap, "%s", p->path);
    return buf;
}

qp_status pl_error(const qp_pipeline *p, const pl_node *n, qp_status st, const char *fmt, ...) {
    char where[1200], msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qp_error(st, "%s: %s", pl_where(p, n, where, sizeof where), msg);
}

static int is_null_scalar(const yaml_node_t *y) {
    if (y->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *v = (const char *)y->data.scalar.value;
    return y->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

/* libyaml's document into our tree; marks are 0-based there, 1-based here. */
static qp_status convert(const qp_pipeline *p, yaml_document_t *doc, yaml_node_t *y, const char *origin, int depth,
                         pl_node **out) {
    *out = NULL;
    int line = (int)y->start_mark.line + 1, col = (int)y->start_mark.column + 1;
    pl_node probe = {.line = line, .col = col, .origin = origin};
    if (depth > 64) return pl_error(p, &probe, QP_ERR_PARSE, "nesting deeper than 64 levels");
    pl_node *n = NULL;
    switch (y->type) {
    case YAML_SCALAR_NODE:
        n = node_new(is_null_scalar(y) ? PL_NULL : PL_SCALAR, line, col, origin);
        if (n) {
            n->text = dup_n((const char *)y->data.scalar.value, y->data.scalar.length);
            n->quoted = y->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
            if (!n->text) {
                free(n);
                n = NULL;
            }
        }
        break;
    case YAML_SEQUENCE_NODE:
        n = node_new(PL_SEQ, line, col, origin);
        for (yaml_node_item_t *it = y->data.sequence.items.start; n && it < y->data.sequence.items.top; it++) {
            pl_node *child;
            qp_status st = convert(p, doc, yaml_document_get_node(doc, *it), origin, depth + 1, &child);
            if (st != QP_OK) {
                pl_node_free(n);
                return st;
            }
            if (node_append(n, NULL, child) != 0) {
                pl_node_free(child);
                pl_node_free(n);
                n = NULL;
            }
        }
        break;
    case YAML_MAPPING_NODE:
        n = node_new(PL_MAP, line, col, origin);
        for (yaml_node_pair_t *pr = y->data.mapping.pairs.start; n && pr < y->data.mapping.pairs.top; pr++) {
            pl_node *key, *value;
            qp_status st = convert(p, doc, yaml_document_get_node(doc, pr->key), origin, depth + 1, &key);
            if (st != QP_OK) {
                pl_node_free(n);
                return st;
            }
            if (key->kind != PL_SCALAR) {
                st = pl_error(p, key, QP_ERR_PARSE, "mapping keys must be plain names, not %s", kind_name(key->kind));
                pl_node_free(key);
                pl_node_free(n);
                return st;
            }
            for (int i = 0; i < n->n; i++)
                if (strcmp(n->keys[i]->text, key->text) == 0) {
                    char first[1200];
                    st = pl_error(p, key, QP_ERR_PARSE, "duplicate key '%s' (first at %s)", key->text,
                                  pl_where(p, n->keys[i], first, sizeof first));
                    pl_node_free(key);
                    pl_node_free(n);
                    return st;
                }
            if ((st = convert(p, doc, yaml_document_get_node(doc, pr->value), origin, depth + 1, &value)) != QP_OK) {
                pl_node_free(key);
                pl_node_free(n);
                return st;
            }
            if (node_append(n, key, value) != 0) {
                pl_node_free(key);
                pl_node_free(value);
                pl_node_free(n);
                n = NULL;
            }
        }
        break;
    default:
        return pl_error(p, &probe, QP_ERR_PARSE, "empty YAML node");
    }
    if (!n) return qp_error(QP_ERR_NOMEM, "out of memory reading %s", p->path);
    *out = n;
    return QP_OK;
}

/* Parses text as one YAML document. *root is NULL for an empty document. */
static qp_status parse_yaml(const qp_pipeline *p, const char *text, size_t len, const char *origin, pl_node **root) {
    *root = NULL;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return qp_error(QP_ERR_NOMEM, "out of memory starting libyaml");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    qp_status st = QP_OK;
    if (!yaml_parser_load(&parser, &doc)) {
        pl_node at = {.line = (int)parser.problem_mark.line + 1, .col = (int)parser.problem_mark.column + 1,
                      .origin = origin};
        st = pl_error(p, &at, QP_ERR_PARSE, "malformed YAML: %s%s%s", parser.problem ? parser.problem : "syntax error",
                      parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return st;
    }
    yaml_node_t *y = yaml_document_get_root_node(&doc);
    if (y) st = convert(p, &doc, y, origin, 0, root);
    yaml_document_delete(&doc);
    if (st == QP_OK && y) {
        /* A second document is almost always a stray '---'; refuse rather than ignore it. */
        yaml_document_t more;
        if (yaml_parser_load(&parser, &more)) {
            yaml_node_t *extra = yaml_document_get_root_node(&more);
            if (extra) {
                pl_node at = {.line = (int)extra->start_mark.line + 1, .col = (int)extra->start_mark.column + 1,
                              .origin = origin};
                st = pl_error(p, &at, QP_ERR_PARSE, "a pipeline is one YAML document; found a second one");
            }
            yaml_document_delete(&more);
        }
        if (st != QP_OK) {
            pl_node_free(*root);
            *root = NULL;
        }
    }
    yaml_parser_delete(&parser);
    return st;
}

/* ---- loading ------------------------------------------------------------------------------------- */

static qp_status pipeline_new(const char *name, const char *base_dir, qp_pipeline **out) {
    *out = NULL;
    qp_pipeline *p = calloc(1, sizeof *p);
    if (!p) return qp_error(QP_ERR_NOMEM, "out of memory");
    p->path = dup_str(name);
    p->dir = dup_str(base_dir && *base_dir ? base_dir : ".");
    p->verbosity = QP_LOG_INFO;
    p->progress = -1;
    if (!p->path || !p->dir) {
        qp_pipeline_free(p);
        return qp_error(QP_ERR_NOMEM, "out of memory");
    }
    *out = p;
    return QP_OK;
}

qp_status qp_pipeline_load_string(const char *text, const char *name, const char *base_dir, qp_pipeline **out) {
    *out = NULL;
    qp_pipeline *p = NULL;
    qp_status st = pipeline_new(name ? name : "<pipeline>", base_dir, &p);
    if (st != QP_OK) return st;
    if ((st = parse_yaml(p, text, strlen(text), NULL, &p->root)) != QP_OK) {
        qp_pipeline_free(p);
        return st;
    }
    if (!p->root) {
        st = qp_error(QP_ERR_PARSE, "%s: empty pipeline (it needs at least 'model:')", p->path);
    } else if (p->root->kind != PL_MAP) {
        st = pl_error(p, p->root, QP_ERR_PARSE,
                      "a pipeline is a mapping with keys model, data, quant, layers, passes, run; got %s",
                      kind_name(p->root->kind));
    }
    if (st != QP_OK) {
        qp_pipeline_free(p);
        return st;
    }
    *out = p;
    return QP_OK;
}

qp_status qp_pipeline_load(const char *path, qp_pipeline **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return qp_error(QP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (size_t)64 << 20) {
                free(text);
                fclose(f);
                return qp_error(QP_ERR_PARSE, "%s: larger than 64 MiB; not a pipeline", path);
            }
            char *grown = realloc(text, cap);
            if (!grown) {
                free(text);
                fclose(f);
                return qp_error(QP_ERR_NOMEM, "out of memory reading %s", path);
            }
            text = grown;
        }
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(text);
        return qp_error(QP_ERR_IO, "%s: read error", path);
    }
    text[len] = '\0';
    if (memchr(text, '\0', len)) {
        free(text);
        return qp_error(QP_ERR_PARSE, "%s: contains NUL bytes; not a YAML pipeline", path);
    }
    char *dir = dup_str(path);
    if (!dir) {
        free(text);
        return qp_error(QP_ERR_NOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = '\0';
    else if (slash) *slash = '\0';
    else strcpy(dir, ".");
    qp_status st = qp_pipeline_load_string(text, path, dir, out);
    free(dir);
    free(text);
    return st;
}

static void resolved_clear(qp_pipeline *p) {
    free(p->model);
    p->model = NULL;
    for (int r = 0; r < 2; r++) {
        free(p->data[r].images);
        free(p->data[r].labels);
        free(p->data[r].list);
        memset(&p->data[r], 0, sizeof p->data[r]);
    }
    for (int i = 0; i < p->n_layers; i++) free((void *)p->layers[i].until);
    free(p->layers);
    free(p->layer_nodes);
    p->layers = NULL;
    p->layer_nodes = NULL;
    p->n_layers = 0;
    for (int i = 0; i < p->n_passes; i++) qp_params_free(p->passes[i].params);
    free(p->passes);
    p->passes = NULL;
    p->n_passes = 0;
    p->resolved = 0;
}

void qp_pipeline_free(qp_pipeline *p) {
    if (!p) return;
    resolved_clear(p);
    pl_node_free(p->root);
    for (int i = 0; i < p->n_sets; i++) free(p->sets[i]);
    free(p->sets);
    free(p->path);
    free(p->dir);
    free(p);
}

void qp_pipeline_set_logging(qp_pipeline *p, qp_log_level verbosity, int progress) {
    p->verbosity = verbosity;
    p->progress = progress;
}

/* ---- --set overrides --------------------------------------------------------------------------- */

static const char *const top_keys[] = {"model", "data", "quant", "layers", "passes", "run"};
enum { N_TOP_KEYS = sizeof top_keys / sizeof top_keys[0] };

static int map_index(const pl_node *map, const char *key) {
    for (int i = map->n - 1; i >= 0; i--)
        if (strcmp(map->keys[i]->text, key) == 0) return i;
    return -1;
}

pl_node *pl_map_get(const pl_node *map, const char *key) {
    if (!map || map->kind != PL_MAP) return NULL;
    int i = map_index(map, key);
    return i >= 0 ? map->items[i] : NULL;
}

/* Replaces (or adds) map[key] = value; takes ownership of value. */
static qp_status map_put(pl_node *map, const char *key, pl_node *value, const char *origin) {
    int i = map_index(map, key);
    if (i >= 0) {
        pl_node_free(map->items[i]);
        map->items[i] = value;
        return QP_OK;
    }
    pl_node *k = node_new(PL_SCALAR, 0, 0, origin);
    if (!k || !(k->text = dup_str(key)) || node_append(map, k, value) != 0) {
        pl_node_free(k);
        pl_node_free(value);
        return qp_error(QP_ERR_NOMEM, "out of memory");
    }
    return QP_OK;
}

/* The mapping at map[key], created (or replacing a null/scalar) when needed. */
static pl_node *map_child_map(pl_node *map, const char *key, const char *origin) {
    pl_node *child = pl_map_get(map, key);
    if (child && (child->kind == PL_MAP || child->kind == PL_SEQ)) return child;
    pl_node *fresh = node_new(PL_MAP, 0, 0, origin);
    if (!fresh || map_put(map, key, fresh, origin) != QP_OK) return NULL;
    return fresh;
}

static qp_status set_error(const char *assignment, const char *fmt, ...) QP_PRINTF(2, 3);
static qp_status set_error(const char *assignment, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qp_error(QP_ERR_INVALID_ARG, "--set %s: %s", assignment, msg);
}

/* The name of a passes: entry (scalar or single-key mapping), or NULL. */
const char *pl_pass_entry_name(const pl_node *entry) {
    if (entry->kind == PL_SCALAR) return entry->text;
    if (entry->kind == PL_MAP && entry->n == 1) return entry->keys[0]->text;
    return NULL;
}

/* Sets one parameter on every passes: entry called name. */
static qp_status set_pass_param(qp_pipeline *p, const char *origin, const char *pass, const char *param,
                                pl_node *value) {
    pl_node *passes = pl_map_get(p->root, "passes");
    int hits = 0;
    qp_status st = QP_OK;
    for (int i = 0; passes && passes->kind == PL_SEQ && i < passes->n && st == QP_OK; i++) {
        pl_node *entry = passes->items[i];
        const char *name = pl_pass_entry_name(entry);
        if (!name || strcmp(name, pass) != 0) continue;
        if (entry->kind == PL_SCALAR) { /* "- calib_minmax" becomes "- calib_minmax: {}" */
            pl_node *map = node_new(PL_MAP, entry->line, entry->col, entry->origin);
            pl_node *key = node_new(PL_SCALAR, entry->line, entry->col, entry->origin);
            pl_node *params = node_new(PL_MAP, entry->line, entry->col, origin);
            if (!map || !key || !params || !(key->text = dup_str(name)) || node_append(map, key, params) != 0) {
                pl_node_free(map);
                pl_node_free(key);
                pl_node_free(params);
                st = qp_error(QP_ERR_NOMEM, "out of memory");
                break;
            }
            pl_node_free(entry);
            passes->items[i] = entry = map;
        }
        pl_node *params = entry->items[0];
        if (params->kind != PL_MAP) {
            pl_node *fresh = node_new(PL_MAP, params->line, params->col, origin);
            if (!fresh) return qp_error(QP_ERR_NOMEM, "out of memory");
            pl_node_free(params);
            entry->items[0] = params = fresh;
        }
        pl_node *copy = hits == 0 ? value : NULL;
        if (hits > 0) { /* the same value for a second instance of the pass */
            copy = node_new(value->kind, value->line, value->col, value->origin);
            if (!copy) return qp_error(QP_ERR_NOMEM, "out of memory");
            if (value->kind == PL_SCALAR || value->kind == PL_NULL) copy->text = dup_str(value->text);
            if (value->kind == PL_SEQ || value->kind == PL_MAP) {
                pl_node_free(copy);
                return set_error(origin, "a list or mapping can be set on one instance of pass '%s' only", pass);
            }
        }
        st = map_put(params, param, copy, origin);
        hits++;
    }
    if (hits == 0) {
        pl_node_free(value);
        char names[1024] = "";
        size_t used = 0;
        for (int i = 0; passes && passes->kind == PL_SEQ && i < passes->n && used < sizeof names; i++) {
            const char *name = pl_pass_entry_name(passes->items[i]);
            if (name) used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", name);
        }
        return set_error(origin,
                         "'%s' is neither a pipeline key (model, data, quant, layers, passes, run) nor a pass of "
                         "this pipeline (passes: %s)",
                         pass, used ? names : "none");
    }
    return st;
}

static int has_pass(const qp_pipeline *p, const char *name) {
    const pl_node *passes = pl_map_get(p->root, "passes");
    for (int i = 0; passes && passes->kind == PL_SEQ && i < passes->n; i++) {
        const char *entry = pl_pass_entry_name(passes->items[i]);
        if (entry && strcmp(entry, name) == 0) return 1;
    }
    return 0;
}

qp_status qp_pipeline_set(qp_pipeline *p, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return qp_error(QP_ERR_INVALID_ARG, "--set %s: expected KEY=VALUE (e.g. data.calibration.count=64)",
                        assignment);
    char **grown = realloc(p->sets, (size_t)(p->n_sets + 1) * sizeof *grown);
    if (!grown) return qp_error(QP_ERR_NOMEM, "out of memory");
    p->sets = grown;
    char *origin = dup_str(assignment);
    if (!origin) return qp_error(QP_ERR_NOMEM, "out of memory");
    p->sets[p->n_sets++] = origin;
    p->resolved = 0;

    char *key = dup_n(assignment, (size_t)(eq - assignment));
    if (!key) return qp_error(QP_ERR_NOMEM, "out of memory");
    const char *text = eq + 1;
    /* The value is YAML ("[1, 2]" is a list, "true" a bool); anything libyaml rejects is taken
     * as a plain string, so paths with odd characters still work. */
    pl_node *value = NULL;
    qp_error_clear();
    if (parse_yaml(p, text, strlen(text), origin, &value) != QP_OK || !value) {
        pl_node_free(value);
        value = node_new(*text ? PL_SCALAR : PL_NULL, 0, 0, origin);
        if (value && !(value->text = dup_str(text))) {
            pl_node_free(value);
            value = NULL;
        }
    }
    qp_status st = value ? QP_OK : qp_error(QP_ERR_NOMEM, "out of memory");
    char *parts[16];
    int n_parts = 0;
    for (char *tok = key, *next; st == QP_OK && tok; tok = next) {
        next = strchr(tok, '.');
        if (next) *next++ = '\0';
        if (!*tok) st = set_error(origin, "empty component in key '%.*s'", (int)(eq - assignment), assignment);
        else if (n_parts == 16) st = set_error(origin, "key nested too deep");
        else parts[n_parts++] = tok;
    }
    int is_top = 0;
    for (int i = 0; st == QP_OK && i < N_TOP_KEYS; i++) is_top |= strcmp(parts[0], top_keys[i]) == 0;
    if (st != QP_OK) {
        pl_node_free(value);
    } else if (strcmp(parts[0], "passes") == 0 && n_parts == 3) {
        st = set_pass_param(p, origin, parts[1], parts[2], value);
    } else if (!is_top) {
        if (n_parts != 2 && has_pass(p, parts[0])) {
            pl_node_free(value);
            st = set_error(origin, "pass parameters are set as PASS.PARAM=VALUE");
        } else {
            st = set_pass_param(p, origin, parts[0], n_parts > 1 ? parts[1] : "", value);
        }
    } else {
        pl_node *at = p->root;
        for (int i = 0; st == QP_OK && i < n_parts - 1; i++) {
            if (at->kind == PL_SEQ) { /* layers.0.bits */
                char *end;
                long idx = strtol(parts[i], &end, 10);
                if (*end || idx < 0 || idx >= at->n) {
                    st = set_error(origin, "'%s' is not an index of the list (0..%d)", parts[i], at->n - 1);
                    break;
                }
                pl_node *item = at->items[idx];
                if (item->kind != PL_MAP) {
                    st = set_error(origin, "item %ld is %s, not a mapping", idx, kind_name(item->kind));
                    break;
                }
                at = item;
                continue;
            }
            at = map_child_map(at, parts[i], origin);
            if (!at) st = qp_error(QP_ERR_NOMEM, "out of memory");
        }
        if (st == QP_OK && at->kind != PL_MAP)
            st = set_error(origin, "'%s' is a list; give an index", parts[n_parts - 2]);
        if (st == QP_OK) st = map_put(at, parts[n_parts - 1], value, origin);
        else pl_node_free(value);
    }
    free(key);
    return st;
}

/* ---- accessors ------------------------------------------------------------------------------------ */

const char *qp_pipeline_path(const qp_pipeline *p) { return p->path; }
const char *qp_pipeline_model(const qp_pipeline *p) { return p->model; }
int qp_pipeline_num_passes(const qp_pipeline *p) { return p->n_passes; }
const char *qp_pipeline_pass_name(const qp_pipeline *p, int i) {
    return i >= 0 && i < p->n_passes ? p->passes[i].def->name : NULL;
}
const qp_params *qp_pipeline_pass_params(const qp_pipeline *p, int i) {
    return i >= 0 && i < p->n_passes ? p->passes[i].params : NULL;
}
const qp_quant_config *qp_pipeline_quant(const qp_pipeline *p) { return &p->quant; }
int qp_pipeline_batch(const qp_pipeline *p) { return p->batch; }
int qp_pipeline_threads(const qp_pipeline *p) { return p->threads; }
int qp_pipeline_num_layers(const qp_pipeline *p) { return p->n_layers; }
const qp_layer_override *qp_pipeline_layer(const qp_pipeline *p, int i) {
    return i >= 0 && i < p->n_layers ? &p->layers[i] : NULL;
}
const qp_dataset_config *qp_pipeline_data(const qp_pipeline *p, int role) {
    if (role < 0 || role > 1 || !p->data[role].present) return NULL;
    return &p->data[role].cfg;
}

void pl_resolved_clear(qp_pipeline *p) { resolved_clear(p); }
