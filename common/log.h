/*
 * log: one JSON object per line on stdout (ts, level, msg, then the
 * caller's fields). Callers must never pass personal data or tokens:
 * only ids, codes, counts and timings belong in a log line.
 */
#ifndef CONCORD_LOG_H
#define CONCORD_LOG_H

#include <jansson.h>

enum concord_log_level {
	LOG_LVL_DEBUG = 0,
	LOG_LVL_INFO,
	LOG_LVL_WARN,
	LOG_LVL_ERROR
};

/* Set the threshold from a name ("debug", "info", ...); unknown = info. */
void	concord_log_init(const char *, const char *);

/*
 * Write one line. fields may be NULL; when given it is a JSON object
 * whose members are appended and whose reference is stolen (decref'd
 * here), so callers can write concord_log(..., json_pack(...)).
 */
void	concord_log(enum concord_log_level, const char *, json_t *);

/* printf-style message with no extra fields. */
void	concord_logf(enum concord_log_level, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
