/* gemm_pack.inc.h — the GEMM's implicit-im2col panel packing; included once per ISA (QP_F32_ISA_NAME) so its copy
 * loops vectorize at each width. */
#ifndef QP_F32_ISA_NAME
#error "define QP_F32_ISA_NAME(name) before including gemm_pack.inc.h"
#endif

#include "kernels/fp32/f32_kernels.h"
#include "kernels/fp32/f32_window.h"

/* Columns [n0, n0 + nr) of im2col(image) straight from the image: row p is tap p % volume of
 * channel p / volume, column j is output position n0 + j (D, H, W order). Padded taps read 0. */
void QP_F32_ISA_NAME(qp_f32_gemm_pack_window)(const qp_f32_window *w, const float *image, int64_t k, int64_t n0, int64_t nr,
                        int64_t stride, float *restrict dst) {
    const int64_t KH = w->kernel[1], KW = w->kernel[2];
    const int64_t in_plane = w->in[0] * w->in[1] * w->in[2];
    const int64_t OH = w->out[1], OW = w->out[2], sw = w->stride[2];
    const int64_t ow0 = n0 % OW, oh0 = (n0 / OW) % OH, od0 = n0 / (OW * OH);
    /* taps walked with counters (no division per row); valid output columns per kw cached */
    enum { KW_CACHE = 16 };
    int64_t cached_b[KW_CACHE], cached_e[KW_CACHE];
    for (int64_t kw = 0; kw < KW && kw < KW_CACHE; kw++)
        qp_f32_valid_outputs(kw * w->dilation[2] - w->pad_begin[2], sw, w->in[2], OW, &cached_b[kw], &cached_e[kw]);
    int64_t c = 0, kd = 0, kh = 0, kw = 0;
    for (int64_t p = 0; p < k; p++, dst += stride) {
        if (p > 0 && ++kw == KW) {
            kw = 0;
            if (++kh == KH) {
                kh = 0;
                if (++kd == w->kernel[0]) {
                    kd = 0;
                    c++;
                }
            }
        }
        const float *plane = image + c * in_plane;
        const int64_t offset_w = kw * w->dilation[2] - w->pad_begin[2];
        int64_t ow_b, ow_e;
        if (kw < KW_CACHE) {
            ow_b = cached_b[kw];
            ow_e = cached_e[kw];
        } else {
            qp_f32_valid_outputs(offset_w, sw, w->in[2], OW, &ow_b, &ow_e);
        }
        int64_t j = 0, od = od0, oh = oh0, ow = ow0;
        while (j < nr) {
            int64_t run = OW - ow < nr - j ? OW - ow : nr - j;
            const int64_t id = od * w->stride[0] - w->pad_begin[0] + kd * w->dilation[0];
            const int64_t ih = oh * w->stride[1] - w->pad_begin[1] + kh * w->dilation[1];
            float *d = dst + j; /* d[o - ow] holds output column o */
            if (id < 0 || id >= w->in[0] || ih < 0 || ih >= w->in[1]) {
                for (int64_t o = 0; o < run; o++) d[o] = 0.0f;
            } else {
                const int64_t lo = ow > ow_b ? ow : ow_b;
                const int64_t hi = ow + run < ow_e ? ow + run : ow_e;
                for (int64_t o = ow; o < lo && o < ow + run; o++) d[o - ow] = 0.0f;
                if (hi > lo) {
                    /* the first valid tap stays inside the plane, unlike row start + offset */
                    const float *src = plane + (id * w->in[1] + ih) * w->in[2] + lo * sw + offset_w;
                    /* plain loops, not memcpy: runs are short and the loop vectorizes per ISA */
                    float *restrict to = d + (lo - ow);
                    if (sw == 1)
                        for (int64_t o = 0; o < hi - lo; o++) to[o] = src[o];
                    else
                        for (int64_t o = 0; o < hi - lo; o++) to[o] = src[o * sw];
                }
                for (int64_t o = hi > lo ? hi : lo; o < ow + run; o++) d[o - ow] = 0.0f;
            }
            j += run;
            ow = 0;
            if (++oh == OH) {
                oh = 0;
                od++;
            }
        }
        for (int64_t q = nr; q < stride; q++) dst[q] = 0.0f;
    }
}

