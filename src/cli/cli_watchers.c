/* cli — `cpm presence allow|block|pending|remove WATCHER` and `cpm presence
 * list`: a user's watcher lists (issue 5) through the HTTP API
 * (GET/PUT /api/v1/users/AOR/watchers, Digest with the SIP credentials). */
#include "cli/cli.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- watchers */

static void print_watchers(const struct cpm_cli_http_resp *r, const char *aor)
{
	json_error_t je;
	json_t *j = json_loadb(r->body.s, r->body.len, 0, &je);
	json_t *list = json_object_get(j, "watchers");
	size_t n = json_array_size(list);
	if (!n)
		printf("no watcher rules for %s (the default policy applies)\n", aor);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(list, i);
		const char *w = json_string_value(json_object_get(e, "watcher"));
		const char *rule = json_string_value(json_object_get(e, "rule"));
		if (w && rule)
			printf("%-8s %s\n", rule, w);
	}
	json_decref(j);
}

int cpm_cli_cmd_watchers(const struct cpm_cli_args *a)
{
	const char *verb = a->npos ? a->pos[0] : "";
	bool list = strcmp(verb, "list") == 0;
	const char *rule = !strcmp(verb, "allow")     ? "allow"
			   : !strcmp(verb, "block")   ? "block"
			   : !strcmp(verb, "pending") ? "pending"
			   : !strcmp(verb, "remove")  ? "none"
						      : NULL;
	if ((!list && (!rule || a->npos != 2)) || (list && a->npos != 1) || !a->user[0]) {
		cpm_cli_usage(stderr, CPM_CLI_CMD_PRESENCE);
		return CPM_CLI_EXIT_USAGE;
	}
	struct cpm_cli_url base, u;
	if (cpm_cli_http_base(a, &base))
		return CPM_CLI_EXIT_FAIL;
	struct cpm_buf rel;
	cpm_buf_init(&rel, 4096);
	if (cpm_buf_puts(&rel, "api/v1/users/") || cpm_cli_url_put_segment(&rel, a->user) ||
	    cpm_buf_puts(&rel, "/watchers") || cpm_cli_url_join(&base, rel.p, &u)) {
		fprintf(stderr, "cpm: address too long for a URL\n");
		cpm_buf_free(&rel);
		return CPM_CLI_EXIT_FAIL;
	}
	cpm_buf_free(&rel);
	char user[256], what[300];
	cpm_cli_aor_user(a->user, user, sizeof user);
	struct cpm_cli_http h;
	cpm_cli_http_init(&h, a, user);
	const struct cpm_cli_http_resp *r;
	int ex = CPM_CLI_EXIT_FAIL;
	int rc;
	if (list) {
		snprintf(what, sizeof what, "watcher lists of %s", a->user);
		rc = cpm_cli_http_get(&h, &u, &r);
	} else {
		snprintf(what, sizeof what, "%s %s", verb, a->pos[1]);
		json_t *body = json_pack("{s:s,s:s}", "watcher", a->pos[1], "rule", rule);
		char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
		json_decref(body);
		if (!text) {
			cpm_cli_http_free(&h);
			return CPM_CLI_EXIT_FAIL;
		}
		rc = cpm_cli_http_put(&h, &u, "application/json", cpm_str_from_cstr(text), &r);
		free(text);
	}
	if (rc)
		goto out;
	if (r->status == 400) {
		fprintf(stderr, "cpm: %s: 400 %.*s (a watcher is user@domain or *@domain)\n",
			what, CPM_STR_FMT(r->reason));
		goto out;
	}
	if (r->status != 200) {
		ex = cpm_cli_http_failure(&h, r, what);
		goto out;
	}
	if (!list)
		printf("%s: %s\n", a->pos[1], !strcmp(rule, "none") ? "removed" : rule);
	print_watchers(r, a->user);
	ex = CPM_CLI_EXIT_OK;
out:
	fflush(stdout);
	cpm_cli_http_free(&h);
	return ex;
}
