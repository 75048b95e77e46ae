"""Source documents as text, page by page, and the normalisation used to match quotes.

A text source (.txt, .md) is one page. A PDF is read with pymupdf, one string
per page, so a quote can be checked against the page the extraction names.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from synthesis.errors import EXIT_USAGE, CarsynthError

# Dash-like characters that papers and PDF converters use interchangeably
# with a hyphen-minus; the comparison treats them all as "-".
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
# a soft hyphen is invisible: it marks where a word may break, so it is dropped
# (with the line break that may follow it)
_SOFT_HYPHEN = re.compile("\u00ad" r"[ \t]*(?:\r?\n\s*)?")
_DASH_TABLE = str.maketrans({c: "-" for c in _DASHES})
# A hyphen at a line end followed by a lower-case letter: either a word split
# by hyphenation ("treat-\nment") or a real hyphen ("CAR-\nT"); both readings
# are tried when a quote is looked up.
_LINE_HYPHEN = re.compile(r"(\w)-[ \t]*\r?\n\s*(\w)")
_SPACES = re.compile(r"\s+")


class SourceError(CarsynthError):
    """A source document that cannot be read (corrupt, encrypted, empty)."""

    exit_code = EXIT_USAGE


def normalise(text: str) -> str:
    """Canonical form for quote matching.

    NFKC folds ligatures (U+FB01 'fi' -> 'fi') and compatibility forms; dash
    and minus variants become '-'; runs of white space become one space.
    """
    text = _SOFT_HYPHEN.sub("", text)
    text = unicodedata.normalize("NFKC", text).translate(_DASH_TABLE)
    return _SPACES.sub(" ", text).strip()


def _variants(page: str) -> tuple[str, str]:
    folded = unicodedata.normalize("NFKC", _SOFT_HYPHEN.sub("", page)).translate(_DASH_TABLE)
    joined = _LINE_HYPHEN.sub(r"\1\2", folded)
    kept = _LINE_HYPHEN.sub(r"\1-\2", folded)
    return (_SPACES.sub(" ", joined).strip(), _SPACES.sub(" ", kept).strip())


@dataclass(frozen=True)
class Document:
    """A source document's text, one normalised string per page (both hyphen readings)."""

    path: Path
    sha256: str
    kind: str
    pages: tuple[str, ...]
    normalised: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...] = ()  # e.g. a damaged PDF that pymupdf repaired while reading it

    def find(self, quote: str) -> list[int]:
        """1-based pages on which the quote occurs (a quote may run onto the next page)."""
        q = normalise(quote)
        hits = []
        for i, variants in enumerate(self.normalised):
            if any(q in v for v in variants):
                hits.append(i + 1)
            elif i + 1 < len(self.normalised) and not any(
                q in v for v in self.normalised[i + 1]
            ):
                # a quote that starts on this page and runs onto the next
                spanning = [
                    a + " " + b for a, b in zip(variants, self.normalised[i + 1])
                ]
                if any(q in v for v in spanning):
                    hits.append(i + 1)
        return hits


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pdf_pages(path: Path) -> tuple[list[str], tuple[str, ...]]:
    import pymupdf  # imported here: only PDF sources need it

    try:
        doc = pymupdf.open(path)
    except Exception as exc:  # pymupdf raises several types for broken files
        raise SourceError(f"{path.name}: not a readable PDF ({' '.join(str(exc).split())[:80]})") from None
    with doc:
        if doc.needs_pass:
            raise SourceError(f"{path.name}: the PDF is encrypted; save an unlocked copy")
        try:
            # content order, not sort=True: sorting by position interleaves two-column layouts
            pages = [page.get_text("text") for page in doc]
        except Exception as exc:  # a damaged page stream
            raise SourceError(f"{path.name}: a page cannot be read ({' '.join(str(exc).split())[:80]})") from None
        repaired = bool(getattr(doc, "is_repaired", False))
    if not pages:
        raise SourceError(f"{path.name}: the PDF has no pages")
    if not any(p.strip() for p in pages):
        raise SourceError(
            f"{path.name}: the PDF has no text layer (scanned images?); run OCR first"
        )
    warnings = ((f"{path.name} is damaged (truncated or with a broken cross-reference table) and was "
                 f"repaired while reading it; check the text against the original",) if repaired else ())
    return pages, warnings


@lru_cache(maxsize=64)
def _load(path: Path, mtime_ns: int, size: int) -> Document:
    digest = sha256_of(path)
    warnings: tuple[str, ...] = ()
    if path.suffix.lower() == ".pdf":
        kind = "pdf"
        pages, warnings = _pdf_pages(path)
    else:
        kind = "text"
        try:
            pages = [path.read_text(encoding="utf-8")]
        except UnicodeDecodeError:
            raise SourceError(f"{path.name}: text source is not UTF-8") from None
        if not pages[0].strip():
            raise SourceError(f"{path.name}: the file is empty")
    return Document(
        path=path,
        sha256=digest,
        kind=kind,
        pages=tuple(pages),
        normalised=tuple(_variants(p) for p in pages),
        warnings=warnings,
    )


def load_document(path: Path) -> Document:
    """Read a source document (cached on path, modification time and size)."""
    st = path.stat()
    return _load(path.resolve(), st.st_mtime_ns, st.st_size)
