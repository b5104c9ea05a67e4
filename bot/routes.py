"""Which update goes to which handler: every command, button and fallback, in one table.

Group -2 loads the chat's language (``bot.language.language_gate``), group -1 is the rate
gate (``bot.gates.rate_gate``); then the commands by name, the buttons by
their callback-data patterns (``bot.buttons.PATTERNS``), answers for expired buttons, the
"not understood" reply in private chats, and the error handler.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import admin, broadcast, buttons, callbacks, explain, gates, language, views
from bot.commands import general, named, reading, settings, subscription, watchlist


def register(application: Application) -> None:
    """Every handler, in one place."""
    application.add_handler(TypeHandler(Update, language.language_gate), group=-2)
    application.add_handler(TypeHandler(Update, gates.rate_gate), group=-1)
    commands = {
        "start": subscription.start,
        "stop": subscription.stop,
        "help": general.help_command,
        "watch": watchlist.watch,
        "unwatch": watchlist.unwatch,
        "keywords": watchlist.keywords,
        "watchlist": watchlist.watchlist,
        "lists": named.lists,
        "use": named.use,
        "drop": named.drop,
        "export": named.export,
        "import": named.import_,
        "latest": reading.latest,
        "digest": reading.digest,
        "why": explain.why_command,
        "settings": settings.settings_command,
        "status": admin.status,
        "feeds": admin.feeds,
        "addfeed": admin.addfeed,
        "removefeed": admin.removefeed,
        "broadcast": broadcast.broadcast,
        "language": language.language_command,
    }
    for name, callback in commands.items():
        application.add_handler(CommandHandler(name, callback))
    application.add_handler(CallbackQueryHandler(reading.on_latest_code, pattern=r"^lt:[A-Z]{2}$"))
    views.register(application)
    application.add_handler(CallbackQueryHandler(watchlist.on_remove, pattern=r"^rm:\d+$"))
    application.add_handler(
        CallbackQueryHandler(language.on_language_button, pattern=language.PATTERN)
    )
    pattern = buttons.PATTERNS
    for name, callback in {
        "watch": watchlist.on_watch_button,
        "unwatch": callbacks.on_unwatch,
        "mute": callbacks.on_mute,
        "why": callbacks.on_why,
        "setting": callbacks.on_setting,
        "follow": callbacks.on_follow,
        "page": reading.on_page,
        "more": reading.on_more,
        "feeds": admin.on_feeds_page,
    }.items():
        application.add_handler(CallbackQueryHandler(callback, pattern=pattern[name]))
    application.add_handler(CallbackQueryHandler(general.on_unknown_button))
    application.add_handler(
        MessageHandler(filters.ChatType.PRIVATE & filters.TEXT, general.unknown_text)
    )
    application.add_error_handler(general.on_error)
