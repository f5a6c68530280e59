"""OTLP/HTTP decoding and conversion to store rows; no I/O, no framework."""
