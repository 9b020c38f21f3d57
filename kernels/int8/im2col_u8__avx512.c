/* im2col_u8__avx512.c — AVX-512 (BW+VBMI) im2col: 64 columns per masked load (stride 1) or two loads and a vpermt2b (strides 2-8). */
#include <string.h>

#include "kernels/int8/q8_kernels.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi")
#endif
#include "kernels/int8/q8_avx512.h"

/* Same output as qp_u8_im2col__ref. Bytes of a tap row outside the input row load as the pad
 * value (a masked load with the pad value as the merge source), so there are no border cases
 * and no library calls per row. */
void qp_u8_im2col__avx512(const qp_q8_window *win, int64_t channels, const uint8_t *input, uint8_t pad_value,
                          uint8_t *col) {
    const int64_t sw = win->stride_w;
    if (sw > 8) {
        qp_u8_im2col__ref(win, channels, input, pad_value, col);
        return;
    }
    const int64_t B = sw <= 2 ? 64 : sw <= 4 ? 32 : 16;
    const int64_t H = win->in_h, W = win->in_w, OH = win->out_h, OW = win->out_w;
    const int64_t KH = win->kernel_h, KW = win->kernel_w, n = OH * OW;
    uint8_t idx[64];
    for (int j = 0; j < 64; j++) idx[j] = (uint8_t)((j < B ? j : 0) * sw);
    const __m512i index = _mm512_loadu_si512(idx);
    const __m512i pad = _mm512_set1_epi8((char)pad_value);
    for (int64_t c = 0; c < channels; c++) {
        const uint8_t *plane = input + c * H * W;
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++) {
                uint8_t *row = col + ((c * KH + kh) * KW + kw) * n;
                for (int64_t oh = 0; oh < OH; oh++) {
                    uint8_t *dst = row + oh * OW;
                    const int64_t ih = oh * win->stride_h - win->pad_top + kh * win->dilation_h;
                    const int inside = ih >= 0 && ih < H;
                    const uint8_t *src_row = plane + (inside ? ih : 0) * W;
                    for (int64_t ow = 0; ow < OW; ow += B) {
                        const int64_t start = ow * sw - win->pad_left + kw * win->dilation_w;
                        __m512i v = pad;
                        if (inside) {
                            v = _mm512_mask_loadu_epi8(pad, qp_q8_avx512_inside_mask(start, W), src_row + start);
                            if (sw > 1)
                                v = _mm512_permutex2var_epi8(
                                    v, index, _mm512_mask_loadu_epi8(pad, qp_q8_avx512_inside_mask(start + 64, W), src_row + start + 64));
                        }
                        const int64_t count = OW - ow < B ? OW - ow : B;
                        _mm512_mask_storeu_epi8(dst + ow, (__mmask64)-1 >> (64 - count), v);
                    }
                }
            }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
