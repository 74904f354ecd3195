/*
 * webhook: posts queued webhook deliveries (sql/code/webhooks.sql) the
 * Standard Webhooks way: headers webhook-id (the delivery's id, the
 * same on every attempt), webhook-timestamp (Unix seconds) and
 * webhook-signature ("v1,<base64 HMAC-SHA256 of id.timestamp.body>",
 * one per valid secret, space separated, during a rotation).
 *
 * One thread, one curl multi handle, one database connection of its
 * own. Claims are short statements (worker.webhook_claim: FOR UPDATE
 * SKIP LOCKED, a lease instead of an open transaction) and so is each
 * outcome (worker.webhook_record): no transaction is open while HTTP
 * runs. At most WEBHOOK_SLOTS transfers run at once and at most
 * WEBHOOK_PER_TARGET per webhook, each bounded by a 2 s connect and a
 * 10 s total timeout, so a slow or dead receiver holds only its own
 * slots. Every target is checked with the address rule of
 * common/netguard.c: the URL, then every address its name resolves to
 * (curl is pinned to those with CURLOPT_RESOLVE), then the address curl
 * actually connects to (CURLOPT_OPENSOCKETFUNCTION). No redirects, no
 * proxies. Logs carry delivery ids, statuses and times, never a URL or
 * a secret.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../common/db.h"
#include "../common/log.h"
#include "../common/netguard.h"
#include "webhook.h"
#include "wmetrics.h"

#define WEBHOOK_SLOTS		16	/* transfers in flight per worker */
#define WEBHOOK_PER_TARGET	2	/* ... and per webhook */
#define WEBHOOK_LEASE_S		60	/* a claim outlives any transfer */
#define WEBHOOK_CONNECT_MS	2000L
#define WEBHOOK_TOTAL_MS	10000L
#define WEBHOOK_POLL_MS		250	/* claim at least this often */
#define WEBHOOK_SIG_MAX		256	/* "v1,<44 chars>" x 2 and spaces */

#define SQL_WH_CLAIM \
	"SELECT delivery_id, attempt, url, body, " \
	"array_to_string(secrets, ' ') FROM worker.webhook_claim($1::int, " \
	"$2::int, $3::int)"
#define SQL_WH_RECORD \
	"SELECT worker.webhook_record($1::uuid, $2::int, $3::int, $4::int, $5)"

/* One attempt under way. */
struct webhook_xfer {
	CURL			*wx_easy;
	struct curl_slist	*wx_headers;
	struct curl_slist	*wx_resolve;
	char			 wx_id[40];	/* the delivery's id */
	int			 wx_attempt;	/* its attempt number */
	char			*wx_body;	/* what is posted and signed */
	const char		*wx_refused;	/* set by the socket check */
};

static const struct concord_config	*wh_cfg;
static pthread_t			 wh_thread;
static int				 wh_started;
static volatile sig_atomic_t		 wh_quit;
static struct webhook_xfer		*wh_live[WEBHOOK_SLOTS];	/* running */

static void	*webhook_main(void *);
static PGconn	*webhook_connect(void);
static int	 webhook_claim(PGconn *, CURLM *, int);
static void	 webhook_begin(PGconn *, CURLM *, const char *, int,
		    const char *, const char *, const char *);
static int	 webhook_sign(const char *, const char *, const char *,
		    const char *, char *, size_t);
static int	 webhook_resolve(struct webhook_xfer *,
		    const struct netguard_url *, const char **);
static void	 webhook_finish(PGconn *, CURLM *, CURL *, CURLcode);
static void	 webhook_record(PGconn *, const char *, int, long, long,
		    const char *);
static void	 webhook_xfer_free(struct webhook_xfer *);
static size_t	 webhook_discard(char *, size_t, size_t, void *);
static curl_socket_t webhook_opensocket(void *, curlsocktype,
		    struct curl_sockaddr *);

int
webhook_start(const struct concord_config *cfg)
{
	wh_cfg = cfg;
	wh_quit = 0;
	if (pthread_create(&wh_thread, NULL, webhook_main, NULL) != 0) {
		concord_log(LOG_LVL_ERROR, "webhook delivery did not start",
		    NULL);
		return (-1);
	}
	wh_started = 1;
	return (0);
}

void
webhook_stop(void)
{
	if (!wh_started)
		return;
	wh_quit = 1;
	pthread_join(wh_thread, NULL);
	wh_started = 0;
}

/*
 * The delivery connection: the worker's role with the data key as a
 * connection setting (never in SQL text), as the API does. Returns a
 * connection or NULL (logged by the caller's backoff).
 */
static PGconn *
webhook_connect(void)
{
	PGconn	*pg;
	char	 opts[400], err[256];

	snprintf(opts, sizeof(opts), "-c statement_timeout=%d "
	    "-c concord.data_key=%s", wh_cfg->worker_statement_ms,
	    wh_cfg->data_key);
	pg = db_connect_opts(wh_cfg->worker_database_url, opts, err,
	    sizeof(err));
	explicit_bzero(opts, sizeof(opts));
	return (pg);
}

/* CURLOPT_WRITEFUNCTION: the receiver's body is not kept. */
static size_t
webhook_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return (size * n);
}

/*
 * CURLOPT_OPENSOCKETFUNCTION: the last check, on the address curl is
 * about to connect to. Returns a socket, or CURL_SOCKET_BAD (the
 * transfer fails with the reason kept in the transfer).
 */
static curl_socket_t
webhook_opensocket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct webhook_xfer	*x = arg;

	if (purpose != CURLSOCKTYPE_IPCXN ||
	    !netguard_class_allowed(netguard_addr_class(&a->addr),
	    wh_cfg->webhook_allow_private)) {
		x->wx_refused = "refused: the address connected to is not "
		    "allowed";
		return (CURL_SOCKET_BAD);
	}
	return (socket(a->family, a->socktype, a->protocol));
}

/*
 * Resolve u's host, refuse it when any address breaks the rule, and pin
 * curl to the addresses checked. Returns 0, or -1 with *why.
 */
static int
webhook_resolve(struct webhook_xfer *x, const struct netguard_url *u,
    const char **why)
{
	struct addrinfo		 hints, *res = NULL, *ai;
	char			 port[8], addr[INET6_ADDRSTRLEN];
	char			 pin[NETGUARD_HOST_MAX + 1024];
	size_t			 len;
	int			 rc = -1, n = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", u->ng_port);
	if (getaddrinfo(u->ng_host, port, &hints, &res) != 0 || res == NULL) {
		*why = "could not resolve the host";
		goto out;
	}
	len = (size_t)snprintf(pin, sizeof(pin), "%s:%d:", u->ng_host,
	    u->ng_port);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (!netguard_class_allowed(netguard_addr_class(ai->ai_addr),
		    wh_cfg->webhook_allow_private)) {
			*why = "refused: the host resolves to an address "
			    "that is not allowed";
			goto out;
		}
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr,
		    sizeof(addr), NULL, 0, NI_NUMERICHOST) != 0)
			continue;
		if (n < 8 && len + strlen(addr) + 4 < sizeof(pin)) {
			len += (size_t)snprintf(pin + len, sizeof(pin) - len,
			    ai->ai_family == AF_INET6 ? "%s[%s]" : "%s%s",
			    n > 0 ? "," : "", addr);
			n++;
		}
	}
	if (n == 0) {
		*why = "could not resolve the host";
		goto out;
	}
	x->wx_resolve = curl_slist_append(NULL, pin);
	rc = 0;
out:
	if (res != NULL)
		freeaddrinfo(res);
	return (rc);
}

/*
 * The webhook-signature value for body under each secret of the space
 * separated list secrets ("whsec_<base64 key>"). Returns 0, or -1 when
 * a secret is not of that form.
 */
static int
webhook_sign(const char *id, const char *ts, const char *body,
    const char *secrets, char *out, size_t olen)
{
	unsigned char	 key[128], mac[EVP_MAX_MD_SIZE];
	char		 b64[128], one[140], *list, *s, *save = NULL;
	char		*msg = NULL;
	unsigned int	 maclen;
	int		 klen, rc = -1;
	size_t		 slen, mlen;

	out[0] = '\0';
	if ((list = strdup(secrets)) == NULL)
		return (-1);
	mlen = strlen(id) + strlen(ts) + strlen(body) + 2;
	if ((msg = malloc(mlen + 1)) == NULL)
		goto out;
	snprintf(msg, mlen + 1, "%s.%s.%s", id, ts, body);
	for (s = strtok_r(list, " ", &save); s != NULL;
	    s = strtok_r(NULL, " ", &save)) {
		slen = strlen(s);
		if (slen < 8 || slen - 6 > 160 || strncmp(s, "whsec_", 6) != 0)
			goto out;
		klen = EVP_DecodeBlock(key, (const unsigned char *)s + 6,
		    (int)(slen - 6));
		if (klen <= 0)
			goto out;
		/* EVP_DecodeBlock counts padding as zero bytes. */
		if (s[slen - 1] == '=')
			klen--;
		if (s[slen - 2] == '=')
			klen--;
		if (HMAC(EVP_sha256(), key, klen, (const unsigned char *)msg,
		    mlen, mac, &maclen) == NULL)
			goto out;
		EVP_EncodeBlock((unsigned char *)b64, mac, (int)maclen);
		snprintf(one, sizeof(one), "%sv1,%s", out[0] != '\0' ? " " :
		    "", b64);
		if (strlen(out) + strlen(one) >= olen)
			goto out;
		strcat(out, one);
	}
	rc = out[0] != '\0' ? 0 : -1;
out:
	explicit_bzero(key, sizeof(key));
	explicit_bzero(list, strlen(secrets));
	free(list);
	free(msg);
	return (rc);
}

static void
webhook_xfer_free(struct webhook_xfer *x)
{
	if (x == NULL)
		return;
	if (x->wx_easy != NULL)
		curl_easy_cleanup(x->wx_easy);
	curl_slist_free_all(x->wx_headers);
	curl_slist_free_all(x->wx_resolve);
	free(x->wx_body);
	free(x);
}

/* Record one attempt's outcome (its own short transaction) and log it. */
static void
webhook_record(PGconn *pg, const char *id, int attempt, long status,
    long latency_ms, const char *error)
{
	PGresult	*r;
	const char	*p[5];
	char		 a[16], s[16], l[24], err[256];

	wmetrics_webhook(error == NULL);
	snprintf(a, sizeof(a), "%d", attempt);
	snprintf(s, sizeof(s), "%ld", status);
	snprintf(l, sizeof(l), "%ld", latency_ms);
	p[0] = id;
	p[1] = a;
	p[2] = s;
	p[3] = l;
	p[4] = error;
	if ((r = db_exec(pg, SQL_WH_RECORD, 5, p, err, sizeof(err))) ==
	    NULL) {
		err[strcspn(err, ":")] = '\0';
		concord_log(LOG_LVL_WARN, "webhook outcome not recorded",
		    json_pack("{s:s, s:s}", "delivery_id", id, "error", err));
		return;
	}
	concord_log(error == NULL ? LOG_LVL_INFO : LOG_LVL_WARN,
	    error == NULL ? "webhook delivered" : "webhook attempt failed",
	    json_pack("{s:s, s:i, s:i, s:I, s:s?, s:s?}", "delivery_id", id,
	    "attempt", attempt, "status", (int)status, "latency_ms",
	    (json_int_t)latency_ms, "error", error, "state",
	    PQgetisnull(r, 0, 0) ? NULL : PQgetvalue(r, 0, 0)));
	PQclear(r);
}

/*
 * Start one claimed delivery: check the target, sign, hand the
 * transfer to curl. A refused or broken one is recorded at once.
 */
static void
webhook_begin(PGconn *pg, CURLM *multi, const char *id, int attempt,
    const char *url, const char *body, const char *secrets)
{
	struct webhook_xfer	*x;
	struct netguard_url	 u;
	const char		*why = NULL;
	char			 ts[24], sig[WEBHOOK_SIG_MAX], hdr[300];
	char			 rbuf[160];
	int			 i;

	if ((x = calloc(1, sizeof(*x))) == NULL ||
	    (x->wx_body = strdup(body)) == NULL) {
		webhook_xfer_free(x);
		return;		/* the lease lapses; tried again */
	}
	snprintf(x->wx_id, sizeof(x->wx_id), "%s", id);
	x->wx_attempt = attempt;
	if (netguard_url_check(url, wh_cfg->webhook_allow_http,
	    wh_cfg->webhook_allow_private, &u, &why) == -1) {
		snprintf(rbuf, sizeof(rbuf), "refused: the URL %s", why);
		why = rbuf;
		goto refused;
	}
	if (!u.ng_literal && webhook_resolve(x, &u, &why) == -1)
		goto refused;
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	if (webhook_sign(id, ts, body, secrets, sig, sizeof(sig)) == -1) {
		why = "no usable secret";
		goto refused;
	}
	if ((x->wx_easy = curl_easy_init()) == NULL) {
		why = "out of memory";
		goto refused;
	}
	x->wx_headers = curl_slist_append(x->wx_headers,
	    "Content-Type: application/json");
	snprintf(hdr, sizeof(hdr), "webhook-id: %s", id);
	x->wx_headers = curl_slist_append(x->wx_headers, hdr);
	snprintf(hdr, sizeof(hdr), "webhook-timestamp: %s", ts);
	x->wx_headers = curl_slist_append(x->wx_headers, hdr);
	snprintf(hdr, sizeof(hdr), "webhook-signature: %s", sig);
	x->wx_headers = curl_slist_append(x->wx_headers, hdr);
	x->wx_headers = curl_slist_append(x->wx_headers, "Expect:");
	explicit_bzero(hdr, sizeof(hdr));

	curl_easy_setopt(x->wx_easy, CURLOPT_URL, url);
	curl_easy_setopt(x->wx_easy, CURLOPT_POST, 1L);
	curl_easy_setopt(x->wx_easy, CURLOPT_POSTFIELDS, x->wx_body);
	curl_easy_setopt(x->wx_easy, CURLOPT_POSTFIELDSIZE,
	    (long)strlen(x->wx_body));
	curl_easy_setopt(x->wx_easy, CURLOPT_HTTPHEADER, x->wx_headers);
	curl_easy_setopt(x->wx_easy, CURLOPT_USERAGENT, "Concord-Webhooks/1");
	curl_easy_setopt(x->wx_easy, CURLOPT_CONNECTTIMEOUT_MS,
	    WEBHOOK_CONNECT_MS);
	curl_easy_setopt(x->wx_easy, CURLOPT_TIMEOUT_MS, WEBHOOK_TOTAL_MS);
	curl_easy_setopt(x->wx_easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x->wx_easy, CURLOPT_PROTOCOLS_STR,
	    wh_cfg->webhook_allow_http ? "http,https" : "https");
	curl_easy_setopt(x->wx_easy, CURLOPT_PROXY, "");
	curl_easy_setopt(x->wx_easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->wx_easy, CURLOPT_WRITEFUNCTION, webhook_discard);
	curl_easy_setopt(x->wx_easy, CURLOPT_OPENSOCKETFUNCTION,
	    webhook_opensocket);
	curl_easy_setopt(x->wx_easy, CURLOPT_OPENSOCKETDATA, x);
	if (x->wx_resolve != NULL)
		curl_easy_setopt(x->wx_easy, CURLOPT_RESOLVE, x->wx_resolve);
	curl_easy_setopt(x->wx_easy, CURLOPT_PRIVATE, x);
	for (i = 0; i < WEBHOOK_SLOTS && wh_live[i] != NULL; i++)
		;
	if (i == WEBHOOK_SLOTS ||
	    curl_multi_add_handle(multi, x->wx_easy) != CURLM_OK) {
		why = "out of memory";
		goto refused;
	}
	wh_live[i] = x;
	return;
refused:
	webhook_record(pg, x->wx_id, attempt, 0, 0, why);
	webhook_xfer_free(x);
}

/* A transfer ended: record it and let it go. */
static void
webhook_finish(PGconn *pg, CURLM *multi, CURL *easy, CURLcode res)
{
	struct webhook_xfer	*x = NULL;
	long			 code = 0;
	curl_off_t		 us = 0;
	char			 why[96];
	const char		*err = NULL;
	int			 i;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &us);
	curl_multi_remove_handle(multi, easy);
	for (i = 0; i < WEBHOOK_SLOTS; i++)
		if (wh_live[i] == x)
			wh_live[i] = NULL;
	if (res != CURLE_OK) {
		code = 0;
		err = x->wx_refused != NULL ? x->wx_refused :
		    curl_easy_strerror(res);
	} else if (code >= 300 && code <= 399) {
		err = "redirect not followed";
	} else if (code < 200 || code > 299) {
		snprintf(why, sizeof(why), "HTTP %ld", code);
		err = why;
	}
	webhook_record(pg, x->wx_id, x->wx_attempt, code, (long)(us / 1000),
	    err);
	webhook_xfer_free(x);
}

/*
 * Claim up to n due deliveries and start them. Returns how many began,
 * or -1 on a database error (the caller reconnects).
 */
static int
webhook_claim(PGconn *pg, CURLM *multi, int n)
{
	PGresult	*r;
	const char	*p[3];
	char		 max[16], per[16], lease[16], err[256];
	int		 i, rows;

	snprintf(max, sizeof(max), "%d", n);
	snprintf(per, sizeof(per), "%d", WEBHOOK_PER_TARGET);
	snprintf(lease, sizeof(lease), "%d", WEBHOOK_LEASE_S);
	p[0] = max;
	p[1] = per;
	p[2] = lease;
	if ((r = db_exec(pg, SQL_WH_CLAIM, 3, p, err, sizeof(err))) == NULL) {
		err[strcspn(err, ":")] = '\0';
		concord_log(LOG_LVL_WARN, "webhook claim failed",
		    json_pack("{s:s}", "error", err));
		return (-1);
	}
	rows = PQntuples(r);
	for (i = 0; i < rows; i++)
		webhook_begin(pg, multi, PQgetvalue(r, i, 0),
		    atoi(PQgetvalue(r, i, 1)), PQgetvalue(r, i, 2),
		    PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
	PQclear(r);
	return (rows);
}

static u_int64_t
webhook_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((u_int64_t)ts.tv_sec * 1000 + (u_int64_t)ts.tv_nsec / 1000000);
}

/* The thread: claim, run transfers, record, until webhook_stop(). */
static void *
webhook_main(void *arg)
{
	PGconn		*pg = NULL;
	CURLM		*multi;
	CURLMsg		*msg;
	u_int64_t	 last = 0;
	int		 running = 0, left, backoff = 1, i;

	(void)arg;
	if ((multi = curl_multi_init()) == NULL)
		return (NULL);
	concord_log(LOG_LVL_INFO, "webhook delivery started", json_pack(
	    "{s:i, s:i, s:b, s:b}", "slots", WEBHOOK_SLOTS, "per_target",
	    WEBHOOK_PER_TARGET, "allow_http", wh_cfg->webhook_allow_http,
	    "allow_private", wh_cfg->webhook_allow_private));
	while (!wh_quit) {
		if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
			if (pg != NULL)
				PQfinish(pg);
			if ((pg = webhook_connect()) == NULL) {
				sleep((unsigned int)backoff);
				backoff = backoff < 4 ? backoff * 2 : 5;
				continue;
			}
			backoff = 1;
		}
		if (running < WEBHOOK_SLOTS &&
		    webhook_now_ms() - last >= WEBHOOK_POLL_MS) {
			last = webhook_now_ms();
			if (webhook_claim(pg, multi, WEBHOOK_SLOTS - running) ==
			    -1) {
				PQfinish(pg);
				pg = NULL;
				continue;
			}
		}
		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			webhook_finish(pg, multi, msg->easy_handle,
			    msg->data.result);
			last = 0;	/* a slot is free: claim again soon */
		}
		curl_multi_poll(multi, NULL, 0, last == 0 ? 10 :
		    WEBHOOK_POLL_MS, NULL);
	}
	/* Abandon what runs: the leases lapse and others attempt again. */
	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
		;
	for (i = 0; i < WEBHOOK_SLOTS; i++) {
		if (wh_live[i] == NULL)
			continue;
		curl_multi_remove_handle(multi, wh_live[i]->wx_easy);
		webhook_xfer_free(wh_live[i]);
		wh_live[i] = NULL;
	}
	curl_multi_cleanup(multi);
	if (pg != NULL)
		PQfinish(pg);
	return (NULL);
}
