/* q8_add.h — the per-element arithmetic of the quantized Add, shared by its variants so they cannot drift apart. */
#ifndef QPIPE_Q8_ADD_H
#define QPIPE_Q8_ADD_H

#include "kernels/int8/q8_kernels.h"

static inline uint8_t qp_u8_add_one(uint8_t a, uint8_t b, const qp_u8_add_params *p) {
    const int32_t a_shifted = (a - p->a_zero_point) * (1 << p->left_shift);
    const int32_t b_shifted = (b - p->b_zero_point) * (1 << p->left_shift);
    const int32_t sum = qp_q31_mul(a_shifted, p->a_multiplier) + qp_q31_mul(b_shifted, p->b_multiplier);
    const qp_q31 q = p->out_multiplier;
    return qp_requantize(sum, q.multiplier, q.shift, p->out_zero_point, p->qmin, p->qmax);
}

#endif
