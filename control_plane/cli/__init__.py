"""The `fleetdeck` command."""
