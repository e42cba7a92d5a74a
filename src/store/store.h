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

struct cpm_store;

/* List callbacks (cb) return 0 to go on; any other value stops the listing
 * and is returned by the list call.  They must not start the same listing
 * on the same connection (CPM_EBUSY) but may call the other operations. */

struct cpm_store_ops {
	const char *name; /* the URL scheme, "sqlite" */
	int (*open)(struct cpm_store *s, const char *url_rest);
	void (*close)(struct cpm_store *s);
	int (*user_add)(struct cpm_store *s, const struct cpm_store_user *u); /* CPM_EEXIST */
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
/* Jobs submitted and not yet finished. */
size_t cpm_store_worker_pending(const struct cpm_store_worker *w);
/* Runs every queued job, calls every pending done callback (before
 * returning), joins the thread, closes the connection and the uv handle.
 * The memory is released by the handle's close callback: run the loop once
 * more (as for any uv handle) before uv_loop_close(). */
void cpm_store_worker_flush_and_free(struct cpm_store_worker *w);

#endif
