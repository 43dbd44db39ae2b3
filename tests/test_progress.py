"""Claims about progress: the ETA weights cells by their expected cost and counts every worker."""

from __future__ import annotations

import io

import pytest
import torch

from bench import cost, progress
from bench.grid import BASELINE, Cell
from bench.profiles import get_profile


@pytest.fixture
def clock(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: now[0])
    return now


def test_the_eta_weights_the_cells_still_to_come_by_their_cost_not_their_number(clock):
    bar = progress.Progress(stream=io.StringIO())
    bar.begin(total=2, cost=100.0)
    clock[0] = 80.0
    bar.end_cell("dear", "done", 80.0, cost=80.0)  # one cell of two, but 80% of the work
    assert bar.eta() == "20s"


def test_with_several_workers_the_eta_shares_the_work_left_between_them(clock):
    bar = progress.Progress(stream=io.StringIO())
    bar.begin(total=10, cost=100.0, workers=2)
    clock[0] = 50.0
    bar.end_cell("first", "done", 50.0, cost=10.0)  # the other worker is half-way through its own cell
    # 90 units at 5 s a unit on each of 2 workers; the time since the start alone would say 450 s
    assert bar.eta() == "3m45s"


def test_the_eta_ends_with_the_last_worker_the_running_cells_counted_from_where_they_are(clock):
    bar = progress.Progress(stream=io.StringIO())
    bar.begin(total=4, cost=60.0, workers=2)
    clock[0] = 10.0
    # a cell of cost 10 took 10 s; the other worker's cell (30) has run those 10 s, two of cost 10 wait: the free
    # worker takes both while the other ends its own, so 20 s are left, not the 25 s of 50 units on two workers
    bar.end_cell("first", "done", 10.0, cost=10.0, left=progress.Left(running=((30.0, 10.0, 0.0),),
                                                                        queued=(10.0, 10.0)))
    assert bar.eta() == "20s"
    # a grid's last cell runs alone: it has 20 of its 30 s left, however many workers are idle
    bar.end_cell("second", "done", 10.0, cost=10.0, left=progress.Left(running=((30.0, 10.0, 0.0),)))
    assert bar.eta() == "20s"
    # one that has run past its expected time is about to end
    bar.end_cell("third", "done", 10.0, cost=10.0, left=progress.Left(running=((30.0, 45.0, 0.0),)))
    assert bar.eta() == "0s"
    # a worker's task goes on with its later cells
    assert progress.finish(progress.Left(running=((10.0, 4.0, 20.0),)), rate=1.0, workers=2) == 26.0


def test_the_driver_tells_the_eta_what_is_left_in_the_order_it_starts(tmp_path, monkeypatch):
    from bench import cli

    seen = []
    real = progress.Progress.end_cell

    def end_cell(self, label, status, seconds, cost=1.0, total=None, left=None):
        seen.append((cost, left))
        real(self, label, status, seconds, cost, total, left)

    monkeypatch.setattr(progress.Progress, "end_cell", end_cell)
    assert cli.main(["run", "--datasets", "digits", "--models", "ae,vae", "--noise", "gaussian", "--severities", "1,2",
                     "--seeds", "1", "--families", "reconstruction", "--executor", "local", "--quiet",
                     "--format", "csv", "--out", str(tmp_path)]) == 0
    costs = [c for c, _ in seen]
    assert len(seen) == 4 and all(left.running == () for _, left in seen)  # one process: nothing runs beside it
    assert [left.queued for _, left in seen] == [tuple(costs[i + 1:]) for i in range(4)]
    assert costs[0] > costs[1]  # the first cell of a model trains it


def test_each_cell_line_names_the_cell_its_time_and_the_eta(clock):
    stream = io.StringIO()
    bar = progress.Progress(stream=stream)
    bar.begin(total=2, cost=2.0)
    clock[0] = 4.2
    first = stream.getvalue()
    bar.end_cell("digits/ae/gaussian@1/seed0", "done", 4.2, cost=1.0)
    assert first.startswith("computing 2 cells on 1 worker;")  # at once, not after the first cell
    assert stream.getvalue()[len(first):] == "[1/2] digits/ae/gaussian@1/seed0: done in 4.2s (eta 4s)\n"


def test_the_baseline_cnn_a_shared_model_and_cnns_on_shared_samples_are_charged_once_to_the_first_cell():
    from bench.families import BUILTIN

    families = {f.name: f for f in BUILTIN}
    profile = get_profile("quick")
    everything = tuple(families)
    cell = lambda model, noise, sees=False, generates=False: Cell(  # noqa: E731
        "digits", model, noise, 1, 0, profile, model_sees_noise=sees, model_generates=generates,
        families=("augmentation",) if model == BASELINE else everything)
    grid = [cell(BASELINE, "gaussian"), cell("vae", "gaussian", generates=True), cell("vae", "erasing", generates=True),
            cell("dvae", "gaussian", True, True), cell("dvae", "erasing", True, True),
            cell("ae", "gaussian"), cell("ae", "erasing")]
    costs = cost.expected_costs(grid, families)
    base = cost.STEP_S * profile.cnn_steps(profile.train_size)
    augmented = cost.STEP_S * cost.cnn_steps(grid[1], augmented=True)  # a CNN on the subset and its samples
    on_samples = augmented * profile.augment_k / (1 + profile.augment_k)  # one on the samples alone
    own = {"augmentation": 5.0, "generative": 30.0}  # each cell's own passes, besides the shared CNNs
    scoring = sum(own.get(f.name, cost.family_cost(f, grid[1])) for f in families.values())
    keys = [c.key for c in grid]
    assert costs[keys[0]] == base + cost.family_cost(families["augmentation"], grid[0])
    assert costs[keys[1]] == cost.MODEL_TRAINING + scoring + augmented + on_samples
    assert costs[keys[2]] == scoring  # vae trained once, and its samples drawn once, for both noises
    # one dvae per noise, so its own samples and CNNs
    assert costs[keys[3]] == costs[keys[4]] == cost.MODEL_TRAINING + scoring + augmented + on_samples
    # ae is trained once but reconstructs corrupted copies of each noise: samples, and CNNs, per noise
    assert costs[keys[5]] == cost.MODEL_TRAINING + scoring + augmented + on_samples
    assert costs[keys[6]] == scoring + augmented + on_samples
    assert augmented > 20 * sum(cost.family_cost(families[f], grid[1]) for f in profile.families)  # quick pays little


def test_on_a_terminal_a_failed_cell_is_named_above_the_bar_at_once():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = progress.Progress(stream=stream)
    bar.begin(total=2)
    bar.end_cell("digits/ae/gaussian@1/seed0", "done", 1.0)
    bar.end_cell("digits/flat_ae/gaussian@1/seed0", "failed: reconstruction (forward gave shape (4, 64)); latent done",
                 1.0)
    bar.close()
    shown = stream.getvalue()
    assert "digits/flat_ae/gaussian@1/seed0: failed: reconstruction (forward gave shape (4, 64)); latent done\n" in shown
    assert "digits/ae/gaussian@1/seed0: done" not in shown  # a cell that ended well is the bar's, not a line


def test_a_missing_feature_network_is_charged_once_to_the_first_cell_that_uses_it():
    from bench.families import BUILTIN

    families = {f.name: f for f in BUILTIN}
    profile = get_profile("quick")
    cell = lambda model, noise, fams: Cell("digits", model, noise, 1, 0, profile, families=fams)  # noqa: E731
    grid = [cell("ae", "gaussian", ("reconstruction",)), cell("ae", "erasing", ("generative",)),
            cell("vae", "gaussian", ("generative",))]
    without = cost.expected_costs(grid, families)
    charged = cost.expected_costs(grid, families, {"digits": 1407})
    keys = [c.key for c in grid]
    assert charged[keys[0]] == without[keys[0]]  # the reconstruction family does not use it
    assert charged[keys[1]] == without[keys[1]] + cost.STEP_S * 1407
    assert charged[keys[2]] == without[keys[2]]  # trained once per machine, by the first cell
    assert cost.expected_costs(grid, families, {"digits": 0}) == without  # its checkpoint is on this machine
    # and then no cell waits on the first one for it
    assert cost.plan_work(grid, families, {"digits": 1407}).waits_on(keys[2]) == {keys[1]}
    assert cost.plan_work(grid, families, {"digits": 0}).waits_on(keys[2]) == set()


def test_shared_work_a_cell_did_itself_is_counted_done_with_it_not_with_the_running_cell_it_was_charged_to():
    from bench.families import BUILTIN
    from bench.result import CellResult, CnnUse, Timings, cnn_steps

    families = {f.name: f for f in BUILTIN}
    profile = get_profile("quick")
    cell = lambda model: Cell("digits", model, "gaussian", 1, 0, profile,  # noqa: E731
                              families=("downstream", "augmentation"))
    grid = [cell("ae"), cell("vae"), cell("dae")]
    keys = [c.key for c in grid]
    work = cost.plan_work(grid, families)
    planned = dict(work.costs)
    classifier = cost.STEP_S * profile.cnn_steps(profile.train_size)  # also the augmentation baseline (converged)
    assert work.charged_to[cost._baseline(grid[0], "converged")] == keys[0]
    # two workers start together and vae's cell trains the classifier the plan charged to ae's: its downstream
    # family trained it, its augmentation family then found it in memory
    uses = {"reference": CnnUse(500, "trained"), "baseline": CnnUse(500, "memory"), "augmented": CnnUse(1180)}
    did = CellResult(grid[1].describe(), "done", None, {}, Timings(60.0), cnn=cnn_steps(uses, 0))
    work.recharge(keys[1], cost.sources(grid[1], did), ended=set())
    assert work.costs[keys[1]] == pytest.approx(planned[keys[1]] + classifier)
    assert work.costs[keys[0]] == pytest.approx(planned[keys[0]] - classifier)
    assert sum(work.costs.values()) == pytest.approx(sum(planned.values()))  # the run's total is unchanged
    assert work.waits_on(keys[2]) == {keys[1]}
    # ae's cell, ending later on vae's checkpoint, is charged with it no more: nothing moves; and a cell that ended
    # before the one that trained it keeps the charge it was counted done with
    found = CellResult(grid[0].describe(), "done", None, {}, Timings(1.0), cnn=cnn_steps(
        {"reference": CnnUse(500, "checkpoint"), "baseline": CnnUse(500, "checkpoint")}, 0))
    before = dict(work.costs)
    work.recharge(keys[0], cost.sources(grid[0], found), ended={keys[1]})
    assert work.costs == before
    again = cost.plan_work(grid, families)
    again.recharge(keys[1], cost.sources(grid[1], did), ended={keys[0]})
    assert again.costs == planned


def test_shared_work_the_charged_cell_found_done_leaves_the_total_until_the_cell_that_did_it_ends():
    from bench.families import BUILTIN
    from bench.result import CellResult, Timings

    families = {f.name: f for f in BUILTIN}
    profile = get_profile("quick")
    grid = [Cell("digits", model, "gaussian", 1, 0, profile, families=("generative",)) for model in ("ae", "vae")]
    first, second = (c.key for c in grid)
    network = cost.STEP_S * 1407
    work = cost.plan_work(grid, families, {"digits": 1407})
    planned, total = dict(work.costs), sum(work.costs.values())
    assert work.charged_to[cost._features(grid[0])] == first
    # the second worker's cell won the feature network's lock; the first ends before it, having loaded it
    loaded = CellResult(grid[0].describe(), "done", None, {}, Timings(300.0), features_source="checkpoint")
    work.recharge(first, cost.sources(grid[0], loaded), ended=set())
    assert work.costs[first] == pytest.approx(planned[first] - network)
    assert sum(work.costs.values()) == pytest.approx(total - network)  # done, by a cell that has not ended
    assert work.waits_on(second) == set()
    took = CellResult(grid[1].describe(), "done", None, {}, Timings(600.0), features_source="trained")
    work.recharge(second, cost.sources(grid[1], took), ended={first})
    assert work.costs[second] == pytest.approx(planned[second] + network)
    assert sum(work.costs.values()) == pytest.approx(total)
    # the progress takes the changed total with each cell
    bar = progress.Progress(stream=io.StringIO())
    bar.begin(total=2, cost=total)
    bar.end_cell("first", "done", 300.0, cost=planned[first] - network, total=total - network)
    assert bar.total_cost == pytest.approx(total - network)


def test_the_feature_network_steps_left_are_its_training_until_its_checkpoint_exists(tmp_path):
    from bench.data import LoadedDataset
    from bench.features import feature_key, steps_left, training_steps
    from registry import Dataset

    images = torch.zeros(60_000, 1, 2, 2)
    loaded = LoadedDataset.of("tiny", Dataset(images, torch.zeros(60_000, dtype=torch.long), images[:3],
                                              torch.zeros(3, dtype=torch.long), ("a",)))
    assert steps_left("tiny", loaded, tmp_path) == training_steps(60_000) == 1407  # 3 epochs of batch 128
    assert training_steps(1000) == 500  # a small split gets the minimum
    (tmp_path / f"{feature_key('tiny', loaded.fingerprint)}.pt").write_bytes(b"")
    assert steps_left("tiny", loaded, tmp_path) == 0
    vectors = LoadedDataset.of("rows", Dataset(torch.zeros(10, 4), torch.zeros(10, dtype=torch.long), torch.zeros(2, 4),
                                               torch.zeros(2, dtype=torch.long), ("a",)))
    assert steps_left("rows", vectors, tmp_path) == 0  # vectors are their own features
