"""Claims about plugin discovery: what `bench list` shows and how broken plugins are handled."""

from __future__ import annotations

import inspect
import json
import pickle
import subprocess
import sys

import pytest
from conftest import add_site, make_distribution, run_bench

from registry import Param, ParameterError, PluginError, SelectionError, deferred, load_registry, select
from registry.manager import CapabilityWarning, PluginLoadWarning

BUILTIN_MODELS = ["ae", "beta_vae", "conv_ae", "conv_dae", "conv_vae", "dae", "dvae", "linear_dae", "vae"]


def _builtin(registry, kind: str) -> list[str]:
    """The names of ``kind`` that bench itself provides (a user may have other plugins installed beside it)."""
    return [e.name for e in registry.list(kind) if e.distribution == "aebench"]


def test_builtin_plugins_are_discovered_through_entry_points_with_their_distribution():
    registry = load_registry()
    assert _builtin(registry, "models") == BUILTIN_MODELS
    assert _builtin(registry, "noises") == ["blur", "erasing", "gaussian", "salt_pepper", "shot", "speckle"]
    assert _builtin(registry, "datasets") == ["digits", "fashion_mnist", "mnist", "tabular"]
    entry = registry.entry("models", "vae")
    assert entry.distribution == "aebench" and entry.version not in {"", "unknown"}


def test_listing_is_sorted_and_filters_with_wildcards():
    registry = load_registry()
    assert registry.names("models", "*vae") == ["beta_vae", "conv_vae", "dvae", "vae"]
    assert [e.name for e in registry.list("models", "d*")] == ["dae", "dvae"]


def test_selection_accepts_all_comma_lists_and_wildcards_in_registry_order():
    valid = ["ae", "dae", "dvae", "vae"]
    assert select("all", valid, "model") == valid
    assert select("vae,ae", valid, "model") == ["ae", "vae"]
    assert select("*vae,ae,vae", valid, "model") == ["ae", "dvae", "vae"]


def test_unknown_name_names_the_closest_match_and_the_choices():
    with pytest.raises(SelectionError, match=r"unknown model 'vea' - did you mean 'vae'\? Available: ae, dae, dvae, vae"):
        select("vea", ["ae", "dae", "dvae", "vae"], "model")
    with pytest.raises(SelectionError, match="no model matches 'x\\*'"):
        select("x*", ["ae"], "model")
    with pytest.raises(SelectionError, match="empty"):
        select("ae,", ["ae"], "model")


def test_third_party_distribution_appears_in_bench_list(third_party_site):
    result = run_bench("list", "models", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["tiny_ae"] == {"name": "tiny_ae", "kind": "model", "distribution": "bench-tiny",
                               "version": "1.2.3", "summary": "a third party's one-layer autoencoder",
                               "parameters": [{"name": "width", "type": "int", "default": 16,
                                               "allowed": "an int in [1, inf]", "help": ""}],
                               "capabilities": [], "denoising": False, "likelihood": None,
                               "inputs": ["image", "vector"]}
    assert rows["vae"]["distribution"] == "aebench"


def test_a_plugin_that_fails_to_import_is_skipped_with_one_warning_naming_its_distribution_and_checked(tmp_path, monkeypatch,
                                                                                                       capsys):
    from bench import cli

    site = make_distribution(tmp_path / "site", "bench-broken", "0.9", "bench_broken", "raise ImportError('no gpu lib')")
    add_site(site, monkeypatch)
    with pytest.warns(PluginLoadWarning, match=r"'bench-broken 0.9' failed to import.*no gpu lib"):
        registry = load_registry()
    assert _builtin(registry, "models") == BUILTIN_MODELS and "bench-broken" not in {
        e.distribution for e in registry.list("models")}

    result = run_bench("list", "models")
    assert result.returncode == 0
    assert "bench: warning: plugin 'bench_broken' from distribution 'bench-broken 0.9' failed" in result.stderr
    assert "vae" in result.stdout

    # a run loads the registry in the command, the planner and every worker process: said once, in bench's words
    ran = run_bench("run", "--datasets", "digits", "--models", "ae", "--severities", "1", "--seeds", "1",
                    "--families", "reconstruction", "--executor", "processes:1", "--format", "csv",
                    "--out", str(tmp_path / "out"))
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.count("failed to import") == 1 and "Warning" not in ran.stderr and ".py:" not in ran.stderr
    assert cli.main(["plugins", "check", "bench-broken"]) == 1  # was "no installed plugin distribution"
    assert "| plugin | bench-broken 0.9 | loads   | FAIL: plugin 'bench_broken' from distribution 'bench-broken " \
           "0.9' failed to import and was skipped: ImportError: no gpu lib" in capsys.readouterr().out

    monkeypatch.setenv("BENCH_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="bench-broken"):
        load_registry()
    strict = run_bench("list")
    assert strict.returncode == 2 and "Traceback" not in strict.stderr
    assert strict.stderr.count("\n") == 1 and "bench-broken 0.9" in strict.stderr


def test_two_plugins_claiming_one_name_is_an_error_naming_both_distributions(tmp_path, monkeypatch):
    source = '''
from registry import ModelSpec, hookimpl
from registry.models import MLPAutoencoder

@hookimpl
def bench_models():
    return [ModelSpec("vae", MLPAutoencoder, "an impostor")]
'''
    add_site(make_distribution(tmp_path / "site", "bench-clash", "2.0", "bench_clash", source), monkeypatch)
    with pytest.raises(PluginError, match=r"model name 'vae' is claimed twice.*'aebench 0\.1\.0'.*'bench-clash 2\.0'"
                       r"\. A built-in's name cannot be taken: rename the model in 'bench-clash', or set"):
        load_registry()  # uninstalling a built-in is impossible: the message says to rename the plugin's
    result = run_bench("run", "--seeds", "1", "--datasets", "digits")
    assert result.returncode == 2
    assert "bench-clash 2.0" in result.stderr and "Traceback" not in result.stderr


def test_disabling_autoload_keeps_only_the_builtins(third_party_site, monkeypatch):
    assert "tiny_ae" in load_registry().names("models")
    monkeypatch.setenv("BENCH_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert load_registry().names("models") == BUILTIN_MODELS


def test_parameters_are_checked_against_their_declaration():
    sigma = Param("sigma", float, 0.1, low=0.0, high=10.0)
    assert sigma.check("0.5", "noise 'gaussian'") == 0.5
    with pytest.raises(ParameterError,
                       match=r"The 'sigma' parameter of noise 'gaussian' must be a float in \[0, 10\]\. Got -0\.1 instead\."):
        sigma.check(-0.1, "noise 'gaussian'")
    spec = load_registry().spec("noises", "gaussian")
    assert spec.resolve(5) == {"sigma": 1.0}
    with pytest.raises(ParameterError, match="severity 6 is not defined for noise 'gaussian': allowed 1, 2, 3, 4, 5"):
        spec.resolve(6)
    with pytest.raises(ParameterError, match="has no parameter 'sigmaa'"):
        spec.resolve(1, {"sigmaa": 1})


def test_importing_the_registry_does_not_import_torch():
    """Plugins and `bench list` import `registry` first: it must stay light (torch only where a spec runs)."""
    done = subprocess.run([sys.executable, "-c", "import sys, registry; print('torch' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


CAPABILITY_PLUGIN = '''
from registry import DatasetSpec, ModelSpec, hookimpl
from registry.models import MLPAutoencoder, MLPVAE


class Misspelled(MLPAutoencoder):
    def genrate(self, x):  # declared as "generate" below: the harness must not silently fall back
        return self(x)


@hookimpl
def bench_models():
    return [ModelSpec({name!r}, {cls}, "a capability test", {extra})]
'''


@pytest.mark.parametrize("cls, extra, problem", [
    ("Misspelled", "capabilities=('generate',)", r"model 'gen_ae' of distribution 'bench-caps 1\.0' declares the "
                                                 r"capabilities generate but its class Misspelled lacks them"),
    ("MLPVAE", "capabilities=('draw',)", r"model 'gen_ae' of distribution 'bench-caps 1\.0': capabilities"),
    ("MLPVAE", "likelihood='poisson'", r"likelihood 'poisson' is not one of 'bernoulli', 'gaussian' or None"),
    ("MLPVAE", "inputs=('images',)", r"inputs \('images',\) must be a non-empty tuple of 'image', 'vector'"),
])
def test_a_declared_capability_or_vocabulary_the_plugin_breaks_is_an_error_naming_it(
        tmp_path, monkeypatch, cls, extra, problem):
    source = CAPABILITY_PLUGIN.format(name="gen_ae", cls=cls, extra=extra)
    module = f"bench_caps_{abs(hash(extra))}"  # a module name per case: Python caches imported modules
    add_site(make_distribution(tmp_path / "site", "bench-caps", "1.0", module, source), monkeypatch)
    with pytest.raises(PluginError, match=problem):
        load_registry()


def test_a_capability_present_but_undeclared_is_a_warning_and_is_not_used(tmp_path, monkeypatch):
    source = CAPABILITY_PLUGIN.format(name="quiet_vae", cls="MLPVAE", extra="likelihood='bernoulli'")
    add_site(make_distribution(tmp_path / "site", "bench-caps", "1.0", "bench_caps_quiet", source), monkeypatch)
    with pytest.warns(CapabilityWarning, match=r"model 'quiet_vae' .* has generate, posterior, sample without declaring"):
        spec = load_registry().spec("models", "quiet_vae")
    assert spec.capabilities == ()


def test_a_dataset_of_an_unknown_kind_is_an_error_instead_of_a_grid_that_skips_every_cell(tmp_path, monkeypatch):
    source = '''
from registry import DatasetSpec, hookimpl

@hookimpl
def bench_datasets():
    return [DatasetSpec("pictures", lambda root: None, "a dataset of the wrong kind", kind="images")]
'''
    add_site(make_distribution(tmp_path / "site", "bench-kind", "1.0", "bench_kind", source), monkeypatch)
    with pytest.raises(PluginError, match=r"dataset 'pictures' of distribution 'bench-kind 1\.0': kind 'images' is "
                                          r"not one of 'image', 'vector'"):
        load_registry()


def test_the_readme_plugin_pyproject_builds_as_written_and_registers_its_hooks(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    toml = re.search(r"declare the entry point in your `pyproject.toml`.*?```toml\n(.*?)```", readme, re.S).group(1)
    package = tmp_path / "pkg"
    (package / "my_bench_plugin").mkdir(parents=True)
    (package / "pyproject.toml").write_text("\n".join(line[3:] for line in toml.splitlines()))
    (package / "my_bench_plugin" / "__init__.py").write_text(
        "from registry import ModelSpec, hookimpl\nfrom registry.models import MLPAutoencoder\n\n\n@hookimpl\n"
        "def bench_models():\n    return [ModelSpec('my_ae', MLPAutoencoder, 'the README plugin')]\n")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(site), str(package)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    add_site(site, monkeypatch)
    entry = load_registry().entries["models"]["my_ae"]
    assert (entry.distribution, entry.version) == ("my-bench-plugin", "0.1.0")


def test_bench_list_models_says_what_each_model_can_do(capsys):
    from bench import cli

    assert cli.main(["list", "models", "--format", "json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["vae"]["capabilities"] == ["generate", "posterior", "sample"] and not rows["vae"]["denoising"]
    assert rows["dae"]["denoising"] and rows["dae"]["capabilities"] == [] and rows["vae"]["likelihood"] == "bernoulli"
    assert cli.main(["list", "models"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert "can: generate, posterior, sample, bernoulli likelihood" in lines["vae"]
    assert "can: denoising" in lines["dae"] and "inputs: image, vector" in lines["dae"]


def test_a_reporter_that_raises_is_named_in_one_line_and_the_other_reports_are_still_written(tmp_path, monkeypatch,
                                                                                              capsys):
    import shutil
    from pathlib import Path

    from bench import cli

    source = '''
from registry import ReporterSpec, hookimpl


def write(report):
    return report.cells[0].metric  # a plugin bug: cells are CellResult objects, there is no such attribute


@hookimpl
def bench_reporters():
    return [ReporterSpec("broken", "a reporter with a bug", write, files=("broken.txt",))]
'''
    add_site(make_distribution(tmp_path / "site", "bench-broken-reporter", "0.3", "bench_broken_reporter", source),
             monkeypatch)
    store = tmp_path / "store.db"
    shutil.copy(Path(__file__).parent / "data" / "store_v4.db", store)
    out = tmp_path / "out"
    assert cli.main(["report", "--store", str(store), "--out", str(out), "--format", "broken,md"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert "reporter broken (bench-broken-reporter 0.3) raised AttributeError" in err
    assert (out / "leaderboard.md").exists()  # the reporters after it still wrote
    # the plugin kit had passed it: now it runs write on a small real store (bench.reports.kit) and says why not
    assert cli.main(["plugins", "check", "bench-broken-reporter"]) == 1
    checked = capsys.readouterr().out
    assert ("| writes its files from a small real store | FAIL: raised AttributeError: 'CellResult' object has no "
            "attribute 'metric'") in checked


def test_a_deferred_callable_imports_its_target_on_first_use_and_keeps_its_signature(tmp_path, monkeypatch):
    (tmp_path / "deferred_target.py").write_text("def scale(x, factor=2.0):\n    return x * factor\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "deferred_target", raising=False)
    scale = deferred("deferred_target:scale")
    assert scale.__name__ == "scale" and "deferred_target" not in sys.modules  # named without importing
    assert str(inspect.signature(scale)) == "(x, factor=2.0)"  # the kit checks declared parameters on it
    assert scale(3) == 6.0 and scale(3, factor=3) == 9
    assert pickle.loads(pickle.dumps(scale)) == scale  # sent to a worker by its path
    with pytest.raises(ValueError, match="package.module:Name"):
        deferred("deferred_target.scale")


DEFERRED_PLUGIN = '''
from registry import ModelSpec, deferred, hookimpl


@hookimpl
def bench_models():
    return [ModelSpec("lazy_ae", deferred("bench_lazy_nets:Plain"), "an MLP autoencoder imported on first use"),
            ModelSpec("lazy_liar", deferred("bench_lazy_nets:Plain"), "declares a sampler its class lacks",
                      capabilities=("sample",))]
'''


def test_a_deferred_factory_is_checked_when_it_builds_and_its_plugin_loads_without_it(tmp_path, monkeypatch):
    """A deferred class is not imported when the registry loads, so a capability it lacks is found where a factory
    function's is: when it builds a model (that cell fails, naming it; the others run)."""
    from bench import cli
    from bench.store import open_store

    site = make_distribution(tmp_path / "site", "bench-lazy", "1.0", "bench_lazy", DEFERRED_PLUGIN)
    (site / "bench_lazy_nets.py").write_text("from registry.models import MLPAutoencoder as Plain\n")
    add_site(site, monkeypatch)
    monkeypatch.delitem(sys.modules, "bench_lazy_nets", raising=False)
    registry = load_registry()
    assert registry.spec("models", "lazy_liar").capabilities == ("sample",) and "bench_lazy_nets" not in sys.modules
    cli.main(["run", "--datasets", "digits", "--models", "lazy_ae,lazy_liar", "--noise", "gaussian", "--severities",
              "1", "--seeds", "1", "--families", "reconstruction", "--out", str(tmp_path / "out"), "--quiet"])
    status = {r["cell"]["model"]: (r["status"], r["reason"]) for r in open_store(tmp_path / "out").records()}
    assert status["lazy_ae"][0] == "done"
    assert status["lazy_liar"][0] == "failed" and "declares the capabilities sample" in status["lazy_liar"][1]


def test_a_registry_loaded_after_the_built_in_noises_ran_still_hands_out_their_functions():
    """Importing a noise's module on its first call must not change what a later load of the plugin gives."""
    import torch

    x = torch.full((2, 1, 8, 8), 0.5)
    for autoload in (True, False):  # two loads of the built-in plugins in one process
        for name in ("gaussian", "erasing", "blur", "shot"):
            spec = load_registry(autoload=autoload).spec("noises", name)
            noisy = spec.function(x.clone(), **spec.resolve(1))
            assert noisy.shape == x.shape
