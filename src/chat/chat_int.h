/* chat — what the files of the relay share (chat_conn.c: TCP, buffers and
 * backpressure; chat_relay.c: forwarding, transactions, REPORTs;
 * chat_auth.c: AUTH). */
#ifndef CPM_CHAT_INT_H
#define CPM_CHAT_INT_H

#include "chat/chat.h"
#include "conf/conf.h"
#include "net/net.h"

#include <uv.h>

#define CPM_CHAT__RDSZ (64 * 1024)      /* one read */
#define CPM_CHAT__TXN_MAX 4096          /* awaited responses per connection */
#define CPM_CHAT__BUF_MAX ((size_t)1 << 30) /* sanity bound of output buffers */
#define CPM_CHAT__OUT_HINT_MAX ((size_t)256 << 10) /* an output buffer starts at most this big */

struct cpm_chat__txn;
struct cpm_chat__epx;
struct cpm_chat__out;

/* What the connection is receiving now: the message whose headers were
 * parsed and whose END has not come yet. */
enum cpm_chat__xfer_kind {
	CPM_CHAT__X_NONE = 0,
	CPM_CHAT__X_FORWARD, /* streamed to dst, as it arrives */
	CPM_CHAT__X_DISCARD, /* dropped; status answered at END (0: none) */
	CPM_CHAT__X_LOCAL,   /* for a local session (chat_ep.c: epx) */
};

struct cpm_chat__xfer {
	enum cpm_chat__xfer_kind kind;
	enum cpm_msrp_method method;
	bool is_request;
	bool has_body;
	enum cpm_msrp_rep fr;     /* Failure-Report */
	char tid[CPM_MSRP_IDENT_MAX + 1];
	/* our answer: To-Path = resp_to (the previous hop; for methods other
	 * than SEND the whole From-Path), From-Path = resp_from (us, as the
	 * request named us) */
	char *resp_to, *resp_from;
	int status; /* DISCARD */
	/* FORWARD */
	uint64_t dst;
	struct cpm_buf head;      /* the rewritten header section, until sent */
	bool started;             /* head sent: dst's stream is ours until END */
	bool answer_ok;           /* END: answer 200 (a SEND with Failure-Report yes) */
	char out_tid[CPM_MSRP_TID_LEN + 1];
	struct cpm_chat__txn *txn;
	uint64_t body;            /* body bytes forwarded */
	/* LOCAL */
	struct cpm_chat__epx *epx;
};

enum cpm_chat__conn_st { CPM_CHAT__CONNECTING, CPM_CHAT__UP, CPM_CHAT__CLOSING };

struct cpm_chat__conn {
	uv_tcp_t tcp;
	uv_timer_t timer; /* connect, then idle timeout */
	struct cpm_chat_relay *r;
	uint64_t id;
	enum cpm_chat__conn_st st;
	bool outgoing;
	bool reading;
	int handles;
	char name[CPM_NET_ADDR_STRLEN];
	char key[CPM_CHAT_KEY_MAX]; /* authority it is known by, "" none */
	struct cpm_chat__conn *hnext; /* by id */
	struct cpm_chat__conn *prev, *next; /* every connection */

	/* input */
	struct cpm_buf in;
	size_t acct_in;                 /* in.len as counted in buffered */
	struct cpm_msrp_parser ps;
	struct cpm_chat__xfer cur;

	/* output: out is written at the next flush; deferred holds whole
	 * messages queued while another connection's message streams here
	 * (owner), appended to out when it ends */
	struct cpm_buf out, deferred;
	size_t inflight;   /* bytes in uv_write requests */
	size_t out_last;   /* bytes of the last flush: the next out starts that big */
	uint64_t owner;    /* conn id streaming a message here, 0: none */
	unsigned ntxn;     /* transactions awaiting a response from here */
	struct cpm_chat__txn *txns; /* those transactions */

	/* waiting: this connection is not read until `waits` drains or
	 * frees its stream; waiters of this connection in the list */
	struct cpm_chat__conn *waits;
	struct cpm_chat__conn *w_prev, *w_next, *waiters;
	bool ready;                       /* in r->ready */
	struct cpm_chat__conn *ready_next;
	bool dirty;                       /* in r->dirty */
	struct cpm_chat__conn *dirty_next;
	/* local sessions bound to this connection (no idle timeout then) */
	struct cpm_chat_ep *eps;
	bool relayed; /* it carried relay traffic (AUTH, forwarding) */
};

/* A request we forwarded and whose response we wait for. */
enum cpm_chat__txn_kind {
	CPM_CHAT__T_SEND, /* a SEND: errors become REPORTs (RFC 4975 §7.1.2) */
	CPM_CHAT__T_BACK, /* AUTH and other methods: the response goes back */
	CPM_CHAT__T_EP,   /* a SEND of a local session (out) */
};

struct cpm_chat__txn {
	enum cpm_chat__txn_kind kind;
	char tid[CPM_MSRP_TID_LEN + 1];  /* ours, on dst */
	uint64_t dst, src;
	bool streaming;       /* src is still receiving the chunk */
	bool armed;           /* in the timeout FIFO */
	uint64_t deadline_ms;
	char up_tid[CPM_MSRP_IDENT_MAX + 1]; /* T_BACK: the request's own */
	enum cpm_msrp_rep fr;
	/* REPORT: To-Path = rep_to (the From-Path the request had at our
	 * last hop), From-Path = self (our URI there) */
	char *rep_to, *self, *msgid;
	uint64_t start, len, total;
	bool total_star;
	struct cpm_chat__out *out;           /* T_EP */
	struct cpm_chat__txn *hnext;         /* by tid */
	struct cpm_chat__txn *d_prev, *d_next; /* of dst */
	struct cpm_chat__txn *f_prev, *f_next; /* timeout FIFO */
};

struct cpm_chat_relay {
	uv_loop_t *loop;
	struct cpm_core *core;
	const struct cpm_conf *conf;
	struct cpm_chat_table *table;
	uv_tcp_t lsn;
	bool lsn_open;
	uint16_t port;
	uv_timer_t sweep;      /* transaction timeouts, session expiry */
	uv_idle_t idle;        /* ready connections, then flushes */
	bool idle_on;
	bool freeing;
	unsigned handles;      /* open uv handles */
	unsigned jobs;         /* store jobs in flight */
	uint64_t next_id;
	struct cpm_chat__conn *conns;
	unsigned nconns;
	struct cpm_chat__conn **cb; /* by id */
	size_t ncb;
	struct cpm_chat__conn *ready, *ready_tail, *dirty;
	struct cpm_chat__txn **tb;  /* by tid */
	size_t ntb, ntxns;
	struct cpm_chat__txn *fifo, *fifo_tail;
	size_t max_out;        /* msrp.max_out_buffer */
	unsigned char rnd[4096]; /* getrandom bytes for our tids, used in order */
	size_t rnd_used;
	size_t buffered;
	struct cpm_chat_relay_stats st;
	/* local sessions (chat_ep.c) */
	struct cpm_chat_ep *eps;
	struct cpm_chat_ep_stats ep_st;
};

/* chat_conn.c */
struct cpm_chat__conn *cpm_chat__conn_find(struct cpm_chat_relay *r, uint64_t id);
/* The same, a closing one included (until its handles are closed). */
struct cpm_chat__conn *cpm_chat__conn_any(struct cpm_chat_relay *r, uint64_t id);
/* The connection to an authority: a known one, or a new outgoing one
 * (connecting: what is queued goes once it is up).  NULL with *err. */
struct cpm_chat__conn *cpm_chat__conn_to(struct cpm_chat_relay *r, const char *key,
					 const struct cpm_msrp_uri *u, int *err);
void cpm_chat__conn_close(struct cpm_chat__conn *c, const char *why);
/* Queue bytes on c; writer is the connection whose message streams there
 * (0: a whole message of ours, deferred while another one streams). */
int cpm_chat__put(struct cpm_chat__conn *c, uint64_t writer, const void *p, size_t n);
/* Bytes queued on c: all of them (its answers waiting behind another
 * stream included), and those ahead of a stream starting now (out and in
 * flight: what a sender to c waits on; the deferred ones go after it). */
size_t cpm_chat__pending(const struct cpm_chat__conn *c);
size_t cpm_chat__ahead(const struct cpm_chat__conn *c);
/* Bytes the kernel has not taken yet: staged, deferred, and what libuv
 * still holds of the writes in flight (those it wrote count no more). */
size_t cpm_chat__unsent(struct cpm_chat__conn *c);
/* Write what is staged now instead of at the end of the iteration. */
void cpm_chat__flush_now(struct cpm_chat__conn *c);
/* c's stream ends: the deferred messages follow, its waiters are woken. */
void cpm_chat__release(struct cpm_chat__conn *c);
/* Process c's input again soon (from the idle callback). */
void cpm_chat__schedule(struct cpm_chat__conn *c);
/* c is not read until on drains or ends its stream (on NULL: read again). */
void cpm_chat__wait(struct cpm_chat__conn *c, struct cpm_chat__conn *on);
/* After processing: drop the used input, read or not. */
void cpm_chat__input_done(struct cpm_chat__conn *c, size_t used);
void cpm_chat__wake(struct cpm_chat__conn *c);
/* Restart the idle timeout (stopped while local sessions use c). */
void cpm_chat__touch(struct cpm_chat__conn *c);
void cpm_chat__acct(struct cpm_chat_relay *r, ssize_t delta);

/* A fresh transaction id (CPM_MSRP_TID_LEN hex digits): 64 bits from a
 * pool of getrandom bytes, refilled once per 512 ids. */
int cpm_chat__tid_new(struct cpm_chat_relay *r, char out[CPM_MSRP_TID_LEN + 1]);

/* chat_relay.c */
/* Handle buffered input until it runs out or c must wait. */
void cpm_chat__process(struct cpm_chat__conn *c);
/* c is closing: its stream, its transactions, its waiters. */
void cpm_chat__conn_gone(struct cpm_chat__conn *c);
void cpm_chat__xfer_reset(struct cpm_chat__xfer *x);
void cpm_chat__txn_sweep(struct cpm_chat_relay *r, uint64_t now_ms);
/* A whole response of ours on c: "MSRP tid code comment", To-Path to,
 * From-Path from, extra header lines (CRLF-terminated, may be NULL), the
 * end-line. */
int cpm_chat__respond(struct cpm_chat__conn *c, const char *tid, int code, const char *to,
		      const char *from, const char *extra);

/* RFC 4975 §7.1.1: may status answer the request x receives (no answer
 * for Failure-Report "no", only errors for "partial", never for REPORT)? */
bool cpm_chat__may_answer(const struct cpm_chat__xfer *x, int status);
/* Transactions (chat_relay.c) for chat_ep.c: link t (tid set) on d's
 * list and arm its timeout now (the chunk is queued whole). */
void cpm_chat__txn_start(struct cpm_chat_relay *r, struct cpm_chat__txn *t,
			 struct cpm_chat__conn *d);

/* chat_ep.c */
/* A request routed to a local session (rt->sess): x becomes LOCAL (or
 * DISCARD with a status). */
void cpm_chat__ep_headers(struct cpm_chat__conn *c, const struct cpm_msrp_msg *m,
			  const struct cpm_chat_route *rt);
void cpm_chat__ep_body(struct cpm_chat__conn *c, struct cpm_str data);
void cpm_chat__ep_end(struct cpm_chat__conn *c, char flag);
void cpm_chat__epx_free(struct cpm_chat__epx *e);
/* The answer to a T_EP transaction of o (code 408: none came), after the
 * transaction is gone; o may be NULL. */
void cpm_chat__ep_settle(struct cpm_chat_relay *r, struct cpm_chat__out *o, int code);
/* A REPORT for a local session... goes to ep_headers like the others.
 * c is closing: its bound sessions are told. */
void cpm_chat__ep_conn_gone(struct cpm_chat__conn *c);
/* The relay is freed: the sessions left go without callbacks. */
void cpm_chat__ep_free_all(struct cpm_chat_relay *r);
/* A T_EP transaction's out record lost its transaction (relay freed). */
void cpm_chat__out_unref(struct cpm_chat__out *o);

/* chat_auth.c */
/* An AUTH for us (RFC 4976 §5.1, §6.2): answers it now or after a store
 * lookup.  The message's slices are valid during the call only. */
void cpm_chat__auth(struct cpm_chat__conn *c, const struct cpm_msrp_msg *m);

/* chat_conf.c: the conference event package (src/pres) told by the focus.
 * room "lobby@example.test", aor "sip:alice@example.test"; pres NULL: no-op. */
struct cpm_pres;
/* aor is in (connected), or changed nickname; role is an enum
 * cpm_store_room_role; dialed_out: the focus called it (referred_by the
 * REFERrer, "" none). */
void cpm_chat__conf_joined(struct cpm_pres *pres, const char *room, const char *aor,
			   const char *display, int role, int64_t joined, bool dialed_out,
			   const char *referred_by);
/* The focus calls aor (RFC 4575 dialing-out). */
void cpm_chat__conf_dialing(struct cpm_pres *pres, const char *room, const char *aor,
			    const char *referred_by);
/* The call to aor failed with status (486/600: busy). */
void cpm_chat__conf_failed(struct cpm_pres *pres, const char *room, const char *aor, int status);
/* aor left: by its own BYE (booted false) or let go by the focus. */
void cpm_chat__conf_left(struct cpm_pres *pres, const char *room, const char *aor, bool booted,
			 const char *why);
/* The room is gone: its watchers' subscriptions end. */
void cpm_chat__conf_end(struct cpm_pres *pres, const char *room);
/* The package asks rooms(arg, aor) which URIs are rooms. */
void cpm_chat__conf_rooms(struct cpm_pres *pres, bool (*rooms)(void *arg, const char *aor),
			  void *arg);

/* chat_focus.c for chat_adhoc.c and chat_refer.c */
struct cpm_chat_focus;
struct cpm_core_dlg;
struct cpm_store_room;
struct cpm_txn;
struct cpm_sip_msg;
/* The final status of a dial-out (487: given up, e.g. the room closed). */
typedef void cpm_chat__dial_cb(void *arg, int status);
/* The focus INVITEs uri ("sip:bob@example.test") into room (a room of
 * the cache): CPM_ENOTFOUND (no such room, or a local user with no
 * device), CPM_EEXIST (in it or being called), CPM_ELIMIT (full).  done
 * (may be NULL) gets the final status when 0 was returned. */
int cpm_chat__focus_dial(struct cpm_chat_focus *f, const char *room, const char *uri,
			 const char *referred_by, cpm_chat__dial_cb *done, void *arg);
/* uri leaves room (BYE; booted, why): CPM_ENOTFOUND. */
int cpm_chat__focus_kick(struct cpm_chat_focus *f, const char *room, const char *uri,
			 const char *why);
/* The dialog of participant part_id, NULL when it is gone. */
struct cpm_core_dlg *cpm_chat__focus_part_dlg(struct cpm_chat_focus *f, uint64_t part_id);
struct cpm_core *cpm_chat__focus_core(struct cpm_chat_focus *f);
/* A store job of another file holds f (freed after its last unhold);
 * unhold returns false when f is going away: the job must not use it. */
void cpm_chat__focus_hold(struct cpm_chat_focus *f);
bool cpm_chat__focus_unhold(struct cpm_chat_focus *f);
/* An ad-hoc room just stored: into the cache with its owner and members
 * (AoRs), then the creator's INVITE st is answered as for a room (offer:
 * the SDP part of its body).  True when the creator is in. */
bool cpm_chat__focus_adhoc_join(struct cpm_chat_focus *f, const struct cpm_store_room *room,
				const char *const *members, size_t n, struct cpm_txn *st,
				const struct cpm_sip_msg *req, const char *creator,
				struct cpm_str offer);

/* chat_adhoc.c: ad-hoc conferences (RFC 5366 conference factory). */
/* Is aor ("conf@example.test") the conference factory (chat.factory)? */
bool cpm_chat__adhoc_is_factory(const struct cpm_conf *conf, const char *aor);
/* An INVITE to the factory from creator (an AoR): always answers st. */
void cpm_chat__adhoc_invite(struct cpm_chat_focus *f, struct cpm_txn *st,
			    const struct cpm_sip_msg *req, const char *creator);
/* The last participant of ad-hoc room left: the room goes from the store. */
void cpm_chat__adhoc_over(struct cpm_core *core, const char *room);

/* chat_refer.c: REFER to the focus (RFC 4579 §5.5, RFC 3515) in the dialog
 * d of participant part_id (aor, in room; owner: the room's owner). */
void cpm_chat__refer(struct cpm_chat_focus *f, uint64_t part_id, const char *room,
		     const char *aor, bool owner, struct cpm_core_dlg *d, struct cpm_txn *st,
		     const struct cpm_sip_msg *req);

/* chat_roommsg.c */
struct cpm_im_ctl;
/* A message of aor into room: from its participant from, or (from NULL)
 * as a sender not in session.  Returns the status (200, 400, 403, 404;
 * cpm_chat_room_receive). */
int cpm_chat__room_inject(struct cpm_chat_room *room, struct cpm_chat_member *from,
			  const char *aor, const char *display, struct cpm_str ctype,
			  struct cpm_str body, struct cpm_str message_id);
/* A public message of room (its CPIM as distributed, nick the sender's
 * nickname) for each member AoR in absent, by store-and-forward.  Returns
 * how many copies were handed over. */
size_t cpm_chat__room_offline(struct cpm_im_ctl *im, const char *room, const char *nick,
			      const char *const *absent, size_t n, struct cpm_str cpim);

#endif
