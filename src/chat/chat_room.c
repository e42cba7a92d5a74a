/* A chat room: the MSRP switch of RFC 7701.  Pure logic over "legs" (how
 * the room reaches one participant: a local MSRP session today), so that
 * it is unit-tested without sockets (tests/unit/chat/test_chat_room.c).
 *
 *  - every message of a participant goes to the others wrapped in
 *    message/cpim (RFC 3862) with the identity the switch knows (RFC 7701
 *    §6.2): From = nickname or display name and <sip:aor>, To = the room,
 *    DateTime; a CPIM From naming someone else is refused (403);
 *  - a CPIM To naming one participant makes it private: only them (404
 *    when nobody in the room has that URI or nickname);
 *  - isComposing (RFC 3994) fans out the same way, but is not history;
 *  - NICKNAME (RFC 7701 §7): unique in the room (425), reserved ones
 *    (members' stored nicknames) only for their owner, 424 malformed;
 *  - a leg whose queue is full is dropped (after the fan-out in
 *    progress), so that a slow reader never stalls the others. */
#include "chat/chat.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NICK_MAX 63

struct cpm_chat_member {
	struct cpm_chat_room *room;
	char *aor;     /* "sip:alice@example.test" */
	char *display; /* "" if none */
	char nick[NICK_MAX + 1];
	const struct cpm_chat_leg_ops *ops;
	void *leg;
	bool ready;    /* gets the fan-out */
	bool dropping; /* overflowed: to be dropped after this fan-out */
	const char *drop_why;
	struct cpm_chat_member *prev, *next;
};

struct reserved {
	struct reserved *next;
	char *aor;
	char nick[NICK_MAX + 1];
};

struct cpm_chat_room {
	char *uri;
	const struct cpm_chat_room_ops *ops;
	void *arg;
	struct cpm_chat_member *first, *last;
	unsigned count;
	struct reserved *reserved;
	int64_t (*clock)(void); /* wall seconds; tests fix it */
	unsigned busy;          /* fan-outs in progress (drops wait) */
	struct cpm_chat_room_stats st;
};

/* ------------------------------------------------------------------ CPIM */

/* One "Name: value" line of s at *pos; false at the empty line (or end). */
static bool cpim_line(struct cpm_str s, size_t *pos, struct cpm_str *name, struct cpm_str *value)
{
	size_t p = *pos, e = p;
	while (e < s.len && s.s[e] != '\n')
		e++;
	struct cpm_str line = { s.s + p, e - p };
	if (line.len && line.s[line.len - 1] == '\r')
		line.len--;
	*pos = e < s.len ? e + 1 : e;
	if (!line.len)
		return false;
	long colon = cpm_str_chr(line, ':');
	if (colon < 0) {
		*name = line;
		*value = CPM_STR_NULL;
		return true;
	}
	*name = cpm_str_trim((struct cpm_str){ line.s, (size_t)colon });
	*value = cpm_str_trim((struct cpm_str){ line.s + colon + 1, line.len - (size_t)colon - 1 });
	return true;
}

int cpm_chat_cpim_parse(struct cpm_str body, struct cpm_chat_cpim *out)
{
	memset(out, 0, sizeof *out);
	size_t pos = 0;
	struct cpm_str n, v;
	unsigned lines = 0;
	while (pos < body.len && cpim_line(body, &pos, &n, &v)) {
		if (cpm_str_ieq_cstr(n, "From"))
			out->from = v;
		else if (cpm_str_ieq_cstr(n, "To") && !out->to.s)
			out->to = v;
		else if (cpm_str_ieq_cstr(n, "DateTime"))
			out->datetime = v;
		lines++;
	}
	if (!lines || pos >= body.len)
		return CPM_EPARSE; /* RFC 3862 §3: headers, an empty line, MIME */
	out->mime = (struct cpm_str){ body.s + pos, body.len - pos };
	while (pos < body.len && cpim_line(body, &pos, &n, &v))
		if (cpm_str_ieq_cstr(n, "Content-Type"))
			out->content_type = v;
	out->content = (struct cpm_str){ body.s + pos, pos <= body.len ? body.len - pos : 0 };
	return out->content_type.len ? 0 : CPM_EPARSE;
}

/* The URI of a name-addr ("Alice <sip:a@b>") or an addr-spec. */
static struct cpm_str addr_uri(struct cpm_str v)
{
	long lt = cpm_str_chr(v, '<');
	if (lt >= 0) {
		struct cpm_str rest = { v.s + lt + 1, v.len - (size_t)lt - 1 };
		long gt = cpm_str_chr(rest, '>');
		if (gt >= 0)
			return cpm_str_trim((struct cpm_str){ rest.s, (size_t)gt });
	}
	return cpm_str_trim(v);
}

/* The display part of a name-addr, unquoted ("" if none). */
static struct cpm_str addr_display(struct cpm_str v)
{
	long lt = cpm_str_chr(v, '<');
	if (lt <= 0)
		return CPM_STR_NULL;
	struct cpm_str d = cpm_str_trim((struct cpm_str){ v.s, (size_t)lt });
	if (d.len >= 2 && d.s[0] == '"' && d.s[d.len - 1] == '"')
		d = (struct cpm_str){ d.s + 1, d.len - 2 };
	return d;
}

/* sip:, sips:, im: name the same participant here (RFC 3862 im: URIs). */
static struct cpm_str strip_scheme(struct cpm_str u)
{
	static const char *const schemes[] = { "sip:", "sips:", "im:", "pres:" };
	for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++)
		if (cpm_str_istarts(u, schemes[i])) {
			size_t n = strlen(schemes[i]);
			return (struct cpm_str){ u.s + n, u.len - n };
		}
	return u;
}

static bool same_uri(struct cpm_str a, const char *b)
{
	return cpm_str_ieq(strip_scheme(a), strip_scheme(cpm_str_from_cstr(b)));
}

/* ------------------------------------------------------------------ rooms */

static int64_t wall(void)
{
	return cpm_wall_s();
}

int cpm_chat_room_new(const char *uri, const struct cpm_chat_room_ops *ops, void *arg,
		      struct cpm_chat_room **out)
{
	struct cpm_chat_room *r = calloc(1, sizeof *r);
	if (!r || !(r->uri = cpm_str_dup(cpm_str_from_cstr(uri)))) {
		free(r);
		return CPM_ENOMEM;
	}
	r->ops = ops;
	r->arg = arg;
	r->clock = wall;
	*out = r;
	return 0;
}

static void member_free(struct cpm_chat_member *m)
{
	free(m->aor);
	free(m->display);
	free(m);
}

void cpm_chat_room_free(struct cpm_chat_room *r)
{
	if (!r)
		return;
	while (r->first) {
		struct cpm_chat_member *m = r->first;
		r->first = m->next;
		member_free(m);
	}
	while (r->reserved) {
		struct reserved *x = r->reserved;
		r->reserved = x->next;
		free(x->aor);
		free(x);
	}
	free(r->uri);
	free(r);
}

const char *cpm_chat_room_uri(const struct cpm_chat_room *r)
{
	return r->uri;
}

unsigned cpm_chat_room_count(const struct cpm_chat_room *r)
{
	return r->count;
}

void cpm_chat_room_stats(const struct cpm_chat_room *r, struct cpm_chat_room_stats *out)
{
	*out = r->st;
}

void cpm_chat_room_set_clock(struct cpm_chat_room *r, int64_t (*clock)(void))
{
	r->clock = clock ? clock : wall;
}

/* RFC 7701 §7: a nickname is a string; ours: 1..63 bytes, no control
 * characters, no '<' '>' '"' (it goes in a CPIM display name), not only
 * spaces. */
static bool nick_valid(struct cpm_str n)
{
	if (!n.len || n.len > NICK_MAX || !cpm_str_trim(n).len)
		return false;
	for (size_t i = 0; i < n.len; i++) {
		unsigned char c = (unsigned char)n.s[i];
		if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' || c == '\\')
			return false;
	}
	return true;
}

int cpm_chat_room_reserve(struct cpm_chat_room *r, const char *aor, const char *nick)
{
	struct cpm_str n = cpm_str_from_cstr(nick);
	if (!nick_valid(n))
		return CPM_EINVAL;
	struct reserved *x = calloc(1, sizeof *x);
	if (!x || !(x->aor = cpm_str_dup(cpm_str_from_cstr(aor)))) {
		free(x);
		return CPM_ENOMEM;
	}
	memcpy(x->nick, nick, n.len + 1);
	x->next = r->reserved;
	r->reserved = x;
	return 0;
}

/* Who holds nick (in use or reserved) other than aor: 425 (RFC 7701
 * §7.2).  Nicknames compare case-insensitively. */
static bool nick_taken(const struct cpm_chat_room *r, struct cpm_str n, const char *aor)
{
	for (const struct cpm_chat_member *m = r->first; m; m = m->next)
		if (m->nick[0] && cpm_str_ieq_cstr(n, m->nick) && strcasecmp(m->aor, aor) != 0)
			return true;
	for (const struct reserved *x = r->reserved; x; x = x->next)
		if (cpm_str_ieq_cstr(n, x->nick) && strcasecmp(x->aor, aor) != 0)
			return true;
	return false;
}

int cpm_chat_room_join(struct cpm_chat_room *r, const char *aor, const char *display,
		       const struct cpm_chat_leg_ops *ops, void *leg, struct cpm_chat_member **out)
{
	struct cpm_chat_member *m = calloc(1, sizeof *m);
	if (!m)
		return CPM_ENOMEM;
	m->aor = cpm_str_dup(cpm_str_from_cstr(aor));
	m->display = cpm_str_dup(cpm_str_from_cstr(display ? display : ""));
	if (!m->aor || !m->display) {
		member_free(m);
		return CPM_ENOMEM;
	}
	m->room = r;
	m->ops = ops;
	m->leg = leg;
	/* a nickname reserved for this AoR is taken at once */
	for (const struct reserved *x = r->reserved; x; x = x->next)
		if (strcasecmp(x->aor, aor) == 0 &&
		    !nick_taken(r, cpm_str_from_cstr(x->nick), aor)) {
			memcpy(m->nick, x->nick, sizeof m->nick);
			break;
		}
	m->prev = r->last;
	if (r->last)
		r->last->next = m;
	else
		r->first = m;
	r->last = m;
	r->count++;
	*out = m;
	return 0;
}

void cpm_chat_room_ready(struct cpm_chat_member *m)
{
	m->ready = true;
}

void cpm_chat_room_leave(struct cpm_chat_member *m)
{
	struct cpm_chat_room *r = m->room;
	if (m->prev)
		m->prev->next = m->next;
	else
		r->first = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		r->last = m->prev;
	r->count--;
	member_free(m);
}

const char *cpm_chat_member_aor(const struct cpm_chat_member *m)
{
	return m->aor;
}

const char *cpm_chat_member_nick(const struct cpm_chat_member *m)
{
	return m->nick;
}

void *cpm_chat_member_leg(const struct cpm_chat_member *m)
{
	return m->leg;
}

struct cpm_chat_member *cpm_chat_room_find(struct cpm_chat_room *r, struct cpm_str who)
{
	struct cpm_str u = addr_uri(who);
	for (struct cpm_chat_member *m = r->first; m; m = m->next)
		if (same_uri(u, m->aor))
			return m;
	/* a nickname: as display name, or alone */
	struct cpm_str d = addr_display(who);
	if (!d.len)
		d = cpm_str_trim(who);
	for (struct cpm_chat_member *m = r->first; m; m = m->next)
		if (m->nick[0] && cpm_str_ieq_cstr(d, m->nick))
			return m;
	return NULL;
}

int cpm_chat_room_nickname(struct cpm_chat_member *m, struct cpm_str nick)
{
	struct cpm_chat_room *r = m->room;
	if (!nick_valid(nick))
		return 424;
	if (nick_taken(r, nick, m->aor))
		return 425;
	memcpy(m->nick, nick.s, nick.len);
	m->nick[nick.len] = '\0';
	return 200;
}

/* ------------------------------------------------------------- the switch */

static void fmt_datetime(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A name-addr for CPIM: "nick" <uri> (the display name when no nick). */
static int put_addr(struct cpm_buf *b, const char *hdr, const char *name, const char *uri)
{
	bool sip = strchr(uri, ':') != NULL;
	if (name && name[0])
		return cpm_buf_printf(b, "%s: \"%s\" <%s%s>\r\n", hdr, name, sip ? "" : "sip:",
				      uri);
	return cpm_buf_printf(b, "%s: <%s%s>\r\n", hdr, sip ? "" : "sip:", uri);
}

int cpm_chat_room_wrap(const struct cpm_chat_room *r, const struct cpm_chat_member *from,
		       const struct cpm_chat_member *to, struct cpm_str mime, struct cpm_buf *out)
{
	char dt[32];
	fmt_datetime(r->clock(), dt);
	const char *name = from->nick[0] ? from->nick : from->display;
	int rc = put_addr(out, "From", name, from->aor);
	if (!rc)
		rc = to ? put_addr(out, "To", to->nick[0] ? to->nick : to->display, to->aor)
			: put_addr(out, "To", "", r->uri);
	if (!rc)
		rc = cpm_buf_printf(out, "DateTime: %s\r\n\r\n", dt);
	if (!rc)
		rc = cpm_buf_append_str(out, mime);
	return rc;
}

static void drop_pending(struct cpm_chat_room *r)
{
	if (r->busy)
		return;
	for (struct cpm_chat_member *m = r->first, *n; m; m = n) {
		n = m->next;
		if (!m->dropping)
			continue;
		m->dropping = false;
		m->ready = false;
		r->st.dropped++;
		if (r->ops && r->ops->dropped)
			r->ops->dropped(r->arg, r, m, m->drop_why); /* may leave m */
	}
}

/* Give one leg a message; a full queue marks it for dropping. */
static void deliver(struct cpm_chat_room *r, struct cpm_chat_member *m, struct cpm_str body)
{
	if (!m->ready || m->dropping)
		return;
	int rc = m->ops->send(m->leg, CPM_STR("message/cpim"), body);
	if (rc == 0) {
		r->st.delivered++;
	} else if (rc == CPM_ELIMIT) {
		m->dropping = true;
		m->drop_why = "slow participant: its queue is full (chat.max_queue)";
	} else if (rc != CPM_EAGAIN) {
		m->dropping = true;
		m->drop_why = "cannot send to the participant";
	}
}

int cpm_chat_room_send_to(struct cpm_chat_room *r, struct cpm_chat_member *m,
			  struct cpm_str cpim)
{
	r->busy++;
	deliver(r, m, cpim);
	r->busy--;
	bool dropped = m->dropping;
	drop_pending(r);
	return dropped ? CPM_ELIMIT : 0;
}

static bool is_composing(struct cpm_str ctype)
{
	return cpm_str_istarts(ctype, "application/im-iscomposing+xml");
}

int cpm_chat_room_receive(struct cpm_chat_member *from, struct cpm_str ctype, struct cpm_str body,
			  struct cpm_str message_id)
{
	struct cpm_chat_room *r = from->room;
	struct cpm_chat_member *to = NULL;
	struct cpm_str mime, inner;
	struct cpm_buf hdr;
	if (cpm_str_istarts(ctype, "message/cpim")) {
		struct cpm_chat_cpim c;
		if (cpm_chat_cpim_parse(body, &c))
			return 400;
		/* RFC 7701 §6.1: the switch checks the sender is who it says */
		if (c.from.len && !same_uri(addr_uri(c.from), from->aor))
			return 403;
		if (c.to.len && !same_uri(addr_uri(c.to), r->uri)) {
			to = cpm_chat_room_find(r, c.to);
			if (!to)
				return 404; /* RFC 7701 §6.4: no such participant */
		}
		mime = c.mime;
		inner = c.content_type;
		cpm_buf_init(&hdr, 0);
	} else {
		/* a bare body: its Content-Type becomes the CPIM MIME header */
		cpm_buf_init(&hdr, 1024 + body.len);
		if (cpm_buf_printf(&hdr, "Content-Type: %.*s\r\n\r\n", CPM_STR_FMT(ctype)) ||
		    cpm_buf_append_str(&hdr, body)) {
			cpm_buf_free(&hdr);
			return 413;
		}
		mime = cpm_buf_str(&hdr);
		inner = ctype;
	}
	struct cpm_buf out;
	cpm_buf_init(&out, SIZE_MAX / 4);
	int rc = cpm_chat_room_wrap(r, from, to, mime, &out);
	cpm_buf_free(&hdr);
	if (rc) {
		cpm_buf_free(&out);
		return 500;
	}
	struct cpm_str wrapped = cpm_buf_str(&out);
	bool typing = is_composing(inner);
	r->busy++;
	if (to) {
		if (to != from)
			deliver(r, to, wrapped);
		r->st.private_msgs++;
	} else {
		for (struct cpm_chat_member *m = r->first; m; m = m->next)
			if (m != from)
				deliver(r, m, wrapped);
		if (!typing) {
			r->st.messages++;
			if (r->ops && r->ops->message) {
				struct cpm_chat_room_msg rm = {
					.sender = from->aor,
					.nick = from->nick,
					.message_id = message_id,
					.cpim = wrapped,
				};
				r->ops->message(r->arg, r, &rm);
			}
		}
	}
	r->busy--;
	cpm_buf_free(&out);
	drop_pending(r);
	return 200;
}
