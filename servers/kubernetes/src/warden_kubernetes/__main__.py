"""`python -m warden_kubernetes` / `warden-kubernetes`: serve over stdio (default) or HTTP."""

from warden_kubernetes.server import APP


def main() -> None:
    APP.main()


if __name__ == "__main__":
    main()
