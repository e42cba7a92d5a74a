#!/usr/bin/env python3
"""chat_focus.py — a scripted chat-room focus for testing `cpm chat ROOM` (stdlib only).

It plays the server side of RFC 7701 / RFC 4575 for one participant over SIP/UDP and
MSRP/TCP, so that the client's room features can be checked without a server room:

  chat_focus.py --sip-port P --room sip:room@example.test [--timeout S]

  - INVITE: 200 with Contact ...;isfocus (RFC 4579 §3) and an SDP answer
    (a=setup:passive, a=accept-types:message/cpim ...), resent until the ACK;
  - SUBSCRIBE Event: conference: 200, then a NOTIFY with the full state (Alice, Bob);
    an unsubscribe (Expires: 0): 200 and a terminating NOTIFY;
  - MSRP: the empty SEND binds the connection; each CPIM SEND is answered 200 and
    printed as "GOT <To URI> <text>"; after the first one the focus sends a CPIM
    message from Bob and a partial NOTIFY: Carol joined, Bob left;
  - NICKNAME (RFC 7701 §7.1): 200, printed as "NICK <name>";
  - BYE: 200, "BYE" printed, exit 0.  Exit 1 on --timeout.
"""
import argparse
import re
import secrets
import select
import socket
import sys
import time


def log(*a):
    print(*a, flush=True)


def parse_sip(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    hdrs = []
    for line in lines[1:]:
        n, _, v = line.partition(":")
        hdrs.append((n.strip().lower(), v.strip()))
    return lines[0], hdrs, body


def hget(hdrs, name, short=None):
    for n, v in hdrs:
        if n == name or (short and n == short):
            return v
    return None


def hall(hdrs, name):
    return [v for n, v in hdrs if n == name]


CI = "urn:ietf:params:xml:ns:conference-info"


def conf_doc(state, version, users):
    out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<conference-info xmlns="{CI}" '
           f'entity="{ROOM}" state="{state}" version="{version}">\n<users>\n']
    for entity, disp, status in users:
        if status == "deleted":
            out.append(f'<user entity="{entity}" state="deleted"/>\n')
            continue
        out.append(f'<user entity="{entity}" state="full"><display-text>{disp}</display-text>'
                   f'<endpoint entity="{entity}"><status>{status}</status></endpoint></user>\n')
    out.append("</users>\n</conference-info>\n")
    return "".join(out).encode()


class Sip:
    def __init__(self, port):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", port))
        self.port = port
        self.tag = secrets.token_hex(4)
        self.cseq = 1
        self.sub = None  # the subscription dialog
        self.version = 0

    def respond(self, req, hdrs, addr, code, reason, extra="", ctype=None, body=b""):
        out = [f"SIP/2.0 {code} {reason}"]
        for n, v in hdrs:
            if n in ("via", "v"):
                out.append(f"Via: {v}")
        out.append(f"From: {hget(hdrs, 'from', 'f')}")
        to = hget(hdrs, "to", "t")
        if ";tag=" not in to:
            to += f";tag={self.tag}"
        out.append(f"To: {to}")
        out.append(f"Call-ID: {hget(hdrs, 'call-id', 'i')}")
        out.append(f"CSeq: {hget(hdrs, 'cseq')}")
        for v in hall(hdrs, "record-route"):
            out.append(f"Record-Route: {v}")
        if extra:
            out.append(extra.rstrip("\r\n"))
        if ctype:
            out.append(f"Content-Type: {ctype}")
        out.append(f"Content-Length: {len(body)}")
        msg = ("\r\n".join(out) + "\r\n\r\n").encode() + body
        self.s.sendto(msg, addr)
        return msg

    def notify(self, state, body, sub_state="active;expires=3600"):
        """In the subscription dialog, straight to the subscriber's Contact."""
        d = self.sub
        self.cseq += 1
        m = re.search(r"sip:[^@>]+@([0-9.]+):(\d+)", d["contact"])
        msg = (f"NOTIFY {d['contact']} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{secrets.token_hex(6)}\r\n"
               f"Max-Forwards: 70\r\nFrom: <{ROOM}>;tag={self.tag}\r\nTo: {d['from']}\r\n"
               f"Call-ID: {d['call_id']}\r\nCSeq: {self.cseq} NOTIFY\r\n"
               f"Contact: <sip:room@127.0.0.1:{self.port}>;isfocus\r\nEvent: conference\r\n"
               f"Subscription-State: {sub_state}\r\n")
        if body:
            msg += f"Content-Type: application/conference-info+xml\r\n"
        msg += f"Content-Length: {len(body)}\r\n\r\n"
        self.s.sendto(msg.encode() + body, (m.group(1), int(m.group(2))))


def msrp_frames(buf):
    """Complete MSRP messages at the start of buf: [(tid, method_or_code, headers, body)], rest."""
    out = []
    while True:
        m = re.match(rb"MSRP (\S+) (\S+)[^\r\n]*\r\n", buf)
        if not m:
            return out, buf
        tid = m.group(1)
        end = re.search(rb"-------" + re.escape(tid) + rb"([$+#])\r\n", buf)
        if not end:
            return out, buf
        msg = buf[:end.start()]
        head, _, body = msg.partition(b"\r\n\r\n")
        hdrs = {}
        for line in head.split(b"\r\n")[1:]:
            n, _, v = line.decode().partition(":")
            hdrs[n.strip().lower()] = v.strip()
        if body.endswith(b"\r\n"):
            body = body[:-2]
        out.append((tid.decode(), m.group(2).decode(), hdrs, body))
        buf = buf[end.end():]


def main():
    global ROOM
    ap = argparse.ArgumentParser()
    ap.add_argument("--sip-port", type=int, required=True)
    ap.add_argument("--room", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    ROOM = a.room
    sip = Sip(a.sip_port)
    lsn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(2)
    my_uri = f"msrp://127.0.0.1:{lsn.getsockname()[1]}/focus{secrets.token_hex(4)};tcp"
    conn, rbuf, peer_path = None, b"", None
    ok200, ok_addr, acked, sent_bob = None, None, False, False
    end = time.time() + a.timeout
    log(f"READY {my_uri}")
    while time.time() < end:
        rl = [sip.s, lsn] + ([conn] if conn else [])
        r, _, _ = select.select(rl, [], [], 0.5)
        if ok200 and not acked:
            sip.s.sendto(ok200, ok_addr)  # §13.3.1.4: the 2xx again until the ACK
        for s in r:
            if s is lsn:
                conn, _ = lsn.accept()
                continue
            if s is conn:
                data = conn.recv(65536)
                if not data:
                    conn = None
                    continue
                rbuf += data
                frames, rbuf = msrp_frames(rbuf)
                for tid, what, h, body in frames:
                    if what.isdigit():
                        continue  # answers to our SENDs
                    if what in ("SEND", "NICKNAME"):
                        conn.sendall(f"MSRP {tid} 200 OK\r\nTo-Path: {h['from-path'].split()[0]}\r\n"
                                     f"From-Path: {my_uri}\r\n-------{tid}$\r\n".encode())
                    if what == "NICKNAME":
                        log(f"NICK {h.get('use-nickname', '').strip(chr(34))}")
                        continue
                    if what != "SEND" or not body:
                        continue
                    cpim_head, _, rest = body.partition(b"\r\n\r\n")
                    _, _, text = rest.partition(b"\r\n\r\n")
                    to = re.search(rb"^To: *<([^>]+)>", cpim_head, re.M)
                    ctype = re.search(rb"Content-Type: *([^\r\n;]+)", rest)
                    if ctype and ctype.group(1) != b"text/plain":
                        log(f"INDICATION {ctype.group(1).decode()}")
                        continue
                    log(f"GOT {to.group(1).decode() if to else '-'} {text.decode()}")
                    if not sent_bob:
                        sent_bob = True
                        tid2 = secrets.token_hex(6)
                        cpim = (f"From: \"Bob\" <sip:bob@example.test>\r\nTo: <{ROOM}>\r\n"
                                f"DateTime: 2026-11-30T06:00:00Z\r\n\r\n"
                                f"Content-Type: text/plain\r\n\r\nhello from bob in the room").encode()
                        conn.sendall(f"MSRP {tid2} SEND\r\nTo-Path: {peer_path}\r\nFrom-Path: {my_uri}\r\n"
                                     f"Message-ID: m{tid2}\r\nByte-Range: 1-{len(cpim)}/{len(cpim)}\r\n"
                                     f"Content-Type: message/cpim\r\n\r\n".encode() + cpim +
                                     f"\r\n-------{tid2}$\r\n".encode())
                        if sip.sub:
                            sip.version += 1
                            sip.notify("active;expires=3600", conf_doc("partial", sip.version, [
                                ("sip:carol@example.test", "Carol", "connected"),
                                ("sip:bob@example.test", "Bob", "deleted")]))
                continue
            data, addr = sip.s.recvfrom(65536)
            if not data.strip():
                continue
            start, hdrs, body = parse_sip(data)
            method = start.split(" ")[0]
            if start.startswith("SIP/2.0"):
                continue  # answers to our NOTIFYs
            if method == "ACK":
                acked = True
                continue
            if method == "INVITE":
                if ok200:
                    continue
                m = re.search(rb"a=path:([^\r\n]+)", body)
                peer_path = m.group(1).decode().strip()
                sdp = (f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                       f"m=message {lsn.getsockname()[1]} TCP/MSRP *\r\n"
                       f"a=accept-types:message/cpim\r\n"
                       f"a=accept-wrapped-types:text/plain application/im-iscomposing+xml\r\n"
                       f"a=path:{my_uri}\r\na=setup:passive\r\n").encode()
                ok200 = sip.respond(start, hdrs, addr, 200, "OK",
                                    f"Contact: <sip:room@127.0.0.1:{sip.port}>;isfocus",
                                    "application/sdp", sdp)
                ok_addr = addr
                log("INVITE")
            elif method == "SUBSCRIBE":
                exp = hget(hdrs, "expires") or "3600"
                contact = re.search(r"<([^>]+)>", hget(hdrs, "contact", "m")).group(1)
                sip.respond(start, hdrs, addr, 200, "OK",
                            f"Contact: <sip:room@127.0.0.1:{sip.port}>;isfocus\r\nExpires: {exp}")
                if exp == "0":
                    log("UNSUBSCRIBE")
                    sip.notify("terminated;reason=timeout", b"", "terminated;reason=timeout")
                    continue
                sip.sub = {"contact": contact, "from": hget(hdrs, "from", "f"),
                           "call_id": hget(hdrs, "call-id", "i")}
                sip.version += 1
                sip.notify("active;expires=3600", conf_doc("full", sip.version, [
                    ("sip:alice@example.test", "Alice", "connected"),
                    ("sip:bob@example.test", "Bob", "connected")]))
                log("SUBSCRIBE")
            elif method == "BYE":
                sip.respond(start, hdrs, addr, 200, "OK")
                log("BYE")
                time.sleep(0.5)  # a last unsubscribe may follow
                while True:
                    r, _, _ = select.select([sip.s], [], [], 0.5)
                    if not r:
                        break
                    data, addr = sip.s.recvfrom(65536)
                    start, hdrs, body = parse_sip(data)
                    if start.startswith("SUBSCRIBE"):
                        sip.respond(start, hdrs, addr, 200, "OK", "Expires: 0")
                        log("UNSUBSCRIBE")
                return 0
            else:
                sip.respond(start, hdrs, addr, 200, "OK")
    log("TIMEOUT")
    return 1


if __name__ == "__main__":
    sys.exit(main())
