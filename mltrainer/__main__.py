"""``python -m mltrainer`` — the command-line interface."""

from mltrainer.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
