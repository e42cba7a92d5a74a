#!/usr/bin/env python3
"""msrp_peer.py — MSRP endpoints (RFC 4975) that use an RFC 4976 relay, for the
integration tests and the benchmark.  Python 3 standard library only (asyncio).

Each subcommand is one scenario against the relay; it prints what it checks and exits
0 when everything held, 1 otherwise:

  auth      AUTH without credentials (401 + challenge), then with them (200 + Use-Path,
            or the code given with --expect, e.g. 401 for --password wrong, 423)
  chat      alice and bob exchange messages through the relay (both AUTHed, or bob
            direct: listening, or connecting first with an empty SEND); chunked bodies
            checked byte for byte; optional slow reader for backpressure
  chain     AUTH to a second relay (--outer) through the first: forwarded, answered back
  cut       alice goes away mid-chunk: bob's copy ends with '#', nothing stays behind
  errors    481 for unknown sessions and foreign URIs, 403 for another client's
            session, 400 for a request without From-Path, no answer to REPORT
  report    a next hop that does not answer (408 REPORT), answers 481 (REPORT 481),
            cannot be reached (408 response)
  limits    the connection limit and the idle timeout
  bench     relay throughput (MB/s) and 1 KB messages per second over one session,
            with full endpoints (every chunk parsed and checked)
  blast     the same with a light client (threads, blocking sockets, prebuilt chunks,
            the receiver counts end-lines and answers by regex), so that the relay
            rather than Python is measured

Common options: --relay HOST:PORT (the relay), --status URL (the server's
/api/v1/status, read for the relay's counters).
"""
import argparse
import asyncio
import hashlib
import json
import os
import re
import secrets
import socket
import sys
import time
import urllib.request

# ------------------------------------------------------------------ framing


class Msg:
    """One MSRP message: request (method) or response (code)."""

    def __init__(self):
        self.tid = ""
        self.method = None
        self.code = None
        self.comment = ""
        self.headers = []  # (name, value) in order
        self.body = b""
        self.flag = "$"
        self.has_body = False

    def hdr(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def hdrs(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def __repr__(self):
        what = self.method if self.method else f"{self.code} {self.comment}"
        return f"<MSRP {self.tid} {what} {len(self.body)}B {self.flag}>"


def build(tid, first, headers, body=None, ctype=None, flag="$"):
    """The bytes of a message.  first: "SEND" or "200 OK"."""
    out = [f"MSRP {tid} {first}\r\n"]
    for n, v in headers:
        out.append(f"{n}: {v}\r\n")
    head = "".join(out).encode()
    if body is not None and ctype:
        head += f"Content-Type: {ctype}\r\n\r\n".encode()
        return head + body + f"\r\n-------{tid}{flag}\r\n".encode()
    return head + f"-------{tid}{flag}\r\n".encode()


def new_tid():
    return secrets.token_hex(8)


class Conn:
    """An MSRP connection: framed reads, raw writes."""

    def __init__(self, reader, writer, name=""):
        self.r, self.w, self.name = reader, writer, name
        self.buf = bytearray()
        self.pos = 0

    @classmethod
    async def open(cls, host, port, name="", rcvbuf=0):
        if rcvbuf:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.setblocking(False)
            await asyncio.get_running_loop().sock_connect(s, (host, port))
            r, w = await asyncio.open_connection(sock=s, limit=1 << 20)
        else:
            r, w = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(r, w, name)

    async def _fill(self, n=1 << 16):
        data = await self.r.read(n)
        if not data:
            raise EOFError(f"{self.name}: connection closed")
        self.buf += data

    async def read_msg(self, chunk=1 << 16, delay=0.0, on_headers=None):
        """The next message (body whole).  delay: sleep between reads (a slow reader).
        on_headers(msg): called once the header section is read, before the body."""
        m = Msg()
        if self.pos > (1 << 20):  # offsets below are absolute: compact only here
            del self.buf[: self.pos]
            self.pos = 0
        # start line
        while True:
            e = self.buf.find(b"\r\n", self.pos)
            if e >= 0:
                break
            await self._fill(chunk)
            if delay:
                await asyncio.sleep(delay)
        line = self.buf[self.pos : e].decode("utf-8", "replace")
        parts = line.split(" ", 3)
        if len(parts) < 3 or parts[0] != "MSRP":
            raise ValueError(f"{self.name}: bad start line {line!r}")
        m.tid = parts[1]
        if parts[2].isdigit():
            m.code = int(parts[2])
            m.comment = parts[3] if len(parts) > 3 else ""
        else:
            m.method = parts[2]
        p = e + 2
        endl = ("-------" + m.tid).encode()
        # header lines, until an empty line (a body) or the end-line
        while True:
            e = self.buf.find(b"\r\n", p)
            while e < 0:
                await self._fill(chunk)
                e = self.buf.find(b"\r\n", p)
            line = bytes(self.buf[p:e])
            if line == b"":
                m.has_body = True
                p = e + 2
                if on_headers:
                    on_headers(m)
                break
            if line.startswith(endl) and len(line) == len(endl) + 1:
                m.flag = chr(line[-1])
                self.pos = e + 2
                return m
            n, _, v = line.decode("utf-8", "replace").partition(":")
            m.headers.append((n.strip(), v.strip()))
            p = e + 2
        pat = b"\r\n" + endl
        scan = p
        while True:
            i = self.buf.find(pat, scan)
            if i >= 0 and len(self.buf) >= i + len(pat) + 3:
                f = chr(self.buf[i + len(pat)])
                if f in "$+#" and self.buf[i + len(pat) + 1 : i + len(pat) + 3] == b"\r\n":
                    m.body = bytes(self.buf[p:i])
                    m.flag = f
                    self.pos = i + len(pat) + 3
                    return m
                scan = i + 1
                continue
            if i < 0:
                scan = max(p, len(self.buf) - len(pat))
            await self._fill(chunk)
            if delay:
                await asyncio.sleep(delay)

    def send(self, data):
        self.w.write(data)

    async def drain(self):
        await self.w.drain()

    def close(self):
        try:
            self.w.close()
        except Exception:
            pass

    async def closed_by_peer(self, timeout):
        """True if the peer closes the connection within timeout seconds."""
        try:
            data = await asyncio.wait_for(self.r.read(1 << 16), timeout)
            while data:
                data = await asyncio.wait_for(self.r.read(1 << 16), timeout)
            return True
        except (asyncio.TimeoutError, TimeoutError):
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True


# ------------------------------------------------------------------ digest

def parse_challenge(v):
    scheme, _, rest = v.partition(" ")
    params = dict(
        (k.lower(), a if a else b)
        for k, a, b in re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', rest)
    )
    return scheme, params


def authorization(ch, user, password, uri, nc=1):
    alg = ch.get("algorithm", "MD5")
    h = hashlib.sha256 if alg.upper() == "SHA-256" else hashlib.md5

    def H(s):
        return h(s.encode()).hexdigest()

    cnonce = secrets.token_hex(8)
    ha1 = H(f"{user}:{ch['realm']}:{password}")
    ha2 = H(f"AUTH:{uri}")
    ncs = f"{nc:08x}"
    resp = H(f"{ha1}:{ch['nonce']}:{ncs}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{user}", realm="{ch["realm"]}", nonce="{ch["nonce"]}", '
        f'uri="{uri}", response="{resp}", algorithm={alg}, qop=auth, nc={ncs}, '
        f'cnonce="{cnonce}"'
    )


# ------------------------------------------------------------------ endpoints

def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def ok(msg):
    print(f"ok: {msg}", flush=True)


def expect(cond, msg):
    if not cond:
        fail(msg)
    ok(msg)


def relay_uri(relay):
    return f"msrp://{relay[0]}:{relay[1]};tcp"


def fake_uri(name, port=9):
    """An endpoint URI behind a relay: the relay reaches it on the AUTH connection."""
    return f"msrp://{name}.invalid:{port}/{secrets.token_hex(6)};tcp"


async def auth(conn, relay, user, password, expires=None, algorithm=None, to=None):
    """AUTH, 401, AUTH with credentials.  Returns (final response, first response)."""
    to = to or relay_uri(relay)
    me = conn.uri
    hdrs = [("To-Path", to), ("From-Path", me)]
    if expires is not None:
        hdrs.append(("Expires", str(expires)))
    tid = new_tid()
    conn.send(build(tid, "AUTH", hdrs))
    r1 = await conn.read_msg()
    if r1.code != 401:
        return r1, r1
    chs = [parse_challenge(v)[1] for v in r1.hdrs("WWW-Authenticate")]
    ch = chs[0]
    for c in chs:
        if algorithm and c.get("algorithm", "MD5").upper() == algorithm.upper():
            ch = c
    tid = new_tid()
    conn.send(build(tid, "AUTH", hdrs + [("Authorization", authorization(ch, user, password, to))]))
    r2 = await conn.read_msg()
    return r2, r1


class Endpoint:
    """A client with its own URI and a connection (to its relay, or accepted/opened
    directly).  Collects received SENDs, answers them, and sorts responses by tid."""

    def __init__(self, name, conn, uri):
        self.name, self.conn, self.uri = name, conn, uri
        conn.uri = uri
        self.path = uri  # its a=path: relays first
        self.out_route = []  # its own relays, used in front of the peer's path
        self.responses = {}  # tid -> Msg
        self.reports = []
        self.received = {}  # Message-ID -> dict(total, parts, chunks)
        self.requests = []  # non-SEND requests seen
        self.answer = 200  # status for received SENDs (None: never answer)
        self.early = False  # answer errors once the headers are in (before the body)
        self.cut = []  # Message-IDs of chunks that ended with '#'
        self.read_delay = 0.0
        self.read_chunk = 1 << 16
        self.task = None
        self.event = asyncio.Event()
        self.closed = False

    def start(self):
        self.task = asyncio.ensure_future(self._run())

    async def _run(self):
        try:
            while True:
                m = await self.conn.read_msg(self.read_chunk, self.read_delay, self._early)
                self._handle(m)
                self.event.set()
        except (EOFError, ConnectionResetError, asyncio.IncompleteReadError):
            self.closed = True
            self.event.set()

    def _answer(self, m):
        to = m.hdr("From-Path").split()[0]
        me = m.hdr("To-Path").split()[0]
        self.conn.send(build(m.tid, f"{self.answer} {'OK' if self.answer == 200 else 'Error'}",
                             [("To-Path", to), ("From-Path", me)]))

    def _early(self, m):
        if self.early and m.method == "SEND" and self.answer not in (None, 200):
            self._answer(m)
            m.answered = True

    def _handle(self, m):
        if m.flag == "#":
            self.cut.append(m.hdr("Message-ID"))
        if m.code is not None:
            self.responses[m.tid] = m
            return
        if m.method == "REPORT":
            self.reports.append(m)
            return
        if m.method != "SEND":
            self.requests.append(m)
            return
        mid = m.hdr("Message-ID")
        fr = (m.hdr("Failure-Report") or "yes").lower()
        if (self.answer is not None and fr != "no" and not (fr == "partial" and self.answer == 200)
                and not getattr(m, "answered", False)):
            self._answer(m)
        if not m.body and not m.has_body:
            return  # an empty SEND (R66: it binds the connection)
        rng = m.hdr("Byte-Range") or f"1-{len(m.body)}/{len(m.body)}"
        start, _, tot = rng.partition("-")
        total = tot.partition("/")[2]
        r = self.received.setdefault(mid, {"parts": {}, "total": None, "bytes": 0,
                                           "from": m.hdr("From-Path"), "to": m.hdr("To-Path"),
                                           "ctype": m.hdr("Content-Type"), "chunks": 0})
        if total != "*":
            r["total"] = int(total)
        r["parts"][int(start)] = m.body
        r["bytes"] += len(m.body)
        r["chunks"] += 1

    def message(self, mid):
        """The reassembled body of a completely received message, or None."""
        r = self.received.get(mid)
        if not r or r["total"] is None or r["bytes"] < r["total"]:
            return None
        out = bytearray(r["total"])
        for s, b in r["parts"].items():
            out[s - 1 : s - 1 + len(b)] = b
        return bytes(out)

    async def wait_for(self, cond, timeout, what):
        end = time.monotonic() + timeout
        while not cond():
            left = end - time.monotonic()
            if left <= 0 or self.closed and not cond():
                fail(f"{self.name}: timed out waiting for {what}")
            self.event.clear()
            try:
                await asyncio.wait_for(self.event.wait(), min(left, 0.5))
            except (asyncio.TimeoutError, TimeoutError):
                pass

    def to_path(self, peer_path):
        return " ".join(self.out_route + [peer_path])

    async def send_message(self, peer_path, body, chunk=0, ctype="text/plain",
                           failure_report=None, success_report=None, mid=None):
        """Send one message in chunks; returns (Message-ID, [tids])."""
        mid = mid or secrets.token_hex(10)
        total = len(body)
        chunk = chunk or max(total, 1)
        tids = []
        pos = 0
        while True:
            part = body[pos : pos + chunk]
            last = pos + len(part) >= total
            tid = new_tid()
            while ("-------" + tid).encode() in part:
                tid = new_tid()
            hdrs = [("To-Path", self.to_path(peer_path)), ("From-Path", self.uri),
                    ("Message-ID", mid),
                    ("Byte-Range", f"{pos + 1}-{pos + len(part)}/{total}")]
            if failure_report:
                hdrs.append(("Failure-Report", failure_report))
            if success_report:
                hdrs.append(("Success-Report", success_report))
            self.conn.send(build(tid, "SEND", hdrs, part, ctype, "$" if last else "+"))
            await self.conn.drain()
            tids.append(tid)
            pos += len(part)
            if last:
                break
        return mid, tids


def status(url):
    if not url:
        return {}
    with urllib.request.urlopen(url, timeout=5) as f:
        return json.load(f).get("msrp", {})


async def relay_endpoint(name, relay, user, password, rcvbuf=0):
    conn = await Conn.open(relay[0], relay[1], name, rcvbuf)
    ep = Endpoint(name, conn, fake_uri(name))
    r, _ = await auth(conn, relay, user, password)
    if r.code != 200:
        fail(f"{name}: AUTH got {r.code} {r.comment}")
    use = r.hdr("Use-Path")
    ep.path = f"{use} {ep.uri}"
    ep.out_route = [use]
    ep.start()
    return ep


# ------------------------------------------------------------------ scenarios

async def sc_auth(a):
    relay = a.relay
    conn = await Conn.open(relay[0], relay[1], "auth")
    conn.uri = fake_uri("client")
    final, first = await auth(conn, relay, a.user, a.password, a.expires, a.algorithm)
    if a.expect == 423:
        expect(first.code == 423, f"AUTH with Expires {a.expires} -> 423 (got {first.code})")
        mn, mx = first.hdr("Min-Expires"), first.hdr("Max-Expires")
        expect(mn is not None or mx is not None, f"423 carries Min-Expires/Max-Expires ({mn}/{mx})")
        print(f"MIN_EXPIRES={mn or ''} MAX_EXPIRES={mx or ''}")
        return
    expect(first.code == 401, f"AUTH without credentials -> 401 (got {first.code})")
    chs = first.hdrs("WWW-Authenticate")
    expect(chs and all(c.startswith("Digest ") and 'qop="auth"' in c for c in chs),
           f"401 carries Digest challenges with qop=auth ({len(chs)})")
    expect(first.hdr("To-Path") == conn.uri and first.hdr("From-Path") == relay_uri(relay),
           "401 paths: To-Path = the client, From-Path = the relay")
    expect(final.code == a.expect, f"AUTH with credentials -> {a.expect} (got {final.code} {final.comment})")
    if final.code == 200:
        use = final.hdr("Use-Path") or ""
        m = re.fullmatch(r"msrp://([^/]+)/([0-9a-f]{20});tcp", use)
        expect(m is not None and m.group(1) == f"{relay[0]}:{relay[1]}",
               f"200 carries Use-Path with a session of the relay ({use})")
        exp = final.hdr("Expires")
        want = a.expires if a.expires is not None else None
        expect(exp is not None and exp.isdigit() and (want is None or int(exp) == want),
               f"200 carries Expires ({exp})")
        print(f"USE_PATH={use} EXPIRES={exp}")
        # a refresh of the same session on the same connection
        r2, _ = await auth(conn, relay, a.user, a.password, a.expires, a.algorithm, to=use)
        expect(r2.code == 200 and r2.hdr("Use-Path") == use, "AUTH to the Use-Path refreshes it")
    if final.code == 401:
        expect(final.hdrs("WWW-Authenticate"), "the 401 to bad credentials challenges again")
    conn.close()


async def sc_chat(a):
    relay = a.relay
    st0 = status(a.status)
    alice = await relay_endpoint("alice", relay, a.alice[0], a.alice[1])
    server = None
    bob_conns = []
    if a.bob_mode == "relay":
        # bob on this relay, or on another one (--bob-relay: e.g. Kamailio's msrp module)
        bob = await relay_endpoint("bob", a.bob_relay or relay, a.bob[0], a.bob[1], a.bob_rcvbuf)
    else:
        # bob has no relay: it listens (passive), or it connects to alice's relay
        # itself and binds the connection with an empty SEND (R66)
        accepted = asyncio.Queue()

        async def on_conn(r, w):
            await accepted.put(Conn(r, w, "bob"))

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        if a.bob_rcvbuf:
            for s in server.sockets:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.bob_rcvbuf)
        if a.bob_mode == "connect":
            server.close()  # nobody listens there: the relay must use bob's connection
            await server.wait_closed()
            server = None
        uri = f"msrp://127.0.0.1:{port}/{secrets.token_hex(6)};tcp"
        bob = None
        if a.bob_mode == "connect":
            conn = await Conn.open(relay[0], relay[1], "bob", a.bob_rcvbuf)
            bob = Endpoint("bob", conn, uri)
            bob.start()
            tid = new_tid()
            conn.send(build(tid, "SEND", [("To-Path", alice.path), ("From-Path", uri),
                                          ("Message-ID", secrets.token_hex(8)),
                                          ("Byte-Range", "1-0/0")]))
            await bob.wait_for(lambda: tid in bob.responses, 10, "200 to the empty SEND")
            expect(bob.responses[tid].code == 200, "bob's empty SEND through the relay -> 200")

    if a.bob_mode == "listen":
        # alice speaks first; the relay connects to bob
        pass
    bob_path = bob.path if bob else None
    if bob is None:
        bob_path = uri
    if a.slow and bob:
        bob.read_delay, bob.read_chunk = a.slow / 1000.0, 16384

    sent = []
    t0 = time.monotonic()
    for i in range(a.count):
        body = os.urandom(a.size) if a.binary else (f"message {i} ".encode() * (a.size // 10 + 1))[: a.size]
        mid, tids = await alice.send_message(bob_path, body, a.chunk,
                                             "application/octet-stream" if a.binary else "text/plain")
        sent.append((mid, tids, hashlib.sha256(body).hexdigest(), body))
        if bob is None:
            conn = await asyncio.wait_for(accepted.get(), 10)
            bob = Endpoint("bob", conn, uri)
            if a.slow:
                bob.read_delay, bob.read_chunk = a.slow / 1000.0, 16384
            bob.start()
            ok("the relay connected to bob (passive, listening)")
    ntids = sum(len(t) for _, t, _, _ in sent)
    await alice.wait_for(lambda: all(t in alice.responses for _, ts, _, _ in sent for t in ts),
                         a.timeout, "the relay's 200s")
    codes = {alice.responses[t].code for _, ts, _, _ in sent for t in ts}
    expect(codes == {200}, f"alice got 200 from the relay for each of {ntids} chunks ({codes})")
    await bob.wait_for(lambda: all(bob.message(m) is not None for m, _, _, _ in sent), a.timeout,
                       "every message at bob")
    dt = time.monotonic() - t0
    for mid, tids, h, body in sent:
        got = bob.message(mid)
        expect(hashlib.sha256(got).hexdigest() == h,
               f"bob got message {mid[:8]} whole ({len(got)} bytes in {bob.received[mid]['chunks']} chunks)")
    r = bob.received[sent[0][0]]
    fp = r["from"].split()
    if a.bob_mode == "relay":
        expect(r["to"] == bob.uri, f"bob's To-Path is bob alone ({r['to']})")
        # another relay may put its URI twice (Kamailio does, when it forwards to itself)
        expect(len(fp) >= 3 and fp[-1] == alice.uri and fp[0] == bob.out_route[0] and fp[-2] == alice.out_route[0],
               f"bob's From-Path: his relay URI, alice's relay URI, alice ({r['from']})")
    else:
        expect(r["to"] == bob.uri and len(fp) == 2 and fp[0] == alice.out_route[0] and fp[1] == alice.uri,
               f"bob's paths: To-Path bob, From-Path alice's relay URI then alice ({r['from']})")
    print(f"RATE={a.count * a.size / dt / 1e6:.2f}MB/s")
    # bob answers alice
    if bob.conn.uri and a.reply:
        bob.out_route = bob.out_route if a.bob_mode == "relay" else []
        body = b"hello alice, from bob"
        mid, tids = await bob.send_message(alice.path, body)
        await alice.wait_for(lambda: alice.message(mid) is not None, 10, "bob's reply")
        expect(alice.message(mid) == body, "alice got bob's reply through the relay")
        await bob.wait_for(lambda: tids[0] in bob.responses, 10, "200 to bob's reply")
        expect(bob.responses[tids[0]].code == 200, "bob's reply -> 200 from the next hop")
    st = status(a.status)
    if st:
        print("STATUS=" + json.dumps(st))
        grew = st["bytes"] - st0.get("bytes", 0)
        expect(grew >= a.count * a.size, f"the relay counted {grew} body bytes relayed")
        if a.max_buffered:
            expect(st["buffered_max"] <= a.max_buffered,
                   f"the relay never held more than {a.max_buffered} bytes (max {st['buffered_max']})")
        if a.expect_stalls:
            expect(st.get("stalls", 0) > 0, f"backpressure engaged ({st.get('stalls')} waits)")
    alice.conn.close()
    bob.conn.close()
    if server:
        server.close()


async def sc_chain(a):
    """AUTH to a second relay through the first one (RFC 4976 §5: a client with two
    relays AUTHs with each, the outer one through the inner one): the AUTH is
    forwarded, its response comes back under the client's transaction id."""
    relay, outer = a.relay, a.outer
    conn = await Conn.open(relay[0], relay[1], "alice")
    # her real address: a relay that routes responses by URI (Kamailio) finds her
    # connection by it
    host, port = conn.w.get_extra_info("sockname")[:2]
    conn.uri = f"msrp://{host}:{port}/{secrets.token_hex(6)};tcp"
    r, _ = await auth(conn, relay, a.alice[0], a.alice[1])
    expect(r.code == 200, f"AUTH with the first relay -> 200 ({r.code})")
    use1 = r.hdr("Use-Path")
    to = f"{use1} {relay_uri(outer)}"
    tid = new_tid()
    conn.send(build(tid, "AUTH", [("To-Path", to), ("From-Path", conn.uri)]))
    r2 = await asyncio.wait_for(conn.read_msg(), 10)
    while r2.code == 401 and a.bob[1]:  # the outer relay wants credentials too
        ch = parse_challenge(r2.hdrs("WWW-Authenticate")[0])[1]
        tid = new_tid()
        conn.send(build(tid, "AUTH", [("To-Path", to), ("From-Path", conn.uri),
                                      ("Authorization", authorization(ch, a.bob[0], a.bob[1],
                                                                      relay_uri(outer)))]))
        r2 = await asyncio.wait_for(conn.read_msg(), 10)
    expect(r2.tid == tid and r2.code == 200, f"AUTH through the first relay to the second -> 200 ({r2.code})")
    expect(r2.hdr("To-Path") == conn.uri, f"its To-Path is the client ({r2.hdr('To-Path')})")
    fp = r2.hdr("From-Path").split()
    expect(fp[0] == use1 and fp[-1] == relay_uri(outer),
           f"its From-Path: the first relay's URI, then the second relay ({r2.hdr('From-Path')})")
    use2 = r2.hdr("Use-Path") or ""
    expect(f"{outer[0]}:{outer[1]}" in use2, f"the Use-Path is the second relay's ({use2})")
    print(f"USE_PATH={use1} {use2}")


async def sc_cut(a):
    """alice goes away in the middle of a big chunk: bob's copy ends with '#'
    (interrupted, RFC 4975 §7.1.1), the relay holds nothing afterwards."""
    relay = a.relay
    alice = await relay_endpoint("alice", relay, a.alice[0], a.alice[1])
    bob = await relay_endpoint("bob", relay, a.bob[0], a.bob[1], 16384)
    bob.read_delay, bob.read_chunk = 0.005, 16384
    body = os.urandom(8 * 1024 * 1024)
    mid = secrets.token_hex(8)
    msg = build(new_tid(), "SEND", [("To-Path", alice.to_path(bob.path)), ("From-Path", alice.uri),
                                    ("Message-ID", mid), ("Byte-Range", f"1-{len(body)}/{len(body)}")],
                body, "application/octet-stream")
    alice.conn.send(msg[: len(msg) // 3])
    await alice.conn.drain()
    await bob.wait_for(lambda: bob.conn.buf, 10, "the first bytes")
    alice.conn.close()
    await bob.wait_for(lambda: mid in bob.cut, 30, "the interrupted chunk")
    got = bob.received[mid]["bytes"]
    expect(0 < got < len(body) // 3, f"bob's copy of alice's chunk ends with '#' after {got} bytes")
    # bob's session still works: a message to him through his own session
    conn = await Conn.open(relay[0], relay[1], "carol")
    carol = Endpoint("carol", conn, fake_uri("carol"))
    carol.start()
    m2, tids = await carol.send_message(bob.path, b"after the cut")
    await bob.wait_for(lambda: bob.message(m2) is not None, 10, "the next message")
    expect(bob.message(m2) == b"after the cut", "bob's connection carries the next message")
    st = status(a.status)
    if st:
        for _ in range(50):
            if st["buffered"] == 0 and st["transactions"] == 0:
                break
            await asyncio.sleep(0.1)
            st = status(a.status)
        expect(st["buffered"] == 0 and st["transactions"] == 0,
               f"the relay holds no bytes and no transaction afterwards ({st})")


async def sc_errors(a):
    relay = a.relay
    alice = await relay_endpoint("alice", relay, a.alice[0], a.alice[1])
    bob = await relay_endpoint("bob", relay, a.bob[0], a.bob[1])
    base = f"msrp://{relay[0]}:{relay[1]}"

    async def send(ep, to, frm=None, report=False, fr=None, rng=None):
        tid = new_tid()
        hdrs = [("To-Path", to), ("From-Path", frm or ep.uri),
                ("Message-ID", secrets.token_hex(8))]
        if rng:
            hdrs.append(("Byte-Range", rng))
        if fr:
            hdrs.append(("Failure-Report", fr))
        if report:
            hdrs.append(("Status", "000 200 OK"))
        ep.conn.send(build(tid, "REPORT" if report else "SEND", hdrs, b"x", "text/plain"))
        await ep.conn.drain()
        return tid

    tid = await send(alice, f"{base}/{'0' * 20};tcp {bob.uri}")
    await alice.wait_for(lambda: tid in alice.responses, 10, "answer")
    expect(alice.responses[tid].code == 481, f"SEND to an unknown session -> 481 ({alice.responses[tid].code})")
    r = alice.responses[tid]
    expect(r.hdr("To-Path") == alice.uri and r.hdr("From-Path") == f"{base}/{'0' * 20};tcp",
           "the 481 goes back one hop: To-Path alice, From-Path the relay URI she used")
    tid = await send(alice, f"msrp://192.0.2.1:2855/abc;tcp {bob.uri}")
    await alice.wait_for(lambda: tid in alice.responses, 10, "answer")
    expect(alice.responses[tid].code == 481, "SEND whose To-Path is not the relay -> 481")
    tid = await send(alice, f"{base};tcp {bob.uri}")
    await alice.wait_for(lambda: tid in alice.responses, 10, "answer")
    expect(alice.responses[tid].code == 481, "SEND to the relay URI without a session -> 481")
    # bob's session used by alice, to somebody else than bob
    tid = await send(alice, f"{bob.out_route[0]} {fake_uri('mallory')}")
    await alice.wait_for(lambda: tid in alice.responses, 10, "answer")
    expect(alice.responses[tid].code == 403, f"SEND through another client's session -> 403 ({alice.responses[tid].code})")
    tid = await send(alice, f"{alice.out_route[0]} {bob.path}", rng="1-x/3")
    await alice.wait_for(lambda: tid in alice.responses, 10, "answer")
    expect(alice.responses[tid].code == 400, f"SEND with a bad Byte-Range -> 400 ({alice.responses[tid].code})")
    tid = await send(alice, f"{alice.out_route[0]}")
    await alice.wait_for(lambda: tid in alice.responses, 10, "answer")
    expect(alice.responses[tid].code == 481, "SEND whose To-Path ends at the relay -> 481")
    # Failure-Report: no -> no answer at all, even to an error; REPORT: never answered
    t1 = await send(alice, f"{base}/{'1' * 20};tcp {bob.uri}", fr="no")
    t2 = await send(alice, f"{base}/{'1' * 20};tcp {bob.uri}", report=True)
    t3 = await send(alice, f"{base}/{'2' * 20};tcp {bob.uri}", fr="partial")
    await alice.wait_for(lambda: t3 in alice.responses, 10, "answer")
    expect(t1 not in alice.responses and t2 not in alice.responses,
           "no answer to Failure-Report: no, nor to a REPORT")
    expect(alice.responses[t3].code == 481, "Failure-Report: partial still gets the 481")
    # an unauthenticated connection cannot use a session it does not hold
    conn = await Conn.open(relay[0], relay[1], "mallory")
    mal = Endpoint("mallory", conn, fake_uri("mallory"))
    mal.start()
    tid = await send(mal, f"{alice.out_route[0]} {fake_uri('somebody')}")
    await mal.wait_for(lambda: tid in mal.responses, 10, "answer")
    expect(mal.responses[tid].code == 403, "a stranger sending through alice's session to a third party -> 403")
    # but may send to alice (inbound), as any remote peer of hers would
    body = b"hello alice"
    mid, tids = await mal.send_message(alice.path, body)
    await alice.wait_for(lambda: alice.message(mid) is not None, 10, "the message")
    expect(alice.message(mid) == body, "a remote peer reaches alice through her session URI")
    # garbage closes the connection
    conn.send(b"GET / HTTP/1.1\r\n\r\n")
    await mal.wait_for(lambda: mal.closed, 10, "the close")
    ok("a non-MSRP stream is closed")


async def sc_report(a):
    relay = a.relay
    alice = await relay_endpoint("alice", relay, a.alice[0], a.alice[1])
    # a next hop that answers nothing: the relay's own 200, then a 408 REPORT
    accepted = asyncio.Queue()

    async def on_conn(r, w):
        await accepted.put(Conn(r, w, "peer"))

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for s in server.sockets:  # a small window: the relay's backpressure holds alice back
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    mute = f"msrp://127.0.0.1:{port}/{secrets.token_hex(6)};tcp"
    mid, tids = await alice.send_message(mute, b"are you there?", success_report="no")
    conn = await asyncio.wait_for(accepted.get(), 10)
    peer = Endpoint("peer", conn, mute)
    peer.answer = None
    peer.start()
    await alice.wait_for(lambda: tids[0] in alice.responses, 10, "the relay's 200")
    expect(alice.responses[tids[0]].code == 200, "the relay answers 200 for a forwarded chunk (hop by hop)")
    await peer.wait_for(lambda: mid in peer.received, 10, "the SEND at the mute peer")
    t0 = time.monotonic()
    await alice.wait_for(lambda: alice.reports, a.timeout, "the 408 REPORT")
    rep = alice.reports[0]
    dt = time.monotonic() - t0
    expect(rep.hdr("Status") == "000 408 Request Timeout" and rep.hdr("Message-ID") == mid,
           f"REPORT 408 for the message after {dt:.1f} s ({rep.hdr('Status')})")
    expect(rep.hdr("To-Path") == alice.uri and rep.hdr("From-Path").split()[0] == alice.out_route[0],
           f"the REPORT comes from the relay to alice ({rep.hdr('From-Path')})")
    expect(rep.hdr("Byte-Range") == "1-14/14", f"the REPORT's Byte-Range ({rep.hdr('Byte-Range')})")
    # a next hop that answers 481: REPORT 481
    peer.answer = 481
    mid, tids = await alice.send_message(mute, b"and now?")
    await alice.wait_for(lambda: len(alice.reports) >= 2, 10, "the 481 REPORT")
    expect(alice.reports[1].hdr("Status").startswith("000 481") and alice.reports[1].hdr("Message-ID") == mid,
           f"the next hop's 481 becomes a REPORT 481 ({alice.reports[1].hdr('Status')})")
    # Failure-Report: partial gets no 200, but the REPORT; "no": nothing
    mid, tids = await alice.send_message(mute, b"partial", failure_report="partial")
    await alice.wait_for(lambda: len(alice.reports) >= 3, 10, "the partial REPORT")
    expect(tids[0] not in alice.responses, "Failure-Report: partial -> no 200 from the relay")
    mid, tids = await alice.send_message(mute, b"no reports", failure_report="no")
    await peer.wait_for(lambda: mid in peer.received, 10, "the SEND at the peer")
    await asyncio.sleep(0.5)
    expect(len(alice.reports) == 3 and tids[0] not in alice.responses,
           "Failure-Report: no -> neither 200 nor REPORT")
    # a big chunk the next hop refuses while it is still arriving (413 as soon as the
    # headers are in, RFC 4975 §7.1.1): the relay cuts its stream ('#') and answers
    # 413 at the end of the chunk
    peer.answer, peer.early = 413, True
    peer.read_delay, peer.read_chunk = 0.002, 16384
    body = os.urandom(4 * 1024 * 1024)
    mid, tids = await alice.send_message(mute, body)
    await alice.wait_for(lambda: tids[0] in alice.responses, 30, "the answer to the big chunk")
    got = alice.responses[tids[0]]
    expect(got.code == 413 and len(alice.reports) == 3,
           f"the next hop's early 413 is the relay's answer to the chunk ({got.code})")
    await peer.wait_for(lambda: mid in peer.cut, 30, "the cut chunk")
    expect(peer.received[mid]["bytes"] < len(body),
           f"the relay cut the chunk to the next hop with '#' ({peer.received[mid]['bytes']} of {len(body)} bytes)")
    peer.read_delay, peer.early = 0, False
    # an unreachable next hop: 408 answer, no connection
    server.close()
    await server.wait_closed()
    conn.close()
    dead = f"msrp://127.0.0.1:{port}/{secrets.token_hex(6)};tcp"
    await asyncio.sleep(0.2)
    mid, tids = await alice.send_message(dead, b"anyone?")
    await alice.wait_for(lambda: len(alice.reports) > 3, 20, "the failure")
    expect(alice.reports[-1].hdr("Status").startswith("000 408") and alice.reports[-1].hdr("Message-ID") == mid,
           "a next hop that refuses the connection -> REPORT 408 (the chunk was answered before)")
    for name in ("dns.example.invalid",):
        mid, tids = await alice.send_message(f"msrp://{name}:2855/x;tcp", b"?")
        await alice.wait_for(lambda: tids[0] in alice.responses, 10, "the answer")
        expect(alice.responses[tids[0]].code == 408, "a next hop named by a host name (no DNS here) -> 408")


async def sc_limits(a):
    relay = a.relay
    conns = []
    for i in range(a.max_connections):
        conns.append(await Conn.open(relay[0], relay[1], f"c{i}"))
    extra = await Conn.open(relay[0], relay[1], "extra")
    expect(await extra.closed_by_peer(5), f"connection {a.max_connections + 1} is closed at once")
    for c in conns:
        c.close()
    await asyncio.sleep(0.3)
    idle = await Conn.open(relay[0], relay[1], "idle")
    t0 = time.monotonic()
    closed = await idle.closed_by_peer(a.idle_timeout + 5)
    dt = time.monotonic() - t0
    expect(closed and dt >= a.idle_timeout - 0.5,
           f"an idle connection is closed after {dt:.1f} s (idle_timeout {a.idle_timeout})")
    # a connection with traffic stays
    conn = await Conn.open(relay[0], relay[1], "busy")
    conn.uri = fake_uri("busy")
    for _ in range(int(a.idle_timeout * 2 / 0.5) + 1):
        conn.send(build(new_tid(), "AUTH", [("To-Path", relay_uri(relay)), ("From-Path", conn.uri)]))
        m = await asyncio.wait_for(conn.read_msg(), 5)
        if m.code != 401:
            fail(f"AUTH keep-alive got {m.code}")
        await asyncio.sleep(0.5)
    ok(f"a connection with traffic outlives the idle timeout ({a.idle_timeout * 2} s)")
    conn.close()
    # a header section over the limit closes the connection
    conn = await Conn.open(relay[0], relay[1], "big")
    conn.send(build(new_tid(), "SEND", [("To-Path", relay_uri(relay)), ("From-Path", fake_uri("x")),
                                        ("X-Big", "a" * (a.max_header + 100))], b"x", "text/plain"))
    expect(await conn.closed_by_peer(5), "a header section over msrp.max_header_size closes the connection")


async def sc_bench(a):
    relay = a.relay
    alice = await relay_endpoint("alice", relay, a.alice[0], a.alice[1])
    bob = await relay_endpoint("bob", relay, a.bob[0], a.bob[1])
    # throughput: one message of a.mb MB in 64 KB chunks
    total = int(a.mb * 1024 * 1024)
    body = os.urandom(total)
    t0 = time.monotonic()
    mid, tids = await alice.send_message(bob.path, body, 64 * 1024, "application/octet-stream",
                                         failure_report=a.failure_report)
    await bob.wait_for(lambda: bob.received.get(mid, {}).get("bytes", 0) >= total, 120, "the bytes")
    dt = time.monotonic() - t0
    print(f"THROUGHPUT_MBPS={total / dt / 1e6:.1f} ({a.mb} MB in 64 KB chunks, {dt:.2f} s)", flush=True)
    # 1 KB messages, pipelined, one chunk each
    n = a.messages
    payload = b"m" * 1024
    tids_all = []
    t0 = time.monotonic()
    for i in range(n):
        mid_i, tids = await alice.send_message(bob.path, payload, 0, "text/plain",
                                               failure_report=a.failure_report,
                                               mid=f"b{i:08d}")
        tids_all.extend(tids)
    await bob.wait_for(lambda: len(bob.received) >= n + 1, 300, "the messages")
    dt = time.monotonic() - t0
    print(f"MSGS_PER_S={n / dt:.0f} ({n} x 1 KB, {dt:.2f} s)", flush=True)
    alice.conn.close()
    bob.conn.close()


# ------------------------------------------------------------------ blast (benchmark)

def sync_auth(relay, user, password, uri):
    """AUTH on a blocking socket; returns (socket, Use-Path)."""
    sk = socket.create_connection(relay)
    sk.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""

    def read_one():
        nonlocal buf
        while True:
            m = re.search(rb"-------([0-9A-Za-z.+%=-]+)[$+#]\r\n", buf)
            if m:
                msg, buf = buf[: m.end()], buf[m.end():]
                return msg.decode()
            data = sk.recv(65536)
            if not data:
                raise EOFError("relay closed the connection")
            buf += data

    to = relay_uri(relay)
    hdrs = [("To-Path", to), ("From-Path", uri)]
    sk.sendall(build(new_tid(), "AUTH", hdrs))
    r = read_one()
    if " 401 " in r.split("\r\n")[0]:
        ch = parse_challenge(re.search(r"WWW-Authenticate: (.*)\r\n", r).group(1))[1]
        sk.sendall(build(new_tid(), "AUTH", hdrs + [("Authorization",
                                                     authorization(ch, user, password, to))]))
        r = read_one()
    m = re.search(r"Use-Path: (\S+)", r)
    if " 200 " not in r.split("\r\n")[0] or not m:
        fail(f"AUTH {user}: {r.splitlines()[0]}")
    return sk, m.group(1)


def send_all(sa, n, to, ua, mid, size, body, fr):
    batch = []
    for i in range(n):
        tid = secrets.token_hex(8)
        hdrs = (f"MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {ua}\r\nMessage-ID: {mid}{i}\r\n"
                f"Byte-Range: 1-{size}/{size}\r\nFailure-Report: {fr}\r\n"
                f"Content-Type: text/plain\r\n\r\n").encode()
        batch.append(hdrs + body + f"\r\n-------{tid}$\r\n".encode())
        if len(batch) >= 64:
            sa.sendall(b"".join(batch))
            batch = []
    if batch:
        sa.sendall(b"".join(batch))


def blast_run(relay, alice, bob, n, size, fr, topology):
    """n chunks of size bytes from alice to bob; returns (seconds, counts).  bob is on
    the relay and alice too ("same": her To-Path starts with her relay URI), or alice
    sends straight to bob's path ("inbound", one relay hop), or bob listens and the
    relay connects to him ("direct")."""
    import threading
    direct = topology == "direct"
    ua = fake_uri("alice")
    sa, pa = sync_auth(relay, alice[0], alice[1], ua)
    if direct:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        ub = f"msrp://127.0.0.1:{ls.getsockname()[1]}/{secrets.token_hex(6)};tcp"
        to, resp_to = f"{pa} {ub}", pa
        sb = None
    else:
        ub = fake_uri("bob")
        sb, pb = sync_auth(relay, bob[0], bob[1], ub)
        to, resp_to = f"{pa} {pb} {ub}" if topology == "same" else f"{pb} {ub}", pb
    body = b"x" * size
    done = threading.Event()
    got = [0, 0]  # chunks at bob, 200s at alice

    def bob_reader():
        nonlocal sb
        signal_alarm = getattr(__import__("signal"), "alarm")
        signal_alarm(300)  # never outlive a stuck run
        if sb is None:
            sb, _ = ls.accept()
            sb.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tail = b""
        pat = re.compile(rb"MSRP ([0-9a-f]+) SEND\r\n")
        while got[0] < n:
            data = sb.recv(1 << 18)
            if not data:
                break
            data = tail + data
            got[0] += data.count(b"\r\n-------")
            if fr == "yes":
                out = [f"MSRP {t.decode()} 200 OK\r\nTo-Path: {resp_to}\r\nFrom-Path: "
                       f"{ub}\r\n-------{t.decode()}$\r\n" for t in pat.findall(data)]
                if out:
                    sb.sendall("".join(out).encode())
            # keep what may be a split start line or end-line marker
            cut = max(data.rfind(b"\r\n"), len(data) - 64, 0)
            tail = data[cut:]
            got[0] -= tail.count(b"\r\n-------")
            if fr == "yes":  # those start lines are answered again with the tail
                tail = tail if not pat.search(tail) else tail[pat.search(tail).end():]
        done.set()

    def alice_reader():
        while not done.is_set():
            try:
                data = sa.recv(1 << 18)
            except OSError:
                return
            if not data:
                return
            got[1] += data.count(b" 200 OK\r\n")

    # bob reads in a process of his own (no GIL shared with the sender)
    rfd, wfd = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(rfd)
        code = 0
        try:
            bob_reader()
            os.write(wfd, f"{got[0]}\n".encode())
        except BaseException:
            code = 1
        os._exit(code)
    os.close(wfd)
    if sb:
        sb.close()
        sb = None
    ta = threading.Thread(target=alice_reader, daemon=True)
    ta.start()
    t0 = time.monotonic()
    mid = secrets.token_hex(8)
    try:
        send_all(sa, n, to, ua, mid, size, body, fr)
    except OSError as e:
        os.kill(child, 9)
        os.waitpid(child, 0)
        fail(f"blast: sending: {e}")
    r = b""
    while not r.endswith(b"\n"):
        part = os.read(rfd, 64)
        if not part:
            break
        r += part
    os.waitpid(child, 0)
    os.close(rfd)
    done.set()
    if not r or int(r) < n:
        fail(f"blast: bob got {r.decode().strip() or 'nothing'} of {n} chunks")
    got[0] = int(r)
    dt = time.monotonic() - t0
    sa.close()
    if sb:
        sb.close()
    if direct:
        ls.close()
    return dt, got


def sc_blast(a):
    direct = a.topology
    n = int(a.mb * 1024 / a.chunk_kb)
    if n > 0:
        dt, got = blast_run(a.relay, a.alice, a.bob, n, a.chunk_kb * 1024, a.failure_report, direct)
        print(f"THROUGHPUT_MBPS={n * a.chunk_kb * 1024 / dt / 1e6:.1f} ({n} x {a.chunk_kb} KB, Failure-Report "
              f"{a.failure_report}, {dt:.2f} s)", flush=True)
    if a.messages > 0:
        dt, got = blast_run(a.relay, a.alice, a.bob, a.messages, 1024, a.failure_report, direct)
        print(f"MSGS_PER_S={a.messages / dt:.0f} ({a.messages} x 1 KB, Failure-Report "
              f"{a.failure_report}, {dt:.2f} s)", flush=True)


def hostport(s):
    h, _, p = s.rpartition(":")
    return (h.strip("[]"), int(p))


def userpass(s):
    u, _, p = s.partition(":")
    return (u, p)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--relay", type=hostport, required=True)
    ap.add_argument("--status", default="")
    ap.add_argument("--timeout", type=float, default=60)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("auth")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--expires", type=int)
    p.add_argument("--algorithm")
    p.add_argument("--expect", type=int, default=200)
    for name in ("chat", "chain", "cut", "errors", "report", "bench", "blast"):
        p = sub.add_parser(name)
        p.add_argument("--alice", type=userpass, required=True)
        p.add_argument("--bob", type=userpass, default=("bob", ""))
        if name == "chain":
            p.add_argument("--outer", type=hostport, required=True,
                           help="the second relay (--bob: its credentials, if any)")
        if name == "chat":
            p.add_argument("--bob-mode", choices=("relay", "listen", "connect"), default="relay")
            p.add_argument("--bob-relay", type=hostport, default=None,
                           help="bob's relay when it is not --relay (interop)")
            p.add_argument("--count", type=int, default=1)
            p.add_argument("--size", type=int, default=1024)
            p.add_argument("--chunk", type=int, default=0)
            p.add_argument("--binary", action="store_true")
            p.add_argument("--slow", type=float, default=0, help="ms between bob's 16 KB reads")
            p.add_argument("--bob-rcvbuf", type=int, default=0)
            p.add_argument("--max-buffered", type=int, default=0)
            p.add_argument("--expect-stalls", action="store_true")
            p.add_argument("--reply", action="store_true")
        if name in ("bench", "blast"):
            p.add_argument("--mb", type=float, default=64)
            p.add_argument("--messages", type=int, default=20000)
            p.add_argument("--failure-report", default="no" if name == "blast" else None)
            if name == "blast":
                p.add_argument("--chunk-kb", type=int, default=32)
                p.add_argument("--topology", choices=("same", "inbound", "direct"), default="same",
                               help="both AUTHed and alice's To-Path through her relay URI too; "
                               "alice sending to bob's relay path; bob listening")
    p = sub.add_parser("limits")
    p.add_argument("--max-connections", type=int, required=True)
    p.add_argument("--idle-timeout", type=float, required=True)
    p.add_argument("--max-header", type=int, default=16384)
    a = ap.parse_args()
    fn = {"auth": sc_auth, "chat": sc_chat, "chain": sc_chain, "cut": sc_cut, "errors": sc_errors, "report": sc_report,
          "limits": sc_limits, "bench": sc_bench, "blast": sc_blast}[a.cmd]
    if a.cmd == "blast":
        fn(a)
        print("DONE", flush=True)
        return
    try:
        asyncio.run(asyncio.wait_for(fn(a), a.timeout * 3))
    except (asyncio.TimeoutError, TimeoutError):
        fail("scenario timed out")
    except (EOFError, ConnectionError) as e:
        fail(f"connection: {e}")
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
