/*
 * rds: a small URL parser and connect helper over hiredis 0.14.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "rds.h"

redisContext *
rds_connect(const char *url, int timeout_ms, char *err, size_t elen)
{
	struct timeval	 tv;
	redisContext	*rc = NULL;
	redisReply	*r;
	char		 host[600], pass[600], *p, *at, *colon, *slash;
	char		 buf[600];
	int		 port = 6379, db = 0;

	pass[0] = '\0';
	if (url == NULL || strncmp(url, "redis://", 8) != 0 ||
	    strlen(url) >= sizeof(buf)) {
		snprintf(err, elen, "redis URL must start with redis://");
		return (NULL);
	}
	snprintf(buf, sizeof(buf), "%s", url + 8);
	p = buf;
	if ((at = strrchr(p, '@')) != NULL) {
		*at = '\0';
		colon = strchr(p, ':');
		snprintf(pass, sizeof(pass), "%s", colon != NULL ? colon + 1 : p);
		p = at + 1;
	}
	if ((slash = strchr(p, '/')) != NULL) {
		*slash = '\0';
		if (slash[1] != '\0')
			db = atoi(slash + 1);
	}
	if ((colon = strrchr(p, ':')) != NULL) {
		*colon = '\0';
		port = atoi(colon + 1);
	}
	snprintf(host, sizeof(host), "%s", *p != '\0' ? p : "127.0.0.1");
	if (port <= 0 || port > 65535 || db < 0) {
		snprintf(err, elen, "redis URL has a bad port or db");
		return (NULL);
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	rc = redisConnectWithTimeout(host, port, tv);
	if (rc == NULL || rc->err) {
		snprintf(err, elen, "redis connect: %s",
		    rc != NULL ? rc->errstr : "out of memory");
		goto fail;
	}
	redisSetTimeout(rc, tv);
	if (pass[0] != '\0') {
		r = redisCommand(rc, "AUTH %s", pass);
		explicit_bzero(pass, sizeof(pass));
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, elen, "redis AUTH failed");
			if (r != NULL)
				freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	if (db != 0) {
		r = redisCommand(rc, "SELECT %d", db);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, elen, "redis SELECT failed");
			if (r != NULL)
				freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	return (rc);
fail:
	if (rc != NULL)
		redisFree(rc);
	return (NULL);
}

int
rds_ping(const char *url, int timeout_ms)
{
	redisContext	*rc;
	redisReply	*r;
	char		 err[128];
	int		 ok = -1;

	if ((rc = rds_connect(url, timeout_ms, err, sizeof(err))) == NULL)
		return (-1);
	r = redisCommand(rc, "PING");
	if (r != NULL && r->type == REDIS_REPLY_STATUS &&
	    strcmp(r->str, "PONG") == 0)
		ok = 0;
	if (r != NULL)
		freeReplyObject(r);
	redisFree(rc);
	return (ok);
}
