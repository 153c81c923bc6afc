#!/usr/bin/env python3
"""Socket activation as systemd does it for systemd-journal-remote.socket (sd_listen_fds(3)):
binds a TCP listening socket on HOST, port 0 (the OS picks a free one: no race with other tests),
prints {"port": N} on stdout, then execs CMD with the socket as fd 3 and LISTEN_FDS=1,
LISTEN_PID=<its own pid> (exec keeps the pid). Usage: socket_activate.py HOST CMD [ARGS...]
CMD takes it as `--listen-http=-3`, like the Debian unit's `--listen-https=-3`."""
import json, os, socket, sys

host, cmd = sys.argv[1], sys.argv[2:]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((host, 0))
s.listen(64)
port = s.getsockname()[1]
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)  # dup2 clears close-on-exec on the new descriptor
else:
    os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ.pop("LISTEN_FDNAMES", None)
print(json.dumps({"port": port}), flush=True)
os.execvp(cmd[0], cmd)
