/* http — a minimal HTTP/1.1 server on the libuv loop (RFC 9110, RFC 9112),
 * the base of the REST API.  Requests are framed by Content-Length only
 * (no chunked request bodies), persistent connections and pipelining are
 * supported, responses are sent in request order.  A handler may answer
 * later (async store work): the connection waits for its reply.
 *
 * The parser (http_parse.c) depends on lib only, so it can be fuzzed; the
 * server (http.c) adds libuv and jansson.  Single-threaded: every call on
 * the loop's thread. */
#ifndef CPM_HTTP_H
#define CPM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/lib.h"

/* ------------------------------------------------------------------ parser */

#define CPM_HTTP_HDRS_CAP 128 /* hard cap of lim.max_headers */

struct cpm_http_limits {
	size_t max_head;      /* request line + header section bytes: 431 */
	size_t max_target;    /* request-target bytes: 414 */
	unsigned max_headers; /* header fields (<= CPM_HTTP_HDRS_CAP): 431 */
	size_t max_body;      /* Content-Length: 413 */
};

void cpm_http_limits_default(struct cpm_http_limits *l);

struct cpm_http_hdr {
	struct cpm_str name;  /* as received */
	struct cpm_str value; /* without surrounding whitespace */
};

/* A parsed request.  Every slice points into the caller's buffer. */
struct cpm_http_req {
	struct cpm_str method; /* case-sensitive token (RFC 9110 §9.1) */
	struct cpm_str target; /* request-target as received */
	struct cpm_str path;   /* "/a/b" (absolute-form: the path part) */
	struct cpm_str query;  /* after '?', without it; empty if none */
	int minor;	       /* HTTP/1.<minor>: 0 or 1 (1.x > 1 acts as 1) */
	struct cpm_http_hdr hdrs[CPM_HTTP_HDRS_CAP];
	unsigned nhdrs;
	struct cpm_str body;
	bool keep_alive;      /* the connection may carry another request */
	bool expect_continue; /* "Expect: 100-continue" */
};

/* Case-insensitive header lookup (RFC 9110 §5.1): the first field of that
 * name, or false. */
bool cpm_http_req_header(const struct cpm_http_req *r, const char *name,
			 struct cpm_str *value);

/* Incremental parser state for one request.  Feed it the bytes buffered
 * since the start of the request (the same prefix, growing; the buffer may
 * move between calls). */
struct cpm_http_parser {
	struct cpm_http_req req;
	size_t scan;	 /* bytes already scanned for the end of the head */
	size_t start;	 /* request line start (after leading empty lines) */
	size_t line;	 /* start of the current line */
	bool rl_checked; /* request line complete and valid */
	size_t head_len; /* 0 until the head is complete */
	size_t body_len;
	size_t used;	 /* after 1: bytes of this request (consume them) */
	int status;	 /* after an error: the status to answer */
	const char *reason; /* after an error: why (static text) */
	bool head_ready;    /* head complete, body pending */
};

void cpm_http_parser_init(struct cpm_http_parser *p);
/* 1: p->req is complete (p->used bytes), 0: need more bytes, negative:
 * malformed or over a limit; p->status (400, 411, 413, 414, 431, 501, 505)
 * and p->reason say why, and the connection must be closed after the
 * answer (the framing is lost).  lim NULL: defaults. */
int cpm_http_parse(struct cpm_http_parser *p, const char *buf, size_t len,
		   const struct cpm_http_limits *lim);

/* "Not Found" for 404...; "Unknown" for codes not in the table. */
const char *cpm_http_status_reason(int status);

/* ------------------------------------------------------------------ server */

#ifndef CPM_HTTP_PARSE_ONLY
#include <jansson.h>
#include <uv.h>

struct cpm_http;
struct cpm_http_resp;

struct cpm_http_conf {
	struct cpm_http_limits lim;
	unsigned idle_timeout_ms; /* between requests, and for the whole of
				   * one request to arrive */
	unsigned max_conns;	  /* over it: 503 and close */
	size_t max_out_buf;	  /* per connection: stop reading above it */
	char server_name[128];	  /* Server header value */
};

void cpm_http_conf_default(struct cpm_http_conf *c);

/* The request as a handler sees it.  Valid until the reply is sent (the
 * connection stops reading while a reply is pending) or the abort
 * callback runs. */
struct cpm_http_request {
	const struct cpm_http_req *req;
	const char *peer; /* "127.0.0.1:4711" */
	bool head;	  /* HEAD served by a GET route: the body is dropped */
};

/* Must lead, now or later, to exactly one cpm_http_reply* call on resp,
 * unless the abort callback runs first. */
typedef void cpm_http_handler_cb(void *arg, const struct cpm_http_request *rq,
				 struct cpm_http_resp *resp);

int cpm_http_new(uv_loop_t *loop, const struct cpm_http_conf *conf,
		 struct cpm_http **out);
/* Bind and listen (port 0: ephemeral).  CPM_EIO when the bind fails (the
 * log says why), CPM_ESTATE if already listening. */
int cpm_http_listen(struct cpm_http *h, const struct sockaddr *addr);
/* The bound port, 0 if not listening. */
uint16_t cpm_http_port(const struct cpm_http *h);
/* path ending in '*' ("/m/" then "*"): every path starting with what precedes
 * the '*'; otherwise the exact path (query excluded).  method "*": any.
 * A GET route also serves HEAD (RFC 9110 §9.3.2).  The exact match wins
 * over prefixes, the longest prefix over shorter ones.  Unknown path: 404;
 * known path, other method: 405 with Allow (RFC 9110 §15.5.6). */
int cpm_http_route(struct cpm_http *h, const char *method, const char *path,
		   cpm_http_handler_cb *cb, void *arg);

/* Add a header to the pending response (before the reply call), e.g.
 * Location, Allow.  name and value must be free of CR/LF: CPM_EINVAL. */
int cpm_http_resp_header(struct cpm_http_resp *resp, const char *name,
			 const char *value);
/* Called (once) if the connection goes away before the reply; resp is
 * then invalid and no reply may follow. */
void cpm_http_resp_on_abort(struct cpm_http_resp *resp,
			    void (*cb)(void *arg), void *arg);
/* Send the response: status line, Date, Server, Content-Length,
 * Content-Type (application/octet-stream if NULL), the extra headers,
 * body.  resp is invalid afterwards. */
int cpm_http_reply(struct cpm_http_resp *resp, int status,
		   const char *content_type, struct cpm_str body);
/* As cpm_http_reply with application/json; takes the reference of j
 * (decref'd here, also on errors; NULL j: 500). */
int cpm_http_reply_json(struct cpm_http_resp *resp, int status, json_t *j);
/* {"status":N,"error":"<reason phrase>"} */
int cpm_http_reply_error(struct cpm_http_resp *resp, int status);

/* Close the listening socket; keep-alive connections then get
 * "Connection: close" on their next response. */
void cpm_http_stop_accepting(struct cpm_http *h);
unsigned cpm_http_conn_count(const struct cpm_http *h);
/* Close every handle (pending responses are aborted); the caller then
 * runs the loop until it is empty (memory goes in the close callbacks). */
void cpm_http_free(struct cpm_http *h);
#endif

#endif
