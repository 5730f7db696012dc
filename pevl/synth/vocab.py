"""The real Diving48 vocabulary: 48 classes, each a (takeoff, somersault, twist, position) tuple."""

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

TAKEOFFS = ("Back", "Forward", "Inward", "Reverse")
POSITIONS = ("STR", "PIKE", "TUCK", "FREE")
ATTRIBUTES = ("takeoff", "somersault", "twist", "position")


@dataclass(frozen=True)
class DiveClass:
    """One Diving48 class and the motion numbers its attributes stand for."""

    label: int
    takeoff: str
    somersault: str
    twist: str
    position: str

    @property
    def name(self) -> str:
        """Diving48's own class name, e.g. Back_15som_05Twis_FREE."""
        return "_".join((self.takeoff, self.somersault, self.twist, self.position))

    @property
    def somersault_turns(self) -> float:
        """Somersault turns: "Dive" = 0.5, "15som" = 1.5, "2som" = 2."""
        return 0.5 if self.somersault == "Dive" else _code_turns(self.somersault, "som")

    @property
    def twist_turns(self) -> float:
        """Twist turns: "NoTwis" = 0, "05Twis" = 0.5, "1Twis" = 1."""
        return 0.0 if self.twist == "NoTwis" else _code_turns(self.twist, "Twis")

    def attribute(self, name: str) -> str:
        """The raw value of one of ATTRIBUTES."""
        return getattr(self, name)


def _code_turns(code: str, suffix: str) -> float:
    """Diving48 writes half turns as two digits ("25" = 2.5) and whole turns as one ("2")."""
    digits = code.removesuffix(suffix)
    if not digits.isdigit():
        raise ValueError(f"not a Diving48 {suffix} code: {code!r}")
    return int(digits) / 10.0 if len(digits) == 2 else float(digits)


def vocab_text() -> str:
    """The bundled Diving48_vocab.json, as written to every SynthDive dataset."""
    return resources.files("pevl").joinpath("assets", "diving48_vocab.json").read_text()


@cache
def load_vocab() -> tuple[tuple[str, str, str, str], ...]:
    """The 48 [takeoff, somersault, twist, position] entries of Diving48_vocab.json, in label order."""
    return tuple(tuple(entry) for entry in json.loads(vocab_text()))


def dive_classes() -> list[DiveClass]:
    """Every class of the vocab as a DiveClass, indexed by label."""
    return [DiveClass(i, *entry) for i, entry in enumerate(load_vocab())]
