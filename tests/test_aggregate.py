"""The arithmetic behind the aggregate views: area under a learning curve, ranking scores, the Pareto front,
a model's footprint, and what a bad results document gets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench import cli
from bench.footprint import footprint
from reports.curves import area
from reports.pareto import pareto_front
from reports.ranking import _scores


def test_the_area_under_a_learning_curve_is_its_average_over_log_size():
    value, half = area([100, 10_000], [0.5, 0.7], [0.02, 0.02])
    assert value == pytest.approx(0.6)
    assert half == pytest.approx(np.sqrt(2) * 0.5 * 0.02)
    # uneven spacing: 100 → 1,000 is half the log range, 1,000 → 10,000 the other half
    assert area([100, 1_000, 10_000], [0.0, 1.0, 1.0], [0, 0, 0])[0] == pytest.approx(0.75)
    assert area([250, 1_000, 5_000], [3.0, 3.0, 3.0], [0, 0, 0])[0] == pytest.approx(3.0)


def test_mean_rank_borda_and_win_rate_agree_on_complete_blocks():
    values = np.array([[3.0, 2.0, 1.0],   # model 0 best, then 1, then 2
                       [1.0, 3.0, 2.0],   # model 1 best
                       [2.0, 2.0, 1.0]])  # 0 and 1 tied
    mean_rank, borda, win = _scores(values)
    assert mean_rank == pytest.approx([(1 + 3 + 1.5) / 3, (2 + 1 + 1.5) / 3, (3 + 2 + 3) / 3])
    assert borda == pytest.approx([2 + 0 + 1.5, 1 + 2 + 1.5, 0 + 1 + 0])
    assert win == pytest.approx([(1 + 0 + 0.75) / 3, (0.5 + 1 + 0.75) / 3, (0 + 0.5 + 0) / 3])


def test_the_pareto_front_keeps_the_models_nothing_is_cheaper_and_better_than():
    cost = np.array([1.0, 2.0, 2.0, 3.0, 0.5])
    quality = np.array([0.5, 0.7, 0.6, 0.7, 0.4])
    assert pareto_front(cost, quality).tolist() == [True, True, False, False, True]


def test_a_models_footprint_counts_parameters_and_two_flops_per_multiply_add():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 64))
    found = footprint(model, torch.zeros(5, 1, 8, 8))
    assert found.params == 64 * 16 + 16 + 16 * 64 + 64
    assert found.flops_per_image == 2 * (64 * 16 + 16 * 64)
    assert model.training  # measured in eval mode, handed back as it was


@pytest.mark.parametrize("text, expected", [
    ('{"schema": "bench.results", "schema_version": 1, "cells": [{"cell": {"key": "k"', "not valid JSON"),
    ('[1, 2]', "is not a bench results document: its schema is 'list'"),
    ('{"schema": "bench.results", "schema_version": 7, "cells": []}', "was written by a newer bench"),
    ('{"schema": "bench.results", "schema_version": 1, "cells": [{"cell": {"key": "k"}, "status": "done"}]}',
     "at $.cells[0].cell: 'dataset' is a required property (schema rule "),
    ('{"schema": "bench.results", "schema_version": 1, "cells": [{"cell": {"key": "k", "dataset": "d", "model": "m", '
     '"noise": "n", "severity": 1, "seed": 0, "profile": "quick"}, "status": "finished"}]}',
     "at $.cells[0].status: 'finished' is not one of ['done', 'failed', 'skipped']"),
    ('{"schema": "bench.results", "schema_version": 1, "cells": [], "catalogue": [{"name": "x"}]}',
     "at $.catalogue[0]: 'version' is a required property"),
    ('{"schema": "bench.results", "schema_version": 1, "cells": [{"cell": {"key": "k", "dataset": "d", "model": "m", '
     '"noise": "n", "severity": 1, "seed": 0, "profile": "quick"}, "status": "done", "metrics": [], '
     '"items": {"mse": {"kind": "f4", "items_id": "x", "n": 3, "data": "!!"}}}]}', "not a valid bench results"),
])
def test_a_bad_results_document_gets_one_line_exit_2_and_imports_nothing(text, expected, tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(text)
    code = cli.main(["import", str(path), "--store", str(tmp_path / "store.db")])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
    assert "Nothing was imported" in err
    assert not (tmp_path / "store.db").exists()


def test_a_missing_results_document_gets_one_line(tmp_path, capsys):
    assert cli.main(["import", str(tmp_path / "nope.json"), "--store", str(tmp_path / "s.db")]) == 2
    assert "cannot read" in capsys.readouterr().err
