/* q8_conv.c — int8 Conv (regular, grouped, depthwise, 1-D/2-D): u8 im2col + packed u8s8 GEMM or the depthwise kernel, per-channel requant, fused clamp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "engine/int8_ops/q8_ops.h"

typedef struct conv_state {
    const qp_q8_config *cfg;
    qp_q8_window win;
    int64_t batch, c_in, c_out, group, cin_g, cout_g, k, in_plane, out_plane;
    int depthwise, pointwise;
    uint8_t *packed;            /* GEMM path: one packed block per group */
    size_t packed_group_bytes;
    int8_t *dw_weights;         /* depthwise path: [c_out][KH*KW] */
    int32_t *dw_bias;           /* depthwise path: folded bias */
    qp_q31 *requant;            /* [c_out] */
    int32_t zx, zo;
    uint8_t lo, hi;
    size_t col_bytes;           /* im2col buffer at the start of scratch (0 = none) */
    size_t thread_scratch;      /* per chunk, after the column buffer */
    int64_t chunk;              /* columns or rows (GEMM) or channels (depthwise) per chunk */
    int gemm_rows;              /* GEMM: chunks are rows of W (few output pixels), not columns */
    int64_t row_chunk;          /* depthwise: output rows per chunk when planes are split by rows */
    int n_row_chunks;           /* depthwise: row chunks per channel chunk (1 = whole planes) */
    int n_chunks;
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
    free(s->dw_weights);
    free(s->dw_bias);
    free(s->requant);
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
    s->requant = malloc((size_t)s->c_out * sizeof *s->requant);
    qp_status st = wq && bias && folded && s->requant ? QP_OK : qp_error(QP_ERR_NOMEM, "out of memory");
    if (st == QP_OK) {
        qp_q8_quantize_weights(w->data, wn, wn / s->c_out, we->n, we, wq);
        if (b) qp_q8_quantize_bias(b->data, s->c_out, s->c_out, xa->scale, we, bias, NULL);
        for (int64_t c = 0; c < s->c_out && st == QP_OK; c++)
            st = qp_q8_requant(p->node, (double)xa->scale * (double)we->scale[we->n == 1 ? 0 : c] / (double)ya->scale,
                               &s->requant[c]);
    }
    if (st == QP_OK) st = qp_u8s8_gemm_fold_bias(s->c_out, s->k, wq, s->k, bias, s->zx, folded);
    int64_t chunk_align = 1;
    if (st == QP_OK && s->depthwise) {
        s->dw_weights = wq;
        s->dw_bias = folded;
        wq = NULL;
        folded = NULL;
        /* Few channels for the threads: split each plane by output rows (4 at a time suits the
         * VNNI kernel). Any partition gives the same bytes. */
        s->n_row_chunks = 1;
        if (p->n_threads > 1 && s->c_out < 4 * (int64_t)p->n_threads && s->win.out_h > 1) {
            s->n_chunks = qp_q8_chunks(s->c_out, 1, 1, &s->chunk);
            s->n_row_chunks = qp_q8_chunks(s->win.out_h, p->n_threads, s->win.out_h >= 4 * p->n_threads ? 4 : 1,
                                           &s->row_chunk);
            s->n_chunks *= s->n_row_chunks;
        } else {
            s->n_chunks = qp_q8_chunks(s->c_out, p->n_threads, 1, &s->chunk);
        }
        s->thread_scratch = align64(qp_u8_dwconv_scratch_size(&s->win));
    } else if (st == QP_OK) {
        const qp_u8s8_gemm_variant *gv = s->cfg->gemm;
        s->packed_group_bytes = align64(gv->pack_size(s->cout_g, s->k));
        s->packed = aligned_alloc(64, s->packed_group_bytes * (size_t)s->group);
        if (!s->packed) st = qp_error(QP_ERR_NOMEM, "out of memory packing weights");
        for (int64_t g = 0; st == QP_OK && g < s->group; g++)
            gv->pack(s->cout_g, s->k, wq + g * s->cout_g * s->k, s->k, folded + g * s->cout_g,
                     s->packed + (size_t)g * s->packed_group_bytes);
        chunk_align = gv->nr;
        /* Few output pixels (7x7 planes): column chunks would leave threads idle, so split the
         * weight rows instead (each chunk reads all columns). */
        s->gemm_rows = p->n_threads > 1 && s->out_plane < 2 * (int64_t)gv->nr * p->n_threads &&
                       s->cout_g >= 2 * (int64_t)gv->mr;
        if (s->gemm_rows) s->n_chunks = qp_q8_chunks(s->cout_g, p->n_threads, gv->mr, &s->chunk);
        else s->n_chunks = qp_q8_chunks(s->out_plane, p->n_threads, chunk_align, &s->chunk);
        s->thread_scratch = align64(gv->scratch_size(s->k, s->gemm_rows ? s->out_plane : s->chunk));
        s->col_bytes = s->pointwise ? 0 : align64(qp_u8_im2col_size(&s->win, s->cin_g));
    }
    free(wq);
    free(bias);
    free(folded);
    if (st != QP_OK) {
        conv_release(s);
        return st;
    }
    *scratch_bytes = s->col_bytes + s->thread_scratch * (size_t)(s->n_chunks > 0 ? s->n_chunks : 1);
    *state = s;
    return QP_OK;
}

typedef struct conv_job {
    const conv_state *s;
    const uint8_t *x;      /* this image */
    const uint8_t *rhs;    /* GEMM right-hand side for this group */
    int64_t x_k_stride;
    uint8_t *y;            /* this image */
    int64_t group;
    uint8_t *col;
    uint8_t *scratch;
} conv_job;

static void im2col_range(void *user, int64_t begin, int64_t end) {
    const conv_job *j = user;
    const conv_state *s = j->s;
    const int64_t taps = s->win.kernel_h * s->win.kernel_w;
    s->cfg->im2col(&s->win, end - begin, j->x + (j->group * s->cin_g + begin) * s->in_plane, (uint8_t)s->zx,
                   j->col + begin * taps * s->out_plane);
}

static void gemm_range(void *user, int64_t begin, int64_t end) {
    const conv_job *j = user;
    const conv_state *s = j->s;
    for (int64_t c = begin; c < end; c++) {
        int64_t n0 = c * s->chunk, n = s->out_plane - n0 < s->chunk ? s->out_plane - n0 : s->chunk;
        int64_t m0 = 0, m1 = s->cout_g;
        if (s->gemm_rows) {
            m0 = c * s->chunk;
            m1 = m0 + s->chunk < s->cout_g ? m0 + s->chunk : s->cout_g;
            n0 = 0;
            n = s->out_plane;
        }
        qp_u8s8_gemm_args a = {
            .m = s->cout_g, .n = n, .k = s->k, .m_begin = m0, .m_end = m1,
            .packed_w = s->packed + (size_t)j->group * s->packed_group_bytes,
            .x = j->rhs + n0, .x_k_stride = j->x_k_stride, .x_n_stride = 1,
            .out = j->y + j->group * s->cout_g * s->out_plane + n0, .out_m_stride = s->out_plane, .out_n_stride = 1,
            .requant = s->requant + j->group * s->cout_g, .out_zero_point = s->zo, .qmin = s->lo, .qmax = s->hi,
            .scratch = j->scratch + (size_t)c * s->thread_scratch,
        };
        s->cfg->gemm->run(&a);
    }
}

static void dw_range(void *user, int64_t begin, int64_t end) {
    const conv_job *j = user;
    const conv_state *s = j->s;
    const int64_t taps = s->win.kernel_h * s->win.kernel_w;
    for (int64_t c = begin; c < end; c++) {
        int64_t cc = c / s->n_row_chunks, rc = c % s->n_row_chunks;
        int64_t c0 = cc * s->chunk, nc = s->c_out - c0 < s->chunk ? s->c_out - c0 : s->chunk;
        int64_t r0 = 0, r1 = 0; /* 0, 0 = all rows */
        if (s->n_row_chunks > 1) {
            r0 = rc * s->row_chunk;
            r1 = r0 + s->row_chunk < s->win.out_h ? r0 + s->row_chunk : s->win.out_h;
        }
        qp_u8_dwconv_args a = {
            .win = s->win, .channels = nc, .input = j->x + c0 * s->in_plane, .weights = s->dw_weights + c0 * taps,
            .bias = s->dw_bias + c0, .input_zero_point = s->zx, .requant = s->requant + c0,
            .out_zero_point = s->zo, .qmin = s->lo, .qmax = s->hi, .output = j->y + c0 * s->out_plane,
            .scratch = j->scratch + (size_t)c * s->thread_scratch, .row_begin = r0, .row_end = r1,
        };
        s->cfg->dwconv(&a);
    }
}

static qp_status conv_run(qp_op_context *ctx) {
    const conv_state *s = ctx->state;
    const uint8_t *x = ctx->inputs[0]->data;
    uint8_t *y = ctx->outputs[0]->data;
    uint8_t *scratch = ctx->scratch;
    for (int64_t n = 0; n < s->batch; n++) {
        conv_job j = {.s = s, .x = x + n * s->c_in * s->in_plane, .y = y + n * s->c_out * s->out_plane,
                      .col = scratch, .scratch = scratch + s->col_bytes};
        if (s->depthwise) {
            qp_parallel_for(ctx->n_threads, s->n_chunks, dw_range, &j);
            continue;
        }
        for (int64_t g = 0; g < s->group; g++) {
            j.group = g;
            if (s->pointwise) {
                j.rhs = j.x + g * s->cin_g * s->in_plane;
                j.x_k_stride = s->in_plane;
            } else {
                qp_parallel_for(ctx->n_threads, s->cin_g, im2col_range, &j);
                j.rhs = j.col;
                j.x_k_stride = s->out_plane;
            }
            qp_parallel_for(ctx->n_threads, s->n_chunks, gemm_range, &j);
        }
    }
    return QP_OK;
}

const qp_q8_op qp_q8_conv_op = {
    .op_type = "Conv", .data_inputs = data_in, .data_outputs = data_out, .can_fuse_activation = 1,
    .check = conv_check, .prepare = conv_prepare, .release = conv_release, .run = conv_run,
};
