"""The training settings form: the choices a beginner understands up front (model type, goal,
time limit, augmentation), the rest under a collapsed *Advanced* section."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QSpinBox, QToolButton, QVBoxLayout,
    QWidget,
)

from ..core.config import PRESETS, TrainingConfig, preset

PRESET_LABELS = {"default": "Recommended (best in the time limit)", "quick": "Quick look (a few minutes)",
                 "best": "Best (takes longer)"}
PRESET_TIPS = {"default": "The most accurate model the time limit allows.",
               "quick": "A fast first try: a rougher model in a few minutes.",
               "best": "More time for the most accurate model: 15 minutes pretrained, 45 from scratch."}
#: The order the goals are offered in.
PRESET_ORDER = ("default", "quick", "best")
#: Model types offered, the recommended one first: (TrainingConfig.backbone, label, one-line tooltip).
BACKBONES = (
    ("mobilenet_v2", "Pretrained (MobileNetV2) — recommended",
     "Starts from a network that already knows photos: accurate in minutes, even with few pictures."),
    ("none", "From scratch (small CNN, for pictures unlike photos)",
     "Learns everything from your pictures: for drawings, scans or microscope images; needs more pictures and time."),
)
IMAGE_SIZES = (32, 48, 64, 80, 96, 128, 160, 192, 224)


class TrainingForm(QGroupBox):
    """Edits a :class:`TrainingConfig`; ``advanced_toggled(open)`` when the Advanced section opens
    or closes (the window remembers it)."""

    advanced_toggled = Signal(bool)

    def __init__(self, parent=None):
        super().__init__("Settings", parent)
        self._config = TrainingConfig()
        self.backbone_box = QComboBox()
        for key, label, tip in BACKBONES:
            self.backbone_box.addItem(label, key)
            self.backbone_box.setItemData(self.backbone_box.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.backbone_box.setToolTip("What the model starts from. Pretrained suits photos; changing it resets "
                                     "the other settings to that model's defaults.")
        self.preset_box = QComboBox()
        for key in sorted(PRESETS, key=lambda k: PRESET_ORDER.index(k) if k in PRESET_ORDER else len(PRESET_ORDER)):
            self.preset_box.addItem(PRESET_LABELS.get(key, key.title()), key)
            self.preset_box.setItemData(self.preset_box.count() - 1, PRESET_TIPS.get(key, ""),
                                        Qt.ItemDataRole.ToolTipRole)
        self.preset_box.setToolTip("How good versus how fast; choosing one resets the settings below to it.")
        self.time_limit = QSpinBox(minimum=0, maximum=7 * 24 * 60, suffix=" min", singleStep=5)
        self.time_limit.setSpecialValueText("No limit")
        self.time_limit.setToolTip("Training ends within about this long; fewer epochs run if the time comes first.")
        self.augmentation = QCheckBox("Vary the pictures while training (flip, rotate, zoom)")
        self.augmentation.setToolTip("Shows the model slightly changed copies, so it learns the subject, "
                                     "not the exact pictures.")
        self.fine_tune = QCheckBox("Fine-tune the last layers when time allows")
        self.fine_tune.setToolTip("After the classifier, adjust the pretrained network's last layers too, "
                                  "if the time limit leaves room and there are enough pictures.")

        # --- advanced ---
        self.epochs = QSpinBox(minimum=1, maximum=500)
        self.epochs.setToolTip("The most passes over all training pictures (pretrained: of fine-tuning). "
                               "The best epoch is kept.")
        self.image_size = QComboBox()
        for size in IMAGE_SIZES:
            self.image_size.addItem(f"{size} × {size} px", size)
        self.image_size.setToolTip("Pictures are shrunk to this size: larger can be more accurate but is slower.")
        self.size_hint = QLabel("The from-scratch network halves the pictures first (96 px: it works at 48).")
        self.size_hint.setWordWrap(True)
        self.size_hint.setStyleSheet("color:#616161;")
        self.batch_size = QSpinBox(minimum=2, maximum=512)
        self.batch_size.setToolTip("Pictures looked at together per step; the default suits most computers.")
        self.learning_rate = QDoubleSpinBox(decimals=5, minimum=0.00001, maximum=1.0, singleStep=0.0005)
        self.learning_rate.setToolTip("How big each learning step is; too high makes training jump about.")
        self.validation_split = QSpinBox(minimum=5, maximum=50, suffix=" %")
        self.validation_split.setToolTip("Share of the pictures held back to check the model "
                                         "(when the dataset has no validation folder).")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.seed.setToolTip("Fixes the random choices (split, order): the same seed repeats a training exactly.")
        self.early_stopping = QCheckBox("Stop early when validation stops improving")
        self.early_stopping.setToolTip("Ends training when the held-back pictures stop getting better.")
        advanced_form = QFormLayout()
        advanced_form.addRow("Epochs (at most)", self.epochs)
        advanced_form.addRow("Image size", self.image_size)
        advanced_form.addRow(self.size_hint)
        advanced_form.addRow("Batch size", self.batch_size)
        advanced_form.addRow("Learning rate", self.learning_rate)
        advanced_form.addRow("Validation share", self.validation_split)
        advanced_form.addRow("Random seed", self.seed)
        advanced_form.addRow(self.early_stopping)
        advanced_form.setContentsMargins(0, 0, 0, 0)
        self.advanced = QWidget()
        self.advanced.setLayout(advanced_form)
        self.advanced.setVisible(False)
        self.advanced_button = QToolButton(text="Advanced", checkable=True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.setAutoRaise(True)
        self.advanced_button.setToolTip("Settings that rarely need changing.")
        self.advanced_button.toggled.connect(self._on_advanced_toggled)

        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow(QLabel("Model"))
        form.addRow(self.backbone_box)
        form.addRow("Goal", self.preset_box)
        form.addRow("Time limit", self.time_limit)
        form.addRow(self.augmentation)
        form.addRow(self.fine_tune)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.advanced_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.advanced)
        self.backbone_box.currentIndexChanged.connect(self._on_choice_changed)
        self.preset_box.currentIndexChanged.connect(self._on_choice_changed)
        self.set_config(TrainingConfig())

    # ----- reading and writing the settings -------------------------------------------------
    def preset_name(self) -> str:
        return self.preset_box.currentData()

    def backbone(self) -> str:
        return self.backbone_box.currentData()

    def config(self) -> TrainingConfig:
        """The settings shown, over the fields the form does not show (kept from set_config)."""
        return dataclasses.replace(
            self._config, backbone=self.backbone(), epochs=self.epochs.value(),
            time_limit_minutes=float(self.time_limit.value()), batch_size=self.batch_size.value(),
            image_size=int(self.image_size.currentData()), learning_rate=float(self.learning_rate.value()),
            validation_split=self.validation_split.value() / 100.0, seed=self.seed.value(),
            augmentation=self.augmentation.isChecked(), early_stopping=self.early_stopping.isChecked(),
            fine_tune=self.fine_tune.isChecked())

    def set_config(self, config: TrainingConfig, preset_name: str | None = None) -> None:
        self._config = dataclasses.replace(config)
        for box, value in ((self.preset_box, preset_name), (self.backbone_box, config.backbone)):
            index = box.findData(value) if value is not None else -1
            if index >= 0:
                box.blockSignals(True)
                box.setCurrentIndex(index)
                box.blockSignals(False)
        self.epochs.setValue(config.epochs)
        minutes = config.time_limit_minutes
        self.time_limit.setValue(max(1, round(minutes)) if minutes > 0 else 0)  # 0.4 min stays a limit
        self.batch_size.setValue(config.batch_size)
        index = self.image_size.findData(config.image_size)
        if index < 0:
            self.image_size.addItem(f"{config.image_size} × {config.image_size} px", config.image_size)
            index = self.image_size.count() - 1
        self.image_size.setCurrentIndex(index)
        self.learning_rate.setValue(config.learning_rate)
        self.validation_split.setValue(int(round(config.validation_split * 100)))
        self.seed.setValue(config.seed)
        self.augmentation.setChecked(config.augmentation)
        self.early_stopping.setChecked(config.early_stopping)
        self.fine_tune.setChecked(config.fine_tune)
        pretrained = config.backbone != "none"
        self.fine_tune.setVisible(pretrained)
        self.size_hint.setVisible(not pretrained)
        # What "vary the pictures" does differs: a pretrained training learns each picture's mirror
        # image too (its features are computed once); from scratch, random flips, turns and zooms.
        self.augmentation.setText("Also learn from each picture's mirror image" if pretrained
                                  else "Vary the pictures while training (flip, rotate, zoom)")

    @Slot(int)
    def _on_choice_changed(self, _index: int) -> None:
        """A new model type or goal: every field takes that combination's preset value."""
        self.set_config(preset(self.preset_name(), backbone=self.backbone()))

    # ----- the Advanced section -----------------------------------------------------------------
    def set_advanced_open(self, open_: bool) -> None:
        self.advanced_button.setChecked(open_)

    @Slot(bool)
    def _on_advanced_toggled(self, open_: bool) -> None:
        self.advanced.setVisible(open_)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow)
        self.advanced_toggled.emit(open_)
