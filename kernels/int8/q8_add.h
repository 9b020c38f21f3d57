/* q8_add.h — the per-element arithmetic of the quantized Add and Mul (ONNX Runtime's), shared by their variants so they cannot drift apart. */
#ifndef QPIPE_Q8_ADD_H
#define QPIPE_Q8_ADD_H

#include <math.h>

#include "kernels/int8/q8_kernels.h"

/* One Add output, in MLAS's order (b's term innermost). */
static inline uint8_t qp_u8_add_one(uint8_t a, uint8_t b, const qp_u8_add_params *p) {
    return qp_u8_binary_out(fmaf((float)a, p->a_ratio, fmaf((float)b, p->b_ratio, p->fixed)), p->qmin, p->qmax);
}
/* The same when a is the broadcast operand: MLAS's scalar-A path puts a's term innermost. */
static inline uint8_t qp_u8_add_one_a_bcast(uint8_t a, uint8_t b, const qp_u8_add_params *p) {
    return qp_u8_binary_out(fmaf((float)b, p->b_ratio, fmaf((float)a, p->a_ratio, p->fixed)), p->qmin, p->qmax);
}

/* |(a - za) * (b - zb)| <= 255 * 255, so the product is exact in int32 and in float. */
static inline uint8_t qp_u8_mul_one(uint8_t a, uint8_t b, const qp_u8_mul_params *p) {
    const int32_t product = (a - p->a_zero_point) * (b - p->b_zero_point);
    float scaled = (float)product * p->ratio;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    /* MLAS rounds the product before adding zo (no FMA in its SSE2 kernel): keep GCC from
     * contracting the two into an FMA where this is inlined into AVX2/FMA code. */
    __asm__("" : "+x"(scaled));
#endif
    return qp_u8_binary_out(scaled + p->out_zero_point, p->qmin, p->qmax);
}

/* The checks both params_init functions make, with the op named in the message. */
static inline qp_status qp_u8_binary_params_check(const char *op, double a_scale, int32_t a_zero_point,
                                                  double b_scale, int32_t b_zero_point, double out_scale,
                                                  int32_t out_zero_point, uint8_t qmin, uint8_t qmax) {
    const double scales[3] = {a_scale, b_scale, out_scale};
    for (int i = 0; i < 3; i++)
        if (!(isfinite(scales[i]) && scales[i] > 0.0))
            return qp_error(QP_ERR_INVALID_ARG,
                            "int8 %s: scales a=%g b=%g out=%g (allowed: finite and > 0)", op, a_scale,
                            b_scale, out_scale);
    const int32_t zps[3] = {a_zero_point, b_zero_point, out_zero_point};
    for (int i = 0; i < 3; i++)
        if (zps[i] < 0 || zps[i] > 255)
            return qp_error(QP_ERR_INVALID_ARG, "int8 %s: zero point %d of %s (allowed: 0..255)", op,
                            (int)zps[i], i == 0 ? "a" : i == 1 ? "b" : "out");
    if (qmin > qmax) return qp_error(QP_ERR_INVALID_ARG, "int8 %s: clamp [%d, %d] is empty", op, qmin, qmax);
    return QP_OK;
}

#endif
