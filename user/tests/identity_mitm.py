#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A man in the middle for the kvmtrust handshake, used by identity.sh.

  relay PORTFILE TARGET RECORD [--swap-eph]
      accepts one connection on 127.0.0.1 (port written to PORTFILE), relays
      it to TARGET (host:port), records the guest's frames (length-prefixed,
      see channel.h) to RECORD as a JSON list of hex strings; --swap-eph replaces the X25519 key in the
      guest hello with the attacker's own.
  replay RECORD TARGET
      plays the recorded guest hello and signature to TARGET in protocol
      order and prints the "error" the host answers with, if any.
"""
import json
import os
import socket
import struct
import sys
import threading


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_frame(sock):
    head = read_exact(sock, 4)
    if head is None:
        return None
    return read_exact(sock, struct.unpack(">I", head)[0])


def frame(body):
    return struct.pack(">I", len(body)) + body


def target(arg):
    host, port = arg.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def relay(portfile, dest, record, swap):
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(lsock.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    guest, _ = lsock.accept()
    guest.settimeout(10)
    host = target(dest)
    frames = []

    def host_to_guest():
        while True:
            data = host.recv(65536)
            if not data:
                break
            guest.sendall(data)
        guest.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=host_to_guest)
    t.start()
    while True:
        body = read_frame(guest)
        if body is None:
            break
        if not frames and swap:
            hello = json.loads(body)
            hello["eph"] = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI"  # 32 x 0x42
            body = json.dumps(hello, separators=(",", ":")).encode()
        frames.append(body)
        host.sendall(frame(body))
    host.shutdown(socket.SHUT_WR)
    t.join()
    with open(record, "w") as f:
        json.dump([b.hex() for b in frames], f)


def replay(record, dest):
    """Plays the guest's side from the recording: F1, then F4 after F2 and F3."""
    with open(record) as f:
        frames = [bytes.fromhex(b) for b in json.load(f)]
    host = target(dest)
    host.sendall(frame(frames[0]))
    received = 0
    while True:
        body = read_frame(host)
        if body is None:
            return
        received += 1
        try:
            msg = json.loads(body)
        except ValueError:
            continue
        if isinstance(msg, dict) and "error" in msg:
            print(msg["error"])
            return
        if received == 2:
            host.sendall(frame(frames[1]))


if __name__ == "__main__":
    if sys.argv[1] == "relay":
        relay(sys.argv[2], sys.argv[3], sys.argv[4], "--swap-eph" in sys.argv)
    elif sys.argv[1] == "replay":
        replay(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
