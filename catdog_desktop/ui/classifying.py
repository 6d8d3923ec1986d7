"""Classifying in the background for the Classify tab: pictures dropped, opened or pasted go to
the active model; pictures given before any model is ready wait for it; and when the active
model changes, the pictures on screen are classified again, so results always belong to the
model named above them. A single picture can also be explained ("Show where it looked": a
Grad-CAM heatmap, computed in the background for the picture shown). The table's rows can be
exported as CSV, sorted into folders (and that sort undone), all in workers."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QDialog, QMessageBox

from ..core.app import jobs
from ..core.classify.results import ClassifiedRows, ClassifyStarted
from ..core.export.formats import FastDecision
from ..core.wording import count
from ..core.app.session import BUILTIN_NAME, Session
from .classify_panel import ClassifyPanel
from .sort_dialog import SortChoice, SortDialog
from .workers import JobRunner


class Classifying(QObject):
    """Runs the Classify tab's jobs; ``show_panel()`` brings the tab to the front; ``model_coming()``
    says whether a model is being loaded (pictures given before it is ready then wait for it)."""

    def __init__(self, panel: ClassifyPanel, session: Session, jobs_: JobRunner, show_panel: Callable[[], None],
                 model_coming: Callable[[], bool] = lambda: False):
        super().__init__(panel)
        self.panel = panel
        self.session = session
        self.jobs = jobs_
        self.show_panel = show_panel
        self.model_coming = model_coming
        self.pending: list[str] = []
        self._last: tuple | None = None   # (job, what, single) of the pictures on screen
        self._shown_with = None           # the model whose results are on screen
        self._total = 0                   # pictures in the batch on screen
        self._single_source = None        # the single picture on screen: its path, or the pasted picture
        self._moving: str | None = None   # what the running "sort" job does to files on disk (closing asks)
        panel.explain_toggled.connect(self._on_explain_toggled)
        panel.set_explain_method(session.explain_method)
        panel.explain_method_changed.connect(session.set_explain_method)
        session.events.explain_method.connect(panel.set_explain_method)  # chosen elsewhere (a gallery picture)
        panel.cancel_requested.connect(self.cancel)
        panel.export_requested.connect(self.export_csv)
        panel.sort_requested.connect(self.sort_into_folders)
        panel.undo_sort_requested.connect(self.undo_last_sort)
        panel.model.thumbnails_wanted.connect(self._make_thumbnails)
        panel.set_undo_available(session.last_sort_target or None)
        panel.threshold_changed.connect(self.set_threshold)
        panel.fast_box.setChecked(session.fast_classify)
        panel.fast_toggled.connect(session.set_fast_classify)

    @Slot(object)
    def set_threshold(self, value) -> None:
        """The user's "not sure" threshold (None: the model's default): used from now on, kept for
        the model's file, and applied at once to the pictures on screen (no need to classify again)."""
        classifier = self.session.classifier
        if classifier is None:
            return
        classifier.threshold_override = value
        self.session.set_confidence_override(classifier.path, value)
        self.panel.remark(classifier.mark)

    def wait_for_model(self, paths: list[str]) -> None:
        """Pictures to classify once a model is ready (given on the command line, or dropped, while
        the model loads at start); each drop adds to those waiting."""
        self.pending += [p for p in paths if p not in self.pending]
        self.show_panel()
        self.panel.model_label.setText("Loading the model…")
        self.panel.show_message(f"Loading the model… {count(len(self.pending), 'picture')} waiting: "
                                f"{'it is' if len(self.pending) == 1 else 'they are'} classified as soon as "
                                "the model is ready.")

    def no_model_coming(self) -> None:
        """The model being loaded will not come (it could not be loaded): say so to the pictures waiting."""
        if self.pending and self.session.classifier is None:
            waiting, self.pending = len(self.pending), []
            self.panel.show_message(f"No model could be loaded, so {count(waiting, 'picture')} waiting "
                                    f"{'was' if waiting == 1 else 'were'} not classified: open a model with "
                                    "File → Open model…, or train one on the Train tab.", error=True)

    @Slot(list)
    def classify_paths(self, paths: list) -> None:
        self.show_panel()
        if self.session.classifier is None:
            if self.model_coming():
                self.wait_for_model(paths)
                return
            self.panel.show_message("There is no model yet: train one on the Train tab, or open one "
                                    "with File → Open model…", error=True)
            return
        single = len(paths) == 1 and not os.path.isdir(paths[0])
        self._run(jobs.classify, list(paths), single)

    @Slot(object)
    def classify_pasted(self, image) -> None:
        if self.session.classifier is None:
            self.panel.show_message("There is no model yet: train or open one first.", error=True)
            return
        self._run(jobs.classify_image, image, True)

    def model_changed(self, classifier) -> None:
        """The active model changed: classify what waits for it, or again what is on screen."""
        if classifier is None or classifier is self._shown_with:
            return
        if self.pending:
            pending, self.pending = self.pending, []
            self.classify_paths(pending)
        elif self._last is not None:
            job, what, single = self._last
            self._run(job, what, single, note=f"Classified again with {self._model_called()}.")

    def _run(self, job, what, single: bool, note: str = "") -> None:
        self._last = (job, what, single)
        self._shown_with = self.session.classifier
        self.jobs.stop("thumbnails")
        self.jobs.stop("explain")  # the heatmap of the picture on screen until now is not wanted
        self.panel.begin(1 if single else None, self.session.classifier.class_names)
        more = ()
        if job is jobs.classify:  # a folder: with "Fast" on, its int8 model first (jobs.classify says when)
            scan = self.session.scan
            more = (self.panel.fast_box.isChecked(), scan.root if scan is not None else None)
        self.jobs.start("classify", job, self.session.classifier, what, *more, yielded=self._on_classified,
                        progress=self._on_preparing, returned=lambda _count: self.panel.finish(note=note),
                        errored=self.panel.stopped, aborted=self.panel.stopped)

    def _on_preparing(self, progress) -> None:
        _done, _total, message = progress
        if message != "Done":
            self.panel.preparing(message)

    def _on_classified(self, event) -> None:
        if isinstance(event, ClassifyStarted):
            self._total = event.total
            self._single_source = None
            self.panel.set_total(event.total)
        elif isinstance(event, FastDecision):
            self.panel.show_model_in_use(event.sentence())
        elif isinstance(event, ClassifiedRows):
            self.panel.add_rows(event)
            prediction = event.predictions[0]
            if self._total == 1 and prediction.ok:
                job, what, _single = self._last
                self._single_source = what if job is jobs.classify_image else prediction.path
                if self.panel.explain_box.isChecked():
                    self._explain()

    def _model_called(self) -> str:
        """The model in use, as a sentence names it: "the built-in …", "the model trained just now", "pets.keras"."""
        name = self.session.model_name()
        return {BUILTIN_NAME: f"the {BUILTIN_NAME}", "trained just now": "the model trained just now"}.get(name, name)

    # ----- where it looked --------------------------------------------------------------------
    def _on_explain_toggled(self, on: bool) -> None:
        if on:
            self._explain()
        else:
            self.jobs.stop("explain")

    def _explain(self) -> None:
        """Compute the heatmap of the single picture on screen (nothing when several are shown)."""
        if self._single_source is None or self.session.classifier is None:
            if self.panel.explain_box.isChecked():
                self.panel.explain_failed("Drop a single picture to see where the model looked.")
            return
        self.jobs.start("explain", jobs.explain, self.session.classifier, self._single_source, None,
                        self.panel.chosen_explain_method(),
                        returned=lambda result: self.panel.show_heatmap(result["overlay_rgb"], result["class_name"],
                                                                          result["found"], result["method"]),
                        errored=self.panel.explain_failed)

    @Slot()
    def cancel(self) -> None:
        """Cancel: stop classifying (the rows so far stay) or sorting (what was done is reported)."""
        self.jobs.stop("classify")
        self.jobs.stop("sort")

    @Slot(list)
    def _make_thumbnails(self, paths: list) -> None:
        if not self.panel.isVisible():
            return  # the window closed (its jobs were shut down) before the request came
        model = self.panel.model
        self.jobs.start("thumbnails", jobs.thumbnails, paths,
                        yielded=lambda t: model.set_thumbnail(t.path, t.thumb),
                        errored=lambda _message: model.forget_requests())

    # ----- what can be done with the rows ---------------------------------------------------------
    def _sources(self) -> list[str]:
        if self._last is None or not isinstance(self._last[1], list):
            return []
        return list(self._last[1])

    @Slot(str)
    def export_csv(self, path: str) -> None:
        """Write the rows shown as CSV: with a filter on, only those (and the message says so)."""
        results, shown = self.panel.shown_results()
        rows = count(len(results.predictions), "row")
        what = (rows if shown is None
                else f"the {rows} shown ({shown}; {len(self.panel.model.rows):,} in all)")
        self.jobs.start("export-csv", jobs.export_csv, results, path, None,
                        returned=lambda written: self.panel.show_message(f"Saved {what} to {written}."),
                        errored=lambda message: self.panel.show_message(f"Not exported: {message}", error=True))

    @Slot()
    def sort_into_folders(self) -> None:
        if self.jobs.busy("classify") or self.jobs.busy("sort"):
            self.panel.show_message("Wait until classifying (or the sort running) has finished.", error=True)
            return
        results = self.panel.batch_results()
        threshold = getattr(self.session.classifier, "confidence_threshold", None)
        choice = self.ask_sort_choice(results, self._sources(), threshold)
        if choice is None:
            return
        self.panel.progress.setVisible(True)
        self.panel.progress.setRange(0, max(len(results.readable), 1))
        self.panel.progress.setValue(0)
        self.panel.progress.setFormat(("Moving" if choice.move else "Copying") + " %v / %m")
        self.panel.cancel_button.setVisible(True)
        # Offered for undo from the start: a sort that fails, is cancelled or is cut short by
        # closing the window may have moved files already, and its journal lets undo put them back.
        previous = self.session.last_sort_target
        self.session.set_last_sort_target(choice.target)
        self.panel.set_undo_available(choice.target)
        self._moving = (f"Files are being moved into {choice.target}. Stop after the current file and quit?\n\n"
                        "What was moved already stays there; Undo last sort puts it back." if choice.move else None)
        self.jobs.start("sort", jobs.sort_files, results, choice.target, choice.move, choice.threshold,
                        self._sources(), progress=self._on_sort_progress,
                        returned=lambda report: self._on_sorted(report, choice, previous),
                        errored=self._on_sort_error, finished=self._on_sort_finished)

    def ask_sort_choice(self, results, sources: list[str], threshold: float | None) -> SortChoice | None:
        """The sort dialog (modal): the target, copy or move, the threshold; None if cancelled."""
        dialog = SortDialog(results, sources, self.panel.pictures_folder, threshold, self.panel)
        return dialog.choice() if dialog.exec() == QDialog.DialogCode.Accepted else None

    def _on_sort_progress(self, progress) -> None:
        done, total, _message = progress
        self.panel.progress.setRange(0, max(total, 1))
        self.panel.progress.setValue(done)

    def _on_sorted(self, report, choice: SortChoice, previous: str = "") -> None:
        if report.move:
            self.panel.model.replace_paths(dict(report.placed))
        if not report.placed:  # nothing to undo here: the sort before (if any) stays on offer
            self.session.set_last_sort_target(previous)
            self.panel.set_undo_available(previous or None)
        self.panel.show_message(report.summary(), error=bool(report.failed))

    def _on_sort_error(self, message: str) -> None:
        self.panel.show_message(f"Not sorted: {message}", error=True)

    def moving_files(self) -> str | None:
        """While a move-sort (or its undo) is moving files on disk, the question to ask before quitting;
        else None (a copy-sort just stops: the originals stay). Stopping is safe (it ends after the
        current file, and undo puts back what moved), but the user should know it stops part-way."""
        return self._moving if self.jobs.busy("sort") else None

    def _on_sort_finished(self) -> None:
        self._moving = None
        self.panel.progress.setVisible(False)
        self.panel.cancel_button.setVisible(False)

    @Slot()
    def undo_last_sort(self) -> None:
        target = self.session.last_sort_target
        if not target or self.jobs.busy("sort"):
            return
        answer = QMessageBox.question(
            self.panel, "Undo last sort?",
            f"Undo the last sort into {target}? Moved files go back where they were; copies that are "
            "unchanged are removed (their originals stay).",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.panel.progress.setVisible(True)
        self.panel.progress.setFormat("Undoing %v / %m")
        self._moving = (f"Files are being put back from {target} (Undo last sort). Stop after the current "
                        "file and quit?\n\nWhat is not back yet stays there; Undo last sort finishes it later.")
        self.jobs.start("sort", jobs.undo_sort, target, progress=self._on_sort_progress, returned=self._on_undone,
                        errored=self._on_undo_error, finished=self._on_sort_finished)

    def _on_undone(self, outcome) -> None:
        report, more = outcome
        if report is None:  # nothing to undo there (the sort had not begun, or was undone elsewhere)
            self.session.set_last_sort_target("")
            self.panel.set_undo_available(None)
            self.panel.show_message("There is no sort left to undo there.")
            return
        if report.move:
            self.panel.model.replace_paths(dict(report.restored))
        if not more:
            self.session.set_last_sort_target("")
            self.panel.set_undo_available(None)
        # A refused line may be someone's edit of a shared sort log: say so, each line in the tooltip.
        self.panel.show_message(report.summary(), error=bool(report.kept or report.refused),
                                details="\n".join(report.refusals()))

    def _on_undo_error(self, message: str) -> None:
        # Kept on offer: the error may pass (a drive not mounted yet); "nothing to undo" is not an error.
        self.panel.show_message(f"Not undone: {message}", error=True)
