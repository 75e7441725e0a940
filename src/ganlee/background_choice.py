"""The background-choice file (``results/fit/background.json``, rule fit_model): its format,
read, write and hash, and the choice the fits use when there is no file.

docs/design.md, "Spurious-signal test and background choice". The file holds the chosen model of
every selection (``models``), whether it passed, the warnings of ``fit.spurious.on_fail: warn``,
the settings, the template sizes and the full spurious-signal table (per selection and
candidate: ``max_abs_ratio``, ``mass_at_max``, the deviance, and ``S_spur``, ``sigma_stat``,
their ratio at every mass). The toys, the observed-data fit and the LEE summary record its
``file_hash`` (``background_hash``), as they record the GAN's ``model_hash``.

This module is the one owner of the format (as ``ganlee.chunks`` is of the chunk files): the
background layer writes the file (``ganlee.background.choice.run_choice`` builds its content),
the toys, the statistics and the status read it, all importing downwards. A model name is valid
when it matches the schema's pattern of ``fit.background`` (the one list of the families).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ganlee.errors import InputError
from ganlee.io import file_hash, write_json

__all__ = [
    "FORMAT",
    "VERSION",
    "Choice",
    "choice_summary",
    "fixed_choice",
    "max_ratio_of",
    "model_name_problem",
    "read_choice",
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


def fixed_choice(model: str, n_selections: int) -> Choice:
    """``fit.background`` = ``model`` for every selection (no choice file)."""
    return Choice([str(model)] * n_selections, f"fit.background:{model}", "config fit.background")


def model_name_problem(name: str) -> str | None:
    """Why ``name`` is not a background model name (the schema's ``fit.background`` pattern),
    or None.

    >>> model_name_problem("exp_poly2") is None
    True
    """
    from ganlee.config import schema

    pattern = schema()["properties"]["fit"]["properties"]["background"]["pattern"]
    if re.fullmatch(pattern, str(name)):
        return None
    return f"unknown background model {name!r} (expected a name matching {pattern})"


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
        problem = model_name_problem(m)
        if problem is not None:
            raise InputError(f"{where}: {problem}")
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
