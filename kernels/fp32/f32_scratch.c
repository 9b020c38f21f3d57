/* f32_scratch.c — scratch sizing twins of the depthwise and pooling kernels (the kernels are per-ISA builds of *.inc.h). */
#include "kernels/fp32/f32_kernels.h"

void qp_f32_dwconv2d_layout(const qp_f32_window *win, int64_t *padded_h, int64_t *padded_w) {
    int64_t spans[3], need[3];
    for (int d = 1; d < 3; d++) {
        spans[d] = (win->kernel[d] - 1) * win->dilation[d] + 1;
        need[d] = win->stride[d] * (win->out[d] - 1) + spans[d];
        int64_t natural = win->in[d] + win->pad_begin[d];
        need[d] = need[d] > natural ? need[d] : natural;
    }
    *padded_h = need[1] + 1;
    *padded_w = need[2];
}

size_t qp_f32_dwconv2d_scratch_size(const qp_f32_window *win) {
    int64_t hp, wp;
    qp_f32_dwconv2d_layout(win, &hp, &wp);
    return (size_t)(hp * wp + win->out[1] * wp + 16) * sizeof(float);
}

size_t qp_f32_pool_scratch_size(const qp_f32_window *win) {
    int64_t w = win->out[2] > 0 ? win->out[2] : 1;
    return (size_t)w * sizeof(float);
}
