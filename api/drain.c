/*
 * drain: a graceful stop. Kore 4.1 stops a worker at once on SIGTERM
 * (its event loop breaks out and frees every connection, in-flight
 * requests included); the parent forwards the signal to every worker
 * and then waits for them to exit. So each worker takes SIGTERM over
 * from Kore (kore_worker_configure runs after Kore's own handlers are
 * set): the handler only notes it. A 100 ms timer then starts the
 * drain: /readyz answers 503 (health.c asks drain_active()), requests
 * in flight go on and new ones are still served (the load balancer may
 * take a moment to stop sending), and once no request is left in this
 * worker, or CONCORD_DRAIN_SECONDS passed, the timer hands SIGTERM to
 * Kore, which stops the worker as before. When every worker exited the
 * parent exits. SIGINT and SIGQUIT stay Kore's: immediate.
 */
#include <kore/kore.h>
#include <kore/http.h>

#include <signal.h>
#include <string.h>

#include "api.h"
#include "drain.h"
#include "../common/log.h"

#define DRAIN_TICK_MS	100

static volatile sig_atomic_t	drain_signalled;
static int			drain_on;
static u_int64_t		drain_deadline;

static void	drain_signal(int);
static void	drain_tick(void *, u_int64_t);

/* Async-signal-safe: only a flag. */
static void
drain_signal(int sig)
{
	(void)sig;
	drain_signalled = 1;
}

void
drain_start(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = drain_signal;
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) == -1) {
		concord_log(LOG_LVL_WARN, "graceful drain unavailable", NULL);
		return;
	}
	kore_timer_add(drain_tick, DRAIN_TICK_MS, NULL, 0);
}

int
drain_active(void)
{
	return (drain_on || drain_signalled);
}

static void
drain_tick(void *arg, u_int64_t now)
{
	(void)arg;
	if (!drain_signalled)
		return;
	if (!drain_on) {
		drain_on = 1;
		drain_deadline = now + (u_int64_t)api_cfg.drain_seconds * 1000;
		concord_log(LOG_LVL_INFO, "draining", json_pack("{s:i, s:i}",
		    "in_flight", (int)http_request_count, "drain_seconds",
		    api_cfg.drain_seconds));
	}
	if (http_request_count > 0 && now < drain_deadline)
		return;
	concord_log(http_request_count > 0 ? LOG_LVL_WARN : LOG_LVL_INFO,
	    "drained", json_pack("{s:i}", "abandoned",
	    (int)http_request_count));
	/* Kore's own handler would have set this: stop the worker now. */
	sig_recv = SIGTERM;
}
