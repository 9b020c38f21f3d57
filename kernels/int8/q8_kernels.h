/* q8_kernels.h — the int8 engine's compute kernels: u8 activations x s8 weights -> s32 -> requantized u8. */
#ifndef QPIPE_Q8_KERNELS_H
#define QPIPE_Q8_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/int8/requant.h"
#include "qpipe/qp_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Numeric contract shared by all kernels (docs/kernels.md has the long form):
 * - every activation is uint8 with a zero point (a symmetric int8 tensor q is stored as q + 128
 *   with zero point 128); weights are int8, symmetric (zero point 0);
 * - accumulation is int32 and wraps modulo 2^32 identically in every variant (a well-formed
 *   model never gets there: K * 255 * 128 + |bias| < 2^31 holds for K <= 65793);
 * - accumulating kernels (GEMM, depthwise, pools) end with requant.h's qp_requantize: ONNX
 *   Runtime's float output stage, (float)acc * scale, clamp, round half to even, + zp_out;
 *   activation functions that are clamps (Relu, Relu6, Clip) are fused by narrowing [qmin, qmax];
 * - any partition of the outputs across calls (rows, columns, channels, elements) gives the
 *   same bytes: docs/kernels.md, "Splitting work across threads";
 * - kernels never allocate: scratch comes from the caller, sized by the *_scratch_size() twin;
 * - every SIMD variant is bit-exact with the __ref variant of the same signature. */

/* A 2-D window over one image: NCHW planes of in_h x in_w, outputs out_h x out_w. 1-D ops use
 * in_h = out_h = kernel_h = 1. Pads are >= 0; out_h/out_w are authoritative (ONNX's output size
 * formula is the engine's business; taps that fall outside the input are padding whatever the
 * pads say), so pad_bottom/pad_right only matter for average pooling that counts padding. */
typedef struct qp_q8_window {
    int64_t in_h, in_w;
    int64_t out_h, out_w;
    int64_t kernel_h, kernel_w;
    int64_t stride_h, stride_w;
    int64_t dilation_h, dilation_w;
    int64_t pad_top, pad_left, pad_bottom, pad_right;
} qp_q8_window;

/* QP_OK when sizes, kernel, strides and dilations are in 1..2^30 and pads in 0..2^30 (so index
 * arithmetic cannot overflow); otherwise QP_ERR_INVALID_ARG naming the field. Kernels assume a
 * checked window; any checked window is memory-safe. */
qp_status qp_q8_window_check(const qp_q8_window *win);

/* ------------------------------------------------------------------------------------------- */
/* u8 x s8 GEMM: out[m][n] = requant_m( bias[m] + sum_k W[m][k] * X[k][n] )                      */
/* ------------------------------------------------------------------------------------------- */

/* Conv (NCHW, one image, one group): W = weights [Cout/g][Cin/g*KH*KW], X = im2col columns
 *   [K][OH*OW] (or the input itself for 1x1/stride 1/no pad), out = output planes [Cout/g][OH*OW]:
 *   x_k_stride = OH*OW, x_n_stride = 1, out_m_stride = OH*OW, out_n_stride = 1.
 * Gemm/MatMul (A[batch][K] x W^T, out[batch][M]): X[k][n] = A[n][k] is read in place with
 *   x_k_stride = 1, x_n_stride = K, and out[n][m] is written with out_m_stride = 1,
 *   out_n_stride = M — no transpose anywhere (the variants pack X per column block anyway). */
/* X read straight from the input planes of a convolution instead of from im2col columns
 * ("implicit im2col"), for stride 1, dilation 1 and output rows as wide as the input rows
 * (out_w == in_w: "same" padding along w, e.g. 3x3 pad 1). Then column n of the GEMM is output
 * pixel p = n0 + n (oh = p / w, ow = p % w) and row k = (c * kernel_h + kh) * kernel_w + kw
 * reads input[c][oh + kh - pad_top][ow + kw - pad_left], or zero_point outside the input: the
 * same X as im2col, so the same bytes out. Because out_w == w, every tap of row k sits at the
 * constant offset (kh - pad_top) * w + (kw - pad_left) from p: one masked load per row and
 * block of columns. Only variants with `implicit` set accept it. */
typedef struct qp_u8s8_gemm_implicit {
    const uint8_t *input;        /* [k / (kernel_h * kernel_w)][h][w] */
    int64_t h, w, kernel_h, kernel_w, pad_top, pad_left;
    int64_t n0;                  /* output pixel of column 0 */
    uint8_t zero_point;
} qp_u8s8_gemm_implicit;

typedef struct qp_u8s8_gemm_args {
    int64_t m, n, k;             /* rows of W (output channels), columns of X, reduction length */
    int64_t m_begin, m_end;      /* rows to compute; m_begin a multiple of the variant's mr */
    const void *packed_w;        /* from the SAME variant's pack(): bias + weights for all m rows */
    const uint8_t *x;            /* X[k][n] at x[k * x_k_stride + n * x_n_stride] */
    int64_t x_k_stride, x_n_stride;
    uint8_t *out;                /* out[m][n] at out[m * out_m_stride + n * out_n_stride] */
    int64_t out_m_stride, out_n_stride;
    const float *scale;          /* m requantization scales (qp_requant_scale; per output channel,
                                  * repeat one for per-tensor) */
    int32_t out_zero_point;      /* 0..255 */
    uint8_t qmin, qmax;
    void *scratch;               /* scratch_size(k, n) bytes, any alignment; one per thread */
    const qp_u8s8_gemm_implicit *implicit; /* non-NULL: X comes from here, x and its strides are
                                            * unused (variants with `implicit` only) */
    const void *x_packed;        /* non-NULL: all n columns of X, packed by this variant's pack_x
                                  * (threads splitting the rows share one packing) */
} qp_u8s8_gemm_args;

/* One GEMM implementation: its tile, its packed-weight layout and its run function. Weights are
 * packed once at plan time by the variant that will run them; packed buffers are not
 * interchangeable between variants. Split work across threads by columns (offset x and out by
 * n0 * stride, shrink n) or by rows (m_begin/m_end at multiples of mr), one scratch per thread. */
typedef struct qp_u8s8_gemm_variant {
    const char *name;     /* "u8s8_gemm_4x16__avx2" */
    int mr, nr;           /* register tile: rows of W x columns of X */
    /* Bytes of the packed buffer for an m x k weight matrix. */
    size_t (*pack_size)(int64_t m, int64_t k);
    /* Packs w (row r at w + r * w_row_stride) and bias (m entries, NULL = zeros; already folded
     * with qp_u8s8_gemm_fold_bias) into packed (pack_size bytes, any alignment). */
    void (*pack)(int64_t m, int64_t k, const int8_t *w, int64_t w_row_stride, const int32_t *bias,
                 void *packed);
    size_t (*scratch_size)(int64_t k, int64_t n);
    void (*run)(const qp_u8s8_gemm_args *args);
    int implicit;         /* run() accepts args->implicit (kernel_h, kernel_w <= 16) */
    /* Optional (NULL: not supported): X packed once for every row range of the same args (x or
     * implicit, n columns), into packed_x_size(k, n) bytes, for args.x_packed. */
    size_t (*packed_x_size)(int64_t k, int64_t n);
    void (*pack_x)(const qp_u8s8_gemm_args *args, void *packed_x);
} qp_u8s8_gemm_variant;

/* bias_out[r] = bias[r] - input_zero_point * sum_k w[r][k] (bias NULL = zeros): with it the GEMM
 * reads raw u8 X yet computes sum_k w * (x - za). Computed in int64; QP_ERR_INVALID_ARG naming the
 * row when a result leaves int32. bias_out may alias bias. */
qp_status qp_u8s8_gemm_fold_bias(int64_t m, int64_t k, const int8_t *w, int64_t w_row_stride,
                                 const int32_t *bias, int32_t input_zero_point, int32_t *bias_out);

extern const qp_u8s8_gemm_variant qp_u8s8_gemm__ref;
extern const qp_u8s8_gemm_variant qp_u8s8_gemm_4x16__avx2;
extern const qp_u8s8_gemm_variant qp_u8s8_gemm_8x32__avx512vnni;

/* ------------------------------------------------------------------------------------------- */
/* im2col for u8: padding taps take the input zero point (real 0), never the byte 0             */
/* ------------------------------------------------------------------------------------------- */

/* Bytes of the column matrix for `channels` planes: channels * KH * KW * OH * OW. */
size_t qp_u8_im2col_size(const qp_q8_window *win, int64_t channels);

/* input [channels][in_h][in_w] -> col [channels * KH * KW][OH * OW] (row c*KH*KW + kh*KW + kw). */
typedef void (*qp_u8_im2col_fn)(const qp_q8_window *win, int64_t channels, const uint8_t *input,
                                uint8_t pad_value, uint8_t *col);
void qp_u8_im2col__ref(const qp_q8_window *win, int64_t channels, const uint8_t *input,
                       uint8_t pad_value, uint8_t *col);
/* AVX-512 BW + VBMI: masked loads (padding = the pad value), vpermt2b for strides 2-8. */
void qp_u8_im2col__avx512(const qp_q8_window *win, int64_t channels, const uint8_t *input,
                          uint8_t pad_value, uint8_t *col);

/* ------------------------------------------------------------------------------------------- */
/* depthwise convolution, NCHW, one image: every channel has its own KH x KW s8 kernel         */
/* ------------------------------------------------------------------------------------------- */

typedef struct qp_u8_dwconv_args {
    qp_q8_window win;
    int64_t channels;             /* planes: input [channels][in_h][in_w] */
    const uint8_t *input;
    const int8_t *weights;        /* [channels][KH][KW] */
    const int32_t *bias;          /* [channels], folded: qp_u8s8_gemm_fold_bias(channels, KH*KW,...) */
    int32_t input_zero_point;     /* what padded taps read, so the folded bias cancels them */
    const float *scale;           /* [channels] requantization scales (qp_requant_scale) */
    int32_t out_zero_point;
    uint8_t qmin, qmax;
    uint8_t *output;              /* [channels][out_h][out_w] */
    void *scratch;                /* qp_u8_dwconv_scratch_size(&win) bytes */
    /* Output rows [row_begin, row_end) of every channel, for splitting one image's planes
     * across threads; both 0 (the default of a designated initializer) = all rows. Other rows
     * of output are not written. */
    int64_t row_begin, row_end;
} qp_u8_dwconv_args;

size_t qp_u8_dwconv_scratch_size(const qp_q8_window *win);
typedef void (*qp_u8_dwconv_fn)(const qp_u8_dwconv_args *args);
void qp_u8_dwconv__ref(const qp_u8_dwconv_args *args);
/* AVX2, 16 outputs a step for stride_w 1 or 2 with dilation_w 1 and any kernel size (borders
 * included: each plane is copied into zero-point padding in scratch); other strides and
 * horizontal dilations run the reference code. */
void qp_u8_dwconv__avx2(const qp_u8_dwconv_args *args);
/* AVX-512 VNNI + VBMI: quads of taps (vpermb) into vpdpbusd. 3x3 stride 1/2: column strips of
 * up to 32 outputs down the plane, two rows a group, the shape fixed at compile time (two
 * channels per vector on planes at most 8 wide); other windows: four output rows x 32 columns
 * per step, or flat 16-output vectors on planes under 16 wide. Any stride_w/dilation_w with
 * 15 stride_w + 3 dilation_w < 64 (else the AVX2 variant). */
void qp_u8_dwconv__avx512vnni(const qp_u8_dwconv_args *args);

/* ------------------------------------------------------------------------------------------- */
/* direct convolution for few input channels and narrow kernels (the stem of a CNN: 3 -> 32,    */
/* 3x3 stride 2), NCHW, one image, one group, no im2col                                        */
/* ------------------------------------------------------------------------------------------- */

/* The C_in*KH*KW taps of a kernel, in weight order (k = (ic*KH + kh)*KW + kw), dealt into quads
 * of 4 that touch at most 2 input rows (ic, kh): one vpdpbusd per quad, output channel and 16
 * outputs. A quad's row[] are its rows r = ic*KH + kh (row[1] == row[0]: one row), k[] its taps
 * (-1: an empty slot, weight 0). */
enum { QP_U8_SMALLC_MAX_QUADS = 12 };
typedef struct qp_u8_smallc_quad {
    int32_t row[2];
    int32_t k[4];
} qp_u8_smallc_quad;

/* The quads of a window with c_in input channels into quads[QP_U8_SMALLC_MAX_QUADS] (NULL: only
 * count); returns their count, or 0 when there are more than QP_U8_SMALLC_MAX_QUADS. */
int qp_u8_smallc_layout(const qp_q8_window *win, int64_t c_in, qp_u8_smallc_quad *quads);

/* Whether the SIMD variants compute this window themselves (else they run the reference):
 * kernel_w <= 4, 15 * stride_w + (kernel_w - 1) * dilation_w < 64 (every tap of 16 outputs in
 * one 64-byte load of the row) and at most QP_U8_SMALLC_MAX_QUADS quads (at most 48 taps: up to
 * 5 input channels of a 3x3 kernel, 3 of a 4x4, 24 rows of a kx1 one). */
int qp_u8_conv_smallc_supported(const qp_q8_window *win, int64_t c_in);

typedef struct qp_u8_conv_smallc_args {
    qp_q8_window win;
    int64_t c_in, c_out;
    const uint8_t *input;         /* [c_in][in_h][in_w] */
    const int8_t *weights;        /* [c_out][c_in][KH][KW] */
    const int32_t *bias;          /* [c_out], folded: qp_u8s8_gemm_fold_bias(c_out, c_in*KH*KW, ...) */
    int32_t input_zero_point;     /* what padded taps read, so the folded bias cancels them */
    const float *scale;           /* [c_out] requantization scales (qp_requant_scale) */
    int32_t out_zero_point;
    uint8_t qmin, qmax;
    uint8_t *output;              /* [c_out][out_h][out_w] */
    void *scratch;                /* qp_u8_conv_smallc_scratch_size() bytes, any alignment */
    /* Output rows [row_begin, row_end) of every output channel; both 0 = all rows (as for
     * depthwise). Other rows of output are not written. */
    int64_t row_begin, row_end;
} qp_u8_conv_smallc_args;

/* Scratch of one call (the weights regrouped by quads, bias and scales padded to 4 channels). */
size_t qp_u8_conv_smallc_scratch_size(const qp_q8_window *win, int64_t c_in, int64_t c_out);
typedef void (*qp_u8_conv_smallc_fn)(const qp_u8_conv_smallc_args *args);
/* Plain loops over every tap: the bytes im2col + GEMM give (any geometry). */
void qp_u8_conv_smallc__ref(const qp_u8_conv_smallc_args *args);
/* AVX-512 VNNI + VBMI: per output row and 16 columns, one vpermt2b per quad builds the tap
 * quads from masked row loads, shared by all output channels; then one vpdpbusd per quad and
 * channel, 8-12 channels at a time. Windows outside qp_u8_conv_smallc_supported run the reference. */
void qp_u8_conv_smallc__avx512vnni(const qp_u8_conv_smallc_args *args);

/* Elementwise Add and Mul of two u8 tensors (qp_u8_add_fn, qp_u8_mul_fn and their arguments):
 * declared in their own header, which the binary-op kernels and their engine op share. */
#include "kernels/int8/q8_binary_kernels.h"

/* ------------------------------------------------------------------------------------------- */
/* pooling and table lookup                                                                   */
/* ------------------------------------------------------------------------------------------- */

typedef struct qp_u8_pool_args {
    qp_q8_window win;
    int64_t channels;              /* planes: input [channels][in_h][in_w] */
    const uint8_t *input;
    uint8_t *output;               /* [channels][out_h][out_w] */
    uint8_t qmin, qmax;            /* fused clamp (MaxPool output keeps the input encoding) */
    /* AveragePool only: */
    int count_include_pad;         /* divide by taps inside the padded input, else valid taps */
    const float *count_scale;      /* KH*KW + 1 entries: [c] = s_in / (s_out * c), see below */
    int32_t input_zero_point, out_zero_point;
    /* Output rows [row_begin, row_end) of every channel; both 0 = all rows (as for depthwise). */
    int64_t row_begin, row_end;
} qp_u8_pool_args;

/* MaxPool: clamp(max over the window's valid taps, qmin, qmax); qmin for a window with no valid
 * tap. Same encoding in and out. */
typedef void (*qp_u8_pool_fn)(const qp_u8_pool_args *args);
void qp_u8_maxpool__ref(const qp_u8_pool_args *args);
/* AVX-512 BW + VBMI: 64 outputs a step (strides 1-2; 32 to stride 4, 16 to stride 8; larger
 * strides run the reference). */
void qp_u8_maxpool__avx512(const qp_u8_pool_args *args);
/* AVX2: strides 1-2, 32 outputs a step where the window lies inside the input (borders scalar). */
void qp_u8_maxpool__avx2(const qp_u8_pool_args *args);

/* AveragePool: qp_requantize(sum over valid taps of (x - za), count_scale[count]), count per
 * count_include_pad (0 taps -> zo). */
void qp_u8_avgpool__ref(const qp_u8_pool_args *args);
/* AVX-512 BW + VBMI, strides 1-2, windows of at most 257 taps (else the reference): interior
 * outputs 64 a step, borders through the reference's code. */
void qp_u8_avgpool__avx512(const qp_u8_pool_args *args);

/* table[c] = qp_requant_mean_scale(in_scale, out_scale, c) for c in 1..max_count; table[0] = 0. */
qp_status qp_u8_avgpool_scale_table(float in_scale, float out_scale, int64_t max_count, float *table);

/* GlobalAveragePool over `channels` planes of `plane` bytes: qp_requantize(sum - za * plane, scale)
 * with scale = qp_requant_mean_scale(s_in, s_out, plane), MLAS QLinearGlobalAveragePool's
 * arithmetic; sums are int32, so plane <= 2^23. */
typedef struct qp_u8_global_avgpool_args {
    int64_t channels, plane;
    const uint8_t *input;
    uint8_t *output;               /* channels bytes */
    float scale;
    int32_t input_zero_point, out_zero_point;
    uint8_t qmin, qmax;
} qp_u8_global_avgpool_args;

typedef void (*qp_u8_global_avgpool_fn)(const qp_u8_global_avgpool_args *args);
void qp_u8_global_avgpool__ref(const qp_u8_global_avgpool_args *args);
void qp_u8_global_avgpool__avx2(const qp_u8_global_avgpool_args *args);
void qp_u8_global_avgpool__avx512(const qp_u8_global_avgpool_args *args);

/* out[i] = table[in[i]]: requantization between encodings (Concat inputs) and any unary op
 * evaluated exactly in float once per code at plan time (Sigmoid, HardSwish, ...). */
typedef void (*qp_u8_lut_fn)(int64_t n, const uint8_t table[256], const uint8_t *input,
                             uint8_t *output);
void qp_u8_lut__ref(int64_t n, const uint8_t table[256], const uint8_t *input, uint8_t *output);
/* AVX-512 VBMI: two vpermi2b per 64 bytes. */
void qp_u8_lut__avx512(int64_t n, const uint8_t table[256], const uint8_t *input, uint8_t *output);

/* The table that re-encodes (in_scale, in_zp) codes as (out_scale, out_zp):
 * clamp(round((q - in_zp) * in_scale / out_scale) + out_zp, qmin, qmax), ties away from zero. */
qp_status qp_u8_lut_requant_table(double in_scale, int32_t in_zero_point, double out_scale,
                                  int32_t out_zero_point, uint8_t qmin, uint8_t qmax,
                                  uint8_t table[256]);

/* ------------------------------------------------------------------------------------------- */
/* float <-> u8 at the engine's borders (graph inputs and outputs, ops that fall back to fp32)  */
/* ------------------------------------------------------------------------------------------- */

typedef struct qp_u8_convert_params {
    float scale;                   /* > 0 */
    int32_t zero_point;            /* 0..255 */
    uint8_t qmin, qmax;            /* quantize: the clamp */
} qp_u8_convert_params;

/* dst[i] = clamp(round_half_even(src[i] / scale) + zero_point, qmin, qmax), every step in float
 * exactly as the engine's scalar qp_q8_quantize (an IEEE division, not a multiplication by
 * 1/scale); NaN gives qmin. */
typedef void (*qp_f32_quantize_u8_fn)(int64_t n, const float *src, const qp_u8_convert_params *params,
                                      uint8_t *dst);
void qp_f32_quantize_u8__ref(int64_t n, const float *src, const qp_u8_convert_params *params, uint8_t *dst);
void qp_f32_quantize_u8__avx2(int64_t n, const float *src, const qp_u8_convert_params *params, uint8_t *dst);
void qp_f32_quantize_u8__avx512(int64_t n, const float *src, const qp_u8_convert_params *params, uint8_t *dst);

/* dst[i] = ((float)src[i] - zero_point) * scale (two float operations, no FMA). */
typedef void (*qp_u8_dequantize_f32_fn)(int64_t n, const uint8_t *src, const qp_u8_convert_params *params,
                                        float *dst);
void qp_u8_dequantize_f32__ref(int64_t n, const uint8_t *src, const qp_u8_convert_params *params, float *dst);
void qp_u8_dequantize_f32__avx2(int64_t n, const uint8_t *src, const qp_u8_convert_params *params, float *dst);
void qp_u8_dequantize_f32__avx512(int64_t n, const uint8_t *src, const qp_u8_convert_params *params, float *dst);

#ifdef __cplusplus
}
#endif
#endif
