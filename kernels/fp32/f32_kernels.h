/* f32_kernels.h — fp32 compute kernels behind Conv/ConvTranspose/pooling: im2col, col2im, depthwise conv, pooling. */
#ifndef QPIPE_F32_KERNELS_H
#define QPIPE_F32_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Kernels never allocate: a caller passes scratch sized by the kernel's *_scratch_size() twin.
 * Every kernel handles one image plane (or a channel range of one image), so operators choose
 * the parallel split. */

/* The geometry of a window sweep over up to 3 spatial dims (D, H, W). 1-D and 2-D problems set
 * the leading dims to in = out = kernel = stride = dilation = 1 and pads 0, so one code path
 * serves all ranks. pad_begin may be negative (ConvTranspose with an output_shape larger than
 * the natural size shifts nothing but is expressed the same way). out[] is authoritative: the
 * end padding is implied by it, and pad_end is only read by average pooling that counts pads. */
typedef struct qp_f32_window {
    int64_t in[3];
    int64_t out[3];
    int64_t kernel[3];
    int64_t stride[3];
    int64_t dilation[3];
    int64_t pad_begin[3];
    int64_t pad_end[3];
} qp_f32_window;

/* Taps k in [0, kernel) whose input index o*stride - pad_begin + k*dilation falls inside
 * [lo, hi): writes the first and one-past-last valid tap (empty range: *k_begin >= *k_end). */
void qp_f32_window_taps(int64_t o, int64_t stride, int64_t pad_begin, int64_t dilation,
                        int64_t kernel, int64_t lo, int64_t hi, int64_t *k_begin, int64_t *k_end);

typedef enum qp_f32_auto_pad {
    QP_F32_AUTO_PAD_NOTSET = 0,
    QP_F32_AUTO_PAD_SAME_UPPER = 1,
    QP_F32_AUTO_PAD_SAME_LOWER = 2,
    QP_F32_AUTO_PAD_VALID = 3,
} qp_f32_auto_pad;

/* Output size of one spatial dim of a Conv/pooling window by ONNX's rules. For NOTSET the pads
 * are read from *pad_begin and *pad_end; otherwise they are written. Returns 0, or -1 when the
 * window does not fit (output < 1) or an argument is out of range. */
int qp_f32_window_dim(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                      qp_f32_auto_pad auto_pad, int ceil_mode, int64_t *pad_begin, int64_t *pad_end,
                      int64_t *out);

/* --- im2col / col2im (kernels/fp32/im2col.c) --- */

/* Rows of the column matrix per channel: kernel volume. Columns: output volume. */
int64_t qp_f32_im2col_rows_per_channel(const qp_f32_window *win);
int64_t qp_f32_im2col_cols(const qp_f32_window *win);

/* Unfolds channels [c_begin, c_end) of `input` (channels x in-volume) into rows
 * [c*K, (c+1)*K) of `col` (row length = output volume); padded taps become 0. Row-wise copies with
 * the valid range computed once per row, so the inner loop has no bounds test. */
void qp_f32_im2col(const qp_f32_window *win, int64_t c_begin, int64_t c_end, const float *input,
                   float *col);

/* The adjoint of im2col: adds rows of `col` for channels [c_begin, c_end) back into `image`
 * (channels x in-volume), skipping taps that fall outside. ConvTranspose uses it with the
 * roles swapped (its output is the "image"). */
void qp_f32_col2im_add(const qp_f32_window *win, int64_t c_begin, int64_t c_end, const float *col,
                       float *image);

/* --- sgemm in blocks (kernels/fp32/sgemm_blocks.c) --- */

/* C = alpha * op(A) * op(B) + beta * C, row-major, as cblas_sgemm. */
typedef struct qp_f32_gemm_args {
    int trans_a, trans_b;
    int64_t m, n, k;
    float alpha;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    float beta;
    float *c;
    int64_t ldc;
} qp_f32_gemm_args;

/* How many independent blocks the product is cut into, for a caller to spread over its threads.
 * Depends on the shape only (fixed-size blocks of columns, else rows), so results do not depend
 * on the thread count. 1 whenever OpenBLAS runs threads of its own: two thread pools on the
 * same cores spin against each other. */
int qp_f32_gemm_blocks(const qp_f32_gemm_args *args);
/* Computes block `block` of n_blocks (n_blocks from qp_f32_gemm_blocks, or 1 for the whole
 * product); blocks touch disjoint parts of C. */
void qp_f32_gemm_block(const qp_f32_gemm_args *args, int block, int n_blocks);

/* A few rows of A (fully connected layers at small batch): qp_f32_gemm_block computes them with the
 * config's small_m kernel (kernels/fp32/gemm_small_m.inc.h), which streams B once instead of packing it
 * per call. Columns [n_begin, n_end) of C; A not transposed; m <= QP_F32_SMALL_M. */
#define QP_F32_SMALL_M 4
typedef void (*qp_f32_gemm_small_m_fn)(const qp_f32_gemm_args *args, int64_t n_begin, int64_t n_end);
void qp_f32_gemm_small_m__ref(const qp_f32_gemm_args *args, int64_t n_begin, int64_t n_end);
void qp_f32_gemm_small_m__avx2(const qp_f32_gemm_args *args, int64_t n_begin, int64_t n_end);
void qp_f32_gemm_small_m__avx512(const qp_f32_gemm_args *args, int64_t n_begin, int64_t n_end);

/* Relu/Clip on floats: out[i] = min(max(in[i], lo), hi) in Clip's compare-and-select form (NaN stays
 * NaN; lo = -INFINITY / hi = INFINITY leave that side open); out may equal in. */
typedef void (*qp_f32_clamp_fn)(const float *in, float *out, int64_t n, float lo, float hi);
void qp_f32_clamp__ref(const float *in, float *out, int64_t n, float lo, float hi);
void qp_f32_clamp__avx2(const float *in, float *out, int64_t n, float lo, float hi);
void qp_f32_clamp__avx512(const float *in, float *out, int64_t n, float lo, float hi);

/* --- depthwise 2-D convolution, one channel plane (kernels/fp32/dwconv2d.inc.h) --- */

typedef struct qp_f32_dwconv2d_args {
    qp_f32_window win;     /* D dims must be 1: in[0] = out[0] = kernel[0] = 1 */
    const float *input;    /* in H x W (per plane, planes consecutive) */
    const float *kernel;   /* kernel H x W (per plane, planes consecutive) */
    float bias;            /* used when biases is NULL */
    float *scratch;        /* qp_f32_dwconv2d_scratch_size() bytes, any contents */
    float *output;         /* out H x W (per plane, planes consecutive) */
    int64_t planes;        /* planes in one call (0 means 1): setup shared by small planes */
    const float *biases;   /* per-plane bias, or NULL */
    int clamp;             /* nonzero: every output v becomes min(max(v, lo), hi) as Clip computes it */
    float lo, hi;
} qp_f32_dwconv2d_args;

/* Bytes of scratch for one call: the zero-padded plane plus a wide output row block. */
size_t qp_f32_dwconv2d_scratch_size(const qp_f32_window *win);
/* Rows and row length of the padded plane in scratch: every tap of every output lies inside it,
 * with one spare row so the stride-1 wide loop may run past the last row. */
void qp_f32_dwconv2d_layout(const qp_f32_window *win, int64_t *padded_h, int64_t *padded_w);

typedef void (*qp_f32_dwconv2d_fn)(const qp_f32_dwconv2d_args *args);

/* --- qpipe's own packed GEMM (kernels/fp32/f32_gemm.c + one micro-kernel per ISA) ---
 * C[m x n] = clamp(A[m x k] * B[k x n] + bias[m], lo, hi), all row-major. Conv uses it with
 * A = weights (read in place: no packed copy of the weights exists), B = the image or its im2col
 * columns, bias per output channel and an optional fused Relu/Clip.
 * A plain B matrix is read in place (masked loads at the right edge); im2col panels are gathered
 * (k x nr, zero-padded to whole vectors) into per-thread scratch. A is broadcast from mr rows.
 * Every output element is fma(a[i][0], b[0][j], 0), then fma over p = 1..k-1 in order, then
 * + bias, then the clamp: the same sequence in every variant and for any tiling or thread split,
 * so all variants (ref included) give bit-identical results for any thread count. */

/* One micro-kernel call: rows [0, mr) x columns [0, nr) of C, mr <= config mr, nr <= config nr. */
typedef struct qp_f32_gemm_tile {
    int64_t k;
    const float *a;        /* row 0 of the tile; rows are lda apart */
    int64_t lda;
    int64_t mr;
    const float *b;        /* k rows, ldb apart: a packed panel, or the B matrix itself */
    int64_t ldb;           /* a multiple of vec for packed panels; lanes past nr are never read */
    int64_t nr;
    float *c;
    int64_t ldc;
    const float *bias;     /* mr values, or NULL */
    float lo, hi;          /* output clamp (-INFINITY / INFINITY: none) */
} qp_f32_gemm_tile;

typedef void (*qp_f32_gemm_ukernel_fn)(const qp_f32_gemm_tile *tile);

void qp_f32_gemm_ukernel_4x16__ref(const qp_f32_gemm_tile *tile);
void qp_f32_gemm_ukernel_6x16__avx2(const qp_f32_gemm_tile *tile);
void qp_f32_gemm_ukernel_8x48__avx512(const qp_f32_gemm_tile *tile);

/* Columns [n0, n0 + nr) of im2col(image) straight from the image into a panel of k rows of
 * `stride` floats (zero-padded past nr): row p is tap p % volume of channel p / volume, column j
 * is output position n0 + j (D, H, W order); padded taps read 0. */
typedef void (*qp_f32_gemm_pack_window_fn)(const qp_f32_window *win, const float *image, int64_t k, int64_t n0,
                                           int64_t nr, int64_t stride, float *packed);
void qp_f32_gemm_pack_window__ref(const qp_f32_window *win, const float *image, int64_t k, int64_t n0, int64_t nr,
                                  int64_t stride, float *packed);
void qp_f32_gemm_pack_window__avx2(const qp_f32_window *win, const float *image, int64_t k, int64_t n0, int64_t nr,
                                   int64_t stride, float *packed);
void qp_f32_gemm_pack_window__avx512(const qp_f32_window *win, const float *image, int64_t k, int64_t n0,
                                     int64_t nr, int64_t stride, float *packed);

typedef struct qp_f32_gemm_kernel {
    qp_f32_gemm_ukernel_fn ukernel;
    qp_f32_gemm_pack_window_fn pack_window;
    int mr;  /* rows per tile */
    int nr;  /* columns per panel */
    int vec; /* panel rows are padded to a multiple of this many floats */
} qp_f32_gemm_kernel;

/* Where B's columns come from: a plain row-major matrix (b, ldb), or, with win set, the image
 * `b` (channels x in-volume) read through the conv window as im2col would lay it out, without
 * materializing the column matrix. */
typedef struct qp_f32_gemm_nn_args {
    int64_t m, n, k;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    const qp_f32_window *win; /* NULL: B is a matrix; else B = im2col(b) (k = channels x kernel volume) */
    float *c;
    int64_t ldc;
    const float *bias;        /* m values, or NULL */
    float lo, hi;             /* output clamp (-INFINITY / INFINITY: none) */
} qp_f32_gemm_nn_args;

/* Bytes of packing scratch one slot needs for a product with inner dimension k. */
size_t qp_f32_gemm_nn_scratch_size(const qp_f32_gemm_kernel *kernel, int64_t k);
/* Computes slot `slot` of n_slots (disjoint parts of C; together all of it) using `scratch`
 * (qp_f32_gemm_nn_scratch_size bytes, 64-byte aligned, private to the slot while it runs; only
 * im2col panels use it, so it may be NULL when win is NULL). */
void qp_f32_gemm_nn_slot(const qp_f32_gemm_kernel *kernel, const qp_f32_gemm_nn_args *args, int slot, int n_slots,
                         void *scratch);

/* --- pooling, one channel plane (kernels/fp32/pool.inc.h) --- */

typedef enum qp_f32_pool_kind {
    QP_F32_POOL_MAX = 0,
    QP_F32_POOL_AVG_EXCLUDE_PAD = 1, /* divide by the taps inside the input */
    QP_F32_POOL_AVG_INCLUDE_PAD = 2, /* divide by the taps inside the padded input */
    QP_F32_POOL_LP = 3,              /* (sum |x|^p)^(1/p), pads count as zeros */
} qp_f32_pool_kind;

typedef struct qp_f32_pool_args {
    qp_f32_window win;
    qp_f32_pool_kind kind;
    float p;               /* LpPool exponent */
    const float *input;    /* in D x H x W */
    float *output;         /* out D x H x W */
    float *scratch;        /* qp_f32_pool_scratch_size() bytes */
} qp_f32_pool_args;

size_t qp_f32_pool_scratch_size(const qp_f32_window *win);

typedef void (*qp_f32_pool_fn)(const qp_f32_pool_args *args);

/* Variants of the same signature: __ref is portable C, the others are the same source built
 * for wider vectors. Operators call through qp_f32_config(), which picks once by CPU features. */
void qp_f32_dwconv2d__ref(const qp_f32_dwconv2d_args *args);
void qp_f32_dwconv2d__avx2(const qp_f32_dwconv2d_args *args);
void qp_f32_dwconv2d__avx512(const qp_f32_dwconv2d_args *args);
/* AVX-512 only: direct kernels with masked loads (small same-width stride-1 planes, several per
 * call; stride-2 rows), which qp_f32_dwconv2d__avx512 calls where
 * qp_f32_dwconv2d_rows_supported__avx512 says they are faster. */
int qp_f32_dwconv2d_rows_supported__avx512(const qp_f32_window *win);
void qp_f32_dwconv2d_rows__avx512(const qp_f32_dwconv2d_args *args);
void qp_f32_pool__ref(const qp_f32_pool_args *args);
void qp_f32_pool__avx2(const qp_f32_pool_args *args);
void qp_f32_pool__avx512(const qp_f32_pool_args *args);

typedef struct qp_f32_config {
    const char *isa;   /* "ref", "avx2", "avx512" */
    qp_f32_dwconv2d_fn dwconv2d;
    qp_f32_pool_fn pool;
    qp_f32_gemm_kernel gemm;
    qp_f32_gemm_small_m_fn gemm_small_m;
    qp_f32_clamp_fn clamp;
} qp_f32_config;

/* The variants this CPU runs best; read once (pthread_once). QPIPE_ISA=ref|avx2|avx512 caps it
 * (for debugging and tests; the int8 kernels read the same variable, and each accepts the
 * other's names: scalar = ref, avx512vnni = avx512). */
const qp_f32_config *qp_f32_get_config(void);

/* Which variants this CPU can run: index 0 = ref (always), then avx2, avx512. Used by tests
 * to check every runnable variant against the reference. Returns the count written. */
int qp_f32_runnable_configs(qp_f32_config *out, int cap);

#ifdef __cplusplus
}
#endif
#endif
