/* One-line JSON structured logs on stderr: {"ts","level","svc","msg"}. */
#pragma once
#include <errno.h>
#include <stdarg.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } LogLevel;

/* Sets the service name stamped on every line and the minimum level.
 * `service` is borrowed and must outlive logging. */
void log_setup(const char *service, LogLevel min_level);
int log_level_parse(const char *s, LogLevel *ret);

void log_emit(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_emit(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_emit(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_emit(LOG_ERROR, __VA_ARGS__)

/* Logs with the errno text appended and returns `r` (a negative errno), so a
 * caller can `return log_error_errno(r, "...")` where the decision is made. */
int log_errno(LogLevel level, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define log_error_errno(r, ...) log_errno(LOG_ERROR, (r), __VA_ARGS__)
#define log_warn_errno(r, ...) log_errno(LOG_WARN, (r), __VA_ARGS__)
