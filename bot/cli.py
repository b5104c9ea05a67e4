"""The installed ``defwatch`` script: the monitor's CLI with the Telegram bot plugged in."""

from __future__ import annotations

from collections.abc import Sequence

from monitors.cli import main as monitors_main
from monitors.settings import Settings


def _run_bot(settings: Settings) -> None:
    from bot.app import run_bot  # PTB is imported only when a token is set

    run_bot(settings)


def main(argv: Sequence[str] | None = None) -> int:
    return monitors_main(argv, bot_runner=_run_bot)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
