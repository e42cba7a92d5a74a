/* sip: replay the fuzz seeds kept in the repository (fuzz/corpus/sip, read
 * from the repository root) through the parser and the helpers under ASan
 * and UBSan.  They include inputs that crashed other SIP parsers (OpenSIPS
 * OSS-Fuzz regressions) and the RFC 4475 torture messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>

#include <cmocka.h>

#include "sip/sip.h"

static struct cpm_sip_msg m;

static void helpers(const struct cpm_sip_msg *msg)
{
	for (unsigned i = 0; i < msg->nhdrs; i++) {
		struct cpm_str cur = msg->hdrs[i].value, it;
		struct cpm_sip_addr a;
		struct cpm_sip_via v;
		struct cpm_sip_auth au;
		struct cpm_sip_uri u;
		while (cpm_sip_addr_next(&cur, &a) == 1)
			cpm_sip_uri_parse(a.uri, &u);
		cur = msg->hdrs[i].value;
		while (cpm_sip_via_next(&cur, &v) == 1)
			;
		cur = msg->hdrs[i].value;
		while (cpm_sip_list_next(&cur, &it) == 1)
			;
		cpm_sip_auth_parse(msg->hdrs[i].value, &au);
	}
}

static void test_replay_seeds(void **state)
{
	(void)state;
	DIR *d = opendir("fuzz/corpus/sip");
	if (!d)
		fail_msg("fuzz/corpus/sip not found: run from the repository root");
	struct dirent *de;
	size_t n = 0, ok = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[512];
		snprintf(path, sizeof path, "fuzz/corpus/sip/%s", de->d_name);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		long len = ftell(f);
		fseek(f, 0, SEEK_SET);
		char *buf = malloc(len > 0 ? (size_t)len : 1); /* exact size */
		assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
		fclose(f);

		int rc = cpm_sip_msg_parse(&m, buf, (size_t)len, CPM_SIP_DATAGRAM, NULL);
		if (rc == 0)
			ok++;
		else
			assert_non_null(m.err_reason);
		helpers(&m);
		/* every prefix as a stream */
		for (long cut = 0; cut <= len; cut += (len / 64) + 1) {
			size_t skip, ml;
			int fr = cpm_sip_frame(buf, (size_t)cut, NULL, &skip, &ml);
			if (fr == 1) {
				assert_true(skip + ml <= (size_t)cut);
				cpm_sip_msg_parse(&m, buf + skip, ml, CPM_SIP_STREAM, NULL);
			}
		}
		free(buf);
		n++;
	}
	closedir(d);
	assert_true(n >= 30);
	assert_true(ok >= 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_seeds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
