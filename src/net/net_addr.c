/* Socket addresses: literals, printing, comparison, CIDR lists. */
#include "net/net.h"

#include <arpa/inet.h>
#include <string.h>

const char *cpm_net_proto_name(enum cpm_net_proto p)
{
	switch (p) {
	case CPM_NET_UDP:
		return "UDP";
	case CPM_NET_TCP:
		return "TCP";
	}
	return "?";
}

enum cpm_net_proto cpm_net_proto_parse(struct cpm_str s)
{
	if (cpm_str_ieq_cstr(s, "udp"))
		return CPM_NET_UDP;
	if (cpm_str_ieq_cstr(s, "tcp"))
		return CPM_NET_TCP;
	return 0;
}

int cpm_net_addr_from_host(struct cpm_str host, uint16_t port,
			   struct cpm_net_addr *out)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	bool br = false;

	memset(out, 0, sizeof *out);
	if (host.len >= 2 && host.s[0] == '[' && host.s[host.len - 1] == ']') {
		host.s++;
		host.len -= 2;
		br = true;
	}
	if (!host.len || host.len >= sizeof tmp)
		return CPM_EADDR;
	memcpy(tmp, host.s, host.len);
	tmp[host.len] = '\0';
	if (!br && strcasecmp(tmp, "localhost") == 0)
		strcpy(tmp, "127.0.0.1");
	if (!br && inet_pton(AF_INET, tmp, &out->u.in.sin_addr) == 1) {
		out->u.in.sin_family = AF_INET;
		out->u.in.sin_port = htons(port);
		out->len = sizeof out->u.in;
		return 0;
	}
	if (inet_pton(AF_INET6, tmp, &out->u.in6.sin6_addr) == 1) {
		out->u.in6.sin6_family = AF_INET6;
		out->u.in6.sin6_port = htons(port);
		out->len = sizeof out->u.in6;
		return 0;
	}
	memset(out, 0, sizeof *out);
	return CPM_EADDR;
}

int cpm_net_addr_family(const struct cpm_net_addr *a)
{
	return a->u.sa.sa_family;
}

int cpm_net_addr_host(const struct cpm_net_addr *a, bool brackets, char *out,
		      size_t outsz)
{
	char tmp[INET6_ADDRSTRLEN];
	int n;

	if (a->u.sa.sa_family == AF_INET) {
		/* by hand: inet_ntop goes through sprintf, and this runs for
		 * every request (Via received) */
		const unsigned char *ip = (const unsigned char *)&a->u.in.sin_addr;
		if (outsz < 16)
			return CPM_ETOOBIG;
		n = 0;
		for (int i = 0; i < 4; i++) {
			if (i)
				out[n++] = '.';
			n += (int)cpm_fmt_u64(out + n, ip[i]);
		}
		out[n] = '\0';
		return n;
	} else if (a->u.sa.sa_family == AF_INET6) {
		if (!inet_ntop(AF_INET6, &a->u.in6.sin6_addr, tmp, sizeof tmp))
			return CPM_EADDR;
		n = snprintf(out, outsz, brackets ? "[%s]" : "%s", tmp);
	} else {
		return CPM_EADDR;
	}
	if (n < 0 || (size_t)n >= outsz)
		return CPM_ETOOBIG;
	return n;
}

uint16_t cpm_net_addr_port(const struct cpm_net_addr *a)
{
	if (a->u.sa.sa_family == AF_INET)
		return ntohs(a->u.in.sin_port);
	if (a->u.sa.sa_family == AF_INET6)
		return ntohs(a->u.in6.sin6_port);
	return 0;
}

int cpm_net_addr_print(const struct cpm_net_addr *a, char *out, size_t outsz)
{
	char h[INET6_ADDRSTRLEN + 2];
	int rc = cpm_net_addr_host(a, true, h, sizeof h);
	if (rc < 0) {
		if (outsz)
			snprintf(out, outsz, "?");
		return rc;
	}
	size_t hl = (size_t)rc;
	if (hl + 7 > outsz)
		return CPM_ETOOBIG;
	memcpy(out, h, hl);
	out[hl++] = ':';
	hl += cpm_fmt_u64(out + hl, cpm_net_addr_port(a));
	out[hl] = '\0';
	return (int)hl;
}

bool cpm_net_addr_ip_eq(const struct cpm_net_addr *a, const struct cpm_net_addr *b)
{
	if (a->u.sa.sa_family != b->u.sa.sa_family)
		return false;
	if (a->u.sa.sa_family == AF_INET)
		return a->u.in.sin_addr.s_addr == b->u.in.sin_addr.s_addr;
	if (a->u.sa.sa_family == AF_INET6)
		return memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr,
			      sizeof a->u.in6.sin6_addr) == 0;
	return false;
}

bool cpm_net_addr_eq(const struct cpm_net_addr *a, const struct cpm_net_addr *b)
{
	if (a->u.sa.sa_family != b->u.sa.sa_family)
		return false;
	if (a->u.sa.sa_family == AF_INET)
		return a->u.in.sin_port == b->u.in.sin_port &&
		       a->u.in.sin_addr.s_addr == b->u.in.sin_addr.s_addr;
	if (a->u.sa.sa_family == AF_INET6)
		return a->u.in6.sin6_port == b->u.in6.sin6_port &&
		       memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, 16) == 0;
	return false;
}

/* The address bytes of a (4 or 16), IPv4-mapped IPv6 reduced to IPv4. */
static size_t addr_bytes(const struct cpm_net_addr *a, unsigned char out[16])
{
	if (a->u.sa.sa_family == AF_INET) {
		memcpy(out, &a->u.in.sin_addr, 4);
		return 4;
	}
	if (a->u.sa.sa_family == AF_INET6) {
		const struct in6_addr *x = &a->u.in6.sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(x)) {
			memcpy(out, x->s6_addr + 12, 4);
			return 4;
		}
		memcpy(out, x->s6_addr, 16);
		return 16;
	}
	return 0;
}

static bool prefix_match(const unsigned char *a, const unsigned char *b,
			 unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	if (memcmp(a, b, full) != 0)
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

bool cpm_net_addr_in_cidrs(const struct cpm_net_addr *a, const char *cidrs)
{
	unsigned char ab[16], nb[16];
	size_t alen = addr_bytes(a, ab);

	if (!alen || !cidrs)
		return false;
	const char *p = cidrs;
	while (*p) {
		const char *e = strchr(p, ',');
		if (!e)
			e = p + strlen(p);
		struct cpm_str item = cpm_str_trim((struct cpm_str){ p, (size_t)(e - p) });
		p = *e ? e + 1 : e;
		if (!item.len)
			continue;
		struct cpm_str ip = item;
		uint64_t bits = ~0ULL;
		long slash = cpm_str_chr(item, '/');
		if (slash >= 0) {
			ip.len = (size_t)slash;
			struct cpm_str b = { item.s + slash + 1,
					     item.len - (size_t)slash - 1 };
			if (cpm_str_to_u64(cpm_str_trim(b), 128, &bits) != 0)
				continue;
		}
		struct cpm_net_addr na;
		if (cpm_net_addr_from_host(cpm_str_trim(ip), 0, &na) != 0)
			continue;
		size_t nlen = addr_bytes(&na, nb);
		if (nlen != alen)
			continue;
		if (bits == ~0ULL)
			bits = nlen * 8;
		if (bits > nlen * 8)
			continue;
		if (prefix_match(ab, nb, (unsigned)bits))
			return true;
	}
	return false;
}
