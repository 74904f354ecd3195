/*
 * rlimit: the rate limiter's bounded counter table (see rlimit.h).
 * Keys are SHA-256 prefixes so that neither subjects nor addresses are
 * stored or sent to Redis in clear, and so that a chosen identity
 * cannot be made to collide with another one's counters.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "rlimit.h"

static const char	*rlimit_names[RLIMIT_NKINDS] = {
	"sub", "addr", "ref", "authfail"
};

static void	rlimit_digest(enum rlimit_kind, const char *, uint64_t *);
static void	rlimit_dirty(struct rlimit_table *, struct rlimit_entry *);

void
rlimit_init(struct rlimit_table *t)
{
	memset(t, 0, sizeof(*t));
}

const char *
rlimit_kind_name(enum rlimit_kind kind)
{
	return (kind < RLIMIT_NKINDS ? rlimit_names[kind] : "?");
}

/*
 * SHA-256 of "<kind>\n<id>", first 128 bits. Identities are short (a
 * token subject, an address); a longer one is hashed truncated.
 */
static void
rlimit_digest(enum rlimit_kind kind, const char *id, uint64_t *key)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	char		buf[512];
	int		n;

	n = snprintf(buf, sizeof(buf), "%s\n%s", rlimit_kind_name(kind), id);
	if (n < 0)
		n = 0;
	else if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (EVP_Digest(buf, (size_t)n, md, NULL, EVP_sha256(), NULL) != 1)
		memset(md, 0, sizeof(md));	/* out of memory: one bucket */
	memcpy(&key[0], md, sizeof(key[0]));
	memcpy(&key[1], md + sizeof(key[0]), sizeof(key[1]));
}

/* Put the entry on the dirty list unless it is there already. */
static void
rlimit_dirty(struct rlimit_table *t, struct rlimit_entry *e)
{
	if (e->re_flags & RLIMIT_F_DIRTY)
		return;
	e->re_flags |= RLIMIT_F_DIRTY;
	t->rt_dirty[t->rt_ndirty++] = (uint32_t)(e - t->rt_slots);
}

struct rlimit_entry *
rlimit_get(struct rlimit_table *t, enum rlimit_kind kind, const char *id,
    uint32_t window)
{
	struct rlimit_entry	*e, *freeslot = NULL, *stale = NULL;
	struct rlimit_entry	*victim = NULL;
	uint64_t		 key[2], h;
	uint32_t		 i, n, vcount = 0;

	rlimit_digest(kind, id, key);
	h = key[0] ^ ((uint64_t)window * 0x9e3779b97f4a7c15ULL);
	for (i = 0; i < RLIMIT_PROBE; i++) {
		e = &t->rt_slots[(h + i) % RLIMIT_SLOTS];
		if (e->re_window == 0) {
			if (freeslot == NULL)
				freeslot = e;
			continue;
		}
		if (e->re_window == window && e->re_kind == kind &&
		    e->re_key[0] == key[0] && e->re_key[1] == key[1])
			goto found;
		if (e->re_flags & RLIMIT_F_BUSY)
			continue;
		if (e->re_window != window) {
			if (stale == NULL)
				stale = e;
			continue;
		}
		n = e->re_local + e->re_pending + e->re_remote;
		if (victim == NULL || n < vcount) {
			victim = e;
			vcount = n;
		}
	}
	if ((e = freeslot) == NULL && (e = stale) == NULL) {
		if ((e = victim) == NULL) {
			t->rt_full++;
			return (NULL);
		}
		t->rt_evicted++;
	}
	/* A dirty slot keeps its place on the list: the flag stays. */
	e->re_key[0] = key[0];
	e->re_key[1] = key[1];
	e->re_window = window;
	e->re_remote = e->re_pending = e->re_inflight = e->re_local = 0;
	e->re_kind = (uint8_t)kind;
	e->re_flags &= RLIMIT_F_DIRTY;
found:
	e->re_flags |= RLIMIT_F_ASKED;
	rlimit_dirty(t, e);
	return (e);
}

uint32_t
rlimit_count(const struct rlimit_entry *e, int shared)
{
	uint32_t	n;

	if (!shared)
		return (e->re_local);
	n = e->re_remote + e->re_pending + e->re_inflight;
	return (n > e->re_local ? n : e->re_local);
}

void
rlimit_hit(struct rlimit_table *t, struct rlimit_entry *e)
{
	e->re_pending++;
	e->re_local++;
	rlimit_dirty(t, e);
}

size_t
rlimit_push_due(struct rlimit_table *t, uint32_t window, size_t max,
    int (*push)(struct rlimit_entry *, uint32_t, void *), void *arg)
{
	struct rlimit_entry	*e;
	size_t			 i, kept = 0, pushed = 0;
	int			 stop = 0;

	for (i = 0; i < t->rt_ndirty; i++) {
		e = &t->rt_slots[t->rt_dirty[i]];
		if (e->re_window != window || (e->re_pending == 0 &&
		    !(e->re_flags & RLIMIT_F_ASKED))) {
			/* A past window's counts no longer matter. */
			if (!(e->re_flags & RLIMIT_F_BUSY))
				e->re_pending = 0;
			e->re_flags &= ~(RLIMIT_F_DIRTY | RLIMIT_F_ASKED);
			continue;
		}
		if (stop || pushed >= max || (e->re_flags & RLIMIT_F_BUSY)) {
			t->rt_dirty[kept++] = t->rt_dirty[i];
			continue;
		}
		e->re_inflight = e->re_pending;
		e->re_pending = 0;
		e->re_flags |= RLIMIT_F_BUSY;
		if (push(e, e->re_inflight, arg) == -1) {
			e->re_pending += e->re_inflight;
			e->re_inflight = 0;
			e->re_flags &= ~RLIMIT_F_BUSY;
			t->rt_dirty[kept++] = t->rt_dirty[i];
			stop = 1;
			continue;
		}
		e->re_flags &= ~(RLIMIT_F_DIRTY | RLIMIT_F_ASKED);
		pushed++;
	}
	t->rt_ndirty = kept;
	return (pushed);
}

void
rlimit_push_done(struct rlimit_entry *e, long long total)
{
	if (total >= 0)
		e->re_remote = total > UINT32_MAX ? UINT32_MAX :
		    (uint32_t)total;
	e->re_inflight = 0;
	e->re_flags &= ~RLIMIT_F_BUSY;
}

size_t
rlimit_redis_key(const struct rlimit_entry *e, char *buf)
{
	int	n;

	n = snprintf(buf, RLIMIT_KEY_MAX, "concord:rl:%s:%u:%016llx%016llx",
	    rlimit_kind_name(e->re_kind), e->re_window,
	    (unsigned long long)e->re_key[0], (unsigned long long)e->re_key[1]);
	return (n > 0 ? (size_t)n : 0);
}
