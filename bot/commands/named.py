"""Named watchlists of the operator's file (/lists, /use, /drop) and moving a chat's own
watchlist between chats (/export, /import; the file format is ``bot.watchfile``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot import buttons, formatting
from bot.args import (
    UsageError,
    suggest_names,
)
from bot.commands.settings import SCOPES
from bot.formatting import esc
from bot.gates import given_and_allowed, may_change, watchlist_of
from bot.i18n import ENGLISH, Tr, say, tr_of
from bot.replies import (
    EXCLUDING,
    FOLLOWING,
    NOT_SUBSCRIBED,
    WATCHING,
    added_lines,
    listed,
)
from bot.state import (
    BotState,
    add_to_watchlist,
    chat_of,
    ensure_chat,
    named_lists,
    reply,
    reply_whether,
    state,
)
from bot.watchfile import (
    EXPORT_FILENAME,
    MAX_IMPORT_BYTES,
    ResolverAdapter,
    export_document,
    followed_in_export,
    imported_displays,
    parse_import,
    too_large,
)
from monitors import subscriptions
from monitors.watchlists import Watchlist


async def lists(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The named watchlists of the operator's file, and which ones this chat follows."""
    st = state(context)
    async with st.sessions() as session:
        followed = await subscriptions.followed_lists(session, chat_of(update)[0])
    text, markup = lists_view(st, followed, tr_of(context))
    await reply(update, text, reply_markup=markup)


def lists_view(
    st: BotState, followed: Sequence[str], t: Tr = ENGLISH
) -> tuple[str, InlineKeyboardMarkup | None]:
    """/lists: the named watchlists, with a Follow or Stop following button for each."""
    known = named_lists(st)
    rows = [
        (w.name, w.description, sorted(w.countries), sorted(w.keywords)) for w in known.values()
    ]
    return formatting.watchlists_text(rows, followed, t), buttons.lists_markup(known, followed, t)


async def use(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/use NAME: follow a named watchlist (its later edits in the file apply)."""
    st = state(context)
    t = tr_of(context)
    known = named_lists(st)
    name = " ".join(context.args or []).strip().lower()
    if not name:
        await reply(update, t._("Usage: /use caucasus — /lists shows the names."))
        return
    if name not in known:
        close = suggest_names(name, sorted(known))
        hint = (
            t._("Did you mean {suggestions}?", suggestions=t.alternatives([esc(c) for c in close]))
            if close
            else t._("See /lists.")
        )
        missing = t._("No named watchlist “{name}”.", name=esc(formatting.clip(name, 60)))
        await reply(update, f"{missing} {hint}")
        return
    if not await may_change(update, context):
        return
    result, active = await add_to_watchlist(
        update,
        st,
        lambda session, chat, most: subscriptions.follow_list(session, chat, name, limit=most),
    )
    lines = added_lines(result, st.settings.max_watch_items, t, FOLLOWING)
    if not active:
        lines.append(t._(NOT_SUBSCRIBED))
    await reply(update, "\n".join(lines))


async def drop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/drop NAME: stop following a named watchlist."""
    t = tr_of(context)
    name = " ".join(context.args or []).strip().lower()
    if not await given_and_allowed(update, context, name, t._("Usage: /drop caucasus")):
        return
    st = state(context)
    async with st.sessions.begin() as session:
        dropped = await subscriptions.unfollow_list(session, chat_of(update)[0], name)
    shown = esc(formatting.clip(name, 60))
    await reply_whether(
        update,
        dropped,
        t._("No longer following {name}.", name=shown),
        t._("This chat does not follow {name}.", name=shown),
    )


async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export: this chat's own watchlist as a TOML document."""
    st = state(context)
    chat_id = chat_of(update)[0]
    async with st.sessions() as session:
        rules = await subscriptions.list_rules(session, chat_id)
        chat = await subscriptions.get_chat(session, chat_id)
        followed = await subscriptions.followed_lists(session, chat_id)
    t = tr_of(context)
    if not any(r.kind in ("country", "keyword") for r in rules):
        await reply(
            update,
            t._(
                "{watchlist} is empty: nothing to export. /watch azerbaijan first.",
                watchlist=watchlist_of(update, t, capital=True),
            ),
        )
        return
    text = export_document(chat_id, rules, chat.scope if chat else "cooperation", followed)
    message = update.effective_message
    assert message is not None
    await message.reply_document(
        document=text.encode("utf-8"),
        filename=EXPORT_FILENAME,
        caption=t._("This chat's watchlist. Reply to this file with /import in another chat."),
    )


async def import_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/import as a reply to a watchlist document: add its items here and take its scope."""
    message = update.effective_message
    original = message.reply_to_message if message is not None else None
    document = original.document if original is not None else None
    t = tr_of(context)
    if document is None:
        await reply(
            update, t._("Reply to a {filename} document with /import.", filename=EXPORT_FILENAME)
        )
        return
    if not await may_change(update, context):
        return
    st = state(context)
    source = document.file_name or EXPORT_FILENAME
    try:
        if (document.file_size or 0) > MAX_IMPORT_BYTES:
            raise UsageError(too_large(source))
        data = bytes(await (await document.get_file()).download_as_bytearray())
        watchlist_, text = parse_import(data, source, ResolverAdapter(st.resolve))
    except UsageError as exc:
        await reply(update, t._("Not imported: {problem}", problem=esc(say(exc, t))))
        return
    lines = await merge_import(update, st, watchlist_, text, t)
    await reply(update, "\n".join(lines))


async def merge_import(
    update: Update, st: BotState, imported: Watchlist, text: str, t: Tr = ENGLISH
) -> list[str]:
    """Add the imported countries, keywords and excludes (within the limit); set the scope."""
    limit = st.settings.max_watch_items
    lines: list[str] = []
    async with st.sessions.begin() as session:
        chat_id = await ensure_chat(session, update, st)
        countries = [(c, formatting.country_name(c, t)) for c in sorted(imported.countries)]
        batches: list[tuple[subscriptions.RuleKind, list[tuple[str, str]]]] = [
            ("country", countries)
        ]
        for kind, key, values in (
            ("keyword", "keywords", imported.keywords),
            ("exclude", "exclude", imported.excludes),
        ):
            shown = imported_displays(text, imported.name, key)
            batches.append((kind, [(v, shown.get(v, v)[:100]) for v in sorted(values)]))  # type: ignore[arg-type]
        for kind, items in batches:
            if items:
                result = await subscriptions.add_rules(session, chat_id, kind, items, limit=limit)
                said = EXCLUDING if kind == "exclude" else WATCHING
                lines += added_lines(result, limit, t, said)
        lines += await follow_imported(session, st, chat_id, followed_in_export(text), t)
        await subscriptions.update_settings(session, chat_id, scope=imported.scope)
    lines.append(t._("Scope: {scope}.", scope=t._(SCOPES.get(imported.scope, SCOPES["all"]))))
    if imported.chat_targets or imported.channel_targets:
        lines.append(t._("Targets in the file were ignored: only the operator's file sets them."))
    return lines


async def follow_imported(
    session: AsyncSession, st: BotState, chat_id: int, names: Sequence[str], t: Tr = ENGLISH
) -> list[str]:
    """Follow the named lists an imported export followed, those this bot knows."""
    known = [n for n in names if n in named_lists(st)]
    lines = []
    for name in known:
        result = await subscriptions.follow_list(
            session, chat_id, name, limit=st.settings.max_watch_items
        )
        lines += added_lines(result, st.settings.max_watch_items, t, FOLLOWING)
    unknown = [n for n in names if n not in known]
    if unknown:
        lines.append(
            t._(
                "Named lists not available here, so not followed: {names}.",
                names=listed(unknown, t=t),
            )
        )
    return lines
