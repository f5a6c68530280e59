"""metrics implementations behind control_plane.interfaces."""
