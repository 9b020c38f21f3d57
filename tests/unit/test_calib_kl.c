/* test_calib_kl.c — the calib_kl plugin: exact streaming histograms, kl/percentile/mse against references computed here, degenerate tensors, the cache, the pass on a session. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/params.h"
#include "plugin/registry.h"
#include "quant/encodings.h"
#include "session/session.h"
#include "test_support.h"

/* The plugin's sources, so their internal functions can be tested directly; the built .so is
 * loaded through the registry at the end, as qpipe loads it. */
#include "plugins/calib_kl/kl_hist.c"
#include "plugins/calib_kl/kl_cache.c"
#include "plugins/calib_kl/kl_pool.c"
#include "plugins/calib_kl/calib_kl.c"

#define assert_ok(expr)                                                                                      \
    do {                                                                                                     \
        qp_status st_ = (expr);                                                                              \
        if (st_ != QP_OK) fail_msg("%s -> %d: %s", #expr, (int)st_, qp_error_message());                     \
    } while (0)

/* ---- deterministic data ------------------------------------------------------------------------------ */

typedef struct rng {
    uint64_t s;
} rng;

static double uniform01(rng *r) {
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return ((double)(r->s >> 11) + 0.5) / 9007199254740992.0;
}

static double gaussian(rng *r) {
    double u = uniform01(r), v = uniform01(r);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static float *make_samples(int n, int kind, uint64_t seed) {
    rng r = {seed * 2654435761u + 88172645463325252ull};
    float *x = malloc((size_t)n * sizeof *x);
    for (int i = 0; i < n; i++) {
        double g = gaussian(&r);
        switch (kind) {
        case 0: x[i] = (float)g; break;               /* symmetric bell */
        case 1: x[i] = (float)(g > 0 ? g : 0); break; /* ReLU: half zeros */
        case 2: x[i] = (float)(-log(uniform01(&r)) * (uniform01(&r) < 0.5 ? -1 : 1)); break; /* Laplace */
        case 3: x[i] = (float)(0.5 * g + 1.5); break;          /* skewed, mostly positive */
        default: x[i] = (float)(uniform01(&r) * 4 - 1); break; /* uniform [-1, 3] */
        }
    }
    return x;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* ---- histograms -----------------------------------------------------------------------------------------
 */

/* The histogram of all values at the final width, computed directly: what streaming must equal. */
static void reference_counts(const float *x, int n, int bins, int exp, uint64_t *counts) {
    memset(counts, 0, (size_t)2 * (size_t)bins * sizeof *counts);
    double w = ldexp(1.0, exp);
    for (int i = 0; i < n; i++) {
        int j = (int)floor(fabs((double)x[i]) / w);
        assert_true(j < bins);
        counts[x[i] < 0 ? bins - 1 - j : bins + j]++;
    }
}

static void test_growth_is_exact(void **state) {
    (void)state;
    const int n = 200000, B = 512;
    float *x = make_samples(n, 2, 1);
    /* Batches whose range keeps growing: the first is small, a later one 40x wider. */
    for (int i = 0; i < 1000; i++)
        x[i] *= 0.01f;
    x[150000] = -41.5f;
    x[199999] = 97.25f;
    kl_hist h;
    kl_hist_init(&h, B);
    int sizes[] = {1000, 1, 7, 48992, 100000, 50000};
    int at = 0;
    int exps[6];
    for (int b = 0; b < 6; b++) {
        assert_int_equal(kl_hist_add(&h, x + at, sizes[b]), 0);
        at += sizes[b];
        exps[b] = h.exp;
    }
    assert_int_equal(at, n);
    assert_true(exps[0] < exps[5]); /* it did grow */
    /* The width is the smallest power of two with bins * w > max |x|. */
    double w = kl_hist_width(&h);
    assert_true(B * w > 97.25 && B * w / 2 <= 97.25);
    uint64_t *ref = malloc((size_t)2 * B * sizeof *ref);
    reference_counts(x, n, B, h.exp, ref);
    for (int k = 0; k < 2 * B; k++)
        if (ref[k] != h.counts[k])
            fail_msg("bin %d: streaming %llu, direct %llu", k, (unsigned long long)h.counts[k],
                     (unsigned long long)ref[k]);
    assert_int_equal(h.finite, n);
    assert_float_equal(h.min, -41.5f, 0);
    assert_float_equal(h.max, 97.25f, 0);
    /* In one batch, or through the thread pool (which splits it), the histogram is the same. */
    kl_hist whole, pooled;
    kl_hist_init(&whole, B);
    kl_hist_init(&pooled, B);
    assert_int_equal(kl_hist_add(&whole, x, n), 0);
    kl_pool *pool = kl_pool_new(3, B);
    assert_non_null(pool);
    for (int b = 0, off = 0; b < 6; off += sizes[b], b++)
        assert_int_equal(kl_pool_add(pool, &pooled, x + off, sizes[b], NULL), 0);
    kl_pool_free(pool);
    assert_memory_equal(whole.counts, h.counts, (size_t)2 * B * sizeof(uint64_t));
    assert_memory_equal(pooled.counts, h.counts, (size_t)2 * B * sizeof(uint64_t));
    assert_int_equal(whole.zeros, h.zeros);
    assert_int_equal(pooled.zeros, h.zeros);
    free(ref);
    free(x);
    kl_hist_free(&h);
    kl_hist_free(&whole);
    kl_hist_free(&pooled);
}

static void test_nan_and_inf_are_counted_and_skipped(void **state) {
    (void)state;
    float x[10] = {1.5f, NAN, -2.0f, INFINITY, 0.0f, -INFINITY, 3.0f, NAN, -0.0f, 0.25f};
    kl_hist h;
    kl_hist_init(&h, 128);
    assert_int_equal(kl_hist_add(&h, x, 10), 0);
    assert_int_equal(h.nonfinite, 4);
    assert_int_equal(h.finite, 6);
    assert_int_equal(h.zeros, 2);
    assert_float_equal(h.min, -2.0f, 0);
    assert_float_equal(h.max, 3.0f, 0);
    uint64_t total = 0;
    for (int k = 0; k < 256; k++)
        total += h.counts[k];
    assert_int_equal(total, 6);
    /* Only NaN/Inf: nothing binned, the tensor is degenerate but its range finite. */
    kl_hist bad;
    kl_hist_init(&bad, 128);
    float only[3] = {NAN, INFINITY, -INFINITY};
    assert_int_equal(kl_hist_add(&bad, only, 3), 0);
    kl_settings s = {.method = KL_METHOD_KL, .bits = 8, .symmetric = 0, .percentile = 99.99};
    float lo, hi;
    assert_int_equal(kl_hist_range(&bad, &s, &lo, &hi), KL_RANGE_DEGENERATE);
    assert_true(isfinite(lo) && isfinite(hi) && hi > lo);
    kl_hist_free(&h);
    kl_hist_free(&bad);
}

static void test_sampling_is_deterministic_and_split_independent(void **state) {
    (void)state;
    const int n = 300000, B = 256;
    float *x = make_samples(n, 1, 3);
    kl_sample smp = {.every = 8, .key = 12345};
    kl_hist a, b, c, d;
    kl_hist_init(&a, B);
    kl_hist_init(&b, B);
    kl_hist_init(&c, B);
    kl_hist_init(&d, B);
    kl_hist_add(&a, x, 10); /* sets the width, so the pool takes the rest in shares */
    kl_hist_add(&b, x, 10);
    kl_hist_add(&c, x, 10);
    assert_int_equal(kl_hist_add_sampled(&a, x + 10, n - 10, &smp), 0);
    assert_int_equal(kl_hist_add_sampled(&b, x + 10, n - 10, &smp), 0);
    kl_pool *pool = kl_pool_new(4, B);
    assert_int_equal(kl_pool_add(pool, &c, x + 10, n - 10, &smp), 0);
    kl_pool_free(pool);
    assert_memory_equal(a.counts, b.counts, (size_t)2 * B * sizeof(uint64_t));
    assert_memory_equal(a.counts, c.counts, (size_t)2 * B * sizeof(uint64_t));
    uint64_t total = 0;
    for (int k = 0; k < 2 * B; k++)
        total += a.counts[k];
    /* one value per group of 8 (blocks are whole but for the last) */
    assert_true(total >= (uint64_t)(n - 10) / 8 - 600 && total <= (uint64_t)(n - 10) / 8 + 600 + 10);
    /* which values are kept follows their positions: batches of any size give the same sample */
    kl_hist e, f;
    kl_hist_init(&e, B);
    kl_hist_init(&f, B);
    kl_sample all = {.every = 8, .key = 12345};
    assert_int_equal(kl_hist_add_sampled(&e, x, n, &all), 0);
    const int pieces[4] = {7, 1000, 150000, n - 151007};
    kl_pool *pool2 = kl_pool_new(2, B);
    for (int k = 0, at = 0; k < 4; at += pieces[k], k++) {
        kl_sample part = {.every = 8, .key = 12345, .origin = at};
        assert_int_equal(k % 2 ? kl_pool_add(pool2, &f, x + at, pieces[k], &part)
                               : kl_hist_add_sampled(&f, x + at, pieces[k], &part),
                         0);
    }
    kl_pool_free(pool2);
    assert_memory_equal(e.counts, f.counts, (size_t)2 * B * sizeof(uint64_t));
    assert_int_equal(e.zeros, f.zeros);
    kl_hist_free(&e);
    kl_hist_free(&f);
    /* another key draws other offsets: a different, equally sized sample */
    kl_sample other = {.every = 8, .key = 999};
    kl_hist_add(&d, x, 10);
    assert_int_equal(kl_hist_add_sampled(&d, x + 10, n - 10, &other), 0);
    assert_true(memcmp(a.counts, d.counts, (size_t)2 * B * sizeof(uint64_t)) != 0);
    /* the sample describes the data: its median is close to the data's */
    float *sorted = malloc((size_t)n * sizeof *sorted);
    memcpy(sorted, x, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_float);
    double median = kl_quantile(a.counts, 2 * B, -(double)B * kl_hist_width(&a), kl_hist_width(&a), 0.75);
    assert_true(fabs(median - sorted[3 * n / 4]) < 0.05);
    free(sorted);
    free(x);
    kl_hist_free(&a);
    kl_hist_free(&b);
    kl_hist_free(&c);
    kl_hist_free(&d);
}

/* ---- kl against a direct reference -------------------------------------------------------------------- */

/* KL(P || Q) for bins [lo, hi) of a, straight from the definition in kl_hist.h, in double. */
static double reference_kl(const uint64_t *a, int n, int lo, int hi, int levels) {
    int width = hi - lo;
    double *P = calloc((size_t)width, sizeof *P), *Q = calloc((size_t)width, sizeof *Q);
    double left = 0, right = 0, T = 0, sumP = 0;
    for (int k = 0; k < lo; k++)
        left += (double)a[k];
    for (int k = hi; k < n; k++)
        right += (double)a[k];
    for (int k = 0; k < width; k++) {
        P[k] = (double)a[lo + k];
        T += P[k];
    }
    P[0] += left;
    P[width - 1] += right;
    if (T <= 0) {
        free(P);
        free(Q);
        return INFINITY;
    }
    for (int g = 0; g < levels; g++) {
        int g0 = (int)((int64_t)g * width / levels), g1 = (int)((int64_t)(g + 1) * width / levels);
        double S = 0;
        int nz = 0;
        for (int k = g0; k < g1; k++) {
            S += (double)a[lo + k];
            nz += P[k] > 0;
        }
        for (int k = g0; k < g1; k++)
            Q[k] = P[k] > 0 ? S / nz : 0;
    }
    for (int k = 0; k < width; k++)
        sumP += P[k];
    double kl = 0;
    for (int k = 0; k < width; k++) {
        if (P[k] <= 0) continue;
        double p = P[k] / sumP, q = Q[k] / T;
        kl += p * log(p / (q > 1e-10 ? q : 1e-10));
    }
    free(P);
    free(Q);
    return kl;
}

/* |x| histograms of several shapes (bell, ReLU without its zeros, Laplace with far outliers,
 * sparse with empty bins). */
static int abs_histogram(int kind, int bins, uint64_t *a) {
    const int n = 100000;
    float *x = make_samples(n, kind == 3 ? 4 : kind, 10 + (uint64_t)kind);
    if (kind == 2) x[5] = 60.0f, x[6] = -45.0f;
    kl_hist h;
    kl_hist_init(&h, bins);
    kl_hist_add(&h, x, n);
    int used = kl_hist_abs(&h, a);
    a[0] -= h.zeros;
    if (kind == 3)
        for (int j = 0; j < used; j++)
            if ((j / 7) % 3 == 1) a[j] = 0; /* gaps */
    while (used > 0 && a[used - 1] == 0)
        used--;
    kl_hist_free(&h);
    free(x);
    return used;
}

static void test_kl_matches_reference(void **state) {
    (void)state;
    const int B = 512;
    uint64_t *a = malloc((size_t)B * sizeof *a);
    for (int kind = 0; kind < 4; kind++) {
        int n = abs_histogram(kind, B, a);
        for (int levels = 16; levels <= 128; levels *= 8) {
            double *kl = malloc((size_t)(n - levels + 1) * sizeof *kl);
            int best = kl_entropy_search(a, n, levels, kl);
            assert_true(best >= levels && best <= n);
            double ref_best = INFINITY;
            int first = 0;
            while (!a[first])
                first++;
            for (int i = levels; i <= n; i++) {
                if (i < first + levels) { /* not a candidate: the range must span levels bins of data */
                    assert_true(isinf(kl[i - levels]));
                    continue;
                }
                double r = reference_kl(a, n, 0, i, levels), got = kl[i - levels];
                if (isinf(r)) {
                    assert_true(isinf(got));
                    continue;
                }
                if (fabs(got - r) > 1e-9 + 1e-7 * fabs(r))
                    fail_msg("kind %d levels %d i %d: KL %.12g, reference %.12g", kind, levels, i, got, r);
                ref_best = r < ref_best ? r : ref_best;
            }
            /* the chosen threshold is a minimum of the reference divergence (ties within rounding) */
            assert_true(reference_kl(a, n, 0, best, levels) <= ref_best + 1e-12);
            free(kl);
        }
    }
    free(a);
}

static void test_kl_2d_is_a_reference_local_minimum(void **state) {
    (void)state;
    const int B = 256;
    const int n = 100000;
    float *x = make_samples(n, 3, 21); /* skewed: mostly positive, a negative tail */
    x[0] = -9.0f;
    kl_hist h;
    kl_hist_init(&h, B);
    kl_hist_add(&h, x, n);
    int lo, hi, levels = 64;
    assert_int_equal(kl_entropy_search_2d(h.counts, 2 * B, levels, &lo, &hi), 0);
    assert_true(hi - lo >= levels);
    /* the prefix-sum divergence equals the reference at the optimum and at random ranges */
    kl_prefix p;
    assert_int_equal(prefix_make(&p, h.counts, 2 * B), 0);
    rng r = {77};
    for (int t = 0; t < 50; t++) {
        int a0 = (int)(uniform01(&r) * (2 * B - levels)),
            a1 = a0 + levels + (int)(uniform01(&r) * (2 * B - a0 - levels));
        double got = kl_candidate(&p, a0, a1, levels), ref = reference_kl(h.counts, 2 * B, a0, a1, levels);
        if (!(isinf(ref) && isinf(got)) && fabs(got - ref) > 1e-9 + 1e-7 * fabs(ref))
            fail_msg("[%d, %d): KL %.12g, reference %.12g", a0, a1, got, ref);
    }
    prefix_free(&p);
    double here = reference_kl(h.counts, 2 * B, lo, hi, levels);
    for (int d = -3; d <= 3; d++) { /* no single-coordinate move of a few bins does better */
        if (hi + d - lo >= levels && hi + d <= 2 * B)
            assert_true(here <= reference_kl(h.counts, 2 * B, lo, hi + d, levels) + 1e-12);
        if (hi - (lo + d) >= levels && lo + d >= 0)
            assert_true(here <= reference_kl(h.counts, 2 * B, lo + d, hi, levels) + 1e-12);
    }
    /* it clipped the lone outlier at -9 */
    assert_true((double)(lo - B) * kl_hist_width(&h) > -8.0);
    kl_hist_free(&h);
    free(x);
}

static float kl_threshold(const float *x, int n, int bits, int symmetric, kl_method method, double percentile,
                          float *lo_out) {
    kl_hist h;
    kl_hist_init(&h, 2048);
    kl_hist_add(&h, x, n);
    kl_settings s = {.method = method, .bits = bits, .symmetric = symmetric, .percentile = percentile};
    float lo, hi;
    assert_int_equal(kl_hist_range(&h, &s, &lo, &hi), KL_RANGE_OK);
    kl_hist_free(&h);
    if (lo_out) *lo_out = lo;
    return hi;
}

static void test_kl_behaves(void **state) {
    (void)state;
    const int n = 200000;
    /* uniform data: nothing to clip */
    float *u = make_samples(n, 4, 5);
    for (int i = 0; i < n; i++)
        u[i] = fabsf(u[i]);
    assert_true(kl_threshold(u, n, 8, 1, KL_METHOD_KL, 0, NULL) > 2.9f);
    free(u);
    /* a bell with one far outlier: clipped well below the outlier, well above the bulk */
    float *g = make_samples(n, 0, 6);
    g[17] = 80.0f;
    float t = kl_threshold(g, n, 8, 1, KL_METHOD_KL, 0, NULL);
    assert_true(t > 3.0f && t < 20.0f);
    /* data far from 0 (a gate in [0.17, 0.99]): no threshold just above the minimum */
    float *gate = make_samples(n, 0, 7);
    for (int i = 0; i < n; i++)
        gate[i] = 0.58f + 0.12f * gate[i];
    for (int i = 0; i < n; i++)
        gate[i] = gate[i] < 0.17f ? 0.17f : gate[i] > 0.99f ? 0.99f : gate[i];
    float tg = kl_threshold(gate, n, 8, 0, KL_METHOD_KL, 0, NULL);
    if (!(tg > 0.8f)) fail_msg("gate in [0.17, 0.99] clipped at %g", tg);
    free(gate);
    /* more bits, less clipping; 16 bits have more levels than bins: no clipping at all */
    float t4 = kl_threshold(g, n, 4, 1, KL_METHOD_KL, 0, NULL),
          t16 = kl_threshold(g, n, 16, 1, KL_METHOD_KL, 0, NULL);
    assert_true(t4 <= t);
    assert_float_equal(t16, 80.0f, 0);
    free(g);
}

/* ---- percentile against sorting ----------------------------------------------------------------------- */

static void test_percentile_matches_sorted_samples(void **state) {
    (void)state;
    const int n = 100000;
    for (int kind = 0; kind < 5; kind++) {
        float *x = make_samples(n, kind, 30 + (uint64_t)kind);
        float *s = malloc((size_t)n * sizeof *s), *ab = malloc((size_t)n * sizeof *ab);
        memcpy(s, x, (size_t)n * sizeof *s);
        qsort(s, (size_t)n, sizeof *s, cmp_float);
        for (int i = 0; i < n; i++)
            ab[i] = fabsf(x[i]);
        qsort(ab, (size_t)n, sizeof *ab, cmp_float);
        double amax = fmax(fabs((double)s[0]), fabs((double)s[n - 1]));
        kl_hist h;
        kl_hist_init(&h, 2048);
        kl_hist_add(&h, x, n);
        double w = kl_hist_width(&h);
        kl_hist_free(&h);
        const double ps[] = {99.0, 99.9, 99.99};
        for (int k = 0; k < 3; k++) {
            double q = ps[k] / 100;
            float lo, hi = kl_threshold(x, n, 8, 1, KL_METHOD_PERCENTILE, ps[k], &lo);
            double want = ab[(int)ceil(q * n) - 1];
            if (fabs(hi - want) > w)
                fail_msg("kind %d p %g symmetric: %g, sorted %g (bin %g)", kind, ps[k], hi, want, w);
            assert_float_equal(lo, -hi, 0);
            hi = kl_threshold(x, n, 8, 0, KL_METHOD_PERCENTILE, ps[k], &lo);
            if (s[0] >= 0) { /* one-sided: the whole tail at the top */
                want = s[(int)ceil(q * n) - 1];
                assert_float_equal(lo, 0, 0);
                if (fabs(hi - want) > w)
                    fail_msg("kind %d p %g one-sided: %g, sorted %g", kind, ps[k], hi, want);
            } else {
                double cut = (1 - q) / 2;
                double want_lo = s[(int)floor(cut * n)], want_hi = s[(int)ceil((1 - cut) * n) - 1];
                if (fabs(lo - fmin(want_lo, 0)) > w || fabs(hi - fmax(want_hi, 0)) > w)
                    fail_msg("kind %d p %g: [%g, %g], sorted [%g, %g]", kind, ps[k], lo, hi, want_lo,
                             want_hi);
            }
            assert_true(hi <= amax + 1e-6);
        }
        /* 100: exactly min/max */
        float lo, hi = kl_threshold(x, n, 8, 0, KL_METHOD_PERCENTILE, 100.0, &lo);
        assert_float_equal(hi, fmaxf(s[n - 1], 0), 0);
        assert_float_equal(lo, fminf(s[0], 0), 0);
        free(s);
        free(ab);
        free(x);
    }
}

/* ---- mse against brute force on the raw samples ------------------------------------------------------- */

static double fake_quant_mse(const float *x, int n, int bits, int symmetric, float lo, float hi) {
    float scale;
    int32_t zp, qmin, qmax;
    qp_encoding_from_range(bits, symmetric, lo, hi, &scale, &zp);
    qp_quant_range(bits, symmetric, &qmin, &qmax);
    double e = 0;
    for (int i = 0; i < n; i++) {
        double d = (double)x[i] - qp_fake_quant(x[i], scale, zp, qmin, qmax);
        e += d * d;
    }
    return e / n;
}

static void test_mse_matches_brute_force(void **state) {
    (void)state;
    const int n = 12000;
    const int kinds[] = {0, 1, 2, 3};
    for (int ki = 0; ki < 4; ki++) {
        int kind = kinds[ki];
        float *x = make_samples(n, kind, 50 + (uint64_t)kind);
        if (kind == 2) x[3] = 30.0f; /* an outlier worth clipping */
        float mn = x[0], mx = x[0];
        for (int i = 1; i < n; i++)
            mn = fminf(mn, x[i]), mx = fmaxf(mx, x[i]);
        for (int bits = 4; bits <= 8; bits += 4) {
            /* symmetric: a fine grid of thresholds */
            float lo, hi = kl_threshold(x, n, bits, 1, KL_METHOD_MSE, 0, &lo);
            double amax = fmax(-mn, mx), best = INFINITY;
            for (int g = 1; g <= 300; g++) {
                double t = amax * g / 300;
                double e = fake_quant_mse(x, n, bits, 1, (float)-t, (float)t);
                best = e < best ? e : best;
            }
            double got = fake_quant_mse(x, n, bits, 1, lo, hi);
            if (got > best * 1.05 + 1e-12)
                fail_msg("kind %d bits %d symmetric: mse %g at %g, best %g", kind, bits, got, hi, best);
            /* asymmetric: a grid of (lo, hi) pairs */
            hi = kl_threshold(x, n, bits, 0, KL_METHOD_MSE, 0, &lo);
            best = INFINITY;
            for (int a = 0; a <= 24; a++)
                for (int c = 1; c <= 60; c++) {
                    double l = fmin(mn, 0) * a / 24, hh = fmax(mx, 0) * c / 60;
                    if (hh - l <= 0) continue;
                    double e = fake_quant_mse(x, n, bits, 0, (float)l, (float)hh);
                    best = e < best ? e : best;
                }
            got = fake_quant_mse(x, n, bits, 0, lo, hi);
            if (got > best * 1.05 + 1e-12)
                fail_msg("kind %d bits %d asymmetric: mse %g at [%g, %g], best %g", kind, bits, got, lo, hi,
                         best);
        }
        free(x);
    }
}

/* ---- every method, every bit-width, degenerate tensors ---------------------------------------------------
 */

static void test_all_bit_widths_and_modes(void **state) {
    (void)state;
    const int n = 50000;
    for (int kind = 0; kind < 5; kind++) {
        float *x = make_samples(n, kind, 70 + (uint64_t)kind);
        float mn = x[0], mx = x[0];
        for (int i = 1; i < n; i++)
            mn = fminf(mn, x[i]), mx = fmaxf(mx, x[i]);
        for (int method = 0; method < 3; method++)
            for (int bits = 4; bits <= 16; bits++)
                for (int sym = 0; sym < 2; sym++) {
                    float lo, hi = kl_threshold(x, n, bits, sym, (kl_method)method, 99.99, &lo);
                    if (!(isfinite(lo) && isfinite(hi) && lo <= 0 && hi >= 0 && hi - lo > 0))
                        fail_msg("kind %d method %d bits %d sym %d: [%g, %g]", kind, method, bits, sym, lo,
                                 hi);
                    /* never wider than min/max (symmetric: than max |x|) */
                    float amax = fmaxf(-mn, mx);
                    assert_true(hi <= (sym ? amax : fmaxf(mx, 0)) * (1 + 1e-6f));
                    assert_true(lo >= (sym ? -amax : fminf(mn, 0)) * (1 + 1e-6f));
                    if (sym) assert_float_equal(lo, -hi, 0);
                    float scale;
                    int32_t zp;
                    qp_encoding_from_range(bits, sym, lo, hi, &scale, &zp);
                    assert_true(isfinite(scale) && scale > 0);
                }
        free(x);
    }
}

static void test_degenerate_tensors(void **state) {
    (void)state;
    const int n = 10000;
    float *x = calloc((size_t)n + 1, sizeof *x);
    for (int method = 0; method < 3; method++) {
        kl_settings s = {.method = (kl_method)method, .bits = 8, .symmetric = 0, .percentile = 99.99};
        float lo, hi;
        /* all zero: scale 1 */
        kl_hist h;
        kl_hist_init(&h, 2048);
        kl_hist_add(&h, x, n);
        assert_int_equal(kl_hist_range(&h, &s, &lo, &hi), KL_RANGE_DEGENERATE);
        float scale;
        int32_t zp;
        qp_encoding_from_range(8, 0, lo, hi, &scale, &zp);
        assert_float_equal(scale, 1.0f, 0);
        assert_int_equal(zp, 0);
        s.symmetric = 1;
        assert_int_equal(kl_hist_range(&h, &s, &lo, &hi), KL_RANGE_DEGENERATE);
        qp_encoding_from_range(8, 1, lo, hi, &scale, &zp);
        assert_float_equal(scale, 1.0f, 0);
        kl_hist_free(&h);
        /* constant: represented exactly */
        for (int i = 0; i < n; i++)
            x[i] = 2.5f;
        kl_hist_init(&h, 2048);
        kl_hist_add(&h, x, n);
        s.symmetric = 0;
        assert_int_equal(kl_hist_range(&h, &s, &lo, &hi), KL_RANGE_OK);
        assert_float_equal(hi, 2.5f, 0);
        assert_float_equal(lo, 0, 0);
        s.symmetric = 1;
        assert_int_equal(kl_hist_range(&h, &s, &lo, &hi), KL_RANGE_OK);
        assert_float_equal(hi, 2.5f, 0);
        kl_hist_free(&h);
        /* a single outlier over zeros and small values: a sane range holding the bulk. With the
         * bulk in two bins of the outlier's histogram, kl sees no loss in keeping it, and mse
         * keeps it (its squared error outweighs the bulk's rounding); percentile clips it. */
        for (int i = 0; i < n; i++)
            x[i] = (i % 3) ? 0.0f : (float)(i % 97) / 97.0f;
        x[n] = 1000.0f;
        kl_hist_init(&h, 2048);
        kl_hist_add(&h, x, n + 1);
        s.symmetric = 0;
        assert_int_equal(kl_hist_range(&h, &s, &lo, &hi), KL_RANGE_OK);
        if (!(hi >= 0.98f && hi <= 1000.0f && lo == 0))
            fail_msg("method %d: single outlier gave [%g, %g]", method, lo, hi);
        if (method == KL_METHOD_PERCENTILE) assert_true(hi < 2.0f);
        kl_hist_free(&h);
        memset(x, 0, ((size_t)n + 1) * sizeof *x);
    }
    free(x);
}

static void test_same_data_same_ranges(void **state) {
    (void)state;
    const int n = 120000;
    float *x = make_samples(n, 2, 90);
    for (int method = 0; method < 3; method++) {
        kl_settings s = {.method = (kl_method)method, .bits = 8, .symmetric = 0, .percentile = 99.9};
        float lo[3], hi[3];
        const int batch[3] = {n, 1000, 777};
        for (int r = 0; r < 3; r++) {
            kl_hist h;
            kl_hist_init(&h, 2048);
            for (int at = 0; at < n; at += batch[r])
                kl_hist_add(&h, x + at, at + batch[r] <= n ? batch[r] : n - at);
            assert_int_equal(kl_hist_range(&h, &s, &lo[r], &hi[r]), KL_RANGE_OK);
            kl_hist_free(&h);
        }
        /* batch size does not matter: bit-identical */
        assert_memory_equal(&lo[0], &lo[1], sizeof(float));
        assert_memory_equal(&hi[0], &hi[2], sizeof(float));
        assert_memory_equal(&lo[0], &lo[2], sizeof(float));
    }
    free(x);
}

/* ---- the cache table ---------------------------------------------------------------------------------- */

static char *temp_path(const char *dir, const char *name) {
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/%s", dir, name);
    return p;
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_cache_round_trip(void **state) {
    (void)state;
    char *dir = qp_test_mkdtemp();
    char *path = temp_path(dir, "calib.cache");
    kl_cache c = {.has_settings = 1, .bins = 4096, .percentile = 99.95, .spec_hash = 0x0123456789abcdefull};
    snprintf(c.algorithm, sizeof c.algorithm, "%s", kl_cache_algorithm("mse"));
    snprintf(c.method, sizeof c.method, "mse");
    assert_int_equal(kl_cache_add(&c, "conv1/out", -0.5f, 3.25f, 0), 0);
    assert_int_equal(kl_cache_add(&c, "name: with colon", -1.0f, 0.75f, 1), 0);
    assert_int_equal(kl_cache_add(&c, "tiny", 0.0f, 1e-30f, 0), 0);
    assert_ok(kl_cache_write(path, &c));
    kl_cache r;
    assert_ok(kl_cache_read(path, &r));
    assert_string_equal(r.algorithm, "MSECalibration");
    assert_int_equal(r.has_settings, 1);
    assert_string_equal(r.method, "mse");
    assert_int_equal(r.bins, 4096);
    assert_true(r.percentile == 99.95);
    assert_true(r.spec_hash == 0x0123456789abcdefull);
    assert_int_equal(r.n_entries, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(r.entries[i].name, c.entries[i].name);
        float a0, a1, b0, b1;
        kl_cache_entry_range(&c.entries[i], &a0, &a1);
        kl_cache_entry_range(&r.entries[i], &b0, &b1);
        assert_memory_equal(&a0, &b0, sizeof a0); /* bit-exact */
        assert_memory_equal(&a1, &b1, sizeof a1);
        assert_int_equal(r.entries[i].line, i + 2);
    }
    /* symmetric entries are TensorRT's: amax / 127 */
    assert_int_equal(r.entries[1].has_range, 0);
    assert_float_equal(r.entries[1].scale, 1.0f / 127, 1e-9);
    kl_cache_free(&r);
    kl_cache_free(&c);
    /* A TensorRT table as TensorRT writes it */
    FILE *f = fopen(path, "w");
    fputs("TRT-8501-EntropyCalibration2\r\ninput.1: 3c010a14\r\n\r\n147: 3d7c8c2f\n", f);
    fclose(f);
    assert_ok(kl_cache_read(path, &r));
    assert_int_equal(r.has_settings, 0);
    assert_string_equal(r.algorithm, "EntropyCalibration2");
    assert_int_equal(r.n_entries, 2);
    assert_string_equal(r.entries[0].name, "input.1");
    uint32_t bits = 0x3c010a14;
    float want;
    memcpy(&want, &bits, sizeof want);
    assert_memory_equal(&r.entries[0].scale, &want, sizeof want);
    kl_cache_free(&r);
    qp_test_rmtree(dir);
    free(path);
    free(dir);
}

static void expect_parse_error(const char *path, const char *text, const char *where, const char *what) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    kl_cache r;
    qp_status st = kl_cache_read(path, &r);
    kl_cache_free(&r);
    if (st != QP_ERR_PARSE) fail_msg("'%s': status %d, wanted a parse error", text, (int)st);
    char want[4200];
    snprintf(want, sizeof want, "%s:%s", path, where);
    if (!strstr(qp_error_message(), want) || !strstr(qp_error_message(), what))
        fail_msg("'%s': message '%s' lacks '%s' / '%s'", text, qp_error_message(), want, what);
}

static void test_corrupt_cache_is_reported_with_its_line(void **state) {
    (void)state;
    char *dir = qp_test_mkdtemp();
    char *path = temp_path(dir, "bad.cache");
    expect_parse_error(path, "", "1:", "empty file");
    expect_parse_error(path, "{\"not\": \"a table\"}\n", "1:", "TRT-<version>-<algorithm>");
    expect_parse_error(path, "TRT-8601-EntropyCalibration2 extra\n", "1:", "unexpected text");
    expect_parse_error(path, "TRT-8601-MSECalibration qpipe method=mse bins=2048\n",
                       "1:", "needs method, bins");
    expect_parse_error(path,
                       "TRT-8601-MSECalibration qpipe method=mse bins=x percentile=1 spec=0123456789abcdef\n",
                       "1:", "bins=x");
    expect_parse_error(path, "TRT-8601-EntropyCalibration2\na: 3c010a14\nb 3c010a14\n",
                       "3:", "expected '<tensor>:");
    expect_parse_error(path, "TRT-8601-EntropyCalibration2\na: 3c010a14\nb: zz\n", "3:", "hex");
    expect_parse_error(path, "TRT-8601-EntropyCalibration2\na: 3c010a14 1\n", "2:", "1 or 3");
    expect_parse_error(path, "TRT-8601-EntropyCalibration2\na: 7f800000\n", "2:", "not a finite");
    expect_parse_error(path, "TRT-8601-EntropyCalibration2\na: 3c010a14 40000000 3f800000\n",
                       "2:", "not finite and ordered");
    expect_parse_error(path, "TRT-8601-EntropyCalibration2\na: 3c010a14\n\na: 3c010a14\n",
                       "4:", "first on line 2");
    kl_cache r;
    char *missing = temp_path(dir, "none.cache");
    assert_int_equal(kl_cache_read(missing, &r), QP_ERR_IO);
    kl_cache_free(&r);
    free(missing);
    qp_test_rmtree(dir);
    free(path);
    free(dir);
}

/* ---- the pass on a session ----------------------------------------------------------------------------- */

static void write_idx(const char *path, int n, int h, int w, const unsigned char *pixels) {
    size_t size = 16 + (size_t)n * h * w;
    unsigned char *buf = malloc(size);
    unsigned char header[16] = {0, 0, 8, 3};
    int dims[3] = {n, h, w};
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 4; k++)
            header[4 + 4 * d + k] = (unsigned char)(dims[d] >> (24 - 8 * k));
    memcpy(buf, header, 16);
    memcpy(buf + 16, pixels, (size_t)n * h * w);
    qp_test_write_file(path, buf, size);
    free(buf);
}

typedef struct fixture {
    char *dir;
    char path[4096];
    qp_session *session;
} fixture;

static int T(qp_session *s, const char *name) {
    int t = qp_model_find_tensor(qp_session_model(s), name);
    assert_true(t >= 0);
    return t;
}

/* x[N,1,8,8] -> Conv 1x1 (w = [2, -0.5], b = [0, 1]) -> y -> Relu -> out;
 *               x -> Log -> l (-Inf where a pixel is 0) -> Relu -> lr;  x -> Mul 0 -> z (all zero).
 * 40 images with varied pixels; image 7 holds one bright outlier pixel. */
static void make_fixture(fixture *f, int batch) {
    f->dir = qp_test_mkdtemp();
    snprintf(f->path, sizeof f->path, "%s/images-idx3-ubyte", f->dir);
    enum { N = 40, H = 8, W = 8 };
    unsigned char *pixels = malloc((size_t)N * H * W);
    rng r = {4242};
    for (int i = 0; i < N * H * W; i++) {
        double g = fabs(gaussian(&r)) * 20;
        pixels[i] = (unsigned char)(g > 120 ? 120 : g);
    }
    pixels[7 * H * W + 5] = 255;
    write_idx(f->path, N, H, W, pixels);
    free(pixels);
    qp_graph *g = qp_graph_new();
    g->opsets = calloc(1, sizeof *g->opsets);
    g->opsets[0].domain = strdup("");
    g->opsets[0].version = 13;
    g->n_opsets = 1;
    qp_test_add_input(g, "x", QP_DT_FLOAT, &(qp_shape){.rank = 4, .dims = {-1, 1, H, W}});
    const float w[2] = {2, -0.5f}, b[2] = {0, 1}, zero[1] = {0};
    qp_test_add_initializer(g, "w", &(qp_shape){.rank = 4, .dims = {2, 1, 1, 1}}, w);
    qp_test_add_initializer(g, "b", &(qp_shape){.rank = 1, .dims = {2}}, b);
    qp_test_add_initializer(g, "zero", &(qp_shape){.rank = 1, .dims = {1}}, zero);
    int x = qp_graph_get_or_add_tensor(g, "x");
    int ins[3] = {x, qp_graph_get_or_add_tensor(g, "w"), qp_graph_get_or_add_tensor(g, "b")};
    int y = qp_graph_get_or_add_tensor(g, "y"), out = qp_graph_get_or_add_tensor(g, "out");
    int l = qp_graph_get_or_add_tensor(g, "l"), lr = qp_graph_get_or_add_tensor(g, "lr");
    int z = qp_graph_get_or_add_tensor(g, "z");
    int mul_in[2] = {x, qp_graph_get_or_add_tensor(g, "zero")};
    qp_graph_add_node(g, "conv", "Conv", "", ins, 3, &y, 1);
    qp_graph_add_node(g, "relu", "Relu", "", &y, 1, &out, 1);
    qp_graph_add_node(g, "log", "Log", "", &x, 1, &l, 1);
    qp_graph_add_node(g, "relu2", "Relu", "", &l, 1, &lr, 1);
    qp_graph_add_node(g, "mul", "Mul", "", mul_in, 2, &z, 1);
    qp_test_add_output(g, out);
    qp_test_add_output(g, lr);
    qp_test_add_output(g, z);
    assert_ok(qp_graph_finalize(g));
    assert_ok(qp_session_new(&f->session));
    qp_session_set_verbosity(f->session, QP_LOG_ERROR);
    assert_ok(qp_session_set_graph(f->session, g));
    qp_session_set_run_options(f->session, batch, 1);
    qp_dataset_config cfg;
    qp_dataset_config_init(&cfg);
    cfg.images = f->path;
    assert_ok(qp_preprocess_set(&cfg.preprocess, "color", "GRAY"));
    assert_ok(qp_session_set_calibration(f->session, &cfg));
}

static void free_fixture(fixture *f) {
    qp_session_free(f->session);
    qp_test_rmtree(f->dir);
    free(f->dir);
}

static qp_status run_pass(fixture *f, const char *const *kv, int n_kv) {
    qp_params *params;
    assert_ok(qp_params_new(&calib_kl_passes[0], &params));
    for (int i = 0; i < n_kv; i++)
        assert_ok(qp_params_set(params, kv[2 * i], kv[2 * i + 1], "test"));
    qp_status st = calib_kl_passes[0].run(f->session, params, NULL);
    qp_params_free(params);
    return st;
}

typedef struct snapshot {
    int n;
    float scale[8];
    int32_t zp[8];
    int bits[8], sym[8];
} snapshot;

static const char *const ACTIVATIONS[] = {"x", "y", "out", "l", "lr", "z"};

static void snap(qp_session *s, snapshot *out) {
    memset(out, 0, sizeof *out);
    out->n = 6;
    for (int i = 0; i < 6; i++) {
        const float *scale;
        const int32_t *zp;
        int axis;
        if (qp_session_get_encoding(s, T(s, ACTIVATIONS[i]), &out->bits[i], &out->sym[i], &axis, &scale, &zp,
                                    NULL, NULL) != 1)
            fail_msg("'%s' has no per-tensor encoding", ACTIVATIONS[i]);
        assert_int_equal(axis, -1);
        out->scale[i] = scale[0];
        out->zp[i] = zp[0];
        if (!(isfinite(scale[0]) && scale[0] > 0))
            fail_msg("'%s': scale %g", ACTIVATIONS[i], (double)scale[0]);
    }
}

static void test_pass_sets_sane_encodings(void **state) {
    (void)state;
    const char *methods[] = {"kl", "percentile", "mse"};
    for (int m = 0; m < 3; m++) {
        fixture f;
        make_fixture(&f, 4);
        const char *kv[] = {"method", methods[m]};
        assert_ok(run_pass(&f, kv, 1));
        snapshot e;
        snap(f.session, &e);
        for (int i = 0; i < 6; i++) {
            assert_int_equal(e.bits[i], 8);
            assert_int_equal(e.sym[i], 0);
        }
        /* z is all zero: scale 1; l holds -Inf (log 0), reported and skipped: finite, non-negative range */
        assert_float_equal(e.scale[5], 1.0f, 0);
        assert_int_equal(e.zp[3], 0);
        assert_true(e.scale[3] < 6.0f / 255 * 1.01f); /* log(120) < 4.8, log(255) < 5.6 */
        /* x: pixels 0..120 and one at 255; whatever each method does with the outlier, the range
         * holds the bulk */
        assert_true(e.scale[0] * 255 >= 100.0f && e.scale[0] * 255 <= 256.0f);
        /* y feeds Relu -> out, a graph output: the output head keeps min/max whatever the method */
        const float *ymin, *ymax;
        assert_int_equal(
            qp_session_get_encoding(f.session, T(f.session, "y"), NULL, NULL, NULL, NULL, NULL, &ymin, &ymax),
            1);
        assert_true(ymax[0] >= 2 * 255 * 0.99f && ymin[0] <= 1 - 255 / 2.0f * 0.99f);
        /* weights: min/max per output channel */
        const float *ws;
        int axis;
        assert_int_equal(
            qp_session_get_encoding(f.session, T(f.session, "w"), NULL, NULL, &axis, &ws, NULL, NULL, NULL),
            2);
        assert_int_equal(axis, 0);
        assert_float_equal(ws[0], 2.0f / 127, 1e-9);
        assert_float_equal(ws[1], 0.5f / 127, 1e-9);
        free_fixture(&f);
    }
}

static void test_pass_options(void **state) {
    (void)state;
    fixture f;
    make_fixture(&f, 4);
    const char *kv[] = {"method", "mse", "symmetric", "true", "bits", "6", "weights", "keep"};
    assert_ok(run_pass(&f, kv, 4));
    snapshot e;
    snap(f.session, &e);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(e.bits[i], 6);
        assert_int_equal(e.sym[i], 1);
        assert_int_equal(e.zp[i], 0);
    }
    assert_int_equal(
        qp_session_get_encoding(f.session, T(f.session, "w"), NULL, NULL, NULL, NULL, NULL, NULL, NULL), 0);
    const char *bad[] = {"bits", "1"};
    assert_int_equal(run_pass(&f, bad, 1), QP_ERR_INVALID_ARG);
    free_fixture(&f);
}

/* Batch size, thread count and repeated runs do not change the encodings. */
static void test_pass_is_deterministic(void **state) {
    (void)state;
    snapshot ref = {0};
    const int batches[3] = {1, 4, 7};
    const char *threads[3] = {"1", "2", "3"};
    for (int r = 0; r < 3; r++) {
        fixture f;
        make_fixture(&f, batches[r]);
        const char *kv[] = {"method", "kl", "threads", threads[r], "bins", "512", "sample", "2"};
        assert_ok(run_pass(&f, kv, 4));
        snapshot e;
        snap(f.session, &e);
        if (r == 0)
            ref = e;
        else
            assert_memory_equal(&e, &ref, sizeof e);
        free_fixture(&f);
    }
}

static void test_pass_cache(void **state) {
    (void)state;
    fixture f;
    make_fixture(&f, 4);
    char *cache = temp_path(f.dir, "calib.cache");
    const char *kv[] = {"method", "kl", "cache", cache};
    assert_ok(run_pass(&f, kv, 2));
    assert_true(qp_test_file_exists(cache));
    snapshot first;
    snap(f.session, &first);
    char *text = read_all(cache);
    /* activations uint8 asymmetric: qpipe's header tail, and min/max on each line */
    assert_non_null(strstr(text, "TRT-8601-EntropyCalibration2 qpipe method=kl bins=2048 "));
    assert_non_null(strstr(text, "\nout: "));
    free(text);

    /* Without calibration images the pass can only succeed from the cache: no forward passes. */
    assert_ok(qp_session_set_calibration(f.session, NULL));
    for (int i = 0; i < 6; i++)
        qp_session_clear_encoding(f.session, T(f.session, ACTIVATIONS[i]));
    assert_ok(run_pass(&f, kv, 2));
    snapshot second;
    snap(f.session, &second);
    assert_memory_equal(&first, &second, sizeof first);

    /* Another method does not fit the table: it recalibrates, which needs the images. */
    const char *mse[] = {"method", "mse", "cache", cache};
    assert_int_equal(run_pass(&f, mse, 2), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "calibration images"));
    /* so do other bit-widths */
    const char *bits[] = {"method", "kl", "cache", cache, "bits", "7"};
    assert_int_equal(run_pass(&f, bits, 3), QP_ERR_INVALID_ARG);

    /* A corrupt table is an error naming the file and line, not a silent recalibration. */
    FILE *fp = fopen(cache, "a");
    fputs("broken line\n", fp);
    fclose(fp);
    assert_int_equal(run_pass(&f, kv, 2), QP_ERR_PARSE);
    assert_non_null(strstr(qp_error_message(), cache));
    assert_non_null(strstr(qp_error_message(), ":8:"));
    free(cache);
    free_fixture(&f);
}

static void test_pass_writes_tensorrt_table(void **state) {
    (void)state;
    fixture f;
    make_fixture(&f, 4);
    /* int8 symmetric activations and kl with 2048 bins: exactly TensorRT's table */
    qp_quant_config q;
    qp_quant_config_init(&q);
    q.activations.symmetric = 1;
    assert_ok(qp_session_set_quant_config(f.session, &q));
    char *cache = temp_path(f.dir, "trt.cache");
    const char *kv[] = {"cache", cache};
    assert_ok(run_pass(&f, kv, 1));
    char *text = read_all(cache);
    assert_true(strncmp(text, "TRT-8601-EntropyCalibration2\n", 29) == 0);
    /* name: 8 hex digits, nothing else */
    const char *line = strstr(text, "\ny: ");
    assert_non_null(line);
    line += 4;
    for (int i = 0; i < 8; i++)
        assert_non_null(strchr("0123456789abcdef", line[i]));
    assert_int_equal(line[8], '\n');
    free(text);
    snapshot first;
    snap(f.session, &first);
    assert_ok(qp_session_set_calibration(f.session, NULL));
    assert_ok(run_pass(&f, kv, 1));
    snapshot second;
    snap(f.session, &second);
    assert_memory_equal(&first, &second, sizeof first);
    /* A TensorRT table missing one of our activations does not fit: recalibration (needs images) */
    FILE *fp = fopen(cache, "w");
    fputs("TRT-8601-EntropyCalibration2\nx: 3c010a14\n", fp);
    fclose(fp);
    assert_int_equal(run_pass(&f, kv, 1), QP_ERR_INVALID_ARG);
    free(cache);
    free_fixture(&f);
}

static void test_built_plugin_loads(void **state) {
    (void)state;
    const char *path = QP_BINARY_DIR "/plugins/calib_kl.so";
    if (!qp_test_file_exists(path)) fail_msg("%s was not built", path);
    qp_registry *reg;
    assert_ok(qp_registry_new(&reg));
    assert_ok(qp_registry_load_file(reg, path));
    const char *origin;
    const qp_pass_def *def = qp_registry_find(reg, "calib_kl", &origin);
    assert_non_null(def);
    assert_int_equal(def->n_params, (int)(sizeof calib_kl_params / sizeof calib_kl_params[0]));
    qp_params *params;
    assert_ok(qp_params_new(def, &params));
    assert_int_equal(qp_params_set(params, "bins", "100", "x.yaml:3:4"), QP_ERR_INVALID_ARG);
    assert_non_null(strstr(qp_error_message(), "x.yaml:3:4"));
    assert_int_equal(qp_params_set(params, "method", "kll", "x.yaml:3:4"), QP_ERR_INVALID_ARG);
    assert_int_equal(qp_params_int(params, "bins"), 2048);
    assert_string_equal(qp_params_string(params, "method"), "kl");
    assert_float_equal(qp_params_float(params, "percentile"), 99.99, 1e-12);
    qp_params_free(params);
    qp_registry_free(reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth_is_exact),
        cmocka_unit_test(test_nan_and_inf_are_counted_and_skipped),
        cmocka_unit_test(test_sampling_is_deterministic_and_split_independent),
        cmocka_unit_test(test_kl_matches_reference),
        cmocka_unit_test(test_kl_2d_is_a_reference_local_minimum),
        cmocka_unit_test(test_kl_behaves),
        cmocka_unit_test(test_percentile_matches_sorted_samples),
        cmocka_unit_test(test_mse_matches_brute_force),
        cmocka_unit_test(test_all_bit_widths_and_modes),
        cmocka_unit_test(test_degenerate_tensors),
        cmocka_unit_test(test_same_data_same_ranges),
        cmocka_unit_test(test_cache_round_trip),
        cmocka_unit_test(test_corrupt_cache_is_reported_with_its_line),
        cmocka_unit_test(test_pass_sets_sane_encodings),
        cmocka_unit_test(test_pass_options),
        cmocka_unit_test(test_pass_is_deterministic),
        cmocka_unit_test(test_pass_cache),
        cmocka_unit_test(test_pass_writes_tensorrt_table),
        cmocka_unit_test(test_built_plugin_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
