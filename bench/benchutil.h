/* benchutil.h: what the C load tools of bench/ (presfan.c, msrpload.c) share:
 * a monotonic clock, a fatal error, and the CPU time of the server processes
 * read from /proc.  Header only, libc only, so each tool still builds from its
 * own .c file. */
#ifndef CPM_BENCH_UTIL_H
#define CPM_BENCH_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the program's name in error messages (the includer sets it) */
static const char *bu_prog = "bench";

static inline double bu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void bu_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", bu_prog);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* CPU clock ticks (utime + stime, proc(5) fields 14 and 15) of the
 * comma-separated pids; 0 for NULL */
static inline long bu_ticks_of(const char *pids)
{
	long t = 0;
	if (!pids)
		return 0;
	const char *p = pids;
	while (*p) {
		char *next;
		long pid = strtol(p, &next, 10);
		if (next == p)
			break;
		p = next;
		char path[64], buf[1024];
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
		FILE *f = fopen(path, "r");
		if (f) {
			size_t n = fread(buf, 1, sizeof buf - 1, f);
			buf[n] = 0;
			fclose(f);
			char *s = strrchr(buf, ')'); /* the name may hold spaces */
			unsigned long ut = 0, st = 0;
			if (s && sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
					&ut, &st) == 2)
				t += (long)(ut + st);
		}
		while (*p == ',' || *p == ' ')
			p++;
	}
	return t;
}

#endif
