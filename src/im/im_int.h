/* im — what the controller's files share (im_ctl.c: storing, delivering,
 * expiry, pick-up; im_route.c: messages the controller routes itself:
 * profile forwards, URI lists, INVITE/INFO payloads, the live accepts
 * check).  Not a public header. */
#ifndef CPM_IM_INT_H
#define CPM_IM_INT_H

#include "im/im.h"

#include "conf/conf.h"
#include "core/core.h"
#include "store/store.h"
#include "txn/txn.h"

struct run;
struct ghost;
struct cpm_iwf;

struct cpm_im_ctl {
	struct cpm_core *core;
	const struct cpm_conf *conf;
	struct cpm_store_worker *store;
	uv_loop_t *loop;
	struct run *runs;
	uv_timer_t expire_timer;
	struct cpm_im_profile profile;
	struct cpm_im_class cls;
	struct cpm_im_limits lim;
	uint64_t n_stored, n_delivered, n_failed, n_expired, n_fetched;
	uint64_t n_forwarded, n_listed;
	bool deferred_ok; /* the HTTP API serves /m/ID: deferred retrieval */
	bool stopping;
	void (*change_cb)(void *arg, const char *aor);
	void *change_arg;
	/* the profiles that restrict content types, sorted by AoR, for the
	 * live path's accepts check (R29); reloaded when the store's profile
	 * stamp changes (cpmd user set works from another process) */
	struct cpm_im__prof *profs;
	size_t nprofs;
	int64_t prof_updated, prof_count;
	bool prof_loading;
	uv_timer_t prof_timer;
	uint64_t n_refused;
	/* the Call-IDs of INVITEs answered for an offline user (a BYE for
	 * them gets 200): a small ring */
	char ghosts[32][128];
	unsigned nghost;
	struct ghost *ghost_list; /* their 200s retransmitted until the ACK */
	cpm_im_mail_fn *mailer; /* forward:mailto: (the iwf), or NULL */
	void *mailer_arg;
};

/* How a job ends when no server transaction waits for it (a copy the
 * controller made itself): the status it would have answered. */
typedef void cpm_im__fin_cb(void *arg, int status, const char *reason);

/* One message on its way through the rules: read the recipient's queue
 * and profile (worker), decide (cpm_im_decide), then store (202 after the
 * commit), reject, or forward.  The answer goes to st (a request core
 * handed over) or to fin. */
struct cpm_im__job {
	struct cpm_im_ctl *ctl;
	struct cpm_txn *st; /* NULL once the transaction is gone */
	cpm_im__fin_cb *fin; /* NULL once called */
	void *fin_arg;
	unsigned hops;      /* profile forwards already followed */
	bool invite;        /* an INVITE carried it: stored = answered 200 */
	bool check_user;    /* a copy for a local address: 404 if no such user */
	bool own;           /* the server's own message: nobody waits for it */
	bool no_user;       /* (worker) the recipient is not a user */
	bool dry;           /* only decide: a store fate answers 202, nothing stored */
	char *sdp;          /* the INVITE's offer (to reject its streams), or NULL */
	size_t sdp_len;
	struct cpm_im_indicators ind;
	struct cpm_store_msg m;
	char *body;
	char payload_type[128]; /* ind.payload_type, owned */
	int64_t count, bytes;
	int rc;
	int prof_rc;
	char profile_text[CPM_STORE_PROFILE_MAX];
	struct cpm_im_profile profile;
	struct cpm_im_decision d;
};

void cpm_im__changed(struct cpm_im_ctl *ctl, const char *aor);
/* status: "stored", "delivered" or "failed" (RFC 5438 §7.2). */
void cpm_im__report_send(struct cpm_im_ctl *ctl, const char *sender, const char *recipient,
			 const char *message_id, const char *status);

/* A job for recipient aor from req: sender, display, Subject, Date,
 * Message-ID (CPIM, else the request's Call-ID), a fresh Call-ID of its
 * own; the stored body is body with Content-Type ctype (NULL: the
 * request's).  The indicators are read from req and made independent of
 * it.  NULL when req cannot be stored (no memory, oversized, isComposing,
 * unreadable indicators). */
struct cpm_im__job *cpm_im__job_new(struct cpm_im_ctl *ctl, const struct cpm_sip_msg *req,
				    const char *aor, const char *ctype, struct cpm_str body);
/* Run the rules for the job (takes it): 0, or CPM_E* (the job is freed,
 * nothing answered). */
int cpm_im__job_decide(struct cpm_im__job *j);
void cpm_im__job_free(struct cpm_im__job *j);
/* Answer the job's transaction, or call its fin (once). */
void cpm_im__reply(struct cpm_im__job *j, int status, const char *reason, const char *extra);

/* The SDP of the 200 that answers an INVITE for its user (seed 002 claim
 * 6): every offered stream rejected (port 0, RFC 3264 §6), or no stream
 * when the INVITE made no offer (the ACK then answers). */
int cpm_im__ghost_sdp(struct cpm_buf *b, const char *offer, size_t len, const char *host);
/* Is call_id an INVITE the controller answered for its user? */
bool cpm_im__ghost_known(const struct cpm_im_ctl *ctl, struct cpm_str call_id);

/* The stored Call-ID of a message: a hash of what identifies the sender's
 * request (From tag, Call-ID, CSeq) and of the recipient, so that the
 * sender's retransmission reaching a restarted server maps to the same
 * stored message (the store's unique Call-ID absorbs it) and a device
 * never sees one message under two Call-IDs. */
void cpm_im__stored_call_id(char *out, size_t sz, struct cpm_str from_tag,
			    struct cpm_str call_id, uint32_t cseq, const char *recipient);

/* The header lines of a MESSAGE the controller sends for a sender: From
 * (the original, with a fresh tag), To, Call-ID, CSeq, Date, Subject, and
 * Content-Disposition: notification for a report. */
int cpm_im__headers(struct cpm_buf *h, const char *display, const char *sender,
		    const char *to_uri, const char *call_id, int64_t date, const char *subject,
		    bool report);

/* im_route.c */
/* The FORWARD fate (profile forward:<uri>): takes the job. */
void cpm_im__forward(struct cpm_im__job *j);
/* Deliver a job's message live to the recipient's devices first, then
 * (none took it) apply the rules: the URI-list copies and local forward
 * targets.  Takes the job. */
void cpm_im__submit(struct cpm_im__job *j);
struct cpm_im__prof {
	char aor[256];
	struct cpm_im_profile p;
};
/* Start the profile cache (loads now, then follows the store). */
void cpm_im__prof_start(struct cpm_im_ctl *ctl);
void cpm_im__prof_stop(struct cpm_im_ctl *ctl);
/* The controller as a core service (cpm_core_add_service). */
bool cpm_im__service(void *arg, struct cpm_txn *st, const struct cpm_sip_msg *req,
		     const struct cpm_net_dest *src, const char *aor, const char *from_aor);

#endif
