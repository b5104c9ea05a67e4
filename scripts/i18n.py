#!/usr/bin/env python3
"""Message catalogues: extract, update, init, check (see README "Languages").

    scripts/i18n.py extract        # bot/locales/defwatch.pot from the code and config/why.toml
    scripts/i18n.py update         # merge it into every bot/locales/<lang>/.../defwatch.po
    scripts/i18n.py init LANG      # start a new language's catalogue
    scripts/i18n.py check          # what is missing, untranslated or broken (exit 1 if any)
    scripts/i18n.py compile DIR    # .mo files into DIR (optional: the bot reads .po itself)

The rules are in ``bot/catalogues.py``; ``tests/test_i18n.py`` runs the same check.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from babel.messages import mofile

from bot import catalogues


def main(argv: list[str]) -> int:
    command, *rest = argv or ["check"]
    if command == "extract":
        catalogues.write(catalogues.template(), catalogues.TEMPLATE)
        print(f"wrote {catalogues.TEMPLATE}")
    elif command in ("update", "init"):
        source = catalogues.template()
        catalogues.write(source, catalogues.TEMPLATE)
        for language in rest if command == "init" else catalogues.translated_languages():
            catalogues.update(language, source)
            print(f"updated {language}")
    elif command == "check":
        bad = 0
        for language in catalogues.translated_languages():
            found = catalogues.problems(language)
            bad += len(found)
            print(f"{language}: {'complete' if not found else f'{len(found)} problems'}")
            for line in found:
                print(f"  {line}")
        return 1 if bad else 0
    elif command == "compile":
        target = Path(rest[0] if rest else "build/locales")
        for language in catalogues.translated_languages():
            path = target / language / "LC_MESSAGES" / "defwatch.mo"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as handle:
                mofile.write_mo(handle, catalogues.read(language), use_fuzzy=False)
            print(f"wrote {path}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
