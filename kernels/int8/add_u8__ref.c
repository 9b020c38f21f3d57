/* add_u8__ref.c — quantized Add of two u8 tensors with their own encodings (ONNX Runtime's QLinearAdd arithmetic), scalar reference. */
#include "kernels/int8/q8_add.h"

#include <math.h>

qp_status qp_u8_add_params_init(double a_scale, int32_t a_zero_point, double b_scale,
                                int32_t b_zero_point, double out_scale, int32_t out_zero_point,
                                uint8_t qmin, uint8_t qmax, qp_u8_add_params *p) {
    qp_status st = qp_u8_binary_params_check("Add", a_scale, a_zero_point, b_scale, b_zero_point,
                                             out_scale, out_zero_point, qmin, qmax);
    if (st != QP_OK) return st;
    /* MLAS: ScaleA / ScaleC in float, and the zero points folded into one constant. GCC builds
     * ORT's `ZeroPointC - (RatioA * ZeroPointA + RatioB * ZeroPointB)` with the first product
     * contracted into an FMA (measured against onnxruntime 1.31: every other order disagrees). */
    const float sa = (float)a_scale, sb = (float)b_scale, so = (float)out_scale;
    p->a_ratio = sa / so;
    p->b_ratio = sb / so;
    volatile float b_part = p->b_ratio * (float)b_zero_point;
    p->fixed = (float)out_zero_point - fmaf(p->a_ratio, (float)a_zero_point, b_part);
    p->qmin = qmin;
    p->qmax = qmax;
    if (!isfinite(p->a_ratio) || !isfinite(p->b_ratio) || !isfinite(p->fixed))
        return qp_error(QP_ERR_INVALID_ARG, "int8 Add: requantization ratio %g / %g, %g / %g out of range", a_scale,
                        out_scale, b_scale, out_scale);
    return QP_OK;
}

void qp_u8_add__ref(const qp_u8_add_args *args) {
    const qp_u8_add_params *p = args->params;
    const int64_t sa = args->a_stride[2], sb = args->b_stride[2];
    const int a_bcast = sa == 0 && sb != 0;
    uint8_t *out = args->out;
    for (int64_t o = 0; o < args->outer; o++)
        for (int64_t m = 0; m < args->mid; m++) {
            const uint8_t *a = args->a + o * args->a_stride[0] + m * args->a_stride[1];
            const uint8_t *b = args->b + o * args->b_stride[0] + m * args->b_stride[1];
            for (int64_t i = 0; i < args->inner; i++)
                *out++ = a_bcast ? qp_u8_add_one_a_bcast(a[0], b[i * sb], p) : qp_u8_add_one(a[i * sa], b[i * sb], p);
        }
}
