/* q8_pool.c — int8 MaxPool, AveragePool and GlobalAveragePool over uint8 NCHW planes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "engine/int8_ops/q8_ops.h"

typedef struct pool_state {
    const qp_q8_config *cfg;
    int kind;                   /* 0 max, 1 average, 2 global average, 3 ReduceMean over trailing axes */
    qp_q8_window win;
    int64_t planes, in_plane, out_plane;
    uint8_t lo, hi;
    int count_include_pad;
    float *count_scale;         /* average: KH*KW + 1 entries */
    float global_scale;
    int32_t zx, zo;
    uint8_t table[256];         /* MaxPool between different encodings: re-encode the maximum */
    int requant_after;
    int64_t chunk;              /* planes per chunk */
    int64_t row_chunk;          /* output rows per chunk when one image's planes are split by rows */
    int n_row_chunks;           /* row chunks per plane chunk (1 = whole planes) */
    int n_chunks;               /* plane chunks x row chunks */
} pool_state;

static unsigned data_in(const qp_plan *plan, const qp_node *n) { (void)plan; (void)n; return 1u; }
static unsigned data_out(const qp_plan *plan, const qp_node *n) { (void)plan; (void)n; return 1u; }

/* ReduceMean over a trailing block of axes (the spatial mean of classifier heads) is a
 * GlobalAveragePool of outer x plane. */
static int reduce_geometry(const qp_q8_prep *p, pool_state *s, char *why, size_t cap) {
    const qp_shape *x = &p->inputs[0]->shape;
    int64_t axes[QP_MAX_RANK];
    int n_axes = 0;
    int count = 0;
    const int64_t *attr = qp_node_attr_ints(p->node, "axes", &count);
    if (attr) {
        for (int i = 0; i < count && i < QP_MAX_RANK; i++) axes[n_axes++] = attr[i];
    } else if (p->n_inputs > 1 && p->inputs[1]) {
        const qp_value *a = p->inputs[1];
        if (!a->data || a->dtype != QP_DT_INT64) {
            snprintf(why, cap, "axes known only at run time");
            return 0;
        }
        for (int64_t i = 0; i < qp_shape_numel(&a->shape) && n_axes < QP_MAX_RANK; i++)
            axes[n_axes++] = ((const int64_t *)a->data)[i];
    }
    if (n_axes == 0) {
        if (qp_node_attr_int(p->node, "noop_with_empty_axes", 0)) {
            snprintf(why, cap, "noop_with_empty_axes");
            return 0;
        }
        for (int d = 0; d < x->rank; d++) axes[n_axes++] = d;
    }
    unsigned mask = 0;
    for (int i = 0; i < n_axes; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + x->rank : axes[i];
        if (a < 0 || a >= x->rank) {
            snprintf(why, cap, "axis out of range");
            return 0;
        }
        mask |= 1u << a;
    }
    int first = x->rank - n_axes;
    if (mask != ((1u << x->rank) - 1) - ((1u << first) - 1)) {
        snprintf(why, cap, "int8 ReduceMean reduces trailing axes only");
        return 0;
    }
    s->planes = 1;
    s->in_plane = 1;
    for (int d = 0; d < first; d++) s->planes *= x->dims[d];
    for (int d = first; d < x->rank; d++) s->in_plane *= x->dims[d];
    s->out_plane = 1;
    if (qp_shape_numel(&p->outputs[0]->shape) != s->planes) {
        snprintf(why, cap, "output size differs from the reduction");
        return 0;
    }
    if (s->in_plane > (1 << 23) || s->in_plane < 1) {
        snprintf(why, cap, "reduction of %lld values", (long long)s->in_plane);
        return 0;
    }
    return 1;
}

static int window_of(const qp_q8_prep *p, int kind, pool_state *s, char *why, size_t cap) {
    const qp_shape *x = &p->inputs[0]->shape;
    if (kind == 3) return reduce_geometry(p, s, why, cap);
    if (x->rank < 3) {
        snprintf(why, cap, "input of rank %d", x->rank);
        return 0;
    }
    s->planes = x->dims[0] * x->dims[1];
    if (kind == 2) {
        s->in_plane = 1;
        for (int d = 2; d < x->rank; d++) s->in_plane *= x->dims[d];
        s->out_plane = 1;
        if (s->in_plane > (1 << 23)) {
            snprintf(why, cap, "plane of %lld values could overflow the int32 sum", (long long)s->in_plane);
            return 0;
        }
        return 1;
    }
    if (!qp_q8_read_window(p->node, x, NULL, 1, &s->win, why, cap)) return 0;
    s->in_plane = s->win.in_h * s->win.in_w;
    s->out_plane = s->win.out_h * s->win.out_w;
    if (qp_shape_numel(&p->outputs[0]->shape) != s->planes * s->out_plane) {
        snprintf(why, cap, "output shape differs from the int8 window");
        return 0;
    }
    if (kind == 1 && s->win.kernel_h * s->win.kernel_w > (1 << 23)) {
        snprintf(why, cap, "window too large");
        return 0;
    }
    return 1;
}

static int check_kind(const qp_q8_prep *p, int kind, char *why, size_t cap) {
    pool_state s;
    memset(&s, 0, sizeof s);
    if (kind == 0 && p->n_outputs > 1 && p->outputs[1]) {
        snprintf(why, cap, "the Indices output");
        return 0;
    }
    return window_of(p, kind, &s, why, cap);
}
static int max_check(const qp_q8_prep *p, char *why, size_t cap) { return check_kind(p, 0, why, cap); }
static int avg_check(const qp_q8_prep *p, char *why, size_t cap) { return check_kind(p, 1, why, cap); }
static int gap_check(const qp_q8_prep *p, char *why, size_t cap) { return check_kind(p, 2, why, cap); }
static int reduce_check(const qp_q8_prep *p, char *why, size_t cap) { return check_kind(p, 3, why, cap); }

static void pool_release(void *state) {
    pool_state *s = state;
    if (!s) return;
    free(s->count_scale);
    free(s);
}

static qp_status prepare_kind(const qp_q8_prep *p, int kind, void **state, size_t *scratch_bytes) {
    char why[200];
    pool_state *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "out of memory");
    s->kind = kind;
    if (!window_of(p, kind, s, why, sizeof why)) {
        free(s);
        return qp_error(QP_ERR_INTERNAL, "%s", why);
    }
    s->cfg = qp_q8_get_config();
    const qp_q8_act *xa = &p->in_act[0], *ya = &p->out_act[0];
    s->zx = xa->zero_point;
    s->zo = ya->zero_point;
    s->lo = (uint8_t)p->out_lo;
    s->hi = (uint8_t)p->out_hi;
    qp_status st = QP_OK;
    if (kind == 0) {
        /* The maximum commutes with re-encoding (a monotone table), so take it in the input's
         * codes and re-encode once; the kernel's clamp stays the input's range. */
        s->requant_after = !qp_q8_requant_table(xa, ya, s->table);
        s->lo = (uint8_t)xa->qmin;
        s->hi = (uint8_t)xa->qmax;
    } else if (kind == 1) {
        int64_t taps = s->win.kernel_h * s->win.kernel_w;
        s->count_include_pad = qp_node_attr_int(p->node, "count_include_pad", 0) != 0;
        s->count_scale = malloc((size_t)(taps + 1) * sizeof *s->count_scale);
        st = s->count_scale ? qp_u8_avgpool_scale_table(xa->scale, ya->scale, taps, s->count_scale)
                              : qp_error(QP_ERR_NOMEM, "out of memory");
    } else {
        st = qp_q8_mean_requant(p->node, xa->scale, ya->scale, s->in_plane, &s->global_scale);
    }
    if (st != QP_OK) {
        pool_release(s);
        return st;
    }
    /* Few planes for the threads (a chunk of channels would leave threads idle or unbalanced):
     * split every plane by output rows instead. Any partition gives the same bytes. */
    s->n_row_chunks = 1;
    if (kind < 2 && p->n_threads > 1 && s->planes < 4 * (int64_t)p->n_threads && s->win.out_h > 1) {
        s->n_chunks = qp_q8_chunks(s->planes, 1, 1, &s->chunk);
        s->n_row_chunks = qp_q8_chunks(s->win.out_h, p->n_threads, 1, &s->row_chunk);
        s->n_chunks *= s->n_row_chunks;
    } else {
        /* A global pool of a small map (MobileNetV2's 1280 x 7 x 7, ~4 us of reads) gained
         * nothing from a second thread: one thread skips the job and the cross-core reads. */
        const int threads = kind == 2 ? qp_q8_threads_for(p->n_threads, s->planes * s->in_plane, 64 * 1024) : p->n_threads;
        s->n_chunks = qp_q8_chunks(s->planes, threads, 1, &s->chunk);
    }
    *scratch_bytes = 0;
    *state = s;
    return QP_OK;
}
static qp_status max_prepare(const qp_q8_prep *p, void **st, size_t *sb) { return prepare_kind(p, 0, st, sb); }
static qp_status avg_prepare(const qp_q8_prep *p, void **st, size_t *sb) { return prepare_kind(p, 1, st, sb); }
static qp_status gap_prepare(const qp_q8_prep *p, void **st, size_t *sb) { return prepare_kind(p, 2, st, sb); }
static qp_status reduce_prepare(const qp_q8_prep *p, void **st, size_t *sb) { return prepare_kind(p, 3, st, sb); }

typedef struct pool_job {
    const pool_state *s;
    const uint8_t *x;
    uint8_t *y;
} pool_job;

static void pool_range(void *user, int64_t begin, int64_t end) {
    const pool_job *j = user;
    const pool_state *s = j->s;
    for (int64_t c = begin; c < end; c++) {
        int64_t pc = c / s->n_row_chunks, rc = c % s->n_row_chunks;
        int64_t p0 = pc * s->chunk, np = s->planes - p0 < s->chunk ? s->planes - p0 : s->chunk;
        int64_t r0 = 0, r1 = 0; /* 0, 0 = all rows */
        if (s->n_row_chunks > 1) {
            r0 = rc * s->row_chunk;
            r1 = r0 + s->row_chunk < s->win.out_h ? r0 + s->row_chunk : s->win.out_h;
        }
        const uint8_t *x = j->x + p0 * s->in_plane;
        uint8_t *y = j->y + p0 * s->out_plane;
        if (s->kind >= 2) {
            qp_u8_global_avgpool_args a = {.channels = np, .plane = s->in_plane, .input = x, .output = y,
                                           .scale = s->global_scale, .input_zero_point = s->zx,
                                           .out_zero_point = s->zo, .qmin = s->lo, .qmax = s->hi};
            s->cfg->global_avgpool(&a);
            continue;
        }
        qp_u8_pool_args a = {.win = s->win, .channels = np, .input = x, .output = y, .qmin = s->lo, .qmax = s->hi,
                             .count_include_pad = s->count_include_pad, .count_scale = s->count_scale,
                             .input_zero_point = s->zx, .out_zero_point = s->zo, .row_begin = r0, .row_end = r1};
        if (s->kind == 0) {
            s->cfg->maxpool(&a);
            if (s->requant_after && s->n_row_chunks == 1) s->cfg->lut(np * s->out_plane, s->table, y, y);
            else if (s->requant_after) /* only this chunk's rows are written */
                for (int64_t q = 0; q < np; q++) {
                    uint8_t *rows = y + q * s->out_plane + r0 * s->win.out_w;
                    s->cfg->lut((r1 - r0) * s->win.out_w, s->table, rows, rows);
                }
        } else {
            s->cfg->avgpool(&a);
        }
    }
}

static qp_status pool_run(qp_op_context *ctx) {
    const pool_state *s = ctx->state;
    pool_job j = {s, ctx->inputs[0]->data, ctx->outputs[0]->data};
    qp_parallel_for(ctx->n_threads, s->n_chunks, pool_range, &j);
    return QP_OK;
}

const qp_q8_op qp_q8_maxpool_op = {
    .op_type = "MaxPool", .data_inputs = data_in, .data_outputs = data_out,
    .check = max_check, .prepare = max_prepare, .release = pool_release, .run = pool_run,
};
const qp_q8_op qp_q8_avgpool_op = {
    .op_type = "AveragePool", .data_inputs = data_in, .data_outputs = data_out,
    .check = avg_check, .prepare = avg_prepare, .release = pool_release, .run = pool_run,
};
const qp_q8_op qp_q8_global_avgpool_op = {
    .op_type = "GlobalAveragePool", .data_inputs = data_in, .data_outputs = data_out,
    .check = gap_check, .prepare = gap_prepare, .release = pool_release, .run = pool_run,
};
const qp_q8_op qp_q8_reduce_mean_op = {
    .op_type = "ReduceMean", .data_inputs = data_in, .data_outputs = data_out,
    .check = reduce_check, .prepare = reduce_prepare, .release = pool_release, .run = pool_run,
};
