"""A report anyone can read and share: :class:`~.collect.ReportData` rendered as one self-contained
HTML file, saved atomically.

Figures and thumbnails are inlined as ``data:`` URIs and the style sheet is inline too: the file
refers to nothing outside itself, so it opens the same in any browser, offline, attached to a
mail. Every name that comes from the user's disk (files, folders, classes) is escaped, and so is
every value read from the model's file (see ``values``). ``render()`` makes the HTML and
``write_report()`` saves it, never over a file unless told to.
"""


from __future__ import annotations

import base64
import html
import logging
import os
from pathlib import Path


from .. import fileops
from ..safe_text import ESCAPE_ERRORS
from .collect import LABEL_THUMBS, SKIPPED_LISTED, TOP_LABEL_ERRORS, ReportData, _pictures
from .figures import CONFUSION_FIGURE_LIMIT, confusion_png, curves_png
from .values import NOT_RECORDED, _count, _formatted, _listed, _mapping, _missing, _real, _sum, _text, _whole

log = logging.getLogger(__name__)

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
    where = f"on {pictures}"
    if count and _whole(getattr(ev, "folds", 0)):
        where = e(ev.where())  # "estimated by cross-validation on N pictures (k folds)"
    return (f"<p>Accuracy <b>{_formatted(ev.accuracy, '.1%')}</b> {where} "
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
