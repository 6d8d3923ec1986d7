"""The Inbox tab's flow: opening an inbox (a worker computes or reads the features), labelling
the picture shown (one move into the dataset, on the spot: a rename), skipping, undoing, the
model learning from every few labels in the background while the user goes on labelling, and
"accept all this sure" (counted and confirmed first, moved in a worker, one undo).

The inbox session (core.label.inbox.InboxSession) is this flow's state; the window's other tabs
are not touched, except that the model in use may suggest, and a saved model may become it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from ..core.app import jobs
from ..core.app.session import Session
from ..core.errors import CatdogError, describe
from ..core.wording import count
from .inbox_panel import NEXT_UP, InboxPanel
from .workers import JobRunner

#: The model learns again after this many labels (and on demand): each time a second or two in the
#: background (core.label.head), so the order of the pictures keeps up with the labels.
RETRAIN_EVERY = 5
Button = QMessageBox.StandardButton


class Labelling(QObject):
    """See the module docstring. ``status(text)`` writes to the window's status bar."""

    def __init__(self, panel: InboxPanel, session: Session, jobs_: JobRunner, window, status: Callable[[str], None],
                 models=None):
        """``models``: the window's ModelFiles (the save dialog, and opening the saved model)."""
        super().__init__(panel)
        self.models = models
        self.panel = panel
        self.session = session
        self.jobs = jobs_
        self.window = window
        self.status = status
        self.inbox = None                  # the InboxSession, once open
        self.queue: list = []              # Suggestions still to label, the one shown first
        self.skipped: set[str] = set()     # skipped this time: they come after the others
        self.labelled: dict[str, object] = {}   # where a labelled picture went -> its Suggestion (for undo)
        self.since_retrain = 0
        self._retrain_again = False
        self._moving = False               # an "accept all" or an undo moves pictures: no labelling meanwhile
        self.class_order: list[str] = []   # the classes' keys 1-9: once given, a class keeps its key
        panel.set_folders(session.inbox_folder, session.last_dataset)
        panel.choose_inbox.connect(self.choose_inbox)
        panel.choose_dataset.connect(self.choose_dataset)
        panel.open_requested.connect(self.open)
        panel.class_chosen.connect(self.label)
        panel.accept_requested.connect(self.accept_suggestion)
        panel.skip_requested.connect(self.skip)
        panel.new_class_requested.connect(self.new_class)
        panel.undo_requested.connect(self.undo)
        panel.accept_all_requested.connect(self.accept_all)
        panel.retrain_requested.connect(self.retrain)
        panel.save_model_requested.connect(self.save_model)
        panel.picture_picked.connect(self.bring_forward)
        session.events.model.connect(self.model_changed)
        self.model_changed(session.classifier)

    # ----- folders and the model ------------------------------------------------------------
    def model_changed(self, classifier) -> None:
        usable = classifier is not None and getattr(classifier, "model", None) is not None
        self.panel.set_model_available(self.session.model_name() if usable else None)

    def dataset_opened(self, folder: str) -> None:
        """The Dataset tab opened ``folder``: labels go there unless another was chosen here."""
        if not self.panel.dataset_edit.text():
            self.panel.dataset_edit.setText(folder)

    def choose_inbox(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Folder of unlabelled pictures",
                                                  self.panel.inbox_edit.text() or self.session.pictures_folder)
        if folder:
            self.panel.inbox_edit.setText(folder)

    def choose_dataset(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Dataset folder (one sub-folder per class)",
                                                  self.panel.dataset_edit.text() or self.session.last_dataset)
        if folder:
            self.panel.dataset_edit.setText(folder)

    def open(self) -> None:
        """Open the inbox of the folders shown (a worker reads the pictures; the tab waits for it)."""
        inbox, dataset = self.panel.inbox_edit.text().strip(), self.panel.dataset_edit.text().strip()
        if not inbox or not dataset:
            self.panel.show_message("Choose the folder of unlabelled pictures and the dataset folder first.",
                                    error=True)
            return
        classifier = self.session.classifier if self.panel.use_model_box.isChecked() else None
        self.session.set_inbox_folder(inbox)
        self.inbox, self.queue, self.skipped, self.labelled = None, [], set(), {}
        self.since_retrain, self._retrain_again, self.class_order = 0, False, []
        if self.panel.chart is not None:
            self.panel.chart.clear()
        self.panel.set_open(False, busy=True)
        self.panel.show_message("Opening the inbox: reading its pictures (computed once, then kept)…")
        self.jobs.start("inbox-open", jobs.open_inbox, inbox, dataset, classifier, None,
                        progress=lambda p: self.panel.show_progress(*p), returned=self._on_opened,
                        errored=self._on_open_error, finished=self.panel.hide_progress)

    def _on_opened(self, opened) -> None:
        self.inbox, suggestions = opened
        self.queue = list(suggestions)
        if self.inbox.head is not None:
            self._chart_point(self.inbox.head)
        skipped = self.inbox.skipped
        note = (f" {count(len(skipped), 'file')} of the inbox could not be read and stay where they are."
                if skipped else "")
        if not self.queue:
            self.panel.show_message(f"There are no pictures to label in {self.inbox.inbox}.{note}")
        else:
            self.panel.show_message(f"{count(len(self.queue), 'picture')} to label, the one the model most needs "
                                    f"first. Keys: 1–9 a class, Enter the suggestion, S skip, N new class, "
                                    f"Backspace undo.{note}")
        self._show()

    def _on_open_error(self, message: str) -> None:
        self.panel.show_message(message, error=True)
        self.panel.set_open(False)

    # ----- labelling ----------------------------------------------------------------------------
    def label(self, class_name: str, new_class: bool = False) -> None:
        """Label the picture shown ``class_name``: it moves into that class folder of the dataset."""
        if self.inbox is None or not self.queue or self._moving:
            return
        shown = self.queue[0]
        # A class the model knows needs no "new class" (its folder is made with the first label).
        new_class = new_class or class_name in self.inbox.class_names
        try:
            report = self.inbox.label(shown.path, class_name, shown, new_class=new_class)
        except (CatdogError, OSError) as exc:
            self.panel.show_message(str(exc) if isinstance(exc, CatdogError) else describe(exc), error=True)
            if not os.path.exists(shown.path):   # vanished: nothing to label any more
                self.queue.pop(0)
                self._show()
            return
        self.queue.pop(0)
        self.skipped.discard(shown.path)
        for _src, dst in report.placed:
            self.labelled[dst] = shown
        self.panel.show_message(report.summary() + " Backspace undoes it.")
        self._labels_changed()

    def accept_suggestion(self) -> None:
        if self.queue and self.queue[0].suggestion is not None:
            self.label(self.queue[0].suggestion)

    def new_class(self) -> None:
        if self.inbox is None or not self.queue:
            return
        name, ok = QInputDialog.getText(self.window, "New class",
                                        "Name of the new class (a folder of that name is made in the dataset):")
        if ok and name.strip():
            self.label(name.strip(), new_class=True)

    def skip(self) -> None:
        """Leave the picture shown in the inbox; it comes up again after the others."""
        if not self.queue:
            return
        shown = self.queue.pop(0)
        self.skipped.add(shown.path)
        self.queue.append(shown)
        self.panel.show_message(f"Skipped {os.path.basename(shown.path)}: it stays in the inbox and comes up again "
                                "after the others.")
        self._show()

    def bring_forward(self, path: str) -> None:
        """A picture clicked in "Next up": label it now."""
        for i, s in enumerate(self.queue):
            if s.path == path:
                self.queue.insert(0, self.queue.pop(i))
                self._show()
                return

    def undo(self) -> None:
        """Put the last labelled picture (or the last "accept all") back in the inbox, shown first (in
        a worker: an accept-all's undo checks and moves every picture back)."""
        if self.inbox is None or self._moving:
            return
        self._moving = True
        self.panel.set_open(True, busy=True)
        self.jobs.start("inbox-undo", jobs.undo_inbox, self.inbox, returned=self._on_undone,
                        errored=lambda m: self.panel.show_message(m, error=True), finished=self._on_moved)

    def _on_undone(self, report) -> None:
        from ..core.label.choose import Suggestion   # not at import: the window opens without NumPy

        if report is None:
            self.panel.show_message("There is no label to undo.")
            return
        back = []
        for was, now in report.restored:
            if now not in self.inbox.pictures:
                continue
            shown = self.labelled.pop(was, None)
            if shown is None:   # labelled before this inbox was opened: shown as it comes
                shown = Suggestion(path=now, rank=0, reason="back in the inbox (undone)")
            shown.path = now
            back.append(shown)
        back_paths = {s.path for s in back}
        self.queue = back + [s for s in self.queue if s.path not in back_paths]
        self.panel.show_message(report.summary())
        self.since_retrain += 1

    def accept_all(self, threshold: float) -> None:
        """Every picture suggested at least ``threshold`` sure gets its suggestion, after the user
        has seen how many (one undo takes them all back)."""
        if self.inbox is None:
            return
        plan = self.inbox.accept_plan(threshold, self.queue)
        if not plan:
            self.panel.show_message(f"No picture is suggested at least {threshold:.0%} sure: label some more and "
                                    "the model grows surer, or lower the number.")
            return
        counts: dict[str, int] = {}
        for s in plan:
            counts[s.suggestion] = counts.get(s.suggestion, 0) + 1
        each = ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))
        question = (f"Label {count(len(plan), 'picture')} of {len(self.queue)} with the model's suggestion, each at "
                    f"least {threshold:.0%} sure ({each})?\n\nThey move into the dataset's class folders; one Undo "
                    "puts them all back.")
        if QMessageBox.question(self.window, "Accept suggestions", question, Button.Yes | Button.Cancel) != Button.Yes:
            return
        self._moving = True
        self.panel.set_open(True, busy=True)
        self.panel.show_message(f"Labelling {count(len(plan), 'picture')}…")
        self.jobs.start("inbox-accept", jobs.accept_inbox, self.inbox, plan,
                        progress=lambda p: self.panel.show_progress(*p), returned=self._on_accepted,
                        errored=lambda m: self.panel.show_message(m, error=True), finished=self._on_moved)

    def _on_accepted(self, report) -> None:
        placed = {src: dst for src, dst in report.placed}
        shown = {s.path: s for s in self.queue}
        for src, dst in placed.items():
            if src in shown:
                self.labelled[dst] = shown[src]
        self.queue = [s for s in self.queue if s.path not in placed]
        self.panel.show_message(report.summary() + " Backspace undoes all of them at once.")

    def _on_moved(self) -> None:
        """An accept-all or an undo ended: labelling goes on, and the model learns from the change."""
        self._moving = False
        self.panel.hide_progress()
        self.since_retrain = max(self.since_retrain, RETRAIN_EVERY - 1)   # a bulk or an undo: learn at once
        self._labels_changed()

    # ----- learning -------------------------------------------------------------------------------
    def retrain(self) -> None:
        """The model learns from every labelled picture (a worker; labelling goes on meanwhile)."""
        if self.inbox is None:
            return
        if self.jobs.busy("inbox-retrain"):
            self._retrain_again = True   # labels came in while it learned: once more when it is done
            return
        self.since_retrain = 0
        self.status("The model is learning from your labels…")
        inbox = self.inbox   # a result for an inbox opened before (the user reopened meanwhile) is dropped
        self.jobs.start("inbox-retrain", jobs.retrain_inbox, inbox, None,
                        returned=lambda result: self._on_retrained(result) if inbox is self.inbox else None,
                        errored=lambda m: self._on_retrain_error(m) if inbox is self.inbox else None,
                        finished=lambda: self._on_retrain_finished() if inbox is self.inbox else None)

    def _on_retrained(self, result) -> None:
        head, suggestions = result
        left = set(self.inbox.pictures)
        fresh = [s for s in suggestions if s.path in left]   # labelled meanwhile: not again
        suggested = {s.path for s in fresh}
        back = [s for s in self.queue if s.path in left and s.path not in suggested]   # undone meanwhile
        shown = self.queue[0].path if self.queue else None
        self.queue = (back + [s for s in fresh if s.path not in self.skipped]
                      + [s for s in fresh if s.path in self.skipped])
        if shown is not None:   # the picture on screen stays there: the user may be about to label it
            self.bring_forward(shown)
        self._chart_point(head)
        self.status(f"The model learned from {count(head.trained_on, 'labelled picture')} in {head.seconds:.1f} s.")
        self._show(focus=False)   # the user may be typing elsewhere (the percentage)

    def _on_retrain_error(self, message: str) -> None:
        self.status(message)
        self.panel.show_counts(self._counts_text() + " " + message)

    def _on_retrain_finished(self) -> None:
        if self._retrain_again:   # after the runner has let this job go (it is still "busy" in here)
            self._retrain_again = False
            QTimer.singleShot(0, self.retrain)

    def save_model(self) -> None:
        """Save the model in use with its classifier learned again for the dataset's class folders as
        they are now (a class gained, lost or merged), then offer to use it."""
        if self.inbox is None or self.models is None:
            return
        classifier = self.inbox.classifier
        if classifier is None:
            self.panel.show_message("Saving a model needs a model to start from: tick “Suggest with the model in "
                                    "use” and open the inbox again (its classes are what change), or train a model "
                                    "on the dataset folder on the Train tab.", error=True)
            return
        if self.jobs.busy("inbox-save"):
            self.panel.show_message("The model is being saved: wait for it to finish.")
            return
        path = self.models.ask_save_path(classifier)
        if not path:
            return
        self.panel.show_message(f"Saving {os.path.basename(path)}: the model learns the dataset's classes from "
                                "every labelled picture…")
        self.jobs.start("inbox-save", jobs.save_inbox_model, self.inbox, path, True,
                        progress=lambda p: self.panel.show_progress(*p), returned=self._on_model_saved,
                        errored=lambda m: self.panel.show_message(m, error=True), finished=self.panel.hide_progress)

    def _on_model_saved(self, saved: dict) -> None:
        name = os.path.basename(saved["path"])
        self.panel.show_message(saved["summary"])
        if QMessageBox.question(self.window, "Use the saved model?", f"{saved['summary']}\n\nUse {name} from now on "
                                "(on the Classify tab, and here when you open the inbox again)?",
                                Button.Yes | Button.No) == Button.Yes:
            self.models.load(saved["path"])

    def _chart_point(self, head) -> None:
        if self.panel.chart is not None:
            held_out = self.inbox.held_out if self.inbox is not None else None
            self.panel.chart.add_point(head.trained_on, head.accuracy, held_out[0] if held_out else None)

    # ----- showing ------------------------------------------------------------------------------
    def _labels_changed(self) -> None:
        self.since_retrain += 1
        if self.since_retrain >= RETRAIN_EVERY:
            self.retrain()
        self._show()

    def _counts_text(self) -> str:
        if self.inbox is None:
            return ""
        counts = self.inbox.labelled_counts
        labelled = (f"{count(sum(counts.values()), 'labelled picture')} ("
                    + ", ".join(f"{name} {n}" for name, n in counts.items()) + ")") if counts else "none labelled yet"
        held_out = self.inbox.held_out
        test = (f" · {held_out[0]:.0%} right on the {count(held_out[1], held_out[2] + ' picture')}"
                if held_out and self.inbox.head is not None else "")
        return (f"{count(len(self.queue), 'picture')} to label · {labelled} · suggestions from "
                f"{self.inbox.source}{test}.")

    def _show(self, focus: bool = True) -> None:
        first = self.queue[0] if self.queue else None
        if self.inbox is not None:
            self.class_order += [n for n in self.inbox.class_names if n not in self.class_order]
            self.panel.set_classes(self.class_order)
        self.panel.show_picture_to_label(first)
        self.panel.show_next_up(self.queue[1:])
        self.panel.show_counts(self._counts_text())
        self.panel.set_open(self.inbox is not None, busy=self._moving)
        if first is not None:
            self.jobs.start("inbox-picture", jobs.picture_preview, first.path, jobs.PREVIEW_SIZE,
                            returned=lambda thumb, p=first.path: self.panel.show_picture(p, thumb))
        upcoming = [s.path for s in self.queue[1:NEXT_UP + 1]]
        if upcoming:
            self.jobs.start("inbox-thumbnails", jobs.thumbnails, upcoming,
                            yielded=lambda t: self.panel.set_thumbnail(t.path, t.thumb))
        if focus:
            self.panel.setFocus()
