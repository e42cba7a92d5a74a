/* im — the decision rules of pager-mode store-and-forward (issue 3, "What
 * decides a message's fate"; seeds-digest R13–R53, R111–R112), in one place.
 *
 * Pure: depends on lib and sip only; no I/O, no globals, no logging.  Three
 * steps, each usable alone:
 *   1. cpm_im_indicators_parse reads the sender's per-message indicators
 *      from a parsed request (Content-Disposition, Request-Disposition,
 *      CPIM/IMDN, Content-Type, Expires);
 *   2. the recipient's profile and class come from strings
 *      (cpm_im_profile_set, cpm_im_class_set), as `cpmd user set` and the
 *      `[class.NAME]` config sections will pass them;
 *   3. cpm_im_decide maps indicators + profile + class + quota usage to one
 *      fate, once live delivery failed or there is no binding.
 * docs/STORE_AND_FORWARD.md is the rule table; tests/unit/im/ test each row. */
#ifndef CPM_IM_H
#define CPM_IM_H

#include "lib/lib.h"
#include "sip/sip.h"

/* ------------------------------------------------------------- indicators */

/* Every indicator seen in the request (cpm_im_indicators.seen). */
#define CPM_IM_SEEN_CD_INSTANT 0x0001u  /* Content-Disposition: instant (R16) */
#define CPM_IM_SEEN_CD_STOREFWD 0x0002u /* Content-Disposition: store&fwd or S&F (R23) */
#define CPM_IM_SEEN_RD_DO_NOT_STORE 0x0004u   /* Request-Disposition: do-not-store (R26) */
#define CPM_IM_SEEN_RD_SAF_NOT_REACHED 0x0008u /* ...: store-and-forward-if-not-reached (R26) */
#define CPM_IM_SEEN_RD_STORE 0x0010u           /* seed 002 store command "store" (R27, R30) */
#define CPM_IM_SEEN_RD_STORE_AND_FORWARD 0x0020u /* store command "store-and-forward" (R27) */
#define CPM_IM_SEEN_RD_NOTIFY 0x0040u          /* store command "notify" (R27, R48) */
#define CPM_IM_SEEN_IMDN_POSITIVE 0x0080u      /* imdn positive-delivery (RFC 5438) */
#define CPM_IM_SEEN_IMDN_NEGATIVE 0x0100u      /* imdn negative-delivery */
#define CPM_IM_SEEN_IMDN_PROCESSING 0x0200u    /* imdn processing */
#define CPM_IM_SEEN_IMDN_DISPLAY 0x0400u       /* imdn display (not ours to send) */

/* The sender's storage request once the precedence is applied (one value;
 * see cpm_im_indicators_parse for the order). */
enum cpm_im_request {
	CPM_IM_REQ_NONE = 0,  /* no indicator: the recipient's profile decides */
	CPM_IM_REQ_INSTANT,   /* instant / do-not-store: deliver now or fail */
	CPM_IM_REQ_DEFERRED,  /* store&fwd / S&F: deferred retrieval (R36) */
	CPM_IM_REQ_STORE,     /* "store": keep until the recipient asks (R30) */
	CPM_IM_REQ_STORE_FWD, /* store-and-forward(-if-not-reached), notify:
			       * store, push when reachable (R26, R31) */
};

/* What the body is, for the rules that depend on it. */
enum cpm_im_kind {
	CPM_IM_KIND_NONE = 0,    /* no body */
	CPM_IM_KIND_MESSAGE,     /* any other content (R17) */
	CPM_IM_KIND_ISCOMPOSING, /* application/im-iscomposing+xml (RFC 3994) */
	CPM_IM_KIND_IMDN,        /* message/imdn+xml (RFC 5438) */
	CPM_IM_KIND_SESSION,     /* INVITE/INFO without a message payload
				  * (only application/sdp, or nothing) */
};

struct cpm_im_indicators {
	enum cpm_sip_method method; /* MESSAGE, INVITE or INFO */
	unsigned seen;              /* CPM_IM_SEEN_* */
	enum cpm_im_request req;    /* after precedence */
	bool conflict;              /* indicators disagreed; req is the winner */
	bool notify;                /* report delivery back (store command notify) */
	enum cpm_im_kind kind;
	/* Content-Type of the request ("type/subtype", no parameters) and the
	 * type of what is carried: the inner type of message/cpim (RFC 3862),
	 * the first non-SDP part of an INVITE/INFO multipart body (seed 002
	 * Fig. 5), else content_type.  payload_type is what `accepts` is
	 * checked against.  Both point into the request. */
	struct cpm_str content_type;
	struct cpm_str payload_type;
	/* INVITE/INFO: the payload part's Content-Type value and body (what is
	 * stored as the message); empty for MESSAGE (its whole body is) */
	struct cpm_str part_ctype;
	struct cpm_str part_body;
	struct cpm_str message_id; /* CPIM imdn.Message-ID, or empty */
	int64_t expires;           /* Expires delta-seconds, -1 when absent */
};

/* Read the indicators of req (a MESSAGE, INVITE or INFO; CPM_EUNSUPP for
 * other methods).  Unknown Content-Disposition types (render, session,
 * recipient-list, notification, ...) and RFC 3841 directives (proxy,
 * no-fork, ...) are not indicators and are ignored.
 *
 * Precedence (docs/STORE_AND_FORWARD.md, "Sender indicators"):
 *   instant / do-not-store  >  store&fwd / S&F  >  store  >
 *   store-and-forward-if-not-reached / store-and-forward / notify  >  none.
 * A "do not store" wins because the issue says the sender's instant always
 * wins, and failing with a status is never a silent loss, whereas storing
 * what the sender called instant cannot be undone.
 *
 * Returns 0, or CPM_EPARSE for a malformed Content-Type, multipart,
 * message/cpim body or Expires value, or a non-empty body without
 * Content-Type (RFC 3261 §20.15); *out then holds what was read before the
 * error.  Slices point into req's buffer. */
int cpm_im_indicators_parse(const struct cpm_sip_msg *req,
			    struct cpm_im_indicators *out);

/* --------------------------------------------------------- profile, class */

enum cpm_im_sf_mode {
	CPM_IM_SF_NO = 0,  /* never store (R111 "NO") */
	CPM_IM_SF_YES,     /* store and forward (R111 "YES"), the default */
	CPM_IM_SF_NOTIFY,  /* store, forward, report to the sender (R111) */
	CPM_IM_SF_FORWARD, /* forward to target (R35, R111 "to e-mail") */
};

#define CPM_IM_ACCEPTS_MAX 16 /* content-type patterns per profile */
#define CPM_IM_TYPE_MAX 128   /* one pattern, NUL included */
#define CPM_IM_TARGET_MAX 256 /* forward target URI, NUL included */
#define CPM_IM_NAME_MAX 64    /* class name, NUL included */
#define CPM_IM_ERR_MAX 160    /* the err buffers below */

struct cpm_im_profile {
	enum cpm_im_sf_mode mode;
	char target[CPM_IM_TARGET_MAX]; /* CPM_IM_SF_FORWARD: sip:/sips:/mailto: */
	unsigned naccepts;              /* 0 = accept everything */
	char accepts[CPM_IM_ACCEPTS_MAX][CPM_IM_TYPE_MAX]; /* lowercase */
	char class_name[CPM_IM_NAME_MAX];
};

struct cpm_im_class {
	bool storage;          /* storage allowed (R42) */
	uint64_t max_messages; /* stored messages per user, 0 = no limit */
	uint64_t max_bytes;    /* stored bytes per user, 0 = no limit */
	int64_t max_lifetime;  /* seconds, 0 = the server default (R33) */
};

/* The recipient's queue now. */
struct cpm_im_usage {
	uint64_t count;
	uint64_t bytes;
};

struct cpm_im_limits {
	size_t max_inline_size;   /* im.max_inline_size: larger bodies go the
				   * deferred-retrieval way; 0 = no limit */
	int64_t default_lifetime; /* used when the class has none; 0 = none */
	int quota_bytes_status;   /* status for a full byte quota (507) */
};

/* Server defaults (issue 3 §3): profile yes, accepts all, class "default"
 * (the setters below keep unused bytes zero, so two equal profiles built
 * from cpm_im_profile_default compare equal with memcmp); class: storage
 * on, 1000 messages, 10 MiB, lifetime from limits; limits: inline 1300
 * bytes (RFC 3428: the size bound of MESSAGE on a path that is not
 * congestion-controlled), 7 days, 507. */
void cpm_im_profile_default(struct cpm_im_profile *p);
void cpm_im_class_default(struct cpm_im_class *c);
void cpm_im_limits_default(struct cpm_im_limits *l);

/* One "key=value" of `cpmd user set`: store-and-forward=no|yes|notify|
 * forward:<uri>, accepts=<type>[,<type>...], class=<name>.  Keys and the
 * mode words are case-insensitive (the seed writes NO/YES/NOTIFY).  On
 * error p is unchanged and err (CPM_IM_ERR_MAX bytes, may be NULL) says
 * what is wrong and where.  Errors: CPM_EINVAL (no '=', unknown key, bad
 * word), CPM_EPARSE (malformed type or URI), CPM_ESCHEME (forward target
 * not sip:, sips: or mailto:), CPM_ELIMIT (too many types), CPM_ETOOBIG
 * (a value too long). */
int cpm_im_profile_set(struct cpm_im_profile *p, const char *kv, char *err);
/* The value parsers behind it. */
int cpm_im_sf_parse(struct cpm_str v, struct cpm_im_profile *p, char *err);
int cpm_im_accepts_parse(struct cpm_str v, struct cpm_im_profile *p, char *err);
/* "store-and-forward=...;accepts=...;class=..." (cpm_im_profile_set reads
 * each part back). */
int cpm_im_profile_format(const struct cpm_im_profile *p, struct cpm_buf *b);
/* The reverse of cpm_im_profile_format: "key=value" lines over the
 * default profile; the first bad line's error in err. */
int cpm_im_profile_parse(struct cpm_im_profile *p, const char *text, char *err);

/* One key of a [class.NAME] section: storage=yes|no, max_messages=N,
 * max_bytes=N[k|m|g] (powers of 1024), max_lifetime=N[s|m|h|d|w]. */
int cpm_im_class_set(struct cpm_im_class *c, const char *key, const char *value,
		     char *err);

/* Is a body of content_type ("type/subtype", parameters ignored, any case)
 * accepted by the profile?  Patterns: type/subtype, type/any, any/any with
 * '*' for any (RFC 3261 §20.1 media-range).  An empty type (no body) is accepted.  The
 * live path calls this too: 415 even when the user is reachable (R29). */
bool cpm_im_accepts(const struct cpm_im_profile *p, struct cpm_str content_type);
/* The Accept header value of a 415: the profile's list. */
int cpm_im_accept_header(const struct cpm_im_profile *p, struct cpm_buf *b);

/* ------------------------------------------------------------------- fate */

enum cpm_im_fate {
	CPM_IM_DELIVER_ONLY = 1, /* never stored: relay the live failure, or
				  * answer status when there was none */
	CPM_IM_STORE,            /* store, push when reachable (202) */
	CPM_IM_STORE_DEFERRED,   /* store, notify with message/external-body
				  * (RFC 4483), fetch over HTTP (202) */
	CPM_IM_FORWARD,          /* re-target to profile target (sip or mailto) */
	CPM_IM_REJECT,           /* answer status/reason, store nothing */
};

/* Which rule decided (one per row of the table). */
enum cpm_im_rule {
	CPM_IM_RULE_SESSION = 1,     /* INVITE/INFO with no payload or no store request */
	CPM_IM_RULE_NOT_ACCEPTED,    /* 415 */
	CPM_IM_RULE_ISCOMPOSING,     /* never stored */
	CPM_IM_RULE_INSTANT,         /* sender instant / do-not-store */
	CPM_IM_RULE_STALE,           /* sender Expires: 0 */
	CPM_IM_RULE_FORWARD,         /* profile forward */
	CPM_IM_RULE_PROFILE_NO,      /* profile no, no store request */
	CPM_IM_RULE_PROFILE_NO_REQ,  /* profile no, store request: 480 */
	CPM_IM_RULE_CLASS_OFF,       /* class storage off, no store request */
	CPM_IM_RULE_CLASS_OFF_REQ,   /* class storage off, store request: 480 */
	CPM_IM_RULE_TOO_BIG,         /* body over the class byte limit: 413 */
	CPM_IM_RULE_QUOTA_COUNT,     /* 486 */
	CPM_IM_RULE_QUOTA_BYTES,     /* 507 (limits.quota_bytes_status) */
	CPM_IM_RULE_DEFERRED_REQ,    /* sender store&fwd */
	CPM_IM_RULE_DEFERRED_SIZE,   /* body over max_inline_size */
	CPM_IM_RULE_STORE,           /* store */
};

struct cpm_im_decision {
	enum cpm_im_fate fate;
	enum cpm_im_rule rule;
	int status;            /* REJECT: the answer; DELIVER_ONLY: the answer
				* when no branch gave one (480); STORE*: 202;
				* FORWARD: 0 (the target's answer is relayed) */
	const char *reason;    /* reason phrase for status */
	int64_t expires;       /* STORE*: seconds to keep, -1 = no limit */
	bool pull;             /* STORE*: keep until the recipient asks (R30) */
	const char *target;    /* FORWARD: the profile's target URI */
	bool accept_hdr;       /* REJECT 415: add Accept (cpm_im_accept_header) */
	bool report_stored;    /* IMDN processing/stored on store */
	bool report_delivered; /* IMDN delivered when a device takes it */
	bool report_failed;    /* IMDN failed/expired otherwise */
	bool never_store;      /* isComposing: never queue, even elsewhere */
};

/* The single decision table of issue 3, applied once live delivery failed
 * or there is no binding.  cls NULL means cpm_im_class_default (never
 * "storage off"); sender_expires: the request's Expires in seconds, -1 when
 * absent (ind->expires is the usual argument).  Returns 0 with *out filled, or
 * CPM_EINVAL for NULL ind/profile/current/limits/out. */
int cpm_im_decide(const struct cpm_im_indicators *ind,
		  const struct cpm_im_profile *profile,
		  const struct cpm_im_class *cls,
		  const struct cpm_im_usage *current, size_t body_len,
		  const struct cpm_im_limits *limits, int64_t sender_expires,
		  struct cpm_im_decision *out);

const char *cpm_im_fate_name(enum cpm_im_fate f);
const char *cpm_im_rule_name(enum cpm_im_rule r);
const char *cpm_im_request_name(enum cpm_im_request r);

/* --------------------------------------------------------------- URI list
 *
 * RFC 5365: a MESSAGE with "Require: recipient-list-message" whose
 * multipart/mixed body holds the message and an application/
 * resource-lists+xml part (RFC 4826) with "Content-Disposition:
 * recipient-list".  im_list.c reads it (libxml2, no network, no entity
 * expansion). */

enum cpm_im_copy { CPM_IM_COPY_TO = 0, CPM_IM_COPY_CC, CPM_IM_COPY_BCC }; /* RFC 5364 */

struct cpm_im_list_entry {
	char uri[256]; /* as listed */
	char aor[256]; /* user@host, for duplicates and routing */
	enum cpm_im_copy copy;
};

struct cpm_im_list {
	struct cpm_str payload_ctype; /* the message part: Content-Type value */
	struct cpm_str payload;       /* and body (slices into the request) */
	struct cpm_im_list_entry *v;  /* recipients, duplicates removed */
	unsigned n, cap;
};

/* Returns 0 with out filled (free it with cpm_im_list_free), or
 * CPM_EUNSUPP (not multipart/mixed), CPM_EPARSE (no list part, bad XML,
 * an entry that is not a sip:/sips: user URI, an empty list), CPM_ELIMIT
 * (more than max distinct recipients, or nesting), with err (CPM_IM_ERR_MAX
 * bytes, may be NULL) saying what. */
int cpm_im_list_parse(const struct cpm_sip_msg *req, unsigned max, struct cpm_im_list *out,
		      char *err);
void cpm_im_list_free(struct cpm_im_list *l);

/* ------------------------------------------------------------ controller
 *
 * The message controller (im_ctl.c): installs itself as core's hooks,
 * stores what core cannot deliver (202 after the commit) and delivers the
 * stored messages when a device of the recipient registers.  Unlike the
 * rules above it runs on the loop and uses core and the store. */
struct cpm_core;
struct cpm_im_ctl;

int cpm_im_ctl_new(struct cpm_core *core, struct cpm_im_ctl **out);
/* cb(arg, aor) after the queue of aor changed (a message stored,
 * delivered or expired): message-waiting subscriptions follow it. */
void cpm_im_ctl_on_change(struct cpm_im_ctl *ctl, void (*cb)(void *arg, const char *aor),
			  void *arg);
/* Deferred retrieval (seed 001 Fig. 1, RFC 4483).  The pick-up URL of
 * stored message id: http.public_url, or "http://" + http.listen, then
 * "/m/ID", then "?t=TOKEN" when token is not empty.  CPM_ETOOBIG. */
int cpm_im_ctl_url(const struct cpm_im_ctl *ctl, int64_t id, const char *token, char *out,
		   size_t sz);
/* Fetch stored message id for the HTTP API, as aor (the authenticated
 * recipient) or with token (the URL's secret, single use: valid only while
 * the message waits).  A waiting message becomes delivered, its sender
 * gets the "delivered" report asked for, and message-waiting subscribers
 * are told.  cb(arg, rc, m) runs later on the loop: rc 0 with m (its body
 * valid during the call), CPM_ENOTFOUND (unknown, expired, wrong or used
 * token), CPM_EPERM (another user's), or a store error. */
struct cpm_store_msg;
typedef void cpm_im_fetch_cb(void *arg, int rc, const struct cpm_store_msg *m);
int cpm_im_ctl_fetch(struct cpm_im_ctl *ctl, int64_t id, const char *aor, const char *token,
		     cpm_im_fetch_cb *cb, void *arg);
/* The user aor is reachable again by other means than a REGISTER (its
 * presence became open, seeds 001/002): every device of the user gets its
 * waiting messages now, as after a REGISTER. */
void cpm_im_ctl_user_back(struct cpm_im_ctl *ctl, const char *aor);
/* How a profile forward to a mailto: address is sent: the e-mail gateway
 * (iwf), which the program wires in (im does not depend on it).  send
 * returns 0 and later calls done(cbarg, rc, reply) once on the loop (rc 0:
 * the mail server took it; CPM_EADDR/CPM_EPERM: refused for good;
 * CPM_EAGAIN/CPM_ETIMEDOUT/CPM_ECLOSED: try later), or returns CPM_E* at
 * once (CPM_EUNSUPP: e-mail is off) without calling done. */
typedef void cpm_im_mail_done(void *cbarg, int rc, const char *reply);
typedef int cpm_im_mail_fn(void *arg, const struct cpm_store_msg *m, const char *rcpt,
			   cpm_im_mail_done *done, void *cbarg);
void cpm_im_ctl_set_mailer(struct cpm_im_ctl *ctl, cpm_im_mail_fn *fn, void *arg);
/* A notice for aor from the server on behalf of sender (seed 000 Example 1:
 * "missed session from X" when presence refused an INVITE): a text/plain
 * message through the usual rules (stored when aor's profile lets the
 * server keep messages, pushed when a device comes). */
int cpm_im_ctl_notice(struct cpm_im_ctl *ctl, const char *aor, const char *sender,
		      const char *display, const char *text);
/* A message written in a session the server anchored (the chat B2BUA,
 * issue 4) for aor, who is not reachable in it (offline, busy, left):
 * through the usual rules (profile, class, quotas, accepts), stored
 * without a live attempt and pushed when a device of aor registers or
 * its presence opens, with the original sender and date.  dry: only
 * decide, store nothing.  done(arg, status, reason) runs once, later, on
 * the loop: 202 stored (dry: would be), else the refusal (404 no such
 * user, 415, 413, 480, 486, 507, 500).  Returns 0, or CPM_ESTATE (the
 * controller stops, or store-and-forward is off), CPM_ETOOBIG, CPM_ENOMEM,
 * CPM_EIO (the store is unavailable; done was called with 500). */
struct cpm_im_ctl_msg {
	const char *aor;        /* the recipient */
	const char *sender;     /* URI of the writer */
	const char *display;    /* its display name, or NULL */
	const char *ctype;      /* the whole Content-Type value; NULL: text/plain */
	struct cpm_str body;
	int64_t date;           /* when it was written (wall seconds); 0: now */
	const char *call_id;    /* stored Call-ID (unique per message); NULL: fresh */
	const char *message_id; /* for reports; NULL: fresh */
};
typedef void cpm_im_ctl_done_cb(void *arg, int status, const char *reason);
int cpm_im_ctl_store(struct cpm_im_ctl *ctl, const struct cpm_im_ctl_msg *m, bool dry,
		     cpm_im_ctl_done_cb *done, void *arg);
/* The same with any body: content_type as stored and sent (e.g.
 * "message/cpim"), payload_type what the recipient's "accepts" is checked
 * against (the type inside CPIM).  A chat room's copy for a member not in
 * session (src/chat, rooms with offline store-and-forward).  CPM_ESTATE
 * when im.store_and_forward is off or the server stops. */
int cpm_im_ctl_message(struct cpm_im_ctl *ctl, const char *aor, const char *sender,
		       const char *display, const char *content_type, const char *payload_type,
		       const void *body, size_t len);
/* At shutdown start: no new deliveries, timers stopped. */
void cpm_im_ctl_stop(struct cpm_im_ctl *ctl);
/* Once core has stopped (its transactions and store jobs are done). */
void cpm_im_ctl_free(struct cpm_im_ctl *ctl);

#endif
