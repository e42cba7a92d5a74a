/* cpmd user — provisioning of users (AoR and digest credentials) and of
 * their store-and-forward profiles in the store, while the server may be
 * running.  Only HA1 digests are stored (MD5 and SHA-256, RFC 3261 §22.4 /
 * RFC 8760), never the password.  A profile is stored as the text of
 * cpm_im_profile_format; the server reads it with cpm_store_profile_get. */
#include "app/app.h"
#include "im/im.h"
#include "store/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PASSWORD_MAX 1024

static const char user_usage[] =
	"usage: cpmd [-c FILE] [-o section.key=value] user COMMAND ...\n"
	"\n"
	"Commands:\n"
	"  user add AOR [--password P | --password-file F]\n"
	"                      create a user; without a password option, prompt\n"
	"                      for it (twice, without echo) on a terminal\n"
	"  user del AOR        delete a user, its registrations and its profile\n"
	"  user list           list the users: AoR, digest realm, store-and-forward\n"
	"                      mode, creation time\n"
	"  user passwd AOR [--password P | --password-file F]\n"
	"                      set a new password\n"
	"  user set AOR KEY=VALUE [KEY=VALUE ...]\n"
	"                      change the user's store-and-forward profile; all\n"
	"                      assignments apply, or none (keys below)\n"
	"  user show AOR       show the user's realm, creation time and profile\n"
	"  user help           show this help\n"
	"\n"
	"AOR is user@domain, the domain one of server.domain.  The digest realm\n"
	"is auth.realm, or the AoR's domain when auth.realm is empty.\n"
	"--password-file F reads the first line of F ('-': standard input).\n"
	"\n"
	"Profile keys (docs/STORE_AND_FORWARD.md):\n"
	"  store-and-forward=no|yes|notify|forward:URI\n"
	"                      what happens to a MESSAGE the user cannot take now;\n"
	"                      URI is sip:, sips: or mailto: (default yes)\n"
	"  accepts=TYPE[,TYPE...]\n"
	"                      content types taken (type/subtype, type/*, */*);\n"
	"                      others get 415 (default */*)\n"
	"  class=NAME          'default' or a [class.NAME] of the configuration\n"
	"\n"
	"Exit status: 0 success, 1 error, 2 usage error.\n";

#define USER_SET_MAX 32 /* assignments in one `user set` */

struct user_args {
	const char *aor;
	const char *password;
	const char *password_file;
	const char *kv[USER_SET_MAX]; /* user set: KEY=VALUE, in order */
	int nkv;
};

struct user_cmd {
	const char *name;
	/* what the command line may hold besides the command */
	bool takes_aor, takes_password, takes_kv;
	int (*run)(const struct cpm_conf *conf, struct cpm_store *s,
		   const struct user_args *a);
	bool needs_store;
};

static int cmd_add(const struct cpm_conf *conf, struct cpm_store *s,
		   const struct user_args *a);
static int cmd_del(const struct cpm_conf *conf, struct cpm_store *s,
		   const struct user_args *a);
static int cmd_list(const struct cpm_conf *conf, struct cpm_store *s,
		    const struct user_args *a);
static int cmd_passwd(const struct cpm_conf *conf, struct cpm_store *s,
		      const struct user_args *a);
static int cmd_set(const struct cpm_conf *conf, struct cpm_store *s,
		   const struct user_args *a);
static int cmd_show(const struct cpm_conf *conf, struct cpm_store *s,
		    const struct user_args *a);

/* Adding a command: a row here, a line in user_usage. */
static const struct user_cmd user_cmds[] = {
	{ "add", true, true, false, cmd_add, true },
	{ "del", true, false, false, cmd_del, true },
	{ "list", false, false, false, cmd_list, true },
	{ "passwd", true, true, false, cmd_passwd, true },
	{ "set", true, false, true, cmd_set, true },
	{ "show", true, false, false, cmd_show, true },
};

static const char *cur_cmd = "user";

static void user_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void cpm_app_errv(const char *group, const char *cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "cpmd %s %s: ", group, cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cpm_app_usage_errv(const char *group, const char *cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "cpmd %s %s: ", group, cmd);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n(run 'cpmd %s help' for usage)\n", group);
	return CPM_APP_EXIT_USAGE;
}

int cpm_app_store_err(const char *group, const char *cmd, struct cpm_store *s, int rc,
		      const char *what)
{
	const char *detail = cpm_store_last_error(s);
	fprintf(stderr, "cpmd %s %s: %s: %s%s%s\n", group, cmd, what, cpm_strerror(rc),
		*detail ? ": " : "", detail);
	return CPM_APP_EXIT_ERROR;
}

static void user_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cpm_app_errv("user", cur_cmd, fmt, ap);
	va_end(ap);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ex = cpm_app_usage_errv("user", cur_cmd, fmt, ap);
	va_end(ap);
	return ex;
}

/* ------------------------------------------------------------------- AoR */

int cpm_app_aor_check(const struct cpm_conf *conf, const char *in, bool served,
		      char aor[256], char *err, size_t errsz)
{
	const char *p = in;
	if (strncasecmp(p, "sip:", 4) == 0)
		p += 4;
	int rc = cpm_store_aor_normalize(p, aor, 256);
	if (rc) {
		snprintf(err, errsz, "invalid AoR '%s': expected user@domain%s", in,
			 rc == CPM_ETOOBIG ? " of at most 255 characters" : "");
		return rc;
	}
	const char *domain = strchr(aor, '@') + 1;
	if (served && !cpm_conf_serves_domain(conf, cpm_str_from_cstr(domain))) {
		char list[CPM_CONF_MAX_DOMAINS * (CPM_CONF_DOMAIN_LEN + 2)] = "";
		for (int i = 0; i < conf->server.ndomains; i++) {
			if (i)
				strcat(list, ", ");
			strcat(list, conf->server.domains[i]);
		}
		snprintf(err, errsz, "domain '%s' of %s is not served here (server.domain: %s)",
			 domain, aor, list);
		return CPM_EPERM;
	}
	return 0;
}

/* Check and normalise an AoR ("sip:" prefix allowed), split out user and
 * domain.  Prints the error itself. */
static int parse_aor(const struct cpm_conf *conf, const char *in,
		     char aor[256], char user[256], char domain[256])
{
	char err[1024];
	if (cpm_app_aor_check(conf, in, true, aor, err, sizeof err)) {
		user_err("%s", err);
		return CPM_APP_EXIT_ERROR;
	}
	const char *at = strchr(aor, '@');
	memcpy(user, aor, (size_t)(at - aor));
	user[at - aor] = '\0';
	strcpy(domain, at + 1);
	return 0;
}

/* -------------------------------------------------------------- passwords */

/* One line from f into buf, without its end of line. */
static int read_line(FILE *f, char *buf, size_t bufsz)
{
	if (!fgets(buf, (int)bufsz, f))
		return ferror(f) ? CPM_EIO : CPM_ENOTFOUND;
	size_t n = strlen(buf);
	if (n == bufsz - 1 && buf[n - 1] != '\n' && !feof(f))
		return CPM_ETOOBIG;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return 0;
}

static int prompt_noecho(const char *prompt, char *buf, size_t bufsz)
{
	struct termios old, quiet;
	if (tcgetattr(STDIN_FILENO, &old) != 0)
		return CPM_EIO;
	quiet = old;
	quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	fputs(prompt, stderr);
	fflush(stderr);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0)
		return CPM_EIO;
	int rc = read_line(stdin, buf, bufsz);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return rc;
}

/* The new password from --password, --password-file or the terminal. */
static int get_password(const char *aor, const struct user_args *a,
			char pw[PASSWORD_MAX])
{
	if (a->password) {
		if (strlen(a->password) >= PASSWORD_MAX) {
			user_err("password longer than %d bytes", PASSWORD_MAX - 1);
			return CPM_APP_EXIT_ERROR;
		}
		strcpy(pw, a->password);
	} else if (a->password_file) {
		bool std = strcmp(a->password_file, "-") == 0;
		FILE *f = std ? stdin : fopen(a->password_file, "r");
		if (!f) {
			user_err("cannot read password file %s: %s",
				 a->password_file, strerror(errno));
			return CPM_APP_EXIT_ERROR;
		}
		int rc = read_line(f, pw, PASSWORD_MAX);
		if (!std)
			fclose(f);
		if (rc == CPM_ETOOBIG) {
			user_err("password in %s longer than %d bytes",
				 a->password_file, PASSWORD_MAX - 2);
			return CPM_APP_EXIT_ERROR;
		}
		if (rc) {
			user_err("cannot read a password line from %s%s",
				 std ? "standard input" : a->password_file,
				 rc == CPM_ENOTFOUND ? ": empty" : "");
			return CPM_APP_EXIT_ERROR;
		}
	} else if (isatty(STDIN_FILENO)) {
		char again[PASSWORD_MAX], prompt[300];
		snprintf(prompt, sizeof prompt, "Password for %s: ", aor);
		if (prompt_noecho(prompt, pw, PASSWORD_MAX) ||
		    prompt_noecho("Retype password: ", again, sizeof again)) {
			explicit_bzero(again, sizeof again);
			user_err("cannot read the password from the terminal");
			return CPM_APP_EXIT_ERROR;
		}
		bool same = strcmp(pw, again) == 0;
		explicit_bzero(again, sizeof again);
		if (!same) {
			user_err("the passwords do not match");
			return CPM_APP_EXIT_ERROR;
		}
	} else {
		return usage_error("no password: give --password P or "
				   "--password-file F (stdin is not a terminal)");
	}
	if (!pw[0]) {
		user_err("empty password refused");
		return CPM_APP_EXIT_ERROR;
	}
	return 0;
}

/* realm and both HA1s of the user record from the password. */
static int make_credentials(const struct cpm_conf *conf, const char *user,
			    const char *domain, const char *pw,
			    struct cpm_store_user *u)
{
	const char *realm = conf->auth.realm[0] ? conf->auth.realm : domain;
	if (strlen(realm) >= sizeof u->realm) {
		user_err("realm '%s' too long", realm);
		return CPM_APP_EXIT_ERROR;
	}
	strcpy(u->realm, realm);
	char md5[CPM_HASH_HEX_MAX], sha[CPM_HASH_HEX_MAX];
	if (cpm_hash_ha1(CPM_HASH_MD5, user, realm, pw, md5) ||
	    cpm_hash_ha1(CPM_HASH_SHA256, user, realm, pw, sha)) {
		user_err("cannot compute the digest");
		return CPM_APP_EXIT_ERROR;
	}
	memcpy(u->ha1_md5, md5, sizeof u->ha1_md5);
	memcpy(u->ha1_sha256, sha, sizeof u->ha1_sha256);
	return 0;
}

static int store_error(struct cpm_store *s, int rc, const char *what)
{
	return cpm_app_store_err("user", cur_cmd, s, rc, what);
}

/* --------------------------------------------------------------- commands */

static int set_password(const struct cpm_conf *conf, struct cpm_store *s,
			const struct user_args *a, bool create)
{
	char aor[256], user[256], domain[256], pw[PASSWORD_MAX];
	int ex = parse_aor(conf, a->aor, aor, user, domain);
	if (ex)
		return ex;
	struct cpm_store_user u;
	memset(&u, 0, sizeof u);
	if (!create) {
		/* check before asking for the password */
		int rc = cpm_store_user_get(s, aor, &u);
		if (rc == CPM_ENOTFOUND) {
			user_err("no such user: %s", aor);
			return CPM_APP_EXIT_ERROR;
		}
		if (rc)
			return store_error(s, rc, aor);
	} else {
		int rc = cpm_store_user_get(s, aor, &u);
		if (rc == 0) {
			user_err("user %s already exists (use 'cpmd user passwd' "
				 "to change the password)",
				 aor);
			return CPM_APP_EXIT_ERROR;
		}
		if (rc != CPM_ENOTFOUND)
			return store_error(s, rc, aor);
	}
	ex = get_password(aor, a, pw);
	if (ex)
		return ex;
	strcpy(u.aor, aor);
	ex = make_credentials(conf, user, domain, pw, &u);
	explicit_bzero(pw, sizeof pw);
	if (ex)
		return ex;
	int rc;
	if (create) {
		u.created = cpm_wall_s();
		rc = cpm_store_user_add(s, &u);
		struct cpm_store_room room;
		if (rc == CPM_EEXIST && cpm_store_room_get(s, aor, &room) == 0) {
			user_err("%s is a chat room's URI (cpmd room show %s)", aor, aor);
			return CPM_APP_EXIT_ERROR;
		}
		if (rc == CPM_EEXIST) {
			user_err("user %s already exists", aor);
			return CPM_APP_EXIT_ERROR;
		}
	} else {
		rc = cpm_store_user_update(s, &u);
		if (rc == CPM_ENOTFOUND) {
			user_err("no such user: %s", aor);
			return CPM_APP_EXIT_ERROR;
		}
	}
	if (rc)
		return store_error(s, rc, aor);
	if (create)
		printf("added %s (realm %s)\n", aor, u.realm);
	else
		printf("password changed for %s (realm %s)\n", aor, u.realm);
	return CPM_APP_EXIT_OK;
}

static int cmd_add(const struct cpm_conf *conf, struct cpm_store *s,
		   const struct user_args *a)
{
	return set_password(conf, s, a, true);
}

static int cmd_passwd(const struct cpm_conf *conf, struct cpm_store *s,
		      const struct user_args *a)
{
	return set_password(conf, s, a, false);
}

static int cmd_del(const struct cpm_conf *conf, struct cpm_store *s,
		   const struct user_args *a)
{
	char aor[256];
	/* no served-domain check: a user of a domain no longer served must
	 * still be deletable */
	const char *p = a->aor;
	if (strncasecmp(p, "sip:", 4) == 0)
		p += 4;
	if (cpm_store_aor_normalize(p, aor, sizeof aor)) {
		user_err("invalid AoR '%s': expected user@domain", a->aor);
		return CPM_APP_EXIT_ERROR;
	}
	int rc = cpm_store_user_del(s, aor);
	if (rc == CPM_ENOTFOUND) {
		user_err("no such user: %s", aor);
		return CPM_APP_EXIT_ERROR;
	}
	if (rc)
		return store_error(s, rc, aor);
	rc = cpm_store_binding_del_aor(s, aor);
	if (rc < 0)
		return store_error(s, rc, "deleting the registrations");
	printf("deleted %s\n", aor);
	return CPM_APP_EXIT_OK;
}

static const char *sf_mode_name(const struct cpm_im_profile *p);

struct user_rows {
	struct cpm_store_user *v;
	size_t n, cap;
};

static int collect_row(void *arg, const struct cpm_store_user *u)
{
	struct user_rows *r = arg;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct cpm_store_user *v = realloc(r->v, cap * sizeof *v);
		if (!v)
			return CPM_ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = *u;
	return 0;
}

void cpm_app_iso_time(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "%lld", (long long)t);
}
static int cmd_list(const struct cpm_conf *conf, struct cpm_store *s,
		    const struct user_args *a)
{
	struct user_rows r = { 0 };
	int rc = cpm_store_user_list(s, collect_row, &r);
	if (rc) {
		free(r.v);
		return store_error(s, rc, "listing users");
	}
	/* the store-and-forward mode of each ("forward" without its target:
	 * 'user show' has it) */
	const char **mode = calloc(r.n ? r.n : 1, sizeof *mode);
	if (!mode) {
		free(r.v);
		user_err("out of memory");
		return CPM_APP_EXIT_ERROR;
	}
	int waor = (int)strlen("AOR"), wrealm = (int)strlen("REALM");
	int wmode = (int)strlen("STORE-AND-FORWARD");
	for (size_t i = 0; i < r.n; i++) {
		int l = (int)strlen(r.v[i].aor);
		if (l > waor)
			waor = l;
		l = (int)strlen(r.v[i].realm);
		if (l > wrealm)
			wrealm = l;
		char text[CPM_STORE_PROFILE_MAX], e[CPM_IM_ERR_MAX];
		struct cpm_im_profile p;
		rc = cpm_store_profile_get(s, r.v[i].aor, text, sizeof text);
		if (rc == CPM_ENOTFOUND)
			mode[i] = "yes";
		else if (rc) {
			free(mode);
			free(r.v);
			return store_error(s, rc, "reading the profiles");
		} else
			mode[i] = cpm_im_profile_parse(&p, text, e) ? "(invalid)"
							     : sf_mode_name(&p);
	}
	printf("%-*s  %-*s  %-*s  %s\n", waor, "AOR", wrealm, "REALM", wmode,
	       "STORE-AND-FORWARD", "CREATED");
	for (size_t i = 0; i < r.n; i++) {
		char when[32];
		cpm_app_iso_time(r.v[i].created, when);
		printf("%-*s  %-*s  %-*s  %s\n", waor, r.v[i].aor, wrealm,
		       r.v[i].realm, wmode, mode[i], when);
	}
	free(mode);
	free(r.v);
	return CPM_APP_EXIT_OK;
}

/* --------------------------------------------------------------- profiles */

/* The stored profile text (cpm_im_profile_format: one key=value a line)
 * read back over the default.  err: CPM_IM_ERR_MAX bytes. */

/* The user's profile: stored, or the server default (*stored false). */
static int profile_load(struct cpm_store *s, const char *aor,
			struct cpm_im_profile *p, bool *stored)
{
	char text[CPM_STORE_PROFILE_MAX], e[CPM_IM_ERR_MAX];
	int rc = cpm_store_profile_get(s, aor, text, sizeof text);
	*stored = rc == 0;
	if (rc == CPM_ENOTFOUND) {
		cpm_im_profile_default(p);
		return 0;
	}
	if (rc)
		return store_error(s, rc, "reading the profile");
	if (cpm_im_profile_parse(p, text, e)) {
		user_err("the stored profile of %s is invalid: %s", aor, e);
		return CPM_APP_EXIT_ERROR;
	}
	return 0;
}

static const char *sf_mode_name(const struct cpm_im_profile *p)
{
	switch (p->mode) {
	case CPM_IM_SF_NO:
		return "no";
	case CPM_IM_SF_YES:
		return "yes";
	case CPM_IM_SF_NOTIFY:
		return "notify";
	case CPM_IM_SF_FORWARD:
		return "forward";
	}
	return "?";
}

/* "gold, silver" or "none": the configured class names. */
static void class_names(const struct cpm_conf *conf, char *out, size_t outsz)
{
	size_t n = 0;
	out[0] = '\0';
	for (int i = 0; i < conf->nclasses && n < outsz; i++)
		n += (size_t)snprintf(out + n, outsz - n, "%s%s", i ? ", " : "",
				      conf->classes[i].name);
	if (!conf->nclasses)
		snprintf(out, outsz, "none");
}

static int cmd_set(const struct cpm_conf *conf, struct cpm_store *s,
		   const struct user_args *a)
{
	char aor[256], user[256], domain[256];
	int ex = parse_aor(conf, a->aor, aor, user, domain);
	if (ex)
		return ex;
	struct cpm_store_user u;
	int rc = cpm_store_user_get(s, aor, &u);
	if (rc == CPM_ENOTFOUND) {
		user_err("no such user: %s", aor);
		return CPM_APP_EXIT_ERROR;
	}
	if (rc)
		return store_error(s, rc, aor);
	struct cpm_im_profile p;
	bool stored;
	ex = profile_load(s, aor, &p, &stored);
	if (ex)
		return ex;
	/* all or nothing: every assignment on a copy, saved once */
	for (int i = 0; i < a->nkv; i++) {
		char e[CPM_IM_ERR_MAX];
		if (cpm_im_profile_set(&p, a->kv[i], e)) {
			user_err("%s; nothing saved", e);
			return CPM_APP_EXIT_ERROR;
		}
		const char *eq = strchr(a->kv[i], '=');
		struct cpm_str key = cpm_str_trim(
			(struct cpm_str){ a->kv[i], (size_t)(eq - a->kv[i]) });
		if (cpm_str_ieq_cstr(key, "class") &&
		    cpm_conf_class_find(conf, p.class_name, NULL) != 0) {
			char names[CPM_CONF_MAX_CLASSES * CPM_CONF_CLASS_NAME_LEN];
			class_names(conf, names, sizeof names);
			user_err("class: \"%s\" is not defined (default, or a "
				 "[class.NAME] section of the configuration: %s); "
				 "nothing saved",
				 p.class_name, names);
			return CPM_APP_EXIT_ERROR;
		}
	}
	struct cpm_buf b;
	cpm_buf_init(&b, CPM_STORE_PROFILE_MAX - 1);
	rc = cpm_im_profile_format(&p, &b);
	char *text = rc ? NULL : cpm_str_dup((struct cpm_str){ b.p, b.len });
	cpm_buf_free(&b);
	if (!text) {
		user_err("cannot format the profile: %s; nothing saved",
			 cpm_strerror(rc ? rc : CPM_ENOMEM));
		return CPM_APP_EXIT_ERROR;
	}
	rc = cpm_store_profile_put(s, aor, text);
	if (rc == CPM_ENOTFOUND) {
		free(text);
		user_err("no such user: %s", aor);
		return CPM_APP_EXIT_ERROR;
	}
	if (rc) {
		free(text);
		return store_error(s, rc, aor);
	}
	printf("profile of %s:\n%s", aor, text);
	free(text);
	return CPM_APP_EXIT_OK;
}

static int cmd_show(const struct cpm_conf *conf, struct cpm_store *s,
		    const struct user_args *a)
{
	char aor[256];
	/* like del: a user of a domain no longer served is still shown */
	const char *p0 = a->aor;
	if (strncasecmp(p0, "sip:", 4) == 0)
		p0 += 4;
	if (cpm_store_aor_normalize(p0, aor, sizeof aor)) {
		user_err("invalid AoR '%s': expected user@domain", a->aor);
		return CPM_APP_EXIT_ERROR;
	}
	struct cpm_store_user u;
	int rc = cpm_store_user_get(s, aor, &u);
	if (rc == CPM_ENOTFOUND) {
		user_err("no such user: %s", aor);
		return CPM_APP_EXIT_ERROR;
	}
	if (rc)
		return store_error(s, rc, aor);
	struct cpm_im_profile p;
	bool stored;
	int ex = profile_load(s, aor, &p, &stored);
	if (ex)
		return ex;
	struct cpm_buf b;
	cpm_buf_init(&b, CPM_STORE_PROFILE_MAX - 1);
	rc = cpm_im_profile_format(&p, &b);
	if (rc) {
		cpm_buf_free(&b);
		user_err("cannot format the profile: %s", cpm_strerror(rc));
		return CPM_APP_EXIT_ERROR;
	}
	char when[32];
	cpm_app_iso_time(u.created, when);
	printf("aor: %s\nrealm: %s\ncreated: %s\nprofile: %s\n%.*s", u.aor,
	       u.realm, when, stored ? "set" : "server default", (int)b.len,
	       b.p);
	cpm_buf_free(&b);
	struct cpm_conf_class k;
	if (cpm_conf_class_find(conf, p.class_name, &k) == 0)
		printf("class %s: storage=%s max_messages=%llu max_bytes=%llu "
		       "max_lifetime=%lld\n",
		       k.name, k.storage ? "yes" : "no",
		       (unsigned long long)k.max_messages,
		       (unsigned long long)k.max_bytes, (long long)k.max_lifetime);
	else
		printf("class %s: not in the configuration (the default class "
		       "applies)\n",
		       p.class_name);
	return CPM_APP_EXIT_OK;
}

/* ------------------------------------------------------------------- main */

/* "--name VALUE" or "--name=VALUE" at argv[*i]; NULL if argv[*i] is not it. */
static const char *option_value(int argc, char **argv, int *i, const char *name,
				bool *missing)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

int cpm_app_user_main(const struct cpm_conf *conf, int argc, char **argv)
{
	cur_cmd = "user";
	if (argc < 1) {
		fputs(user_usage, stderr);
		return CPM_APP_EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0 ||
	    strcmp(argv[0], "-h") == 0) {
		fputs(user_usage, stdout);
		return CPM_APP_EXIT_OK;
	}
	const struct user_cmd *cmd = NULL;
	for (size_t i = 0; i < sizeof user_cmds / sizeof *user_cmds; i++)
		if (strcmp(argv[0], user_cmds[i].name) == 0)
			cmd = &user_cmds[i];
	if (!cmd) {
		fprintf(stderr, "cpmd user: unknown command '%s'\n\n", argv[0]);
		fputs(user_usage, stderr);
		return CPM_APP_EXIT_USAGE;
	}
	cur_cmd = cmd->name;
	if (!cmd->needs_store) /* not parsed: its syntax is not fixed yet */
		return cmd->run(conf, NULL, NULL);

	struct user_args a = { 0 };
	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(user_usage, stdout);
			return CPM_APP_EXIT_OK;
		}
		if (cmd->takes_password &&
		    ((v = option_value(argc, argv, &i, "--password", &missing)) ||
		     missing)) {
			if (missing)
				return usage_error("--password needs a value");
			if (a.password || a.password_file)
				return usage_error("only one password option");
			a.password = v;
		} else if (cmd->takes_password &&
			   ((v = option_value(argc, argv, &i, "--password-file",
					      &missing)) ||
			    missing)) {
			if (missing)
				return usage_error("--password-file needs a value");
			if (a.password || a.password_file)
				return usage_error("only one password option");
			a.password_file = v;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return usage_error("unknown option '%s'", argv[i]);
		} else if (cmd->takes_aor && !a.aor) {
			a.aor = argv[i];
		} else if (cmd->takes_kv) {
			if (a.nkv == USER_SET_MAX)
				return usage_error("more than %d assignments",
						   USER_SET_MAX);
			a.kv[a.nkv++] = argv[i];
		} else {
			return usage_error("unexpected argument '%s'", argv[i]);
		}
	}
	if (cmd->takes_aor && !a.aor)
		return usage_error("missing AOR (user@domain)");
	if (cmd->takes_kv && a.nkv == 0)
		return usage_error("missing KEY=VALUE (store-and-forward=..., "
				   "accepts=..., class=...)");

	struct cpm_store_options opts = { conf->store.busy_timeout };
	struct cpm_store *s;
	int rc = cpm_store_open_ex(conf->store.url, &opts, &s);
	if (rc) {
		user_err("cannot open the store %s: %s", conf->store.url,
			 cpm_strerror(rc));
		return CPM_APP_EXIT_ERROR;
	}
	int ex = cmd->run(conf, s, &a);
	cpm_store_close(s);
	return ex;
}
