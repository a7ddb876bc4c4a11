"""LaTeX macros: every number the paper quotes, written by the stage that computes it.

Each stage writes ``results/paper/macros/NN_stage.tex``, one line per quantity::

    \\newcommand{\\NParticipants}{1,000}

and the workflow's ``macros`` rule merges the stage files into ``results/paper/macros.tex``
(:func:`merge_macro_files`), which ``paper/main.tex`` inputs. Using ``\\newcommand`` (not
``\\def`` or ``\\providecommand``) makes LaTeX stop on a name that two stages, or a package, define.

Rules that keep the text honest and the files byte-stable:

* names are letters only and start with a capital (``\\PodcastShare``), because TeX command names
  cannot hold digits and lower-case names risk clobbering LaTeX internals;
* a plain ``str`` value is escaped (``50% of A_B`` -> ``50\\% of A\\_B``); a :class:`Latex` value is
  trusted LaTeX (what the ``format_*`` helpers return) and is only checked for balanced braces;
* an ``int`` is formatted with :func:`format_int`; a ``float`` is refused, because how many digits
  a number deserves is a decision: call :func:`format_float` or :func:`format_percent`;
* formatting is pure string formatting of the value (round-half-even of the binary value, as
  Python's ``format``), so the same numbers give the same bytes on every machine.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

__all__ = [
    "Latex",
    "MacroValue",
    "format_date",
    "format_float",
    "format_int",
    "format_percent",
    "latex_escape",
    "merge_macro_files",
    "parse_macros",
    "render_macros",
    "to_latex_value",
    "validate_name",
    "write_macros",
]

NAME_RE = re.compile(r"[A-Z][A-Za-z]*\Z")
MACRO_LINE_RE = re.compile(r"\\newcommand\{\\([A-Za-z]+)\}\{(.*)\}\s*\Z")

_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
_ESCAPE_RE = re.compile("|".join(re.escape(c) for c in _ESCAPES))
_MINUS = r"\ensuremath{-}"


class Latex(str):
    """A string that is already valid LaTeX, written without escaping."""

    __slots__ = ()


MacroValue = Latex | str | int | np.integer | dt.date


def latex_escape(text: str) -> Latex:
    """Escape the characters special in LaTeX text mode: ``& % $ # _ { } ~ ^ \\ < > |``."""
    if not isinstance(text, str):
        raise TypeError(f"latex_escape needs a str, got {type(text).__name__}")
    return Latex(_ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], text))


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid macro name (``[A-Z][A-Za-z]*``), else raise ValueError."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValueError(
            f"invalid LaTeX macro name {name!r}: use letters only, starting with a capital "
            "(CamelCase such as NParticipants; spell digits out, e.g. SeventyDays)"
        )
    return name


def _check_finite(value: float, what: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot format {value!r} as {what}: the paper must not quote NaN/inf")
    return value


def _signed(text: str, negative: bool, sign: bool) -> Latex:
    if negative:
        return Latex(_MINUS + text)
    return Latex(("+" if sign else "") + text)


def format_int(value: int | np.integer, *, sign: bool = False) -> Latex:
    """An integer with a comma every three digits: ``1234567`` -> ``1,234,567``.

    ``sign=True`` prefixes ``+`` to positive values; negative values get a typeset minus.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"format_int needs an integer, got {value!r}")
    value = int(value)
    return _signed(f"{abs(value):,d}", value < 0, sign and value > 0)


def format_float(value: float, digits: int, *, sign: bool = False) -> Latex:
    """``value`` with exactly ``digits`` decimals (thousands separated by commas).

    Negative zero after rounding is written as zero; ``sign=True`` prefixes ``+`` to positive
    values. NaN and infinity raise ValueError.
    """
    if digits < 0:
        raise ValueError(f"digits must be >= 0, got {digits}")
    value = _check_finite(value, "a number")
    text = f"{abs(value):,.{digits}f}"
    is_zero = float(text.replace(",", "")) == 0.0
    return _signed(text, value < 0 and not is_zero, sign and value > 0 and not is_zero)


def format_percent(share: float, digits: int = 1, *, sign: bool = False) -> Latex:
    """A share in [0, 1] (or a difference of shares) as a percentage: ``0.1234`` -> ``12.3\\%``."""
    share = _check_finite(share, "a percentage")
    return Latex(format_float(100.0 * share, digits, sign=sign) + r"\%")


def format_date(value: dt.date | np.datetime64 | str) -> Latex:
    """A calendar date in ISO 8601 (``2026-01-05``); a datetime is reduced to its date."""
    if isinstance(value, np.datetime64):
        value = value.astype("datetime64[D]").item()
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        raise TypeError(f"format_date needs a date, got {value!r}")
    return Latex(value.isoformat())


def _braces_balanced(text: str) -> bool:
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2  # an escaped character (\{, \}, \\) does not count
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0


def to_latex_value(value: MacroValue) -> str:
    """The LaTeX text of one macro value (see the module docstring for the rules per type)."""
    if isinstance(value, Latex):
        text = str(value)
        if not _braces_balanced(text):
            raise ValueError(f"LaTeX value {text!r} has unbalanced braces")
    elif isinstance(value, bool | np.bool_):
        raise TypeError("a bool is not a macro value: write the word you mean as a str")
    elif isinstance(value, numbers.Integral):
        text = format_int(value)
    elif isinstance(value, numbers.Real):
        raise TypeError(
            f"float {value!r} needs an explicit format: use format_float(x, digits) or "
            "format_percent(share, digits)"
        )
    elif isinstance(value, dt.date | np.datetime64):
        text = format_date(value)
    elif isinstance(value, str):
        text = latex_escape(value)
    else:
        raise TypeError(f"unsupported macro value type {type(value).__name__}: {value!r}")
    if "\n" in text or "\r" in text:
        raise ValueError(f"macro value {text!r} must fit on one line")
    return text


def render_macros(macros: Mapping[str, MacroValue], *, source: str | None = None) -> str:
    """The text of a macro file: a header comment, then one ``\\newcommand`` line per entry.

    Lines keep the mapping's order (the order the stage computed them in), so the bytes depend
    only on the values.
    """
    lines = ["% Generated by prefcal; do not edit (rerun the workflow instead)."]
    if source:
        lines.append(f"% Source: {source}")
    for name, value in macros.items():
        validate_name(name)
        try:
            text = to_latex_value(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"macro \\{name}: {exc}") from None
        lines.append(f"\\newcommand{{\\{name}}}{{{text}}}")
    return "\n".join(lines) + "\n"


def write_macros(
    path: str | Path, macros: Mapping[str, MacroValue], *, source: str | None = None
) -> Path:
    """Write :func:`render_macros` to ``path`` (parents created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_macros(macros, source=source), encoding="utf-8", newline="\n")
    return path


def parse_macros(text: str, *, where: str = "<text>") -> dict[str, str]:
    """Read a macro file back: ``{name: LaTeX value}``. Comment and blank lines are skipped.

    Raises ValueError naming ``where`` and the line number for a line that is not one
    ``\\newcommand{\\Name}{value}`` or that repeats a name.
    """
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("%"):
            continue
        match = MACRO_LINE_RE.match(stripped)
        if not match:
            raise ValueError(f"{where}:{number}: not a \\newcommand{{\\Name}}{{value}} line")
        name, value = match.groups()
        validate_name(name)
        if name in out:
            raise ValueError(f"{where}:{number}: macro \\{name} is defined twice")
        out[name] = value
    return out


def merge_macro_files(paths: Iterable[str | Path], out: str | Path) -> Path:
    """Concatenate the stages' macro files into ``out``, refusing a name defined twice.

    The error names both files that define the name, so the stage to fix is obvious.
    """
    paths = [Path(p) for p in paths]
    seen: dict[str, Path] = {}
    lines = ["% Generated by prefcal (rule macros): all stages' macros; do not edit."]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"macro file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        for name in parse_macros(text, where=str(path)):
            if name in seen:
                raise ValueError(f"macro \\{name} is defined in both {seen[name]} and {path}")
            seen[name] = path
        lines.append(f"% ---- {path.as_posix()}")
        lines.extend(
            line for line in text.splitlines() if line.strip() and not line.startswith("%")
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")
    return out
