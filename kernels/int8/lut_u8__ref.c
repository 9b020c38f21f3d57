/* lut_u8__ref.c — 256-entry table lookup: re-encoding between encodings and unary ops tabulated at plan time. */
#include <math.h>

#include "kernels/int8/q8_kernels.h"

void qp_u8_lut__ref(int64_t n, const uint8_t table[256], const uint8_t *input, uint8_t *output) {
    for (int64_t i = 0; i < n; i++) output[i] = table[input[i]];
}

qp_status qp_u8_lut_requant_table(double in_scale, int32_t in_zero_point, double out_scale,
                                  int32_t out_zero_point, uint8_t qmin, uint8_t qmax,
                                  uint8_t table[256]) {
    if (!(isfinite(in_scale) && in_scale > 0 && isfinite(out_scale) && out_scale > 0))
        return qp_error(QP_ERR_INVALID_ARG,
                        "int8 re-encoding table: scales in=%g out=%g (allowed: finite and > 0)",
                        in_scale, out_scale);
    if (in_zero_point < 0 || in_zero_point > 255 || out_zero_point < 0 || out_zero_point > 255)
        return qp_error(QP_ERR_INVALID_ARG,
                        "int8 re-encoding table: zero points in=%d out=%d (allowed: 0..255)",
                        (int)in_zero_point, (int)out_zero_point);
    if (qmin > qmax)
        return qp_error(QP_ERR_INVALID_ARG, "int8 re-encoding table: clamp [%d, %d] is empty", qmin, qmax);
    const double ratio = in_scale / out_scale;
    for (int q = 0; q < 256; q++) {
        double v = round((double)(q - in_zero_point) * ratio) + out_zero_point;
        if (v < qmin) v = qmin;
        if (v > qmax) v = qmax;
        table[q] = (uint8_t)v;
    }
    return QP_OK;
}
