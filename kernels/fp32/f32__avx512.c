/* f32__avx512.c — the fp32 depthwise, pooling and GEMM-packing kernels built for AVX-512. */
#include <math.h>

#include "kernels/fp32/f32_kernels.h"
#include "kernels/fp32/f32_window.h"

#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")
#define QP_F32_ISA_NAME(name) name##__avx512
#define QP_F32_DW_ROWS(win) qp_f32_dwconv2d_rows_supported__avx512(win)
#define QP_F32_DW_ROWS_RUN qp_f32_dwconv2d_rows__avx512
#include "kernels/fp32/dwconv2d.inc.h"
#include "kernels/fp32/pool.inc.h"
#include "kernels/fp32/gemm_pack.inc.h"
#include "kernels/fp32/gemm_small_m.inc.h"
#include "kernels/fp32/clamp.inc.h"
