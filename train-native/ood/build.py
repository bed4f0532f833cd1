"""Build the out-of-distribution evaluation set: pictures that are not dermatoscopy photos.

    python3 train-native/ood/build.py [--out train-native/runs/ood]

`manifest.csv` beside this script lists every picture: an id, its kind (everyday photos,
artwork, faces, screenshots, documents, medical images, textures), whether it is in the `dev`
part (used to choose the out-of-distribution method) or the `report` part (the figures in
report.json, never used for a choice), the Debian or PyPI package it comes from, the file in
that package, and the file's licence. Their licences allow redistribution, but several ask for
attribution or share-alike, so the pictures are fetched from the registries and converted
here rather than copied into this repository.

Each picture is written as `<out>/<split>/<id>.png`, its longer side at most 512 pixels (the
classifier sees a 64-pixel crop of the central square in any case). Needs `apt-get download`
(Debian), `pip` (PyPI), and installs numpy, Pillow and pydicom into a virtual environment in
`<out>/.venv` on first use.
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.csv"
MAX_SIDE = 512


def venv_python(out: Path) -> Path:
    venv = out / ".venv"
    python = venv / "bin" / "python3"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "numpy", "pillow", "pydicom==3.0.2"], check=True)
    return python


def fetch(source: str, cache: Path) -> Path:
    """The extracted contents of a Debian package (`deb:NAME`) or a PyPI wheel (`pypi:NAME==V`)."""
    kind, name = source.split(":", 1)
    target = cache / name.replace("==", "-")
    if target.exists():
        return target
    download = cache / "downloads"
    download.mkdir(parents=True, exist_ok=True)
    if kind == "deb":
        subprocess.run(["apt-get", "download", name], cwd=download, check=True, capture_output=True)
        deb = next(download.glob(f"{name}_*.deb"))
        subprocess.run(["dpkg", "-x", str(deb), str(target)], check=True)
    elif kind == "pypi":
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:", "-d", str(download), name],
            check=True,
        )
        project = name.split("==")[0].replace("-", "_")
        wheel = next(p for p in download.glob("*.whl") if p.name.lower().startswith(project.lower()))
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target)
    else:
        raise SystemExit(f"unknown source {source}")
    return target


CONVERT = r'''
import gzip, io, sys
import numpy as np
from PIL import Image

path, item, out, max_side = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def to_8bit(a):
    a = a.astype(np.float64)
    lo, hi = np.percentile(a, 0.5), np.percentile(a, 99.5)
    return (np.clip((a - lo) / max(hi - lo, 1e-9), 0, 1) * 255).astype(np.uint8)

if path.endswith(".dcm"):
    import pydicom
    ds = pydicom.dcmread(path)
    a = ds.pixel_array
    if getattr(ds, "NumberOfFrames", 1) and int(getattr(ds, "NumberOfFrames", 1)) > 1:
        a = a[0]
    # (pydicom already turns YBR colour into RGB.)
    if ds.get("PhotometricInterpretation", "") == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut
        a = apply_color_lut(a, ds)
    image = Image.fromarray(to_8bit(a) if a.dtype != np.uint8 else a)
elif path.endswith(".ima.gz"):
    raw = gzip.open(path).read()
    a = np.frombuffer(raw, dtype="<u2").reshape(256, 256)
    image = Image.fromarray(to_8bit(a))
elif path.endswith(".npy"):
    a = np.load(path)[int(item)]
    image = Image.fromarray(to_8bit(a))
else:
    image = Image.open(path)
image = image.convert("RGB")
scale = max_side / max(image.size)
if scale < 1:
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
image.save(out)
'''


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE.parent / "runs" / "ood")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    python = venv_python(out)
    cache = out / ".sources"
    rows = list(csv.DictReader(MANIFEST.open()))
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(CONVERT)
    for row in rows:
        target = out / row["split"] / f"{row['id']}.png"
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        member = fetch(row["source"], cache) / row["member"]
        result = subprocess.run([str(python), script.name, str(member), row["item"] or "0", str(target), str(MAX_SIDE)], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"{row['id']}: cannot convert {member}:\n{result.stderr}")
    os.unlink(script.name)
    counts = {}
    for row in rows:
        counts.setdefault(row["split"], {}).setdefault(row["kind"], 0)
        counts[row["split"]][row["kind"]] += 1
    for split, kinds in sorted(counts.items()):
        print(f"{split}: {sum(kinds.values())} pictures ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
