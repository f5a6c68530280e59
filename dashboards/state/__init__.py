"""Thin Reflex State classes: they read the query string, call loaders with the injected API client,
and hold the shaped results."""
