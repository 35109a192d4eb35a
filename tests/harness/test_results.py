"""The results contract (cl_course.harness.results): JSON records → summary, seed and group tables."""
import csv
import json

import pytest

from cl_course.harness.results import FAILURES, read_results, summary_rows, write_summary

from .records import make_run, record


def test_group_table_has_a_row_per_variant_and_dashes_without_a_probe():
    from cl_course.harness.results import group_table

    row = {"knn_top1": 0.5, "bias_conflicting_acc": 0.25, "worst_group_acc": 0.0}
    text = group_table({"simclr": {**row, "linear_top1": 0.6, "linear_bias_conflicting_acc": 0.4,
                                   "linear_worst_group_acc": 0.1}, "biased encoder": row})
    lines = text.splitlines()
    assert len(lines) == 3 and "0.250" in lines[1] and "0.400" in lines[1]
    assert lines[2].strip().startswith("biased encoder") and lines[2].rstrip().endswith("-")


def test_read_results_keeps_only_records_sorted_by_file_name(tmp_path):
    make_run(tmp_path)
    assert [r["notebook"] for r in read_results(tmp_path)] == ["01_simclr", "02_dcl"]


def test_summary_rows_have_one_row_per_notebook_and_per_variant(tmp_path):
    make_run(tmp_path)
    rows = summary_rows(read_results(tmp_path))
    assert [(r["notebook"], r["variant"]) for r in rows] == [
        ("01_simclr", ""), ("01_simclr", "t=0.2"), ("01_simclr", "t=1.0"), ("02_dcl", "")]
    assert "loss_curve" not in rows[3] and "collapsed" not in rows[0]  # lists and booleans are not scalars


def test_write_summary_produces_csv_and_markdown_with_metric_values(tmp_path):
    make_run(tmp_path)
    table = write_summary(tmp_path)
    with open(tmp_path / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    by_key = {(r["notebook"], r["variant"]): r for r in rows}
    assert float(by_key[("01_simclr", "")]["knn_top1"]) == 0.8125
    assert float(by_key[("01_simclr", "t=0.2")]["knn_top1"]) == 0.4375
    assert float(by_key[("02_dcl", "")]["linear_top1"]) == 0.7375
    assert by_key[("01_simclr", "")]["linear_top1"] == ""  # missing metrics stay empty
    header = list(rows[0].keys())
    assert header[:7] == ["notebook", "status", "variant", "profile", "dataset", "seed", "wall_time_s"]
    assert {r["status"] for r in rows} == {"ok"}
    assert header.index("knn_top1") < header.index("linear_top1")  # headline metrics first

    md = (tmp_path / "summary.md").read_text()
    assert md == table
    for text in ("0.8125", "0.4375", "0.5625", "0.6125", "0.7375", "t=0.2", "t=1.0", "01_simclr", "02_dcl"):
        assert text in md, text
    lines = md.strip().splitlines()
    assert [c.strip() for c in lines[0].split("|")[1:4]] == ["notebook", "status", "variant"] and len(lines) == 2 + 4


def test_write_summary_of_an_empty_run_writes_headers_only(tmp_path):
    write_summary(tmp_path)
    with open(tmp_path / "summary.csv", newline="") as fh:
        assert list(csv.reader(fh)) == [["notebook", "status", "variant", "profile", "dataset", "seed", "wall_time_s"]]


def test_timing_table_has_one_row_per_notebook_profile_and_device_from_the_records(tmp_path, capsys):
    from cl_course.harness.results import main, timing_frame, timing_table

    runs = tmp_path / "runs"
    for name, device, times in (("a", "cpu: x86_64, 2 threads", (12.5, 3.25)), ("b", "cpu: x86_64, 2 threads", (14.5, 3.75)),
                                ("c", "cuda: NVIDIA H200", (1.0, 2.0))):
        (runs / name).mkdir(parents=True)
        for r, t in zip(make_run(runs / name), times):
            r.update(device=device, wall_time_s=t, parameters={"epochs": 2})
            (runs / name / f"{r['notebook']}.json").write_text(json.dumps(r))
    (runs / "c" / "04_x.json").write_text(json.dumps(record("04_x", 0, 0.5, {})))
    (runs / "c" / FAILURES).write_text(json.dumps({"04_x": "cell 3: AssertionError"}))  # failed after its JSON
    frame = timing_frame([runs])
    assert len(frame) == 6 and set(frame["run"].map(lambda p: p.rsplit("/", 1)[-1])) == {"a", "b", "c"}
    table = timing_table([runs])
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in table.strip().splitlines()[2:]]
    assert ["02_dcl", "ci", "cpu: x86_64, 2 threads", "digits", "epochs 2", "2", "14 (12–14)"] in rows
    assert ["02_dcl", "ci", "cuda: NVIDIA H200", "digits", "epochs 2", "1", "1"] in rows and len(rows) == 4
    assert main([str(runs), "--timing"]) == 0 and "wall time (s)" in capsys.readouterr().out


def test_methods_frame_takes_the_compared_variants_with_their_step_cost_and_tabulates_mean_and_std(tmp_path):
    from cl_course.harness.results import mean_std_table, methods_frame

    for seed, (a, b) in enumerate([(0.5, 0.6), (0.7, 0.8)]):
        d = tmp_path / f"run-seed{seed}"
        d.mkdir()
        variants = {"untrained": {"knn_top1": 0.1, "linear_top1": 0.2},
                    "simclr": {"knn_top1": a, "linear_top1": a, "epoch_time_s": 2.0},
                    "dcl": {"knn_top1": b, "linear_top1": b, "epoch_time_s": 3.0},
                    "tau+=0.2": {"knn_top1": 0.9}}  # a sweep value: no probe, not a compared method
        (d / "03_debiasing.json").write_text(json.dumps(
            {**record("03_debiasing", seed, a, variants), "methods": {"dcl": {"method": "DCL", "tau_plus": 0.1}}}))
    frame = methods_frame([tmp_path])
    assert set(frame["variant"]) == {"untrained", "SimCLR", "dcl"}
    cost = frame[(frame["variant"] == "dcl") & (frame["metric"] == "step_cost")]["value"]
    assert list(cost) == [1.5, 1.5]
    table = mean_std_table(frame)
    dcl = table[table["variant"] == "dcl"].iloc[0]
    assert dcl["kNN top-1"] == "0.700 ± 0.141" and dcl["seeds"] == 2 and dcl["step cost (× SimCLR)"] == "1.500 ± 0.000"
    assert list(table["variant"]) == ["untrained", "SimCLR", "dcl"]


def test_seed_siblings_finds_the_other_seeds_of_a_seeds_run(tmp_path):
    from cl_course.harness.results import seed_siblings

    for name in ("cpu-seed0", "cpu-seed1", "cpu-seed10", "cpu-seedx", "gpu-seed0", "cpu"):
        (tmp_path / name).mkdir()
    assert [p.name for p in seed_siblings(tmp_path / "cpu-seed1")] == ["cpu-seed0", "cpu-seed1", "cpu-seed10"]
    assert seed_siblings(tmp_path / "cpu") == [tmp_path / "cpu"]


def test_locate_runs_reads_the_given_folders_or_the_seeds_of_the_output_folder(tmp_path):
    from cl_course.harness.results import locate_runs, provenance

    for seed in (0, 1):
        d = tmp_path / "runs" / f"c-seed{seed}"
        d.mkdir(parents=True)
        (d / "03_debiasing.json").write_text(json.dumps(record("03_debiasing", seed, 0.5, {})))
    (tmp_path / "runs" / "other").mkdir()
    (tmp_path / "runs" / "other" / "99_x.json").write_text(json.dumps(record("99_x", 0, 0.5, {})))
    assert [p.name for p in locate_runs(output_dir=tmp_path / "runs" / "c-seed1")] == ["c-seed0", "c-seed1"]
    assert [p.name for p in locate_runs(str(tmp_path / "runs"))] == ["c-seed0", "c-seed1"]
    assert locate_runs(output_dir=tmp_path / "runs" / "other") == []
    with pytest.raises(FileNotFoundError, match="nowhere"):
        locate_runs([str(tmp_path / "nowhere")])
    prov = provenance(locate_runs(str(tmp_path / "runs")))
    assert prov.iloc[0]["seeds"] == "0, 1" and prov.iloc[0]["runs"] == "c-seed0, c-seed1"


def test_paired_gain_subtracts_simclr_of_the_same_run(tmp_path):
    import pandas as pd

    from cl_course.harness.results import paired_gain

    rows = [("r0", "03", "SimCLR", 0.5), ("r0", "03", "dcl", 0.6), ("r1", "03", "SimCLR", 0.7), ("r1", "03", "dcl", 0.6),
            ("r0", "03", "untrained", 0.1), ("r0", "05", "ring", 0.9)]  # 05 has no SimCLR row: no gain
    frame = pd.DataFrame([{"run": r, "notebook": n, "variant": v, "metric": "knn_top1", "value": x} for r, n, v, x in rows])
    gain = paired_gain(frame)
    assert list(gain["variant"]) == ["dcl", "dcl"] and list(gain["value"]) == pytest.approx([0.1, -0.1])


def test_seed_table_gives_mean_and_sample_std_per_variant(tmp_path):
    import statistics

    from cl_course.harness.results import seed_table

    dirs = []
    for seed, (a, b) in enumerate([(0.50, 0.40), (0.54, 0.42), (0.52, 0.47)]):
        d = tmp_path / f"s{seed}"
        d.mkdir()
        (d / "03_debiasing.json").write_text(json.dumps(record("03_debiasing", seed, a, {"dcl": {"knn_top1": b}})))
        dirs.append(d)
    rows, table = seed_table(dirs)
    dcl = next(r for r in rows if r["variant"] == "dcl")
    assert dcl["n_seeds"] == 3 and dcl["seeds"] == [0, 1, 2]
    assert dcl["mean"] == pytest.approx(statistics.fmean([0.40, 0.42, 0.47]))
    assert dcl["std"] == pytest.approx(statistics.stdev([0.40, 0.42, 0.47]))
    assert "0.4300 ± 0.0361" in table and "(headline)" in table


def test_group_table_shows_the_unbiased_evaluation_apart():
    from cl_course.harness.results import group_table

    row = {"knn_top1": 0.5, "bias_conflicting_acc": 0.25, "knn_top1[unbiased bank]": 0.75,
           "worst_class_conflicting_acc[unbiased bank]": 0.625}
    lines = group_table({"simclr": row}).splitlines()
    assert lines[0].startswith("biased") and "0.250" in lines[2] and "0.750" not in lines[2]
    assert lines[3].startswith("unbiased") and "0.750" in lines[5] and "0.625" in lines[5]


def test_group_table_heads_its_columns_in_words_from_a_pandas_frame():
    from cl_course.harness.results import group_frame, group_table

    results = {"simclr": {"knn_top1": 0.5, "bias_conflicting_acc": 0.25}, "hcl": {"knn_top1": 0.625}}
    frame = group_frame(results, ["knn_top1", "bias_conflicting_acc"])
    assert list(frame.columns) == ["kNN top-1", "kNN bias-conflicting"] and list(frame.index) == ["simclr", "hcl"]
    assert frame.loc["hcl"].isna().tolist() == [False, True]
    header = group_table(results).splitlines()[0]
    assert "kNN bias-conflicting" in header and "bias_conflicting_acc" not in header
