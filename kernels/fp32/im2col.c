/* im2col.c — unfolds convolution windows into a column matrix for sgemm, and its adjoint for ConvTranspose. */
#include <string.h>

#include "kernels/fp32/f32_kernels.h"
#include "kernels/fp32/f32_window.h"

int64_t qp_f32_im2col_rows_per_channel(const qp_f32_window *w) {
    return w->kernel[0] * w->kernel[1] * w->kernel[2];
}

int64_t qp_f32_im2col_cols(const qp_f32_window *w) {
    return w->out[0] * w->out[1] * w->out[2];
}

void qp_f32_im2col(const qp_f32_window *w, int64_t c_begin, int64_t c_end, const float *input,
                   float *col) {
    const int64_t in_plane = w->in[0] * w->in[1] * w->in[2];
    const int64_t ow_n = w->out[2], sw = w->stride[2];
    const int64_t cols = qp_f32_im2col_cols(w), rows = qp_f32_im2col_rows_per_channel(w);
    for (int64_t c = c_begin; c < c_end; c++) {
        const float *plane = input + c * in_plane;
        float *dst = col + c * rows * cols;
        for (int64_t kd = 0; kd < w->kernel[0]; kd++)
            for (int64_t kh = 0; kh < w->kernel[1]; kh++)
                for (int64_t kw = 0; kw < w->kernel[2]; kw++) {
                    int64_t offset_w = kw * w->dilation[2] - w->pad_begin[2];
                    int64_t ow_b, ow_e;
                    qp_f32_valid_outputs(offset_w, sw, w->in[2], ow_n, &ow_b, &ow_e);
                    for (int64_t od = 0; od < w->out[0]; od++) {
                        int64_t id = od * w->stride[0] - w->pad_begin[0] + kd * w->dilation[0];
                        for (int64_t oh = 0; oh < w->out[1]; oh++, dst += ow_n) {
                            int64_t ih = oh * w->stride[1] - w->pad_begin[1] + kh * w->dilation[1];
                            if (id < 0 || id >= w->in[0] || ih < 0 || ih >= w->in[1] || ow_b >= ow_e) {
                                memset(dst, 0, (size_t)ow_n * sizeof(float));
                                continue;
                            }
                            /* first valid tap: stays inside the plane, unlike row start + offset */
                            const float *src =
                                plane + (id * w->in[1] + ih) * w->in[2] + ow_b * sw + offset_w;
                            if (ow_b > 0) memset(dst, 0, (size_t)ow_b * sizeof(float));
                            if (sw == 1) {
                                memcpy(dst + ow_b, src, (size_t)(ow_e - ow_b) * sizeof(float));
                            } else {
                                for (int64_t i = 0; i < ow_e - ow_b; i++) dst[ow_b + i] = src[i * sw];
                            }
                            if (ow_e < ow_n) memset(dst + ow_e, 0, (size_t)(ow_n - ow_e) * sizeof(float));
                        }
                    }
                }
    }
}

void qp_f32_col2im_add(const qp_f32_window *w, int64_t c_begin, int64_t c_end, const float *col,
                       float *image) {
    const int64_t in_plane = w->in[0] * w->in[1] * w->in[2];
    const int64_t ow_n = w->out[2], sw = w->stride[2];
    const int64_t cols = qp_f32_im2col_cols(w), rows = qp_f32_im2col_rows_per_channel(w);
    for (int64_t c = c_begin; c < c_end; c++) {
        float *plane = image + c * in_plane;
        const float *src = col + c * rows * cols;
        for (int64_t kd = 0; kd < w->kernel[0]; kd++)
            for (int64_t kh = 0; kh < w->kernel[1]; kh++)
                for (int64_t kw = 0; kw < w->kernel[2]; kw++) {
                    int64_t offset_w = kw * w->dilation[2] - w->pad_begin[2];
                    int64_t ow_b, ow_e;
                    qp_f32_valid_outputs(offset_w, sw, w->in[2], ow_n, &ow_b, &ow_e);
                    for (int64_t od = 0; od < w->out[0]; od++) {
                        int64_t id = od * w->stride[0] - w->pad_begin[0] + kd * w->dilation[0];
                        for (int64_t oh = 0; oh < w->out[1]; oh++, src += ow_n) {
                            int64_t ih = oh * w->stride[1] - w->pad_begin[1] + kh * w->dilation[1];
                            if (id < 0 || id >= w->in[0] || ih < 0 || ih >= w->in[1] || ow_b >= ow_e)
                                continue;
                            float *dst = plane + (id * w->in[1] + ih) * w->in[2] + ow_b * sw + offset_w;
                            for (int64_t i = 0; i < ow_e - ow_b; i++) dst[i * sw] += src[ow_b + i];
                        }
                    }
                }
    }
}
