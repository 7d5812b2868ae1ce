"""Certificate text wrapping (fastpdf.wrap): every line fits the body width and is as full as it
can be (the next word would not fit), whatever the paragraph; measured per word, in font units."""

from __future__ import annotations

import random

from registry.certificates import fastpdf

WIDTH, SIZE = 400.0, 10.5


def test_each_wrapped_line_fits_and_takes_as_many_words_as_fit():
    rng = random.Random(13)
    words = ["residente", "nel", "Comune", "di", "CAPANNORI,", "via", "dell'Angelo", "Custode", "12/B", "àèìòù",
             "PRECISAZIONE", "€", "—", "a", "x" * 60]
    for bold in (False, True):
        font = fastpdf.font("bold" if bold else "regular")
        for _ in range(200):
            text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 80)))
            lines = fastpdf.wrap([fastpdf.Line(text, bold=bold, indent=12.0)], size=SIZE, width=WIDTH)
            assert " ".join(line.text for line in lines) == text
            for line, following in zip(lines, lines[1:], strict=False):
                assert " " not in line.text or font.width(line.text, SIZE) <= WIDTH - 12.0
                next_word = following.text.split(" ")[0]
                assert font.width(f"{line.text} {next_word}", SIZE) > WIDTH - 12.0
            assert lines[0].space_before == 0.0 and all(line.indent == 12.0 for line in lines)
