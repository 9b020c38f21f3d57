/* dwconv_u8__ref.c — scalar reference depthwise convolution (NCHW, per-channel s8 kernels, any geometry). */
#include "kernels/int8/q8_kernels.h"
#include "kernels/int8/q8_window.h"

/* The largest need of any variant: the AVX2 variant's zero-point-padded plane and its int16 tap
 * pairs (the VNNI variant reads the input in place and needs none). */
size_t qp_u8_dwconv_scratch_size(const qp_q8_window *win) {
    int64_t rows, cols;
    qp_q8_dwconv_padded_dims(win, &rows, &cols);
    return (size_t)(rows * cols) + 64 + (size_t)(win->kernel_h * ((win->kernel_w + 1) / 2)) * 4;
}

void qp_u8_dwconv__ref(const qp_u8_dwconv_args *a) {
    const qp_q8_window *w = &a->win;
    const int64_t plane_in = w->in_h * w->in_w, plane_out = w->out_h * w->out_w;
    int64_t oh_begin, oh_end;
    qp_q8_row_range(a->row_begin, a->row_end, w->out_h, &oh_begin, &oh_end);
    for (int64_t c = 0; c < a->channels; c++) {
        const uint8_t *plane = a->input + c * plane_in;
        const int8_t *kernel = a->weights + c * w->kernel_h * w->kernel_w;
        uint8_t *out = a->output + c * plane_out;
        for (int64_t oh = oh_begin; oh < oh_end; oh++)
            for (int64_t ow = 0; ow < w->out_w; ow++)
                out[oh * w->out_w + ow] =
                    qp_q8_dwconv_one(a, plane, kernel, a->bias[c], a->scale[c], oh, ow);
    }
}
