/* cmd_infer.c — placeholder while the data layer lands. */
#include "cli.h"
int cmd_infer(int argc, char **argv) { (void)argc; (void)argv; return QP_EXIT_USAGE; }
