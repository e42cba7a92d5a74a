/* chat: the B2BUA's anchoring decision (seed 001's m=messaging line,
 * a=cpm-anchor, b2bua.anchor) and its SDP rewriting (seed 001 Figs. 5/6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chat/chat.h"

static const char *head = "v=0\r\n"
			  "o=alice 1 1 IN IP4 10.0.0.1\r\n"
			  "s=-\r\n"
			  "c=IN IP4 10.0.0.1\r\n"
			  "t=0 0\r\n";

/* Decide on head + media. */
static int decide(const char *media, enum cpm_chat_anchor pol, struct cpm_chat_b2b_plan *p)
{
	static char buf[4096];
	snprintf(buf, sizeof buf, "%s%s", head, media);
	static struct cpm_sdp d;
	assert_int_equal(cpm_sdp_parse(&d, buf, strlen(buf), NULL), 0);
	return cpm_chat_b2b_decide(&d, pol, p);
}

static void test_policy_parse(void **state)
{
	(void)state;
	enum cpm_chat_anchor a;
	assert_int_equal(cpm_chat_anchor_parse("never", &a), 0);
	assert_int_equal(a, CPM_CHAT_ANCHOR_NEVER);
	assert_int_equal(cpm_chat_anchor_parse("requested", &a), 0);
	assert_int_equal(a, CPM_CHAT_ANCHOR_REQUESTED);
	assert_int_equal(cpm_chat_anchor_parse("always", &a), 0);
	assert_int_equal(a, CPM_CHAT_ANCHOR_ALWAYS);
	assert_int_equal(cpm_chat_anchor_parse("Always", &a), CPM_EINVAL);
	assert_int_equal(cpm_chat_anchor_parse("", &a), CPM_EINVAL);
}

static void test_decide_seed_line(void **state)
{
	(void)state;
	struct cpm_chat_b2b_plan p;
	/* seed 001 Fig. 5 */
	assert_int_equal(decide("m=messaging 3456 IMTP/instant MESSAGE/instant html\r\n",
				CPM_CHAT_ANCHOR_REQUESTED, &p),
			 1);
	assert_int_equal(p.transport, CPM_CHAT_B2B_MESSAGE);
	assert_false(p.sf);
	assert_true(p.requested);
	assert_int_equal(p.media, 0);
	/* S&F on either transport makes the session S&F */
	assert_int_equal(decide("m=audio 4000 RTP/AVP 0\r\n"
				"m=messaging 3456 IMTP/S&F MESSAGE/instant html\r\n",
				CPM_CHAT_ANCHOR_REQUESTED, &p),
			 1);
	assert_true(p.sf);
	assert_int_equal(p.media, 1);
	assert_int_equal(decide("m=messaging 3456 MESSAGE/S&F html\r\n",
				CPM_CHAT_ANCHOR_REQUESTED, &p),
			 1);
	assert_true(p.sf);
	/* IMTP alone: asked, but nothing the server speaks */
	assert_int_equal(decide("m=messaging 3456 IMTP/instant html\r\n",
				CPM_CHAT_ANCHOR_REQUESTED, &p),
			 CPM_EUNSUPP);
	/* a refused section (port 0) asks nothing */
	assert_int_equal(decide("m=messaging 0 MESSAGE/instant html\r\n",
				CPM_CHAT_ANCHOR_ALWAYS, &p),
			 0);
	/* a bad mode */
	assert_int_equal(decide("m=messaging 3456 MESSAGE/later html\r\n",
				CPM_CHAT_ANCHOR_REQUESTED, &p),
			 CPM_EPARSE);
	/* never: nothing is anchored, whatever the offer says */
	assert_int_equal(decide("m=messaging 3456 IMTP/instant MESSAGE/instant html\r\n",
				CPM_CHAT_ANCHOR_NEVER, &p),
			 0);
	assert_int_equal(p.transport, CPM_CHAT_B2B_NONE);
}

static void test_decide_msrp(void **state)
{
	(void)state;
	struct cpm_chat_b2b_plan p;
	const char *plain = "m=message 7777 TCP/MSRP *\r\n"
			    "a=accept-types:text/plain\r\n"
			    "a=path:msrp://10.0.0.1:7777/abc;tcp\r\n";
	assert_int_equal(decide(plain, CPM_CHAT_ANCHOR_REQUESTED, &p), 0);
	assert_int_equal(decide(plain, CPM_CHAT_ANCHOR_ALWAYS, &p), 1);
	assert_int_equal(p.transport, CPM_CHAT_B2B_MSRP);
	assert_false(p.requested);
	assert_false(p.sf);
	char buf[512];
	snprintf(buf, sizeof buf, "%sa=cpm-anchor:S&F\r\n", plain);
	assert_int_equal(decide(buf, CPM_CHAT_ANCHOR_REQUESTED, &p), 1);
	assert_true(p.requested);
	assert_true(p.sf);
	snprintf(buf, sizeof buf, "%sa=cpm-anchor\r\n", plain);
	assert_int_equal(decide(buf, CPM_CHAT_ANCHOR_REQUESTED, &p), 1);
	assert_false(p.sf);
	snprintf(buf, sizeof buf, "%sa=cpm-anchor:sometimes\r\n", plain);
	assert_int_equal(decide(buf, CPM_CHAT_ANCHOR_REQUESTED, &p), CPM_EPARSE);
	/* at session level it applies to the MSRP section */
	snprintf(buf, sizeof buf, "a=cpm-anchor:instant\r\nm=audio 4000 RTP/AVP 0\r\n%s", plain);
	assert_int_equal(decide(buf, CPM_CHAT_ANCHOR_REQUESTED, &p), 1);
	assert_int_equal(p.media, 1);
	/* the seed's line wins over an MSRP section */
	snprintf(buf, sizeof buf, "%sm=messaging 3456 MESSAGE/instant html\r\n", plain);
	assert_int_equal(decide(buf, CPM_CHAT_ANCHOR_ALWAYS, &p), 1);
	assert_int_equal(p.transport, CPM_CHAT_B2B_MESSAGE);
	assert_int_equal(p.media, 1);
	/* audio alone: nothing to anchor even with always */
	assert_int_equal(decide("m=audio 4000 RTP/AVP 0\r\n", CPM_CHAT_ANCHOR_ALWAYS, &p), 0);
}

static void test_rewrite_seed(void **state)
{
	(void)state;
	/* seed 001 Fig. 5 -> Fig. 6: the originator's address and port
	 * become the server's */
	const char *in = "v=0\r\n"
			 "o=ims-a 2890844526 2890842807 IN IP4 10.0.0.1\r\n"
			 "s=chat\r\n"
			 "c=IN IP4 10.0.0.1\r\n"
			 "t=0 0\r\n"
			 "m=audio 4000 RTP/AVP 0\r\n"
			 "c=IN IP4 10.0.0.9\r\n"
			 "a=rtpmap:0 PCMU/8000\r\n"
			 "m=messaging 3456 IMTP/instant MESSAGE/instant html\r\n"
			 "i=a chat\r\n"
			 "a=sendrecv\r\n";
	struct cpm_chat_b2b_plan plan = { CPM_CHAT_B2B_MESSAGE, false, true, 1 };
	struct cpm_chat_b2b_rw rw = { "192.0.2.7", 5680, NULL, NULL };
	struct cpm_buf out;
	cpm_buf_init(&out, 8192);
	assert_int_equal(cpm_chat_b2b_rewrite(cpm_str_from_cstr(in), &plan, &rw, &out), 0);
	assert_string_equal(out.p, "v=0\r\n"
				   "o=ims-a 2890844526 2890842807 IN IP4 192.0.2.7\r\n"
				   "s=chat\r\n"
				   "c=IN IP4 192.0.2.7\r\n"
				   "t=0 0\r\n"
				   "m=audio 0 RTP/AVP 0\r\n"
				   "a=rtpmap:0 PCMU/8000\r\n"
				   "m=messaging 5680 MESSAGE/instant html\r\n"
				   "i=a chat\r\n"
				   "a=sendrecv\r\n");
	/* IPv6 */
	rw.host = "::1";
	assert_int_equal(cpm_chat_b2b_rewrite(cpm_str_from_cstr(in), &plan, &rw, &out), 0);
	assert_non_null(strstr(out.p, "o=ims-a 2890844526 2890842807 IN IP6 ::1\r\n"));
	assert_non_null(strstr(out.p, "c=IN IP6 ::1\r\n"));
	/* no such section, bad SDP */
	plan.media = 2;
	assert_int_equal(cpm_chat_b2b_rewrite(cpm_str_from_cstr(in), &plan, &rw, &out), CPM_EINVAL);
	plan.media = 1;
	assert_int_equal(cpm_chat_b2b_rewrite(CPM_STR("v=0\r\nbogus\r\n"), &plan, &rw, &out),
			 CPM_EPARSE);
	cpm_buf_free(&out);
}

static void test_rewrite_msrp(void **state)
{
	(void)state;
	const char *in = "v=0\r\n"
			 "o=alice 1 1 IN IP4 10.0.0.1\r\n"
			 "s=-\r\n"
			 "c=IN IP4 10.0.0.1\r\n"
			 "t=0 0\r\n"
			 "a=cpm-anchor:S&F\r\n"
			 "m=message 7777 TCP/MSRP *\r\n"
			 "a=accept-types:message/cpim text/plain\r\n"
			 "a=accept-wrapped-types:*\r\n"
			 "a=max-size:65536\r\n"
			 "a=path:msrp://10.0.0.1:7777/abc;tcp\r\n"
			 "a=setup:actpass\r\n";
	struct cpm_chat_b2b_plan plan = { CPM_CHAT_B2B_MSRP, true, true, 0 };
	struct cpm_chat_b2b_rw rw = { "127.0.0.1", 2855, "msrp://127.0.0.1:2855/s1;tcp",
				      "passive" };
	struct cpm_buf out;
	cpm_buf_init(&out, 8192);
	assert_int_equal(cpm_chat_b2b_rewrite(cpm_str_from_cstr(in), &plan, &rw, &out), 0);
	assert_string_equal(out.p, "v=0\r\n"
				   "o=alice 1 1 IN IP4 127.0.0.1\r\n"
				   "s=-\r\n"
				   "c=IN IP4 127.0.0.1\r\n"
				   "t=0 0\r\n"
				   "m=message 2855 TCP/MSRP *\r\n"
				   "a=accept-types:message/cpim text/plain\r\n"
				   "a=accept-wrapped-types:*\r\n"
				   "a=max-size:65536\r\n"
				   "a=path:msrp://127.0.0.1:2855/s1;tcp\r\n"
				   "a=setup:passive\r\n");
	/* setup NULL: the peer's a=setup stays */
	rw.setup = NULL;
	assert_int_equal(cpm_chat_b2b_rewrite(cpm_str_from_cstr(in), &plan, &rw, &out), 0);
	assert_non_null(strstr(out.p, "a=setup:actpass\r\n"));
	assert_null(strstr(out.p, "10.0.0.1"));
	assert_null(strstr(out.p, "cpm-anchor"));
	cpm_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_parse),
		cmocka_unit_test(test_decide_seed_line),
		cmocka_unit_test(test_decide_msrp),
		cmocka_unit_test(test_rewrite_seed),
		cmocka_unit_test(test_rewrite_msrp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
