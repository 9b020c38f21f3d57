/* plan_internal.h — the plan's private layout, shared by the planner (plan.c), quantsim.c and the int8 lowering. */
#ifndef QPIPE_PLAN_INTERNAL_H
#define QPIPE_PLAN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How one activation tensor is held as uint8 in the int8 engine. Every quantized activation is
 * uint8 with a zero point: an asymmetric encoding is used as is; a symmetric (signed) one is
 * stored as q + 128, so its zero point becomes zp + 128 and its range [128 - qmax, 128 + qmax]. */
typedef struct qp_q8_act {
    float scale;
    int32_t zero_point; /* uint8 domain */
    int32_t qmin, qmax; /* uint8 domain: the encoding's integer range shifted like the zero point */
} qp_q8_act;

/* Fills act from enc when enc can be held as uint8 (per-tensor, bits <= 8); returns 0 otherwise. */
int qp_q8_act_from_encoding(const qp_encoding *enc, qp_q8_act *act);
/* Quantizes one float exactly as qp_fake_quant does before dequantizing (so DQ(Q(x)) equals
 * qp_fake_quant(x) bit for bit), in the uint8 domain. */
/* nearbyintf in the default rounding mode (half to even) without a library call, so loops
 * vectorize: below 2^23 adding and removing 1.5 * 2^23 rounds; above, floats are integers. */
static inline float qp_round_half_even(float x) {
    return __builtin_fabsf(x) < 8388608.0f ? (x + 12582912.0f) - 12582912.0f : x;
}
static inline uint8_t qp_q8_quantize(float x, const qp_q8_act *a) {
    float q = qp_round_half_even(x / a->scale) + (float)a->zero_point;
    q = q < (float)a->qmin ? (float)a->qmin : q > (float)a->qmax ? (float)a->qmax : q;
    return (uint8_t)q;
}
static inline float qp_q8_dequantize(uint8_t q, const qp_q8_act *a) {
    return ((float)q - (float)a->zero_point) * a->scale;
}

typedef enum qp_step_kind {
    QP_STEP_OP = 0,      /* a graph node through its fp32 qp_op_def */
    QP_STEP_INT8,        /* a graph node (plus a fused activation) through an int8 implementation */
    QP_STEP_FAKE_QUANT,  /* float -> fake-quantized float (in place or into another buffer) */
    QP_STEP_QUANTIZE,    /* float -> uint8; optionally also fake-quantizes the float in place */
    QP_STEP_DEQUANTIZE,  /* uint8 -> float */
    /* QUANTSIM's exact simulation of the int8 arithmetic ops (quantsim.c): */
    QP_STEP_TO_INT,      /* fake-quantized float -> its integer code minus the zero point, as float */
    QP_STEP_REQUANT_SIM, /* integer-valued float accumulators -> bias, multiplier, rounding, clamp */
    QP_STEP_BINARY_SIM,  /* Add/Mul of two quantized tensors, exactly rounded */
} qp_step_kind;

struct qp_q8_op;

typedef struct qp_plan_step {
    qp_step_kind kind;
    int node_id;                 /* the node run (OP, INT8); -1 for conversions */
    int tensor_id;               /* the tensor a conversion serves; -1 for OP/INT8 */
    const qp_op_def *op;         /* OP; INT8 steps that run an fp32 op on uint8 data also set it */
    const struct qp_q8_op *q8;   /* INT8 */
    int64_t opset;
    int n_in, n_out;
    int *in;                     /* value indices; -1 = omitted */
    int *out;
    const qp_value **inputs;     /* resolved from in/out once the value table is final */
    qp_value **outputs;
    void *state;                 /* OP/INT8: the op's (released with it); SIM kinds: plan-owned params */
    size_t scratch_bytes;
    int prepared;
    /* fp32 Conv with a Relu/Clip folded into its epilogue (plan.c, fuse_clamps): out[0] is then the
     * activation's output, and clamp = {lo, hi} as qp_op_context.fused_clamp gives them. */
    int has_clamp;
    float clamp[2];
    /* Conversions. */
    const qp_encoding *enc;      /* FAKE_QUANT: per-tensor or per-channel encoding */
    qp_q8_act act;               /* QUANTIZE / DEQUANTIZE */
    int fq_in_place;             /* QUANTIZE: also fake-quantize the float source in place */
    /* Tensors handed to the observer after this step: (graph tensor id, value index) pairs. */
    int n_observe;
    int *observe;
} qp_plan_step;

struct qp_plan {
    const qp_graph *graph;
    qp_plan_options options;
    int n_threads;
    /* Value table: index t < graph->n_tensors is graph tensor t (its float, or native-dtype,
     * representation); further entries are plan-made values (uint8 twins, fake-quantized copies,
     * quantized biases, dummies for omitted outputs). */
    qp_value *values;
    unsigned char *is_const;     /* known at plan time (initializer, folded or plan-made constant) */
    unsigned char *is_input;     /* graph input: has its own buffer, filled by the caller */
    int n_values, cap_values;
    void **owned;                /* buffers the plan malloc'd */
    int n_owned, cap_owned;
    qp_plan_step *steps;
    int n_steps, cap_steps;
    unsigned char *arena;
    size_t arena_bytes;
    void *scratch;
    size_t scratch_bytes;
    int *input_ids;
    int n_inputs;
    /* INT8 report: nodes run through fp32 ops, in graph order, and why. */
    int *fallback_nodes;
    char **fallback_reasons;
    int n_fallbacks;
    int n_int8_nodes;            /* nodes run by int8 steps (a fused activation counts) */
};

/* Planner services for the mode lowerings. */
qp_status qp_plan_own(qp_plan *plan, void *ptr);
void *qp_plan_alloc(size_t n); /* 64-byte aligned, n rounded up; free() releases it */
/* Appends a value (shape and dtype of `like`, no data) and returns its index, or -1 (error set). */
int qp_plan_add_value(qp_plan *plan, qp_dtype dtype, const qp_shape *shape);
/* Adds a plan-owned constant value holding a copy-free buffer `data` (owned by the plan). */
int qp_plan_add_const(qp_plan *plan, qp_dtype dtype, const qp_shape *shape, void *data);
/* Appends a step (copied); its in/out arrays are copied into plan-owned memory. */
qp_status qp_plan_push_step(qp_plan *plan, qp_step_kind kind, int node_id, int tensor_id, const int *in, int n_in,
                            const int *out, int n_out, qp_plan_step **out_step);
/* Adds a (tensor, value) pair the observer gets after step s. */
qp_status qp_plan_step_observe(qp_plan *plan, qp_plan_step *s, int tensor_id, int value);
/* "node 'name' (Op)" or "node #id (Op)". */
const char *qp_plan_node_desc(const qp_graph *g, int node_id, char *buf, size_t cap);

/* Lowerings: they take the fp32 step list the planner built (OP steps, unprepared) and
 * rewrite it. */
qp_status qp_quantsim_lower(qp_plan *plan);
qp_status qp_int8_lower(qp_plan *plan);

/* Runs one conversion or simulation step (every kind but OP and INT8). */
void qp_run_conversion(const qp_plan *plan, const qp_plan_step *s);

/* Fake-quantizes n floats of a tensor with `shape` from src to dst (may alias) with enc:
 * per-tensor, or per channel along enc->axis. */
void qp_fake_quant_tensor(const qp_encoding *enc, const qp_shape *shape, const float *src, float *dst,
                          int n_threads);
/* Checks that enc fits a tensor of this shape (per-channel count matches dim(axis)). */
qp_status qp_check_encoding_shape(const qp_graph *g, int tensor_id, const qp_encoding *enc, const qp_shape *shape);

#ifdef __cplusplus
}
#endif
#endif
