/* dwconv_u8__avx512vnni.c — AVX-512 VNNI+VBMI depthwise convolution: vpermb builds tap quads, vpdpbusd sums them, 2 output rows x 32 columns per step. */
#include <string.h>

#include "kernels/int8/q8_kernels.h"
#include "kernels/int8/q8_window.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi")
#endif
#include "kernels/int8/q8_avx512.h"

/* Output j of a 16-output block needs, from one input row, the bytes at j*sw + d*t for the taps
 * t of a quad. One vpermb over a 64-byte load puts those four bytes in dword lane j (index
 * 4j + t -> j*sw + d*t), and one vpdpbusd multiplies them by the quad's four s8 weights and adds
 * the four products to the int32 accumulator without saturation: 16 outputs x 4 taps per
 * instruction pair. Taps go in quads along the kernel row (zero-padded to a multiple of 4);
 * quad q starts its load 4q*d bytes further on.
 *
 * Each permuted input row feeds every output row of the step that uses it (stride 1: an input
 * row is tap row kh of output row oh, kh-1 of oh+1, ...), so a step of four output rows loads
 * and permutes (KH + 3 sh) rows instead of 4 KH. Loads are masked to the input row, padding
 * reading as the input zero point: no copy of the plane and no scratch.
 *
 * Limits: sw * 15 + dilation_w * 3 < 64 (every tap of a block inside one load), at most
 * MAX_QUADS weight quads and MAX_SPAN input rows per step; anything else runs the AVX2 variant. */

enum { BLOCK = 32, MAX_QUADS = 64, MAX_SPAN = 128, MAX_ROWS = 4 };

static inline __m512i quad_index(int64_t sw, int64_t dw) {
    uint8_t idx[64];
    for (int j = 0; j < 16; j++)
        for (int t = 0; t < 4; t++) idx[4 * j + t] = (uint8_t)(j * sw + t * dw);
    return _mm512_loadu_si512(idx);
}

/* One input row a step reads: its offset r from the step's first input row, and which tap row
 * it is for each output row of the step (-1: none). The same for every step and channel. */
typedef struct step_row {
    int32_t r;
    int32_t k[MAX_ROWS];
} step_row;

/* The rows a step of `rows` output rows reads, dilation gaps dropped; returns the count. */
static int step_pattern(const qp_q8_window *w, int rows, step_row *list) {
    const int64_t sh = w->stride_h, dh = w->dilation_h, KH = w->kernel_h;
    const int64_t span = (rows - 1) * sh + (KH - 1) * dh + 1;
    for (int64_t r = 0; r < span; r++) {
        list[r].r = (int32_t)r;
        for (int i = 0; i < MAX_ROWS; i++) list[r].k[i] = -1;
    }
    for (int i = 0; i < rows; i++)
        for (int64_t kh = 0; kh < KH; kh++) list[i * sh + kh * dh].k[i] = (int32_t)kh;
    int n = 0;
    for (int64_t r = 0; r < span; r++)
        if (list[r].k[0] >= 0 || list[r].k[1] >= 0 || list[r].k[2] >= 0 || list[r].k[3] >= 0) list[n++] = list[r];
    return n;
}

typedef struct dw_channel {
    const uint8_t *plane;
    const __m512i *wvec;     /* [KH][quads] broadcast weight quads */
    int64_t quads;
    __m512i index, zp_in;
    int32_t bias;
    const qp_q8_avx512_rq *rq;
} dw_channel;

/* ROWS output rows (1..4, a constant after inlining) from oh, all 32-column blocks (16-column
 * blocks when HALF: rows of at most 16 outputs would waste half of every 32). Every load
 * is masked to the bytes inside the input row; the rest read as the input zero point (the
 * padding the folded bias cancels), so no border code and no copy of the plane. */
__attribute__((always_inline)) static inline void rows_step(const qp_u8_dwconv_args *a, const dw_channel *ch,
                                                            const step_row *list, int n, uint8_t *out,
                                                            int64_t oh, int ROWS, int HALF) {
    const qp_q8_window *w = &a->win;
    const int64_t OW = w->out_w, W = w->in_w, H = w->in_h;
    const int64_t sw = w->stride_w, quad_step = 4 * w->dilation_w, quads = ch->quads;
    const int64_t first = oh * w->stride_h - w->pad_top;
    const __m512i bias = _mm512_set1_epi32(ch->bias);
    const __m512i zp16 = _mm512_set1_epi16((int16_t)a->out_zero_point);
    const __m512i qmin = _mm512_set1_epi8((char)a->qmin), qmax = _mm512_set1_epi8((char)a->qmax);
    const int64_t block = HALF ? BLOCK / 2 : BLOCK;
    for (int64_t ow = 0; ow < OW; ow += block) {
        /* named accumulators: an array indexed in a loop would live on the stack */
        __m512i a0l = bias, a0h = bias, a1l = bias, a1h = bias, a2l = bias, a2h = bias, a3l = bias, a3h = bias;
        for (int64_t q = 0; q < quads; q++) {
            const int64_t start = ow * sw - w->pad_left + q * quad_step;
            const __mmask64 m0 = qp_q8_avx512_inside_mask(start, W), m1 = HALF ? 0 : qp_q8_avx512_inside_mask(start + 16 * sw, W);
            const __m512i *wq = ch->wvec + q;
            for (int e = 0; e < n; e++) {
                __m512i x0 = ch->zp_in, x1 = ch->zp_in;
                const int64_t row = first + list[e].r;
                if (row >= 0 && row < H) {
                    const uint8_t *src = ch->plane + row * W + start;
                    x0 = _mm512_mask_loadu_epi8(ch->zp_in, m0, src);
                    if (!HALF) x1 = _mm512_mask_loadu_epi8(ch->zp_in, m1, src + 16 * sw);
                }
                x0 = _mm512_permutexvar_epi8(ch->index, x0);
                if (!HALF) x1 = _mm512_permutexvar_epi8(ch->index, x1);
#define QP_DW_TAP(I)                                                              \
    if (ROWS > (I) && list[e].k[I] >= 0) {                                       \
        const __m512i wv = wq[list[e].k[I] * quads];                             \
        a##I##l = _mm512_dpbusd_epi32(a##I##l, x0, wv);                           \
        if (!HALF) a##I##h = _mm512_dpbusd_epi32(a##I##h, x1, wv);                \
    }
                QP_DW_TAP(0)
                QP_DW_TAP(1)
                QP_DW_TAP(2)
                QP_DW_TAP(3)
#undef QP_DW_TAP
            }
        }
        const int64_t width = OW - ow;
        const qp_q8_avx512_rq *rq = ch->rq;
        if (HALF) { /* 4 rows x 16 outputs in one pack */
            const __mmask16 keep = width >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << width) - 1);
            const __m512i bytes = qp_q8_avx512_pack64(qp_q8_avx512_q31_mul(a0l, rq),
                                                      ROWS > 1 ? qp_q8_avx512_q31_mul(a1l, rq) : a1l,
                                                      ROWS > 2 ? qp_q8_avx512_q31_mul(a2l, rq) : a2l,
                                                      ROWS > 3 ? qp_q8_avx512_q31_mul(a3l, rq) : a3l, zp16, qmin, qmax);
            _mm_mask_storeu_epi8(out + oh * OW + ow, keep, _mm512_castsi512_si128(bytes));
            if (ROWS > 1) _mm_mask_storeu_epi8(out + (oh + 1) * OW + ow, keep, _mm512_extracti32x4_epi32(bytes, 1));
            if (ROWS > 2) _mm_mask_storeu_epi8(out + (oh + 2) * OW + ow, keep, _mm512_extracti32x4_epi32(bytes, 2));
            if (ROWS > 3) _mm_mask_storeu_epi8(out + (oh + 3) * OW + ow, keep, _mm512_extracti32x4_epi32(bytes, 3));
            continue;
        }
        const __mmask32 keep = width >= BLOCK ? ~(__mmask32)0 : (__mmask32)((1u << width) - 1);
        __m512i bytes = qp_q8_avx512_pack64(qp_q8_avx512_q31_mul(a0l, rq), qp_q8_avx512_q31_mul(a0h, rq),
                                            ROWS > 1 ? qp_q8_avx512_q31_mul(a1l, rq) : a1l,
                                            ROWS > 1 ? qp_q8_avx512_q31_mul(a1h, rq) : a1h, zp16, qmin, qmax);
        _mm256_mask_storeu_epi8(out + oh * OW + ow, keep, _mm512_castsi512_si256(bytes));
        if (ROWS > 1) _mm256_mask_storeu_epi8(out + (oh + 1) * OW + ow, keep, _mm512_extracti64x4_epi64(bytes, 1));
        if (ROWS > 2) {
            bytes = qp_q8_avx512_pack64(qp_q8_avx512_q31_mul(a2l, rq), qp_q8_avx512_q31_mul(a2h, rq),
                                        ROWS > 3 ? qp_q8_avx512_q31_mul(a3l, rq) : a3l,
                                        ROWS > 3 ? qp_q8_avx512_q31_mul(a3h, rq) : a3h, zp16, qmin, qmax);
            _mm256_mask_storeu_epi8(out + (oh + 2) * OW + ow, keep, _mm512_castsi512_si256(bytes));
            if (ROWS > 3)
                _mm256_mask_storeu_epi8(out + (oh + 3) * OW + ow, keep, _mm512_extracti64x4_epi64(bytes, 1));
        }
    }
}

__attribute__((always_inline)) static inline void all_rows(const qp_u8_dwconv_args *a, const dw_channel *ch,
                                                           const step_row *pat4, int n4, const step_row *pat_rest,
                                                           int n_rest, uint8_t *out, int64_t oh_begin,
                                                           int64_t oh_end, int HALF) {
    int64_t oh = oh_begin;
    for (; oh + 4 <= oh_end; oh += 4) rows_step(a, ch, pat4, n4, out, oh, 4, HALF);
    switch (oh_end - oh) {
    case 3: rows_step(a, ch, pat_rest, n_rest, out, oh, 3, HALF); break;
    case 2: rows_step(a, ch, pat_rest, n_rest, out, oh, 2, HALF); break;
    case 1: rows_step(a, ch, pat_rest, n_rest, out, oh, 1, HALF); break;
    default: break;
    }
}

void qp_u8_dwconv__avx512vnni(const qp_u8_dwconv_args *a) {
    const qp_q8_window *w = &a->win;
    const int64_t KH = w->kernel_h, KW = w->kernel_w, sw = w->stride_w, dw = w->dilation_w;
    const int64_t quads = (KW + 3) / 4;
    if (sw * 15 + dw * 3 >= 64 || KH * quads > MAX_QUADS ||
        (MAX_ROWS - 1) * w->stride_h + (KH - 1) * w->dilation_h + 1 > MAX_SPAN) {
        qp_u8_dwconv__avx2(a);
        return;
    }
    const int64_t H = w->in_h, W = w->in_w, OH = w->out_h, OW = w->out_w;
    __m512i wvec[MAX_QUADS];
    int64_t oh_begin, oh_end;
    qp_q8_row_range(a->row_begin, a->row_end, OH, &oh_begin, &oh_end);
    step_row pat4[MAX_SPAN], pat_rest[MAX_SPAN];
    const int n4 = step_pattern(w, 4, pat4);
    const int n_rest = step_pattern(w, (int)((oh_end - oh_begin) % 4 ? (oh_end - oh_begin) % 4 : 1), pat_rest);
    dw_channel ch = {.wvec = wvec, .quads = quads, .index = quad_index(sw, dw),
                     .zp_in = _mm512_set1_epi8((char)a->input_zero_point)};
    for (int64_t c = 0; c < a->channels; c++) {
        const int8_t *kernel = a->weights + c * KH * KW;
        const qp_q8_avx512_rq rq = qp_q8_avx512_rq_make(a->requant[c]);
        uint8_t *out = a->output + c * OH * OW;
        ch.plane = a->input + c * H * W;
        ch.bias = a->bias[c];
        ch.rq = &rq;
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t q = 0; q < quads; q++) {
                uint32_t v = 0;
                for (int t = 0; t < 4; t++)
                    if (4 * q + t < KW) v |= (uint32_t)(uint8_t)kernel[kh * KW + 4 * q + t] << (8 * t);
                wvec[kh * quads + q] = _mm512_set1_epi32((int32_t)v);
            }
        if (OW <= 16)
            all_rows(a, &ch, pat4, n4, pat_rest, n_rest, out, oh_begin, oh_end, 1);
        else
            all_rows(a, &ch, pat4, n4, pat_rest, n_rest, out, oh_begin, oh_end, 0);
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
