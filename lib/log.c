/* One-line JSON structured logs on stderr. */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_service = "food";
static LogLevel log_min = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(const char *service, LogLevel min_level) {
        log_service = service;
        log_min = min_level;
}

int log_level_parse(const char *s, LogLevel *ret) {
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
                if (strcmp(s, level_names[i]) == 0) {
                        *ret = (LogLevel)i;
                        return 0;
                }
        return -EINVAL;
}

/* Appends `s` JSON-escaped into buf[*pos..cap), always leaving room for NUL. */
static void json_escape_into(char *buf, size_t cap, size_t *pos, const char *s) {
        for (; *s && *pos + 7 < cap; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\') {
                        buf[(*pos)++] = '\\';
                        buf[(*pos)++] = (char)c;
                } else if (c < 0x20) {
                        *pos += (size_t)snprintf(buf + *pos, cap - *pos, "\\u%04x", c);
                } else {
                        buf[(*pos)++] = (char)c;
                }
        }
        buf[*pos] = 0;
}

/* format(printf, 3, 0): clang's -Wformat-nonliteral then checks the callers' formats instead. */
__attribute__((format(printf, 3, 0))) static void log_vemit(LogLevel level, const char *suffix, const char *fmt,
                                                          va_list ap) {
        char msg[1024], line[2300];
        struct timespec ts;
        struct tm tm;
        size_t pos;

        if (level < log_min)
                return;
        vsnprintf(msg, sizeof(msg), fmt, ap);
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        pos = (size_t)snprintf(line, sizeof(line),
                               "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"%s\",\"svc\":\"%s\",\"msg\":\"",
                               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                               ts.tv_nsec / 1000000, level_names[level], log_service);
        json_escape_into(line, sizeof(line) - 4, &pos, msg);
        if (suffix)
                json_escape_into(line, sizeof(line) - 4, &pos, suffix);
        memcpy(line + pos, "\"}\n", 4);
        fputs(line, stderr);
}

void log_emit(LogLevel level, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        log_vemit(level, NULL, fmt, ap);
        va_end(ap);
}

int log_errno(LogLevel level, int r, const char *fmt, ...) {
        char suffix[160];
        va_list ap;
        snprintf(suffix, sizeof(suffix), ": %s", strerror(r < 0 ? -r : r));
        va_start(ap, fmt);
        log_vemit(level, suffix, fmt, ap);
        va_end(ap);
        return r;
}
