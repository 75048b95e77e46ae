"""Benchmark: the drafts `carsynth new` writes for the seed papers against the hand extractions.

Run: python benchmarks/bench_draft.py [--json]   (needs the seed papers in ../shared/seeds)

For each seed paper the draft is made from one source file and compared with the
records of the matching hand extraction in studies/. A proposed record matches a
hand record when
  * its kind and numbers are the same (ratio: measure, estimate and CI; binary: the
    four counts; proportion: events and total; p-value only: p; survival rate: rate
    and its ±), compared as printed numbers, and
  * one of its quotes and one of the hand record's quotes overlap in the paper's
    text (after whitespace normalisation), or, when the hand record quotes another
    source file of the same study, the proposed quote prints all of its numbers.
Recall = hand records matched / hand records; precision = proposed records that
match a hand record / proposed records. Vocabulary (outcome, exposure) is reported
separately and not required for a match. Results are written to docs/draft-quality.md
by hand from this script's output.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout

from extract.draft import draft_text  # noqa: E402
from extract.numbers import printed  # noqa: E402
from extract.paper import page_text  # noqa: E402
from extract.text import load_document, normalise  # noqa: E402

SEEDS = ROOT.parent / "shared" / "seeds"
# study file -> the source the draft is made from (the fullest rendering of the paper)
PAPERS = {
    "zhang2025": "000_71deb3a1bf788464.txt",
    "ma2024": "002_5054636f0ebafb8c.txt",
    "zhou2025": "004_2a7ad2f43d66f458.txt",
}
TARGET_RECALL, TARGET_PRECISION = 0.7, 0.8


def _n(x) -> object:
    """A number as a comparable exact value ('0.40' == 0.4); text such as '<0.001' kept as text."""
    if x is None:
        return None
    s = str(x).strip()
    try:
        return printed(s.lstrip("=")).value if not s.startswith(("<", ">", "≤", "≥")) else s.replace(" ", "")
    except ValueError:
        return s


def values(rec: dict) -> tuple:
    k = rec["kind"]
    if k == "ratio":
        return (k, rec["measure"], _n(rec["estimate"]), _n(rec.get("ci_lower")), _n(rec.get("ci_upper")))
    if k == "binary":
        e, r = rec["exposed"], rec["reference"]
        return (k, *sorted([(int(e["events"]), int(e["total"])), (int(r["events"]), int(r["total"]))]))
    if k == "proportion":
        return (k, int(rec["events"]), int(rec["total"]))
    if k == "pvalue":
        return (k, _n(rec["p"]))
    return (k, _n(rec["rate"]), _n(rec.get("se")))


def _numbers(rec: dict) -> list[str]:
    k = rec["kind"]
    if k == "ratio":
        return [str(rec["estimate"]), str(rec.get("ci_lower")), str(rec.get("ci_upper"))]
    if k == "binary":
        return [str(rec["exposed"]["events"]), str(rec["reference"]["events"])]
    if k == "proportion":
        return [str(rec["events"])]
    if k == "pvalue":
        return [str(rec["p"]).lstrip("<>=")]
    return [str(rec["rate"])]


def quotes_overlap(page: str, a: str, b: str) -> bool:
    a, b = normalise(a), normalise(b)
    if a in b or b in a:
        return True
    ia, ib = page.find(a), page.find(b)
    if ia < 0 or ib < 0:
        return False
    return ia < ib + len(b) and ib < ia + len(a)


def matches(proposed: dict, hand: dict, page: str, source: str) -> bool:
    if values(proposed) != values(hand):
        return False
    for hq in hand["quotes"]:
        for pq in proposed["quotes"]:
            if hq.get("source", source) == source:
                if quotes_overlap(page, pq["text"], hq["text"]):
                    return True
            elif all(n.rstrip("0").rstrip(".") in normalise(pq["text"]) for n in _numbers(hand)):
                return True
    return False


def evaluate(study: str, source: str) -> dict:
    hand = yaml.safe_load((ROOT / "studies" / f"{study}.yaml").read_text("utf-8"))
    path = SEEDS / source
    doc = load_document(path)
    t0 = time.perf_counter()
    content, _ = draft_text(study, path, doc, page_text(path))
    seconds = time.perf_counter() - t0
    draft = yaml.safe_load(content)
    page = normalise("\n".join(doc.pages))
    proposed = draft.get("records") or []
    hand_recs = hand["records"]
    matched_hand = [h for h in hand_recs if any(matches(p, h, page, source) for p in proposed)]
    matched_prop = [p for p in proposed if any(matches(p, h, page, source) for h in hand_recs)]
    vocab = sum(1 for p in matched_prop
                if any(matches(p, h, page, source) and p["outcome"] == h["outcome"] for h in hand_recs))
    return {
        "study": study, "source": source, "hand": len(hand_recs), "proposed": len(proposed),
        "recall": len(matched_hand) / len(hand_recs), "precision": len(matched_prop) / max(1, len(proposed)),
        "matched_hand": len(matched_hand), "matched_proposed": len(matched_prop),
        "outcome_agrees": vocab, "seconds": round(seconds, 3),
        "missed": [h["id"] for h in hand_recs if h not in matched_hand],
        "unmatched": [p["id"] for p in proposed if p not in matched_prop],
        "citation": {k: draft["citation"].get(k) for k in ("title", "journal", "year", "doi")},
    }


def main() -> int:
    if not SEEDS.is_dir():
        print(f"seed papers not found at {SEEDS}", file=sys.stderr)
        return 2
    results = [evaluate(s, src) for s, src in PAPERS.items()]
    hand = sum(r["hand"] for r in results)
    prop = sum(r["proposed"] for r in results)
    total = {"recall": sum(r["matched_hand"] for r in results) / hand,
             "precision": sum(r["matched_proposed"] for r in results) / max(1, prop),
             "hand": hand, "proposed": prop}
    if "--json" in sys.argv:
        print(json.dumps({"studies": results, "total": total}, indent=1, default=str))
        return 0
    print(f"{'study':<10} {'source':<26} {'hand':>5} {'proposed':>8} {'recall':>7} {'precision':>9} {'outcome ok':>10}")
    for r in results:
        print(f"{r['study']:<10} {r['source']:<26} {r['hand']:>5} {r['proposed']:>8} {r['recall']:>7.3f} "
              f"{r['precision']:>9.3f} {r['outcome_agrees']:>10}")
    print(f"{'all':<37} {hand:>5} {prop:>8} {total['recall']:>7.3f} {total['precision']:>9.3f}")
    for r in results:
        print(f"\n{r['study']}: missed {r['missed']}\n  unmatched proposals {r['unmatched']}\n  citation {r['citation']}")
    ok = total["recall"] >= TARGET_RECALL and total["precision"] >= TARGET_PRECISION
    print(f"\ntargets recall >= {TARGET_RECALL}, precision >= {TARGET_PRECISION}: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
