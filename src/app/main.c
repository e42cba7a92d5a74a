/* cpmd — the server program: option parsing, configuration, the libuv loop,
 * signals, and the "user" administration subcommands. */
#include "app/app.h"
#include "chat/chat.h"
#include "conf/conf.h"
#include "core/core.h"
#include "im/im.h"
#include "pres/pres.h"
#include "http/http.h"
#include "iwf/iwf.h"
#include "lib/lib.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uv.h>

#define CPMD_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cpmd [-c FILE] [-o section.key=value ...] [COMMAND]\n"
		"\n"
		"Runs the cpmd messaging server in the foreground (logs on stderr).\n"
		"\n"
		"options:\n"
		"  -c FILE            configuration file (INI; see etc/cpmd.conf)\n"
		"  -o section.key=V   override one key (repeatable; wins over the file)\n"
		"  -t, --check        check the configuration and exit\n"
		"  --dump-config      print the effective configuration and exit\n"
		"  -V, --version      print the version and exit\n"
		"  -h, --help         this text\n"
		"\n"
		"commands:\n"
		"  user add AOR --password P     add a subscriber (also while running)\n"
		"  user del AOR                  remove a subscriber\n"
		"  user list                     list subscribers\n"
		"  user passwd AOR --password P  change a password\n"
		"  presence allow|block|remove AOR WATCHER...\n"
		"                                edit AOR's presence lists (also while running)\n"
		"  presence pending|list [AOR]   who waits for a decision / every entry\n"
		"  room add|del|list|show|set|member|history ...\n"
		"                                chat rooms (also while running; room help)\n");
}

static int mkdir_p(const char *path)
{
	char tmp[CPM_CONF_PATH_LEN];
	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
		return -1;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0750) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0750) && errno != EEXIST)
		return -1;
	return 0;
}

struct app {
	uv_loop_t *loop;
	struct cpm_core *core;
	struct cpm_im_ctl *im;
	struct cpm_pres *pres;
	struct cpm_chat_relay *msrp;
	struct cpm_chat_b2b *b2b;
	struct cpm_chat_focus *focus; /* chat rooms */
	struct cpm_http *http;
	struct cpm_app_api *api;
	struct cpm_iwf *iwf;
	const struct cpm_conf *conf;
	uint64_t start_ms;
	uv_signal_t sigterm, sigint;
	bool stopped;
};

/* GET /health: 200 while serving, 503 once the shutdown began. */
static void http_health(void *arg, const struct cpm_http_request *rq,
			struct cpm_http_resp *resp)
{
	struct app *a = arg;
	struct cpm_core_stats s;
	cpm_core_stats(a->core, &s);
	if (s.stopping)
		cpm_http_reply_json(resp, 503, json_pack("{s:s}", "status", "stopping"));
	else
		cpm_http_reply_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

/* GET /api/v1/status: version, uptime, core counters, domains, listeners. */
static void http_status(void *arg, const struct cpm_http_request *rq,
			struct cpm_http_resp *resp)
{
	struct app *a = arg;
	struct cpm_core_stats s;
	cpm_core_stats(a->core, &s);
	json_t *j = json_pack(
		"{s:s, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"version", CPMD_VERSION,
		"uptime_s", (json_int_t)((cpm_now_ms() - a->start_ms) / 1000),
		"stopping", s.stopping,
		"requests", (json_int_t)s.requests,
		"relayed", (json_int_t)s.relayed,
		"registrations", (json_int_t)s.registrations,
		"aors", (json_int_t)s.aors,
		"bindings", (json_int_t)s.bindings,
		"transactions", (json_int_t)s.transactions,
		"tcp_connections", (json_int_t)s.tcp_connections,
		"http_connections", (json_int_t)cpm_http_conn_count(a->http));
	struct cpm_chat_relay_stats ms;
	cpm_chat_relay_stats(a->msrp, &ms);
	json_t *msrp = json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"connections", (json_int_t)ms.connections,
		"sessions", (json_int_t)ms.sessions,
		"transactions", (json_int_t)ms.transactions,
		"auth_ok", (json_int_t)ms.auth_ok,
		"auth_failed", (json_int_t)ms.auth_failed,
		"requests", (json_int_t)ms.requests,
		"bytes", (json_int_t)ms.bytes,
		"reports", (json_int_t)ms.reports,
		"stalls", (json_int_t)ms.stalls,
		"buffered", (json_int_t)ms.buffered,
		"buffered_max", (json_int_t)ms.buffered_max);
	struct cpm_chat_b2b_stats bs;
	cpm_chat_b2b_stats(a->b2b, &bs);
	json_t *b2b = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "sessions",
				(json_int_t)bs.sessions, "anchored", (json_int_t)bs.anchored,
				"deferred", (json_int_t)bs.deferred, "relayed",
				(json_int_t)bs.relayed, "stored", (json_int_t)bs.stored, "failed",
				(json_int_t)bs.failed);
	struct cpm_chat_focus_stats fs;
	struct cpm_chat_ep_stats es;
	cpm_chat_focus_stats(a->focus, &fs);
	cpm_chat_ep_stats(a->msrp, &es);
	json_t *chat = json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"rooms", (json_int_t)fs.rooms,
		"participants", (json_int_t)fs.participants,
		"joins", (json_int_t)fs.joins,
		"refused", (json_int_t)fs.refused,
		"dropped", (json_int_t)fs.dropped,
		"stored", (json_int_t)fs.stored,
		"local_sessions", (json_int_t)es.sessions,
		"received", (json_int_t)es.received,
		"sent", (json_int_t)es.sent,
		"rejected", (json_int_t)es.rejected,
		"overflows", (json_int_t)es.overflows);
	json_t *doms = json_array(), *lsns = json_array();
	for (int i = 0; i < a->conf->server.ndomains; i++)
		json_array_append_new(doms, json_string(a->conf->server.domains[i]));
	for (int i = 0; i < a->conf->sip.nlisten; i++) {
		const struct cpm_conf_listen *l = &a->conf->sip.listen[i];
		json_array_append_new(lsns, json_pack("{s:s, s:s, s:i}", "proto",
						      l->proto, "host", l->host,
						      "port", (int)l->port));
	}
	if (j) {
		json_object_set_new(j, "domains", doms);
		json_object_set_new(j, "sip_listen", lsns);
		json_object_set_new(j, "msrp", msrp);
		json_object_set_new(j, "b2bua", b2b);
		json_object_set_new(j, "chat", chat);
	} else {
		json_decref(b2b);
		json_decref(doms);
		json_decref(lsns);
		json_decref(msrp);
		json_decref(chat);
	}
	cpm_http_reply_json(resp, 200, j);
}

static int http_start(struct app *a, char *err, size_t errsz)
{
	const struct cpm_conf_listen *l = &a->conf->http.listen;
	struct cpm_http_conf hc;
	cpm_http_conf_default(&hc);
	snprintf(hc.server_name, sizeof hc.server_name, "%s", a->conf->server.name);
	hc.lim.max_head = a->conf->http.max_header_size;
	hc.lim.max_body = a->conf->http.max_body_size;
	hc.lim.max_headers = (unsigned)a->conf->http.max_headers;
	hc.idle_timeout_ms = (unsigned)a->conf->http.idle_timeout;
	hc.max_conns = (unsigned)a->conf->http.max_connections;
	hc.max_out_buf = a->conf->http.max_out_buffer;
	int rc = cpm_http_new(a->loop, &hc, &a->http);
	if (!rc)
		rc = cpm_http_route(a->http, "GET", "/health", http_health, a);
	if (!rc)
		rc = cpm_http_route(a->http, "GET", "/api/v1/status", http_status, a);
	if (!rc)
		rc = cpm_app_api_new(a->http, a->core, a->im, a->pres, &a->api);
	if (!rc)
		rc = cpm_http_listen(a->http, (const struct sockaddr *)&l->addr);
	if (rc)
		snprintf(err, errsz, "cannot start HTTP on %s%s%s:%u (http.listen): %s",
			 l->family == AF_INET6 ? "[" : "", l->host,
			 l->family == AF_INET6 ? "]" : "", l->port,
			 rc == CPM_EIO ? "bind failed (address in use?)" : cpm_strerror(rc));
	return rc;
}

static void on_stopped(void *arg)
{
	struct app *a = arg;
	a->stopped = true;
	/* unfinished mails end (CPM_ECLOSED) while the controller lives */
	cpm_iwf_free(a->iwf);
	a->iwf = NULL;
	cpm_im_ctl_free(a->im);
	a->im = NULL;
	cpm_chat_b2b_free(a->b2b); /* after im: its store callbacks are done */
	a->b2b = NULL;
	cpm_pres_free(a->pres);
	a->pres = NULL;
	cpm_chat_focus_free(a->focus);
	a->focus = NULL;
	cpm_chat_relay_free(a->msrp);
	a->msrp = NULL;
	cpm_http_free(a->http);
	a->http = NULL;
	uv_close((uv_handle_t *)&a->sigterm, NULL);
	uv_close((uv_handle_t *)&a->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct app *a = h->data;
	cpm_logn(NULL, "signal %s: shutting down", signum == SIGTERM ? "TERM" : "INT");
	if (a->http)
		cpm_http_stop_accepting(a->http);
	cpm_im_ctl_stop(a->im);
	cpm_chat_b2b_stop(a->b2b);
	cpm_pres_stop(a->pres);
	cpm_iwf_stop(a->iwf);
	cpm_chat_focus_stop(a->focus);
	cpm_chat_relay_stop(a->msrp);
	cpm_core_shutdown(a->core, on_stopped, a);
}

/* The message controller's forward:mailto: goes out through the iwf. */
static int mail_forward(void *arg, const struct cpm_store_msg *m, const char *rcpt,
			cpm_im_mail_done *done, void *cbarg)
{
	struct cpm_iwf *iw = arg;
	if (!iw || !cpm_iwf_enabled(iw))
		return CPM_EUNSUPP;
	struct cpm_iwf_mail mail;
	cpm_iwf_mail_from_store(&mail, m, rcpt);
	return cpm_iwf_mail_send(iw, &mail, done, cbarg);
}

static void mwi_changed(void *arg, const char *aor)
{
	cpm_pres_changed(arg, "message-summary", aor);
}

/* presence became open (seeds 001/002): deliver what waits, as a REGISTER does */
static void presence_open(void *arg, const char *aor)
{
	cpm_im_ctl_user_back(arg, aor);
}

/* registration state feeds presence (issue 5): a user's first device up,
 * or last device gone, changes what watchers see */
static void binding_changed(void *arg, const char *aor, const char *contact, const char *device,
			    enum cpm_core_binding_event ev, unsigned live_left)
{
	if ((ev == CPM_CORE_BINDING_SAVED && live_left == 1) ||
	    (ev != CPM_CORE_BINDING_SAVED && live_left == 0))
		cpm_pres_changed(arg, "presence", aor);
}

/* presence refused an INVITE for a busy user: a notice for later */
static void missed_session(void *arg, const char *aor, const char *caller, const char *display)
{
	char text[900], when[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%SZ", &tm);
	snprintf(text, sizeof text, "missed session from %s%s%s%s at %s (you were busy)", display,
		 display[0] ? " <" : "", caller, display[0] ? ">" : "", when);
	cpm_im_ctl_notice(arg, aor, caller, display, text);
}

static int run_server(const struct cpm_conf *conf)
{
	if (mkdir_p(conf->server.data_dir)) {
		fprintf(stderr, "cpmd: cannot create data directory %s: %s\n",
			conf->server.data_dir, strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	struct app a = { .loop = uv_default_loop(), .conf = conf,
			 .start_ms = cpm_now_ms() };
	char err[512] = "";
	int rc = cpm_core_new(a.loop, conf, &a.core, err, sizeof err);
	if (rc) {
		fprintf(stderr, "cpmd: %s\n", err[0] ? err : cpm_strerror(rc));
		return 1;
	}
	rc = cpm_im_ctl_new(a.core, &a.im);
	if (rc) {
		fprintf(stderr, "cpmd: services: %s\n", cpm_strerror(rc));
		cpm_im_ctl_free(a.im);
		cpm_core_free(a.core);
		return 1;
	}
	if (!rc && cpm_iwf_new(a.loop, conf, &a.iwf) == 0)
		cpm_im_ctl_set_mailer(a.im, mail_forward, a.iwf);
	else if (!rc)
		cpm_logw(NULL, "e-mail gateway unavailable: forward:mailto: answers 480");
	if (cpm_chat_relay_new(a.core, &a.msrp, err, sizeof err)) {
		fprintf(stderr, "cpmd: %s\n", err);
		cpm_chat_relay_free(a.msrp);
		cpm_iwf_free(a.iwf);
		cpm_im_ctl_free(a.im);
		cpm_core_free(a.core);
		uv_run(a.loop, UV_RUN_NOWAIT);
		uv_loop_close(a.loop);
		return 1;
	}
	/* chat rooms: the focus takes INVITEs to the store's rooms */
	if (cpm_chat_relay_port(a.msrp) && cpm_chat_focus_new(a.core, a.msrp, &a.focus))
		cpm_logw(NULL, "chat rooms unavailable (focus)");
	/* services are offered requests in this order: rooms (focus), then
	 * anchored 1:1 chats (B2BUA), then presence, which answers INVITEs
	 * for busy users (the B2BUA offers those the deferred chat first) */
	rc = cpm_chat_b2b_new(a.core, a.im, cpm_chat_relay_port(a.msrp) ? a.msrp : NULL, &a.b2b);
	if (!rc)
		rc = cpm_pres_new(a.core, &a.pres);
	cpm_chat_b2b_set_pres(a.b2b, a.pres);
	if (rc) {
		fprintf(stderr, "cpmd: services: %s\n", cpm_strerror(rc));
		cpm_chat_b2b_free(a.b2b);
		cpm_pres_free(a.pres);
		cpm_chat_focus_free(a.focus);
		cpm_chat_relay_free(a.msrp);
		cpm_iwf_free(a.iwf);
		cpm_im_ctl_free(a.im);
		cpm_core_free(a.core);
		uv_run(a.loop, UV_RUN_NOWAIT);
		uv_loop_close(a.loop);
		return 1;
	}
	cpm_chat_focus_set_pres(a.focus, a.pres); /* conference event package */
	cpm_chat_focus_set_im(a.focus, a.im);     /* offline members of a room */
	/* message waiting follows the store-and-forward queue */
	cpm_im_ctl_on_change(a.im, mwi_changed, a.pres);
	cpm_pres_on_open(a.pres, presence_open, a.im);
	cpm_core_on_binding(a.core, binding_changed, a.pres);
	cpm_pres_on_missed(a.pres, missed_session, a.im);
	if (conf->http.listen.port != 0 && http_start(&a, err, sizeof err)) {
		fprintf(stderr, "cpmd: %s\n", err);
		cpm_http_free(a.http);
		cpm_app_api_free(a.api);
		cpm_iwf_free(a.iwf);
		cpm_chat_focus_free(a.focus);
		cpm_chat_relay_free(a.msrp);
		cpm_im_ctl_free(a.im);
		cpm_chat_b2b_free(a.b2b);
		cpm_pres_free(a.pres);
		cpm_core_free(a.core);
		uv_run(a.loop, UV_RUN_NOWAIT);
		uv_loop_close(a.loop);
		return 1;
	}
	uv_signal_init(a.loop, &a.sigterm);
	uv_signal_init(a.loop, &a.sigint);
	a.sigterm.data = a.sigint.data = &a;
	uv_signal_start(&a.sigterm, on_signal, SIGTERM);
	uv_signal_start(&a.sigint, on_signal, SIGINT);

	char listen[1024] = "";
	size_t n = 0;
	for (int i = 0; i < conf->sip.nlisten && n < sizeof listen - 80; i++) {
		const struct cpm_conf_listen *l = &conf->sip.listen[i];
		n += (size_t)snprintf(listen + n, sizeof listen - n, "%s%s:%s%s%s:%u",
				      i ? "," : "", l->proto,
				      l->family == AF_INET6 ? "[" : "", l->host,
				      l->family == AF_INET6 ? "]" : "", l->port);
	}
	cpm_logn(NULL, "cpmd ready: version %s, sip %s, domains %s%s, store %s",
		 CPMD_VERSION, listen, conf->server.domains[0],
		 conf->server.ndomains > 1 ? ",..." : "", conf->store.url);
	uv_run(a.loop, UV_RUN_DEFAULT);
	cpm_http_free(a.http);
	cpm_app_api_free(a.api);
	cpm_iwf_free(a.iwf);
	cpm_chat_focus_free(a.focus);
	cpm_chat_relay_free(a.msrp);
	cpm_im_ctl_free(a.im);
	cpm_chat_b2b_free(a.b2b);
	cpm_pres_free(a.pres);
	cpm_core_free(a.core);
	uv_run(a.loop, UV_RUN_NOWAIT);
	int close_rc = uv_loop_close(a.loop);
	if (close_rc)
		cpm_logd(NULL, "loop close: %s", uv_strerror(close_rc));
	return a.stopped ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct cpm_conf conf;
	cpm_conf_defaults(&conf);
	const char *file = NULL;
	bool check = false, dump = false;
	char err[1024];
	/* two passes: the file first, then the -o overrides over it */
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-c") == 0 && i + 1 < argc) {
			file = argv[++i];
		} else if (strcmp(a, "-o") == 0 && i + 1 < argc) {
			i++;
		} else if (strcmp(a, "-t") == 0 || strcmp(a, "--check") == 0) {
			check = true;
		} else if (strcmp(a, "--dump-config") == 0) {
			dump = true;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("cpmd %s\n", CPMD_VERSION);
			return 0;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (a[0] == '-') {
			fprintf(stderr, "cpmd: unknown option '%s' (see cpmd --help)\n", a);
			return 2;
		} else {
			break;
		}
	}
	int cmd = i;
	if (file && cpm_conf_load_file(&conf, file, err, sizeof err)) {
		fprintf(stderr, "cpmd: %s\n", err);
		return 1;
	}
	for (i = 1; i < cmd; i++)
		if (strcmp(argv[i], "-o") == 0 && i + 1 < cmd) {
			if (cpm_conf_set_arg(&conf, argv[++i], err, sizeof err)) {
				fprintf(stderr, "cpmd: -o %s: %s\n", argv[i], err);
				return 1;
			}
		} else if (strcmp(argv[i], "-c") == 0) {
			i++;
		}
	if (cpm_conf_validate(&conf, err, sizeof err)) {
		fprintf(stderr, "cpmd: configuration: %s\n", err);
		return 1;
	}
	cpm_log_set_level(conf.server.log_level);
	if (dump)
		return cpm_conf_dump(&conf, stdout) ? 1 : 0;
	if (check) {
		printf("cpmd: configuration OK\n");
		return 0;
	}
	if (cmd < argc) {
		bool user = strcmp(argv[cmd], "user") == 0;
		bool room = strcmp(argv[cmd], "room") == 0;
		if (user || room || strcmp(argv[cmd], "presence") == 0) {
			if (mkdir_p(conf.server.data_dir)) {
				fprintf(stderr, "cpmd: cannot create %s: %s\n",
					conf.server.data_dir, strerror(errno));
				return 1;
			}
			if (user)
				return cpm_app_user_main(&conf, argc - cmd - 1, argv + cmd + 1);
			if (room)
				return cpm_app_room_main(&conf, argc - cmd - 1, argv + cmd + 1);
			return cpm_pres_cli_main(&conf, argc - cmd - 1, argv + cmd + 1);
		}
		fprintf(stderr, "cpmd: unknown command '%s' (see cpmd --help)\n", argv[cmd]);
		return 2;
	}
	int rc = run_server(&conf);
	cpm_conf_free(&conf);
	return rc;
}
