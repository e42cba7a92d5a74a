/* MSRP printing: requests (SEND, REPORT, AUTH), responses with their
 * paths (RFC 4975 §7.2), end-lines, comments, and fresh ids.  Every value
 * is checked for CR, LF and NUL so that no caller can inject a header. */
#include "msrp/msrp_int.h"

#include <string.h>

/* RFC 4975 §10, RFC 4976 §5 (401, 423). */
const char *cpm_msrp_comment(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 408: return "Request Timeout";
	case 413: return "Stop Sending Message";
	case 415: return "Unsupported Media Type";
	case 423: return "Interval Out-of-Bounds";
	case 481: return "Session Does Not Exist";
	case 501: return "Not Implemented";
	case 506: return "Session Already Bound";
	}
	return "";
}

int cpm_msrp_tid_new(char out[CPM_MSRP_TID_LEN + 1])
{
	return cpm_rand_hex(out, CPM_MSRP_TID_LEN / 2);
}

int cpm_msrp_msgid_new(char out[CPM_MSRP_MSGID_LEN + 1])
{
	return cpm_rand_hex(out, CPM_MSRP_MSGID_LEN / 2);
}

bool cpm_msrp_body_has_endline(struct cpm_str body, struct cpm_str tid)
{
	/* Every SEND we print is checked (a room: each copy), so this scan is
	 * hot: memchr for a '-' (vectorised in libc) is far cheaper per byte
	 * than memmem for the 7 dashes, and a body rarely holds a '-'. */
	const char *p = body.s, *end = body.s + body.len;
	size_t n = 7 + tid.len;
	while (p && (size_t)(end - p) > n) {
		/* h + n, the flag, must lie inside the body */
		const char *h = memchr(p, '-', (size_t)(end - p) - n);
		if (!h)
			return false;
		char f = h[n];
		if (memcmp(h, "-------", 7) == 0 && memcmp(h + 7, tid.s, tid.len) == 0 &&
		    (f == '$' || f == '+' || f == '#'))
			return true;
		p = h + 1;
	}
	return false;
}

static int put(struct cpm_buf *b, struct cpm_str v)
{
	if (!cpm_msrp__clean(v))
		return CPM_EINVAL;
	return v.len ? cpm_buf_append(b, v.s, v.len) : 0;
}

int cpm_msrp_print_hdr(struct cpm_buf *b, const char *name, struct cpm_str value)
{
	int rc;
	if ((rc = cpm_buf_puts(b, name)) || (rc = cpm_buf_append(b, ": ", 2)) ||
	    (rc = put(b, value)) || (rc = cpm_buf_append(b, "\r\n", 2)))
		return rc;
	return 0;
}

/* "MSRP <tid> <what>" with what already checked */
static int put_start(struct cpm_buf *b, struct cpm_str tid, struct cpm_str what)
{
	int rc;
	if (!cpm_msrp_ident_valid(tid))
		return CPM_EINVAL;
	if ((rc = cpm_buf_append(b, "MSRP ", 5)) || (rc = put(b, tid)) ||
	    (rc = cpm_buf_append(b, " ", 1)) || (rc = put(b, what)) ||
	    (rc = cpm_buf_append(b, "\r\n", 2)))
		return rc;
	return 0;
}

static int put_paths(struct cpm_buf *b, struct cpm_str to, struct cpm_str from)
{
	int rc;
	if (!cpm_msrp_path_first(to).len || !cpm_msrp_path_first(from).len)
		return CPM_EINVAL;
	if ((rc = cpm_msrp_print_hdr(b, "To-Path", to)) ||
	    (rc = cpm_msrp_print_hdr(b, "From-Path", from)))
		return rc;
	return 0;
}

int cpm_msrp_print_req_start(struct cpm_buf *b, struct cpm_str tid, const char *method,
			     struct cpm_str to_path, struct cpm_str from_path)
{
	struct cpm_str m = cpm_str_from_cstr(method);
	if (!m.len)
		return CPM_EINVAL;
	for (size_t i = 0; i < m.len; i++)
		if (m.s[i] < 'A' || m.s[i] > 'Z')
			return CPM_EINVAL;
	int rc = put_start(b, tid, m);
	return rc ? rc : put_paths(b, to_path, from_path);
}

int cpm_msrp_print_resp_start(struct cpm_buf *b, struct cpm_str tid, int code,
			      const char *comment, struct cpm_str req_to_path,
			      struct cpm_str req_from_path)
{
	if (code < 100 || code > 999)
		return CPM_EINVAL;
	if (!comment)
		comment = cpm_msrp_comment(code);
	char line[3 + 1 + 128];
	size_t cl = strlen(comment);
	if (cl > sizeof line - 4)
		return CPM_EINVAL;
	cpm_fmt_u64(line, (uint64_t)code);
	size_t n = 3;
	if (cl) {
		line[n++] = ' ';
		memcpy(line + n, comment, cl);
		n += cl;
	}
	int rc = put_start(b, tid, (struct cpm_str){ line, n });
	if (rc)
		return rc;
	/* §7.2: the response goes back one hop: To-Path is the previous hop
	 * (first From-Path URI of the request), From-Path is the responder
	 * (first To-Path URI of the request; RFC 4976 §7.3.1 for relays). */
	return put_paths(b, cpm_msrp_path_first(req_from_path), cpm_msrp_path_first(req_to_path));
}

int cpm_msrp_print_range(struct cpm_buf *b, const struct cpm_msrp_range *r)
{
	char v[3 * 21 + 3];
	size_t n = cpm_fmt_u64(v, r->start);
	v[n++] = '-';
	if (r->end_star)
		v[n++] = '*';
	else
		n += cpm_fmt_u64(v + n, r->end);
	v[n++] = '/';
	if (r->total_star)
		v[n++] = '*';
	else
		n += cpm_fmt_u64(v + n, r->total);
	if (r->start == 0 || (!r->end_star && r->end + 1 < r->start) ||
	    (!r->end_star && !r->total_star && r->end > r->total))
		return CPM_EINVAL;
	return cpm_msrp_print_hdr(b, "Byte-Range", (struct cpm_str){ v, n });
}

int cpm_msrp_print_body_start(struct cpm_buf *b, struct cpm_str ctype)
{
	int rc;
	if (!ctype.len)
		return CPM_EINVAL;
	if ((rc = cpm_msrp_print_hdr(b, "Content-Type", ctype)) ||
	    (rc = cpm_buf_append(b, "\r\n", 2)))
		return rc;
	return 0;
}

int cpm_msrp_print_end_line(struct cpm_buf *b, struct cpm_str tid, char flag,
			    bool after_body)
{
	int rc;
	if (!cpm_msrp_ident_valid(tid) || (flag != '$' && flag != '+' && flag != '#'))
		return CPM_EINVAL;
	if ((after_body && (rc = cpm_buf_append(b, "\r\n", 2))) ||
	    (rc = cpm_buf_append(b, "-------", 7)) || (rc = cpm_buf_append(b, tid.s, tid.len)) ||
	    (rc = cpm_buf_append(b, &flag, 1)) || (rc = cpm_buf_append(b, "\r\n", 2)))
		return rc;
	return 0;
}

int cpm_msrp_print_end(struct cpm_buf *b, struct cpm_str tid, struct cpm_str ctype,
		       struct cpm_str body, char flag)
{
	int rc;
	if (!ctype.len) {
		if (body.len)
			return CPM_EINVAL;
		return cpm_msrp_print_end_line(b, tid, flag, false);
	}
	/* §7.1: the body must not hold the end-line; the caller picks
	 * another transaction id */
	if (cpm_msrp_body_has_endline(body, tid))
		return CPM_EINVAL;
	if ((rc = cpm_msrp_print_body_start(b, ctype)) ||
	    (body.len && (rc = cpm_buf_append(b, body.s, body.len))))
		return rc;
	return cpm_msrp_print_end_line(b, tid, flag, true);
}

static const char *rep_name(enum cpm_msrp_rep r)
{
	switch (r) {
	case CPM_MSRP_REP_YES: return "yes";
	case CPM_MSRP_REP_NO: return "no";
	case CPM_MSRP_REP_PARTIAL: return "partial";
	default: return NULL;
	}
}

int cpm_msrp_print_send(struct cpm_buf *b, const struct cpm_msrp_send *s)
{
	int rc;
	if (!cpm_msrp_ident_valid(s->message_id) || s->success_report == CPM_MSRP_REP_PARTIAL)
		return CPM_EINVAL;
	if ((rc = cpm_msrp_print_req_start(b, s->tid, "SEND", s->to_path, s->from_path)) ||
	    (rc = cpm_msrp_print_hdr(b, "Message-ID", s->message_id)) ||
	    (s->has_range && (rc = cpm_msrp_print_range(b, &s->range))))
		return rc;
	const char *sr = rep_name(s->success_report), *fr = rep_name(s->failure_report);
	if ((sr && (rc = cpm_msrp_print_hdr(b, "Success-Report", cpm_str_from_cstr(sr)))) ||
	    (fr && (rc = cpm_msrp_print_hdr(b, "Failure-Report", cpm_str_from_cstr(fr)))))
		return rc;
	return cpm_msrp_print_end(b, s->tid, s->content_type, s->body, s->flag);
}

int cpm_msrp_print_report(struct cpm_buf *b, const struct cpm_msrp_report *r)
{
	const struct cpm_msrp_status *st = &r->status;
	int rc;
	if (!cpm_msrp_ident_valid(r->message_id) || st->ns > 999 || st->code < 100 ||
	    st->code > 999 || !cpm_msrp__clean(st->reason))
		return CPM_EINVAL;
	/* Status: namespace SP status-code [SP text-reason] (§7.1.2) */
	char v[7] = { (char)('0' + st->ns / 100), (char)('0' + st->ns / 10 % 10),
		      (char)('0' + st->ns % 10), ' ', (char)('0' + st->code / 100),
		      (char)('0' + st->code / 10 % 10), (char)('0' + st->code % 10) };
	if ((rc = cpm_msrp_print_req_start(b, r->tid, "REPORT", r->to_path, r->from_path)) ||
	    (rc = cpm_msrp_print_hdr(b, "Message-ID", r->message_id)) ||
	    (rc = cpm_msrp_print_range(b, &r->range)) ||
	    (rc = cpm_buf_puts(b, "Status: ")) || (rc = cpm_buf_append(b, v, 7)) ||
	    (st->reason.len && ((rc = cpm_buf_append(b, " ", 1)) || (rc = put(b, st->reason)))) ||
	    (rc = cpm_buf_append(b, "\r\n", 2)))
		return rc;
	return cpm_msrp_print_end_line(b, r->tid, '$', false);
}

int cpm_msrp_print_auth(struct cpm_buf *b, const struct cpm_msrp_auth_req *a)
{
	int rc;
	if ((rc = cpm_msrp_print_req_start(b, a->tid, "AUTH", a->to_path, a->from_path)) ||
	    (a->authorization.len &&
	     (rc = cpm_msrp_print_hdr(b, "Authorization", a->authorization))))
		return rc;
	if (a->expires >= 0) {
		char v[21];
		size_t n = cpm_fmt_u64(v, (uint64_t)a->expires);
		if ((rc = cpm_msrp_print_hdr(b, "Expires", (struct cpm_str){ v, n })))
			return rc;
	}
	return cpm_msrp_print_end_line(b, a->tid, '$', false);
}

int cpm_msrp_print_response(struct cpm_buf *b, const struct cpm_msrp_msg *req,
			    int code, const char *comment)
{
	int rc = cpm_msrp_print_resp_start(b, req->tid, code, comment, req->to_path,
					   req->from_path);
	return rc ? rc : cpm_msrp_print_end_line(b, req->tid, '$', false);
}
