#!/usr/bin/env python3
"""pty_drive.py — run a command on a pseudo-terminal and play a script to it, as a person
at a terminal would (for `cpm chat`'s line editing).  Python 3 standard library only.

    pty_drive.py --log FILE [--timeout S] -- CMD ARGS... < SCRIPT

SCRIPT, one step per line ('#' comments):
    expect REGEX [SECONDS]   wait until the output (ANSI sequences removed) matches REGEX
                             after the previous match (default 20 s); fail otherwise
    wait-file FILE REGEX [SECONDS]
                             wait until FILE (another process's output) matches REGEX
    type TEXT                type TEXT one character every 0.05 s
    key NAME                 enter, ctrl-d, ctrl-c
    sleep SECONDS
    eof [SECONDS]            wait for the command to exit (default 20 s)

The whole output goes to --log.  Exit status: the command's, or 1 when a step failed
(the reason on stderr), or 124 when the command did not end.
"""
import argparse
import os
import pty
import re
import select
import signal
import sys
import time

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]|\r")
KEYS = {"enter": b"\r", "ctrl-d": b"\x04", "ctrl-c": b"\x03"}


class Term:
    def __init__(self, argv, log):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["TERM"] = "xterm"
            os.execvp(argv[0], argv)
        self.log = open(log, "wb")
        self.raw = b""
        self.seen = 0  # where the next expect starts
        self.status = None

    def pump(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            data = b""
        if not data:
            self.reap(block=True)
            return
        self.raw += data
        self.log.write(data)
        self.log.flush()

    def reap(self, block=False):
        if self.status is not None:
            return True
        pid, st = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        self.status = os.waitstatus_to_exitcode(st)
        return True

    def text(self):
        return ANSI.sub(b"", self.raw).decode("utf-8", "replace")

    def expect(self, regex, secs):
        end = time.time() + secs
        pat = re.compile(regex, re.M)
        while time.time() < end:
            m = pat.search(self.text(), self.seen)
            if m:
                self.seen = m.end()
                return True
            if self.status is not None:
                break
            self.pump(0.1)
            self.reap()
        return False

    def send(self, data):
        os.write(self.fd, data)


def fail(t, why):
    print(f"pty_drive: {why}", file=sys.stderr)
    print("pty_drive: output so far:\n" + t.text()[-3000:], file=sys.stderr)
    if t.status is None:
        os.kill(t.pid, signal.SIGKILL)
        t.reap(block=True)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    steps = [ln.strip() for ln in sys.stdin.read().splitlines()]
    t = Term(cmd, a.log)
    for step in steps:
        if not step or step.startswith("#"):
            continue
        op, _, arg = step.partition(" ")
        if op == "expect":
            m = re.match(r"(.*?)(?:\s+(\d+(?:\.\d+)?))?$", arg)
            if not t.expect(m.group(1), float(m.group(2) or 20)):
                fail(t, f"no match for '{m.group(1)}'")
        elif op == "wait-file":
            path, _, rest = arg.partition(" ")
            m = re.match(r"(.*?)(?:\s+(\d+(?:\.\d+)?))?$", rest)
            end = time.time() + float(m.group(2) or 20)
            while True:
                try:
                    with open(path, encoding="utf-8", errors="replace") as f:
                        if re.search(m.group(1), f.read(), re.M):
                            break
                except FileNotFoundError:
                    pass
                if time.time() > end:
                    fail(t, f"{path} never matched '{m.group(1)}'")
                t.pump(0.1)  # keep reading the terminal meanwhile
        elif op == "type":
            for ch in arg:
                t.send(ch.encode())
                t.pump(0.05)
        elif op == "key":
            t.send(KEYS[arg])
            t.pump(0.05)
        elif op == "sleep":
            end = time.time() + float(arg)
            while time.time() < end:
                t.pump(0.05)
        elif op == "eof":
            end = time.time() + float(arg or 20)
            while t.status is None and time.time() < end:
                t.pump(0.1)
                t.reap()
            if t.status is None:
                os.kill(t.pid, signal.SIGKILL)
                t.reap(block=True)
                print("pty_drive: the command did not end", file=sys.stderr)
                sys.exit(124)
        else:
            fail(t, f"unknown step '{step}'")
    while t.status is None:
        t.pump(0.1)
        t.reap()
    sys.exit(t.status)


if __name__ == "__main__":
    main()
