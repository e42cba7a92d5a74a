/* Character classes, method and header-name tables, message accessors. */
#include "sip/sip_int.h"

#include <string.h>

/* Generated from the RFC 3261 §25.1 sets; see the CPM_SIP_C_* bits. */
const unsigned char cpm_sip__cc[256] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x02, 0x02, 0x00, 0x00, 0x02, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x71, 0x00, 0x00, 0x60, 0x01, 0x60, 0x71,
	0x70, 0x70, 0x71, 0x61, 0x60, 0xf1, 0xf1, 0x20,
	0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd,
	0xfd, 0xfd, 0x00, 0x20, 0x00, 0x60, 0x00, 0x20,
	0x00, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xf9,
	0xf9, 0xf9, 0xf9, 0xf9, 0xf9, 0xf9, 0xf9, 0xf9,
	0xf9, 0xf9, 0xf9, 0xf9, 0xf9, 0xf9, 0xf9, 0xf9,
	0xf9, 0xf9, 0xf9, 0x00, 0x00, 0x00, 0x00, 0xf1,
	0x01, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xfd, 0xf9,
	0xf9, 0xf9, 0xf9, 0xf9, 0xf9, 0xf9, 0xf9, 0xf9,
	0xf9, 0xf9, 0xf9, 0xf9, 0xf9, 0xf9, 0xf9, 0xf9,
	0xf9, 0xf9, 0xf9, 0x00, 0x00, 0x00, 0x71, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* Second set: URI parameter / header characters and generic values. */
const unsigned char cpm_sip__cc2[256] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x07, 0x00, 0x04, 0x07, 0x04, 0x07, 0x07,
	0x07, 0x07, 0x07, 0x07, 0x00, 0x07, 0x07, 0x07,
	0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07,
	0x07, 0x07, 0x07, 0x01, 0x04, 0x07, 0x04, 0x06,
	0x04, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07,
	0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07,
	0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07,
	0x07, 0x07, 0x07, 0x07, 0x04, 0x07, 0x04, 0x07,
	0x04, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07,
	0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07,
	0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07, 0x07,
	0x07, 0x07, 0x07, 0x04, 0x04, 0x04, 0x07, 0x00,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
	0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
};

/* ----------------------------------------------------------------- methods */

static const char *const method_names[] = {
	[CPM_SIP_OTHER] = "",		[CPM_SIP_INVITE] = "INVITE",
	[CPM_SIP_ACK] = "ACK",		[CPM_SIP_BYE] = "BYE",
	[CPM_SIP_CANCEL] = "CANCEL",	[CPM_SIP_REGISTER] = "REGISTER",
	[CPM_SIP_OPTIONS] = "OPTIONS",	[CPM_SIP_MESSAGE] = "MESSAGE",
	[CPM_SIP_SUBSCRIBE] = "SUBSCRIBE", [CPM_SIP_NOTIFY] = "NOTIFY",
	[CPM_SIP_PUBLISH] = "PUBLISH",	[CPM_SIP_REFER] = "REFER",
	[CPM_SIP_INFO] = "INFO",	[CPM_SIP_UPDATE] = "UPDATE",
	[CPM_SIP_PRACK] = "PRACK",
};

const char *cpm_sip_method_name(enum cpm_sip_method m)
{
	if ((unsigned)m >= sizeof method_names / sizeof method_names[0])
		return "";
	return method_names[m];
}

#define IS(lit) (memcmp(s.s, lit, sizeof(lit) - 1) == 0)

/* Methods are case-sensitive (RFC 3261 §7.1): plain memcmp. */
enum cpm_sip_method cpm_sip_method_parse(struct cpm_str s)
{
	if (!s.s)
		return CPM_SIP_OTHER;
	switch (s.len) {
	case 3:
		if (IS("ACK"))
			return CPM_SIP_ACK;
		if (IS("BYE"))
			return CPM_SIP_BYE;
		break;
	case 4:
		if (IS("INFO"))
			return CPM_SIP_INFO;
		break;
	case 5:
		if (IS("REFER"))
			return CPM_SIP_REFER;
		if (IS("PRACK"))
			return CPM_SIP_PRACK;
		break;
	case 6:
		if (IS("INVITE"))
			return CPM_SIP_INVITE;
		if (IS("CANCEL"))
			return CPM_SIP_CANCEL;
		if (IS("NOTIFY"))
			return CPM_SIP_NOTIFY;
		if (IS("UPDATE"))
			return CPM_SIP_UPDATE;
		break;
	case 7:
		if (IS("MESSAGE"))
			return CPM_SIP_MESSAGE;
		if (IS("OPTIONS"))
			return CPM_SIP_OPTIONS;
		if (IS("PUBLISH"))
			return CPM_SIP_PUBLISH;
		break;
	case 8:
		if (IS("REGISTER"))
			return CPM_SIP_REGISTER;
		break;
	case 9:
		if (IS("SUBSCRIBE"))
			return CPM_SIP_SUBSCRIBE;
		break;
	}
	return CPM_SIP_OTHER;
}

#undef IS

/* ----------------------------------------------------------------- headers */

static const char *const hdr_names[CPM_SIP_H__COUNT] = {
	[CPM_SIP_H_OTHER] = "",
	[CPM_SIP_H_VIA] = "Via",
	[CPM_SIP_H_FROM] = "From",
	[CPM_SIP_H_TO] = "To",
	[CPM_SIP_H_CALL_ID] = "Call-ID",
	[CPM_SIP_H_CSEQ] = "CSeq",
	[CPM_SIP_H_CONTACT] = "Contact",
	[CPM_SIP_H_MAX_FORWARDS] = "Max-Forwards",
	[CPM_SIP_H_ROUTE] = "Route",
	[CPM_SIP_H_RECORD_ROUTE] = "Record-Route",
	[CPM_SIP_H_CONTENT_LENGTH] = "Content-Length",
	[CPM_SIP_H_CONTENT_TYPE] = "Content-Type",
	[CPM_SIP_H_CONTENT_DISPOSITION] = "Content-Disposition",
	[CPM_SIP_H_CONTENT_ENCODING] = "Content-Encoding",
	[CPM_SIP_H_EXPIRES] = "Expires",
	[CPM_SIP_H_MIN_EXPIRES] = "Min-Expires",
	[CPM_SIP_H_AUTHORIZATION] = "Authorization",
	[CPM_SIP_H_PROXY_AUTHORIZATION] = "Proxy-Authorization",
	[CPM_SIP_H_WWW_AUTHENTICATE] = "WWW-Authenticate",
	[CPM_SIP_H_PROXY_AUTHENTICATE] = "Proxy-Authenticate",
	[CPM_SIP_H_AUTHENTICATION_INFO] = "Authentication-Info",
	[CPM_SIP_H_PATH] = "Path",
	[CPM_SIP_H_SUPPORTED] = "Supported",
	[CPM_SIP_H_REQUIRE] = "Require",
	[CPM_SIP_H_PROXY_REQUIRE] = "Proxy-Require",
	[CPM_SIP_H_UNSUPPORTED] = "Unsupported",
	[CPM_SIP_H_ALLOW] = "Allow",
	[CPM_SIP_H_ACCEPT] = "Accept",
	[CPM_SIP_H_EVENT] = "Event",
	[CPM_SIP_H_ALLOW_EVENTS] = "Allow-Events",
	[CPM_SIP_H_SUBSCRIPTION_STATE] = "Subscription-State",
	[CPM_SIP_H_DATE] = "Date",
	[CPM_SIP_H_USER_AGENT] = "User-Agent",
	[CPM_SIP_H_SERVER] = "Server",
	[CPM_SIP_H_REQUEST_DISPOSITION] = "Request-Disposition",
	[CPM_SIP_H_ACCEPT_CONTACT] = "Accept-Contact",
	[CPM_SIP_H_REFER_TO] = "Refer-To",
	[CPM_SIP_H_REFERRED_BY] = "Referred-By",
	[CPM_SIP_H_RETRY_AFTER] = "Retry-After",
	[CPM_SIP_H_SUBJECT] = "Subject",
	[CPM_SIP_H_SIP_ETAG] = "SIP-ETag",
	[CPM_SIP_H_SIP_IF_MATCH] = "SIP-If-Match",
	[CPM_SIP_H_SERVICE_ROUTE] = "Service-Route",
	[CPM_SIP_H_REASON] = "Reason",
	[CPM_SIP_H_MIME_VERSION] = "MIME-Version",
	[CPM_SIP_H_TIMESTAMP] = "Timestamp",
};

const char *cpm_sip_hdr_name(enum cpm_sip_hdr_id id)
{
	if ((unsigned)id >= CPM_SIP_H__COUNT)
		return "";
	return hdr_names[id];
}

/* name (already known to have the right length) equals lit, ignoring case;
 * lit holds only lowercase letters and '-'. */
#define ieq_lc cpm_sip__ieq_lc

#define M(lit, id)                                   \
	do {                                         \
		if (ieq_lc(s, lit, sizeof(lit) - 1)) \
			return id;                   \
	} while (0)

/* Dispatch on length, then on the first character, then one compare.
 * Compact forms: RFC 3261 §7.3.3 (i m e l c f s k t v), RFC 3265 (o u),
 * RFC 3515 (r), RFC 3841 (a d), RFC 3892 (b).  j (Reject-Contact),
 * y (Identity), x (Session-Expires) and n (Identity-Info) have no id and
 * give CPM_SIP_H_OTHER; cpm_sip_msg_hdr_by_name knows their long forms. */
enum cpm_sip_hdr_id cpm_sip_hdr_id_parse(struct cpm_str name)
{
	const char *s = name.s;
	if (!s || name.len == 0)
		return CPM_SIP_H_OTHER;
	unsigned char c0 = cpm_sip__lower((unsigned char)s[0]);
	switch (name.len) {
	case 1:
		switch (c0) {
		case 'i': return CPM_SIP_H_CALL_ID;
		case 'm': return CPM_SIP_H_CONTACT;
		case 'e': return CPM_SIP_H_CONTENT_ENCODING;
		case 'l': return CPM_SIP_H_CONTENT_LENGTH;
		case 'c': return CPM_SIP_H_CONTENT_TYPE;
		case 'f': return CPM_SIP_H_FROM;
		case 's': return CPM_SIP_H_SUBJECT;
		case 'k': return CPM_SIP_H_SUPPORTED;
		case 't': return CPM_SIP_H_TO;
		case 'v': return CPM_SIP_H_VIA;
		case 'o': return CPM_SIP_H_EVENT;
		case 'r': return CPM_SIP_H_REFER_TO;
		case 'u': return CPM_SIP_H_ALLOW_EVENTS;
		case 'a': return CPM_SIP_H_ACCEPT_CONTACT;
		case 'd': return CPM_SIP_H_REQUEST_DISPOSITION;
		case 'b': return CPM_SIP_H_REFERRED_BY;
		}
		break;
	case 2:
		M("to", CPM_SIP_H_TO);
		break;
	case 3:
		M("via", CPM_SIP_H_VIA);
		break;
	case 4:
		switch (c0) {
		case 'f': M("from", CPM_SIP_H_FROM); break;
		case 'c': M("cseq", CPM_SIP_H_CSEQ); break;
		case 'p': M("path", CPM_SIP_H_PATH); break;
		case 'd': M("date", CPM_SIP_H_DATE); break;
		}
		break;
	case 5:
		switch (c0) {
		case 'r': M("route", CPM_SIP_H_ROUTE); break;
		case 'a': M("allow", CPM_SIP_H_ALLOW); break;
		case 'e': M("event", CPM_SIP_H_EVENT); break;
		}
		break;
	case 6:
		switch (c0) {
		case 'a': M("accept", CPM_SIP_H_ACCEPT); break;
		case 's': M("server", CPM_SIP_H_SERVER); break;
		case 'r': M("reason", CPM_SIP_H_REASON); break;
		}
		break;
	case 7:
		switch (c0) {
		case 'c':
			M("call-id", CPM_SIP_H_CALL_ID);
			M("contact", CPM_SIP_H_CONTACT);
			break;
		case 'e': M("expires", CPM_SIP_H_EXPIRES); break;
		case 'r': M("require", CPM_SIP_H_REQUIRE); break;
		case 's': M("subject", CPM_SIP_H_SUBJECT); break;
		}
		break;
	case 8:
		switch (c0) {
		case 'r': M("refer-to", CPM_SIP_H_REFER_TO); break;
		case 's': M("sip-etag", CPM_SIP_H_SIP_ETAG); break;
		}
		break;
	case 9:
		switch (c0) {
		case 's': M("supported", CPM_SIP_H_SUPPORTED); break;
		case 't': M("timestamp", CPM_SIP_H_TIMESTAMP); break;
		}
		break;
	case 10:
		M("user-agent", CPM_SIP_H_USER_AGENT);
		break;
	case 11:
		switch (c0) {
		case 'm': M("min-expires", CPM_SIP_H_MIN_EXPIRES); break;
		case 'u': M("unsupported", CPM_SIP_H_UNSUPPORTED); break;
		case 'r':
			M("referred-by", CPM_SIP_H_REFERRED_BY);
			M("retry-after", CPM_SIP_H_RETRY_AFTER);
			break;
		}
		break;
	case 12:
		switch (c0) {
		case 'm':
			M("max-forwards", CPM_SIP_H_MAX_FORWARDS);
			M("mime-version", CPM_SIP_H_MIME_VERSION);
			break;
		case 'c': M("content-type", CPM_SIP_H_CONTENT_TYPE); break;
		case 'r': M("record-route", CPM_SIP_H_RECORD_ROUTE); break;
		case 'a': M("allow-events", CPM_SIP_H_ALLOW_EVENTS); break;
		case 's': M("sip-if-match", CPM_SIP_H_SIP_IF_MATCH); break;
		}
		break;
	case 13:
		switch (c0) {
		case 'a': M("authorization", CPM_SIP_H_AUTHORIZATION); break;
		case 'p': M("proxy-require", CPM_SIP_H_PROXY_REQUIRE); break;
		case 's': M("service-route", CPM_SIP_H_SERVICE_ROUTE); break;
		}
		break;
	case 14:
		switch (c0) {
		case 'c': M("content-length", CPM_SIP_H_CONTENT_LENGTH); break;
		case 'a': M("accept-contact", CPM_SIP_H_ACCEPT_CONTACT); break;
		}
		break;
	case 16:
		switch (c0) {
		case 'w': M("www-authenticate", CPM_SIP_H_WWW_AUTHENTICATE); break;
		case 'c': M("content-encoding", CPM_SIP_H_CONTENT_ENCODING); break;
		}
		break;
	case 18:
		switch (c0) {
		case 'p': M("proxy-authenticate", CPM_SIP_H_PROXY_AUTHENTICATE); break;
		case 's': M("subscription-state", CPM_SIP_H_SUBSCRIPTION_STATE); break;
		}
		break;
	case 19:
		switch (c0) {
		case 'p': M("proxy-authorization", CPM_SIP_H_PROXY_AUTHORIZATION); break;
		case 'c': M("content-disposition", CPM_SIP_H_CONTENT_DISPOSITION); break;
		case 'a': M("authentication-info", CPM_SIP_H_AUTHENTICATION_INFO); break;
		case 'r': M("request-disposition", CPM_SIP_H_REQUEST_DISPOSITION); break;
		}
		break;
	}
	return CPM_SIP_H_OTHER;
}

#undef M

/* Compact forms without an id of their own. */
static const char *compact_alias(unsigned char c)
{
	switch (cpm_sip__lower(c)) {
	case 'j': return "Reject-Contact";
	case 'y': return "Identity";
	case 'x': return "Session-Expires";
	case 'n': return "Identity-Info";
	}
	return NULL;
}

static bool other_name_eq(struct cpm_str a, struct cpm_str b)
{
	if (cpm_str_ieq(a, b))
		return true;
	if (a.len == 1 && b.len > 1) {
		const char *l = compact_alias((unsigned char)a.s[0]);
		return l && cpm_str_ieq_cstr(b, l);
	}
	if (b.len == 1 && a.len > 1) {
		const char *l = compact_alias((unsigned char)b.s[0]);
		return l && cpm_str_ieq_cstr(a, l);
	}
	return false;
}

/* ------------------------------------------------------------------ limits */

void cpm_sip_limits_default(struct cpm_sip_limits *lim)
{
	lim->max_msg = 65535;
	lim->max_hdrs = 100;
	lim->max_line = 8192;
}

/* ---------------------------------------------------------------- accessors */

const struct cpm_sip_hdr *cpm_sip_msg_hdr(const struct cpm_sip_msg *m,
					  enum cpm_sip_hdr_id id)
{
	if ((unsigned)id >= CPM_SIP_H__COUNT || m->first[id] < 0)
		return NULL;
	return &m->hdrs[m->first[id]];
}

const struct cpm_sip_hdr *cpm_sip_msg_hdr_next(const struct cpm_sip_msg *m,
					       const struct cpm_sip_hdr *h)
{
	if (!h || h->next < 0 || (unsigned)h->next >= m->nhdrs)
		return NULL;
	return &m->hdrs[h->next];
}

const struct cpm_sip_hdr *cpm_sip_msg_hdr_by_name(const struct cpm_sip_msg *m,
						  const char *name)
{
	struct cpm_str n = cpm_str_from_cstr(name);
	enum cpm_sip_hdr_id id = cpm_sip_hdr_id_parse(n);
	if (id != CPM_SIP_H_OTHER)
		return cpm_sip_msg_hdr(m, id);
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(m, CPM_SIP_H_OTHER); h;
	     h = cpm_sip_msg_hdr_next(m, h))
		if (other_name_eq(h->name, n))
			return h;
	return NULL;
}
