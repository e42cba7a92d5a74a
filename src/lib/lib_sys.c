/* Randomness, clocks and the digest hashes (RFC 3261 §22.4, RFC 8760). */
#include "lib/lib.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int cpm_rand_bytes(void *out, size_t n)
{
	unsigned char *p = out;
	while (n) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return CPM_EIO;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int cpm_rand_hex(char *out, size_t nbytes)
{
	unsigned char tmp[64];
	if (nbytes > sizeof tmp)
		return CPM_EINVAL;
	int rc = cpm_rand_bytes(tmp, nbytes);
	if (rc)
		return rc;
	to_hex(tmp, nbytes, out);
	return 0;
}

uint64_t cpm_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t cpm_wall_s(void)
{
	return (int64_t)time(NULL);
}

int cpm_hash_hex(enum cpm_hash_alg alg, const struct cpm_str *parts,
		 size_t nparts, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return CPM_ENOMEM;
	const EVP_MD *md_type = alg == CPM_HASH_SHA256 ? EVP_sha256() : EVP_md5();
	int ok = EVP_DigestInit_ex(ctx, md_type, NULL);
	for (size_t i = 0; ok && i < nparts; i++)
		if (parts[i].len)
			ok = EVP_DigestUpdate(ctx, parts[i].s, parts[i].len);
	if (ok)
		ok = EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return CPM_EIO;
	to_hex(md, mdlen, out);
	return 0;
}

int cpm_hash_alg_parse(struct cpm_str name, enum cpm_hash_alg *alg)
{
	if (name.len == 0 || cpm_str_ieq_cstr(name, "MD5")) {
		*alg = CPM_HASH_MD5;
		return 0;
	}
	if (cpm_str_ieq_cstr(name, "SHA-256")) {
		*alg = CPM_HASH_SHA256;
		return 0;
	}
	return CPM_EUNSUPP;
}

const char *cpm_hash_alg_name(enum cpm_hash_alg alg)
{
	return alg == CPM_HASH_SHA256 ? "SHA-256" : "MD5";
}

int cpm_hash_ha1(enum cpm_hash_alg alg, const char *user, const char *realm,
		 const char *password, char *out)
{
	struct cpm_str parts[5] = { cpm_str_from_cstr(user), CPM_STR(":"),
				    cpm_str_from_cstr(realm), CPM_STR(":"),
				    cpm_str_from_cstr(password) };
	return cpm_hash_hex(alg, parts, 5, out);
}

void cpm_fmt_date(int64_t t, char out[CPM_DATE_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) ||
	    strftime(out, CPM_DATE_LEN, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		out[0] = '\0';
}

int cpm_parse_date(struct cpm_str v, int64_t *out)
{
	char tmp[64];
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (cpm_str_copy(cpm_str_trim(v), tmp, sizeof tmp) ||
	    !strptime(tmp, "%a, %d %b %Y %H:%M:%S GMT", &tm))
		return CPM_EPARSE;
	*out = (int64_t)timegm(&tm);
	return 0;
}
