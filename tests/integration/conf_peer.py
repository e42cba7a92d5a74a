#!/usr/bin/env python3
"""conf_peer.py — watchers of cpmd's conference event package (RFC 4575) next to chat
room participants (chat_room_peer.py), for tests/integration/t_conf_*.sh.  Python 3
standard library only (asyncio, xml.etree).

A watcher is a SIP UA over UDP: SUBSCRIBE "Event: conference" to a room URI (Digest
after a 407), answers every NOTIFY 200 and keeps its conference-info document, read
back into {user URI: (user state, endpoint status, display-text, roles,
disconnection-method)}.  It checks what RFC 4575 and RFC 6665 ask of each document:
versions that grow by one per NOTIFY, state full first and after a refresh, partial
otherwise, Subscription-State, Content-Type.

  event    the scenario of t_conf_event.sh: a member watches lobby (full, no users),
           a non-member is refused (403), a URI that is no room gets 404; alice and bob
           join (partial NOTIFYs, roles, bob's reserved nickname), alice changes her
           nickname, bob leaves (deleted, departed), a refresh gets the full state,
           Expires: 0 ends it (terminated)
  throttle with presence.min_notify_interval 1500 ms: two joins right after the first
           NOTIFY come as one partial NOTIFY (version 1, both users) at the end of the
           interval (RFC 6665 rate control, as for presence)
  message  the scenario of t_conf_message.sh: alice and bob are in the club (a room with
           offline store-and-forward); bob's SEND reaches alice; dave, a member not in
           session, sends a SIP MESSAGE to the room: 200, and alice and bob get it wrapped
           in CPIM with dave's identity; mallory (no member) gets 403, a forged CPIM From
           403
  adhoc    the scenario of t_conf_adhoc.sh: alice INVITEs the conference factory with her
           SDP offer and a URI list (bob, carol, dave, frank): 200 from the new room's focus
           (;isfocus), which INVITEs the three registered (frank has no device); alice watches: full (bob, carol, dave
           dialing-out), then bob and carol accept (connected, dialed-out), dave refuses
           486 (deleted, busy); a message reaches everyone; bob REFERs erin (202, sipfrag
           NOTIFYs 100 then 200; erin in, referred by bob); bob's REFER method=BYE is
           refused (403, not the owner), alice's removes carol; all leave: the room is
           over (the watcher's subscription ends, noresource)
  owner    the scenario of t_conf_owner.sh: alice (owner), bob and carol are in the
           lobby, dave watches; `cpmd room member del` removes bob (BYE, booted), the
           owner's DELETE over the HTTP API closes the room (BYE to everyone, the watcher's
           subscription terminated with reason=noresource, a new INVITE 404)

Prints "ok: ..." per check and exits 0 when all held, else "FAIL: ..." and 1.
"""
import argparse
import asyncio
import os
import re
import secrets
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_room_peer import Part, SipProto, parse_sip, hget  # noqa: E402
from msrp_peer import fail, ok, expect  # noqa: E402
from sipmsg import auth_params, digest  # noqa: E402

NS = "{urn:ietf:params:xml:ns:conference-info}"
TIMEOUT = 20.0


def read_doc(body):
    """(root attributes, {uri: dict}) of a conference-info document."""
    root = ET.fromstring(body)
    if root.tag != NS + "conference-info":
        fail(f"not a conference-info document: {root.tag}")
    users = {}
    for u in root.iter(NS + "user"):
        ep = u.find(NS + "endpoint")
        txt = lambda e, n: (e.findtext(NS + n) if e is not None else None)  # noqa: E731
        users[u.get("entity")] = {
            "state": u.get("state"),
            "status": txt(ep, "status"),
            "display": u.findtext(NS + "display-text"),
            "roles": [r.text for r in u.iter(NS + "entry")],
            "joining": txt(ep, "joining-method"),
            "disc": txt(ep, "disconnection-method"),
            "reason": (ep.find(NS + "disconnection-info").findtext(NS + "reason")
                       if ep is not None and ep.find(NS + "disconnection-info") is not None
                       else None),
            "referred_by": (ep.find(NS + "referred").findtext(NS + "by")
                            if ep is not None and ep.find(NS + "referred") is not None
                            else None),
        }
    attrs = dict(root.attrib)
    attrs["user-count"] = root.findtext(f"{NS}conference-state/{NS}user-count")
    attrs["subject"] = root.findtext(f"{NS}conference-description/{NS}subject")
    attrs["users-state"] = (root.find(NS + "users").get("state")
                            if root.find(NS + "users") is not None else None)
    return attrs, users


class WatcherProto(asyncio.DatagramProtocol):
    def __init__(self, w):
        self.w = w

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        first, hdrs, body = parse_sip(data)
        if first.startswith("SIP/2.0 "):
            code = int(first.split(" ")[1])
            fut = self.w.waiting.get(hget(hdrs, "cseq") or "")
            if code >= 200 and fut and not fut.done():
                fut.set_result((code, hdrs, body))
            return
        resp = "SIP/2.0 200 OK\r\n"
        for n in ("via", "from", "to", "call-id", "cseq"):
            for hn, hv in hdrs:
                if hn == n:
                    resp += f"{n.title()}: {hv}\r\n"
        resp += "Content-Length: 0\r\n\r\n"
        self.transport.sendto(resp.encode(), addr)
        if first.startswith("NOTIFY"):
            cseq = int((hget(hdrs, "cseq") or "0").split()[0])
            if cseq in self.w.notify_cseqs:
                return  # a retransmission
            self.w.notify_cseqs.add(cseq)
            self.w.notifies.append((hget(hdrs, "subscription-state") or "",
                                    hget(hdrs, "content-type") or "", hget(hdrs, "event"), body))


class Watcher:
    def __init__(self, name, args, room):
        self.name, self.args, self.room = name, args, room
        self.aor = f"{name}@{args.domain}"
        self.tag = secrets.token_hex(6)
        self.callid = secrets.token_hex(10) + "@conf_peer"
        self.cseq = 1
        self.waiting = {}
        self.notifies = []
        self.notify_cseqs = set()
        self.to_hdr = f"<sip:{room}>"
        self.target = f"sip:{room}"
        self.version = None  # the last version seen
        self.users = {}  # the state as the watcher rebuilds it
        self.last_deleted = {}  # uri -> its last state="deleted" entry

    async def start(self):
        loop = asyncio.get_running_loop()
        self.udp, _ = await loop.create_datagram_endpoint(lambda: WatcherProto(self),
                                                          local_addr=("127.0.0.1", 0))
        self.lport = self.udp.get_extra_info("sockname")[1]

    async def _send(self, extra, cseq, auth=None):
        branch = "z9hG4bK" + secrets.token_hex(8)
        msg = (f"SUBSCRIBE {self.target} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{self.lport};branch={branch};rport\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:{self.aor}>;tag={self.tag}\r\n"
               f"To: {self.to_hdr}\r\nCall-ID: {self.callid}\r\nCSeq: {cseq} SUBSCRIBE\r\n"
               f"Contact: <sip:{self.name}@127.0.0.1:{self.lport}>\r\n"
               f"Event: conference\r\nAccept: application/conference-info+xml\r\n{extra}")
        if auth:
            msg += auth + "\r\n"
        msg += "Content-Length: 0\r\n\r\n"
        fut = asyncio.get_running_loop().create_future()
        self.waiting[f"{cseq} SUBSCRIBE"] = fut
        for _ in range(6):
            self.udp.sendto(msg.encode(), ("127.0.0.1", self.args.sip_port))
            try:
                return await asyncio.wait_for(asyncio.shield(fut), 1.0)
            except asyncio.TimeoutError:
                continue
        fail(f"{self.name}: no answer to SUBSCRIBE")

    async def subscribe(self, expires=300):
        """SUBSCRIBE (or refresh, in the dialog); the final status."""
        extra = f"Expires: {expires}\r\n"
        code, hdrs, _ = await self._send(extra, self.cseq)
        if code in (401, 407):
            _, params = auth_params(hget(hdrs, "proxy-authenticate" if code == 407
                                         else "www-authenticate"))
            cred = digest(params, "SUBSCRIBE", self.target, self.name, f"{self.name}-secret")
            self.cseq += 1
            code, hdrs, _ = await self._send(
                extra, self.cseq,
                f"{'Proxy-Authorization' if code == 407 else 'Authorization'}: {cred}")
        self.cseq += 1
        if code // 100 == 2 and ";tag=" not in self.to_hdr:
            self.to_hdr = hget(hdrs, "to")
            m = re.search(r"<([^>]+)>", hget(hdrs, "contact") or "")
            self.target = m.group(1) if m else self.target
        return code

    async def next_doc(self, timeout=TIMEOUT):
        """The next NOTIFY: checked, applied; (attrs, users of this document, state hdr)."""
        end = time.monotonic() + timeout
        while not self.notifies and time.monotonic() < end:
            await asyncio.sleep(0.05)
        if not self.notifies:
            fail(f"{self.name}: no NOTIFY within {timeout} s")
        state, ctype, event, body = self.notifies.pop(0)
        expect(event and event.startswith("conference"), f"{self.name}: Event: {event}")
        if not body.strip():
            return None, {}, state
        expect(ctype.startswith("application/conference-info+xml"),
               f"{self.name}: Content-Type {ctype}")
        attrs, users = read_doc(body)
        v = int(attrs["version"])
        want = 0 if self.version is None else self.version + 1
        expect(v == want, f"{self.name}: version {v} (one more than the last: {want})")
        self.version = v
        if attrs["state"] == "full":
            self.users = {}
        for uri, u in users.items():
            if u["state"] == "deleted":
                self.users.pop(uri, None)
                self.last_deleted[uri] = u
            else:
                self.users[uri] = u
        return attrs, users, state

    async def quiet(self, seconds=0.6):
        """No NOTIFY for a while."""
        await asyncio.sleep(seconds)
        return not self.notifies


# ------------------------------------------------------------------ scenarios


async def scenario_event(args):
    room = f"{args.room}@{args.domain}"
    carol = Watcher("carol", args, room)
    await carol.start()
    expect(await carol.subscribe() == 200, "carol (a member) subscribes to the lobby: 200")
    attrs, users, state = await carol.next_doc()
    expect(state.startswith("active"), f"Subscription-State: {state}")
    expect(attrs["state"] == "full" and attrs["entity"] == f"sip:{room}" and not users and
           attrs["user-count"] == "0" and attrs["subject"] == "the lobby",
           f"the first NOTIFY: full, the room as entity, its subject, nobody in it: {attrs}")

    mallory = Watcher("mallory", args, room)
    await mallory.start()
    expect(await mallory.subscribe() == 403, "mallory (no member) is refused: 403")
    ghost = Watcher("bob", args, f"ghost@{args.domain}")
    await ghost.start()
    expect(await ghost.subscribe() == 404, "a URI that is no room and no user: 404")

    a = Part("alice", args, room)
    b = Part("bob", args, room)
    expect(await a.invite() == 200, "alice joins")
    attrs, users, _ = await carol.next_doc()
    au = users.get(f"sip:alice@{args.domain}")
    expect(attrs["state"] == "partial" and attrs["users-state"] == "partial" and
           list(users) == [f"sip:alice@{args.domain}"],
           f"a partial NOTIFY with alice alone: {attrs} {list(users)}")
    expect(au["state"] == "full" and au["status"] == "connected" and au["roles"] == ["owner"]
           and au["joining"] == "dialed-in" and au["display"] == "Alice",
           f"alice: connected, owner, dialed-in, her display name: {au}")
    expect(attrs["user-count"] == "1", "user-count 1")

    expect(await b.invite() == 200, "bob joins")
    attrs, users, _ = await carol.next_doc()
    bu = users.get(f"sip:bob@{args.domain}")
    expect(list(users) == [f"sip:bob@{args.domain}"] and bu["display"] == "bobby" and
           bu["roles"] == ["moderator"] and attrs["user-count"] == "2",
           f"bob alone in the next one, his reserved nickname, moderator: {users} {attrs}")

    expect(await a.nickname("Ally") == 200, "alice takes the nickname Ally")
    attrs, users, _ = await carol.next_doc()
    expect(list(users) == [f"sip:alice@{args.domain}"] and
           users[f"sip:alice@{args.domain}"]["display"] == "Ally",
           f"the nickname is alice's display-text now: {users}")

    expect(await b.bye() == 200, "bob leaves (BYE)")
    attrs, users, _ = await carol.next_doc()
    bu = users.get(f"sip:bob@{args.domain}")
    expect(bu and bu["state"] == "deleted" and bu["status"] == "disconnected" and
           bu["disc"] == "departed" and attrs["user-count"] == "1",
           f"bob deleted: disconnected, departed: {bu} {attrs}")
    expect(list(carol.users) == [f"sip:alice@{args.domain}"], "carol's view: alice alone")
    expect(await carol.quiet(), "no NOTIFY without a change")

    expect(await carol.subscribe() == 200, "carol refreshes")
    attrs, users, _ = await carol.next_doc()
    expect(attrs["state"] == "full" and list(users) == [f"sip:alice@{args.domain}"],
           f"after a refresh: the full state, alice alone: {attrs['state']} {list(users)}")

    expect(await a.bye() == 200, "alice leaves")
    attrs, users, _ = await carol.next_doc()
    expect(users[f"sip:alice@{args.domain}"]["state"] == "deleted" and
           attrs["user-count"] == "0", "alice deleted, nobody left")

    expect(await carol.subscribe(0) == 200, "carol unsubscribes (Expires: 0)")
    _, _, state = await carol.next_doc()
    expect(state.startswith("terminated"), f"the last NOTIFY: {state}")
    return 0


def reply_to(hdrs, code, reason, extra="", body=""):
    resp = f"SIP/2.0 {code} {reason}\r\n"
    for n in ("via", "from", "to", "call-id", "cseq"):
        for hn, hv in hdrs:
            if hn == n:
                resp += f"{n.title()}: {hv}\r\n"
    return (resp + extra + f"Content-Length: {len(body.encode())}\r\n\r\n{body}").encode()


class InviteeProto(SipProto):
    """A participant's SIP side that also takes the focus's INVITE and NOTIFYs."""

    def datagram_received(self, data, addr):
        first, hdrs, body = parse_sip(data)
        method = first.split(" ")[0]
        if method == "INVITE":
            if hget(hdrs, "call-id") not in self.part.invites:
                self.part.invites.add(hget(hdrs, "call-id"))
                asyncio.ensure_future(self.part.on_invite(hdrs, body, addr))
        elif method == "NOTIFY":
            self.transport.sendto(reply_to(hdrs, 200, "OK"), addr)
            self.part.notifies.append((hget(hdrs, "event"), hget(hdrs, "subscription-state"),
                                       body.strip()))
        elif method in ("ACK", "CANCEL"):
            if method == "CANCEL":
                self.transport.sendto(reply_to(hdrs, 200, "OK"), addr)
        else:
            super().datagram_received(data, addr)


class Member(Part):
    """A registered user whom the focus calls (answer: 200 or a refusal once go is set),
    or who calls the factory (creator): REFER, in-dialog requests either way."""

    def __init__(self, name, args, room="", answer=200):
        super().__init__(name, args, room, mode="passive")
        self.answer_code = answer
        self.invites = set()
        self.notifies = []
        self.ringing = asyncio.Event()
        self.go = asyncio.Event()
        self.uri_list = None

    async def start_sip(self):
        if getattr(self, "udp", None):
            return
        loop = asyncio.get_running_loop()
        self.udp, self.proto = await loop.create_datagram_endpoint(
            lambda: InviteeProto(self), local_addr=("127.0.0.1", 0))
        self.lport = self.udp.get_extra_info("sockname")[1]
        self.server = ("127.0.0.1", self.args.sip_port)

    async def register(self):
        await self.start_sip()
        self.lsn = await asyncio.start_server(self._accepted, "127.0.0.1", 0, limit=1 << 20)
        self.mport = self.lsn.sockets[0].getsockname()[1]
        code, _, _ = await self.request("REGISTER", f"sip:{self.args.domain}", f"<sip:{self.aor}>")
        self.cseq += 1
        return code

    async def on_invite(self, hdrs, body, addr):
        self.udp.sendto(reply_to(hdrs, 180, "Ringing"), addr)
        self.invite_from = hget(hdrs, "from")
        self.ringing.set()
        await self.go.wait()
        if self.answer_code != 200:
            self.udp.sendto(reply_to(hdrs, self.answer_code, "Busy Here"), addr)
            return
        pm = re.search(r"a=path:(\S+)", body)
        self.their_path = pm.group(1)
        m = re.search(r"<([^>]+)>", hget(hdrs, "contact") or "")
        self.target = m.group(1)
        self.contact = hget(hdrs, "contact")
        self.callid = hget(hdrs, "call-id")
        self.tag = secrets.token_hex(6)
        self.to_hdr = hget(hdrs, "from")  # our requests go to the focus
        self.cseq = 1
        to = hget(hdrs, "to") + f";tag={self.tag}"
        extra = f"Contact: <sip:{self.name}@127.0.0.1:{self.lport}>\r\nContent-Type: application/sdp\r\n"
        ok_hdrs = [(n, to if n == "to" else v) for n, v in hdrs]
        self.udp.sendto(reply_to(ok_hdrs, 200, "OK", extra, self.sdp()), addr)

    async def request(self, method, ruri, to_hdr, body="", ctype=None, cseq=None):
        if method == "INVITE" and self.uri_list:
            # RFC 5366: the offer and the list in one multipart/mixed body
            items = "".join(f'<entry uri="sip:{u}"/>' for u in self.uri_list)
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\r\n<resource-lists xmlns='
                   f'"urn:ietf:params:xml:ns:resource-lists"><list>{items}</list></resource-lists>')
            body = ("--b0undary\r\nContent-Type: application/sdp\r\n\r\n" + body +
                    "\r\n--b0undary\r\nContent-Type: application/resource-lists+xml\r\n"
                    "Content-Disposition: recipient-list\r\n\r\n" + xml + "\r\n--b0undary--\r\n")
            ctype = "multipart/mixed;boundary=b0undary"
        return await super().request(method, ruri, to_hdr, body, ctype, cseq)

    async def refer(self, refer_to):
        """REFER in our dialog with the focus; the final status."""
        # Content-Type carries the extra header line: Part.request has no other slot
        code, _, _ = await self.request("REFER", self.target, self.to_hdr, "",
                                        f"text/plain\r\nRefer-To: <{refer_to}>")
        self.cseq += 1
        return code

    async def refer_result(self, timeout=TIMEOUT):
        """The sipfrag of the final refer NOTIFY."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for ev, st, frag in self.notifies:
                if ev and ev.startswith("refer") and st and st.startswith("terminated"):
                    return frag
            await asyncio.sleep(0.05)
        return None


async def scenario_adhoc(args):
    d = args.domain
    alice = Member("alice", args, f"{args.factory}@{d}")
    bob, carol, erin = Member("bob", args), Member("carol", args), Member("erin", args)
    dave = Member("dave", args, answer=486)
    for m in (bob, carol, dave, erin):
        expect(await m.register() == 200, f"{m.name} registers")
    alice.uri_list = [f"bob@{d}", f"carol@{d}", f"dave@{d}", f"alice@{d}", f"frank@{d}"]
    expect(await alice.invite() == 200, "alice INVITEs the factory with a URI list: 200")
    expect(";isfocus" in alice.contact, f"answered by a focus: {alice.contact}")
    user = re.match(r"sip:([^@]+)@", alice.target).group(1)
    expect(user.startswith("adhoc-"), f"the Contact names a new room: {alice.target}")
    room = f"{user}@{d}"
    ok(f"room {room}")
    for m in (bob, carol, dave):
        await asyncio.wait_for(m.ringing.wait(), TIMEOUT)
        expect(f"<sip:{room}>" in m.invite_from, f"{m.name}'s phone rings: From {m.invite_from}")

    w = Watcher("alice", args, room)
    await w.start()
    expect(await w.subscribe() == 200, "alice (the owner) watches her conference")
    attrs, users, _ = await w.next_doc()
    want = {f"sip:{n}@{d}" for n in ("alice", "bob", "carol", "dave")}
    expect(attrs["state"] == "full" and set(users) == want, f"full: the four {list(users)}")
    expect(all(users[f"sip:{n}@{d}"]["status"] == "dialing-out" for n in ("bob", "carol", "dave")),
           "the three invitees: dialing-out")
    expect(users[f"sip:alice@{d}"]["status"] == "connected" and
           users[f"sip:alice@{d}"]["roles"] == ["owner"], "alice: connected, owner")

    for m in (bob, carol, dave):
        m.go.set()
    for m in (bob, carol):
        await asyncio.wait_for(m.bound.wait(), TIMEOUT)
        ok(f"{m.name} accepted: the focus connected and bound the MSRP session")
    end = time.monotonic() + TIMEOUT
    while time.monotonic() < end:
        await w.next_doc()
        u = w.users
        if (u.get(f"sip:bob@{d}", {}).get("status") == "connected" and
                u.get(f"sip:carol@{d}", {}).get("status") == "connected" and
                f"sip:dave@{d}" not in u):
            break
    expect(u[f"sip:bob@{d}"]["joining"] == "dialed-out", f"bob: connected, dialed-out {u}")
    expect(w.last_deleted.get(f"sip:dave@{d}", {}).get("disc") == "busy",
           f"dave refused: deleted, busy: {w.last_deleted.get(f'sip:dave@{d}')}")

    expect(await alice.send("hello both") == 200, "alice says hello")
    for m in (bob, carol):
        expect(await m.wait_inbox(1) and m.texts()[-1][3] == "hello both", f"{m.name} got it")
    expect(await bob.send("hi from bob") == 200, "bob answers")
    expect(await alice.wait_inbox(1) and await carol.wait_inbox(2), "alice and carol got it")

    erin.go.set()
    expect(await bob.refer(f"sip:erin@{d}") == 202, "bob REFERs erin to the focus: 202")
    frag = await bob.refer_result()
    expect(frag and frag.startswith("SIP/2.0 200"), f"bob's final refer NOTIFY: {frag}")
    expect(any(f and f.startswith("SIP/2.0 100") for _, _, f in bob.notifies),
           "a 100 Trying sipfrag came first")
    await asyncio.wait_for(erin.bound.wait(), TIMEOUT)
    end = time.monotonic() + TIMEOUT
    while w.users.get(f"sip:erin@{d}", {}).get("status") != "connected" and \
            time.monotonic() < end:
        await w.next_doc()
    eu = w.users[f"sip:erin@{d}"]
    expect(eu["referred_by"] == f"sip:bob@{d}" and eu["joining"] == "dialed-out",
           f"erin: connected, dialed-out, referred by bob: {eu}")

    bob.notifies.clear()
    expect(await bob.refer(f"sip:carol@{d};method=BYE") == 403,
           "bob (not the owner) may not remove carol: 403")
    expect(await alice.refer(f"sip:carol@{d};method=BYE") == 202, "alice removes carol: 202")
    frag = await alice.refer_result()
    expect(frag and frag.startswith("SIP/2.0 200"), f"alice's refer NOTIFY: {frag}")
    expect(await wait_bye(carol), "carol got the focus's BYE")

    for m in (alice, bob, erin):
        expect(await m.bye() == 200, f"{m.name} leaves")
    state = ""
    end = time.monotonic() + TIMEOUT
    while not state.startswith("terminated") and time.monotonic() < end:
        _, _, state = await w.next_doc()
    expect(state == "terminated;reason=noresource",
           f"the conference is over: the watcher's subscription ends ({state})")
    print(f"room {room}", flush=True)
    return 0


async def wait_bye(p, timeout=TIMEOUT):
    end = time.monotonic() + timeout
    while not p.got_bye and time.monotonic() < end:
        await asyncio.sleep(0.05)
    return p.got_bye


async def scenario_owner(args):
    room = f"{args.room}@{args.domain}"
    parts = {n: Part(n, args, room) for n in ("alice", "bob", "carol")}
    for n, p in parts.items():
        expect(await p.invite() == 200, f"{n} joins")
    dave = Watcher("dave", args, room)
    await dave.start()
    expect(await dave.subscribe() == 200, "dave (a member) watches the lobby")
    attrs, users, _ = await dave.next_doc()
    expect(attrs["state"] == "full" and len(users) == 3, f"full: three users {list(users)}")

    out = subprocess.run([args.cpmd, "-c", args.conf, "room", "member", "del", room,
                          f"bob@{args.domain}"], capture_output=True, text=True)
    expect(out.returncode == 0, f"cpmd room member del {room} bob: {out.stdout}{out.stderr}")
    expect(await wait_bye(parts["bob"]), "bob got the focus's BYE (within a second)")
    attrs, users, _ = await dave.next_doc()
    bu = users.get(f"sip:bob@{args.domain}")
    expect(bu and bu["state"] == "deleted" and bu["disc"] == "booted" and
           "removed" in (bu["reason"] or ""), f"bob deleted, booted, why: {bu}")

    url = f"http://127.0.0.1:{args.http_port}/api/v1/rooms/{room}"
    out = subprocess.run(["curl", "-s", "--digest", "-u", "carol:carol-secret", "-X", "DELETE",
                          "-o", "/dev/null", "-w", "%{http_code}", url],
                         capture_output=True, text=True)
    expect(out.stdout == "403", f"carol (no owner) may not close the room: {out.stdout}")
    out = subprocess.run(["curl", "-s", "--digest", "-u", "alice:alice-secret", "-X", "DELETE",
                          "-o", "/dev/null", "-w", "%{http_code}", url],
                         capture_output=True, text=True)
    expect(out.stdout in ("200", "204"), f"alice (owner) closes the room: {out.stdout}")
    for n in ("alice", "carol"):
        expect(await wait_bye(parts[n]), f"{n} got the focus's BYE")
    state = ""
    for _ in range(4):
        _, _, state = await dave.next_doc()
        if state.startswith("terminated"):
            break
    expect(state == "terminated;reason=noresource", f"dave's subscription ends: {state}")
    eve = Part("alice", args, room)
    expect(await eve.invite() == 404, "an INVITE to the closed room: 404")
    return 0


async def scenario_throttle(args):
    room = f"{args.room}@{args.domain}"
    carol = Watcher("carol", args, room)
    await carol.start()
    expect(await carol.subscribe() == 200, "carol watches the lobby")
    await carol.next_doc()
    t0 = time.monotonic()
    a, b = Part("alice", args, room), Part("bob", args, room)
    for p in (a, b):
        expect(await p.invite() == 200, f"{p.name} joins")
    attrs, users, _ = await carol.next_doc()
    dt = time.monotonic() - t0
    expect(attrs["state"] == "partial" and attrs["version"] == "1" and len(users) == 2,
           f"one partial NOTIFY for both joins: v{attrs['version']} {list(users)}")
    expect(dt >= 0.9, f"held until the interval ended ({dt:.2f} s after the first)")
    expect(await carol.quiet(2.0), "and no other")
    for p in (a, b):
        expect(await p.bye() == 200, f"{p.name} leaves")
    return 0


async def scenario_message(args):
    room = f"{args.room}@{args.domain}"
    a, b = Part("alice", args, room), Part("bob", args, room)
    for p in (a, b):
        expect(await p.invite() == 200, f"{p.name} joins {room}")
    expect(await b.send("hello from bob") == 200, "bob says hello (MSRP SEND)")
    expect(await a.wait_inbox(1), "alice got bob's message")

    async def pager(name, body, ctype="text/plain"):
        p = Part(name, args, room)
        await p.start_sip()
        code, _, _ = await p.request("MESSAGE", f"sip:{room}", f"<sip:{room}>", body, ctype)
        return code

    expect(await pager("dave", "dave by pager") == 200, "dave (member, not in session): "
           "MESSAGE to the room answered 200")
    for p, n in ((a, 2), (b, 1)):
        expect(await p.wait_inbox(n) and p.texts()[-1][3] == "dave by pager",
               f"{p.name} got dave's MESSAGE")
        frm = p.texts()[-1][0]
        expect(f"<sip:dave@{args.domain}>" in frm and p.texts()[-1][4] == "message/cpim",
               f"{p.name}: in CPIM, From dave: {frm}")
    expect(await pager("mallory", "let me in") == 403, "mallory (no member): 403")
    forged = (f"From: <sip:alice@{args.domain}>\r\nTo: <sip:{room}>\r\n\r\n"
              f"Content-Type: text/plain\r\n\r\nnot dave")
    expect(await pager("dave", forged, "message/cpim") == 403,
           "dave with alice's CPIM From: 403")
    await asyncio.sleep(0.3)
    expect(all(t[3] != "not dave" and t[3] != "let me in" for t in a.texts()),
           "alice got neither refused message")
    for p in (a, b):
        expect(await p.bye() == 200, f"{p.name} leaves")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["event", "owner", "message", "adhoc", "throttle"])
    ap.add_argument("--factory", default="conf")
    ap.add_argument("--cpmd", default="build/cpmd")
    ap.add_argument("--conf", default="")
    ap.add_argument("--http-port", type=int, default=0)
    ap.add_argument("--sip-port", type=int, required=True)
    ap.add_argument("--msrp-port", type=int, default=0)
    ap.add_argument("--domain", default="example.test")
    ap.add_argument("--room", default="lobby")
    args = ap.parse_args()
    fn = {"event": scenario_event, "owner": scenario_owner,
          "message": scenario_message, "adhoc": scenario_adhoc,
          "throttle": scenario_throttle}[args.scenario]
    try:
        sys.exit(asyncio.run(asyncio.wait_for(fn(args), 120)))
    except asyncio.TimeoutError:
        fail("scenario timed out")


if __name__ == "__main__":
    main()
