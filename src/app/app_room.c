/* cpmd room — provisioning of chat rooms (predefined rooms of the MSRP
 * switch, RFC 7701) in the store, while the server may be running: the
 * room, its owner and members (nicknames, roles), its settings, and a look
 * at its history.  The server notices the changes through
 * cpm_store_room_stamp. */
#include "app/app.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ROOM_MEMBERS_MAX 256   /* --members a,b,...: AoRs in one add */

static const char room_usage[] =
	"usage: cpmd [-c FILE] [-o section.key=value] room COMMAND ...\n"
	"\n"
	"Commands:\n"
	"  room add ROOM --owner AOR [--members AOR,AOR...] [--subject TEXT]\n"
	"           [--members-only] [--offline-sf] [--history N]\n"
	"                      create a predefined chat room; the owner is a\n"
	"                      user here, members are users here or of domains\n"
	"                      not served here (remote participants)\n"
	"  room del ROOM       delete a room, its members and its history\n"
	"  room list           list the rooms: URI, owner, members, messages, flags\n"
	"  room show ROOM      settings, members (nicknames, roles), message count\n"
	"  room set ROOM [--owner AOR] [--subject TEXT] [--members-only | --open]\n"
	"           [--offline-sf | --no-offline-sf] [--history N|default]\n"
	"                      change a room's settings\n"
	"  room member add ROOM AOR [--nick NICK] [--role member|moderator]\n"
	"                      add a member, or change its nickname or role\n"
	"  room member del ROOM AOR\n"
	"                      remove a member (not the owner: change it first)\n"
	"  room history ROOM [--limit N]\n"
	"                      the room's last N messages (default 20), oldest first\n"
	"  room help           show this help\n"
	"\n"
	"ROOM is name@domain, the domain one of server.domain, and no user's AoR.\n"
	"--members-only: only members may join.  --offline-sf: members not in the\n"
	"room get its messages by store-and-forward.  --history N: messages a\n"
	"joiner gets (0..10000; default: the server's setting).\n"
	"\n"
	"Exit status: 0 success, 1 error, 2 usage error.\n";

/* Options; each command lists those it takes. */
enum {
	O_OWNER = 1 << 0,
	O_MEMBERS = 1 << 1,
	O_SUBJECT = 1 << 2,
	O_MONLY = 1 << 3,
	O_OPEN = 1 << 4,
	O_OFFSF = 1 << 5,
	O_NO_OFFSF = 1 << 6,
	O_HISTORY = 1 << 7,
	O_NICK = 1 << 8,
	O_ROLE = 1 << 9,
	O_LIMIT = 1 << 10,
};

static const struct room_opt {
	const char *name;
	int bit;
	bool value;
} room_opts[] = {
	{ "--owner", O_OWNER, true },	    { "--members", O_MEMBERS, true },
	{ "--subject", O_SUBJECT, true },   { "--members-only", O_MONLY, false },
	{ "--open", O_OPEN, false },	    { "--offline-sf", O_OFFSF, false },
	{ "--no-offline-sf", O_NO_OFFSF, false }, { "--history", O_HISTORY, true },
	{ "--nick", O_NICK, true },	    { "--role", O_ROLE, true },
	{ "--limit", O_LIMIT, true },
};
#define NOPTS (sizeof room_opts / sizeof *room_opts)

struct room_args {
	const char *pos[2]; /* ROOM [AOR] */
	int npos;
	int given;		 /* O_* bits */
	const char *val[NOPTS]; /* by room_opts index */
};

struct room_cmd {
	const char *name;
	int npos; /* positional arguments: 0, 1 (ROOM) or 2 (ROOM AOR) */
	int opts; /* O_* accepted */
	int (*run)(const struct cpm_conf *conf, struct cpm_store *s,
		   const struct room_args *a);
};

static const char *cur_cmd = "room";

static void room_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void room_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cpm_app_errv("room", cur_cmd, fmt, ap);
	va_end(ap);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ex = cpm_app_usage_errv("room", cur_cmd, fmt, ap);
	va_end(ap);
	return ex;
}

static int store_error(struct cpm_store *s, int rc, const char *what)
{
	return cpm_app_store_err("room", cur_cmd, s, rc, what);
}

static const char *opt_val(const struct room_args *a, int bit)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (room_opts[i].bit == bit)
			return a->val[i];
	return NULL;
}

/* ------------------------------------------------------------ checks */

/* The room's URI: an AoR of a served domain. */
static int room_uri(const struct cpm_conf *conf, const char *in, bool served,
		    char uri[256])
{
	char err[1024];
	if (cpm_app_aor_check(conf, in, served, uri, err, sizeof err)) {
		room_err("room %s", err);
		return CPM_APP_EXIT_ERROR;
	}
	return 0;
}

/* A member: an AoR; of a served domain, a user that exists.  The owner
 * (--owner) must be one of ours (it manages the room over HTTP). */
static int person(const struct cpm_conf *conf, struct cpm_store *s,
		  const char *in, const char *what, char aor[256])
{
	char err[1024];
	bool owner = strcmp(what, "--owner") == 0;
	int rc = cpm_app_aor_check(conf, in, true, aor, err, sizeof err);
	if (rc == CPM_EPERM && !owner)
		return 0; /* a remote participant */
	if (rc) {
		room_err("%s: %s", what, err);
		return CPM_APP_EXIT_ERROR;
	}
	struct cpm_store_user u;
	rc = cpm_store_user_get(s, aor, &u);
	if (rc == CPM_ENOTFOUND) {
		struct cpm_store_room r;
		if (cpm_store_room_get(s, aor, &r) == 0)
			room_err("%s: %s is a chat room, not a user", what, aor);
		else
			room_err("%s: no such user: %s (add it with 'cpmd user add')",
				 what, aor);
		return CPM_APP_EXIT_ERROR;
	}
	return rc ? store_error(s, rc, aor) : 0;
}

/* Free text for the subject or a nickname. */
static int text_arg(const char *v, size_t max, const char *what, char *out)
{
	size_t n = strlen(v);
	if (n >= max) {
		room_err("%s longer than %zu bytes", what, max - 1);
		return CPM_APP_EXIT_ERROR;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
			room_err("%s: control characters are not allowed", what);
			return CPM_APP_EXIT_ERROR;
		}
	memcpy(out, v, n + 1);
	return 0;
}

/* --history N|default */
static int history_arg(const char *v, int *out)
{
	uint64_t n;
	if (strcmp(v, "default") == 0) {
		*out = -1;
		return 0;
	}
	if (cpm_str_to_u64(cpm_str_from_cstr(v), CPM_STORE_ROOM_HISTORY_MAX, &n)) {
		room_err("--history: '%s' is not a number of messages from 0 to %d "
			 "or 'default'",
			 v, CPM_STORE_ROOM_HISTORY_MAX);
		return CPM_APP_EXIT_ERROR;
	}
	*out = (int)n;
	return 0;
}

static void flags_text(int flags, char *out, size_t sz)
{
	snprintf(out, sz, "%s%s%s%s", flags & CPM_STORE_ROOM_F_MEMBERS_ONLY ? "members-only," : "",
		 flags & CPM_STORE_ROOM_F_OFFLINE_SF ? "offline-sf," : "",
		 flags & CPM_STORE_ROOM_F_ADHOC ? "ad-hoc," : "", flags ? "" : "-");
	size_t n = strlen(out);
	if (n && out[n - 1] == ',')
		out[n - 1] = '\0';
}

static void history_text(int history, char *out, size_t sz)
{
	if (history < 0)
		snprintf(out, sz, "default");
	else
		snprintf(out, sz, "%d", history);
}

static const char *role_name(int role)
{
	return role == CPM_STORE_ROOM_OWNER	 ? "owner"
	       : role == CPM_STORE_ROOM_MODERATOR ? "moderator"
						  : "member";
}

/* The settings options of add and set applied to r. */
static int apply_settings(const struct room_args *a, struct cpm_store_room *r)
{
	const char *v;
	if ((v = opt_val(a, O_SUBJECT)) &&
	    text_arg(v, sizeof r->subject, "--subject", r->subject))
		return CPM_APP_EXIT_ERROR;
	if ((v = opt_val(a, O_HISTORY)) && history_arg(v, &r->history))
		return CPM_APP_EXIT_ERROR;
	if (a->given & O_MONLY)
		r->flags |= CPM_STORE_ROOM_F_MEMBERS_ONLY;
	if (a->given & O_OPEN)
		r->flags &= ~CPM_STORE_ROOM_F_MEMBERS_ONLY;
	if (a->given & O_OFFSF)
		r->flags |= CPM_STORE_ROOM_F_OFFLINE_SF;
	if (a->given & O_NO_OFFSF)
		r->flags &= ~CPM_STORE_ROOM_F_OFFLINE_SF;
	return 0;
}

/* The room must exist (for every command but add). */
static int load_room(struct cpm_store *s, const char *uri, struct cpm_store_room *r)
{
	int rc = cpm_store_room_get(s, uri, r);
	if (rc == CPM_ENOTFOUND) {
		room_err("no such room: %s", uri);
		return CPM_APP_EXIT_ERROR;
	}
	return rc ? store_error(s, rc, uri) : 0;
}

/* ---------------------------------------------------------- commands */

static int cmd_add(const struct cpm_conf *conf, struct cpm_store *s,
		   const struct room_args *a)
{
	struct cpm_store_room r;
	memset(&r, 0, sizeof r);
	r.history = -1;
	if (room_uri(conf, a->pos[0], true, r.uri))
		return CPM_APP_EXIT_ERROR;
	const char *owner = opt_val(a, O_OWNER);
	if (!owner)
		return usage_error("missing --owner AOR");
	if (person(conf, s, owner, "--owner", r.owner) || apply_settings(a, &r))
		return CPM_APP_EXIT_ERROR;
	/* the members, checked before anything is written */
	char(*members)[256] = calloc(ROOM_MEMBERS_MAX, 256);
	int n = 0, ex = members ? 0 : CPM_APP_EXIT_ERROR;
	const char *list = opt_val(a, O_MEMBERS);
	for (const char *p = list; p && *p && !ex;) {
		const char *comma = strchr(p, ',');
		size_t l = comma ? (size_t)(comma - p) : strlen(p);
		char one[512];
		if (l >= sizeof one || n == ROOM_MEMBERS_MAX) {
			room_err("--members: %s", l >= sizeof one ? "AoR too long"
								   : "too many members");
			ex = CPM_APP_EXIT_ERROR;
			break;
		}
		memcpy(one, p, l);
		one[l] = '\0';
		if (l && !(ex = person(conf, s, one, "--members", members[n])))
			n++;
		p = comma ? comma + 1 : p + l;
	}
	if (!members)
		room_err("out of memory");
	struct cpm_store_room old;
	int rc = ex ? 0 : cpm_store_room_get(s, r.uri, &old);
	if (!ex && rc == 0) {
		room_err("room %s already exists (change it with 'cpmd room set')", r.uri);
		ex = CPM_APP_EXIT_ERROR;
	} else if (!ex && rc != CPM_ENOTFOUND) {
		ex = store_error(s, rc, r.uri);
	}
	if (ex) {
		free(members);
		return ex;
	}
	/* all or nothing */
	rc = cpm_store_txn(s, CPM_STORE_TXN_BEGIN);
	if (!rc)
		rc = cpm_store_room_put(s, &r);
	for (int i = 0; !rc && i < n; i++) {
		if (strcmp(members[i], r.owner) == 0)
			continue;
		struct cpm_store_room_member m = { .role = CPM_STORE_ROOM_MEMBER };
		memcpy(m.room, r.uri, sizeof m.room);
		memcpy(m.aor, members[i], sizeof m.aor);
		rc = cpm_store_room_member_put(s, &m);
	}
	if (!rc)
		rc = cpm_store_txn(s, CPM_STORE_TXN_COMMIT);
	if (rc && cpm_store_txn(s, CPM_STORE_TXN_ACTIVE) == 1)
		cpm_store_txn(s, CPM_STORE_TXN_ROLLBACK);
	free(members);
	if (rc == CPM_EEXIST) {
		room_err("%s is a user's AoR: a room needs another name", r.uri);
		return CPM_APP_EXIT_ERROR;
	}
	if (rc)
		return store_error(s, rc, r.uri);
	char fl[64];
	flags_text(r.flags, fl, sizeof fl);
	printf("added room %s (owner %s, %d member%s, flags %s)\n", r.uri, r.owner,
	       n, n == 1 ? "" : "s", fl);
	return CPM_APP_EXIT_OK;
}

static int cmd_del(const struct cpm_conf *conf, struct cpm_store *s,
		   const struct room_args *a)
{
	char uri[256];
	/* no served-domain check: a room of a domain no longer served must
	 * still be deletable */
	if (room_uri(conf, a->pos[0], false, uri))
		return CPM_APP_EXIT_ERROR;
	int rc = cpm_store_room_del(s, uri);
	if (rc == CPM_ENOTFOUND) {
		room_err("no such room: %s", uri);
		return CPM_APP_EXIT_ERROR;
	}
	if (rc)
		return store_error(s, rc, uri);
	printf("deleted room %s\n", uri);
	return CPM_APP_EXIT_OK;
}

struct room_rows {
	struct cpm_store_room *v;
	size_t n, cap;
};

static int collect_room(void *arg, const struct cpm_store_room *r)
{
	struct room_rows *rows = arg;
	if (rows->n == rows->cap) {
		size_t cap = rows->cap ? rows->cap * 2 : 32;
		struct cpm_store_room *v = realloc(rows->v, cap * sizeof *v);
		if (!v)
			return CPM_ENOMEM;
		rows->v = v;
		rows->cap = cap;
	}
	rows->v[rows->n++] = *r;
	return 0;
}

static int count_member(void *arg, const struct cpm_store_room_member *m)
{
	(*(int *)arg)++;
	return 0;
}

static int cmd_list(const struct cpm_conf *conf, struct cpm_store *s,
		    const struct room_args *a)
{
	struct room_rows rows = { 0 };
	int rc = cpm_store_room_list(s, collect_room, &rows);
	if (rc) {
		free(rows.v);
		return store_error(s, rc, "listing rooms");
	}
	int wuri = 4, wown = 5;
	for (size_t i = 0; i < rows.n; i++) {
		int l = (int)strlen(rows.v[i].uri);
		wuri = l > wuri ? l : wuri;
		l = (int)strlen(rows.v[i].owner);
		wown = l > wown ? l : wown;
	}
	printf("%-*s  %-*s  %7s  %8s  %-22s  %s\n", wuri, "ROOM", wown, "OWNER", "MEMBERS",
	       "MESSAGES", "FLAGS", "SUBJECT");
	for (size_t i = 0; i < rows.n && !rc; i++) {
		int members = 0;
		int64_t msgs = 0;
		rc = cpm_store_room_member_list(s, rows.v[i].uri, count_member, &members);
		if (!rc)
			rc = cpm_store_room_msg_count(s, rows.v[i].uri, &msgs);
		if (rc)
			break;
		char fl[64];
		flags_text(rows.v[i].flags, fl, sizeof fl);
		printf("%-*s  %-*s  %7d  %8lld  %-22s  %s\n", wuri, rows.v[i].uri, wown,
		       rows.v[i].owner, members, (long long)msgs, fl, rows.v[i].subject);
	}
	free(rows.v);
	return rc ? store_error(s, rc, "listing rooms") : CPM_APP_EXIT_OK;
}

static int print_member(void *arg, const struct cpm_store_room_member *m)
{
	char when[32];
	cpm_app_iso_time(m->added, when);
	printf("  %-9s  %-40s  %-20s  %s\n", role_name(m->role), m->aor,
	       m->nick[0] ? m->nick : "-", when);
	return 0;
}

static int cmd_show(const struct cpm_conf *conf, struct cpm_store *s,
		    const struct room_args *a)
{
	char uri[256];
	struct cpm_store_room r;
	if (room_uri(conf, a->pos[0], false, uri) || load_room(s, uri, &r))
		return CPM_APP_EXIT_ERROR;
	int64_t msgs = 0;
	int members = 0;
	int rc = cpm_store_room_msg_count(s, uri, &msgs);
	if (!rc)
		rc = cpm_store_room_member_list(s, uri, count_member, &members);
	if (rc)
		return store_error(s, rc, uri);
	char when[32], fl[64], hist[16];
	cpm_app_iso_time(r.created, when);
	flags_text(r.flags, fl, sizeof fl);
	history_text(r.history, hist, sizeof hist);
	printf("room: %s\nowner: %s\nsubject: %s\nflags: %s\nhistory on join: %s\n"
	       "created: %s\nmessages: %lld\nmembers: %d\n",
	       r.uri, r.owner, r.subject, fl, hist, when, (long long)msgs, members);
	printf("  %-9s  %-40s  %-20s  %s\n", "ROLE", "AOR", "NICK", "ADDED");
	rc = cpm_store_room_member_list(s, uri, print_member, NULL);
	return rc ? store_error(s, rc, uri) : CPM_APP_EXIT_OK;
}

static int cmd_set(const struct cpm_conf *conf, struct cpm_store *s,
		   const struct room_args *a)
{
	char uri[256];
	struct cpm_store_room r;
	if (!(a->given & (O_OWNER | O_SUBJECT | O_MONLY | O_OPEN | O_OFFSF | O_NO_OFFSF |
			  O_HISTORY)))
		return usage_error("nothing to change (--owner, --subject, "
				   "--members-only, --open, --offline-sf, "
				   "--no-offline-sf, --history)");
	if ((a->given & O_MONLY) && (a->given & O_OPEN))
		return usage_error("--members-only and --open contradict each other");
	if ((a->given & O_OFFSF) && (a->given & O_NO_OFFSF))
		return usage_error("--offline-sf and --no-offline-sf contradict each other");
	if (room_uri(conf, a->pos[0], true, uri) || load_room(s, uri, &r) ||
	    apply_settings(a, &r))
		return CPM_APP_EXIT_ERROR;
	const char *owner = opt_val(a, O_OWNER);
	if (owner && person(conf, s, owner, "--owner", r.owner))
		return CPM_APP_EXIT_ERROR;
	int rc = cpm_store_room_put(s, &r);
	if (rc)
		return store_error(s, rc, uri);
	char fl[64], hist[16];
	flags_text(r.flags, fl, sizeof fl);
	history_text(r.history, hist, sizeof hist);
	printf("room %s: owner %s, flags %s, history %s, subject '%s'\n", r.uri, r.owner,
	       fl, hist, r.subject);
	return CPM_APP_EXIT_OK;
}

static int cmd_member_add(const struct cpm_conf *conf, struct cpm_store *s,
			  const struct room_args *a)
{
	struct cpm_store_room r;
	struct cpm_store_room_member m = { .role = CPM_STORE_ROOM_MEMBER };
	if (room_uri(conf, a->pos[0], true, m.room) || load_room(s, m.room, &r) ||
	    person(conf, s, a->pos[1], "member", m.aor))
		return CPM_APP_EXIT_ERROR;
	struct cpm_store_room_member old;
	int rc = cpm_store_room_member_get(s, m.room, m.aor, &old);
	bool existed = rc == 0;
	if (existed) { /* an update: what is not given stays */
		m.role = old.role;
		memcpy(m.nick, old.nick, sizeof m.nick);
	} else if (rc != CPM_ENOTFOUND) {
		return store_error(s, rc, m.aor);
	}
	const char *v;
	if ((v = opt_val(a, O_NICK)) && text_arg(v, sizeof m.nick, "--nick", m.nick))
		return CPM_APP_EXIT_ERROR;
	if ((v = opt_val(a, O_ROLE))) {
		if (strcmp(v, "member") == 0)
			m.role = CPM_STORE_ROOM_MEMBER;
		else if (strcmp(v, "moderator") == 0)
			m.role = CPM_STORE_ROOM_MODERATOR;
		else if (strcmp(v, "owner") == 0)
			m.role = CPM_STORE_ROOM_OWNER;
		else
			return usage_error("--role: '%s' is not member or moderator", v);
	}
	rc = cpm_store_room_member_put(s, &m);
	if (rc == CPM_EPERM) {
		room_err("%s: the role owner is the owner's alone (change the owner "
			 "with 'cpmd room set %s --owner AOR')",
			 m.aor, m.room);
		return CPM_APP_EXIT_ERROR;
	}
	if (rc)
		return store_error(s, rc, m.aor);
	printf("%s %s in %s: role %s, nick '%s'\n", existed ? "updated" : "added", m.aor,
	       m.room, role_name(m.role), m.nick);
	return CPM_APP_EXIT_OK;
}

static int cmd_member_del(const struct cpm_conf *conf, struct cpm_store *s,
			  const struct room_args *a)
{
	char room[256], aor[256], err[1024];
	if (room_uri(conf, a->pos[0], false, room))
		return CPM_APP_EXIT_ERROR;
	if (cpm_app_aor_check(conf, a->pos[1], false, aor, err, sizeof err)) {
		room_err("member: %s", err);
		return CPM_APP_EXIT_ERROR;
	}
	struct cpm_store_room r;
	if (load_room(s, room, &r))
		return CPM_APP_EXIT_ERROR;
	int rc = cpm_store_room_member_del(s, room, aor);
	if (rc == CPM_ENOTFOUND) {
		room_err("%s is not a member of %s", aor, room);
		return CPM_APP_EXIT_ERROR;
	}
	if (rc == CPM_EPERM) {
		room_err("%s owns %s: give the room another owner first "
			 "('cpmd room set %s --owner AOR')",
			 aor, room, room);
		return CPM_APP_EXIT_ERROR;
	}
	if (rc)
		return store_error(s, rc, aor);
	printf("removed %s from %s\n", aor, room);
	return CPM_APP_EXIT_OK;
}

static int print_msg(void *arg, const struct cpm_store_room_msg *m)
{
	char when[32];
	cpm_app_iso_time(m->date, when);
	printf("#%lld %s %s%s%s%s:", (long long)m->id, when, m->nick, m->nick[0] ? " <" : "",
	       m->sender, m->nick[0] ? ">" : "");
	if (strncasecmp(m->content_type, "text/", 5) != 0) {
		printf(" (%s, %zu bytes)\n", m->content_type, m->body_len);
		return 0;
	}
	/* text, with what could drive the terminal made visible */
	putchar(' ');
	const unsigned char *b = m->body;
	for (size_t i = 0; i < m->body_len; i++) {
		if (b[i] == '\n' && i + 1 < m->body_len)
			fputs("\n    ", stdout);
		else if (b[i] == '\t' || (b[i] >= 0x20 && b[i] != 0x7f))
			putchar(b[i]);
		else if (b[i] != '\n' && b[i] != '\r')
			printf("\\x%02x", b[i]);
	}
	putchar('\n');
	return 0;
}

static int cmd_history(const struct cpm_conf *conf, struct cpm_store *s,
		       const struct room_args *a)
{
	char uri[256];
	struct cpm_store_room r;
	int limit = 20;
	const char *v = opt_val(a, O_LIMIT);
	uint64_t n;
	if (v) {
		if (cpm_str_to_u64(cpm_str_from_cstr(v), CPM_STORE_ROOM_HISTORY_MAX, &n) || n == 0)
			return usage_error("--limit: '%s' is not a number from 1 to %d", v,
					   CPM_STORE_ROOM_HISTORY_MAX);
		limit = (int)n;
	}
	if (room_uri(conf, a->pos[0], false, uri) || load_room(s, uri, &r))
		return CPM_APP_EXIT_ERROR;
	int rc = cpm_store_room_msg_last(s, uri, limit, print_msg, NULL);
	return rc ? store_error(s, rc, uri) : CPM_APP_EXIT_OK;
}

/* Adding a command: a row here, a line in room_usage. */
static const struct room_cmd room_cmds[] = {
	{ "add", 1, O_OWNER | O_MEMBERS | O_SUBJECT | O_MONLY | O_OFFSF | O_HISTORY, cmd_add },
	{ "del", 1, 0, cmd_del },
	{ "list", 0, 0, cmd_list },
	{ "show", 1, 0, cmd_show },
	{ "set", 1,
	  O_OWNER | O_SUBJECT | O_MONLY | O_OPEN | O_OFFSF | O_NO_OFFSF | O_HISTORY, cmd_set },
	{ "member add", 2, O_NICK | O_ROLE, cmd_member_add },
	{ "member del", 2, 0, cmd_member_del },
	{ "history", 1, O_LIMIT, cmd_history },
};

/* ------------------------------------------------------------------ main */

static int parse_args(const struct room_cmd *cmd, int argc, char **argv,
		      struct room_args *a)
{
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];
		if (arg[0] == '-' && arg[1] != '\0') {
			size_t k = 0;
			const char *eq = strchr(arg, '=');
			size_t nl = eq ? (size_t)(eq - arg) : strlen(arg);
			while (k < NOPTS && !(strlen(room_opts[k].name) == nl &&
					      strncmp(room_opts[k].name, arg, nl) == 0))
				k++;
			if (k == NOPTS || !(cmd->opts & room_opts[k].bit))
				return usage_error("unknown option '%s'", arg);
			if (a->given & room_opts[k].bit)
				return usage_error("%s given twice", room_opts[k].name);
			a->given |= room_opts[k].bit;
			if (!room_opts[k].value) {
				if (eq)
					return usage_error("%s takes no value",
							   room_opts[k].name);
			} else if (eq) {
				a->val[k] = eq + 1;
			} else if (i + 1 < argc) {
				a->val[k] = argv[++i];
			} else {
				return usage_error("%s needs a value", room_opts[k].name);
			}
		} else if (a->npos < cmd->npos) {
			a->pos[a->npos++] = arg;
		} else {
			return usage_error("unexpected argument '%s'", arg);
		}
	}
	if (a->npos < cmd->npos)
		return usage_error("missing %s", a->npos == 0 ? "ROOM (name@domain)"
							      : "AOR (user@domain)");
	return 0;
}

static bool is_help(const char *s)
{
	return strcmp(s, "help") == 0 || strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

int cpm_app_room_main(const struct cpm_conf *conf, int argc, char **argv)
{
	cur_cmd = "room";
	if (argc < 1) {
		fputs(room_usage, stderr);
		return CPM_APP_EXIT_USAGE;
	}
	if (is_help(argv[0])) {
		fputs(room_usage, stdout);
		return CPM_APP_EXIT_OK;
	}
	char name[32];
	int skip = 1;
	snprintf(name, sizeof name, "%s", argv[0]);
	if (strcmp(argv[0], "member") == 0) {
		if (argc < 2 || (strcmp(argv[1], "add") && strcmp(argv[1], "del"))) {
			cur_cmd = "member";
			return usage_error("expected 'member add' or 'member del'");
		}
		snprintf(name, sizeof name, "member %s", argv[1]);
		skip = 2;
	}
	const struct room_cmd *cmd = NULL;
	for (size_t i = 0; i < sizeof room_cmds / sizeof *room_cmds; i++)
		if (strcmp(name, room_cmds[i].name) == 0)
			cmd = &room_cmds[i];
	if (!cmd) {
		fprintf(stderr, "cpmd room: unknown command '%s'\n\n", argv[0]);
		fputs(room_usage, stderr);
		return CPM_APP_EXIT_USAGE;
	}
	cur_cmd = cmd->name;
	for (int i = skip; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(room_usage, stdout);
			return CPM_APP_EXIT_OK;
		}
	struct room_args a = { 0 };
	int ex = parse_args(cmd, argc - skip, argv + skip, &a);
	if (ex)
		return ex;
	struct cpm_store_options opts = { conf->store.busy_timeout };
	struct cpm_store *s;
	int rc = cpm_store_open_ex(conf->store.url, &opts, &s);
	if (rc) {
		room_err("cannot open the store %s: %s", conf->store.url, cpm_strerror(rc));
		return CPM_APP_EXIT_ERROR;
	}
	ex = cmd->run(conf, s, &a);
	cpm_store_close(s);
	return ex;
}
