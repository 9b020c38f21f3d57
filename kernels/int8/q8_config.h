/* q8_config.h — the int8 kernel dispatch table: one set of variants per ISA level, picked once from CPU features. */
#ifndef QPIPE_Q8_CONFIG_H
#define QPIPE_Q8_CONFIG_H

#include "kernels/int8/q8_kernels.h"
#include "qpipe/qp_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ordered: a level can run everything below it. */
typedef enum qp_q8_isa {
    QP_Q8_ISA_SCALAR = 0,     /* portable C: the __ref variants */
    QP_Q8_ISA_AVX2 = 1,       /* AVX2 (+FMA) */
    QP_Q8_ISA_AVX512VNNI = 2, /* AVX-512 F/BW/VL/DQ + VNNI for the GEMM, AVX2 for the rest */
} qp_q8_isa;

/* One function per op family. Operators take everything from here; nothing else checks the CPU.
 * Weights packed with config->gemm->pack must run with the same config->gemm. */
typedef struct qp_q8_config {
    qp_q8_isa isa;
    const char *isa_name; /* "scalar", "avx2", "avx512vnni" */
    const qp_u8s8_gemm_variant *gemm;
    qp_u8_im2col_fn im2col;
    qp_u8_dwconv_fn dwconv;
    /* Direct convolution for few input channels (the stem), or NULL: im2col + GEMM serve those
     * shapes (the op asks qp_u8_conv_smallc_supported first). */
    qp_u8_conv_smallc_fn conv_smallc;
    qp_u8_add_fn add;
    qp_u8_mul_fn mul;
    qp_u8_pool_fn maxpool;
    qp_u8_pool_fn avgpool;
    qp_u8_global_avgpool_fn global_avgpool;
    qp_u8_lut_fn lut;
    qp_f32_quantize_u8_fn quantize;
    qp_u8_dequantize_f32_fn dequantize;
} qp_q8_config;

/* The table for this process, chosen on first call (pthread_once): the best level the CPU runs,
 * lowered by the environment variable QPIPE_ISA=scalar|avx2|avx512vnni (also ref, avx512: the
 * fp32 kernels read the same variable). A request above what the CPU has, or an unknown name,
 * leaves the CPU's level. Never NULL. */
const qp_q8_config *qp_q8_get_config(void);

/* The ISA name of the table in use ("scalar", "avx2", "avx512vnni"), for reports and the CLI. */
QP_API const char *qp_q8_active_isa(void);

/* The best level the CPU (and OS) supports. */
qp_q8_isa qp_q8_cpu_isa(void);

/* "scalar"/"ref" -> SCALAR, "avx2" -> AVX2, "avx512vnni"/"avx512" -> AVX512VNNI; 0 on success,
 * -1 for NULL or an unknown name. */
int qp_q8_parse_isa(const char *name, qp_q8_isa *isa);

/* The level the dispatch uses for a request string (NULL or empty = none) on a CPU whose best
 * level is cpu: min(request, cpu); cpu when the request is unknown. Pure, for tests. */
qp_q8_isa qp_q8_isa_for_request(const char *request, qp_q8_isa cpu);

/* The table of one level, or NULL when this CPU cannot run it. For testers and benchmarks. */
const qp_q8_config *qp_q8_config_for_isa(qp_q8_isa isa);

/* Every table this CPU runs, lowest (scalar, the reference) first; returns the count written. */
int qp_q8_runnable_configs(const qp_q8_config **out, int cap);

#ifdef __cplusplus
}
#endif
#endif
