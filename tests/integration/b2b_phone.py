#!/usr/bin/env python3
"""b2b_phone.py: a user's phone for the B2BUA tests (stdlib only).

  b2b_phone.py SIP_PORT AOR N [TIMEOUT]
      REGISTERs AOR from a UDP socket (the source must be in auth.trusted), prints
      "REGISTER <status>", then answers every MESSAGE 200 and prints one line per MESSAGE:
      "MESSAGE from=<From> date=<Date> body=<body>"; an INVITE gets 486.  Exits 0 after N
      MESSAGEs, 1 at TIMEOUT seconds (default 30).
"""
import re
import secrets
import socket
import sys
import time


def main():
    port, aor, want = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    limit = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
    user, domain = aor.split("@", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    lport = s.getsockname()[1]
    reg = (f"REGISTER sip:{domain} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
           f"Max-Forwards: 70\r\nFrom: <sip:{aor}>;tag={secrets.token_hex(4)}\r\n"
           f"To: <sip:{aor}>\r\nCall-ID: {secrets.token_hex(8)}@phone\r\nCSeq: 1 REGISTER\r\n"
           f"Contact: <sip:{user}@127.0.0.1:{lport}>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n")
    s.sendto(reg.encode(), ("127.0.0.1", port))
    n = 0
    end = time.time() + limit
    while time.time() < end and n < want:
        try:
            d, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        msg = d.decode(errors="replace")
        head, _, body = msg.partition("\r\n\r\n")
        lines = head.split("\r\n")
        first = lines[0]
        if first.startswith("SIP/2.0"):
            print("REGISTER", first.split()[1], flush=True)
            continue
        keep = [x for x in lines[1:] if re.match(r"(Via|v|From|f|To|t|Call-ID|i|CSeq)\s*:", x, re.I)]
        if first.startswith("ACK"):
            continue
        code = "200 OK" if first.startswith("MESSAGE") else "486 Busy Here"
        tag = "" if first.startswith("MESSAGE") else f";tag={secrets.token_hex(4)}"
        keep = [x + tag if re.match(r"(To|t)\s*:", x, re.I) and "tag=" not in x else x for x in keep]
        s.sendto((f"SIP/2.0 {code}\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n").encode(), addr)
        if not first.startswith("MESSAGE"):
            print("REQUEST", first.split()[0], "answered", code.split()[0], flush=True)
            continue
        def h(name, short):
            for x in lines[1:]:
                k, _, v = x.partition(":")
                if k.strip().lower() in (name, short):
                    return v.strip()
            return ""
        n += 1
        print(f"MESSAGE from={h('from', 'f')} date={h('date', '')} body={body.strip()}", flush=True)
    return 0 if n >= want else 1


if __name__ == "__main__":
    sys.exit(main())
