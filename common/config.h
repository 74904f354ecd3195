/*
 * config: Concord's runtime configuration, read once from CONCORD_*
 * environment variables. Shared by the API module, the worker and the
 * admin command so that every process agrees on names and defaults.
 */
#ifndef CONCORD_CONFIG_H
#define CONCORD_CONFIG_H

#include <stddef.h>

#define CONCORD_WUR	__attribute__((warn_unused_result))

struct concord_config {
	char	listen_host[256];	/* from CONCORD_LISTEN */
	char	listen_port[16];
	int	workers;		/* Kore worker processes */
	int	db_pool;		/* pgsql connections per Kore worker */
	int	db_queue_timeout_ms;	/* longest wait for a pooled connection */
	int	db_connect_timeout_ms;	/* API: longest wait to open one */
	int	db_statement_ms;	/* API statement_timeout */
	int	db_lock_ms;		/* API lock_timeout */
	char	*database_url;		/* libpq DSN or URI */
	char	*worker_database_url;	/* the worker's role; default database_url */
	char	*redis_url;		/* redis://host:port[/db] */
	char	*jwt_hs256_secret;	/* may be NULL */
	char	*jwt_hs256_kid;		/* kid the secret answers to */
	char	*jwt_public_keys;	/* "kid=path,kid=path" or NULL */
	char	*jwt_issuer;
	char	*jwt_audience;
	int	jwt_leeway;		/* seconds of clock skew allowed */
	size_t	body_max;		/* largest request body accepted */
	char	*log_level;		/* debug, info, warn, error */
	char	*heartbeat_path;	/* worker liveness file */
	int	job_max_attempts;	/* worker: attempts before dead */
	int	job_claim_seconds;	/* worker: a stalled job's claim ends */
	int	worker_statement_ms;	/* worker: statement_timeout */
	int	audit_seal_ms;		/* worker: sealing interval */
	int	audit_seal_max_age;	/* worker: backlog bound, seconds */
	int	debug_routes;		/* CONCORD_DEBUG_ROUTES=1: test-only routes */
	int	public_routes;		/* CONCORD_PUBLIC=1: /public/v1/ routes */
	char	*openapi_path;		/* served at /openapi.yaml */
	char	*majority_languages;	/* worker: "en,es" primary subtags */
	int	report_timeout_s;	/* worker: a report's statement bound */
	int	report_suppress_max;	/* reports: counts 1..this are hidden */
	int	report_suppress_seconds; /* worker: CPU bound of suppression */
	char	*data_key;		/* personal-data key or NULL; secret */
	/* Worker clocks (passed to SQL, see sql/code/deadlines.sql). */
	int	dl_sweep_s;		/* seconds between deadline sweeps */
	int	dl_offer_hours[3];	/* window: emergency, urgent, routine */
	int	dl_offer_reminder_pct;	/* share of the window, then remind */
	int	dl_offer_max_expiries;	/* expiries before escalating */
	int	dl_escalate_hours;	/* unaccepted referral escalates */
	int	dl_task_days[4];	/* reminder offsets before due, days */
	int	dl_task_ndays;
	int	dl_task_overdue_hours;	/* overdue notice after due */
	int	dl_consent_days;	/* consent expiry notice */
	int	dl_transfer_hours;	/* pending transfer: remind receiver */
	int	dl_transfer_escalate_hours; /* then tell coordinators */
	int	dl_agreement_days;	/* agreement expiry notice */
	int	rate_limit_sub;		/* requests/min per token subject; 0 off */
	int	rate_limit_addr;	/* requests/min per client address; 0 off */
	int	rate_limit_referrals;	/* POST /v1/referrals/min per subject */
	int	rate_limit_auth_failures; /* 401s/min per client address */
	char	*client_ip_header;	/* lower-case header name or NULL: peer */
	char	*cors_origins;		/* "https://a,https://b" lower case, or NULL: off */
	/* Outbound webhooks (api/webhooks.c, worker/webhook.c). */
	int	webhook_allow_http;	/* 1: http:// targets too (local use) */
	int	webhook_allow_private;	/* 1: loopback/private targets too */
	int	webhook_rotate_grace_s;	/* old secret stays valid this long */
	/* Operations (api/metrics.c, worker/wmetrics.c, api/drain.c). */
	char	*metrics_token;		/* GET /metrics bearer token; NULL: off */
	char	*worker_metrics_path;	/* worker's textfile; NULL: off */
	int	drain_seconds;		/* SIGTERM: bound on in-flight work */
	char	*jwt_jwks_file;		/* JWKS file, re-read on change */
	char	*jwt_jwks_url;		/* JWKS over HTTP(S) */
	int	jwt_jwks_refresh_s;	/* unknown kid: at most one re-read per */
};

/*
 * Fill cfg from the environment. Returns 0 on success, -1 with a
 * message in errbuf when a variable holds a value that cannot be used
 * (for example CONCORD_LISTEN without a port). Strings are heap copies
 * owned by cfg; release them with concord_config_cleanup().
 */
int	concord_config_load(struct concord_config *, char *, size_t) CONCORD_WUR;
void	concord_config_cleanup(struct concord_config *);

/*
 * Split "host:port" (or "[v6]:port") into its parts. Returns 0 or -1.
 */
int	concord_config_split_listen(const char *, char *, size_t,
	    char *, size_t) CONCORD_WUR;

#endif
