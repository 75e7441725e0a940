"""``mc_convert``: read ROOT files in chunks, select Z-gamma events, write the 18 features.

Any number of input files, each read with ``uproot.iterate`` in chunks of ``mc.step_size`` so
that files larger than memory work. The branch names come from a layout preset
(``ganlee.mc.layouts``; ``mc.layout = auto`` detects it per file) with ``mc.branches``
overrides. Every input is checked (exists, is ROOT, has the tree and every branch) before any
event is processed; the outputs are written atomically and only when at least one event passed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import awkward as ak
import numpy as np
import vector

from ganlee.config import config_hash
from ganlee.errors import ConfigError, InputError
from ganlee.features import FEATURE_NAMES
from ganlee.io import check_root_file, write_features, write_json
from ganlee.mc.features import CUTS, compute_features, select
from ganlee.mc.layouts import (
    COLLECTIONS,
    GENERATOR_METADATA_KEY,
    PRESETS,
    Layout,
    branch_names,
    check_override_keys,
    detect_layout,
    resolve_layout,
)
from ganlee.progress import Progress
from ganlee.settings import McSettings, Settings

vector.register_awkward()

__all__ = [
    "MASSES",
    "InputInfo",
    "build_events",
    "convert",
    "format_cutflow",
    "inspect_input",
    "iterate_events",
    "parse_step_size",
]

#: Rest masses in GeV given to polar collections (PDG); jets are counted only, so massless.
MASSES: dict[str, float] = {"Electron": 0.000510999, "Muon": 0.1056584, "Photon": 0.0, "Jet": 0.0}


_SIZE = re.compile(r"^\d+(\.\d+)?\s*([kMGT]i?B|B)$", re.IGNORECASE)


class InputInfo(dict):
    """What ``inspect_input`` found: ``path``, ``tree``, ``layout``, ``entries``, ``generator``."""


def parse_step_size(value: str | int) -> str | int:
    """``mc.step_size`` for uproot: entries (int or digits) or a memory size ("100 MB")."""
    if isinstance(value, bool):
        msg = (
            f"config key 'mc.step_size': expected entries or a size such as '100 MB', got {value!r}"
        )
        raise ConfigError(msg)
    if isinstance(value, int):
        if value < 1:
            msg = f"config key 'mc.step_size': must be >= 1 entry, got {value}"
            raise ConfigError(msg)
        return value
    text = str(value).strip()
    if text.isdigit():
        return parse_step_size(int(text))
    if not _SIZE.match(text):
        msg = (
            f"config key 'mc.step_size': {text!r} is neither a number of entries "
            "nor a size like '100 MB'"
        )
        raise ConfigError(msg)
    return text


def _open(path: Path) -> Any:
    import uproot

    check_root_file(path, "input file")
    try:
        return uproot.open(path)
    except Exception as exc:
        msg = (
            f"input file '{path}' is not a readable ROOT file (truncated or not ROOT?): "
            f"{type(exc).__name__}: {exc}"
        )
        raise InputError(msg) from exc


def _key_names(file: Any) -> set[str]:
    """Object names of an open uproot file, without the ``;cycle`` suffix."""
    names: list[str] = file.keys()
    return {k.split(";")[0] for k in names}


def _trees(file: Any) -> list[str]:
    try:
        classes = file.classnames()
    except Exception:
        return sorted(_key_names(file))
    return sorted({k.split(";")[0] for k, c in classes.items() if c in ("TTree", "TNtuple")})


def _missing_branches(tree: Any, layout: Layout) -> list[str]:
    have = branch_names(tree)
    return [b for b in layout.all_branches() if b not in have]


def inspect_input(path: str | os.PathLike[str], mc: McSettings) -> tuple[Layout, InputInfo]:
    """Check one input file against the ``mc`` config; return its layout and a summary.

    Raises ``InputError`` naming the file and the missing tree or branch (or saying that the
    file is not readable ROOT), or ``ConfigError`` for a bad ``mc.layout`` / ``mc.branches``.
    """
    p = Path(path)
    f = _open(p)
    try:
        with f:
            return _inspect(p, f, mc)
    except (InputError, ConfigError):
        raise
    except Exception as exc:
        msg = (
            f"input file '{p}' is not a readable ROOT file (truncated or corrupt?): "
            f"{type(exc).__name__}: {exc}"
        )
        raise InputError(msg) from exc


def _inspect(p: Path, f: Any, mc: McSettings) -> tuple[Layout, InputInfo]:
    keys = _key_names(f)
    overrides, tree_name = dict(mc.branches), mc.tree
    if mc.layout == "auto":
        check_override_keys(overrides)
        layout = detect_layout(f, overrides, tree_name)
        if layout is None:
            _raise_undetected(p, f, keys, overrides, tree_name)
    else:
        layout = resolve_layout(mc.layout, overrides, tree_name)
    assert layout is not None
    if layout.tree not in keys:
        msg = (
            f"input file '{p}' has no tree '{layout.tree}' (layout '{layout.name}'; "
            f"trees in the file: {_trees(f)})"
        )
        raise InputError(msg)
    tree = f[layout.tree]
    n_entries = int(tree.num_entries)
    missing = _missing_branches(tree, layout)
    if missing:
        keys_missing = [layout.key_of(b) for b in missing]
        msg = (
            f"input file '{p}', tree '{layout.tree}': missing branch(es) {missing} "
            f"(layout '{layout.name}' keys {keys_missing}; "
            "rename them with mc.branches or choose mc.layout)"
        )
        raise InputError(msg)
    meta = json.loads(str(f[GENERATOR_METADATA_KEY])) if GENERATOR_METADATA_KEY in keys else None
    info = InputInfo(
        path=str(p), tree=layout.tree, layout=layout.name, entries=n_entries, generator=meta
    )
    return layout, info


def _raise_undetected(
    p: Path, f: Any, keys: set[str], overrides: Mapping[str, str], tree: str | None
) -> None:
    reasons = []
    for name in ("delphes", "nanoaod", "cartesian"):
        try:
            layout = resolve_layout(name, overrides, tree)
        except ConfigError:
            unused = sorted(set(overrides) - set(PRESETS[name].branches))
            reasons.append(f"{name}: mc.branches key(s) {unused} not in this layout")
            continue
        if layout.tree not in keys:
            reasons.append(f"{name}: no tree '{layout.tree}'")
            continue
        try:
            missing = _missing_branches(f[layout.tree], layout)
        except Exception as exc:
            reasons.append(f"{name}: tree '{layout.tree}' unreadable ({exc})")
            continue
        reasons.append(f"{name}: tree '{layout.tree}' lacks branch(es) {missing}")
    msg = (
        f"input file '{p}': no layout preset matches "
        f"(mc.layout = auto; trees in the file: {_trees(f)}). "
        + "; ".join(reasons)
        + ". Set mc.layout, mc.tree and mc.branches."
    )
    raise InputError(msg)


def _check_jagged(arr: ak.Array, branch: str, what: str) -> None:
    if arr.ndim != 2:
        msg = f"branch '{branch}' ({what}) must be jagged (one list per event), got {ak.type(arr)}"
        raise InputError(msg)


def build_events(arrays: ak.Array, layout: Layout) -> ak.Array:
    """Event records (``Electron``, ``Muon``, ``Photon``, ``Jet`` Momentum4D, ``MET`` Momentum2D)
    from one chunk of branches read with ``layout``."""
    out: dict[str, Any] = {}
    for coll in COLLECTIONS[:-1]:
        fields = layout.fields(coll)
        cols = {k: ak.values_astype(arrays[b], np.float64) for k, b in fields.items()}
        for k, b in fields.items():
            _check_jagged(cols[k], b, f"{coll}.{k}")
        if layout.kind(coll) == "polar":
            rec = {"pt": cols["pt"], "eta": cols["eta"], "phi": cols["phi"]}
            rec["mass"] = ak.zeros_like(cols["pt"]) + MASSES[coll]
        else:
            rec = {"px": cols["px"], "py": cols["py"], "pz": cols["pz"], "E": cols["e"]}
        if "charge" in cols:
            rec["charge"] = cols["charge"]
        try:
            out[coll] = ak.zip(rec, with_name="Momentum4D")
        except ValueError as exc:
            msg = (
                f"branches {sorted(fields.values())} of collection {coll} "
                f"disagree in length per event: {exc}"
            )
            raise InputError(msg) from exc
    fields = layout.fields("MissingET")
    cols = {}
    for k, b in fields.items():
        arr = ak.values_astype(arrays[b], np.float64)
        if arr.ndim == 2:
            arr = ak.fill_none(ak.firsts(arr, axis=1), 0.0)
        elif arr.ndim != 1:
            msg = (
                f"branch '{b}' (MissingET.{k}) must be one number (or a one-element list) per event"
            )
            raise InputError(msg)
        cols[k] = arr
    if layout.kind("MissingET") == "polar":
        out["MET"] = ak.zip({"pt": cols["met"], "phi": cols["phi"]}, with_name="Momentum2D")
    else:
        out["MET"] = ak.zip({"px": cols["px"], "py": cols["py"]}, with_name="Momentum2D")
    return ak.zip(out, depth_limit=1)


def iterate_events(
    path: str | os.PathLike[str], layout: Layout, step_size: str | int
) -> Iterator[ak.Array]:
    """Chunks of event records of one file (``uproot.iterate``), read errors as ``InputError``."""
    import uproot

    p = Path(path)
    branches = layout.all_branches()
    it = uproot.iterate(
        {str(p): layout.tree}, expressions=branches, step_size=step_size, library="ak"
    )
    while True:
        try:
            arrays = next(it)
        except StopIteration:
            return
        except Exception as exc:
            msg = (
                f"input file '{p}', tree '{layout.tree}': "
                "reading failed (truncated or corrupt file?): "
                f"{type(exc).__name__}: {exc}"
            )
            raise InputError(msg) from exc
        try:
            yield build_events(arrays, layout)
        except InputError as exc:
            raise InputError(f"input file '{p}', tree '{layout.tree}': {exc}") from exc


def format_cutflow(flow: Mapping[str, int]) -> str:
    """The cut-flow as a text table: events left, efficiency of each cut and cumulative."""
    lines = [f"{'cut':<20} {'events':>10} {'eff(cut)':>9} {'eff(all)':>9}"]
    total = flow.get("all", 0)
    prev = total
    for name, n in flow.items():
        eff = n / prev if prev else float("nan")
        cum = n / total if total else float("nan")
        lines.append(f"{name:<20} {n:>10d} {eff:>9.4f} {cum:>9.4f}")
        prev = n
    return "\n".join(lines)


def _generation_summary(infos: Sequence[InputInfo], selected: int) -> dict[str, Any] | None:
    metas = [i["generator"] for i in infos]
    if not metas or any(
        not isinstance(m, dict) or not {"events", "sigma_gen_pb"} <= set(m) for m in metas
    ):
        return None
    n = sum(int(m["events"]) for m in metas)
    sigma = sum(float(m["sigma_gen_pb"]) * int(m["events"]) for m in metas) / n
    return {
        "events": n,
        "sigma_pb": sigma,
        "equivalent_luminosity_fb": n / sigma / 1000.0 if sigma > 0 else None,
        "selected_sigma_fb": sigma * 1000.0 * selected / n,
        "realism": sorted({str(m.get("realism")) for m in metas}),
    }


def convert(
    inputs: Sequence[str | os.PathLike[str]],
    settings: Settings,
    out: str | os.PathLike[str],
    provenance: str | os.PathLike[str],
    stream: TextIO | None = None,
    max_events: int | None = None,
) -> dict[str, Any]:
    """Select events of ``inputs`` and write the features (``out``) and provenance JSON.

    ``max_events``: keep the first this many selected events (in input order), a dataset of
    exactly that size (the pseudo-data of ``lee.observed.generate.events``); fewer selected is
    an ``InputError``. Returns the provenance record. Raises ``InputError`` (bad input, or no
    event selected) and ``ConfigError`` before writing anything.
    """
    stream = stream if stream is not None else sys.stdout
    mc = settings.mc
    if not inputs:
        msg = "mc-convert: no input files given"
        raise InputError(msg)
    step = parse_step_size(mc.step_size)
    sel = mc.selection
    checked = [inspect_input(p, mc) for p in inputs]
    total = sum(info["entries"] for _, info in checked)
    for layout, info in checked:
        print(
            f"[mc-convert] {info['path']}: tree '{info['tree']}', layout {layout.name}, "
            f"{info['entries']} events",
            file=stream,
        )
    flow = {"all": 0, **dict.fromkeys(CUTS, 0)}
    parts: dict[str, list[np.ndarray]] = {k: [] for k in FEATURE_NAMES}
    per_file = []
    progress = Progress("mc-convert", total=total, unit="ev", stream=sys.stderr)
    for layout, info in checked:
        f_flow = {"all": 0, **dict.fromkeys(CUTS, 0)}
        for events in iterate_events(info["path"], layout, step):
            cands, chunk_flow = select(events, sel)
            feats = compute_features(cands, sel)
            for k in FEATURE_NAMES:
                parts[k].append(feats[k])
            for k, v in chunk_flow.items():
                f_flow[k] += v
                flow[k] += v
            progress.update(len(events), extra=f"selected {flow['m_llg_window']}")
        info["cutflow"] = f_flow
        per_file.append(info)
    print("[mc-convert] cut-flow:\n" + format_cutflow(flow), file=stream, flush=True)
    n_sel = flow[CUTS[-1]]
    if n_sel == 0:
        msg = (
            f"no event of {len(inputs)} input file(s) ({flow['all']} events) passed the selection "
            f"(cut-flow: {flow}); nothing written to '{out}'"
        )
        raise InputError(msg)
    data = {k: np.concatenate(v) for k, v in parts.items()}
    n_all = n_sel
    if max_events is not None:
        if n_sel < int(max_events):
            msg = (
                f"{n_sel} events of {len(inputs)} input file(s) passed the selection, "
                f"{int(max_events)} requested (--max-events): generate more events "
                "(lee.observed.generate.events_per_job or n_jobs); nothing written to "
                f"'{out}'"
            )
            raise InputError(msg)
        n_sel = int(max_events)
        data = {k: v[:n_sel] for k, v in data.items()}
    for k, col in data.items():
        bad = ~np.isfinite(col)
        if bad.any():
            msg = (
                f"feature '{k}' is not finite for {int(bad.sum())} selected event(s); "
                "check the input kinematics"
            )
            raise InputError(msg)
    record = {
        "features_file": str(out),
        "feature_names": list(FEATURE_NAMES),
        "selected_events": n_sel,
        "selected_before_max_events": n_all,
        "cutflow": flow,
        "inputs": per_file,
        "generation": _generation_summary(per_file, n_all),
        "selection": sel.to_dict(),
        "config": {"seed": settings.seed, "mc": mc.to_dict()},
        "config_hash": config_hash(mc.to_dict()),
        "layouts": sorted({info["layout"] for info in per_file}),
    }
    write_features(out, data)
    write_json(provenance, record)
    print(
        f"[mc-convert] wrote {n_sel} events to {out} and provenance to {provenance}",
        file=stream,
        flush=True,
    )
    return record
