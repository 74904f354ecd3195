/*
 * rlimit: the bounded table of fixed-window request counters behind the
 * API's rate limits (api/ratelimit.c). Pure bookkeeping, no I/O: each
 * entry is one (kind, identity, window) key with the last total the
 * shared store (Redis) reported, the increments not yet pushed, those
 * pushed and unanswered, and this process's own count. The caller
 * pushes and feeds replies back; this file only decides what is due.
 *
 * Memory is fixed: RLIMIT_SLOTS entries of 40 bytes plus a 4-byte
 * dirty index each (704 KiB a process), never more. A key is
 * looked up among RLIMIT_PROBE slots; when all of them are taken, an
 * entry of a past window goes first, then the current entry with the
 * smallest count (its counts are forgotten: that key fails open, and
 * rt_evicted counts it). An entry that awaits a reply is never taken.
 */
#ifndef CONCORD_RLIMIT_H
#define CONCORD_RLIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define RLIMIT_WINDOW		60	/* seconds in a window */
#define RLIMIT_SLOTS		16384	/* entries in a table */
#define RLIMIT_PROBE		16	/* slots a key may live in */
#define RLIMIT_KEY_MAX		96	/* rlimit_redis_key() output */

enum rlimit_kind {
	RLIMIT_SUB,			/* requests per token subject */
	RLIMIT_ADDR,			/* requests per client address */
	RLIMIT_REFERRALS,		/* POST /v1/referrals per subject */
	RLIMIT_AUTH_FAILURES,		/* 401 answers per client address */
	RLIMIT_NKINDS
};

#define RLIMIT_F_DIRTY		0x01	/* slot index is in rt_dirty */
#define RLIMIT_F_ASKED		0x02	/* consulted: refresh the total */
#define RLIMIT_F_BUSY		0x04	/* a push awaits its reply */

struct rlimit_entry {
	uint64_t	re_key[2];	/* SHA-256 prefix of kind + identity */
	uint32_t	re_window;	/* unix time / RLIMIT_WINDOW; 0 = free */
	uint32_t	re_remote;	/* last total the store reported */
	uint32_t	re_pending;	/* increments not pushed yet */
	uint32_t	re_inflight;	/* increments pushed, unanswered */
	uint32_t	re_local;	/* this process's increments */
	uint8_t		re_kind;	/* enum rlimit_kind */
	uint8_t		re_flags;	/* RLIMIT_F_* */
};

struct rlimit_table {
	struct rlimit_entry	rt_slots[RLIMIT_SLOTS];
	uint32_t		rt_dirty[RLIMIT_SLOTS];	/* slots with work */
	size_t			rt_ndirty;
	uint64_t		rt_evicted;	/* live keys forgotten */
	uint64_t		rt_full;	/* keys with no slot at all */
};

/* Empty the table. Can't fail. */
void		 rlimit_init(struct rlimit_table *);

/*
 * The entry for (kind, id, window), created when absent (see the file
 * comment for which entry makes room). Returns NULL only when every
 * probed slot awaits a reply (counted in rt_full): the caller then
 * fails open. Marks the entry consulted, so its shared total is
 * refreshed on the next push.
 */
struct rlimit_entry	*rlimit_get(struct rlimit_table *, enum rlimit_kind,
			    const char *, uint32_t);

/*
 * The count a decision uses: with the store reachable (shared != 0) the
 * last shared total plus what this process has not seen acknowledged,
 * but never less than this process's own count; without it, this
 * process's own count alone. Can't fail.
 */
uint32_t	 rlimit_count(const struct rlimit_entry *, int);

/* Count one request on the entry. Can't fail. */
void		 rlimit_hit(struct rlimit_table *, struct rlimit_entry *);

/*
 * Hand each due entry of window (increments pending, or consulted since
 * its last push) to push(entry, increment, arg), at most max of them.
 * push returns 0 when it sent the increment, with the entry now BUSY
 * until rlimit_push_done(); or -1 to stop (the entry stays due). Stale
 * entries leave the dirty list, their pending counts dropped. Returns
 * how many were pushed.
 */
size_t		 rlimit_push_due(struct rlimit_table *, uint32_t, size_t,
		    int (*)(struct rlimit_entry *, uint32_t, void *), void *);

/*
 * The reply to a push: total is the store's new total, or -1 when the
 * push failed or its reply never came (the increments then stay in
 * re_local only). Can't fail.
 */
void		 rlimit_push_done(struct rlimit_entry *, long long);

/*
 * Write the store's key for the entry, "concord:rl:<kind>:<window>:
 * <hex key>" (no identity in clear), into buf of RLIMIT_KEY_MAX bytes.
 * Returns its length. Can't fail.
 */
size_t		 rlimit_redis_key(const struct rlimit_entry *, char *);

/* The kind's short name ("sub", "addr", "ref", "authfail"). */
const char	*rlimit_kind_name(enum rlimit_kind);

#endif
