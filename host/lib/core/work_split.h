/* work_split.h — one op's work as a task list for a few threads: a contiguous share per thread, cut into tasks that shrink toward the share's end; idle threads take the others' smallest tasks. */
#ifndef QPIPE_WORK_SPLIT_H
#define QPIPE_WORK_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "qpipe/qp_status.h"

/* Items [0, n) (output columns, channels, rows, images) split for `parts` threads. Part p owns
 * tasks [block_first[p], block_first[p + 1]), task t covering items [bounds[t], bounds[t + 1]).
 * Fixed at plan time from the arguments alone: any thread may run any task, and every task
 * writes its own outputs, so the result never depends on who ran what.
 *
 * Why shrinking tasks: with equal tasks two threads finish up to a whole task apart (measured
 * on MobileNetV2 at 2 threads: 5-10 us of 20-70 us convolutions, ~13 % of the run), because
 * the two cores are rarely equally fast (whose lines are local, the other VM's load). A share
 * cut about 1/4, 1/4, 1/4, 1/8, 1/8 keeps the first tasks big (few claims, long runs
 * over the same weights) and ends on small ones, which the thread that finishes first takes
 * from the back of the other's share. */
enum { QP_WORK_MAX_PARTS = 64 };

typedef struct qp_work_split {
    int n_parts;
    int n_tasks;
    int64_t *bounds;                           /* [n_tasks + 1] */
    int block_first[QP_WORK_MAX_PARTS + 1];
    int64_t widest;                            /* items in the largest task (scratch sizing) */
} qp_work_split;

/* Plans the split of n items for `parts` threads (clamped to 1..QP_WORK_MAX_PARTS). Shares and
 * task boundaries fall on multiples of `align` (the last boundary is n); a task holds at least
 * min_items (except when a share is smaller) and at most max_items (0: no limit). With one part
 * the items are cut by max_items only. max_items below align means align. Returns QP_ERR_NOMEM
 * or QP_OK. */
qp_status qp_work_split_plan(qp_work_split *w, int64_t n, int parts, int64_t align, int64_t min_items,
                             int64_t max_items);
void qp_work_split_free(qp_work_split *w);

/* A task: items [begin, end) with the running thread's scratch slot. */
typedef void (*qp_work_fn)(void *user, int64_t begin, int64_t end, uint8_t *slot);

/* Runs every task of w on up to `threads` threads (at most n_parts; 1: in order on the caller),
 * thread p using scratch + p * slot_bytes. Each part runs its own tasks from the front, then
 * takes what is left of the others' from the back, so a descheduled thread holds back one task
 * at most. qp_parallel_for keeps part 0 on the calling thread: from one op to the next each core
 * mostly works on the same region of the activations. */
void qp_work_split_run(const qp_work_split *w, int threads, qp_work_fn fn, void *user, uint8_t *scratch,
                       size_t slot_bytes);

#endif
