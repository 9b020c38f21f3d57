/* kl_pool.c — calib_kl's worker threads: each bins a share of a large activation's chunks into its own part, the caller folds them. */
#define _POSIX_C_SOURCE 200809L
#include "kl_pool.h"

#include <pthread.h>
#include <stdlib.h>

/* A share per thread only pays off above this many values (waking a thread costs microseconds). */
#define KL_POOL_MIN_PER_THREAD 65536

typedef struct kl_worker {
    struct kl_pool *pool;
    int index;
    kl_part part;
    int failed; /* out of memory on the current job */
} kl_worker;

struct kl_pool {
    int n_threads;
    int n_started;
    pthread_t *threads;
    kl_worker *workers; /* n_threads: the last one is the caller's */
    pthread_mutex_t mutex;
    pthread_cond_t start, done;
    uint64_t generation; /* bumped for every job */
    int busy;            /* workers still on the current job */
    int quit;
    int shares; /* threads taking part in the current job */
    const kl_hist *hist;
    const float *x;
    int64_t n;
    const kl_sample *sample;
};

/* Share k of the current job: a run of whole chunks. */
static void share(const struct kl_pool *p, int k, int64_t *c0, int64_t *c1) {
    int64_t chunks = kl_hist_chunks(p->n);
    *c0 = chunks * k / p->shares;
    *c1 = chunks * (k + 1) / p->shares;
}

static void *worker_main(void *arg) {
    kl_worker *w = arg;
    struct kl_pool *p = w->pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mutex);
    for (;;) {
        while (p->generation == seen && !p->quit)
            pthread_cond_wait(&p->start, &p->mutex);
        if (p->quit) break;
        seen = p->generation;
        if (w->index >= p->shares - 1) continue; /* not needed: the caller takes share shares - 1 */
        const kl_hist *h = p->hist;
        const float *x = p->x;
        int64_t n = p->n, c0, c1;
        const kl_sample *smp = p->sample;
        share(p, w->index, &c0, &c1);
        pthread_mutex_unlock(&p->mutex);
        w->failed = kl_hist_bin_chunks(h, x, n, smp, c0, c1, &w->part) != 0;
        pthread_mutex_lock(&p->mutex);
        if (--p->busy == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mutex);
    return NULL;
}

kl_pool *kl_pool_new(int threads, int bins) {
    if (threads <= 1) return NULL;
    struct kl_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = threads;
    p->threads = calloc((size_t)threads, sizeof *p->threads);
    p->workers = calloc((size_t)threads, sizeof *p->workers);
    int ok = p->threads && p->workers;
    for (int k = 0; ok && k < threads; k++) {
        p->workers[k].pool = p;
        p->workers[k].index = k;
        ok = kl_part_init(&p->workers[k].part, bins) == 0;
    }
    if (ok) ok = pthread_mutex_init(&p->mutex, NULL) == 0;
    if (ok && pthread_cond_init(&p->start, NULL) != 0) {
        pthread_mutex_destroy(&p->mutex);
        ok = 0;
    }
    if (ok && pthread_cond_init(&p->done, NULL) != 0) {
        pthread_cond_destroy(&p->start);
        pthread_mutex_destroy(&p->mutex);
        ok = 0;
    }
    if (!ok) {
        for (int k = 0; p->workers && k < threads; k++)
            kl_part_free(&p->workers[k].part);
        free(p->threads);
        free(p->workers);
        free(p);
        return NULL;
    }
    for (int k = 0; k < threads - 1; k++) {
        if (pthread_create(&p->threads[k], NULL, worker_main, &p->workers[k]) != 0) break;
        p->n_started++;
    }
    if (p->n_started == 0) {
        kl_pool_free(p);
        return NULL;
    }
    return p;
}

int kl_pool_add(kl_pool *p, kl_hist *h, const float *x, int64_t n, const kl_sample *smp) {
    int shares = p->n_started + 1;
    int64_t most = n / KL_POOL_MIN_PER_THREAD;
    if (most < shares) shares = most < 1 ? 1 : (int)most;
    /* The first batches set and grow the width: binned serially. */
    if (shares <= 1 || !h->has_width) return kl_hist_add_sampled(h, x, n, smp);
    kl_worker *me = &p->workers[p->n_threads - 1];
    pthread_mutex_lock(&p->mutex);
    p->hist = h;
    p->x = x;
    p->n = n;
    p->sample = smp;
    p->shares = shares;
    p->busy = shares - 1;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    int64_t c0, c1;
    share(p, shares - 1, &c0, &c1); /* the caller takes the last share */
    pthread_mutex_unlock(&p->mutex);
    int failed = kl_hist_bin_chunks(h, x, n, smp, c0, c1, &me->part) != 0;
    pthread_mutex_lock(&p->mutex);
    while (p->busy > 0)
        pthread_cond_wait(&p->done, &p->mutex);
    pthread_mutex_unlock(&p->mutex);
    /* Every part is folded at the current width before a deferred chunk may grow it. */
    for (int k = 0; k < shares - 1; k++) {
        kl_hist_fold_part(h, &p->workers[k].part);
        failed |= p->workers[k].failed;
    }
    kl_hist_fold_part(h, &me->part);
    for (int k = 0; k < shares - 1; k++)
        if (kl_hist_finish_part(h, x, n, smp, &p->workers[k].part) != 0) failed = 1;
    if (kl_hist_finish_part(h, x, n, smp, &me->part) != 0) failed = 1;
    return failed ? -1 : 0;
}

void kl_pool_free(kl_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mutex);
    p->quit = 1;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mutex);
    for (int k = 0; k < p->n_started; k++)
        pthread_join(p->threads[k], NULL);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mutex);
    for (int k = 0; k < p->n_threads; k++)
        kl_part_free(&p->workers[k].part);
    free(p->threads);
    free(p->workers);
    free(p);
}
