"""Training-set size as a grid axis: ``--train-sizes``."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bench import cli
from bench.data import subset
from bench.store import open_store


def test_smaller_training_subsets_are_drawn_inside_the_larger_ones():
    for seed in (0, 7):
        big = subset(1000, 400, seed)
        assert subset(1000, 100, seed).tolist() == big[:100].tolist()
        assert len(set(big.tolist())) == 400


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """ae, dae and vae on digits at 100 and 400 training images, one severity, reports in every format (the
    compute-matched protocol, whose steps scale with the subset: cheap here; tests/test_protocol.py runs the
    converged one)."""
    out = tmp_path_factory.mktemp("sweep")
    # bench's own families but downstream ("all" would add the families of a user's installed plugins)
    code = cli.main(["run", "--seeds", "1", "--cnn-budget", "steps", "--families",
                     "reconstruction,latent,likelihood,augmentation,generative", "--datasets",
                     "digits", "--models",
                     "ae,dae,vae", "--noise", "gaussian", "--severities", "1", "--train-sizes", "400,100",
                     "--executor", "local", "--out", str(out), "--quiet"])
    assert code == 0
    assert cli.main(["report", "--out", str(out), "--format", "md,csv,html,json"]) == 0
    return out


def test_a_size_sweep_gives_a_cell_per_size_with_its_own_model_cnn_budget_rows_and_figures(sweep):
    tmp_path = sweep
    results = open_store(tmp_path).results()
    assert all(r.status == "done" for r in results)
    # a cell per model and size: a record of the families that train CNNs, one of those that do not (bench.keys)
    assert sorted((r.cell["model"], r.cell["train_size"], str(r.cell["cnn_budget"])) for r in results) == sorted(
        [(m, n, b) for m in ("ae", "dae", "vae") for n in (100, 400) for b in ("steps", "None")]
        + [("baseline", n, "steps") for n in (100, 400)])
    for r in results:
        n = r.cell["train_size"]
        if r.training is not None:
            assert r.training.train_size == n
        if r.cell["cnn_budget"]:  # the compute-matched budget scales with the subset
            assert r.cnn.baseline == 10 * math.ceil(n / 128)
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert sorted(board["train_size"]) == [100] * 4 + [400] * 4
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "## digits · gaussian · reconstruction · quick · 100 training images" in markdown
    assert "## digits · gaussian · reconstruction · quick · 400 training images" in markdown
    figures = {r.figures["tsne"] for r in results if r.cell["model"] == "ae" and "tsne" in r.figures}
    assert figures == {"figures/digits_ae_gaussian_s1_seed0_n100_tsne.png",  # the latent family trains no CNN
                       "figures/digits_ae_gaussian_s1_seed0_n400_tsne.png"}
    assert all((tmp_path / f).read_bytes()[:4] == b"\x89PNG" for f in figures)


def test_a_size_sweep_reports_learning_curves_their_area_and_where_augmentation_starts_to_beat_the_baseline(sweep):
    curves = pd.read_csv(sweep / "learning_curves.csv")
    board = pd.read_csv(sweep / "leaderboard.csv")
    # each family's headline with per-image values (fid_prior has none); the likelihood's only for the vae
    assert set(curves["metric"]) == {"psnr", "probe_acc", "iw_nll", "acc_noisy"}
    assert set(curves.loc[curves["metric"] == "psnr", "model"]) == {"ae", "dae", "vae"}
    for _, row in curves.iterrows():  # the area over log size is an average of the curve: between its ends
        points = board[board["model"] == row["model"]][row["metric"]]
        assert points.min() - 1e-9 <= row["auc"] <= points.max() + 1e-9
        assert pd.isna(row["auc_low"]) and pd.isna(row["auc_high"]) and row["seeds"] == 1  # one seed: no interval
    gains = curves[curves["metric"] == "acc_noisy"].set_index("model")
    for model in ("ae", "dae", "vae"):
        at = dict(zip((100, 400), map(float, gains.loc[model, "gains_points"].split(";"))))
        base = board[board["model"] == "baseline"].set_index("train_size")["acc_noisy"]
        mine = board[board["model"] == model].set_index("train_size")["acc_noisy"]
        assert at == pytest.approx({n: 100 * (mine[n] - base[n]) for n in (100, 400)}, abs=1e-3)
        assert pd.isna(gains.loc[model, "beats_baseline_from"])  # one seed: no threshold is claimed
    markdown = (sweep / "leaderboard.md").read_text()
    assert "## digits · gaussian · learning curves · quick · 100/400 training images" in markdown
    assert "where augmentation starts to beat the baseline" in markdown
    assert "not tested: one seed cannot separate a gain from training noise" in markdown
    assert "(one seed: no interval)" in markdown
    figure = sweep / "figures" / "digits_gaussian_cnn-steps_learning_curves.png"
    assert figure.read_bytes()[:4] == b"\x89PNG"
    assert "learning curves of each family" in (sweep / "report.html").read_text()


def test_one_ranking_across_conditions_tops_the_reports_with_bootstrap_rank_intervals_and_no_test_on_one_dataset(
        sweep):
    ranking = pd.read_csv(sweep / "ranking.csv")
    assert list(dict.fromkeys(ranking["family"])) == ["overall", "reconstruction", "latent", "augmentation"]
    overall = ranking[ranking["family"] == "overall"]
    assert sorted(overall["model"]) == ["ae", "dae", "vae"] and set(overall["blocks"]) == {6}  # 2 sizes × 3 metrics
    assert (ranking["rank_low"] <= ranking["rank"]).all() and (ranking["rank"] <= ranking["rank_high"]).all()
    assert sorted(ranking.loc[ranking["family"] == "augmentation", "model"]) == ["ae", "baseline", "dae", "vae"]
    for family, rows in ranking.groupby("family"):  # Borda and the win rate order the models as the mean rank
        assert list(rows.sort_values("mean_rank")["model"]) == list(rows.sort_values("borda", ascending=False,
                                                                                    kind="stable")["model"])
        assert rows["friedman_p"].isna().all()  # one dataset: its conditions are not independent blocks
        assert rows["could_swap_with_above"].iloc[1:].all()  # one seed: no position is separated
    markdown = (sweep / "leaderboard.md").read_text()
    assert markdown.index("## Ranking across conditions") < markdown.index("## Verdict")
    assert "### Ranking · overall · quick · CNN compute-matched · 6 blocks" in markdown
    assert "no Friedman test: it needs independent blocks, one per dataset" in markdown
    html = (sweep / "report.html").read_text()
    assert html.index('id="ranking"') < html.index('id="verdict"')
    assert not list((sweep / "figures").glob("ranking_*_cd.png"))  # no post-hoc test, no diagram


def test_cost_sits_beside_quality_in_the_leaderboard_and_a_pareto_figure(sweep):
    from registry import load_registry

    board = pd.read_csv(sweep / "leaderboard.csv")
    models = board[board["model"] != "baseline"]
    assert models[["params", "flops_per_image", "train_s_per_epoch"]].notna().all().all()
    assert board.loc[board["model"] == "baseline", "params"].isna().all()
    spec = load_registry().spec("models", "vae")
    built = spec.factory((1, 8, 8))
    assert set(board.loc[board["model"] == "vae", "params"]) == {sum(p.numel() for p in built.parameters())}
    per_epoch = board[board["model"] == "ae"].set_index("train_size")["train_s_per_epoch"]
    assert per_epoch[400] > per_epoch[100]  # more images, longer epochs
    markdown = (sweep / "leaderboard.md").read_text()
    assert "## digits · cost per model" in markdown and "run `bench time` on it" in markdown
    html = (sweep / "report.html").read_text()
    assert 'id="cost"' in html and "quality against cost, Pareto front named" in html


def test_results_travel_as_json_and_import_into_an_empty_store_with_identical_leaderboards(sweep, tmp_path):
    import json

    document = json.loads((sweep / "results.json").read_text())
    assert document["schema"] == "bench.results" and document["schema_version"] == 2
    cell = next(c for c in document["cells"] if c["cell"]["model"] == "dae")
    psnr = next(m for m in cell["metrics"] if m["metric"] == "psnr")
    assert {"value", "ci95", "test"} <= set(psnr) and {"p_best", "p_adj", "mark", "rank"} <= set(psnr["leaderboard"])
    assert cell["provenance"]["torch"] and cell["cell"]["train_size"] in (100, 400)
    store = tmp_path / "imported.db"
    assert cli.main(["import", str(sweep / "results.json"), "--store", str(store)]) == 0
    out = tmp_path / "out"
    assert cli.main(["report", "--out", str(out), "--store", str(store), "--format", "md,csv"]) == 0
    for name in ("leaderboard.md", "leaderboard.csv", "ranking.csv", "learning_curves.csv"):
        assert (out / name).read_text() == (sweep / name).read_text(), name
    assert cli.main(["import", str(sweep / "results.json"), "--store", str(store)]) == 0  # all already there
    assert len(open_store(store).results()) == 14  # 8 cells, 6 of them kept in two records (bench.keys)


def test_an_imported_result_that_differs_from_the_stored_one_is_reported_and_kept_unless_replace(sweep, tmp_path,
                                                                                                capsys):
    import json

    store = tmp_path / "store.db"
    assert cli.main(["import", str(sweep / "results.json"), "--store", str(store)]) == 0
    document = json.loads((sweep / "results.json").read_text())
    changed = next(c for c in document["cells"] if c["cell"]["model"] == "vae")
    next(m for m in changed["metrics"] if m["metric"] == "psnr")["value"] = 99.0
    (tmp_path / "other.json").write_text(json.dumps(document))
    capsys.readouterr()
    assert cli.main(["import", str(tmp_path / "other.json"), "--store", str(store)]) == 1
    captured = capsys.readouterr()
    assert f"bench: conflict: {changed['cell']['key']}" in captured.err
    assert "0 records added, 13 already there, 1 conflicting (kept)" in captured.out
    psnr = lambda: next(m["value"] for r in open_store(store).results() if r.key == changed["cell"]["key"]  # noqa: E731
                        for m in r.metrics if m["metric"] == "psnr")
    assert psnr() != 99.0
    assert cli.main(["import", str(tmp_path / "other.json"), "--store", str(store), "--replace"]) == 0
    assert psnr() == 99.0


@pytest.mark.parametrize("sizes, expected", [
    ("0", "--train-sizes takes integers >= 1. Got 0 in '0'."),
    ("1.5", "--train-sizes takes integers >= 1 separated by commas. Got '1.5' instead."),
    ("100,99999", "digits has 1,347 training images. Got 99,999 instead."),
])
def test_a_bad_training_size_gets_one_line_and_exit_code_2(sizes, expected, tmp_path, capsys):
    code = cli.main(["run", "--datasets", "digits", "--models", "ae", "--train-sizes", sizes, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "results.db").exists()
