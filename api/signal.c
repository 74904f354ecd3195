/*
 * signal: after a transaction that created jobs has committed, tell the
 * worker through Redis (XADD to the job stream). This is a wake-up, not
 * the work: when Redis is down the request still succeeds and the
 * worker finds the job in PostgreSQL by polling. A failed connection
 * is retried at most once a second so an outage costs nothing per call.
 */
#include <kore/kore.h>

#include <string.h>

#include "api.h"
#include "../common/job.h"
#include "../common/log.h"
#include "../common/rds.h"

#define SIGNAL_TIMEOUT_MS	100
#define SIGNAL_RETRY_MS		1000

static redisContext	*signal_rc;
static u_int64_t	 signal_next_try;

static int
signal_connect(void)
{
	char	err[128];

	if (signal_rc != NULL)
		return (0);
	if (kore_time_ms() < signal_next_try)
		return (-1);
	signal_rc = rds_connect(api_cfg.redis_url, SIGNAL_TIMEOUT_MS, err,
	    sizeof(err));
	if (signal_rc == NULL) {
		signal_next_try = kore_time_ms() + SIGNAL_RETRY_MS;
		return (-1);
	}
	return (0);
}

void
api_signal_jobs(json_t *ids)
{
	redisReply	*r;
	json_t		*v;
	size_t		 i;
	char		 num[32];
	int		 failed = 0;

	if (!json_is_array(ids) || json_array_size(ids) == 0)
		return;
	if (signal_connect() == -1)
		return;
	json_array_foreach(ids, i, v) {
		if (json_is_integer(v))
			snprintf(num, sizeof(num), "%lld",
			    (long long)json_integer_value(v));
		else if (json_is_string(v))
			snprintf(num, sizeof(num), "%s", json_string_value(v));
		else
			continue;
		redisAppendCommand(signal_rc, "XADD %s MAXLEN ~ 100000 * id %s",
		    JOB_STREAM, num);
	}
	json_array_foreach(ids, i, v) {
		if (!json_is_integer(v) && !json_is_string(v))
			continue;
		r = NULL;
		if (redisGetReply(signal_rc, (void **)&r) != REDIS_OK ||
		    r == NULL) {
			failed = 1;
			break;
		}
		freeReplyObject(r);
	}
	if (failed) {
		concord_log(LOG_LVL_WARN, "job signal failed; worker will poll",
		    NULL);
		redisFree(signal_rc);
		signal_rc = NULL;
		signal_next_try = kore_time_ms() + SIGNAL_RETRY_MS;
	}
}
