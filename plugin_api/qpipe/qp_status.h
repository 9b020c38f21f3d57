/* qp_status.h — the one status enum every qpipe function returns, and the error message channel. */
#ifndef QPIPE_QP_STATUS_H
#define QPIPE_QP_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(QPIPE_BUILDING_LIB)
#define QP_API __attribute__((visibility("default")))
#else
#define QP_API
#endif

#if defined(__GNUC__)
#define QP_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define QP_PRINTF(fmt_idx, arg_idx)
#endif

/* Append-only: codes keep their numbers forever (they cross the plugin ABI). */
typedef enum qp_status {
    QP_OK = 0,
    QP_ERR_INVALID_ARG = 1,  /* a caller passed something the function cannot take */
    QP_ERR_UNSUPPORTED = 2,  /* valid input that qpipe does not implement (op, dtype, attribute) */
    QP_ERR_PARSE = 3,        /* malformed file contents (ONNX, YAML, npy, IDX, JPEG) */
    QP_ERR_IO = 4,           /* open/read/write/rename failed */
    QP_ERR_NOMEM = 5,        /* allocation failed or a size overflowed */
    QP_ERR_ABI = 6,          /* plugin built for another ABI */
    QP_ERR_SHAPE = 7,        /* shapes or dtypes that do not fit together */
    QP_ERR_INVALID_MODEL = 8,/* a well-formed file describing an invalid graph */
    QP_ERR_INTERNAL = 9,     /* a bug in qpipe: please report */
} qp_status;

/* Human-readable name of a status code ("invalid argument", ...). */
QP_API const char *qp_status_name(qp_status status);

/* Records a message for the calling thread and returns `status`, so error paths read
 * `return qp_error(QP_ERR_PARSE, "%s: truncated tensor '%s'", path, name);`. */
QP_API qp_status qp_error(qp_status status, const char *fmt, ...) QP_PRINTF(2, 3);

/* Prepends context to the thread's current message: "model.onnx: " + old message. */
QP_API qp_status qp_error_prefix(qp_status status, const char *fmt, ...) QP_PRINTF(2, 3);

/* The calling thread's last message ("" when none). Valid until the next qp_error on that thread. */
QP_API const char *qp_error_message(void);

QP_API void qp_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif
