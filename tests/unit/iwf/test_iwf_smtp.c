/* iwf: the SMTP client against a real SMTP server.
 *
 * Each test starts tests/integration/smtp_sink.py (aiosmtpd) on a free
 * 127.0.0.1 port, sends through cpm_iwf_mail_send on a real uv loop and
 * checks what the server stored (byte-exact, and decoded by Python's email
 * package through eml_decode.py), and each failure path: 5xx and 4xx
 * recipients, a refused DATA, a stalled server (timeout), no server, AUTH,
 * STARTTLS and implicit TLS, the queue bound, stop, and cancellation at
 * free.  Skipped when python3-aiosmtpd is missing (scripts/deps.sh test
 * installs it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "iwf/iwf.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static char tmpdir[256];
static const char *python = "/usr/bin/python3";
static char sink_py[1024], decode_py[1024];
static bool have_sink, have_tls;
static char cert[512], key[512];

/* ------------------------------------------------------------ the fixture */

/* path (relative to the repository) from $CPM_SRCDIR or a parent of cwd */
static bool find_file(const char *rel, char *out, size_t outsz)
{
	const char *env = getenv("CPM_SRCDIR");
	if (env) {
		snprintf(out, outsz, "%s/%s", env, rel);
		return access(out, R_OK) == 0;
	}
	char prefix[256] = ".";
	for (int up = 0; up < 6; up++) {
		snprintf(out, outsz, "%s/%s", prefix, rel);
		if (access(out, R_OK) == 0)
			return true;
		strcat(prefix, "/..");
	}
	return false;
}

static int setup(void **state)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/cpm_iwf_XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	if (access(python, X_OK) != 0)
		python = "python3";
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "%s -c 'import aiosmtpd' >/dev/null 2>&1", python);
	have_sink = find_file("tests/integration/smtp_sink.py", sink_py, sizeof sink_py) &&
		    find_file("tests/unit/iwf/eml_decode.py", decode_py, sizeof decode_py) &&
		    system(cmd) == 0;
	snprintf(cert, sizeof cert, "%s/cert.pem", tmpdir);
	snprintf(key, sizeof key, "%s/key.pem", tmpdir);
	/* a self-signed certificate for 127.0.0.1, valid for a day */
	snprintf(cmd, sizeof cmd,
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
		 "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1",
		 key, cert);
	have_tls = have_sink && system(cmd) == 0;
	if (!have_sink)
		fprintf(stderr, "python3-aiosmtpd or the scripts are missing: the "
				"SMTP tests are skipped\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

struct sink {
	pid_t pid;
	int port;
	char dir[512];
};

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Start a sink with the extra options (NULL-terminated). */
static void sink_start(struct sink *s, const char *name, const char *const *extra)
{
	if (!have_sink)
		skip();
	memset(s, 0, sizeof *s);
	snprintf(s->dir, sizeof s->dir, "%s/%s", tmpdir, name);
	assert_int_equal(mkdir(s->dir, 0700), 0);
	char portfile[600], out[600];
	snprintf(portfile, sizeof portfile, "%s/port", s->dir);
	snprintf(out, sizeof out, "%s/sink.out", s->dir);
	const char *argv[40] = { python,	   sink_py,	"--dir", s->dir,
				 "--port-file", portfile, "--exit-after", "60" };
	int argc = 8;
	for (int i = 0; extra && extra[i] && argc < 38; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	int rc = posix_spawnp(&s->pid, python, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(rc, 0);
	for (int i = 0; i < 500 && !s->port; i++) { /* 10 s at most */
		FILE *f = fopen(portfile, "r");
		if (f) {
			if (fscanf(f, "%d", &s->port) != 1)
				s->port = 0;
			fclose(f);
		}
		if (!s->port)
			sleep_ms(20);
	}
	if (!s->port)
		fail_msg("smtp_sink did not start (see %s)", out);
}

static void sink_stop(struct sink *s)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	int status;
	for (int i = 0; i < 250; i++) { /* 5 s, then SIGKILL */
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			return;
		}
		sleep_ms(20);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &status, 0);
	s->pid = 0;
}

/* A whole file, malloc'd and NUL-terminated; NULL if absent. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct cpm_buf b;
	cpm_buf_init(&b, 64 << 20);
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		assert_int_equal(cpm_buf_append(&b, chunk, n), 0);
	fclose(f);
	if (len)
		*len = b.len;
	if (!b.p)
		return calloc(1, 1);
	return b.p;
}

static json_t *sink_json(const struct sink *s, int n)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%d.json", s->dir, n);
	json_error_t err;
	json_t *j = json_load_file(path, 0, &err);
	if (!j)
		fail_msg("%s: %s", path, err.text);
	return j;
}

/* eml_decode.py's view of a stored mail. */
static json_t *decoded(const struct sink *s, int n)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "%s %s %s/%d.eml", python, decode_py, s->dir, n);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	json_error_t err;
	json_t *j = json_loadf(p, 0, &err);
	assert_int_equal(pclose(p), 0);
	if (!j)
		fail_msg("eml_decode: %s", err.text);
	return j;
}

/* ------------------------------------------------------------ iwf helpers */

struct result {
	int calls;
	int rc;
	char reply[256];
	uint64_t at_ms;
};

static void on_done(void *arg, int rc, const char *reply)
{
	struct result *r = arg;
	assert_non_null(reply);
	r->calls++;
	r->rc = rc;
	r->at_ms = cpm_now_ms();
	snprintf(r->reply, sizeof r->reply, "%s", reply);
}

static struct cpm_iwf *iwf_make(uv_loop_t *loop, const char *url, const char *const *kv)
{
	struct cpm_conf c;
	char err[256];
	cpm_conf_defaults(&c);
	assert_int_equal(cpm_conf_set(&c, "smtp.url", url, err, sizeof err), 0);
	for (int i = 0; kv && kv[i]; i++)
		if (cpm_conf_set_arg(&c, kv[i], err, sizeof err))
			fail_msg("%s: %s", kv[i], err);
	assert_int_equal(cpm_conf_validate(&c, err, sizeof err), 0);
	struct cpm_iwf *iw;
	assert_int_equal(cpm_iwf_new(loop, &c, &iw), 0);
	return iw;
}

static struct cpm_iwf *iwf_for(uv_loop_t *loop, const struct sink *s, const char *const *kv)
{
	char url[128];
	snprintf(url, sizeof url, "smtp://127.0.0.1:%d", s->port);
	return iwf_make(loop, url, kv);
}

/* Run the loop until every result has its call (or ms pass). */
static void run_until(uv_loop_t *loop, struct result *r, int n, long ms)
{
	uint64_t end = cpm_now_ms() + (uint64_t)ms;
	for (;;) {
		int done = 0;
		for (int i = 0; i < n; i++)
			done += r[i].calls > 0;
		if (done == n || cpm_now_ms() > end)
			break;
		uv_run(loop, UV_RUN_NOWAIT);
		sleep_ms(1);
	}
}

/* Free, drain, close: every handle of iwf must be gone. */
static void iwf_close(uv_loop_t *loop, struct cpm_iwf *iw)
{
	cpm_iwf_free(iw);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
}

static struct cpm_iwf_mail mail_to(const char *rcpt, const char *call_id)
{
	return (struct cpm_iwf_mail){
		.rcpt = rcpt,
		.sender = "sip:alice@example.test",
		.sender_display = "\"Alice\"",
		.subject = "hello",
		.content_type = "text/plain",
		.body = "Hi Bob.\n",
		.body_len = 8,
		.date = 1700000000,
		.call_id = call_id,
	};
}

/* ------------------------------------------------------------------ tests */

/* Three mails, two at once and one queued: each arrives byte-exact, with
 * the envelope, and reads back right through Python's MIME parser. */
static void test_send_three(void **state)
{
	struct sink s;
	sink_start(&s, "three", NULL);
	uv_loop_t loop;
	uv_loop_init(&loop);
	const char *kv[] = { "smtp.max_in_flight=2", "smtp.from=im@example.test", NULL };
	struct cpm_iwf *iw = iwf_for(&loop, &s, kv);
	assert_true(cpm_iwf_enabled(iw));
	assert_string_equal(cpm_iwf_from(iw), "im@example.test");

	unsigned char png[5000];
	for (size_t i = 0; i < sizeof png; i++)
		png[i] = (unsigned char)(i * 7);
	struct cpm_iwf_mail m[3] = {
		mail_to("mailto:bob@example.org", "c1@sf.cpmd"),
		mail_to("carol@example.org", "c2@sf.cpmd"),
		mail_to("mailto:dave@example.org", "c3@sf.cpmd"),
	};
	m[1].sender_display = "\"Zoë Ångström\"";
	m[1].subject = "Grüße aus Köln, ein längerer Betreff über mehrere Wörter hinweg";
	m[1].body = "Ça va?\r\n.\r\n..dots at the start\n";
	m[1].body_len = strlen(m[1].body);
	m[2].content_type = "image/png";
	m[2].body = png;
	m[2].body_len = sizeof png;
	/* the expected base64 of the attachment, from Python's encoder */
	char png_path[600], cmd[1400], png_b64[8000] = "";
	snprintf(png_path, sizeof png_path, "%s/png.bin", s.dir);
	FILE *pf = fopen(png_path, "wb");
	assert_non_null(pf);
	assert_int_equal(fwrite(png, 1, sizeof png, pf), sizeof png);
	fclose(pf);
	snprintf(cmd, sizeof cmd,
		 "%s -c 'import base64,sys; print(base64.b64encode(open(sys.argv[1],\"rb\").read()).decode())' %s",
		 python, png_path);
	FILE *pp = popen(cmd, "r");
	assert_non_null(pp);
	assert_non_null(fgets(png_b64, sizeof png_b64, pp));
	pclose(pp);
	png_b64[strcspn(png_b64, "\n")] = '\0';
	struct result r[3] = { 0 };
	for (int i = 0; i < 3; i++)
		assert_int_equal(cpm_iwf_mail_send(iw, &m[i], on_done, &r[i]), 0);
	struct cpm_iwf_stats st;
	cpm_iwf_stats_get(iw, &st);
	assert_int_equal(st.in_flight, 2);
	assert_int_equal(st.queued, 1);
	assert_int_equal(cpm_iwf_pending(iw), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r[i].calls, 0); /* never from inside send */
	run_until(&loop, r, 3, 20000);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].calls, 1);
		if (r[i].rc)
			fail_msg("mail %d: %s: %s", i, cpm_strerror(r[i].rc), r[i].reply);
		assert_true(strncmp(r[i].reply, "250 2.0.0 Ok: queued as sink-", 29) == 0);
	}
	cpm_iwf_stats_get(iw, &st);
	assert_int_equal(st.sent, 3);
	assert_int_equal(st.failed, 0);
	assert_int_equal(cpm_iwf_pending(iw), 0);

	/* the server has exactly what was built, dot-stuffing undone */
	bool matched[3] = { false };
	for (int n = 1; n <= 3; n++) {
		char path[600];
		snprintf(path, sizeof path, "%s/%d.eml", s.dir, n);
		size_t len;
		char *got = slurp(path, &len);
		assert_non_null(got);
		json_t *env = sink_json(&s, n);
		int which = -1;
		for (int i = 0; i < 3; i++) {
			struct cpm_buf b;
			cpm_buf_init(&b, 1 << 20);
			assert_int_equal(cpm_iwf_mail_build(&m[i], "im@example.test", &b), 0);
			if (b.len == len && memcmp(b.p, got, len) == 0)
				which = i;
			cpm_buf_free(&b);
		}
		if (which < 0 || matched[which])
			fail_msg("%s matches no mail sent", path);
		matched[which] = true;
		assert_string_equal(json_string_value(json_object_get(env, "mail_from")),
				    "im@example.test");
		char rcpt[CPM_IWF_ADDR_MAX + 1];
		cpm_iwf_mailto_parse(m[which].rcpt, rcpt, sizeof rcpt);
		json_t *rt = json_object_get(env, "rcpt_tos");
		assert_int_equal(json_array_size(rt), 1);
		assert_string_equal(json_string_value(json_array_get(rt, 0)), rcpt);
		/* SIZE= (RFC 1870) in MAIL FROM */
		char size[32];
		snprintf(size, sizeof size, "SIZE=%zu", len);
		json_t *mo = json_object_get(env, "mail_options");
		assert_string_equal(json_string_value(json_array_get(mo, 0)), size);
		json_decref(env);

		json_t *d = decoded(&s, n);
		assert_int_equal(json_array_size(json_object_get(d, "defects")), 0);
		const char *want_disp = which == 1 ? "Zoë Ångström" : "Alice";
		assert_string_equal(json_string_value(json_object_get(d, "from_display")),
				    want_disp);
		assert_string_equal(json_string_value(json_object_get(d, "from_addr")),
				    "im@example.test");
		assert_string_equal(json_string_value(json_object_get(d, "subject")),
				    m[which].subject);
		json_t *parts = json_object_get(d, "parts");
		json_t *last = json_array_get(parts, json_array_size(parts) - 1);
		if (which == 2) {
			assert_int_equal(json_array_size(parts), 2);
			assert_string_equal(json_string_value(json_object_get(last, "type")),
					    "image/png");
			assert_string_equal(json_string_value(json_object_get(last, "filename")),
					    "message.png");
			const char *b64 = json_string_value(json_object_get(last, "b64"));
			assert_non_null(b64);
			assert_string_equal(b64, png_b64);
		} else {
			/* Python's reader gives the text with \n line ends */
			assert_int_equal(json_array_size(parts), 1);
			const char *t = which ? "\xc3\x87" "a va?\n.\n..dots at the start\n"
					      : "Hi Bob.\n";
			assert_string_equal(json_string_value(json_object_get(last, "text")), t);
		}
		json_decref(d);
		free(got);
	}
	iwf_close(&loop, iw);
	sink_stop(&s);
}

/* 5xx and 4xx recipients, a server that stalls past smtp.timeout, and a good
 * mail beside them. */
static void test_recipient_errors_and_timeout(void **state)
{
	struct sink s;
	const char *opts[] = { "--reject", "bad@example.org=550:5.1.1 no such user",
			       "--reject", "later@example.org=451:4.3.0 try later",
			       "--stall", "slow@example.org=8",
			       NULL };
	sink_start(&s, "errors", opts);
	uv_loop_t loop;
	uv_loop_init(&loop);
	const char *kv[] = { "smtp.timeout=1", NULL };
	struct cpm_iwf *iw = iwf_for(&loop, &s, kv);
	struct cpm_iwf_mail m[4] = {
		mail_to("bad@example.org", "e1"),
		mail_to("later@example.org", "e2"),
		mail_to("slow@example.org", "e3"),
		mail_to("good@example.org", "e4"),
	};
	struct result r[4] = { 0 };
	uint64_t t0 = cpm_now_ms();
	for (int i = 0; i < 4; i++)
		assert_int_equal(cpm_iwf_mail_send(iw, &m[i], on_done, &r[i]), 0);
	run_until(&loop, r, 4, 10000);
	for (int i = 0; i < 4; i++)
		assert_int_equal(r[i].calls, 1);
	assert_int_equal(r[0].rc, CPM_EADDR);
	assert_string_equal(r[0].reply, "550 5.1.1 no such user");
	assert_int_equal(r[1].rc, CPM_EAGAIN);
	assert_string_equal(r[1].reply, "451 4.3.0 try later");
	assert_int_equal(r[2].rc, CPM_ETIMEDOUT);
	assert_true(r[2].at_ms - t0 >= 900 && r[2].at_ms - t0 < 5000);
	assert_true(r[2].reply[0] != '\0');
	assert_int_equal(r[3].rc, 0);
	struct cpm_iwf_stats st;
	cpm_iwf_stats_get(iw, &st);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.failed, 3);
	iwf_close(&loop, iw);
	/* only the good one was stored */
	char path[600];
	snprintf(path, sizeof path, "%s/2.eml", s.dir);
	assert_int_not_equal(access(path, F_OK), 0);
	json_t *env = sink_json(&s, 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(env, "rcpt_tos"), 0)),
			    "good@example.org");
	json_decref(env);
	sink_stop(&s);
}

/* 554 to the end of DATA: the message is refused for good (CPM_EPERM). */
static void test_data_refused(void **state)
{
	struct sink s;
	const char *opts[] = { "--data-reply", "554:5.6.0 content refused", NULL };
	sink_start(&s, "data", opts);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct cpm_iwf *iw = iwf_for(&loop, &s, NULL);
	struct cpm_iwf_mail m = mail_to("bob@example.org", "d1");
	struct result r = { 0 };
	assert_int_equal(cpm_iwf_mail_send(iw, &m, on_done, &r), 0);
	run_until(&loop, &r, 1, 10000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, CPM_EPERM);
	assert_string_equal(r.reply, "554 5.6.0 content refused");
	iwf_close(&loop, iw);
	sink_stop(&s);
}

/* Nobody listens: CPM_EAGAIN with curl's words. */
static void test_no_server(void **state)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof sin;
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	close(fd); /* bound, never listening, now closed: refused */
	char url[64];
	snprintf(url, sizeof url, "smtp://127.0.0.1:%d", ntohs(sin.sin_port));
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct cpm_iwf *iw = iwf_make(&loop, url, NULL);
	struct cpm_iwf_mail m = mail_to("bob@example.org", "n1");
	struct result r = { 0 };
	assert_int_equal(cpm_iwf_mail_send(iw, &m, on_done, &r), 0);
	run_until(&loop, &r, 1, 10000);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, CPM_EAGAIN);
	assert_non_null(strstr(r.reply, "onnect"));
	iwf_close(&loop, iw);
}

/* SMTP AUTH (RFC 4954): right, wrong and missing credentials. */
static void test_auth(void **state)
{
	struct sink s;
	const char *opts[] = { "--auth", "im:s3cret", NULL };
	sink_start(&s, "auth", opts);
	static const char *const good[] = { "smtp.username=im", "smtp.password=s3cret",
					    NULL };
	static const char *const bad[] = { "smtp.username=im", "smtp.password=wrong",
					   NULL };
	const char *const *kvs[] = { good, bad, NULL };
	const int want[] = { 0, CPM_EAUTH, CPM_EAUTH };
	for (int i = 0; i < 3; i++) {
		uv_loop_t loop;
		uv_loop_init(&loop);
		struct cpm_iwf *iw = iwf_for(&loop, &s, kvs[i]);
		struct cpm_iwf_mail m = mail_to("bob@example.org", "a1");
		struct result r = { 0 };
		assert_int_equal(cpm_iwf_mail_send(iw, &m, on_done, &r), 0);
		run_until(&loop, &r, 1, 10000);
		assert_int_equal(r.calls, 1);
		if (r.rc != want[i])
			fail_msg("case %d: %s (%s)", i, cpm_strerror(r.rc), r.reply);
		if (i == 2)
			assert_true(strncmp(r.reply, "530", 3) == 0);
		iwf_close(&loop, iw);
	}
	json_t *env = sink_json(&s, 1);
	assert_string_equal(json_string_value(json_object_get(env, "auth_user")), "im");
	json_decref(env);
	sink_stop(&s);
}

static int send_one(const char *url, const char *const *kv, char *reply, size_t rsz)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct cpm_iwf *iw = iwf_make(&loop, url, kv);
	struct cpm_iwf_mail m = mail_to("bob@example.org", "t1");
	struct result r = { 0 };
	assert_int_equal(cpm_iwf_mail_send(iw, &m, on_done, &r), 0);
	run_until(&loop, &r, 1, 10000);
	assert_int_equal(r.calls, 1);
	iwf_close(&loop, iw);
	snprintf(reply, rsz, "%s", r.reply);
	return r.rc;
}

/* STARTTLS (RFC 3207) and implicit TLS (RFC 8314), certificate checked. */
static void test_tls(void **state)
{
	if (!have_tls)
		skip();
	char ca[600], url[128], reply[256];
	snprintf(ca, sizeof ca, "smtp.ca_file=%s", cert);
	struct sink s;
	const char *opts[] = { "--tls-cert", cert, "--tls-key", key, "--require-tls", NULL };
	sink_start(&s, "starttls", opts);
	snprintf(url, sizeof url, "smtp://127.0.0.1:%d", s.port);
	const char *starttls[] = { "smtp.tls=starttls", ca, NULL };
	int rc = send_one(url, starttls, reply, sizeof reply);
	if (rc)
		fail_msg("starttls: %s: %s", cpm_strerror(rc), reply);
	json_t *env = sink_json(&s, 1);
	assert_true(json_is_true(json_object_get(env, "tls")));
	json_decref(env);
	/* the server wants STARTTLS, we send plain: 530 */
	assert_int_equal(send_one(url, NULL, reply, sizeof reply), CPM_EAUTH);
	/* the system CAs do not know the test certificate */
	const char *nocafile[] = { "smtp.tls=starttls", NULL };
	assert_int_equal(send_one(url, nocafile, reply, sizeof reply), CPM_EAUTH);
	sink_stop(&s);

	/* a server without STARTTLS */
	struct sink p;
	sink_start(&p, "plain", NULL);
	snprintf(url, sizeof url, "smtp://127.0.0.1:%d", p.port);
	assert_int_equal(send_one(url, starttls, reply, sizeof reply), CPM_EUNSUPP);
	sink_stop(&p);

	/* implicit TLS: smtps://, or smtp:// with tls = yes */
	struct sink t;
	const char *iopts[] = { "--tls-cert", cert, "--tls-key", key, "--implicit-tls", NULL };
	sink_start(&t, "smtps", iopts);
	const char *yes[] = { "smtp.tls=yes", ca, NULL };
	snprintf(url, sizeof url, "smtps://127.0.0.1:%d", t.port);
	rc = send_one(url, yes, reply, sizeof reply);
	if (rc)
		fail_msg("smtps: %s: %s", cpm_strerror(rc), reply);
	snprintf(url, sizeof url, "smtp://127.0.0.1:%d", t.port);
	assert_int_equal(send_one(url, yes, reply, sizeof reply), 0);
	env = sink_json(&t, 2);
	assert_true(json_is_true(json_object_get(env, "tls")));
	json_decref(env);
	sink_stop(&t);
}

/* The bounds: smtp.max_in_flight, smtp.max_queue (CPM_ELIMIT), then stop:
 * new mails refused, accepted ones still delivered. */
static void test_queue_bound_and_stop(void **state)
{
	struct sink s;
	const char *opts[] = { "--stall", "a@example.org=0.5", NULL };
	sink_start(&s, "queue", opts);
	uv_loop_t loop;
	uv_loop_init(&loop);
	const char *kv[] = { "smtp.max_in_flight=1", "smtp.max_queue=1", NULL };
	struct cpm_iwf *iw = iwf_for(&loop, &s, kv);
	struct cpm_iwf_mail m = mail_to("a@example.org", "q1");
	struct result r[3] = { 0 };
	assert_int_equal(cpm_iwf_mail_send(iw, &m, on_done, &r[0]), 0);
	assert_int_equal(cpm_iwf_mail_send(iw, &m, on_done, &r[1]), 0);
	assert_int_equal(cpm_iwf_mail_send(iw, &m, on_done, &r[2]), CPM_ELIMIT);
	struct cpm_iwf_stats st;
	cpm_iwf_stats_get(iw, &st);
	assert_int_equal(st.in_flight, 1);
	assert_int_equal(st.queued, 1);
	assert_int_equal(st.refused, 1);
	cpm_iwf_stop(iw);
	assert_int_equal(cpm_iwf_mail_send(iw, &m, on_done, &r[2]), CPM_ESTATE);
	run_until(&loop, r, 2, 10000);
	assert_int_equal(r[0].calls, 1);
	assert_int_equal(r[0].rc, 0);
	assert_int_equal(r[1].calls, 1);
	assert_int_equal(r[1].rc, 0);
	assert_int_equal(r[2].calls, 0);
	/* one after the other */
	assert_true(r[1].at_ms - r[0].at_ms >= 400);
	assert_int_equal(cpm_iwf_pending(iw), 0);
	iwf_close(&loop, iw);
	sink_stop(&s);
}

/* free with a transfer in flight and one queued: both end CPM_ECLOSED
 * before free returns, every handle closes (ASan: no leak, no use after
 * free). */
static void test_free_cancels(void **state)
{
	struct sink s;
	const char *opts[] = { "--stall", "a@example.org=20", NULL };
	sink_start(&s, "cancel", opts);
	uv_loop_t loop;
	uv_loop_init(&loop);
	const char *kv[] = { "smtp.max_in_flight=1", NULL };
	struct cpm_iwf *iw = iwf_for(&loop, &s, kv);
	struct cpm_iwf_mail m = mail_to("a@example.org", "f1");
	struct result r[2] = { 0 };
	assert_int_equal(cpm_iwf_mail_send(iw, &m, on_done, &r[0]), 0);
	assert_int_equal(cpm_iwf_mail_send(iw, &m, on_done, &r[1]), 0);
	run_until(&loop, r, 1, 500); /* connected, waiting for RCPT's reply */
	assert_int_equal(r[0].calls, 0);
	uint64_t t0 = cpm_now_ms();
	cpm_iwf_free(iw);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].rc, CPM_ECLOSED);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_true(cpm_now_ms() - t0 < 2000);
	sink_stop(&s);
}

/* A done callback that sends the next mail (a retry loop would). */
struct chain {
	struct cpm_iwf *iw;
	struct cpm_iwf_mail m;
	int left;
	struct result last;
	int rcs;
};

static void chain_done(void *arg, int rc, const char *reply)
{
	struct chain *c = arg;
	c->rcs |= rc;
	if (--c->left > 0) {
		assert_int_equal(cpm_iwf_mail_send(c->iw, &c->m, chain_done, c), 0);
		return;
	}
	on_done(&c->last, rc, reply);
}

static void test_send_from_callback(void **state)
{
	struct sink s;
	sink_start(&s, "chain", NULL);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct chain c = { .iw = iwf_for(&loop, &s, NULL), .left = 3 };
	c.m = mail_to("bob@example.org", "ch");
	assert_int_equal(cpm_iwf_mail_send(c.iw, &c.m, chain_done, &c), 0);
	run_until(&loop, &c.last, 1, 15000);
	assert_int_equal(c.last.calls, 1);
	assert_int_equal(c.rcs, 0);
	char path[600];
	snprintf(path, sizeof path, "%s/3.eml", s.dir);
	assert_int_equal(access(path, F_OK), 0);
	iwf_close(&loop, c.iw);
	sink_stop(&s);
}

/* No server needed: disabled, refused mails, the default sender. */
static void test_config(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct cpm_iwf *iw = iwf_make(&loop, "", NULL);
	assert_false(cpm_iwf_enabled(iw));
	assert_string_equal(cpm_iwf_from(iw), "cpmd@example.test");
	struct cpm_iwf_mail m = mail_to("bob@example.org", "x");
	struct result r = { 0 };
	assert_int_equal(cpm_iwf_mail_send(iw, &m, on_done, &r), CPM_EUNSUPP);
	iwf_close(&loop, iw);

	uv_loop_init(&loop);
	const char *ip[] = { "server.domain=127.0.0.1,example.test", NULL };
	iw = iwf_make(&loop, "smtp://127.0.0.1:9", ip);
	assert_string_equal(cpm_iwf_from(iw), "cpmd@[127.0.0.1]");
	/* refused at once, no callback: a bad address, missing fields */
	m.rcpt = "mailto:bob@example.org\r\nRCPT TO:<eve@evil.test>";
	assert_int_equal(cpm_iwf_mail_send(iw, &m, on_done, &r), CPM_EADDR);
	m.rcpt = "bob@example.org";
	m.call_id = NULL;
	assert_int_equal(cpm_iwf_mail_send(iw, &m, on_done, &r), CPM_EINVAL);
	assert_int_equal(r.calls, 0);
	iwf_close(&loop, iw);

	uv_loop_init(&loop);
	const char *v6[] = { "server.domain=[::1]", NULL };
	iw = iwf_make(&loop, "smtp://[::1]:9", v6);
	assert_string_equal(cpm_iwf_from(iw), "cpmd@[IPv6:::1]");
	iwf_close(&loop, iw);

	struct cpm_conf c;
	char err[128];
	cpm_conf_defaults(&c);
	assert_int_equal(cpm_conf_set(&c, "smtp.from", "not-an-address", err, sizeof err), 0);
	uv_loop_init(&loop);
	assert_int_equal(cpm_iwf_new(&loop, &c, &iw), CPM_EINVAL);
	assert_int_equal(uv_loop_close(&loop), 0);
	cpm_iwf_free(NULL);
}

int main(void)
{
	cpm_log_set_level(CPM_LOG_INFO);
	if (getenv("CPM_TEST_FILTER")) /* e.g. CPM_TEST_FILTER=test_tls */
		cmocka_set_test_filter(getenv("CPM_TEST_FILTER"));
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_send_three),
		cmocka_unit_test(test_recipient_errors_and_timeout),
		cmocka_unit_test(test_data_refused),
		cmocka_unit_test(test_no_server),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_queue_bound_and_stop),
		cmocka_unit_test(test_free_cancels),
		cmocka_unit_test(test_send_from_callback),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
