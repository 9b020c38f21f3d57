/* pool.inc.h — max/average/Lp pooling of one channel plane (1-3 spatial dims); included once per ISA (QP_F32_ISA_NAME). */
#ifndef QP_F32_ISA_NAME
#error "define QP_F32_ISA_NAME(name) before including pool.inc.h"
#endif

#include <math.h>

#include "kernels/fp32/f32_kernels.h"
#include "kernels/fp32/f32_window.h"

/* Taps of output o that a pooling window counts when dividing: inside the input, or inside the
 * padded input [-pad_begin, in + pad_end) for count_include_pad. */
static int64_t QP_F32_ISA_NAME(pool_count)(const qp_f32_window *w, int dim, int64_t o, int include_pad) {
    int64_t lo = include_pad ? -w->pad_begin[dim] : 0;
    int64_t hi = include_pad ? w->in[dim] + w->pad_end[dim] : w->in[dim];
    int64_t kb, ke;
    qp_f32_window_taps(o, w->stride[dim], w->pad_begin[dim], w->dilation[dim], w->kernel[dim], lo, hi,
                       &kb, &ke);
    return ke - kb;
}

static inline float QP_F32_ISA_NAME(max3)(float a, float b, float c) {
    float m = a > b ? a : b;
    return c > m ? c : m;
}

/* 3x3 max pooling (dilation 1, 2-D), the shape of nearly every CNN's MaxPool: all 9 taps per
 * output in one pass. Rows outside the input are replaced by a row of the same window that is
 * inside (max is idempotent), so only the few border columns need bounds tests. */
#define QP_MAX3X3_INTERIOR(STRIDE)                                                                 \
    for (int64_t ow = ob; ow < oe; ow++) {                                                         \
        const int64_t x = ow * (STRIDE) - pw;                                                      \
        float m0 = QP_F32_ISA_NAME(max3)(r0[x], r0[x + 1], r0[x + 2]);                             \
        float m1 = QP_F32_ISA_NAME(max3)(r1[x], r1[x + 1], r1[x + 2]);                             \
        float m2 = QP_F32_ISA_NAME(max3)(r2[x], r2[x + 1], r2[x + 2]);                             \
        out[ow] = QP_F32_ISA_NAME(max3)(m0, m1, m2);                                               \
    }

/* One output of a 3x3 max window with explicit column checks (border columns only). */
static float QP_F32_ISA_NAME(max3x3_border)(const float *r0, const float *r1, const float *r2, int64_t x, int64_t W) {
    float m = -INFINITY;
    for (int64_t kw = 0; kw < 3; kw++) {
        int64_t ix = x + kw;
        if (ix >= 0 && ix < W) m = QP_F32_ISA_NAME(max3)(m, QP_F32_ISA_NAME(max3)(r0[ix], r1[ix], r2[ix]), m);
    }
    return m;
}

static void QP_F32_ISA_NAME(max3x3)(const qp_f32_pool_args *a) {
    const qp_f32_window *w = &a->win;
    const int64_t H = w->in[1], W = w->in[2], OH = w->out[1], OW = w->out[2];
    const int64_t sh = w->stride[1], sw = w->stride[2], pw = w->pad_begin[2];
    int64_t ob = qp_f32_ceil_div(pw, sw), oe = qp_f32_floor_div(W - 3 + pw, sw) + 1;
    if (ob > OW) ob = OW;
    if (oe > OW) oe = OW;
    if (oe < ob) oe = ob;
    for (int64_t oh = 0; oh < OH; oh++) {
        float *restrict out = a->output + oh * OW;
        int64_t kb, ke;
        qp_f32_window_taps(oh, sh, w->pad_begin[1], 1, 3, 0, H, &kb, &ke);
        if (kb >= ke) {
            for (int64_t ow = 0; ow < OW; ow++) out[ow] = -INFINITY;
            continue;
        }
        const int64_t y = oh * sh - w->pad_begin[1];
        const float *rows[3];
        for (int64_t k = 0; k < 3; k++) rows[k] = a->input + (y + (k >= kb && k < ke ? k : kb)) * W;
        const float *restrict r0 = rows[0], *restrict r1 = rows[1], *restrict r2 = rows[2];
        for (int64_t ow = 0; ow < ob; ow++) out[ow] = QP_F32_ISA_NAME(max3x3_border)(r0, r1, r2, ow * sw - pw, W);
        for (int64_t ow = oe; ow < OW; ow++) out[ow] = QP_F32_ISA_NAME(max3x3_border)(r0, r1, r2, ow * sw - pw, W);
        if (sw == 1) {
            QP_MAX3X3_INTERIOR(1)
        } else if (sw == 2) {
            QP_MAX3X3_INTERIOR(2)
        } else {
            QP_MAX3X3_INTERIOR(sw)
        }
    }
}
#undef QP_MAX3X3_INTERIOR

/* Each output row (fixed od, oh) is accumulated tap by tap: for every (kd, kh) input row inside
 * the input and every kw, one pass over the row's valid output range. */
void QP_F32_ISA_NAME(qp_f32_pool)(const qp_f32_pool_args *a) {
    const qp_f32_window *w = &a->win;
    const int64_t D = w->in[0], H = w->in[1], W = w->in[2];
    const int64_t OD = w->out[0], OH = w->out[1], OW = w->out[2];
    const int64_t KW = w->kernel[2], sw = w->stride[2];
    const qp_f32_pool_kind kind = a->kind;
    const int is_avg = kind == QP_F32_POOL_AVG_EXCLUDE_PAD || kind == QP_F32_POOL_AVG_INCLUDE_PAD;
    const int include_pad = kind == QP_F32_POOL_AVG_INCLUDE_PAD;
    const float p = a->p;
    if (kind == QP_F32_POOL_MAX && D == 1 && OD == 1 && w->kernel[0] == 1 && w->kernel[1] == 3 &&
        w->kernel[2] == 3 && w->dilation[1] == 1 && w->dilation[2] == 1) {
        QP_F32_ISA_NAME(max3x3)(a);
        return;
    }
    float *restrict count_w = a->scratch; /* per output column: taps counted along W */
    if (is_avg)
        for (int64_t ow = 0; ow < OW; ow++)
            count_w[ow] = (float)QP_F32_ISA_NAME(pool_count)(w, 2, ow, include_pad);

    for (int64_t od = 0; od < OD; od++) {
        int64_t kd_b, kd_e;
        qp_f32_window_taps(od, w->stride[0], w->pad_begin[0], w->dilation[0], w->kernel[0], 0, D, &kd_b, &kd_e);
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t kh_b, kh_e;
            qp_f32_window_taps(oh, w->stride[1], w->pad_begin[1], w->dilation[1], w->kernel[1], 0, H, &kh_b,
                               &kh_e);
            float *restrict out = a->output + (od * OH + oh) * OW;
            const float init = kind == QP_F32_POOL_MAX ? -INFINITY : 0.0f;
            for (int64_t ow = 0; ow < OW; ow++) out[ow] = init;
            for (int64_t kd = kd_b; kd < kd_e; kd++)
                for (int64_t kh = kh_b; kh < kh_e; kh++) {
                    int64_t id = od * w->stride[0] - w->pad_begin[0] + kd * w->dilation[0];
                    int64_t ih = oh * w->stride[1] - w->pad_begin[1] + kh * w->dilation[1];
                    const float *row = a->input + (id * H + ih) * W;
                    for (int64_t kw = 0; kw < KW; kw++) {
                        int64_t offset = kw * w->dilation[2] - w->pad_begin[2], ob, oe;
                        qp_f32_valid_outputs(offset, sw, W, OW, &ob, &oe);
                        const int64_t n = oe - ob;
                        if (n <= 0) continue;
                        const float *restrict src = row + ob * sw + offset;
                        float *restrict dst = out + ob;
                        switch (kind) {
                        case QP_F32_POOL_MAX:
                            if (sw == 1)
                                for (int64_t i = 0; i < n; i++) dst[i] = src[i] > dst[i] ? src[i] : dst[i];
                            else if (sw == 2)
                                for (int64_t i = 0; i < n; i++)
                                    dst[i] = src[2 * i] > dst[i] ? src[2 * i] : dst[i];
                            else
                                for (int64_t i = 0; i < n; i++)
                                    dst[i] = src[i * sw] > dst[i] ? src[i * sw] : dst[i];
                            break;
                        case QP_F32_POOL_AVG_EXCLUDE_PAD:
                        case QP_F32_POOL_AVG_INCLUDE_PAD:
                            for (int64_t i = 0; i < n; i++) dst[i] += src[i * sw];
                            break;
                        case QP_F32_POOL_LP:
                            if (p == 2.0f)
                                for (int64_t i = 0; i < n; i++) dst[i] += src[i * sw] * src[i * sw];
                            else if (p == 1.0f)
                                for (int64_t i = 0; i < n; i++) dst[i] += fabsf(src[i * sw]);
                            else
                                for (int64_t i = 0; i < n; i++) dst[i] += powf(fabsf(src[i * sw]), p);
                            break;
                        }
                    }
                }
            if (is_avg) {
                const float count_dh = (float)(QP_F32_ISA_NAME(pool_count)(w, 0, od, include_pad) *
                                               QP_F32_ISA_NAME(pool_count)(w, 1, oh, include_pad));
                for (int64_t ow = 0; ow < OW; ow++) out[ow] = out[ow] / (count_dh * count_w[ow]);
            } else if (kind == QP_F32_POOL_LP) {
                if (p == 2.0f)
                    for (int64_t ow = 0; ow < OW; ow++) out[ow] = sqrtf(out[ow]);
                else if (p != 1.0f)
                    for (int64_t ow = 0; ow < OW; ow++) out[ow] = powf(out[ow], 1.0f / p);
            }
        }
    }
}
