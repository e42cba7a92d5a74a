/* loadgen: a light SIP MESSAGE load generator for bench/run.sh.
 *
 * One process, one thread, two UDP sockets:
 *   UAC  sends MESSAGE sip:<prefix>NNNNN@<domain> to the server at a target
 *        rate, in batches (sendmmsg), retransmits like a UA (timer E:
 *        0.5, 1.5, 3.5, 7.5 s after the first send) and matches the final
 *        responses by Call-ID (<seq>-<run>@host, run = random per process,
 *        so late answers to an earlier step are ignored).  No final answer
 *        within --timeout ms = a timeout failure; a final other than the
 *        expected one (200) = an unexpected failure.
 *   UAS  answers every request it receives (the relayed MESSAGEs) with
 *        200 OK, copying Via/From/To/Call-ID/CSeq (recvmmsg + sendmmsg).
 *        Stateless: a retransmitted request is simply answered again.
 * With --register, the UAC sends one REGISTER per user instead (Contact ->
 * the UAS port) and expects 200.  With --count 0 only the UAS runs, for
 * --duration seconds.
 *
 * The loop wakes up on a fixed tick (--tick-us, 1 ms), not on every
 * datagram: it reads everything that arrived (recvmmsg, answering the UAS
 * side in sendmmsg batches), sends the MESSAGEs due by now in batches, runs
 * the retransmission/timeout queues and sleeps again.  So the generator's
 * cost per message falls as the rate rises (bigger batches, same number of
 * wake-ups), and answers are delayed by at most one tick (rtt includes it).
 *
 * Prints one line of key=value pairs (for eval in a shell), e.g.
 *   target_rate=20000 sent=200000 success=200000 failed=0 timeouts=0
 *   unexpected=0 unexp_5xx=0 retrans=0 elapsed=10.012 achieved=19976.0 rtt_ms=0.412
 *   rtt_p50_ms=0.3 rtt_p99_ms=2.1 uas_answered=200000 cpu_s=1.23 ...
 *
 * Self-contained (libc only): cc -O2 -o loadgen loadgen.c
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

#define MAXB 256      /* datagrams per sendmmsg/recvmmsg call */
#define DGRAM 2048    /* largest datagram we build or accept */
#define NQ 5          /* 4 retransmission queues + the timeout queue */

static struct {
	struct sockaddr_in target;
	char domain[64];
	char local_ip[64];
	int uac_port, uas_port;
	unsigned users, width;
	uint32_t first; /* number of the first message (bodies, users) */
	char prefix[32];
	double rate, duration;
	uint32_t count;
	unsigned timeout_ms;
	unsigned batch;
	unsigned tick_us;
	int expect;
	int reg;
	int sndbuf, rcvbuf;
	int verbose;
} opt = {
	.domain = "", .local_ip = "127.0.0.1", .uac_port = 5185, .uas_port = 5181,
	.users = 1000, .width = 5, .prefix = "user", .rate = 1000, .duration = 10,
	.count = UINT32_MAX, .timeout_ms = 8000, .batch = 64, .tick_us = 1000, .expect = 200,
	.sndbuf = 4 << 20, .rcvbuf = 4 << 20,
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static int udp_socket(int port)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &opt.sndbuf, sizeof opt.sndbuf);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opt.rcvbuf, sizeof opt.rcvbuf);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, opt.local_ip, &a.sin_addr) != 1) {
		fprintf(stderr, "bad --local-ip\n");
		exit(2);
	}
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		fprintf(stderr, "bind %s:%d: %s\n", opt.local_ip, port, strerror(errno));
		exit(2);
	}
	return fd;
}

/* ------------------------------------------------------------ UAC state */

static uint32_t run_id;
static uint32_t *t_sent_us;   /* first send, µs after t0 */
static uint8_t *state;        /* 0 pending, 1 ok, 2 failed */
static uint32_t *q[NQ];       /* FIFO of seqs per timer queue */
static uint32_t qh[NQ], qt[NQ];
static const uint32_t q_at_ms[NQ] = { 500, 1500, 3500, 7500, 0 /* = timeout */ };
static uint64_t t0;
static uint64_t n_sent, n_ok, n_fail, n_timeout, n_unexp, n_unexp_5xx, n_retrans, n_stale;
static int first_unexp; /* status of the first unexpected final answer */
static uint64_t n_uas, n_uas_bad, n_send_again, n_recv_uac;
static uint64_t t_last_final, t_last_send;
/* RTT histogram: 10 µs buckets up to 10 ms, then 1 ms buckets to 10 s */
#define H_FINE 1000
#define H_COARSE 10000
static uint64_t hist[H_FINE + H_COARSE + 1];
static double rtt_sum_ms;

static void hist_add(uint64_t us)
{
	size_t i = us < 10000 ? us / 10 : H_FINE + (us / 1000 < H_COARSE ? us / 1000 : H_COARSE);
	if (i > H_FINE + H_COARSE)
		i = H_FINE + H_COARSE;
	hist[i]++;
}

static double hist_pct(double p)
{
	uint64_t tot = 0, c = 0;
	for (size_t i = 0; i <= H_FINE + H_COARSE; i++)
		tot += hist[i];
	if (!tot)
		return 0;
	for (size_t i = 0; i <= H_FINE + H_COARSE; i++) {
		c += hist[i];
		if (c >= p * (double)tot)
			return i < H_FINE ? (double)(i + 1) * 0.01 : (double)(i - H_FINE + 1);
	}
	return 0;
}

static int build_request(char *p, size_t n, uint32_t seq)
{
	unsigned u = (seq + opt.first) % opt.users + 1;
	char user[64];
	snprintf(user, sizeof user, "%s%0*u", opt.prefix, (int)opt.width, u);
	if (opt.reg)
		return snprintf(p, n,
			"REGISTER sip:%s SIP/2.0\r\n"
			"Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-lg%x-%u;rport\r\n"
			"Max-Forwards: 70\r\n"
			"From: <sip:%s@%s>;tag=lr%u\r\n"
			"To: <sip:%s@%s>\r\n"
			"Call-ID: %u-%x@%s\r\n"
			"CSeq: 1 REGISTER\r\n"
			"Contact: <sip:%s@%s:%d;transport=udp>\r\n"
			"Expires: 3600\r\n"
			"Content-Length: 0\r\n\r\n",
			opt.domain, opt.local_ip, opt.uac_port, run_id, seq,
			user, opt.domain, seq, user, opt.domain, seq, run_id, opt.local_ip,
			user, opt.local_ip, opt.uas_port);
	char body[160];
	int bl = snprintf(body, sizeof body,
			  "Hi %s! Benchmark message number %u; 0123456789 abcdefghij.\n",
			  user, opt.first + seq + 1);
	return snprintf(p, n,
		"MESSAGE sip:%s@%s SIP/2.0\r\n"
		"Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-lg%x-%u;rport\r\n"
		"Max-Forwards: 70\r\n"
		"From: <sip:sender@%s:%d>;tag=lm%u\r\n"
		"To: <sip:%s@%s>\r\n"
		"Call-ID: %u-%x@%s\r\n"
		"CSeq: 1 MESSAGE\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: %d\r\n\r\n%s",
		user, opt.domain, opt.local_ip, opt.uac_port, run_id, seq,
		opt.local_ip, opt.uac_port, seq, user, opt.domain, seq, run_id,
		opt.local_ip, bl, body);
}

/* --------------------------------------------------------- send batches */

struct batch {
	int fd;
	unsigned n;
	struct mmsghdr mh[MAXB];
	struct iovec iov[MAXB];
	struct sockaddr_in to[MAXB];
	char buf[MAXB][DGRAM];
};

static struct batch uac_out, uas_out;

/* Sends what is queued; returns how many went out (the rest is dropped by
 * the caller's accounting only for the UAS; the UAC resends later). */
static unsigned batch_flush(struct batch *b)
{
	unsigned done = 0;
	while (done < b->n) {
		int r = sendmmsg(b->fd, b->mh + done, b->n - done, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
				n_send_again++;
				struct pollfd pf = { .fd = b->fd, .events = POLLOUT };
				poll(&pf, 1, 5);
				continue;
			}
			if (errno == ECONNREFUSED) /* ICMP from an earlier send */
				continue;
			perror("sendmmsg");
			break;
		}
		done += (unsigned)r;
	}
	b->n = 0;
	return done;
}

static char *batch_slot(struct batch *b, const struct sockaddr_in *to)
{
	if (b->n == opt.batch || b->n == MAXB)
		batch_flush(b);
	unsigned i = b->n;
	b->to[i] = *to;
	b->iov[i].iov_base = b->buf[i];
	memset(&b->mh[i], 0, sizeof b->mh[i]);
	b->mh[i].msg_hdr.msg_name = &b->to[i];
	b->mh[i].msg_hdr.msg_namelen = sizeof b->to[i];
	b->mh[i].msg_hdr.msg_iov = &b->iov[i];
	b->mh[i].msg_hdr.msg_iovlen = 1;
	return b->buf[i];
}

static void batch_commit(struct batch *b, int len)
{
	b->iov[b->n].iov_len = (size_t)len;
	b->n++;
}

static void uac_send(uint32_t seq)
{
	char *p = batch_slot(&uac_out, &opt.target);
	int len = build_request(p, DGRAM, seq);
	if (len <= 0 || len >= DGRAM) {
		fprintf(stderr, "request too long\n");
		exit(2);
	}
	batch_commit(&uac_out, len);
}

/* ------------------------------------------------------------ parsing */

static void uac_response(const char *m, size_t len, uint64_t now)
{
	n_recv_uac++;
	const char *end = m + len;
	if (len < 12 || memcmp(m, "SIP/2.0 ", 8) != 0)
		return;
	int status = atoi(m + 8);
	const char *p = memchr(m, '\n', len);
	if (!p)
		return;
	p++;
	const char *n, *v;
	size_t nl, vl;
	int r;
	while ((r = sw_next_hdr(&p, end, &n, &nl, &v, &vl)) != 0) {
		if (r < 0 || !sw_hname(n, nl, "call-id", 'i'))
			continue;
		/* <seq>-<run>@host */
		char tmp[64];
		if (vl >= sizeof tmp)
			return;
		memcpy(tmp, v, vl);
		tmp[vl] = 0;
		char *dash;
		unsigned long seq = strtoul(tmp, &dash, 10);
		if (*dash != '-')
			return;
		unsigned long run = strtoul(dash + 1, NULL, 16);
		if (run != run_id || seq >= opt.count) {
			n_stale++;
			return;
		}
		if (status < 200 || state[seq] != 0)
			return;
		if (status == opt.expect) {
			state[seq] = 1;
			n_ok++;
			uint64_t us = (now - t0) / 1000 - t_sent_us[seq];
			hist_add(us);
			rtt_sum_ms += (double)us / 1000.0;
		} else {
			state[seq] = 2;
			n_fail++;
			n_unexp++;
			if (status >= 500)
				n_unexp_5xx++;
			if (!first_unexp)
				first_unexp = status;
			if (opt.verbose)
				fprintf(stderr, "unexpected %d for seq %lu\n", status, seq);
		}
		t_last_final = now;
		return;
	}
}

/* Answer a request on the UAS socket with 200 OK. */
static void uas_request(const char *m, size_t len, const struct sockaddr_in *from)
{
	if (len < 16 || memcmp(m, "SIP/2.0", 7) == 0)
		return; /* a response: ignore */
	if (memcmp(m, "ACK ", 4) == 0)
		return;
	char *o = batch_slot(&uas_out, from);
	size_t ol = sw_answer_200(m, len, o, DGRAM, "lgu1", NULL, NULL, NULL);
	if (!ol) {
		n_uas_bad++;
		return;
	}
	batch_commit(&uas_out, (int)ol);
	n_uas++;
}

/* ------------------------------------------------------------- receive */

struct rbatch {
	struct mmsghdr mh[MAXB];
	struct iovec iov[MAXB];
	struct sockaddr_in from[MAXB];
	char buf[MAXB][DGRAM];
};
static struct rbatch rb;

/* Drain up to `rounds` recvmmsg calls; returns datagrams read. */
static unsigned drain(int fd, int is_uas, unsigned rounds)
{
	unsigned total = 0;
	for (unsigned k = 0; k < rounds; k++) {
		for (unsigned i = 0; i < opt.batch; i++) {
			rb.iov[i].iov_base = rb.buf[i];
			rb.iov[i].iov_len = DGRAM - 1;
			memset(&rb.mh[i].msg_hdr, 0, sizeof rb.mh[i].msg_hdr);
			rb.mh[i].msg_hdr.msg_name = &rb.from[i];
			rb.mh[i].msg_hdr.msg_namelen = sizeof rb.from[i];
			rb.mh[i].msg_hdr.msg_iov = &rb.iov[i];
			rb.mh[i].msg_hdr.msg_iovlen = 1;
		}
		int r = recvmmsg(fd, rb.mh, opt.batch, MSG_DONTWAIT, NULL);
		if (r <= 0)
			break;
		uint64_t now = now_ns();
		for (int i = 0; i < r; i++) {
			size_t l = rb.mh[i].msg_len;
			if (is_uas)
				uas_request(rb.buf[i], l, &rb.from[i]);
			else
				uac_response(rb.buf[i], l, now);
		}
		total += (unsigned)r;
		if (is_uas && uas_out.n)
			batch_flush(&uas_out);
		if ((unsigned)r < opt.batch)
			break;
	}
	return total;
}

/* --------------------------------------------------------------- timers */

static void timers(uint64_t now)
{
	uint64_t now_us = (now - t0) / 1000;
	for (int k = NQ - 1; k >= 0; k--) {
		uint32_t at_us = (k == NQ - 1 ? opt.timeout_ms : q_at_ms[k]) * 1000u;
		while (qh[k] != qt[k]) {
			uint32_t seq = q[k][qh[k]];
			if (state[seq] != 0) {
				qh[k]++;
				continue;
			}
			if ((uint64_t)t_sent_us[seq] + at_us > now_us)
				break;
			qh[k]++;
			if (k == NQ - 1) {
				state[seq] = 2;
				n_fail++;
				n_timeout++;
				t_last_final = now;
				continue;
			}
			if (q_at_ms[k] < opt.timeout_ms) {
				uac_send(seq);
				n_retrans++;
			}
			int nk = k + 1;
			while (nk < NQ - 1 && q_at_ms[nk] >= opt.timeout_ms)
				nk = NQ - 1;
			q[nk][qt[nk]++] = seq;
		}
	}
	if (uac_out.n)
		batch_flush(&uac_out);
}

static volatile sig_atomic_t stop;
static void on_sig(int s)
{
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen --target IP:PORT [options]\n"
		"  --rate R           MESSAGEs (or REGISTERs) per second (1000)\n"
		"  --duration S       seconds of sending; count = R*S (10)\n"
		"  --count N          exact number to send (0: UAS only for --duration s)\n"
		"  --users N          users <prefix>00001..N, cycled (1000)\n"
		"  --prefix P         user name prefix (user); --width W digits (5)\n"
		"  --first N          number the messages from N + 1 (0): their\n"
		"                     bodies differ from an earlier run's\n"
		"  --domain D         R-URI/To host[:port] (default: the target IP:PORT)\n"
		"  --local-ip IP      local address (127.0.0.1)\n"
		"  --uac-port P       UAC socket port (5185)\n"
		"  --uas-port P       UAS socket port (5181; 0 = no UAS)\n"
		"  --timeout MS       final response timeout (8000)\n"
		"  --batch B          datagrams per sendmmsg/recvmmsg (64, max %d)\n"
		"  --expect CODE      expected final status (200)\n"
		"  --tick-us US       wake up every US microseconds (1000): read all\n"
		"                     input, answer, send what is due, sleep again\n"
		"  --register         send REGISTERs (Contact -> UAS port) instead\n"
		"  -v                 print unexpected responses\n", MAXB);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "target", 1, 0, 'T' }, { "rate", 1, 0, 'r' }, { "duration", 1, 0, 'd' },
		{ "count", 1, 0, 'n' }, { "users", 1, 0, 'u' }, { "prefix", 1, 0, 'P' },
		{ "width", 1, 0, 'w' }, { "domain", 1, 0, 'D' }, { "local-ip", 1, 0, 'i' },
		{ "first", 1, 0, 'F' },
		{ "uac-port", 1, 0, 'c' }, { "uas-port", 1, 0, 's' }, { "timeout", 1, 0, 't' },
		{ "batch", 1, 0, 'b' }, { "expect", 1, 0, 'e' }, { "register", 0, 0, 'R' },
		{ "tick-us", 1, 0, 'k' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 } };
	int c;
	char target[128] = "";
	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 'T': snprintf(target, sizeof target, "%s", optarg); break;
		case 'r': opt.rate = atof(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'n': opt.count = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'u': opt.users = (unsigned)atoi(optarg); break;
		case 'P': snprintf(opt.prefix, sizeof opt.prefix, "%s", optarg); break;
		case 'w': opt.width = (unsigned)atoi(optarg); break;
		case 'F': opt.first = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'D': snprintf(opt.domain, sizeof opt.domain, "%s", optarg); break;
		case 'i': snprintf(opt.local_ip, sizeof opt.local_ip, "%s", optarg); break;
		case 'c': opt.uac_port = atoi(optarg); break;
		case 's': opt.uas_port = atoi(optarg); break;
		case 't': opt.timeout_ms = (unsigned)atoi(optarg); break;
		case 'b': opt.batch = (unsigned)atoi(optarg); break;
		case 'e': opt.expect = atoi(optarg); break;
		case 'R': opt.reg = 1; break;
		case 'k': opt.tick_us = (unsigned)atoi(optarg); break;
		case 'v': opt.verbose = 1; break;
		default: usage();
		}
	}
	char *colon = strrchr(target, ':');
	if (!target[0] || !colon || opt.rate <= 0 || opt.users == 0 || opt.batch == 0)
		usage();
	if (opt.batch > MAXB)
		opt.batch = MAXB;
	*colon = 0;
	opt.target.sin_family = AF_INET;
	opt.target.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, target, &opt.target.sin_addr) != 1)
		usage();
	if (!opt.domain[0])
		snprintf(opt.domain, sizeof opt.domain, "%s:%s", target, colon + 1);
	if (opt.count == UINT32_MAX)
		opt.count = (uint32_t)(opt.rate * opt.duration + 0.5);
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	signal(SIGPIPE, SIG_IGN);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	run_id = ((uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 16) ^ (uint32_t)ts.tv_sec) | 1u;

	int uac = opt.count ? udp_socket(opt.uac_port) : -1;
	int uas = opt.uas_port ? udp_socket(opt.uas_port) : -1;
	uac_out.fd = uac;
	uas_out.fd = uas;
	if (opt.count) {
		t_sent_us = calloc(opt.count, sizeof *t_sent_us);
		state = calloc(opt.count, 1);
		for (int k = 0; k < NQ; k++)
			q[k] = malloc((size_t)opt.count * sizeof *q[k]);
		if (!t_sent_us || !state)
			die("calloc");
		for (int k = 0; k < NQ; k++)
			if (!q[k])
				die("malloc");
	}
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	t0 = now_ns();
	uint64_t stop_at = t0 + (uint64_t)(opt.duration * 1e9);
	uint32_t next = 0;
	double ns_per = 1e9 / opt.rate;
	uint64_t deadline = 0; /* set once everything is sent */
	uint64_t tick_ns = (uint64_t)opt.tick_us * 1000ull, next_tick = t0;
	while (!stop) {
		/* 1. read everything that arrived since the last tick: answer the
		 *    relayed requests (UAS) in batches, match the responses (UAC) */
		if (uas >= 0)
			drain(uas, 1, 1024);
		if (uac >= 0)
			drain(uac, 0, 1024);
		uint64_t now = now_ns();
		if (opt.count) {
			/* 2. send what is due by now, in batches */
			uint64_t due = (uint64_t)((double)(now - t0) / ns_per) + 1;
			if (due > opt.count)
				due = opt.count;
			uint32_t us = (uint32_t)((now - t0) / 1000);
			while (next < due) {
				t_sent_us[next] = us;
				q[0][qt[0]++] = next;
				uac_send(next);
				next++;
				n_sent++;
			}
			if (uac_out.n)
				batch_flush(&uac_out);
			if (next == opt.count && !deadline) {
				t_last_send = now;
				deadline = now + (uint64_t)opt.timeout_ms * 1000000ull + 200000000ull;
			}
			/* 3. retransmissions and timeouts */
			timers(now);
			if (next == opt.count && n_ok + n_fail == opt.count)
				break;
			if (deadline && now > deadline)
				break;
		} else if (now >= stop_at) {
			break;
		}
		/* 4. sleep until the next tick: a fixed wake-up rate whatever the
		 *    load, so that every wake-up handles a batch */
		next_tick += tick_ns;
		if (next_tick < now)
			next_tick = now;
		struct timespec ts = { (time_t)(next_tick / 1000000000ull),
				       (long)(next_tick % 1000000000ull) };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
			;
	}
	uint64_t t_end = now_ns();
	getrusage(RUSAGE_SELF, &ru1);
	/* the measured interval ends with the last final answer (or the end of
	 * sending, whichever is later), like SIPp's statistics period */
	uint64_t t_stop = t_last_final > t_last_send ? t_last_final : t_last_send;
	if (!t_stop || !opt.count)
		t_stop = t_end;
	double el = (double)(t_stop - t0) / 1e9;
	double cu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
		    (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
	double cs = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		    (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	double wall = (double)(t_end - t0) / 1e9;
	uint64_t pending = n_sent - n_ok - n_fail;
	printf("target_rate=%.0f sent=%llu success=%llu failed=%llu timeouts=%llu "
	       "unexpected=%llu unexp_5xx=%llu first_unexp=%d pending=%llu retrans=%llu "
	       "elapsed=%.3f achieved=%.1f "
	       "rtt_ms=%.3f rtt_p50_ms=%.2f rtt_p99_ms=%.2f uas_answered=%llu uas_bad=%llu "
	       "stale=%llu send_eagain=%llu wall=%.3f cpu_user_s=%.3f cpu_sys_s=%.3f "
	       "cpu_pct=%.1f cpu_us_per_msg=%.2f\n",
	       opt.rate, (unsigned long long)n_sent, (unsigned long long)n_ok,
	       (unsigned long long)(n_fail + pending), (unsigned long long)(n_timeout + pending),
	       (unsigned long long)n_unexp, (unsigned long long)n_unexp_5xx, first_unexp,
	       (unsigned long long)pending,
	       (unsigned long long)n_retrans, el, el > 0 ? (double)n_ok / el : 0.0,
	       n_ok ? rtt_sum_ms / (double)n_ok : 0.0, hist_pct(0.5), hist_pct(0.99),
	       (unsigned long long)n_uas, (unsigned long long)n_uas_bad,
	       (unsigned long long)n_stale, (unsigned long long)n_send_again, wall, cu, cs,
	       wall > 0 ? 100.0 * (cu + cs) / wall : 0.0,
	       n_sent ? 1e6 * (cu + cs) / (double)n_sent : 0.0);
	return 0;
}
