/* One line per event on stderr (or a chosen file), with a context tag. */
#include "lib/lib.h"

#include <string.h>
#include <time.h>

static int log_level = CPM_LOG_NOTICE;
static FILE *log_file;

static const char *const level_names[] = { "error", "warn", "notice", "info",
					    "debug" };

void cpm_log_set_level(int level)
{
	log_level = level;
}

int cpm_log_get_level(void)
{
	return log_level;
}

int cpm_log_level_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof level_names / sizeof *level_names); i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

void cpm_log_set_file(FILE *f)
{
	log_file = f;
}

void cpm_log(int level, const char *ctx, const char *fmt, ...)
{
	if (level > log_level)
		return;
	FILE *f = log_file ? log_file : stderr;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof line,
			 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%s] ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
			 level_names[level < 0 ? 0 : level > 4 ? 4 : level],
			 ctx && *ctx ? ctx : "-");
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof line)
		n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line - 1)
		n = (int)sizeof line - 2;
	/* one event, one line: fold control characters from peers */
	for (int i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, f);
	fflush(f);
}
