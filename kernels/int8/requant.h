/* requant.h — fixed-point requantization (Q31 multiplier + shift, single rounding) shared by every int8 kernel. */
#ifndef QPIPE_Q8_REQUANT_H
#define QPIPE_Q8_REQUANT_H

#include <stdint.h>

#include "qpipe/qp_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A real multiplier m >= 0 as m ~= multiplier * 2^-31 * 2^-shift.
 * multiplier is 0 or in [2^30, 2^31 - 1]; shift is a RIGHT shift in [-31, 31] (negative = left
 * shift, used when m >= 1). Kernels require multiplier >= 0, which qp_q31_from_real guarantees. */
typedef struct qp_q31 {
    int32_t multiplier;
    int32_t shift;
} qp_q31;

/* gemmlowp's QuantizeMultiplier: frexp(m) = q * 2^e with q in [0.5, 1), multiplier =
 * round(q * 2^31) (half away from zero; a round-up to 2^31 halves it and bumps e), shift = -e.
 * m with e < -31 (m < ~2^-32, all products round to 0 or +-1 at most) flushes to {0, 0}, as in
 * TFLite. Errors: m negative, NaN, infinite, or m >= 2^31 (QP_ERR_INVALID_ARG). */
qp_status qp_q31_from_real(double real, qp_q31 *out);

/* The real value a qp_q31 stands for (for tests, reports and tolerances). */
double qp_q31_to_real(qp_q31 q);

/* x * m in fixed point with ONE rounding (TFLite's single-rounding MultiplyByQuantizedMultiplier,
 * XNNPACK's "rndnu"): with total = 31 + shift (0..62),
 *     y = ((int64)x * multiplier + 2^(total - 1)) >> total      (arithmetic shift; no term if 0)
 * saturated to int32. It is floor(x * m + 1/2) for the stored m: the nearest integer, exact ties
 * going UP (towards +inf: 2.5 -> 3, -2.5 -> -2). No overflow: |x * multiplier| < 2^62 and the
 * rounding term is at most 2^61. The only saturation is for shift < 0 (m >= 1) and a result
 * outside int32, where the output clamp makes it irrelevant anyway. */
static inline int32_t qp_q31_mul(int32_t x, qp_q31 q) {
    const int total = 31 + q.shift;
    int64_t y = (int64_t)x * (int64_t)q.multiplier;
    if (total > 0) y = (y + ((int64_t)1 << (total - 1))) >> total;
    return y > INT32_MAX ? INT32_MAX : y < INT32_MIN ? INT32_MIN : (int32_t)y;
}

/* The int8 output stage every kernel ends with: clamp(zp_out + acc * m, qmin, qmax), the sum taken
 * without overflow. ReLU / ReLU6 / Clip are fused by narrowing [qmin, qmax]. */
static inline uint8_t qp_requantize(int32_t acc, int32_t multiplier, int32_t shift, int32_t zp_out,
                                    int32_t qmin, int32_t qmax) {
    const qp_q31 q = {multiplier, shift};
    int64_t v = (int64_t)zp_out + qp_q31_mul(acc, q);
    if (v < qmin) v = qmin;
    if (v > qmax) v = qmax;
    return (uint8_t)v;
}

/* ------------------------------------------------------------------------------------------- */
/* Wide requantization for elementwise ops: int64 multipliers of ~46-53 bits                   */
/* ------------------------------------------------------------------------------------------- */

/* Add and Mul see small exact integers ((a - za) in -255..255, or their product in +-65025), so
 * they can afford multipliers far wider than Q31 and round ONCE with an error ~2^-40 of a step:
 * out = clamp(zo + floor((sum + 2^(shift-1)) / 2^shift)), sum = (a-za)*ma + (b-zb)*mb for Add,
 * (a-za)*(b-zb)*ma for Mul. The int8 engine's QUANTSIM twin rounds the same real values in
 * float, so the two agree except within ~1e-11 steps of a tie.
 *
 * Chooses shift for ratios ra, rb >= 0 (rb may be 0, not both) on operands of magnitude up to
 * max_operand (> 0) so that max_operand * (ma + mb) < 2^62, then ma = llround(ra * 2^shift)
 * (same for mb). QP_ERR_INVALID_ARG when a ratio is negative, not finite, both are 0, or the
 * largest is too big to leave shift >= 1. */
qp_status qp_wide_rq_from_real(double ra, double rb, int64_t max_operand, int64_t *ma, int64_t *mb,
                               int32_t *shift);

/* zo + floor((sum + 2^(shift-1)) / 2^shift) clamped to [qmin, qmax]; shift in 1..62 and
 * |sum| < 2^62 (what qp_wide_rq_from_real guarantees). */
static inline uint8_t qp_wide_requantize(int64_t sum, int32_t shift, int32_t zp_out, int32_t qmin,
                                         int32_t qmax) {
    int64_t v = zp_out + ((sum + ((int64_t)1 << (shift - 1))) >> shift);
    if (v < qmin) v = qmin;
    if (v > qmax) v = qmax;
    return (uint8_t)v;
}

#ifdef __cplusplus
}
#endif
#endif
