/* pres — event packages served by the server itself, over RFC 6665
 * subscriptions (SUBSCRIBE creates a dialog, NOTIFY carries the state),
 * and the presence service.
 *
 * The subscription machinery (pres_sub.c) is package-independent: dialog,
 * refresh, expiry, pending/active/terminated states, rate limiting, the
 * terminating NOTIFY with its reason.  Packages:
 *  - message-summary (RFC 3842, message waiting; also under the seeds'
 *    alias "Event: message"), fed by the store-and-forward queue;
 *  - presence (RFC 3856): PIDF documents (RFC 3863, RPID RFC 4480) composed
 *    from the users' publications (PUBLISH, RFC 3903: pres_pub.c) and, for
 *    users who publish nothing, from their registrations;
 *  - presence.winfo (RFC 3857/3858): a user learns who watches them.
 * Watchers are authorized per user with allow, block and pending lists and
 * a default policy (pres_rules.c; the lists are in DATA_DIR/presence.json
 * and are edited with "cpmd presence ...").
 *
 * The pure parts (PIDF parsing and composition, the watcher-info
 * document, the publication store, the rules) have no I/O and are
 * unit-tested on their own. */
#ifndef CPM_PRES_H
#define CPM_PRES_H

#include "lib/lib.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cpm_core;
struct cpm_conf;
struct cpm_pres;

/* ------------------------------------------------------------ the service */

/* Registers itself with core as a service (cpm_core_add_service) and loads
 * the authorization lists (DATA_DIR/presence.json). */
int cpm_pres_new(struct cpm_core *core, struct cpm_pres **out);
/* The state of aor changed for package ("message-summary"): every active
 * subscription to it gets a NOTIFY. */
void cpm_pres_changed(struct cpm_pres *p, const char *package, const char *aor);
/* Shutdown start: timers stopped; every subscription gets a terminating
 * NOTIFY with reason=deactivated (RFC 6665 §4.2.2: subscribe again, here to
 * the restarted server); no other NOTIFY. */
void cpm_pres_stop(struct cpm_pres *p);
/* Once core has stopped. */
void cpm_pres_free(struct cpm_pres *p);

/* ---------------------------------------------- presence-aware treatment */

/* Does the composed presence of aor say the user does not want to be
 * disturbed: an RPID activity busy, on-the-phone, meeting, presentation or
 * performance, or <rpid:other>do-not-disturb</rpid:other> (or "dnd")?  Read
 * from the person element of the newest publication that has one, else
 * from the tuples.  False for a user who published nothing, and for a
 * user with no registered device when presence.unregistered = closed. */
bool cpm_pres_is_busy(struct cpm_pres *p, const char *aor);
/* The composed basic status of aor: true when open. */
bool cpm_pres_is_open(struct cpm_pres *p, const char *aor);
/* cb(arg, aor) when a change of aor's publications (new, modified,
 * removed, expired) turns the composed basic status from closed to open,
 * or, for a new or modified publication, leaves an open user no longer
 * busy (cpm_pres_is_busy turned false: deferred chats wait for that).
 * At most 4 callbacks; CPM_ELIMIT beyond. */
typedef void cpm_pres_open_cb(void *arg, const char *aor);
int cpm_pres_on_open(struct cpm_pres *p, cpm_pres_open_cb *cb, void *arg);
/* cb(arg, aor, caller_uri, caller_display) when an INVITE for a busy aor
 * was refused (presence.busy_status): the message controller keeps a
 * "missed session" notice for aor.  One callback. */
typedef void cpm_pres_missed_cb(void *arg, const char *aor, const char *caller,
				const char *display);
void cpm_pres_on_missed(struct cpm_pres *p, cpm_pres_missed_cb *cb, void *arg);
/* The composed PIDF document of aor, as a watcher gets it, into out. */
int cpm_pres_document(struct cpm_pres *p, const char *aor, struct cpm_buf *out);

/* ------------------------------------------------------------ authorization
 *
 * Per user (presentity AoR "user@domain"), each watcher ("user@domain",
 * or "*@domain" for a whole domain) has at most one entry: allow, block,
 * or pending (asked under the "confirm" policy, not decided yet). */
enum cpm_pres_rule {
	CPM_PRES_RULE_NONE = 0,
	CPM_PRES_RULE_ALLOW,
	CPM_PRES_RULE_BLOCK,
	CPM_PRES_RULE_PENDING,
};

const char *cpm_pres_rule_name(enum cpm_pres_rule r); /* "allow", ... */

/* Set (NONE: remove) the entry of watcher in aor's lists, in the file and
 * in the running server: pending watchers that become allowed get the
 * presence, blocked ones a terminating NOTIFY (reason=rejected).  For the
 * HTTP API.  CPM_EINVAL for a bad AoR, CPM_ELIMIT when the lists are
 * full, CPM_EIO when the file cannot be written. */
int cpm_pres_rule_set(struct cpm_pres *p, const char *aor, const char *watcher,
		      enum cpm_pres_rule r);
/* cb(arg, watcher, rule) for each entry of aor's lists. */
void cpm_pres_rule_each(struct cpm_pres *p, const char *aor,
			void (*cb)(void *arg, const char *watcher, enum cpm_pres_rule r),
			void *arg);

/* "cpmd presence allow|block|remove|list|pending ...": edits the lists in
 * DATA_DIR/presence.json, which a running cpmd reloads within a second.
 * argv[0] is the verb.  Returns the exit code. */
int cpm_pres_cli_main(const struct cpm_conf *conf, int argc, char **argv);

/* ------------------------------------------------------- PIDF (pure) */

#define CPM_PRES_PIDF_TYPE "application/pidf+xml"
#define CPM_PRES_WINFO_TYPE "application/watcherinfo+xml"

/* RPID activities (RFC 4480 §3.2), one bit each. */
enum cpm_pres_activity {
	CPM_PRES_ACT_APPOINTMENT = 1u << 0,
	CPM_PRES_ACT_AWAY = 1u << 1,
	CPM_PRES_ACT_BREAKFAST = 1u << 2,
	CPM_PRES_ACT_BUSY = 1u << 3,
	CPM_PRES_ACT_DINNER = 1u << 4,
	CPM_PRES_ACT_HOLIDAY = 1u << 5,
	CPM_PRES_ACT_IN_TRANSIT = 1u << 6,
	CPM_PRES_ACT_LOOKING_FOR_WORK = 1u << 7,
	CPM_PRES_ACT_LUNCH = 1u << 8,
	CPM_PRES_ACT_MEAL = 1u << 9,
	CPM_PRES_ACT_MEETING = 1u << 10,
	CPM_PRES_ACT_ON_THE_PHONE = 1u << 11,
	CPM_PRES_ACT_PERFORMANCE = 1u << 12,
	CPM_PRES_ACT_PERMANENT_ABSENCE = 1u << 13,
	CPM_PRES_ACT_PLAYING = 1u << 14,
	CPM_PRES_ACT_PRESENTATION = 1u << 15,
	CPM_PRES_ACT_SHOPPING = 1u << 16,
	CPM_PRES_ACT_SLEEPING = 1u << 17,
	CPM_PRES_ACT_SPECTATOR = 1u << 18,
	CPM_PRES_ACT_STEERING = 1u << 19,
	CPM_PRES_ACT_TRAVEL = 1u << 20,
	CPM_PRES_ACT_TV = 1u << 21,
	CPM_PRES_ACT_UNKNOWN = 1u << 22,
	CPM_PRES_ACT_VACATION = 1u << 23,
	CPM_PRES_ACT_WORKING = 1u << 24,
	CPM_PRES_ACT_WORSHIP = 1u << 25,
	CPM_PRES_ACT_OTHER = 1u << 26, /* <rpid:other>text</rpid:other> */
};

/* The activities that make a user busy (cpm_pres_is_busy). */
#define CPM_PRES_ACT_BUSY_SET                                                        \
	(CPM_PRES_ACT_BUSY | CPM_PRES_ACT_ON_THE_PHONE | CPM_PRES_ACT_MEETING |       \
	 CPM_PRES_ACT_PRESENTATION | CPM_PRES_ACT_PERFORMANCE)

/* What a document (or a composition of several) says. */
struct cpm_pres_state {
	bool open;           /* a tuple has <basic>open</basic> */
	bool has_person;     /* a <dm:person> element was given */
	bool dnd;            /* <rpid:other> says do-not-disturb / dnd */
	unsigned activities; /* CPM_PRES_ACT_* */
	char note[256];      /* the first note (person's, else presence's) */
};

bool cpm_pres_state_busy(const struct cpm_pres_state *s);
/* "busy", "on-the-phone", ...; NULL for a bit that is not one activity. */
const char *cpm_pres_activity_name(unsigned bit);

/* One parsed publication. */
struct cpm_pres_pidf;

/* Parse and check a PIDF document: well-formed XML, root <presence> in the
 * PIDF namespace, every <tuple> with an id and a <status>, <basic> open or
 * closed.  External entities and the network are never loaded.  On
 * CPM_EPARSE err says why. */
int cpm_pres_pidf_parse(struct cpm_str body, struct cpm_pres_pidf **out, char *err,
			size_t errsz);
void cpm_pres_pidf_free(struct cpm_pres_pidf *d);
const struct cpm_pres_state *cpm_pres_pidf_state(const struct cpm_pres_pidf *d);

/* What the publications of one presentity (pubs[0] the newest) say
 * together, as cpm_pres_pidf_compose does, without building the document. */
void cpm_pres_pidf_merge(struct cpm_pres_pidf *const *pubs, size_t n, struct cpm_pres_state *st);
/* Compose the publications of one presentity (pubs[0] the newest) into one
 * document for entity ("sip:alice@example.test"): the tuples of every
 * publication (an id used twice gets a suffix), their presence-level notes
 * (each text once), the <dm:person> of the newest publication that has
 * one, the <dm:device> elements of all, other extensions of the newest.
 * *st (may be NULL) gets the composed state.  n may be 0 when basic is
 * not -1: then one tuple built by the server says basic (1 open, 0
 * closed).  With n > 0, basic must be -1. */
int cpm_pres_pidf_compose(const char *entity, struct cpm_pres_pidf *const *pubs, size_t n,
			  int basic, struct cpm_buf *out, struct cpm_pres_state *st);

/* One <watcher> of a watcher-info document (RFC 3858 §4). */
struct cpm_pres_winfo_watcher {
	const char *uri;    /* "sip:bob@example.test" */
	const char *id;     /* unique within the list */
	const char *status; /* pending, active, waiting, terminated */
	const char *event;  /* subscribe, approved, timeout, ... */
	int64_t duration;   /* seconds subscribed, -1: not given */
};

/* A full watcher-info document (state="full") for the presence watchers
 * of resource ("sip:alice@example.test"). */
int cpm_pres_winfo_doc(const char *resource, unsigned version,
		       const struct cpm_pres_winfo_watcher *w, size_t n, struct cpm_buf *out);

/* ------------------------------------ conference state (RFC 4575, pure)
 *
 * The conference event package: a watcher subscribes to a room URI
 * ("Event: conference") and gets application/conference-info+xml
 * documents, the whole state first (state="full", on every subscription
 * and refresh), then the changes (state="partial") with a version that
 * grows by one per document (§5.1: versions are scoped to the
 * subscription). */

#define CPM_PRES_CONF_TYPE "application/conference-info+xml"

/* <endpoint><status> (RFC 4575 §5.6.4). */
enum cpm_pres_conf_status {
	CPM_PRES_CONF_CONNECTED = 0,
	CPM_PRES_CONF_DIALING_OUT,   /* the focus INVITEs the user (ad-hoc, REFER) */
	CPM_PRES_CONF_DIALING_IN,    /* the user's INVITE is being answered */
	CPM_PRES_CONF_ALERTING,      /* the invited user's device rings (180) */
	CPM_PRES_CONF_ON_HOLD,
	CPM_PRES_CONF_PENDING,
	CPM_PRES_CONF_DISCONNECTING,
	CPM_PRES_CONF_DISCONNECTED,
};

/* <joining-method> (§5.6.5). */
enum cpm_pres_conf_joining {
	CPM_PRES_CONF_DIALED_IN = 0, /* the user called the room */
	CPM_PRES_CONF_DIALED_OUT,    /* the focus called the user */
	CPM_PRES_CONF_FOCUS_OWNER,   /* the creator of an ad-hoc conference */
};

/* <disconnection-method> (§5.6.7). */
enum cpm_pres_conf_disc {
	CPM_PRES_CONF_DEPARTED = 0,  /* the user left (BYE) */
	CPM_PRES_CONF_BOOTED,        /* removed (the owner, a full queue) */
	CPM_PRES_CONF_FAILED,        /* an invitation failed */
	CPM_PRES_CONF_BUSY,          /* an invitation was refused busy */
};

/* The user's role in the room: <roles><entry> "participant", "moderator"
 * or "owner". */
enum cpm_pres_conf_role {
	CPM_PRES_CONF_PARTICIPANT = 0,
	CPM_PRES_CONF_MODERATOR,
	CPM_PRES_CONF_OWNER,
};

/* One user of a conference (a participant, or someone invited).  Strings
 * NULL or "" when absent. */
struct cpm_pres_conf_user {
	const char *uri;      /* <user entity>: "sip:alice@example.test" */
	const char *display;  /* <display-text>: the nickname, else the display name */
	enum cpm_pres_conf_role role;
	const char *endpoint; /* <endpoint entity>: the device; "": uri */
	enum cpm_pres_conf_status status;
	enum cpm_pres_conf_joining joining;
	int64_t joined;       /* <joining-info><when>, wall seconds; 0: none */
	const char *referred_by; /* <referred><by>: who REFERred the user here */
	/* DISCONNECTED: how and why */
	enum cpm_pres_conf_disc disc;
	const char *reason;   /* <disconnection-info><reason>, e.g. "486 Busy Here" */
	int64_t left;         /* <disconnection-info><when>; 0: none */
	bool deleted;         /* documents: <user state="deleted"> (gone) */
};

/* One conference-info document. */
struct cpm_pres_conf_info {
	const char *entity;   /* the conference URI "sip:room@example.test" */
	unsigned version;
	bool partial;         /* state="partial": users holds the changed ones */
	bool describe;        /* write <conference-description> */
	const char *display;  /* its <display-text> (the room's name) */
	const char *subject;  /* its <subject> */
	bool adhoc;           /* ... and <keywords>ad-hoc</keywords> */
	unsigned user_count;  /* <conference-state><user-count>: connected users */
	bool active;          /* <active>: someone is connected */
	const struct cpm_pres_conf_user *users;
	size_t n;
};

/* Build the document (RFC 4575 §5, elements in the schema's order; in a
 * full document every user is state="full", in a partial one the users
 * given are state="full" or, when deleted, state="deleted" with the
 * endpoint's disconnection).  CPM_EINVAL for a user without uri, an
 * entity missing; CPM_ENOMEM. */
int cpm_pres_conf_doc(const struct cpm_pres_conf_info *ci, struct cpm_buf *out);
const char *cpm_pres_conf_status_name(enum cpm_pres_conf_status s);

/* The users of every conference, each change stamped with a generation so
 * that a watcher who has seen up to generation g gets exactly what changed
 * since (pure: the package of pres_conf.c feeds and reads it).  A user who
 * left stays as a "deleted" entry until every watcher has seen it (prune),
 * or until max_users entries would be exceeded: then the oldest such entry
 * goes and watchers who had not seen it get a full document. */
struct cpm_pres_confs;

int cpm_pres_confs_new(unsigned max_users, struct cpm_pres_confs **out);
void cpm_pres_confs_free(struct cpm_pres_confs *cs);
/* A user joined or changed (u->deleted ignored): 1 changed, 0 the same as
 * before, CPM_ELIMIT (max_users connected or invited), CPM_EINVAL, CPM_ENOMEM. */
int cpm_pres_confs_set(struct cpm_pres_confs *cs, const char *room,
		       const struct cpm_pres_conf_user *u);
/* The user left (or an invitation failed): 1, 0 when unknown or gone. */
int cpm_pres_confs_gone(struct cpm_pres_confs *cs, const char *room, const char *uri,
			enum cpm_pres_conf_disc how, const char *reason, int64_t when);
/* The conference's description (NULL: keep; "" none): 1 changed, 0 same. */
int cpm_pres_confs_describe(struct cpm_pres_confs *cs, const char *room, const char *display,
			    const char *subject, bool adhoc);
/* The user with this URI (connected, or invited and not answered yet)? */
bool cpm_pres_confs_has(const struct cpm_pres_confs *cs, const char *room, const char *uri);
/* Connected users, 0 for an unknown room. */
unsigned cpm_pres_confs_count(const struct cpm_pres_confs *cs, const char *room);
/* Forget the conference. */
void cpm_pres_confs_drop(struct cpm_pres_confs *cs, const char *room);
/* The document for a watcher who has seen up to *seen (0: nothing yet):
 * full when *seen is 0 or older than what was kept, else partial with
 * what changed.  *seen gets the current generation.  Returns 0 with the
 * document in out, 1 when nothing changed since *seen (out untouched).
 * An unknown room has no users. */
int cpm_pres_confs_doc(struct cpm_pres_confs *cs, const char *room, unsigned version,
		       uint64_t *seen, struct cpm_buf *out);
/* Every watcher of room has seen up to min_seen (UINT64_MAX: nobody
 * watches): the deleted entries at or below it go; a conference left with
 * no user goes (a described one only when nobody watches). */
void cpm_pres_confs_prune(struct cpm_pres_confs *cs, const char *room, uint64_t min_seen);

/* ------------------------------------------------------------ conferences
 *
 * What the room code (src/chat: the focus, ad-hoc conferences) tells the
 * conference event package; no XML on its side.  room is the room's URI
 * ("sip:room@example.test" or "room@example.test").  Each change reaches
 * the room's watchers as a partial NOTIFY (rate limited by
 * presence.min_notify_interval, changes meanwhile merged).  p NULL: no-op.
 * Which URIs are rooms the chat module says (cpm_pres_conf_set_rooms): a
 * SUBSCRIBE "Event: conference" to any other URI is routed as usual (a
 * user's device may serve it).  A SUBSCRIBE to a room is authorized from
 * the store (cpm_store_room_*): members, the owner, and current
 * participants; 403 for others. */

/* Is aor ("lobby@example.test") a room?  Answered at once (a cache). */
typedef bool cpm_pres_conf_rooms_cb(void *arg, const char *aor);
void cpm_pres_conf_set_rooms(struct cpm_pres *p, cpm_pres_conf_rooms_cb *cb, void *arg);

/* A user joined, was invited, or changed (nickname, status, role).
 * CPM_ELIMIT beyond presence.max_conference_users. */
int cpm_pres_conf_user(struct cpm_pres *p, const char *room, const struct cpm_pres_conf_user *u);
/* A user left (BYE: DEPARTED), was removed (BOOTED) or an invitation
 * failed (FAILED, BUSY); reason e.g. "486 Busy Here", may be NULL. */
void cpm_pres_conf_left(struct cpm_pres *p, const char *room, const char *uri,
			enum cpm_pres_conf_disc how, const char *reason);
/* The room's name (display-text) and subject (NULL: unchanged). */
void cpm_pres_conf_describe(struct cpm_pres *p, const char *room, const char *display,
			    const char *subject, bool adhoc);
/* The room is gone (closed by its owner, an ad-hoc conference over):
 * every subscription to it ends (NOTIFY terminated;reason=noresource). */
void cpm_pres_conf_end(struct cpm_pres *p, const char *room);
/* Subscriptions to room's conference state. */
unsigned cpm_pres_conf_watchers(struct cpm_pres *p, const char *room);

/* ---------------------------------------- the publication store (pure)
 *
 * Soft state (RFC 3903): in memory only.  Each user has up to max_per_user
 * publications, each with an entity-tag; all users together up to
 * max_total.  Expiry is kept in a heap: the caller arms one timer for
 * cpm_pres_pubs_next_expiry and calls cpm_pres_pubs_expire. */
#define CPM_PRES_ETAG_LEN 24

struct cpm_pres_pubs;

#define CPM_PRES_SOURCE_LEN 80

struct cpm_pres_pub {
	char etag[CPM_PRES_ETAG_LEN];
	char source[CPM_PRES_SOURCE_LEN]; /* the publisher's transport address */
	int64_t expires_at;         /* wall seconds */
	uint64_t seq;               /* last modification, increasing */
	struct cpm_pres_pidf *pidf; /* owned by the store */
};

int cpm_pres_pubs_new(unsigned max_per_user, unsigned max_total, struct cpm_pres_pubs **out);
void cpm_pres_pubs_free(struct cpm_pres_pubs *ps);
/* A new publication of aor from source (takes pidf, also on error), with
 * a fresh entity-tag.  When aor already has max_per_user, the one that
 * would expire first is dropped (*evicted true).  CPM_ELIMIT when
 * max_total is reached, CPM_ENOMEM. */
int cpm_pres_pubs_add(struct cpm_pres_pubs *ps, const char *aor, const char *source,
		      struct cpm_pres_pidf *pidf, int64_t expires_at,
		      const struct cpm_pres_pub **out, bool *evicted);
const struct cpm_pres_pub *cpm_pres_pubs_find(const struct cpm_pres_pubs *ps, const char *aor,
					      const char *etag);
/* The newest publication of aor from source, NULL when none. */
const struct cpm_pres_pub *cpm_pres_pubs_find_source(const struct cpm_pres_pubs *ps,
						     const char *aor, const char *source);
/* Refresh (pidf NULL: the state is kept) or modify (takes pidf, also on
 * error) the publication etag of aor; it gets a new entity-tag (RFC 3903
 * §6 step 8) and expires_at.  CPM_ENOTFOUND for an unknown etag. */
int cpm_pres_pubs_update(struct cpm_pres_pubs *ps, const char *aor, const char *etag,
			 struct cpm_pres_pidf *pidf, int64_t expires_at,
			 const struct cpm_pres_pub **out);
int cpm_pres_pubs_remove(struct cpm_pres_pubs *ps, const char *aor, const char *etag);
/* The publications of aor, newest (highest seq) first, at most max. */
size_t cpm_pres_pubs_of(const struct cpm_pres_pubs *ps, const char *aor,
			const struct cpm_pres_pub **out, size_t max);
size_t cpm_pres_pubs_count(const struct cpm_pres_pubs *ps);
/* Changes each time the state of aor's publications changes (not on a
 * plain refresh); 0 when aor has none. */
uint64_t cpm_pres_pubs_gen(const struct cpm_pres_pubs *ps, const char *aor);
/* The soonest expires_at, INT64_MAX when there is none. */
int64_t cpm_pres_pubs_next_expiry(const struct cpm_pres_pubs *ps);
/* Drop every publication with expires_at <= now; cb(arg, aor) after each
 * (aor is valid during the call).  Returns how many. */
size_t cpm_pres_pubs_expire(struct cpm_pres_pubs *ps, int64_t now,
			    void (*cb)(void *arg, const char *aor), void *arg);

/* ------------------------------------------------ the rules (pure + file) */

struct cpm_pres_rules;

int cpm_pres_rules_new(unsigned max_per_user, struct cpm_pres_rules **out);
void cpm_pres_rules_free(struct cpm_pres_rules *r);
/* The entry for watcher in aor's lists: the exact one, else "*@domain". */
enum cpm_pres_rule cpm_pres_rules_get(const struct cpm_pres_rules *r, const char *aor,
				      const char *watcher);
/* Set or (NONE) remove an entry.  A new entry in full lists takes the
 * place of the oldest pending one; CPM_ELIMIT when there is none.
 * CPM_EINVAL for an empty or too long name. */
int cpm_pres_rules_set(struct cpm_pres_rules *r, const char *aor, const char *watcher,
		       enum cpm_pres_rule rule);
void cpm_pres_rules_each(const struct cpm_pres_rules *r, const char *aor,
			 void (*cb)(void *arg, const char *watcher, enum cpm_pres_rule rule),
			 void *arg);
/* cb(arg, aor) for each user that has entries. */
void cpm_pres_rules_users(const struct cpm_pres_rules *r, void (*cb)(void *arg, const char *aor),
			  void *arg);
/* JSON: {"users": {"AOR": {"allow": [...], "block": [...], "pending": [...]}}}.
 * parse replaces the content; CPM_EPARSE with err. */
int cpm_pres_rules_parse(struct cpm_pres_rules *r, struct cpm_str json, char *err, size_t errsz);
int cpm_pres_rules_dump(const struct cpm_pres_rules *r, struct cpm_buf *out);
/* The file: load (a missing file is empty lists); update = under an
 * exclusive lock (PATH.lock), load, fn(arg, r), write PATH.tmp, rename.
 * r receives the new content.  fn returns 0 or CPM_E* (nothing written). */
int cpm_pres_rules_load(struct cpm_pres_rules *r, const char *path, char *err, size_t errsz);
int cpm_pres_rules_update(struct cpm_pres_rules *r, const char *path,
			  int (*fn)(void *arg, struct cpm_pres_rules *r), void *arg, char *err,
			  size_t errsz);
/* "sip:Bob@Example.TEST" / "bob@example.test" / "*@example.test" to the
 * canonical "bob@example.test" form.  CPM_EINVAL. */
int cpm_pres_watcher_norm(const char *in, char *out, size_t outsz);

#endif
