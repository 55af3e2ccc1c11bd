@testable import Engine
import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Which files a request checks: the server manifest and index files always, the files samples are
/// read from only for the tracks the request reads (manifests: all), and any failure on a
/// presentation whose files changed is answered again on the presentation as it is now.
@Suite struct FileCheckTests {
    let dir = SubtitlesTests.temporaryDirectory()
    let engine = Engine()
    var ism: String { dir + "/x.ism" }

    init() throws {
        try Self.copy(Fixtures.path("progressive.mp4"), to: dir + "/v.mp4")
        try Self.copy(Fixtures.path("progressive.mp4"), to: dir + "/a.mp4")
        SubtitlesTests.write(dir + "/x.ism", """
            <smil xmlns="http://www.w3.org/2001/SMIL20/Language"><body><switch>
            <video src="v.mp4" systemBitrate="100000"/>
            <audio src="a.mp4" systemBitrate="64000"/>
            </switch></body></smil>
            """)
    }

    static func copy(_ from: String, to path: String) throws {
        let bytes = try LocalFile.contents(of: from, limit: 1 << 24)
        try write(bytes, to: path)
    }

    /// Replaces the file's contents (same inode) and moves its modification time on, as a copy
    /// over it a second later would.
    static func write(_ bytes: [UInt8], to path: String) throws {
        let previous = try? LocalFile.identity(of: path)
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o644)
        try #require(fd >= 0)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        try #require(written == bytes.count)
        if let previous {
            var times = [timespec(tv_sec: Int(previous.mtimeSeconds) + 1, tv_nsec: 0),
                         timespec(tv_sec: Int(previous.mtimeSeconds) + 1, tv_nsec: 0)]
            try #require(futimens(fd, &times) == 0)
        }
        close(fd)
    }

    func get(_ path: String) -> EngineResponse {
        engine.handle(EngineRequest(method: "GET", manifestPath: ism, virtualPath: path, query: nil))
    }

    func cached() throws -> LoadedPresentation {
        try engine.loader.load(manifestPath: ism, maxIndexBytes: 0, checkingSampleFiles: false)
    }

    @Test func aSegmentChecksTheFilesOfItsOwnTracks() throws {
        #expect(get(".mpd").status == 200)
        let loaded = try cached()
        #expect(loaded.checkedAlways.isEmpty)
        #expect(Set(loaded.checkedWhenRead.keys) == [dir + "/v.mp4", dir + "/a.mp4"])
        let video = get("x-video=100000-n1.dash")
        #expect(video.status == 200, "\(video.logReason ?? "")")
        #expect(get("x-audio_fra=64000-n1.dash").status == 200)

        // The audio file becomes something else: video segments do not read it and go on as they
        // were; the next request that reads it (an audio segment, a manifest) sees the change.
        try Self.write(Array(repeating: 0x55, count: 5000), to: dir + "/a.mp4")
        #expect(get("x-video=100000-n1.dash").status == 200)
        #expect(try cached() === loaded)
        let audio = get("x-audio_fra=64000-n1.dash")
        #expect(audio.status >= 400 && audio.status != 404, "\(audio.status) \(audio.logReason ?? "")")
        #expect(get(".mpd").status >= 400)

        try Self.copy(Fixtures.path("progressive.mp4"), to: dir + "/a.mp4")
        #expect(get(".mpd").status == 200)
        let reloaded = try cached()
        #expect(reloaded !== loaded)
        #expect(get("x-audio_fra=64000-n1.dash").status == 200)
    }

    @Test func aSegmentOfAFileThatGrewIsFoundAfterAReload() throws {
        try Self.copy(Fixtures.path("short.mp4"), to: dir + "/v.mp4")
        #expect(get(".mpd").status == 200)
        #expect(get("x-video=100000-n2.dash").status == 404, "short.mp4 has one key frame")
        let loaded = try cached()
        // Now two seconds long: segment 2 is stale in the cached presentation, which the failed
        // lookup notices before answering 404.
        try Self.copy(Fixtures.path("progressive.mp4"), to: dir + "/v.mp4")
        let second = get("x-video=100000-n2.dash")
        #expect(second.status == 200, "\(second.logReason ?? "")")
        #expect(try cached() !== loaded)
    }

    func get(_ path: String, checkingEvery interval: FileCheckInterval, manifest: FileIdentity? = nil) -> EngineResponse {
        engine.handle(EngineRequest(method: "GET", manifestPath: ism, virtualPath: path, query: nil,
                                    manifestIdentity: manifest, fileCheckInterval: interval))
    }

    /// A manifest reads no samples: a check of the media files younger than the interval is
    /// trusted. A segment sends samples, so it checks the files it reads every time.
    @Test func aManifestTrustsARecentCheckAndASegmentNever() throws {
        let minute = FileCheckInterval(exactly: 60_000)
        #expect(get(".mpd", checkingEvery: minute).status == 200)
        let loaded = try cached()
        try Self.write(Array(repeating: 0x55, count: 5000), to: dir + "/a.mp4")
        #expect(get(".mpd", checkingEvery: minute).status == 200)
        #expect(try cached() === loaded)
        let audio = get("x-audio_fra=64000-n1.dash", checkingEvery: minute)
        #expect(audio.status >= 400 && audio.status != 404, "\(audio.status) \(audio.logReason ?? "")")
        #expect(get(".mpd", checkingEvery: .everyRequest).status >= 400)
    }

    /// The server manifest as the server's path walk found it is used as is (no second stat), and
    /// is compared on every request whatever the interval.
    @Test func theServerManifestAsTheServerFoundItIsCheckedEveryTime() throws {
        let minute = FileCheckInterval(exactly: 60_000)
        let real = try LocalFile.identity(of: ism)
        #expect(get(".mpd", checkingEvery: minute, manifest: real).status == 200)
        let loaded = try cached()
        #expect(loaded.manifest == real.inMicroseconds)
        #expect(get(".m3u8", checkingEvery: minute, manifest: real).status == 200)
        #expect(try engine.loader.load(manifestPath: ism, maxIndexBytes: 0, checkingSampleFiles: false,
                                       manifestIdentity: real) === loaded)
        let touched = FileIdentity(path: ism, size: real.size, mtimeSeconds: real.mtimeSeconds &+ 1,
                                   mtimeNanoseconds: real.mtimeNanoseconds)
        #expect(get(".mpd", checkingEvery: minute, manifest: touched).status == 200)
        let reloaded = try engine.loader.load(manifestPath: ism, maxIndexBytes: 0, checkingSampleFiles: false,
                                              manifestIdentity: touched)
        #expect(reloaded !== loaded)
        #expect(reloaded.manifest == touched.inMicroseconds)
    }

    @Test func aRecentCheckIsTrustedForItsIntervalOnly() {
        let check = RecentCheck(passedAt: 1000)
        var asked = 0
        let yes = { () -> Bool in asked += 1; return true }
        let second = FileCheckInterval(exactly: 1000)
        #expect(check.passes(now: 1999, within: second, yes) && asked == 0)
        #expect(check.passes(now: 2000, within: second, yes) && asked == 1)
        #expect(check.passes(now: 2999, within: second, yes) && asked == 1)
        #expect(!check.passes(now: 3000, within: second) { false })
        #expect(check.passes(now: 3001, within: .everyRequest, yes) && asked == 2)
        // A clock that went back, or no pass yet: asked.
        #expect(check.passes(now: 500, within: second, yes) && asked == 3)
        #expect(RecentCheck().passes(now: 0, within: second, yes) && asked == 4)
        #expect(FileCheckInterval(milliseconds: 0) == .default)
        #expect(FileCheckInterval(milliseconds: -1) == .everyRequest)
        #expect(FileCheckInterval(milliseconds: 250).milliseconds == 250)
    }
}
