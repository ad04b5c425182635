"""warden-github: GitHub repository context for AI agents, scoped to the repositories you choose."""

__version__ = "0.1.0"
