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
	/* 1 -> 2: store-and-forward messages, per-device deliveries, and the
	 * per-recipient usage kept by triggers (quota checks in O(1)).
	 * AUTOINCREMENT: a committed id is never reused (paging cursors,
	 * reports). */
	"CREATE TABLE messages ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" recipient TEXT NOT NULL,"
	" sender TEXT NOT NULL,"
	" sender_display TEXT NOT NULL DEFAULT '',"
	" call_id TEXT NOT NULL,"
	" message_id TEXT NOT NULL DEFAULT '',"
	" content_type TEXT NOT NULL,"
	" subject TEXT NOT NULL DEFAULT '',"
	" body BLOB NOT NULL,"
	" body_len INTEGER NOT NULL,"
	" date INTEGER NOT NULL,"
	" created INTEGER NOT NULL,"
	" expires INTEGER NOT NULL DEFAULT 0,"
	" kind INTEGER NOT NULL DEFAULT 0,"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" state INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE UNIQUE INDEX messages_call_id ON messages (call_id);"
	"CREATE INDEX messages_recipient ON messages (recipient, state, id);"
	"CREATE INDEX messages_expires ON messages (expires) WHERE expires > 0;"
	"CREATE TABLE deliveries ("
	" msg_id INTEGER NOT NULL,"
	" device TEXT NOT NULL,"
	" state INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" last_attempt INTEGER NOT NULL DEFAULT 0,"
	" delivered_at INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (msg_id, device)"
	") WITHOUT ROWID;"
	"CREATE TABLE message_usage ("
	" recipient TEXT PRIMARY KEY NOT NULL,"
	" count INTEGER NOT NULL,"
	" bytes INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TRIGGER messages_ins AFTER INSERT ON messages BEGIN"
	" INSERT INTO message_usage VALUES (new.recipient, 1, new.body_len)"
	" ON CONFLICT (recipient) DO UPDATE SET count = count + 1,"
	" bytes = bytes + excluded.bytes;"
	" END;"
	/* foreign keys are off by default in SQLite: cascade by trigger */
	"CREATE TRIGGER messages_del AFTER DELETE ON messages BEGIN"
	" DELETE FROM deliveries WHERE msg_id = old.id;"
	" UPDATE message_usage SET count = count - 1,"
	" bytes = bytes - old.body_len WHERE recipient = old.recipient;"
	" DELETE FROM message_usage WHERE recipient = old.recipient"
	" AND count <= 0;"
	" END;"
	/* the recipient and the body never change after the put */
	"CREATE TRIGGER messages_upd BEFORE UPDATE OF recipient, body, body_len"
	" ON messages BEGIN SELECT RAISE(ABORT, 'message is immutable'); END;",
	/* 2 -> 3: per-user store-and-forward profiles (`cpmd user set`): the
	 * text of cpm_im_profile_format, one "key=value" per line, kept as
	 * text so that the store needs no knowledge of its keys.  A user
	 * without a row has the server default.  Deleting the user deletes
	 * the profile (trigger: foreign keys are off). */
	"CREATE TABLE profiles ("
	" aor TEXT PRIMARY KEY NOT NULL,"
	" text TEXT NOT NULL,"
	" updated INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;"
	"CREATE TRIGGER users_del AFTER DELETE ON users BEGIN"
	" DELETE FROM profiles WHERE aor = old.aor;"
	" END;",
	/* 3 -> 4: the secret of a message's pick-up URL (deferred
	 * retrieval, RFC 4483): GET /m/ID?t=TOKEN works without the
	 * recipient's credentials while the message waits. */
	"ALTER TABLE messages ADD COLUMN token TEXT NOT NULL DEFAULT '';",
	/* 4 -> 5: the usage (quotas) counts the messages still waiting
	 * (state 0) only: a delivered, failed or expired row kept for the
	 * history no longer fills the recipient's box. */
	"DROP TRIGGER messages_ins;"
	"DROP TRIGGER messages_del;"
	"CREATE TRIGGER messages_ins AFTER INSERT ON messages WHEN new.state = 0 BEGIN"
	" INSERT INTO message_usage VALUES (new.recipient, 1, new.body_len)"
	" ON CONFLICT (recipient) DO UPDATE SET count = count + 1,"
	" bytes = bytes + excluded.bytes;"
	" END;"
	"CREATE TRIGGER messages_del AFTER DELETE ON messages BEGIN"
	" DELETE FROM deliveries WHERE msg_id = old.id;"
	" UPDATE message_usage SET count = count - 1,"
	" bytes = bytes - old.body_len WHERE recipient = old.recipient"
	" AND old.state = 0;"
	" DELETE FROM message_usage WHERE recipient = old.recipient"
	" AND count <= 0;"
	" END;"
	"CREATE TRIGGER messages_done AFTER UPDATE OF state ON messages"
	" WHEN old.state = 0 AND new.state <> 0 BEGIN"
	" UPDATE message_usage SET count = count - 1,"
	" bytes = bytes - old.body_len WHERE recipient = old.recipient;"
	" DELETE FROM message_usage WHERE recipient = old.recipient"
	" AND count <= 0;"
	" END;"
	"CREATE TRIGGER messages_again AFTER UPDATE OF state ON messages"
	" WHEN old.state <> 0 AND new.state = 0 BEGIN"
	" INSERT INTO message_usage VALUES (new.recipient, 1, new.body_len)"
	" ON CONFLICT (recipient) DO UPDATE SET count = count + 1,"
	" bytes = bytes + excluded.bytes;"
	" END;"
	"DELETE FROM message_usage;"
	"INSERT INTO message_usage SELECT recipient, count(*), sum(body_len)"
	" FROM messages WHERE state = 0 GROUP BY recipient;",
	/* 5 -> 6: chat rooms (RFC 7701 switch, RFC 4579 conferences): the
	 * room, its members and its history.  A room URI and a user's AoR
	 * never collide (triggers, both ways: the CLI and the server write
	 * through different connections).  room_serial counts every change
	 * of a room or a member (cpm_store_room_stamp, for the caches on the
	 * loop): its single row is bumped by triggers, so that a deletion
	 * changes the stamp too. */
	"CREATE TABLE rooms ("
	" uri TEXT PRIMARY KEY NOT NULL,"
	" owner TEXT NOT NULL,"
	" subject TEXT NOT NULL DEFAULT '',"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" history INTEGER NOT NULL DEFAULT -1,"
	" created INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE room_members ("
	" room TEXT NOT NULL,"
	" aor TEXT NOT NULL,"
	" nick TEXT NOT NULL DEFAULT '',"
	" role INTEGER NOT NULL DEFAULT 0,"
	" added INTEGER NOT NULL,"
	" PRIMARY KEY (room, aor)"
	") WITHOUT ROWID;"
	"CREATE INDEX room_members_aor ON room_members (aor);"
	"CREATE TABLE room_messages ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" room TEXT NOT NULL,"
	" sender TEXT NOT NULL,"
	" nick TEXT NOT NULL DEFAULT '',"
	" message_id TEXT NOT NULL DEFAULT '',"
	" content_type TEXT NOT NULL,"
	" body BLOB NOT NULL,"
	" date INTEGER NOT NULL"
	");"
	"CREATE INDEX room_messages_room ON room_messages (room, id);"
	"CREATE TABLE room_serial (k INTEGER PRIMARY KEY CHECK (k = 0),"
	" n INTEGER NOT NULL);"
	"INSERT INTO room_serial VALUES (0, 0);"
	"CREATE TRIGGER rooms_del AFTER DELETE ON rooms BEGIN"
	" DELETE FROM room_members WHERE room = old.uri;"
	" DELETE FROM room_messages WHERE room = old.uri;"
	" UPDATE room_serial SET n = n + 1;"
	" END;"
	"CREATE TRIGGER rooms_ins AFTER INSERT ON rooms BEGIN"
	" UPDATE room_serial SET n = n + 1; END;"
	"CREATE TRIGGER rooms_upd AFTER UPDATE ON rooms BEGIN"
	" UPDATE room_serial SET n = n + 1; END;"
	"CREATE TRIGGER room_members_ins AFTER INSERT ON room_members BEGIN"
	" UPDATE room_serial SET n = n + 1; END;"
	"CREATE TRIGGER room_members_upd AFTER UPDATE ON room_members BEGIN"
	" UPDATE room_serial SET n = n + 1; END;"
	"CREATE TRIGGER room_members_del AFTER DELETE ON room_members BEGIN"
	" UPDATE room_serial SET n = n + 1; END;"
	"CREATE TRIGGER rooms_not_user BEFORE INSERT ON rooms"
	" WHEN EXISTS (SELECT 1 FROM users WHERE aor = new.uri) BEGIN"
	" SELECT RAISE(ABORT, 'a user has this AoR'); END;"
	"CREATE TRIGGER users_not_room BEFORE INSERT ON users"
	" WHEN EXISTS (SELECT 1 FROM rooms WHERE uri = new.aor) BEGIN"
	" SELECT RAISE(ABORT, 'a chat room has this URI'); END;",
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
	ST_MSG_PUT,
	ST_MSG_GET,
	ST_MSG_LIST,
	ST_MSG_LIST_DEV,
	ST_MSG_STATE,
	ST_MSG_DEL,
	ST_MSG_EXPIRED,
	ST_MSG_USAGE,
	ST_DLV_SET,
	ST_DLV_GET,
	ST_PROF_GET,
	ST_PROF_PUT,
	ST_PROF_LIST,
	ST_MSG_FLAGS,
	ST_PROF_STAMP,
	ST_ROOM_PUT,
	ST_ROOM_OWNER_OLD,
	ST_ROOM_OWNER_NEW,
	ST_ROOM_GET,
	ST_ROOM_DEL,
	ST_ROOM_LIST,
	ST_ROOM_LIST_MEMBER,
	ST_RMEM_PUT,
	ST_RMEM_DEL,
	ST_RMEM_GET,
	ST_RMEM_LIST,
	ST_RMSG_ADD,
	ST_RMSG_LAST,
	ST_RMSG_LIST,
	ST_RMSG_COUNT,
	ST_RMSG_TRIM,
	ST_ROOM_STAMP,
	/* in enum cpm_store_txn_op order */
	ST_TXN_BEGIN,
	ST_TXN_COMMIT,
	ST_TXN_ROLLBACK,
	ST_TXN_SAVEPOINT,
	ST_TXN_RELEASE,
	ST_TXN_ROLLBACK_TO,
	ST_COUNT
};

#define USER_COLS "aor, realm, ha1_md5, ha1_sha256, created"
#define BIND_COLS                                                     \
	"aor, contact, instance, reg_id, path, source, q1000, expires, " \
	"call_id, cseq, user_agent"

#define MSG_COLS                                                          \
	"id, recipient, sender, sender_display, call_id, message_id, "       \
	"content_type, subject, body, date, created, expires, kind, flags, " \
	"state, token"
#define MSG_UNEXPIRED "(expires = 0 OR expires > ?3)"
#define ROOM_COLS "uri, owner, subject, flags, history, created"
#define RMEM_COLS "room, aor, nick, role, added"
#define RMSG_COLS "id, room, sender, nick, message_id, content_type, body, date"

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
	[ST_MSG_PUT] = "INSERT INTO messages (recipient, sender, sender_display, "
		       "call_id, message_id, content_type, subject, body, date, "
		       "created, expires, kind, flags, state, body_len, token) "
		       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
		       "?13, ?14, ?15, ?16)",
	[ST_MSG_GET] = "SELECT " MSG_COLS " FROM messages WHERE id = ?1",
	[ST_MSG_LIST] = "SELECT " MSG_COLS " FROM messages WHERE recipient = ?1 "
			"AND state = 0 AND id > ?2 AND " MSG_UNEXPIRED
			" ORDER BY id LIMIT ?4",
	[ST_MSG_LIST_DEV] = "SELECT " MSG_COLS " FROM messages m WHERE "
			    "recipient = ?1 AND state = 0 AND id > ?2 AND "
			    MSG_UNEXPIRED " AND NOT EXISTS (SELECT 1 FROM "
			    "deliveries d WHERE d.msg_id = m.id AND d.device = ?5 "
			    "AND d.state IN (1, 2)) ORDER BY id LIMIT ?4",
	[ST_MSG_STATE] = "UPDATE messages SET state = ?2 WHERE id = ?1",
	[ST_MSG_DEL] = "DELETE FROM messages WHERE id = ?1",
	[ST_MSG_EXPIRED] = "SELECT " MSG_COLS " FROM messages WHERE expires > 0 "
			   "AND expires <= ?1 ORDER BY id",
	[ST_MSG_USAGE] = "SELECT count, bytes FROM message_usage WHERE "
			 "recipient = ?1",
	/* sticky DELIVERED; ATTEMPT counts; WHERE: see SQLite's upsert
	 * parsing note for INSERT ... SELECT */
	[ST_DLV_SET] = "INSERT INTO deliveries (msg_id, device, state, attempts, "
		       "last_attempt, delivered_at) SELECT id, ?2, ?3, ?3 = 0, ?4, "
		       "CASE WHEN ?3 = 1 THEN ?4 ELSE 0 END FROM messages WHERE "
		       "id = ?1 ON CONFLICT (msg_id, device) DO UPDATE SET "
		       "state = CASE WHEN state = 1 THEN 1 ELSE excluded.state END, "
		       "attempts = attempts + (excluded.state = 0), "
		       "last_attempt = CASE WHEN excluded.state = 1 THEN "
		       "last_attempt ELSE excluded.last_attempt END, "
		       "delivered_at = CASE WHEN state = 1 THEN delivered_at "
		       "ELSE excluded.delivered_at END",
	[ST_DLV_GET] = "SELECT msg_id, device, state, attempts, last_attempt, "
		       "delivered_at FROM deliveries WHERE msg_id = ?1 AND "
		       "device = ?2",
	[ST_PROF_GET] = "SELECT text FROM profiles WHERE aor = ?1",
	[ST_MSG_FLAGS] = "UPDATE messages SET flags = (flags | ?2) & ~?3 WHERE id = ?1",
	[ST_PROF_LIST] = "SELECT aor, text FROM profiles ORDER BY aor",
	[ST_PROF_STAMP] = "SELECT coalesce(max(updated), 0), count(*) FROM profiles",
	/* only for an existing user: no profile outlives its user; updated
	 * grows strictly (a logical clock at least the wall clock), so that
	 * (max(updated), count) changes with every put: cpm_store_profile_stamp */
	[ST_PROF_PUT] = "INSERT INTO profiles (aor, text, updated) SELECT aor, "
			"?2, max(?3, (SELECT coalesce(max(updated), 0) + 1 FROM "
			"profiles)) FROM users WHERE aor = ?1 ON CONFLICT (aor) DO "
			"UPDATE SET text = excluded.text, "
			"updated = excluded.updated",
	[ST_ROOM_PUT] = "INSERT INTO rooms (" ROOM_COLS ") VALUES (?1, ?2, ?3, ?4, "
			"?5, ?6) ON CONFLICT (uri) DO UPDATE SET owner = "
			"excluded.owner, subject = excluded.subject, flags = "
			"excluded.flags, history = excluded.history",
	/* the owner's row follows the room's owner (room_put) */
	[ST_ROOM_OWNER_OLD] = "UPDATE room_members SET role = 1 WHERE room = ?1 "
			      "AND role = 2 AND aor <> ?2",
	[ST_ROOM_OWNER_NEW] = "INSERT INTO room_members (room, aor, role, added) "
			      "VALUES (?1, ?2, 2, ?3) ON CONFLICT (room, aor) DO "
			      "UPDATE SET role = 2 WHERE role <> 2",
	[ST_ROOM_GET] = "SELECT " ROOM_COLS " FROM rooms WHERE uri = ?1",
	[ST_ROOM_DEL] = "DELETE FROM rooms WHERE uri = ?1",
	[ST_ROOM_LIST] = "SELECT " ROOM_COLS " FROM rooms ORDER BY uri",
	[ST_ROOM_LIST_MEMBER] = "SELECT " ROOM_COLS " FROM rooms WHERE owner = ?1 "
				"OR uri IN (SELECT room FROM room_members WHERE "
				"aor = ?1) ORDER BY uri",
	/* only in an existing room; the owner's role is the room's business */
	[ST_RMEM_PUT] = "INSERT INTO room_members (room, aor, nick, role, added) "
			"SELECT uri, ?2, ?3, ?4, ?5 FROM rooms WHERE uri = ?1 "
			"ON CONFLICT (room, aor) DO UPDATE SET nick = excluded.nick, "
			"role = excluded.role",
	[ST_RMEM_DEL] = "DELETE FROM room_members WHERE room = ?1 AND aor = ?2",
	[ST_RMEM_GET] = "SELECT " RMEM_COLS " FROM room_members WHERE room = ?1 "
			"AND aor = ?2",
	[ST_RMEM_LIST] = "SELECT " RMEM_COLS " FROM room_members WHERE room = ?1 "
			 "ORDER BY role DESC, aor",
	[ST_RMSG_ADD] = "INSERT INTO room_messages (room, sender, nick, "
			"message_id, content_type, body, date) SELECT uri, ?2, ?3, "
			"?4, ?5, ?6, ?7 FROM rooms WHERE uri = ?1",
	[ST_RMSG_LAST] = "SELECT * FROM (SELECT " RMSG_COLS " FROM room_messages "
			 "WHERE room = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
	[ST_RMSG_LIST] = "SELECT " RMSG_COLS " FROM room_messages WHERE room = ?1 "
			 "AND id > ?2 ORDER BY id LIMIT ?3",
	[ST_RMSG_COUNT] = "SELECT count(*) FROM room_messages WHERE room = ?1",
	[ST_RMSG_TRIM] = "DELETE FROM room_messages WHERE room = ?1 AND id <= "
			 "(SELECT id FROM room_messages WHERE room = ?1 ORDER BY "
			 "id DESC LIMIT 1 OFFSET ?2)",
	[ST_ROOM_STAMP] = "SELECT (SELECT n FROM room_serial), (SELECT count(*) "
			  "FROM rooms)",
	/* prepared once: the worker runs two of them per batched job */
	[ST_TXN_BEGIN] = "BEGIN IMMEDIATE",
	[ST_TXN_COMMIT] = "COMMIT",
	[ST_TXN_ROLLBACK] = "ROLLBACK",
	[ST_TXN_SAVEPOINT] = "SAVEPOINT cpm_job",
	[ST_TXN_RELEASE] = "RELEASE cpm_job",
	[ST_TXN_ROLLBACK_TO] = "ROLLBACK TO cpm_job",
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

/* Process-wide settings, before SQLite initialises.  No allocation
 * statistics: with them every sqlite3_malloc takes a global mutex (about
 * 140 mutex calls per stored message).  If SQLite was initialised already
 * the call fails and changes nothing. */
static uv_once_t sq_once = UV_ONCE_INIT;
static void sq_global_init(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
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
	uv_once(&sq_once, sq_global_init);
	/* NOMUTEX ("multi-thread" mode): a connection is used by one thread
	 * at a time (store.h), so SQLite need not lock it around every call */
	int r = sqlite3_open_v2(path, &q->db,
				SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				NULL);
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
	else if (r == SQLITE_CONSTRAINT_TRIGGER) { /* users_not_room */
		snprintf(s->errmsg, sizeof s->errmsg, "%s", sqlite3_errmsg(SQ(s)->db));
		rc = CPM_EEXIST;
	} else
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

/* ---------------------------------------------------------- transactions */

static int sq_txn(struct cpm_store *s, int op)
{
	if (op == CPM_STORE_TXN_ACTIVE)
		return sqlite3_get_autocommit(SQ(s)->db) ? 0 : 1;
	if (op < CPM_STORE_TXN_BEGIN || op > CPM_STORE_TXN_ROLLBACK_TO)
		return CPM_EINVAL;
	enum stmt_id id = (enum stmt_id)(ST_TXN_BEGIN + op);
	int rc;
	sqlite3_stmt *st = stmt_get(s, id, &rc);
	if (!st)
		return rc;
	rc = step_done(s, id, st, stmt_sql[id]);
	return rc < 0 ? rc : 0;
}

/* Open the transaction of a several-statement operation: BEGIN IMMEDIATE
 * when none is open (write lock first: no stale read snapshot to upgrade),
 * a savepoint inside the caller's otherwise.  *outer says which. */
static int op_begin(struct cpm_store *s, bool *outer)
{
	*outer = sqlite3_get_autocommit(SQ(s)->db) != 0;
	return exec(s, SQ(s)->db, *outer ? "BEGIN IMMEDIATE" : "SAVEPOINT cpm_op",
		    "begin");
}

/* Commit (ok) or undo the operation's transaction; rc, or the commit's
 * failure. */
static int op_end(struct cpm_store *s, bool outer, bool ok, int rc)
{
	sqlite3 *db = SQ(s)->db;
	if (ok) {
		int r = exec(s, db, outer ? "COMMIT" : "RELEASE cpm_op", "commit");
		if (!r)
			return rc;
		rc = r;
	}
	if (outer) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	} else {
		sqlite3_exec(db, "ROLLBACK TO cpm_op", NULL, NULL, NULL);
		sqlite3_exec(db, "RELEASE cpm_op", NULL, NULL, NULL);
	}
	return rc;
}

/* ----------------------------------------------------------------- messages */

/* A row of MSG_COLS; the body points into the statement (valid until the
 * next step or reset). */
static int read_msg(sqlite3_stmt *st, struct cpm_store_msg *m)
{
	memset(m, 0, sizeof *m);
	m->id = sqlite3_column_int64(st, 0);
	if (!col_text(st, 1, m->recipient, sizeof m->recipient) ||
	    !col_text(st, 2, m->sender, sizeof m->sender) ||
	    !col_text(st, 3, m->sender_display, sizeof m->sender_display) ||
	    !col_text(st, 4, m->call_id, sizeof m->call_id) ||
	    !col_text(st, 5, m->message_id, sizeof m->message_id) ||
	    !col_text(st, 6, m->content_type, sizeof m->content_type) ||
	    !col_text(st, 7, m->subject, sizeof m->subject))
		return CPM_ESTORE;
	m->body = sqlite3_column_blob(st, 8);
	m->body_len = (size_t)sqlite3_column_bytes(st, 8);
	if (!m->body)
		m->body_len = 0;
	m->date = sqlite3_column_int64(st, 9);
	m->created = sqlite3_column_int64(st, 10);
	m->expires = sqlite3_column_int64(st, 11);
	m->kind = sqlite3_column_int(st, 12);
	m->flags = sqlite3_column_int(st, 13);
	m->state = sqlite3_column_int(st, 14);
	if (!col_text(st, 15, m->token, sizeof m->token))
		return CPM_ESTORE;
	return 0;
}

static int sq_msg_put(struct cpm_store *s, struct cpm_store_msg *m)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_MSG_PUT, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, m->recipient);
	bind_text(st, 2, m->sender);
	bind_text(st, 3, m->sender_display);
	bind_text(st, 4, m->call_id);
	bind_text(st, 5, m->message_id);
	bind_text(st, 6, m->content_type);
	bind_text(st, 7, m->subject);
	/* a NULL pointer would bind SQL NULL, not an empty blob */
	sqlite3_bind_blob64(st, 8, m->body_len ? m->body : "",
			    (sqlite3_uint64)m->body_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, m->date);
	sqlite3_bind_int64(st, 10, m->created);
	sqlite3_bind_int64(st, 11, m->expires);
	sqlite3_bind_int(st, 12, m->kind);
	sqlite3_bind_int(st, 13, m->flags);
	sqlite3_bind_int(st, 14, m->state);
	sqlite3_bind_int64(st, 15, (int64_t)m->body_len);
	bind_text(st, 16, m->token);
	int r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		m->id = sqlite3_last_insert_rowid(SQ(s)->db);
		rc = 0;
	} else if (r == SQLITE_CONSTRAINT_UNIQUE) {
		snprintf(s->errmsg, sizeof s->errmsg,
			 "message put: Call-ID already stored");
		rc = CPM_EEXIST;
	} else {
		rc = sq_fail(s, SQ(s)->db, r, "message put");
	}
	stmt_put(s, ST_MSG_PUT);
	return rc;
}

static int sq_msg_put_batch(struct cpm_store *s,
			    struct cpm_store_msg *const *msgs, size_t n,
			    int *errs)
{
	bool outer;
	int rc = op_begin(s, &outer);
	if (rc) {
		for (size_t i = 0; errs && i < n; i++)
			errs[i] = rc;
		return rc;
	}
	size_t i = 0;
	int fail = 0;
	for (; i < n; i++) {
		fail = sq_msg_put(s, msgs[i]);
		if (errs)
			errs[i] = fail;
		if (fail)
			break;
	}
	rc = op_end(s, outer, fail == 0, fail);
	if (rc) {
		/* nothing of the batch is stored: the failing row keeps its
		 * error, the others may be retried; a failed commit fails all */
		for (size_t k = 0; k < n; k++) {
			if (errs)
				errs[k] = !fail ? rc : k == i ? fail : CPM_EAGAIN;
			msgs[k]->id = 0;
		}
	}
	return rc;
}

static int sq_msg_get(struct cpm_store *s, int64_t id, struct cpm_store_msg *out)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_MSG_GET, &rc);
	if (!st)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		rc = read_msg(st, out);
		if (rc) {
			snprintf(s->errmsg, sizeof s->errmsg,
				 "message %lld: oversized column", (long long)id);
		} else {
			void *copy = malloc(out->body_len ? out->body_len : 1);
			if (copy) {
				if (out->body_len)
					memcpy(copy, out->body, out->body_len);
				out->body = copy;
			} else {
				out->body = NULL;
				rc = CPM_ENOMEM;
			}
		}
	} else if (r == SQLITE_DONE) {
		rc = CPM_ENOTFOUND;
	} else {
		rc = sq_fail(s, SQ(s)->db, r, "message get");
	}
	stmt_put(s, ST_MSG_GET);
	return rc;
}

/* Step st and pass each row to cb; 0, cb's value, or the step failure. */
static int msg_rows(struct cpm_store *s, sqlite3_stmt *st, const char *what,
		    int (*cb)(void *arg, const struct cpm_store_msg *m),
		    void *arg)
{
	struct cpm_store_msg *m = malloc(sizeof *m);
	if (!m)
		return CPM_ENOMEM;
	int r = SQLITE_DONE, rc = 0;
	while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
		if (read_msg(st, m)) {
			cpm_logw("store", "%s: skipping oversized row %lld", what,
				 (long long)m->id);
			continue;
		}
		rc = cb(arg, m);
	}
	if (!rc && r != SQLITE_DONE)
		rc = sq_fail(s, SQ(s)->db, r, what);
	free(m);
	return rc;
}

static int sq_msg_list(struct cpm_store *s, const char *aor, const char *device,
		       int64_t after_id, int limit, int64_t now,
		       int (*cb)(void *arg, const struct cpm_store_msg *m),
		       void *arg)
{
	enum stmt_id id = device ? ST_MSG_LIST_DEV : ST_MSG_LIST;
	int rc;
	sqlite3_stmt *st = stmt_get(s, id, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, aor);
	sqlite3_bind_int64(st, 2, after_id);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int(st, 4, limit > 0 ? limit : -1);
	if (device)
		bind_text(st, 5, device);
	rc = msg_rows(s, st, "message list", cb, arg);
	stmt_put(s, id);
	return rc;
}

static int sq_msg_state_set(struct cpm_store *s, int64_t id, int state)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_MSG_STATE, &rc);
	if (!st)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, state);
	rc = step_done(s, ST_MSG_STATE, st, "message state");
	return rc < 0 ? rc : rc == 0 ? CPM_ENOTFOUND : 0;
}

static int sq_msg_del(struct cpm_store *s, int64_t id)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_MSG_DEL, &rc);
	if (!st)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = step_done(s, ST_MSG_DEL, st, "message del");
	return rc < 0 ? rc : rc == 0 ? CPM_ENOTFOUND : 0;
}

struct expire_ctx {
	struct cpm_store *s;
	int (*cb)(void *arg, const struct cpm_store_msg *m);
	void *arg;
	int n;
	bool stopped; /* by cb */
};

static int expire_one(void *arg, const struct cpm_store_msg *m)
{
	struct expire_ctx *x = arg;
	int rc = x->cb(x->arg, m);
	if (rc) {
		x->stopped = true;
		return rc;
	}
	rc = sq_msg_del(x->s, m->id);
	if (rc == CPM_ENOTFOUND) /* deleted by cb itself */
		rc = 0;
	if (!rc)
		x->n++;
	return rc;
}

static int sq_msg_expire(struct cpm_store *s, int64_t now,
			 int (*cb)(void *arg, const struct cpm_store_msg *m),
			 void *arg)
{
	bool outer;
	int rc = op_begin(s, &outer);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt_get(s, ST_MSG_EXPIRED, &rc);
	if (!st)
		return op_end(s, outer, false, rc);
	sqlite3_bind_int64(st, 1, now);
	struct expire_ctx x = { s, cb, arg, 0, false };
	rc = msg_rows(s, st, "message expire", expire_one, &x);
	stmt_put(s, ST_MSG_EXPIRED);
	/* a callback's stop keeps what was reported deleted; a store failure
	 * undoes it all (reported again next time: at least once) */
	rc = op_end(s, outer, rc == 0 || x.stopped, rc);
	if (rc == 0) {
		if (x.n > 0)
			cpm_logi("store", "%d expired messages removed", x.n);
		return x.n;
	}
	return rc;
}

static int sq_msg_usage(struct cpm_store *s, const char *aor, int64_t *count,
			int64_t *bytes)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_MSG_USAGE, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, aor);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		*count = sqlite3_column_int64(st, 0);
		*bytes = sqlite3_column_int64(st, 1);
		rc = 0;
	} else if (r == SQLITE_DONE) {
		*count = *bytes = 0;
		rc = 0;
	} else {
		rc = sq_fail(s, SQ(s)->db, r, "message usage");
	}
	stmt_put(s, ST_MSG_USAGE);
	return rc;
}

static int sq_msg_delivery_set(struct cpm_store *s, int64_t id,
			       const char *device, int state, int64_t now)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_DLV_SET, &rc);
	if (!st)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, device);
	sqlite3_bind_int(st, 3, state);
	sqlite3_bind_int64(st, 4, now);
	rc = step_done(s, ST_DLV_SET, st, "delivery set");
	return rc < 0 ? rc : rc == 0 ? CPM_ENOTFOUND : 0;
}

static int sq_msg_delivery_get(struct cpm_store *s, int64_t id,
			       const char *device,
			       struct cpm_store_msg_delivery *out)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_DLV_GET, &rc);
	if (!st)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, device);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		memset(out, 0, sizeof *out);
		out->msg_id = sqlite3_column_int64(st, 0);
		rc = col_text(st, 1, out->device, sizeof out->device) ? 0
								      : CPM_ESTORE;
		out->state = sqlite3_column_int(st, 2);
		out->attempts = sqlite3_column_int(st, 3);
		out->last_attempt = sqlite3_column_int64(st, 4);
		out->delivered_at = sqlite3_column_int64(st, 5);
	} else if (r == SQLITE_DONE) {
		rc = CPM_ENOTFOUND;
	} else {
		rc = sq_fail(s, SQ(s)->db, r, "delivery get");
	}
	stmt_put(s, ST_DLV_GET);
	return rc;
}

/* ----------------------------------------------------------------- profiles */

static int sq_profile_get(struct cpm_store *s, const char *aor, char *text,
			  size_t sz)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_PROF_GET, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, aor);
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		rc = col_text(st, 0, text, sz) ? 0 : CPM_ETOOBIG;
		if (rc)
			snprintf(s->errmsg, sizeof s->errmsg,
				 "profile of %s: longer than the buffer", aor);
	} else if (r == SQLITE_DONE) {
		rc = CPM_ENOTFOUND;
	} else {
		rc = sq_fail(s, SQ(s)->db, r, "profile get");
	}
	stmt_put(s, ST_PROF_GET);
	return rc;
}

static int sq_profile_put(struct cpm_store *s, const char *aor,
			  const char *text, int64_t now)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_PROF_PUT, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, aor);
	bind_text(st, 2, text);
	sqlite3_bind_int64(st, 3, now);
	rc = step_done(s, ST_PROF_PUT, st, "profile put");
	return rc < 0 ? rc : rc == 0 ? CPM_ENOTFOUND : 0;
}

static int sq_msg_flags(struct cpm_store *s, int64_t id, int set, int clear)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_MSG_FLAGS, &rc);
	if (!st)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, set);
	sqlite3_bind_int(st, 3, clear);
	rc = step_done(s, ST_MSG_FLAGS, st, "message flags");
	return rc < 0 ? rc : rc == 0 ? CPM_ENOTFOUND : 0;
}

static int sq_profile_list(struct cpm_store *s,
			   int (*cb)(void *arg, const char *aor, const char *text), void *arg)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_PROF_LIST, &rc);
	if (!st)
		return rc;
	int r = SQLITE_DONE;
	rc = 0;
	while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
		const char *aor = (const char *)sqlite3_column_text(st, 0);
		const char *text = (const char *)sqlite3_column_text(st, 1);
		rc = cb(arg, aor ? aor : "", text ? text : "");
	}
	if (!rc && r != SQLITE_DONE)
		rc = sq_fail(s, SQ(s)->db, r, "profile list");
	stmt_put(s, ST_PROF_LIST);
	return rc;
}

static int sq_profile_stamp(struct cpm_store *s, int64_t *updated, int64_t *count)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_PROF_STAMP, &rc);
	if (!st)
		return rc;
	int r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		*updated = sqlite3_column_int64(st, 0);
		*count = sqlite3_column_int64(st, 1);
		rc = 0;
	} else {
		rc = sq_fail(s, SQ(s)->db, r, "profile stamp");
	}
	stmt_put(s, ST_PROF_STAMP);
	return rc;
}

/* -------------------------------------------------------------------- rooms */

static int read_room(sqlite3_stmt *st, struct cpm_store_room *r)
{
	memset(r, 0, sizeof *r);
	if (!col_text(st, 0, r->uri, sizeof r->uri) ||
	    !col_text(st, 1, r->owner, sizeof r->owner) ||
	    !col_text(st, 2, r->subject, sizeof r->subject))
		return CPM_ESTORE;
	r->flags = sqlite3_column_int(st, 3);
	r->history = sqlite3_column_int(st, 4);
	r->created = sqlite3_column_int64(st, 5);
	return 0;
}

/* One statement's single row read by rd into out: 0, CPM_ENOTFOUND, or the
 * failure.  Binds are the caller's. */
static int one_row(struct cpm_store *s, enum stmt_id id, sqlite3_stmt *st,
		   int (*rd)(sqlite3_stmt *st, void *out), void *out,
		   const char *what)
{
	int r = sqlite3_step(st), rc;
	if (r == SQLITE_ROW) {
		rc = rd(st, out);
		if (rc)
			snprintf(s->errmsg, sizeof s->errmsg, "%s: oversized column",
				 what);
	} else if (r == SQLITE_DONE) {
		rc = CPM_ENOTFOUND;
	} else {
		rc = sq_fail(s, SQ(s)->db, r, what);
	}
	stmt_put(s, id);
	return rc;
}

static int rd_room(sqlite3_stmt *st, void *out)
{
	return read_room(st, out);
}

static int sq_room_get(struct cpm_store *s, const char *uri,
		       struct cpm_store_room *out)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_ROOM_GET, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, uri);
	return one_row(s, ST_ROOM_GET, st, rd_room, out, "room get");
}

/* Run the statement with (room, aor[, now]) bound; changed rows or failure. */
static int room_aor_step(struct cpm_store *s, enum stmt_id id, const char *room,
			 const char *aor, int64_t now, const char *what)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, id, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, room);
	bind_text(st, 2, aor);
	if (now)
		sqlite3_bind_int64(st, 3, now);
	return step_done(s, id, st, what);
}

static int sq_room_put(struct cpm_store *s, const struct cpm_store_room *r)
{
	bool outer;
	int rc = op_begin(s, &outer);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt_get(s, ST_ROOM_PUT, &rc);
	if (!st)
		return op_end(s, outer, false, rc);
	bind_text(st, 1, r->uri);
	bind_text(st, 2, r->owner);
	bind_text(st, 3, r->subject);
	sqlite3_bind_int(st, 4, r->flags);
	sqlite3_bind_int(st, 5, r->history);
	sqlite3_bind_int64(st, 6, r->created);
	int q = sqlite3_step(st);
	if (q == SQLITE_DONE) {
		rc = 0;
	} else if (q == SQLITE_CONSTRAINT_TRIGGER) { /* rooms_not_user */
		snprintf(s->errmsg, sizeof s->errmsg, "%s", sqlite3_errmsg(SQ(s)->db));
		rc = CPM_EEXIST;
	} else {
		rc = sq_fail(s, SQ(s)->db, q, "room put");
	}
	stmt_put(s, ST_ROOM_PUT);
	/* the owner's member row: the new owner OWNER, a previous one
	 * MODERATOR */
	if (!rc)
		rc = room_aor_step(s, ST_ROOM_OWNER_OLD, r->uri, r->owner, 0,
				   "room owner");
	if (rc >= 0)
		rc = room_aor_step(s, ST_ROOM_OWNER_NEW, r->uri, r->owner,
				   r->created, "room owner");
	return op_end(s, outer, rc >= 0, rc < 0 ? rc : 0);
}

static int sq_room_del(struct cpm_store *s, const char *uri)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_ROOM_DEL, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, uri);
	rc = step_done(s, ST_ROOM_DEL, st, "room del");
	return rc < 0 ? rc : rc == 0 ? CPM_ENOTFOUND : 0;
}

static int sq_room_list(struct cpm_store *s, const char *aor,
			int (*cb)(void *arg, const struct cpm_store_room *r),
			void *arg)
{
	enum stmt_id id = aor ? ST_ROOM_LIST_MEMBER : ST_ROOM_LIST;
	int rc;
	sqlite3_stmt *st = stmt_get(s, id, &rc);
	if (!st)
		return rc;
	if (aor)
		bind_text(st, 1, aor);
	struct cpm_store_room r;
	int q = SQLITE_DONE;
	rc = 0;
	while (!rc && (q = sqlite3_step(st)) == SQLITE_ROW) {
		if (read_room(st, &r)) {
			cpm_logw("store", "room list: skipping oversized row");
			continue;
		}
		rc = cb(arg, &r);
	}
	if (!rc && q != SQLITE_DONE)
		rc = sq_fail(s, SQ(s)->db, q, "room list");
	stmt_put(s, id);
	return rc;
}

static int read_member(sqlite3_stmt *st, void *out)
{
	struct cpm_store_room_member *m = out;
	memset(m, 0, sizeof *m);
	if (!col_text(st, 0, m->room, sizeof m->room) ||
	    !col_text(st, 1, m->aor, sizeof m->aor) ||
	    !col_text(st, 2, m->nick, sizeof m->nick))
		return CPM_ESTORE;
	m->role = sqlite3_column_int(st, 3);
	m->added = sqlite3_column_int64(st, 4);
	return 0;
}

/* The owner of the room (CPM_ENOTFOUND), for the rules on its row. */
static int room_owner(struct cpm_store *s, const char *room, char owner[256])
{
	struct cpm_store_room r;
	int rc = sq_room_get(s, room, &r);
	if (!rc)
		memcpy(owner, r.owner, sizeof r.owner);
	return rc;
}

static int sq_room_member_put(struct cpm_store *s,
			      const struct cpm_store_room_member *m)
{
	bool outer;
	int rc = op_begin(s, &outer);
	if (rc)
		return rc;
	char owner[256];
	rc = room_owner(s, m->room, owner);
	if (!rc && (strcmp(owner, m->aor) == 0) != (m->role == CPM_STORE_ROOM_OWNER)) {
		snprintf(s->errmsg, sizeof s->errmsg,
			 "the role owner belongs to the room's owner %.200s", owner);
		rc = CPM_EPERM;
	}
	sqlite3_stmt *st = rc ? NULL : stmt_get(s, ST_RMEM_PUT, &rc);
	if (st) {
		bind_text(st, 1, m->room);
		bind_text(st, 2, m->aor);
		bind_text(st, 3, m->nick);
		sqlite3_bind_int(st, 4, m->role);
		sqlite3_bind_int64(st, 5, m->added);
		rc = step_done(s, ST_RMEM_PUT, st, "room member put");
		rc = rc < 0 ? rc : rc == 0 ? CPM_ENOTFOUND : 0;
	}
	return op_end(s, outer, rc == 0, rc);
}

static int sq_room_member_del(struct cpm_store *s, const char *room,
			      const char *aor)
{
	bool outer;
	int rc = op_begin(s, &outer);
	if (rc)
		return rc;
	char owner[256];
	rc = room_owner(s, room, owner);
	if (!rc && strcmp(owner, aor) == 0) {
		snprintf(s->errmsg, sizeof s->errmsg,
			 "%.200s owns the room: give it another owner first", aor);
		rc = CPM_EPERM;
	}
	if (!rc) {
		rc = room_aor_step(s, ST_RMEM_DEL, room, aor, 0, "room member del");
		rc = rc < 0 ? rc : rc == 0 ? CPM_ENOTFOUND : 0;
	}
	return op_end(s, outer, rc == 0, rc);
}

static int sq_room_member_get(struct cpm_store *s, const char *room,
			      const char *aor, struct cpm_store_room_member *out)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_RMEM_GET, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, room);
	bind_text(st, 2, aor);
	return one_row(s, ST_RMEM_GET, st, read_member, out, "room member get");
}

static int sq_room_member_list(struct cpm_store *s, const char *room,
			       int (*cb)(void *arg,
					 const struct cpm_store_room_member *m),
			       void *arg)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_RMEM_LIST, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, room);
	struct cpm_store_room_member m;
	int q = SQLITE_DONE;
	rc = 0;
	while (!rc && (q = sqlite3_step(st)) == SQLITE_ROW) {
		if (read_member(st, &m)) {
			cpm_logw("store", "room member list: skipping oversized row");
			continue;
		}
		rc = cb(arg, &m);
	}
	if (!rc && q != SQLITE_DONE)
		rc = sq_fail(s, SQ(s)->db, q, "room member list");
	stmt_put(s, ST_RMEM_LIST);
	return rc;
}

static int sq_room_msg_add(struct cpm_store *s, struct cpm_store_room_msg *m)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_RMSG_ADD, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, m->room);
	bind_text(st, 2, m->sender);
	bind_text(st, 3, m->nick);
	bind_text(st, 4, m->message_id);
	bind_text(st, 5, m->content_type);
	sqlite3_bind_blob64(st, 6, m->body_len ? m->body : "",
			    (sqlite3_uint64)m->body_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, m->date);
	rc = step_done(s, ST_RMSG_ADD, st, "room message add");
	if (rc == 1) {
		m->id = sqlite3_last_insert_rowid(SQ(s)->db);
		return 0;
	}
	return rc < 0 ? rc : CPM_ENOTFOUND;
}

static int read_room_msg(sqlite3_stmt *st, struct cpm_store_room_msg *m)
{
	memset(m, 0, sizeof *m);
	m->id = sqlite3_column_int64(st, 0);
	if (!col_text(st, 1, m->room, sizeof m->room) ||
	    !col_text(st, 2, m->sender, sizeof m->sender) ||
	    !col_text(st, 3, m->nick, sizeof m->nick) ||
	    !col_text(st, 4, m->message_id, sizeof m->message_id) ||
	    !col_text(st, 5, m->content_type, sizeof m->content_type))
		return CPM_ESTORE;
	m->body = sqlite3_column_blob(st, 6);
	m->body_len = (size_t)sqlite3_column_bytes(st, 6);
	if (!m->body)
		m->body_len = 0;
	m->date = sqlite3_column_int64(st, 7);
	return 0;
}

static int sq_room_msg_list(struct cpm_store *s, const char *room, int last,
			    int64_t after_id, int limit,
			    int (*cb)(void *arg, const struct cpm_store_room_msg *m),
			    void *arg)
{
	enum stmt_id id = last > 0 ? ST_RMSG_LAST : ST_RMSG_LIST;
	int rc;
	sqlite3_stmt *st = stmt_get(s, id, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, room);
	if (last > 0) {
		sqlite3_bind_int(st, 2, last);
	} else {
		sqlite3_bind_int64(st, 2, after_id);
		sqlite3_bind_int(st, 3, limit > 0 ? limit : -1);
	}
	struct cpm_store_room_msg *m = malloc(sizeof *m);
	int q = SQLITE_DONE;
	rc = m ? 0 : CPM_ENOMEM;
	while (!rc && (q = sqlite3_step(st)) == SQLITE_ROW) {
		if (read_room_msg(st, m)) {
			cpm_logw("store", "room history: skipping oversized row %lld",
				 (long long)m->id);
			continue;
		}
		rc = cb(arg, m);
	}
	if (!rc && q != SQLITE_DONE)
		rc = sq_fail(s, SQ(s)->db, q, "room history");
	free(m);
	stmt_put(s, id);
	return rc;
}

/* SELECT of two integers (the second optional) on one row. */
static int two_ints(struct cpm_store *s, enum stmt_id id, sqlite3_stmt *st,
		    int64_t *a, int64_t *b, const char *what)
{
	int r = sqlite3_step(st), rc = 0;
	if (r == SQLITE_ROW) {
		*a = sqlite3_column_int64(st, 0);
		if (b)
			*b = sqlite3_column_int64(st, 1);
	} else {
		rc = sq_fail(s, SQ(s)->db, r, what);
	}
	stmt_put(s, id);
	return rc;
}

static int sq_room_msg_count(struct cpm_store *s, const char *room,
			     int64_t *count)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_RMSG_COUNT, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, room);
	return two_ints(s, ST_RMSG_COUNT, st, count, NULL, "room message count");
}

static int sq_room_msg_trim(struct cpm_store *s, const char *room, int keep)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_RMSG_TRIM, &rc);
	if (!st)
		return rc;
	bind_text(st, 1, room);
	sqlite3_bind_int(st, 2, keep);
	return step_done(s, ST_RMSG_TRIM, st, "room history trim");
}

static int sq_room_stamp(struct cpm_store *s, int64_t *updated, int64_t *count)
{
	int rc;
	sqlite3_stmt *st = stmt_get(s, ST_ROOM_STAMP, &rc);
	if (!st)
		return rc;
	return two_ints(s, ST_ROOM_STAMP, st, updated, count, "room stamp");
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
	.msg_put = sq_msg_put,
	.msg_put_batch = sq_msg_put_batch,
	.msg_get = sq_msg_get,
	.msg_list = sq_msg_list,
	.msg_state_set = sq_msg_state_set,
	.msg_del = sq_msg_del,
	.msg_expire = sq_msg_expire,
	.msg_usage = sq_msg_usage,
	.msg_delivery_set = sq_msg_delivery_set,
	.msg_delivery_get = sq_msg_delivery_get,
	.profile_get = sq_profile_get,
	.profile_put = sq_profile_put,
	.profile_list = sq_profile_list,
	.msg_flags = sq_msg_flags,
	.profile_stamp = sq_profile_stamp,
	.room_put = sq_room_put,
	.room_get = sq_room_get,
	.room_del = sq_room_del,
	.room_list = sq_room_list,
	.room_member_put = sq_room_member_put,
	.room_member_del = sq_room_member_del,
	.room_member_get = sq_room_member_get,
	.room_member_list = sq_room_member_list,
	.room_msg_add = sq_room_msg_add,
	.room_msg_list = sq_room_msg_list,
	.room_msg_count = sq_room_msg_count,
	.room_msg_trim = sq_room_msg_trim,
	.room_stamp = sq_room_stamp,
	.txn = sq_txn,
};
