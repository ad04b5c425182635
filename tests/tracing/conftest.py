"""The backends of the fault tests, reused: a private PostgreSQL cluster, the fake APIs and moto."""

from tests.resilience.conftest import aws_api, database, github_api, kube_api, slack_api, target  # noqa: F401
