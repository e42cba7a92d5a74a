/* sdp — RFC 8866 session descriptions: parser and printer.
 *
 * Pure: depends on lib only, no I/O, no globals, no logging.  Zero-copy:
 * every cpm_str of a parsed struct cpm_sdp points into the parsed text,
 * which must outlive it.  The struct is also the printer's input, so a
 * B2BUA parses an offer, points a few slices elsewhere (the c= address,
 * the m= port, the a=path value) and prints it again.
 *
 * On top of the generic structure it gives typed access to the MSRP
 * attributes (RFC 4975 §8, RFC 6135 a=setup/a=connection, RFC 6714
 * a=msrp-cema, the direction attributes) and reads the seed's non-standard
 * media line "m=messaging <port> IMTP/<mode> MESSAGE/<mode> <format>"
 * (seed 001, requirements R54/R55). */
#ifndef CPM_SDP_H
#define CPM_SDP_H

#include "lib/lib.h"

/* ------------------------------------------------------------------ limits */

#define CPM_SDP_MEDIA_CAP 32  /* hard ceiling of cpm_sdp_limits.max_media */
#define CPM_SDP_ATTRS_CAP 128 /* ... of max_attrs */
#define CPM_SDP_LINES_CAP 64  /* ... of max_lines */

struct cpm_sdp_limits {
	unsigned max_media; /* m= sections (default 16) */
	unsigned max_attrs; /* a= lines, all levels together (default 64) */
	unsigned max_lines; /* other lines kept verbatim: b= e= p= t= r= z= k=
			     * and media-level c= after the first (default 32) */
	size_t max_line;    /* one line without its line end (default 2048) */
};

void cpm_sdp_limits_default(struct cpm_sdp_limits *lim);

/* ------------------------------------------------------------- description */

/* o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address> */
struct cpm_sdp_origin {
	struct cpm_str username;
	struct cpm_str sess_id;      /* 1*DIGIT, kept as text (often > 64 bits) */
	struct cpm_str sess_version; /* 1*DIGIT */
	struct cpm_str nettype;      /* "IN" */
	struct cpm_str addrtype;     /* "IP4", "IP6" */
	struct cpm_str address;      /* unicast address or FQDN */
};

/* c=<nettype> <addrtype> <connection-address> */
struct cpm_sdp_conn {
	struct cpm_str nettype;
	struct cpm_str addrtype;
	struct cpm_str address; /* the host part, before any '/' */
	struct cpm_str suffix;  /* multicast "/ttl[/n]" or "/n" with its first
				 * '/', usually empty */
};

/* An a= line: "name" (a property) or "name:value". */
struct cpm_sdp_attr {
	int media;            /* -1: session level, else its m= section */
	struct cpm_str name;  /* token, case-sensitive (RFC 8866 §5.13) */
	struct cpm_str value; /* after the ':', may be empty */
	bool has_value;       /* a ':' was present */
};

/* A line the struct does not type, printed back as "<type>=<value>" in
 * its place (b= e= p= t= r= z= k=, extra media-level c=). */
struct cpm_sdp_line {
	int media; /* -1: session level */
	char type;
	struct cpm_str value;
};

/* m=<media> <port>[/<nports>] <proto> <fmt> ... */
struct cpm_sdp_media {
	struct cpm_str media; /* "message", "audio", "messaging", ... */
	uint16_t port;
	unsigned nports;      /* the "/<n>" count, 0 when absent */
	struct cpm_str proto; /* "TCP/MSRP".  For m=messaging: every leading
			       * token that contains '/', so the seed's line
			       * gives "IMTP/instant MESSAGE/instant" */
	struct cpm_str fmts;  /* the formats as one space-separated slice
			       * ("*", "0 8 101", "html"); iterate them with
			       * cpm_sdp_list_next */
	struct cpm_str info;  /* i=, .s == NULL when absent */
	bool has_conn;
	struct cpm_sdp_conn conn; /* the first media-level c= */
};

struct cpm_sdp {
	unsigned version; /* v=, always 0 */
	struct cpm_sdp_origin origin;
	struct cpm_str name; /* s= */
	struct cpm_str info; /* i=, .s == NULL when absent */
	struct cpm_str uri;  /* u=, .s == NULL when absent */
	bool has_conn;
	struct cpm_sdp_conn conn; /* session-level c= */

	unsigned nmedia;
	struct cpm_sdp_media media[CPM_SDP_MEDIA_CAP];
	unsigned nattrs; /* in wire order, session level first */
	struct cpm_sdp_attr attrs[CPM_SDP_ATTRS_CAP];
	unsigned nlines;
	struct cpm_sdp_line lines[CPM_SDP_LINES_CAP];

	/* set when parse fails: the 1-based line number and why */
	unsigned err_line;
	const char *err_reason;
};

/* Parse a session description.  Lines end with CRLF or a bare LF (RFC
 * 8866 §5 asks parsers to accept both); the last line may lack its end;
 * empty lines and trailing whitespace are ignored.  v=, o=, s= must come
 * first in that order, at least one t= is required, and every m= section
 * holds only i= c= b= k= a=.  Returns 0, CPM_ELIMIT (a limit of lim, NULL
 * for the defaults) or CPM_EPARSE (unknown type letter, bad field),
 * with d->err_line and d->err_reason set. */
int cpm_sdp_parse(struct cpm_sdp *d, const char *buf, size_t len,
		  const struct cpm_sdp_limits *lim);

/* Print d with CRLF line ends: v o s i u e p c b t r z k a at session
 * level, then each m= section (m i c b k a); lines of one kind keep their
 * order.  An empty s= is printed as "s=-".  Returns 0, CPM_ETOOBIG (b is
 * full) or CPM_EINVAL (a value holds CR, LF or NUL, or a required field
 * is empty), after which b holds a partial description. */
int cpm_sdp_print(struct cpm_buf *b, const struct cpm_sdp *d);

/* ----------------------------------------------------------------- helpers */

/* Iterate a list of items separated by SP or HTAB (fmt lists, a=path,
 * a=accept-types): 1 and the item, 0 at the end. */
int cpm_sdp_list_next(struct cpm_str *cursor, struct cpm_str *item);

/* Index of the next a=<name> at level media (-1: session) after index
 * after (-1 to start), or -1.  Names compare case-sensitively. */
int cpm_sdp_attr_find(const struct cpm_sdp *d, int media, const char *name,
		      int after);
/* Append an attribute at level media; the slices must outlive d.
 * Returns its index, CPM_EINVAL (no such m= section) or CPM_ELIMIT. */
int cpm_sdp_attr_add(struct cpm_sdp *d, int media, struct cpm_str name,
		     struct cpm_str value, bool has_value);
/* Remove attribute idx (later indexes shift down by one). */
void cpm_sdp_attr_remove(struct cpm_sdp *d, unsigned idx);

/* The c= that applies to m= section i: its own, else the session's;
 * NULL if neither exists or i is out of range. */
const struct cpm_sdp_conn *cpm_sdp_media_conn(const struct cpm_sdp *d, unsigned i);

/* --------------------------------------------------- MSRP (RFC 4975 §8) */

/* true for "m=message <port> TCP/MSRP|TCP/TLS/MSRP ..." (RFC 4975 §8.1,
 * RFC 6135 §4). */
bool cpm_sdp_media_is_msrp(const struct cpm_sdp_media *m);

enum cpm_sdp_setup {
	CPM_SDP_SETUP_NONE = 0, /* no a=setup */
	CPM_SDP_SETUP_ACTIVE,
	CPM_SDP_SETUP_PASSIVE,
	CPM_SDP_SETUP_ACTPASS,
	CPM_SDP_SETUP_HOLDCONN,
};

enum cpm_sdp_connection {
	CPM_SDP_CONNECTION_NONE = 0, /* no a=connection */
	CPM_SDP_CONNECTION_NEW,
	CPM_SDP_CONNECTION_EXISTING,
};

enum cpm_sdp_dir {
	CPM_SDP_SENDRECV = 0, /* also the default when none is given */
	CPM_SDP_SENDONLY,
	CPM_SDP_RECVONLY,
	CPM_SDP_INACTIVE,
};

struct cpm_sdp_msrp {
	struct cpm_str path;                 /* a=path: MSRP URIs separated by
					      * SP, first hop first; empty if absent */
	struct cpm_str accept_types;         /* a=accept-types, SP-separated */
	struct cpm_str accept_wrapped_types; /* a=accept-wrapped-types */
	bool has_max_size;
	uint64_t max_size;                   /* a=max-size, bytes */
	enum cpm_sdp_setup setup;            /* RFC 6135 / RFC 4145 */
	enum cpm_sdp_connection connection;
	bool cema;                           /* RFC 6714 a=msrp-cema */
	enum cpm_sdp_dir dir;
};

/* The MSRP attributes of m= section i.  Each is taken from the media
 * level, else from the session level.  Checks: a=path holds 1 or more
 * msrp:/msrps: URIs (only the scheme is checked here; msrp.h parses
 * them), the type lists are "*", "type/subtype" or "type/ *" items,
 * max-size is a number, setup/connection take their RFC values, and no
 * attribute appears twice at one level (direction: at most one of the
 * four).  Returns 0, CPM_EINVAL (no section i) or CPM_EPARSE with *why
 * (may be NULL) set; out is filled either way. */
int cpm_sdp_msrp_get(const struct cpm_sdp *d, unsigned i, struct cpm_sdp_msrp *out,
		     const char **why);

/* ------------------------------------------- the seed's m=messaging lines */

enum cpm_sdp_msg_mode {
	CPM_SDP_MODE_NONE = 0, /* transport not offered */
	CPM_SDP_MODE_INSTANT,  /* "<transport>/instant" */
	CPM_SDP_MODE_SF,       /* "<transport>/S&F": store and forward */
};

/* Seed 001 Figs. 5/6: "m=messaging 3456 IMTP/instant MESSAGE/instant html". */
struct cpm_sdp_messaging {
	enum cpm_sdp_msg_mode imtp;    /* IMTP/<mode> */
	enum cpm_sdp_msg_mode message; /* MESSAGE/<mode> (SIP MESSAGE as the
					* in-session transport) */
};

/* Read the transports of an m=messaging section (names and modes compare
 * case-insensitively).  Returns 0, CPM_ENOTFOUND if m's media is not
 * "messaging", CPM_EPARSE for an unknown transport or mode, a transport
 * given twice, or no transport at all. */
int cpm_sdp_media_messaging(const struct cpm_sdp_media *m,
			    struct cpm_sdp_messaging *out);
/* "instant", "S&F" ("" for NONE). */
const char *cpm_sdp_msg_mode_name(enum cpm_sdp_msg_mode mode);

#endif
