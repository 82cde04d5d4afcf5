"""Draws SAM's mark (a prompt chevron and cursor on a rounded tile) at every size the bundles need.

Run from the repository root: `python3 icons/make_icons.py` (needs Pillow). The outputs are
checked in; run this only when the mark changes.
"""

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
MASTER = 1024


def lerp(a, b, t):
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


def master() -> Image.Image:
    size = MASTER * 2  # drawn at twice the size, then downsampled for smooth edges
    top, bottom = (46, 58, 122), (22, 150, 140)
    gradient = Image.new("RGBA", (size, size))
    draw = ImageDraw.Draw(gradient)
    for y in range(size):
        draw.line([(0, y), (size, y)], fill=lerp(top, bottom, y / size) + (255,))
    mask = Image.new("L", (size, size), 0)
    margin = size // 16
    ImageDraw.Draw(mask).rounded_rectangle(
        [margin, margin, size - margin, size - margin], radius=size // 5, fill=255
    )
    tile = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    tile.paste(gradient, (0, 0), mask)

    ink = ImageDraw.Draw(tile)
    white = (248, 250, 252, 255)
    stroke = size // 11
    # The chevron ">".
    ink.line(
        [(size * 0.28, size * 0.30), (size * 0.50, size * 0.50), (size * 0.28, size * 0.70)],
        fill=white,
        width=stroke,
        joint="curve",
    )
    for x, y in [(size * 0.28, size * 0.30), (size * 0.28, size * 0.70)]:
        r = stroke / 2
        ink.ellipse([x - r, y - r, x + r, y + r], fill=white)
    # The cursor "_".
    ink.rounded_rectangle(
        [size * 0.55, size * 0.64, size * 0.76, size * 0.64 + stroke],
        radius=stroke // 2,
        fill=white,
    )
    return tile.resize((MASTER, MASTER), Image.LANCZOS)


def main() -> None:
    mark = master()
    # Every size of the freedesktop icon theme's hicolor folders (Linux packages), then the
    # names macOS and Windows bundles and the window look for.
    sizes = [(f"{px}x{px}.png", px) for px in (16, 22, 24, 32, 48, 64, 96, 128, 256, 512)]
    for name, px in sizes + [("128x128@2x.png", 256), ("icon.png", 512)]:
        mark.resize((px, px), Image.LANCZOS).save(HERE / name)
    mark.save(HERE / "icon.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (256, 256)])
    mark.save(HERE / "icon.icns")


if __name__ == "__main__":
    main()
