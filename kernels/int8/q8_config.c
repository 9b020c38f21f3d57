/* q8_config.c — fills the int8 dispatch table once (pthread_once) from CPU features and the QP_ISA cap. */
#include "kernels/int8/q8_config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu_features.h"

static const qp_q8_config config_scalar = {
    .isa = QP_Q8_ISA_SCALAR,
    .isa_name = "scalar",
    .gemm = &qp_u8s8_gemm__ref,
    .im2col = qp_u8_im2col__ref,
    .dwconv = qp_u8_dwconv__ref,
    .add = qp_u8_add__ref,
    .maxpool = qp_u8_maxpool__ref,
    .avgpool = qp_u8_avgpool__ref,
    .global_avgpool = qp_u8_global_avgpool__ref,
    .lut = qp_u8_lut__ref,
};

/* Pooling, im2col and the LUT are memory-bound and small in CNN profiles: the portable code
 * (which the compiler vectorizes where it can) serves every level until profiles say otherwise. */
static const qp_q8_config config_avx2 = {
    .isa = QP_Q8_ISA_AVX2,
    .isa_name = "avx2",
    .gemm = &qp_u8s8_gemm_4x16__avx2,
    .im2col = qp_u8_im2col__ref,
    .dwconv = qp_u8_dwconv__avx2,
    .add = qp_u8_add__avx2,
    .maxpool = qp_u8_maxpool__ref,
    .avgpool = qp_u8_avgpool__ref,
    .global_avgpool = qp_u8_global_avgpool__ref,
    .lut = qp_u8_lut__ref,
};

static const qp_q8_config config_avx512vnni = {
    .isa = QP_Q8_ISA_AVX512VNNI,
    .isa_name = "avx512vnni",
    .gemm = &qp_u8s8_gemm_8x32__avx512vnni,
    .im2col = qp_u8_im2col__ref,
    .dwconv = qp_u8_dwconv__avx2,
    .add = qp_u8_add__avx2,
    .maxpool = qp_u8_maxpool__ref,
    .avgpool = qp_u8_avgpool__ref,
    .global_avgpool = qp_u8_global_avgpool__ref,
    .lut = qp_u8_lut__ref,
};

static const qp_q8_config *const configs[] = {&config_scalar, &config_avx2, &config_avx512vnni};

qp_q8_isa qp_q8_cpu_isa(void) {
    const qp_cpu_features *f = qp_cpu_features_get();
    if (f->avx2 && f->fma && f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->avx512vnni)
        return QP_Q8_ISA_AVX512VNNI;
    if (f->avx2 && f->fma) return QP_Q8_ISA_AVX2;
    return QP_Q8_ISA_SCALAR;
}

int qp_q8_parse_isa(const char *name, qp_q8_isa *isa) {
    if (!name) return -1;
    if (strcmp(name, "scalar") == 0 || strcmp(name, "ref") == 0)
        *isa = QP_Q8_ISA_SCALAR;
    else if (strcmp(name, "avx2") == 0)
        *isa = QP_Q8_ISA_AVX2;
    else if (strcmp(name, "avx512vnni") == 0 || strcmp(name, "avx512") == 0)
        *isa = QP_Q8_ISA_AVX512VNNI;
    else
        return -1;
    return 0;
}

qp_q8_isa qp_q8_isa_for_request(const char *request, qp_q8_isa cpu) {
    qp_q8_isa wanted;
    if (!request || !*request || qp_q8_parse_isa(request, &wanted) != 0) return cpu;
    return wanted < cpu ? wanted : cpu;
}

const qp_q8_config *qp_q8_config_for_isa(qp_q8_isa isa) {
    if ((int)isa < 0 || (int)isa > (int)qp_q8_cpu_isa()) return NULL;
    return configs[isa];
}

int qp_q8_runnable_configs(const qp_q8_config **out, int cap) {
    int n = 0;
    for (int i = 0; i <= (int)qp_q8_cpu_isa() && n < cap; i++) out[n++] = configs[i];
    return n;
}

static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static const qp_q8_config *config_chosen = &config_scalar;

static void choose_config(void) {
    const char *request = getenv("QP_ISA");
    if (!request || !*request) request = getenv("QPIPE_ISA");
    config_chosen = configs[qp_q8_isa_for_request(request, qp_q8_cpu_isa())];
}

const qp_q8_config *qp_q8_get_config(void) {
    pthread_once(&config_once, choose_config);
    return config_chosen;
}

const char *qp_q8_active_isa(void) { return qp_q8_get_config()->isa_name; }
