"""A small HDS client: reads an F4M, decodes its inline bootstrap (`abst` with its segment and
fragment run tables), fetches every `Seg<S>-Frag<N>` of one media, takes the FLV tags out of each
fragment's `mdat` and writes an FLV file (header, the manifest's onMetaData, the tags) that ffmpeg
can decode. No installed player plays HDS, so this plus `ffmpeg -f flv -i -` is how the tests count
what a client would decode.

    python hds_fetch.py URL.f4m [MEDIA_INDEX] > out.flv
"""

from __future__ import annotations

import base64
import struct
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

F4M = "{http://ns.adobe.com/f4m/1.0}"


@dataclass
class Bootstrap:
    timescale: int
    current_media_time: int
    movie: str
    live: bool
    segment_runs: list[tuple[int, int]]                     # (first segment, fragments per segment)
    fragment_runs: list[tuple[int, int, int, int | None]]   # (first fragment, timestamp, duration, discontinuity)

    def fragments(self) -> list[tuple[int, int, int, int]]:
        """(segment, fragment, start, duration) of every fragment, as a client walks the tables."""
        out = []
        number = self.fragment_runs[0][0]
        for k, (first_segment, per_segment) in enumerate(self.segment_runs):
            last_segment = self.segment_runs[k + 1][0] - 1 if k + 1 < len(self.segment_runs) else first_segment
            for segment in range(first_segment, last_segment + 1):
                for _ in range(per_segment):
                    run = [r for r in self.fragment_runs if r[0] <= number and r[2] > 0][-1]
                    start = run[1] + (number - run[0]) * run[2]
                    out.append((segment, number, start, run[2]))
                    number += 1
        return out


class Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"truncated: need {n} at {self.pos} of {len(self.data)}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int: return self.take(1)[0]
    def u32(self) -> int: return struct.unpack(">I", self.take(4))[0]
    def u64(self) -> int: return struct.unpack(">Q", self.take(8))[0]

    def string(self) -> str:
        end = self.data.index(b"\0", self.pos)
        out = self.data[self.pos:end].decode("utf-8")
        self.pos = end + 1
        return out

    def box(self, kind: bytes) -> "Reader":
        size, found = struct.unpack(">I4s", self.take(8))
        assert found == kind, f"{kind!r} expected, found {found!r}"
        return Reader(self.take(size - 8))


def boxes(data: bytes) -> list[tuple[str, int, int]]:
    """(type, payload start, payload end) of the top-level boxes of a fragment."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            header = 16
        assert size >= header and pos + size <= len(data), f"bad box {kind!r} at {pos}"
        out.append((kind.decode("latin-1"), pos + header, pos + size))
        pos += size
    assert pos == len(data), f"{len(data) - pos} bytes after the last box"
    return out


def parse_bootstrap(data: bytes) -> Bootstrap:
    abst = Reader(data).box(b"abst")
    abst.u32()                                      # version, flags
    abst.u32()                                      # BootstrapinfoVersion
    flags = abst.u8()
    timescale, current, _smpte = abst.u32(), abst.u64(), abst.u64()
    movie = abst.string()
    for _ in range(abst.u8()):
        abst.string()                               # servers
    for _ in range(abst.u8()):
        abst.string()                               # qualities
    abst.string()                                   # DrmData
    abst.string()                                   # MetaData
    segment_runs, fragment_runs = [], []
    for k in range(abst.u8()):
        asrt = abst.box(b"asrt")
        asrt.u32()
        for _ in range(asrt.u8()):
            asrt.string()
        runs = [(asrt.u32(), asrt.u32()) for _ in range(asrt.u32())]
        if k == 0:
            segment_runs = runs
    for k in range(abst.u8()):
        afrt = abst.box(b"afrt")
        afrt.u32()
        afrt_timescale = afrt.u32()
        assert afrt_timescale == timescale, (afrt_timescale, timescale)
        for _ in range(afrt.u8()):
            afrt.string()
        runs = []
        for _ in range(afrt.u32()):
            first, ts, duration = afrt.u32(), afrt.u64(), afrt.u32()
            runs.append((first, ts, duration, afrt.u8() if duration == 0 else None))
        if k == 0:
            fragment_runs = runs
    return Bootstrap(timescale, current, movie, bool(flags & 0x20), segment_runs, fragment_runs)


@dataclass
class Tag:
    kind: int            # 8 audio, 9 video, 18 script
    timestamp: int       # ms (decode time)
    data: bytes

    @property
    def is_sequence_header(self) -> bool:
        return self.kind in (8, 9) and len(self.data) > 1 and self.data[1] == 0

    @property
    def keyframe(self) -> bool:
        return self.kind == 9 and self.data[0] >> 4 == 1

    @property
    def composition_time(self) -> int:
        if self.kind != 9:
            return 0
        cts = int.from_bytes(self.data[2:5], "big")
        return cts - (1 << 24) if cts & 0x800000 else cts

    @property
    def presentation_time(self) -> int:
        return self.timestamp + self.composition_time


def flv_tags(body: bytes) -> list[Tag]:
    """The tags of an mdat payload; checks every PreviousTagSize."""
    tags, pos = [], 0
    while pos < len(body):
        kind, size = body[pos], int.from_bytes(body[pos + 1:pos + 4], "big")
        ts = int.from_bytes(body[pos + 4:pos + 7], "big") | body[pos + 7] << 24
        data = body[pos + 11:pos + 11 + size]
        assert len(data) == size, f"tag at {pos} truncated"
        previous = struct.unpack(">I", body[pos + 11 + size:pos + 15 + size])[0]
        assert previous == 11 + size, f"PreviousTagSize {previous} != {11 + size} at {pos}"
        tags.append(Tag(kind, ts, data))
        pos += 15 + size
    return tags


@dataclass
class Fragment:
    segment: int
    number: int
    start: int
    duration: int
    data: bytes
    boxes: list[tuple[str, int, int]]

    @property
    def mdat(self) -> bytes:
        (_, start, end), = [b for b in self.boxes if b[0] == "mdat"]
        return self.data[start:end]

    @property
    def tags(self) -> list[Tag]:
        return flv_tags(self.mdat)


@dataclass
class Presentation:
    manifest: ET.Element
    duration: float
    bootstrap: Bootstrap
    media: list[ET.Element] = field(default_factory=list)


def get(url: str, timeout: float = 30) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def load(manifest_url: str) -> Presentation:
    doc = ET.fromstring(get(manifest_url))
    assert doc.tag == F4M + "manifest", doc.tag
    node = doc.find(F4M + "bootstrapInfo")
    bootstrap = parse_bootstrap(base64.b64decode(node.text))
    return Presentation(doc, float(doc.findtext(F4M + "duration")), bootstrap, doc.findall(F4M + "media"))


def fragment_url(manifest_url: str, media: ET.Element, segment: int, fragment: int) -> str:
    """What an HDS client asks for: the media's url with `Seg<S>-Frag<N>` appended."""
    return urllib.parse.urljoin(manifest_url, media.get("url")) + f"Seg{segment}-Frag{fragment}"


def fetch(manifest_url: str, presentation: Presentation, media: ET.Element, query: str = "") -> list[Fragment]:
    """Every fragment of `media`; `query` is appended to each fragment URL, as clients that carry
    the manifest's query (yt-dlp) do."""
    out = []
    for segment, number, start, duration in presentation.bootstrap.fragments():
        data = get(fragment_url(manifest_url, media, segment, number) + ("?" + query if query else ""))
        out.append(Fragment(segment, number, start, duration, data, boxes(data)))
    return out


def flv_file(media: ET.Element, fragments: list[Fragment]) -> bytes:
    """FLV header, the manifest's onMetaData as a script tag, then every fragment's tags."""
    out = bytearray(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00")
    meta = media.find(F4M + "metadata")
    if meta is not None and meta.text:
        body = base64.b64decode(meta.text)
        out += bytes([18]) + len(body).to_bytes(3, "big") + bytes(7) + body + struct.pack(">I", 11 + len(body))
    for f in fragments:
        out += f.mdat
    return bytes(out)


def main() -> None:
    url = sys.argv[1]
    index = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    p = load(url)
    media = p.media[index]
    sys.stdout.buffer.write(flv_file(media, fetch(url, p, media)))


if __name__ == "__main__":
    main()
