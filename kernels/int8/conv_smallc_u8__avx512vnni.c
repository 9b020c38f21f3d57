/* conv_smallc_u8__avx512vnni.c — AVX-512 VNNI+VBMI direct convolution for few input channels (CNN stems): vpermt2b builds tap quads from two input rows once per 16 outputs, every output channel reuses them in vpdpbusd. */
#include "kernels/int8/q8_kernels.h"
#include "kernels/int8/q8_window.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi")
#endif
#include "kernels/int8/q8_avx512.h"

/* Why not im2col + GEMM: with K = C_in*KH*KW = 27 the GEMM spends more on writing and packing
 * X (27 bytes per output pixel, twice) and on its per-output epilogue than on multiplying.
 * Here, for one output row and 16 output columns, each quad of taps (qp_u8_smallc_layout: up to
 * 4 taps of at most 2 input rows) becomes one vector: dword lane j holds the quad's 4 input bytes
 * of output j, gathered by one vpermt2b from masked 64-byte loads of its two rows (padding reads
 * the input zero point, which the folded bias cancels). The Q quad vectors stay in registers
 * while every output channel adds Q vpdpbusd (weights as embedded dword broadcasts) to its
 * accumulator: 7 per 16 outputs of the stem, no column matrix, no packing of X. Each output is
 * the integer sum of the GEMM path, and the output stage is the GEMM's: the same bytes.
 *
 * Registers: Q quad vectors + G accumulators (12 channels at a time up to 8 quads, else 8: on
 * Zen 5 (this VM), 8, 12 and 16 ran the stem equally fast; 12 leaves room for the output stage). Rows whose
 * 16-output blocks lie inside the input load plainly; borders use masked loads. On the Zen 5 VM the
 * stem runs ~230 GMAC/s against ~135 for im2col + GEMM (bench_int8_kernels "stem direct"). */

enum { MAXQ = QP_U8_SMALLC_MAX_QUADS, BLOCK = 16 };

#define QP_UNROLL _Pragma("GCC unroll 16")

/* The output stage's constants. conv_rows keeps a copy: through k they would be reloaded after
 * every store of output bytes, which may alias them as far as the compiler knows. */
typedef struct sc_out {
    __m512i zp16, qmin, qmax;
    __m512 lo, hi;
    int noclamp;             /* every scale <= QP_Q8_NOCLAMP_MAX_SCALE */
    int full_range;          /* qmin 0, qmax 255: the saturating packs clamp already */
} sc_out;

typedef struct sc_call {
    const qp_u8_conv_smallc_args *a;
    const int32_t *groups;   /* per group of channels, in the order conv_rows walks them: bias[G],
                              * scale[G] (floats), then [G][Q] quad weights (4 s8 in a dword) */
    int64_t padded;          /* c_out rounded up to 4 */
    int64_t span;            /* bytes of an input row 16 outputs read: 15 stride_w + (KW-1) dilation_w + 1 */
    int64_t input_bytes;     /* c_in planes */
    int64_t plane_of[MAXQ][2], kh_of[MAXQ][2];
    __m512i index[MAXQ];     /* byte 4j + t: tap t of output j, 0-63 in row 0, 64-127 in row 1 */
    __m512i zp_in;
    sc_out out;
} sc_call;

/* The group sizes conv_rows walks: G channels while they last, then 8, then 4 (padded is a
 * multiple of 4). */
static int main_group(int Q) { return Q <= 8 ? 12 : 8; }

/* acc += x * the dword at w broadcast to every lane. GCC 12 loads the broadcast into a register
 * first (vpbroadcastd + vpdpbusd); the embedded broadcast saves that operation, ~10% of the
 * multiply loop on Zen 5. */
#if defined(__GNUC__) && !defined(__clang__)
#define QP_DPBUSD_BCST(acc, x, w) __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(x), "m"(*(w)))
#else
#define QP_DPBUSD_BCST(acc, x, w) ((acc) = _mm512_dpbusd_epi32((acc), (x), _mm512_set1_epi32(*(w))))
#endif

/* G channels of 16 outputs from rec (one group record); dst is the first channel's output at
 * (oh, ow), the next channels plane_out bytes apart; only the first n channels exist (the last
 * group of c_out % 4 != 0), `keep` the columns inside the row. */
__attribute__((always_inline)) static inline void channel_group(const sc_out *k, const __m512i *x, int Q, int G,
                                                                const int32_t *rec, int64_t n, uint8_t *dst,
                                                                int64_t plane_out, __mmask16 keep) {
    const float *scale = (const float *)(rec + G);
    const int32_t *wq = rec + 2 * G;
    __m512i acc[16];
    QP_UNROLL
    for (int i = 0; i < G; i++) acc[i] = _mm512_set1_epi32(rec[i]);
    QP_UNROLL
    for (int q = 0; q < Q; q++) {
        QP_UNROLL
        for (int i = 0; i < G; i++) QP_DPBUSD_BCST(acc[i], x[q], wq + i * Q + q);
    }
    const int full = keep == (__mmask16)0xFFFF;
    QP_UNROLL
    for (int i = 0; i < G; i += 4) {
        __m512i r[4];
        QP_UNROLL
        for (int l = 0; l < 4; l++) {
            const __m512 sc = _mm512_set1_ps(scale[i + l]);
            r[l] = k->noclamp ? qp_q8_avx512_requant_noclamp(acc[i + l], sc) : qp_q8_avx512_requant(acc[i + l], sc, k->lo, k->hi);
        }
        const __m512i bytes = k->full_range ? qp_q8_avx512_pack64_full_range(r[0], r[1], r[2], r[3], k->zp16)
                                            : qp_q8_avx512_pack64(r[0], r[1], r[2], r[3], k->zp16, k->qmin, k->qmax);
        const __m128i b0 = _mm512_castsi512_si128(bytes), b1 = _mm512_extracti32x4_epi32(bytes, 1);
        const __m128i b2 = _mm512_extracti32x4_epi32(bytes, 2), b3 = _mm512_extracti32x4_epi32(bytes, 3);
        if (full && i + 4 <= n) {
            _mm_storeu_si128((__m128i *)dst, b0);
            _mm_storeu_si128((__m128i *)(dst + plane_out), b1);
            _mm_storeu_si128((__m128i *)(dst + 2 * plane_out), b2);
            _mm_storeu_si128((__m128i *)(dst + 3 * plane_out), b3);
        } else {
            if (i < n) _mm_mask_storeu_epi8(dst, keep, b0);
            if (i + 1 < n) _mm_mask_storeu_epi8(dst + plane_out, keep, b1);
            if (i + 2 < n) _mm_mask_storeu_epi8(dst + 2 * plane_out, keep, b2);
            if (i + 3 < n) _mm_mask_storeu_epi8(dst + 3 * plane_out, keep, b3);
        }
        dst += 4 * plane_out;
    }
}

/* Output rows [oh_begin, oh_end) of every channel, Q quads (a constant after inlining). */
__attribute__((always_inline)) static inline void conv_rows(const sc_call *k, int64_t oh_begin, int64_t oh_end,
                                                            const int Q) {
    const qp_u8_conv_smallc_args *a = k->a;
    const qp_q8_window *w = &a->win;
    const int64_t H = w->in_h, W = w->in_w, OW = w->out_w, plane_out = w->out_h * OW;
    const int64_t c_out = a->c_out, padded = k->padded;
    const int G = main_group(Q);
    const sc_out out = k->out;
    for (int64_t oh = oh_begin; oh < oh_end; oh++) {
        /* each quad's two rows in this output row; rows outside the image load nothing. plain:
         * every row is inside and a 64-byte load from anywhere in it up to span bytes before its
         * end stays inside the input */
        const uint8_t *src[MAXQ][2];
        __mmask64 inside[MAXQ][2];
        int plain = 1;
        for (int q = 0; q < Q; q++)
            for (int s = 0; s < 2; s++) {
                const int64_t ih = oh * w->stride_h - w->pad_top + k->kh_of[q][s] * w->dilation_h;
                const int ok = ih >= 0 && ih < H;
                src[q][s] = ok ? a->input + k->plane_of[q][s] + ih * W : a->input;
                inside[q][s] = ok ? ~(__mmask64)0 : 0;
                plain &= ok && k->plane_of[q][s] + ih * W + W - k->span + 64 <= k->input_bytes;
            }
        for (int64_t ow = 0; ow < OW; ow += BLOCK) {
            const int64_t start = ow * w->stride_w - w->pad_left;
            __m512i x[MAXQ];
            if (plain && start >= 0 && start + k->span <= W) {
                /* every tap inside the rows: plain loads (masked byte loads cost ~8% on Zen 5);
                 * the bytes past the span are never picked */
                QP_UNROLL
                for (int q = 0; q < Q; q++) {
                    const __m512i r0 = _mm512_loadu_si512(src[q][0] + start);
                    const __m512i r1 = _mm512_loadu_si512(src[q][1] + start);
                    x[q] = _mm512_permutex2var_epi8(r0, k->index[q], r1);
                }
            } else {
                const __mmask64 m = qp_q8_avx512_inside_mask(start, W);
                QP_UNROLL
                for (int q = 0; q < Q; q++) {
                    const __m512i r0 = _mm512_mask_loadu_epi8(k->zp_in, m & inside[q][0], src[q][0] + start);
                    const __m512i r1 = _mm512_mask_loadu_epi8(k->zp_in, m & inside[q][1], src[q][1] + start);
                    x[q] = _mm512_permutex2var_epi8(r0, k->index[q], r1);
                }
            }
            const int64_t width = OW - ow;
            const __mmask16 keep = width >= BLOCK ? (__mmask16)0xFFFF : (__mmask16)((1u << width) - 1);
            uint8_t *dst = a->output + oh * OW + ow;
            const int32_t *rec = k->groups;
            int64_t o = 0;
            for (; o + G <= padded; o += G, rec += G * (Q + 2), dst += G * plane_out)
                channel_group(&out, x, Q, G, rec, c_out - o, dst, plane_out, keep);
            if (G > 8 && padded - o >= 8) {
                channel_group(&out, x, Q, 8, rec, c_out - o, dst, plane_out, keep);
                o += 8;
                rec += 8 * (Q + 2);
                dst += 8 * plane_out;
            }
            if (padded - o >= 4) channel_group(&out, x, Q, 4, rec, c_out - o, dst, plane_out, keep);
        }
    }
}

/* One function per quad count: the quad vectors and accumulators get the registers to themselves. */
#define QP_SC_ROWS(QV)                                                                                      \
    __attribute__((noinline)) static void rows_q##QV(const sc_call *k, int64_t oh_begin, int64_t oh_end) { \
        conv_rows(k, oh_begin, oh_end, QV);                                                                \
    }
QP_SC_ROWS(1)
QP_SC_ROWS(2)
QP_SC_ROWS(3)
QP_SC_ROWS(4)
QP_SC_ROWS(5)
QP_SC_ROWS(6)
QP_SC_ROWS(7)
QP_SC_ROWS(8)
QP_SC_ROWS(9)
QP_SC_ROWS(10)
QP_SC_ROWS(11)
QP_SC_ROWS(12)
#undef QP_SC_ROWS

void qp_u8_conv_smallc__avx512vnni(const qp_u8_conv_smallc_args *a) {
    const qp_q8_window *w = &a->win;
    qp_u8_smallc_quad quads[MAXQ];
    const int Q = qp_u8_smallc_layout(w, a->c_in, quads);
    if (!qp_u8_conv_smallc_supported(w, a->c_in) || Q < 1) {
        qp_u8_conv_smallc__ref(a);
        return;
    }
    int64_t oh_begin, oh_end;
    qp_q8_row_range(a->row_begin, a->row_end, w->out_h, &oh_begin, &oh_end);
    if (oh_begin >= oh_end || a->c_out < 1) return;
    const int64_t KH = w->kernel_h, KW = w->kernel_w, K = a->c_in * KH * KW, plane_in = w->in_h * w->in_w;
    const int64_t padded = (a->c_out + 3) / 4 * 4;
    /* scratch: the group records (zeros past c_out) */
    int32_t *groups = (int32_t *)(((uintptr_t)a->scratch + 63) & ~(uintptr_t)63);
    sc_call k = {.a = a, .groups = groups, .padded = padded, .span = 15 * w->stride_w + (KW - 1) * w->dilation_w + 1,
                 .input_bytes = a->c_in * plane_in, .zp_in = _mm512_set1_epi8((char)a->input_zero_point),
                 .out = {.zp16 = _mm512_set1_epi16((int16_t)a->out_zero_point),
                         .qmin = _mm512_set1_epi8((char)a->qmin), .qmax = _mm512_set1_epi8((char)a->qmax),
                         .lo = _mm512_set1_ps((float)(a->qmin - a->out_zero_point)),
                         .hi = _mm512_set1_ps((float)(a->qmax - a->out_zero_point)), .noclamp = 1,
                         .full_range = a->qmin == 0 && a->qmax == 255}};
    /* the weights of a channel (K <= 48 bytes, one load) to its quads: one vpermb */
    uint8_t sel[64] = {0};
    uint64_t filled = 0;
    for (int q = 0; q < Q; q++) {
        uint8_t idx[64];
        const qp_u8_smallc_quad *qd = &quads[q];
        for (int s = 0; s < 2; s++) {
            k.plane_of[q][s] = (qd->row[s] / KH) * plane_in;
            k.kh_of[q][s] = qd->row[s] % KH;
        }
        for (int t = 0; t < 4; t++) {
            const int32_t tap = qd->k[t];
            const int64_t row = tap < 0 ? 0 : tap / KW, kw = tap < 0 ? 0 : tap % KW;
            const int64_t off = (row == qd->row[0] ? 0 : 64) + kw * w->dilation_w;
            for (int j = 0; j < BLOCK; j++) idx[4 * j + t] = (uint8_t)(off + j * w->stride_w);
            if (tap >= 0) {
                sel[4 * q + t] = (uint8_t)tap;
                filled |= (uint64_t)1 << (4 * q + t);
            }
        }
        k.index[q] = _mm512_loadu_si512(idx);
    }
    const __m512i selv = _mm512_loadu_si512(sel);
    const __mmask64 load_k = K >= 64 ? ~(__mmask64)0 : (((uint64_t)1 << K) - 1);
    const __mmask64 store_q = 4 * Q >= 64 ? ~(__mmask64)0 : (((uint64_t)1 << (4 * Q)) - 1);
    int32_t *rec = groups;
    for (int64_t o = 0; o < padded;) {
        const int64_t g = padded - o >= main_group(Q) ? main_group(Q) : padded - o >= 8 ? 8 : 4;
        float *scale = (float *)(rec + g);
        int32_t *wq = rec + 2 * g;
        for (int64_t i = 0; i < g; i++, o++) {
            const int real = o < a->c_out;
            __m512i v = _mm512_setzero_si512();
            if (real) v = _mm512_maskz_permutexvar_epi8(filled, selv, _mm512_maskz_loadu_epi8(load_k, a->weights + o * K));
            _mm512_mask_storeu_epi8(wq + i * Q, store_q, v);
            rec[i] = real ? a->bias[o] : 0;
            scale[i] = real ? a->scale[o] : 0.0f;
            if (real && !(a->scale[o] >= 0.0f && a->scale[o] <= QP_Q8_NOCLAMP_MAX_SCALE)) k.out.noclamp = 0;
        }
        rec += g * (Q + 2);
    }
    switch (Q) {
    case 1: rows_q1(&k, oh_begin, oh_end); break;
    case 2: rows_q2(&k, oh_begin, oh_end); break;
    case 3: rows_q3(&k, oh_begin, oh_end); break;
    case 4: rows_q4(&k, oh_begin, oh_end); break;
    case 5: rows_q5(&k, oh_begin, oh_end); break;
    case 6: rows_q6(&k, oh_begin, oh_end); break;
    case 7: rows_q7(&k, oh_begin, oh_end); break;
    case 8: rows_q8(&k, oh_begin, oh_end); break;
    case 9: rows_q9(&k, oh_begin, oh_end); break;
    case 10: rows_q10(&k, oh_begin, oh_end); break;
    case 11: rows_q11(&k, oh_begin, oh_end); break;
    default: rows_q12(&k, oh_begin, oh_end); break;
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
