/* session_log.c — qp_log and qp_progress: messages on stderr, a progress line only on terminals. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "session/session_impl.h"

void qp_session_set_verbosity(qp_session *s, qp_log_level level) { s->verbosity = level; }
void qp_session_set_progress(qp_session *s, int enabled) { s->progress = enabled ? 1 : 0; }

void qp_session_set_current_pass(qp_session *s, const char *name) {
    free(s->current_pass);
    s->current_pass = NULL;
    if (name) {
        size_t n = strlen(name) + 1;
        s->current_pass = malloc(n);
        if (s->current_pass) memcpy(s->current_pass, name, n);
    }
}

void qp_session_progress_clear(qp_session *s) {
    if (s && s->progress_drawn) {
        fputs("\r\033[K", stderr);
        s->progress_drawn = 0;
    }
}

void qp_log(qp_session *s, qp_log_level level, const char *fmt, ...) {
    if (s && level > s->verbosity) return;
    qp_session_progress_clear(s);
    static const char *const prefix[] = {"error: ", "warning: ", "", ""};
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *pass = s ? s->current_pass : NULL;
    fprintf(stderr, "qpipe: %s%s%s%s\n", pass ? pass : "", pass ? ": " : "",
            prefix[level >= QP_LOG_ERROR && level <= QP_LOG_DEBUG ? level : QP_LOG_INFO], msg);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void qp_progress(qp_session *s, const char *what, int64_t done, int64_t total) {
    if (!s || s->verbosity < QP_LOG_INFO) return;
    if (s->progress < 0) s->progress = isatty(STDERR_FILENO) ? 1 : 0;
    if (!s->progress) return;
    int finished = total > 0 && done >= total;
    double t = now_s();
    /* A terminal redraw per batch would dominate small models: at most ten per second. */
    if (!finished && s->progress_drawn && t - s->progress_last < 0.1) return;
    s->progress_last = t;
    const char *pass = s->current_pass;
    if (total > 0)
        fprintf(stderr, "\r\033[K%s%s%s %lld/%lld (%d%%)", pass ? pass : "", pass ? ": " : "", what, (long long)done,
                (long long)total, (int)(100 * done / total));
    else
        fprintf(stderr, "\r\033[K%s%s%s %lld", pass ? pass : "", pass ? ": " : "", what, (long long)done);
    s->progress_drawn = 1;
    if (finished) qp_session_progress_clear(s);
    fflush(stderr);
}
