/* chat: the room switch (RFC 7701): CPIM wrapping with the sender's
 * identity, private messages, nicknames, isComposing, history hook, and
 * the drop of a participant whose queue is full while the others go on.
 * Legs here record what the room hands them (the MSRP legs are tested by
 * the integration test t_chat_room.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat/chat.h"

#define ROOM "sip:lobby@example.test"

struct leg {
	const char *name;
	int fail;          /* returned by send once full */
	unsigned cap;      /* messages accepted before fail (0: no bound) */
	unsigned n;
	char last[2048];
	char last_ctype[64];
};

static int leg_send(void *arg, struct cpm_str ctype, struct cpm_str body)
{
	struct leg *l = arg;
	if (l->cap && l->n >= l->cap)
		return l->fail;
	l->n++;
	snprintf(l->last, sizeof l->last, "%.*s", CPM_STR_FMT(body));
	snprintf(l->last_ctype, sizeof l->last_ctype, "%.*s", CPM_STR_FMT(ctype));
	return 0;
}

static const struct cpm_chat_leg_ops leg_ops = { leg_send };

struct owner {
	unsigned stored;
	char last_sender[128];
	char last_stored[2048];
	unsigned dropped;
	char dropped_aor[128];
};

static void on_message(void *arg, struct cpm_chat_room *r, const struct cpm_chat_room_msg *m)
{
	(void)r;
	struct owner *o = arg;
	o->stored++;
	snprintf(o->last_sender, sizeof o->last_sender, "%s", m->sender);
	snprintf(o->last_stored, sizeof o->last_stored, "%.*s", CPM_STR_FMT(m->cpim));
}

static void on_dropped(void *arg, struct cpm_chat_room *r, struct cpm_chat_member *m,
		       const char *why)
{
	(void)r;
	struct owner *o = arg;
	assert_non_null(strstr(why, "queue"));
	o->dropped++;
	snprintf(o->dropped_aor, sizeof o->dropped_aor, "%s", cpm_chat_member_aor(m));
	cpm_chat_room_leave(m);
}

static const struct cpm_chat_room_ops room_ops = { on_message, on_dropped };

static int64_t fixed_clock(void)
{
	return 1796014800; /* 2026-11-30T05:00:00Z */
}

struct fixture {
	struct owner o;
	struct cpm_chat_room *r;
	struct leg la, lb, lc;
	struct cpm_chat_member *a, *b, *c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_int_equal(cpm_chat_room_new(ROOM, &room_ops, &f->o, &f->r), 0);
	cpm_chat_room_set_clock(f->r, fixed_clock);
	f->la.name = "alice";
	f->lb.name = "bob";
	f->lc.name = "carol";
	assert_int_equal(cpm_chat_room_reserve(f->r, "sip:carol@example.test", "Caro"), 0);
	assert_int_equal(cpm_chat_room_join(f->r, "sip:alice@example.test", "Alice A.", &leg_ops,
					    &f->la, &f->a), 0);
	assert_int_equal(cpm_chat_room_join(f->r, "sip:bob@example.test", "", &leg_ops, &f->lb,
					    &f->b), 0);
	assert_int_equal(cpm_chat_room_join(f->r, "sip:carol@example.test", "", &leg_ops, &f->lc,
					    &f->c), 0);
	cpm_chat_room_ready(f->a);
	cpm_chat_room_ready(f->b);
	cpm_chat_room_ready(f->c);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	cpm_chat_room_free(f->r);
	free(f);
	return 0;
}

static void test_wrap_fanout(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(cpm_chat_room_count(f->r), 3);
	assert_int_equal(cpm_chat_room_receive(f->a, CPM_STR("text/plain"), CPM_STR("hello"),
					       CPM_STR("m1")), 200);
	const char *want = "From: \"Alice A.\" <sip:alice@example.test>\r\n"
			   "To: <sip:lobby@example.test>\r\n"
			   "DateTime: 2026-11-30T05:00:00Z\r\n"
			   "\r\n"
			   "Content-Type: text/plain\r\n"
			   "\r\n"
			   "hello";
	/* everyone but the sender, as message/cpim */
	assert_int_equal(f->la.n, 0);
	assert_int_equal(f->lb.n, 1);
	assert_int_equal(f->lc.n, 1);
	assert_string_equal(f->lb.last, want);
	assert_string_equal(f->lb.last_ctype, "message/cpim");
	assert_string_equal(f->lc.last, want);
	/* the history hook got it */
	assert_int_equal(f->o.stored, 1);
	assert_string_equal(f->o.last_sender, "sip:alice@example.test");
	assert_string_equal(f->o.last_stored, want);

	/* a CPIM body from bob: its MIME part kept, From/To/DateTime ours;
	 * carol's reserved nickname is her From */
	const char *cpim = "From: <sip:bob@example.test>\r\nTo: <sip:lobby@example.test>\r\n"
			   "DateTime: 2000-01-01T00:00:00Z\r\n\r\n"
			   "Content-Type: text/plain;charset=utf-8\r\n\r\nhi all";
	assert_int_equal(cpm_chat_room_receive(f->b, CPM_STR("message/cpim"),
					       cpm_str_from_cstr(cpim), CPM_STR("m2")), 200);
	assert_string_equal(f->la.last, "From: <sip:bob@example.test>\r\n"
					"To: <sip:lobby@example.test>\r\n"
					"DateTime: 2026-11-30T05:00:00Z\r\n\r\n"
					"Content-Type: text/plain;charset=utf-8\r\n\r\nhi all");
	assert_int_equal(cpm_chat_room_receive(f->c, CPM_STR("text/plain"), CPM_STR("yo"),
					       CPM_STR("m3")), 200);
	assert_non_null(strstr(f->la.last, "From: \"Caro\" <sip:carol@example.test>\r\n"));
	assert_int_equal(f->o.stored, 3);
}

static void test_identity_and_private(void **state)
{
	struct fixture *f = *state;
	/* bob cannot speak as alice */
	const char *fake = "From: <sip:alice@example.test>\r\nTo: <sip:lobby@example.test>\r\n\r\n"
			   "Content-Type: text/plain\r\n\r\nit is me, alice";
	assert_int_equal(cpm_chat_room_receive(f->b, CPM_STR("message/cpim"),
					       cpm_str_from_cstr(fake), CPM_STR("")), 403);
	assert_int_equal(f->la.n + f->lc.n, 0);
	/* malformed CPIM */
	assert_int_equal(cpm_chat_room_receive(f->b, CPM_STR("message/cpim"), CPM_STR("garbage"),
					       CPM_STR("")), 400);
	/* private: To carol (by URI, im: scheme) reaches carol only */
	const char *priv = "From: <sip:bob@example.test>\r\nTo: <im:carol@example.test>\r\n\r\n"
			   "Content-Type: text/plain\r\n\r\npsst";
	assert_int_equal(cpm_chat_room_receive(f->b, CPM_STR("message/cpim"),
					       cpm_str_from_cstr(priv), CPM_STR("")), 200);
	assert_int_equal(f->la.n, 0);
	assert_int_equal(f->lc.n, 1);
	assert_non_null(strstr(f->lc.last, "To: \"Caro\" <sip:carol@example.test>\r\n"));
	assert_non_null(strstr(f->lc.last, "\r\n\r\npsst"));
	/* private messages are not history */
	assert_int_equal(f->o.stored, 0);
	/* private by nickname */
	assert_int_equal(cpm_chat_room_nickname(f->a, CPM_STR("ali")), 200);
	const char *pn = "From: <sip:bob@example.test>\r\nTo: \"ali\" <sip:nobody@x>\r\n\r\n"
			 "Content-Type: text/plain\r\n\r\nhey ali";
	assert_int_equal(cpm_chat_room_receive(f->b, CPM_STR("message/cpim"),
					       cpm_str_from_cstr(pn), CPM_STR("")), 200);
	assert_int_equal(f->la.n, 1);
	assert_int_equal(f->lc.n, 1);
	/* to nobody: 404 (RFC 7701) */
	const char *none = "From: <sip:bob@example.test>\r\nTo: <sip:dave@example.test>\r\n\r\n"
			   "Content-Type: text/plain\r\n\r\n?";
	assert_int_equal(cpm_chat_room_receive(f->b, CPM_STR("message/cpim"),
					       cpm_str_from_cstr(none), CPM_STR("")), 404);
}

static void test_nicknames(void **state)
{
	struct fixture *f = *state;
	assert_string_equal(cpm_chat_member_nick(f->c), "Caro"); /* reserved, taken at join */
	assert_string_equal(cpm_chat_member_nick(f->a), "");
	assert_int_equal(cpm_chat_room_nickname(f->a, CPM_STR("Ali")), 200);
	assert_string_equal(cpm_chat_member_nick(f->a), "Ali");
	/* unique, case-insensitively; reserved ones too */
	assert_int_equal(cpm_chat_room_nickname(f->b, CPM_STR("ali")), 425);
	assert_int_equal(cpm_chat_room_nickname(f->b, CPM_STR("caro")), 425);
	/* malformed */
	assert_int_equal(cpm_chat_room_nickname(f->b, CPM_STR("")), 424);
	assert_int_equal(cpm_chat_room_nickname(f->b, CPM_STR("a\x01b")), 424);
	assert_int_equal(cpm_chat_room_nickname(f->b, CPM_STR("<x>")), 424);
	assert_int_equal(cpm_chat_room_nickname(f->b, CPM_STR("   ")), 424);
	/* alice may change hers, and keep it */
	assert_int_equal(cpm_chat_room_nickname(f->a, CPM_STR("Alicia")), 200);
	assert_int_equal(cpm_chat_room_nickname(f->a, CPM_STR("Alicia")), 200);
	assert_int_equal(cpm_chat_room_nickname(f->b, CPM_STR("Ali")), 200); /* freed */
	/* lookups */
	assert_ptr_equal(cpm_chat_room_find(f->r, CPM_STR("Alicia")), f->a);
	assert_ptr_equal(cpm_chat_room_find(f->r, CPM_STR("<sip:BOB@example.test>")), f->b);
	assert_null(cpm_chat_room_find(f->r, CPM_STR("nobody")));
	/* the nickname is the From display name */
	assert_int_equal(cpm_chat_room_receive(f->b, CPM_STR("text/plain"), CPM_STR("x"),
					       CPM_STR("")), 200);
	assert_non_null(strstr(f->la.last, "From: \"Ali\" <sip:bob@example.test>\r\n"));
}

static void test_iscomposing(void **state)
{
	struct fixture *f = *state;
	const char *xml = "<?xml version=\"1.0\"?><isComposing xmlns=\"urn:ietf:params:xml:ns:"
			  "im-iscomposing\"><state>active</state></isComposing>";
	assert_int_equal(cpm_chat_room_receive(f->a, CPM_STR("application/im-iscomposing+xml"),
					       cpm_str_from_cstr(xml), CPM_STR("")), 200);
	assert_int_equal(f->lb.n, 1);
	assert_int_equal(f->lc.n, 1);
	assert_non_null(strstr(f->lb.last, "Content-Type: application/im-iscomposing+xml\r\n"));
	assert_non_null(strstr(f->lb.last, "<state>active</state>"));
	assert_int_equal(f->o.stored, 0); /* not history */
}

static void test_overflow_drops_only_the_slow(void **state)
{
	struct fixture *f = *state;
	/* bob's queue takes 3 messages, then is full */
	f->lb.cap = 3;
	f->lb.fail = CPM_ELIMIT;
	for (int i = 0; i < 10; i++) {
		char text[32];
		snprintf(text, sizeof text, "message %d", i);
		assert_int_equal(cpm_chat_room_receive(f->a, CPM_STR("text/plain"),
						       cpm_str_from_cstr(text), CPM_STR("")),
				 200);
	}
	/* dropped once, after the fan-out in which it overflowed */
	assert_int_equal(f->o.dropped, 1);
	assert_string_equal(f->o.dropped_aor, "sip:bob@example.test");
	assert_int_equal(cpm_chat_room_count(f->r), 2);
	assert_int_equal(f->lb.n, 3);
	/* carol got every one, in order */
	assert_int_equal(f->lc.n, 10);
	assert_non_null(strstr(f->lc.last, "message 9"));
	struct cpm_chat_room_stats st;
	cpm_chat_room_stats(f->r, &st);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(st.messages, 10);
	assert_int_equal(st.delivered, 13);
	/* a participant not ready yet gets nothing */
	struct leg ld = { .name = "dave" };
	struct cpm_chat_member *d;
	assert_int_equal(cpm_chat_room_join(f->r, "sip:dave@example.test", "", &leg_ops, &ld, &d),
			 0);
	assert_int_equal(cpm_chat_room_receive(f->a, CPM_STR("text/plain"), CPM_STR("x"),
					       CPM_STR("")), 200);
	assert_int_equal(ld.n, 0);
	/* history for it, one by one */
	cpm_chat_room_ready(d);
	assert_int_equal(cpm_chat_room_send_to(f->r, d, CPM_STR("old")), 0);
	assert_string_equal(ld.last, "old");
	ld.cap = 1;
	ld.fail = CPM_ELIMIT;
	assert_int_equal(cpm_chat_room_send_to(f->r, d, CPM_STR("older")), CPM_ELIMIT);
	assert_int_equal(f->o.dropped, 2);
	assert_int_equal(cpm_chat_room_count(f->r), 2);
}

static void test_cpim_parse(void **state)
{
	(void)state;
	struct cpm_chat_cpim c;
	const char *m = "From: A <im:a@x>\nTo: <im:b@x>\nTo: <im:c@x>\n\n"
			"Content-Type: text/html\nContent-ID: <1>\n\n<b>hi</b>\n";
	assert_int_equal(cpm_chat_cpim_parse(cpm_str_from_cstr(m), &c), 0);
	assert_true(cpm_str_eq_cstr(c.from, "A <im:a@x>"));
	assert_true(cpm_str_eq_cstr(c.to, "<im:b@x>"));
	assert_true(cpm_str_eq_cstr(c.content_type, "text/html"));
	assert_true(cpm_str_eq_cstr(c.content, "<b>hi</b>\n"));
	assert_true(cpm_str_istarts(c.mime, "Content-Type: text/html\n"));
	assert_int_equal(cpm_chat_cpim_parse(CPM_STR("From: x\r\n"), &c), CPM_EPARSE);
	assert_int_equal(cpm_chat_cpim_parse(CPM_STR("From: x\r\n\r\nX: y\r\n\r\nz"), &c),
			 CPM_EPARSE);
	assert_int_equal(cpm_chat_cpim_parse(CPM_STR(""), &c), CPM_EPARSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wrap_fanout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_and_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nicknames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iscomposing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow_drops_only_the_slow, setup, teardown),
		cmocka_unit_test(test_cpim_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
