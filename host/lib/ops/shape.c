/* shape.c — ONNX ops of the 'shape' family (see engine/op.h for the list). */
#include "engine/op.h"

const qp_op_def *const qp_ops_shape[] = {NULL};
