/* cli — the user agent core: sockets (UDP/TCP, IPv4/IPv6), request
 * building, client transactions with RFC 3261 Timer E retransmission,
 * digest retries, and answering incoming requests. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#define T1_MS 500
#define T2_MS 4000

volatile sig_atomic_t cpm_cli_stop;

static const char *transport_name(enum cpm_cli_transport t)
{
	return t == CPM_CLI_TCP ? "tcp" : "udp";
}

static const char *transport_upper(enum cpm_cli_transport t)
{
	return t == CPM_CLI_TCP ? "TCP" : "UDP";
}

/* "1.2.3.4:5" / "[::1]:5" for messages; ip without brackets into ip. */
static void addr_format(const struct sockaddr *sa, socklen_t len, char *ip,
			size_t ipsz, uint16_t *port, char *hostport,
			size_t hpsz)
{
	char host[NI_MAXHOST] = "?", serv[NI_MAXSERV] = "0";
	getnameinfo(sa, len, host, sizeof host, serv, sizeof serv,
		    NI_NUMERICHOST | NI_NUMERICSERV);
	char *pct = strchr(host, '%'); /* zone id: not valid in SIP URIs */
	if (pct)
		*pct = '\0';
	if (ip)
		snprintf(ip, ipsz, "%s", host);
	if (port)
		*port = (uint16_t)atoi(serv);
	if (hostport) {
		if (sa->sa_family == AF_INET6)
			snprintf(hostport, hpsz, "[%s]:%s", host, serv);
		else
			snprintf(hostport, hpsz, "%s:%s", host, serv);
	}
}

/* ------------------------------------------------------------- verbose */

static void trace(const struct cpm_cli_ua *ua, bool out, const char *what,
		  const char *peer, const char *data, size_t len)
{
	if (!ua->verbose)
		return;
	fprintf(stderr, "%s %s %s %s (%zu bytes)%s%s\n", out ? ">>>" : "<<<",
		out ? "sent to" : "received from", peer, transport_name(ua->transport),
		len, what ? " " : "", what ? what : "");
	fwrite(data, 1, len, stderr);
	if (len == 0 || data[len - 1] != '\n')
		fputc('\n', stderr);
	fflush(stderr);
}

/* --------------------------------------------------------------- open */

static int set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

static void set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

static socklen_t family_len(int family)
{
	return family == AF_INET6 ? sizeof(struct sockaddr_in6) :
				    sizeof(struct sockaddr_in);
}

static void set_local(struct cpm_cli_ua *ua)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(ua->fd, (struct sockaddr *)&ss, &len) == 0)
		addr_format((struct sockaddr *)&ss, len, ua->local_ip,
			    sizeof ua->local_ip, &ua->local_port,
			    ua->local_hostport, sizeof ua->local_hostport);
}

/* UDP: learn the local address the kernel would use towards the peer,
 * then bind the real (unconnected) socket to it. */
static int open_udp(struct cpm_cli_ua *ua, unsigned port)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof local;
	int probe = socket(ua->peer.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (probe < 0 || connect(probe, (struct sockaddr *)&ua->peer, ua->peerlen) != 0 ||
	    getsockname(probe, (struct sockaddr *)&local, &len) != 0) {
		fprintf(stderr, "cpm: cannot reach %s over udp: %s\n",
			ua->peer_str, strerror(errno));
		if (probe >= 0)
			close(probe);
		return CPM_EADDR;
	}
	close(probe);
	set_port(&local, (uint16_t)port);
	ua->fd = socket(ua->peer.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (ua->fd < 0) {
		fprintf(stderr, "cpm: socket: %s\n", strerror(errno));
		return CPM_EIO;
	}
	if (bind(ua->fd, (struct sockaddr *)&local, len) != 0) {
		fprintf(stderr, "cpm: cannot bind local port %u: %s\n", port,
			strerror(errno));
		close(ua->fd);
		ua->fd = -1;
		return CPM_EADDR;
	}
	set_local(ua);
	return 0;
}

static int open_tcp(struct cpm_cli_ua *ua, unsigned port, bool quiet_bind)
{
	int one = 1;
	ua->fd = socket(ua->peer.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ua->fd < 0) {
		fprintf(stderr, "cpm: socket: %s\n", strerror(errno));
		return CPM_EIO;
	}
	setsockopt(ua->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (port) {
		struct sockaddr_storage any;
		memset(&any, 0, sizeof any);
		any.ss_family = ua->peer.ss_family;
		set_port(&any, (uint16_t)port);
		setsockopt(ua->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(ua->fd, (struct sockaddr *)&any,
			 family_len(any.ss_family)) != 0) {
			if (!quiet_bind)
				fprintf(stderr, "cpm: cannot bind local port %u: %s\n",
					port, strerror(errno));
			close(ua->fd);
			ua->fd = -1;
			return CPM_EADDR;
		}
	}
	int err = cpm_cli_connect(ua->fd, (struct sockaddr *)&ua->peer,
				  ua->peerlen, ua->timeout_ms);
	if (err) {
		if (ua->quiet)
			;
		else if (err == ETIMEDOUT)
			fprintf(stderr, "cpm: cannot connect to %s over tcp: no answer after %u s\n",
				ua->peer_str, ua->timeout_ms / 1000);
		else
			fprintf(stderr, "cpm: cannot connect to %s over tcp: %s\n",
				ua->peer_str, strerror(err));
		close(ua->fd);
		ua->fd = -1;
		return err == ETIMEDOUT ? CPM_ETIMEDOUT : CPM_EIO;
	}
	set_local(ua);
	cpm_buf_reset(&ua->stream);
	return 0;
}

int cpm_cli_connect(int fd, const struct sockaddr *sa, socklen_t len,
		    unsigned timeout_ms)
{
	set_nonblock(fd, true);
	int rc = connect(fd, sa, len);
	int err = rc == 0 ? 0 : errno;
	if (rc != 0 && errno == EINPROGRESS) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		do
			rc = poll(&p, 1, (int)timeout_ms);
		while (rc < 0 && errno == EINTR && !cpm_cli_stop);
		if (rc == 0) {
			err = ETIMEDOUT;
		} else if (rc < 0) {
			err = errno;
		} else {
			socklen_t elen = sizeof err;
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
		}
	}
	set_nonblock(fd, false);
	return err;
}

/* Probe peer with a CRLF keep-alive on a connected socket: true if an
 * ICMP port unreachable comes back within 100 ms. */
static bool udp_refused(const struct sockaddr_storage *peer, socklen_t len)
{
	char c;
	bool refused = false;
	int fd = socket(peer->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	if (connect(fd, (const struct sockaddr *)peer, len) != 0) {
		refused = true;
	} else if (send(fd, "\r\n\r\n", 4, 0) < 0) {
		refused = errno == ECONNREFUSED;
	} else {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) > 0 && recv(fd, &c, 1, MSG_DONTWAIT) < 0)
			refused = errno == ECONNREFUSED;
	}
	close(fd);
	return refused;
}

/* Split the AOR into user/domain; no --user gives anonymous. */
static int identity_init(struct cpm_cli_ua *ua, const struct cpm_cli_args *a)
{
	const char *aor = a->user[0] ? a->user : "anonymous@anonymous.invalid";
	const char *at = strrchr(aor, '@');
	if (!at || at == aor || !at[1]) {
		fprintf(stderr, "cpm: bad address '%s'\n", aor);
		return CPM_EADDR;
	}
	snprintf(ua->user, sizeof ua->user, "%.*s", (int)(at - aor), aor);
	snprintf(ua->domain, sizeof ua->domain, "%s", at + 1);
	snprintf(ua->aor_uri, sizeof ua->aor_uri, "sip:%s", aor);
	struct cpm_sip_uri u;
	if (cpm_sip_uri_parse(cpm_str_from_cstr(ua->aor_uri), &u) != 0 ||
	    u.host.len == 0) {
		fprintf(stderr, "cpm: bad address '%s'\n", aor);
		return CPM_EADDR;
	}
	snprintf(ua->auth_user, sizeof ua->auth_user, "%s", ua->user);
	ua->password = a->password_set ? a->password : NULL;
	return 0;
}

int cpm_cli_ua_open(struct cpm_cli_ua *ua, const struct cpm_cli_args *a)
{
	char host[256], port_s[8];
	uint16_t port;
	struct addrinfo hints, *res = NULL, *ai;
	int rc;

	memset(ua, 0, sizeof *ua);
	ua->fd = -1;
	ua->transport = a->transport;
	ua->verbose = a->verbose;
	ua->timeout_ms = a->timeout_s * 1000;
	ua->bind_port = a->local_port;
	cpm_buf_init(&ua->stream, 2 * sizeof ua->rx.data);
	cpm_sip_limits_default(&ua->lim);
	rc = identity_init(ua, a);
	if (rc)
		return rc;

	const char *server = a->server;
	if (!server[0]) {
		if (!a->user[0]) {
			fprintf(stderr, "cpm: no server given (use --server HOST[:PORT] or --user)\n");
			return CPM_EINVAL;
		}
		server = ua->domain;
	}
	if (cpm_cli_hostport_parse(server, host, sizeof host, &port) != 0) {
		fprintf(stderr, "cpm: bad server '%s'\n", server);
		return CPM_EADDR;
	}
	if (!port)
		port = 5060;
	snprintf(ua->server_host, sizeof ua->server_host, "%s", host);
	ua->server_port = port;
	snprintf(port_s, sizeof port_s, "%u", port);

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = a->transport == CPM_CLI_TCP ? SOCK_STREAM : SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port_s, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "cpm: cannot resolve '%s': %s%s\n", host,
			gai_strerror(rc),
			strchr(host, ':') ? " (write IPv6 addresses as [ADDR]:PORT)" : "");
		return CPM_EADDR;
	}
	rc = CPM_EADDR;
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof ua->peer)
			continue;
		memcpy(&ua->peer, ai->ai_addr, ai->ai_addrlen);
		ua->peerlen = ai->ai_addrlen;
		addr_format(ai->ai_addr, ai->ai_addrlen, NULL, 0, NULL,
			    ua->peer_str, sizeof ua->peer_str);
		/* "localhost" gives ::1 and 127.0.0.1; skip a UDP address
		 * that answers with ICMP port unreachable */
		if (a->transport == CPM_CLI_UDP && ai->ai_next &&
		    udp_refused(&ua->peer, ua->peerlen))
			continue;
		ua->quiet = ai->ai_next != NULL; /* report the last failure */
		rc = a->transport == CPM_CLI_TCP ? open_tcp(ua, ua->bind_port, false) :
						   open_udp(ua, ua->bind_port);
		ua->quiet = false;
		if (rc == 0 || a->transport == CPM_CLI_UDP || !ai->ai_next)
			break;
	}
	freeaddrinfo(res);
	if (rc)
		return rc;
	cpm_cli_ua_new_call(ua);
	cpm_logi("cpm", "using %s over %s from %s", ua->peer_str,
		 transport_name(ua->transport), ua->local_hostport);
	return 0;
}

int cpm_cli_ua_reopen(struct cpm_cli_ua *ua)
{
	if (ua->fd >= 0)
		close(ua->fd);
	ua->fd = -1;
	cpm_buf_reset(&ua->stream);
	if (ua->transport == CPM_CLI_UDP)
		return open_udp(ua, ua->local_port);
	/* keep the old local port (and so the Contact) when possible */
	if (open_tcp(ua, ua->bind_port ? ua->bind_port : ua->local_port,
		     !ua->bind_port) == 0)
		return 0;
	return ua->bind_port ? CPM_EIO : open_tcp(ua, 0, false);
}

void cpm_cli_ua_close(struct cpm_cli_ua *ua)
{
	if (ua->fd >= 0)
		close(ua->fd);
	ua->fd = -1;
	cpm_buf_free(&ua->stream);
	for (unsigned i = 0; i < CPM_CLI_SEEN_MAX; i++) {
		free(ua->seen[i].resp);
		ua->seen[i].resp = NULL;
	}
}

void cpm_cli_ua_new_call(struct cpm_cli_ua *ua)
{
	char hex[33];
	cpm_rand_hex(hex, 16);
	snprintf(ua->call_id, sizeof ua->call_id, "%s", hex);
	cpm_rand_hex(ua->from_tag, 8);
	cpm_rand_bytes(&ua->cseq, sizeof ua->cseq);
	ua->cseq = (ua->cseq % 10000) + 1;
	ua->have_ch = false;
}

/* ---------------------------------------------------------------- I/O */

static int send_bytes(struct cpm_cli_ua *ua, const char *data, size_t len,
		      const struct sockaddr_storage *to, socklen_t tolen,
		      const char *what)
{
	char peer[300];
	if (to && ua->transport == CPM_CLI_UDP)
		addr_format((const struct sockaddr *)to, tolen, NULL, 0, NULL,
			    peer, sizeof peer);
	else
		snprintf(peer, sizeof peer, "%s", ua->peer_str);
	trace(ua, true, what, peer, data, len);

	if (ua->transport == CPM_CLI_UDP) {
		if (!to) {
			to = &ua->peer;
			tolen = ua->peerlen;
		}
		ssize_t n = sendto(ua->fd, data, len, 0,
				   (const struct sockaddr *)to, tolen);
		if (n < 0) {
			cpm_logi("cpm", "sendto %s: %s", peer, strerror(errno));
			/* ICMP errors from an earlier datagram: retransmit */
			return errno == ECONNREFUSED ? 0 : CPM_EIO;
		}
		return 0;
	}
	while (len) {
		ssize_t n = send(ua->fd, data, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return CPM_ECLOSED;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Wait for readability; 1 ready, 0 timeout or signal, <0 error. */
static int wait_readable(struct cpm_cli_ua *ua, int timeout_ms)
{
	struct pollfd p = { .fd = ua->fd, .events = POLLIN };
	if (timeout_ms < 0)
		timeout_ms = 0;
	int rc = poll(&p, 1, timeout_ms);
	if (rc < 0)
		return errno == EINTR ? 0 : CPM_EIO;
	return rc > 0 ? 1 : 0;
}

/* Take one framed message out of the TCP stream buffer: 1 yes, 0 not yet,
 * CPM_ECLOSED on a framing error. */
static int stream_take(struct cpm_cli_ua *ua)
{
	struct cpm_str s = cpm_buf_str(&ua->stream);
	size_t crlf = 0, skip = 0, msglen = 0;

	while (crlf + 1 < s.len && s.s[crlf] == '\r' && s.s[crlf + 1] == '\n')
		crlf += 2;
	if (crlf) {
		/* RFC 5626 §3.5.1: CRLFCRLF ping gets a CRLF pong */
		if (crlf >= 4)
			send_bytes(ua, "\r\n", 2, NULL, 0, "(keep-alive pong)");
		cpm_buf_consume(&ua->stream, crlf);
		s = cpm_buf_str(&ua->stream);
	}
	if (s.len == 0)
		return 0;
	int rc = cpm_sip_frame(s.s, s.len, &ua->lim, &skip, &msglen);
	if (rc == 0)
		return 0;
	if (rc < 0 || skip + msglen > s.len || msglen > sizeof ua->rx.data) {
		fprintf(stderr, "cpm: unframeable data from %s over tcp (%s), closing\n",
			ua->peer_str, cpm_strerror(rc < 0 ? rc : CPM_ETOOBIG));
		return CPM_ECLOSED;
	}
	memcpy(ua->rx.data, s.s + skip, msglen);
	ua->rx.len = msglen;
	cpm_buf_consume(&ua->stream, skip + msglen);
	memcpy(&ua->rx.from, &ua->peer, ua->peerlen);
	ua->rx.fromlen = ua->peerlen;
	return 1;
}

/* Receive one message into ua->rx and parse it.  1 message, 0 nothing
 * (timeout, signal, garbage), <0 error. */
static int recv_one(struct cpm_cli_ua *ua, int timeout_ms)
{
	struct cpm_cli_rx *rx = &ua->rx;
	char peer[300];
	int rc;

	if (ua->transport == CPM_CLI_TCP) {
		rc = stream_take(ua);
		while (rc == 0) {
			rc = wait_readable(ua, timeout_ms);
			if (rc <= 0)
				return rc;
			char tmp[16384];
			ssize_t n = recv(ua->fd, tmp, sizeof tmp, 0);
			if (n == 0)
				return CPM_ECLOSED;
			if (n < 0)
				return errno == EINTR ? 0 : CPM_ECLOSED;
			if (cpm_buf_append(&ua->stream, tmp, (size_t)n) != 0)
				return CPM_ECLOSED;
			rc = stream_take(ua);
			timeout_ms = 0;
		}
		if (rc < 0)
			return rc;
		snprintf(peer, sizeof peer, "%s", ua->peer_str);
	} else {
		rc = wait_readable(ua, timeout_ms);
		if (rc <= 0)
			return rc;
		rx->fromlen = sizeof rx->from;
		ssize_t n = recvfrom(ua->fd, rx->data, sizeof rx->data - 1, 0,
				     (struct sockaddr *)&rx->from, &rx->fromlen);
		if (n < 0)
			return (errno == EINTR || errno == ECONNREFUSED ||
				errno == EAGAIN) ? 0 : CPM_EIO;
		rx->len = (size_t)n;
		addr_format((struct sockaddr *)&rx->from, rx->fromlen, NULL, 0,
			    NULL, peer, sizeof peer);
		struct cpm_str d = cpm_str_trim((struct cpm_str){ rx->data, rx->len });
		if (d.len == 0)
			return 0; /* keep-alive */
	}
	rx->data[rx->len] = '\0';
	trace(ua, false, NULL, peer, rx->data, rx->len);
	rc = cpm_sip_msg_parse(&rx->msg, rx->data, rx->len,
			       ua->transport == CPM_CLI_TCP ? CPM_SIP_STREAM :
							      CPM_SIP_DATAGRAM,
			       &ua->lim);
	if (rc != 0) {
		if (ua->verbose)
			fprintf(stderr, "cpm: dropped malformed message from %s: %s\n",
				peer, rx->msg.err_reason ? rx->msg.err_reason :
							   cpm_strerror(rc));
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------ incoming requests */

static void seen_key(const struct cpm_sip_msg *m, enum cpm_sip_method method,
		     char *key, size_t keysz)
{
	snprintf(key, keysz, "%.*s|%u|%s|%.*s", CPM_STR_FMT(m->via.branch),
		 (unsigned)m->cseq.num, cpm_sip_method_name(method),
		 CPM_STR_FMT(m->call_id));
}

static struct cpm_cli_seen *seen_find(struct cpm_cli_ua *ua, const char *key)
{
	for (unsigned i = 0; i < CPM_CLI_SEEN_MAX; i++)
		if (ua->seen[i].resp && strcmp(ua->seen[i].key, key) == 0)
			return &ua->seen[i];
	return NULL;
}

int cpm_cli_ua_respond(struct cpm_cli_ua *ua, const struct cpm_cli_rx *rx,
		       int status, const char *extra)
{
	return cpm_cli_ua_respond_body(ua, rx, status, NULL, extra, NULL, CPM_STR_NULL);
}

int cpm_cli_ua_respond_body(struct cpm_cli_ua *ua, const struct cpm_cli_rx *rx,
			    int status, const char *to_tag, const char *extra,
			    const char *ctype, struct cpm_str body)
{
	const struct cpm_sip_msg *m = &rx->msg;
	struct cpm_buf b;
	char tag[17];
	int rc;

	cpm_rand_hex(tag, 8);
	cpm_buf_init(&b, 65535);
	rc = cpm_sip_print_response_start(&b, m, status, cpm_sip_reason(status),
					  to_tag ? to_tag : tag);
	if (!rc)
		rc = cpm_buf_puts(&b, "Server: " CPM_CLI_UA "\r\n");
	if (!rc && extra)
		rc = cpm_buf_puts(&b, extra);
	if (!rc)
		rc = cpm_sip_print_body(&b, ctype ? cpm_str_from_cstr(ctype) : CPM_STR_NULL,
					ctype ? body : CPM_STR_NULL);
	if (rc) {
		cpm_buf_free(&b);
		return rc;
	}
	rc = send_bytes(ua, b.p, b.len, &rx->from, rx->fromlen, NULL);

	struct cpm_cli_seen *s = &ua->seen[ua->seen_next];
	ua->seen_next = (ua->seen_next + 1) % CPM_CLI_SEEN_MAX;
	free(s->resp);
	seen_key(m, m->method, s->key, sizeof s->key);
	s->resp = b.p; /* keep the bytes for retransmissions */
	s->resp_len = b.len;
	return rc;
}

int cpm_cli_ua_resend_last(struct cpm_cli_ua *ua, const struct sockaddr_storage *to,
			   socklen_t tolen)
{
	struct cpm_cli_seen *s = &ua->seen[(ua->seen_next + CPM_CLI_SEEN_MAX - 1) % CPM_CLI_SEEN_MAX];
	if (!s->resp)
		return CPM_ENOTFOUND;
	return send_bytes(ua, s->resp, s->resp_len, to, tolen, "(retransmission)");
}

static const char allow_hdr[] = "Allow: MESSAGE, OPTIONS\r\n";

static void default_answer(struct cpm_cli_ua *ua, const struct cpm_cli_rx *rx)
{
	switch (rx->msg.method) {
	case CPM_SIP_OPTIONS:
		cpm_cli_ua_respond(ua, rx, 200,
				   "Allow: MESSAGE, OPTIONS\r\n"
				   "Accept: text/plain, message/cpim\r\n");
		break;
	case CPM_SIP_MESSAGE:
		cpm_cli_ua_respond(ua, rx, 480, NULL);
		break;
	case CPM_SIP_OTHER:
		cpm_cli_ua_respond(ua, rx, 501, allow_hdr);
		break;
	default:
		cpm_cli_ua_respond(ua, rx, 405, allow_hdr);
		break;
	}
}

static void handle_request(struct cpm_cli_ua *ua)
{
	const struct cpm_sip_msg *m = &ua->rx.msg;
	char key[sizeof ua->seen[0].key];

	if (m->method == CPM_SIP_ACK) {
		if (ua->pass_ack && ua->on_request)
			ua->on_request(ua, &ua->rx, ua->on_request_arg);
		return;
	}
	seen_key(m, m->method, key, sizeof key);
	struct cpm_cli_seen *s = seen_find(ua, key);
	if (s) {
		send_bytes(ua, s->resp, s->resp_len, &ua->rx.from,
			   ua->rx.fromlen, "(retransmission)");
		return;
	}
	if (m->method == CPM_SIP_CANCEL) {
		/* all our answers are final at once: nothing left to cancel */
		seen_key(m, CPM_SIP_INVITE, key, sizeof key);
		cpm_cli_ua_respond(ua, &ua->rx, seen_find(ua, key) ? 200 : 481,
				   NULL);
		return;
	}
	if (ua->on_request)
		ua->on_request(ua, &ua->rx, ua->on_request_arg);
	else
		default_answer(ua, &ua->rx);
}

int cpm_cli_ua_poll(struct cpm_cli_ua *ua, int timeout_ms)
{
	int rc = recv_one(ua, timeout_ms);
	if (rc <= 0)
		return rc;
	if (ua->rx.msg.is_request)
		handle_request(ua);
	else if (ua->verbose)
		fprintf(stderr, "cpm: ignored stray response %d\n", ua->rx.msg.status);
	return 0;
}

/* ----------------------------------------------------------- requests */

static int build_request(struct cpm_cli_ua *ua, const struct cpm_cli_req *req,
			 const char *branch, bool with_auth, uint32_t cseq,
			 const char *method, struct cpm_buf *b)
{
	int rc = cpm_buf_printf(
		b,
		"%s %s SIP/2.0\r\n"
		"Via: SIP/2.0/%s %s;branch=%s;rport\r\n"
		"Max-Forwards: 70\r\n"
		"From: <%s>;tag=%s\r\n"
		"To: <%s>%s%s\r\n"
		"Call-ID: %s\r\n"
		"CSeq: %u %s\r\n",
		method, req->ruri, transport_upper(ua->transport),
		ua->local_hostport, branch, req->from_uri ? req->from_uri : ua->aor_uri,
		ua->from_tag, req->to_uri, req->to_tag ? ";tag=" : "",
		req->to_tag ? req->to_tag : "", ua->call_id, (unsigned)cseq, method);
	if (!rc && with_auth)
		rc = cpm_cli_auth_header(b, &ua->ch, ua->auth_user, ua->password,
					 method, req->ruri, req->body, NULL);
	if (!rc && req->extra)
		rc = cpm_buf_puts(b, req->extra);
	if (!rc)
		rc = cpm_buf_puts(b, "User-Agent: " CPM_CLI_UA "\r\n");
	if (!rc)
		rc = cpm_sip_print_body(b, req->ctype ? cpm_str_from_cstr(req->ctype) :
							CPM_STR_NULL,
					req->body);
	return rc;
}

/* RFC 3261 §17.1.1.3: the ACK of a non-2xx final answer to an INVITE is
 * part of its transaction: same branch, Request-URI, From, Call-ID and
 * CSeq number, the To of the answer (with its tag), the INVITE's Route. */
static void ack_failure(struct cpm_cli_ua *ua, const struct cpm_cli_req *req,
			const char *branch, uint32_t cseq, const struct cpm_sip_msg *resp)
{
	const struct cpm_sip_hdr *to = cpm_sip_msg_hdr(resp, CPM_SIP_H_TO);
	struct cpm_buf b;
	cpm_buf_init(&b, 8192);
	int rc = cpm_buf_printf(&b,
				"ACK %s SIP/2.0\r\n"
				"Via: SIP/2.0/%s %s;branch=%s;rport\r\n"
				"Max-Forwards: 70\r\n"
				"From: <%s>;tag=%s\r\n"
				"To: %.*s\r\n"
				"Call-ID: %s\r\n"
				"CSeq: %u ACK\r\n",
				req->ruri, transport_upper(ua->transport), ua->local_hostport,
				branch, req->from_uri ? req->from_uri : ua->aor_uri, ua->from_tag,
				to ? (int)to->value.len : 0, to ? to->value.s : "", ua->call_id,
				(unsigned)cseq);
	/* the Route lines of the INVITE, if any, ride in extra */
	for (struct cpm_str x = cpm_str_from_cstr(req->extra ? req->extra : "");
	     !rc && x.len;) {
		long nl = cpm_str_chr(x, '\n');
		struct cpm_str line = { x.s, nl < 0 ? x.len : (size_t)nl + 1 };
		if (cpm_str_istarts(line, "route:"))
			rc = cpm_buf_append(&b, line.s, line.len);
		x.s += line.len;
		x.len -= line.len;
	}
	if (!rc)
		rc = cpm_buf_puts(&b, "Content-Length: 0\r\n\r\n");
	if (!rc)
		send_bytes(ua, b.p, b.len, NULL, 0, "(ACK of a failure)");
	cpm_buf_free(&b);
}

/* RFC 3261 §9.1: CANCEL a pending INVITE (same branch, Request-URI, From,
 * To, Call-ID and CSeq number). */
static void cancel_invite(struct cpm_cli_ua *ua, const struct cpm_cli_req *req,
			  const char *branch, uint32_t cseq)
{
	struct cpm_buf b;
	cpm_buf_init(&b, 8192);
	struct cpm_cli_req c = *req;
	c.ctype = NULL;
	c.body = CPM_STR_NULL;
	c.extra = NULL;
	if (build_request(ua, &c, branch, false, cseq, "CANCEL", &b) == 0)
		send_bytes(ua, b.p, b.len, NULL, 0, "(CANCEL)");
	cpm_buf_free(&b);
}

/* One client transaction: send, retransmit (UDP), wait for the final
 * response that matches branch and method. */
static int transact(struct cpm_cli_ua *ua, const struct cpm_buf *b,
		    const char *branch, const struct cpm_cli_req *req, uint32_t cseq,
		    const struct cpm_sip_msg **resp)
{
	enum cpm_sip_method method = req->method;
	uint64_t start = cpm_now_ms();
	uint64_t deadline = start + (req->timeout_ms ? req->timeout_ms : ua->timeout_ms);
	uint64_t interval = T1_MS, next_rtx = start + T1_MS;
	bool provisional = false, cancelled = false;
	int rc;

	rc = send_bytes(ua, b->p, b->len, NULL, 0, NULL);
	if (rc)
		return rc;
	for (;;) {
		uint64_t now = cpm_now_ms();
		if (now >= deadline)
			return CPM_ETIMEDOUT;
		if (method == CPM_SIP_INVITE && provisional && !cancelled && ua->cancel &&
		    ua->cancel(ua->on_request_arg)) {
			cancel_invite(ua, req, branch, cseq);
			cancelled = true;
			/* §9.1: the INVITE ends with 487; give it 64*T1 */
			if (deadline > now + 64 * T1_MS)
				deadline = now + 64 * T1_MS;
		}
		if (ua->transport == CPM_CLI_UDP && now >= next_rtx) {
			rc = send_bytes(ua, b->p, b->len, NULL, 0,
					"(retransmission)");
			if (rc)
				return rc;
			interval = interval * 2 > T2_MS ? T2_MS : interval * 2;
			next_rtx = now + interval;
		}
		uint64_t until = deadline;
		if (ua->transport == CPM_CLI_UDP && next_rtx < until)
			until = next_rtx;
		if (method == CPM_SIP_INVITE && ua->cancel && until > now + 200)
			until = now + 200;
		rc = recv_one(ua, (int)(until - now));
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue;
		const struct cpm_sip_msg *m = &ua->rx.msg;
		if (m->is_request) {
			handle_request(ua);
			continue;
		}
		if (!cpm_str_eq_cstr(m->via.branch, branch) ||
		    m->cseq.method != method) {
			if (ua->verbose)
				fprintf(stderr, "cpm: ignored response %d of another transaction\n",
					m->status);
			continue;
		}
		if (m->status < 200) {
			/* RFC 3261 §17.1.2.2: keep retransmitting at T2; an
			 * INVITE stops (§17.1.1.2, Timer A ends at a 1xx) */
			if (ua->transport == CPM_CLI_UDP) {
				interval = T2_MS;
				next_rtx = method == CPM_SIP_INVITE ? UINT64_MAX :
								      cpm_now_ms() + T2_MS;
			}
			if (method == CPM_SIP_INVITE) {
				provisional = true;
				if (ua->on_provisional)
					ua->on_provisional(ua, m, ua->on_request_arg);
			}
			continue;
		}
		if (method == CPM_SIP_INVITE && m->status >= 300)
			ack_failure(ua, req, branch, cseq, m);
		*resp = m;
		return 0;
	}
}

int cpm_cli_ua_request(struct cpm_cli_ua *ua, const struct cpm_cli_req *req,
		       const struct cpm_sip_msg **resp)
{
	struct cpm_cli_auth_retry ar = { false, false };
	const char *method = cpm_sip_method_name(req->method);
	struct cpm_buf b;
	int rc;

	cpm_buf_init(&b, 65535);
	for (int round = 0; round < 4; round++) {
		char branch[7 + 33];
		memcpy(branch, "z9hG4bK", 7);
		cpm_rand_hex(branch + 7, 16);
		bool with_auth = ua->have_ch && ua->password;
		uint32_t cseq = ua->cseq;
		cpm_buf_reset(&b);
		rc = build_request(ua, req, branch, with_auth, cseq, method, &b);
		ua->cseq++; /* the next request of this call, retry or not */
		if (rc)
			break;
		ua->sent_credentials = with_auth;
		rc = transact(ua, &b, branch, req, cseq, resp);
		if (rc)
			break;
		int st = (*resp)->status;
		if ((st != 401 && st != 407) || !ua->password)
			break;
		struct cpm_cli_challenge ch;
		if (cpm_cli_challenge_choose(*resp, &ch) != 0 ||
		    !cpm_cli_auth_retry(&ar, with_auth, &ch, &ua->ch, &ua->have_ch))
			break;
	}
	cpm_buf_free(&b);
	return rc;
}

int cpm_cli_ua_send(struct cpm_cli_ua *ua, const struct cpm_cli_req *req,
		    uint32_t cseq)
{
	char branch[7 + 33];
	struct cpm_buf b;
	memcpy(branch, "z9hG4bK", 7);
	cpm_rand_hex(branch + 7, 16);
	cpm_buf_init(&b, 65535);
	int rc = build_request(ua, req, branch, false, cseq,
			       cpm_sip_method_name(req->method), &b);
	if (!rc)
		rc = send_bytes(ua, b.p, b.len, NULL, 0, NULL);
	cpm_buf_free(&b);
	return rc;
}

int cpm_cli_ua_keepalive(struct cpm_cli_ua *ua)
{
	if (ua->transport != CPM_CLI_TCP || ua->fd < 0)
		return 0;
	return send_bytes(ua, "\r\n\r\n", 4, NULL, 0, "(keep-alive ping)");
}

void cpm_cli_ua_report(const struct cpm_cli_ua *ua, int err)
{
	switch (err) {
	case CPM_ETIMEDOUT:
		fprintf(stderr, "cpm: no response from %s over %s after %u s\n",
			ua->peer_str, transport_name(ua->transport),
			ua->timeout_ms / 1000);
		break;
	case CPM_ECLOSED:
		fprintf(stderr, "cpm: connection to %s over %s closed\n",
			ua->peer_str, transport_name(ua->transport));
		break;
	default:
		fprintf(stderr, "cpm: request to %s over %s failed: %s\n",
			ua->peer_str, transport_name(ua->transport),
			cpm_strerror(err));
		break;
	}
}
