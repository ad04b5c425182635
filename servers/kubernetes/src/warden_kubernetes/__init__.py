"""warden-kubernetes."""
