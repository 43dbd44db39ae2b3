"""Claims about metric families as plugins: results are kept per cell and family, a family is computed alone
when it is added or its version changes, a failing family fails alone, and stores written before migrate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import add_site, by_cell, make_distribution

from bench import cli
from bench.store import open_store

EPOCHS = ("--cnn-budget", "epochs")  # the cheap CNN budget (the CNN budget is part of a cell's key)
GRID = ["--executor", "local", "--datasets", "digits", "--models", "ae", "--noise", "gaussian", "--severities", "1",
        "--seeds", "1"]

THIRD_PARTY_FAMILY = '''
from registry import FamilySpec, Metric, hookimpl

L1 = Metric("recon_l1", "l1", False, "", "mean absolute error of the reconstruction per pixel", test="paired-t")
CALLS = []


def score(ctx):
    if {boom!r}:
        raise RuntimeError("the l1 family broke")
    recon = ctx.model(ctx.noisy_test).clamp(0, 1)
    return [L1.result((recon - ctx.test_x).abs().flatten(1).mean(1).detach())]


@hookimpl
def bench_families():
    return [FamilySpec("l1", {version!r}, "mean absolute error of the reconstruction", (L1,), score,
                       headline="recon_l1", cost=1.0)]
'''


def _family_site(root: Path, monkeypatch, version: str = "1", boom: bool = False) -> Path:
    """The distribution ``bench-l1`` with the family ``l1`` (a module of its own per call: this process may
    have imported another one's)."""
    module = f"bench_l1_{root.name}_{version}_{int(boom)}"
    site = make_distribution(root, "bench-l1", "0.1.0", module, THIRD_PARTY_FAMILY.format(version=version, boom=boom))
    add_site(site, monkeypatch)
    return site


def _runs(store_path: Path) -> dict[str, dict]:
    store = open_store(store_path)
    return {model: r.families for model, r in by_cell(store.results()).items()}


def _bench(capsys, *args: str) -> str:
    """``bench ARGS`` in this process (the claims here are about the store, not the process): its stderr."""
    code = cli.main(list(args))
    err = capsys.readouterr().err
    assert code == 0, err
    return err


def test_a_family_added_later_is_computed_alone_and_reuses_the_trained_model(tmp_path, capsys):
    _bench(capsys, "run", *GRID, *EPOCHS, "--out", str(tmp_path), "--quiet")
    stored = open_store(tmp_path).results()
    before = list(by_cell(stored).values())
    assert [sorted(r.families) for r in before] == [["downstream", "latent", "likelihood", "reconstruction"]]  # quick's
    again = _bench(capsys, "run", *GRID, *EPOCHS, "--families", "+augmentation", "--out", str(tmp_path))
    assert "2 cells: 2 computed (augmentation), 0 already in" in again
    records = open_store(tmp_path).results()
    assert {r.key for r in stored} <= {r.key for r in records}  # the records of the other families are as they were
    after = by_cell(records)
    ae = after["ae"]
    assert sorted(ae.families) == ["augmentation", "downstream", "latent", "likelihood", "reconstruction"]
    assert after["baseline"].families.keys() == {"augmentation"}  # the baseline's cell comes with the family
    old = before[0]
    assert all(ae.families[f] == old.families[f] for f in old.families)  # read back, not computed again
    assert {run.run_id for run in old.families.values()} == {1} and ae.families["augmentation"].run_id == 2
    computed = next(r for r in records if r.cell["model"] == "ae" and "augmentation" in r.families)
    assert computed.training.source == "checkpoint"  # the model was loaded, not trained again
    values = lambda rows: {m["metric"]: str(m["value"]) for m in rows if m["family"] != "augmentation"}  # noqa: E731
    assert values(ae.metrics) == values(old.metrics)  # NaN (not applicable) as 'nan'
    assert {"acc_clean", "acc_noisy"} <= {m["metric"] for m in ae.metrics}
    assert ae.figures.keys() >= {"tsne", "accuracy"}


def test_a_run_under_another_cnn_budget_reads_back_the_families_that_train_no_cnn(tmp_path, capsys):
    import pandas as pd

    chosen = ("--families", "reconstruction,augmentation", "--out", str(tmp_path))
    _bench(capsys, "run", *GRID, *EPOCHS, *chosen, "--quiet")
    again = _bench(capsys, "run", *GRID, "--cnn-budget", "epochs,steps", *chosen)
    assert "4 cells: 2 computed (augmentation), 2 already in" in again  # the steps budget's CNNs only
    records = open_store(tmp_path).results()
    kept = {f: [r for r in records if f in r.families] for f in ("reconstruction", "augmentation")}
    recon, = kept["reconstruction"]  # one record, whatever the budget, computed by the first run
    assert recon.cell["cnn_budget"] is None and recon.cell["precision"] is None
    assert "cnn_budget" not in recon.cell["profile_params"] and recon.families["reconstruction"].run_id == 1
    assert sorted((r.cell["model"], r.cell["cnn_budget"]) for r in kept["augmentation"]) == [
        ("ae", "epochs"), ("ae", "steps"), ("baseline", "epochs"), ("baseline", "steps")]
    # the reports show the one result under each budget, beside that budget's CNNs
    ae = pd.read_csv(tmp_path / "leaderboard.csv").query("model == 'ae'").set_index("cnn_budget")
    assert ae.loc["epochs", "psnr"] == ae.loc["steps", "psnr"]
    assert ae.loc["epochs", "acc_noisy"] != ae.loc["steps", "acc_noisy"]


def test_cells_that_differ_only_in_the_cnn_budget_compute_the_other_families_once():
    import dataclasses

    from bench.data import load
    from bench.grid import plan
    from bench.profiles import get_profile
    from bench.store import Store, pending
    from registry import load_registry

    registry = load_registry()
    cells = plan(registry, datasets=["digits"], models=[("ae", {})], noises=[("gaussian", {})], severities=[1],
                 seeds=[0], profile=get_profile("quick"), budgets=["converged", "steps"],
                 loaded={"digits": load(registry.spec("datasets", "digits"))},
                 families=["reconstruction", "downstream", "augmentation"])
    versions = {e.name: e.spec.version for e in registry.list("families")}
    todo = pending(Store(":memory:"), cells, versions, None)
    computed = [(c.model, c.profile.cnn_budget, f) for c in todo for f in c.families]
    assert sorted(computed) == sorted([("baseline", "converged", "augmentation"), ("baseline", "steps", "augmentation"),
                                       ("ae", "converged", "reconstruction"), ("ae", "converged", "downstream"),
                                       ("ae", "converged", "augmentation"), ("ae", "steps", "augmentation")])
    ae = [c for c in cells if c.model == "ae"]
    assert ae[0].key_of_family("reconstruction") == ae[1].key_of_family("reconstruction") != ae[0].key
    assert ae[0].key_of_family("augmentation") == ae[0].key != ae[1].key_of_family("augmentation")
    # the reference classifier's family reads the precision and its converged schedule, not the budget
    assert ae[0].key_of_family("downstream") == ae[1].key_of_family("downstream") not in (
        ae[0].key_of_family("reconstruction"), ae[0].key)
    bf16 = dataclasses.replace(ae[0], profile=ae[0].profile.with_protocol(precision="bf16"))
    assert bf16.key_of_family("reconstruction") == ae[0].key_of_family("reconstruction")
    assert bf16.key_of_family("downstream") != ae[0].key_of_family("downstream")


def test_a_third_party_familys_headline_is_marked_and_ranked_as_a_built_in_ones(tmp_path, monkeypatch):
    import pandas as pd

    _family_site(tmp_path / "site", monkeypatch)
    grid = [*GRID[:5], "ae,vae", *GRID[6:]]
    assert cli.main(["run", *grid, "--families", "l1", "--seeds", "2", "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert open_store(tmp_path / "out").catalogue()["l1"]["headline"] == "recon_l1"
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert set(board["recon_l1_mark"].dropna()) <= {"best", "possibly best", "behind"}
    assert board["recon_l1_mark"].notna().all()  # two seeds: every row tested on its headline
    text = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "Ranking · l1 (recon_l1)" in text and "- l1 (recon_l1 ↓): s1:" in text


def test_a_family_whose_version_changed_is_computed_again_and_the_others_are_read_back(tmp_path, monkeypatch):
    site = _family_site(tmp_path / "v1", monkeypatch)
    assert cli.main(["run", *GRID, "--families", "reconstruction,l1", "--out", str(tmp_path / "out"), "--quiet"]) == 0
    first = _runs(tmp_path / "out")["ae"]
    assert first["l1"].version == "1" and first["l1"].status == "done"
    monkeypatch.syspath_prepend(str(_family_site(tmp_path / "v2", monkeypatch, version="2")))
    shutil.rmtree(site)  # the distribution upgraded: one version installed
    assert cli.main(["run", *GRID, "--families", "reconstruction,l1", "--out", str(tmp_path / "out"), "--quiet"]) == 0
    second = _runs(tmp_path / "out")["ae"]
    assert second["l1"].version == "2" and second["reconstruction"] == first["reconstruction"]
    assert cli.main(["run", *GRID, "--families", "reconstruction,l1", "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert _runs(tmp_path / "out")["ae"] == second  # nothing left to compute


def test_a_family_that_raises_fails_alone_and_the_cells_other_families_are_stored(tmp_path, monkeypatch, capsys):
    _family_site(tmp_path / "site", monkeypatch, boom=True)
    code = cli.main(["run", *GRID, "--families", "reconstruction,l1", "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "digits/ae/gaussian@1/seed0 [l1 family]: RuntimeError: the l1 family broke" in err
    (cell,) = open_store(tmp_path / "out").results()
    assert cell.status == "done" and cell.families["reconstruction"].status == "done"
    assert cell.families["l1"].status == "failed" and "the l1 family broke" in cell.families["l1"].traceback
    assert {m["family"] for m in cell.metrics} == {"reconstruction"}
    assert cli.main(["report", "--out", str(tmp_path / "out"), "--format", "csv"]) == 0
    assert f"bench: failed l1 family of cell {cell.key}" in capsys.readouterr().err
    assert cli.main(["show", cell.key[:8], "--out", str(tmp_path / "out")]) == 0
    shown = capsys.readouterr().out
    assert "family l1 (version 1): failed: RuntimeError: the l1 family broke" in shown
    assert "traceback of the l1 family:" in shown and 'raise RuntimeError("the l1 family broke")' in shown


@pytest.mark.parametrize("families, expected", [
    ("nosuch", "unknown metric family 'nosuch'"),
    ("likelihood", "the likelihood family needs models with posterior, and none of ae declares it"),
    (",", "--families takes family names separated by commas"),
    ("+augmentation,-nosuch", "unknown metric family 'nosuch'"),
    ("+latent,-reconstruction,-latent,-downstream,-likelihood", "--families leaves no family to compute"),
])
def test_an_unknown_family_or_one_no_selected_model_serves_gets_one_line_and_exit_2(families, expected, tmp_path,
                                                                                   capsys):
    assert cli.main(["run", *GRID, "--families", families, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    assert not (tmp_path / "results.db").exists()  # before any work


def test_a_store_written_before_results_were_kept_per_family_migrates_and_its_cells_count_as_computed(tmp_path,
                                                                                                     capsys):
    # tests/data/store_v4.db: `bench run --datasets digits --models ae,vae --noise gaussian --severities 1
    # --cnn-budget epochs` of schema 4, whose keys hashed the profile's summary
    import sqlite3

    store = tmp_path / "results.db"
    shutil.copy(Path(__file__).parent / "data" / "store_v4.db", store)
    with sqlite3.connect(store) as con:
        before = sorted((model, metric, str(float("nan") if value is None else value)) for model, metric, value in
                        con.execute("SELECT c.model, m.metric, m.value FROM metrics m JOIN cells c ON c.key = m.cell_key"))
        order = [m for (m,) in con.execute("SELECT m.metric FROM metrics m JOIN cells c ON c.key = m.cell_key WHERE "
                                           "c.model = 'ae' AND m.family = 'latent' ORDER BY m.rowid")]
    again = _bench(capsys, "run", "--seeds", "1", "--datasets", "digits", "--models", "ae,vae", "--noise", "gaussian",
                   "--severities", "1", "--cnn-budget", "epochs", "--families",
                   "reconstruction,latent,likelihood,augmentation,generative", "--store", str(store), "--out",
                   str(tmp_path))
    assert "3 cells: 0 computed, 3 already in" in again
    records = open_store(store).results()  # every value kept, the families that train no CNN in a record of their own
    assert sorted((r.cell["model"], m["metric"], str(m["value"])) for r in records for m in r.metrics) == before
    latent = next(r for r in records if r.cell["model"] == "ae" and "latent" in r.families)
    assert [m["metric"] for m in latent.metrics if m["family"] == "latent"] == order  # the reports' column order
    assert {(r.cell["model"], r.cell["cnn_budget"], tuple(sorted(r.families))) for r in records} == {
        ("baseline", "epochs", ("augmentation",)), *((m, "epochs", ("augmentation", "generative")) for m in ("ae", "vae")),
        *((m, None, ("latent", "likelihood", "reconstruction")) for m in ("ae", "vae"))}
    runs = _runs(store)
    assert runs["baseline"].keys() == {"augmentation"} and all(run.version == "1" for run in runs["vae"].values())
    assert set(runs["vae"]["generative"].artifacts) == {"prior_samples.npy"}
    catalogue = open_store(store).catalogue()  # what the reports read: the built-in families that computed them
    assert list(catalogue) == ["reconstruction", "latent", "likelihood", "augmentation", "generative"]
    assert catalogue["augmentation"]["headline"] == "acc_noisy" and catalogue["augmentation"]["baseline"]


def test_a_results_document_of_an_older_bench_imports_with_its_families_counted_as_computed(tmp_path):
    import json

    from bench.document import import_document, read_document, write_document

    store = tmp_path / "v4.db"
    shutil.copy(Path(__file__).parent / "data" / "store_v4.db", store)
    path = write_document(open_store(store), tmp_path / "results.json")
    raw = json.loads(path.read_text())
    for cell in raw["cells"]:  # as a bench that kept no families wrote it, under the keys it gave
        cell.pop("families", None)
        cell["cell"]["key"] = "0" * 20 if cell["cell"]["model"] == "ae" else cell["cell"]["key"]
    path.write_text(json.dumps(raw))
    fresh = open_store(tmp_path / "fresh.db")
    summary = import_document(read_document(path), fresh)
    assert len(summary.added) == 5  # baseline, and ae and vae each in a record with a CNN protocol and one without
    runs = {r.cell["model"]: (r.key, r.families) for r in fresh.results() if r.cell["cnn_budget"]}
    assert runs["ae"][0] == next(r.key for r in open_store(store).results()
                                 if r.cell["model"] == "ae" and r.cell["cnn_budget"])  # re-keyed
    ae = by_cell(fresh.results())["ae"].families
    assert sorted(ae) == ["augmentation", "generative", "latent", "likelihood", "reconstruction"]
    assert all(run.version == "1" and run.run_id == 1 for run in ae.values())


def test_a_catalogue_stored_before_the_drawing_declarations_draws_as_the_installed_family_of_its_version():
    from reports.leaderboard import declared, installed_catalogue, results_frame

    installed = installed_catalogue()
    older = {name: {k: v for k, v in entry.items() if k not in ("by_severity", "severity_figure", "plots", "contrasts")}
             for name, entry in installed.items()}
    older["generative"] = {**older["generative"], "version": "0"}  # another version: not filled in
    found = declared(results_frame([], older))
    assert found["augmentation"]["severity_figure"] == "accuracy" and found["augmentation"]["by_severity"] == "acc_sev{}"
    assert "plots" not in found["generative"]


def test_a_minus_leaves_one_of_the_profiles_families_out_and_a_plus_adds_one():
    from bench.families_selection import parse_families
    from registry import load_registry

    registry, quick = load_registry(), ("reconstruction", "latent", "downstream", "likelihood")
    assert parse_families("-downstream", registry, quick)[0] == ["reconstruction", "latent", "likelihood"]
    assert parse_families("+augmentation,-downstream", registry, quick) == (
        ["reconstruction", "latent", "likelihood", "augmentation"], ["augmentation"])  # only the added are named
    every = parse_families("all", registry, quick)[0]
    assert parse_families("all,-downstream", registry, quick)[0] == [f for f in every if f != "downstream"]


def test_a_minus_given_as_its_own_argument_gets_one_line_saying_to_write_it_with_an_equals_sign(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", *GRID, "--families", "-downstream", "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--families=-downstream" in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "results.db").exists()


def test_a_family_an_earlier_bench_described_without_its_cnn_flags_is_keyed_as_the_installed_one_or_by_everything():
    from bench.keys import CNN, PLAIN, REFERENCE, scopes_of
    from reports.leaderboard import installed_catalogue

    installed = installed_catalogue()
    older = {name: {k: v for k, v in installed[name].items() if k not in ("trains_cnn", "reference")}
             for name in ("reconstruction", "downstream", "generative")}
    older["l1"] = {"name": "l1", "version": "1"}  # a third party's, not installed here
    older["latent"] = {**installed["latent"], "version": "0"}  # another version than the installed one's
    del older["latent"]["trains_cnn"]
    assert scopes_of(older) == {"reconstruction": PLAIN, "downstream": REFERENCE, "generative": CNN, "l1": CNN,
                                "latent": CNN}
