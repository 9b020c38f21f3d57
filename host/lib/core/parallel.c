/* parallel.c — qp_parallel_for on OpenMP with a static, thread-count-determined partition. */
#include "core/parallel.h"

#include <omp.h>
#include <unistd.h>

int qp_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void qp_parallel_for(int n_threads, int64_t n_items, qp_range_fn fn, void *user) {
    if (n_items <= 0) return;
    if (n_threads <= 1 || n_items == 1) {
        fn(user, 0, n_items);
        return;
    }
    if (n_threads > n_items) n_threads = (int)n_items;
#pragma omp parallel num_threads(n_threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t begin = n_items * t / nt, end = n_items * (t + 1) / nt;
        if (begin < end) fn(user, begin, end);
    }
}
