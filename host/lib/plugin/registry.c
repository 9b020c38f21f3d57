/* registry.c — the pass table: checks each pass before it joins, lookups, and "unknown pass" messages. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/builtin.h"
#include "plugin/params.h"
#include "plugin/registry_internal.h"

qp_status qp_registry_new(qp_registry **out) {
    if (!out) return qp_error(QP_ERR_INVALID_ARG, "qp_registry_new: out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? QP_OK : qp_error(QP_ERR_NOMEM, "out of memory for the pass registry");
}

/* Grows *items to hold at least need elements of `size` bytes. */
static int grow(void **items, int *cap, int need, size_t size) {
    if (need <= *cap) return 0;
    int new_cap = *cap ? *cap * 2 : 16;
    while (new_cap < need) new_cap *= 2;
    void *bigger = realloc(*items, (size_t)new_cap * size);
    if (!bigger) return -1;
    *items = bigger;
    *cap = new_cap;
    return 0;
}

qp_status qp_registry_add_note(qp_registry *reg, const char *fmt, ...) {
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    char *copy = strdup(text);
    if (!copy || grow((void **)&reg->notes, &reg->cap_notes, reg->n_notes + 1, sizeof *reg->notes) != 0) {
        free(copy);
        return qp_error(QP_ERR_NOMEM, "out of memory for registry notes");
    }
    reg->notes[reg->n_notes++] = copy;
    return QP_OK;
}

static int valid_name(const char *name) {
    if (!name || !*name) return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_')) return 0;
    return 1;
}

/* Everything about one pass that does not depend on the other passes. */
static qp_status check_pass(const qp_pass_def *def, int index, const char *origin) {
    if (!def->name) return qp_error(QP_ERR_INVALID_ARG, "%s: pass #%d has no name", origin, index);
    if (!valid_name(def->name))
        return qp_error(QP_ERR_INVALID_ARG, "%s: pass name '%s' is invalid (allowed: lowercase letters, digits, '_')",
                        origin, def->name);
    if (!def->run) return qp_error(QP_ERR_INVALID_ARG, "%s: pass '%s' has no run function", origin, def->name);
    if (!def->version) return qp_error(QP_ERR_INVALID_ARG, "%s: pass '%s' has no version", origin, def->name);
    if (!def->summary) return qp_error(QP_ERR_INVALID_ARG, "%s: pass '%s' has no summary", origin, def->name);
    if (def->n_params < 0 || (def->n_params > 0 && !def->params))
        return qp_error(QP_ERR_INVALID_ARG, "%s: pass '%s' has a bad parameter table (n_params %d, params %s)", origin,
                        def->name, def->n_params, def->params ? "set" : "NULL");
    for (int k = 0; k < def->n_params; k++) {
        const qp_param_def *p = &def->params[k];
        qp_status st = qp_param_def_check(p);
        if (st != QP_OK) return qp_error_prefix(st, "%s: pass '%s': ", origin, def->name);
        for (int j = 0; j < k; j++)
            if (strcmp(def->params[j].name, p->name) == 0)
                return qp_error(QP_ERR_INVALID_ARG, "%s: pass '%s': parameter '%s' is declared twice", origin,
                                def->name, p->name);
    }
    return QP_OK;
}

static const char *origin_label(const char *origin) {
    return strcmp(origin, QP_ORIGIN_BUILTIN) == 0 ? "the built-in passes" : origin;
}

static int find_index(const qp_registry *reg, const char *name, int *insert_at) {
    int lo = 0, hi = reg->n_passes;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(reg->passes[mid].def->name, name);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    if (insert_at) *insert_at = lo;
    return -1;
}

qp_status qp_registry_add_batch(qp_registry *reg, const qp_pass_def *defs, int n_defs, const char *origin) {
    if (!reg || !origin || n_defs < 0 || (n_defs > 0 && !defs))
        return qp_error(QP_ERR_INVALID_ARG, "qp_registry_add: bad arguments");
    for (int i = 0; i < n_defs; i++) {
        qp_status st = check_pass(&defs[i], i, origin);
        if (st != QP_OK) return st;
        int taken = find_index(reg, defs[i].name, NULL);
        if (taken >= 0)
            return qp_error(QP_ERR_INVALID_ARG, "pass '%s' from %s is already provided by %s", defs[i].name,
                            origin_label(origin), origin_label(reg->passes[taken].origin));
        for (int j = 0; j < i; j++)
            if (strcmp(defs[j].name, defs[i].name) == 0)
                return qp_error(QP_ERR_INVALID_ARG, "%s: pass '%s' is listed twice", origin, defs[i].name);
    }
    if (grow((void **)&reg->passes, &reg->cap_passes, reg->n_passes + n_defs, sizeof *reg->passes) != 0)
        return qp_error(QP_ERR_NOMEM, "out of memory registering passes from %s", origin);
    char **origins = calloc((size_t)(n_defs ? n_defs : 1), sizeof *origins);
    int ok = origins != NULL;
    for (int i = 0; ok && i < n_defs; i++) ok = (origins[i] = strdup(origin)) != NULL;
    if (!ok) {
        for (int i = 0; origins && i < n_defs; i++) free(origins[i]);
        free(origins);
        return qp_error(QP_ERR_NOMEM, "out of memory registering passes from %s", origin);
    }
    for (int i = 0; i < n_defs; i++) {
        int at = 0;
        find_index(reg, defs[i].name, &at);
        memmove(&reg->passes[at + 1], &reg->passes[at], (size_t)(reg->n_passes - at) * sizeof *reg->passes);
        reg->passes[at] = (registry_pass){&defs[i], origins[i]};
        reg->n_passes++;
    }
    free(origins);
    return QP_OK;
}

qp_status qp_registry_add(qp_registry *reg, const qp_pass_def *def, const char *origin) {
    if (!def) return qp_error(QP_ERR_INVALID_ARG, "qp_registry_add: def is NULL");
    return qp_registry_add_batch(reg, def, 1, origin);
}

qp_status qp_registry_add_builtins(qp_registry *reg) {
    for (int i = 0; qp_builtin_passes[i]; i++) {
        qp_status st = qp_registry_add(reg, qp_builtin_passes[i], QP_ORIGIN_BUILTIN);
        if (st != QP_OK) return st;
    }
    return QP_OK;
}

int qp_registry_count(const qp_registry *reg) { return reg ? reg->n_passes : 0; }

const qp_pass_def *qp_registry_pass(const qp_registry *reg, int i, const char **origin) {
    if (!reg || i < 0 || i >= reg->n_passes) return NULL;
    if (origin) *origin = reg->passes[i].origin;
    return reg->passes[i].def;
}

const qp_pass_def *qp_registry_find(const qp_registry *reg, const char *name, const char **origin) {
    if (!reg || !name) return NULL;
    int i = find_index(reg, name, NULL);
    return i < 0 ? NULL : qp_registry_pass(reg, i, origin);
}

int qp_registry_num_notes(const qp_registry *reg) { return reg ? reg->n_notes : 0; }

const char *qp_registry_note(const qp_registry *reg, int i) {
    return reg && i >= 0 && i < reg->n_notes ? reg->notes[i] : NULL;
}

int qp_registry_num_search_entries(const qp_registry *reg) { return reg ? reg->n_search : 0; }

const char *qp_registry_search_entry(const qp_registry *reg, int i) {
    return reg && i >= 0 && i < reg->n_search ? reg->search[i] : NULL;
}

/* Optimal string alignment distance (Levenshtein plus adjacent swaps: "bnis" -> "bins" is 1),
 * ignoring case ("KL" is a likely typo of "kl"). */
static int edit_distance(const char *a, const char *b) {
    size_t m = strlen(a), n = strlen(b);
    if (m > 256 || n > 256) return 1 << 20;
    int *rows = malloc(3 * (n + 1) * sizeof *rows);
    if (!rows) return 1 << 20;
    int *prev2 = rows, *prev = rows + n + 1, *cur = rows + 2 * (n + 1);
    for (size_t j = 0; j <= n; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= m; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= n; j++) {
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int best = prev[j] + 1;
            if (cur[j - 1] + 1 < best) best = cur[j - 1] + 1;
            if (prev[j - 1] + cost < best) best = prev[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            cur[j] = best;
        }
        int *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    int d = prev[n];
    free(rows);
    return d;
}

const char *qp_closest_name(const char *name, const char *const *candidates, int n_candidates) {
    if (!name) return NULL;
    size_t len = strlen(name);
    int limit = len / 3 > 1 ? (int)(len / 3) : 1;
    const char *best = NULL;
    int best_d = limit + 1;
    for (int i = 0; i < n_candidates; i++) {
        if (!candidates[i]) continue;
        int d = edit_distance(name, candidates[i]);
        if (d < best_d || (d == best_d && best && strcmp(candidates[i], best) < 0)) {
            best = candidates[i];
            best_d = d;
        }
    }
    return best_d <= limit ? best : NULL;
}

const char *qp_registry_closest(const qp_registry *reg, const char *name) {
    if (!reg || !reg->n_passes) return NULL;
    const char **names = malloc((size_t)reg->n_passes * sizeof *names);
    if (!names) return NULL;
    for (int i = 0; i < reg->n_passes; i++) names[i] = reg->passes[i].def->name;
    const char *best = qp_closest_name(name, names, reg->n_passes);
    free(names);
    return best;
}

const char *qp_registry_known_list(const qp_registry *reg, char *buf, size_t size) {
    if (!buf || !size) return buf;
    buf[0] = '\0';
    int n = qp_registry_count(reg);
    if (n == 0) {
        snprintf(buf, size, "none");
        return buf;
    }
    static const char ellipsis[] = ", ...";
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        const char *name = reg->passes[i].def->name;
        size_t need = (i ? 2 : 0) + strlen(name);
        /* Keep room for the ellipsis unless this is the last name. */
        size_t reserve = i + 1 < n ? sizeof ellipsis - 1 : 0;
        if (used + need + reserve >= size) {
            if (used + sizeof ellipsis <= size) snprintf(buf + used, size - used, "%s", i ? ellipsis : "...");
            break;
        }
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", name);
    }
    return buf;
}

qp_status qp_registry_unknown_pass(const qp_registry *reg, const char *where, const char *name) {
    char known[2048];
    qp_registry_known_list(reg, known, sizeof known);
    const char *close = qp_registry_closest(reg, name);
    const char *sep = where && *where ? ": " : "";
    if (!where) where = "";
    if (close)
        return qp_error(QP_ERR_INVALID_ARG, "%s%sunknown pass '%s' (did you mean '%s'? known: %s)", where, sep,
                        name ? name : "(null)", close, known);
    return qp_error(QP_ERR_INVALID_ARG, "%s%sunknown pass '%s' (known: %s)", where, sep, name ? name : "(null)", known);
}
