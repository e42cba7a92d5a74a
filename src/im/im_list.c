/* URI-list MESSAGE (RFC 5365): the body is multipart/mixed with the
 * message itself and a recipient list, an application/resource-lists+xml
 * part (RFC 4826) with "Content-Disposition: recipient-list".  Pure: reads
 * the parsed request, returns the recipients and the payload. */
#include "im/im.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#define RL_NS "urn:ietf:params:xml:ns:resource-lists"
#define CC_NS "urn:ietf:params:xml:ns:copycontrol" /* RFC 5364 */
#define MAX_PARTS 8

static void set_err(char *err, const char *msg, const char *detail)
{
	if (err)
		snprintf(err, CPM_IM_ERR_MAX, "%s%s%s", msg, detail ? ": " : "",
			 detail ? detail : "");
}

static bool ctype_is(struct cpm_str value, const char *type)
{
	struct cpm_str mime, params;
	return cpm_sip_ctype_parse(value, &mime, &params) == 0 && cpm_str_ieq_cstr(mime, type);
}

static bool disposition_is(struct cpm_str value, const char *type)
{
	long semi = cpm_str_chr(value, ';');
	if (semi >= 0)
		value.len = (size_t)semi;
	return cpm_str_ieq_cstr(cpm_str_trim(value), type);
}

static int add_entry(struct cpm_im_list *l, const char *uri, const char *copy, unsigned max,
		     char *err)
{
	struct cpm_sip_uri u;
	char aor[256];
	if (cpm_sip_uri_parse(cpm_str_from_cstr(uri), &u) ||
	    (u.scheme != CPM_SIP_SCHEME_SIP && u.scheme != CPM_SIP_SCHEME_SIPS) || !u.user.len ||
	    cpm_sip_uri_aor(&u, aor, sizeof aor) < 0) {
		set_err(err, "recipient is not a sip: or sips: user URI", uri);
		return CPM_EPARSE;
	}
	/* RFC 5365 §4.1: each recipient gets one copy */
	for (unsigned i = 0; i < l->n; i++)
		if (strcmp(l->v[i].aor, aor) == 0)
			return 0;
	if (l->n >= max) {
		set_err(err, "too many recipients", NULL);
		return CPM_ELIMIT;
	}
	if (l->n == l->cap) {
		unsigned cap = l->cap ? 2 * l->cap : 8;
		struct cpm_im_list_entry *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return CPM_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	struct cpm_im_list_entry *e = &l->v[l->n++];
	memset(e, 0, sizeof *e);
	snprintf(e->uri, sizeof e->uri, "%s", uri);
	snprintf(e->aor, sizeof e->aor, "%s", aor);
	e->copy = !copy || strcmp(copy, "to") == 0 ? CPM_IM_COPY_TO
		  : strcmp(copy, "cc") == 0	  ? CPM_IM_COPY_CC
						  : CPM_IM_COPY_BCC;
	return 0;
}

static bool in_ns(const xmlNode *n, const char *ns)
{
	return n->ns && n->ns->href && strcmp((const char *)n->ns->href, ns) == 0;
}

/* Every <entry uri=...> of the document, at any depth below <list>
 * (RFC 4826 §3.2; entry-ref and external need a server to resolve them:
 * refused as such). */
static int walk(const xmlNode *n, struct cpm_im_list *l, unsigned max, char *err, int depth)
{
	if (depth > 16) {
		set_err(err, "recipient list nested too deeply", NULL);
		return CPM_ELIMIT;
	}
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE || !in_ns(n, RL_NS))
			continue;
		const char *name = (const char *)n->name;
		if (strcmp(name, "entry") == 0) {
			xmlChar *uri = xmlGetProp(n, (const xmlChar *)"uri");
			xmlChar *copy = xmlGetNsProp(n, (const xmlChar *)"copyControl",
						     (const xmlChar *)CC_NS);
			int rc = uri ? add_entry(l, (const char *)uri, (const char *)copy, max, err)
				     : CPM_EPARSE;
			if (!uri)
				set_err(err, "entry without uri", NULL);
			xmlFree(uri);
			xmlFree(copy);
			if (rc)
				return rc;
		} else if (strcmp(name, "list") == 0) {
			int rc = walk(n->children, l, max, err, depth + 1);
			if (rc)
				return rc;
		} else if (strcmp(name, "entry-ref") == 0 || strcmp(name, "external") == 0) {
			set_err(err, "entry-ref and external are not supported", name);
			return CPM_EUNSUPP;
		}
	}
	return 0;
}

static int parse_xml(struct cpm_str body, struct cpm_im_list *l, unsigned max, char *err)
{
	xmlInitParser();
	/* no network, no entity expansion (no XXE), no DTD loading */
	xmlDocPtr doc = xmlReadMemory(body.s, (int)body.len, NULL, NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		set_err(err, "recipient list is not well-formed XML", NULL);
		return CPM_EPARSE;
	}
	xmlNode *root = xmlDocGetRootElement(doc);
	int rc;
	if (!root || !in_ns(root, RL_NS) || strcmp((const char *)root->name, "resource-lists")) {
		set_err(err, "recipient list root is not resource-lists", NULL);
		rc = CPM_EPARSE;
	} else {
		rc = walk(root->children, l, max, err, 0);
		if (!rc && l->n == 0) {
			set_err(err, "recipient list is empty", NULL);
			rc = CPM_EPARSE;
		}
	}
	xmlFreeDoc(doc);
	return rc;
}

int cpm_im_list_parse(const struct cpm_sip_msg *req, unsigned max, struct cpm_im_list *out,
		      char *err)
{
	memset(out, 0, sizeof *out);
	const struct cpm_sip_hdr *h = cpm_sip_msg_hdr(req, CPM_SIP_H_CONTENT_TYPE);
	struct cpm_str mime, params, boundary;
	if (!h || cpm_sip_ctype_parse(h->value, &mime, &params) < 0 ||
	    !cpm_str_ieq_cstr(mime, "multipart/mixed") ||
	    !cpm_sip_param_find(params, "boundary", &boundary)) {
		set_err(err, "a URI-list MESSAGE body is multipart/mixed (RFC 5365 §4)", NULL);
		return CPM_EUNSUPP;
	}
	boundary = cpm_sip_unquote(boundary);
	struct cpm_str cur = req->body, list = CPM_STR_NULL;
	struct cpm_sip_part part;
	bool have_payload = false, have_list = false;
	for (unsigned i = 0; i < MAX_PARTS; i++) {
		int rc = cpm_sip_multipart_next(&cur, boundary, &part);
		if (rc < 0) {
			set_err(err, "malformed multipart body", NULL);
			return CPM_EPARSE;
		}
		if (rc == 0)
			break;
		if (ctype_is(part.content_type, "application/resource-lists+xml") &&
		    disposition_is(part.disposition, "recipient-list")) {
			if (have_list) {
				set_err(err, "more than one recipient-list part", NULL);
				return CPM_EPARSE;
			}
			list = part.body;
			have_list = true;
		} else if (!have_payload) {
			/* RFC 2046 §5.1.1: a part without Content-Type is text/plain */
			out->payload_ctype =
				part.content_type.len ? part.content_type : CPM_STR("text/plain");
			out->payload = part.body;
			have_payload = true;
		}
	}
	if (!have_list) {
		set_err(err, "no recipient-list part (application/resource-lists+xml)", NULL);
		return CPM_EPARSE;
	}
	if (!have_payload) {
		set_err(err, "no message part besides the recipient list", NULL);
		return CPM_EPARSE;
	}
	int rc = parse_xml(list, out, max ? max : 1, err);
	if (rc)
		cpm_im_list_free(out);
	return rc;
}

void cpm_im_list_free(struct cpm_im_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}
