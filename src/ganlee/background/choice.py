"""The background-choice file (``results/fit/background.json``, rule fit_model): write, read, hash.

docs/design.md, "Spurious-signal test and background choice". The file holds the chosen model of
every selection (``models``), whether it passed, the warnings of ``fit.spurious.on_fail: warn``,
the settings, the template sizes and the full spurious-signal table (per selection and
candidate: ``max_abs_ratio``, ``mass_at_max``, the deviance, and ``S_spur``, ``sigma_stat``,
their ratio at every mass). The toys, the observed-data fit and the LEE summary record its
``file_hash`` (``background_hash``), as they record the GAN's ``model_hash``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganlee.io import InputError, file_hash, write_json
from ganlee.stats.fit import FitSpec, background_family, candidates
from ganlee.stats.fit.spurious import choose

__all__ = [
    "FORMAT",
    "Choice",
    "choice_summary",
    "fixed_choice",
    "read_choice",
    "run_choice",
    "write_choice",
]

FORMAT = "ganlee-background-choice"
VERSION = 1


@dataclass
class Choice:
    """The background model of each selection and where it came from.

    ``models`` (S,) family members; ``hash``: the choice file's hash, or ``fit.background:<m>``
    without a file; ``warnings``: no candidate passed for these selections (on_fail: warn).
    """

    models: list[str]
    hash: str
    source: str
    warnings: list[str] = field(default_factory=list)

    def per_histogram(self, n_toys: int) -> list[str]:
        """The model of every (toy, selection) histogram, toy-major."""
        return list(self.models) * int(n_toys)


def fixed_choice(spec: FitSpec, n_selections: int) -> Choice:
    """``fit.background`` for every selection (no choice file)."""
    return Choice(
        [spec.background] * n_selections,
        f"fit.background:{spec.background}",
        "config fit.background",
    )


def run_choice(cfg: dict[str, Any], templates: Any, labels: Sequence[str]) -> dict[str, Any]:
    """The spurious-signal table and choice of ``templates`` (``ganlee.background.templates``)
    with the ``fit.spurious`` settings of ``cfg``: the content of the choice file."""
    spur = cfg["fit"]["spurious"]
    spec = FitSpec.from_config(cfg)
    models = candidates(spur["families"], int(spur["max_order"]), int(spur["min_order"]))
    second = [
        templates.mc[s] if templates.mc is not None and templates.mc_ok[s] else None
        for s in range(len(labels))
    ]
    res = choose(
        templates.generator,
        templates.n_toy,
        spec,
        models,
        criterion=spur["criterion"],
        max_ratio=float(spur["max_ratio"]),
        penalty=float(spur["penalty"]),
        relax=float(spur["relax"]),
        on_fail=spur["on_fail"],
        labels=labels,
        backend=spec.backend,
        second=second,
    )
    for sel in res["selections"]:
        for row in sel["rows"]:
            row["penalised"] = row["deviance"] + float(spur["penalty"]) * row["n_par"]
            row["passes"] = bool(
                row["max_abs_ratio"] - float(spur["relax"]) * sel["template_noise"]
                <= float(spur["max_ratio"])
            )
    return {
        "format": FORMAT,
        "version": VERSION,
        "selections": [float(f) for f in cfg["toys"]["selections"]],
        "models": res["choice"],
        "passed": all(sel["passed"] for sel in res["selections"]),
        "message": _message(labels, res),
        "passed_per_selection": [sel["passed"] for sel in res["selections"]],
        "warnings": res["warnings"],
        "settings": dict(spur),
        "candidates": models,
        "masses": spec.masses,
        "template": {
            "source": templates.source,
            "n_scored": templates.n_scored,
            "n_template": templates.generator.sum(-1),
            "mc_template": templates.mc_ok,
        },
        "n_toy": templates.n_toy,
        "table": res["selections"],
    }


def _message(labels: Sequence[str], res: dict[str, Any]) -> str:
    """One line: the model of each selection, and the failures."""
    parts = [f"{lab}: {sel['chosen']}" for lab, sel in zip(labels, res["selections"], strict=True)]
    failed = [lab for lab, sel in zip(labels, res["selections"], strict=True) if not sel["passed"]]
    tail = f"; NO candidate passes for {', '.join(failed)}" if failed else "; all pass"
    return ", ".join(parts) + tail


def write_choice(path: str | os.PathLike[str], content: dict[str, Any]) -> None:
    """Atomically write the choice file (strict JSON, non-finite numbers as null)."""
    write_json(path, content)


def read_choice(path: str | os.PathLike[str], selections: Sequence[float] | np.ndarray) -> Choice:
    """Read and check a choice file against the toys' ``selections``; ``InputError`` naming the
    file when it is not one, is of another version, or was made for other selections."""
    p = Path(path)
    where = f"background choice '{p}'"
    if not p.is_file():
        msg = f"{where} does not exist (run the fit_model rule: ganlee fit-model)"
        raise InputError(msg)
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        msg = f"{where} is not readable JSON: {exc}"
        raise InputError(msg) from exc
    if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("version") != VERSION:
        msg = f"{where}: not a version-{VERSION} '{FORMAT}' file (written by ganlee fit-model)"
        raise InputError(msg)
    sel = np.asarray(d.get("selections", []), dtype=np.float64)
    want = np.asarray(selections, dtype=np.float64)
    if sel.shape != want.shape or not np.allclose(sel, want, rtol=0, atol=1e-12):
        msg = (
            f"{where} was made for selections {sel.tolist()}, the toys use {want.tolist()} "
            "(toys.selections changed: rerun ganlee fit-model)"
        )
        raise InputError(msg)
    models = [str(m) for m in d.get("models", [])]
    if len(models) != want.size:
        msg = f"{where}: {len(models)} models for {want.size} selections"
        raise InputError(msg)
    for m in models:
        try:
            background_family(m)
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from exc
    return Choice(models, file_hash(p), str(p), [str(w) for w in d.get("warnings", [])])


def max_ratio_of(row: dict[str, Any]) -> float:
    """``max_abs_ratio`` of a table row as a float (null in JSON: inf)."""
    v = row.get("max_abs_ratio")
    return math.inf if v is None else float(v)


def choice_summary(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The short form of a choice file for the LEE summary: settings, and per selection the
    model, whether it passed, its largest ratio and where, the toy and template sizes."""
    d = json.loads(Path(path).read_text())
    rows = []
    for frac, sel in zip(d["selections"], d["table"], strict=True):
        chosen = {r["model"]: r for r in sel["rows"]}[sel["chosen"]]
        rows.append(
            {
                "selection": frac,
                "model": sel["chosen"],
                "passed": sel["passed"],
                "max_abs_ratio": max_ratio_of(chosen),
                "mass_at_max": chosen["mass_at_max"],
                "n_toy": sel["n_toy"],
                "n_template": sel["n_template"],
            }
        )
    return {
        "file": str(path),
        "criterion": d["settings"]["criterion"],
        "max_ratio": d["settings"]["max_ratio"],
        "on_fail": d["settings"]["on_fail"],
        "selections": rows,
    }
