"""The shareable report (core.report) and the CLI's explain/report commands, on the tiny model
trained once for the session and a folder with some pictures in the wrong class."""

import html.parser
import itertools
import json
import re
import shutil

import pytest
from PIL import Image

from catdog_desktop import cli
from catdog_desktop.core.report.collect import ReportData, _pictures_note, collect
from catdog_desktop.core.report.html import SECTIONS, render, write_report
from catdog_desktop.core.report.values import NOT_RECORDED
from catdog_desktop.core.model import storage
from catdog_desktop.core.data.dataset import scan_dataset
from catdog_desktop.core.classify.classifier import Classifier

SECTION_IDS = [key for key, _ in SECTIONS]


@pytest.fixture(scope="module")
def mixed_folder(trained, tmp_path_factory):
    """The held-out pictures, three of each class put in the other's folder, a cat in the dogs' folder
    whose name needs escaping, and a broken file."""
    scan, _, _ = trained
    root = tmp_path_factory.mktemp("mixed") / "pets"
    for name in scan.class_names:
        (root / name).mkdir(parents=True)
    moved = {0: 0, 1: 0}
    for path, label in zip(scan.validation.paths, scan.validation.labels):
        wrong = moved[label] < 3
        moved[label] += wrong
        target = scan.class_names[1 - label if wrong else label]
        shutil.copy(path, root / target / (("moved-" if wrong else "") + path.rsplit("/", 1)[-1]))
    first_cat = scan.validation.paths[scan.validation.labels.index(0)]
    shutil.copy(first_cat, root / "dogs" / 'odd <b>"name" & co.png')  # a mistake too, shown by name
    (root / "dogs" / "broken.jpg").write_bytes(b"\xff\xd8 not really a JPEG")
    return root


class Page(html.parser.HTMLParser):
    """What a browser would fetch: every src/href, and the ids of the sections."""

    def __init__(self):
        super().__init__()
        self.links, self.ids, self.images = [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href", "srcset", "poster", "data"):
            if key in attrs:
                self.links.append(attrs[key])
        if tag == "img":
            self.images += 1
        if "id" in attrs:
            self.ids.append(attrs["id"])


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


def test_report_has_every_part_and_refers_to_nothing_outside(trained, mixed_folder, tmp_path):
    _, _, model_path = trained
    classifier = Classifier.load(model_path)
    scan = scan_dataset(mixed_folder)
    steps = []
    data = collect(classifier, scan, progress=lambda *step: steps.append(step))
    text = render(data)
    out = write_report(text, tmp_path / "report")
    assert out.name == "report.html" and out.read_text(encoding="utf-8") == text

    page = parse(text)
    assert page.ids == SECTION_IDS  # dataset, training, curves, confusion, per-class, mistakes, label errors, versions
    # Nothing to fetch: only inline PNGs and links within the page; no scripts, styles or fonts from elsewhere.
    assert all(link.startswith("data:image/png;base64,") or link.startswith("#") for link in page.links)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//|file:)""", text, re.I)
    assert "<script" not in text.lower() and "@import" not in text and "url(" not in text
    # The parts, with what they say.
    assert "cats" in text and "dogs" in text and "No files were skipped" not in text and "broken.jpg" in text
    assert "trained from scratch" in text and "It trained for <b>" in text
    assert "These are not the pictures it was trained on" in text.split("<nav>")[0]  # the mixed copy, not pets/
    assert "Loss (lower is better)" not in text  # the curves are a picture, not text
    assert data.evaluation.count == 21 and len(data.mistakes) >= 6  # seven moved pictures, very likely wrong
    assert all(m.picture_png and m.heat_png for m in data.mistakes)
    assert page.images >= 2 + 2 * len(data.mistakes)  # curves, confusion, and each mistake twice
    moved_shown = sum("moved-" in m.path or "odd" in m.path for m in data.mistakes)
    print(f"report: {len(data.mistakes)} mistakes shown, {moved_shown} of them moved pictures; {len(text):,} bytes")
    assert moved_shown >= 5
    # Names from the disk are escaped: the odd file name shows as text, never as markup.
    assert '<b>"name"' not in text and "odd &lt;b&gt;&quot;name&quot; &amp; co.png" in text
    assert "training seed 1337" in text and "tensorflow" in text
    if data.label_check is None:
        assert "Not run" in text
    else:
        assert data.label_check.checked >= 20 and "may be in the wrong folder" in text
    assert steps and steps[-1][0] == steps[-1][1]  # progress reached its end


def test_report_without_pictures_shows_what_the_model_recorded(trained):
    _, _, model_path = trained
    data = collect(Classifier.load(model_path))
    text = render(data)
    assert data.evaluation is not None and "recorded when the model was trained" in text
    assert "the mistakes cannot be shown" in text and "Not run: the pictures were not given." in text
    assert parse(text).ids == SECTION_IDS

    import keras

    inputs = keras.Input((32, 32, 3))
    bare = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs)))
    text = render(collect(Classifier(bare, ["a", "b"], 32)))  # a model from elsewhere
    assert text.count(NOT_RECORDED) >= 5  # dataset, settings, curves, confusion, scores, versions


def test_write_report_never_replaces_a_file_unasked(tmp_path):
    target = tmp_path / "r.html"
    target.write_text("mine")
    with pytest.raises(Exception, match="already exists"):
        write_report("<html></html>", target)
    assert target.read_text() == "mine"
    write_report("<html>new</html>", target, overwrite=True)
    assert target.read_text() == "<html>new</html>" and list(tmp_path.iterdir()) == [target]
    with pytest.raises(Exception, match="does not exist"):
        write_report("x", tmp_path / "missing" / "r.html")


def test_cli_explain_and_report(trained, mixed_folder, tmp_path, capsys):
    _, _, model_path = trained
    picture = mixed_folder / "cats" / next(p.name for p in (mixed_folder / "cats").iterdir() if p.suffix == ".png")
    heatmap = tmp_path / "heat.png"
    assert cli.main(["--json", "explain", str(model_path), str(picture), "--out", str(heatmap)]) == cli.EXIT_OK
    answer = json.loads(capsys.readouterr().out)
    assert answer["class"] in ("cats", "dogs") and answer["out"] == str(heatmap)
    with Image.open(heatmap) as shown:
        assert shown.format == "PNG" and shown.size == Image.open(picture).size
    assert cli.main(["explain", str(model_path), str(picture), "--out", str(heatmap)]) == cli.EXIT_ERROR
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["explain", str(model_path), str(picture), "--out", str(heatmap), "--force",
                     "--class", "horses"]) == cli.EXIT_ERROR
    assert "no class 'horses'" in capsys.readouterr().err
    hidden = tmp_path / "hidden.png"
    assert cli.main(["--json", "explain", str(model_path), str(picture), "--out", str(hidden),
                     "--method", "occlusion"]) == cli.EXIT_OK
    answer = json.loads(capsys.readouterr().out)
    assert answer["method"] == "occlusion" and answer["class"] in ("cats", "dogs")
    with Image.open(hidden) as shown, Image.open(heatmap) as grad_cam:
        assert shown.size == grad_cam.size and shown.tobytes() != grad_cam.tobytes()
    # The kind of picture written is the one --out's ending names; a folder is not a picture.
    assert cli.main(["explain", str(model_path), str(picture), "--out", str(tmp_path / "h.jpg"),
                     "--method", "occlusion"]) == cli.EXIT_OK
    assert "hiding parts" in capsys.readouterr().out
    with Image.open(tmp_path / "h.jpg") as shown:
        assert shown.format == "JPEG"
    assert cli.main(["explain", str(model_path), str(picture), "--out", str(tmp_path / "h.heat")]) == cli.EXIT_ERROR
    assert "end it in .png" in capsys.readouterr().err and not (tmp_path / "h.heat").exists()
    assert cli.main(["explain", str(model_path), str(tmp_path), "--out", str(tmp_path / "x.png")]) == cli.EXIT_ERROR
    assert "is a folder" in capsys.readouterr().err

    out = tmp_path / "report.html"
    assert cli.main(["--json", "report", str(model_path), str(mixed_folder), "--out", str(out),
                     "--no-label-check", "--mistakes", "3"]) == cli.EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["out"] == str(out) and summary["mistakes_shown"] == 3
    assert parse(out.read_text(encoding="utf-8")).ids == SECTION_IDS
    before = out.read_bytes()
    assert cli.main(["report", str(model_path), "--out", str(out)]) == cli.EXIT_ERROR
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before
    assert cli.main(["report", str(model_path), "--out", str(out), "--force"]) == cli.EXIT_OK
    assert "recorded when the model was trained" in out.read_text(encoding="utf-8")


def test_report_says_which_pictures_and_reads_its_settings_plainly():
    """A model checked on pictures it was not trained on says so under the title; a pretrained
    model's epochs read as classifier + fine-tuning epochs, and a time limit of 0 as none."""
    from types import SimpleNamespace

    trained_on = {"root": "/data/6300-photos", "class_names": ["cats", "dogs"], "train_counts": [2520, 2520],
                  "validation_counts": [630, 630], "test_counts": None}
    other = SimpleNamespace(root="/home/me/my-200", class_names=["cats", "dogs"])
    note = _pictures_note(trained_on, other)
    assert "not the pictures it was trained on: it was trained on /data/6300-photos (6,300 pictures)" in note
    assert "/home/me/my-200" in note
    same = SimpleNamespace(root="/data/6300-photos", class_names=["cats", "dogs"])
    assert "the folder it was trained on" in _pictures_note(trained_on, same)
    assert "not recorded" in _pictures_note(None, other)

    history = ([{"epoch": i + 1, "stage": "classifier", "loss": 0.5, "accuracy": 0.8} for i in range(30)]
               + [{"epoch": 31 + i, "stage": "fine-tuning", "loss": 0.4, "accuracy": 0.9} for i in range(12)])
    meta = {"config": {"backbone": "mobilenet_v2", "epochs": 12, "head_epochs": 30, "time_limit_minutes": 0,
                       "fine_tune": True, "seed": 1}, "history": history, "train_seconds": 1116.0}
    data = ReportData(model_name="default-model.keras", class_names=["cats", "dogs"], image_size=160,
                             metadata=meta, created="today", pictures_note=note)
    text = render(data)
    first_lines = text.split('<nav>')[0]
    assert "<h1>Report on default-model.keras</h1>" in first_lines and "not the pictures it was trained on" in first_lines
    assert "<td>most fine-tuning epochs</td><td>12</td>" in text and "<td>classifier epochs</td><td>30</td>" in text
    assert "42 epochs (30 of the classifier, 12 of fine-tuning)" in text
    assert "<td>time limit (minutes)</td><td>none</td>" in text
    scratch = dict(meta, config={"backbone": "none", "epochs": 12, "time_limit_minutes": 5.0},
                   history=[{"epoch": i + 1} for i in range(12)])
    text = render(ReportData("m.keras", ["a", "b"], 32, scratch, "today"))
    assert "<td>most epochs</td><td>12</td>" in text and ", 12 epochs." in text
    assert "<td>time limit (minutes)</td><td>5.0</td>" in text


# ----- a crafted model: markup in every recorded value ---------------------------------------------
PAYLOADS = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", '"><b class=pwned>bold</b>',
            "<svg onload=alert(3)>", "'><a href=javascript:alert(4)>x</a>"]


def _full_metadata(recorded: dict) -> dict:
    """A trained model's metadata with the fields a tiny training leaves empty filled in as a
    pretrained model, a stopped training and a scan with problems would fill them."""
    meta = json.loads(json.dumps(recorded))
    meta.update(stage_seconds={"classifier": 12.5, "fine-tuning": 30.0}, notes=["a note"], keras_version="3.15.1",
                backbone={"name": "mobilenet_v2", "weights_file": "w.h5", "weights_sha256": "ab" * 32},
                stopped_by_time_limit=True, stopped_by_user=True, stopped_early=True)
    for i, h in enumerate(meta["history"]):
        h["stage"] = "classifier" if i < 2 else "fine-tuning"
    meta["dataset"].update(problems=[{"level": "warning", "message": "few pictures"}], skipped=3,
                           test_counts=[5, 5])
    return meta


_payloads = itertools.cycle(PAYLOADS)


def _poisoned(value, depth: int, keys: bool = True):
    """``value`` with every value ``depth`` levels down (0: the metadata's own values) replaced by
    markup; with ``keys``, a key of markup added to every mapping above that depth."""
    if depth < 0:
        return next(_payloads)
    if isinstance(value, dict):
        extra = {next(_payloads): next(_payloads)} if keys else {}
        return {**{k: _poisoned(v, depth - 1, keys) for k, v in value.items()}, **extra}
    if isinstance(value, list):
        return [_poisoned(v, depth - 1, keys) for v in value] or [next(_payloads)]
    return next(_payloads) if depth == 0 else value


class Elements(html.parser.HTMLParser):
    """Every element of a page with its attributes, and its text."""

    def __init__(self):
        super().__init__()
        self.elements, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def assert_no_markup_from(text: str) -> str:
    """No element or attribute of :data:`PAYLOADS` in the page ``text``; returns the page's text."""
    page = Elements()
    page.feed(text)
    tags = {tag for tag, _ in page.elements}
    assert not tags & {"script", "svg", "iframe", "object", "embed"}, tags
    for tag, attrs in page.elements:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "pwned" not in attrs.get("class", "") and "x" != attrs.get("src"), (tag, attrs)
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,"), attrs
        if tag == "a":
            assert attrs["href"].startswith("#"), attrs
    return "".join(page.text)


def test_a_model_with_markup_in_every_recorded_value_gives_a_report_without_it(trained, tmp_path, capsys):
    """Whoever wrote a model file wrote its metadata: names, numbers, stage labels, notes, versions.
    However they are made (markup for any value, at any depth, strings where numbers belong), the
    report shows them as text or as not recorded, never as markup."""
    _, _, model_path = trained
    classifier = Classifier.load(model_path)
    full = _full_metadata(classifier.metadata)
    names = PAYLOADS[:2]
    # Stage names and per-class counts, well formed otherwise (these reached the page as markup).
    staged = dict(full, history=[dict(h, stage=PAYLOADS[0]) for h in full["history"]])
    staged["evaluation"] = dict(full["evaluation"], per_class=[dict(c, support=PAYLOADS[1])
                                                               for c in full["evaluation"]["per_class"]])
    text = render(collect(Classifier(classifier.model, names, 32, staged, str(model_path))))
    assert "4 epochs (4 of &lt;script&gt;alert(1)&lt;/script&gt;)" in text
    assert_no_markup_from(text)
    # Markup for every value at each depth (with markup keys too, or not): in any shape.
    for depth, keys in itertools.product(range(6), (False, True)):
        crafted = _poisoned(full, depth, keys)
        text = render(collect(Classifier(classifier.model, names, 32, crafted, str(model_path))))
        shown = assert_no_markup_from(text)
        assert parse(text).ids == SECTION_IDS
        if depth == 2:  # each list's items and each mapping's values: history, counts, confusion, scores
            assert "<script>alert(1)</script>" in shown and "&lt;script&gt;" in text  # shown, as text

    # A "number" that is a string is not shown as a number.
    fake = dict(full, train_seconds="3600", best_epoch="7", stage_seconds={"classifier": "99"})
    fake["dataset"] = dict(full["dataset"], train_counts=["40", 40], skipped="3")
    text = render(collect(Classifier(classifier.model, ["cats", "dogs"], 32, fake, str(model_path))))
    assert "epoch 7" not in text and ">40<" in text and '"40"' not in text and "<td class=\"num\">40</td>" in text
    assert "1.0 h" not in text and "99" not in text.split('id="training"')[1].split("</section>")[0]
    assert "skipped (not usable as pictures): 3" not in text

    # Through the CLI, from a file: exit 0, and the same.
    crafted_file = tmp_path / "crafted.keras"
    shutil.copy(model_path, crafted_file)
    storage.update_metadata(crafted_file, {**_poisoned(full, 3), "class_names": names})
    out = tmp_path / "crafted.html"
    assert cli.main(["report", str(crafted_file), "--out", str(out)]) == cli.EXIT_OK
    assert_no_markup_from(out.read_text(encoding="utf-8"))
    capsys.readouterr()
