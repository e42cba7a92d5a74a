/* Room messages that do not come over MSRP, and room messages for members
 * who are not in the room (issue 4):
 *  - a SIP MESSAGE sent to a room URI by a member (pager mode, RFC 3428) is
 *    distributed into the room like a participant's SEND (RFC 7701 §6:
 *    wrapped in CPIM with the sender's identity), and goes to the history;
 *  - in a room flagged for offline store-and-forward, every public message
 *    also goes to each member not in session through the message
 *    controller (src/im: stored, delivered when they register), as
 *    message/cpim from the room's URI: a reply to it reaches the room. */
#include "chat/chat_int.h"

#include "im/im.h"

#include <stdio.h>
#include <string.h>

/* A participant's leg that takes nothing: the sender of a MESSAGE who is
 * not in session exists in the switch for the time of one fan-out. */
static int nowhere_send(void *leg, struct cpm_str ctype, struct cpm_str body)
{
	return CPM_EAGAIN;
}

static const struct cpm_chat_leg_ops nowhere_ops = { nowhere_send };

int cpm_chat__room_inject(struct cpm_chat_room *room, struct cpm_chat_member *from,
			  const char *aor, const char *display, struct cpm_str ctype,
			  struct cpm_str body, struct cpm_str message_id)
{
	if (from)
		return cpm_chat_room_receive(from, ctype, body, message_id);
	struct cpm_chat_member *m;
	int rc = cpm_chat_room_join(room, aor, display, &nowhere_ops, NULL, &m);
	if (rc)
		return 500;
	/* never ready: it gets no copy of its own message */
	int st = cpm_chat_room_receive(m, ctype, body, message_id);
	cpm_chat_room_leave(m);
	return st;
}

size_t cpm_chat__room_offline(struct cpm_im_ctl *im, const char *room, const char *nick,
			      const char *const *absent, size_t n, struct cpm_str cpim)
{
	if (!im || !n)
		return 0;
	struct cpm_chat_cpim c;
	char inner[128] = "text/plain";
	if (cpm_chat_cpim_parse(cpim, &c) == 0 && c.content_type.len < sizeof inner)
		cpm_str_copy(c.content_type, inner, sizeof inner);
	char sender[300];
	snprintf(sender, sizeof sender, "sip:%s", room);
	size_t sent = 0;
	for (size_t i = 0; i < n; i++) {
		int rc = cpm_im_ctl_message(im, absent[i], sender, nick, "message/cpim", inner,
					    cpim.s, cpim.len);
		if (rc)
			cpm_logw(room, "chat: room message for %s (offline): %s", absent[i],
				 cpm_strerror(rc));
		else
			sent++;
	}
	return sent;
}
