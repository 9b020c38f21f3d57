/* requant.c — converts real multipliers to Q31 fixed point once, at plan time (the only float in the int8 path). */
#include "kernels/int8/requant.h"

#include <math.h>

qp_status qp_q31_from_real(double real, qp_q31 *out) {
    out->multiplier = 0;
    out->shift = 0;
    if (isnan(real) || isinf(real) || real < 0.0)
        return qp_error(QP_ERR_INVALID_ARG,
                        "requantization multiplier %g: must be finite and >= 0", real);
    if (real == 0.0) return QP_OK;
    int exponent = 0;
    const double q = frexp(real, &exponent);
    int64_t q_fixed = (int64_t)round(q * (double)((int64_t)1 << 31));
    if (q_fixed == ((int64_t)1 << 31)) {
        q_fixed /= 2;
        exponent++;
    }
    if (exponent > 31)
        return qp_error(QP_ERR_INVALID_ARG,
                        "requantization multiplier %g: must be < 2^31 (scales out of range)", real);
    if (exponent < -31) return QP_OK; /* every product rounds to 0: flush, as TFLite does */
    out->multiplier = (int32_t)q_fixed;
    out->shift = -exponent;
    return QP_OK;
}

double qp_q31_to_real(qp_q31 q) {
    return ldexp((double)q.multiplier, -31 - q.shift);
}

qp_status qp_wide_rq_from_real(double ra, double rb, int64_t max_operand, int64_t *ma, int64_t *mb,
                               int32_t *shift) {
    *ma = *mb = 0;
    *shift = 1;
    const double m = ra > rb ? ra : rb;
    if (!(ra >= 0) || !(rb >= 0) || !isfinite(ra) || !isfinite(rb) || !(m > 0))
        return qp_error(QP_ERR_INVALID_ARG,
                        "requantization ratios %g, %g: must be finite, >= 0 and not both 0", ra, rb);
    if (max_operand < 1)
        return qp_error(QP_ERR_INVALID_ARG, "requantization operand bound %lld: must be >= 1",
                        (long long)max_operand);
    int e;
    frexp(m, &e); /* m < 2^e */
    int bits_operand = 0;
    while (bits_operand < 62 && ((int64_t)1 << bits_operand) <= max_operand) bits_operand++;
    int s = 61 - bits_operand - e; /* max_operand * 2 * m * 2^s < 2^62 */
    if (s > 62) s = 62;
    if (s < 1)
        return qp_error(QP_ERR_INVALID_ARG, "requantization ratio %g is too large (scales out of range)", m);
    *shift = s;
    *ma = (int64_t)llround(ldexp(ra, s));
    *mb = (int64_t)llround(ldexp(rb, s));
    return QP_OK;
}
