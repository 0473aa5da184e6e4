#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""flip_relay.py LISTEN TARGET OFFSET: a man in the middle between two unix
sockets that forwards both directions and flips one bit of the byte at
OFFSET of the client -> server direction (the migration stream side)."""
import os
import socket
import sys
import threading

listen, target, offset = sys.argv[1], sys.argv[2], int(sys.argv[3])
srv = socket.socket(socket.AF_UNIX)
srv.bind(listen)
srv.listen(1)
client, _ = srv.accept()
server = socket.socket(socket.AF_UNIX)
server.connect(target)


def pump(src, dst, flip):
    seen = 0
    while True:
        data = src.recv(65536)
        if not data:
            break
        if flip and seen <= offset < seen + len(data):
            b = bytearray(data)
            b[offset - seen] ^= 0x01
            data = bytes(b)
            print("flipped byte", offset, flush=True)
        seen += len(data)
        try:
            dst.sendall(data)
        except OSError:
            break
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


t = threading.Thread(target=pump, args=(server, client, False), daemon=True)
t.start()
pump(client, server, True)
t.join(5)
os._exit(0)
