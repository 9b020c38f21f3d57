/* u8s8_gemm_8x32__avx512vnni.c — u8 x s8 GEMM, 8 weight rows x 32 columns per step, vpdpbusd (u8 x s8 quads -> s32). */
#include <string.h>

#include "kernels/int8/q8_kernels.h"

/* Every function below, the helpers of q8_avx2.h included, is built for this ISA; the rest of
 * the library stays baseline x86-64 and this code only runs when the dispatch says so. */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))), apply_to = function)
#else
#pragma GCC target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
#endif
#include "kernels/int8/q8_avx2.h"

/* vpdpbusd multiplies u8 (first source) by s8 (second) in groups of four and adds the four
 * products to an int32 lane without intermediate saturation (unlike vpdpbusds), so u8 X and s8 W
 * go in as they are: no zero-point trick, no widening.
 *
 * Layouts (k4 = ceil(k / 4) quads of the reduction dim, zero padded):
 *   packed W, per tile of MR rows: int32 bias[MR], then per quad q: MR x {int8 w[r][4q..4q+3]}
 *   X panel (scratch), per block of NR columns: per quad q: NR x {u8 x[4q..4q+3][c]}
 * Inner loop: 2 zmm panel loads, 8 dword broadcasts (folded into vpdpbusd), 16 vpdpbusd. */
enum { MR = 8, NR = 32, PANEL_TARGET_BYTES = 128 * 1024 };

static int64_t quads_of(int64_t k) { return (k + 3) / 4; }

static size_t tile_bytes(int64_t k) { return MR * sizeof(int32_t) + (size_t)quads_of(k) * MR * 4; }

static size_t vnni_pack_size(int64_t m, int64_t k) {
    return (size_t)((m + MR - 1) / MR) * tile_bytes(k);
}

static void vnni_pack(int64_t m, int64_t k, const int8_t *w, int64_t w_row_stride,
                      const int32_t *bias, void *packed) {
    const int64_t k4 = quads_of(k);
    uint8_t *p = packed;
    for (int64_t m0 = 0; m0 < m; m0 += MR) {
        for (int r = 0; r < MR; r++) {
            const int32_t b = (m0 + r < m && bias) ? bias[m0 + r] : 0;
            memcpy(p + r * sizeof(int32_t), &b, sizeof b);
        }
        int8_t *quads = (int8_t *)(p + MR * sizeof(int32_t));
        for (int64_t qi = 0; qi < k4; qi++)
            for (int r = 0; r < MR; r++)
                for (int h = 0; h < 4; h++) {
                    const int64_t row = m0 + r, col = 4 * qi + h;
                    quads[(qi * MR + r) * 4 + h] = (row < m && col < k) ? w[row * w_row_stride + col] : 0;
                }
        p += tile_bytes(k);
    }
}

/* See the AVX2 variant: panel sized to stay cache-resident; non-decreasing in n. */
static int64_t panel_columns(int64_t k, int64_t n) {
    const int64_t per_block = quads_of(k) * NR * 4;
    int64_t blocks = PANEL_TARGET_BYTES / per_block;
    if (blocks < 1) blocks = 1;
    const int64_t needed = (n + NR - 1) / NR;
    return (blocks < needed ? blocks : needed) * NR;
}

static size_t vnni_scratch_size(int64_t k, int64_t n) {
    return (size_t)(quads_of(k) * panel_columns(k, n) * 4) + 64;
}

/* Interleaves 4 rows of 16 columns into 16 quads (byte unpack, then word unpack). */
static void quad16(__m128i r0, __m128i r1, __m128i r2, __m128i r3, uint8_t *dst) {
    const __m128i t0 = _mm_unpacklo_epi8(r0, r1), t1 = _mm_unpackhi_epi8(r0, r1);
    const __m128i t2 = _mm_unpacklo_epi8(r2, r3), t3 = _mm_unpackhi_epi8(r2, r3);
    _mm_storeu_si128((__m128i *)dst, _mm_unpacklo_epi16(t0, t2));
    _mm_storeu_si128((__m128i *)(dst + 16), _mm_unpackhi_epi16(t0, t2));
    _mm_storeu_si128((__m128i *)(dst + 32), _mm_unpacklo_epi16(t1, t3));
    _mm_storeu_si128((__m128i *)(dst + 48), _mm_unpackhi_epi16(t1, t3));
}

static void pack_panel(const qp_u8s8_gemm_args *a, int64_t n0, int64_t cols, uint8_t *panel) {
    const int64_t k = a->k, k4 = quads_of(k);
    for (int64_t c0 = 0; c0 < cols; c0 += NR) {
        uint8_t *dst = panel + (c0 / NR) * k4 * NR * 4;
        const int64_t width = cols - c0 < NR ? cols - c0 : NR;
        if (a->x_n_stride == 1 && width == NR) {
            for (int64_t qi = 0; qi < k4; qi++) {
                const uint8_t *src = a->x + (4 * qi) * a->x_k_stride + n0 + c0;
                for (int half = 0; half < 2; half++) {
                    __m128i r[4];
                    for (int h = 0; h < 4; h++)
                        r[h] = 4 * qi + h < k ? _mm_loadu_si128((const __m128i *)(src + h * a->x_k_stride + 16 * half))
                                              : _mm_setzero_si128();
                    quad16(r[0], r[1], r[2], r[3], dst + qi * NR * 4 + half * 64);
                }
            }
        } else {
            for (int64_t qi = 0; qi < k4; qi++)
                for (int64_t c = 0; c < NR; c++)
                    for (int h = 0; h < 4; h++) {
                        const int64_t row = 4 * qi + h;
                        dst[(qi * NR + c) * 4 + h] =
                            (c < width && row < k)
                                ? a->x[row * a->x_k_stride + (n0 + c0 + c) * a->x_n_stride]
                                : 0;
                    }
        }
    }
}

/* qp_q31_mul on 16 lanes; same derivation as qp_q8_avx2_q31_mul. */
static inline __m512i q31_mul_512(__m512i x, qp_q31 q) {
    if (q.shift < 0) {
        const __m128i left = _mm_cvtsi32_si128(-q.shift);
        const __m512i y = _mm512_sll_epi32(x, left);
        const __mmask16 kept = _mm512_cmpeq_epi32_mask(_mm512_sra_epi32(y, left), x);
        const __m512i sat = _mm512_xor_si512(_mm512_srai_epi32(x, 31), _mm512_set1_epi32(INT32_MAX));
        x = _mm512_mask_blend_epi32(kept, sat, y);
    }
    const __m512i multiplier = _mm512_set1_epi32(q.multiplier);
    const __m512i rounding = _mm512_set1_epi64((int64_t)1 << 30);
    __m512i even = _mm512_mul_epi32(x, multiplier);
    __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), multiplier);
    even = _mm512_srli_epi64(_mm512_add_epi64(even, rounding), 31);
    odd = _mm512_slli_epi64(_mm512_add_epi64(odd, rounding), 1);
    const __m512i high = _mm512_mask_blend_epi32(0xAAAA, even, odd);
    const int right = q.shift > 0 ? q.shift : 0;
    const int32_t mask = (int32_t)(((int64_t)1 << right) - 1);
    const __m512i remainder = _mm512_and_si512(high, _mm512_set1_epi32(mask));
    const __m512i threshold = _mm512_add_epi32(_mm512_set1_epi32(mask >> 1), _mm512_srli_epi32(high, 31));
    const __m512i shifted = _mm512_sra_epi32(high, _mm_cvtsi32_si128(right));
    const __mmask16 round_up = _mm512_cmpgt_epi32_mask(remainder, threshold);
    return _mm512_mask_add_epi32(shifted, round_up, shifted, _mm512_set1_epi32(1));
}

/* 16 requantized lanes -> 16 bytes: vpmovsdw keeps lane order, then the AVX2 tail. */
static inline __m128i pack16_512(__m512i v, __m256i zp16, __m128i qmin, __m128i qmax) {
    const __m256i w = _mm256_adds_epi16(_mm512_cvtsepi32_epi16(v), zp16);
    const __m128i b = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    return _mm_min_epu8(_mm_max_epu8(b, qmin), qmax);
}

static void vnni_run(const qp_u8s8_gemm_args *a) {
    const int64_t k4 = quads_of(a->k);
    const int64_t nc_max = panel_columns(a->k, a->n);
    uint8_t *panel = (uint8_t *)(((uintptr_t)a->scratch + 63) & ~(uintptr_t)63);
    const uint8_t *packed = a->packed_w;
    const size_t tb = tile_bytes(a->k);
    const __m256i zp16 = _mm256_set1_epi16((int16_t)a->out_zero_point);
    const __m128i qmin = _mm_set1_epi8((char)a->qmin), qmax = _mm_set1_epi8((char)a->qmax);

    for (int64_t n0 = 0; n0 < a->n; n0 += nc_max) {
        const int64_t nc = a->n - n0 < nc_max ? a->n - n0 : nc_max;
        pack_panel(a, n0, nc, panel);
        for (int64_t m0 = a->m_begin; m0 < a->m_end; m0 += MR) {
            const uint8_t *tile = packed + (size_t)(m0 / MR) * tb;
            const uint8_t *wquads = tile + MR * sizeof(int32_t);
            const int rows = a->m_end - m0 < MR ? (int)(a->m_end - m0) : MR;
            for (int64_t c0 = 0; c0 < nc; c0 += NR) {
                const uint8_t *xp = panel + (c0 / NR) * k4 * NR * 4;
                /* Named accumulators: an array indexed in a loop ends up on the stack. */
                int32_t b[MR];
                memcpy(b, tile, sizeof b);
#define QP_ACC_INIT(r) __m512i a##r##0 = _mm512_set1_epi32(b[r]), a##r##1 = a##r##0
                QP_ACC_INIT(0); QP_ACC_INIT(1); QP_ACC_INIT(2); QP_ACC_INIT(3);
                QP_ACC_INIT(4); QP_ACC_INIT(5); QP_ACC_INIT(6); QP_ACC_INIT(7);
#undef QP_ACC_INIT
                const uint8_t *wq = wquads;
                for (int64_t qi = 0; qi < k4; qi++, wq += MR * 4) {
                    const __m512i x0 = _mm512_loadu_si512(xp + qi * NR * 4);
                    const __m512i x1 = _mm512_loadu_si512(xp + qi * NR * 4 + 64);
                    /* broadcast straight from memory: a load-port uop, not a shuffle */
#define QP_ACC_STEP(r)                                                   \
    do {                                                                 \
        const __m512i wb = _mm512_broadcastd_epi32(_mm_loadu_si32(wq + (r) * 4)); \
        a##r##0 = _mm512_dpbusd_epi32(a##r##0, x0, wb);                  \
        a##r##1 = _mm512_dpbusd_epi32(a##r##1, x1, wb);                  \
    } while (0)
                    QP_ACC_STEP(0); QP_ACC_STEP(1); QP_ACC_STEP(2); QP_ACC_STEP(3);
                    QP_ACC_STEP(4); QP_ACC_STEP(5); QP_ACC_STEP(6); QP_ACC_STEP(7);
#undef QP_ACC_STEP
                }
                const __m512i acc[MR][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31},
                                            {a40, a41}, {a50, a51}, {a60, a61}, {a70, a71}};
                const int64_t width = nc - c0 < NR ? nc - c0 : NR;
                for (int r = 0; r < rows; r++) {
                    const qp_q31 q = a->requant[m0 + r];
                    const __m128i lo = pack16_512(q31_mul_512(acc[r][0], q), zp16, qmin, qmax);
                    const __m128i hi = pack16_512(q31_mul_512(acc[r][1], q), zp16, qmin, qmax);
                    uint8_t *dst = a->out + (m0 + r) * a->out_m_stride + (n0 + c0) * a->out_n_stride;
                    if (a->out_n_stride == 1 && width == NR) {
                        _mm_storeu_si128((__m128i *)dst, lo);
                        _mm_storeu_si128((__m128i *)(dst + 16), hi);
                    } else {
                        uint8_t tmp[NR];
                        _mm_storeu_si128((__m128i *)tmp, lo);
                        _mm_storeu_si128((__m128i *)(tmp + 16), hi);
                        for (int64_t c = 0; c < width; c++) dst[c * a->out_n_stride] = tmp[c];
                    }
                }
            }
        }
    }
}

const qp_u8s8_gemm_variant qp_u8s8_gemm_8x32__avx512vnni = {
    .name = "u8s8_gemm_8x32__avx512vnni",
    .mr = MR,
    .nr = NR,
    .pack_size = vnni_pack_size,
    .pack = vnni_pack,
    .scratch_size = vnni_scratch_size,
    .run = vnni_run,
};

#if defined(__clang__)
#pragma clang attribute pop
#endif
