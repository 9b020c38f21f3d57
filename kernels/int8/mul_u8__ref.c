/* mul_u8__ref.c — quantized Mul of two u8 tensors with their own encodings (ONNX Runtime's QLinearMul arithmetic), scalar reference. */
#include "kernels/int8/q8_add.h"

qp_status qp_u8_mul_params_init(double a_scale, int32_t a_zero_point, double b_scale,
                                int32_t b_zero_point, double out_scale, int32_t out_zero_point,
                                uint8_t qmin, uint8_t qmax, qp_u8_mul_params *p) {
    qp_status st = qp_u8_binary_params_check("Mul", a_scale, a_zero_point, b_scale, b_zero_point,
                                             out_scale, out_zero_point, qmin, qmax);
    if (st != QP_OK) return st;
    p->a_zero_point = a_zero_point;
    p->b_zero_point = b_zero_point;
    p->out_zero_point = (float)out_zero_point;
    p->qmin = qmin;
    p->qmax = qmax;
    /* MLAS: ScaleA * ScaleB / ScaleC, left to right in float (the same as a weighted op's scale) */
    st = qp_requant_scale((float)a_scale, (float)b_scale, (float)out_scale, &p->ratio);
    if (st != QP_OK) return qp_error_prefix(st, "int8 Mul: ");
    return QP_OK;
}

void qp_u8_mul__ref(const qp_u8_mul_args *args) {
    const qp_u8_mul_params *p = args->params;
    uint8_t *out = args->out;
    for (int64_t o = 0; o < args->outer; o++)
        for (int64_t m = 0; m < args->mid; m++) {
            const uint8_t *a = args->a + o * args->a_stride[0] + m * args->a_stride[1];
            const uint8_t *b = args->b + o * args->b_stride[0] + m * args->b_stride[1];
            for (int64_t i = 0; i < args->inner; i++)
                *out++ = qp_u8_mul_one(a[i * args->a_stride[2]], b[i * args->b_stride[2]], p);
        }
}
