/* cli: the MSRP side of cpm chat (cli_msrp.c) — the SDP offer read back by
 * the server's own parser (src/sdp), RFC 6135 setup decisions, isComposing
 * documents (RFC 3994), the CPIM sender of room messages, outgoing chunks
 * (Byte-Range, '+'/'$', an end-line never inside a body) read back by
 * src/msrp, and a session fed by hand: chunks put back together in any
 * order and any split, 200 answers, 481 for another session's To-Path,
 * 413 for an oversized message, a Success-Report after the whole message,
 * an interrupted message, answers matched to our SENDs and their timeout,
 * the NICKNAME request (RFC 7701 §7.1); chat's argument rules.
 *
 * The cli sources are included directly, as in test_cli.c (cli_chat.c,
 * which needs libedit and a terminal, is not). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CPM_CLI_TEST 1
#include "../../../src/cli/cli_auth.c"
#include "../../../src/cli/cli_main.c"
#include "../../../src/cli/cli_msg.c"
#include "../../../src/cli/cli_ua.c"
#include "../../../src/cli/cli_http.c"
#include "../../../src/cli/cli_cmd.c"
#include "../../../src/cli/cli_inbox.c"
#include "../../../src/cli/cli_msrp.c"
#include "cli_argv.h"

/* ------------------------------------------------------------------- SDP */

static void test_sdp_offer_read_by_server(void **state)
{
	struct cpm_buf b;
	static struct cpm_sdp d;
	struct cpm_sdp_msrp ms;
	const char *path = "msrp://relay.example:2855/r1;tcp msrp://127.0.0.1:40000/abc123;tcp";

	cpm_buf_init(&b, 8192);
	assert_int_equal(cpm_cli_sdp_write(&b, "127.0.0.1", 40000, path, CPM_SDP_SETUP_ACTPASS, true), 0);
	assert_int_equal(cpm_sdp_parse(&d, b.p, b.len, NULL), 0);
	assert_int_equal(d.nmedia, 1);
	assert_true(cpm_sdp_media_is_msrp(&d.media[0]));
	assert_int_equal(d.media[0].port, 40000);
	assert_true(cpm_str_eq_cstr(d.media[0].fmts, "*"));
	assert_int_equal(cpm_sdp_msrp_get(&d, 0, &ms, NULL), 0);
	assert_true(cpm_str_eq_cstr(ms.path, path));
	assert_int_equal(ms.setup, CPM_SDP_SETUP_ACTPASS);
	assert_non_null(memmem(ms.accept_types.s, ms.accept_types.len, "message/cpim", 12));
	assert_non_null(memmem(ms.accept_types.s, ms.accept_types.len,
			       "application/im-iscomposing+xml", 30));
	assert_true(ms.accept_wrapped_types.len > 0);

	/* and by ours */
	struct cpm_cli_msrp_media m;
	const char *why;
	assert_int_equal(cpm_cli_sdp_read(cpm_buf_str(&b), &m, &why), 0);
	assert_string_equal(m.path, path);
	assert_int_equal(m.setup, CPM_SDP_SETUP_ACTPASS);

	/* IPv6, an answer without wrapped types */
	cpm_buf_reset(&b);
	assert_int_equal(cpm_cli_sdp_write(&b, "::1", 2855, "msrp://[::1]:2855/x1y2;tcp",
					   CPM_SDP_SETUP_PASSIVE, false), 0);
	assert_non_null(strstr(b.p, "c=IN IP6 ::1\r\n"));
	assert_null(strstr(b.p, "accept-wrapped-types"));
	assert_int_equal(cpm_cli_sdp_read(cpm_buf_str(&b), &m, &why), 0);
	assert_int_equal(m.setup, CPM_SDP_SETUP_PASSIVE);
	cpm_buf_free(&b);
}

static void test_sdp_read_refusals(void **state)
{
	struct cpm_cli_msrp_media m;
	const char *why = NULL;
	static const char audio[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
				    "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
	static const char refused[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
				      "t=0 0\r\nm=message 0 TCP/MSRP *\r\n"
				      "a=path:msrp://127.0.0.1:1/a1b2;tcp\r\n";
	static const char nopath[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
				     "t=0 0\r\nm=message 7 TCP/MSRP *\r\na=accept-types:text/plain\r\n";
	static const char badpath[] = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
				      "t=0 0\r\nm=message 7 TCP/MSRP *\r\na=path:msrp://;tcp\r\n";
	assert_int_equal(cpm_cli_sdp_read(CPM_STR(audio), &m, &why), CPM_ENOTFOUND);
	assert_non_null(why);
	assert_int_equal(cpm_cli_sdp_read(CPM_STR(refused), &m, &why), CPM_ENOTFOUND);
	assert_int_equal(cpm_cli_sdp_read(CPM_STR(nopath), &m, &why), CPM_EPARSE);
	assert_int_equal(cpm_cli_sdp_read(CPM_STR(badpath), &m, &why), CPM_EPARSE);
	assert_int_equal(cpm_cli_sdp_read(CPM_STR("not sdp"), &m, &why), CPM_EPARSE);
}

static void test_setup_roles(void **state)
{
	enum cpm_sdp_setup ans;
	/* we offered actpass (RFC 6135 §4.1) */
	assert_true(cpm_cli_msrp_offerer_active(CPM_SDP_SETUP_PASSIVE));
	assert_false(cpm_cli_msrp_offerer_active(CPM_SDP_SETUP_ACTIVE));
	assert_true(cpm_cli_msrp_offerer_active(CPM_SDP_SETUP_NONE)); /* RFC 4975 §5.4 */
	/* we answer */
	assert_false(cpm_cli_msrp_answerer_active(CPM_SDP_SETUP_ACTPASS, &ans));
	assert_int_equal(ans, CPM_SDP_SETUP_PASSIVE);
	assert_false(cpm_cli_msrp_answerer_active(CPM_SDP_SETUP_NONE, &ans));
	assert_int_equal(ans, CPM_SDP_SETUP_PASSIVE);
	assert_false(cpm_cli_msrp_answerer_active(CPM_SDP_SETUP_ACTIVE, &ans));
	assert_int_equal(ans, CPM_SDP_SETUP_PASSIVE);
	assert_true(cpm_cli_msrp_answerer_active(CPM_SDP_SETUP_PASSIVE, &ans));
	assert_int_equal(ans, CPM_SDP_SETUP_ACTIVE);
}

static void test_wants_cpim(void **state)
{
	assert_false(cpm_cli_msrp_wants_cpim("message/cpim text/plain application/im-iscomposing+xml"));
	assert_true(cpm_cli_msrp_wants_cpim("message/cpim"));
	assert_true(cpm_cli_msrp_wants_cpim("Message/CPIM application/im-iscomposing+xml"));
	assert_false(cpm_cli_msrp_wants_cpim("message/cpim text/*"));
	assert_false(cpm_cli_msrp_wants_cpim("*"));
	assert_false(cpm_cli_msrp_wants_cpim("text/plain"));
	assert_false(cpm_cli_msrp_wants_cpim(""));
}

/* ------------------------------------------------- isComposing, CPIM */

static void test_iscomposing(void **state)
{
	struct cpm_buf b;
	bool active = false;
	cpm_buf_init(&b, 4096);
	assert_int_equal(cpm_cli_iscomposing_build(&b, true, 60), 0);
	assert_non_null(strstr(b.p, "<refresh>60</refresh>"));
	assert_int_equal(cpm_cli_iscomposing_parse(cpm_buf_str(&b), &active), 0);
	assert_true(active);
	cpm_buf_reset(&b);
	assert_int_equal(cpm_cli_iscomposing_build(&b, false, 60), 0);
	assert_null(strstr(b.p, "refresh"));
	assert_int_equal(cpm_cli_iscomposing_parse(cpm_buf_str(&b), &active), 0);
	assert_false(active);
	cpm_buf_free(&b);
	/* another client's document, with a prefix */
	assert_int_equal(cpm_cli_iscomposing_parse(
				 CPM_STR("<?xml version='1.0'?><im:isComposing "
					 "xmlns:im='urn:ietf:params:xml:ns:im-iscomposing'>"
					 "<im:state> active </im:state></im:isComposing>"),
				 &active),
			 0);
	assert_true(active);
	assert_int_equal(cpm_cli_iscomposing_parse(CPM_STR("<isComposing><state>bored</state>"
							   "</isComposing>"), &active),
			 CPM_EPARSE);
	assert_int_equal(cpm_cli_iscomposing_parse(CPM_STR("<presence/>"), &active), CPM_EPARSE);
}

static void test_cpim_sender(void **state)
{
	char out[100];
	assert_true(cpm_cli_cpim_sender(CPM_STR("From: \"Bob B\" <sip:bob@example.test>\r\n"
						"To: <sip:room@example.test>\r\n\r\n"
						"Content-Type: text/plain\r\n\r\nhi"),
					out, sizeof out));
	assert_string_equal(out, "Bob B");
	assert_true(cpm_cli_cpim_sender(CPM_STR("To: <sip:room@example.test>\r\n"
						"From: <sip:Carol@Example.TEST;x=1>\r\n\r\n"
						"Content-Type: text/plain\r\n\r\nhi"),
					out, sizeof out));
	assert_string_equal(out, "Carol@example.test");
	/* a From in the content headers does not count */
	assert_false(cpm_cli_cpim_sender(CPM_STR("To: <sip:room@example.test>\r\n\r\n"
						 "From: <sip:x@y>\r\n\r\nhi"),
					 out, sizeof out));
	/* ours, built for a room without IMDN headers */
	struct cpm_buf b;
	cpm_buf_init(&b, 4096);
	assert_int_equal(cpm_cli_cpim_build(&b, "sip:alice@example.test", "sip:room@example.test",
					    NULL, NULL, "text/plain", CPM_STR("hello room"), 0),
			 0);
	assert_null(strstr(b.p, "imdn"));
	struct cpm_str ct, inner;
	assert_true(cpm_cli_cpim_unwrap(cpm_buf_str(&b), &ct, &inner));
	assert_true(cpm_str_eq_cstr(inner, "hello room"));
	assert_true(cpm_cli_cpim_sender(cpm_buf_str(&b), out, sizeof out));
	assert_string_equal(out, "alice@example.test");
	cpm_buf_free(&b);
}

/* ------------------------------------------------- conference events */

struct changes {
	char log[1024];
};

static void conf_cb(void *arg, const struct cpm_cli_conf_user *u, bool joined)
{
	struct changes *ch = arg;
	size_t n = strlen(ch->log);
	snprintf(ch->log + n, sizeof ch->log - n, "%s%s%s;", joined ? "+" : "-",
		 u->display[0] ? u->display : u->entity, "");
}

static void test_conference_info(void **state)
{
	struct cpm_cli_conf c;
	struct changes ch;
	memset(&c, 0, sizeof c);
	memset(&ch, 0, sizeof ch);
	/* RFC 4575 §6 style full document, with a namespace prefix */
	static const char full[] =
		"<?xml version=\"1.0\"?>\n"
		"<ci:conference-info xmlns:ci=\"urn:ietf:params:xml:ns:conference-info\" "
		"entity=\"sip:room@example.test\" state=\"full\" version=\"1\">\n"
		" <ci:users>\n"
		"  <ci:user entity=\"sip:alice@example.test\" state=\"full\">\n"
		"   <ci:display-text>Alice</ci:display-text>\n"
		"   <ci:endpoint entity=\"sip:alice@127.0.0.1\"><ci:status>connected</ci:status></ci:endpoint>\n"
		"  </ci:user>\n"
		"  <ci:user entity='sip:bob@example.test'>\n"
		"   <ci:endpoint entity=\"sip:bob@127.0.0.1\"><ci:status>connected</ci:status></ci:endpoint>\n"
		"  </ci:user>\n"
		"  <ci:user entity=\"sip:carol@example.test\">\n"
		"   <ci:endpoint><ci:status>dialing-out</ci:status></ci:endpoint>\n"
		"  </ci:user>\n"
		" </ci:users>\n"
		"</ci:conference-info>\n";
	assert_int_equal(cpm_cli_conf_apply(&c, CPM_STR(full), conf_cb, &ch), 0);
	assert_true(c.have_full);
	assert_int_equal(c.n, 3);
	assert_string_equal(ch.log, "+Alice;+sip:bob@example.test;");
	assert_false(c.u[2].present); /* carol is still being called */

	/* partial: carol connected, bob deleted */
	memset(&ch, 0, sizeof ch);
	static const char partial[] =
		"<conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\" "
		"entity=\"sip:room@example.test\" state=\"partial\" version=\"2\"><users>"
		"<user entity=\"sip:carol@example.test\" state=\"partial\"><display-text>Carol</display-text>"
		"<endpoint entity=\"sip:carol@127.0.0.1\" state=\"partial\"><status>connected</status>"
		"</endpoint></user>"
		"<user entity=\"sip:bob@example.test\" state=\"deleted\"/>"
		"</users></conference-info>";
	assert_int_equal(cpm_cli_conf_apply(&c, CPM_STR(partial), conf_cb, &ch), 0);
	assert_string_equal(ch.log, "+Carol;-sip:bob@example.test;");

	/* full again without alice: she left; a disconnected endpoint too */
	memset(&ch, 0, sizeof ch);
	static const char full2[] =
		"<conference-info entity=\"sip:room@example.test\" state=\"full\"><users>"
		"<user entity=\"sip:carol@example.test\"><endpoint><status>disconnected</status>"
		"</endpoint></user></users></conference-info>";
	assert_int_equal(cpm_cli_conf_apply(&c, CPM_STR(full2), conf_cb, &ch), 0);
	assert_string_equal(ch.log, "-Carol;-Alice;");
	/* users element absent: nobody there; not a document: an error */
	assert_int_equal(cpm_cli_conf_apply(&c, CPM_STR("<conference-info state=\"full\"/>"),
					    conf_cb, &ch), 0);
	assert_int_equal(cpm_cli_conf_apply(&c, CPM_STR("<presence/>"), conf_cb, &ch), CPM_EPARSE);
}

/* ---------------------------------------------------------------- chunks */

static void test_chunks_read_back(void **state)
{
	char body[40000], tids[8][CPM_MSRP_TID_LEN + 1];
	struct cpm_buf b;
	for (size_t i = 0; i < sizeof body; i++)
		body[i] = (char)('a' + i % 26);
	/* a piece that looks like an end-line: never with its own tid */
	memcpy(body + 100, "\r\n-------", 9);
	cpm_buf_init(&b, 1 << 20);
	struct cpm_cli_msrp_out o = {
		.to_path = CPM_STR("msrp://127.0.0.1:2/bob1;tcp"),
		.from_path = CPM_STR("msrp://127.0.0.1:1/alice1;tcp"),
		.message_id = CPM_STR("m1234567"),
		.ctype = CPM_STR("text/plain"),
		.body = { body, sizeof body },
		.success_report = true,
		.chunk = 16384,
	};
	assert_int_equal(cpm_cli_msrp_chunks(&b, &o, tids, 8), 3);
	size_t off = 0;
	uint64_t got = 0;
	for (int i = 0; i < 3; i++) {
		struct cpm_msrp_msg m;
		struct cpm_str data;
		char flag;
		size_t used;
		assert_int_equal(cpm_msrp_msg_parse(b.p + off, b.len - off, NULL, &m, &data, &flag,
						    &used, NULL),
				 1);
		assert_true(cpm_str_eq_cstr(m.tid, tids[i]));
		assert_int_equal(m.method, CPM_MSRP_SEND);
		assert_true(m.has_range);
		assert_int_equal(m.range.start, got + 1);
		assert_int_equal(m.range.total, sizeof body);
		assert_int_equal(m.range.end, got + data.len);
		assert_int_equal(flag, i == 2 ? '$' : '+');
		assert_int_equal(m.success_report, CPM_MSRP_REP_YES);
		assert_memory_equal(data.s, body + got, data.len);
		got += data.len;
		off += used;
	}
	assert_int_equal(off, b.len);
	assert_int_equal(got, sizeof body);

	/* too many chunks for the tid array */
	assert_int_equal(cpm_cli_msrp_chunks(&b, &o, tids, 2), CPM_ELIMIT);
	/* the empty SEND that binds a connection: no body, no range */
	cpm_buf_reset(&b);
	o.body = CPM_STR_NULL;
	o.success_report = false;
	assert_int_equal(cpm_cli_msrp_chunks(&b, &o, tids, 8), 1);
	assert_null(strstr(b.p, "Byte-Range"));
	assert_null(strstr(b.p, "Content-Type"));
	assert_null(strstr(b.p, "Success-Report"));
	cpm_buf_free(&b);
}

/* ------------------------------------------------------------ a session */

struct seen {
	int messages, aborted, responses, reports, nicks;
	char body[70000];
	size_t body_len;
	char ctype[100];
	int last_code;
	bool last_last;
	char last_id[64];
	struct cpm_msrp_status st;
};

static void s_message(struct cpm_cli_msrp *m, struct cpm_str ctype, struct cpm_str body,
		      const char *id, void *arg)
{
	struct seen *s = arg;
	s->messages++;
	assert_true(body.len <= sizeof s->body);
	memcpy(s->body, body.s, body.len);
	s->body_len = body.len;
	cpm_str_copy(ctype, s->ctype, sizeof s->ctype);
	snprintf(s->last_id, sizeof s->last_id, "%s", id);
}

static void s_aborted(struct cpm_cli_msrp *m, const char *id, void *arg)
{
	((struct seen *)arg)->aborted++;
}

static void s_response(struct cpm_cli_msrp *m, const char *id, bool last, int code,
		       struct cpm_str comment, void *arg)
{
	struct seen *s = arg;
	s->responses++;
	s->last_code = code;
	s->last_last = last;
	snprintf(s->last_id, sizeof s->last_id, "%s", id);
}

static void s_report(struct cpm_cli_msrp *m, const char *id, const struct cpm_msrp_status *st,
		     const struct cpm_msrp_range *r, void *arg)
{
	struct seen *s = arg;
	s->reports++;
	s->st = *st;
}

static void s_nick(struct cpm_cli_msrp *m, int code, struct cpm_str comment, void *arg)
{
	struct seen *s = arg;
	s->nicks++;
	s->last_code = code;
}

static void session_init(struct cpm_cli_msrp *m, struct seen *s)
{
	memset(s, 0, sizeof *s);
	cpm_cli_msrp_init(m, false, 1000, 1000);
	snprintf(m->my_uri, sizeof m->my_uri, "msrp://127.0.0.1:2/bob1;tcp");
	cpm_cli_msrp_path_make(m);
	snprintf(m->to_path, sizeof m->to_path, "msrp://127.0.0.1:1/alice1;tcp");
	m->cb = (struct cpm_cli_msrp_cb){ .message = s_message, .aborted = s_aborted,
					  .response = s_response, .report = s_report,
					  .nickname = s_nick, .arg = s };
}

/* The chunks of a message from alice to m (bob), with chunk size chunk. */
static void alice_chunks(struct cpm_buf *b, const char *to, struct cpm_str body, size_t chunk,
			 bool report)
{
	char tids[128][CPM_MSRP_TID_LEN + 1];
	struct cpm_cli_msrp_out o = {
		.to_path = cpm_str_from_cstr(to),
		.from_path = CPM_STR("msrp://127.0.0.1:1/alice1;tcp"),
		.message_id = CPM_STR("msg0001"),
		.ctype = CPM_STR("text/plain;charset=UTF-8"),
		.body = body,
		.success_report = report,
		.chunk = chunk,
	};
	assert_true(cpm_cli_msrp_chunks(b, &o, tids, 128) > 0);
}

/* Count the responses with code in m's output, and REPORTs. */
static void out_count(const struct cpm_cli_msrp *m, int code, int *n_code, int *n_report,
		      struct cpm_msrp_range *rr)
{
	size_t off = 0;
	*n_code = *n_report = 0;
	while (off < m->out.len) {
		struct cpm_msrp_msg msg;
		struct cpm_str data;
		char flag;
		size_t used;
		assert_int_equal(cpm_msrp_msg_parse(m->out.p + off, m->out.len - off, NULL, &msg,
						    &data, &flag, &used, NULL),
				 1);
		if (!msg.is_request && msg.code == code) {
			(*n_code)++;
			/* hop by hop (§7.2): to the previous hop, from the
			 * URI the request named */
			assert_true(cpm_str_eq_cstr(msg.to_path, "msrp://127.0.0.1:1/alice1;tcp"));
			if (code == 200)
				assert_true(cpm_str_eq_cstr(msg.from_path, "msrp://127.0.0.1:2/bob1;tcp"));
		}
		if (msg.is_request && msg.method == CPM_MSRP_REPORT) {
			(*n_report)++;
			*rr = msg.range;
			assert_true(msg.has_status);
			assert_int_equal(msg.status.code, 200);
			assert_true(cpm_str_eq_cstr(msg.message_id, "msg0001"));
		}
		off += used;
	}
}

static void test_session_reassembly(void **state)
{
	struct cpm_cli_msrp m;
	struct seen s;
	struct cpm_buf b;
	static char body[50000];
	struct cpm_msrp_range rr;
	int n200, nrep;
	for (size_t i = 0; i < sizeof body; i++)
		body[i] = (char)(' ' + (i * 7) % 90);

	/* byte by byte, 1000-byte chunks, a Success-Report wanted */
	session_init(&m, &s);
	cpm_buf_init(&b, 1 << 20);
	alice_chunks(&b, m.my_uri, (struct cpm_str){ body, sizeof body }, 1000, true);
	for (size_t i = 0; i < b.len; i++)
		assert_int_equal(cpm_cli_msrp_feed(&m, b.p + i, 1), 0);
	assert_int_equal(s.messages, 1);
	assert_int_equal(s.body_len, sizeof body);
	assert_memory_equal(s.body, body, sizeof body);
	assert_string_equal(s.ctype, "text/plain;charset=UTF-8");
	assert_true(m.bound);
	out_count(&m, 200, &n200, &nrep, &rr);
	assert_int_equal(n200, 50);
	assert_int_equal(nrep, 1); /* §7.1.2: once, for the whole message */
	assert_int_equal(rr.start, 1);
	assert_int_equal(rr.end, sizeof body);
	assert_int_equal(rr.total, sizeof body);
	cpm_cli_msrp_free(&m);

	/* the chunks in reverse order, in one read: the same message */
	session_init(&m, &s);
	struct cpm_buf rev;
	cpm_buf_init(&rev, 1 << 20);
	size_t starts[64], n = 0, off = 0;
	while (off < b.len) {
		struct cpm_msrp_msg msg;
		struct cpm_str data;
		char flag;
		size_t used;
		assert_int_equal(cpm_msrp_msg_parse(b.p + off, b.len - off, NULL, &msg, &data, &flag,
						    &used, NULL), 1);
		starts[n++] = off;
		off += used;
	}
	starts[n] = b.len;
	for (size_t i = n; i-- > 0;)
		cpm_buf_append(&rev, b.p + starts[i], starts[i + 1] - starts[i]);
	assert_int_equal(cpm_cli_msrp_feed(&m, rev.p, rev.len), 0);
	assert_int_equal(s.messages, 1);
	assert_int_equal(s.body_len, sizeof body);
	assert_memory_equal(s.body, body, sizeof body);
	cpm_buf_free(&rev);
	cpm_cli_msrp_free(&m);
	cpm_buf_free(&b);
}

static void test_session_refusals(void **state)
{
	struct cpm_cli_msrp m;
	struct seen s;
	struct cpm_buf b;
	struct cpm_msrp_range rr;
	int n, nrep;

	/* another session's To-Path: 481 (§7.3), nothing shown */
	session_init(&m, &s);
	cpm_buf_init(&b, 1 << 20);
	alice_chunks(&b, "msrp://127.0.0.1:2/other9;tcp", CPM_STR("hello"), 1000, false);
	assert_int_equal(cpm_cli_msrp_feed(&m, b.p, b.len), 0);
	assert_int_equal(s.messages, 0);
	assert_false(m.bound);
	out_count(&m, 481, &n, &nrep, &rr);
	assert_int_equal(n, 1);
	cpm_cli_msrp_free(&m);

	/* a total over the limit: 413 at once */
	session_init(&m, &s);
	cpm_buf_reset(&b);
	cpm_buf_printf(&b, "MSRP t0001 SEND\r\nTo-Path: %s\r\nFrom-Path: msrp://127.0.0.1:1/alice1;tcp\r\n"
			   "Message-ID: big01\r\nByte-Range: 1-5/%u\r\nContent-Type: text/plain\r\n\r\n"
			   "hello\r\n-------t0001+\r\n",
		       m.my_uri, CPM_CLI_MSRP_MAX_MSG + 1);
	assert_int_equal(cpm_cli_msrp_feed(&m, b.p, b.len), 0);
	out_count(&m, 413, &n, &nrep, &rr);
	assert_int_equal(n, 1);
	assert_int_equal(s.messages, 0);
	cpm_cli_msrp_free(&m);

	/* interrupted by its sender ('#'): dropped, said once */
	session_init(&m, &s);
	cpm_buf_reset(&b);
	cpm_buf_printf(&b, "MSRP t0002 SEND\r\nTo-Path: %s\r\nFrom-Path: msrp://127.0.0.1:1/alice1;tcp\r\n"
			   "Message-ID: cut01\r\nByte-Range: 1-3/10\r\nContent-Type: text/plain\r\n\r\n"
			   "abc\r\n-------t0002#\r\n",
		       m.my_uri);
	assert_int_equal(cpm_cli_msrp_feed(&m, b.p, b.len), 0);
	assert_int_equal(s.aborted, 1);
	assert_int_equal(s.messages, 0);
	/* Failure-Report: no gets no answer (§7.1.1) */
	cpm_buf_reset(&m.out);
	cpm_buf_reset(&b);
	cpm_buf_printf(&b, "MSRP t0003 SEND\r\nTo-Path: %s\r\nFrom-Path: msrp://127.0.0.1:1/alice1;tcp\r\n"
			   "Message-ID: quiet1\r\nFailure-Report: no\r\nContent-Type: text/plain\r\n\r\n"
			   "psst\r\n-------t0003$\r\n",
		       m.my_uri);
	assert_int_equal(cpm_cli_msrp_feed(&m, b.p, b.len), 0);
	assert_int_equal(s.messages, 1);
	assert_int_equal(m.out.len, 0);
	/* garbage: the connection is done */
	assert_true(cpm_cli_msrp_feed(&m, "HTTP/1.1 200 OK\r\n\r\n", 19) < 0);
	cpm_cli_msrp_free(&m);
	cpm_buf_free(&b);
}

static void test_session_answers(void **state)
{
	struct cpm_cli_msrp m;
	struct seen s;
	char id[CPM_MSRP_MSGID_LEN + 1], id2[CPM_MSRP_MSGID_LEN + 1];
	char tids[4][CPM_MSRP_TID_LEN + 1];
	int k = 0;

	session_init(&m, &s);
	/* 2500 bytes in 1000-byte chunks: three SENDs waiting (no socket yet) */
	static char body[2500];
	memset(body, 'x', sizeof body);
	assert_int_equal(cpm_cli_msrp_send(&m, "text/plain", (struct cpm_str){ body, sizeof body },
					   true, CPM_MSRP_REP_ABSENT, id),
			 0);
	assert_int_equal(cpm_cli_msrp_pending_count(&m), 3);
	assert_int_equal(cpm_cli_msrp_queued(&m), m.out.len);
	for (size_t off = 0; off < m.out.len && k < 4;) {
		struct cpm_msrp_msg msg;
		struct cpm_str data;
		char flag;
		size_t used;
		assert_int_equal(cpm_msrp_msg_parse(m.out.p + off, m.out.len - off, NULL, &msg,
						    &data, &flag, &used, NULL), 1);
		assert_true(cpm_str_eq_cstr(msg.to_path, "msrp://127.0.0.1:1/alice1;tcp"));
		assert_true(cpm_str_eq_cstr(msg.from_path, m.my_uri));
		assert_true(cpm_str_eq_cstr(msg.message_id, id));
		cpm_str_copy(msg.tid, tids[k++], sizeof tids[0]);
		off += used;
	}
	assert_int_equal(k, 3);
	/* the answers, the last one first */
	char r[300];
	for (int i = 2; i >= 0; i--) {
		int len = snprintf(r, sizeof r, "MSRP %s 200 OK\r\nTo-Path: %s\r\n"
					       "From-Path: msrp://127.0.0.1:1/alice1;tcp\r\n-------%s$\r\n",
				   tids[i], m.my_uri, tids[i]);
		assert_int_equal(cpm_cli_msrp_feed(&m, r, (size_t)len), 0);
		assert_int_equal(s.last_code, 200);
		assert_string_equal(s.last_id, id);
		assert_int_equal(s.last_last, i == 2);
	}
	assert_int_equal(s.responses, 3);
	assert_int_equal(cpm_cli_msrp_pending_count(&m), 0);
	/* the Success-Report */
	int len = snprintf(r, sizeof r, "MSRP rep1 REPORT\r\nTo-Path: %s\r\n"
					"From-Path: msrp://127.0.0.1:1/alice1;tcp\r\nMessage-ID: %s\r\n"
					"Byte-Range: 1-2500/2500\r\nStatus: 000 200 OK\r\n-------rep1$\r\n",
			   m.my_uri, id);
	assert_int_equal(cpm_cli_msrp_feed(&m, r, (size_t)len), 0);
	assert_int_equal(s.reports, 1);
	assert_int_equal(s.st.code, 200);
	/* no answer to a REPORT (§7.1.2) */
	size_t before = m.out.len;
	assert_int_equal(before, cpm_cli_msrp_queued(&m));

	/* isComposing-like SEND with Failure-Report no: nothing waits */
	assert_int_equal(cpm_cli_msrp_send(&m, "application/im-iscomposing+xml", CPM_STR("<x/>"),
					   false, CPM_MSRP_REP_NO, id2),
			 0);
	assert_int_equal(cpm_cli_msrp_pending_count(&m), 0);
	assert_non_null(strstr(m.out.p + before, "Failure-Report: no"));

	/* a SEND nobody answers: code 0 after the transaction timeout */
	assert_int_equal(cpm_cli_msrp_send(&m, "text/plain", CPM_STR("hi"), false,
					   CPM_MSRP_REP_ABSENT, id2), 0);
	for (int i = 0; i < CPM_CLI_MSRP_PENDING; i++)
		if (m.pend[i].used)
			m.pend[i].sent_ms -= CPM_CLI_MSRP_TIMEOUT_MS + 1;
	s.last_code = -1;
	cpm_cli_msrp_service(&m, NULL, 0);
	assert_int_equal(s.last_code, 0);
	assert_string_equal(s.last_id, id2);

	/* RFC 7701 §7.1 NICKNAME */
	before = m.out.len;
	assert_int_equal(cpm_cli_msrp_nickname(&m, "Bob \"the\" builder"), 0);
	struct cpm_msrp_msg msg;
	struct cpm_str data;
	char flag;
	size_t used;
	assert_int_equal(cpm_msrp_msg_parse(m.out.p + before, m.out.len - before, NULL, &msg, &data,
					    &flag, &used, NULL), 1);
	assert_int_equal(msg.method, CPM_MSRP_OTHER);
	assert_true(cpm_str_eq_cstr(msg.method_s, "NICKNAME"));
	const struct cpm_msrp_hdr *h = NULL;
	for (unsigned i = 0; i < msg.nhdrs; i++)
		if (cpm_str_ieq_cstr(msg.hdrs[i].name, "Use-Nickname"))
			h = &msg.hdrs[i];
	assert_non_null(h);
	assert_true(cpm_str_eq_cstr(h->value, "\"Bob \\\"the\\\" builder\""));
	len = snprintf(r, sizeof r, "MSRP %.*s 425 Nickname in use\r\nTo-Path: %s\r\n"
				    "From-Path: msrp://127.0.0.1:1/alice1;tcp\r\n-------%.*s$\r\n",
		       CPM_STR_FMT(msg.tid), m.my_uri, CPM_STR_FMT(msg.tid));
	assert_int_equal(cpm_cli_msrp_feed(&m, r, (size_t)len), 0);
	assert_int_equal(s.nicks, 1);
	assert_int_equal(s.last_code, 425);
	cpm_cli_msrp_free(&m);
}

static void test_slot_put(void **state)
{
	struct cpm_cli_msrp_slot s;
	memset(&s, 0, sizeof s);
	cpm_buf_init(&s.data, CPM_CLI_MSRP_MAX_MSG);
	s.total = 10;
	assert_int_equal(cpm_cli_msrp_slot_put(&s, 6, CPM_STR("world")), 0);
	assert_int_equal(s.data.len, 10);
	assert_int_equal(cpm_cli_msrp_slot_put(&s, 1, CPM_STR("hello")), 0);
	assert_memory_equal(s.data.p, "helloworld", 10);
	assert_int_equal(s.received, 10);
	/* past the announced total */
	assert_int_equal(cpm_cli_msrp_slot_put(&s, 9, CPM_STR("xyz")), CPM_ETOOBIG);
	cpm_buf_free(&s.data);
}

/* ------------------------------------------------------------- arguments */

static int parse(struct cpm_cli_args *a, char *err, size_t errsz, ...)
{
	va_list ap;
	va_start(ap, errsz);
	int rc = cli_argv_parse(a, err, errsz, ap);
	va_end(ap);
	return rc;
}

static void test_chat_args(void **state)
{
	struct cpm_cli_args a;
	char err[300];
	assert_int_equal(parse(&a, err, sizeof err, "chat", "bob", "--send", "hi", "--report",
			       "--relay", "msrp://127.0.0.1:2855;tcp", "--chunk", "2048", NULL),
			 0);
	assert_int_equal(a.cmd, CPM_CLI_CMD_CHAT);
	assert_string_equal(a.pos[0], "bob");
	assert_string_equal(a.chat_send, "hi");
	assert_true(a.report);
	assert_string_equal(a.relay, "msrp://127.0.0.1:2855;tcp");
	assert_int_equal(a.chunk, 2048);
	assert_int_equal(parse(&a, err, sizeof err, "chat", "--accept", "--print", "--count", "2",
			       "--duration", "30", NULL),
			 0);
	assert_true(a.accept && a.print);
	assert_int_equal(a.count, 2);
	assert_int_equal(parse(&a, err, sizeof err, "chat", NULL), CPM_EINVAL);
	assert_int_equal(parse(&a, err, sizeof err, "chat", "--accept", "bob", NULL), CPM_EINVAL);
	assert_int_equal(parse(&a, err, sizeof err, "chat", "--accept", "--send", "x", NULL),
			 CPM_EINVAL);
	assert_int_equal(parse(&a, err, sizeof err, "chat", "bob", "--relay", "http://x", NULL),
			 CPM_EINVAL);
	assert_int_equal(parse(&a, err, sizeof err, "chat", "bob", "--relay", "msrps://x:1;tcp", NULL),
			 CPM_EINVAL);
	assert_int_equal(parse(&a, err, sizeof err, "chat", "bob", "--chunk", "10", NULL), CPM_EINVAL);
	/* the config key */
	cpm_cli_args_init(&a);
	static const char conf[] = "relay = msrp://[::1]:2855;tcp\n";
	assert_int_equal(cpm_cli_config_parse(&a, conf, sizeof conf - 1, "c", err, sizeof err), 0);
	assert_string_equal(a.relay, "msrp://[::1]:2855;tcp");
	static const char bad[] = "relay = sip:x\n";
	assert_int_equal(cpm_cli_config_parse(&a, bad, sizeof bad - 1, "c", err, sizeof err), CPM_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sdp_offer_read_by_server),
		cmocka_unit_test(test_sdp_read_refusals),
		cmocka_unit_test(test_setup_roles),
		cmocka_unit_test(test_wants_cpim),
		cmocka_unit_test(test_iscomposing),
		cmocka_unit_test(test_cpim_sender),
		cmocka_unit_test(test_conference_info),
		cmocka_unit_test(test_chunks_read_back),
		cmocka_unit_test(test_session_reassembly),
		cmocka_unit_test(test_session_refusals),
		cmocka_unit_test(test_session_answers),
		cmocka_unit_test(test_slot_put),
		cmocka_unit_test(test_chat_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
