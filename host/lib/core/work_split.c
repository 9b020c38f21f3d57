/* work_split.c — plan-time task lists (shrinking tasks per thread share) and the run-time claims over them (owner from the front, others from the back). */
#include "core/work_split.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"

static int64_t round_to(int64_t x, int64_t align) { return (x + align / 2) / align * align; }

/* Cuts one share [a, b) into tasks; writes their starts to bounds (when not NULL) and returns
 * how many. Sizes are laid out from the share's end: two tasks of the floor (share/8 or
 * min_items, aligned), then doubling up to share/4, the front-most task taking what is left
 * (never less than the floor: a smaller leftover joins it). max_items caps every size. The end's
 * unaligned remainder (the last share's n % align) rides with the last task. */
static int cut_share(int64_t a, int64_t b, int64_t align, int64_t min_items, int64_t max_items, int64_t *bounds) {
    const int64_t tail = (b - a) % align, len = b - a - tail;
    const int64_t max_al = max_items > 0 ? (max_items / align > 0 ? max_items / align * align : align) : INT64_MAX;
    int64_t floor = len / 8 > min_items ? len / 8 : min_items;
    floor = (floor + align - 1) / align * align;
    int64_t cap = round_to(len / 4, align);
    if (cap < floor) cap = floor;
    if (floor > max_al) floor = max_al;
    if (cap > max_al) cap = max_al;
    /* Sizes from the end (the last two the floor, doubling up to the cap, the leftover last);
     * with bounds, they are stored there, ordered largest first and turned into starts. */
    int n = 0;
    int64_t left = len, smallest = INT64_MAX;
    for (int64_t size = floor; left > 0; n++) {
        int64_t c = size < left ? size : left;
        if (left - c < floor) c = left <= max_al ? left : max_al; /* the leftover */
        left -= c;
        if (c < smallest) smallest = c;
        if (bounds) bounds[n] = c;
        if (n >= 1 && size < cap) size = 2 * size < cap ? 2 * size : cap;
    }
    /* the tail joins the smallest task unless that would pass max_items */
    if (tail > 0 && (n == 0 || (max_items > 0 && smallest + tail > max_items))) {
        if (bounds) bounds[n] = 0;
        n++;
    }
    if (bounds && n > 0) {
        for (int i = 1; i < n; i++) /* insertion sort, largest first: n is a handful */
            for (int j = i; j > 0 && bounds[j] > bounds[j - 1]; j--) {
                const int64_t t = bounds[j];
                bounds[j] = bounds[j - 1];
                bounds[j - 1] = t;
            }
        bounds[n - 1] += tail;
        int64_t at = 0;
        for (int i = 0; i < n; i++) {
            const int64_t size = bounds[i];
            bounds[i] = a + at;
            at += size;
        }
    }
    return n;
}

qp_status qp_work_split_plan(qp_work_split *w, int64_t n, int parts, int64_t align, int64_t min_items,
                             int64_t max_items) {
    memset(w, 0, sizeof *w);
    if (parts < 1) parts = 1;
    if (parts > QP_WORK_MAX_PARTS) parts = QP_WORK_MAX_PARTS;
    if (align < 1) align = 1;
    if (min_items < 1) min_items = 1;
    if (n < 0) n = 0;
    /* Share boundaries at the multiple of align nearest to an even split (196 columns in two
     * 32-aligned shares: 96 + 100, not 128 + 68). */
    int64_t share[QP_WORK_MAX_PARTS + 1];
    share[0] = 0;
    for (int p = 1; p <= parts; p++) {
        int64_t s = p == parts ? n : round_to(n * p / parts, align);
        if (s > n) s = n;
        share[p] = s < share[p - 1] ? share[p - 1] : s;
    }
    const int64_t min_cut = parts == 1 ? n : min_items; /* one part: cut by max_items only */
    int total = 0;
    for (int p = 0; p < parts; p++) total += cut_share(share[p], share[p + 1], align, min_cut, max_items, NULL);
    w->bounds = malloc((size_t)(total + 1) * sizeof *w->bounds);
    if (!w->bounds) return qp_error(QP_ERR_NOMEM, "out of memory planning a work split");
    w->n_parts = parts;
    w->n_tasks = total;
    int t = 0;
    for (int p = 0; p < parts; p++) {
        w->block_first[p] = t;
        t += cut_share(share[p], share[p + 1], align, min_cut, max_items, w->bounds + t);
    }
    w->block_first[parts] = t;
    w->bounds[total] = n;
    for (int k = 0; k < total; k++)
        if (w->bounds[k + 1] - w->bounds[k] > w->widest) w->widest = w->bounds[k + 1] - w->bounds[k];
    return QP_OK;
}

void qp_work_split_free(qp_work_split *w) {
    free(w->bounds);
    w->bounds = NULL;
    w->n_tasks = 0;
}

/* One part's unclaimed tasks: low 32 bits the front (next task its owner runs), high 32 bits
 * the back (one past the last task left). The owner moves the front up, others the back down;
 * one compare-and-swap on both halves keeps them from taking the same task. */
typedef struct claim_state {
    const qp_work_split *w;
    qp_work_fn fn;
    void *user;
    uint8_t *scratch;
    size_t slot_bytes;
    struct {
        _Alignas(64) atomic_uint_fast64_t range;
    } block[QP_WORK_MAX_PARTS];
} claim_state;

static inline uint_fast64_t pack_range(uint32_t front, uint32_t back) { return (uint_fast64_t)back << 32 | front; }

/* Takes a task from block b (from the front when own, else from the back); -1 when it is empty. */
static int64_t take(claim_state *c, int b, int own) {
    uint_fast64_t v = atomic_load_explicit(&c->block[b].range, memory_order_relaxed);
    for (;;) {
        const uint32_t front = (uint32_t)v, back = (uint32_t)(v >> 32);
        if (front >= back) return -1;
        const uint_fast64_t next = own ? pack_range(front + 1, back) : pack_range(front, back - 1);
        if (atomic_compare_exchange_weak_explicit(&c->block[b].range, &v, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return own ? front : back - 1;
    }
}

static void run_part(void *user, int64_t part, int64_t end) {
    claim_state *c = user;
    (void)end;
    uint8_t *slot = c->scratch + (size_t)part * c->slot_bytes;
    const int64_t *bounds = c->w->bounds;
    /* parts beyond those running (a plan for 4 threads run on 2) are somebody's "others" */
    const int n_blocks = c->w->n_parts;
    for (int i = 0; i < n_blocks; i++) {
        const int b = (int)((part + i) % n_blocks);
        int64_t t;
        while ((t = take(c, b, i == 0)) >= 0) c->fn(c->user, bounds[t], bounds[t + 1], slot);
    }
}

void qp_work_split_run(const qp_work_split *w, int threads, qp_work_fn fn, void *user, uint8_t *scratch,
                       size_t slot_bytes) {
    int parts = threads < w->n_parts ? threads : w->n_parts;
    if (parts > w->n_tasks) parts = w->n_tasks;
    if (parts <= 1) {
        for (int t = 0; t < w->n_tasks; t++) fn(user, w->bounds[t], w->bounds[t + 1], scratch);
        return;
    }
    claim_state c = {.w = w, .fn = fn, .user = user, .scratch = scratch, .slot_bytes = slot_bytes};
    for (int b = 0; b < w->n_parts; b++)
        atomic_init(&c.block[b].range, pack_range((uint32_t)w->block_first[b], (uint32_t)w->block_first[b + 1]));
    qp_parallel_for(parts, parts, run_part, &c);
}
