"""warden-postgres: read-only SQL for AI agents that cannot be talked into writing.

An agent explores and queries PostgreSQL through a few tools. Every statement passes seven layers:
a parse-tree allowlist (pglast), the extended query protocol, a read-only transaction that is always
rolled back and a connection reset, a client-side deadline, row and byte caps while streaming, a
start-up check of the database role, and sanitized errors.
"""

__version__ = "0.1.0"
