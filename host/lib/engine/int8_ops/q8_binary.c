/* q8_binary.c — int8 elementwise binary ops: Add and Mul of two uint8 tensors with numpy broadcasting, and any Add/Sub/Mul/Div/Pow/Max/Min with a scalar constant as a lookup table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "engine/int8_ops/q8_ops.h"

typedef enum binary_mode { MODE_TABLE, MODE_ADD, MODE_MUL } binary_mode;

/* The broadcast collapsed to `rank` dims (adjacent dims merged where both inputs broadcast
 * alike), with element strides of a and b per dim (0 = broadcast). */
typedef struct binary_state {
    const qp_q8_config *cfg;
    binary_mode mode;
    /* MODE_TABLE */
    int data_index;
    uint8_t table[256];
    /* MODE_ADD / MODE_MUL: the kernels' exactly rounded Add and Mul */
    qp_u8_add_params add;
    qp_u8_mul_params mul;
    uint8_t lo, hi;
    int rank;
    int64_t dims[QP_MAX_RANK];
    int64_t sa[QP_MAX_RANK], sb[QP_MAX_RANK];
    int64_t rows, inner;      /* the output as rows x inner (inner = last collapsed dim) */
    int64_t chunk;            /* rows per chunk, or inner elements per chunk when rows == 1 */
    int n_chunks;
} binary_state;

/* Input k is a scalar known at plan time (turns the op into a table of the other input). */
static int const_scalar(const qp_plan *plan, const qp_node *n, int k) {
    int t = k < n->n_inputs ? n->inputs[k] : -1;
    return t >= 0 && plan->is_const[t] && plan->values[t].dtype == QP_DT_FLOAT &&
           qp_shape_numel(&plan->values[t].shape) == 1;
}

static int table_input(const qp_plan *plan, const qp_node *n) {
    if (n->n_inputs != 2) return -1;
    int c0 = const_scalar(plan, n, 0), c1 = const_scalar(plan, n, 1);
    if (c0 == c1) return -1;
    return c0 ? 1 : 0;
}

static unsigned data_in(const qp_plan *plan, const qp_node *n) {
    int k = table_input(plan, n);
    return k >= 0 ? 1u << k : 3u;
}
static unsigned data_out(const qp_plan *plan, const qp_node *n) {
    (void)plan;
    (void)n;
    return 1u;
}

static void collapse(const qp_shape *out, const qp_shape *a, const qp_shape *b, binary_state *s) {
    int r = out->rank;
    int64_t da[QP_MAX_RANK], db[QP_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        da[i] = ia >= 0 ? a->dims[ia] : 1;
        db[i] = ib >= 0 ? b->dims[ib] : 1;
    }
    /* Drop dims of size 1; merge neighbours with the same broadcast pattern. */
    int n = 0, pat_prev = -1;
    for (int i = 0; i < r; i++) {
        if (out->dims[i] == 1) continue;
        int pat = (da[i] != 1) | ((db[i] != 1) << 1);
        if (n > 0 && pat == pat_prev) {
            s->dims[n - 1] *= out->dims[i];
        } else {
            s->dims[n] = out->dims[i];
            s->sa[n] = pat & 1;
            s->sb[n] = (pat >> 1) & 1;
            n++;
            pat_prev = pat;
        }
    }
    if (n == 0) {
        s->dims[0] = 1;
        s->sa[0] = s->sb[0] = 0;
        n = 1;
    }
    int64_t stride_a = 1, stride_b = 1; /* 0/1 flags -> element strides, innermost first */
    for (int i = n - 1; i >= 0; i--) {
        int64_t fa = s->sa[i], fb = s->sb[i];
        s->sa[i] = fa ? stride_a : 0;
        s->sb[i] = fb ? stride_b : 0;
        if (fa) stride_a *= s->dims[i];
        if (fb) stride_b *= s->dims[i];
    }
    s->rank = n;
    s->inner = s->dims[n - 1];
    s->rows = 1;
    for (int i = 0; i < n - 1; i++) s->rows *= s->dims[i];
}

static int binary_check(const qp_q8_prep *p, char *why, size_t cap) {
    const char *op = p->node->op_type;
    if (p->n_inputs != 2 || !p->inputs[0] || !p->inputs[1]) {
        snprintf(why, cap, "%d inputs", p->n_inputs);
        return 0;
    }
    int k = table_input(p->plan, p->node);
    if (k >= 0) {
        uint8_t table[256];
        if (qp_shape_numel(&p->inputs[k]->shape) != qp_shape_numel(&p->outputs[0]->shape)) {
            snprintf(why, cap, "the scalar broadcasts the output beyond the data input");
            return 0;
        }
        if (qp_q8_unary_table(p, k, table) != QP_OK) {
            snprintf(why, cap, "cannot tabulate %s: %s", op, qp_error_message());
            qp_error_clear();
            return 0;
        }
        return 1;
    }
    if (strcmp(op, "Add") != 0 && strcmp(op, "Mul") != 0) {
        snprintf(why, cap, "int8 %s takes a scalar constant operand only", op);
        return 0;
    }
    const qp_shape *o = &p->outputs[0]->shape, *a = &p->inputs[0]->shape, *b = &p->inputs[1]->shape;
    if (a->rank > o->rank || b->rank > o->rank) {
        snprintf(why, cap, "inputs of higher rank than the output");
        return 0;
    }
    return 1;
}

static void binary_release(void *state) { free(state); }

static qp_status binary_prepare(const qp_q8_prep *p, void **state, size_t *scratch_bytes) {
    binary_state *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "out of memory");
    s->cfg = qp_q8_get_config();
    s->lo = (uint8_t)p->out_lo;
    s->hi = (uint8_t)p->out_hi;
    *scratch_bytes = 0;
    qp_status st = QP_OK;
    int k = table_input(p->plan, p->node);
    if (k >= 0) {
        s->mode = MODE_TABLE;
        s->data_index = k;
        st = qp_q8_unary_table(p, k, s->table);
        for (int q = 0; q < 256; q++) /* a fused Relu/Clip narrows the table */
            s->table[q] = s->table[q] < s->lo ? s->lo : s->table[q] > s->hi ? s->hi : s->table[q];
        s->n_chunks = qp_q8_chunks(qp_shape_numel(&p->outputs[0]->shape), p->n_threads, 16384, &s->chunk);
    } else {
        const qp_q8_act *a = &p->in_act[0], *b = &p->in_act[1], *o = &p->out_act[0];
        /* A small Add (MobileNetV2's residuals: 8K-75K bytes, 1-5 us) is memory-bound: shared,
         * its second thread fetches its operands from the other core's cache and it ran slower
         * on two threads than on one. */
        const int threads = qp_q8_threads_for(p->n_threads, qp_shape_numel(&p->outputs[0]->shape), 64 * 1024);
        if (strcmp(p->node->op_type, "Add") == 0) {
            s->mode = MODE_ADD;
            st = qp_u8_add_params_init(a->scale, a->zero_point, b->scale, b->zero_point, o->scale, o->zero_point,
                                       s->lo, s->hi, &s->add);
        } else {
            s->mode = MODE_MUL;
            st = qp_u8_mul_params_init(a->scale, a->zero_point, b->scale, b->zero_point, o->scale, o->zero_point,
                                       s->lo, s->hi, &s->mul);
        }
        collapse(&p->outputs[0]->shape, &p->inputs[0]->shape, &p->inputs[1]->shape, s);
        if (s->rows > 1) s->n_chunks = qp_q8_chunks(s->rows, threads, 1, &s->chunk);
        else s->n_chunks = qp_q8_chunks(s->inner, threads, 4096, &s->chunk);
    }
    if (st != QP_OK) {
        free(s);
        return st;
    }
    *state = s;
    return QP_OK;
}

typedef struct binary_job {
    const binary_state *s;
    const uint8_t *a, *b;
    uint8_t *y;
} binary_job;

static void run_row(const binary_state *s, int64_t n, const uint8_t *a, const uint8_t *b, uint8_t *y) {
    int last = s->rank - 1;
    if (s->mode == MODE_ADD) {
        qp_u8_add_args args = {.outer = 1, .mid = 1, .inner = n, .a = a, .a_stride = {0, 0, s->sa[last]}, .b = b,
                               .b_stride = {0, 0, s->sb[last]}, .out = y, .params = &s->add};
        s->cfg->add(&args);
    } else {
        qp_u8_mul_args args = {.outer = 1, .mid = 1, .inner = n, .a = a, .a_stride = {0, 0, s->sa[last]}, .b = b,
                               .b_stride = {0, 0, s->sb[last]}, .out = y, .params = &s->mul};
        s->cfg->mul(&args);
    }
}

static void binary_range(void *user, int64_t begin, int64_t end) {
    const binary_job *j = user;
    const binary_state *s = j->s;
    int last = s->rank - 1;
    for (int64_t c = begin; c < end; c++) {
        int64_t r0 = c * s->chunk, r1 = r0 + s->chunk < s->rows ? r0 + s->chunk : s->rows;
        for (int64_t r = r0; r < r1; r++) {
            int64_t rem = r, oa = 0, ob = 0;
            for (int d = last - 1; d >= 0; d--) {
                int64_t idx = rem % s->dims[d];
                rem /= s->dims[d];
                oa += idx * s->sa[d];
                ob += idx * s->sb[d];
            }
            run_row(s, s->inner, j->a + oa, j->b + ob, j->y + r * s->inner);
        }
    }
}

typedef struct flat_job {
    const binary_state *s;
    const uint8_t *a, *b;
    uint8_t *y;
    int64_t n;
} flat_job;

static void flat_range(void *user, int64_t begin, int64_t end) {
    const flat_job *j = user;
    const binary_state *s = j->s;
    int last = s->rank - 1;
    for (int64_t c = begin; c < end; c++) {
        int64_t i0 = c * s->chunk, n = j->n - i0 < s->chunk ? j->n - i0 : s->chunk;
        if (s->mode == MODE_TABLE) s->cfg->lut(n, s->table, j->a + i0, j->y + i0);
        else run_row(s, n, j->a + i0 * s->sa[last], j->b + i0 * s->sb[last], j->y + i0);
    }
}

static qp_status binary_run(qp_op_context *ctx) {
    const binary_state *s = ctx->state;
    uint8_t *y = ctx->outputs[0]->data;
    if (s->mode == MODE_TABLE) {
        flat_job j = {s, ctx->inputs[s->data_index]->data, NULL, y, (int64_t)ctx->outputs[0]->nbytes};
        qp_parallel_for(ctx->n_threads, s->n_chunks, flat_range, &j);
    } else if (s->rows == 1) {
        flat_job j = {s, ctx->inputs[0]->data, ctx->inputs[1]->data, y, s->inner};
        qp_parallel_for(ctx->n_threads, s->n_chunks, flat_range, &j);
    } else {
        binary_job j = {s, ctx->inputs[0]->data, ctx->inputs[1]->data, y};
        qp_parallel_for(ctx->n_threads, s->n_chunks, binary_range, &j);
    }
    return QP_OK;
}

#define BINARY_OP(NAME, TYPE)                                                                        \
    const qp_q8_op NAME = {.op_type = TYPE, .data_inputs = data_in, .data_outputs = data_out,          \
                           .can_fuse_activation = 1, .check = binary_check, .prepare = binary_prepare, \
                           .release = binary_release, .run = binary_run}
BINARY_OP(qp_q8_add_op, "Add");
BINARY_OP(qp_q8_mul_op, "Mul");
BINARY_OP(qp_q8_sub_op, "Sub");
BINARY_OP(qp_q8_div_op, "Div");
BINARY_OP(qp_q8_pow_op, "Pow");
BINARY_OP(qp_q8_max_op, "Max");
BINARY_OP(qp_q8_min_op, "Min");
