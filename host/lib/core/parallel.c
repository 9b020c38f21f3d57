/* parallel.c — qp_parallel_for on a small persistent thread pool: static ranges, claimed dynamically. */
#include "core/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/* Design notes.
 * - Ranges are fixed by (n_items, n_threads) alone, so results never depend on which thread ran
 *   which range: output is deterministic for a given thread count.
 * - Ranges are *claimed* from a shared counter, and the caller claims too. If a worker is slow to
 *   wake (a busy machine: CI runs two test processes on two cores), the caller simply runs its
 *   ranges instead of waiting for it. With OpenMP's fixed thread-to-range mapping, one descheduled
 *   thread stalled every op and inference ran 20-50x slower under load.
 * - Workers spin briefly (the gap between two ops of one inference), then sleep on a condition
 *   variable, so an idle pool costs nothing. A caller takes the lock and signals only when a
 *   worker sleeps: spinning workers see the new job by themselves.
 * - The claim counter carries the job's generation in its high bits: a worker that wakes late and
 *   still holds an old job's description fails its compare-and-swap and drops it.
 * - Part 0 is the caller's own: it starts on it at once and workers claim from part 1. With two
 *   threads a part stays on one core from job to job whenever the worker keeps up, and
 *   q8_conv's task lists build on that so that each core mostly reads activations it wrote.
 * - Hot fields sit on separate cache lines: the posted job (written once per job, read by the
 *   spinning workers), the claim counter, the done counter, and the rarely used lock and
 *   condition variable. On the 2-vCPU VMs this runs on, a line moved between cores costs
 *   hundreds of ns, and MobileNetV2 at batch 1 posts ~55 jobs in ~1 ms. */
enum { QP_MAX_WORKERS = 63, QP_SPIN_ITERATIONS = 20000 };

#define QP_LINE _Alignas(64)
static struct {
    /* The current job. Written before `claim` is published; read after loading `claim`. */
    QP_LINE atomic_uint_fast64_t wake_generation;
    _Atomic(qp_range_fn) fn;
    _Atomic(void *) user;
    atomic_int_fast64_t n_items;
    atomic_int n_parts;
    QP_LINE atomic_uint_fast64_t claim; /* (generation << 32) | next unclaimed part */
    QP_LINE atomic_int done;            /* parts finished */
    QP_LINE atomic_int sleepers;        /* workers about to wait or waiting on `wake` */
    pthread_mutex_t submit; /* one job at a time; a concurrent second caller runs inline */
    pthread_mutex_t lock;   /* pairs with `wake` for sleeping workers */
    pthread_cond_t wake;
    int n_workers;
    uint32_t job_generation; /* under `submit` */
} pool = {.submit = PTHREAD_MUTEX_INITIALIZER, .lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER};

static _Thread_local int inside_pool_job; /* nested calls run inline */

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Part `part` of n_parts covers items [begin, end): fixed by the three numbers alone. */
static inline void part_bounds(int64_t n_items, int64_t part, int n_parts, int64_t *begin, int64_t *end) {
    *begin = n_items * part / n_parts;
    *end = n_items * (part + 1) / n_parts;
}

/* Claims and runs parts of the current job until none is left. */
static void run_claimed_parts(void) {
    for (;;) {
        uint_fast64_t v = atomic_load_explicit(&pool.claim, memory_order_acquire);
        qp_range_fn fn = atomic_load_explicit(&pool.fn, memory_order_relaxed);
        void *user = atomic_load_explicit(&pool.user, memory_order_relaxed);
        int64_t n_items = atomic_load_explicit(&pool.n_items, memory_order_relaxed);
        int n_parts = atomic_load_explicit(&pool.n_parts, memory_order_relaxed);
        int64_t part = (int64_t)(v & 0xffffffffu);
        if (part >= n_parts) return;
        /* Success proves the job is still the one whose fields were read: a new job cannot be
         * posted while this one has an unclaimed part. */
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &v, v + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        int64_t begin, end;
        part_bounds(n_items, part, n_parts, &begin, &end);
        if (begin < end) fn(user, begin, end);
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_acq_rel);
    }
}

static void *worker_main(void *arg) {
    (void)arg;
    uint_fast64_t seen = 0; /* a job may be posted before this thread first runs */
    inside_pool_job = 1;
    for (;;) {
        uint_fast64_t now = seen;
        for (int spin = 0; spin < QP_SPIN_ITERATIONS && now == seen; spin++) {
            cpu_relax();
            now = atomic_load_explicit(&pool.wake_generation, memory_order_acquire);
        }
        if (now == seen) {
            /* Count this thread as a sleeper before its last look at the generation (both
             * seq_cst): a caller that bumps the generation after that look then sees
             * sleepers > 0 and signals under the lock, which this thread holds until it waits. */
            pthread_mutex_lock(&pool.lock);
            atomic_fetch_add(&pool.sleepers, 1);
            while ((now = atomic_load(&pool.wake_generation)) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
            atomic_fetch_sub(&pool.sleepers, 1);
            pthread_mutex_unlock(&pool.lock);
        }
        seen = now;
        run_claimed_parts();
    }
    return NULL;
}

/* Starts workers up to `wanted` (called with pool.submit held). Returns how many exist. */
static int ensure_workers(int wanted) {
    if (wanted > QP_MAX_WORKERS) wanted = QP_MAX_WORKERS;
    while (pool.n_workers < wanted) {
        pthread_attr_t attr;
        pthread_t thread;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&thread, &attr, worker_main, NULL);
        pthread_attr_destroy(&attr);
        if (failed) break;
        pool.n_workers++;
    }
    return pool.n_workers;
}

/* A forked child has only the forking thread: forget the parent's workers (their threads do not
 * exist there) so the child starts its own pool. The conformance runner forks per test. */
static void reset_pool_in_child(void) {
    pthread_mutex_init(&pool.submit, NULL);
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    atomic_store(&pool.sleepers, 0);
    pool.n_workers = 0;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void install_atfork(void) { pthread_atfork(NULL, NULL, reset_pool_in_child); }

int qp_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void qp_parallel_for(int n_threads, int64_t n_items, qp_range_fn fn, void *user) {
    if (n_items <= 0) return;
    if (n_threads > n_items) n_threads = (int)n_items;
    if (n_threads <= 1 || inside_pool_job || pthread_mutex_trylock(&pool.submit) != 0) {
        fn(user, 0, n_items);
        return;
    }
    pthread_once(&atfork_once, install_atfork);
    ensure_workers(n_threads - 1); /* with fewer workers the caller just claims more parts */
    uint32_t generation = ++pool.job_generation;
    atomic_store_explicit(&pool.fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool.user, user, memory_order_relaxed);
    atomic_store_explicit(&pool.n_items, n_items, memory_order_relaxed);
    atomic_store_explicit(&pool.n_parts, n_threads, memory_order_relaxed);
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.claim, (uint_fast64_t)generation << 32 | 1u, memory_order_release);
    atomic_fetch_add(&pool.wake_generation, 1);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }

    inside_pool_job = 1;
    int64_t first_begin, first_end;
    part_bounds(n_items, 0, n_threads, &first_begin, &first_end);
    if (first_begin < first_end) fn(user, first_begin, first_end);
    atomic_fetch_add_explicit(&pool.done, 1, memory_order_acq_rel);
    run_claimed_parts();
    inside_pool_job = 0;
    /* Every part is claimed; wait for the ones still running on workers. */
    for (int spin = 0; atomic_load_explicit(&pool.done, memory_order_acquire) < n_threads; spin++) {
        if (spin < QP_SPIN_ITERATIONS) cpu_relax();
        else sched_yield();
    }
    pthread_mutex_unlock(&pool.submit);
}
