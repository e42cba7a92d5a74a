/* drainrx: the returning user of bench/run.sh's drain test.
 *
 * One process, one UDP socket.  It REGISTERs a user at the server (Contact
 * -> its own socket), then answers every request it receives with 200 OK
 * and counts the stored messages pushed to it:
 *   distinct   bodies seen (every stored message of the fill has its own
 *              body);
 *   retrans    the same body in the same transaction again (same Call-ID
 *              and top Via branch): a SIP retransmission, not a duplicate;
 *   dup        the same body in a new transaction: a second delivery;
 *   dup_diff_callid  such duplicates whose Call-ID differs from the first
 *              delivery's (a device cannot recognise them as duplicates).
 * The drain ends when distinct + dup reaches --expect (the rows the store
 * holds: a message stored twice is delivered twice).
 * Times are in ms after the REGISTER was sent (CLOCK_MONOTONIC):
 *   reg_ms     200 OK to the REGISTER, first_ms the first message,
 *   last_ms    the --expect'th delivered message;
 *   store_ms   the first time --done-cmd printed 0 (polled every
 *              --poll-ms after last_ms; it should print how many of the
 *              messages the store still holds as undelivered).
 * After that it keeps answering for --linger-ms to catch late duplicates.
 * Prints one line of key=value pairs (for eval in a shell).
 *
 * Self-contained (libc only): cc -O2 -o drainrx drainrx.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sipwire.h"

#define MAXB 64
#define DGRAM 8192

static struct {
	struct sockaddr_in server;
	char server_s[64];
	char user[64];
	char domain[64];
	char local_ip[64];
	int port;
	unsigned expect;
	double timeout_s;
	const char *done_cmd;
	unsigned poll_ms;
	double done_timeout_s;
	unsigned linger_ms;
	int rcvbuf;
} opt = {
	.local_ip = "127.0.0.1", .port = 5186, .expect = 10000, .timeout_s = 300,
	.poll_ms = 50, .done_timeout_s = 60, .linger_ms = 1000, .rcvbuf = 8 << 20,
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t fnv(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ull;
	}
	return h ? h : 1;
}

/* ---------------------------------------------- seen bodies (open hash) */

struct seen {
	uint64_t body, callid, branch;
};
static struct seen *tab;
static size_t tab_mask;

static struct seen *seen_find(uint64_t body, int *fresh)
{
	size_t i = (size_t)(body ^ (body >> 29)) & tab_mask;
	while (tab[i].body && tab[i].body != body)
		i = (i + 1) & tab_mask;
	*fresh = tab[i].body == 0;
	return &tab[i];
}

/* ------------------------------------------------------------- counters */

static uint64_t t0, t_reg, t_first, t_last, t_store;
static int reg_status;
static uint64_t n_distinct, n_retrans, n_dup, n_dup_diff, n_other, n_bad, n_requests;

/* -------------------------------------------------------------- sending */

static int fd;
static struct mmsghdr out_mh[MAXB];
static struct iovec out_iov[MAXB];
static struct sockaddr_in out_to[MAXB];
static char out_buf[MAXB][DGRAM];
static unsigned out_n;

static void flush_out(void)
{
	unsigned done = 0;
	while (done < out_n) {
		int r = sendmmsg(fd, out_mh + done, out_n - done, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == ENOBUFS) {
				struct pollfd pf = { .fd = fd, .events = POLLOUT };
				poll(&pf, 1, 5);
				continue;
			}
			if (errno == ECONNREFUSED)
				continue;
			perror("sendmmsg");
			break;
		}
		done += (unsigned)r;
	}
	out_n = 0;
}

static char *out_slot(const struct sockaddr_in *to)
{
	if (out_n == MAXB)
		flush_out();
	out_to[out_n] = *to;
	memset(&out_mh[out_n], 0, sizeof out_mh[out_n]);
	out_iov[out_n].iov_base = out_buf[out_n];
	out_mh[out_n].msg_hdr.msg_name = &out_to[out_n];
	out_mh[out_n].msg_hdr.msg_namelen = sizeof out_to[out_n];
	out_mh[out_n].msg_hdr.msg_iov = &out_iov[out_n];
	out_mh[out_n].msg_hdr.msg_iovlen = 1;
	return out_buf[out_n];
}

static void out_commit(size_t len)
{
	out_iov[out_n].iov_len = len;
	out_n++;
}

static uint32_t run_id;

static void send_register(unsigned attempt)
{
	char *p = out_slot(&opt.server);
	int len = snprintf(p, DGRAM,
		"REGISTER sip:%s SIP/2.0\r\n"
		"Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-dr%x-%u;rport\r\n"
		"Max-Forwards: 70\r\n"
		"From: <sip:%s@%s>;tag=dr%x\r\n"
		"To: <sip:%s@%s>\r\n"
		"Call-ID: reg-%x@%s\r\n"
		"CSeq: 1 REGISTER\r\n"
		"Contact: <sip:%s@%s:%d;transport=udp>\r\n"
		"Expires: 3600\r\n"
		"User-Agent: cpmd-bench-drainrx\r\n"
		"Content-Length: 0\r\n\r\n",
		opt.domain, opt.local_ip, opt.port, run_id, attempt, opt.user, opt.domain,
		run_id, opt.user, opt.domain, run_id, opt.local_ip, opt.user, opt.local_ip,
		opt.port);
	out_commit((size_t)len);
	flush_out();
}

/* ------------------------------------------------------------ receiving */

static void on_response(const char *m, size_t len, uint64_t now)
{
	if (len < 12)
		return;
	int status = atoi(m + 8);
	if (status < 200 || reg_status)
		return;
	const char *p = memchr(m, '\n', len), *end = m + len, *n, *v;
	size_t nl, vl;
	int r;
	if (!p)
		return;
	p++;
	while ((r = sw_next_hdr(&p, end, &n, &nl, &v, &vl)) != 0)
		if (r > 0 && sw_hname(n, nl, "cseq", 0) && memmem(v, vl, "REGISTER", 8)) {
			reg_status = status;
			t_reg = now;
			return;
		}
}

/* What sw_answer_200 shows us of a request. */
struct req_info {
	int first_via;
	uint64_t callid, branch;
	size_t clen;
};

static void req_hdr(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
	struct req_info *ri = arg;
	if (ri->first_via && sw_hname(n, nl, "via", 'v')) {
		/* the top Via's branch: the transaction (RFC 3261 §17.2.3) */
		const char *b = memmem(v, vl, "branch=", 7);
		if (b) {
			const char *be = b + 7;
			while (be < v + vl && *be != ';' && *be != ',' && *be != ' ')
				be++;
			ri->branch = fnv(b + 7, (size_t)(be - b - 7));
		}
		ri->first_via = 0;
	} else if (sw_hname(n, nl, "call-id", 'i')) {
		ri->callid = fnv(v, vl);
	} else if (sw_hname(n, nl, "content-length", 'l')) {
		ri->clen = (size_t)strtoul(v, NULL, 10);
	}
}

static void on_request(const char *m, size_t len, const struct sockaddr_in *from, uint64_t now)
{
	if (memcmp(m, "ACK ", 4) == 0)
		return;
	n_requests++;
	struct req_info ri = { .first_via = 1, .clen = (size_t)-1 };
	const char *body = NULL;
	size_t ol = sw_answer_200(m, len, out_slot(from), DGRAM, "drx1", req_hdr, &ri, &body);
	if (!ol) {
		n_bad++;
		return;
	}
	out_commit(ol);
	if (len <= 8 || memcmp(m, "MESSAGE ", 8) != 0) {
		n_other++;
		return;
	}
	size_t blen = (size_t)(m + len - body);
	if (ri.clen < blen)
		blen = ri.clen;
	uint64_t h = fnv(body, blen);
	int fresh;
	struct seen *s = seen_find(h, &fresh);
	if (fresh) {
		*s = (struct seen){ h, ri.callid, ri.branch };
		if (!t_first)
			t_first = now;
		n_distinct++;
	} else if (s->callid == ri.callid && s->branch == ri.branch) {
		n_retrans++; /* the same transaction again */
		return;
	} else {
		n_dup++;
		if (s->callid != ri.callid)
			n_dup_diff++;
	}
	/* a stored message delivered (a new transaction): the drain ends with
	 * the --expect'th, duplicates included (a store that holds a message
	 * twice delivers it twice) */
	if (n_distinct + n_dup == opt.expect)
		t_last = now;
}

static struct mmsghdr in_mh[MAXB];
static struct iovec in_iov[MAXB];
static struct sockaddr_in in_from[MAXB];
static char in_buf[MAXB][DGRAM];

static void drain_socket(void)
{
	for (;;) {
		for (unsigned i = 0; i < MAXB; i++) {
			in_iov[i].iov_base = in_buf[i];
			in_iov[i].iov_len = DGRAM - 1;
			memset(&in_mh[i].msg_hdr, 0, sizeof in_mh[i].msg_hdr);
			in_mh[i].msg_hdr.msg_name = &in_from[i];
			in_mh[i].msg_hdr.msg_namelen = sizeof in_from[i];
			in_mh[i].msg_hdr.msg_iov = &in_iov[i];
			in_mh[i].msg_hdr.msg_iovlen = 1;
		}
		int r = recvmmsg(fd, in_mh, MAXB, MSG_DONTWAIT, NULL);
		if (r <= 0)
			break;
		uint64_t now = now_ns();
		for (int i = 0; i < r; i++) {
			const char *m = in_buf[i];
			size_t l = in_mh[i].msg_len;
			if (l >= 8 && memcmp(m, "SIP/2.0 ", 8) == 0)
				on_response(m, l, now);
			else if (l >= 16)
				on_request(m, l, &in_from[i], now);
		}
		flush_out();
		if (r < MAXB)
			break;
	}
}

/* --done-cmd prints the number of messages not yet marked delivered. */
static long done_check(void)
{
	FILE *f = popen(opt.done_cmd, "r");
	if (!f)
		return -1;
	char line[64] = "";
	long v = -1;
	if (fgets(line, sizeof line, f))
		v = strtol(line, NULL, 10);
	pclose(f);
	return v;
}

static volatile sig_atomic_t stop;
static void on_sig(int s)
{
	(void)s;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: drainrx --server IP:PORT --user NAME [options]\n"
		"  --domain D        R-URI/AoR host[:port] (default: the server IP:PORT)\n"
		"  --port P          local UDP port, the registered Contact (5186)\n"
		"  --expect N        delivered messages that end the drain (10000)\n"
		"  --timeout S       give up S seconds after the REGISTER (300)\n"
		"  --done-cmd CMD    shell command printing the undelivered count\n"
		"  --poll-ms MS      its polling interval once all arrived (50)\n"
		"  --done-timeout S  stop polling after S seconds (60)\n"
		"  --linger-ms MS    keep answering this long at the end (1000)\n");
	exit(2);
}

static double ms(uint64_t t)
{
	return t ? (double)(t - t0) / 1e6 : -1.0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", 1, 0, 'S' }, { "user", 1, 0, 'u' }, { "domain", 1, 0, 'D' },
		{ "port", 1, 0, 'p' }, { "expect", 1, 0, 'n' }, { "timeout", 1, 0, 't' },
		{ "done-cmd", 1, 0, 'c' }, { "poll-ms", 1, 0, 'P' }, { "done-timeout", 1, 0, 'T' },
		{ "linger-ms", 1, 0, 'L' }, { "local-ip", 1, 0, 'i' }, { "help", 0, 0, 'h' },
		{ 0, 0, 0, 0 } };
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'S': snprintf(opt.server_s, sizeof opt.server_s, "%s", optarg); break;
		case 'u': snprintf(opt.user, sizeof opt.user, "%s", optarg); break;
		case 'D': snprintf(opt.domain, sizeof opt.domain, "%s", optarg); break;
		case 'p': opt.port = atoi(optarg); break;
		case 'n': opt.expect = (unsigned)strtoul(optarg, NULL, 10); break;
		case 't': opt.timeout_s = atof(optarg); break;
		case 'c': opt.done_cmd = optarg; break;
		case 'P': opt.poll_ms = (unsigned)atoi(optarg); break;
		case 'T': opt.done_timeout_s = atof(optarg); break;
		case 'L': opt.linger_ms = (unsigned)atoi(optarg); break;
		case 'i': snprintf(opt.local_ip, sizeof opt.local_ip, "%s", optarg); break;
		default: usage();
		}
	}
	char host[64];
	snprintf(host, sizeof host, "%s", opt.server_s);
	char *colon = strrchr(host, ':');
	if (!host[0] || !colon || !opt.user[0] || opt.expect == 0 || opt.poll_ms == 0)
		usage();
	*colon = 0;
	opt.server.sin_family = AF_INET;
	opt.server.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &opt.server.sin_addr) != 1)
		usage();
	if (!opt.domain[0])
		snprintf(opt.domain, sizeof opt.domain, "%s", opt.server_s);
	size_t cap = 1024;
	while (cap < 4 * (size_t)opt.expect)
		cap *= 2;
	tab = calloc(cap, sizeof *tab);
	if (!tab) {
		perror("calloc");
		return 2;
	}
	tab_mask = cap - 1;
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	signal(SIGPIPE, SIG_IGN);
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	run_id = ((uint32_t)rt.tv_nsec ^ ((uint32_t)getpid() << 16)) | 1u;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("socket");
		return 2;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opt.rcvbuf, sizeof opt.rcvbuf);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &opt.rcvbuf, sizeof opt.rcvbuf);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
	if (inet_pton(AF_INET, opt.local_ip, &a.sin_addr) != 1 ||
	    bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		fprintf(stderr, "bind %s:%d: %s\n", opt.local_ip, opt.port, strerror(errno));
		return 2;
	}
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	t0 = now_ns();
	send_register(0);
	unsigned reg_tries = 1;
	uint64_t next_reg = t0 + 500000000ull, next_poll = 0, linger_until = 0;
	uint64_t deadline = t0 + (uint64_t)(opt.timeout_s * 1e9), poll_deadline = 0;
	while (!stop) {
		uint64_t now = now_ns();
		if (!reg_status && now >= next_reg) {
			if (reg_tries >= 6)
				break; /* no answer to 6 REGISTERs (~16 s) */
			send_register(reg_tries);
			next_reg = now + (500000000ull << reg_tries);
			reg_tries++;
		}
		if (reg_status && reg_status != 200)
			break;
		if (t_last && !linger_until) {
			/* all arrived: poll the store until it agrees */
			if (!opt.done_cmd || (poll_deadline && now > poll_deadline)) {
				linger_until = now + (uint64_t)opt.linger_ms * 1000000ull;
			} else if (now >= next_poll) {
				if (!poll_deadline)
					poll_deadline = now + (uint64_t)(opt.done_timeout_s * 1e9);
				long left = done_check();
				now = now_ns();
				if (left == 0) {
					t_store = now;
					linger_until = now + (uint64_t)opt.linger_ms * 1000000ull;
				}
				next_poll = now + (uint64_t)opt.poll_ms * 1000000ull;
			}
		}
		if (linger_until && now >= linger_until)
			break;
		if (!t_last && now > deadline)
			break;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, 5) > 0)
			drain_socket();
	}
	getrusage(RUSAGE_SELF, &ru1);
	double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
		     (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
		     (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		     (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	double last = ms(t_last);
	printf("reg_status=%d reg_ms=%.3f first_ms=%.3f last_ms=%.3f store_ms=%.3f expect=%u "
	       "distinct=%llu dup=%llu dup_diff_callid=%llu retrans=%llu other=%llu bad=%llu "
	       "requests=%llu rate=%.1f t0_epoch=%lld.%09ld cpu_s=%.3f\n",
	       reg_status, ms(t_reg), ms(t_first), last, ms(t_store), opt.expect,
	       (unsigned long long)n_distinct, (unsigned long long)n_dup,
	       (unsigned long long)n_dup_diff, (unsigned long long)n_retrans,
	       (unsigned long long)n_other, (unsigned long long)n_bad,
	       (unsigned long long)n_requests,
	       last > 0 ? (double)n_distinct / (last / 1000.0) : 0.0, (long long)rt.tv_sec,
	       rt.tv_nsec, cpu);
	return t_last ? 0 : 1;
}
