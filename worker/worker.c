/*
 * concord-worker: runs the jobs the API records in PostgreSQL. Redis
 * only wakes it (a stream entry per job); without Redis it polls, so
 * nothing waits on Redis being up. A job is claimed, run and marked
 * done inside one transaction holding its row lock (FOR UPDATE SKIP
 * LOCKED): a worker that dies mid-job leaves the row pending again and
 * two workers never run the same job. Failing jobs are retried with
 * backoff and parked as dead after CONCORD_JOB_MAX_ATTEMPTS. Every
 * CONCORD_DEADLINE_SWEEP_SECONDS (and at once on start, to catch up on
 * what came due while no worker ran) it sweeps the deadline clocks
 * (sql/code/deadlines.sql), which fire each step once across workers.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "../common/config.h"
#include "../common/db.h"
#include "../common/job.h"
#include "../common/log.h"
#include "../common/rds.h"
#include "jobs.h"
#include "webhook.h"
#include "wmetrics.h"

#define SQL_CLAIM \
	"SELECT id, kind, payload::text, attempts, greatest(0, extract(epoch " \
	"FROM clock_timestamp() - run_after))::float8 FROM jobs " \
	"WHERE state = 'pending' AND run_after <= now() " \
	"ORDER BY run_after, id FOR UPDATE SKIP LOCKED LIMIT 1"
#define SQL_DONE \
	"UPDATE jobs SET state = 'done', attempts = attempts + 1, " \
	"result = $2::jsonb, updated_at = now(), last_error = NULL " \
	"WHERE id = $1"
#define SQL_SWEEP \
	"SELECT worker.deadline_sweep(now(), $1::jsonb, $2)::text"
#define SQL_DL_CONFIGURE \
	"SELECT worker.deadline_configure($1::jsonb)"
#define SQL_FAIL \
	"UPDATE jobs SET attempts = attempts + 1, last_error = $2, " \
	"updated_at = now(), state = CASE WHEN attempts + 1 >= $3::int " \
	"THEN 'dead' ELSE 'pending' END, run_after = now() + " \
	"make_interval(secs => least(300, power(2, attempts + 1)::int)) " \
	"WHERE id = $1"

static volatile sig_atomic_t	 quit;
static char			 health[160] = "ready";	/* heartbeat line 2 */
static struct concord_config	 cfg;
static char			 consumer[64];
static char			*dl_config;	/* clock settings as JSON */

static void	 worker_signal(int);
static void	 worker_heartbeat(void);
static int	 worker_run_one(PGconn *, int *);
static int	 worker_job_exec(PGconn *, const char *, json_t *, json_t **,
		    char *, size_t);
static void	 worker_housekeeping(PGconn *);
static int	 worker_debug_hold(PGconn *, json_t *, json_t **, char *,
		    size_t);
static char	*worker_deadline_config(void);
static void	 worker_deadlines(PGconn *, int);
static void	 worker_audit_seal(PGconn *);
static void	 worker_redact(char *);
static redisContext *worker_redis(void);
static void	 worker_redis_wait(redisContext **);

static void
worker_signal(int sig)
{
	(void)sig;
	quit = 1;
}

/*
 * Rewrite the file containers probe (CONCORD_WORKER_HEARTBEAT): line 1
 * is the time of the last loop (liveness), line 2 "ready" or
 * "not-ready: <reason>" (readiness; e.g. an audit sealing backlog older
 * than CONCORD_AUDIT_SEAL_MAX_AGE).
 */
static void
worker_heartbeat(void)
{
	FILE	*fp;

	if (cfg.heartbeat_path == NULL)
		return;
	if ((fp = fopen(cfg.heartbeat_path, "w")) != NULL) {
		fprintf(fp, "%ld\n%s\n", (long)time(NULL), health);
		fclose(fp);
	}
}

/*
 * Test-only job (CONCORD_DEBUG_ROUTES=1): hold the job's transaction for
 * payload.ms milliseconds (at most 10 s), to prove that a worker stalled
 * inside a job loses it. Returns 0 with *result, or -1 with err.
 */
static int
worker_debug_hold(PGconn *pg, json_t *payload, json_t **result, char *err,
    size_t elen)
{
	PGresult	*r;
	char		 secs[32];
	const char	*p[1];
	json_int_t	 ms;

	ms = json_integer_value(json_object_get(payload, "ms"));
	if (ms < 0 || ms > 10000)
		ms = 0;
	snprintf(secs, sizeof(secs), "%.3f", (double)ms / 1000.0);
	p[0] = secs;
	if ((r = db_exec(pg, "SELECT pg_sleep($1::float8)", 1, p, err,
	    elen)) == NULL)
		return (-1);
	PQclear(r);
	*result = json_pack("{s:s}", "held_by", consumer);
	return (0);
}

/*
 * Run one job kind. Returns 0 with *result set (caller decrefs), or -1
 * with a reason in err. Effects must use the same connection so they
 * commit with the job's state change.
 */
static int
worker_job_exec(PGconn *pg, const char *kind, json_t *payload,
    json_t **result, char *err, size_t elen)
{
	if (strcmp(kind, JOB_KIND_MATCH) == 0)
		return (match_referral_run(pg, payload, result, err, elen));
	if (strcmp(kind, JOB_KIND_EXPIRE) == 0)
		return (match_offer_expire(pg, payload, result, err, elen));
	if (strcmp(kind, JOB_KIND_REMATCH) == 0)
		return (match_rematch_waiting(pg, payload, result, err, elen));
	if (strcmp(kind, "debug.hold") == 0 && cfg.debug_routes)
		return (worker_debug_hold(pg, payload, result, err, elen));
	if (strcmp(kind, JOB_KIND_REPORT) == 0)
		return (report_build_run(pg, payload, result, err, elen));
	if (strcmp(kind, JOB_KIND_PING) == 0) {
		*result = json_pack("{s:s, s:O}", "pong", consumer, "payload",
		    payload);
		return (0);
	}
	snprintf(err, elen, "no handler for job kind %s", kind);
	return (-1);
}

/*
 * Claim and run one job. Returns 1 when a job was handled, 0 when none
 * was ready, -1 on a database error (the caller reconnects).
 */
static int
worker_run_one(PGconn *pg, int *handled_id)
{
	PGresult	*r = NULL, *u;
	json_t		*payload = NULL, *result = NULL;
	char		 err[512], jerr[512], idbuf[32], maxbuf[16];
	char		*rtext = NULL;
	const char	*p[3];
	int		 rc = -1, ok;
	u_int64_t	 t0;
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (u_int64_t)ts.tv_sec * 1000 + (u_int64_t)ts.tv_nsec / 1000000;
	*handled_id = 0;
	if ((u = db_exec(pg, "BEGIN", 0, NULL, err, sizeof(err))) == NULL)
		goto dberr;
	PQclear(u);
	if ((r = db_exec(pg, SQL_CLAIM, 0, NULL, err, sizeof(err))) == NULL)
		goto dberr;
	if (PQntuples(r) == 0) {
		PQclear(r);
		r = NULL;
		if ((u = db_exec(pg, "COMMIT", 0, NULL, err,
		    sizeof(err))) == NULL)
			goto dberr;
		PQclear(u);
		return (0);
	}
	snprintf(idbuf, sizeof(idbuf), "%s", PQgetvalue(r, 0, 0));
	payload = json_loads(PQgetvalue(r, 0, 2), 0, NULL);
	jerr[0] = '\0';
	ok = payload != NULL && worker_job_exec(pg, PQgetvalue(r, 0, 1),
	    payload, &result, jerr, sizeof(jerr)) == 0;
	p[0] = idbuf;
	if (ok) {
		rtext = json_dumps(result, JSON_COMPACT);
		p[1] = rtext;
		u = db_exec(pg, SQL_DONE, 2, p, err, sizeof(err));
	} else {
		/* Roll back the job's effects, then count the failure. */
		if ((u = db_exec(pg, "ROLLBACK", 0, NULL, err,
		    sizeof(err))) == NULL)
			goto dberr;
		PQclear(u);
		if ((u = db_exec(pg, "BEGIN", 0, NULL, err,
		    sizeof(err))) == NULL)
			goto dberr;
		PQclear(u);
		snprintf(maxbuf, sizeof(maxbuf), "%d", cfg.job_max_attempts);
		worker_redact(jerr);
		p[1] = jerr[0] != '\0' ? jerr : "payload is not JSON";
		p[2] = maxbuf;
		u = db_exec(pg, SQL_FAIL, 3, p, err, sizeof(err));
	}
	if (u == NULL)
		goto dberr;
	PQclear(u);
	if ((u = db_exec(pg, "COMMIT", 0, NULL, err, sizeof(err))) == NULL)
		goto dberr;
	PQclear(u);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	wmetrics_job(PQgetvalue(r, 0, 1), ok, (u_int64_t)ts.tv_sec * 1000 +
	    (u_int64_t)ts.tv_nsec / 1000000 - t0, atof(PQgetvalue(r, 0, 4)));
	concord_log(ok ? LOG_LVL_INFO : LOG_LVL_WARN, ok ? "job done" :
	    "job failed", json_pack("{s:s, s:s, s:I}", "job_id", idbuf,
	    "kind", PQgetvalue(r, 0, 1), "duration_ms",
	    (json_int_t)((u_int64_t)ts.tv_sec * 1000 +
	    (u_int64_t)ts.tv_nsec / 1000000 - t0)));
	*handled_id = atoi(idbuf);
	rc = 1;
	goto out;
dberr:
	/* Server messages can quote values: log the first line's class only. */
	err[strcspn(err, ":")] = '\0';
	concord_log(LOG_LVL_ERROR, "database error", json_pack("{s:s, s:s}",
	    "reason", PQstatus(pg) == CONNECTION_OK ? "statement" :
	    "connection", "error", err));
	u = PQexec(pg, "ROLLBACK");
	PQclear(u);
out:
	if (r != NULL)
		PQclear(r);
	free(rtext);
	json_decref(payload);
	json_decref(result);
	return (rc);
}

/*
 * Error texts kept in jobs.last_error (shown to admins) may quote the
 * value that failed; blank out everything between double quotes.
 */
static void
worker_redact(char *s)
{
	int	inq = 0;

	for (; *s != '\0'; s++) {
		if (*s == '"')
			inq = !inq;
		else if (inq)
			*s = '.';
	}
}

/*
 * The clock settings as the JSON worker.deadline_sweep reads (keys of
 * lib.deadline_config). Returns a malloc'd string the caller frees.
 */
static char *
worker_deadline_config(void)
{
	json_t	*cfgj, *days;
	char	*text;
	int	 i;

	days = json_array();
	for (i = 0; i < cfg.dl_task_ndays; i++)
		json_array_append_new(days, json_integer(cfg.dl_task_days[i]));
	cfgj = json_pack("{s:{s:i, s:i, s:i}, s:i, s:i, s:i, s:o, s:i, s:i, "
	    "s:i, s:i, s:i}",
	    "offer_hours", "emergency", cfg.dl_offer_hours[0],
	    "urgent", cfg.dl_offer_hours[1], "routine", cfg.dl_offer_hours[2],
	    "offer_reminder_pct", cfg.dl_offer_reminder_pct,
	    "offer_max_expiries", cfg.dl_offer_max_expiries,
	    "referral_escalate_hours", cfg.dl_escalate_hours,
	    "task_remind_days", days,
	    "task_overdue_hours", cfg.dl_task_overdue_hours,
	    "consent_notice_days", cfg.dl_consent_days,
	    "transfer_remind_hours", cfg.dl_transfer_hours,
	    "transfer_escalate_hours", cfg.dl_transfer_escalate_hours,
	    "agreement_notice_days", cfg.dl_agreement_days);
	if (cfgj == NULL)
		return (NULL);
	text = json_dumps(cfgj, JSON_COMPACT);
	json_decref(cfgj);
	return (text);
}

/*
 * Sweep the deadline clocks when CONCORD_DEADLINE_SWEEP_SECONDS passed
 * since the last sweep (or force: at start and after a reconnect, the
 * catch-up). Each sweep statement is its own transaction; a sweep that
 * filled a clock's batch is followed by another at once. Logs counts
 * only; a failing clock is logged by name and SQLSTATE.
 */
static void
worker_deadlines(PGconn *pg, int force)
{
	static struct timespec	 last;
	struct timespec		 now;
	PGresult		*r;
	json_t			*res;
	const char		*p[2];
	char			 err[256];
	int			 rounds = 0, more;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!force && last.tv_sec != 0 &&
	    now.tv_sec - last.tv_sec < cfg.dl_sweep_s)
		return;
	last = now;
	p[0] = dl_config;
	p[1] = consumer;
	do {
		more = 0;
		if ((r = db_exec(pg, SQL_SWEEP, 2, p, err,
		    sizeof(err))) == NULL) {
			err[strcspn(err, ":")] = '\0';
			concord_log(LOG_LVL_WARN, "deadline sweep failed",
			    json_pack("{s:s}", "error", err));
			return;
		}
		res = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
		PQclear(r);
		if (res == NULL)
			return;
		if (json_integer_value(json_object_get(res, "fired")) > 0 ||
		    json_object_size(json_object_get(res, "errors")) > 0)
			concord_log(json_object_size(json_object_get(res,
			    "errors")) > 0 ? LOG_LVL_WARN : LOG_LVL_INFO,
			    "deadlines fired", json_pack("{s:O, s:O, s:O}",
			    "fired", json_object_get(res, "fired"),
			    "clocks", json_object_get(res, "clocks"),
			    "errors", json_object_get(res, "errors")));
		more = json_is_true(json_object_get(res, "more"));
		wmetrics_deadlines(json_object_get(res, "clocks"));
		json_decref(res);
	} while (more && !quit && ++rounds < 20);
}

/* Once a minute: forget idempotency keys past their retention. */
static void
worker_housekeeping(PGconn *pg)
{
	static time_t	 last;
	PGresult	*r;
	char		 err[256];

	if (time(NULL) - last < 60)
		return;
	last = time(NULL);
	if ((r = db_exec(pg, "SELECT worker.housekeeping()", 0, NULL, err,
	    sizeof(err))) != NULL)
		PQclear(r);
}

/*
 * Every CONCORD_AUDIT_SEAL_MS: seal the committed audit records (one
 * sealer at a time across workers; a busy answer means another worker
 * is sealing). Sets the readiness line when the oldest unsealed record
 * is older than CONCORD_AUDIT_SEAL_MAX_AGE seconds.
 */
static void
worker_audit_seal(PGconn *pg)
{
	static struct timespec	 last;
	struct timespec		 now;
	PGresult		*r;
	json_t			*res;
	json_error_t		 jerr;
	char			 err[256];
	long			 ms;
	json_int_t		 age, sealed;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - last.tv_sec) * 1000 +
	    (now.tv_nsec - last.tv_nsec) / 1000000;
	if (ms < cfg.audit_seal_ms)
		return;
	last = now;
	if ((r = db_exec(pg, "SELECT worker.audit_seal(5000)::text", 0, NULL,
	    err, sizeof(err))) == NULL) {
		concord_log(LOG_LVL_WARN, "audit sealing failed", NULL);
		return;
	}
	res = json_loads(PQgetvalue(r, 0, 0), 0, &jerr);
	PQclear(r);
	if (res == NULL)
		return;
	age = json_integer_value(json_object_get(res, "oldest_unsealed_s"));
	sealed = json_integer_value(json_object_get(res, "sealed"));
	if (age > cfg.audit_seal_max_age)
		snprintf(health, sizeof(health), "not-ready: audit sealing "
		    "backlog %lld s", (long long)age);
	else
		snprintf(health, sizeof(health), "ready");
	if (sealed > 0)
		concord_log(LOG_LVL_DEBUG, "audit sealed", json_pack("{s:I, s:O}",
		    "records", sealed, "batch", json_object_get(res, "batch")));
	json_decref(res);
}

static redisContext *
worker_redis(void)
{
	redisContext	*rc;
	redisReply	*r;
	char		 err[256];

	if ((rc = rds_connect(cfg.redis_url, 2000, err, sizeof(err))) == NULL)
		return (NULL);
	r = redisCommand(rc, "XGROUP CREATE %s %s $ MKSTREAM", JOB_STREAM,
	    JOB_GROUP);
	if (r != NULL)
		freeReplyObject(r);
	return (rc);
}

/*
 * Wait up to a second for a wake-up on the stream, acknowledging what
 * arrives (the rows in PostgreSQL are the work, not the messages).
 * Without Redis it simply sleeps: the caller polls PostgreSQL anyway.
 */
static void
worker_redis_wait(redisContext **rcp)
{
	redisReply	*r, *stream, *msgs;
	size_t		 i;

	if (*rcp == NULL && (*rcp = worker_redis()) == NULL) {
		sleep(1);
		return;
	}
	r = redisCommand(*rcp, "XREADGROUP GROUP %s %s COUNT 100 BLOCK 1000 "
	    "STREAMS %s >", JOB_GROUP, consumer, JOB_STREAM);
	if (r == NULL) {
		redisFree(*rcp);
		*rcp = NULL;
		sleep(1);
		return;
	}
	if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
		stream = r->element[0];
		if (stream->type == REDIS_REPLY_ARRAY && stream->elements == 2) {
			msgs = stream->element[1];
			for (i = 0; i < msgs->elements; i++) {
				freeReplyObject(redisCommand(*rcp,
				    "XACK %s %s %s", JOB_STREAM, JOB_GROUP,
				    msgs->element[i]->element[0]->str));
			}
		}
	} else if (r->type == REDIS_REPLY_ERROR) {
		/* The group vanished (Redis restarted empty): recreate. */
		freeReplyObject(r);
		redisFree(*rcp);
		*rcp = NULL;
		return;
	}
	freeReplyObject(r);
}

int
main(int argc, char **argv)
{
	struct sigaction	 sa;
	PGconn			*pg = NULL;
	PGresult		*r;
	const char		*p1[1];
	redisContext		*rc = NULL;
	char			 err[512], opts[160];
	int			 once = 0, n = 0, id, backoff = 1;

	if (argc == 2 && strcmp(argv[1], "--once") == 0)
		once = 1;
	else if (argc != 1) {
		fprintf(stderr, "usage: concord-worker [--once]\n");
		return (2);
	}
	if (concord_config_load(&cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "concord-worker: %s\n", err);
		return (1);
	}
	concord_log_init("worker", cfg.log_level);
	if ((dl_config = worker_deadline_config()) == NULL) {
		fprintf(stderr, "concord-worker: out of memory\n");
		return (1);
	}
	snprintf(consumer, sizeof(consumer), "worker-%ld", (long)getpid());
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	concord_log(LOG_LVL_INFO, "worker started", json_pack("{s:s, s:b}",
	    "consumer", consumer, "once", once));
	/*
	 * Webhook deliveries run on a thread of their own (webhook.c).
	 * Their secrets are sealed with the data key: without it they
	 * stay queued and everything else runs.
	 */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "concord-worker: libcurl did not start\n");
		return (1);
	}
	if (once)
		;
	else if (cfg.data_key == NULL)
		concord_log(LOG_LVL_WARN, "webhook deliveries paused: "
		    "CONCORD_DATA_KEY is not set", NULL);
	else if (webhook_start(&cfg) == -1)
		return (1);

	while (!quit) {
		worker_heartbeat();
		wmetrics_write(&cfg, pg, 0);
		if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
			if (pg != NULL)
				PQfinish(pg);
			/*
			 * Bounded waits: a statement runs at most
			 * CONCORD_WORKER_STATEMENT_TIMEOUT_MS, and a
			 * worker that stalls inside a job's transaction
			 * (stopped, hung) has it ended by PostgreSQL after
			 * CONCORD_JOB_CLAIM_SECONDS: its row locks go, the
			 * job is claimed by another worker, and its own
			 * late commit fails with the connection.
			 */
			snprintf(opts, sizeof(opts), "-c statement_timeout=%d "
			    "-c idle_in_transaction_session_timeout=%d",
			    cfg.worker_statement_ms,
			    cfg.job_claim_seconds * 1000);
			if ((pg = db_connect_opts(cfg.worker_database_url, opts,
			    err, sizeof(err))) == NULL) {
				concord_log(LOG_LVL_WARN, "database unavailable",
				    json_pack("{s:i}", "retry_in_s", backoff));
				if (once)
					break;
				sleep((unsigned int)backoff);
				backoff = backoff < 4 ? backoff * 2 : 5;
				continue;
			}
			backoff = 1;
			/* The task force's majority languages, for matching. */
			p1[0] = cfg.majority_languages;
			if ((r = db_exec(pg, "SELECT set_config("
			    "'concord.majority_languages', $1, false)", 1, p1,
			    err, sizeof(err))) != NULL)
				PQclear(r);
			/* Offers made by the API use the same windows. */
			p1[0] = dl_config;
			if ((r = db_exec(pg, SQL_DL_CONFIGURE, 1, p1, err,
			    sizeof(err))) != NULL)
				PQclear(r);
			/* Catch up on what came due while we were away. */
			worker_deadlines(pg, 1);
		}
		/* Drain what is ready, then wait for a wake-up or a second. */
		while (!quit && (n = worker_run_one(pg, &id)) == 1)
			worker_audit_seal(pg);
		worker_audit_seal(pg);
		if (n == -1) {
			/* Back off so a broken statement cannot spin. */
			if (once)
				break;
			sleep(1);
			continue;
		}
		if (once)
			break;
		worker_housekeeping(pg);
		worker_deadlines(pg, 0);
		worker_redis_wait(&rc);
	}
	webhook_stop();
	wmetrics_write(&cfg, pg, 1);
	curl_global_cleanup();
	concord_log(LOG_LVL_INFO, "worker stopped", NULL);
	if (rc != NULL)
		redisFree(rc);
	if (pg != NULL)
		PQfinish(pg);
	free(dl_config);
	concord_config_cleanup(&cfg);
	return (0);
}
