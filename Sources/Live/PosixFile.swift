#if canImport(Glibc)
import Glibc
#endif

/// An open file descriptor with the few calls the store needs; closed when it goes away.
struct PosixFile: ~Copyable {
    let fd: Int32
    let path: String

    init(path: String, flags: Int32, mode: mode_t = 0o644) throws(LiveIngestError) {
        let fd = open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .storage("cannot open \(path): \(PosixFile.errorText())") }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    func size() throws(LiveIngestError) -> UInt64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .storage("cannot stat \(path): \(PosixFile.errorText())") }
        return UInt64(clamping: st.st_size)
    }

    /// Reads exactly `count` bytes at `offset`.
    func read(at offset: UInt64, count: Int) throws(LiveIngestError) -> [UInt8] {
        guard count >= 0, offset <= UInt64(Int64.max) else { throw .storage("read outside \(path)") }
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return pread(fd, base + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .storage("short read of \(path) at \(offset)") }
            done += n
        }
        return out
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ bytes: [UInt8], at offset: UInt64) throws(LiveIngestError) {
        guard offset <= UInt64(Int64.max) else { throw .storage("write outside \(path)") }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return pwrite(fd, base + done, bytes.count - done, off_t(offset) + off_t(done))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .storage("cannot write \(path): \(PosixFile.errorText())") }
            done += n
        }
    }

    func truncate(to size: UInt64) throws(LiveIngestError) {
        guard ftruncate(fd, off_t(clamping: size)) == 0 else { throw .storage("cannot truncate \(path): \(PosixFile.errorText())") }
    }

    /// An exclusive advisory lock, without waiting; false when another open file holds it.
    func tryLock() -> Bool { flock(fd, LOCK_EX | LOCK_NB) == 0 }
    /// An advisory lock (exclusive, or shared with other shared holders), waiting for it.
    func lock(shared: Bool = false) -> Bool {
        while flock(fd, shared ? LOCK_SH : LOCK_EX) != 0 { if errno != EINTR { return false } }
        return true
    }
    func unlock() { _ = flock(fd, LOCK_UN) }

    static func errorText() -> String { String(cString: strerror(errno)) }
}

extension String {
    /// The parent directory of a path ("." for a bare name).
    var parentDirectory: String {
        guard let slash = lastIndex(of: "/") else { return "." }
        return slash == startIndex ? "/" : String(self[..<slash])
    }
}

/// Creates a directory if it does not exist yet.
func makeDirectory(_ path: String) throws(LiveIngestError) {
    if mkdir(path, 0o755) != 0 && errno != EEXIST {
        throw .storage("cannot create \(path): \(PosixFile.errorText())")
    }
}

/// Writes a whole file under a temporary name and renames it over `path`: readers see the old
/// file or the new one, never a part.
func replaceFile(_ path: String, with bytes: [UInt8]) throws(LiveIngestError) {
    let temporary = path + ".tmp\(getpid())"
    do {
        let file = try PosixFile(path: temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
        try file.write(bytes, at: 0)
    }
    guard rename(temporary, path) == 0 else {
        let why = PosixFile.errorText()
        unlink(temporary)
        throw .storage("cannot rename \(temporary) to \(path): \(why)")
    }
}

/// The whole of a small file, nil when it does not exist.
func readWholeFile(_ path: String, limit: UInt64) throws(LiveIngestError) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 && errno == ENOENT { return nil }
    close(fd)
    let file = try PosixFile(path: path, flags: O_RDONLY)
    let size = try file.size()
    guard size <= limit else { throw .storage("\(path) is \(size) bytes (at most \(limit))") }
    return try file.read(at: 0, count: Int(size))
}
