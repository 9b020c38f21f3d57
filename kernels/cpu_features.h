/* cpu_features.h — the x86 features kernels may use, read once per process; the only CPU query kernel configs make. */
#ifndef QPIPE_CPU_FEATURES_H
#define QPIPE_CPU_FEATURES_H

#ifdef __cplusplus
extern "C" {
#endif

/* Each flag is 1 only when the CPU has the instructions AND the OS saves the register state
 * they need (libgcc's __builtin_cpu_supports checks XCR0), so a set flag is safe to act on. */
typedef struct qp_cpu_features {
    int avx2;
    int fma;
    int avx512f;
    int avx512bw;
    int avx512vl;
    int avx512dq;
    int avx512vnni;
} qp_cpu_features;

/* The features of the running CPU, detected on first call (pthread_once); never NULL. */
const qp_cpu_features *qp_cpu_features_get(void);

#ifdef __cplusplus
}
#endif
#endif
