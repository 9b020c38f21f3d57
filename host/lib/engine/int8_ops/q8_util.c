/* q8_util.c — what the int8 ops share: the op-type table, plan-time requantization and lookup tables, window attributes, work splits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/int8_ops/q8_ops.h"
#include "kernels/fp32/f32_kernels.h"
#include "ops/ops_common_invoke.h"

static const qp_q8_op *const single_ops[] = {
    &qp_q8_conv_op,    &qp_q8_gemm_op,    &qp_q8_matmul_op,          &qp_q8_add_op,    &qp_q8_mul_op,
    &qp_q8_sub_op,     &qp_q8_div_op,     &qp_q8_pow_op,             &qp_q8_max_op,    &qp_q8_min_op,
    &qp_q8_maxpool_op, &qp_q8_avgpool_op, &qp_q8_global_avgpool_op, &qp_q8_reduce_mean_op, &qp_q8_concat_op,
    &qp_q8_batchnorm_op, &qp_q8_prelu_op, &qp_q8_softmax_op,
};

const qp_q8_op *qp_q8_find(const qp_node *node) {
    if (node->domain[0] != '\0' && strcmp(node->domain, "ai.onnx") != 0) return NULL;
    for (size_t i = 0; i < sizeof single_ops / sizeof single_ops[0]; i++)
        if (strcmp(single_ops[i]->op_type, node->op_type) == 0) return single_ops[i];
    for (const qp_q8_op *const *op = qp_q8_unary_ops; *op; op++)
        if (strcmp((*op)->op_type, node->op_type) == 0) return *op;
    for (const qp_q8_op *const *op = qp_q8_shape_ops; *op; op++)
        if (strcmp((*op)->op_type, node->op_type) == 0) return *op;
    return NULL;
}

qp_status qp_q8_requant(const qp_node *node, float in_scale, float w_scale, float out_scale, float *scale) {
    qp_status st = qp_requant_scale(in_scale, w_scale, out_scale, scale);
    if (st != QP_OK) return qp_error_prefix(st, "node '%s': ", node->name ? node->name : node->op_type);
    return QP_OK;
}

qp_status qp_q8_mean_requant(const qp_node *node, float in_scale, float out_scale, int64_t count, float *scale) {
    qp_status st = qp_requant_mean_scale(in_scale, out_scale, count, scale);
    if (st != QP_OK) return qp_error_prefix(st, "node '%s': ", node->name ? node->name : node->op_type);
    return QP_OK;
}

int qp_q8_requant_table(const qp_q8_act *in, const qp_q8_act *out, uint8_t table[256]) {
    int identity = 1;
    for (int q = 0; q < 256; q++) {
        table[q] = qp_q8_quantize(qp_q8_dequantize((uint8_t)q, in), out);
        if (q >= in->qmin && q <= in->qmax && table[q] != q) identity = 0;
    }
    return identity;
}

qp_status qp_q8_quantsim_inputs(const qp_q8_prep *p, const qp_value **ins, qp_value *copies) {
    for (int k = 0; k < p->n_inputs; k++) {
        ins[k] = p->inputs[k];
        memset(&copies[k], 0, sizeof copies[k]);
        const qp_encoding *e = p->in_enc[k];
        const qp_value *v = p->inputs[k];
        if (!v || !e || v->dtype != QP_DT_FLOAT || !v->data || !p->plan->is_const[p->node->inputs[k]]) continue;
        copies[k] = *v;
        copies[k].data = malloc(v->nbytes ? v->nbytes : 1);
        if (!copies[k].data) {
            qp_q8_free_quantsim_inputs(p->n_inputs, copies);
            return qp_error(QP_ERR_NOMEM, "out of memory");
        }
        qp_fake_quant_tensor(e, &v->shape, v->data, copies[k].data, 1);
        ins[k] = &copies[k];
    }
    return QP_OK;
}

void qp_q8_free_quantsim_inputs(int n, qp_value *copies) {
    for (int k = 0; k < n; k++) {
        free(copies[k].data);
        copies[k].data = NULL;
    }
}

qp_status qp_q8_unary_table(const qp_q8_prep *p, int data_index, uint8_t table[256]) {
    const qp_node *node = p->node;
    int n_inputs = p->n_inputs;
    float codes[256];
    for (int q = 0; q < 256; q++) codes[q] = qp_q8_dequantize((uint8_t)q, &p->in_act[data_index]);
    const qp_value **ins = calloc((size_t)(n_inputs ? n_inputs : 1), sizeof *ins);
    qp_value *copies = calloc((size_t)(n_inputs ? n_inputs : 1), sizeof *copies);
    qp_value *outs = calloc((size_t)(node->n_outputs ? node->n_outputs : 1), sizeof *outs);
    qp_status st = ins && copies && outs ? qp_q8_quantsim_inputs(p, ins, copies)
                                         : qp_error(QP_ERR_NOMEM, "out of memory building a lookup table");
    if (st == QP_OK) {
        qp_value x = {.dtype = QP_DT_FLOAT, .shape = {.rank = 1, .dims = {256}}, .data = codes, .nbytes = sizeof codes};
        ins[data_index] = &x;
        st = qp_ops_invoke(node, p->opset, ins, n_inputs, outs, node->n_outputs, 1);
        if (st == QP_OK) {
            if (outs[0].dtype != QP_DT_FLOAT || qp_shape_numel(&outs[0].shape) != 256)
                st = qp_error(QP_ERR_UNSUPPORTED, "%s is not elementwise", node->op_type);
            else
                for (int q = 0; q < 256; q++) table[q] = qp_q8_quantize(((const float *)outs[0].data)[q], &p->out_act[0]);
            for (int k = 0; k < node->n_outputs; k++) free(outs[k].data);
        }
        qp_q8_free_quantsim_inputs(n_inputs, copies);
    }
    free(ins);
    free(copies);
    free(outs);
    return st;
}

static int read_ints(const qp_node *node, const char *name, int n, int64_t fallback, int64_t *out) {
    int count = 0;
    const int64_t *v = qp_node_attr_ints(node, name, &count);
    for (int i = 0; i < n; i++) out[i] = fallback;
    if (!v) return 1;
    if (count != n) return 0;
    for (int i = 0; i < n; i++) out[i] = v[i];
    return 1;
}

int qp_q8_read_window(const qp_node *node, const qp_shape *x, const qp_shape *w, int allow_ceil, qp_q8_window *win,
                      char *why, size_t cap) {
    int ns = x->rank - 2;
    if (ns < 1 || ns > 2) {
        snprintf(why, cap, "%d spatial dims (the int8 kernels take 1 or 2)", ns);
        return 0;
    }
    int64_t kernel[2], strides[2], dilations[2], pads[4];
    if (!read_ints(node, "kernel_shape", ns, 0, kernel) || !read_ints(node, "strides", ns, 1, strides) ||
        !read_ints(node, "dilations", ns, 1, dilations) || !read_ints(node, "pads", 2 * ns, 0, pads)) {
        snprintf(why, cap, "window attributes of unexpected length");
        return 0;
    }
    for (int i = 0; i < ns; i++) {
        if (kernel[i] == 0 && w) kernel[i] = w->dims[i + 2];
        if (kernel[i] < 1 || strides[i] < 1 || dilations[i] < 1 || pads[i] < 0 || pads[i + ns] < 0) {
            snprintf(why, cap, "window attributes out of range");
            return 0;
        }
    }
    const char *ap = qp_node_attr_string(node, "auto_pad", "NOTSET");
    qp_f32_auto_pad auto_pad = QP_F32_AUTO_PAD_NOTSET;
    if (strcmp(ap, "SAME_UPPER") == 0) auto_pad = QP_F32_AUTO_PAD_SAME_UPPER;
    else if (strcmp(ap, "SAME_LOWER") == 0) auto_pad = QP_F32_AUTO_PAD_SAME_LOWER;
    else if (strcmp(ap, "VALID") == 0) auto_pad = QP_F32_AUTO_PAD_VALID;
    int ceil_mode = allow_ceil ? qp_node_attr_int(node, "ceil_mode", 0) != 0 : 0;
    int64_t out[2];
    for (int i = 0; i < ns; i++)
        if (qp_f32_window_dim(x->dims[i + 2], kernel[i], strides[i], dilations[i], auto_pad, ceil_mode, &pads[i],
                              &pads[i + ns], &out[i]) != 0 ||
            pads[i] < 0 || pads[i + ns] < 0) {
            snprintf(why, cap, "window does not fit the input");
            return 0;
        }
    int lead = ns == 1; /* 1-D: H = 1 */
    *win = (qp_q8_window){
        .in_h = lead ? 1 : x->dims[2], .in_w = x->dims[ns + 1],
        .out_h = lead ? 1 : out[0], .out_w = out[ns - 1],
        .kernel_h = lead ? 1 : kernel[0], .kernel_w = kernel[ns - 1],
        .stride_h = lead ? 1 : strides[0], .stride_w = strides[ns - 1],
        .dilation_h = lead ? 1 : dilations[0], .dilation_w = dilations[ns - 1],
        .pad_top = lead ? 0 : pads[0], .pad_left = pads[ns - 1],
        .pad_bottom = lead ? 0 : pads[ns], .pad_right = pads[2 * ns - 1],
    };
    if (qp_q8_window_check(win) != QP_OK) {
        qp_error_clear();
        snprintf(why, cap, "window out of the int8 kernels' range");
        return 0;
    }
    return 1;
}

int qp_q8_threads_for(int n_threads, int64_t work, int64_t min_per_thread) {
    return n_threads > 1 && work >= min_per_thread * n_threads ? n_threads : 1;
}

int qp_q8_chunks(int64_t n, int n_threads, int64_t align, int64_t *chunk_len) {
    if (n <= 0) {
        *chunk_len = 0;
        return 0;
    }
    if (n_threads < 1) n_threads = 1;
    if (align < 1) align = 1;
    int64_t per = (n + n_threads - 1) / n_threads;
    per = (per + align - 1) / align * align;
    *chunk_len = per;
    return (int)((n + per - 1) / per);
}
