/* conv_smallc_u8__ref.c — scalar reference direct convolution for few input channels (the CNN stem), and the quad layout its SIMD variant shares. */
#include "kernels/int8/q8_kernels.h"
#include "kernels/int8/q8_window.h"

/* Taps in weight order, a new quad when the current one is full or would touch a third row:
 * with 2-4 taps a row every quad spans at most 2 rows and only the last is short (27 taps of a
 * 3-channel 3x3 kernel: 7 quads, not 9 of one row each); with 1 tap a row, 2 taps a quad. */
int qp_u8_smallc_layout(const qp_q8_window *win, int64_t c_in, qp_u8_smallc_quad *quads) {
    enum { MAX_TAPS = 4 * QP_U8_SMALLC_MAX_QUADS };
    if (c_in < 1 || c_in > MAX_TAPS || win->kernel_h < 1 || win->kernel_h > MAX_TAPS || win->kernel_w < 1) return 0;
    const int64_t rows = c_in * win->kernel_h, KW = win->kernel_w;
    if (rows > MAX_TAPS || KW > MAX_TAPS || rows * KW > MAX_TAPS) return 0;
    qp_u8_smallc_quad cur = {.row = {-1, -1}, .k = {-1, -1, -1, -1}};
    int n = 0, used = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t kw = 0; kw < KW; kw++) {
            const int fits = used < 4 && (cur.row[0] < 0 || cur.row[0] == r || cur.row[1] == r || cur.row[1] == cur.row[0]);
            if (!fits) {
                if (n == QP_U8_SMALLC_MAX_QUADS) return 0;
                if (quads) quads[n] = cur;
                n++;
                cur = (qp_u8_smallc_quad){.row = {-1, -1}, .k = {-1, -1, -1, -1}};
                used = 0;
            }
            if (cur.row[0] < 0) cur.row[0] = cur.row[1] = (int32_t)r;
            else if (cur.row[0] != r) cur.row[1] = (int32_t)r;
            cur.k[used++] = (int32_t)(r * KW + kw);
        }
    if (n == QP_U8_SMALLC_MAX_QUADS) return 0;
    if (quads) quads[n] = cur;
    return n + 1;
}

int qp_u8_conv_smallc_supported(const qp_q8_window *win, int64_t c_in) {
    return win->kernel_w <= 4 && 15 * win->stride_w + (win->kernel_w - 1) * win->dilation_w < 64 &&
           qp_u8_smallc_layout(win, c_in, NULL) > 0;
}

size_t qp_u8_conv_smallc_scratch_size(const qp_q8_window *win, int64_t c_in, int64_t c_out) {
    const int64_t padded = (c_out + 3) / 4 * 4;
    const int quads = qp_u8_smallc_layout(win, c_in, NULL);
    return (size_t)(padded * (4 * (quads ? quads : QP_U8_SMALLC_MAX_QUADS) + 8)) + 64;
}

void qp_u8_conv_smallc__ref(const qp_u8_conv_smallc_args *a) {
    const qp_q8_window *w = &a->win;
    const int64_t KH = w->kernel_h, KW = w->kernel_w, plane_in = w->in_h * w->in_w;
    const int64_t plane_out = w->out_h * w->out_w, k = a->c_in * KH * KW;
    int64_t oh_begin, oh_end;
    qp_q8_row_range(a->row_begin, a->row_end, w->out_h, &oh_begin, &oh_end);
    for (int64_t o = 0; o < a->c_out; o++) {
        const int8_t *kernel = a->weights + o * k;
        uint8_t *out = a->output + o * plane_out;
        for (int64_t oh = oh_begin; oh < oh_end; oh++)
            for (int64_t ow = 0; ow < w->out_w; ow++) {
                uint32_t acc = (uint32_t)a->bias[o]; /* wraps like the SIMD adds */
                for (int64_t c = 0; c < a->c_in; c++)
                    for (int64_t kh = 0; kh < KH; kh++) {
                        const int64_t ih = oh * w->stride_h - w->pad_top + kh * w->dilation_h;
                        const int row_inside = ih >= 0 && ih < w->in_h;
                        for (int64_t kw = 0; kw < KW; kw++) {
                            const int64_t iw = ow * w->stride_w - w->pad_left + kw * w->dilation_w;
                            const int32_t x = row_inside && iw >= 0 && iw < w->in_w
                                                  ? a->input[c * plane_in + ih * w->in_w + iw]
                                                  : a->input_zero_point;
                            acc += (uint32_t)(kernel[(c * KH + kh) * KW + kw] * x);
                        }
                    }
                out[oh * w->out_w + ow] = qp_requantize((int32_t)acc, a->scale[o], a->out_zero_point, a->qmin, a->qmax);
            }
    }
}
