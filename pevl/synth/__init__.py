"""SynthDive: a procedurally rendered diving dataset in Diving48's on-disk layout.

`generate_synthdive` renders one; `ensure_synthdive` reuses or (re)generates the one a
DatasetConfig asks for; `write_preview` draws a contact sheet of classes that differ in chosen
attributes.
"""

from pevl.synth.api import ensure_synthdive, generate_synthdive
from pevl.synth.preview import write_preview

__all__ = ["ensure_synthdive", "generate_synthdive", "write_preview"]
