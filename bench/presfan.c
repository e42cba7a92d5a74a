/* presfan: NOTIFY fan-out of one presentity to many watchers (the presence
 * benchmark of bench/presence.sh, issue 5), one process on one UDP socket.
 *
 *   1. PUBLISH an initial PIDF document for the presentity (From = it: the
 *      server checks that only the user publishes, RFC 3903 §6 step 1);
 *   2. SUBSCRIBE (Event: presence, RFC 3856) N watchers w00001.. at a paced
 *      rate, each its own dialog (Call-ID "pf<i>.<pid>", Contact = this
 *      socket), until each has its 2xx and its first NOTIFY;
 *   3. K changes, one after the other: a modifying PUBLISH (SIP-If-Match,
 *      RFC 3903 §4.4) whose note says "chg-<pid>-k"; the change is complete
 *      when every watcher got a NOTIFY whose body holds that note.  Then the
 *      next.  Every NOTIFY is answered 200 (retransmissions too).
 *
 * Prints one line of shell assignments: per-change time from sending the
 * PUBLISH to the first and to the N-th NOTIFY (median, max), NOTIFYs/s over
 * the K changes, the CPU time of the server processes given with --pids
 * (utime+stime from /proc, over phase 3) per NOTIFY, and its own CPU.
 * Exit status 1 when something did not complete in time.
 *
 * cc -O2 -Wall -o presfan presfan.c   (libc only; 127.0.0.1 only) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "sipwire.h"

#define MAXB 64
#define DGRAM 65536

static struct {
	int port, tport, n, k, sub_rate, timeout_ms;
	const char *pres, *pids;
} opt = {.n = 1000, .k = 20, .sub_rate = 500, .timeout_ms = 20000, .pres = "pres00001"};

static int fd;
static struct sockaddr_in srv;
static char etag[128];
static int pub_cseq, pub_answered, pub_status;
static int *sub_status;  /* per watcher: final status of its SUBSCRIBE (0: none) */
static int *last_change; /* per watcher: the latest change it was told (-1: none) */
static int *last_cseq;   /* per watcher: CSeq of the last NOTIFY counted */
static long notifies, notify_retrans, notify_bad;

static void send_raw(const char *m, size_t len)
{
	for (int i = 0; i < 100; i++) {
		if (sendto(fd, m, len, 0, (struct sockaddr *)&srv, sizeof srv) >= 0)
			return;
		if (errno != EAGAIN && errno != ENOBUFS)
			bu_die("sendto: %s", strerror(errno));
		usleep(1000);
	}
}

static void publish(int change)
{
	char body[768], msg[2048];
	int bl = snprintf(body, sizeof body,
			  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"
			  "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:%s@127.0.0.1\">\r\n"
			  "<tuple id=\"t1\"><status><basic>open</basic></status>"
			  "<contact>sip:%s@127.0.0.1:%d</contact><note>chg-%d-%d</note></tuple>\r\n"
			  "</presence>\r\n",
			  opt.pres, opt.pres, opt.port, (int)getpid(), change);
	char ifm[160] = "";
	if (etag[0])
		snprintf(ifm, sizeof ifm, "SIP-If-Match: %s\r\n", etag);
	pub_cseq++;
	int ml = snprintf(msg, sizeof msg,
			  "PUBLISH sip:%s@127.0.0.1:%d SIP/2.0\r\n"
			  "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKpub%d.%d;rport\r\n"
			  "Max-Forwards: 70\r\n"
			  "From: <sip:%s@127.0.0.1:%d>;tag=pub%d\r\n"
			  "To: <sip:%s@127.0.0.1:%d>\r\n"
			  "Call-ID: pub.%d@presfan\r\n"
			  "CSeq: %d PUBLISH\r\n"
			  "Event: presence\r\nExpires: 3600\r\n%s"
			  "Content-Type: application/pidf+xml\r\nContent-Length: %d\r\n\r\n%s",
			  opt.pres, opt.tport, opt.port, (int)getpid(), pub_cseq, opt.pres, opt.tport,
			  (int)getpid(), opt.pres, opt.tport, (int)getpid(), pub_cseq, ifm, bl, body);
	pub_answered = 0;
	send_raw(msg, (size_t)ml);
}

static size_t subscribe_msg(int i, char *msg, size_t cap)
{
	return (size_t)snprintf(msg, cap,
				"SUBSCRIBE sip:%s@127.0.0.1:%d SIP/2.0\r\n"
				"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKsub%d.%d;rport\r\n"
				"Max-Forwards: 70\r\n"
				"From: <sip:w%05d@127.0.0.1>;tag=w%d\r\n"
				"To: <sip:%s@127.0.0.1:%d>\r\n"
				"Call-ID: pf%d.%d@presfan\r\n"
				"CSeq: 1 SUBSCRIBE\r\n"
				"Contact: <sip:w%05d@127.0.0.1:%d>\r\n"
				"Event: presence\r\nAccept: application/pidf+xml\r\nExpires: 3600\r\n"
				"Content-Length: 0\r\n\r\n",
				opt.pres, opt.tport, opt.port, (int)getpid(), i, i + 1, i + 1, opt.pres,
				opt.tport, i + 1, (int)getpid(), i + 1, opt.port);
}

/* what one datagram's headers say */
struct hdrs {
	int cseq;
	char method[16];
	int watcher; /* from the Call-ID "pf<i>.": -1 if not ours */
	const char *etag;
	size_t etag_len;
};

static void on_hdr(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
	struct hdrs *h = arg;
	if (sw_hname(n, nl, "cseq", 0)) {
		char tmp[64];
		snprintf(tmp, sizeof tmp, "%.*s", (int)(vl < 63 ? vl : 63), v);
		sscanf(tmp, "%d %15s", &h->cseq, h->method);
	} else if (sw_hname(n, nl, "call-id", 'i')) {
		if (vl > 2 && v[0] == 'p' && v[1] == 'f')
			h->watcher = atoi(v + 2);
	} else if (sw_hname(n, nl, "sip-etag", 0)) {
		h->etag = v;
		h->etag_len = vl;
	}
}

/* Handle one datagram: answer a NOTIFY (and count it for `change`), note
 * the responses to our PUBLISH and SUBSCRIBEs. */
static void handle(char *m, size_t len, int change, int *done_count, double *t_first)
{
	struct hdrs h = {.watcher = -1};
	if (len > 8 && memcmp(m, "SIP/2.0 ", 8) == 0) {
		int status = atoi(m + 8);
		sw_each_hdr(m, len, on_hdr, &h);
		if (status < 200)
			return;
		if (strcmp(h.method, "PUBLISH") == 0 && h.cseq == pub_cseq) {
			pub_answered = 1;
			pub_status = status;
			if (h.etag && h.etag_len < sizeof etag) {
				memcpy(etag, h.etag, h.etag_len);
				etag[h.etag_len] = 0;
			}
		} else if (strcmp(h.method, "SUBSCRIBE") == 0 && h.watcher >= 1 && h.watcher <= opt.n) {
			sub_status[h.watcher - 1] = status;
		}
		return;
	}
	char out[4096];
	const char *body = NULL;
	size_t ol = sw_answer_200(m, len, out, sizeof out, "pf", on_hdr, &h, &body);
	if (!ol)
		return;
	send_raw(out, ol);
	if (len < 7 || memcmp(m, "NOTIFY ", 7) != 0 || h.watcher < 1 || h.watcher > opt.n) {
		notify_bad++;
		return;
	}
	int w = h.watcher - 1;
	if (getenv("PRESFAN_DUMP") && w == 0)
		fprintf(stderr, "%.*s\n----\n", (int)len, m);
	if (h.cseq <= last_cseq[w]) {
		notify_retrans++;
		return;
	}
	last_cseq[w] = h.cseq;
	notifies++;
	/* the newest change this body reports */
	char mark[32];
	size_t ml = (size_t)snprintf(mark, sizeof mark, ">chg-%d-", (int)getpid());
	int got = -1;
	for (const char *s = body; s && (s = memmem(s, (size_t)(m + len - s), mark, ml)); s += ml)
		got = atoi(s + ml);
	if (got > last_change[w]) {
		last_change[w] = got;
		if (got == change) {
			if (*done_count == 0)
				*t_first = bu_now();
			(*done_count)++;
		}
	}
}

static char rbuf[MAXB][DGRAM];

/* Read whatever arrives for up to wait_ms; returns datagrams read. */
static int pump(int wait_ms, int change, int *done_count, double *t_first)
{
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	if (poll(&pf, 1, wait_ms) <= 0)
		return 0;
	struct mmsghdr mh[MAXB];
	struct iovec iov[MAXB];
	int total = 0;
	for (;;) {
		for (int i = 0; i < MAXB; i++) {
			iov[i].iov_base = rbuf[i];
			iov[i].iov_len = DGRAM - 1;
			memset(&mh[i], 0, sizeof mh[i]);
			mh[i].msg_hdr.msg_iov = &iov[i];
			mh[i].msg_hdr.msg_iovlen = 1;
		}
		int r = recvmmsg(fd, mh, MAXB, MSG_DONTWAIT, NULL);
		if (r <= 0)
			break;
		for (int i = 0; i < r; i++)
			handle(rbuf[i], mh[i].msg_len, change, done_count, t_first);
		total += r;
		if (r < MAXB)
			break;
	}
	return total;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr, "usage: presfan --target 127.0.0.1:PORT --port LOCALPORT [--watchers N]\n"
			"               [--changes K] [--presentity USER] [--sub-rate R]\n"
			"               [--timeout-ms T] [--pids PID,PID...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	bu_prog = "presfan";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		if (!strcmp(a, "--target")) {
			const char *c = strrchr(v, ':');
			if (!c)
				usage();
			opt.tport = atoi(c + 1);
		} else if (!strcmp(a, "--port"))
			opt.port = atoi(v);
		else if (!strcmp(a, "--watchers"))
			opt.n = atoi(v);
		else if (!strcmp(a, "--changes"))
			opt.k = atoi(v);
		else if (!strcmp(a, "--presentity"))
			opt.pres = v;
		else if (!strcmp(a, "--sub-rate"))
			opt.sub_rate = atoi(v);
		else if (!strcmp(a, "--timeout-ms"))
			opt.timeout_ms = atoi(v);
		else if (!strcmp(a, "--pids"))
			opt.pids = v;
		else
			usage();
		i++;
	}
	if (!opt.port || !opt.tport || opt.n < 1 || opt.k < 0 || opt.sub_rate < 1)
		usage();
	sub_status = calloc((size_t)opt.n, sizeof *sub_status);
	last_change = malloc((size_t)opt.n * sizeof *last_change);
	last_cseq = calloc((size_t)opt.n, sizeof *last_cseq);
	double *lat_last = calloc((size_t)opt.k + 1, sizeof(double));
	double *lat_first = calloc((size_t)opt.k + 1, sizeof(double));
	if (!sub_status || !last_change || !last_cseq || !lat_last || !lat_first)
		bu_die("out of memory");
	for (int i = 0; i < opt.n; i++)
		last_change[i] = -1;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	int big = 16 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
	inet_pton(AF_INET, "127.0.0.1", &me.sin_addr);
	if (bind(fd, (struct sockaddr *)&me, sizeof me))
		bu_die("bind 127.0.0.1:%d: %s", opt.port, strerror(errno));
	srv = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.tport)};
	inet_pton(AF_INET, "127.0.0.1", &srv.sin_addr);

	int done = 0, fails = 0;
	double tf = 0, deadline;

	/* 1. the initial publication (change 0) */
	for (int tries = 0; !pub_answered && tries < 8; tries++) {
		publish(0); /* a new transaction each try (an initial PUBLISH) */
		deadline = bu_now() + 1.0;
		while (!pub_answered && bu_now() < deadline)
			pump(50, 0, &done, &tf);
	}
	if (!pub_answered || pub_status != 200 || !etag[0])
		bu_die("initial PUBLISH: %s %d", pub_answered ? "answered" : "no answer", pub_status);

	/* 2. the watchers, paced; each SUBSCRIBE retried every 2 s */
	char msg[2048];
	double t0 = bu_now(), *sent_at = calloc((size_t)opt.n, sizeof(double));
	int next = 0, subscribed = 0;
	deadline = t0 + opt.timeout_ms / 1000.0 + opt.n / (double)opt.sub_rate;
	while (bu_now() < deadline) {
		double t = bu_now();
		int due = (int)((t - t0) * opt.sub_rate) + 1;
		while (next < opt.n && next < due) {
			send_raw(msg, subscribe_msg(next, msg, sizeof msg));
			sent_at[next++] = t;
		}
		for (int i = 0; i < next; i++)
			if (!sub_status[i] && t - sent_at[i] > 2.0) {
				send_raw(msg, subscribe_msg(i, msg, sizeof msg));
				sent_at[i] = t;
			}
		pump(2, 0, &done, &tf);
		subscribed = 0;
		int bad = 0;
		for (int i = 0; i < opt.n; i++) {
			if (sub_status[i] >= 200 && sub_status[i] < 300 && last_change[i] >= 0)
				subscribed++;
			if (sub_status[i] >= 300)
				bad++;
		}
		if (bad)
			bu_die("%d SUBSCRIBEs refused (first status %d)", bad, sub_status[0]);
		if (subscribed == opt.n)
			break;
	}
	double sub_s = bu_now() - t0;
	if (subscribed < opt.n)
		bu_die("only %d of %d watchers subscribed with a first NOTIFY", subscribed, opt.n);
	/* let late first NOTIFYs settle */
	for (double e = bu_now() + 0.3; bu_now() < e;)
		pump(20, 0, &done, &tf);

	/* 3. the changes */
	long notes0 = notifies, tk0 = bu_ticks_of(opt.pids);
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	double c0 = bu_now();
	for (int k = 1; k <= opt.k; k++) {
		done = 0;
		tf = 0;
		double ts = bu_now();
		publish(k);
		deadline = ts + opt.timeout_ms / 1000.0;
		int retried = 0;
		while ((done < opt.n || !pub_answered) && bu_now() < deadline) {
			pump(5, k, &done, &tf);
			if (!pub_answered && !retried && bu_now() - ts > 2.0) {
				fprintf(stderr, "presfan: change %d: PUBLISH unanswered after 2 s\n", k);
				retried = 1;
			}
		}
		double te = bu_now();
		if (!pub_answered || pub_status != 200)
			bu_die("change %d: PUBLISH %s %d", k, pub_answered ? "got" : "unanswered", pub_status);
		if (done < opt.n) {
			fprintf(stderr, "presfan: change %d: %d of %d watchers told in %d ms\n", k, done,
				opt.n, opt.timeout_ms);
			fails++;
			break;
		}
		lat_last[k - 1] = te - ts;
		lat_first[k - 1] = tf - ts;
	}
	double c1 = bu_now();
	long tk1 = bu_ticks_of(opt.pids), changed = notifies - notes0;
	getrusage(RUSAGE_SELF, &ru1);
	/* answer what is still on its way (retransmissions) for a moment */
	for (double e = bu_now() + 0.5; bu_now() < e;)
		pump(20, opt.k + 1, &done, &tf);

	int nk = fails ? 0 : opt.k;
	qsort(lat_last, (size_t)nk, sizeof(double), cmp_d);
	qsort(lat_first, (size_t)nk, sizeof(double), cmp_d);
	double hz = (double)sysconf(_SC_CLK_TCK);
	double own = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		     ((ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec)) / 1e6;
	double el = c1 - c0;
	printf("watchers=%d changes=%d completed=%d subscribe_s=%.3f fanout_last_ms_median=%.2f "
	       "fanout_last_ms_max=%.2f fanout_first_ms_median=%.2f notifies=%ld elapsed_s=%.3f "
	       "notifies_per_s=%.0f srv_cpu_ms=%.0f srv_us_per_notify=%.2f own_cpu_ms=%.0f "
	       "notify_retrans=%ld notify_other=%ld\n",
	       opt.n, opt.k, nk, sub_s, nk ? 1e3 * lat_last[nk / 2] : -1, nk ? 1e3 * lat_last[nk - 1] : -1,
	       nk ? 1e3 * lat_first[nk / 2] : -1, changed, el, el > 0 ? changed / el : 0,
	       1e3 * (tk1 - tk0) / hz, changed ? 1e6 * (tk1 - tk0) / hz / changed : 0, 1e3 * own,
	       notify_retrans, notify_bad);
	return fails ? 1 : 0;
}
