/* msrpload: one MSRP session through a relay (RFC 4975/4976), from alice to
 * bob, as fast as TCP takes it: the client side of bench/msrp_relay.sh.
 *
 * alice and bob each open a TCP connection to the relay and AUTH (RFC 4976
 * §5; Digest per §5.1 when the relay answers 401), which gives each a
 * Use-Path.  alice then sends COUNT SENDs of SIZE bytes, each a complete
 * message in one chunk (Byte-Range 1-SIZE/SIZE, its own Message-ID), with
 * To-Path = bob's Use-Path + bob's URI (one relay hop: the "inbound" topology
 * of msrp_relay.sh) or, with --topology same, alice's Use-Path first.  The
 * writes are pipelined: alice never waits for a response.  bob counts the
 * end-lines that arrive; with --failure-report yes he answers each with a 200
 * (RFC 4975 §7.1.2), which the relay takes hop by hop.  alice's reader drains
 * whatever the relay sends her.
 *
 * Threads: the writer (main), alice's reader, bob's reader.  Prints one line of
 * shell assignments: elapsed seconds from the first byte written to bob's last
 * end-line, MB/s (10^6 bytes of body), messages/s, the CPU of this process,
 * the CPU of the server processes given with --pids (utime+stime over the
 * send), and the counts.  Exit 1 when bob did not get every message within
 * --timeout seconds, or nothing arrived for 10 s.
 *
 * cc -O2 -Wall -pthread -o msrpload msrpload.c -lcrypto   (127.0.0.1 only) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

static struct {
	int port, size, timeout_s, fr, same;
	long count;
	const char *alice, *alice_pw, *bob, *bob_pw, *pids;
} opt = {.size = 1024, .count = 1000, .timeout_s = 300, .alice = "alice", .bob = "bob"};

static char relay_uri[64];
static atomic_long bob_got, alice_got;
static atomic_int stop_readers;

static void write_all(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			bu_die("send: %s", strerror(errno));
		}
		b += w;
		n -= (size_t)w;
	}
}

static int connect_relay(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof a))
		bu_die("connect 127.0.0.1:%d: %s", opt.port, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* Read one MSRP message (a response to AUTH: no body) into buf. */
static void read_msg(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
		if (r <= 0)
			bu_die("relay closed the connection during AUTH");
		n += (size_t)r;
		buf[n] = 0;
		char *e = strstr(buf, "\r\n-------");
		if (e && strstr(e + 9, "\r\n"))
			return;
		if (n + 1 >= cap)
			bu_die("AUTH response too long");
	}
}

/* value of a header line "Name: value" in msg, into out */
static int header(const char *msg, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	for (const char *l = strstr(msg, "\r\n"); l; l = strstr(l + 2, "\r\n")) {
		if (strncasecmp(l + 2, name, nl) == 0 && l[2 + nl] == ':') {
			const char *v = l + 3 + nl, *e;
			while (*v == ' ')
				v++;
			e = strstr(v, "\r\n");
			if (!e || (size_t)(e - v) >= cap)
				return -1;
			memcpy(out, v, (size_t)(e - v));
			out[e - v] = 0;
			return 0;
		}
	}
	return -1;
}

/* a parameter of a Digest challenge: name="v" or name=v */
static void dparam(const char *ch, const char *name, char *out, size_t cap)
{
	out[0] = 0;
	size_t nl = strlen(name);
	for (const char *p = ch; (p = strcasestr(p, name)); p += nl) {
		if ((p != ch && p[-1] != ' ' && p[-1] != ',') || p[nl] != '=')
			continue;
		const char *v = p + nl + 1, *e;
		if (*v == '"')
			e = strchr(++v, '"');
		else
			e = v + strcspn(v, ", \r\n");
		if (e && (size_t)(e - v) < cap) {
			memcpy(out, v, (size_t)(e - v));
			out[e - v] = 0;
		}
		return;
	}
}

static void hhex(const EVP_MD *md, const char *s, char *out)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	EVP_Digest(s, strlen(s), d, &dl, md, NULL);
	for (unsigned i = 0; i < dl; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* transaction ids: 9 characters (RFC 4975 §9 wants 4 to 32) */
static unsigned long tid_seq;

/* AUTH (with Digest if challenged); returns the Use-Path */
static void auth(int fd, const char *me_uri, const char *user, const char *pw, char *use_path, size_t cap)
{
	char msg[4096], rsp[8192], extra[1024] = "";
	for (int round = 0; round < 2; round++) {
		unsigned long t = ++tid_seq;
		int l = snprintf(msg, sizeof msg,
				 "MSRP a%08lx AUTH\r\nTo-Path: %s\r\nFrom-Path: %s\r\n%s-------a%08lx$\r\n", t,
				 relay_uri, me_uri, extra, t);
		write_all(fd, msg, (size_t)l);
		read_msg(fd, rsp, sizeof rsp);
		int status = 0;
		sscanf(rsp, "MSRP %*s %d", &status);
		if (status == 200) {
			if (header(rsp, "Use-Path", use_path, cap))
				bu_die("AUTH 200 without Use-Path");
			return;
		}
		if (status != 401 || round || !pw)
			bu_die("AUTH %s: status %d", user, status);
		char ch[1024], realm[256], nonce[256], alg[32], qop[64];
		if (header(rsp, "WWW-Authenticate", ch, sizeof ch))
			bu_die("401 without WWW-Authenticate");
		dparam(ch, "realm", realm, sizeof realm);
		dparam(ch, "nonce", nonce, sizeof nonce);
		dparam(ch, "algorithm", alg, sizeof alg);
		dparam(ch, "qop", qop, sizeof qop);
		if (!alg[0])
			strcpy(alg, "MD5");
		const EVP_MD *md = strcasecmp(alg, "SHA-256") == 0 ? EVP_sha256() : EVP_md5();
		char a1[1024], ha1[130], a2[512], ha2[130], kd[1024], resp[130];
		char cnonce[17];
		snprintf(cnonce, sizeof cnonce, "%08lx%08lx", (unsigned long)getpid(), (unsigned long)t);
		snprintf(a1, sizeof a1, "%s:%s:%s", user, realm, pw);
		hhex(md, a1, ha1);
		snprintf(a2, sizeof a2, "AUTH:%s", relay_uri);
		hhex(md, a2, ha2);
		/* RFC 4976 §5.1 uses RFC 2617 Digest with qop=auth */
		snprintf(kd, sizeof kd, "%s:%s:00000001:%s:auth:%s", ha1, nonce, cnonce, ha2);
		hhex(md, kd, resp);
		snprintf(extra, sizeof extra,
			 "Authorization: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
			 "response=\"%s\", algorithm=%s, qop=auth, nc=00000001, cnonce=\"%s\"\r\n",
			 user, realm, nonce, relay_uri, resp, alg, cnonce);
	}
}

struct reader {
	int fd;
	int answer;           /* bob with Failure-Report yes: 200 to each SEND */
	atomic_long *count;   /* end-lines seen */
	const char *resp_to;  /* To-Path of bob's responses (the relay's path) */
	const char *me;       /* From-Path of them */
	double t_last;
};

#define RBUF (1 << 18)

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	char *buf = malloc(RBUF + 256), *out = malloc(1 << 20);
	size_t keep = 0;
	if (!buf || !out)
		bu_die("out of memory");
	while (!atomic_load(&stop_readers)) {
		struct pollfd pf = {.fd = r->fd, .events = POLLIN};
		if (poll(&pf, 1, 100) <= 0)
			continue;
		ssize_t n = recv(r->fd, buf + keep, RBUF, 0);
		if (n <= 0)
			break;
		size_t len = keep + (size_t)n, ol = 0, done_to = 0;
		long seen = 0;
		/* end-lines: "\r\n-------" TID FLAG "\r\n" (RFC 4975 §7.1); bodies are
		 * 'x' only and no header holds seven dashes */
		for (char *p = buf; (p = memmem(p, len - (size_t)(p - buf), "-------", 7));) {
			char *e = memmem(p + 7, len - (size_t)(p + 7 - buf), "\r\n", 2);
			if (!e)
				break;
			seen++;
			if (r->answer && e - p - 8 > 0 && e - p - 8 < 64 && e[-1] == '$') {
				int tl = (int)(e - p - 8);
				if (ol + 512 > (1 << 20)) {
					write_all(r->fd, out, ol);
					ol = 0;
				}
				ol += (size_t)sprintf(out + ol,
						      "MSRP %.*s 200 OK\r\nTo-Path: %s\r\nFrom-Path: %s\r\n-------%.*s$\r\n",
						      tl, p + 7, r->resp_to, r->me, tl, p + 7);
			}
			p = e + 2;
			done_to = (size_t)(p - buf);
		}
		if (ol)
			write_all(r->fd, out, ol);
		if (seen) {
			atomic_fetch_add(r->count, seen);
			r->t_last = bu_now();
		}
		/* keep an unfinished end-line (at most the last 96 bytes) */
		size_t from = len > 96 ? len - 96 : 0;
		if (from < done_to)
			from = done_to;
		keep = len - from;
		memmove(buf, buf + from, keep);
	}
	free(buf);
	free(out);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: msrpload --relay 127.0.0.1:PORT [--count N] [--size BYTES]\n"
		"                [--alice USER:PASS] [--bob USER:PASS] [--failure-report no|yes]\n"
		"                [--topology inbound|same] [--timeout S] [--pids PID,...]\n");
	exit(2);
}

static void userpass(const char *v, const char **u, const char **p)
{
	char *c = strdup(v), *k = strchr(c, ':');
	if (k) {
		*k = 0;
		*p = k + 1;
	}
	*u = c;
}

int main(int argc, char **argv)
{
	bu_prog = "msrpload";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		if (!strcmp(a, "--relay")) {
			const char *c = strrchr(v, ':');
			if (!c)
				usage();
			opt.port = atoi(c + 1);
		} else if (!strcmp(a, "--count"))
			opt.count = atol(v);
		else if (!strcmp(a, "--size"))
			opt.size = atoi(v);
		else if (!strcmp(a, "--alice"))
			userpass(v, &opt.alice, &opt.alice_pw);
		else if (!strcmp(a, "--bob"))
			userpass(v, &opt.bob, &opt.bob_pw);
		else if (!strcmp(a, "--failure-report"))
			opt.fr = !strcmp(v, "yes");
		else if (!strcmp(a, "--topology"))
			opt.same = !strcmp(v, "same");
		else if (!strcmp(a, "--timeout"))
			opt.timeout_s = atoi(v);
		else if (!strcmp(a, "--pids"))
			opt.pids = v;
		else
			usage();
		i++;
	}
	if (!opt.port || opt.count < 0 || opt.size < 1 || opt.size > (1 << 24))
		usage();
	snprintf(relay_uri, sizeof relay_uri, "msrp://127.0.0.1:%d;tcp", opt.port);
	char ua[128], ub[128], pa[512], pb[512], to[1200];
	/* endpoints behind the relay: it reaches them on their AUTH connection */
	snprintf(ua, sizeof ua, "msrp://alice.invalid:9/a%d;tcp", (int)getpid());
	snprintf(ub, sizeof ub, "msrp://bob.invalid:9/b%d;tcp", (int)getpid());
	int fa = connect_relay(), fb = connect_relay();
	auth(fa, ua, opt.alice, opt.alice_pw, pa, sizeof pa);
	auth(fb, ub, opt.bob, opt.bob_pw, pb, sizeof pb);
	if (opt.same)
		snprintf(to, sizeof to, "%s %s %s", pa, pb, ub);
	else
		snprintf(to, sizeof to, "%s %s", pb, ub);

	struct reader rb = {.fd = fb, .answer = opt.fr, .count = &bob_got, .resp_to = pb, .me = ub};
	struct reader ra = {.fd = fa, .count = &alice_got};
	pthread_t tb, ta;
	pthread_create(&tb, NULL, reader_main, &rb);
	pthread_create(&ta, NULL, reader_main, &ra);

	/* the messages, built into a buffer flushed at 256 KB */
	size_t cap = (1 << 18) + (size_t)opt.size + 2048, bl = 0;
	char *b = malloc(cap), *body = malloc((size_t)opt.size);
	if (!b || !body)
		bu_die("out of memory");
	memset(body, 'x', (size_t)opt.size);
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	long tk0 = bu_ticks_of(opt.pids);
	double t0 = bu_now();
	for (long i = 0; i < opt.count; i++) {
		unsigned long t = ++tid_seq;
		bl += (size_t)sprintf(b + bl,
				      "MSRP s%08lx SEND\r\nTo-Path: %s\r\nFrom-Path: %s\r\nMessage-ID: m%d.%ld\r\n"
				      "Byte-Range: 1-%d/%d\r\nFailure-Report: %s\r\nContent-Type: text/plain\r\n\r\n",
				      t, to, ua, (int)getpid(), i, opt.size, opt.size, opt.fr ? "yes" : "no");
		memcpy(b + bl, body, (size_t)opt.size);
		bl += (size_t)opt.size;
		bl += (size_t)sprintf(b + bl, "\r\n-------s%08lx$\r\n", t);
		if (bl >= (1 << 18)) {
			write_all(fa, b, bl);
			bl = 0;
		}
	}
	if (bl)
		write_all(fa, b, bl);
	/* give up at the deadline, or after 10 s without progress (a relay
	 * that lost a frame never delivers it) */
	double deadline = t0 + opt.timeout_s, moved = bu_now();
	long last = 0;
	while (atomic_load(&bob_got) < opt.count && bu_now() < deadline && bu_now() - moved < 10) {
		usleep(1000);
		long g = atomic_load(&bob_got);
		if (g != last) {
			last = g;
			moved = bu_now();
		}
	}
	double t1 = atomic_load(&bob_got) >= opt.count ? rb.t_last : bu_now();
	long tk1 = bu_ticks_of(opt.pids);
	getrusage(RUSAGE_SELF, &ru1);
	/* the last responses to alice (Failure-Report yes) */
	for (double e = bu_now() + (opt.fr ? 2.0 : 0.2); bu_now() < e && (opt.fr && atomic_load(&alice_got) < opt.count);)
		usleep(1000);
	atomic_store(&stop_readers, 1);
	pthread_join(tb, NULL);
	pthread_join(ta, NULL);
	double el = opt.count ? t1 - t0 : 0, hz = (double)sysconf(_SC_CLK_TCK);
	double own = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		     ((ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec)) / 1e6;
	long got = atomic_load(&bob_got);
	printf("count=%ld size=%d received=%ld alice_got=%ld elapsed_s=%.3f mb_per_s=%.1f msgs_per_s=%.0f "
	       "client_cpu_ms=%.0f srv_cpu_ms=%.0f\n",
	       opt.count, opt.size, got, atomic_load(&alice_got), el,
	       el > 0 ? got * (double)opt.size / el / 1e6 : 0, el > 0 ? got / el : 0, own * 1e3,
	       1e3 * (tk1 - tk0) / hz);
	close(fa);
	close(fb);
	return got >= opt.count ? 0 : 1;
}
