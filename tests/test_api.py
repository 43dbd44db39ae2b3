"""Claims about the Python API: the README's example runs as written, a second call reads the cells back
instead of computing them, and bad input raises the CLI's one-line errors."""

from __future__ import annotations

import re

import pytest
from conftest import REPO

import bench
from registry import BenchError, SelectionError


def _readme_example() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("### From Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = _readme_example()
    assert "bench.run(" in code
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    results, board, frame = namespace["results"], namespace["board"], namespace["frame"]
    assert (tmp_path / "runs" / "digits" / "results.db").exists()
    assert results.summary.computed == len(results.cells) and results.summary.failed == 0
    assert set(frame.model) == {"ae", "vae"} and set(frame.seed) == {0, 1}  # quick: no CNN, no baseline rows
    assert {"psnr", "probe_acc", "iw_nll"} <= set(frame.metric) and "acc_clean" not in set(frame.metric)
    assert set(board.model) == {"ae", "vae"} and set(board.severity) == {1}
    assert "probe_acc" not in board.columns and "psnr_tied" in board.columns
    printed = capsys.readouterr().out
    assert "psnr" in printed and "probe_acc" in printed

    again = bench.run(models="ae,vae", noises="gaussian", datasets="digits", seeds=2, store="runs/digits",
                      severities=[1], families="reconstruction,latent,likelihood")
    assert again.summary.computed == 0 and again.summary.reused == len(again.cells)
    assert again.frame().equals(frame)


def test_bad_input_to_the_api_raises_the_cli_one_line_error_before_any_work(tmp_path):
    with pytest.raises(SelectionError, match="unknown model 'vea' - did you mean 'vae'"):
        bench.run(models="vea", datasets="digits", store=tmp_path)
    with pytest.raises(BenchError, match="seeds takes a count >= 1"):
        bench.run(models="ae", datasets="digits", seeds=0, store=tmp_path)
    for bad, message in ((dict(rerun="bogus"), "--rerun takes failed or all (None: no cell is recomputed). Got 'bogus'"),
                         (dict(train_noise="yes"), "train_noise takes True or False. Got 'yes'"),
                         (dict(quiet="no"), "quiet takes True or False. Got 'no'"),
                         (dict(device="tpu"), "device takes cpu, cuda or auto. Got 'tpu'"),
                         (dict(precision="fp16"), "--precision takes one of fp32, bf16, auto. Got 'fp16'"),
                         (dict(cnn_budget="flops"), "--cnn-budget takes converged, steps, epochs"),
                         (dict(executor="bogus"), "--executor takes local, processes:N"),
                         (dict(profile="slow"), "unknown profile 'slow'"),
                         (dict(families=3), "--families takes family names separated by commas"),
                         (dict(families="nosuch"), "unknown metric family 'nosuch'")):
        with pytest.raises(BenchError, match=re.escape(message)):
            bench.run(models="ae", datasets="digits", store=tmp_path, **bad)
    assert not (tmp_path / "results.db").exists()  # nothing was computed, not even a store opened


def test_a_notebook_sees_every_parameter_of_bench_run_and_importing_bench_stays_light():
    import inspect
    import subprocess
    import sys

    parameters = inspect.signature(bench.run).parameters
    assert {"models", "noises", "datasets", "profile", "seeds", "seed", "store", "severities", "cnn_budget",
            "precision", "train_noise", "train_sizes", "rerun", "executor", "threads", "device", "families",
            "quiet"} <= set(parameters)
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    assert all(name in bench.run.__doc__ for name in ("cnn_budget", "train_sizes", "executor"))
    heavy = subprocess.run([sys.executable, "-c", "import sys, bench; print(sorted({'torch', 'pandas', 'reports', "
                            "'plugins'} & set(sys.modules)))"], capture_output=True, text=True, check=True)
    assert heavy.stdout.strip() == "[]"
