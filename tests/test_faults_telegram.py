"""Issue 5: Telegram faults injected for real, against the real bot process.

One tg-emulator (on a port this module chooses, so it can be stopped and brought back on the
same address) and one bot process for the module; each test uses its own chat ids and clears
the emulator's faults and flood limits afterwards. Every test counts alerts expected,
delivered, duplicated and lost, prints them and asserts them.

What ``tests/test_bot_e2e.py`` already proves is not repeated here (one 429 delays one alert,
one 403 deactivates a lone chat, a restart mid fan-out).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from tests.conftest import TG_EMULATOR_DIR
from tests.hostile import start_emulator_on
from tests.test_bot_e2e import add_story, seed_chats
from tests.tg import (
    ADMIN,
    BotProcess,
    Emulator,
    bot_env,
    db_rows,
    free_port,
    running_bot,
    wait_until,
)

pytestmark = pytest.mark.emulator

TOKEN = "515151:DEFWATCH-FAULTS"
PROXY_TOKEN = "525252:DEFWATCH-TIMEOUT"


@dataclass
class Api:
    """The module's emulator; ``emu`` is replaced when a test restarts it on the same port."""

    emu: Emulator
    port: int
    folder: Path

    def restart(self) -> None:
        self.emu = start_emulator_on(TG_EMULATOR_DIR, self.port, self.folder / "emulator.log")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    if not (TG_EMULATOR_DIR / "emulator.js").is_file():
        pytest.skip(f"tg-emulator not found at {TG_EMULATOR_DIR}")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run the tg-emulator")
    folder = tmp_path_factory.mktemp("tgfaults")
    port = free_port()
    holder = Api(start_emulator_on(TG_EMULATOR_DIR, port, folder / "emulator.log"), port, folder)
    try:
        yield holder
    finally:
        holder.emu.stop()


@pytest.fixture(scope="module")
def bot(api: Api) -> Iterator[BotProcess]:
    with running_bot(api.emu, api.folder, TOKEN, lease=10.0) as process:
        yield process


@pytest.fixture(autouse=True)
def clean_faults(api: Api) -> Iterator[None]:
    yield
    if api.emu.proc.poll() is None:
        api.emu.clear_faults()
        api.emu.set_rate_limit()


def delivered(emu: Emulator, title: str) -> Counter[int]:
    return Counter(m.chat_id for m in emu.messages(TOKEN) if title in m.text)


def tally(emu: Emulator, title: str, chats: range | list[int], label: str) -> dict[str, int]:
    counts = delivered(emu, title)
    report = {
        "expected": len(chats),
        "delivered": sum(1 for c in chats if counts[c] >= 1),
        "duplicated": sum(counts[c] - 1 for c in chats if counts[c] > 1),
        "lost": sum(1 for c in chats if counts[c] == 0),
        "stray": sum(n for c, n in counts.items() if c not in set(chats)),
    }
    print(f"{label}: {report}")
    return report


def statuses(db: Path, chats: range | list[int]) -> Counter[str]:
    rows = db_rows(
        db,
        f"select status from alert where chat_id between {min(chats)} and {max(chats)}",
    )
    return Counter(r[0] for r in rows)


def settled(emu: Emulator, db: Path, chats: range | list[int]) -> bool:
    """Every alert of ``chats`` is sent and no send is in flight at the emulator: no message
    for them can arrive any more, so a tally taken now is final (no sleep needed)."""
    return statuses(db, chats) == Counter({"sent": len(chats)}) and not emu.in_flight("sendMessage")


def sends(emu: Emulator, chats: range | list[int]) -> list[dict]:
    wanted = {str(c) for c in chats}
    return [
        c
        for c in emu.calls(method="sendMessage", token=TOKEN)
        if str(c["params"].get("chat_id")) in wanted
    ]


# --- 429 storm --------------------------------------------------------------------------------


def test_429_storm_over_a_fanout_delivers_each_alert_once(api: Api, bot: BotProcess) -> None:
    emu, db = api.emu, bot.db
    chats = range(710_000, 710_050)
    seed_chats(db, chats, "GE")
    # The first 40 sends all get 429 (retry_after 1 s), and an emulated flood limit of
    # 15 msg/s (strict window) answers 429 to any burst on top of that.
    emu.add_fault(method="sendMessage", token=TOKEN, error_code=429, retry_after=1, times=40)
    emu.set_rate_limit(global_per_sec=15, retry_after=1, mode="window", token=TOKEN)
    title = "Georgia and Turkey hold joint naval drill"
    started = time.monotonic()
    add_story(db, 1, title, ("GE", "TR"), datetime.now(UTC))
    wait_until(lambda: len(delivered(emu, title)) >= len(chats), 60, "all 50 chats")
    elapsed = time.monotonic() - started
    wait_until(lambda: settled(emu, db, chats), 30, "every alert sent, none in flight")
    report = tally(emu, title, chats, "429 storm, 50 chats")
    calls = sends(emu, chats)
    limited = sum(1 for c in calls if c["status"] == 429)
    print(f"429 storm: {limited} x 429 answered, all delivered after {elapsed:.1f}s")
    assert report == {"expected": 50, "delivered": 50, "duplicated": 0, "lost": 0, "stray": 0}
    assert limited >= 40
    assert statuses(db, chats) == Counter({"sent": 50})
    assert bot.proc is not None and bot.proc.poll() is None


# --- 5xx ---------------------------------------------------------------------------------------


def test_500_and_502_are_retried_with_backoff(api: Api, bot: BotProcess) -> None:
    emu, db = api.emu, bot.db
    chats = range(720_000, 720_010)
    seed_chats(db, chats, "AM")
    emu.add_fault(method="sendMessage", token=TOKEN, error_code=500, times=5)
    emu.add_fault(preset="bad_gateway", method="sendMessage", token=TOKEN, times=5)
    title = "Armenia and France sign radar contract"
    add_story(db, 2, title, ("AM", "FR"), datetime.now(UTC))
    wait_until(lambda: len(delivered(emu, title)) >= len(chats), 40, "all 10 chats")
    wait_until(lambda: settled(emu, db, chats), 30, "every alert sent, none in flight")
    report = tally(emu, title, chats, "500/502 on the first 10 sends")
    calls = sends(emu, chats)
    failed = [c for c in calls if c["status"] in (500, 502)]
    assert Counter(c["status"] for c in failed) == Counter({500: 5, 502: 5})
    # Each failed chat waited the first backoff step (5 s) before its successful retry.
    for fail in failed:
        chat = str(fail["params"]["chat_id"])
        ok = [c for c in calls if c["status"] == 200 and str(c["params"]["chat_id"]) == chat]
        assert len(ok) == 1
        assert (ok[0]["ts"] - fail["ts"]) / 1000 >= 4.5, "retried without backoff"
    assert report == {"expected": 10, "delivered": 10, "duplicated": 0, "lost": 0, "stray": 0}
    assert statuses(db, chats) == Counter({"sent": 10})


# --- timeouts ----------------------------------------------------------------------------------


def test_send_timeout_at_the_emulator_is_retried(api: Api, bot: BotProcess) -> None:
    """``delay_ms`` beyond PTB's 5 s read timeout: PTB raises TimedOut, the alert is retried.

    The emulator's delayed fault always ends in an error (here 500) and never stores the
    message, so this case cannot produce a duplicate; the proxy test below covers a timed-out
    send that Telegram did accept.
    """
    emu, db = api.emu, bot.db
    chats = range(730_000, 730_004)
    slow = chats[0]
    seed_chats(db, chats, "KZ")
    emu.add_fault(method="sendMessage", chat_id=slow, error_code=500, delay_ms=7000, times=1)
    title = "Kazakhstan and Kyrgyzstan open a joint air defence post"
    add_story(db, 3, title, ("KZ", "KG"), datetime.now(UTC))
    [(error,)] = wait_until(
        lambda: db_rows(
            db, "select last_error from alert where chat_id = ? and last_error is not null", slow
        ),
        15,
        "the timed-out attempt to be recorded",
        interval=0.1,
    )
    assert "TimedOut" in error, error
    wait_until(lambda: len(delivered(emu, title)) >= len(chats), 40, "all 4 chats")
    wait_until(lambda: settled(emu, db, chats), 30, "every alert sent, none in flight")
    report = tally(emu, title, chats, "7 s delay on one chat's send (PTB read timeout 5 s)")
    errors = db_rows(db, "select attempts, status from alert where chat_id = ?", slow)
    assert errors == [(2, "sent")], errors  # one timed-out attempt, then the delivery
    assert report == {"expected": 4, "delivered": 4, "duplicated": 0, "lost": 0, "stray": 0}


class SlowReplyProxy:
    """An HTTP proxy to the emulator that forwards a send at once but holds its *answer*.

    For chats in ``slow`` (chat id -> how many sends), the emulator stores the message, then
    the proxy waits ``hold`` seconds before answering: the bot times out on a message that
    Telegram accepted, the at-least-once window of the outbox.
    """

    def __init__(self, upstream: str, hold: float) -> None:
        self.upstream, self.hold = upstream, hold
        self.slow: dict[str, int] = {}
        self.lock = threading.Lock()
        self.client = httpx.Client(base_url=upstream, timeout=70.0)
        self.stopping = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.forward(b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.forward(body)

            def forward(self, body: bytes) -> None:
                headers = {"Content-Type": self.headers.get("Content-Type", "")}
                try:
                    upstream = proxy.client.request(
                        self.command, self.path, content=body, headers=headers
                    )
                except httpx.HTTPError:
                    self.close_connection = True
                    return
                if self.path.endswith("/sendMessage") and proxy.take(body):
                    proxy.stopping.wait(proxy.hold)
                try:
                    self.send_response(upstream.status_code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(upstream.content)))
                    self.end_headers()
                    self.wfile.write(upstream.content)
                except OSError:  # the bot gave up on this request
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def take(self, body: bytes) -> bool:
        chat = (parse_qs(body.decode("utf-8", "replace")).get("chat_id") or [""])[0]
        with self.lock:
            if self.slow.get(chat, 0) > 0:
                self.slow[chat] -= 1
                return True
        return False

    def __enter__(self) -> SlowReplyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.client.close()


def test_timed_out_send_that_telegram_accepted_is_counted(
    api: Api, bot: BotProcess, tmp_path: Path
) -> None:
    """The honest count: a send whose answer never came is retried, so that chat gets the
    alert twice (the documented at-least-once window); every other chat exactly once."""
    emu = api.emu
    chats = range(740_000, 740_004)
    slow = chats[0]
    with SlowReplyProxy(emu.url, hold=8.0) as proxy:
        env = bot_env(emu, tmp_path, PROXY_TOKEN)
        env["TELEGRAM_API_BASE_URL"] = f"{proxy.url}/bot"
        process = BotProcess(emu, PROXY_TOKEN, env, tmp_path / "bot.log").start()
        try:
            db = tmp_path / "defwatch.db"
            seed_chats(db, chats, "UZ")
            proxy.slow[str(slow)] = 1
            title = "Uzbekistan and Tajikistan agree border security drills"
            add_story(db, 4, title, ("UZ", "TJ"), datetime.now(UTC))

            def counts() -> Counter[int]:
                return Counter(m.chat_id for m in emu.messages(PROXY_TOKEN) if title in m.text)

            wait_until(lambda: counts()[slow] >= 2 and len(counts()) >= 4, 40, "the retry")
            time.sleep(1.0)
            got = counts()
            report = {
                "expected": len(chats),
                "delivered": sum(1 for c in chats if got[c]),
                "duplicated": sum(got[c] - 1 for c in chats if got[c] > 1),
                "lost": sum(1 for c in chats if not got[c]),
            }
            print(f"answer to one accepted send held 8 s (> PTB's 5 s timeout): {report}")
            assert report == {"expected": 4, "delivered": 4, "duplicated": 1, "lost": 0}
            assert got[slow] == 2
            assert db_rows(db, "select count(*) from alert where status = 'sent'") == [(4,)]
        finally:
            process.stop()
            assert PROXY_TOKEN.split(":")[1] not in process.log()


# --- 403 for one chat among many -----------------------------------------------------------------


def test_403_for_one_chat_among_many(api: Api, bot: BotProcess) -> None:
    emu, db = api.emu, bot.db
    chats = range(750_000, 750_020)
    blocked = chats[7]
    seed_chats(db, chats, "RS")
    emu.add_fault(preset="blocked", chat_id=blocked)
    titles = ["Serbia and Hungary patrol the border together", "Serbia buys Chinese drones"]
    for story_id, title in zip((5, 6), titles, strict=True):
        add_story(db, story_id, title, ("RS", "HU"), datetime.now(UTC))
    others = [c for c in chats if c != blocked]
    for title in titles:
        wait_until(lambda t=title: len(delivered(emu, t)) >= len(others), 30, f"{title!r}")
    wait_until(
        lambda: db_rows(db, "select active from chat where id = ?", blocked) == [(0,)],
        10,
        "the blocked chat to be deactivated",
    )
    wait_until(
        lambda: (
            set(statuses(db, chats)) <= {"sent", "dropped"} and not emu.in_flight("sendMessage")
        ),
        30,
        "every alert sent or dropped, none in flight",
    )
    for title in titles:
        report = tally(emu, title, others, f"403 for chat {blocked}; the 19 others, {title!r}")
        assert report == {"expected": 19, "delivered": 19, "duplicated": 0, "lost": 0, "stray": 0}
    blocked_rows = db_rows(db, "select status from alert where chat_id = ?", blocked)
    print(
        f"blocked chat: alerts {blocked_rows}, sendMessage attempts "
        f"{len(emu.calls(method='sendMessage', chat_id=blocked))}"
    )
    assert blocked_rows and {r[0] for r in blocked_rows} == {"dropped"}
    assert all(c["status"] == 403 for c in emu.calls(method="sendMessage", chat_id=blocked))
    assert statuses(db, chats) == Counter({"sent": 38, "dropped": len(blocked_rows)})


# --- editing a message that is gone --------------------------------------------------------------


def press_raw(emu: Emulator, chat_id: int, data: str, message_id: int) -> None:
    emu.post(
        "/sendCallback",
        {
            "botToken": TOKEN,
            "date": int(time.time()),
            "from": {"id": chat_id, "is_bot": False, "first_name": "Tester"},
            "chat_instance": f"ci-{chat_id}",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "Tester"},
                "text": "an old message",
            },
        },
    )


def test_buttons_on_a_message_that_is_gone(api: Api, bot: BotProcess) -> None:
    emu, db = api.emu, bot.db
    chat = 760_001
    for i in range(7):
        add_story(db, 100 + i, f"Moldova story {i}", ("MD", "RO"), datetime.now(UTC))
    user = emu.user(TOKEN, chat)
    first = user.ask("/latest moldova 3")
    more = first.button(text="Older")["callback_data"]
    answered = len(emu.calls(method="answerCallbackQuery", token=TOKEN))
    gone = 987_654_321  # a message id the emulator never issued
    press_raw(emu, chat, more, gone)
    press_raw(emu, chat, "rm:1", gone)
    wait_until(
        lambda: len(emu.calls(method="answerCallbackQuery", token=TOKEN)) >= answered + 2,
        15,
        "both presses answered",
    )

    def gone_edits() -> list[dict]:
        return [
            c
            for c in emu.calls(method="editMessageText", token=TOKEN)
            if str(c["params"].get("message_id")) == str(gone)
        ]

    edits = wait_until(lambda: len(gone_edits()) >= 2 and gone_edits(), 15, "both edit attempts")
    print(f"edits of the gone message: {[(c['status'], c['description']) for c in edits]}")
    assert edits and all(c["status"] == 400 for c in edits)
    assert all("message to edit not found" in c["description"] for c in edits)
    calls = emu.calls(method="answerCallbackQuery", token=TOKEN)[answered:]
    assert [c["status"] for c in calls] == [200, 200]
    assert "error while handling an update" not in bot.log()
    assert "/watch" in user.ask("/help").text  # still serving


def test_story_edit_of_a_deleted_message_is_not_an_error(api: Api, bot: BotProcess) -> None:
    """A later outlet joins a story whose alert the user deleted: the edit gets "message to
    edit not found", counts as done, and no second alert is sent."""
    from tests.feedserver import FeedServer
    from tests.test_story_edits import SUMMARY, TITLE
    from tests.test_story_edits import rss as outlet_rss

    emu, db = api.emu, bot.db
    chat = 765_001
    user = emu.user(TOKEN, chat)
    user.ask("/start")
    user.ask("/watch azerbaijan")
    admin = emu.user(TOKEN, ADMIN)
    now = datetime.now(UTC)
    with FeedServer() as feeds:
        first = feeds.add(
            "/trend.xml", outlet_rss("Trend", "trend.example", "t-1", TITLE, SUMMARY, now)
        )
        admin.ask(f"/addfeed {first}")
        [alert] = user.wait_messages(1, timeout=30)
        # The user deletes it (the emulator forgets the message, as Telegram would).
        deleted = httpx.post(
            f"{emu.bot_api_base}{TOKEN}/deleteMessage",
            data={"chat_id": chat, "message_id": alert.message_id},
        ).json()
        assert deleted["ok"], deleted
        second = feeds.add("/apa.xml", outlet_rss("APA", "apa.example", "a-7", TITLE, SUMMARY, now))
        admin.ask(f"/addfeed {second}")
        wait_until(
            lambda: (
                db_rows(
                    db,
                    "select count(*) from article where story_id = "
                    "(select story_id from alert where chat_id = ?)",
                    chat,
                )
                == [(2,)]
            ),
            20,
            "the second outlet to join the story",
        )
        wait_until(
            lambda: [
                c for c in emu.calls(method="editMessageText", chat_id=chat)
                if str(c["params"].get("message_id")) == str(alert.message_id)
            ],
            30,
            "the edit attempt",
        )  # fmt: skip
        wait_until(
            lambda: (
                db_rows(db, "select status, edited_count from alert where chat_id = ?", chat)
                == [("sent", 1)]
            ),
            10,
            "the edit to count as done",
        )
    [edit] = emu.calls(method="editMessageText", chat_id=chat)
    print(f"story edit of a deleted message: {edit['status']} {edit['description']}")
    assert edit["status"] == 400 and "message to edit not found" in edit["description"]
    # The chat's one alert is done (above); once no send is in flight, the inbox is final.
    wait_until(lambda: not emu.in_flight("sendMessage"), 10, "no send in flight")
    user.poll()
    assert [m for m in user.inbox if TITLE in m.text] == [], "a second alert for one story"
    assert bot.proc is not None and bot.proc.poll() is None


# --- the Bot API unreachable (last: the emulator is replaced) ----------------------------------


def test_bot_api_unreachable_then_back_on_the_same_port(api: Api, bot: BotProcess) -> None:
    db = bot.db
    chats = range(770_000, 770_005)
    seed_chats(db, chats, "PL")
    api.emu.stop()  # connection refused from now on
    down = time.monotonic()
    title = "Poland and Lithuania link air defence networks"
    add_story(db, 7, title, ("PL", "LT"), datetime.now(UTC))
    time.sleep(12.0)
    assert bot.proc is not None and bot.proc.poll() is None, "the bot died with the API down"
    waiting = db_rows(
        db,
        "select status, attempts, last_error from alert where chat_id between ? and ?",
        min(chats),
        max(chats),
    )
    print(f"after 12 s without the Bot API: {Counter((s, a) for s, a, _ in waiting)}")
    assert len(waiting) == 5 and all(s in ("pending", "sending") for s, _, _ in waiting)
    assert all(a >= 1 and e for s, a, e in waiting if s == "pending"), waiting
    api.restart()
    bot.emu = api.emu
    back = time.monotonic()
    wait_until(lambda: len(delivered(api.emu, title)) >= len(chats), 45, "delivery after return")
    print(
        f"API down {back - down:.1f}s; all delivered {time.monotonic() - back:.1f}s after it "
        "returned"
    )
    wait_until(lambda: settled(api.emu, db, chats), 30, "every alert sent, none in flight")
    report = tally(api.emu, title, chats, "Bot API unreachable for 12 s")
    assert report == {"expected": 5, "delivered": 5, "duplicated": 0, "lost": 0, "stray": 0}
    assert statuses(db, chats) == Counter({"sent": 5})
