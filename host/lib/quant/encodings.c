/* encodings.c — encoding storage and the range -> (scale, zero point) rule every pass shares. */
#include "quant/encodings.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Smallest scale we hand out: keeps 1/scale finite for all-zero or constant tensors. */
static const float QP_MIN_SCALE = 1e-8f;

void qp_quant_range(int bits, int symmetric, int32_t *qmin, int32_t *qmax) {
    if (symmetric) {
        *qmax = (int32_t)((1u << (bits - 1)) - 1);
        *qmin = -*qmax;
    } else {
        *qmin = 0;
        *qmax = (int32_t)((1u << bits) - 1);
    }
}

void qp_encoding_from_range(int bits, int symmetric, float min, float max, float *scale, int32_t *zero_point) {
    int32_t qmin, qmax;
    qp_quant_range(bits, symmetric, &qmin, &qmax);
    if (!isfinite(min)) min = 0;
    if (!isfinite(max)) max = 0;
    if (min > max) {
        float t = min;
        min = max;
        max = t;
    }
    if (symmetric) {
        float m = fmaxf(fabsf(min), fabsf(max));
        float s = m / (float)qmax;
        *scale = s > QP_MIN_SCALE ? s : QP_MIN_SCALE;
        *zero_point = 0;
        return;
    }
    min = fminf(min, 0.0f);
    max = fmaxf(max, 0.0f);
    float s = (max - min) / (float)(qmax - qmin);
    if (!(s > QP_MIN_SCALE)) s = QP_MIN_SCALE;
    /* Zero point rounded to an integer in range: 0.0 is then exactly representable (padding,
     * ReLU zeros), at the cost of shifting the range by under half a step. */
    float zp = (float)qmin - min / s;
    zp = nearbyintf(zp);
    if (zp < (float)qmin) zp = (float)qmin;
    if (zp > (float)qmax) zp = (float)qmax;
    *scale = s;
    *zero_point = (int32_t)zp;
}

qp_encodings *qp_encodings_new(int n_tensors) {
    qp_encodings *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->by_tensor = calloc((size_t)(n_tensors > 0 ? n_tensors : 1), sizeof *e->by_tensor);
    if (!e->by_tensor) {
        free(e);
        return NULL;
    }
    e->n_tensors = n_tensors;
    return e;
}

static void encoding_free(qp_encoding *enc) {
    if (!enc) return;
    free(enc->scale);
    free(enc->zero_point);
    free(enc->min);
    free(enc->max);
    free(enc);
}

void qp_encodings_free(qp_encodings *e) {
    if (!e) return;
    for (int t = 0; t < e->n_tensors; t++) encoding_free(e->by_tensor[t]);
    free(e->by_tensor);
    free(e);
}

const qp_encoding *qp_encodings_get(const qp_encodings *e, int tensor) {
    if (!e || tensor < 0 || tensor >= e->n_tensors) return NULL;
    return e->by_tensor[tensor];
}

void qp_encodings_clear(qp_encodings *e, int tensor) {
    if (!e || tensor < 0 || tensor >= e->n_tensors) return;
    encoding_free(e->by_tensor[tensor]);
    e->by_tensor[tensor] = NULL;
}

static qp_status grow(qp_encodings *e, int tensor) {
    if (tensor < e->n_tensors) return QP_OK;
    qp_encoding **grown = realloc(e->by_tensor, (size_t)(tensor + 1) * sizeof *grown);
    if (!grown) return qp_error(QP_ERR_NOMEM, "out of memory storing an encoding");
    memset(grown + e->n_tensors, 0, (size_t)(tensor + 1 - e->n_tensors) * sizeof *grown);
    e->by_tensor = grown;
    e->n_tensors = tensor + 1;
    return QP_OK;
}

static qp_status make(qp_encodings *e, int tensor, int bits, int symmetric, int axis, int n, qp_encoding **out) {
    if (tensor < 0) return qp_error(QP_ERR_INVALID_ARG, "encoding for invalid tensor id %d", tensor);
    if (bits < 2 || bits > 16) return qp_error(QP_ERR_INVALID_ARG, "bit-width %d out of range 2..16", bits);
    if (n < 1 || (axis < 0 && n != 1))
        return qp_error(QP_ERR_INVALID_ARG, "encoding with %d channels on axis %d", n, axis);
    qp_status st = grow(e, tensor);
    if (st != QP_OK) return st;
    qp_encoding *enc = calloc(1, sizeof *enc);
    if (enc) {
        enc->scale = malloc((size_t)n * sizeof *enc->scale);
        enc->zero_point = malloc((size_t)n * sizeof *enc->zero_point);
        enc->min = malloc((size_t)n * sizeof *enc->min);
        enc->max = malloc((size_t)n * sizeof *enc->max);
    }
    if (!enc || !enc->scale || !enc->zero_point || !enc->min || !enc->max) {
        encoding_free(enc);
        return qp_error(QP_ERR_NOMEM, "out of memory storing an encoding");
    }
    enc->bits = bits;
    enc->symmetric = symmetric;
    enc->axis = axis;
    enc->n = n;
    encoding_free(e->by_tensor[tensor]);
    e->by_tensor[tensor] = enc;
    *out = enc;
    return QP_OK;
}

qp_status qp_encodings_set_range(qp_encodings *e, int tensor, int bits, int symmetric, int axis, int n,
                                 const float *min, const float *max) {
    qp_encoding *enc;
    qp_status st = make(e, tensor, bits, symmetric, axis, n, &enc);
    if (st != QP_OK) return st;
    int32_t qmin, qmax;
    qp_quant_range(bits, symmetric, &qmin, &qmax);
    for (int c = 0; c < n; c++) {
        qp_encoding_from_range(bits, symmetric, min[c], max[c], &enc->scale[c], &enc->zero_point[c]);
        enc->min[c] = (float)(qmin - enc->zero_point[c]) * enc->scale[c];
        enc->max[c] = (float)(qmax - enc->zero_point[c]) * enc->scale[c];
    }
    return QP_OK;
}

qp_status qp_encodings_set(qp_encodings *e, int tensor, int bits, int symmetric, int axis, int n,
                           const float *scale, const int32_t *zero_point) {
    int32_t qmin, qmax;
    qp_quant_range(bits, symmetric, &qmin, &qmax);
    for (int c = 0; c < n; c++) {
        if (!(scale[c] > 0) || !isfinite(scale[c]))
            return qp_error(QP_ERR_INVALID_ARG, "scale %g of channel %d is not a positive finite number",
                            (double)scale[c], c);
        if (zero_point[c] < qmin || zero_point[c] > qmax)
            return qp_error(QP_ERR_INVALID_ARG, "zero point %d of channel %d outside [%d, %d]", zero_point[c], c,
                            qmin, qmax);
    }
    qp_encoding *enc;
    qp_status st = make(e, tensor, bits, symmetric, axis, n, &enc);
    if (st != QP_OK) return st;
    for (int c = 0; c < n; c++) {
        enc->scale[c] = scale[c];
        enc->zero_point[c] = zero_point[c];
        enc->min[c] = (float)(qmin - zero_point[c]) * scale[c];
        enc->max[c] = (float)(qmax - zero_point[c]) * scale[c];
    }
    return QP_OK;
}

qp_encodings *qp_encodings_clone(const qp_encodings *e) {
    qp_encodings *copy = qp_encodings_new(e->n_tensors);
    if (!copy) return NULL;
    for (int t = 0; t < e->n_tensors; t++) {
        const qp_encoding *src = e->by_tensor[t];
        if (!src) continue;
        if (qp_encodings_set(copy, t, src->bits, src->symmetric, src->axis, src->n, src->scale, src->zero_point) != QP_OK) {
            qp_encodings_free(copy);
            return NULL;
        }
        memcpy(copy->by_tensor[t]->min, src->min, (size_t)src->n * sizeof(float));
        memcpy(copy->by_tensor[t]->max, src->max, (size_t)src->n * sizeof(float));
    }
    return copy;
}
