/* pres: the conference-info document (RFC 4575 §5) and the per-conference
 * change tracking behind full and partial notifications.  Every document
 * is parsed back by libxml2 and validated against
 * tests/unit/pres/conference-info.xsd (our schema of the subset we write),
 * then read with XPath. */
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
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "pres/pres.h"

#define XSD "tests/unit/pres/conference-info.xsd"
#define NS "urn:ietf:params:xml:ns:conference-info"

static xmlSchemaPtr schema;

static int setup(void **state)
{
	xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(XSD);
	schema = pc ? xmlSchemaParse(pc) : NULL;
	xmlSchemaFreeParserCtxt(pc);
	return schema ? 0 : -1;
}

static int teardown(void **state)
{
	xmlSchemaFree(schema);
	xmlCleanupParser();
	return 0;
}

/* Parse and validate; the caller frees the document. */
static xmlDocPtr valid(const struct cpm_buf *b)
{
	xmlDocPtr doc = xmlReadMemory(b->p, (int)b->len, "conf.xml", NULL, XML_PARSE_NONET);
	if (!doc)
		fail_msg("not well-formed:\n%.*s", (int)b->len, b->p);
	xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(schema);
	int rc = xmlSchemaValidateDoc(vc, doc);
	xmlSchemaFreeValidCtxt(vc);
	if (rc != 0)
		fail_msg("not valid (%d):\n%.*s", rc, (int)b->len, b->p);
	return doc;
}

/* The string value of an XPath expression (prefix c: the namespace). */
static char *xp(xmlDocPtr doc, const char *expr)
{
	static char out[512];
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathRegisterNs(ctx, (const xmlChar *)"c", (const xmlChar *)NS);
	char full[600];
	snprintf(full, sizeof full, "string(%s)", expr);
	xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *)full, ctx);
	snprintf(out, sizeof out, "%s", o && o->stringval ? (const char *)o->stringval : "");
	xmlXPathFreeObject(o);
	xmlXPathFreeContext(ctx);
	return out;
}

static int xp_count(xmlDocPtr doc, const char *expr)
{
	char full[600];
	snprintf(full, sizeof full, "count(%s)", expr);
	return atoi(xp(doc, full));
}

static const struct cpm_pres_conf_user alice = {
	.uri = "sip:alice@example.test",
	.display = "Al & <ice>",
	.role = CPM_PRES_CONF_OWNER,
	.status = CPM_PRES_CONF_CONNECTED,
	.joining = CPM_PRES_CONF_FOCUS_OWNER,
	.joined = 1700000000,
};

static const struct cpm_pres_conf_user bob = {
	.uri = "sip:bob@example.test",
	.endpoint = "sip:bob@192.0.2.7:5060",
	.status = CPM_PRES_CONF_DIALING_OUT,
	.joining = CPM_PRES_CONF_DIALED_OUT,
	.referred_by = "sip:alice@example.test",
};

static void test_doc_full(void **state)
{
	struct cpm_pres_conf_user users[] = { alice, bob,
					      { .uri = "sip:gone@example.test", .deleted = true } };
	struct cpm_pres_conf_info ci = {
		.entity = "sip:room@example.test",
		.version = 7,
		.describe = true,
		.display = "Room",
		.subject = "plans",
		.adhoc = true,
		.user_count = 1,
		.active = true,
		.users = users,
		.n = 3,
	};
	struct cpm_buf b;
	cpm_buf_init(&b, 65536);
	assert_int_equal(cpm_pres_conf_doc(&ci, &b), 0);
	xmlDocPtr d = valid(&b);
	assert_string_equal(xp(d, "/c:conference-info/@entity"), "sip:room@example.test");
	assert_string_equal(xp(d, "/c:conference-info/@state"), "full");
	assert_string_equal(xp(d, "/c:conference-info/@version"), "7");
	assert_string_equal(xp(d, "//c:conference-description/c:subject"), "plans");
	assert_string_equal(xp(d, "//c:conference-description/c:keywords"), "ad-hoc");
	assert_string_equal(xp(d, "//c:conf-uris/c:entry/c:uri"), "sip:room@example.test");
	assert_string_equal(xp(d, "//c:conference-state/c:user-count"), "1");
	assert_string_equal(xp(d, "//c:conference-state/c:active"), "true");
	/* a full document lists nobody deleted */
	assert_int_equal(xp_count(d, "//c:user"), 2);
	assert_string_equal(xp(d, "//c:users/@state"), "full");
	const char *a = "//c:user[@entity='sip:alice@example.test']";
	char q[256];
	snprintf(q, sizeof q, "%s/c:display-text", a);
	assert_string_equal(xp(d, q), "Al & <ice>"); /* escaped, read back */
	snprintf(q, sizeof q, "%s/c:roles/c:entry", a);
	assert_string_equal(xp(d, q), "owner");
	snprintf(q, sizeof q, "%s/c:endpoint/@entity", a);
	assert_string_equal(xp(d, q), "sip:alice@example.test"); /* uri by default */
	snprintf(q, sizeof q, "%s/c:endpoint/c:status", a);
	assert_string_equal(xp(d, q), "connected");
	snprintf(q, sizeof q, "%s/c:endpoint/c:joining-method", a);
	assert_string_equal(xp(d, q), "focus-owner");
	snprintf(q, sizeof q, "%s/c:endpoint/c:joining-info/c:when", a);
	assert_string_equal(xp(d, q), "2023-11-14T22:13:20Z");
	snprintf(q, sizeof q, "%s/c:endpoint/c:media/c:type", a);
	assert_string_equal(xp(d, q), "message");
	const char *bb = "//c:user[@entity='sip:bob@example.test']";
	snprintf(q, sizeof q, "%s/c:endpoint/@entity", bb);
	assert_string_equal(xp(d, q), "sip:bob@192.0.2.7:5060");
	snprintf(q, sizeof q, "%s/c:endpoint/c:status", bb);
	assert_string_equal(xp(d, q), "dialing-out");
	snprintf(q, sizeof q, "%s/c:endpoint/c:referred/c:by", bb);
	assert_string_equal(xp(d, q), "sip:alice@example.test");
	snprintf(q, sizeof q, "count(%s/c:endpoint/c:media)", bb);
	assert_string_equal(xp(d, q), "0"); /* not connected: no medium */
	snprintf(q, sizeof q, "%s/c:roles/c:entry", bb);
	assert_string_equal(xp(d, q), "participant");
	xmlFreeDoc(d);
	cpm_buf_free(&b);
}

static void test_doc_partial_deleted(void **state)
{
	struct cpm_pres_conf_user gone = {
		.uri = "sip:carol@example.test",
		.display = "carol",
		.joining = CPM_PRES_CONF_DIALED_OUT,
		.disc = CPM_PRES_CONF_BUSY,
		.reason = "486 Busy Here",
		.left = 1700000100,
		.deleted = true,
	};
	struct cpm_pres_conf_info ci = {
		.entity = "sip:room@example.test",
		.version = 2,
		.partial = true,
		.users = &gone,
		.n = 1,
	};
	struct cpm_buf b;
	cpm_buf_init(&b, 65536);
	assert_int_equal(cpm_pres_conf_doc(&ci, &b), 0);
	xmlDocPtr d = valid(&b);
	assert_string_equal(xp(d, "/c:conference-info/@state"), "partial");
	assert_string_equal(xp(d, "//c:users/@state"), "partial");
	assert_int_equal(xp_count(d, "//c:conference-description"), 0);
	assert_string_equal(xp(d, "//c:user/@state"), "deleted");
	assert_string_equal(xp(d, "//c:user/c:endpoint/c:status"), "disconnected");
	assert_string_equal(xp(d, "//c:user/c:endpoint/c:disconnection-method"), "busy");
	assert_string_equal(xp(d, "//c:user/c:endpoint/c:disconnection-info/c:reason"),
			    "486 Busy Here");
	assert_string_equal(xp(d, "//c:user/c:endpoint/c:disconnection-info/c:when"),
			    "2023-11-14T22:15:00Z");
	xmlFreeDoc(d);

	/* a partial document with no user change: no <users> at all */
	ci.n = 0;
	cpm_buf_reset(&b);
	assert_int_equal(cpm_pres_conf_doc(&ci, &b), 0);
	d = valid(&b);
	assert_int_equal(xp_count(d, "//c:users"), 0);
	xmlFreeDoc(d);

	/* no entity, a user without URI */
	ci.entity = NULL;
	assert_int_equal(cpm_pres_conf_doc(&ci, &b), CPM_EINVAL);
	struct cpm_pres_conf_user nouri = { .display = "x" };
	ci.entity = "sip:room@example.test";
	ci.users = &nouri;
	ci.n = 1;
	assert_int_equal(cpm_pres_conf_doc(&ci, &b), CPM_EINVAL);
	cpm_buf_free(&b);
}

/* The document a watcher gets; returns it parsed (NULL: nothing changed). */
static xmlDocPtr doc_for(struct cpm_pres_confs *cs, const char *room, unsigned version,
			 uint64_t *seen)
{
	struct cpm_buf b;
	cpm_buf_init(&b, 1 << 20);
	int rc = cpm_pres_confs_doc(cs, room, version, seen, &b);
	assert_true(rc == 0 || rc == 1);
	xmlDocPtr d = NULL;
	if (rc == 0)
		d = valid(&b);
	else
		assert_int_equal(b.len, 0);
	cpm_buf_free(&b);
	return d;
}

static void test_tracker(void **state)
{
	struct cpm_pres_confs *cs;
	assert_int_equal(cpm_pres_confs_new(8, &cs), 0);
	const char *room = "room@example.test";

	/* a watcher of a room nobody is in: a full document, no users */
	uint64_t w1 = 0;
	xmlDocPtr d = doc_for(cs, room, 0, &w1);
	assert_string_equal(xp(d, "/c:conference-info/@state"), "full");
	assert_string_equal(xp(d, "/c:conference-info/@entity"), "sip:room@example.test");
	assert_int_equal(xp_count(d, "//c:user"), 0);
	assert_string_equal(xp(d, "//c:active"), "false");
	xmlFreeDoc(d);
	assert_null(doc_for(cs, room, 1, &w1)); /* nothing new */

	assert_int_equal(cpm_pres_confs_describe(cs, room, NULL, "plans", false), 1);
	assert_int_equal(cpm_pres_confs_describe(cs, room, NULL, "plans", false), 0);
	assert_int_equal(cpm_pres_confs_set(cs, room, &alice), 1);
	assert_int_equal(cpm_pres_confs_set(cs, room, &alice), 0); /* the same */
	assert_true(cpm_pres_confs_has(cs, room, "SIP:Alice@example.test"));
	assert_int_equal(cpm_pres_confs_count(cs, room), 1);

	d = doc_for(cs, room, 1, &w1);
	assert_string_equal(xp(d, "/c:conference-info/@state"), "partial");
	assert_string_equal(xp(d, "/c:conference-info/@version"), "1");
	assert_string_equal(xp(d, "//c:conference-description/c:subject"), "plans");
	assert_int_equal(xp_count(d, "//c:user"), 1);
	assert_string_equal(xp(d, "//c:user/@state"), "full");
	assert_string_equal(xp(d, "//c:user-count"), "1");
	xmlFreeDoc(d);

	/* bob is invited: the next partial holds bob only */
	assert_int_equal(cpm_pres_confs_set(cs, room, &bob), 1);
	assert_int_equal(cpm_pres_confs_count(cs, room), 1); /* dialing-out: not counted */
	d = doc_for(cs, room, 2, &w1);
	assert_int_equal(xp_count(d, "//c:user"), 1);
	assert_string_equal(xp(d, "//c:user/@entity"), "sip:bob@example.test");
	assert_int_equal(xp_count(d, "//c:conference-description"), 0);
	xmlFreeDoc(d);

	/* a second watcher arrives: full, with both */
	uint64_t w2 = 0;
	d = doc_for(cs, room, 0, &w2);
	assert_string_equal(xp(d, "/c:conference-info/@state"), "full");
	assert_int_equal(xp_count(d, "//c:user"), 2);
	xmlFreeDoc(d);

	/* bob answers, alice takes a nickname, then bob leaves */
	struct cpm_pres_conf_user b2 = bob;
	b2.status = CPM_PRES_CONF_CONNECTED;
	assert_int_equal(cpm_pres_confs_set(cs, room, &b2), 1);
	struct cpm_pres_conf_user a2 = alice;
	a2.display = "ally";
	assert_int_equal(cpm_pres_confs_set(cs, room, &a2), 1);
	d = doc_for(cs, room, 1, &w2);
	assert_int_equal(xp_count(d, "//c:user"), 2);
	assert_string_equal(xp(d, "//c:user[@entity='sip:alice@example.test']/c:display-text"),
			    "ally");
	assert_string_equal(xp(d, "//c:user-count"), "2");
	xmlFreeDoc(d);
	assert_int_equal(cpm_pres_confs_gone(cs, room, "sip:bob@example.test",
					     CPM_PRES_CONF_DEPARTED, NULL, 1700000200),
			 1);
	assert_int_equal(cpm_pres_confs_gone(cs, room, "sip:bob@example.test",
					     CPM_PRES_CONF_DEPARTED, NULL, 0),
			 0); /* already gone */
	assert_false(cpm_pres_confs_has(cs, room, "sip:bob@example.test"));
	/* w1 missed the answer and the nickname: both users, bob deleted */
	d = doc_for(cs, room, 3, &w1);
	assert_int_equal(xp_count(d, "//c:user"), 2);
	assert_string_equal(xp(d, "//c:user[@entity='sip:bob@example.test']/@state"), "deleted");
	assert_string_equal(
		xp(d, "//c:user[@entity='sip:bob@example.test']/c:endpoint/c:disconnection-method"),
		"departed");
	xmlFreeDoc(d);
	d = doc_for(cs, room, 2, &w2);
	assert_int_equal(xp_count(d, "//c:user"), 1);
	assert_string_equal(xp(d, "//c:user/@state"), "deleted");
	xmlFreeDoc(d);

	/* a full document omits bob; once both saw it, the entry goes */
	uint64_t w3 = 0;
	d = doc_for(cs, room, 0, &w3);
	assert_int_equal(xp_count(d, "//c:user"), 1);
	xmlFreeDoc(d);
	cpm_pres_confs_prune(cs, room, w1 < w2 ? w1 : w2);
	assert_null(doc_for(cs, room, 4, &w1));

	/* bob comes back (a deleted entry revived or a new one: the same) */
	assert_int_equal(cpm_pres_confs_set(cs, room, &b2), 1);
	assert_true(cpm_pres_confs_has(cs, room, "sip:bob@example.test"));
	cpm_pres_confs_drop(cs, room);
	assert_false(cpm_pres_confs_has(cs, room, "sip:alice@example.test"));
	assert_int_equal(cpm_pres_confs_count(cs, room), 0);
	cpm_pres_confs_free(cs);
}

static void test_tracker_limits(void **state)
{
	struct cpm_pres_confs *cs;
	assert_int_equal(cpm_pres_confs_new(0, &cs), CPM_EINVAL);
	assert_int_equal(cpm_pres_confs_new(3, &cs), 0);
	const char *room = "r@example.test";
	struct cpm_pres_conf_user u = { .status = CPM_PRES_CONF_CONNECTED };
	char uri[64];
	for (int i = 0; i < 3; i++) {
		snprintf(uri, sizeof uri, "sip:u%d@example.test", i);
		u.uri = uri;
		assert_int_equal(cpm_pres_confs_set(cs, room, &u), 1);
	}
	u.uri = "sip:u3@example.test";
	assert_int_equal(cpm_pres_confs_set(cs, room, &u), CPM_ELIMIT);
	u.uri = NULL;
	assert_int_equal(cpm_pres_confs_set(cs, room, &u), CPM_EINVAL);

	/* a watcher that saw everything, then u0 leaves and u3 comes: the
	 * deleted entry of u0 makes room before the watcher saw it, so the
	 * watcher gets the whole state again, without u0 */
	uint64_t w = 0;
	xmlDocPtr d = doc_for(cs, room, 0, &w);
	xmlFreeDoc(d);
	assert_int_equal(cpm_pres_confs_gone(cs, room, "sip:u0@example.test",
					     CPM_PRES_CONF_BOOTED, "removed by the owner", 0),
			 1);
	u.uri = "sip:u3@example.test";
	assert_int_equal(cpm_pres_confs_set(cs, room, &u), 1);
	d = doc_for(cs, room, 1, &w);
	assert_string_equal(xp(d, "/c:conference-info/@state"), "full");
	assert_int_equal(xp_count(d, "//c:user"), 3);
	assert_int_equal(xp_count(d, "//c:user[@entity='sip:u0@example.test']"), 0);
	xmlFreeDoc(d);
	/* pruning an undescribed conference with nobody left drops it */
	for (int i = 1; i < 4; i++) {
		snprintf(uri, sizeof uri, "sip:u%d@example.test", i);
		assert_int_equal(cpm_pres_confs_gone(cs, room, uri, CPM_PRES_CONF_DEPARTED, NULL, 0),
				 1);
	}
	cpm_pres_confs_prune(cs, room, UINT64_MAX);
	uint64_t w4 = 5;
	assert_null(doc_for(cs, room, 2, &w4)); /* unknown now: nothing */

	/* a described conference with nobody in it stays while watched */
	const char *idle = "idle@example.test";
	assert_int_equal(cpm_pres_confs_describe(cs, idle, "Idle", "quiet", false), 1);
	cpm_pres_confs_prune(cs, idle, 5);
	uint64_t w5 = 0;
	d = doc_for(cs, idle, 0, &w5);
	assert_string_equal(xp(d, "//c:conference-description/c:subject"), "quiet");
	assert_string_equal(xp(d, "//c:conference-description/c:display-text"), "Idle");
	xmlFreeDoc(d);
	cpm_pres_confs_prune(cs, idle, UINT64_MAX); /* unwatched: it goes */
	w5 = 0;
	d = doc_for(cs, idle, 0, &w5);
	assert_int_equal(xp_count(d, "//c:conference-description"), 0);
	xmlFreeDoc(d);
	cpm_pres_confs_free(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doc_full),
		cmocka_unit_test(test_doc_partial_deleted),
		cmocka_unit_test(test_tracker),
		cmocka_unit_test(test_tracker_limits),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
