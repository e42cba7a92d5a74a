/* pres: PIDF parsing and checks (RFC 3863), RPID activities (RFC 4480),
 * composition of several publications into one document, the server's
 * registration tuple, and the watcher-info document (RFC 3858). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "pres/pres.h"

#define HEAD                                                                             \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                                     \
	"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" "                                 \
	"xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" "                             \
	"xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"sip:alice@example.test\">"
#define TAIL "</presence>"
#define TUPLE(id, basic)                                                                  \
	"<tuple id=\"" id "\"><status><basic>" basic "</basic></status>"                   \
	"<contact>sip:alice@192.0.2.1</contact></tuple>"
#define PERSON(id, acts)                                                                  \
	"<dm:person id=\"" id "\"><rpid:activities>" acts "</rpid:activities></dm:person>"

static struct cpm_pres_pidf *parse_ok(const char *text)
{
	struct cpm_pres_pidf *d = NULL;
	char err[128] = "";
	int rc = cpm_pres_pidf_parse(cpm_str_from_cstr(text), &d, err, sizeof err);
	if (rc)
		fail_msg("parse: %d %s\n%s", rc, err, text);
	return d;
}

static void refused(const char *text, const char *why)
{
	struct cpm_pres_pidf *d = NULL;
	char err[128] = "";
	assert_int_equal(cpm_pres_pidf_parse(cpm_str_from_cstr(text), &d, err, sizeof err),
			 CPM_EPARSE);
	assert_null(d);
	if (!strstr(err, why))
		fail_msg("error '%s' lacks '%s'", err, why);
}

static void test_parse(void **state)
{
	struct cpm_pres_pidf *d = parse_ok(HEAD TUPLE("t1", "open") "<note>at my desk</note>" TAIL);
	const struct cpm_pres_state *s = cpm_pres_pidf_state(d);
	assert_true(s->open);
	assert_false(s->has_person);
	assert_int_equal(s->activities, 0);
	assert_string_equal(s->note, "at my desk");
	assert_false(cpm_pres_state_busy(s));
	cpm_pres_pidf_free(d);

	/* closed, with a person who is on the phone: busy */
	d = parse_ok(HEAD TUPLE("t1", "closed") PERSON("p1", "<rpid:on-the-phone/>")
		     "<dm:person id=\"p2\"/>" TAIL);
	s = cpm_pres_pidf_state(d);
	assert_false(s->open);
	assert_true(s->has_person);
	assert_int_equal(s->activities, CPM_PRES_ACT_ON_THE_PHONE);
	assert_true(cpm_pres_state_busy(s));
	cpm_pres_pidf_free(d);

	/* away is not busy; a meeting is; several activities at once */
	d = parse_ok(HEAD TUPLE("t1", "open") PERSON("p", "<rpid:away/><rpid:meal/>") TAIL);
	s = cpm_pres_pidf_state(d);
	assert_int_equal(s->activities, CPM_PRES_ACT_AWAY | CPM_PRES_ACT_MEAL);
	assert_false(cpm_pres_state_busy(s));
	cpm_pres_pidf_free(d);
	d = parse_ok(HEAD TUPLE("t1", "open") PERSON("p", "<rpid:meeting/>") TAIL);
	assert_true(cpm_pres_state_busy(cpm_pres_pidf_state(d)));
	cpm_pres_pidf_free(d);

	/* do-not-disturb, which RPID can only say as free text */
	d = parse_ok(HEAD TUPLE("t1", "open")
		     PERSON("p", "<rpid:other> Do-Not-Disturb </rpid:other>") TAIL);
	s = cpm_pres_pidf_state(d);
	assert_true(s->dnd);
	assert_int_equal(s->activities, CPM_PRES_ACT_OTHER);
	assert_true(cpm_pres_state_busy(s));
	cpm_pres_pidf_free(d);

	/* activities in a tuple's status (older clients), no person */
	d = parse_ok(HEAD "<tuple id=\"t\"><status><basic>open</basic><rpid:activities>"
			  "<rpid:busy/></rpid:activities></status></tuple>" TAIL);
	assert_int_equal(cpm_pres_pidf_state(d)->activities, CPM_PRES_ACT_BUSY);
	cpm_pres_pidf_free(d);

	/* the person's note wins over the presence note; other prefixes */
	d = parse_ok("<p:presence xmlns:p=\"urn:ietf:params:xml:ns:pidf\" "
		     "xmlns:x=\"urn:ietf:params:xml:ns:pidf:data-model\" "
		     "xmlns:r=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"pres:a@b\">"
		     "<p:tuple id=\"a\"><p:status><p:basic>open</p:basic></p:status></p:tuple>"
		     "<p:note>presence note</p:note>"
		     "<x:person id=\"q\"><r:activities><r:vacation/></r:activities>"
		     "<x:note>person note</x:note></x:person></p:presence>");
	s = cpm_pres_pidf_state(d);
	assert_string_equal(s->note, "person note");
	assert_int_equal(s->activities, CPM_PRES_ACT_VACATION);
	cpm_pres_pidf_free(d);

	/* an empty presence is valid (RFC 3863: tuples are optional) */
	d = parse_ok(HEAD TAIL);
	assert_false(cpm_pres_pidf_state(d)->open);
	cpm_pres_pidf_free(d);
}

static void test_refusals(void **state)
{
	refused("", "empty");
	refused(HEAD TUPLE("t", "open"), "well-formed");
	refused("<presence xmlns=\"urn:other\"/>", "root");
	refused("<tuple xmlns=\"urn:ietf:params:xml:ns:pidf\"/>", "root");
	refused(HEAD "<tuple><status><basic>open</basic></status></tuple>" TAIL, "without id");
	refused(HEAD "<tuple id=\"\"><status/></tuple>" TAIL, "without id");
	refused(HEAD "<tuple id=\"t\"/>" TAIL, "without status");
	refused(HEAD "<tuple id=\"t\"><status><basic>maybe</basic></status></tuple>" TAIL,
		"neither open nor closed");
	/* an external entity is neither fetched nor expanded (no XXE) */
	refused("<?xml version=\"1.0\"?><!DOCTYPE p [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
		"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:a@b\">"
		"<tuple id=\"t\"><status><basic>&x;</basic></status></tuple></presence>",
		"");
}

/* The document as a tree, for checks that do not depend on formatting. */
static xmlDocPtr reparse(const struct cpm_buf *b)
{
	xmlDocPtr doc = xmlReadMemory(b->p, (int)b->len, NULL, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	return doc;
}

static int count(xmlNode *n, const char *name, const char *with_id)
{
	int c = 0;
	for (; n; n = n->next) {
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0) {
			xmlChar *id = xmlGetProp(n, (const xmlChar *)"id");
			if (!with_id || (id && strcmp((const char *)id, with_id) == 0))
				c++;
			xmlFree(id);
		}
		c += count(n->children, name, with_id);
	}
	return c;
}

static void test_compose(void **state)
{
	/* three devices: the newest first */
	struct cpm_pres_pidf *pubs[3] = {
		parse_ok(HEAD TUPLE("dev", "closed") PERSON("p", "<rpid:busy/>")
			 "<note>in a meeting</note>" TAIL),
		parse_ok(HEAD TUPLE("dev", "open") "<note>in a meeting</note>"
			 "<dm:device id=\"d1\"><dm:deviceID>urn:x:1</dm:deviceID></dm:device>" TAIL),
		parse_ok(HEAD TUPLE("phone", "closed") PERSON("p", "<rpid:away/>")
			 "<note>old note</note>" TAIL),
	};
	struct cpm_buf b;
	cpm_buf_init(&b, 1 << 20);
	struct cpm_pres_state st;
	assert_int_equal(cpm_pres_pidf_compose("sip:alice@example.test", pubs, 3, -1, &b, &st),
			 0);
	/* open: one device is; the newest person speaks (busy) */
	assert_true(st.open);
	assert_true(st.has_person);
	assert_int_equal(st.activities, CPM_PRES_ACT_BUSY);
	assert_true(cpm_pres_state_busy(&st));
	/* the same state without building the document */
	struct cpm_pres_state merged;
	cpm_pres_pidf_merge(pubs, 3, &merged);
	assert_memory_equal(&merged, &st, sizeof st);
	cpm_pres_pidf_merge(pubs + 1, 2, &merged);
	assert_int_equal(merged.activities, CPM_PRES_ACT_AWAY);
	assert_string_equal(merged.note, "old note"); /* from the publication with the person */
	xmlDocPtr doc = reparse(&b);
	xmlNode *root = xmlDocGetRootElement(doc);
	assert_string_equal((const char *)root->name, "presence");
	assert_string_equal((const char *)root->ns->href, "urn:ietf:params:xml:ns:pidf");
	xmlChar *entity = xmlGetProp(root, (const xmlChar *)"entity");
	assert_string_equal((const char *)entity, "sip:alice@example.test");
	xmlFree(entity);
	/* every tuple, the duplicate id renamed (unique in the document) */
	assert_int_equal(count(root, "tuple", NULL), 3);
	assert_int_equal(count(root, "tuple", "dev"), 1);
	assert_int_equal(count(root, "tuple", "dev-2"), 1);
	assert_int_equal(count(root, "tuple", "phone"), 1);
	/* one person, the newest's: busy, not away */
	assert_int_equal(count(root, "person", NULL), 1);
	assert_int_equal(count(root, "busy", NULL), 1);
	assert_int_equal(count(root, "away", NULL), 0);
	assert_int_equal(count(root, "device", "d1"), 1);
	/* notes: each text once */
	assert_int_equal(count(root, "note", NULL), 2);
	/* RFC 3863 order: tuples before notes before extensions */
	int seen_note = 0, bad = 0;
	for (xmlNode *c = root->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp((const char *)c->name, "note") == 0)
			seen_note = 1;
		else if (strcmp((const char *)c->name, "tuple") == 0 && seen_note)
			bad = 1;
	}
	assert_false(bad);
	xmlFreeDoc(doc);
	/* the composition parses back as a valid publication */
	struct cpm_pres_pidf *again = parse_ok(b.p);
	assert_true(cpm_pres_pidf_state(again)->open);
	assert_int_equal(cpm_pres_pidf_state(again)->activities, CPM_PRES_ACT_BUSY);
	cpm_pres_pidf_free(again);
	/* without the newest: the older person (away) speaks, nobody busy */
	cpm_buf_reset(&b);
	assert_int_equal(cpm_pres_pidf_compose("sip:alice@example.test", pubs + 1, 2, -1, &b,
					       &st),
			 0);
	assert_int_equal(st.activities, CPM_PRES_ACT_AWAY);
	assert_false(cpm_pres_state_busy(&st));
	assert_non_null(strstr(b.p, "id=\"dev\""));
	assert_null(strstr(b.p, "dev-2"));
	for (int i = 0; i < 3; i++)
		cpm_pres_pidf_free(pubs[i]);
	cpm_buf_free(&b);
}

static void test_basic_tuple(void **state)
{
	struct cpm_buf b;
	cpm_buf_init(&b, 65536);
	struct cpm_pres_state st;
	assert_int_equal(cpm_pres_pidf_compose("sip:a&b@example.test", NULL, 0, 1, &b, &st), 0);
	assert_true(st.open);
	/* the entity is escaped; the document is a valid PIDF */
	assert_non_null(strstr(b.p, "entity=\"sip:a&amp;b@example.test\""));
	struct cpm_pres_pidf *d = parse_ok(b.p);
	assert_true(cpm_pres_pidf_state(d)->open);
	cpm_pres_pidf_free(d);
	cpm_buf_reset(&b);
	assert_int_equal(cpm_pres_pidf_compose("sip:a@example.test", NULL, 0, 0, &b, &st), 0);
	assert_false(st.open);
	assert_non_null(strstr(b.p, "<basic>closed</basic>"));
	/* n and basic go together */
	assert_int_equal(cpm_pres_pidf_compose("sip:a@example.test", NULL, 0, -1, &b, NULL),
			 CPM_EINVAL);
	cpm_buf_free(&b);
}

static void test_winfo(void **state)
{
	struct cpm_pres_winfo_watcher w[2] = {
		{ "sip:bob@example.test", "ab12", "active", "approved", 42 },
		{ "sip:c<d@example.test", "w1", "pending", "subscribe", -1 },
	};
	struct cpm_buf b;
	cpm_buf_init(&b, 65536);
	assert_int_equal(cpm_pres_winfo_doc("sip:alice@example.test", 3, w, 2, &b), 0);
	xmlDocPtr doc = reparse(&b);
	xmlNode *root = xmlDocGetRootElement(doc);
	assert_string_equal((const char *)root->name, "watcherinfo");
	assert_string_equal((const char *)root->ns->href, "urn:ietf:params:xml:ns:watcherinfo");
	xmlChar *v = xmlGetProp(root, (const xmlChar *)"version");
	assert_string_equal((const char *)v, "3");
	xmlFree(v);
	v = xmlGetProp(root, (const xmlChar *)"state");
	assert_string_equal((const char *)v, "full");
	xmlFree(v);
	xmlNode *list = root->children;
	while (list && list->type != XML_ELEMENT_NODE)
		list = list->next;
	assert_non_null(list);
	v = xmlGetProp(list, (const xmlChar *)"resource");
	assert_string_equal((const char *)v, "sip:alice@example.test");
	xmlFree(v);
	v = xmlGetProp(list, (const xmlChar *)"package");
	assert_string_equal((const char *)v, "presence");
	xmlFree(v);
	assert_int_equal(count(root, "watcher", NULL), 2);
	assert_int_equal(count(root, "watcher", "ab12"), 1);
	assert_non_null(strstr(b.p, "duration-subscribed=\"42\""));
	assert_non_null(strstr(b.p, ">sip:c&lt;d@example.test</watcher>"));
	xmlFreeDoc(doc);
	cpm_buf_free(&b);
}

static void test_activity_names(void **state)
{
	assert_string_equal(cpm_pres_activity_name(CPM_PRES_ACT_ON_THE_PHONE), "on-the-phone");
	assert_string_equal(cpm_pres_activity_name(CPM_PRES_ACT_BUSY), "busy");
	assert_string_equal(cpm_pres_activity_name(CPM_PRES_ACT_OTHER), "other");
	assert_null(cpm_pres_activity_name(CPM_PRES_ACT_BUSY | CPM_PRES_ACT_AWAY));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_compose),
		cmocka_unit_test(test_basic_tuple),
		cmocka_unit_test(test_winfo),
		cmocka_unit_test(test_activity_names),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}
