/* cli_common.c — error printing and flag parsing shared by the subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_fail(const char *cmd, qp_status status) {
    const char *msg = qp_error_message();
    fprintf(stderr, "qpipe %s: error: %s\n", cmd, msg[0] ? msg : qp_status_name(status));
    return QP_EXIT_BAD_INPUT;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "qpipe %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'qpipe %s --help'.\n", cmd);
    return QP_EXIT_USAGE;
}

int cli_parse_int(const char *text, int min_value, int *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min_value || v > 1 << 30) return -1;
    *out = (int)v;
    return 0;
}

int cli_parse_shape(char *arg, qp_input_shape *out) {
    char *eq = strrchr(arg, '=');
    if (!eq || eq == arg) return -1;
    *eq = '\0';
    out->name = arg;
    out->shape.rank = 0;
    char *p = eq + 1;
    while (*p) {
        if (out->shape.rank == QP_MAX_RANK) return -1;
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (errno || end == p || d < 0) return -1;
        out->shape.dims[out->shape.rank++] = d;
        if (*end == 'x' || *end == ',') end++;
        else if (*end) return -1;
        p = end;
    }
    return out->shape.rank > 0 ? 0 : -1;
}

int cli_add_shape(const char *cmd, cli_shapes *shapes, char *arg) {
    if (shapes->n == (int)(sizeof shapes->items / sizeof shapes->items[0]))
        return cli_usage_error(cmd, "too many --shape flags");
    if (cli_parse_shape(arg, &shapes->items[shapes->n]) != 0)
        return cli_usage_error(cmd, "--shape wants NAME=D0xD1x..., e.g. input=1x3x224x224");
    shapes->n++;
    return 0;
}

static const char *const mode_names[] = {"fp32", "quantsim", "int8"};

const char *cli_mode_name(qp_engine_mode mode) {
    return (unsigned)mode < 3 ? mode_names[mode] : "?";
}

int cli_parse_mode(const char *text, qp_engine_mode *mode) {
    for (int m = 0; m < 3; m++)
        if (strcmp(text, mode_names[m]) == 0) return *mode = (qp_engine_mode)m, 0;
    return -1;
}
