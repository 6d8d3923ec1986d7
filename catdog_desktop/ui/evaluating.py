"""The Evaluate tab's work: what it shows (the training's own evaluation, or a model scored on a
folder), "Evaluate on a folder…", "Check labels", and fixing the data from the gallery (move,
exclude, undo) with the dataset re-scanned afterwards. Jobs run in workers (core.app.jobs)."""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QMessageBox

from ..core.app import jobs
from ..core.data.edits import DatasetEditor
from ..core.app.session import Session
from ..core.wording import count
from .evaluation_panel import EvaluationPanel
from .gallery import PictureDialog
from .workers import JobRunner

Button = QMessageBox.StandardButton
#: After a move, the dataset is scanned again once the user has paused this long (ms).
RESCAN_DELAY_MS = 600


class Evaluating(QObject):
    """Steers ``panel`` for ``window``. ``rescan(folder)`` re-reads the dataset in use without leaving
    the tab; ``status(text, ms)`` shows a status-bar message."""

    def __init__(self, panel: EvaluationPanel, session: Session, jobs_: JobRunner, window,
                 rescan: Callable[[str], None], status: Callable[..., None]):
        super().__init__(panel)
        self.panel = panel
        self.session = session
        self.jobs = jobs_
        self.window = window
        self.rescan = rescan
        self.status = status
        self.editor: DatasetEditor | None = None
        self._undo_groups: list[int] = []      # pictures per move, so Undo puts back a whole move
        self._changed = 0                       # pictures moved since the figures shown, less those put back
        self._training = False
        self._editing = False                   # a move runs (in a worker): one at a time
        self._shown_model = None                # the model whose evaluation is shown
        self._computed_shown = False            # False: nothing, or only a saved model's figures, is shown
        self._rescan_timer = QTimer(self, singleShot=True, interval=RESCAN_DELAY_MS, timeout=self._rescan_now)
        self._rescan_root: str | None = None
        self.dialogs: list[PictureDialog] = []

        panel.evaluate_requested.connect(self.choose_folder)
        panel.cancel_requested.connect(self.cancel)
        panel.check_labels_requested.connect(self.check_labels)
        gallery = panel.gallery
        gallery.move_requested.connect(self.move)
        gallery.exclude_requested.connect(self.exclude)
        gallery.undo_requested.connect(self.undo)
        gallery.opened.connect(self.open_picture)

    # ----- what is shown ---------------------------------------------------------------------
    @property
    def shown_model(self):
        """The model whose figures the tab shows (None: nothing shown yet)."""
        return self._shown_model

    def show_training(self, result) -> None:
        """A training ended: its own held-out evaluation (every picture kept) is shown (nothing when
        its check was skipped)."""
        ev = result.evaluation
        if not ev.checked:
            return
        scan = self.session.scan
        root = scan.root if scan is not None else None
        source = (f"The model trained just now, {html.escape(ev.where())} (each picture scored by a classifier "
                  f"trained without it)." if ev.folds else f"The model trained just now, on its "
                  f"{html.escape(ev.split)} pictures (it never trained on them).")
        self._show(ev, self.session.trained, root, source, ev.class_names)

    def model_changed(self, classifier) -> None:
        """The active model changed: unless a result is shown already, show what its file records."""
        if classifier is None or classifier is self._shown_model or self._computed_shown:
            return
        data = (classifier.metadata or {}).get("evaluation")
        if not isinstance(data, dict) or "confusion" not in data:
            return
        from ..core.evaluate.evaluation import EvaluationResult  # NumPy: loaded once a model is, not before the window

        try:
            ev = EvaluationResult.from_dict(data)
        except (TypeError, KeyError, ValueError):
            return
        self._show(ev, classifier, None, f"<b>{html.escape(self.session.model_name() or '')}</b>, as scored when "
                   "it was trained. Press “Evaluate on a folder…” to see its pictures.", ev.class_names)
        self._computed_shown = False

    def _show(self, ev, classifier, root: str | None, source: str, move_classes, note: str = "") -> None:
        self._shown_model = classifier
        self._computed_shown = True
        self._set_editor(root)
        self._changed = 0
        self.panel.show_evaluation(ev, source, move_classes, note)
        self.panel.show_message("")

    def _set_editor(self, root: str | None) -> None:
        """Moves go to the class folders under ``root``; a new folder starts a new undo history."""
        if root is None:
            self.editor, self._undo_groups = None, []
        elif self.editor is None or Path(root).resolve() != self.editor.root:
            self.editor, self._undo_groups = DatasetEditor(root), []
        self._update_editable()

    # ----- evaluate on a folder -----------------------------------------------------------------
    def choose_folder(self) -> None:
        if self.session.classifier is None:
            self.panel.show_message("There is no model yet: train one, or open one with File → Open model…", error=True)
            return
        start = self.session.last_dataset or os.path.expanduser("~")
        folder = QFileDialog.getExistingDirectory(self.window, "Evaluate on which folder? (one sub-folder per class)", start)
        if folder:
            self.evaluate_folder(folder)

    def evaluate_folder(self, folder: str) -> None:
        classifier = self.session.classifier
        if classifier is None:
            return
        name = self.session.model_name()
        self.panel.set_busy(f"Scoring {name} on {os.path.basename(folder) or folder}…")
        self.jobs.start("evaluate", jobs.evaluate_folder, classifier, folder,
                        progress=lambda p: self.panel.set_progress(*p),
                        returned=lambda scored: self._on_evaluated(scored, classifier, name),
                        errored=self._on_job_error, aborted=lambda: self.panel.show_message("The evaluation was cancelled."),
                        finished=self.panel.set_idle)

    def _on_evaluated(self, scored, classifier, name: str) -> None:
        ev = scored.evaluation
        where = {"all": "all the pictures", "test": "the test pictures", "validation": "the validation pictures"}
        source = (f"<b>{html.escape(name or '')}</b> on {where.get(ev.split, ev.split)} of "
                  f"<b>{html.escape(scored.folder)}</b>")
        if ev.split == "all" and self._trained_on(classifier, scored.folder):
            source += " (it trained on some of them)"
        note = scored.left_out_sentence(classifier.class_names)
        if scored.skipped:
            note = (note + " " if note else "") + f"{count(len(scored.skipped), 'file')} could not be read."
        self._show(ev, classifier, scored.folder, source, scored.folder_classes, note)
        self.status(f"Evaluated: {ev.accuracy:.1%} correct on {count(ev.count, 'picture')}.", 8000)

    @staticmethod
    def _trained_on(classifier, folder: str) -> bool:
        root = ((classifier.metadata or {}).get("dataset") or {}).get("root")
        return bool(root) and Path(root) == Path(folder)

    def cancel(self) -> None:
        self.jobs.stop("evaluate")
        self.jobs.stop("check-labels")

    def _on_job_error(self, message: str) -> None:
        self.panel.show_message(message, error=True)

    # ----- likely label errors ------------------------------------------------------------------
    def check_labels(self) -> None:
        """Run the label check (core.app.jobs.check_labels) on the dataset in use. Here, in the Evaluate
        tab, because the mistakes gallery is where a user is already asking "is this picture in the
        wrong folder?", and its move/exclude/undo actions fix what the check finds."""
        scan = self.session.scan
        if scan is None or not scan.ok:
            self.panel.show_message("Choose a usable dataset on the Dataset tab first: the check looks at its pictures.",
                                    error=True)
            return
        self.panel.set_busy("Checking the labels: each picture is judged by a model that did not train on it…")
        self.jobs.start("check-labels", jobs.check_labels, scan.root, progress=lambda p: self.panel.set_progress(*p),
                        returned=lambda check: self._on_labels_checked(check, scan.root),
                        errored=self._on_job_error, aborted=lambda: self.panel.show_message("The label check was cancelled."),
                        finished=self.panel.set_idle)

    def _on_labels_checked(self, check, root: str) -> None:
        self._set_editor(root)
        self.panel.show_label_issues(check, list(check.class_names))
        skipped = getattr(check, "skipped", None) or []
        extra = f" {count(len(skipped), 'picture')} could not be checked." if skipped else ""
        how = " ".join(_sentence(t) for t in [getattr(check, "method", ""), *(getattr(check, "notes", None) or [])] if t)
        self.panel.show_message(f"Checked {count(check.checked, 'picture')}; "
                                f"{count(len(check.issues), 'likely label error')} found.{extra}"
                                + (f" {how}" if how else ""))

    # ----- fixing the data ----------------------------------------------------------------------
    def set_training(self, training: bool) -> None:
        """No picture moves while a training reads them."""
        self._training = training
        self._update_editable()

    def _update_editable(self) -> None:
        gallery = self.panel.gallery
        gallery.set_editable(self.editor is not None and not self._training and not self._editing)
        gallery.set_can_undo(bool(self._undo_groups))

    def move(self, paths: list, class_name: str) -> None:
        if not self._may_edit():
            return
        what = os.path.basename(paths[0]) if len(paths) == 1 else count(len(paths), "picture")
        if QMessageBox.question(self.window, "Move pictures?",
                                f"Move {what} into the class folder “{class_name}”?\n\nThe files are moved on disk "
                                f"(in {self.editor.root}); Undo puts them back.",
                                Button.Yes | Button.Cancel) != Button.Yes:
            return
        self._edit("move", paths, class_name)

    def exclude(self, paths: list) -> None:
        if not self._may_edit():
            return
        what = os.path.basename(paths[0]) if len(paths) == 1 else count(len(paths), "picture")
        if QMessageBox.question(self.window, "Exclude pictures?",
                                f"Take {what} out of the dataset?\n\nThey are moved into the “_excluded” folder "
                                "beside the class folders, so neither training nor the scores use them; never "
                                "deleted; Undo puts them back.",
                                Button.Yes | Button.Cancel) != Button.Yes:
            return
        self._edit("exclude", paths)

    def undo(self) -> None:
        if self._undo_groups and self._may_edit():
            self._edit("undo", [], undo_count=self._undo_groups[-1])

    def _may_edit(self) -> bool:
        if self._training:
            self.panel.show_message("Wait for the training to finish before moving pictures.", error=True)
            return False
        if self.editor is None:
            self.panel.show_message("These pictures cannot be moved from here (they are not in a folder that was "
                                    "evaluated or checked in this session).", error=True)
            return False
        return not self._editing

    def _edit(self, action: str, paths: list, class_name: str = "", undo_count: int = 1) -> None:
        editor = self.editor
        self._editing = True
        history = len(editor.history)
        self.jobs.start("edit", jobs.edit_pictures, editor, action, list(paths), class_name, undo_count,
                        returned=lambda outcome: self._on_edited(action, editor, *outcome,
                                                                 undone=history - len(editor.history)),
                        errored=self._on_job_error, finished=self._on_edit_finished)
        self._update_editable()

    def _on_edit_finished(self) -> None:
        self._editing = False
        self._update_editable()

    def _on_edited(self, action: str, editor: DatasetEditor, done: list, failed: list, undone: int = 0) -> None:
        """``undone``: changes taken off the editor's history by an undo (those put back, and one
        dropped because its picture was gone); an undo that stopped part-way leaves the rest of
        its group for the next Undo."""
        gallery = self.panel.gallery
        for before, edit in done:
            note = ("" if action == "undo" else f"moved to {edit.class_name}" if action == "move"
                    else "excluded from the dataset")
            gallery.model.rename(before, edit.destination, note)
        if action == "undo":
            if editor is self.editor and self._undo_groups:
                self._undo_groups[-1] -= undone
                if self._undo_groups[-1] <= 0:
                    self._undo_groups.pop()
                if not editor.can_undo:  # older changes fell off the editor's history (its limit)
                    self._undo_groups.clear()
        elif done:
            self._undo_groups.append(len(done))
        self._changed += -len(done) if action == "undo" else len(done)
        verb = {"move": "moved", "exclude": "excluded", "undo": "put back"}[action]
        text = f"{count(len(done), 'picture')} {verb}." if done else ""
        if failed:
            text += " " + " ".join(reason for _, reason in failed[:3])
        self.panel.show_message(text.strip(), error=bool(failed))
        if done:
            self._data_changed(str(editor.root))

    def _data_changed(self, root: str) -> None:
        """The pictures on disk changed: re-scan the dataset in use (if that is where they are) once
        the user pauses, and offer to train again."""
        scan = self.session.scan
        in_use = self.session.last_dataset or (scan.root if scan is not None else "")
        if in_use and Path(in_use).resolve() == Path(root):
            self._rescan_root = in_use
            self._rescan_timer.start()
            # Undo may have put every picture back: then the figures are up to date again.
            changed = self._changed != 0
            self.panel.train_again_button.setVisible(changed)
            self.panel.source.setText(self.panel.source.text().split("<br>")[0] + (
                "<br><span style='color:#6a1b9a'>The dataset changed since: "
                "these figures are from before. Train again for figures on the dataset as it is now.</span>"
                if changed else ""))

    def flush_rescan(self) -> bool:
        """Re-scan now if one is waiting for the user's pause (before a training); True if it was."""
        if not self._rescan_timer.isActive():
            return False
        self._rescan_timer.stop()
        self._rescan_now()
        return True

    def _rescan_now(self) -> None:
        if self._rescan_root:
            self.rescan(self._rescan_root)

    def trained_again(self) -> None:
        """A new training started: the old figures are being replaced."""
        self.panel.train_again_button.setVisible(False)

    # ----- the large view -----------------------------------------------------------------------
    def open_picture(self, item) -> None:
        classifier = self._shown_model or self.session.classifier
        dialog = PictureDialog(item, self.jobs, classifier, self.window, self.session.explain_method)
        dialog.explain_method.currentIndexChanged.connect(
            lambda _index, d=dialog: self.session.set_explain_method(d.explain_method.currentData()))
        dialog.finished.connect(lambda _r, d=dialog: self.dialogs.remove(d) if d in self.dialogs else None)
        self.dialogs.append(dialog)
        dialog.show()


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."
