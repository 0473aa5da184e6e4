#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""qmp.py SOCKET COMMAND [ARGS-JSON]: runs one QMP command (with its
arguments), prints its "return" as JSON. For a query-status, prints only
the run state."""
import json
import socket
import sys

s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
json.loads(f.readline())
args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
for cmd in ("qmp_capabilities", sys.argv[2]):
    req = {"execute": cmd}
    if cmd == sys.argv[2] and args is not None:
        req["arguments"] = args
    f.write(json.dumps(req) + "\n")
    f.flush()
    while True:
        msg = json.loads(f.readline())
        if "event" not in msg:
            break
if "error" in msg:
    sys.exit("qmp: " + msg["error"]["desc"])
ret = msg["return"]
print(ret["status"] if sys.argv[2] == "query-status" else json.dumps(ret))
