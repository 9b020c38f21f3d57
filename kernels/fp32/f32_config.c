/* f32_config.c — picks the fp32 kernel variants once from CPU features (the only CPU check fp32 operators rely on). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu_features.h"
#include "kernels/fp32/f32_kernels.h"

static const qp_f32_config config_ref = {"ref", qp_f32_dwconv2d__ref, qp_f32_pool__ref,
                                         {qp_f32_gemm_ukernel_4x16__ref, qp_f32_gemm_pack_window__ref, 4, 16, 1},
                                         qp_f32_gemm_small_m__ref, qp_f32_clamp__ref};
static const qp_f32_config config_avx2 = {"avx2", qp_f32_dwconv2d__avx2, qp_f32_pool__avx2,
                                          {qp_f32_gemm_ukernel_6x16__avx2, qp_f32_gemm_pack_window__avx2, 6, 16, 8},
                                          qp_f32_gemm_small_m__avx2, qp_f32_clamp__avx2};
static const qp_f32_config config_avx512 = {"avx512", qp_f32_dwconv2d__avx512, qp_f32_pool__avx512,
                                            {qp_f32_gemm_ukernel_8x48__avx512, qp_f32_gemm_pack_window__avx512, 8, 48, 16},
                                            qp_f32_gemm_small_m__avx512, qp_f32_clamp__avx512};

static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static const qp_f32_config *config_chosen = &config_ref;

static int cpu_has_avx2(void) {
    const qp_cpu_features *f = qp_cpu_features_get();
    return f->avx2 && f->fma;
}

static int cpu_has_avx512(void) {
    const qp_cpu_features *f = qp_cpu_features_get();
    return cpu_has_avx2() && f->avx512f && f->avx512vl && f->avx512bw && f->avx512dq;
}

static void choose_config(void) {
    const char *cap = getenv("QPIPE_ISA");
    int allow_avx2 = 1, allow_avx512 = 1;
    /* One variable for the fp32 and int8 kernels, so both accept each other's names. */
    if (cap && (strcmp(cap, "ref") == 0 || strcmp(cap, "scalar") == 0)) allow_avx2 = allow_avx512 = 0;
    if (cap && strcmp(cap, "avx2") == 0) allow_avx512 = 0;
    if (allow_avx512 && cpu_has_avx512())
        config_chosen = &config_avx512;
    else if (allow_avx2 && cpu_has_avx2())
        config_chosen = &config_avx2;
    else
        config_chosen = &config_ref;
}

const qp_f32_config *qp_f32_get_config(void) {
    pthread_once(&config_once, choose_config);
    return config_chosen;
}

int qp_f32_runnable_configs(qp_f32_config *out, int cap) {
    int n = 0;
    if (n < cap) out[n++] = config_ref;
    if (n < cap && cpu_has_avx2()) out[n++] = config_avx2;
    if (n < cap && cpu_has_avx512()) out[n++] = config_avx512;
    return n;
}
