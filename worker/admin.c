/*
 * concord-admin: the operator's command. `migrate` applies
 * sql/migrations/NNNN_*.sql in order, each in its own transaction,
 * records them with a checksum (an applied migration whose file changed
 * is refused), mirrors the need taxonomy and re-creates the code schemas
 * from sql/code/ when those files changed; `token` mints a local HS256
 * token; `sql FILE` loads a data file such as the demo task force;
 * `audit-verify` checks the sealed audit trail and reports its first
 * problem and the sealing backlog. It connects with
 * CONCORD_ADMIN_DATABASE_URL, a role that owns the schema (the API's
 * role cannot migrate).
 */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/evp.h>

#include "../common/auth.h"
#include "../common/config.h"
#include "../common/db.h"
#include "../common/problem.h"
#include "../common/taxonomy.h"

#define MIGRATIONS_TABLE \
	"CREATE TABLE IF NOT EXISTS public.schema_migrations (" \
	"version integer PRIMARY KEY, name text NOT NULL, " \
	"checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"

static void	 usage(void) __attribute__((noreturn));
static char	*file_read(const char *, size_t *);
static void	 sha256_hex(const char *, size_t, char *);
static int	 name_cmp(const void *, const void *);
static int	 cmd_migrate(int, char **);
static int	 cmd_token(int, char **);
static char	*token_stack_secret(void);
static int	 cmd_sql(int, char **);
static int	 cmd_audit_verify(int, char **);
static PGconn	*admin_connect(void);
static int	 taxonomy_sync(PGconn *);
static int	 problem_titles_sync(PGconn *);

static void
usage(void)
{
	fprintf(stderr,
	    "usage: concord-admin migrate [--dir DIR] [--migrations-only]\n"
	    "       concord-admin token --role ROLE [--role ROLE ...] "
	    "[--org UUID] [--sub SUB] [--ttl SECONDS]\n"
	    "       concord-admin sql FILE\n"
	    "       concord-admin audit-verify\n");
	exit(2);
}

static char *
file_read(const char *path, size_t *len)
{
	FILE	*fp;
	char	*buf = NULL;
	long	 sz;

	if ((fp = fopen(path, "r")) == NULL)
		return (NULL);
	if (fseek(fp, 0, SEEK_END) == 0 && (sz = ftell(fp)) >= 0 &&
	    fseek(fp, 0, SEEK_SET) == 0 &&
	    (buf = calloc(1, (size_t)sz + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)sz, fp);
		buf[*len] = '\0';
	}
	fclose(fp);
	return (buf);
}

static void
sha256_hex(const char *data, size_t len, char *out)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned int	mdlen = 0, i;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < mdlen; i++)
		snprintf(out + i * 2, 3, "%02x", md[i]);
}

static int
name_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

static PGconn *
admin_connect(void)
{
	const char	*url;
	char		 err[512];
	PGconn		*pg;

	url = getenv("CONCORD_ADMIN_DATABASE_URL");
	if (url == NULL || *url == '\0')
		url = "postgresql://concord@127.0.0.1:55432/concord";
	if ((pg = db_connect(url, err, sizeof(err))) == NULL)
		fprintf(stderr, "concord-admin: %s", err);
	return (pg);
}

/* Mirror common/taxonomy.c into need_taxonomy (insert or update). */
static int
taxonomy_sync(PGconn *pg)
{
	const struct taxonomy_need	*n;
	const char			*p[5];
	size_t				 i, count;
	PGresult			*r;
	char				 err[512];
	int				 pass;

	n = taxonomy_needs(&count);
	/* Two passes: parents first, then sub-kinds that refer to them. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < count; i++) {
			if ((pass == 0) != (n[i].parent == NULL))
				continue;
			p[0] = n[i].code;
			p[1] = n[i].label;
			p[2] = n[i].group;
			p[3] = n[i].parent;
			p[4] = n[i].seed;
			r = db_exec(pg, "INSERT INTO need_taxonomy (code, label, "
			    "grp, parent, seed_label) VALUES ($1,$2,$3,$4,$5) "
			    "ON CONFLICT (code) DO UPDATE SET label = $2, "
			    "grp = $3, parent = $4, seed_label = $5",
			    5, p, err, sizeof(err));
			if (r == NULL) {
				fprintf(stderr, "concord-admin: taxonomy: %s\n",
				    err);
				return (-1);
			}
			PQclear(r);
		}
	}
	printf("taxonomy: %zu need codes in place\n", count);
	return (0);
}

/*
 * Mirror common/problem.c into problem_titles (insert or update); a
 * database whose migrations stop before that table is left alone.
 */
static int
problem_titles_sync(PGconn *pg)
{
	const struct problem_status	*ps;
	const char			*p[2];
	char				 st[16], err[512];
	size_t				 i, count;
	PGresult			*r;
	int				 absent;

	if ((r = db_exec(pg, "SELECT to_regclass('public.problem_titles') "
	    "IS NULL", 0, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "concord-admin: problem titles: %s\n", err);
		return (-1);
	}
	absent = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (absent)
		return (0);
	ps = problem_statuses(&count);
	for (i = 0; i < count; i++) {
		snprintf(st, sizeof(st), "%d", ps[i].status);
		p[0] = st;
		p[1] = ps[i].title;
		r = db_exec(pg, "INSERT INTO problem_titles (status, title) "
		    "VALUES ($1, $2) ON CONFLICT (status) DO UPDATE SET "
		    "title = $2", 2, p, err, sizeof(err));
		if (r == NULL) {
			fprintf(stderr, "concord-admin: problem titles: %s\n",
			    err);
			return (-1);
		}
		PQclear(r);
	}
	return (0);
}

/*
 * The code schemas: dropped and re-created from sql/code/ whenever those
 * files change. They must hold nothing that tables depend on.
 */
#define CODE_SCHEMAS	"{rpc,api,lib,casework,directory,referral,report,worker}"
#define CODE_FIRST	"lib.sql"	/* creates the schemas */
#define CODE_LAST	"grants.sql"	/* grants on what the others made */
#define AFTER_CODE_MARK	"-- concord:after-code"

/*
 * What re-creating the code schemas would take with it besides code:
 * tables or indexes inside them, and anything outside them (an index
 * expression, a default, a constraint, a trigger, a view) that depends
 * on a function, type or view inside them. One row per offender.
 */
#define CODE_DEPENDENTS \
	"WITH code AS (SELECT oid FROM pg_namespace " \
	"    WHERE nspname = ANY ($1::text[])), " \
	"inner_objs AS (" \
	"    SELECT 'pg_proc'::regclass AS cls, oid FROM pg_proc " \
	"        WHERE pronamespace IN (SELECT oid FROM code) " \
	"    UNION ALL SELECT 'pg_class'::regclass, oid FROM pg_class " \
	"        WHERE relnamespace IN (SELECT oid FROM code) " \
	"    UNION ALL SELECT 'pg_type'::regclass, oid FROM pg_type " \
	"        WHERE typnamespace IN (SELECT oid FROM code) " \
	"    UNION ALL SELECT 'pg_rewrite'::regclass, r.oid FROM pg_rewrite r " \
	"        JOIN pg_class c ON c.oid = r.ev_class " \
	"        WHERE c.relnamespace IN (SELECT oid FROM code)) " \
	"SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid) " \
	"    || ' depends on ' || " \
	"    pg_describe_object(d.refclassid, d.refobjid, 0) " \
	"FROM pg_depend d JOIN inner_objs o ON d.refclassid = o.cls " \
	"    AND d.refobjid = o.oid " \
	"WHERE d.deptype IN ('n', 'a') AND d.classid <> " \
	"    'pg_default_acl'::regclass AND NOT EXISTS (SELECT 1 FROM " \
	"    inner_objs i WHERE i.cls = d.classid AND i.oid = d.objid) " \
	"UNION ALL " \
	"SELECT 'table, index or sequence ' || c.oid::regclass::text || " \
	"    ' lives in a code schema' FROM pg_class c " \
	"WHERE c.relnamespace IN (SELECT oid FROM code) " \
	"    AND c.relkind IN ('r', 'p', 'i', 'S', 'm', 'f') " \
	"ORDER BY 1"

struct sqlfile {
	char	*name;		/* file name within its folder */
	char	*text;		/* whole file, NUL-terminated */
	size_t	 len;
};

static int	 sqlfiles_load(const char *, int, struct sqlfile **,
		    size_t *);
static void	 sqlfiles_free(struct sqlfile *, size_t);
static int	 sql_run(PGconn *, const char *, const char *);
static int	 migration_apply(PGconn *, const struct sqlfile *, const char *);
static int	 code_apply(PGconn *, const char *, int *);

/*
 * Read every file of DIR whose name fits (migrations: NNNN_*.sql, code:
 * *.sql), sorted by name (strcmp). Returns 0, or -1 with a message
 * printed; the caller frees the array with sqlfiles_free().
 */
static int
sqlfiles_load(const char *dir, int numbered, struct sqlfile **out,
    size_t *count)
{
	DIR		*d;
	struct dirent	*de;
	struct sqlfile	*f = NULL, *nf;
	char		 path[4096];
	size_t		 n = 0, i, len;
	int		 rc = -1;

	*out = NULL;
	*count = 0;
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "concord-admin: cannot open %s\n", dir);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 5 || de->d_name[0] == '.' ||
		    strcmp(de->d_name + len - 4, ".sql") != 0)
			continue;
		if (numbered && (len < 10 ||
		    strspn(de->d_name, "0123456789") != 4 ||
		    de->d_name[4] != '_'))
			continue;
		if ((nf = realloc(f, (n + 1) * sizeof(*f))) == NULL)
			goto out;
		f = nf;
		f[n].name = strdup(de->d_name);
		f[n].text = NULL;
		n++;
	}
	for (i = 0; i < n; i++)
		if (f[i].name == NULL)
			goto out;
	qsort(f, n, sizeof(*f), name_cmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, f[i].name);
		if ((f[i].text = file_read(path, &f[i].len)) == NULL) {
			fprintf(stderr, "concord-admin: cannot read %s\n",
			    path);
			goto out;
		}
	}
	rc = 0;
out:
	closedir(d);
	if (rc == -1) {
		sqlfiles_free(f, n);
		return (-1);
	}
	*out = f;
	*count = n;
	return (0);
}

static void
sqlfiles_free(struct sqlfile *f, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(f[i].name);
		free(f[i].text);
	}
	free(f);
}

/* Run a multi-statement text; 0, or -1 with "WHAT: error" printed. */
static int
sql_run(PGconn *pg, const char *text, const char *what)
{
	PGresult	*r;
	int		 rc = 0;

	r = PQexec(pg, text);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		fprintf(stderr, "concord-admin: %s: %s", what,
		    PQresultErrorMessage(r));
		rc = -1;
	}
	PQclear(r);
	return (rc);
}

/* Apply one migration in its own transaction and record its checksum. */
static int
migration_apply(PGconn *pg, const struct sqlfile *m, const char *sum)
{
	const char	*p[3];
	char		 ver[16], err[1024];
	PGresult	*r;

	snprintf(ver, sizeof(ver), "%d", atoi(m->name));
	p[0] = ver;
	p[1] = m->name;
	p[2] = sum;
	if (sql_run(pg, "BEGIN", "begin") == -1)
		return (-1);
	if (sql_run(pg, m->text, m->name) == -1)
		goto fail;
	if ((r = db_exec(pg, "INSERT INTO schema_migrations (version, name, "
	    "checksum) VALUES ($1, $2, $3)", 3, p, err, sizeof(err))) == NULL) {
		fprintf(stderr, "concord-admin: %s\n", err);
		goto fail;
	}
	PQclear(r);
	if (sql_run(pg, "COMMIT", "commit") == -1)
		return (-1);
	printf("migrated %s\n", m->name);
	return (0);
fail:
	(void)sql_run(pg, "ROLLBACK", "rollback");
	return (-1);
}

/*
 * Re-create the code schemas from DIR (sql/code) when the checksum over
 * its files differs from the one schema_code records: in one
 * transaction, drop the code schemas (refusing, with the list, if
 * anything but code would go with them), run lib.sql, the other files
 * in name order, grants.sql, and record the checksum. Sets *applied.
 * Returns 0, or -1 with a message printed and nothing changed.
 */
static int
code_apply(PGconn *pg, const char *dir, int *applied)
{
	struct sqlfile	*f = NULL;
	EVP_MD_CTX	*md = NULL;
	unsigned char	 raw[EVP_MAX_MD_SIZE];
	unsigned int	 rawlen = 0, k;
	char		 sum[65], err[1024];
	const char	*p[1];
	size_t		 n = 0, i, pass;
	PGresult	*r = NULL;
	int		 rc = -1, found, open = 0;

	*applied = 0;
	if (sqlfiles_load(dir, 0, &f, &n) == -1)
		goto out;
	if (n == 0) {
		fprintf(stderr, "concord-admin: %s holds no code\n", dir);
		goto out;
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	for (i = 0; i < n; i++)
		EVP_DigestUpdate(md, f[i].text, f[i].len);
	EVP_DigestFinal_ex(md, raw, &rawlen);
	for (k = 0; k < rawlen; k++)
		snprintf(sum + k * 2, 3, "%02x", raw[k]);

	if ((r = db_exec(pg, "SELECT checksum FROM schema_code", 0, NULL,
	    err, sizeof(err))) == NULL) {
		fprintf(stderr, "concord-admin: %s\n", err);
		goto out;
	}
	found = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), sum) == 0;
	PQclear(r);
	r = NULL;
	if (found) {
		printf("code unchanged (%.12s)\n", sum);
		rc = 0;
		goto out;
	}

	if (sql_run(pg, "BEGIN", "begin") == -1)
		goto out;
	open = 1;
	/* Bodies refer across files; they are checked when first run. */
	if (sql_run(pg, "SET LOCAL check_function_bodies = off",
	    "settings") == -1)
		goto out;
	p[0] = CODE_SCHEMAS;
	if ((r = db_exec(pg, CODE_DEPENDENTS, 1, p, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "concord-admin: %s\n", err);
		goto out;
	}
	if (PQntuples(r) > 0) {
		fprintf(stderr, "concord-admin: refusing to re-create the code "
		    "schemas: these would be dropped with them (move what "
		    "tables depend on into a migration, schema store):\n");
		for (k = 0; k < (unsigned int)PQntuples(r); k++)
			fprintf(stderr, "  %s\n", PQgetvalue(r, (int)k, 0));
		goto out;
	}
	PQclear(r);
	r = NULL;
	if ((r = db_exec(pg, "SELECT 'DROP SCHEMA IF EXISTS ' || "
	    "string_agg(quote_ident(x), ', ') || ' CASCADE' "
	    "FROM unnest($1::text[]) x", 1, p, err, sizeof(err))) == NULL) {
		fprintf(stderr, "concord-admin: %s\n", err);
		goto out;
	}
	if (sql_run(pg, PQgetvalue(r, 0, 0), "dropping code") == -1)
		goto out;
	PQclear(r);
	r = NULL;
	/* Pass 0: lib.sql; 1: the rest in name order; 2: grants.sql. */
	for (pass = 0; pass < 3; pass++) {
		for (i = 0; i < n; i++) {
			int first = strcmp(f[i].name, CODE_FIRST) == 0;
			int last = strcmp(f[i].name, CODE_LAST) == 0;

			if ((pass == 0 && !first) || (pass == 2 && !last) ||
			    (pass == 1 && (first || last)))
				continue;
			if (sql_run(pg, f[i].text, f[i].name) == -1)
				goto out;
		}
	}
	p[0] = sum;
	if ((r = db_exec(pg, "INSERT INTO schema_code (checksum) VALUES ($1) "
	    "ON CONFLICT (one) DO UPDATE SET checksum = $1, applied_at = "
	    "now()", 1, p, err, sizeof(err))) == NULL) {
		fprintf(stderr, "concord-admin: %s\n", err);
		goto out;
	}
	PQclear(r);
	r = NULL;
	if (sql_run(pg, "COMMIT", "commit") == -1) {
		open = 0;
		goto out;
	}
	open = 0;
	printf("code applied: %zu files (%.12s)\n", n, sum);
	*applied = 1;
	rc = 0;
out:
	if (r != NULL)
		PQclear(r);
	if (open)
		(void)sql_run(pg, "ROLLBACK", "rollback");
	if (md != NULL)
		EVP_MD_CTX_free(md);
	sqlfiles_free(f, n);
	return (rc);
}

/*
 * migrate [--dir DIR] [--migrations-only]: apply the pending migrations
 * of DIR/migrations in order (a migration whose first line is
 * "-- concord:after-code" waits until the code is in place: backfills of
 * stored output), sync the taxonomy, re-create the code from DIR/code if
 * it changed, then the waiting migrations. Idempotent: a second run
 * changes nothing. Exits 0, or 1 with a message.
 */
static int
cmd_migrate(int argc, char **argv)
{
	const char	*dir = "sql";
	struct sqlfile	*m = NULL;
	char		 path[4096], sum[65], err[1024], ver[16];
	const char	*p[1];
	char		*post;
	size_t		 n = 0, i;
	PGconn		*pg = NULL;
	PGresult	*r;
	int		 rc = 1, applied = 0, with_code = 1, code_done = 0;
	int		 waiting = 0;

	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < (size_t)argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--migrations-only") == 0)
			with_code = 0;
		else
			usage();
	}
	snprintf(path, sizeof(path), "%s/migrations", dir);
	if (sqlfiles_load(path, 1, &m, &n) == -1)
		goto out;
	if ((post = calloc(n + 1, 1)) == NULL)
		goto out;
	if ((pg = admin_connect()) == NULL)
		goto out_post;

	/* One migrator at a time; concurrent starts wait here. */
	if ((r = db_exec(pg, "SELECT pg_advisory_lock(7261001)", 0, NULL,
	    err, sizeof(err))) == NULL)
		goto dberr;
	PQclear(r);
	if ((r = db_exec(pg, MIGRATIONS_TABLE, 0, NULL, err,
	    sizeof(err))) == NULL)
		goto dberr;
	PQclear(r);

	for (i = 0; i < n; i++) {
		sha256_hex(m[i].text, m[i].len, sum);
		snprintf(ver, sizeof(ver), "%d", atoi(m[i].name));
		p[0] = ver;
		if ((r = db_exec(pg, "SELECT checksum FROM schema_migrations "
		    "WHERE version = $1", 1, p, err, sizeof(err))) == NULL)
			goto dberr;
		if (PQntuples(r) == 1) {
			if (strcmp(PQgetvalue(r, 0, 0), sum) != 0) {
				fprintf(stderr, "concord-admin: migration %s was "
				    "edited after it was applied; add a new "
				    "migration instead\n", m[i].name);
				PQclear(r);
				goto out_post;
			}
			PQclear(r);
			continue;
		}
		PQclear(r);
		if (strncmp(m[i].text, AFTER_CODE_MARK,
		    strlen(AFTER_CODE_MARK)) == 0) {
			post[i] = 1;
			waiting++;
			continue;
		}
		if (migration_apply(pg, &m[i], sum) == -1)
			goto out_post;
		applied++;
	}
	if (taxonomy_sync(pg) == -1 || problem_titles_sync(pg) == -1)
		goto out_post;
	if (with_code) {
		snprintf(path, sizeof(path), "%s/code", dir);
		if (code_apply(pg, path, &code_done) == -1)
			goto out_post;
	} else if (waiting > 0) {
		printf("%d migration(s) wait for the code step\n", waiting);
	}
	for (i = 0; i < n && with_code; i++) {
		if (!post[i])
			continue;
		sha256_hex(m[i].text, m[i].len, sum);
		if (migration_apply(pg, &m[i], sum) == -1)
			goto out_post;
		applied++;
	}
	printf("schema at version %d (%d applied now)\n",
	    n > 0 ? atoi(m[n - 1].name) : 0, applied);
	rc = 0;
	goto out_post;
dberr:
	fprintf(stderr, "concord-admin: %s\n", err);
out_post:
	free(post);
out:
	sqlfiles_free(m, n);
	if (pg != NULL)
		PQfinish(pg);
	return (rc);
}

/*
 * The HS256 secret of the stack `make run` keeps running, for when
 * CONCORD_JWT_HS256_SECRET is unset: $CONCORD_STATE_DIR/jwt_secret, or
 * .run/jwt_secret under the current folder. Returns the secret (the
 * caller frees it) or NULL after saying what is missing.
 */
static char *
token_stack_secret(void)
{
	const char	*dir;
	char		 path[4096], *secret;
	size_t		 len;

	dir = getenv("CONCORD_STATE_DIR");
	if (dir == NULL || *dir == '\0')
		dir = ".run";
	snprintf(path, sizeof(path), "%s/jwt_secret", dir);
	if ((secret = file_read(path, &len)) == NULL) {
		fprintf(stderr, "concord-admin: CONCORD_JWT_HS256_SECRET is not "
		    "set and %s does not exist (start the stack with `make run`, "
		    "or set CONCORD_STATE_DIR to its state folder)\n", path);
		return (NULL);
	}
	while (len > 0 && (secret[len - 1] == '\n' || secret[len - 1] == '\r' ||
	    secret[len - 1] == ' '))
		secret[--len] = '\0';
	if (len < 32) {
		fprintf(stderr, "concord-admin: %s holds no secret of at least "
		    "32 bytes\n", path);
		explicit_bzero(secret, len);
		free(secret);
		return (NULL);
	}
	fprintf(stderr, "concord-admin: signing with the secret in %s\n", path);
	return (secret);
}

static int
cmd_token(int argc, char **argv)
{
	static struct option	 opts[] = {
		{ "role", required_argument, NULL, 'r' },
		{ "org", required_argument, NULL, 'o' },
		{ "sub", required_argument, NULL, 's' },
		{ "ttl", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	struct concord_config	 cfg;
	jwt_t			*jwt = NULL;
	json_t			*roles, *claims;
	char			 err[256], *tok = NULL, *js = NULL;
	const char		*org = NULL, *sub = "local-admin";
	long			 ttl = 3600;
	time_t			 now = time(NULL);
	int			 ch, rc = 1;

	roles = json_array();
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			if (auth_role_bit(optarg) == 0) {
				fprintf(stderr, "concord-admin: unknown role "
				    "%s\n", optarg);
				goto out;
			}
			json_array_append_new(roles, json_string(optarg));
			break;
		case 'o':
			if (!auth_is_uuid(optarg)) {
				fprintf(stderr, "concord-admin: --org takes an "
				    "organization id\n");
				goto out;
			}
			org = optarg;
			break;
		case 's':
			sub = optarg;
			break;
		case 't':
			ttl = strtol(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (json_array_size(roles) == 0 || ttl <= 0)
		usage();
	if (concord_config_load(&cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "concord-admin: %s\n", err);
		goto out;
	}
	if (cfg.jwt_hs256_secret == NULL &&
	    (cfg.jwt_hs256_secret = token_stack_secret()) == NULL) {
		concord_config_cleanup(&cfg);
		goto out;
	}
	if (org == NULL && !(json_array_size(roles) == 1 &&
	    strcmp(json_string_value(json_array_get(roles, 0)), "admin") == 0))
		fprintf(stderr, "concord-admin: note: the API refuses a token "
		    "without --org unless its only role is admin (demo "
		    "organizations: deploy/demo-roles.txt)\n");
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:O}",
	    "iss", cfg.jwt_issuer, "aud", cfg.jwt_audience, "sub", sub,
	    "iat", (json_int_t)now, "nbf", (json_int_t)now,
	    "exp", (json_int_t)(now + ttl), "roles", roles);
	if (org != NULL)
		json_object_set_new(claims, "org", json_string(org));
	js = json_dumps(claims, JSON_COMPACT);
	json_decref(claims);
	if (jwt_new(&jwt) != 0 || jwt_add_grants_json(jwt, js) != 0 ||
	    jwt_add_header(jwt, "kid", cfg.jwt_hs256_kid) != 0 ||
	    jwt_set_alg(jwt, JWT_ALG_HS256,
	    (const unsigned char *)cfg.jwt_hs256_secret,
	    (int)strlen(cfg.jwt_hs256_secret)) != 0 ||
	    (tok = jwt_encode_str(jwt)) == NULL) {
		fprintf(stderr, "concord-admin: cannot mint token\n");
	} else {
		printf("%s\n", tok);
		rc = 0;
	}
	concord_config_cleanup(&cfg);
out:
	free(js);
	free(tok);
	if (jwt != NULL)
		jwt_free(jwt);
	json_decref(roles);
	return (rc);
}

static int
cmd_sql(int argc, char **argv)
{
	PGconn		*pg;
	PGresult	*r;
	char		*text;
	size_t		 len;
	int		 rc = 1;

	if (argc != 2)
		usage();
	if ((text = file_read(argv[1], &len)) == NULL) {
		fprintf(stderr, "concord-admin: cannot read %s\n", argv[1]);
		return (1);
	}
	if ((pg = admin_connect()) != NULL) {
		r = PQexec(pg, text);
		if (PQresultStatus(r) == PGRES_COMMAND_OK ||
		    PQresultStatus(r) == PGRES_TUPLES_OK)
			rc = 0;
		else
			fprintf(stderr, "concord-admin: %s: %s", argv[1],
			    PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(pg);
	}
	free(text);
	return (rc);
}

/*
 * Verify the sealed audit trail (SQL lib.audit_verify): every seal and
 * batch head, and how far sealing has got. Prints the outcome; exits 0
 * when intact, 1 at the first problem or on error.
 */
static int
cmd_audit_verify(int argc, char **argv)
{
	PGconn		*pg;
	PGresult	*r;
	char		 err[512];
	int		 rc = 1;

	(void)argv;
	if (argc != 1)
		usage();
	if ((pg = admin_connect()) == NULL)
		return (1);
	if ((r = db_exec(pg, "SELECT ok, checked, broken_id, reason, batches, "
	    "coalesce(sealed_up_to, 0), unsealed, oldest_unsealed_s "
	    "FROM lib.audit_verify()", 0, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "concord-admin: %s\n", err);
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
		printf("audit trail intact: %s sealed records in %s batches "
		    "(sealed up to %s); %s waiting, oldest %s s\n",
		    PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 4),
		    PQgetvalue(r, 0, 5), PQgetvalue(r, 0, 6),
		    PQgetvalue(r, 0, 7));
		rc = 0;
	} else {
		printf("audit trail broken at record %s: %s (%s records "
		    "verified before it)\n", PQgetvalue(r, 0, 2),
		    PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 1));
	}
	PQclear(r);
out:
	PQfinish(pg);
	return (rc);
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "migrate") == 0)
		return (cmd_migrate(argc - 1, argv + 1));
	if (strcmp(argv[1], "token") == 0)
		return (cmd_token(argc - 1, argv + 1));
	if (strcmp(argv[1], "sql") == 0)
		return (cmd_sql(argc - 1, argv + 1));
	if (strcmp(argv[1], "audit-verify") == 0)
		return (cmd_audit_verify(argc - 1, argv + 1));
	usage();
}
