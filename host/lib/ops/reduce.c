/* reduce.c — ONNX ops of the 'reduce' family (see engine/op.h for the list). */
#include "engine/op.h"

const qp_op_def *const qp_ops_reduce[] = {NULL};
