"""lecture.Findings: sentences and claims from a run's numbers; a contradicted claim is flagged, not raised."""
from __future__ import annotations

import pytest

from cl_course.harness import lecture


def test_findings_render_sentences_and_a_claim_table_with_each_verdict():
    found = lecture.Findings("03_debiasing")
    found.say("SimCLR reached 0.482.")
    assert found.claim("the oracle beats SimCLR", 0.495 > 0.482, "0.495 vs 0.482") is True
    assert found.claim("DCL beats SimCLR", 0.479 > 0.482, "0.479 vs 0.482") is False
    md = found.markdown()
    assert md.startswith("SimCLR reached 0.482.")
    assert "| the oracle beats SimCLR | ✓ shown | 0.495 vs 0.482 |" in md
    assert "| DCL beats SimCLR | ✗ not shown in this run | 0.479 vs 0.482 |" in md
    assert found.record() == {"the oracle beats SimCLR": True, "DCL beats SimCLR": False}


def test_a_contradicted_claim_is_flagged_on_stderr_and_expect_raises(capsys):
    found = lecture.Findings("07_wcl_difficulty")
    found.claim("WCL beats SimCLR", False, "0.01 vs 0.02")
    assert "this run contradicts the text: WCL beats SimCLR" in capsys.readouterr().err
    found.expect("training beat the untrained encoder", True, "0.6 vs 0.4")
    with pytest.raises(AssertionError, match="training beat the untrained encoder: 0.3 vs 0.4"):
        found.expect("training beat the untrained encoder", False, "0.3 vs 0.4")


def test_findings_show_prints_markdown_outside_a_notebook(capsys):
    found = lecture.Findings("01_simclr_basics")
    found.say("One sentence.")
    found.show()
    assert "One sentence." in capsys.readouterr().out
