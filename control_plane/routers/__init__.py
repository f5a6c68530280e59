"""routers implementations behind control_plane.interfaces."""
