#!/usr/bin/env python3
"""Fake systemd notify socket (test-infra.md appendix D): binds a unix datagram socket with
SO_PASSCRED (so each datagram carries its sender's pid, as systemd sees it) and prints one JSON
line per datagram: {"t": CLOCK_MONOTONIC ms, "pid", "uid", "truncated", "msg": {KEY: VALUE}}.
The first line is {"listening": path}. Exits on SIGTERM or when stdin closes (its parent died)."""
import json, os, select, signal, socket, struct, sys, time

# systemd reads at most this much per notify datagram (NOTIFY_BUFFER_MAX = PIPE_BUF).
BUFFER = 4096

path = sys.argv[1]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(path)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
print(json.dumps({"listening": path}), flush=True)
try:
    while True:
        ready, _, _ = select.select([s, sys.stdin], [], [])
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 4096):
            break
        if s not in ready:
            continue
        data, anc, flags, _ = s.recvmsg(BUFFER, socket.CMSG_SPACE(12))
        pid = uid = None
        for level, typ, cdata in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                pid, uid, _gid = struct.unpack("iii", cdata[:12])
        kv = dict(l.split("=", 1) for l in data.decode(errors="replace").split("\n") if "=" in l)
        print(json.dumps({"t": round(time.monotonic() * 1000, 3), "pid": pid, "uid": uid,
                          "truncated": bool(flags & socket.MSG_TRUNC), "msg": kv}), flush=True)
finally:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
