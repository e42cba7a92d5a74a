/* The configuration: directive table, INI parser, overrides, dump. */
#include "conf/conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- the directives */

#define FIELD(f) offsetof(struct cpm_conf, f), sizeof(((struct cpm_conf *)0)->f)
#define KB 1024ll
#define MB (1024ll * 1024ll)

const struct cpm_conf_directive cpm_conf_directives[] = {
	/* [server] */
	{ "server", "domain", CPM_CONF_T_DOMAINS, "example.test,127.0.0.1,localhost",
	  "", "served domains: AoRs and Request-URIs in these are local",
	  FIELD(server.domains), 1, CPM_CONF_MAX_DOMAINS },
	{ "server", "data_dir", CPM_CONF_T_STR, "./var", "",
	  "directory for runtime data", FIELD(server.data_dir), 1, 0 },
	{ "server", "log_level", CPM_CONF_T_LOGLEVEL, "notice", "",
	  "least severe level logged", FIELD(server.log_level), 0, 0 },
	{ "server", "name", CPM_CONF_T_STR, "cpmd", "",
	  "Server / User-Agent header value", FIELD(server.name), 1, 0 },
	{ "server", "shutdown_grace", CPM_CONF_T_INT, "5", "s",
	  "time given to running transactions on SIGTERM",
	  FIELD(server.shutdown_grace), 0, 3600 },
	/* [sip] */
	{ "sip", "listen", CPM_CONF_T_LISTEN_LIST,
	  "udp:127.0.0.1:5060,tcp:127.0.0.1:5060", "",
	  "SIP listening sockets", FIELD(sip.listen), 1, CPM_CONF_MAX_LISTEN },
	{ "sip", "max_message_size", CPM_CONF_T_SIZE, "65535", "bytes",
	  "largest SIP message accepted", FIELD(sip.max_message_size), 1 * KB,
	  16 * MB },
	{ "sip", "max_headers", CPM_CONF_T_INT, "100", "",
	  "most header fields in one message", FIELD(sip.max_headers), 10,
	  10000 },
	{ "sip", "max_header_line", CPM_CONF_T_SIZE, "8192", "bytes",
	  "longest header field (with folding)", FIELD(sip.max_header_line),
	  256, 1 * MB },
	{ "sip", "tcp_idle_timeout", CPM_CONF_T_INT, "600", "s",
	  "idle TCP connections are closed after this",
	  FIELD(sip.tcp_idle_timeout), 1, 86400 },
	{ "sip", "tcp_max_connections", CPM_CONF_T_INT, "4096", "",
	  "most simultaneous TCP connections", FIELD(sip.tcp_max_connections), 1,
	  1000000 },
	{ "sip", "tcp_max_out_buffer", CPM_CONF_T_SIZE, "1048576", "bytes",
	  "unsent data queued per TCP connection before it is dropped",
	  FIELD(sip.tcp_max_out_buffer), 4 * KB, 1024 * MB },
	{ "sip", "udp_rcvbuf", CPM_CONF_T_SIZE, "4194304", "bytes",
	  "UDP socket receive buffer (SO_RCVBUF), 0 = system default",
	  FIELD(sip.udp_rcvbuf), 0, 1024 * MB },
	{ "sip", "t1", CPM_CONF_T_INT, "500", "ms", "RFC 3261 timer T1 (RTT estimate)",
	  FIELD(sip.t1), 1, 60000 },
	{ "sip", "t2", CPM_CONF_T_INT, "4000", "ms",
	  "RFC 3261 timer T2 (max retransmit interval)", FIELD(sip.t2), 1,
	  600000 },
	{ "sip", "t4", CPM_CONF_T_INT, "5000", "ms",
	  "RFC 3261 timer T4 (max message lifetime)", FIELD(sip.t4), 0, 600000 },
	{ "sip", "max_transactions", CPM_CONF_T_INT, "1000000", "",
	  "most live transactions; beyond, requests get 503",
	  FIELD(sip.max_transactions), 1, 100000000 },
	{ "sip", "record_route", CPM_CONF_T_BOOL, "yes", "",
	  "insert Record-Route in proxied dialog-creating requests",
	  FIELD(sip.record_route), 0, 0 },
	{ "sip", "max_branches", CPM_CONF_T_INT, "16", "",
	  "most forks of one proxied request", FIELD(sip.max_branches), 1, 256 },
	/* [registrar] */
	{ "registrar", "min_expires", CPM_CONF_T_INT, "60", "s",
	  "shortest registration accepted (423 below)",
	  FIELD(registrar.min_expires), 1, 86400 },
	{ "registrar", "max_expires", CPM_CONF_T_INT, "3600", "s",
	  "longer registrations are shortened to this",
	  FIELD(registrar.max_expires), 1, 31536000 },
	{ "registrar", "default_expires", CPM_CONF_T_INT, "3600", "s",
	  "registration time when the REGISTER gives none",
	  FIELD(registrar.default_expires), 1, 31536000 },
	{ "registrar", "max_contacts", CPM_CONF_T_INT, "10", "",
	  "most bindings per AoR", FIELD(registrar.max_contacts), 1, 1000 },
	/* [auth] */
	{ "auth", "realm", CPM_CONF_T_STR, "", "",
	  "digest realm; empty = the domain of the request",
	  FIELD(auth.realm), 0, 0 },
	{ "auth", "trusted", CPM_CONF_T_CIDRS, "", "",
	  "addresses (IP or IP/PREFIX list) whose requests skip authentication",
	  FIELD(auth.trusted), 0, CPM_CONF_MAX_TRUSTED },
	{ "auth", "nonce_ttl", CPM_CONF_T_INT, "300", "s",
	  "lifetime of a digest nonce", FIELD(auth.nonce_ttl), 1, 86400 },
	{ "auth", "algorithms", CPM_CONF_T_ALGS, "SHA-256,MD5", "",
	  "digest algorithms offered, in challenge order",
	  FIELD(auth.algorithms), 1, 2 },
	{ "auth", "register", CPM_CONF_T_BOOL, "yes", "",
	  "challenge REGISTER requests", FIELD(auth.challenge_register), 0, 0 },
	{ "auth", "max_nonces", CPM_CONF_T_INT, "100000", "",
	  "most outstanding nonces remembered", FIELD(auth.max_nonces), 1,
	  100000000 },
	/* [http] */
	{ "http", "listen", CPM_CONF_T_LISTEN_ONE, "127.0.0.1:8080", "",
	  "HTTP API socket IP:PORT; empty = no HTTP API", FIELD(http.listen), 0,
	  0 },
	{ "http", "max_header_size", CPM_CONF_T_SIZE, "16384", "bytes",
	  "request line and headers of one request; beyond, 431",
	  FIELD(http.max_header_size), 512, 1048576 },
	{ "http", "max_body_size", CPM_CONF_T_SIZE, "1048576", "bytes",
	  "request body; beyond, 413", FIELD(http.max_body_size), 0, 1073741824 },
	{ "http", "max_headers", CPM_CONF_T_INT, "64", "",
	  "header fields of one request; beyond, 431", FIELD(http.max_headers), 1, 128 },
	{ "http", "idle_timeout", CPM_CONF_T_INT, "30000", "ms",
	  "an idle connection, or one request arriving slower than this, is closed",
	  FIELD(http.idle_timeout), 100, 3600000 },
	{ "http", "max_connections", CPM_CONF_T_INT, "1024", "",
	  "most open HTTP connections; beyond, 503 and close",
	  FIELD(http.max_connections), 1, 1000000 },
	{ "http", "max_out_buffer", CPM_CONF_T_SIZE, "4194304", "bytes",
	  "unsent response bytes per connection before it stops reading",
	  FIELD(http.max_out_buffer), 4096, 1073741824 },
	{ "http", "public_url", CPM_CONF_T_STR, "", "",
	  "base of the URLs given to users (message pick-up); empty = http://LISTEN",
	  FIELD(http.public_url), 0, 0 },
	/* [msrp] */
	{ "msrp", "listen", CPM_CONF_T_LISTEN_ONE, "127.0.0.1:2855", "",
	  "MSRP relay socket IP:PORT (RFC 4976, TCP); empty = no MSRP relay",
	  FIELD(msrp.listen), 0, 0 },
	{ "msrp", "host", CPM_CONF_T_STR, "", "",
	  "host in the relay's msrp: URIs (Use-Path); empty = the msrp.listen address",
	  FIELD(msrp.host), 0, 0 },
	{ "msrp", "max_connections", CPM_CONF_T_INT, "1024", "",
	  "open MSRP connections at most, accepted and opened; beyond, closed at once",
	  FIELD(msrp.max_connections), 1, 1000000 },
	{ "msrp", "idle_timeout", CPM_CONF_T_INT, "300", "s",
	  "a connection without traffic either way is closed after this",
	  FIELD(msrp.idle_timeout), 1, 86400 },
	{ "msrp", "max_out_buffer", CPM_CONF_T_SIZE, "262144", "bytes",
	  "unsent bytes queued per connection; above it, whoever sends to it is not read",
	  FIELD(msrp.max_out_buffer), 4 * KB, 1024 * MB },
	{ "msrp", "max_header_size", CPM_CONF_T_SIZE, "16384", "bytes",
	  "start line and header fields of one MSRP request or response",
	  FIELD(msrp.max_header_size), 512, 1 * MB },
	{ "msrp", "max_sessions", CPM_CONF_T_INT, "100000", "",
	  "relay sessions handed out by AUTH (Use-Path URIs) at most; beyond, 403",
	  FIELD(msrp.max_sessions), 1, 100000000 },
	{ "msrp", "min_expires", CPM_CONF_T_INT, "60", "s",
	  "shortest AUTH lifetime granted (423 with Min-Expires below)",
	  FIELD(msrp.min_expires), 1, 86400 },
	{ "msrp", "max_expires", CPM_CONF_T_INT, "3600", "s",
	  "longest AUTH lifetime granted (423 with Max-Expires above)",
	  FIELD(msrp.max_expires), 1, 31536000 },
	{ "msrp", "default_expires", CPM_CONF_T_INT, "1800", "s",
	  "AUTH lifetime when the AUTH asks for none",
	  FIELD(msrp.default_expires), 1, 31536000 },
	{ "msrp", "transaction_timeout", CPM_CONF_T_INT, "30", "s",
	  "wait for the next hop's response to a relayed SEND; then a 408 REPORT",
	  FIELD(msrp.transaction_timeout), 1, 600 },
	{ "msrp", "connect_timeout", CPM_CONF_T_INT, "10", "s",
	  "wait for a TCP connection to a next hop",
	  FIELD(msrp.connect_timeout), 1, 600 },
	/* [b2bua] */
	{ "b2bua", "anchor", CPM_CONF_T_STR, "requested", "",
	  "anchored 1:1 chats: never, requested (the seed's m=messaging line or "
	  "a=cpm-anchor) or always (also every MSRP chat)",
	  FIELD(b2bua.anchor), 1, 0 },
	{ "b2bua", "deferred", CPM_CONF_T_BOOL, "yes", "",
	  "answer an anchored chat for an offline or busy callee and store what the caller "
	  "writes (when the callee's profile lets the server store)",
	  FIELD(b2bua.deferred), 0, 0 },
	{ "b2bua", "invite_timeout", CPM_CONF_T_INT, "60", "s",
	  "how long the callee's leg may ring; then CANCEL and 408 to the caller",
	  FIELD(b2bua.invite_timeout), 1, 600 },
	{ "b2bua", "history", CPM_CONF_T_BOOL, "yes", "",
	  "keep the messages of every S&F-mode session (sender, date, body) in the store",
	  FIELD(b2bua.history), 0, 0 },
	/* [chat] */
	{ "chat", "max_message_size", CPM_CONF_T_SIZE, "1048576", "bytes",
	  "largest message a local session (a room) takes; its chunks get 413 beyond",
	  FIELD(chat.max_message_size), 1 * KB, 1024 * MB },
	{ "chat", "max_queue", CPM_CONF_T_SIZE, "1048576", "bytes",
	  "unsent bytes towards one room participant; beyond, it is dropped",
	  FIELD(chat.max_queue), 4 * KB, 1024 * MB },
	{ "chat", "chunk_size", CPM_CONF_T_SIZE, "16384", "bytes",
	  "messages the server sends larger than this go in chunks of this size",
	  FIELD(chat.chunk_size), 256, 16 * MB },
	{ "chat", "history", CPM_CONF_T_INT, "20", "",
	  "room messages a participant gets when it joins (0: none)",
	  FIELD(chat.history), 0, 10000 },
	{ "chat", "max_participants", CPM_CONF_T_INT, "1000", "",
	  "participants of one room at most; a join beyond gets 486",
	  FIELD(chat.max_participants), 1, 1000000 },
	{ "chat", "factory", CPM_CONF_T_STR, "conf", "",
	  "user part of the conference factory URI in every served domain (an INVITE with a URI "
	  "list creates an ad-hoc room); empty = no ad-hoc conferences",
	  FIELD(chat.factory), 0, 0 },
	/* [im] */
	{ "im", "store_and_forward", CPM_CONF_T_BOOL, "yes", "",
	  "keep MESSAGEs that cannot be delivered now (202) and deliver them later",
	  FIELD(im.store_and_forward), 0, 0 },
	{ "im", "max_messages", CPM_CONF_T_INT, "1000", "",
	  "stored messages per user; beyond, 486; 0 = no limit", FIELD(im.max_messages),
	  0, 100000000 },
	{ "im", "max_bytes", CPM_CONF_T_SIZE, "16777216", "bytes",
	  "stored body bytes per user; beyond, 507; 0 = no limit", FIELD(im.max_bytes), 0,
	  (int64_t)1 << 40 },
	{ "im", "max_lifetime", CPM_CONF_T_INT, "604800", "s",
	  "longest a stored message is kept (the sender's Expires may shorten it)",
	  FIELD(im.max_lifetime), 1, 315360000 },
	{ "im", "retry_interval", CPM_CONF_T_INT, "30", "s",
	  "first wait before retrying a failed delivery (doubles, up to 32 times it)",
	  FIELD(im.retry_interval), 1, 86400 },
	{ "im", "delivery_batch", CPM_CONF_T_INT, "256", "",
	  "stored messages read per delivery round to one device", FIELD(im.delivery_batch),
	  1, 10000 },
	{ "im", "delivery_window", CPM_CONF_T_INT, "16", "",
	  "stored messages in flight (sent, not yet answered) to one device",
	  FIELD(im.delivery_window), 1, 1000 },
	{ "im", "max_inline_size", CPM_CONF_T_SIZE, "1300", "bytes",
	  "a stored body larger than this is not pushed in a MESSAGE: the user gets a "
	  "message/external-body notice and fetches it over HTTP; 0 = always push",
	  FIELD(im.max_inline_size), 0, 16777216 },
	{ "im", "max_list_recipients", CPM_CONF_T_INT, "100", "",
	  "distinct recipients of one URI-list MESSAGE (RFC 5365); beyond, 403",
	  FIELD(im.max_list_recipients), 1, 10000 },
	{ "im", "sweep_interval", CPM_CONF_T_INT, "60", "s",
	  "seconds between two removals of expired stored messages (with their reports)",
	  FIELD(im.sweep_interval), 1, 86400 },
	/* [smtp] */
	{ "smtp", "url", CPM_CONF_T_SMTP_URL, "", "",
	  "SMTP server of the e-mail interworking function; empty = no e-mail",
	  FIELD(smtp.url), 0, 0 },
	{ "smtp", "from", CPM_CONF_T_STR, "", "",
	  "envelope and header sender of forwarded mails; empty = cpmd@<first server.domain>",
	  FIELD(smtp.from), 0, 0 },
	{ "smtp", "tls", CPM_CONF_T_SMTP_TLS, "no", "",
	  "no, starttls (required) or yes (implicit TLS, smtps://)",
	  FIELD(smtp.tls), 0, 0 },
	{ "smtp", "ca_file", CPM_CONF_T_STR, "", "",
	  "CA certificates (PEM) that verify the SMTP server; empty = the system's",
	  FIELD(smtp.ca_file), 0, 0 },
	{ "smtp", "username", CPM_CONF_T_STR, "", "",
	  "SMTP AUTH user name; empty = no authentication",
	  FIELD(smtp.username), 0, 0 },
	{ "smtp", "password", CPM_CONF_T_STR, "", "",
	  "SMTP AUTH password", FIELD(smtp.password), 0, 0 },
	{ "smtp", "timeout", CPM_CONF_T_INT, "30", "s",
	  "longest one mail transaction may take (connect to the final reply)",
	  FIELD(smtp.timeout), 1, 3600 },
	{ "smtp", "max_in_flight", CPM_CONF_T_INT, "8", "",
	  "simultaneous SMTP transactions (connections)", FIELD(smtp.max_in_flight),
	  1, 1024 },
	{ "smtp", "max_queue", CPM_CONF_T_INT, "1000", "",
	  "mails waiting for a free transaction; beyond, the mail is refused",
	  FIELD(smtp.max_queue), 0, 1000000 },
	/* [presence] */
	{ "presence", "min_expires", CPM_CONF_T_INT, "60", "s",
	  "shortest PUBLISH/SUBSCRIBE lifetime accepted; shorter gets 423 with Min-Expires",
	  FIELD(presence.min_expires), 1, 86400 },
	{ "presence", "max_expires", CPM_CONF_T_INT, "3600", "s",
	  "longest PUBLISH/SUBSCRIBE lifetime granted; longer is lowered",
	  FIELD(presence.max_expires), 1, 86400 },
	{ "presence", "default_expires", CPM_CONF_T_INT, "3600", "s",
	  "lifetime of a PUBLISH/SUBSCRIBE without Expires",
	  FIELD(presence.default_expires), 1, 86400 },
	{ "presence", "max_publications_per_user", CPM_CONF_T_INT, "16", "",
	  "publications (devices) kept per user; one more replaces the oldest",
	  FIELD(presence.max_publications_per_user), 1, 1000 },
	{ "presence", "max_publications", CPM_CONF_T_INT, "100000", "",
	  "publications kept in all; beyond, 503", FIELD(presence.max_publications), 1,
	  10000000 },
	{ "presence", "replace_same_source", CPM_CONF_T_BOOL, "yes", "",
	  "an initial PUBLISH from the transport address of one of the user's publications "
	  "replaces it (a device that lost or raced its entity-tag leaves no stale state)",
	  FIELD(presence.replace_same_source), 0, 0 },
	{ "presence", "max_pidf_size", CPM_CONF_T_SIZE, "16384", "bytes",
	  "largest PIDF document in a PUBLISH; larger gets 413",
	  FIELD(presence.max_pidf_size), 256, 1 * MB },
	{ "presence", "max_subscriptions", CPM_CONF_T_INT, "100000", "",
	  "subscriptions held in all (every event package); beyond, 503",
	  FIELD(presence.max_subscriptions), 1, 10000000 },
	{ "presence", "max_watchers", CPM_CONF_T_INT, "10000", "",
	  "subscriptions to one user's presence; beyond, 503", FIELD(presence.max_watchers),
	  1, 10000000 },
	{ "presence", "min_notify_interval", CPM_CONF_T_INT, "5000", "ms",
	  "least time between two NOTIFYs of one presence or watcher-info subscription; "
	  "changes meanwhile are merged into one later NOTIFY",
	  FIELD(presence.min_notify_interval), 0, 3600000 },
	{ "presence", "busy_status", CPM_CONF_T_INT, "486", "",
	  "answer to an INVITE for a user whose presence says busy or do-not-disturb "
	  "(486 or 480; 0 = fork it as usual)",
	  FIELD(presence.busy_status), 0, 699 },
	{ "presence", "default_policy", CPM_CONF_T_STR, "confirm", "",
	  "a watcher in neither the allow nor the block list of a user: allow, confirm "
	  "(pending until the user decides) or block",
	  FIELD(presence.default_policy), 1, 0 },
	{ "presence", "max_conference_users", CPM_CONF_T_INT, "1000", "",
	  "users of one conference tracked for its watchers (RFC 4575): participants, "
	  "invited users, and who left until every watcher was told",
	  FIELD(presence.max_conference_users), 1, 100000 },
	{ "presence", "max_rules", CPM_CONF_T_INT, "1000", "",
	  "entries of one user's allow, block and pending lists together",
	  FIELD(presence.max_rules), 1, 100000 },
	{ "presence", "from_registration", CPM_CONF_T_BOOL, "yes", "",
	  "a user who published nothing is open while a device is registered, else closed",
	  FIELD(presence.from_registration), 0, 0 },
	{ "presence", "unregistered", CPM_CONF_T_STR, "published", "",
	  "a user with no registered device: published (the publications speak) or closed",
	  FIELD(presence.unregistered), 1, 0 },
	/* [store] */
	{ "store", "url", CPM_CONF_T_STORE_URL, "sqlite:./var/cpmd.db", "",
	  "database of users and registrations", FIELD(store.url), 0, 0 },
	{ "store", "busy_timeout", CPM_CONF_T_INT, "5000", "ms",
	  "wait for a database locked by another process",
	  FIELD(store.busy_timeout), 0, 600000 },
};

const size_t cpm_conf_ndirectives =
	sizeof cpm_conf_directives / sizeof cpm_conf_directives[0];

static const char *const sections[] = { "server", "sip", "registrar", "auth",
					"http", "msrp", "chat", "b2bua", "im", "smtp", "presence",
					"store" };

static const char *const level_names[] = { "error", "warn", "notice", "info",
					    "debug" };

const struct cpm_conf_directive *cpm_conf_directive_find(const char *section,
							 size_t section_len,
							 const char *key,
							 size_t key_len)
{
	for (size_t i = 0; i < cpm_conf_ndirectives; i++) {
		const struct cpm_conf_directive *d = &cpm_conf_directives[i];
		if (strlen(d->section) == section_len &&
		    strncmp(d->section, section, section_len) == 0 &&
		    strlen(d->key) == key_len && strncmp(d->key, key, key_len) == 0)
			return d;
	}
	return NULL;
}

static bool section_known(struct cpm_str s)
{
	for (size_t i = 0; i < sizeof sections / sizeof *sections; i++)
		if (cpm_str_eq_cstr(s, sections[i]))
			return true;
	return false;
}

/* ----------------------------------------------------------- value parsing */

static void errf(char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errsz, const char *fmt, ...)
{
	if (!err || !errsz)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/* The expected form of a directive's value, for error messages. */
static void expected_form(const struct cpm_conf_directive *d, char *out,
			  size_t outsz)
{
	const char *unit = d->unit;
	switch (d->type) {
	case CPM_CONF_T_STR:
		snprintf(out, outsz,
			 "%s text of at most %zu characters, without control "
			 "characters or '\"'",
			 d->min ? "non-empty" : "a", d->size - 1);
		break;
	case CPM_CONF_T_INT:
		snprintf(out, outsz, "an integer from %lld to %lld%s%s%s",
			 (long long)d->min, (long long)d->max,
			 *unit ? " (" : "",
			 strcmp(unit, "s") == 0	   ? "seconds"
			 : strcmp(unit, "ms") == 0 ? "milliseconds"
						   : unit,
			 *unit ? ")" : "");
		break;
	case CPM_CONF_T_SIZE:
		snprintf(out, outsz,
			 "a size in bytes from %lld to %lld, optionally with a "
			 "k (KiB) or M (MiB) suffix",
			 (long long)d->min, (long long)d->max);
		break;
	case CPM_CONF_T_BOOL:
		snprintf(out, outsz, "yes/no, true/false, on/off or 1/0");
		break;
	case CPM_CONF_T_LOGLEVEL:
		snprintf(out, outsz, "one of error, warn, notice, info, debug");
		break;
	case CPM_CONF_T_DOMAINS:
		snprintf(out, outsz,
			 "a comma-separated list of 1 to %d distinct domain names "
			 "or IP addresses (IPv6 in brackets), each shorter than "
			 "%d characters",
			 CPM_CONF_MAX_DOMAINS, CPM_CONF_DOMAIN_LEN);
		break;
	case CPM_CONF_T_LISTEN_LIST:
		snprintf(out, outsz,
			 "a comma-separated list of 1 to %d distinct "
			 "PROTO:IP:PORT (PROTO udp or tcp, IPv6 in brackets), "
			 "e.g. udp:127.0.0.1:5060,tcp:[::1]:5060",
			 CPM_CONF_MAX_LISTEN);
		break;
	case CPM_CONF_T_LISTEN_ONE:
		snprintf(out, outsz,
			 "IP:PORT (IPv6 in brackets), e.g. 127.0.0.1:8080, or "
			 "empty to disable");
		break;
	case CPM_CONF_T_CIDRS:
		snprintf(out, outsz,
			 "a comma-separated list of at most %d IP or IP/PREFIX "
			 "(e.g. 10.0.0.0/8,::1), or empty",
			 CPM_CONF_MAX_TRUSTED);
		break;
	case CPM_CONF_T_ALGS:
		snprintf(out, outsz,
			 "a comma-separated list of SHA-256 and/or MD5, without "
			 "repetition");
		break;
	case CPM_CONF_T_STORE_URL:
		snprintf(out, outsz,
			 "sqlite:PATH, PATH shorter than %zu characters",
			 d->size - sizeof "sqlite:" + 1);
		break;
	case CPM_CONF_T_SMTP_URL:
		snprintf(out, outsz,
			 "empty, or smtp://HOST[:PORT][/EHLO-NAME] or "
			 "smtps://... (HOST a name or an IP, IPv6 in brackets; "
			 "no user@), shorter than %zu characters",
			 d->size);
		break;
	case CPM_CONF_T_SMTP_TLS:
		snprintf(out, outsz, "one of no, starttls, yes");
		break;
	}
}

/* Split a comma list; calls fn on each trimmed element (never on an
 * entirely empty value).  An empty element is an error. */
static int for_each_item(struct cpm_str v,
			 int (*fn)(void *ctx, struct cpm_str item), void *ctx)
{
	v = cpm_str_trim(v);
	if (v.len == 0)
		return 0;
	for (;;) {
		long comma = cpm_str_chr(v, ',');
		struct cpm_str item = { v.s, comma < 0 ? v.len : (size_t)comma };
		item = cpm_str_trim(item);
		if (item.len == 0)
			return CPM_EINVAL;
		int rc = fn(ctx, item);
		if (rc)
			return rc;
		if (comma < 0)
			return 0;
		v.s += comma + 1;
		v.len -= (size_t)comma + 1;
	}
}

static bool has_bad_chars(struct cpm_str v)
{
	for (size_t i = 0; i < v.len; i++) {
		unsigned char ch = (unsigned char)v.s[i];
		if (ch < 0x20 || ch == 0x7f || ch == '"')
			return true;
	}
	return false;
}

static int parse_u64(struct cpm_str v, uint64_t *out)
{
	return cpm_str_to_u64(v, UINT64_MAX / (1024 * 1024), out);
}

static int parse_bool(struct cpm_str v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (int i = 0; i < 4; i++) {
		if (cpm_str_ieq_cstr(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (cpm_str_ieq_cstr(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	return CPM_EINVAL;
}

static bool valid_hostname(struct cpm_str h)
{
	if (h.len == 0 || h.len >= CPM_CONF_DOMAIN_LEN)
		return false;
	if (h.s[0] == '[') {
		char tmp[64];
		struct in6_addr a6;
		if (h.len < 3 || h.s[h.len - 1] != ']' || h.len - 2 >= sizeof tmp)
			return false;
		memcpy(tmp, h.s + 1, h.len - 2);
		tmp[h.len - 2] = '\0';
		return inet_pton(AF_INET6, tmp, &a6) == 1;
	}
	size_t label = 0;
	for (size_t i = 0; i < h.len; i++) {
		char ch = h.s[i];
		if (ch == '.') {
			if (label == 0 || h.s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9');
		if (!alnum && !(ch == '-' && label > 0))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && h.s[h.len - 1] != '-';
}

struct domains_ctx {
	char (*d)[CPM_CONF_DOMAIN_LEN];
	int n;
};

static int domain_item(void *ctx, struct cpm_str item)
{
	struct domains_ctx *dc = ctx;
	if (!valid_hostname(item) || dc->n >= CPM_CONF_MAX_DOMAINS)
		return CPM_EINVAL;
	char low[CPM_CONF_DOMAIN_LEN];
	for (size_t i = 0; i < item.len; i++) {
		char ch = item.s[i];
		low[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
	}
	low[item.len] = '\0';
	for (int i = 0; i < dc->n; i++)
		if (strcmp(dc->d[i], low) == 0)
			return CPM_EINVAL;
	memcpy(dc->d[dc->n++], low, item.len + 1);
	return 0;
}

/* "IP:PORT" or "[IPv6]:PORT" into l (proto left alone). */
static int parse_hostport(struct cpm_str v, struct cpm_conf_listen *l)
{
	struct cpm_str host, port;
	if (v.len && v.s[0] == '[') {
		long close = cpm_str_chr(v, ']');
		if (close < 0 || (size_t)close + 1 >= v.len || v.s[close + 1] != ':')
			return CPM_EINVAL;
		host = (struct cpm_str){ v.s + 1, (size_t)close - 1 };
		port = (struct cpm_str){ v.s + close + 2, v.len - (size_t)close - 2 };
		l->family = AF_INET6;
	} else {
		long colon = cpm_str_chr(v, ':');
		if (colon < 0)
			return CPM_EINVAL;
		host = (struct cpm_str){ v.s, (size_t)colon };
		port = (struct cpm_str){ v.s + colon + 1, v.len - (size_t)colon - 1 };
		l->family = AF_INET;
	}
	uint64_t p;
	if (cpm_str_to_u64(port, 65535, &p) || p == 0)
		return CPM_EINVAL;
	if (cpm_str_copy(host, l->host, sizeof l->host))
		return CPM_EINVAL;
	l->port = (uint16_t)p;
	memset(&l->addr, 0, sizeof l->addr);
	if (l->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&l->addr;
		if (inet_pton(AF_INET, l->host, &sin->sin_addr) != 1)
			return CPM_EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(l->port);
		l->addrlen = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l->addr;
		if (inet_pton(AF_INET6, l->host, &sin6->sin6_addr) != 1)
			return CPM_EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(l->port);
		l->addrlen = sizeof *sin6;
	}
	return 0;
}

static bool listen_same(const struct cpm_conf_listen *a,
			const struct cpm_conf_listen *b)
{
	return strcmp(a->proto, b->proto) == 0 && a->family == b->family &&
	       a->port == b->port && a->addrlen == b->addrlen &&
	       memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

struct listen_ctx {
	struct cpm_conf_listen *l;
	int n;
};

static int listen_item(void *ctx, struct cpm_str item)
{
	struct listen_ctx *lc = ctx;
	if (lc->n >= CPM_CONF_MAX_LISTEN)
		return CPM_EINVAL;
	struct cpm_conf_listen *l = &lc->l[lc->n];
	memset(l, 0, sizeof *l);
	long colon = cpm_str_chr(item, ':');
	if (colon < 0)
		return CPM_EINVAL;
	struct cpm_str proto = { item.s, (size_t)colon };
	if (cpm_str_ieq_cstr(proto, "udp"))
		strcpy(l->proto, "udp");
	else if (cpm_str_ieq_cstr(proto, "tcp"))
		strcpy(l->proto, "tcp");
	else
		return CPM_EINVAL;
	struct cpm_str rest = { item.s + colon + 1, item.len - (size_t)colon - 1 };
	int rc = parse_hostport(rest, l);
	if (rc)
		return rc;
	for (int i = 0; i < lc->n; i++)
		if (listen_same(&lc->l[i], l))
			return CPM_EINVAL;
	lc->n++;
	return 0;
}

struct cidr_ctx {
	struct cpm_conf_cidr *c;
	int n;
};

static int cidr_item(void *ctx, struct cpm_str item)
{
	struct cidr_ctx *cc = ctx;
	if (cc->n >= CPM_CONF_MAX_TRUSTED)
		return CPM_EINVAL;
	struct cpm_conf_cidr *c = &cc->c[cc->n];
	memset(c, 0, sizeof *c);
	long slash = cpm_str_chr(item, '/');
	struct cpm_str addr = { item.s, slash < 0 ? item.len : (size_t)slash };
	char tmp[64];
	if (cpm_str_copy(addr, tmp, sizeof tmp))
		return CPM_EINVAL;
	int maxbits;
	if (inet_pton(AF_INET, tmp, c->addr) == 1) {
		c->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, tmp, c->addr) == 1) {
		c->family = AF_INET6;
		maxbits = 128;
	} else {
		return CPM_EINVAL;
	}
	c->prefix = maxbits;
	if (slash >= 0) {
		uint64_t p;
		struct cpm_str ps = { item.s + slash + 1,
				      item.len - (size_t)slash - 1 };
		if (cpm_str_to_u64(ps, (uint64_t)maxbits, &p))
			return CPM_EINVAL;
		c->prefix = (int)p;
	}
	/* clear the host bits */
	for (int bit = c->prefix; bit < maxbits; bit++)
		c->addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
	cc->n++;
	return 0;
}

struct algs_ctx {
	enum cpm_hash_alg *a;
	int n;
};

static int alg_item(void *ctx, struct cpm_str item)
{
	struct algs_ctx *ac = ctx;
	enum cpm_hash_alg alg;
	if (item.len == 0 || cpm_hash_alg_parse(item, &alg) || ac->n >= 2)
		return CPM_EINVAL;
	for (int i = 0; i < ac->n; i++)
		if (ac->a[i] == alg)
			return CPM_EINVAL;
	ac->a[ac->n++] = alg;
	return 0;
}

static const char *const smtp_tls_names[] = { "no", "starttls", "yes" };

/* smtp.url: "" or smtp[s]://HOST[:PORT][/EHLO-NAME] (RFC 5321 §4.1.1.1: the
 * path is what libcurl sends in EHLO).  No userinfo: credentials are the
 * username/password keys, so that the URL can be logged. */
static int parse_smtp_url(struct cpm_str v, char *field, size_t size)
{
	if (v.len == 0) {
		field[0] = '\0';
		return 0;
	}
	size_t skip;
	if (cpm_str_istarts(v, "smtp://"))
		skip = sizeof "smtp://" - 1;
	else if (cpm_str_istarts(v, "smtps://"))
		skip = sizeof "smtps://" - 1;
	else
		return CPM_EINVAL;
	if (v.len >= size || has_bad_chars(v) || cpm_str_chr(v, ' ') >= 0)
		return CPM_EINVAL;
	struct cpm_str rest = { v.s + skip, v.len - skip };
	long slash = cpm_str_chr(rest, '/');
	struct cpm_str auth = { rest.s, slash < 0 ? rest.len : (size_t)slash };
	if (auth.len == 0 || cpm_str_chr(auth, '@') >= 0 ||
	    cpm_str_chr(rest, '?') >= 0 || cpm_str_chr(rest, '#') >= 0)
		return CPM_EINVAL;
	struct cpm_str host = auth, port = CPM_STR_NULL;
	if (auth.s[0] == '[') {
		long close = cpm_str_chr(auth, ']');
		if (close < 0)
			return CPM_EINVAL;
		host.len = (size_t)close + 1;
		if (host.len < auth.len) {
			if (auth.s[host.len] != ':')
				return CPM_EINVAL;
			port = (struct cpm_str){ auth.s + host.len + 1,
						 auth.len - host.len - 1 };
		}
	} else {
		long colon = cpm_str_chr(auth, ':');
		if (colon >= 0) {
			host.len = (size_t)colon;
			port = (struct cpm_str){ auth.s + colon + 1,
						 auth.len - (size_t)colon - 1 };
		}
	}
	uint64_t p;
	if (!valid_hostname(host) ||
	    (port.s && (cpm_str_to_u64(port, 65535, &p) || p == 0)))
		return CPM_EINVAL;
	memcpy(field, v.s, v.len);
	field[v.len] = '\0';
	for (size_t i = 0; i < skip - 3; i++) /* scheme in lowercase */
		field[i] = (char)(field[i] | 0x20);
	return 0;
}

/* Parse v into the field of d; CPM_EINVAL on a bad value.  The field is
 * only written on success. */
static int parse_value(const struct cpm_conf_directive *d, struct cpm_conf *c,
		       struct cpm_str v)
{
	char *field = (char *)c + d->offset;
	v = cpm_str_trim(v);
	switch (d->type) {
	case CPM_CONF_T_STR:
		if (v.len >= d->size || (d->min && v.len == 0) || has_bad_chars(v))
			return CPM_EINVAL;
		memcpy(field, v.s, v.len);
		field[v.len] = '\0';
		return 0;
	case CPM_CONF_T_INT: {
		uint64_t n;
		if (cpm_str_to_u64(v, (uint64_t)d->max, &n) || (int64_t)n < d->min)
			return CPM_EINVAL;
		*(int *)field = (int)n;
		return 0;
	}
	case CPM_CONF_T_SIZE: {
		uint64_t n, mult = 1;
		if (v.len && (v.s[v.len - 1] == 'k' || v.s[v.len - 1] == 'K'))
			mult = KB;
		else if (v.len && (v.s[v.len - 1] == 'M' || v.s[v.len - 1] == 'm'))
			mult = MB;
		if (mult != 1)
			v.len--;
		if (parse_u64(v, &n) || n * mult > (uint64_t)d->max ||
		    n * mult < (uint64_t)d->min)
			return CPM_EINVAL;
		*(size_t *)field = (size_t)(n * mult);
		return 0;
	}
	case CPM_CONF_T_BOOL:
		return parse_bool(v, (bool *)field);
	case CPM_CONF_T_LOGLEVEL:
		for (int i = 0; i < 5; i++)
			if (cpm_str_ieq_cstr(v, level_names[i])) {
				*(int *)field = i;
				return 0;
			}
		return CPM_EINVAL;
	case CPM_CONF_T_DOMAINS: {
		char tmp[CPM_CONF_MAX_DOMAINS][CPM_CONF_DOMAIN_LEN];
		struct domains_ctx dc = { tmp, 0 };
		if (for_each_item(v, domain_item, &dc) || dc.n < d->min)
			return CPM_EINVAL;
		memcpy(c->server.domains, tmp, sizeof tmp);
		c->server.ndomains = dc.n;
		return 0;
	}
	case CPM_CONF_T_LISTEN_LIST: {
		struct cpm_conf_listen tmp[CPM_CONF_MAX_LISTEN];
		struct listen_ctx lc = { tmp, 0 };
		if (for_each_item(v, listen_item, &lc) || lc.n < d->min)
			return CPM_EINVAL;
		memset(c->sip.listen, 0, sizeof c->sip.listen);
		memcpy(c->sip.listen, tmp, sizeof tmp[0] * (size_t)lc.n);
		c->sip.nlisten = lc.n;
		return 0;
	}
	case CPM_CONF_T_LISTEN_ONE: {
		struct cpm_conf_listen l;
		memset(&l, 0, sizeof l);
		strcpy(l.proto, "tcp");
		if (v.len && parse_hostport(v, &l))
			return CPM_EINVAL;
		*(struct cpm_conf_listen *)field = l;
		return 0;
	}
	case CPM_CONF_T_CIDRS: {
		struct cpm_conf_cidr tmp[CPM_CONF_MAX_TRUSTED];
		struct cidr_ctx cc = { tmp, 0 };
		if (for_each_item(v, cidr_item, &cc))
			return CPM_EINVAL;
		memset(c->auth.trusted, 0, sizeof c->auth.trusted);
		memcpy(c->auth.trusted, tmp, sizeof tmp[0] * (size_t)cc.n);
		c->auth.ntrusted = cc.n;
		return 0;
	}
	case CPM_CONF_T_ALGS: {
		enum cpm_hash_alg tmp[2];
		struct algs_ctx ac = { tmp, 0 };
		if (for_each_item(v, alg_item, &ac) || ac.n < 1)
			return CPM_EINVAL;
		memcpy(c->auth.algorithms, tmp, sizeof tmp);
		c->auth.nalgorithms = ac.n;
		return 0;
	}
	case CPM_CONF_T_STORE_URL:
		if (!cpm_str_istarts(v, "sqlite:") || v.len == sizeof "sqlite:" - 1 ||
		    v.len >= d->size || has_bad_chars(v))
			return CPM_EINVAL;
		memcpy(field, v.s, v.len);
		field[v.len] = '\0';
		memcpy(field, "sqlite", 6); /* scheme in lowercase */
		return 0;
	case CPM_CONF_T_SMTP_URL:
		return parse_smtp_url(v, field, d->size);
	case CPM_CONF_T_SMTP_TLS:
		for (int i = 0; i < 3; i++)
			if (cpm_str_ieq_cstr(v, smtp_tls_names[i])) {
				*(int *)field = i;
				return 0;
			}
		return CPM_EINVAL;
	}
	return CPM_EINVAL;
}

static int set_directive(struct cpm_conf *c, const struct cpm_conf_directive *d,
			 struct cpm_str v, char *err, size_t errsz)
{
	if (parse_value(d, c, v) == 0)
		return 0;
	char form[256];
	expected_form(d, form, sizeof form);
	errf(err, errsz, "%s.%s: expected %s, got '%.*s'", d->section, d->key,
	     form, (int)(v.len > 200 ? 200 : v.len), v.s);
	return CPM_EINVAL;
}

void cpm_conf_defaults(struct cpm_conf *c)
{
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < cpm_conf_ndirectives; i++) {
		const struct cpm_conf_directive *d = &cpm_conf_directives[i];
		if (parse_value(d, c, cpm_str_from_cstr(d->def)) != 0) {
			/* a broken table is a programming error */
			fprintf(stderr, "conf: bad default for %s.%s\n",
				d->section, d->key);
			abort();
		}
	}
}

void cpm_conf_free(struct cpm_conf *c)
{
	(void)c;
}

static void unknown_key_msg(struct cpm_str sec, struct cpm_str key, char *msg,
			    size_t msgsz)
{
	if (!section_known(sec))
		snprintf(msg, msgsz,
			 "unknown section [%.*s] (known: server, sip, registrar, "
			 "auth, http, im, smtp, store, class.NAME)",
			 (int)(sec.len > 64 ? 64 : sec.len), sec.s);
	else
		snprintf(msg, msgsz, "unknown key '%.*s' in section [%.*s]",
			 (int)(key.len > 64 ? 64 : key.len), key.s, CPM_STR_FMT(sec));
}

/* ------------------------------------------------------------ [class.NAME] */

const char *const cpm_conf_class_keys[] = { "storage", "max_messages",
					     "max_bytes", "max_lifetime" };
const size_t cpm_conf_nclass_keys =
	sizeof cpm_conf_class_keys / sizeof cpm_conf_class_keys[0];

#define CLASS_MAX_MESSAGES 100000000ull	   /* as im.max_messages */
#define CLASS_MAX_BYTES (1ull << 40)	   /* as im.max_bytes */
#define CLASS_MAX_LIFETIME 315360000ull /* as im.max_lifetime */

static bool class_name_ok(struct cpm_str n)
{
	if (n.len == 0 || n.len >= CPM_CONF_CLASS_NAME_LEN)
		return false;
	for (size_t i = 0; i < n.len; i++) {
		char ch = n.s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

static int class_index(const struct cpm_conf *c, struct cpm_str name)
{
	for (int i = 0; i < c->nclasses; i++)
		if (cpm_str_ieq_cstr(name, c->classes[i].name))
			return i;
	return -1;
}

/* The class of that name, created if new; NULL with err set otherwise. */
static struct cpm_conf_class *class_get(struct cpm_conf *c, struct cpm_str name,
					int *rc, char *err, size_t errsz)
{
	if (!class_name_ok(name)) {
		errf(err, errsz,
		     "class name '%.*s': expected 1 to %d letters, digits, '-' "
		     "or '_'",
		     (int)(name.len > 64 ? 64 : name.len), name.s,
		     CPM_CONF_CLASS_NAME_LEN - 1);
		*rc = CPM_EINVAL;
		return NULL;
	}
	if (cpm_str_ieq_cstr(name, "default")) {
		errf(err, errsz,
		     "class 'default' is built in: set it with the [im] keys "
		     "store_and_forward, max_messages, max_bytes and "
		     "max_lifetime");
		*rc = CPM_EINVAL;
		return NULL;
	}
	int i = class_index(c, name);
	if (i >= 0)
		return &c->classes[i];
	if (c->nclasses >= CPM_CONF_MAX_CLASSES) {
		errf(err, errsz,
		     "too many [class.NAME] sections: at most %d (class '%.*s')",
		     CPM_CONF_MAX_CLASSES, CPM_STR_FMT(name));
		*rc = CPM_ELIMIT;
		return NULL;
	}
	struct cpm_conf_class *k = &c->classes[c->nclasses++];
	memset(k, 0, sizeof *k);
	memcpy(k->name, name.s, name.len);
	return k;
}

/* N with an optional suffix: units[i] multiplies by mult[i]. */
static int num_suffix(struct cpm_str v, const char *units,
		      const uint64_t *mult, uint64_t max, uint64_t *out)
{
	uint64_t f = 1, n;
	if (v.len && units && !(v.s[v.len - 1] >= '0' && v.s[v.len - 1] <= '9')) {
		const char *u = strchr(units, v.s[v.len - 1] | 0x20);
		if (!u || !*u)
			return CPM_EINVAL;
		f = mult[u - units];
		v.len--;
	}
	if (cpm_str_to_u64(v, max, &n) || n > max / f)
		return CPM_EINVAL;
	*out = n * f;
	return 0;
}

static int class_key_set(struct cpm_conf_class *k, struct cpm_str key,
			 struct cpm_str v, char *err, size_t errsz)
{
	static const uint64_t bytes_m[] = { 1024, 1024 * 1024, 1024 * 1024 * 1024 };
	static const uint64_t secs_m[] = { 1, 60, 3600, 86400, 604800 };
	v = cpm_str_trim(v);
	uint64_t n;
	const char *form;
	if (cpm_str_eq_cstr(key, "storage")) {
		bool b;
		if (parse_bool(v, &b) == 0) {
			k->storage = b;
			k->set |= CPM_CONF_CLASS_STORAGE;
			return 0;
		}
		form = "yes/no, true/false, on/off or 1/0";
	} else if (cpm_str_eq_cstr(key, "max_messages")) {
		if (num_suffix(v, NULL, NULL, CLASS_MAX_MESSAGES, &n) == 0) {
			k->max_messages = n;
			k->set |= CPM_CONF_CLASS_MAX_MESSAGES;
			return 0;
		}
		form = "an integer from 0 (no limit) to 100000000";
	} else if (cpm_str_eq_cstr(key, "max_bytes")) {
		if (num_suffix(v, "kmg", bytes_m, CLASS_MAX_BYTES, &n) == 0) {
			k->max_bytes = n;
			k->set |= CPM_CONF_CLASS_MAX_BYTES;
			return 0;
		}
		form = "a size in bytes from 0 (no limit) to 1099511627776, "
		       "optionally with a k, m or g suffix (KiB, MiB, GiB)";
	} else if (cpm_str_eq_cstr(key, "max_lifetime")) {
		if (num_suffix(v, "smhdw", secs_m, CLASS_MAX_LIFETIME, &n) == 0) {
			k->max_lifetime = (int64_t)n;
			k->set |= CPM_CONF_CLASS_MAX_LIFETIME;
			return 0;
		}
		form = "seconds from 0 (the server default, im.max_lifetime) to "
		       "315360000, optionally with an s, m, h, d or w suffix";
	} else {
		errf(err, errsz,
		     "unknown key '%.*s' in section [class.%s] (known: storage, "
		     "max_messages, max_bytes, max_lifetime)",
		     (int)(key.len > 64 ? 64 : key.len), key.s, k->name);
		return CPM_ENOTFOUND;
	}
	errf(err, errsz, "class.%s.%.*s: expected %s, got '%.*s'", k->name,
	     CPM_STR_FMT(key), form, (int)(v.len > 200 ? 200 : v.len), v.s);
	return CPM_EINVAL;
}

int cpm_conf_class_set(struct cpm_conf *c, const char *name, const char *key,
		       const char *value, char *err, size_t errsz)
{
	if (!c || !name || !key) {
		errf(err, errsz, "class: no name or key");
		return CPM_EINVAL;
	}
	int rc = 0;
	struct cpm_conf_class *k = class_get(
		c, cpm_str_trim(cpm_str_from_cstr(name)), &rc, err, errsz);
	if (!k)
		return rc;
	return class_key_set(k, cpm_str_trim(cpm_str_from_cstr(key)),
			     cpm_str_from_cstr(value ? value : ""), err, errsz);
}

int cpm_conf_class_find(const struct cpm_conf *c, const char *name,
			struct cpm_conf_class *out)
{
	if (!c || !name)
		return CPM_ENOTFOUND;
	struct cpm_str n = cpm_str_from_cstr(name);
	const struct cpm_conf_class *k = NULL;
	if (!cpm_str_ieq_cstr(n, "default")) {
		int i = class_index(c, n);
		if (i < 0)
			return CPM_ENOTFOUND;
		k = &c->classes[i];
	}
	if (!out)
		return 0;
	struct cpm_conf_class r;
	memset(&r, 0, sizeof r);
	snprintf(r.name, sizeof r.name, "%s", k ? k->name : "default");
	unsigned set = k ? k->set : 0;
	r.set = set;
	r.storage = set & CPM_CONF_CLASS_STORAGE ? k->storage
						  : c->im.store_and_forward;
	r.max_messages = set & CPM_CONF_CLASS_MAX_MESSAGES
				 ? k->max_messages
				 : (uint64_t)c->im.max_messages;
	r.max_bytes = set & CPM_CONF_CLASS_MAX_BYTES ? k->max_bytes
						     : (uint64_t)c->im.max_bytes;
	r.max_lifetime = set & CPM_CONF_CLASS_MAX_LIFETIME ? k->max_lifetime : 0;
	if (r.max_lifetime == 0)
		r.max_lifetime = c->im.max_lifetime;
	*out = r;
	return 0;
}

int cpm_conf_set(struct cpm_conf *c, const char *dotted_key, const char *value,
		 char *err, size_t errsz)
{
	struct cpm_str dk = cpm_str_trim(cpm_str_from_cstr(dotted_key));
	long dot = cpm_str_chr(dk, '.');
	if (dot <= 0 || (size_t)dot + 1 >= dk.len) {
		errf(err, errsz, "'%.*s': expected a key of the form section.key",
		     (int)(dk.len > 64 ? 64 : dk.len), dk.s);
		return CPM_ENOTFOUND;
	}
	struct cpm_str sec = { dk.s, (size_t)dot };
	struct cpm_str key = { dk.s + dot + 1, dk.len - (size_t)dot - 1 };
	if (cpm_str_eq_cstr(sec, "class")) {
		/* class.NAME.key */
		long last = -1;
		for (size_t i = 0; i < key.len; i++)
			if (key.s[i] == '.')
				last = (long)i;
		if (last <= 0 || (size_t)last + 1 >= key.len) {
			errf(err, errsz,
			     "'%.*s': expected a key of the form class.NAME.key",
			     (int)(dk.len > 64 ? 64 : dk.len), dk.s);
			return CPM_ENOTFOUND;
		}
		char name[CPM_CONF_CLASS_NAME_LEN + 1], k[64];
		struct cpm_str ns = { key.s, (size_t)last };
		struct cpm_str ks = { key.s + last + 1, key.len - (size_t)last - 1 };
		if (ns.len >= sizeof name)
			ns.len = sizeof name - 1; /* too long: refused below */
		if (ks.len >= sizeof k)
			ks.len = sizeof k - 1;
		cpm_str_copy(ns, name, sizeof name);
		cpm_str_copy(ks, k, sizeof k);
		return cpm_conf_class_set(c, name, k, value, err, errsz);
	}
	const struct cpm_conf_directive *d =
		cpm_conf_directive_find(sec.s, sec.len, key.s, key.len);
	if (!d) {
		unknown_key_msg(sec, key, err, errsz);
		return CPM_ENOTFOUND;
	}
	return set_directive(c, d, cpm_str_from_cstr(value ? value : ""), err,
			     errsz);
}

int cpm_conf_set_arg(struct cpm_conf *c, const char *assignment, char *err,
		     size_t errsz)
{
	const char *eq = strchr(assignment, '=');
	if (!eq) {
		errf(err, errsz, "'%s': expected section.key=value", assignment);
		return CPM_EINVAL;
	}
	char key[128];
	if (cpm_str_copy((struct cpm_str){ assignment, (size_t)(eq - assignment) },
			 key, sizeof key)) {
		errf(err, errsz, "'%.64s...': key too long", assignment);
		return CPM_ENOTFOUND;
	}
	return cpm_conf_set(c, key, eq + 1, err, errsz);
}

/* ------------------------------------------------------------- file parser */

#define MAX_LINE 65536

/* The value part of "key = value": quotes and trailing comments. */
static int file_value(struct cpm_str v, struct cpm_str *out)
{
	v = cpm_str_trim(v);
	if (v.len && v.s[0] == '"') {
		long close = cpm_str_chr((struct cpm_str){ v.s + 1, v.len - 1 }, '"');
		if (close < 0)
			return CPM_EPARSE;
		struct cpm_str rest = cpm_str_trim(
			(struct cpm_str){ v.s + close + 2, v.len - (size_t)close - 2 });
		if (rest.len && rest.s[0] != '#' && rest.s[0] != ';')
			return CPM_EPARSE;
		*out = (struct cpm_str){ v.s + 1, (size_t)close };
		return 0;
	}
	for (size_t i = 1; i < v.len; i++)
		if ((v.s[i] == '#' || v.s[i] == ';') &&
		    (v.s[i - 1] == ' ' || v.s[i - 1] == '\t')) {
			v.len = i;
			break;
		}
	*out = cpm_str_trim(v);
	return 0;
}

int cpm_conf_load_file(struct cpm_conf *c, const char *path, char *err,
		       size_t errsz)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		errf(err, errsz, "%s: %s", path, strerror(errno));
		return CPM_EIO;
	}
	int seen[sizeof cpm_conf_directives / sizeof cpm_conf_directives[0]];
	memset(seen, 0, sizeof seen);
	char section[96] = "";
	/* [class.NAME]: the section being read, the line of each class's
	 * section in this file, of each key in the current one */
	struct cpm_conf_class *cls = NULL;
	int class_line[CPM_CONF_MAX_CLASSES] = { 0 };
	int class_key_line[4] = { 0 };
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, rc = 0;
	char msg[768];
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > MAX_LINE) {
			snprintf(msg, sizeof msg, "line longer than %d bytes",
				 MAX_LINE);
			rc = CPM_EPARSE;
			break;
		}
		if ((size_t)n != strlen(line)) {
			snprintf(msg, sizeof msg, "NUL byte in line");
			rc = CPM_EPARSE;
			break;
		}
		struct cpm_str l = { line, (size_t)n };
		if (lineno == 1 && cpm_str_istarts(l, "\xef\xbb\xbf")) {
			l.s += 3;
			l.len -= 3;
		}
		l = cpm_str_trim(l);
		if (l.len == 0 || l.s[0] == '#' || l.s[0] == ';')
			continue;
		if (l.s[0] == '[') {
			long close = cpm_str_chr(l, ']');
			struct cpm_str after = { 0 };
			if (close > 0)
				after = cpm_str_trim((struct cpm_str){
					l.s + close + 1, l.len - (size_t)close - 1 });
			if (close < 0 || (after.len && after.s[0] != '#' &&
					  after.s[0] != ';')) {
				snprintf(msg, sizeof msg,
					 "expected [section], got '%.*s'",
					 (int)(l.len > 64 ? 64 : l.len), l.s);
				rc = CPM_EPARSE;
				break;
			}
			struct cpm_str sec = cpm_str_trim(
				(struct cpm_str){ l.s + 1, (size_t)close - 1 });
			cls = NULL;
			if (sec.len >= 6 && memcmp(sec.s, "class.", 6) == 0) {
				struct cpm_str name = { sec.s + 6, sec.len - 6 };
				int i = class_index(c, name);
				if (i >= 0 && class_line[i]) {
					snprintf(msg, sizeof msg,
						 "section [class.%s] given twice "
						 "(first at line %d)",
						 c->classes[i].name, class_line[i]);
					rc = CPM_EPARSE;
					break;
				}
				cls = class_get(c, name, &rc, msg, sizeof msg);
				if (!cls)
					break;
				class_line[cls - c->classes] = lineno;
				memset(class_key_line, 0, sizeof class_key_line);
				cpm_str_copy(sec, section, sizeof section);
				continue;
			}
			if (!section_known(sec)) {
				unknown_key_msg(sec, CPM_STR(""), msg, sizeof msg);
				rc = CPM_ENOTFOUND;
				break;
			}
			cpm_str_copy(sec, section, sizeof section);
			continue;
		}
		long eq = cpm_str_chr(l, '=');
		if (eq < 0) {
			snprintf(msg, sizeof msg,
				 "expected 'key = value' or [section], got '%.*s'",
				 (int)(l.len > 64 ? 64 : l.len), l.s);
			rc = CPM_EPARSE;
			break;
		}
		struct cpm_str key = cpm_str_trim((struct cpm_str){ l.s, (size_t)eq });
		struct cpm_str val;
		if (!section[0]) {
			snprintf(msg, sizeof msg,
				 "key '%.*s' before any [section]",
				 (int)(key.len > 64 ? 64 : key.len), key.s);
			rc = CPM_EPARSE;
			break;
		}
		if (cls) {
			size_t ki = 0;
			while (ki < cpm_conf_nclass_keys &&
			       !cpm_str_eq_cstr(key, cpm_conf_class_keys[ki]))
				ki++;
			if (ki < cpm_conf_nclass_keys && class_key_line[ki]) {
				snprintf(msg, sizeof msg,
					 "class.%s.%s set twice (first at line %d)",
					 cls->name, cpm_conf_class_keys[ki],
					 class_key_line[ki]);
				rc = CPM_EPARSE;
				break;
			}
			if (ki < cpm_conf_nclass_keys)
				class_key_line[ki] = lineno;
			if (file_value((struct cpm_str){ l.s + eq + 1,
							 l.len - (size_t)eq - 1 },
				       &val)) {
				snprintf(msg, sizeof msg,
					 "class.%s.%.*s: unterminated quote",
					 cls->name, (int)(key.len > 64 ? 64 : key.len),
					 key.s);
				rc = CPM_EPARSE;
				break;
			}
			rc = class_key_set(cls, key, val, msg, sizeof msg);
			if (rc)
				break;
			continue;
		}
		const struct cpm_conf_directive *d = cpm_conf_directive_find(
			section, strlen(section), key.s, key.len);
		if (!d) {
			unknown_key_msg(cpm_str_from_cstr(section), key, msg,
					sizeof msg);
			rc = CPM_ENOTFOUND;
			break;
		}
		size_t idx = (size_t)(d - cpm_conf_directives);
		if (seen[idx]) {
			snprintf(msg, sizeof msg,
				 "%s.%s set twice (first at line %d)", d->section,
				 d->key, seen[idx]);
			rc = CPM_EPARSE;
			break;
		}
		seen[idx] = lineno;
		if (file_value((struct cpm_str){ l.s + eq + 1, l.len - (size_t)eq - 1 },
			       &val)) {
			snprintf(msg, sizeof msg, "%s.%s: unterminated quote",
				 d->section, d->key);
			rc = CPM_EPARSE;
			break;
		}
		rc = set_directive(c, d, val, msg, sizeof msg);
		if (rc)
			break;
	}
	if (!rc && ferror(f)) {
		snprintf(msg, sizeof msg, "read error");
		rc = CPM_EIO;
	}
	free(line);
	fclose(f);
	if (rc)
		errf(err, errsz, "%s:%d: %s", path, lineno, msg);
	return rc;
}

/* -------------------------------------------------------------- validation */

int cpm_conf_validate(const struct cpm_conf *c, char *err, size_t errsz)
{
	if (c->sip.t1 > c->sip.t2) {
		errf(err, errsz, "sip.t1 (%d ms) must not exceed sip.t2 (%d ms)",
		     c->sip.t1, c->sip.t2);
		return CPM_EINVAL;
	}
	if (c->sip.max_header_line > c->sip.max_message_size) {
		errf(err, errsz,
		     "sip.max_header_line (%zu) must not exceed "
		     "sip.max_message_size (%zu)",
		     c->sip.max_header_line, c->sip.max_message_size);
		return CPM_EINVAL;
	}
	if (c->registrar.min_expires > c->registrar.default_expires ||
	    c->registrar.default_expires > c->registrar.max_expires) {
		errf(err, errsz,
		     "registrar: expected min_expires (%d) <= default_expires "
		     "(%d) <= max_expires (%d)",
		     c->registrar.min_expires, c->registrar.default_expires,
		     c->registrar.max_expires);
		return CPM_EINVAL;
	}
	if (c->presence.min_expires > c->presence.default_expires ||
	    c->presence.default_expires > c->presence.max_expires) {
		errf(err, errsz,
		     "presence: expected min_expires (%d) <= default_expires "
		     "(%d) <= max_expires (%d)",
		     c->presence.min_expires, c->presence.default_expires,
		     c->presence.max_expires);
		return CPM_EINVAL;
	}
	if (strcmp(c->b2bua.anchor, "never") && strcmp(c->b2bua.anchor, "requested") &&
	    strcmp(c->b2bua.anchor, "always")) {
		errf(err, errsz, "b2bua.anchor: expected never, requested or always, not '%s'",
		     c->b2bua.anchor);
		return CPM_EINVAL;
	}
	if (strcmp(c->presence.default_policy, "allow") &&
	    strcmp(c->presence.default_policy, "confirm") &&
	    strcmp(c->presence.default_policy, "block")) {
		errf(err, errsz, "presence.default_policy: expected allow, confirm or block, not '%s'",
		     c->presence.default_policy);
		return CPM_EINVAL;
	}
	if (strcmp(c->presence.unregistered, "published") &&
	    strcmp(c->presence.unregistered, "closed")) {
		errf(err, errsz, "presence.unregistered: expected published or closed, not '%s'",
		     c->presence.unregistered);
		return CPM_EINVAL;
	}
	if (c->server.ndomains < 1 || c->sip.nlisten < 1 ||
	    c->auth.nalgorithms < 1) {
		errf(err, errsz,
		     "server.domain, sip.listen and auth.algorithms must not "
		     "be empty");
		return CPM_EINVAL;
	}
	if (cpm_str_istarts(cpm_str_from_cstr(c->smtp.url), "smtps:") &&
	    c->smtp.tls != CPM_CONF_SMTP_TLS_YES) {
		errf(err, errsz,
		     "smtp.url is smtps:// (implicit TLS) but smtp.tls is %s: "
		     "set smtp.tls = yes, or use smtp://",
		     smtp_tls_names[c->smtp.tls == CPM_CONF_SMTP_TLS_STARTTLS]);
		return CPM_EINVAL;
	}
	if (c->smtp.password[0] && !c->smtp.username[0]) {
		errf(err, errsz, "smtp.password is set without smtp.username");
		return CPM_EINVAL;
	}
	/* http.listen and msrp.listen: TCP sockets of their own */
	const struct cpm_conf_listen *own[2] = { &c->http.listen, &c->msrp.listen };
	const char *names[2] = { "http.listen", "msrp.listen" };
	for (int k = 0; k < 2; k++) {
		const struct cpm_conf_listen *l = own[k];
		for (int i = 0; l->port && i < c->sip.nlisten + k; i++) {
			const struct cpm_conf_listen *o = i < c->sip.nlisten ? &c->sip.listen[i] : own[0];
			if (o->port && listen_same(o, l)) {
				errf(err, errsz, "%s (%s:%u) is also in %s", names[k], l->host, l->port,
				     i < c->sip.nlisten ? "sip.listen" : names[0]);
				return CPM_EINVAL;
			}
		}
	}
	if (c->msrp.min_expires > c->msrp.default_expires ||
	    c->msrp.default_expires > c->msrp.max_expires) {
		errf(err, errsz,
		     "msrp: expected min_expires (%d) <= default_expires (%d) <= "
		     "max_expires (%d)",
		     c->msrp.min_expires, c->msrp.default_expires, c->msrp.max_expires);
		return CPM_EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------ helpers */

int cpm_conf_http_base(const struct cpm_conf *c, char *out, size_t sz)
{
	int n;
	if (c->http.public_url[0]) {
		size_t l = strlen(c->http.public_url);
		while (l && c->http.public_url[l - 1] == '/')
			l--;
		n = snprintf(out, sz, "%.*s", (int)l, c->http.public_url);
	} else {
		const struct cpm_conf_listen *l = &c->http.listen;
		if (!l->port)
			return CPM_ENOTFOUND;
		/* an unspecified address is no place to fetch from: the domain */
		bool any = strcmp(l->host, "0.0.0.0") == 0 || strcmp(l->host, "::") == 0;
		const char *host = any && c->server.ndomains ? c->server.domains[0] : l->host;
		bool v6 = strchr(host, ':') != NULL;
		n = snprintf(out, sz, "http://%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "",
			     (unsigned)l->port);
	}
	return n < 0 || (size_t)n >= sz ? CPM_ETOOBIG : 0;
}

bool cpm_conf_serves_domain(const struct cpm_conf *c, struct cpm_str domain)
{
	for (int i = 0; i < c->server.ndomains; i++)
		if (cpm_str_ieq_cstr(domain, c->server.domains[i]))
			return true;
	return false;
}

static bool cidr_match(const struct cpm_conf_cidr *c, const uint8_t *addr)
{
	int full = c->prefix / 8, rest = c->prefix % 8;
	if (memcmp(c->addr, addr, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xffu << (8 - rest));
	return (addr[full] & mask) == c->addr[full];
}

bool cpm_conf_is_trusted(const struct cpm_conf *c, const struct sockaddr *sa)
{
	uint8_t addr[16];
	int family;
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memcpy(addr, s6->sin6_addr.s6_addr + 12, 4);
			family = AF_INET;
		} else {
			memcpy(addr, s6->sin6_addr.s6_addr, 16);
			family = AF_INET6;
		}
	} else {
		return false;
	}
	for (int i = 0; i < c->auth.ntrusted; i++)
		if (c->auth.trusted[i].family == family &&
		    cidr_match(&c->auth.trusted[i], addr))
			return true;
	return false;
}

/* --------------------------------------------------------------------- dump */

static int fmt_listen(struct cpm_buf *b, const struct cpm_conf_listen *l)
{
	if (l->family == AF_INET6)
		return cpm_buf_printf(b, "[%s]:%u", l->host, l->port);
	return cpm_buf_printf(b, "%s:%u", l->host, l->port);
}

/* The value of d in file syntax (unquoted). */
static int format_value(const struct cpm_conf_directive *d,
			const struct cpm_conf *c, struct cpm_buf *b)
{
	const char *field = (const char *)c + d->offset;
	int rc = 0;
	switch (d->type) {
	case CPM_CONF_T_STR:
	case CPM_CONF_T_STORE_URL:
	case CPM_CONF_T_SMTP_URL:
		return cpm_buf_puts(b, field);
	case CPM_CONF_T_SMTP_TLS: {
		int t = *(const int *)field;
		return cpm_buf_puts(b, smtp_tls_names[t < 0 ? 0 : t > 2 ? 2 : t]);
	}
	case CPM_CONF_T_INT:
		return cpm_buf_printf(b, "%d", *(const int *)field);
	case CPM_CONF_T_SIZE:
		return cpm_buf_printf(b, "%zu", *(const size_t *)field);
	case CPM_CONF_T_BOOL:
		return cpm_buf_puts(b, *(const bool *)field ? "yes" : "no");
	case CPM_CONF_T_LOGLEVEL: {
		int lv = *(const int *)field;
		return cpm_buf_puts(b, level_names[lv < 0 ? 0 : lv > 4 ? 4 : lv]);
	}
	case CPM_CONF_T_DOMAINS:
		for (int i = 0; !rc && i < c->server.ndomains; i++)
			rc = cpm_buf_printf(b, "%s%s", i ? "," : "",
					    c->server.domains[i]);
		return rc;
	case CPM_CONF_T_LISTEN_LIST:
		for (int i = 0; !rc && i < c->sip.nlisten; i++) {
			rc = cpm_buf_printf(b, "%s%s:", i ? "," : "",
					    c->sip.listen[i].proto);
			if (!rc)
				rc = fmt_listen(b, &c->sip.listen[i]);
		}
		return rc;
	case CPM_CONF_T_LISTEN_ONE: {
		const struct cpm_conf_listen *l = (const void *)field;
		return l->port ? fmt_listen(b, l) : 0;
	}
	case CPM_CONF_T_CIDRS:
		for (int i = 0; !rc && i < c->auth.ntrusted; i++) {
			const struct cpm_conf_cidr *t = &c->auth.trusted[i];
			char tmp[INET6_ADDRSTRLEN];
			inet_ntop(t->family, t->addr, tmp, sizeof tmp);
			rc = cpm_buf_printf(b, "%s%s/%d", i ? "," : "", tmp,
					    t->prefix);
		}
		return rc;
	case CPM_CONF_T_ALGS:
		for (int i = 0; !rc && i < c->auth.nalgorithms; i++)
			rc = cpm_buf_printf(b, "%s%s", i ? "," : "",
					    cpm_hash_alg_name(c->auth.algorithms[i]));
		return rc;
	}
	return CPM_EINVAL;
}

static bool needs_quotes(struct cpm_str v)
{
	if (v.len == 0 || v.s[0] == ' ' || v.s[v.len - 1] == ' ')
		return true;
	return cpm_str_chr(v, '#') >= 0 || cpm_str_chr(v, ';') >= 0;
}

int cpm_conf_dump(const struct cpm_conf *c, FILE *f)
{
	struct cpm_buf b;
	cpm_buf_init(&b, 1 << 20);
	const char *section = "";
	int rc = 0;
	for (size_t i = 0; !rc && i < cpm_conf_ndirectives; i++) {
		const struct cpm_conf_directive *d = &cpm_conf_directives[i];
		if (strcmp(section, d->section) != 0) {
			rc = cpm_buf_printf(&b, "%s[%s]\n", i ? "\n" : "", d->section);
			section = d->section;
		}
		if (!rc)
			rc = cpm_buf_printf(&b, "%s = ", d->key);
		size_t start = b.len;
		if (!rc)
			rc = format_value(d, c, &b);
		if (!rc && needs_quotes((struct cpm_str){ b.p + start, b.len - start })) {
			char *v = cpm_str_dup((struct cpm_str){ b.p + start, b.len - start });
			if (!v) {
				rc = CPM_ENOMEM;
				break;
			}
			b.len = start;
			rc = cpm_buf_printf(&b, "\"%s\"", v);
			free(v);
		}
		if (!rc)
			rc = cpm_buf_puts(&b, "\n");
	}
	for (int i = 0; !rc && i < c->nclasses; i++) {
		const struct cpm_conf_class *k = &c->classes[i];
		rc = cpm_buf_printf(&b, "\n[class.%s]\n", k->name);
		if (!rc && (k->set & CPM_CONF_CLASS_STORAGE))
			rc = cpm_buf_printf(&b, "storage = %s\n",
					    k->storage ? "yes" : "no");
		if (!rc && (k->set & CPM_CONF_CLASS_MAX_MESSAGES))
			rc = cpm_buf_printf(&b, "max_messages = %llu\n",
					    (unsigned long long)k->max_messages);
		if (!rc && (k->set & CPM_CONF_CLASS_MAX_BYTES))
			rc = cpm_buf_printf(&b, "max_bytes = %llu\n",
					    (unsigned long long)k->max_bytes);
		if (!rc && (k->set & CPM_CONF_CLASS_MAX_LIFETIME))
			rc = cpm_buf_printf(&b, "max_lifetime = %lld\n",
					    (long long)k->max_lifetime);
	}
	if (!rc && fwrite(b.p, 1, b.len, f) != b.len)
		rc = CPM_EIO;
	if (!rc && fflush(f) != 0)
		rc = CPM_EIO;
	cpm_buf_free(&b);
	return rc == CPM_ENOMEM || rc == CPM_ETOOBIG ? CPM_EIO : rc;
}
