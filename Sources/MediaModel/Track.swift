import ByteIO

public enum TrackKind: String, Sendable, Hashable {
    case video, audio, text
}

/// One elementary stream, as read from a source file: codec, timing and the sample index.
/// Output formats read this, never the source container.
public struct Track: Sendable {
    /// Track id in the source file (`tkhd`/`tfhd` track_ID).
    public var trackID: UInt32
    public var kind: TrackKind
    /// Units per second of every time in ``samples`` (`mdhd` timescale).
    public var timescale: UInt32
    /// ISO 639-2/T code from `mdhd` (`und` when unset).
    public var language: String
    /// Sample entry type from `stsd`: `avc1`, `avc3`, `hvc1`, `hev1`, `mp4a`, `ac-3`, `ec-3`, `stpp`, `wvtt`, …
    public var sampleEntryType: String
    /// The whole first `stsd` entry, box header included, so init segments can carry it verbatim.
    public var sampleEntry: [UInt8]
    public var codec: CodecConfiguration
    /// Display size for video (from the sample entry, else `tkhd`); 0 for other kinds.
    public var width: Int
    public var height: Int
    /// Sampling rate and channel count for audio; 0 for other kinds.
    public var sampleRate: Int
    public var channels: Int
    public var samples: SampleTable {
        didSet { minimumCompositionOffset = samples.compositionOffsets.min() ?? 0 }
    }
    /// The media time (track timescale) presented at presentation time zero, from the edit list:
    /// `presentation time = decode time + composition offset - presentationOffset`.
    public var presentationOffset: Int64
    /// Locator (local path or URL) of the object holding the sample bytes; sample offsets are absolute in it.
    public var dataSource: String
    /// Sample bytes held in memory (text tracks built from sidecar subtitle files): when set,
    /// sample offsets index into these bytes and ``dataSource`` only names the track's origin.
    public var inlineData: [UInt8]? = nil
    /// How the samples are encrypted when the source encrypted them (``sampleEntry`` is then
    /// `encv`/`enca`, ``sampleEntryType`` the codec's own type), nil for clear samples.
    public var protection: SourceProtection? = nil
    /// Where sample 0 is in the track as its source has it (a subclip starts later): what stays
    /// the same for a sample in every view, e.g. for IVs that must never repeat under one key.
    public var sourceSampleBase: Int = 0
    /// The smallest composition offset of any sample (0 without B-frames), kept up to date with
    /// ``samples`` so that per-request code never scans the table for it.
    public private(set) var minimumCompositionOffset: Int32

    public init(trackID: UInt32, kind: TrackKind, timescale: UInt32, language: String,
                sampleEntryType: String, sampleEntry: [UInt8], codec: CodecConfiguration,
                width: Int = 0, height: Int = 0, sampleRate: Int = 0, channels: Int = 0,
                samples: SampleTable, presentationOffset: Int64 = 0, dataSource: String) {
        self.trackID = trackID
        self.kind = kind
        self.timescale = timescale
        self.language = language
        self.sampleEntryType = sampleEntryType
        self.sampleEntry = sampleEntry
        self.codec = codec
        self.width = width
        self.height = height
        self.sampleRate = sampleRate
        self.channels = channels
        self.samples = samples
        self.presentationOffset = presentationOffset
        self.dataSource = dataSource
        self.minimumCompositionOffset = samples.compositionOffsets.min() ?? 0
    }

    /// Presentation time of sample `index` in the track timescale.
    public func presentationTime(of index: Int) -> Int64 {
        samples.decodeTimes[index] &+ Int64(samples.compositionOffset(index)) &- presentationOffset
    }

    /// The bytes of sample `index` when they are held in memory (see ``inlineData``), else nil.
    public func inlineSample(_ index: Int) -> ArraySlice<UInt8>? {
        guard let data = inlineData, index >= 0, index < samples.count else { return nil }
        let offset = samples.offsets[index], size = UInt64(samples.sizes[index])
        guard offset <= UInt64(data.count), size <= UInt64(data.count) - offset else { return [] }
        return data[Int(offset)..<Int(offset + size)]
    }

    /// Total duration in the track timescale (sum of sample durations).
    public var duration: Int64 { samples.totalDuration }

    /// Average bitrate in bits per second over the whole track.
    public var averageBitrate: Int {
        let seconds = Double(duration) / Double(max(timescale, 1))
        guard seconds > 0 else { return 0 }
        return Bitrate.clamped(Double(samples.totalSize) * 8 / seconds)
    }

    /// Approximate bytes this track keeps in memory (sample table and sample entry).
    public var memoryFootprint: Int {
        samples.memoryFootprint &+ sampleEntry.count &+ (inlineData?.count ?? 0) &+ (protection?.samples.memoryFootprint ?? 0) &+ 256
    }
}

/// Codec configuration parsed from the sample entry, as the output formats need it.
public enum CodecConfiguration: Sendable {
    case avc(AVCConfiguration)
    case hevc(HEVCConfiguration)
    case aac(AACConfiguration)
    /// AC-3 (`dac3` payload) or E-AC-3 (`dec3` payload), kept raw.
    case ac3(specific: [UInt8])
    case eac3(specific: [UInt8])
    /// Anything else (text, unknown codecs): carried through, not transcoded.
    case other
}

/// `avcC` (ISO/IEC 14496-15 AVCDecoderConfigurationRecord).
public struct AVCConfiguration: Sendable, Equatable {
    public var profile: UInt8
    public var compatibility: UInt8
    public var level: UInt8
    /// Bytes per NAL unit length prefix in samples (1, 2 or 4).
    public var nalLengthSize: Int
    public var sps: [[UInt8]]
    public var pps: [[UInt8]]
    public init(profile: UInt8, compatibility: UInt8, level: UInt8, nalLengthSize: Int, sps: [[UInt8]], pps: [[UInt8]]) {
        self.profile = profile
        self.compatibility = compatibility
        self.level = level
        self.nalLengthSize = nalLengthSize
        self.sps = sps
        self.pps = pps
    }
}

/// `hvcC` (HEVCDecoderConfigurationRecord): the fields RFC 6381 codec strings need plus parameter sets.
public struct HEVCConfiguration: Sendable, Equatable {
    public var profileSpace: UInt8
    public var tierFlag: Bool
    public var profileIDC: UInt8
    public var profileCompatibilityFlags: UInt32
    /// The six constraint indicator bytes.
    public var constraintFlags: [UInt8]
    public var levelIDC: UInt8
    public var nalLengthSize: Int
    /// Parameter set NAL units (VPS, SPS, PPS, SEI) in record order, each without length prefix.
    public var parameterSets: [[UInt8]]
    public init(profileSpace: UInt8, tierFlag: Bool, profileIDC: UInt8, profileCompatibilityFlags: UInt32,
                constraintFlags: [UInt8], levelIDC: UInt8, nalLengthSize: Int, parameterSets: [[UInt8]]) {
        self.profileSpace = profileSpace
        self.tierFlag = tierFlag
        self.profileIDC = profileIDC
        self.profileCompatibilityFlags = profileCompatibilityFlags
        self.constraintFlags = constraintFlags
        self.levelIDC = levelIDC
        self.nalLengthSize = nalLengthSize
        self.parameterSets = parameterSets
    }
}

/// AAC AudioSpecificConfig (from `esds`).
public struct AACConfiguration: Sendable, Equatable {
    /// Audio object type: 2 = AAC-LC, 5 = HE-AAC (SBR), 29 = HE-AACv2 (PS).
    public var objectType: UInt8
    public var samplingFrequencyIndex: UInt8
    public var sampleRate: Int
    public var channelConfiguration: UInt8
    /// The raw AudioSpecificConfig bytes.
    public var specificConfig: [UInt8]
    public init(objectType: UInt8, samplingFrequencyIndex: UInt8, sampleRate: Int, channelConfiguration: UInt8, specificConfig: [UInt8]) {
        self.objectType = objectType
        self.samplingFrequencyIndex = samplingFrequencyIndex
        self.sampleRate = sampleRate
        self.channelConfiguration = channelConfiguration
        self.specificConfig = specificConfig
    }
}
