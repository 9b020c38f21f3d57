/* dwconv_u8__avx512vnni.c — AVX-512 VNNI+VBMI depthwise convolution: vpermb builds tap quads, vpdpbusd sums them; rows of 32/16 outputs, or flat 16-output vectors on planes narrower than 16. */
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
    __m512 scale, lo, hi;    /* requant.h's output stage */
    int noclamp;             /* scale <= QP_Q8_NOCLAMP_MAX_SCALE: no float clamp needed */
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
#define QP_RQ(v) (ch->noclamp ? qp_q8_avx512_requant_noclamp(v, ch->scale) : qp_q8_avx512_requant(v, ch->scale, ch->lo, ch->hi))
        if (HALF) { /* 4 rows x 16 outputs in one pack */
            const __mmask16 keep = width >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << width) - 1);
            const __m512i bytes = qp_q8_avx512_pack64(QP_RQ(a0l),
                                                      ROWS > 1 ? QP_RQ(a1l) : a1l,
                                                      ROWS > 2 ? QP_RQ(a2l) : a2l,
                                                      ROWS > 3 ? QP_RQ(a3l) : a3l, zp16, qmin, qmax);
            _mm_mask_storeu_epi8(out + oh * OW + ow, keep, _mm512_castsi512_si128(bytes));
            if (ROWS > 1) _mm_mask_storeu_epi8(out + (oh + 1) * OW + ow, keep, _mm512_extracti32x4_epi32(bytes, 1));
            if (ROWS > 2) _mm_mask_storeu_epi8(out + (oh + 2) * OW + ow, keep, _mm512_extracti32x4_epi32(bytes, 2));
            if (ROWS > 3) _mm_mask_storeu_epi8(out + (oh + 3) * OW + ow, keep, _mm512_extracti32x4_epi32(bytes, 3));
            continue;
        }
        const __mmask32 keep = width >= BLOCK ? ~(__mmask32)0 : (__mmask32)((1u << width) - 1);
        __m512i bytes = qp_q8_avx512_pack64(QP_RQ(a0l), QP_RQ(a0h),
                                            ROWS > 1 ? QP_RQ(a1l) : a1l,
                                            ROWS > 1 ? QP_RQ(a1h) : a1h, zp16, qmin, qmax);
        _mm256_mask_storeu_epi8(out + oh * OW + ow, keep, _mm512_castsi512_si256(bytes));
        if (ROWS > 1) _mm256_mask_storeu_epi8(out + (oh + 1) * OW + ow, keep, _mm512_extracti64x4_epi64(bytes, 1));
        if (ROWS > 2) {
            bytes = qp_q8_avx512_pack64(QP_RQ(a2l), QP_RQ(a2h),
                                        ROWS > 3 ? QP_RQ(a3l) : a3l,
                                        ROWS > 3 ? QP_RQ(a3h) : a3h, zp16, qmin, qmax);
            _mm256_mask_storeu_epi8(out + (oh + 2) * OW + ow, keep, _mm512_castsi512_si256(bytes));
            if (ROWS > 3)
                _mm256_mask_storeu_epi8(out + (oh + 3) * OW + ow, keep, _mm512_extracti64x4_epi64(bytes, 1));
        }
    }
}

#undef QP_RQ

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

/* ---- small planes: flat vectors of outputs ---------------------------------------------------
 * With out_w < 16 a row per 16-lane vector leaves lanes idle (7 of 16 on a 7x7 plane) and pays a
 * masked load, a requantization and a store per output row. Here a vector holds 16 consecutive
 * outputs of the flattened plane, whatever rows they lie on. For each vector, kernel row and quad,
 * a 64-byte index (built once per call, shared by every channel) says where each tap of each
 * output lies in a window of the input plane that starts at the vector's first input row; taps
 * outside the image are masked off and read the input zero point. Per channel and vector: one
 * (or two, when the window passes 64 bytes) masked load of the window, then per quad one vpermb
 * (vpermt2b) with merge masking and one vpdpbusd; four vectors requantize into one 64-byte store.
 * The work is the same per output as the row path's, so the results are the same bytes. */
enum { FLAT_VECTORS = 16, FLAT_QUADS = 12, FLAT_WINDOW = 128 };

typedef struct flat_tables {
    int64_t start[FLAT_VECTORS];                  /* window start (input byte of the plane) */
    int two[FLAT_VECTORS];                        /* window wider than 64 bytes: two loads */
    __m512i index[FLAT_VECTORS][FLAT_QUADS];      /* tap bytes; masked-off taps hold the zero point */
    __mmask64 valid[FLAT_VECTORS][FLAT_QUADS];
} flat_tables;

/* Bytes 4j + t = r_t[j]: four rows of 16 bytes into 16 quads. */
static inline __m512i interleave_quads(__m128i r0, __m128i r1, __m128i r2, __m128i r3) {
    const __m128i t0 = _mm_unpacklo_epi8(r0, r1), t1 = _mm_unpackhi_epi8(r0, r1);
    const __m128i t2 = _mm_unpacklo_epi8(r2, r3), t3 = _mm_unpackhi_epi8(r2, r3);
    __m512i v = _mm512_castsi128_si512(_mm_unpacklo_epi16(t0, t2));
    v = _mm512_inserti32x4(v, _mm_unpackhi_epi16(t0, t2), 1);
    v = _mm512_inserti32x4(v, _mm_unpacklo_epi16(t1, t3), 2);
    return _mm512_inserti32x4(v, _mm_unpackhi_epi16(t1, t3), 3);
}

/* Bit i of a 16-bit mask to bit 4i (lane j's taps sit at bytes 4j..4j+3). */
static inline uint64_t spread_by_4(uint64_t x) {
    x &= 0xFFFF;
    x = (x | (x << 24)) & 0x000000FF000000FFull;
    x = (x | (x << 12)) & 0x000F000F000F000Full;
    x = (x | (x << 6)) & 0x0303030303030303ull;
    return (x | (x << 3)) & 0x1111111111111111ull;
}

/* The input window outputs [o_first, o_last] read: from the first input row any of them touches
 * (clamped to the plane) to the last; returns its length in bytes. */
static int64_t flat_window(const qp_q8_window *w, int64_t o_first, int64_t o_last, int64_t *start) {
    int64_t ih0 = (o_first / w->out_w) * w->stride_h - w->pad_top;
    int64_t ih1 = (o_last / w->out_w) * w->stride_h - w->pad_top + (w->kernel_h - 1) * w->dilation_h;
    if (ih0 < 0) ih0 = 0;
    if (ih1 > w->in_h - 1) ih1 = w->in_h - 1;
    *start = ih0 * w->in_w;
    return ih1 < ih0 ? 1 : (ih1 - ih0 + 1) * w->in_w;
}

static int flat_applies(const qp_q8_window *w, int64_t o_begin, int64_t o_end) {
    if (w->out_w >= 16 || w->kernel_h * ((w->kernel_w + 3) / 4) > FLAT_QUADS) return 0;
    for (int64_t o = o_begin; o < o_end; o += 16) {
        int64_t start;
        if (flat_window(w, o, o + 15 < o_end ? o + 15 : o_end - 1, &start) > FLAT_WINDOW) return 0;
    }
    return 1;
}

static void flat_build(const qp_q8_window *w, int64_t o0, int n_vec, int64_t o_end, uint8_t zp, flat_tables *t) {
    const int64_t quads = (w->kernel_w + 3) / 4, OW = w->out_w;
    const __m512i zpv = _mm512_set1_epi32(zp), H = _mm512_set1_epi32((int32_t)w->in_h);
    const __m512i W = _mm512_set1_epi32((int32_t)w->in_w);
    /* a row no kernel row reaches, for the lanes past o_end */
    const int32_t nowhere = (int32_t)(-(w->kernel_h * w->dilation_h) - 1);
    for (int v = 0; v < n_vec; v++) {
        const int64_t o = o0 + 16 * v, last = o + 15 < o_end ? o + 15 : o_end - 1;
        t->two[v] = flat_window(w, o, last, &t->start[v]) > 64;
        int32_t ih[16], iw[16];
        int64_t oh = o / OW, ow = o % OW;
        for (int j = 0; j < 16; j++) {
            ih[j] = o + j <= last ? (int32_t)(oh * w->stride_h - w->pad_top) : nowhere;
            iw[j] = (int32_t)(ow * w->stride_w - w->pad_left);
            if (++ow == OW) {
                ow = 0;
                oh++;
            }
        }
        const __m512i ihv = _mm512_loadu_si512(ih), iwv = _mm512_loadu_si512(iw);
        const __m512i base = _mm512_sub_epi32(_mm512_add_epi32(_mm512_mullo_epi32(ihv, W), iwv),
                                              _mm512_set1_epi32((int32_t)t->start[v]));
        for (int64_t kh = 0; kh < w->kernel_h; kh++) {
            const __mmask16 row_ok =
                _mm512_cmplt_epu32_mask(_mm512_add_epi32(ihv, _mm512_set1_epi32((int32_t)(kh * w->dilation_h))), H);
            const __m512i row_base = _mm512_add_epi32(base, _mm512_set1_epi32((int32_t)(kh * w->dilation_h * w->in_w)));
            for (int64_t q = 0; q < quads; q++) {
                __m128i bytes[4];
                uint64_t valid = 0;
                for (int tap = 0; tap < 4; tap++) {
                    const int64_t kw = 4 * q + tap;
                    const __m512i dx = _mm512_set1_epi32((int32_t)(kw * w->dilation_w));
                    const __mmask16 ok =
                        kw < w->kernel_w ? (__mmask16)(row_ok & _mm512_cmplt_epu32_mask(_mm512_add_epi32(iwv, dx), W)) : 0;
                    bytes[tap] = _mm512_cvtepi32_epi8(_mm512_mask_blend_epi32(ok, zpv, _mm512_add_epi32(row_base, dx)));
                    valid |= spread_by_4(ok) << tap;
                }
                t->index[v][kh * quads + q] = interleave_quads(bytes[0], bytes[1], bytes[2], bytes[3]);
                t->valid[v][kh * quads + q] = (__mmask64)valid;
            }
        }
    }
}

/* Output rows [oh_begin, oh_end) of every channel on the flat path (flat_applies said yes). */
static void flat_run(const qp_u8_dwconv_args *a, int64_t oh_begin, int64_t oh_end) {
    const qp_q8_window *w = &a->win;
    const int64_t KH = w->kernel_h, KW = w->kernel_w, quads = (KW + 3) / 4, n_quads = KH * quads;
    const int64_t plane_in = w->in_h * w->in_w, plane_out = w->out_h * w->out_w;
    const int64_t o_begin = oh_begin * w->out_w, o_end = oh_end * w->out_w;
    const __m512i zp_in = _mm512_set1_epi8((char)a->input_zero_point);
    const __m512i zp16 = _mm512_set1_epi16((int16_t)a->out_zero_point);
    const __m512i qmin = _mm512_set1_epi8((char)a->qmin), qmax = _mm512_set1_epi8((char)a->qmax);
    const __m512 lo = _mm512_set1_ps((float)(a->qmin - a->out_zero_point));
    const __m512 hi = _mm512_set1_ps((float)(a->qmax - a->out_zero_point));
    /* A channel's KH*KW (<= 48) weights come in with one masked load; one vpermb arranges them
     * into the quads (byte 4e + t = tap 4q + t of kernel row kh, e = kh*quads + q; zero past KW). */
    uint8_t arrange[64] = {0};
    uint64_t arrange_mask = 0;
    for (int64_t kh = 0; kh < KH; kh++)
        for (int64_t kw = 0; kw < KW; kw++) {
            const int64_t at = 4 * (kh * quads + kw / 4) + kw % 4;
            arrange[at] = (uint8_t)(kh * KW + kw);
            arrange_mask |= (uint64_t)1 << at;
        }
    const __m512i arrange_index = _mm512_loadu_si512(arrange);
    const __mmask64 weight_load = ((__mmask64)1 << (KH * KW)) - 1;
    flat_tables t;
    for (int64_t o0 = o_begin; o0 < o_end; o0 += 16 * FLAT_VECTORS) {
        const int64_t left = (o_end - o0 + 15) / 16;
        const int n_vec = (int)(left < FLAT_VECTORS ? left : FLAT_VECTORS);
        flat_build(w, o0, n_vec, o_end, (uint8_t)a->input_zero_point, &t);
        for (int64_t c = 0; c < a->channels; c++) {
            const uint8_t *plane = a->input + c * plane_in;
            uint8_t *out = a->output + c * plane_out;
            const __m512i taps = _mm512_maskz_permutexvar_epi8(
                (__mmask64)arrange_mask, arrange_index, _mm512_maskz_loadu_epi8(weight_load, a->weights + c * KH * KW));
            __m512i wq[FLAT_QUADS];
            for (int e = 0; e < n_quads; e++) wq[e] = _mm512_permutexvar_epi32(_mm512_set1_epi32(e), taps);
            const __m512i bias = _mm512_set1_epi32(a->bias[c]);
            const __m512 scale = _mm512_set1_ps(a->scale[c]);
            const int noclamp = a->scale[c] >= 0.0f && a->scale[c] <= QP_Q8_NOCLAMP_MAX_SCALE;
            for (int v0 = 0; v0 < n_vec; v0 += 4) {
                __m512i r[4];
                for (int i = 0; i < 4; i++) {
                    const int v = v0 + i;
                    r[i] = _mm512_setzero_si512();
                    if (v >= n_vec) continue;
                    const int64_t s = t.start[v];
                    const __m512i x0 = _mm512_mask_loadu_epi8(zp_in, qp_q8_avx512_inside_mask(s, plane_in), plane + s);
                    __m512i acc = bias;
                    if (t.two[v]) {
                        const __m512i x1 =
                            _mm512_mask_loadu_epi8(zp_in, qp_q8_avx512_inside_mask(s + 64, plane_in), plane + s + 64);
                        for (int e = 0; e < n_quads; e++)
                            acc = _mm512_dpbusd_epi32(
                                acc, _mm512_mask2_permutex2var_epi8(x0, t.index[v][e], t.valid[v][e], x1), wq[e]);
                    } else {
                        for (int e = 0; e < n_quads; e++)
                            acc = _mm512_dpbusd_epi32(
                                acc, _mm512_mask_permutexvar_epi8(t.index[v][e], t.valid[v][e], t.index[v][e], x0), wq[e]);
                    }
                    r[i] = noclamp ? qp_q8_avx512_requant_noclamp(acc, scale) : qp_q8_avx512_requant(acc, scale, lo, hi);
                }
                const __m512i bytes = qp_q8_avx512_pack64(r[0], r[1], r[2], r[3], zp16, qmin, qmax);
                const int64_t first = o0 + 16 * v0, n = o_end - first;
                _mm512_mask_storeu_epi8(out + first, n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1), bytes);
            }
        }
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
    if (oh_begin < oh_end && flat_applies(w, oh_begin * OW, oh_end * OW)) {
        flat_run(a, oh_begin, oh_end);
        return;
    }
    step_row pat4[MAX_SPAN], pat_rest[MAX_SPAN];
    const int n4 = step_pattern(w, 4, pat4);
    const int n_rest = step_pattern(w, (int)((oh_end - oh_begin) % 4 ? (oh_end - oh_begin) % 4 : 1), pat_rest);
    dw_channel ch = {.wvec = wvec, .quads = quads, .index = quad_index(sw, dw),
                     .zp_in = _mm512_set1_epi8((char)a->input_zero_point),
                     .lo = _mm512_set1_ps((float)(a->qmin - a->out_zero_point)),
                     .hi = _mm512_set1_ps((float)(a->qmax - a->out_zero_point))};
    for (int64_t c = 0; c < a->channels; c++) {
        const int8_t *kernel = a->weights + c * KH * KW;
        uint8_t *out = a->output + c * OH * OW;
        ch.plane = a->input + c * H * W;
        ch.bias = a->bias[c];
        ch.scale = _mm512_set1_ps(a->scale[c]);
        ch.noclamp = a->scale[c] >= 0.0f && a->scale[c] <= QP_Q8_NOCLAMP_MAX_SCALE;
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
