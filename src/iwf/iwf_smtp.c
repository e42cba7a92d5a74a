/* The e-mail interworking function, part 2: the SMTP client on the loop.
 *
 * libcurl's multi-socket interface: curl tells which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION → one uv_poll_t each) and when to wake it
 * (CURLMOPT_TIMERFUNCTION → one uv_timer_t); the loop tells curl what
 * happened (curl_multi_socket_action).  Finished transfers are collected
 * with curl_multi_info_read and end in the mail's done callback.  Nothing
 * blocks and no thread is started (name resolution aside: libcurl's own
 * resolver thread, which reports through the timer).
 *
 * Outcome of a transfer (iwf.h, cpm_iwf_done_cb): curl's result, plus the
 * first SMTP reply of class 4 or 5 and the command it answered, both read
 * from CURLOPT_DEBUGFUNCTION (CURLINFO_HEADER_OUT carries the commands,
 * CURLINFO_HEADER_IN the replies).  The command matters: 5xx to RCPT TO is
 * a refused address (RFC 5321 §4.2.2, 550/553), 5xx elsewhere a refused
 * message, 4xx anywhere transient (§4.2.1). */
#include "iwf/iwf.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY_MAX 256
#define LOG_CTX "iwf"

struct iwf_job {
	struct iwf_job *next, *prev; /* queue (next only) or in-flight list */
	struct cpm_iwf *iw;
	CURL *easy;
	struct curl_slist *rcpts;
	struct cpm_buf data; /* the mail */
	size_t off;	     /* read position */
	cpm_iwf_done_cb *done;
	void *arg;
	char rcpt[CPM_IWF_ADDR_MAX + 1];
	char ctx[64];	       /* log context: the Call-ID */
	char verb[8];	       /* the last SMTP command sent */
	char fail_verb[8];     /* the command of the first 4xx/5xx reply */
	int fail_code;	       /* that reply's code, 0 if none */
	char fail_reply[REPLY_MAX]; /* that reply */
	char reply[REPLY_MAX];	    /* the last reply */
	char errbuf[CURL_ERROR_SIZE];
	uint64_t started_ms;
};

struct iwf_sock {
	uv_poll_t poll;
	struct cpm_iwf *iw;
	curl_socket_t fd;
	struct iwf_sock *next, *prev;
};

struct cpm_iwf {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	bool enabled, stopped, freeing, in_check;
	unsigned open_handles; /* timer + polls not yet closed */
	char url[CPM_CONF_PATH_LEN + 8];
	char from[CPM_IWF_ADDR_MAX + 1];
	char ca_file[CPM_CONF_PATH_LEN];
	char username[CPM_CONF_NAME_LEN];
	char password[CPM_CONF_NAME_LEN];
	int tls;
	long timeout_s;
	unsigned max_in_flight, max_queue;
	struct iwf_job *queue_head, *queue_tail;
	struct iwf_job *flying; /* doubly linked */
	struct iwf_sock *socks; /* doubly linked */
	int *fds;		/* every socket curl opened and has not closed */
	size_t nfds, capfds;
	struct cpm_iwf_stats st;
};

/* ------------------------------------------------------------------ init */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* --------------------------------------------------------------- helpers */

/* Copy a protocol line for logs and callbacks: printable ASCII only, no
 * CR/LF, at most REPLY_MAX - 1 octets. */
static void copy_line(char *dst, const char *src, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 1 < REPLY_MAX; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c == '\r' || c == '\n')
			break;
		dst[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[k] = '\0';
}

static void job_free(struct iwf_job *j)
{
	if (j->easy)
		curl_easy_cleanup(j->easy);
	curl_slist_free_all(j->rcpts);
	cpm_buf_free(&j->data);
	free(j);
}

/* ---------------------------------------------------- curl easy callbacks */

static size_t read_cb(char *buf, size_t size, size_t nitems, void *userp)
{
	struct iwf_job *j = userp;
	size_t room = size * nitems, left = j->data.len - j->off;
	size_t n = left < room ? left : room;
	memcpy(buf, j->data.p + j->off, n);
	j->off += n;
	return n;
}

/* Commands out, replies in.  The last reply, and whether it was a 4xx/5xx
 * with its command, are kept; replies to QUIT are ignored (libcurl may send
 * QUIT after a failure: its 221 must not hide the reply that decided), and
 * a later 2xx/3xx clears the failure (libcurl falls back from EHLO to HELO
 * after a 5xx).  The end of data is not a command: its reply counts for
 * DATA.  Of the AUTH line only its first word is kept, never the
 * credentials. */
static int debug_cb(CURL *e, curl_infotype type, char *data, size_t size,
		    void *userp)
{
	struct iwf_job *j = userp;
	if (type == CURLINFO_HEADER_OUT) {
		size_t n = 0;
		while (n < size && n + 1 < sizeof j->verb && data[n] != ' ' &&
		       data[n] != '\r' && data[n] != '\n')
			n++;
		for (size_t i = 0; i < n; i++)
			j->verb[i] = (char)(data[i] & 0x5f); /* upper case */
		j->verb[n] = '\0';
		return 0;
	}
	if (type != CURLINFO_HEADER_IN || strcmp(j->verb, "QUIT") == 0)
		return 0;
	copy_line(j->reply, data, size);
	int code = 0;
	for (size_t i = 0; i < 3 && i < size && data[i] >= '0' && data[i] <= '9'; i++)
		code = code * 10 + (data[i] - '0');
	if (code >= 400 && code <= 599) {
		j->fail_code = code;
		memcpy(j->fail_verb, j->verb, sizeof j->verb);
		memcpy(j->fail_reply, j->reply, sizeof j->reply);
	} else if (code) {
		j->fail_code = 0; /* e.g. HELO accepted after EHLO's 5xx */
	}
	return 0;
}

/* Every socket curl uses is opened and closed here, so that cancelling
 * can shut them all down first.  Without that, libcurl 7.88 treats a
 * transfer removed mid-way as finished: smtp_done sends the end of data
 * (a truncated mail could be accepted) and waits, blocking, for the reply,
 * and closing a cached connection waits for the reply to QUIT.  After
 * shutdown(2) both fail at once, and the server, seeing the connection end
 * inside DATA, must drop the mail (RFC 5321 §4.1.1.4). */
static curl_socket_t open_cb(void *clientp, curlsocktype purpose,
			     struct curl_sockaddr *a)
{
	struct cpm_iwf *iw = clientp;
	if (iw->nfds == iw->capfds) {
		size_t cap = iw->capfds ? iw->capfds * 2 : 16;
		int *p = realloc(iw->fds, cap * sizeof *p);
		if (!p)
			return CURL_SOCKET_BAD;
		iw->fds = p;
		iw->capfds = cap;
	}
	int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd < 0)
		return CURL_SOCKET_BAD;
	iw->fds[iw->nfds++] = fd;
	return fd;
}

static int close_cb(void *clientp, curl_socket_t fd)
{
	struct cpm_iwf *iw = clientp;
	for (size_t i = 0; i < iw->nfds; i++)
		if (iw->fds[i] == fd) {
			iw->fds[i] = iw->fds[--iw->nfds];
			break;
		}
	return close(fd);
}

/* -------------------------------------------------------- the outcome */

static int outcome(struct iwf_job *j, CURLcode res)
{
	if (res == CURLE_OK)
		return 0;
	if (res == CURLE_OPERATION_TIMEDOUT)
		return CPM_ETIMEDOUT;
	if (res == CURLE_USE_SSL_FAILED)
		return CPM_EUNSUPP;
	if (res == CURLE_LOGIN_DENIED || res == CURLE_PEER_FAILED_VERIFICATION ||
	    res == CURLE_SSL_CACERT_BADFILE)
		return CPM_EAUTH;
	if (res == CURLE_OUT_OF_MEMORY)
		return CPM_ENOMEM;
	if (j->fail_code >= 500) {
		if (strcmp(j->fail_verb, "RCPT") == 0)
			return CPM_EADDR;
		/* RFC 4954 §6: 530 authentication required, 534 mechanism
		 * too weak, 535 credentials invalid, 538 encryption required */
		if (strcmp(j->fail_verb, "AUTH") == 0 || j->fail_code == 530 ||
		    j->fail_code == 534 || j->fail_code == 535 || j->fail_code == 538)
			return CPM_EAUTH;
		return CPM_EPERM;
	}
	return CPM_EAGAIN; /* 4xx, connection refused or lost, TLS, DNS */
}

static void pump(struct cpm_iwf *iw);

/* A finished (or cancelled, rc given) transfer: out of the multi, the
 * callback, the next queued mail. */
static void job_finish(struct cpm_iwf *iw, struct iwf_job *j, int rc)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		iw->flying = j->next;
	if (j->next)
		j->next->prev = j->prev;
	iw->st.in_flight--;
	curl_multi_remove_handle(iw->multi, j->easy);
	/* the reply that decided; without one, curl's words */
	const char *reply = j->reply; /* success: the 250 to the data */
	if (rc == CPM_ECLOSED)
		reply = "cancelled";
	else if (rc && j->fail_code)
		reply = j->fail_reply;
	else if (rc && j->errbuf[0])
		reply = j->errbuf;
	if (!reply[0])
		reply = rc ? cpm_strerror(rc) : "OK";
	uint64_t ms = cpm_now_ms() - j->started_ms;
	if (rc == 0) {
		iw->st.sent++;
		cpm_logi(j->ctx, "mail to %s sent in %llu ms: %s", j->rcpt,
			 (unsigned long long)ms, reply);
	} else {
		iw->st.failed++;
		cpm_logn(j->ctx, "mail to %s failed after %llu ms (%s%s%s): %s",
			 j->rcpt, (unsigned long long)ms, cpm_strerror(rc),
			 j->fail_code ? ", at " : "", j->fail_code ? j->fail_verb : "",
			 reply);
	}
	j->done(j->arg, rc, reply);
	job_free(j);
}

/* Collect the finished transfers (re-entrancy: a done callback may send,
 * which may add handles; we only read messages here). */
static void check_done(struct cpm_iwf *iw)
{
	if (iw->in_check)
		return;
	iw->in_check = true;
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(iw->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct iwf_job *j = NULL;
		CURLcode res = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
		if (j)
			job_finish(iw, j, outcome(j, res));
	}
	iw->in_check = false;
	pump(iw);
}

/* ------------------------------------------------- the loop's side of curl */

static void handle_closed(uv_handle_t *h)
{
	struct cpm_iwf *iw = h->data;
	if (h->type == UV_POLL)
		free(((struct iwf_sock *)((char *)h - offsetof(struct iwf_sock, poll))));
	if (--iw->open_handles == 0 && iw->freeing)
		free(iw);
}

static void sock_close(struct cpm_iwf *iw, struct iwf_sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		iw->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	/* stop before curl closes the descriptor (uv_poll_stop removes it from
	 * epoll at once) */
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, handle_closed);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct iwf_sock *s = (struct iwf_sock *)((char *)h - offsetof(struct iwf_sock, poll));
	struct cpm_iwf *iw = s->iw;
	int flags = 0, running;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(iw->multi, s->fd, flags, &running);
	check_done(iw);
}

static int socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct cpm_iwf *iw = userp;
	struct iwf_sock *s = sockp;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(iw->multi, fd, NULL);
			sock_close(iw, s);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof *s);
		if (!s)
			return -1; /* curl fails the transfer */
		if (uv_poll_init_socket(iw->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		s->iw = iw;
		s->fd = fd;
		s->poll.data = iw;
		s->next = iw->socks;
		if (s->next)
			s->next->prev = s;
		iw->socks = s;
		iw->open_handles++;
		curl_multi_assign(iw->multi, fd, s);
	}
	int ev = 0;
	if (what & CURL_POLL_IN)
		ev |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		ev |= UV_WRITABLE;
	uv_poll_start(&s->poll, ev, poll_cb);
	return 0;
}

static void timer_fired(uv_timer_t *t)
{
	struct cpm_iwf *iw = t->data;
	int running;
	curl_multi_socket_action(iw->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(iw);
}

/* curl wants to be called after timeout_ms (-1: never).  Acting right here
 * would re-enter curl: even 0 goes through the loop. */
static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct cpm_iwf *iw = userp;
	if (iw->freeing)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&iw->timer);
	else
		uv_timer_start(&iw->timer, timer_fired, (uint64_t)timeout_ms, 0);
	return 0;
}

/* ------------------------------------------------------------- a transfer */

static int job_start(struct cpm_iwf *iw, struct iwf_job *j)
{
	CURL *e = curl_easy_init();
	if (!e)
		return CPM_ENOMEM;
	j->easy = e;
	j->rcpts = curl_slist_append(NULL, j->rcpt);
	if (!j->rcpts)
		return CPM_ENOMEM;
	curl_easy_setopt(e, CURLOPT_URL, iw->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(e, CURLOPT_MAIL_FROM, iw->from);
	curl_easy_setopt(e, CURLOPT_MAIL_RCPT, j->rcpts);
	curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
	/* SIZE= in MAIL FROM when the server has the extension (RFC 1870):
	 * an over-large mail is refused before its data is sent */
	curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)j->data.len);
	curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
	curl_easy_setopt(e, CURLOPT_READDATA, j);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, iw->timeout_s);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_cb);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, iw);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, iw);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)j);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, debug_cb);
	curl_easy_setopt(e, CURLOPT_DEBUGDATA, j);
	curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
	if (iw->tls != CPM_CONF_SMTP_TLS_NO)
		curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (iw->ca_file[0])
		curl_easy_setopt(e, CURLOPT_CAINFO, iw->ca_file);
	if (iw->username[0]) {
		curl_easy_setopt(e, CURLOPT_USERNAME, iw->username);
		curl_easy_setopt(e, CURLOPT_PASSWORD, iw->password);
	}
	j->started_ms = cpm_now_ms();
	if (curl_multi_add_handle(iw->multi, e) != CURLM_OK)
		return CPM_ENOMEM;
	j->prev = NULL;
	j->next = iw->flying;
	if (j->next)
		j->next->prev = j;
	iw->flying = j;
	iw->st.in_flight++;
	return 0;
}

/* Start queued mails while there is room. */
static void pump(struct cpm_iwf *iw)
{
	while (!iw->freeing && iw->queue_head && iw->st.in_flight < iw->max_in_flight) {
		struct iwf_job *j = iw->queue_head;
		iw->queue_head = j->next;
		if (!iw->queue_head)
			iw->queue_tail = NULL;
		iw->st.queued--;
		int rc = job_start(iw, j);
		if (rc) {
			iw->st.failed++;
			j->done(j->arg, rc, "cannot start the SMTP transfer");
			job_free(j);
		}
	}
}

/* ------------------------------------------------------------------ API */

/* cpmd@<domain>; an IP domain as an address literal (RFC 5321 §4.1.3):
 * conf keeps IPv6 in brackets, "[::1]" → "[IPv6:::1]". */
static void default_from(const char *dom, char *out, size_t outsz)
{
	size_t n = strlen(dom);
	if (dom[0] == '[')
		snprintf(out, outsz, "cpmd@[IPv6:%.*s]", (int)(n - 2), dom + 1);
	else if (strspn(dom, "0123456789.") == n)
		snprintf(out, outsz, "cpmd@[%s]", dom);
	else
		snprintf(out, outsz, "cpmd@%s", dom);
}

int cpm_iwf_new(uv_loop_t *loop, const struct cpm_conf *conf, struct cpm_iwf **out)
{
	*out = NULL;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		cpm_loge(LOG_CTX, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));
		return CPM_EIO;
	}
	struct cpm_iwf *iw = calloc(1, sizeof *iw);
	if (!iw)
		return CPM_ENOMEM;
	iw->loop = loop;
	const char *url = conf->smtp.url;
	iw->tls = conf->smtp.tls;
	if (strncmp(url, "smtps://", 8) == 0)
		iw->tls = CPM_CONF_SMTP_TLS_YES;
	if (iw->tls == CPM_CONF_SMTP_TLS_YES && strncmp(url, "smtp://", 7) == 0)
		snprintf(iw->url, sizeof iw->url, "smtps://%s", url + 7);
	else
		snprintf(iw->url, sizeof iw->url, "%s", url);
	if (conf->smtp.from[0])
		snprintf(iw->from, sizeof iw->from, "%s", conf->smtp.from);
	else if (conf->server.ndomains > 0)
		default_from(conf->server.domains[0], iw->from, sizeof iw->from);
	if (!cpm_iwf_addr_valid(iw->from)) {
		cpm_loge(LOG_CTX, "smtp.from '%s' is not a mail address", iw->from);
		free(iw);
		return CPM_EINVAL;
	}
	snprintf(iw->ca_file, sizeof iw->ca_file, "%s", conf->smtp.ca_file);
	snprintf(iw->username, sizeof iw->username, "%s", conf->smtp.username);
	snprintf(iw->password, sizeof iw->password, "%s", conf->smtp.password);
	iw->timeout_s = conf->smtp.timeout;
	iw->max_in_flight = (unsigned)conf->smtp.max_in_flight;
	iw->max_queue = (unsigned)conf->smtp.max_queue;
	iw->enabled = url[0] != '\0';
	iw->multi = curl_multi_init();
	if (!iw->multi) {
		free(iw);
		return CPM_EIO;
	}
	curl_multi_setopt(iw->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(iw->multi, CURLMOPT_SOCKETDATA, iw);
	curl_multi_setopt(iw->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(iw->multi, CURLMOPT_TIMERDATA, iw);
	curl_multi_setopt(iw->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
			  (long)iw->max_in_flight);
	uv_timer_init(loop, &iw->timer);
	iw->timer.data = iw;
	iw->open_handles = 1;
	*out = iw;
	if (iw->enabled)
		cpm_logi(LOG_CTX, "e-mail through %s as %s (tls %s, %u at once)", iw->url,
			 iw->from,
			 iw->tls == CPM_CONF_SMTP_TLS_NO	   ? "no"
			 : iw->tls == CPM_CONF_SMTP_TLS_STARTTLS ? "starttls"
								 : "yes",
			 iw->max_in_flight);
	return 0;
}

bool cpm_iwf_enabled(const struct cpm_iwf *iw)
{
	return iw && iw->enabled;
}

const char *cpm_iwf_from(const struct cpm_iwf *iw)
{
	return iw->from;
}

int cpm_iwf_mail_send(struct cpm_iwf *iw, const struct cpm_iwf_mail *m,
		      cpm_iwf_done_cb *done, void *arg)
{
	int rc = 0;
	if (!iw->enabled)
		rc = CPM_EUNSUPP;
	else if (iw->stopped || iw->freeing)
		rc = CPM_ESTATE;
	else if (!done || !m)
		rc = CPM_EINVAL;
	else if (iw->st.in_flight >= iw->max_in_flight && iw->st.queued >= iw->max_queue)
		rc = CPM_ELIMIT;
	struct iwf_job *j = NULL;
	if (!rc) {
		j = calloc(1, sizeof *j);
		if (!j)
			rc = CPM_ENOMEM;
	}
	if (!rc) {
		j->iw = iw;
		j->done = done;
		j->arg = arg;
		snprintf(j->ctx, sizeof j->ctx, "%s", m->call_id ? m->call_id : "iwf");
		/* the mail: quoted-printable may triple text, base64 adds a
		 * third; room for the headers and a text part */
		cpm_buf_init(&j->data, m->body_len * 3 + 256 * 1024);
		rc = cpm_iwf_mailto_parse(m->rcpt, j->rcpt, sizeof j->rcpt);
		if (!rc)
			rc = cpm_iwf_mail_build(m, iw->from, &j->data);
	}
	if (rc) {
		iw->st.refused++;
		if (j)
			job_free(j);
		cpm_logn(m && m->call_id ? m->call_id : LOG_CTX, "mail to %s refused: %s",
			 m && m->rcpt ? m->rcpt : "(none)", cpm_strerror(rc));
		return rc;
	}
	if (iw->st.in_flight < iw->max_in_flight) {
		rc = job_start(iw, j);
		if (rc) {
			iw->st.refused++;
			job_free(j);
		}
		return rc;
	}
	if (iw->queue_tail)
		iw->queue_tail->next = j;
	else
		iw->queue_head = j;
	iw->queue_tail = j;
	iw->st.queued++;
	return 0;
}

void cpm_iwf_stats_get(const struct cpm_iwf *iw, struct cpm_iwf_stats *st)
{
	*st = iw->st;
}

unsigned cpm_iwf_pending(const struct cpm_iwf *iw)
{
	return iw ? iw->st.in_flight + iw->st.queued : 0;
}

void cpm_iwf_stop(struct cpm_iwf *iw)
{
	if (iw)
		iw->stopped = true;
}

void cpm_iwf_free(struct cpm_iwf *iw)
{
	if (!iw || iw->freeing)
		return;
	iw->freeing = true;
	iw->stopped = true;
	/* no blocking exchange with the server from here on (open_cb) */
	for (size_t i = 0; i < iw->nfds; i++)
		shutdown(iw->fds[i], SHUT_RDWR);
	while (iw->queue_head) {
		struct iwf_job *j = iw->queue_head;
		iw->queue_head = j->next;
		iw->st.queued--;
		iw->st.failed++;
		j->done(j->arg, CPM_ECLOSED, "cancelled");
		job_free(j);
	}
	iw->queue_tail = NULL;
	while (iw->flying)
		job_finish(iw, iw->flying, CPM_ECLOSED);
	/* closes the cached connections (socket_cb REMOVE, close_cb) */
	curl_multi_cleanup(iw->multi);
	iw->multi = NULL;
	free(iw->fds);
	iw->fds = NULL;
	iw->nfds = iw->capfds = 0;
	while (iw->socks)
		sock_close(iw, iw->socks);
	uv_timer_stop(&iw->timer);
	uv_close((uv_handle_t *)&iw->timer, handle_closed);
}
