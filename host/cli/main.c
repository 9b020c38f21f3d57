/* main.c — the qpipe command line: dispatches to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_command commands[] = {
    {"inspect", "show a model's inputs, outputs, ops, parameters and MACs", cmd_inspect},
    {"infer", "run a model on .npy inputs and write its outputs as .npy", cmd_infer},
    {"eval", "fp32 top-1/top-5 of a classifier on JPEG folders or IDX files", cmd_eval},
    {"bench", "median latency, GMAC/s and memory of the engine", cmd_bench},
    {"passes", "list the passes (built-in and plugins) and their parameters", cmd_passes},
    {"run", "run a YAML pipeline of passes and score fp32, quantsim and int8", cmd_run},
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static void usage(FILE *out) {
    fprintf(out,
            "usage: qpipe COMMAND [ARGS]\n\n"
            "qpipe: post-training int8 quantization of ONNX models.\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'qpipe COMMAND --help' describes a command.\n"
                 "Exit codes: 0 success, 1 bad input (file, model, data), 2 usage error.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return QP_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return QP_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("qpipe 0.1.0\n");
        return QP_EXIT_OK;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "qpipe: unknown command '%s' (known:", argv[1]);
    for (int i = 0; i < N_COMMANDS; i++) fprintf(stderr, " %s", commands[i].name);
    fprintf(stderr, ")\n");
    return QP_EXIT_USAGE;
}
