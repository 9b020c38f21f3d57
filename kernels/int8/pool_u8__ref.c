/* pool_u8__ref.c — u8 MaxPool, AveragePool and GlobalAveragePool (int32 sums, fixed-point division by the count). */
#include <math.h>

#include "kernels/int8/q8_kernels.h"
#include "kernels/int8/q8_window.h"

void qp_u8_maxpool__ref(const qp_u8_pool_args *a) {
    const qp_q8_window *w = &a->win;
    const int64_t plane_in = w->in_h * w->in_w, plane_out = w->out_h * w->out_w;
    for (int64_t c = 0; c < a->channels; c++) {
        const uint8_t *plane = a->input + c * plane_in;
        uint8_t *out = a->output + c * plane_out;
        for (int64_t oh = 0; oh < w->out_h; oh++) {
            int64_t kh_b, kh_e;
            qp_q8_valid_outputs(oh * w->stride_h - w->pad_top, w->dilation_h, w->in_h, w->kernel_h,
                                &kh_b, &kh_e);
            for (int64_t ow = 0; ow < w->out_w; ow++) {
                int64_t kw_b, kw_e;
                qp_q8_valid_outputs(ow * w->stride_w - w->pad_left, w->dilation_w, w->in_w,
                                    w->kernel_w, &kw_b, &kw_e);
                int best = -1;
                for (int64_t kh = kh_b; kh < kh_e; kh++) {
                    const uint8_t *row = plane + (oh * w->stride_h - w->pad_top + kh * w->dilation_h) * w->in_w;
                    for (int64_t kw = kw_b; kw < kw_e; kw++) {
                        const int v = row[ow * w->stride_w - w->pad_left + kw * w->dilation_w];
                        if (v > best) best = v;
                    }
                }
                if (best < a->qmin) best = a->qmin;
                if (best > a->qmax) best = a->qmax;
                out[oh * w->out_w + ow] = (uint8_t)best;
            }
        }
    }
}

/* Taps of a window sweep inside [lo, hi) (in input coordinates), for the include-pad count. */
static int64_t taps_inside(int64_t start, int64_t dilation, int64_t kernel, int64_t lo, int64_t hi) {
    int64_t b, e;
    qp_q8_valid_outputs(start - lo, dilation, hi - lo, kernel, &b, &e);
    return e - b;
}

void qp_u8_avgpool__ref(const qp_u8_pool_args *a) {
    const qp_q8_window *w = &a->win;
    const int64_t plane_in = w->in_h * w->in_w, plane_out = w->out_h * w->out_w;
    for (int64_t c = 0; c < a->channels; c++) {
        const uint8_t *plane = a->input + c * plane_in;
        uint8_t *out = a->output + c * plane_out;
        for (int64_t oh = 0; oh < w->out_h; oh++) {
            const int64_t h0 = oh * w->stride_h - w->pad_top;
            int64_t kh_b, kh_e;
            qp_q8_valid_outputs(h0, w->dilation_h, w->in_h, w->kernel_h, &kh_b, &kh_e);
            const int64_t padded_h =
                taps_inside(h0, w->dilation_h, w->kernel_h, -w->pad_top, w->in_h + w->pad_bottom);
            for (int64_t ow = 0; ow < w->out_w; ow++) {
                const int64_t w0 = ow * w->stride_w - w->pad_left;
                int64_t kw_b, kw_e;
                qp_q8_valid_outputs(w0, w->dilation_w, w->in_w, w->kernel_w, &kw_b, &kw_e);
                uint32_t sum = 0; /* wraps only for windows of more than 2^23 taps */
                for (int64_t kh = kh_b; kh < kh_e; kh++) {
                    const uint8_t *row = plane + (h0 + kh * w->dilation_h) * w->in_w;
                    for (int64_t kw = kw_b; kw < kw_e; kw++)
                        sum += (uint32_t)(row[w0 + kw * w->dilation_w] - a->input_zero_point);
                }
                const int64_t count =
                    a->count_include_pad
                        ? padded_h * taps_inside(w0, w->dilation_w, w->kernel_w, -w->pad_left,
                                                 w->in_w + w->pad_right)
                        : (kh_e - kh_b) * (kw_e - kw_b);
                const qp_q31 q = count > 0 ? a->count_requant[count] : (qp_q31){0, 0};
                out[oh * w->out_w + ow] =
                    qp_requantize((int32_t)sum, q.multiplier, q.shift, a->out_zero_point, a->qmin, a->qmax);
            }
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
