"""`python -m warden_postgres` and the `warden-postgres` script."""

from warden_postgres.server import APP


def main() -> None:
    APP.main()


if __name__ == "__main__":
    main()
