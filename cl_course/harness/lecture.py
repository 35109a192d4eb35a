"""A notebook's "What was measured": prose built from the numbers this run computed, and the
lecture's claims checked against them.

Markdown cells never type a measured number (a test holds them to it); the closing cell of a
notebook writes its findings with :class:`Findings` instead::

    found = lecture.Findings("03_debiasing")
    found.say(f"SimCLR reached kNN top-1 {simclr:.3f} against the untrained encoder's {floor:.3f}.")
    found.claim("the oracle beats SimCLR", oracle > simclr, f"{oracle:.3f} vs {simclr:.3f}")
    found.show()                       # one Markdown block: the sentences, then a table of claims
    session.finish(metrics, variants=..., claims=found.record())

A claim that this run contradicts is *flagged* (✗ in the table, a line on stderr), never raised: a
short run, another profile or another seed can legitimately disagree with the text, and the
learner must see that rather than a crash. :meth:`Findings.expect` is the assertion for what must
hold on every run (e.g. a check that would catch a broken pipeline).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field


@dataclass
class Claim:
    text: str
    holds: bool
    evidence: str

    @property
    def mark(self) -> str:
        return "✓ shown" if self.holds else "✗ not shown in this run"


@dataclass
class Findings:
    """Sentences and claims of one notebook's run, rendered as Markdown and recorded in its JSON."""
    notebook: str
    sentences: list[str] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)

    def say(self, sentence: str) -> None:
        """Add a sentence of the run's own findings (format the numbers into it)."""
        self.sentences.append(sentence.strip())

    def claim(self, text: str, holds, evidence: str) -> bool:
        """Check a claim the notebook's prose makes against this run: ``holds`` is the comparison on
        this run's numbers, ``evidence`` the numbers themselves. A claim that fails is flagged."""
        holds = bool(holds)
        self.claims.append(Claim(text.strip(), holds, evidence.strip()))
        if not holds:
            print(f"[{self.notebook}] this run contradicts the text: {text} ({evidence})", file=sys.stderr)
        return holds

    def expect(self, text: str, holds, evidence: str) -> None:
        """A claim that must hold on every run of every profile: stops the notebook when it does not."""
        if not self.claim(text, holds, evidence):
            raise AssertionError(f"{text}: {evidence}")

    def markdown(self) -> str:
        parts = [" ".join(self.sentences)] if self.sentences else []
        if self.claims:
            rows = ["| claim | this run | numbers |", "|---|---|---|"]
            rows += [f"| {c.text} | {c.mark} | {c.evidence} |" for c in self.claims]
            parts.append("\n".join(rows))
        return "\n\n".join(parts)

    def show(self) -> None:
        """Display the findings as Markdown in a notebook (printed as text elsewhere)."""
        text = self.markdown()
        try:
            from IPython import get_ipython
            from IPython.display import Markdown, display
            if get_ipython() is not None:
                display(Markdown(text))
                return
        except ImportError:  # pragma: no cover - IPython ships with the notebook stack
            pass
        print(text)

    def record(self) -> dict:
        """For the notebook's JSON (``session.finish(..., claims=...)``): ``{claim text: shown}``."""
        return {c.text: c.holds for c in self.claims}
