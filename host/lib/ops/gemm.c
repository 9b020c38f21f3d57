/* gemm.c — ONNX ops of the 'gemm' family (see engine/op.h for the list). */
#include "engine/op.h"

const qp_op_def *const qp_ops_gemm[] = {NULL};
