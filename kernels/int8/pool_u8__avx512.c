/* pool_u8__avx512.c — AVX-512 (BW+VBMI) MaxPool, AveragePool and GlobalAveragePool, and the VBMI 256-entry table lookup. */
#include <string.h>

#include "kernels/int8/q8_kernels.h"
#include "kernels/int8/q8_window.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi")
#endif
#include "kernels/int8/q8_avx512.h"

/* MaxPool, one output row of B outputs per step (B = 64 for strides 1-2, 32 up to 4, 16 up to
 * 8). A tap column for B outputs is bytes start + j * sw: one masked load (stride 1) or two and
 * a vpermt2b picking every sw-th byte of 128. Bytes outside the input row load as 0, the
 * neutral value of a u8 maximum, so padding and ceil-mode overhang need no code; a window with
 * no valid tap gives max 0, clamped to qmin, as in the reference. */
void qp_u8_maxpool__avx512(const qp_u8_pool_args *a) {
    const qp_q8_window *w = &a->win;
    const int64_t sw = w->stride_w, dw = w->dilation_w, KW = w->kernel_w, KH = w->kernel_h;
    if (sw > 8 || KH > 64) { /* beyond the index reach / the row list: the reference does it */
        qp_u8_maxpool__ref(a);
        return;
    }
    const int64_t B = sw <= 2 ? 64 : sw <= 4 ? 32 : 16;
    const int64_t H = w->in_h, W = w->in_w, OH = w->out_h, OW = w->out_w;
    uint8_t idx[64];
    for (int j = 0; j < 64; j++) idx[j] = (uint8_t)((j < B ? j : 0) * sw);
    const __m512i index = _mm512_loadu_si512(idx);
    const __m512i qmin = _mm512_set1_epi8((char)a->qmin), qmax = _mm512_set1_epi8((char)a->qmax);
    int64_t oh_begin, oh_end;
    qp_q8_row_range(a->row_begin, a->row_end, OH, &oh_begin, &oh_end);
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
            for (int64_t ow = 0; ow < OW; ow += B) {
                __m512i best = _mm512_setzero_si512();
                for (int64_t kw = 0; kw < KW; kw++) {
                    const int64_t start = ow * sw - w->pad_left + kw * dw;
                    const __mmask64 m0 = qp_q8_avx512_inside_mask(start, W), m1 = sw > 1 ? qp_q8_avx512_inside_mask(start + 64, W) : 0;
                    for (int r = 0; r < n_rows; r++) {
                        __m512i v = _mm512_maskz_loadu_epi8(m0, rows[r] + start);
                        if (sw > 1) v = _mm512_permutex2var_epi8(v, index, _mm512_maskz_loadu_epi8(m1, rows[r] + start + 64));
                        best = _mm512_max_epu8(best, v);
                    }
                }
                best = _mm512_min_epu8(_mm512_max_epu8(best, qmin), qmax);
                const int64_t n = OW - ow < B ? OW - ow : B;
                _mm512_mask_storeu_epi8(out + oh * OW + ow, (__mmask64)-1 >> (64 - n), best);
            }
        }
    }
}

/* AveragePool. Rows whose vertical window lies inside the input, and within them the columns
 * [lo, hi) whose window lies inside too, have count KH*KW in both count modes: there 64 outputs
 * a step sum their taps as u16 (taps <= 257, so no overflow), take away KH*KW*za and share one
 * multiplier. Every other output (borders, ceil-mode overhang) runs the reference's own code. */
void qp_u8_avgpool__avx512(const qp_u8_pool_args *a) {
    const qp_q8_window *w = &a->win;
    const int64_t sw = w->stride_w, KW = w->kernel_w, KH = w->kernel_h, taps = KH * KW;
    if (sw > 2 || taps > 257) {
        qp_u8_avgpool__ref(a);
        return;
    }
    const int64_t H = w->in_h, W = w->in_w, OH = w->out_h, OW = w->out_w;
    int64_t col_lo, col_hi, oh_begin, oh_end;
    qp_q8_interior_columns(w, &col_lo, &col_hi);
    qp_q8_row_range(a->row_begin, a->row_end, OH, &oh_begin, &oh_end);
    uint8_t idx[64];
    for (int j = 0; j < 64; j++) idx[j] = (uint8_t)(j * sw);
    const __m512i index = _mm512_loadu_si512(idx);
    const __m512 scale = _mm512_set1_ps(a->count_scale[taps]);
    const __m512 lo = _mm512_set1_ps((float)(a->qmin - a->out_zero_point));
    const __m512 hi = _mm512_set1_ps((float)(a->qmax - a->out_zero_point));
    const __m512i offset = _mm512_set1_epi32((int32_t)(taps * a->input_zero_point));
    const __m512i zp16 = _mm512_set1_epi16((int16_t)a->out_zero_point);
    const __m512i qmin = _mm512_set1_epi8((char)a->qmin), qmax = _mm512_set1_epi8((char)a->qmax);
    for (int64_t c = 0; c < a->channels; c++) {
        const uint8_t *plane = a->input + c * H * W;
        uint8_t *out = a->output + c * OH * OW;
        for (int64_t oh = oh_begin; oh < oh_end; oh++) {
            const int64_t h0 = oh * w->stride_h - w->pad_top;
            int64_t kh_b, kh_e;
            qp_q8_kh_range(w, oh, &kh_b, &kh_e);
            const int rows_inside = h0 >= 0 && h0 + (KH - 1) * w->dilation_h < H;
            const int64_t v_lo = rows_inside ? col_lo : OW, v_hi = rows_inside ? col_hi : OW;
            for (int64_t ow = 0; ow < v_lo; ow++) out[oh * OW + ow] = qp_q8_avgpool_one(a, plane, oh, ow, col_lo, col_hi, kh_b, kh_e);
            for (int64_t ow = v_lo; ow < v_hi; ow += 64) {
                __m512i s0 = _mm512_setzero_si512(), s1 = s0;
                for (int64_t kh = 0; kh < KH; kh++) {
                    const uint8_t *row = plane + (h0 + kh * w->dilation_h) * W;
                    for (int64_t kw = 0; kw < KW; kw++) {
                        const int64_t start = ow * sw - w->pad_left + kw * w->dilation_w;
                        __m512i v = _mm512_maskz_loadu_epi8(qp_q8_avx512_inside_mask(start, W), row + start);
                        if (sw > 1)
                            v = _mm512_permutex2var_epi8(v, index,
                                                         _mm512_maskz_loadu_epi8(qp_q8_avx512_inside_mask(start + 64, W), row + start + 64));
                        s0 = _mm512_add_epi16(s0, _mm512_cvtepu8_epi16(_mm512_castsi512_si256(v)));
                        s1 = _mm512_add_epi16(s1, _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(v, 1)));
                    }
                }
                const __m512i r0 = qp_q8_avx512_requant(
                    _mm512_sub_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(s0)), offset), scale, lo, hi);
                const __m512i r1 = qp_q8_avx512_requant(
                    _mm512_sub_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(s0, 1)), offset), scale, lo, hi);
                const __m512i r2 = qp_q8_avx512_requant(
                    _mm512_sub_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(s1)), offset), scale, lo, hi);
                const __m512i r3 = qp_q8_avx512_requant(
                    _mm512_sub_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(s1, 1)), offset), scale, lo, hi);
                const int64_t n = v_hi - ow < 64 ? v_hi - ow : 64;
                _mm512_mask_storeu_epi8(out + oh * OW + ow, (__mmask64)-1 >> (64 - n),
                                        qp_q8_avx512_pack64(r0, r1, r2, r3, zp16, qmin, qmax));
            }
            for (int64_t ow = v_hi; ow < OW; ow++) out[oh * OW + ow] = qp_q8_avgpool_one(a, plane, oh, ow, col_lo, col_hi, kh_b, kh_e);
        }
    }
}

/* GlobalAveragePool: vpsadbw sums 64 bytes into eight 64-bit lanes per instruction; the
 * requantization of one value per channel stays scalar (the reference's own code). */
void qp_u8_global_avgpool__avx512(const qp_u8_global_avgpool_args *a) {
    for (int64_t c = 0; c < a->channels; c++) {
        const uint8_t *plane = a->input + c * a->plane;
        __m512i acc = _mm512_setzero_si512();
        int64_t i = 0;
        for (; i + 64 <= a->plane; i += 64)
            acc = _mm512_add_epi64(acc, _mm512_sad_epu8(_mm512_loadu_si512(plane + i), _mm512_setzero_si512()));
        if (i < a->plane)
            acc = _mm512_add_epi64(acc, _mm512_sad_epu8(_mm512_maskz_loadu_epi8((__mmask64)-1 >> (64 - (a->plane - i)),
                                                                                 plane + i),
                                                        _mm512_setzero_si512()));
        uint32_t sum = (uint32_t)_mm512_reduce_add_epi64(acc);
        sum -= (uint32_t)a->input_zero_point * (uint32_t)a->plane;
        a->output[c] = qp_requantize((int32_t)sum, a->scale, a->out_zero_point, a->qmin, a->qmax);
    }
}

/* out = table[in] for 64 bytes at a time: two vpermi2b look up the low 7 bits in each half of
 * the table, and the top bit of the input picks the half. */
void qp_u8_lut__avx512(int64_t n, const uint8_t table[256], const uint8_t *input, uint8_t *output) {
    const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
    const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
    int64_t i = 0;
    for (; i < n; i += 64) {
        const __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : (__mmask64)-1 >> (64 - (n - i));
        const __m512i x = _mm512_maskz_loadu_epi8(m, input + i);
        const __m512i lo = _mm512_permutex2var_epi8(t0, x, t1); /* index bits 0..6 */
        const __m512i hi = _mm512_permutex2var_epi8(t2, x, t3);
        const __m512i y = _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), lo, hi);
        _mm512_mask_storeu_epi8(output + i, m, y);
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
