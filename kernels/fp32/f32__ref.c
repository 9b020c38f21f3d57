/* f32__ref.c — the fp32 depthwise, pooling and GEMM-packing kernels built for portable C (the reference every variant is tested against). */
#include <math.h>

#include "kernels/fp32/f32_kernels.h"
#include "kernels/fp32/f32_window.h"


#define QP_F32_ISA_NAME(name) name##__ref
#include "kernels/fp32/dwconv2d.inc.h"
#include "kernels/fp32/pool.inc.h"
#include "kernels/fp32/gemm_pack.inc.h"
#include "kernels/fp32/gemm_small_m.inc.h"
#include "kernels/fp32/clamp.inc.h"
