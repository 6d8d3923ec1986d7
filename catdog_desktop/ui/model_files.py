"""Opening and saving model files: the dialogs, the "save it first?" question, and the jobs that
load and save in the background. The session (core.app.session) records the outcome."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox, QWidget

from ..core.app import jobs
from ..core.app.session import BUILTIN_NAME, Session
from ..paths import inside_package
from .workers import JobRunner

log = logging.getLogger(__name__)

Button = QMessageBox.StandardButton


class ModelFiles(QObject):
    """File → Open model / Save model, for ``window``. ``status`` shows a status-bar message;
    ``on_load_error`` receives the reason a model the user asked for could not be opened."""

    def __init__(self, window: QWidget, session: Session, jobs_: JobRunner, status: Callable[..., None],
                 on_load_error: Callable[[str], None]):
        super().__init__(window)
        self.window = window
        self.session = session
        self.jobs = jobs_
        self.status = status
        self.on_load_error = on_load_error
        #: Called when a load ends, opened or not (the window tells the pictures waiting for it).
        self.after_load: Callable[[], None] = lambda: None
        self.export_dialog = None  # the last File → Export model… dialog (one export at a time)

    # ----- opening ------------------------------------------------------------------------------
    @Slot()
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open model", self.session.model_folder,
                                              "Keras models (*.keras);;All files (*)")
        if path:
            self.load(path)

    def load(self, path: str, quiet: bool = False) -> None:
        """Open the model in ``path``; the newest request wins. ``quiet``: at start-up, where a
        model that no longer opens is only mentioned."""
        if not quiet and not self.keep_unsaved("opening another model", "opening"):
            return
        self.status(f"Opening {os.path.basename(path)}…")
        self.jobs.start("load-model", jobs.load_model, path, returned=self._on_loaded,
                        errored=self._on_quiet_load_error if quiet else self._on_load_error,
                        finished=lambda: self.after_load())

    @Slot()
    def use_builtin(self) -> None:
        """File → Use built-in model: the cats-vs-dogs model that comes with the app, always reachable."""
        if self.session.builtin_model is not None:
            self.load(self.session.builtin_model)

    def fill_recent_menu(self, menu: QMenu, recent: list[str]) -> None:
        """File → Recent models: the built-in model first, then the files opened or saved last."""
        menu.clear()
        if self.session.builtin_model is not None:
            menu.addAction(BUILTIN_NAME[0].upper() + BUILTIN_NAME[1:], self.use_builtin)
            menu.addSeparator()
        for path in recent:
            item = menu.addAction(os.path.basename(path))
            item.setToolTip(path)
            item.setData(path)
            item.triggered.connect(lambda _checked=False, p=path: self.load(p))
        menu.setEnabled(bool(menu.actions()))

    def _on_loaded(self, classifier) -> None:
        self.session.set_model(classifier)
        ready = (f"The {self.session.model_name()} is ready." if self.session.is_builtin(classifier.path)
                 else f"Model {os.path.basename(classifier.path)} is ready.")
        # What the user must know about the file (e.g. raw scores turned into probabilities) stays on.
        notes = getattr(classifier, "notes", [])
        self.status(" ".join([ready, *notes]), 0 if notes else 8000)

    def _on_load_error(self, message: str) -> None:
        self.status("The model could not be opened.", 8000)
        self.on_load_error(message)

    def _on_quiet_load_error(self, message: str) -> None:
        log.info("last model not restored: %s", message)
        self.status("The last model could not be reopened.", 8000)

    # ----- saving -------------------------------------------------------------------------------
    @Slot()
    def save_dialog(self, classifier=None) -> None:
        """Ask where to save ``classifier`` (the active model by default), then save it."""
        classifier = classifier or self.session.classifier
        if classifier is None:
            self.status("There is no model to save yet.", 5000)
            return
        path = self.ask_save_path(classifier)
        if path:
            self.save(path, classifier)

    def save(self, path: str, classifier=None) -> None:
        """Save ``classifier`` (the active model by default) to ``path`` in the background."""
        classifier = classifier or self.session.classifier

        def saved(where) -> None:
            self.session.mark_saved(classifier, where)
            if classifier is self.session.classifier:  # else another model became active meanwhile
                self.status(f"Model saved to {where}", 8000)

        def failed(message: str) -> None:
            self.status("The model was not saved.")
            self._show_save_failed(message)

        self.status("Saving the model…")
        self.jobs.start("save", jobs.save_model, classifier, path, returned=saved, errored=failed)

    def keep_unsaved(self, before: str, reason: str) -> bool:
        """Before an unsaved trained model is lost (``reason``: see Session.at_risk), offer to
        save it. Returns True when the caller may go on (saved, discarded, or nothing to lose).
        """
        classifier = self.session.at_risk(reason)
        if classifier is None:
            return True
        if self.jobs.busy("save"):
            self.status("The model is still being saved: try again in a moment.", 5000)
            return False
        answer = QMessageBox.question(self.window, "Save the trained model?",
                                      f"The model you trained has not been saved. Save it before {before}?",
                                      Button.Save | Button.Discard | Button.Cancel)
        if answer == Button.Cancel:
            return False
        if answer != Button.Save:
            self.session.discard_unsaved(classifier)
            return True
        path = self.ask_save_path(classifier)
        if not path:
            return False
        try:
            # Waited for here (a few MB, well under a second): what comes next needs it saved.
            saved = jobs.save_model(None, classifier, path)
        except Exception as exc:  # noqa: BLE001 - shown to the user, who can choose again
            self._show_save_failed(str(exc))
            return False
        self.session.mark_saved(classifier, saved)
        return True

    def ask_save_path(self, classifier) -> str:
        """The file the user chooses for ``classifier`` ("" if cancelled or refused). Never a file
        inside the installed app: the built-in model lives there."""
        start = classifier.path
        if not start or inside_package(start):
            folder = self.session.model_folder
            start = os.path.join(folder if not inside_package(folder) else os.path.expanduser("~"), "my-model.keras")
        path, _ = QFileDialog.getSaveFileName(self.window, "Save model", start, "Keras models (*.keras)")
        if path and inside_package(path):
            QMessageBox.warning(self.window, "Model not saved",
                                f"{path} is inside the app's own folder, where the built-in model lives and "
                                "which an update would replace. Save your model in another folder, for "
                                "example your Documents.")
            return ""
        return path

    def _show_save_failed(self, message: str) -> None:
        QMessageBox.warning(self.window, "Model not saved",
                            f"{message}\n\nThe trained model is still here: save it to another folder.")

    # ----- exporting ----------------------------------------------------------------------------
    @Slot()
    def export(self) -> None:
        """File → Export model…: the model in use, checked on the open dataset if it has its classes."""
        from .export_dialog import ExportDialog  # on first use: the window opens without it

        classifier, scan = self.session.classifier, self.session.scan
        previous = self.export_dialog
        if previous is not None and previous.running():  # one export at a time: show it again
            previous.show()
            previous.raise_()
            return
        if classifier is None:
            return
        if previous is not None:
            previous.deleteLater()
        data = scan.root if scan is not None and set(scan.class_names) == set(classifier.class_names) else ""
        folder = self.session.export_folder
        self.export_dialog = ExportDialog(self.window, classifier, self.jobs,
                                          folder if not inside_package(folder) else os.path.expanduser("~"), data)
        self.export_dialog.exported.connect(
            lambda out: self.session.set_export_folder(os.path.dirname(os.path.abspath(out.rstrip("/\\")))))
        self.export_dialog.open()
