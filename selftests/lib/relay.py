#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""relay.py LISTEN TARGET MODE [N [PIDFILE]]: a man in the middle between the source
(client) and the destination (server) of a migration, forwarding both
directions. LISTEN and TARGET are unix:PATH or HOST:PORT.

MODE
  pass        forward only
  flip N      flip one bit of the byte at offset N of the client -> server
              direction (the migration stream side)
  swap-eph    replace the ephemeral key of the client's first handshake
              frame (F1, handshake.h) by one of the relay's own
  stall N     forward the first N client -> server bytes, then read
              nothing more (the source blocks, its QEMU's migration stays
              under way) and print "stalled"; when either side closes,
              close the other (a side killed mid-transfer). With PIDFILE,
              kill -9 the process whose pid it holds (waiting for the file)
              right then, so the kill lands mid-transfer however slow the
              machine is
"""
import base64
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time

listen, target, mode = sys.argv[1], sys.argv[2], sys.argv[3]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 0
pidfile = sys.argv[5] if len(sys.argv) > 5 else None


def sock(addr):
    if addr.startswith("unix:"):
        return socket.socket(socket.AF_UNIX), addr[5:]
    host, port = addr.rsplit(":", 1)
    return socket.socket(socket.AF_INET), (host, int(port))


srv, where = sock(listen)
if srv.family == socket.AF_INET:
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(where)
srv.listen(1)
print("listening", flush=True)
client, _ = srv.accept()
server, where = sock(target)
server.connect(where)


def recv_exact(s, k):
    buf = b""
    while len(buf) < k:
        d = s.recv(k - len(buf))
        if not d:
            raise EOFError
        buf += d
    return buf


def swap_eph():
    """F1 = u32 length || JSON; its "eph" becomes 32 bytes of our own."""
    (length,) = struct.unpack(">I", recv_exact(client, 4))
    f1 = json.loads(recv_exact(client, length))
    f1["eph"] = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    body = json.dumps(f1, separators=(",", ":")).encode()
    server.sendall(struct.pack(">I", len(body)) + body)
    print("substituted the handshake key", flush=True)


def kill_victim():
    while True:
        try:
            pid = int(open(pidfile).read())
            break
        except (OSError, ValueError):
            time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    print("killed", pid, flush=True)


def pump(src, dst, upstream):
    seen = 0
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            break
        if upstream and mode == "flip" and seen <= n < seen + len(data):
            b = bytearray(data)
            b[n - seen] ^= 0x01
            data = bytes(b)
            print("flipped byte", n, flush=True)
        stall = upstream and mode == "stall" and seen + len(data) >= n
        if stall:
            data = data[: n - seen]
        seen += len(data)
        try:
            dst.sendall(data)
        except OSError:
            break
        if stall:
            print("stalled after", n, "bytes", flush=True)
            if pidfile:
                kill_victim()
            p = select.poll()
            p.register(src, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
            while not p.poll(100):
                pass
            break
    if mode == "stall":
        for s in (client, server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


if mode == "swap-eph":
    swap_eph()
t = threading.Thread(target=pump, args=(server, client, False), daemon=True)
t.start()
pump(client, server, True)
t.join(5)
os._exit(0)
