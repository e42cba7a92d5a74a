/* PIDF (RFC 3863) with the RPID activities (RFC 4480) and the data model's
 * person and device elements (RFC 4479): parsing and checking a published
 * document, composing several into one; the watcher-info document
 * (RFC 3858).  Pure: libxml2, no I/O, no logging. */
#include "pres/pres_int.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PIDF_NS "urn:ietf:params:xml:ns:pidf"
#define DM_NS "urn:ietf:params:xml:ns:pidf:data-model"
#define RPID_NS "urn:ietf:params:xml:ns:pidf:rpid"
#define WINFO_NS "urn:ietf:params:xml:ns:watcherinfo"
#define MAX_IDS 512 /* ids tracked while composing (tuples, persons, devices) */

struct cpm_pres_pidf {
	xmlDocPtr doc;
	struct cpm_pres_state st;
	unsigned tuple_acts; /* activities found in tuples */
};

/* RFC 4480 §3.2, in the order of the CPM_PRES_ACT_* bits. */
static const char *const activities[] = {
	"appointment", "away",	     "breakfast",	  "busy",	"dinner",
	"holiday",     "in-transit", "looking-for-work", "lunch",	"meal",
	"meeting",     "on-the-phone", "performance",	  "permanent-absence", "playing",
	"presentation", "shopping",  "sleeping",	  "spectator",	"steering",
	"travel",      "tv",	     "unknown",		  "vacation",	"working",
	"worship",     "other",
};

const char *cpm_pres_activity_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof activities / sizeof *activities; i++)
		if (bit == 1u << i)
			return activities[i];
	return NULL;
}

bool cpm_pres_state_busy(const struct cpm_pres_state *s)
{
	return (s->activities & CPM_PRES_ACT_BUSY_SET) || s->dnd;
}

static bool is(const xmlNode *n, const char *ns, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       strcmp((const char *)n->ns->href, ns) == 0 &&
	       strcmp((const char *)n->name, name) == 0;
}

static bool in_ns(const xmlNode *n, const char *ns)
{
	return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	       strcmp((const char *)n->ns->href, ns) == 0;
}

static const xmlNode *child(const xmlNode *n, const char *ns, const char *name)
{
	for (const xmlNode *c = n->children; c; c = c->next)
		if (is(c, ns, name))
			return c;
	return NULL;
}

/* The text of n, trimmed, into out. */
static void text_of(const xmlNode *n, char *out, size_t sz)
{
	xmlChar *t = xmlNodeGetContent(n);
	const char *s = t ? (const char *)t : "";
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	size_t l = strlen(s);
	while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r' || s[l - 1] == '\n'))
		l--;
	if (l >= sz)
		l = sz - 1; /* a note is informative: cut, on a UTF-8 boundary */
	while (l && ((unsigned char)s[l] & 0xC0) == 0x80)
		l--;
	memcpy(out, s, l);
	out[l] = '\0';
	xmlFree(t);
}

/* <rpid:activities>: the activity elements it holds. */
static void read_activities(const xmlNode *acts, unsigned *bits, bool *dnd)
{
	for (const xmlNode *c = acts->children; c; c = c->next) {
		if (!in_ns(c, RPID_NS))
			continue;
		for (size_t i = 0; i < sizeof activities / sizeof *activities; i++)
			if (strcmp((const char *)c->name, activities[i]) == 0)
				*bits |= 1u << i;
		if (strcmp((const char *)c->name, "other") == 0) {
			/* RPID has no do-not-disturb activity: clients say it
			 * in free text */
			char t[64];
			text_of(c, t, sizeof t);
			if (strcasecmp(t, "do-not-disturb") == 0 || strcasecmp(t, "dnd") == 0 ||
			    strcasecmp(t, "do not disturb") == 0)
				*dnd = true;
		}
	}
}

/* Activities anywhere below n (tuples: some clients put them in <status>). */
static void find_activities(const xmlNode *n, unsigned *bits, bool *dnd, int depth)
{
	if (depth > 8)
		return;
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (is(c, RPID_NS, "activities"))
			read_activities(c, bits, dnd);
		else if (c->type == XML_ELEMENT_NODE)
			find_activities(c, bits, dnd, depth + 1);
	}
}

static int perr(char *err, size_t errsz, const char *msg)
{
	if (err && errsz)
		snprintf(err, errsz, "%s", msg);
	return CPM_EPARSE;
}

static int check_tuple(const xmlNode *t, struct cpm_pres_pidf *d, bool *tdnd, char *err,
		       size_t errsz)
{
	xmlChar *id = xmlGetProp(t, (const xmlChar *)"id");
	bool has_id = id && id[0];
	xmlFree(id);
	if (!has_id)
		return perr(err, errsz, "tuple without id");
	const xmlNode *status = child(t, PIDF_NS, "status");
	if (!status)
		return perr(err, errsz, "tuple without status");
	const xmlNode *basic = child(status, PIDF_NS, "basic");
	if (basic) {
		char b[16];
		text_of(basic, b, sizeof b);
		if (strcmp(b, "open") == 0)
			d->st.open = true;
		else if (strcmp(b, "closed") != 0)
			return perr(err, errsz, "basic is neither open nor closed");
	}
	find_activities(t, &d->tuple_acts, tdnd, 0);
	return 0;
}

int cpm_pres_pidf_parse(struct cpm_str body, struct cpm_pres_pidf **out, char *err,
			size_t errsz)
{
	*out = NULL;
	if (body.len == 0 || body.len > INT32_MAX)
		return perr(err, errsz, "empty document");
	xmlInitParser();
	/* no network, no entity expansion (no XXE), no DTD loading */
	xmlDocPtr doc = xmlReadMemory(body.s, (int)body.len, NULL, NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
					      XML_PARSE_NOBLANKS);
	if (!doc)
		return perr(err, errsz, "not well-formed XML");
	struct cpm_pres_pidf *d = calloc(1, sizeof *d);
	if (!d) {
		xmlFreeDoc(doc);
		return CPM_ENOMEM;
	}
	d->doc = doc;
	xmlNode *root = xmlDocGetRootElement(doc);
	int rc = 0;
	bool tdnd = false;
	unsigned person_acts = 0;
	bool person_dnd = false;
	char pnote[sizeof d->st.note] = "";
	if (!root || !is(root, PIDF_NS, "presence")) {
		rc = perr(err, errsz, "root is not a PIDF <presence>");
		goto out;
	}
	for (const xmlNode *c = root->children; c && !rc; c = c->next) {
		if (is(c, PIDF_NS, "tuple")) {
			rc = check_tuple(c, d, &tdnd, err, errsz);
		} else if (is(c, PIDF_NS, "note")) {
			if (!d->st.note[0])
				text_of(c, d->st.note, sizeof d->st.note);
		} else if (is(c, DM_NS, "person") && !d->st.has_person) {
			d->st.has_person = true;
			for (const xmlNode *pc = c->children; pc; pc = pc->next) {
				if (is(pc, RPID_NS, "activities"))
					read_activities(pc, &person_acts, &person_dnd);
				else if (is(pc, DM_NS, "note") && !pnote[0])
					text_of(pc, pnote, sizeof pnote);
			}
		}
	}
	if (rc)
		goto out;
	/* the person speaks for the user (RFC 4479 §3.1); without one, what
	 * the tuples say */
	if (d->st.has_person) {
		d->st.activities = person_acts;
		d->st.dnd = person_dnd;
	} else {
		d->st.activities = d->tuple_acts;
		d->st.dnd = tdnd;
	}
	if (pnote[0])
		snprintf(d->st.note, sizeof d->st.note, "%s", pnote);
out:
	if (rc) {
		cpm_pres_pidf_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

void cpm_pres_pidf_free(struct cpm_pres_pidf *d)
{
	if (!d)
		return;
	xmlFreeDoc(d->doc);
	free(d);
}

const struct cpm_pres_state *cpm_pres_pidf_state(const struct cpm_pres_pidf *d)
{
	return &d->st;
}

/* ------------------------------------------------------------- composing */

struct ids {
	char *v[MAX_IDS];
	size_t n;
};

static bool id_used(const struct ids *ids, const char *id)
{
	for (size_t i = 0; i < ids->n; i++)
		if (strcmp(ids->v[i], id) == 0)
			return true;
	return false;
}

/* Give the copy an id not used yet in the document (xs:ID, RFC 3863
 * §4.1.4: unique within the document); false when it cannot. */
static bool unique_id(struct ids *ids, xmlNode *copy)
{
	xmlChar *id = xmlGetProp(copy, (const xmlChar *)"id");
	if (!id)
		return true; /* persons and devices need one too, but keep it */
	char orig[200], buf[256];
	snprintf(orig, sizeof orig, "%s", (const char *)id);
	xmlFree(id);
	snprintf(buf, sizeof buf, "%s", orig);
	for (unsigned k = 2; id_used(ids, buf) && k < 1000; k++)
		snprintf(buf, sizeof buf, "%s-%u", orig, k);
	if (id_used(ids, buf) || ids->n == MAX_IDS)
		return false;
	xmlSetProp(copy, (const xmlChar *)"id", (const xmlChar *)buf);
	ids->v[ids->n] = strdup(buf);
	if (!ids->v[ids->n])
		return false;
	ids->n++;
	return true;
}

static int add_copy(xmlDocPtr doc, xmlNode *root, const xmlNode *n, struct ids *ids)
{
	xmlNode *copy = xmlDocCopyNode((xmlNode *)n, doc, 1);
	if (!copy)
		return CPM_ENOMEM;
	if (ids && !unique_id(ids, copy)) {
		xmlFreeNode(copy);
		return 0; /* dropped: too many ids */
	}
	if (!xmlAddChild(root, copy)) {
		xmlFreeNode(copy);
		return CPM_ENOMEM;
	}
	/* the copy declared the namespaces it uses on itself: drop those
	 * the root already declares */
	xmlDOMWrapReconcileNamespaces(NULL, copy, 1 /* REMOVEREDUND, not exported */);
	return 0;
}

/* Was the text of note (in pubs[upto_pub]) given by an earlier note? */
static bool note_seen(struct cpm_pres_pidf *const *pubs, size_t upto_pub, const xmlNode *note)
{
	xmlChar *t = xmlNodeGetContent(note);
	bool seen = false;
	for (size_t i = 0; i <= upto_pub && !seen; i++) {
		const xmlNode *root = xmlDocGetRootElement(pubs[i]->doc);
		for (const xmlNode *c = root->children; c && !seen; c = c->next) {
			if (c == note)
				break;
			if (!is(c, PIDF_NS, "note"))
				continue;
			xmlChar *u = xmlNodeGetContent(c);
			seen = t && u && strcmp((const char *)t, (const char *)u) == 0;
			xmlFree(u);
		}
	}
	xmlFree(t);
	return seen;
}

int cpm_pres__xml_dump(void *xml_doc, struct cpm_buf *out)
{
	xmlDocPtr doc = xml_doc;
	xmlChar *mem = NULL;
	int size = 0;
	xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 1);
	if (!mem)
		return CPM_ENOMEM;
	int rc = cpm_buf_append(out, mem, (size_t)size);
	xmlFree(mem);
	return rc;
}

static xmlNode *new_root(xmlDocPtr doc, const char *entity)
{
	xmlNode *root = xmlNewDocNode(doc, NULL, (const xmlChar *)"presence", NULL);
	if (!root)
		return NULL;
	xmlDocSetRootElement(doc, root);
	xmlNs *ns = xmlNewNs(root, (const xmlChar *)PIDF_NS, NULL);
	xmlSetNs(root, ns);
	xmlSetProp(root, (const xmlChar *)"entity", (const xmlChar *)entity);
	return root;
}

void cpm_pres_pidf_merge(struct cpm_pres_pidf *const *pubs, size_t n, struct cpm_pres_state *st)
{
	memset(st, 0, sizeof *st);
	const struct cpm_pres_pidf *person_pub = NULL;
	for (size_t i = 0; i < n; i++) {
		st->open = st->open || pubs[i]->st.open;
		if (!person_pub && pubs[i]->st.has_person)
			person_pub = pubs[i];
	}
	if (person_pub) {
		/* the newest person speaks for the user (RFC 4479 §3.1) */
		st->activities = person_pub->st.activities;
		st->dnd = person_pub->st.dnd;
		st->has_person = true;
		snprintf(st->note, sizeof st->note, "%s", person_pub->st.note);
	} else {
		for (size_t i = 0; i < n; i++) {
			st->activities |= pubs[i]->tuple_acts;
			st->dnd = st->dnd || pubs[i]->st.dnd;
		}
	}
	for (size_t i = 0; i < n && !st->note[0]; i++)
		snprintf(st->note, sizeof st->note, "%s", pubs[i]->st.note);
}

int cpm_pres_pidf_compose(const char *entity, struct cpm_pres_pidf *const *pubs, size_t n,
			  int basic, struct cpm_buf *out, struct cpm_pres_state *st)
{
	if ((n == 0) == (basic < 0))
		return CPM_EINVAL;
	xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
	if (!doc)
		return CPM_ENOMEM;
	struct ids ids = { .n = 0 };
	int rc = 0;
	xmlNode *root = new_root(doc, entity);
	struct cpm_pres_state s;
	if (!root) {
		rc = CPM_ENOMEM;
		goto out;
	}
	if (n) {
		xmlNewNs(root, (const xmlChar *)DM_NS, (const xmlChar *)"dm");
		xmlNewNs(root, (const xmlChar *)RPID_NS, (const xmlChar *)"rpid");
	}
	if (basic >= 0) {
		/* a user who published nothing: one tuple from the server */
		xmlNode *t = xmlNewChild(root, root->ns, (const xmlChar *)"tuple", NULL);
		xmlNode *stn = t ? xmlNewChild(t, root->ns, (const xmlChar *)"status", NULL) : NULL;
		if (!stn || !xmlNewChild(stn, root->ns, (const xmlChar *)"basic",
					 (const xmlChar *)(basic ? "open" : "closed")) ||
		    !xmlSetProp(t, (const xmlChar *)"id", (const xmlChar *)"cpmd-registration")) {
			rc = CPM_ENOMEM;
			goto out;
		}
	}
	/* RFC 3863 §4.1 order: tuples, notes, then extensions */
	for (size_t i = 0; i < n && !rc; i++) {
		const xmlNode *r = xmlDocGetRootElement(pubs[i]->doc);
		for (const xmlNode *c = r->children; c && !rc; c = c->next)
			if (is(c, PIDF_NS, "tuple"))
				rc = add_copy(doc, root, c, &ids);
	}
	for (size_t i = 0; i < n && !rc; i++) {
		const xmlNode *r = xmlDocGetRootElement(pubs[i]->doc);
		for (const xmlNode *c = r->children; c && !rc; c = c->next)
			if (is(c, PIDF_NS, "note") && !note_seen(pubs, i, c))
				rc = add_copy(doc, root, c, NULL);
	}
	/* one person: the newest publication's that has one */
	const struct cpm_pres_pidf *person_pub = NULL;
	for (size_t i = 0; i < n && !person_pub; i++)
		if (pubs[i]->st.has_person)
			person_pub = pubs[i];
	for (size_t i = 0; i < n && !rc; i++) {
		const xmlNode *r = xmlDocGetRootElement(pubs[i]->doc);
		bool person_done = false;
		for (const xmlNode *c = r->children; c && !rc; c = c->next) {
			if (is(c, PIDF_NS, "tuple") || is(c, PIDF_NS, "note") ||
			    c->type != XML_ELEMENT_NODE)
				continue;
			if (is(c, DM_NS, "person")) {
				if (pubs[i] == person_pub && !person_done)
					rc = add_copy(doc, root, c, &ids);
				person_done = true;
			} else if (is(c, DM_NS, "device")) {
				rc = add_copy(doc, root, c, &ids);
			} else if (i == 0) {
				rc = add_copy(doc, root, c, NULL);
			}
		}
	}
	cpm_pres_pidf_merge(pubs, n, &s);
	if (basic >= 0)
		s.open = basic == 1;
	if (!rc)
		rc = cpm_pres__xml_dump(doc, out);
out:
	for (size_t i = 0; i < ids.n; i++)
		free(ids.v[i]);
	xmlFreeDoc(doc);
	if (!rc && st)
		*st = s;
	return rc;
}

/* ----------------------------------------------------------- watcher-info */

int cpm_pres_winfo_doc(const char *resource, unsigned version,
		       const struct cpm_pres_winfo_watcher *w, size_t n, struct cpm_buf *out)
{
	xmlDocPtr doc = xmlNewDoc((const xmlChar *)"1.0");
	if (!doc)
		return CPM_ENOMEM;
	int rc = CPM_ENOMEM;
	xmlNode *root = xmlNewDocNode(doc, NULL, (const xmlChar *)"watcherinfo", NULL);
	if (!root)
		goto out;
	xmlDocSetRootElement(doc, root);
	xmlNs *ns = xmlNewNs(root, (const xmlChar *)WINFO_NS, NULL);
	xmlSetNs(root, ns);
	char v[24];
	snprintf(v, sizeof v, "%u", version);
	xmlSetProp(root, (const xmlChar *)"version", (const xmlChar *)v);
	xmlSetProp(root, (const xmlChar *)"state", (const xmlChar *)"full");
	xmlNode *list = xmlNewChild(root, ns, (const xmlChar *)"watcher-list", NULL);
	if (!list)
		goto out;
	xmlSetProp(list, (const xmlChar *)"resource", (const xmlChar *)resource);
	xmlSetProp(list, (const xmlChar *)"package", (const xmlChar *)"presence");
	for (size_t i = 0; i < n; i++) {
		/* xmlNewTextChild escapes the content (a URI may hold '&') */
		xmlNode *e = xmlNewTextChild(list, ns, (const xmlChar *)"watcher",
					     (const xmlChar *)w[i].uri);
		if (!e)
			goto out;
		xmlSetProp(e, (const xmlChar *)"id", (const xmlChar *)w[i].id);
		xmlSetProp(e, (const xmlChar *)"status", (const xmlChar *)w[i].status);
		xmlSetProp(e, (const xmlChar *)"event", (const xmlChar *)w[i].event);
		if (w[i].duration >= 0) {
			snprintf(v, sizeof v, "%lld", (long long)w[i].duration);
			xmlSetProp(e, (const xmlChar *)"duration-subscribed", (const xmlChar *)v);
		}
	}
	rc = cpm_pres__xml_dump(doc, out);
out:
	xmlFreeDoc(doc);
	return rc;
}
