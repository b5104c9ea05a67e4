"""The bot's languages (bot/i18n.py, bot/catalogues.py, bot/language.py).

The catalogue test is the translator's gate: every text the code marks (and every reason of
config/why.toml) must be translated in every catalogue, with the English placeholders and
HTML tags, and every plural with all its forms. Then the pure parts, as tables, and the
/start and /language handlers on the in-process Bot API fake (tests/fakebot.py).
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Message

from bot import catalogues
from bot.i18n import LANGUAGES, Tr, pick_language, tr
from bot.language import parse_language
from tests.fakebot import offline_bot

# --- catalogues -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> object:
    return catalogues.template()


@pytest.mark.parametrize("language", catalogues.translated_languages())
def test_catalogue_is_complete_and_well_formed(language: str, template: object) -> None:
    problems = catalogues.problems(language, template)  # type: ignore[arg-type]
    assert problems == [], f"{language}: run scripts/i18n.py update, then translate:\n" + (
        "\n".join(problems)
    )


def test_template_holds_the_code_and_why_toml(template: object) -> None:
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in template}  # type: ignore[attr-defined]
    assert {"joint exercise", "defence ministers met", "Also reported by: {outlets}"} <= ids


@pytest.mark.parametrize(
    ("message", "plurals", "problem"),
    [
        pytest.param(Message("Hello {name}", "Привет {name}"), 3, None, id="well formed"),
        pytest.param(Message("Hello {name}", "Привет {imя}"), 3, "placeholders", id="renamed"),
        pytest.param(Message("Hello {name}", "Привет"), 3, "placeholders", id="dropped"),
        pytest.param(Message("<b>Hi</b>", "<b>Привет"), 3, "HTML tags", id="unclosed tag"),
        pytest.param(Message("Hi", ""), 3, "untranslated", id="empty"),
        pytest.param(Message("Hi", "Привет", flags=["fuzzy"]), 3, "fuzzy", id="fuzzy"),
        pytest.param(
            Message(("{count} story", "{count} stories"), ("{count} сюжет", "{count} сюжета")),
            3,
            "plural forms",
            id="a Russian plural with two forms",
        ),
        pytest.param(
            Message(
                ("{count} story", "{count} stories"),
                ("одна новость", "{count} новости", "{count} новостей"),
            ),
            3,
            None,
            id="a plural form may leave the count out",
        ),
    ],
)
def test_message_problems(message: Message, plurals: int, problem: str | None) -> None:
    found = catalogues.message_problems(message, plurals)
    if problem is None:
        assert found == []
    else:
        assert found and problem in found[0]


# --- languages, plurals, dates, names ---------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "language"),
    [
        pytest.param("ru", "ru", id="ru"),
        pytest.param("ru-RU", "ru", id="region"),
        pytest.param("az_AZ", "az", id="underscore"),
        pytest.param("TR", "tr", id="capitals"),
        pytest.param("pt-br", "en", id="unsupported: English"),
        pytest.param(None, "en", id="no language code"),
        pytest.param("", "en", id="empty"),
    ],
)
def test_pick_language(code: str | None, language: str) -> None:
    assert pick_language(code) == language


@pytest.mark.parametrize(
    ("typed", "language"),
    [
        pytest.param("ru", "ru", id="code"),
        pytest.param("Azərbaycanca", "az", id="own name"),
        pytest.param("TÜRKÇE", "tr", id="own name in capitals"),
        pytest.param("turkish", "tr", id="English name"),
        pytest.param("klingon", None, id="unknown"),
    ],
)
def test_parse_language(typed: str, language: str | None) -> None:
    assert parse_language(typed) == language


@pytest.mark.parametrize(
    ("language", "said"),
    [
        pytest.param("en", "A, B, or C", id="en"),
        pytest.param("ru", "A, B или C", id="ru"),
        pytest.param("az", "A, B, yaxud C", id="az"),
        pytest.param("tr", "A, B veya C", id="tr"),
    ],
)
def test_choices_joined_with_the_languages_or(language: str, said: str) -> None:
    assert Tr(language).alternatives(["A", "B", "C"]) == said
    assert Tr(language).alternatives(["A"]) == "A"


@pytest.mark.parametrize(
    ("language", "count", "said"),
    [
        pytest.param("en", 1, "1 story", id="en one"),
        pytest.param("en", 2, "2 stories", id="en other"),
        pytest.param("ru", 1, "1 сюжет", id="ru one"),
        pytest.param("ru", 3, "3 сюжета", id="ru few"),
        pytest.param("ru", 5, "5 сюжетов", id="ru many"),
        pytest.param("ru", 11, "11 сюжетов", id="ru eleven is many"),
        pytest.param("ru", 21, "21 сюжет", id="ru twenty-one is one"),
        pytest.param("az", 2, "2 xəbər", id="az"),
        pytest.param("tr", 2, "2 haber", id="tr"),
    ],
)
def test_plural_forms(language: str, count: int, said: str) -> None:
    assert tr(language)._n("{count} story", "{count} stories", count) == said


MOMENT = datetime(2026, 12, 3, 12, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("language", "zone", "said"),
    [
        pytest.param("en", "UTC", "03 Dec 2026 12:45 UTC", id="en as before"),
        pytest.param("ru", "Asia/Baku", "3 декабря 2026\u202fг., 16:45 Asia/Baku", id="ru Baku"),
        pytest.param("az", "Asia/Baku", "3 dekabr 2026, 16:45 Asia/Baku", id="az Baku"),
        pytest.param("tr", "Europe/Istanbul", "3 Aralık 2026, 15:45 Europe/Istanbul", id="tr"),
        pytest.param("ru", "Etc/GMT-4", "3 декабря 2026\u202fг., 16:45 UTC+4", id="fixed offset"),
    ],
)
def test_dates_in_language_and_zone(language: str, zone: str, said: str) -> None:
    assert Tr(language).when(MOMENT, zone) == said


@pytest.mark.parametrize(
    ("language", "code", "name"),
    [
        pytest.param("en", "AZ", "Azerbaijan", id="en"),
        pytest.param("ru", "AZ", "Азербайджан", id="ru"),
        pytest.param("az", "CN", "Çin", id="az"),
        pytest.param("tr", "AZ", "Azerbaycan", id="tr"),
    ],
)
def test_country_names_from_cldr(language: str, code: str, name: str) -> None:
    assert Tr(language).country(code) == name


def test_every_language_has_a_name_and_flag() -> None:
    from bot.i18n import LANGUAGE_FLAGS, LANGUAGE_NAMES

    assert set(LANGUAGE_NAMES) == set(LANGUAGE_FLAGS) == set(LANGUAGES)


# --- /start and /language on the fake Bot API -----------------------------------------------


async def test_start_speaks_the_users_language_and_stores_it(tmp_path: Path) -> None:
    async with offline_bot(tmp_path) as bot:
        [welcome] = await bot.command(501, "/start", language_code="ru-RU")
        assert "оборонном сотрудничестве" in welcome.text
        # Stored: a later message without a language code is still answered in Russian.
        [reply] = await bot.command(501, "/watch Азербайджан")
        assert reply.text == "Теперь слежу за: Азербайджан."
        [listing] = await bot.command(501, "/watchlist")
        assert listing.text.startswith("<b>Ваш список наблюдения</b>")
        assert "Страны: Азербайджан" in listing.text
        [english] = await bot.command(502, "/start", language_code="pt-br")
        assert "defence cooperation" in english.text
        assert bot.errors == []


async def test_language_buttons_switch_and_are_stored(tmp_path: Path) -> None:
    async with offline_bot(tmp_path) as bot:
        await bot.command(601, "/start", language_code="tr")
        [menu] = await bot.command(601, "/language")
        rows = menu.params["reply_markup"]["inline_keyboard"]
        labels = [row[0]["text"] for row in rows]
        assert labels == ["🇬🇧 English", "🇷🇺 Русский", "🇦🇿 Azərbaycanca", "✅ 🇹🇷 Türkçe"]
        before = len(bot.api.calls)
        [edited] = await bot.press(601, "lang:az")
        assert "Azərbaycanca" in edited.text and bot.answers(before) == ["Azərbaycanca"]
        menus = [c for c in bot.api.calls[before:] if c.method == "setMyCommands"]
        assert len(menus) == 1 and menus[0].params["scope"]["chat_id"] == 601
        descriptions = {c["command"]: c["description"] for c in menus[0].params["commands"]}
        assert (
            descriptions["start"]
            == tr("az")._("subscribe and see what I do")
            != ("subscribe and see what I do")
        )
        [again] = await bot.command(601, "/language tr")
        assert "Türkçe" in again.text
        before = len(bot.api.calls)
        assert await bot.press(601, "lang:xx") == []  # a forged language: answered, not set
        assert bot.answers(before) == ["Bu düğmenin süresi doldu."]
        assert bot.errors == []


# (language, what the user sends, what the reply holds): every kind of reply in the
# chat's language: help, usage, unknown names, parsers' errors, settings, empty lists, status.
REPLIES = [
    ("ru", "/help", "сообщает о новостях военного и оборонного сотрудничества"),
    ("ru", "/watch", "Как использовать: /watch Азербайджан Китай"),
    ("ru", "/watch azerbaijn", "Неизвестная страна «azerbaijn». Вы имели в виду Азербайджан?"),
    ("ru", "/settings digest 25:00", "'25:00' — не время суток"),
    ("ru", "/settings tz Mars/Olympus", "'Mars/Olympus' — не часовой пояс."),
    ("ru", "/keywords add 🚀", "Не добавлено «🚀»: в нём нет букв и цифр"),
    ("ru", "/settings", "<b>Настройки</b>\nДоставка: уведомления сразу"),
    ("ru", "/digest", "Ваш список наблюдения пуст: /watch Азербайджан"),
    ("ru", "/latest nauru", "Сюжетов для: 🇳🇷 Науру пока нет"),
    ("ru", "/latest 5²", "'5²' — не число"),
    ("ru", "/status", "Сохранено сюжетов: 0 (о военном сотрудничестве: 0)"),
    ("ru", "hello", "Я не понял. /help — список того, что я умею."),
    ("ru", "/why", "Ответьте /why на уведомление"),
    ("ru", "/partners azerbaijn", "Неизвестная страна «azerbaijn»"),
    ("ru", "/use nothing", "Готового списка «nothing» нет."),
    ("ru", "/stop", "Подписка отменена. Ваш список наблюдения сохранён"),
    ("az", "/watch", "İstifadə: /watch Azərbaycan Çin"),
    ("az", "/settings", "<b>Ayarlar</b>"),
    ("az", "/digest", "İzləmə siyahınız boşdur"),
    ("az", "/stop", "Abunəlik dayandırıldı."),
    ("tr", "/watch", "Kullanım: /watch Azerbaycan Çin"),
    ("tr", "/settings quiet 22:00", "Kullanım: /settings instant"),
    ("tr", "/latest georgia", "🇬🇪 Gürcistan için henüz kayıtlı haber yok"),
    ("tr", "/keywords remove S-400", "Bunların hiçbiri izleme listesinde değildi."),
    # errors made outside the bot (the views' period parser) and lists of choices
    ("ru", "/partners azerbaijan 9000d", "Период должен быть от 1 до 730 дней."),
    ("az", "/trend azerbaijan 5x", "'5x' müddət deyil"),
    ("tr", "/partners azerbaijan 0d", "Süre 1 gün ile 730 gün arasında olmalıdır."),
    ("ru", "/settings tz Europe/Berln", "Europe/Berlin, Europe/Dublin или Europe/Belfast?"),
    ("tr", "/settings tz Americ/Chicag", "America/Chicago veya America/Bahia?"),
]


@pytest.mark.parametrize(
    ("language", "sent", "said"),
    [pytest.param(*row, id=f"{row[0]} {row[1]}") for row in REPLIES],
)
async def test_replies_in_the_chats_language(
    tmp_path: Path, language: str, sent: str, said: str
) -> None:
    async with offline_bot(tmp_path) as bot:
        await bot.command(700, "/start", language_code=language)
        replies = await bot.command(700, sent)
        assert replies and said in html.unescape(replies[0].text), [r.text for r in replies]
        assert bot.errors == []


@pytest.mark.parametrize(
    ("language", "watched", "said"),
    [
        pytest.param("ru", 2, "С возвращением: ваш список наблюдения сохранён (2 страны)", id="ru"),
        pytest.param("az", 1, "Xoş gəlmisiniz: izləmə siyahınız saxlanılıb (1 ölkə)", id="az"),
        pytest.param("tr", 2, "Tekrar hoş geldiniz: izleme listeniz korundu (2 ülke)", id="tr"),
    ],
)
async def test_welcome_back_counts_in_the_language(
    tmp_path: Path, language: str, watched: int, said: str
) -> None:
    async with offline_bot(tmp_path) as bot:
        await bot.command(701, "/start", language_code=language)
        await bot.command(701, "/watch " + " ".join(["AZ", "GE"][:watched]))
        await bot.command(701, "/stop")
        [welcome] = await bot.command(701, "/start")
        assert welcome.text.startswith(said)


# --- country input in every language of the gazetteer ------------------------------------------


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        pytest.param("أذربيجان", "AZ", id="Arabic"),
        pytest.param("آذربایجان", "AZ", id="Persian common name"),
        pytest.param("جمهوری آذربایجان", "AZ", id="Persian CLDR name"),
        pytest.param("چین", "CN", id="Persian China"),
        pytest.param("ترکیه", "TR", id="Persian Türkiye"),
        pytest.param("Азербайджан", "AZ", id="Russian"),
        pytest.param("Azərbaycan", "AZ", id="Azerbaijani"),
        pytest.param("Azerbaycan", "AZ", id="Turkish"),
        pytest.param("Αζερμπαϊτζάν", "AZ", id="Greek"),
    ],
)
def test_watch_resolves_names_in_every_language(typed: str, code: str) -> None:
    from bot.args import make_resolver, resolve_countries
    from monitors.detect.countries import default_gazetteer

    assert resolve_countries([typed], make_resolver(default_gazetteer())).codes == (code,)


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        pytest.param("وزیر دفاع آذربایجان با همتای چینی دیدار کرد", ["AZ"], id="the state"),
        pytest.param("سفر وزیر دفاع به آذربایجان شرقی", [], id="Iran's province is not it"),
    ],
)
def test_persian_azerbaijan_in_text(text: str, codes: list[str]) -> None:
    from monitors.detect.countries import default_gazetteer

    assert [m.code for m in default_gazetteer().find(text)] == codes


async def test_watch_in_arabic_on_the_fake_bot(tmp_path: Path) -> None:
    async with offline_bot(tmp_path) as bot:
        await bot.command(702, "/start", language_code="ru")
        [reply] = await bot.command(702, "/watch أذربيجان")
        assert reply.text == "Теперь слежу за: Азербайджан."
