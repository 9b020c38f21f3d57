/* op_registry.c — the one place that maps an ONNX (domain, op type) to its implementation. */
#include <string.h>

#include "engine/op.h"

static const qp_op_def *const *const op_families[] = {
    qp_ops_elementwise, qp_ops_activation, qp_ops_conv,   qp_ops_gemm,  qp_ops_pool,
    qp_ops_norm,        qp_ops_shape,      qp_ops_reduce, qp_ops_resize, qp_ops_quant,
};

static int same_domain(const char *a, const char *b) {
    if (!a || strcmp(a, "ai.onnx") == 0) a = "";
    if (!b || strcmp(b, "ai.onnx") == 0) b = "";
    return strcmp(a, b) == 0;
}

const qp_op_def *qp_op_at(int index) {
    for (size_t f = 0; f < sizeof op_families / sizeof op_families[0]; f++)
        for (const qp_op_def *const *op = op_families[f]; *op; op++)
            if (index-- == 0) return *op;
    return NULL;
}

const qp_op_def *qp_op_find(const char *domain, const char *op_type) {
    for (size_t f = 0; f < sizeof op_families / sizeof op_families[0]; f++)
        for (const qp_op_def *const *op = op_families[f]; *op; op++)
            if (same_domain((*op)->domain, domain) && strcmp((*op)->op_type, op_type) == 0)
                return *op;
    return NULL;
}
