"""warden-aws: read-only AWS for AI agents, with every operation classified from botocore's service models.

An operation runs only if the reviewed classification (derived from the models, committed as data) says it
is a read; credential-minting and secret-revealing reads are refused by default; unknown means refused.
"""

__version__ = "0.1.0"
