/* q8_gemm.c — int8 Gemm and MatMul with constant weights: packed u8s8 GEMM over the rows of A, per-output-column requant, fused clamp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "engine/int8_ops/q8_ops.h"

typedef struct gemm_state {
    const qp_q8_config *cfg;
    int64_t rows, n, k;         /* A is rows x k; the output rows x n */
    void *packed;
    float *scale;               /* [n] requantization scales */
    int32_t zo;
    uint8_t lo, hi;
    int64_t chunk;              /* weight rows (outputs) per chunk */
    int n_chunks;
    size_t thread_scratch;
} gemm_state;

static unsigned data_in(const qp_plan *plan, const qp_node *n) { (void)plan; (void)n; return 1u; }
static unsigned data_out(const qp_plan *plan, const qp_node *n) { (void)plan; (void)n; return 1u; }

/* Geometry: fills rows/n/k and whether B is [N, K] (trans_b). */
static int geometry(const qp_q8_prep *p, int is_gemm, gemm_state *s, int *trans_b, char *why, size_t cap) {
    const qp_value *a = p->inputs[0], *b = p->inputs[1];
    const qp_encoding *we = p->in_enc[1];
    if (b->shape.rank != 2 || a->shape.rank < 2) {
        snprintf(why, cap, "int8 %s takes A of rank >= 2 and a 2-D constant B", p->node->op_type);
        return 0;
    }
    *trans_b = 0;
    if (is_gemm) {
        if (a->shape.rank != 2 || qp_node_attr_int(p->node, "transA", 0) != 0) {
            snprintf(why, cap, "transA = 1");
            return 0;
        }
        if (qp_node_attr_float(p->node, "alpha", 1.0f) != 1.0f || qp_node_attr_float(p->node, "beta", 1.0f) != 1.0f) {
            snprintf(why, cap, "alpha or beta other than 1");
            return 0;
        }
        *trans_b = qp_node_attr_int(p->node, "transB", 0) != 0;
    }
    s->k = a->shape.dims[a->shape.rank - 1];
    s->n = b->shape.dims[*trans_b ? 0 : 1];
    if (b->shape.dims[*trans_b ? 1 : 0] != s->k || s->k < 1 || s->n < 1) {
        snprintf(why, cap, "A and B do not multiply");
        return 0;
    }
    s->rows = qp_shape_numel(&a->shape) / s->k;
    if (qp_shape_numel(&p->outputs[0]->shape) != s->rows * s->n) {
        snprintf(why, cap, "output shape differs from A x B");
        return 0;
    }
    if (!we || !we->symmetric || we->bits > 8) {
        snprintf(why, cap, "weight B needs a symmetric encoding of at most 8 bits");
        return 0;
    }
    int axis = *trans_b ? 0 : 1;
    if (we->n != 1 && (we->axis != axis || we->n != s->n)) {
        snprintf(why, cap, "weight encoding must be per-tensor or per output column (axis %d)", axis);
        return 0;
    }
    for (int c = 0; c < we->n; c++)
        if (we->zero_point[c] != 0) {
            snprintf(why, cap, "weight encoding has a non-zero zero point");
            return 0;
        }
    const qp_value *c = p->n_inputs > 2 ? p->inputs[2] : NULL;
    if (c) {
        int64_t cn = qp_shape_numel(&c->shape);
        int ok = c->dtype == QP_DT_FLOAT && c->shape.rank <= 2 && (cn == 1 || cn == s->n) &&
                 (c->shape.rank < 2 || c->shape.dims[0] == 1);
        if (!ok) {
            snprintf(why, cap, "bias C must be per output column ([N] or [1, N])");
            return 0;
        }
    }
    if (s->k > 65793) {
        snprintf(why, cap, "reduction of %lld terms could overflow int32", (long long)s->k);
        return 0;
    }
    return 1;
}

static int check_common(const qp_q8_prep *p, int is_gemm, char *why, size_t cap) {
    gemm_state s;
    int trans_b;
    memset(&s, 0, sizeof s);
    return geometry(p, is_gemm, &s, &trans_b, why, cap);
}
static int gemm_check(const qp_q8_prep *p, char *why, size_t cap) { return check_common(p, 1, why, cap); }
static int matmul_check(const qp_q8_prep *p, char *why, size_t cap) { return check_common(p, 0, why, cap); }

static void gemm_release(void *state) {
    gemm_state *s = state;
    if (!s) return;
    free(s->packed);
    free(s->scale);
    free(s);
}

static qp_status prepare_common(const qp_q8_prep *p, int is_gemm, void **state, size_t *scratch_bytes) {
    char why[200];
    int trans_b;
    gemm_state *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "out of memory");
    if (!geometry(p, is_gemm, s, &trans_b, why, sizeof why)) {
        free(s);
        return qp_error(QP_ERR_INTERNAL, "%s", why);
    }
    s->cfg = qp_q8_get_config();
    const qp_encoding *we = p->in_enc[1];
    const qp_q8_act *xa = &p->in_act[0], *ya = &p->out_act[0];
    const qp_value *c = p->n_inputs > 2 ? p->inputs[2] : NULL;
    s->zo = ya->zero_point;
    s->lo = (uint8_t)p->out_lo;
    s->hi = (uint8_t)p->out_hi;
    int64_t wn = s->n * s->k;
    int8_t *wq = malloc((size_t)wn), *rows = malloc((size_t)wn);
    int32_t *bias = calloc((size_t)s->n, sizeof *bias);
    s->scale = malloc((size_t)s->n * sizeof *s->scale);
    qp_status st = wq && rows && bias && s->scale ? QP_OK : qp_error(QP_ERR_NOMEM, "out of memory");
    if (st == QP_OK) {
        /* Quantize in B's own layout (channel = output column), then lay rows out as [n][k]. */
        qp_q8_quantize_weights(p->inputs[1]->data, wn, trans_b ? s->k : 1, we->n, we, wq);
        for (int64_t o = 0; o < s->n; o++)
            for (int64_t i = 0; i < s->k; i++) rows[o * s->k + i] = trans_b ? wq[o * s->k + i] : wq[i * s->n + o];
        if (c) qp_q8_quantize_bias(c->data, qp_shape_numel(&c->shape), s->n, xa->scale, we, bias, NULL);
        for (int64_t o = 0; o < s->n && st == QP_OK; o++)
            st = qp_q8_requant(p->node, xa->scale, we->scale[we->n == 1 ? 0 : o], ya->scale, &s->scale[o]);
    }
    if (st == QP_OK) st = qp_u8s8_gemm_fold_bias(s->n, s->k, rows, s->k, bias, xa->zero_point, bias);
    if (st == QP_OK) {
        const qp_u8s8_gemm_variant *gv = s->cfg->gemm;
        s->packed = aligned_alloc(64, (gv->pack_size(s->n, s->k) + 63) / 64 * 64);
        if (!s->packed) st = qp_error(QP_ERR_NOMEM, "out of memory packing weights");
        else gv->pack(s->n, s->k, rows, s->k, bias, s->packed);
        s->n_chunks = qp_q8_chunks(s->n, p->n_threads, gv->mr, &s->chunk);
        s->thread_scratch = (gv->scratch_size(s->k, s->rows) + 63) / 64 * 64;
    }
    free(wq);
    free(rows);
    free(bias);
    if (st != QP_OK) {
        gemm_release(s);
        return st;
    }
    *scratch_bytes = s->thread_scratch * (size_t)(s->n_chunks > 0 ? s->n_chunks : 1);
    *state = s;
    return QP_OK;
}
static qp_status gemm_prepare(const qp_q8_prep *p, void **state, size_t *scratch) {
    return prepare_common(p, 1, state, scratch);
}
static qp_status matmul_prepare(const qp_q8_prep *p, void **state, size_t *scratch) {
    return prepare_common(p, 0, state, scratch);
}

typedef struct gemm_job {
    const gemm_state *s;
    const uint8_t *a;
    uint8_t *y;
    uint8_t *scratch;
} gemm_job;

static void gemm_range(void *user, int64_t begin, int64_t end) {
    const gemm_job *j = user;
    const gemm_state *s = j->s;
    for (int64_t c = begin; c < end; c++) {
        int64_t m0 = c * s->chunk, m1 = m0 + s->chunk < s->n ? m0 + s->chunk : s->n;
        qp_u8s8_gemm_args a = {
            .m = s->n, .n = s->rows, .k = s->k, .m_begin = m0, .m_end = m1, .packed_w = s->packed,
            .x = j->a, .x_k_stride = 1, .x_n_stride = s->k,
            .out = j->y, .out_m_stride = 1, .out_n_stride = s->n,
            .scale = s->scale, .out_zero_point = s->zo, .qmin = s->lo, .qmax = s->hi,
            .scratch = j->scratch + (size_t)c * s->thread_scratch,
        };
        s->cfg->gemm->run(&a);
    }
}

static qp_status gemm_run(qp_op_context *ctx) {
    const gemm_state *s = ctx->state;
    gemm_job j = {s, ctx->inputs[0]->data, ctx->outputs[0]->data, ctx->scratch};
    qp_parallel_for(ctx->n_threads, s->n_chunks, gemm_range, &j);
    return QP_OK;
}

const qp_q8_op qp_q8_gemm_op = {
    .op_type = "Gemm", .data_inputs = data_in, .data_outputs = data_out, .can_fuse_activation = 1,
    .check = gemm_check, .prepare = gemm_prepare, .release = gemm_release, .run = gemm_run,
};

const qp_q8_op qp_q8_matmul_op = {
    .op_type = "MatMul", .data_inputs = data_in, .data_outputs = data_out, .can_fuse_activation = 1,
    .check = matmul_check, .prepare = matmul_prepare, .release = gemm_release, .run = gemm_run,
};
