/* q8_binary_kernels.h — the int8 elementwise Add and Mul kernels' interface (included by q8_kernels.h). */
#ifndef QPIPE_Q8_BINARY_KERNELS_H
#define QPIPE_Q8_BINARY_KERNELS_H

#include <stdint.h>

#include "qpipe/qp_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Add and Mul compute what ONNX Runtime's QLinearAdd / QLinearMul kernels (MLAS, x86) compute,
 * bit for bit, so a QDQ model gives the same codes in both runtimes:
 *   Add: ra = s_a / s_out, rb = s_b / s_out, fixed = zo - fma(ra, za, rb * zb)   (plan time)
 *        v = fma(a, ra, fma(b, rb, fixed))   (a broadcast along the row: fma(b, rb, fma(a, ra, fixed)))
 *   Mul: r = (s_a * s_b) / s_out;  v = ((float)((a - za) * (b - zb)) * r) + zo   (two roundings)
 * then out = clamp(saturate_u8(round_half_even(v)), qmin, qmax), where a v outside int32 gives
 * 0 (vcvtps2dq's integer indefinite, saturated). Every step is IEEE single precision; fma is
 * the fused multiply-add (fmaf / vfmadd), exactly where MLAS has it. */

/* round_half_even(v) saturated to u8 the way vcvtps2dq + vpackssdw + vpackuswb do it. */
static inline uint8_t qp_u8_binary_out(float v, uint8_t qmin, uint8_t qmax) {
    if (v >= 2147483648.0f) return qmin > 0 ? qmin : 0; /* integer indefinite (INT32_MIN) -> 0 */
    float w = v > -1.0f ? v : -1.0f;                    /* NaN -> -1 -> 0, like MLAS */
    w = w < 256.0f ? w : 256.0f;
    int32_t r = (int32_t)((w + 12582912.0f) - 12582912.0f); /* half to even, |w| <= 256 */
    r = r < 0 ? 0 : r > 255 ? 255 : r;
    r = r < qmin ? qmin : r > qmax ? qmax : r;
    return (uint8_t)r;
}

/* ------------------------------------------------------------------------------------------- */
/* elementwise Add of two u8 tensors with their own encodings                                  */
/* ------------------------------------------------------------------------------------------- */

/* out = the Add formula above (ORT QLinearAdd). */
typedef struct qp_u8_add_params {
    float a_ratio, b_ratio; /* s_a / s_out, s_b / s_out */
    float fixed;            /* zo - fma(a_ratio, za, b_ratio * zb) */
    uint8_t qmin, qmax;
} qp_u8_add_params;

/* Derives the ratios from the scales (plan time; the scales are floats passed as double).
 * QP_ERR_INVALID_ARG for a non-positive or non-finite scale, a zero point outside 0..255,
 * qmin > qmax, or a ratio that is not finite. */
qp_status qp_u8_add_params_init(double a_scale, int32_t a_zero_point, double b_scale,
                                int32_t b_zero_point, double out_scale, int32_t out_zero_point,
                                uint8_t qmin, uint8_t qmax, qp_u8_add_params *params);

/* out is a contiguous [outer][mid][inner] array; a and b are read through per-level element
 * strides, 0 broadcasting along that level. The engine collapses any ONNX broadcast of rank <= 3
 * after merging adjacent dims into this form: same shape {mid*inner, inner, 1}, scalar {0,0,0},
 * per-channel NCHW (C values over N x C x HW) {0, 1, 0} with outer = N, mid = C, inner = HW. */
typedef struct qp_u8_add_args {
    int64_t outer, mid, inner;
    const uint8_t *a;
    int64_t a_stride[3];
    const uint8_t *b;
    int64_t b_stride[3];
    uint8_t *out;
    const qp_u8_add_params *params;
} qp_u8_add_args;

typedef void (*qp_u8_add_fn)(const qp_u8_add_args *args);
void qp_u8_add__ref(const qp_u8_add_args *args);
void qp_u8_add__avx2(const qp_u8_add_args *args);
void qp_u8_add__avx512(const qp_u8_add_args *args);

/* ------------------------------------------------------------------------------------------- */
/* elementwise Mul of two u8 tensors with their own encodings                                  */
/* ------------------------------------------------------------------------------------------- */

/* out = the Mul formula above (ORT QLinearMul). */
typedef struct qp_u8_mul_params {
    int32_t a_zero_point, b_zero_point;
    float ratio;            /* (s_a * s_b) / s_out */
    float out_zero_point;   /* zo, added in float before rounding */
    uint8_t qmin, qmax;
} qp_u8_mul_params;

/* Plan time, as for Add. */
qp_status qp_u8_mul_params_init(double a_scale, int32_t a_zero_point, double b_scale,
                                int32_t b_zero_point, double out_scale, int32_t out_zero_point,
                                uint8_t qmin, uint8_t qmax, qp_u8_mul_params *params);

/* The same [outer][mid][inner] stride form as qp_u8_add_args (0 = broadcast along that level). */
typedef struct qp_u8_mul_args {
    int64_t outer, mid, inner;
    const uint8_t *a;
    int64_t a_stride[3];
    const uint8_t *b;
    int64_t b_stride[3];
    uint8_t *out;
    const qp_u8_mul_params *params;
} qp_u8_mul_args;

typedef void (*qp_u8_mul_fn)(const qp_u8_mul_args *args);
void qp_u8_mul__ref(const qp_u8_mul_args *args);
void qp_u8_mul__avx2(const qp_u8_mul_args *args);
void qp_u8_mul__avx512(const qp_u8_mul_args *args);

#ifdef __cplusplus
}
#endif
#endif
