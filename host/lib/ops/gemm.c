/* gemm.c — ONNX Gemm and MatMul in fp32 through OpenBLAS sgemm (numpy batch broadcasting for MatMul). */
#include <string.h>

#include "core/parallel.h"
#include "engine/op.h"
#include "kernels/fp32/f32_kernels.h"

#define NODE_FMT "node '%s' (%s): "
#define NODE_ARGS(node) (node)->name ? (node)->name : "", (node)->op_type

typedef struct gemm_job {
    const qp_f32_gemm_args *args;
    int n_blocks;
} gemm_job;

static void gemm_range(void *user, int64_t begin, int64_t end) {
    const gemm_job *job = user;
    for (int64_t b = begin; b < end; b++) qp_f32_gemm_block(job->args, (int)b, job->n_blocks);
}

/* sgemm on the engine's thread pool (see qp_f32_gemm_blocks for when it splits). */
static void parallel_gemm(const qp_f32_gemm_args *args, int n_threads) {
    gemm_job job = {args, qp_f32_gemm_blocks(args)};
    qp_parallel_for(n_threads, job.n_blocks, gemm_range, &job);
}

static qp_status need_float(const qp_op_context *ctx, int n) {
    for (int i = 0; i < n && i < ctx->n_inputs; i++)
        if (ctx->inputs[i] && ctx->inputs[i]->dtype != QP_DT_FLOAT)
            return qp_error(QP_ERR_UNSUPPORTED, NODE_FMT "input %d is %s; only float32 is implemented",
                            NODE_ARGS(ctx->node), i, qp_dtype_name(ctx->inputs[i]->dtype));
    return QP_OK;
}

/* --- Gemm: Y = alpha * A' * B' + beta * C, C broadcast to (M, N) --- */

typedef struct gemm_geom {
    int trans_a, trans_b;
    int64_t m, n, k;
    float alpha, beta;
    const qp_value *c;
} gemm_geom;

static qp_status gemm_geometry(const qp_op_context *ctx, gemm_geom *g) {
    const qp_node *node = ctx->node;
    if (ctx->n_inputs < 2 || !ctx->inputs[0] || !ctx->inputs[1])
        return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "needs inputs A and B", NODE_ARGS(node));
    qp_status st = need_float(ctx, 3);
    if (st != QP_OK) return st;
    const qp_value *a = ctx->inputs[0], *b = ctx->inputs[1];
    if (a->shape.rank != 2 || b->shape.rank != 2)
        return qp_error(QP_ERR_SHAPE, NODE_FMT "A and B must be 2-D (got ranks %d and %d)", NODE_ARGS(node),
                        a->shape.rank, b->shape.rank);
    g->trans_a = qp_node_attr_int(node, "transA", 0) != 0;
    g->trans_b = qp_node_attr_int(node, "transB", 0) != 0;
    g->alpha = qp_node_attr_float(node, "alpha", 1.0f);
    g->beta = qp_node_attr_float(node, "beta", 1.0f);
    g->m = a->shape.dims[g->trans_a ? 1 : 0];
    g->k = a->shape.dims[g->trans_a ? 0 : 1];
    int64_t kb = b->shape.dims[g->trans_b ? 1 : 0];
    g->n = b->shape.dims[g->trans_b ? 0 : 1];
    if (g->k != kb || g->m < 0 || g->n < 0 || g->k < 0) {
        char sa[64], sb[64];
        return qp_error(QP_ERR_SHAPE, NODE_FMT "A %s (transA=%d) and B %s (transB=%d) do not multiply",
                        NODE_ARGS(node), qp_shape_str(&a->shape, sa, sizeof sa), g->trans_a,
                        qp_shape_str(&b->shape, sb, sizeof sb), g->trans_b);
    }
    g->c = ctx->n_inputs > 2 ? ctx->inputs[2] : NULL;
    if (g->c) {
        const qp_shape *cs = &g->c->shape;
        int ok = cs->rank <= 2;
        int64_t target[2] = {g->m, g->n};
        for (int i = 0; ok && i < cs->rank; i++) {
            int64_t d = cs->dims[i], t = target[2 - cs->rank + i];
            ok = d == 1 || d == t;
        }
        if (!ok) {
            char sc[64];
            return qp_error(QP_ERR_SHAPE, NODE_FMT "C %s does not broadcast to [%lld,%lld]", NODE_ARGS(node),
                            qp_shape_str(cs, sc, sizeof sc), (long long)g->m, (long long)g->n);
        }
    }
    return QP_OK;
}

static qp_status gemm_infer(qp_op_context *ctx) {
    gemm_geom g = {0};
    qp_status st = gemm_geometry(ctx, &g);
    if (st != QP_OK) return st;
    qp_shape shape = {.rank = 2, .dims = {g.m, g.n}};
    qp_value_set(ctx->outputs[0], QP_DT_FLOAT, &shape);
    return QP_OK;
}

static qp_status gemm_run(qp_op_context *ctx) {
    gemm_geom g = {0};
    qp_status st = gemm_geometry(ctx, &g);
    if (st != QP_OK) return st;
    float *y = ctx->outputs[0]->data;
    if (g.m == 0 || g.n == 0) return QP_OK;
    int use_c = g.c && g.beta != 0.0f;
    if (use_c) {
        const float *c = g.c->data;
        const qp_shape *cs = &g.c->shape;
        int64_t rows = cs->rank == 2 ? cs->dims[0] : 1, cols = cs->rank >= 1 ? cs->dims[cs->rank - 1] : 1;
        for (int64_t i = 0; i < g.m; i++) {
            const float *c_row = c + (rows == 1 ? 0 : i) * cols;
            float *y_row = y + i * g.n;
            if (cols == 1)
                for (int64_t j = 0; j < g.n; j++) y_row[j] = g.beta * c_row[0];
            else
                for (int64_t j = 0; j < g.n; j++) y_row[j] = g.beta * c_row[j];
        }
    }
    if (g.k == 0) {
        if (!use_c) memset(y, 0, (size_t)(g.m * g.n) * sizeof(float));
        return QP_OK;
    }
    const float *a = ctx->inputs[0]->data, *b = ctx->inputs[1]->data;
    qp_f32_gemm_args mm = {.trans_a = g.trans_a, .trans_b = g.trans_b, .m = g.m, .n = g.n, .k = g.k,
                           .alpha = g.alpha, .a = a, .lda = g.trans_a ? g.m : g.k, .b = b,
                           .ldb = g.trans_b ? g.k : g.n, .beta = use_c ? 1.0f : 0.0f, .c = y, .ldc = g.n};
    parallel_gemm(&mm, ctx->n_threads);
    return QP_OK;
}

static const qp_op_def gemm_op = {.op_type = "Gemm", .domain = "", .infer = gemm_infer, .run = gemm_run};

/* --- MatMul: numpy matmul semantics --- */

typedef struct matmul_geom {
    int64_t m, n, k;
    int batch_rank;
    int64_t batch[QP_MAX_RANK];
    int64_t a_batch_stride[QP_MAX_RANK], b_batch_stride[QP_MAX_RANK]; /* in matrices; 0 = broadcast */
    int64_t batch_count;
    qp_shape out;
} matmul_geom;

static qp_status matmul_geometry(const qp_op_context *ctx, matmul_geom *g) {
    const qp_node *node = ctx->node;
    if (ctx->n_inputs < 2 || !ctx->inputs[0] || !ctx->inputs[1])
        return qp_error(QP_ERR_INVALID_MODEL, NODE_FMT "needs inputs A and B", NODE_ARGS(node));
    qp_status st = need_float(ctx, 2);
    if (st != QP_OK) return st;
    qp_shape a = ctx->inputs[0]->shape, b = ctx->inputs[1]->shape;
    if (a.rank < 1 || b.rank < 1)
        return qp_error(QP_ERR_SHAPE, NODE_FMT "operands must have rank >= 1", NODE_ARGS(node));
    /* 1-D operands: A is a row vector, B a column vector; the added dim is dropped afterwards */
    int a_vec = a.rank == 1, b_vec = b.rank == 1;
    if (a_vec) a = (qp_shape){.rank = 2, .dims = {1, a.dims[0]}};
    if (b_vec) b = (qp_shape){.rank = 2, .dims = {b.dims[0], 1}};
    g->m = a.dims[a.rank - 2];
    g->k = a.dims[a.rank - 1];
    g->n = b.dims[b.rank - 1];
    if (b.dims[b.rank - 2] != g->k) {
        char sa[128], sb[128];
        return qp_error(QP_ERR_SHAPE, NODE_FMT "inner dims differ: A %s, B %s", NODE_ARGS(node),
                        qp_shape_str(&ctx->inputs[0]->shape, sa, sizeof sa),
                        qp_shape_str(&ctx->inputs[1]->shape, sb, sizeof sb));
    }
    qp_shape ab = {.rank = a.rank - 2}, bb = {.rank = b.rank - 2}, batch;
    memcpy(ab.dims, a.dims, sizeof(int64_t) * (size_t)ab.rank);
    memcpy(bb.dims, b.dims, sizeof(int64_t) * (size_t)bb.rank);
    if ((st = qp_broadcast_shape(&ab, &bb, &batch)) != QP_OK)
        return qp_error_prefix(st, NODE_FMT "batch dims: ", NODE_ARGS(node));
    g->batch_rank = batch.rank;
    g->batch_count = 1;
    int64_t sa = 1, sb = 1;
    for (int i = batch.rank - 1; i >= 0; i--) {
        int ia = i - (batch.rank - ab.rank), ib = i - (batch.rank - bb.rank);
        int64_t da = ia >= 0 ? ab.dims[ia] : 1, db = ib >= 0 ? bb.dims[ib] : 1;
        g->batch[i] = batch.dims[i];
        g->a_batch_stride[i] = da == 1 ? 0 : sa;
        g->b_batch_stride[i] = db == 1 ? 0 : sb;
        sa *= da;
        sb *= db;
        g->batch_count *= batch.dims[i];
    }
    g->out = batch;
    if (!a_vec) g->out.dims[g->out.rank++] = g->m;
    if (!b_vec) g->out.dims[g->out.rank++] = g->n;
    return QP_OK;
}

static qp_status matmul_infer(qp_op_context *ctx) {
    matmul_geom g = {0};
    qp_status st = matmul_geometry(ctx, &g);
    if (st != QP_OK) return st;
    qp_value_set(ctx->outputs[0], QP_DT_FLOAT, &g.out);
    return QP_OK;
}

static qp_status matmul_run(qp_op_context *ctx) {
    matmul_geom g = {0};
    qp_status st = matmul_geometry(ctx, &g);
    if (st != QP_OK) return st;
    const float *a = ctx->inputs[0]->data, *b = ctx->inputs[1]->data;
    float *y = ctx->outputs[0]->data;
    const int64_t mk = g.m * g.k, kn = g.k * g.n, mn = g.m * g.n;
    if (mn == 0 || g.batch_count == 0) return QP_OK;
    if (g.k == 0) {
        memset(y, 0, (size_t)(mn * g.batch_count) * sizeof(float));
        return QP_OK;
    }
    int b_shared = 1, a_full = 1;
    int64_t expect = 1;
    for (int i = g.batch_rank - 1; i >= 0; i--) {
        if (g.b_batch_stride[i] != 0) b_shared = 0;
        if (g.batch[i] != 1 && g.a_batch_stride[i] != expect) a_full = 0;
        expect *= g.batch[i];
    }
    if (b_shared && a_full) {
        /* one B for every batch and A contiguous: a single sgemm with the batch folded into M */
        qp_f32_gemm_args mm = {.m = g.m * g.batch_count, .n = g.n, .k = g.k, .alpha = 1.0f, .a = a, .lda = g.k,
                               .b = b, .ldb = g.n, .beta = 0.0f, .c = y, .ldc = g.n};
        parallel_gemm(&mm, ctx->n_threads);
        return QP_OK;
    }
    int64_t idx[QP_MAX_RANK] = {0};
    for (int64_t t = 0; t < g.batch_count; t++) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < g.batch_rank; i++) {
            oa += idx[i] * g.a_batch_stride[i];
            ob += idx[i] * g.b_batch_stride[i];
        }
        qp_f32_gemm_args mm = {.m = g.m, .n = g.n, .k = g.k, .alpha = 1.0f, .a = a + oa * mk, .lda = g.k,
                               .b = b + ob * kn, .ldb = g.n, .beta = 0.0f, .c = y + t * mn, .ldc = g.n};
        parallel_gemm(&mm, ctx->n_threads);
        for (int i = g.batch_rank - 1; i >= 0; i--) {
            if (++idx[i] < g.batch[i]) break;
            idx[i] = 0;
        }
    }
    return QP_OK;
}

static const qp_op_def matmul_op = {.op_type = "MatMul", .domain = "", .infer = matmul_infer, .run = matmul_run};

const qp_op_def *const qp_ops_gemm[] = {&gemm_op, &matmul_op, NULL};
