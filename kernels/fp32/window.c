/* window.c — ONNX window arithmetic shared by Conv, ConvTranspose and pooling: output sizes, auto_pad, valid taps. */
#include "kernels/fp32/f32_kernels.h"
#include "kernels/fp32/f32_window.h"

void qp_f32_window_taps(int64_t o, int64_t stride, int64_t pad_begin, int64_t dilation,
                        int64_t kernel, int64_t lo, int64_t hi, int64_t *k_begin, int64_t *k_end) {
    int64_t base = o * stride - pad_begin;
    int64_t kb = qp_f32_ceil_div(lo - base, dilation), ke = qp_f32_floor_div(hi - 1 - base, dilation) + 1;
    if (kb < 0) kb = 0;
    if (ke > kernel) ke = kernel;
    *k_begin = kb;
    *k_end = ke > kb ? ke : kb;
}

int qp_f32_window_dim(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                      qp_f32_auto_pad auto_pad, int ceil_mode, int64_t *pad_begin, int64_t *pad_end,
                      int64_t *out) {
    if (in < 0 || kernel < 1 || stride < 1 || dilation < 1) return -1;
    const int64_t span = (kernel - 1) * dilation + 1;
    int64_t o;
    switch (auto_pad) {
    case QP_F32_AUTO_PAD_SAME_UPPER:
    case QP_F32_AUTO_PAD_SAME_LOWER: {
        o = qp_f32_ceil_div(in, stride);
        int64_t total = (o - 1) * stride + span - in;
        if (total < 0) total = 0;
        /* the odd pixel goes at the end for SAME_UPPER, at the beginning for SAME_LOWER */
        *pad_begin = auto_pad == QP_F32_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
        *pad_end = total - *pad_begin;
        break;
    }
    case QP_F32_AUTO_PAD_VALID:
        *pad_begin = *pad_end = 0;
        o = in >= span ? (in - span) / stride + 1 : 0;
        break;
    default: {
        int64_t padded = in + *pad_begin + *pad_end - span;
        if (padded < 0) return -1;
        o = (ceil_mode ? qp_f32_ceil_div(padded, stride) : padded / stride) + 1;
        /* ceil_mode: a last window that would start in the end padding is dropped (the rule of
         * PyTorch and ONNX Runtime; ONNX's own reference agrees for every backend test) */
        if (ceil_mode && (o - 1) * stride >= in + *pad_begin) o--;
        break;
    }
    }
    if (o < 1) return -1;
    *out = o;
    return 0;
}
