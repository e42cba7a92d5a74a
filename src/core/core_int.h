/* core internals: shared between core_*.c only. */
#ifndef CPM_CORE_INT_H
#define CPM_CORE_INT_H

#include "core/core.h"
#include "net/net.h"
#include "sip/sip.h"
#include "store/store.h"
#include "txn/txn.h"

/* ---------------------------------------------------------------- location */

struct cpm_core_aor;

struct cpm_core_binding {
	struct cpm_core_binding *next;   /* in the AoR's list */
	struct cpm_core_binding *cnext;  /* in the contact index chain */
	struct cpm_core_aor *aor;
	char contact[512];   /* Contact URI, as registered */
	char instance[256];  /* +sip.instance, "" if none */
	int reg_id;
	char path[1024];     /* Path values, comma-joined */
	char call_id[256];
	uint32_t cseq;
	char user_agent[256];
	int q1000;
	int64_t expires;     /* wall-clock seconds */
	struct cpm_net_dest flow; /* where the REGISTER came from */
	bool has_flow;
	/* the Contact resolved once, on first use (core_proxy.c) */
	bool cdest_ready;
	int cdest_rc;
	struct cpm_net_dest cdest;
};

struct cpm_core_aor {
	struct cpm_core_aor *hnext;
	struct cpm_core_binding *bindings;
	unsigned nbindings;
	char aor[256];
};

struct cpm_core_loc {
	struct cpm_core_aor **aors;
	size_t naor_buckets, naors;
	struct cpm_core_binding **contacts;
	size_t ncontact_buckets, nbindings;
};

/* FNV-1a of n bytes (the location tables, the dialog table). */
uint64_t cpm_core__hash(const char *s, size_t n);
int cpm_core__loc_init(struct cpm_core_loc *l);
void cpm_core__loc_cleanup(struct cpm_core_loc *l);
struct cpm_core_aor *cpm_core__loc_aor(struct cpm_core_loc *l, const char *aor,
				       bool create);
/* Add a binding (copied) to an AoR; returns it. */
struct cpm_core_binding *cpm_core__loc_add(struct cpm_core_loc *l,
					   struct cpm_core_aor *a,
					   const struct cpm_core_binding *b);
void cpm_core__loc_remove(struct cpm_core_loc *l, struct cpm_core_binding *b);
/* Re-index after the contact of b changed. */
void cpm_core__loc_reindex(struct cpm_core_loc *l, struct cpm_core_binding *b,
			   const char *old_contact);
struct cpm_core_binding *cpm_core__loc_by_contact(struct cpm_core_loc *l,
						  struct cpm_str contact);
/* Drop expired bindings; calls gone(arg, b) for each before freeing. */
void cpm_core__loc_expire(struct cpm_core_loc *l, int64_t now,
			  void (*gone)(void *arg, const struct cpm_core_binding *b),
			  void *arg);

/* -------------------------------------------------------------------- auth */

struct cpm_core_nonce;

struct cpm_core_auth {
	uint8_t secret[32];
	struct cpm_core_nonce **buckets;
	size_t nbuckets, count, max;
	struct cpm_core_nonce *oldest, *newest; /* FIFO for eviction */
	unsigned ttl_s;
};

enum cpm_core_auth_result {
	CPM_CORE_AUTH_OK = 0,
	CPM_CORE_AUTH_NONE,     /* no credentials for our realm: challenge */
	CPM_CORE_AUTH_STALE,    /* nonce expired/unknown: challenge stale=true */
	CPM_CORE_AUTH_BAD,      /* malformed credentials: 400 */
	CPM_CORE_AUTH_FAILED,   /* wrong response or user: 403 */
};

int cpm_core__auth_init(struct cpm_core_auth *a, unsigned ttl_s, size_t max);
void cpm_core__auth_cleanup(struct cpm_core_auth *a);
/* Append the challenge header lines (one per configured algorithm). */
int cpm_core__auth_challenge(struct cpm_core_auth *a, struct cpm_buf *b,
			     bool proxy, const char *realm,
			     const enum cpm_hash_alg *algs, int nalgs,
			     bool stale);
/* Find the credentials of realm in the request (Authorization for
 * REGISTER-style, Proxy-Authorization otherwise).  Fills cred; returns
 * NONE, BAD or OK (= present and well-formed). */
enum cpm_core_auth_result cpm_core__auth_find(const struct cpm_sip_msg *req,
					      bool proxy, const char *realm,
					      struct cpm_sip_auth *cred);
/* Check the nonce (freshness, nc replay) and the response against the
 * user's HA1s. */
enum cpm_core_auth_result cpm_core__auth_verify(struct cpm_core_auth *a,
					       struct cpm_str method,
					       const struct cpm_sip_auth *cred,
					       const struct cpm_store_user *u);

/* -------------------------------------------------------------------- core */

struct cpm_core {
	uv_loop_t *loop;
	const struct cpm_conf *conf;
	struct cpm_net *net;
	struct cpm_txn_layer *txn;
	struct cpm_store_worker *store;
	struct cpm_core_loc loc;
	struct cpm_core_auth auth;
	struct cpm_sip_limits lim;
	uv_timer_t sweep;
	uv_timer_t stop_timer;
	uv_signal_t dummy;
	void *proxies; /* live proxy contexts (core_proxy.c), a list */
	void *sends;   /* live cpm_core_send_to_contact requests, a list */
	struct cpm_core_hooks hooks;
	void *hooks_arg;
	struct {
		cpm_core_service_cb *cb;
		void *arg;
	} services[CPM_CORE_MAX_SERVICES];
	int nservices;
	struct {
		cpm_core_binding_cb *cb;
		void *arg;
	} observers[CPM_CORE_MAX_OBSERVERS];
	int nobservers;
	/* dialogs of the server's own (core_dlg.c) */
	struct cpm_core_dlg **dlg_tab;
	size_t dlg_nbuckets, ndlgs;
	struct cpm_core_dlg *dlgs;
	bool stopping;
	uint64_t stop_deadline;
	void (*stop_done)(void *arg);
	void *stop_arg;
	/* statistics */
	uint64_t n_requests, n_relayed, n_registers;
};

/* Store job helpers */
int cpm_core__store_submit(struct cpm_core *c,
			   void (*work)(struct cpm_store *s, void *arg),
			   void (*done)(void *arg), void *arg);
/* The same for a job that only reads. */
int cpm_core__store_read(struct cpm_core *c, void (*work)(struct cpm_store *s, void *arg),
			 void (*done)(void *arg), void *arg);

/* A request waiting for an asynchronous step (store lookup).  The server
 * transaction may vanish meanwhile (layer shutdown): st becomes NULL. */
enum cpm_core_pending_kind { CPM_CORE_PENDING_JOB = 0, CPM_CORE_PENDING_PROXY };
struct cpm_core_pending {
	int kind; /* enum cpm_core_pending_kind: what the txn owner is */
	struct cpm_core *core;
	struct cpm_txn *st;
};
void cpm_core__pending_attach(struct cpm_core_pending *p, struct cpm_core *c,
			      struct cpm_txn *st);
void cpm_core__pending_detach(struct cpm_core_pending *p);

/* Answer a request; extra may be NULL. */
void cpm_core__reply(struct cpm_core *c, struct cpm_txn *st, int status,
		     const char *reason, const char *extra);
/* Answer 401 (proxy false) or 407 with a fresh challenge per algorithm. */
void cpm_core__challenge(struct cpm_core *c, struct cpm_txn *st, const char *realm,
			 bool proxy, bool stale);
/* A to-tag for responses generated here. */
const char *cpm_core__to_tag(void);

/* Is the URI one of ours (a listener address, or a served domain without
 * user part)? */
bool cpm_core__uri_is_me(struct cpm_core *c, const struct cpm_sip_uri *u);
/* Offer req to the services (see cpm_core_add_service); true if taken. */
/* Tell the binding observers. */
void cpm_core__binding_event(struct cpm_core *c, const char *aor, const char *contact,
			     const char *device, enum cpm_core_binding_event ev);
bool cpm_core__offer(struct cpm_core *c, struct cpm_txn *st, const struct cpm_sip_msg *req,
		     const struct cpm_net_dest *src, const char *aor, const char *from_aor);
/* Every Route entry of req (if any) is one of ours. */
bool cpm_core__routes_all_mine(struct cpm_core *c, const struct cpm_sip_msg *req);
/* Resolve a sip/sips URI to a destination (IP literals only, no DNS). */
int cpm_core__uri_dest(struct cpm_core *c, const struct cpm_sip_uri *u,
		       struct cpm_net_dest *out);
/* The canonical AoR of a URI when its host is a served domain, else
 * CPM_ENOTFOUND. */
int cpm_core__aor_local(struct cpm_core *c, struct cpm_str uri_text,
			char *out, size_t outsz);
/* The same for an already parsed URI. */
int cpm_core__aor_of(struct cpm_core *c, const struct cpm_sip_uri *u, char *out,
		     size_t outsz);
/* realm for a domain */
const char *cpm_core__realm(struct cpm_core *c, const char *aor);

/* registrar (core_reg.c) */
void cpm_core__reg_request(struct cpm_core *c, struct cpm_txn *st,
			   const struct cpm_sip_msg *req,
			   const struct cpm_net_dest *src);
int cpm_core__reg_load(struct cpm_core *c, const char *url);
void cpm_core__reg_sweep(struct cpm_core *c);
int cpm_core__source_print(const struct cpm_net_dest *d, char *out, size_t n);

/* proxy (core_proxy.c) */
void cpm_core__proxy_request(struct cpm_core *c, struct cpm_txn *st,
			     const struct cpm_sip_msg *req,
			     const struct cpm_sip_uri *ruri,
			     const struct cpm_net_dest *src);
void cpm_core__proxy_ack(struct cpm_core *c, const struct cpm_sip_msg *req,
			 const struct cpm_net_dest *src);
void cpm_core__proxy_cancel(struct cpm_core *c, struct cpm_txn *st);
/* Free the contexts left when the transaction layer is gone. */
void cpm_core__proxy_free_all(struct cpm_core *c);
/* Release the pooled route jobs (at exit; ASan counts them otherwise). */
void cpm_core__proxy_pool_drain(void);
/* The same for cpm_core_send_to_contact requests (core_send.c). */
void cpm_core__send_free_all(struct cpm_core *c);
/* Resolve where a binding is reached (flow, Contact or Path). */
int cpm_core__binding_dest(struct cpm_core *c, struct cpm_core_binding *b,
			   struct cpm_net_dest *d);
/* The start of a request of the server's own to d: request line, our Via
 * (branch NULL: a fresh one), Max-Forwards, Route (route: a header value,
 * may be NULL). */
int cpm_core__request_start(struct cpm_core *c, const struct cpm_net_dest *d, const char *ruri,
			    const char *route, const char *method, const char *branch,
			    struct cpm_buf *b);
/* Choose the listener to send to d from. */
const struct cpm_net_listener *cpm_core__listener_for(struct cpm_core *c,
						      const struct cpm_net_dest *d);
void cpm_core__proxy_stray(struct cpm_core *c, const struct cpm_sip_msg *resp,
			   const struct cpm_net_dest *src);
/* Where a request in a dialog goes (RFC 3261 §12.2.1.1): the first entry
 * of the route set when there is one, else the flow the peer used while it
 * is usable, else the remote target's address. */
int cpm_core__dialog_dest(struct cpm_core *c, const char *target, const char *route,
			  const struct cpm_net_dest *flow, struct cpm_net_dest *out);
/* Send a ready request (our Via on top) in a client transaction; cb (may be
 * NULL) gets the final status once, as cpm_core_send_to_contact's. */
int cpm_core__send_buf(struct cpm_core *c, const struct cpm_net_dest *d, const char *buf,
		       size_t len, cpm_core_sent_cb *cb, void *arg);

/* dialogs (core_dlg.c) */
/* A request (st NULL: an ACK) in one of our dialogs: handled, true. */
bool cpm_core__dlg_request(struct cpm_core *c, struct cpm_txn *st, const struct cpm_sip_msg *req);
/* A 2xx retransmission for one of our INVITEs: ACKed again, true. */
bool cpm_core__dlg_stray(struct cpm_core *c, const struct cpm_sip_msg *resp);
/* Shutdown: BYE to every dialog, owners told (ended SHUTDOWN). */
void cpm_core__dlg_shutdown(struct cpm_core *c);
/* Drop what is left, without callbacks (before the transaction layer goes). */
void cpm_core__dlg_free_all(struct cpm_core *c);

#endif
