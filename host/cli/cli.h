/* cli.h — shared pieces of the qpipe subcommands: exit codes, error printing, common flags. */
#ifndef QPIPE_CLI_H
#define QPIPE_CLI_H

#include <stdio.h>

#include "engine/engine.h"
#include "quant/qdq_import.h"
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
int cmd_passes(int argc, char **argv);
int cmd_run(int argc, char **argv);

/* The registry every command that runs passes needs: built-ins, then every plugin on the search
 * path (--plugin-path value or NULL, $QPIPE_PLUGIN_PATH, <exe dir>/plugins, install dir).
 * Returns QP_EXIT_OK or, after printing the error, QP_EXIT_BAD_INPUT. (cmd_passes.c) */
struct qp_registry;
int cli_load_registry(const char *cmd, const char *plugin_path, struct qp_registry **out);
/* Directory of the running qpipe executable (malloc'd), or NULL. (cmd_passes.c) */
char *cli_exe_dir(void);

/* Prints "qpipe <cmd>: error: <library message>" and returns QP_EXIT_BAD_INPUT. */
int cli_fail(const char *cmd, qp_status status);
/* Prints "qpipe <cmd>: <message>\nTry 'qpipe <cmd> --help'." and returns QP_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) QP_PRINTF(2, 3);

/* Parses "name=1x3x224x224" into an input shape (name points into arg). 0 on success. */
int cli_parse_shape(char *arg, qp_input_shape *out);
/* Parses a positive integer flag value; 0 on success. */
int cli_parse_int(const char *text, int min_value, int *out);

/* The model a command runs. Either MODEL alone (float, or quantized: QDQ / QLinear* ops read into
 * encodings) or a float MODEL plus an AIMET encodings file (--encodings); then a session owns the
 * graph. encodings is NULL for a float model without --encodings. */
struct qp_session;
typedef struct cli_model {
    qp_graph *graph;
    qp_encodings *encodings;
    struct qp_session *session;
    qp_qdq_import_stats qdq; /* what the QDQ / QLinear* import found (zero otherwise) */
} cli_model;
/* QP_EXIT_OK, or QP_EXIT_BAD_INPUT after printing the error. (cli_model.c) */
int cli_model_load(const char *cmd, const char *path, const char *encodings_path, cli_model *m);
void cli_model_free(cli_model *m);

/* Engine mode names as the --mode flags spell them: "fp32", "quantsim", "int8". */
const char *cli_mode_name(qp_engine_mode mode);
/* Parses one mode name; 0 on success. */
int cli_parse_mode(const char *text, qp_engine_mode *mode);

/* Accumulates --shape flags. */
typedef struct cli_shapes {
    qp_input_shape items[16];
    int n;
} cli_shapes;
int cli_add_shape(const char *cmd, cli_shapes *shapes, char *arg);

#endif
