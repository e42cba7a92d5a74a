/* chat: SDP offer/answer for the server's MSRP sessions (RFC 3264, RFC 4975
 * §8, RFC 6135 a=setup). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat/chat.h"

#define OURS "msrp://127.0.0.1:2855/0123456789abcdef0123;tcp"

static const char *const extra[] = { "chatroom:nickname private-messages" };

static struct cpm_chat_sdp_params params(void)
{
	return (struct cpm_chat_sdp_params){
		.host = "127.0.0.1",
		.port = 2855,
		.path = OURS,
		.accept_types = "message/cpim text/plain application/im-iscomposing+xml",
		.accept_wrapped = "text/plain application/im-iscomposing+xml",
		.max_size = 1048576,
		.extra = extra,
		.nextra = 1,
		.sess_id = 42,
	};
}

static const char *offer_fmt = "v=0\r\n"
			       "o=alice 1 1 IN IP4 10.0.0.1\r\n"
			       "s=-\r\n"
			       "c=IN IP4 10.0.0.1\r\n"
			       "t=0 0\r\n"
			       "m=audio 4000 RTP/AVP 0\r\n"
			       "m=message 7777 TCP/MSRP *\r\n"
			       "a=accept-types:%s\r\n"
			       "a=path:msrp://10.0.0.9:2855/r1;tcp msrp://10.0.0.1:7777/a1;tcp\r\n"
			       "%s";

static int answer(const char *types, const char *more, struct cpm_buf *b,
		  struct cpm_chat_sdp_peer *peer, const char **why)
{
	char offer[1024];
	snprintf(offer, sizeof offer, offer_fmt, types, more);
	struct cpm_chat_sdp_params p = params();
	return cpm_chat_sdp_answer(cpm_str_from_cstr(offer), &p, b, peer, why);
}

static void test_answer(void **state)
{
	(void)state;
	struct cpm_buf b;
	cpm_buf_init(&b, 8192);
	struct cpm_chat_sdp_peer peer;
	const char *why;
	assert_int_equal(answer("message/cpim text/plain", "", &b, &peer, &why), 0);
	/* the audio line refused in place, the MSRP one answered */
	assert_non_null(strstr(b.p, "m=audio 0 RTP/AVP 0\r\nm=message 2855 TCP/MSRP *\r\n"));
	assert_non_null(strstr(b.p, "a=path:" OURS "\r\n"));
	assert_non_null(strstr(b.p, "a=accept-types:message/cpim text/plain"));
	assert_non_null(strstr(b.p, "a=accept-wrapped-types:text/plain"));
	assert_non_null(strstr(b.p, "a=setup:passive\r\n"));
	assert_non_null(strstr(b.p, "a=max-size:1048576\r\n"));
	assert_non_null(strstr(b.p, "a=chatroom:nickname private-messages\r\n"));
	assert_non_null(strstr(b.p, "c=IN IP4 127.0.0.1\r\n"));
	assert_int_equal(peer.media, 1);
	assert_string_equal(peer.path, "msrp://10.0.0.9:2855/r1;tcp msrp://10.0.0.1:7777/a1;tcp");
	assert_false(peer.we_connect);
	/* and it parses back */
	struct cpm_sdp d;
	assert_int_equal(cpm_sdp_parse(&d, b.p, b.len, NULL), 0);
	assert_int_equal(d.nmedia, 2);

	/* a=setup:passive: we connect; actpass: we stay passive */
	cpm_buf_reset(&b);
	assert_int_equal(answer("*", "a=setup:passive\r\n", &b, &peer, &why), 0);
	assert_true(peer.we_connect);
	assert_non_null(strstr(b.p, "a=setup:active\r\n"));
	cpm_buf_reset(&b);
	assert_int_equal(answer("text/*", "a=setup:actpass\r\n", &b, &peer, &why), 0);
	assert_false(peer.we_connect);
	assert_non_null(strstr(b.p, "a=setup:passive\r\n"));
	cpm_buf_free(&b);
}

static void test_answer_refused(void **state)
{
	(void)state;
	struct cpm_buf b;
	cpm_buf_init(&b, 8192);
	struct cpm_chat_sdp_peer peer;
	const char *why = NULL;
	assert_int_equal(answer("image/png", "", &b, &peer, &why), CPM_EUNSUPP);
	assert_string_equal(why, "no common accept-types");
	assert_int_equal(peer.media, -1);
	cpm_buf_reset(&b);
	assert_int_equal(answer("*", "a=setup:holdconn\r\n", &b, &peer, &why), CPM_EUNSUPP);
	cpm_buf_reset(&b);
	struct cpm_chat_sdp_params p = params();
	assert_int_equal(cpm_chat_sdp_answer(CPM_STR("v=0\r\nbogus\r\n"), &p, &b, &peer, &why),
			 CPM_EPARSE);
	cpm_buf_reset(&b);
	const char *audio = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\n"
			    "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
	assert_int_equal(cpm_chat_sdp_answer(cpm_str_from_cstr(audio), &p, &b, &peer, &why),
			 CPM_EUNSUPP);
	cpm_buf_reset(&b);
	/* an msrps path cannot be served */
	const char *tls = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\n"
			  "t=0 0\r\nm=message 1 TCP/MSRP *\r\na=accept-types:*\r\n"
			  "a=path:msrps://1.2.3.4:1/x;tcp\r\n";
	assert_int_equal(cpm_chat_sdp_answer(cpm_str_from_cstr(tls), &p, &b, &peer, &why),
			 CPM_EUNSUPP);
	cpm_buf_free(&b);
}

static void test_offer_and_answer(void **state)
{
	(void)state;
	struct cpm_buf b;
	cpm_buf_init(&b, 8192);
	struct cpm_chat_sdp_params p = params();
	assert_int_equal(cpm_chat_sdp_offer(&p, &b), 0);
	assert_non_null(strstr(b.p, "m=message 2855 TCP/MSRP *\r\n"));
	assert_non_null(strstr(b.p, "a=setup:actpass\r\n"));
	/* the peer answers our offer: we read its path and role */
	struct cpm_chat_sdp_peer peer;
	const char *why;
	const char *ans = "v=0\r\no=bob 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\n"
			  "t=0 0\r\nm=message 8888 TCP/MSRP *\r\na=accept-types:text/plain\r\n"
			  "a=path:msrp://10.0.0.2:8888/b2;tcp\r\na=setup:passive\r\n";
	assert_int_equal(cpm_chat_sdp_read_answer(cpm_str_from_cstr(ans), &peer, &why), 0);
	assert_true(peer.we_connect);
	assert_string_equal(peer.path, "msrp://10.0.0.2:8888/b2;tcp");
	const char *act = "v=0\r\no=bob 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\n"
			  "t=0 0\r\nm=message 8888 TCP/MSRP *\r\na=accept-types:text/plain\r\n"
			  "a=path:msrp://10.0.0.2:8888/b2;tcp\r\na=setup:active\r\n";
	assert_int_equal(cpm_chat_sdp_read_answer(cpm_str_from_cstr(act), &peer, &why), 0);
	assert_false(peer.we_connect);
	const char *refused = "v=0\r\no=bob 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\n"
			      "t=0 0\r\nm=message 0 TCP/MSRP *\r\n";
	assert_int_equal(cpm_chat_sdp_read_answer(cpm_str_from_cstr(refused), &peer, &why),
			 CPM_EUNSUPP);
	/* IPv6 host: IP6 without brackets */
	cpm_buf_reset(&b);
	p.host = "[::1]";
	assert_int_equal(cpm_chat_sdp_offer(&p, &b), 0);
	assert_non_null(strstr(b.p, "c=IN IP6 ::1\r\n"));
	cpm_buf_free(&b);
}

static void test_types_meet(void **state)
{
	(void)state;
	assert_true(cpm_chat_sdp_types_meet(CPM_STR("text/plain"), CPM_STR("message/cpim text/plain")));
	assert_true(cpm_chat_sdp_types_meet(CPM_STR("*"), CPM_STR("message/cpim")));
	assert_true(cpm_chat_sdp_types_meet(CPM_STR("MESSAGE/*"), CPM_STR("message/cpim")));
	assert_false(cpm_chat_sdp_types_meet(CPM_STR("image/png"), CPM_STR("message/cpim text/plain")));
	assert_false(cpm_chat_sdp_types_meet(CPM_STR("message/*"), CPM_STR("text/plain")));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_answer_refused),
		cmocka_unit_test(test_offer_and_answer),
		cmocka_unit_test(test_types_meet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
