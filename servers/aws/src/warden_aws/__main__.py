"""`python -m warden_aws` and the `warden-aws` command."""

from warden_aws.server import APP


def main() -> None:
    APP.main()


if __name__ == "__main__":
    main()
