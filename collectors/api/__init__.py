"""The collectors' HTTP surface: OTLP receiver, query API, live tail and /metrics."""
