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

/* A relay session: the Use-Path URI msrp://HOST:PORT/<id>;tcp given to one
 * authenticated client (RFC 4976 §5). */
struct cpm_chat_sess {
	char id[CPM_CHAT_SID_LEN + 1];
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
void cpm_chat_sess_del(struct cpm_chat_table *t, struct cpm_chat_sess *s);
/* Remove the sessions of a connection (it closed); returns how many. */
size_t cpm_chat_sess_drop_conn(struct cpm_chat_table *t, uint64_t conn_id);
/* Remove the sessions expired at now_ms; returns how many. */
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
};

struct cpm_chat_route {
	enum cpm_chat_hop hop;
	int status;              /* HOP_ERROR: 400, 403, 481 */
	const char *reason;      /* HOP_ERROR: why (static text, for the log) */
	uint64_t conn_id;        /* HOP_CLIENT */
	char key[CPM_CHAT_KEY_MAX]; /* HOP_URI */
	struct cpm_msrp_uri next;   /* HOP_CLIENT, HOP_URI: the next hop (slices of to) */
	unsigned steps;          /* our URIs removed (0: a generated message sent as is) */
	struct cpm_chat_sess *sess; /* the session of the last of them */
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
 * in a row are crossed in place (both clients on this relay).  Returns 0
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

#endif
