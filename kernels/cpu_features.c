/* cpu_features.c — detects x86 SIMD features once (pthread_once) for the kernel dispatch tables. */
#include "kernels/cpu_features.h"

#include <pthread.h>

static pthread_once_t features_once = PTHREAD_ONCE_INIT;
static qp_cpu_features features;

static void detect_features(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    features.avx2 = __builtin_cpu_supports("avx2") != 0;
    features.fma = __builtin_cpu_supports("fma") != 0;
    features.avx512f = __builtin_cpu_supports("avx512f") != 0;
    features.avx512bw = __builtin_cpu_supports("avx512bw") != 0;
    features.avx512vl = __builtin_cpu_supports("avx512vl") != 0;
    features.avx512dq = __builtin_cpu_supports("avx512dq") != 0;
    features.avx512vnni = __builtin_cpu_supports("avx512vnni") != 0;
#endif
}

const qp_cpu_features *qp_cpu_features_get(void) {
    pthread_once(&features_once, detect_features);
    return &features;
}
