"""The demo's report: demo_report/index.html with pictures, results.json, and the printed table.

Each pressed ball gets, per press, a Grad-CAM / deep-feature-factorisation figure laid out like
the paper's Fig. 3 (``learning.explain_figure``), made with the PyTorch weights exported beside
the graph's ONNX model and the no-contact frame the demo client took while the arm approached.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from matplotlib.figure import Figure

from tactile_material_ros.demo.records import TargetRecord
from tactile_material_ros.inference.overlay import class_colour
from tactile_material_ros.paths import model_file

if TYPE_CHECKING:
    from tactile_material_ros.learning.explain_figure import Explainer

log = logging.getLogger(__name__)

TABLE_COLUMNS = ("target", "true material", "label", "confidence", "presses", "cycle time")


def format_table(records: Sequence[TargetRecord]) -> str:
    """The table the demo prints: one row per target."""
    rows = [TABLE_COLUMNS] + [
        (r.target, r.material, (r.label or "(none)") + (f" ({r.reason})" if r.reason and r.reason != r.label else ""), f"{100 * r.confidence:.1f} %", str(len(r.presses)),
         f"{r.cycle_s:.1f} s")
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_COLUMNS))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _probability_chart(record: TargetRecord, class_names: Sequence[str], path: Path) -> None:
    fig = Figure(figsize=(6.0, 4.2), dpi=100)
    ax = fig.subplots()
    probs = record.probabilities if record.probabilities is not None else np.zeros(len(class_names))
    order = np.arange(len(class_names))[::-1]
    colours = [class_colour(i, len(class_names)) for i in order]
    ax.barh([class_names[i] for i in order], [probs[i] for i in order], color=colours)
    for tick in ax.get_yticklabels():
        if tick.get_text() == record.material:
            tick.set_fontweight("bold")
    ax.set_xlim(0, 1)
    ax.set_xlabel("fused probability")
    ax.set_title(f"{record.target}: {record.label or '(no label)'} (true: {record.material})", fontsize=10)
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path)


def _force_chart(record: TargetRecord, start_s: float, path: Path) -> None:
    fig = Figure(figsize=(6.0, 3.0), dpi=100)
    ax = fig.subplots()
    if record.force_trace:
        t, force = np.asarray(record.force_trace).T
        ax.plot(t, force, lw=1.2, color="tab:blue", label="|F| at the TCP")
    for i, press in enumerate(record.presses):
        ax.axvline(press.stamp_s - start_s, color="tab:red", ls="--", lw=1, label="press (settled)" if i == 0 else None)
    for t, state in record.states:
        ax.annotate(state, (t, 1.0), xycoords=("data", "axes fraction"), rotation=90, fontsize=6, va="top",
                    color="0.4")
    ax.set_xlabel("time since the palpate request [s]")
    ax.set_ylabel("force [N]")
    ax.legend(loc="center left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def _figures(pictures: Sequence[tuple[str, str]]) -> str:
    return "".join(f'<figure><img src="{html.escape(src)}" alt="{html.escape(cap)}">'
                   f"<figcaption>{html.escape(cap)}</figcaption></figure>" for src, cap in pictures)


def _explainer(model: Path | None) -> tuple[Explainer | None, str]:
    """The explainer of the graph's model, or None and why not (the report then says so)."""
    from tactile_material_ros.learning.explain_figure import Explainer, ExplainerUnavailableError

    try:
        return Explainer.for_model(model or model_file()), ""
    except (ExplainerUnavailableError, ValueError) as exc:
        log.warning("no explanations in the report: %s", exc)
        return None, str(exc)


def _explanation_pictures(explainer: Explainer, record: TargetRecord, out_dir: Path) -> list[tuple[str, str]]:
    from tactile_material_ros.learning.explain_figure import save_explanation

    pictures = []
    for i, press in enumerate(record.presses):
        if press.frame is None or record.reference is None:
            continue
        name = f"{record.target}_press{i + 1}_explained.png"
        explanation = explainer.explain(press.frame, record.reference)
        save_explanation(explanation, f"{record.target}, press {i + 1} (true: {record.material})", out_dir / name,
                         {"object": record.target, "material": record.material, "press": i + 1})
        pictures.append((name, f"press {i + 1}: Grad-CAM for {explanation.target}, DFF concepts, top-5"))
    return pictures


def write_report(records: Sequence[TargetRecord], class_names: Sequence[str], out_dir: Path,
                 model_note: str = "", start_times_s: Sequence[float] | None = None,
                 model: Path | None = None) -> Path:
    """Write ``out_dir``/index.html, results.json and the pictures; return the index path.

    ``start_times_s``: per record, the clock time of its palpate request (force traces and
    press stamps are plotted relative to it). ``model``: the graph's ONNX model (default: the
    bundled one), whose exported PyTorch weights draw the explanation figures.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    explainer, no_explainer = _explainer(model)
    (out_dir / "results.json").write_text(json.dumps([r.result() for r in records], indent=2) + "\n")
    sections = []
    for k, record in enumerate(records):
        stem = record.target
        pictures = []
        for i, press in enumerate(record.presses):
            if press.frame is not None:
                cv2.imwrite(str(out_dir / f"{stem}_press{i + 1}.png"), press.frame)
                pictures.append((f"{stem}_press{i + 1}.png", f"press {i + 1} ({press.force_n:.1f} N)"))
        if record.overlay is not None:
            cv2.imwrite(str(out_dir / f"{stem}_overlay.png"), record.overlay)
            pictures.append((f"{stem}_overlay.png", "classifier overlay"))
        _probability_chart(record, class_names, out_dir / f"{stem}_probabilities.png")
        _force_chart(record, start_times_s[k] if start_times_s else 0.0, out_dir / f"{stem}_force.png")
        pictures += [(f"{stem}_probabilities.png", "fused probabilities"), (f"{stem}_force.png", "force trace")]
        explained = _explanation_pictures(explainer, record, out_dir) if explainer else []
        why = (f"<h3>Why: Grad-CAM and deep feature factorisation per press</h3><div class=col>{_figures(explained)}</div>"
               if explained else f"<p class=error>No explanation figures: {html.escape(no_explainer)}</p>"
               if no_explainer else "")
        verdict = "correct" if record.correct else "wrong"
        error = f"<p class=error>{html.escape(record.error)}</p>" if record.error else ""
        sections.append(
            f"<section><h2>{html.escape(record.target)}: <span class={verdict}>"
            f"{html.escape(record.label or '(no label)')}</span> (true: {html.escape(record.material)}, "
            f"{100 * record.confidence:.1f} %, {len(record.presses)} presses, {record.cycle_s:.1f} s)</h2>"
            f"{error}<div class=row>{_figures(pictures)}</div>{why}</section>")
    rows = "".join(
        f"<tr class={'correct' if r.correct else 'wrong'}><td>{html.escape(r.target)}</td><td>{html.escape(r.material)}"
        f"</td><td>{html.escape(r.label or '(none)')}</td><td>{100 * r.confidence:.1f} %</td><td>{len(r.presses)}</td>"
        f"<td>{r.cycle_s:.1f} s</td></tr>" for r in records)
    header = "".join(f"<th>{html.escape(c)}</th>" for c in TABLE_COLUMNS)
    correct = sum(r.correct for r in records)
    page = f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>tactile_material_ros demo</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #bbb; padding: 4px 10px; }}
tr.correct td:nth-child(3), span.correct {{ color: #176f2c; }} tr.wrong td:nth-child(3), span.wrong {{ color: #b3261e; }}
.row {{ display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }}
.col {{ display: flex; flex-direction: column; gap: 8px; }} .col img {{ max-width: 100%; }}
figure {{ margin: 0; }} figcaption {{ font-size: 0.8em; color: #555; }} .error {{ color: #b3261e; }}
</style></head><body>
<h1>Palpate and classify: {correct} of {len(records)} correct</h1>
<p>Simulated UR10 pressing a simulated DIGIT into each object of the scene (press, turn the tool 90&deg;,
press again); the classifier fuses both presses. {html.escape(model_note)}</p>
<table><tr>{header}</tr>{rows}</table>
{''.join(sections)}
</body></html>
"""
    index = out_dir / "index.html"
    index.write_text(page)
    log.info("report written to %s", index)
    return index
