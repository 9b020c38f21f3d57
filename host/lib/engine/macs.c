/* macs.c — multiply-accumulate counts per node from planned shapes (inspect, bench GMAC/s). */
#include <string.h>

#include "engine/engine.h"

static int64_t numel_of(const qp_plan *plan, int tensor_id) {
    const qp_value *v = tensor_id >= 0 ? qp_plan_tensor(plan, tensor_id) : NULL;
    return v && v->shape.rank >= 0 ? qp_shape_numel(&v->shape) : 0;
}

int64_t qp_node_macs(const qp_graph *g, const qp_plan *plan, int node_id) {
    const qp_node *n = &g->nodes[node_id];
    if (n->domain[0] != '\0' || n->n_inputs < 2 || n->n_outputs < 1) return 0;
    const qp_value *w = qp_plan_tensor(plan, n->inputs[1]);
    if (!w || w->shape.rank < 0) return 0;
    if (strcmp(n->op_type, "Conv") == 0) {
        /* Each output element: (C_in / group) * prod(kernel) MACs; W is [C_out, C_in/g, k...]. */
        int64_t per_output = 1;
        for (int d = 1; d < w->shape.rank; d++) per_output *= w->shape.dims[d];
        return numel_of(plan, n->outputs[0]) * per_output;
    }
    if (strcmp(n->op_type, "ConvTranspose") == 0) {
        /* Each input element scatters to (C_out / group) * prod(kernel); W is [C_in, C_out/g, k...]. */
        int64_t per_input = 1;
        for (int d = 1; d < w->shape.rank; d++) per_input *= w->shape.dims[d];
        return numel_of(plan, n->inputs[0]) * per_input;
    }
    if (strcmp(n->op_type, "Gemm") == 0 || strcmp(n->op_type, "MatMul") == 0) {
        /* out = [..., M, N]; K is A's last dim (or first when Gemm transA). */
        const qp_value *a = qp_plan_tensor(plan, n->inputs[0]);
        if (!a || a->shape.rank < 1) return 0;
        int64_t k = a->shape.dims[a->shape.rank - 1];
        if (strcmp(n->op_type, "Gemm") == 0 && qp_node_attr_int(n, "transA", 0) && a->shape.rank == 2)
            k = a->shape.dims[0];
        return numel_of(plan, n->outputs[0]) * k;
    }
    return 0;
}
