/* store: chat rooms (schema 6): rooms, members and their roles, history,
 * the change stamp, the room/user URI collision both ways, the argument
 * checks and the 5 -> 6 migration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "store/store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[256];
static char url[600];
static char dbpath[512];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/cpm_room_XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(dbpath, sizeof dbpath, "%s/cpmd.db", tmpdir);
	snprintf(url, sizeof url, "sqlite:%s", dbpath);
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct cpm_store *open_store(void)
{
	struct cpm_store *s = NULL;
	assert_int_equal(cpm_store_open(url, &s), 0);
	assert_non_null(s);
	return s;
}

static int sql_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	int v = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

static struct cpm_store_room mkroom(const char *uri, const char *owner)
{
	struct cpm_store_room r;
	memset(&r, 0, sizeof r);
	snprintf(r.uri, sizeof r.uri, "%s", uri);
	snprintf(r.owner, sizeof r.owner, "%s", owner);
	r.history = -1;
	return r;
}

static struct cpm_store_room_member mkmember(const char *room, const char *aor,
					     const char *nick, int role)
{
	struct cpm_store_room_member m;
	memset(&m, 0, sizeof m);
	snprintf(m.room, sizeof m.room, "%s", room);
	snprintf(m.aor, sizeof m.aor, "%s", aor);
	snprintf(m.nick, sizeof m.nick, "%s", nick);
	m.role = role;
	return m;
}

static void add_user(struct cpm_store *s, const char *aor)
{
	struct cpm_store_user u;
	memset(&u, 0, sizeof u);
	snprintf(u.aor, sizeof u.aor, "%s", aor);
	snprintf(u.realm, sizeof u.realm, "example.test");
	u.created = 1700000000;
	assert_int_equal(cpm_store_user_add(s, &u), 0);
}

/* ------------------------------------------------------------ collectors */

struct names {
	char v[16][600];
	int role[16];
	int n;
};

static int room_name(void *arg, const struct cpm_store_room *r)
{
	struct names *c = arg;
	assert_true(c->n < 16);
	snprintf(c->v[c->n++], sizeof c->v[0], "%s", r->uri);
	return 0;
}

static int member_name(void *arg, const struct cpm_store_room_member *m)
{
	struct names *c = arg;
	assert_true(c->n < 16);
	c->role[c->n] = m->role;
	snprintf(c->v[c->n++], sizeof c->v[0], "%s/%s", m->aor, m->nick);
	return 0;
}

struct hist {
	int64_t id[64];
	char body[64][32];
	size_t len[64];
	int n;
};

static int hist_one(void *arg, const struct cpm_store_room_msg *m)
{
	struct hist *h = arg;
	assert_true(h->n < 64);
	h->id[h->n] = m->id;
	h->len[h->n] = m->body_len;
	assert_true(m->body_len < 32);
	memcpy(h->body[h->n], m->body, m->body_len);
	h->body[h->n][m->body_len] = '\0';
	h->n++;
	return 0;
}

static int64_t say(struct cpm_store *s, const char *room, const char *text)
{
	struct cpm_store_room_msg m;
	memset(&m, 0, sizeof m);
	snprintf(m.room, sizeof m.room, "%s", room);
	snprintf(m.sender, sizeof m.sender, "alice@example.test");
	snprintf(m.nick, sizeof m.nick, "al");
	snprintf(m.content_type, sizeof m.content_type, "text/plain");
	m.body = text;
	m.body_len = strlen(text);
	assert_int_equal(cpm_store_room_msg_add(s, &m), 0);
	assert_true(m.id > 0);
	assert_true(m.date > 0);
	return m.id;
}

/* ------------------------------------------------------------------ tests */

static void test_room_crud(void **state)
{
	struct cpm_store *s = open_store();
	struct cpm_store_room r = mkroom("Lobby@Example.TEST", "alice@EXAMPLE.test"), g;
	snprintf(r.subject, sizeof r.subject, "weekly sync");
	r.flags = CPM_STORE_ROOM_F_MEMBERS_ONLY | CPM_STORE_ROOM_F_OFFLINE_SF;
	r.history = 20;
	assert_int_equal(cpm_store_room_get(s, "Lobby@example.test", &g), CPM_ENOTFOUND);
	assert_int_equal(cpm_store_room_put(s, &r), 0);
	/* the domain is lowercased, the user part kept, like an AoR */
	assert_int_equal(cpm_store_room_get(s, "Lobby@EXAMPLE.test", &g), 0);
	assert_string_equal(g.uri, "Lobby@example.test");
	assert_string_equal(g.owner, "alice@example.test");
	assert_string_equal(g.subject, "weekly sync");
	assert_int_equal(g.flags, CPM_STORE_ROOM_F_MEMBERS_ONLY | CPM_STORE_ROOM_F_OFFLINE_SF);
	assert_int_equal(g.history, 20);
	assert_true(g.created > 0);
	int64_t created = g.created;
	assert_int_equal(cpm_store_room_get(s, "lobby@example.test", &g), CPM_ENOTFOUND);
	/* the owner is a member with role OWNER */
	struct cpm_store_room_member m;
	assert_int_equal(cpm_store_room_member_get(s, "Lobby@example.test",
						   "alice@example.test", &m),
			 0);
	assert_int_equal(m.role, CPM_STORE_ROOM_OWNER);
	assert_string_equal(m.nick, "");

	/* update: subject, flags, history; created kept */
	r.created = 5;
	snprintf(r.subject, sizeof r.subject, "%s", "");
	r.flags = CPM_STORE_ROOM_F_ADHOC;
	r.history = -1;
	assert_int_equal(cpm_store_room_put(s, &r), 0);
	assert_int_equal(cpm_store_room_get(s, "Lobby@example.test", &g), 0);
	assert_string_equal(g.subject, "");
	assert_int_equal(g.flags, CPM_STORE_ROOM_F_ADHOC);
	assert_int_equal(g.history, -1);
	assert_int_equal(g.created, created);

	/* owner change: bob becomes OWNER (added), alice MODERATOR */
	snprintf(r.owner, sizeof r.owner, "bob@example.test");
	assert_int_equal(cpm_store_room_put(s, &r), 0);
	assert_int_equal(cpm_store_room_member_get(s, "Lobby@example.test",
						   "bob@example.test", &m),
			 0);
	assert_int_equal(m.role, CPM_STORE_ROOM_OWNER);
	assert_int_equal(cpm_store_room_member_get(s, "Lobby@example.test",
						   "alice@example.test", &m),
			 0);
	assert_int_equal(m.role, CPM_STORE_ROOM_MODERATOR);

	/* list: URI order; by member */
	struct cpm_store_room r2 = mkroom("annex@example.test", "carol@example.test");
	assert_int_equal(cpm_store_room_put(s, &r2), 0);
	struct names c = { 0 };
	assert_int_equal(cpm_store_room_list(s, room_name, &c), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.v[0], "Lobby@example.test");
	assert_string_equal(c.v[1], "annex@example.test");
	memset(&c, 0, sizeof c);
	assert_int_equal(cpm_store_room_list_member(s, "alice@Example.test", room_name, &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.v[0], "Lobby@example.test");
	memset(&c, 0, sizeof c);
	assert_int_equal(cpm_store_room_list_member(s, "carol@example.test", room_name, &c), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.v[0], "annex@example.test");
	memset(&c, 0, sizeof c);
	assert_int_equal(cpm_store_room_list_member(s, "dave@example.test", room_name, &c), 0);
	assert_int_equal(c.n, 0);

	/* delete: with members and history, not the other room's */
	say(s, "Lobby@example.test", "one");
	say(s, "annex@example.test", "two");
	assert_int_equal(cpm_store_room_del(s, "Lobby@example.TEST"), 0);
	assert_int_equal(cpm_store_room_del(s, "Lobby@example.test"), CPM_ENOTFOUND);
	assert_int_equal(cpm_store_room_get(s, "Lobby@example.test", &g), CPM_ENOTFOUND);
	cpm_store_close(s);
	assert_int_equal(sql_int("SELECT count(*) FROM room_members WHERE room = "
				 "'Lobby@example.test'"),
			 0);
	assert_int_equal(sql_int("SELECT count(*) FROM room_messages"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM room_members"), 1);
}

static void test_room_user_collision(void **state)
{
	struct cpm_store *s = open_store();
	add_user(s, "alice@example.test");
	struct cpm_store_room r = mkroom("alice@EXAMPLE.test", "bob@example.test");
	assert_int_equal(cpm_store_room_put(s, &r), CPM_EEXIST);
	assert_non_null(strstr(cpm_store_last_error(s), "user"));
	struct cpm_store_room g;
	assert_int_equal(cpm_store_room_get(s, "alice@example.test", &g), CPM_ENOTFOUND);
	/* nothing of the refused put is left (the owner's member row) */
	struct cpm_store_room_member m;
	assert_int_equal(cpm_store_room_member_get(s, "alice@example.test",
						   "bob@example.test", &m),
			 CPM_ENOTFOUND);
	r = mkroom("lobby@example.test", "alice@example.test");
	assert_int_equal(cpm_store_room_put(s, &r), 0);
	struct cpm_store_user u;
	memset(&u, 0, sizeof u);
	snprintf(u.aor, sizeof u.aor, "lobby@Example.test");
	snprintf(u.realm, sizeof u.realm, "example.test");
	assert_int_equal(cpm_store_user_add(s, &u), CPM_EEXIST);
	assert_non_null(strstr(cpm_store_last_error(s), "room"));
	assert_int_equal(cpm_store_user_get(s, "lobby@example.test", &u), CPM_ENOTFOUND);
	/* the user part is case-sensitive: another name */
	snprintf(u.aor, sizeof u.aor, "Lobby@example.test");
	assert_int_equal(cpm_store_user_add(s, &u), 0);
	cpm_store_close(s);
}

static void test_members(void **state)
{
	struct cpm_store *s = open_store();
	struct cpm_store_room_member m = mkmember("lobby@example.test", "bob@example.test",
						  "bobby", CPM_STORE_ROOM_MEMBER),
				     g;
	/* no room, no member */
	assert_int_equal(cpm_store_room_member_put(s, &m), CPM_ENOTFOUND);
	struct cpm_store_room r = mkroom("lobby@example.test", "alice@example.test");
	assert_int_equal(cpm_store_room_put(s, &r), 0);
	assert_int_equal(cpm_store_room_member_put(s, &m), 0);
	assert_int_equal(cpm_store_room_member_get(s, "lobby@example.test",
						   "bob@EXAMPLE.test", &g),
			 0);
	assert_string_equal(g.room, "lobby@example.test");
	assert_string_equal(g.aor, "bob@example.test");
	assert_string_equal(g.nick, "bobby");
	assert_int_equal(g.role, CPM_STORE_ROOM_MEMBER);
	int64_t added = g.added;
	assert_true(added > 0);
	/* upsert: nick and role change, added kept */
	m = mkmember("lobby@example.test", "bob@example.test", "bob2",
		     CPM_STORE_ROOM_MODERATOR);
	m.added = 7;
	assert_int_equal(cpm_store_room_member_put(s, &m), 0);
	assert_int_equal(cpm_store_room_member_get(s, "lobby@example.test",
						   "bob@example.test", &g),
			 0);
	assert_string_equal(g.nick, "bob2");
	assert_int_equal(g.role, CPM_STORE_ROOM_MODERATOR);
	assert_int_equal(g.added, added);
	/* the role OWNER is the owner's alone, and the owner keeps it */
	m = mkmember("lobby@example.test", "carol@example.test", "", CPM_STORE_ROOM_OWNER);
	assert_int_equal(cpm_store_room_member_put(s, &m), CPM_EPERM);
	m = mkmember("lobby@example.test", "alice@example.test", "al", CPM_STORE_ROOM_MEMBER);
	assert_int_equal(cpm_store_room_member_put(s, &m), CPM_EPERM);
	m.role = CPM_STORE_ROOM_OWNER; /* the owner's nick may change */
	assert_int_equal(cpm_store_room_member_put(s, &m), 0);
	assert_int_equal(cpm_store_room_member_del(s, "lobby@example.test",
						   "alice@example.test"),
			 CPM_EPERM);
	m = mkmember("lobby@example.test", "carol@example.test", "", CPM_STORE_ROOM_MEMBER);
	assert_int_equal(cpm_store_room_member_put(s, &m), 0);
	/* list: role descending, then AoR */
	struct names c = { 0 };
	assert_int_equal(cpm_store_room_member_list(s, "lobby@example.test", member_name, &c),
			 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.v[0], "alice@example.test/al");
	assert_int_equal(c.role[0], CPM_STORE_ROOM_OWNER);
	assert_string_equal(c.v[1], "bob@example.test/bob2");
	assert_string_equal(c.v[2], "carol@example.test/");
	/* delete */
	assert_int_equal(cpm_store_room_member_del(s, "lobby@example.test",
						   "carol@example.test"),
			 0);
	assert_int_equal(cpm_store_room_member_del(s, "lobby@example.test",
						   "carol@example.test"),
			 CPM_ENOTFOUND);
	assert_int_equal(cpm_store_room_member_del(s, "none@example.test",
						   "carol@example.test"),
			 CPM_ENOTFOUND);
	assert_int_equal(cpm_store_room_member_get(s, "lobby@example.test",
						   "carol@example.test", &g),
			 CPM_ENOTFOUND);
	memset(&c, 0, sizeof c);
	assert_int_equal(cpm_store_room_member_list(s, "none@example.test", member_name, &c),
			 0);
	assert_int_equal(c.n, 0);
	/* a list callback's stop value comes back */
	cpm_store_close(s);
}

static int stop_at_first(void *arg, const struct cpm_store_room_msg *m)
{
	(*(int *)arg)++;
	return 42;
}

static void test_history(void **state)
{
	struct cpm_store *s = open_store();
	struct cpm_store_room_msg m;
	memset(&m, 0, sizeof m);
	snprintf(m.room, sizeof m.room, "lobby@example.test");
	snprintf(m.sender, sizeof m.sender, "alice@example.test");
	snprintf(m.content_type, sizeof m.content_type, "text/plain");
	m.body = "x";
	m.body_len = 1;
	assert_int_equal(cpm_store_room_msg_add(s, &m), CPM_ENOTFOUND);
	struct cpm_store_room r = mkroom("lobby@example.test", "alice@example.test");
	assert_int_equal(cpm_store_room_put(s, &r), 0);
	int64_t ids[10];
	for (int i = 0; i < 10; i++) {
		char t[8];
		snprintf(t, sizeof t, "m%d", i);
		ids[i] = say(s, "lobby@Example.test", t);
		if (i)
			assert_true(ids[i] > ids[i - 1]);
	}
	/* bytes kept exactly (a NUL inside), the fields read back */
	struct cpm_store_room_msg b = m;
	b.body = "a\0b";
	b.body_len = 3;
	b.date = 1600000000;
	snprintf(b.message_id, sizeof b.message_id, "mid-1");
	snprintf(b.nick, sizeof b.nick, "al");
	assert_int_equal(cpm_store_room_msg_add(s, &b), 0);
	assert_int_equal(b.date, 1600000000);
	int64_t count;
	assert_int_equal(cpm_store_room_msg_count(s, "lobby@example.test", &count), 0);
	assert_int_equal(count, 11);
	assert_int_equal(cpm_store_room_msg_count(s, "none@example.test", &count), 0);
	assert_int_equal(count, 0);

	/* the last n, oldest first */
	struct hist h = { 0 };
	assert_int_equal(cpm_store_room_msg_last(s, "lobby@example.test", 3, hist_one, &h), 0);
	assert_int_equal(h.n, 3);
	assert_string_equal(h.body[0], "m8");
	assert_string_equal(h.body[1], "m9");
	assert_int_equal(h.len[2], 3);
	assert_memory_equal(h.body[2], "a\0b", 3);
	memset(&h, 0, sizeof h);
	assert_int_equal(cpm_store_room_msg_last(s, "lobby@example.test", 100, hist_one, &h),
			 0);
	assert_int_equal(h.n, 11);
	assert_string_equal(h.body[0], "m0");
	memset(&h, 0, sizeof h);
	assert_int_equal(cpm_store_room_msg_last(s, "lobby@example.test", 0, hist_one, &h), 0);
	assert_int_equal(h.n, 0);

	/* paging */
	memset(&h, 0, sizeof h);
	assert_int_equal(cpm_store_room_msg_list(s, "lobby@example.test", 0, 4, hist_one, &h),
			 0);
	assert_int_equal(h.n, 4);
	assert_int_equal(h.id[0], ids[0]);
	int64_t after = h.id[3];
	memset(&h, 0, sizeof h);
	assert_int_equal(
		cpm_store_room_msg_list(s, "lobby@example.test", after, 4, hist_one, &h), 0);
	assert_int_equal(h.n, 4);
	assert_int_equal(h.id[0], ids[4]);
	memset(&h, 0, sizeof h);
	assert_int_equal(
		cpm_store_room_msg_list(s, "lobby@example.test", ids[9], 0, hist_one, &h), 0);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.id[0], b.id);
	int stops = 0;
	assert_int_equal(
		cpm_store_room_msg_list(s, "lobby@example.test", 0, 0, stop_at_first, &stops),
		42);
	assert_int_equal(stops, 1);

	/* trim keeps the last keep */
	assert_int_equal(cpm_store_room_msg_trim(s, "lobby@example.test", 5), 6);
	assert_int_equal(cpm_store_room_msg_trim(s, "lobby@example.test", 5), 0);
	memset(&h, 0, sizeof h);
	assert_int_equal(cpm_store_room_msg_list(s, "lobby@example.test", 0, 0, hist_one, &h),
			 0);
	assert_int_equal(h.n, 5);
	assert_string_equal(h.body[0], "m6");
	assert_int_equal(cpm_store_room_msg_trim(s, "lobby@example.test", 0), 5);
	assert_int_equal(cpm_store_room_msg_count(s, "lobby@example.test", &count), 0);
	assert_int_equal(count, 0);
	/* ids are never reused */
	int64_t next = say(s, "lobby@example.test", "again");
	assert_true(next > b.id);

	/* a body over the limit */
	m.body_len = CPM_STORE_MSG_BODY_MAX + 1;
	assert_int_equal(cpm_store_room_msg_add(s, &m), CPM_ETOOBIG);
	cpm_store_close(s);
}

static void test_stamp(void **state)
{
	struct cpm_store *s = open_store(), *other = open_store();
	int64_t u0, c0, u, c;
	assert_int_equal(cpm_store_room_stamp(s, &u0, &c0), 0);
	assert_int_equal(c0, 0);
	struct cpm_store_room r = mkroom("lobby@example.test", "alice@example.test");
	/* another connection's writes change it (the CLI while the server runs) */
	assert_int_equal(cpm_store_room_put(other, &r), 0);
	assert_int_equal(cpm_store_room_stamp(s, &u, &c), 0);
	assert_true(u > u0);
	assert_int_equal(c, 1);
	u0 = u;
	struct cpm_store_room_member m = mkmember("lobby@example.test", "bob@example.test",
						  "", CPM_STORE_ROOM_MEMBER);
	assert_int_equal(cpm_store_room_member_put(other, &m), 0);
	assert_int_equal(cpm_store_room_stamp(s, &u, &c), 0);
	assert_true(u > u0);
	u0 = u;
	/* history does not count */
	say(other, "lobby@example.test", "hello");
	assert_int_equal(cpm_store_room_stamp(s, &u, &c), 0);
	assert_int_equal(u, u0);
	/* a member's deletion does */
	assert_int_equal(cpm_store_room_member_del(other, "lobby@example.test",
						   "bob@example.test"),
			 0);
	assert_int_equal(cpm_store_room_stamp(s, &u, &c), 0);
	assert_true(u > u0);
	u0 = u;
	/* refused writes do not */
	m.role = CPM_STORE_ROOM_OWNER;
	assert_int_equal(cpm_store_room_member_put(other, &m), CPM_EPERM);
	assert_int_equal(cpm_store_room_stamp(s, &u, &c), 0);
	assert_int_equal(u, u0);
	assert_int_equal(cpm_store_room_del(other, "lobby@example.test"), 0);
	assert_int_equal(cpm_store_room_stamp(s, &u, &c), 0);
	assert_true(u > u0);
	assert_int_equal(c, 0);
	cpm_store_close(other);
	cpm_store_close(s);
}

static void test_checks(void **state)
{
	struct cpm_store *s = open_store();
	struct cpm_store_room r = mkroom("lobby", "alice@example.test");
	assert_int_equal(cpm_store_room_put(s, &r), CPM_EINVAL);
	r = mkroom("lobby@example.test", "");
	assert_int_equal(cpm_store_room_put(s, &r), CPM_EINVAL);
	r = mkroom("lob by@example.test", "alice@example.test");
	assert_int_equal(cpm_store_room_put(s, &r), CPM_EINVAL);
	r = mkroom("lobby@example.test", "alice@example.test");
	r.history = -2;
	assert_int_equal(cpm_store_room_put(s, &r), CPM_EINVAL);
	r.history = CPM_STORE_ROOM_HISTORY_MAX + 1;
	assert_int_equal(cpm_store_room_put(s, &r), CPM_EINVAL);
	r.history = 0;
	r.flags = 8;
	assert_int_equal(cpm_store_room_put(s, &r), CPM_EINVAL);
	r.flags = 0;
	snprintf(r.subject, sizeof r.subject, "a\r\nVia: x");
	assert_int_equal(cpm_store_room_put(s, &r), CPM_EINVAL);
	memset(r.subject, 'x', sizeof r.subject); /* not terminated */
	assert_int_equal(cpm_store_room_put(s, &r), CPM_EINVAL);
	r.subject[0] = '\0';
	assert_int_equal(cpm_store_room_put(s, NULL), CPM_EINVAL);
	assert_int_equal(cpm_store_room_put(s, &r), 0);
	struct cpm_store_room_member m = mkmember("lobby@example.test", "bob@example.test",
						  "b\tb", CPM_STORE_ROOM_MEMBER);
	assert_int_equal(cpm_store_room_member_put(s, &m), CPM_EINVAL);
	m = mkmember("lobby@example.test", "bob", "", CPM_STORE_ROOM_MEMBER);
	assert_int_equal(cpm_store_room_member_put(s, &m), CPM_EINVAL);
	m = mkmember("lobby@example.test", "bob@example.test", "", 3);
	assert_int_equal(cpm_store_room_member_put(s, &m), CPM_EINVAL);
	m.role = -1;
	assert_int_equal(cpm_store_room_member_put(s, &m), CPM_EINVAL);
	struct cpm_store_room_msg g;
	memset(&g, 0, sizeof g);
	snprintf(g.room, sizeof g.room, "lobby@example.test");
	snprintf(g.content_type, sizeof g.content_type, "text/plain");
	assert_int_equal(cpm_store_room_msg_add(s, &g), CPM_EINVAL); /* no sender */
	snprintf(g.sender, sizeof g.sender, "alice@example.test");
	g.body_len = 2; /* NULL body */
	assert_int_equal(cpm_store_room_msg_add(s, &g), CPM_EINVAL);
	g.body_len = 0;
	g.content_type[0] = '\0';
	assert_int_equal(cpm_store_room_msg_add(s, &g), CPM_EINVAL);
	snprintf(g.content_type, sizeof g.content_type, "text/plain");
	assert_int_equal(cpm_store_room_msg_add(s, &g), 0); /* an empty body is fine */
	struct hist h = { 0 };
	assert_int_equal(cpm_store_room_msg_last(s, "lobby@example.test", -1, hist_one, &h),
			 CPM_EINVAL);
	assert_int_equal(cpm_store_room_msg_list(s, "lobby@example.test", 0, -1, hist_one, &h),
			 CPM_EINVAL);
	assert_int_equal(cpm_store_room_msg_list(s, "lobby@example.test", 0, 0, NULL, &h),
			 CPM_EINVAL);
	assert_int_equal(cpm_store_room_msg_trim(s, "lobby@example.test", -1), CPM_EINVAL);
	assert_int_equal(cpm_store_room_list(s, NULL, NULL), CPM_EINVAL);
	assert_int_equal(cpm_store_room_list_member(s, "x", room_name, NULL), CPM_EINVAL);
	assert_int_equal(cpm_store_room_get(s, "lobby@example.test", NULL), CPM_EINVAL);
	assert_int_equal(cpm_store_room_del(s, NULL), CPM_EINVAL);
	int64_t a;
	assert_int_equal(cpm_store_room_stamp(s, &a, NULL), CPM_EINVAL);
	assert_int_equal(cpm_store_room_msg_count(s, "lobby@example.test", NULL), CPM_EINVAL);
	cpm_store_close(s);
}

/* A version 5 database: today's schema minus what migration 5 -> 6 adds,
 * with a user and a waiting message written in version 5. */
static void test_migration_v5_to_v6(void **state)
{
	cpm_store_close(open_store());
	assert_int_equal(sql_int("PRAGMA user_version"), 6);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(
		sqlite3_exec(db,
			     "DROP TRIGGER users_not_room; DROP TABLE rooms;"
			     "DROP TABLE room_members; DROP TABLE room_messages;"
			     "DROP TABLE room_serial;"
			     "INSERT INTO users VALUES ('carol@example.test', "
			     "'example.test', '', '', 1600000000);"
			     "INSERT INTO messages (recipient, sender, call_id, "
			     "content_type, body, body_len, date, created) VALUES "
			     "('carol@example.test', 'sip:a@example.test', 'c1', "
			     "'text/plain', X'6869', 2, 1, 1);"
			     "PRAGMA user_version = 5;",
			     NULL, NULL, NULL),
		SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(sql_int("SELECT count(*) FROM sqlite_master WHERE name LIKE 'room%'"),
			 0);

	struct cpm_store *s = open_store();
	assert_int_equal(sql_int("PRAGMA user_version"), 6);
	struct cpm_store_user u;
	assert_int_equal(cpm_store_user_get(s, "carol@example.test", &u), 0);
	assert_int_equal(u.created, 1600000000);
	int64_t count, bytes;
	assert_int_equal(cpm_store_msg_usage(s, "carol@example.test", &count, &bytes), 0);
	assert_int_equal(count, 1);
	/* the new tables and triggers work */
	struct cpm_store_room r = mkroom("carol@example.test", "carol@example.test");
	assert_int_equal(cpm_store_room_put(s, &r), CPM_EEXIST);
	r = mkroom("lobby@example.test", "carol@example.test");
	assert_int_equal(cpm_store_room_put(s, &r), 0);
	say(s, "lobby@example.test", "hi");
	int64_t up, n;
	assert_int_equal(cpm_store_room_stamp(s, &up, &n), 0);
	assert_int_equal(n, 1);
	cpm_store_close(s);
	/* reopening does not migrate again */
	s = open_store();
	struct cpm_store_room g;
	assert_int_equal(cpm_store_room_get(s, "lobby@example.test", &g), 0);
	assert_int_equal(cpm_store_room_msg_count(s, "lobby@example.test", &count), 0);
	assert_int_equal(count, 1);
	cpm_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_room_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_user_collision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_v5_to_v6, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
