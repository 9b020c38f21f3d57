/* resize.c — ONNX Resize (opset 10-19: nearest/linear/cubic, every coordinate transformation) and Upsample
 * (opset 7/9). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/op.h"
#include "ops/ops_common_util.h"

enum { MODE_NEAREST, MODE_LINEAR, MODE_CUBIC };
enum {
    CTM_HALF_PIXEL,
    CTM_HALF_PIXEL_SYMMETRIC,
    CTM_PYTORCH_HALF_PIXEL,
    CTM_ALIGN_CORNERS,
    CTM_ASYMMETRIC,
    CTM_TF_HALF_PIXEL_FOR_NN,
    CTM_TF_CROP_AND_RESIZE
};
/* NEAREST_SIMPLE is ONNX Runtime's rule for Upsample and Resize-10 (whose spec leaves it open):
 * truncate when upsampling, ceil when downsampling. */
enum { NEAREST_ROUND_PREFER_FLOOR, NEAREST_ROUND_PREFER_CEIL, NEAREST_FLOOR, NEAREST_CEIL, NEAREST_SIMPLE };

/* Outer-dimension tap combinations per output row are built on the stack; this bounds them. */
#define MAX_COMBOS 1024

typedef struct resize_cfg {
    int rank;
    int64_t in[QP_MAX_RANK], out[QP_MAX_RANK];
    double scale[QP_MAX_RANK];
    double roi_start[QP_MAX_RANK], roi_end[QP_MAX_RANK];
    int mode, ctm, nearest, exclude_outside;
    double cubic_a;
    float extrapolation;
} resize_cfg;

static qp_status pick(const char *what, const char *value, const char *const *names, int n, int *out) {
    for (int i = 0; i < n; i++)
        if (strcmp(value, names[i]) == 0) {
            *out = i;
            return QP_OK;
        }
    return qp_error(QP_ERR_UNSUPPORTED, "Resize: %s \"%s\" is not supported", what, value);
}

/* Reads attributes and the scales/sizes/roi inputs into cfg (output dims included). */
static qp_status resize_config(const qp_op_context *ctx, resize_cfg *c) {
    const qp_node *node = ctx->node;
    const qp_value *x = ctx->inputs[0];
    int is_upsample = strcmp(node->op_type, "Upsample") == 0;
    int r = x->shape.rank;
    qp_status st;
    memset(c, 0, sizeof *c);
    c->rank = r;
    for (int d = 0; d < r; d++) {
        c->in[d] = x->shape.dims[d];
        c->roi_start[d] = 0;
        c->roi_end[d] = 1;
    }
    const char *mode = qp_node_attr_string(node, "mode", "nearest");
    if (strcmp(mode, "nearest") == 0)
        c->mode = MODE_NEAREST;
    else if (strcmp(mode, "linear") == 0 || strcmp(mode, "bilinear") == 0)
        c->mode = MODE_LINEAR;
    else if (strcmp(mode, "cubic") == 0 && !is_upsample)
        c->mode = MODE_CUBIC;
    else
        return qp_error(QP_ERR_UNSUPPORTED, "%s: mode \"%s\" is not supported", node->op_type, mode);
    c->cubic_a = qp_node_attr_float(node, "cubic_coeff_a", -0.75f);
    c->exclude_outside = qp_node_attr_int(node, "exclude_outside", 0) != 0;
    c->extrapolation = qp_node_attr_float(node, "extrapolation_value", 0.0f);
    int legacy = is_upsample || ctx->opset < 11;
    if (legacy) {
        c->ctm = CTM_ASYMMETRIC;
        c->nearest = NEAREST_SIMPLE;
    } else {
        static const char *const ctms[] = {
            "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
            "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
        static const char *const nearests[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
        if ((st = pick("coordinate_transformation_mode",
                       qp_node_attr_string(node, "coordinate_transformation_mode", "half_pixel"), ctms, 7,
                       &c->ctm)) != QP_OK)
            return st;
        if ((st = pick("nearest_mode", qp_node_attr_string(node, "nearest_mode", "round_prefer_floor"),
                       nearests, 4, &c->nearest)) != QP_OK)
            return st;
        if (qp_node_attr_int(node, "antialias", 0))
            return qp_error(QP_ERR_UNSUPPORTED, "Resize: antialias=1 is not supported");
    }

    /* Scales and sizes, possibly restricted to 'axes' (opset 18). */
    int64_t axes[QP_MAX_RANK];
    int n_axes = r;
    for (int d = 0; d < r; d++)
        axes[d] = d;
    int n_ax_attr = 0;
    const int64_t *ax = legacy ? NULL : qp_node_attr_ints(node, "axes", &n_ax_attr);
    if (ax) {
        if (n_ax_attr > r) return qp_error(QP_ERR_INVALID_MODEL, "Resize: more axes than input dims");
        memcpy(axes, ax, sizeof(int64_t) * (size_t)n_ax_attr);
        n_axes = n_ax_attr;
        if ((st = qp_ops_normalize_axes(axes, n_axes, r, "Resize")) != QP_OK) return st;
    }
    double scales[QP_MAX_RANK];
    int64_t sizes[QP_MAX_RANK];
    int n_scales = 0, n_sizes = 0;
    if (is_upsample && ctx->opset < 9) {
        const float *s = qp_node_attr_floats(node, "scales", &n_scales);
        if (n_scales > QP_MAX_RANK) return qp_error(QP_ERR_INVALID_MODEL, "Upsample: too many scales");
        for (int i = 0; i < n_scales; i++)
            scales[i] = s[i];
    } else if (legacy) {
        if ((st = qp_ops_const_floats(ctx, 1, "scales", scales, QP_MAX_RANK, &n_scales)) != QP_OK) return st;
    } else {
        if (qp_ops_in(ctx, 2) &&
            (st = qp_ops_const_floats(ctx, 2, "scales", scales, QP_MAX_RANK, &n_scales)) != QP_OK)
            return st;
        if (qp_ops_in(ctx, 3) &&
            (st = qp_ops_const_ints(ctx, 3, "sizes", sizes, QP_MAX_RANK, &n_sizes)) != QP_OK)
            return st;
        if (c->ctm == CTM_TF_CROP_AND_RESIZE && qp_ops_in(ctx, 1)) {
            double roi[2 * QP_MAX_RANK];
            int n_roi = 0;
            if ((st = qp_ops_const_floats(ctx, 1, "roi", roi, 2 * QP_MAX_RANK, &n_roi)) != QP_OK) return st;
            if (n_roi != 0 && n_roi != 2 * n_axes)
                return qp_error(QP_ERR_INVALID_MODEL, "Resize: roi has %d values, expected %d", n_roi,
                                2 * n_axes);
            for (int i = 0; n_roi && i < n_axes; i++) {
                c->roi_start[axes[i]] = roi[i];
                c->roi_end[axes[i]] = roi[i + n_axes];
            }
        }
    }
    if (n_scales && n_sizes)
        return qp_error(QP_ERR_INVALID_MODEL, "%s: only one of 'scales' and 'sizes' may be given",
                        node->op_type);
    if (!n_scales && !n_sizes)
        return qp_error(QP_ERR_INVALID_MODEL, "%s: one of 'scales' or 'sizes' is required", node->op_type);
    int n_given = n_scales ? n_scales : n_sizes;
    if (n_given != n_axes)
        return qp_error(QP_ERR_INVALID_MODEL, "%s: %d %s for %d axes", node->op_type, n_given,
                        n_scales ? "scales" : "sizes", n_axes);
    for (int d = 0; d < r; d++) {
        c->out[d] = c->in[d];
        c->scale[d] = 1.0;
    }
    if (n_scales) {
        for (int i = 0; i < n_axes; i++) {
            int d = (int)axes[i];
            if (!(scales[i] > 0))
                return qp_error(QP_ERR_INVALID_MODEL, "%s: scale %g must be positive", node->op_type,
                                scales[i]);
            c->scale[d] = scales[i];
            double span = c->ctm == CTM_TF_CROP_AND_RESIZE ? c->roi_end[d] - c->roi_start[d] : 1.0;
            double o = floor((double)c->in[d] * span * scales[i]);
            if (o > (double)(INT64_C(1) << 40))
                return qp_error(QP_ERR_SHAPE, "%s: output dim %.0f is too large", node->op_type, o);
            c->out[d] = o > 0 ? (int64_t)o : 0;
        }
    } else {
        const char *policy = qp_node_attr_string(node, "keep_aspect_ratio_policy", "stretch");
        int keep = 0;
        if (strcmp(policy, "not_larger") == 0)
            keep = 1;
        else if (strcmp(policy, "not_smaller") == 0)
            keep = 2;
        else if (strcmp(policy, "stretch") != 0)
            return qp_error(QP_ERR_UNSUPPORTED, "Resize: keep_aspect_ratio_policy \"%s\" is not supported",
                            policy);
        double common = keep == 1 ? INFINITY : 0;
        for (int i = 0; i < n_axes; i++) {
            int d = (int)axes[i];
            if (sizes[i] < 0 || sizes[i] > (INT64_C(1) << 40))
                return qp_error(QP_ERR_SHAPE, "Resize: size %lld is negative or too large",
                                (long long)sizes[i]);
            if (c->in[d] == 0) return qp_error(QP_ERR_SHAPE, "Resize: cannot resize the empty axis %d", d);
            double s = (double)sizes[i] / (double)c->in[d];
            if (keep == 1 && s < common) common = s;
            if (keep == 2 && s > common) common = s;
            c->out[d] = sizes[i];
            c->scale[d] = s;
        }
        if (keep)
            for (int i = 0; i < n_axes; i++) {
                int d = (int)axes[i];
                c->scale[d] = common;
                c->out[d] = (int64_t)floor((double)c->in[d] * common + 0.5);
            }
    }
    for (int d = 0; d < r; d++)
        if (c->out[d] > 0 && c->in[d] == 0)
            return qp_error(QP_ERR_SHAPE, "%s: cannot resize the empty axis %d", node->op_type, d);
    return QP_OK;
}

static qp_status resize_infer(qp_op_context *ctx) {
    int is_upsample = strcmp(ctx->node->op_type, "Upsample") == 0;
    int max_in = is_upsample ? (ctx->opset < 9 ? 1 : 2) : (ctx->opset < 11 ? 2 : 4);
    qp_status st = qp_ops_check_arity(ctx, 1, max_in, 1, 1);
    if (st != QP_OK) return st;
    const qp_value *x = ctx->inputs[0];
    if (x->shape.rank == 0)
        return qp_error(QP_ERR_SHAPE, "%s: input must have rank >= 1", ctx->node->op_type);
    resize_cfg c;
    if ((st = resize_config(ctx, &c)) != QP_OK) return st;
    if (c.mode == MODE_NEAREST ? qp_dtype_size(x->dtype) == 0 : !qp_ops_is_float(x->dtype))
        return qp_error(QP_ERR_UNSUPPORTED, "%s: dtype %s is not supported with mode %s (supported: %s)",
                        ctx->node->op_type, qp_dtype_name(x->dtype),
                        c.mode == MODE_NEAREST ? "nearest" : "linear/cubic",
                        c.mode == MODE_NEAREST ? "any fixed-size dtype" : "float32, float64");
    qp_shape out = {.rank = c.rank};
    for (int d = 0; d < c.rank; d++)
        out.dims[d] = c.out[d];
    if ((st = qp_ops_check_output_shape(ctx, &out)) != QP_OK) return st;
    qp_value_set(ctx->outputs[0], x->dtype, &out);
    return QP_OK;
}

/* Per-dimension interpolation taps: for output index o, count[o] (input index, weight) pairs
 * with non-zero weight, plus whether o falls outside the crop (tf_crop_and_resize). */
typedef struct dim_taps {
    int width;    /* taps per output index: 1, 2 or 4 */
    int identity; /* output o reads exactly input o */
    int64_t *idx;
    double *w;
    float *wf; /* w as float, for the float32 fast path */
    uint8_t *count;
    uint8_t *outside;
} dim_taps;

typedef struct resize_state {
    resize_cfg cfg;
    dim_taps dims[QP_MAX_RANK];
    void *block;
} resize_state;

static double original_coordinate(const resize_cfg *c, int d, int64_t x) {
    double s = c->scale[d], in = (double)c->in[d], out_len = s * in, xr = (double)x;
    switch (c->ctm) {
    case CTM_HALF_PIXEL: return (xr + 0.5) / s - 0.5;
    case CTM_HALF_PIXEL_SYMMETRIC: {
        double adjustment = (double)c->out[d] / out_len, center = in / 2;
        return center * (1 - adjustment) + (xr + 0.5) / s - 0.5;
    }
    case CTM_PYTORCH_HALF_PIXEL: return c->out[d] > 1 ? (xr + 0.5) / s - 0.5 : 0.0;
    case CTM_ALIGN_CORNERS: return out_len == 1 ? 0.0 : xr * (in - 1) / (out_len - 1);
    case CTM_ASYMMETRIC: return xr / s;
    case CTM_TF_HALF_PIXEL_FOR_NN: return (xr + 0.5) / s;
    default: { /* tf_crop_and_resize */
        double a = c->roi_start[d], b = c->roi_end[d];
        if (out_len == 1) return (b - a) * (in - 1) / 2 + a * (in - 1);
        return xr * (b - a) * (in - 1) / (out_len - 1) + a * (in - 1);
    }
    }
}

static int64_t clamp_index(int64_t i, int64_t n) {
    return i < 0 ? 0 : i >= n ? n - 1 : i;
}

static void build_dim(const resize_cfg *c, int d, dim_taps *t) {
    int64_t n_in = c->in[d];
    int identity = c->out[d] == n_in;
    for (int64_t o = 0; o < c->out[d]; o++) {
        double xo = original_coordinate(c, d, o);
        int64_t *idx = t->idx + o * t->width;
        double *w = t->w + o * t->width;
        t->outside[o] = c->ctm == CTM_TF_CROP_AND_RESIZE && (xo < 0 || xo > (double)(n_in - 1));
        double f = floor(xo), ratio = xo - f;
        int64_t base = (int64_t)f, raw[4];
        double cw[4];
        int k = 0;
        if (c->mode == MODE_NEAREST) {
            int64_t i;
            if (c->nearest == NEAREST_SIMPLE)
                i = c->scale[d] < 1 ? (int64_t)ceil(xo) : (int64_t)xo;
            else if (ratio == 0)
                i = base;
            else if (c->nearest == NEAREST_ROUND_PREFER_FLOOR)
                i = ratio <= 0.5 ? base : base + 1;
            else if (c->nearest == NEAREST_ROUND_PREFER_CEIL)
                i = ratio < 0.5 ? base : base + 1;
            else if (c->nearest == NEAREST_FLOOR)
                i = base;
            else
                i = base + 1;
            raw[0] = i;
            cw[0] = 1.0;
            k = 1;
        } else if (c->mode == MODE_LINEAR) {
            raw[0] = base, raw[1] = base + 1;
            cw[0] = 1 - ratio, cw[1] = ratio;
            k = 2;
        } else {
            double A = c->cubic_a, r = ratio, q = 1 - r;
            raw[0] = base - 1, raw[1] = base, raw[2] = base + 1, raw[3] = base + 2;
            cw[0] = ((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A;
            cw[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
            cw[2] = ((A + 2) * q - (A + 3)) * q * q + 1;
            cw[3] = ((A * (q + 1) - 5 * A) * (q + 1) + 8 * A) * (q + 1) - 4 * A;
            k = 4;
        }
        if (c->exclude_outside && c->mode != MODE_NEAREST) {
            double sum = 0;
            for (int i = 0; i < k; i++) {
                if (raw[i] < 0 || raw[i] >= n_in) cw[i] = 0;
                sum += cw[i];
            }
            if (sum != 0)
                for (int i = 0; i < k; i++)
                    cw[i] /= sum;
        }
        int m = 0;
        for (int i = 0; i < k; i++) {
            if (cw[i] == 0) continue;
            idx[m] = clamp_index(raw[i], n_in);
            w[m] = cw[i];
            m++;
        }
        t->count[o] = (uint8_t)m;
        if (!(m == 1 && idx[0] == o && w[0] == 1.0) || t->outside[o]) identity = 0;
    }
    t->identity = identity;
}

static void resize_release(void *state) {
    resize_state *s = state;
    if (!s) return;
    free(s->block);
    free(s);
}

static qp_status resize_build(const qp_op_context *ctx, resize_state **out) {
    resize_state *s = calloc(1, sizeof *s);
    if (!s) return qp_error(QP_ERR_NOMEM, "out of memory");
    qp_status st = resize_config(ctx, &s->cfg);
    if (st != QP_OK) {
        free(s);
        return st;
    }
    const resize_cfg *c = &s->cfg;
    int width = c->mode == MODE_NEAREST ? 1 : c->mode == MODE_LINEAR ? 2 : 4;
    size_t total = 0;
    /* One block; the byte arrays of each dim are padded so the next dim's idx stays 8-aligned. */
    for (int d = 0; d < c->rank; d++)
        total += (size_t)c->out[d] * (sizeof(int64_t) + sizeof(double)) * width +
                 ((size_t)c->out[d] * width * sizeof(float) + 7) / 8 * 8 +
                 ((size_t)c->out[d] * 2 + 7) / 8 * 8;
    s->block = malloc(total ? total : 1);
    if (!s->block) {
        free(s);
        return qp_error(QP_ERR_NOMEM, "out of memory building Resize tables");
    }
    unsigned char *p = s->block;
    int64_t combos = 1;
    for (int d = 0; d < c->rank; d++) {
        dim_taps *t = &s->dims[d];
        size_t n = (size_t)c->out[d];
        t->width = width;
        t->idx = (int64_t *)p, p += n * width * sizeof(int64_t);
        t->w = (double *)p, p += n * width * sizeof(double);
        t->wf = (float *)p, p += (n * width * sizeof(float) + 7) / 8 * 8;
        t->count = p, p += n;
        t->outside = p, p += (n * 2 + 7) / 8 * 8 - n;
        build_dim(c, d, t);
        for (size_t i = 0; i < n * (size_t)width; i++)
            t->wf[i] = (float)t->w[i];
        if (d < c->rank - 1 && !t->identity) combos *= width;
    }
    if (combos > MAX_COMBOS) {
        resize_release(s);
        return qp_error(QP_ERR_UNSUPPORTED, "%s: interpolating over this many dims at once is not supported",
                        ctx->node->op_type);
    }
    *out = s;
    return QP_OK;
}

static qp_status resize_prepare(qp_op_context *ctx, void **state, size_t *scratch_bytes) {
    *scratch_bytes = 0;
    return resize_build(ctx, (resize_state **)state);
}

typedef struct resize_job {
    const resize_state *s;
    const unsigned char *x;
    unsigned char *y;
    qp_dtype dt;
    size_t es;
    int64_t in_strides[QP_MAX_RANK];
} resize_job;

/* Longest input row the separable float path blends on the stack. */
#define TMP_ROW 4096

/* One output row of nearest-neighbour (or any single-tap) resizing: a gather by element size. */
static void nearest_row(const resize_job *j, unsigned char *yrow, int64_t src_off, const dim_taps *lt,
                        int64_t w_out) {
    const int64_t *idx = lt->idx;
    switch (j->es) {
#define GATHER(T)                                                                                            \
    {                                                                                                        \
        const T *src = (const T *)j->x + src_off;                                                            \
        T *o = (T *)yrow;                                                                                    \
        for (int64_t xo = 0; xo < w_out; xo++)                                                               \
            o[xo] = src[idx[xo]];                                                                            \
        break;                                                                                               \
    }
    case 1: GATHER(uint8_t)
    case 2: GATHER(uint16_t)
    case 4: GATHER(uint32_t)
    case 8: GATHER(uint64_t)
#undef GATHER
    default:
        for (int64_t xo = 0; xo < w_out; xo++)
            memcpy(yrow + (size_t)xo * j->es, j->x + (size_t)(src_off + idx[xo]) * j->es, j->es);
    }
}

static void resize_rows(void *user, int64_t begin, int64_t end) {
    const resize_job *j = user;
    const resize_cfg *c = &j->s->cfg;
    int r = c->rank, last = r - 1;
    const dim_taps *lt = &j->s->dims[last];
    int64_t w_out = c->out[last];
    int64_t combo_off[MAX_COMBOS];
    double combo_w[MAX_COMBOS];
    for (int64_t row = begin; row < end; row++) {
        /* Unravel the row index over the outer dims and expand their taps. */
        int64_t o_idx[QP_MAX_RANK], rem = row;
        for (int d = last - 1; d >= 0; d--) {
            o_idx[d] = rem % c->out[d];
            rem /= c->out[d];
        }
        int n_combo = 1, outside = 0;
        combo_off[0] = 0;
        combo_w[0] = 1.0;
        for (int d = 0; d < last; d++) {
            const dim_taps *t = &j->s->dims[d];
            int64_t o = o_idx[d];
            outside |= t->outside[o];
            if (t->identity) {
                for (int k = 0; k < n_combo; k++)
                    combo_off[k] += o * j->in_strides[d];
                continue;
            }
            int m = t->count[o], n_new = 0;
            for (int k = n_combo - 1; k >= 0; k--) /* expand in place from the back */
                for (int q = m - 1; q >= 0; q--) {
                    int dst = k * m + q;
                    combo_off[dst] = combo_off[k] + t->idx[o * t->width + q] * j->in_strides[d];
                    combo_w[dst] = combo_w[k] * t->w[o * t->width + q];
                    n_new++;
                }
            n_combo = n_new;
        }
        unsigned char *yrow = j->y + (size_t)(row * w_out) * j->es;
        if (c->ctm != CTM_TF_CROP_AND_RESIZE && n_combo == 1 && lt->width == 1) {
            nearest_row(j, yrow, combo_off[0], lt, w_out);
            continue;
        }
        if (c->ctm != CTM_TF_CROP_AND_RESIZE && j->dt == QP_DT_FLOAT && c->in[last] <= TMP_ROW) {
            /* Separable: blend the outer taps' input rows once, then interpolate along the row. */
            float tmp[TMP_ROW];
            const float *blend = (const float *)j->x + combo_off[0];
            int64_t w_in = c->in[last];
            if (n_combo > 1 || combo_w[0] != 1.0) {
                float w0 = (float)combo_w[0];
                for (int64_t i = 0; i < w_in; i++)
                    tmp[i] = w0 * blend[i];
                for (int k = 1; k < n_combo; k++) {
                    const float *src = (const float *)j->x + combo_off[k];
                    float wk = (float)combo_w[k];
                    for (int64_t i = 0; i < w_in; i++)
                        tmp[i] += wk * src[i];
                }
                blend = tmp;
            }
            float *yo = (float *)yrow;
            if (lt->width == 2) {
                for (int64_t xo = 0; xo < w_out; xo++) {
                    const int64_t *ti = lt->idx + 2 * xo;
                    const float *tw = lt->wf + 2 * xo;
                    int m = lt->count[xo];
                    yo[xo] = m == 2   ? tw[0] * blend[ti[0]] + tw[1] * blend[ti[1]]
                             : m == 1 ? tw[0] * blend[ti[0]]
                                      : 0.0f;
                }
            } else {
                for (int64_t xo = 0; xo < w_out; xo++) {
                    const int64_t *ti = lt->idx + lt->width * xo;
                    const float *tw = lt->wf + lt->width * xo;
                    float acc = 0;
                    for (int q = 0; q < lt->count[xo]; q++)
                        acc += tw[q] * blend[ti[q]];
                    yo[xo] = acc;
                }
            }
            continue;
        }
        if (j->dt == QP_DT_FLOAT || j->dt == QP_DT_DOUBLE) {
            for (int64_t xo = 0; xo < w_out; xo++) {
                double acc = 0;
                if (outside || lt->outside[xo]) {
                    acc = c->extrapolation;
                } else {
                    int m = lt->count[xo];
                    const int64_t *ti = lt->idx + xo * lt->width;
                    const double *tw = lt->w + xo * lt->width;
                    for (int k = 0; k < n_combo; k++) {
                        double part = 0;
                        if (j->dt == QP_DT_FLOAT) {
                            const float *src = (const float *)j->x + combo_off[k];
                            for (int q = 0; q < m; q++)
                                part += tw[q] * src[ti[q]];
                        } else {
                            const double *src = (const double *)j->x + combo_off[k];
                            for (int q = 0; q < m; q++)
                                part += tw[q] * src[ti[q]];
                        }
                        acc += combo_w[k] * part;
                    }
                }
                if (j->dt == QP_DT_FLOAT)
                    ((float *)yrow)[xo] = (float)acc;
                else
                    ((double *)yrow)[xo] = acc;
            }
        } else { /* nearest on any dtype: one tap, copy bytes */
            for (int64_t xo = 0; xo < w_out; xo++) {
                unsigned char *dst = yrow + (size_t)xo * j->es;
                if (outside || lt->outside[xo])
                    qp_ops_store_f64(dst, j->dt, 0, c->extrapolation);
                else
                    memcpy(dst, j->x + (size_t)(combo_off[0] + lt->idx[xo * lt->width]) * j->es, j->es);
            }
        }
    }
}

static qp_status resize_run(qp_op_context *ctx) {
    const qp_value *x = ctx->inputs[0];
    qp_value *y = ctx->outputs[0];
    resize_state *owned = NULL;
    const resize_state *s = ctx->state;
    if (!s) {
        qp_status st = resize_build(ctx, &owned);
        if (st != QP_OK) return st;
        s = owned;
    }
    int64_t numel = qp_shape_numel(&y->shape), w_out = y->shape.dims[y->shape.rank - 1];
    if (numel > 0 && w_out > 0) {
        resize_job j = {s, x->data, y->data, x->dtype, qp_dtype_size(x->dtype), {0}};
        qp_ops_shape_strides(&x->shape, j.in_strides);
        qp_ops_parallel(ctx->n_threads, numel / w_out, 32768 / w_out + 1, resize_rows, &j);
    }
    resize_release(owned);
    return QP_OK;
}

static const qp_op_def resize_def = {"Resize", "", resize_infer, resize_prepare, resize_release, resize_run};
static const qp_op_def upsample_def = {"Upsample",     "",        resize_infer, resize_prepare,
                                       resize_release, resize_run};

const qp_op_def *const qp_ops_resize[] = {&resize_def, &upsample_def, NULL};
