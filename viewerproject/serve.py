"""The web server: ``python -m viewerproject.serve --host H --port P``.

uvicorn with httptools (HTTP parsing in C), uvloop (the event loop in C) and websocket framing
by the ``websockets`` library (its sans-I/O protocol: uvicorn's legacy ``websockets`` one is
deprecated, and costs more per message), serving ``viewerproject.asgi:application``; one process
per port, as many as wanted behind one reverse proxy. Every place that starts the server
(``make run``, the scale-out deployment, the benchmarks and browser tests, the README's unit
file) comes here, so the options below hold everywhere. Daphne, before it, spent more server
CPU for the same work (``python -m tests.bench.asgi_servers``: side by side on the same
archive, requests alternating); in two runs, 8.4-9.8 against 7.2-7.9 ms per rendered image
under two clients and 16.9-17.6 against 13.9-14.2 ms per viewer frame of four tiles; framing a
40 kB binary websocket message alone, 167 µs against 35 µs (autobahn frames in Python). Under
``python -m tests.load --viewers 6 --duration 30`` (two servers behind nginx, a loaded shared
machine; runs one after the other), 9-15 against 20-21 frames/s shown, 217-311 against 51-85
frames scrolled past unfinished, 38-55 against 13-16 ms of server CPU per frame shown.

The options, and why:

- Websocket limits as Daphne's were: a client message of at most 1 MiB (the viewer's requests
  are small JSON; pixels only go out), a ping every 20 s, closed after 30 s unanswered.
- No per-message deflate: uvicorn's default would zlib every pixel message the viewer is sent,
  which is JPEG or PNG already: 2.7 ms of CPU for a 40 kB message that hardly shrinks.
  Daphne never offered it.
- ``X-Forwarded-For``/``-Proto`` are believed only from ``--forwarded-allow-ips`` (the loopback
  proxy by default, or ``FORWARDED_ALLOW_IPS``); Daphne's ``--proxy-headers`` believed anyone.
- Keep-alive 75 s, longer than nginx's 60 s for idle upstream connections: the proxy, not the
  server, closes an idle kept connection, so the proxy never sends a request into a connection
  the server is closing.
- SIGTERM: stop accepting, close viewer sockets (1012, the viewer reconnects elsewhere), let
  requests in flight finish for up to 10 s (Daphne's application close timeout), then exit.
- No access log (nginx keeps one; a line per rendered image costs CPU); no lifespan (neither
  Django nor Channels implements it).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

APPLICATION = "viewerproject.asgi:application"

OPTIONS: dict[str, Any] = {
    "http": "httptools",
    "loop": "uvloop",
    "ws": "websockets-sansio",
    "ws_max_size": 1024 * 1024,
    "ws_ping_interval": 20.0,
    "ws_ping_timeout": 30.0,
    "ws_per_message_deflate": False,
    "lifespan": "off",
    "access_log": False,
    "proxy_headers": True,
    "server_header": False,
    "timeout_keep_alive": 75,
    "timeout_graceful_shutdown": 10,
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m viewerproject.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (8000)")
    parser.add_argument(
        "--forwarded-allow-ips",
        default=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        help="proxies whose X-Forwarded-For/-Proto are believed (127.0.0.1)",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("LOG_LEVEL", "INFO").lower(),
        help="the server's own messages (LOG_LEVEL, INFO); requests are not logged",
    )
    parser.add_argument("--reload", action="store_true", help="development: restart on edits")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port} is not a TCP port")

    import uvicorn

    uvicorn.run(
        APPLICATION,
        host=args.host,
        port=args.port,
        forwarded_allow_ips=args.forwarded_allow_ips,
        log_level=args.log_level,
        reload=args.reload,
        **OPTIONS,
    )


if __name__ == "__main__":
    main()
