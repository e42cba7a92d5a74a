/* core — the signalling manager: registrar, location service, digest
 * authentication and the stateful proxy (RFC 3261 §10, §16, §22).  It is the
 * transaction user of txn, the only place where CPM_E* errors become SIP
 * responses, and the entry point the services (im, chat, pres) hook into.
 * Single-threaded: everything runs on the libuv loop; storage work goes to
 * a store worker thread and comes back as a callback. */
#ifndef CPM_CORE_H
#define CPM_CORE_H

#include <uv.h>

#include "conf/conf.h"

struct cpm_core;

/* Opens the store, loads the saved bindings, binds every sip.listen
 * address.  conf must outlive the core.  On failure err says why. */
int cpm_core_new(uv_loop_t *loop, const struct cpm_conf *conf,
		 struct cpm_core **out, char *err, size_t errsz);

/* Graceful stop (SIGTERM): stop accepting, answer new requests 503, wait
 * for live transactions up to server.shutdown_grace, flush the store, then
 * call done(arg) with every handle closed or closing. */
void cpm_core_shutdown(struct cpm_core *c, void (*done)(void *arg), void *arg);
void cpm_core_free(struct cpm_core *c);

/* Counters and gauges for monitoring (the HTTP status API). */
struct cpm_core_stats {
	uint64_t requests;      /* requests received (retransmissions absorbed) */
	uint64_t relayed;       /* requests answered 2xx by a downstream device */
	uint64_t registrations; /* REGISTER requests handled */
	size_t aors;            /* AoRs with at least one binding */
	size_t bindings;        /* live bindings */
	unsigned transactions;  /* live SIP transactions */
	unsigned tcp_connections;
	bool stopping;
};

void cpm_core_stats(const struct cpm_core *c, struct cpm_core_stats *out);

/* ---------------------------------------------------------------- services
 *
 * The message controller (src/im) sits above core: core tells it, through
 * these hooks, what it cannot do itself, and it uses core to send. */
struct cpm_txn;
struct cpm_sip_msg;
struct cpm_store_worker;
struct cpm_net_dest;

struct cpm_core_hooks {
	/* A MESSAGE (or an INFO or INVITE, which may carry a message) for a
	 * local AoR could not be delivered live: no binding (status 480), or
	 * every device failed (the best of 408/480/503).
	 * Return true to take st over (the hook answers it); false lets core
	 * answer status. */
	bool (*undelivered)(void *arg, struct cpm_txn *st, const struct cpm_sip_msg *req,
			    const char *aor, int status);
	/* A binding of aor was created or refreshed (after it was saved);
	 * device is its +sip.instance, "" when it has none. */
	void (*registered)(void *arg, const char *aor, const char *contact,
			   const char *device);
	/* An ACK for a 2xx the server sent itself (Request-URI: us), e.g. to
	 * an INVITE a service answered: the UAS core stops retransmitting
	 * that 2xx (RFC 3261 §13.3.1.4).  May be NULL. */
	void (*ack)(void *arg, const struct cpm_sip_msg *ack);
};

void cpm_core_set_hooks(struct cpm_core *c, const struct cpm_core_hooks *h, void *arg);

/* A service that serves requests itself (event packages: message-summary,
 * presence, conference).  Core offers it, in order of registration:
 *  - requests addressed to the server itself (aor NULL), e.g. in-dialog
 *    SUBSCRIBE refreshes sent to the Contact a service gave out;
 *  - out-of-dialog requests for a local AoR, after authentication (aor
 *    set; from_aor the verified identity, "" when the source is trusted
 *    and asserted none).
 * It returns true when it took st over (it answers it). */
typedef bool cpm_core_service_cb(void *arg, struct cpm_txn *st,
				 const struct cpm_sip_msg *req,
				 const struct cpm_net_dest *src, const char *aor,
				 const char *from_aor);
#define CPM_CORE_MAX_SERVICES 8
int cpm_core_add_service(struct cpm_core *c, cpm_core_service_cb *cb, void *arg);

/* Binding observers: every service that follows registrations (presence
 * derives "open" from them).  cb runs on the loop after the change is
 * committed: a binding saved (new or refreshed), removed (Expires: 0, "*")
 * or expired; live_left is how many live bindings aor has after it. */
enum cpm_core_binding_event {
	CPM_CORE_BINDING_SAVED = 1,
	CPM_CORE_BINDING_REMOVED,
	CPM_CORE_BINDING_EXPIRED,
};
typedef void cpm_core_binding_cb(void *arg, const char *aor, const char *contact,
				 const char *device, enum cpm_core_binding_event ev,
				 unsigned live_left);
#define CPM_CORE_MAX_OBSERVERS 8
/* CPM_ELIMIT beyond CPM_CORE_MAX_OBSERVERS. */
int cpm_core_on_binding(struct cpm_core *c, cpm_core_binding_cb *cb, void *arg);

/* Final answer to cpm_core_send_to_contact: status (408 on timeout, 503 on
 * a transport failure, 480 when the binding is gone), resp NULL when the
 * status was not received. */
typedef void cpm_core_sent_cb(void *arg, int status, const struct cpm_sip_msg *resp);

/* Send a request from the server to one registered contact of aor.  Core
 * writes the request line (the Contact as Request-URI), Via, Max-Forwards,
 * Route (from the binding's Path), Content-Type and Content-Length; hdrs
 * holds the rest, each line ending in CRLF (From, To, Call-ID, CSeq, Date,
 * ...).  cb runs once, with the final status; never from inside this call. */
int cpm_core_send_to_contact(struct cpm_core *c, const char *aor, const char *contact,
			     const char *method, const char *hdrs, struct cpm_str ctype,
			     struct cpm_str body, cpm_core_sent_cb *cb, void *arg);
/* Call cb for every live binding (device as in the registered hook). */
void cpm_core_foreach_binding(struct cpm_core *c,
			      void (*cb)(void *arg, const char *aor, const char *contact,
					 const char *device),
			      void *arg);
/* The same for the bindings of one AoR. */
void cpm_core_foreach_binding_of(struct cpm_core *c, const char *aor,
				 void (*cb)(void *arg, const char *aor, const char *contact,
					    const char *device),
				 void *arg);
/* Send a request from the server to a URI (a dialog's remote target):
 * to flow when it is given and still usable (the connection or address
 * the dialog came from, RFC 5626 style), else to the URI's address.
 * Core writes the request line, Via, Max-Forwards, Content-Type and
 * Content-Length; hdrs holds the rest.  cb as for send_to_contact. */
int cpm_core_send_to_uri(struct cpm_core *c, const char *ruri, const struct cpm_net_dest *flow,
			 const char *method, const char *hdrs, struct cpm_str ctype,
			 struct cpm_str body, cpm_core_sent_cb *cb, void *arg);
/* The same inside a dialog whose route set is route (a Route header value,
 * "" or NULL for none; RFC 3261 §12.2.1.1): the request goes to the first
 * Route entry and carries the Route header; without a route set as
 * cpm_core_send_to_uri. */
int cpm_core_send_in_dialog(struct cpm_core *c, const char *ruri, const char *route,
			    const struct cpm_net_dest *flow, const char *method, const char *hdrs,
			    struct cpm_str ctype, struct cpm_str body, cpm_core_sent_cb *cb,
			    void *arg);
/* Is u a user of a served domain, reached through this server (no port,
 * or one of our ports)?  Else it is somewhere else. */
struct cpm_sip_uri;
bool cpm_core_uri_is_local_user(struct cpm_core *c, const struct cpm_sip_uri *u);
/* Is contact still a live binding of aor? */
bool cpm_core_binding_alive(struct cpm_core *c, const char *aor, const char *contact);
struct cpm_store_worker *cpm_core_store(struct cpm_core *c);
uv_loop_t *cpm_core_loop(struct cpm_core *c);
const struct cpm_conf *cpm_core_conf(const struct cpm_core *c);

/* HTTP Digest (RFC 7616) with the users' SIP credentials, for the HTTP
 * API; the nonces are core's (same lifetime and nc replay rules as SIP).
 * cpm_core_http_challenge fills vals with WWW-Authenticate values, one per
 * auth.algorithms entry (at most max); returns their count or CPM_E*.
 * cpm_core_http_verify checks an Authorization value for user u of realm,
 * for a request with this method and request-target: 0, CPM_EAGAIN (stale
 * nonce: challenge again with stale=true), CPM_EAUTH (wrong user or
 * response), CPM_EPARSE (malformed, or uri is not the target). */
#define CPM_CORE_CHALLENGE_MAX 256
struct cpm_store_user;
int cpm_core_http_challenge(struct cpm_core *c, const char *realm, bool stale,
			    char vals[][CPM_CORE_CHALLENGE_MAX], int max);
int cpm_core_http_verify(struct cpm_core *c, const char *method, const char *target,
			 struct cpm_str authorization, const char *realm,
			 const struct cpm_store_user *u);

/* ----------------------------------------------------------------- dialogs
 *
 * INVITE dialogs the server itself takes part in as a user agent (RFC 3261
 * §12-§14): the chat focus and the B2BUA.  Core keeps the dialog state
 * (Call-ID, tags, CSeqs, route set, remote target, the flow it came on),
 * retransmits our 2xx until the ACK (§13.3.1.4; none within 64*T1: BYE and
 * ended NO_ACK), ACKs the 2xx of our INVITEs (§13.2.2.4) and their
 * retransmissions, answers BYE 200 itself (then ended BYE) and hands every
 * other request of the dialog (MESSAGE, INFO, REFER, re-INVITE, UPDATE,
 * NOTIFY, SUBSCRIBE) to the owner.  In-dialog requests are matched by
 * Call-ID and our tag before the proxy and the services see them, whatever
 * their Request-URI. */
struct cpm_core_dlg;

enum cpm_core_dlg_end {
	CPM_CORE_DLG_END_BYE = 1,  /* the peer sent BYE (core answered 200) */
	CPM_CORE_DLG_END_NO_ACK,   /* our 2xx was never ACKed (core sent BYE) */
	CPM_CORE_DLG_END_GONE,     /* a request of ours got 408 or 481 (§12.2.1.2) */
	CPM_CORE_DLG_END_SHUTDOWN, /* the server stops (core sent BYE) */
};

struct cpm_core_dlg_ops {
	/* An in-dialog request other than ACK, BYE and CANCEL: the owner
	 * answers st (cpm_txn_reply).  NULL: 405. */
	void (*request)(void *arg, struct cpm_core_dlg *d, struct cpm_txn *st,
			const struct cpm_sip_msg *req);
	/* UAC: the final answer to our INVITE.  2xx: the dialog is confirmed
	 * and ACKed, resp holds the answer.  Otherwise (resp NULL when the
	 * status was not received: 408 timeout, 503 transport) d is freed
	 * once the call returns. */
	void (*answered)(void *arg, struct cpm_core_dlg *d, int status,
			 const struct cpm_sip_msg *resp);
	/* The dialog ended without the owner asking; d is freed once the call
	 * returns. */
	void (*ended)(void *arg, struct cpm_core_dlg *d, enum cpm_core_dlg_end why);
};

struct cpm_core_dlg_params {
	const char *contact_user;   /* user part of our Contact; NULL/"": none */
	const char *contact_params; /* after the Contact's <...>, e.g. ";isfocus" */
	const char *extra_hdrs;     /* CRLF-terminated lines, or NULL */
	struct cpm_str ctype, body; /* the SDP, or nothing */
};

/* UAS: answer the INVITE st with 200 (To gets our tag, Record-Route is
 * copied), our Contact, p->extra_hdrs and the body, and keep the dialog.
 * CPM_EPARSE when the INVITE has no usable Contact (answer it 400), other
 * errors leave st unanswered. */
int cpm_core_dlg_accept(struct cpm_core *c, struct cpm_txn *st,
			const struct cpm_core_dlg_params *p,
			const struct cpm_core_dlg_ops *ops, void *arg,
			struct cpm_core_dlg **out);

/* UAC: an INVITE from from_uri (a name-addr or a URI; core adds the tag)
 * to to_uri.  A local user with live bindings gets it on every binding
 * (the first 2xx wins, the other branches are cancelled, a late 2xx gets
 * ACK and BYE); any other URI gets it at its address.  No final answer
 * within timeout_s (0: 60): CANCEL, answered 408.  ops->answered is never
 * called from inside this call. */
int cpm_core_dlg_invite(struct cpm_core *c, const char *from_uri, const char *to_uri,
			const struct cpm_core_dlg_params *p, unsigned timeout_s,
			const struct cpm_core_dlg_ops *ops, void *arg,
			struct cpm_core_dlg **out);

/* A request of ours in the dialog (MESSAGE, INFO, NOTIFY, REFER, re-INVITE
 * without offer ...).  Core writes the request line (the remote target),
 * Via, Max-Forwards, Route (the route set), From and To with their tags,
 * Call-ID, CSeq, Contact (target-refresh methods), Content-Type and
 * Content-Length; extra_hdrs the rest.  cb (may be NULL) gets the final
 * status once, unless the dialog is gone by then. */
int cpm_core_dlg_request(struct cpm_core_dlg *d, const char *method, const char *extra_hdrs,
			 struct cpm_str ctype, struct cpm_str body, cpm_core_sent_cb *cb,
			 void *arg);

/* Hang up: BYE when the dialog is established, CANCEL while our INVITE is
 * unanswered.  d is freed now; no callback of its follows. */
void cpm_core_dlg_bye(struct cpm_core_dlg *d);
/* Give the dialog another owner (B2BUA legs). */
void cpm_core_dlg_set_owner(struct cpm_core_dlg *d, const struct cpm_core_dlg_ops *ops,
			    void *arg);

/* Valid while d lives. */
const char *cpm_core_dlg_call_id(const struct cpm_core_dlg *d);
const char *cpm_core_dlg_local_uri(const struct cpm_core_dlg *d);  /* ours, no tag */
const char *cpm_core_dlg_remote_uri(const struct cpm_core_dlg *d); /* the peer's */
const char *cpm_core_dlg_remote_display(const struct cpm_core_dlg *d); /* "" if none */
const char *cpm_core_dlg_remote_target(const struct cpm_core_dlg *d); /* its Contact */
/* Live dialogs, for the status API and the tests. */
size_t cpm_core_dlg_count(const struct cpm_core *c);

/* The SIP status code that answers an internal error. */
int cpm_core_err_status(int err);

#endif
