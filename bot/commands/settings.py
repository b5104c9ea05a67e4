"""/settings: show or change delivery mode, digest time, time zone, quiet hours and scope."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import buttons, timezones
from bot.args import (
    UsageError,
    parse_settings_args,
)
from bot.formatting import esc
from bot.gates import may_change
from bot.i18n import ENGLISH, N_, Tr, say, tr_of
from bot.state import ensure_chat, reply, state
from monitors import subscriptions

SCOPES = {"cooperation": N_("defence cooperation only"), "all": N_("all stories")}


def settings_text(chat: subscriptions.ChatSettings, t: Tr = ENGLISH) -> str:
    mode = (
        t._("instant alerts")
        if chat.delivery_mode == "instant"
        else t._("one daily digest at {time}", time=chat.digest_time)
    )
    quiet = (
        t._("{start} to {end}", start=chat.quiet_start, end=chat.quiet_end)
        if chat.quiet_start and chat.quiet_end
        else t._("off")
    )
    return t._(
        "<b>Settings</b>\nDelivery: {mode}\nTime zone: {zone}\nQuiet hours: {quiet}\n"
        "Scope: {scope}\n\n"
        "Change: /settings instant | digest 08:00 Asia/Baku | quiet 22:00-07:00 | "
        "quiet off | scope all | tz Asia/Baku",
        mode=esc(mode),
        zone=esc(timezones.zone_label(chat.timezone)),
        quiet=esc(quiet),
        scope=t._(SCOPES.get(chat.scope, SCOPES["all"])),
    )


async def settings_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show or change delivery mode, digest time, time zone, quiet hours and scope."""
    t = tr_of(context)
    try:
        change = parse_settings_args(context.args or [])
    except UsageError as exc:
        await reply(update, esc(say(exc, t)))
        return
    if change and not await may_change(update, context):
        return
    st = state(context)
    async with st.sessions.begin() as session:
        chat_id = await ensure_chat(session, update, st)
        chat = (
            await subscriptions.update_settings(session, chat_id, **change)
            if change
            else await subscriptions.get_chat(session, chat_id)
        )
    assert chat is not None
    if change:
        st.reschedule_digest(chat)
    text = (t._("Saved.") + "\n" if change else "") + settings_text(chat, t)
    await reply(update, text, reply_markup=buttons.settings_markup(chat, t))
