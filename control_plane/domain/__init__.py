"""Pure domain logic: no framework, no I/O. Data in, decisions out."""
