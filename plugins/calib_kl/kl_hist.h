/* kl_hist.h — calib_kl's session-free math: streaming activation histograms and the kl, percentile and mse range searches. */
#ifndef CALIB_KL_KL_HIST_H
#define CALIB_KL_KL_HIST_H

#include <stdint.h>

/* One tensor's histogram, anchored at 0 with a power-of-two bin width w = 2^exp: `bins` bins per
 * sign, counts[bins + j] holding the values in [j w, (j+1) w) and counts[bins - 1 - j] those in
 * (-(j+1) w, -j w]. The width is the smallest power of two with bins * w > max |x| seen so far;
 * when a batch exceeds it the width doubles (as often as needed) and pairs of bins merge.
 * Since x * 2^-exp is exact in floating point and floor(floor(x / w) / 2) = floor(x / 2w), the
 * result is exactly the histogram of all values at the final width: independent of batch size
 * and order, with no re-binning error (ONNX Runtime's collector re-bins by interpolation). */
typedef struct kl_hist {
    int bins;
    int exp;          /* w = 2^exp once has_width */
    int has_width;    /* 0 until a finite non-zero value arrives */
    uint64_t *counts; /* 2 * bins, allocated with the width */
    uint64_t finite;  /* finite values seen (zeros included) */
    uint64_t zeros;   /* exact zeros (also counted in bin counts[bins] once the width exists) */
    uint64_t nonfinite;
    float min, max; /* of the finite values; valid when finite > 0 */
} kl_hist;

/* Smallest bin width: values below bins * 2^KL_MIN_EXP are indistinguishable from 0 anyway and
 * 2^-KL_MIN_EXP stays a normal float. */
#define KL_MIN_EXP (-100)

void kl_hist_init(kl_hist *h, int bins);
void kl_hist_free(kl_hist *h);
/* Adds n values (NaN and Inf are counted in nonfinite and skipped). Returns 0, or -1 when out of
 * memory (the histogram may then hold part of x: calibration gives up). */
int kl_hist_add(kl_hist *h, const float *x, int64_t n);
/* Sampling (a cost/precision trade for activation-heavy models): one value in `every` is binned.
 * Positions count the values of one tensor across calls (origin: the position of x[0]); they
 * form blocks of 512 groups of `every`, and in each block the values at one offset, drawn from
 * `key` and the block's number, are kept. So every value has probability 1/every, and which
 * values are kept depends on the key and positions only: not on batch size, call boundaries or
 * threads. min, max, NaN/Inf and the width always come from every value. every <= 1: all. */
typedef struct kl_sample {
    int every;
    uint64_t key;
    int64_t origin;
} kl_sample;
int kl_hist_add_sampled(kl_hist *h, const float *x, int64_t n, const kl_sample *sample);

/* Values go through in chunks of 8192: each is scanned (min, max, NaN/Inf) and binned while it
 * sits in cache, so memory is read once. For threads: kl_hist_bin_chunks bins chunks [c0, c1) of
 * x (kl_hist_chunks(n) in all) into a part (its own scratch), reading h only, so threads may run
 * it at once; chunks that do not fit h's current width (or hold NaN/Inf) are deferred. The caller
 * then folds every part (kl_hist_fold_part) before any part's deferred chunks are binned
 * (kl_hist_finish_part), since those may grow the width. A part bins fewer than 2^32 values
 * between folds. */
#define KL_SCRATCH_SIZE(bins) ((size_t)8 * (size_t)(bins))
#define KL_SPLIT_MIN 65536 /* below this many values binning goes straight to h */
typedef struct kl_part {
    uint32_t *scratch; /* KL_SCRATCH_SIZE(bins): four interleaved copies of the 2 * bins counts */
    uint64_t zeros, finite;
    float min, max;
    int64_t *deferred;
    int n_deferred, cap_deferred;
} kl_part;
int kl_part_init(kl_part *part, int bins);
void kl_part_free(kl_part *part);
int kl_hist_chunks(int64_t n);
int kl_hist_bin_chunks(const kl_hist *h, const float *x, int64_t n, const kl_sample *sample, int64_t c0,
                       int64_t c1, kl_part *part);
void kl_hist_fold_part(kl_hist *h, kl_part *part);
int kl_hist_finish_part(kl_hist *h, const float *x, int64_t n, const kl_sample *sample, kl_part *part);
double kl_hist_width(const kl_hist *h);
/* max |x| over the finite values (0 when none). */
double kl_hist_amax(const kl_hist *h);
/* Histogram of |x|: abs[j] = values with |x| in bin j, j < bins. Returns the number of bins in
 * use (last non-empty + 1, 0 when empty). */
int kl_hist_abs(const kl_hist *h, uint64_t *abs);

typedef enum kl_method { KL_METHOD_KL = 0, KL_METHOD_PERCENTILE = 1, KL_METHOD_MSE = 2 } kl_method;

typedef struct kl_settings {
    kl_method method;
    int bits;          /* 2..16 */
    int symmetric;     /* encoding: signed narrow range with zero point 0, or unsigned with a zero point */
    double percentile; /* 50..100, for KL_METHOD_PERCENTILE */
} kl_settings;

/* Outcome of kl_hist_range. */
enum { KL_RANGE_OK = 0, KL_RANGE_DEGENERATE = 1, KL_RANGE_NOMEM = -1 };

/* The calibrated range [*lo, *hi] of h (lo <= 0 <= hi, finite). A tensor with no finite non-zero
 * value gets the range of scale 1 (ONNX Runtime's rule for an empty range) and KL_RANGE_DEGENERATE. */
int kl_hist_range(const kl_hist *h, const kl_settings *s, float *lo, float *hi);

/* ---- the searches, on plain count arrays (exposed for tests) ------------------------------------ */

/* TensorRT-style entropy calibration on a histogram of |x| with n bins (a[n-1] > 0): returns the
 * number of bins i whose threshold i * w minimises KL(P || Q), over i in [f + levels, n] with f
 * the first non-empty bin (TensorRT's [128, 2048) when the data starts at 0), where
 *   P = a[0..i) with the outliers sum(a[i..n)) added to P[i-1], normalised;
 *   Q = a[0..i) (outliers not included) merged into `levels` groups, group g = bins
 *       [floor(g i / levels), floor((g+1) i / levels)), each group's count spread evenly over its
 *       bins where P > 0 (bins where P = 0 stay 0: the empty-bin rule of TensorRT and MXNet),
 *       normalised;
 *   KL = sum over P[k] > 0 of P[k] ln(P[k] / max(Q[k], 1e-10)).
 * Q[k] = 0 < P[k] only happens where a group holds nothing but outliers; the 1e-10 floor is ncnn's
 * smoothing constant, applied only there, so clipping a lone outlier costs P ln(P / 1e-10) rather
 * than infinity. Starting `levels` bins above the data (not above 0) matters for data far from 0
 * (a gate in [0.17, 0.99]): a threshold just above the minimum folds everything into one bin
 * where Q, normalised on its own, holds everything too, and scores a perfect 0. Ties go to the
 * smallest i. No candidate (n < f + levels) returns n. kl, when not NULL, receives KL for
 * i = levels..n (INFINITY where i is not a candidate or no mass lies below i). -1: out of memory. */
int kl_entropy_search(const uint64_t *a, int n, int levels, double *kl);
/* The same divergence for a two-sided range [lo, hi) of a signed histogram (outliers below lo
 * added to P's first bin, from hi on to its last): coordinate descent from the full range,
 * alternating the best hi for the current lo and the best lo for the current hi (each a
 * coarse-to-fine search: at most 256 candidates, then every bin within a stride of the best),
 * at most 4 rounds. Returns 0, -1 when out of memory. */
int kl_entropy_search_2d(const uint64_t *a, int n, int levels, int *lo, int *hi);

/* The value below which a fraction q (0..1) of the histogram's count lies, interpolating linearly
 * inside the bin; counts[k] covers [origin + k w, origin + (k+1) w). */
double kl_quantile(const uint64_t *counts, int n, double origin, double w, double q);

/* MSE: the expected squared quantisation error (clipping + rounding) over the histogram, AIMET
 * tf_enhanced style, from bin centres c_k: a value clipped to t costs (c_k - t)^2 + w^2/12 (its
 * spread inside the bin), a value inside the range s^2/12 (uniform rounding noise, s the step);
 * exact zeros (`zeros`, inside bin 0) cost nothing, since every range holds 0 exactly.
 * Symmetric: a is the histogram of |x| (n bins), s = t / qmax; the candidates are the bin edges
 * j w (j = 1..n-1) and amax itself (no clipping). Returns the best t (ties: the smallest). */
double kl_mse_symmetric(const uint64_t *a, int n, double w, uint64_t zeros, double amax, double qmax);
/* Asymmetric [lo, hi] with `steps` = 2^bits - 1: pos/neg are the histograms of x >= 0 and of -x for
 * x < 0 (np, nn bins; zeros inside pos[0]); each side's candidates are its bin edges (strided to at
 * most 1024) and its extreme (max, min) itself; every pair is tried. Returns 0, -1 when out of memory. */
int kl_mse_asymmetric(const uint64_t *pos, int np, const uint64_t *neg, int nn, double w, uint64_t zeros,
                      double min, double max, double steps, double *lo, double *hi);

#endif
