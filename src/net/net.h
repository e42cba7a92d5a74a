/* net — SIP transports on libuv: UDP (batched receive) and TCP (stream
 * framing, CRLF keep-alive, idle timeout, per-connection limits), IPv4 and
 * IPv6.  Hands exactly one framed SIP message at a time to the receive
 * handler (normally the transaction layer) and sends copies of buffers.
 * Single-threaded: every call on the loop's thread. */
#ifndef CPM_NET_H
#define CPM_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "sip/sip.h"

enum cpm_net_proto {
	CPM_NET_UDP = 1,
	CPM_NET_TCP = 2,
	/* TLS/WS later */
};

/* "UDP" / "TCP" (as in Via). */
const char *cpm_net_proto_name(enum cpm_net_proto p);
/* Case-insensitive "udp"/"tcp"; 0 if unknown. */
enum cpm_net_proto cpm_net_proto_parse(struct cpm_str s);
/* true for stream (reliable) transports: no retransmission timers. */
static inline bool cpm_net_proto_reliable(enum cpm_net_proto p)
{
	return p != CPM_NET_UDP;
}

/* ---------------------------------------------------------------- addresses */

struct cpm_net_addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} u;
	socklen_t len;
};

#define CPM_NET_ADDR_STRLEN 64 /* "[v6]:port" with room */

/* host: an IPv4 literal, an IPv6 literal with or without brackets, or
 * "localhost" (→ 127.0.0.1).  No DNS: anything else gives CPM_EADDR. */
int cpm_net_addr_from_host(struct cpm_str host, uint16_t port,
			   struct cpm_net_addr *out);
/* "1.2.3.4:5060" / "[::1]:5060"; returns the length or a negative error. */
int cpm_net_addr_print(const struct cpm_net_addr *a, char *out, size_t outsz);
/* "1.2.3.4", "[::1]" (brackets) or "::1"; length or negative error. */
int cpm_net_addr_host(const struct cpm_net_addr *a, bool brackets, char *out,
		      size_t outsz);
uint16_t cpm_net_addr_port(const struct cpm_net_addr *a);
int cpm_net_addr_family(const struct cpm_net_addr *a);
/* Same family and IP (the port is not compared). */
bool cpm_net_addr_ip_eq(const struct cpm_net_addr *a, const struct cpm_net_addr *b);
/* Same family, IP and port. */
bool cpm_net_addr_eq(const struct cpm_net_addr *a, const struct cpm_net_addr *b);
/* a's IP inside any of "127.0.0.0/8,::1/128, 10.0.0.1" (a bare IP is a /32
 * or /128).  Malformed items never match.  IPv4-mapped IPv6 addresses are
 * compared as IPv4. */
bool cpm_net_addr_in_cidrs(const struct cpm_net_addr *a, const char *cidrs);

/* ---------------------------------------------------------------- transport */

struct cpm_net;

/* public, read-only */
struct cpm_net_listener {
	enum cpm_net_proto proto;
	struct cpm_net_addr addr; /* the bound address (real port) */
	char host[64];            /* "127.0.0.1" or "[::1]" as used in Via */
	uint16_t port;            /* the real port, also for port 0 specs */
};

/* Where a message came from / goes to. */
struct cpm_net_dest {
	enum cpm_net_proto proto;
	struct cpm_net_addr peer;
	const struct cpm_net_listener *lsn; /* arrived on / send from;
					     * NULL = choose by family */
	uint64_t conn_id;                   /* TCP connection, 0 = none */
};

/* Exactly one framed SIP message (for UDP one datagram, possibly garbage).
 * buf is only valid during the call. */
typedef void cpm_net_recv_cb(void *arg, const struct cpm_net_dest *src,
			     const char *buf, size_t len);
/* A TCP connection opened (accepted or connected) or closed: for RFC 5626
 * style flows.  up=false is reported exactly once for every connection id
 * that ever existed, including outgoing connects that failed (never up). */
typedef void cpm_net_conn_cb(void *arg, uint64_t conn_id, bool up);

struct cpm_net_conf {
	struct cpm_sip_limits lim; /* max_msg: datagram / framed message cap */
	unsigned tcp_idle_s;       /* default 600 */
	unsigned max_conns;        /* default 4096 */
	size_t max_out_buf;        /* per connection, default 1 MiB */
	unsigned udp_rcvbuf;       /* bytes, default 4 MiB */
	unsigned tcp_connect_ms;   /* connect timeout, default 10000 */
};

void cpm_net_conf_default(struct cpm_net_conf *c);
int cpm_net_new(uv_loop_t *loop, const struct cpm_net_conf *c,
		struct cpm_net **out);
void cpm_net_set_handler(struct cpm_net *n, cpm_net_recv_cb *rcb,
			 cpm_net_conn_cb *ccb, void *arg);
/* "udp:127.0.0.1:5060,tcp:127.0.0.1:5060,udp:[::1]:5060"; port 0 =
 * ephemeral (then listener->port is the real one).  May be called several
 * times.  CPM_EINVAL on a bad spec, CPM_EIO when a bind fails. */
int cpm_net_listen(struct cpm_net *n, const char *spec);
/* First listener of that proto and family (AF_INET/AF_INET6), or NULL. */
const struct cpm_net_listener *cpm_net_listener_find(const struct cpm_net *n,
						     enum cpm_net_proto proto,
						     int family);
/* Number of listeners and the i-th one (for Via/Record-Route choices). */
unsigned cpm_net_listener_count(const struct cpm_net *n);
const struct cpm_net_listener *cpm_net_listener_at(const struct cpm_net *n,
						   unsigned i);
/* Copies buf.  UDP: from dst->lsn or the listener of the peer's family.
 * TCP: dst->conn_id if still open, else an open connection to dst->peer,
 * else connect (queued until connected).  Errors: CPM_EADDR (no listener /
 * unusable address), CPM_ECLOSED (conn_id closed and no peer to reconnect
 * to), CPM_ETOOBIG (over max_msg or the out buffer over max_out_buf),
 * CPM_ELIMIT (max_conns).  A later TCP failure (connect refused) is only
 * reported through the conn_cb (up=false) and the log. */
int cpm_net_send(struct cpm_net *n, const struct cpm_net_dest *dst,
		 const char *buf, size_t len);
/* As cpm_net_send; *conn_id (may be NULL) gets the TCP connection used or
 * being connected (0 for UDP), so a caller can watch it with the conn_cb. */
int cpm_net_send_conn(struct cpm_net *n, const struct cpm_net_dest *dst,
		      const char *buf, size_t len, uint64_t *conn_id);
/* Is the TCP connection still open? */
bool cpm_net_conn_alive(const struct cpm_net *n, uint64_t conn_id);
/* Close one TCP connection (after pending writes are flushed). */
void cpm_net_conn_close(struct cpm_net *n, uint64_t conn_id);
unsigned cpm_net_conn_count(const struct cpm_net *n);
/* Graceful shutdown: close the TCP listening sockets (UDP keeps
 * receiving, in-flight transactions still complete). */
void cpm_net_stop_accepting(struct cpm_net *n);
/* Closes every handle; the caller then runs the loop until it is empty
 * (the memory is released from the close callbacks). */
void cpm_net_free(struct cpm_net *n);

#endif
