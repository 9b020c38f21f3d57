/* dwconv2d_rows__avx512.c — direct AVX-512 depthwise conv (small stride-1 planes, several per call; stride-2 rows): borders by load masks, no padded copy. */
#include <immintrin.h>

#include "kernels/fp32/f32_kernels.h"

#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")

enum { QP_DW_MAX_CHUNKS = 64, QP_DW_MAX_KW = 8 };

/* Bits [lo, hi) of a 32-bit mask, clipped to [0, 32). */
static inline uint32_t bit_range(int64_t lo, int64_t hi) {
    if (lo < 0) lo = 0;
    if (hi > 32) hi = 32;
    if (hi <= lo) return 0;
    uint32_t upper = hi >= 32 ? 0xffffffffu : ((1u << hi) - 1u);
    return upper & ~((1u << lo) - 1u);
}

/* Column stride 1 or 2, row by row: row pointers once per output row, 16 outputs per vector;
 * stride 2 loads 32 inputs and keeps the even lanes. */
static inline __attribute__((always_inline)) void dw_rows(const qp_f32_dwconv2d_args *a, const int sw) {
    const qp_f32_window *w = &a->win;
    const int64_t H = w->in[1], W = w->in[2], OH = w->out[1], OW = w->out[2];
    const int64_t KH = w->kernel[1], KW = w->kernel[2], sh = w->stride[1];
    const int64_t dh = w->dilation[1], dw = w->dilation[2], ph = w->pad_begin[1], pw = w->pad_begin[2];
    const int64_t chunks = (OW + 15) / 16;
    /* load masks per (chunk, kw): stride 1 uses the low 16 bits; stride 2 loads 32 lanes */
    uint32_t masks[QP_DW_MAX_CHUNKS][QP_DW_MAX_KW];
    __mmask16 store_mask[QP_DW_MAX_CHUNKS];
    for (int64_t ci = 0; ci < chunks; ci++) {
        const int64_t x0 = ci * 16, lanes = OW - x0 < 16 ? OW - x0 : 16;
        store_mask[ci] = (__mmask16)bit_range(0, lanes);
        for (int64_t kw = 0; kw < KW; kw++) {
            const int64_t off = x0 * sw - pw + kw * dw; /* input column of lane 0 */
            masks[ci][kw] = bit_range(-off, W - off) & bit_range(0, lanes * sw);
        }
    }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512 bias = _mm512_set1_ps(a->bias);
    const __m512 lo_v = _mm512_set1_ps(a->lo), hi_v = _mm512_set1_ps(a->hi);
    const int clamp = a->clamp;
    const float *k = a->kernel;
    for (int64_t oh = 0; oh < OH; oh++) {
        int64_t kh_b = 0, kh_e = KH;
        while (kh_b < KH && oh * sh - ph + kh_b * dh < 0) kh_b++;
        while (kh_e > kh_b && oh * sh - ph + (kh_e - 1) * dh >= H) kh_e--;
        const float *row0 = a->input + (oh * sh - ph) * W; /* kh = 0; may lie outside, never read there */
        float *out = a->output + oh * OW;
        for (int64_t ci = 0; ci < chunks; ci++) {
            const int64_t x0 = ci * 16;
            __m512 acc = bias;
            for (int64_t kh = kh_b; kh < kh_e; kh++) {
                const char *row = (const char *)row0 + kh * dh * W * (int64_t)sizeof(float);
                for (int64_t kw = 0; kw < KW; kw++) {
                    const uint32_t m = masks[ci][kw];
                    const float *src = (const float *)(row + (x0 * sw - pw + kw * dw) * (int64_t)sizeof(float));
                    __m512 v;
                    if (sw == 1) {
                        v = _mm512_maskz_loadu_ps((__mmask16)m, src);
                    } else {
                        const __m512 lo = _mm512_maskz_loadu_ps((__mmask16)m, src);
                        const __m512 hi = _mm512_maskz_loadu_ps((__mmask16)(m >> 16), src + 16);
                        v = _mm512_permutex2var_ps(lo, even, hi);
                    }
                    acc = _mm512_fmadd_ps(v, _mm512_set1_ps(k[kh * KW + kw]), acc);
                }
            }
            if (clamp) acc = _mm512_min_ps(hi_v, _mm512_max_ps(lo_v, acc)); /* keeps NaN, as Clip */
            _mm512_mask_storeu_ps(out + x0, store_mask[ci], acc);
        }
    }
}

/* Small same-width stride-1 planes (at most QP_DW_SMALL vectors, e.g. 7x7 and 14x14): the load
 * mask of every (vector, tap) is computed once per call and shared by all its planes, so a plane
 * costs its loads and FMAs only. */
enum { QP_DW_SMALL = 16, QP_DW_SMALL_TAPS = 25 };

static int dw_small_fits(const qp_f32_window *w) {
    return w->out[1] * w->in[2] <= 16 * QP_DW_SMALL && w->kernel[1] * w->kernel[2] <= QP_DW_SMALL_TAPS;
}

static void dw_small_planes(const qp_f32_dwconv2d_args *a, int64_t planes) {
    const qp_f32_window *w = &a->win;
    const int64_t H = w->in[1], W = w->in[2], OH = w->out[1];
    const int64_t KH = w->kernel[1], KW = w->kernel[2], taps = KH * KW;
    const int64_t dh = w->dilation[1], dw = w->dilation[2], ph = w->pad_begin[1], pw = w->pad_begin[2];
    const int64_t n = OH * W, vectors = (n + 15) / 16;
    __mmask16 masks[QP_DW_SMALL][QP_DW_SMALL_TAPS], out_mask[QP_DW_SMALL];
    int64_t offset[QP_DW_SMALL_TAPS];
    for (int64_t t = 0; t < taps; t++) offset[t] = (t / KW * dh - ph) * W + t % KW * dw - pw;
    for (int64_t v = 0; v < vectors; v++) {
        out_mask[v] = (__mmask16)bit_range(0, n - 16 * v);
        for (int64_t t = 0; t < taps; t++) {
            uint32_t m = 0;
            for (int64_t i = 0; i < 16 && 16 * v + i < n; i++) {
                const int64_t j = 16 * v + i, ih = j / W + t / KW * dh - ph, iw = j % W + t % KW * dw - pw;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) m |= 1u << i;
            }
            masks[v][t] = (__mmask16)m;
        }
    }
    const int64_t in_plane = H * W;
    const __m512 lo_v = _mm512_set1_ps(a->lo), hi_v = _mm512_set1_ps(a->hi);
    for (int64_t p = 0; p < planes; p++) {
        const float *in = a->input + p * in_plane, *k = a->kernel + p * taps;
        float *out = a->output + p * n;
        const __m512 bias = _mm512_set1_ps(a->biases ? a->biases[p] : a->bias);
        for (int64_t v = 0; v < vectors; v++) {
            __m512 acc = bias;
            for (int64_t t = 0; t < taps; t++) {
                /* lane addresses may start outside the plane (masked lanes are never read) */
                const float *src = (const float *)((const char *)in + (16 * v + offset[t]) * (int64_t)sizeof(float));
                acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(masks[v][t], src), _mm512_set1_ps(k[t]), acc);
            }
            if (a->clamp) acc = _mm512_min_ps(hi_v, _mm512_max_ps(lo_v, acc)); /* keeps NaN, as Clip */
            _mm512_mask_storeu_ps(out + 16 * v, out_mask[v], acc);
        }
    }
}

/* Where these kernels beat the ISA-generic wide loop (dwconv2d.inc.h, which pads a copy of the
 * plane): small same-width stride-1 planes, and narrow stride-2 outputs. Measured on
 * MobileNetV2's shapes; large stride-1 planes stay with the wide loop. */
static int is_flat(const qp_f32_window *w) {
    return w->stride[1] == 1 && w->stride[2] == 1 && w->out[2] == w->in[2];
}

int qp_f32_dwconv2d_rows_supported__avx512(const qp_f32_window *w) {
    if (w->kernel[2] > QP_DW_MAX_KW || w->out[2] > 16 * QP_DW_MAX_CHUNKS) return 0;
    return (is_flat(w) && dw_small_fits(w)) || (w->stride[2] == 2 && w->out[2] <= 32);
}

void qp_f32_dwconv2d_rows__avx512(const qp_f32_dwconv2d_args *args) {
    const qp_f32_window *w = &args->win;
    const int64_t planes = args->planes > 1 ? args->planes : 1;
    if (is_flat(w) && dw_small_fits(w)) {
        dw_small_planes(args, planes);
        return;
    }
    const int64_t in_plane = w->in[1] * w->in[2], out_plane = w->out[1] * w->out[2];
    const int64_t taps = w->kernel[1] * w->kernel[2];
    qp_f32_dwconv2d_args one = *args;
    for (int64_t p = 0; p < planes; p++) {
        one.input = args->input + p * in_plane;
        one.kernel = args->kernel + p * taps;
        one.output = args->output + p * out_plane;
        one.bias = args->biases ? args->biases[p] : args->bias;
        if (w->stride[2] == 1)
            dw_rows(&one, 1);
        else
            dw_rows(&one, 2);
    }
}
