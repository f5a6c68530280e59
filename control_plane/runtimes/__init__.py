"""runtimes implementations behind control_plane.interfaces."""
