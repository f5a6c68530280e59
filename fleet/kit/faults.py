"""Fault injection: precise error rate, added latency, crash after N requests, memory leak.

The semantics are exact and documented in fleet/README.md. ``FaultInjector`` is pure bookkeeping
(no I/O, no clock); the kit's middleware asks it what to do for each counted request.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

_KEYS = ("error_rate", "latency_ms", "crash_after", "leak_kb_per_request")
_OPTIONAL_KEYS = ("error_mode", "seed")
ERROR_MODES = ("spread", "random")


class FaultConfigError(ValueError):
    """Faults JSON that is not valid; ``field`` names the offending key."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class FaultConfig:
    """Faults of one service version. All zero means healthy."""

    error_rate: float = 0.0  # fraction of counted requests answered 500 (exact, see README)
    latency_ms: float = 0.0  # added before every counted request is handled
    crash_after: int = 0  # the process exits right after answering this many counted requests (0: never)
    leak_kb_per_request: float = 0.0  # KiB retained (and touched) per counted request
    error_mode: str = "spread"  # "spread": deterministic, exact in every window; "random": seeded Bernoulli
    seed: int = 0  # seed of the "random" mode

    def to_dict(self) -> dict[str, Any]:
        """The contract JSON; optional keys only appear when they differ from the default."""
        out: dict[str, Any] = {"error_rate": self.error_rate, "latency_ms": self.latency_ms,
                               "crash_after": self.crash_after, "leak_kb_per_request": self.leak_kb_per_request}
        if self.error_mode != "spread":
            out["error_mode"] = self.error_mode
            out["seed"] = self.seed
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> FaultConfig:
        """Validate a faults mapping; missing keys are zero, unknown keys are rejected."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise FaultConfigError("faults must be a JSON object", field="faults")
        unknown = set(raw) - set(_KEYS) - set(_OPTIONAL_KEYS)
        if unknown:
            raise FaultConfigError(f"unknown fault(s): {', '.join(sorted(unknown))} "
                                   f"(known: {', '.join(_KEYS + _OPTIONAL_KEYS)})", field=min(unknown))
        values: dict[str, Any] = {}
        for key, kind in (("error_rate", float), ("latency_ms", float), ("crash_after", int),
                          ("leak_kb_per_request", float), ("seed", int)):
            if key not in raw:
                continue
            value = raw[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise FaultConfigError(f"{key} must be a number, got {value!r}", field=key)
            if kind is int and float(value) != int(value):
                raise FaultConfigError(f"{key} must be a whole number, got {value!r}", field=key)
            values[key] = kind(value)
        mode = raw.get("error_mode", "spread")
        if mode not in ERROR_MODES:
            raise FaultConfigError(f"error_mode must be one of {', '.join(ERROR_MODES)}", field="error_mode")
        cfg = cls(error_mode=mode, **values)
        if not 0.0 <= cfg.error_rate <= 1.0:
            raise FaultConfigError("error_rate must be between 0 and 1", field="error_rate")
        if not 0.0 <= cfg.latency_ms <= 60_000:
            raise FaultConfigError("latency_ms must be between 0 and 60000", field="latency_ms")
        if cfg.crash_after < 0:
            raise FaultConfigError("crash_after must be >= 0", field="crash_after")
        if not 0.0 <= cfg.leak_kb_per_request <= 10_240:
            raise FaultConfigError("leak_kb_per_request must be between 0 and 10240", field="leak_kb_per_request")
        return cfg


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one counted request."""

    n: int  # 1-based number of this request since start or since the faults last changed
    fail: bool  # answer 500 instead of handling
    delay_s: float  # sleep this long first
    crash_after_response: bool  # exit the process once this response is sent
    leak_bytes: int  # retain this many bytes


class FaultInjector:
    """Counts requests and decides, exactly, which ones misbehave.

    ``spread`` mode: request n fails iff floor(n*r) > floor((n-1)*r), so any k consecutive requests
    contain floor(k*r) or ceil(k*r) failures and the first 100 after a change contain exactly 100*r.
    The rate is taken as the exact decimal it was written as (0.07 is 7/100, not the nearest float).
    """

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._leaked: list[bytes] = []
        self._leak_carry = 0.0
        self.configure(config or FaultConfig())

    @property
    def config(self) -> FaultConfig:
        """The faults in force."""
        return self._config

    @property
    def count(self) -> int:
        """Counted requests since start or since the last change of faults."""
        return self._n

    @property
    def leaked_bytes(self) -> int:
        """Bytes retained so far by the leak fault (kept across changes of faults, as a real leak)."""
        return sum(len(b) for b in self._leaked)

    def configure(self, config: FaultConfig) -> None:
        """Replace the faults; the request counter restarts at zero so the new rate is exact from now."""
        self._config = config
        self._n = 0
        self._rate = Fraction(str(config.error_rate))
        self._rng = random.Random(config.seed)

    def next_request(self) -> FaultDecision:
        """Count one request and decide its fate."""
        self._n += 1
        n, cfg = self._n, self._config
        if cfg.error_mode == "random":
            fail = cfg.error_rate > 0 and self._rng.random() < cfg.error_rate
        else:
            p, q = self._rate.numerator, self._rate.denominator
            fail = (n * p) // q > ((n - 1) * p) // q
        leak = 0
        if cfg.leak_kb_per_request > 0:
            self._leak_carry += cfg.leak_kb_per_request * 1024
            leak = int(self._leak_carry)
            self._leak_carry -= leak
            if leak:
                # b"\xa5" * n writes every byte, so the pages are really resident (bytearray(n) may not be).
                self._leaked.append(b"\xa5" * leak)
        return FaultDecision(n=n, fail=fail, delay_s=cfg.latency_ms / 1000.0,
                             crash_after_response=cfg.crash_after > 0 and n >= cfg.crash_after,
                             leak_bytes=leak)
