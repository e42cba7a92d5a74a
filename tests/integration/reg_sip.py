#!/usr/bin/env python3
"""reg_sip.py: scripted SIP sender for the registrar/proxy/transport tests (stdlib only).

Like sipmsg.py, but with control over every field the registrar and proxy tests need,
IPv6, raw files and TCP keep-alives.

  reg_sip.py request --server HOST:PORT  (HOST may be [::1])
        [--transport udp|tcp] [--local-port N]
        [--method REGISTER] [--uri URI] [--from AOR] [--to AOR]
        [--call-id ID] [--cseq N] [--from-tag T]
        [--via-port N] [--no-rport] [--max-forwards N|none]
        [--contact RAW ...]   each one a Contact header, value as given
                              ("<sip:a@127.0.0.1:5>;q=0.5", "*"); "" = none
        [--expires N] [--header 'Name: value' ...] [--body TEXT]
        [--user AOR --password P [--algorithm MD5|SHA-256] [--digest-uri URI]]
        [--replay FILE]       after the authenticated final response, send the request
                              again with the SAME Authorization (same nonce, same nc),
                              a new Via branch and CSeq+1; its final response goes to FILE
                              and "REPLAY <code>" is printed
        [--again FILE [--again-nc N] [--again-delay S]]
                              after the authenticated final response, wait S seconds and
                              send the request again reusing the challenge's nonce with
                              nc=N (default 2) and a new cnonce, new branch, CSeq+1; its
                              final response goes to FILE and "AGAIN <code>" is printed
        [--expect CODE] [--final FILE] [--timeout S]
      Prints every response (then "----"), then "STATUS <code>" (or "STATUS none").
      Exit 0 when a final response arrived and matches --expect, else 1.

  reg_sip.py raw --server HOST:PORT [--transport udp|tcp] [--fix-via] [--wait S] FILE
      Sends FILE as one datagram (or on one TCP connection).  --fix-via rewrites the
      transport and sent-by of the first Via to this socket's (so the answer can only come
      back here, never to the foreign host of the file).  Prints the first line of each
      message received within --wait seconds (or "NONE").

  reg_sip.py ping --server HOST:PORT [--wait S]
      Opens a TCP connection, sends a CRLFCRLF keep-alive ping (RFC 5626 §3.5.1) and
      prints "PONG" if exactly CRLF comes back within --wait seconds, else "NO PONG <repr>".
      Exit 0 on PONG.

  reg_sip.py tcpua --server HOST:PORT --aor AOR --contact-port N [--wait S]
        [--expires N] [--call-id-file F]
      A UA that REGISTERs over one TCP connection (Contact <sip:user@127.0.0.1:N;
      transport=tcp>, where nobody listens) and keeps it open, then waits for one
      request on that same connection, answers it 200 and prints "GOT <request line>".
      Writes "REGISTERED" to stdout (flushed) after the 200.  Exit 0 when a MESSAGE came.
"""
import argparse
import hashlib
import re
import secrets
import socket
import sys
import time

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
           "l": "content-length", "c": "content-type", "k": "supported"}
HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def hostport(s):
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        return host, int(rest.lstrip(":") or 5060)
    host, _, port = s.rpartition(":")
    return host, int(port)


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def fmt_host(host):
    return f"[{host}]" if ":" in host else host


def parse_msg(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    hdrs = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and hdrs:
            hdrs[-1] = (hdrs[-1][0], hdrs[-1][1] + " " + line.strip())
            continue
        name, _, value = line.partition(":")
        name = name.strip().lower()
        hdrs.append((COMPACT.get(name, name), value.strip()))
    return lines[0], hdrs, body


def hget(hdrs, name):
    return [v for n, v in hdrs if n == name]


class Conn:
    def __init__(self, kind, server, local_port=0):
        self.kind, self.server = kind, server
        fam = family(server[0])
        bind = "::1" if fam == socket.AF_INET6 else "127.0.0.1"
        if kind == "udp":
            self.sock = socket.socket(fam, socket.SOCK_DGRAM)
            self.sock.bind((bind, local_port))
        else:
            self.sock = socket.socket(fam, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((bind, local_port))
            self.sock.settimeout(5)
            self.sock.connect(server)
        self.local = self.sock.getsockname()[:2]
        self.buf = b""

    def send(self, data):
        if self.kind == "udp":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def recv(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if self.kind == "tcp":
                m = self._frame()
                if m is not None:
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                if self.kind == "udp":
                    data, _ = self.sock.recvfrom(65535)
                    if data.strip():
                        return data
                    continue
                chunk = self.sock.recv(65535)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def _frame(self):
        self.buf = self.buf.lstrip(b"\r\n")
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        _, hdrs, _ = parse_msg(self.buf[:end + 4])
        n = int((hget(hdrs, "content-length") or ["0"])[0] or 0)
        if len(self.buf) < end + 4 + n:
            return None
        msg, self.buf = self.buf[:end + 4 + n], self.buf[end + 4 + n:]
        return msg


def auth_params(value):
    scheme, _, rest = value.strip().partition(" ")
    params = {}
    for m in re.finditer(r'([A-Za-z0-9_-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^\s,]+)', rest):
        params[m.group(1).lower()] = m.group(3) if m.group(3) is not None else m.group(2)
    return scheme, params


def digest(params, method, uri, user, password, nc_int=1):
    alg = params.get("algorithm", "MD5")
    h = lambda s: HASHES[alg.upper()](s.encode()).hexdigest()  # noqa: E731
    realm, nonce = params["realm"], params["nonce"]
    ha1, ha2 = h(f"{user}:{realm}:{password}"), h(f"{method}:{uri}")
    out = f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}"'
    if "qop" in params:
        cnonce, nc = secrets.token_hex(8), f"{nc_int:08x}"
        resp = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        out += f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        resp = h(f"{ha1}:{nonce}:{ha2}")
    return out + f', response="{resp}", algorithm={alg}'


class Req:
    def __init__(self, a, conn):
        self.a, self.conn = a, conn
        self.tag = a.from_tag or secrets.token_hex(6)
        self.callid = a.call_id or secrets.token_hex(12) + "@reg_sip"
        self.cseq = a.cseq

    def build(self, branch, auth_hdr=None):
        a = self.a
        host, port = self.conn.local
        if a.via_port:
            port = a.via_port
        proto = self.conn.kind.upper()
        via = f"Via: SIP/2.0/{proto} {fmt_host(host)}:{port};branch={branch}"
        if not a.no_rport:
            via += ";rport"
        lines = [f"{a.method} {a.uri} SIP/2.0", via]
        if a.max_forwards != "none":
            lines.append(f"Max-Forwards: {a.max_forwards}")
        lines += [f"From: <sip:{a.from_}>;tag={self.tag}", f"To: <sip:{a.to}>",
                  f"Call-ID: {self.callid}", f"CSeq: {self.cseq} {a.method}"]
        for c in a.contact:
            if c:
                lines.append(f"Contact: {c}")
        if a.expires is not None:
            lines.append(f"Expires: {a.expires}")
        if auth_hdr:
            lines.append(auth_hdr)
        lines += a.header
        body = a.body.encode() if a.body is not None else b""
        if body:
            lines.append("Content-Type: text/plain")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def transaction(conn, msg, branch, timeout):
    t1, t2 = 0.5, 4.0
    deadline = time.monotonic() + timeout
    interval = t1
    conn.send(msg)
    next_retx = time.monotonic() + interval
    while True:
        now = time.monotonic()
        if now >= deadline:
            return None
        wait = min(deadline, next_retx if conn.kind == "udp" else deadline) - now
        resp = conn.recv(max(wait, 0.01))
        if resp is None:
            if conn.kind == "udp" and time.monotonic() >= next_retx:
                conn.send(msg)
                interval = min(interval * 2, t2)
                next_retx = time.monotonic() + interval
            continue
        start, hdrs, _ = parse_msg(resp)
        vias = hget(hdrs, "via")
        if not start.startswith("SIP/2.0 ") or not vias or f"branch={branch}" not in vias[0]:
            print("(ignored) " + start, flush=True)
            continue
        sys.stdout.write(resp.decode("utf-8", "replace").rstrip("\r\n") + "\n----\n")
        sys.stdout.flush()
        if int(start.split()[1]) >= 200:
            return resp
        interval = t2
        next_retx = time.monotonic() + interval


def new_branch():
    return "z9hG4bK" + secrets.token_hex(10)


def cmd_request(a):
    server = hostport(a.server)
    if not a.uri:
        a.uri = f"sip:{a.to}" if a.to else f"sip:{fmt_host(server[0])}:{server[1]}"
    if not a.to:
        a.to = a.uri[4:] if a.uri.startswith("sip:") else a.uri
    if not a.from_:
        a.from_ = a.user or "reg_sip@example.test"
    conn = Conn(a.transport, server, a.local_port)
    r = Req(a, conn)
    b = new_branch()
    resp = transaction(conn, r.build(b), b, a.timeout)
    auth_hdr = again_hdr = None
    if resp is not None and a.password is not None:
        start, hdrs, _ = parse_msg(resp)
        code = int(start.split()[1])
        if code in (401, 407):
            hname = "www-authenticate" if code == 401 else "proxy-authenticate"
            chosen = None
            for value in hget(hdrs, hname):
                scheme, params = auth_params(value)
                alg = params.get("algorithm", "MD5").upper()
                if scheme.lower() == "digest" and alg in HASHES and \
                        (not a.algorithm or alg == a.algorithm.upper()):
                    chosen = params
                    break
            if chosen is None:
                print("STATUS none")
                return 1
            user = (a.user or a.from_).split("@")[0]
            name = "Authorization" if code == 401 else "Proxy-Authorization"
            duri = a.digest_uri or a.uri
            auth_hdr = f"{name}: " + digest(chosen, a.method, duri, user, a.password)
            again_hdr = None
            if a.again:
                again_hdr = f"{name}: " + digest(chosen, a.method, duri, user, a.password,
                                                 a.again_nc)
            r.cseq += 1
            b = new_branch()
            resp = transaction(conn, r.build(b, auth_hdr), b, a.timeout)
    if resp is None:
        print("STATUS none")
        return 1
    code = int(resp.split(b" ", 2)[1])
    if a.final:
        with open(a.final, "wb") as f:
            f.write(resp)
    print(f"STATUS {code}", flush=True)
    rc = 0
    if a.expect is not None and code != a.expect:
        print(f"reg_sip: expected {a.expect}, got {code}", file=sys.stderr)
        rc = 1
    if a.again:
        if not auth_hdr:
            print("AGAIN none (no Authorization was sent)")
            return 1
        time.sleep(a.again_delay)
        r.cseq += 1
        b = new_branch()
        resp = transaction(conn, r.build(b, again_hdr), b, a.timeout)
        if resp is None:
            print("AGAIN none")
            return 1
        with open(a.again, "wb") as f:
            f.write(resp)
        print(f"AGAIN {int(resp.split(b' ', 2)[1])}")
    if a.replay:
        if not auth_hdr:
            print("REPLAY none (no Authorization was sent)")
            return 1
        r.cseq += 1
        b = new_branch()
        resp = transaction(conn, r.build(b, auth_hdr), b, a.timeout)
        if resp is None:
            print("REPLAY none")
            return 1
        with open(a.replay, "wb") as f:
            f.write(resp)
        print(f"REPLAY {int(resp.split(b' ', 2)[1])}")
    return rc


def cmd_raw(a):
    server = hostport(a.server)
    with open(a.file, "rb") as f:
        data = f.read()
    conn = Conn(a.transport, server)
    if a.fix_via:
        host, port = conn.local
        sent_by = f"{fmt_host(host)}:{port}".encode()
        proto = a.transport.upper().encode()
        data, n = re.subn(rb"(?im)^((?:via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*[^/\s]+[ \t]*/[ \t]*)[A-Za-z]+[ \t]+[^;\s,]+",
                          lambda m: m.group(1) + proto + b" " + sent_by, data, count=1)
        if n != 1:
            print("reg_sip: no Via to fix", file=sys.stderr)
            return 2
    conn.send(data)
    got = 0
    deadline = time.monotonic() + a.wait
    while True:
        m = conn.recv(max(deadline - time.monotonic(), 0.01))
        if m is None:
            break
        got += 1
        print(m.split(b"\r\n", 1)[0].decode("utf-8", "replace"), flush=True)
        if time.monotonic() >= deadline:
            break
    if not got:
        print("NONE")
    return 0


def cmd_ping(a):
    server = hostport(a.server)
    s = socket.socket(family(server[0]), socket.SOCK_STREAM)
    s.settimeout(a.wait)
    s.connect(server)
    s.sendall(b"\r\n\r\n")
    got = b""
    deadline = time.monotonic() + a.wait
    try:
        while len(got) < 2 and time.monotonic() < deadline:
            s.settimeout(max(deadline - time.monotonic(), 0.01))
            chunk = s.recv(64)
            if not chunk:
                break
            got += chunk
        # anything more than the pong within a short while?
        s.settimeout(0.3)
        try:
            got += s.recv(64)
        except socket.timeout:
            pass
    except socket.timeout:
        pass
    s.close()
    if got == b"\r\n":
        print("PONG")
        return 0
    print(f"NO PONG {got!r}")
    return 1


def cmd_tcpua(a):
    server = hostport(a.server)
    conn = Conn("tcp", server)
    user = a.aor.split("@")[0]
    host, port = conn.local
    tag, callid = secrets.token_hex(6), secrets.token_hex(12) + "@tcpua"
    b = new_branch()
    reg = (f"REGISTER sip:{a.aor.split('@')[1]} SIP/2.0\r\n"
           f"Via: SIP/2.0/TCP {fmt_host(host)}:{port};branch={b};rport\r\n"
           "Max-Forwards: 70\r\n"
           f"From: <sip:{a.aor}>;tag={tag}\r\nTo: <sip:{a.aor}>\r\n"
           f"Call-ID: {callid}\r\nCSeq: 1 REGISTER\r\n"
           f"Contact: <sip:{user}@127.0.0.1:{a.contact_port};transport=tcp>\r\n"
           f"Expires: {a.expires}\r\nContent-Length: 0\r\n\r\n").encode()
    resp = transaction(conn, reg, b, 10)
    if resp is None or int(resp.split(b" ", 2)[1]) != 200:
        print("REGISTER failed", flush=True)
        return 1
    print("REGISTERED", flush=True)
    deadline = time.monotonic() + a.wait
    while time.monotonic() < deadline:
        m = conn.recv(deadline - time.monotonic())
        if m is None:
            break
        start, hdrs, _ = parse_msg(m)
        if start.startswith("SIP/2.0"):
            continue
        print("GOT " + start, flush=True)
        sys.stdout.write(m.decode("utf-8", "replace") + "\n----\n")
        out = ["SIP/2.0 200 OK"]
        for n, v in hdrs:
            if n == "via":
                out.append(f"Via: {v}")
        out += [f"From: {hget(hdrs, 'from')[0]}",
                f"To: {hget(hdrs, 'to')[0]};tag={secrets.token_hex(4)}",
                f"Call-ID: {hget(hdrs, 'call-id')[0]}", f"CSeq: {hget(hdrs, 'cseq')[0]}",
                "Content-Length: 0"]
        conn.send(("\r\n".join(out) + "\r\n\r\n").encode())
        time.sleep(0.5)
        return 0 if start.startswith("MESSAGE ") else 1
    print("NO REQUEST")
    return 1


def main():
    ap = argparse.ArgumentParser(prog="reg_sip.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("request")
    r.add_argument("--server", required=True)
    r.add_argument("--transport", choices=["udp", "tcp"], default="udp")
    r.add_argument("--local-port", type=int, default=0)
    r.add_argument("--method", default="REGISTER")
    r.add_argument("--uri")
    r.add_argument("--from", dest="from_")
    r.add_argument("--to")
    r.add_argument("--call-id")
    r.add_argument("--cseq", type=int, default=1)
    r.add_argument("--from-tag")
    r.add_argument("--via-port", type=int)
    r.add_argument("--no-rport", action="store_true")
    r.add_argument("--max-forwards", default="70")
    r.add_argument("--contact", action="append", default=[])
    r.add_argument("--expires", type=int)
    r.add_argument("--header", action="append", default=[])
    r.add_argument("--body")
    r.add_argument("--user")
    r.add_argument("--password")
    r.add_argument("--algorithm")
    r.add_argument("--digest-uri", help="the uri= of the credentials (default: the Request-URI)")
    r.add_argument("--replay")
    r.add_argument("--again")
    r.add_argument("--again-nc", type=int, default=2)
    r.add_argument("--again-delay", type=float, default=0.0)
    r.add_argument("--expect", type=int)
    r.add_argument("--final")
    r.add_argument("--timeout", type=float, default=10.0)
    w = sub.add_parser("raw")
    w.add_argument("--server", required=True)
    w.add_argument("--transport", choices=["udp", "tcp"], default="udp")
    w.add_argument("--fix-via", action="store_true")
    w.add_argument("--wait", type=float, default=1.0)
    w.add_argument("file")
    p = sub.add_parser("ping")
    p.add_argument("--server", required=True)
    p.add_argument("--wait", type=float, default=3.0)
    u = sub.add_parser("tcpua")
    u.add_argument("--server", required=True)
    u.add_argument("--aor", required=True)
    u.add_argument("--contact-port", type=int, required=True)
    u.add_argument("--expires", type=int, default=600)
    u.add_argument("--wait", type=float, default=20.0)
    a = ap.parse_args()
    return {"request": cmd_request, "raw": cmd_raw, "ping": cmd_ping,
            "tcpua": cmd_tcpua}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
