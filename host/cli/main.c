/* main.c — the qpipe command line: dispatches to subcommands. */
#include <stdio.h>

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "qpipe: not built yet\n");
    return 2;
}
