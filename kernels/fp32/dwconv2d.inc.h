/* dwconv2d.inc.h — depthwise 2-D convolution of one channel plane; included once per ISA (QP_F32_ISA_NAME) so the
 * compiler vectorizes the same source for each vector width. */
#ifndef QP_F32_ISA_NAME
#error "define QP_F32_ISA_NAME(name) before including dwconv2d.inc.h"
#endif

#include <string.h>

#include "kernels/fp32/f32_kernels.h"
#include "kernels/fp32/f32_window.h"

/* Any kernel size, stride, dilation and padding: for each (kh, kw) tap, one axpy over the output
 * row's valid range (computed once per tap), so the inner loop has no bounds test. */
static void QP_F32_ISA_NAME(dw_generic)(const qp_f32_dwconv2d_args *a) {
    const qp_f32_window *w = &a->win;
    const int64_t H = w->in[1], W = w->in[2], OH = w->out[1], OW = w->out[2];
    const int64_t KH = w->kernel[1], KW = w->kernel[2], sh = w->stride[1], sw = w->stride[2];
    for (int64_t oh = 0; oh < OH; oh++) {
        float *restrict out = a->output + oh * OW;
        for (int64_t ow = 0; ow < OW; ow++) out[ow] = a->bias;
        int64_t kh_b, kh_e;
        qp_f32_window_taps(oh, sh, w->pad_begin[1], w->dilation[1], KH, 0, H, &kh_b, &kh_e);
        for (int64_t kh = kh_b; kh < kh_e; kh++) {
            const float *row = a->input + (oh * sh - w->pad_begin[1] + kh * w->dilation[1]) * W;
            for (int64_t kw = 0; kw < KW; kw++) {
                int64_t offset = kw * w->dilation[2] - w->pad_begin[2], ob, oe;
                qp_f32_valid_outputs(offset, sw, W, OW, &ob, &oe);
                if (ob >= oe) continue;
                const float weight = a->kernel[kh * KW + kw];
                const float *restrict src = row + ob * sw + offset;
                float *restrict dst = out + ob;
                const int64_t n = oe - ob;
                if (sw == 1)
                    for (int64_t i = 0; i < n; i++) dst[i] += weight * src[i];
                else
                    for (int64_t i = 0; i < n; i++) dst[i] += weight * src[i * sw];
            }
        }
        if (a->clamp) QP_F32_ISA_NAME(qp_f32_clamp)(out, out, OW, a->lo, a->hi);
    }
}

/* One output of a 3x3 window with explicit column checks (border columns only). */
static inline float QP_F32_ISA_NAME(dw3x3_border)(const float *r0, const float *r1, const float *r2,
                                                  const float *k, float bias, int64_t x, int64_t W) {
    float acc = bias;
    for (int64_t kw = 0; kw < 3; kw++) {
        int64_t ix = x + kw;
        if (ix < 0 || ix >= W) continue;
        acc += k[kw] * r0[ix] + k[3 + kw] * r1[ix] + k[6 + kw] * r2[ix];
    }
    return acc;
}

/* Strided 3x3, dilation 1, any padding: all 9 taps in registers per output, read straight from
 * the input (copying a plane that the stride then subsamples costs more than it saves). Rows
 * outside the input read a zero row, which multiplies like the spec's zero padding; columns
 * outside exist only at the row ends and go through dw3x3_border. The stride is a compile-time
 * constant in the interior loop so it vectorizes (stride 2 as even/odd lane shuffles). */
#define QP_DW3X3_INTERIOR(STRIDE)                                                                  \
    for (int64_t ow = ob; ow < oe; ow++) {                                                         \
        const int64_t x = ow * (STRIDE) - pw;                                                      \
        out[ow] = bias + k0 * r0[x] + k1 * r0[x + 1] + k2 * r0[x + 2] + k3 * r1[x] +               \
                  k4 * r1[x + 1] + k5 * r1[x + 2] + k6 * r2[x] + k7 * r2[x + 1] + k8 * r2[x + 2];  \
    }

static void QP_F32_ISA_NAME(dw3x3_strided)(const qp_f32_dwconv2d_args *a) {
    const qp_f32_window *w = &a->win;
    const int64_t H = w->in[1], W = w->in[2], OH = w->out[1], OW = w->out[2];
    const int64_t sh = w->stride[1], sw = w->stride[2], ph = w->pad_begin[1], pw = w->pad_begin[2];
    const float *k = a->kernel;
    const float k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6],
                k7 = k[7], k8 = k[8], bias = a->bias;
    float *zeros = a->scratch;
    for (int64_t x = 0; x < W; x++) zeros[x] = 0.0f;
    /* interior columns: all three taps inside [0, W) */
    int64_t ob = qp_f32_ceil_div(pw, sw), oe = qp_f32_floor_div(W - 3 + pw, sw) + 1;
    if (ob > OW) ob = OW;
    if (oe > OW) oe = OW;
    if (oe < ob) oe = ob;
    for (int64_t oh = 0; oh < OH; oh++) {
        const int64_t y = oh * sh - ph;
        const float *restrict r0 = (y >= 0 && y < H) ? a->input + y * W : zeros;
        const float *restrict r1 = (y + 1 >= 0 && y + 1 < H) ? a->input + (y + 1) * W : zeros;
        const float *restrict r2 = (y + 2 >= 0 && y + 2 < H) ? a->input + (y + 2) * W : zeros;
        float *restrict out = a->output + oh * OW;
        for (int64_t ow = 0; ow < ob; ow++)
            out[ow] = QP_F32_ISA_NAME(dw3x3_border)(r0, r1, r2, k, bias, ow * sw - pw, W);
        if (sw == 2) {
            QP_DW3X3_INTERIOR(2)
        } else {
            QP_DW3X3_INTERIOR(sw)
        }
        for (int64_t ow = oe; ow < OW; ow++)
            out[ow] = QP_F32_ISA_NAME(dw3x3_border)(r0, r1, r2, k, bias, ow * sw - pw, W);
        if (a->clamp) QP_F32_ISA_NAME(qp_f32_clamp)(out, out, OW, a->lo, a->hi);
    }
}
#undef QP_DW3X3_INTERIOR

/* Stride 1: the plane is first copied into scratch with its zero padding made explicit
 * (qp_f32_dwconv2d_layout), so no loop tests bounds, and the output is computed "wide": one flat
 * loop over out_h rows of the padded width, whose last columns are garbage and dropped when
 * compacting. A 7x7 or 14x14 plane then runs as one long vector loop instead of many short rows. */
static void QP_F32_ISA_NAME(dw_plane)(const qp_f32_dwconv2d_args *a) {
    const qp_f32_window *w = &a->win;
    if (w->stride[1] != 1 || w->stride[2] != 1) {
        if (w->kernel[1] == 3 && w->kernel[2] == 3 && w->dilation[1] == 1 && w->dilation[2] == 1)
            QP_F32_ISA_NAME(dw3x3_strided)(a);
        else
            QP_F32_ISA_NAME(dw_generic)(a);
        return;
    }
    const int64_t H = w->in[1], W = w->in[2], OH = w->out[1], OW = w->out[2];
    const int64_t KH = w->kernel[1], KW = w->kernel[2];
    const int64_t dh = w->dilation[1], dw = w->dilation[2], ph = w->pad_begin[1], pw = w->pad_begin[2];
    int64_t Hp, Wp;
    qp_f32_dwconv2d_layout(w, &Hp, &Wp);
    float *restrict padded = a->scratch;
    /* top padding, rows with their side padding, then everything below as zeros */
    memset(padded, 0, sizeof(float) * (size_t)(ph * Wp));
    for (int64_t y = 0; y < H; y++) {
        float *row = padded + (ph + y) * Wp;
        for (int64_t x = 0; x < pw; x++) row[x] = 0.0f;
        memcpy(row + pw, a->input + y * W, sizeof(float) * (size_t)W);
        for (int64_t x = pw + W; x < Wp; x++) row[x] = 0.0f;
    }
    memset(padded + (ph + H) * Wp, 0, sizeof(float) * (size_t)((Hp - ph - H) * Wp));
    const float *restrict k = a->kernel;
    const float bias = a->bias;
    const int is_3x3 = KH == 3 && KW == 3 && dh == 1 && dw == 1;
    /* 3x3 weights in locals: the compiler keeps them in registers across the loop */
    const float k0 = is_3x3 ? k[0] : 0, k1 = is_3x3 ? k[1] : 0, k2 = is_3x3 ? k[2] : 0, k3 = is_3x3 ? k[3] : 0,
                k4 = is_3x3 ? k[4] : 0, k5 = is_3x3 ? k[5] : 0, k6 = is_3x3 ? k[6] : 0, k7 = is_3x3 ? k[7] : 0,
                k8 = is_3x3 ? k[8] : 0;

    float *restrict wide = padded + Hp * Wp;
    const int64_t n = OH * Wp;
    if (is_3x3) {
        const float *restrict r0 = padded, *restrict r1 = padded + Wp, *restrict r2 = padded + 2 * Wp;
        for (int64_t j = 0; j < n; j++)
            wide[j] = bias + k0 * r0[j] + k1 * r0[j + 1] + k2 * r0[j + 2] + k3 * r1[j] + k4 * r1[j + 1] +
                      k5 * r1[j + 2] + k6 * r2[j] + k7 * r2[j + 1] + k8 * r2[j + 2];
    } else {
        for (int64_t j = 0; j < n; j++) wide[j] = bias;
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++) {
                const float weight = k[kh * KW + kw];
                const float *restrict src = padded + kh * dh * Wp + kw * dw;
                for (int64_t j = 0; j < n; j++) wide[j] += weight * src[j];
            }
    }
    if (a->clamp) QP_F32_ISA_NAME(qp_f32_clamp)(wide, wide, n, a->lo, a->hi);
    for (int64_t oh = 0; oh < OH; oh++) memcpy(a->output + oh * OW, wide + oh * Wp, sizeof(float) * (size_t)OW);
}

void QP_F32_ISA_NAME(qp_f32_dwconv2d)(const qp_f32_dwconv2d_args *a) {
#ifdef QP_F32_DW_ROWS
    /* an ISA with load masks computes in place, several planes per setup (dwconv2d_rows__*.c) */
    if (QP_F32_DW_ROWS(&a->win)) {
        QP_F32_DW_ROWS_RUN(a);
        return;
    }
#endif
    const int64_t planes = a->planes > 1 ? a->planes : 1;
    const int64_t in_plane = a->win.in[1] * a->win.in[2], out_plane = a->win.out[1] * a->win.out[2];
    const int64_t taps = a->win.kernel[1] * a->win.kernel[2];
    qp_f32_dwconv2d_args one = *a;
    for (int64_t p = 0; p < planes; p++) {
        one.input = a->input + p * in_plane;
        one.kernel = a->kernel + p * taps;
        one.output = a->output + p * out_plane;
        one.bias = a->biases ? a->biases[p] : a->bias;
        QP_F32_ISA_NAME(dw_plane)(&one);
    }
}
