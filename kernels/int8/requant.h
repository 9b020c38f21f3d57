/* requant.h — fixed-point requantization (gemmlowp/TFLite Q31 multiplier + shift) shared by every int8 kernel. */
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

/* gemmlowp SaturatingRoundingDoublingHighMul: (a*b + 2^30) >> 31 in 64 bits, i.e. the nudge-then-
 * truncate formulation of gemmlowp. NOTE its rounding at an exact half: +x.5 goes up (away from
 * zero) but -x.5 also goes UP (toward zero), because the negative nudge 1 - 2^30 plus truncation
 * equals a floor of (ab + 2^30) / 2^31. The one overflow, a = b = INT32_MIN, saturates to INT32_MAX. */
static inline int32_t qp_q31_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero
 * (-2.5 -> -3, 2.5 -> 3). exponent in [0, 31]. */
static inline int32_t qp_q31_rdbpot(int32_t x, int exponent) {
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * m in fixed point: TFLite's MultiplyByQuantizedMultiplier. A left shift (shift < 0) saturates
 * to int32 where TFLite would overflow (undefined), so huge products clamp instead of wrapping. */
static inline int32_t qp_q31_mul(int32_t x, qp_q31 q) {
    if (q.shift < 0) {
        int64_t y = (int64_t)x * ((int64_t)1 << -q.shift);
        x = y > INT32_MAX ? INT32_MAX : y < INT32_MIN ? INT32_MIN : (int32_t)y;
    }
    return qp_q31_rdbpot(qp_q31_srdhm(x, q.multiplier), q.shift > 0 ? q.shift : 0);
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

#ifdef __cplusplus
}
#endif
#endif
