/* The error table's texts. */
#include "lib/lib.h"

const char *cpm_strerror(int err)
{
	switch (err) {
	case 0:
		return "ok";
#define CPM_X_CASE(name, val, text) \
	case val:                   \
		return text;
		CPM_ERROR_TABLE(CPM_X_CASE)
#undef CPM_X_CASE
	default:
		return "unknown error";
	}
}
