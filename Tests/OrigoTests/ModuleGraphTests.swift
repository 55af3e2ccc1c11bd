import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The output formats stay apart: each reads the media model (and the URL grammar, XML, bytes),
/// never another format or a container writer; the engine composes them. Checked on the package
/// graph and on every import line of the formats' sources.
@Suite struct ModuleGraphTests {
    static let formats = ["HLS", "DASH", "Smooth", "HDS"]
    static let allowed: Set<String> = ["ByteIO", "MediaModel", "PlayerURL", "XML"]

    static var root: String {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) }
        return path
    }

    static func read(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The quoted names in the `dependencies: [...]` of `.target(name: "<target>", ...)`.
    static func dependencies(of target: String, in manifest: String) -> [String]? {
        guard let start = manifest.firstRange(of: ".target(name: \"\(target)\"") else { return nil }
        let rest = manifest[start.upperBound...]
        guard let close = rest.firstIndex(of: ")") else { return nil }
        let declaration = rest[..<close]
        guard let open = declaration.firstRange(of: "dependencies: [") else { return [] }
        let list = declaration[open.upperBound...].prefix { $0 != "]" }
        return list.split(separator: ",").map { $0.trimmingCharacters(in: " \n\"") }.filter { !$0.isEmpty }
    }

    @Test func formatTargetsDependOnNoOtherFormat() throws {
        let manifest = try #require(Self.read(Self.root + "/Package.swift"))
        for format in Self.formats {
            let deps = try #require(Self.dependencies(of: format, in: manifest), "no target \(format) in Package.swift")
            #expect(Set(deps).isSubset(of: Self.allowed), "\(format) depends on \(deps)")
        }
    }

    @Test func formatSourcesImportNoOtherFormat() throws {
        for format in Self.formats {
            let directory = Self.root + "/Sources/" + format
            let dir = try #require(opendir(directory))
            defer { closedir(dir) }
            var files = 0
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard name.hasSuffix(".swift"), let text = Self.read(directory + "/" + name) else { continue }
                files += 1
                for line in text.split(separator: "\n") where line.hasPrefix("import ") {
                    let module = String(line.dropFirst("import ".count)).trimmingCharacters(in: " ")
                    #expect(Self.allowed.contains(module) || !Self.isOurs(module), "\(format)/\(name): \(line)")
                }
            }
            #expect(files > 0)
        }
    }

    /// Modules of this package (Glibc, Synchronization and the like are not).
    static func isOurs(_ module: String) -> Bool {
        ["ByteIO", "MediaModel", "ISOBMFF", "MPEGTS", "XML", "ServerManifest", "PlayerURL", "Subtitles", "HLS", "DASH",
         "Smooth", "HDS", "Storage", "Engine", "CMappedGuard", "CEngineAPI"].contains(module)
    }
}

private extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let drop = Set(set)
        var s = Substring(self)
        while let f = s.first, drop.contains(f) { s = s.dropFirst() }
        while let l = s.last, drop.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
