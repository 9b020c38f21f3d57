/* resolve.c — checks a pipeline tree against the schema (keys, types, ranges, passes, paths) and fills its run configuration. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "pipeline/pipeline_impl.h"
#include "plugin/params.h"

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *kind_desc(const pl_node *n) {
    switch (n->kind) {
    case PL_NULL: return "nothing";
    case PL_SCALAR: return n->text;
    case PL_SEQ: return "a list";
    case PL_MAP: return "a mapping";
    }
    return "?";
}

static void join_names(const char *const *names, int n, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", names[i]);
}

/* Every key of map must be in allowed; the message names the key, where it is and what is allowed. */
static qp_status check_keys(const qp_pipeline *p, const pl_node *map, const char *what, const char *const *allowed,
                            int n_allowed) {
    for (int i = 0; i < map->n; i++) {
        const char *key = map->keys[i]->text;
        int ok = 0;
        for (int a = 0; a < n_allowed && !ok; a++) ok = strcmp(key, allowed[a]) == 0;
        if (ok) continue;
        char list[512];
        join_names(allowed, n_allowed, list, sizeof list);
        const char *close = qp_closest_name(key, allowed, n_allowed);
        if (close)
            return pl_error(p, map->keys[i], QP_ERR_INVALID_ARG, "unknown key '%s' in %s (did you mean '%s'? allowed: %s)",
                            key, what, close, list);
        return pl_error(p, map->keys[i], QP_ERR_INVALID_ARG, "unknown key '%s' in %s (allowed: %s)", key, what, list);
    }
    return QP_OK;
}

/* A section that must be a mapping; NULL when absent or null (= not given). */
static qp_status section(const qp_pipeline *p, const pl_node *parent, const char *key, const char *what,
                         const char *const *allowed, int n_allowed, const pl_node **out) {
    *out = NULL;
    const pl_node *n = pl_map_get(parent, key);
    if (!n || n->kind == PL_NULL) return QP_OK;
    if (n->kind != PL_MAP) {
        char list[512];
        join_names(allowed, n_allowed, list, sizeof list);
        return pl_error(p, n, QP_ERR_INVALID_ARG, "%s must be a mapping (keys: %s), got %s", what, list,
                        n->kind == PL_SCALAR ? "a scalar" : "a list");
    }
    *out = n;
    return check_keys(p, n, what, allowed, n_allowed);
}

static qp_status want_scalar(const qp_pipeline *p, const pl_node *n, const char *what, const char *type) {
    if (n->kind == PL_SCALAR) return QP_OK;
    return pl_error(p, n, QP_ERR_INVALID_ARG, "%s must be %s, got %s", what, type, kind_desc(n));
}

static qp_status get_int(const qp_pipeline *p, const pl_node *n, const char *what, long long lo, long long hi,
                         long long *out) {
    char type[96];
    snprintf(type, sizeof type, "an integer in %lld..%lld", lo, hi);
    qp_status st = want_scalar(p, n, what, type);
    if (st != QP_OK) return st;
    char *end;
    errno = 0;
    long long v = strtoll(n->text, &end, 10);
    if (errno || end == n->text || *end)
        return pl_error(p, n, QP_ERR_INVALID_ARG, "%s must be %s, got '%s'", what, type, n->text);
    if (v < lo || v > hi) return pl_error(p, n, QP_ERR_INVALID_ARG, "%s: %lld is out of range %lld..%lld", what, v, lo, hi);
    *out = v;
    return QP_OK;
}

static qp_status get_bool(const qp_pipeline *p, const pl_node *n, const char *what, int *out) {
    qp_status st = want_scalar(p, n, what, "true or false");
    if (st != QP_OK) return st;
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(n->text, yes[i]) == 0) return *out = 1, QP_OK;
        if (strcasecmp(n->text, no[i]) == 0) return *out = 0, QP_OK;
    }
    return pl_error(p, n, QP_ERR_INVALID_ARG, "%s must be true or false, got '%s'", what, n->text);
}

/* A path from the file is relative to the pipeline's folder; one from --set to the current
 * directory (where the user typed it). The path must exist. */
static qp_status get_path(const qp_pipeline *p, const pl_node *n, const char *what, char **out) {
    *out = NULL;
    qp_status st = want_scalar(p, n, what, "a path");
    if (st != QP_OK) return st;
    char *path;
    if (n->origin || n->text[0] == '/' || strcmp(p->dir, ".") == 0) {
        path = strdup(n->text);
    } else {
        size_t a = strlen(p->dir), b = strlen(n->text);
        path = malloc(a + b + 2);
        if (path) snprintf(path, a + b + 2, "%s%s%s", p->dir, p->dir[a - 1] == '/' ? "" : "/", n->text);
    }
    if (!path) return qp_error(QP_ERR_NOMEM, "out of memory");
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int err = errno;
        if (strcmp(path, n->text) != 0)
            st = pl_error(p, n, QP_ERR_IO, "%s: cannot find '%s' (looked for %s: %s)", what, n->text, path, strerror(err));
        else
            st = pl_error(p, n, QP_ERR_IO, "%s: cannot find '%s': %s", what, n->text, strerror(err));
        free(path);
        return st;
    }
    *out = path;
    return QP_OK;
}

static qp_status resolve_data(qp_pipeline *p, const pl_node *data, const char *key, pl_data *d) {
    static const char *const keys[] = {"images", "labels", "list", "count", "class_dirs"};
    char what[64];
    snprintf(what, sizeof what, "data.%s", key);
    const pl_node *m;
    qp_status st = section(p, data, key, what, keys, COUNT(keys), &m);
    if (st != QP_OK || !m) return st;
    d->node = m;
    qp_dataset_config_init(&d->cfg);
    const pl_node *images = pl_map_get(m, "images");
    if (!images || images->kind == PL_NULL)
        return pl_error(p, m, QP_ERR_INVALID_ARG, "%s needs 'images' (a JPEG folder or an IDX file)", what);
    char field[96];
    snprintf(field, sizeof field, "%s.images", what);
    if ((st = get_path(p, images, field, &d->images)) != QP_OK) return st;
    d->images_node = images;
    const pl_node *n;
    if ((n = pl_map_get(m, "labels")) && n->kind != PL_NULL) {
        snprintf(field, sizeof field, "%s.labels", what);
        if ((st = get_path(p, n, field, &d->labels)) != QP_OK) return st;
    }
    if ((n = pl_map_get(m, "list")) && n->kind != PL_NULL) {
        snprintf(field, sizeof field, "%s.list", what);
        if ((st = get_path(p, n, field, &d->list)) != QP_OK) return st;
    }
    if ((n = pl_map_get(m, "count")) && n->kind != PL_NULL) {
        long long count;
        snprintf(field, sizeof field, "%s.count", what);
        if ((st = get_int(p, n, field, 0, (long long)1 << 40, &count)) != QP_OK) return st;
        d->cfg.count = count;
    }
    if ((n = pl_map_get(m, "class_dirs")) && n->kind != PL_NULL) {
        snprintf(field, sizeof field, "%s.class_dirs", what);
        if ((st = want_scalar(p, n, field, "auto, yes or no")) != QP_OK) return st;
        if (strcmp(n->text, "auto") == 0) d->cfg.class_dirs = QP_CLASS_DIRS_AUTO;
        else if (strcmp(n->text, "yes") == 0 || strcmp(n->text, "true") == 0) d->cfg.class_dirs = QP_CLASS_DIRS_YES;
        else if (strcmp(n->text, "no") == 0 || strcmp(n->text, "false") == 0) d->cfg.class_dirs = QP_CLASS_DIRS_NO;
        else return pl_error(p, n, QP_ERR_INVALID_ARG, "%s must be auto, yes or no, got '%s'", field, n->text);
    }
    d->cfg.images = d->images;
    d->cfg.labels = d->labels;
    d->cfg.list = d->list;
    d->present = 1;
    return QP_OK;
}

/* One preprocess value as the text qp_preprocess_set reads: lists join with ',' (mean, std) or
 * 'x' (resize, crop as [H, W]). */
static qp_status preprocess_text(const qp_pipeline *p, const pl_node *n, const char *key, char *buf, size_t cap) {
    char what[64];
    snprintf(what, sizeof what, "data.preprocess.%s", key);
    if (n->kind == PL_SCALAR) {
        snprintf(buf, cap, "%s", n->text);
        return QP_OK;
    }
    if (n->kind != PL_SEQ || n->n == 0)
        return pl_error(p, n, QP_ERR_INVALID_ARG, "%s must be a value or a list of values, got %s", what, kind_desc(n));
    const char *sep = strcmp(key, "resize") == 0 || strcmp(key, "crop") == 0 ? "x" : ",";
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n->n; i++) {
        qp_status st = want_scalar(p, n->items[i], what, "a list of numbers");
        if (st != QP_OK) return st;
        used += (size_t)snprintf(buf + used, used < cap ? cap - used : 0, "%s%s", i ? sep : "", n->items[i]->text);
    }
    if (used >= cap) return pl_error(p, n, QP_ERR_INVALID_ARG, "%s: value too long", what);
    return QP_OK;
}

static qp_status resolve_preprocess(qp_pipeline *p, const pl_node *data, qp_preprocess *pp) {
    static const char *const keys[] = {"preset", "resize", "crop", "mean", "std", "scale", "color", "layout"};
    const pl_node *m;
    qp_status st = section(p, data, "preprocess", "data.preprocess", keys, COUNT(keys), &m);
    qp_preprocess_init(pp);
    if (st != QP_OK || !m) return st;
    p->preprocess_node = m;
    /* preset first: it sets several options that the other keys then refine */
    for (int k = 0; k < COUNT(keys); k++) {
        const pl_node *n = pl_map_get(m, keys[k]);
        if (!n || n->kind == PL_NULL) continue;
        char text[1024];
        if ((st = preprocess_text(p, n, keys[k], text, sizeof text)) != QP_OK) return st;
        if ((st = qp_preprocess_set(pp, keys[k], text)) != QP_OK)
            return pl_error(p, n, st, "data.preprocess.%s: %s", keys[k], qp_error_message());
    }
    if ((st = qp_preprocess_validate(pp)) != QP_OK) return pl_error(p, m, st, "data.preprocess: %s", qp_error_message());
    return QP_OK;
}

static qp_status resolve_quant(qp_pipeline *p, const pl_node *root) {
    static const char *const keys[] = {"weights", "activations"};
    static const char *const wkeys[] = {"bits", "granularity", "symmetric"};
    static const char *const akeys[] = {"bits", "symmetric"};
    qp_quant_config_init(&p->quant);
    const pl_node *q, *w, *a, *n;
    qp_status st = section(p, root, "quant", "quant", keys, COUNT(keys), &q);
    if (st != QP_OK || !q) return st;
    if ((st = section(p, q, "weights", "quant.weights", wkeys, COUNT(wkeys), &w)) != QP_OK) return st;
    if ((st = section(p, q, "activations", "quant.activations", akeys, COUNT(akeys), &a)) != QP_OK) return st;
    long long bits;
    if (w && (n = pl_map_get(w, "bits")) && n->kind != PL_NULL) {
        if ((st = get_int(p, n, "quant.weights.bits", 2, 16, &bits)) != QP_OK) return st;
        p->quant.weights.bits = (int)bits;
    }
    if (w && (n = pl_map_get(w, "symmetric")) && n->kind != PL_NULL)
        if ((st = get_bool(p, n, "quant.weights.symmetric", &p->quant.weights.symmetric)) != QP_OK) return st;
    if (w && (n = pl_map_get(w, "granularity")) && n->kind != PL_NULL) {
        if ((st = want_scalar(p, n, "quant.weights.granularity", "per_channel or per_tensor")) != QP_OK) return st;
        if (strcmp(n->text, "per_channel") == 0) p->quant.weights.per_channel = 1;
        else if (strcmp(n->text, "per_tensor") == 0) p->quant.weights.per_channel = 0;
        else
            return pl_error(p, n, QP_ERR_INVALID_ARG, "quant.weights.granularity must be per_channel or per_tensor, got '%s'",
                            n->text);
    }
    if (a && (n = pl_map_get(a, "bits")) && n->kind != PL_NULL) {
        if ((st = get_int(p, n, "quant.activations.bits", 2, 16, &bits)) != QP_OK) return st;
        p->quant.activations.bits = (int)bits;
    }
    if (a && (n = pl_map_get(a, "symmetric")) && n->kind != PL_NULL)
        if ((st = get_bool(p, n, "quant.activations.symmetric", &p->quant.activations.symmetric)) != QP_OK) return st;
    return QP_OK;
}

static qp_status resolve_layers(qp_pipeline *p, const pl_node *root) {
    static const char *const keys[] = {"name", "skip", "until", "bits"};
    const pl_node *list = pl_map_get(root, "layers");
    if (!list || list->kind == PL_NULL) return QP_OK;
    if (list->kind != PL_SEQ)
        return pl_error(p, list, QP_ERR_INVALID_ARG, "layers must be a list of {name, skip, until, bits}, got %s",
                        kind_desc(list));
    p->layers = calloc((size_t)(list->n ? list->n : 1), sizeof *p->layers);
    p->layer_nodes = calloc((size_t)(list->n ? list->n : 1), sizeof *p->layer_nodes);
    if (!p->layers || !p->layer_nodes) return qp_error(QP_ERR_NOMEM, "out of memory");
    for (int i = 0; i < list->n; i++) {
        const pl_node *e = list->items[i], *n;
        char what[64];
        snprintf(what, sizeof what, "layers[%d]", i);
        if (e->kind != PL_MAP)
            return pl_error(p, e, QP_ERR_INVALID_ARG, "%s must be a mapping {name, skip, until, bits}, got %s", what,
                            kind_desc(e));
        qp_status st = check_keys(p, e, what, keys, COUNT(keys));
        if (st != QP_OK) return st;
        qp_layer_override *l = &p->layers[i];
        p->layer_nodes[i] = e;
        p->n_layers = i + 1;
        l->skip = -1;
        n = pl_map_get(e, "name");
        if (!n || n->kind == PL_NULL) return pl_error(p, e, QP_ERR_INVALID_ARG, "%s needs 'name' (a node of the model)", what);
        if ((st = want_scalar(p, n, "name", "a node name")) != QP_OK) return st;
        l->name = n->text;
        if ((n = pl_map_get(e, "skip")) && n->kind != PL_NULL)
            if ((st = get_bool(p, n, "skip", &l->skip)) != QP_OK) return st;
        if ((n = pl_map_get(e, "bits")) && n->kind != PL_NULL) {
            long long bits;
            if ((st = get_int(p, n, "bits", 2, 16, &bits)) != QP_OK) return st;
            l->bits = (int)bits;
        }
        if ((n = pl_map_get(e, "until")) && n->kind != PL_NULL) {
            int count = n->kind == PL_SEQ ? n->n : 1;
            if (count == 0) return pl_error(p, n, QP_ERR_INVALID_ARG, "until: name at least one node");
            const char **names = calloc((size_t)count, sizeof *names);
            if (!names) return qp_error(QP_ERR_NOMEM, "out of memory");
            l->until = names;
            l->n_until = count;
            for (int k = 0; k < count; k++) {
                const pl_node *u = n->kind == PL_SEQ ? n->items[k] : n;
                if ((st = want_scalar(p, u, "until", "a node name or a list of them")) != QP_OK) return st;
                names[k] = u->text;
            }
        }
    }
    return QP_OK;
}

static qp_status resolve_passes(qp_pipeline *p, const pl_node *root, const qp_registry *reg) {
    const pl_node *list = pl_map_get(root, "passes");
    if (!list || list->kind == PL_NULL) return QP_OK;
    if (list->kind != PL_SEQ)
        return pl_error(p, list, QP_ERR_INVALID_ARG, "passes must be a list of 'name' or 'name: {param: value}', got %s",
                        kind_desc(list));
    p->passes = calloc((size_t)(list->n ? list->n : 1), sizeof *p->passes);
    if (!p->passes) return qp_error(QP_ERR_NOMEM, "out of memory");
    char where[1200];
    for (int i = 0; i < list->n; i++) {
        const pl_node *e = list->items[i];
        const char *name = pl_pass_entry_name(e);
        if (!name) {
            if (e->kind == PL_MAP && e->n > 1)
                return pl_error(p, e, QP_ERR_INVALID_ARG,
                                "a pass is written 'name' or 'name: {param: value}'; this entry has %d keys (%s, %s, ...): "
                                "indent parameters under the pass name",
                                e->n, e->keys[0]->text, e->keys[1]->text);
            return pl_error(p, e, QP_ERR_INVALID_ARG, "a pass is written 'name' or 'name: {param: value}', got %s",
                            kind_desc(e));
        }
        const pl_node *name_node = e->kind == PL_MAP ? e->keys[0] : e;
        const qp_pass_def *def = qp_registry_find(reg, name, NULL);
        if (!def) return qp_registry_unknown_pass(reg, pl_where(p, name_node, where, sizeof where), name);
        pl_pass *ps = &p->passes[p->n_passes++];
        ps->def = def;
        ps->node = name_node;
        qp_status st = qp_params_new(def, &ps->params);
        if (st != QP_OK) return st;
        const pl_node *params = e->kind == PL_MAP ? e->items[0] : NULL;
        if (params && params->kind != PL_NULL && params->kind != PL_MAP)
            return pl_error(p, params, QP_ERR_INVALID_ARG, "parameters of pass '%s' must be a mapping {param: value}, got %s",
                            name, kind_desc(params));
        for (int k = 0; params && params->kind == PL_MAP && k < params->n; k++) {
            const pl_node *key = params->keys[k], *value = params->items[k];
            int known = 0;
            for (int d = 0; d < def->n_params && !known; d++) known = strcmp(def->params[d].name, key->text) == 0;
            /* unknown names point at the key, bad values at the value */
            const pl_node *at = known ? value : key;
            if (value->kind == PL_SEQ || value->kind == PL_MAP)
                return pl_error(p, value, QP_ERR_INVALID_ARG, "parameter '%s' of pass '%s' must be a single value, got %s",
                                key->text, name, kind_desc(value));
            st = qp_params_set(ps->params, key->text, value->text ? value->text : "", pl_where(p, at, where, sizeof where));
            if (st != QP_OK) return st;
        }
        if ((st = qp_params_check_required(ps->params, pl_where(p, name_node, where, sizeof where))) != QP_OK) return st;
    }
    return QP_OK;
}

static qp_status resolve_run(qp_pipeline *p, const pl_node *root) {
    static const char *const keys[] = {"batch", "threads"};
    const pl_node *r, *n;
    p->batch = 8;
    p->threads = 0;
    qp_status st = section(p, root, "run", "run", keys, COUNT(keys), &r);
    if (st != QP_OK || !r) return st;
    long long v;
    if ((n = pl_map_get(r, "batch")) && n->kind != PL_NULL) {
        if ((st = get_int(p, n, "run.batch", 1, 4096, &v)) != QP_OK) return st;
        p->batch = (int)v;
    }
    if ((n = pl_map_get(r, "threads")) && n->kind != PL_NULL) {
        if ((st = get_int(p, n, "run.threads", 0, 1024, &v)) != QP_OK) return st;
        p->threads = (int)v;
    }
    return QP_OK;
}

qp_status qp_pipeline_resolve(qp_pipeline *p, const qp_registry *reg) {
    pl_resolved_clear(p);
    static const char *const top[] = {"model", "data", "quant", "layers", "passes", "run"};
    static const char *const data_keys[] = {"calibration", "evaluation", "preprocess"};
    const pl_node *root = p->root;
    qp_status st = check_keys(p, root, "the pipeline", top, COUNT(top));
    if (st != QP_OK) return st;
    /* Cheap structural checks first, then the file system: a typo is reported before a path. */
    const pl_node *data;
    if ((st = section(p, root, "data", "data", data_keys, COUNT(data_keys), &data)) != QP_OK) return st;
    qp_preprocess pp;
    if ((st = resolve_preprocess(p, data, &pp)) != QP_OK) return st;
    if ((st = resolve_quant(p, root)) != QP_OK) return st;
    if ((st = resolve_layers(p, root)) != QP_OK) return st;
    if ((st = resolve_run(p, root)) != QP_OK) return st;
    if ((st = resolve_passes(p, root, reg)) != QP_OK) return st;
    const pl_node *model = pl_map_get(root, "model");
    if (!model || model->kind == PL_NULL)
        return pl_error(p, root, QP_ERR_INVALID_ARG, "the pipeline needs 'model: path/to/model.onnx'");
    if ((st = get_path(p, model, "model", &p->model)) != QP_OK) return st;
    p->model_node = model;
    if ((st = resolve_data(p, data, "calibration", &p->data[0])) != QP_OK) return st;
    if ((st = resolve_data(p, data, "evaluation", &p->data[1])) != QP_OK) return st;
    for (int r = 0; r < 2; r++) {
        p->data[r].cfg.preprocess = pp;
        p->data[r].cfg.threads = p->threads;
    }
    p->resolved = 1;
    return QP_OK;
}
