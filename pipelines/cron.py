"""Schedules as KFP takes them: its cron dialect (six fields, seconds first; descriptors;
``@every``), start and end times and concurrency, checked before KFP loads or any call to the
server, so a five-field Unix cron is refused at once with the right spelling."""

from __future__ import annotations

import datetime
import re

from vlaa.errors import UserError

CRON_EXAMPLE = "0 0 3 * * *"
MAX_CONCURRENCY_RANGE = (1, 10)  # the KFP API server refuses anything outside


class ScheduleError(UserError, ValueError):
    """A schedule setting KFP would refuse (cron, times, concurrency); the message says why."""


class CronError(ScheduleError):
    """The cron expression is not one KFP's scheduler accepts; the message says why."""


_CRON_FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 6),
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_FIELD_NAMES: dict[str, dict[str, int]] = {
    "month": {name: number for number, name in enumerate(_MONTHS, start=1)},
    "day of week": {
        name: number
        for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))
    },
}
_DESCRIPTORS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_EVERY = re.compile(r"@every (\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+")
_CRON_RULE = f"KFP cron has six fields, seconds first, e.g. {CRON_EXAMPLE!r}"


def _cron_value(text: str, field: str, low: int, high: int) -> int:
    names = _FIELD_NAMES.get(field, {})
    if text.upper() in names:
        return names[text.upper()]
    if not (text.isascii() and text.isdigit()):
        raise CronError(f"cron {field} field: {text!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"cron {field} field: {value} is outside {low}-{high}")
    return value


def _check_cron_field(text: str, field: str, low: int, high: int) -> None:
    for part in text.split(","):
        span, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            raise CronError(f"cron {field} field: step {step!r} must be a positive number")
        if span in ("*", "?"):
            continue
        start, dash, end = span.partition("-")
        first = _cron_value(start, field, low, high)
        if dash and first > _cron_value(end, field, low, high):
            raise CronError(f"cron {field} field: range {span!r} runs backwards")


def validate_cron(expression: str) -> str:
    """Return ``expression`` normalised, or raise ``CronError`` saying what is wrong.

    KFP's scheduler (robfig/cron) reads six fields, seconds first, and also accepts a five-field
    expression as seconds-minutes-hours-day-month, so a Unix crontab line silently runs at
    the wrong times; that is refused here.
    """
    text = " ".join(expression.split())
    if text.startswith("@"):
        if text in _DESCRIPTORS or _EVERY.fullmatch(text):
            return text
        raise CronError(
            f"unknown cron descriptor {text!r}: use one of {', '.join(sorted(_DESCRIPTORS))}, "
            f"'@every 6h', or six fields ({_CRON_RULE})"
        )
    fields = text.split(" ") if text else []
    if len(fields) != len(_CRON_FIELDS):
        # the message ends in a word: the CLI trims quotes at the ends of error lines
        hint = (
            f"; for that crontab line write {'0 ' + text!r} (seconds added first)"
            if len(fields) == 5
            else " (second minute hour day-of-month month day-of-week)"
        )
        raise CronError(f"cron {expression!r} has {len(fields)} fields: {_CRON_RULE}{hint}")
    for text_field, (field, low, high) in zip(fields, _CRON_FIELDS, strict=True):
        _check_cron_field(text_field, field, low, high)
    return text


def parse_time(value: str | None, option: str) -> datetime.datetime | None:
    """An ISO 8601 time (``2025-06-01T03:00:00Z``); one without a zone is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ScheduleError(
            f"{option} {value!r} is not an ISO 8601 time, e.g. 2025-06-01T03:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def check_schedule(
    cron: str,
    max_concurrency: int,
    start: datetime.datetime | None,
    end: datetime.datetime | None,
) -> str:
    """Everything about a schedule that can be checked before calling the server."""
    cron = validate_cron(cron)
    low, high = MAX_CONCURRENCY_RANGE
    if not low <= max_concurrency <= high:
        raise ScheduleError(
            f"max concurrency {max_concurrency} is outside {low}-{high} (KFP's limit)"
        )
    if start and end and end <= start:
        raise ScheduleError(f"the end time {end.isoformat()} is not after the start time")
    return cron
