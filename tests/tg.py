"""Test helpers for end-to-end runs against the tg-emulator (a Bot API emulator in Node).

``Emulator.start(shared_dir)`` installs the emulator's npm dependencies if needed (through its
``start-emulator.sh --install-only``, which puts them in ``~/.cache/tg-emulator``), starts
``node emulator.js`` on a free 127.0.0.1 port and stops exactly that process afterwards.
``emu.user(token, chat_id)`` is a simulated Telegram user: ``send("/watch azerbaijan")``,
``wait_messages()``, ``press(message, text=…)``. ``BotProcess`` runs ``python -m bot.app``
against it with a given environment, and stops it by PID (SIGTERM, or SIGKILL to crash it).
``running_bot(emu, folder, token)`` is the one way the end-to-end tests start a bot: its own
SQLite file and config in ``folder``, no default feeds, the token kept out of its log.

"Nothing else arrives" is asserted with counts, not sleeps: ``unsent(db, chat)`` is 0 once the
bot's outbox holds nothing more for a chat, and then ``emu.sent(token, chat)`` (the emulator's
own record of the bot's successful sends) is final.

Only the standard library and httpx; every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> Any:
    """Poll ``predicate`` until truthy; TimeoutError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class BotMessage:
    """A message the bot sent (or edited), as the emulator stored it."""

    message_id: int
    chat_id: int
    params: dict[str, Any]  # raw Bot API parameters: HTML text, parse_mode, reply_markup
    sent: dict[str, Any]  # the Message returned to the bot: rendered text and entities
    edited: bool = False
    time: float = 0.0

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> BotMessage:
        return cls(
            rec["messageId"],
            int(rec["message"].get("chat_id")),
            rec["message"],
            rec.get("sent") or {},
            bool(rec.get("editCount")),
            rec.get("time", 0) / 1000,
        )

    @property
    def text(self) -> str:
        """What the user sees (tags removed, entities decoded)."""
        return str(self.sent.get("text", ""))

    @property
    def html(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def buttons(self) -> list[dict[str, Any]]:
        markup = self.params.get("reply_markup") or {}
        if isinstance(markup, str):
            import json

            markup = json.loads(markup)
        return [b for row in markup.get("inline_keyboard", []) for b in row]

    def button(self, text: str | None = None, data_prefix: str | None = None) -> dict[str, Any]:
        for b in self.buttons:
            if (text is None or text in b.get("text", "")) and (
                data_prefix is None or str(b.get("callback_data", "")).startswith(data_prefix)
            ):
                return b
        raise LookupError(f"no button {text=} {data_prefix=} in {self.buttons}")


@dataclass
class TgUser:
    """A simulated user in one private chat with one bot."""

    emu: Emulator
    token: str
    chat_id: int
    user_id: int | None = None  # defaults to the chat id (a private chat)
    chat_type: str = "private"
    inbox: list[BotMessage] = field(default_factory=list)
    language_code: str | None = None  # the language of the user's Telegram app ("ru")

    @property
    def _from(self) -> dict[str, Any]:
        sender = {
            "id": self.user_id or self.chat_id,
            "is_bot": False,
            "first_name": "Tester",
            "username": f"user{self.chat_id}",
        }
        if self.language_code is not None:
            sender["language_code"] = self.language_code
        return sender

    @property
    def _chat(self) -> dict[str, Any]:
        if self.chat_type == "private":
            return {"id": self.chat_id, "type": "private", "first_name": "Tester"}
        return {"id": self.chat_id, "type": self.chat_type, "title": f"Group {self.chat_id}"}

    def send(self, text: str, reply_to: BotMessage | None = None) -> None:
        """Send text (a command when it starts with '/'), optionally as a reply to a bot message
        (its document, if any, comes along: how /import reads a file)."""
        body: dict[str, Any] = {
            "botToken": self.token,
            "date": int(time.time()),
            "text": text,
            "from": self._from,
            "chat": self._chat,
        }
        if reply_to is not None:
            body["reply_to_message"] = {
                "message_id": reply_to.message_id,
                "date": int(reply_to.time) or int(time.time()),
                "chat": self._chat,
                **{k: v for k, v in reply_to.sent.items() if k in ("document", "text", "caption")},
            }
        route = "/sendMessage"
        if text.startswith("/"):
            body["entities"] = [
                {"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}
            ]
            route = "/sendCommand"
        self.emu.post(route, body)

    def press(
        self, message: BotMessage, text: str | None = None, data_prefix: str | None = None
    ) -> None:
        button = message.button(text, data_prefix)
        self.emu.post(
            "/sendCallback",
            {
                "botToken": self.token,
                "date": int(time.time()),
                "from": self._from,
                "chat_instance": f"ci-{self.chat_id}",
                "data": button["callback_data"],
                "message": {
                    "message_id": message.message_id,
                    "date": int(time.time()),
                    "chat": self._chat,
                    "text": message.text,
                },
            },
        )

    def poll(self) -> list[BotMessage]:
        result = self.emu.post("/getUpdates", {"token": self.token, "chatId": self.chat_id})
        fresh = [BotMessage.from_record(r) for r in result.get("result", [])]
        self.inbox.extend(fresh)
        return fresh

    def wait_messages(
        self,
        count: int = 1,
        timeout: float = 15.0,
        predicate: Callable[[BotMessage], bool] | None = None,
    ) -> list[BotMessage]:
        """Take the first ``count`` inbox messages matching ``predicate``, waiting for them."""

        def ready() -> bool:
            self.poll()
            return sum(1 for m in self.inbox if predicate is None or predicate(m)) >= count

        wait_until(ready, timeout, f"{count} message(s) in chat {self.chat_id}; inbox {self.inbox}")
        taken = [m for m in self.inbox if predicate is None or predicate(m)][:count]
        for m in taken:
            self.inbox.remove(m)
        return taken

    def ask(
        self, text: str, timeout: float = 15.0, reply_to: BotMessage | None = None
    ) -> BotMessage:
        """Send a command and return the bot's next new (not edited) message."""
        self.send(text, reply_to)
        return self.wait_messages(1, timeout, predicate=lambda m: not m.edited)[0]


class Emulator:
    """A tg-emulator process started by this test session (stopped by its PID only)."""

    def __init__(self, port: int, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.port, self.proc, self.log_path = port, proc, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=10.0)

    @classmethod
    def start(cls, emulator_dir: Path, log_path: Path, timeout: float = 30.0) -> Emulator:
        install = subprocess.run(
            ["bash", str(emulator_dir / "start-emulator.sh"), "--install-only"],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
        runtime = Path(install.stdout.strip().splitlines()[-1])
        port = free_port()
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                ["node", str(runtime / "emulator.js"), "--port", str(port), "--host", "127.0.0.1"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        emu = cls(port, proc, log_path)
        try:
            wait_until(
                lambda: proc.poll() is not None or emu._healthy(), timeout, "emulator health"
            )
            if proc.poll() is not None:
                raise RuntimeError(f"emulator exited: {log_path.read_text()[-2000:]}")
        except BaseException:
            emu.stop()
            raise
        return emu

    def _healthy(self) -> bool:
        try:
            return self.http.get("/_emu/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    @property
    def bot_api_base(self) -> str:
        return f"{self.url}/bot"

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.post(path, json=body or {})
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.http.get(path, params={k: v for k, v in params.items() if v is not None})
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def user(self, token: str, chat_id: int, **kwargs: Any) -> TgUser:
        """A simulated user; ``user_id=…, chat_type="group"`` for a member of a group."""
        return TgUser(self, token, chat_id, **kwargs)

    def calls(
        self, method: str | None = None, chat_id: int | None = None, token: str | None = None
    ) -> list[dict[str, Any]]:
        return self.get("/_emu/calls", method=method, chat_id=chat_id, token=token)["result"]  # type: ignore[no-any-return]

    def sent(
        self,
        token: str,
        chat_id: int | None = None,
        containing: str = "",
        methods: tuple[str, ...] = ("sendMessage", "sendPhoto", "sendDocument"),
    ) -> int:
        """How many messages the bot sent to ``chat_id`` (whose text or caption contains
        ``containing``), counted from the emulator's call log: successful calls only."""
        return sum(
            1
            for method in methods
            for call in self.calls(method=method, chat_id=chat_id, token=token)
            if call["status"] == 200
            and containing in str(call["params"].get("text") or call["params"].get("caption"))
        )

    def in_flight(self, *methods: str) -> int:
        """Calls of ``methods`` (any bot) the emulator has received but not answered yet."""
        stats = self.get("/_emu/stats")["result"]["methods"]
        return sum(stats[m]["started"] - stats[m]["calls"] for m in methods if m in stats)

    def messages(self, token: str, chat_id: int | None = None) -> list[BotMessage]:
        rows = self.get("/_emu/messages", token=token, chat_id=chat_id)["result"]
        return [BotMessage.from_record(r) for r in rows]

    def file(self, file_id: str) -> bytes:
        """The bytes of a file the bot uploaded (sendDocument, …)."""
        response = self.http.get("/_emu/file", params={"file_id": file_id})
        response.raise_for_status()
        return response.content

    def register_chats(self, *chats: dict[str, Any]) -> None:
        """Make chats known (e.g. a channel ``{"id": -100…, "type": "channel"}``)."""
        self.post("/_emu/chats", {"chats": list(chats)})

    def add_fault(self, **spec: Any) -> dict[str, Any]:
        return self.post("/_emu/faults", spec)["result"]  # type: ignore[no-any-return]

    def faults(self) -> list[dict[str, Any]]:
        return self.get("/_emu/faults")["result"]  # type: ignore[no-any-return]

    def clear_faults(self) -> None:
        self.http.request("DELETE", "/_emu/faults", json={}).raise_for_status()

    def set_rate_limit(self, **limits: Any) -> None:
        """e.g. global_per_sec=30, retry_after=1, token=…; no arguments switches it off."""
        self.post("/_emu/ratelimit", limits)


class BotProcess:
    """``python -m bot.app`` as a child process, ready once its post_init has run.

    Readiness is the bot's ``setMyCommands`` call for everyone (no ``language_code``: the
    last step of post_init, after the per-language menus): the emulator
    records a long-polling ``getUpdates`` only when it returns, and updates sent before
    polling starts are queued for the bot, not lost.
    """

    def __init__(self, emu: Emulator, token: str, env: dict[str, str], log_path: Path) -> None:
        self.emu, self.token, self.env, self.log_path = emu, token, env, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        url = env.get("DEFWATCH_DATABASE_URL", "")
        self.db = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None

    def menus(self) -> int:
        """How many command menus for everyone the bot has published."""
        calls = self.emu.calls(method="setMyCommands", token=self.token)
        return sum(1 for c in calls if not (c.get("params") or {}).get("language_code"))

    def start(self, timeout: float = 30.0) -> BotProcess:
        before = self.menus()
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1", "PTB_TIMEDELTA": "1"}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.app"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

        def polling() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"bot exited early:\n{self.log()[-3000:]}")
            return self.menus() > before

        try:
            wait_until(polling, timeout, "the bot's post_init", interval=0.1)
        except BaseException:  # not ready in time: never leave it running (or unreaped)
            self.kill()
            raise
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=5)

    def kill(self) -> None:
        """Crash it (SIGKILL): no shutdown code runs."""
        self.stop(signal.SIGKILL)


# --- the bot as the end-to-end tests run it ---------------------------------------------------

ADMIN = 9001  # the operator of every test bot (``[telegram] admin_ids``)


def bot_config(
    folder: Path,
    *,
    lease: float = 10.0,
    delivery_interval: float = 0.3,
    per_minute: int = 600,
    burst: int | None = None,
    interval: float = 1,
) -> Path:
    """``folder/defwatch.toml`` for a test bot: fast polls and delivery, no default feeds."""
    (folder / "feeds.toml").write_text("# no default feeds in tests\n")
    config = folder / "defwatch.toml"
    config.write_text(
        f'[poll]\ninterval_seconds = {interval}\nfeeds_file = "feeds.toml"\n'
        f"lease_seconds = {lease}\n\n"
        f"[telegram]\nadmin_ids = [{ADMIN}]\ndelivery_interval_seconds = {delivery_interval}\n"
        f"requests_per_minute = {per_minute}\nrequests_burst = {burst or per_minute}\n"
        "max_watch_items = 20\n"
    )
    return config


def bot_env(
    emu: Emulator, folder: Path, token: str, *, private_feeds: bool = True, **config: float
) -> dict[str, str]:
    """The environment of a test bot: the emulator's API, a SQLite file and config in
    ``folder`` (``config`` goes to ``bot_config``), private feed URLs allowed unless not."""
    env = {
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_BASE_URL": emu.bot_api_base,
        "DEFWATCH_DATABASE_URL": f"sqlite:///{folder / 'defwatch.db'}",
        "DEFWATCH_CONFIG": str(bot_config(folder, **config)),
    }
    return env | ({"DEFWATCH_ALLOW_PRIVATE_FEEDS": "1"} if private_feeds else {})


@contextmanager
def running_bot(
    emu: Emulator,
    folder: Path,
    token: str,
    *,
    env: Mapping[str, str] | None = None,
    feeds: str | None = None,
    timeout: float = 30.0,
    private_feeds: bool = True,
    **config: float,
) -> Iterator[BotProcess]:
    """A started bot (``bot_env`` plus ``env``; ``feeds`` replaces the empty feed list),
    stopped afterwards; the token must not reach its log, whose tail is printed."""
    merged = {**bot_env(emu, folder, token, private_feeds=private_feeds, **config), **(env or {})}
    if feeds is not None:
        (folder / "feeds.toml").write_text(feeds)
    process = BotProcess(emu, token, merged, folder / "bot.log").start(timeout)
    try:
        yield process
    finally:
        process.stop()
        log = process.log()
        print(f"--- bot log ---\n{log[-4000:]}")
        assert token.split(":")[1] not in log, "the bot token reached the log"


def db_rows(db: Path | None, query: str, *params: object) -> list[tuple[Any, ...]]:
    assert db is not None, "not a SQLite bot"
    with sqlite3.connect(db) as connection:
        return connection.execute(query, params).fetchall()


def unsent(db: Path | None, chat_id: int) -> int:
    """Alerts the bot may still send to ``chat_id`` (pending, sending or held)."""
    query = (
        "select count(*) from alert where chat_id = ? and status in ('pending', 'sending', 'held')"
    )
    return int(db_rows(db, query, chat_id)[0][0])


def settled(db: Path | None, chat_id: int, timeout: float = 20.0) -> None:
    """Wait until the bot's outbox holds nothing more for ``chat_id``: what the emulator has
    recorded for it is then all it will get (until something new is stored)."""
    wait_until(lambda: unsent(db, chat_id) == 0, timeout, f"chat {chat_id}'s outbox to drain")
