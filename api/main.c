/*
 * main: the Kore module's life cycle. Configuration is read once in the
 * parent (kore_parent_configure), before seccomp and before the workers
 * fork, so every worker inherits the same settings, keys and listener.
 * Module statics are not rebuilt on SIGHUP: restart the process instead.
 */
#include <kore/kore.h>
#include <kore/http.h>
#include <kore/seccomp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "ratelimit.h"
#include "metrics.h"
#include "drain.h"
#include "jwks.h"
#include "rconn.h"
#include "../common/log.h"

struct concord_config	api_cfg;
struct auth_keyset	api_keys;
static char		*openapi_doc;
static size_t		 openapi_len;
static char		*docs_doc;
static size_t		 docs_len;
static char		*docs_csp;

void	kore_parent_configure(int, char **);
void	kore_worker_configure(void);
static void	openapi_load(void);
static char	*file_load(const char *, size_t *);
static void	docs_load(void);
static char	*api_dsn_with_key(const char *, const char *);

/* Keep the contract in memory; absent file = 404 at /openapi.yaml. */
static void
openapi_load(void)
{
	FILE	*fp;
	long	 sz;

	if ((fp = fopen(api_cfg.openapi_path, "r")) == NULL)
		return;
	if (fseek(fp, 0, SEEK_END) == 0 && (sz = ftell(fp)) > 0 &&
	    fseek(fp, 0, SEEK_SET) == 0) {
		openapi_doc = kore_malloc((size_t)sz);
		openapi_len = fread(openapi_doc, 1, (size_t)sz, fp);
	}
	fclose(fp);
}

/* A whole file in memory (NUL-terminated), or NULL. */
static char *
file_load(const char *path, size_t *len)
{
	FILE	*fp;
	long	 sz;
	char	*buf = NULL;

	*len = 0;
	if ((fp = fopen(path, "r")) == NULL)
		return (NULL);
	if (fseek(fp, 0, SEEK_END) == 0 && (sz = ftell(fp)) > 0 &&
	    fseek(fp, 0, SEEK_SET) == 0) {
		buf = kore_malloc((size_t)sz + 1);
		*len = fread(buf, 1, (size_t)sz, fp);
		buf[*len] = '\0';
	}
	fclose(fp);
	return (buf);
}

/*
 * The API reference (make docs: openapi/docs.py writes the page and the
 * Content-Security-Policy it needs, one line). CONCORD_DOCS_PATH names
 * the page (default build/docs.html), its policy is beside it with
 * .csp for .html. Either absent = 404 at /docs.
 */
static void
docs_load(void)
{
	const char	*path;
	char		 csp_path[1024];
	size_t		 n, len;

	if ((path = getenv("CONCORD_DOCS_PATH")) == NULL || *path == '\0')
		path = "build/docs.html";
	n = strlen(path);
	if (n < 5 || n >= sizeof(csp_path) || strcmp(path + n - 5, ".html") != 0)
		return;
	snprintf(csp_path, sizeof(csp_path), "%.*s.csp", (int)(n - 5), path);
	if ((docs_csp = file_load(csp_path, &len)) == NULL)
		return;
	docs_csp[strcspn(docs_csp, "\r\n")] = '\0';
	if ((docs_doc = file_load(path, &docs_len)) == NULL) {
		kore_free(docs_csp);
		docs_csp = NULL;
	}
}

/*
 * The API's DSN with its session settings: the personal-data key
 * (concord.data_key, read by SQL through current_setting, so the key
 * never appears in SQL text) and the bounds on every wait: statement
 * and lock timeouts (a timed-out call answers 503 with Retry-After, see
 * dbcall.c) and the idle-in-transaction limit. Handles both libpq
 * forms: a URI gets an options query parameter, a keyword/value string
 * an options word. The key holds only [A-Za-z0-9-_.] (config.c), so
 * needs no quoting. Returns a kore_malloc'd string; can't fail.
 */
static char *
api_dsn_with_key(const char *dsn, const char *key)
{
	char		*out, *esc, *o, opts[256];
	const char	*s;
	size_t		 len;

	snprintf(opts, sizeof(opts), "-c concord.data_key=%s "
	    "-c statement_timeout=%d -c lock_timeout=%d "
	    "-c idle_in_transaction_session_timeout=%d", key,
	    api_cfg.db_statement_ms, api_cfg.db_lock_ms,
	    api_cfg.db_statement_ms * 2);
	len = strlen(dsn) + 3 * strlen(opts) + 64;
	out = kore_malloc(len);
	if (strstr(dsn, "://") != NULL) {
		/* In a URI the spaces and '=' of the options are escaped. */
		esc = kore_malloc(3 * strlen(opts) + 1);
		for (s = opts, o = esc; *s != '\0'; s++) {
			if (*s == ' ') {
				memcpy(o, "%20", 3);
				o += 3;
			} else if (*s == '=') {
				memcpy(o, "%3D", 3);
				o += 3;
			} else
				*o++ = *s;
		}
		*o = '\0';
		snprintf(out, len, "%s%soptions=%s", dsn,
		    strchr(dsn, '?') != NULL ? "&" : "?", esc);
		explicit_bzero(esc, strlen(esc));
		kore_free(esc);
	} else {
		snprintf(out, len, "%s options='%s'", dsn, opts);
	}
	explicit_bzero(opts, sizeof(opts));
	return (out);
}

int
api_openapi(struct http_request *req, struct api_call *c)
{
	(void)c;
	if (openapi_doc == NULL)
		return (api_problem(req, 404, "not-found", NULL,
		    "The contract file was not found.", NULL));
	return (api_respond(req, 200, "application/yaml", openapi_doc,
	    openapi_len));
}

/* The reference page; its policy admits nothing but what it carries. */
int
api_docs(struct http_request *req, struct api_call *c)
{
	if (docs_doc == NULL)
		return (api_problem(req, 404, "not-found", NULL,
		    "The API reference was not built (make docs).", NULL));
	/* Its own policy replaces the API's; api_respond adds the rest. */
	http_response_header(req, "content-security-policy", docs_csp);
	if (c != NULL)
		c->own_csp = 1;
	return (api_respond(req, 200, "text/html; charset=utf-8", docs_doc,
	    docs_len));
}

/*
 * The public face (ROUTE_OPEN): served only with CONCORD_PUBLIC=1, else
 * 404 as if the path did not exist. Runs the route's SQL function.
 */
int
api_public(struct http_request *req, struct api_call *c)
{
	if (!api_cfg.public_routes)
		return (api_problem(req, 404, "not-found", NULL,
		    "No resource lives at this path.", NULL));
	return (api_db_call(req, c, c->route->sqlfn));
}

int
api_debug_sleep(struct http_request *req, struct api_call *c)
{
	if (!api_cfg.debug_routes)
		return (api_problem(req, 404, "not-found", NULL,
		    "No resource lives at this path.", NULL));
	return (api_db_call(req, c, "debug_sleep"));
}

/*
 * glibc's stat and libpq's GSSAPI probing use syscalls Kore's worker
 * filter lacks; the Redis link (rconn.c) needs a socket of its own.
 */
KORE_SECCOMP_FILTER("concord",
	KORE_SYSCALL_ALLOW(newfstatat),
	KORE_SYSCALL_ALLOW(getdents64),
	KORE_SYSCALL_ALLOW(socket),
	KORE_SYSCALL_ALLOW(connect),
	KORE_SYSCALL_ALLOW(getsockopt),
	KORE_SYSCALL_ALLOW(getsockname),
	KORE_SYSCALL_ALLOW(getpeername),
	KORE_SYSCALL_ALLOW(shutdown),
	KORE_SYSCALL_ALLOW(sendmsg),
	KORE_SYSCALL_ALLOW(recvmsg),
	KORE_SYSCALL_ALLOW(select),
	KORE_SYSCALL_ALLOW(pselect6),
	KORE_SYSCALL_ALLOW(uname),
	KORE_SYSCALL_ALLOW(sysinfo),
	KORE_SYSCALL_ALLOW(rt_sigaction),
);

void
kore_parent_configure(int argc, char **argv)
{
	struct kore_server	*srv;
	char			 err[256];
	char			*dsn;

	(void)argc;
	(void)argv;

	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stderr, NULL, _IOLBF, 0);
	if (concord_config_load(&api_cfg, err, sizeof(err)) == -1)
		fatal("configuration: %s", err);
	concord_log_init("api", api_cfg.log_level);
	if (auth_keyset_load(&api_keys, &api_cfg, err, sizeof(err)) == -1)
		fatal("configuration: %s", err);
	jwks_parent_init();

	/* libpq must not probe GSSAPI: it needs syscalls seccomp denies. */
	setenv("PGGSSENCMODE", "disable", 1);

	if ((srv = kore_server_lookup("concord")) == NULL)
		fatal("kore.conf must declare server concord");
	if (!kore_server_bind(srv, api_cfg.listen_host, api_cfg.listen_port,
	    NULL))
		fatal("cannot listen on %s:%s", api_cfg.listen_host,
		    api_cfg.listen_port);

	worker_count = (u_int8_t)api_cfg.workers;
	/*
	 * Kore itself refuses bodies above 4x our limit with a bare 413;
	 * between the two we answer a problem+json 413 (router.c).
	 */
	http_body_max = api_cfg.body_max * 4;
	openapi_load();
	docs_load();
	metrics_init();
	if (api_cfg.data_key == NULL)
		fatal("configuration: CONCORD_DATA_KEY is required");
	dsn = api_dsn_with_key(api_cfg.database_url, api_cfg.data_key);
	/*
	 * PostgreSQL ends a statement at statement_timeout and answers;
	 * no answer API_DB_REPLY_GRACE_MS after that: the server is gone.
	 */
	pgpool_configure(dsn, api_cfg.db_pool, api_cfg.db_queue_timeout_ms,
	    api_cfg.db_connect_timeout_ms,
	    api_cfg.db_statement_ms + API_DB_REPLY_GRACE_MS);
	api_db_configure();
	/* The pool keeps its own copy of the connection string. */
	explicit_bzero(dsn, strlen(dsn));
	kore_free(dsn);

	concord_log(LOG_LVL_INFO, "api configured", json_pack(
	    "{s:s, s:s, s:i, s:i, s:i, s:i, s:{s:i, s:i, s:i, s:i, s:s}}",
	    "listen_host", api_cfg.listen_host,
	    "listen_port", api_cfg.listen_port, "workers", api_cfg.workers,
	    "db_pool", api_cfg.db_pool, "db_queue_timeout_ms",
	    api_cfg.db_queue_timeout_ms, "db_connect_timeout_ms",
	    api_cfg.db_connect_timeout_ms, "rate_limits",
	    "sub", api_cfg.rate_limit_sub, "addr", api_cfg.rate_limit_addr,
	    "referrals", api_cfg.rate_limit_referrals, "auth_failures",
	    api_cfg.rate_limit_auth_failures, "client_ip_header",
	    api_cfg.client_ip_header != NULL ? api_cfg.client_ip_header :
	    ""));
}

/*
 * Per worker: the Redis link lives in this worker's event loop. A bad
 * URL is logged by rconn and leaves the link down (/readyz says so).
 */
void
kore_worker_configure(void)
{
	concord_log_init("api", api_cfg.log_level);
	ratelimit_start();
	metrics_worker_start();
	drain_start();
	jwks_worker_start();
	if (rconn_start(api_cfg.redis_url, api_readyz_wake) == -1)
		return;
}
