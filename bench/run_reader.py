"""One update of lemon24/reader over the benchmark feeds, as its own process:
`python -m bench.run_reader DB URLS_FILE`. Prints entries added."""

from __future__ import annotations

import sys
from pathlib import Path

from reader import make_reader


def main(db: str, urls_file: str) -> None:
    reader = make_reader(db)
    known = {feed.url for feed in reader.get_feeds()}
    for url in Path(urls_file).read_text(encoding="utf-8").split():
        if url not in known:
            reader.add_feed(url)
    reader.update_feeds(scheduled=False)
    print(reader.get_entry_counts().total)
    reader.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
