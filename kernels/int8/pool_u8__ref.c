/* pool_u8__ref.c — u8 MaxPool, AveragePool and GlobalAveragePool (int32 sums, fixed-point division by the count). */
#include <math.h>

#include "kernels/int8/q8_kernels.h"
#include "kernels/int8/q8_window.h"

void qp_u8_maxpool__ref(const qp_u8_pool_args *a) {
    const qp_q8_window *w = &a->win;
    const int64_t plane_in = w->in_h * w->in_w, plane_out = w->out_h * w->out_w;
    int64_t lo, hi, oh_begin, oh_end;
    qp_q8_interior_columns(w, &lo, &hi);
    qp_q8_row_range(a->row_begin, a->row_end, w->out_h, &oh_begin, &oh_end);
    for (int64_t c = 0; c < a->channels; c++) {
        const uint8_t *plane = a->input + c * plane_in;
        uint8_t *out = a->output + c * plane_out;
        for (int64_t oh = oh_begin; oh < oh_end; oh++) {
            int64_t kh_b, kh_e;
            qp_q8_kh_range(w, oh, &kh_b, &kh_e);
            for (int64_t ow = 0; ow < w->out_w; ow++)
                out[oh * w->out_w + ow] = qp_q8_maxpool_one(a, plane, oh, ow, lo, hi, kh_b, kh_e);
        }
    }
}

void qp_u8_avgpool__ref(const qp_u8_pool_args *a) {
    const qp_q8_window *w = &a->win;
    const int64_t plane_in = w->in_h * w->in_w, plane_out = w->out_h * w->out_w;
    int64_t lo, hi, oh_begin, oh_end;
    qp_q8_interior_columns(w, &lo, &hi);
    qp_q8_row_range(a->row_begin, a->row_end, w->out_h, &oh_begin, &oh_end);
    for (int64_t c = 0; c < a->channels; c++) {
        const uint8_t *plane = a->input + c * plane_in;
        uint8_t *out = a->output + c * plane_out;
        for (int64_t oh = oh_begin; oh < oh_end; oh++) {
            int64_t kh_b, kh_e;
            qp_q8_kh_range(w, oh, &kh_b, &kh_e);
            for (int64_t ow = 0; ow < w->out_w; ow++)
                out[oh * w->out_w + ow] = qp_q8_avgpool_one(a, plane, oh, ow, lo, hi, kh_b, kh_e);
        }
    }
}

qp_status qp_u8_avgpool_requant_table(double in_scale, double out_scale, int64_t max_count,
                                      qp_q31 *table) {
    if (!(isfinite(in_scale) && in_scale > 0 && isfinite(out_scale) && out_scale > 0))
        return qp_error(QP_ERR_INVALID_ARG,
                        "int8 AveragePool: scales in=%g out=%g (allowed: finite and > 0)", in_scale,
                        out_scale);
    if (max_count < 1)
        return qp_error(QP_ERR_INVALID_ARG, "int8 AveragePool: window of %lld taps (allowed: >= 1)",
                        (long long)max_count);
    table[0] = (qp_q31){0, 0};
    for (int64_t c = 1; c <= max_count; c++) {
        const qp_status st = qp_q31_from_real(in_scale / (out_scale * (double)c), &table[c]);
        if (st != QP_OK) return qp_error_prefix(st, "int8 AveragePool: ");
    }
    return QP_OK;
}

void qp_u8_global_avgpool__ref(const qp_u8_global_avgpool_args *a) {
    for (int64_t c = 0; c < a->channels; c++) {
        const uint8_t *plane = a->input + c * a->plane;
        uint32_t sum = 0;
        for (int64_t i = 0; i < a->plane; i++) sum += plane[i];
        sum -= (uint32_t)a->input_zero_point * (uint32_t)a->plane;
        a->output[c] = qp_requantize((int32_t)sum, a->requant.multiplier, a->requant.shift,
                                     a->out_zero_point, a->qmin, a->qmax);
    }
}
