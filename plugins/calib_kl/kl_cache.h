/* kl_cache.h — calib_kl's calibration cache: a TensorRT-style calibration table, read and written without a session. */
#ifndef CALIB_KL_KL_CACHE_H
#define CALIB_KL_KL_CACHE_H

#include <stdint.h>

#include <qpipe/qp_status.h>

/* The file (docs/calibration.md):
 *
 *   TRT-8601-EntropyCalibration2[ qpipe method=kl bins=2048 percentile=99.99 spec=0123456789abcdef]
 *   <tensor>: <scale>[ <min> <max>]
 *
 * Values are IEEE-754 float32 bit patterns in hex, as TensorRT writes them. <scale> is TensorRT's
 * int8 scale amax / 127 (amax = max |x| of the range), so TensorRT reads the first field as it
 * reads its own tables; <min> <max>, present for asymmetric encodings, give the range itself.
 * The " qpipe ..." tail records the settings the table was computed with; it is left out when
 * they are TensorRT's own (kl, 2048 bins, every activation int8 symmetric), so such a table is
 * exactly what TensorRT writes and reads. */

typedef struct kl_cache_entry {
    char *name;
    float scale;   /* amax / 127 */
    int has_range; /* min/max given (asymmetric) */
    float min, max;
    int line; /* where it was read (1-based), 0 when built in memory */
} kl_cache_entry;

typedef struct kl_cache {
    char algorithm[64]; /* "EntropyCalibration2" */
    int has_settings;   /* the qpipe tail is present */
    char method[16];    /* kl | percentile | mse */
    int bins;
    double percentile;
    uint64_t spec_hash; /* kl_spec_hash of the activations' bits and symmetry */
    kl_cache_entry *entries;
    int n_entries;
} kl_cache;

/* The TensorRT algorithm name a method is written under. */
const char *kl_cache_algorithm(const char *method);

/* Reads a table; QP_ERR_IO when it cannot be opened, QP_ERR_PARSE with "path:line: ..." when it
 * is malformed. The caller frees *out with kl_cache_free, also on failure. */
qp_status kl_cache_read(const char *path, kl_cache *out);
/* Writes to path.tmp.<pid>, then renames into place. */
qp_status kl_cache_write(const char *path, const kl_cache *cache);
void kl_cache_free(kl_cache *cache);
/* Appends an entry (name copied); returns 0, -1 when out of memory. */
int kl_cache_add(kl_cache *cache, const char *name, float lo, float hi, int symmetric);

/* The range an entry stands for: [min, max], or [-127 scale, 127 scale] without them. Calibration
 * applies ranges through an entry too, so a run from the cache sets bit-identical encodings. */
void kl_cache_entry_range(const kl_cache_entry *entry, float *lo, float *hi);
void kl_cache_entry_set(kl_cache_entry *entry, float lo, float hi, int symmetric);

/* FNV-1a over the strings and integers fed to it: fingerprints the activation specs. */
uint64_t kl_hash_str(uint64_t h, const char *s);
uint64_t kl_hash_int(uint64_t h, int64_t v);
#define KL_HASH_INIT 0xcbf29ce484222325ull

#endif
