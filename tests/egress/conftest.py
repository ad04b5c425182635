"""The backends' fakes, shared with their own suites."""

from tests.github.conftest import fake_github, fake_github_server  # noqa: F401
from tests.kubernetes.conftest import cluster, kube, kubeconfig  # noqa: F401
from tests.slack.conftest import _slack_http, fake_slack  # noqa: F401
