/* pres — what the files of the module share (not a public header). */
#ifndef CPM_PRES_INT_H
#define CPM_PRES_INT_H

#include "pres/pres.h"

#include "net/net.h"

#include <uv.h>

#define CPM_PRES_AOR_LEN 256
#define CPM_PRES_PATH_LEN 1100

/* ------------------------------------------------------------ pres_map.c */

struct cpm_pres__map_ent;
struct cpm_pres__map {
	struct cpm_pres__map_ent **b;
	size_t nb, n;
};

void *cpm_pres__map_get(const struct cpm_pres__map *m, const char *key);
/* Insert or replace. */
int cpm_pres__map_put(struct cpm_pres__map *m, const char *key, void *val);
/* Remove; returns the value, NULL when absent. */
void *cpm_pres__map_del(struct cpm_pres__map *m, const char *key);
/* cb may delete the entry it is given, and no other. */
void cpm_pres__map_each(const struct cpm_pres__map *m,
			void (*cb)(void *arg, const char *key, void *val), void *arg);
void cpm_pres__map_free(struct cpm_pres__map *m, void (*fr)(void *val));

/* ------------------------------------------------------------ pres_xml.c */

/* Serialize an xmlDocPtr (UTF-8, indented) onto out. */
int cpm_pres__xml_dump(void *xml_doc, struct cpm_buf *out);

/* ------------------------------------------------- pres_sub.c: machinery */

struct cpm_core;
struct cpm_store_worker;
struct cpm_txn;
struct cpm_sip_msg;
struct cpm_pres__sub;

enum cpm_pres__state {
	CPM_PRES__ACTIVE = 0,
	CPM_PRES__PENDING = 1, /* RFC 6665 §4.1.2.1 / RFC 3857: not authorized yet */
};

/* An event package served over the machinery. */
struct cpm_pres__pkg {
	const char *name;   /* the Event token */
	const char *alias;  /* another token served the same way, or NULL */
	const char *ctype;  /* of the NOTIFY bodies */
	bool throttled;     /* presence.min_notify_interval applies */
	bool watcher;       /* a presence watcher: counted (max_watchers) and
			     * listed in watcher-info */
	/* A new subscription of watcher (an AoR) to aor: CPM_PRES__ACTIVE,
	 * CPM_PRES__PENDING, or a SIP status >= 300 that refuses it. */
	int (*authorize)(struct cpm_pres *p, const char *aor, const char *watcher);
	/* Build the state: call cpm_pres__sub_notify(s, ...) now or later,
	 * or cpm_pres__sub_notify_failed(s). */
	void (*state)(struct cpm_pres__sub *s);
	/* After a subscription was created (answered) / before it goes. */
	void (*created)(struct cpm_pres__sub *s, bool was_unknown);
	void (*ended)(struct cpm_pres__sub *s);
	/* A package whose resources are not users (conference: rooms)
	 * checks the resource and the watcher itself, answers st or calls
	 * cpm_pres__sub_create (then authorize decides as usual).  NULL: the
	 * resource must be a user (404 otherwise). */
	void (*admit)(struct cpm_pres *p, struct cpm_txn *st, const char *aor,
		      const char *watcher, const char *from_aor, const char *event);
	/* Is aor served here (conference: a room the focus knows)?  NULL:
	 * every AoR.  When false, the SUBSCRIBE is routed like any request
	 * (a user's own device may serve the package). */
	bool (*serves)(struct cpm_pres *p, const char *aor);
};

struct cpm_pres__sub {
	struct cpm_pres__sub *prev, *next;   /* every subscription */
	struct cpm_pres__sub *aprev, *anext; /* the subscriptions to aor */
	struct cpm_pres *p;
	const struct cpm_pres__pkg *pkg;
	char event[32];        /* the Event token the subscriber used */
	char aor[CPM_PRES_AOR_LEN];
	char watcher[CPM_PRES_AOR_LEN]; /* the subscriber's AoR */
	char call_id[256];
	char local_tag[24];
	char remote_tag[128];
	char local_uri[512];   /* the SUBSCRIBE's To URI: our From */
	char remote_uri[512];  /* the SUBSCRIBE's From URI: our To */
	char target[512];      /* the subscriber's Contact */
	char contact[600];     /* ours */
	char route[1024];      /* the route set: the SUBSCRIBE's Record-Route */
	char event_id[64];     /* the Event header's id parameter, "" if none */
	struct cpm_net_dest flow;
	uint32_t remote_cseq, local_cseq;
	int64_t created;       /* wall seconds */
	int64_t expires_at;    /* wall seconds */
	enum cpm_pres__state state;
	const char *wevent;    /* RFC 3858 event: subscribe, approved, ... */
	unsigned version;      /* of the next watcher-info or conference-info document */
	uint64_t seen;         /* conference: the generation the watcher has */
	bool refreshed;        /* a refresh came: the next NOTIFY has the full state */
	uint64_t last_notify;  /* ms (cpm_now_ms) */
	uv_timer_t timer;      /* expiry */
	uv_timer_t throttle;   /* the next NOTIFY, when rate limited */
	int closing;           /* handles left to close */
	bool busy;             /* a NOTIFY (or its state) in flight */
	bool again;            /* state changed meanwhile */
	bool ending;           /* the next NOTIFY is the terminating one */
	bool term_sent;        /* ... and it is on its way */
	const char *reason;    /* of the terminating NOTIFY */
	bool gone;             /* unlinked, waiting for its handles to close */
};

/* The subscriptions to one AoR. */
struct cpm_pres__watched {
	struct cpm_pres__sub *subs;
	unsigned nwatchers; /* of packages with .watcher */
};

struct cpm_pres__open_cb {
	cpm_pres_open_cb *cb;
	void *arg;
};

struct cpm_pres {
	struct cpm_core *core;
	const struct cpm_conf *conf;
	struct cpm_store_worker *store;
	uv_loop_t *loop;
	struct cpm_pres__sub *subs;
	unsigned nsubs;
	struct cpm_pres__map by_tag; /* local tag -> sub */
	struct cpm_pres__map by_aor; /* aor -> struct cpm_pres__watched */
	/* presence */
	struct cpm_pres_pubs *pubs;
	struct cpm_pres__map docs;   /* aor -> struct cpm_pres__doc */
	uv_timer_t *pub_timer;       /* the soonest publication expiry */
	struct cpm_pres_rules *rules;
	char rules_path[CPM_PRES_PATH_LEN];
	uv_fs_poll_t *rules_poll;    /* reloads the rules file when it changes */
	struct cpm_pres__open_cb open_cbs[4];
	int nopen;
	struct cpm_pres_confs *confs; /* conference package (pres_conf.c) */
	cpm_pres_conf_rooms_cb *rooms_cb; /* which AoRs are rooms */
	void *rooms_arg;
	cpm_pres_missed_cb *missed_cb;
	void *missed_arg;
	bool stopping;
};

/* The state of s changed: a NOTIFY, now or at the end of the rate
 * limiting interval; changes meanwhile are merged. */
void cpm_pres__sub_changed(struct cpm_pres__sub *s);
/* Every subscription of package pkg to aor changed. */
void cpm_pres__notify_aor(struct cpm_pres *p, const char *aor,
			  const struct cpm_pres__pkg *pkg);
/* The package's answer to state(): send the NOTIFY. */
void cpm_pres__sub_notify(struct cpm_pres__sub *s, const char *body, size_t len);
void cpm_pres__sub_notify_failed(struct cpm_pres__sub *s);
/* End s with a terminating NOTIFY (RFC 6665 §4.2.2 reason). */
void cpm_pres__sub_end(struct cpm_pres__sub *s, const char *reason);
/* A pending subscription is now authorized (RFC 3857 event "approved"). */
void cpm_pres__sub_activate(struct cpm_pres__sub *s);
/* Authorize and create the subscription of st (still unanswered). */
void cpm_pres__sub_create(struct cpm_pres *p, struct cpm_txn *st, const char *aor,
			  const char *from_aor, const struct cpm_pres__pkg *pkg,
			  const char *event);
/* The subscriptions to aor, NULL when none. */
struct cpm_pres__sub *cpm_pres__subs_of(struct cpm_pres *p, const char *aor);
/* The watcher ("user@host") a request comes from: the identity core
 * verified, else the AoR of its From (a trusted source asserts it; an
 * untrusted one is a watcher of another domain, unverified). */
int cpm_pres__identity(const struct cpm_sip_msg *req, const char *from_aor, char *out,
		       size_t sz);

/* ------------------------------------- pres_conf.c: conference package */

extern const struct cpm_pres__pkg cpm_pres__conf_pkg;

int cpm_pres__conf_init(struct cpm_pres *p);
void cpm_pres__conf_free(struct cpm_pres *p);

/* ---------------------------------------- pres_pres.c: presence service */

extern const struct cpm_pres__pkg cpm_pres__presence_pkg;
extern const struct cpm_pres__pkg cpm_pres__winfo_pkg;

int cpm_pres__presence_init(struct cpm_pres *p);
void cpm_pres__presence_stop(struct cpm_pres *p);
void cpm_pres__presence_free(struct cpm_pres *p);
/* PUBLISH to aor (RFC 3903); always answers st. */
void cpm_pres__publish(struct cpm_pres *p, struct cpm_txn *st, const struct cpm_sip_msg *req,
		       const struct cpm_net_dest *src, const char *aor, const char *from_aor);
/* The reply helper shared by the files: Server header, extra lines. */
void cpm_pres__reply(struct cpm_pres *p, struct cpm_txn *st, int status, const char *reason,
		     const char *tag, const char *extra);
/* Expires of a request within presence.min/max_expires: -1 when st was
 * answered (400, 423). */
int64_t cpm_pres__expires(struct cpm_pres *p, struct cpm_txn *st,
			  const struct cpm_sip_msg *req, const char *tag);
/* Does aor exist?  cb(arg, found) later, on the loop: 1 yes, 0 no, <0
 * error.  CPM_E* when the job cannot be submitted. */
int cpm_pres__user_check(struct cpm_pres *p, const char *aor,
			 void (*cb)(void *arg, int found), void *arg);
/* The same holding st: it is answered 404 (no such user), 500 (the store
 * failed) or 503 (shutting down), else cont(p, st, arg) runs.  arg is
 * free()d afterwards, and also when st went away meanwhile. */
void cpm_pres__with_user(struct cpm_pres *p, struct cpm_txn *st, const char *aor,
			 void (*cont)(struct cpm_pres *p, struct cpm_txn *st, void *arg), void *arg);

#endif
