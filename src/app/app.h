/* app — the cpmd program's internal entry points (main.c dispatches). */
#ifndef CPM_APP_H
#define CPM_APP_H

#include "conf/conf.h"

/* Exit statuses of the subcommands. */
#define CPM_APP_EXIT_OK 0
#define CPM_APP_EXIT_ERROR 1 /* a precise message was written to stderr */
#define CPM_APP_EXIT_USAGE 2

/* "cpmd [-c FILE] [-o k=v] user add|del|list|passwd|set|show|help ...":
 * argv[0] is the subcommand ("add"...), argc counts from it (argc may be 0:
 * usage).  Uses conf->store.url, store.busy_timeout, server.domain,
 * auth.realm, and the [class.NAME] sections and [im] keys (user set/show).
 * "user set AOR KEY=VALUE..." applies cpm_im_profile_set to the stored
 * profile (or the default) and saves it with cpm_store_profile_put, all or
 * nothing.  Returns an exit status (above). */
int cpm_app_user_main(const struct cpm_conf *conf, int argc, char **argv);

/* "cpmd [-c FILE] [-o k=v] room add|del|list|show|set|member|history|help
 * ...": chat rooms in the store (app_room.c), like cpm_app_user_main (same
 * exit statuses; the server may run). */
int cpm_app_room_main(const struct cpm_conf *conf, int argc, char **argv);

/* Shared by the subcommands and the API (app_user.c). */
/* in ("sip:" allowed) -> aor, normalised; with served, its domain must be
 * one of server.domain.  0, or CPM_EINVAL / CPM_ETOOBIG (not an AoR) /
 * CPM_EPERM (domain not served), with the reason in err. */
int cpm_app_aor_check(const struct cpm_conf *conf, const char *in, bool served,
		      char aor[256], char *err, size_t errsz);
/* "cpmd GROUP CMD: <message>" on stderr; the usage variant adds the hint
 * to run 'cpmd GROUP help' and returns CPM_APP_EXIT_USAGE; the store
 * variant adds rc's text and the store's last error and returns
 * CPM_APP_EXIT_ERROR. */
#include <stdarg.h>
struct cpm_store;
void cpm_app_errv(const char *group, const char *cmd, const char *fmt, va_list ap);
int cpm_app_usage_errv(const char *group, const char *cmd, const char *fmt, va_list ap);
int cpm_app_store_err(const char *group, const char *cmd, struct cpm_store *s, int rc,
		      const char *what);
/* "2026-11-30T07:00:00Z" (UTC). */
void cpm_app_iso_time(int64_t t, char out[32]);

/* The users' HTTP API (app_api.c): GET /m/ID (message pick-up, with the
 * URL's token or Digest), /api/v1/users/AOR/... (the inbox, the profile,
 * presence) and /api/v1/rooms/... (chat rooms), routed on h.  Free it
 * after h. */
struct cpm_http;
struct cpm_core;
struct cpm_im_ctl;
struct cpm_app_api;
struct cpm_pres;
int cpm_app_api_new(struct cpm_http *h, struct cpm_core *core, struct cpm_im_ctl *im,
		    struct cpm_pres *pres, struct cpm_app_api **out);
void cpm_app_api_free(struct cpm_app_api *api);

#endif
