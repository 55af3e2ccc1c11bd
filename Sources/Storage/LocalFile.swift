import ByteIO
#if canImport(Glibc)
import Glibc
#endif

/// Identity of a stored object at one moment: caches are keyed by it, so a changed file is re-read.
/// For an upstream object `path` is its URL and `mtimeSeconds` its Last-Modified.
public struct FileIdentity: Hashable, Sendable {
    public let path: String
    public let size: UInt64
    /// Modification time, seconds and nanoseconds.
    public let mtimeSeconds: Int64
    public let mtimeNanoseconds: Int64
    /// The upstream ETag (remote objects; empty for local files).
    public var etag: String = ""

    public init(path: String, size: UInt64, mtimeSeconds: Int64, mtimeNanoseconds: Int64, etag: String = "") {
        self.path = path
        self.size = size
        self.mtimeSeconds = mtimeSeconds
        self.mtimeNanoseconds = mtimeNanoseconds
        self.etag = etag
    }

    /// The same with its modification time cut to whole microseconds.
    public var inMicroseconds: FileIdentity {
        FileIdentity(path: path, size: size, mtimeSeconds: mtimeSeconds,
                     mtimeNanoseconds: mtimeNanoseconds - mtimeNanoseconds % 1000, etag: etag)
    }
}

public struct StorageError: StatusCodedError, Equatable {
    public enum Code: Sendable, Equatable { case notFound, notAFile, unreadable, shortRead, changed }
    public let code: Code
    public let path: String
    public let detail: String

    public var httpStatus: Int {
        switch code {
        case .notFound, .notAFile: 404
        case .unreadable: 403
        case .shortRead: 500
        case .changed: 503
        }
    }
    public var logReason: String {
        switch code {
        case .notFound: "file not found: \(path)"
        case .notAFile: "not a regular file: \(path)"
        case .unreadable: "cannot read \(path): \(detail)"
        case .shortRead: "short read from \(path): \(detail)"
        case .changed: "\(path) \(detail)"
        }
    }
}

public enum LocalFile {
    /// `stat(2)` of a regular file.
    public static func identity(of path: String) throws(StorageError) -> FileIdentity {
        var st = stat()
        guard stat(path, &st) == 0 else { throw failure(path, errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw StorageError(code: .notAFile, path: path, detail: "") }
        return identity(path, st)
    }

    /// Opens a regular file for reading: its descriptor (the caller closes it) and its identity
    /// as opened.
    static func open(_ path: String) throws(StorageError) -> (fd: Int32, identity: FileIdentity) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(path, errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw StorageError(code: .notAFile, path: path, detail: "")
        }
        return (fd, identity(path, st))
    }

    private static func identity(_ path: String, _ st: stat) -> FileIdentity {
        FileIdentity(path: path, size: UInt64(clamping: st.st_size),
                     mtimeSeconds: Int64(st.st_mtim.tv_sec), mtimeNanoseconds: Int64(st.st_mtim.tv_nsec))
    }

    /// Throws unless the `count` bytes at `offset` all lie inside a file of `size` bytes.
    static func checkRange(_ path: String, offset: UInt64, count: Int, size: UInt64) throws(StorageError) {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw StorageError(code: .shortRead, path: path, detail: "\(count) bytes at \(offset) beyond size \(size)")
        }
    }

    /// A failed `stat` or `open` of `path`: missing (404) or not readable (403).
    private static func failure(_ path: String, errno e: Int32) -> StorageError {
        StorageError(code: e == ENOENT || e == ENOTDIR ? .notFound : .unreadable, path: path,
                     detail: String(cString: strerror(e)))
    }

    /// Reads a whole (small) file, such as a server manifest, up to `limit` bytes.
    public static func contents(of path: String, limit: Int) throws(StorageError) -> [UInt8] {
        let reader = try LocalFileReader(path: path)
        guard reader.size <= UInt64(limit) else {
            throw StorageError(code: .unreadable, path: path, detail: "larger than \(limit) bytes")
        }
        do { return try reader.read(at: 0, count: Int(reader.size)) } catch {
            throw StorageError(code: .shortRead, path: path, detail: "\(error)")
        }
    }
}

/// Reads a local file with `pread(2)`: safe from any thread, no shared file position, and
/// (unlike mmap) a file truncated underneath gives an error instead of SIGBUS.
public final class LocalFileReader: RandomAccessReader, @unchecked Sendable {
    public let path: String
    public let size: UInt64
    private let fd: Int32

    public init(path: String) throws(StorageError) {
        let (fd, identity) = try LocalFile.open(path)
        self.fd = fd
        self.path = path
        self.size = identity.size
    }

    deinit { close(fd) }

    public func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        try LocalFile.checkRange(path, offset: offset, count: count, size: size)
        if count == 0 { return [] }
        let fd = self.fd
        var done = 0
        // Uninitialized storage: pread fills it, so the bytes are not zeroed first.
        let result = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            guard let base = buffer.baseAddress else { return }
            while done < count {
                let n = pread(fd, base + done, count - done, off_t(offset) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                done += n
            }
            // Whatever pread did not fill is zeroed, so the array never exposes uninitialized memory.
            if done < count { (base + done).initialize(repeating: 0, count: count - done) }
            initialized = count
        }
        guard done == count else {
            throw StorageError(code: .shortRead, path: path, detail: "\(count - done) bytes missing at \(offset + UInt64(done))")
        }
        return result
    }
}
