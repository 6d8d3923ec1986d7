"""A report anyone can read and share: one self-contained HTML file about a model.

What the model's file records (core.model.storage: dataset summary, settings, history, timings,
evaluation, versions) and, when pictures are given, what checking it on them shows (confusion
matrix, per-class scores, the most confident mistakes with where the model looked, likely label
errors). Figures are matplotlib PNGs and thumbnails Pillow PNGs, both inlined as ``data:`` URIs;
the style sheet is inline too. The file refers to nothing outside itself, so it opens the same
in any browser, offline, attached to a mail. Every name that comes from the user's disk (files,
folders, classes) is escaped, and so is every value read from the model's file: whoever wrote the
file wrote its metadata, so a recorded value reaches the page only as escaped text or as a number
checked to be one (see "recorded values" below).

``collect()`` does the work (it may take a while: run it in a worker), ``render()`` turns its
result into HTML and ``write_report()`` saves that atomically, never over a file unless told to.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import fileops
from ..data.dataset import TRAINED_PICTURES
from ..errors import CancelledError, CatdogError
from ..safe_text import ESCAPE_ERRORS, plain_label

log = logging.getLogger(__name__)

#: Mistakes shown with thumbnails and heatmaps (the most confident first).
TOP_MISTAKES = 12
#: Likely label errors listed; the first :data:`LABEL_THUMBS` with thumbnails.
TOP_LABEL_ERRORS = 30
LABEL_THUMBS = 12
#: Side of the thumbnails in the file (pixels): small enough that a report stays a few MB.
THUMB_SIZE = 160
#: Skipped files listed by name (the rest counted).
SKIPPED_LISTED = 20

NOT_RECORDED = "not recorded"

ProgressFn = Callable[[int, int, str], None]


@dataclass
class ShownMistake:
    """A wrong answer as the report shows it: the picture, and where the model looked (PNG bytes)."""

    path: str
    true_class: str
    predicted_class: str
    probability: float
    picture_png: bytes | None = None
    heat_png: bytes | None = None
    error: str = ""   # why the picture or its heatmap could not be shown


@dataclass
class ReportData:
    """Everything a report shows; plain data (made in a worker, rendered anywhere)."""

    model_name: str
    class_names: list[str]
    image_size: int
    metadata: dict
    created: str
    #: The dataset summary: from the pictures given, else the one recorded when the model was trained.
    dataset: dict | None = None
    dataset_source: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: core.evaluate.evaluation.EvaluationResult: checked now on the pictures given, else the recorded one.
    evaluation: object | None = None
    evaluation_source: str = ""
    left_out: dict[str, int] = field(default_factory=dict)
    trained_left_out: int = 0  # pictures of the folder left out because the model trained on them
    mistakes: list[ShownMistake] = field(default_factory=list)
    mistakes_note: str = ""
    #: core.evaluate.label_errors.LabelCheck when the check ran, else None (and the note says why).
    label_check: object | None = None
    label_note: str = ""
    label_thumbs: dict[str, bytes] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    #: The model exists only in memory (trained just now): it was made with this report's libraries.
    unsaved: bool = False
    #: Shown under the title: which pictures the figures come from, and whether the model trained on them.
    pictures_note: str = ""


# ----- collecting ---------------------------------------------------------------------------------
def collect(classifier, scan=None, *, check_labels: bool = True, top_mistakes: int = TOP_MISTAKES,
            progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None,
            name: str | None = None) -> ReportData:
    """Gather what the report of ``classifier`` (core.classify.classifier.Classifier) shows.

    ``scan`` (core.data.dataset.DatasetScan, optional): pictures to check the model on now, which gives
    the mistakes and the label check. Without it the evaluation recorded in the model is shown.
    ``name``: how to call the model (the app's name for it, e.g. the built-in one); by default its
    file name. Raises CancelledError when ``should_stop()`` turns true.
    """
    from ..versions import library_versions

    stop = should_stop or (lambda: False)
    report = progress or (lambda done, total, message: None)
    meta = dict(_mapping(classifier.metadata))
    if classifier.path and "keras_version" not in meta:
        meta["keras_version"] = _keras_version_in(classifier.path)
    data = ReportData(
        model_name=name or (os.path.basename(classifier.path) if classifier.path else "the model trained just now"),
        class_names=list(classifier.class_names), image_size=classifier.image_size, metadata=meta,
        created=time.strftime("%Y-%m-%d %H:%M"), versions=library_versions(), unsaved=not classifier.path,
    )
    recorded = meta.get("evaluation")
    if scan is None:
        data.dataset = _mapping(meta.get("dataset"))
        data.dataset_source = "recorded when the model was trained"
        data.evaluation = _recorded_evaluation(recorded)
        if data.evaluation is not None:
            data.evaluation_source = (f"recorded when the model was trained: {recorded.get('split', 'held-out')} "
                                      f"pictures")
        data.mistakes_note = ("The pictures were not given, so the mistakes cannot be shown. Export the report "
                              "with the dataset folder open (or give it to the command: report MODEL DATA_DIR).")
        data.label_note = "Not run: the pictures were not given."
        data.pictures_note = ("No pictures were checked for this report: the figures are the ones recorded "
                              "when the model was trained.")
        return data

    from ..data.holdout import as_split_for

    data.dataset = as_split_for(scan, meta).summary()  # split as the model was: what is scored below
    data.dataset_source = f"the folder {scan.root}, as found now"
    data.pictures_note = _pictures_note(meta.get("dataset"), scan)
    data.skipped = list(scan.skipped)
    scored = _evaluate(classifier, scan, report, stop)
    evaluation, data.left_out = scored.evaluation, scored.left_out
    data.trained_left_out = scored.trained_left_out
    data.skipped += [s for s in scored.skipped if s not in data.skipped]
    data.evaluation = evaluation
    data.evaluation_source = f"checked now on {_pictures(evaluation.count, evaluation.split)} of {scan.root}"
    data.mistakes = _show_mistakes(classifier, evaluation.mistakes[:top_mistakes], report, stop)
    if not evaluation.mistakes:
        data.mistakes_note = "No mistakes on these pictures."
    if check_labels:
        data.label_check, data.label_note = _check_labels(scan, meta, report, stop)
        if data.label_check is not None:
            data.label_thumbs = _thumbnails([i.path for i in data.label_check.issues[:LABEL_THUMBS]])
    else:
        data.label_note = "Not run (left out when the report was made)."
    return data


def _pictures_note(trained_on, scan) -> str:
    """Whether ``scan`` holds the pictures the model was trained on (its recorded dataset summary
    ``trained_on``), said so that nobody takes one dataset's scores for the other's training."""
    here = f"The scores and mistakes below come from checking the model now on the pictures in {scan.root}"
    trained_on = _mapping(trained_on)
    root = trained_on.get("root")
    if not root or not isinstance(root, str):
        return (f"{here}. Which pictures the model was trained on is not recorded, so these may or may not "
                "be its training pictures.")
    if _same_folder(root, scan.root) and _listed(trained_on.get("class_names")) == list(scan.class_names):
        if trained_on.get(TRAINED_PICTURES):
            return (f"{here}, the folder it was trained on (scored on every picture it never trained on: it "
                    "recorded which pictures it trained on).")
        return (f"{here}, the folder it was trained on (scored on the pictures held out from its training, "
                "as far as the folder has not changed).")
    total = sum(_whole(c) or 0 for key in ("train_counts", "validation_counts", "test_counts")
                for c in _listed(trained_on.get(key)))
    size = f" ({total:,} pictures)" if total else ""
    return (f"{here}. These are not the pictures it was trained on: it was trained on {root}{size}. "
            "“How it was trained” and “Learning curves” describe that training.")


def _same_folder(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError, ValueError):
        return a == b


def _pictures(count: int, split: str) -> str:
    """For example "20 validation pictures" or "all 200 pictures"."""
    return f"all {count:,} pictures" if split == "all" else f"{count:,} {split} pictures"


def _keras_version_in(path: str) -> str | None:
    """The Keras version a .keras file says it was saved with (its own metadata.json), or None."""
    import json
    import zipfile

    from ..model.storage import read_member

    try:  # read as little as the model's own description is allowed to be (no zip bomb)
        return json.loads(read_member(path, "metadata.json") or "{}").get("keras_version")
    except (OSError, KeyError, ValueError, AttributeError, zipfile.BadZipFile, CatdogError):
        return None


def _evaluate(classifier, scan, report, stop):
    """The model scored now on ``scan``'s held-out pictures, as the Evaluate tab scores a folder."""
    from ..evaluate.evaluation import evaluate_scan

    try:
        return evaluate_scan(classifier, scan, progress=report, should_stop=stop)
    except CancelledError:
        raise CancelledError("The report was not made.") from None


def _show_mistakes(classifier, mistakes, report, stop) -> list[ShownMistake]:
    """Thumbnails of ``mistakes`` with the heatmap of the (wrong) class the model chose."""
    from ..heatmaps import gradcam
    from ..data.images import ImageDecodeError, load_pixels, open_rgb

    shown = [ShownMistake(m.path, m.true_class, m.predicted_class, float(m.probabilities[m.predicted_class]))
             for m in mistakes]
    explainable = True
    for done, item in enumerate(shown):
        if stop():
            raise CancelledError("The report was not made.")
        report(done, len(shown), "Showing where the model looked")
        try:
            picture = open_rgb(item.path, draft_size=THUMB_SIZE)
            pixels = load_pixels(item.path, classifier.image_size)
        except ImageDecodeError as exc:
            item.error = str(exc)
            continue
        picture.thumbnail((THUMB_SIZE, THUMB_SIZE))
        item.picture_png = _png(picture)
        if not explainable:
            continue
        try:
            heat = gradcam.heatmap(classifier, pixels, classifier.class_names.index(item.predicted_class))
        except gradcam.NothingToExplainError as exc:
            explainable = False
            item.error = str(exc)
            continue
        item.heat_png = _png(gradcam.overlay(picture, heat))
    if shown:
        report(len(shown), len(shown), "Showing where the model looked")
    return shown


def _check_labels(scan, meta: dict, report, stop):
    """(LabelCheck, "") or (None, why it did not run)."""
    from ..evaluate import label_errors

    config = _mapping(meta.get("config"))
    size = _whole(config.get("image_size")) if config.get("backbone", "none") != "none" else None
    try:
        check = label_errors.check_labels(scan, progress=report, should_stop=stop,
                                          **({"image_size": size} if size else {}))
    except CancelledError:
        raise
    except CatdogError as exc:
        return None, f"Not run: {exc}"
    return check, ""


def _thumbnails(paths: list[str]) -> dict[str, bytes]:
    from ..data.images import ImageDecodeError, open_rgb

    thumbs = {}
    for path in paths:
        try:
            picture = open_rgb(path, draft_size=THUMB_SIZE)
        except ImageDecodeError:
            continue
        picture.thumbnail((THUMB_SIZE, THUMB_SIZE))
        thumbs[path] = _png(picture)
    return thumbs


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# ----- figures ------------------------------------------------------------------------------------
def _figure_png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def curves_png(history: list[dict]) -> bytes | None:
    """Loss and accuracy per epoch, training and validation (None without a history)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    history = [h for h in history if isinstance(h, dict)]
    epochs = [_whole(h.get("epoch")) or i + 1 for i, h in enumerate(history)]
    if not any(_real(h.get(key)) is not None for h in history for key in ("loss", "accuracy", "val_loss", "val_accuracy")):
        return None  # nothing to draw
    fig = Figure(figsize=(9, 3.4))
    for ax, key, title in ((fig.add_subplot(1, 2, 1), "loss", "Loss (lower is better)"),
                           (fig.add_subplot(1, 2, 2), "accuracy", "Accuracy (higher is better)")):
        for prefix, label, style in (("", "training pictures", "-"), ("val_", "validation pictures", "-")):
            values = [_real(h.get(prefix + key), math.nan) for h in history]
            ax.plot(epochs, values, style, marker="o", markersize=3, label=label)
        stages = [h.get("stage") for h in history]
        for i in range(1, len(stages)):
            if stages[i] != stages[i - 1]:
                ax.axvline(epochs[i] - 0.5, color="#9e9e9e", linestyle=":", linewidth=1)
                ax.text(epochs[i] - 0.4, ax.get_ylim()[1], plain_label(stages[i]), fontsize=8, color="#616161",
                        va="top")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _figure_png(fig)


#: Classes up to which the confusion-matrix figure writes the counts in its cells (its table has them).
COUNTS_DRAWN_LIMIT = 20
#: Classes above which the report draws no confusion-matrix figure (it shows the table instead):
#: a 200-class figure cannot be read, and its 200 tick labels alone take seconds to lay out.
CONFUSION_FIGURE_LIMIT = 50


def confusion_png(confusion: list[list[int]], class_names: list[str]) -> bytes:
    """The confusion matrix as a heat grid with the counts written in."""
    from matplotlib.figure import Figure

    matrix = np.asarray(confusion, dtype=float)
    k = len(class_names)
    side = min(2.2 + 0.7 * k, 12)
    fig = Figure(figsize=(side + 1.2, side))
    ax = fig.add_subplot(1, 1, 1)
    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(k if k <= COUNTS_DRAWN_LIMIT else 0):  # more would be too small to read, and slow to draw
        for j in range(k):
            ax.text(j, i, f"{int(matrix[i, j])}", ha="center", va="center", fontsize=9,
                    color="white" if shares[i, j] > 0.6 else "black")
    labels = [plain_label(_short(n)) for n in class_names]  # a "$" is a dollar, not maths
    ax.set_xticks(range(k), labels, rotation=45 if k > 3 else 0, ha="right" if k > 3 else "center")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("the model said")
    ax.set_ylabel("the folder says")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the folder's pictures")
    fig.tight_layout()
    return _figure_png(fig)


def _short(name: str, limit: int = 18) -> str:
    return name if len(name) <= limit else name[:limit - 1] + "…"


# ----- recorded values ----------------------------------------------------------------------------
# A model's metadata holds whatever its file's writer put there: each value reaches the page through
# these, as escaped text or as a number checked to be one (a string that reads as a number is not one).
def _text(value) -> str:
    """Any value as escaped text."""
    return html.escape(str(value))


def _real(value, default=None):
    """``value`` as a float when it is a finite number (not a bool, not a string), else ``default``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return default
    value = float(value)
    return value if math.isfinite(value) else default


def _whole(value) -> int | None:
    """``value`` when it is a count (a whole number, 0 or more), else None."""
    number = _real(value)
    return int(number) if number is not None and number >= 0 and number == int(number) else None


def _count(value) -> str:
    """A recorded count for the page ("1,234"), or "not recorded"."""
    number = _whole(value)
    return f"{number:,}" if number is not None else _missing()


def _formatted(value, spec: str) -> str:
    """A recorded number formatted with ``spec`` (".1%", ".3f"), or "not recorded"."""
    number = _real(value)
    return format(number, spec) if number is not None else _missing()


def _sum(counts: list) -> int | None:
    """The sum of recorded counts (None for one not recorded), or None when one is not a count."""
    whole = [0 if c is None else _whole(c) for c in counts]
    return None if None in whole else sum(whole)


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def _listed(value) -> list:
    return value if isinstance(value, list) else []


def _recorded_evaluation(recorded):
    """The evaluation a model recorded (core.evaluate.evaluation.EvaluationResult), or None when there is none
    or it is not in the shape this app writes. Its values are checked again where they are shown."""
    from ..evaluate.evaluation import EvaluationResult

    if not isinstance(recorded, dict) or not recorded.get("confusion"):
        return None
    try:
        evaluation = EvaluationResult.from_dict(recorded)
    except (TypeError, ValueError, AttributeError) as exc:
        log.info("the recorded evaluation is not readable: %s", exc)
        return None
    lists = (evaluation.class_names, evaluation.confusion, evaluation.per_class)
    return evaluation if all(isinstance(items, list) for items in lists) else None


# ----- HTML ---------------------------------------------------------------------------------------
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 24px; color: #212121; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 2px solid #e0e0e0; padding-bottom: 4px; margin-top: 2em; }
.sub { color: #616161; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #e0e0e0; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.missing { color: #9e9e9e; font-style: italic; }
.note { background: #fff8e1; border-left: 4px solid #ffb300; padding: 6px 10px; margin: 8px 0; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; width: 340px; border: 1px solid #e0e0e0; border-radius: 6px; padding: 6px; }
figure.small { width: 170px; }
figure .pair { display: flex; gap: 4px; justify-content: center; }
figure img { max-width: 160px; max-height: 160px; }
figcaption { font-size: 0.85em; word-break: break-all; margin-top: 4px; }
img.figure { max-width: 100%; }
details { margin: 6px 0; }
.path { font-family: ui-monospace, monospace; font-size: 0.85em; word-break: break-all; }
"""

SECTIONS = (("dataset", "The pictures"), ("training", "How it was trained"), ("curves", "Learning curves"),
            ("confusion", "Confusion matrix"), ("per-class", "Scores per class"),
            ("mistakes", "The most confident mistakes, and where the model looked"),
            ("label-errors", "Likely label errors"), ("versions", "Library versions and seed"))


def render(data: ReportData) -> str:
    """The report as one HTML document (a string), referring to nothing outside itself."""
    e = html.escape
    meta = _mapping(data.metadata)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Report on {e(data.model_name)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Report on {e(data.model_name)}</h1>",
        f'<p class="sub">Classes: {e(", ".join(map(str, data.class_names)))} · {_model_kind(meta)} · pictures of '
        f"{_count(data.image_size)}×{_count(data.image_size)} pixels · made {e(data.created)} by catdog-desktop</p>",
        *([f'<p class="note">{e(data.pictures_note)}</p>'] if data.pictures_note else []),
        '<nav><p>' + " · ".join(f'<a href="#{key}">{e(title)}</a>' for key, title in SECTIONS) + "</p></nav>",
    ]
    sections = {
        "dataset": _dataset_html(data), "training": _training_html(meta), "curves": _curves_html(meta),
        "confusion": _confusion_html(data), "per-class": _per_class_html(data),
        "mistakes": _mistakes_html(data), "label-errors": _label_errors_html(data), "versions": _versions_html(data),
    }
    for key, title in SECTIONS:
        parts.append(f'<section id="{key}"><h2>{e(title)}</h2>{sections[key]}</section>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _model_kind(meta: dict) -> str:
    config = _mapping(meta.get("config"))
    name = _mapping(meta.get("backbone")).get("name") or config.get("backbone", "none")
    if not config and name == "none":
        return "how it was made is not recorded"
    if name == "none":
        return "trained from scratch"
    return f"started from the pretrained {html.escape(str(name))}"


def _missing(what: str = NOT_RECORDED) -> str:
    return f'<span class="missing">{html.escape(what)}</span>'


def _table(header: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(png: bytes, alt: str, css: str = "") -> str:
    encoded = base64.b64encode(png).decode("ascii")
    cls = f' class="{css}"' if css else ""
    return f'<img{cls} alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _dataset_html(data: ReportData) -> str:
    e = html.escape
    d = _mapping(data.dataset)
    if not d:
        return f"<p>The dataset: {_missing()}.</p>"
    names = _listed(d.get("class_names"))
    columns = [("training", d.get("train_counts")), ("validation", d.get("validation_counts")),
               ("test", d.get("test_counts"))]
    columns = [(title, counts) for title, counts in columns if isinstance(counts, list) and counts]
    rows = []
    for i, name in enumerate(names):
        counts = [counts[i] if i < len(counts) else None for _, counts in columns]
        rows.append([_text(name), *("" if c is None else _count(c) for c in counts), _count(_sum(counts))])
    totals = [_sum(counts) for _, counts in columns]
    rows.append(["<b>all</b>", *map(_count, totals), _count(None if None in totals else sum(totals))])
    numeric = set(range(1, len(columns) + 2))
    parts = [f"<p>Source: {e(data.dataset_source)}. Folder: <span class=\"path\">{_text(d.get('root', ''))}"
             f"</span> ({_text(d.get('layout', ''))}).</p>",
             _table(["class", *[t for t, _ in columns], "all"], rows, numeric),
             f"<p>Validation pictures: {_text(d.get('validation_source', NOT_RECORDED))}.</p>"]
    skipped = data.skipped
    count = len(skipped) if skipped else _whole(d.get("skipped", 0))
    if count is None:
        parts.append(f"<p>Files skipped (not usable as pictures): {_missing()}.</p>")
    elif count:
        parts.append(f"<p>Files skipped (not usable as pictures): {count:,}.</p>")
        if skipped:
            items = "".join(f'<li><span class="path">{e(p)}</span>: {e(r)}</li>' for p, r in skipped[:SKIPPED_LISTED])
            more = f"<li>… and {len(skipped) - SKIPPED_LISTED:,} more</li>" if len(skipped) > SKIPPED_LISTED else ""
            parts.append(f"<details><summary>Which ones</summary><ul>{items}{more}</ul></details>")
    else:
        parts.append("<p>No files were skipped.</p>")
    problems = [_mapping(p) for p in _listed(d.get("problems"))]
    if problems:
        items = "".join(f"<li>{_text(p.get('level', ''))}: {_text(p.get('message', ''))}</li>" for p in problems)
        parts.append(f"<p>What the scan noticed:</p><ul>{items}</ul>")
    if data.left_out:
        left = ", ".join(f"{_text(n)} ({_count(c)})" for n, c in data.left_out.items())
        parts.append(f'<p class="note">Left out, as classes the model does not know: {left}.</p>')
    if data.trained_left_out:
        parts.append(f'<p class="note">Left out: {_count(data.trained_left_out)} pictures the model trained on.</p>')
    return "".join(parts)


#: Settings shown first, with what they mean; the rest are in the "all settings" list.
MAIN_SETTINGS = (("backbone", "model type"), ("image_size", "picture size (pixels)"), ("epochs", "most epochs"),
                 ("head_epochs", "classifier epochs"), ("batch_size", "batch size"),
                 ("learning_rate", "learning rate"), ("augmentation", "augmentation"),
                 ("time_limit_minutes", "time limit (minutes)"), ("validation_split", "validation share"),
                 ("seed", "seed"))


def _training_html(meta: dict) -> str:
    e = html.escape
    config = _mapping(meta.get("config"))
    if not config:
        return f"<p>The settings and the training: {_missing()} (a model made by another program?).</p>"
    scratch = config.get("backbone", "none") == "none"
    shown = {**config, "backbone": "from scratch" if scratch else f"pretrained {config.get('backbone')}"}
    if not shown.get("time_limit_minutes", 1):
        shown["time_limit_minutes"] = "none"
    labels = dict(MAIN_SETTINGS)
    if not scratch:  # config.epochs: the most epochs of fine-tuning, after the classifier's own epochs
        labels["epochs"] = ("most fine-tuning epochs" if config.get("fine_tune", True)
                            else "most fine-tuning epochs (fine-tuning was off)")
    rows = [[e(labels[key]), _text(shown[key])] for key, _ in MAIN_SETTINGS
            if key in shown and not (scratch and key == "head_epochs")]
    all_rows = [[_text(k), _text(v)] for k, v in sorted(config.items())]
    parts = [_table(["setting", "value"], rows),
             f"<details><summary>All settings</summary>{_table(['setting', 'value'], all_rows)}</details>"]
    seconds = _real(meta.get("train_seconds"))
    history = _listed(meta.get("history"))
    best = _whole(meta.get("best_epoch"))
    if seconds is not None:
        parts.append(f"<p>It trained for <b>{_duration(seconds)}</b>, {_epochs(history)}"
                     + (f"; the best was epoch {best}" if best else "") + ".</p>")
    else:
        parts.append(f"<p>How long it trained: {_missing()}.</p>")
    stages = _mapping(meta.get("stage_seconds"))
    if stages:
        parts.append(_table(["stage", "time"], [[_text(k), _duration(v)] for k, v in stages.items()], {1}))
    ends = [text for key, text in (("stopped_by_time_limit", "the time limit was reached"),
                                   ("stopped_early", "it stopped early: the validation accuracy no longer improved"),
                                   ("stopped_by_user", "it was stopped by hand")) if meta.get(key)]
    if ends:
        parts.append(f"<p>How it ended: {e('; '.join(ends))}.</p>")
    for note in _listed(meta.get("notes")):
        parts.append(f'<p class="note">{_text(note)}</p>')
    return "".join(parts)


def _epochs(history: list[dict]) -> str:
    """For example "42 epochs (30 of the classifier, 12 of fine-tuning)", or "12 epochs" (HTML)."""
    stages: dict[str, int] = {}
    for h in history:
        stage = h.get("stage") if isinstance(h, dict) else None
        if stage:
            stages[str(stage)] = stages.get(str(stage), 0) + 1
    total = f"{len(history)} epoch{'' if len(history) == 1 else 's'}"
    if not stages:  # from scratch: one stage
        return total
    return total + " (" + ", ".join(f"{n} of {'the ' if stage == 'classifier' else ''}{_text(stage)}"
                                    for stage, n in stages.items()) + ")"


def _duration(seconds) -> str:
    """A recorded number of seconds in words ("1.5 min"), or "not recorded"."""
    seconds = _real(seconds)
    if seconds is None:
        return _missing()
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _curves_html(meta: dict) -> str:
    history = _listed(meta.get("history"))
    png = curves_png(history) if history else None
    if png is None:
        return f"<p>The history of the training: {_missing()}.</p>"
    return (_img(png, "loss and accuracy per epoch", "figure")
            + "<p class=\"sub\">When the validation line stops improving while the training line still "
              "does, the model has begun to learn its training pictures by heart.</p>")


def _confusion_html(data: ReportData) -> str:
    e = html.escape
    ev = data.evaluation
    if ev is None:
        return f"<p>The confusion matrix: {_missing()}.</p>"
    names = [str(name) for name in ev.class_names]
    matrix = [_listed(row) for row in ev.confusion]
    rows = [[f"<b>{_text(name)}</b>", *map(_count, row)] for name, row in zip(names, matrix)]
    table = _table(["the folder says ↓ / the model said →", *names], rows, set(range(1, len(names) + 1)))
    counts = [[_whole(v) for v in row] for row in matrix]
    square = len(counts) == len(names) and all(len(row) == len(names) and None not in row for row in counts)
    k = len(names)
    if k > CONFUSION_FIGURE_LIMIT:
        shown = (f'<p class="note">With {k} classes the confusion matrix is too large to draw: it is shown as a '
                 f"table only (figures are drawn up to {CONFUSION_FIGURE_LIMIT} classes).</p>"
                 f"<details><summary>The table</summary>{table}</details>")
    else:
        figure = (_img(confusion_png(counts, names), "confusion matrix", "figure") if square
                  else f"<p>The matrix as a picture: {_missing('its recorded counts are not whole numbers')}.</p>")
        shown = f"{figure}<details><summary>As a table</summary>{table}</details>"
    return (f"<p>{e(data.evaluation_source[:1].upper() + data.evaluation_source[1:])}. Each row is a class as its folder says; the diagonal counts "
            f"the right answers.</p>{shown}")


def _per_class_html(data: ReportData) -> str:
    e = html.escape
    ev = data.evaluation
    if ev is None:
        return f"<p>Scores: {_missing()}.</p>"
    rows = [[_text(c.name), _formatted(c.precision, ".1%"),
             _formatted(c.recall, ".1%") if _whole(c.support) != 0 else "no pictures", _formatted(c.f1, ".3f"),
             _count(c.support)] for c in ev.per_class]
    count = _whole(ev.count)
    pictures = e(_pictures(count, str(ev.split))) if count is not None else f"{_text(ev.split)} pictures"
    return (f"<p>Accuracy <b>{_formatted(ev.accuracy, '.1%')}</b> on {pictures} "
            f"(loss {_formatted(ev.loss, '.4f')}).</p>"
            + _table(["class", "precision", "recall", "F1", "pictures"], rows, {1, 2, 3, 4})
            + "<p class=\"sub\">Precision: of the pictures the model put in a class, the share that belong "
              "there. Recall: of a class's pictures, the share the model found.</p>")


def _mistakes_html(data: ReportData) -> str:
    e = html.escape
    if not data.mistakes:
        return f"<p>{e(data.mistakes_note) if data.mistakes_note else _missing()}</p>"
    figures = []
    for m in data.mistakes:
        images = ""
        if m.picture_png:
            images += _img(m.picture_png, f"picture {os.path.basename(m.path)}")
        if m.heat_png:
            images += _img(m.heat_png, f"where the model looked in {os.path.basename(m.path)}")
        problem = f"<br><i>{e(m.error)}</i>" if m.error else ""
        figures.append(
            f'<figure><div class="pair">{images}</div><figcaption><b>{e(m.true_class)}</b> taken for '
            f"<b>{e(m.predicted_class)}</b> ({m.probability:.1%} sure)<br><span class=\"path\">"
            f"{e(_within(m.path, data.dataset))}"
            f"</span>{problem}</figcaption></figure>")
    total = len(data.evaluation.mistakes) if data.evaluation is not None else len(data.mistakes)
    return (f"<p>{len(data.mistakes)} of {total:,} mistakes (file names within the folder above), the most "
            "confident first: a very sure wrong "
            "answer is often a picture in the wrong folder. Beside each picture, in red, the parts that made "
            "the model choose the wrong class (Grad-CAM).</p>"
            f'<div class="grid">{"".join(figures)}</div>')


def _within(path: str, dataset: dict | None) -> str:
    """``path`` relative to the dataset's folder when it lies inside it (shorter to read)."""
    root = _mapping(dataset).get("root")
    if root and isinstance(root, str):
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            pass
    return path


def _label_errors_html(data: ReportData) -> str:
    e = html.escape
    check = data.label_check
    if check is None:
        return f"<p>{e(data.label_note)}</p>"
    if not check.issues:
        return f"<p>None found among {check.checked:,} pictures ({e(check.method)}).</p>"
    notes = "".join(f'<p class="note">{e(str(n))}</p>' for n in getattr(check, "notes", []) or [])
    figures = []
    for issue in check.issues[:LABEL_THUMBS]:
        png = data.label_thumbs.get(issue.path)
        picture = _img(png, os.path.basename(issue.path)) if png else ""
        figures.append(f'<figure class="small">{picture}<figcaption>in <b>{e(issue.label)}</b>, looks like '
                       f"<b>{e(issue.suggested)}</b> (score {issue.score:.2f})<br><span class=\"path\">"
                       f"{e(os.path.basename(issue.path))}</span></figcaption></figure>")
    rows = [[str(i + 1), f'<span class="path">{e(_within(x.path, data.dataset))}</span>', e(x.label), e(x.suggested),
             f"{x.score:.3f}"]
            for i, x in enumerate(check.issues[:TOP_LABEL_ERRORS])]
    more = (f"<p>… and {len(check.issues) - TOP_LABEL_ERRORS:,} more.</p>"
            if len(check.issues) > TOP_LABEL_ERRORS else "")
    return (f"<p>{len(check.issues):,} of {check.checked:,} pictures may be in the wrong folder "
            f"({e(check.method)}).</p>{notes}<div class=\"grid\">{''.join(figures)}</div>"
            + _table(["#", "picture", "its folder", "looks like", "score"], rows, {0, 4}) + more)


def _versions_html(data: ReportData) -> str:
    meta = _mapping(data.metadata)
    recorded = _mapping(meta.get("versions"))
    keras_saved = meta.get("keras_version")
    names = list(dict.fromkeys([*recorded, *data.versions]))
    parts = []
    if not recorded and data.unsaved:
        parts.append("<p>The model is not saved yet: it was made with the libraries of this report.</p>")
        parts.append(_table(["library", "version"], [[_text(n), _text(v)] for n, v in data.versions.items()]))
    else:
        if not recorded:
            parts.append(f"<p>The versions the model was saved with: {_missing()}"
                         + (f" (its file says Keras {_text(keras_saved)})" if keras_saved else "") + ".</p>")
        rows = [[_text(n), _text(recorded[n]) if n in recorded else _missing(), _text(data.versions.get(n, "—"))]
                for n in names]
        parts.append(_table(["library", "when the model was saved", "this report"], rows))
    config = _mapping(meta.get("config"))
    dataset = _mapping(meta.get("dataset"))
    seeds = []
    if "seed" in config:
        seeds.append(f"training seed {_text(config['seed'])}")
    if "seed" in dataset:
        seeds.append(f"split seed {_text(dataset['seed'])}")
    parts.append(f"<p>Seed: {', '.join(seeds) if seeds else _missing()}.</p>")
    backbone = _mapping(meta.get("backbone"))
    if backbone.get("weights_sha256"):
        parts.append(f"<p>Pretrained weights: {_text(backbone.get('weights_file', ''))} "
                     f"(sha256 <span class=\"path\">{_text(backbone['weights_sha256'])}</span>).</p>")
    return "".join(parts)


# ----- writing ------------------------------------------------------------------------------------
def write_report(text: str, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Save ``text`` to ``path`` (".html" added when it has no extension) atomically: a temporary
    file in the same folder renamed into place. An existing file is replaced only with
    ``overwrite``; otherwise CatdogError says so (as for any folder that cannot be written)."""
    # A name that is not UTF-8 (Linux allows any bytes) is shown with backslash escapes (core.safe_text).
    return fileops.write_file(text.encode("utf-8", ESCAPE_ERRORS), with_extension(path), overwrite, "the report")


def with_extension(path: str | os.PathLike) -> Path:
    """``path`` with ".html" added when it has no extension."""
    path = Path(path).expanduser()
    return path if path.suffix else path.with_name(path.name + ".html")
