/* roomload: the room fan-out load client of bench/room_fanout.sh.
 *
 * One process, one thread, epoll: N participants, each a SIP dialog (over
 * one UDP socket) and an MSRP TCP connection of its own.
 *
 *   --mode room  every participant INVITEs the room URI (an m=message
 *                TCP/MSRP offer, a=setup:actpass), ACKs the 200, connects
 *                to the a=path of the answer and binds with an empty SEND
 *                (RFC 4975 §5.4).  Senders send each message once; the
 *                server (an RFC 7701 switch) copies it to the others.
 *   --mode relay every participant opens a connection to an RFC 4976 relay
 *                (Kamailio's msrp module in the benchmark: no digest) and
 *                AUTHs; the Use-Path it gets, then its own URI, is its
 *                path.  Senders send each message to every other
 *                participant themselves, one SEND each (To-Path: that
 *                participant's relay session, then its URI): the same
 *                copies, made by the clients.
 *
 * Senders (participants 0..S-1) send M messages in all (M/S each), 1 body
 * of --size bytes, text/plain "RL <sender> <seq> <send time ns> xxx...",
 * as fast as the server answers: at most --window messages per sender
 * whose SEND(s) have no response yet.  Every participant answers every SEND
 * with 200 (hop by hop: To-Path = the first From-Path URI) and checks the
 * sequence numbers of each sender (a gap: missing, a repeat: duplicate).
 * A message is delivered when its last copy arrived; its latency is from
 * its send to that copy.  With --slow 1 the last participant never reads
 * its MSRP socket after binding (4 KB receive buffer): the server should
 * drop it (a BYE) and the others must not notice.
 *
 * The server's CPU (utime+stime of the --pid processes, from /proc) and
 * memory (VmRSS, VmHWM of the first pid) are read at the first send and at
 * the last delivery, so joining and leaving are not counted.
 *
 * Prints key=value lines for the script, e.g.
 *   joined=100 messages=5000 deliveries=495000 elapsed=3.21 deliv_per_s=154205
 *   lat_p50_ms=.. lat_p99_ms=.. server_ticks=.. server_us_per_deliv=..
 *   missing=0 dup=0 errors=0 slow_dropped=1 slow_drop_ms=.. client_cpu_s=..
 *
 * Self-contained (libc only): cc -O2 -o roomload roomload.c
 * Network: 127.0.0.1 only (what --sip / --relay / the answers name). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXP 1000
#define RCHUNK (256 * 1024)

enum { ST_INVITED, ST_CONNECTING, ST_BOUND, ST_GONE };

struct part {
	int idx, fd, st;
	bool slow, bye_got, bye_ok, reading;
	char uri[96];      /* our MSRP URI */
	char callid[64], tag[24];
	char to_hdr[256];  /* the 200's To (with the focus's tag) */
	char target[160];  /* the 200's Contact URI: ACK, BYE */
	char path[512];    /* room: the answer's a=path; relay: Use-Path SP our URI */
	int inv_tries;
	double inv_at;
	char *rb;
	size_t rlen, rcap;
	char *wb;
	size_t wlen, woff, wcap;
	bool wpoll;
	uint32_t *next;    /* per sender: the next sequence number expected */
	uint64_t recv;
};

static struct {
	int mode_relay;
	struct sockaddr_in sip, relay;
	char room[128];
	char domain[64];
	int n, senders, window, size, slow;
	long messages;
	double timeout;
	int pids[16], npids;
} o = { .n = 100, .senders = 1, .window = 16, .size = 1024, .messages = 5000, .timeout = 120 };

static struct part P[MAXP];
static int ep, sipfd, sipport;
static long per_sender;
static double *sent_at;     /* per message (sender * per_sender + seq) */
static uint16_t *copies;    /* per message: copies received */
static uint16_t *answered;  /* relay mode: SENDs answered per message */
static uint64_t *ans_bits;  /* relay mode: which recipients answered (MAXP bits) */
static double *lat;         /* per message: latency of its last copy */
static long ndelivered_msgs, ndeliveries, nmissing, ndup, nerrors, nanswers;
static int *outstanding;    /* per sender */
static long *nextseq;       /* per sender */
static double t_first, t_last, slow_drop_at = -1;
static int expect_copies;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "roomload: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		die("out of memory");
	return p;
}

/* ------------------------------------------------------------ output */

static void wput(struct part *p, const char *s, size_t n)
{
	if (p->wlen + n > p->wcap) {
		if (p->woff) {
			memmove(p->wb, p->wb + p->woff, p->wlen - p->woff);
			p->wlen -= p->woff;
			p->woff = 0;
		}
		while (p->wlen + n > p->wcap)
			p->wcap = p->wcap ? p->wcap * 2 : 65536;
		p->wb = xrealloc(p->wb, p->wcap);
	}
	memcpy(p->wb + p->wlen, s, n);
	p->wlen += n;
}

static void wprintf(struct part *p, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof buf)
		die("message too long");
	wput(p, buf, (size_t)n);
}


static int *dirty; /* participants with output pending */
static int ndirty;
static bool *is_dirty;

static void mark(struct part *p)
{
	if (!is_dirty[p->idx]) {
		is_dirty[p->idx] = true;
		dirty[ndirty++] = p->idx;
	}
}

static void set_poll(struct part *p, bool out)
{
	if (p->wpoll == out || p->fd < 0)
		return;
	struct epoll_event ev = { .events = (p->reading ? EPOLLIN : 0) | (out ? EPOLLOUT : 0),
				  .data.u32 = (uint32_t)p->idx };
	if (epoll_ctl(ep, EPOLL_CTL_MOD, p->fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
	p->wpoll = out;
}

static void flush(struct part *p)
{
	while (p->fd >= 0 && p->woff < p->wlen) {
		ssize_t w = write(p->fd, p->wb + p->woff, p->wlen - p->woff);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			p->woff = p->wlen; /* the peer went: drop what we had */
			break;
		}
		p->woff += (size_t)w;
	}
	if (p->woff == p->wlen)
		p->woff = p->wlen = 0;
	set_poll(p, p->wlen > 0);
}

static void flush_dirty(void)
{
	for (int i = 0; i < ndirty; i++) {
		is_dirty[dirty[i]] = false;
		flush(&P[dirty[i]]);
	}
	ndirty = 0;
}

/* ------------------------------------------------------------ SIP (UDP) */

/* The value of header name (or its compact form c) in a SIP message. */
static bool sip_hdr(const char *m, size_t len, const char *name, char c, char *out, size_t outsz)
{
	const char *end = m + len, *l = memchr(m, '\n', len);
	size_t nl = strlen(name);
	while (l && ++l < end && *l != '\r' && *l != '\n') {
		const char *e = memchr(l, '\n', (size_t)(end - l));
		if (!e)
			e = end;
		size_t k = 0;
		if ((size_t)(e - l) > nl && strncasecmp(l, name, nl) == 0)
			k = nl;
		else if (c && (l[0] == c || l[0] == (c ^ 0x20)) && (l[1] == ':' || l[1] == ' '))
			k = 1;
		if (k) {
			const char *v = l + k;
			while (v < e && *v == ' ')
				v++;
			if (v < e && *v == ':') {
				v++;
				while (v < e && *v == ' ')
					v++;
				size_t n = (size_t)(e - v);
				if (n && v[n - 1] == '\r')
					n--;
				if (n >= outsz)
					n = outsz - 1;
				memcpy(out, v, n);
				out[n] = '\0';
				return true;
			}
		}
		l = e < end ? e : NULL;
	}
	return false;
}

static void sip_send(const char *s, int n, const struct sockaddr_in *to)
{
	if (sendto(sipfd, s, (size_t)n, 0, (const struct sockaddr *)to, sizeof *to) < 0)
		fprintf(stderr, "roomload: sendto: %s\n", strerror(errno));
}

static void send_invite(struct part *p)
{
	char sdp[1024], msg[2048];
	int sl = snprintf(sdp, sizeof sdp,
			  "v=0\r\no=u%d 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
			  "m=message 9 TCP/MSRP *\r\n"
			  "a=accept-types:message/cpim text/plain\r\n"
			  "a=accept-wrapped-types:*\r\n"
			  "a=path:%s\r\na=setup:actpass\r\n",
			  p->idx, p->uri);
	int n = snprintf(msg, sizeof msg,
			 "INVITE sip:%s SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%si;rport\r\n"
			 "Max-Forwards: 70\r\n"
			 "From: \"U%d\" <sip:u%d@%s>;tag=%s\r\n"
			 "To: <sip:%s>\r\n"
			 "Call-ID: %s\r\n"
			 "CSeq: 1 INVITE\r\n"
			 "Contact: <sip:u%d@127.0.0.1:%d>\r\n"
			 "Content-Type: application/sdp\r\n"
			 "Content-Length: %d\r\n\r\n%s",
			 o.room, sipport, p->tag, p->idx, p->idx, o.domain, p->tag, o.room, p->callid,
			 p->idx, sipport, sl, sdp);
	sip_send(msg, n, &o.sip);
	p->inv_tries++;
	p->inv_at = now();
}

static void send_in_dialog(struct part *p, const char *method, int cseq, const char *branch)
{
	char msg[2048];
	int n = snprintf(msg, sizeof msg,
			 "%s %s SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s%s;rport\r\n"
			 "Max-Forwards: 70\r\n"
			 "From: \"U%d\" <sip:u%d@%s>;tag=%s\r\n"
			 "To: %s\r\n"
			 "Call-ID: %s\r\n"
			 "CSeq: %d %s\r\n"
			 "Content-Length: 0\r\n\r\n",
			 method, p->target, sipport, p->tag, branch, p->idx, p->idx, o.domain, p->tag,
			 p->to_hdr, p->callid, cseq, method);
	sip_send(msg, n, &o.sip);
}

static void msrp_open(struct part *p, const char *host, int port);

/* The 200 to our INVITE: ACK, then the MSRP connection and the binding SEND. */
static void invite_ok(struct part *p, const char *m, size_t len)
{
	bool first = p->st == ST_INVITED;
	if (first) {
		char contact[256];
		if (!sip_hdr(m, len, "To", 't', p->to_hdr, sizeof p->to_hdr) ||
		    !sip_hdr(m, len, "Contact", 'm', contact, sizeof contact))
			die("u%d: a 200 without To or Contact", p->idx);
		char *lt = strchr(contact, '<'), *gt = lt ? strchr(lt, '>') : NULL;
		if (!gt)
			die("u%d: Contact %s", p->idx, contact);
		snprintf(p->target, sizeof p->target, "%.*s", (int)(gt - lt - 1), lt + 1);
	}
	send_in_dialog(p, "ACK", 1, "a");
	if (!first)
		return;
	const char *a = memmem(m, len, "a=path:", 7);
	if (!a)
		die("u%d: no a=path in the answer", p->idx);
	a += 7;
	const char *e = a;
	while (e < m + len && *e != '\r' && *e != '\n')
		e++;
	snprintf(p->path, sizeof p->path, "%.*s", (int)(e - a), a);
	char host[64];
	int port;
	/* the first URI of the path: where we connect (RFC 4975 §5.4) */
	if (sscanf(p->path, "msrp://%63[^:/]:%d/", host, &port) != 2)
		die("u%d: a=path %s", p->idx, p->path);
	msrp_open(p, host, port);
	p->st = ST_CONNECTING;
	wprintf(p,
		"MSRP bnd%04d SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: bind%d\r\n"
		"Byte-Range: 1-0/0\r\n-------bnd%04d$\r\n",
		p->idx, p->path, p->uri, p->idx, p->idx);
	mark(p);
}

static void sip_recv(void)
{
	char buf[65536];
	struct sockaddr_in from;
	for (;;) {
		socklen_t fl = sizeof from;
		ssize_t n = recvfrom(sipfd, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			return;
		buf[n] = '\0';
		char callid[128], cseq[64];
		int idx;
		if (!sip_hdr(buf, (size_t)n, "Call-ID", 'i', callid, sizeof callid) ||
		    !sip_hdr(buf, (size_t)n, "CSeq", 0, cseq, sizeof cseq) ||
		    sscanf(callid, "rl%d-", &idx) != 1 || idx < 0 || idx >= o.n)
			continue;
		struct part *p = &P[idx];
		if (strncmp(buf, "SIP/2.0 ", 8) == 0) {
			int code = atoi(buf + 8);
			if (code < 200)
				continue;
			if (strstr(cseq, "INVITE")) {
				if (code / 100 == 2)
					invite_ok(p, buf, (size_t)n);
				else
					die("u%d: INVITE answered %d", idx, code);
			} else if (strstr(cseq, "BYE")) {
				p->bye_ok = true;
			}
			continue;
		}
		/* a request in the dialog (the focus's BYE): 200 */
		char out[2048];
		int k = snprintf(out, sizeof out, "SIP/2.0 200 OK\r\n");
		static const char *const copy[] = { "Via", "From", "To", "Call-ID", "CSeq" };
		static const char cmp[] = { 'v', 'f', 't', 'i', 0 };
		for (int i = 0; i < 5; i++) {
			char v[512];
			if (sip_hdr(buf, (size_t)n, copy[i], cmp[i], v, sizeof v))
				k += snprintf(out + k, sizeof out - (size_t)k, "%s: %s\r\n", copy[i], v);
		}
		k += snprintf(out + k, sizeof out - (size_t)k, "Content-Length: 0\r\n\r\n");
		sip_send(out, k, &from);
		if (strncmp(buf, "BYE ", 4) == 0 && !p->bye_got) {
			p->bye_got = true;
			if (p->slow && slow_drop_at < 0)
				slow_drop_at = now();
		}
	}
}

/* ------------------------------------------------------------ MSRP (TCP) */

static void msrp_open(struct part *p, const char *host, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
		die("u%d: MSRP host %s is not an IPv4 address", p->idx, host);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (p->slow) {
		int small = 4096;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
		die("u%d: connect %s:%d: %s", p->idx, host, port, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		die("fcntl: %s", strerror(errno));
	p->fd = fd;
	p->reading = true;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)p->idx };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

static double tnow;

/* A copy of message (s, q) reached p. */
static void record(struct part *p, long s, long q)
{
	if (s < 0 || s >= o.senders || q < 0 || q >= per_sender || s == p->idx) {
		nerrors++;
		return;
	}
	long exp = p->next[s];
	if (q < exp) {
		ndup++;
		return;
	}
	if (q > exp)
		nmissing += q - exp;
	p->next[s] = (uint32_t)(q + 1);
	p->recv++;
	ndeliveries++;
	long m = s * per_sender + q;
	if (++copies[m] == expect_copies) {
		lat[m] = tnow - sent_at[m];
		ndelivered_msgs++;
		t_last = tnow;
	}
}

static void answered_one(long s, long q, int r, int code)
{
	nanswers++;
	if (code / 100 != 2)
		nerrors++;
	if (s < 0 || s >= o.senders || q < 0 || q >= per_sender)
		return;
	long m = s * per_sender + q;
	if (!o.mode_relay) {
		outstanding[s]--;
		return;
	}
	/* relay: the relay's own 200 and the relayed one of the recipient may
	 * both come back: count each recipient once */
	uint64_t *bits = ans_bits + (size_t)m * ((MAXP + 63) / 64);
	if (r < 0 || r >= o.n || (bits[r / 64] >> (r % 64)) & 1)
		return;
	bits[r / 64] |= 1ull << (r % 64);
	if (++answered[m] == o.n - 1)
		outstanding[s]--;
}

/* One whole MSRP message m[0..len) (up to its end-line), tid its id. */
static void msrp_msg(struct part *p, const char *m, size_t len, const char *tid, size_t tl,
		     const char *rest)
{
	if (rest[0] >= '0' && rest[0] <= '9') {
		int code = atoi(rest);
		long s, q;
		int r;
		if (tid[0] == 'b') {
			if (code != 200)
				die("u%d: binding SEND answered %d", p->idx, code);
			p->st = ST_BOUND;
		} else if (tid[0] == 'a') {
			const char *u = memmem(m, len, "\r\nUse-Path: ", 12);
			if (code != 200 || !u)
				die("u%d: AUTH answered %d", p->idx, code);
			u += 12;
			const char *e = u;
			while (e < m + len && *e != '\r')
				e++;
			snprintf(p->path, sizeof p->path, "%.*s %s", (int)(e - u), u, p->uri);
			p->st = ST_BOUND;
		} else if (tid[0] == 's' && sscanf(tid, "s%ldx%ld", &s, &q) == 2) {
			answered_one(s, q, -1, code);
		} else if (tid[0] == 'k' && sscanf(tid, "k%ldx%ldx%d", &s, &q, &r) == 3) {
			answered_one(s, q, r, code);
		}
		return;
	}
	if (strncmp(rest, "SEND", 4) != 0)
		return; /* REPORT, ...: nothing to answer */
	const char *hend = memmem(m, len, "\r\n\r\n", 4);
	size_t hl = hend ? (size_t)(hend - m) : len;
	if (!memmem(m, hl, "\r\nFailure-Report: no", 20)) {
		/* RFC 4975 §7.2 / RFC 4976 §7.3: to the previous hop */
		const char *f = memmem(m, hl, "\r\nFrom-Path: ", 13);
		if (!f)
			die("u%d: a SEND without From-Path", p->idx);
		f += 13;
		const char *e = f;
		while (e < m + hl && *e != ' ' && *e != '\r')
			e++;
		wprintf(p, "MSRP %.*s 200 OK\r\nTo-Path: %.*s\r\nFrom-Path: %s\r\n-------%.*s$\r\n",
			(int)tl, tid, (int)(e - f), f, p->uri, (int)tl, tid);
		mark(p);
	}
	if (!hend)
		return;
	const char *b = hend + 4, *rl = memmem(b, (size_t)(m + len - b), "RL ", 3);
	if (!rl)
		return;
	char *x;
	long s = strtol(rl + 3, &x, 10);
	long q = strtol(x, NULL, 10);
	record(p, s, q);
}

static void msrp_parse(struct part *p)
{
	size_t off = 0;
	for (;;) {
		const char *m = p->rb + off;
		size_t left = p->rlen - off;
		const char *eol = memmem(m, left, "\r\n", 2);
		if (!eol)
			break;
		if (left < 5 || memcmp(m, "MSRP ", 5) != 0)
			die("u%d: not MSRP: %.40s", p->idx, m);
		const char *tid = m + 5, *sp = memchr(tid, ' ', (size_t)(eol - tid));
		if (!sp)
			die("u%d: bad start line", p->idx);
		size_t tl = (size_t)(sp - tid);
		char pat[80];
		if (tl > 64)
			die("u%d: long transaction id", p->idx);
		memcpy(pat, "\r\n-------", 9);
		memcpy(pat + 9, tid, tl);
		const char *end = memmem(eol, (size_t)(m + left - eol), pat, 9 + tl);
		if (!end || (size_t)(end - m) + 9 + tl + 3 > left)
			break;
		char rest[16];
		size_t rn = (size_t)(eol - sp - 1) < sizeof rest - 1 ? (size_t)(eol - sp - 1) : sizeof rest - 1;
		memcpy(rest, sp + 1, rn);
		rest[rn] = '\0';
		char tidc[72];
		memcpy(tidc, tid, tl);
		tidc[tl] = '\0';
		msrp_msg(p, m, (size_t)(end - m) + 2, tidc, tl, rest);
		off += (size_t)(end - m) + 9 + tl + 3;
	}
	if (off) {
		memmove(p->rb, p->rb + off, p->rlen - off);
		p->rlen -= off;
	}
}

static void msrp_read(struct part *p)
{
	for (int i = 0; i < 8; i++) {
		if (p->rcap - p->rlen < RCHUNK / 2) {
			p->rcap = p->rcap ? p->rcap * 2 : RCHUNK;
			p->rb = xrealloc(p->rb, p->rcap);
		}
		ssize_t n = read(p->fd, p->rb + p->rlen, p->rcap - p->rlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN) {
				epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, NULL);
				close(p->fd);
				p->fd = -1;
				p->st = ST_GONE;
			}
			return;
		}
		p->rlen += (size_t)n;
		tnow = now();
		msrp_parse(p);
		if ((size_t)n < p->rcap - p->rlen)
			return;
	}
}

/* ------------------------------------------------------------ sending */

static char *pad;

static void send_msg(long s, long q)
{
	struct part *p = &P[s];
	char head[64];
	int hl = snprintf(head, sizeof head, "RL %ld %ld ", s, q);
	for (int r = 0; r < (o.mode_relay ? o.n : 1); r++) {
		if (o.mode_relay && r == s)
			continue;
		char tid[48];
		if (o.mode_relay)
			snprintf(tid, sizeof tid, "k%ldx%ldx%d", s, q, r);
		else
			snprintf(tid, sizeof tid, "s%ldx%ld", s, q);
		wprintf(p,
			"MSRP %s SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: m%ldx%ld\r\n"
			"Byte-Range: 1-%d/%d\r\nContent-Type: text/plain\r\n\r\n",
			tid, o.mode_relay ? P[r].path : p->path, p->uri, s, q, o.size, o.size);
		wput(p, head, (size_t)hl);
		wput(p, pad, (size_t)(o.size - hl));
		wprintf(p, "\r\n-------%s$\r\n", tid);
	}
	sent_at[s * per_sender + q] = tnow;
	outstanding[s]++;
	nextseq[s]++;
	mark(p);
}

static void top_up(void)
{
	for (long s = 0; s < o.senders; s++)
		while (outstanding[s] < o.window && nextseq[s] < per_sender)
			send_msg(s, nextseq[s]);
}

/* ------------------------------------------------------------ the loop */

static void pump(int ms)
{
	struct epoll_event evs[256];
	int n = epoll_wait(ep, evs, 256, ms);
	tnow = now();
	for (int i = 0; i < n; i++) {
		uint32_t k = evs[i].data.u32;
		if (k == MAXP) {
			sip_recv();
			continue;
		}
		struct part *p = &P[k];
		if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && p->fd >= 0 && p->reading)
			msrp_read(p);
		if ((evs[i].events & EPOLLOUT) && p->fd >= 0)
			flush(p);
	}
}

static long ticks(void)
{
	long t = 0;
	for (int i = 0; i < o.npids; i++) {
		char path[64], buf[2048];
		snprintf(path, sizeof path, "/proc/%d/stat", o.pids[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *c = strrchr(buf, ')');
		long ut = 0, st = 0;
		/* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt
		 * majflt cmajflt utime stime (proc(5) fields 14, 15) */
		if (c && sscanf(c + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut,
				&st) == 2)
			t += ut + st;
	}
	return t;
}

static long status_kb(const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", o.pids[0]);
	FILE *f = fopen(path, "r");
	long v = -1;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':')
			v = atol(line + kl + 1);
	if (f)
		fclose(f);
	return v;
}

static double cpu_self(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static bool addr(const char *s, struct sockaddr_in *a)
{
	char host[64];
	int port;
	if (sscanf(s, "%63[^:]:%d", host, &port) != 2)
		return false;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &a->sin_addr) == 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: roomload --sip HOST:PORT --room ROOM@DOMAIN | --relay HOST:PORT\n"
		"  [--parts 100] [--senders 1] [--messages 5000] [--size 1024] [--window 16]\n"
		"  [--slow 0|1] [--pid PID[,PID...]] [--timeout 120]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sip", 1, 0, 'S' },	   { "room", 1, 0, 'R' },   { "relay", 1, 0, 'K' },
		{ "parts", 1, 0, 'n' },	   { "senders", 1, 0, 's' }, { "messages", 1, 0, 'm' },
		{ "size", 1, 0, 'z' },	   { "window", 1, 0, 'w' }, { "slow", 1, 0, 'l' },
		{ "pid", 1, 0, 'p' },	   { "timeout", 1, 0, 't' }, { 0, 0, 0, 0 },
	};
	int c;
	bool have_sip = false;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'S': have_sip = addr(optarg, &o.sip); break;
		case 'R': snprintf(o.room, sizeof o.room, "%s", optarg); break;
		case 'K':
			o.mode_relay = 1;
			if (!addr(optarg, &o.relay))
				usage();
			break;
		case 'n': o.n = atoi(optarg); break;
		case 's': o.senders = atoi(optarg); break;
		case 'm': o.messages = atol(optarg); break;
		case 'z': o.size = atoi(optarg); break;
		case 'w': o.window = atoi(optarg); break;
		case 'l': o.slow = atoi(optarg); break;
		case 'p':
			for (char *t = strtok(optarg, ","); t && o.npids < 16; t = strtok(NULL, ","))
				o.pids[o.npids++] = atoi(t);
			break;
		case 't': o.timeout = atof(optarg); break;
		default: usage();
		}
	}
	if ((!o.mode_relay && (!have_sip || !o.room[0])) || o.n < 2 || o.n > MAXP ||
	    o.senders < 1 || o.senders >= o.n || o.size < 64 || o.window < 1 ||
	    (o.slow && o.mode_relay))
		usage();
	const char *at = strchr(o.room, '@');
	snprintf(o.domain, sizeof o.domain, "%s", at ? at + 1 : "example.test");
	per_sender = o.messages / o.senders;
	o.messages = per_sender * o.senders;
	expect_copies = o.n - 1 - (o.slow ? 1 : 0);
	size_t nm = o.messages ? (size_t)o.messages : 1;
	sent_at = calloc(nm, sizeof *sent_at);
	lat = calloc(nm, sizeof *lat);
	copies = calloc(nm, sizeof *copies);
	answered = calloc(nm, sizeof *answered);
	if (o.mode_relay)
		ans_bits = calloc(nm * ((MAXP + 63) / 64), sizeof *ans_bits);
	outstanding = calloc((size_t)o.senders, sizeof *outstanding);
	nextseq = calloc((size_t)o.senders, sizeof *nextseq);
	dirty = calloc((size_t)o.n, sizeof *dirty);
	is_dirty = calloc((size_t)o.n, sizeof *is_dirty);
	pad = malloc((size_t)o.size);
	if (!sent_at || !lat || !copies || !answered || (o.mode_relay && !ans_bits) ||
	    !outstanding || !nextseq || !dirty || !is_dirty || !pad)
		die("out of memory");
	memset(pad, 'x', (size_t)o.size);

	ep = epoll_create1(0);
	sipfd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in la = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &la.sin_addr);
	int big = 1 << 20;
	setsockopt(sipfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	if (bind(sipfd, (struct sockaddr *)&la, sizeof la) < 0)
		die("bind: %s", strerror(errno));
	socklen_t ll = sizeof la;
	getsockname(sipfd, (struct sockaddr *)&la, &ll);
	sipport = ntohs(la.sin_port);
	struct epoll_event sev = { .events = EPOLLIN, .data.u32 = MAXP };
	epoll_ctl(ep, EPOLL_CTL_ADD, sipfd, &sev);

	unsigned run = (unsigned)getpid() ^ (unsigned)time(NULL);
	for (int i = 0; i < o.n; i++) {
		struct part *p = &P[i];
		p->idx = i;
		p->fd = -1;
		p->slow = o.slow && i == o.n - 1;
		p->next = calloc((size_t)o.senders, sizeof *p->next);
		snprintf(p->uri, sizeof p->uri, "msrp://127.0.0.1:9/rl%dx%x;tcp", i, run);
		snprintf(p->callid, sizeof p->callid, "rl%d-%x@roomload", i, run);
		snprintf(p->tag, sizeof p->tag, "t%dx%x", i, run);
	}

	/* join: INVITEs (10 at a time in flight) or AUTHs */
	double t_join = now(), deadline = t_join + 60;
	int bound = 0, next_inv = 0;
	while (bound < o.n && now() < deadline) {
		int inflight = 0;
		for (int i = 0; i < o.n; i++)
			if (P[i].st == ST_INVITED && P[i].inv_tries)
				inflight++;
		while (next_inv < o.n && inflight < 10) {
			struct part *p = &P[next_inv++];
			if (o.mode_relay) {
				char host[32];
				inet_ntop(AF_INET, &o.relay.sin_addr, host, sizeof host);
				msrp_open(p, host, ntohs(o.relay.sin_port));
				p->st = ST_CONNECTING;
				wprintf(p, "MSRP ath%04d AUTH\r\nTo-Path: msrp://%s:%d;tcp\r\nFrom-Path: %s\r\n"
					   "-------ath%04d$\r\n",
					p->idx, host, ntohs(o.relay.sin_port), p->uri, p->idx);
				mark(p);
			} else {
				send_invite(p);
				inflight++;
			}
		}
		flush_dirty();
		pump(20);
		flush_dirty();
		for (int i = 0; i < next_inv; i++)
			if (P[i].st == ST_INVITED && tnow - P[i].inv_at > 1.0) {
				if (P[i].inv_tries >= 6)
					die("u%d: no answer to the INVITE", i);
				send_invite(&P[i]);
			}
		bound = 0;
		for (int i = 0; i < o.n; i++) {
			bound += P[i].st == ST_BOUND;
			if (P[i].st == ST_GONE)
				die("u%d: the MSRP connection closed while joining", i);
		}
	}
	if (bound < o.n)
		die("only %d of %d participants joined", bound, o.n);
	double join_s = now() - t_join;
	/* the slow one never reads again */
	for (int i = 0; i < o.n; i++)
		if (P[i].slow) {
			epoll_ctl(ep, EPOLL_CTL_DEL, P[i].fd, NULL);
			P[i].reading = false;
		}
	for (double t_end = now() + 0.3; now() < t_end;) {
		pump(20);
		flush_dirty();
	}

	/* the measured part: from the first send to the last copy */
	long tk0 = ticks();
	double cpu0 = cpu_self();
	tnow = t_first = now();
	t_last = t_first;
	long slow_drop_msgs = -1;
	deadline = t_first + o.timeout;
	bool idle_end = o.messages == 0;
	while (!idle_end && now() < deadline) {
		top_up();
		flush_dirty();
		pump(5);
		flush_dirty();
		if (slow_drop_at >= 0 && slow_drop_msgs < 0) {
			slow_drop_msgs = 0;
			for (long s = 0; s < o.senders; s++)
				slow_drop_msgs += nextseq[s];
		}
		long outs = 0;
		for (long s = 0; s < o.senders; s++)
			outs += outstanding[s];
		if (ndelivered_msgs == o.messages && outs == 0)
			break;
	}
	if (idle_end)
		t_last = now();
	long tk1 = ticks();
	double cpu1 = cpu_self();
	long rss = status_kb("VmRSS"), hwm = status_kb("VmHWM");
	/* a slow participant may be dropped a little later */
	for (double t_end = now() + (o.slow ? 2.0 : 0.2); now() < t_end && o.slow && slow_drop_at < 0;)
		pump(20);

	/* leave */
	if (!o.mode_relay) {
		for (int i = 0; i < o.n; i++)
			if (!P[i].bye_got)
				send_in_dialog(&P[i], "BYE", 2, "b");
		for (double t_end = now() + 4, t_re = now() + 1; now() < t_end;) {
			int left = 0;
			for (int i = 0; i < o.n; i++)
				left += !P[i].bye_got && !P[i].bye_ok;
			if (!left)
				break;
			pump(20);
			if (now() > t_re) {
				for (int i = 0; i < o.n; i++)
					if (!P[i].bye_got && !P[i].bye_ok)
						send_in_dialog(&P[i], "BYE", 2, "b");
				t_re = now() + 1;
			}
		}
	}
	for (int i = 0; i < o.n; i++)
		if (P[i].fd >= 0)
			close(P[i].fd);

	/* missing at the end: what each reader did not get */
	for (int i = 0; i < o.n; i++) {
		if (P[i].slow)
			continue;
		for (long s = 0; s < o.senders; s++)
			if (s != i)
				nmissing += per_sender - (long)P[i].next[s];
	}
	double el = t_last - t_first;
	long nl = 0;
	for (long m = 0; m < o.messages; m++)
		if (copies[m] >= expect_copies)
			lat[nl++] = lat[m];
	qsort(lat, (size_t)nl, sizeof *lat, cmpd);
	double p50 = nl ? lat[nl / 2] * 1e3 : -1, p99 = nl ? lat[(nl * 99) / 100 < nl ? (nl * 99) / 100 : nl - 1] * 1e3 : -1;
	long hz = sysconf(_SC_CLK_TCK);
	double srv_s = (double)(tk1 - tk0) / (double)hz;
	printf("mode=%s parts=%d senders=%d messages=%ld size=%d window=%d slow=%d\n",
	       o.mode_relay ? "relay" : "room", o.n, o.senders, o.messages, o.size, o.window, o.slow);
	printf("joined=%d join_s=%.2f\n", bound, join_s);
	printf("delivered_msgs=%ld deliveries=%ld expected_deliveries=%ld elapsed=%.3f\n",
	       ndelivered_msgs, ndeliveries, o.messages * (long)expect_copies, el);
	printf("msgs_per_s=%.0f deliv_per_s=%.0f\n", el > 0 ? ndelivered_msgs / el : 0,
	       el > 0 ? ndeliveries / el : 0);
	printf("lat_p50_ms=%.2f lat_p99_ms=%.2f\n", p50, p99);
	printf("server_ticks=%ld server_cpu_s=%.2f server_cpu_pct=%.1f server_us_per_deliv=%.3f\n",
	       tk1 - tk0, srv_s, el > 0 ? 100 * srv_s / el : 0,
	       ndeliveries ? 1e6 * srv_s / (double)ndeliveries : 0);
	printf("server_rss_kb=%ld server_hwm_kb=%ld\n", rss, hwm);
	printf("client_cpu_s=%.2f client_cpu_pct=%.1f\n", cpu1 - cpu0,
	       el > 0 ? 100 * (cpu1 - cpu0) / el : 0);
	printf("missing=%ld dup=%ld errors=%ld answers=%ld\n", nmissing, ndup, nerrors, nanswers);
	printf("slow_dropped=%d slow_drop_ms=%.0f slow_drop_after_msgs=%ld\n", slow_drop_at >= 0,
	       slow_drop_at >= 0 ? (slow_drop_at - t_first) * 1e3 : -1, slow_drop_msgs);
	int bye_ok = 0;
	for (int i = 0; i < o.n; i++)
		bye_ok += P[i].bye_ok;
	printf("left=%d\n", bye_ok);
	bool ok = ndelivered_msgs == o.messages && !nmissing && !ndup && !nerrors &&
		  (!o.slow || slow_drop_at >= 0);
	printf("result=%s\n", ok ? "ok" : "FAIL");
	return ok ? 0 : 1;
}
