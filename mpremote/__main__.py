"""Entry point for ``python -m mpremote`` and the ``mpremote`` console script."""

from __future__ import annotations


def main() -> None:
    """Run the CLI; imported lazily so ``python -m mpremote`` starts fast."""
    from mpremote import startup

    startup.pause()  # no collector passes over the imports (see mpremote.startup)
    from mpremote.cli.app import run

    run()


if __name__ == "__main__":
    main()
