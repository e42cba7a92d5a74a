#!/usr/bin/env python3
"""chat_room_peer.py — participants of a cpmd chat room (RFC 7701 MSRP switch, RFC 4579
focus), for tests/integration/t_chat_room.sh.  Python 3 standard library only (asyncio).

Each participant is a SIP UA over UDP (INVITE with an m=message TCP/MSRP offer, ACK,
BYE, and a 200 for the focus's BYE) and an MSRP endpoint (RFC 4975): active (connects
to the focus's a=path and binds with an empty SEND) or passive (a=setup:passive,
listens: the focus connects).  Framing comes from msrp_peer.py.

  room     the whole scenario of t_chat_room.sh: five participants, one of them slow
           (never reads its socket), history on join, NICKNAME, private message,
           isComposing, Success-Report, forged CPIM From, BYE, every message in order
  refused  an INVITE to a members-only room from a non-member: 403

Prints "ok: ..." per check and exits 0 when all held, else "FAIL: ..." and 1.
"""
import argparse
import asyncio
import os
import re
import secrets
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from msrp_peer import Conn, auth, build, new_tid, fail, ok, expect  # noqa: E402
from sipmsg import auth_params, digest  # noqa: E402

TIMEOUT = 20.0


# ------------------------------------------------------------------ SIP over UDP


def parse_sip(data):
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    hdrs = []
    for ln in lines[1:]:
        n, _, v = ln.partition(":")
        hdrs.append((n.strip().lower(), v.strip()))
    return lines[0], hdrs, body


def hget(hdrs, name):
    for n, v in hdrs:
        if n == name:
            return v
    return None


class SipProto(asyncio.DatagramProtocol):
    def __init__(self, part):
        self.part = part
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        first, hdrs, body = parse_sip(data)
        if first.startswith("SIP/2.0 "):
            code = int(first.split(" ")[1])
            cseq = hget(hdrs, "cseq") or ""
            fut = self.part.waiting.get(cseq)
            if code >= 200 and fut and not fut.done():
                fut.set_result((code, hdrs, body))
            elif code >= 200 and cseq.endswith("INVITE") and code < 300:
                self.part.ack(hdrs)  # a retransmitted 2xx: ACK again
            return
        method = first.split(" ")[0]
        if method in ("BYE", "INFO", "OPTIONS"):
            resp = "SIP/2.0 200 OK\r\n"
            for n in ("via", "from", "to", "call-id", "cseq"):
                for hn, hv in hdrs:
                    if hn == n:
                        resp += f"{n.title()}: {hv}\r\n"
            resp += "Content-Length: 0\r\n\r\n"
            self.transport.sendto(resp.encode(), addr)
            if method == "BYE":
                self.part.got_bye = True


# ------------------------------------------------------------------ a participant


class Part:
    def __init__(self, name, args, room, mode="active", rcvbuf=0):
        self.name = name
        self.args = args
        self.aor = f"{name}@{args.domain}"
        self.room = room
        self.mode = mode
        self.rcvbuf = rcvbuf
        self.waiting = {}
        self.got_bye = False
        self.inbox = []  # (content-type, body bytes) of SENDs received, in order
        self.partial = {}  # Message-ID -> bytes of a chunked message so far
        self.reports = []
        self.resp = {}  # tid -> future
        self.conn = None
        self.reader = None
        self.sid = secrets.token_hex(8)
        self.tag = secrets.token_hex(6)
        self.callid = secrets.token_hex(10) + "@chat_room_peer"
        self.cseq = 1
        self.lsn = None
        self.bound = asyncio.Event()
        self.route = ""  # "relay": our Use-Path, in front of every To-Path

    async def start_sip(self):
        loop = asyncio.get_running_loop()
        self.udp, self.proto = await loop.create_datagram_endpoint(
            lambda: SipProto(self), local_addr=("127.0.0.1", 0))
        self.lport = self.udp.get_extra_info("sockname")[1]
        self.server = ("127.0.0.1", self.args.sip_port)

    def my_path(self):
        return f"msrp://127.0.0.1:{self.mport}/{self.sid};tcp"

    def sdp(self):
        setup = "a=setup:passive\r\n" if self.mode == "passive" else "a=setup:actpass\r\n"
        return ("v=0\r\no=%s 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                "m=message %d TCP/MSRP *\r\n"
                "a=accept-types:message/cpim text/plain application/im-iscomposing+xml\r\n"
                "a=accept-wrapped-types:*\r\n"
                "a=path:%s\r\n%s") % (self.name, self.mport, self.route + self.my_path(), setup)

    async def request(self, method, ruri, to_hdr, body="", ctype=None, cseq=None):
        """A request, with Digest credentials after a 401/407 (once)."""
        cseq = cseq or self.cseq
        res = await self._request(method, ruri, to_hdr, body, ctype, cseq, None)
        if res[0] in (401, 407):
            ch = hget(res[1], "proxy-authenticate" if res[0] == 407 else "www-authenticate")
            _, params = auth_params(ch)
            cred = digest(params, method, ruri, self.name, f"{self.name}-secret")
            hname = "Proxy-Authorization" if res[0] == 407 else "Authorization"
            cseq += 1
            self.cseq = cseq
            res = await self._request(method, ruri, to_hdr, body, ctype, cseq, f"{hname}: {cred}")
        return res

    async def _request(self, method, ruri, to_hdr, body, ctype, cseq, auth):
        branch = "z9hG4bK" + secrets.token_hex(8)
        msg = (f"{method} {ruri} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{self.lport};branch={branch};rport\r\n"
               f"Max-Forwards: 70\r\n"
               f'From: "{self.name.title()}" <sip:{self.aor}>;tag={self.tag}\r\n'
               f"To: {to_hdr}\r\n"
               f"Call-ID: {self.callid}\r\n"
               f"CSeq: {cseq} {method}\r\n"
               f"Contact: <sip:{self.name}@127.0.0.1:{self.lport}>\r\n")
        if ctype:
            msg += f"Content-Type: {ctype}\r\n"
        if auth:
            msg += auth + "\r\n"
        msg += f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
        fut = asyncio.get_running_loop().create_future()
        self.waiting[f"{cseq} {method}"] = fut
        for _ in range(6):  # UDP retransmissions, bounded
            self.udp.sendto(msg.encode(), self.server)
            try:
                res = await asyncio.wait_for(asyncio.shield(fut), 1.0)
            except asyncio.TimeoutError:
                continue
            if method == "INVITE" and res[0] >= 300:
                # the ACK of a non-2xx final answer: same branch (RFC 3261 §17.1.1.3)
                ack = (f"ACK {ruri} SIP/2.0\r\n"
                       f"Via: SIP/2.0/UDP 127.0.0.1:{self.lport};branch={branch};rport\r\n"
                       f"Max-Forwards: 70\r\n"
                       f'From: "{self.name.title()}" <sip:{self.aor}>;tag={self.tag}\r\n'
                       f"To: {hget(res[1], 'to')}\r\nCall-ID: {self.callid}\r\n"
                       f"CSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n")
                self.udp.sendto(ack.encode(), self.server)
            return res
        fail(f"{self.name}: no final answer to {method}")

    def ack(self, hdrs):
        to = hget(hdrs, "to")
        branch = "z9hG4bK" + secrets.token_hex(8)
        msg = (f"ACK {self.target} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{self.lport};branch={branch};rport\r\n"
               f"Max-Forwards: 70\r\n"
               f'From: "{self.name.title()}" <sip:{self.aor}>;tag={self.tag}\r\n'
               f"To: {to}\r\nCall-ID: {self.callid}\r\nCSeq: {self.invite_cseq} ACK\r\n"
               f"Content-Length: 0\r\n\r\n")
        self.udp.sendto(msg.encode(), self.server)

    async def invite(self):
        await self.start_sip()
        if self.mode == "passive":
            self.lsn = await asyncio.start_server(self._accepted, "127.0.0.1", 0, limit=1 << 20)
            self.mport = self.lsn.sockets[0].getsockname()[1]
        elif self.mode == "relay":
            # through cpmd's own relay (RFC 4976): AUTH, then the Use-Path leads our path
            self.mport = 9
            relay = ("127.0.0.1", self.args.msrp_port)
            self.conn = await Conn.open(*relay, self.name)
            self.conn.uri = self.my_path()
            r2, _ = await auth(self.conn, relay, self.name, f"{self.name}-secret")
            if r2.code != 200:
                fail(f"{self.name}: AUTH answered {r2.code}")
            self.route = r2.hdr("Use-Path") + " "
        else:
            self.mport = 9  # informative only: we connect (RFC 4975 §5.4)
        code, hdrs, body = await self.request("INVITE", f"sip:{self.room}", f"<sip:{self.room}>",
                                              self.sdp(), "application/sdp")
        self.answer_hdrs, self.answer = hdrs, body
        if code != 200:
            return code
        self.to_hdr = hget(hdrs, "to")
        self.invite_cseq = self.cseq
        contact = hget(hdrs, "contact") or hget(hdrs, "m") or ""
        self.contact = contact
        m = re.search(r"<([^>]+)>", contact)
        self.target = m.group(1) if m else f"sip:{self.room}"
        self.ack(hdrs)
        self.cseq += 1
        pm = re.search(r"a=path:(\S+)", body)
        if not pm:
            fail(f"{self.name}: no a=path in the answer")
        self.their_path = pm.group(1)
        if self.mode in ("active", "relay"):
            if self.mode == "active":
                hm = re.match(r"msrp://([^:/]+):(\d+)/", self.their_path)
                self.conn = await Conn.open(hm.group(1), int(hm.group(2)), self.name, self.rcvbuf)
            self.reader = asyncio.create_task(self._read())
            tid = new_tid()
            fut = self._expect(tid)
            self.conn.send(build(tid, "SEND", [("To-Path", self.route + self.their_path),
                                               ("From-Path", self.my_path()),
                                               ("Message-ID", secrets.token_hex(8)),
                                               ("Byte-Range", "1-0/0")]))
            code = (await asyncio.wait_for(fut, TIMEOUT)).code
            if code != 200:
                fail(f"{self.name}: binding SEND answered {code}")
            self.bound.set()
        else:
            await asyncio.wait_for(self.bound.wait(), TIMEOUT)
        return 200

    async def _accepted(self, r, w):
        self.conn = Conn(r, w, self.name)
        self.reader = asyncio.create_task(self._read())

    def _expect(self, tid):
        fut = asyncio.get_running_loop().create_future()
        self.resp[tid] = fut
        return fut

    async def _read(self):
        try:
            while True:
                m = await self.conn.read_msg()
                if m.code is not None:
                    fut = self.resp.pop(m.tid, None)
                    if fut and not fut.done():
                        fut.set_result(m)
                    continue
                if m.method == "SEND":
                    if m.hdr("Failure-Report") != "no":
                        self.conn.send(build(m.tid, "200 OK", [
                            ("To-Path", m.hdr("From-Path").split()[0]),
                            ("From-Path", self.my_path())]))
                    if m.has_body:
                        # chunks of one message (Byte-Range, RFC 4975 §7.1.1)
                        mid = m.hdr("Message-ID")
                        start = int((m.hdr("Byte-Range") or "1-").split("-")[0])
                        part = self.partial.setdefault(mid, bytearray())
                        part[start - 1:start - 1 + len(m.body)] = m.body
                        if m.flag == "$":
                            self.inbox.append((m.hdr("Content-Type"), bytes(part)))
                            del self.partial[mid]
                        elif m.flag == "#":
                            del self.partial[mid]
                    elif self.mode == "passive":
                        self.bound.set()  # the focus connected and bound (RFC 4975 §5.4)
                elif m.method == "REPORT":
                    self.reports.append(m)
        except (EOFError, ConnectionResetError, asyncio.CancelledError):
            return

    def stop_reading(self):
        """The slow participant: its socket is never read again."""
        if self.reader:
            self.reader.cancel()

    async def send(self, body, ctype="text/plain", success=False, wait=True, method="SEND",
                   extra=()):
        tid = new_tid()
        hdrs = [("To-Path", self.route + self.their_path), ("From-Path", self.my_path())]
        if method == "SEND":
            b = body.encode() if isinstance(body, str) else body
            hdrs += [("Message-ID", secrets.token_hex(8)), ("Byte-Range", f"1-{len(b)}/{len(b)}")]
            if success:
                hdrs.append(("Success-Report", "yes"))
        hdrs += list(extra)
        fut = self._expect(tid) if wait else None
        if method == "SEND":
            self.conn.send(build(tid, "SEND", hdrs, b, ctype))
        else:
            self.conn.send(build(tid, method, hdrs))
        if not wait:
            return None
        await self.conn.drain()
        return (await asyncio.wait_for(fut, TIMEOUT)).code

    async def chunk(self, msgid, data, start, total, flag):
        """One chunk of a message (Byte-Range start-end/total); the answer's code."""
        tid = new_tid()
        end = start + len(data) - 1
        hdrs = [("To-Path", self.route + self.their_path), ("From-Path", self.my_path()),
                ("Message-ID", msgid), ("Byte-Range", f"{start}-{end}/{total}")]
        fut = self._expect(tid)
        self.conn.send(build(tid, "SEND", hdrs, data, "text/plain", flag))
        await self.conn.drain()
        return (await asyncio.wait_for(fut, TIMEOUT)).code

    async def nickname(self, nick):
        return await self.send(None, method="NICKNAME", extra=[("Use-Nickname", f'"{nick}"')])

    def cpim(self, to_uri, text, ctype="text/plain"):
        return (f"From: <sip:{self.aor}>\r\nTo: <{to_uri}>\r\n\r\n"
                f"Content-Type: {ctype}\r\n\r\n{text}")

    async def bye(self):
        code, _, _ = await self.request("BYE", self.target, self.to_hdr, cseq=self.cseq)
        self.cseq += 1
        return code

    def texts(self):
        """The CPIM contents received: (From line, To line, content type, text)."""
        out = []
        for ct, body in self.inbox:
            t = body.decode("utf-8", "replace")
            head, _, mime = t.partition("\r\n\r\n")
            mh, _, content = mime.partition("\r\n\r\n")
            frm = re.search(r"^From: (.*)$", head, re.M)
            to = re.search(r"^To: (.*)$", head, re.M)
            ict = re.search(r"^Content-Type: (.*)$", mh, re.M)
            out.append((frm.group(1).strip() if frm else "", to.group(1).strip() if to else "",
                        ict.group(1).strip() if ict else "", content, ct))
        return out

    async def wait_inbox(self, n, timeout=TIMEOUT):
        end = time.monotonic() + timeout
        while len(self.inbox) < n and time.monotonic() < end:
            await asyncio.sleep(0.05)
        return len(self.inbox) >= n


# ------------------------------------------------------------------ scenarios


async def scenario_room(args):
    room = f"{args.room}@{args.domain}"
    room_uri = f"sip:{room}"
    a = Part("alice", args, room)
    b = Part("bob", args, room)
    c = Part("carol", args, room, mode="passive")
    d = Part("dave", args, room, mode="relay")
    e = Part("eve", args, room, rcvbuf=4096)

    # two join; alice says three things before the others come: their history
    for p in (a, b):
        expect(await p.invite() == 200, f"{p.name} joins {room} (INVITE 200, MSRP bound)")
    expect(";isfocus" in a.contact, f"the 200's Contact has ;isfocus: {a.contact}")
    expect("a=chatroom:" in a.answer and "a=setup:passive" in a.answer,
           "the SDP answer has a=chatroom and a=setup:passive")
    for i in range(3):
        expect(await a.send(f"history {i}") == 200, f"alice: 'history {i}' answered 200")
    expect(await b.wait_inbox(3), "bob got alice's three messages live")
    frm, to, ict, text, ct = b.texts()[0]
    expect(ct == "message/cpim" and "<sip:alice@" in frm and to == f"<{room_uri}>" and
           ict == "text/plain" and text == "history 0",
           f"wrapped in CPIM with alice's identity and the room as To: {b.texts()[0]}")
    await asyncio.sleep(0.5)  # the history is written by the store worker

    for p in (c, d, e):
        expect(await p.invite() == 200, f"{p.name} joins ({p.mode}{', slow' if p.rcvbuf else ''})")
    expect(await c.wait_inbox(3) and await d.wait_inbox(3), "carol and dave got the history")
    for p in (c, d):
        got = [t[3] for t in p.texts()[:3]]
        expect(got == ["history 0", "history 1", "history 2"], f"{p.name}'s history in order: {got}")
    e.stop_reading()  # eve never reads again

    # two messages in chunks, interleaved (RFC 4975 §7.3.1): reassembled, whole
    n0 = {p.name: len(p.inbox) for p in (b, c, d)}
    m1, m2 = secrets.token_hex(8), secrets.token_hex(8)
    x1 = bytes(f"one {'a' * 29996}", "ascii")
    x2 = bytes(f"two {'b' * 19996}", "ascii")
    codes = [await a.chunk(m1, x1[:10000], 1, 30000, "+"),
             await a.chunk(m2, x2[:10000], 1, 20000, "+"),
             await a.chunk(m1, x1[10000:20000], 10001, 30000, "+"),
             await a.chunk(m2, x2[10000:], 10001, 20000, "$"),
             await a.chunk(m1, x1[20000:], 20001, 30000, "$")]
    expect(codes == [200] * 5, f"five interleaved chunks of two messages answered {codes}")
    for p in (b, c, d):
        expect(await p.wait_inbox(n0[p.name] + 2), f"{p.name} got both messages")
        got = [t[3] for t in p.texts()[n0[p.name]:]]
        expect(got == [x2.decode(), x1.decode()], f"{p.name}: both whole (the shorter ended first) {[(len(g), g[:8], g[-4:]) for g in got]}")
    # too large (chat.max_message_size 65536), total unknown: 413 once past it
    m3 = secrets.token_hex(8)
    codes = [await a.chunk(m3, b"z" * 30000, 1, "*", "+"),
             await a.chunk(m3, b"z" * 30000, 30001, "*", "+"),
             await a.chunk(m3, b"z" * 30000, 60001, "*", "+"),
             await a.chunk(m3, b"z" * 10, 90001, "*", "$")]
    expect(codes == [200, 200, 413, 413], f"a message over the bound: {codes}")
    m4 = secrets.token_hex(8)
    expect(await a.chunk(m4, b"y" * 100, 1, 100000, "+") == 413,
           "a message announced over the bound: 413 at once")

    # nicknames (RFC 7701 §7)
    expect(await a.nickname("Ally") == 200, "alice takes the nickname Ally")
    expect(await b.nickname("ally") == 425, "bob cannot take 'ally' (425)")
    expect(await b.nickname("") == 424, "an empty nickname is malformed (424)")
    expect(await b.send(b.cpim(f"sip:{a.aor}", "forged").replace(b.aor, a.aor), "message/cpim") == 403,
           "bob cannot send with alice's CPIM From (403)")

    # a private message, then a public marker
    base = {p.name: len(p.inbox) for p in (a, b, c, d)}
    expect(await a.send(a.cpim(f"sip:{c.aor}", "for carol only"), "message/cpim") == 200,
           "alice -> carol private (CPIM To carol)")
    expect(await a.send("marker") == 200, "alice: public marker")
    for p in (b, c, d):
        expect(await p.wait_inbox(base[p.name] + (2 if p is c else 1)), f"{p.name} got the marker")
    expect([t[3] for t in c.texts()[base["carol"]:]] == ["for carol only", "marker"],
           "carol got the private message, then the marker")
    for p in (b, d):
        texts = [t[3] for t in p.texts()[base[p.name]:]]
        expect(texts == ["marker"], f"{p.name} did not get the private message: {texts}")
    expect('"Ally" <sip:alice@' in c.texts()[-1][0], "the nickname is the CPIM From display name")

    # isComposing (RFC 3994) fans out
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<isComposing xmlns="urn:ietf:params:xml:ns:'
           'im-iscomposing"><state>active</state><contenttype>text/plain</contenttype>'
           '</isComposing>')
    n0 = {p.name: len(p.inbox) for p in (a, c, d)}
    expect(await b.send(xml, "application/im-iscomposing+xml") == 200, "bob is composing")
    for p in (a, c, d):
        expect(await p.wait_inbox(n0[p.name] + 1), f"{p.name} got bob's isComposing")
        expect(p.texts()[-1][2] == "application/im-iscomposing+xml",
               f"{p.name}: isComposing inside CPIM")

    # Success-Report from the switch's own view (RFC 4975 §7.1.2)
    n1 = {p.name: len(p.inbox) for p in (a, b, c)}
    expect(await d.send("report please", success=True) == 200, "dave asks for a success report")
    for p in (a, b, c):
        expect(await p.wait_inbox(n1[p.name] + 1), f"{p.name} got dave's message")
    end = time.monotonic() + TIMEOUT
    while not d.reports and time.monotonic() < end:
        await asyncio.sleep(0.05)
    expect(d.reports and "200" in (d.reports[0].hdr("Status") or ""), "dave got REPORT 200")

    # the flood: four senders, eve never reads; everyone else gets all, in order
    n = args.count
    size = args.size
    start = {p.name: len(p.inbox) for p in (a, b, c, d)}

    async def flood(p):
        pad = "x" * size
        for i in range(n):
            await p.send(f"{p.name} {i} {pad}", wait=False)
            if i % 16 == 15:
                await p.conn.drain()
        await p.conn.drain()

    t0 = time.monotonic()
    await asyncio.gather(*(flood(p) for p in (a, b, c, d)))
    for p in (a, b, c, d):
        ok_all = await p.wait_inbox(start[p.name] + 3 * n, 60)
        expect(ok_all, f"{p.name} got the {3 * n} messages of the three others "
                       f"({len(p.inbox) - start[p.name]})")
        seqs = {}
        good = True
        for _, _, _, text, _ in p.texts()[start[p.name]:]:
            who, i = text.split(" ")[:2]
            if int(i) != seqs.get(who, -1) + 1:
                good = False
            seqs[who] = int(i)
        expect(good and len(seqs) == 3, f"{p.name}: every sender's messages in order, none lost")
    dt = time.monotonic() - t0
    ok(f"flood: {4 * n} messages of {size} B fanned out to 3 each in {dt:.2f} s "
       f"({12 * n / dt:.0f} deliveries/s)")
    end = time.monotonic() + TIMEOUT
    while not e.got_bye and time.monotonic() < end:
        await asyncio.sleep(0.05)
    expect(e.got_bye, "eve (slow) was dropped: the focus sent her a BYE")

    # BYE: dave leaves, gets nothing more
    expect(await d.bye() == 200, "dave leaves (BYE 200)")
    nd = len(d.inbox)
    nb = len(b.inbox)
    expect(await a.send("after dave") == 200, "alice: 'after dave'")
    expect(await b.wait_inbox(nb + 1), "bob still gets messages")
    await asyncio.sleep(0.3)
    expect(len(d.inbox) == nd, "dave, gone, got nothing")
    for p in (a, b, c):
        expect(await p.bye() == 200, f"{p.name} leaves")
    return 0


async def scenario_refused(args):
    room = f"{args.room}@{args.domain}"
    p = Part(args.user, args, room)
    code = await p.invite()
    expect(code == args.expect, f"{p.aor} INVITE to {room}: {code} (expected {args.expect})")
    if code == 200:
        expect(await p.bye() == 200, f"{p.name} leaves")
    return 0


async def scenario_stay(args):
    """Join, say so on stdout, and wait (bounded) for the focus's BYE or the end of MSRP."""
    room = f"{args.room}@{args.domain}"
    p = Part(args.user, args, room)
    expect(await p.invite() == 200, f"{p.aor} joins {room}")
    print("joined", flush=True)
    end = time.monotonic() + 30
    while not p.got_bye and not p.reader.done() and time.monotonic() < end:
        await asyncio.sleep(0.05)
    expect(p.got_bye or p.reader.done(), "the server ended the participation (BYE or MSRP closed)")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["room", "refused", "stay"])
    ap.add_argument("--sip-port", type=int, required=True)
    ap.add_argument("--msrp-port", type=int, default=0)
    ap.add_argument("--domain", default="example.test")
    ap.add_argument("--room", default="lobby")
    ap.add_argument("--user", default="mallory")
    ap.add_argument("--expect", type=int, default=403)
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--size", type=int, default=4000)
    args = ap.parse_args()
    fn = {"room": scenario_room, "refused": scenario_refused, "stay": scenario_stay}[args.scenario]
    try:
        sys.exit(asyncio.run(asyncio.wait_for(fn(args), 180)))
    except asyncio.TimeoutError:
        fail("scenario timed out")


if __name__ == "__main__":
    main()
