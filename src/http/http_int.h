/* http — internals shared between the files of the module. */
#ifndef CPM_HTTP_INT_H
#define CPM_HTTP_INT_H

#include "http/http.h"

#define CPM_HTTP__DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* IMF-fixdate (RFC 9110 §5.6.7) of t into out (at least 30 bytes, NUL
 * terminated), independent of the locale. */
void cpm_http__date(int64_t t, char *out);

#endif
