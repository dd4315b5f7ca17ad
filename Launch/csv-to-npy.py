#!/usr/bin/env python3
"""Convert a CSV of numbers to a float32 NPY file that `vae-dist --data` reads (memory-mapped).

    python3 Launch/csv-to-npy.py data.csv data.npy              # header row detected and skipped
    python3 Launch/csv-to-npy.py data.csv data.npy --columns 1: # keep columns 1.. (drop an id/label column)
    python3 Launch/csv-to-npy.py data.csv data.npy --force      # replace an existing data.npy

Standard library only (no numpy), streaming: two passes over the file, constant memory. Every row must have the
same number of numeric fields, each finite and within float32's range; the first row is taken as a header when
any of its fields is not a number. An error is one line naming the line and the field, while the CSV can still be
fixed. The NPY is written to a temporary file beside it and renamed into place only when complete, so a failure
(a full disk) leaves no partial file; the input is never the output, and an existing output is replaced only with
--force.
"""
import argparse
import csv
import math
import os
import struct
import sys

FLOAT32_MAX = 3.4028234663852886e38
FIELD_LIMIT = 128 * 1024  # bytes in one field: more is a damaged file, not a number


class Refused(Exception):
    """A problem with the input or the request, said in one line."""


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def rows(path, selection):
    with open(path, newline="", encoding="utf-8", errors="strict") as f:
        reader = csv.reader(f)
        line = 0
        try:
            for line, row in enumerate(reader, start=1):
                if not row or all(not field.strip() for field in row):
                    continue
                yield line, row[selection], len(row)
        except UnicodeDecodeError as error:
            raise Refused(f"{path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} after line {line})")
        except csv.Error as error:
            raise Refused(f"{path}:{reader.line_num}: {error}")


def check(path, line, row, width_before, columns, total):
    values = [number(field) for field in row]
    if not values:
        raise Refused(f"{path}:{line}: --columns {columns} keeps none of its {total} columns")
    for i, (value, field) in enumerate(zip(values, row)):
        if value is None:
            return None, i
        if not math.isfinite(value):
            raise Refused(f"{path}:{line}: field {i + 1} ({field!r}) is not a finite number")
        if abs(value) > FLOAT32_MAX:
            raise Refused(f"{path}:{line}: field {i + 1} ({field!r}) does not fit a float32 (|x| ≤ 3.4e38)")
    if width_before is not None and len(values) != width_before:
        raise Refused(f"{path}:{line}: {len(values)} fields, but the first data row has {width_before}")
    return values, None


def convert(args):
    parts = [int(p) if p.strip() else None for p in args.columns.split(":")] if ":" in args.columns else []
    if len(parts) != 2:
        raise Refused("--columns takes a slice such as 1: or :-1")
    selection = slice(*parts)
    if not os.path.isfile(args.csv):
        raise Refused(f"{args.csv}: no such file")
    if os.path.exists(args.npy):
        if os.path.samefile(args.csv, args.npy):
            raise Refused(f"{args.npy} is the input CSV; choose another output path")
        if not os.path.isfile(args.npy) or os.path.islink(args.npy):
            raise Refused(f"{args.npy} exists and is not a regular file; choose another output path")
        if not args.force:
            raise Refused(f"{args.npy} exists; give --force to replace it, or choose another output path")
    folder = os.path.dirname(os.path.abspath(args.npy))
    if not os.path.isdir(folder):
        raise Refused(f"{args.npy}: the folder {folder} does not exist")

    # Pass 1: header, width, count, and that every field is a finite float32.
    header, width, count = False, None, 0
    for line, row, total in rows(args.csv, selection):
        values, bad = check(args.csv, line, row, width, args.columns, total)
        if values is None:
            if count == 0 and width is None and not header:
                header = True
                continue
            raise Refused(f"{args.csv}:{line}: field {bad + 1} ({row[bad]!r}) is not a number")
        width = len(values)
        count += 1
    if not count:
        raise Refused(f"{args.csv}: no data rows")

    # Pass 2: NPY version 1, '<f4', C order, shape (count, width), into a temporary file renamed into place.
    text = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (count, width)
    text += " " * ((64 - (10 + len(text) + 1) % 64) % 64) + "\n"
    temporary = os.path.join(folder, f".{os.path.basename(args.npy)}.tmp.{os.getpid()}")
    try:
        with open(temporary, "xb") as out:
            out.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1"))
            pack = struct.Struct("<%df" % width).pack
            first = True
            for _, row, _ in rows(args.csv, selection):
                if first and header:
                    first = False
                    continue
                first = False
                out.write(pack(*(float(field) for field in row)))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, args.npy)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    print(f"wrote {args.npy}: {count} rows × {width} float32 values{' (header skipped)' if header else ''}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv")
    parser.add_argument("npy")
    parser.add_argument("--columns", default=":", help="a Python slice of the columns to keep, e.g. 1: or :-1")
    parser.add_argument("--force", action="store_true", help="replace an existing NPY file")
    args = parser.parse_args()
    csv.field_size_limit(FIELD_LIMIT)
    try:
        convert(args)
    except Refused as refused:
        sys.exit(f"csv-to-npy: {refused}")
    except OSError as error:
        sys.exit(f"csv-to-npy: {error.filename or args.npy}: {error.strerror}")
    except KeyboardInterrupt:
        sys.exit("csv-to-npy: interrupted; nothing written")


if __name__ == "__main__":
    main()
