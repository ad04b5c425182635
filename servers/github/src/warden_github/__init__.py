"""warden-github."""
