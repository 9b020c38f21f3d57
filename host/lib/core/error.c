/* error.c — per-thread error messages behind qp_error(); the library never prints or exits on bad input. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qpipe/qp_status.h"

enum { QP_ERROR_MESSAGE_MAX = 4096 };
static _Thread_local char error_message[QP_ERROR_MESSAGE_MAX];

const char *qp_status_name(qp_status status) {
    switch (status) {
    case QP_OK: return "ok";
    case QP_ERR_INVALID_ARG: return "invalid argument";
    case QP_ERR_UNSUPPORTED: return "unsupported";
    case QP_ERR_PARSE: return "parse error";
    case QP_ERR_IO: return "I/O error";
    case QP_ERR_NOMEM: return "out of memory";
    case QP_ERR_ABI: return "ABI mismatch";
    case QP_ERR_SHAPE: return "shape error";
    case QP_ERR_INVALID_MODEL: return "invalid model";
    case QP_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

qp_status qp_error(qp_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    return status;
}

qp_status qp_error_prefix(qp_status status, const char *fmt, ...) {
    char prefix[1024];
    char old[QP_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, error_message, sizeof old);
    size_t n = strlen(prefix);
    if (n >= sizeof error_message) n = sizeof error_message - 1;
    memcpy(error_message, prefix, n);
    size_t rest = strlen(old);
    if (rest > sizeof error_message - 1 - n) rest = sizeof error_message - 1 - n;
    memcpy(error_message + n, old, rest);
    error_message[n + rest] = '\0';
    return status;
}

const char *qp_error_message(void) { return error_message; }

void qp_error_clear(void) { error_message[0] = '\0'; }
