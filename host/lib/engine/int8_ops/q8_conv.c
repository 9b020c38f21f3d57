/* q8_conv.c — int8 Conv (regular, grouped, depthwise, 1-D/2-D): u8 im2col + packed u8s8 GEMM, the depthwise kernel or the direct small-C_in (stem) kernel, per-channel requant, fused clamp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "core/work_split.h"
#include "engine/int8_ops/q8_ops.h"

typedef struct conv_state {
    const qp_q8_config *cfg;
    qp_q8_window win;
    int64_t batch, c_in, c_out, group, cin_g, cout_g, k, in_plane, out_plane;
    int depthwise, pointwise;
    int smallc;                 /* few input channels, narrow kernel: the direct kernel (conv_smallc) */
    int implicit;               /* GEMM reads the input planes itself (no im2col): q8_kernels.h */
    uint8_t *packed;            /* GEMM path: one packed block per group */
    size_t packed_group_bytes;
    int8_t *direct_weights;     /* depthwise and small-C_in paths: [c_out][cin_g*KH*KW] */
    int32_t *direct_bias;       /* depthwise and small-C_in paths: folded bias */
    float *scale;               /* [c_out] requantization scales */
    int32_t zx, zo;
    uint8_t lo, hi;
    /* Work of one image (group) split among the threads sharing it (core/work_split.h), on one
     * axis: output columns (GEMM), weight rows (gemm_rows: few output pixels), output rows
     * (block_rows: im2col in row blocks), channels or output rows (depthwise: dw_rows), output
     * rows (smallc). */
    qp_work_split split;
    qp_work_split images;       /* by_image: the batch, one image per task */
    int gemm_rows;              /* GEMM: tasks are rows of W (few output pixels), not columns */
    int dw_rows;                /* depthwise: tasks are output rows of every channel (few channels) */
    int row_blocks;             /* im2col GEMM in blocks of output rows (the tasks), not the whole image */
    size_t block_col_bytes;     /* row_blocks: the column part of a task's slot, the GEMM's scratch after it */
    size_t col_bytes;           /* whole-image im2col buffer at the start of an image's scratch */
    size_t xpack_bytes;         /* gemm_rows: X packed once for all row tasks, after col_bytes */
    size_t slot_bytes;          /* scratch of one running task */
    size_t image_scratch;       /* one image: col_bytes + split slots */
    int threads;                /* threads this node uses: 1 when the work is too small to share */
    int by_image;               /* batch >= threads: each thread runs whole images */
} conv_state;

static unsigned data_in(const qp_plan *plan, const qp_node *n) { (void)plan; (void)n; return 1u; }
static unsigned data_out(const qp_plan *plan, const qp_node *n) { (void)plan; (void)n; return 1u; }

static size_t align64(size_t n) { return (n + 63) / 64 * 64; }

/* Geometry from shapes; returns 0 and why when the node is outside what the kernels do. */
static int geometry(const qp_q8_prep *p, conv_state *s, char *why, size_t cap) {
    const qp_value *x = p->inputs[0], *w = p->inputs[1];
    const qp_value *b = p->n_inputs > 2 ? p->inputs[2] : NULL;
    const qp_encoding *we = p->in_enc[1];
    if (x->shape.rank != w->shape.rank || x->shape.rank < 3) {
        snprintf(why, cap, "X and W ranks do not match a 1-D/2-D convolution");
        return 0;
    }
    if (!qp_q8_read_window(p->node, &x->shape, &w->shape, 0, &s->win, why, cap)) return 0;
    s->batch = x->shape.dims[0];
    s->c_in = x->shape.dims[1];
    s->c_out = w->shape.dims[0];
    s->group = qp_node_attr_int(p->node, "group", 1);
    if (s->group < 1 || s->c_in % s->group || s->c_out % s->group || w->shape.dims[1] != s->c_in / s->group) {
        snprintf(why, cap, "group %lld does not divide the channels", (long long)s->group);
        return 0;
    }
    s->cin_g = s->c_in / s->group;
    s->cout_g = s->c_out / s->group;
    s->k = s->cin_g * s->win.kernel_h * s->win.kernel_w;
    s->in_plane = s->win.in_h * s->win.in_w;
    s->out_plane = s->win.out_h * s->win.out_w;
    const qp_shape *os = &p->outputs[0]->shape;
    if (os->dims[0] != s->batch || os->dims[1] != s->c_out || qp_shape_numel(os) != s->batch * s->c_out * s->out_plane) {
        snprintf(why, cap, "output shape differs from the int8 window");
        return 0;
    }
    if (!we || !we->symmetric || we->bits > 8) {
        snprintf(why, cap, "weight W needs a symmetric encoding of at most 8 bits");
        return 0;
    }
    if (we->n != 1 && (we->axis != 0 || we->n != s->c_out)) {
        snprintf(why, cap, "weight encoding must be per-tensor or per output channel (axis 0)");
        return 0;
    }
    for (int c = 0; c < we->n; c++)
        if (we->zero_point[c] != 0) {
            snprintf(why, cap, "weight encoding has a non-zero zero point");
            return 0;
        }
    if (b && (b->dtype != QP_DT_FLOAT || qp_shape_numel(&b->shape) != s->c_out)) {
        snprintf(why, cap, "bias must be float [%lld]", (long long)s->c_out);
        return 0;
    }
    if (s->k > 65793) {
        snprintf(why, cap, "reduction of %lld terms could overflow int32", (long long)s->k);
        return 0;
    }
    s->depthwise = s->cin_g == 1 && s->cout_g == 1 && s->group > 1;
    s->pointwise = s->win.kernel_h == 1 && s->win.kernel_w == 1 && s->win.stride_h == 1 && s->win.stride_w == 1 &&
                   s->win.pad_top == 0 && s->win.pad_left == 0 && s->win.pad_bottom == 0 && s->win.pad_right == 0;
    return 1;
}

static int conv_check(const qp_q8_prep *p, char *why, size_t cap) {
    conv_state s;
    memset(&s, 0, sizeof s);
    return geometry(p, &s, why, cap);
}

static void conv_release(void *state) {
    conv_state *s = state;
    if (!s) return;
    free(s->packed);
    free(s->direct_weights);
    free(s->direct_bias);
    free(s->scale);
    qp_work_split_free(&s->split);
    qp_work_split_free(&s->images);
    free(s);
}

static qp_status conv_prepare(const qp_q8_prep *p, void **state, size_t *scratch_bytes) {
    char why[200];
    conv_state *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "out of memory");
    if (!geometry(p, s, why, sizeof why)) {
        free(s);
        return qp_error(QP_ERR_INTERNAL, "%s", why);
    }
    s->cfg = qp_q8_get_config();
    const qp_encoding *we = p->in_enc[1];
    const qp_value *w = p->inputs[1];
    const qp_value *b = p->n_inputs > 2 ? p->inputs[2] : NULL;
    const qp_q8_act *xa = &p->in_act[0], *ya = &p->out_act[0];
    s->zx = xa->zero_point;
    s->zo = ya->zero_point;
    s->lo = (uint8_t)p->out_lo;
    s->hi = (uint8_t)p->out_hi;
    int64_t wn = qp_shape_numel(&w->shape);
    int8_t *wq = malloc((size_t)wn);
    int32_t *bias = calloc((size_t)s->c_out, sizeof *bias);
    int32_t *folded = malloc((size_t)s->c_out * sizeof *folded);
    s->scale = malloc((size_t)s->c_out * sizeof *s->scale);
    qp_status st = wq && bias && folded && s->scale ? QP_OK : qp_error(QP_ERR_NOMEM, "out of memory");
    if (st == QP_OK) {
        qp_q8_quantize_weights(w->data, wn, wn / s->c_out, we->n, we, wq);
        if (b) qp_q8_quantize_bias(b->data, s->c_out, s->c_out, xa->scale, we, bias, NULL);
        for (int64_t c = 0; c < s->c_out && st == QP_OK; c++)
            st = qp_q8_requant(p->node, xa->scale, we->scale[we->n == 1 ? 0 : c], ya->scale, &s->scale[c]);
    }
    if (st == QP_OK) st = qp_u8s8_gemm_fold_bias(s->c_out, s->k, wq, s->k, bias, s->zx, folded);
    /* Threads: whole images per thread when the batch allows (one barrier per node instead of
     * one or two per image, and each thread's activations stay in its own cache); none at all
     * when a node is so small that waking a thread costs more than it saves (mnist: a few us).
     * Every split gives the same bytes: each output is one integer sum. */
    const int64_t macs = s->c_out * s->k * s->out_plane * s->batch; /* depthwise: k is the taps */
    const int64_t min_macs_per_thread = s->depthwise ? 64 * 1024 : 768 * 1024; /* ~2 us of work */
    s->threads = qp_q8_threads_for(p->n_threads, macs, min_macs_per_thread);
    s->by_image = s->threads > 1 && s->batch >= s->threads &&
                  (s->batch % s->threads == 0 || s->batch >= 3 * (int64_t)s->threads);
    const int split = s->by_image ? 1 : s->threads; /* threads sharing one image */
    if (st == QP_OK && s->by_image) st = qp_work_split_plan(&s->images, s->batch, s->threads, 1, 1, 1);
    /* Threads sharing an image take tasks of at least ~0.5-1 us (a task re-reads the weights or
     * re-primes the depthwise pipeline); the shares' last tasks are the smallest. */
    enum { MIN_TASK_MACS = 256 * 1024, MIN_DW_TASK_MACS = 16 * 1024 };
    const int64_t taps = s->win.kernel_h * s->win.kernel_w;
    /* A few input channels under a narrow kernel (the 3-channel stem): K = 27 is too short for
     * the GEMM, whose X packing and per-output epilogue then cost more than its multiplies; the
     * direct kernel builds each tap quad once per 16 outputs for all output channels. Measured
     * (bench_int8_kernels "stem direct"): 1.3-2.5x faster from 1 to 5 input channels and 3x3 or
     * 2x2 kernels; no gain for 1x1 (the GEMM reads X in place) or rows under 8 outputs (a
     * 16-lane block mostly idle). */
    s->smallc = !s->depthwise && s->group == 1 && !s->pointwise && s->win.out_w >= 8 && s->cfg->conv_smallc &&
                qp_u8_conv_smallc_supported(&s->win, s->c_in);
    if (st == QP_OK && s->smallc) {
        s->direct_weights = wq;
        s->direct_bias = folded;
        wq = NULL;
        folded = NULL;
        /* tasks are output rows of every channel */
        const int64_t row_macs = s->c_out * s->k * s->win.out_w;
        st = qp_work_split_plan(&s->split, s->win.out_h, split, 1, (MIN_TASK_MACS + row_macs - 1) / row_macs, 0);
        s->slot_bytes = align64(qp_u8_conv_smallc_scratch_size(&s->win, s->c_in, s->c_out));
    } else if (st == QP_OK && s->depthwise) {
        s->direct_weights = wq;
        s->direct_bias = folded;
        wq = NULL;
        folded = NULL;
        /* Few channels to share: split the planes by output rows instead (4 at a time suits
         * the VNNI kernel's steps). */
        s->dw_rows = split > 1 && s->c_out < 4 * split && s->win.out_h > 1;
        if (s->dw_rows) {
            const int64_t row_macs = s->c_out * taps * s->win.out_w;
            st = qp_work_split_plan(&s->split, s->win.out_h, split, s->win.out_h >= 16 * split ? 4 : 1,
                                    (MIN_DW_TASK_MACS + row_macs - 1) / row_macs, 0);
        } else {
            const int64_t channel_macs = taps * s->out_plane;
            /* even channel counts on planes at most 8 wide: the VNNI kernel puts two channels
             * in one vector there, and an odd chunk's last channel would fill a vector alone */
            st = qp_work_split_plan(&s->split, s->c_out, split, s->win.out_w <= 8 ? 2 : 1,
                                    (MIN_DW_TASK_MACS + channel_macs - 1) / channel_macs, 0);
        }
        s->slot_bytes = align64(qp_u8_dwconv_scratch_size(&s->win));
    } else if (st == QP_OK) {
        const qp_u8s8_gemm_variant *gv = s->cfg->gemm;
        s->packed_group_bytes = align64(gv->pack_size(s->cout_g, s->k));
        s->packed = aligned_alloc(64, s->packed_group_bytes * (size_t)s->group);
        if (!s->packed) st = qp_error(QP_ERR_NOMEM, "out of memory packing weights");
        for (int64_t g = 0; st == QP_OK && g < s->group; g++)
            gv->pack(s->cout_g, s->k, wq + g * s->cout_g * s->k, s->k, folded + g * s->cout_g,
                     s->packed + (size_t)g * s->packed_group_bytes);
        /* Few output pixels (7x7 planes): column chunks would leave threads idle, so split the
         * weight rows instead (each task reads all columns). */
        s->gemm_rows = split > 1 && s->out_plane < 2 * (int64_t)gv->nr * split && s->cout_g >= 2 * (int64_t)gv->mr;
        /* "Same" stride-1 convs (SqueezeNet's 3x3s) need no im2col at all: the GEMM packs its
         * panels straight from the input planes (one masked load per row of X and block). */
        const qp_q8_window *cw = &s->win;
        s->implicit = !s->pointwise && gv->implicit && cw->stride_h == 1 && cw->stride_w == 1 && cw->dilation_h == 1 &&
                      cw->dilation_w == 1 && cw->out_w == cw->in_w && cw->kernel_h <= 16 && cw->kernel_w <= 16 &&
                      s->out_plane > 8;
        /* A column buffer past L2 would be written by im2col and read back cold by the GEMM:
         * unfold and multiply a block of output rows at a time instead (~96 KB of columns).
         * Also when threads share an image with too few input channels to share the whole-image
         * im2col evenly (the 3-channel stem: one thread unfolded 2 channels, the other 1): a row
         * block's task does both steps, in one job instead of two. */
        const int64_t col_total = s->k * s->out_plane;
        if (st == QP_OK && !s->pointwise && !s->implicit && !s->gemm_rows &&
            (col_total > 1024 * 1024 || (split > 1 && s->cin_g < 4 * (int64_t)split))) {
            const int64_t row_cols = s->k * s->win.out_w, row_macs = s->cout_g * row_cols;
            s->row_blocks = 1;
            st = qp_work_split_plan(&s->split, s->win.out_h, split, 1, (MIN_TASK_MACS + row_macs - 1) / row_macs,
                                    (96 * 1024 + row_cols - 1) / row_cols);
            const int64_t widest = s->split.widest * s->win.out_w;
            s->block_col_bytes = align64((size_t)(s->k * widest));
            s->slot_bytes = s->block_col_bytes + align64(gv->scratch_size(s->k, widest));
        } else if (st == QP_OK && s->gemm_rows) {
            const int64_t row_macs = s->k * s->out_plane, min_rows = (MIN_TASK_MACS + row_macs - 1) / row_macs;
            st = qp_work_split_plan(&s->split, s->cout_g, split, gv->mr, min_rows, 0);
            s->slot_bytes = align64(gv->scratch_size(s->k, s->out_plane));
            s->col_bytes = s->pointwise || s->implicit ? 0 : align64(qp_u8_im2col_size(&s->win, s->cin_g));
            /* every row task multiplies the same X: pack it once (on 7x7 planes a task's own
             * packing was a third of its time) */
            if (gv->pack_x && s->out_plane > 8) s->xpack_bytes = align64(gv->packed_x_size(s->k, s->out_plane));
        } else if (st == QP_OK) {
            /* column tasks of at least two VNNI blocks */
            const int64_t col_macs = s->cout_g * s->k, min_cols = (MIN_TASK_MACS + col_macs - 1) / col_macs;
            st = qp_work_split_plan(&s->split, s->out_plane, split, gv->nr,
                                    min_cols > 2 * (int64_t)gv->nr ? min_cols : 2 * (int64_t)gv->nr, 0);
            s->slot_bytes = align64(gv->scratch_size(s->k, s->split.widest));
            s->col_bytes = s->pointwise || s->implicit ? 0 : align64(qp_u8_im2col_size(&s->win, s->cin_g));
        }
    }
    /* qp_work_split_run runs min(threads, tasks) parts, each with its own slot */
    const int running = split < s->split.n_tasks ? split : (s->split.n_tasks > 1 ? s->split.n_tasks : 1);
    s->image_scratch = s->col_bytes + s->xpack_bytes + s->slot_bytes * (size_t)running;
    free(wq);
    free(bias);
    free(folded);
    if (st != QP_OK) {
        conv_release(s);
        return st;
    }
    const int64_t image_slots = s->by_image ? (s->batch < s->threads ? s->batch : s->threads) : 1;
    *scratch_bytes = s->image_scratch * (size_t)image_slots;
    *state = s;
    return QP_OK;
}

typedef struct conv_job {
    const conv_state *s;
    const uint8_t *x;      /* this image */
    uint8_t *y;            /* this image */
    int64_t group;
    const uint8_t *rhs;    /* GEMM right-hand side for this group (NULL: implicit im2col) */
    int64_t x_k_stride;
    uint8_t *col;          /* whole-image im2col buffer */
    const void *x_packed;  /* gemm_rows: X packed once for all tasks (NULL: each task packs) */
} conv_job;

static void im2col_range(void *user, int64_t begin, int64_t end) {
    const conv_job *j = user;
    const conv_state *s = j->s;
    const int64_t taps = s->win.kernel_h * s->win.kernel_w;
    s->cfg->im2col(&s->win, end - begin, j->x + (j->group * s->cin_g + begin) * s->in_plane, (uint8_t)s->zx,
                   j->col + begin * taps * s->out_plane);
}

/* The implicit-im2col description of group g's input, columns from n0. */
static qp_u8s8_gemm_implicit implicit_input(const conv_job *j, int64_t n0) {
    const conv_state *s = j->s;
    return (qp_u8s8_gemm_implicit){
        .input = j->x + j->group * s->cin_g * s->in_plane, .h = s->win.in_h, .w = s->win.in_w,
        .kernel_h = s->win.kernel_h, .kernel_w = s->win.kernel_w, .pad_top = s->win.pad_top,
        .pad_left = s->win.pad_left, .n0 = n0, .zero_point = (uint8_t)s->zx,
    };
}

/* GEMM output columns [begin, end), or weight rows [begin, end) when gemm_rows. */
static void gemm_task(void *user, int64_t begin, int64_t end, uint8_t *slot) {
    const conv_job *j = user;
    const conv_state *s = j->s;
    int64_t n0 = 0, n = s->out_plane, m0 = 0, m1 = s->cout_g;
    if (s->gemm_rows) {
        m0 = begin;
        m1 = end;
    } else {
        n0 = begin;
        n = end - begin;
    }
    qp_u8s8_gemm_implicit im = implicit_input(j, n0);
    qp_u8s8_gemm_args a = {
        .m = s->cout_g, .n = n, .k = s->k, .m_begin = m0, .m_end = m1,
        .packed_w = s->packed + (size_t)j->group * s->packed_group_bytes,
        .x = s->implicit ? NULL : j->rhs + n0, .x_k_stride = j->x_k_stride, .x_n_stride = 1,
        .implicit = s->implicit ? &im : NULL, .x_packed = j->x_packed,
        .out = j->y + j->group * s->cout_g * s->out_plane + n0, .out_m_stride = s->out_plane, .out_n_stride = 1,
        .scale = s->scale + j->group * s->cout_g, .out_zero_point = s->zo, .qmin = s->lo, .qmax = s->hi,
        .scratch = slot,
    };
    s->cfg->gemm->run(&a);
}

/* Output rows [oh0, oh1) of group g: im2col of just those rows (a window shifted by oh0 rows:
 * pad_top goes negative past the top padding, which the im2col kernels take as plain
 * arithmetic), then the GEMM on them, both in the task's slot. */
static void block_task(void *user, int64_t oh0, int64_t oh1, uint8_t *slot) {
    const conv_job *j = user;
    const conv_state *s = j->s;
    qp_q8_window sub = s->win;
    sub.out_h = oh1 - oh0;
    sub.pad_top = s->win.pad_top - oh0 * s->win.stride_h;
    const int64_t n = sub.out_h * sub.out_w;
    s->cfg->im2col(&sub, s->cin_g, j->x + j->group * s->cin_g * s->in_plane, (uint8_t)s->zx, slot);
    qp_u8s8_gemm_args a = {
        .m = s->cout_g, .n = n, .k = s->k, .m_begin = 0, .m_end = s->cout_g,
        .packed_w = s->packed + (size_t)j->group * s->packed_group_bytes,
        .x = slot, .x_k_stride = n, .x_n_stride = 1,
        .out = j->y + j->group * s->cout_g * s->out_plane + oh0 * s->win.out_w, .out_m_stride = s->out_plane,
        .out_n_stride = 1, .scale = s->scale + j->group * s->cout_g, .out_zero_point = s->zo, .qmin = s->lo,
        .qmax = s->hi, .scratch = slot + s->block_col_bytes,
    };
    s->cfg->gemm->run(&a);
}

/* Channels [begin, end), or output rows [begin, end) of every channel when dw_rows. */
static void dw_task(void *user, int64_t begin, int64_t end, uint8_t *slot) {
    const conv_job *j = user;
    const conv_state *s = j->s;
    const int64_t taps = s->win.kernel_h * s->win.kernel_w;
    const int64_t c0 = s->dw_rows ? 0 : begin, nc = s->dw_rows ? s->c_out : end - begin;
    qp_u8_dwconv_args a = {
        .win = s->win, .channels = nc, .input = j->x + c0 * s->in_plane, .weights = s->direct_weights + c0 * taps,
        .bias = s->direct_bias + c0, .input_zero_point = s->zx, .scale = s->scale + c0,
        .out_zero_point = s->zo, .qmin = s->lo, .qmax = s->hi, .output = j->y + c0 * s->out_plane,
        .scratch = slot, .row_begin = s->dw_rows ? begin : 0, .row_end = s->dw_rows ? end : 0, /* 0, 0: all rows */
    };
    s->cfg->dwconv(&a);
}

/* Output rows [begin, end) of every output channel through the direct small-C_in kernel. */
static void smallc_task(void *user, int64_t begin, int64_t end, uint8_t *slot) {
    const conv_job *j = user;
    const conv_state *s = j->s;
    const qp_u8_conv_smallc_args a = {
        .win = s->win, .c_in = s->c_in, .c_out = s->c_out, .input = j->x, .weights = s->direct_weights,
        .bias = s->direct_bias, .input_zero_point = s->zx, .scale = s->scale, .out_zero_point = s->zo,
        .qmin = s->lo, .qmax = s->hi, .output = j->y, .scratch = slot, .row_begin = begin, .row_end = end,
    };
    s->cfg->conv_smallc(&a);
}

/* One image, shared by `threads` threads (1: run inline); scratch: its image_scratch bytes. */
static void conv_image(const conv_state *s, const uint8_t *x, uint8_t *y, uint8_t *scratch, int threads) {
    conv_job j = {.s = s, .x = x, .y = y, .col = scratch};
    uint8_t *xpack = scratch + s->col_bytes, *slots = xpack + s->xpack_bytes;
    if (s->depthwise || s->smallc) {
        qp_work_split_run(&s->split, threads, s->smallc ? smallc_task : dw_task, &j, slots, s->slot_bytes);
        return;
    }
    for (int64_t g = 0; g < s->group; g++) {
        j.group = g;
        if (s->row_blocks) {
            qp_work_split_run(&s->split, threads, block_task, &j, slots, s->slot_bytes);
            continue;
        }
        if (s->pointwise) {
            j.rhs = j.x + g * s->cin_g * s->in_plane;
            j.x_k_stride = s->in_plane;
        } else if (!s->implicit) {
            qp_parallel_for(threads, s->cin_g, im2col_range, &j); /* inline for one thread */
            j.rhs = j.col;
            j.x_k_stride = s->out_plane;
        }
        j.x_packed = NULL;
        if (s->xpack_bytes) {
            const qp_u8s8_gemm_implicit im = implicit_input(&j, 0);
            const qp_u8s8_gemm_args all = {.n = s->out_plane, .k = s->k, .x = j.rhs, .x_k_stride = j.x_k_stride,
                                           .x_n_stride = 1, .implicit = s->implicit ? &im : NULL};
            s->cfg->gemm->pack_x(&all, xpack);
            j.x_packed = xpack;
        }
        qp_work_split_run(&s->split, threads, gemm_task, &j, slots, s->slot_bytes);
    }
}

/* Images [begin, end) on this thread alone. */
static void image_task(void *user, int64_t begin, int64_t end, uint8_t *slot) {
    const conv_job *j = user;
    const conv_state *s = j->s;
    for (int64_t n = begin; n < end; n++)
        conv_image(s, j->x + n * s->c_in * s->in_plane, j->y + n * s->c_out * s->out_plane, slot, 1);
}

static qp_status conv_run(qp_op_context *ctx) {
    const conv_state *s = ctx->state;
    const uint8_t *x = ctx->inputs[0]->data;
    uint8_t *y = ctx->outputs[0]->data;
    uint8_t *scratch = ctx->scratch;
    const int threads = s->threads < ctx->n_threads ? s->threads : ctx->n_threads;
    if (s->by_image) { /* images are the tasks; each image runs on one thread */
        conv_job j = {.s = s, .x = x, .y = y};
        qp_work_split_run(&s->images, threads, image_task, &j, scratch, s->image_scratch);
        return QP_OK;
    }
    for (int64_t n = 0; n < s->batch; n++)
        conv_image(s, x + n * s->c_in * s->in_plane, y + n * s->c_out * s->out_plane, scratch, threads);
    return QP_OK;
}

const qp_q8_op qp_q8_conv_op = {
    .op_type = "Conv", .data_inputs = data_in, .data_outputs = data_out, .can_fuse_activation = 1,
    .check = conv_check, .prepare = conv_prepare, .release = conv_release, .run = conv_run,
};
