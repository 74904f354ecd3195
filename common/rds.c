/*
 * rds: a small URL parser and connect helper over hiredis 0.14.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "rds.h"

int
rds_url_parse(const char *url, struct rds_url *u, char *err, size_t elen)
{
	char	 buf[RDS_URL_MAX], *p, *at, *colon, *slash;
	int	 rc = -1;

	memset(u, 0, sizeof(*u));
	u->port = 6379;
	if (url == NULL || strncmp(url, "redis://", 8) != 0 ||
	    strlen(url) >= sizeof(buf)) {
		snprintf(err, elen, "redis URL must start with redis://");
		goto out;
	}
	snprintf(buf, sizeof(buf), "%s", url + 8);
	p = buf;
	if ((at = strrchr(p, '@')) != NULL) {
		*at = '\0';
		colon = strchr(p, ':');
		snprintf(u->pass, sizeof(u->pass), "%s",
		    colon != NULL ? colon + 1 : p);
		p = at + 1;
	}
	if ((slash = strchr(p, '/')) != NULL) {
		*slash = '\0';
		if (slash[1] != '\0')
			u->db = atoi(slash + 1);
	}
	if ((colon = strrchr(p, ':')) != NULL) {
		*colon = '\0';
		u->port = atoi(colon + 1);
	}
	snprintf(u->host, sizeof(u->host), "%s", *p != '\0' ? p : "127.0.0.1");
	if (u->port <= 0 || u->port > 65535 || u->db < 0) {
		snprintf(err, elen, "redis URL has a bad port or db");
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	return (rc);
}

redisContext *
rds_connect(const char *url, int timeout_ms, char *err, size_t elen)
{
	struct timeval	 tv;
	struct rds_url	 u;
	redisContext	*rc = NULL;
	redisReply	*r;

	if (rds_url_parse(url, &u, err, elen) == -1)
		return (NULL);
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	rc = redisConnectWithTimeout(u.host, u.port, tv);
	if (rc == NULL || rc->err) {
		snprintf(err, elen, "redis connect: %s",
		    rc != NULL ? rc->errstr : "out of memory");
		goto fail;
	}
	redisSetTimeout(rc, tv);
	if (u.pass[0] != '\0') {
		r = redisCommand(rc, "AUTH %s", u.pass);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, elen, "redis AUTH failed");
			if (r != NULL)
				freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	if (u.db != 0) {
		r = redisCommand(rc, "SELECT %d", u.db);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, elen, "redis SELECT failed");
			if (r != NULL)
				freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	explicit_bzero(&u, sizeof(u));
	return (rc);
fail:
	explicit_bzero(&u, sizeof(u));
	if (rc != NULL)
		redisFree(rc);
	return (NULL);
}
