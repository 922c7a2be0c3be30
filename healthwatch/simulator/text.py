"""Ticket subjects and bodies and NPS comments, written in the tone the account is in.

Downstream scores these with VADER, so frustrated and angry wording must read negative and
neutral or positive wording must not. A few templates carry markup-looking characters
(`<b>`, `&`, quotes) on purpose: whatever renders them must escape them.
"""

import numpy as np

POSITIVE, NEUTRAL, FRUSTRATED, ANGRY = 0, 1, 2, 3
TONES = ("positive", "neutral", "frustrated", "angry")

_TICKETS: tuple[tuple[tuple[str, str], ...], ...] = (
    (  # positive
        ("Thanks for the quick help with {feature}", "Just wanted to say thanks, the fix for {feature} works perfectly and the {team} team is really happy with it."),
        ("Loving the new {feature} view", "The new {feature} layout is great. Could we also get an option to share it with our {team} team? That would be a nice improvement."),
        ("Kudos to your support team", "Everything is running smoothly now. We appreciate the fast and friendly answer, great work!"),
        ("Feature idea for {feature}", "We love how easy {feature} has become. Would it be possible to schedule it weekly? It would help our {team} team a lot."),
        ("Great onboarding session", "Thanks again for the excellent training session, the {team} team is already using {feature} every day and loves it."),
        ("Adding {count} more seats", "Our {team} team is growing and everyone enjoys the product. Could you help us add {count} more seats? Thanks!"),
    ),
    (  # neutral
        ("How do I export {feature} data to CSV?", "Could you tell us how to export the {feature} data to CSV? We need it for our monthly review."),
        ("Question about SSO setup", "We are setting up SSO with our identity provider. Which attributes should we map for the user email and role?"),
        ("Invoice copy for {month}", "Please send a copy of the invoice for {month} to our finance team."),
        ("Change of workspace admin", "Our admin is changing next week. How do we transfer ownership of the workspace to a colleague?"),
        ("API rate limits for {feature}", "What are the API rate limits for the {feature} endpoints? We plan to sync data every hour."),
        ("Custom date ranges in {feature}", "Can you confirm whether {feature} supports custom date ranges? We want to compare quarters."),
        ("Where is the audit log?", "Where can we find the audit log for user changes? Our {team} team asked for it."),
    ),
    (  # frustrated
        ("The {feature} page is very slow again", "The {feature} page has been really slow for {duration} and our team is frustrated and annoyed. Pages take forever to load. Can someone look into this?"),
        ("Still waiting for a reply about {feature}", "I opened a ticket about {feature} {duration} ago and still have no answer. This is frustrating and we need it fixed soon."),
        ("Export keeps failing", "The export keeps failing with {error}. We tried three times today and wasted a lot of time. Not happy about this."),
        ("Sync errors in {feature} since {weekday}", "We keep getting sync errors in {feature} since {weekday}. It is annoying and our numbers are wrong, which causes problems with the {team} team."),
        ("Confusing invoice", "The last invoice is confusing and higher than expected. Nobody explained the change, which is disappointing."),
        ("Bug in {feature} is back", "The bug in {feature} we reported last month is back. Poor quality, and our users complain about it every day."),
    ),
    (  # angry
        ("URGENT: {feature} broken for {duration}", "This is unacceptable. The {feature} module has been broken for {duration} and nobody answers our tickets. Our team cannot work."),
        ("Unacceptable downtime", "Third outage this month. We are losing money and patience. If this is not fixed immediately we will cancel."),
        ("Considering cancelling our subscription", "We are very disappointed and angry. We pay for premium support and get ignored. We are evaluating alternatives."),
        ("Data lost in {feature}!!", "We lost data in {feature} and support has been useless. This is a terrible experience and a serious problem for us."),
        ("Terrible support experience", "Honestly the worst service we have had from a vendor. Nothing works, errors everywhere, and we are furious."),
        ("Escalation: {feature} failing with {error}", "The {feature} module fails with {error} for {duration}. This is a disaster for our {team} team and completely unacceptable."),
    ),
)  # fmt: skip

# Markup-looking characters in customer text, one per tone; rare on purpose.
_MARKUP_TICKETS: tuple[tuple[str, str], ...] = (
    ("Thanks & kudos for \"{feature}\"", "Our R&D team loves the new \"<b>{feature}</b>\" view. Great work & thanks!"),
    ("Question about R&D access to \"{feature}\"", "Can our R&D team get read-only access to \"{feature}\"? Thanks & regards."),
    ("Widget shows <b>{feature}</b> as raw HTML", "The \"<b>{feature}</b>\" widget shows raw HTML & breaks our layout. It is annoying and frustrating, please fix it."),
    ("Broken: <script> tag in {feature} export", "The {feature} export contains '<script>' and \"&amp;\" in cells. This is broken and unacceptable."),
)  # fmt: skip

_OPENERS = (
    ("Hi team,\n\n", "Hello!\n\n", "Hi,\n\n", ""),
    ("Hi,\n\n", "Hello,\n\n", "Hi team,\n\n", ""),
    ("Hi,\n\n", "", "Hello,\n\n"),
    ("", "", "To whom it may concern,\n\n"),
)
_CLOSERS = (
    ("\n\nThanks!", "\n\nBest regards", "\n\nCheers!"),
    ("\n\nThanks.", "\n\nRegards", ""),
    ("\n\nPlease advise.", "\n\nThanks.", ""),
    ("\n\nFix this now.", "\n\nWe expect an answer today.", ""),
)

_NPS_COMMENTS: tuple[tuple[str, ...], ...] = (
    (
        "Great product, the team loves {feature}.",
        "Support is fast and helpful. Highly recommend.",
        "Easy to use and reliable. {feature} saves us hours every week.",
        "Excellent tool, our {team} team could not work without it.",
    ),
    (
        "Does the job. Some features could be better.",
        "Good overall, {feature} could be faster.",
        "Fine for our needs.",
        "Solid product, pricing is a bit high.",
    ),
    (
        "Too many bugs lately and slow answers. Disappointing.",
        "The product got worse this year, {feature} is frustrating to use.",
        "Disappointed with the recent changes to {feature}.",
        "Hard to use and the reports are often wrong.",
    ),
    (
        "Terrible experience, constant outages. We are looking at alternatives.",
        "Awful support, nobody answers. Not worth the money.",
        "Broken features and no help. Very disappointed and we plan to leave.",
        "The {feature} module is useless and support ignores us. Horrible.",
    ),
)

_DURATIONS = ("two days", "three days", "a week", "over a week", "two weeks", "since Monday")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")  # fmt: skip
_TEAMS = ("sales", "finance", "operations", "marketing", "support", "engineering")
_ERRORS = ("a 500 error", "a timeout", "an 'access denied' error", "error code E-4012")
_COUNTS = ("5", "10", "15", "20")


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _pick(options: tuple[str, ...], u: float) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


def _words(draws: np.ndarray, features: list[str]) -> list[dict[str, str]]:
    """Per row of draws, the words a template is filled with (`_pick` of each, for all rows at once)."""
    columns = {
        "feature": _picks(tuple(features), draws[:, 0]),
        "duration": _picks(_DURATIONS, draws[:, 1]),
        "weekday": _picks(_WEEKDAYS, draws[:, 2]),
        "month": _picks(_MONTHS, draws[:, 2]),
        "team": _picks(_TEAMS, draws[:, 3]),
        "error": _picks(_ERRORS, draws[:, 4]),
        "count": _picks(_COUNTS, draws[:, 4]),
    }
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _picks(options: tuple[str, ...], u: np.ndarray) -> list[str]:
    """`_pick` for each draw in `u`."""
    index = np.minimum((u * len(options)).astype(np.int64), len(options) - 1)
    return np.array(options, dtype=object)[index].tolist()


def ticket_texts(
    rng: np.random.Generator, tones: np.ndarray, features: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Subject and body for each ticket of the given tones (one text per ticket, per-ticket loop)."""
    draws = rng.random((len(tones), 9))
    words = _words(draws, features)
    subjects = np.empty(len(tones), dtype=object)
    bodies = np.empty(len(tones), dtype=object)
    for i, (tone, u) in enumerate(zip(tones.tolist(), draws.tolist(), strict=True)):
        if u[5] < 0.03:
            subject, body = _MARKUP_TICKETS[tone]
        else:
            options = _TICKETS[tone]
            subject, body = options[min(int(u[6] * len(options)), len(options) - 1)]
        subjects[i] = _capitalize(subject.format_map(words[i]))
        body = _pick(_OPENERS[tone], u[7]) + body + _pick(_CLOSERS[tone], u[8])
        bodies[i] = body.format_map(words[i])
    return subjects, bodies


def nps_comments(rng: np.random.Generator, tones: np.ndarray, features: list[str]) -> np.ndarray:
    """One comment per response, in its tone."""
    draws = rng.random((len(tones), 6))
    words = _words(draws, features)
    out = np.empty(len(tones), dtype=object)
    for i, (tone, u) in enumerate(zip(tones.tolist(), draws[:, 5].tolist(), strict=True)):
        out[i] = _pick(_NPS_COMMENTS[tone], u).format_map(words[i])
    return out


def nps_tone(scores: np.ndarray) -> np.ndarray:
    """Promoters write positively, passives neutrally, detractors negatively."""
    return np.select([scores >= 9, scores >= 7, scores >= 5], [POSITIVE, NEUTRAL, FRUSTRATED], ANGRY)
