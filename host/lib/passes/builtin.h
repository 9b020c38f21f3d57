/* builtin.h — passes compiled into libqpipe (graph preparation), registered like plugin passes. */
#ifndef QPIPE_BUILTIN_PASSES_H
#define QPIPE_BUILTIN_PASSES_H

#include "qpipe/qp_plugin.h"

/* NULL-terminated. */
extern const qp_pass_def *const qp_builtin_passes[];

/* Each built-in pass, for tests that run one directly. */
extern const qp_pass_def qp_pass_fold_bn;

#endif
