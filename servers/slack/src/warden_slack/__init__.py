"""warden-slack: a least-privilege MCP server for Slack.

Reads only the channels the operator allows, posts only where the operator allows (writes are off
by default), and never lets Slack unfurl a link the agent posts.
"""

__version__ = "0.1.0"
