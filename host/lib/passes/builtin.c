/* builtin.c — the table of built-in passes (each defined in its own file in this folder). */
#include "passes/builtin.h"

const qp_pass_def *const qp_builtin_passes[] = {&qp_pass_fold_bn, NULL};
