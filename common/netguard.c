/*
 * netguard: the one rule on where a webhook may point (see netguard.h).
 * The API applies it to the URL at registration, the worker again to
 * every address a name resolves to and to the address curl connects
 * to, so a name that later resolves somewhere private is still refused.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "netguard.h"

static enum netguard_class	netguard_v4_class(uint32_t);
static enum netguard_class	netguard_v6_class(const unsigned char *);
static int	netguard_is_localhost(const char *);

/* a is in host byte order. */
static enum netguard_class
netguard_v4_class(uint32_t a)
{
	if ((a >> 24) == 0)
		return (NETGUARD_UNSPECIFIED);
	if ((a >> 24) == 127)
		return (NETGUARD_LOOPBACK);
	if ((a >> 24) == 10 || (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8)
		return (NETGUARD_PRIVATE);
	if ((a >> 16) == 0xa9fe)
		return (NETGUARD_LINK_LOCAL);
	if ((a >> 22) == (0x64400000u >> 22))
		return (NETGUARD_CGNAT);
	if ((a >> 28) == 0xe)
		return (NETGUARD_MULTICAST);
	if ((a >> 28) == 0xf)
		return (NETGUARD_RESERVED);
	/* IETF protocol assignments, documentation, benchmarking. */
	if ((a >> 8) == 0xc00000 || (a >> 8) == 0xc00002 ||
	    (a >> 8) == 0xc63364 || (a >> 8) == 0xcb0071 ||
	    (a >> 17) == (0xc6120000u >> 17))
		return (NETGUARD_RESERVED);
	return (NETGUARD_PUBLIC);
}

static enum netguard_class
netguard_v6_class(const unsigned char *b)
{
	static const unsigned char	zero[16];
	static const unsigned char	mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0,
					    0, 0, 0xff, 0xff };
	static const unsigned char	nat64[12] = { 0, 0x64, 0xff, 0x9b };
	uint32_t			v4;

	if (memcmp(b, zero, 16) == 0)
		return (NETGUARD_UNSPECIFIED);
	if (memcmp(b, zero, 15) == 0 && b[15] == 1)
		return (NETGUARD_LOOPBACK);
	/* Addresses that carry an IPv4 address: judge that one. */
	if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0 ||
	    memcmp(b, zero, 12) == 0) {
		v4 = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
		    (uint32_t)b[14] << 8 | b[15];
		return (netguard_v4_class(v4));
	}
	if (b[0] == 0x20 && b[1] == 0x02) {
		v4 = (uint32_t)b[2] << 24 | (uint32_t)b[3] << 16 |
		    (uint32_t)b[4] << 8 | b[5];
		return (netguard_v4_class(v4));
	}
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return (NETGUARD_LINK_LOCAL);
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return (NETGUARD_PRIVATE);
	if ((b[0] & 0xfe) == 0xfc)
		return (NETGUARD_UNIQUE_LOCAL);
	if (b[0] == 0xff)
		return (NETGUARD_MULTICAST);
	/* Documentation 2001:db8::/32, discard 100::/64. */
	if ((b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) ||
	    (b[0] == 0x01 && memcmp(b + 1, zero, 7) == 0))
		return (NETGUARD_RESERVED);
	return (NETGUARD_PUBLIC);
}

enum netguard_class
netguard_addr_class(const struct sockaddr *sa)
{
	struct sockaddr_in	s4;
	struct sockaddr_in6	s6;
	sa_family_t		fam;

	/* Copied out: sa may be any of the sockaddr types. */
	memcpy(&fam, (const char *)sa + offsetof(struct sockaddr, sa_family),
	    sizeof(fam));
	if (fam == AF_INET) {
		memcpy(&s4, sa, sizeof(s4));
		return (netguard_v4_class(ntohl(s4.sin_addr.s_addr)));
	}
	if (fam == AF_INET6) {
		memcpy(&s6, sa, sizeof(s6));
		return (netguard_v6_class(s6.sin6_addr.s6_addr));
	}
	return (NETGUARD_RESERVED);
}

const char *
netguard_class_name(enum netguard_class c)
{
	switch (c) {
	case NETGUARD_PUBLIC:
		return ("public");
	case NETGUARD_LOOPBACK:
		return ("loopback");
	case NETGUARD_LINK_LOCAL:
		return ("link-local");
	case NETGUARD_PRIVATE:
		return ("private");
	case NETGUARD_CGNAT:
		return ("shared address space (CGNAT)");
	case NETGUARD_UNIQUE_LOCAL:
		return ("unique-local");
	case NETGUARD_UNSPECIFIED:
		return ("unspecified");
	case NETGUARD_MULTICAST:
		return ("multicast");
	case NETGUARD_RESERVED:
		return ("reserved");
	}
	return ("reserved");
}

int
netguard_class_allowed(enum netguard_class c, int allow_private)
{
	switch (c) {
	case NETGUARD_PUBLIC:
		return (1);
	case NETGUARD_LOOPBACK:
	case NETGUARD_LINK_LOCAL:
	case NETGUARD_PRIVATE:
	case NETGUARD_CGNAT:
	case NETGUARD_UNIQUE_LOCAL:
		return (allow_private != 0);
	default:
		return (0);
	}
}

int
netguard_text_allowed(const char *a, int allow_private,
    enum netguard_class *cls)
{
	struct in_addr		in4;
	struct in6_addr		in6;
	enum netguard_class	c;

	/* inet_aton, like resolvers, also reads 127.1 and 2130706433. */
	if (inet_aton(a, &in4) != 0)
		c = netguard_v4_class(ntohl(in4.s_addr));
	else if (inet_pton(AF_INET6, a, &in6) == 1)
		c = netguard_v6_class(in6.s6_addr);
	else
		return (-1);
	if (cls != NULL)
		*cls = c;
	return (netguard_class_allowed(c, allow_private));
}

/* "localhost", "x.localhost" (RFC 6761), with or without a final dot. */
static int
netguard_is_localhost(const char *h)
{
	size_t	n = strlen(h);

	if (n > 0 && h[n - 1] == '.')
		n--;
	if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
		return (1);
	return (n > 10 && strncasecmp(h + n - 10, ".localhost", 10) == 0);
}

int
netguard_url_check(const char *url, int allow_http, int allow_private,
    struct netguard_url *u, const char **reason)
{
	const char		*p, *host, *end, *q;
	size_t			 n, i;
	long			 port;
	enum netguard_class	 cls;
	static const char	*why[] = {
		[NETGUARD_LOOPBACK] = "must not point to a loopback address",
		[NETGUARD_LINK_LOCAL] = "must not point to a link-local address",
		[NETGUARD_PRIVATE] = "must not point to a private address",
		[NETGUARD_CGNAT] = "must not point to a shared (CGNAT) address",
		[NETGUARD_UNIQUE_LOCAL] = "must not point to a unique-local "
		    "address",
		[NETGUARD_UNSPECIFIED] = "must not point to an unspecified "
		    "address",
		[NETGUARD_MULTICAST] = "must not point to a multicast address",
		[NETGUARD_RESERVED] = "must not point to a reserved address",
	};

	memset(u, 0, sizeof(*u));
	n = strlen(url);
	if (n == 0 || n > NETGUARD_URL_MAX) {
		*reason = "must be 1 to 2048 characters";
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)url[i] <= 0x20 ||
		    (unsigned char)url[i] >= 0x7f) {
			*reason = "must be printable ASCII without spaces "
			    "(percent-encode the rest)";
			return (-1);
		}
	}
	if (strncasecmp(url, "https://", 8) == 0) {
		u->ng_https = 1;
		p = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		p = url + 7;
		if (!allow_http) {
			*reason = "must be an https URL";
			return (-1);
		}
	} else {
		*reason = allow_http ? "must be an http or https URL" :
		    "must be an https URL";
		return (-1);
	}
	if (strchr(url, '#') != NULL) {
		*reason = "must not carry a fragment";
		return (-1);
	}
	end = p + strcspn(p, "/?");
	if (memchr(p, '@', (size_t)(end - p)) != NULL) {
		*reason = "must not carry user information";
		return (-1);
	}
	if (*p == '[') {
		host = p + 1;
		if ((q = memchr(host, ']', (size_t)(end - host))) == NULL) {
			*reason = "has an unclosed IPv6 address";
			return (-1);
		}
		p = q + 1;
		u->ng_literal = 1;
	} else {
		host = p;
		q = memchr(p, ':', (size_t)(end - p));
		if (q == NULL)
			q = end;
		p = q;
	}
	n = (size_t)(q - host);
	if (n == 0 || n >= sizeof(u->ng_host)) {
		*reason = "must name a host";
		return (-1);
	}
	memcpy(u->ng_host, host, n);
	u->ng_host[n] = '\0';
	for (i = 0; i < n; i++)
		u->ng_host[i] = (char)tolower((unsigned char)u->ng_host[i]);
	u->ng_port = u->ng_https ? 443 : 80;
	if (p < end) {
		if (*p != ':' || p + 1 == end || p + 6 < end) {
			*reason = "has an invalid port";
			return (-1);
		}
		port = 0;
		for (q = p + 1; q < end; q++) {
			if (!isdigit((unsigned char)*q)) {
				*reason = "has an invalid port";
				return (-1);
			}
			port = port * 10 + (*q - '0');
		}
		if (port < 1 || port > 65535) {
			*reason = "has an invalid port";
			return (-1);
		}
		u->ng_port = (int)port;
	}
	if (u->ng_literal) {
		if (netguard_text_allowed(u->ng_host, allow_private, &cls) ==
		    -1 || strchr(u->ng_host, ':') == NULL) {
			*reason = "has an invalid IPv6 address";
			return (-1);
		}
	} else if (strspn(u->ng_host, "abcdefghijklmnopqrstuvwxyz"
	    "0123456789.-_") != strlen(u->ng_host)) {
		*reason = "has an invalid host name";
		return (-1);
	} else if (netguard_text_allowed(u->ng_host, allow_private,
	    &cls) != -1) {
		u->ng_literal = 1;
	} else if (netguard_is_localhost(u->ng_host)) {
		cls = NETGUARD_LOOPBACK;
	} else {
		return (0);
	}
	if (!netguard_class_allowed(cls, allow_private)) {
		*reason = why[cls];
		return (-1);
	}
	return (0);
}
