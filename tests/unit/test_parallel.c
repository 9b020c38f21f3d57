/* test_parallel.c — qp_parallel_for: every item exactly once, static partition, part 0 on the caller, waking sleeping workers, nesting and concurrent callers. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/parallel.h"
#include "test_support.h"

typedef struct visit_ctx {
    atomic_int *hits;
    atomic_int calls;
} visit_ctx;

static void visit(void *user, int64_t begin, int64_t end) {
    visit_ctx *ctx = user;
    atomic_fetch_add(&ctx->calls, 1);
    for (int64_t i = begin; i < end; i++) atomic_fetch_add(&ctx->hits[i], 1);
}

static void test_every_item_once(void **state) {
    (void)state;
    enum { N = 1001 };
    atomic_int *hits = calloc(N, sizeof *hits);
    for (int threads = 1; threads <= 8; threads++) {
        for (int64_t n = 1; n <= N; n += 250) {
            memset(hits, 0, N * sizeof *hits);
            visit_ctx ctx = {.hits = hits};
            for (int round = 0; round < 50; round++) qp_parallel_for(threads, n, visit, &ctx);
            for (int64_t i = 0; i < n; i++) assert_int_equal(atomic_load(&hits[i]), 50);
            int64_t parts = threads < n ? threads : n;
            assert_int_equal(atomic_load(&ctx.calls), 50 * parts); /* one range per part */
        }
    }
    free(hits);
}

typedef struct first_part_ctx {
    pthread_t runner; /* thread that ran the range starting at 0 */
    atomic_int seen;
} first_part_ctx;

static void note_first_part(void *user, int64_t begin, int64_t end) {
    first_part_ctx *ctx = user;
    (void)end;
    if (begin == 0) {
        ctx->runner = pthread_self();
        atomic_fetch_add(&ctx->seen, 1);
    }
}

/* q8_conv's task lists count on part 0 staying on the calling thread (locality from op to op). */
static void test_caller_runs_first_part(void **state) {
    (void)state;
    for (int threads = 2; threads <= 6; threads++)
        for (int round = 0; round < 100; round++) {
            first_part_ctx ctx = {0};
            qp_parallel_for(threads, 12, note_first_part, &ctx);
            assert_int_equal(atomic_load(&ctx.seen), 1);
            assert_true(pthread_equal(ctx.runner, pthread_self()));
        }
}

/* After an idle gap far past the workers' spin, they sleep on the condition variable: the next
 * jobs must wake them (or run without them) and still cover every item. */
static void test_jobs_after_idle_gaps(void **state) {
    (void)state;
    enum { N = 64 };
    atomic_int hits[N];
    for (int gap = 0; gap < 4; gap++) {
        const struct timespec pause = {.tv_sec = 0, .tv_nsec = 30 * 1000 * 1000};
        nanosleep(&pause, NULL);
        for (int round = 0; round < 20; round++) {
            memset(hits, 0, sizeof hits);
            visit_ctx ctx = {.hits = hits};
            qp_parallel_for(3, N, visit, &ctx);
            for (int i = 0; i < N; i++) assert_int_equal(atomic_load(&hits[i]), 1);
            assert_int_equal(atomic_load(&ctx.calls), 3);
        }
    }
}

typedef struct nested_ctx {
    atomic_int total;
} nested_ctx;

static void count_items(void *user, int64_t begin, int64_t end) {
    atomic_fetch_add(&((nested_ctx *)user)->total, (int)(end - begin));
}

static void nested_outer(void *user, int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) qp_parallel_for(4, 10, count_items, user); /* runs inline */
}

static void test_nested_calls_run_inline(void **state) {
    (void)state;
    nested_ctx ctx = {0};
    qp_parallel_for(2, 6, nested_outer, &ctx);
    assert_int_equal(atomic_load(&ctx.total), 60);
}

static void *concurrent_caller(void *arg) {
    nested_ctx *ctx = arg;
    for (int i = 0; i < 2000; i++) qp_parallel_for(2, 7, count_items, ctx);
    return NULL;
}

static void test_concurrent_callers(void **state) {
    (void)state;
    nested_ctx a = {0}, b = {0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, concurrent_caller, &a);
    pthread_create(&tb, NULL, concurrent_caller, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(atomic_load(&a.total), 2000 * 7);
    assert_int_equal(atomic_load(&b.total), 2000 * 7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once),
        cmocka_unit_test(test_caller_runs_first_part),
        cmocka_unit_test(test_jobs_after_idle_gaps),
        cmocka_unit_test(test_nested_calls_run_inline),
        cmocka_unit_test(test_concurrent_callers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
