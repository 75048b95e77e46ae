"""Study and plan text made inert in each output format.

Every string that comes from a study file or the review plan (titles,
sections, author names, labels, moderator levels, notes) passes through one
of these before it is written:

* :func:`md` for Markdown (results.md, heterogeneity.md): HTML's ``& < >``
  become entities, so no tag is ever rendered, and the characters that start
  Markdown markup (``\\ ` * _ | ~ $``, a ``]`` that could close a link, and
  the line-start markers ``- + = #`` and ``1.``) are backslash-escaped
  (CommonMark §2.4: any ASCII punctuation may be escaped); line breaks become
  spaces, so a value cannot open a block or break a table row.
* :func:`html` for HTML: ``html.escape`` with quotes.
* :func:`csv_cell` for CSV: a text cell starting with ``= + - @``, a tab or a
  carriage return is prefixed with a single quote, so spreadsheet programs
  show it as text instead of evaluating it (OWASP, "CSV Injection").
  Numbers are written by the caller and never pass through here.

Text drawn by matplotlib is never parsed as mathtext: plots are drawn under
``text.parse_math: False`` (see synthesis.plots).
"""

from __future__ import annotations

import html as _html
import re

# always escaped: code, emphasis, strike, table cells, math, HTML; "]" only where it could
# close a link or image ("](", "][", "]:"), so "0.52 [0.22, 1.21]" stays readable
_MD_SPECIAL = re.compile(r"([\\`*_|~$<>]|\](?=[(\[:]))")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def md(text: object) -> str:
    """``text`` as literal inline Markdown (safe in a table cell, heading or list item)."""
    s = _CONTROL.sub("", _LINE_BREAKS.sub(" ", str(text)))
    s = s.replace("&", "&amp;")
    s = _MD_SPECIAL.sub(lambda m: {"<": "&lt;", ">": "&gt;"}.get(m.group(1), "\\" + m.group(1)), s)
    # a value that starts a line must not become a list item, heading or setext underline
    if s[:1] in ("-", "+", "=", "#"):
        s = "\\" + s
    m = re.match(r"\d{1,9}(?=[.)](\s|$))", s)  # "1. " would start an ordered list
    if m:
        s = s[:m.end()] + "\\" + s[m.end():]
    return s


def html(text: object) -> str:
    """``text`` as literal HTML text or attribute value."""
    return _html.escape(str(text), quote=True)


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet will not evaluate (OWASP CSV injection guidance):
    text starting with = + - @ tab or CR gets a leading single quote. Non-strings pass."""
    if isinstance(value, str) and value.startswith(CSV_TRIGGERS):
        return "'" + value
    return value
