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

/* The SIP status code that answers an internal error. */
int cpm_core_err_status(int err);

#endif
