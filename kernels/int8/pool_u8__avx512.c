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
 * no valid tap gives max 0, clamped to qmin, as in the reference. Serves the windows the
 * separable kernel below cannot (rows wider than its buffer). */
static void maxpool_rows(const qp_u8_pool_args *a) {
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

/* Separable MaxPool's buffer (wide rows): one vertical-max row of at most SEP_MAX_WP bytes
 * (padding columns included), plus the 128 bytes a vpermt2b window reads past it. */
enum { SEP_MAX_WP = 2048, SEP_BUF = SEP_MAX_WP + 256 };

/* Vertical pass: row r of buf (Wp bytes, padded column x = input column x - pad_left) = the
 * maximum over output row oh's valid input rows, 0 outside the input (and 0 for a row with no
 * valid tap, which the clamp turns into qmin). */
static inline void sep_vertical(const qp_q8_window *w, const uint8_t *plane, int64_t oh, int64_t Wp,
                                uint8_t *buf) {
    const int64_t W = w->in_w, H = w->in_h, pl = w->pad_left;
    const uint8_t *rows[64];
    int n_rows = 0;
    for (int64_t kh = 0; kh < w->kernel_h; kh++) {
        const int64_t ih = oh * w->stride_h - w->pad_top + kh * w->dilation_h;
        if (ih >= 0 && ih < H) rows[n_rows++] = plane + ih * W;
    }
    for (int64_t x = 0; x < Wp; x += 64) {
        const __mmask64 m = qp_q8_avx512_inside_mask(x - pl, W);
        __m512i v = _mm512_setzero_si512();
        for (int r = 0; r < n_rows; r++) v = _mm512_max_epu8(v, _mm512_maskz_loadu_epi8(m, rows[r] + x - pl));
        _mm512_storeu_si512(buf + x, v);
    }
}

/* Vertical pass for output row oh into registers: v0 = padded columns 0..63, v1 = 64..127 (when
 * two_chunks), each the maximum over the row's valid input rows, 0 outside the input. m0, m1:
 * the inside masks of the two chunks (the same for every row). */
/* plain: interior rows load without masks (see maxpool_separable). */
static inline __attribute__((always_inline)) void sep_vertical_regs(const qp_q8_window *w, const uint8_t *plane,
                                                                    int64_t oh, __mmask64 m0, __mmask64 m1,
                                                                    int two_chunks, __m512i *v0, __m512i *v1,
                                                                    const int64_t KH, const int plain) {
    const int64_t W = w->in_w, H = w->in_h, pl = w->pad_left;
    const int64_t h0 = oh * w->stride_h - w->pad_top, step = w->dilation_h * W;
    __m512i a, b = _mm512_setzero_si512();
    if (h0 >= 0 && h0 + (KH - 1) * w->dilation_h < H) { /* every kernel row inside */
        const uint8_t *row = plane + h0 * W - pl;
        if (plain) {
            a = _mm512_loadu_si512(row);
            if (two_chunks) b = _mm512_loadu_si512(row + 64);
            for (int64_t kh = 1; kh < KH; kh++) {
                row += step;
                a = _mm512_max_epu8(a, _mm512_loadu_si512(row));
                if (two_chunks) b = _mm512_max_epu8(b, _mm512_loadu_si512(row + 64));
            }
            *v0 = a;
            *v1 = b;
            return;
        }
        a = _mm512_maskz_loadu_epi8(m0, row);
        if (two_chunks) b = _mm512_maskz_loadu_epi8(m1, row + 64);
        for (int64_t kh = 1; kh < KH; kh++) {
            row += step;
            a = _mm512_max_epu8(a, _mm512_maskz_loadu_epi8(m0, row));
            if (two_chunks) b = _mm512_max_epu8(b, _mm512_maskz_loadu_epi8(m1, row + 64));
        }
    } else {
        a = _mm512_setzero_si512();
        for (int64_t kh = 0; kh < KH; kh++) {
            const int64_t ih = h0 + kh * w->dilation_h;
            if (ih < 0 || ih >= H) continue;
            const uint8_t *row = plane + ih * W - pl;
            a = _mm512_max_epu8(a, _mm512_maskz_loadu_epi8(m0, row));
            if (two_chunks) b = _mm512_max_epu8(b, _mm512_maskz_loadu_epi8(m1, row + 64));
        }
    }
    *v0 = a;
    *v1 = b;
}

/* The same for rows whose taps fit 32 padded columns: one 32-byte maximum. */
static inline __attribute__((always_inline)) __m256i sep_vertical_half(const qp_q8_window *w, const uint8_t *plane,
                                                                       int64_t oh, __mmask32 m, const int64_t KH,
                                                                       const int plain) {
    const int64_t W = w->in_w, H = w->in_h, pl = w->pad_left;
    const int64_t h0 = oh * w->stride_h - w->pad_top, step = w->dilation_h * W;
    __m256i a;
    if (h0 >= 0 && h0 + (KH - 1) * w->dilation_h < H) {
        const uint8_t *row = plane + h0 * W - pl;
        if (plain) {
            a = _mm256_loadu_si256((const __m256i *)row);
            for (int64_t kh = 1; kh < KH; kh++) {
                row += step;
                a = _mm256_max_epu8(a, _mm256_loadu_si256((const __m256i *)row));
            }
            return a;
        }
        a = _mm256_maskz_loadu_epi8(m, row);
        for (int64_t kh = 1; kh < KH; kh++) {
            row += step;
            a = _mm256_max_epu8(a, _mm256_maskz_loadu_epi8(m, row));
        }
    } else {
        a = _mm256_setzero_si256();
        for (int64_t kh = 0; kh < KH; kh++) {
            const int64_t ih = h0 + kh * w->dilation_h;
            if (ih >= 0 && ih < H) a = _mm256_max_epu8(a, _mm256_maskz_loadu_epi8(m, plane + ih * W - pl));
        }
    }
    return a;
}

/* maxpool_separable's in-register path; KH and KW are constants where the caller specialises. */
static inline __attribute__((always_inline)) void sep_small(const qp_u8_pool_args *a, const int64_t KH, const int64_t KW,
                                                            int64_t oh_begin, int64_t oh_end, int64_t c_begin,
                                                            int64_t c_end, const int plain) {
    const qp_q8_window *w = &a->win;
    const int64_t sw = w->stride_w, dw = w->dilation_w, OH = w->out_h, OW = w->out_w, span = (KW - 1) * dw;
    const int64_t plane_in = w->in_h * w->in_w, plane_out = OH * OW, reach = (OW - 1) * sw + span;
    const __m512i qmin = _mm512_set1_epi8((char)a->qmin), qmax = _mm512_set1_epi8((char)a->qmax);
    uint8_t idx[64];
    const int64_t S = reach <= 31 ? 32 : reach <= 63 ? 64 : 128, P = 128 / S;
    const int64_t R = 64 / OW, n_groups = (R + P - 1) / P;
    for (int j = 0; j < 64; j++) idx[j] = (uint8_t)(j < R * OW ? ((j / OW) % P) * S + (j % OW) * sw : 0);
    const __m512i index0 = _mm512_loadu_si512(idx);
    const __mmask64 m0 = qp_q8_avx512_inside_mask(-w->pad_left, w->in_w);
    const __mmask64 m1 = qp_q8_avx512_inside_mask(64 - w->pad_left, w->in_w);
    __m512i kidx[8]; /* the first 8 taps' indices, hoisted */
    for (int64_t kw = 0; kw < KW && kw < 8; kw++) kidx[kw] = _mm512_add_epi8(index0, _mm512_set1_epi8((char)(kw * dw)));
    const __mmask64 group_mask = (__mmask64)-1 >> (64 - (P < R ? P : R) * OW);
    const int clamp = a->qmin != 0 || a->qmax != 255;
    /* With whole planes, the output rows of consecutive channels are contiguous, so a block of
     * R rows runs on across channel boundaries (13 rows of 13x13 fill 4 blocks of 4 without a
     * 1-row block per channel); row ranges go channel by channel. */
    const int64_t per_channel = oh_end - oh_begin, whole = oh_begin == 0 && oh_end == OH;
    const int64_t n_seq = whole ? 1 : c_end - c_begin, seq_len = whole ? (c_end - c_begin) * OH : per_channel;
    for (int64_t sq = 0; sq < n_seq; sq++) {
        int64_t c = c_begin + (whole ? 0 : sq), oh = oh_begin; /* the next row to compute */
        uint8_t *out = a->output + c * plane_out + oh_begin * OW;
        for (int64_t q = 0; q < seq_len; q += R) {
            const int64_t nr = seq_len - q < R ? seq_len - q : R;
            __m512i block = _mm512_setzero_si512();
            for (int64_t g = 0; g < n_groups && g * P < nr; g++) {
                const int64_t gr = nr - g * P < P ? nr - g * P : P;
                __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
                if (S == 32) {
                    __m256i v[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                                    _mm256_setzero_si256()};
                    for (int64_t r = 0; r < gr; r++) {
                        v[r] = sep_vertical_half(w, a->input + c * plane_in, oh, (__mmask32)m0, KH, plain);
                        if (++oh == oh_end) oh = oh_begin, c++;
                    }
                    lo = _mm512_inserti64x4(_mm512_castsi256_si512(v[0]), v[1], 1);
                    hi = _mm512_inserti64x4(_mm512_castsi256_si512(v[2]), v[3], 1);
                } else if (S == 64) {
                    __m512i unused;
                    sep_vertical_regs(w, a->input + c * plane_in, oh, m0, m1, 0, &lo, &unused, KH, plain);
                    if (++oh == oh_end) oh = oh_begin, c++;
                    if (gr > 1) {
                        sep_vertical_regs(w, a->input + c * plane_in, oh, m0, m1, 0, &hi, &unused, KH, plain);
                        if (++oh == oh_end) oh = oh_begin, c++;
                    }
                } else {
                    sep_vertical_regs(w, a->input + c * plane_in, oh, m0, m1, 1, &lo, &hi, KH, plain);
                    if (++oh == oh_end) oh = oh_begin, c++;
                }
                __m512i h = _mm512_permutex2var_epi8(lo, kidx[0], hi);
                for (int64_t kw = 1; kw < KW; kw++) {
                    const __m512i k = kw < 8 ? kidx[kw] : _mm512_add_epi8(index0, _mm512_set1_epi8((char)(kw * dw)));
                    h = _mm512_max_epu8(h, _mm512_permutex2var_epi8(lo, k, hi));
                }
                block = n_groups == 1 ? h : _mm512_mask_mov_epi8(block, group_mask << (g * P * OW), h);
            }
            if (clamp) block = _mm512_min_epu8(_mm512_max_epu8(block, qmin), qmax);
            _mm512_mask_storeu_epi8(out + q * OW, (__mmask64)-1 >> (64 - nr * OW), block);
        }
    }
}

/* Separable MaxPool: max over the window = horizontal max of the vertical maxima, so each
 * output row first takes the max of its KH input rows (KH masked loads per row chunk, shared
 * by every kw), then KW vpermt2b pick the horizontal taps.
 * - Rows whose taps fit 128 padded columns and outputs fit 64 lanes (13x13, 27x27, 55x55
 *   outputs) stay in registers. A row's vertical maxima take a slot of S = 32, 64 or 128 bytes
 *   (the smallest its taps fit); one vpermt2b window of 128 bytes holds P = 128 / S rows; one
 *   output vector holds R = 64 / OW rows, groups of P rows blended into it, and is stored as one
 *   contiguous R*OW-byte run. A 13x13 output plane is 4 rows of 13 bytes: 3 vpermt2b per 4 rows.
 *   With whole planes the blocks run on across channels; rows of padding-free windows load
 *   without masks (masked loads cost ~20 % on the Zen 5 VM).
 * - Wider rows: the vertical maxima go through a stack buffer, then B outputs a step.
 * Returns 0 (nothing written) for windows it does not take. */
static int maxpool_separable(const qp_u8_pool_args *a) {
    const qp_q8_window *w = &a->win;
    const int64_t sw = w->stride_w, dw = w->dilation_w, KW = w->kernel_w, KH = w->kernel_h;
    const int64_t OH = w->out_h, OW = w->out_w, span = (KW - 1) * dw;
    if (KH > 64 || span > 63 || sw > 32) return 0;
    const __m512i qmin = _mm512_set1_epi8((char)a->qmin), qmax = _mm512_set1_epi8((char)a->qmax);
    const int64_t plane_in = w->in_h * w->in_w, plane_out = OH * OW;
    int64_t oh_begin, oh_end;
    qp_q8_row_range(a->row_begin, a->row_end, OH, &oh_begin, &oh_end);
    uint8_t idx[64];
    const int64_t reach = (OW - 1) * sw + span; /* last padded column a row's taps read */
    if (OW <= 64 && reach <= 127) {
        /* When every tap a row reads is input (no left padding, no overhang past the row), the
         * vertical loads need no mask: bytes past the row (the next rows' data) land in lanes no
         * index picks. Loads must still end inside the input: the last channels, whose rows' loads
         * could run past its end, take the masked path. */
        const int64_t load = reach <= 31 ? 32 : reach <= 63 ? 64 : 128, C = a->channels;
        const int64_t tail = (load + plane_in - 1) / plane_in;
        const int64_t split = w->pad_left == 0 && reach < w->in_w && C > tail ? C - tail : 0;
        if (KH == 3 && KW == 3) {
            sep_small(a, 3, 3, oh_begin, oh_end, 0, split, 1);
            sep_small(a, 3, 3, oh_begin, oh_end, split, C, 0);
        } else if (KH == 2 && KW == 2) {
            sep_small(a, 2, 2, oh_begin, oh_end, 0, split, 1);
            sep_small(a, 2, 2, oh_begin, oh_end, split, C, 0);
        } else {
            sep_small(a, KH, KW, oh_begin, oh_end, 0, split, 1);
            sep_small(a, KH, KW, oh_begin, oh_end, split, C, 0);
        }
        return 1;
    }
    int64_t Wp = w->pad_left + w->in_w;
    if ((OW - 1) * sw + span + 1 > Wp) Wp = (OW - 1) * sw + span + 1;
    if (Wp > SEP_MAX_WP) return 0;
    /* B outputs a step with every tap inside the 128-byte window */
    int64_t B = (127 - span) / sw + 1;
    if (B > 64) B = 64;
    _Alignas(64) uint8_t buf[SEP_BUF];
    memset(buf, 0, sizeof buf); /* lanes past the row read defined (unused) bytes */
    for (int j = 0; j < 64; j++) idx[j] = (uint8_t)(j < B ? j * sw : 0);
    const __m512i index0 = _mm512_loadu_si512(idx);
    for (int64_t c = 0; c < a->channels; c++) {
        const uint8_t *plane = a->input + c * plane_in;
        uint8_t *out = a->output + c * plane_out;
        for (int64_t oh = oh_begin; oh < oh_end; oh++) {
            sep_vertical(w, plane, oh, Wp, buf);
            for (int64_t ow = 0; ow < OW; ow += B) {
                const uint8_t *p = buf + ow * sw;
                __m512i best;
                if (sw == 1) { /* taps are plain unaligned loads */
                    best = _mm512_loadu_si512(p);
                    for (int64_t kw = 1; kw < KW; kw++) best = _mm512_max_epu8(best, _mm512_loadu_si512(p + kw * dw));
                } else {
                    const __m512i lo = _mm512_loadu_si512(p), hi = _mm512_loadu_si512(p + 64);
                    best = _mm512_permutex2var_epi8(lo, index0, hi);
                    for (int64_t kw = 1; kw < KW; kw++)
                        best = _mm512_max_epu8(best, _mm512_permutex2var_epi8(
                                                         lo, _mm512_add_epi8(index0, _mm512_set1_epi8((char)(kw * dw))), hi));
                }
                best = _mm512_min_epu8(_mm512_max_epu8(best, qmin), qmax);
                const int64_t n = OW - ow < B ? OW - ow : B;
                _mm512_mask_storeu_epi8(out + oh * OW + ow, (__mmask64)-1 >> (64 - n), best);
            }
        }
    }
    return 1;
}

void qp_u8_maxpool__avx512(const qp_u8_pool_args *a) {
    if (!maxpool_separable(a)) maxpool_rows(a);
}

/* AveragePool. Rows whose vertical window lies inside the input, and within them the columns
 * [lo, hi) whose window lies inside too, have count KH*KW in both count modes: there 64 outputs
 * a step sum their taps as u16 (taps <= 257, so no overflow), take away KH*KW*za and share one
 * scale. Every other output (borders, ceil-mode overhang) runs the reference's own code. */
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
