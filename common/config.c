/*
 * config: reads CONCORD_* variables with their documented defaults.
 * The README's configuration table mirrors concord_config_load().
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <libpq-fe.h>

#include "config.h"
#include "rds.h"

static char	*config_str(const char *, const char *);
static int	 config_int(const char *, long, long, long, long *);
static int	 config_deadlines(struct concord_config *, char *, size_t);
static int	 config_cors(struct concord_config *, char *, size_t);
static int	 config_ops(struct concord_config *, char *, size_t);
static int	 config_urls(struct concord_config *, char *, size_t);

/* The worker's clock settings: variable, default, range, where it goes. */
static const struct {
	const char	*name;
	long		 def, min, max;
	size_t		 off;
} config_dl[] = {
	{ "CONCORD_DEADLINE_SWEEP_SECONDS", 30, 1, 3600,
	    offsetof(struct concord_config, dl_sweep_s) },
	{ "CONCORD_OFFER_HOURS_EMERGENCY", 1, 1, 720,
	    offsetof(struct concord_config, dl_offer_hours[0]) },
	{ "CONCORD_OFFER_HOURS_URGENT", 24, 1, 720,
	    offsetof(struct concord_config, dl_offer_hours[1]) },
	{ "CONCORD_OFFER_HOURS_ROUTINE", 72, 1, 720,
	    offsetof(struct concord_config, dl_offer_hours[2]) },
	{ "CONCORD_OFFER_REMINDER_PERCENT", 50, 1, 99,
	    offsetof(struct concord_config, dl_offer_reminder_pct) },
	{ "CONCORD_OFFER_MAX_EXPIRIES", 3, 1, 100,
	    offsetof(struct concord_config, dl_offer_max_expiries) },
	{ "CONCORD_REFERRAL_ESCALATE_HOURS", 48, 1, 8760,
	    offsetof(struct concord_config, dl_escalate_hours) },
	{ "CONCORD_TASK_OVERDUE_HOURS", 24, 0, 8760,
	    offsetof(struct concord_config, dl_task_overdue_hours) },
	{ "CONCORD_CONSENT_NOTICE_DAYS", 14, 1, 365,
	    offsetof(struct concord_config, dl_consent_days) },
	{ "CONCORD_TRANSFER_REMIND_HOURS", 48, 1, 8760,
	    offsetof(struct concord_config, dl_transfer_hours) },
	{ "CONCORD_TRANSFER_ESCALATE_HOURS", 96, 1, 8760,
	    offsetof(struct concord_config, dl_transfer_escalate_hours) },
	{ "CONCORD_AGREEMENT_NOTICE_DAYS", 30, 1, 365,
	    offsetof(struct concord_config, dl_agreement_days) },
};

static char *
config_str(const char *name, const char *def)
{
	const char	*v;

	v = getenv(name);
	if (v == NULL || *v == '\0')
		v = def;
	if (v == NULL)
		return (NULL);
	return (strdup(v));
}

/* Returns 0 and sets *out, or -1 when the value is not an integer in range. */
static int
config_int(const char *name, long def, long min, long max, long *out)
{
	const char	*v;
	char		*end;
	long		 n;

	v = getenv(name);
	if (v == NULL || *v == '\0') {
		*out = def;
		return (0);
	}
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return (-1);
	*out = n;
	return (0);
}

/*
 * The clock settings (config_dl) and CONCORD_TASK_REMIND_DAYS, a comma
 * list of up to four day offsets, each 1..365, default "7,1". Returns 0,
 * or -1 naming the variable in err.
 */
static int
config_deadlines(struct concord_config *cfg, char *err, size_t elen)
{
	const char	*v;
	char		*end;
	size_t		 i;
	long		 n;

	for (i = 0; i < sizeof(config_dl) / sizeof(config_dl[0]); i++) {
		if (config_int(config_dl[i].name, config_dl[i].def,
		    config_dl[i].min, config_dl[i].max, &n) == -1) {
			snprintf(err, elen, "%s must be %ld..%ld",
			    config_dl[i].name, config_dl[i].min,
			    config_dl[i].max);
			return (-1);
		}
		*(int *)(void *)((char *)cfg + config_dl[i].off) = (int)n;
	}
	v = getenv("CONCORD_TASK_REMIND_DAYS");
	if (v == NULL || *v == '\0')
		v = "7,1";
	cfg->dl_task_ndays = 0;
	while (*v != '\0') {
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno != 0 || end == v || n < 1 || n > 365 ||
		    cfg->dl_task_ndays == 4 || (*end != ',' && *end != '\0')) {
			snprintf(err, elen, "CONCORD_TASK_REMIND_DAYS must list "
			    "up to 4 day offsets of 1..365, e.g. 7,1");
			return (-1);
		}
		cfg->dl_task_days[cfg->dl_task_ndays++] = (int)n;
		v = *end == ',' ? end + 1 : end;
	}
	return (0);
}

/*
 * CONCORD_CORS_ORIGINS: a comma list of browser origins allowed to call
 * the API, each scheme://host[:port] (http or https, no path, no
 * trailing slash; "*" and "null" are refused: the API takes bearer
 * tokens, so an origin is named, never wildcarded). Spaces around the
 * commas are dropped and the list is kept in lower case, as browsers
 * serialize origins. Unset or empty: CORS is off. Returns 0, or -1
 * with a message in err.
 */
static int
config_cors(struct concord_config *cfg, char *err, size_t elen)
{
	char		*p, *w, *start;
	size_t		 n;

	cfg->cors_origins = config_str("CONCORD_CORS_ORIGINS", NULL);
	if (cfg->cors_origins == NULL)
		return (0);
	/* Drop blanks and fold to lower case in place. */
	for (p = w = cfg->cors_origins; *p != '\0'; p++) {
		if (*p == ' ' || *p == '\t')
			continue;
		*w++ = (char)tolower((unsigned char)*p);
	}
	*w = '\0';
	if (cfg->cors_origins[0] == '\0') {
		free(cfg->cors_origins);
		cfg->cors_origins = NULL;
		return (0);
	}
	if (strlen(cfg->cors_origins) > 2048)
		goto bad;
	for (start = cfg->cors_origins; ; start = p + 1) {
		p = strchr(start, ',');
		n = p != NULL ? (size_t)(p - start) : strlen(start);
		if (n > 8 && strncmp(start, "https://", 8) == 0)
			w = start + 8;
		else if (n > 7 && strncmp(start, "http://", 7) == 0)
			w = start + 7;
		else
			goto bad;
		/* host[:port] or [v6]:port: no path, query, user or wildcard. */
		if (strspn(w, "abcdefghijklmnopqrstuvwxyz0123456789.-:[]") <
		    n - (size_t)(w - start) || *w == ':' || *w == '.')
			goto bad;
		if (p == NULL)
			break;
	}
	return (0);
bad:
	snprintf(err, elen, "CONCORD_CORS_ORIGINS must be a comma list of "
	    "origins, each http(s)://host[:port] without a path");
	return (-1);
}

/*
 * Settings of operations: the metrics token (16 to 256 visible ASCII
 * characters), the worker's metrics file, the drain bound, the JWKS
 * source and its refresh limit, the log level. Returns 0, or -1 with a
 * message in err.
 */
static int
config_ops(struct concord_config *cfg, char *err, size_t elen)
{
	const char	*levels[] = { "debug", "info", "warn", "error" };
	const char	*p;
	size_t		 i;
	long		 n;

	for (i = 0; i < 4; i++)
		if (strcmp(cfg->log_level, levels[i]) == 0)
			break;
	if (i == 4) {
		snprintf(err, elen, "CONCORD_LOG_LEVEL must be debug, info, "
		    "warn or error");
		return (-1);
	}
	cfg->metrics_token = config_str("CONCORD_METRICS_TOKEN", NULL);
	if (cfg->metrics_token != NULL) {
		for (p = cfg->metrics_token; *p > ' ' && *p < 0x7f; p++)
			;
		if (*p != '\0' || strlen(cfg->metrics_token) < 16 ||
		    strlen(cfg->metrics_token) > 256) {
			snprintf(err, elen, "CONCORD_METRICS_TOKEN must be 16 to "
			    "256 visible ASCII characters");
			return (-1);
		}
	}
	cfg->worker_metrics_path = config_str("CONCORD_WORKER_METRICS_FILE",
	    NULL);
	if (config_int("CONCORD_DRAIN_SECONDS", 20, 0, 600, &n) == -1) {
		snprintf(err, elen, "CONCORD_DRAIN_SECONDS must be 0..600");
		return (-1);
	}
	cfg->drain_seconds = (int)n;
	if (config_int("CONCORD_JWT_JWKS_REFRESH_SECONDS", 30, 1, 86400,
	    &n) == -1) {
		snprintf(err, elen, "CONCORD_JWT_JWKS_REFRESH_SECONDS must be "
		    "1..86400");
		return (-1);
	}
	cfg->jwt_jwks_refresh_s = (int)n;
	cfg->jwt_jwks_file = config_str("CONCORD_JWT_JWKS_FILE", NULL);
	cfg->jwt_jwks_url = config_str("CONCORD_JWT_JWKS_URL", NULL);
	if (cfg->jwt_jwks_url != NULL &&
	    strncmp(cfg->jwt_jwks_url, "https://", 8) != 0 &&
	    strncmp(cfg->jwt_jwks_url, "http://", 7) != 0) {
		snprintf(err, elen, "CONCORD_JWT_JWKS_URL must be an http(s) "
		    "URL");
		return (-1);
	}
	if (cfg->jwt_jwks_file != NULL && cfg->jwt_jwks_url != NULL) {
		snprintf(err, elen, "set CONCORD_JWT_JWKS_FILE or "
		    "CONCORD_JWT_JWKS_URL, not both");
		return (-1);
	}
	if (cfg->jwt_jwks_file != NULL && access(cfg->jwt_jwks_file, R_OK)
	    == -1) {
		snprintf(err, elen, "CONCORD_JWT_JWKS_FILE %s is not readable",
		    cfg->jwt_jwks_file);
		return (-1);
	}
	return (0);
}

/*
 * The connection strings must parse (libpq's own parser, both forms),
 * the Redis URL too, and every CONCORD_JWT_PUBLIC_KEYS file be
 * readable. Whether the servers answer is not checked here: that is an
 * outage, which the processes ride out. Returns 0, or -1 with a message
 * naming the variable (never its value: it may hold a password).
 */
static int
config_urls(struct concord_config *cfg, char *err, size_t elen)
{
	struct rds_url		 u;
	PQconninfoOption	*o;
	char			*perr = NULL, *list = NULL, *item, *save, *eq;
	char			 why[128];
	int			 rc = -1;

	if ((o = PQconninfoParse(cfg->database_url, &perr)) == NULL) {
		snprintf(err, elen, "CONCORD_DATABASE_URL is not a valid "
		    "PostgreSQL connection string");
		goto out;
	}
	PQconninfoFree(o);
	if ((o = PQconninfoParse(cfg->worker_database_url, &perr)) == NULL) {
		snprintf(err, elen, "CONCORD_WORKER_DATABASE_URL is not a valid "
		    "PostgreSQL connection string");
		goto out;
	}
	PQconninfoFree(o);
	if (rds_url_parse(cfg->redis_url, &u, why, sizeof(why)) == -1) {
		snprintf(err, elen, "CONCORD_REDIS_URL is not a usable "
		    "redis://[:password@]host:port[/db] URL: %s", why);
		explicit_bzero(&u, sizeof(u));
		goto out;
	}
	explicit_bzero(&u, sizeof(u));
	if (cfg->jwt_public_keys != NULL) {
		if ((list = strdup(cfg->jwt_public_keys)) == NULL) {
			snprintf(err, elen, "out of memory");
			goto out;
		}
		for (item = strtok_r(list, ",", &save); item != NULL;
		    item = strtok_r(NULL, ",", &save)) {
			if ((eq = strchr(item, '=')) == NULL || eq == item ||
			    eq[1] == '\0') {
				snprintf(err, elen, "CONCORD_JWT_PUBLIC_KEYS must "
				    "be kid=path[,kid=path...]");
				goto out;
			}
			if (access(eq + 1, R_OK) == -1) {
				snprintf(err, elen, "CONCORD_JWT_PUBLIC_KEYS: the "
				    "key file for kid %.*s is not readable",
				    (int)(eq - item), item);
				goto out;
			}
		}
	}
	rc = 0;
out:
	free(list);
	if (perr != NULL)
		PQfreemem(perr);
	return (rc);
}

int
concord_config_split_listen(const char *s, char *host, size_t hlen,
    char *port, size_t plen)
{
	const char	*colon, *h, *p;
	size_t		 n;

	if (s == NULL || *s == '\0')
		return (-1);
	if (*s == '[') {
		if ((colon = strstr(s, "]:")) == NULL)
			return (-1);
		h = s + 1;
		n = (size_t)(colon - h);
		p = colon + 2;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return (-1);
		h = s;
		n = (size_t)(colon - s);
		p = colon + 1;
	}
	if (n == 0 || n >= hlen || *p == '\0' || strlen(p) >= plen)
		return (-1);
	if (strspn(p, "0123456789") != strlen(p) || atoi(p) < 1 ||
	    atoi(p) > 65535)
		return (-1);
	memcpy(host, h, n);
	host[n] = '\0';
	snprintf(port, plen, "%s", p);
	return (0);
}

int
concord_config_load(struct concord_config *cfg, char *err, size_t elen)
{
	char	*listen, *p;
	long	 n;
	int	 rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	listen = config_str("CONCORD_LISTEN", "127.0.0.1:8080");
	if (concord_config_split_listen(listen, cfg->listen_host,
	    sizeof(cfg->listen_host), cfg->listen_port,
	    sizeof(cfg->listen_port)) == -1) {
		snprintf(err, elen, "CONCORD_LISTEN must be host:port");
		goto out;
	}
	if (config_int("CONCORD_WORKERS", 2, 1, 64, &n) == -1) {
		snprintf(err, elen, "CONCORD_WORKERS must be 1..64");
		goto out;
	}
	cfg->workers = (int)n;
	if (config_int("CONCORD_DB_POOL", 16, 1, 500, &n) == -1) {
		snprintf(err, elen, "CONCORD_DB_POOL must be 1..500");
		goto out;
	}
	cfg->db_pool = (int)n;
	if (config_int("CONCORD_DB_QUEUE_TIMEOUT_MS", 2000, 1, 600000,
	    &n) == -1) {
		snprintf(err, elen,
		    "CONCORD_DB_QUEUE_TIMEOUT_MS must be 1..600000");
		goto out;
	}
	cfg->db_queue_timeout_ms = (int)n;
	if (config_int("CONCORD_DB_CONNECT_TIMEOUT_MS", 2000, 50, 600000,
	    &n) == -1) {
		snprintf(err, elen,
		    "CONCORD_DB_CONNECT_TIMEOUT_MS must be 50..600000");
		goto out;
	}
	cfg->db_connect_timeout_ms = (int)n;
	if (config_int("CONCORD_DB_STATEMENT_TIMEOUT_MS", 5000, 100, 600000,
	    &n) == -1) {
		snprintf(err, elen, "CONCORD_DB_STATEMENT_TIMEOUT_MS must be "
		    "100..600000");
		goto out;
	}
	cfg->db_statement_ms = (int)n;
	if (config_int("CONCORD_DB_LOCK_TIMEOUT_MS", 2000, 10, 600000,
	    &n) == -1) {
		snprintf(err, elen, "CONCORD_DB_LOCK_TIMEOUT_MS must be "
		    "10..600000");
		goto out;
	}
	cfg->db_lock_ms = (int)n;
	if (config_int("CONCORD_JWT_LEEWAY", 30, 0, 600, &n) == -1) {
		snprintf(err, elen, "CONCORD_JWT_LEEWAY must be 0..600 seconds");
		goto out;
	}
	cfg->jwt_leeway = (int)n;
	if (config_int("CONCORD_BODY_MAX", 1048576, 1024, 16777216, &n) == -1) {
		snprintf(err, elen, "CONCORD_BODY_MAX must be 1024..16777216");
		goto out;
	}
	cfg->body_max = (size_t)n;
	if (config_int("CONCORD_JOB_MAX_ATTEMPTS", 5, 1, 100, &n) == -1) {
		snprintf(err, elen, "CONCORD_JOB_MAX_ATTEMPTS must be 1..100");
		goto out;
	}
	cfg->job_max_attempts = (int)n;
	if (config_int("CONCORD_JOB_CLAIM_SECONDS", 30, 1, 3600, &n) == -1) {
		snprintf(err, elen, "CONCORD_JOB_CLAIM_SECONDS must be 1..3600");
		goto out;
	}
	cfg->job_claim_seconds = (int)n;
	if (config_int("CONCORD_WORKER_STATEMENT_TIMEOUT_MS", 30000, 100,
	    3600000, &n) == -1) {
		snprintf(err, elen, "CONCORD_WORKER_STATEMENT_TIMEOUT_MS must be "
		    "100..3600000");
		goto out;
	}
	cfg->worker_statement_ms = (int)n;
	if (config_int("CONCORD_AUDIT_SEAL_MS", 1000, 50, 60000, &n) == -1) {
		snprintf(err, elen, "CONCORD_AUDIT_SEAL_MS must be 50..60000");
		goto out;
	}
	cfg->audit_seal_ms = (int)n;
	if (config_int("CONCORD_AUDIT_SEAL_MAX_AGE", 60, 1, 86400, &n) == -1) {
		snprintf(err, elen, "CONCORD_AUDIT_SEAL_MAX_AGE must be "
		    "1..86400 seconds");
		goto out;
	}
	cfg->audit_seal_max_age = (int)n;
	if (config_int("CONCORD_DEBUG_ROUTES", 0, 0, 1, &n) == -1) {
		snprintf(err, elen, "CONCORD_DEBUG_ROUTES must be 0 or 1");
		goto out;
	}
	cfg->debug_routes = (int)n;
	if (config_int("CONCORD_PUBLIC", 0, 0, 1, &n) == -1) {
		snprintf(err, elen, "CONCORD_PUBLIC must be 0 or 1");
		goto out;
	}
	cfg->public_routes = (int)n;
	if (config_int("CONCORD_WEBHOOK_ALLOW_HTTP", 0, 0, 1, &n) == -1) {
		snprintf(err, elen, "CONCORD_WEBHOOK_ALLOW_HTTP must be 0 or 1");
		goto out;
	}
	cfg->webhook_allow_http = (int)n;
	if (config_int("CONCORD_WEBHOOK_ALLOW_PRIVATE", 0, 0, 1, &n) == -1) {
		snprintf(err, elen, "CONCORD_WEBHOOK_ALLOW_PRIVATE must be 0 or 1");
		goto out;
	}
	cfg->webhook_allow_private = (int)n;
	if (config_int("CONCORD_WEBHOOK_ROTATE_GRACE_S", 86400, 0, 2592000,
	    &n) == -1) {
		snprintf(err, elen, "CONCORD_WEBHOOK_ROTATE_GRACE_S must be "
		    "0..2592000 seconds");
		goto out;
	}
	cfg->webhook_rotate_grace_s = (int)n;
	if (config_deadlines(cfg, err, elen) == -1)
		goto out;
	if (config_int("CONCORD_RATE_LIMIT_SUB", 1200, 0, 1000000000,
	    &n) == -1) {
		snprintf(err, elen, "CONCORD_RATE_LIMIT_SUB must be "
		    "0..1000000000 requests a minute");
		goto out;
	}
	cfg->rate_limit_sub = (int)n;
	if (config_int("CONCORD_RATE_LIMIT_ADDR", 2400, 0, 1000000000,
	    &n) == -1) {
		snprintf(err, elen, "CONCORD_RATE_LIMIT_ADDR must be "
		    "0..1000000000 requests a minute");
		goto out;
	}
	cfg->rate_limit_addr = (int)n;
	if (config_int("CONCORD_RATE_LIMIT_REFERRALS", 60, 0, 1000000000,
	    &n) == -1) {
		snprintf(err, elen, "CONCORD_RATE_LIMIT_REFERRALS must be "
		    "0..1000000000 requests a minute");
		goto out;
	}
	cfg->rate_limit_referrals = (int)n;
	if (config_int("CONCORD_RATE_LIMIT_AUTH_FAILURES", 30, 0, 1000000000,
	    &n) == -1) {
		snprintf(err, elen, "CONCORD_RATE_LIMIT_AUTH_FAILURES must be "
		    "0..1000000000 failures a minute");
		goto out;
	}
	cfg->rate_limit_auth_failures = (int)n;
	if (config_int("CONCORD_REPORT_TIMEOUT_S", 60, 1, 3600, &n) == -1) {
		snprintf(err, elen, "CONCORD_REPORT_TIMEOUT_S must be 1..3600");
		goto out;
	}
	cfg->report_timeout_s = (int)n;
	if (config_int("CONCORD_REPORT_SUPPRESS_MAX", 10, 1, 1000, &n) == -1) {
		snprintf(err, elen, "CONCORD_REPORT_SUPPRESS_MAX must be 1..1000");
		goto out;
	}
	cfg->report_suppress_max = (int)n;
	if (config_int("CONCORD_REPORT_SUPPRESS_SECONDS", 20, 0, 3600, &n) ==
	    -1) {
		snprintf(err, elen, "CONCORD_REPORT_SUPPRESS_SECONDS must be "
		    "0..3600");
		goto out;
	}
	cfg->report_suppress_seconds = (int)n;

	cfg->database_url = config_str("CONCORD_DATABASE_URL",
	    "postgresql://concord_api@127.0.0.1:55432/concord");
	cfg->worker_database_url = config_str("CONCORD_WORKER_DATABASE_URL",
	    cfg->database_url);
	cfg->redis_url = config_str("CONCORD_REDIS_URL",
	    "redis://127.0.0.1:56379/0");
	cfg->jwt_hs256_secret = config_str("CONCORD_JWT_HS256_SECRET", NULL);
	cfg->jwt_hs256_kid = config_str("CONCORD_JWT_HS256_KID", "hs256");
	cfg->jwt_public_keys = config_str("CONCORD_JWT_PUBLIC_KEYS", NULL);
	cfg->jwt_issuer = config_str("CONCORD_JWT_ISSUER", "concord");
	cfg->jwt_audience = config_str("CONCORD_JWT_AUDIENCE", "concord-api");
	cfg->log_level = config_str("CONCORD_LOG_LEVEL", "info");
	cfg->heartbeat_path = config_str("CONCORD_WORKER_HEARTBEAT", NULL);
	cfg->openapi_path = config_str("CONCORD_OPENAPI_PATH",
	    "openapi/openapi.yaml");
	cfg->majority_languages = config_str("CONCORD_MAJORITY_LANGUAGES",
	    "en");
	if (strlen(cfg->majority_languages) > 64 ||
	    strspn(cfg->majority_languages, "abcdefghijklmnopqrstuvwxyz,") !=
	    strlen(cfg->majority_languages)) {
		snprintf(err, elen, "CONCORD_MAJORITY_LANGUAGES is a comma "
		    "list of lower-case primary language subtags");
		goto out;
	}
	cfg->data_key = config_str("CONCORD_DATA_KEY", NULL);
	/* It travels in a libpq options string: keep it to safe bytes. */
	if (cfg->data_key != NULL && (strlen(cfg->data_key) < 32 ||
	    strlen(cfg->data_key) > 256 || strspn(cfg->data_key,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
	    != strlen(cfg->data_key))) {
		snprintf(err, elen, "CONCORD_DATA_KEY must be 32 to 256 "
		    "characters of A-Za-z0-9-_.");
		goto out;
	}
	cfg->client_ip_header = config_str("CONCORD_CLIENT_IP_HEADER", NULL);
	if (cfg->client_ip_header != NULL) {
		for (p = cfg->client_ip_header; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		if (strlen(cfg->client_ip_header) > 64 ||
		    strspn(cfg->client_ip_header,
		    "abcdefghijklmnopqrstuvwxyz0123456789-_") !=
		    strlen(cfg->client_ip_header)) {
			snprintf(err, elen, "CONCORD_CLIENT_IP_HEADER must be "
			    "a header name (A-Za-z0-9-_, at most 64)");
			goto out;
		}
	}
	if (config_cors(cfg, err, elen) == -1)
		goto out;
	if (config_ops(cfg, err, elen) == -1 ||
	    config_urls(cfg, err, elen) == -1)
		goto out;
	if (cfg->jwt_hs256_secret != NULL &&
	    strlen(cfg->jwt_hs256_secret) < 32) {
		snprintf(err, elen,
		    "CONCORD_JWT_HS256_SECRET must be at least 32 bytes");
		goto out;
	}
	rc = 0;
out:
	free(listen);
	return (rc);
}

void
concord_config_cleanup(struct concord_config *cfg)
{
	free(cfg->database_url);
	free(cfg->worker_database_url);
	free(cfg->redis_url);
	if (cfg->jwt_hs256_secret != NULL) {
		explicit_bzero(cfg->jwt_hs256_secret,
		    strlen(cfg->jwt_hs256_secret));
		free(cfg->jwt_hs256_secret);
	}
	free(cfg->jwt_hs256_kid);
	free(cfg->jwt_public_keys);
	free(cfg->jwt_issuer);
	free(cfg->jwt_audience);
	free(cfg->log_level);
	free(cfg->heartbeat_path);
	free(cfg->openapi_path);
	free(cfg->majority_languages);
	free(cfg->client_ip_header);
	free(cfg->cors_origins);
	if (cfg->metrics_token != NULL) {
		explicit_bzero(cfg->metrics_token, strlen(cfg->metrics_token));
		free(cfg->metrics_token);
	}
	free(cfg->worker_metrics_path);
	free(cfg->jwt_jwks_file);
	free(cfg->jwt_jwks_url);
	if (cfg->data_key != NULL) {
		explicit_bzero(cfg->data_key, strlen(cfg->data_key));
		free(cfg->data_key);
	}
	memset(cfg, 0, sizeof(*cfg));
}
