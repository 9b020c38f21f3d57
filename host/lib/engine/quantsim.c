/* quantsim.c — QUANTSIM mode (float compute, quantize->dequantize at every quantized tensor) and the conversion steps both quantized modes run. */
/* The element loops below clamp with comparisons; without trapping math GCC turns them into
 * selects and vectorizes (no FP exception is ever trapped, and results do not change). Placed
 * before the includes so the inline helpers from the headers get the same options and inline. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "engine/int8_ops/q8_ops.h"
#include "kernels/int8/q8_add.h"
#include "engine/plan_internal.h"
#include "ops/ops_common_util.h"

int qp_q8_act_from_encoding(const qp_encoding *enc, qp_q8_act *act) {
    if (!enc || enc->n != 1 || enc->bits > 8 || enc->bits < 2) return 0;
    int32_t qmin, qmax;
    qp_quant_range(enc->bits, enc->symmetric, &qmin, &qmax);
    int32_t shift = enc->symmetric ? 128 : 0;
    act->scale = enc->scale[0];
    act->zero_point = enc->zero_point[0] + shift;
    act->qmin = qmin + shift;
    act->qmax = qmax + shift;
    return act->zero_point >= 0 && act->zero_point <= 255 && act->qmin >= 0 && act->qmax <= 255 && act->scale > 0;
}

qp_status qp_check_encoding_shape(const qp_graph *g, int tensor_id, const qp_encoding *enc, const qp_shape *shape) {
    if (enc->n == 1 && enc->axis < 0) return QP_OK;
    char buf[128];
    if (enc->axis < 0 || enc->axis >= shape->rank || shape->dims[enc->axis] != enc->n)
        return qp_error(QP_ERR_SHAPE, "tensor '%s': encoding has %d channel%s on axis %d but the tensor has shape %s",
                        g->tensors[tensor_id]->name, enc->n, enc->n == 1 ? "" : "s", enc->axis,
                        qp_shape_str(shape, buf, sizeof buf));
    return QP_OK;
}

/* --- conversions ------------------------------------------------------------------------ */

typedef struct fq_job {
    const qp_encoding *enc;
    const float *src;
    float *dst;
    int64_t inner, n_ch; /* element i is in channel (i / inner) % n_ch */
} fq_job;

/* qp_fake_quant with the rounding inlined (same results: half to even). */
static inline float fake_quant(float x, float scale, float zp, float qmin, float qmax) {
    float q = qp_round_half_even(x / scale) + zp;
    q = q < qmin ? qmin : q > qmax ? qmax : q;
    return (q - zp) * scale;
}

static void fq_range(void *user, int64_t begin, int64_t end) {
    const fq_job *j = user;
    int32_t qmin, qmax;
    qp_quant_range(j->enc->bits, j->enc->symmetric, &qmin, &qmax);
    const float lo = (float)qmin, hi = (float)qmax;
    int64_t c = j->n_ch > 1 ? (begin / j->inner) % j->n_ch : 0, pos = j->n_ch > 1 ? begin % j->inner : 0;
    int64_t block = j->n_ch > 1 ? j->inner : end - begin;
    for (int64_t i = begin; i < end;) {
        int64_t stop = i + (block - pos) < end ? i + (block - pos) : end; /* to the channel's end */
        const float s = j->enc->scale[c], zp = (float)j->enc->zero_point[c];
        for (; i < stop; i++) j->dst[i] = fake_quant(j->src[i], s, zp, lo, hi);
        pos = 0;
        if (j->n_ch > 1 && ++c == j->n_ch) c = 0;
    }
}

/* Elementwise work split in chunks of at least 16K items, so small tensors stay on one thread
 * (and the partition only depends on the size and the thread count). */
static void parallel_elements(int n_threads, int64_t n, qp_range_fn fn, void *user) {
    const int64_t grain = 16384;
    int64_t chunks = n / grain;
    if (chunks < 1) chunks = 1;
    if (n_threads > chunks) n_threads = (int)chunks;
    qp_parallel_for(n_threads, n, fn, user);
}

void qp_fake_quant_tensor(const qp_encoding *enc, const qp_shape *shape, const float *src, float *dst,
                          int n_threads) {
    fq_job j = {enc, src, dst, 1, 1};
    if (enc->n > 1 || enc->axis >= 0) {
        j.n_ch = enc->n;
        for (int d = enc->axis + 1; d < shape->rank; d++) j.inner *= shape->dims[d];
    }
    parallel_elements(n_threads, qp_shape_numel(shape), fq_range, &j);
}

/* Graph-input and fp32-fallback conversions go through the kernels' float <-> u8 variants
 * (config->quantize / dequantize), bit-identical to qp_q8_quantize / qp_q8_dequantize but SIMD. */
typedef struct q_job {
    const qp_q8_config *cfg;
    qp_u8_convert_params params;
    float *f;
    uint8_t *q;
    int fq_in_place;
} q_job;

static qp_u8_convert_params convert_params(const qp_q8_act *a) {
    qp_u8_convert_params p = {a->scale, a->zero_point, (uint8_t)a->qmin, (uint8_t)a->qmax};
    return p;
}

static void quantize_range(void *user, int64_t begin, int64_t end) {
    const q_job *j = user;
    j->cfg->quantize(end - begin, j->f + begin, &j->params, j->q + begin);
    if (j->fq_in_place) j->cfg->dequantize(end - begin, j->q + begin, &j->params, j->f + begin);
}

static void dequantize_range(void *user, int64_t begin, int64_t end) {
    const q_job *j = user;
    j->cfg->dequantize(end - begin, j->q + begin, &j->params, j->f + begin);
}

/* --- QUANTSIM's exact simulation of the int8 arithmetic ------------------------------------
 * Float sums of dequantized products round differently from the integer engine near ties, and
 * in deep networks one such flip spreads to many outputs downstream. For the nodes the int8
 * engine runs with integer arithmetic (Conv, Gemm, MatMul, GlobalAveragePool, ReduceMean),
 * QUANTSIM therefore computes in the integer domain: the fp32 op runs on integer-valued floats
 * (code - zero point, integer weights), which float sums hold exactly up to 2^24, and the output
 * is requantized with the int8 engine's own float scales (kernels/int8/requant.h). Add and Mul
 * call the kernels' own per-element functions (qp_u8_add_one / qp_u8_mul_one, q8_add.h). */

typedef struct requant_sim {
    int64_t channels, inner;  /* the output as [outer][channels][inner] */
    double pre_scale;         /* accumulator = nearbyint(input * pre_scale) (a mean times its count) */
    int32_t *bias;            /* [channels], or NULL */
    float *scale;             /* [channels] requant.h scales */
    qp_q8_act out;
    int32_t lo, hi;
} requant_sim;

typedef struct binary_sim {
    int mul;
    qp_q8_act a, b, out;
    qp_u8_add_params add;     /* the int8 kernels' own per-element arithmetic (ORT's) */
    qp_u8_mul_params mulp;
    qp_ops_bcast bcast;
} binary_sim;

typedef struct sim_job {
    const void *params;
    const qp_q8_act *act;
    const float *x, *y_in;
    float *y;
} sim_job;

/* qp_q8_quantize(x) - zero point, all in float so the loop vectorizes. */
static void to_int_range(void *user, int64_t begin, int64_t end) {
    const sim_job *j = user;
    const float s = j->act->scale, zp = (float)j->act->zero_point, lo = (float)j->act->qmin - zp,
                hi = (float)j->act->qmax - zp;
    for (int64_t i = begin; i < end; i++) {
        float q = qp_round_half_even(j->x[i] / s);
        j->y[i] = q < lo ? lo : q > hi ? hi : q;
    }
}

static void requant_range(void *user, int64_t begin, int64_t end) {
    const sim_job *j = user;
    const requant_sim *r = j->params;
    int64_t c = r->channels > 1 ? (begin / r->inner) % r->channels : 0, pos = begin % r->inner;
    for (int64_t i = begin; i < end;) {
        int64_t stop = i + (r->inner - pos) < end ? i + (r->inner - pos) : end; /* to the channel's end */
        const double bias = r->bias ? r->bias[c] : 0, pre = r->pre_scale;
        const double big = 2147483647.0, magic = 6755399441055744.0; /* 2^31 - 1, 1.5 * 2^52 */
        const float m = r->scale[c], zo = (float)r->out.zero_point, lo = (float)r->lo - zo, hi = (float)r->hi - zo;
        const float s = r->out.scale;
        /* requant.h's qp_requantize on the exact accumulator, without branches or calls so the
         * loop vectorizes. The double holding the integer accumulator converts to the same float
         * as the int32 would (nearest, ties to even); the clamp to the int32 range stands in for
         * the integer engine's wrap-around, which a well-formed model never reaches. */
        for (; i < stop; i++) {
            double a = (double)j->x[i] * pre;
            a = a < -big ? -big : a > big ? big : a;
            a = (a + magic) - magic; /* half to even */
            double t = a + bias;
            t = t < -big ? -big : t > big ? big : t;
            float v = (float)t * m;
            v = v > lo ? v : lo;
            v = v < hi ? v : hi;
            j->y[i] = qp_requant_round(v) * s;
        }
        pos = 0;
        if (++c == r->channels) c = 0;
    }
}

typedef struct binary_job_sim {
    const binary_sim *b;
    const float *a, *x;
    float *y;
} binary_job_sim;

static void binary_segment(void *user, const qp_ops_bcast *bc, int64_t out_offset, const int64_t *in_offsets,
                           int64_t n) {
    const binary_job_sim *j = user;
    const binary_sim *b = j->b;
    const float *pa = j->a + in_offsets[0], *pb = j->x + in_offsets[1];
    int64_t sa = bc->inner_stride[0], sb = bc->inner_stride[1];
    const int a_bcast = sa == 0 && sb != 0; /* the kernel's order for a row-broadcast a */
    for (int64_t i = 0; i < n; i++) {
        const uint8_t qa = qp_q8_quantize(pa[i * sa], &b->a), qb = qp_q8_quantize(pb[i * sb], &b->b);
        const uint8_t q = b->mul ? qp_u8_mul_one(qa, qb, &b->mulp)
                          : a_bcast ? qp_u8_add_one_a_bcast(qa, qb, &b->add)
                                    : qp_u8_add_one(qa, qb, &b->add);
        j->y[out_offset + i] = qp_q8_dequantize(q, &b->out);
    }
}

void qp_run_conversion(const qp_plan *plan, const qp_plan_step *s) {
    const qp_value *in = s->inputs[0];
    qp_value *out = s->outputs[0];
    int64_t n = qp_shape_numel(&in->shape);
    switch (s->kind) {
    case QP_STEP_FAKE_QUANT:
        qp_fake_quant_tensor(s->enc, &in->shape, in->data, out->data, plan->n_threads);
        break;
    case QP_STEP_QUANTIZE: {
        q_job j = {qp_q8_get_config(), convert_params(&s->act), in->data, out->data, s->fq_in_place};
        parallel_elements(plan->n_threads, n, quantize_range, &j);
        break;
    }
    case QP_STEP_DEQUANTIZE: {
        q_job j = {qp_q8_get_config(), convert_params(&s->act), out->data, in->data, 0};
        parallel_elements(plan->n_threads, n, dequantize_range, &j);
        break;
    }
    case QP_STEP_TO_INT: {
        sim_job j = {.act = &s->act, .x = in->data, .y = out->data};
        parallel_elements(plan->n_threads, n, to_int_range, &j);
        break;
    }
    case QP_STEP_REQUANT_SIM: {
        sim_job j = {.params = s->state, .x = in->data, .y = out->data};
        parallel_elements(plan->n_threads, n, requant_range, &j);
        break;
    }
    case QP_STEP_BINARY_SIM: {
        const binary_sim *b = s->state;
        binary_job_sim j = {b, s->inputs[0]->data, s->inputs[1]->data, out->data};
        qp_ops_bcast_run(&b->bcast, plan->n_threads, binary_segment, &j);
        break;
    }
    default:
        break;
    }
}

/* --- shared quantization arithmetic --------------------------------------------------------- */

void qp_q8_quantize_bias(const float *b, int64_t n_b, int64_t n, float s_in, const qp_encoding *w_enc,
                         int32_t *q, float *scale_out) {
    for (int64_t c = 0; c < n; c++) {
        float s = s_in * w_enc->scale[w_enc->n == 1 ? 0 : c];
        double v = nearbyint((double)b[n_b == 1 ? 0 : c] / (double)s);
        if (!(v == v)) v = 0; /* NaN bias: no meaningful integer, use 0 */
        q[c] = v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : (int32_t)v;
        if (scale_out) scale_out[c] = s;
    }
}

void qp_q8_quantize_weights(const float *w, int64_t numel, int64_t inner, int64_t n_ch, const qp_encoding *enc,
                            int8_t *q) {
    int32_t qmin, qmax;
    qp_quant_range(enc->bits, enc->symmetric, &qmin, &qmax);
    for (int64_t i = 0; i < numel; i++) {
        int64_t c = n_ch > 1 ? (i / inner) % n_ch : 0;
        float v = nearbyintf(w[i] / enc->scale[c]) + (float)enc->zero_point[c];
        v = v < (float)qmin ? (float)qmin : v > (float)qmax ? (float)qmax : v;
        q[i] = (int8_t)v;
    }
}

/* --- QUANTSIM lowering ---------------------------------------------------------------------- */

typedef struct qs_state {
    qp_plan *plan;
    const qp_encodings *enc;
    int *fq_const;   /* per graph tensor: value index of its fake-quantized copy, -1 = not made */
    int *twin;       /* per graph input: value index of its fake-quantized twin, -1 = none */
    int *int_weights;/* per graph tensor: value index of its integer-valued copy, -1 = not made */
    const qp_q8_decision *d;
} qs_state;

static const qp_encoding *float_encoding(const qp_plan *plan, int t) {
    if (t < 0 || t >= plan->graph->n_tensors || plan->values[t].dtype != QP_DT_FLOAT) return NULL;
    return qp_encodings_get(plan->options.encodings, t);
}

/* The fake-quantized copy of constant t (made once, shared by every consumer). */
static qp_status fq_const(qs_state *q, int t, int *out) {
    qp_plan *plan = q->plan;
    if (q->fq_const[t] >= 0) {
        *out = q->fq_const[t];
        return QP_OK;
    }
    const qp_encoding *enc = float_encoding(plan, t);
    qp_value v = plan->values[t];
    qp_status st = qp_check_encoding_shape(plan->graph, t, enc, &v.shape);
    if (st != QP_OK) return st;
    float *copy = qp_plan_alloc(v.nbytes);
    if (!copy) return qp_error(QP_ERR_NOMEM, "out of memory fake-quantizing '%s'", plan->graph->tensors[t]->name);
    qp_fake_quant_tensor(enc, &v.shape, v.data, copy, 1);
    int id = qp_plan_add_const(plan, QP_DT_FLOAT, &v.shape, copy);
    if (id < 0) return QP_ERR_NOMEM;
    q->fq_const[t] = *out = id;
    return QP_OK;
}

/* Float formulation: the bias of an int8 Conv/Gemm rounded to int32 at s_in * s_w[c] and
 * dequantized, the value the integer engine adds. */
static qp_status quantized_bias(qs_state *q, int node_id, int *out) {
    qp_plan *plan = q->plan;
    const qp_node *n = &plan->graph->nodes[node_id];
    const qp_encoding *in_enc = float_encoding(plan, n->inputs[0]);
    const qp_encoding *w_enc = float_encoding(plan, n->inputs[1]);
    const qp_value *w = &plan->values[n->inputs[1]], *b = &plan->values[n->inputs[2]];
    int64_t n_out = strcmp(n->op_type, "Conv") == 0 ? w->shape.dims[0]
                    : qp_node_attr_int(n, "transB", 0) ? w->shape.dims[0] : w->shape.dims[1];
    int32_t *qb = malloc((size_t)n_out * sizeof *qb);
    float *scales = malloc((size_t)n_out * sizeof *scales);
    float *deq = qp_plan_alloc((size_t)n_out * sizeof *deq);
    qp_status st = QP_OK;
    if (!qb || !scales || !deq) {
        st = qp_error(QP_ERR_NOMEM, "out of memory quantizing a bias");
        free(deq);
    } else {
        qp_q8_quantize_bias(b->data, qp_shape_numel(&b->shape), n_out, in_enc->scale[0], w_enc, qb, scales);
        for (int64_t c = 0; c < n_out; c++) deq[c] = (float)qb[c] * scales[c];
        qp_shape shape = {.rank = 1, .dims = {n_out}};
        *out = qp_plan_add_const(plan, QP_DT_FLOAT, &shape, deq);
        if (*out < 0) st = QP_ERR_NOMEM;
    }
    free(qb);
    free(scales);
    return st;
}

static qp_status push_fq(qp_plan *plan, int tensor, int src, int dst, const qp_encoding *enc, qp_plan_step **out) {
    qp_plan_step *s;
    qp_status st = qp_plan_push_step(plan, QP_STEP_FAKE_QUANT, -1, tensor, &src, 1, &dst, 1, &s);
    if (st != QP_OK) return st;
    s->enc = enc;
    if (out) *out = s;
    return QP_OK;
}

/* --- lowering of the exactly simulated nodes ------------------------------------------------- */

typedef enum sim_kind { SIM_NONE, SIM_REQUANT, SIM_BINARY, SIM_INT8 } sim_kind;

static sim_kind sim_kind_of(const qp_plan *plan, const qp_q8_decision *d, int id) {
    if (id < 0 || !d[id].int8 || d[id].fused_into >= 0 || plan->options.quantsim_float) return SIM_NONE;
    const qp_node *n = &plan->graph->nodes[id];
    const char *op = n->op_type;
    if (!strcmp(op, "Conv") || !strcmp(op, "Gemm") || !strcmp(op, "MatMul") || !strcmp(op, "GlobalAveragePool") ||
        !strcmp(op, "ReduceMean"))
        return SIM_REQUANT;
    if ((!strcmp(op, "Add") || !strcmp(op, "Mul")) && qp_q8_find(n)->data_inputs(plan, n) == 3u) return SIM_BINARY;
    /* Softmax's arithmetic (ORT's QLinearSoftmax: a float table, a float sum, floor(1 / y_scale))
     * has no float formulation simpler than itself: QUANTSIM runs the int8 op between codes. */
    if (!strcmp(op, "Softmax")) return SIM_INT8;
    return SIM_NONE;
}

/* The value a simulated node reads for input tensor t. */
static int read_value(const qs_state *q, int t) { return q->twin[t] >= 0 ? q->twin[t] : t; }

static qp_status own_block(qp_plan *plan, size_t bytes, void **out) {
    *out = calloc(1, bytes ? bytes : 1);
    return qp_plan_own(plan, *out);
}

/* The weights of a Conv/Gemm/MatMul as integer-valued floats (the int8 engine's codes). */
static qp_status integer_weights(qs_state *q, int t, int *out) {
    qp_plan *plan = q->plan;
    if (q->int_weights[t] < 0) {
        const qp_encoding *enc = qp_encodings_get(q->enc, t);
        const qp_value *v = &plan->values[t];
        int64_t n = qp_shape_numel(&v->shape), inner = 1;
        for (int dim = enc->axis + 1; enc->n > 1 && dim < v->shape.rank; dim++) inner *= v->shape.dims[dim];
        int8_t *codes = malloc((size_t)(n ? n : 1));
        float *w = qp_plan_alloc((size_t)(n ? n : 1) * sizeof *w);
        if (!codes || !w) {
            free(codes);
            free(w);
            return qp_error(QP_ERR_NOMEM, "out of memory quantizing '%s'", plan->graph->tensors[t]->name);
        }
        qp_q8_quantize_weights(v->data, n, inner, enc->n, enc, codes);
        for (int64_t i = 0; i < n; i++) w[i] = codes[i];
        free(codes);
        qp_shape shape = v->shape;
        if ((q->int_weights[t] = qp_plan_add_const(plan, QP_DT_FLOAT, &shape, w)) < 0) return QP_ERR_NOMEM;
    }
    *out = q->int_weights[t];
    return QP_OK;
}

/* Conv/Gemm/MatMul/GlobalAveragePool/ReduceMean: input to integers, the fp32 op on integers, then
 * one rounding with the int8 engine's bias and scales (and the fused Relu/Clip's clamp). */
static qp_status emit_requant_sim(qs_state *q, const qp_plan_step *src, const qp_q8_prep *p) {
    qp_plan *plan = q->plan;
    const qp_graph *g = plan->graph;
    const qp_node *n = p->node;
    int id = src->node_id, out_t = q->d[id].out_tensor;
    const qp_q8_act *xa = &p->in_act[0], *ya = &p->out_act[0];
    int x = n->inputs[0];
    qp_shape xs = plan->values[x].shape, ys = plan->values[n->outputs[0]].shape;
    int xi = qp_plan_add_value(plan, QP_DT_FLOAT, &xs), acc = qp_plan_add_value(plan, QP_DT_FLOAT, &ys);
    if (xi < 0 || acc < 0) return QP_ERR_NOMEM;
    int xv = read_value(q, x);
    qp_plan_step *c;
    qp_status st = qp_plan_push_step(plan, QP_STEP_TO_INT, -1, x, &xv, 1, &xi, 1, &c);
    if (st != QP_OK) return st;
    c->act = *xa;

    requant_sim *r;
    if ((st = own_block(plan, sizeof *r, (void **)&r)) != QP_OK) return st;
    r->out = *ya;
    r->lo = p->out_lo;
    r->hi = p->out_hi;
    r->pre_scale = 1.0;
    int *in = malloc((size_t)src->n_in * sizeof *in), *out = malloc((size_t)src->n_out * sizeof *out);
    if (!in || !out) {
        free(in);
        free(out);
        return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    }
    memcpy(in, src->in, (size_t)src->n_in * sizeof *in);
    memcpy(out, src->out, (size_t)src->n_out * sizeof *out);
    in[0] = xi;
    out[0] = acc;
    int weighted = strcmp(n->op_type, "Conv") == 0 || strcmp(n->op_type, "Gemm") == 0 || strcmp(n->op_type, "MatMul") == 0;
    if (weighted) {
        const qp_encoding *we = p->in_enc[1];
        int conv = strcmp(n->op_type, "Conv") == 0;
        r->channels = conv ? ys.dims[1] : ys.dims[ys.rank - 1];
        r->inner = 1;
        for (int dim = 2; conv && dim < ys.rank; dim++) r->inner *= ys.dims[dim];
        st = integer_weights(q, n->inputs[1], &in[1]);
        if (st == QP_OK) st = own_block(plan, (size_t)r->channels * sizeof *r->scale, (void **)&r->scale);
        for (int64_t ch = 0; st == QP_OK && ch < r->channels; ch++)
            st = qp_q8_requant(n, xa->scale, we->scale[we->n == 1 ? 0 : ch], ya->scale, &r->scale[ch]);
        if (st == QP_OK && src->n_in > 2 && src->in[2] >= 0) { /* the bias goes in at the rounding, exactly */
            const qp_value *b = &plan->values[src->in[2]];
            st = own_block(plan, (size_t)r->channels * sizeof *r->bias, (void **)&r->bias);
            if (st == QP_OK) qp_q8_quantize_bias(b->data, qp_shape_numel(&b->shape), r->channels, xa->scale, we, r->bias, NULL);
            in[2] = -1;
        }
    } else { /* a mean: its count times the mean is the integer sum the int8 kernel rounds */
        int64_t count = qp_shape_numel(&ys) ? qp_shape_numel(&xs) / qp_shape_numel(&ys) : 1;
        r->channels = 1;
        r->inner = 1;
        r->pre_scale = (double)count;
        st = own_block(plan, sizeof *r->scale, (void **)&r->scale);
        if (st == QP_OK) st = qp_q8_mean_requant(n, xa->scale, ya->scale, count, &r->scale[0]);
    }
    qp_plan_step *op_step = NULL;
    if (st == QP_OK) st = qp_plan_push_step(plan, QP_STEP_OP, id, -1, in, src->n_in, out, src->n_out, &op_step);
    free(in);
    free(out);
    if (st != QP_OK) return st;
    op_step->op = src->op;
    if ((st = qp_plan_push_step(plan, QP_STEP_REQUANT_SIM, -1, out_t, &acc, 1, &out_t, 1, &c)) != QP_OK) return st;
    c->state = r;
    (void)g;
    return qp_plan_step_observe(plan, c, out_t, out_t);
}

/* Add/Mul of two quantized tensors, exactly rounded. */
static qp_status emit_binary_sim(qs_state *q, const qp_plan_step *src, const qp_q8_prep *p) {
    qp_plan *plan = q->plan;
    const qp_node *n = p->node;
    int out_t = q->d[src->node_id].out_tensor;
    binary_sim *b;
    qp_status st = own_block(plan, sizeof *b, (void **)&b);
    if (st != QP_OK) return st;
    b->mul = strcmp(n->op_type, "Mul") == 0;
    b->a = p->in_act[0];
    b->b = p->in_act[1];
    b->out = p->out_act[0];
    if (b->mul)
        st = qp_u8_mul_params_init(b->a.scale, b->a.zero_point, b->b.scale, b->b.zero_point, b->out.scale,
                                   b->out.zero_point, (uint8_t)p->out_lo, (uint8_t)p->out_hi, &b->mulp);
    else
        st = qp_u8_add_params_init(b->a.scale, b->a.zero_point, b->b.scale, b->b.zero_point, b->out.scale,
                                   b->out.zero_point, (uint8_t)p->out_lo, (uint8_t)p->out_hi, &b->add);
    if (st != QP_OK) return st;
    const qp_shape *shapes[2] = {&plan->values[n->inputs[0]].shape, &plan->values[n->inputs[1]].shape};
    qp_ops_bcast_init(&b->bcast, &plan->values[n->outputs[0]].shape, shapes, 2);
    int in[2] = {read_value(q, n->inputs[0]), read_value(q, n->inputs[1])};
    qp_plan_step *c;
    if ((st = qp_plan_push_step(plan, QP_STEP_BINARY_SIM, -1, out_t, in, 2, &out_t, 1, &c)) != QP_OK) return st;
    c->state = b;
    return qp_plan_step_observe(plan, c, out_t, out_t);
}

/* A one-input, one-output int8 op run as is: the fake-quantized input to its codes, the op,
 * the codes back to float. */
static qp_status emit_int8_sim(qs_state *q, const qp_plan_step *src, const qp_q8_prep *p, const qp_q8_op *q8) {
    qp_plan *plan = q->plan;
    const qp_node *n = p->node;
    int id = src->node_id, x = n->inputs[0], out_t = q->d[id].out_tensor;
    int xu = qp_plan_add_value(plan, QP_DT_UINT8, &plan->values[x].shape);
    int yu = qp_plan_add_value(plan, QP_DT_UINT8, &plan->values[out_t].shape);
    if (xu < 0 || yu < 0) return qp_error(QP_ERR_NOMEM, "out of memory while planning");
    int xv = read_value(q, x);
    qp_plan_step *c;
    qp_status st = qp_plan_push_step(plan, QP_STEP_QUANTIZE, -1, x, &xv, 1, &xu, 1, &c);
    if (st != QP_OK) return st;
    c->act = p->in_act[0];
    if ((st = qp_q8_push_step(plan, id, q8, p, src->op, &xu, 1, &yu, 1)) != QP_OK) return st;
    if ((st = qp_plan_push_step(plan, QP_STEP_DEQUANTIZE, -1, out_t, &yu, 1, &out_t, 1, &c)) != QP_OK) return st;
    c->act = p->out_act[0];
    return qp_plan_step_observe(plan, c, out_t, out_t);
}

static qp_status emit_sim(qs_state *q, const qp_plan_step *src, sim_kind kind) {
    int id = src->node_id;
    const qp_q8_op *q8 = qp_q8_find(&q->plan->graph->nodes[id]);
    qp_q8_prep_buf b;
    char why[200] = "";
    qp_status st;
    if (!qp_q8_prep_build(q->plan, id, q8, q->d[id].fused_act, &b, why, sizeof why))
        st = qp_error(QP_ERR_INTERNAL, "quantsim: node %d: %s", id, why);
    else
        st = kind == SIM_REQUANT ? emit_requant_sim(q, src, &b.p)
             : kind == SIM_BINARY ? emit_binary_sim(q, src, &b.p)
                                  : emit_int8_sim(q, src, &b.p, q8);
    qp_q8_prep_free(&b);
    return st;
}

qp_status qp_quantsim_lower(qp_plan *plan) {
    const qp_graph *g = plan->graph;
    qp_status st = QP_OK;
    qs_state q = {plan, plan->options.encodings, NULL, NULL, NULL, NULL};
    qp_q8_decision *d = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *d);
    q.fq_const = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *q.fq_const);
    q.twin = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *q.twin);
    q.int_weights = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *q.int_weights);
    q.d = d;
    qp_plan_step *old = NULL;
    int n_old = plan->n_steps;
    if (!d || !q.fq_const || !q.twin || !q.int_weights) {
        st = qp_error(QP_ERR_NOMEM, "out of memory while planning");
        goto done;
    }
    for (int t = 0; t < g->n_tensors; t++) q.fq_const[t] = q.twin[t] = q.int_weights[t] = -1;
    if ((st = qp_q8_decide(plan, d)) != QP_OK) goto done;
    /* Rebuild the step list: the old OP steps, with conversions between them. */
    old = malloc((size_t)(n_old ? n_old : 1) * sizeof *old);
    if (!old) {
        st = qp_error(QP_ERR_NOMEM, "out of memory while planning");
        goto done;
    }
    memcpy(old, plan->steps, (size_t)n_old * sizeof *old);
    plan->n_steps = 0;
    /* Graph inputs: the caller's buffer stays as written; consumers read a fake-quantized twin. */
    for (int i = 0; i < plan->n_inputs; i++) {
        int t = plan->input_ids[i];
        const qp_encoding *enc = float_encoding(plan, t);
        if (!enc) continue;
        if ((st = qp_check_encoding_shape(g, t, enc, &plan->values[t].shape)) != QP_OK) goto done;
        int twin = qp_plan_add_value(plan, QP_DT_FLOAT, &plan->values[t].shape);
        if (twin < 0) {
            st = QP_ERR_NOMEM;
            goto done;
        }
        if ((st = push_fq(plan, t, t, twin, enc, NULL)) != QP_OK) goto done;
        q.twin[t] = twin; /* not observed: the observer sees node outputs only, in every mode */
    }
    for (int si = 0; si < n_old; si++) {
        qp_plan_step src = old[si];
        const qp_node *n = &g->nodes[src.node_id];
        int fused_into = d[src.node_id].fused_into;
        if (fused_into >= 0 && sim_kind_of(plan, d, fused_into) != SIM_NONE) continue; /* in its clamp */
        sim_kind kind = sim_kind_of(plan, d, src.node_id);
        if (kind != SIM_NONE) {
            if ((st = emit_sim(&q, &src, kind)) != QP_OK) goto done;
            continue;
        }
        int *in = malloc((size_t)(src.n_in ? src.n_in : 1) * sizeof *in);
        if (!in) {
            st = qp_error(QP_ERR_NOMEM, "out of memory while planning");
            goto done;
        }
        int quant_bias = d[src.node_id].int8 && src.n_in > 2 && src.in[2] >= 0 &&
                         (strcmp(n->op_type, "Conv") == 0 || strcmp(n->op_type, "Gemm") == 0);
        for (int k = 0; k < src.n_in && st == QP_OK; k++) {
            int v = src.in[k];
            in[k] = v;
            if (v < 0 || v >= g->n_tensors) continue;
            if (k == 2 && quant_bias) st = quantized_bias(&q, src.node_id, &in[k]);
            else if (q.twin[v] >= 0) in[k] = q.twin[v];
            else if (plan->is_const[v] && float_encoding(plan, v)) st = fq_const(&q, v, &in[k]);
        }
        qp_plan_step *s = NULL;
        if (st == QP_OK) st = qp_plan_push_step(plan, QP_STEP_OP, src.node_id, -1, in, src.n_in, src.out, src.n_out, &s);
        free(in);
        if (st != QP_OK) goto done;
        s->op = src.op;
        int op_index = plan->n_steps - 1;
        /* Outputs with an encoding are fake-quantized in place right away, except the output of
         * a node whose Relu/Clip the int8 engine fuses (it never exists in integer form). */
        for (int k = 0; k < n->n_outputs; k++) {
            int t = n->outputs[k];
            if (t < 0) continue;
            const qp_encoding *enc = float_encoding(plan, t);
            if (enc && !(k == 0 && d[src.node_id].fused_act >= 0)) {
                if ((st = qp_check_encoding_shape(g, t, enc, &plan->values[t].shape)) != QP_OK) goto done;
                qp_plan_step *f;
                if ((st = push_fq(plan, t, t, t, enc, &f)) != QP_OK) goto done;
                if ((st = qp_plan_step_observe(plan, f, t, t)) != QP_OK) goto done;
            } else if ((st = qp_plan_step_observe(plan, &plan->steps[op_index], t, t)) != QP_OK) {
                goto done;
            }
        }
    }
done:
    free(old);
    free(d);
    free(q.fq_const);
    free(q.twin);
    free(q.int_weights);
    return st;
}
