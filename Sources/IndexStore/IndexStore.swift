import ByteIO
import ISOBMFF
#if canImport(Glibc)
import Glibc
#endif

/// The host's shared store of media indexes (`OrigoIndexCacheDir`, `docs/INDEX-STORE.md`): one
/// file per source version, written once by whichever process first parses the source and read
/// by every other process instead of parsing it.
///
/// Files are only ever published by `rename` of a finished temporary file and removed by
/// `unlink`, never written in place: a reader that has a file open or mapped keeps the bytes it
/// opened (no `SIGBUS` from a store file). A reader copies the columns out of a short-lived
/// read-only mapping after checking the whole file. The store stays under its size bound by
/// removing the least recently used files (each read sets the file's access time); a temporary
/// file older than ``staleTemporarySeconds`` is a crashed writer's and is removed too.
public final class IndexStore: @unchecked Sendable {
    public let directory: String
    public let capacityBytes: UInt64
    /// Largest store file read or written: bounds what one read maps.
    public static let maxFileBytes = 1 << 30
    static let staleTemporarySeconds = 300
    static let fileSuffix = ".oix"
    static let temporaryPrefix = ".tmp-"

    /// What happened to a lookup, for the counters.
    public enum Outcome: Sendable {
        case hit(MP4Index)
        case miss
        /// A file was there but not usable; the caller parses and writes a new one over it.
        case rejected(IndexStoreFile.Rejection)
    }

    private let lock = Lock()
    /// Writes since this process last measured the directory, and what it measured then.
    private var writesSinceScan = 0
    private var bytesSinceScan: UInt64 = 0
    private var measuredBytes: UInt64 = 0
    private var directoryReady = false
    private var sequence = 0

    public init(directory: String, capacityBytes: UInt64) {
        self.directory = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        self.capacityBytes = capacityBytes
    }

    /// The file that holds (or would hold) the index stored under `key`.
    public func path(for key: String) -> String {
        let h = StoreChecksum.of(key: key)
        var name = ""
        for shift in stride(from: 60, through: 0, by: -4) {
            name.append(String(UInt8(truncatingIfNeeded: h >> UInt64(shift)) & 0xF, radix: 16))
        }
        return directory + "/" + name + Self.fileSuffix
    }

    /// The index stored under `key`, when a valid file holds it.
    public func load(key: String, maxSamplesPerTrack: Int, maxSamplesPerFile: Int,
                     dataSource: (String?) throws -> String) -> Outcome {
        let file = path(for: key)
        let fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return .miss }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return .rejected(.foreign) }
        let size = Int(clamping: st.st_size)
        guard size >= IndexStoreFile.headerSize, size <= Self.maxFileBytes else { return .rejected(.damaged) }
        guard let base = mmap(nil, size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0), base != MAP_FAILED else {
            return .miss
        }
        defer { munmap(base, size) }
        // The access time is the LRU clock (set explicitly: `relatime` mounts would not).
        // UTIME_NOW and UTIME_OMIT (Linux's values; the macros do not reach Swift).
        var times = [timespec(tv_sec: 0, tv_nsec: (1 << 30) - 1), timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2)]
        _ = futimens(fd, &times)
        do {
            return .hit(try IndexStoreFile.decode(UnsafeRawBufferPointer(start: base, count: size), key: key,
                                                  maxSamplesPerTrack: maxSamplesPerTrack, maxSamplesPerFile: maxSamplesPerFile,
                                                  dataSource: dataSource))
        } catch let rejection as IndexStoreFile.Rejection {
            return .rejected(rejection)
        } catch {
            // The data reference no longer resolves: parse, which reports it.
            return .rejected(.malformed("data reference"))
        }
    }

    /// Publishes `index` under `key` (write a temporary file, then rename over any older one).
    /// Returns the number of files evicted to stay within the bound, or nil when nothing was
    /// written (an index that cannot be stored, or the directory is not writable).
    @discardableResult
    public func save(_ index: MP4Index, key: String) -> Int? {
        guard let bytes = IndexStoreFile.encode(index, key: key), bytes.count <= Self.maxFileBytes,
              UInt64(bytes.count) <= capacityBytes else { return nil }
        let serial: Int = lock.locked {
            sequence &+= 1
            return sequence
        }
        guard prepareDirectory() else { return nil }
        let temporary = directory + "/" + Self.temporaryPrefix + "\(getpid())-\(serial)-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { return nil }
        let written = bytes.withUnsafeBytes { raw -> Bool in
            var at = 0
            while at < raw.count {
                let n = write(fd, raw.baseAddress.map { $0 + at }, raw.count &- at)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                at &+= n
            }
            return true
        }
        close(fd)
        guard written, rename(temporary, path(for: key)) == 0 else {
            unlink(temporary)
            return nil
        }
        return afterWrite(bytes: UInt64(bytes.count))
    }

    private func prepareDirectory() -> Bool {
        if lock.locked({ directoryReady }) { return true }
        if mkdir(directory, 0o755) != 0 && errno != EEXIST { return false }
        lock.locked { directoryReady = true }
        return true
    }

    /// Measures the directory now and then, and trims it when over the bound: after 64 writes of
    /// this process, or when its own writes since the last measure could have crossed the bound.
    /// Other processes write too, so the directory can exceed the bound by what every process
    /// wrote since it last measured; each trims to 90 % when it measures.
    private func afterWrite(bytes: UInt64) -> Int {
        let due: Bool = lock.locked {
            writesSinceScan &+= 1
            bytesSinceScan &+= bytes
            return writesSinceScan >= 64 || measuredBytes &+ bytesSinceScan > capacityBytes
        }
        guard due else { return 0 }
        let (total, evicted) = trim()
        lock.locked {
            writesSinceScan = 0
            bytesSinceScan = 0
            measuredBytes = total
        }
        return evicted
    }

    /// Removes crashed writers' temporary files and, when the stored files exceed the bound, the
    /// least recently read ones down to 90 % of it. Returns the bytes left and the files removed.
    /// Safe while other processes read: an unlinked file stays readable to whoever opened it.
    @discardableResult
    public func trim() -> (bytes: UInt64, evicted: Int) {
        guard let dir = opendir(directory) else { return (0, 0) }
        var entries: [(path: String, size: UInt64, used: Int64)] = []
        var total: UInt64 = 0
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            let isTemporary = name.hasPrefix(Self.temporaryPrefix)
            guard isTemporary || name.hasSuffix(Self.fileSuffix) else { continue }
            let path = directory + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            if isTemporary {
                if Int64(now.tv_sec) &- Int64(st.st_mtim.tv_sec) > Int64(Self.staleTemporarySeconds) { unlink(path) }
                continue
            }
            let size = UInt64(clamping: st.st_size)
            total &+= size
            let atime = Int64(st.st_atim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_atim.tv_nsec)
            let mtime = Int64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_mtim.tv_nsec)
            entries.append((path, size, max(atime, mtime)))
        }
        closedir(dir)
        guard total > capacityBytes else { return (total, 0) }
        let target = capacityBytes / 10 &* 9
        var evicted = 0
        for entry in entries.sorted(by: { $0.used < $1.used }) where total > target {
            if unlink(entry.path) == 0 {
                total &-= entry.size
                evicted &+= 1
            }
        }
        return (total, evicted)
    }
}
