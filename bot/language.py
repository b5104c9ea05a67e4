"""Which language a chat is spoken to in, and ``/language`` to change it (rules: ``bot.i18n``).

* ``language_gate`` (group -1) puts the chat's language in ``context.chat_data`` once per
  chat and process: the stored ``chat.language``, or else the sender's Telegram
  ``language_code`` (not stored until ``/start`` or ``/language``). Handlers then say
  ``tr_of(context)._("…")`` without a query of their own.
* ``/start`` stores the sender's language for a chat that has none (``remember``).
* ``/language`` shows one button per language (``lang:xx``), each named in itself, the
  current one ticked; ``/language ru`` sets it at once. Only those who may change the chat's
  settings may change it (``bot.gates``). The chat's command menu follows
  (``set_my_commands`` for that chat, in its language).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.formatting import esc
from bot.gates import may_change
from bot.i18n import (
    CHAT_KEY,
    LANGUAGE_FLAGS,
    LANGUAGE_NAMES,
    LANGUAGES,
    Tr,
    pick_language,
    tr,
    tr_of,
)
from monitors import subscriptions

LANG = CHAT_KEY  # chat_data key: the language this chat is spoken to in
CHOSEN = "language_chosen"  # chat_data key: True once stored in chat.language
PATTERN = r"^lang:[a-z]{2}$"

# The command menu in a language (set by bot.app so it is the list /help describes).
CommandsFor = Callable[[Tr], list[BotCommand]]


def sender_language(update: Update) -> str:
    user = update.effective_user
    return pick_language(user.language_code if user is not None else None)


async def language_gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Load the chat's language into ``chat_data`` the first time this process sees the chat."""
    chat = update.effective_chat
    data = context.chat_data
    if chat is None or data is None or LANG in data:
        return
    async with context.bot_data["state"].sessions() as session:
        stored = await subscriptions.get_chat(session, chat.id)
    chosen = stored.language if stored is not None else None
    data[LANG] = tr(chosen).language if chosen else sender_language(update)
    data[CHOSEN] = bool(chosen)


async def remember(session: AsyncSession, update: Update, context: Any, chat_id: int) -> Tr:
    """On /start: store the sender's language for a chat that has not chosen one (the chat's
    row exists). The chat's ``Tr``."""
    data = context.chat_data
    if data is not None and data.get(CHOSEN):
        return tr_of(context)
    chat = await subscriptions.get_chat(session, chat_id)
    language = chat.language if chat is not None and chat.language else sender_language(update)
    await subscriptions.update_settings(session, chat_id, language=language)
    if data is not None:
        data[LANG], data[CHOSEN] = language, True
    return tr(language)


ENGLISH_NAMES = {"english": "en", "russian": "ru", "azerbaijani": "az", "turkish": "tr"}


def parse_language(text: str) -> str | None:
    """A language the bot speaks from its code, its own name or its English name."""
    folded = text.strip().casefold()
    names = {n.casefold(): c for c, n in LANGUAGE_NAMES.items()} | ENGLISH_NAMES
    return folded if folded in LANGUAGES else names.get(folded)


def language_markup(current: str) -> InlineKeyboardMarkup:
    """One button per language, named in itself; the current one ticked."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    ("✅ " if code == current else "")
                    + f"{LANGUAGE_FLAGS[code]} {LANGUAGE_NAMES[code]}",
                    callback_data=f"lang:{code}",
                )
            ]
            for code in LANGUAGES
        ]
    )


def chosen_text(t: Tr) -> str:
    return t._("From now on I speak {language} in this chat.", language=LANGUAGE_NAMES[t.language])


async def language_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/language: the buttons; /language xx: set it now."""
    t = tr_of(context)
    wanted = " ".join(context.args or []).strip()
    message = update.effective_message
    if message is None:
        return
    if not wanted:
        await message.reply_text(
            t._("Choose the language I speak in this chat:"),
            reply_markup=language_markup(t.language),
        )
        return
    code = parse_language(wanted)
    if code is None:
        await message.reply_text(
            t._("I do not speak “{wanted}”. Choose one:", wanted=esc(wanted[:20])),
            reply_markup=language_markup(t.language),
        )
        return
    if not await may_change(update, context):
        return
    await message.reply_text(chosen_text(await set_language(update, context, code)))


async def on_language_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /language button: store the language and redraw the message in it."""
    query = update.callback_query
    assert query is not None
    code = (query.data or "").partition(":")[2]
    if code not in LANGUAGES:
        await query.answer(tr_of(context)._("This button has expired."))
        return
    if not await may_change(update, context):
        return
    t = await set_language(update, context, code)
    await query.answer(LANGUAGE_NAMES[code])
    with contextlib.suppress(TelegramError):  # "not modified" when tapped twice
        await query.edit_message_text(chosen_text(t), reply_markup=language_markup(code))


async def set_language(update: Update, context: ContextTypes.DEFAULT_TYPE, code: str) -> Tr:
    """Store ``code`` as the chat's language and give the chat its command menu in it."""
    chat = update.effective_chat
    assert chat is not None
    st = context.bot_data["state"]
    async with st.sessions.begin() as session:
        await subscriptions.ensure_chat(
            session, chat.id, type=chat.type, title=chat.title, now=st.clock()
        )
        await subscriptions.update_settings(session, chat.id, language=code)
    if context.chat_data is not None:
        context.chat_data[LANG], context.chat_data[CHOSEN] = code, True
    commands_for: CommandsFor | None = context.bot_data.get("commands_for")
    if commands_for is not None:
        with contextlib.suppress(TelegramError):  # the menu is a nicety; the choice is stored
            await context.bot.set_my_commands(
                commands_for(tr(code)), scope=BotCommandScopeChat(chat.id)
            )
    return tr(code)
