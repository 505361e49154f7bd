"""The report folder's layout, and whether a folder may be replaced by a report: standard library only, so that the
report command refuses a bad --out before anything heavy loads."""

from __future__ import annotations

from pathlib import Path

#: The page, and the folder of thumbnails beside it.
PAGE, THUMBNAILS = "index.html", "thumbs"


def check_replaceable(target: str | Path) -> None:
    """Refuse to overwrite a folder that holds anything but an earlier report (nothing of the user's is lost).

    Raises
    ------
    OSError
        If ``target`` is a file, or a folder holding anything but ``PAGE`` and ``THUMBNAILS/``.
    """
    target = Path(target)
    if not target.exists():
        return
    if not target.is_dir():
        raise OSError(f"{str(target)!r} exists and is not a folder")
    if any(target.iterdir()) and not ((target / PAGE).is_file() and (target / THUMBNAILS).is_dir()):
        raise OSError(f"{str(target)!r} exists and is not a cae_sim report (no {PAGE} and {THUMBNAILS}/): choose another --out")
