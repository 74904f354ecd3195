/*
 * log: JSON-lines logger. Writes with a single fputs per line on a
 * line-buffered stdout so lines from forked processes never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"

static enum concord_log_level	log_threshold = LOG_LVL_INFO;
static const char		*log_component = "concord";
static const char		*log_names[] = { "debug", "info", "warn", "error" };

void
concord_log_init(const char *component, const char *level)
{
	int	i;

	log_component = component;
	log_threshold = LOG_LVL_INFO;
	for (i = 0; level != NULL && i < 4; i++) {
		if (strcmp(level, log_names[i]) == 0)
			log_threshold = (enum concord_log_level)i;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
}

void
concord_log(enum concord_log_level lvl, const char *msg, json_t *fields)
{
	struct timeval	 tv;
	struct tm	 tm;
	char		 ts[64];
	json_t		*o;
	char		*line;

	if (lvl < log_threshold) {
		json_decref(fields);
		return;
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000));

	o = json_object();
	json_object_set_new(o, "ts", json_string(ts));
	json_object_set_new(o, "level", json_string(log_names[lvl]));
	json_object_set_new(o, "component", json_string(log_component));
	json_object_set_new(o, "msg", json_string(msg));
	if (fields != NULL && json_is_object(fields))
		json_object_update(o, fields);
	json_decref(fields);

	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (line != NULL) {
		fprintf(stdout, "%s\n", line);
		free(line);
	}
	json_decref(o);
}

void
concord_logf(enum concord_log_level lvl, const char *fmt, ...)
{
	va_list	ap;
	char	buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	concord_log(lvl, buf, NULL);
}
