"""Fleetdeck control plane: fleet registry, runtimes, routing, rollouts, the public API."""
