/* dwconv_u8__avx512vnni.c — AVX-512 VNNI+VBMI depthwise convolution: vpermb builds tap quads, vpdpbusd sums them; 3x3 stride 1/2 in column strips, other windows in steps of rows or flat vectors. */
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
 * MAX_QUADS weight quads and MAX_SPAN input rows per step; anything else runs the AVX2 variant.
 *
 * Paths, the first that applies: 3x3 windows at stride 1 or 2 without dilation (MobileNet's,
 * most depthwise work) run the column strips further down, everything fixed at compile time;
 * then the limits above; planes narrower than 16 the flat vectors; the rest the row steps. All
 * compute the same integer sums and requantize them with requant.h's float arithmetic, so they
 * give the reference's bytes. */

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

/* ---- 3x3 stride 1 and 2: column strips ---------------------------------------------------------
 * The generic row path above decides per step, at run time, which input row feeds which output
 * row and tap row, and computes load masks per block: on a 3x3 kernel that bookkeeping (branches,
 * an accumulator spilled around them, scalar mask arithmetic) cost more than the vector work.
 * Here everything is fixed at compile time for K = 3, stride S = 1 or 2 (both axes, no dilation):
 * a block of up to V x 16 output columns runs down its whole strip of output rows, G rows at a
 * time, and each input row is loaded (one masked 64-byte load) and permuted once per block, not
 * once per step of output rows, feeding every output row that uses it. Output rows still waiting
 * for input rows (C of them: 2 at stride 1, 1 at stride 2) carry their accumulators into the next
 * group. Blocks and their load masks are worked out once per call; input rows outside the plane
 * read a row of zero points (on the stack: rows up to STRIP_MAX_W wide). Per 16 outputs at
 * stride 1: 1 vpermb, 3 vpdpbusd (the minimum for 9 taps), the requantization; on Zen 5 that mix
 * runs at ~4 outputs a cycle, 3x the row steps on MobileNetV2's planes. */
enum { STRIP_K = 3, STRIP_MAX_W = 2048, STRIP_MAX_BLOCKS = STRIP_MAX_W / 16 + 2, STRIP_MAX_ACC = 6 };

typedef struct strip_call {
    int64_t H, W, OW, pad_top, pad_left;
    int64_t oh_begin, oh_end;
    const uint8_t *zp_row;                         /* W input zero points */
    __m512i index[2];                              /* vpermb index per 16-lane vector */
    __m512i wsel[STRIP_K];                         /* kernel row kh's 3 bytes into every dword */
    __m512i pair_index, pair_wsel[STRIP_K], pair_gather; /* two channels at a time (strip_twos) */
    __m512i zp_in, zp16, qmin, qmax;
    __m512 lo, hi;
} strip_call;

/* A block of output columns from ow: its input bytes start at `start`, `load` masks what lies
 * inside the input row, `keep` the columns it stores. */
typedef struct strip_block {
    int64_t ow, start;
    __mmask64 load;
    uint32_t keep;
} strip_block;

/* The epilogue, fixed per variant: PLAIN when the input zero point is 0 and the output range
 * is the whole of [0, 255] (the usual depthwise after a ReLU: loads zero the padding, and the
 * saturating packs alone clamp), else the float clamp only where a scale needs it (see
 * QP_Q8_NOCLAMP_MAX_SCALE). */
enum { STRIP_PLAIN, STRIP_NOCLAMP, STRIP_CLAMP };

/* How the lanes of a block's vectors are filled. */
enum {
    STRIP_ONE,    /* one channel: V x 16 columns of it */
    STRIP_TWO,    /* planes 9-16 wide: two channels, one vector each (V = 2) */
    STRIP_HALVES, /* planes at most 8 wide: two channels, lanes 0-7 and 8-15 of one vector (V = 1) */
};

/* What one block of one channel (or two) works with, copied into locals: the stores (char
 * pointers) could alias *k and *blk, so fields read in the loop would be loaded after each store. */
typedef struct strip_ctx {
    const uint8_t *plane, *plane2;                 /* plane2, out2: the second channel of two */
    uint8_t *out, *out2;
    const uint8_t *zp_row;
    int64_t H, W, OW, oh_end;
    int64_t start, ow;
    __mmask64 load;
    uint32_t keep;
    __m512i zp_in, index[2], w[2][STRIP_K], bias[2]; /* [v]: per vector (the same for STRIP_ONE) */
    __m512 scale[2], lo, hi;
    __m512i zp16, qmin, qmax, gather;
} strip_ctx;

/* Input row ih of a plane; with CHECK, the zero-point row for rows outside it. */
__attribute__((always_inline)) static inline const uint8_t *strip_row(const strip_ctx *c, const uint8_t *plane,
                                                                      int64_t ih, int CHECK) {
    if (!CHECK) return plane + ih * c->W;
    return (uint64_t)ih < (uint64_t)c->H ? plane + ih * c->W : c->zp_row;
}

/* The block's 64 bytes of an input row; the load mask keeps what lies inside the row, the rest
 * reads as the input zero point (PLAIN: 0, so a zero-masking load needs no merge register). */
__attribute__((always_inline)) static inline __m512i strip_load(const strip_ctx *c, const uint8_t *row, int EPI) {
    return EPI == STRIP_PLAIN ? _mm512_maskz_loadu_epi8(c->load, row + c->start)
                              : _mm512_mask_loadu_epi8(c->zp_in, c->load, row + c->start);
}

/* An input row of the block as V vectors of tap quads: lane j of vector v gets the 4 bytes from
 * byte (16 v + j) S of one load (32 columns at stride 1 read 34 bytes; at stride 2 a block is 31
 * columns, 63 bytes). Two channels: a load of each one's row, then one vpermt2b (halves: lanes
 * 0-7 from the first, 8-15 from the second) or a vpermb each. */
__attribute__((always_inline)) static inline void strip_in(const strip_ctx *c, const uint8_t *row, const uint8_t *row2,
                                                           __m512i *x, int V, int MODE, int EPI) {
    const __m512i bytes = strip_load(c, row, EPI);
    if (MODE == STRIP_ONE) {
        for (int v = 0; v < V; v++) x[v] = _mm512_permutexvar_epi8(c->index[v], bytes);
        return;
    }
    const __m512i bytes2 = strip_load(c, row2, EPI);
    if (MODE == STRIP_HALVES) {
        x[0] = _mm512_permutex2var_epi8(bytes, c->index[0], bytes2);
    } else {
        x[0] = _mm512_permutexvar_epi8(c->index[0], bytes);
        x[1] = _mm512_permutexvar_epi8(c->index[0], bytes2);
    }
}

__attribute__((always_inline)) static inline __m512i strip_rq(const strip_ctx *c, __m512i acc, int v, int EPI) {
    return EPI == STRIP_CLAMP ? qp_q8_avx512_requant(acc, c->scale[v], c->lo, c->hi)
                              : qp_q8_avx512_requant_noclamp(acc, c->scale[v]);
}

/* qp_q8_avx512_pack64; for PLAIN without its [qmin, qmax] clamp, which is then [0, 255]: what
 * vpackuswb leaves anyway. */
__attribute__((always_inline)) static inline __m512i strip_pack(const strip_ctx *c, __m512i a, __m512i b, __m512i d,
                                                                 __m512i e, int EPI) {
    if (EPI != STRIP_PLAIN) return qp_q8_avx512_pack64(a, b, d, e, c->zp16, c->qmin, c->qmax);
    return qp_q8_avx512_pack64_full_range(a, b, d, e, c->zp16);
}

/* A finished group's rows (acc[0 .. G-1]) requantized into one 64-byte pack and stored from output
 * row oh: `rows` of them at most (keep: the block's columns inside the plane). Two channels: one
 * vpermb gathers each one's rows into contiguous bytes (0-31 the first, 32-63 the second), one
 * masked store each (a lone last channel, out2 == out, stores the same bytes twice). */
__attribute__((always_inline)) static inline void strip_emit(const strip_ctx *c, __m512i (*acc)[2], int64_t oh,
                                                             int64_t rows, int V, int MODE, int EPI) {
    const int64_t OW = c->OW;
    uint8_t *dst = c->out + oh * OW + c->ow;
    const int G = V == 2 ? 2 : 4;
    __m512i bytes;
    if (V == 2)
        bytes = strip_pack(c, strip_rq(c, acc[0][0], 0, EPI), strip_rq(c, acc[0][1], 1, EPI),
                           strip_rq(c, acc[1][0], 0, EPI), strip_rq(c, acc[1][1], 1, EPI), EPI);
    else
        bytes = strip_pack(c, strip_rq(c, acc[0][0], 0, EPI), strip_rq(c, acc[1][0], 0, EPI),
                           strip_rq(c, acc[2][0], 0, EPI), strip_rq(c, acc[3][0], 0, EPI), EPI);
    if (MODE != STRIP_ONE) {
        bytes = _mm512_permutexvar_epi8(c->gather, bytes);
        const __mmask32 n = (__mmask32)(((uint64_t)1 << ((rows < G ? rows : G) * OW)) - 1);
        _mm256_mask_storeu_epi8(dst, n, _mm512_castsi512_si256(bytes));
        _mm256_mask_storeu_epi8(c->out2 + oh * OW, n, _mm512_extracti64x4_epi64(bytes, 1));
    } else if (V == 2) {
        _mm256_mask_storeu_epi8(dst, c->keep, _mm512_castsi512_si256(bytes));
        if (rows > 1) _mm256_mask_storeu_epi8(dst + OW, c->keep, _mm512_extracti64x4_epi64(bytes, 1));
    } else {
        const __mmask16 keep = (__mmask16)c->keep;
        _mm_mask_storeu_epi8(dst, keep, _mm512_castsi512_si128(bytes));
        if (rows > 1) _mm_mask_storeu_epi8(dst + OW, keep, _mm512_extracti32x4_epi32(bytes, 1));
        if (rows > 2) _mm_mask_storeu_epi8(dst + 2 * OW, keep, _mm512_extracti32x4_epi32(bytes, 2));
        if (rows > 3) _mm_mask_storeu_epi8(dst + 3 * OW, keep, _mm512_extracti32x4_epi32(bytes, 3));
    }
}

/* Input row base + r into the accumulators of the window's rows i = from .. to-1 it feeds (tap
 * row r - i S); all indices are constants after unrolling. Without CHECK the row lies in the
 * plane, (r - r0) rows below rows[] (the group's first new row of each plane). */
__attribute__((always_inline)) static inline void strip_feed(const strip_ctx *c, __m512i (*acc)[2], int64_t base,
                                                             const uint8_t *const *rows, int r0, int r, int from,
                                                             int to, int S, int V, int MODE, int EPI, int CHECK) {
    __m512i x[2];
    const uint8_t *p = CHECK ? strip_row(c, c->plane, base + r, 1) : rows[0] + (r - r0) * c->W;
    const uint8_t *p2 = MODE == STRIP_ONE ? NULL : CHECK ? strip_row(c, c->plane2, base + r, 1) : rows[1] + (r - r0) * c->W;
    strip_in(c, p, p2, x, V, MODE, EPI);
#pragma GCC unroll 8
    for (int i = from; i < to; i++) {
        const int kh = r - i * S;
        if (kh < 0 || kh >= STRIP_K) continue;
#pragma GCC unroll 2
        for (int v = 0; v < V; v++) acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], x[v], c->w[v][kh]);
    }
}

/* One group: output rows oh .. oh+G-1 (window rows 0..G-1), whose input rows start at base. Its
 * new input rows base + K - S .. base + (G - 1) S + K - 1 complete them and start the next C. */
__attribute__((always_inline)) static inline void strip_group(const strip_ctx *c, __m512i (*acc)[2], int64_t oh,
                                                              int64_t base, int S, int V, int MODE, int EPI,
                                                              int CHECK) {
    const int G = V == 2 ? 2 : 4, C = (STRIP_K - 1) / S, R = G + C, r0 = STRIP_K - S;
    const uint8_t *rows[2] = {CHECK ? NULL : c->plane + (base + r0) * c->W,
                              CHECK || MODE == STRIP_ONE ? NULL : c->plane2 + (base + r0) * c->W};
#pragma GCC unroll 8
    for (int i = C; i < R; i++)
#pragma GCC unroll 2
        for (int v = 0; v < V; v++) acc[i][v] = c->bias[v];
#pragma GCC unroll 16
    for (int r = r0; r < (G - 1) * S + STRIP_K; r++) strip_feed(c, acc, base, rows, r0, r, 0, R, S, V, MODE, EPI, CHECK);
    strip_emit(c, acc, oh, CHECK ? c->oh_end - oh : G, V, MODE, EPI);
#pragma GCC unroll 8
    for (int i = 0; i < C; i++)
#pragma GCC unroll 2
        for (int v = 0; v < V; v++) acc[i][v] = acc[G + i][v];
}

/* One block down the rows [oh_begin, oh_end). G output rows a group: 2 rows x 32 columns or 4 x 16
 * fill one 64-byte pack. The groups in the middle, whose input rows all lie in the plane and
 * whose rows are all stored, run without row checks; a last group past oh_end computes rows it
 * does not store. */
__attribute__((always_inline)) static inline void strip_block_rows(const strip_ctx *c, int64_t oh_begin,
                                                                   int64_t pad_top, int S, int V, int MODE,
                                                                   int EPI) {
    const int G = V == 2 ? 2 : 4, C = (STRIP_K - 1) / S;
    __m512i acc[STRIP_MAX_ACC][2];
    int64_t oh = oh_begin, base = oh * S - pad_top;
    /* prologue: the input rows above the first group's new ones, for its carried rows */
#pragma GCC unroll 8
    for (int i = 0; i < C; i++)
#pragma GCC unroll 2
        for (int v = 0; v < V; v++) acc[i][v] = c->bias[v];
#pragma GCC unroll 8
    for (int r = 0; r < STRIP_K - S; r++) strip_feed(c, acc, base, NULL, 0, r, 0, C, S, V, MODE, EPI, 1);
    /* groups reading rows above the plane */
    for (; oh < c->oh_end && base + STRIP_K - S < 0; oh += G, base += G * S)
        strip_group(c, acc, oh, base, S, V, MODE, EPI, 1);
    /* then while the last new input row is inside and all G rows are stored */
    for (; oh + G <= c->oh_end && base + (G - 1) * S + STRIP_K <= c->H; oh += G, base += G * S)
        strip_group(c, acc, oh, base, S, V, MODE, EPI, 0);
    for (; oh < c->oh_end; oh += G, base += G * S) strip_group(c, acc, oh, base, S, V, MODE, EPI, 1);
}

/* One channel (or two), blocks [blk, blk + n_blk) of V vectors each; w, bias and scale per vector. */
__attribute__((always_inline)) static inline void strip_channel(const strip_call *k, const uint8_t *plane,
                                                                const uint8_t *plane2, uint8_t *out, uint8_t *out2,
                                                                const __m512i (*w)[STRIP_K], const __m512i *bias,
                                                                const __m512 *scale, const strip_block *blk,
                                                                int64_t n_blk, int S, int V, int MODE, int EPI) {
    strip_ctx c = {.plane = plane, .plane2 = plane2, .out = out, .out2 = out2, .zp_row = k->zp_row, .H = k->H,
                   .W = k->W, .OW = k->OW, .oh_end = k->oh_end, .zp_in = k->zp_in,
                   .index = {MODE == STRIP_HALVES ? k->pair_index : k->index[0], k->index[1]},
                   .w = {{w[0][0], w[0][1], w[0][2]}, {w[1][0], w[1][1], w[1][2]}}, .bias = {bias[0], bias[1]},
                   .scale = {scale[0], scale[1]}, .lo = k->lo, .hi = k->hi, .zp16 = k->zp16, .qmin = k->qmin,
                   .qmax = k->qmax, .gather = k->pair_gather};
    for (const strip_block *end = blk + n_blk; blk < end; blk++) {
        c.start = blk->start;
        c.ow = blk->ow;
        c.load = blk->load;
        c.keep = blk->keep;
        strip_block_rows(&c, k->oh_begin, k->pad_top, S, V, MODE, EPI);
    }
}

/* Kernel row kh's 3 weights of channel c into every dword (the 4th byte 0), for sel = k->wsel. */
static inline void strip_weights(const qp_u8_dwconv_args *a, int64_t c, const __m512i *sel, __m512i *w) {
    const __m512i taps = _mm512_zextsi128_si512(_mm_maskz_loadu_epi8(0x1FF, a->weights + c * STRIP_K * STRIP_K));
    for (int kh = 0; kh < STRIP_K; kh++) w[kh] = _mm512_maskz_permutexvar_epi8(0x7777777777777777ull, sel[kh], taps);
}

static inline int strip_noclamp(float scale) { return scale >= 0.0f && scale <= QP_Q8_NOCLAMP_MAX_SCALE; }

/* Every channel at stride S: the blocks of 2 vectors, then at most one of 1 vector (a last block
 * of at most 16 columns, instead of a half-empty 32-column one). */
__attribute__((always_inline)) static inline void strip_all(const qp_u8_dwconv_args *a, const strip_call *k,
                                                            const strip_block *blocks, int64_t n2, int64_t n1,
                                                            int S, int EPI) {
    const int64_t plane_in = k->H * k->W, plane_out = a->win.out_h * k->OW;
    for (int64_t c = 0; c < a->channels; c++) {
        const float sc = a->scale[c];
        if (strip_noclamp(sc) == (EPI == STRIP_CLAMP)) continue; /* the other variant's channel */
        __m512i w[2][STRIP_K];
        strip_weights(a, c, k->wsel, w[0]);
        for (int kh = 0; kh < STRIP_K; kh++) w[1][kh] = w[0][kh];
        const uint8_t *plane = a->input + c * plane_in;
        uint8_t *out = a->output + c * plane_out;
        const __m512i bias[2] = {_mm512_set1_epi32(a->bias[c]), _mm512_set1_epi32(a->bias[c])};
        const __m512 scale[2] = {_mm512_set1_ps(sc), _mm512_set1_ps(sc)};
        strip_channel(k, plane, NULL, out, NULL, w, bias, scale, blocks, n2, S, 2, STRIP_ONE, EPI);
        if (n1) strip_channel(k, plane, NULL, out, NULL, w, bias, scale, blocks + n2, n1, S, 1, STRIP_ONE, EPI);
    }
}

/* ---- planes at most 16 outputs wide: two channels at a time ----
 * A row of 14 outputs fills 14 of a vector's 16 lanes, one of 7 only 7, and per channel the
 * fixed costs (weights, a prologue, a last group of rows past the plane) weigh on few outputs.
 * So channels go two at a time: at most 8 wide, lanes 0-7 hold a row of channel c and lanes 8-15
 * the same row of channel c + 1 (a load of each channel's row, one vpermt2b for both: 4 rows a
 * group); 9 to 16 wide, one vector per channel (2 rows a group, so 14 rows waste none). The
 * weights, bias and scale go per lane half or per vector. After the pack one vpermb gathers each
 * channel's rows of the group into contiguous bytes: one masked store per channel and group. */
__attribute__((always_inline)) static inline void strip_twos(const qp_u8_dwconv_args *a, const strip_call *k,
                                                             const strip_block *blk, int S, int MODE, int PLAIN) {
    const int64_t plane_in = k->H * k->W, plane_out = a->win.out_h * k->OW;
    for (int64_t c = 0; c < a->channels; c += 2) {
        const int64_t c1 = c + 1 < a->channels ? c + 1 : c; /* a lone last channel: computed twice */
        __m512i w[2][STRIP_K], bias[2];
        __m512 scale[2];
        const float s0 = a->scale[c], s1 = a->scale[c1];
        if (MODE == STRIP_HALVES) {
            const __m512i taps = _mm512_inserti32x4(
                _mm512_zextsi128_si512(_mm_maskz_loadu_epi8(0x1FF, a->weights + c * STRIP_K * STRIP_K)),
                _mm_maskz_loadu_epi8(0x1FF, a->weights + c1 * STRIP_K * STRIP_K), 1);
            for (int kh = 0; kh < STRIP_K; kh++)
                w[0][kh] = w[1][kh] = _mm512_maskz_permutexvar_epi8(0x7777777777777777ull, k->pair_wsel[kh], taps);
            bias[0] = bias[1] =
                _mm512_mask_blend_epi32(0xFF00, _mm512_set1_epi32(a->bias[c]), _mm512_set1_epi32(a->bias[c1]));
            scale[0] = scale[1] = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(s0), _mm512_set1_ps(s1));
        } else {
            strip_weights(a, c, k->wsel, w[0]);
            strip_weights(a, c1, k->wsel, w[1]);
            bias[0] = _mm512_set1_epi32(a->bias[c]);
            bias[1] = _mm512_set1_epi32(a->bias[c1]);
            scale[0] = _mm512_set1_ps(s0);
            scale[1] = _mm512_set1_ps(s1);
        }
        const int V = MODE == STRIP_HALVES ? 1 : 2;
        const uint8_t *plane = a->input + c * plane_in, *plane2 = a->input + c1 * plane_in;
        uint8_t *out = a->output + c * plane_out, *out2 = a->output + c1 * plane_out;
        if (strip_noclamp(s0) && strip_noclamp(s1))
            strip_channel(k, plane, plane2, out, out2, w, bias, scale, blk, 1, S, V, MODE,
                          PLAIN ? STRIP_PLAIN : STRIP_NOCLAMP);
        else
            strip_channel(k, plane, plane2, out, out2, w, bias, scale, blk, 1, S, V, MODE, STRIP_CLAMP);
    }
}

/* One function per variant: kept apart, each inner loop gets the registers to itself. */
typedef void (*strip_twos_fn)(const qp_u8_dwconv_args *a, const strip_call *k, const strip_block *blk);
#define QP_STRIP_TWOS(name, S, MODE, PLAIN)                                                                 \
    __attribute__((noinline)) static void name(const qp_u8_dwconv_args *a, const strip_call *k,              \
                                               const strip_block *blk) {                                    \
        strip_twos(a, k, blk, S, MODE, PLAIN);                                                               \
    }
QP_STRIP_TWOS(strip_halves_s1, 1, STRIP_HALVES, 0)
QP_STRIP_TWOS(strip_halves_s2, 2, STRIP_HALVES, 0)
QP_STRIP_TWOS(strip_two_s1, 1, STRIP_TWO, 0)
QP_STRIP_TWOS(strip_two_s2, 2, STRIP_TWO, 0)
QP_STRIP_TWOS(strip_halves_s1_plain, 1, STRIP_HALVES, 1)
QP_STRIP_TWOS(strip_halves_s2_plain, 2, STRIP_HALVES, 1)
QP_STRIP_TWOS(strip_two_s1_plain, 1, STRIP_TWO, 1)
QP_STRIP_TWOS(strip_two_s2_plain, 2, STRIP_TWO, 1)
#undef QP_STRIP_TWOS

typedef void (*strip_all_fn)(const qp_u8_dwconv_args *a, const strip_call *k, const strip_block *blocks,
                             int64_t n2, int64_t n1);
#define QP_STRIP_ALL(name, S, EPI)                                                                          \
    __attribute__((noinline)) static void name(const qp_u8_dwconv_args *a, const strip_call *k,              \
                                               const strip_block *blocks, int64_t n2, int64_t n1) {         \
        strip_all(a, k, blocks, n2, n1, S, EPI);                                                             \
    }
QP_STRIP_ALL(strip_s1_plain, 1, STRIP_PLAIN)
QP_STRIP_ALL(strip_s1_noclamp, 1, STRIP_NOCLAMP)
QP_STRIP_ALL(strip_s1_clamp, 1, STRIP_CLAMP)
QP_STRIP_ALL(strip_s2_plain, 2, STRIP_PLAIN)
QP_STRIP_ALL(strip_s2_noclamp, 2, STRIP_NOCLAMP)
QP_STRIP_ALL(strip_s2_clamp, 2, STRIP_CLAMP)
#undef QP_STRIP_ALL

static int strip_applies(const qp_q8_window *w) {
    return w->kernel_h == STRIP_K && w->kernel_w == STRIP_K && w->dilation_h == 1 && w->dilation_w == 1 &&
           (w->stride_h == 1 || w->stride_h == 2) && w->stride_w == w->stride_h && w->in_w <= STRIP_MAX_W &&
           w->out_w <= STRIP_MAX_W;
}

static void strip_run(const qp_u8_dwconv_args *a, int64_t oh_begin, int64_t oh_end) {
    const qp_q8_window *w = &a->win;
    const int64_t S = w->stride_w, OW = w->out_w;
    const int plain = a->input_zero_point == 0 && a->qmin == 0 && a->qmax == 255;
    uint8_t zp_row[STRIP_MAX_W];
    memset(zp_row, (int)(uint8_t)a->input_zero_point, (size_t)w->in_w);
    /* The tables are built in registers (no byte loops: a call may cover only 2 channels). The
     * vpermb index: dword lane j of vector v = bytes (16 v + j) S + t, t = 0..3. A weight quad:
     * bytes 3 kh + t (the 4th masked off). */
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i taps4 = _mm512_set1_epi32(0x03020100), stride = _mm512_set1_epi32((int32_t)(S * 0x01010101));
    strip_call k = {.H = w->in_h, .W = w->in_w, .OW = OW, .pad_top = w->pad_top, .pad_left = w->pad_left,
                    .oh_begin = oh_begin, .oh_end = oh_end, .zp_row = zp_row,
                    .zp_in = _mm512_set1_epi8((char)a->input_zero_point),
                    .zp16 = _mm512_set1_epi16((int16_t)a->out_zero_point),
                    .qmin = _mm512_set1_epi8((char)a->qmin), .qmax = _mm512_set1_epi8((char)a->qmax),
                    .lo = _mm512_set1_ps((float)(a->qmin - a->out_zero_point)),
                    .hi = _mm512_set1_ps((float)(a->qmax - a->out_zero_point))};
    for (int v = 0; v < 2; v++)
        k.index[v] = _mm512_add_epi32(taps4, _mm512_mullo_epi32(_mm512_add_epi32(iota, _mm512_set1_epi32(16 * v)), stride));
    for (int kh = 0; kh < STRIP_K; kh++) k.wsel[kh] = _mm512_set1_epi32(0x020100 + 3 * kh * 0x010101);
    if (OW <= 16) {
        /* two channels at a time (strip_twos). Halves: lane j < 8 reads the first channel's row
         * (vpermt2b bytes 0-63), lane 8 + j the second's (bytes 64-127), whose weights sit at
         * byte 16 of the weight vector. The gather after the pack: a group's rows of the first
         * channel from byte 0, of the second from byte 32; halves: row r of the first channel is
         * pack bytes 16 r + col, of the second 16 r + 8 + col; two: the pack holds row 0 of each
         * channel, then row 1 of each, 16 bytes apiece. */
        const int halves = OW <= 8, G = halves ? 4 : 2;
        const __m512i lane = _mm512_and_si512(iota, _mm512_set1_epi32(7));
        k.pair_index = _mm512_add_epi32(taps4, _mm512_mullo_epi32(lane, stride));
        k.pair_index = _mm512_mask_add_epi32(k.pair_index, 0xFF00, k.pair_index, _mm512_set1_epi32(0x40404040));
        for (int kh = 0; kh < STRIP_K; kh++)
            k.pair_wsel[kh] = _mm512_mask_add_epi32(k.wsel[kh], 0xFF00, k.wsel[kh], _mm512_set1_epi32(0x10101010));
        uint8_t gather[64] = {0};
        for (int64_t r = 0, i = 0; r < G; r++)
            for (int64_t col = 0; col < OW; col++, i++) {
                gather[i] = (uint8_t)(halves ? 16 * r + col : 32 * r + col);
                gather[32 + i] = (uint8_t)(halves ? 16 * r + 8 + col : 32 * r + 16 + col);
            }
        k.pair_gather = _mm512_loadu_si512(gather);
        const strip_block blk = {.ow = 0, .start = -w->pad_left, .load = qp_q8_avx512_inside_mask(-w->pad_left, w->in_w)};
        static const strip_twos_fn twos[2][2][2] = {
            {{strip_two_s1, strip_two_s1_plain}, {strip_two_s2, strip_two_s2_plain}},
            {{strip_halves_s1, strip_halves_s1_plain}, {strip_halves_s2, strip_halves_s2_plain}}};
        twos[halves][S - 1][plain](a, &k, &blk);
        return;
    }
    /* blocks of 2 vectors (32 columns at stride 1, 31 at stride 2: one load), while more than 16
     * columns are left; then one of 1 vector */
    strip_block blocks[STRIP_MAX_BLOCKS];
    int64_t n2 = 0, n1 = 0, ow = 0;
    const int64_t wide = S == 1 ? 32 : 31;
    for (; OW - ow > 16; ow += wide, n2++) {
        const int64_t width = OW - ow < wide ? OW - ow : wide;
        blocks[n2] = (strip_block){.ow = ow, .start = ow * S - w->pad_left,
                                   .load = qp_q8_avx512_inside_mask(ow * S - w->pad_left, w->in_w),
                                   .keep = width >= 32 ? ~(uint32_t)0 : ((uint32_t)1 << width) - 1};
    }
    if (ow < OW) {
        blocks[n2] = (strip_block){.ow = ow, .start = ow * S - w->pad_left,
                                   .load = qp_q8_avx512_inside_mask(ow * S - w->pad_left, w->in_w),
                                   .keep = ((uint32_t)1 << (OW - ow)) - 1};
        n1 = 1;
    }
    /* the channels whose scale needs no float clamp, then the others (if any) */
    static const strip_all_fn noclamp[2][2] = {{strip_s1_noclamp, strip_s1_plain}, {strip_s2_noclamp, strip_s2_plain}};
    noclamp[S - 1][plain](a, &k, blocks, n2, n1);
    int64_t clamped = 0;
    for (int64_t c = 0; c < a->channels; c++) clamped += !strip_noclamp(a->scale[c]);
    if (clamped) (S == 1 ? strip_s1_clamp : strip_s2_clamp)(a, &k, blocks, n2, n1);
}

void qp_u8_dwconv__avx512vnni(const qp_u8_dwconv_args *a) {
    const qp_q8_window *w = &a->win;
    const int64_t KH = w->kernel_h, KW = w->kernel_w, sw = w->stride_w, dw = w->dilation_w;
    const int64_t quads = (KW + 3) / 4;
    const int64_t H = w->in_h, W = w->in_w, OH = w->out_h, OW = w->out_w;
    int64_t oh_begin, oh_end;
    qp_q8_row_range(a->row_begin, a->row_end, OH, &oh_begin, &oh_end);
    if (oh_begin >= oh_end) return;
    if (strip_applies(w)) {
        strip_run(a, oh_begin, oh_end);
        return;
    }
    if (sw * 15 + dw * 3 >= 64 || KH * quads > MAX_QUADS ||
        (MAX_ROWS - 1) * w->stride_h + (KH - 1) * w->dilation_h + 1 > MAX_SPAN) {
        qp_u8_dwconv__avx2(a);
        return;
    }
    __m512i wvec[MAX_QUADS];
    if (flat_applies(w, oh_begin * OW, oh_end * OW)) {
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
