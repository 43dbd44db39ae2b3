"""Claims about what the reports say: intervals over seeds, which gaps a paired test supports, the HTML
page (escaped, self-contained, readable in a real browser) and plain progress lines."""

from __future__ import annotations

import json
import math
import re
import shutil

import pandas as pd
import pytest
from conftest import CHEAP_CNN, run_bench
from scipy import stats

from bench.result import CellResult
from bench.store import Store
from reports import leaderboard_frame, results_frame, write_reports
from reports.significance import compare_seeds
from reports.stats import summarise


def _record(model: str, seed: int, value: float, *, status: str = "done", reason: str | None = None) -> dict:
    key = f"{model}-{seed}"
    metrics = [] if status != "done" else [
        {"metric": "acc_noisy", "family": "augmentation", "value": value, "ci95": 0.01, "n": 100, "higher_is_better": True,
         "unit": "", "detail": False, "note": None}]
    cell = {"key": key, "dataset": "toy", "model": model, "noise": "gaussian", "severity": 1, "seed": seed,
            "profile": "quick", "model_params": {}, "noise_params": {"sigma": 0.1}}
    return {"cell": cell, "status": status, "reason": reason, "metrics": metrics, "input_psnr": 20.0,
            "provenance": {"host": "h", "started": "2026-01-01T00:00:00", "ended": "2026-01-01T00:00:01"},
            "wall_s": 1.0}


SCORES = {"a": (0.80, 0.81, 0.82), "b": (0.79, 0.83, 0.80), "c": (0.70, 0.71, 0.72), "d": (0.78, 0.79, 0.805)}


@pytest.fixture
def constructed():
    records = [_record(m, seed, v) for m, values in SCORES.items() for seed, v in enumerate(values)]
    return leaderboard_frame(results_frame([CellResult.from_record(r) for r in records])).set_index("model"), records


def test_the_interval_over_seeds_is_students_t_on_their_mean():
    s = summarise([1.0, 2.0, 3.0])
    half = stats.t.ppf(0.975, 2) / math.sqrt(3)
    assert (s.mean, s.std, s.seeds) == (2.0, 1.0, 3)
    assert s.low == pytest.approx(2 - half) and s.high == pytest.approx(2 + half)
    one = summarise([0.5], ci95_one_seed=0.1)
    assert math.isnan(one.std) and (one.low, one.high) == pytest.approx((0.4, 0.6))


def test_without_per_image_values_the_paired_test_pairs_values_by_seed():
    assert compare_seeds({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}).p == 1.0  # identical
    # a constant gap: a t is infinite there; the answer is what a sign-flip test over the seeds can say (2 / 2^k)
    assert compare_seeds({0: 1.0, 1: 2.0}, {0: 0.5, 1: 1.5}).p == 0.5
    assert math.isnan(compare_seeds({0: 1.0}, {0: 2.0}).p)  # one seed: no test
    a, b = {0: 0.80, 1: 0.81, 2: 0.82}, {0: 0.79, 1: 0.83, 2: 0.80}
    found = compare_seeds(b, a)
    assert found.p == pytest.approx(stats.ttest_rel([0.79, 0.83, 0.80], [0.80, 0.81, 0.82]).pvalue)
    assert found.test == "paired t over seeds (3)"


def test_the_leaderboard_shows_mean_std_and_interval_over_seeds(constructed):
    board, _ = constructed
    a = board.loc["a"]
    half = stats.t.ppf(0.975, 2) * 0.01 / math.sqrt(3)
    assert a["seeds"] == 3 and a["acc_noisy"] == pytest.approx(0.81) and a["acc_noisy_std"] == pytest.approx(0.01)
    assert (a["acc_noisy_ci_low"], a["acc_noisy_ci_high"]) == pytest.approx((0.81 - half, 0.81 + half))
    assert a["acc_noisy_ci95"] == pytest.approx(half)


def test_rows_that_could_be_the_best_are_marked_and_rows_beaten_on_every_seed_are_not(constructed, tmp_path):
    board, records = constructed
    assert board.loc["a", "acc_noisy_rank"] == 1
    assert board.loc["a", "acc_noisy_mark"] == "possibly best" and board.loc["b", "acc_noisy_mark"] == "possibly best"
    assert board.loc["c", "acc_noisy_mark"] == "behind"  # 10 points worse on every seed
    assert board.loc["d", "acc_noisy_tied"] == (board.loc["d", "acc_noisy_p_adj"] >= 0.05)
    store = Store(tmp_path / "results.db")
    for record in records:
        store.add(CellResult.from_record(record))
    write_reports(store, tmp_path, ("md",))
    rows = {line.split("|")[2].strip(): line for line in (tmp_path / "leaderboard.md").read_text().splitlines()
            if line.startswith("| 1 ")}
    assert "**" not in rows["a"]  # two rows could be the best: neither is bold
    assert rows["a"].rstrip(" |").endswith("≈") and rows["b"].rstrip(" |").endswith("≈") and "≈" not in rows["c"]


def test_one_seed_marks_nothing_and_says_what_the_claim_needs(tmp_path):
    store = Store(tmp_path / "results.db")
    for model, values in SCORES.items():
        store.add(CellResult.from_record(_record(model, 0, values[0])))
    write_reports(store, tmp_path, ("md",))
    markdown = (tmp_path / "leaderboard.md").read_text()
    rows = [line for line in markdown.splitlines() if line.startswith("| 1 ")]
    assert rows and not any("**" in row or "≈" in row for row in rows)
    assert "No row is marked: with 1 seed" in markdown and "--seeds 3" in markdown


def test_the_html_report_escapes_text_that_plugins_provide(tmp_path):
    store = Store(tmp_path / "results.db")
    store.add(CellResult.from_record(_record("<script>alert(1)</script>", 0, 0.5)))
    store.add(CellResult.from_record(_record("b", 0, 0.4, status="failed", reason="<img src=x onerror=alert(2)>")))
    write_reports(store, tmp_path, ("html",))
    page = (tmp_path / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page and "<img src=x" not in page


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    result = run_bench("run", *CHEAP_CNN, "--datasets", "digits", "--models", "ae,vae", "--noise", "gaussian", "--severities",
                       "1,3", "--seeds", "2", "--executor", "local", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result


def test_the_html_report_is_one_self_contained_page_with_every_part(small_run):
    out, _ = small_run
    page = (out / "report.html").read_text()
    for heading in ("Runs", "digits · gaussian", "Training curves", "Figures of the evaluation suite",
                    "Provenance per cell", "reconstruction", "latent separability", "augmentation"):
        assert heading in page, heading
    images = re.findall(r'<img alt="([^"]*)" src="([^"]{0,30})', page)
    assert all(src.startswith("data:image/png;base64,") for _, src in images)
    captions = " ".join(alt for alt, _ in images)
    for part in ("clean / noisy / reconstructed", "training loss", "at matched severity", "tsne", "traversal"):
        assert part in captions, part
    assert "http://" not in page and "https://" not in page


def test_progress_is_plain_lines_without_control_characters_when_not_a_terminal(small_run):
    _, result = small_run
    lines = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert lines and re.fullmatch(r"\[1/\d+\] digits/baseline/gaussian@1/seed0/cnn-epochs: done in [\d.]+s "
                                  r"\(eta (\d+m)?\d+s\)", lines[0])
    assert "\r" not in result.stderr and "\x1b" not in result.stderr


CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no headless Chromium here (apt-get install chromium "
                                                      "chromium-driver)")
def test_the_html_report_shows_its_tables_and_images_in_headless_chromium(small_run, tmp_path):
    from matplotlib import image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    out, _ = small_run
    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        driver.get((out / "report.html").as_uri())
        assert driver.title == "bench report"
        tables = driver.execute_script("return document.querySelectorAll('table').length")
        rows = driver.execute_script("return document.querySelectorAll('table tr').length")
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])")
        shot = tmp_path / "report.png"
        driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    assert tables >= 6 and rows > 0  # runs, four metric families, provenance
    assert len(images) >= 6 and all(complete and width > 0 for complete, width, _ in images), images
    pixels = image.imread(shot)
    assert pixels.shape[0] >= 600 and pixels.std() > 0.05  # a rendered page, not a blank one


def _protocol_records(seeds: int) -> tuple[list[CellResult], dict]:
    """The baseline and vae under two CNN protocols with per-image correctness on 2,000 test images: under
    equal epochs the samples add 60 right answers on every seed (clean, and noisy at s3), under the
    converged protocol they cost 60; at s1 the gains are tiny and flip from seed to seed."""
    from test_significance import better_by, correctness

    from bench.store import Items

    cells, items = [], {}
    for seed in range(seeds):
        base = {"clean": correctness(1600, 2000, seed=seed), 1: correctness(1400, 2000, seed=10 + seed),
                3: correctness(1200, 2000, seed=20 + seed)}
        for budget, sign in (("converged", -1), ("epochs", 1)):
            shift = {"clean": sign * 60, 1: (1 if seed % 2 else -1) * 3, 3: sign * 60}
            for model in ("baseline", "vae"):
                vectors = base if model == "baseline" else {
                    k: better_by(v, max(shift[k], 0) + 40, max(-shift[k], 0) + 40, seed=seed) for k, v in base.items()}
                for severity in (1, 3):
                    key = f"{model}-{budget}-{severity}-{seed}"
                    record = _record(model, seed, float(vectors[severity].mean()))
                    record["cell"].update(key=key, cnn_budget=budget, precision="fp32", severity=severity,
                                          profile_params={"cnn_converged_epochs": 20, "cnn_min_steps": 500,
                                                          "cnn_epochs": 1, "augment_k": 2})
                    noisy = record["metrics"][0]
                    noisy.update(test="mcnemar", items="acc_noisy")
                    record["metrics"].append({**noisy, "metric": "acc_clean", "items": "acc_clean",
                                              "value": float(vectors["clean"].mean())})
                    items[(key, "acc_noisy")] = Items("toy-test", vectors[severity])
                    items[(key, "acc_clean")] = Items("toy-test", vectors["clean"])
                    cells.append(CellResult.from_record(record))
    return cells, items


def test_the_verdict_says_where_two_cnn_protocols_disagree_on_the_sign_of_a_gain_only_with_support():
    from reports import leaderboard_frame as board_of
    from reports.verdict import verdict

    cells, items = _protocol_records(3)
    frame = results_frame(cells)
    lines = [line for block in verdict(board_of(frame, items), frame, cells, items) for line in block.lines]
    flips = [line for line in lines if "the sign depends on the protocol" in line]
    assert len([line for line in flips if "clean-accuracy gain" in line]) == 1  # said once: one CNN per protocol
    # each of the two gains is supported on its own (its p, Holm over its protocol's gains), with opposite signs
    assert any(line.startswith("toy · gaussian · vae: clean-accuracy gain -3.0 points under converged (p = ")
               and ", +3.0 under equal-epochs (p = " in line for line in flips), flips
    assert any("s3 noisy-accuracy gain -3.0 points under converged (p = " in line for line in flips)
    assert not any("s1 noisy-accuracy" in line for line in flips)  # a flip of noise is not a claim
    assert any(line.startswith("samples from vae change clean accuracy by -3.0 points (p = ") and "converged" in line
               for line in lines), lines

    one_cells, one_items = _protocol_records(1)
    frame = results_frame(one_cells)
    lines = [line for block in verdict(board_of(frame, one_items), frame, one_cells, one_items)
             for line in block.lines]
    assert not any("the sign depends on the protocol" in line for line in lines)
    assert any("needs --seeds 2 or more" in line for line in lines)
    assert any("(one seed: not tested): clean accuracy -3.0" in line for line in lines), lines


def test_a_store_from_before_per_image_values_still_reports_and_says_once_that_its_marks_need_a_rerun(tmp_path):
    import sqlite3

    from bench.store import MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "results.db"
    with sqlite3.connect(path) as con:  # a version 2 store as the previous bench wrote it
        for version in (1, 2):
            for statement in MIGRATIONS[version]:
                con.execute(statement)
        con.execute("PRAGMA user_version = 2")
        for model, acc in (("a", 0.81), ("b", 0.80)):
            cell = {"key": model, "dataset": "toy", "model": model, "noise": "gaussian", "severity": 1, "seed": 0,
                    "profile": "quick", "model_params": {}, "noise_params": {}, "profile_params": {"cnn_epochs": 1}}
            con.execute("INSERT INTO cells (key, dataset, model, noise, severity, seed, profile, status, params,"
                        " provenance, extra) VALUES (?, 'toy', ?, 'gaussian', 1, 0, 'quick', 'done', ?, '{}', '{}')",
                        (model, model, json.dumps(cell)))
            con.execute("INSERT INTO metrics (cell_key, metric, family, value, ci95, n, higher_is_better, unit,"
                        " detail, note) VALUES (?, 'acc_clean', 'downstream', ?, 0.01, 2000, 1, '', 0, NULL)",
                        (model, acc))
    store = Store(path)
    write_reports(store, tmp_path, ("md", "csv", "html"))
    assert store.schema_version == SCHEMA_VERSION
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert markdown.count("did not keep per-image values") == 1 and "≈" not in markdown.split("## toy")[1]
    assert "CNN equal epochs: 1 each" in markdown  # such a store ran the protocol as published
    assert (tmp_path / "report.html").read_text().count("did not keep per-image values") == 1
    board = pd.read_csv(tmp_path / "leaderboard.csv").set_index("model")
    assert board.loc["b", "acc_clean_rank"] == 2 and pd.isna(board.loc["b", "acc_clean_p_best"])


def test_a_report_of_a_store_that_mixes_cnn_precisions_says_so():
    from bench.result import CellResult, Timings
    from reports.notices import precision_notice

    def cell(key, precision):
        return CellResult({"key": key, "precision": precision}, "done", None, {}, Timings(1.0))

    assert precision_notice([cell("a", "fp32"), cell("b", "fp32")]) is None
    notice = precision_notice([cell("a", "fp32"), cell("b", "bf16"), cell("c", "bf16")])
    assert "mixes CNN precisions (bf16: 2 cells, fp32: 1 cells)" in notice
