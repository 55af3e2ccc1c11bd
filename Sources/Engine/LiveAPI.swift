import Live
import XML
#if canImport(Glibc)
import Glibc
#endif

/// The read-only half of the publishing-point API (`UspHandleApi`, reference §6) over the store:
/// `/state`, `/archive` and `/statistics` of an `.isml`. Not reachable from a server yet: the glue
/// (the `UspHandleApi` directive, refusing the API where it is off) is the next step (docs/LIVE.md).
enum LiveAPI {
    static let xmlType = "application/smil+xml"
    static let smilNamespace = "http://www.w3.org/2001/SMIL20/Language"

    enum State: String { case idle, started, stopped }

    /// `started` while a connection feeds any stream (it holds the stream's lock shared: an
    /// exclusive try fails), `stopped` when fragments are stored but nobody feeds, else `idle`.
    static func state(_ live: LivePresentation, manifestPath: String) -> State {
        var stored = false
        for stream in Set(live.tracks.map(\.stream)) {
            let path = LiveStoreLayout.streamDirectory(manifestPath: manifestPath, stream: stream) + "/lock"
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 { return .started }
            flock(fd, LOCK_UN)
        }
        for track in live.tracks where (try? FragmentIndexReader(path: track.indexPath).count) ?? 0 > 0 { stored = true }
        return stored ? .stopped : .idle
    }

    static func stateDocument(_ state: State) -> [UInt8] {
        var w = XMLWriter()
        w.declaration()
        w.open("smil", attributes: [("xmlns", smilNamespace)])
        w.open("head")
        w.empty("meta", attributes: [("name", "state"), ("content", state.rawValue)])
        w.close()
        w.close()
        return w.finish()
    }

    /// Per track, the archived ranges in UTC: runs of back-to-back fragments from the oldest kept,
    /// split at gaps and period marks, timed as the dynamic MPD and catch-up time them (so a range
    /// can be given back as `vbegin`/`vend`).
    static func archiveDocument(_ live: LivePresentation) throws -> [UInt8] {
        let anchor = try LiveCatchup.anchor(live)
        var w = XMLWriter()
        w.declaration()
        w.open("smil", attributes: [("xmlns", smilNamespace)])
        w.open("body")
        w.open("switch")
        for track in live.tracks {
            let index = try FragmentIndexReader(path: track.indexPath)
            let marks = Set(try PeriodMarks.read(periodsPath: track.periodsPath, index: index))
            w.open(track.kind.rawValue, attributes: [("src", track.token), ("systemBitrate", String(track.bitrate))])
            if let anchor, index.count > index.firstKept {
                let zero = Int64(clamping: anchor.record.ingestMillis) &- anchor.record.end &* 1000 / Int64(max(anchor.timescale, 1))
                let scale = Int64(max(track.timescale, 1))
                func utc(_ t: Int64) -> String { LiveAnswer.iso8601(millis: zero &+ t / scale &* 1000 &+ t % scale &* 1000 / scale) }
                var start = try index.record(at: index.firstKept)
                var end = start.end
                for i in (index.firstKept + 1)..<max(index.count, index.firstKept + 1) {
                    let r = try index.record(at: i)
                    if r.time != end || marks.contains(i) {
                        w.empty("c", attributes: [("start", utc(start.time)), ("end", utc(end))])
                        start = r
                    }
                    end = r.end
                }
                w.empty("c", attributes: [("start", utc(start.time)), ("end", utc(end))])
            }
            w.close()
        }
        w.close()
        w.close()
        w.close()
        return w.finish()
    }

    /// Per track: fragments and bytes kept, and when the newest arrived.
    static func statisticsDocument(_ live: LivePresentation, manifestPath: String) throws -> [UInt8] {
        var w = XMLWriter()
        w.declaration()
        w.open("smil", attributes: [("xmlns", smilNamespace)])
        w.open("head")
        w.empty("meta", attributes: [("name", "state"), ("content", state(live, manifestPath: manifestPath).rawValue)])
        w.close()
        w.open("body")
        for track in live.tracks {
            let index = try FragmentIndexReader(path: track.indexPath)
            var attributes = [("src", track.token), ("fragments", String(index.count - index.firstKept)),
                              ("purged", String(index.firstKept))]
            if index.count > 0 {
                let newest = try index.record(at: index.count - 1)
                attributes.append(("lastFragmentIngest", LiveAnswer.iso8601(millis: Int64(clamping: newest.ingestMillis))))
            }
            w.empty(track.kind.rawValue, attributes: attributes)
        }
        w.close()
        w.close()
        return w.finish()
    }
}
