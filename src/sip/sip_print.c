/* Printing: reason phrases and response/body builders. */
#include "sip/sip_int.h"

#include <string.h>

/* RFC 3261 §21 plus later RFCs (noted). */
const char *cpm_sip_reason(int status)
{
	switch (status) {
	case 100: return "Trying";
	case 180: return "Ringing";
	case 181: return "Call Is Being Forwarded";
	case 182: return "Queued";
	case 183: return "Session Progress";
	case 199: return "Early Dialog Terminated";	/* RFC 6228 */
	case 200: return "OK";
	case 202: return "Accepted";			/* RFC 3265 */
	case 204: return "No Notification";		/* RFC 5839 */
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Moved Temporarily";
	case 305: return "Use Proxy";
	case 380: return "Alternative Service";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 410: return "Gone";
	case 412: return "Conditional Request Failed";	/* RFC 3903 */
	case 413: return "Request Entity Too Large";
	case 414: return "Request-URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Unsupported URI Scheme";
	case 417: return "Unknown Resource-Priority";	/* RFC 4412 */
	case 420: return "Bad Extension";
	case 421: return "Extension Required";
	case 422: return "Session Interval Too Small";	/* RFC 4028 */
	case 423: return "Interval Too Brief";
	case 428: return "Use Identity Header";		/* RFC 8224 */
	case 429: return "Provide Referrer Identity";	/* RFC 3892 */
	case 430: return "Flow Failed";			/* RFC 5626 */
	case 433: return "Anonymity Disallowed";	/* RFC 5079 */
	case 436: return "Bad Identity Info";		/* RFC 8224 */
	case 437: return "Unsupported Credential";	/* RFC 8224 */
	case 438: return "Invalid Identity Header";	/* RFC 8224 */
	case 439: return "First Hop Lacks Outbound Support"; /* RFC 5626 */
	case 440: return "Max-Breadth Exceeded";	/* RFC 5393 */
	case 469: return "Bad Info Package";		/* RFC 6086 */
	case 470: return "Consent Needed";		/* RFC 5360 */
	case 480: return "Temporarily Unavailable";
	case 481: return "Call/Transaction Does Not Exist";
	case 482: return "Loop Detected";
	case 483: return "Too Many Hops";
	case 484: return "Address Incomplete";
	case 485: return "Ambiguous";
	case 486: return "Busy Here";
	case 487: return "Request Terminated";
	case 488: return "Not Acceptable Here";
	case 489: return "Bad Event";			/* RFC 6665 */
	case 491: return "Request Pending";
	case 493: return "Undecipherable";
	case 494: return "Security Agreement Required";	/* RFC 3329 */
	case 500: return "Server Internal Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Server Time-out";
	case 505: return "Version Not Supported";
	case 513: return "Message Too Large";
	case 555: return "Push Notification Service Not Supported"; /* RFC 8599 */
	case 580: return "Precondition Failure";	/* RFC 3312 */
	case 600: return "Busy Everywhere";
	case 603: return "Decline";
	case 604: return "Does Not Exist Anywhere";
	case 606: return "Not Acceptable";
	case 607: return "Unwanted";			/* RFC 8197 */
	case 608: return "Rejected";			/* RFC 8688 */
	}
	/* the class's generic phrase for unknown codes (§21) */
	if (status >= 100 && status < 200)
		return "Trying";
	if (status >= 200 && status < 300)
		return "OK";
	if (status >= 300 && status < 400)
		return "Multiple Choices";
	if (status >= 400 && status < 500)
		return "Bad Request";
	if (status >= 500 && status < 600)
		return "Server Internal Error";
	if (status >= 600 && status < 700)
		return "Busy Everywhere";
	return "Unknown";
}

/* Append a header value with every fold (CR/LF and the whitespace around
 * it) collapsed into one SP: the copy is equivalent (§7.3.1) and keeps
 * responses single-line for simple peers. */
static int put_value(struct cpm_buf *b, struct cpm_str v)
{
	const char *p = v.s, *end = v.s + v.len;
	while (p < end) {
		const char *q = p;
		while (q < end && *q != '\r' && *q != '\n')
			q++;
		const char *qe = q;
		while (q < end && qe > p && (qe[-1] == ' ' || qe[-1] == '\t'))
			qe--;
		int rc = cpm_buf_append(b, p, (size_t)(qe - p));
		if (rc)
			return rc;
		if (q >= end)
			break;
		while (q < end && cpm_sip__is(*q, CPM_SIP_C_WS))
			q++;
		if (q < end && (rc = cpm_buf_append(b, " ", 1)))
			return rc;
		p = q;
	}
	return 0;
}

static int put_hdr(struct cpm_buf *b, const char *name, struct cpm_str v)
{
	int rc;
	if ((rc = cpm_buf_puts(b, name)) || (rc = cpm_buf_append(b, ": ", 2)) ||
	    (rc = put_value(b, v)) || (rc = cpm_buf_append(b, "\r\n", 2)))
		return rc;
	return 0;
}

int cpm_sip_print_response_start(struct cpm_buf *b, const struct cpm_sip_msg *req,
				 int status, const char *reason,
				 const char *to_tag)
{
	int rc;
	if (!b || !req || status < 100 || status > 699)
		return CPM_EINVAL;
	if (!reason)
		reason = cpm_sip_reason(status);
	char line[16] = "SIP/2.0 ";
	size_t n = 8 + cpm_fmt_u64(line + 8, (uint64_t)status);
	line[n++] = ' ';
	if ((rc = cpm_buf_append(b, line, n)) || (rc = cpm_buf_puts(b, reason)) ||
	    (rc = cpm_buf_append(b, "\r\n", 2)))
		return rc;
	/* §8.2.6.2: the Via fields in order, From, Call-ID and CSeq copied;
	 * To copied, with a tag added if it has none */
	for (const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_VIA); h;
	     h = cpm_sip_msg_hdr_next(req, h))
		if ((rc = put_hdr(b, "Via", h->value)))
			return rc;
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_FROM);
	if (h && (rc = put_hdr(b, "From", h->value)))
		return rc;
	h = cpm_sip_msg_hdr(req, CPM_SIP_H_TO);
	if (h) {
		if ((rc = cpm_buf_puts(b, "To: ")) || (rc = put_value(b, h->value)))
			return rc;
		if (to_tag && *to_tag && req->to.tag.len == 0 &&
		    ((rc = cpm_buf_append(b, ";tag=", 5)) || (rc = cpm_buf_puts(b, to_tag))))
			return rc;
		if ((rc = cpm_buf_append(b, "\r\n", 2)))
			return rc;
	}
	h = cpm_sip_msg_hdr(req, CPM_SIP_H_CALL_ID);
	if (h && (rc = put_hdr(b, "Call-ID", h->value)))
		return rc;
	/* copied as received, so that a request whose CSeq did not parse
	 * can still be answered (§8.2.6.2) */
	h = cpm_sip_msg_hdr(req, CPM_SIP_H_CSEQ);
	if (h && (rc = put_hdr(b, "CSeq", h->value)))
		return rc;
	return 0;
}

int cpm_sip_print_body(struct cpm_buf *b, struct cpm_str ctype, struct cpm_str body)
{
	int rc;
	if (ctype.len && (rc = put_hdr(b, "Content-Type", ctype)))
		return rc;
	if ((rc = cpm_buf_append(b, "Content-Length: ", 16)) ||
	    (rc = cpm_buf_put_u64(b, body.len)) || (rc = cpm_buf_append(b, "\r\n\r\n", 4)))
		return rc;
	if (body.len && (rc = cpm_buf_append(b, body.s, body.len)))
		return rc;
	return 0;
}
