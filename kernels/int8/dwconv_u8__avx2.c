/* dwconv_u8__avx2.c — AVX2 depthwise convolution: stride 1/2 (dilation_w 1), any kernel size, 16 outputs per step. */
#include <string.h>

#include "kernels/int8/q8_kernels.h"
#include "kernels/int8/q8_window.h"

/* Every function below, the helpers of q8_avx2.h included, is built for this ISA; the rest of
 * the library stays baseline x86-64 and this code only runs when the dispatch says so. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif
#include "kernels/int8/q8_avx2.h"

/* Each channel plane is first copied into scratch surrounded by input zero points (the padding
 * value the folded bias cancels), wide enough that every 16-output block, including the last,
 * partial one, reads inside it: no border code, every output takes the vector path.
 * Taps go in pairs (w[2p], w[2p+1]) as int16 against zero-extended input pairs, so vpmaddwd does
 * two MACs per int32 lane and cannot saturate. For stride 2 a 16-byte load holds exactly the pairs
 * of 8 consecutive outputs; for stride 1 the same load serves the even outputs and a load shifted
 * by one byte the odd ones. */

enum { BLOCK = 16 };

void qp_u8_dwconv__avx2(const qp_u8_dwconv_args *a) {
    const qp_q8_window *w = &a->win;
    const int64_t sw = w->stride_w;
    if ((sw != 1 && sw != 2) || w->dilation_w != 1) {
        qp_u8_dwconv__ref(a);
        return;
    }
    const int64_t H = w->in_h, W = w->in_w, OH = w->out_h, OW = w->out_w, KH = w->kernel_h;
    const int64_t KW = w->kernel_w, pairs = (KW + 1) / 2;
    int64_t rows, cols;
    qp_q8_dwconv_padded_dims(w, &rows, &cols);
    uint8_t *padded = (uint8_t *)(((uintptr_t)a->scratch + 31) & ~(uintptr_t)31);
    int32_t *wpairs = (int32_t *)(void *)(padded + rows * cols);
    const __m256i zp16 = _mm256_set1_epi16((int16_t)a->out_zero_point);
    const __m128i qmin = _mm_set1_epi8((char)a->qmin), qmax = _mm_set1_epi8((char)a->qmax);
    const __m256 lo = _mm256_set1_ps((float)(a->qmin - a->out_zero_point));
    const __m256 hi = _mm256_set1_ps((float)(a->qmax - a->out_zero_point));
    const int64_t second = sw == 1 ? 1 : 16; /* stride 1: odd outputs; stride 2: outputs 8..15 */
    int64_t oh_begin, oh_end;
    qp_q8_row_range(a->row_begin, a->row_end, OH, &oh_begin, &oh_end);

    memset(padded, a->input_zero_point, (size_t)(rows * cols));
    for (int64_t c = 0; c < a->channels; c++) {
        const uint8_t *plane = a->input + c * H * W;
        const int8_t *kernel = a->weights + c * KH * KW;
        uint8_t *out = a->output + c * OH * OW;
        const __m256i bias = _mm256_set1_epi32(a->bias[c]);
        const __m256 scale = _mm256_set1_ps(a->scale[c]);
        /* the border stays zero points from the memset; only the interior changes per channel */
        for (int64_t ih = 0; ih < H; ih++)
            memcpy(padded + (ih + w->pad_top) * cols + w->pad_left, plane + ih * W, (size_t)W);
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t p = 0; p < pairs; p++) {
                const int16_t w_lo = kernel[kh * KW + 2 * p];
                const int16_t w_hi = 2 * p + 1 < KW ? kernel[kh * KW + 2 * p + 1] : 0;
                wpairs[kh * pairs + p] = (int32_t)(((uint32_t)(uint16_t)w_hi << 16) | (uint16_t)w_lo);
            }
        for (int64_t oh = oh_begin; oh < oh_end; oh++) {
            uint8_t *orow = out + oh * OW;
            const uint8_t *top = padded + oh * w->stride_h * cols;
            for (int64_t ow = 0; ow < OW; ow += BLOCK) {
                const uint8_t *base = top + ow * sw;
                __m256i acc0 = bias, acc1 = bias;
                for (int64_t kh = 0; kh < KH; kh++) {
                    const uint8_t *row = base + kh * w->dilation_h * cols;
                    const int32_t *wp = wpairs + kh * pairs;
                    for (int64_t p = 0; p < pairs; p++) {
                        const __m256i wv = _mm256_set1_epi32(wp[p]);
                        const __m256i x0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(row + 2 * p)));
                        const __m256i x1 =
                            _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(row + 2 * p + second)));
                        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(x0, wv));
                        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(x1, wv));
                    }
                }
                const __m256i r0 = qp_q8_avx2_requant(acc0, scale, lo, hi), r1 = qp_q8_avx2_requant(acc1, scale, lo, hi);
                const __m128i bytes = sw == 1 ? qp_q8_avx2_pack16_even_odd(r0, r1, zp16, qmin, qmax)
                                              : qp_q8_avx2_pack16(r0, r1, zp16, qmin, qmax);
                if (ow + BLOCK <= OW) {
                    _mm_storeu_si128((__m128i *)(orow + ow), bytes);
                } else {
                    uint8_t tmp[BLOCK];
                    _mm_storeu_si128((__m128i *)tmp, bytes);
                    memcpy(orow + ow, tmp, (size_t)(OW - ow));
                }
            }
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
