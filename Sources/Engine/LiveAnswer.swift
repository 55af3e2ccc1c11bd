import ByteIO
import ISOBMFF
import Live
import MediaModel
import PlayerURL

/// Live playout from a publishing point's store (issue #17): HLS with fMP4 segments and dynamic
/// DASH (`LiveDASH`), a sliding window of `dvr_window_length` seconds. Every request reads the `.isml`
/// and the track's index afresh (a stat, a binary search and the window's records): new fragments
/// show up at once in every process. Other formats answer 501 until they are built.
enum LiveAnswer {
    static let playlistType = "application/vnd.apple.mpegurl"

    /// The answer for a live publishing point, nil when `manifestPath` is not one (no store).
    static func respond(_ request: EngineRequest) throws -> EngineResponse? {
        guard request.manifestPath.lowercased().hasSuffix(".isml"),
              let live = try LivePresentation.load(manifestPath: request.manifestPath) else { return nil }
        let names = Set(live.tracks.map(\.trackName))
        let route = try VirtualPath.parse(request.virtualPath, trackNames: names)
        let options = try LiveOptions(query: QueryOptions(raw: request.query), live: live)
        // What manifests list; media playlists and segments name their track.
        let listed = { () throws -> [LivePresentation.Track] in try options.selecting(live.tracks) }
        let base = baseName(request.manifestPath)
        let status = request.liveFragmentStatus
        let now = IngestSession.wallClockMillis()
        let catchup = try LiveCatchup(query: request.query)
        let catchupAnchor = try catchup == nil ? nil : LiveCatchup.anchor(live)
        /// A catch-up request's cut of the archive (nil: a live request).
        func catchupCut(_ track: LivePresentation.Track, _ index: borrowing FragmentIndexReader) throws -> LiveWindow? {
            guard let catchup, let catchupAnchor else { return nil }
            return try catchup.window(index: index, anchor: catchupAnchor, timescale: track.timescale)
        }
        /// What a manifest lists: the DVR window with the request's overrides, or the catch-up cut.
        func window(_ track: LivePresentation.Track, _ index: borrowing FragmentIndexReader) throws -> LiveWindow {
            try catchupCut(track, index) ?? options.window(index, track)
        }
        /// What a segment request is judged by: the publishing point's own window, or the catch-up cut.
        func servedWindow(_ track: LivePresentation.Track, _ index: borrowing FragmentIndexReader) throws -> LiveWindow {
            try catchupCut(track, index) ?? LiveWindow(index: index, dvrWindow: live.windowUnits(track))
        }
        // Segment URLs of a catch-up presentation keep its range.
        let suffix = catchup != nil ? "?" + (request.query ?? "") : ""
        switch route {
        case .hlsMaster:
            var response = AnswerContext.manifest(master(try listed(), base: base, query: request.query), type: playlistType)
            response.headers = LiveCaching.manifest(longestFragmentMillis: 2000)
            return response
        case .hlsMediaPlaylist(let tokens) where tokens.count == 1:
            let track = try find(live, tokens[0])
            let index = try FragmentIndexReader(path: track.indexPath)
            let window = try window(track, index)
            let periods = try LivePeriods(track: track, index: index, window: window)
            var text = media(track, window, periods: periods, base: base, suffix: suffix)
            if catchup != nil { text += "#EXT-X-ENDLIST\n" }
            var response = AnswerContext.manifest(text, type: playlistType)
            response.lastModified = Int64(clamping: (window.fragments.last?.ingestMillis ?? 0) / 1000)
            response.headers = LiveCaching.manifest(longestFragmentMillis: longestMillis(window, track))
            return response
        case .dashManifest where catchup != nil:
            return .error(501, "catch-up (vbegin/vend) is built for HLS only so far")
        case .dashManifest:
            var timelines: [LiveDASH.Timeline] = []
            var anchor: (record: FragmentRecord, timescale: UInt32)?
            for track in try listed() where track.kind != .textstream {
                guard let index = try? FragmentIndexReader(path: track.indexPath) else { continue }
                let window = try options.window(index, track)
                guard !window.fragments.isEmpty else { continue }
                if anchor == nil || track.kind == .video && timelines.allSatisfy({ $0.track.kind != .video }) {
                    anchor = (try index.record(at: 0), track.timescale)
                }
                timelines.append(LiveDASH.Timeline(track: track, window: window, offset: try decodeOffset(index),
                                                   first: try index.record(at: 0),
                                                   periods: try LivePeriods(track: track, index: index, window: window),
                                                   periodStarts: try LiveDASH.periodStarts(track: track, index: index)))
            }
            guard !timelines.isEmpty else { throw EngineError.notFound("the publishing point has no fragments yet") }
            let mpd = LiveDASH.mpd(live, timelines, anchor: anchor, base: base, nowMillis: now,
                                   windowSeconds: options.dvrWindowSeconds, numbered: options.dashNumbered,
                                   timeShiftSeconds: options.timeShiftSeconds)
            var response = AnswerContext.manifest(mpd, type: LiveDASH.mpdType)
            response.lastModified = Int64(clamping: (timelines.compactMap { $0.window.fragments.last?.ingestMillis }.max() ?? 0) / 1000)
            response.headers = LiveCaching.manifest(longestFragmentMillis: timelines.map { longestMillis($0.window, $0.track) }.max() ?? 2000)
            return response
        case .dashSegmentAtTime(let token, let time):
            let track = try find(live, token)
            let index = try FragmentIndexReader(path: track.indexPath)
            let window = try servedWindow(track, index)
            // URL times are decode times as served: the stored ones moved by the track's offset.
            let offset = try decodeOffset(index)
            let lookup = window.lookup(time: time &- offset)
            guard case .found(_, let record) = lookup else {
                return refusal(status.status(.mpd, lookup), lookup, "live segment at \(time)")
            }
            guard record.time &+ offset == time else {
                return refusal(status.status(.mpd, .missing), .missing,
                               "live segment at \(time) (the one at \(record.time &+ offset) is)")
            }
            return try segment(track, record: record, offset: offset, live: live, now: now)
        case .dashSegmentNumber(let token, let number), .hlsFMP4Segment(let token, let number):
            let track = try find(live, token)
            let index = try FragmentIndexReader(path: track.indexPath)
            let window = try servedWindow(track, index)
            // Segment N is fragment N-1 of the store, for as long as it is in the window.
            let lookup = window.lookup(index: number &- 1)
            guard case .found(_, let record) = lookup else {
                let format: LiveFragmentStatus.Format = if case .dashSegmentNumber = route { .mpd } else { .hls }
                return refusal(status.status(format, lookup), lookup, "live segment \(number)")
            }
            return try segment(track, record: record, offset: try decodeOffset(index), live: live, now: now)
        case .hlsInit(let token), .dashInit(let token):
            let track = try find(live, token)
            let movie = try LivePresentation.movie(headerPath: track.headerPath)
            guard let model = movie.track(track.trackID) else { throw EngineError.notFound("track \(track.trackID) is not in its stream's header") }
            let offset = try decodeOffset(FragmentIndexReader(path: track.indexPath))
            var response = AnswerContext.segment([.bytes(FragmentWriter.initSegment(for: model, mediaTimeOffset: offset))],
                                                 type: AnswerContext.mp4Type(model.kind))
            // It changes only with the stream's header (a reconnecting encoder may send a new one).
            response.headers = LiveCaching.manifest(longestFragmentMillis: Int64(live.dvrWindowSeconds) * 1000)
            return response
        case .smoothManifest where catchup != nil:
            return .error(501, "catch-up (vbegin/vend) is built for HLS only so far")
        case .smoothManifest:
            var streams: [LiveSmooth.Stream] = []
            for track in try listed() where track.kind != .textstream {
                guard let model = try? LivePresentation.movie(headerPath: track.headerPath).track(track.trackID) else { continue }
                if let i = streams.firstIndex(where: { $0.kind == track.kind && $0.trackName == track.trackName }) {
                    streams[i].tracks.append((track, model))
                    continue
                }
                guard let index = try? FragmentIndexReader(path: track.indexPath) else { continue }
                streams.append(LiveSmooth.Stream(kind: track.kind, trackName: track.trackName, tracks: [(track, model)],
                                                 window: try options.window(index, track)))
            }
            guard !streams.isEmpty else { throw EngineError.notFound("the publishing point has no fragments yet") }
            var response = AnswerContext.manifest(LiveSmooth.manifest(streams, windowSeconds: options.dvrWindowSeconds), type: "text/xml")
            response.lastModified = Int64(clamping: (streams.compactMap { $0.window.fragments.last?.ingestMillis }.max() ?? 0) / 1000)
            response.headers = LiveCaching.manifest(longestFragmentMillis: streams.map { longestMillis($0.window, $0.tracks[0].track) }.max() ?? 2000)
            return response
        case .smoothFragment(let bitrate, let name, let time):
            guard let track = live.tracks.first(where: { $0.trackName == name && $0.bitrate == bitrate }) else {
                throw EngineError.notFound("no live Smooth quality level \(bitrate) of \(Sanitized.text(name))")
            }
            let window = try LiveWindow(index: FragmentIndexReader(path: track.indexPath), dvrWindow: live.windowUnits(track))
            let lookup = time < 0 ? .notFound : window.lookup(time: time)
            guard case .found(_, let record) = lookup else {
                return refusal(status.status(.iss, lookup), lookup, "live Smooth fragment at \(time)")
            }
            guard record.time == time else {
                return refusal(status.status(.iss, .missing), .missing, "live Smooth fragment at \(time) (the one at \(record.time) is)")
            }
            // As stored: Smooth ingest's moof has the tfxd Smooth clients read.
            let stored = try LivePresentation.fragment(record, mediaPath: track.mediaPath)
            var response = AnswerContext.segment([.bytes(stored.moof), .file(locator: stored.mdatPath, offset: stored.mdatOffset,
                                                                             length: stored.mdatLength)],
                                                 type: AnswerContext.mp4Type(track.kind == .audio ? .audio : .video))
            response.lastModified = Int64(clamping: record.ingestMillis / 1000)
            response.headers = LiveCaching.segment(ingestMillis: record.ingestMillis, windowSeconds: live.dvrWindowSeconds, nowMillis: now)
            return response
        default:
            return .error(501, "live playout of \(Sanitized.text(request.virtualPath)) is not built yet (HLS fMP4, DASH and Smooth only)")
        }
    }

    /// A fragment request the window cannot answer, with the configured status.
    private static func refusal(_ status: Int?, _ lookup: LiveWindow.Lookup, _ what: String) -> EngineResponse {
        let reason = switch lookup {
        case .notFound: "has left the DVR window"
        case .missing: "is in a gap of the stream"
        case .notAvailable, .found: "is not there yet"
        }
        var response = EngineResponse.error(status ?? 404, "\(what) \(reason)")
        // An older-than-the-window answer stays true; the others change as fragments arrive.
        if lookup != .notFound { response.headers = LiveCaching.refusal }
        return response
    }

    private static func longestMillis(_ window: LiveWindow, _ track: LivePresentation.Track) -> Int64 {
        let scale = Int64(max(track.timescale, 1))
        return (window.fragments.map { Int64(clamping: $0.duration) }.max() ?? scale) &* 1000 / scale
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
    private static func segment(_ track: LivePresentation.Track, record: FragmentRecord, offset: Int64,
                                live: LivePresentation, now: UInt64) throws -> EngineResponse {
        let stored = try LivePresentation.fragment(record, mediaPath: track.mediaPath)
        let moof = try IngestMovie.moofWithDecodeTime(stored.moof, time: UInt64(clamping: record.time &+ offset)) ?? stored.moof
        let kind: TrackKind = track.kind == .audio ? .audio : track.kind == .video ? .video : .text
        var response = AnswerContext.segment([.bytes(moof), .file(locator: stored.mdatPath, offset: stored.mdatOffset,
                                                                  length: stored.mdatLength)],
                                             type: AnswerContext.mp4Type(kind))
        response.lastModified = Int64(clamping: record.ingestMillis / 1000)
        response.headers = LiveCaching.segment(ingestMillis: record.ingestMillis, windowSeconds: live.dvrWindowSeconds,
                                               nowMillis: now)
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

    /// The master playlist; media playlist URLs carry the request's query (its overrides and filters).
    static func master(_ tracks: [LivePresentation.Track], base: String, query: String? = nil) -> String {
        // Only a query that cannot end the quoted URI or the line is passed on.
        let passable = query.map { q in !q.isEmpty && q.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") } } ?? false
        let suffix = passable ? "?" + (query ?? "") : ""
        var out = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        let audio = tracks.filter { $0.kind == .audio }
        for (i, a) in audio.enumerated() {
            out += "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"\(a.trackName)-\(a.bitrate)\",DEFAULT=\(i == 0 ? "YES" : "NO"),"
                + "AUTOSELECT=YES,URI=\"\(base)-\(a.token).m3u8\(suffix)\"\n"
        }
        let audioBitrate = audio.map(\.bitrate).max() ?? 0
        for v in tracks where v.kind == .video {
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
