/* chat_b2b_int.h — what chat_b2b.c keeps per anchored session.  Not a
 * public header. */
#ifndef CPM_CHAT_B2B_INT_H
#define CPM_CHAT_B2B_INT_H

#include "chat/chat.h"
#include "conf/conf.h"

struct cpm_core;
struct cpm_core_dlg;
struct cpm_txn;

enum { LEG_A = 1, LEG_B = 2 }; /* the caller's leg (we are UAS), the callee's */

/* A message in flight, or a store request (see chat_b2b.c). */
struct b2b_op {
	struct b2b_op *next;
	struct cpm_chat_b2b *b;
	struct b2b_sess *s; /* NULL once the session is gone (store ops) */
	struct cpm_txn *st; /* the sender's MESSAGE, NULL once answered/gone */
	int from;           /* LEG_A / LEG_B: who wrote it */
	int to_leg;         /* the leg it was sent on, 0 before */
	bool storing;       /* handed to cpm_im_ctl_store: im calls back */
	bool queued;        /* MSRP: waits for the other leg's session to bind */
	int64_t date;
	char *ctype;
	char *body;
	size_t body_len;
	char recipient[256];
};

struct b2b_sess {
	struct b2b_sess *prev, *next;
	struct cpm_chat_b2b *b2b;
	char call_id[256];        /* the caller's, for the log */
	char caller[512];         /* the caller's From URI */
	char caller_aor[256];     /* user@domain when the caller is ours, else "" */
	char caller_display[128];
	char callee[256];         /* user@domain */
	char callee_uri[300];     /* sip:user@domain */
	char tag[17];             /* To tag of our failure answers */
	struct cpm_txn *st;       /* the caller's INVITE until answered */
	struct cpm_core_dlg *a;   /* caller leg */
	struct cpm_core_dlg *b;   /* callee leg */
	struct cpm_chat_ep *ep_a; /* MSRP: our session with the caller */
	struct cpm_chat_ep *ep_b; /* ... with the callee */
	struct cpm_chat_b2b_plan plan;
	char *offer;              /* the caller's SDP */
	size_t offer_len;
	bool busy;                /* presence said busy */
	bool deferred;            /* answered for the callee: messages stored */
	const char *deferred_why; /* "offline", "busy", "not answering" */
	struct b2b_op *ops;
};

struct cpm_chat_b2b {
	struct cpm_core *core;
	const struct cpm_conf *conf;
	struct cpm_im_ctl *im;
	struct cpm_pres *pres;
	struct cpm_chat_relay *relay;
	enum cpm_chat_anchor policy;
	struct b2b_sess *sessions;
	unsigned nsessions;
	struct b2b_op *orphans; /* store ops whose session ended */
	bool stopping;
	uint64_t n_anchored, n_deferred, n_relayed, n_stored, n_failed;
};

#endif
