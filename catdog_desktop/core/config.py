"""Training settings in one dataclass. Imports nothing heavy, so the UI can use it freely."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import reprlib
from dataclasses import dataclass

log = logging.getLogger(__name__)


#: Fewer training pictures than this: no fine-tuning (core.training.pretrained). With a few hundred
#: pictures the classifier on the features is as good as it gets, and training the network itself
#: only learns them by heart.
MIN_FINE_TUNE_PICTURES = 500

@dataclass
class TrainingConfig:
    """Everything that shapes a model and its training. Defaults are the app's defaults."""

    # "mobilenet_v2": start from the network pretrained on ImageNet that ships with the app
    # (features once, a classifier on them, then fine-tuning; core/training/pretrained.py). "none": the
    # small CNN of core/model/network.py trained from scratch (for pictures unlike photos).
    backbone: str = "mobilenet_v2"
    image_size: int = 160         # pixels per side of the pictures; from scratch, the blocks work at image_size / stem_stride
    blocks: int = 4               # convolutional blocks; a max-pool halves the resolution between two
    base_filters: int = 32        # filters of the first block, doubled each block
    convs_per_block: int = 2      # 3x3 convolutions per block (1: 3.5x fewer FLOPs, 2.5x the training rate, less accurate)
    dropout: float = 0.3          # before the classifier
    augmentation: bool = True     # random flip, rotation, zoom, contrast while training (pretrained: each picture and its mirror image)
    learning_rate: float = 1e-2   # peak learning rate (AdamW, warm-up then cosine decay); pretrained: the classifier's
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    batch_size: int = 32
    epochs: int = 10              # the most epochs (pretrained: of fine-tuning); fewer when the time limit comes first
    # Finish within about this long, reading the pictures included (0: no limit). Pretrained, 7,000
    # photos on 2 cores: features, classifier and a little fine-tuning (README has the figures).
    time_limit_minutes: float = 5.0
    validation_split: float = 0.2  # used when the dataset has no validation folder
    early_stopping: bool = True
    patience: int = 8             # epochs without improvement before stopping early
    seed: int = 1337
    augmentation_strength: float = 1.0  # scales the rotation/zoom/shift/contrast ranges
    # Stride of the first convolution. 2: the network works at half the input size, so 96 px in
    # cost 0.56x what 64 px cost without it, and gave more accuracy in 15 minutes (README).
    stem_stride: int = 2
    precision: str = "auto"       # "float32", "mixed_bfloat16", or "auto": bfloat16 where the CPU has it (from scratch)
    # Pretrained only: epochs of the classifier on the cached features (seconds each), and
    # whether the backbone's last blocks are then trained too when the time limit leaves room.
    head_epochs: int = 30         # at least enough for a few hundred steps on a small dataset
    fine_tune: bool = True
    # Pretrained only: when the smallest class has fewer pictures than this and there is no validation
    # folder, every picture trains the classifier (no validation share) and the accuracy is estimated
    # by cross-validation (core/training/few.py; docs/benchmarks.md has the measurement). 0: never.
    cross_validate_below: int = 150

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainingConfig":
        """Build from a dict, ignoring unknown keys (older or newer saved settings). Settings saved
        before ``stem_stride`` existed meant a stride of 1, and those before ``backbone`` existed
        meant the from-scratch network, so that is what they get."""
        names = {f.name for f in dataclasses.fields(cls)}
        data = {"stem_stride": 1, "backbone": "none", **data}
        return cls(**{k: v for k, v in data.items() if k in names})

    def validate(self) -> None:
        """Raise ValueError with a readable message for settings that cannot work."""
        if self.backbone != "none" and self.backbone not in BACKBONE_NAMES:
            raise ValueError(f"Unknown model type '{self.backbone}'. Choose one of: {', '.join(BACKBONE_NAMES)}, none.")
        if not 0 <= self.cross_validate_below <= 1_000_000:
            raise ValueError("The size below which accuracy is cross-validated must be between 0 and 1,000,000.")
        if not 1 <= self.head_epochs <= 1000:
            raise ValueError("Classifier epochs must be between 1 and 1000.")
        if not 16 <= self.image_size <= 512:
            raise ValueError("Image size must be between 16 and 512 pixels.")
        if self.backbone != "none" and self.image_size < 32:
            raise ValueError("Image size must be at least 32 pixels for a pretrained network.")
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


#: Values of ``TrainingConfig.backbone`` besides "none" (core/model/backbone.py has what each one is).
BACKBONE_NAMES = ("mobilenet_v2",)

#: Values of ``TrainingConfig.precision``.
PRECISIONS = ("auto", "float32", "mixed_bfloat16")


#: Where each model type starts from, before a preset's settings: the dataclass defaults are
#: the pretrained network's; the from-scratch CNN keeps the settings measured for it (README).
BACKBONE_DEFAULTS: dict[str, dict] = {
    "mobilenet_v2": {},
    "none": {"image_size": 96, "stem_stride": 2, "epochs": 40, "learning_rate": 2e-3, "time_limit_minutes": 15.0},
}

#: Named settings offered in the app and the CLI (``--preset``), per model type. Each has a time
#: limit, so that a slow or busy computer still ends on time with a settled model.
PRESETS: dict[str, dict[str, dict]] = {
    "default": {"mobilenet_v2": {}, "none": {}},
    "quick": {
        # The classifier on the features only: a minute or two for thousands of photos.
        "mobilenet_v2": {"fine_tune": False, "time_limit_minutes": 3.0},
        # ~3.5-4 min for 7,000 photos on a 2-core CPU with bfloat16 (about 85 % validation accuracy).
        "none": {"image_size": 64, "stem_stride": 1, "epochs": 12, "blocks": 4, "base_filters": 32,
                 "convs_per_block": 1, "augmentation_strength": 0.5, "time_limit_minutes": 5.0},
    },
    "best": {
        # Longer fine-tuning (README: what 15 minutes give on 7,000 photos).
        "mobilenet_v2": {"time_limit_minutes": 15.0, "epochs": 20},
        # The best measured in 45 minutes (README).
        "none": {"image_size": 128, "epochs": 100, "time_limit_minutes": 45.0},
    },
}


def preset(name: str, **overrides) -> TrainingConfig:
    """The config for a named preset and model type (``backbone`` in ``overrides``, else the
    default one), with ``overrides`` applied."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset '{name}'. Choose one of: {', '.join(PRESETS)}.")
    backbone = overrides.get("backbone", TrainingConfig.backbone)
    if backbone not in BACKBONE_DEFAULTS:
        raise ValueError(f"Unknown model type '{backbone}'. Choose one of: {', '.join(BACKBONE_DEFAULTS)}.")
    return TrainingConfig(**{**BACKBONE_DEFAULTS[backbone], **PRESETS[name][backbone], **overrides})


#: The fields the app's settings form lets the user change. Versions that stored the whole config
#: took every other field from the preset of their day, so on restore those follow today's preset.
FORM_FIELDS = ("epochs", "time_limit_minutes", "batch_size", "image_size", "learning_rate",
               "validation_split", "augmentation", "early_stopping")


def settings_to_dict(preset_name: str, config: TrainingConfig) -> dict:
    """What to store of the user's training settings: the preset and the fields that differ from it
    (so that a field the user never touched follows the preset when a new version improves it)."""
    base = preset(preset_name, backbone=config.backbone).to_dict()
    overrides = {k: v for k, v in config.to_dict().items() if base.get(k) != v}
    if config.backbone != TrainingConfig.backbone:
        # The other fields are measured from that model type's preset: it must come back first.
        overrides = {"backbone": config.backbone, **overrides}
    return {"preset": preset_name, "overrides": overrides}


def config_from_settings(data: dict | None) -> tuple[str, TrainingConfig]:
    """The preset name and config that stored settings describe; the preset's defaults for anything
    unreadable. Reads what :func:`settings_to_dict` writes, and the older stored form: the whole
    config as JSON under ``"training_config"`` beside ``"preset"`` (with or without ``stem_stride``,
    which came later)."""
    data = data if isinstance(data, dict) else {}
    name = data.get("preset") if isinstance(data.get("preset"), str) and data["preset"] in PRESETS else "default"
    try:
        if "overrides" in data:
            overrides = _well_typed(dict(data["overrides"]))
        elif data.get("training_config"):
            overrides = _overrides_from_whole_config(name, data["training_config"])
        else:
            overrides = {}
        names = {f.name for f in dataclasses.fields(TrainingConfig)}
        if overrides.get("backbone") not in BACKBONE_DEFAULTS:  # a model type of a newer version
            overrides.pop("backbone", None)
        config = preset(name, **{k: v for k, v in overrides.items() if k in names})
        config.validate()
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        log.info("ignored unreadable saved settings: %s", exc)
        return name, preset(name)
    return name, config


#: The Python types a TrainingConfig field of each annotated type accepts from stored settings.
_STORED_FIELD_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,)}


def _well_typed(values: dict) -> dict:
    """The stored ``values`` whose type fits their TrainingConfig field; the others are dropped (and
    logged), so the preset's value stays. A newer version's unknown field is left for the caller."""
    kinds = {f.name: _STORED_FIELD_TYPES.get(str(f.type), ()) for f in dataclasses.fields(TrainingConfig)}
    kept = {}
    for key, value in values.items():
        if key not in kinds or _fits(value, kinds[key]):
            kept[key] = value
        else:
            log.warning("ignored the stored training setting %s=%s: not of its type", key, reprlib.repr(value))
    return kept


def _fits(value, kinds: tuple[type, ...]) -> bool:
    """Whether a stored ``value`` is one of ``kinds`` (a bool is no number, nor a number a bool), an
    int within what the form's spin boxes hold, a float finite."""
    if isinstance(value, bool) != (bool in kinds) or not isinstance(value, kinds):
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    return not isinstance(value, int) or isinstance(value, bool) or -2**31 <= value < 2**31


def _overrides_from_whole_config(preset_name: str, whole) -> dict:
    whole = json.loads(whole) if isinstance(whole, str) else whole
    saved = TrainingConfig.from_dict(_well_typed(dict(whole)))
    # Those versions trained from scratch only: the fields the user changed are measured against
    # that network's preset. The model type is not carried over: nobody chose it then, and the
    # pretrained one (today's default) is better on every photo dataset measured.
    base = preset(preset_name, backbone="none")
    if saved.stem_stride != base.stem_stride:
        # The saved size was meant for a network with another first stride (an older version's 64 px
        # would halve today's default to 32 px): the preset's size comes back.
        saved.image_size = base.image_size
    return {k: getattr(saved, k) for k in FORM_FIELDS if getattr(saved, k) != getattr(base, k)}
