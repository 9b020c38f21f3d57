/* q8_common.c — plan-time helpers shared by the int8 kernels: window checks and the zero-point bias fold. */
#include <inttypes.h>

#include "kernels/int8/q8_kernels.h"

/* Sizes beyond this would let index arithmetic (products of two dims) overflow int64. */
#define QP_Q8_DIM_MAX ((int64_t)1 << 30)

qp_status qp_q8_window_check(const qp_q8_window *w) {
    const int64_t positive[] = {w->in_h,     w->in_w,     w->out_h,      w->out_w,
                                w->kernel_h, w->kernel_w, w->stride_h,   w->stride_w,
                                w->dilation_h, w->dilation_w};
    static const char *const positive_names[] = {"in_h",     "in_w",     "out_h",      "out_w",
                                                 "kernel_h", "kernel_w", "stride_h",   "stride_w",
                                                 "dilation_h", "dilation_w"};
    for (size_t i = 0; i < sizeof positive / sizeof positive[0]; i++)
        if (positive[i] < 1 || positive[i] > QP_Q8_DIM_MAX)
            return qp_error(QP_ERR_INVALID_ARG, "int8 window: %s = %" PRId64 " (allowed: 1..2^30)",
                            positive_names[i], positive[i]);
    const int64_t pads[] = {w->pad_top, w->pad_left, w->pad_bottom, w->pad_right};
    static const char *const pad_names[] = {"pad_top", "pad_left", "pad_bottom", "pad_right"};
    for (size_t i = 0; i < 4; i++)
        if (pads[i] < 0 || pads[i] > QP_Q8_DIM_MAX)
            return qp_error(QP_ERR_INVALID_ARG, "int8 window: %s = %" PRId64 " (allowed: 0..2^30)",
                            pad_names[i], pads[i]);
    return QP_OK;
}

qp_status qp_u8s8_gemm_fold_bias(int64_t m, int64_t k, const int8_t *w, int64_t w_row_stride,
                                 const int32_t *bias, int32_t input_zero_point, int32_t *bias_out) {
    for (int64_t r = 0; r < m; r++) {
        const int8_t *row = w + r * w_row_stride;
        int64_t sum = 0;
        for (int64_t i = 0; i < k; i++) sum += row[i];
        const int64_t folded = (bias ? (int64_t)bias[r] : 0) - (int64_t)input_zero_point * sum;
        if (folded < INT32_MIN || folded > INT32_MAX)
            return qp_error(QP_ERR_INVALID_ARG,
                            "int8 bias fold: output channel %" PRId64 ": bias - zero point %" PRId32
                            " * weight sum = %" PRId64 " does not fit int32",
                            r, input_zero_point, folded);
        bias_out[r] = (int32_t)folded;
    }
    return QP_OK;
}
