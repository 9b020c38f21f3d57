/* add_u8__ref.c — quantized Add of two u8 tensors with their own encodings (TFLite's fixed-point scheme), scalar reference. */
#include <math.h>

#include "kernels/int8/q8_add.h"

static int scale_ok(double s) { return isfinite(s) && s > 0.0; }

qp_status qp_u8_add_params_init(double a_scale, int32_t a_zero_point, double b_scale,
                                int32_t b_zero_point, double out_scale, int32_t out_zero_point,
                                uint8_t qmin, uint8_t qmax, qp_u8_add_params *p) {
    if (!scale_ok(a_scale) || !scale_ok(b_scale) || !scale_ok(out_scale))
        return qp_error(QP_ERR_INVALID_ARG,
                        "int8 Add: scales a=%g b=%g out=%g (allowed: finite and > 0)", a_scale,
                        b_scale, out_scale);
    const int32_t zps[3] = {a_zero_point, b_zero_point, out_zero_point};
    for (int i = 0; i < 3; i++)
        if (zps[i] < 0 || zps[i] > 255)
            return qp_error(QP_ERR_INVALID_ARG,
                            "int8 Add: zero point %d of %s (allowed: 0..255)", (int)zps[i],
                            i == 0 ? "a" : i == 1 ? "b" : "out");
    if (qmin > qmax)
        return qp_error(QP_ERR_INVALID_ARG, "int8 Add: clamp [%d, %d] is empty", qmin, qmax);
    p->a_zero_point = a_zero_point;
    p->b_zero_point = b_zero_point;
    p->out_zero_point = out_zero_point;
    p->left_shift = 20;
    p->qmin = qmin;
    p->qmax = qmax;
    /* Both inputs are brought to the scale 2 max(s_a, s_b) / 2^20, so each multiplier is <= 1/2
     * and the 20 bits of headroom keep their rounding error far below one output step. */
    const double twice_max = 2.0 * (a_scale > b_scale ? a_scale : b_scale);
    qp_status st = qp_q31_from_real(a_scale / twice_max, &p->a_multiplier);
    if (st == QP_OK) st = qp_q31_from_real(b_scale / twice_max, &p->b_multiplier);
    if (st == QP_OK)
        st = qp_q31_from_real(twice_max / ((double)(1 << p->left_shift) * out_scale), &p->out_multiplier);
    if (st != QP_OK) return qp_error_prefix(st, "int8 Add: ");
    return QP_OK;
}

void qp_u8_add__ref(const qp_u8_add_args *args) {
    const qp_u8_add_params *p = args->params;
    uint8_t *out = args->out;
    for (int64_t o = 0; o < args->outer; o++)
        for (int64_t m = 0; m < args->mid; m++) {
            const uint8_t *a = args->a + o * args->a_stride[0] + m * args->a_stride[1];
            const uint8_t *b = args->b + o * args->b_stride[0] + m * args->b_stride[1];
            for (int64_t i = 0; i < args->inner; i++)
                *out++ = qp_u8_add_one(a[i * args->a_stride[2]], b[i * args->b_stride[2]], p);
        }
}
