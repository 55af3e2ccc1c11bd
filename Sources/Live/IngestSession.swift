import ByteIO
import ISOBMFF
#if canImport(Glibc)
import Glibc
#endif

/// Bounds of one ingest connection.
public struct IngestLimits: Sendable, Equatable {
    /// The largest `moof` + `mdat` (and so the most one connection buffers).
    public var maxFragmentBytes: UInt64
    /// The largest header box (`ftyp`, `moov`, the live manifest box) and any box we skip.
    public var maxHeaderBytes: UInt64

    public init(maxFragmentBytes: UInt64 = 64 << 20, maxHeaderBytes: UInt64 = 1 << 20) {
        self.maxFragmentBytes = maxFragmentBytes
        self.maxHeaderBytes = maxHeaderBytes
    }
}

/// One ingest POST (Smooth Streaming ingest or DASH-IF CMAF ingest interface 1): bytes in as they
/// arrive, whole fragments committed to the stream's store. The first error stops the session
/// (every later call throws it again); what was committed before stays.
public final class IngestSession {
    public let path: IngestPath
    private let manifestPath: String
    private let limits: IngestLimits
    private let clock: () -> UInt64
    private var framing: BoxFraming
    private var store: StreamStore?
    private var failure: LiveIngestError?

    /// The header boxes seen so far in this connection (`ftyp`, live manifest box), in order.
    private var headerBoxes: [UInt8] = []
    private var names = AnnouncedTrackNames()
    private var movie: IngestMovie?
    private var pendingMoof: BoxFraming.Box?
    /// Where each track's last fragment ended (this session's or the store's), for fragments
    /// without a time of their own.
    private var ends: [UInt32: Int64] = [:]

    /// Opens the stream for writing. `clock` gives milliseconds since the epoch (tests pin it).
    public init(manifestPath: String, virtualPath: String, limits: IngestLimits = IngestLimits(),
                clock: @escaping () -> UInt64 = IngestSession.wallClockMillis) throws(LiveIngestError) {
        path = try IngestPath(virtualPath: virtualPath)
        self.manifestPath = manifestPath
        self.limits = limits
        self.clock = clock
        framing = BoxFraming()
        store = try StreamStore(manifestPath: manifestPath, stream: path.stream)
    }

    /// Takes the next bytes of the body.
    public func feed(_ bytes: UnsafeRawBufferPointer) throws(LiveIngestError) {
        if let failure { throw failure }
        do throws(LiveIngestError) {
            framing.append(bytes)
            while let box = try framing.next(maxBoxBytes: bound) { try take(box) }
        } catch {
            failure = error
            store = nil   // releases the stream's lock now, not when the module frees the session
            throw error
        }
    }

    public func feed(_ bytes: [UInt8]) throws(LiveIngestError) {
        // withUnsafeBytes rethrows untyped: carry the typed error out by hand.
        let error: LiveIngestError? = bytes.withUnsafeBytes { buffer in
            do throws(LiveIngestError) { try feed(buffer); return nil } catch { return error }
        }
        if let error { throw error }
    }

    /// Ends the body. `complete` is false when the client went away or stopped sending: what is in
    /// flight is dropped silently then. A complete body that ends inside a box is an error.
    public func finish(complete: Bool) throws(LiveIngestError) {
        defer { store = nil }
        if let failure { throw failure }
        guard complete else { return }
        if framing.pendingBytes > 0 {
            throw .brokenBox("the body ended inside a box (\(framing.pendingBytes) bytes left over)")
        }
        if pendingMoof != nil { throw .brokenBox("the body ended after a moof without its mdat") }
    }

    /// The largest box of a type taken now: a fragment's moof and mdat together stay within
    /// maxFragmentBytes, so at most that much of one is ever held.
    private func bound(_ type: String) -> UInt64 {
        switch type {
        case "moof": limits.maxFragmentBytes
        case "mdat": limits.maxFragmentBytes - min(UInt64(pendingMoof?.bytes.count ?? 0), limits.maxFragmentBytes)
        default: limits.maxHeaderBytes
        }
    }

    /// Fragments committed by this session, per track.
    public private(set) var committed: [UInt32: Int] = [:]
    /// Fragments this session received that another connection had stored already, per track.
    public private(set) var skipped: [UInt32: Int] = [:]
    /// Where this session's last fragment of each track ended.
    private var sessionEnds: [UInt32: Int64] = [:]
    /// The publishing point's options, read when the moov arrives.
    private var options = PublishingPoint.IngestOptions()

    private func take(_ box: BoxFraming.Box) throws(LiveIngestError) {
        if let moof = pendingMoof, box.type != "mdat" {
            throw .brokenBox("a moof of \(moof.bytes.count) bytes is followed by '\(box.type)', not its mdat")
        }
        switch box.type {
        case "ftyp", "styp":
            if box.type == "ftyp" { headerBoxes = box.bytes }
        case "uuid":
            // The extended type follows the 8-byte header.
            if Array(box.bytes[8..<24]) == AnnouncedTrackNames.manifestBoxUUID {
                // A full box: version and flags, then the SMIL document.
                names = AnnouncedTrackNames(smil: box.payload.dropFirst(4))
                headerBoxes += box.bytes
            }
        case "moov":
            try announce(box)
        case "moof":
            guard movie != nil else { throw .brokenBox("a moof before the moov") }
            pendingMoof = box
        case "mdat":
            guard let moof = pendingMoof else { throw .brokenBox("an mdat without a moof before it") }
            pendingMoof = nil
            try commit(moof: moof, mdat: box)
        default:
            // free, skip, sidx, prft, emsg, mfra, …: nothing the store needs (yet).
            break
        }
    }

    private func announce(_ moov: BoxFraming.Box) throws(LiveIngestError) {
        guard let store else { return }
        let movie = try Self.mapped { () throws(ISOBMFFError) in try IngestMovie(moovPayload: Array(moov.payload)) }
        let header = headerBoxes + moov.bytes
        let stored: [UInt32: Int64] = try store.committing { () throws(LiveIngestError) in
            // A stream keeps its tracks' codecs for life: compare with what an earlier connection stored.
            var known: [AnnouncedTrack] = self.movie?.tracks ?? []
            if known.isEmpty, let stored = try store.storedHeader(), let previous = Self.movie(inHeader: stored) {
                known = previous.tracks
            }
            for t in movie.tracks {
                if let before = known.first(where: { $0.trackID == t.trackID }), before.sampleEntry != t.sampleEntry {
                    throw .codecChanged(trackID: t.trackID, was: before.codecString, now: t.codecString)
                }
            }
            try store.storeHeader(header)
            var ends: [UInt32: Int64] = [:]
            for t in movie.tracks { ends[t.trackID] = try store.track(t.trackID).end }
            return ends
        }
        options = try PublishingPoint.announce(manifestPath: manifestPath, stream: path.stream, tracks: movie.tracks, names: names)
        for (id, end) in stored where ends[id] == nil { ends[id] = end }
        self.movie = movie
    }

    private func commit(moof: BoxFraming.Box, mdat: BoxFraming.Box) throws(LiveIngestError) {
        guard let movie, let store else { return }
        let moofPayload = Array(moof.payload)
        let id = try Self.mapped { () throws(ISOBMFFError) in try IngestMovie.trackID(moofPayload: moofPayload) }
        guard let id else { throw .brokenBox("a moof without a traf/tfhd") }
        guard movie.tracks.contains(where: { $0.trackID == id }) else { throw .unannouncedTrack(id) }
        let fragment = try Self.mapped { () throws(ISOBMFFError) in
            try movie.fragment(moofPayload: moofPayload, moofSize: UInt64(moof.bytes.count),
                               mdatHeaderSize: UInt64(mdat.headerSize), mdatPayloadSize: UInt64(mdat.payload.count),
                               previousEnd: ends)
        }
        // Within one connection time only goes forward; fragments another connection stored are skipped.
        if let own = sessionEnds[id], fragment.decodeTime < own {
            throw .timeWentBackwards(trackID: id, time: fragment.decodeTime, previousEnd: own)
        }
        let first = committed[id] == nil
        let restart = options.restartOnEncoderReconnect
        let archive = options.archive(timescale: movie.tracks.first { $0.trackID == id }?.timescale ?? 1)
        let appended = try store.committing { () throws(LiveIngestError) in
            try store.track(id).append(moof.bytes + mdat.bytes, fragment: fragment, ingestMillis: clock(),
                                       archive: archive) { storedEnd in
                // A reconnect that breaks the timeline starts a period; a contiguous one (a redundant
                // encoder taking over) does not.
                restart && first && storedEnd != fragment.decodeTime
            }
        }
        let end = fragment.decodeTime &+ Int64(clamping: fragment.duration)
        ends[id] = end
        sessionEnds[id] = end
        if appended { committed[id, default: 0] += 1 } else { skipped[id, default: 0] += 1 }
    }

    /// The moov of a stored header (ftyp, manifest box, moov), nil when it cannot be read.
    static func movie(inHeader bytes: [UInt8]) -> IngestMovie? {
        var framing = BoxFraming()
        bytes.withUnsafeBytes { framing.append($0) }
        while let box = try? framing.next(maxBoxBytes: { _ in 4 << 20 }) {
            if box.type == "moov" { return try? IngestMovie(moovPayload: Array(box.payload)) }
        }
        return nil
    }

    /// Errors of the box readers are the client's: 400 (415 for what we do not take, 413 for bounds).
    private static func mapped<T>(_ body: () throws(ISOBMFFError) -> T) throws(LiveIngestError) -> T {
        do {
            return try body()
        } catch {
            switch error {
            case .malformed: throw .brokenBox(error.logReason)
            case .unsupported(let what): throw .unsupported(what)
            case .limitExceeded(let what): throw .tooLarge(what)
            }
        }
    }

    public static func wallClockMillis() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(clamping: ts.tv_sec) &* 1000 &+ UInt64(clamping: ts.tv_nsec / 1_000_000)
    }
}
