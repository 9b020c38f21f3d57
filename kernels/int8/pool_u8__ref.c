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

qp_status qp_u8_avgpool_scale_table(float in_scale, float out_scale, int64_t max_count, float *table) {
    if (max_count < 1 || max_count > ((int64_t)1 << 24))
        return qp_error(QP_ERR_INVALID_ARG, "int8 AveragePool: window of %lld taps (allowed: 1..2^24)",
                        (long long)max_count);
    table[0] = 0.0f;
    for (int64_t c = 1; c <= max_count; c++) {
        const qp_status st = qp_requant_mean_scale(in_scale, out_scale, c, &table[c]);
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
        a->output[c] = qp_requantize((int32_t)sum, a->scale, a->out_zero_point, a->qmin, a->qmax);
    }
}
