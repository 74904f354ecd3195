/*
 * wmetrics: the worker's metrics as a node_exporter textfile. The
 * worker is a single loop with no listener; a file rewritten every few
 * seconds (a temporary file renamed over the old one, so a reader never
 * sees half of it) needs no port, no thread and no new failure mode:
 * node_exporter's textfile collector, or any sidecar, serves it, and
 * its timestamp line shows a stuck worker. Counters count since this
 * process started (Prometheus sees a restart as a reset). Each worker
 * process needs its own file.
 *
 * Labels are bounded sets named in code: job kinds, deadline clocks,
 * outcomes. No ids and no personal data.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wmetrics.h"
#include "../common/db.h"
#include "../common/log.h"

#define WM_KINDS	5	/* the known kinds and "other" */
#define WM_BUCKETS	12
#define WM_CLOCKS	6

static const char	*wm_kinds[WM_KINDS] = {
	"referral.match", "referral.expire", "report.build", "ping", "other"
};
static const double	 wm_bounds[WM_BUCKETS] = {
	0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300
};
static const char	*wm_clocks[WM_CLOCKS] = {
	"offer_expiries", "offer_reminders", "referral_escalations", "tasks",
	"consents", "transfers"
};

#define WM_QUEUE_SQL \
	"SELECT kind, count(*) FILTER (WHERE state = 'pending'), " \
	"count(*) FILTER (WHERE state = 'pending' AND run_after <= now()), " \
	"count(*) FILTER (WHERE state = 'dead'), coalesce(extract(epoch " \
	"FROM now() - min(run_after) FILTER (WHERE state = 'pending' AND " \
	"run_after <= now())), 0)::float8 FROM jobs " \
	"WHERE state IN ('pending', 'dead') GROUP BY kind"

static u_int64_t	wm_jobs[WM_KINDS][2];		/* failed, done */
static u_int64_t	wm_hist[WM_KINDS][WM_BUCKETS];	/* not cumulative */
static u_int64_t	wm_count[WM_KINDS];
static double		wm_sum[WM_KINDS];
static u_int64_t	wm_whist[WM_KINDS][WM_BUCKETS];	/* waits */
static double		wm_wsum[WM_KINDS];
static u_int64_t	wm_clock[WM_CLOCKS];
static u_int64_t	wm_webhooks[2];			/* failed, delivered */
static time_t		wm_last;
static int		wm_failing;

static int	wm_kind(const char *);
static void	wm_queue(FILE *, PGconn *);

static int
wm_kind(const char *kind)
{
	int	i;

	for (i = 0; i < WM_KINDS - 1; i++)
		if (kind != NULL && strcmp(kind, wm_kinds[i]) == 0)
			return (i);
	return (WM_KINDS - 1);
}

void
wmetrics_job(const char *kind, int ok, u_int64_t ms, double wait)
{
	int	k, i;

	k = wm_kind(kind);
	wm_jobs[k][ok ? 1 : 0]++;
	wm_count[k]++;
	wm_sum[k] += (double)ms / 1000.0;
	for (i = 0; i < WM_BUCKETS; i++) {
		if ((double)ms / 1000.0 <= wm_bounds[i]) {
			wm_hist[k][i]++;
			break;
		}
	}
	wm_wsum[k] += wait;
	for (i = 0; i < WM_BUCKETS; i++) {
		if (wait <= wm_bounds[i]) {
			wm_whist[k][i]++;
			break;
		}
	}
}

void
wmetrics_deadlines(json_t *clocks)
{
	json_int_t	n;
	int		i;

	for (i = 0; i < WM_CLOCKS; i++) {
		n = json_integer_value(json_object_get(clocks, wm_clocks[i]));
		if (n > 0)
			wm_clock[i] += (u_int64_t)n;
	}
}

void
wmetrics_webhook(int delivered)
{
	__atomic_fetch_add(&wm_webhooks[delivered ? 1 : 0], 1,
	    __ATOMIC_RELAXED);
}

/* The queue by kind, from PostgreSQL; nothing when it cannot be read. */
static void
wm_queue(FILE *fp, PGconn *pg)
{
	PGresult	*r;
	char		 err[256];
	double		 age[WM_KINDS] = { 0 };
	long		 pending[WM_KINDS] = { 0 }, ready[WM_KINDS] = { 0 };
	long		 dead[WM_KINDS] = { 0 };
	int		 i, k;

	if (pg == NULL || PQstatus(pg) != CONNECTION_OK ||
	    PQtransactionStatus(pg) != PQTRANS_IDLE)
		return;
	if ((r = db_exec(pg, WM_QUEUE_SQL, 0, NULL, err, sizeof(err))) ==
	    NULL)
		return;
	for (i = 0; i < PQntuples(r); i++) {
		k = wm_kind(PQgetvalue(r, i, 0));
		pending[k] += atol(PQgetvalue(r, i, 1));
		ready[k] += atol(PQgetvalue(r, i, 2));
		dead[k] += atol(PQgetvalue(r, i, 3));
		if (atof(PQgetvalue(r, i, 4)) > age[k])
			age[k] = atof(PQgetvalue(r, i, 4));
	}
	PQclear(r);
	fprintf(fp, "# HELP concord_worker_queue_jobs Jobs in PostgreSQL by "
	    "kind and state: pending (all), ready (due now), dead.\n"
	    "# TYPE concord_worker_queue_jobs gauge\n");
	for (k = 0; k < WM_KINDS; k++)
		fprintf(fp, "concord_worker_queue_jobs{kind=\"%s\","
		    "state=\"pending\"} %ld\n"
		    "concord_worker_queue_jobs{kind=\"%s\",state=\"ready\"} "
		    "%ld\n"
		    "concord_worker_queue_jobs{kind=\"%s\",state=\"dead\"} "
		    "%ld\n", wm_kinds[k], pending[k], wm_kinds[k], ready[k],
		    wm_kinds[k], dead[k]);
	fprintf(fp, "# HELP concord_worker_queue_oldest_ready_seconds How "
	    "long the oldest due job has waited, by kind.\n"
	    "# TYPE concord_worker_queue_oldest_ready_seconds gauge\n");
	for (k = 0; k < WM_KINDS; k++)
		fprintf(fp, "concord_worker_queue_oldest_ready_seconds"
		    "{kind=\"%s\"} %.3f\n", wm_kinds[k], age[k]);
}

void
wmetrics_write(const struct concord_config *cfg, PGconn *pg, int force)
{
	FILE		*fp = NULL;
	char		 tmp[1100];
	time_t		 now;
	u_int64_t	 cum;
	int		 k, i, rc = -1;

	if (cfg->worker_metrics_path == NULL)
		return;
	now = time(NULL);
	if (!force && now - wm_last < WMETRICS_INTERVAL_S)
		return;
	wm_last = now;
	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", cfg->worker_metrics_path,
	    (long)getpid()) >= (int)sizeof(tmp))
		goto out;
	if ((fp = fopen(tmp, "w")) == NULL)
		goto out;
	fprintf(fp, "# HELP concord_worker_jobs_total Jobs this worker ran, "
	    "by kind and outcome (failed: retried later or dead).\n"
	    "# TYPE concord_worker_jobs_total counter\n");
	for (k = 0; k < WM_KINDS; k++)
		fprintf(fp, "concord_worker_jobs_total{kind=\"%s\","
		    "outcome=\"done\"} %llu\n"
		    "concord_worker_jobs_total{kind=\"%s\",outcome=\"failed\"} "
		    "%llu\n", wm_kinds[k], (unsigned long long)wm_jobs[k][1],
		    wm_kinds[k], (unsigned long long)wm_jobs[k][0]);
	fprintf(fp, "# HELP concord_worker_job_duration_seconds Run time of "
	    "a job, by kind (referral.match is matching latency, "
	    "report.build a report's run time).\n"
	    "# TYPE concord_worker_job_duration_seconds histogram\n");
	for (k = 0; k < WM_KINDS; k++) {
		cum = 0;
		for (i = 0; i < WM_BUCKETS; i++) {
			cum += wm_hist[k][i];
			fprintf(fp, "concord_worker_job_duration_seconds_bucket"
			    "{kind=\"%s\",le=\"%g\"} %llu\n", wm_kinds[k],
			    wm_bounds[i], (unsigned long long)cum);
		}
		fprintf(fp, "concord_worker_job_duration_seconds_bucket"
		    "{kind=\"%s\",le=\"+Inf\"} %llu\n"
		    "concord_worker_job_duration_seconds_sum{kind=\"%s\"} "
		    "%.3f\n"
		    "concord_worker_job_duration_seconds_count{kind=\"%s\"} "
		    "%llu\n", wm_kinds[k], (unsigned long long)wm_count[k],
		    wm_kinds[k], wm_sum[k], wm_kinds[k],
		    (unsigned long long)wm_count[k]);
	}
	fprintf(fp, "# HELP concord_worker_job_wait_seconds How long a job "
	    "waited between coming due and being claimed, by kind (for "
	    "referral.match, with its run time: the referral's time to its "
	    "offers).\n"
	    "# TYPE concord_worker_job_wait_seconds histogram\n");
	for (k = 0; k < WM_KINDS; k++) {
		cum = 0;
		for (i = 0; i < WM_BUCKETS; i++) {
			cum += wm_whist[k][i];
			fprintf(fp, "concord_worker_job_wait_seconds_bucket"
			    "{kind=\"%s\",le=\"%g\"} %llu\n", wm_kinds[k],
			    wm_bounds[i], (unsigned long long)cum);
		}
		fprintf(fp, "concord_worker_job_wait_seconds_bucket"
		    "{kind=\"%s\",le=\"+Inf\"} %llu\n"
		    "concord_worker_job_wait_seconds_sum{kind=\"%s\"} %.3f\n"
		    "concord_worker_job_wait_seconds_count{kind=\"%s\"} "
		    "%llu\n", wm_kinds[k], (unsigned long long)wm_count[k],
		    wm_kinds[k], wm_wsum[k], wm_kinds[k],
		    (unsigned long long)wm_count[k]);
	}
	fprintf(fp, "# HELP concord_worker_deadline_events_total Deadline "
	    "steps fired by this worker's sweeps, by clock (reminders, "
	    "escalations, expiries, notices).\n"
	    "# TYPE concord_worker_deadline_events_total counter\n");
	for (i = 0; i < WM_CLOCKS; i++)
		fprintf(fp, "concord_worker_deadline_events_total"
		    "{clock=\"%s\"} %llu\n", wm_clocks[i],
		    (unsigned long long)wm_clock[i]);
	fprintf(fp, "# HELP concord_worker_webhook_deliveries_total Webhook "
	    "delivery attempts, by outcome.\n"
	    "# TYPE concord_worker_webhook_deliveries_total counter\n"
	    "concord_worker_webhook_deliveries_total{outcome=\"delivered\"} "
	    "%llu\n"
	    "concord_worker_webhook_deliveries_total{outcome=\"failed\"} "
	    "%llu\n",
	    (unsigned long long)__atomic_load_n(&wm_webhooks[1],
	    __ATOMIC_RELAXED),
	    (unsigned long long)__atomic_load_n(&wm_webhooks[0],
	    __ATOMIC_RELAXED));
	wm_queue(fp, pg);
	fprintf(fp, "# HELP concord_worker_metrics_written_timestamp_seconds "
	    "When this file was written (a stale value: the loop is "
	    "stuck).\n"
	    "# TYPE concord_worker_metrics_written_timestamp_seconds gauge\n"
	    "concord_worker_metrics_written_timestamp_seconds %lld\n",
	    (long long)now);
	if (ferror(fp) || fclose(fp) != 0) {
		fp = NULL;
		unlink(tmp);
		goto out;
	}
	fp = NULL;
	if (rename(tmp, cfg->worker_metrics_path) == -1) {
		unlink(tmp);
		goto out;
	}
	wm_failing = 0;
	rc = 0;
out:
	if (fp != NULL) {
		fclose(fp);
		unlink(tmp);
	}
	if (rc == -1 && !wm_failing) {
		wm_failing = 1;
		concord_log(LOG_LVL_WARN, "metrics file not written",
		    json_pack("{s:s}", "error", strerror(errno)));
	}
}
