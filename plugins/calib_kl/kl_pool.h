/* kl_pool.h — calib_kl's worker threads: share out the binning of large activations while the engine waits for the callback. */
#ifndef CALIB_KL_KL_POOL_H
#define CALIB_KL_KL_POOL_H

#include <stdint.h>

#include "kl_hist.h"

typedef struct kl_pool kl_pool;

/* A pool of `threads` - 1 workers (the caller is the last thread) for histograms of `bins` bins;
 * NULL when threads <= 1 or the threads cannot be started (callers then bin on their own). */
kl_pool *kl_pool_new(int threads, int bins);
/* Adds x to h like kl_hist_add_sampled, splitting large inputs between the threads; returns -1
 * when out of memory. Counts are sums and sampling follows positions, so the result does not
 * depend on the split. */
int kl_pool_add(kl_pool *pool, kl_hist *h, const float *x, int64_t n, const kl_sample *sample);
void kl_pool_free(kl_pool *pool);

#endif
