"""warden-aws."""
