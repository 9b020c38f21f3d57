/* requant.h — the int8 output stage shared by every accumulating kernel: ONNX Runtime's (MLAS) float requantization, bit for bit. */
#ifndef QPIPE_Q8_REQUANT_H
#define QPIPE_Q8_REQUANT_H

#include <stdint.h>

#include "qpipe/qp_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Why float and not a Q31 fixed-point multiplier: ONNX Runtime, the runtime most exported QDQ
 * models are checked against, requantizes every QLinearConv / QLinearMatMul /
 * QLinearGlobalAveragePool output in float (MLAS MlasRequantizeOutput and the ConvSym kernels'
 * post-processing), and deep networks such as MobileNetV2 amplify a single 1-LSB difference near
 * a tie into top-1 flips. Computing what ORT computes makes qpipe's int8 engine agree with it
 * bit for bit. It is also XNNPACK's default "fp32" requantization for qs8 (and cheaper in SIMD
 * than a 64-bit fixed-point multiply). The arithmetic, every step in IEEE single precision:
 *
 *   scale  = (s_in * s_w[c]) / s_out          (plan time; qp_requant_scale, ORT's order)
 *   v      = (float)acc * scale               (int32 -> float rounds to nearest even above 2^24)
 *   v      = min(max(v, qmin - zp), qmax - zp)
 *   out    = round_half_even(v) + zp          (vcvtps2dq in the default MXCSR mode)
 *
 * No FMA anywhere: the product is rounded to float before the clamp. */

/* The per-channel multiplier as ORT computes it: (in_scale * w_scale) / out_scale, each operation
 * rounded to float. QP_ERR_INVALID_ARG when a scale is not finite and > 0 or the result is not
 * finite. */
qp_status qp_requant_scale(float in_scale, float w_scale, float out_scale, float *scale);

/* The multiplier of an average over `count` values (QLinearGlobalAveragePool's, MLAS
 * CheckQLinearGlobalAveragePoolScaleAndSize): in_scale / (out_scale * (float)count). Errors as
 * qp_requant_scale, and count must be in 1..2^24. */
qp_status qp_requant_mean_scale(float in_scale, float out_scale, int64_t count, float *scale);

/* Round half to even of a float already clamped to |v| <= 2^22 (all the output stage needs; the
 * clamp bounds are within +-255): adding and removing 1.5 * 2^23 leaves the nearest integer,
 * ties to even, without a library call, so scalar loops vectorize. */
static inline float qp_requant_round(float v) {
    return (v + 12582912.0f) - 12582912.0f;
}

/* The output stage: clamp(round_half_even((float)acc * scale) + zp_out, qmin, qmax), computed
 * as ORT computes it (clamp in float, then round; the bounds are integers, so the order does not
 * change the result). ReLU / ReLU6 / Clip are fused by narrowing [qmin, qmax]. */
static inline uint8_t qp_requantize(int32_t acc, float scale, int32_t zp_out, int32_t qmin, int32_t qmax) {
    const float lo = (float)(qmin - zp_out), hi = (float)(qmax - zp_out);
    float v = (float)acc * scale;
    v = v > lo ? v : lo; /* maxps(v, lo): lo for NaN, like MLAS */
    v = v < hi ? v : hi;
    return (uint8_t)((int32_t)qp_requant_round(v) + zp_out);
}

#ifdef __cplusplus
}
#endif
#endif
