/* im2col_u8.c — unfolds u8 NCHW planes into GEMM columns; padding taps get the input zero point (real 0). */
#include <string.h>

#include "kernels/int8/q8_kernels.h"
#include "kernels/int8/q8_window.h"

size_t qp_u8_im2col_size(const qp_q8_window *win, int64_t channels) {
    return (size_t)channels * (size_t)(win->kernel_h * win->kernel_w) *
           (size_t)(win->out_h * win->out_w);
}

/* Row-wise: the valid column range of a (kh, kw) row is computed once, so the copy has no bounds
 * test and stride 1 is a memcpy. */
void qp_u8_im2col__ref(const qp_q8_window *win, int64_t channels, const uint8_t *input,
                       uint8_t pad_value, uint8_t *col) {
    const int64_t H = win->in_h, W = win->in_w, OH = win->out_h, OW = win->out_w;
    const int64_t KH = win->kernel_h, KW = win->kernel_w, sw = win->stride_w;
    const int64_t n = OH * OW;
    for (int64_t c = 0; c < channels; c++) {
        const uint8_t *plane = input + c * H * W;
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++) {
                uint8_t *row = col + ((c * KH + kh) * KW + kw) * n;
                const int64_t offset = kw * win->dilation_w - win->pad_left;
                int64_t ob, oe;
                qp_q8_valid_outputs(offset, sw, W, OW, &ob, &oe);
                for (int64_t oh = 0; oh < OH; oh++) {
                    uint8_t *dst = row + oh * OW;
                    const int64_t ih = oh * win->stride_h - win->pad_top + kh * win->dilation_h;
                    if (ih < 0 || ih >= H || ob >= oe) {
                        memset(dst, pad_value, (size_t)OW);
                        continue;
                    }
                    const uint8_t *src = plane + ih * W + (ob * sw + offset);
                    memset(dst, pad_value, (size_t)ob);
                    if (sw == 1)
                        memcpy(dst + ob, src, (size_t)(oe - ob));
                    else
                        for (int64_t ow = ob; ow < oe; ow++) dst[ow] = src[(ow - ob) * sw];
                    memset(dst + oe, pad_value, (size_t)(OW - oe));
                }
            }
    }
}
