/* test_work_split.c — qp_work_split: tasks tile [0, n) on aligned boundaries, shrink toward each share's end, respect min/max sizes, and every task runs exactly once for any thread count, with a slot per running thread. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/work_split.h"
#include "test_support.h"

/* The invariants of a plan: tasks cover [0, n) in order, inner boundaries on multiples of align,
 * shares contiguous, sizes within [min, max] except a share's last task, sizes non-increasing
 * within a share. */
static void check_plan(const qp_work_split *w, int64_t n, int parts, int64_t align, int64_t min_items,
                       int64_t max_items) {
    assert_true(w->n_parts >= 1 && w->n_parts <= parts);
    assert_int_equal(w->block_first[0], 0);
    assert_int_equal(w->block_first[w->n_parts], w->n_tasks);
    if (n == 0) {
        assert_int_equal(w->n_tasks, 0);
        return;
    }
    assert_int_equal(w->bounds[0], 0);
    assert_int_equal(w->bounds[w->n_tasks], n);
    int64_t widest = 0;
    for (int t = 0; t < w->n_tasks; t++) {
        const int64_t len = w->bounds[t + 1] - w->bounds[t];
        assert_true(len > 0);
        if (t > 0) assert_int_equal(w->bounds[t] % align, 0);
        if (max_items > 0) assert_true(len <= (max_items > align ? max_items : align));
        if (len > widest) widest = len;
    }
    assert_int_equal(w->widest, widest);
    for (int p = 0; p < w->n_parts; p++) {
        assert_true(w->block_first[p] <= w->block_first[p + 1]);
        for (int t = w->block_first[p]; t + 1 < w->block_first[p + 1]; t++) {
            const int64_t len = w->bounds[t + 1] - w->bounds[t], next = w->bounds[t + 2] - w->bounds[t + 1];
            if (w->n_parts > 1) {
                assert_true(len >= min_items); /* only a share's last task may be smaller */
                if (max_items == 0) assert_true(next <= len + align); /* shrinking, up to rounding */
            }
        }
    }
}

static void test_plans_tile_the_items(void **state) {
    (void)state;
    const int64_t ns[] = {0, 1, 7, 49, 64, 196, 1000, 3136, 12544};
    const int64_t aligns[] = {1, 4, 8, 32};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++)
            for (int parts = 1; parts <= 5; parts++)
                for (int64_t min_items = 1; min_items <= 100; min_items *= 10)
                    for (int64_t max_items = 0; max_items <= 300; max_items += 150) {
                        qp_work_split w;
                        assert_int_equal(qp_work_split_plan(&w, ns[i], parts, aligns[a], min_items, max_items), QP_OK);
                        check_plan(&w, ns[i], parts, aligns[a], min_items, max_items);
                        qp_work_split_free(&w);
                    }
}

/* The shapes the int8 Conv plans: a 56x56 plane's columns for two threads start with big tasks
 * and end with small ones; shares meet at the aligned middle; one thread gets one task. */
static void test_shrinking_shares(void **state) {
    (void)state;
    qp_work_split w;
    assert_int_equal(qp_work_split_plan(&w, 3136, 2, 32, 64, 0), QP_OK);
    assert_int_equal(w.n_parts, 2);
    assert_int_equal(w.bounds[w.block_first[1]], 1568);
    for (int p = 0; p < 2; p++) {
        const int first = w.block_first[p], last = w.block_first[p + 1] - 1;
        assert_true(last - first >= 3);
        const int64_t big = w.bounds[first + 1] - w.bounds[first], small = w.bounds[last + 1] - w.bounds[last];
        assert_true(big > small);
    }
    qp_work_split_free(&w);
    assert_int_equal(qp_work_split_plan(&w, 3136, 1, 32, 64, 0), QP_OK);
    assert_int_equal(w.n_tasks, 1);
    qp_work_split_free(&w);
    assert_int_equal(qp_work_split_plan(&w, 100, 1, 1, 1, 30), QP_OK); /* one part: cut by max only */
    assert_int_equal(w.n_tasks, 4);
    qp_work_split_free(&w);
}

typedef struct run_ctx {
    atomic_int *hits;
    size_t slot_bytes;
    uint8_t *scratch;
    int max_slot;
    atomic_int bad_slot;
    pthread_mutex_t lock;
    pthread_t owner[8]; /* the thread seen using each slot during one run */
    int seen[8];
} run_ctx;

static void count_task(void *user, int64_t begin, int64_t end, uint8_t *slot) {
    run_ctx *c = user;
    const ptrdiff_t off = slot - c->scratch;
    const int s = (int)(off / (ptrdiff_t)c->slot_bytes);
    if (off % (ptrdiff_t)c->slot_bytes || s < 0 || s >= c->max_slot) atomic_store(&c->bad_slot, 1);
    else {
        /* a slot is one thread's: two threads writing one slot would corrupt their scratch */
        pthread_mutex_lock(&c->lock);
        if (c->seen[s] && !pthread_equal(c->owner[s], pthread_self())) atomic_store(&c->bad_slot, 1);
        c->owner[s] = pthread_self();
        c->seen[s] = 1;
        pthread_mutex_unlock(&c->lock);
    }
    for (int64_t i = begin; i < end; i++) atomic_fetch_add(&c->hits[i], 1);
}

static void test_every_task_runs_once(void **state) {
    (void)state;
    enum { N = 777 };
    atomic_int *hits = calloc(N, sizeof *hits);
    uint8_t scratch[8 * 16];
    for (int planned = 1; planned <= 4; planned++)
        for (int threads = 1; threads <= 6; threads++) {
            qp_work_split w;
            assert_int_equal(qp_work_split_plan(&w, N, planned, 8, 5, 0), QP_OK);
            for (int round = 0; round < 20; round++) {
                memset(hits, 0, N * sizeof *hits);
                run_ctx c = {.hits = hits, .slot_bytes = 16, .scratch = scratch,
                             .max_slot = threads < planned ? threads : planned};
                pthread_mutex_init(&c.lock, NULL);
                qp_work_split_run(&w, threads, count_task, &c, scratch, 16);
                pthread_mutex_destroy(&c.lock);
                assert_int_equal(atomic_load(&c.bad_slot), 0);
                for (int i = 0; i < N; i++) assert_int_equal(atomic_load(&hits[i]), 1);
            }
            qp_work_split_free(&w);
        }
    free(hits);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plans_tile_the_items),
        cmocka_unit_test(test_shrinking_shares),
        cmocka_unit_test(test_every_task_runs_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
