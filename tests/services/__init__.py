"""Local PostgreSQL, Redis, nginx and the whole scale-out setup, for tests, ``make test``'s
second pass, ``make run-scaled`` and ``make load``. All on loopback, all cleaned up.

- ``postgres.PostgresCluster``: initdb + postgres from Debian's /usr/lib/postgresql/*/bin.
- ``redis.RedisServer``: redis-server with a temp config.
- ``proxy.Proxy``: nginx over several ASGI servers (``nginx.conf.template``).
- ``scaled.Deployment``: all of them plus uvicorn, the DICOM listener and retrieve workers.
- ``python -m tests.services run -- CMD`` / ``python -m tests.services scaled``.
"""
