"""The content of the background-choice file: the spurious-signal table and the choice.

docs/design.md, "Spurious-signal test and background choice". ``run_choice`` runs the
spurious-signal test (``ganlee.stats.fit.spurious.choose``) on the templates of
``ganlee.background.templates`` with the ``fit.spurious`` settings and returns what rule
fit_model writes; the file's format (read, write, version, hash) is ``ganlee.background_choice``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ganlee.background_choice import FORMAT, VERSION
from ganlee.settings import Settings
from ganlee.stats.fit import FitSpec
from ganlee.stats.fit.spurious import choose

__all__ = ["run_choice"]


def run_choice(settings: Settings, templates: Any, labels: Sequence[str]) -> dict[str, Any]:
    """The spurious-signal table and choice of ``templates`` (``ganlee.background.templates``)
    with the ``fit.spurious`` settings: the content of the choice file."""
    spur = settings.fit.spurious
    spec = FitSpec.from_settings(settings.fit)
    models = list(spur.candidates)
    second = [
        templates.mc[s] if templates.mc is not None and templates.mc_ok[s] else None
        for s in range(len(labels))
    ]
    res = choose(
        templates.generator,
        templates.n_toy,
        spec,
        models,
        criterion=spur.criterion,
        max_ratio=float(spur.max_ratio),
        penalty=float(spur.penalty),
        relax=float(spur.relax),
        on_fail=spur.on_fail,
        labels=labels,
        backend=spec.backend,
        second=second,
    )
    for sel in res["selections"]:
        for row in sel["rows"]:
            row["penalised"] = row["deviance"] + float(spur.penalty) * row["n_par"]
            row["passes"] = bool(
                row["max_abs_ratio"] - float(spur.relax) * sel["template_noise"]
                <= float(spur.max_ratio)
            )
    return {
        "format": FORMAT,
        "version": VERSION,
        "selections": [float(f) for f in settings.toys.selections],
        "models": res["choice"],
        "passed": all(sel["passed"] for sel in res["selections"]),
        "message": _message(labels, res),
        "passed_per_selection": [sel["passed"] for sel in res["selections"]],
        "warnings": res["warnings"],
        "settings": spur.to_dict(),
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
