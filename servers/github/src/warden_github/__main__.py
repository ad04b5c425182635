"""`python -m warden_github` / `warden-github`: serve over stdio (default) or HTTP."""

from __future__ import annotations

from warden_github.server import APP


def main() -> None:
    APP.main()


if __name__ == "__main__":
    main()
