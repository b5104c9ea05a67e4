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
from bot.state import ensure_chat, reply, state
from monitors import subscriptions


def settings_text(chat: subscriptions.ChatSettings) -> str:
    mode = (
        "instant alerts"
        if chat.delivery_mode == "instant"
        else f"one daily digest at {chat.digest_time}"
    )
    quiet = (
        f"{chat.quiet_start} to {chat.quiet_end}" if chat.quiet_start and chat.quiet_end else "off"
    )
    scope = "defence cooperation only" if chat.scope == "cooperation" else "all stories"
    zone = timezones.zone_label(chat.timezone)
    return (
        f"<b>Settings</b>\nDelivery: {esc(mode)}\nTime zone: {esc(zone)}\n"
        f"Quiet hours: {esc(quiet)}\nScope: {scope}\n\n"
        "Change: /settings instant | digest 08:00 Asia/Baku | quiet 22:00-07:00 | "
        "quiet off | scope all | tz Asia/Baku"
    )


async def settings_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show or change delivery mode, digest time, time zone, quiet hours and scope."""
    try:
        change = parse_settings_args(context.args or [])
    except UsageError as exc:
        await reply(update, esc(str(exc)))
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
    text = ("Saved.\n" if change else "") + settings_text(chat)
    await reply(update, text, reply_markup=buttons.settings_markup(chat))
