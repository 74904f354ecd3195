/*
 * concord-admin: the operator's command. `migrate` applies sql/NNNN_*.sql
 * in order, each in its own transaction, records them with a checksum
 * (an edited landed migration is refused) and mirrors the need taxonomy;
 * `token` mints a local HS256 token; `sql FILE` loads a data file such as
 * the demo task force; `audit-verify` walks the audit hash chain and
 * reports its first broken link. It connects with
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
static int	 cmd_sql(int, char **);
static int	 cmd_audit_verify(int, char **);
static PGconn	*admin_connect(void);
static int	 taxonomy_sync(PGconn *);

static void
usage(void)
{
	fprintf(stderr,
	    "usage: concord-admin migrate [--dir DIR]\n"
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

static int
cmd_migrate(int argc, char **argv)
{
	const char	*dir = "sql";
	DIR		*d = NULL;
	struct dirent	*de;
	char		*names[1000], path[4096], sum[65], err[1024], ver[16];
	const char	*p[3];
	char		*text = NULL;
	size_t		 n = 0, i, len;
	PGconn		*pg = NULL;
	PGresult	*r;
	int		 rc = 1, version, applied = 0;

	if (argc == 3 && strcmp(argv[1], "--dir") == 0)
		dir = argv[2];
	else if (argc != 1)
		usage();
	if ((pg = admin_connect()) == NULL)
		goto out;
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "concord-admin: cannot open %s\n", dir);
		goto out;
	}
	while ((de = readdir(d)) != NULL && n < 1000) {
		len = strlen(de->d_name);
		if (len > 9 && strspn(de->d_name, "0123456789") == 4 &&
		    de->d_name[4] == '_' &&
		    strcmp(de->d_name + len - 4, ".sql") == 0)
			names[n++] = strdup(de->d_name);
	}
	qsort(names, n, sizeof(names[0]), name_cmp);

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
		version = atoi(names[i]);
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		free(text);
		if ((text = file_read(path, &len)) == NULL) {
			fprintf(stderr, "concord-admin: cannot read %s\n", path);
			goto out;
		}
		sha256_hex(text, len, sum);
		snprintf(ver, sizeof(ver), "%d", version);
		p[0] = ver;
		if ((r = db_exec(pg, "SELECT checksum FROM schema_migrations "
		    "WHERE version = $1", 1, p, err, sizeof(err))) == NULL)
			goto dberr;
		if (PQntuples(r) == 1) {
			if (strcmp(PQgetvalue(r, 0, 0), sum) != 0) {
				fprintf(stderr, "concord-admin: migration %s was "
				    "edited after it was applied; add a new "
				    "migration instead\n", names[i]);
				PQclear(r);
				goto out;
			}
			PQclear(r);
			continue;
		}
		PQclear(r);
		r = PQexec(pg, "BEGIN");
		PQclear(r);
		r = PQexec(pg, text);
		if (PQresultStatus(r) != PGRES_COMMAND_OK &&
		    PQresultStatus(r) != PGRES_TUPLES_OK) {
			fprintf(stderr, "concord-admin: %s failed: %s", names[i],
			    PQresultErrorMessage(r));
			PQclear(r);
			r = PQexec(pg, "ROLLBACK");
			PQclear(r);
			goto out;
		}
		PQclear(r);
		p[1] = names[i];
		p[2] = sum;
		if ((r = db_exec(pg, "INSERT INTO schema_migrations (version, "
		    "name, checksum) VALUES ($1, $2, $3)", 3, p, err,
		    sizeof(err))) == NULL)
			goto dberr;
		PQclear(r);
		r = PQexec(pg, "COMMIT");
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			PQclear(r);
			snprintf(err, sizeof(err), "commit failed");
			goto dberr;
		}
		PQclear(r);
		printf("migrated %s\n", names[i]);
		applied++;
	}
	if (taxonomy_sync(pg) == -1)
		goto out;
	printf("schema at version %d (%d applied now)\n",
	    n > 0 ? atoi(names[n - 1]) : 0, applied);
	rc = 0;
	goto out;
dberr:
	fprintf(stderr, "concord-admin: %s\n", err);
out:
	free(text);
	for (i = 0; i < n; i++)
		free(names[i]);
	if (d != NULL)
		closedir(d);
	if (pg != NULL)
		PQfinish(pg);
	return (rc);
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
	if (cfg.jwt_hs256_secret == NULL) {
		fprintf(stderr, "concord-admin: CONCORD_JWT_HS256_SECRET is "
		    "not set\n");
		concord_config_cleanup(&cfg);
		goto out;
	}
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
 * Walk the audit hash chain (SQL audit_verify()). Prints the outcome;
 * exits 0 when intact, 1 at the first broken link or on error.
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
	if ((r = db_exec(pg, "SELECT ok, checked, broken_id, reason "
	    "FROM audit_verify()", 0, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "concord-admin: %s\n", err);
		goto out;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
		printf("audit chain intact: %s records\n", PQgetvalue(r, 0, 1));
		rc = 0;
	} else {
		printf("audit chain broken at record %s: %s (%s records "
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
