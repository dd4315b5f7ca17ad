"""Cuts SIZE×SIZE RGB crops from the colour photos in SOURCE into DEST/train/ and DEST/test/ as PNG files: for each
photo, square windows at three scales (the window resized to SIZE by PIL's box filter) on a grid of positions; every
fifth position goes to test/. Deterministic. Run by Launch/fetch-photos.sh.

    python3 Launch/cut-photos.py SOURCE DEST SIZE
"""
import os
import sys

from PIL import Image


def main():
    source, dest, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # Photographs only (the package's drawings, text, logos and test patterns left out).
    drawings = ("bw_text", "chessboard", "logo", "phantom", "horse", "color", "palette", "foo3x5x4", "checker")
    names = sorted(n for n in os.listdir(source)
                   if n.lower().endswith((".png", ".jpg")) and not n.startswith(drawings))
    counts = {"train": 0, "test": 0}
    for split in counts:
        os.makedirs(os.path.join(dest, split), exist_ok=True)
    for name in names:
        try:
            image = Image.open(os.path.join(source, name))
            image.load()
        except OSError:  # a file the package ships truncated
            continue
        if image.mode not in ("RGB", "RGBA") or min(image.size) < 2 * size:
            continue
        image = image.convert("RGB")
        width, height = image.size
        position = 0
        for scale in (1.0, 0.5, 0.25):
            window = max(size, int(min(width, height) * scale))
            step = max(window // 3, 8)
            for top in range(0, height - window + 1, step):
                for left in range(0, width - window + 1, step):
                    crop = image.crop((left, top, left + window, top + window)).resize((size, size), Image.BOX)
                    split = "test" if position % 5 == 4 else "train"
                    crop.save(os.path.join(dest, split, f"{os.path.splitext(name)[0]}-{position:04d}.png"))
                    counts[split] += 1
                    position += 1
    print(f"{dest}: {counts['train']} train and {counts['test']} test crops of {size}×{size} from {len(names)} photos")


if __name__ == "__main__":
    main()
