"""Debian packages for the guest: resolved with apt-cache, fetched once, cached by SHA-256."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from nxc.errors import ExternalCommandError, InputError, MissingToolError

APT_LISTS = Path("/var/lib/apt/lists")
LIBRARY_PACKAGE = re.compile(r"^(lib\S+|zlib1g)$")
NOT_LIBRARIES = {"libc-bin", "libc-l10n", "libpam-runtime", "libpam-modules", "libpam-modules-bin"}


@dataclass(frozen=True)
class Deb:
    """One binary package as the apt index describes it."""

    name: str
    version: str
    architecture: str
    sha256: str
    depends: tuple[tuple[str, ...], ...]

    def to_json(self) -> dict:
        """A plain-data form, for caching resolutions."""
        return {**asdict(self), "depends": [list(g) for g in self.depends]}

    @classmethod
    def from_json(cls, data: dict) -> Deb:
        """The inverse of :meth:`to_json`."""
        return cls(**{**data, "depends": tuple(tuple(g) for g in data["depends"])})

    @property
    def filename(self) -> str:
        """The name ``apt-get download`` gives the file (epoch colon escaped)."""
        version = self.version.replace(":", "%3a")
        return f"{self.name}_{version}_{self.architecture}.deb"


def _tool(program: str, package: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise MissingToolError(program, package, "to build the test-bed guest")
    return path


def _parse_depends(field: str) -> tuple[tuple[str, ...], ...]:
    groups = []
    for group in field.split(","):
        names = tuple(re.split(r"[\s(:]", alt.strip(), maxsplit=1)[0] for alt in group.split("|"))
        if names and names[0]:
            groups.append(names)
    return tuple(groups)


def _parse_stanzas(text: str) -> dict[str, Deb]:
    debs: dict[str, Deb] = {}
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line.startswith((" ", "\t")) and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" not in fields or fields["Package"] in debs:
            continue
        depends = ", ".join(f for f in (fields.get("Pre-Depends"), fields.get("Depends")) if f)
        debs[fields["Package"]] = Deb(
            name=fields["Package"],
            version=fields["Version"],
            architecture=fields["Architecture"],
            sha256=fields["SHA256"],
            depends=_parse_depends(depends),
        )
    return debs


class AptCache:
    """Resolves package names against the apt index and keeps downloaded .debs in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._apt_cache = _tool("apt-cache", "apt")
        self._apt_get = _tool("apt-get", "apt")
        self._known: dict[str, Deb] = {}

    def show(self, names: list[str]) -> dict[str, Deb]:
        """Index entries (candidate versions) for ``names``; purely virtual names are absent."""
        wanted = [n for n in names if n not in self._known]
        if wanted:
            result = subprocess.run(
                [self._apt_cache, "show", "--no-all-versions", *wanted],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise ExternalCommandError(f"apt-cache show failed: {result.stderr.strip()}")
            self._known.update(_parse_stanzas(result.stdout))
        return {n: self._known[n] for n in names if n in self._known}

    def resolve_many(self, names: list[str]) -> list[Deb]:
        """The packages ``names`` (one apt-cache call), in order."""
        found = self.show(names)
        missing = [n for n in names if n not in found]
        if missing:
            raise InputError(
                f"Debian package(s) {', '.join(missing)} not in the apt index; run "
                "'apt-get update' or check the package names"
            )
        return [found[n] for n in names]

    def resolve(self, name: str) -> Deb:
        """The package ``name`` as the apt index describes it."""
        return self.resolve_many([name])[0]

    def library_closure(self, roots: list[Deb]) -> list[Deb]:
        """``roots`` plus every library package they depend on, transitively."""
        seen: dict[str, Deb] = {d.name: d for d in roots}
        todo = list(roots)
        while todo:
            wanted = []
            for deb in todo:
                for group in deb.depends:
                    first = group[0]
                    is_library = LIBRARY_PACKAGE.match(first) and first not in NOT_LIBRARIES
                    if is_library and first not in seen:
                        wanted.append(first)
            found = self.show(sorted(set(wanted)))
            todo = [d for n, d in found.items() if n not in seen]
            seen.update(found)
        return sorted(seen.values(), key=lambda d: d.name)

    def index_fingerprint(self) -> str:
        """A digest of the apt package lists: it changes when ``apt-get update`` changes them."""
        digest = hashlib.sha256()
        for path in sorted(APT_LISTS.glob("*_Packages*")):
            info = path.stat()
            digest.update(f"{path.name} {info.st_size} {info.st_mtime_ns}\n".encode())
        return digest.hexdigest()

    def fetch(self, debs: list[Deb]) -> dict[str, Path]:
        """Local paths of ``debs``, downloading those not cached yet (checked by SHA-256)."""
        missing = [d for d in debs if not self._valid(d)]
        if missing:
            specs = [f"{d.name}={d.version}" for d in missing]
            result = subprocess.run(
                [self._apt_get, "download", "-q", "-o", "APT::Sandbox::User=root", *specs],
                cwd=self.folder,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise ExternalCommandError(
                    f"apt-get download failed: {result.stderr.strip()[-500:]}; "
                    "check access to the Debian archive"
                )
            for deb in missing:
                if not self._valid(deb):
                    raise ExternalCommandError(
                        f"downloaded {deb.filename} does not match the index SHA-256; "
                        f"delete {self.folder / deb.filename} and run 'apt-get update'"
                    )
        return {d.name: self.folder / d.filename for d in debs}

    def _valid(self, deb: Deb) -> bool:
        path = self.folder / deb.filename
        if not path.exists():
            return False
        stamp = path.with_name(path.name + ".sha256")
        if stamp.exists() and stamp.read_text() == deb.sha256:
            return True
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != deb.sha256:
            return False
        stamp.write_text(digest)
        return True


def extract(deb_path: Path, dest: Path) -> Path:
    """Unpack ``deb_path`` into ``dest`` with dpkg-deb (once: a marker file records it)."""
    marker = dest / ".nxc-extracted"
    if marker.exists():
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    dpkg_deb = _tool("dpkg-deb", "dpkg")
    subprocess.run([dpkg_deb, "-x", str(deb_path), str(dest)], check=True)
    marker.write_text(deb_path.name)
    return dest
