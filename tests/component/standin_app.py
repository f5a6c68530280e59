"""A tiny stand-in for a fleet instance (the runtime contract only): /healthz, /readyz, /metrics,
/_fleet/faults and any other path answering 200 with the instance id. Starts in ~50 ms.

Run as ``python standin_app.py <service>`` with the FLEET_* environment of docs/CONTRACTS.md.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = sys.argv[1] if len(sys.argv) > 1 else "standin"
VERSION = os.environ.get("FLEET_VERSION", "v1")
INSTANCE = os.environ.get("FLEET_INSTANCE_ID", f"{SERVICE}-{VERSION}-1")
FAULTS = json.loads(os.environ.get("FLEET_FAULTS") or "{}")
COUNT = {"n": 0}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: object, ctype: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, {"status": "ok"})
        elif self.path == "/readyz":
            self._send(200, {"service": SERVICE, "version": VERSION, "instance": INSTANCE})
        elif self.path == "/metrics":
            self._send(200, f'standin_requests_total{{service="{SERVICE}"}} {COUNT["n"]}\n', "text/plain")
        elif self.path == "/_fleet/faults":
            self._send(200, FAULTS)
        else:
            COUNT["n"] += 1
            self._send(200, {"instance": INSTANCE})

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        FAULTS.clear()
        FAULTS.update(json.loads(self.rfile.read(length) or b"{}"))
        self._send(200, FAULTS)


def main() -> None:
    server = ThreadingHTTPServer((os.environ.get("FLEET_HOST", "127.0.0.1"), int(os.environ["FLEET_PORT"])), Handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
