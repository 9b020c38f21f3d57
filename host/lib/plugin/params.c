/* params.c — parses and validates pass parameters against their table; the qp_params_* getters of the ABI. */
#include "plugin/params.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "plugin/registry.h"

typedef struct param_value {
    int has_value; /* a default or a set value exists */
    int is_set;    /* came from qp_params_set */
    int b;
    int64_t i;
    double f;
    char *s; /* STRING and ENUM */
} param_value;

struct qp_params {
    const qp_pass_def *pass;
    param_value *values; /* parallel to pass->params */
};

const char *qp_param_type_name(qp_param_type type) {
    switch (type) {
    case QP_PARAM_BOOL: return "bool";
    case QP_PARAM_INT: return "int";
    case QP_PARAM_FLOAT: return "float";
    case QP_PARAM_STRING: return "string";
    case QP_PARAM_ENUM: return "enum";
    }
    return "unknown";
}

static int has_range(const qp_param_def *p) {
    return (p->type == QP_PARAM_INT || p->type == QP_PARAM_FLOAT) && p->min <= p->max;
}

/* Shortest text that reads back as the same double, so ranges print as their authors wrote them. */
static void format_double(double v, char *buf, size_t size) {
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v || isnan(v)) return;
    }
}

/* INT bounds print as integers (1000000, not 1e+06) when they are whole numbers. */
static void format_bound(double v, int as_int, char *buf, size_t size) {
    if (as_int && v == floor(v) && fabs(v) < 9.0e15)
        snprintf(buf, size, "%lld", (long long)v);
    else
        format_double(v, buf, size);
}

static void format_range(const qp_param_def *p, char *buf, size_t size) {
    char lo[40], hi[40];
    format_bound(p->min, p->type == QP_PARAM_INT, lo, sizeof lo);
    format_bound(p->max, p->type == QP_PARAM_INT, hi, sizeof hi);
    snprintf(buf, size, "[%s, %s]", lo, hi);
}

/* The choices of an ENUM as "a, b, c" (the table writes "a|b|c"). */
static void format_choices(const char *choices, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (const char *c = choices; *c && used + 3 < size; c++) {
        if (*c == '|') {
            buf[used++] = ',';
            buf[used++] = ' ';
        } else {
            buf[used++] = *c;
        }
    }
    buf[used < size ? used : size - 1] = '\0';
}

/* Splits "a|b|c" into a NULL-terminated array of copies; NULL on allocation failure. */
static char **split_choices(const char *choices, int *n_out) {
    int n = 1;
    for (const char *c = choices; *c; c++) n += *c == '|';
    char **out = calloc((size_t)n + 1, sizeof *out);
    if (!out) return NULL;
    const char *start = choices;
    for (int k = 0; k < n; k++) {
        const char *bar = strchr(start, '|');
        size_t len = bar ? (size_t)(bar - start) : strlen(start);
        out[k] = strndup(start, len);
        if (!out[k]) {
            for (int j = 0; j < k; j++) free(out[j]);
            free(out);
            return NULL;
        }
        start = bar ? bar + 1 : start + len;
    }
    *n_out = n;
    return out;
}

static void free_choices(char **choices) {
    if (!choices) return;
    for (char **c = choices; *c; c++) free(*c);
    free(choices);
}

static const char *trim(const char *text, size_t *len) {
    while (isspace((unsigned char)*text)) text++;
    size_t n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1])) n--;
    *len = n;
    return text;
}

static int slice_equals(const char *slice, size_t len, const char *word, int ignore_case) {
    if (strlen(word) != len) return 0;
    return ignore_case ? strncasecmp(slice, word, len) == 0 : strncmp(slice, word, len) == 0;
}

/* Parses `text` for parameter p into *out. On bad text returns QP_ERR_INVALID_ARG and writes
 * the reason ("must be in [1, 8], got 9") to why; the caller adds where and which. */
static qp_status parse_value(const qp_param_def *p, const char *text, param_value *out, char *why, size_t why_size) {
    size_t len;
    const char *s = trim(text, &len);
    switch (p->type) {
    case QP_PARAM_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
        for (int k = 0; k < 4; k++) {
            if (slice_equals(s, len, yes[k], 1)) { out->b = 1; return QP_OK; }
            if (slice_equals(s, len, no[k], 1)) { out->b = 0; return QP_OK; }
        }
        snprintf(why, why_size, "wants a bool (true/false, yes/no, on/off, 1/0), got '%s'", text);
        return QP_ERR_INVALID_ARG;
    }
    case QP_PARAM_INT: {
        char *end;
        errno = 0;
        long long v = len ? strtoll(s, &end, 10) : 0;
        if (!len || (size_t)(end - s) != len) {
            snprintf(why, why_size, "wants an integer, got '%s'", text);
            return QP_ERR_INVALID_ARG;
        }
        if (errno == ERANGE) {
            snprintf(why, why_size, "does not fit a 64-bit integer: '%s'", text);
            return QP_ERR_INVALID_ARG;
        }
        if (has_range(p) && ((double)v < p->min || (double)v > p->max)) {
            char range[100];
            format_range(p, range, sizeof range);
            snprintf(why, why_size, "must be in %s, got %lld", range, v);
            return QP_ERR_INVALID_ARG;
        }
        out->i = (int64_t)v;
        return QP_OK;
    }
    case QP_PARAM_FLOAT: {
        char *end;
        double v = len ? strtod(s, &end) : 0.0;
        if (!len || (size_t)(end - s) != len) {
            snprintf(why, why_size, "wants a number, got '%s'", text);
            return QP_ERR_INVALID_ARG;
        }
        if (!isfinite(v)) {
            snprintf(why, why_size, "wants a finite number, got '%s'", text);
            return QP_ERR_INVALID_ARG;
        }
        if (has_range(p) && (v < p->min || v > p->max)) {
            char range[100], got[40];
            format_range(p, range, sizeof range);
            format_double(v, got, sizeof got);
            snprintf(why, why_size, "must be in %s, got %s", range, got);
            return QP_ERR_INVALID_ARG;
        }
        out->f = v;
        return QP_OK;
    }
    case QP_PARAM_ENUM: {
        int n = 0;
        char **choices = split_choices(p->choices, &n);
        if (!choices) return qp_error(QP_ERR_NOMEM, "out of memory parsing parameter '%s'", p->name);
        int found = -1;
        for (int k = 0; k < n && found < 0; k++)
            if (slice_equals(s, len, choices[k], 0)) found = k;
        if (found < 0) {
            char list[512];
            format_choices(p->choices, list, sizeof list);
            char *bare = strndup(s, len);
            const char *close = bare ? qp_closest_name(bare, (const char *const *)choices, n) : NULL;
            if (close)
                snprintf(why, why_size, "wants one of %s; got '%s' (did you mean '%s'?)", list, text, close);
            else
                snprintf(why, why_size, "wants one of %s; got '%s'", list, text);
            free(bare);
            free_choices(choices);
            return QP_ERR_INVALID_ARG;
        }
        char *copy = strdup(choices[found]);
        free_choices(choices);
        if (!copy) return qp_error(QP_ERR_NOMEM, "out of memory parsing parameter '%s'", p->name);
        free(out->s);
        out->s = copy;
        return QP_OK;
    }
    case QP_PARAM_STRING: {
        char *copy = strdup(text);
        if (!copy) return qp_error(QP_ERR_NOMEM, "out of memory parsing parameter '%s'", p->name);
        free(out->s);
        out->s = copy;
        return QP_OK;
    }
    }
    snprintf(why, why_size, "has unknown type %d", (int)p->type);
    return QP_ERR_INVALID_ARG;
}

static int valid_identifier(const char *name) {
    if (!name || !*name) return 0;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_')) return 0;
    return 1;
}

qp_status qp_param_def_check(const qp_param_def *p) {
    if (!p->name) return qp_error(QP_ERR_INVALID_ARG, "a parameter has no name");
    if (!valid_identifier(p->name))
        return qp_error(QP_ERR_INVALID_ARG, "parameter name '%s' is invalid (allowed: lowercase letters, digits, '_')",
                        p->name);
    if (p->type < QP_PARAM_BOOL || p->type > QP_PARAM_ENUM)
        return qp_error(QP_ERR_INVALID_ARG, "parameter '%s' has unknown type %d (allowed: bool, int, float, string, enum)",
                        p->name, (int)p->type);
    if (p->type == QP_PARAM_ENUM) {
        if (!p->choices || !*p->choices)
            return qp_error(QP_ERR_INVALID_ARG, "parameter '%s' is an enum without choices", p->name);
        int n = 0;
        char **choices = split_choices(p->choices, &n);
        if (!choices) return qp_error(QP_ERR_NOMEM, "out of memory checking parameter '%s'", p->name);
        qp_status st = QP_OK;
        for (int k = 0; k < n && st == QP_OK; k++) {
            if (!choices[k][0])
                st = qp_error(QP_ERR_INVALID_ARG, "parameter '%s' has an empty choice in '%s'", p->name, p->choices);
            for (int j = 0; j < k && st == QP_OK; j++)
                if (strcmp(choices[j], choices[k]) == 0)
                    st = qp_error(QP_ERR_INVALID_ARG, "parameter '%s' lists choice '%s' twice", p->name, choices[k]);
        }
        free_choices(choices);
        if (st != QP_OK) return st;
    }
    if (p->default_value) {
        param_value v = {0};
        char why[768];
        qp_status st = parse_value(p, p->default_value, &v, why, sizeof why);
        free(v.s);
        if (st == QP_ERR_INVALID_ARG)
            return qp_error(st, "parameter '%s': invalid default: %s", p->name, why);
        if (st != QP_OK) return st;
    }
    return QP_OK;
}

static void format_known(const qp_pass_def *pass, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < pass->n_params && used < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", k ? ", " : "", pass->params[k].name);
}

static int find_param(const qp_pass_def *pass, const char *name) {
    if (!name) return -1;
    for (int k = 0; k < pass->n_params; k++)
        if (strcmp(pass->params[k].name, name) == 0) return k;
    return -1;
}

/* "file:1:2: " or "" */
#define WHERE_FMT "%s%s"
#define WHERE_ARGS(where) ((where) && *(where) ? (where) : ""), ((where) && *(where) ? ": " : "")

qp_status qp_params_new(const qp_pass_def *def, qp_params **out) {
    if (!out) return qp_error(QP_ERR_INVALID_ARG, "qp_params_new: out is NULL");
    *out = NULL;
    if (!def || !def->name) return qp_error(QP_ERR_INVALID_ARG, "qp_params_new: no pass definition");
    if (def->n_params < 0 || (def->n_params > 0 && !def->params))
        return qp_error(QP_ERR_INVALID_ARG, "pass '%s' has a bad parameter table (%d entries)", def->name, def->n_params);
    qp_params *p = calloc(1, sizeof *p);
    if (!p) return qp_error(QP_ERR_NOMEM, "out of memory for the parameters of pass '%s'", def->name);
    p->pass = def;
    p->values = calloc((size_t)(def->n_params ? def->n_params : 1), sizeof *p->values);
    if (!p->values) {
        free(p);
        return qp_error(QP_ERR_NOMEM, "out of memory for the parameters of pass '%s'", def->name);
    }
    for (int k = 0; k < def->n_params; k++) {
        const qp_param_def *param = &def->params[k];
        qp_status st = qp_param_def_check(param);
        if (st == QP_OK && param->default_value) {
            char why[768];
            st = parse_value(param, param->default_value, &p->values[k], why, sizeof why);
            p->values[k].has_value = st == QP_OK;
        }
        if (st != QP_OK) {
            qp_params_free(p);
            return qp_error_prefix(st, "pass '%s': ", def->name);
        }
    }
    *out = p;
    return QP_OK;
}

void qp_params_free(qp_params *params) {
    if (!params) return;
    for (int k = 0; k < params->pass->n_params; k++) free(params->values[k].s);
    free(params->values);
    free(params);
}

qp_status qp_params_set(qp_params *params, const char *key, const char *text, const char *where) {
    if (!params || !key || !text) return qp_error(QP_ERR_INVALID_ARG, "qp_params_set: NULL argument");
    const qp_pass_def *pass = params->pass;
    int k = find_param(pass, key);
    if (k < 0) {
        if (pass->n_params <= 0)
            return qp_error(QP_ERR_INVALID_ARG, WHERE_FMT "unknown parameter '%s' for pass '%s' (it takes no parameters)",
                            WHERE_ARGS(where), key, pass->name);
        const char **names = malloc((size_t)(unsigned)pass->n_params * sizeof *names);
        const char *close = NULL;
        if (names) {
            for (int j = 0; j < pass->n_params; j++) names[j] = pass->params[j].name;
            close = qp_closest_name(key, names, pass->n_params);
            free(names);
        }
        char known[1024];
        format_known(pass, known, sizeof known);
        if (close)
            return qp_error(QP_ERR_INVALID_ARG,
                            WHERE_FMT "unknown parameter '%s' for pass '%s' (did you mean '%s'? known: %s)",
                            WHERE_ARGS(where), key, pass->name, close, known);
        return qp_error(QP_ERR_INVALID_ARG, WHERE_FMT "unknown parameter '%s' for pass '%s' (known: %s)",
                        WHERE_ARGS(where), key, pass->name, known);
    }
    /* Parse into a scratch value so a bad text leaves the earlier value in place. */
    param_value v = {0};
    char why[768];
    qp_status st = parse_value(&pass->params[k], text, &v, why, sizeof why);
    if (st == QP_ERR_INVALID_ARG)
        return qp_error(st, WHERE_FMT "parameter '%s' of pass '%s' %s", WHERE_ARGS(where), key, pass->name, why);
    if (st != QP_OK) return st;
    free(params->values[k].s);
    params->values[k] = v;
    params->values[k].has_value = 1;
    params->values[k].is_set = 1;
    return QP_OK;
}

qp_status qp_params_check_required(const qp_params *params, const char *where) {
    if (!params) return qp_error(QP_ERR_INVALID_ARG, "qp_params_check_required: NULL params");
    for (int k = 0; k < params->pass->n_params; k++) {
        if (params->values[k].has_value) continue;
        const qp_param_def *p = &params->pass->params[k];
        return qp_error(QP_ERR_INVALID_ARG, WHERE_FMT "pass '%s' needs parameter '%s' (%s%s%s)", WHERE_ARGS(where),
                        params->pass->name, p->name, qp_param_type_name(p->type), p->help && *p->help ? ": " : "",
                        p->help ? p->help : "");
    }
    return QP_OK;
}

int qp_params_is_set(const qp_params *params, const char *name) {
    if (!params) return 0;
    int k = find_param(params->pass, name);
    return k >= 0 && params->values[k].is_set;
}

const qp_pass_def *qp_params_pass(const qp_params *params) { return params ? params->pass : NULL; }

qp_status qp_params_copy(const qp_params *params, qp_params **out) {
    if (!out) return qp_error(QP_ERR_INVALID_ARG, "qp_params_copy: out is NULL");
    *out = NULL;
    if (!params) return qp_error(QP_ERR_INVALID_ARG, "qp_params_copy: params is NULL");
    qp_params *copy = NULL;
    qp_status st = qp_params_new(params->pass, &copy);
    if (st != QP_OK) return st;
    for (int k = 0; k < params->pass->n_params; k++) {
        param_value *dst = &copy->values[k];
        const param_value *src = &params->values[k];
        free(dst->s);
        *dst = *src;
        dst->s = NULL;
        if (src->s && !(dst->s = strdup(src->s))) {
            qp_params_free(copy);
            return qp_error(QP_ERR_NOMEM, "out of memory copying the parameters of pass '%s'", params->pass->name);
        }
    }
    *out = copy;
    return QP_OK;
}

const char *qp_params_format(const qp_params *params, int only_set, char *buf, size_t size) {
    if (!buf || !size) return buf;
    buf[0] = '\0';
    if (!params) return buf;
    size_t used = 0;
    for (int k = 0; k < params->pass->n_params; k++) {
        const param_value *v = &params->values[k];
        if (!v->has_value || (only_set && !v->is_set)) continue;
        const qp_param_def *p = &params->pass->params[k];
        char text[64];
        const char *value = text;
        switch (p->type) {
        case QP_PARAM_BOOL: value = v->b ? "true" : "false"; break;
        case QP_PARAM_INT: snprintf(text, sizeof text, "%" PRId64, v->i); break;
        case QP_PARAM_FLOAT: format_double(v->f, text, sizeof text); break;
        default: value = v->s ? v->s : ""; break;
        }
        int n = snprintf(buf + used, size - used, "%s%s=%s", used ? " " : "", p->name, value);
        if (n < 0 || (size_t)n >= size - used) {
            if (size >= 4) {
                size_t at = used + 4 <= size ? used : size - 4;
                snprintf(buf + at, size - at, "...");
            }
            break;
        }
        used += (size_t)n;
    }
    return buf;
}

/* The value a getter may read, or NULL after recording why not (a plugin bug). */
static const param_value *lookup(const qp_params *params, const char *name, qp_param_type want, const char *getter) {
    if (!params) {
        qp_error(QP_ERR_INVALID_ARG, "%s('%s'): params is NULL", getter, name ? name : "(null)");
        return NULL;
    }
    const qp_pass_def *pass = params->pass;
    int k = find_param(pass, name);
    if (k < 0) {
        char known[1024];
        format_known(pass, known, sizeof known);
        qp_error(QP_ERR_INVALID_ARG, "pass '%s' asked for parameter '%s', which it does not declare (declared: %s)",
                 pass->name, name ? name : "(null)", pass->n_params ? known : "none");
        return NULL;
    }
    qp_param_type type = pass->params[k].type;
    int ok = type == want || (want == QP_PARAM_STRING && type == QP_PARAM_ENUM);
    if (!ok) {
        qp_error(QP_ERR_INVALID_ARG, "pass '%s' read parameter '%s' with %s, but it is declared %s", pass->name, name,
                 getter, qp_param_type_name(type));
        return NULL;
    }
    if (!params->values[k].has_value) {
        qp_error(QP_ERR_INVALID_ARG, "pass '%s' read required parameter '%s', which was never set", pass->name, name);
        return NULL;
    }
    return &params->values[k];
}

int qp_params_bool(const qp_params *params, const char *name) {
    const param_value *v = lookup(params, name, QP_PARAM_BOOL, "qp_params_bool");
    return v ? v->b : 0;
}

int64_t qp_params_int(const qp_params *params, const char *name) {
    const param_value *v = lookup(params, name, QP_PARAM_INT, "qp_params_int");
    return v ? v->i : 0;
}

double qp_params_float(const qp_params *params, const char *name) {
    const param_value *v = lookup(params, name, QP_PARAM_FLOAT, "qp_params_float");
    return v ? v->f : 0.0;
}

const char *qp_params_string(const qp_params *params, const char *name) {
    const param_value *v = lookup(params, name, QP_PARAM_STRING, "qp_params_string");
    return v ? v->s : NULL;
}

void qp_params_describe(const qp_param_def *param, qp_param_info *info) {
    info->type = qp_param_type_name(param->type);
    info->default_text = param->default_value ? param->default_value : "(required)";
    info->range[0] = '\0';
    if (has_range(param))
        format_range(param, info->range, sizeof info->range);
    else if (param->type == QP_PARAM_ENUM && param->choices)
        snprintf(info->range, sizeof info->range, "%s", param->choices);
}
