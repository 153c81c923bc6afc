#!/usr/bin/env python3
"""The test journald: the receiving half of systemd-journald's native protocol, for tests on a
machine without a running journald. Usage:

    test_journald.py SOCKET    (stdout: journal export format; fd 3: one JSON line per event)

Binds SOCKET (the test runs it at /run/systemd/journal/socket inside a private mount namespace,
test/fakes/journal/journal-ns.sh, because libsystemd's sd_journal_sendv always sends there),
parses every datagram as journald does and writes each entry, with the trusted fields journald
adds, in journal export format to stdout, which the test pipes into the real
`systemd-journal-remote -o FILE.journal -`.

Modelled on systemd's src/journal/journald-native.c (v252 as in Debian bookworm, unchanged in
substance since) and https://systemd.io/JOURNAL_NATIVE_PROTOCOL/:
- a datagram holds one or more entries; an empty line ends an entry; lines starting with '.' or
  '#' are skipped (control commands, comments);
- `KEY=value\\n` is a text field; a line without '=' is `KEY\\n` + 64-bit little-endian length +
  data + `\\n` (binary, may contain newlines);
- a field whose name fails journal_field_valid(allow_protected=false) (1–64 chars of [A-Z0-9_],
  no leading digit, no leading '_': a client cannot forge trusted fields) is dropped;
- bytes after the last newline are "trailing noise": the entry so far is kept, the rest dropped;
- a datagram too big for the socket arrives as a sealed memfd over SCM_RIGHTS with an empty
  payload (sd_journal_sendv's fallback on EMSGSIZE/ENOBUFS): the fd's contents are parsed like a
  datagram (journald's server_process_native_file);
- SO_PASSCRED/SO_TIMESTAMP as journald sets them: the sender's pid/uid/gid and the kernel's
  receive time come with each datagram.
Where journald drops something silently (log_debug), this receiver also reports it on fd 3 as
{"problem": ...} and on stderr: a test asserts it saw none.

Trusted fields copied (journald's dispatch_message_real): _PID _UID _GID (SCM_CREDENTIALS),
_COMM _EXE _CMDLINE (read from /proc/PID as journald's client context does), _TRANSPORT=journal,
_SOURCE_REALTIME_TIMESTAMP (SO_TIMESTAMP), _BOOT_ID, _MACHINE_ID, _HOSTNAME; and the entry's
__REALTIME_TIMESTAMP / __MONOTONIC_TIMESTAMP (clock at reception). Not copied: _CAP_EFFECTIVE,
_SYSTEMD_CGROUP/_SYSTEMD_UNIT/_SYSTEMD_* (no service manager here), audit and SELinux fields.
Not modelled: rate limiting, MaxLevelStore, forwarding to syslog/kmsg/console.

Ends on SIGTERM or when stdin closes (its parent died): it drains what is already queued on the
socket first, so nothing sent before the stop is lost, then closes stdout (the importer then
finishes the journal file) and removes the socket.
"""
import array, base64, fcntl, hashlib, json, os, re, select, signal, socket, struct, sys, termios, time

# journald's limits (journal-file.h / journald-native.c of v252).
DATA_SIZE_MAX = 1024 * 1024 * 768
ENTRY_SIZE_MAX = 1024 * 1024 * 770
ENTRY_FIELD_COUNT_MAX = 1024
# journald reads at least LINE_MAX and at most what SIOCINQ says the next datagram holds.
LINE_MAX = 2048
# <asm-generic/socket.h>: SO_TIMESTAMP (== SCM_TIMESTAMP) on x86-64 and arm64; Python lacks it.
SO_TIMESTAMP = 29
# Longer values reach fd 3 as their sha256 and length (the export stream has them whole).
EVENT_VALUE_MAX = 64 * 1024
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1, 2, 4, 8

path = sys.argv[1]
events = os.fdopen(3, "w", buffering=1)
export = sys.stdout.buffer

with open("/proc/sys/kernel/random/boot_id") as f:
    BOOT_ID = f.read().strip().replace("-", "")
with open("/etc/machine-id") as f:
    MACHINE_ID = f.read().strip()
HOSTNAME = socket.gethostname()


def emit(obj):
    events.write(json.dumps(obj) + "\n")


def problem(text):
    print(f"test_journald: {text}", file=sys.stderr, flush=True)
    emit({"problem": text})


def field_valid(name):
    """journal_field_valid(p, l, allow_protected=false) of src/libsystemd/sd-journal/journal-file.c."""
    if not 0 < len(name) <= 64 or name[0] == ord("_") or chr(name[0]).isdigit():
        return False
    return all(c == ord("_") or ord("A") <= c <= ord("Z") or ord("0") <= c <= ord("9") for c in name)


def proc_fields(pid):
    """_COMM, _EXE, _CMDLINE as journald's client context reads them (get_process_comm/exe/cmdline);
    journald keeps the entry without them when /proc/PID is gone (the sender already exited), and
    so does this receiver: the reason goes to the entry's event as "proc_missing"."""
    out = []
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            out.append((b"_COMM", f.read().rstrip(b"\n")))
        out.append((b"_EXE", os.readlink(f"/proc/{pid}/exe").encode()))
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            out.append((b"_CMDLINE", f.read().rstrip(b"\0").replace(b"\0", b" ")))
    except OSError as e:
        return out, str(e)
    return out, None


CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f]")


def export_field(key, value):
    """Export format (systemd.io/JOURNAL_EXPORT_FORMATS): text unless the value has a newline or
    other control characters or is not UTF-8, then KEY\\n + le64 length + data + \\n."""
    binary = CONTROL.search(value) is not None
    if not binary:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            binary = True
    if binary:
        return key + b"\n" + struct.pack("<Q", len(value)) + value + b"\n"
    return key + b"=" + value + b"\n"


def dispatch(fields, creds, tv):
    """journald's dispatch_message_real: the client's fields, then the trusted ones."""
    now_real = time.clock_gettime_ns(time.CLOCK_REALTIME) // 1000
    now_mono = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    trusted = []
    pid = proc_missing = None
    if creds is not None:
        pid, uid, gid = creds
        trusted += [(b"_PID", b"%d" % pid), (b"_UID", b"%d" % uid), (b"_GID", b"%d" % gid)]
        from_proc, proc_missing = proc_fields(pid)
        trusted += from_proc
    trusted.append((b"_TRANSPORT", b"journal"))
    if tv is not None:
        trusted.append((b"_SOURCE_REALTIME_TIMESTAMP", b"%d" % tv))
    trusted += [(b"_BOOT_ID", BOOT_ID.encode()), (b"_MACHINE_ID", MACHINE_ID.encode()),
                (b"_HOSTNAME", HOSTNAME.encode())]
    out = [b"__REALTIME_TIMESTAMP=%d\n" % now_real, b"__MONOTONIC_TIMESTAMP=%d\n" % now_mono]
    out += [export_field(k, v) for k, v in fields + trusted]
    export.write(b"".join(out) + b"\n")
    export.flush()
    pairs = []
    for k, v in fields + trusted:
        if len(v) > EVENT_VALUE_MAX:
            # The journal file has the value; the test gets its digest (a 9 MiB JSON line costs seconds).
            pairs.append([k.decode(), {"sha256": hashlib.sha256(v).hexdigest(), "length": len(v)}])
            continue
        try:
            pairs.append([k.decode(), v.decode("utf-8")])
        except UnicodeDecodeError:
            pairs.append([k.decode(), {"base64": base64.b64encode(v).decode()}])
    emit({"entry": pairs, "pid": pid, "realtime": now_real, "proc_missing": proc_missing})


def process_native(buf, creds, tv):
    """manager_process_native_message: entries one after the other while each parses (r == 0)."""
    p = 0
    while p is not None:
        p = process_entry(buf, p, creds, tv)


def process_entry(buf, p, creds, tv):
    """manager_process_entry: one entry from offset p; returns where the next one starts, or None
    when journald stops with this datagram (an entry without fields, one it drops, or the end)."""
    end = len(buf)
    fields, size = [], 0
    while p < end:
        e = buf.find(b"\n", p)
        if e < 0:
            # Trailing noise: journald keeps what it collected, then finds no next entry.
            problem(f"trailing noise: {end - p} byte(s) after the last newline, ignored")
            p = end
            break
        if e == p:  # entry separator
            p += 1
            break
        line = buf[p:e]
        if line[:1] in (b".", b"#"):  # control commands and comments
            p = e + 1
            continue
        if len(fields) > ENTRY_FIELD_COUNT_MAX:
            problem(f"entry with more than {ENTRY_FIELD_COUNT_MAX} fields: dropped with the rest of the datagram")
            return None
        eq = line.find(b"=")
        if eq >= 0:
            key, value = line[:eq], line[eq + 1:]
            p = e + 1
        else:
            if end - e - 1 < 8 + 1:
                # "Failed to parse message": journald keeps what it collected and stops.
                problem("binary field: the datagram ends inside its length; the rest ignored")
                p = end
                break
            (n,) = struct.unpack_from("<Q", buf, e + 1)
            start = e + 1 + 8
            if n > DATA_SIZE_MAX:
                problem(f"binary field of {n} bytes: dropped with the rest of the datagram")
                return None
            if start + n + 1 > end or buf[start + n:start + n + 1] != b"\n":
                problem(f"binary field {line[:64]!r}: length {n} past the end or no closing newline; the rest ignored")
                p = end
                break
            key, value = line, buf[start:start + n]
            p = start + n + 1
        if not field_valid(key):
            problem(f"invalid field name {key[:80]!r} dropped (journald drops it silently)")
            continue
        size += len(key) + 1 + len(value)
        if size + len(fields) + 1 > ENTRY_SIZE_MAX:
            problem("entry too big: dropped with the rest of the datagram")
            return None
        fields.append((key, value))
    if not fields:
        return None
    dispatch(fields, creds, tv)
    return p if p < end else None


def process_fd(fd, creds, tv):
    """manager_process_native_file: a memfd (or file) that carries one big datagram."""
    try:
        st = os.fstat(fd)
        if not (st.st_mode & 0o170000) == 0o100000:
            problem("passed fd is not a regular file, ignored")
            return
        sealed = False
        try:
            seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
            sealed = seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
        except OSError:
            sealed = False
        # journald accepts an unsealed fd only from uid 0 or from /dev/shm, /tmp, /var/tmp.
        if not sealed and (creds is None or creds[1] != 0):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if not any(target.startswith(d) and "/" not in target[len(d):] for d in ("/dev/shm/", "/tmp/", "/var/tmp/")):
                problem(f"unsealed fd outside the allowed directories ({target}), refused")
                return
        if st.st_size > ENTRY_SIZE_MAX // (1 if sealed else 2):
            problem(f"passed file too large ({st.st_size} bytes), refused")
            return
        data = os.pread(fd, st.st_size, 0)
        emit({"memfd": st.st_size, "sealed": sealed})
        process_native(data, creds, tv)
    finally:
        os.close(fd)


def receive(s):
    """One datagram, as journald's server_process_datagram reads it."""
    size = array.array("i", [0])
    fcntl.ioctl(s, termios.FIONREAD, size)
    anc_space = socket.CMSG_SPACE(12) + socket.CMSG_SPACE(16) + socket.CMSG_SPACE(4 * 16)
    data, anc, flags, _ = s.recvmsg(max(size[0], LINE_MAX), anc_space, socket.MSG_DONTWAIT)
    creds = tv = None
    fds = []
    for level, typ, cdata in anc:
        if level != socket.SOL_SOCKET:
            continue
        if typ == socket.SCM_CREDENTIALS:
            creds = struct.unpack("iii", cdata[:12])
        elif typ == SO_TIMESTAMP:
            sec, usec = struct.unpack("ll", cdata[:16])
            tv = sec * 1000000 + usec
        elif typ == socket.SCM_RIGHTS:
            fds += array.array("i", cdata[: len(cdata) - len(cdata) % 4])
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        problem("datagram or its control data truncated")
    if not fds:
        process_native(data, creds, tv)
    elif len(fds) == 1 and not data:
        process_fd(fds[0], creds, tv)
    else:
        # journald: "Got too many file descriptors via native socket. Ignoring." / fds with data.
        for fd in fds:
            os.close(fd)
        problem(f"{len(fds)} fd(s) with {len(data)} byte(s) of data, ignored")


try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)  # as journald: anyone may log
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
# journald asks for an 8 MiB receive buffer (SO_RCVBUFFORCE, 33) so bursts are not dropped, and
# only warns when it cannot have it.
try:
    s.setsockopt(socket.SOL_SOCKET, 33, 8 * 1024 * 1024)
except OSError as e:
    print(f"test_journald: SO_RCVBUFFORCE: {e}", file=sys.stderr, flush=True)
# SIGTERM wakes the select through a pipe (Python retries select after a handler that returns).
wake_r, wake_w = os.pipe()
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGTERM, lambda *_: None)
emit({"listening": path, "boot_id": BOOT_ID, "machine_id": MACHINE_ID, "hostname": HOSTNAME})
try:
    while True:
        ready, _, _ = select.select([s, sys.stdin, wake_r], [], [])
        if wake_r in ready:
            break
        if sys.stdin in ready and not os.read(sys.stdin.fileno(), 4096):
            break
        if s in ready:
            try:
                receive(s)
            except BlockingIOError:
                pass
    # Drain what senders queued before the stop.
    while True:
        try:
            receive(s)
        except BlockingIOError:
            break
finally:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    export.close()
    emit({"closed": True})
