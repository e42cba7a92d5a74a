/* libFuzzer harness for the pure half of src/im: the input is parsed as a
 * SIP request, then the sender's indicators, a URI-list body (RFC 5365,
 * libxml2) and the decision table run over it; the raw input is also read
 * as a profile text (cpmd user set) and as class values.  Invariants are
 * checked with abort(). */
#include <stdlib.h>
#include <string.h>

#include "im/im.h"

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static struct cpm_sip_msg msg;

static bool inside(struct cpm_str s, const uint8_t *d, size_t n)
{
	return s.len == 0 || (s.s >= (const char *)d && s.s + s.len <= (const char *)d + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cpm_sip_limits lim;
	cpm_sip_limits_default(&lim);
	if (cpm_sip_msg_parse(&msg, (const char *)data, size, CPM_SIP_DATAGRAM, &lim) == 0 &&
	    msg.is_request) {
		struct cpm_im_indicators ind;
		int rc = cpm_im_indicators_parse(&msg, &ind);
		if (rc != CPM_EUNSUPP) {
			CHECK(inside(ind.content_type, data, size));
			CHECK(inside(ind.message_id, data, size));
			CHECK(inside(ind.part_body, data, size));
			struct cpm_im_profile p;
			struct cpm_im_class c;
			struct cpm_im_limits l;
			struct cpm_im_usage u = { 3, 100 };
			struct cpm_im_decision d;
			cpm_im_profile_default(&p);
			cpm_im_class_default(&c);
			cpm_im_limits_default(&l);
			CHECK(cpm_im_decide(&ind, &p, &c, &u, msg.body.len, &l, ind.expires, &d) == 0);
			CHECK(d.fate >= CPM_IM_DELIVER_ONLY && d.fate <= CPM_IM_REJECT);
			CHECK(cpm_im_fate_name(d.fate) && cpm_im_rule_name(d.rule));
		}
		struct cpm_im_list list;
		char err[CPM_IM_ERR_MAX];
		if (cpm_im_list_parse(&msg, 50, &list, err) == 0) {
			CHECK(list.n > 0 && list.n <= 50);
			CHECK(inside(list.payload, data, size));
			for (unsigned i = 0; i < list.n; i++)
				CHECK(strchr(list.v[i].aor, '@') != NULL);
			cpm_im_list_free(&list);
		}
	}
	/* the raw input as a stored profile text and as class values */
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct cpm_im_profile p, q;
	char err[CPM_IM_ERR_MAX];
	if (cpm_im_profile_parse(&p, text, err) == 0) {
		/* what is formatted parses back to the same profile */
		struct cpm_buf b;
		cpm_buf_init(&b, 1 << 16);
		CHECK(cpm_im_profile_format(&p, &b) == 0);
		CHECK(cpm_im_profile_parse(&q, b.p, err) == 0);
		CHECK(memcmp(&p, &q, sizeof p) == 0);
		cpm_buf_free(&b);
	}
	struct cpm_im_class c;
	cpm_im_class_default(&c);
	cpm_im_class_set(&c, "max_bytes", text, err);
	cpm_im_class_set(&c, "max_lifetime", text, err);
	free(text);
	return 0;
}
