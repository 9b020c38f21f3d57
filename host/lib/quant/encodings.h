/* encodings.h — quantization state beside the graph: per-tensor encodings (AIMET's model) and scale/zero-point math. */
#ifndef QPIPE_ENCODINGS_H
#define QPIPE_ENCODINGS_H

#include <stdint.h>

#include "ir/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One tensor's encoding. Per-tensor: axis -1, n 1. Per-channel: n = dim(axis). Quantized value
 * q = clamp(round_half_even(x / scale) + zero_point, qmin, qmax); x' = (q - zero_point) * scale.
 * Integer range: symmetric -> signed [-(2^(b-1)-1), 2^(b-1)-1] (narrow range, zero point 0, so
 * weights negate exactly; TensorRT/ORT convention), asymmetric -> unsigned [0, 2^b - 1]. */
typedef struct qp_encoding {
    int bits;
    int symmetric;
    int axis;
    int n;
    float *scale;
    int32_t *zero_point;
    float *min;  /* the range the encoding represents: (qmin - zp) * scale .. (qmax - zp) * scale */
    float *max;
} qp_encoding;

/* Encodings of one graph, indexed by tensor id (grown on demand). */
typedef struct qp_encodings {
    qp_encoding **by_tensor; /* NULL = not quantized */
    int n_tensors;
} qp_encodings;

QP_API qp_encodings *qp_encodings_new(int n_tensors);
QP_API void qp_encodings_free(qp_encodings *encodings);
QP_API const qp_encoding *qp_encodings_get(const qp_encodings *encodings, int tensor);
QP_API void qp_encodings_clear(qp_encodings *encodings, int tensor);
/* Derives scale/zero point from per-channel ranges (see qp_encoding_from_range) and stores them. */
QP_API qp_status qp_encodings_set_range(qp_encodings *encodings, int tensor, int bits, int symmetric, int axis,
                                        int n, const float *min, const float *max);
/* Stores an encoding given directly by scale and zero point (QDQ import, AIMET import). */
QP_API qp_status qp_encodings_set(qp_encodings *encodings, int tensor, int bits, int symmetric, int axis, int n,
                                  const float *scale, const int32_t *zero_point);
/* Deep copy (AutoQuant candidates branch from a shared prefix). */
QP_API qp_encodings *qp_encodings_clone(const qp_encodings *encodings);

/* Integer range of an encoding. */
QP_API void qp_quant_range(int bits, int symmetric, int32_t *qmin, int32_t *qmax);
/* One channel: range [min, max] -> scale, zero point. Asymmetric widens the range to contain 0
 * and nudges it so 0 is exactly representable; a degenerate range (max - min tiny, NaN, Inf)
 * gets the smallest scale (1e-8) rather than 0 or NaN. */
QP_API void qp_encoding_from_range(int bits, int symmetric, float min, float max, float *scale, int32_t *zero_point);
/* Fake-quantizes one value (quantsim). */
static inline float qp_fake_quant(float x, float scale, int32_t zero_point, int32_t qmin, int32_t qmax) {
    float q = __builtin_nearbyintf(x / scale) + (float)zero_point; /* default rounding: half to even */
    q = q < (float)qmin ? (float)qmin : q > (float)qmax ? (float)qmax : q;
    return (q - (float)zero_point) * scale;
}

#ifdef __cplusplus
}
#endif
#endif
