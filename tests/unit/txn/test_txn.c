/* txn: server and client transactions against a raw UDP/TCP peer on
 * 127.0.0.1 with a small T1, the loop bounded by a timer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "txn/txn.h"

#define T1 20
#define MAXREQ 8

static unsigned g_max_txns; /* 0 = default */

struct env {
	uv_loop_t loop;
	uv_timer_t bound;
	bool timed_out;
	struct cpm_net *net;
	struct cpm_txn_layer *l;
	const struct cpm_net_listener *udp, *tcp;
	int fd;         /* raw UDP peer */
	uint16_t fport;
	/* server side records */
	int nreq;
	struct cpm_txn *st[MAXREQ];
	enum cpm_sip_method meth[MAXREQ];
	struct cpm_txn *cancel_target;
	int acks;       /* ACKs handed to the TU */
	int strays, bads, bad_status;
	int gone;
	struct cpm_net_dest last_src;
	/* what the request handler answers at once (0 = nothing) */
	int auto_status;
	/* client side records */
	int ncb;
	int cb_status[16];
	bool cb_null[16];
};

static void bound_cb(uv_timer_t *t)
{
	struct env *e = t->data;
	e->timed_out = true;
}

static void run_until(struct env *e, int *counter, int want, unsigned ms)
{
	e->timed_out = false;
	uv_timer_start(&e->bound, bound_cb, ms, 0);
	while (!e->timed_out && (!counter || *counter < want))
		uv_run(&e->loop, UV_RUN_ONCE);
	uv_timer_stop(&e->bound);
}

static void on_gone(void *owner, struct cpm_txn *t)
{
	struct env *e = owner;
	e->gone++;
}

static void on_request(void *arg, struct cpm_txn *st,
		       const struct cpm_sip_msg *req,
		       const struct cpm_net_dest *src)
{
	struct env *e = arg;
	if (!st) {
		assert_int_equal(req->method, CPM_SIP_ACK);
		e->acks++;
		return;
	}
	assert_ptr_equal(cpm_txn_req(st), req);
	assert_ptr_equal(cpm_txn_src(st), src);
	if (e->nreq < MAXREQ) {
		e->st[e->nreq] = st;
		e->meth[e->nreq] = req->method;
	}
	e->nreq++;
	cpm_txn_set_owner(st, e, on_gone);
	e->last_src = *src;
	if (req->method == CPM_SIP_CANCEL)
		e->cancel_target = cpm_txn_cancel_target(st);
	if (e->auto_status)
		assert_int_equal(cpm_txn_reply(st, e->auto_status, NULL, "srvtag",
					       NULL, CPM_STR_NULL, CPM_STR_NULL),
				 0);
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
	e->bad_status = m->err_status;
}

static const struct cpm_txn_handler handler = {
	.request = on_request,
	.stray_response = on_stray,
	.bad_message = on_bad,
};

static void on_resp(void *arg, struct cpm_txn *ct, const struct cpm_sip_msg *resp,
		    int status)
{
	struct env *e = arg;
	if (resp)
		assert_int_equal(resp->status, status);
	if (e->ncb < 16) {
		e->cb_status[e->ncb] = status;
		e->cb_null[e->ncb] = resp == NULL;
	}
	e->ncb++;
}

static struct sockaddr_in lo(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof *e);
	assert_non_null(e);
	assert_int_equal(uv_loop_init(&e->loop), 0);
	uv_timer_init(&e->loop, &e->bound);
	e->bound.data = e;
	struct cpm_net_conf nc;
	cpm_net_conf_default(&nc);
	assert_int_equal(cpm_net_new(&e->loop, &nc, &e->net), 0);
	assert_int_equal(cpm_net_listen(e->net, "udp:127.0.0.1:0,tcp:127.0.0.1:0"), 0);
	e->udp = cpm_net_listener_find(e->net, CPM_NET_UDP, AF_INET);
	e->tcp = cpm_net_listener_find(e->net, CPM_NET_TCP, AF_INET);
	struct cpm_txn_conf tc;
	cpm_txn_conf_default(&tc);
	tc.t1_ms = T1;
	tc.t2_ms = 8 * T1;
	tc.t4_ms = 100;
	if (g_max_txns)
		tc.max_txns = g_max_txns;
	assert_int_equal(cpm_txn_layer_new(&e->loop, e->net, &tc, &handler, e, &e->l), 0);
	e->fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = lo(0);
	assert_int_equal(bind(e->fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t al = sizeof a;
	getsockname(e->fd, (struct sockaddr *)&a, &al);
	e->fport = ntohs(a.sin_port);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	cpm_txn_layer_free(e->l);
	cpm_net_free(e->net);
	uv_close((uv_handle_t *)&e->bound, NULL);
	int guard = 0;
	while (uv_run(&e->loop, UV_RUN_NOWAIT) && guard++ < 1000)
		;
	assert_int_equal(uv_loop_close(&e->loop), 0);
	close(e->fd);
	free(e);
	return 0;
}

static void peer_send(struct env *e, const char *msg)
{
	struct sockaddr_in to = lo(e->udp->port);
	size_t n = strlen(msg);
	assert_int_equal(sendto(e->fd, msg, n, 0, (struct sockaddr *)&to, sizeof to),
			 (ssize_t)n);
}

/* Next datagram to the peer within ms (the loop runs meanwhile); NUL
 * terminated into buf; false if none. */
static bool peer_recv(struct env *e, char *buf, size_t sz, unsigned ms)
{
	for (unsigned w = 0;; w += 5) {
		ssize_t n = recv(e->fd, buf, sz - 1, MSG_DONTWAIT);
		if (n >= 0) {
			buf[n] = '\0';
			return true;
		}
		if (w >= ms)
			return false;
		run_until(e, NULL, 0, 5);
	}
}

/* Count datagrams starting with prefix arriving within ms. */
static int peer_count(struct env *e, const char *prefix, unsigned ms)
{
	char buf[4096];
	int n = 0;
	run_until(e, NULL, 0, ms);
	while (recv(e->fd, buf, sizeof buf - 1, MSG_DONTWAIT) > 0)
		if (strncmp(buf, prefix, strlen(prefix)) == 0)
			n++;
	return n;
}

static void drain(struct env *e)
{
	char buf[4096];
	while (recv(e->fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
		;
}

static char *mkreq(char *out, size_t sz, const char *method, uint16_t vport,
		   const char *branch, const char *cseq_method, const char *to_tag,
		   const char *via_extra)
{
	snprintf(out, sz,
		 "%s sip:bob@127.0.0.1 SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=%s%s\r\n"
		 "Max-Forwards: 70\r\n"
		 "From: \"Alice\" <sip:alice@127.0.0.1>;tag=ft1\r\n"
		 "To: <sip:bob@127.0.0.1>%s%s\r\n"
		 "Call-ID: call-%s@test\r\n"
		 "CSeq: 7 %s\r\n"
		 "Content-Length: 0\r\n\r\n",
		 method, (unsigned)vport, branch, via_extra ? via_extra : "",
		 to_tag ? ";tag=" : "", to_tag ? to_tag : "", branch,
		 cseq_method ? cseq_method : method);
	return out;
}

/* ---------------------------------------------------------- server side */

static void test_server_noninvite_retrans(void **state)
{
	struct env *e = *state;
	char req[2048], buf[4096];
	/* sent-by is not the source: received is added; rport filled in */
	snprintf(req, sizeof req,
		 "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 10.9.9.9:1234;branch=z9hG4bKsrv1;rport\r\n"
		 "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKold\r\n"
		 "From: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>\r\n"
		 "Call-ID: nonInv@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
	peer_send(e, req);
	run_until(e, &e->nreq, 1, 1000);
	assert_int_equal(e->nreq, 1);
	struct cpm_txn *st = e->st[0];
	assert_int_equal(cpm_txn_layer_count(e->l), 1);
	const struct cpm_sip_msg *r = cpm_txn_req(st);
	char rport[32];
	snprintf(rport, sizeof rport, "%u", (unsigned)e->fport);
	assert_true(cpm_str_eq_cstr(r->via.received, "127.0.0.1"));
	assert_true(cpm_str_eq_cstr(r->via.rport, rport));
	assert_true(cpm_str_eq_cstr(r->via.branch, "z9hG4bKsrv1"));
	/* retransmission in Trying: absorbed, nothing sent */
	peer_send(e, req);
	assert_false(peer_recv(e, buf, sizeof buf, 50));
	assert_int_equal(e->nreq, 1);
	assert_false(cpm_txn_has_final(st));
	/* the answer goes to the source port (rport) */
	assert_int_equal(cpm_txn_reply(st, 200, NULL, "tt", "X-Test: 1\r\n",
				       CPM_STR_NULL, CPM_STR_NULL), 0);
	assert_true(cpm_txn_has_final(st));
	assert_int_equal(cpm_txn_reply(st, 200, NULL, NULL, NULL, CPM_STR_NULL,
				       CPM_STR_NULL), CPM_ESTATE);
	assert_true(peer_recv(e, buf, sizeof buf, 500));
	assert_true(strncmp(buf, "SIP/2.0 200", 11) == 0);
	assert_non_null(strstr(buf, "X-Test: 1\r\n"));
	assert_non_null(strstr(buf, ";received=127.0.0.1"));
	assert_non_null(strstr(buf, "rport="));
	assert_non_null(strstr(buf, "tag=tt"));
	/* Completed: the retransmission gets the same response, TU not told */
	peer_send(e, req);
	char buf2[4096];
	assert_true(peer_recv(e, buf2, sizeof buf2, 500));
	assert_string_equal(buf, buf2);
	assert_int_equal(e->nreq, 1);
	/* the request is still there after the loop turned (parsed again
	 * after the layer dropped its parsed copy) */
	r = cpm_txn_req(st);
	assert_non_null(r);
	assert_true(cpm_str_eq_cstr(r->call_id, "nonInv@test"));
	assert_true(cpm_str_eq_cstr(r->via.rport, rport));
	/* Timer J = 64*T1 */
	assert_int_equal(e->gone, 0);
	run_until(e, &e->gone, 1, 64 * T1 + 1000);
	assert_int_equal(e->gone, 1);
	assert_int_equal(cpm_txn_layer_count(e->l), 0);
	/* after J the same request is a new transaction */
	peer_send(e, req);
	run_until(e, &e->nreq, 2, 1000);
	assert_int_equal(e->nreq, 2);
}

static void test_server_invite_486(void **state)
{
	struct env *e = *state;
	char req[2048], buf[4096];
	mkreq(req, sizeof req, "INVITE", e->fport, "z9hG4bKinv1", NULL, NULL, NULL);
	peer_send(e, req);
	/* 100 Trying from the layer, before the TU says anything */
	assert_true(peer_recv(e, buf, sizeof buf, 1000));
	assert_true(strncmp(buf, "SIP/2.0 100", 11) == 0);
	assert_null(strstr(buf, "tag=srv"));
	assert_int_equal(e->nreq, 1);
	struct cpm_txn *st = e->st[0];
	/* retransmitted INVITE: the 100 again */
	peer_send(e, req);
	assert_true(peer_recv(e, buf, sizeof buf, 500));
	assert_true(strncmp(buf, "SIP/2.0 100", 11) == 0);
	assert_int_equal(cpm_txn_reply(st, 180, NULL, "srvtag", NULL,
				       CPM_STR_NULL, CPM_STR_NULL), 0);
	assert_true(peer_recv(e, buf, sizeof buf, 500));
	assert_true(strncmp(buf, "SIP/2.0 180", 11) == 0);
	assert_int_equal(cpm_txn_reply(st, 486, NULL, "srvtag", NULL,
				       CPM_STR_NULL, CPM_STR_NULL), 0);
	assert_true(peer_recv(e, buf, sizeof buf, 500));
	assert_true(strncmp(buf, "SIP/2.0 486", 11) == 0);
	assert_non_null(strstr(buf, "tag=srvtag"));
	/* Timer G: 486 again at T1, 2T1, 4T1, ... */
	int n = peer_count(e, "SIP/2.0 486", 16 * T1);
	assert_true(n >= 2);
	/* a retransmitted INVITE also gets the 486 */
	peer_send(e, req);
	assert_true(peer_recv(e, buf, sizeof buf, 500));
	assert_true(strncmp(buf, "SIP/2.0 486", 11) == 0);
	/* ACK (same branch, To tag of the 486): absorbed, no more 486 */
	char ack[2048];
	mkreq(ack, sizeof ack, "ACK", e->fport, "z9hG4bKinv1", NULL, "srvtag", NULL);
	peer_send(e, ack);
	run_until(e, NULL, 0, 20);
	drain(e);
	assert_int_equal(peer_count(e, "SIP/2.0 486", 12 * T1), 0);
	assert_int_equal(e->acks, 0);
	assert_int_equal(e->nreq, 1);
	/* Timer I (T4) ends it */
	run_until(e, &e->gone, 1, 1000);
	assert_int_equal(e->gone, 1);
	assert_int_equal(cpm_txn_layer_count(e->l), 0);
}

static void test_server_invite_no_ack_timer_h(void **state)
{
	struct env *e = *state;
	char req[2048];
	e->auto_status = 603;
	mkreq(req, sizeof req, "INVITE", e->fport, "z9hG4bKinvH", NULL, NULL, NULL);
	peer_send(e, req);
	run_until(e, &e->nreq, 1, 1000);
	/* 100 + 603 + retransmissions until Timer H (64*T1) */
	int n = peer_count(e, "SIP/2.0 603", 64 * T1 + 1000);
	/* G at 1,2,4,8,8,8.. T1 (T2 = 8 T1) until 64 T1: 1+~9 */
	assert_true(n >= 6);
	assert_int_equal(e->gone, 1);
	assert_int_equal(peer_count(e, "SIP/2.0 603", 4 * T1), 0);
}

static void test_server_invite_2xx_accepted(void **state)
{
	struct env *e = *state;
	char req[2048], buf[4096];
	mkreq(req, sizeof req, "INVITE", e->fport, "z9hG4bKinv2", NULL, NULL, NULL);
	peer_send(e, req);
	run_until(e, &e->nreq, 1, 1000);
	assert_true(peer_recv(e, buf, sizeof buf, 500)); /* 100 */
	struct cpm_txn *st = e->st[0];
	assert_int_equal(cpm_txn_reply(st, 200, NULL, "t2", NULL,
				       CPM_STR("application/sdp"), CPM_STR("v=0\r\n")), 0);
	assert_true(peer_recv(e, buf, sizeof buf, 500));
	assert_true(strncmp(buf, "SIP/2.0 200", 11) == 0);
	assert_non_null(strstr(buf, "\r\n\r\nv=0\r\n"));
	/* RFC 6026 Accepted: no 2xx retransmission by the layer, INVITE
	 * retransmissions absorbed (not to the TU, not answered) */
	peer_send(e, req);
	assert_int_equal(peer_count(e, "SIP/2.0", 6 * T1), 0);
	assert_int_equal(e->nreq, 1);
	/* the TU (a proxy relaying a 2xx retransmission) may still send */
	assert_int_equal(cpm_txn_reply(st, 200, NULL, "t2", NULL, CPM_STR_NULL,
				       CPM_STR_NULL), 0);
	assert_true(peer_recv(e, buf, sizeof buf, 500));
	/* but nothing else */
	assert_int_equal(cpm_txn_reply(st, 486, NULL, NULL, NULL, CPM_STR_NULL,
				       CPM_STR_NULL), CPM_ESTATE);
	/* the ACK for the 2xx has its own branch: to the TU, st NULL */
	char ack[2048];
	mkreq(ack, sizeof ack, "ACK", e->fport, "z9hG4bKack2", NULL, "t2", NULL);
	peer_send(e, ack);
	run_until(e, &e->acks, 1, 1000);
	assert_int_equal(e->acks, 1);
	/* Timer L */
	run_until(e, &e->gone, 1, 64 * T1 + 1000);
	assert_int_equal(e->gone, 1);
}

static void test_server_cancel_matching(void **state)
{
	struct env *e = *state;
	char req[2048], buf[4096];
	mkreq(req, sizeof req, "INVITE", e->fport, "z9hG4bKinv3", NULL, NULL, NULL);
	peer_send(e, req);
	run_until(e, &e->nreq, 1, 1000);
	struct cpm_txn *inv = e->st[0];
	drain(e);
	/* a CANCEL for another branch matches nothing */
	char can[2048];
	mkreq(can, sizeof can, "CANCEL", e->fport, "z9hG4bKother", NULL, NULL, NULL);
	peer_send(e, can);
	run_until(e, &e->nreq, 2, 1000);
	assert_int_equal(e->nreq, 2);
	assert_int_equal(e->meth[1], CPM_SIP_CANCEL);
	assert_null(e->cancel_target);
	assert_int_equal(cpm_txn_reply(e->st[1], 481, NULL, "x", NULL,
				       CPM_STR_NULL, CPM_STR_NULL), 0);
	/* same branch, its own transaction, the INVITE as target */
	mkreq(can, sizeof can, "CANCEL", e->fport, "z9hG4bKinv3", NULL, NULL, NULL);
	peer_send(e, can);
	run_until(e, &e->nreq, 3, 1000);
	assert_int_equal(e->nreq, 3);
	assert_ptr_not_equal(e->st[2], inv);
	assert_ptr_equal(e->cancel_target, inv);
	assert_ptr_equal(cpm_txn_cancel_target(e->st[2]), inv);
	/* the layer did not answer the CANCEL itself */
	drain(e);
	assert_int_equal(peer_count(e, "SIP/2.0 200", 30), 0);
	assert_int_equal(cpm_txn_reply(e->st[2], 200, NULL, "c", NULL,
				       CPM_STR_NULL, CPM_STR_NULL), 0);
	assert_int_equal(cpm_txn_reply(inv, 487, NULL, "c", NULL,
				       CPM_STR_NULL, CPM_STR_NULL), 0);
	int got200 = 0, got487 = 0;
	while (peer_recv(e, buf, sizeof buf, 100)) {
		if (strncmp(buf, "SIP/2.0 200", 11) == 0 && strstr(buf, "CANCEL"))
			got200++;
		if (strncmp(buf, "SIP/2.0 487", 11) == 0 && strstr(buf, "INVITE"))
			got487++;
		if (got200 && got487)
			break;
	}
	assert_int_equal(got200, 1);
	assert_true(got487 >= 1);
	/* a CANCEL with a different sent-by does not match (§17.2.3) */
	mkreq(can, sizeof can, "CANCEL", e->fport + 1, "z9hG4bKinv3", NULL, NULL, NULL);
	peer_send(e, can);
	run_until(e, &e->nreq, 4, 1000);
	assert_null(e->cancel_target);
}

static void test_server_rfc2543_matching(void **state)
{
	struct env *e = *state;
	char req[2048], buf[4096];
	/* no magic cookie: RFC 2543 matching */
	mkreq(req, sizeof req, "INVITE", e->fport, "old2543", NULL, NULL, NULL);
	peer_send(e, req);
	run_until(e, &e->nreq, 1, 1000);
	assert_int_equal(e->nreq, 1);
	peer_send(e, req); /* retransmission: absorbed */
	run_until(e, NULL, 0, 30);
	assert_int_equal(e->nreq, 1);
	/* a CANCEL matches the INVITE */
	char can[2048];
	mkreq(can, sizeof can, "CANCEL", e->fport, "old2543", NULL, NULL, NULL);
	peer_send(e, can);
	run_until(e, &e->nreq, 2, 1000);
	assert_ptr_equal(e->cancel_target, e->st[0]);
	/* but not with another Call-ID */
	char can2[2048];
	mkreq(can2, sizeof can2, "CANCEL", e->fport, "old2543x", NULL, NULL, NULL);
	peer_send(e, can2);
	run_until(e, &e->nreq, 3, 1000);
	assert_null(e->cancel_target);
	assert_int_equal(cpm_txn_reply(e->st[0], 404, NULL, "n", NULL,
				       CPM_STR_NULL, CPM_STR_NULL), 0);
	/* ACK with the To tag of the 404 matches */
	char ack[2048];
	mkreq(ack, sizeof ack, "ACK", e->fport, "old2543", NULL, "n", NULL);
	peer_send(e, ack);
	run_until(e, NULL, 0, 20);
	drain(e);
	assert_int_equal(peer_count(e, "SIP/2.0 404", 4 * T1), 0);
	assert_int_equal(e->acks, 0);
	(void)buf;
}

static void test_server_response_via_port(void **state)
{
	/* §18.2.2: without rport a UDP response goes to the source IP and
	 * the sent-by port, not the source port */
	struct env *e = *state;
	int other = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = lo(0);
	assert_int_equal(bind(other, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t al = sizeof a;
	getsockname(other, (struct sockaddr *)&a, &al);
	char req[2048], buf[4096];
	e->auto_status = 200;
	mkreq(req, sizeof req, "OPTIONS", ntohs(a.sin_port), "z9hG4bKvp", NULL, NULL, NULL);
	peer_send(e, req);
	run_until(e, &e->nreq, 1, 1000);
	assert_int_equal(e->nreq, 1);
	assert_false(peer_recv(e, buf, sizeof buf, 30));
	ssize_t n = recv(other, buf, sizeof buf - 1, MSG_DONTWAIT);
	assert_true(n > 11);
	assert_true(strncmp(buf, "SIP/2.0 200", 11) == 0);
	close(other);
}

static void test_server_limit_503(void **state)
{
	struct env *e = *state;
	char req[2048], buf[4096];
	mkreq(req, sizeof req, "OPTIONS", e->fport, "z9hG4bKlim1", NULL, NULL, NULL);
	peer_send(e, req);
	run_until(e, &e->nreq, 1, 1000);
	mkreq(req, sizeof req, "OPTIONS", e->fport, "z9hG4bKlim2", NULL, NULL, NULL);
	peer_send(e, req);
	assert_true(peer_recv(e, buf, sizeof buf, 1000));
	assert_true(strncmp(buf, "SIP/2.0 503", 11) == 0);
	assert_non_null(strstr(buf, "z9hG4bKlim2"));
	assert_int_equal(e->nreq, 1);
	assert_int_equal(cpm_txn_layer_count(e->l), 1);
}

static int setup_limit(void **state)
{
	g_max_txns = 1;
	int rc = setup(state);
	g_max_txns = 0;
	return rc;
}

static void count_conn(void *arg, uint64_t id, bool up)
{
	int *downs = arg;
	if (!up)
		(*downs)++;
}

static void test_server_tcp_response_reconnect(void **state)
{
	/* §18.2.2: the connection is gone, so the response goes over a new
	 * connection to the source IP and the sent-by port */
	struct env *e = *state;
	int downs = 0;
	cpm_txn_layer_set_conn_cb(e->l, count_conn, &downs);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = lo(0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(lfd, 4), 0);
	socklen_t al = sizeof a;
	getsockname(lfd, (struct sockaddr *)&a, &al);
	int cfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in srv = lo(e->tcp->port);
	assert_int_equal(connect(cfd, (struct sockaddr *)&srv, sizeof srv), 0);
	char req[2048];
	int n = snprintf(req, sizeof req,
			 "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
			 "Via: SIP/2.0/TCP 127.0.0.1:%u;branch=z9hG4bKtcp1\r\n"
			 "Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n"
			 "To: <sip:bob@127.0.0.1>\r\nCall-ID: tcp-re\r\n"
			 "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
			 (unsigned)ntohs(a.sin_port));
	send(cfd, req, (size_t)n, 0);
	run_until(e, &e->nreq, 1, 1000);
	assert_int_equal(e->nreq, 1);
	close(cfd);
	run_until(e, &downs, 1, 1000);
	assert_int_equal(downs, 1);
	assert_int_equal(cpm_txn_reply(e->st[0], 200, NULL, "x", NULL,
				       CPM_STR_NULL, CPM_STR_NULL), 0);
	int afd = -1;
	fcntl(lfd, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 100 && afd < 0; i++) {
		run_until(e, NULL, 0, 10);
		afd = accept(lfd, NULL, NULL);
	}
	assert_true(afd >= 0);
	char buf[4096];
	ssize_t got = -1;
	for (int i = 0; i < 100 && got <= 0; i++) {
		got = recv(afd, buf, sizeof buf - 1, MSG_DONTWAIT);
		if (got <= 0)
			run_until(e, NULL, 0, 10);
	}
	assert_true(got > 11);
	assert_true(strncmp(buf, "SIP/2.0 200", 11) == 0);
	close(afd);
	close(lfd);
}

static void test_bad_message(void **state)
{
	struct env *e = *state;
	peer_send(e, "this is not SIP\r\n\r\n");
	run_until(e, &e->bads, 1, 1000);
	assert_int_equal(e->bads, 1);
	assert_int_equal(e->nreq, 0);
	/* a request without Call-ID: 400 to send */
	peer_send(e, "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKb\r\n"
		     "From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCSeq: 1 OPTIONS\r\n"
		     "Content-Length: 0\r\n\r\n");
	run_until(e, &e->bads, 2, 1000);
	assert_int_equal(e->bads, 2);
	assert_int_equal(e->bad_status, 400);
}

/* ----------------------------------------------------------- client side */

static struct cpm_net_dest peer_dest(struct env *e)
{
	struct cpm_net_dest d = { .proto = CPM_NET_UDP };
	d.peer.u.in = lo(e->fport);
	d.peer.len = sizeof d.peer.u.in;
	return d;
}

/* Build a response to the request in req (as received by the peer). */
static void peer_reply(struct env *e, const char *req, int status,
		       const char *to_tag)
{
	struct cpm_sip_msg *m = calloc(1, sizeof *m);
	struct cpm_sip_limits lim;
	cpm_sip_limits_default(&lim);
	assert_int_equal(cpm_sip_msg_parse(m, req, strlen(req), CPM_SIP_DATAGRAM, &lim), 0);
	struct cpm_buf b;
	cpm_buf_init(&b, 65536);
	assert_int_equal(cpm_sip_print_response_start(&b, m, status, NULL, to_tag), 0);
	assert_int_equal(cpm_sip_print_body(&b, CPM_STR_NULL, CPM_STR_NULL), 0);
	peer_send(e, b.p);
	cpm_buf_free(&b);
	free(m);
}

static size_t client_req(struct env *e, char *out, size_t sz, const char *method,
			 char branch[CPM_TXN_BRANCH_MAX])
{
	cpm_txn_branch_new(branch);
	int n = snprintf(out, sz,
			 "%s sip:bob@127.0.0.1:%u SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP %s:%u;branch=%s;rport\r\n"
			 "Max-Forwards: 70\r\n"
			 "Route: <sip:proxy@127.0.0.1;lr>\r\n"
			 "From: <sip:alice@127.0.0.1>;tag=cli\r\n"
			 "To: <sip:bob@127.0.0.1>\r\n"
			 "Call-ID: %s@client\r\n"
			 "CSeq: 42 %s\r\n"
			 "Content-Length: 0\r\n\r\n",
			 method, (unsigned)e->fport, e->udp->host, e->udp->port,
			 branch, branch, method);
	return (size_t)n;
}

static void test_client_timer_f_408(void **state)
{
	struct env *e = *state;
	char req[2048], branch[CPM_TXN_BRANCH_MAX], buf[4096];
	size_t n = client_req(e, req, sizeof req, "MESSAGE", branch);
	assert_int_equal(strncmp(branch, "z9hG4bK", 7), 0);
	assert_true(strlen(branch) > 20);
	struct cpm_net_dest d = peer_dest(e);
	struct cpm_txn *ct = NULL;
	assert_int_equal(cpm_txn_request(e->l, &d, req, n, on_resp, e, &ct), 0);
	assert_non_null(ct);
	/* the same branch again is refused */
	assert_int_equal(cpm_txn_request(e->l, &d, req, n, on_resp, e, NULL), CPM_EEXIST);
	assert_true(peer_recv(e, buf, sizeof buf, 500));
	assert_string_equal(buf, req);
	/* Timer E retransmissions, then Timer F (64*T1) → 408 */
	run_until(e, &e->ncb, 1, 64 * T1 + 1000);
	assert_int_equal(e->ncb, 1);
	assert_int_equal(e->cb_status[0], 408);
	assert_true(e->cb_null[0]);
	int retrans = 0;
	while (recv(e->fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
		retrans++;
	/* E: 1,2,4,8,8,.. T1 (T2 = 8 T1) within 64 T1: ≥ 6 */
	assert_true(retrans >= 6);
	assert_int_equal(cpm_txn_layer_count(e->l), 0);
	/* a response now is stray */
	peer_reply(e, req, 200, "x");
	run_until(e, &e->strays, 1, 1000);
	assert_int_equal(e->strays, 1);
}

static void test_client_noninvite_200(void **state)
{
	struct env *e = *state;
	char req[2048], branch[CPM_TXN_BRANCH_MAX], buf[4096];
	size_t n = client_req(e, req, sizeof req, "OPTIONS", branch);
	struct cpm_net_dest d = peer_dest(e);
	assert_int_equal(cpm_txn_request(e->l, &d, req, n, on_resp, e, NULL), 0);
	assert_true(peer_recv(e, buf, sizeof buf, 500));
	peer_reply(e, buf, 100, NULL);
	run_until(e, &e->ncb, 1, 1000);
	peer_reply(e, buf, 200, "s");
	run_until(e, &e->ncb, 2, 1000);
	assert_int_equal(e->ncb, 2);
	assert_int_equal(e->cb_status[0], 100);
	assert_int_equal(e->cb_status[1], 200);
	/* Completed (Timer K): a retransmitted 200 is absorbed */
	peer_reply(e, buf, 200, "s");
	run_until(e, NULL, 0, 30);
	assert_int_equal(e->ncb, 2);
	assert_int_equal(e->strays, 0);
	/* no more retransmissions of the request after the final */
	drain(e);
	assert_int_equal(peer_count(e, "OPTIONS", 10 * T1), 0);
	run_until(e, NULL, 0, 500); /* K = T4 = 100 ms */
	assert_int_equal(cpm_txn_layer_count(e->l), 0);
}

static void test_client_invite_486_ack(void **state)
{
	struct env *e = *state;
	char req[2048], branch[CPM_TXN_BRANCH_MAX], buf[4096], inv[4096];
	size_t n = client_req(e, req, sizeof req, "INVITE", branch);
	struct cpm_net_dest d = peer_dest(e);
	assert_int_equal(cpm_txn_request(e->l, &d, req, n, on_resp, e, NULL), 0);
	assert_true(peer_recv(e, inv, sizeof inv, 500));
	/* Timer A retransmits the INVITE */
	assert_true(peer_count(e, "INVITE", 6 * T1) >= 1);
	peer_reply(e, inv, 180, "callee");
	run_until(e, &e->ncb, 1, 1000);
	assert_int_equal(e->cb_status[0], 180);
	/* Proceeding: no more retransmissions */
	drain(e);
	assert_int_equal(peer_count(e, "INVITE", 8 * T1), 0);
	peer_reply(e, inv, 486, "callee");
	run_until(e, &e->ncb, 2, 1000);
	assert_int_equal(e->ncb, 2);
	assert_int_equal(e->cb_status[1], 486);
	/* the layer ACKs the 486 (§17.1.1.3) */
	assert_true(peer_recv(e, buf, sizeof buf, 500));
	assert_true(strncmp(buf, "ACK sip:bob@127.0.0.1:", 22) == 0);
	assert_non_null(strstr(buf, branch));
	assert_non_null(strstr(buf, "CSeq: 42 ACK\r\n"));
	assert_non_null(strstr(buf, "tag=callee"));
	assert_non_null(strstr(buf, "tag=cli"));
	assert_non_null(strstr(buf, "Route: <sip:proxy@127.0.0.1;lr>\r\n"));
	struct cpm_sip_msg *m = calloc(1, sizeof *m);
	struct cpm_sip_limits lim;
	cpm_sip_limits_default(&lim);
	assert_int_equal(cpm_sip_msg_parse(m, buf, strlen(buf), CPM_SIP_DATAGRAM, &lim), 0);
	assert_int_equal(m->method, CPM_SIP_ACK);
	assert_int_equal(m->cseq.num, 42);
	free(m);
	/* a retransmitted 486: ACK again, no callback */
	peer_reply(e, inv, 486, "callee");
	assert_true(peer_recv(e, buf, sizeof buf, 500));
	assert_true(strncmp(buf, "ACK ", 4) == 0);
	assert_int_equal(e->ncb, 2);
}

static void test_client_invite_2xx(void **state)
{
	struct env *e = *state;
	char req[2048], branch[CPM_TXN_BRANCH_MAX], inv[4096];
	size_t n = client_req(e, req, sizeof req, "INVITE", branch);
	struct cpm_net_dest d = peer_dest(e);
	assert_int_equal(cpm_txn_request(e->l, &d, req, n, on_resp, e, NULL), 0);
	assert_true(peer_recv(e, inv, sizeof inv, 500));
	peer_reply(e, inv, 200, "ok");
	run_until(e, &e->ncb, 1, 1000);
	assert_int_equal(e->cb_status[0], 200);
	assert_int_equal(cpm_txn_layer_count(e->l), 0);
	/* no ACK from the layer for a 2xx; a retransmitted 2xx is stray */
	drain(e);
	peer_reply(e, inv, 200, "ok");
	run_until(e, &e->strays, 1, 1000);
	assert_int_equal(e->strays, 1);
	assert_int_equal(e->ncb, 1);
	assert_int_equal(peer_count(e, "ACK", 30), 0);
}

static void test_client_cancel(void **state)
{
	struct env *e = *state;
	char req[2048], branch[CPM_TXN_BRANCH_MAX], buf[4096], inv[4096];
	size_t n = client_req(e, req, sizeof req, "INVITE", branch);
	struct cpm_net_dest d = peer_dest(e);
	struct cpm_txn *ct;
	assert_int_equal(cpm_txn_request(e->l, &d, req, n, on_resp, e, &ct), 0);
	assert_true(peer_recv(e, inv, sizeof inv, 500));
	/* deferred until a provisional response (§9.1) */
	assert_int_equal(cpm_txn_cancel(ct, "Reason: SIP;cause=200;text=\"Call completed elsewhere\""), 0);
	drain(e);
	assert_int_equal(peer_count(e, "CANCEL", 3 * T1), 0);
	drain(e);
	peer_reply(e, inv, 180, "r");
	bool got = false;
	for (int i = 0; i < 10 && !got; i++) {
		if (!peer_recv(e, buf, sizeof buf, 200))
			break;
		got = strncmp(buf, "CANCEL ", 7) == 0;
	}
	assert_true(got);
	assert_non_null(strstr(buf, branch));
	assert_non_null(strstr(buf, "CSeq: 42 CANCEL\r\n"));
	assert_non_null(strstr(buf, "Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n"));
	assert_null(strstr(buf, "tag=r")); /* To as in the INVITE */
	/* the CANCEL's 200 is absorbed; the INVITE's 487 reaches the TU */
	char can[4096];
	strcpy(can, buf);
	peer_reply(e, can, 200, "r");
	peer_reply(e, inv, 487, "r");
	run_until(e, &e->ncb, 2, 1000);
	assert_int_equal(e->ncb, 2);
	assert_int_equal(e->cb_status[0], 180);
	assert_int_equal(e->cb_status[1], 487);
	assert_int_equal(e->strays, 0);
}

static void test_client_tcp_refused_503(void **state)
{
	struct env *e = *state;
	char req[2048], branch[CPM_TXN_BRANCH_MAX];
	size_t n = client_req(e, req, sizeof req, "MESSAGE", branch);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = lo(0);
	bind(fd, (struct sockaddr *)&a, sizeof a); /* bound, not listening */
	socklen_t al = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &al);
	struct cpm_net_dest d = { .proto = CPM_NET_TCP };
	d.peer.u.in = a;
	d.peer.len = sizeof a;
	assert_int_equal(cpm_txn_request(e->l, &d, req, n, on_resp, e, NULL), 0);
	run_until(e, &e->ncb, 1, 2000);
	assert_int_equal(e->ncb, 1);
	assert_int_equal(e->cb_status[0], 503);
	assert_true(e->cb_null[0]);
	close(fd);
}

static void test_client_tcp_roundtrip(void **state)
{
	/* the layer talks to itself over TCP: client txn → server txn */
	struct env *e = *state;
	char req[2048], branch[CPM_TXN_BRANCH_MAX];
	cpm_txn_branch_new(branch);
	int n = snprintf(req, sizeof req,
			 "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n"
			 "Via: SIP/2.0/TCP %s:%u;branch=%s\r\n"
			 "Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n"
			 "To: <sip:bob@127.0.0.1>\r\nCall-ID: tcp-rt\r\n"
			 "CSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
			 "Content-Length: 2\r\n\r\nhi",
			 e->tcp->host, e->tcp->port, branch);
	struct cpm_net_dest d = { .proto = CPM_NET_TCP, .peer = e->tcp->addr };
	e->auto_status = 202;
	assert_int_equal(cpm_txn_request(e->l, &d, req, (size_t)n, on_resp, e, NULL), 0);
	run_until(e, &e->ncb, 1, 2000);
	assert_int_equal(e->nreq, 1);
	assert_int_equal(e->ncb, 1);
	assert_int_equal(e->cb_status[0], 202);
	assert_int_equal(e->last_src.proto, CPM_NET_TCP);
	assert_true(e->last_src.conn_id != 0);
	assert_int_equal(e->gone, 1); /* Timer J = 0 over TCP */
	/* reliable: Timer J and K are 0 */
	run_until(e, NULL, 0, 50);
	assert_int_equal(cpm_txn_layer_count(e->l), 0);
}

int main(void)
{
	cpm_log_set_level(CPM_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_server_noninvite_retrans, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_invite_486, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_invite_no_ack_timer_h, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_invite_2xx_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_cancel_matching, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_rfc2543_matching, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_response_via_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_limit_503, setup_limit, teardown),
		cmocka_unit_test_setup_teardown(test_server_tcp_response_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_timer_f_408, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_noninvite_200, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_invite_486_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_invite_2xx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_tcp_refused_503, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_tcp_roundtrip, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
