/* dataset.h — image sets (JPEG folders, IDX pairs) iterated in bounded-memory batches of preprocessed floats. */
#ifndef QPIPE_DATA_DATASET_H
#define QPIPE_DATA_DATASET_H

#include <stdint.h>

#include "data/idx.h"
#include "data/image.h"
#include "data/npy.h"
#include "qpipe/qp_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qp_class_dirs {
    QP_CLASS_DIRS_AUTO = 0,  /* sub-folders are classes when the folder holds no images itself */
    QP_CLASS_DIRS_YES = 1,   /* one sub-folder per class, class index = sorted sub-folder order */
    QP_CLASS_DIRS_NO = -1,   /* only the folder's own files; sub-folders ignored */
} qp_class_dirs;

typedef struct qp_dataset_config {
    /* A folder of JPEGs (.jpg .jpeg .jpe .jfif, any case; other files ignored), or an IDX images
     * file (plain or .gz). */
    const char *images;
    /* Optional. For a folder: a text file of "<file> <class>" lines (blank lines and lines
     * starting with '#' ignored); images it does not name get label -1. For IDX: the IDX labels
     * file. NULL: labels from class sub-folders, else none (-1). */
    const char *labels;
    /* Optional text file, one image name per line (relative to images/): only those are used. */
    const char *list;
    qp_class_dirs class_dirs;
    int64_t count;           /* use at most the first count images (after list filtering); 0 = all */
    qp_preprocess preprocess;
    int threads;             /* decoding threads per batch; 0 = all cores */
} qp_dataset_config;

/* Zeroes cfg and sets preprocessing defaults. */
QP_API void qp_dataset_config_init(qp_dataset_config *cfg);

typedef struct qp_dataset qp_dataset;

/* Scans the folder (sorted by name, byte order, for determinism) or reads the IDX header and
 * data, applies list, labels and count. Errors name the file (and line for text files). Images
 * are not decoded here, except the first image's header when the sample size depends on it. */
QP_API qp_status qp_dataset_open(const qp_dataset_config *cfg, qp_dataset **out);
QP_API void qp_dataset_close(qp_dataset *ds);

QP_API int64_t qp_dataset_size(const qp_dataset *ds);
/* Shape of one preprocessed sample in pp.layout order of (channels, height, width). */
QP_API void qp_dataset_sample_shape(const qp_dataset *ds, int *channels, int *height, int *width);
QP_API const qp_preprocess *qp_dataset_preprocess(const qp_dataset *ds);
/* Relative name of sample i ("x.JPEG", "cat/x.jpg", or "t10k-images-idx3-ubyte.gz[17]"). */
QP_API const char *qp_dataset_name(const qp_dataset *ds, int64_t index);
QP_API int qp_dataset_label(const qp_dataset *ds, int64_t index); /* -1 when unknown */
QP_API int64_t qp_dataset_labelled_count(const qp_dataset *ds);
/* Class count: sub-folders, or 1 + the largest label, or 0 without labels. */
QP_API int qp_dataset_num_classes(const qp_dataset *ds);
/* Sub-folder name of a class in class-folder mode, else NULL. */
QP_API const char *qp_dataset_class_name(const qp_dataset *ds, int class_index);

/* Loads and preprocesses one sample into out (sample_numel floats). */
QP_API qp_status qp_dataset_load(const qp_dataset *ds, int64_t index, float *out);

/* One batch; owned by the iterator and valid until the next call. */
typedef struct qp_batch {
    int n;                 /* samples in this batch; < batch size only for the last; 0 = end */
    int channels, height, width;
    float *data;           /* n samples back to back, each in pp.layout */
    int *labels;           /* n labels, -1 when unknown */
    const int64_t *indices;/* n dataset indices (for qp_dataset_name) */
} qp_batch;

typedef struct qp_dataset_iter qp_dataset_iter;

/* Memory: one batch of floats, whatever the dataset size. */
QP_API qp_status qp_dataset_iter_new(qp_dataset *ds, int batch_size, qp_dataset_iter **out);
/* Fills the next batch with the next readable samples in order; unreadable images are skipped
 * and recorded. batch->n == 0 at the end. Fails only on allocation errors. */
QP_API qp_status qp_dataset_iter_next(qp_dataset_iter *it, qp_batch *batch);
QP_API void qp_dataset_iter_free(qp_dataset_iter *it);
/* Starts again from the first sample and forgets the skipped list. */
QP_API void qp_dataset_iter_rewind(qp_dataset_iter *it);

/* Skipped samples so far on this iterator: their names and why. */
QP_API int64_t qp_dataset_iter_skipped(const qp_dataset_iter *it);
QP_API const char *qp_dataset_iter_skipped_name(const qp_dataset_iter *it, int64_t i);
QP_API const char *qp_dataset_iter_skipped_reason(const qp_dataset_iter *it, int64_t i);

#ifdef __cplusplus
}
#endif
#endif
