/* parallel.h — the one way qpipe code splits work across threads (static, deterministic partition). */
#ifndef QPIPE_PARALLEL_H
#define QPIPE_PARALLEL_H

#include <stdint.h>

/* Calls fn(user, begin, end) on disjoint ranges covering [0, n_items) using up to n_threads
 * threads. The partition depends only on n_items and n_threads, so results are deterministic.
 * n_threads <= 1 runs inline. */
typedef void (*qp_range_fn)(void *user, int64_t begin, int64_t end);
void qp_parallel_for(int n_threads, int64_t n_items, qp_range_fn fn, void *user);

/* Number of online CPU cores. */
int qp_cpu_count(void);

#endif
