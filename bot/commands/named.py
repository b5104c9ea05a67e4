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
from bot.formatting import esc
from bot.gates import given_and_allowed, may_change, whose_update
from bot.replies import (
    NOT_SUBSCRIBED,
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
)
from monitors import subscriptions
from monitors.watchlists import Watchlist


async def lists(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The named watchlists of the operator's file, and which ones this chat follows."""
    st = state(context)
    async with st.sessions() as session:
        followed = await subscriptions.followed_lists(session, chat_of(update)[0])
    text, markup = lists_view(st, followed)
    await reply(update, text, reply_markup=markup)


def lists_view(st: BotState, followed: Sequence[str]) -> tuple[str, InlineKeyboardMarkup | None]:
    """/lists: the named watchlists, with a Follow or Stop following button for each."""
    known = named_lists(st)
    rows = [
        (w.name, w.description, sorted(w.countries), sorted(w.keywords)) for w in known.values()
    ]
    return formatting.watchlists_text(rows, followed), buttons.lists_markup(known, followed)


async def use(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/use NAME: follow a named watchlist (its later edits in the file apply)."""
    st = state(context)
    known = named_lists(st)
    name = " ".join(context.args or []).strip().lower()
    if not name:
        await reply(update, "Usage: /use caucasus — /lists shows the names.")
        return
    if name not in known:
        close = suggest_names(name, sorted(known))
        hint = f" Did you mean {', '.join(esc(c) for c in close)}?" if close else " See /lists."
        await reply(update, f"No named watchlist “{esc(formatting.clip(name, 60))}”.{hint}")
        return
    if not await may_change(update, context):
        return
    result, active = await add_to_watchlist(
        update,
        st,
        lambda session, chat, most: subscriptions.follow_list(session, chat, name, limit=most),
    )
    lines = added_lines(result, st.settings.max_watch_items)
    lines = [line.replace("Now watching", "Now following") for line in lines]
    if not active:
        lines.append(NOT_SUBSCRIBED)
    await reply(update, "\n".join(lines))


async def drop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/drop NAME: stop following a named watchlist."""
    name = " ".join(context.args or []).strip().lower()
    if not await given_and_allowed(update, context, name, "Usage: /drop caucasus"):
        return
    st = state(context)
    async with st.sessions.begin() as session:
        dropped = await subscriptions.unfollow_list(session, chat_of(update)[0], name)
    shown = esc(formatting.clip(name, 60))
    await reply_whether(
        update, dropped, f"No longer following {shown}.", f"This chat does not follow {shown}."
    )


async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export: this chat's own watchlist as a TOML document."""
    st = state(context)
    chat_id = chat_of(update)[0]
    async with st.sessions() as session:
        rules = await subscriptions.list_rules(session, chat_id)
        chat = await subscriptions.get_chat(session, chat_id)
        followed = await subscriptions.followed_lists(session, chat_id)
    if not any(r.kind in ("country", "keyword") for r in rules):
        await reply(
            update,
            f"{whose_update(update, capital=True)} watchlist is empty: nothing to export. "
            "/watch azerbaijan first.",
        )
        return
    text = export_document(chat_id, rules, chat.scope if chat else "cooperation", followed)
    message = update.effective_message
    assert message is not None
    await message.reply_document(
        document=text.encode("utf-8"),
        filename=EXPORT_FILENAME,
        caption="This chat's watchlist. Reply to this file with /import in another chat.",
    )


async def import_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/import as a reply to a watchlist document: add its items here and take its scope."""
    message = update.effective_message
    original = message.reply_to_message if message is not None else None
    document = original.document if original is not None else None
    if document is None:
        await reply(update, f"Reply to a {EXPORT_FILENAME} document with /import.")
        return
    if not await may_change(update, context):
        return
    st = state(context)
    source = document.file_name or EXPORT_FILENAME
    try:
        if (document.file_size or 0) > MAX_IMPORT_BYTES:
            raise UsageError(f"{source} is larger than {MAX_IMPORT_BYTES // 1024} KB")
        data = bytes(await (await document.get_file()).download_as_bytearray())
        watchlist_, text = parse_import(data, source, ResolverAdapter(st.resolve))
    except UsageError as exc:
        await reply(update, f"Not imported: {esc(str(exc))}")
        return
    lines = await merge_import(update, st, watchlist_, text)
    await reply(update, "\n".join(lines))


async def merge_import(update: Update, st: BotState, imported: Watchlist, text: str) -> list[str]:
    """Add the imported countries, keywords and excludes (within the limit); set the scope."""
    limit = st.settings.max_watch_items
    lines: list[str] = []
    async with st.sessions.begin() as session:
        chat_id = await ensure_chat(session, update, st)
        countries = [(c, st.gazetteer.name(c)) for c in sorted(imported.countries)]
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
                found = added_lines(result, limit)
                if kind == "exclude":
                    found = [line.replace("Now watching", "Now excluding") for line in found]
                lines += found
        lines += await follow_imported(session, st, chat_id, followed_in_export(text))
        await subscriptions.update_settings(session, chat_id, scope=imported.scope)
    scope = "defence cooperation only" if imported.scope == "cooperation" else "all stories"
    lines.append(f"Scope: {scope}.")
    if imported.chat_targets or imported.channel_targets:
        lines.append("Targets in the file were ignored: only the operator's file sets them.")
    return lines


async def follow_imported(
    session: AsyncSession, st: BotState, chat_id: int, names: Sequence[str]
) -> list[str]:
    """Follow the named lists an imported export followed, those this bot knows."""
    known = [n for n in names if n in named_lists(st)]
    lines = []
    for name in known:
        result = await subscriptions.follow_list(
            session, chat_id, name, limit=st.settings.max_watch_items
        )
        lines += [
            line.replace("Now watching", "Now following").replace(
                "Already watched", "Already following"
            )
            for line in added_lines(result, st.settings.max_watch_items)
        ]
    unknown = [n for n in names if n not in known]
    if unknown:
        lines.append("Named lists not available here, so not followed: " + listed(unknown) + ".")
    return lines
