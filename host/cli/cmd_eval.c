/* cmd_eval.c — placeholder while the data layer lands. */
#include "cli.h"
int cmd_eval(int argc, char **argv) { (void)argc; (void)argv; return QP_EXIT_USAGE; }
