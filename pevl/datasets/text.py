"""Diving48 vocabulary codes -> action sentence, sub-action phrases and attributes.

A Diving48 class is four codes, e.g. ["Back", "15som", "05Twis", "FREE"]:
takeoff, somersaults ("15som" = 1.5, "Dive" = a plain dive), twists ("05Twis" = 0.5, "NoTwis" = none)
and flight position (PIKE, TUCK, FREE, STR = straight).
"""

import re

from schemas import ClassText

ATTRIBUTES = ("takeoff", "somersaults", "twists", "position")
POSITIONS = {"PIKE": "pike", "TUCK": "tuck", "FREE": "free", "STR": "straight"}
_COUNT = re.compile(r"^(\d+)(som|Twis)$")


def _count(digits: str) -> str:
    """'15' -> '1.5', '05' -> '0.5', '2' -> '2', '1' -> '1'."""
    if len(digits) == 1:
        return digits
    return f"{int(digits[:-1])}.{digits[-1]}"


def _plural(count: str, noun: str) -> str:
    return f"{count} {noun}" if count == "1" else f"{count} {noun}s"


def somersault_phrase(code: str) -> tuple[str, str]:
    """'15som' -> ('1.5 somersaults', '1.5'); 'Dive' -> ('a plain dive', 'dive')."""
    if code.lower() == "dive":
        return "a plain dive", "dive"
    m = _COUNT.match(code)
    if not m or m.group(2) != "som":
        return code, code
    n = _count(m.group(1))
    return _plural(n, "somersault"), n


def twist_phrase(code: str) -> tuple[str, str]:
    """'05Twis' -> ('0.5 twists', '0.5'); 'NoTwis' -> ('no twist', '0')."""
    if code.lower().startswith("no"):
        return "no twist", "0"
    m = _COUNT.match(code)
    if not m or m.group(2) != "Twis":
        return code, code
    n = _count(m.group(1))
    return _plural(n, "twist"), n


def diving48_class_text(label: int, codes: list[str]) -> ClassText:
    """The texts of one Diving48 class from its four vocab codes."""
    takeoff, som, twist, position = codes
    som_phrase, som_value = somersault_phrase(som)
    twist_phrase_, twist_value = twist_phrase(twist)
    pos = POSITIONS.get(position.upper(), position.lower())
    phrases = [f"{takeoff.lower()} takeoff", som_phrase, twist_phrase_, f"{pos} position"]
    return ClassText(
        label=label,
        name="+".join(codes),
        text="a diver performs a " + ", ".join(phrases),
        phrases=phrases,
        attributes={
            "takeoff": takeoff.lower(),
            "somersaults": som_value,
            "twists": twist_value,
            "position": pos,
        },
    )
