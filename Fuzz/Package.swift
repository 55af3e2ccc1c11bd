// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for Origo's parsers of outside bytes. A separate package, because these
// executables only link with `-sanitize=fuzzer` (libFuzzer supplies the driver): a plain
// `swift build` of the main package must never see them. The parser modules are the main
// package's own sources (Sources/* symlinked), compiled here with the sanitizers.
// Build and run through scripts/fuzz.sh TARGET SECONDS.

let package = Package(
    name: "OrigoFuzz",
    targets: [
        .target(name: "ByteIO"),
        .target(name: "MediaModel", dependencies: ["ByteIO"]),
        .target(name: "ISOBMFF", dependencies: ["ByteIO", "MediaModel"]),
        .target(name: "MPEGTS", dependencies: ["ByteIO", "MediaModel"]),
        .target(name: "XML", dependencies: ["ByteIO"]),
        .target(name: "ServerManifest", dependencies: ["ByteIO", "XML"]),
        .target(name: "PlayerURL", dependencies: ["ByteIO"]),
        .target(name: "Subtitles", dependencies: ["ByteIO", "MediaModel", "XML"]),
        .target(name: "CMappedGuard"),
        .target(name: "Storage", dependencies: ["ByteIO", "CMappedGuard"]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto"),
        .target(name: "Encryption", dependencies: ["ByteIO", "COpenSSL", "XML"]),
        .target(name: "Live", dependencies: ["ByteIO", "MediaModel", "ISOBMFF", "XML", "ServerManifest"]),
        .target(name: "IndexStore", dependencies: ["ByteIO", "MediaModel", "ISOBMFF"]),
        .target(name: "FuzzDriver", path: "Targets/FuzzDriver"),
        // The ISO-BMFF reader and the media index built from it (segmentation over the result),
        // and TS segments muxed from the samples it found (Annex B conversion, packets written in
        // place into reused buffers).
        .executableTarget(name: "FuzzMP4", dependencies: ["FuzzDriver", "ByteIO", "MediaModel", "ISOBMFF", "MPEGTS"],
                          path: "Targets/FuzzMP4"),
        // The SMIL server manifest parser (and the XML reader under it).
        .executableTarget(name: "FuzzServerManifest", dependencies: ["FuzzDriver", "ServerManifest"], path: "Targets/FuzzServerManifest"),
        // The player URL grammar: virtual path and query string.
        .executableTarget(name: "FuzzPlayerURL", dependencies: ["FuzzDriver", "PlayerURL"], path: "Targets/FuzzPlayerURL"),
        // Sidecar subtitle files (WebVTT, SubRip, TTML) and `wvtt` samples.
        .executableTarget(name: "FuzzSubtitles", dependencies: ["FuzzDriver", "MediaModel", "Subtitles"], path: "Targets/FuzzSubtitles"),
        // CPIX key documents (DASH-IF CPIX 2.3): keys, DRM systems' data, usage rules and lookups.
        .executableTarget(name: "FuzzCPIX", dependencies: ["FuzzDriver", "Encryption"], path: "Targets/FuzzCPIX"),
        // Upstream answers as the module hands them over: Content-Range and Content-Length parsed
        // and checked against the body (UpstreamResponse(checking:)).
        .executableTarget(name: "FuzzUpstreamAnswer", dependencies: ["FuzzDriver", "Storage"], path: "Targets/FuzzUpstreamAnswer"),
        // Live ingest bodies (Smooth, CMAF) cut into chunks, into a real store: only whole fragments
        // may ever be stored.
        .executableTarget(name: "FuzzLiveIngest", dependencies: ["FuzzDriver", "ISOBMFF", "Live"], path: "Targets/FuzzLiveIngest"),
        // Index store files (OrigoIndexCacheDir): every check of the reader, then segmentation over
        // what it accepted and a round trip through the writer.
        .executableTarget(name: "FuzzIndexStore", dependencies: ["FuzzDriver", "IndexStore", "ISOBMFF", "MediaModel"],
                          path: "Targets/FuzzIndexStore"),
    ]
)
