"""Writes deliberately broken variants of good MP4 files, for the malformed-media suite.

Usage as a library: `write_variants(progressive, faststart, fragmented, outdir)` returns {name: description}
and leaves `<name>.mp4` files in `outdir`. Usage from a shell (to look at the files):

    python3 Tests/integration/mp4mutate.py MOOV_AT_END.mp4 FASTSTART.mp4 FRAGMENTED.mp4 OUTDIR

Every variant is deterministic (fixed offsets, fixed random seeds), so a failure names a file that
can be made again. The box walker below knows only what it needs to find fields to break: sizes,
types, and the container boxes on the way to the sample tables and track fragments.
"""

from __future__ import annotations

import os
import random
import struct
import sys
from dataclasses import dataclass, field
from typing import Callable

# Boxes whose payload is a list of child boxes (stsd is special: 8 bytes of header fields first).
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"mvex", b"moof", b"traf"}


@dataclass
class Box:
    type: bytes
    offset: int          # absolute offset of the box header
    size: int            # whole box, header included
    header: int          # header bytes (8, or 16 with a 64-bit size)
    children: list["Box"] = field(default_factory=list)

    @property
    def payload(self) -> int:
        return self.offset + self.header

    @property
    def end(self) -> int:
        return self.offset + self.size

    def find(self, path: str) -> "Box | None":
        """The first descendant along a slash-separated type path (`mdia/minf/stbl/stsz`)."""
        node: Box | None = self
        for part in path.split("/"):
            if node is None:
                return None
            node = next((c for c in node.children if c.type == part.encode()), None)
        return node


def parse(data: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> list[Box]:
    """Boxes between `start` and `end`, recursing into containers (at most 64 deep). Stops quietly
    at damage."""
    end = len(data) if end is None else end
    boxes: list[Box] = []
    pos = start
    while end - pos >= 8:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if end - pos < 16:
                break
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            break
        box = Box(kind, pos, size, header)
        if depth < 64 and kind in CONTAINERS:
            box.children = parse(data, pos + header, pos + size, depth + 1)
        elif depth < 64 and kind == b"stsd":
            box.children = parse(data, pos + header + 8, pos + size, depth + 1)
        boxes.append(box)
        pos += size
    return boxes


def top(data: bytes, kind: str) -> Box:
    box = next((b for b in parse(data) if b.type == kind.encode()), None)
    if box is None:
        raise ValueError(f"no top-level {kind} box")
    return box


def tracks(data: bytes) -> list[Box]:
    return [c for c in top(data, "moov").children if c.type == b"trak"]


def handler(trak: Box, data: bytes) -> bytes:
    hdlr = trak.find("mdia/hdlr")
    return data[hdlr.payload + 8:hdlr.payload + 12] if hdlr else b""


def track_box(data: bytes, kind: bytes, path: str) -> Box:
    """`path` inside the first track whose handler is `kind` (b"vide" or b"soun")."""
    for trak in tracks(data):
        if handler(trak, data) == kind:
            box = trak.find(path)
            if box is not None:
                return box
    raise ValueError(f"no {path} in a {kind!r} track")


def put32(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack(">I", value & 0xFFFFFFFF) + data[offset + 4:]


def put64(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack(">Q", value & 0xFFFFFFFFFFFFFFFF) + data[offset + 8:]


def ancestors(data: bytes, target: Box) -> list[Box]:
    """Every box (from the top level down) that contains `target`, `target` included."""
    out: list[Box] = []
    level = parse(data)
    while True:
        holder = next((b for b in level if b.offset <= target.offset and target.end <= b.end), None)
        if holder is None:
            return out
        out.append(holder)
        level = holder.children


def replace_payload(data: bytes, box: Box, payload: bytes) -> bytes:
    """Replaces a box's payload, fixing its size and its ancestors' 32-bit sizes (chunk offsets are
    not fixed: use it on boxes after mdat, or accept that samples move)."""
    delta = len(payload) - (box.size - box.header)
    holders = ancestors(data, box)
    out = data[:box.payload] + payload + data[box.end:]
    for b in holders:   # every holder starts at or before `box`, so its header did not move
        out = put32(out, b.offset, b.size + delta)
    return out


def nest(kind: bytes, depth: int, inner: bytes = b"") -> bytes:
    """`depth` boxes of type `kind`, each containing the next, around `inner`."""
    out = inner
    for _ in range(depth):
        out = struct.pack(">I4s", 8 + len(out), kind) + out
    return out


def full_box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4sI", 12 + len(body), kind, 0) + body


# ------------------------------------------------------------------------------------------ mutations

Mutation = Callable[[bytes], bytes]


def truncate_at(fraction_or_offset: float | int, within: str | None = None) -> Mutation:
    def mutate(data: bytes) -> bytes:
        if within is None:
            return data[:int(fraction_or_offset)]
        box = top(data, within)
        return data[:box.offset + int(box.size * fraction_or_offset)]
    return mutate


def set_top_size(kind: str, size: int) -> Mutation:
    return lambda data: put32(data, top(data, kind).offset, size)


def wrapping_large_size(kind: str, large: int) -> Mutation:
    """size = 1 with a 64-bit size: the 8 bytes after the type are overwritten."""
    def mutate(data: bytes) -> bytes:
        box = top(data, kind)
        data = put32(data, box.offset, 1)
        return put64(data, box.offset + 8, large)
    return mutate


def moov_nested_in_trak(depth: int) -> Mutation:
    """The first trak's payload replaced by `depth` nested moov boxes, then a trak 1000 deep."""
    def mutate(data: bytes) -> bytes:
        trak = tracks(data)[0]
        return replace_payload(data, trak, nest(b"moov", depth, nest(b"trak", 4)))
    return mutate


def trak_nested_in_itself(depth: int) -> Mutation:
    def mutate(data: bytes) -> bytes:
        trak = tracks(data)[0]
        inner = data[trak.payload:trak.end]
        return replace_payload(data, trak, nest(b"trak", depth, inner))
    return mutate


def moov_as_extra_top_level(depth: int) -> Mutation:
    """A second, deeply nested moov appended at the end of the file."""
    return lambda data: data + nest(b"moov", depth)


def field32(kind: bytes, path: str, offset: int, value: int | Callable[[int], int]) -> Mutation:
    """Overwrites the 32-bit field `offset` bytes into a box's payload (after its header)."""
    def mutate(data: bytes) -> bytes:
        box = track_box(data, kind, path)
        old = struct.unpack_from(">I", data, box.payload + offset)[0]
        return put32(data, box.payload + offset, value(old) if callable(value) else value)
    return mutate


def timescale_zero(data: bytes) -> bytes:
    mdhd = track_box(data, b"vide", "mdia/mdhd")
    version = data[mdhd.payload]
    return put32(data, mdhd.payload + 4 + (16 if version == 1 else 8), 0)


def movie_timescale_zero(data: bytes) -> bytes:
    mvhd = top(data, "moov").find("mvhd")
    version = data[mvhd.payload]
    return put32(data, mvhd.payload + 4 + (16 if version == 1 else 8), 0)


def amplified_sample_count(count: int) -> Mutation:
    """A tiny stbl that claims `count` one-byte samples in one chunk: the cheapest way to make a
    reader allocate (stsz fixed size, one stts run, one stsc run, one chunk offset)."""
    def mutate(data: bytes) -> bytes:
        stbl = track_box(data, b"vide", "mdia/minf/stbl")
        stsd = stbl.find("stsd")
        stco = stbl.find("stco")
        first = struct.unpack_from(">I", data, stco.payload + 8)[0] if stco else 0
        body = data[stsd.offset:stsd.end]
        body += full_box(b"stts", struct.pack(">III", 1, count, 1))
        body += full_box(b"stsc", struct.pack(">IIII", 1, 1, count, 1))
        body += full_box(b"stsz", struct.pack(">II", 1, count))
        body += full_box(b"stco", struct.pack(">II", 1, first))
        return replace_payload(data, stbl, body)
    return mutate


def amplified_tracks(count: int, copies: int) -> Mutation:
    """The video track's stbl replaced by `count` one-byte samples in 8 chunks that all start at the
    mdat payload (every sample lies inside the file), and that trak repeated `copies` times: a few
    hundred bytes of moov claiming `count * copies` samples."""
    def mutate(data: bytes) -> bytes:
        mdat = top(data, "mdat")
        stbl = track_box(data, b"vide", "mdia/minf/stbl")
        stsd = stbl.find("stsd")
        chunks = 8
        per_chunk = -(-count // chunks)
        body = data[stsd.offset:stsd.end]
        body += full_box(b"stts", struct.pack(">III", 1, count, 1))
        body += full_box(b"stsc", struct.pack(">IIII", 1, 1, per_chunk, 1))
        body += full_box(b"stsz", struct.pack(">II", 1, count))
        body += full_box(b"stco", struct.pack(">I", chunks) + struct.pack(">I", mdat.payload) * chunks)
        data = replace_payload(data, stbl, body)
        trak = next(t for t in tracks(data) if handler(t, data) == b"vide")
        moov = top(data, "moov")
        extra = data[trak.offset:trak.end] * (copies - 1)
        return replace_payload(data, moov, data[moov.payload:moov.end] + extra)
    return mutate


def stsd_without_entries(data: bytes) -> bytes:
    stsd = track_box(data, b"vide", "mdia/minf/stbl/stsd")
    return replace_payload(data, stsd, struct.pack(">II", 0, 0))


def unknown_codec(data: bytes) -> bytes:
    stsd = track_box(data, b"vide", "mdia/minf/stbl/stsd")
    entry = stsd.children[0]
    return data[:entry.offset + 4] + b"zzzz" + data[entry.offset + 8:]


def empty_mdat(data: bytes) -> bytes:
    mdat = top(data, "mdat")
    return data[:mdat.offset] + struct.pack(">I4s", 8, b"mdat") + data[mdat.end:]


def stco_past_end(data: bytes) -> bytes:
    stco = track_box(data, b"vide", "mdia/minf/stbl/stco")
    return put32(data, stco.payload + 8, len(data) - 10)


def stco_single_entry(data: bytes) -> bytes:
    stco = track_box(data, b"vide", "mdia/minf/stbl/stco")
    return put32(data, stco.payload + 4, 1)


def stsc_huge_run(data: bytes) -> bytes:
    stsc = track_box(data, b"vide", "mdia/minf/stbl/stsc")
    return put32(data, stsc.payload + 8 + 4, 0xFFFFFFFF)


def stsc_out_of_order(data: bytes) -> bytes:
    stsc = track_box(data, b"vide", "mdia/minf/stbl/stsc")
    return put32(data, stsc.payload + 8, 0)


def stts_short(data: bytes) -> bytes:
    """stts covering one sample fewer than stsz (its last run shortened)."""
    stts = track_box(data, b"vide", "mdia/minf/stbl/stts")
    entries = struct.unpack_from(">I", data, stts.payload + 4)[0]
    last = stts.payload + 8 + (entries - 1) * 8
    return put32(data, last, struct.unpack_from(">I", data, last)[0] - 1)


def ctts_huge(data: bytes) -> bytes:
    ctts = track_box(data, b"vide", "mdia/minf/stbl/ctts")
    return put32(data, ctts.payload + 8 + 4, 0x7FFFFFFF)


def stss_out_of_range(data: bytes) -> bytes:
    stss = track_box(data, b"vide", "mdia/minf/stbl/stss")
    return put32(data, stss.payload + 8, 0xFFFFFFFF)


def elst_huge(data: bytes) -> bytes:
    elst = track_box(data, b"vide", "edts/elst")
    version = data[elst.payload]
    pos = elst.payload + 8
    if version == 1:
        return put64(data, pos + 8, 0x7FFFFFFFFFFFFFFF)
    return put32(data, pos + 4, 0x7FFFFFFF)


def junk_tail(data: bytes) -> bytes:
    return data + b"\x00\x00\x00\x10junk" + b"\xff" * 4


def flip_bytes(seed: int, count: int, box: str) -> Mutation:
    """`count` random bytes inside the `box` top-level box replaced by random values."""
    def mutate(data: bytes) -> bytes:
        rng = random.Random(seed)
        target = top(data, box)
        out = bytearray(data)
        for _ in range(count):
            out[rng.randrange(target.payload, target.end)] = rng.randrange(256)
        return bytes(out)
    return mutate


# Fragmented input (moov + moof/mdat pairs).

def fragments(data: bytes) -> list[tuple[Box, Box]]:
    boxes = parse(data)
    pairs = []
    for i, b in enumerate(boxes):
        if b.type == b"moof" and i + 1 < len(boxes) and boxes[i + 1].type == b"mdat":
            pairs.append((b, boxes[i + 1]))
    return pairs


def moofs_swapped(data: bytes) -> bytes:
    """The first two moof+mdat pairs exchanged (decode times go backwards; default-base-is-moof
    keeps each trun pointing into its own mdat)."""
    (m1, d1), (m2, d2) = fragments(data)[:2]
    first, second = data[m1.offset:d1.end], data[m2.offset:d2.end]
    assert d1.end == m2.offset
    return data[:m1.offset] + second + first + data[d2.end:]


def moof_repeated(data: bytes) -> bytes:
    """The first moof+mdat pair sent twice (same decode times again)."""
    m, d = fragments(data)[0]
    return data[:d.end] + data[m.offset:d.end] + data[d.end:]


def trun_offset(value: int) -> Mutation:
    def mutate(data: bytes) -> bytes:
        moof = fragments(data)[0][0]
        traf = moof.find("traf")
        trun = traf.find("trun")
        flags = struct.unpack_from(">I", data, trun.payload)[0] & 0xFFFFFF
        assert flags & 1, "trun has no data offset"
        return put32(data, trun.payload + 8, value)
    return mutate


def trun_huge_count(data: bytes) -> bytes:
    trun = fragments(data)[0][0].find("traf/trun")
    return put32(data, trun.payload + 4, 0xFFFFFFF0)


def tfdt_huge(data: bytes) -> bytes:
    tfdt = fragments(data)[1][0].find("traf/tfdt")
    if data[tfdt.payload] == 1:
        return put64(data, tfdt.payload + 4, 0xFFFFFFFFFFFFFFF0)
    return put32(data, tfdt.payload + 4, 0xFFFFFFF0)


def tfhd_unknown_track(data: bytes) -> bytes:
    tfhd = fragments(data)[0][0].find("traf/tfhd")
    return put32(data, tfhd.payload + 4, 77)


def fragmented_mdat_emptied(data: bytes) -> bytes:
    _, mdat = fragments(data)[0]
    return data[:mdat.offset] + struct.pack(">I4s", 8, b"mdat") + data[mdat.end:]


def progressive_mutations() -> dict[str, tuple[str, Mutation]]:
    muts: dict[str, tuple[str, Mutation]] = {}
    for frac in (0.0, 0.01, 0.25, 0.5, 0.75, 0.99):
        muts[f"trunc-moov-{int(frac * 100):02d}"] = (f"truncated {frac:.0%} into moov", truncate_at(frac, "moov"))
    for frac in (0.0, 0.001, 0.5, 0.999):
        muts[f"trunc-mdat-{int(frac * 1000):03d}"] = (f"truncated {frac:.1%} into mdat", truncate_at(frac, "mdat"))
    muts["trunc-4"] = ("only the first 4 bytes", truncate_at(4))
    muts["empty"] = ("zero bytes", truncate_at(0))
    muts["moov-size-beyond-file"] = ("moov size larger than the file", lambda d: put32(d, top(d, "moov").offset, len(d) + 1000))
    muts["mdat-size-beyond-file"] = ("mdat size larger than the file", set_top_size("mdat", 0xFFFFFFFF))
    muts["moov-size-zero"] = ("moov size 0 (runs to the end of the file)", set_top_size("moov", 0))
    muts["ftyp-size-zero"] = ("ftyp size 0 (swallows the file)", set_top_size("ftyp", 0))
    muts["moov-size-7"] = ("moov size smaller than a header", set_top_size("moov", 7))
    muts["moov-size-1-wrapping"] = ("moov 64-bit size 2^64-8 (wraps)", wrapping_large_size("moov", 2**64 - 8))
    muts["mdat-size-1-wrapping"] = ("mdat 64-bit size 2^64-1", wrapping_large_size("mdat", 2**64 - 1))
    muts["moov-size-1-tiny"] = ("moov 64-bit size 9 (smaller than its header)", wrapping_large_size("moov", 9))
    muts["moov-nested-1000"] = ("trak holding 1000 nested moov", moov_nested_in_trak(1000))
    muts["trak-nested-1000"] = ("trak nested into itself 1000 deep", trak_nested_in_itself(1000))
    muts["moov-extra-nested"] = ("a second moov, 1000 deep, after mdat", moov_as_extra_top_level(1000))
    muts["stsz-count-plus-one"] = ("stsz claims one sample more than stored", field32(b"vide", "mdia/minf/stbl/stsz", 8, lambda n: n + 1))
    muts["stsz-count-minus-one"] = ("stsz claims one sample fewer", field32(b"vide", "mdia/minf/stbl/stsz", 8, lambda n: n - 1))
    muts["stsz-count-zero"] = ("zero samples in the video track", field32(b"vide", "mdia/minf/stbl/stsz", 8, 0))
    muts["stsz-count-huge"] = ("stsz claims 2^32-1 samples", field32(b"vide", "mdia/minf/stbl/stsz", 8, 0xFFFFFFFF))
    muts["stsz-fixed-huge"] = ("every sample 2^32-1 bytes", field32(b"vide", "mdia/minf/stbl/stsz", 4, 0xFFFFFFFF))
    muts["stts-entries-huge"] = ("stts claims 2^32-1 entries", field32(b"vide", "mdia/minf/stbl/stts", 4, 0xFFFFFFFF))
    muts["stts-short"] = ("stts covers one sample fewer than stsz", stts_short)
    muts["stco-entries-huge"] = ("stco claims 2^32-1 chunks", field32(b"vide", "mdia/minf/stbl/stco", 4, 0xFFFFFFFF))
    muts["stco-one-entry"] = ("stco holds one chunk of many", stco_single_entry)
    muts["stco-past-end"] = ("first chunk offset near the end of the file", stco_past_end)
    muts["stsc-entries-huge"] = ("stsc claims 2^32-1 entries", field32(b"vide", "mdia/minf/stbl/stsc", 4, 0xFFFFFFFF))
    muts["stsc-huge-run"] = ("stsc: 2^32-1 samples per chunk", stsc_huge_run)
    muts["stsc-first-chunk-zero"] = ("stsc first_chunk 0", stsc_out_of_order)
    muts["ctts-huge"] = ("composition offset 2^31-1", ctts_huge)
    muts["stss-out-of-range"] = ("sync sample number beyond the track", stss_out_of_range)
    muts["elst-huge"] = ("edit list media time at the maximum", elst_huge)
    muts["mdhd-timescale-zero"] = ("video timescale 0", timescale_zero)
    muts["mvhd-timescale-zero"] = ("movie timescale 0", movie_timescale_zero)
    muts["samples-8m"] = ("7,999,999 one-byte samples from a 100-byte stbl", amplified_sample_count(7_999_999))
    muts["samples-9m"] = ("9,000,000 samples (above the per-track limit)", amplified_sample_count(9_000_000))
    muts["stsd-no-entries"] = ("stsd with no sample entries", stsd_without_entries)
    muts["codec-unknown"] = ("video sample entry type zzzz", unknown_codec)
    muts["mdat-empty"] = ("mdat without payload", empty_mdat)
    muts["junk-tail"] = ("a box header after the end of the file", junk_tail)
    for seed in range(12):
        muts[f"flip-moov-{seed:02d}"] = (f"8 random bytes of moov changed (seed {seed})", flip_bytes(seed, 8, "moov"))
    return muts


def fragmented_mutations() -> dict[str, tuple[str, Mutation]]:
    return {
        "frag-moofs-swapped": ("first two moof/mdat pairs swapped", moofs_swapped),
        "frag-moof-repeated": ("first moof/mdat pair repeated", moof_repeated),
        "frag-trun-offset-outside": ("trun data offset far outside the file", trun_offset(0x7FFFFFFF)),
        "frag-trun-offset-negative": ("trun data offset before the file start", trun_offset(0x80000000)),
        "frag-trun-count-huge": ("trun claims 2^32-16 samples", trun_huge_count),
        "frag-tfdt-huge": ("second fragment's decode time near 2^64", tfdt_huge),
        "frag-tfhd-unknown-track": ("first fragment for an undeclared track", tfhd_unknown_track),
        "frag-mdat-empty": ("first fragment's mdat without payload", fragmented_mdat_emptied),
        "frag-trunc-moof": ("truncated inside the second moof", lambda d: d[:fragments(d)[1][0].offset + 40]),
        "frag-flip-moof-00": ("8 random bytes of the first moof changed", flip_bytes(100, 8, "moof")),
        "frag-flip-moof-01": ("8 random bytes of the first moof changed", flip_bytes(101, 8, "moof")),
    }


def faststart_mutations() -> dict[str, tuple[str, Mutation]]:
    """moov before mdat: the index is intact, the media behind it is not."""
    return {
        "fs-trunc-mdat-001": ("moov first, truncated just inside mdat", truncate_at(0.001, "mdat")),
        "fs-trunc-mdat-500": ("moov first, truncated half way into mdat", truncate_at(0.5, "mdat")),
        "fs-mdat-size-zero": ("moov first, mdat size 0 (to the end of the file)", set_top_size("mdat", 0)),
    }


def variant_sources() -> dict[str, str]:
    """Every variant's name and which source it is made from ("progressive", "faststart",
    "fragmented"), without writing anything (for test parametrisation)."""
    out = {name: "progressive" for name in progressive_mutations()}
    out.update({name: "faststart" for name in faststart_mutations()})
    out.update({name: "fragmented" for name in fragmented_mutations()})
    return out


def write_variants(progressive: str, faststart: str, fragmented: str, outdir: str) -> dict[str, str]:
    """Writes every variant as `<outdir>/<name>.mp4` (world-readable); returns {name: description}.
    `progressive` should keep its moov after mdat, so that mutations that resize moov leave the
    sample offsets valid; `faststart` has moov first; `fragmented` is moov + moof/mdat pairs."""
    os.makedirs(outdir, exist_ok=True)
    os.chmod(outdir, 0o755)
    written: dict[str, str] = {}
    sources = [(progressive, progressive_mutations), (faststart, faststart_mutations),
               (fragmented, fragmented_mutations)]
    for source, table in sources:
        with open(source, "rb") as f:
            data = f.read()
        for name, (description, mutate) in table().items():
            path = os.path.join(outdir, name + ".mp4")
            with open(path, "wb") as f:
                f.write(mutate(data))
            os.chmod(path, 0o644)
            written[name] = description
    return written


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    for n, d in write_variants(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]).items():
        print(f"{n}.mp4: {d}")
