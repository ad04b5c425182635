"""Run warden-slack: `python -m warden_slack [--transport stdio|http] ...`."""

from warden_slack.server import APP


def main() -> None:
    APP.main()


if __name__ == "__main__":
    main()
