#!/usr/bin/env python3
"""smtp_sink.py — a real SMTP server (RFC 5321, Debian's python3-aiosmtpd) on
127.0.0.1 that keeps what it receives, for the e-mail interworking tests.

Each accepted message is written to DIR as N.eml (the data exactly as
received, dot-stuffing undone) and N.json (envelope: mail_from, rcpt_tos,
peer, auth_user, tls, size), N = 1, 2, ... in arrival order; the .eml is
renamed into place after the .json, so a test may wait for the .eml.

Usage (run it with /usr/bin/python3: Debian's packages are there):
  smtp_sink.py --dir DIR [--port 0] [--port-file F] [--exit-after 60]
               [--max-messages N] [--reject ADDR=CODE[:TEXT]]...
               [--stall ADDR=SECONDS]... [--data-reply CODE[:TEXT]]
               [--auth USER:PASS] [--tls-cert PEM --tls-key PEM]
               [--require-tls] [--implicit-tls]

  --port 0            a free port, printed as "PORT N" on stdout (and to
                      --port-file, written atomically) once listening
  --reject ADDR=CODE  answer RCPT TO:<ADDR> with CODE (e.g. 550 or 451)
  --stall ADDR=S      wait S seconds before answering RCPT TO:<ADDR>
  --data-reply CODE   answer the end of DATA with CODE instead of 250
  --auth USER:PASS    offer AUTH PLAIN/LOGIN and require it before MAIL
  --tls-cert/--tls-key  offer STARTTLS (RFC 3207); --require-tls: before MAIL
  --implicit-tls      TLS from the first byte (smtps, RFC 8314) instead
  --exit-after S      stop after S seconds (default 60): the sink never
                      outlives a test
  --max-messages N    stop after the N-th accepted message
Exit status 0; "MSG N <mail_from> <rcpt,...>" is printed per message.
"""
import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_map(items, conv):
    out = {}
    for item in items or []:
        addr, _, val = item.partition("=")
        if not addr or not val:
            sys.exit(f"smtp_sink: expected ADDR=VALUE, got {item!r}")
        out[addr.lower()] = conv(val)
    return out


def reply(spec, default_text):
    code, _, text = spec.partition(":")
    if not (len(code) == 3 and code.isdigit()):
        sys.exit(f"smtp_sink: bad reply code {spec!r}")
    return f"{code} {text or default_text}"


class Sink:
    def __init__(self, args, done):
        self.dir = args.dir
        self.rejects = parse_map(args.reject, lambda v: reply(v, "refused by smtp_sink"))
        self.stalls = parse_map(args.stall, float)
        self.data_reply = reply(args.data_reply, "refused by smtp_sink") if args.data_reply else None
        self.max_messages = args.max_messages
        self.count = 0
        self.done = done

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        key = address.lower()
        if key in self.stalls:
            await asyncio.sleep(self.stalls[key])
        if key in self.rejects:
            return self.rejects[key]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.count += 1
        n = self.count
        data = envelope.original_content or b""
        meta = {
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "peer": list(session.peer[:2]) if session.peer else None,
            "auth_user": (session.auth_data.login.decode()
                          if isinstance(session.auth_data, LoginPassword) else None),
            "tls": server.transport.get_extra_info("ssl_object") is not None,
            "size": len(data),
        }
        base = os.path.join(self.dir, str(n))
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".json.tmp", base + ".json")
        with open(base + ".eml.tmp", "wb") as f:
            f.write(data)
        os.rename(base + ".eml.tmp", base + ".eml")
        print(f"MSG {n} {envelope.mail_from} {','.join(envelope.rcpt_tos)}", flush=True)
        if self.max_messages and n >= self.max_messages:
            asyncio.get_running_loop().call_soon(self.done.set)
        return f"250 2.0.0 Ok: queued as sink-{n}"


def authenticator_for(spec):
    user, _, password = spec.partition(":")

    def check(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == user.encode()
              and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return check


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--exit-after", type=float, default=60.0)
    ap.add_argument("--max-messages", type=int, default=0)
    ap.add_argument("--reject", action="append")
    ap.add_argument("--stall", action="append")
    ap.add_argument("--data-reply")
    ap.add_argument("--auth")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--require-tls", action="store_true")
    ap.add_argument("--implicit-tls", action="store_true")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("smtp_sink: loopback only")
    os.makedirs(args.dir, exist_ok=True)

    ctx = None
    if args.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
    done = asyncio.Event()
    sink = Sink(args, done)
    kw = {"hostname": "smtp-sink.test", "ident": "smtp_sink (aiosmtpd)"}
    if args.auth:
        kw.update(authenticator=authenticator_for(args.auth), auth_required=True,
                  auth_require_tls=False)
    if ctx and not args.implicit_tls:
        kw.update(tls_context=ctx, require_starttls=args.require_tls)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, **kw), host=args.host, port=args.port,
                                      ssl=ctx if args.implicit_tls else None)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.rename(args.port_file + ".tmp", args.port_file)
    print(f"PORT {port}", flush=True)
    try:
        await asyncio.wait_for(done.wait(), timeout=args.exit_after)
    except asyncio.TimeoutError:
        pass
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
