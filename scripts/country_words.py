#!/usr/bin/env python3
"""Write config/country_words.json: the CLDR state and people words of textfeatures, and
config/native_state_words.json: the Urdu and Hindi ones as written.

    scripts/country_words.py           # (re)write the file from the installed Babel's CLDR
    scripts/country_words.py check     # exit 1 if the file is not what the code would build

Run it after changing ``[words] state_name_locales``, ``native_state_locales`` or
``country_name_generic`` in ``config/textfeatures.toml``, the one-word names of
``config/countries.toml [native]``, or upgrading Babel (until then the table is built from CLDR in
every process, the same words but slower). ``tests/test_cluster.py`` runs the check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors.detect import textfeatures as tf


def content() -> str:
    """The file's text for the installed Babel and the current word lists."""
    inputs = tf.country_words_inputs()
    prefixes, short = tf.build_country_words(inputs["locales"], inputs["generic"])
    table = {
        "generated_by": "scripts/country_words.py (do not edit)",
        "inputs": inputs,
        "prefixes": sorted(prefixes),
        "short": sorted(short),
    }
    return json.dumps(table, ensure_ascii=False, indent=0) + "\n"


def native_content() -> str:
    """config/native_state_words.json's text: the Urdu and Hindi state words as written."""
    inputs = tf.native_state_words_inputs()
    table = {
        "generated_by": "scripts/country_words.py (do not edit)",
        "inputs": inputs,
        "words": sorted(
            tf.build_native_state_words(inputs["locales"], inputs["curated"], inputs["everyday"])
        ),
    }
    return json.dumps(table, ensure_ascii=False, indent=0) + "\n"


def main(argv: list[str]) -> int:
    files = [(tf.COUNTRY_WORDS_PATH, content()), (tf.NATIVE_STATE_WORDS_PATH, native_content())]
    if argv[:1] == ["check"]:
        stale = 0
        for path, text in files:
            current = path.read_text(encoding="utf-8") if path.exists() else ""
            if current != text:
                print(f"{path} is out of date: run scripts/country_words.py")
                stale += 1
            else:
                print(f"{path} is up to date")
        return 1 if stale else 0
    for path, text in files:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
