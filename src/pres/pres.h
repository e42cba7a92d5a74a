/* pres — event packages served by the server itself, over RFC 6665
 * subscriptions (SUBSCRIBE creates a dialog, NOTIFY carries the state).
 * The subscription machinery is package-independent; the first package is
 * message-summary (RFC 3842, message waiting; also under the seeds' alias
 * "Event: message"), whose state comes from the store-and-forward queue.
 * Presence and conference packages reuse the machinery. */
#ifndef CPM_PRES_H
#define CPM_PRES_H

#include <stdbool.h>

struct cpm_core;
struct cpm_pres;

/* Registers itself with core as a service (cpm_core_add_service). */
int cpm_pres_new(struct cpm_core *core, struct cpm_pres **out);
/* The state of aor changed for package ("message-summary"): every active
 * subscription to it gets a NOTIFY. */
void cpm_pres_changed(struct cpm_pres *p, const char *package, const char *aor);
/* Shutdown start: timers stopped, no new NOTIFYs. */
void cpm_pres_stop(struct cpm_pres *p);
/* Once core has stopped. */
void cpm_pres_free(struct cpm_pres *p);

#endif
