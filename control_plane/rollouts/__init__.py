"""Rollouts: the controller, its store adapter and the judge adapter (the pure logic is in domain/)."""
