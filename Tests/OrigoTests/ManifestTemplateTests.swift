@testable import Engine
import PlayerURL
import Testing

/// Manifests are cached with the query left open: a new session id must give exactly the manifest a
/// fresh build for that query gives, without building again.
@Suite struct ManifestTemplateTests {
    let movie = Fixtures.path("progressive.mp4")

    func text(_ r: EngineResponse) -> String {
        var out: [UInt8] = []
        for piece in r.body { if case .bytes(let b) = piece { out += b } }
        return String(decoding: out, as: UTF8.self)
    }

    func get(_ engine: Engine, _ path: String, _ query: String?) -> EngineResponse {
        engine.handle(EngineRequest(method: "GET", manifestPath: movie, virtualPath: path, query: query))
    }

    @Test(arguments: [".m3u8", ".mpd", "Manifest", ".f4m", ".m3u8?hls.fmp4=true", ".mpd?mpd.segment_template=number"])
    func aNewQueryGivesWhatAFreshBuildGives(_ target: String) throws {
        let parts = target.split(separator: "?", maxSplits: 1).map(String.init)
        let path = parts[0]
        let options = parts.count > 1 ? parts[1] + "&" : ""
        let warm = Engine()
        let first = get(warm, path, options + "session_id=1")
        #expect(first.status == 200, "\(first.logReason ?? "")")
        for query in ["session_id=2", "session_id=a$b&x=%22q%22", "token=%3C%26%3E"] {
            let substituted = get(warm, path, options + query)
            let fresh = get(Engine(), path, options + query)
            #expect(text(substituted) == text(fresh))
            #expect(substituted.etag == fresh.etag)
            // A manifest whose URLs carry no query (F4M) is the same for every query, and so is its ETag.
            #expect((substituted.etag != first.etag) == (text(substituted) != text(first)))
            #expect(substituted.contentType == fresh.contentType)
        }
        // Built once: every later query was served from the one template.
        let view = try warm.loader.load(manifestPath: movie, maxIndexBytes: 0).whole
        #expect(view.manifests.count == 1 && view.manifests.misses == 1)
    }

    @Test func queriesAreMadeSafeForPlaylistsAndXML() {
        let engine = Engine()
        let m3u8 = text(get(engine, ".m3u8", "s=a%22b c<d>"))
        // Decoded by QueryOptions only for options; the raw query is re-encoded for the URL.
        #expect(m3u8.contains(".m3u8?s=a%22b%20c%3Cd%3E\n"))
        let mpd = text(get(engine, ".mpd", "s=1&t$=2"))
        #expect(mpd.contains("?s=1&amp;t$$=2\""))           // a DASH template: `$` doubled, `&` escaped
        #expect(!mpd.contains("\u{F8F0}") && !mpd.contains("\u{F8F1}"))
        #expect(ChildURL.safeQuery("a=1&b=\"x y\"") == "a=1&b=%22x%20y%22")
        #expect(ChildURL.querySuffix("", inTemplate: true) == "")
    }

    @Test func formatOptionsDecideTheKeyAndOtherParametersDoNot() throws {
        let a = try QueryOptions(raw: "session_id=1&hls.fmp4=true&mpd.x=1")
        let b = try QueryOptions(raw: "hls.fmp4=true&mpd.x=1&session_id=2")
        #expect(PlayoutOptions.formatOptions(a) == PlayoutOptions.formatOptions(b))
        let c = try QueryOptions(raw: "hls.foo=1%26hls.fmp4%3Dtrue")
        let d = try QueryOptions(raw: "hls.foo=1&hls.fmp4=true")
        #expect(PlayoutOptions.formatOptions(c) != PlayoutOptions.formatOptions(d))
    }
}
