import MediaModel

/// The samples of one track that go into a segment.
public struct TSInput: Sendable {
    public var track: Track
    /// Indices into `track.samples`.
    public var samples: Range<Int>

    public init(track: Track, samples: Range<Int>) {
        self.track = track
        self.samples = samples
    }
}

/// The 4-bit continuity counters of every PID a segment writes: the value the *next* packet with
/// payload on that PID carries. Segments written one after another with the counters of the previous
/// one (``TransportStreamWriter/continuityAfter(inputs:start:)``) form one gapless stream.
public struct TSContinuity: Sendable, Equatable {
    public var pat: UInt8
    public var pmt: UInt8
    public var video: UInt8
    public var audio: UInt8

    public init(pat: UInt8, pmt: UInt8, video: UInt8, audio: UInt8) {
        self.pat = pat & 0x0F
        self.pmt = pmt & 0x0F
        self.video = video & 0x0F
        self.audio = audio & 0x0F
    }

    /// Every counter at zero: the state before the first segment.
    public static let zero = TSContinuity(pat: 0, pmt: 0, video: 0, audio: 0)

    /// `counter` advanced by `packets` packets, modulo 16.
    static func advance(_ counter: UInt8, by packets: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: (Int(counter) &+ (packets & 0x0F)) & 0x0F)
    }
}
