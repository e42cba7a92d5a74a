/* txn + net robustness: thousands of mutated requests and responses over
 * UDP and TCP must never crash (ASan/UBSan build), leak or wedge the
 * layer; the handler answers some of them to walk the state machines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "txn/txn.h"

struct env {
	uv_loop_t loop;
	uv_timer_t bound;
	bool timed_out;
	struct cpm_net *net;
	struct cpm_txn_layer *l;
	int reqs, acks, strays, bads, resps, unanswered_inv;
	unsigned seed;
};

static void bound_cb(uv_timer_t *t)
{
	struct env *e = t->data;
	e->timed_out = true;
}

static void run_for(struct env *e, unsigned ms)
{
	e->timed_out = false;
	uv_timer_start(&e->bound, bound_cb, ms, 0);
	while (!e->timed_out)
		uv_run(&e->loop, UV_RUN_ONCE);
}

static void on_request(void *arg, struct cpm_txn *st,
		       const struct cpm_sip_msg *req,
		       const struct cpm_net_dest *src)
{
	struct env *e = arg;
	if (!st) {
		e->acks++;
		return;
	}
	e->reqs++;
	static const int codes[] = { 0, 180, 200, 202, 404, 486, 500 };
	int c = codes[rand_r(&e->seed) % 7];
	if (req->method == CPM_SIP_CANCEL) {
		struct cpm_txn *inv = cpm_txn_cancel_target(st);
		if (inv && !cpm_txn_has_final(inv))
			cpm_txn_reply(inv, 487, NULL, "t", NULL, CPM_STR_NULL,
				      CPM_STR_NULL);
		c = 200;
	}
	if (!c && req->method == CPM_SIP_INVITE)
		e->unanswered_inv++;
	if (c)
		cpm_txn_reply(st, c, NULL, "t", "X-A: b\r\n", CPM_STR("text/plain"),
			      CPM_STR("hi"));
	if (c && c < 200)
		cpm_txn_reply(st, 603, NULL, "t", NULL, CPM_STR_NULL, CPM_STR_NULL);
}

static void on_stray(void *arg, const struct cpm_sip_msg *resp,
		     const struct cpm_net_dest *src)
{
	struct env *e = arg;
	e->strays++;
}

static void on_bad(void *arg, const struct cpm_sip_msg *m, int err,
		   const struct cpm_net_dest *src)
{
	struct env *e = arg;
	e->bads++;
}

static void on_resp(void *arg, struct cpm_txn *ct, const struct cpm_sip_msg *resp,
		    int status)
{
	struct env *e = arg;
	e->resps++;
}

static const struct cpm_txn_handler handler = {
	.request = on_request,
	.stray_response = on_stray,
	.bad_message = on_bad,
};

static const char *seeds[] = {
	"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKaaa;rport\r\n"
	"Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n"
	"To: <sip:bob@127.0.0.1>\r\nCall-ID: r1@x\r\nCSeq: 1 INVITE\r\n"
	"Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
	"ACK sip:bob@127.0.0.1 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKaaa\r\n"
	"Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n"
	"To: <sip:bob@127.0.0.1>;tag=t\r\nCall-ID: r1@x\r\nCSeq: 1 ACK\r\n"
	"Content-Length: 0\r\n\r\n",
	"CANCEL sip:bob@127.0.0.1 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKaaa\r\n"
	"Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n"
	"To: <sip:bob@127.0.0.1>\r\nCall-ID: r1@x\r\nCSeq: 1 CANCEL\r\n"
	"Content-Length: 0\r\n\r\n",
	"MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n"
	"v: SIP/2.0/UDP [::1]:9;branch=oldstyle;received=1.2.3.4, SIP/2.0/UDP h\r\n"
	"Max-Forwards: 70\r\nf: <sip:a@127.0.0.1>;tag=1\r\n"
	"t: <sip:bob@127.0.0.1>\r\ni: r2@x\r\nCSeq: 9 MESSAGE\r\n"
	"c: text/plain\r\nl: 2\r\n\r\nhi",
	"SIP/2.0 180 Ringing\r\n"
	"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKcli\r\n"
	"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>;tag=2\r\n"
	"Call-ID: r3@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
	"SIP/2.0 486 Busy Here\r\n"
	"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKcli\r\n"
	"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>;tag=2\r\n"
	"Call-ID: r3@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
};

static size_t mutate(struct env *e, const char *in, char *out, size_t outsz)
{
	size_t n = strlen(in);
	memcpy(out, in, n);
	int edits = 1 + rand_r(&e->seed) % 4;
	for (int i = 0; i < edits && n > 0; i++) {
		size_t at = (size_t)rand_r(&e->seed) % n;
		static const char pool[] = "\r\n:;,=<>\"[]@ \t0123456789zZ%\0\xff";
		switch (rand_r(&e->seed) % 4) {
		case 0: /* overwrite */
			out[at] = pool[rand_r(&e->seed) % (sizeof pool - 1)];
			break;
		case 1: /* delete */
			memmove(out + at, out + at + 1, n - at - 1);
			n--;
			break;
		case 2: /* insert */
			if (n + 1 < outsz) {
				memmove(out + at + 1, out + at, n - at);
				out[at] = pool[rand_r(&e->seed) % (sizeof pool - 1)];
				n++;
			}
			break;
		default: /* truncate */
			n = at;
			break;
		}
	}
	return n;
}

static void test_mutations(void **state)
{
	struct env *e = calloc(1, sizeof *e);
	e->seed = 4475;
	uv_loop_init(&e->loop);
	uv_timer_init(&e->loop, &e->bound);
	e->bound.data = e;
	assert_int_equal(cpm_net_new(&e->loop, NULL, &e->net), 0);
	assert_int_equal(cpm_net_listen(e->net, "udp:127.0.0.1:0,tcp:127.0.0.1:0"), 0);
	struct cpm_txn_conf tc;
	cpm_txn_conf_default(&tc);
	tc.t1_ms = 5;
	tc.t4_ms = 20;
	assert_int_equal(cpm_txn_layer_new(&e->loop, e->net, &tc, &handler, e, &e->l), 0);
	const struct cpm_net_listener *u = cpm_net_listener_find(e->net, CPM_NET_UDP, AF_INET);
	const struct cpm_net_listener *t = cpm_net_listener_find(e->net, CPM_NET_TCP, AF_INET);

	/* a client INVITE whose responses the mutations will hit */
	const char *inv = "INVITE sip:bob@127.0.0.1:9 SIP/2.0\r\n"
			  "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKcli\r\n"
			  "Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n"
			  "To: <sip:bob@127.0.0.1>\r\nCall-ID: r3@x\r\n"
			  "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
	struct cpm_net_dest d = { .proto = CPM_NET_UDP };
	cpm_net_addr_from_host(CPM_STR("127.0.0.1"), 9, &d.peer);
	assert_int_equal(cpm_txn_request(e->l, &d, inv, strlen(inv), on_resp, e, NULL), 0);

	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(u->port) };
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	char buf[4096];
	for (int round = 0; round < 40; round++) {
		for (int i = 0; i < 50; i++) {
			const char *s = seeds[rand_r(&e->seed) % (sizeof seeds / sizeof *seeds)];
			size_t n = rand_r(&e->seed) % 5 == 0 ? strlen(s)
							      : mutate(e, s, buf, sizeof buf);
			if (n == strlen(s))
				memcpy(buf, s, n);
			sendto(fd, buf, n, 0, (struct sockaddr *)&to, sizeof to);
		}
		run_for(e, 5);
	}
	/* and a TCP stream of mutated messages */
	for (int c = 0; c < 20; c++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in ta = to;
		ta.sin_port = htons(t->port);
		assert_int_equal(connect(s, (struct sockaddr *)&ta, sizeof ta), 0);
		for (int i = 0; i < 20; i++) {
			const char *m = seeds[rand_r(&e->seed) % (sizeof seeds / sizeof *seeds)];
			size_t n = mutate(e, m, buf, sizeof buf);
			send(s, buf, n, MSG_NOSIGNAL);
		}
		run_for(e, 5);
		close(s);
	}
	run_for(e, 50);
	close(fd);
	assert_true(e->reqs + e->acks + e->strays + e->bads > 100);
	/* everything times out: Timer H/J/L/B at 64*T1 = 320 ms, an
	 * unanswered non-INVITE at 128*T1; left: unanswered INVITEs (the TU
	 * owns them) and the client INVITE in Timer D (32 s), cut short by
	 * freeing the layer */
	run_for(e, 1000);
	assert_true(cpm_txn_layer_count(e->l) <= (unsigned)e->unanswered_inv + 1);
	cpm_txn_layer_free(e->l);
	cpm_net_free(e->net);
	uv_close((uv_handle_t *)&e->bound, NULL);
	while (uv_run(&e->loop, UV_RUN_NOWAIT))
		;
	assert_int_equal(uv_loop_close(&e->loop), 0);
	free(e);
}

int main(void)
{
	cpm_log_set_level(CPM_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mutations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
