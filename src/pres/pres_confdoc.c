/* The conference-info document of the conference event package (RFC 4575
 * §5): conference description, state and users, full or partial.  Pure:
 * libxml2, no I/O, no logging. */
#include "pres/pres_int.h"

#include <libxml/tree.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CONF_NS "urn:ietf:params:xml:ns:conference-info"

static const char *const status_names[] = {
	[CPM_PRES_CONF_CONNECTED] = "connected",
	[CPM_PRES_CONF_DIALING_OUT] = "dialing-out",
	[CPM_PRES_CONF_DIALING_IN] = "dialing-in",
	[CPM_PRES_CONF_ALERTING] = "alerting",
	[CPM_PRES_CONF_ON_HOLD] = "on-hold",
	[CPM_PRES_CONF_PENDING] = "pending",
	[CPM_PRES_CONF_DISCONNECTING] = "disconnecting",
	[CPM_PRES_CONF_DISCONNECTED] = "disconnected",
};

static const char *const joining_names[] = {
	[CPM_PRES_CONF_DIALED_IN] = "dialed-in",
	[CPM_PRES_CONF_DIALED_OUT] = "dialed-out",
	[CPM_PRES_CONF_FOCUS_OWNER] = "focus-owner",
};

static const char *const disc_names[] = {
	[CPM_PRES_CONF_DEPARTED] = "departed",
	[CPM_PRES_CONF_BOOTED] = "booted",
	[CPM_PRES_CONF_FAILED] = "failed",
	[CPM_PRES_CONF_BUSY] = "busy",
};

static const char *const role_names[] = {
	[CPM_PRES_CONF_PARTICIPANT] = "participant",
	[CPM_PRES_CONF_MODERATOR] = "moderator",
	[CPM_PRES_CONF_OWNER] = "owner",
};

#define NAME_OF(tab, v) ((unsigned)(v) < sizeof tab / sizeof *tab ? tab[v] : tab[0])

const char *cpm_pres_conf_status_name(enum cpm_pres_conf_status s)
{
	return NAME_OF(status_names, s);
}

static bool given(const char *s)
{
	return s && s[0];
}

/* A child with text content (escaped by libxml2); NULL on ENOMEM. */
static xmlNode *text_child(xmlNode *parent, xmlNs *ns, const char *name, const char *text)
{
	return xmlNewTextChild(parent, ns, (const xmlChar *)name, (const xmlChar *)text);
}

/* xs:dateTime in UTC. */
static void fmt_when(int64_t t, char *out, size_t sz)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, sz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* <joining-info>, <disconnection-info>, <referred>: execution-type
 * (§5.6.6): when, reason, by, in that order. */
static int execution(xmlNode *ep, xmlNs *ns, const char *name, int64_t when, const char *reason,
		     const char *by)
{
	xmlNode *e = xmlNewChild(ep, ns, (const xmlChar *)name, NULL);
	if (!e)
		return CPM_ENOMEM;
	char w[32];
	if (when > 0) {
		fmt_when(when, w, sizeof w);
		if (!text_child(e, ns, "when", w))
			return CPM_ENOMEM;
	}
	if (given(reason) && !text_child(e, ns, "reason", reason))
		return CPM_ENOMEM;
	if (given(by) && !text_child(e, ns, "by", by))
		return CPM_ENOMEM;
	return 0;
}

static int user_elem(xmlNode *users, xmlNs *ns, const struct cpm_pres_conf_user *u)
{
	if (!given(u->uri))
		return CPM_EINVAL;
	xmlNode *e = xmlNewChild(users, ns, (const xmlChar *)"user", NULL);
	if (!e)
		return CPM_ENOMEM;
	xmlSetProp(e, (const xmlChar *)"entity", (const xmlChar *)u->uri);
	xmlSetProp(e, (const xmlChar *)"state", (const xmlChar *)(u->deleted ? "deleted" : "full"));
	/* user-type (§5.6): display-text, associated-aors, roles, languages,
	 * cascaded-focus, endpoint */
	if (given(u->display) && !text_child(e, ns, "display-text", u->display))
		return CPM_ENOMEM;
	xmlNode *roles = xmlNewChild(e, ns, (const xmlChar *)"roles", NULL);
	if (!roles || !text_child(roles, ns, "entry", NAME_OF(role_names, u->role)))
		return CPM_ENOMEM;
	xmlNode *ep = xmlNewChild(e, ns, (const xmlChar *)"endpoint", NULL);
	if (!ep)
		return CPM_ENOMEM;
	xmlSetProp(ep, (const xmlChar *)"entity",
		   (const xmlChar *)(given(u->endpoint) ? u->endpoint : u->uri));
	xmlSetProp(ep, (const xmlChar *)"state", (const xmlChar *)"full");
	/* endpoint-type (§5.6.4-§5.6.8): display-text, referred, status,
	 * joining-method, joining-info, disconnection-method,
	 * disconnection-info, media, call-info */
	enum cpm_pres_conf_status st = u->deleted ? CPM_PRES_CONF_DISCONNECTED : u->status;
	int rc = 0;
	if (given(u->referred_by))
		rc = execution(ep, ns, "referred", 0, NULL, u->referred_by);
	if (rc || !text_child(ep, ns, "status", NAME_OF(status_names, st)) ||
	    !text_child(ep, ns, "joining-method", NAME_OF(joining_names, u->joining)))
		return rc ? rc : CPM_ENOMEM;
	if (u->joined > 0 && (rc = execution(ep, ns, "joining-info", u->joined, NULL, NULL)))
		return rc;
	if (st == CPM_PRES_CONF_DISCONNECTED) {
		if (!text_child(ep, ns, "disconnection-method", NAME_OF(disc_names, u->disc)))
			return CPM_ENOMEM;
		if ((u->left > 0 || given(u->reason)) &&
		    (rc = execution(ep, ns, "disconnection-info", u->left, u->reason, NULL)))
			return rc;
	}
	if (st == CPM_PRES_CONF_CONNECTED) {
		/* the one medium of a chat room: the MSRP stream (SDP media
		 * type "message", RFC 4975 §8) */
		xmlNode *m = xmlNewChild(ep, ns, (const xmlChar *)"media", NULL);
		if (!m)
			return CPM_ENOMEM;
		xmlSetProp(m, (const xmlChar *)"id", (const xmlChar *)"1");
		if (!text_child(m, ns, "type", "message") || !text_child(m, ns, "status", "sendrecv"))
			return CPM_ENOMEM;
	}
	return 0;
}

static int build(xmlDocPtr doc, const struct cpm_pres_conf_info *ci)
{
	xmlNode *root = xmlNewDocNode(doc, NULL, (const xmlChar *)"conference-info", NULL);
	if (!root)
		return CPM_ENOMEM;
	xmlDocSetRootElement(doc, root);
	xmlNs *ns = xmlNewNs(root, (const xmlChar *)CONF_NS, NULL);
	if (!ns)
		return CPM_ENOMEM;
	xmlSetNs(root, ns);
	char v[24];
	snprintf(v, sizeof v, "%u", ci->version);
	xmlSetProp(root, (const xmlChar *)"entity", (const xmlChar *)ci->entity);
	xmlSetProp(root, (const xmlChar *)"state",
		   (const xmlChar *)(ci->partial ? "partial" : "full"));
	xmlSetProp(root, (const xmlChar *)"version", (const xmlChar *)v);
	/* conference-type (§5.2-§5.6): conference-description, host-info,
	 * conference-state, users */
	if (ci->describe) {
		xmlNode *d = xmlNewChild(root, ns, (const xmlChar *)"conference-description", NULL);
		if (!d)
			return CPM_ENOMEM;
		if (given(ci->display) && !text_child(d, ns, "display-text", ci->display))
			return CPM_ENOMEM;
		if (given(ci->subject) && !text_child(d, ns, "subject", ci->subject))
			return CPM_ENOMEM;
		if (ci->adhoc && !text_child(d, ns, "keywords", "ad-hoc"))
			return CPM_ENOMEM;
		/* conf-uris: how to join (§5.3.1) */
		xmlNode *uris = xmlNewChild(d, ns, (const xmlChar *)"conf-uris", NULL);
		xmlNode *entry = uris ? xmlNewChild(uris, ns, (const xmlChar *)"entry", NULL) : NULL;
		if (!entry || !text_child(entry, ns, "uri", ci->entity) ||
		    !text_child(entry, ns, "purpose", "participation"))
			return CPM_ENOMEM;
	}
	xmlNode *cs = xmlNewChild(root, ns, (const xmlChar *)"conference-state", NULL);
	snprintf(v, sizeof v, "%u", ci->user_count);
	if (!cs || !text_child(cs, ns, "user-count", v) ||
	    !text_child(cs, ns, "active", ci->active ? "true" : "false"))
		return CPM_ENOMEM;
	if (ci->partial && !ci->n)
		return 0;
	xmlNode *users = xmlNewChild(root, ns, (const xmlChar *)"users", NULL);
	if (!users)
		return CPM_ENOMEM;
	xmlSetProp(users, (const xmlChar *)"state",
		   (const xmlChar *)(ci->partial ? "partial" : "full"));
	for (size_t i = 0; i < ci->n; i++) {
		/* a full document lists who is there, nobody deleted */
		if (!ci->partial && ci->users[i].deleted)
			continue;
		int rc = user_elem(users, ns, &ci->users[i]);
		if (rc)
			return rc;
	}
	return 0;
}

int cpm_pres_conf_doc(const struct cpm_pres_conf_info *ci, struct cpm_buf *out)
{
	if (!given(ci->entity))
		return CPM_EINVAL;
	xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
	if (!doc)
		return CPM_ENOMEM;
	int rc = build(doc, ci);
	if (!rc)
		rc = cpm_pres__xml_dump(doc, out);
	xmlFreeDoc(doc);
	return rc;
}
