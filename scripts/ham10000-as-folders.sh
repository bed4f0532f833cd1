#!/usr/bin/env bash
# Lays out some HAM10000 classes as a folder per class, the layout `train --data` reads for
# one's own photos: OUT/<dx>/<image_id>.jpg and OUT/groups.csv (image,group = its lesion_id,
# so that photos of one lesion stay in one split part). The README's worked example
# ("Train on your own photos") runs on it.
#
#   scripts/ham10000-as-folders.sh OUT [CLASSES] [SRC]
#     OUT      the folder to make; keep it outside this repository (HAM10000 is licensed data)
#     CLASSES  comma-separated dx codes (default mel,nv,bkl)
#     SRC      HAM10000 (default $HAM10000_DIR, else ../shared/ham10000 beside this checkout)
#
# Photos are hard-linked where OUT is on the same file system, else copied.
set -euo pipefail
out=${1:?usage: $0 OUT [CLASSES] [SRC]}
classes=${2:-mel,nv,bkl}
here=$(cd "$(dirname "$0")/.." && pwd)
src=${3:-${HAM10000_DIR:-$here/../shared/ham10000}}
csv=$src/HAM10000_metadata.csv
[ -f "$csv" ] || { echo "$csv not found: pass SRC, or set HAM10000_DIR" >&2; exit 1; }
case "$(cd "$(dirname "$out")" 2>/dev/null && pwd)/" in
  "$here"/*) echo "$out is inside the repository: put it elsewhere" >&2; exit 1 ;;
esac
declare -A photo
while IFS= read -r -d '' file; do
  photo[$(basename "$file" .jpg)]=$file
done < <(find -L "$src" -name 'ISIC_*.jpg' -print0)
mkdir -p "$out"
echo "image,group" > "$out/groups.csv"
count=0
while IFS=, read -r lesion image dx _; do
  [[ ",$classes," == *",$dx,"* ]] || continue
  file=${photo[$image]:-}
  [ -n "$file" ] || { echo "$csv lists $image, which is not below $src" >&2; exit 1; }
  mkdir -p "$out/$dx"
  ln -f "$file" "$out/$dx/$image.jpg" 2>/dev/null || cp "$file" "$out/$dx/$image.jpg"
  echo "$dx/$image.jpg,$lesion" >> "$out/groups.csv"
  count=$((count + 1))
done < <(tail -n +2 "$csv")
[ "$count" -gt 0 ] || { echo "no photo of $classes in $csv" >&2; exit 1; }
echo "$count photos of $classes in $out"
