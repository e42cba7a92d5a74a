/* http server: real sockets on 127.0.0.1 port 0, the loop bounded by a
 * timer.  Keep-alive, pipelining, 404/405, HEAD, async replies, aborts,
 * idle close, HTTP/1.0, errors, connection limit, 100-continue, stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http.h"

struct env {
	uv_loop_t loop;
	struct cpm_http *http;
	uint16_t port;
	uv_timer_t later;
	struct cpm_http_resp *held; /* async handler's response */
	int aborted;
	int calls;
};

static void h_echo(void *arg, const struct cpm_http_request *rq,
		   struct cpm_http_resp *resp)
{
	struct env *e = arg;
	e->calls++;
	char q[128];
	cpm_str_copy(rq->req->query, q, sizeof q);
	cpm_http_resp_header(resp, "X-Query", q);
	assert_int_equal(cpm_http_resp_header(resp, "Bad\r\nName", "x"), CPM_EINVAL);
	assert_int_equal(cpm_http_resp_header(resp, "X", "a\r\nb"), CPM_EINVAL);
	cpm_http_reply(resp, 200, "text/plain", rq->req->body);
}

static void h_json(void *arg, const struct cpm_http_request *rq,
		   struct cpm_http_resp *resp)
{
	struct env *e = arg;
	e->calls++;
	cpm_http_reply_json(resp, 201, json_pack("{s:s}", "path", "ok"));
}

static void h_204(void *arg, const struct cpm_http_request *rq,
		  struct cpm_http_resp *resp)
{
	cpm_http_reply(resp, 204, "text/plain", CPM_STR("dropped"));
}

static void later_cb(uv_timer_t *t)
{
	struct env *e = t->data;
	struct cpm_http_resp *r = e->held;
	e->held = NULL;
	if (r)
		cpm_http_reply(r, 202, "text/plain", CPM_STR("later"));
}

static void on_abort(void *arg)
{
	struct env *e = arg;
	e->aborted++;
	e->held = NULL;
	uv_timer_stop(&e->later);
}

/* answers 50 ms later, from a timer */
static void h_async(void *arg, const struct cpm_http_request *rq,
		    struct cpm_http_resp *resp)
{
	struct env *e = arg;
	e->calls++;
	e->held = resp;
	cpm_http_resp_on_abort(resp, on_abort, e);
	uv_timer_start(&e->later, later_cb, 50, 0);
}

static struct env *env_new(const struct cpm_http_conf *conf)
{
	struct env *e = calloc(1, sizeof *e);
	assert_non_null(e);
	assert_int_equal(uv_loop_init(&e->loop), 0);
	uv_timer_init(&e->loop, &e->later);
	e->later.data = e;
	struct cpm_http_conf c;
	if (conf)
		c = *conf;
	else
		cpm_http_conf_default(&c);
	snprintf(c.server_name, sizeof c.server_name, "cpmd-test");
	assert_int_equal(cpm_http_new(&e->loop, &c, &e->http), 0);
	assert_int_equal(cpm_http_route(e->http, "GET", "/echo", h_echo, e), 0);
	assert_int_equal(cpm_http_route(e->http, "POST", "/echo", h_echo, e), 0);
	assert_int_equal(cpm_http_route(e->http, "PUT", "/m/*", h_json, e), 0);
	assert_int_equal(cpm_http_route(e->http, "GET", "/m/special", h_echo, e), 0);
	assert_int_equal(cpm_http_route(e->http, "GET", "/async", h_async, e), 0);
	assert_int_equal(cpm_http_route(e->http, "DELETE", "/gone", h_204, e), 0);
	assert_int_equal(cpm_http_route(e->http, "GET", "bad", h_async, e), CPM_EINVAL);
	struct sockaddr_in a;
	uv_ip4_addr("127.0.0.1", 0, &a);
	assert_int_equal(cpm_http_listen(e->http, (struct sockaddr *)&a), 0);
	e->port = cpm_http_port(e->http);
	assert_true(e->port != 0);
	return e;
}

static void env_free(struct env *e)
{
	cpm_http_free(e->http);
	uv_close((uv_handle_t *)&e->later, NULL);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	free(e);
}

static int client(struct env *e)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(e->port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static void csend(int fd, const char *s)
{
	size_t n = strlen(s);
	assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

struct got {
	char buf[64 * 1024];
	size_t len;
	bool eof;
};

/* Complete responses in g (heads only for HEAD: nobody). */
static int count_responses(const struct got *g, bool nobody)
{
	int n = 0;
	size_t off = 0;
	while (off < g->len) {
		const char *end = memmem(g->buf + off, g->len - off, "\r\n\r\n", 4);
		if (!end)
			break;
		size_t head = (size_t)(end - (g->buf + off)) + 4;
		size_t cl = 0;
		const char *h = memmem(g->buf + off, head, "Content-Length: ", 16);
		if (h)
			cl = strtoul(h + 16, NULL, 10);
		if (memcmp(g->buf + off, "HTTP/1.1 1", 10) == 0)
			cl = 0; /* 1xx */
		else
			n++;
		if (nobody)
			cl = 0;
		if (off + head + cl > g->len) {
			n--;
			break;
		}
		off += head + cl;
	}
	return n;
}

/* Run the loop and read fd until want responses (or EOF with want < 0)
 * or ms have passed. */
static void pump(struct env *e, int fd, struct got *g, int want, bool nobody,
		 unsigned ms)
{
	uint64_t end = cpm_now_ms() + ms;
	while (cpm_now_ms() < end) {
		uv_run(&e->loop, UV_RUN_NOWAIT);
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 2) > 0) {
			ssize_t n = recv(fd, g->buf + g->len, sizeof g->buf - 1 - g->len, 0);
			if (n == 0 || (n < 0 && errno != EAGAIN)) {
				g->eof = true;
			} else if (n > 0) {
				g->len += (size_t)n;
				g->buf[g->len] = '\0';
			}
		}
		if (g->eof)
			break;
		if (want >= 0 && count_responses(g, nobody) >= want)
			break;
	}
	uv_run(&e->loop, UV_RUN_NOWAIT);
}

static void run_ms(struct env *e, unsigned ms)
{
	uint64_t end = cpm_now_ms() + ms;
	while (cpm_now_ms() < end) {
		uv_run(&e->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
}

static void test_keep_alive(void **state)
{
	struct env *e = env_new(NULL);
	int fd = client(e);
	struct got g = { 0 };
	csend(fd, "GET /echo?a=1 HTTP/1.1\r\nHost: x\r\n\r\n");
	pump(e, fd, &g, 1, false, 2000);
	assert_int_equal(count_responses(&g, false), 1);
	assert_true(strncmp(g.buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_non_null(strstr(g.buf, "\r\nDate: "));
	assert_non_null(strstr(g.buf, " GMT\r\n"));
	assert_non_null(strstr(g.buf, "\r\nServer: cpmd-test\r\n"));
	assert_non_null(strstr(g.buf, "\r\nContent-Length: 0\r\n"));
	assert_non_null(strstr(g.buf, "\r\nContent-Type: text/plain\r\n"));
	assert_non_null(strstr(g.buf, "\r\nX-Query: a=1\r\n"));
	assert_null(strstr(g.buf, "Connection:"));
	csend(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nping");
	pump(e, fd, &g, 2, false, 2000);
	assert_int_equal(count_responses(&g, false), 2);
	assert_false(g.eof);
	assert_non_null(strstr(g.buf, "\r\n\r\nping"));
	assert_int_equal(cpm_http_conn_count(e->http), 1);
	assert_int_equal(e->calls, 2);
	close(fd);
	run_ms(e, 50);
	assert_int_equal(cpm_http_conn_count(e->http), 0);
	env_free(e);
}

static void test_pipelined_with_async(void **state)
{
	struct env *e = env_new(NULL);
	int fd = client(e);
	struct got g = { 0 };
	csend(fd, "GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
		  "GET /async HTTP/1.1\r\nHost: x\r\n\r\n"
		  "GET /echo?n=3 HTTP/1.1\r\nHost: x\r\n\r\n"
		  "PUT /m/77 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
	pump(e, fd, &g, 4, false, 3000);
	assert_int_equal(count_responses(&g, false), 4);
	/* in request order, whatever the async delay */
	const char *r1 = strstr(g.buf, "X-Query: n=1");
	const char *r2 = strstr(g.buf, "HTTP/1.1 202 Accepted");
	const char *r3 = strstr(g.buf, "X-Query: n=3");
	const char *r4 = strstr(g.buf, "HTTP/1.1 201 Created");
	assert_true(r1 && r2 && r3 && r4);
	assert_true(r1 < r2 && r2 < r3 && r3 < r4);
	assert_non_null(strstr(g.buf, "later"));
	assert_non_null(strstr(g.buf, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(g.buf, "{\"path\":\"ok\"}"));
	close(fd);
	env_free(e);
}

static void test_404_405_head(void **state)
{
	struct env *e = env_new(NULL);
	int fd = client(e);
	struct got g = { 0 };
	csend(fd, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
	pump(e, fd, &g, 1, false, 2000);
	assert_true(strncmp(g.buf, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
	assert_non_null(strstr(g.buf, "{\"status\":404,\"error\":\"Not Found\"}"));
	assert_non_null(strstr(g.buf, "Content-Type: application/json\r\n"));

	g.len = 0;
	csend(fd, "DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n");
	pump(e, fd, &g, 1, false, 2000);
	assert_true(strncmp(g.buf, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
	assert_non_null(strstr(g.buf, "\r\nAllow: GET, POST, HEAD\r\n"));

	/* prefix route: PUT only; the exact /m/special wins for GET */
	g.len = 0;
	csend(fd, "GET /m/1 HTTP/1.1\r\nHost: x\r\n\r\n");
	pump(e, fd, &g, 1, false, 2000);
	assert_non_null(strstr(g.buf, " 405 "));
	assert_non_null(strstr(g.buf, "\r\nAllow: PUT\r\n"));
	g.len = 0;
	csend(fd, "GET /m/special?s HTTP/1.1\r\nHost: x\r\n\r\n");
	pump(e, fd, &g, 1, false, 2000);
	assert_non_null(strstr(g.buf, " 200 OK"));
	assert_non_null(strstr(g.buf, "X-Query: s"));
	/* the method is case-sensitive (RFC 9110 §9.1) */
	g.len = 0;
	csend(fd, "get /echo HTTP/1.1\r\nHost: x\r\n\r\n");
	pump(e, fd, &g, 1, false, 2000);
	assert_non_null(strstr(g.buf, " 405 "));

	/* HEAD through the GET route: the length of the GET, no body */
	g.len = 0;
	csend(fd, "HEAD /m/special HTTP/1.1\r\nHost: x\r\n\r\n"
		  "GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
	pump(e, fd, &g, 2, false, 2000);
	assert_true(strncmp(g.buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
	const char *second = strstr(g.buf + 1, "HTTP/1.1 200 OK\r\n");
	assert_non_null(second);
	assert_non_null(strstr(g.buf, "Content-Length: 0\r\n")); /* HEAD: empty echo */
	assert_non_null(strstr(second, "\r\n\r\nabc"));
	assert_false(g.eof);
	close(fd);
	env_free(e);
}

static void test_204(void **state)
{
	struct env *e = env_new(NULL);
	int fd = client(e);
	struct got g = { 0 };
	csend(fd, "DELETE /gone HTTP/1.1\r\nHost: x\r\n\r\n"
		  "GET /echo?after HTTP/1.1\r\nHost: x\r\n\r\n");
	pump(e, fd, &g, 2, false, 2000);
	assert_int_equal(count_responses(&g, false), 2);
	assert_true(strncmp(g.buf, "HTTP/1.1 204 No Content\r\n", 25) == 0);
	const char *second = strstr(g.buf, "HTTP/1.1 200 OK\r\n");
	assert_non_null(second);
	/* RFC 9110 §8.6: no Content-Length (nor content) in a 204 */
	const char *cl = strstr(g.buf, "Content-Length:");
	assert_true(cl > second);
	assert_null(strstr(g.buf, "dropped"));
	assert_non_null(strstr(second, "X-Query: after"));
	close(fd);
	env_free(e);
}

static void test_async_abort_on_free(void **state)
{
	struct env *e = env_new(NULL);
	int fd = client(e);
	struct got g = { 0 };
	csend(fd, "GET /async HTTP/1.1\r\nHost: x\r\n\r\n");
	uint64_t end = cpm_now_ms() + 2000;
	while (!e->held && cpm_now_ms() < end)
		run_ms(e, 1);
	assert_non_null(e->held);
	/* no idle timeout while a reply is owed */
	assert_int_equal(cpm_http_conn_count(e->http), 1);
	cpm_http_free(e->http);
	assert_int_equal(e->aborted, 1);
	assert_null(e->held);
	uv_close((uv_handle_t *)&e->later, NULL);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&e->loop), 0);
	{
		/* the client sees the connection closed, no response */
		for (int i = 0; i < 100 && !g.eof; i++) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			if (poll(&p, 1, 10) > 0) {
				ssize_t n = recv(fd, g.buf, sizeof g.buf, 0);
				if (n <= 0)
					g.eof = true;
				else
					g.len += (size_t)n;
			}
		}
	}
	assert_true(g.eof);
	assert_int_equal(g.len, 0);
	close(fd);
	free(e);
}

static void test_idle_close(void **state)
{
	struct cpm_http_conf c;
	cpm_http_conf_default(&c);
	c.idle_timeout_ms = 100;
	struct env *e = env_new(&c);
	int fd = client(e);
	struct got g = { 0 };
	/* one exchange, then silence */
	csend(fd, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
	pump(e, fd, &g, 1, false, 2000);
	assert_int_equal(count_responses(&g, false), 1);
	uint64_t t0 = cpm_now_ms();
	pump(e, fd, &g, -1, false, 2000);
	assert_true(g.eof);
	assert_true(cpm_now_ms() - t0 >= 80);
	assert_int_equal(cpm_http_conn_count(e->http), 0);
	close(fd);
	/* a partial request also times out */
	fd = client(e);
	memset(&g, 0, sizeof g);
	csend(fd, "GET /echo HTTP/1.1\r\nHo");
	pump(e, fd, &g, -1, false, 2000);
	assert_true(g.eof);
	assert_int_equal(g.len, 0);
	close(fd);
	/* a request dripping in byte by byte does not extend the timer */
	fd = client(e);
	memset(&g, 0, sizeof g);
	const char *drip = "GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa";
	uint64_t t1 = cpm_now_ms();
	for (size_t i = 0; drip[i] && !g.eof; i++) {
		char one[2] = { drip[i], 0 };
		send(fd, one, 1, MSG_NOSIGNAL);
		pump(e, fd, &g, -1, false, 20);
	}
	if (!g.eof)
		pump(e, fd, &g, -1, false, 2000);
	assert_true(g.eof);
	assert_true(cpm_now_ms() - t1 < 1000);
	assert_int_equal(g.len, 0);
	close(fd);
	env_free(e);
}

static void test_http10_and_close(void **state)
{
	struct env *e = env_new(NULL);
	int fd = client(e);
	struct got g = { 0 };
	csend(fd, "GET /echo HTTP/1.0\r\n\r\n");
	pump(e, fd, &g, -1, false, 3000);
	assert_true(g.eof);
	assert_int_equal(count_responses(&g, false), 1);
	assert_non_null(strstr(g.buf, "\r\nConnection: close\r\n"));
	close(fd);

	fd = client(e);
	memset(&g, 0, sizeof g);
	csend(fd, "GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	pump(e, fd, &g, 1, false, 2000);
	assert_non_null(strstr(g.buf, "\r\nConnection: keep-alive\r\n"));
	assert_false(g.eof);
	close(fd);

	/* Connection: close in 1.1: answered, then closed; what follows is
	 * not processed */
	fd = client(e);
	memset(&g, 0, sizeof g);
	int calls = e->calls;
	csend(fd, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
		  "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
	pump(e, fd, &g, -1, false, 3000);
	assert_true(g.eof);
	assert_int_equal(count_responses(&g, false), 1);
	assert_int_equal(e->calls, calls + 1);
	close(fd);
	env_free(e);
}

static void test_errors_close(void **state)
{
	struct cpm_http_conf c;
	cpm_http_conf_default(&c);
	c.lim.max_head = 1024;
	c.lim.max_body = 16;
	struct env *e = env_new(&c);
	static const struct {
		const char *req;
		const char *status;
	} cases[] = {
		{ "BROKEN\r\n\r\n", "400 Bad Request" },
		{ "GET /echo HTTP/2.0\r\nHost: x\r\n\r\n", "505 HTTP Version Not Supported" },
		{ "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		  "411 Length Required" },
		{ "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: br\r\n\r\n",
		  "501 Not Implemented" },
		{ "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n",
		  "413 Content Too Large" },
		{ "GET /echo HTTP/1.1\r\n\r\n", "400 Bad Request" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int fd = client(e);
		struct got g = { 0 };
		csend(fd, cases[i].req);
		pump(e, fd, &g, -1, false, 3000);
		assert_true(g.eof);
		if (!strstr(g.buf, cases[i].status))
			fail_msg("case %zu: got '%s'", i, g.buf);
		assert_non_null(strstr(g.buf, "\r\nConnection: close\r\n"));
		assert_non_null(strstr(g.buf, "\r\nServer: cpmd-test\r\n"));
		assert_non_null(strstr(g.buf, "Content-Type: application/json\r\n"));
		close(fd);
	}
	/* a head over the limit while the client keeps sending: 431 arrives
	 * (lingering close) */
	int fd = client(e);
	struct got g = { 0 };
	csend(fd, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: ");
	char chunk[512];
	memset(chunk, 'a', sizeof chunk - 1);
	chunk[sizeof chunk - 1] = '\0';
	for (int i = 0; i < 8; i++)
		send(fd, chunk, strlen(chunk), MSG_NOSIGNAL);
	pump(e, fd, &g, -1, false, 3000);
	assert_non_null(strstr(g.buf, "431 Request Header Fields Too Large"));
	close(fd);
	env_free(e);
}

static void test_expect_continue(void **state)
{
	struct env *e = env_new(NULL);
	int fd = client(e);
	struct got g = { 0 };
	csend(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
		  "Content-Length: 5\r\n\r\n");
	uint64_t end = cpm_now_ms() + 2000;
	while (!strstr(g.buf, "\r\n\r\n") && cpm_now_ms() < end)
		pump(e, fd, &g, 0, false, 10);
	assert_true(strncmp(g.buf, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0);
	csend(fd, "hello");
	pump(e, fd, &g, 1, false, 2000);
	assert_int_equal(count_responses(&g, false), 1);
	assert_non_null(strstr(g.buf, "200 OK"));
	assert_non_null(strstr(g.buf, "\r\n\r\nhello"));
	close(fd);
	env_free(e);
}

static void test_max_conns_and_stop(void **state)
{
	struct cpm_http_conf c;
	cpm_http_conf_default(&c);
	c.max_conns = 1;
	struct env *e = env_new(&c);
	int fd1 = client(e);
	struct got g1 = { 0 }, g2 = { 0 };
	csend(fd1, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
	pump(e, fd1, &g1, 1, false, 2000);
	int fd2 = client(e);
	pump(e, fd2, &g2, -1, false, 3000);
	assert_true(g2.eof);
	assert_non_null(strstr(g2.buf, "HTTP/1.1 503 Service Unavailable\r\n"));
	close(fd2);
	run_ms(e, 20);
	assert_int_equal(cpm_http_conn_count(e->http), 1);

	/* stopping: the listener closes, the next response says close */
	cpm_http_stop_accepting(e->http);
	run_ms(e, 20);
	assert_int_equal(cpm_http_port(e->http), 0);
	int fd3 = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(e->port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_not_equal(connect(fd3, (struct sockaddr *)&a, sizeof a), 0);
	close(fd3);
	g1.len = 0;
	csend(fd1, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
	pump(e, fd1, &g1, -1, false, 3000);
	assert_true(g1.eof);
	assert_non_null(strstr(g1.buf, "200 OK"));
	assert_non_null(strstr(g1.buf, "\r\nConnection: close\r\n"));
	close(fd1);
	env_free(e);
}

int main(void)
{
	cpm_log_set_level(CPM_LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_pipelined_with_async),
		cmocka_unit_test(test_404_405_head),
		cmocka_unit_test(test_204),
		cmocka_unit_test(test_async_abort_on_free),
		cmocka_unit_test(test_idle_close),
		cmocka_unit_test(test_http10_and_close),
		cmocka_unit_test(test_errors_close),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_max_conns_and_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
