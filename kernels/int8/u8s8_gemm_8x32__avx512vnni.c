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
#include "kernels/int8/q8_avx512.h"

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

/* Interleaves 4 rows of a 32-column block into 32 quads (byte unpack, then word unpack): 256-bit
 * unpacks work per 128-bit lane, so lane 0 yields columns 0-15's 64 bytes and lane 1 columns
 * 16-31's, stored one after the other. */
static void quad32(__m256i r0, __m256i r1, __m256i r2, __m256i r3, uint8_t *dst) {
    const __m256i t0 = _mm256_unpacklo_epi8(r0, r1), t1 = _mm256_unpackhi_epi8(r0, r1);
    const __m256i t2 = _mm256_unpacklo_epi8(r2, r3), t3 = _mm256_unpackhi_epi8(r2, r3);
    const __m256i u0 = _mm256_unpacklo_epi16(t0, t2), u1 = _mm256_unpackhi_epi16(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi16(t1, t3), u3 = _mm256_unpackhi_epi16(t1, t3);
    _mm256_storeu_si256((__m256i *)dst, _mm256_permute2x128_si256(u0, u1, 0x20));
    _mm256_storeu_si256((__m256i *)(dst + 32), _mm256_permute2x128_si256(u2, u3, 0x20));
    _mm256_storeu_si256((__m256i *)(dst + 64), _mm256_permute2x128_si256(u0, u1, 0x31));
    _mm256_storeu_si256((__m256i *)(dst + 96), _mm256_permute2x128_si256(u2, u3, 0x31));
}

static void pack_panel(const qp_u8s8_gemm_args *a, int64_t n0, int64_t cols, uint8_t *panel) {
    const int64_t k = a->k, k4 = quads_of(k);
    for (int64_t c0 = 0; c0 < cols; c0 += NR) {
        uint8_t *dst = panel + (c0 / NR) * k4 * NR * 4;
        const int64_t width = cols - c0 < NR ? cols - c0 : NR;
        if (a->x_n_stride == 1) {
            /* a last block narrower than NR (49 = 32 + 17 columns on 7x7 planes) loads masked:
             * the columns past `width` pack as 0. (Byte by byte, the 17-column tail of a 7x7
             * plane with k = 960 took 16 us, longer than the block's multiply.) One 32-byte load
             * per row of X and one quad32 (not two 16-byte loads per half-block): packing was
             * ~4% of MobileNetV2's int8 time (its 1x1 projections have M = 16-32 rows, so each
             * packed column block serves only 2-4 row blocks). */
            const __mmask32 keep = width >= NR ? ~(__mmask32)0 : (__mmask32)((1u << width) - 1);
            const uint8_t *src = a->x + n0 + c0;
            const int64_t ks = a->x_k_stride;
            int64_t qi = 0;
            for (; 4 * qi + 4 <= k; qi++, src += 4 * ks)
                quad32(_mm256_maskz_loadu_epi8(keep, src), _mm256_maskz_loadu_epi8(keep, src + ks),
                       _mm256_maskz_loadu_epi8(keep, src + 2 * ks), _mm256_maskz_loadu_epi8(keep, src + 3 * ks),
                       dst + qi * NR * 4);
            if (qi < k4) { /* k not a multiple of 4: the missing rows pack as 0 */
                __m256i r[4];
                for (int h = 0; h < 4; h++)
                    r[h] = 4 * qi + h < k ? _mm256_maskz_loadu_epi8(keep, src + h * ks) : _mm256_setzero_si256();
                quad32(r[0], r[1], r[2], r[3], dst + qi * NR * 4);
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

/* The panel of an implicit im2col (q8_kernels.h): per block of 32 output pixels, which lanes
 * each kernel row kh and column kw may read (inside the image), then per row k of X one masked
 * 32-byte load at the row's constant offset; masked-off lanes read the zero point. */
static void pack_panel_implicit(const qp_u8s8_gemm_args *a, int64_t n0, int64_t cols, uint8_t *panel) {
    const qp_u8s8_gemm_implicit *im = a->implicit;
    const int64_t k = a->k, k4 = quads_of(k), W = im->w, H = im->h, KH = im->kernel_h, KW = im->kernel_w;
    const int64_t plane = H * W;
    const __m256i zp = _mm256_set1_epi8((char)im->zero_point);
    for (int64_t c0 = 0; c0 < cols; c0 += NR) {
        uint8_t *dst = panel + (c0 / NR) * k4 * NR * 4;
        const int64_t width = cols - c0 < NR ? cols - c0 : NR;
        const int64_t p = im->n0 + n0 + c0; /* output pixel of lane 0 */
        const uint32_t lanes = width >= 32 ? 0xFFFFFFFFu : ((1u << width) - 1);
        uint32_t row_ok[16], col_ok[16];
        for (int64_t kh = 0; kh < KH; kh++) { /* pixels whose row oh + kh - pad_top is inside */
            const int64_t lo = (im->pad_top - kh) * W - p, hi = (H + im->pad_top - kh) * W - p;
            const uint32_t from_lo = lo <= 0 ? 0xFFFFFFFFu : lo >= 32 ? 0 : ~((1u << lo) - 1);
            const uint32_t below_hi = hi >= 32 ? 0xFFFFFFFFu : hi <= 0 ? 0 : ((1u << hi) - 1);
            row_ok[kh] = from_lo & below_hi & lanes;
        }
        for (int64_t kw = 0; kw < KW; kw++) col_ok[kw] = 0;
        int64_t ow = p % W;
        for (int j = 0; j < 32; j++) {
            for (int64_t kw = 0; kw < KW; kw++) {
                const int64_t iw = ow + kw - im->pad_left;
                if (iw >= 0 && iw < W) col_ok[kw] |= 1u << j;
            }
            if (++ow == W) ow = 0;
        }
        int64_t c = 0, kh = 0, kw = 0; /* row k of X */
        for (int64_t qi = 0; qi < k4; qi++) {
            __m256i r[4];
            for (int h = 0; h < 4; h++) {
                __m256i v = _mm256_setzero_si256();
                if (4 * qi + h < k) {
                    const uint8_t *src = im->input + c * plane + p + (kh - im->pad_top) * W + (kw - im->pad_left);
                    v = _mm256_mask_loadu_epi8(zp, (__mmask32)(row_ok[kh] & col_ok[kw]), src);
                    if (++kw == KW) {
                        kw = 0;
                        if (++kh == KH) {
                            kh = 0;
                            c++;
                        }
                    }
                }
                r[h] = v;
            }
            quad32(r[0], r[1], r[2], r[3], dst + qi * NR * 4);
        }
    }
}

/* ---- narrow X (n <= GEMV_MAX_N: batch-1/8 Gemm, 1x1 convs on tiny planes) ------------------
 * The 8x32 tile would waste most of its 32 columns, and the product is bound by streaming the
 * packed weights. Here each packed quad block (8 rows x 4 bytes = 32 bytes) is one ymm operand
 * of vpdpbusd against a broadcast quad of one X column: 4 tiles x up to 4 columns of
 * independent accumulators, so the chains overlap and every weight byte is read once per 4
 * columns. Rows of a tile have their own scales, loaded as one vector per tile. */
enum { GEMV_MAX_N = 8, GEMV_COLS = 4, GEMV_TILES = 4 };

/* xq[c * k4 + q] = the quad x[4q..4q+3][c0 + c] (zero past k). */
static void pack_x_quads(const qp_u8s8_gemm_args *a, int64_t c0, int nc, uint32_t *xq) {
    const int64_t k = a->k, k4 = quads_of(k);
    for (int c = 0; c < nc; c++) {
        const uint8_t *col = a->x + (c0 + c) * a->x_n_stride;
        for (int64_t q = 0; q < k4; q++) {
            uint32_t v = 0;
            if (a->x_k_stride == 1 && 4 * q + 4 <= k) {
                memcpy(&v, col + 4 * q, 4);
            } else {
                for (int t = 0; t < 4; t++)
                    if (4 * q + t < k) v |= (uint32_t)col[(4 * q + t) * a->x_k_stride] << (8 * t);
            }
            xq[c * k4 + q] = v;
        }
    }
}

/* qp_requantize for 8 lanes, each with its own scale (rows of the tile). */
static inline __m128i requant8_per_row(__m256i acc, const float scale[8], int32_t zp, __m256 lo, __m256 hi) {
    const __m256i v = qp_q8_avx2_requant(acc, _mm256_loadu_ps(scale), lo, hi);
    /* v + zp lies in [qmin, qmax] within 0..255: the unsigned narrowing never saturates */
    return _mm256_cvtusepi32_epi8(_mm256_add_epi32(v, _mm256_set1_epi32(zp)));
}

/* xq[c * cs + q * qs]: quad q of column c (cs = k4, qs = 1 for pack_x_quads; cs = 1, qs = NR
 * inside a panel block). c0: the output column of column 0. */
__attribute__((always_inline)) static inline void gemv_tiles(const qp_u8s8_gemm_args *a, const uint32_t *xq,
                                                             int64_t cs, int64_t qs, int64_t c0, int64_t m0,
                                                             int NT, int NC) {
    const int64_t k4 = quads_of(a->k);
    const size_t tb = tile_bytes(a->k);
    const uint8_t *tile0 = (const uint8_t *)a->packed_w + (size_t)(m0 / MR) * tb;
    /* named accumulators acc<tile><column> */
#define QP_DECL(T)                                                                              \
    __m256i acc##T##0 = _mm256_setzero_si256(), acc##T##1 = acc##T##0, acc##T##2 = acc##T##0, \
            acc##T##3 = acc##T##0;                                                              \
    if (NT > T) {                                                                               \
        acc##T##0 = _mm256_loadu_si256((const __m256i *)(tile0 + T * tb));                      \
        acc##T##1 = acc##T##2 = acc##T##3 = acc##T##0;                                          \
    }
    QP_DECL(0) QP_DECL(1) QP_DECL(2) QP_DECL(3)
#undef QP_DECL
    const uint8_t *wq = tile0 + MR * sizeof(int32_t);
    for (int64_t q = 0; q < k4; q++, wq += MR * 4) {
        const uint32_t *xc = xq + q * qs;
        const __m256i x0 = _mm256_set1_epi32((int32_t)xc[0]);
        const __m256i x1 = NC > 1 ? _mm256_set1_epi32((int32_t)xc[cs]) : x0;
        const __m256i x2 = NC > 2 ? _mm256_set1_epi32((int32_t)xc[2 * cs]) : x0;
        const __m256i x3 = NC > 3 ? _mm256_set1_epi32((int32_t)xc[3 * cs]) : x0;
#define QP_TILE(T)                                                                   \
    if (NT > T) {                                                                    \
        const __m256i w = _mm256_loadu_si256((const __m256i *)(wq + T * tb));        \
        acc##T##0 = _mm256_dpbusd_epi32(acc##T##0, x0, w);                            \
        if (NC > 1) acc##T##1 = _mm256_dpbusd_epi32(acc##T##1, x1, w);                \
        if (NC > 2) acc##T##2 = _mm256_dpbusd_epi32(acc##T##2, x2, w);                \
        if (NC > 3) acc##T##3 = _mm256_dpbusd_epi32(acc##T##3, x3, w);                \
    }
        QP_TILE(0) QP_TILE(1) QP_TILE(2) QP_TILE(3)
#undef QP_TILE
    }
    const __m256 lo = _mm256_set1_ps((float)(a->qmin - a->out_zero_point));
    const __m256 hi = _mm256_set1_ps((float)(a->qmax - a->out_zero_point));
    const __m256i accs[GEMV_TILES][GEMV_COLS] = {{acc00, acc01, acc02, acc03}, {acc10, acc11, acc12, acc13},
                                                 {acc20, acc21, acc22, acc23}, {acc30, acc31, acc32, acc33}};
    for (int t = 0; t < NT; t++) {
        const int64_t r0 = m0 + t * MR;
        const int rows = a->m_end - r0 < MR ? (int)(a->m_end - r0) : MR;
        float scale[MR] = {0};
        memcpy(scale, a->scale + r0, (size_t)rows * sizeof(float));
        for (int c = 0; c < NC; c++) {
            const __m128i bytes = requant8_per_row(accs[t][c], scale, a->out_zero_point, lo, hi);
            uint8_t *dst = a->out + r0 * a->out_m_stride + (c0 + c) * a->out_n_stride;
            if (a->out_m_stride == 1) {
                _mm_mask_storeu_epi8(dst, (__mmask16)((1u << rows) - 1), bytes);
            } else {
                uint8_t tmp[16];
                _mm_storeu_si128((__m128i *)tmp, bytes);
                for (int r = 0; r < rows; r++) dst[r * a->out_m_stride] = tmp[r];
            }
        }
    }
}

__attribute__((always_inline)) static inline void gemv_columns(const qp_u8s8_gemm_args *a, const uint32_t *xq,
                                                               int64_t cs, int64_t qs, int64_t c0, int NC) {
    int64_t m0 = a->m_begin;
    for (; m0 + GEMV_TILES * MR <= a->m_end; m0 += GEMV_TILES * MR) gemv_tiles(a, xq, cs, qs, c0, m0, GEMV_TILES, NC);
    for (; m0 < a->m_end; m0 += MR) gemv_tiles(a, xq, cs, qs, c0, m0, 1, NC);
}

static void vnni_gemv(const qp_u8s8_gemm_args *a) {
    uint32_t *xq = (uint32_t *)(((uintptr_t)a->scratch + 63) & ~(uintptr_t)63);
    for (int64_t c0 = 0; c0 < a->n; c0 += GEMV_COLS) {
        const int nc = a->n - c0 < GEMV_COLS ? (int)(a->n - c0) : GEMV_COLS;
        const int64_t k4 = quads_of(a->k);
        pack_x_quads(a, c0, nc, xq);
        switch (nc) {
        case 1: gemv_columns(a, xq, k4, 1, c0, 1); break;
        case 2: gemv_columns(a, xq, k4, 1, c0, 2); break;
        case 3: gemv_columns(a, xq, k4, 1, c0, 3); break;
        default: gemv_columns(a, xq, k4, 1, c0, 4); break;
        }
    }
}

/* Stores 64 requantized bytes as `count` rows of `len` bytes (len 16 or 32; row r's bytes at
 * r * len), keeping `width` columns. */
static inline void store_rows(const qp_u8s8_gemm_args *a, __m512i bytes, int64_t m, int count, int len,
                              int64_t col, int64_t width) {
    uint8_t tmp[64];
    _mm512_storeu_si512(tmp, bytes);
    for (int r = 0; r < count; r++) {
        uint8_t *dst = a->out + (m + r) * a->out_m_stride + col * a->out_n_stride;
        if (a->out_n_stride == 1) {
            const __mmask64 keep = width >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << width) - 1);
            _mm512_mask_storeu_epi8(dst, keep, _mm512_maskz_loadu_epi8((__mmask64)-1 >> (64 - len), tmp + r * len));
        } else {
            for (int64_t c = 0; c < width; c++) dst[c * a->out_n_stride] = tmp[r * len + c];
        }
    }
}

/* One MR x NR block (MR x NR/2 when HALF: the last block of a narrow panel would otherwise
 * multiply 16 columns of padding). Named accumulators: an array indexed in a loop ends up on
 * the stack. The epilogue requantizes two rows at a time into one 64-byte pack. */
__attribute__((always_inline)) static inline void tile_block(const qp_u8s8_gemm_args *a, const uint8_t *tile,
                                                             const uint8_t *xp, int64_t k4, int64_t m0, int rows,
                                                             const __m512 *scales, int64_t col, int64_t width,
                                                             int HALF, int noclamp) {
    int32_t b[MR];
    memcpy(b, tile, sizeof b);
#define QP_ACC_INIT(r) __m512i a##r##0 = _mm512_set1_epi32(b[r]), a##r##1 = a##r##0
    QP_ACC_INIT(0); QP_ACC_INIT(1); QP_ACC_INIT(2); QP_ACC_INIT(3);
    QP_ACC_INIT(4); QP_ACC_INIT(5); QP_ACC_INIT(6); QP_ACC_INIT(7);
#undef QP_ACC_INIT
    const uint8_t *wq = tile + MR * sizeof(int32_t);
    for (int64_t qi = 0; qi < k4; qi++, wq += MR * 4) {
        const __m512i x0 = _mm512_loadu_si512(xp + qi * NR * 4);
        const __m512i x1 = HALF ? x0 : _mm512_loadu_si512(xp + qi * NR * 4 + 64);
        /* broadcast straight from memory: a load-port uop, not a shuffle */
#define QP_ACC_STEP(r)                                                                  \
    do {                                                                                \
        const __m512i wb = _mm512_broadcastd_epi32(_mm_loadu_si32(wq + (r) * 4));      \
        a##r##0 = _mm512_dpbusd_epi32(a##r##0, x0, wb);                                 \
        if (!HALF) a##r##1 = _mm512_dpbusd_epi32(a##r##1, x1, wb);                      \
    } while (0)
        QP_ACC_STEP(0); QP_ACC_STEP(1); QP_ACC_STEP(2); QP_ACC_STEP(3);
        QP_ACC_STEP(4); QP_ACC_STEP(5); QP_ACC_STEP(6); QP_ACC_STEP(7);
#undef QP_ACC_STEP
    }
    const __m512i zp16 = _mm512_set1_epi16((int16_t)a->out_zero_point);
    const __m512i qmin = _mm512_set1_epi8((char)a->qmin), qmax = _mm512_set1_epi8((char)a->qmax);
    const __m512 lo = _mm512_set1_ps((float)(a->qmin - a->out_zero_point));
    const __m512 hi = _mm512_set1_ps((float)(a->qmax - a->out_zero_point));
    const __m512i acc[MR][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31},
                                {a40, a41}, {a50, a51}, {a60, a61}, {a70, a71}};
#define QP_RQ(x, sc) (noclamp ? qp_q8_avx512_requant_noclamp(x, sc) : qp_q8_avx512_requant(x, sc, lo, hi))
    if (HALF) { /* four rows of 16 per pack */
        for (int r = 0; r < rows; r += 4) {
            __m512i v[4];
            for (int i = 0; i < 4; i++) v[i] = QP_RQ(acc[r + i][0], scales[r + i]);
            store_rows(a, qp_q8_avx512_pack64(v[0], v[1], v[2], v[3], zp16, qmin, qmax), m0 + r,
                       rows - r < 4 ? rows - r : 4, 16, col, width);
        }
        return;
    }
    for (int r = 0; r < rows; r += 2) {
        const __m512 s0 = scales[r], s1 = scales[r + 1];
        const __m512i bytes = qp_q8_avx512_pack64(QP_RQ(acc[r][0], s0), QP_RQ(acc[r][1], s0), QP_RQ(acc[r + 1][0], s1),
                                                  QP_RQ(acc[r + 1][1], s1), zp16, qmin, qmax);
        if (a->out_n_stride == 1 && width == NR) {
            _mm256_storeu_si256((__m256i *)(a->out + (m0 + r) * a->out_m_stride + col), _mm512_castsi512_si256(bytes));
            if (r + 1 < rows)
                _mm256_storeu_si256((__m256i *)(a->out + (m0 + r + 1) * a->out_m_stride + col),
                                    _mm512_extracti64x4_epi64(bytes, 1));
        } else {
            store_rows(a, bytes, m0 + r, rows - r < 2 ? rows - r : 2, 32, col, width);
        }
    }
#undef QP_RQ
}

/* Columns of a panel block (at most a few: each group of 4 GEMV columns streams all of W again)
 * by GEMV-style ymm products over the packed panel's quads, where a tile would multiply mostly
 * padding: a last block of <= 8 columns (N = 196: 4), or the 1..4 columns past 16 (N = 49: 17). */
static void panel_tail(const qp_u8s8_gemm_args *a, const uint8_t *block, int64_t col, int64_t width) {
    const uint32_t *xq = (const uint32_t *)block;
    for (int64_t c = 0; c < width; c += GEMV_COLS) {
        switch (width - c < GEMV_COLS ? width - c : GEMV_COLS) {
        case 1: gemv_columns(a, xq + c, 1, NR, col + c, 1); break;
        case 2: gemv_columns(a, xq + c, 1, NR, col + c, 2); break;
        case 3: gemv_columns(a, xq + c, 1, NR, col + c, 3); break;
        default: gemv_columns(a, xq + c, 1, NR, col + c, 4); break;
        }
    }
}

static size_t vnni_packed_x_size(int64_t k, int64_t n) {
    return (size_t)(quads_of(k) * ((n + NR - 1) / NR) * NR * 4) + 64;
}

static void vnni_pack_x(const qp_u8s8_gemm_args *a, void *packed_x) {
    uint8_t *panel = (uint8_t *)(((uintptr_t)packed_x + 63) & ~(uintptr_t)63);
    if (a->implicit) pack_panel_implicit(a, 0, a->n, panel);
    else pack_panel(a, 0, a->n, panel);
}

static void vnni_run(const qp_u8s8_gemm_args *a) {
    if (a->n <= GEMV_MAX_N && !a->implicit && !a->x_packed) {
        vnni_gemv(a);
        return;
    }
    const int64_t k4 = quads_of(a->k);
    const int64_t nc_max = a->x_packed ? a->n : panel_columns(a->k, a->n);
    uint8_t *panel = a->x_packed ? (uint8_t *)(((uintptr_t)a->x_packed + 63) & ~(uintptr_t)63)
                                 : (uint8_t *)(((uintptr_t)a->scratch + 63) & ~(uintptr_t)63);
    const uint8_t *packed = a->packed_w;
    const size_t tb = tile_bytes(a->k);
    for (int64_t n0 = 0; n0 < a->n; n0 += nc_max) {
        const int64_t nc = a->n - n0 < nc_max ? a->n - n0 : nc_max;
        if (a->x_packed) { /* one panel of all n columns, packed by vnni_pack_x */
        } else if (a->implicit) {
            pack_panel_implicit(a, n0, nc, panel);
        } else {
            pack_panel(a, n0, nc, panel);
        }
        /* the panel's last block: <= 8 columns all GEMV; 17..20 columns (N = 49) a 16-column
         * tile plus GEMV for the rest, instead of a 32-column tile that is half padding */
        const int64_t last = (nc - 1) / NR * NR, last_width = nc - last;
        const int gemv_tail = last_width <= GEMV_MAX_N;
        const int half_tail = last_width > NR / 2 && last_width <= NR / 2 + GEMV_COLS;
        const int64_t tile_cols = gemv_tail || half_tail ? last : nc;
        const uint8_t *last_block = panel + (last / NR) * k4 * NR * 4;
        for (int64_t m0 = a->m_begin; m0 < a->m_end && (tile_cols > 0 || half_tail); m0 += MR) {
            const uint8_t *tile = packed + (size_t)(m0 / MR) * tb;
            const int rows = a->m_end - m0 < MR ? (int)(a->m_end - m0) : MR;
            /* the rows' scales, broadcast once per tile for all its column blocks (rows past the
             * end get 0; their results are never stored) */
            __m512 scales[MR];
            int noclamp = 1;
            for (int r = 0; r < MR; r++) {
                const float sc = r < rows ? a->scale[m0 + r] : 0.0f;
                scales[r] = _mm512_set1_ps(sc);
                noclamp &= sc >= 0.0f && sc <= QP_Q8_NOCLAMP_MAX_SCALE;
            }
            for (int64_t c0 = 0; c0 < tile_cols; c0 += NR) {
                const uint8_t *xp = panel + (c0 / NR) * k4 * NR * 4;
                const int64_t width = tile_cols - c0 < NR ? tile_cols - c0 : NR;
                if (width > NR / 2)
                    tile_block(a, tile, xp, k4, m0, rows, scales, n0 + c0, width, 0, noclamp);
                else
                    tile_block(a, tile, xp, k4, m0, rows, scales, n0 + c0, width, 1, noclamp);
            }
            if (half_tail) tile_block(a, tile, last_block, k4, m0, rows, scales, n0 + last, NR / 2, 1, noclamp);
        }
        if (gemv_tail) panel_tail(a, last_block, n0 + last, last_width);
        if (half_tail) panel_tail(a, last_block + (NR / 2) * 4, n0 + last + NR / 2, last_width - NR / 2);
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
    .implicit = 1,
    .packed_x_size = vnni_packed_x_size,
    .pack_x = vnni_pack_x,
};

#if defined(__clang__)
#pragma clang attribute pop
#endif
