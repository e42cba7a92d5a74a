/* SDP offer/answer for the server's MSRP sessions (RFC 3264, RFC 4975 §8,
 * RFC 6135): the answer to an offer of m=message ... TCP/MSRP, and the
 * offer we make ourselves.  Pure: no I/O (unit-tested in
 * tests/unit/chat/test_chat_sdp.c). */
#include "chat/chat.h"
#include "sdp/sdp.h"

#include <stdlib.h>
#include <string.h>

/* Does type (a "type/subtype" item) match pattern ("*", "type/ *",
 * "type/subtype"), case-insensitively? */
static bool type_match(struct cpm_str pattern, struct cpm_str type)
{
	if (cpm_str_eq_cstr(pattern, "*"))
		return true;
	long slash = cpm_str_chr(pattern, '/');
	if (slash >= 0 && (size_t)slash + 2 == pattern.len && pattern.s[slash + 1] == '*')
		return type.len > (size_t)slash + 1 &&
		       cpm_str_ieq((struct cpm_str){ pattern.s, (size_t)slash + 1 },
				   (struct cpm_str){ type.s, (size_t)slash + 1 });
	return cpm_str_ieq(pattern, type);
}

bool cpm_chat_sdp_types_meet(struct cpm_str theirs, struct cpm_str ours)
{
	struct cpm_str a = theirs, ta;
	while (cpm_sdp_list_next(&a, &ta) == 1) {
		struct cpm_str b = ours, tb;
		while (cpm_sdp_list_next(&b, &tb) == 1)
			if (type_match(ta, tb) || type_match(tb, ta))
				return true;
	}
	return false;
}

/* The session-level lines we write: o=, s=, c=, t= (by the printer). */
static void base(struct cpm_sdp *d, const struct cpm_chat_sdp_params *p, char *idbuf,
		 size_t idsz)
{
	snprintf(idbuf, idsz, "%llu", (unsigned long long)p->sess_id);
	struct cpm_str host = cpm_str_from_cstr(p->host);
	bool v6 = cpm_str_chr(host, ':') >= 0;
	if (host.len && host.s[0] == '[') { /* bare address in c= and o= */
		host.s++;
		host.len = host.len >= 2 ? host.len - 2 : 0;
	}
	d->version = 0;
	d->origin = (struct cpm_sdp_origin){
		.username = CPM_STR("cpmd"),
		.sess_id = cpm_str_from_cstr(idbuf),
		.sess_version = cpm_str_from_cstr(idbuf),
		.nettype = CPM_STR("IN"),
		.addrtype = v6 ? CPM_STR("IP6") : CPM_STR("IP4"),
		.address = host,
	};
	d->name = CPM_STR("-");
	d->has_conn = true;
	d->conn = (struct cpm_sdp_conn){ .nettype = CPM_STR("IN"),
					 .addrtype = d->origin.addrtype,
					 .address = host };
}

static const char *setup_name(enum cpm_sdp_setup s)
{
	switch (s) {
	case CPM_SDP_SETUP_ACTIVE: return "active";
	case CPM_SDP_SETUP_PASSIVE: return "passive";
	case CPM_SDP_SETUP_ACTPASS: return "actpass";
	default: return "holdconn";
	}
}

/* Our MSRP m= section (index mi of d) and its attributes. */
static int our_media(struct cpm_sdp *d, const struct cpm_chat_sdp_params *p,
		     enum cpm_sdp_setup setup, char *maxbuf, size_t maxsz)
{
	int mi = (int)d->nmedia;
	if (d->nmedia >= CPM_SDP_MEDIA_CAP)
		return CPM_ELIMIT;
	d->media[d->nmedia++] = (struct cpm_sdp_media){
		.media = CPM_STR("message"),
		.port = p->port,
		.proto = CPM_STR("TCP/MSRP"),
		.fmts = CPM_STR("*"),
	};
	int rc = cpm_sdp_attr_add(d, mi, CPM_STR("path"), cpm_str_from_cstr(p->path), true);
	if (rc >= 0)
		rc = cpm_sdp_attr_add(d, mi, CPM_STR("accept-types"),
				      cpm_str_from_cstr(p->accept_types), true);
	if (rc >= 0 && p->accept_wrapped && p->accept_wrapped[0])
		rc = cpm_sdp_attr_add(d, mi, CPM_STR("accept-wrapped-types"),
				      cpm_str_from_cstr(p->accept_wrapped), true);
	if (rc >= 0)
		rc = cpm_sdp_attr_add(d, mi, CPM_STR("setup"),
				      cpm_str_from_cstr(setup_name(setup)), true);
	if (rc >= 0 && p->max_size) {
		snprintf(maxbuf, maxsz, "%llu", (unsigned long long)p->max_size);
		rc = cpm_sdp_attr_add(d, mi, CPM_STR("max-size"), cpm_str_from_cstr(maxbuf),
				      true);
	}
	for (unsigned i = 0; rc >= 0 && i < p->nextra; i++) {
		struct cpm_str a = cpm_str_from_cstr(p->extra[i]);
		long colon = cpm_str_chr(a, ':');
		if (colon < 0)
			rc = cpm_sdp_attr_add(d, mi, a, CPM_STR_NULL, false);
		else
			rc = cpm_sdp_attr_add(d, mi, (struct cpm_str){ a.s, (size_t)colon },
					      (struct cpm_str){ a.s + colon + 1,
								a.len - (size_t)colon - 1 },
					      true);
	}
	return rc < 0 ? rc : 0;
}

/* What the peer's MSRP section says. */
static int read_peer(const struct cpm_sdp *d, unsigned i, struct cpm_chat_sdp_peer *peer,
		     const char **why)
{
	struct cpm_sdp_msrp m;
	if (cpm_sdp_msrp_get(d, i, &m, why))
		return CPM_EPARSE;
	if (!m.path.len) {
		*why = "no a=path";
		return CPM_EPARSE;
	}
	if (cpm_str_copy(m.path, peer->path, sizeof peer->path) ||
	    cpm_str_copy(m.accept_types, peer->accept_types, sizeof peer->accept_types) ||
	    cpm_str_copy(m.accept_wrapped_types, peer->accept_wrapped,
			 sizeof peer->accept_wrapped)) {
		*why = "a=path or a=accept-types too long";
		return CPM_EPARSE;
	}
	/* every URI of the path must parse: it becomes our To-Path */
	struct cpm_str cur = m.path;
	struct cpm_msrp_uri u;
	int n;
	while ((n = cpm_msrp_path_next(&cur, &u)) == 1)
		if (u.secure) {
			*why = "msrps path (no TLS here)";
			return CPM_EPARSE;
		}
	if (n < 0) {
		*why = "bad MSRP URI in a=path";
		return CPM_EPARSE;
	}
	peer->media = (int)i;
	peer->setup = m.setup;
	peer->max_size = m.has_max_size ? m.max_size : 0;
	return 0;
}

int cpm_chat_sdp_answer(struct cpm_str offer, const struct cpm_chat_sdp_params *p,
			struct cpm_buf *out, struct cpm_chat_sdp_peer *peer, const char **why)
{
	memset(peer, 0, sizeof *peer);
	peer->media = -1;
	*why = NULL;
	struct cpm_sdp *o = calloc(1, sizeof *o), *a = calloc(1, sizeof *a);
	int rc = o && a ? 0 : CPM_ENOMEM;
	if (!rc && cpm_sdp_parse(o, offer.s, offer.len, NULL)) {
		*why = o->err_reason ? o->err_reason : "malformed SDP";
		rc = CPM_EPARSE;
	}
	char idbuf[24], maxbuf[24];
	if (!rc)
		base(a, p, idbuf, sizeof idbuf);
	/* RFC 3264 §6: one m= line per offered one, in order; the first
	 * usable MSRP section is taken, every other gets port 0 */
	for (unsigned i = 0; !rc && i < o->nmedia; i++) {
		const struct cpm_sdp_media *om = &o->media[i];
		bool take = false;
		const char *mwhy = NULL;
		if (peer->media < 0 && cpm_sdp_media_is_msrp(om) && om->port &&
		    cpm_str_ieq_cstr(om->proto, "TCP/MSRP")) {
			take = read_peer(o, i, peer, &mwhy) == 0;
			if (take && peer->accept_types[0] &&
			    !cpm_chat_sdp_types_meet(cpm_str_from_cstr(peer->accept_types),
						     cpm_str_from_cstr(p->accept_types))) {
				take = false;
				mwhy = "no common accept-types";
			}
			if (take && peer->setup == CPM_SDP_SETUP_HOLDCONN) {
				take = false;
				mwhy = "a=setup:holdconn";
			}
			if (!take) {
				peer->media = -1;
				*why = mwhy;
			}
		}
		if (take) {
			/* RFC 4975 §5.4 / RFC 6135 §4.2: an offer without
			 * a=setup (or active) means the offerer connects; to
			 * actpass we answer passive too (the offerer may be
			 * behind a NAT); to passive we connect */
			peer->we_connect = peer->setup == CPM_SDP_SETUP_PASSIVE;
			rc = our_media(a, p,
				       peer->we_connect ? CPM_SDP_SETUP_ACTIVE
							: CPM_SDP_SETUP_PASSIVE,
				       maxbuf, sizeof maxbuf);
			continue;
		}
		if (a->nmedia >= CPM_SDP_MEDIA_CAP) {
			rc = CPM_ELIMIT;
			break;
		}
		/* rejected: same media, proto and formats, port 0 */
		a->media[a->nmedia++] = (struct cpm_sdp_media){
			.media = om->media, .port = 0, .proto = om->proto, .fmts = om->fmts,
		};
	}
	if (!rc && peer->media < 0) {
		if (!*why)
			*why = "no MSRP media (m=message TCP/MSRP)";
		rc = CPM_EUNSUPP;
	}
	if (!rc)
		rc = cpm_sdp_print(out, a);
	free(o);
	free(a);
	return rc;
}

int cpm_chat_sdp_offer(const struct cpm_chat_sdp_params *p, struct cpm_buf *out)
{
	struct cpm_sdp *d = calloc(1, sizeof *d);
	if (!d)
		return CPM_ENOMEM;
	char idbuf[24], maxbuf[24];
	base(d, p, idbuf, sizeof idbuf);
	/* RFC 6135 §4.1: the offerer says actpass */
	int rc = our_media(d, p, CPM_SDP_SETUP_ACTPASS, maxbuf, sizeof maxbuf);
	if (!rc)
		rc = cpm_sdp_print(out, d);
	free(d);
	return rc;
}

int cpm_chat_sdp_read_answer(struct cpm_str answer, struct cpm_chat_sdp_peer *peer,
			     const char **why)
{
	memset(peer, 0, sizeof *peer);
	peer->media = -1;
	*why = NULL;
	struct cpm_sdp *d = calloc(1, sizeof *d);
	if (!d)
		return CPM_ENOMEM;
	int rc = 0;
	if (cpm_sdp_parse(d, answer.s, answer.len, NULL)) {
		*why = d->err_reason ? d->err_reason : "malformed SDP";
		rc = CPM_EPARSE;
	} else if (!d->nmedia || !cpm_sdp_media_is_msrp(&d->media[0]) || !d->media[0].port) {
		*why = "the MSRP stream was refused";
		rc = CPM_EUNSUPP;
	} else {
		rc = read_peer(d, 0, peer, why);
		/* we offered actpass: the answerer chose; no a=setup is the
		 * RFC 4975 default (the offerer, we, connect) */
		peer->we_connect = peer->setup != CPM_SDP_SETUP_ACTIVE;
	}
	free(d);
	return rc;
}
