/* iwf — interworking functions: e-mail today (issue 3; seeds R35, R93,
 * R111 "to e-mail", the seeds' "e-mail sending module" and IWF), SMS later.
 *
 * A recipient whose profile says store-and-forward=forward:mailto:ADDR gets
 * the messages that cannot be delivered to a device as e-mail sent through
 * the SMTP server of smtp.url (RFC 5321).  Two parts, each usable alone:
 *
 *   1. cpm_iwf_mail_build: pure.  A stored SIP message (struct
 *      cpm_iwf_mail, e.g. filled from a struct cpm_store_msg by
 *      cpm_iwf_mail_from_store) becomes an RFC 5322 / MIME message.
 *   2. struct cpm_iwf: the SMTP client on the libuv loop.  libcurl's multi
 *      interface is driven by uv_poll and uv_timer handles on the loop
 *      (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION): no thread, no
 *      blocking call.  At most smtp.max_in_flight transactions run at once,
 *      at most smtp.max_queue mails wait; each ends in one callback on the
 *      loop.
 *
 * The mail, as built (the choices, with their reasons):
 *   - From: "<SIP display name>" <smtp.from>.  The address is always the
 *     gateway's own: the SIP domain is usually not a mail domain this
 *     server may send for (SPF/DMARC would reject or junk the mail), and a
 *     SIP user part is not always a valid local part.  The display name is
 *     the SIP sender's, or its user@host when it has none.
 *   - Reply-To: "<display>" <user@host of the SIP From URI>, only when that
 *     is a valid mail address (dot-atom local part, domain name), so that
 *     "reply" in a mail client reaches the sender.
 *   - X-CPM-SIP-From: the SIP From URI (printable ASCII, other bytes
 *     %-escaped), machine-readable.
 *   - Envelope: MAIL FROM:<smtp.from> (bounces come back to the gateway),
 *     RCPT TO:<the profile's address>.
 *   - To: the recipient address.  Subject: the SIP Subject, else the CPIM
 *     Subject, else "Message from <display>".  Date: the SIP message's
 *     original date (RFC 5322 §3.3, UTC).  Message-ID:
 *     <cpm.HASH@domain of smtp.from>, HASH = the first 32 hex digits of
 *     SHA-256(Call-ID): a retry of the same stored message carries the same
 *     Message-ID, so receivers may drop the duplicate.
 *     Auto-Submitted: auto-generated (RFC 3834 §5: no vacation replies).
 *   - Every SIP-provided value is cleaned first: CR, LF and other control
 *     characters become spaces (no header injection), invalid UTF-8
 *     becomes U+FFFD; non-ASCII (or "=?"-looking, or over-long) display
 *     names and subjects become RFC 2047 encoded-words ("Q", UTF-8, at
 *     most 60 characters each); headers are folded at whitespace before 78
 *     columns (RFC 5322 §2.1.1, §2.2.3).
 *   - Body: message/cpim (RFC 3862) is unwrapped to its content.  Text
 *     stays text/<subtype>; charset=<given, else UTF-8>, line breaks made
 *     CRLF, sent 7bit when ASCII with lines <= 998 octets (RFC 5322
 *     §2.1.1), otherwise quoted-printable (RFC 2045 §6.7), or base64 when
 *     more than a third of the octets need escaping.  Any other content is a
 *     multipart/mixed (RFC 2046 §5.1.3): a short text/plain part saying who
 *     sent what, then the payload as a base64 attachment with its content
 *     type.  A multipart SIP body gives its parts one by one instead (at
 *     most 16; text inline, the rest attached).  A message or multipart
 *     payload that is not converted is labelled application/octet-stream
 *     (RFC 2045 §6.4 forbids base64 for composite types).
 *   - Every line ends in CRLF; libcurl adds the SMTP dot-stuffing and the
 *     final "." (RFC 5321 §4.5.2). */
#ifndef CPM_IWF_H
#define CPM_IWF_H

#include "conf/conf.h"
#include "lib/lib.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* ------------------------------------------------------------- addresses */

/* Longest mail address accepted (RFC 5321 §4.5.3.1.3 path of 256 octets
 * with its brackets), NUL included. */
#define CPM_IWF_ADDR_MAX 255

/* Is addr a mailbox we send to or from: Dot-string "@" domain (RFC 5321
 * §4.1.2), the local part at most 64 octets, the domain a host name (labels
 * of letters, digits and inner '-') or an address literal [IPv4] /
 * [IPv6:...], ASCII only, at most 254 octets in all.  Quoted local parts
 * and SMTPUTF8 are refused. */
bool cpm_iwf_addr_valid(const char *addr);

/* The address of a mailto: URI (RFC 6068), or a bare address: "mailto:"
 * (any case) is removed, the part from '?' on (hfields) ignored, %XX
 * decoded; the result must be one address (cpm_iwf_addr_valid).  Returns
 * 0, or CPM_EADDR (not one valid address), CPM_ETOOBIG (out too small). */
int cpm_iwf_mailto_parse(const char *uri, char *out, size_t outsz);

/* ------------------------------------------------------- building a mail */

/* One message to send as a mail.  Views: nothing is kept after the call
 * that takes it (cpm_iwf_mail_build, cpm_iwf_mail_send). */
struct cpm_iwf_mail {
	const char *rcpt;	    /* "bob@example.org" or "mailto:bob@..." */
	const char *sender;	    /* the SIP From URI, "sip:alice@example.test" */
	const char *sender_display; /* its display-name as received (quotes
				     * and \-escapes allowed), NULL or "" */
	const char *subject;	    /* the SIP Subject, NULL or "" */
	const char *content_type;   /* "type/subtype[;params]"; NULL or "":
				     * text/plain */
	const void *body;
	size_t body_len;
	int64_t date;		    /* the original Date, wall seconds; <= 0:
				     * now */
	const char *call_id;	    /* the stored message's stable Call-ID
				     * (required: the Message-ID comes from it) */
};

/* A view of a stored message (sm must outlive m's use); rcpt as above. */
void cpm_iwf_mail_from_store(struct cpm_iwf_mail *m,
			     const struct cpm_store_msg *sm, const char *rcpt);

/* Append the whole mail (headers, empty line, body; CRLF line ends) to out.
 * from: the gateway's address (smtp.from resolved, cpm_iwf_addr_valid).
 * Returns 0, CPM_EINVAL (no sender, Call-ID or from; a bad from),
 * CPM_EADDR (rcpt is not one valid address), CPM_ETOOBIG / CPM_ENOMEM
 * (out's limit).  Pure but for date <= 0 (the clock). */
int cpm_iwf_mail_build(const struct cpm_iwf_mail *m, const char *from,
		       struct cpm_buf *out);

/* ---------------------------------------------------------- sending mails */

struct cpm_iwf;

/* The end of one mail, on the loop thread, exactly once per accepted
 * cpm_iwf_mail_send, never from inside cpm_iwf_mail_send itself.
 *   rc 0              the server answered 250 to the end of DATA: the mail
 *                     is the server's responsibility now (RFC 5321 §4.1.1.4)
 *   CPM_EADDR         the recipient was refused with 5xx (RCPT TO): do not
 *                     retry this address
 *   CPM_EPERM         another 5xx (MAIL FROM, DATA, the end of data: e.g.
 *                     552 too large, 554 refused): this mail will never be
 *                     accepted as it is
 *   CPM_EAGAIN        4xx at any step, connection refused or lost, DNS or
 *                     TLS handshake failure: try again later
 *   CPM_ETIMEDOUT     smtp.timeout expired: try again later
 *   CPM_EAUTH         AUTH refused or required (530, 534, 535, 538, no
 *                     common mechanism; also the 530 of a server that wants
 *                     STARTTLS first) or the server's certificate did not
 *                     verify: the configuration needs fixing
 *   CPM_EUNSUPP       smtp.tls = starttls and the server has no STARTTLS
 *   CPM_ECLOSED       cancelled by cpm_iwf_free
 *   CPM_ENOMEM        out of memory while starting it
 * smtp_reply: the server's reply line that decided (the failing one, or the
 * final 250), printable ASCII, at most 255 octets; when the server said
 * nothing, libcurl's error text; never NULL.  Valid during the call only.
 * The callback may call cpm_iwf_mail_send, not cpm_iwf_free. */
typedef void cpm_iwf_done_cb(void *arg, int rc, const char *smtp_reply);

/* conf's [smtp] keys (copied: conf may go after the call) and
 * server.domain[0] (for the default smtp.from).  smtp.url "" gives a
 * disabled iwf (cpm_iwf_enabled false, sends refused).  Calls
 * curl_global_init once per process.  CPM_EINVAL: smtp.from is not a valid
 * address (logged); CPM_ENOMEM, CPM_EIO (libcurl would not start). */
int cpm_iwf_new(uv_loop_t *loop, const struct cpm_conf *conf,
		struct cpm_iwf **out);
bool cpm_iwf_enabled(const struct cpm_iwf *iw);
/* The envelope and header sender in use (smtp.from or its default). */
const char *cpm_iwf_from(const struct cpm_iwf *iw);

/* Build m (cpm_iwf_mail_build with cpm_iwf_from) and send it; done(arg,
 * ...) follows later.  Returns 0 (accepted), or, with no callback:
 * CPM_EUNSUPP (e-mail disabled), CPM_ESTATE (stopped), CPM_EADDR (rcpt not
 * one valid address), CPM_EINVAL (no sender or Call-ID), CPM_ELIMIT
 * (smtp.max_in_flight busy and smtp.max_queue mails waiting), CPM_ETOOBIG,
 * CPM_ENOMEM. */
int cpm_iwf_mail_send(struct cpm_iwf *iw, const struct cpm_iwf_mail *m,
		      cpm_iwf_done_cb *done, void *arg);

struct cpm_iwf_stats {
	unsigned in_flight; /* SMTP transactions running */
	unsigned queued;    /* waiting for one */
	uint64_t sent;      /* rc 0 */
	uint64_t failed;    /* any other rc, CPM_ECLOSED included */
	uint64_t refused;   /* cpm_iwf_mail_send errors (CPM_ELIMIT, ...) */
};

void cpm_iwf_stats_get(const struct cpm_iwf *iw, struct cpm_iwf_stats *st);
/* Queued plus in-flight mails. */
unsigned cpm_iwf_pending(const struct cpm_iwf *iw);

/* Refuse new mails (CPM_ESTATE); queued and in-flight ones go on (each
 * bounded by smtp.timeout): wait for cpm_iwf_pending() == 0 to drain. */
void cpm_iwf_stop(struct cpm_iwf *iw);
/* Cancel what is left: every unfinished mail gets done(CPM_ECLOSED) before
 * this returns; libcurl's connections are closed; the uv handles are
 * closed, and the memory goes in their close callbacks: the caller then
 * runs the loop until it is empty.  NULL is fine. */
void cpm_iwf_free(struct cpm_iwf *iw);

#endif
