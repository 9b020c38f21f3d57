/* q8_config.c — fills the int8 dispatch table once (pthread_once) from CPU features and the QPIPE_ISA cap. */
#include "kernels/int8/q8_config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static const qp_q8_config config_scalar = {
    .isa = QP_Q8_ISA_SCALAR,
    .isa_name = "scalar",
    .gemm = &qp_u8s8_gemm__ref,
    .im2col = qp_u8_im2col__ref,
    .dwconv = qp_u8_dwconv__ref,
    .conv_smallc = NULL, /* the GEMM path: qp_u8_conv_smallc__ref is for testers only */
    .add = qp_u8_add__ref,
    .mul = qp_u8_mul__ref,
    .maxpool = qp_u8_maxpool__ref,
    .avgpool = qp_u8_avgpool__ref,
    .global_avgpool = qp_u8_global_avgpool__ref,
    .lut = qp_u8_lut__ref,
    .quantize = qp_f32_quantize_u8__ref,
    .dequantize = qp_u8_dequantize_f32__ref,
};

/* im2col, AveragePool and the LUT have no AVX2 variant: a 256-entry lookup takes 16 vpshufb per
 * 32 bytes in AVX2, no faster than scalar loads; the portable code serves this level. */
static const qp_q8_config config_avx2 = {
    .isa = QP_Q8_ISA_AVX2,
    .isa_name = "avx2",
    .gemm = &qp_u8s8_gemm_4x16__avx2,
    .im2col = qp_u8_im2col__ref,
    .dwconv = qp_u8_dwconv__avx2,
    .conv_smallc = NULL,
    .add = qp_u8_add__avx2,
    .mul = qp_u8_mul__avx2,
    .maxpool = qp_u8_maxpool__avx2,
    .avgpool = qp_u8_avgpool__ref,
    .global_avgpool = qp_u8_global_avgpool__avx2,
    .lut = qp_u8_lut__ref,
    .quantize = qp_f32_quantize_u8__avx2,
    .dequantize = qp_u8_dequantize_f32__avx2,
};

/* Zen 4, Ice Lake and later also have AVX-512 VBMI (vpermb), which the depthwise, MaxPool,
 * im2col and LUT kernels need; Cascade Lake (VNNI without VBMI) gets the same table with the AVX2 or
 * portable versions of those. */
static const qp_q8_config config_avx512vnni = {
    .isa = QP_Q8_ISA_AVX512VNNI,
    .isa_name = "avx512vnni",
    .gemm = &qp_u8s8_gemm_8x32__avx512vnni,
    .im2col = qp_u8_im2col__avx512,
    .dwconv = qp_u8_dwconv__avx512vnni,
    .conv_smallc = qp_u8_conv_smallc__avx512vnni,
    .add = qp_u8_add__avx512,
    .mul = qp_u8_mul__avx512,
    .maxpool = qp_u8_maxpool__avx512,
    .avgpool = qp_u8_avgpool__avx512,
    .global_avgpool = qp_u8_global_avgpool__avx512,
    .lut = qp_u8_lut__avx512,
    .quantize = qp_f32_quantize_u8__avx512,
    .dequantize = qp_u8_dequantize_f32__avx512,
};

static qp_q8_config config_avx512vnni_no_vbmi;

/* CPUID.(EAX=7,ECX=0):ECX bit 1. The OS's AVX-512 state support is already part of the
 * avx512f test of qp_cpu_features, which gates this level. */
static int cpu_has_avx512vbmi(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx >> 1) & 1;
#else
    return 0;
#endif
}

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
static const qp_q8_config *configs[3];

static void fill_tables(void) {
    config_avx512vnni_no_vbmi = config_avx512vnni;
    config_avx512vnni_no_vbmi.dwconv = qp_u8_dwconv__avx2;
    config_avx512vnni_no_vbmi.conv_smallc = NULL; /* vpermt2b: im2col + GEMM instead */
    config_avx512vnni_no_vbmi.maxpool = qp_u8_maxpool__avx2;
    config_avx512vnni_no_vbmi.avgpool = qp_u8_avgpool__ref;
    config_avx512vnni_no_vbmi.lut = qp_u8_lut__ref;
    config_avx512vnni_no_vbmi.im2col = qp_u8_im2col__ref;
    configs[QP_Q8_ISA_SCALAR] = &config_scalar;
    configs[QP_Q8_ISA_AVX2] = &config_avx2;
    configs[QP_Q8_ISA_AVX512VNNI] = cpu_has_avx512vbmi() ? &config_avx512vnni : &config_avx512vnni_no_vbmi;
}

static const qp_q8_config *table_of(qp_q8_isa isa) {
    pthread_once(&tables_once, fill_tables);
    return configs[isa];
}

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
    return table_of(isa);
}

int qp_q8_runnable_configs(const qp_q8_config **out, int cap) {
    int n = 0;
    for (int i = 0; i <= (int)qp_q8_cpu_isa() && n < cap; i++) out[n++] = table_of((qp_q8_isa)i);
    return n;
}

static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static const qp_q8_config *config_chosen = &config_scalar;

static void choose_config(void) {
    /* One variable for the fp32 and int8 kernels (f32_config.c reads it too). */
    config_chosen = table_of(qp_q8_isa_for_request(getenv("QPIPE_ISA"), qp_q8_cpu_isa()));
}

const qp_q8_config *qp_q8_get_config(void) {
    pthread_once(&config_once, choose_config);
    return config_chosen;
}

const char *qp_q8_active_isa(void) { return qp_q8_get_config()->isa_name; }
