/* q8_softmax.c — Softmax on uint8 with ONNX Runtime's QLinearSoftmax arithmetic, which ORT fuses from DequantizeLinear -> Softmax -> QuantizeLinear. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/int8_ops/q8_ops.h"

/* ORT (contrib_ops/cpu/quantization/qlinear_softmax.cc, uint8 path, EXP_OUT_DTYPE float):
 *   shift    = max(0, log(FLT_MAX / D) - 5) / x_scale              (double; keeps sum(exp) finite)
 *   table[i] = (float)exp((i - 255 + shift) * x_scale)             (double exp, i = 0..255)
 *   per row: m = max(x); t = table + 255 - m; sum = t[x_0] + t[x_1] + ... in float, in order;
 *   y_j = min(255, (uint32)nearbyintf((t[x_j] * floorf(1 / y_scale)) / sum) + y_zp).
 * The input zero point cancels in x - max; the output scale enters only as floor(1 / y_scale),
 * so this differs from quantizing an fp32 softmax. A signed input gives the same table indices
 * as the same values shifted by 128, so only the output must be unsigned. */

typedef struct softmax_state {
    float table[256];
    float y_scale_inv;   /* floorf(1 / y_scale) */
    int32_t y_zp;
    int64_t outer, len, inner;
} softmax_state;

static unsigned data_in(const qp_plan *plan, const qp_node *n) { (void)plan; (void)n; return 1u; }
static unsigned data_out(const qp_plan *plan, const qp_node *n) { (void)plan; (void)n; return 1u; }

/* The (outer, len, inner) view of the reduction, as the fp32 Softmax reads it: before opset 13
 * the input is coerced to 2-D at axis (default 1), from 13 on only dim axis (default -1). */
static int softmax_view(const qp_q8_prep *p, int64_t *outer, int64_t *len, int64_t *inner, char *why, size_t cap) {
    const qp_shape *xs = &p->inputs[0]->shape;
    const int legacy = p->opset > 0 && p->opset < 13;
    if (xs->rank < 1) {
        snprintf(why, cap, "a scalar input");
        return 0;
    }
    int64_t axis = qp_node_attr_int(p->node, "axis", legacy ? 1 : -1);
    if (axis < -xs->rank || axis >= xs->rank) {
        snprintf(why, cap, "axis %lld out of range for rank %d", (long long)axis, xs->rank);
        return 0;
    }
    if (axis < 0) axis += xs->rank;
    *outer = *len = *inner = 1;
    for (int d = 0; d < xs->rank; d++) {
        if (d < axis) *outer *= xs->dims[d];
        else if (d == axis || legacy) *len *= xs->dims[d];
        else *inner *= xs->dims[d];
    }
    return 1;
}

static int softmax_check(const qp_q8_prep *p, char *why, size_t cap) {
    int64_t outer, len, inner;
    if (p->n_inputs != 1 || p->n_outputs != 1) {
        snprintf(why, cap, "%d inputs, %d outputs", p->n_inputs, p->n_outputs);
        return 0;
    }
    if (!softmax_view(p, &outer, &len, &inner, why, cap)) return 0;
    const qp_q8_act *in = &p->in_act[0], *out = &p->out_act[0];
    /* ORT's signed output path wraps codes past 127, and narrower ranges would need a clamp it
     * does not apply: only a full uint8 output range reproduces it. */
    if (out->qmin != 0 || out->qmax != 255 || out->zero_point < 0 || out->zero_point > 255) {
        snprintf(why, cap, "output encoding is not unsigned 8-bit (QLinearSoftmax takes uint8 [0, 255])");
        return 0;
    }
    if (!(in->scale > 0.0f) || !isfinite(in->scale) || !(out->scale > 0.0f) || !isfinite(1.0f / out->scale) ||
        !(floorf(1.0f / out->scale) < 16777216.0f)) {
        snprintf(why, cap, "scales out of QLinearSoftmax's range");
        return 0;
    }
    if (len < 1) {
        snprintf(why, cap, "empty softmax axis");
        return 0;
    }
    return 1;
}

static void softmax_release(void *state) { free(state); }

static qp_status softmax_prepare(const qp_q8_prep *p, void **state, size_t *scratch_bytes) {
    char why[160];
    softmax_state *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "out of memory");
    if (!softmax_view(p, &s->outer, &s->len, &s->inner, why, sizeof why)) {
        free(s);
        return qp_error(QP_ERR_UNSUPPORTED, "node '%s': int8 Softmax: %s", p->node->name ? p->node->name : "Softmax",
                        why);
    }
    const float x_scale = p->in_act[0].scale;
    /* FLT_MAX / D is a float division in ORT (float / size_t). */
    double shift = log((double)(FLT_MAX / (float)s->len));
    shift = (shift - 5.0 > 0.0 ? shift - 5.0 : 0.0) / (double)x_scale;
    for (int i = 0; i < 256; i++) s->table[i] = (float)exp(((double)i - 255.0 + shift) * (double)x_scale);
    s->y_scale_inv = floorf(1.0f / p->out_act[0].scale);
    s->y_zp = p->out_act[0].zero_point;
    *state = s;
    *scratch_bytes = 0;
    return QP_OK;
}

/* One row of len values len apart by stride; the sum runs in index order like ORT's loop, with
 * no reassociation (the build has no -ffast-math), so it rounds identically. */
static void softmax_row(const softmax_state *s, const uint8_t *x, uint8_t *y, int64_t stride) {
    uint8_t m = 0;
    for (int64_t j = 0; j < s->len; j++)
        if (x[j * stride] > m) m = x[j * stride];
    const float *t = s->table + 255 - m;
    float sum = 0.0f;
    for (int64_t j = 0; j < s->len; j++) sum += t[x[j * stride]];
    /* t[m] = table[255] > 0 is always in the sum; a zero sum cannot happen. */
    for (int64_t j = 0; j < s->len; j++) {
        float r = nearbyintf((t[x[j * stride]] * s->y_scale_inv) / sum);
        /* With one or two classes and a fine y_scale the product overflows to inf; ORT's
         * (uint32_t) cast then compiles to a 64-bit truncation giving INT64_MIN, whose low
         * 32 bits are 0. Spelled out here, as C leaves that cast undefined. */
        uint32_t q = (r < 9.2e18f ? (uint32_t)(int64_t)r : 0u) + (uint32_t)s->y_zp;
        y[j * stride] = q > 255u ? (uint8_t)255 : (uint8_t)q;
    }
}

static qp_status softmax_run(qp_op_context *ctx) {
    const softmax_state *s = ctx->state;
    const uint8_t *x = ctx->inputs[0]->data;
    uint8_t *y = ctx->outputs[0]->data;
    /* A classifier's final softmax is ~1000 values: threads would cost more than they save. */
    for (int64_t o = 0; o < s->outer; o++)
        for (int64_t i = 0; i < s->inner; i++) {
            int64_t base = o * s->len * s->inner + i;
            softmax_row(s, x + base, y + base, s->inner);
        }
    return QP_OK;
}

const qp_q8_op qp_q8_softmax_op = {.op_type = "Softmax", .data_inputs = data_in, .data_outputs = data_out,
                                   .check = softmax_check, .prepare = softmax_prepare, .release = softmax_release,
                                   .run = softmax_run};
