/* q8_window.h — private helpers for window sweeps (valid output ranges, one depthwise output), shared by int8 variants. */
#ifndef QPIPE_Q8_WINDOW_H
#define QPIPE_Q8_WINDOW_H

#include <stdint.h>

#include "kernels/int8/q8_kernels.h"

/* The outputs o in [0, out) whose tap o * stride + offset lies in [0, in): [*begin, *end). */
static inline void qp_q8_valid_outputs(int64_t offset, int64_t stride, int64_t in, int64_t out,
                                       int64_t *begin, int64_t *end) {
    int64_t b = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    int64_t e = in - 1 - offset < 0 ? 0 : (in - 1 - offset) / stride + 1;
    if (e > out) e = out;
    if (b > e) b = e;
    *begin = b;
    *end = e;
}

/* One depthwise output with explicit bounds checks: taps outside the input read the input zero
 * point, which the folded bias cancels. Accumulates in uint32 (wraps like the SIMD adds). */
static inline uint8_t qp_q8_dwconv_one(const qp_u8_dwconv_args *a, const uint8_t *plane,
                                       const int8_t *kernel, int32_t bias, qp_q31 q, int64_t oh,
                                       int64_t ow) {
    const qp_q8_window *w = &a->win;
    uint32_t acc = (uint32_t)bias;
    for (int64_t kh = 0; kh < w->kernel_h; kh++) {
        const int64_t ih = oh * w->stride_h - w->pad_top + kh * w->dilation_h;
        const int row_inside = ih >= 0 && ih < w->in_h;
        for (int64_t kw = 0; kw < w->kernel_w; kw++) {
            const int64_t iw = ow * w->stride_w - w->pad_left + kw * w->dilation_w;
            const int32_t x = (row_inside && iw >= 0 && iw < w->in_w) ? plane[ih * w->in_w + iw]
                                                                      : a->input_zero_point;
            acc += (uint32_t)(kernel[kh * w->kernel_w + kw] * x);
        }
    }
    return qp_requantize((int32_t)acc, q.multiplier, q.shift, a->out_zero_point, a->qmin, a->qmax);
}

/* The zero-point-padded plane the AVX2 depthwise kernel copies each channel into: rows
 * [-pad_top, rows), columns [-pad_left, cols), covering every tap of every output (even when
 * out_h/out_w exceed what the pads imply) plus 48 columns for the last 16-output block's reads. */
static inline void qp_q8_dwconv_padded_dims(const qp_q8_window *w, int64_t *rows, int64_t *cols) {
    int64_t r = w->pad_top + w->in_h + w->pad_bottom;
    const int64_t r_taps = (w->out_h - 1) * w->stride_h + (w->kernel_h - 1) * w->dilation_h + 1;
    if (r_taps > r) r = r_taps;
    int64_t c = w->pad_left + w->in_w + w->pad_right;
    const int64_t c_taps = (w->out_w - 1) * w->stride_w + (w->kernel_w - 1) * w->dilation_w + 1;
    if (c_taps > c) c = c_taps;
    *rows = r;
    *cols = (c + 48 + 31) & ~(int64_t)31;
}

#endif
