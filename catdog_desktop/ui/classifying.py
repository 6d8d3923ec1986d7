"""Classifying in the background for the Classify tab: pictures dropped, opened or pasted go to
the active model; pictures given before any model is ready wait for it; and when the active
model changes, the pictures on screen are classified again, so results always belong to the
model named above them. A single picture can also be explained ("Show where it looked": a
Grad-CAM heatmap, computed in the background for the picture shown)."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QObject, Slot

from ..core import jobs
from ..core.wording import count
from ..core.session import Session
from .classify_panel import ClassifyPanel
from .workers import JobRunner


class Classifying(QObject):
    """Runs the Classify tab's jobs; ``show_panel()`` brings the tab to the front."""

    def __init__(self, panel: ClassifyPanel, session: Session, jobs_: JobRunner, show_panel: Callable[[], None]):
        super().__init__(panel)
        self.panel = panel
        self.session = session
        self.jobs = jobs_
        self.show_panel = show_panel
        self.pending: list[str] = []
        self._last: tuple | None = None   # (job, what, single) of the pictures on screen
        self._shown_with = None           # the model whose results are on screen
        self._total = 0                   # pictures in the batch on screen
        self._single_source = None        # the single picture on screen: its path, or the pasted picture
        panel.explain_toggled.connect(self._on_explain_toggled)
        panel.threshold_changed.connect(self.set_threshold)

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
        """Pictures to classify once a model is ready (given on the command line at start)."""
        self.pending = list(paths)
        self.show_panel()
        self.panel.model_label.setText("Loading the model…")
        self.panel.show_message(f"{count(len(paths), 'picture')} waiting: loading the model…")

    @Slot(list)
    def classify_paths(self, paths: list) -> None:
        self.show_panel()
        if self.session.classifier is None:
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
            self._run(job, what, single, note=f"Re-classified with {self.session.model_name()}.")

    def _run(self, job, what, single: bool, note: str = "") -> None:
        self._last = (job, what, single)
        self._shown_with = self.session.classifier
        self.jobs.stop("explain")  # the heatmap of the picture on screen until now is not wanted
        self.panel.begin(1 if single else None)
        self.jobs.start("classify", job, self.session.classifier, what, yielded=self._on_classified,
                        returned=lambda _count: self.panel.finish(note=note), errored=self._on_error)

    def _on_classified(self, event) -> None:
        if event[0] == "total":
            self._total = event[1]
            self._single_source = None
            self.panel.set_total(event[1])
        else:
            self.panel.add_result(*event[1:])
            _, index, prediction, _thumb = event
            if self._total == 1 and prediction.ok:
                job, what, _single = self._last
                self._single_source = what if job is jobs.classify_image else prediction.path
                if self.panel.explain_box.isChecked():
                    self._explain()

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
        self.jobs.start("explain", jobs.explain, self.session.classifier, self._single_source,
                        returned=lambda result: self.panel.show_heatmap(result["overlay_rgb"], result["class_name"],
                                                                          result["found"]),
                        errored=self.panel.explain_failed)

    def _on_error(self, message: str) -> None:
        self.panel.progress.setVisible(False)
        self.panel.show_message(message, error=True)
