/* net: addresses, UDP batched receive, TCP framing, CRLF keep-alive, idle
 * timeout, outgoing connections — real sockets on 127.0.0.1, port 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"

#define MAXMSG 64

struct rx {
	int n;
	char msg[MAXMSG][2048];
	size_t len[MAXMSG];
	struct cpm_net_dest src[MAXMSG];
	int ups, downs;
	uint64_t last_up, last_down;
};

struct env {
	uv_loop_t loop;
	struct cpm_net *net;
	struct rx rx;
	bool timed_out;
	uv_timer_t bound;
};

static void on_recv(void *arg, const struct cpm_net_dest *src, const char *buf,
		    size_t len)
{
	struct rx *rx = arg;
	if (rx->n >= MAXMSG)
		return;
	size_t n = len < sizeof rx->msg[0] - 1 ? len : sizeof rx->msg[0] - 1;
	memcpy(rx->msg[rx->n], buf, n);
	rx->msg[rx->n][n] = '\0';
	rx->len[rx->n] = len;
	rx->src[rx->n] = *src;
	rx->n++;
}

static void on_conn(void *arg, uint64_t id, bool up)
{
	struct rx *rx = arg;
	if (up) {
		rx->ups++;
		rx->last_up = id;
	} else {
		rx->downs++;
		rx->last_down = id;
	}
}

static void bound_cb(uv_timer_t *t)
{
	struct env *e = t->data;
	e->timed_out = true;
}

/* Run the loop until *counter >= want or ms have passed. */
static void run_until(struct env *e, int *counter, int want, unsigned ms)
{
	e->timed_out = false;
	uv_timer_start(&e->bound, bound_cb, ms, 0);
	while (!e->timed_out && (!counter || *counter < want))
		uv_run(&e->loop, UV_RUN_ONCE);
	uv_timer_stop(&e->bound);
}

static struct env *env_new(const struct cpm_net_conf *conf, const char *spec)
{
	struct env *e = calloc(1, sizeof *e);
	assert_non_null(e);
	assert_int_equal(uv_loop_init(&e->loop), 0);
	uv_timer_init(&e->loop, &e->bound);
	e->bound.data = e;
	struct cpm_net_conf c;
	cpm_net_conf_default(&c);
	if (conf)
		c = *conf;
	assert_int_equal(cpm_net_new(&e->loop, &c, &e->net), 0);
	cpm_net_set_handler(e->net, on_recv, on_conn, &e->rx);
	assert_int_equal(cpm_net_listen(e->net, spec), 0);
	return e;
}

static void env_free(struct env *e)
{
	cpm_net_free(e->net);
	uv_close((uv_handle_t *)&e->bound, NULL);
	int guard = 0;
	while (uv_run(&e->loop, UV_RUN_NOWAIT) && guard++ < 1000)
		;
	assert_int_equal(uv_loop_close(&e->loop), 0);
	free(e);
}

static struct sockaddr_in lo(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int udp_sock(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = lo(0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

static uint16_t sock_port(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &l);
	return ntohs(a.sin_port);
}

static int tcp_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = lo(port);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

/* Read what is available within ms (runs the loop meanwhile). */
static ssize_t read_some(struct env *e, int fd, char *buf, size_t sz,
			 unsigned ms)
{
	for (unsigned waited = 0; waited <= ms; waited += 10) {
		ssize_t n = recv(fd, buf, sz, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		run_until(e, NULL, 0, 10);
	}
	return -2; /* nothing */
}

static const char *REQ_FMT =
	"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK%d\r\n"
	"Max-Forwards: 70\r\n"
	"From: <sip:b@127.0.0.1>;tag=1\r\n"
	"To: <sip:a@127.0.0.1>\r\n"
	"Call-ID: c%d@x\r\n"
	"CSeq: 1 OPTIONS\r\n"
	"Content-Length: %d\r\n"
	"\r\n%s";

static size_t mkreq(char *out, size_t sz, int i, const char *body)
{
	int n = snprintf(out, sz, REQ_FMT, i, i, (int)strlen(body), body);
	assert_true(n > 0 && (size_t)n < sz);
	return (size_t)n;
}

/* ------------------------------------------------------------ addresses */

static void test_addr(void **state)
{
	struct cpm_net_addr a, b;
	char buf[64];
	assert_int_equal(cpm_net_addr_from_host(CPM_STR("127.0.0.1"), 5060, &a), 0);
	assert_int_equal(cpm_net_addr_print(&a, buf, sizeof buf), 14);
	assert_string_equal(buf, "127.0.0.1:5060");
	assert_int_equal(cpm_net_addr_from_host(CPM_STR("[::1]"), 5061, &b), 0);
	cpm_net_addr_print(&b, buf, sizeof buf);
	assert_string_equal(buf, "[::1]:5061");
	cpm_net_addr_host(&b, false, buf, sizeof buf);
	assert_string_equal(buf, "::1");
	cpm_net_addr_host(&b, true, buf, sizeof buf);
	assert_string_equal(buf, "[::1]");
	assert_int_equal(cpm_net_addr_port(&b), 5061);
	assert_int_equal(cpm_net_addr_from_host(CPM_STR("::1"), 1, &b), 0);
	assert_int_equal(cpm_net_addr_from_host(CPM_STR("localhost"), 7, &b), 0);
	assert_true(cpm_net_addr_eq(&b, &(struct cpm_net_addr){ 0 }) == false);
	cpm_net_addr_from_host(CPM_STR("127.0.0.1"), 7, &a);
	assert_true(cpm_net_addr_eq(&a, &b));
	assert_int_equal(cpm_net_addr_from_host(CPM_STR("example.com"), 1, &a),
			 CPM_EADDR);
	assert_int_equal(cpm_net_addr_from_host(CPM_STR("[1.2.3.4]"), 1, &a),
			 CPM_EADDR);
	assert_int_equal(cpm_net_addr_from_host(CPM_STR(""), 1, &a), CPM_EADDR);
	assert_int_equal(cpm_net_addr_from_host(CPM_STR("1.2.3.4.5"), 1, &a),
			 CPM_EADDR);
}

static void test_cidr(void **state)
{
	struct cpm_net_addr a;
	const char *trusted = "10.0.0.0/8, 192.168.1.7 ,::1/128,fe80::/10";
	cpm_net_addr_from_host(CPM_STR("10.200.3.4"), 1, &a);
	assert_true(cpm_net_addr_in_cidrs(&a, trusted));
	cpm_net_addr_from_host(CPM_STR("11.0.0.1"), 1, &a);
	assert_false(cpm_net_addr_in_cidrs(&a, trusted));
	cpm_net_addr_from_host(CPM_STR("192.168.1.7"), 1, &a);
	assert_true(cpm_net_addr_in_cidrs(&a, trusted));
	cpm_net_addr_from_host(CPM_STR("192.168.1.8"), 1, &a);
	assert_false(cpm_net_addr_in_cidrs(&a, trusted));
	cpm_net_addr_from_host(CPM_STR("::1"), 1, &a);
	assert_true(cpm_net_addr_in_cidrs(&a, trusted));
	cpm_net_addr_from_host(CPM_STR("::2"), 1, &a);
	assert_false(cpm_net_addr_in_cidrs(&a, trusted));
	cpm_net_addr_from_host(CPM_STR("fe80::1:2"), 1, &a);
	assert_true(cpm_net_addr_in_cidrs(&a, trusted));
	cpm_net_addr_from_host(CPM_STR("::ffff:10.1.1.1"), 1, &a);
	assert_true(cpm_net_addr_in_cidrs(&a, trusted));
	cpm_net_addr_from_host(CPM_STR("10.1.1.1"), 1, &a);
	assert_false(cpm_net_addr_in_cidrs(&a, "garbage, 10.0.0.0/33, /8"));
	assert_true(cpm_net_addr_in_cidrs(&a, "0.0.0.0/0"));
	assert_false(cpm_net_addr_in_cidrs(&a, ""));
	cpm_net_addr_from_host(CPM_STR("10.1.1.1"), 1, &a);
	assert_true(cpm_net_addr_in_cidrs(&a, "10.1.1.0/25"));
	assert_false(cpm_net_addr_in_cidrs(&a, "10.1.1.128/25"));
}

static void test_listen_spec(void **state)
{
	uv_loop_t loop;
	struct cpm_net *n;
	uv_loop_init(&loop);
	assert_int_equal(cpm_net_new(&loop, NULL, &n), 0);
	assert_int_equal(cpm_net_listen(n, "sctp:127.0.0.1:0"), CPM_EINVAL);
	assert_int_equal(cpm_net_listen(n, "udp:127.0.0.1"), CPM_EINVAL);
	assert_int_equal(cpm_net_listen(n, "udp:::1:5060"), CPM_EINVAL);
	assert_int_equal(cpm_net_listen(n, "udp:127.0.0.1:0, tcp:127.0.0.1:0"), 0);
	const struct cpm_net_listener *u = cpm_net_listener_find(n, CPM_NET_UDP, AF_INET);
	const struct cpm_net_listener *t = cpm_net_listener_find(n, CPM_NET_TCP, AF_INET);
	assert_non_null(u);
	assert_non_null(t);
	assert_true(u->port != 0);
	assert_true(t->port != 0);
	assert_string_equal(u->host, "127.0.0.1");
	assert_null(cpm_net_listener_find(n, CPM_NET_UDP, AF_INET6));
	/* IPv6 loopback, if the machine has it */
	if (cpm_net_listen(n, "udp:[::1]:0") == 0) {
		const struct cpm_net_listener *v6 =
			cpm_net_listener_find(n, CPM_NET_UDP, AF_INET6);
		assert_non_null(v6);
		assert_string_equal(v6->host, "[::1]");
	}
	cpm_net_free(n);
	while (uv_run(&loop, UV_RUN_NOWAIT))
		;
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ------------------------------------------------------------------ UDP */

static void test_udp_recv_many(void **state)
{
	struct cpm_net_conf c;
	cpm_net_conf_default(&c);
	c.lim.max_msg = 1500;
	struct env *e = env_new(&c, "udp:127.0.0.1:0");
	const struct cpm_net_listener *l =
		cpm_net_listener_find(e->net, CPM_NET_UDP, AF_INET);
	int fd = udp_sock();
	struct sockaddr_in to = lo(l->port);
	char buf[4096];
	for (int i = 0; i < 5; i++) {
		size_t n = mkreq(buf, sizeof buf, i, "");
		assert_int_equal(sendto(fd, buf, n, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)n);
	}
	/* oversized datagram: dropped */
	memset(buf, 'x', 3000);
	sendto(fd, buf, 3000, 0, (struct sockaddr *)&to, sizeof to);
	/* a CRLF keep-alive datagram: ignored */
	sendto(fd, "\r\n\r\n", 4, 0, (struct sockaddr *)&to, sizeof to);
	/* enough queued datagrams for several recvmmsg batches */
	for (int i = 5; i < 50; i++) {
		size_t n = mkreq(buf, sizeof buf, i, "");
		sendto(fd, buf, n, 0, (struct sockaddr *)&to, sizeof to);
	}
	run_until(e, &e->rx.n, 50, 2000);
	run_until(e, NULL, 0, 50);
	assert_int_equal(e->rx.n, 50);
	for (int i = 0; i < 50; i++) {
		char want[64];
		snprintf(want, sizeof want, "branch=z9hG4bK%d\r\n", i);
		assert_non_null(strstr(e->rx.msg[i], want));
		assert_int_equal(e->rx.src[i].proto, CPM_NET_UDP);
		assert_ptr_equal(e->rx.src[i].lsn, l);
		assert_int_equal(cpm_net_addr_port(&e->rx.src[i].peer), sock_port(fd));
	}
	/* send back to the peer */
	assert_int_equal(cpm_net_send(e->net, &e->rx.src[0], "hello", 5), 0);
	ssize_t r = read_some(e, fd, buf, sizeof buf, 500);
	assert_int_equal(r, 5);
	assert_memory_equal(buf, "hello", 5);
	/* no TCP listener for UDP... and a send over max_msg */
	assert_int_equal(cpm_net_send(e->net, &e->rx.src[0], buf, 2000), CPM_ETOOBIG);
	close(fd);
	env_free(e);
}

static void test_udp_stun_keepalive(void **state)
{
	struct env *e = env_new(NULL, "udp:127.0.0.1:0");
	const struct cpm_net_listener *l =
		cpm_net_listener_find(e->net, CPM_NET_UDP, AF_INET);
	int fd = udp_sock();
	struct sockaddr_in to = lo(l->port);
	unsigned char req[20] = { 0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42 };
	for (int i = 8; i < 20; i++)
		req[i] = (unsigned char)i;
	sendto(fd, req, sizeof req, 0, (struct sockaddr *)&to, sizeof to);
	unsigned char r[128];
	ssize_t n = read_some(e, fd, (char *)r, sizeof r, 1000);
	assert_int_equal(n, 32);
	assert_int_equal(r[0], 0x01);
	assert_int_equal(r[1], 0x01);
	assert_int_equal(r[3], 12);
	assert_memory_equal(r + 4, req + 4, 16);
	assert_int_equal(r[20] << 8 | r[21], 0x0020); /* XOR-MAPPED-ADDRESS */
	uint16_t port = (uint16_t)((r[26] << 8 | r[27]) ^ 0x2112);
	assert_int_equal(port, sock_port(fd));
	assert_int_equal(r[28] ^ 0x21, 127);
	assert_int_equal(r[31] ^ 0x42, 1);
	/* not delivered as SIP */
	assert_int_equal(e->rx.n, 0);
	close(fd);
	env_free(e);
}

/* ------------------------------------------------------------------ TCP */

static void test_tcp_framing(void **state)
{
	struct env *e = env_new(NULL, "tcp:127.0.0.1:0");
	const struct cpm_net_listener *l =
		cpm_net_listener_find(e->net, CPM_NET_TCP, AF_INET);
	int fd = tcp_connect(l->port);
	char m1[1024], m2[1024], m3[1024], two[2048];
	size_t n1 = mkreq(m1, sizeof m1, 1, "hello body");
	size_t n2 = mkreq(m2, sizeof m2, 2, "");
	size_t n3 = mkreq(m3, sizeof m3, 3, "x");

	/* one message split in three writes, the cut inside the headers
	 * and inside the body */
	send(fd, m1, 20, 0);
	run_until(e, NULL, 0, 30);
	send(fd, m1 + 20, n1 - 25, 0);
	run_until(e, NULL, 0, 30);
	assert_int_equal(e->rx.n, 0);
	send(fd, m1 + n1 - 5, 5, 0);
	run_until(e, &e->rx.n, 1, 1000);
	assert_int_equal(e->rx.n, 1);
	assert_int_equal(e->rx.len[0], n1);
	assert_memory_equal(e->rx.msg[0], m1, n1);
	assert_int_equal(e->rx.src[0].proto, CPM_NET_TCP);
	assert_true(e->rx.src[0].conn_id != 0);
	assert_int_equal(e->rx.ups, 1);
	assert_int_equal(e->rx.last_up, e->rx.src[0].conn_id);

	/* two messages (and a leading CRLF) in one write */
	memcpy(two, "\r\n", 2);
	memcpy(two + 2, m2, n2);
	memcpy(two + 2 + n2, m3, n3);
	send(fd, two, 2 + n2 + n3, 0);
	run_until(e, &e->rx.n, 3, 1000);
	assert_int_equal(e->rx.n, 3);
	assert_int_equal(e->rx.len[1], n2);
	assert_memory_equal(e->rx.msg[1], m2, n2);
	assert_int_equal(e->rx.len[2], n3);
	assert_memory_equal(e->rx.msg[2], m3, n3);
	assert_int_equal(e->rx.src[2].conn_id, e->rx.src[0].conn_id);

	/* a response on the same connection */
	assert_int_equal(cpm_net_send(e->net, &e->rx.src[0], "SIP/2.0 200 OK\r\n", 16), 0);
	char buf[256];
	ssize_t r = read_some(e, fd, buf, sizeof buf, 500);
	assert_int_equal(r, 16);
	assert_int_equal(cpm_net_conn_count(e->net), 1);
	close(fd);
	run_until(e, &e->rx.downs, 1, 1000);
	assert_int_equal(e->rx.downs, 1);
	assert_int_equal(cpm_net_conn_count(e->net), 0);
	assert_false(cpm_net_conn_alive(e->net, e->rx.src[0].conn_id));
	/* conn gone and no peer address to reconnect to */
	struct cpm_net_dest d = { .proto = CPM_NET_TCP, .conn_id = e->rx.src[0].conn_id };
	assert_int_equal(cpm_net_send(e->net, &d, "x", 1), CPM_ECLOSED);
	env_free(e);
}

static void test_tcp_ping_pong(void **state)
{
	struct env *e = env_new(NULL, "tcp:127.0.0.1:0");
	const struct cpm_net_listener *l =
		cpm_net_listener_find(e->net, CPM_NET_TCP, AF_INET);
	int fd = tcp_connect(l->port);
	char buf[64];
	/* RFC 5626 §3.5.1: double CRLF ping → single CRLF pong */
	send(fd, "\r\n\r\n", 4, 0);
	ssize_t r = read_some(e, fd, buf, sizeof buf, 1000);
	assert_int_equal(r, 2);
	assert_memory_equal(buf, "\r\n", 2);
	/* a ping split in two writes */
	send(fd, "\r\n", 2, 0);
	run_until(e, NULL, 0, 30);
	assert_int_equal(read_some(e, fd, buf, sizeof buf, 30), -2);
	send(fd, "\r\n", 2, 0);
	r = read_some(e, fd, buf, sizeof buf, 1000);
	assert_int_equal(r, 2);
	/* a message after a ping still arrives */
	char m[1024];
	size_t n = mkreq(m, sizeof m, 9, "");
	send(fd, "\r\n\r\n", 4, 0);
	send(fd, m, n, 0);
	run_until(e, &e->rx.n, 1, 1000);
	assert_int_equal(e->rx.n, 1);
	assert_int_equal(e->rx.len[0], n);
	close(fd);
	env_free(e);
}

static void test_tcp_bad_framing_closes(void **state)
{
	struct env *e = env_new(NULL, "tcp:127.0.0.1:0");
	const struct cpm_net_listener *l =
		cpm_net_listener_find(e->net, CPM_NET_TCP, AF_INET);
	int fd = tcp_connect(l->port);
	/* no Content-Length on a stream: RFC 3261 §18.3, close */
	const char *bad = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
			  "Call-ID: x\r\nCSeq: 1 OPTIONS\r\nFrom: <sip:a@b>;tag=1\r\n"
			  "To: <sip:a@b>\r\n\r\n";
	send(fd, bad, strlen(bad), 0);
	run_until(e, &e->rx.downs, 1, 1000);
	assert_int_equal(e->rx.downs, 1);
	assert_int_equal(e->rx.n, 0);
	char buf[16];
	assert_int_equal(read_some(e, fd, buf, sizeof buf, 500), 0); /* EOF */
	close(fd);
	env_free(e);
}

static void test_tcp_too_big_closes(void **state)
{
	struct cpm_net_conf c;
	cpm_net_conf_default(&c);
	c.lim.max_msg = 2000;
	struct env *e = env_new(&c, "tcp:127.0.0.1:0");
	const struct cpm_net_listener *l =
		cpm_net_listener_find(e->net, CPM_NET_TCP, AF_INET);
	int fd = tcp_connect(l->port);
	char m[8192];
	memset(m, 'a', sizeof m);
	size_t n = mkreq(m, sizeof m, 1, "");
	/* a body of 5000 bytes announced: over max_msg */
	char big[8192];
	int bn = snprintf(big, sizeof big, "%.*s", (int)n, m);
	char *cl = strstr(big, "Content-Length: 0");
	assert_non_null(cl);
	memcpy(cl, "Content-Length: 5", 17);
	memmove(cl + 20, cl + 17, strlen(cl + 17) + 1);
	memcpy(cl + 17, "000", 3);
	bn = (int)strlen(big);
	send(fd, big, (size_t)bn, 0);
	for (int i = 0; i < 3; i++)
		send(fd, m, 2000, MSG_NOSIGNAL);
	run_until(e, &e->rx.downs, 1, 1000);
	assert_int_equal(e->rx.downs, 1);
	assert_int_equal(e->rx.n, 0);
	close(fd);
	env_free(e);
}

static void test_tcp_idle_timeout(void **state)
{
	struct cpm_net_conf c;
	cpm_net_conf_default(&c);
	c.tcp_idle_s = 1;
	struct env *e = env_new(&c, "tcp:127.0.0.1:0");
	const struct cpm_net_listener *l =
		cpm_net_listener_find(e->net, CPM_NET_TCP, AF_INET);
	int fd = tcp_connect(l->port);
	run_until(e, &e->rx.ups, 1, 1000);
	assert_int_equal(e->rx.ups, 1);
	run_until(e, NULL, 0, 500);
	assert_int_equal(e->rx.downs, 0); /* not yet */
	run_until(e, &e->rx.downs, 1, 1500);
	assert_int_equal(e->rx.downs, 1);
	char buf[16];
	assert_int_equal(read_some(e, fd, buf, sizeof buf, 500), 0); /* EOF */
	close(fd);
	env_free(e);
}

static void test_tcp_connect_out(void **state)
{
	/* two nets: a client connects to the server's TCP listener */
	struct env *srv = env_new(NULL, "tcp:127.0.0.1:0");
	struct env *cli = env_new(NULL, "tcp:127.0.0.1:0,udp:127.0.0.1:0");
	const struct cpm_net_listener *l =
		cpm_net_listener_find(srv->net, CPM_NET_TCP, AF_INET);
	struct cpm_net_dest d = { .proto = CPM_NET_TCP };
	d.peer = (struct cpm_net_addr){ .len = sizeof(struct sockaddr_in) };
	d.peer.u.in = lo(l->port);
	char m[1024];
	size_t n = mkreq(m, sizeof m, 4, "");
	uint64_t id = 0;
	/* queued until connected, both messages */
	assert_int_equal(cpm_net_send_conn(cli->net, &d, m, n, &id), 0);
	assert_true(id != 0);
	assert_int_equal(cpm_net_send(cli->net, &d, m, n), 0);
	for (int i = 0; i < 100 && srv->rx.n < 2; i++) {
		run_until(cli, NULL, 0, 5);
		run_until(srv, NULL, 0, 5);
	}
	assert_int_equal(srv->rx.n, 2);
	assert_int_equal(cli->rx.ups, 1);
	assert_int_equal(cli->rx.last_up, id);
	assert_int_equal(cpm_net_conn_count(cli->net), 1); /* reused */
	/* server answers on the accepted connection */
	assert_int_equal(cpm_net_send(srv->net, &srv->rx.src[0], m, n), 0);
	for (int i = 0; i < 100 && cli->rx.n < 1; i++) {
		run_until(srv, NULL, 0, 5);
		run_until(cli, NULL, 0, 5);
	}
	assert_int_equal(cli->rx.n, 1);
	assert_int_equal(cli->rx.src[0].conn_id, id);
	/* connection refused: reported as down */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = lo(0);
	bind(fd, (struct sockaddr *)&a, sizeof a);
	d.peer.u.in = lo(sock_port(fd)); /* bound, not listening */
	uint64_t id2 = 0;
	assert_int_equal(cpm_net_send_conn(cli->net, &d, m, n, &id2), 0);
	run_until(cli, &cli->rx.downs, 1, 1000);
	assert_int_equal(cli->rx.downs, 1);
	assert_int_equal(cli->rx.last_down, id2);
	assert_true(id2 > id);
	close(fd);
	env_free(cli);
	env_free(srv);
}

static void test_ipv6(void **state)
{
	uv_loop_t probe;
	struct cpm_net *pn;
	uv_loop_init(&probe);
	cpm_net_new(&probe, NULL, &pn);
	int ok = cpm_net_listen(pn, "udp:[::1]:0");
	cpm_net_free(pn);
	while (uv_run(&probe, UV_RUN_NOWAIT))
		;
	uv_loop_close(&probe);
	if (ok != 0)
		skip(); /* no IPv6 loopback here */
	struct env *e = env_new(NULL, "udp:[::1]:0,tcp:[::1]:0,udp:127.0.0.1:0");
	const struct cpm_net_listener *u6 =
		cpm_net_listener_find(e->net, CPM_NET_UDP, AF_INET6);
	const struct cpm_net_listener *t6 =
		cpm_net_listener_find(e->net, CPM_NET_TCP, AF_INET6);
	assert_non_null(u6);
	assert_non_null(t6);
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	a.sin6_port = htons(u6->port);
	char m[1024];
	size_t n = mkreq(m, sizeof m, 6, "");
	sendto(fd, m, n, 0, (struct sockaddr *)&a, sizeof a);
	run_until(e, &e->rx.n, 1, 1000);
	assert_int_equal(e->rx.n, 1);
	assert_ptr_equal(e->rx.src[0].lsn, u6);
	char pb[64];
	cpm_net_addr_print(&e->rx.src[0].peer, pb, sizeof pb);
	assert_true(strncmp(pb, "[::1]:", 6) == 0);
	/* reply: lsn NULL, chosen by family */
	struct cpm_net_dest d = e->rx.src[0];
	d.lsn = NULL;
	assert_int_equal(cpm_net_send(e->net, &d, "pong", 4), 0);
	char buf[16];
	assert_int_equal(read_some(e, fd, buf, sizeof buf, 500), 4);
	close(fd);
	/* TCP over IPv6: the net connects to itself */
	struct cpm_net_dest t = { .proto = CPM_NET_TCP, .peer = t6->addr };
	assert_int_equal(cpm_net_send(e->net, &t, m, n), 0);
	run_until(e, &e->rx.n, 2, 1000);
	assert_int_equal(e->rx.n, 2);
	assert_int_equal(e->rx.src[1].proto, CPM_NET_TCP);
	env_free(e);
}

static void test_tcp_max_conns(void **state)
{
	struct cpm_net_conf c;
	cpm_net_conf_default(&c);
	c.max_conns = 1;
	struct env *e = env_new(&c, "tcp:127.0.0.1:0");
	const struct cpm_net_listener *l =
		cpm_net_listener_find(e->net, CPM_NET_TCP, AF_INET);
	int fd1 = tcp_connect(l->port);
	run_until(e, &e->rx.ups, 1, 1000);
	int fd2 = tcp_connect(l->port);
	run_until(e, &e->rx.downs, 1, 1000);
	assert_int_equal(e->rx.ups, 1);
	assert_int_equal(e->rx.downs, 1);
	char buf[8];
	assert_int_equal(read_some(e, fd2, buf, sizeof buf, 500), 0);
	assert_int_equal(cpm_net_conn_count(e->net), 1);
	close(fd1);
	close(fd2);
	env_free(e);
}

int main(void)
{
	cpm_log_set_level(CPM_LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_listen_spec),
		cmocka_unit_test(test_udp_recv_many),
		cmocka_unit_test(test_udp_stun_keepalive),
		cmocka_unit_test(test_tcp_framing),
		cmocka_unit_test(test_tcp_ping_pong),
		cmocka_unit_test(test_tcp_bad_framing_closes),
		cmocka_unit_test(test_tcp_too_big_closes),
		cmocka_unit_test(test_tcp_idle_timeout),
		cmocka_unit_test(test_tcp_connect_out),
		cmocka_unit_test(test_tcp_max_conns),
		cmocka_unit_test(test_ipv6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
