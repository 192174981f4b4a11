"""The registry: every family's declaration is consistent, every registered network passes the same checks, and
a family joins faceforge through its own files plus one registration line."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import pytest
import torch
from model_helpers import tensors, trained_like

import faceforge
from faceforge import registry
from faceforge.errors import ModelLoadError
from faceforge.family import ModelFamily, Shipped, Tab, load_reference
from faceforge.modeling import FaceForgeModel
from faceforge.registry import families, get_model_class

ROOT = Path(__file__).resolve().parents[1]
MODELS = faceforge.list_models()




def shapes(output):
    """The structure of a forward output with each tensor replaced by its shape."""
    if isinstance(output, torch.Tensor):
        return tuple(output.shape)
    if isinstance(output, dict):
        return {k: shapes(v) for k, v in output.items()}
    if isinstance(output, list | tuple):
        return tuple(shapes(v) for v in output)
    return output


def plain(expected):
    if isinstance(expected, dict):
        return {k: plain(v) for k, v in expected.items()}
    if isinstance(expected, list | tuple):
        return tuple(plain(v) for v in expected)
    return expected




# --- every registered network ------------------------------------------------------------------------------
@pytest.mark.parametrize("model_type", MODELS)
def test_forward_gives_the_documented_shapes(model_type):
    model = trained_like(model_type)
    with torch.no_grad():
        output = model(*model.example_inputs(2))
    assert shapes(output) == plain(model.output_shapes(2))
    assert all(torch.isfinite(t).all() for t in tensors(output))


@pytest.mark.parametrize("model_type", MODELS)
def test_backward_reaches_every_trainable_parameter(model_type):
    model = trained_like(model_type).train()
    output = tensors(model(*model.example_inputs(2)))
    generator = torch.Generator().manual_seed(0)
    loss = sum((t.float() * torch.randn(t.shape, generator=generator)).sum() for t in output if t.is_floating_point())
    loss.backward()
    starved = [name for name, p in model.named_parameters()
               if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert not starved, f"no gradient reaches {starved[:5]}"


@pytest.mark.parametrize("model_type", MODELS)
def test_save_and_from_pretrained_give_the_identical_network(model_type, tmp_path):
    model = trained_like(model_type)
    model.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["model_type"] == model_type and written["faceforge_version"] == faceforge.__version__
    inputs = model.example_inputs(2, seed=1)
    cls = type(model)
    for loaded in (faceforge.from_pretrained(tmp_path), cls.from_pretrained(tmp_path)):
        assert type(loaded) is cls and loaded.config == model.config
        assert not any(m.training for m in loaded.modules()), "from_pretrained must return an eval-mode model"
        for kind in ("named_parameters", "named_buffers"):
            ours, theirs = dict(getattr(model, kind)()), dict(getattr(loaded, kind)())
            assert ours.keys() == theirs.keys()
            assert all(torch.equal(v, theirs[k]) and v.dtype == theirs[k].dtype for k, v in ours.items())
        with torch.no_grad():
            for a, b in zip(tensors(model(*inputs)), tensors(loaded(*inputs)), strict=True):
                assert torch.equal(a, b)


@pytest.mark.parametrize("model_type", MODELS)
def test_config_round_trips_through_json_and_refuses_another_type(model_type):
    cls = get_model_class(model_type)
    config = cls.tiny_config()
    assert cls.config_class.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert dataclasses.replace(config) == config
    with pytest.raises(ValueError, match="model_type"):
        cls.config_class(model_type="not_" + model_type)


# --- the declarations agree ----------------------------------------------------------------------------------
def test_every_table_is_derived_from_the_declarations():
    declared = {cls.config_class.model_type_default(): cls for f in families() for cls in f.networks}
    assert MODELS == sorted(declared) and all(get_model_class(t) is c for t, c in declared.items())
    assert faceforge.list_tasks() == sorted(t for f in families() for t in f.tasks)
    assert set(registry.shipped_models()) == {s.name for f in families() for s in f.shipped}
    assert [t.order for t in registry.app_tabs()] == sorted(t.order for t in registry.app_tabs())
    for family in families():
        for name in (*family.model_types, *family.tasks):
            assert registry.family_of(name) is family


def test_every_reference_imports_and_has_the_right_kind():
    from faceforge.training.task import Task

    for family in families():
        for name, reference in family.tasks.items():
            assert issubclass(load_reference(reference), Task), name
        for model_type, reference in family.evaluators.items():
            assert model_type in family.model_types and callable(load_reference(reference))
        for tab in family.tabs:
            assert callable(load_reference(tab.build))
        for module in family.commands:
            assert callable(load_reference(f"{module}:register"))


def test_shipped_folders_hold_their_familys_networks():
    from faceforge.resolve import HUB_CARDS, read_config

    for family in families():
        for shipped in family.shipped:
            folder = HUB_CARDS / shipped.name
            if (folder / "config.json").is_file():
                assert read_config(folder)["model_type"] in family.model_types, shipped.name


def test_app_roles_name_shipped_models_and_the_app_uses_them():
    from faceforge.demo.models import default_models

    roles = registry.roles()
    assert set(roles.values()) <= set(registry.shipped_models())
    assert default_models() == {"au": "au-detector", "expression": "expression-classifier", "mpenet": "mpenet",
                                "mpegan": "mpegan", "igcn": "igcn", "igcn_baseline": "igcn-srgan", "fsrfer": "fsrfer",
                                "editor": "cascade-efgan", "magnifier": "groupgan"}
    assert registry.default_model("evaluator.au") == "au-evaluator-robust"
    assert registry.default_model("evaluator.au_sharp") == "au-evaluator"
    with pytest.raises(KeyError, match="unknown role"):
        registry.default_model("app.nothing")


def test_every_family_cites_its_paper_and_no_code_points_outside_the_repo():
    for family in families():
        if family.paper is not None:
            citation = family.paper.citation()
            assert family.paper.year > 2000 and family.paper.venue and family.paper.authors in citation
    outside = re.compile(r"shared/papers|\b0\d\d_[0-9a-f]{16}\.txt")
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "faceforge").rglob("*.py") if outside.search(p.read_text())]
    assert not offenders


# --- plug-ins ------------------------------------------------------------------------------------------------
def _plugin_family(name: str = "plug", model_type: str = "plug_net", task: str = "plug") -> ModelFamily:
    plug_type = model_type

    @dataclasses.dataclass
    class PlugConfig(faceforge.modeling.ModelConfig):
        model_type: str = plug_type
        width: int = 4

    class PlugNet(FaceForgeModel):
        config_class = PlugConfig

        def __init__(self, config):
            super().__init__(config)
            self.linear = torch.nn.Linear(config.width, 2)

        def forward(self, x):
            return self.linear(x)

        def example_inputs(self, batch_size=2, *, seed=0):
            return (torch.rand(batch_size, self.config.width, generator=torch.Generator().manual_seed(seed)),)

        def output_shapes(self, batch_size):
            return (batch_size, 2)

    return ModelFamily(name=name, summary="a plug-in", networks=(PlugNet,),
                       tasks={task: "faceforge.training.tasks.toy:ToyGAN"},
                       shipped=(Shipped(f"{name}-net", "a plug-in network", roles=(f"app.{name}",)),),
                       tabs=(Tab(name, "faceforge.demo.synth_tab:build_synth_tab", order=99),))


def test_a_plugin_family_joins_every_table_and_leaves_again(tmp_path):
    family = _plugin_family()
    registry.register_family(family)
    try:
        assert "plug_net" in faceforge.list_models() and "plug" in faceforge.list_tasks()
        assert registry.shipped_models()["plug-net"] == "a plug-in network"
        assert registry.default_model("app.plug") == "plug-net" and registry.app_tabs()[-1].title == "plug"
        net = get_model_class("plug_net")(family.networks[0].config_class())
        net.save_pretrained(tmp_path)
        assert torch.equal(faceforge.from_pretrained(tmp_path).linear.weight, net.linear.weight)
    finally:
        registry.unregister_family("plug")
    assert "plug_net" not in faceforge.list_models() and "plug" not in faceforge.list_tasks()


@pytest.mark.parametrize(("clash", "message"), [
    (dict(name="mpenet"), "family 'mpenet'"),
    (dict(model_type="mpenet"), "model_type 'mpenet'"),
    (dict(task="toy"), "task 'toy'"),
])
def test_a_plugin_that_claims_a_taken_name_is_refused(clash, message):
    with pytest.raises(ValueError, match=message):
        registry.register_family(_plugin_family(**clash))
    assert len(families()) == len(registry.FAMILY_MODULES)


def test_unknown_model_type_names_the_known_ones():
    with pytest.raises(ModelLoadError, match="unknown model_type 'nope'.*mpenet"):
        get_model_class("nope")


# --- adding a family: new files plus one registration line (docs/adding-a-model.md) ------------------------
TOY_FILES = {"faceforge/models/toy.py", "faceforge/training/tasks/toy.py", "train/configs/toy.yaml"}


def test_the_toy_family_lives_in_its_own_files_plus_one_registry_line():
    """What the walk-through promises: outside its files, faceforge mentions the toy family exactly once."""
    pattern = re.compile(r"\bToy[A-Z]\w*|faceforge\.models\.toy\b|tasks\.toy\b|\"toy\"")
    mentions = []
    for path in [*(ROOT / "faceforge").rglob("*.py"), ROOT / "app.py", *(ROOT / "train").rglob("*.py")]:
        rel = str(path.relative_to(ROOT))
        if rel in TOY_FILES:
            continue
        mentions += [f"{rel}: {line.strip()}" for line in path.read_text().splitlines() if pattern.search(line)]
    assert mentions == ['faceforge/registry.py: "faceforge.models.toy",']


def test_without_its_registry_line_the_toy_family_does_not_exist(monkeypatch):
    modules = tuple(m for m in registry.FAMILY_MODULES if m != "faceforge.models.toy")
    monkeypatch.setattr(registry, "FAMILY_MODULES", modules)
    registry._builtin.cache_clear()
    registry._clear()
    try:
        assert "toy_generator" not in faceforge.list_models() and "toy" not in faceforge.list_tasks()
        monkeypatch.setattr(registry, "FAMILY_MODULES", (*modules, "faceforge.models.toy"))  # the one line
        registry._builtin.cache_clear()
        registry._clear()
        assert "toy_generator" in faceforge.list_models() and "toy" in faceforge.list_tasks()
    finally:
        monkeypatch.undo()
        registry._builtin.cache_clear()
        registry._clear()


def test_the_walkthrough_quotes_the_toy_family_as_it_is():
    doc = (ROOT / "docs" / "adding-a-model.md").read_text()
    source = (ROOT / "faceforge" / "models" / "toy.py").read_text()
    declaration = source[source.index("FAMILY = ModelFamily("):].strip()
    assert declaration in doc
    for path in TOY_FILES:
        assert path in doc and (ROOT / path).is_file()
    line = '    "faceforge.models.toy",'
    assert line in (ROOT / "faceforge" / "registry.py").read_text() and line in doc


# --- the import graph ----------------------------------------------------------------------------------------
def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """faceforge modules ``path`` imports anywhere (functions included, TYPE_CHECKING blocks excluded)."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def test_the_import_graph_has_no_cycles():
    paths = {_module_name(p): p for p in (ROOT / "faceforge").rglob("*.py")}
    graph = {name: _imports(path, name, set(paths)) for name, path in paths.items()}
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert not cycles, cycles
