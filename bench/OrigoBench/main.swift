// In-process timings of the engine, for bench/RESULTS.md: cold index build of each source file,
// presentation load, warm manifest builds and warm segment builds, and resident memory per cached
// presentation. Usage: origo-bench PRESENTATION.ism [ITERATIONS]
import ByteIO
import Engine
import Glibc
import IndexStore
import ISOBMFF
import Storage

func fail(_ message: String, status: Int32) -> Never {
    _ = message.withCString { write(2, $0, strlen($0)) }
    exit(status)
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Resident set size in bytes, from /proc/self/statm.
func residentBytes() -> Int {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size = 0, resident = 0
    _ = withUnsafeMutablePointer(to: &size) { s in
        withUnsafeMutablePointer(to: &resident) { r in
            withVaList([s, r]) { vfscanf(f, "%ld %ld", $0) }
        }
    }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// Median and 99th percentile of `iterations` runs of `body`, in milliseconds, printed as a row
/// (only when the row is selected).
func timed(_ name: String, _ iterations: Int, _ body: () throws -> Void) rethrows {
    guard only.isEmpty || name.contains(only) else { return }
    row(name, try measure(iterations, body))
}

func measure(_ iterations: Int, _ body: () throws -> Void) rethrows -> (median: Double, p99: Double) {
    var samples: [Double] = []
    samples.reserveCapacity(iterations)
    for _ in 0..<iterations {
        let t0 = now()
        try body()
        samples.append((now() - t0) * 1000)
    }
    samples.sort()
    return (samples[samples.count / 2], samples[min(samples.count - 1, samples.count * 99 / 100)])
}

func row(_ name: String, _ m: (median: Double, p99: Double)) {
    let median = (m.median * 10000).rounded() / 10000, p99 = (m.p99 * 10000).rounded() / 10000
    print("| \(name) | \(median) ms | \(p99) ms |")
}

let args = CommandLine.arguments
guard args.count >= 2 else {
    fail("usage: origo-bench PRESENTATION.ism [ITERATIONS]\n", status: 2)
}
let ism = args[1]
let iterations = args.count > 2 ? max(1, Int(args[2]) ?? 50) : 50
/// A third argument keeps only the rows whose name contains it (for profiling one path).
let only = args.count > 3 ? args[3] : ""
let directory = ism.split(separator: "/").dropLast().joined(separator: "/")
let prefix = ism.hasPrefix("/") ? "/" : ""

print("| What | median | p99 |")
print("|---|---|---|")
// Cold index build: every video and audio file of the presentation, read from scratch.
var sources: [String] = []
for name in ["v360.mp4", "v1080.mp4", "audio-eng.mp4"] {
    let path = prefix + directory + "/" + name
    guard (try? LocalFile.identity(of: path)) != nil else { continue }
    sources.append(path)
    try timed("index build, cold (\(name))", max(3, iterations / 10)) {
        _ = try MP4Reader.read(LocalFileReader(path: path), locator: path)
    }
}

// The host's index store (OrigoIndexCacheDir): one file per source, read instead of parsing.
let storeDirectory = "/tmp/origo-bench-store-\(getpid())"
for path in sources {
    let index = try MP4Reader.read(LocalFileReader(path: path), locator: path)
    let store = IndexStore(directory: storeDirectory, capacityBytes: 1 << 30)
    store.save(index, key: path)
    let name = path.split(separator: "/").last.map(String.init) ?? path
    timed("index store read (\(name))", max(3, iterations / 10)) {
        guard case .hit = store.load(key: path, maxSamplesPerTrack: 1 << 24, maxSamplesPerFile: 1 << 26, dataSource: { _ in path }) else {
            fail("origo-bench: index store read failed\n", status: 1)
        }
    }
}
// A fresh engine (a new child) while another one filled the store: the first 1080p DASH segment.
do {
    let base = String(ism.split(separator: "/").last?.split(separator: ".").first ?? "long")
    func freshEngine() -> Engine {
        let e = Engine()
        e.configure(indexStore: storeDirectory, bytes: 1 << 30)
        return e
    }
    _ = freshEngine().handle(EngineRequest(method: "GET", manifestPath: ism, virtualPath: "\(base)-video=5000000-n1800.dash", query: nil))
    timed("fresh engine, index store filled: first DASH 1080p segment", max(3, iterations / 10)) {
        let r = freshEngine().handle(EngineRequest(method: "GET", manifestPath: ism, virtualPath: "\(base)-video=5000000-n1800.dash", query: nil))
        if r.status != 200 { fail("origo-bench: fresh-engine segment: \(r.status)\n", status: 1) }
    }
    timed("fresh engine, no index store: first DASH 1080p segment", 3) {
        let r = Engine().handle(EngineRequest(method: "GET", manifestPath: ism, virtualPath: "\(base)-video=5000000-n1800.dash", query: nil))
        if r.status != 200 { fail("origo-bench: fresh-engine segment: \(r.status)\n", status: 1) }
    }
}
system("rm -rf '\(storeDirectory)'")

// Presentation load (server manifest + every source index) in a fresh engine, then warm requests.
let before = residentBytes()
let engine = Engine()
timed("presentation load + first MPD (cold engine)", 1) {
    _ = engine.handle(EngineRequest(method: "GET", manifestPath: ism, virtualPath: ".mpd", query: nil))
}
let after = residentBytes()
func get(_ path: String, _ query: String? = nil, mapFiles: Bool = true) -> EngineResponse {
    let r = engine.handle(EngineRequest(method: "GET", manifestPath: ism, virtualPath: path, query: query,
                                        mapFiles: mapFiles))
    if r.status != 200 { fail("origo-bench: \(path): \(r.status) \(r.logReason ?? "")\n", status: 1) }
    return r
}
let master = get(".m3u8")
guard master.status == 200, case .bytes(let masterBytes)? = master.body.first else {
    fail("origo-bench: master playlist failed: \(master.logReason ?? "")\n", status: 1)
}
let variant = String(decoding: masterBytes, as: UTF8.self).split(separator: "\n").first { !$0.hasPrefix("#") }.map(String.init) ?? ""
// Manifests are cached per format options (hls.*, mpd.*, ...) with the query left open: an
// unknown format option each time measures the build itself, a new session id the template fill.
var q = 0
timed("HLS master playlist, built", iterations) { q += 1; _ = get(".m3u8", "hls.bench=\(q)") }
timed("HLS media playlist, built", iterations) { q += 1; _ = get(variant, "hls.bench=\(q)") }
timed("MPD, built", iterations) { q += 1; _ = get(".mpd", "mpd.bench=\(q)") }
timed("HLS media playlist, new session id", iterations) { q += 1; _ = get(variant, "session_id=\(q)") }
timed("MPD, new session id", iterations) { q += 1; _ = get(".mpd", "session_id=\(q)") }
_ = get(".m3u8"); _ = get(variant); _ = get(".mpd")
timed("HLS master playlist, warm", iterations) { _ = get(".m3u8") }
timed("HLS media playlist, warm (\(variant))", iterations) { _ = get(variant) }
timed("MPD, warm", iterations) { _ = get(".mpd") }
let base = String(ism.split(separator: "/").last?.split(separator: ".").first ?? "long")
var n = 0
timed("DASH video segment 720p ($Number$, rotating), warm", iterations) {
    n = n % 3000 + 1
    _ = get("\(base)-video=2500000-n\(n).dash")
}
timed("DASH video segment 360p ($Number$, rotating), warm", iterations) {
    n = n % 3000 + 1
    _ = get("\(base)-video=500000-n\(n).dash")
}
timed("HLS fMP4 video segment (rotating), warm", iterations) {
    n = n % 1800 + 1
    _ = get("\(base)-video=2500000-\(n).m4s", "hls.fmp4=true")
}
timed("HLS TS segment, video 720p + audio (rotating), warm", iterations) {
    n = n % 1800 + 1
    // Given back as the module does once Apache has sent it: the next segment reuses the buffer.
    engine.recycle(get("\(base)-audio_eng=128000-video=2500000-\(n).ts"))
}
timed("HLS TS segment, video 360p (rotating), warm", iterations) {
    n = n % 1800 + 1
    engine.recycle(get("\(base)-video=500000-\(n).ts"))
}
timed("HLS TS segment, video 720p + audio (rotating), warm, pread (EnableMMAP Off)", iterations) {
    n = n % 1800 + 1
    engine.recycle(get("\(base)-audio_eng=128000-video=2500000-\(n).ts", mapFiles: false))
}
print("")
print("Resident memory added by loading the presentation (indexes of \(sources.isEmpty ? "its" : "all") files, segmentations): \((after - before) / 1024) KiB")
