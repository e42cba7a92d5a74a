/* The SQLite backend: WAL, synchronous=FULL, a busy timeout for the other
 * processes, schema migrations keyed on PRAGMA user_version, and one cache
 * of prepared statements per connection. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Migration i takes the schema from version i to version i + 1.  Never edit
 * a released migration: append a new one. */
static const char *const migrations[] = {
	/* 0 -> 1: users and bindings */
	"CREATE TABLE users ("
	" aor TEXT PRIMARY KEY NOT NULL,"
	" realm TEXT NOT NULL,"
	" ha1_md5 TEXT NOT NULL,"
	" ha1_sha256 TEXT NOT NULL,"
	" created INTEGER NOT NULL"
	");"
	"CREATE TABLE bindings ("
	" aor TEXT NOT NULL,"
	" contact TEXT NOT NULL,"
	" instance TEXT NOT NULL DEFAULT '',"
	" reg_id INTEGER NOT NULL DEFAULT 0,"
	" path TEXT NOT NULL DEFAULT '',"
	" source TEXT NOT NULL DEFAULT '',"
	" q1000 INTEGER NOT NULL DEFAULT 1000,"
	" expires INTEGER NOT NULL,"
	" call_id TEXT NOT NULL DEFAULT '',"
	" cseq INTEGER NOT NULL DEFAULT 0,"
	" user_agent TEXT NOT NULL DEFAULT '',"
	" PRIMARY KEY (aor, contact)"
	");"
	"CREATE INDEX bindings_expires ON bindings (expires);",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof *migrations))

enum stmt_id {
	ST_USER_ADD,
	ST_USER_DEL,
	ST_USER_GET,
	ST_USER_UPDATE,
	ST_USER_LIST,
	ST_BIND_PUT,
	ST_BIND_DEL,
	ST_BIND_DEL_AOR,
	ST_BIND_LIST,
	ST_BIND_PURGE,
	ST_COUNT
};

#define USER_COLS "aor, realm, ha1_md5, ha1_sha256, created"
#define BIND_COLS                                                     \
	"aor, contact, instance, reg_id, path, source, q1000, expires, " \
	"call_id, cseq, user_agent"

static const char *const stmt_sql[ST_COUNT] = {
	[ST_USER_ADD] = "INSERT INTO users (" USER_COLS ") VALUES (?1, ?2, ?3, ?4, ?5)",
	[ST_USER_DEL] = "DELETE FROM users WHERE aor = ?1",
	[ST_USER_GET] = "SELECT " USER_COLS " FROM users WHERE aor = ?1",
	[ST_USER_UPDATE] = "UPDATE users SET realm = ?2, ha1_md5 = ?3, "
			   "ha1_sha256 = ?4 WHERE aor = ?1",
	[ST_USER_LIST] = "SELECT " USER_COLS " FROM users ORDER BY aor",
	[ST_BIND_PUT] = "INSERT INTO bindings (" BIND_COLS ") VALUES (?1, ?2, ?3, "
			"?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
			"ON CONFLICT (aor, contact) DO UPDATE SET "
			"instance = excluded.instance, reg_id = excluded.reg_id, "
			"path = excluded.path, source = excluded.source, "
			"q1000 = excluded.q1000, expires = excluded.expires, "
			"call_id = excluded.call_id, cseq = excluded.cseq, "
			"user_agent = excluded.user_agent",
	[ST_BIND_DEL] = "DELETE FROM bindings WHERE aor = ?1 AND contact = ?2",
	[ST_BIND_DEL_AOR] = "DELETE FROM bindings WHERE aor = ?1",
	[ST_BIND_LIST] = "SELECT " BIND_COLS " FROM bindings WHERE expires > ?1 "
			 "ORDER BY aor, q1000 DESC, contact",
	[ST_BIND_PURGE] = "DELETE FROM bindings WHERE expires <= ?1",
};

struct sq {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	bool in_use[ST_COUNT];
};

static struct sq *SQ(struct cpm_store *s)
{
	return s->priv;
}

/* Record and log a SQLite failure; map it to a CPM_E*. */
static int sq_fail(struct cpm_store *s, sqlite3 *db, int rc, const char *what)
{
	snprintf(s->errmsg, sizeof s->errmsg, "%s: %s", what,
		 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	cpm_loge("store", "sqlite %s", s->errmsg);
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return CPM_EBUSY;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return CPM_EIO;
	case SQLITE_NOMEM:
		return CPM_ENOMEM;
	default:
		return CPM_ESTORE;
	}
}

static int exec(struct cpm_store *s, sqlite3 *db, const char *sql,
		const char *what)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sq_fail(s, db, rc, what);
}

/* The cached statement id, reset and marked in use; NULL on failure (*rc). */
static sqlite3_stmt *stmt_get(struct cpm_store *s, enum stmt_id id, int *rc)
{
	struct sq *q = SQ(s);
	if (q->in_use[id]) {
		snprintf(s->errmsg, sizeof s->errmsg,
			 "statement %d re-entered from a list callback", (int)id);
		*rc = CPM_EBUSY;
		return NULL;
	}
	if (!q->st[id]) {
		int r = sqlite3_prepare_v3(q->db, stmt_sql[id], -1,
					   SQLITE_PREPARE_PERSISTENT, &q->st[id],
					   NULL);
		if (r != SQLITE_OK) {
			*rc = sq_fail(s, q->db, r, "prepare");
			q->st[id] = NULL;
			return NULL;
		}
	}
	q->in_use[id] = true;
	return q->st[id];
}

static void stmt_put(struct cpm_store *s, enum stmt_id id)
{
	struct sq *q = SQ(s);
	sqlite3_reset(q->st[id]);
	/* forget the caller's buffers (bound SQLITE_STATIC) */
	sqlite3_clear_bindings(q->st[id]);
	q->in_use[id] = false;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* Copy a text column; false if it does not fit. */
static bool col_text(sqlite3_stmt *st, int i, char *dst, size_t dstsz)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	int n = sqlite3_column_bytes(st, i);
	if (!t) {
		dst[0] = '\0';
		return true;
	}
	if ((size_t)n >= dstsz)
		return false;
	memcpy(dst, t, (size_t)n);
	dst[n] = '\0';
	return true;
}

/* Run a statement that returns no rows; the number of changed rows. */
static int step_done(struct cpm_store *s, enum stmt_id id, sqlite3_stmt *st,
		     const char *what)
{
	int r = sqlite3_step(st);
	int rc = r == SQLITE_DONE ? sqlite3_changes(SQ(s)->db)
				  : sq_fail(s, SQ(s)->db, r, what);
	stmt_put(s, id);
	return rc;
}

/* -------------------------------------------------------- open and schema */

static int mkdir_parents(const char *path)
{
	char *tmp = strdup(path);
	if (!tmp)
		return CPM_ENOMEM;
	char *slash = strrchr(tmp, '/');
	if (slash)
		*slash = '\0';
	for (char *p = tmp + 1; slash && p <= slash; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (tmp[0] && mkdir(tmp, 0750) != 0) {
			int e = errno;
			struct stat st;
			/* EEXIST, or e.g. EROFS/EACCES on an existing one */
			if (e != EEXIST &&
			    !(stat(tmp, &st) == 0 && S_ISDIR(st.st_mode))) {
				cpm_loge("store", "mkdir %s: %s", tmp, strerror(e));
				free(tmp);
				return CPM_EIO;
			}
		}
		*p = c;
	}
	free(tmp);
	return 0;
}

static int user_version(struct cpm_store *s, sqlite3 *db, int *v)
{
	sqlite3_stmt *st;
	int r = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (r != SQLITE_OK)
		return sq_fail(s, db, r, "schema version");
	r = sqlite3_step(st);
	if (r == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return r == SQLITE_ROW ? 0 : sq_fail(s, db, r, "schema version");
}

static int migrate(struct cpm_store *s, sqlite3 *db)
{
	int v, rc = user_version(s, db, &v);
	if (rc)
		return rc;
	if (v == SCHEMA_VERSION)
		return 0;
	if (v > SCHEMA_VERSION)
		goto too_new;
	/* BEGIN IMMEDIATE: one process migrates, the others wait and see */
	rc = exec(s, db, "BEGIN IMMEDIATE", "migration");
	if (rc)
		return rc;
	rc = user_version(s, db, &v);
	if (!rc && v > SCHEMA_VERSION) {
		exec(s, db, "ROLLBACK", "migration");
		goto too_new;
	}
	int from = v;
	for (; !rc && v < SCHEMA_VERSION; v++)
		rc = exec(s, db, migrations[v], "migration");
	if (!rc && from > 0)
		cpm_logn("store", "schema migrated from version %d to %d", from,
			 SCHEMA_VERSION);
	else if (!rc)
		cpm_logi("store", "schema version %d created", SCHEMA_VERSION);
	if (!rc) {
		char sql[64];
		snprintf(sql, sizeof sql, "PRAGMA user_version = %d",
			 SCHEMA_VERSION);
		rc = exec(s, db, sql, "migration");
	}
	if (!rc)
		rc = exec(s, db, "COMMIT", "migration");
	if (rc)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
too_new:
	snprintf(s->errmsg, sizeof s->errmsg,
		 "database schema version %d is newer than this program's (%d)",
		 v, SCHEMA_VERSION);
	cpm_loge("store", "%s", s->errmsg);
	return CPM_EVERSION;
}

static int sq_open(struct cpm_store *s, const char *path)
{
	if (!path || !*path)
		return CPM_EINVAL;
	bool memory = strcmp(path, ":memory:") == 0;
	if (!memory) {
		int rc = mkdir_parents(path);
		if (rc)
			return rc;
		/* the HA1s are password equivalents: not world-readable */
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			cpm_loge("store", "open %s: %s", path, strerror(errno));
			return CPM_EIO;
		}
		close(fd);
	}
	struct sq *q = calloc(1, sizeof *q);
	if (!q)
		return CPM_ENOMEM;
	int r = sqlite3_open_v2(path, &q->db,
				SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	int rc = 0;
	if (r != SQLITE_OK) {
		rc = sq_fail(s, q->db, r, path);
		goto fail;
	}
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, s->opts.busy_timeout_ms);
	rc = exec(s, q->db, "PRAGMA journal_mode = WAL", "journal mode");
	if (!rc)
		rc = exec(s, q->db, "PRAGMA synchronous = FULL", "synchronous");
	if (!rc)
		rc = migrate(s, q->db);
	if (rc)
		goto fail;
	s->priv = q;
	return 0;
fail:
	sqlite3_close(q->db);
	free(q);
	return rc;
}

static void sq_close(struct cpm_store *s)
{
	struct sq *q = SQ(s);
	if (!q)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(q->st[i]);
	if (sqlite3_close(q->db) != SQLITE_OK)
		cpm_loge("store", "close: %s", sqlite3_errmsg(q->db));
	free(q);
	s->priv = NULL;
}

/* -------------------------------------------------------------------- users */

static int read_user(sqlite3_stmt *st, struct cpm_store_user *u)
{
	memset(u, 0, sizeof *u);
	if (!col_text(st, 0, u->aor, sizeof u->aor) ||
	    !col_text(st, 1, u->realm, sizeof u->realm) ||
	    !col_text(st, 2, u->ha1_md5, sizeof u->ha1_md5) ||
	    !col_text(st, 3, u->ha1_sha256, sizeof u->ha1_sha256))
		return CPM_ESTORE;
	u->created = sqlite3_column_int64(st, 4);
	return 0;
}

static int sq_user_add(struct cpm_store *s, const struct cpm_store_user *u)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_USER_ADD, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, u->aor);
	bind_text(st, 2, u->realm);
	bind_text(st, 3, u->ha1_md5);
	bind_text(st, 4, u->ha1_sha256);
	sqlite3_bind_int64(st, 5, u->created);
	int r = sqlite3_step(st);
	if (r == SQLITE_DONE)
		rc = 0;
	else if (r == SQLITE_CONSTRAINT_PRIMARYKEY)
		rc = CPM_EEXIST;
	else
		rc = sq_fail(s, SQ(s)->db, r, "user add");
	stmt_put(s, ST_USER_ADD);
	return rc;
}

static int sq_user_del(struct cpm_store *s, const char *aor)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_USER_DEL, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, aor);
	rc = step_done(s, ST_USER_DEL, st, "user del");
	return rc < 0 ? rc : rc == 0 ? CPM_ENOTFOUND : 0;
}

static int sq_user_get(struct cpm_store *s, const char *aor,
		       struct cpm_store_user *out)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_USER_GET, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, aor);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		rc = read_user(st, out);
		if (rc)
			snprintf(s->errmsg, sizeof s->errmsg,
				 "user %s: oversized column", aor);
	} else if (r == SQLITE_DONE) {
		rc = CPM_ENOTFOUND;
	} else {
		rc = sq_fail(s, SQ(s)->db, r, "user get");
	}
	stmt_put(s, ST_USER_GET);
	return rc;
}

static int sq_user_update(struct cpm_store *s, const struct cpm_store_user *u)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_USER_UPDATE, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, u->aor);
	bind_text(st, 2, u->realm);
	bind_text(st, 3, u->ha1_md5);
	bind_text(st, 4, u->ha1_sha256);
	rc = step_done(s, ST_USER_UPDATE, st, "user update");
	return rc < 0 ? rc : rc == 0 ? CPM_ENOTFOUND : 0;
}

static int sq_user_list(struct cpm_store *s,
			int (*cb)(void *arg, const struct cpm_store_user *u),
			void *arg)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_USER_LIST, &rc);
	if (!st)
		return rc;
	struct cpm_store_user u;
	int r = SQLITE_DONE;
	rc = 0;
	while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
		if (read_user(st, &u)) {
			cpm_logw("store", "user list: skipping oversized row");
			continue;
		}
		rc = cb(arg, &u);
	}
	if (!rc && r != SQLITE_DONE)
		rc = sq_fail(s, SQ(s)->db, r, "user list");
	stmt_put(s, ST_USER_LIST);
	return rc;
}

/* ----------------------------------------------------------------- bindings */

static int read_binding(sqlite3_stmt *st, struct cpm_store_binding *b)
{
	memset(b, 0, sizeof *b);
	if (!col_text(st, 0, b->aor, sizeof b->aor) ||
	    !col_text(st, 1, b->contact, sizeof b->contact) ||
	    !col_text(st, 2, b->instance, sizeof b->instance) ||
	    !col_text(st, 4, b->path, sizeof b->path) ||
	    !col_text(st, 5, b->source, sizeof b->source) ||
	    !col_text(st, 8, b->call_id, sizeof b->call_id) ||
	    !col_text(st, 10, b->user_agent, sizeof b->user_agent))
		return CPM_ESTORE;
	b->reg_id = sqlite3_column_int(st, 3);
	b->q1000 = sqlite3_column_int(st, 6);
	b->expires = sqlite3_column_int64(st, 7);
	b->cseq = (uint32_t)sqlite3_column_int64(st, 9);
	return 0;
}

static int sq_binding_put(struct cpm_store *s, const struct cpm_store_binding *b)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_BIND_PUT, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, b->aor);
	bind_text(st, 2, b->contact);
	bind_text(st, 3, b->instance);
	sqlite3_bind_int(st, 4, b->reg_id);
	bind_text(st, 5, b->path);
	bind_text(st, 6, b->source);
	sqlite3_bind_int(st, 7, b->q1000);
	sqlite3_bind_int64(st, 8, b->expires);
	bind_text(st, 9, b->call_id);
	sqlite3_bind_int64(st, 10, (int64_t)b->cseq);
	bind_text(st, 11, b->user_agent);
	rc = step_done(s, ST_BIND_PUT, st, "binding put");
	return rc < 0 ? rc : 0;
}

static int sq_binding_del(struct cpm_store *s, const char *aor,
			  const char *contact)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_BIND_DEL, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, aor);
	bind_text(st, 2, contact);
	rc = step_done(s, ST_BIND_DEL, st, "binding del");
	return rc < 0 ? rc : rc == 0 ? CPM_ENOTFOUND : 0;
}

static int sq_binding_del_aor(struct cpm_store *s, const char *aor)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_BIND_DEL_AOR, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, aor);
	rc = step_done(s, ST_BIND_DEL_AOR, st, "binding del aor");
	return rc < 0 ? rc : 0;
}

static int sq_binding_list(struct cpm_store *s, int64_t now,
			   int (*cb)(void *arg,
				     const struct cpm_store_binding *b),
			   void *arg)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_BIND_LIST, &rc);
	if (!st)
		return rc;
	sqlite3_bind_int64(st, 1, now);
	struct cpm_store_binding *b = malloc(sizeof *b);
	if (!b) {
		stmt_put(s, ST_BIND_LIST);
		return CPM_ENOMEM;
	}
	int r = SQLITE_DONE;
	rc = 0;
	while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
		if (read_binding(st, b)) {
			cpm_logw("store", "binding list: skipping oversized row");
			continue;
		}
		rc = cb(arg, b);
	}
	if (!rc && r != SQLITE_DONE)
		rc = sq_fail(s, SQ(s)->db, r, "binding list");
	free(b);
	stmt_put(s, ST_BIND_LIST);
	return rc;
}

static int sq_binding_purge(struct cpm_store *s, int64_t now)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_BIND_PURGE, &rc);
	if (!st)
		return rc;
	sqlite3_bind_int64(st, 1, now);
	rc = step_done(s, ST_BIND_PURGE, st, "binding purge");
	if (rc > 0)
		cpm_logi("store", "%d expired bindings purged", rc);
	return rc < 0 ? rc : 0;
}

const struct cpm_store_ops cpm_store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.user_add = sq_user_add,
	.user_del = sq_user_del,
	.user_get = sq_user_get,
	.user_update = sq_user_update,
	.user_list = sq_user_list,
	.binding_put = sq_binding_put,
	.binding_del = sq_binding_del,
	.binding_del_aor = sq_binding_del_aor,
	.binding_list = sq_binding_list,
	.binding_purge = sq_binding_purge,
};
