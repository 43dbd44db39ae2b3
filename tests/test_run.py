"""Claims about `bench run` and `bench report` end to end, as a user types them."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import CHEAP_CNN, add_site, make_distribution, run_bench

from bench import cli
from bench.store import open_store

METRICS = ["bce", "mse", "psnr", "ssim", "psnr_gain"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run_bench("run", *CHEAP_CNN, "--datasets", "digits", "--models", "ae,dae,vae,dvae",
                       "--noise", "gaussian",
                       "--severities", "1,3", "--executor", "local", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result


def test_bench_run_on_digits_writes_its_reports_with_one_row_per_cell(digits_run):
    out, result = digits_run
    assert result.stdout.split() == [str(out / n) for n in ("leaderboard.md", "results.csv", "leaderboard.csv",
                                                            "ranking.csv", "report.html")]  # --format's order
    board = pd.read_csv(out / "leaderboard.csv")
    assert len(board) == (4 + 1) * 2  # (models + the baseline CNN) × severities
    assert set(board["model"]) == {"ae", "dae", "vae", "dvae", "baseline"} and set(board["severity"]) == {1, 3}
    models = board[board["model"] != "baseline"]
    for metric in METRICS:
        assert models[metric].notna().all()
        assert {f"{metric}_ci95", f"{metric}_rank"} <= set(board.columns)
    results = pd.read_csv(out / "results.csv")
    per_model_cell = results[results.model == "vae"].groupby("cell").size()
    assert len(per_model_cell) == 2 and (per_model_cell == per_model_cell.iloc[0]).all()
    assert set(METRICS) <= set(results["metric"])
    assert {"key", "dataset", "model", "noise", "severity", "seed", "profile", "model_params", "noise_params",
            "metric", "family", "value", "higher_is_better", "note"} <= set(results.columns)
    assert (results["status"] == "done").all()
    markdown = (out / "leaderboard.md").read_text()
    assert "## digits · gaussian · reconstruction" in markdown and "psnr ↑ (dB)" in markdown


def test_leaderboard_ranks_each_metric_by_its_direction(digits_run):
    board = pd.read_csv(digits_run[0] / "leaderboard.csv")
    for _, group in board.groupby(["noise", "severity"]):
        assert group.loc[group["psnr_rank"] == 1, "psnr"].item() == group["psnr"].max()
        assert group.loc[group["mse_rank"] == 1, "mse"].item() == group["mse"].min()


def test_a_second_identical_run_computes_nothing_and_report_rebuilds_the_same_tables(digits_run, tmp_path):
    out, _ = digits_run
    before = pd.read_csv(out / "leaderboard.csv")
    again = run_bench("run", *CHEAP_CNN, "--datasets", "digits", "--models", "ae,dae,vae,dvae",
                      "--noise", "gaussian",
                      "--severities", "1,3", "--out", str(out))
    assert again.returncode == 0
    assert "0 computed, 10 already in" in again.stderr
    (out / "leaderboard.csv").unlink()
    report = run_bench("report", "--out", str(out))
    assert report.returncode == 0, report.stderr
    pd.testing.assert_frame_equal(pd.read_csv(out / "leaderboard.csv"), before)


def _loads_torch(*args: str) -> tuple[bool, subprocess.CompletedProcess]:
    """Whether ``bench ARGS`` imported torch (only the built-in plugins loaded: a user's own may import it)."""
    script = f"import sys; from bench.cli import main; code = main({list(args)!r}); print('torch' in sys.modules); sys.exit(code)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "BENCH_DISABLE_PLUGIN_AUTOLOAD": "1"})
    return done.stdout.split()[-1:] == ["True"], done


def test_a_rerun_that_finds_every_cell_stored_does_not_load_torch(digits_run):
    """Nothing to compute: the rerun plans, reads the store and writes the reports, and torch's import (over a
    second on 2 cores, most of what a cached rerun took) is left out."""
    out, _ = digits_run
    loads, done = _loads_torch("run", *CHEAP_CNN, "--datasets", "digits", "--models", "ae,dae,vae,dvae",
                               "--noise", "gaussian", "--severities", "1,3", "--out", str(out))
    assert done.returncode == 0 and "0 computed, 10 already in" in done.stderr, done.stderr
    assert not loads


@pytest.mark.parametrize("args", [("list", "models"), ("list", "noises"), ("list", "datasets"), ("list", "families")])
def test_listing_the_plugins_does_not_load_torch(args):
    loads, done = _loads_torch(*args)
    assert done.returncode == 0, done.stderr
    assert not loads


def test_same_cell_and_seed_give_identical_numbers(digits_run, tmp_path):
    out, _ = digits_run
    code = cli.main(["run", *CHEAP_CNN, "--datasets", "digits", "--models", "dvae", "--noise", "gaussian",
                     "--severities", "3",
                     "--executor", "local", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    mine = pd.read_csv(tmp_path / "results.csv")
    mine = mine[mine.model == "dvae"].set_index("metric")["value"]
    first = pd.read_csv(out / "results.csv")
    first = first[(first.model == "dvae") & (first.noise == "gaussian") & (first.severity == 3)].set_index("metric")["value"]
    pd.testing.assert_series_equal(mine.sort_index(), first.sort_index())


def test_a_denoising_model_reconstructs_noisy_inputs_better_than_the_noisy_input_itself(tmp_path):
    code = cli.main(["run", "--seeds", "1", "--families", "reconstruction", "--datasets", "digits", "--models",
                     "dae,dvae", "--noise", "gaussian", "--severities", "5", "--profile", "paper", "--out", str(tmp_path),
                     "--quiet"])
    assert code == 0
    board = pd.read_csv(tmp_path / "leaderboard.csv").set_index("model")
    for model in ("dae", "dvae"):
        assert board.loc[model, "psnr_gain"] - board.loc[model, "psnr_gain_ci95"] > 1.0  # dB better than input
        assert board.loc[model, "psnr"] > board.loc[model, "input_psnr"]


def test_third_party_model_runs_in_a_grid(third_party_site, tmp_path, capsys):
    code = cli.main(["run", *CHEAP_CNN, "--datasets", "digits", "--models", "tiny_ae,ae", "--noise", "gaussian",
                     "--severities", "2", "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    results = pd.read_csv(tmp_path / "results.csv")
    assert set(results["model"]) == {"ae", "tiny_ae", "baseline"}
    versions = next(r for r in open_store(tmp_path).records() if r["cell"]["model"] == "tiny_ae")["cell"]["versions"]
    assert versions["bench-tiny"] == "1.2.3"


NAN_MODEL = '''
from registry import ModelSpec, hookimpl
from registry.models import MLPAutoencoder


class Exploding(MLPAutoencoder):
    def loss(self, x_in, x_target):
        return super().loss(x_in, x_target) * float("nan")


@hookimpl
def bench_models():
    return [ModelSpec("exploding", Exploding, "a model whose loss turns NaN", epochs=2)]
'''


def test_a_model_whose_loss_turns_nan_fails_its_cells_and_the_grid_goes_on(tmp_path, monkeypatch, capsys):
    add_site(make_distribution(tmp_path / "site", "bench-nan", "0.1", "bench_nan", NAN_MODEL), monkeypatch)
    out = tmp_path / "out"
    code = cli.main(["run", *CHEAP_CNN, "--datasets", "digits", "--models", "exploding,ae", "--noise", "gaussian",
                     "--severities", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "failed: digits/exploding/gaussian@1/seed0/cnn-epochs: TrainingDiverged: training loss became nan" in err
    results = pd.read_csv(out / "results.csv")
    assert set(results.loc[results.status == "done", "model"]) == {"ae", "baseline"}
    assert "training loss became nan" in (out / "leaderboard.md").read_text()


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--models", "vea"], "unknown model 'vea' - did you mean 'vae'? Available: ae, beta_vae, conv_ae,"),
        (["--noise", "gausian"], "unknown noise 'gausian' - did you mean 'gaussian'?"),
        (["--severities", "1,9"], "severity 9 is not defined for noise"),
        (["--severities", "1,x"], "--severities takes integers >= 1 separated by commas. Got '1,x' instead."),
        (["--profile", "fast"], "unknown profile 'fast'"),
        (["--seed", "-1"], "--seed takes an integer >= 0. Got -1 instead."),
        (["--rerun", "some"], "argument --rerun: invalid choice: 'some'"),
    ],
)
def test_bad_input_gets_one_line_on_stderr_and_exit_code_2_and_leaves_no_output_directory(args, expected, tmp_path,
                                                                                           capsys):
    out = tmp_path / "new"
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(cli.main(["run", "--datasets", "digits", "--out", str(out), *args]))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("bench: error: ") and err.count("\n") == 1, err
    assert expected in err
    assert not out.exists()  # a refused run leaves nothing behind, not even an empty --out


def test_report_on_a_directory_without_results_says_what_to_do(tmp_path, capsys):
    assert cli.main(["report", "--out", str(tmp_path)]) == 2
    assert "run 'bench run --out" in capsys.readouterr().err


def test_a_one_seed_digits_run_claims_nothing_about_models_and_says_what_it_needs(digits_run):
    out, _ = digits_run
    board = pd.read_csv(out / "leaderboard.csv")
    assert (board["seeds"] == 1).all()
    assert set(board["probe_acc_mark"].dropna()) == {"untested"} and board["probe_acc_tied"].isna().all()
    assert set(board["probe_acc_test"].dropna()) == {"McNemar exact, test images only"}  # kept, labelled
    assert set(board["psnr_test"].dropna()) == {"paired t over images, test images only"}
    markdown = (out / "leaderboard.md").read_text()
    tables = markdown.split("## Verdict")[1]
    assert "**" not in tables.split("\n## digits")[1] and " ≈ |" not in tables
    assert "No row is marked: with 1 seed" in markdown
    verdict = markdown.split("## Verdict")[1].split("\n## digits · gaussian · reconstruction")[0]
    assert "no claim about models is made" in verdict and "the quick profile runs 3" in verdict
    assert "no model is named best" in verdict and "(one seed: not tested)" in verdict
