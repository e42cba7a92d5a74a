/* What the chat rooms tell the conference event package (RFC 4575, src/pres):
 * the focus's participants as conference users.  No XML here. */
#include "chat/chat_int.h"

#include "pres/pres.h"
#include "sip/sip.h"
#include "store/store.h"

#include <stdio.h>

void cpm_chat__conf_joined(struct cpm_pres *pres, const char *room, const char *aor,
			   const char *display, int role, int64_t joined, bool dialed_out,
			   const char *referred_by)
{
	if (!pres)
		return;
	struct cpm_pres_conf_user u = {
		.uri = aor,
		.display = display,
		.role = role == CPM_STORE_ROOM_OWNER	   ? CPM_PRES_CONF_OWNER
			: role == CPM_STORE_ROOM_MODERATOR ? CPM_PRES_CONF_MODERATOR
							   : CPM_PRES_CONF_PARTICIPANT,
		.status = CPM_PRES_CONF_CONNECTED,
		.joining = dialed_out ? CPM_PRES_CONF_DIALED_OUT : CPM_PRES_CONF_DIALED_IN,
		.joined = joined,
		.referred_by = referred_by,
	};
	int rc = cpm_pres_conf_user(pres, room, &u);
	if (rc)
		cpm_logw(aor, "chat: %s not listed for the watchers of %s: %s", aor, room,
			 cpm_strerror(rc));
}

void cpm_chat__conf_left(struct cpm_pres *pres, const char *room, const char *aor, bool booted,
			 const char *why)
{
	/* RFC 4575 §5.6.7: departed (its BYE) or booted (the focus let it go:
	 * slow, failed leg, removed by the owner) */
	cpm_pres_conf_left(pres, room, aor, booted ? CPM_PRES_CONF_BOOTED : CPM_PRES_CONF_DEPARTED,
			   booted ? why : NULL);
}

void cpm_chat__conf_end(struct cpm_pres *pres, const char *room)
{
	cpm_pres_conf_end(pres, room);
}

void cpm_chat__conf_dialing(struct cpm_pres *pres, const char *room, const char *aor,
			    const char *referred_by)
{
	struct cpm_pres_conf_user u = {
		.uri = aor,
		.status = CPM_PRES_CONF_DIALING_OUT,
		.joining = CPM_PRES_CONF_DIALED_OUT,
		.referred_by = referred_by,
	};
	cpm_pres_conf_user(pres, room, &u);
}

void cpm_chat__conf_failed(struct cpm_pres *pres, const char *room, const char *aor, int status)
{
	/* RFC 4575 §5.6.7: busy for a refusal as such, failed otherwise */
	char reason[96];
	const char *phrase = cpm_sip_reason(status);
	snprintf(reason, sizeof reason, "%d %s", status, phrase ? phrase : "");
	cpm_pres_conf_left(pres, room, aor,
			   status == 486 || status == 600 ? CPM_PRES_CONF_BUSY : CPM_PRES_CONF_FAILED,
			   reason);
}

void cpm_chat__conf_rooms(struct cpm_pres *pres, bool (*rooms)(void *arg, const char *aor),
			  void *arg)
{
	cpm_pres_conf_set_rooms(pres, rooms, arg);
}
