/* cli unit tests: parse a NULL-terminated list of words as cpm's command
 * line (argv[0] "cpm" added), errors into err. */
#ifndef CPM_TEST_CLI_ARGV_H
#define CPM_TEST_CLI_ARGV_H

#include <stdarg.h>

static int cli_argv_parse(struct cpm_cli_args *a, char *err, size_t errsz, va_list ap)
{
	char *argv[32];
	int argc = 0;
	argv[argc++] = "cpm";
	for (char *s; (s = va_arg(ap, char *)) != NULL && argc < 31;)
		argv[argc++] = s;
	argv[argc] = NULL;
	cpm_cli_args_init(a);
	return cpm_cli_args_parse(a, argc, argv, err, errsz);
}

#endif
