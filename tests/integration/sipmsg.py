#!/usr/bin/env python3
"""sipmsg.py: a tiny, exact SIP client for the integration tests (stdlib only).

  sipmsg.py request --server 127.0.0.1:5060 [--transport udp|tcp] [--method OPTIONS]
                    [--uri URI] [--from AOR] [--to AOR] [--contact URI] [--expires N]
                    [--header 'Name: value' ...] [--body TEXT [--ctype text/plain]]
                    [--user AOR --password P [--algorithm SHA-256|MD5]]
                    [--expect CODE] [--timeout S] [--local-port N] [--final FILE]
      Sends one request (RFC 3261 §8.1.1: Via with rport and a z9hG4bK branch, From tag,
      Call-ID, CSeq, Max-Forwards 70), prints every response received (provisional and
      final, each followed by a line "----"), then "STATUS <code>" for the final one.
      With --user/--password, a 401/407 challenge is answered once (same Call-ID and
      From tag, CSeq+1, new branch, RFC 3261 §22.2) using --algorithm if given, else the
      first challenge whose algorithm is supported (RFC 8760 §2.4); the digest username
      is the user part of the AOR.  Exit 0 when a final response arrived (and matches
      --expect), 1 otherwise, 2 on usage errors.  Over UDP, the request is retransmitted
      per Timer E (T1=500 ms) until a response arrives.

  sipmsg.py replay --server 127.0.0.1:5060 [--wait 0.5] [--check-options] [--tcp] FILE...
      Sends each file as one UDP datagram (--tcp: on a new TCP connection), prints the
      first line of the reply (or "-" when none came within --wait seconds), and with
      --check-options sends an OPTIONS to the server after each file and fails (exit 1)
      as soon as one gets no final response within 5 s.
"""
import argparse
import hashlib
import os
import re
import secrets
import socket
import sys
import time

COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
           "l": "content-length", "c": "content-type", "k": "supported",
           "e": "content-encoding", "s": "subject", "o": "event", "u": "allow-events"}


def parse_msg(data):
    """(start line, [(name lower-case long form, value)], body) of one SIP message."""
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


class Transport:
    def __init__(self, kind, server, local_port=0):
        self.kind = kind
        self.server = server
        if kind == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", local_port))
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", local_port))
            self.sock.settimeout(5)
            self.sock.connect(server)
        self.local = self.sock.getsockname()
        self.buf = b""

    def send(self, data):
        if self.kind == "udp":
            self.sock.sendto(data, self.server)
        else:
            self.sock.sendall(data)

    def recv(self, timeout):
        """One message, or None on timeout."""
        deadline = time.monotonic() + timeout
        if self.kind == "udp":
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.sock.settimeout(left)
                try:
                    data, _ = self.sock.recvfrom(65535)
                except socket.timeout:
                    return None
                if data.strip():  # ignore keep-alives
                    return data
        while True:
            msg = self._frame()
            if msg is not None:
                return msg
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65535)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.buf += chunk

    def _frame(self):
        self.buf = self.buf.lstrip(b"\r\n")  # RFC 5626 CRLF keep-alives
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


HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def digest(params, method, uri, user, password):
    alg = params.get("algorithm", "MD5")
    h = lambda s: HASHES[alg.upper()](s.encode()).hexdigest()  # noqa: E731
    realm, nonce = params["realm"], params["nonce"]
    ha1 = h(f"{user}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    out = f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}"'
    if "qop" in params:
        cnonce, nc = secrets.token_hex(8), "00000001"
        resp = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        out += f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        resp = h(f"{ha1}:{nonce}:{ha2}")
    out += f', response="{resp}", algorithm={alg}'
    if "opaque" in params:
        out += f', opaque="{params["opaque"]}"'
    return out


def build(args, tr, cseq, auth_hdr, branch, tag, callid):
    host, port = tr.local
    proto = "UDP" if tr.kind == "udp" else "TCP"
    target = args.uri
    lines = [f"{args.method} {target} SIP/2.0",
             f"Via: SIP/2.0/{proto} {host}:{port};branch={branch};rport",
             "Max-Forwards: 70",
             f"From: <sip:{args.from_}>;tag={tag}",
             f"To: <sip:{args.to}>",
             f"Call-ID: {callid}",
             f"CSeq: {cseq} {args.method}"]
    if args.contact:
        lines.append(f"Contact: <{args.contact}>")
    if args.expires is not None:
        lines.append(f"Expires: {args.expires}")
    if auth_hdr:
        lines.append(auth_hdr)
    lines += args.header
    body = args.body.encode() if args.body is not None else b""
    if body:
        lines.append(f"Content-Type: {args.ctype}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def transaction(args, tr, msg, branch):
    """Send msg; return the final response (bytes) or None. Prints every response."""
    t1, t2, sent = 0.5, 4.0, time.monotonic()
    deadline = sent + args.timeout
    interval = t1
    tr.send(msg)
    next_retx = sent + interval
    while True:
        now = time.monotonic()
        if now >= deadline:
            return None
        wait = min(deadline, next_retx if tr.kind == "udp" else deadline) - now
        resp = tr.recv(max(wait, 0.01))
        if resp is None:
            if tr.kind == "udp" and time.monotonic() >= next_retx:
                tr.send(msg)
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
        code = int(start.split()[1])
        if code >= 200:
            return resp
        interval = t2  # Proceeding: retransmit every T2 (RFC 3261 §17.1.2.2)
        next_retx = time.monotonic() + interval


def cmd_request(args):
    host, _, port = args.server.rpartition(":")
    server = (host or "127.0.0.1", int(port))
    if not args.uri:
        args.uri = f"sip:{args.to}" if args.to else f"sip:{server[0]}:{server[1]}"
    if not args.to:
        args.to = args.uri[4:] if args.uri.startswith("sip:") else args.uri
    if not args.from_:
        args.from_ = args.user or "sipmsg@example.test"
    tr = Transport(args.transport, server, args.local_port)
    if args.contact == "auto":
        user = args.from_.split("@")[0]
        args.contact = f"sip:{user}@{tr.local[0]}:{tr.local[1]}" + \
            (";transport=tcp" if args.transport == "tcp" else "")
    tag, callid = secrets.token_hex(6), secrets.token_hex(12) + "@sipmsg"
    cseq = 1
    branch = "z9hG4bK" + secrets.token_hex(10)
    resp = transaction(args, tr, build(args, tr, cseq, None, branch, tag, callid), branch)
    if resp is not None and args.password is not None:
        start, hdrs, _ = parse_msg(resp)
        code = int(start.split()[1])
        if code in (401, 407):
            hname = "www-authenticate" if code == 401 else "proxy-authenticate"
            chosen = None
            for value in hget(hdrs, hname):
                scheme, params = auth_params(value)
                alg = params.get("algorithm", "MD5").upper()
                if scheme.lower() != "digest" or alg not in HASHES:
                    continue
                if args.algorithm and alg != args.algorithm.upper():
                    continue
                chosen = params
                break
            if chosen is None:
                print(f"sipmsg: no usable {hname} challenge", file=sys.stderr)
                print("STATUS none")
                return 1
            user = (args.user or args.from_).split("@")[0]
            a = digest(chosen, args.method, args.uri, user, args.password)
            name = "Authorization" if code == 401 else "Proxy-Authorization"
            cseq += 1
            branch = "z9hG4bK" + secrets.token_hex(10)
            msg = build(args, tr, cseq, f"{name}: {a}", branch, tag, callid)
            resp = transaction(args, tr, msg, branch)
    if resp is None:
        print("STATUS none")
        return 1
    code = int(resp.split(b" ", 2)[1])
    if args.final:
        with open(args.final, "wb") as f:
            f.write(resp)
    print(f"STATUS {code}")
    if args.expect is not None and code != args.expect:
        print(f"sipmsg: expected {args.expect}, got {code}", file=sys.stderr)
        return 1
    return 0


def options_ok(server):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    lport = s.getsockname()[1]
    branch = "z9hG4bK" + secrets.token_hex(10)
    msg = (f"OPTIONS sip:{server[0]}:{server[1]} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch};rport\r\n"
           "Max-Forwards: 70\r\n"
           f"From: <sip:probe@example.test>;tag={secrets.token_hex(4)}\r\n"
           f"To: <sip:{server[0]}:{server[1]}>\r\n"
           f"Call-ID: {secrets.token_hex(10)}@probe\r\nCSeq: 1 OPTIONS\r\n"
           "Content-Length: 0\r\n\r\n").encode()
    deadline = time.monotonic() + 5
    next_tx = 0.0
    try:
        while time.monotonic() < deadline:
            if time.monotonic() >= next_tx:
                s.sendto(msg, server)
                next_tx = time.monotonic() + 0.5
            s.settimeout(0.2)
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                continue
            if branch.encode() in data and data.startswith(b"SIP/2.0 ") and \
                    int(data.split(b" ", 2)[1]) >= 200:
                return data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
        return None
    finally:
        s.close()


def cmd_replay(args):
    host, _, port = args.server.rpartition(":")
    server = (host or "127.0.0.1", int(port))
    bad = 0
    for path in args.files:
        with open(path, "rb") as f:
            data = f.read()
        first = "-"
        if args.tcp:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(args.wait)
            try:
                s.connect(server)
                s.sendall(data)
                reply = s.recv(65535)
                first = reply.split(b"\r\n", 1)[0].decode("utf-8", "replace") if reply else "(closed)"
            except socket.timeout:
                pass
            except OSError as e:
                first = f"(tcp error: {e})"
            finally:
                s.close()
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            s.settimeout(args.wait)
            try:
                s.sendto(data, server)
                reply, _ = s.recvfrom(65535)
                first = reply.split(b"\r\n", 1)[0].decode("utf-8", "replace")
            except socket.timeout:
                pass
            except OSError as e:
                first = f"(send error: {e})"
            finally:
                s.close()
        line = f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}: {first}"
        if args.check_options:
            ok = options_ok(server)
            line += f"  | OPTIONS after: {ok or 'NO ANSWER'}"
            if not ok:
                print(line, flush=True)
                print(f"sipmsg: server stopped answering OPTIONS after {path}", file=sys.stderr)
                bad = 1
                break
        print(line, flush=True)
    return bad


def main():
    ap = argparse.ArgumentParser(prog="sipmsg.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("request")
    r.add_argument("--server", required=True)
    r.add_argument("--transport", choices=["udp", "tcp"], default="udp")
    r.add_argument("--method", default="OPTIONS")
    r.add_argument("--uri")
    r.add_argument("--from", dest="from_")
    r.add_argument("--to")
    r.add_argument("--contact", help="a URI, or 'auto' for this socket's address")
    r.add_argument("--expires", type=int)
    r.add_argument("--header", action="append", default=[])
    r.add_argument("--body")
    r.add_argument("--ctype", default="text/plain")
    r.add_argument("--user")
    r.add_argument("--password")
    r.add_argument("--algorithm")
    r.add_argument("--expect", type=int)
    r.add_argument("--timeout", type=float, default=10.0)
    r.add_argument("--local-port", type=int, default=0)
    r.add_argument("--final", help="write the final response to this file")
    p = sub.add_parser("replay")
    p.add_argument("--server", required=True)
    p.add_argument("--wait", type=float, default=0.5)
    p.add_argument("--check-options", action="store_true")
    p.add_argument("--tcp", action="store_true", help="send each file on a new TCP connection")
    p.add_argument("files", nargs="+")
    args = ap.parse_args()
    return cmd_request(args) if args.cmd == "request" else cmd_replay(args)


if __name__ == "__main__":
    sys.exit(main())
