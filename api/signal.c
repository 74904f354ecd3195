/*
 * signal: after a transaction that created jobs has committed, tell the
 * worker through Redis (XADD to the job stream). This is a wake-up, not
 * the work: the worker finds every job in PostgreSQL by polling anyway.
 * The XADD goes onto this worker's non-blocking Redis link (rconn.c)
 * and its reply is never awaited, so a slow, stopped or absent Redis
 * costs a request nothing; a signal the link cannot take is dropped
 * and counted there.
 */
#include <kore/kore.h>

#include <string.h>

#include "api.h"
#include "rconn.h"
#include "../common/job.h"

void
api_signal_jobs(json_t *ids)
{
	const char	*argv[8];
	size_t		 lens[8], i;
	json_t		*v;
	char		 num[32];
	int		 k;

	if (!json_is_array(ids))
		return;
	json_array_foreach(ids, i, v) {
		if (json_is_integer(v))
			snprintf(num, sizeof(num), "%lld",
			    (long long)json_integer_value(v));
		else if (json_is_string(v))
			snprintf(num, sizeof(num), "%s", json_string_value(v));
		else
			continue;
		argv[0] = "XADD";
		argv[1] = JOB_STREAM;
		argv[2] = "MAXLEN";
		argv[3] = "~";
		argv[4] = "100000";
		argv[5] = "*";
		argv[6] = "id";
		argv[7] = num;
		for (k = 0; k < 8; k++)
			lens[k] = strlen(argv[k]);
		/* Dropped and counted by rconn: the worker polls anyway. */
		if (rconn_send(8, argv, lens) == -1)
			break;
	}
}
