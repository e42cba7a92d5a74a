/* "cpmd presence ...": the users' allow, block and pending lists, edited in
 * DATA_DIR/presence.json (a running cpmd sees the change within a second). */
#include "pres/pres_int.h"

#include "conf/conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: cpmd presence allow AOR WATCHER...   AOR's presence is shown to them\n"
		   "       cpmd presence block AOR WATCHER...   never shown (403; watching ends)\n"
		   "       cpmd presence remove AOR WATCHER...  back to presence.default_policy\n"
		   "       cpmd presence pending AOR            who asked and waits for a decision\n"
		   "       cpmd presence list [AOR]             every entry: AOR RULE WATCHER\n"
		   "WATCHER is user@domain (a sip: prefix is allowed) or *@domain.\n");
}

struct set_arg {
	const char *aor;
	char (*w)[CPM_PRES_AOR_LEN];
	int n;
	enum cpm_pres_rule rule;
};

static int set_all(void *arg, struct cpm_pres_rules *r)
{
	struct set_arg *a = arg;
	for (int i = 0; i < a->n; i++) {
		int rc = cpm_pres_rules_set(r, a->aor, a->w[i], a->rule);
		if (rc)
			return rc;
	}
	return 0;
}

struct print_arg {
	const char *aor;
	bool pending_only;
	const struct cpm_pres_rules *r;
};

static void print_one(void *arg, const char *watcher, enum cpm_pres_rule rule)
{
	struct print_arg *a = arg;
	if (a->pending_only) {
		if (rule == CPM_PRES_RULE_PENDING)
			printf("%s\n", watcher);
		return;
	}
	printf("%s %s %s\n", a->aor, cpm_pres_rule_name(rule), watcher);
}

static void print_user(void *arg, const char *aor)
{
	struct print_arg a = *(struct print_arg *)arg;
	a.aor = aor;
	cpm_pres_rules_each(a.r, aor, print_one, &a);
}

static int user_aor(const struct cpm_conf *conf, const char *in, char *out)
{
	if (cpm_pres_watcher_norm(in, out, CPM_PRES_AOR_LEN) || out[0] == '*') {
		fprintf(stderr, "cpmd presence: '%s' is not an AoR (user@domain)\n", in);
		return -1;
	}
	const char *at = strrchr(out, '@');
	if (!cpm_conf_serves_domain(conf, cpm_str_from_cstr(at + 1))) {
		fprintf(stderr, "cpmd presence: %s is not in a served domain (server.domain)\n",
			out);
		return -1;
	}
	return 0;
}

int cpm_pres_cli_main(const struct cpm_conf *conf, int argc, char **argv)
{
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	const char *verb = argv[0];
	char path[CPM_PRES_PATH_LEN], err[512] = "", aor[CPM_PRES_AOR_LEN];
	snprintf(path, sizeof path, "%s/presence.json", conf->server.data_dir);
	struct cpm_pres_rules *r;
	if (cpm_pres_rules_new((unsigned)conf->presence.max_rules, &r))
		return 1;
	int rc = 0, exit_code = 0;
	enum cpm_pres_rule rule = CPM_PRES_RULE_NONE;
	if (strcmp(verb, "allow") == 0)
		rule = CPM_PRES_RULE_ALLOW;
	else if (strcmp(verb, "block") == 0)
		rule = CPM_PRES_RULE_BLOCK;
	if (rule != CPM_PRES_RULE_NONE || strcmp(verb, "remove") == 0) {
		if (argc < 3) {
			usage(stderr);
			exit_code = 2;
			goto out;
		}
		if (user_aor(conf, argv[1], aor)) {
			exit_code = 1;
			goto out;
		}
		char(*w)[CPM_PRES_AOR_LEN] = calloc((size_t)argc, sizeof *w);
		if (!w) {
			exit_code = 1;
			goto out;
		}
		int n = 0;
		for (int i = 2; i < argc; i++) {
			if (cpm_pres_watcher_norm(argv[i], w[n], sizeof w[n])) {
				fprintf(stderr, "cpmd presence: '%s' is not a watcher "
						"(user@domain or *@domain)\n",
					argv[i]);
				free(w);
				exit_code = 1;
				goto out;
			}
			n++;
		}
		struct set_arg a = { aor, w, n, rule };
		rc = cpm_pres_rules_update(r, path, set_all, &a, err, sizeof err);
		free(w);
		if (rc == CPM_ELIMIT)
			snprintf(err, sizeof err, "the lists of %s are full (presence.max_rules)", aor);
		const char *done = rule == CPM_PRES_RULE_ALLOW	 ? "allowed"
				   : rule == CPM_PRES_RULE_BLOCK ? "blocked"
								 : "removed";
		if (!rc)
			printf("%s: %d watcher%s %s\n", aor, n, n == 1 ? "" : "s", done);
	} else if (strcmp(verb, "pending") == 0 || strcmp(verb, "list") == 0) {
		bool pending = verb[0] == 'p';
		if ((pending && argc != 2) || argc > 2) {
			usage(stderr);
			exit_code = 2;
			goto out;
		}
		rc = cpm_pres_rules_load(r, path, err, sizeof err);
		if (!rc) {
			struct print_arg a = { NULL, pending, r };
			if (argc == 2) {
				if (user_aor(conf, argv[1], aor)) {
					exit_code = 1;
					goto out;
				}
				print_user(&a, aor);
			} else {
				cpm_pres_rules_users(r, print_user, &a);
			}
		}
	} else {
		fprintf(stderr, "cpmd presence: unknown command '%s'\n", verb);
		usage(stderr);
		exit_code = 2;
		goto out;
	}
	if (rc) {
		fprintf(stderr, "cpmd presence: %s\n", err[0] ? err : cpm_strerror(rc));
		exit_code = 1;
	}
out:
	cpm_pres_rules_free(r);
	return exit_code;
}
