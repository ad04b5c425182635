"""warden-slack."""
