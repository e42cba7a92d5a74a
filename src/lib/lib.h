/* lib — the bottom layer: slices, bounded buffers, the error table, logging,
 * randomness, clocks and digest hashing.  Depends on libc (and libcrypto for
 * the hash helpers) only; every other module builds on it. */
#ifndef CPM_LIB_H
#define CPM_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------------ slices */

/* A non-owning view of bytes: never NUL-terminated, never freed. */
struct cpm_str {
	const char *s;
	size_t len;
};

#define CPM_STR(lit) ((struct cpm_str){ (lit), sizeof(lit) - 1 })
#define CPM_STR_NULL ((struct cpm_str){ NULL, 0 })
/* printf helper: printf("%.*s", CPM_STR_FMT(x)) */
#define CPM_STR_FMT(x) (int)(x).len, (x).s

struct cpm_str cpm_str_from_cstr(const char *cs);
bool cpm_str_eq(struct cpm_str a, struct cpm_str b);
/* ASCII case-insensitive equality (SIP tokens, header names, hosts). */
bool cpm_str_ieq(struct cpm_str a, struct cpm_str b);
bool cpm_str_ieq_cstr(struct cpm_str a, const char *cs);
bool cpm_str_eq_cstr(struct cpm_str a, const char *cs);
bool cpm_str_istarts(struct cpm_str a, const char *prefix);
/* Trim SP, HTAB, CR, LF at both ends. */
struct cpm_str cpm_str_trim(struct cpm_str a);
/* Index of the first c in a, or -1. */
long cpm_str_chr(struct cpm_str a, char c);
/* Decimal unsigned, no sign, no spaces; CPM_ERANGE above max. */
int cpm_str_to_u64(struct cpm_str a, uint64_t max, uint64_t *out);
/* malloc'd NUL-terminated copy; NULL on allocation failure. */
char *cpm_str_dup(struct cpm_str a);
/* Copy into a fixed buffer, NUL-terminated; CPM_ETOOBIG if it does not fit. */
int cpm_str_copy(struct cpm_str a, char *dst, size_t dstsz);

/* ------------------------------------------------------------------ errors */

/* The one error table of the project.  Functions return 0 (or a count) on
 * success and one of these negative codes on failure.  Only core turns them
 * into SIP status codes. */
#define CPM_ERROR_TABLE(X)                                           \
	X(CPM_ENOMEM, -1, "out of memory")                           \
	X(CPM_EINVAL, -2, "invalid argument")                        \
	X(CPM_EPARSE, -3, "malformed input")                         \
	X(CPM_ETOOBIG, -4, "too large")                              \
	X(CPM_ELIMIT, -5, "limit exceeded")                          \
	X(CPM_ENOTFOUND, -6, "not found")                            \
	X(CPM_EEXIST, -7, "already exists")                          \
	X(CPM_EIO, -8, "input/output error")                         \
	X(CPM_ESTORE, -9, "storage error")                           \
	X(CPM_EAGAIN, -10, "incomplete, try again")                  \
	X(CPM_ETIMEDOUT, -11, "timed out")                           \
	X(CPM_EAUTH, -12, "authentication failed")                   \
	X(CPM_EUNSUPP, -13, "unsupported")                           \
	X(CPM_EVERSION, -14, "unsupported protocol version")         \
	X(CPM_ECLOSED, -15, "connection closed")                     \
	X(CPM_ESTATE, -16, "invalid state")                          \
	X(CPM_EADDR, -17, "bad or unreachable address")              \
	X(CPM_EPERM, -18, "not permitted")                           \
	X(CPM_EBUSY, -19, "busy")                                    \
	X(CPM_ERANGE, -20, "value out of range")                     \
	X(CPM_ESCHEME, -21, "unsupported URI scheme")

enum cpm_err {
	CPM_OK = 0,
#define CPM_X_ENUM(name, val, text) name = (val),
	CPM_ERROR_TABLE(CPM_X_ENUM)
#undef CPM_X_ENUM
};

const char *cpm_strerror(int err);

/* ----------------------------------------------------------------- logging */

enum cpm_log_level {
	CPM_LOG_ERROR = 0,
	CPM_LOG_WARN,
	CPM_LOG_NOTICE,
	CPM_LOG_INFO,
	CPM_LOG_DEBUG,
};

void cpm_log_set_level(int level);
int cpm_log_get_level(void);
/* Parse "error|warn|notice|info|debug"; -1 if unknown. */
int cpm_log_level_parse(const char *name);
void cpm_log_set_file(FILE *f);
/* One line per event: "TIME LEVEL [ctx] text".  ctx is the Call-ID, the
 * peer or the subsystem, may be NULL. */
void cpm_log(int level, const char *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define CPM_LOG_ENABLED(lvl) ((lvl) <= cpm_log_get_level())
#define cpm_loge(ctx, ...) cpm_log(CPM_LOG_ERROR, ctx, __VA_ARGS__)
#define cpm_logw(ctx, ...) cpm_log(CPM_LOG_WARN, ctx, __VA_ARGS__)
#define cpm_logn(ctx, ...) cpm_log(CPM_LOG_NOTICE, ctx, __VA_ARGS__)
#define cpm_logi(ctx, ...)                                     \
	do {                                                   \
		if (CPM_LOG_ENABLED(CPM_LOG_INFO))             \
			cpm_log(CPM_LOG_INFO, ctx, __VA_ARGS__); \
	} while (0)
#define cpm_logd(ctx, ...)                                      \
	do {                                                    \
		if (CPM_LOG_ENABLED(CPM_LOG_DEBUG))             \
			cpm_log(CPM_LOG_DEBUG, ctx, __VA_ARGS__); \
	} while (0)

/* ---------------------------------------------------------- bounded buffer */

/* A growable byte buffer that refuses to grow past max (CPM_ETOOBIG).
 * The content is always NUL-terminated (the NUL is not counted in len). */
struct cpm_buf {
	char *p;
	size_t len;
	size_t cap;
	size_t max;
};

void cpm_buf_init(struct cpm_buf *b, size_t max);
void cpm_buf_free(struct cpm_buf *b);
void cpm_buf_reset(struct cpm_buf *b);
int cpm_buf_reserve(struct cpm_buf *b, size_t extra);
int cpm_buf_append(struct cpm_buf *b, const void *data, size_t n);
int cpm_buf_puts(struct cpm_buf *b, const char *cs);
int cpm_buf_append_str(struct cpm_buf *b, struct cpm_str s);
int cpm_buf_printf(struct cpm_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Decimal digits of v into out (at least 21 bytes), no NUL; returns the
 * count.  The hot paths use it instead of printf. */
size_t cpm_fmt_u64(char *out, uint64_t v);
int cpm_buf_put_u64(struct cpm_buf *b, uint64_t v);
/* Drop the first n bytes (stream consumers). */
void cpm_buf_consume(struct cpm_buf *b, size_t n);
static inline struct cpm_str cpm_buf_str(const struct cpm_buf *b)
{
	return (struct cpm_str){ b->p, b->len };
}

/* ------------------------------------------------------ randomness, clocks */

/* Cryptographically strong random bytes (getrandom). */
int cpm_rand_bytes(void *out, size_t n);
/* n random bytes written as 2n lowercase hex chars plus NUL into out. */
int cpm_rand_hex(char *out, size_t nbytes);
/* Monotonic milliseconds. */
uint64_t cpm_now_ms(void);
/* Wall clock, seconds since the epoch. */
int64_t cpm_wall_s(void);
/* t (wall seconds) as an RFC 1123 date, the form of SIP's Date (RFC 3261
 * §20.17) and HTTP's: "Mon, 30 Nov 2026 05:00:00 GMT" (NUL included). */
#define CPM_DATE_LEN 32
void cpm_fmt_date(int64_t t, char out[CPM_DATE_LEN]);
/* The reverse: an RFC 1123 date (surrounding whitespace ignored) to wall
 * seconds.  0, or CPM_EPARSE. */
int cpm_parse_date(struct cpm_str v, int64_t *out);

/* ----------------------------------------------------------- digest hashes */

enum cpm_hash_alg { CPM_HASH_MD5 = 0, CPM_HASH_SHA256 = 1 };
#define CPM_HASH_HEX_MAX 65 /* SHA-256: 64 hex chars + NUL */

/* Hash the concatenation of the nparts slices and write lowercase hex
 * (32 or 64 chars + NUL) into out (CPM_HASH_HEX_MAX bytes). */
int cpm_hash_hex(enum cpm_hash_alg alg, const struct cpm_str *parts,
		 size_t nparts, char *out);
/* "MD5" / "SHA-256" (case-insensitive, also "-sess" suffix refused) */
int cpm_hash_alg_parse(struct cpm_str name, enum cpm_hash_alg *alg);
const char *cpm_hash_alg_name(enum cpm_hash_alg alg);
/* HA1 = H(user ":" realm ":" password) as in RFC 3261 §22.4 / RFC 8760.
 * out: 33 bytes for MD5, 65 for SHA-256 (CPM_HASH_HEX_MAX fits both). */
int cpm_hash_ha1(enum cpm_hash_alg alg, const char *user, const char *realm,
		 const char *password, char *out);

#endif
