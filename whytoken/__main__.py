"""``python -m whytoken ...``: the command-line tool without the console script on ``PATH``."""

from whytoken.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
