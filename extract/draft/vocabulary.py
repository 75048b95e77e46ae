"""Which outcome and exposure a passage speaks of, in the extraction format's vocabulary.

Only wording that makes the term clear counts ("developed CRS", "grade ≥3 ICANS",
"received tocilizumab", "low-dose GC"); a passage with none gives None and the
draft proposes no record for it.
"""

from __future__ import annotations

import re

_GRADE3 = (r"(?:grade\s*(?:≥|>=|>|\\geq)\s*3|(?:≥|>=|\\geq)\s*grade\s*3|grade\s*3\s*or\s*(?:greater|higher|above|more)"
           r"|grade\s*3\s*-\s*[45]|grade\s*[34]\s*(?:or|/|and|-)\s*[45]|severe|≥\s*3\b|^\s*3-5\b)")
_GRADE_LOW = r"\bgrade\s*[12]\b(?!\s*(?:or|-|/|and|to)\s*(?:higher|greater|\d))"

# outcome -> pattern, most specific first (positions decide between them)
OUTCOME_TERMS: list[tuple[str, re.Pattern[str]]] = [
    ("mrd_negative_cr", re.compile(r"MRD[- ]?(?:negative|neg\b)|MRD-CR\b|MRD negativity", re.I)),
    ("crs_and_icans", re.compile(r"CRS (?:concomitant|with|and) ICANS", re.I)),
    ("serious_infection", re.compile(r"(?:serious|severe|grade\s*(?:≥|>=)\s*3)\s+infections?", re.I)),
    ("crs", re.compile(r"\bCRS\b|cytokine release syndrome", re.I)),
    ("icans", re.compile(r"\bICANS\b|neurotoxicity", re.I)),
    ("pfs", re.compile(r"\bPFS\b|progression[- ]free survival", re.I)),
    ("efs", re.compile(r"\bEFS\b|event[- ]free survival", re.I)),
    ("lfs", re.compile(r"\bLFS\b|leuka?emia[- ]free survival", re.I)),
    ("os", re.compile(r"\bOS\b|overall survival")),
    ("orr", re.compile(r"overall response rate|\bORR\b", re.I)),
    ("cr", re.compile(r"\bCRR?\b|complete (?:response|remission)|(?<!non-)response rates?\b", re.I)),
    ("relapse", re.compile(r"cumulative incidence of relapse|relapse rate", re.I)),
]
_DRUG = re.compile(r"\b(?:tocilizumab|TCZ|glucocorticoids?|GCs?|corticosteroids?|steroids|ruxolitinib|RUX|"
                   r"methylprednisolone|dexamethasone)\b", re.I)
_RECEIPT = re.compile(r"\b(?:received|receiving|administered|treated with|use of|were given)\b", re.I)

EXPOSURE_TERMS: list[tuple[str, re.Pattern[str]]] = [
    ("crs_or_icans_grade3plus", re.compile(rf"{_GRADE3}\s*CRS (?:or|and/or) ICANS", re.I)),
    ("crs_and_icans", re.compile(r"CRS (?:concomitant|with|and) ICANS", re.I)),
    ("gc_low_dose", re.compile(r"low[- ]dose (?:GCs?|glucocorticoids?|steroids?|corticosteroids?)|≤\s*8\s*mg", re.I)),
    ("gc_high_dose", re.compile(r"high[- ]dose (?:GCs?|glucocorticoids?|steroids?|corticosteroids?)|>\s*8\s*mg", re.I)),
    ("gc_early", re.compile(r"(?:GC|glucocorticoid|steroid)s? (?:onset|initiation)|time of GC initiation", re.I)),
    ("gc_long", re.compile(r"(?:GC|glucocorticoid|steroid)s? duration|duration of (?:GC|glucocorticoid)", re.I)),
    ("gc", re.compile(r"\bGCs?\b|glucocorticoids?|corticosteroids?|\bsteroids?\b", re.I)),
    ("tcz", re.compile(r"\bTCZ\b|tocilizumab|\btoci\b", re.I)),
    ("rux", re.compile(r"\bRUX\b|ruxolitinib", re.I)),
    ("crs_grade", re.compile(r"CRS grade|grade of CRS", re.I)),
    ("icans_grade", re.compile(r"ICANS grade|grade of ICANS", re.I)),
    ("crs", re.compile(r"\bCRS\b", re.I)),
    ("icans", re.compile(r"\bICANS\b", re.I)),
]
_NEGATED = re.compile(r"^(?:non|no|without|not)\b[- ]?", re.I)


def grade3(text: str) -> bool:
    return re.search(_GRADE3, text, re.I | re.M) is not None


def low_grade_only(text: str) -> bool:
    return re.search(_GRADE_LOW, text, re.I) is not None and not grade3(text)


def outcome_terms(text: str) -> list[tuple[int, str]]:
    """(position, outcome) of every outcome term, grades resolved, in order of position."""
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for name, rx in OUTCOME_TERMS:
        for m in rx.finditer(text):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append(m.span())
            if name in ("crs", "icans"):
                # "grade ≥3 CRS", "severe ICANS", "CRS grade ≥3" qualify the term; a breakdown in
                # parentheses after it ("CRS (29.17% grade 1, …)") does not
                before = text[max(0, m.start() - 30): m.start()]
                before = before[max(before.rfind(","), before.rfind("("), before.rfind(";")) + 1:]
                adjacent = re.match(r"[ \t:]*(?:grade|of grade)[^,;()]{0,12}", text[m.end():])
                around = before + " " + (adjacent.group(0) if adjacent else "")
                if grade3(around):
                    name_g = f"{name}_grade3plus"
                elif low_grade_only(around):
                    continue  # grade 1 or grade 2 alone: not in the vocabulary
                else:
                    name_g = f"{name}_any"
                found.append((m.start(), name_g))
            else:
                found.append((m.start(), name))
    return sorted(found)


def outcome_near(text: str, pos: int) -> str | None:
    """The outcome term nearest pos in the text (after it preferred within the same clause)."""
    terms = outcome_terms(text)
    if not terms:
        return None
    return min(terms, key=lambda t: abs(t[0] - pos) * (0.5 if t[0] >= pos else 1.0))[1]


def treatment_use(text: str) -> bool:
    """'patients received TCZ', 'GC use': a record of receipt of a toxicity-management drug."""
    return bool(_DRUG.search(text)) and (bool(_RECEIPT.search(text)) or re.search(r"\buse\b", text) is not None)


def exposure_of(text: str) -> str | None:
    for name, rx in EXPOSURE_TERMS:
        if rx.search(text):
            return name
    return None


def negated(label: str) -> bool:
    return _NEGATED.search(label.strip()) is not None


def without_negation(label: str) -> str:
    """'non-GC' -> 'GC'."""
    return _NEGATED.sub("", label.strip())


def slug(text: str, limit: int = 40) -> str:
    s = re.sub(r"[^a-z0-9]+", "_", text.lower().replace("≤", "le").replace("≥", "ge").replace(">", "gt")
               .replace("<", "lt")).strip("_")
    s = s[:limit].strip("_") or "x"
    return s if s[0].isalnum() else "x" + s
