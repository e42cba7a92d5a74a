/* chat — MSRP sessions on the server's loop (RFC 4975, RFC 4976).
 *
 * Today: the MSRP relay.  Clients authenticate with AUTH (HTTP Digest with
 * their SIP credentials, through core), get a Use-Path URI naming a relay
 * session, and the relay forwards SEND and REPORT requests hop by hop:
 * the first To-Path URI (ours) is removed and put in front of the
 * From-Path, and the request goes out on the connection of the next hop.
 * Chunks are streamed as their bytes arrive; per-connection output bounds
 * stop reading whoever sends to a connection that does not drain.
 *
 * Two parts:
 *  - the route table (chat_route.c): relay sessions, the connections known
 *    by URI authority, and cpm_chat_route(), which decides where a request
 *    goes and rewrites its paths.  No I/O: unit-tested alone.
 *  - the relay (chat_conn.c, chat_relay.c, chat_auth.c): TCP on libuv,
 *    the streaming forwarder, transactions and REPORTs, AUTH.
 * Single-threaded: every call on the loop's thread. */
#ifndef CPM_CHAT_H
#define CPM_CHAT_H

#include "lib/lib.h"
#include "msrp/msrp.h"

/* ------------------------------------------------------------ route table */

#define CPM_CHAT_SID_LEN 20  /* session ids we hand out: 20 hex digits */
#define CPM_CHAT_KEY_MAX 300 /* "host:port" of a URI, normalised */
#define CPM_CHAT_MAX_HOPS 16 /* our URIs one request may cross in a row */

struct cpm_chat_table;

enum cpm_chat_sess_kind {
	CPM_CHAT_SESS_RELAY = 0, /* a Use-Path URI handed out by AUTH */
	CPM_CHAT_SESS_LOCAL,     /* a session the server terminates (endpoint) */
};

/* A session URI msrp://HOST:PORT/<id>;tcp of ours: a relay session given
 * to one authenticated client (RFC 4976 §5), or a local session (the
 * server is the MSRP endpoint: rooms, anchored sessions).  Local sessions
 * never expire and survive their connection; their owner removes them. */
struct cpm_chat_sess {
	char id[CPM_CHAT_SID_LEN + 1];
	enum cpm_chat_sess_kind kind;
	void *local;        /* LOCAL: the endpoint (struct cpm_chat_ep) */
	uint64_t conn_id;   /* the connection the AUTH came on */
	char *client_uri;   /* the AUTH's From-Path URI: the client */
	char *aor;          /* who authenticated */
	uint64_t expires_ms; /* monotonic */
	/* private */
	struct cpm_chat_sess *hnext;
};

/* host, port: the relay's own authority (URIs naming it are ours: same host,
 * case-insensitive, and port, an absent port being 2855). */
int cpm_chat_table_new(const char *host, uint16_t port, size_t max_sessions,
		       struct cpm_chat_table **out);
void cpm_chat_table_free(struct cpm_chat_table *t);
/* "msrp://HOST:PORT" (IPv6 in brackets), no session, no transport. */
const char *cpm_chat_table_base(const struct cpm_chat_table *t);
bool cpm_chat_uri_is_self(const struct cpm_chat_table *t, const struct cpm_msrp_uri *u);

/* A new session with a fresh random id.  CPM_ELIMIT beyond max_sessions. */
int cpm_chat_sess_add(struct cpm_chat_table *t, uint64_t conn_id, struct cpm_str client_uri,
		      const char *aor, uint64_t expires_ms, struct cpm_chat_sess **out);
/* The live session of that id, or NULL (an expired one is removed). */
struct cpm_chat_sess *cpm_chat_sess_find(struct cpm_chat_table *t, struct cpm_str id,
					 uint64_t now_ms);
/* A local session with a fresh id (no connection yet, no expiry). */
int cpm_chat_sess_add_local(struct cpm_chat_table *t, void *local, struct cpm_chat_sess **out);
void cpm_chat_sess_del(struct cpm_chat_table *t, struct cpm_chat_sess *s);
/* Remove the relay sessions of a connection (it closed); returns how many. */
size_t cpm_chat_sess_drop_conn(struct cpm_chat_table *t, uint64_t conn_id);
/* Remove the relay sessions expired at now_ms; returns how many. */
size_t cpm_chat_sess_expire(struct cpm_chat_table *t, uint64_t now_ms);
size_t cpm_chat_sess_count(const struct cpm_chat_table *t);
/* "msrp://HOST:PORT/ID;tcp" into out. */
int cpm_chat_sess_uri(const struct cpm_chat_table *t, const struct cpm_chat_sess *s,
		      char *out, size_t outsz);

/* The authority of a URI as a key, "host:port": host lowercased (IPv6 with
 * brackets), port 2855 when absent.  CPM_ETOOBIG if out is too small. */
int cpm_chat_uri_key(const struct cpm_msrp_uri *u, char *out, size_t outsz);
/* Connections known by authority: the one we opened to it, or the one on
 * which it sent us a request (its From-Path).  set keeps an existing
 * mapping unless replace. */
int cpm_chat_peer_set(struct cpm_chat_table *t, const char *key, uint64_t conn_id,
		      bool replace);
uint64_t cpm_chat_peer_find(const struct cpm_chat_table *t, const char *key);
/* Forget key if it maps to conn_id. */
void cpm_chat_peer_del(struct cpm_chat_table *t, const char *key, uint64_t conn_id);

/* Where a request goes (RFC 4976 §6: relay behaviour). */
enum cpm_chat_hop {
	CPM_CHAT_HOP_ERROR = 0, /* answer status */
	CPM_CHAT_HOP_AUTH,      /* an AUTH for us: authenticate, hand out a session */
	CPM_CHAT_HOP_CLIENT,    /* to a session's client, on conn_id */
	CPM_CHAT_HOP_URI,       /* to the URI next (key): a connection to it */
	CPM_CHAT_HOP_LOCAL,     /* the To-Path ends at a local session (sess) */
};

struct cpm_chat_route {
	enum cpm_chat_hop hop;
	int status;              /* HOP_ERROR: 400, 403, 481 */
	const char *reason;      /* HOP_ERROR: why (static text, for the log) */
	uint64_t conn_id;        /* HOP_CLIENT */
	char key[CPM_CHAT_KEY_MAX]; /* HOP_URI */
	struct cpm_msrp_uri next;   /* HOP_CLIENT, HOP_URI: the next hop (slices of to) */
	unsigned steps;          /* our URIs removed (0: a generated message sent as is) */
	struct cpm_chat_sess *sess; /* the session of the last of them (HOP_LOCAL:
				     * the local session) */
	/* The paths to send: To-Path without our URIs, From-Path with them in
	 * front (the last one first).  Owned: cpm_chat_route_free. */
	struct cpm_buf to, from;
};

/* Route a request whose To-Path and From-Path are given, received on
 * src_conn (0: generated by the relay itself, e.g. a REPORT; then a first
 * URI that is not ours is the next hop).  Each of our URIs in front of the
 * To-Path must name a live session, and the request must come from that
 * session's client (outbound) or go to it (inbound: the next URI is the
 * client's); else 481 (unknown session, or not for us) or 403.  Our URIs
 * in a row are crossed in place (both clients on this relay).  A To-Path
 * whose last URI is a local session of ours ends there: HOP_LOCAL, with
 * the paths as the endpoint sees them (to: that URI alone, from: the
 * request's From-Path with the relay URIs crossed in front).  Returns 0
 * with r filled (HOP_ERROR included), or CPM_ENOMEM. */
int cpm_chat_route(struct cpm_chat_table *t, uint64_t src_conn, enum cpm_msrp_method m,
		   struct cpm_str to_path, struct cpm_str from_path, uint64_t now_ms,
		   struct cpm_chat_route *r);
void cpm_chat_route_free(struct cpm_chat_route *r);

/* ------------------------------------------------------------------ relay */

struct cpm_core;
struct cpm_chat_relay;

/* Listens on msrp.listen (nothing when it is empty: *out is still a relay,
 * idle).  On failure err says why. */
int cpm_chat_relay_new(struct cpm_core *core, struct cpm_chat_relay **out, char *err,
		       size_t errsz);
/* The bound port (msrp.listen port 0 is ephemeral); 0 if not listening. */
uint16_t cpm_chat_relay_port(const struct cpm_chat_relay *r);
/* Stop accepting connections (SIGTERM); the open ones stay. */
void cpm_chat_relay_stop(struct cpm_chat_relay *r);
/* Close every connection and handle; the memory goes once the loop has run
 * their close callbacks and the store jobs in flight have come back. */
void cpm_chat_relay_free(struct cpm_chat_relay *r);

struct cpm_chat_relay_stats {
	unsigned connections;
	size_t sessions;     /* live relay sessions (AUTH) */
	size_t transactions; /* relayed requests awaiting the next hop's response */
	uint64_t auth_ok, auth_failed;
	uint64_t requests;   /* requests relayed (each chunk counts) */
	uint64_t bytes;      /* body bytes relayed */
	uint64_t reports;    /* REPORTs generated */
	uint64_t stalls;     /* times a connection was not read (backpressure) */
	size_t buffered;     /* bytes held now: input, queued and in-flight output */
	size_t buffered_max; /* the most ever held at once */
};

/* r NULL (no relay): zeros. */
void cpm_chat_relay_stats(const struct cpm_chat_relay *r, struct cpm_chat_relay_stats *out);


/* --------------------------------------------------------------- endpoints
 *
 * Sessions the server terminates (RFC 4975 as an endpoint), on the relay's
 * listener and connections: a local session has our URI
 * msrp://HOST:PORT/<id>;tcp (the route table's LOCAL kind) and an owner
 * (a room leg, a B2BUA leg) that gets its messages through callbacks.
 *
 * Life of a session:
 *  1. cpm_chat_ep_new: a URI to put in our SDP (a=path).
 *  2. cpm_chat_ep_set_peer: the peer's a=path from its SDP (relays first,
 *     the peer last: what our To-Path will be) and who connects (RFC 4975
 *     §5.4, RFC 6135 a=setup; see cpm_chat_sdp_*).
 *  3. Binding.  Passive: the peer connects to us and its first request
 *     (usually an empty SEND) names our URI in its To-Path; its From-Path
 *     must end with the last URI of the peer's path, else 481.  Active:
 *     cpm_chat_ep_connect opens (or reuses) the connection to the first
 *     URI of the peer's path and sends an empty SEND; the 200 binds.  Either
 *     way ops->bound runs once the session can carry messages.
 *  4. Messages both ways: chunks are reassembled (interleaving allowed, §7.3.1),
 *     a whole message goes to ops->message, whose status answers the last
 *     chunk; beyond chat.max_message_size the chunks get 413 and the message
 *     is dropped; Success-Report: yes gets a REPORT after the owner said 200
 *     (§7.1.2).  cpm_chat_ep_send writes SENDs (chunked, own transactions).
 *  5. The end: the owner calls cpm_chat_ep_close (its dialog ended), or
 *     the connection goes and ops->closed says so (the owner then closes).
 * Single-threaded, on the loop. */

struct cpm_chat_ep;

/* A whole message received on a local session.  Slices valid during the
 * callback. */
struct cpm_chat_ep_msg {
	struct cpm_str message_id;
	struct cpm_str content_type; /* "text/plain", "message/cpim", ... */
	struct cpm_str body;
	struct cpm_str from_path;    /* as received (the peer last) */
};

struct cpm_chat_ep_ops {
	/* The session is bound to a connection: cpm_chat_ep_send works. */
	void (*bound)(void *arg, struct cpm_chat_ep *ep);
	/* A whole message.  Returns the MSRP status that answers its last
	 * chunk: 200, or 403/404/415/428... (RFC 4975 §7.3, RFC 7701). */
	int (*message)(void *arg, struct cpm_chat_ep *ep, const struct cpm_chat_ep_msg *m);
	/* A request of another method for this session (NICKNAME, RFC 7701
	 * §7): m's header fields are valid during the call (its body is not
	 * given).  Returns the status to answer (NULL callback: 501). */
	int (*request)(void *arg, struct cpm_chat_ep *ep, const struct cpm_msrp_msg *m);
	/* The connection carrying the session closed (why: text for the
	 * log), or the active connect failed.  The owner should
	 * cpm_chat_ep_close (from the callback too). */
	void (*closed)(void *arg, struct cpm_chat_ep *ep, const char *why);
};

/* Defaults of the per-session limits: chat.max_message_size,
 * chat.max_queue, chat.chunk_size. */
struct cpm_chat_ep_limits {
	size_t max_message; /* bytes of one received message (413 beyond) */
	size_t max_queue;   /* bytes queued towards the peer (send: CPM_ELIMIT) */
	size_t chunk;       /* larger bodies are sent in chunks of this size */
};

/* A local session of relay r (which must listen: CPM_EUNSUPP otherwise);
 * lim NULL: the [chat] configuration. */
int cpm_chat_ep_new(struct cpm_chat_relay *r, const struct cpm_chat_ep_ops *ops, void *arg,
		    const struct cpm_chat_ep_limits *lim, struct cpm_chat_ep **out);
/* Remove the session: no callback follows; the sends in flight end
 * silently; the connection stays for its other sessions (or idles out). */
void cpm_chat_ep_close(struct cpm_chat_ep *ep);
/* Our URI "msrp://HOST:PORT/ID;tcp" (for a=path). */
const char *cpm_chat_ep_uri(const struct cpm_chat_ep *ep);
/* The peer's a=path (SP-separated URIs, the peer last): CPM_EPARSE if it
 * holds no valid MSRP URI.  A path that starts with our own relay URIs
 * (the peer is a client of this server's relay) is crossed as the relay
 * would: we send on that client's connection with those URIs leading our
 * From-Path; CPM_EINVAL if such a URI names no session of that client. */
int cpm_chat_ep_set_peer(struct cpm_chat_ep *ep, struct cpm_str path);
/* Active side: connect to the peer's first path URI (literal IP only)
 * and bind with an empty SEND (RFC 4975 §5.4).  ops->bound or ops->closed
 * follows. */
int cpm_chat_ep_connect(struct cpm_chat_ep *ep);
bool cpm_chat_ep_is_bound(const struct cpm_chat_ep *ep);
/* Owner data, e.g. for cpm_chat_ep_ops callbacks shared by many legs. */
void cpm_chat_ep_set_owner(struct cpm_chat_ep *ep, const struct cpm_chat_ep_ops *ops,
			   void *arg);
/* Bytes queued towards the peer (on its connection). */
size_t cpm_chat_ep_queued(const struct cpm_chat_ep *ep);

/* The final status of a message we sent: 200 when every chunk got a 2xx,
 * else the first error (408: no answer within msrp.transaction_timeout,
 * or the connection went). */
typedef void cpm_chat_ep_sent_cb(void *arg, int status);

/* Send a message: SEND chunks with To-Path = the peer's path, From-Path =
 * our URI, Message-ID (message_id, or a fresh one when empty),
 * Failure-Report yes, Success-Report no.  cb (may be NULL) runs once,
 * never from inside this call and never after cpm_chat_ep_close.
 * CPM_EAGAIN: not bound yet; CPM_ELIMIT: the queue towards the peer is
 * over max_queue (a slow reader: the owner decides, a room drops it). */
int cpm_chat_ep_send(struct cpm_chat_ep *ep, struct cpm_str content_type, struct cpm_str body,
		     struct cpm_str message_id, cpm_chat_ep_sent_cb *cb, void *arg);

struct cpm_chat_ep_stats {
	size_t sessions;      /* live local sessions */
	uint64_t received;    /* whole messages handed to owners */
	uint64_t sent;        /* messages sent (each counts once) */
	uint64_t rejected;    /* 413: too large */
	uint64_t overflows;   /* sends refused with CPM_ELIMIT */
};

void cpm_chat_ep_stats(const struct cpm_chat_relay *r, struct cpm_chat_ep_stats *out);


/* ---------------------------------------------------- SDP offer/answer
 *
 * RFC 3264 with the MSRP media of RFC 4975 §8 and a=setup of RFC 6135. */

#include "sdp/sdp.h"

/* What we write in our m=message section. */
struct cpm_chat_sdp_params {
	const char *host;           /* c= and o= address (the MSRP listener's) */
	uint16_t port;              /* m= port (the listener's; RFC 4975 §8.1:
				     * informative, a=path rules) */
	const char *path;           /* our a=path: the local session URI */
	const char *accept_types;   /* e.g. "message/cpim text/plain" */
	const char *accept_wrapped; /* a=accept-wrapped-types, NULL: none */
	uint64_t max_size;          /* a=max-size, 0: none */
	const char *const *extra;   /* more a= values ("chatroom:nickname ...") */
	unsigned nextra;
	uint64_t sess_id;           /* o= session id and version */
};

/* What the peer's MSRP section says. */
struct cpm_chat_sdp_peer {
	int media;                  /* its index, -1: none taken */
	char path[2048];            /* its a=path (To-Path for us) */
	char accept_types[512];
	char accept_wrapped[512];
	uint64_t max_size;          /* 0: not given */
	enum cpm_sdp_setup setup;   /* its a=setup */
	bool we_connect;            /* we are the active side (cpm_chat_ep_connect) */
};

/* Do two accept-types lists have a type in common ('*' and "type/ *"
 * wildcards on either side)? */
bool cpm_chat_sdp_types_meet(struct cpm_str theirs, struct cpm_str ours);
/* Our answer to offer: every m= line answered in order; the first
 * m=message TCP/MSRP with a usable a=path and a common accept-type is
 * taken (our a=setup: passive unless the offer says passive, then
 * active), the others are rejected with port 0.  Returns 0 with out and
 * peer filled, CPM_EPARSE (bad SDP: 400), CPM_EUNSUPP (nothing to take:
 * 488), with *why. */
int cpm_chat_sdp_answer(struct cpm_str offer, const struct cpm_chat_sdp_params *p,
			struct cpm_buf *out, struct cpm_chat_sdp_peer *peer, const char **why);
/* Our offer: one m=message TCP/MSRP with a=setup:actpass. */
int cpm_chat_sdp_offer(const struct cpm_chat_sdp_params *p, struct cpm_buf *out);
/* The answer to our offer: its first m= line must be the MSRP stream,
 * not refused.  peer->we_connect unless it said a=setup:active. */
int cpm_chat_sdp_read_answer(struct cpm_str answer, struct cpm_chat_sdp_peer *peer,
			     const char **why);


/* ------------------------------------------------------------------ rooms
 *
 * A room is an MSRP switch (RFC 7701) over legs: the room does not know how
 * a participant is reached, its leg does (a local MSRP session for the
 * focus of chat_focus.c; a SIP MESSAGE leg or a B2BUA leg later).  Pure
 * logic: no I/O, no store (its owner keeps the history). */

/* message/cpim (RFC 3862): the message headers this switch reads, the
 * MIME part (its headers and content, what a relayed copy keeps) and the
 * content.  Slices of the body. */
struct cpm_chat_cpim {
	struct cpm_str from, to, datetime; /* the first To only */
	struct cpm_str mime;               /* "Content-Type: ...\r\n\r\ncontent" */
	struct cpm_str content_type, content;
};

/* 0, or CPM_EPARSE (no header, no empty line, no Content-Type). */
int cpm_chat_cpim_parse(struct cpm_str body, struct cpm_chat_cpim *out);

struct cpm_chat_room;
struct cpm_chat_member;

/* How the room reaches one participant. */
struct cpm_chat_leg_ops {
	/* Queue a message (ctype is message/cpim).  0; CPM_ELIMIT: the
	 * participant's queue is full (it is dropped); CPM_EAGAIN: not
	 * reachable yet (skipped); another error: dropped. */
	int (*send)(void *leg, struct cpm_str ctype, struct cpm_str body);
};

/* A public message the room distributed (for the history). */
struct cpm_chat_room_msg {
	const char *sender;      /* the sender's AoR */
	const char *nick;        /* its nickname, "" if none */
	struct cpm_str message_id;
	struct cpm_str cpim;     /* the message/cpim body as distributed */
};

struct cpm_chat_room_ops {
	/* A public message went out (not isComposing, not private). */
	void (*message)(void *arg, struct cpm_chat_room *r, const struct cpm_chat_room_msg *m);
	/* A participant was dropped (queue full, send error): the owner ends
	 * its leg and calls cpm_chat_room_leave (from the callback too).
	 * Called after the fan-out in progress, never in the middle. */
	void (*dropped)(void *arg, struct cpm_chat_room *r, struct cpm_chat_member *m,
			const char *why);
};

struct cpm_chat_room_stats {
	uint64_t messages;     /* public messages distributed */
	uint64_t private_msgs; /* private ones */
	uint64_t delivered;    /* copies queued to legs */
	uint64_t dropped;      /* participants dropped */
};

/* uri: the room's SIP URI ("sip:room@example.test"), its CPIM To. */
int cpm_chat_room_new(const char *uri, const struct cpm_chat_room_ops *ops, void *arg,
		      struct cpm_chat_room **out);
/* Frees the members too (no callback). */
void cpm_chat_room_free(struct cpm_chat_room *r);
const char *cpm_chat_room_uri(const struct cpm_chat_room *r);
unsigned cpm_chat_room_count(const struct cpm_chat_room *r);
void cpm_chat_room_stats(const struct cpm_chat_room *r, struct cpm_chat_room_stats *out);
/* Tests: the clock of DateTime (wall seconds); NULL: the real one. */
void cpm_chat_room_set_clock(struct cpm_chat_room *r, int64_t (*clock)(void));
/* nick is aor's (a stored member's): nobody else may take it; aor gets
 * it when it joins.  CPM_EINVAL for a malformed nickname. */
int cpm_chat_room_reserve(struct cpm_chat_room *r, const char *aor, const char *nick);

/* A participant: aor "sip:alice@example.test", display "" or a name.  It
 * gets nothing until cpm_chat_room_ready (its leg is bound). */
int cpm_chat_room_join(struct cpm_chat_room *r, const char *aor, const char *display,
		       const struct cpm_chat_leg_ops *ops, void *leg, struct cpm_chat_member **out);
void cpm_chat_room_ready(struct cpm_chat_member *m);
/* m is freed. */
void cpm_chat_room_leave(struct cpm_chat_member *m);
const char *cpm_chat_member_aor(const struct cpm_chat_member *m);
const char *cpm_chat_member_nick(const struct cpm_chat_member *m);
void *cpm_chat_member_leg(const struct cpm_chat_member *m);
/* The participant a CPIM To / name-addr names: by URI (sip:, im:
 * schemes alike), else by nickname (the display name, or the bare text). */
struct cpm_chat_member *cpm_chat_room_find(struct cpm_chat_room *r, struct cpm_str who);

/* A message from participant from (RFC 7701 §6): returns the MSRP status
 * for its last chunk: 200 (distributed), 400 (bad CPIM), 403 (CPIM From
 * is someone else), 404 (private to nobody here).  Participants dropped
 * meanwhile are reported through ops->dropped before it returns. */
int cpm_chat_room_receive(struct cpm_chat_member *from, struct cpm_str ctype, struct cpm_str body,
			  struct cpm_str message_id);
/* NICKNAME (RFC 7701 §7): 200, 424 (malformed), 425 (in use or reserved). */
int cpm_chat_room_nickname(struct cpm_chat_member *m, struct cpm_str nick);
/* The CPIM wrapping the room gives a message of from (to: private, NULL:
 * the room): From, To, DateTime, an empty line, then mime (its MIME
 * headers and content). */
int cpm_chat_room_wrap(const struct cpm_chat_room *r, const struct cpm_chat_member *from,
		       const struct cpm_chat_member *to, struct cpm_str mime, struct cpm_buf *out);
/* One message to one participant (history on join): 0, or CPM_ELIMIT when
 * it overflowed (then it was dropped through ops->dropped). */
int cpm_chat_room_send_to(struct cpm_chat_room *r, struct cpm_chat_member *m, struct cpm_str cpim);


/* ------------------------------------------------------------------ focus
 *
 * Predefined rooms (the store's rooms, `cpmd room`): a core service takes
 * an INVITE whose Request-URI is a room (members-only rooms: 403 for
 * others; full: 486), answers 200 with SDP and Contact ...;isfocus (RFC
 * 4579) through core's dialogs, and joins the caller to the room over a
 * local MSRP session; the last N messages come first (chat.history, or
 * the room's own), every public message is stored in the room's history.
 * A BYE, a lost MSRP connection or a full queue (with a BYE) ends the
 * participation.  The room list is cached and refreshed within a second
 * of a change in the store. */
struct cpm_chat_focus;

struct cpm_chat_focus_stats {
	unsigned rooms;        /* live rooms (with participants) */
	unsigned participants; /* in all rooms */
	uint64_t joins;        /* INVITEs answered 200 */
	uint64_t refused;      /* 403: members only */
	uint64_t dropped;      /* slow participants dropped */
	uint64_t stored;       /* messages written to the history */
};

int cpm_chat_focus_new(struct cpm_core *core, struct cpm_chat_relay *relay,
		       struct cpm_chat_focus **out);
/* SIGTERM: no new participant. */
void cpm_chat_focus_stop(struct cpm_chat_focus *f);
/* Ends every participation (BYE); the memory goes when the store jobs in
 * flight have come back. */
void cpm_chat_focus_free(struct cpm_chat_focus *f);
/* f NULL: zeros. */
void cpm_chat_focus_stats(const struct cpm_chat_focus *f, struct cpm_chat_focus_stats *out);
/* The conference event package (RFC 4575) the focus tells who joins (once
 * the MSRP session is bound), changes nickname and leaves. */
struct cpm_pres;
void cpm_chat_focus_set_pres(struct cpm_chat_focus *f, struct cpm_pres *pres);
/* The message controller that takes a room's messages for members not in
 * session (rooms with CPM_STORE_ROOM_F_OFFLINE_SF). */
struct cpm_im_ctl;
void cpm_chat_focus_set_im(struct cpm_chat_focus *f, struct cpm_im_ctl *im);


/* ------------------------------------------- anchored sessions (B2BUA)
 *
 * Issue 4, seed 001 Figs. 4-6: when an INVITE for a local user asks for it
 * (the seed's "m=messaging <port> IMTP/<mode> MESSAGE/<mode> <fmt>" line,
 * or an MSRP offer carrying "a=cpm-anchor[:instant|S&F]") or when policy
 * says so (b2bua.anchor), the server is a B2BUA: it answers the caller
 * itself once the callee's leg answers, with descriptions rewritten so that
 * every leg's messages go through the server, and relays between the legs
 * (chat_b2b.c).  The transport is in-dialog SIP MESSAGE for MESSAGE/<mode>.
 * In S&F mode a message for a participant who is not in the session (left,
 * never answered) goes to the store-and-forward path; a callee who is
 * offline or busy (presence) gets a deferred chat: the server answers for
 * them and stores what the caller writes.  docs/ARCHITECTURE.md, "chat:
 * B2BUA", has the whole behaviour.
 *
 * The decision and the rewriting are pure (chat_b2b_sdp.c). */

enum cpm_chat_anchor {
	CPM_CHAT_ANCHOR_NEVER = 0,  /* no session is anchored */
	CPM_CHAT_ANCHOR_REQUESTED,  /* those whose offer asks for it */
	CPM_CHAT_ANCHOR_ALWAYS,     /* and every MSRP chat */
};
/* "never", "requested", "always": CPM_EINVAL for anything else. */
int cpm_chat_anchor_parse(const char *s, enum cpm_chat_anchor *out);

enum cpm_chat_b2b_transport {
	CPM_CHAT_B2B_NONE = 0,
	CPM_CHAT_B2B_MESSAGE, /* in-dialog SIP MESSAGE (seed: MESSAGE/<mode>) */
	CPM_CHAT_B2B_MSRP,    /* m=message TCP/MSRP, terminated on both legs */
};

/* The SDP attribute of the standard (MSRP) form that asks for anchoring:
 * "a=cpm-anchor", "a=cpm-anchor:instant" or "a=cpm-anchor:S&F". */
#define CPM_CHAT_ANCHOR_ATTR "cpm-anchor"

struct cpm_chat_b2b_plan {
	enum cpm_chat_b2b_transport transport;
	bool sf;         /* S&F mode: messages for absent participants are stored */
	bool requested;  /* the offer asked (else policy "always") */
	int media;       /* the m= section anchored */
};

/* Should an INVITE with this offer be anchored?  1 with *out filled, 0 no
 * (nothing asks for it, or policy never), CPM_EUNSUPP when the offer asks
 * for anchoring over a transport the server does not speak (only
 * IMTP/<mode>: answer 488), CPM_EPARSE for a malformed m=messaging line.
 * The first m=messaging section offering MESSAGE/<mode> wins; its mode is
 * S&F when either of its transports says S&F.  An MSRP section asks with
 * a=cpm-anchor (its value is the mode, instant when absent). */
int cpm_chat_b2b_decide(const struct cpm_sdp *offer, enum cpm_chat_anchor policy,
			struct cpm_chat_b2b_plan *out);

/* Where a leg's description points once rewritten: the server. */
struct cpm_chat_b2b_rw {
	const char *host;  /* o= and c= address (IP literal or name) */
	uint16_t port;     /* m= port of the anchored section */
	const char *path;  /* MSRP: our a=path for this leg; NULL otherwise */
	const char *setup; /* MSRP: our a=setup value ("passive"...); NULL: keep */
};

/* Rewrite the description sdp (an offer or an answer) for the other leg:
 * o= and every c= name host (IP4/IP6 from its form), the anchored section
 * (plan->media) gets port and, for MSRP, a=path and a=setup; its other
 * attributes (accept-types, max-size, direction...) and its formats stay.
 * For MESSAGE the transports become "MESSAGE/<mode>" alone (the server
 * speaks no IMTP).  Every other m= section is refused (port 0, RFC 3264
 * §6); a=cpm-anchor is dropped.  Returns 0, CPM_EPARSE, CPM_EINVAL (no
 * such section), CPM_ETOOBIG. */
int cpm_chat_b2b_rewrite(struct cpm_str sdp, const struct cpm_chat_b2b_plan *plan,
			 const struct cpm_chat_b2b_rw *rw, struct cpm_buf *out);

/* The service. */
struct cpm_chat_b2b;
struct cpm_im_ctl;
struct cpm_pres;

struct cpm_chat_b2b_stats {
	unsigned sessions;  /* live anchored sessions */
	uint64_t anchored;  /* sessions set up (both legs answered) */
	uint64_t deferred;  /* answered for an offline or busy callee */
	uint64_t relayed;   /* in-session messages relayed leg to leg */
	uint64_t stored;    /* in-session messages handed to store-and-forward */
	uint64_t failed;    /* sessions refused or failed before the answer */
};

/* Registers a core service; must come before presence's (cpm_pres_new),
 * which answers INVITEs for busy users.  relay may be NULL (no MSRP). */
int cpm_chat_b2b_new(struct cpm_core *core, struct cpm_im_ctl *im,
		     struct cpm_chat_relay *relay, struct cpm_chat_b2b **out);
/* Presence for the busy check (after cpm_pres_new). */
void cpm_chat_b2b_set_pres(struct cpm_chat_b2b *b, struct cpm_pres *pres);
/* SIGTERM: unanswered INVITEs get 503, live sessions end (BYE). */
void cpm_chat_b2b_stop(struct cpm_chat_b2b *b);
/* After core and im have stopped. */
void cpm_chat_b2b_free(struct cpm_chat_b2b *b);
/* b NULL: zeros. */
void cpm_chat_b2b_stats(const struct cpm_chat_b2b *b, struct cpm_chat_b2b_stats *out);

#endif
