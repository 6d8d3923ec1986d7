"""Training settings in one dataclass. Imports nothing heavy, so the UI can use it freely."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class TrainingConfig:
    """Everything that shapes a model and its training. Defaults are the app's defaults."""

    image_size: int = 96          # pixels per side of the pictures; the blocks work at image_size / stem_stride
    blocks: int = 4               # convolutional blocks; a max-pool halves the resolution between two
    base_filters: int = 32        # filters of the first block, doubled each block
    convs_per_block: int = 2      # 3x3 convolutions per block (1: 3.5x fewer FLOPs, 2.5x the training rate, less accurate)
    dropout: float = 0.3          # before the classifier
    augmentation: bool = True     # random flip, rotation, zoom, contrast while training
    learning_rate: float = 2e-3   # peak learning rate (AdamW, warm-up then cosine decay)
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    batch_size: int = 32
    epochs: int = 40              # the most epochs; fewer when the time limit comes first
    # Finish within about this long, reading the pictures included (0: no limit). On a busy 2-core
    # CPU (half its usual speed), 23-26 epochs of 7,000 photos fit: 90-91 % validation and 89-91 %
    # test accuracy on cats/dogs (README).
    time_limit_minutes: float = 15.0
    validation_split: float = 0.2  # used when the dataset has no validation folder
    early_stopping: bool = True
    patience: int = 8             # epochs without improvement before stopping early
    seed: int = 1337
    augmentation_strength: float = 1.0  # scales the rotation/zoom/shift/contrast ranges
    # Stride of the first convolution. 2: the network works at half the input size, so 96 px in
    # cost 0.56x what 64 px cost without it, and gave more accuracy in 15 minutes (README).
    stem_stride: int = 2
    precision: str = "auto"       # "float32", "mixed_bfloat16", or "auto": bfloat16 where the CPU has it

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainingConfig":
        """Build from a dict, ignoring unknown keys (older or newer saved settings). Settings saved
        before ``stem_stride`` existed meant a stride of 1, so that is what they get."""
        names = {f.name for f in dataclasses.fields(cls)}
        data = {"stem_stride": 1, **data}
        return cls(**{k: v for k, v in data.items() if k in names})

    def validate(self) -> None:
        """Raise ValueError with a readable message for settings that cannot work."""
        if not 16 <= self.image_size <= 512:
            raise ValueError("Image size must be between 16 and 512 pixels.")
        if type(self.stem_stride) is not int or self.stem_stride not in (1, 2):
            raise ValueError("The first convolution's stride must be 1 or 2.")
        if self.image_size // (self.stem_stride * 2 ** self.blocks) < 1:
            strided = " with a stride-2 first convolution (try a stride of 1)" if self.stem_stride == 2 else ""
            raise ValueError(f"{self.blocks} blocks are too many for {self.image_size}-pixel images{strided}.")
        if not 1 <= self.blocks <= 6:
            raise ValueError("Blocks must be between 1 and 6.")
        if not 1 <= self.convs_per_block <= 4:
            raise ValueError("Convolutions per block must be between 1 and 4.")
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError("Batch size and epochs must be at least 1.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("Dropout must be between 0 and 1.")
        if not 0.0 < self.validation_split < 1.0:
            raise ValueError("The validation split must be between 0 and 1.")
        if self.learning_rate <= 0:
            raise ValueError("The learning rate must be positive.")
        if not 0.0 <= self.time_limit_minutes <= 7 * 24 * 60:
            raise ValueError("The time limit must be between 0 (no limit) and a week.")
        if not 0.0 <= self.augmentation_strength <= 3.0:
            raise ValueError("Augmentation strength must be between 0 and 3.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"Precision must be one of: {', '.join(PRECISIONS)}.")


#: Values of ``TrainingConfig.precision``.
PRECISIONS = ("auto", "float32", "mixed_bfloat16")


#: Named settings offered in the app and the CLI (``--preset``). Each has a time limit, so that a
#: slow or busy computer still ends on time with a settled model; on a fast one the epochs end first.
PRESETS: dict[str, dict] = {
    # ~3.5-4 min for 7,000 photos on a 2-core CPU with bfloat16 (about 85 % validation accuracy).
    "quick": {"image_size": 64, "stem_stride": 1, "epochs": 12, "blocks": 4, "base_filters": 32, "convs_per_block": 1,
              "augmentation_strength": 0.5, "time_limit_minutes": 5.0},
    "default": {},
}


def preset(name: str, **overrides) -> TrainingConfig:
    """The config for a named preset, with ``overrides`` applied."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset '{name}'. Choose one of: {', '.join(PRESETS)}.")
    return TrainingConfig(**{**PRESETS[name], **overrides})


#: The fields the app's settings form lets the user change. Versions that stored the whole config
#: took every other field from the preset of their day, so on restore those follow today's preset.
FORM_FIELDS = ("epochs", "time_limit_minutes", "batch_size", "image_size", "learning_rate",
               "validation_split", "augmentation", "early_stopping")


def settings_to_dict(preset_name: str, config: TrainingConfig) -> dict:
    """What to store of the user's training settings: the preset and the fields that differ from it
    (so that a field the user never touched follows the preset when a new version improves it)."""
    base = preset(preset_name).to_dict()
    return {"preset": preset_name,
            "overrides": {k: v for k, v in config.to_dict().items() if base.get(k) != v}}


def config_from_settings(data: dict | None) -> tuple[str, TrainingConfig]:
    """The preset name and config that stored settings describe; the preset's defaults for anything
    unreadable. Reads what :func:`settings_to_dict` writes, and the older stored form: the whole
    config as JSON under ``"training_config"`` beside ``"preset"`` (with or without ``stem_stride``,
    which came later)."""
    data = data if isinstance(data, dict) else {}
    name = data.get("preset") if data.get("preset") in PRESETS else "default"
    try:
        if "overrides" in data:
            overrides = dict(data["overrides"])
        elif data.get("training_config"):
            overrides = _overrides_from_whole_config(name, data["training_config"])
        else:
            overrides = {}
        names = {f.name for f in dataclasses.fields(TrainingConfig)}
        config = preset(name, **{k: v for k, v in overrides.items() if k in names})
        config.validate()
    except (ValueError, TypeError, AttributeError) as exc:
        log.info("ignored unreadable saved settings: %s", exc)
        return name, preset(name)
    return name, config


def _overrides_from_whole_config(preset_name: str, whole) -> dict:
    saved = TrainingConfig.from_dict(json.loads(whole) if isinstance(whole, str) else whole)
    base = preset(preset_name)
    if saved.stem_stride != base.stem_stride:
        # The saved size was meant for a network with another first stride (an older version's 64 px
        # would halve today's default to 32 px): the preset's size comes back.
        saved.image_size = base.image_size
    return {k: getattr(saved, k) for k in FORM_FIELDS if getattr(saved, k) != getattr(base, k)}
