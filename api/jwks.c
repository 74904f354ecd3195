/*
 * jwks: signing keys that rotate without a restart, from a JWK Set.
 *
 * CONCORD_JWT_JWKS_FILE names a file each Kore worker checks once a
 * second (stat: inode, size, mtime) and re-reads when it changed; a
 * token whose kid no key answers to also makes the worker look again,
 * at most once per CONCORD_JWT_JWKS_REFRESH_SECONDS. The file is small
 * and local, so reading it does not hold the event loop up.
 *
 * CONCORD_JWT_JWKS_URL is fetched over HTTP(S) with libcurl, but never
 * on a Kore worker's event loop (a blocking transfer would stall every
 * request of that worker, and the workers' seccomp filter is not made
 * for name resolution). The parent fetches it once before the workers
 * fork (so they start with the keys, bounded by JWKS_TIMEOUT_S), then
 * forks one small fetcher process that fetches it again every
 * JWKS_PERIOD_S, and sooner when a worker met an unknown kid (a byte on
 * a pipe; at most once per CONCORD_JWT_JWKS_REFRESH_SECONDS). The
 * fetcher writes the set to a private file (written aside, renamed),
 * which the workers watch as above. It dies with the parent. A fetch
 * that fails keeps the keys held.
 *
 * Keys are pinned to one algorithm by their kty (RSA: RS256, EC P-256:
 * ES256) and the JWK's alg when it names one (common/auth.c).
 */
#include <sys/prctl.h>
#include <sys/stat.h>

#include <kore/kore.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api.h"
#include "authcache.h"
#include "jwks.h"
#include "../common/log.h"

#define JWKS_MAX	(1 << 20)	/* largest set accepted */
#define JWKS_TICK_MS	1000
#define JWKS_TIMEOUT_S	5		/* one fetch, all included */
#define JWKS_PERIOD_S	300		/* the fetcher's regular refresh */

struct jwks_buf {
	char	*data;
	size_t	 len;
};

static char		*jwks_path;	/* the file workers watch */
static char		 jwks_dir[64];	/* the fetcher's private folder */
static int		 jwks_pipe[2] = { -1, -1 };
static volatile sig_atomic_t jwks_stop;	/* fetcher: the parent is gone */
static struct stat	 jwks_seen;
static u_int64_t	 jwks_forced;	/* last unknown-kid refresh */

static size_t	jwks_write_cb(char *, size_t, size_t, void *);
static int	jwks_fetch(const char *, char *, size_t);
static void	jwks_fetcher(void) __attribute__((noreturn));
static void	jwks_fetcher_stop(int);
static int	jwks_reload(int);
static void	jwks_tick(void *, u_int64_t);

static size_t
jwks_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct jwks_buf	*b = arg;

	if (size * n > JWKS_MAX - b->len)
		return (0);
	memcpy(b->data + b->len, p, size * n);
	b->len += size * n;
	return (size * n);
}

/*
 * Fetch the URL into jwks_path (aside, then renamed). Returns 0, or -1
 * with a reason in err (nothing changed).
 */
static int
jwks_fetch(const char *url, char *err, size_t elen)
{
	struct jwks_buf	 b = { NULL, 0 };
	CURL		*c = NULL;
	CURLcode	 res;
	FILE		*fp;
	char		 tmp[128];
	long		 status = 0;
	int		 rc = -1;

	if ((b.data = malloc(JWKS_MAX)) == NULL || (c = curl_easy_init()) ==
	    NULL) {
		snprintf(err, elen, "out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)JWKS_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 3L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, jwks_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "concord-jwks");
	if ((res = curl_easy_perform(c)) != CURLE_OK) {
		snprintf(err, elen, "fetch failed: %s", curl_easy_strerror(res));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		snprintf(err, elen, "fetch answered HTTP %ld", status);
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s/jwks.json.tmp", jwks_dir);
	if ((fp = fopen(tmp, "w")) == NULL) {
		snprintf(err, elen, "cannot write %s", tmp);
		goto out;
	}
	if (fwrite(b.data, 1, b.len, fp) != b.len || fclose(fp) != 0 ||
	    rename(tmp, jwks_path) == -1) {
		snprintf(err, elen, "cannot write %s", jwks_path);
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	if (c != NULL)
		curl_easy_cleanup(c);
	free(b.data);
	return (rc);
}

static void
jwks_fetcher_stop(int sig)
{
	(void)sig;
	jwks_stop = 1;
}

/*
 * The fetcher process: refresh regularly, or when a worker asks. It
 * ends with the parent (SIGTERM at the parent's death, or the pipe's
 * end of file) and removes its folder.
 */
static void
jwks_fetcher(void)
{
	struct sigaction	sa;
	struct pollfd	pfd;
	char		err[256], drain[64];
	time_t		last = time(NULL), asked = 0, now;
	int		ask;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = jwks_fetcher_stop;
	sigaction(SIGTERM, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	close(jwks_pipe[1]);
	kore_proctitle("[jwks fetcher]");
	pfd.fd = jwks_pipe[0];
	pfd.events = POLLIN;
	while (!jwks_stop && getppid() != 1) {
		ask = 0;
		if (poll(&pfd, 1, 1000) == 1) {
			while (read(jwks_pipe[0], drain, sizeof(drain)) > 0)
				ask = 1;
			if (!ask)	/* end of file: the parent is gone */
				break;
		}
		now = time(NULL);
		/* Asked: at most once per refresh limit, over all workers. */
		if (ask && now - asked >= api_cfg.jwt_jwks_refresh_s)
			asked = now;
		else if (now - last < JWKS_PERIOD_S)
			continue;
		last = now;
		if (jwks_fetch(api_cfg.jwt_jwks_url, err, sizeof(err)) == -1)
			concord_log(LOG_LVL_WARN, "jwks not refreshed",
			    json_pack("{s:s}", "reason", err));
	}
	unlink(jwks_path);
	rmdir(jwks_dir);
	_exit(0);
}

void
jwks_parent_init(void)
{
	char	err[256];
	pid_t	pid;

	if (api_cfg.jwt_jwks_file != NULL) {
		jwks_path = kore_strdup(api_cfg.jwt_jwks_file);
		return;
	}
	if (api_cfg.jwt_jwks_url == NULL)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatal("jwks: libcurl did not start");
	snprintf(jwks_dir, sizeof(jwks_dir), "%s/concord-jwks.XXXXXX",
	    getenv("TMPDIR") != NULL && strlen(getenv("TMPDIR")) < 32 ?
	    getenv("TMPDIR") : "/tmp");
	if (mkdtemp(jwks_dir) == NULL)
		fatal("jwks: cannot make a folder in %s", jwks_dir);
	jwks_path = kore_malloc(sizeof(jwks_dir) + 16);
	snprintf(jwks_path, sizeof(jwks_dir) + 16, "%s/jwks.json", jwks_dir);
	if (pipe2(jwks_pipe, O_NONBLOCK) == -1)
		fatal("jwks: pipe: %s", errno_s);
	/* At start: the workers begin with the keys (or without, logged). */
	if (jwks_fetch(api_cfg.jwt_jwks_url, err, sizeof(err)) == -1) {
		concord_log(LOG_LVL_WARN, "jwks not fetched", json_pack(
		    "{s:s}", "reason", err));
	} else
		(void)jwks_reload(1);
	if ((pid = fork()) == -1)
		fatal("jwks: fork: %s", errno_s);
	if (pid == 0)
		jwks_fetcher();
	close(jwks_pipe[0]);
	jwks_pipe[0] = -1;
}

/*
 * Re-read jwks_path when it changed since the last look (or force).
 * Returns 1 when the key set was replaced, 0 when nothing changed, -1
 * when the file could not be used (logged; the keys held stay).
 */
static int
jwks_reload(int force)
{
	struct stat	 st;
	char		*buf = NULL, err[256];
	ssize_t		 r;
	size_t		 len = 0;
	int		 fd = -1, n, skipped, rc = -1;

	if (jwks_path == NULL)
		return (0);
	if (stat(jwks_path, &st) == -1) {
		snprintf(err, sizeof(err), "cannot stat the JWKS: %s", errno_s);
		goto out;
	}
	if (!force && st.st_ino == jwks_seen.st_ino &&
	    st.st_size == jwks_seen.st_size &&
	    st.st_mtim.tv_sec == jwks_seen.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == jwks_seen.st_mtim.tv_nsec)
		return (0);
	jwks_seen = st;
	buf = kore_malloc(JWKS_MAX);
	if ((fd = open(jwks_path, O_RDONLY)) == -1) {
		snprintf(err, sizeof(err), "cannot open the JWKS: %s", errno_s);
		goto out;
	}
	while (len < JWKS_MAX && (r = read(fd, buf + len, JWKS_MAX - len)) > 0)
		len += (size_t)r;
	if ((n = auth_jwks_apply(&api_keys, buf, len, &skipped, err,
	    sizeof(err))) == -1)
		goto out;
	/* A key gone from the set must not live on in remembered tokens. */
	authcache_clear();
	concord_log(LOG_LVL_INFO, "jwks loaded", json_pack("{s:i, s:i}",
	    "keys", n, "skipped", skipped));
	rc = 1;
out:
	if (rc == -1)
		concord_log(LOG_LVL_WARN, "jwks not loaded; the keys held stay",
		    json_pack("{s:s}", "reason", err));
	if (fd != -1)
		close(fd);
	kore_free(buf);
	return (rc);
}

static void
jwks_tick(void *arg, u_int64_t now)
{
	(void)arg;
	(void)now;
	(void)jwks_reload(0);
}

void
jwks_worker_start(void)
{
	if (jwks_path == NULL)
		return;
	/* Read it again: it may have changed since the parent read it. */
	(void)jwks_reload(1);
	kore_timer_add(jwks_tick, JWKS_TICK_MS, NULL, 0);
}

int
jwks_unknown_kid(void)
{
	u_int64_t	now = kore_time_ms();
	char		b = 1;

	if (jwks_path == NULL || (jwks_forced != 0 && now - jwks_forced <
	    (u_int64_t)api_cfg.jwt_jwks_refresh_s * 1000))
		return (0);
	jwks_forced = now;
	/* The fetcher fetches soon; this request sees the file as it is. */
	if (jwks_pipe[1] != -1 && write(jwks_pipe[1], &b, 1) == -1 &&
	    errno != EAGAIN)
		concord_log(LOG_LVL_WARN, "jwks fetcher unreachable", NULL);
	return (jwks_reload(0) == 1);
}
