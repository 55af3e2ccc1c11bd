// swift-tools-version:6.0
import PackageDescription

// The engine is built as one self-contained shared library that the Apache module loads
// (apxs-build.sh adds -static-stdlib). It must never be unloaded: Apache unloads modules on
// every restart and the Swift runtime does not survive that, hence `-z nodelete`.
let engineLinkerSettings: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "-z", "-Xlinker", "nodelete"]),
]

let package = Package(
    name: "Origo",
    products: [
        .library(name: "OrigoEngine", type: .dynamic, targets: ["Engine"]),
        .executable(name: "origo", targets: ["OrigoCLI"]),
    ],
    targets: [
        // Bounds-checked reading and writing of bytes; the error protocol every module uses.
        .target(name: "ByteIO"),
        // Presentation -> tracks -> samples, segmentation, response body pieces.
        .target(name: "MediaModel", dependencies: ["ByteIO"]),
        // ISO-BMFF: reading MP4/fMP4 into the media model, writing init and media segments.
        .target(name: "ISOBMFF", dependencies: ["ByteIO", "MediaModel"]),
        // MPEG-2 transport stream segments for HLS.
        .target(name: "MPEGTS", dependencies: ["ByteIO", "MediaModel"]),
        // A small non-validating XML reader and writer over bytes.
        .target(name: "XML", dependencies: ["ByteIO"]),
        // .ism/.isml SMIL server manifests.
        .target(name: "ServerManifest", dependencies: ["ByteIO", "XML"]),
        // The player URL grammar: virtual paths, track tokens, query options.
        .target(name: "PlayerURL", dependencies: ["ByteIO"]),
        // Subtitles: WebVTT, SRT and TTML readers, cues as wvtt tracks, WebVTT and TTML writers.
        .target(name: "Subtitles", dependencies: ["ByteIO", "MediaModel", "XML"]),
        .target(name: "HLS", dependencies: ["ByteIO", "MediaModel", "PlayerURL"]),
        .target(name: "DASH", dependencies: ["ByteIO", "MediaModel", "PlayerURL", "XML"]),
        // Smooth Streaming client manifests and timelines; the engine writes fragments with ISOBMFF.
        .target(name: "Smooth", dependencies: ["MediaModel", "PlayerURL", "XML"]),
        // HDS: F4M manifests with inline bootstraps and F4F fragments of FLV tags.
        .target(name: "HDS", dependencies: ["ByteIO", "MediaModel", "PlayerURL", "XML"]),
        // Locators, file readers and the bounded index cache.
        .target(name: "Storage", dependencies: ["ByteIO", "CMappedGuard"]),
        // The host's shared store of parsed media indexes (OrigoIndexCacheDir): its file format and directory.
        .target(name: "IndexStore", dependencies: ["ByteIO", "MediaModel", "ISOBMFF"]),
        // The SIGBUS guard for reads from mapped files (a signal handler, so C).
        .target(name: "CMappedGuard"),
        // OpenSSL's libcrypto (the system's), for AES.
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // Content keys (and CPIX key documents, XML), the ciphers of HLS AES-128 and CENC, DRM systems' headers (PlayReady's is XML).
        .target(name: "Encryption", dependencies: ["ByteIO", "COpenSSL", "XML"]),
        // Live ingest: Smooth and CMAF ingest parsing, the per-publishing-point fragment store.
        .target(name: "Live", dependencies: ["ByteIO", "MediaModel", "ISOBMFF", "XML", "ServerManifest"]),
        // The C ABI header shared with mod_glue.
        .target(name: "CEngineAPI"),
        .target(
            name: "Engine",
            dependencies: ["ByteIO", "MediaModel", "ISOBMFF", "MPEGTS", "XML", "ServerManifest", "PlayerURL",
                           "HLS", "DASH", "Smooth", "HDS", "Storage", "Subtitles", "CEngineAPI", "Encryption", "Live",
                           "IndexStore"],
            linkerSettings: engineLinkerSettings),
        .executableTarget(
            name: "OrigoCLI",
            dependencies: ["ByteIO", "MediaModel", "ISOBMFF", "PlayerURL", "ServerManifest", "Storage"]),
        // In-process engine timings for the benchmark (bench/run.sh); not part of the product.
        .executableTarget(
            name: "OrigoBench",
            dependencies: ["ByteIO", "Engine", "ISOBMFF", "Storage", "IndexStore"],
            path: "bench/OrigoBench"),
        .testTarget(
            name: "OrigoTests",
            dependencies: ["ByteIO", "MediaModel", "ISOBMFF", "MPEGTS", "XML", "ServerManifest", "PlayerURL",
                           "HLS", "DASH", "Smooth", "HDS", "Storage", "Subtitles", "Engine", "CEngineAPI",
                           "Encryption", "Live", "IndexStore"],
            exclude: ["Fixtures"]),
    ]
)
