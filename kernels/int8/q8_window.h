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

/* The output rows a depthwise or pooling call computes: [row_begin, row_end), both 0 = all. */
static inline void qp_q8_row_range(int64_t row_begin, int64_t row_end, int64_t out_h, int64_t *begin,
                                   int64_t *end) {
    if (row_begin == 0 && row_end == 0) row_end = out_h;
    *begin = row_begin < 0 ? 0 : row_begin;
    *end = row_end > out_h ? out_h : row_end;
    if (*begin > *end) *begin = *end;
}

/* The outputs [*lo, *hi) whose whole kernel row lies inside the input row: there the valid tap
 * range is 0..KW without a division per output. */
static inline void qp_q8_interior_columns(const qp_q8_window *w, int64_t *lo, int64_t *hi) {
    const int64_t last_tap = (w->kernel_w - 1) * w->dilation_w;
    int64_t b = (w->pad_left + w->stride_w - 1) / w->stride_w;
    int64_t e = w->in_w - 1 - last_tap + w->pad_left < 0 ? 0 : (w->in_w - 1 - last_tap + w->pad_left) / w->stride_w + 1;
    if (e > w->out_w) e = w->out_w;
    if (b > e) b = e;
    *lo = b;
    *hi = e;
}

/* The valid kernel columns of output ow: all of them inside [lo, hi), else computed. */
static inline void qp_q8_kw_range(const qp_q8_window *w, int64_t ow, int64_t lo, int64_t hi, int64_t *kw_b, int64_t *kw_e) {
    if (ow >= lo && ow < hi) {
        *kw_b = 0;
        *kw_e = w->kernel_w;
        return;
    }
    qp_q8_valid_outputs(ow * w->stride_w - w->pad_left, w->dilation_w, w->in_w, w->kernel_w, kw_b, kw_e);
}

/* Taps of a window sweep inside [lo, hi) (in input coordinates), for the include-pad count. */
static inline int64_t qp_q8_taps_inside(int64_t start, int64_t dilation, int64_t kernel, int64_t lo, int64_t hi) {
    int64_t b, e;
    qp_q8_valid_outputs(start - lo, dilation, hi - lo, kernel, &b, &e);
    return e - b;
}

/* The valid kernel rows [*kh_b, *kh_e) of output row oh (once per row, not per output). */
static inline void qp_q8_kh_range(const qp_q8_window *w, int64_t oh, int64_t *kh_b, int64_t *kh_e) {
    qp_q8_valid_outputs(oh * w->stride_h - w->pad_top, w->dilation_h, w->in_h, w->kernel_h, kh_b, kh_e);
}

/* One MaxPool output: clamp(max over the valid taps, qmin, qmax), qmin for a window with no
 * valid tap; [lo, hi) from qp_q8_interior_columns, [kh_b, kh_e) from qp_q8_kh_range. */
static inline uint8_t qp_q8_maxpool_one(const qp_u8_pool_args *a, const uint8_t *plane, int64_t oh, int64_t ow,
                                        int64_t lo, int64_t hi, int64_t kh_b, int64_t kh_e) {
    const qp_q8_window *w = &a->win;
    const int64_t h0 = oh * w->stride_h - w->pad_top, w0 = ow * w->stride_w - w->pad_left;
    int64_t kw_b, kw_e;
    qp_q8_kw_range(w, ow, lo, hi, &kw_b, &kw_e);
    int best = -1;
    for (int64_t kh = kh_b; kh < kh_e; kh++) {
        const uint8_t *row = plane + (h0 + kh * w->dilation_h) * w->in_w;
        for (int64_t kw = kw_b; kw < kw_e; kw++) {
            const int v = row[w0 + kw * w->dilation_w];
            if (v > best) best = v;
        }
    }
    if (best < a->qmin) best = a->qmin;
    if (best > a->qmax) best = a->qmax;
    return (uint8_t)best;
}

/* One AveragePool output: qp_requantize(sum over valid taps of (x - za), count_scale[count]),
 * count per count_include_pad; [lo, hi) and [kh_b, kh_e) as for qp_q8_maxpool_one. */
static inline uint8_t qp_q8_avgpool_one(const qp_u8_pool_args *a, const uint8_t *plane, int64_t oh, int64_t ow,
                                        int64_t lo, int64_t hi, int64_t kh_b, int64_t kh_e) {
    const qp_q8_window *w = &a->win;
    const int64_t h0 = oh * w->stride_h - w->pad_top, w0 = ow * w->stride_w - w->pad_left;
    int64_t kw_b, kw_e;
    qp_q8_kw_range(w, ow, lo, hi, &kw_b, &kw_e);
    uint32_t sum = 0; /* wraps only for windows of more than 2^23 taps */
    for (int64_t kh = kh_b; kh < kh_e; kh++) {
        const uint8_t *row = plane + (h0 + kh * w->dilation_h) * w->in_w;
        for (int64_t kw = kw_b; kw < kw_e; kw++) sum += (uint32_t)(row[w0 + kw * w->dilation_w] - a->input_zero_point);
    }
    int64_t count = (kh_e - kh_b) * (kw_e - kw_b);
    if (a->count_include_pad) {
        const int64_t padded_w = ow >= lo && ow < hi ? w->kernel_w
                                                     : qp_q8_taps_inside(w0, w->dilation_w, w->kernel_w, -w->pad_left,
                                                                         w->in_w + w->pad_right);
        count = qp_q8_taps_inside(h0, w->dilation_h, w->kernel_h, -w->pad_top, w->in_h + w->pad_bottom) * padded_w;
    }
    return qp_requantize((int32_t)sum, count > 0 ? a->count_scale[count] : 0.0f, a->out_zero_point, a->qmin, a->qmax);
}

/* One depthwise output with explicit bounds checks: taps outside the input read the input zero
 * point, which the folded bias cancels. Accumulates in uint32 (wraps like the SIMD adds). */
static inline uint8_t qp_q8_dwconv_one(const qp_u8_dwconv_args *a, const uint8_t *plane,
                                       const int8_t *kernel, int32_t bias, float scale, int64_t oh,
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
    return qp_requantize((int32_t)acc, scale, a->out_zero_point, a->qmin, a->qmax);
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
