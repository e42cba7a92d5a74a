/* txn — RFC 3261 §17 transactions (with RFC 6026's Accepted state) on top of
 * net.  Installs itself as net's receive handler, parses every message,
 * matches it to a transaction (§17.1.3 / §17.2.3, RFC 2543 fallback), runs
 * the retransmission and timeout timers on unreliable transports, and hands
 * the rest to the transaction user (the server core) through the handler.
 * Single-threaded: every call on the loop's thread. */
#ifndef CPM_TXN_H
#define CPM_TXN_H

#include "net/net.h"

struct cpm_txn_conf {
	unsigned t1_ms;    /* 500 */
	unsigned t2_ms;    /* 4000 */
	unsigned t4_ms;    /* 5000 */
	unsigned max_txns; /* 200000; new requests past it get 503 statelessly */
	struct cpm_sip_limits lim;
};

void cpm_txn_conf_default(struct cpm_txn_conf *c);

struct cpm_txn_layer;
struct cpm_txn;

struct cpm_txn_handler {
	/* New request matching no server transaction.  A server txn st has
	 * been created (for ACK st is NULL: an ACK to a 2xx, or an ACK
	 * matching nothing).  For CANCEL, st is the CANCEL's own server txn
	 * and cpm_txn_cancel_target(st) gives the INVITE server txn it
	 * matches (RFC 3261 §9.2) or NULL; the layer does not answer the
	 * CANCEL itself.  For INVITE the layer has already sent 100 Trying
	 * (RFC 3261 §16.2 / §17.2.1).  src stays valid as long as st;
	 * req too, except after a final response to a non-INVITE (see
	 * cpm_txn_req); for ACK (st NULL) both only during the call. */
	void (*request)(void *arg, struct cpm_txn *st,
			const struct cpm_sip_msg *req,
			const struct cpm_net_dest *src);
	/* A response matching no client transaction (e.g. a retransmitted
	 * 2xx to INVITE): the proxy forwards it statelessly (RFC 3261 §16.7
	 * step 10 as updated by RFC 6026).  Valid during the call only. */
	void (*stray_response)(void *arg, const struct cpm_sip_msg *resp,
			       const struct cpm_net_dest *src);
	/* A message that failed to parse: m->err_status is the response code
	 * to send (0 = drop; always 0 for responses); m->buf/len is the
	 * received buffer, so the core can answer statelessly with what is
	 * parseable.  err is the parser's CPM_E*.  May be NULL. */
	void (*bad_message)(void *arg, const struct cpm_sip_msg *m, int err,
			    const struct cpm_net_dest *src);
};

/* Installs itself as the net's receive handler (and connection handler,
 * to fail client transactions whose connection drops). */
int cpm_txn_layer_new(uv_loop_t *loop, struct cpm_net *net,
		      const struct cpm_txn_conf *c,
		      const struct cpm_txn_handler *h, void *arg,
		      struct cpm_txn_layer **out);
/* Frees every transaction (owners' gone callbacks are called, client
 * callbacks are not) and closes the timers; the caller then runs the loop
 * until it is empty.  Free the layer before the net. */
void cpm_txn_layer_free(struct cpm_txn_layer *l);
/* Live transactions, for graceful shutdown. */
unsigned cpm_txn_layer_count(const struct cpm_txn_layer *l);
/* Transactions still waiting for their final response (server) or for
 * one (client); the others only absorb retransmissions.  O(n). */
unsigned cpm_txn_layer_unfinished(const struct cpm_txn_layer *l);
struct cpm_net *cpm_txn_layer_net(struct cpm_txn_layer *l);
/* Optional: forwarded to net's conn_cb after the layer has seen it. */
void cpm_txn_layer_set_conn_cb(struct cpm_txn_layer *l, cpm_net_conn_cb *ccb,
			       void *arg);

/* ------------------------------------------------------------- server side */

/* The request, owned by the txn (own copy of the bytes).  Also valid for
 * client transactions (the request that was sent).  To save memory the
 * parsed form of a non-INVITE transaction is dropped once the loop turns
 * after its final response and parsed again on demand: do not keep the
 * pointer across loop iterations after a final response, call this again.
 * NULL only on allocation failure. */
const struct cpm_sip_msg *cpm_txn_req(const struct cpm_txn *t);
const struct cpm_net_dest *cpm_txn_src(const struct cpm_txn *t);
/* The INVITE server txn a CANCEL server txn matches, or NULL (also NULL
 * once that INVITE txn is gone). */
struct cpm_txn *cpm_txn_cancel_target(const struct cpm_txn *cancel_st);
/* Build and send a response (cpm_sip_print_response_start + extra_hdrs +
 * body).  to_tag is added to To when the request has none and status >
 * 100.  After a final response the txn runs its timers and goes away by
 * itself.  CPM_ESTATE after a final response (or for a client txn). */
int cpm_txn_reply(struct cpm_txn *st, int status, const char *reason,
		  const char *to_tag, const char *extra_hdrs,
		  struct cpm_str ctype, struct cpm_str body);
/* A ready response (a proxy relaying a response it has rewritten).
 * status must be the buffer's status code. */
int cpm_txn_reply_buf(struct cpm_txn *st, int status, const char *buf,
		      size_t len);
bool cpm_txn_has_final(const struct cpm_txn *st);
/* The last status sent (server) or received (client), 0 if none. */
int cpm_txn_status(const struct cpm_txn *t);

/* Ownership: the layer frees transactions; an owner registers to hear
 * about it.  gone is called once, just before t is freed; never from
 * inside cpm_txn_reply/cpm_txn_request themselves. */
void cpm_txn_set_owner(struct cpm_txn *t, void *owner,
		       void (*gone)(void *owner, struct cpm_txn *t));
void *cpm_txn_owner(const struct cpm_txn *t);
/* Is t's owner the one registered with this gone callback?  (An owner's
 * type is known by its callback.) */
bool cpm_txn_owned_by(const struct cpm_txn *t, void (*gone)(void *owner, struct cpm_txn *t));

/* ------------------------------------------------------------- client side */

/* resp is NULL on timeout or transport error; status is resp->status, or
 * 408 on timeout, 503 on transport error.  resp is valid during the call. */
typedef void cpm_txn_resp_cb(void *arg, struct cpm_txn *ct,
			     const struct cpm_sip_msg *resp, int status);

#define CPM_TXN_BRANCH_MAX 48
/* "z9hG4bK" + 24 random hex chars, NUL-terminated. */
void cpm_txn_branch_new(char out[CPM_TXN_BRANCH_MAX]);

/* Send a request whose top Via (ours, with a fresh branch) the caller has
 * written.  Non-INVITE: timers E/F/K; INVITE: A/B/D, and the layer sends
 * the ACK for non-2xx finals itself (§17.1.1.3); 2xx responses end the
 * transaction (the ACK for a 2xx is the TU's, RFC 6026 §8.4: later 2xx
 * retransmissions reach stray_response).  cb is called for every
 * provisional and the final response; after the final one (or a timeout)
 * ct is gone once cb returns.  The buffer is copied and parsed: CPM_EPARSE
 * if it is not a request with a z9hG4bK branch, CPM_EEXIST if the branch is
 * in use.  A send failure is returned synchronously (no callback). */
int cpm_txn_request(struct cpm_txn_layer *l, const struct cpm_net_dest *dst,
		    const char *buf, size_t len, cpm_txn_resp_cb *cb,
		    void *arg, struct cpm_txn **out);
/* CANCEL an INVITE client txn (§9.1): built from the original request;
 * sent once a provisional response has arrived (deferred until then); its
 * response is absorbed.  No-op after a final response.  reason_hdr is a
 * whole header line without CRLF, e.g.
 * "Reason: SIP;cause=200;text=\"Call completed elsewhere\"", or NULL. */
int cpm_txn_cancel(struct cpm_txn *ct, const char *reason_hdr);
/* No more callbacks for ct (the txn still finishes its state machine). */
void cpm_txn_detach(struct cpm_txn *ct);
/* Send outside any transaction (ACK for a 2xx, stateless forwarding). */
int cpm_txn_send_stateless(struct cpm_txn_layer *l,
			   const struct cpm_net_dest *dst, const char *buf,
			   size_t len);
/* Where to send a response to req received from src (§18.2.2, RFC 3581):
 * reliable → the same connection (conn_id), else the source address;
 * UDP → received/source IP and rport if present, else Via sent-by port. */
void cpm_txn_response_dest(const struct cpm_sip_msg *req,
			   const struct cpm_net_dest *src,
			   struct cpm_net_dest *out);

#endif
