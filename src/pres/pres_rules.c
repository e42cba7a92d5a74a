/* The watchers' authorization lists (RFC 3856 §6.6: a presence agent
 * authorizes each subscription; RFC 5025 expresses the same as rules).
 * Per user, an ordered list of (watcher, allow|block|pending) entries; in
 * memory, and in one JSON file that "cpmd presence" and the server both
 * update under a lock.  Why a file and not the store: the lists are small,
 * read at every SUBSCRIBE (so they live in memory anyway), and edited by
 * hand or by the CLI while the server runs; the file needs no migration
 * of the store and no worker round trip. */
#include "pres/pres_int.h"

#include "sip/sip.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE (64 * 1024 * 1024)

struct entry {
	char *w;
	enum cpm_pres_rule r;
};

struct ruser {
	struct entry *e;
	size_t n, cap;
	char aor[];
};

struct cpm_pres_rules {
	unsigned max;
	struct cpm_pres__map users;
};

static const char *const names[] = { "none", "allow", "block", "pending" };

const char *cpm_pres_rule_name(enum cpm_pres_rule r)
{
	return (unsigned)r < 4 ? names[r] : "none";
}

int cpm_pres_watcher_norm(const char *in, char *out, size_t outsz)
{
	char uri[CPM_PRES_AOR_LEN + 8];
	size_t l = strlen(in);
	if (l == 0 || l >= CPM_PRES_AOR_LEN)
		return CPM_EINVAL;
	const char *s = in;
	if (strncasecmp(s, "sip:", 4) == 0)
		s += 4;
	else if (strncasecmp(s, "pres:", 5) == 0)
		s += 5;
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == '"' || *c == '<' || *c == '>' || *c == '\\')
			return CPM_EINVAL;
	if (!strchr(s, '@'))
		return CPM_EINVAL;
	snprintf(uri, sizeof uri, "sip:%s", s);
	struct cpm_sip_uri u;
	if (cpm_sip_uri_parse(cpm_str_from_cstr(uri), &u) || !u.user.len || !u.host.len)
		return CPM_EINVAL;
	int rc = cpm_sip_uri_aor(&u, out, outsz);
	return rc < 0 ? CPM_EINVAL : 0;
}

int cpm_pres_rules_new(unsigned max_per_user, struct cpm_pres_rules **out)
{
	struct cpm_pres_rules *r = calloc(1, sizeof *r);
	if (!r)
		return CPM_ENOMEM;
	r->max = max_per_user ? max_per_user : 1;
	*out = r;
	return 0;
}

static void ruser_free(void *val)
{
	struct ruser *u = val;
	for (size_t i = 0; i < u->n; i++)
		free(u->e[i].w);
	free(u->e);
	free(u);
}

static void clear(struct cpm_pres_rules *r)
{
	cpm_pres__map_free(&r->users, ruser_free);
}

void cpm_pres_rules_free(struct cpm_pres_rules *r)
{
	if (!r)
		return;
	clear(r);
	free(r);
}

static struct entry *lookup(const struct ruser *u, const char *w)
{
	for (size_t i = 0; u && i < u->n; i++)
		if (strcmp(u->e[i].w, w) == 0)
			return &u->e[i];
	return NULL;
}

enum cpm_pres_rule cpm_pres_rules_get(const struct cpm_pres_rules *r, const char *aor,
				      const char *watcher)
{
	const struct ruser *u = cpm_pres__map_get(&r->users, aor);
	if (!u)
		return CPM_PRES_RULE_NONE;
	const struct entry *e = lookup(u, watcher);
	if (e)
		return e->r;
	const char *at = strrchr(watcher, '@');
	if (!at)
		return CPM_PRES_RULE_NONE;
	char dom[CPM_PRES_AOR_LEN];
	snprintf(dom, sizeof dom, "*%s", at);
	e = lookup(u, dom);
	/* a domain never stands for a pending watcher */
	return e && e->r != CPM_PRES_RULE_PENDING ? e->r : CPM_PRES_RULE_NONE;
}

static void remove_at(struct ruser *u, size_t i)
{
	free(u->e[i].w);
	memmove(&u->e[i], &u->e[i + 1], (u->n - i - 1) * sizeof *u->e);
	u->n--;
}

int cpm_pres_rules_set(struct cpm_pres_rules *r, const char *aor, const char *watcher,
		       enum cpm_pres_rule rule)
{
	size_t al = strlen(aor), wl = strlen(watcher);
	if (!al || al >= CPM_PRES_AOR_LEN || !wl || wl >= CPM_PRES_AOR_LEN)
		return CPM_EINVAL;
	struct ruser *u = cpm_pres__map_get(&r->users, aor);
	struct entry *e = lookup(u, watcher);
	if (rule == CPM_PRES_RULE_NONE) {
		if (e) {
			remove_at(u, (size_t)(e - u->e));
			if (!u->n) {
				cpm_pres__map_del(&r->users, aor);
				ruser_free(u);
			}
		}
		return 0;
	}
	if (e) {
		e->r = rule;
		return 0;
	}
	if (!u) {
		u = calloc(1, sizeof *u + al + 1);
		if (!u)
			return CPM_ENOMEM;
		memcpy(u->aor, aor, al + 1);
		if (cpm_pres__map_put(&r->users, aor, u)) {
			free(u);
			return CPM_ENOMEM;
		}
	}
	if (u->n >= r->max) {
		/* full: the oldest pending request makes room */
		size_t i = 0;
		while (i < u->n && u->e[i].r != CPM_PRES_RULE_PENDING)
			i++;
		if (i == u->n)
			return CPM_ELIMIT;
		remove_at(u, i);
	}
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 8;
		struct entry *ne = realloc(u->e, cap * sizeof *ne);
		if (!ne)
			return CPM_ENOMEM;
		u->e = ne;
		u->cap = cap;
	}
	char *w = strdup(watcher);
	if (!w)
		return CPM_ENOMEM;
	u->e[u->n].w = w;
	u->e[u->n].r = rule;
	u->n++;
	return 0;
}

void cpm_pres_rules_each(const struct cpm_pres_rules *r, const char *aor,
			 void (*cb)(void *arg, const char *watcher, enum cpm_pres_rule rule),
			 void *arg)
{
	const struct ruser *u = cpm_pres__map_get(&r->users, aor);
	for (size_t i = 0; u && i < u->n; i++)
		cb(arg, u->e[i].w, u->e[i].r);
}

struct users_ctx {
	void (*cb)(void *arg, const char *aor);
	void *arg;
};

static void users_one(void *arg, const char *key, void *val)
{
	struct users_ctx *c = arg;
	c->cb(c->arg, key);
}

void cpm_pres_rules_users(const struct cpm_pres_rules *r, void (*cb)(void *arg, const char *aor),
			  void *arg)
{
	struct users_ctx c = { cb, arg };
	cpm_pres__map_each(&r->users, users_one, &c);
}

/* ------------------------------------------------------------------ JSON */

static int perr(char *err, size_t errsz, const char *fmt, const char *what)
{
	if (err && errsz)
		snprintf(err, errsz, fmt, what);
	return CPM_EPARSE;
}

int cpm_pres_rules_parse(struct cpm_pres_rules *r, struct cpm_str text, char *err, size_t errsz)
{
	clear(r);
	if (!text.len)
		return 0;
	json_error_t je;
	json_t *root = json_loadb(text.s, text.len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return perr(err, errsz, "not JSON: %s", je.text);
	int rc = 0;
	json_t *users = json_object_get(root, "users");
	if (!json_is_object(root) || (users && !json_is_object(users))) {
		rc = perr(err, errsz, "%s", "expected {\"users\": {AOR: {...}}}");
		goto out;
	}
	const char *aor;
	json_t *lists;
	json_object_foreach(users, aor, lists) {
		char naor[CPM_PRES_AOR_LEN];
		if (!json_is_object(lists) || cpm_pres_watcher_norm(aor, naor, sizeof naor)) {
			rc = perr(err, errsz, "bad user entry '%s'", aor);
			goto out;
		}
		for (enum cpm_pres_rule k = CPM_PRES_RULE_ALLOW; k <= CPM_PRES_RULE_PENDING; k++) {
			json_t *arr = json_object_get(lists, names[k]);
			if (!arr)
				continue;
			if (!json_is_array(arr)) {
				rc = perr(err, errsz, "'%s' is not an array", names[k]);
				goto out;
			}
			size_t i;
			json_t *v;
			json_array_foreach(arr, i, v) {
				char w[CPM_PRES_AOR_LEN];
				if (!json_is_string(v) ||
				    cpm_pres_watcher_norm(json_string_value(v), w, sizeof w)) {
					rc = perr(err, errsz, "bad watcher in the lists of %s", naor);
					goto out;
				}
				rc = cpm_pres_rules_set(r, naor, w, k);
				if (rc == CPM_ELIMIT)
					rc = 0; /* over max_rules: the rest is ignored */
				if (rc)
					goto out;
			}
		}
	}
out:
	json_decref(root);
	if (rc)
		clear(r);
	return rc;
}

static void dump_one(void *arg, const char *key, void *val)
{
	json_t *users = arg;
	const struct ruser *u = val;
	json_t *o = json_object();
	if (!o)
		return;
	for (enum cpm_pres_rule k = CPM_PRES_RULE_ALLOW; k <= CPM_PRES_RULE_PENDING; k++) {
		json_t *a = json_array();
		for (size_t i = 0; a && i < u->n; i++)
			if (u->e[i].r == k)
				json_array_append_new(a, json_string(u->e[i].w));
		json_object_set_new(o, names[k], a);
	}
	json_object_set_new(users, key, o);
}

int cpm_pres_rules_dump(const struct cpm_pres_rules *r, struct cpm_buf *out)
{
	json_t *root = json_object(), *users = json_object();
	if (!root || !users) {
		json_decref(root);
		json_decref(users);
		return CPM_ENOMEM;
	}
	cpm_pres__map_each(&r->users, dump_one, users);
	json_object_set_new(root, "users", users);
	char *s = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	if (!s)
		return CPM_ENOMEM;
	int rc = cpm_buf_puts(out, s);
	if (!rc)
		rc = cpm_buf_puts(out, "\n");
	free(s);
	return rc;
}

/* ------------------------------------------------------------------ file */

static int read_all(const char *path, struct cpm_buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? CPM_ENOTFOUND : CPM_EIO;
	int rc = 0;
	char chunk[8192];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = CPM_EIO;
			break;
		}
		if (n == 0)
			break;
		if ((rc = cpm_buf_append(b, chunk, (size_t)n)))
			break;
	}
	close(fd);
	return rc;
}

int cpm_pres_rules_load(struct cpm_pres_rules *r, const char *path, char *err, size_t errsz)
{
	struct cpm_buf b;
	cpm_buf_init(&b, MAX_FILE);
	int rc = read_all(path, &b);
	if (rc == CPM_ENOTFOUND) {
		clear(r);
		rc = 0;
	} else if (rc) {
		if (err && errsz)
			snprintf(err, errsz, "cannot read %s", path);
	} else {
		rc = cpm_pres_rules_parse(r, cpm_buf_str(&b), err, errsz);
	}
	cpm_buf_free(&b);
	return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return CPM_EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int cpm_pres_rules_update(struct cpm_pres_rules *r, const char *path,
			  int (*fn)(void *arg, struct cpm_pres_rules *r), void *arg, char *err,
			  size_t errsz)
{
	char lock[CPM_PRES_PATH_LEN + 8], tmp[CPM_PRES_PATH_LEN + 8];
	if (snprintf(lock, sizeof lock, "%s.lock", path) >= (int)sizeof lock ||
	    snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return CPM_ETOOBIG;
	int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (lfd < 0 || flock(lfd, LOCK_EX)) {
		if (err && errsz)
			snprintf(err, errsz, "cannot lock %s: %s", lock, strerror(errno));
		if (lfd >= 0)
			close(lfd);
		return CPM_EIO;
	}
	/* the file's lists, changed aside: r keeps what it had on failure */
	struct cpm_pres_rules *fresh = NULL;
	int rc = cpm_pres_rules_new(r->max, &fresh);
	if (!rc)
		rc = cpm_pres_rules_load(fresh, path, err, errsz);
	if (!rc)
		rc = fn(arg, fresh);
	struct cpm_buf b;
	cpm_buf_init(&b, MAX_FILE);
	if (!rc)
		rc = cpm_pres_rules_dump(fresh, &b);
	if (!rc) {
		/* a new file beside, then rename: readers see the old or the
		 * new lists, never half of them */
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		if (fd < 0) {
			rc = CPM_EIO;
		} else {
			rc = write_all(fd, b.p, b.len);
			if (close(fd))
				rc = CPM_EIO;
		}
		if (!rc && rename(tmp, path))
			rc = CPM_EIO;
		if (rc && err && errsz)
			snprintf(err, errsz, "cannot write %s: %s", path, strerror(errno));
	}
	if (!rc) {
		struct cpm_pres__map m = r->users;
		r->users = fresh->users;
		fresh->users = m;
	}
	cpm_pres_rules_free(fresh);
	cpm_buf_free(&b);
	flock(lfd, LOCK_UN);
	close(lfd);
	return rc;
}
