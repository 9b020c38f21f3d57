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

/* --- depthwise 2-D convolution, one channel plane (kernels/fp32/dwconv2d.inc.h) --- */

typedef struct qp_f32_dwconv2d_args {
    qp_f32_window win;     /* D dims must be 1: in[0] = out[0] = kernel[0] = 1 */
    const float *input;    /* in H x W */
    const float *kernel;   /* kernel H x W */
    float bias;
    float *scratch;        /* qp_f32_dwconv2d_scratch_size() bytes, any contents */
    float *output;         /* out H x W */
} qp_f32_dwconv2d_args;

/* Bytes of scratch for one call: the zero-padded plane plus a wide output row block. */
size_t qp_f32_dwconv2d_scratch_size(const qp_f32_window *win);
/* Rows and row length of the padded plane in scratch: every tap of every output lies inside it,
 * with one spare row so the stride-1 wide loop may run past the last row. */
void qp_f32_dwconv2d_layout(const qp_f32_window *win, int64_t *padded_h, int64_t *padded_w);

typedef void (*qp_f32_dwconv2d_fn)(const qp_f32_dwconv2d_args *args);

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
void qp_f32_pool__ref(const qp_f32_pool_args *args);
void qp_f32_pool__avx2(const qp_f32_pool_args *args);
void qp_f32_pool__avx512(const qp_f32_pool_args *args);

typedef struct qp_f32_config {
    const char *isa;   /* "ref", "avx2", "avx512" */
    qp_f32_dwconv2d_fn dwconv2d;
    qp_f32_pool_fn pool;
} qp_f32_config;

/* The variants this CPU runs best; read once (pthread_once). QPIPE_ISA=ref|avx2|avx512 caps it
 * (for debugging and tests). */
const qp_f32_config *qp_f32_get_config(void);

/* Which variants this CPU can run: index 0 = ref (always), then avx2, avx512. Used by tests
 * to check every runnable variant against the reference. Returns the count written. */
int qp_f32_runnable_configs(qp_f32_config *out, int cap);

#ifdef __cplusplus
}
#endif
#endif
