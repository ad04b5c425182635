"""Settings of warden-kubernetes, read once from `WARDEN_KUBERNETES_*` at start."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from warden_core import CommaList, CoreSettings


class Settings(CoreSettings):
    """Read-only Kubernetes insight for AI agents (env prefix WARDEN_KUBERNETES_)."""

    model_config = SettingsConfigDict(env_prefix="WARDEN_KUBERNETES_")  # the rest is inherited from CoreSettings
    server_name: ClassVar[str] = "kubernetes"
    default_port: ClassVar[int] = 8103
    required: ClassVar[tuple[str, ...]] = ("namespaces",)

    # --- Where the cluster is. ------------------------------------------------------------------
    kubeconfig: str | None = Field(
        None,
        description="Path of the kubeconfig file. Unset: the in-cluster ServiceAccount when running in a pod, "
        "otherwise $KUBECONFIG or ~/.kube/config.",
    )
    context: str | None = Field(
        None, description="kubeconfig context used when a call names none (default: the current-context)."
    )
    contexts: CommaList = Field(
        (),
        description="Contexts a call may select with its `context` argument (globs). When set, the kubeconfig's "
        "current-context must match too, unless WARDEN_KUBERNETES_CONTEXT names the default.",
    )

    # --- What the server may see and touch. -------------------------------------------------------
    namespaces: CommaList = Field(
        (), description="Namespaces the server may read (globs, `*` for all). Empty: no namespaced reads."
    )
    write_namespaces: CommaList = Field(
        (), description="Namespaces where write tools may act (globs). Empty: write tools are hidden."
    )
    deny_kinds: CommaList = Field(
        (),
        description="Kinds never read or written, by Kind, plural or `plural.group` (globs, any case), "
        "e.g. `Secret,certificates.cert-manager.io`.",
    )

    # --- Whose identity the cluster sees. -------------------------------------------------------------
    impersonate: bool = Field(
        False,
        description="Send each call as its principal (Impersonate-User, Impersonate-Group), so cluster RBAC "
        "applies per user and the audit log names them. The ServiceAccount needs `impersonate` on them.",
    )
    impersonate_user_prefix: str = Field(
        "", description="Prefix of impersonated user names (e.g. `warden:`), to match your RBAC subjects."
    )
    impersonate_groups: CommaList = Field(
        (), description="Groups (globs) passed on as Impersonate-Group; others are dropped, and `system:*` always."
    )

    # --- Limits. ------------------------------------------------------------------------------------
    log_read_bytes: int = Field(
        8_388_608, ge=65_536, description="Most log bytes read from the API per call; more is cut and flagged."
    )
    list_scan_items: int = Field(
        5_000, ge=100, description="Most objects scanned by one overview or events call before it stops and flags."
    )
    helm_release_bytes: int = Field(
        16_777_216,
        ge=1_048_576,
        description="Most bytes one Helm release record may inflate to; a larger one is refused unread.",
    )
