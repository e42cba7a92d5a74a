/* The sender's per-message indicators (issue 3 "What decides a message's
 * fate" §1; R15, R16, R23, R25–R27, R48; RFC 3428, RFC 3862, RFC 3994,
 * RFC 5438, RFC 3841). */
#include "im/im.h"

#include <string.h>

#define MAX_PARTS 32 /* multipart parts looked at; the rest is content */

static struct cpm_str span(const char *a, const char *b)
{
	return (struct cpm_str){ a, (size_t)(b - a) };
}

/* The part of s before the first ';', trimmed. */
static struct cpm_str before_semi(struct cpm_str s)
{
	long semi = cpm_str_chr(s, ';');
	if (semi >= 0)
		s.len = (size_t)semi;
	return cpm_str_trim(s);
}

/* Content-Disposition = disp-type *(SEMI disp-param) (RFC 3261 §20.11).
 * The seed's "store&fwd" and "S&F" hold '&', outside token: the type is
 * simply everything before ';' (digest §4.2 note 1).  Other types (render,
 * session, icon, alert, recipient-list, notification, by-reference, ...)
 * are not indicators. */
static void disposition(struct cpm_str value, unsigned *seen)
{
	struct cpm_str t = before_semi(value);
	if (cpm_str_ieq_cstr(t, "instant"))
		*seen |= CPM_IM_SEEN_CD_INSTANT;
	else if (cpm_str_ieq_cstr(t, "store&fwd") || cpm_str_ieq_cstr(t, "s&f"))
		*seen |= CPM_IM_SEEN_CD_STOREFWD;
}

/* Request-Disposition = ("Request-Disposition" / "d") HCOLON directive
 * *(COMMA directive) (RFC 3841).  The RFC 3841 directives (proxy,
 * redirect, cancel, no-cancel, fork, no-fork, recurse, no-recurse,
 * parallel, sequential, queue, no-queue) and the seed's ring/no-ring are
 * routing preferences, not indicators.  Added: seed 002's store-feature
 * (digest E5) and its store-command words (E7, R27). */
static void request_disposition(struct cpm_str value, unsigned *seen)
{
	struct cpm_str it;
	while (cpm_sip_list_next(&value, &it) == 1) {
		it = before_semi(it);
		if (cpm_str_ieq_cstr(it, "do-not-store") ||
		    cpm_str_ieq_cstr(it, "do not store")) /* E7 wording */
			*seen |= CPM_IM_SEEN_RD_DO_NOT_STORE;
		else if (cpm_str_ieq_cstr(it, "store-and-forward-if-not-reached"))
			*seen |= CPM_IM_SEEN_RD_SAF_NOT_REACHED;
		else if (cpm_str_ieq_cstr(it, "store"))
			*seen |= CPM_IM_SEEN_RD_STORE;
		else if (cpm_str_ieq_cstr(it, "store-and-forward"))
			*seen |= CPM_IM_SEEN_RD_STORE_AND_FORWARD;
		else if (cpm_str_ieq_cstr(it, "notify"))
			*seen |= CPM_IM_SEEN_RD_NOTIFY;
	}
}

/* ------------------------------------------------------------ CPIM bodies */

/* The next line of [*p, end): returned without its (CR)LF; *p moves past
 * it.  false at the end. */
static bool next_line(const char **p, const char *end, struct cpm_str *line)
{
	if (*p >= end)
		return false;
	const char *s = *p;
	const char *lf = memchr(s, '\n', (size_t)(end - s));
	const char *e = lf ? lf : end;
	*p = lf ? lf + 1 : end;
	if (e > s && e[-1] == '\r')
		e--;
	*line = span(s, e);
	return true;
}

/* Split "Name: value"; false when there is no colon or no name. */
static bool split_hdr(struct cpm_str line, struct cpm_str *name,
		      struct cpm_str *value)
{
	long c = cpm_str_chr(line, ':');
	if (c <= 0)
		return false;
	*name = cpm_str_trim((struct cpm_str){ line.s, (size_t)c });
	*value = cpm_str_trim((struct cpm_str){ line.s + c + 1, line.len - (size_t)c - 1 });
	return name->len > 0;
}

/* The header block starting at *p, up to and past an empty line (or the
 * end of the body).  CPIM headers are single lines (RFC 3862). */
static int header_block(const char **p, const char *end, struct cpm_str *blk)
{
	const char *s = *p;
	struct cpm_str line;
	for (;;) {
		const char *at = *p;
		if (!next_line(p, end, &line)) {
			*blk = span(s, end);
			return 0;
		}
		if (line.len == 0) {
			*blk = span(s, at);
			return 0;
		}
		struct cpm_str n, v;
		if (!split_hdr(line, &n, &v))
			return CPM_EPARSE;
	}
}

/* NS: [prefix] <urn> (RFC 3862).  Is this the IMDN namespace
 * (RFC 5438: urn:ietf:params:imdn)?  *prefix gets the prefix. */
static bool ns_imdn(struct cpm_str v, struct cpm_str *prefix)
{
	long lt = cpm_str_chr(v, '<');
	if (lt < 0 || v.s[v.len - 1] != '>')
		return false;
	struct cpm_str urn = { v.s + lt + 1, v.len - (size_t)lt - 2 };
	if (!cpm_str_ieq_cstr(cpm_str_trim(urn), "urn:ietf:params:imdn"))
		return false;
	*prefix = cpm_str_trim((struct cpm_str){ v.s, (size_t)lt });
	return true;
}

/* name == prefix "." local, ignoring case; an empty prefix (NS without
 * one binds the default namespace) matches the bare local name. */
static bool ns_name(struct cpm_str name, struct cpm_str prefix, const char *local)
{
	size_t ll = strlen(local);
	if (prefix.len == 0)
		return cpm_str_ieq_cstr(name, local);
	if (name.len != prefix.len + 1 + ll)
		return false;
	return cpm_str_ieq((struct cpm_str){ name.s, prefix.len }, prefix) &&
	       name.s[prefix.len] == '.' &&
	       cpm_str_ieq_cstr((struct cpm_str){ name.s + prefix.len + 1, ll }, local);
}

static void imdn_dispositions(struct cpm_str v, unsigned *seen)
{
	struct cpm_str it;
	while (cpm_sip_list_next(&v, &it) == 1) {
		it = before_semi(it);
		if (cpm_str_ieq_cstr(it, "positive-delivery"))
			*seen |= CPM_IM_SEEN_IMDN_POSITIVE;
		else if (cpm_str_ieq_cstr(it, "negative-delivery"))
			*seen |= CPM_IM_SEEN_IMDN_NEGATIVE;
		else if (cpm_str_ieq_cstr(it, "processing"))
			*seen |= CPM_IM_SEEN_IMDN_PROCESSING;
		else if (cpm_str_ieq_cstr(it, "display"))
			*seen |= CPM_IM_SEEN_IMDN_DISPLAY;
	}
}

/* message/cpim (RFC 3862): message headers, an empty line, the MIME
 * headers of the content, an empty line, the content.  Reads
 * imdn.Disposition-Notification and imdn.Message-ID (RFC 5438) with the
 * prefix the NS header binds to urn:ietf:params:imdn; a message that never
 * declares it still gets "imdn." (lenient).  Sets the payload type from
 * the inner Content-Type. */
static int cpim(struct cpm_str body, struct cpm_im_indicators *out)
{
	const char *p = body.s, *end = body.s + body.len;
	struct cpm_str msg_hdrs, mime_hdrs, line, n, v;
	int rc = header_block(&p, end, &msg_hdrs);
	if (rc < 0)
		return rc;
	if (msg_hdrs.len == 0)
		return CPM_EPARSE; /* a CPIM message has headers */
	rc = header_block(&p, end, &mime_hdrs);
	if (rc < 0)
		return rc;

	struct cpm_str prefix = CPM_STR("imdn");
	const char *q = msg_hdrs.s, *qe = msg_hdrs.s + msg_hdrs.len;
	while (next_line(&q, qe, &line))
		if (split_hdr(line, &n, &v) && cpm_str_ieq_cstr(n, "NS") &&
		    ns_imdn(v, &prefix))
			break;
	q = msg_hdrs.s;
	while (next_line(&q, qe, &line)) {
		if (!split_hdr(line, &n, &v))
			continue;
		if (ns_name(n, prefix, "Disposition-Notification"))
			imdn_dispositions(v, &out->seen);
		else if (ns_name(n, prefix, "Message-ID"))
			out->message_id = v;
	}

	q = mime_hdrs.s;
	qe = mime_hdrs.s + mime_hdrs.len;
	while (next_line(&q, qe, &line)) {
		if (!split_hdr(line, &n, &v) || !cpm_str_ieq_cstr(n, "Content-Type"))
			continue;
		struct cpm_str mime, params;
		if (cpm_sip_ctype_parse(v, &mime, &params) < 0)
			return CPM_EPARSE;
		out->payload_type = mime;
	}
	return 0;
}

/* ------------------------------------------------------- multipart bodies */

/* Look at the parts: their Content-Disposition may carry indicators; for
 * INVITE/INFO the first part that is not application/sdp is the message
 * payload (seed 002 Fig. 5, claims 6–7). */
static int multipart(const struct cpm_sip_msg *req, struct cpm_str params,
		     struct cpm_im_indicators *out, bool *has_payload)
{
	struct cpm_str boundary;
	if (!cpm_sip_param_find(params, "boundary", &boundary))
		return CPM_EPARSE;
	boundary = cpm_sip_unquote(boundary);
	struct cpm_str cur = req->body;
	struct cpm_sip_part part;
	bool is_msg = req->method == CPM_SIP_MESSAGE;
	for (unsigned i = 0; i < MAX_PARTS; i++) {
		int rc = cpm_sip_multipart_next(&cur, boundary, &part);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		if (part.disposition.len)
			disposition(part.disposition, &out->seen);
		if (is_msg || *has_payload)
			continue;
		struct cpm_str mime, pp;
		if (part.content_type.len == 0) {
			/* RFC 2046 §5.1: the default is text/plain */
			out->payload_type = CPM_STR("text/plain");
			out->part_ctype = CPM_STR("text/plain");
			out->part_body = part.body;
			*has_payload = true;
			continue;
		}
		if (cpm_sip_ctype_parse(part.content_type, &mime, &pp) < 0)
			return CPM_EPARSE;
		if (!cpm_str_ieq_cstr(mime, "application/sdp")) {
			out->payload_type = mime;
			out->part_ctype = part.content_type;
			out->part_body = part.body;
			*has_payload = true;
		}
	}
	return 0;
}

/* ------------------------------------------------------------- precedence */

static void resolve(struct cpm_im_indicators *out)
{
	unsigned s = out->seen;
	bool instant = s & (CPM_IM_SEEN_CD_INSTANT | CPM_IM_SEEN_RD_DO_NOT_STORE);
	bool deferred = s & CPM_IM_SEEN_CD_STOREFWD;
	bool pull = s & CPM_IM_SEEN_RD_STORE;
	/* "notify" = seed code 01, "Notify sender after delivery" (R27): a
	 * store command in its own right. */
	bool saf = s & (CPM_IM_SEEN_RD_SAF_NOT_REACHED |
			CPM_IM_SEEN_RD_STORE_AND_FORWARD | CPM_IM_SEEN_RD_NOTIFY);
	out->notify = s & CPM_IM_SEEN_RD_NOTIFY;
	/* instant > deferred > store (pull) > store-and-forward > none.
	 * Among store requests storage happens anyway; they differ in how the
	 * recipient gets the message.  Deferred retrieval (R36) is the
	 * sender's explicit delivery method and also serves a pull (the
	 * recipient fetches); pull is stricter than push. */
	if (instant)
		out->req = CPM_IM_REQ_INSTANT;
	else if (deferred)
		out->req = CPM_IM_REQ_DEFERRED;
	else if (pull)
		out->req = CPM_IM_REQ_STORE;
	else if (saf)
		out->req = CPM_IM_REQ_STORE_FWD;
	else
		out->req = CPM_IM_REQ_NONE;
	/* a conflict: more than one class of request; notify with another
	 * store request is a report request, with instant a contradiction */
	unsigned classes = (unsigned)instant + (unsigned)deferred + (unsigned)pull +
			   (unsigned)((s & (CPM_IM_SEEN_RD_SAF_NOT_REACHED |
					    CPM_IM_SEEN_RD_STORE_AND_FORWARD)) != 0);
	out->conflict = classes > 1 || (instant && out->notify);
}

/* --------------------------------------------------------------- entry */

int cpm_im_indicators_parse(const struct cpm_sip_msg *req,
			    struct cpm_im_indicators *out)
{
	if (!req || !out)
		return CPM_EINVAL;
	memset(out, 0, sizeof *out);
	out->expires = -1;
	out->method = req->method;
	if (!req->is_request)
		return CPM_EINVAL;
	if (req->method != CPM_SIP_MESSAGE && req->method != CPM_SIP_INVITE &&
	    req->method != CPM_SIP_INFO)
		return CPM_EUNSUPP;

	int rc = 0;
	const struct cpm_sip_hdr *h;
	for (h = cpm_sip_msg_hdr(req, CPM_SIP_H_CONTENT_DISPOSITION); h;
	     h = cpm_sip_msg_hdr_next(req, h))
		disposition(h->value, &out->seen);
	for (h = cpm_sip_msg_hdr(req, CPM_SIP_H_REQUEST_DISPOSITION); h;
	     h = cpm_sip_msg_hdr_next(req, h))
		request_disposition(h->value, &out->seen);

	h = cpm_sip_msg_hdr(req, CPM_SIP_H_EXPIRES);
	if (h) {
		/* delta-seconds (RFC 3261 §20.19; RFC 3428 for MESSAGE);
		 * values past 2^32-1 are taken as 2^32-1 */
		uint64_t e;
		int er = cpm_str_to_u64(h->value, 0xffffffffu, &e);
		if (er == CPM_ERANGE) {
			/* all digits, but more than 2^32-1 */
			er = 0;
			e = 0xffffffffu;
			for (size_t i = 0; i < h->value.len; i++)
				if (h->value.s[i] < '0' || h->value.s[i] > '9')
					er = CPM_EPARSE;
		}
		if (er < 0 && rc == 0)
			rc = CPM_EPARSE;
		else if (er == 0)
			out->expires = (int64_t)e;
	}

	bool has_payload = false;
	h = cpm_sip_msg_hdr(req, CPM_SIP_H_CONTENT_TYPE);
	struct cpm_str mime = CPM_STR_NULL, params = CPM_STR_NULL;
	if (h) {
		if (cpm_sip_ctype_parse(h->value, &mime, &params) < 0) {
			rc = CPM_EPARSE;
			h = NULL;
		} else {
			out->content_type = mime;
		}
	} else if (req->body.len > 0 && rc == 0) {
		rc = CPM_EPARSE; /* RFC 3261 §20.15: a body needs its type */
	}

	if (h && req->body.len > 0) {
		bool is_msg = req->method == CPM_SIP_MESSAGE;
		if (cpm_str_istarts(mime, "multipart/")) {
			out->payload_type = mime;
			int mr = multipart(req, params, out, &has_payload);
			if (mr < 0 && rc == 0)
				rc = mr;
			if (is_msg)
				has_payload = true;
			if (!has_payload)
				out->payload_type = CPM_STR_NULL;
		} else if (cpm_str_ieq_cstr(mime, "message/cpim")) {
			out->payload_type = mime;
			int cr = cpim(req->body, out);
			if (cr < 0 && rc == 0)
				rc = cr;
			has_payload = true;
		} else if (is_msg || !cpm_str_ieq_cstr(mime, "application/sdp")) {
			out->payload_type = mime;
			has_payload = true;
		}
		if (!is_msg && has_payload && !out->part_body.len) {
			/* INVITE/INFO whose whole body is the message */
			out->part_ctype = h->value;
			out->part_body = req->body;
		}
	}

	if (!has_payload)
		out->kind = req->method == CPM_SIP_MESSAGE ? CPM_IM_KIND_NONE
							   : CPM_IM_KIND_SESSION;
	else if (cpm_str_ieq_cstr(out->payload_type, "application/im-iscomposing+xml"))
		out->kind = CPM_IM_KIND_ISCOMPOSING;
	else if (cpm_str_ieq_cstr(out->payload_type, "message/imdn+xml"))
		out->kind = CPM_IM_KIND_IMDN;
	else
		out->kind = CPM_IM_KIND_MESSAGE;

	resolve(out);
	return rc;
}

const char *cpm_im_request_name(enum cpm_im_request r)
{
	switch (r) {
	case CPM_IM_REQ_NONE: return "none";
	case CPM_IM_REQ_INSTANT: return "instant";
	case CPM_IM_REQ_DEFERRED: return "deferred";
	case CPM_IM_REQ_STORE: return "store";
	case CPM_IM_REQ_STORE_FWD: return "store-and-forward";
	}
	return "?";
}
