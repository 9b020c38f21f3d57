/* f32_window.h — private index arithmetic shared by the fp32 kernels (floor division, valid output ranges). */
#ifndef QPIPE_F32_WINDOW_H
#define QPIPE_F32_WINDOW_H

#include <stdint.h>

static inline int64_t qp_f32_floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static inline int64_t qp_f32_ceil_div(int64_t a, int64_t b) {
    return -qp_f32_floor_div(-a, b);
}

/* Outputs o in [0, n_out) whose input index o*stride + offset lies in [0, n_in): computed once per
 * row so the loops over o need no bounds test. */
static inline void qp_f32_valid_outputs(int64_t offset, int64_t stride, int64_t n_in, int64_t n_out,
                                        int64_t *o_begin, int64_t *o_end) {
    int64_t ob = qp_f32_ceil_div(-offset, stride), oe = qp_f32_floor_div(n_in - 1 - offset, stride) + 1;
    if (ob < 0) ob = 0;
    if (oe > n_out) oe = n_out;
    *o_begin = ob;
    *o_end = oe > ob ? oe : ob;
}

#endif
