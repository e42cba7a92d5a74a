/* conf — the configuration: an INI file plus "-o section.key=value"
 * overrides, parsed into one typed struct.
 *
 * One directive table (conf.c) drives parsing, defaults, validation, the
 * dump and the documentation check of etc/cpmd.conf.  To add a key: add a
 * field below, a row to the table, and a documented line to etc/cpmd.conf
 * (the unit test fails until the sample documents it).
 *
 * File syntax: "[section]" lines, "key = value" lines, comments on lines
 * starting with '#' or ';' and after " #" / " ;" at the end of a value;
 * whitespace around keys and values is trimmed; a value may be enclosed in
 * double quotes (to keep '#', ';' or surrounding spaces, or to be empty).
 * A key given twice in one file is an error; -o overrides always win.
 *
 * The struct holds no heap memory (it may be copied by value);
 * cpm_conf_free() is still to be called by owners, for the day it does. */
#ifndef CPM_CONF_H
#define CPM_CONF_H

#include "lib/lib.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define CPM_CONF_MAX_DOMAINS 16
#define CPM_CONF_DOMAIN_LEN 128
#define CPM_CONF_MAX_LISTEN 16
#define CPM_CONF_MAX_TRUSTED 64
#define CPM_CONF_PATH_LEN 1024
#define CPM_CONF_NAME_LEN 128

/* One listening address, from "udp:127.0.0.1:5060" / "tcp:[::1]:5061"
 * (sip.listen) or "127.0.0.1:8080" (http.listen, proto "tcp"). */
struct cpm_conf_listen {
	char proto[4];	 /* "udp" or "tcp" */
	char host[64];	 /* the IP literal, IPv6 without brackets */
	uint16_t port;	 /* 1..65535; 0 only in a disabled http.listen */
	int family;	 /* AF_INET or AF_INET6 */
	struct sockaddr_storage addr; /* host and port, ready for bind() */
	socklen_t addrlen;
};

/* One auth.trusted entry, "10.0.0.0/8", "::1/128" or a bare address. */
struct cpm_conf_cidr {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order, host bits cleared */
	int prefix;	  /* 0..32 or 0..128 */
};

/* Message classes, "[class.NAME]" sections (issue 3: storage allowed, max
 * messages, max bytes, max lifetime; docs/STORE_AND_FORWARD.md "Class
 * keys").  The same fields as the im layer's struct cpm_im_class, which
 * conf may not include (layering): the message controller converts.  A key
 * not given in the section takes the value of the built-in class
 * "default", which is the [im] keys (cpm_conf_class_find resolves this). */
#define CPM_CONF_MAX_CLASSES 16
#define CPM_CONF_CLASS_NAME_LEN 64 /* 1-63 letters, digits, '-' or '_' */

enum cpm_conf_class_key {
	CPM_CONF_CLASS_STORAGE = 1 << 0,
	CPM_CONF_CLASS_MAX_MESSAGES = 1 << 1,
	CPM_CONF_CLASS_MAX_BYTES = 1 << 2,
	CPM_CONF_CLASS_MAX_LIFETIME = 1 << 3,
};

struct cpm_conf_class {
	char name[CPM_CONF_CLASS_NAME_LEN];
	unsigned set;	       /* CPM_CONF_CLASS_* given in the section */
	bool storage;	       /* storage allowed (R42) */
	uint64_t max_messages; /* stored messages per user, 0 = no limit */
	uint64_t max_bytes;    /* stored body bytes per user, 0 = no limit */
	int64_t max_lifetime;  /* seconds; 0 = the server default
				* (im.max_lifetime) */
};

/* smtp.tls: how the e-mail interworking function protects its SMTP
 * connection (libcurl CURLOPT_USE_SSL and the URL scheme). */
enum cpm_conf_smtp_tls {
	CPM_CONF_SMTP_TLS_NO = 0,   /* plain SMTP */
	CPM_CONF_SMTP_TLS_STARTTLS, /* STARTTLS required (RFC 3207) */
	CPM_CONF_SMTP_TLS_YES,      /* implicit TLS, smtps:// (RFC 8314 §3.3) */
};

struct cpm_conf {
	struct {
		/* server.domain: lowercase, in the order given */
		char domains[CPM_CONF_MAX_DOMAINS][CPM_CONF_DOMAIN_LEN];
		int ndomains;
		char data_dir[CPM_CONF_PATH_LEN];
		int log_level;			 /* CPM_LOG_* */
		char name[CPM_CONF_NAME_LEN]; /* Server / User-Agent value */
		int shutdown_grace;		 /* seconds */
	} server;
	struct {
		struct cpm_conf_listen listen[CPM_CONF_MAX_LISTEN];
		int nlisten;
		size_t max_message_size; /* bytes */
		int max_headers;
		size_t max_header_line; /* bytes */
		int tcp_idle_timeout;	/* seconds */
		int tcp_max_connections;
		size_t tcp_max_out_buffer; /* bytes per connection */
		size_t udp_rcvbuf;	   /* bytes, 0 = system default */
		int t1, t2, t4;		   /* milliseconds */
		int max_transactions;
		bool record_route;
		int max_branches;
	} sip;
	struct {
		int min_expires;     /* seconds */
		int max_expires;     /* seconds */
		int default_expires; /* seconds */
		int max_contacts;    /* per AoR */
	} registrar;
	struct {
		char realm[CPM_CONF_NAME_LEN]; /* "" = the request's domain */
		struct cpm_conf_cidr trusted[CPM_CONF_MAX_TRUSTED];
		int ntrusted;
		int nonce_ttl; /* seconds */
		/* challenge order, no duplicates */
		enum cpm_hash_alg algorithms[2];
		int nalgorithms;
		bool challenge_register; /* auth.register */
		int max_nonces;
	} auth;
	struct {
		struct cpm_conf_listen listen; /* port 0: HTTP disabled ("") */
		size_t max_header_size;  /* request line + headers, bytes (431) */
		size_t max_body_size;    /* bytes (413) */
		int max_headers;         /* header fields (431) */
		int idle_timeout;        /* ms */
		int max_connections;
		size_t max_out_buffer;   /* bytes per connection */
		char public_url[CPM_CONF_PATH_LEN]; /* "" = http://listen */
	} http;
	struct {
		struct cpm_conf_listen listen; /* port 0: no MSRP relay ("") */
		char host[CPM_CONF_DOMAIN_LEN]; /* in the relay's URIs; "" = listen */
		int max_connections;
		int idle_timeout;         /* s */
		size_t max_out_buffer;    /* bytes queued per connection */
		size_t max_header_size;   /* bytes of one header section */
		int max_sessions;         /* AUTH bindings (RFC 4976) */
		int min_expires;          /* s */
		int max_expires;          /* s */
		int default_expires;      /* s */
		int transaction_timeout;  /* s (RFC 4975 §7.3: 30) */
		int connect_timeout;      /* s */
	} msrp;
	struct {
		/* the server as MSRP endpoint (src/chat: local sessions, rooms) */
		size_t max_message_size; /* bytes of one received message (413) */
		size_t max_queue;        /* bytes queued towards one participant */
		size_t chunk_size;       /* larger bodies are sent in chunks */
		int history;             /* room messages replayed on join */
		int max_participants;    /* of one room (486 beyond) */
		char factory[64];        /* user part of the conference factory
					  * URI (RFC 5366), "" = no ad-hoc */
	} chat;
	struct {
		/* anchored sessions: the server as B2BUA (src/chat/chat_b2b.c) */
		char anchor[16];      /* "never", "requested", "always" */
		bool deferred;        /* answer for offline/busy callees, store */
		int invite_timeout;   /* s: the callee's leg rings this long */
		bool history;         /* keep each S&F session's messages */
	} b2bua;
	struct {
		bool store_and_forward; /* keep undeliverable MESSAGEs (202) */
		int max_messages;       /* stored per user, 0 = no limit */
		size_t max_bytes;       /* stored body bytes per user, 0 = none */
		int max_lifetime;       /* s a stored message is kept */
		int retry_interval;     /* s before retrying a failed delivery */
		int delivery_batch;     /* messages fetched per delivery round */
		int delivery_window;    /* MESSAGEs in flight per device */
		size_t max_inline_size; /* larger stored bodies: deferred */
		int max_list_recipients; /* of one URI-list MESSAGE */
		int sweep_interval;     /* s between expiry sweeps */
	} im;
	struct {
		/* "" (e-mail off), "smtp://HOST[:PORT][/EHLO-NAME]" or
		 * "smtps://..." (scheme lowercased) */
		char url[CPM_CONF_PATH_LEN];
		char from[CPM_CONF_NAME_LEN]; /* "" = cpmd@<first domain> */
		int tls;                      /* enum cpm_conf_smtp_tls */
		char ca_file[CPM_CONF_PATH_LEN]; /* "" = the system's CAs */
		char username[CPM_CONF_NAME_LEN]; /* "" = no AUTH */
		char password[CPM_CONF_NAME_LEN];
		int timeout;       /* s, one whole mail transaction */
		int max_in_flight; /* simultaneous SMTP transactions */
		int max_queue;     /* mails waiting for a slot; beyond, CPM_ELIMIT */
	} smtp;
	struct {
		/* event subscriptions (every package) and publications */
		int min_expires;     /* seconds; below: 423 */
		int max_expires;     /* seconds; above: lowered */
		int default_expires; /* seconds, without Expires */
		int max_publications_per_user; /* beyond: the oldest goes */
		int max_publications;          /* all users; beyond: 503 */
		bool replace_same_source;      /* a new PUBLISH from the address
						* of a publication replaces it */
		size_t max_pidf_size;          /* bytes of one PUBLISH body (413) */
		int max_subscriptions;         /* all packages; beyond: 503 */
		int max_watchers;              /* of one presentity; beyond: 503 */
		int min_notify_interval;       /* ms between two NOTIFYs of one
						* presence subscription */
		int busy_status;               /* INVITE to a busy user: 486/480, 0 = off */
		char default_policy[16];       /* "allow", "confirm", "block" */
		int max_conference_users;      /* users tracked per conference
						* (RFC 4575 package) */
		int max_rules;                 /* allow+block+pending per user */
		bool from_registration;        /* no publication: a binding = open */
		char unregistered[16];         /* "published" or "closed" */
	} presence;
	struct {
		char url[CPM_CONF_PATH_LEN]; /* "sqlite:PATH" */
		int busy_timeout;	      /* milliseconds */
	} store;
	/* [class.NAME] sections in the order first seen; keys not given are
	 * left 0 here (see .set and cpm_conf_class_find) */
	struct cpm_conf_class classes[CPM_CONF_MAX_CLASSES];
	int nclasses;
};

/* Every field to its documented default. */
void cpm_conf_defaults(struct cpm_conf *c);
/* Parse an INI file over *c (call cpm_conf_defaults first).  On error a
 * message "PATH:LINE: ..." is written to err and a negative CPM_E* is
 * returned (CPM_EIO: cannot read; CPM_EPARSE: syntax or duplicate key;
 * CPM_ENOTFOUND: unknown section or key; CPM_EINVAL: bad value; CPM_ELIMIT:
 * more than CPM_CONF_MAX_CLASSES [class.NAME] sections); *c may then be
 * half-set.  "[class.NAME]" sections (any number of times across files,
 * once per file) define message classes: cpm_conf_class_set below. */
int cpm_conf_load_file(struct cpm_conf *c, const char *path, char *err,
		       size_t errsz);
/* Set one directive, "section.key" (or "class.NAME.key") and its textual
 * value (no quotes, no comments).  Errors (CPM_ENOTFOUND, CPM_EINVAL) name the key and the
 * expected form. */
int cpm_conf_set(struct cpm_conf *c, const char *dotted_key, const char *value,
		 char *err, size_t errsz);
/* "section.key=value", as given to -o. */
int cpm_conf_set_arg(struct cpm_conf *c, const char *assignment, char *err,
		     size_t errsz);
/* Checks across keys (t1 <= t2, min <= default <= max expires, ...); call
 * once after the file and all overrides are applied. */
int cpm_conf_validate(const struct cpm_conf *c, char *err, size_t errsz);
void cpm_conf_free(struct cpm_conf *c);
/* The effective configuration as an INI file that loads back to the same
 * struct.  Returns 0 or CPM_EIO. */
int cpm_conf_dump(const struct cpm_conf *c, FILE *f);

/* Is domain (any case, no port) one of server.domain? */
/* The base of the URLs given to users: http.public_url without a final
 * '/', else "http://HOST:PORT" of http.listen (the first domain when it
 * listens on every address).  CPM_ENOTFOUND without HTTP, CPM_ETOOBIG. */
int cpm_conf_http_base(const struct cpm_conf *c, char *out, size_t sz);
bool cpm_conf_serves_domain(const struct cpm_conf *c, struct cpm_str domain);
/* Is the address inside one of auth.trusted? (sa: AF_INET or AF_INET6;
 * IPv4-mapped IPv6 addresses are matched as IPv4.) */
bool cpm_conf_is_trusted(const struct cpm_conf *c, const struct sockaddr *sa);

/* The effective values of class name: "default" (any case) is the
 * built-in class made of the [im] keys (storage = im.store_and_forward,
 * max_messages, max_bytes, max_lifetime); another name is a [class.NAME]
 * section (names compare case-insensitively) whose keys not given come
 * from the default class.  In *out (may be NULL) max_lifetime is never 0:
 * 0 (the server default) is resolved to im.max_lifetime.  Returns 0 or
 * CPM_ENOTFOUND. */
int cpm_conf_class_find(const struct cpm_conf *c, const char *name,
			struct cpm_conf_class *out);
/* Set one key of class name (created if new, CPM_ELIMIT beyond
 * CPM_CONF_MAX_CLASSES), as "[class.NAME] key = value" or
 * "-o class.NAME.key=value" do.  Keys: storage = yes|no, max_messages = N,
 * max_bytes = N[k|m|g], max_lifetime = N[s|m|h|d|w].  CPM_EINVAL for a
 * bad name ("default" is reserved) or value, CPM_ENOTFOUND for an unknown
 * key; err names the key and the expected form. */
int cpm_conf_class_set(struct cpm_conf *c, const char *name, const char *key,
		       const char *value, char *err, size_t errsz);
/* The keys of a [class.NAME] section, for documentation and tests. */
extern const char *const cpm_conf_class_keys[];
extern const size_t cpm_conf_nclass_keys;

/* The directive table, for documentation and tests. */
enum cpm_conf_type {
	CPM_CONF_T_STR,
	CPM_CONF_T_INT,
	CPM_CONF_T_SIZE,
	CPM_CONF_T_BOOL,
	CPM_CONF_T_LOGLEVEL,
	CPM_CONF_T_DOMAINS,
	CPM_CONF_T_LISTEN_LIST,
	CPM_CONF_T_LISTEN_ONE,
	CPM_CONF_T_CIDRS,
	CPM_CONF_T_ALGS,
	CPM_CONF_T_STORE_URL,
	CPM_CONF_T_SMTP_URL, /* "", smtp://... or smtps://... */
	CPM_CONF_T_SMTP_TLS, /* no | starttls | yes (int) */
};

struct cpm_conf_directive {
	const char *section;
	const char *key;
	enum cpm_conf_type type;
	const char *def; /* default, in file syntax */
	const char *unit; /* "ms", "s", "bytes" or "" */
	const char *doc;  /* one line: what it does */
	size_t offset;	 /* of the field in struct cpm_conf */
	size_t size;	 /* of the field (strings: the buffer) */
	int64_t min, max; /* INT and SIZE */
};

extern const struct cpm_conf_directive cpm_conf_directives[];
extern const size_t cpm_conf_ndirectives;
/* "sip.t1" -> its row, or NULL. */
const struct cpm_conf_directive *cpm_conf_directive_find(const char *section,
							 size_t section_len,
							 const char *key,
							 size_t key_len);

#endif
