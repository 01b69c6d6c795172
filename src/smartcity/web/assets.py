"""Front-end packages from the npm registry, fetched at install time and served locally.

City data centres are often offline and a dashboard must not depend on a CDN, yet no
third-party code is copied into the repository: `assets.lock.json` pins each package's
version, tarball and Subresource-Integrity hash; `python -m smartcity.web.assets` (run by
`make`) downloads each tarball once into a cache, checks the hash, and unpacks only the
listed files into `static/vendor/<name>/`. No Node.js is needed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCK_FILE = HERE / "assets.lock.json"
VENDOR_DIR = HERE / "static" / "vendor"
CACHE_DIR = Path(os.environ.get("SMARTCITY_ASSET_CACHE", Path.home() / ".cache" / "smartcity"))


class AssetError(RuntimeError):
    """A package could not be fetched or did not match its pinned hash."""


@dataclass(frozen=True)
class Package:
    """One pinned npm package and the files of it the platform serves."""

    name: str
    version: str
    tarball: str
    integrity: str
    files: tuple[str, ...]

    @property
    def target(self) -> Path:
        """Where its files are served from."""
        return VENDOR_DIR / self.name

    @property
    def stamp(self) -> Path:
        """Marks an unpacked version, so a second run does nothing."""
        return self.target / f".{self.version}.installed"


def locked_packages(lock_file: Path = LOCK_FILE) -> list[Package]:
    """The packages pinned in the lock file."""
    data = json.loads(lock_file.read_text(encoding="utf-8"))
    return [
        Package(p["name"], p["version"], p["tarball"], p["integrity"], tuple(p["files"]))
        for p in data["packages"]
    ]


def check_integrity(blob: bytes, integrity: str) -> None:
    """Raise unless the bytes match an SRI string such as `sha512-<base64>`."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in ("sha256", "sha384", "sha512"):
        raise AssetError(f"unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.new(algorithm, blob).digest()).decode()
    if actual != expected:
        raise AssetError(f"integrity mismatch: expected {integrity}, got {algorithm}-{actual}")


def _download(package: Package) -> bytes:
    """The tarball, from the cache or the registry (then cached), checked."""
    cached = CACHE_DIR / "npm" / f"{package.name}-{package.version}.tgz"
    if cached.exists():
        blob = cached.read_bytes()
        try:
            check_integrity(blob, package.integrity)
            return blob
        except AssetError:
            cached.unlink()  # a broken download: fetch again
    with urllib.request.urlopen(package.tarball, timeout=120) as response:
        blob = bytes(response.read())
    check_integrity(blob, package.integrity)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(blob)
    return blob


def install(package: Package) -> bool:
    """Unpack the package's listed files unless already done; True if it did something."""
    if package.stamp.exists() and all((package.target / _name(f)).exists() for f in package.files):
        return False
    blob = _download(package)
    package.target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as archive:
        for member_name in package.files:
            member = archive.getmember(member_name)
            source = archive.extractfile(member)
            if source is None:
                raise AssetError(f"{package.name}: {member_name} is not a file")
            (package.target / _name(member_name)).write_bytes(source.read())
    for old in package.target.glob(".*.installed"):
        old.unlink()
    package.stamp.touch()
    return True


def _name(member: str) -> str:
    """The served file name: the tarball path without its directories."""
    return member.rsplit("/", 1)[-1]


def missing() -> list[str]:
    """Packages not installed at their locked version (the app warns about them)."""
    return [f"{p.name}@{p.version}" for p in locked_packages() if not p.stamp.exists()]


def main() -> int:
    """Install every locked package; print what was done."""
    try:
        for package in locked_packages():
            done = install(package)
            print(f"{'installed' if done else 'up to date'}: {package.name}@{package.version}")
    except (AssetError, OSError) as error:
        print(f"front-end assets: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
