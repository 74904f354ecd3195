/*
 * netguard: where a webhook may point. Parses a webhook's target URL
 * and classifies IP addresses, so the API (at registration) and the
 * worker (after resolving, before connecting) apply one rule: no
 * loopback, link-local, private, CGNAT or unique-local address unless
 * private targets are allowed (CONCORD_WEBHOOK_ALLOW_PRIVATE=1), and
 * never an unspecified, multicast or reserved one. Pure C, no I/O.
 */
#ifndef CONCORD_NETGUARD_H
#define CONCORD_NETGUARD_H

#include <sys/socket.h>

#include "config.h"

#define NETGUARD_URL_MAX	2048
#define NETGUARD_HOST_MAX	256

/* What an address is; only NETGUARD_PUBLIC is always reachable. */
enum netguard_class {
	NETGUARD_PUBLIC = 0,
	NETGUARD_LOOPBACK,	/* 127/8, ::1 */
	NETGUARD_LINK_LOCAL,	/* 169.254/16, fe80::/10 */
	NETGUARD_PRIVATE,	/* 10/8, 172.16/12, 192.168/16, fec0::/10 */
	NETGUARD_CGNAT,		/* 100.64/10 */
	NETGUARD_UNIQUE_LOCAL,	/* fc00::/7 */
	NETGUARD_UNSPECIFIED,	/* 0/8, :: */
	NETGUARD_MULTICAST,	/* 224/4, ff00::/8 */
	NETGUARD_RESERVED	/* 240/4, benchmarking, documentation */
};

/* A parsed target URL. */
struct netguard_url {
	int	ng_https;			/* 1 https, 0 http */
	char	ng_host[NETGUARD_HOST_MAX];	/* without IPv6 brackets */
	int	ng_port;			/* explicit or the default */
	int	ng_literal;			/* host is an IP address */
};

/*
 * Classify the IPv4 or IPv6 address sa (an IPv4-mapped, NAT64 or 6to4
 * address by the IPv4 address it carries). Any other family is
 * NETGUARD_RESERVED. Can't fail.
 */
enum netguard_class	netguard_addr_class(const struct sockaddr *);

/* The class's name for error texts ("loopback", ...); can't fail. */
const char	*netguard_class_name(enum netguard_class);

/*
 * May a connection go to an address of this class? Public always;
 * loopback, link-local, private, CGNAT and unique-local only when
 * allow_private; unspecified, multicast and reserved never.
 */
int	netguard_class_allowed(enum netguard_class, int);

/*
 * Parse url into *u: http(s)://host[:port][/path][?query], at most
 * NETGUARD_URL_MAX bytes of printable ASCII, no user info or fragment;
 * http only when allow_http. A host that is an IP address (including
 * the short and numeric IPv4 forms resolvers accept, such as 127.1 or
 * 2130706433) or a name under "localhost" is checked against the
 * address rule with allow_private here; other names are checked after
 * resolution. Returns 0, or -1 with a static sentence in *reason.
 */
int	netguard_url_check(const char *, int, int, struct netguard_url *,
	    const char **) CONCORD_WUR;

/*
 * Is the textual address a (one IPv4 or IPv6 address, no brackets)
 * allowed? Sets *cls when not NULL. Returns 1 allowed, 0 refused, -1
 * when a is not an address.
 */
int	netguard_text_allowed(const char *, int, enum netguard_class *);

#endif
