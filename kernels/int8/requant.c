/* requant.c — the float requantization multipliers, derived once at plan time exactly as ONNX Runtime derives them. */
#include "kernels/int8/requant.h"

#include <math.h>

static int good_scale(float s) { return isfinite(s) && s > 0.0f; }

qp_status qp_requant_scale(float in_scale, float w_scale, float out_scale, float *scale) {
    *scale = 0.0f;
    if (!good_scale(in_scale) || !good_scale(w_scale) || !good_scale(out_scale))
        return qp_error(QP_ERR_INVALID_ARG,
                        "requantization scales in=%g w=%g out=%g: must be finite and > 0", (double)in_scale,
                        (double)w_scale, (double)out_scale);
    /* Two float operations, in ORT's order (qlinearconv.cc ComputeOutputScale): volatile keeps
     * the product rounded to float whatever the compiler's excess-precision settings. */
    volatile float product = in_scale * w_scale;
    const float s = product / out_scale;
    if (!isfinite(s))
        return qp_error(QP_ERR_INVALID_ARG, "requantization multiplier %g * %g / %g is not finite",
                        (double)in_scale, (double)w_scale, (double)out_scale);
    *scale = s;
    return QP_OK;
}

qp_status qp_requant_mean_scale(float in_scale, float out_scale, int64_t count, float *scale) {
    *scale = 0.0f;
    if (!good_scale(in_scale) || !good_scale(out_scale) || count < 1 || count > ((int64_t)1 << 24))
        return qp_error(QP_ERR_INVALID_ARG,
                        "mean requantization: scales in=%g out=%g must be finite and > 0, count %lld in 1..2^24",
                        (double)in_scale, (double)out_scale, (long long)count);
    volatile float divisor = out_scale * (float)count;
    const float s = in_scale / divisor;
    if (!isfinite(s))
        return qp_error(QP_ERR_INVALID_ARG, "mean requantization multiplier %g / (%g * %lld) is not finite",
                        (double)in_scale, (double)out_scale, (long long)count);
    *scale = s;
    return QP_OK;
}
