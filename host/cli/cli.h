/* cli.h — shared pieces of the qpipe subcommands: exit codes, error printing, common flags. */
#ifndef QPIPE_CLI_H
#define QPIPE_CLI_H

#include <stdio.h>

#include "engine/engine.h"
#include "qpipe/qp_status.h"

/* Exit codes: documented in the README and every --help. */
enum { QP_EXIT_OK = 0, QP_EXIT_BAD_INPUT = 1, QP_EXIT_USAGE = 2 };

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

int cmd_inspect(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Prints "qpipe <cmd>: error: <library message>" and returns QP_EXIT_BAD_INPUT. */
int cli_fail(const char *cmd, qp_status status);
/* Prints "qpipe <cmd>: <message>\nTry 'qpipe <cmd> --help'." and returns QP_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) QP_PRINTF(2, 3);

/* Parses "name=1x3x224x224" into an input shape (name points into arg). 0 on success. */
int cli_parse_shape(char *arg, qp_input_shape *out);
/* Parses a positive integer flag value; 0 on success. */
int cli_parse_int(const char *text, int min_value, int *out);

/* Accumulates --shape flags. */
typedef struct cli_shapes {
    qp_input_shape items[16];
    int n;
} cli_shapes;
int cli_add_shape(const char *cmd, cli_shapes *shapes, char *arg);

#endif
