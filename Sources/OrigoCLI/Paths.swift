#if canImport(Glibc)
import Glibc
#endif

/// File-system path helpers for the CLI (no Foundation).
enum Paths {
    /// The directory part of a path (`.` when it has none, `/` for files in the root).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The canonical absolute path of an existing file or directory (symlinks resolved).
    static func real(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func components(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: true)
    }

    /// `target` relative to `directory` (both absolute and canonical), e.g. `../media/a.mp4`.
    /// Returns nil when they share nothing but the root, where an absolute path reads better.
    static func relative(_ target: String, from directory: String) -> String? {
        let to = components(target)
        let from = components(directory)
        var common = 0
        while common < to.count, common < from.count, to[common] == from[common] { common += 1 }
        guard common > 0 else { return nil }
        let ups = Array(repeating: "..", count: from.count - common)
        return (ups + to[common...].map(String.init)).joined(separator: "/")
    }

    /// How a manifest at `manifestPath` should name `input` in `src`: relative to the manifest's
    /// directory when both are on a common branch of the tree, else absolute.
    static func source(for input: String, manifestPath: String) throws(CLIError) -> String {
        guard let absoluteInput = real(input) else { throw .failed("cannot resolve \(input)") }
        let manifestDirectory = directory(of: manifestPath)
        guard let absoluteDirectory = real(manifestDirectory) else {
            throw .failed("output directory \(manifestDirectory) does not exist")
        }
        return relative(absoluteInput, from: absoluteDirectory) ?? absoluteInput
    }

    /// Writes `bytes` to a temporary file next to `path` and renames it into place, so a reader
    /// never sees a half-written manifest.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(CLIError) {
        let temporary = path + ".tmp\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .failed("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { buffer -> Int in
            guard let base = buffer.baseAddress else { return 0 }
            var done = 0
            while done < buffer.count {
                let n = write(fd, base + done, buffer.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                done += n
            }
            return done
        }
        let closed = close(fd) == 0
        guard written == bytes.count, closed, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .failed("cannot write \(path): \(reason)")
        }
    }
}
