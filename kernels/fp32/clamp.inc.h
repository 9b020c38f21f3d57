/* clamp.inc.h — Relu/Clip over a float array (out may equal in); included once per ISA (QP_F32_ISA_NAME) so the
 * loop vectorizes at each width (activation.c itself is built for the baseline ISA). */
#ifndef QP_F32_ISA_NAME
#error "define QP_F32_ISA_NAME(name) before including clamp.inc.h"
#endif

#include "kernels/fp32/f32_kernels.h"

/* Clip's compare-and-select (v < lo ? lo : v, then v > hi ? hi : v): max/min instructions with the
 * operands in this order keep a NaN v, so results equal the scalar definition bit for bit. */
void QP_F32_ISA_NAME(qp_f32_clamp)(const float *in, float *out, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) {
        const float x = in[i];
        const float v = lo > x ? lo : x;
        out[i] = hi < v ? hi : v;
    }
}
