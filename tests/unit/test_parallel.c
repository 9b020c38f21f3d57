/* test_parallel.c — qp_parallel_for: every item exactly once, static partition, nesting and concurrent callers. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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
        cmocka_unit_test(test_nested_calls_run_inline),
        cmocka_unit_test(test_concurrent_callers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
