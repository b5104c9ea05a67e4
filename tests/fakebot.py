"""An in-process fake of the Telegram Bot API, for handler unit tests that run in milliseconds.

Like PTB's own ``OfflineRequest`` (its test suite's stand-in for HTTP): ``FakeBotAPI`` is a
``telegram.request.BaseRequest`` that never opens a socket. Each Bot API call is recorded as a
:class:`Call` (method name and parameters) and answered with canned Bot API JSON: ``getMe`` a
bot user, ``send*`` / ``edit*`` a ``Message`` echoing the text, everything else ``true``.

``offline_bot(tmp_path)`` builds the real application (``bot.app.build_application``: the same
handlers, defaults and ``post_init``) on this fake and a fresh SQLite file; ``bot.command(chat,
"/help")`` feeds one update through ``Application.process_update`` and returns the replies.
Handler errors are collected in ``bot.errors`` instead of vanishing into the log.

What it cannot show: Telegram's own checks (HTML parsing, 4096 limits, flood control). Those
stay with the emulator's end-to-end tests (``tests/tg.py``).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes
from telegram.request import BaseRequest, RequestData

from bot.app import build_application, post_init, post_shutdown
from monitors.settings import load_settings

TOKEN = "123456:OFFLINE"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Defwatch", "username": "DefwatchBot"}


@dataclass(frozen=True)
class Call:
    """One Bot API call the bot made."""

    method: str
    params: dict[str, Any]

    @property
    def chat_id(self) -> int | None:
        raw = self.params.get("chat_id")
        return int(raw) if raw is not None else None

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))


class FakeBotAPI(BaseRequest):
    """Records every call and answers it as the Bot API would, without any network."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._message_ids = itertools.count(1)

    @property
    def read_timeout(self) -> float | None:
        return None

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data is not None else {}
        self.calls.append(Call(name, params))
        return 200, json.dumps({"ok": True, "result": self._answer(name, params)}).encode()

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method.startswith(("send", "edit")):
            message: dict[str, Any] = {
                "message_id": params.get("message_id") or next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
                "from": BOT_USER,
            }
            if "text" in params:
                message["text"] = params["text"]
            return message
        return True

    def sent(self, chat_id: int | None = None, since: int = 0) -> list[Call]:
        """Messages sent or edited (to ``chat_id`` if given) from call ``since`` on, oldest first."""
        return [
            c
            for c in self.calls[since:]
            if c.method.startswith(("send", "edit"))
            and c.method != "sendChatAction"
            and (chat_id is None or c.chat_id == chat_id)
        ]


@dataclass
class OfflineBot:
    """The real application on the fake Bot API."""

    application: Application
    api: FakeBotAPI
    errors: list[BaseException] = field(default_factory=list)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def command(
        self, chat_id: int, text: str, language_code: str | None = None
    ) -> list[Call]:
        """The user of private chat ``chat_id`` sends ``text`` (from a Telegram set to
        ``language_code``); the bot's replies to it."""
        before = len(self.api.calls)
        user: dict[str, Any] = {"id": chat_id, "is_bot": False, "first_name": "Tester"}
        if language_code is not None:
            user["language_code"] = language_code
        message: dict[str, Any] = {
            "message_id": next(self._update_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Tester"},
            "from": user,
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
        update = Update.de_json(
            {"update_id": next(self._update_ids), "message": message}, self.application.bot
        )
        await self.application.process_update(update)
        return self.api.sent(chat_id, since=before)

    async def press(self, chat_id: int, data: str) -> list[Call]:
        """The user of private chat ``chat_id`` taps a button with callback ``data``; the
        bot's messages and edits after it (its answerCallbackQuery is in ``api.calls``)."""
        before = len(self.api.calls)
        chat = {"id": chat_id, "type": "private", "first_name": "Tester"}
        query = {
            "id": str(next(self._update_ids)),
            "from": {"id": chat_id, "is_bot": False, "first_name": "Tester"},
            "chat_instance": f"ci-{chat_id}",
            "data": data,
            "message": {
                "message_id": next(self._update_ids),
                "date": int(time.time()),
                "chat": chat,
                "from": BOT_USER,
                "text": "…",
            },
        }
        update = Update.de_json(
            {"update_id": next(self._update_ids), "callback_query": query}, self.application.bot
        )
        await self.application.process_update(update)
        return self.api.sent(chat_id, since=before)

    def answers(self, since: int = 0) -> list[str]:
        """The texts of the answerCallbackQuery calls from call ``since`` on."""
        return [
            str(c.params.get("text", ""))
            for c in self.api.calls[since:]
            if c.method == "answerCallbackQuery"
        ]


@asynccontextmanager
async def offline_bot(tmp_path: Path, **env: str) -> AsyncIterator[OfflineBot]:
    """The application with a fresh SQLite database, its ``post_init`` run, no jobs started."""
    settings = load_settings(
        {"DEFWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'defwatch.db'}", **env}
        | {"TELEGRAM_BOT_TOKEN": TOKEN}
    )
    api = FakeBotAPI()
    application = build_application(settings, request=api)
    bot = OfflineBot(application, api)

    async def collect(_update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if context.error is not None:
            bot.errors.append(context.error)

    application.add_error_handler(collect)
    await application.initialize()
    try:
        await post_init(application)
        yield bot
    finally:
        await post_shutdown(application)
        await application.shutdown()
