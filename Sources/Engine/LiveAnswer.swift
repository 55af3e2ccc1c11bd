import ByteIO
import ISOBMFF
import Live
import MediaModel
import PlayerURL

/// Live playout from a publishing point's store, the first pieces (issue #17): HLS with fMP4
/// segments and dynamic DASH (`LiveDASH`), a sliding window of `dvr_window_length` seconds. Every request reads the `.isml` and
/// the track's index afresh (a stat, a binary search and the window's records): new fragments show
/// up at once in every process. Other formats answer 501 until they are built.
enum LiveAnswer {
    static let playlistType = "application/vnd.apple.mpegurl"

    /// The answer for a live publishing point, nil when `manifestPath` is not one (no store).
    static func respond(_ request: EngineRequest) throws -> EngineResponse? {
        guard request.manifestPath.lowercased().hasSuffix(".isml"),
              let live = try LivePresentation.load(manifestPath: request.manifestPath) else { return nil }
        let names = Set(live.tracks.map(\.trackName))
        let route = try VirtualPath.parse(request.virtualPath, trackNames: names)
        let base = baseName(request.manifestPath)
        let catchup = try LiveCatchup(query: request.query)
        let anchor = try catchup == nil ? nil : LiveCatchup.anchor(live)
        /// The DVR window, or for a catch-up request its cut of the archive.
        func window(_ track: LivePresentation.Track, _ index: borrowing FragmentIndexReader) throws -> LiveWindow {
            if let catchup, let anchor { return try catchup.window(index: index, anchor: anchor, timescale: track.timescale) }
            return try LiveWindow(index: index, dvrWindow: Int64(live.dvrWindowSeconds) &* Int64(track.timescale))
        }
        // Child URLs of a catch-up presentation keep its range.
        let suffix = catchup != nil ? "?" + (request.query ?? "") : ""
        switch route {
        case .hlsMaster:
            return AnswerContext.manifest(master(live, base: base, suffix: suffix), type: playlistType)
        case .hlsMediaPlaylist(let tokens) where tokens.count == 1:
            let track = try find(live, tokens[0])
            let index = try FragmentIndexReader(path: track.indexPath)
            let window = try window(track, index)
            let periods = try LivePeriods(track: track, index: index, window: window)
            var text = media(track, window, periods: periods, base: base, suffix: suffix)
            if catchup != nil { text += "#EXT-X-ENDLIST\n" }
            var response = AnswerContext.manifest(text, type: playlistType)
            response.lastModified = Int64(clamping: (window.fragments.last?.ingestMillis ?? 0) / 1000)
            return response
        case .dashManifest where catchup != nil:
            return .error(501, "catch-up (vbegin/vend) is built for HLS only so far")
        case .dashManifest:
            var timelines: [LiveDASH.Timeline] = []
            var anchor: (record: FragmentRecord, timescale: UInt32)?
            for track in live.tracks where track.kind != .textstream {
                guard let index = try? FragmentIndexReader(path: track.indexPath) else { continue }
                let window = try LiveWindow(index: index, dvrWindow: Int64(live.dvrWindowSeconds) &* Int64(track.timescale))
                guard !window.fragments.isEmpty else { continue }
                if anchor == nil || track.kind == .video && timelines.allSatisfy({ $0.track.kind != .video }) {
                    anchor = (try index.record(at: 0), track.timescale)
                }
                timelines.append(LiveDASH.Timeline(track: track, window: window, offset: try decodeOffset(index),
                                                   periods: try LivePeriods(track: track, index: index, window: window),
                                                   periodStarts: try LiveDASH.periodStarts(track: track, index: index)))
            }
            guard !timelines.isEmpty else { throw EngineError.notFound("the publishing point has no fragments yet") }
            var response = AnswerContext.manifest(LiveDASH.mpd(live, timelines, anchor: anchor, base: base,
                                                               nowMillis: IngestSession.wallClockMillis()),
                                                  type: LiveDASH.mpdType)
            response.lastModified = Int64(clamping: (timelines.compactMap { $0.window.fragments.last?.ingestMillis }.max() ?? 0) / 1000)
            return response
        case .dashSegmentAtTime(let token, let time):
            let track = try find(live, token)
            let index = try FragmentIndexReader(path: track.indexPath)
            let window = try LiveWindow(index: index, dvrWindow: Int64(live.dvrWindowSeconds) &* Int64(track.timescale))
            // URL times are decode times as served: the stored ones moved by the track's offset.
            let offset = try decodeOffset(index)
            switch window.lookup(time: time &- offset) {
            case .found(_, let record):
                guard record.time &+ offset == time else {
                    throw EngineError.notFound("no live segment starts at \(time) (the one at \(record.time &+ offset) does)")
                }
                return try segment(track, record: record, offset: offset)
            case .notFound: return .error(410, "live segment at \(time) has left the DVR window")
            case .missing: return .error(404, "live segment at \(time) is in a gap of the stream")
            case .notAvailable: return .error(404, "live segment at \(time) is not there yet")
            }
        case .hlsInit(let token), .dashInit(let token):
            let track = try find(live, token)
            let movie = try LivePresentation.movie(headerPath: track.headerPath)
            guard let model = movie.track(track.trackID) else { throw EngineError.notFound("track \(track.trackID) is not in its stream's header") }
            let offset = try decodeOffset(FragmentIndexReader(path: track.indexPath))
            return AnswerContext.segment([.bytes(FragmentWriter.initSegment(for: model, mediaTimeOffset: offset))],
                                         type: AnswerContext.mp4Type(model.kind))
        case .hlsFMP4Segment(let token, let number):
            let track = try find(live, token)
            let index = try FragmentIndexReader(path: track.indexPath)
            let window = try window(track, index)
            // Segment N is fragment N-1 of the store, for as long as it is in the window.
            guard number >= 1 + window.firstIndex, number <= window.firstIndex + window.fragments.count else {
                throw EngineError.notFound("live segment \(number) is outside the window (\(window.firstIndex + 1)...\(window.firstIndex + window.fragments.count))")
            }
            return try segment(track, record: try index.record(at: number - 1), offset: try decodeOffset(index))
        default:
            return .error(501, "live playout of \(Sanitized.text(request.virtualPath)) is not built yet (HLS fMP4 and DASH only)")
        }
    }

    /// What is added to a track's stored decode times so that none is negative: an AAC track's
    /// encoder delay (ffmpeg's Smooth ingest starts audio at -1024 samples), taken from the store's
    /// first fragment, so it never changes while the channel runs. The init segment's edit list
    /// takes it out of presentation again.
    static func decodeOffset(_ index: borrowing FragmentIndexReader) throws -> Int64 {
        guard index.count > 0 else { return 0 }
        return max(0, 0 &- (try index.record(at: 0).time))
    }

    /// A stored fragment as a segment: a Smooth-ingest moof gets the tfdt players need, the mdat is a file range.
    private static func segment(_ track: LivePresentation.Track, record: FragmentRecord, offset: Int64) throws -> EngineResponse {
        let stored = try LivePresentation.fragment(record, mediaPath: track.mediaPath)
        let moof = try IngestMovie.moofWithDecodeTime(stored.moof, time: UInt64(clamping: record.time &+ offset)) ?? stored.moof
        let kind: TrackKind = track.kind == .audio ? .audio : track.kind == .video ? .video : .text
        var response = AnswerContext.segment([.bytes(moof), .file(locator: stored.mdatPath, offset: stored.mdatOffset,
                                                                  length: stored.mdatLength)],
                                             type: AnswerContext.mp4Type(kind))
        response.lastModified = Int64(clamping: record.ingestMillis / 1000)
        return response
    }

    private static func find(_ live: LivePresentation, _ token: String) throws -> LivePresentation.Track {
        guard let track = live.track(token: token) else { throw PlayerURLError.unknownTrack(token) }
        return track
    }

    /// `channel1` for `/var/www/live/channel1.isml`.
    static func baseName(_ path: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return name.lastIndex(of: ".").map { String(name[..<$0]) } ?? name
    }

    static func master(_ live: LivePresentation, base: String, suffix: String = "") -> String {
        var out = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        let audio = live.tracks.filter { $0.kind == .audio }
        for (i, a) in audio.enumerated() {
            out += "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"\(a.trackName)-\(a.bitrate)\",DEFAULT=\(i == 0 ? "YES" : "NO"),"
                + "AUTOSELECT=YES,URI=\"\(base)-\(a.token).m3u8\(suffix)\"\n"
        }
        let audioBitrate = audio.map(\.bitrate).max() ?? 0
        for v in live.tracks where v.kind == .video {
            let codecs = ([v.codecs] + (audio.first.map { [$0.codecs] } ?? [])).filter { !$0.isEmpty }.joined(separator: ",")
            out += "#EXT-X-STREAM-INF:BANDWIDTH=\(v.bitrate &+ audioBitrate),CODECS=\"\(codecs)\""
            if v.width > 0, v.height > 0 { out += ",RESOLUTION=\(v.width)x\(v.height)" }
            if !audio.isEmpty { out += ",AUDIO=\"audio\"" }
            out += "\n\(base)-\(v.token).m3u8\(suffix)\n"
        }
        return out
    }

    /// A sliding-window media playlist: no ENDLIST while live; the media sequence is the first
    /// fragment's place in the store (segment N is always fragment N-1), so it only grows.
    static func media(_ track: LivePresentation.Track, _ window: LiveWindow, periods: LivePeriods = LivePeriods(before: 0, inside: []),
                      base: String, suffix: String = "") -> String {
        let scale = Int64(max(track.timescale, 1))
        let longest = window.fragments.map { Int64(clamping: $0.duration) }.max() ?? scale
        var out = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        // RFC 8216 4.3.3.1: each EXTINF rounded to the nearest integer is at most the target. Rounding
        // up instead gave AAC's 2.005 s fragments a target of 3 beside video's 2, and players that
        // start a live playlist three targets before its end then start audio and video apart.
        out += "#EXT-X-TARGETDURATION:\(max(1, (longest + scale / 2) / scale))\n"
        out += "#EXT-X-MEDIA-SEQUENCE:\(window.firstIndex + 1)\n"
        if periods.before > 0 { out += "#EXT-X-DISCONTINUITY-SEQUENCE:\(periods.before)\n" }
        if !suffix.isEmpty { out += "#EXT-X-PLAYLIST-TYPE:VOD\n" }
        out += "#EXT-X-MAP:URI=\"\(base)-\(track.token).m4s\"\n"
        if let first = window.fragments.first {
            // The encoder's clock is not known: the first fragment began about its duration before it was stored.
            let millis = Int64(clamping: first.ingestMillis) &- Int64(clamping: first.duration) &* 1000 / scale
            out += "#EXT-X-PROGRAM-DATE-TIME:\(iso8601(millis: millis))\n"
        }
        for (i, f) in window.fragments.enumerated() {
            // An encoder reconnect with restart_on_encoder_reconnect (LivePeriods).
            if periods.inside.contains(window.firstIndex + i) {
                let millis = Int64(clamping: f.ingestMillis) &- Int64(clamping: f.duration) &* 1000 / scale
                out += "#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:\(iso8601(millis: millis))\n"
            }
            let millis = Int64(clamping: f.duration) &* 1000 / scale
            out += "#EXTINF:\(millis / 1000).\(pad(millis % 1000, 3)),\n\(base)-\(track.token)-\(window.firstIndex + i + 1).m4s\(suffix)\n"
        }
        return out
    }

    /// `2026-12-07T22:44:14.115Z` (days to civil date: H. Hinnant's algorithm).
    static func iso8601(millis: Int64) -> String {
        let ms = ((millis % 1000) + 1000) % 1000
        let seconds = (millis - ms) / 1000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):"
            + "\(pad(secondOfDay % 60, 2)).\(pad(ms, 3))Z"
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
