/* chat: a room message that does not come from a participant's MSRP
 * session (a SIP MESSAGE to the room URI, chat_roommsg.c): it is wrapped
 * with the sender's identity (its reserved nickname too), reaches every
 * participant, goes to the history hook, and leaves no trace of the
 * sender in the room; a forged CPIM From and a private message to nobody
 * are refused as for a participant. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat/chat_int.h"

struct leg {
	unsigned n;
	char last[2048];
};

static int leg_send(void *arg, struct cpm_str ctype, struct cpm_str body)
{
	struct leg *l = arg;
	l->n++;
	snprintf(l->last, sizeof l->last, "%.*s", CPM_STR_FMT(body));
	return 0;
}

static const struct cpm_chat_leg_ops leg_ops = { leg_send };

static unsigned stored;
static char stored_sender[128];

static void on_message(void *arg, struct cpm_chat_room *r, const struct cpm_chat_room_msg *m)
{
	stored++;
	snprintf(stored_sender, sizeof stored_sender, "%s", m->sender);
}

static const struct cpm_chat_room_ops room_ops = { on_message, NULL };

static int64_t clock0(void)
{
	return 1700000000;
}

/* A CPIM message of dave's (not in session) with that To and content. */
static int dave_cpim(struct cpm_chat_room *r, const char *from, const char *to, const char *text)
{
	char body[512];
	snprintf(body, sizeof body, "From: <%s>\r\nTo: <%s>\r\n\r\nContent-Type: text/plain\r\n\r\n%s",
		 from, to, text);
	return cpm_chat__room_inject(r, NULL, "sip:dave@example.test", "", CPM_STR("message/cpim"),
				     cpm_str_from_cstr(body), CPM_STR_NULL);
}

static void test_inject(void **state)
{
	struct cpm_chat_room *r;
	assert_int_equal(cpm_chat_room_new("sip:club@example.test", &room_ops, NULL, &r), 0);
	cpm_chat_room_set_clock(r, clock0);
	assert_int_equal(cpm_chat_room_reserve(r, "sip:dave@example.test", "dd"), 0);
	struct leg a = { 0 }, b = { 0 };
	struct cpm_chat_member *ma, *mb;
	assert_int_equal(cpm_chat_room_join(r, "sip:alice@example.test", "Alice", &leg_ops, &a, &ma), 0);
	assert_int_equal(cpm_chat_room_join(r, "sip:bob@example.test", "", &leg_ops, &b, &mb), 0);
	cpm_chat_room_ready(ma);
	cpm_chat_room_ready(mb);

	/* dave, not in session, by pager mode: both get it, from "dd" */
	stored = 0;
	assert_int_equal(cpm_chat__room_inject(r, NULL, "sip:dave@example.test", "Dave",
					       CPM_STR("text/plain"), CPM_STR("by pager"),
					       CPM_STR_NULL),
			 200);
	assert_int_equal(a.n, 1);
	assert_int_equal(b.n, 1);
	assert_non_null(strstr(a.last, "From: \"dd\" <sip:dave@example.test>\r\n"));
	assert_non_null(strstr(a.last, "To: <sip:club@example.test>\r\n"));
	assert_non_null(strstr(a.last, "\r\n\r\nContent-Type: text/plain\r\n\r\nby pager"));
	assert_int_equal(stored, 1);
	assert_string_equal(stored_sender, "sip:dave@example.test");
	assert_int_equal(cpm_chat_room_count(r), 2); /* dave is not left in the room */

	/* a participant's message through the same door: not back to itself */
	assert_int_equal(cpm_chat__room_inject(r, ma, "sip:alice@example.test", "Alice",
					       CPM_STR("text/plain"), CPM_STR("mine"), CPM_STR_NULL),
			 200);
	assert_int_equal(a.n, 1);
	assert_int_equal(b.n, 2);

	/* dave claiming to be alice in CPIM: 403; private to nobody: 404 */
	assert_int_equal(dave_cpim(r, "sip:alice@example.test", "sip:club@example.test", "x"), 403);
	assert_int_equal(dave_cpim(r, "sip:dave@example.test", "sip:zed@example.test", "x"), 404);
	/* private to bob, from dave: bob only */
	assert_int_equal(dave_cpim(r, "sip:dave@example.test", "sip:bob@example.test", "for bob"),
			 200);
	assert_int_equal(a.n, 1);
	assert_int_equal(b.n, 3);
	assert_non_null(strstr(b.last, "for bob"));
	assert_int_equal(cpm_chat_room_count(r), 2);
	cpm_chat_room_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inject),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
