#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""qmp.py SOCKET COMMAND: runs one QMP command, prints its "return" as JSON.
For a query-status, prints only the run state."""
import json
import socket
import sys

s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
json.loads(f.readline())
for cmd in ("qmp_capabilities", sys.argv[2]):
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while True:
        msg = json.loads(f.readline())
        if "event" not in msg:
            break
if "error" in msg:
    sys.exit("qmp: " + msg["error"]["desc"])
ret = msg["return"]
print(ret["status"] if sys.argv[2] == "query-status" else json.dumps(ret))
