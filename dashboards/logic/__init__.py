"""Plain functions behind the pages: formatting, data shaping, role rules, freshness.

Nothing here imports Reflex or does I/O, so every rule is unit-tested without a browser or a server.
"""
