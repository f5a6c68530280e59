"""Pure functions returning Reflex components (no state of their own)."""
