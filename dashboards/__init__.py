"""Fleetdeck web dashboard (Reflex): a pure client of the control-plane API."""
