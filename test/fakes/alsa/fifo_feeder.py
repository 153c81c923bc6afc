#!/usr/bin/env python3
"""A microphone for tests (test-infra.md §1.4): writes a raw S16_LE file into a FIFO at real-time
pace, in whole ALSA periods (the file plugin treats a short read as a full period), then silence
(or, with a loop gap, the same again after the gap) until killed, so arecord never sees EOF. SIGSTOP it to make a mic that delivers nothing.
Prints one line "started <monotonic>" when the first period is written."""
import os, signal, sys, time

src, fifo = sys.argv[1], sys.argv[2]
rate_bps = int(sys.argv[3]) if len(sys.argv) > 3 else 32000   # 16 kHz * 2 bytes
period = int(sys.argv[4]) if len(sys.argv) > 4 else 4000       # = arecord's period bytes, <= PIPE_BUF
lead_silence = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
loop_gap = float(sys.argv[6]) if len(sys.argv) > 6 else -1.0   # >= 0: say it again after this gap, forever
data = b'\0' * (int(lead_silence * rate_bps) // 2 * 2) + open(src, 'rb').read()
if loop_gap >= 0:
    data += b'\0' * (int(loop_gap * rate_bps) // 2 * 2)
data += b'\0' * (-len(data) % period)
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
fd = os.open(fifo, os.O_WRONLY)
t0 = time.monotonic(); off = 0
while True:
    if loop_gap >= 0:
        chunk = data[off % len(data):off % len(data) + period]
    else:
        chunk = data[off:off + period] if off < len(data) else b'\0' * period
    d = t0 + off / rate_bps - time.monotonic()
    if d > 0:
        time.sleep(d)
    os.write(fd, chunk)
    if off == 0:
        print(f"started {t0:.6f}", flush=True)
    off += period
