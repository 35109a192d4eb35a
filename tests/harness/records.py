"""Made-up run folders and JSON records for the results and runner tests."""
from __future__ import annotations

import json


def make_run(tmp_path):
    records = [
        {"notebook": "02_dcl", "profile": "ci", "dataset": "digits", "seed": 0, "wall_time_s": 12.5,
         "metrics": {"knn_top1": 0.6125, "linear_top1": 0.7375, "loss_curve": [3.0, 2.0]}, "variants": {}},
        {"notebook": "01_simclr", "profile": "ci", "dataset": "digits", "seed": 1, "wall_time_s": 3.25,
         "metrics": {"knn_top1": 0.8125, "collapsed": False},
         "variants": {"t=0.2": {"knn_top1": 0.4375}, "t=1.0": {"knn_top1": 0.5625}}},
    ]
    for r in records:
        (tmp_path / f"{r['notebook']}.json").write_text(json.dumps(r))
    (tmp_path / "other.json").write_text(json.dumps({"not": "a record"}))
    (tmp_path / "list.json").write_text(json.dumps([1, 2, 3]))
    return records


def record(notebook, seed, knn, variants):
    return {"notebook": notebook, "profile": "cpu", "dataset": "cifar10", "seed": seed, "wall_time_s": 1.0,
            "parameters": {}, "metrics": {"knn_top1": knn}, "variants": variants}
