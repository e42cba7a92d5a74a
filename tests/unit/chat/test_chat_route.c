/* chat: the relay's route table (sessions, peers by authority) and the
 * routing decision with its path rewriting (RFC 4976 §6, §7.3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat/chat.h"

#define RELAY "msrp://relay.example.test:2855"
#define ALICE "msrp://alice.example.test:7777/a1;tcp"
#define BOB "msrp://10.0.0.2:8888/b2;tcp"
#define NOW 1000000ull
#define LATER (NOW + 60000)

static struct cpm_str S(const char *s)
{
	return cpm_str_from_cstr(s);
}

static struct cpm_chat_table *table(size_t max)
{
	struct cpm_chat_table *t;
	assert_int_equal(cpm_chat_table_new("Relay.Example.Test", 2855, max, &t), 0);
	return t;
}

static void sess_uri(struct cpm_chat_table *t, struct cpm_chat_sess *s, char *out)
{
	assert_int_equal(cpm_chat_sess_uri(t, s, out, 256), 0);
}

static void route(struct cpm_chat_table *t, uint64_t src, enum cpm_msrp_method m,
		  const char *to, const char *from, struct cpm_chat_route *r)
{
	assert_int_equal(cpm_chat_route(t, src, m, S(to), S(from), NOW, r), 0);
}

static void test_self(void **state)
{
	(void)state;
	struct cpm_chat_table *t = table(10);
	assert_string_equal(cpm_chat_table_base(t), "msrp://relay.example.test:2855");
	struct cpm_msrp_uri u;
	const char *mine[] = { "msrp://relay.example.test:2855;tcp", "msrp://RELAY.example.TEST;tcp",
			       "msrp://relay.example.test:2855/abc;tcp" };
	for (size_t i = 0; i < sizeof mine / sizeof *mine; i++) {
		assert_int_equal(cpm_msrp_uri_parse(S(mine[i]), &u), 0);
		assert_true(cpm_chat_uri_is_self(t, &u));
	}
	const char *other[] = { "msrp://relay.example.test:2856;tcp", "msrps://relay.example.test:2855;tcp",
				"msrp://relay2.example.test:2855;tcp" };
	for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
		assert_int_equal(cpm_msrp_uri_parse(S(other[i]), &u), 0);
		assert_false(cpm_chat_uri_is_self(t, &u));
	}
	cpm_chat_table_free(t);
	/* an IPv6 literal gets brackets */
	assert_int_equal(cpm_chat_table_new("::1", 3000, 1, &t), 0);
	assert_string_equal(cpm_chat_table_base(t), "msrp://[::1]:3000");
	assert_int_equal(cpm_msrp_uri_parse(S("msrp://[::1]:3000/x;tcp"), &u), 0);
	assert_true(cpm_chat_uri_is_self(t, &u));
	cpm_chat_table_free(t);
	assert_int_equal(cpm_chat_table_new("", 1, 1, &t), CPM_EINVAL);
}

static void test_sessions(void **state)
{
	(void)state;
	struct cpm_chat_table *t = table(3);
	struct cpm_chat_sess *a, *b, *c, *x;
	assert_int_equal(cpm_chat_sess_add(t, 1, S(ALICE), "alice@example.test", LATER, &a), 0);
	assert_int_equal(strlen(a->id), CPM_CHAT_SID_LEN);
	for (size_t i = 0; i < CPM_CHAT_SID_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", a->id[i]));
	assert_int_equal(cpm_chat_sess_add(t, 2, S(BOB), "bob@example.test", LATER, &b), 0);
	assert_string_not_equal(a->id, b->id);
	assert_int_equal(cpm_chat_sess_add(t, 1, S(ALICE), "alice@example.test", NOW + 10, &c), 0);
	assert_int_equal(cpm_chat_sess_add(t, 1, S(ALICE), "alice@example.test", LATER, &x),
			 CPM_ELIMIT);
	assert_int_equal(cpm_chat_sess_count(t), 3);
	assert_ptr_equal(cpm_chat_sess_find(t, S(a->id), NOW), a);
	assert_string_equal(a->client_uri, ALICE);
	assert_string_equal(a->aor, "alice@example.test");
	assert_null(cpm_chat_sess_find(t, S("00000000000000000000"), NOW));
	assert_null(cpm_chat_sess_find(t, S("short"), NOW));
	char uri[256];
	sess_uri(t, a, uri);
	assert_true(strncmp(uri, RELAY "/", strlen(RELAY) + 1) == 0);
	assert_string_equal(uri + strlen(RELAY) + 1 + CPM_CHAT_SID_LEN, ";tcp");

	/* expiry: found until its time, then gone */
	char cid[CPM_CHAT_SID_LEN + 1];
	memcpy(cid, c->id, sizeof cid);
	assert_ptr_equal(cpm_chat_sess_find(t, S(cid), NOW + 9), c);
	assert_null(cpm_chat_sess_find(t, S(cid), NOW + 10));
	assert_int_equal(cpm_chat_sess_count(t), 2);
	assert_int_equal(cpm_chat_sess_add(t, 1, S(ALICE), "alice@example.test", NOW + 5, &c), 0);
	assert_int_equal(cpm_chat_sess_expire(t, NOW + 5), 1);
	assert_int_equal(cpm_chat_sess_expire(t, NOW + 5), 0);
	/* a closed connection takes its sessions along */
	assert_int_equal(cpm_chat_sess_drop_conn(t, 1), 1);
	assert_int_equal(cpm_chat_sess_count(t), 1);
	assert_ptr_equal(cpm_chat_sess_find(t, S(b->id), NOW), b);
	cpm_chat_sess_del(t, b);
	assert_int_equal(cpm_chat_sess_count(t), 0);

	/* many: the buckets grow, every one is still found */
	cpm_chat_table_free(t);
	t = table(5000);
	static char ids[1000][CPM_CHAT_SID_LEN + 1];
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(cpm_chat_sess_add(t, (uint64_t)i, S(ALICE), "a@b", LATER, &x), 0);
		memcpy(ids[i], x->id, sizeof ids[i]);
	}
	for (int i = 0; i < 1000; i++) {
		x = cpm_chat_sess_find(t, S(ids[i]), NOW);
		assert_non_null(x);
		assert_int_equal(x->conn_id, (uint64_t)i);
	}
	cpm_chat_table_free(t);
}

static void test_peers(void **state)
{
	(void)state;
	struct cpm_chat_table *t = table(1);
	struct cpm_msrp_uri u;
	char key[CPM_CHAT_KEY_MAX];
	assert_int_equal(cpm_msrp_uri_parse(S("msrp://Bob.Example.TEST/x;tcp"), &u), 0);
	assert_int_equal(cpm_chat_uri_key(&u, key, sizeof key), 0);
	assert_string_equal(key, "bob.example.test:2855");
	assert_int_equal(cpm_msrp_uri_parse(S("msrp://[2001:DB8::1]:9/x;tcp"), &u), 0);
	assert_int_equal(cpm_chat_uri_key(&u, key, sizeof key), 0);
	assert_string_equal(key, "[2001:db8::1]:9");
	assert_int_equal(cpm_chat_uri_key(&u, key, 8), CPM_ETOOBIG);

	assert_int_equal(cpm_chat_peer_find(t, "a:1"), 0);
	assert_int_equal(cpm_chat_peer_set(t, "a:1", 5, false), 0);
	assert_int_equal(cpm_chat_peer_set(t, "a:1", 6, false), 0);
	assert_int_equal(cpm_chat_peer_find(t, "a:1"), 5);
	assert_int_equal(cpm_chat_peer_set(t, "a:1", 6, true), 0);
	assert_int_equal(cpm_chat_peer_find(t, "a:1"), 6);
	cpm_chat_peer_del(t, "a:1", 5); /* not its connection: kept */
	assert_int_equal(cpm_chat_peer_find(t, "a:1"), 6);
	cpm_chat_peer_del(t, "a:1", 6);
	assert_int_equal(cpm_chat_peer_find(t, "a:1"), 0);
	char k[32];
	for (int i = 0; i < 500; i++) {
		snprintf(k, sizeof k, "h%d:%d", i, i);
		assert_int_equal(cpm_chat_peer_set(t, k, (uint64_t)i + 1, false), 0);
	}
	for (int i = 0; i < 500; i++) {
		snprintf(k, sizeof k, "h%d:%d", i, i);
		assert_int_equal(cpm_chat_peer_find(t, k), (uint64_t)i + 1);
	}
	cpm_chat_table_free(t);
}

struct two {
	struct cpm_chat_table *t;
	struct cpm_chat_sess *a, *b; /* alice on conn 1, bob on conn 2 */
	char ua[256], ub[256];
};

static void two(struct two *w)
{
	w->t = table(100);
	assert_int_equal(cpm_chat_sess_add(w->t, 1, S(ALICE), "alice@x", LATER, &w->a), 0);
	assert_int_equal(cpm_chat_sess_add(w->t, 2, S(BOB), "bob@x", LATER, &w->b), 0);
	sess_uri(w->t, w->a, w->ua);
	sess_uri(w->t, w->b, w->ub);
}

static void test_route_auth_and_errors(void **state)
{
	(void)state;
	struct two w;
	two(&w);
	struct cpm_chat_route r;
	char to[1024];

	route(w.t, 7, CPM_MSRP_AUTH, RELAY ";tcp", ALICE, &r);
	assert_int_equal(r.hop, CPM_CHAT_HOP_AUTH);
	cpm_chat_route_free(&r);
	/* an AUTH to a session URI (a refresh) is for us too */
	route(w.t, 1, CPM_MSRP_AUTH, w.ua, ALICE, &r);
	assert_int_equal(r.hop, CPM_CHAT_HOP_AUTH);
	cpm_chat_route_free(&r);

	struct {
		const char *to, *from;
		uint64_t src;
		int status;
	} cases[] = {
		{ RELAY "/00000000000000000000;tcp " BOB, ALICE, 1, 481 }, /* unknown session */
		{ "msrp://elsewhere.test:2855/x;tcp " BOB, ALICE, 1, 481 },  /* not for us */
		{ RELAY ";tcp " BOB, ALICE, 1, 481 },                        /* no session */
		{ w.ua, ALICE, 1, 481 },                                     /* ends at us */
		{ "", ALICE, 1, 400 },
		{ "msrp://bad uri", ALICE, 1, 400 },
		{ BOB, "", 1, 400 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		route(w.t, cases[i].src, CPM_MSRP_SEND, cases[i].to, cases[i].from, &r);
		if (r.hop != CPM_CHAT_HOP_ERROR || r.status != cases[i].status)
			fail_msg("case %zu: hop %d status %d", i, r.hop, r.status);
		assert_non_null(r.reason);
		cpm_chat_route_free(&r);
	}
	/* another client's session, to a third party: 403; from a stranger
	 * (conn 9) through alice's session to a third party: 403 */
	snprintf(to, sizeof to, "%s msrp://mallory.test:1/m;tcp", w.ub);
	route(w.t, 1, CPM_MSRP_SEND, to, ALICE, &r);
	assert_int_equal(r.status, 403);
	cpm_chat_route_free(&r);
	snprintf(to, sizeof to, "%s msrp://mallory.test:1/m;tcp", w.ua);
	route(w.t, 9, CPM_MSRP_SEND, to, "msrp://x.test:1/x;tcp", &r);
	assert_int_equal(r.status, 403);
	cpm_chat_route_free(&r);
	/* an expired session */
	snprintf(to, sizeof to, "%s %s", w.ua, BOB);
	w.a->expires_ms = NOW;
	route(w.t, 1, CPM_MSRP_SEND, to, ALICE, &r);
	assert_int_equal(r.status, 481);
	cpm_chat_route_free(&r);
	cpm_chat_table_free(w.t);
}

static void test_route_forward(void **state)
{
	(void)state;
	struct two w;
	two(&w);
	struct cpm_chat_route r;
	char to[1024], want[1024];

	/* outbound: alice (conn 1) to a remote endpoint; RFC 4976 §7.3: our
	 * URI leaves the To-Path and leads the From-Path */
	snprintf(to, sizeof to, "%s   msrp://remote.test:4000/r;tcp", w.ua);
	route(w.t, 1, CPM_MSRP_SEND, to, ALICE, &r);
	assert_int_equal(r.hop, CPM_CHAT_HOP_URI);
	assert_string_equal(r.key, "remote.test:4000");
	assert_string_equal(r.to.p, "msrp://remote.test:4000/r;tcp");
	snprintf(want, sizeof want, "%s %s", w.ua, ALICE);
	assert_string_equal(r.from.p, want);
	assert_int_equal(r.steps, 1);
	assert_ptr_equal(r.sess, w.a);
	assert_true(cpm_str_eq_cstr(r.next.host, "remote.test"));
	cpm_chat_route_free(&r);

	/* inbound: a remote peer (conn 9) to alice: on alice's connection */
	snprintf(to, sizeof to, "%s %s", w.ua, ALICE);
	route(w.t, 9, CPM_MSRP_SEND, to, "msrp://remote.test:4000/r;tcp", &r);
	assert_int_equal(r.hop, CPM_CHAT_HOP_CLIENT);
	assert_int_equal(r.conn_id, 1);
	assert_string_equal(r.to.p, ALICE);
	snprintf(want, sizeof want, "%s msrp://remote.test:4000/r;tcp", w.ua);
	assert_string_equal(r.from.p, want);
	cpm_chat_route_free(&r);

	/* both clients on this relay: crossed in place, to bob's connection */
	snprintf(to, sizeof to, "%s %s %s", w.ua, w.ub, BOB);
	route(w.t, 1, CPM_MSRP_SEND, to, ALICE, &r);
	assert_int_equal(r.hop, CPM_CHAT_HOP_CLIENT);
	assert_int_equal(r.conn_id, 2);
	assert_int_equal(r.steps, 2);
	assert_ptr_equal(r.sess, w.b);
	assert_string_equal(r.to.p, BOB);
	snprintf(want, sizeof want, "%s %s %s", w.ub, w.ua, ALICE);
	assert_string_equal(r.from.p, want);
	cpm_chat_route_free(&r);

	/* a REPORT of ours (src 0) back along that From-Path (without our
	 * last URI): through alice's session to her */
	snprintf(to, sizeof to, "%s %s", w.ua, ALICE);
	route(w.t, 0, CPM_MSRP_REPORT, to, w.ub, &r);
	assert_int_equal(r.hop, CPM_CHAT_HOP_CLIENT);
	assert_int_equal(r.conn_id, 1);
	assert_string_equal(r.to.p, ALICE);
	snprintf(want, sizeof want, "%s %s", w.ua, w.ub);
	assert_string_equal(r.from.p, want);
	cpm_chat_route_free(&r);
	/* one whose first hop is not ours goes there as it is */
	route(w.t, 0, CPM_MSRP_REPORT, "msrp://remote.test:4000/r;tcp", w.ua, &r);
	assert_int_equal(r.hop, CPM_CHAT_HOP_URI);
	assert_int_equal(r.steps, 0);
	assert_string_equal(r.to.p, "msrp://remote.test:4000/r;tcp");
	assert_string_equal(r.from.p, w.ua);
	cpm_chat_route_free(&r);

	/* an AUTH through alice's session to another relay is forwarded */
	snprintf(to, sizeof to, "%s msrp://relay2.test;tcp", w.ua);
	route(w.t, 1, CPM_MSRP_AUTH, to, ALICE, &r);
	assert_int_equal(r.hop, CPM_CHAT_HOP_URI);
	assert_string_equal(r.key, "relay2.test:2855");
	cpm_chat_route_free(&r);

	/* alice to herself through her session: her connection */
	snprintf(to, sizeof to, "%s %s", w.ua, ALICE);
	route(w.t, 1, CPM_MSRP_SEND, to, ALICE, &r);
	assert_int_equal(r.hop, CPM_CHAT_HOP_CLIENT);
	assert_int_equal(r.conn_id, 1);
	cpm_chat_route_free(&r);
	cpm_chat_table_free(w.t);
}

/* Local sessions (the server as endpoint): the To-Path ends there. */
static void test_route_local(void **state)
{
	(void)state;
	struct two w;
	two(&w);
	int owner;
	struct cpm_chat_sess *l;
	assert_int_equal(cpm_chat_sess_add_local(w.t, &owner, &l), 0);
	assert_int_equal(l->kind, CPM_CHAT_SESS_LOCAL);
	char ul[256], to[1024], want[1024];
	sess_uri(w.t, l, ul);
	struct cpm_chat_route r;

	/* straight from a peer on conn 7 */
	route(w.t, 7, CPM_MSRP_SEND, ul, "msrp://10.0.0.7:7777/p;tcp", &r);
	assert_int_equal(r.hop, CPM_CHAT_HOP_LOCAL);
	assert_ptr_equal(r.sess, l);
	assert_ptr_equal(r.sess->local, &owner);
	assert_string_equal(r.from.p, "msrp://10.0.0.7:7777/p;tcp");
	cpm_chat_route_free(&r);
	/* alice through her relay session: the From-Path the endpoint sees
	 * has our relay URI in front */
	snprintf(to, sizeof to, "%s %s", w.ua, ul);
	route(w.t, 1, CPM_MSRP_SEND, to, ALICE, &r);
	assert_int_equal(r.hop, CPM_CHAT_HOP_LOCAL);
	assert_ptr_equal(r.sess, l);
	snprintf(want, sizeof want, "%s %s", w.ua, ALICE);
	assert_string_equal(r.from.p, want);
	cpm_chat_route_free(&r);
	/* a path that goes on past a local session */
	snprintf(to, sizeof to, "%s %s", ul, BOB);
	route(w.t, 7, CPM_MSRP_SEND, to, ALICE, &r);
	assert_int_equal(r.hop, CPM_CHAT_HOP_ERROR);
	assert_int_equal(r.status, 481);
	cpm_chat_route_free(&r);

	/* local sessions neither expire nor go with a connection */
	assert_int_equal(cpm_chat_sess_drop_conn(w.t, 0), 0);
	assert_int_equal(cpm_chat_sess_expire(w.t, UINT64_MAX - 1), 2); /* the relay ones */
	assert_ptr_equal(cpm_chat_sess_find(w.t, (struct cpm_str){ l->id, CPM_CHAT_SID_LEN },
					    UINT64_MAX - 1), l);
	assert_int_equal(cpm_chat_sess_count(w.t), 1);
	cpm_chat_sess_del(w.t, l);
	assert_int_equal(cpm_chat_sess_count(w.t), 0);
	cpm_chat_table_free(w.t);
}

static void test_route_hops(void **state)
{
	(void)state;
	struct cpm_chat_table *t = table(100);
	struct cpm_chat_sess *s;
	struct cpm_buf to;
	cpm_buf_init(&to, 1 << 20);
	/* CPM_CHAT_MAX_HOPS of our URIs in a row are crossed, one more is a
	 * loop (400) */
	for (int i = 0; i <= CPM_CHAT_MAX_HOPS; i++) {
		char u[256];
		assert_int_equal(cpm_chat_sess_add(t, 1, S(ALICE), "a@x", LATER, &s), 0);
		sess_uri(t, s, u);
		cpm_buf_printf(&to, "%s ", u);
		struct cpm_buf full;
		cpm_buf_init(&full, 1 << 20);
		cpm_buf_printf(&full, "%s%s", to.p, BOB);
		struct cpm_chat_route r;
		route(t, 1, CPM_MSRP_SEND, full.p, ALICE, &r);
		if (i + 1 <= CPM_CHAT_MAX_HOPS) {
			assert_int_equal(r.hop, CPM_CHAT_HOP_URI);
			assert_int_equal(r.steps, (unsigned)i + 1);
			assert_string_equal(r.to.p, BOB);
		} else {
			assert_int_equal(r.hop, CPM_CHAT_HOP_ERROR);
			assert_int_equal(r.status, 400);
		}
		cpm_chat_route_free(&r);
		cpm_buf_free(&full);
	}
	cpm_buf_free(&to);
	cpm_chat_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_peers),
		cmocka_unit_test(test_route_auth_and_errors),
		cmocka_unit_test(test_route_forward),
		cmocka_unit_test(test_route_hops),
		cmocka_unit_test(test_route_local),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
