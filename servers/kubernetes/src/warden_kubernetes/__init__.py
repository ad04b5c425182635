"""warden-kubernetes: read-only Kubernetes insight for AI agents, with secrets masked.

Lists and reads any resource kind (built-ins and CRDs), describes objects with their events, reads
capped pod logs, reports rollout and node health, all within namespace and context allowlists.
Writes (scale, rollout restart, delete pod) are off by default. No exec, attach, port-forward or
proxy, ever; no tool returns the kubeconfig or any credential.
"""

__version__ = "0.1.0"
