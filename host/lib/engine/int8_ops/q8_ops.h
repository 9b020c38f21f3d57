/* q8_ops.h — the int8 engine's op interface: which nodes run in integer arithmetic and how, plus the shared lowering decision. */
#ifndef QPIPE_Q8_OPS_H
#define QPIPE_Q8_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/plan_internal.h"
#include "kernels/int8/q8_config.h"
#include "kernels/int8/q8_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What an int8 op sees at plan time. Inputs and outputs are the float-side values of the
 * graph (shapes; data for plan-time constants such as weights, biases, Clip bounds). */
typedef struct qp_q8_prep {
    const qp_plan *plan;
    const qp_node *node;
    int node_id;
    int64_t opset;
    int n_inputs, n_outputs;
    const qp_value *const *inputs;
    const qp_encoding *const *in_enc;  /* each input's encoding, NULL when none */
    const qp_q8_act *in_act;           /* uint8 parameters of each data input */
    const qp_value *const *outputs;
    const qp_q8_act *out_act;          /* uint8 parameters of each data output (output 0 of a
                                        * node with a fused activation: the activation's) */
    int32_t out_lo, out_hi;            /* clamp of output 0: the encoding's range narrowed by a
                                        * fused Relu/Clip */
    int fused_activation;              /* node id of the fused Relu/Clip, or -1 */
    int n_threads;
} qp_q8_prep;

typedef struct qp_q8_op {
    const char *op_type;
    /* Bit k set: input k is quantized activation data, uint8 at run time. Inputs not listed are
     * either read at plan time (weights, bias, bounds: must be constants) or, when not float,
     * passed through unchanged (int64 indices, shapes). */
    unsigned (*data_inputs)(const qp_plan *plan, const qp_node *node);
    /* Bit k set: output k is a quantized activation (uint8). */
    unsigned (*data_outputs)(const qp_plan *plan, const qp_node *node);
    int can_fuse_activation;           /* has a clamp epilogue (Conv, Gemm, MatMul, binary ops) */
    /* Returns 1 when this node (attributes, shapes, encodings) has an int8 implementation;
     * otherwise 0 and a reason in why (no error is set). */
    int (*check)(const qp_q8_prep *p, char *why, size_t cap);
    qp_status (*prepare)(const qp_q8_prep *p, void **state, size_t *scratch_bytes);
    void (*release)(void *state);
    /* ctx->inputs[k]: the uint8 value for data inputs, the value itself for pass-through
     * inputs, NULL for plan-time parameters; outputs likewise. */
    qp_status (*run)(qp_op_context *ctx);
} qp_q8_op;

/* The int8 implementation of a node's op type, or NULL. */
const qp_q8_op *qp_q8_find(const qp_node *node);

/* Per-node lowering decision, shared by INT8 and QUANTSIM so the simulation follows the same
 * fusions and bias quantization as the integer engine. */
typedef struct qp_q8_decision {
    int has_step;          /* the node runs at all (not folded at plan time) */
    int int8;              /* runs as an int8 step */
    int fused_into;        /* this Relu/Clip runs inside that node's int8 step; -1 otherwise */
    int fused_act;         /* the Relu/Clip fused into this node; -1 otherwise */
    int out_tensor;        /* the tensor output 0 writes (the activation's output when fused) */
    char why[200];         /* why the node runs in fp32 */
} qp_q8_decision;

/* A qp_q8_prep with its arrays, built from the plan's float-side values. */
typedef struct qp_q8_prep_buf {
    qp_q8_prep p;
    const qp_value **inputs, **outputs;
    const qp_encoding **in_enc;
    qp_q8_act *in_act, *out_act;
} qp_q8_prep_buf;
/* Fills b for node_id, output 0 going to the fused activation's output when fused_act >= 0.
 * Returns 0 and a reason when a data tensor cannot be held as uint8 or a parameter is not a
 * constant. Free with qp_q8_prep_free in every case. */
int qp_q8_prep_build(const qp_plan *plan, int node_id, const qp_q8_op *q8, int fused_act, qp_q8_prep_buf *b,
                     char *why, size_t cap);
void qp_q8_prep_free(qp_q8_prep_buf *b);

/* Fills d[node] for every node of the graph. */
qp_status qp_q8_decide(const qp_plan *plan, qp_q8_decision *d);

/* Whether a tensor with this encoding can be held as uint8 data. */
int qp_q8_usable_encoding(const qp_plan *plan, int tensor_id, const qp_encoding **enc_out, qp_q8_act *act);

/* Bias quantized like the integer engine: q[c] = sat_int32(round_half_even(b[c] / (s_in * s_w[c]))),
 * b given for n channels (n_b == 1 broadcasts one value). Returns the scale used per channel in
 * scale_out (may be NULL). */
void qp_q8_quantize_bias(const float *b, int64_t n_b, int64_t n, float s_in, const qp_encoding *w_enc,
                         int32_t *q, float *scale_out);
/* Weights quantized per output channel: w laid out as n_ch blocks along `axis` semantics given by
 * channel_of(i) = (i / inner) % n_ch. Values clamp to the encoding's symmetric range. */
void qp_q8_quantize_weights(const float *w, int64_t numel, int64_t inner, int64_t n_ch, const qp_encoding *enc,
                            int8_t *q);
/* The float requantization scale of a weighted op's output channel (requant.h, ONNX Runtime's
 * (s_in * s_w) / s_out in float), with the error naming the node. */
qp_status qp_q8_requant(const qp_node *node, float in_scale, float w_scale, float out_scale, float *scale);
/* The same for a mean over count values (GlobalAveragePool, ReduceMean): s_in / (s_out * count). */
qp_status qp_q8_mean_requant(const qp_node *node, float in_scale, float out_scale, int64_t count, float *scale);

/* The float-function table of an elementwise op with one uint8 data input (data_index; the other
 * inputs are plan-time constants) in the uint8 domain: table[q] = Q_out(f(DQ_in(q))), f evaluated
 * by the node's own fp32 op on all 256 codes at once, with encoded scalar constants
 * fake-quantized, so the table matches QUANTSIM bit for bit. */
qp_status qp_q8_unary_table(const qp_q8_prep *p, int data_index, uint8_t table[256]);
/* The node's inputs as QUANTSIM sees them: ins[k] = p->inputs[k], except constant floats with an
 * encoding, replaced by fake-quantized copies held in copies[] (free them with
 * qp_q8_free_quantsim_inputs). For evaluating the fp32 op at plan time. */
qp_status qp_q8_quantsim_inputs(const qp_q8_prep *p, const qp_value **ins, qp_value *copies);
void qp_q8_free_quantsim_inputs(int n, qp_value *copies);
/* Requantization table between two uint8 encodings computed with QUANTSIM's float formulas;
 * returns 1 when it is the identity (same encoding). */
int qp_q8_requant_table(const qp_q8_act *in, const qp_q8_act *out, uint8_t table[256]);

/* Reads the 1-D/2-D window of a Conv (kernel from W's dims) or pooling node over x
 * [N, C, (H,) W] into win; returns 0 and a reason for what the int8 kernels do not cover. */
int qp_q8_read_window(const qp_node *node, const qp_shape *x, const qp_shape *w, int allow_ceil, qp_q8_window *win,
                      char *why, size_t cap);

/* The threads an op shares its work among: n_threads when each would get at least min_per_thread
 * units of work (MACs, bytes: the caller's choice, ~1-2 us of it), else 1. Waking a thread and
 * moving half the operands to its core costs about that much on the 2-vCPU VMs measured. */
int qp_q8_threads_for(int n_threads, int64_t work, int64_t min_per_thread);

/* Splits [0, n) into at most n_threads chunks whose starts are multiples of align; chunk i is
 * [*begin, *end). Returns the chunk count. Depends only on its arguments (determinism). */
int qp_q8_chunks(int64_t n, int n_threads, int64_t align, int64_t *chunk_len);

/* Prepares q8 on p and appends the INT8 step running it for node_id (op: the node's fp32 op,
 * kept on the step); the prepared state belongs to the step, or is released on failure. Used by
 * the int8 lowering and by QUANTSIM for the ops it runs as they are (int8_lower.c). */
qp_status qp_q8_push_step(qp_plan *plan, int node_id, const qp_q8_op *q8, const qp_q8_prep *p, const qp_op_def *op,
                          const int *in, int n_in, const int *out, int n_out);

/* Op tables (one per int8_ops/ file). */
extern const qp_q8_op qp_q8_conv_op, qp_q8_gemm_op, qp_q8_matmul_op;
extern const qp_q8_op qp_q8_add_op, qp_q8_mul_op, qp_q8_sub_op, qp_q8_div_op, qp_q8_pow_op, qp_q8_max_op, qp_q8_min_op;
extern const qp_q8_op qp_q8_maxpool_op, qp_q8_avgpool_op, qp_q8_global_avgpool_op, qp_q8_reduce_mean_op;
extern const qp_q8_op qp_q8_concat_op, qp_q8_batchnorm_op, qp_q8_prelu_op, qp_q8_softmax_op;
extern const qp_q8_op *const qp_q8_unary_ops[];   /* NULL-terminated */
extern const qp_q8_op *const qp_q8_shape_ops[];   /* NULL-terminated */

#ifdef __cplusplus
}
#endif
#endif
