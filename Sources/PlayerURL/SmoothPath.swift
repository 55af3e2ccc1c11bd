import ByteIO

/// The Smooth Streaming part of the virtual path grammar (MS-SSTR §2.2.2):
///
/// - `Manifest` (any letter case): the client manifest;
/// - `QualityLevels(<bitrate>)/Fragments(<trackName>=<time>)`: one fragment, where `<bitrate>` is
///   the track's `systemBitrate` and `<time>` its start in 10 MHz units. MS-SSTR allows extra
///   `,<key>=<value>` attributes after the bitrate (custom attributes); they are accepted and ignored.
///
/// Nouns are matched without regard to letter case; track names must match exactly.
enum SmoothPath {
    /// Returns nil when `bytes` (the UTF-8 of `path`) is not a Smooth path at all, so the other
    /// grammars can try it.
    static let qualityLevels: StaticString = "qualitylevels("

    /// Whether `bytes` starts like a fragment path (`QualityLevels(`, any letter case).
    static func isFragmentName(_ bytes: [UInt8]) -> Bool {
        bytes.count > qualityLevels.utf8CodeUnitCount && PathBytes.hasPrefix(bytes[...], qualityLevels, ignoringCase: true)
    }

    static func parse(_ bytes: [UInt8], path: String, trackNames: Set<String>) throws(PlayerURLError) -> PlayerRequest? {
        if PathBytes.equals(bytes[...], "manifest", ignoringCase: true) { return .smoothManifest }
        guard isFragmentName(bytes) else { return nil }
        var rest = bytes[qualityLevels.utf8CodeUnitCount...]

        // <bitrate>[,key=value...])
        guard let close = rest.firstIndex(of: UInt8(ascii: ")")) else {
            throw .malformed("QualityLevels( without a closing parenthesis in \(Sanitized.text(path))")
        }
        let inside = rest[..<close]
        let bitrateDigits = inside.prefix { $0 != UInt8(ascii: ",") }
        let bitrate = try number(bitrateDigits, what: "bitrate", path: path)
        guard let bitrateValue = Int(exactly: bitrate) else { throw .malformed("bitrate out of range in \(Sanitized.text(path))") }
        rest = rest[(close + 1)...]

        let fragments: StaticString = "/fragments("
        guard rest.count > fragments.utf8CodeUnitCount, PathBytes.hasPrefix(rest, fragments, ignoringCase: true) else {
            throw .unknownPath(path)
        }
        rest = rest.dropFirst(fragments.utf8CodeUnitCount)
        guard rest.last == UInt8(ascii: ")") else {
            throw .malformed("Fragments( without a closing parenthesis in \(Sanitized.text(path))")
        }
        rest = rest.dropLast()
        // The time follows the last `=`.
        guard let eq = rest.lastIndex(of: UInt8(ascii: "=")) else {
            throw .malformed("Fragments(<name>=<time>) expected in \(Sanitized.text(path))")
        }
        let name = String(decoding: rest[..<eq], as: UTF8.self)
        let time = try number(rest[(eq + 1)...], what: "time", path: path)
        guard !name.isEmpty else { throw .malformed("fragment without a track name in \(Sanitized.text(path))") }
        guard trackNames.contains(name) else { throw .unknownTrack("\(name)=\(bitrateValue)") }
        return .smoothFragment(bitrate: bitrateValue, name: name, time: time)
    }

    /// A non-negative decimal of at most ``VirtualPath/maxNumberDigits`` digits.
    private static func number(_ digits: ArraySlice<UInt8>, what: String, path: String) throws(PlayerURLError) -> Int64 {
        guard let value = PathBytes.decimal(digits, maxDigits: VirtualPath.maxNumberDigits) else {
            throw .malformed("\(what) must be a decimal number of at most \(VirtualPath.maxNumberDigits) digits in \(Sanitized.text(path))")
        }
        return value
    }
}
