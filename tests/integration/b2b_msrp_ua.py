#!/usr/bin/env python3
"""b2b_msrp_ua.py — an MSRP chat anchored by cpmd's B2BUA (issue 4, the standard form:
m=message TCP/MSRP with a=cpm-anchor), for tests/integration/t_b2b_msrp.sh.  Python 3
standard library only (asyncio); SIP over UDP and MSRP framing come from
chat_room_peer.py / msrp_peer.py.

  session   bob registers and listens (a=setup:passive); alice INVITEs bob with
            a=cpm-anchor[:MODE] and connects to the server's a=path (active).  Checks:
            bob's INVITE comes from the server (alice's From, a new Call-ID, the server's
            a=path, no a=cpm-anchor); alice's answer names the server; the server binds
            to bob; alice's SEND reaches bob and bob's reply reaches alice, each through
            the server; alice's BYE reaches bob.  With --leave (S&F): bob hangs up
            first and alice's next SEND is still answered 200 (stored for bob).  With
            --bob-active S: bob answers a=setup:active and connects S seconds late;
            alice's first SEND, written before, reaches bob once he is bound.
  deferred  bob is not registered: alice's INVITE is answered 200 by the server with a
            Warning; her SENDs are answered 200 (stored); then BYE.

Prints "ok: ..." per check and exits 0 when all held, else "FAIL: ..." and 1.
"""
import argparse
import asyncio
import os
import re
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_room_peer import Part, SipProto, parse_sip, hget, TIMEOUT  # noqa: E402
from msrp_peer import Conn, build, new_tid, fail, ok, expect  # noqa: E402


class Caller(Part):
    def __init__(self, name, args, callee, mode):
        super().__init__(name, args, callee, "active")
        self.anchor = mode

    def sdp(self):
        if self.anchor == "none":  # no request: b2bua.anchor=always anchors it anyway
            return super().sdp()
        attr = "a=cpm-anchor\r\n" if self.anchor == "instant" else f"a=cpm-anchor:{self.anchor}\r\n"
        return super().sdp() + attr


class CalleeProto(SipProto):
    """bob's SIP side: answers the server's INVITE, ACK, BYE; 200 to everything else."""

    def datagram_received(self, data, addr):
        first, hdrs, body = parse_sip(data)
        part = self.part
        if first.startswith("SIP/2.0 "):
            return super().datagram_received(data, addr)
        method = first.split(" ")[0]
        if method != "INVITE":
            if method == "ACK":
                part.acked = True
                return
            if method == "BYE":
                part.bye_call_id = hget(hdrs, "call-id")
            return super().datagram_received(data, addr)
        if part.invite_req is None:
            part.invite_req = (first, hdrs, body)
            part.our_tag = secrets.token_hex(5)
            if part.active_delay is not None:
                asyncio.get_running_loop().create_task(part.connect_later(body))
        setup = "active" if part.active_delay is not None else "passive"
        sdp = ("v=0\r\no=bob 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               f"m=message {part.mport} TCP/MSRP *\r\n"
               "a=accept-types:text/plain message/cpim\r\n"
               f"a=path:{part.my_path()}\r\na=setup:{setup}\r\n")
        resp = "SIP/2.0 200 OK\r\n"
        for n in ("via", "from", "to", "call-id", "cseq", "record-route"):
            for hn, hv in hdrs:
                if hn == n:
                    if n == "to" and "tag=" not in hv:
                        hv += f";tag={part.our_tag}"
                    resp += f"{n.title()}: {hv}\r\n"
        resp += (f"Contact: <sip:bob@127.0.0.1:{part.lport}>\r\nContent-Type: application/sdp\r\n"
                 f"Content-Length: {len(sdp)}\r\n\r\n{sdp}")
        self.transport.sendto(resp.encode(), addr)


class Callee(Part):
    def __init__(self, name, args):
        super().__init__(name, args, None, "passive")
        self.invite_req = None
        self.acked = False
        self.bye_call_id = None
        self.active_delay = args.bob_active

    async def connect_later(self, offer):
        """a=setup:active (RFC 6135): connect to the server's path, late, and bind."""
        await asyncio.sleep(self.active_delay)
        path = re.search(r"a=path:(\S+)", offer).group(1)
        hm = re.match(r"msrp://([^:/]+):(\d+)/", path)
        self.conn = await Conn.open(hm.group(1), int(hm.group(2)), self.name)
        self.reader = asyncio.create_task(self._read())
        tid = new_tid()
        fut = self._expect(tid)
        self.conn.send(build(tid, "SEND", [("To-Path", path), ("From-Path", self.my_path()),
                                           ("Message-ID", secrets.token_hex(8)),
                                           ("Byte-Range", "1-0/0")]))
        code = (await asyncio.wait_for(fut, TIMEOUT)).code
        expect(code == 200, f"bob's binding SEND answered {code}")
        self.bound.set()

    async def start(self):
        loop = asyncio.get_running_loop()
        self.udp, self.proto = await loop.create_datagram_endpoint(
            lambda: CalleeProto(self), local_addr=("127.0.0.1", 0))
        self.lport = self.udp.get_extra_info("sockname")[1]
        self.server = ("127.0.0.1", self.args.sip_port)
        self.lsn = await asyncio.start_server(self._accepted, "127.0.0.1", 0, limit=1 << 20)
        self.mport = self.lsn.sockets[0].getsockname()[1]
        code, _, _ = await self.request("REGISTER", f"sip:{self.args.domain}", f"<sip:{self.aor}>")
        expect(code == 200, f"{self.aor} registers ({code})")

    def dialog_from_invite(self):
        _, hdrs, body = self.invite_req
        self.their_path = re.search(r"a=path:(\S+)", body).group(1)
        m = re.search(r"<([^>]+)>", hget(hdrs, "contact") or "")
        self.target = m.group(1)
        self.callid = hget(hdrs, "call-id")
        self.to_hdr = hget(hdrs, "from")
        self.tag = self.our_tag


async def wait_for(cond, timeout=TIMEOUT):
    end = asyncio.get_running_loop().time() + timeout
    while not cond() and asyncio.get_running_loop().time() < end:
        await asyncio.sleep(0.05)
    return cond()


async def scenario_session(args):
    callee = f"bob@{args.domain}"
    bob = Callee("bob", args)
    await bob.start()
    alice = Caller("alice", args, callee, args.mode)
    code = await alice.invite()
    expect(code == 200, f"alice's anchored INVITE answered {code}")
    first, hdrs, body = bob.invite_req
    expect(re.search(r"alice@", hget(hdrs, "from") or ""), "bob's INVITE comes from alice")
    expect(hget(hdrs, "call-id") != alice.callid, "bob's leg has a Call-ID of its own")
    server_path = re.search(r"a=path:(\S+)", body).group(1)
    expect(server_path.startswith(f"msrp://127.0.0.1:{args.msrp_port}/"),
           f"bob's offer names the server's a=path ({server_path})")
    expect("cpm-anchor" not in body and alice.my_path() not in body,
           "bob's offer has neither a=cpm-anchor nor alice's path")
    ok("bob's INVITE: from the server, alice's From, the server's a=path")
    expect(alice.their_path.startswith(f"msrp://127.0.0.1:{args.msrp_port}/") and
           alice.their_path != server_path, f"alice's answer names the server ({alice.their_path})")
    expect(f"m=message {args.msrp_port} TCP/MSRP" in alice.answer, "alice's answer: m= port is the server's")
    expect(bob.my_path() not in alice.answer, "alice's answer does not name bob")
    ok("alice's answer names the server")
    if args.bob_active is not None:
        # bob connects late: alice writes first, the server keeps it until bob binds
        expect(not bob.bound.is_set(), "bob is not bound yet")
        code = await alice.send("hello bob, over MSRP")
        expect(code == 200, f"alice's SEND before bob bound answered {code}")
        ok("alice wrote before bob's session was bound")
    expect(await wait_for(lambda: bob.bound.is_set()), "bob's session with the server is bound")
    ok("the server's session with bob is bound")
    bob.dialog_from_invite()
    if args.bob_active is None:
        code = await alice.send("hello bob, over MSRP")
        expect(code == 200, f"alice's SEND answered {code}")
    expect(await bob.wait_inbox(1), "bob receives alice's message")
    expect(bob.inbox[0][1] == b"hello bob, over MSRP", f"bob got {bob.inbox[0]!r}")
    ok("alice -> bob through the server")
    code = await bob.send("hi alice")
    expect(code == 200, f"bob's SEND answered {code}")
    expect(await alice.wait_inbox(1), "alice receives bob's reply")
    expect(alice.inbox[0][1] == b"hi alice", f"alice got {alice.inbox[0]!r}")
    ok("bob -> alice through the server")
    if args.leave:
        bob.cseq = 2
        code = await bob.bye()
        expect(code == 200, f"bob's BYE answered {code}")
        await asyncio.sleep(0.5)
        expect(not alice.got_bye, "S&F: alice's leg stays when bob leaves")
        code = await alice.send("are you still there?")
        expect(code == 200, f"alice's SEND after bob left answered {code}")
        ok("S&F: alice's message after bob left is taken (stored for him)")
    code = await alice.bye()
    expect(code == 200, f"alice's BYE answered {code}")
    if not args.leave:
        expect(await wait_for(lambda: bob.bye_call_id is not None), "bob gets the BYE")
        ok("alice's BYE relayed to bob")
    return 0


async def scenario_deferred(args):
    alice = Caller("alice", args, f"bob@{args.domain}", args.mode)
    code = await alice.invite()
    expect(code == 200, f"alice's INVITE to offline bob answered {code}")
    warn = hget(alice.answer_hdrs, "warning") or ""
    expect("is offline" in warn, f"Warning: {warn!r}")
    ok(f"the server answered for bob: {warn}")
    for text in ("msrp one", "msrp two"):
        code = await alice.send(text)
        expect(code == 200, f"SEND {text!r} answered {code}")
    ok("alice's SENDs taken")
    await asyncio.sleep(0.3)
    code = await alice.bye()
    expect(code == 200, f"BYE answered {code}")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["session", "deferred"])
    ap.add_argument("--sip-port", type=int, required=True)
    ap.add_argument("--msrp-port", type=int, required=True)
    ap.add_argument("--domain", default="example.test")
    ap.add_argument("--mode", default="instant",
                    help="a=cpm-anchor value: instant or S&F; none: no a=cpm-anchor")
    ap.add_argument("--leave", action="store_true", help="bob hangs up first (S&F)")
    ap.add_argument("--bob-active", type=float, default=None, metavar="SECONDS",
                    help="bob answers a=setup:active and connects this late")
    args = ap.parse_args()
    fn = {"session": scenario_session, "deferred": scenario_deferred}[args.scenario]
    try:
        sys.exit(asyncio.run(asyncio.wait_for(fn(args), 60)))
    except asyncio.TimeoutError:
        fail("scenario timed out")


if __name__ == "__main__":
    main()
