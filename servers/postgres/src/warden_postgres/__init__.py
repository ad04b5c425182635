"""warden-postgres."""
