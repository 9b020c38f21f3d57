/* u8s8_gemm_4x16__avx2.c — u8 x s8 GEMM, 4 weight rows x 16 columns per step, vpmaddwd on widened pairs (no saturation). */
#include <string.h>

#include "kernels/int8/q8_kernels.h"
#include "kernels/int8/requant.h"

/* Every function below, the helpers of q8_avx2.h included, is built for this ISA; the rest of
 * the library stays baseline x86-64 and this code only runs when the dispatch says so. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif
#include "kernels/int8/q8_avx2.h"

/* Why vpmaddwd and not vpmaddubsw: maddubs adds two u8*s8 products in int16, and
 * 255*127 + 255*127 = 64770 saturates; XNNPACK/oneDNN work around it with a bias trick or by
 * halving weights. Widening both operands to int16 (zero-extend X, sign-extend W at pack time)
 * and using vpmaddwd (int16 pairs -> int32) cannot saturate for any u8 x s8 input, including -128.
 *
 * Layouts (k2 = ceil(k / 2) pairs of the reduction dim, odd k padded with a zero pair member):
 *   packed W, per tile of MR rows: int32 bias[MR], then per pair p: MR x {int16 w[r][2p], w[r][2p+1]}
 *   X panel (scratch), per block of NR columns: per pair p: NR x {int16 x[2p][c], x[2p+1][c]}
 * so the inner loop is: 2 panel loads, MR dword broadcasts, 2*MR vpmaddwd + vpaddd; no shuffles. */
enum { MR = 4, NR = 16, PANEL_TARGET_BYTES = 96 * 1024 };

static int64_t pairs_of(int64_t k) { return (k + 1) / 2; }

static size_t tile_bytes(int64_t k) { return MR * sizeof(int32_t) + (size_t)pairs_of(k) * MR * 4; }

static size_t avx2_pack_size(int64_t m, int64_t k) {
    return (size_t)((m + MR - 1) / MR) * tile_bytes(k);
}

static void avx2_pack(int64_t m, int64_t k, const int8_t *w, int64_t w_row_stride,
                      const int32_t *bias, void *packed) {
    const int64_t k2 = pairs_of(k);
    uint8_t *p = packed;
    for (int64_t m0 = 0; m0 < m; m0 += MR) {
        for (int r = 0; r < MR; r++) {
            const int32_t b = (m0 + r < m && bias) ? bias[m0 + r] : 0;
            memcpy(p + r * sizeof(int32_t), &b, sizeof b);
        }
        int16_t *pairs = (int16_t *)(void *)(p + MR * sizeof(int32_t));
        for (int64_t pi = 0; pi < k2; pi++)
            for (int r = 0; r < MR; r++)
                for (int h = 0; h < 2; h++) {
                    const int64_t row = m0 + r, col = 2 * pi + h;
                    const int16_t v = (row < m && col < k) ? w[row * w_row_stride + col] : 0;
                    memcpy(&pairs[(pi * MR + r) * 2 + h], &v, sizeof v);
                }
        p += tile_bytes(k);
    }
}

/* Columns per panel: enough that a panel (k2 * 64 bytes per NR columns) stays near L2-resident
 * while every weight tile streams over it. Non-decreasing in n, so scratch sized for the whole n
 * also covers any column slice a thread takes. */
static int64_t panel_columns(int64_t k, int64_t n) {
    const int64_t per_block = pairs_of(k) * NR * 4;
    int64_t blocks = PANEL_TARGET_BYTES / per_block;
    if (blocks < 1) blocks = 1;
    const int64_t needed = (n + NR - 1) / NR;
    return (blocks < needed ? blocks : needed) * NR;
}

static size_t avx2_scratch_size(int64_t k, int64_t n) {
    return (size_t)(pairs_of(k) * panel_columns(k, n) * 4) + 32;
}

/* Widens columns [n0, n0 + cols) of X into the panel, zero-filling the pad column/row. */
static void pack_panel(const qp_u8s8_gemm_args *a, int64_t n0, int64_t cols, int16_t *panel) {
    const int64_t k = a->k, k2 = pairs_of(k);
    for (int64_t c0 = 0; c0 < cols; c0 += NR) {
        int16_t *dst = panel + (c0 / NR) * k2 * NR * 2;
        const int64_t width = cols - c0 < NR ? cols - c0 : NR;
        if (a->x_n_stride == 1 && width == NR) {
            for (int64_t pi = 0; pi < k2; pi++) {
                const uint8_t *src = a->x + (2 * pi) * a->x_k_stride + n0 + c0;
                const __m128i r0 = _mm_loadu_si128((const __m128i *)src);
                const __m128i r1 = 2 * pi + 1 < k
                                       ? _mm_loadu_si128((const __m128i *)(src + a->x_k_stride))
                                       : _mm_setzero_si128();
                _mm256_storeu_si256((__m256i *)(dst + pi * NR * 2),
                                    _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(r0, r1)));
                _mm256_storeu_si256((__m256i *)(dst + pi * NR * 2 + NR),
                                    _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(r0, r1)));
            }
        } else {
            for (int64_t pi = 0; pi < k2; pi++)
                for (int64_t c = 0; c < NR; c++)
                    for (int h = 0; h < 2; h++) {
                        const int64_t row = 2 * pi + h;
                        dst[(pi * NR + c) * 2 + h] =
                            (c < width && row < k)
                                ? a->x[row * a->x_k_stride + (n0 + c0 + c) * a->x_n_stride]
                                : 0;
                    }
        }
    }
}

/* n <= 4 columns (a fully connected layer at batch 1-4): 16-column tiles would leave at least
 * 12 of 16 lanes idle (the classifier MatMul of MobileNetV2 ran at 4.4 GMAC/s, slower than fp32).
 * Per column the X pairs are laid out once as xb[p] = 4 x {x[2p], x[2p+1]} (int16), so one
 * 32-byte load of the packed W (pair p: rows 0-3, pair p+1: rows 0-3) and one of xb feed a
 * vpmaddwd with every lane useful; the two 128-bit halves add up at the end. The int32 sums are
 * the tiles' (integer adds in another order), requantized by requant.h's scalar stage. */
enum { GEMV_MAX_COLUMNS = 4 };

static void avx2_gemv(const qp_u8s8_gemm_args *a) {
    const int64_t k = a->k, k2 = pairs_of(k);
    int32_t *xb = (int32_t *)(((uintptr_t)a->scratch + 31) & ~(uintptr_t)31); /* k2 x 16 bytes */
    const size_t tb = tile_bytes(k);
    for (int64_t col = 0; col < a->n; col++) {
        for (int64_t p = 0; p < k2; p++) {
            const uint8_t *x0 = a->x + (2 * p) * a->x_k_stride + col * a->x_n_stride;
            const uint32_t lo = *x0, hi = 2 * p + 1 < k ? x0[a->x_k_stride] : 0;
            const int32_t v = (int32_t)(lo | hi << 16);
            xb[4 * p] = xb[4 * p + 1] = xb[4 * p + 2] = xb[4 * p + 3] = v;
        }
        for (int64_t m0 = a->m_begin; m0 < a->m_end; m0 += MR) {
            const uint8_t *tile = (const uint8_t *)a->packed_w + (size_t)(m0 / MR) * tb;
            const uint8_t *w = tile + MR * sizeof(int32_t);
            __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
            int64_t p = 0;
            for (; p + 4 <= k2; p += 4) {
                acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(w + p * 16)),
                                                                _mm256_loadu_si256((const __m256i *)(xb + 4 * p))));
                acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(w + p * 16 + 32)),
                                                                _mm256_loadu_si256((const __m256i *)(xb + 4 * p + 8))));
            }
            acc0 = _mm256_add_epi32(acc0, acc1);
            __m128i sum = _mm_add_epi32(_mm256_castsi256_si128(acc0), _mm256_extracti128_si256(acc0, 1));
            for (; p < k2; p++) /* the last 1-3 pairs, 16 bytes each: no load past the tile */
                sum = _mm_add_epi32(sum, _mm_madd_epi16(_mm_loadu_si128((const __m128i *)(w + p * 16)),
                                                        _mm_loadu_si128((const __m128i *)(xb + 4 * p))));
            int32_t sums[MR], bias[MR];
            _mm_storeu_si128((__m128i *)sums, sum);
            memcpy(bias, tile, sizeof bias);
            const int rows = a->m_end - m0 < MR ? (int)(a->m_end - m0) : MR;
            for (int r = 0; r < rows; r++)
                a->out[(m0 + r) * a->out_m_stride + col * a->out_n_stride] =
                    qp_requantize((int32_t)((uint32_t)sums[r] + (uint32_t)bias[r]), a->scale[m0 + r],
                                  a->out_zero_point, a->qmin, a->qmax);
        }
    }
}

static void avx2_run(const qp_u8s8_gemm_args *a) {
    if (a->n <= GEMV_MAX_COLUMNS && a->x) {
        avx2_gemv(a);
        return;
    }
    const int64_t k2 = pairs_of(a->k);
    const int64_t nc_max = panel_columns(a->k, a->n);
    int16_t *panel = (int16_t *)(((uintptr_t)a->scratch + 31) & ~(uintptr_t)31);
    const uint8_t *packed = a->packed_w;
    const size_t tb = tile_bytes(a->k);
    const __m256i zp16 = _mm256_set1_epi16((int16_t)a->out_zero_point);
    const __m128i qmin = _mm_set1_epi8((char)a->qmin), qmax = _mm_set1_epi8((char)a->qmax);
    const __m256 lo = _mm256_set1_ps((float)(a->qmin - a->out_zero_point));
    const __m256 hi = _mm256_set1_ps((float)(a->qmax - a->out_zero_point));

    for (int64_t n0 = 0; n0 < a->n; n0 += nc_max) {
        const int64_t nc = a->n - n0 < nc_max ? a->n - n0 : nc_max;
        pack_panel(a, n0, nc, panel);
        for (int64_t m0 = a->m_begin; m0 < a->m_end; m0 += MR) {
            const uint8_t *tile = packed + (size_t)(m0 / MR) * tb;
            const int32_t *bias = (const int32_t *)(const void *)tile;
            const int32_t *wpairs = (const int32_t *)(const void *)(tile + MR * sizeof(int32_t));
            const int rows = a->m_end - m0 < MR ? (int)(a->m_end - m0) : MR;
            for (int64_t c0 = 0; c0 < nc; c0 += NR) {
                const int16_t *xp = panel + (c0 / NR) * k2 * NR * 2;
                /* Named accumulators: an array indexed in a loop ends up on the stack. */
                int32_t b[MR];
                memcpy(b, bias, sizeof b);
                __m256i a00 = _mm256_set1_epi32(b[0]), a01 = a00;
                __m256i a10 = _mm256_set1_epi32(b[1]), a11 = a10;
                __m256i a20 = _mm256_set1_epi32(b[2]), a21 = a20;
                __m256i a30 = _mm256_set1_epi32(b[3]), a31 = a30;
                const int32_t *wp = wpairs;
                for (int64_t pi = 0; pi < k2; pi++, wp += MR) {
                    const __m256i x0 = _mm256_loadu_si256((const __m256i *)(xp + pi * NR * 2));
                    const __m256i x1 = _mm256_loadu_si256((const __m256i *)(xp + pi * NR * 2 + NR));
                    int32_t wv[MR];
                    memcpy(wv, wp, sizeof wv);
                    __m256i wb = _mm256_set1_epi32(wv[0]);
                    a00 = _mm256_add_epi32(a00, _mm256_madd_epi16(x0, wb));
                    a01 = _mm256_add_epi32(a01, _mm256_madd_epi16(x1, wb));
                    wb = _mm256_set1_epi32(wv[1]);
                    a10 = _mm256_add_epi32(a10, _mm256_madd_epi16(x0, wb));
                    a11 = _mm256_add_epi32(a11, _mm256_madd_epi16(x1, wb));
                    wb = _mm256_set1_epi32(wv[2]);
                    a20 = _mm256_add_epi32(a20, _mm256_madd_epi16(x0, wb));
                    a21 = _mm256_add_epi32(a21, _mm256_madd_epi16(x1, wb));
                    wb = _mm256_set1_epi32(wv[3]);
                    a30 = _mm256_add_epi32(a30, _mm256_madd_epi16(x0, wb));
                    a31 = _mm256_add_epi32(a31, _mm256_madd_epi16(x1, wb));
                }
                const __m256i acc[MR][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
                const int64_t width = nc - c0 < NR ? nc - c0 : NR;
                for (int r = 0; r < rows; r++) {
                    const __m256 scale = _mm256_set1_ps(a->scale[m0 + r]);
                    const __m128i bytes =
                        qp_q8_avx2_pack16(qp_q8_avx2_requant(acc[r][0], scale, lo, hi),
                                          qp_q8_avx2_requant(acc[r][1], scale, lo, hi), zp16, qmin, qmax);
                    uint8_t *dst = a->out + (m0 + r) * a->out_m_stride + (n0 + c0) * a->out_n_stride;
                    if (a->out_n_stride == 1 && width == NR) {
                        _mm_storeu_si128((__m128i *)dst, bytes);
                    } else {
                        uint8_t tmp[NR];
                        _mm_storeu_si128((__m128i *)tmp, bytes);
                        for (int64_t c = 0; c < width; c++) dst[c * a->out_n_stride] = tmp[c];
                    }
                }
            }
        }
    }
}

const qp_u8s8_gemm_variant qp_u8s8_gemm_4x16__avx2 = {
    .name = "u8s8_gemm_4x16__avx2",
    .mr = MR,
    .nr = NR,
    .pack_size = avx2_pack_size,
    .pack = avx2_pack,
    .scratch_size = avx2_scratch_size,
    .run = avx2_run,
};

#if defined(__clang__)
#pragma clang attribute pop
#endif
