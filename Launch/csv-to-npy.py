#!/usr/bin/env python3
"""Convert a CSV of numbers to a float32 NPY file that `vae-dist --data` reads (memory-mapped).

    python3 Launch/csv-to-npy.py data.csv data.npy              # header row detected and skipped
    python3 Launch/csv-to-npy.py data.csv data.npy --columns 1: # keep columns 1.. (drop an id/label column)

Standard library only (no numpy), streaming: two passes over the file, constant memory. Every row must have the
same number of numeric fields; the first row is taken as a header when any of its fields is not a number. An error
names the line and the field.
"""
import argparse
import csv
import struct
import sys


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def rows(path, selection):
    with open(path, newline="") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if not row or all(not field.strip() for field in row):
                continue
            yield line, row[selection]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv")
    parser.add_argument("npy")
    parser.add_argument("--columns", default=":", help="a Python slice of the columns to keep, e.g. 1: or :-1")
    args = parser.parse_args()
    parts = [int(p) if p else None for p in args.columns.split(":")]
    if len(parts) != 2:
        sys.exit("--columns takes a slice such as 1: or :-1")
    selection = slice(*parts)

    # Pass 1: header, width, count, and that every field is a number.
    header, width, count = False, None, 0
    for line, row in rows(args.csv, selection):
        values = [number(field) for field in row]
        if count == 0 and width is None and not header and any(v is None for v in values):
            header = True
            continue
        if any(v is None for v in values):
            field = next(i for i, v in enumerate(values) if v is None)
            sys.exit(f"{args.csv}:{line}: field {field + 1} ({row[field]!r}) is not a number")
        if width is None:
            width = len(values)
        elif len(values) != width:
            sys.exit(f"{args.csv}:{line}: {len(values)} fields, but the first data row has {width}")
        count += 1
    if not count:
        sys.exit(f"{args.csv}: no data rows")

    # Pass 2: NPY version 1, '<f4', C order, shape (count, width).
    text = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (count, width)
    text += " " * ((64 - (10 + len(text) + 1) % 64) % 64) + "\n"
    with open(args.npy, "wb") as out:
        out.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1"))
        pack = struct.Struct("<%df" % width).pack
        first = True
        for _, row in rows(args.csv, selection):
            if first and header:
                first = False
                continue
            first = False
            out.write(pack(*(float(field) for field in row)))
    print(f"wrote {args.npy}: {count} rows × {width} float32 values{' (header skipped)' if header else ''}")


if __name__ == "__main__":
    main()
