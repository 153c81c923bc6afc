#!/usr/bin/env python3
"""A loudspeaker for tests (test-infra.md §1.5): drains a FIFO at real-time pace like a sound card,
with the pipe shrunk to 4 KiB so the writer (aplay via the ALSA file plugin) is held to real time.
Serves one writer after another (each TTS stream is a new aplay); appends everything to OUT and
prints "ready" when a writer may come, "open", "chunk <bytes> <monotonic>" every 10 ms of audio, and "close <bytes>" per writer."""
import fcntl, os, select, sys, time

fifo, out = sys.argv[1], sys.argv[2]
rate_bps = int(sys.argv[3]) if len(sys.argv) > 3 else 48000   # 24 kHz * 2 bytes
F_SETPIPE_SZ = 1031
with open(out, 'ab', buffering=0) as f:
    while True:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)   # does not wait for a writer
        fcntl.fcntl(fd, F_SETPIPE_SZ, 4096)               # before any data: 4 KiB of lead
        print("ready", flush=True)                        # a writer may open the FIFO now
        select.select([fd], [], [])                       # wait for the writer's first bytes
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        print("open", flush=True)
        t0 = None; n = 0
        while True:
            try:
                b = os.read(fd, rate_bps // 100)          # 10 ms: what a sound card holds beyond the pipe
            except BlockingIOError:
                continue
            if not b:
                break
            if t0 is None:
                t0 = time.monotonic()
            f.write(b); n += len(b)
            print(f"chunk {len(b)} {time.monotonic():.6f}", flush=True)
            d = t0 + n / rate_bps - time.monotonic()
            if d > 0:
                time.sleep(d)
        os.close(fd)
        print(f"close {n}", flush=True)
