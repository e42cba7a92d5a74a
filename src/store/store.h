/* store — persistent users and registrations behind a domain-level vtable.
 *
 * Backends: "sqlite:PATH" now (PostgreSQL later).  A struct cpm_store is one
 * connection, used by one thread at a time; calls block.  From the libuv
 * loop use a struct cpm_store_worker (below), which owns a connection on
 * its own thread.  Several connections, in several processes, may use the
 * same database at once (the CLI writes while the server runs).
 *
 * Call the cpm_store_* wrappers rather than the ops: they validate their
 * arguments and normalise AoRs ("user@domain", domain lowercased, user
 * part kept as is) before the backend sees them.  AoRs carry no scheme. */
#ifndef CPM_STORE_H
#define CPM_STORE_H

#include "lib/lib.h"

#include <stdint.h>
#include <uv.h>

struct cpm_store_user {
	char aor[256];	 /* "alice@example.test", lowercase domain */
	char realm[128];
	char ha1_md5[33];
	char ha1_sha256[65];
	int64_t created; /* wall-clock seconds */
};

struct cpm_store_binding {
	char aor[256];
	char contact[512];  /* the Contact URI */
	char instance[256]; /* +sip.instance, "" if none */
	int reg_id;	    /* reg-id, 0 if none */
	char path[1024];    /* Path header values, comma-joined, "" if none */
	char source[128];   /* "udp:1.2.3.4:5060" or "tcp:[::1]:5061" */
	int q1000;	    /* q * 1000 */
	int64_t expires;    /* absolute wall-clock seconds */
	char call_id[256];
	uint32_t cseq;
	char user_agent[256];
};

/* ---------------------------------------------------------------- messages
 *
 * Store-and-forward: a message stored for an AoR (the recipient), waiting
 * for delivery to each of the AoR's devices (late fork: a device that
 * registers while the message is still stored gets it, once). */

enum cpm_store_msg_kind {
	CPM_STORE_MSG_MESSAGE = 0,  /* a pager-mode MESSAGE body */
	CPM_STORE_MSG_REPORT = 1,   /* an IMDN report to forward to its target */
	CPM_STORE_MSG_DEFERRED = 2, /* content kept for HTTP fetch (RFC 4483) */
};

enum cpm_store_msg_flag {
	CPM_STORE_MSG_F_NOTIFY = 1 << 0,   /* report delivery to the sender */
	CPM_STORE_MSG_F_DEFERRED = 1 << 1, /* deferred retrieval (store&fwd) */
	CPM_STORE_MSG_F_PULL = 1 << 2,	   /* "store": kept until asked for */
	CPM_STORE_MSG_F_IMDN = 1 << 3,	   /* CPIM imdn.Disposition-Notification */
	CPM_STORE_MSG_F_TAKEN = 1 << 4,	   /* a device has it; kept for the others
					    * (late fork): not "waiting" any more */
};

enum cpm_store_msg_state {
	CPM_STORE_MSG_STORED = 0,    /* waiting for (more) deliveries */
	CPM_STORE_MSG_DELIVERED = 1, /* delivered, to all, for the AoR */
	CPM_STORE_MSG_EXPIRED = 2,
	CPM_STORE_MSG_FAILED = 3,
};

/* Per-device delivery state (struct cpm_store_msg_delivery). */
enum cpm_store_dlv_state {
	CPM_STORE_DLV_ATTEMPT = 0,   /* an attempt began (attempts++) */
	CPM_STORE_DLV_DELIVERED = 1, /* 2xx: final, sticky */
	CPM_STORE_DLV_FAILED = 2,    /* permanent failure for this device */
};

/* Bodies are blobs: byte-exact, NULs allowed, at most this long. */
#define CPM_STORE_MSG_BODY_MAX ((size_t)16 << 20)

struct cpm_store_msg {
	int64_t id;		 /* assigned by put, > 0, never reused */
	char recipient[256];	 /* AoR, normalised like the others */
	char sender[512];	 /* the From URI */
	char sender_display[128];
	char call_id[256];	 /* the stable Call-ID of every delivery
				  * attempt (caller-generated, unique) */
	char message_id[128];	 /* CPIM/IMDN Message-ID, "" if none */
	char content_type[128];
	char subject[256];
	/* put: the caller's bytes.  List callbacks: valid during the
	 * callback only.  cpm_store_msg_get: a malloc'd copy, release it
	 * with cpm_store_msg_free_body(). */
	const void *body;
	size_t body_len;
	int64_t date;	 /* original Date, wall seconds */
	int64_t created; /* wall seconds; 0 on put = now */
	int64_t expires; /* absolute wall seconds; 0 = never (the caller
			  * applies the class lifetime before put) */
	int kind;	 /* enum cpm_store_msg_kind */
	int flags;	 /* enum cpm_store_msg_flag bits */
	int state;	 /* enum cpm_store_msg_state */
	char token[33];	 /* pick-up URL secret (hex), "" if none */
};

struct cpm_store_msg_delivery {
	int64_t msg_id;
	char device[256]; /* +sip.instance, or whatever key the caller uses */
	int state;	  /* enum cpm_store_dlv_state */
	int attempts;
	int64_t last_attempt;
	int64_t delivered_at; /* 0 until delivered */
};

/* Rooms (the calls are below, after the profiles'). */
enum cpm_store_room_flag {
	CPM_STORE_ROOM_F_ADHOC = 1 << 0,	/* created by a conference-factory
						 * INVITE (RFC 5366 URI list) */
	CPM_STORE_ROOM_F_MEMBERS_ONLY = 1 << 1, /* only members may join */
	CPM_STORE_ROOM_F_OFFLINE_SF = 1 << 2,	/* members not in session get the
						 * room's messages by store-and-forward */
};
#define CPM_STORE_ROOM_F_ALL 7
#define CPM_STORE_ROOM_HISTORY_MAX 10000

struct cpm_store_room {
	char uri[256];	   /* "room@example.test" */
	char owner[256];   /* AoR of the owner (also a member, role OWNER) */
	char subject[256]; /* "" if none; no control characters */
	int flags;	   /* enum cpm_store_room_flag bits */
	int history;	   /* messages a joiner gets, at most
			    * CPM_STORE_ROOM_HISTORY_MAX; -1 = the server default */
	int64_t created;   /* wall seconds; 0 on put = now (insert only) */
};

enum cpm_store_room_role {
	CPM_STORE_ROOM_MEMBER = 0,
	CPM_STORE_ROOM_MODERATOR = 1,
	CPM_STORE_ROOM_OWNER = 2, /* the room's owner, and only the owner */
};

struct cpm_store_room_member {
	char room[256];
	char aor[256];	/* the member's AoR, normalised */
	char nick[64];	/* "" if none; no control characters */
	int role;	/* enum cpm_store_room_role */
	int64_t added;	/* wall seconds; 0 on put = now (kept on update) */
};

struct cpm_store_room_msg {
	int64_t id;	     /* assigned by add, > 0, never reused */
	char room[256];
	char sender[256];    /* the sender's AoR or URI, as the caller has it */
	char nick[64];	     /* the sender's nickname then, "" if none */
	char message_id[128]; /* MSRP/CPIM Message-ID, "" if none */
	char content_type[128];
	/* same contract as struct cpm_store_msg: the caller's bytes on add,
	 * valid during the callback in listings; at most
	 * CPM_STORE_MSG_BODY_MAX */
	const void *body;
	size_t body_len;
	int64_t date; /* wall seconds; 0 on add = now */
};

enum cpm_store_txn_op {
	CPM_STORE_TXN_BEGIN = 0, /* BEGIN IMMEDIATE (takes the write lock) */
	CPM_STORE_TXN_COMMIT,
	CPM_STORE_TXN_ROLLBACK,
	CPM_STORE_TXN_SAVEPOINT, /* nested: savepoint / release / rollback to */
	CPM_STORE_TXN_RELEASE,
	CPM_STORE_TXN_ROLLBACK_TO,
	CPM_STORE_TXN_ACTIVE, /* returns 1 inside a transaction, 0 outside */
};

struct cpm_store;

/* List callbacks (cb) return 0 to go on; any other value stops the listing
 * and is returned by the list call.  They must not start the same listing
 * on the same connection (CPM_EBUSY) but may call the other operations. */

struct cpm_store_ops {
	const char *name; /* the URL scheme, "sqlite" */
	int (*open)(struct cpm_store *s, const char *url_rest);
	void (*close)(struct cpm_store *s);
	/* CPM_EEXIST, also when a room has this URI */
	int (*user_add)(struct cpm_store *s, const struct cpm_store_user *u);
	int (*user_del)(struct cpm_store *s, const char *aor); /* CPM_ENOTFOUND */
	int (*user_get)(struct cpm_store *s, const char *aor,
			struct cpm_store_user *out); /* CPM_ENOTFOUND */
	/* new realm and HA1s (created is kept); CPM_ENOTFOUND */
	int (*user_update)(struct cpm_store *s, const struct cpm_store_user *u);
	/* in AoR order */
	int (*user_list)(struct cpm_store *s,
			 int (*cb)(void *arg, const struct cpm_store_user *u),
			 void *arg);
	/* upsert by (aor, contact) */
	int (*binding_put)(struct cpm_store *s, const struct cpm_store_binding *b);
	/* CPM_ENOTFOUND if there was no such binding */
	int (*binding_del)(struct cpm_store *s, const char *aor,
			   const char *contact);
	/* 0 also when there was none */
	int (*binding_del_aor)(struct cpm_store *s, const char *aor);
	/* unexpired (expires > now) bindings, by AoR, then q descending, then
	 * contact */
	int (*binding_list)(struct cpm_store *s, int64_t now,
			    int (*cb)(void *arg,
				      const struct cpm_store_binding *b),
			    void *arg);
	/* deletes the expired (expires <= now) bindings; 0 on success */
	int (*binding_purge)(struct cpm_store *s, int64_t now);
	/* messages (see struct cpm_store_msg below); same contracts as the
	 * cpm_store_msg_* wrappers, arguments already checked */
	int (*msg_put)(struct cpm_store *s, struct cpm_store_msg *m);
	int (*msg_put_batch)(struct cpm_store *s, struct cpm_store_msg *const *msgs,
			     size_t n, int *errs);
	int (*msg_get)(struct cpm_store *s, int64_t id, struct cpm_store_msg *out);
	/* device NULL: every stored message of the AoR */
	int (*msg_list)(struct cpm_store *s, const char *aor, const char *device,
			int64_t after_id, int limit, int64_t now,
			int (*cb)(void *arg, const struct cpm_store_msg *m),
			void *arg);
	int (*msg_state_set)(struct cpm_store *s, int64_t id, int state);
	int (*msg_del)(struct cpm_store *s, int64_t id);
	int (*msg_expire)(struct cpm_store *s, int64_t now,
			  int (*cb)(void *arg, const struct cpm_store_msg *m),
			  void *arg);
	int (*msg_usage)(struct cpm_store *s, const char *aor, int64_t *count,
			 int64_t *bytes);
	int (*msg_delivery_set)(struct cpm_store *s, int64_t id,
				const char *device, int state, int64_t now);
	int (*msg_delivery_get)(struct cpm_store *s, int64_t id,
				const char *device,
				struct cpm_store_msg_delivery *out);
	/* profiles: same contracts as the cpm_store_profile_* wrappers */
	int (*profile_get)(struct cpm_store *s, const char *aor, char *text,
			   size_t sz);
	int (*profile_put)(struct cpm_store *s, const char *aor,
			   const char *text, int64_t now);
	int (*profile_list)(struct cpm_store *s,
			    int (*cb)(void *arg, const char *aor, const char *text),
			    void *arg);
	int (*profile_stamp)(struct cpm_store *s, int64_t *updated, int64_t *count);
	int (*msg_flags)(struct cpm_store *s, int64_t id, int set, int clear);
	/* rooms: same contracts as the cpm_store_room_* wrappers, arguments
	 * checked and normalised; room_list with aor NULL lists them all */
	int (*room_put)(struct cpm_store *s, const struct cpm_store_room *r);
	int (*room_get)(struct cpm_store *s, const char *uri,
			struct cpm_store_room *out);
	int (*room_del)(struct cpm_store *s, const char *uri);
	int (*room_list)(struct cpm_store *s, const char *aor,
			 int (*cb)(void *arg, const struct cpm_store_room *r),
			 void *arg);
	int (*room_member_put)(struct cpm_store *s,
			       const struct cpm_store_room_member *m);
	int (*room_member_del)(struct cpm_store *s, const char *room,
			       const char *aor);
	int (*room_member_get)(struct cpm_store *s, const char *room,
			       const char *aor,
			       struct cpm_store_room_member *out);
	int (*room_member_list)(struct cpm_store *s, const char *room,
				int (*cb)(void *arg,
					  const struct cpm_store_room_member *m),
				void *arg);
	int (*room_msg_add)(struct cpm_store *s, struct cpm_store_room_msg *m);
	/* last > 0: the last `last`, oldest first; else id > after_id */
	int (*room_msg_list)(struct cpm_store *s, const char *room, int last,
			     int64_t after_id, int limit,
			     int (*cb)(void *arg,
				       const struct cpm_store_room_msg *m),
			     void *arg);
	int (*room_msg_count)(struct cpm_store *s, const char *room,
			      int64_t *count);
	int (*room_msg_trim)(struct cpm_store *s, const char *room, int keep);
	int (*room_stamp)(struct cpm_store *s, int64_t *updated, int64_t *count);
	/* enum cpm_store_txn_op */
	int (*txn)(struct cpm_store *s, int op);
};

struct cpm_store_options {
	int busy_timeout_ms; /* wait on another connection's lock (store.busy_timeout) */
};
#define CPM_STORE_OPTIONS_DEFAULT ((struct cpm_store_options){ 5000 })

/* One connection.  Backends keep their state behind priv. */
struct cpm_store {
	const struct cpm_store_ops *ops;
	struct cpm_store_options opts;
	void *priv;
	char errmsg[256]; /* the backend's text of the last failure */
};

/* "sqlite:PATH": opens (creating the file, its parent directories and the
 * schema, or migrating an older schema).  CPM_ESCHEME for an unknown scheme,
 * CPM_EVERSION for a database written by a newer cpmd, CPM_ESTORE/CPM_EIO
 * otherwise (cpm_store_last_error() is not available then: the open failure
 * is logged). */
int cpm_store_open(const char *url, struct cpm_store **out);
int cpm_store_open_ex(const char *url, const struct cpm_store_options *opts,
		      struct cpm_store **out);
void cpm_store_close(struct cpm_store *s);
/* The backend's text of the last failure on s ("" if none). */
const char *cpm_store_last_error(const struct cpm_store *s);

/* "alice@Example.TEST" -> "alice@example.test".  CPM_EINVAL unless exactly
 * one '@' separates a non-empty user and domain, without whitespace, control
 * characters or '<>"'; CPM_ETOOBIG if it does not fit outsz (<= 256). */
int cpm_store_aor_normalize(const char *aor, char *out, size_t outsz);

/* The wrappers: same contracts as the ops; CPM_EINVAL for a bad AoR or a
 * field that is not NUL-terminated within its array. */
int cpm_store_user_add(struct cpm_store *s, const struct cpm_store_user *u);
int cpm_store_user_del(struct cpm_store *s, const char *aor);
int cpm_store_user_get(struct cpm_store *s, const char *aor,
		       struct cpm_store_user *out);
int cpm_store_user_update(struct cpm_store *s, const struct cpm_store_user *u);
int cpm_store_user_list(struct cpm_store *s,
			int (*cb)(void *arg, const struct cpm_store_user *u),
			void *arg);
int cpm_store_binding_put(struct cpm_store *s, const struct cpm_store_binding *b);
int cpm_store_binding_del(struct cpm_store *s, const char *aor,
			  const char *contact);
int cpm_store_binding_del_aor(struct cpm_store *s, const char *aor);
int cpm_store_binding_list(struct cpm_store *s, int64_t now,
			   int (*cb)(void *arg,
				     const struct cpm_store_binding *b),
			   void *arg);
int cpm_store_binding_purge(struct cpm_store *s, int64_t now);

/* Messages.  CPM_EINVAL for a bad AoR, an empty sender, Call-ID or
 * content type, an out-of-range kind/state, a field not terminated in its
 * array; CPM_ETOOBIG for a body above CPM_STORE_MSG_BODY_MAX.
 *
 * put: one INSERT; sets m->id (and m->created if 0).  CPM_EEXIST if the
 * Call-ID is already stored. */
int cpm_store_msg_put(struct cpm_store *s, struct cpm_store_msg *m);
/* n messages in one transaction (one fsync): all or none.  errs (n ints,
 * may be NULL) receives each message's result: 0 when stored, its own
 * error for the failing one(s), CPM_EAGAIN for a good message rolled back
 * with the batch.  Returns 0 or the first error. */
int cpm_store_msg_put_batch(struct cpm_store *s, struct cpm_store_msg *const *msgs,
			    size_t n, int *errs);
/* CPM_ENOTFOUND.  out->body is malloc'd: cpm_store_msg_free_body(out). */
int cpm_store_msg_get(struct cpm_store *s, int64_t id, struct cpm_store_msg *out);
void cpm_store_msg_free_body(struct cpm_store_msg *m);
/* The AoR's messages in state STORED, unexpired (expires == 0 or > now),
 * with id > after_id, in arrival (id) order, at most limit (0 = no limit).
 * Page with after_id = the last id seen. */
int cpm_store_msg_list_pending(struct cpm_store *s, const char *aor,
			       int64_t after_id, int limit, int64_t now,
			       int (*cb)(void *arg, const struct cpm_store_msg *m),
			       void *arg);
/* The same, minus the messages this device already got or failed for good
 * (delivery state DELIVERED or FAILED): what to send a device that
 * registers.  device non-empty. */
int cpm_store_msg_list_pending_device(
	struct cpm_store *s, const char *aor, const char *device, int64_t after_id,
	int limit, int64_t now, int (*cb)(void *arg, const struct cpm_store_msg *m),
	void *arg);
/* Per-device bookkeeping, upsert by (id, device): ATTEMPT counts an attempt
 * at now, DELIVERED records delivered_at = now and stays (a later ATTEMPT
 * or FAILED does not undo it), FAILED is final for the device.
 * CPM_ENOTFOUND if the message does not exist. */
int cpm_store_msg_delivery_set(struct cpm_store *s, int64_t id,
			       const char *device, int state, int64_t now);
int cpm_store_msg_delivery_get(struct cpm_store *s, int64_t id,
			       const char *device,
			       struct cpm_store_msg_delivery *out);
/* The message's state (enum cpm_store_msg_state); CPM_ENOTFOUND. */
int cpm_store_msg_state_set(struct cpm_store *s, int64_t id, int state);
/* Set, then clear, bits of the message's flags (the caller's own bits
 * included); CPM_ENOTFOUND. */
int cpm_store_msg_flags_update(struct cpm_store *s, int64_t id, int set, int clear);
/* = state_set(DELIVERED): delivered for the AoR as a whole. */
int cpm_store_msg_mark_delivered(struct cpm_store *s, int64_t id);
/* With its delivery rows; CPM_ENOTFOUND. */
int cpm_store_msg_del(struct cpm_store *s, int64_t id);
/* Every message with 0 < expires <= now, whatever its state, is passed to
 * cb (for reports; m->state tells whether it was still waiting) and then
 * deleted, in id order, in one transaction.  If cb returns non-zero, the
 * messages before are deleted, that one and the rest are kept (to be
 * passed again next time), and the value is returned.  Otherwise returns
 * the number expired.  A store failure keeps them all (reported again:
 * at least once). */
int cpm_store_msg_expire(struct cpm_store *s, int64_t now,
			 int (*cb)(void *arg, const struct cpm_store_msg *m),
			 void *arg);
/* Messages held for the AoR, in any state, and their body bytes (quotas). */
int cpm_store_msg_usage(struct cpm_store *s, const char *aor, int64_t *count,
			int64_t *bytes);

/* ---------------------------------------------------------------- profiles
 *
 * A user's store-and-forward profile (`cpmd user set`) is kept as the text
 * of cpm_im_profile_format, one key=value per line
 * ("store-and-forward=yes", "accepts=text/plain", "class=default"); the
 * store does not read it.
 * Schema 3: table profiles (aor PRIMARY KEY, text, updated); deleting the
 * user deletes its profile. */
#define CPM_STORE_PROFILE_MAX 4096 /* text, NUL included */

/* Copies the AoR's profile text into text (sz bytes).  CPM_ENOTFOUND when
 * the user has none (the server default applies, whether or not the user
 * exists); CPM_ETOOBIG if it does not fit sz; CPM_EINVAL for a bad AoR or
 * a NULL/empty buffer. */
int cpm_store_profile_get(struct cpm_store *s, const char *aor, char *text,
			  size_t sz);
/* Creates or replaces the profile of an existing user (upsert).
 * CPM_ENOTFOUND if the user does not exist; CPM_EINVAL for a bad AoR, an
 * empty text or a control character other than '\n' and '\t'; CPM_ETOOBIG
 * for CPM_STORE_PROFILE_MAX bytes or more. */
int cpm_store_profile_put(struct cpm_store *s, const char *aor,
			  const char *text);
/* Every profile, in AoR order: cb(arg, aor, text) returns 0 to go on. */
int cpm_store_profile_list(struct cpm_store *s,
			   int (*cb)(void *arg, const char *aor, const char *text),
			   void *arg);
/* A cheap fingerprint of all profiles: the latest update time and the
 * count.  When neither changed, no profile was added, changed or removed
 * (a cache compares it to know when to reload). */
int cpm_store_profile_stamp(struct cpm_store *s, int64_t *updated, int64_t *count);

/* ------------------------------------------------------------------- rooms
 *
 * Chat rooms (RFC 7701 MSRP switch, RFC 4579 conferences): the room, its
 * members with their nicknames and roles, and its history.  A room URI is
 * "room@domain" without scheme, normalised like an AoR; it never equals a
 * subscriber's AoR (a room put for a user's AoR and a user add for a
 * room's URI both fail with CPM_EEXIST).
 * Schema 6: tables rooms, room_members, room_messages (AUTOINCREMENT ids),
 * room_serial (the change counter of cpm_store_room_stamp); deleting a room
 * deletes its members and history (trigger). */

/* Common checks of the room calls: CPM_EINVAL for a bad room URI or AoR,
 * an empty owner, sender or content type, a flag or role out of range, a
 * history outside -1..CPM_STORE_ROOM_HISTORY_MAX, a control character in
 * subject or nick, a field not terminated within its array; CPM_ETOOBIG
 * for a body above CPM_STORE_MSG_BODY_MAX. */

/* Insert, or update subject, flags, history and owner (created kept).  On
 * insert the owner becomes a member with role OWNER; on an owner change
 * the new owner's row gets role OWNER (added if needed) and the previous
 * owner's becomes MODERATOR.  CPM_EEXIST if a user has this AoR. */
int cpm_store_room_put(struct cpm_store *s, const struct cpm_store_room *r);
/* CPM_ENOTFOUND. */
int cpm_store_room_get(struct cpm_store *s, const char *uri,
		       struct cpm_store_room *out);
/* With its members and history; CPM_ENOTFOUND. */
int cpm_store_room_del(struct cpm_store *s, const char *uri);
/* Every room, in URI order. */
int cpm_store_room_list(struct cpm_store *s,
			int (*cb)(void *arg, const struct cpm_store_room *r),
			void *arg);
/* The rooms whose member (the owner included) aor is, in URI order. */
int cpm_store_room_list_member(struct cpm_store *s, const char *aor,
			       int (*cb)(void *arg, const struct cpm_store_room *r),
			       void *arg);
/* Upsert by (room, aor): nick and role (added kept).  CPM_ENOTFOUND if the
 * room does not exist; CPM_EPERM for role OWNER on another AoR than the
 * owner's, or a lower role on the owner's row. */
int cpm_store_room_member_put(struct cpm_store *s,
			      const struct cpm_store_room_member *m);
/* CPM_ENOTFOUND; CPM_EPERM for the owner (change the owner first). */
int cpm_store_room_member_del(struct cpm_store *s, const char *room,
			      const char *aor);
/* CPM_ENOTFOUND (no such member, or no such room). */
int cpm_store_room_member_get(struct cpm_store *s, const char *room,
			      const char *aor, struct cpm_store_room_member *out);
/* The room's members, by role descending then AoR; 0 and no call for a
 * room that does not exist (check with room_get). */
int cpm_store_room_member_list(
	struct cpm_store *s, const char *room,
	int (*cb)(void *arg, const struct cpm_store_room_member *m), void *arg);
/* Append to the room's history; sets m->id (and m->date if 0).
 * CPM_ENOTFOUND if the room does not exist. */
int cpm_store_room_msg_add(struct cpm_store *s, struct cpm_store_room_msg *m);
/* The room's last n messages (n > 0), oldest first: what a joiner gets. */
int cpm_store_room_msg_last(
	struct cpm_store *s, const char *room, int n,
	int (*cb)(void *arg, const struct cpm_store_room_msg *m), void *arg);
/* The room's messages with id > after_id, oldest first, at most limit (0 =
 * no limit): page with after_id = the last id seen. */
int cpm_store_room_msg_list(
	struct cpm_store *s, const char *room, int64_t after_id, int limit,
	int (*cb)(void *arg, const struct cpm_store_room_msg *m), void *arg);
/* Messages in the room's history. */
int cpm_store_room_msg_count(struct cpm_store *s, const char *room,
			     int64_t *count);
/* Deletes all but the room's last keep (>= 0) messages; the number
 * deleted. */
int cpm_store_room_msg_trim(struct cpm_store *s, const char *room, int keep);
/* A cheap fingerprint of the rooms and their members: updated grows with
 * every room or member insert, update or delete (from any connection);
 * count is the number of rooms.  When neither changed, a cache of rooms
 * and members on the loop is current.  History does not count. */
int cpm_store_room_stamp(struct cpm_store *s, int64_t *updated, int64_t *count);

/* Explicit transactions on one connection (enum cpm_store_txn_op).  The
 * operations above that take several statements nest inside one.  Note
 * that SQLite ends the whole transaction by itself on some failures (I/O
 * error, disk full): check CPM_STORE_TXN_ACTIVE after a failure. */
int cpm_store_txn(struct cpm_store *s, int op);

extern const struct cpm_store_ops cpm_store_sqlite_ops;

/* ------------------------------------------------------------------ worker */

/* One thread owning one connection, fed by a FIFO of jobs.  work(s, arg)
 * runs on the worker thread with its connection; then done(arg) runs on the
 * loop thread (from a uv_async_t).  Jobs run, and their done callbacks are
 * called, in submit order.  work or done may be NULL.  Everything but the
 * work callbacks is to be called on the loop thread.  While jobs are
 * outstanding the worker keeps the loop alive; when idle it does not. */
struct cpm_store_worker;

int cpm_store_worker_new(uv_loop_t *loop, const char *url,
			 struct cpm_store_worker **out);
int cpm_store_worker_new_ex(uv_loop_t *loop, const char *url,
			    const struct cpm_store_options *opts,
			    struct cpm_store_worker **out);
/* CPM_ENOMEM, or CPM_ESTATE after flush_and_free began. */
int cpm_store_worker_submit(struct cpm_store_worker *w,
			    void (*work)(struct cpm_store *s, void *arg),
			    void (*done)(void *arg), void *arg);
/* Group commit.  Consecutive batchable jobs waiting in the queue run in
 * one transaction (BEGIN IMMEDIATE ... COMMIT: one fsync), each inside its
 * own savepoint: work returns 0 (or a count) or a negative CPM_E*, and a
 * failing job's writes are rolled back without touching the others'.  Then
 * done(arg, rc) runs on the loop, after the COMMIT, in submit order, with
 * the job's result, or the BEGIN/COMMIT error (nothing of the batch is
 * stored then).  If a job's failure ended the whole transaction (SQLite
 * does on I/O errors), the jobs before it get that error too and the rest
 * run in a new transaction.  work must not BEGIN/COMMIT itself (the cpm_store_*
 * operations nest).  At most CPM_STORE_WORKER_BATCH_MAX jobs per batch;
 * ordinary jobs are barriers between batches. */
#define CPM_STORE_WORKER_BATCH_MAX 256
int cpm_store_worker_submit_batchable(struct cpm_store_worker *w,
				      int (*work)(struct cpm_store *s, void *arg),
				      void (*done)(void *arg, int rc), void *arg);
/* A plain job whose work only reads (no write, no BEGIN/COMMIT): unlike
 * cpm_store_worker_submit's jobs it is no barrier between batches.  Read
 * jobs queued between batchable ones run inside the batch's transaction
 * (seeing the writes of the jobs submitted before them, as outside), so
 * interleaved "check, then store" flows still commit in groups; their
 * done runs after the COMMIT, in submit order.  A run of read jobs alone
 * runs without a transaction. */
int cpm_store_worker_submit_read(struct cpm_store_worker *w,
				 void (*work)(struct cpm_store *s, void *arg),
				 void (*done)(void *arg), void *arg);
/* Batches run (committed or not) and the batchable jobs they held, since
 * creation. */
void cpm_store_worker_batch_stats(struct cpm_store_worker *w, uint64_t *batches,
				  uint64_t *jobs);
/* Jobs submitted and not yet finished. */
size_t cpm_store_worker_pending(const struct cpm_store_worker *w);
/* Runs every queued job, calls every pending done callback (before
 * returning), joins the thread, closes the connection and the uv handle.
 * The memory is released by the handle's close callback: run the loop once
 * more (as for any uv handle) before uv_loop_close(). */
void cpm_store_worker_flush_and_free(struct cpm_store_worker *w);

#endif
