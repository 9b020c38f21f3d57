/* pool_u8__avx2.c — AVX2 MaxPool (strides 1-2, 32 outputs a step inside the input) and GlobalAveragePool (vpsadbw sums). */
#include "kernels/int8/q8_kernels.h"
#include "kernels/int8/q8_window.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif
#include <immintrin.h>

/* 16 taps j * sw of a row from p (stride 2: the even bytes of 32). */
static inline __m128i taps16(const uint8_t *p, int64_t sw) {
    const __m128i x0 = _mm_loadu_si128((const __m128i *)p);
    if (sw == 1) return x0;
    const __m128i even = _mm_set1_epi16(0x00FF);
    const __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    return _mm_packus_epi16(_mm_and_si128(x0, even), _mm_and_si128(x1, even));
}

/* 32 taps j * sw of a row from p (stride 1: one load; stride 2: the even bytes of 64). */
static inline __m256i taps32(const uint8_t *p, int64_t sw) {
    const __m256i x0 = _mm256_loadu_si256((const __m256i *)p);
    if (sw == 1) return x0;
    const __m256i even = _mm256_set1_epi16(0x00FF);
    const __m256i x1 = _mm256_loadu_si256((const __m256i *)(p + 32));
    return _mm256_permute4x64_epi64(_mm256_packus_epi16(_mm256_and_si256(x0, even), _mm256_and_si256(x1, even)), 0xD8);
}

/* MaxPool. Blocks of 32 outputs whose every tap, and every byte the loads touch, lies inside the
 * input row take the vector path (32 outputs a step, then 16; the last block of each width
 * overlapping its neighbour); the rest (borders, ceil-mode overhang, strides > 2) use the
 * reference's per-output code. */
void qp_u8_maxpool__avx2(const qp_u8_pool_args *a) {
    const qp_q8_window *w = &a->win;
    const int64_t sw = w->stride_w, KH = w->kernel_h, KW = w->kernel_w, W = w->in_w, H = w->in_h;
    const int64_t OH = w->out_h, OW = w->out_w, last_tap = (KW - 1) * w->dilation_w;
    if (sw > 2 || KH > 64) {
        qp_u8_maxpool__ref(a);
        return;
    }
    int64_t lo, hi, oh_begin, oh_end;
    qp_q8_interior_columns(w, &lo, &hi);
    qp_q8_row_range(a->row_begin, a->row_end, OH, &oh_begin, &oh_end);
    const __m256i qmin = _mm256_set1_epi8((char)a->qmin), qmax = _mm256_set1_epi8((char)a->qmax);
    for (int64_t c = 0; c < a->channels; c++) {
        const uint8_t *plane = a->input + c * H * W;
        uint8_t *out = a->output + c * OH * OW;
        for (int64_t oh = oh_begin; oh < oh_end; oh++) {
            const uint8_t *rows[64];
            int n_rows = 0;
            for (int64_t kh = 0; kh < KH; kh++) {
                const int64_t ih = oh * w->stride_h - w->pad_top + kh * w->dilation_h;
                if (ih >= 0 && ih < H) rows[n_rows++] = plane + ih * W;
            }
            int64_t kh_b, kh_e;
            qp_q8_kh_range(w, oh, &kh_b, &kh_e);
            int64_t ow = 0;
            for (; ow < lo && ow < OW; ow++) out[oh * OW + ow] = qp_q8_maxpool_one(a, plane, oh, ow, lo, hi, kh_b, kh_e);
            /* vector blocks of 32, then of 16: each block's loads end inside the row, and the last
             * block of each width overlaps its neighbour (recomputing equal bytes) to reach as far
             * right as the row allows */
            for (int64_t width = 32; width >= 16; width /= 2) {
                const int64_t room = W - last_tap - width * sw + w->pad_left;
                if (room < 0) continue; /* no block of this width fits (C division truncates: -1 / 2 is 0) */
                const int64_t fits = room / sw; /* last start that fits */
                const int64_t last = fits < hi - width ? fits : hi - width;
                while (ow < hi && ow <= last + width - 1 && last >= lo) {
                    const int64_t b = ow <= last ? ow : last;
                    const int64_t start = b * sw - w->pad_left;
                    if (width == 32) {
                        __m256i best = _mm256_setzero_si256(); /* no valid row: max 0, clamped to qmin */
                        for (int r = 0; r < n_rows; r++)
                            for (int64_t kw = 0; kw < KW; kw++)
                                best = _mm256_max_epu8(best, taps32(rows[r] + start + kw * w->dilation_w, sw));
                        best = _mm256_min_epu8(_mm256_max_epu8(best, qmin), qmax);
                        _mm256_storeu_si256((__m256i *)(out + oh * OW + b), best);
                    } else {
                        __m128i best = _mm_setzero_si128();
                        for (int r = 0; r < n_rows; r++)
                            for (int64_t kw = 0; kw < KW; kw++)
                                best = _mm_max_epu8(best, taps16(rows[r] + start + kw * w->dilation_w, sw));
                        best = _mm_min_epu8(_mm_max_epu8(best, _mm256_castsi256_si128(qmin)), _mm256_castsi256_si128(qmax));
                        _mm_storeu_si128((__m128i *)(out + oh * OW + b), best);
                    }
                    ow = b + width;
                }
            }
            for (; ow < OW; ow++) out[oh * OW + ow] = qp_q8_maxpool_one(a, plane, oh, ow, lo, hi, kh_b, kh_e);
        }
    }
}

void qp_u8_global_avgpool__avx2(const qp_u8_global_avgpool_args *a) {
    for (int64_t c = 0; c < a->channels; c++) {
        const uint8_t *plane = a->input + c * a->plane;
        __m256i acc = _mm256_setzero_si256();
        int64_t i = 0;
        for (; i + 32 <= a->plane; i += 32)
            acc = _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_loadu_si256((const __m256i *)(plane + i)),
                                                        _mm256_setzero_si256()));
        uint64_t lanes[4];
        _mm256_storeu_si256((__m256i *)lanes, acc);
        uint32_t sum = (uint32_t)(lanes[0] + lanes[1] + lanes[2] + lanes[3]);
        for (; i < a->plane; i++) sum += plane[i];
        sum -= (uint32_t)a->input_zero_point * (uint32_t)a->plane;
        a->output[c] = qp_requantize((int32_t)sum, a->scale, a->out_zero_point, a->qmin, a->qmax);
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
