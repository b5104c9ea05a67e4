"""The chat commands and their buttons, one module per feature; each handler 5-30 lines.

* ``subscription``  /start, /stop
* ``watchlist``     a chat's own watchlist: /watch, /unwatch, /keywords, /watchlist, its buttons
* ``named``         named watchlists (/lists, /use, /drop) and /export, /import
* ``reading``       /latest with its paging buttons, /digest
* ``settings``      /settings
* ``general``       /help, the command menu, fallbacks (text not understood, expired buttons,
                    errors)

Shared pieces: ``bot.state`` (BotState, reply, edit), ``bot.args`` (pure argument parsing),
``bot.replies`` (reply lines), ``bot.gates`` (who may change a chat, the rate gate). The
operators' commands and /status are ``bot.admin``, the pictures ``bot.views``, /why
``bot.explain``, the other button callbacks ``bot.callbacks``; ``bot.routes`` registers all.
"""
