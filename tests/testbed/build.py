"""Build the test-bed guest (kernel + initramfs) from Debian packages.

    python -m tests.testbed.build --variant busybox --out DIR

writes ``DIR/vmlinuz``, ``DIR/initrd`` and ``DIR/testbed.json``. Packages and outputs are
cached by content hash under ``${XDG_CACHE_HOME:-~/.cache}/nxc-testbed/``: a second build with
the same packages and builder sources only copies the cached files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nxc.errors import InputError, NxcError
from tests.testbed import rootfs
from tests.testbed.debs import AptCache, Deb, extract

KERNEL_PACKAGE = "linux-image-amd64"
KERNEL_PARAMS = "console=ttyS0 panic=-1 loglevel=4"
MIN_MEMORY_MB = {"busybox": 128, "systemd": 256}
SOURCES = Path(__file__).parent


def cache_root() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/nxc-testbed``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nxc-testbed"


@dataclass(frozen=True)
class Artifacts:
    """A built guest: paths of its kernel, initramfs and description."""

    kernel: Path
    initrd: Path
    description: Path

    def info(self) -> dict:
        """The parsed ``testbed.json``."""
        return json.loads(self.description.read_text())


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(SOURCES.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(SOURCES)).encode() + b"\0" + path.read_bytes())
    for name in rootfs.NODE_SCRIPT_NAMES:
        digest.update(name.encode() + b"\0" + (rootfs.NODE_SCRIPTS / name).read_bytes())
    return digest.hexdigest()


def _resolve(apt: AptCache, variant: str, cache: Path) -> tuple[Deb, list[Deb]]:
    """The kernel package and every package of ``variant``, remembered per apt index state."""
    roots = [KERNEL_PACKAGE, *rootfs.VARIANTS[variant].packages]
    key = hashlib.sha256(
        json.dumps([roots, apt.index_fingerprint(), (SOURCES / "debs.py").read_text()]).encode()
    ).hexdigest()[:24]
    memo = cache / "resolved" / f"{variant}-{key}.json"
    if memo.exists():
        saved = json.loads(memo.read_text())
        return Deb.from_json(saved["kernel"]), [Deb.from_json(d) for d in saved["packages"]]
    meta, *debs = apt.resolve_many(roots)
    concrete = [g[0] for g in meta.depends if g[0].startswith("linux-image-")]
    kernel = apt.resolve(concrete[0]) if concrete else meta
    packages = [kernel, *apt.library_closure(debs)]
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"kernel": kernel.to_json(), "packages": [d.to_json() for d in packages]})
    )
    os.replace(tmp, memo)
    return kernel, packages


def build(variant: str, out: Path, cache: Path | None = None) -> Artifacts:
    """Build (or take from the cache) the guest ``variant`` and copy it into ``out``."""
    if variant not in rootfs.VARIANTS:
        raise InputError(
            f"unknown test-bed variant '{variant}'; use one of {', '.join(rootfs.VARIANTS)}"
        )
    cache = cache or cache_root()
    apt = AptCache(cache / "debs")
    kernel, packages = _resolve(apt, variant, cache)
    key = hashlib.sha256(
        json.dumps(
            [variant, _sources_digest(), sorted((d.name, d.sha256) for d in packages)]
        ).encode()
    ).hexdigest()[:24]
    built = cache / "out" / f"{variant}-{key}"
    if not (built / "testbed.json").exists():
        paths = apt.fetch(packages)
        unpacked = {
            d.name: extract(paths[d.name], cache / "unpacked" / d.filename.removesuffix(".deb"))
            for d in packages
        }
        _build_into(built, variant, key, kernel, unpacked, packages)
    return _copy_out(built, out)


def _build_into(
    built: Path,
    variant: str,
    key: str,
    kernel: Deb,
    unpacked: dict[str, Path],
    packages: list[Deb],
) -> None:
    built.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{built.name}-", dir=built.parent))
    try:
        kernel_root = unpacked[kernel.name]
        vmlinuz = next((kernel_root / "boot").glob("vmlinuz-*"))
        kernel_version = vmlinuz.name.removeprefix("vmlinuz-")
        tree = rootfs.VARIANTS[variant].make(
            unpacked, kernel_root / "lib" / "modules" / kernel_version
        )
        shutil.copyfile(vmlinuz, staging / "vmlinuz")
        tree.write(staging / "initrd")
        description = {
            "version": 1,
            "variant": variant,
            "key": key,
            "kernel_version": kernel_version,
            "kernel_params": KERNEL_PARAMS,
            "min_memory_mb": MIN_MEMORY_MB[variant],
            "packages": {d.name: d.version for d in packages},
        }
        (staging / "testbed.json").write_text(json.dumps(description, indent=2) + "\n")
        if built.exists():
            shutil.rmtree(built)
        os.replace(staging, built)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _copy_out(built: Path, out: Path) -> Artifacts:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("vmlinuz", "initrd"):
        tmp = out / f".{name}.tmp"
        shutil.copyfile(built / name, tmp)
        os.replace(tmp, out / name)
    description = json.loads((built / "testbed.json").read_text())
    for name in ("vmlinuz", "initrd"):
        data = (out / name).read_bytes()
        description[f"{name}_sha256"] = hashlib.sha256(data).hexdigest()
    description["kernel"] = str((out / "vmlinuz").resolve())
    description["initrd"] = str((out / "initrd").resolve())
    tmp = out / ".testbed.json.tmp"
    tmp.write_text(json.dumps(description, indent=2) + "\n")
    os.replace(tmp, out / "testbed.json")
    return Artifacts(out / "vmlinuz", out / "initrd", out / "testbed.json")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; prints the path of ``testbed.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="busybox", choices=sorted(rootfs.VARIANTS))
    parser.add_argument("--out", type=Path, required=True, help="folder for the outputs")
    parser.add_argument("--cache", type=Path, default=None, help="cache folder")
    args = parser.parse_args(argv)
    try:
        artifacts = build(args.variant, args.out, args.cache)
    except NxcError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    print(artifacts.description)
    return 0


if __name__ == "__main__":
    sys.exit(main())
