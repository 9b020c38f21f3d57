/* kl_hist.c — calib_kl's session-free math: exact streaming histograms and the kl, percentile and mse range searches. */
#include "kl_hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

void kl_hist_init(kl_hist *h, int bins) {
    memset(h, 0, sizeof *h);
    h->bins = bins;
    h->min = INFINITY;
    h->max = -INFINITY;
}

void kl_hist_free(kl_hist *h) {
    free(h->counts);
    h->counts = NULL;
}

double kl_hist_width(const kl_hist *h) {
    return h->has_width ? ldexp(1.0, h->exp) : 0.0;
}

double kl_hist_amax(const kl_hist *h) {
    if (!h->finite) return 0.0;
    return fmax(fabs((double)h->min), fabs((double)h->max));
}

/* Smallest exponent e >= KL_MIN_EXP with bins * 2^e > amax. */
static int width_exp_for(int bins, double amax) {
    int e;
    frexp(amax / bins, &e); /* amax / bins < 2^e */
    if (e < KL_MIN_EXP) e = KL_MIN_EXP;
    while (ldexp((double)bins, e) <= amax)
        e++;
    while (e > KL_MIN_EXP && ldexp((double)bins, e - 1) > amax)
        e--;
    return e;
}

/* Makes bins * w > amax: sets the first width, or doubles it d times merging 2^d bins into one
 * (bin j moves to j >> d on each side; targets are at or below j, so one ascending sweep works). */
static int ensure_width(kl_hist *h, double amax) {
    int B = h->bins;
    if (!h->has_width) {
        uint64_t *c = calloc((size_t)2 * (size_t)B, sizeof *c);
        if (!c) return -1;
        h->counts = c;
        h->exp = width_exp_for(B, amax);
        h->has_width = 1;
        c[B] += h->zeros; /* zeros seen before any non-zero value: bin 0 at any width */
        return 0;
    }
    if (ldexp((double)B, h->exp) > amax) return 0;
    int e = width_exp_for(B, amax);
    int d = e - h->exp;
    int shift = d > 30 ? 30 : d; /* B <= 2^16: beyond 16 doublings everything is in bin 0 */
    uint64_t *c = h->counts;
    for (int j = 1; j < B; j++) {
        int to = j >> shift;
        if (to == j) continue;
        c[B + to] += c[B + j];
        c[B + j] = 0;
        c[B - 1 - to] += c[B - 1 - j];
        c[B - 1 - j] = 0;
    }
    h->exp = e;
    return 0;
}

/* ---- binning ------------------------------------------------------------------------------------------- */

#define KL_BLOCK 512  /* values (or sampling groups) indexed at a time */
#define KL_CHUNK 8192 /* values scanned then binned while they sit in L1: one pass over memory */

/* Bin indices of m values x[0], x[stride], ... known to be finite with |x| < bins * w (a loop
 * the compiler vectorises for stride 1); returns how many are exactly zero. */
static int64_t index_block(const float *x, int64_t stride, int m, int B, float inv, int32_t *idx) {
    int64_t zeros = 0;
    if (stride == 1) {
        for (int i = 0; i < m; i++) {
            float v = x[i];
            int32_t j = (int32_t)(fabsf(v) * inv); /* inv is a power of two: exact */
            int32_t neg = -(int32_t)(v < 0);       /* -1 for negatives: B + ~j = B - 1 - j */
            idx[i] = B + (j ^ neg);
            zeros += v == 0;
        }
        return zeros;
    }
    for (int i = 0; i < m; i++) {
        float v = x[(int64_t)i * stride];
        int32_t j = (int32_t)(fabsf(v) * inv);
        int32_t neg = -(int32_t)(v < 0);
        idx[i] = B + (j ^ neg);
        zeros += v == 0;
    }
    return zeros;
}

static uint64_t mix64(uint64_t z) { /* splitmix64's finaliser */
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int64_t sample_every(const kl_sample *smp) {
    return smp && smp->every > 1 ? smp->every : 1;
}

/* The sampled values of block b (global positions [b * span, (b + 1) * span)) that fall in the
 * segment x[0 .. len) whose first value is at global position pos: KL_BLOCK groups of `every`
 * values, one offset per block drawn from the key and b. Without sampling a block is 512 values. */
typedef struct kl_run {
    const float *start;
    int64_t stride;
    int m;
} kl_run;

static void block_run(const float *x, int64_t pos, int64_t len, const kl_sample *smp, int64_t b,
                      kl_run *run) {
    const int64_t every = sample_every(smp), span = KL_BLOCK * every;
    int64_t p0 =
        b * span + (every > 1 ? (int64_t)(mix64(smp->key ^ mix64((uint64_t)b)) % (uint64_t)every) : 0);
    int64_t k_lo = p0 >= pos ? 0 : (pos - p0 + every - 1) / every;
    int64_t k_hi = pos + len <= p0 ? 0 : (pos + len - p0 + every - 1) / every;
    if (k_hi > KL_BLOCK) k_hi = KL_BLOCK;
    run->stride = every;
    run->m = k_hi > k_lo ? (int)(k_hi - k_lo) : 0;
    run->start = run->m ? x + (p0 + k_lo * every - pos) : x; /* never a pointer past the segment */
}

#define KL_FOR_BLOCKS(b, pos, len, smp)                                                                      \
    for (int64_t b = (pos) / (KL_BLOCK * sample_every(smp));                                                 \
         b * KL_BLOCK * sample_every(smp) < (pos) + (len); b++)

/* Bins x[0 .. len) (finite, |x| < bins * w; x[0] at global position pos) into four interleaved
 * 32-bit copies, so runs of equal values (ReLU zeros, saturated pixels) do not serialise on one
 * counter. Returns the zeros among the binned values. */
static int64_t bin_scratch(const kl_hist *h, const float *x, int64_t len, const kl_sample *smp, int64_t pos,
                           uint32_t *scratch) {
    const int B = h->bins;
    const float inv = ldexpf(1.0f, -h->exp);
    uint32_t *c0 = scratch, *c1 = scratch + 2 * B, *c2 = scratch + 4 * B, *c3 = scratch + 6 * B;
    int32_t idx[KL_BLOCK];
    int64_t zeros = 0;
    KL_FOR_BLOCKS(b, pos, len, smp) {
        kl_run r;
        block_run(x, pos, len, smp, b, &r);
        zeros += index_block(r.start, r.stride, r.m, B, inv, idx);
        int i = 0;
        for (; i + 4 <= r.m; i += 4) {
            c0[idx[i]]++;
            c1[idx[i + 1]]++;
            c2[idx[i + 2]]++;
            c3[idx[i + 3]]++;
        }
        for (; i < r.m; i++)
            c0[idx[i]]++;
    }
    return zeros;
}

/* The same straight into the 64-bit counts, skipping NaN/Inf when `checked` (the serial path). */
static void bin_direct(kl_hist *h, const float *x, int64_t len, const kl_sample *smp, int64_t pos,
                       int checked) {
    const int B = h->bins;
    const float inv = ldexpf(1.0f, -h->exp);
    int32_t idx[KL_BLOCK];
    KL_FOR_BLOCKS(b, pos, len, smp) {
        kl_run r;
        block_run(x, pos, len, smp, b, &r);
        if (checked) {
            for (int i = 0; i < r.m; i++) {
                float v = r.start[(int64_t)i * r.stride];
                if (!isfinite(v)) continue;
                h->zeros += (uint64_t)index_block(&v, 1, 1, B, inv, idx);
                h->counts[idx[0]]++;
            }
            continue;
        }
        h->zeros += (uint64_t)index_block(r.start, r.stride, r.m, B, inv, idx);
        for (int i = 0; i < r.m; i++)
            h->counts[idx[i]]++;
    }
}

/* How many values of x[0 .. len) sampling keeps (and, when `finite_only`, are finite). */
static uint64_t sampled_count(const float *x, int64_t len, const kl_sample *smp, int64_t pos,
                              int finite_only) {
    uint64_t count = 0;
    KL_FOR_BLOCKS(b, pos, len, smp) {
        kl_run r;
        block_run(x, pos, len, smp, b, &r);
        if (!finite_only)
            count += (uint64_t)r.m;
        else
            for (int i = 0; i < r.m; i++)
                count += isfinite(r.start[(int64_t)i * r.stride]) != 0;
    }
    return count;
}

/* Min and max of x skipping NaN (Inf included), and the NaN count. The compiler does not
 * vectorise a NaN-aware reduction by itself; SSE2's min/max keep their second operand when the
 * first is NaN, which is exactly the skip we want. */
static int64_t scan(const float *x, int64_t n, float *mn_out, float *mx_out) {
    float mn = INFINITY, mx = -INFINITY;
    int64_t nans = 0, i = 0;
#if defined(__SSE2__)
    __m128 vmn0 = _mm_set1_ps(INFINITY), vmx0 = _mm_set1_ps(-INFINITY), vmn1 = vmn0, vmx1 = vmx0;
    while (n - i >= 8) {
        int64_t end = i + ((n - i) / 8) * 8;
        if (end - i > ((int64_t)1 << 30)) end = i + ((int64_t)1 << 30); /* lane counters stay in int32 */
        __m128i vnan = _mm_setzero_si128();
        for (; i < end; i += 8) {
            __m128 a = _mm_loadu_ps(x + i), b = _mm_loadu_ps(x + i + 4);
            vmn0 = _mm_min_ps(a, vmn0);
            vmx0 = _mm_max_ps(a, vmx0);
            vmn1 = _mm_min_ps(b, vmn1);
            vmx1 = _mm_max_ps(b, vmx1);
            vnan = _mm_sub_epi32(vnan, _mm_castps_si128(_mm_cmpunord_ps(a, a)));
            vnan = _mm_sub_epi32(vnan, _mm_castps_si128(_mm_cmpunord_ps(b, b)));
        }
        int32_t lanes[4];
        _mm_storeu_si128((__m128i *)lanes, vnan);
        nans += (int64_t)lanes[0] + lanes[1] + lanes[2] + lanes[3];
    }
    float lmn[4], lmx[4];
    _mm_storeu_ps(lmn, _mm_min_ps(vmn0, vmn1));
    _mm_storeu_ps(lmx, _mm_max_ps(vmx0, vmx1));
    for (int k = 0; k < 4; k++) {
        mn = lmn[k] < mn ? lmn[k] : mn;
        mx = lmx[k] > mx ? lmx[k] : mx;
    }
#endif
    for (; i < n; i++) {
        float v = x[i];
        mn = v < mn ? v : mn; /* NaN compares false, so it never becomes min or max */
        mx = v > mx ? v : mx;
        nans += v != v;
    }
    *mn_out = mn;
    *mx_out = mx;
    return nans;
}

/* One chunk (x[0] at global position pos), serially: scan, grow the width as needed, bin. NaN/Inf
 * are counted and skipped. */
static int add_chunk(kl_hist *h, const float *x, int64_t len, const kl_sample *smp, int64_t pos) {
    if (len <= 0) return 0;
    float mn, mx;
    int64_t nans = scan(x, len, &mn, &mx);
    int clean = nans == 0 && isfinite(mn) && isfinite(mx);
    int64_t finite = len;
    if (!clean) {
        finite = 0;
        mn = INFINITY;
        mx = -INFINITY;
        for (int64_t i = 0; i < len; i++) {
            float v = x[i];
            if (!isfinite(v)) continue;
            finite++;
            mn = v < mn ? v : mn;
            mx = v > mx ? v : mx;
        }
    }
    if (finite > 0) {
        double amax = fmax(fabs((double)mn), fabs((double)mx));
        if (amax > 0 && ensure_width(h, amax) != 0) return -1;
        if (h->has_width)
            bin_direct(h, x, len, smp, pos, !clean);
        else
            h->zeros +=
                sampled_count(x, len, smp, pos, !clean); /* all zero, no width yet: bin 0 at any width */
        h->min = mn < h->min ? mn : h->min;
        h->max = mx > h->max ? mx : h->max;
    }
    h->finite += (uint64_t)finite;
    h->nonfinite += (uint64_t)(len - finite);
    return 0;
}

int kl_part_init(kl_part *p, int bins) {
    memset(p, 0, sizeof *p);
    p->min = INFINITY;
    p->max = -INFINITY;
    p->scratch = calloc(KL_SCRATCH_SIZE(bins), sizeof *p->scratch);
    return p->scratch ? 0 : -1;
}

void kl_part_free(kl_part *p) {
    free(p->scratch);
    free(p->deferred);
    memset(p, 0, sizeof *p);
}

int kl_hist_bin_chunks(const kl_hist *h, const float *x, int64_t n, const kl_sample *smp, int64_t c0,
                       int64_t c1, kl_part *p) {
    const double limit = h->has_width ? ldexp((double)h->bins, h->exp) : 0.0;
    const int64_t origin = smp ? smp->origin : 0;
    for (int64_t c = c0; c < c1; c++) {
        int64_t start = c * KL_CHUNK, len = n - start < KL_CHUNK ? n - start : KL_CHUNK;
        if (len <= 0) break;
        float mn, mx;
        int64_t nans = scan(x + start, len, &mn, &mx);
        if (nans == 0 && fmax(fabs((double)mn), fabs((double)mx)) < limit) { /* Inf fails this too */
            p->zeros += (uint64_t)bin_scratch(h, x + start, len, smp, origin + start, p->scratch);
            p->finite += (uint64_t)len;
            p->min = mn < p->min ? mn : p->min;
            p->max = mx > p->max ? mx : p->max;
            continue;
        }
        if (p->n_deferred == p->cap_deferred) {
            int cap = p->cap_deferred ? 2 * p->cap_deferred : 16;
            int64_t *grown = realloc(p->deferred, (size_t)cap * sizeof *grown);
            if (!grown) return -1;
            p->deferred = grown;
            p->cap_deferred = cap;
        }
        p->deferred[p->n_deferred++] = c;
    }
    return 0;
}

void kl_hist_fold_part(kl_hist *h, kl_part *p) {
    if (p->finite) {
        const int B = h->bins;
        uint32_t *s = p->scratch;
        const uint32_t *c0 = s, *c1 = s + 2 * B, *c2 = s + 4 * B, *c3 = s + 6 * B;
        for (int k = 0; k < 2 * B; k++)
            h->counts[k] += (uint64_t)c0[k] + c1[k] + c2[k] + c3[k];
        memset(s, 0, KL_SCRATCH_SIZE(B) * sizeof *s);
        h->zeros += p->zeros;
        h->finite += p->finite;
        h->min = p->min < h->min ? p->min : h->min;
        h->max = p->max > h->max ? p->max : h->max;
    }
    p->zeros = p->finite = 0;
    p->min = INFINITY;
    p->max = -INFINITY;
}

int kl_hist_finish_part(kl_hist *h, const float *x, int64_t n, const kl_sample *smp, kl_part *p) {
    const int64_t origin = smp ? smp->origin : 0;
    int rc = 0;
    for (int i = 0; i < p->n_deferred && rc == 0; i++) {
        int64_t start = p->deferred[i] * KL_CHUNK, len = n - start < KL_CHUNK ? n - start : KL_CHUNK;
        rc = add_chunk(h, x + start, len, smp, origin + start);
    }
    p->n_deferred = 0;
    return rc;
}

int kl_hist_chunks(int64_t n) {
    return (int)((n + KL_CHUNK - 1) / KL_CHUNK);
}

int kl_hist_add_sampled(kl_hist *h, const float *x, int64_t n, const kl_sample *smp) {
    if (n <= 0) return 0;
    const int64_t origin = smp ? smp->origin : 0, chunks = (n + KL_CHUNK - 1) / KL_CHUNK;
    kl_part part;
    if (n >= KL_SPLIT_MIN && h->has_width && kl_part_init(&part, h->bins) == 0) {
        int rc = kl_hist_bin_chunks(h, x, n, smp, 0, chunks, &part);
        kl_hist_fold_part(h, &part);
        if (rc == 0) rc = kl_hist_finish_part(h, x, n, smp, &part);
        kl_part_free(&part);
        return rc;
    }
    for (int64_t c = 0; c < chunks; c++) {
        int64_t start = c * KL_CHUNK, len = n - start < KL_CHUNK ? n - start : KL_CHUNK;
        if (add_chunk(h, x + start, len, smp, origin + start) != 0) return -1;
    }
    return 0;
}

int kl_hist_add(kl_hist *h, const float *x, int64_t n) {
    return kl_hist_add_sampled(h, x, n, NULL);
}

int kl_hist_abs(const kl_hist *h, uint64_t *abs) {
    const int B = h->bins;
    if (!h->has_width) {
        memset(abs, 0, (size_t)B * sizeof *abs);
        abs[0] = h->zeros;
        return h->zeros ? 1 : 0;
    }
    int used = 0;
    for (int j = 0; j < B; j++) {
        abs[j] = h->counts[B + j] + h->counts[B - 1 - j];
        if (abs[j]) used = j + 1;
    }
    return used;
}

/* ---- kl ------------------------------------------------------------------------------------------ */

#define KL_Q_FLOOR 1e-10

/* Prefix sums over a count array make each KL candidate O(levels): within a group Q is one value
 * q on the bins where P > 0, so the group contributes sum h ln h - S ln N - S ln q (over N). */
typedef struct kl_prefix {
    const uint64_t *a;
    int n;
    double *H, *HL; /* sum of h, of h ln h, over bins < k */
    int *NZ;        /* non-empty bins < k */
    double total, log_total;
} kl_prefix;

static void prefix_free(kl_prefix *p) {
    free(p->H);
    free(p->HL);
    free(p->NZ);
}

static int prefix_make(kl_prefix *p, const uint64_t *a, int n) {
    p->a = a;
    p->n = n;
    p->H = malloc((size_t)(n + 1) * sizeof *p->H);
    p->HL = malloc((size_t)(n + 1) * sizeof *p->HL);
    p->NZ = malloc((size_t)(n + 1) * sizeof *p->NZ);
    if (!p->H || !p->HL || !p->NZ) {
        prefix_free(p);
        return -1;
    }
    p->H[0] = p->HL[0] = 0;
    p->NZ[0] = 0;
    for (int k = 0; k < n; k++) {
        double h = (double)a[k];
        p->H[k + 1] = p->H[k] + h;
        p->HL[k + 1] = p->HL[k] + (h > 0 ? h * log(h) : 0.0);
        p->NZ[k + 1] = p->NZ[k] + (a[k] > 0);
    }
    p->total = p->H[n];
    p->log_total = p->total > 0 ? log(p->total) : 0.0;
    return 0;
}

/* KL(P || Q) for the range of bins [lo, hi) (hi - lo >= levels >= 2): the values below lo are
 * added to P's first bin, those from hi on to its last; Q quantises the bins themselves (no
 * outliers) into `levels` groups. INFINITY when no mass lies inside. */
static double kl_candidate(const kl_prefix *p, int lo, int hi, int levels) {
    const double *H = p->H, *HL = p->HL;
    const int *NZ = p->NZ;
    const double T = H[hi] - H[lo], left = H[lo], right = p->total - H[hi];
    if (T <= 0) return INFINITY;
    const double log_floor = log(KL_Q_FLOOR);
    const double first = (double)p->a[lo] + left, last = (double)p->a[hi - 1] + right;
    const int width = hi - lo;
    double sum = 0;
    for (int g = 0; g < levels; g++) {
        int g0 = lo + (int)((int64_t)g * width / levels), g1 = lo + (int)((int64_t)(g + 1) * width / levels);
        int has_first = g == 0, has_last = g == levels - 1;
        int in0 = g0 + has_first, in1 = g1 - has_last; /* the bins without outliers */
        double S = H[g1] - H[g0];
        int nz = NZ[in1] - NZ[in0] + (has_first && first > 0) + (has_last && last > 0);
        if (nz == 0) continue;
        double lq = S > 0 ? log(S / ((double)nz * T)) : log_floor;
        if (lq < log_floor) lq = log_floor;
        double inner = H[in1] - H[in0];
        sum += (HL[in1] - HL[in0]) - inner * (p->log_total + lq);
        if (has_first && first > 0) sum += first * (log(first) - p->log_total - lq);
        if (has_last && last > 0) sum += last * (log(last) - p->log_total - lq);
    }
    return sum / p->total;
}

int kl_entropy_search(const uint64_t *a, int n, int levels, double *kl) {
    int first = 0;
    while (first < n && !a[first])
        first++;
    int start = first + levels > levels ? first + levels : levels;
    if (kl)
        for (int i = levels; i <= n && i < start; i++)
            kl[i - levels] = INFINITY;
    if (n < start || levels < 2) return n;
    kl_prefix p;
    if (prefix_make(&p, a, n) != 0) return -1;
    int best = n;
    double best_kl = INFINITY;
    for (int i = start; i <= n; i++) {
        double d = kl_candidate(&p, 0, i, levels);
        if (kl) kl[i - levels] = d;
        if (d < best_kl) {
            best_kl = d;
            best = i;
        }
    }
    prefix_free(&p);
    return best;
}

/* The best end of a range by coarse-to-fine search: candidates [from, to] (the moving end) at a
 * stride giving at most 256 of them, then every candidate within a stride of the best. */
static void best_end(const kl_prefix *p, int moving_hi, int fixed, int from, int to, int levels, int *best,
                     double *best_kl) {
    int stride = (to - from) / 256 + 1, coarse = *best;
    for (int pass = 0; pass < 2; pass++) {
        int a = pass ? coarse - stride + 1 : from, b = pass ? coarse + stride - 1 : to,
            step = pass ? 1 : stride;
        if (a < from) a = from;
        if (b > to) b = to;
        for (int c = a; c <= b; c += step) {
            double d = moving_hi ? kl_candidate(p, fixed, c, levels) : kl_candidate(p, c, fixed, levels);
            if (d < *best_kl) {
                *best_kl = d;
                *best = c;
            }
        }
        coarse = *best;
        if (stride == 1) break;
    }
}

int kl_entropy_search_2d(const uint64_t *a, int n, int levels, int *lo, int *hi) {
    int first = 0, end = n;
    while (first < n && !a[first])
        first++;
    while (end > first && !a[end - 1])
        end--;
    *lo = first;
    *hi = end;
    if (end - first <= levels || levels < 2) return 0;
    kl_prefix p;
    if (prefix_make(&p, a, n) != 0) return -1;
    double best_kl = kl_candidate(&p, *lo, *hi, levels);
    for (int sweep = 0; sweep < 4; sweep++) {
        int was_lo = *lo, was_hi = *hi;
        best_end(&p, 1, *lo, *lo + levels, end, levels, hi, &best_kl);   /* the upper end, lower fixed */
        best_end(&p, 0, *hi, first, *hi - levels, levels, lo, &best_kl); /* the lower end, upper fixed */
        if (*lo == was_lo && *hi == was_hi) break;
    }
    prefix_free(&p);
    return 0;
}

/* ---- percentile ------------------------------------------------------------------------------------ */

double kl_quantile(const uint64_t *counts, int n, double origin, double w, double q) {
    double total = 0;
    for (int k = 0; k < n; k++)
        total += (double)counts[k];
    if (total <= 0) return origin;
    double r = q * total, cum = 0;
    int last = -1;
    for (int k = 0; k < n; k++) {
        if (!counts[k]) continue;
        last = k;
        double c = (double)counts[k];
        if (cum + c >= r) {
            double f = (r - cum) / c;
            if (f < 0) f = 0;
            return origin + w * ((double)k + f);
        }
        cum += c;
    }
    return origin + w * (double)(last + 1);
}

/* ---- mse ------------------------------------------------------------------------------------------- */

/* Suffix sums over bins k >= j of the non-zero values: count, sum of centres, sum of squared centres. */
typedef struct suffix {
    double *c0, *c1, *c2;
} suffix;

static int suffix_make(suffix *s, const uint64_t *a, int n, double w, uint64_t zeros) {
    s->c0 = malloc((size_t)(n + 1) * sizeof(double));
    s->c1 = malloc((size_t)(n + 1) * sizeof(double));
    s->c2 = malloc((size_t)(n + 1) * sizeof(double));
    if (!s->c0 || !s->c1 || !s->c2) return -1;
    s->c0[n] = s->c1[n] = s->c2[n] = 0;
    for (int k = n - 1; k >= 0; k--) {
        double h = (double)a[k] - (k == 0 ? (double)zeros : 0.0), c = ((double)k + 0.5) * w;
        s->c0[k] = s->c0[k + 1] + h;
        s->c1[k] = s->c1[k + 1] + h * c;
        s->c2[k] = s->c2[k + 1] + h * c * c;
    }
    return 0;
}

static void suffix_free(suffix *s) {
    free(s->c0);
    free(s->c1);
    free(s->c2);
}

/* Clipping error of the values in bins >= j, clipped to t: (c - t)^2 plus the spread of a value
 * inside its bin, w^2 / 12. */
static double suffix_clip(const suffix *s, int j, double t, double w) {
    double e = s->c2[j] - 2 * t * s->c1[j] + t * t * s->c0[j] + s->c0[j] * w * w / 12;
    return e > 0 ? e : 0;
}

static double nonzero_count(const uint64_t *a, int n, uint64_t zeros) {
    double s = 0;
    for (int k = 0; k < n; k++)
        s += (double)a[k];
    return s - (double)zeros;
}

double kl_mse_symmetric(const uint64_t *a, int n, double w, uint64_t zeros, double amax, double qmax) {
    suffix sf = {0};
    if (n < 1 || suffix_make(&sf, a, n, w, zeros) != 0) {
        suffix_free(&sf);
        return amax;
    }
    const double nz = sf.c0[0];
    double best_t = amax, s = amax / qmax;
    double best = nz * s * s / 12; /* no clipping */
    for (int j = 1; j < n; j++) {
        double t = (double)j * w;
        if (t >= amax) break;
        s = t / qmax;
        double cost = suffix_clip(&sf, j, t, w) + (nz - sf.c0[j]) * s * s / 12;
        if (cost < best) {
            best = cost;
            best_t = t;
        }
    }
    suffix_free(&sf);
    return best_t;
}

#define KL_MSE_MAX_CANDIDATES 1024

/* Candidate thresholds of one side: bin edges j w (strided to at most KL_MSE_MAX_CANDIDATES) and
 * the extreme itself; their clipping errors and clipped counts. Returns the count, -1 on OOM. */
static int side_candidates(const uint64_t *a, int n, double w, uint64_t zeros, double extreme, double **val,
                           double **err, double **clipped) {
    int stride = n > KL_MSE_MAX_CANDIDATES ? (n + KL_MSE_MAX_CANDIDATES - 1) / KL_MSE_MAX_CANDIDATES : 1;
    int cap = n / stride + 2;
    *val = malloc((size_t)cap * sizeof(double));
    *err = malloc((size_t)cap * sizeof(double));
    *clipped = malloc((size_t)cap * sizeof(double));
    suffix sf = {0};
    if (!*val || !*err || !*clipped || (n > 0 && suffix_make(&sf, a, n, w, zeros) != 0)) {
        suffix_free(&sf);
        return -1;
    }
    int m = 0;
    for (int j = 0; j < n; j += stride) {
        double t = (double)j * w;
        if (j > 0 && t >= extreme) break;
        (*val)[m] = t;
        (*err)[m] = suffix_clip(&sf, j, t, w);
        (*clipped)[m] = sf.c0[j];
        m++;
    }
    if (extreme > 0 || m == 0) {
        (*val)[m] = extreme > 0 ? extreme : 0;
        (*err)[m] = 0;
        (*clipped)[m] = 0;
        m++;
    }
    suffix_free(&sf);
    return m;
}

int kl_mse_asymmetric(const uint64_t *pos, int np, const uint64_t *neg, int nn, double w, uint64_t zeros,
                      double min, double max, double steps, double *lo, double *hi) {
    double *pv = NULL, *pe = NULL, *pc = NULL, *nv = NULL, *ne = NULL, *nc = NULL;
    int mp = side_candidates(pos, np, w, zeros, max > 0 ? max : 0, &pv, &pe, &pc);
    int mn = mp < 0 ? -1 : side_candidates(neg, nn, w, 0, min < 0 ? -min : 0, &nv, &ne, &nc);
    int rc = 0;
    if (mp < 0 || mn < 0) {
        rc = -1;
    } else {
        double nz = nonzero_count(pos, np, zeros) + nonzero_count(neg, nn, 0);
        double best = INFINITY;
        *lo = min < 0 ? min : 0;
        *hi = max > 0 ? max : 0;
        for (int a = 0; a < mn; a++)
            for (int c = 0; c < mp; c++) {
                double span = pv[c] + nv[a];
                if (!(span > 0)) continue;
                double s = span / steps;
                double cost = ne[a] + pe[c] + (nz - nc[a] - pc[c]) * s * s / 12;
                if (cost < best) {
                    best = cost;
                    *lo = -nv[a];
                    *hi = pv[c];
                }
            }
    }
    free(pv);
    free(pe);
    free(pc);
    free(nv);
    free(ne);
    free(nc);
    return rc;
}

/* ---- a tensor's range ---------------------------------------------------------------------------------- */

int kl_hist_range(const kl_hist *h, const kl_settings *s, float *lo_out, float *hi_out) {
    const double qmax = (double)((1u << (s->bits - 1)) - 1), steps = (double)((1u << s->bits) - 1);
    if (!h->has_width) { /* no finite value, or only zeros */
        *lo_out = s->symmetric ? (float)-qmax : 0.0f;
        *hi_out = (float)(s->symmetric ? qmax : steps);
        return KL_RANGE_DEGENERATE;
    }
    if (h->min == h->max) { /* a constant: represented exactly (the searches' uniform-rounding model
                             * would trade a sliver of clipping for rounding error it does not have) */
        double c = h->min, a = fabs(c);
        *lo_out = (float)(s->symmetric ? -a : fmin(c, 0.0));
        *hi_out = (float)(s->symmetric ? a : fmax(c, 0.0));
        return KL_RANGE_OK;
    }
    const int B = h->bins;
    const double w = kl_hist_width(h), amax = kl_hist_amax(h), mn = h->min, mx = h->max;
    const int nonneg = mn >= 0, nonpos = mx <= 0, one_sided = !s->symmetric && (nonneg || nonpos);
    uint64_t *abs = malloc((size_t)B * sizeof *abs);
    if (!abs) return KL_RANGE_NOMEM;
    int n = kl_hist_abs(h, abs);
    double lo = 0, hi = 0, t = amax;
    int rc = KL_RANGE_OK;
    switch (s->method) {
    case KL_METHOD_KL:
        /* Exact zeros are left out: every candidate represents them exactly, and ReLU's spike at 0
         * would otherwise dominate the divergence and drag the threshold down (NVIDIA's
         * pytorch-quantization flattens the same spike by setting bin 0 to bin 1's count). */
        if (s->symmetric || one_sided) {
            /* |x| histogram as TensorRT; a one-sided tensor under an unsigned encoding gets all 2^b levels.
             */
            abs[0] -= h->zeros;
            int i = kl_entropy_search(abs, n, s->symmetric ? (int)(qmax + 1) : (int)(steps + 1), NULL);
            if (i < 0)
                rc = KL_RANGE_NOMEM;
            else
                t = fmin((double)i * w, amax);
        } else {
            uint64_t *signed_counts = malloc((size_t)2 * (size_t)B * sizeof *signed_counts);
            int a, i;
            if (!signed_counts) {
                rc = KL_RANGE_NOMEM;
                break;
            }
            memcpy(signed_counts, h->counts, (size_t)2 * (size_t)B * sizeof *signed_counts);
            signed_counts[B] -= h->zeros;
            if (kl_entropy_search_2d(signed_counts, 2 * B, (int)(steps + 1), &a, &i) != 0) {
                rc = KL_RANGE_NOMEM;
            } else {
                lo = fmax((double)(a - B) * w, mn);
                hi = fmin((double)(i - B) * w, mx);
            }
            free(signed_counts);
        }
        break;
    case KL_METHOD_PERCENTILE:
        if (s->symmetric || one_sided) {
            t = fmin(kl_quantile(abs, n, 0.0, w, s->percentile / 100.0), amax);
        } else {
            double cut = (1.0 - s->percentile / 100.0) / 2;
            lo = fmax(kl_quantile(h->counts, 2 * B, -(double)B * w, w, cut), mn);
            hi = fmin(kl_quantile(h->counts, 2 * B, -(double)B * w, w, 1.0 - cut), mx);
        }
        break;
    case KL_METHOD_MSE:
        if (s->symmetric) {
            t = kl_mse_symmetric(abs, n, w, h->zeros, amax, qmax);
        } else {
            uint64_t *neg = malloc((size_t)B * sizeof *neg);
            if (!neg) {
                rc = KL_RANGE_NOMEM;
                break;
            }
            int np = 0, nn = 0;
            for (int j = 0; j < B; j++) {
                abs[j] = h->counts[B + j]; /* reused for the positive side */
                neg[j] = h->counts[B - 1 - j];
                if (abs[j]) np = j + 1;
                if (neg[j]) nn = j + 1;
            }
            if (kl_mse_asymmetric(abs, np, neg, nn, w, h->zeros, mn, mx, steps, &lo, &hi) != 0)
                rc = KL_RANGE_NOMEM;
            free(neg);
        }
        break;
    }
    free(abs);
    if (rc != KL_RANGE_OK) return rc;
    /* kl and percentile on one side, and every symmetric search, give a threshold t on |x|. */
    if (s->symmetric || (one_sided && s->method != KL_METHOD_MSE)) {
        lo = s->symmetric || nonpos ? -t : 0.0;
        hi = s->symmetric || nonneg ? t : 0.0;
    }
    lo = fmin(lo, 0.0);
    hi = fmax(hi, 0.0);
    if (!(hi - lo > 0) || !isfinite(hi - lo)) { /* a search that collapsed: fall back to min/max */
        lo = fmin(mn, 0.0);
        hi = fmax(mx, 0.0);
    }
    *lo_out = (float)lo;
    *hi_out = (float)hi;
    return KL_RANGE_OK;
}
