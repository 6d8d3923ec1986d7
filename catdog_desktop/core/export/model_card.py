"""What is written beside an export: the JSON that core.export.runtimes reads, and MODEL_CARD.md (what the
file expects and gives, how the model was trained, and how well the export agrees with it)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .formats import ExportFormat, ExportResult


def export_metadata(classifier, spec: ExportFormat, result: ExportResult) -> dict:
    """The JSON beside the export: what core.export.runtimes needs to use it, and the parity figures."""
    from ... import __version__

    return {
        "class_names": list(classifier.class_names),
        "image_size": classifier.image_size,
        "input": "float32 RGB pixels 0-255, shape (batch, size, size, 3); scaling is inside the model",
        "output": _output_description(classifier.class_names),
        "format": spec.key,
        "exported_from": classifier.path,
        "exported_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "catdog_desktop": __version__,
        "parity": {k: v for k, v in result.to_dict().items() if k not in ("files", "path")},
        **_calibration(classifier.metadata),
    }


def _calibration(metadata: dict | None) -> dict:
    """The model's recorded "not sure" threshold, so an export says "not sure" as the app does.
    Not the "none of these" summary: it compares features, which an export does not output."""
    from ..model.calibration import METADATA_KEY

    threshold = ((metadata or {}).get(METADATA_KEY) or {}).get("confidence_threshold")
    return {METADATA_KEY: {"confidence_threshold": threshold}} if threshold else {}


def _output_description(class_names: list[str]) -> str:
    if len(class_names) == 2:
        return (f"one number per picture: the probability of '{class_names[1]}' "
                f"('{class_names[0]}' is 1 minus it)")
    return "one probability per class, in the order of labels.txt (they sum to 1)"


def _not_sure_line(classifier, spec: ExportFormat) -> str:
    from ..model.calibration import recorded_threshold

    threshold = recorded_threshold(classifier.metadata)
    used = ("catdog-desktop-cli predict uses it" if spec.suffix
            else "for your own code: catdog-desktop-cli predict does not open SavedModel folders")
    said = (f'"Not sure" under a top probability of {threshold:.1%}, the threshold recorded from the model\'s '
            f"validation pictures (in the JSON file beside the export, under calibration; {used}).") \
        if threshold is not None else \
        'No "not sure" threshold was recorded for this model.'
    return said + (' "None of these" (a picture like none of the classes) is only answered in the app: '
                   "it compares the model's inner features, which an export does not output.")


def model_card(classifier, spec: ExportFormat, result: ExportResult) -> str:
    """MODEL_CARD.md: what the file expects and gives, how it was trained, how well it agrees."""
    import keras

    meta = classifier.metadata
    size = classifier.image_size
    ev = meta.get("evaluation") or {}
    data = meta.get("dataset") or {}
    config = meta.get("config") or {}
    backbone = (meta.get("backbone") or {}).get("name") or config.get("backbone")
    lines = [
        f"# Model card: {Path(result.path).name}",
        "",
        f"{spec.title}, exported by catdog-desktop from `{classifier.path or 'a model not yet saved'}` "
        f"on {datetime.now(timezone.utc):%Y-%m-%d} (Keras {keras.__version__}).",
        "",
        "## Input and output",
        "",
        f"- Input: RGB pictures of {size} x {size} pixels, float32, **raw pixel values 0-255**; the scaling "
        "the network needs is inside the model. Shape (batch, height, width, 3).",
        f"- Pictures are turned upright (EXIF), converted to RGB and squashed to {size} x {size} "
        "(no crop, bilinear), as catdog-desktop does.",
        f"- Output: {_output_description(classifier.class_names)}.",
        f"- Classes, in order: {', '.join(f'{i}: {n}' for i, n in enumerate(classifier.class_names))} "
        "(also in the labels file).",
        f"- {_not_sure_line(classifier, spec)}",
        "",
        "## How it was trained",
        "",
    ]
    if backbone and backbone != "none":
        lines.append(f"- Starts from {backbone} pretrained on ImageNet; a classifier trained on the pictures below.")
    elif config:
        lines.append("- A small convolutional network trained from scratch.")
    if data.get("class_names"):
        counts = data.get("train_counts") or []
        lines.append(f"- Dataset: {data.get('layout', '')}, training pictures per class: "
                     + ", ".join(f"{n} {c}" for n, c in zip(data["class_names"], counts)) + ".")
    if meta.get("history"):
        lines.append(f"- Epochs run: {len(meta['history'])} (best: {meta.get('best_epoch')}), "
                     f"image size {config.get('image_size', size)}.")
    if ev:
        lines.append(f"- Accuracy measured after training: {ev.get('accuracy', 0):.1%} on {ev.get('count')} "
                     f"{ev.get('split')} pictures.")
    provenance = meta.get("provenance") or {}
    if provenance.get("source"):
        lines.append(f"- Source: {provenance['source']}.")
    if len(lines) and lines[-1] == "":
        lines.append("- Not recorded (a plain Keras file).")
    lines += [
        "",
        "## Parity check",
        "",
        f"The pictures went through this file in the {result.runtime} and through the app's Keras model.",
        "",
        f"- Pictures: {result.parity_source}.",
        f"- Same top class: **{result.agreement:.2%}** of {result.pictures}.",
        f"- Largest difference of a probability: {result.max_difference:.2g}.",
    ]
    if result.accuracy is not None:
        lines.append(f"- Accuracy on these pictures: {result.accuracy:.2%} (the app's model: {result.app_accuracy:.2%}).")
    lines += [f"- Size: {result.size_bytes / 1e6:.2f} MB.", *[f"- {note}" for note in result.notes], "",
              f"**{result.verdict()}**", ""]
    return "\n".join(lines)
