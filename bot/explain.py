"""``/why``: the classifier's raw evidence for an alert, sent as a reply to that alert.

Alerts say why in a reader's words (``bot.why``); this is the detail behind them, as stored.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import formatting, why
from bot.formatting import esc
from bot.i18n import ENGLISH, N_, Tr, tr_of
from bot.state import chat_of, reply, state
from monitors import outbox, store
from monitors.domain import StoryView

MAX_STORIES = 5  # a digest reply shows the evidence of its first few stories
USAGE = N_("Reply /why to an alert to see the evidence behind it.")


def evidence_text(stories: list[StoryView], t: Tr = ENGLISH) -> str:
    """Each story's title, score and type, then its evidence items, within one message. The
    evidence items are the classifier's own notation and stay as stored."""
    lines: list[str] = []
    for story in stories[:MAX_STORIES]:
        label = formatting.COOPERATION_LABELS.get(story.cooperation_type or "")
        kind = t._(label) if label else t._("not cooperation")
        said = [t._(r) for r in why.reasons(story.cooperation_type, story.evidence)]
        score = t._("score {score}", score=format(story.score, ".2f"))
        lines.append(
            f"<b>{esc(formatting.clip(story.title, 200))}</b>\n"
            f"{score} · {esc(kind)} · " + (esc("; ".join(said)) or "—")
        )
        lines += [
            f"• {esc(formatting.clip(item, formatting.EVIDENCE_CHARS))}"
            for item in why.raw_lines(story.evidence)
        ] or ["• " + t._("(no evidence stored)")]
    if len(stories) > MAX_STORIES:
        more = len(stories) - MAX_STORIES
        lines.append(
            t._n(
                "… and {count} more story in that message",
                "… and {count} more stories in that message",
                more,
            )
        )
    return formatting.fit_lines(lines)


async def why_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/why as a reply to an alert (or digest): the evidence of its stories."""
    t = tr_of(context)
    message = update.effective_message
    original = message.reply_to_message if message is not None else None
    if original is None:
        await reply(update, t._(USAGE))
        return
    st = state(context)
    async with st.sessions() as session:
        ids = await outbox.stories_of_message(session, chat_of(update)[0], original.message_id)
        stories = await store.story_views(session, ids)
    if not stories:
        await reply(update, t._("That message is not one of my alerts.") + " " + t._(USAGE))
        return
    await reply(update, evidence_text(stories, t))
