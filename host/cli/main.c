/* main.c — the qpipe command line: dispatches to subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Debian's OpenBLAS 0.3.21 does not know recent AVX-512 CPUs (AMD Zen 4, newer Xeons) and falls
 * back to its Haswell sgemm; its SkylakeX kernels run about 1.7x faster there. OpenBLAS reads
 * OPENBLAS_CORETYPE once, when it is loaded, so the only way to choose for the user is to set it
 * and re-execute before any work. A user's own OPENBLAS_CORETYPE always wins. */
static void prefer_avx512_openblas(char **argv) {
    if (getenv("OPENBLAS_CORETYPE") || getenv("QPIPE_NO_REEXEC")) return;
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")))
        return;
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    setenv("QPIPE_NO_REEXEC", "1", 1);
    execv("/proc/self/exe", argv); /* on failure, carry on with the default kernels */
}

int main(int argc, char **argv) {
    prefer_avx512_openblas(argv);
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
