/* core dialogs (core_dlg.c): a real core on 127.0.0.1 (UDP, small T1, a
 * temporary SQLite store) and a raw UDP peer that plays the other UA.
 * UAS: 2xx retransmitted until the ACK, in-dialog requests to the owner,
 * CSeq order, BYE; no ACK -> BYE.  UAC: INVITE, ACK of the 2xx and of its
 * retransmission, in-dialog MESSAGE with the dialog's tags, BYE; a failure;
 * the timeout with CANCEL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core_int.h"

#define T1 20

struct env {
	uv_loop_t loop;
	uv_timer_t bound;
	bool timed_out;
	struct cpm_conf conf;
	struct cpm_core *core;
	char dir[64];
	uint16_t sport; /* the core's UDP port */
	int fd;         /* the peer */
	uint16_t fport;
	/* what the owner saw */
	struct cpm_core_dlg *d;
	int requests, ended, ended_why, answered, answered_status, sent_status;
	bool stopped;
	char last[4096]; /* the last datagram the peer got */
};

static struct env *g;

static void bound_cb(uv_timer_t *t)
{
	((struct env *)t->data)->timed_out = true;
}

/* Run the loop until the peer has a datagram whose first line starts with
 * want (or any when want is NULL): true; false after ms. */
static bool peer_wait(struct env *e, const char *want, unsigned ms)
{
	e->timed_out = false;
	uv_timer_start(&e->bound, bound_cb, ms, 0);
	bool got = false;
	while (!e->timed_out && !got) {
		uv_run(&e->loop, UV_RUN_NOWAIT);
		char buf[sizeof e->last];
		ssize_t n = recv(e->fd, buf, sizeof buf - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			if (!want || !strncmp(buf, want, strlen(want))) {
				memcpy(e->last, buf, (size_t)n + 1);
				got = true;
			}
		} else
			usleep(1000);
	}
	uv_timer_stop(&e->bound);
	return got;
}

/* Run the loop for ms, counting the datagrams starting with want. */
static int peer_count(struct env *e, const char *want, unsigned ms)
{
	int n = 0;
	uint64_t end = cpm_now_ms() + ms;
	while (cpm_now_ms() < end) {
		uv_run(&e->loop, UV_RUN_NOWAIT);
		char buf[4096];
		ssize_t k = recv(e->fd, buf, sizeof buf - 1, 0);
		if (k > 0) {
			buf[k] = '\0';
			if (!strncmp(buf, want, strlen(want)))
				n++;
		} else
			usleep(1000);
	}
	return n;
}

static void peer_send(struct env *e, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(e->sport) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(sendto(e->fd, buf, (size_t)n, 0, (struct sockaddr *)&sa, sizeof sa), n);
}

/* The value of header name in the last datagram ("" when absent). */
static const char *hdr(struct env *e, const char *name, char *out, size_t sz)
{
	out[0] = '\0';
	size_t nl = strlen(name);
	for (const char *p = e->last; (p = strstr(p, "\r\n")); ) {
		p += 2;
		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			size_t n = strcspn(v, "\r");
			snprintf(out, sz, "%.*s", (int)n, v);
			break;
		}
	}
	return out;
}

static void tag_of(const char *value, char *out, size_t sz)
{
	const char *t = strstr(value, "tag=");
	snprintf(out, sz, "%.*s", t ? (int)strcspn(t + 4, ";> ") : 0, t ? t + 4 : "");
}

/* ------------------------------------------------------------- the owner */

static void own_request(void *arg, struct cpm_core_dlg *d, struct cpm_txn *st,
			const struct cpm_sip_msg *req)
{
	struct env *e = arg;
	(void)d;
	(void)req;
	e->requests++;
	cpm_txn_reply(st, 200, NULL, NULL, NULL, CPM_STR_NULL, CPM_STR_NULL);
}

static void own_ended(void *arg, struct cpm_core_dlg *d, enum cpm_core_dlg_end why)
{
	struct env *e = arg;
	(void)d;
	e->ended++;
	e->ended_why = why;
	e->d = NULL;
}

static void own_answered(void *arg, struct cpm_core_dlg *d, int status,
			 const struct cpm_sip_msg *resp)
{
	struct env *e = arg;
	(void)resp;
	e->answered++;
	e->answered_status = status;
	if (status >= 300)
		e->d = NULL;
	else
		e->d = d;
}

static const struct cpm_core_dlg_ops own_ops = { own_request, own_answered, own_ended };

static bool service(void *arg, struct cpm_txn *st, const struct cpm_sip_msg *req,
		    const struct cpm_net_dest *src, const char *aor, const char *from_aor)
{
	struct env *e = arg;
	(void)src;
	(void)from_aor;
	if (!aor || strcmp(aor, "focus@example.test") || req->method != CPM_SIP_INVITE)
		return false;
	struct cpm_core_dlg_params p = {
		.contact_user = "focus",
		.contact_params = ";isfocus",
		.extra_hdrs = "Allow: INVITE, ACK, BYE, MESSAGE\r\n",
		.ctype = CPM_STR("application/sdp"),
		.body = CPM_STR("v=0\r\n"),
	};
	assert_int_equal(cpm_core_dlg_accept(e->core, st, &p, &own_ops, e, &e->d), 0);
	return true;
}

static void on_sent(void *arg, int status, const struct cpm_sip_msg *resp)
{
	(void)resp;
	((struct env *)arg)->sent_status = status;
}

/* --------------------------------------------------------------- set-up */

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof *e);
	g = e;
	assert_int_equal(uv_loop_init(&e->loop), 0);
	uv_timer_init(&e->loop, &e->bound);
	e->bound.data = e;
	/* the peer first: its port is the core's sip.listen + 1 try */
	e->fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(bind(e->fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t sl = sizeof sa;
	getsockname(e->fd, (struct sockaddr *)&sa, &sl);
	e->fport = ntohs(sa.sin_port);
	fcntl(e->fd, F_SETFL, O_NONBLOCK);
	/* a free UDP port for the core */
	int probe = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in pa = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &pa.sin_addr);
	bind(probe, (struct sockaddr *)&pa, sizeof pa);
	sl = sizeof pa;
	getsockname(probe, (struct sockaddr *)&pa, &sl);
	e->sport = ntohs(pa.sin_port);
	close(probe);

	snprintf(e->dir, sizeof e->dir, "/tmp/cpm-dlg-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	char err[256], v[128];
	cpm_conf_defaults(&e->conf);
	snprintf(v, sizeof v, "udp:127.0.0.1:%u", e->sport);
	assert_int_equal(cpm_conf_set(&e->conf, "sip.listen", v, err, sizeof err), 0);
	assert_int_equal(cpm_conf_set(&e->conf, "server.domain", "example.test", err, sizeof err), 0);
	assert_int_equal(cpm_conf_set(&e->conf, "auth.trusted", "127.0.0.1/32", err, sizeof err), 0);
	snprintf(v, sizeof v, "%d", T1);
	assert_int_equal(cpm_conf_set(&e->conf, "sip.t1", v, err, sizeof err), 0);
	assert_int_equal(cpm_conf_set(&e->conf, "sip.t2", "80", err, sizeof err), 0);
	snprintf(v, sizeof v, "sqlite:%s/cpmd.db", e->dir);
	assert_int_equal(cpm_conf_set(&e->conf, "store.url", v, err, sizeof err), 0);
	assert_int_equal(cpm_core_new(&e->loop, &e->conf, &e->core, err, sizeof err), 0);
	assert_int_equal(cpm_core_add_service(e->core, service, e), 0);
	*state = e;
	return 0;
}

static void stopped(void *arg)
{
	*(bool *)arg = true;
}

static int teardown(void **state)
{
	struct env *e = *state;
	/* a test may have begun the shutdown itself */
	cpm_core_shutdown(e->core, stopped, &e->stopped);
	while (!e->stopped)
		uv_run(&e->loop, UV_RUN_ONCE);
	cpm_core_free(e->core);
	uv_close((uv_handle_t *)&e->bound, NULL);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	close(e->fd);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

static void send_invite(struct env *e, const char *cid, int cseq)
{
	peer_send(e,
		  "INVITE sip:focus@example.test SIP/2.0\r\n"
		  "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-%s-%d;rport\r\n"
		  "Max-Forwards: 70\r\n"
		  "From: \"Alice\" <sip:alice@example.test>;tag=a1\r\n"
		  "To: <sip:focus@example.test>\r\n"
		  "Call-ID: %s\r\nCSeq: %d INVITE\r\n"
		  "Contact: <sip:alice@127.0.0.1:%u>\r\n"
		  "Record-Route: <sip:127.0.0.1:%u;lr>\r\n"
		  "Content-Length: 0\r\n\r\n",
		  e->fport, cid, cseq, cid, cseq, e->fport, e->fport);
}

/* ------------------------------------------------------------------ UAS */

static void test_uas_dialog(void **state)
{
	struct env *e = *state;
	send_invite(e, "uas1", 1);
	assert_true(peer_wait(e, "SIP/2.0 200", 1000));
	char h[512], tag[64];
	assert_non_null(strstr(e->last, ";isfocus"));
	assert_non_null(strstr(e->last, "Record-Route: <sip:127.0.0.1:"));
	assert_non_null(strstr(e->last, "v=0"));
	tag_of(hdr(e, "To", h, sizeof h), tag, sizeof tag);
	assert_true(strlen(tag) >= 8);
	assert_non_null(e->d);
	assert_string_equal(cpm_core_dlg_remote_uri(e->d), "sip:alice@example.test");
	assert_string_equal(cpm_core_dlg_remote_display(e->d), "Alice");
	/* no ACK yet: the 200 comes again (§13.3.1.4) */
	assert_true(peer_wait(e, "SIP/2.0 200", 500));
	/* the ACK stops it */
	peer_send(e,
		  "ACK sip:focus@127.0.0.1:%u SIP/2.0\r\n"
		  "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-ack1\r\nMax-Forwards: 70\r\n"
		  "From: <sip:alice@example.test>;tag=a1\r\nTo: <sip:focus@example.test>;tag=%s\r\n"
		  "Call-ID: uas1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
		  e->sport, e->fport, tag);
	assert_int_equal(peer_count(e, "SIP/2.0 200", 8 * T1 + 100), 0);
	/* an in-dialog MESSAGE goes to the owner, whatever its Request-URI */
	peer_send(e,
		  "MESSAGE sip:somewhere@example.test SIP/2.0\r\n"
		  "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-m1\r\nMax-Forwards: 70\r\n"
		  "From: <sip:alice@example.test>;tag=a1\r\nTo: <sip:focus@example.test>;tag=%s\r\n"
		  "Call-ID: uas1\r\nCSeq: 2 MESSAGE\r\nContent-Type: text/plain\r\n"
		  "Content-Length: 2\r\n\r\nhi",
		  e->fport, tag);
	assert_true(peer_wait(e, "SIP/2.0 200", 1000));
	assert_int_equal(e->requests, 1);
	/* out of order CSeq: 500 (§12.2.2) */
	peer_send(e,
		  "INFO sip:focus@127.0.0.1 SIP/2.0\r\n"
		  "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-i1\r\nMax-Forwards: 70\r\n"
		  "From: <sip:alice@example.test>;tag=a1\r\nTo: <sip:focus@example.test>;tag=%s\r\n"
		  "Call-ID: uas1\r\nCSeq: 1 INFO\r\nContent-Length: 0\r\n\r\n",
		  e->fport, tag);
	assert_true(peer_wait(e, "SIP/2.0 500", 1000));
	/* a request of ours: To/From swapped with the tags, the route set */
	assert_int_equal(cpm_core_dlg_request(e->d, "MESSAGE", NULL, CPM_STR("text/plain"),
					      CPM_STR("yo"), on_sent, e),
			 0);
	assert_true(peer_wait(e, "MESSAGE sip:alice@127.0.0.1:", 1000));
	assert_non_null(strstr(e->last, "To: \"Alice\" <sip:alice@example.test>;tag=a1"));
	char want[128];
	snprintf(want, sizeof want, "From: <sip:focus@example.test>;tag=%s", tag);
	assert_non_null(strstr(e->last, want));
	assert_non_null(strstr(e->last, "Route: <sip:127.0.0.1:"));
	char via[256], cseq[64];
	hdr(e, "Via", via, sizeof via);
	hdr(e, "CSeq", cseq, sizeof cseq);
	assert_string_equal(cseq, "1 MESSAGE");
	peer_send(e,
		  "SIP/2.0 200 OK\r\nVia: %s\r\nFrom: <sip:focus@example.test>;tag=%s\r\n"
		  "To: <sip:alice@example.test>;tag=a1\r\nCall-ID: uas1\r\nCSeq: 1 MESSAGE\r\n"
		  "Content-Length: 0\r\n\r\n",
		  via, tag);
	for (int i = 0; i < 50 && !e->sent_status; i++)
		peer_count(e, "x", 10);
	assert_int_equal(e->sent_status, 200);
	/* BYE: 200 and the owner hears it */
	peer_send(e,
		  "BYE sip:focus@127.0.0.1 SIP/2.0\r\n"
		  "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-b1\r\nMax-Forwards: 70\r\n"
		  "From: <sip:alice@example.test>;tag=a1\r\nTo: <sip:focus@example.test>;tag=%s\r\n"
		  "Call-ID: uas1\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n",
		  e->fport, tag);
	assert_true(peer_wait(e, "SIP/2.0 200", 1000));
	assert_int_equal(e->ended, 1);
	assert_int_equal(e->ended_why, CPM_CORE_DLG_END_BYE);
	assert_int_equal(cpm_core_dlg_count(e->core), 0);
	/* the dialog is gone: a BYE to our Contact now gets 481 */
	peer_send(e,
		  "BYE sip:focus@127.0.0.1:%u SIP/2.0\r\n"
		  "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-b2\r\nMax-Forwards: 70\r\n"
		  "From: <sip:alice@example.test>;tag=a1\r\nTo: <sip:focus@example.test>;tag=%s\r\n"
		  "Call-ID: uas1\r\nCSeq: 4 BYE\r\nContent-Length: 0\r\n\r\n",
		  e->sport, e->fport, tag);
	assert_true(peer_wait(e, "SIP/2.0 481", 1000));
}

static void test_uas_no_ack(void **state)
{
	struct env *e = *state;
	send_invite(e, "uas2", 1);
	assert_true(peer_wait(e, "SIP/2.0 200", 1000));
	/* 64*T1 later: our BYE, through the route set, and ended NO_ACK */
	assert_true(peer_wait(e, "BYE sip:alice@127.0.0.1:", 64 * T1 + 1000));
	assert_int_equal(e->ended, 1);
	assert_int_equal(e->ended_why, CPM_CORE_DLG_END_NO_ACK);
	assert_int_equal(cpm_core_dlg_count(e->core), 0);
}

/* ------------------------------------------------------------------ UAC */

/* Answer the last request (an INVITE) with status, our tag. */
static void answer_last(struct env *e, int status, const char *reason)
{
	char via[256], from[256], to[256], cid[128], cseq[64];
	hdr(e, "Via", via, sizeof via);
	hdr(e, "From", from, sizeof from);
	hdr(e, "To", to, sizeof to);
	hdr(e, "Call-ID", cid, sizeof cid);
	hdr(e, "CSeq", cseq, sizeof cseq);
	peer_send(e,
		  "SIP/2.0 %d %s\r\nVia: %s\r\nFrom: %s\r\nTo: %s%s\r\nCall-ID: %s\r\n"
		  "CSeq: %s\r\nContact: <sip:bob@127.0.0.1:%u>\r\nContent-Length: 0\r\n\r\n",
		  status, reason, via, from, to, strstr(to, "tag=") ? "" : ";tag=b7", cid, cseq,
		  e->fport);
}

static void test_uac_dialog(void **state)
{
	struct env *e = *state;
	char uri[128];
	snprintf(uri, sizeof uri, "<sip:bob@127.0.0.1:%u>", e->fport);
	struct cpm_core_dlg_params p = { .contact_user = "room", .contact_params = ";isfocus",
					 .ctype = CPM_STR("application/sdp"),
					 .body = CPM_STR("v=0\r\n") };
	struct cpm_core_dlg *d = NULL;
	assert_int_equal(cpm_core_dlg_invite(e->core, "\"Room\" <sip:room@example.test>", uri, &p,
					     5, &own_ops, e, &d),
			 0);
	assert_true(peer_wait(e, "INVITE sip:bob@127.0.0.1:", 1000));
	assert_non_null(strstr(e->last, "From: \"Room\" <sip:room@example.test>;tag="));
	assert_non_null(strstr(e->last, ";isfocus"));
	assert_non_null(strstr(e->last, "v=0"));
	char saved[4096];
	memcpy(saved, e->last, sizeof saved);
	answer_last(e, 200, "OK");
	assert_true(peer_wait(e, "ACK sip:bob@127.0.0.1:", 1000));
	assert_int_equal(e->answered, 1);
	assert_int_equal(e->answered_status, 200);
	assert_ptr_equal(e->d, d);
	assert_non_null(strstr(e->last, "CSeq: 1 ACK"));
	assert_non_null(strstr(e->last, ";tag=b7"));
	/* the 200 again: the ACK again (§13.2.2.4) */
	memcpy(e->last, saved, sizeof saved);
	answer_last(e, 200, "OK");
	assert_true(peer_wait(e, "ACK sip:bob@127.0.0.1:", 1000));
	/* a request of ours in the dialog */
	assert_int_equal(cpm_core_dlg_request(d, "MESSAGE", NULL, CPM_STR("text/plain"),
					      CPM_STR("hello"), NULL, NULL),
			 0);
	assert_true(peer_wait(e, "MESSAGE sip:bob@127.0.0.1:", 1000));
	assert_non_null(strstr(e->last, "CSeq: 2 MESSAGE"));
	assert_non_null(strstr(e->last, ";tag=b7"));
	answer_last(e, 200, "OK");
	/* the peer's own request in the dialog reaches the owner */
	char from[256], cid[128];
	hdr(e, "From", from, sizeof from);
	hdr(e, "Call-ID", cid, sizeof cid);
	peer_send(e,
		  "INFO sip:room@127.0.0.1:%u SIP/2.0\r\n"
		  "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-i9\r\nMax-Forwards: 70\r\n"
		  "From: <sip:bob@127.0.0.1>;tag=b7\r\nTo: %s\r\nCall-ID: %s\r\n"
		  "CSeq: 1 INFO\r\nContent-Length: 0\r\n\r\n",
		  e->sport, e->fport, from, cid);
	assert_true(peer_wait(e, "SIP/2.0 200", 1000));
	assert_int_equal(e->requests, 1);
	/* hang up */
	cpm_core_dlg_bye(d);
	e->d = NULL;
	assert_true(peer_wait(e, "BYE sip:bob@127.0.0.1:", 1000));
	assert_non_null(strstr(e->last, "CSeq: 3 BYE"));
	assert_int_equal(cpm_core_dlg_count(e->core), 0);
	assert_int_equal(e->ended, 0);
}

static void test_uac_refused(void **state)
{
	struct env *e = *state;
	char uri[128];
	snprintf(uri, sizeof uri, "sip:carol@127.0.0.1:%u", e->fport);
	assert_int_equal(cpm_core_dlg_invite(e->core, "<sip:room@example.test>", uri, NULL, 5,
					     &own_ops, e, NULL),
			 0);
	assert_true(peer_wait(e, "INVITE ", 1000));
	answer_last(e, 486, "Busy Here");
	assert_true(peer_wait(e, "ACK ", 1000)); /* the transaction's ACK */
	for (int i = 0; i < 50 && !e->answered; i++)
		peer_count(e, "x", 10);
	assert_int_equal(e->answered_status, 486);
	assert_int_equal(cpm_core_dlg_count(e->core), 0);
}

static void test_uac_timeout(void **state)
{
	struct env *e = *state;
	char uri[128];
	snprintf(uri, sizeof uri, "sip:dave@127.0.0.1:%u", e->fport);
	assert_int_equal(cpm_core_dlg_invite(e->core, "<sip:room@example.test>", uri, NULL, 1,
					     &own_ops, e, NULL),
			 0);
	assert_true(peer_wait(e, "INVITE ", 1000));
	char saved[4096];
	memcpy(saved, e->last, sizeof saved);
	answer_last(e, 180, "Ringing");
	/* no final answer in 1 s: CANCEL (§9.1) */
	assert_true(peer_wait(e, "CANCEL ", 3000));
	answer_last(e, 200, "OK"); /* to the CANCEL */
	memcpy(e->last, saved, sizeof saved);
	answer_last(e, 487, "Request Terminated");
	for (int i = 0; i < 100 && !e->answered; i++)
		peer_count(e, "x", 10);
	assert_int_equal(e->answered_status, 408);
	assert_int_equal(cpm_core_dlg_count(e->core), 0);
}

static void test_uac_offline_local_user(void **state)
{
	struct env *e = *state;
	/* a local user with no binding: nothing to send */
	assert_int_equal(cpm_core_dlg_invite(e->core, "<sip:room@example.test>",
					     "sip:nobody@example.test", NULL, 5, &own_ops, e, NULL),
			 CPM_ENOTFOUND);
	assert_int_equal(cpm_core_dlg_count(e->core), 0);
}

static void test_uac_to_registered_user(void **state)
{
	struct env *e = *state;
	peer_send(e,
		  "REGISTER sip:example.test SIP/2.0\r\n"
		  "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-r1;rport\r\nMax-Forwards: 70\r\n"
		  "From: <sip:bob@example.test>;tag=r1\r\nTo: <sip:bob@example.test>\r\n"
		  "Call-ID: reg1\r\nCSeq: 1 REGISTER\r\n"
		  "Contact: <sip:bob@127.0.0.1:%u;transport=udp>;expires=60\r\n"
		  "Content-Length: 0\r\n\r\n",
		  e->fport, e->fport);
	assert_true(peer_wait(e, "SIP/2.0 200", 2000));
	struct cpm_core_dlg *d = NULL;
	assert_int_equal(cpm_core_dlg_invite(e->core, "<sip:room@example.test>",
					     "sip:bob@example.test", NULL, 5, &own_ops, e, &d),
			 0);
	/* the binding's Contact is the Request-URI, To stays the AoR */
	assert_true(peer_wait(e, "INVITE sip:bob@127.0.0.1:", 1000));
	assert_non_null(strstr(e->last, "To: <sip:bob@example.test>"));
	answer_last(e, 200, "OK");
	assert_true(peer_wait(e, "ACK sip:bob@127.0.0.1:", 1000));
	assert_int_equal(e->answered_status, 200);
	/* shutdown: BYE to every dialog, the owner told */
	cpm_core_shutdown(e->core, stopped, &e->stopped);
	assert_true(peer_wait(e, "BYE sip:bob@127.0.0.1:", 1000));
	assert_int_equal(e->ended, 1);
	assert_int_equal(e->ended_why, CPM_CORE_DLG_END_SHUTDOWN);
	assert_int_equal(cpm_core_dlg_count(e->core), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_uas_dialog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uas_no_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uac_dialog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uac_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uac_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uac_offline_local_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uac_to_registered_user, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
