"""Issue 5: hostile input, as properties (Hypothesis) over the pure parsers and formatters, then
end to end against the tg-emulator, which parses the bot's HTML like Telegram and answers 400
to a broken entity or a message over 4096 characters (so a bad reply shows up as no reply).

Bugs these tests found were fixed; each keeps its named test. The broad properties are
checked on the rest of the input space (see ``tests.hostile.only_int_safe_digits``).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from bot import formatting
from bot.args import (
    UsageError,
    make_resolver,
    parse_latest_args,
    parse_settings_args,
    resolve_countries,
    split_terms,
)
from bot.replies import added_lines, unknown_lines
from monitors.detect.countries import default_gazetteer
from monitors.domain import Outlet, StoryView
from monitors.netguard import UnsafeFeedURL, check_feed_url
from monitors.subscriptions import AddResult
from tests.hostile import (
    METACHARS,
    check_telegram_html,
    command_text,
    hostile_args,
    hostile_word,
    long_args,
    only_int_safe_digits,
    telegram_html_problems,
    unicode_text,
)
from tests.test_bot_e2e import add_story
from tests.tg import (
    ADMIN,
    BotProcess,
    Emulator,
    TgUser,
    bot_env,
    db_rows,
    running_bot,
    wait_until,
)

GAZETTEER = default_gazetteer()
RESOLVE = make_resolver(GAZETTEER)
CODES = sorted(GAZETTEER.codes())
PURE = settings(max_examples=200, deadline=None, derandomize=True)


def feed_url_problem(url: str, *, allow_private: bool) -> str | None:
    """What ``monitors.netguard`` (which /addfeed uses) says of a URL; names resolve to a public
    address here, so only the URL itself is judged."""
    try:
        check_feed_url(
            url, allow_private=allow_private, resolver=lambda host, port: ["93.184.216.34"]
        )
    except UnsafeFeedURL as exc:
        return str(exc)
    return None


# --- pure: the argument parsers never raise anything but UsageError ---------------------------


@PURE
@given(st.one_of(hostile_args, long_args))
def test_parse_latest_args_total(args: list[str]) -> None:
    assume(only_int_safe_digits(args))
    name, count = parse_latest_args(args)
    assert isinstance(name, str) and 1 <= count <= 20


SETTING_WORDS = ["instant", "digest", "quiet", "scope", "tz", "timezone", "off", "all", "QUIET"]


@PURE
@given(
    st.one_of(
        hostile_args,
        long_args,
        st.tuples(st.sampled_from(SETTING_WORDS), hostile_args).map(lambda t: [t[0], *t[1]]),
        st.tuples(
            st.sampled_from(["digest", "quiet"]),
            st.from_regex(r"\A[0-9\u0660-\u0669]{1,3}:[0-9]{1,3}(-[0-9]{1,2}:[0-9]{2})?\Z"),
        ).map(list),
    )
)
def test_parse_settings_args_raises_only_usage_error(args: list[str]) -> None:
    assume(only_int_safe_digits(args))
    try:
        change = parse_settings_args(args)
    except UsageError as exc:
        check_telegram_html(formatting.esc(str(exc)))  # how the handler replies
        return
    for key, value in change.items():
        if key in ("digest_time", "quiet_start", "quiet_end") and value is not None:
            assert re.fullmatch(r"[0-2][0-9]:[0-5][0-9]", value), change


NON_ASCII_DIGIT = (
    "the parsers test str.isdigit(), which accepts '²' (and other No digits) that int() refuses"
)


@pytest.mark.parametrize(
    ("parser", "args"),
    [
        pytest.param(parse_latest_args, ["georgia", "²"], id="latest count ²"),
        pytest.param(parse_settings_args, ["digest", "²:00"], id="digest ²:00"),
        pytest.param(parse_settings_args, ["quiet", "22:00-0³:00"], id="quiet 0³:00"),
    ],
)
def test_superscript_digits_are_a_usage_error(parser: object, args: list[str]) -> None:
    with pytest.raises(UsageError):
        parser(args)  # type: ignore[operator]


def test_overlong_time_zone_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        parse_settings_args(["tz", "a" * 300])


def test_usage_error_for_a_long_argument_fits_one_message() -> None:
    with pytest.raises(UsageError) as caught:
        parse_settings_args(["digest", "x" * (4096 - len("/settings digest "))])
    check_telegram_html(formatting.esc(str(caught.value)))


@PURE
@given(st.lists(st.one_of(hostile_word, st.just(","), st.just(" , ")), max_size=3000))
def test_split_terms_thousands_of_keywords(args: list[str]) -> None:
    terms = split_terms(args)
    assert all(t == t.strip() and t and "," not in t for t in terms)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.one_of(hostile_args, long_args))
def test_resolve_countries_never_raises(args: list[str]) -> None:
    assume(len(" ".join(args).split()) <= 40)
    found = resolve_countries(args, RESOLVE)
    assert set(found.codes) <= set(CODES)
    check_telegram_html("\n".join(["x", *unknown_lines(found.unknown)]))


def test_many_unknown_country_words_fit_one_message() -> None:
    words = ("xq " * 1300).split()
    found = resolve_countries(words[:1300], RESOLVE)
    check_telegram_html("\n".join(unknown_lines(found.unknown)))


# Shorthand and integer forms of loopback: not IP literals to ``ipaddress``, so only the
# handler's getaddrinfo step (no DNS needed for them) refuses them: end to end only.
RESOLVED_HOSTS = ["127.1", "2130706433", "0x7f000001", "0177.0.0.1"]
URL_HOSTS = [
    "127.0.0.1", "0.0.0.0", "localhost", "a.localhost", "10.0.0.1", "192.168.1.1",
    "169.254.169.254", "[::1]", "[::ffff:127.0.0.1]", "[fe80::1]", "[::]", "172.16.0.1",
]  # fmt: skip


def urls(hosts: list[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda scheme, host, port, path: f"{scheme}://{host}{port}/{path}",
        st.sampled_from(["http", "https", "HTTP", "file", "ftp", "gopher", "javascript", "data"]),
        st.sampled_from(hosts),
        st.sampled_from(["", ":80", ":8080", ":0"]),
        unicode_text,
    )


url_strategy = urls(URL_HOSTS)


@PURE
@given(url_strategy)
def test_private_and_odd_scheme_urls_refused(url: str) -> None:
    assert feed_url_problem(url, allow_private=False) is not None
    if not url.lower().startswith(("http://", "https://")):
        assert feed_url_problem(url, allow_private=True) is not None


@PURE
@given(st.one_of(unicode_text, st.builds(lambda w: f"http://{w}/feed", hostile_word)))
def test_feed_url_problem_total(url: str) -> None:
    assume("[" not in url and "]" not in url)  # bracketed hosts: see the test below
    problem = feed_url_problem(url, allow_private=False)
    assert problem is None or isinstance(problem, str)


@pytest.mark.parametrize("url", ["http://[::1", "http://[abc]/feed", "https://[/"])
def test_bracketed_garbage_urls_are_refused_not_raised(url: str) -> None:
    assert feed_url_problem(url, allow_private=False) is not None


# --- pure: every formatter makes valid Telegram HTML within 4096 characters --------------------

long_text = st.one_of(
    unicode_text,
    st.lists(st.sampled_from(METACHARS), max_size=400).map("".join),
    st.integers(1, 5000).map(lambda n: "<&>" * n),
    st.text(max_size=5000),
)
moment = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)
stories = st.builds(
    StoryView,
    id=st.integers(1, 2**40),
    title=long_text,
    # URLs up to 500 characters here (2,600 once escaped at worst); longer: the test below.
    url=st.one_of(st.none(), long_text, long_text.map(lambda t: "https://x.example/" + t)).map(
        lambda u: u if u is None else u[:500]
    ),
    summary=long_text,
    published_at=moment,
    participants=st.lists(st.sampled_from([*CODES[:30], "ZZ", "XK"]), max_size=6).map(tuple),
    mentioned=st.just(()),
    is_defence_cooperation=st.booleans(),
    cooperation_type=st.one_of(st.none(), st.sampled_from(["exercise", "aid", "<b>", "x"])),
    score=st.floats(0, 1),
    evidence=st.lists(long_text, max_size=4).map(tuple),
    outlets=st.lists(
        st.builds(Outlet, feed_title=long_text, url=st.none(), published_at=moment), max_size=6
    ).map(tuple),
)
matched = st.lists(
    st.one_of(
        st.sampled_from(["country:AZ", "country:ZZ"]),
        long_text.map(lambda t: f"keyword:{t}"),
        long_text.map(lambda t: f"list:{t}"),
    ),
    max_size=12,
)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(stories.filter(lambda s: len(s.outlets) > 0), matched, st.booleans())
def test_format_alert_is_valid_html(story: StoryView, terms: list[str], also: bool) -> None:
    text = formatting.format_alert(story, terms, also_reported=also)
    check_telegram_html(text)
    assert "<script>" not in text


def test_alert_with_a_huge_link_is_still_sent() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    story = StoryView(
        1, "Nauru and Tuvalu sign a pact", "https://x.example/?" + "a&b<" * 1200, "Summary.",
        when, ("NR", "TV"), (), True, "agreement", 1.0, (), (Outlet("Wire", None, when),),
    )  # fmt: skip
    text = formatting.format_alert(story, ())
    check_telegram_html(text)
    assert "Nauru and Tuvalu sign a pact" in text


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(stories, max_size=25), long_text)
def test_story_lists_and_digests_are_valid_html(items: list[StoryView], title: str) -> None:
    text, shown = formatting.story_list(f"<b>Latest for {formatting.esc(title[:200])}</b>", items)
    check_telegram_html(text)
    assert 0 <= shown <= len(items)
    check_telegram_html(formatting.format_digest(title[:200], items))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(st.sampled_from(["country", "keyword", "exclude", "list"]), long_text),
        max_size=20,
    ).map(lambda rules: [(k, d[:100]) for k, d in rules]),
    st.lists(
        st.tuples(
            unicode_text,
            unicode_text,
            st.lists(st.sampled_from(CODES), max_size=5),
            st.lists(unicode_text, max_size=5),
        ),
        max_size=6,
    ),
)
def test_watchlist_texts_are_valid_html(rules: list[tuple[str, str]], lists: list) -> None:
    assume(all(d.strip() for _, d in rules))
    check_telegram_html(formatting.watchlist_text(rules))
    check_telegram_html(formatting.watchlists_text(lists, [n for n, *_ in lists[:2]]))
    for kind, display in rules:
        label = formatting.rule_button_label(kind, "AZ", display)
        assert len(label) <= 60


@settings(max_examples=100, deadline=None, derandomize=True)
@given(
    st.lists(unicode_text.map(lambda t: t[:100]), max_size=20), st.lists(unicode_text, max_size=20)
)
def test_added_lines_within_the_limit_are_valid_html(added: list[str], over: list[str]) -> None:
    lines = added_lines(AddResult(tuple(added), (), tuple(over)), 20)
    assume(lines)
    check_telegram_html("\n".join(lines))


def test_thousands_of_refused_keywords_fit_one_message() -> None:
    terms = split_terms([",".join(f"k{i}" for i in range(1300))])
    lines = added_lines(AddResult(tuple(terms[:20]), (), tuple(terms[20:])), 20)
    check_telegram_html("\n".join(lines))


def test_html_checker_catches_what_telegram_refuses() -> None:
    assert telegram_html_problems('<b>x</b> &amp; <a href="https://x">y</a>') == []
    for bad in ["<script>x</script>", "a & b", "<b>x", "</a>", "<b><i>x</b></i>", "x" * 4097]:
        assert telegram_html_problems(bad), bad


# --- end to end ----------------------------------------------------------------------------------

TOKEN = "535353:DEFWATCH-HOSTILE"
E2E = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.generate),  # no shrinking against a live bot
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def hostile_bot(
    tg_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotProcess]:
    folder = tmp_path_factory.mktemp("hostile")
    # the operator did not allow private feeds
    with running_bot(tg_emulator, folder, TOKEN, private_feeds=False) as process:
        yield process


def reply_to(user: TgUser, text: str, timeout: float = 8.0) -> str:
    """The bot's reply (rendered text) to ``text``; fails if none comes."""
    message = user.ask(text, timeout=timeout)
    assert message.text.strip(), f"empty reply to {text[:80]!r}"
    check_telegram_html(message.html)  # and the emulator accepted it
    return message.text


def alive(process: BotProcess) -> None:
    assert process.proc is not None and process.proc.poll() is None, process.log()[-3000:]


def few_words(args: list[str]) -> bool:
    return len(" ".join(args).split()) <= 20 and only_int_safe_digits(args)


COMMANDS = ["/watch", "/unwatch", "/keywords add", "/keywords exclude", "/latest", "/settings",
            "/use", "/drop"]  # fmt: skip


@pytest.mark.emulator
@pytest.mark.parametrize("command", COMMANDS)
def test_hostile_commands_get_a_reply(
    tg_emulator: Emulator, hostile_bot: BotProcess, command: str
) -> None:
    chat = 830_000 + 1000 * COMMANDS.index(command)
    user = tg_emulator.user(TOKEN, chat)
    sent = 0

    @E2E
    @given(hostile_args)
    @example(["x" * 3900])  # a 3,900-character argument
    @example(["<script>alert(1)</script>", "&amp;", "</a>", "*bold*", "_it_", "[l](http://x)"])
    @example(["\x00\x07\x1b[31m", "\u202eevil", "\ufeff", "🇦🇿", "'; DROP TABLE chat; --"])
    def run(args: list[str]) -> None:
        nonlocal sent
        assume(few_words(args))
        text = command_text(command, args)
        reply_to(user, text)
        sent += 1

    run()
    alive(hostile_bot)
    print(f"{command}: {sent} hostile texts, {sent} replies, bot alive")
    assert sent >= 8


@pytest.mark.emulator
def test_hostile_addfeed_urls_are_refused(tg_emulator: Emulator, hostile_bot: BotProcess) -> None:
    admin = tg_emulator.user(TOKEN, ADMIN)
    sent = 0

    @E2E
    @given(urls(URL_HOSTS + RESOLVED_HOSTS))
    def run(url: str) -> None:
        nonlocal sent
        assume(" " not in url and url.strip() == url and url.isprintable())
        text = reply_to(admin, f"/addfeed {url}")
        assert text.startswith("Refused"), (url, text)
        sent += 1

    run()
    for url in ["file:///etc/passwd", "ftp://news.example/feed.xml", "http://127.0.0.1/",
                "http://169.254.169.254/latest/meta-data/", "http://[::1]:8080/feed"]:  # fmt: skip
        assert reply_to(admin, f"/addfeed {url}").startswith("Refused"), url
        sent += 1
    assert db_rows(hostile_bot.db, "select count(*) from feed") == [(0,)]
    print(f"/addfeed: {sent} private/odd URLs, all refused, no feed stored")


def maximal(command: str) -> str:
    """The command with one argument filling a 4096-character message."""
    return f"{command} " + "x" * (4096 - len(command) - 1)


KNOWN_CRASHERS = [
    ("settings digest ²:00", 0, "/settings digest ²:00"),
    ("latest georgia ²", 0, "/latest georgia ²"),
    ("addfeed http://[::1", ADMIN, "/addfeed http://[::1"),
    ("watch 1300 unknown words", 0, "/watch " + " ".join(["xq"] * 1300)),
    ("keywords add 790 terms", 0, "/keywords add " + ",".join(f"k{i}" for i in range(790))),
    ("settings tz 300 chars", 0, "/settings tz " + "a" * 300),
    ("settings digest maximal", 0, maximal("/settings digest")),
    ("watch maximal", 0, maximal("/watch")),
    ("latest maximal", 0, maximal("/latest")),
    ("use maximal", 0, maximal("/use")),
    ("drop maximal", 0, maximal("/drop")),
]


@pytest.mark.emulator
def test_known_crashing_inputs_get_a_reply(tg_emulator: Emulator, hostile_bot: BotProcess) -> None:
    """Every known-bad input at once (each from its own chat), one shared deadline."""
    users = []
    for index, (name, chat, text) in enumerate(KNOWN_CRASHERS):
        user = tg_emulator.user(TOKEN, chat if chat == ADMIN else 852_000 + index)
        user.send(text)
        users.append((name, user))
    deadline = time.monotonic() + 10.0
    missing = [name for name, _ in users]
    while missing and time.monotonic() < deadline:
        time.sleep(0.2)
        missing = [name for name, user in users if not (user.inbox or user.poll())]
    alive(hostile_bot)
    print(
        f"known bad inputs: {len(users)} sent, {len(users) - len(missing)} replies; "
        f"no reply to {missing}"
    )
    for _, user in users:
        user.inbox.clear()
    assert not missing, f"no reply to {missing}"


@pytest.mark.emulator
def test_per_chat_limits_reply_clearly(tg_emulator: Emulator, hostile_bot: BotProcess) -> None:
    user = tg_emulator.user(TOKEN, 850_001)
    countries = " ".join(["azerbaijan", "georgia", "armenia", "turkey", "iran", "china", "india",
                          "pakistan", "france", "germany", "italy", "spain", "poland", "japan",
                          "egypt", "israel", "jordan", "qatar", "oman", "kuwait", "peru",
                          "chile", "brazil", "mexico", "canada"])  # fmt: skip
    text = reply_to(user, f"/watch {countries}")
    assert "limit of 20 watch items reached" in text and "Remove some with /watchlist" in text
    kept = "select count(*) from watch_rule where chat_id = 850001"
    assert db_rows(hostile_bot.db, kept) == [(20,)]
    text = reply_to(user, "/keywords add " + ", ".join(f"kw{i}" for i in range(30)))
    assert "limit of 20 watch items reached" in text
    # A keyword of more than 6 words, and one of nothing but punctuation, are explained.
    text = reply_to(tg_emulator.user(TOKEN, 850_002), "/keywords add a b c d e f g h, <&>*_[]")
    assert "a keyword needs 1 to 6 words" in text
    print("limits: 25 countries -> 20 kept + clear reply; 30 keywords -> refused with reply")


def press_raw(emu: Emulator, token: str, chat: dict, user_id: int, data: str, mid: int) -> None:
    emu.post(
        "/sendCallback",
        {
            "botToken": token,
            "date": int(time.time()),
            "from": {"id": user_id, "is_bot": False, "first_name": "Mallory"},
            "chat_instance": f"ci-{chat['id']}",
            "data": data,
            "message": {"message_id": mid, "date": int(time.time()), "chat": chat, "text": "x"},
        },
    )


@pytest.mark.emulator
def test_forged_callbacks_cannot_touch_another_chat(
    tg_emulator: Emulator, hostile_bot: BotProcess
) -> None:
    db = hostile_bot.db
    alice = tg_emulator.user(TOKEN, 860_001)
    reply_to(alice, "/watch georgia turkey")
    reply_to(alice, "/keywords add Bayraktar secret plan")
    rules = db_rows(db, "select id, kind, value from watch_rule where chat_id = 860001 order by id")
    assert len(rules) == 3
    mallory = {"id": 860_002, "type": "private", "first_name": "Mallory"}
    reply_to(tg_emulator.user(TOKEN, 860_002), "/watch china")
    listing = tg_emulator.user(TOKEN, 860_002).ask("/watchlist")
    before = len(tg_emulator.calls(method="answerCallbackQuery", token=TOKEN))
    forged = [f"rm:{rule_id}" for rule_id, _, _ in rules] + [
        "rm:" + "9" * 61,  # 64 bytes
        "more:w:5:0:" + str(rules[0][0]),
        "more:" + "A" * 40 + ":5:1:1",
        "zz" * 32,
        "w:ZZ",
        "\u202erm:1",
        "",
    ]
    for data in forged:
        assert len(data.encode()) <= 64
        press_raw(tg_emulator, TOKEN, mallory, 860_002, data, listing.message_id)
    wait_until(
        lambda: (
            len(tg_emulator.calls(method="answerCallbackQuery", token=TOKEN))
            >= before + len(forged)
        ),
        20,
        "every forged press answered",
    )
    after = db_rows(db, "select id, kind, value from watch_rule where chat_id = 860001 order by id")
    assert after == rules, "a forged callback changed another chat's watchlist"
    # Nothing Mallory's chat was shown mentions Alice's rules.
    shown = " ".join(m.text for m in tg_emulator.messages(TOKEN, 860_002))
    answers = " ".join(
        str(c["params"].get("text", ""))
        for c in tg_emulator.calls(method="answerCallbackQuery", token=TOKEN)[before:]
    )
    for secret in ("Bayraktar", "secret plan", "Georgia", "Turkey"):
        assert secret not in shown and secret not in answers, secret
    mallory_rules = db_rows(db, "select kind, value from watch_rule where chat_id = 860002")
    print(f"forged presses: {len(forged)} answered; victim rules unchanged; "
          f"attacker's own rules {mallory_rules}")  # fmt: skip
    alive(hostile_bot)


@pytest.mark.emulator
def test_forged_watch_button_with_unknown_code_adds_nothing(
    tg_emulator: Emulator, hostile_bot: BotProcess
) -> None:
    chat = {"id": 860_003, "type": "private", "first_name": "Mallory"}
    before = len(tg_emulator.calls(method="answerCallbackQuery", token=TOKEN))
    press_raw(tg_emulator, TOKEN, chat, 860_003, "w:ZZ", 1)
    wait_until(
        lambda: len(tg_emulator.calls(method="answerCallbackQuery", token=TOKEN)) > before,
        10,
        "the press answered",
    )
    rows = db_rows(hostile_bot.db, "select value from watch_rule where chat_id = 860003")
    assert rows == []


@pytest.mark.emulator
@pytest.mark.parametrize("data", ["", "rm:" + "9" * 61], ids=["empty", "rm 61 digits"])
def test_forged_callback_data_is_expired_not_an_error(
    tg_emulator: Emulator, hostile_bot: BotProcess, data: str
) -> None:
    chat_id = 861_000 + len(data)
    chat = {"id": chat_id, "type": "private", "first_name": "Mallory"}
    before = len(tg_emulator.calls(method="answerCallbackQuery", token=TOKEN))
    press_raw(tg_emulator, TOKEN, chat, chat_id, data, 1)
    wait_until(
        lambda: len(tg_emulator.calls(method="answerCallbackQuery", token=TOKEN)) > before,
        10,
        "the press answered",
    )
    [answer] = tg_emulator.calls(method="answerCallbackQuery", token=TOKEN)[before:]
    text = str(answer["params"].get("text"))
    print(f"forged {data[:12]!r}: answered {text!r}")
    assert "Something went wrong" not in text


@pytest.mark.emulator
def test_group_non_admin_and_non_operator_are_refused(
    tg_emulator: Emulator, hostile_bot: BotProcess
) -> None:
    db = hostile_bot.db
    group = -100_870_001
    member = tg_emulator.user(TOKEN, group, user_id=870_002, chat_type="group")
    for text in ["/start", "/watch georgia", "/keywords add drones", "/settings instant",
                 "/settings scope all", "/stop", "/use caucasus", "/drop caucasus"]:  # fmt: skip
        reply = reply_to(member, text)
        assert "administrators" in reply or "No named watchlist" in reply, (text, reply)
    assert db_rows(db, "select count(*) from watch_rule where chat_id = ?", group) == [(0,)]
    assert db_rows(db, "select scope from chat where id = ?", group) in ([], [("cooperation",)])
    # A button press in the group by a non-admin is answered with the refusal, nothing changes.
    before = len(tg_emulator.calls(method="answerCallbackQuery", token=TOKEN))
    press_raw(tg_emulator, TOKEN, member._chat, 870_002, "w:GE", 1)
    wait_until(
        lambda: len(tg_emulator.calls(method="answerCallbackQuery", token=TOKEN)) > before,
        10,
        "the press answered",
    )
    [answer] = tg_emulator.calls(method="answerCallbackQuery", token=TOKEN)[before:]
    assert "administrators" in str(answer["params"].get("text"))
    assert db_rows(db, "select count(*) from watch_rule where chat_id = ?", group) == [(0,)]
    # Operator commands check the user id, in a private chat and in a group.
    for user in (tg_emulator.user(TOKEN, 870_003), member):
        for text in [
            "/feeds",
            "/addfeed https://news.example/feed.xml",
            "/removefeed https://news.example/feed.xml",
            "/broadcast hello all",
        ]:
            assert "for the bot's operators" in reply_to(user, text), text
    assert not [m for m in tg_emulator.messages(TOKEN) if "hello all" in m.text]
    # The operator's id in the *chat* field (a group whose id is the admin's) does not count.
    impostor = tg_emulator.user(TOKEN, ADMIN, user_id=870_004)
    assert "for the bot's operators" in reply_to(impostor, "/feeds")


@pytest.mark.emulator
def test_feed_text_metacharacters_arrive_escaped(
    tg_emulator: Emulator, hostile_bot: BotProcess
) -> None:
    db = hostile_bot.db
    user = tg_emulator.user(TOKEN, 880_001)
    reply_to(user, "/start")
    reply_to(user, "/watch nauru")
    title = "Nauru <script>alert(1)</script> & Tuvalu </a> sign *bold* _pact_ [x](y) `z`"
    summary = 'Defence <b>ministers</b> met &amp; agreed; <a href="javascript:x">click</a> ~~ ||'
    add_story(db, 990_001, title, ("NR", "TV"), datetime.now(UTC), summary=summary)
    [alert] = user.wait_messages(1, timeout=20)
    check_telegram_html(alert.html)
    assert title in alert.text, alert.text  # the literal characters, as the user sees them
    assert summary in alert.text, alert.text
    assert "<script>" not in alert.html and "&lt;script&gt;" in alert.html
    assert "javascript:" not in re.findall(r'href="([^"]*)"', alert.html)[0]
    entities = alert.sent.get("entities") or []
    links = [e.get("url", "") for e in entities if e.get("type") == "text_link"]
    assert not [u for u in links if "javascript" in u], links
    print("feed metacharacters: 1 alert expected, 1 delivered, rendered literally")


# --- secrets: the token and the database password never show ------------------------------------

SECRET_TOKEN = "545454:DEFWATCH-SECRET-T0KEN"
PASSWORD = "pw-Hunter2-5ecret"


def postgres_with_password() -> str | None:
    """A PostgreSQL server URL with a password (the configured one, else the local server)."""
    from sqlalchemy import make_url

    from tests.dbfixtures import postgres_server_url

    server = postgres_server_url()
    if server is None:
        try:
            with socket.create_connection(("127.0.0.1", 5432), timeout=1):
                server = "postgresql://postgres@127.0.0.1:5432/postgres"
        except OSError:
            return None
    url = make_url(server)
    if not url.password:
        url = url.set(password=PASSWORD)  # a server that trusts local connections ignores it
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def secret_bot(
    tg_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[BotProcess, str]]:
    """A bot on PostgreSQL with a password in its URL (SQLite when no server answers)."""
    folder = tmp_path_factory.mktemp("secret")
    env = bot_env(tg_emulator, folder, SECRET_TOKEN, per_minute=12)
    server = postgres_with_password()
    databases: Iterator[str] | None = None
    if server is not None:
        from sqlalchemy import make_url

        from tests.dbfixtures import _fresh_postgres_database

        databases = _fresh_postgres_database(server)
        try:
            env["DEFWATCH_DATABASE_URL"] = next(databases)
        except Exception as exc:  # a server that wants a real password: fall back to SQLite
            print(f"PostgreSQL not usable ({type(exc).__name__}); SQLite it is")
            databases = None
    password = ""
    if databases is not None:
        from sqlalchemy import make_url

        password = make_url(env["DEFWATCH_DATABASE_URL"]).password or ""
    process = BotProcess(tg_emulator, SECRET_TOKEN, env, folder / "bot.log").start()
    try:
        yield process, password
    finally:
        process.stop()
        if databases is not None:
            for _ in databases:  # drops the database
                pass


@pytest.mark.emulator
def test_feed_metacharacters_through_a_real_feed(
    tg_emulator: Emulator, secret_bot: tuple[BotProcess, str]
) -> None:
    """The whole path: an RSS item with markup and metacharacters, polled, parsed, alerted."""
    from tests.feedserver import FeedServer
    from tests.test_bot_e2e import STORY_SUMMARY, STORY_TITLE, rss

    user = tg_emulator.user(SECRET_TOKEN, 892_001)
    reply_to(user, "/start")
    reply_to(user, "/watch azerbaijan")
    tail = "& 'S-400' *deal* _now_ [x](y) `z` </a> <b>bold</b> <script>alert(1)</script>"
    title = f"<![CDATA[{STORY_TITLE} {tail}]]>"
    summary = f'<![CDATA[{STORY_SUMMARY} <a href="javascript:alert(1)">x</a> &amp; *_[]]]>'
    with FeedServer() as feeds:
        url = feeds.add("/hostile.xml", rss(("h-1", title, summary, datetime.now(UTC))))
        assert reply_to(tg_emulator.user(SECRET_TOKEN, ADMIN), f"/addfeed {url}").startswith(
            "Feed added"
        )
        [alert] = user.wait_messages(1, timeout=30)
    check_telegram_html(alert.html)  # and the emulator, parsing it as Telegram, took it
    print(f"alert from a hostile feed item, as the user sees it: {alert.text[:300]!r}")
    assert STORY_TITLE in alert.text
    assert tail in alert.text  # every character literal, none taken as markup
    assert "<script" not in alert.html and "javascript:" not in alert.html.split("href=")[1][:30]
    hrefs = re.findall(r'href="([^"]*)"', alert.html)
    assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs


@pytest.mark.emulator
def test_token_and_password_never_shown(
    tg_emulator: Emulator, secret_bot: tuple[BotProcess, str]
) -> None:
    process, password = secret_bot
    admin = tg_emulator.user(SECRET_TOKEN, ADMIN)
    user = tg_emulator.user(SECRET_TOKEN, 890_001)
    texts = [
        reply_to(admin, "/status"),
        reply_to(admin, "/addfeed file:///etc/passwd"),
        reply_to(admin, "/addfeed http://127.0.0.1:9/feed.xml"),  # allowed here; cannot fetch
        reply_to(user, "/settings digest 25:00"),
        reply_to(user, "/settings tz ../../etc/passwd"),
        reply_to(user, "/import"),
        reply_to(user, "/latest atlantis"),
        reply_to(user, "/status"),
    ]
    assert texts[1].startswith("Refused"), texts[1]  # file:// even when private feeds allowed
    # 127.0.0.1 is allowed here, but /addfeed fetches it once and says why it is refused
    assert texts[2].startswith("Refused") and "cannot connect" in texts[2], texts[2]
    # Errors on the way: a handler crash (a known bug) and the unreachable feed's fetch error.
    user.send("/settings digest ²:00")
    time.sleep(2.5)
    texts.append(reply_to(admin, "/feeds"))
    texts.append(reply_to(admin, "/status"))
    every_reply = " ".join(m.html + m.text for m in tg_emulator.messages(SECRET_TOKEN))
    log = process.log()
    secrets = [SECRET_TOKEN, SECRET_TOKEN.split(":")[1]] + ([password] if password else [])
    for secret in secrets:
        assert secret not in every_reply, "a secret reached a reply"
        assert secret not in log, "a secret reached the log"
    assert "database:" in log and ("postgresql" in log or "sqlite" in log)
    print(
        f"secrets: token + {'PostgreSQL password' if password else 'no password (SQLite)'} "
        f"absent from {len(tg_emulator.messages(SECRET_TOKEN))} replies and "
        f"{len(log.splitlines())} log lines (tracebacks: {log.count('Traceback')})"
    )


@pytest.mark.emulator
def test_requests_per_minute_limit_on_buttons_too(
    tg_emulator: Emulator, secret_bot: tuple[BotProcess, str]
) -> None:
    user = tg_emulator.user(SECRET_TOKEN, 891_001)
    for _ in range(12):
        assert "Too many" not in reply_to(user, "/help")
    assert "Too many requests: at most 12 a minute" in reply_to(user, "/help")
    before = len(tg_emulator.calls(method="answerCallbackQuery", token=SECRET_TOKEN))
    chat = {"id": 891_001, "type": "private", "first_name": "Tester"}
    press_raw(tg_emulator, SECRET_TOKEN, chat, 891_001, "w:GE", 1)
    wait_until(
        lambda: len(tg_emulator.calls(method="answerCallbackQuery", token=SECRET_TOKEN)) > before,
        10,
        "the press answered",
    )
    [answer] = tg_emulator.calls(method="answerCallbackQuery", token=SECRET_TOKEN)[before:]
    assert "Too many requests" in str(answer["params"].get("text"))
    assert str(answer["params"].get("show_alert")).lower() == "true"
    assert "Too many" not in reply_to(tg_emulator.user(SECRET_TOKEN, 891_002), "/help")
