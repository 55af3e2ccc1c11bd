import ByteIO
import CMappedGuard
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A whole local file mapped read-only and shared by the requests of a process, so sample bytes
/// can be copied from the page cache straight to where they go (one copy fewer than `pread`).
///
/// A mapped file that shrinks underneath raises SIGBUS when a page beyond its new end is touched.
/// Read a mapping only inside a ``MappedReadGuard`` section that guards it: such a page then reads
/// as zeros and the section reports the fault, so the response is dropped instead of the process.
public final class MappedFile: @unchecked Sendable {
    public let identity: FileIdentity
    /// The file's bytes (empty for an empty file).
    public let bytes: UnsafeRawBufferPointer
    /// Set (by the SIGBUS handler) once pages of the mapping have been replaced with zeros: it no
    /// longer shows the file, for any thread.
    let poison: UnsafeMutablePointer<Int32>

    /// Maps the file `expected` names, which must still be what it describes (same size and
    /// modification time): the index the caller reads by was built from that file. Nil when the
    /// system refuses the mapping (address space, map count, a file system without mmap): the
    /// caller reads the file instead.
    init?(_ expected: FileIdentity) throws(StorageError) {
        let (fd, actual) = try LocalFile.open(expected.path)
        defer { close(fd) }
        guard actual == expected else {
            throw StorageError(code: .changed, path: expected.path, detail: "changed since it was indexed")
        }
        identity = actual
        if actual.size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
        } else {
            guard actual.size <= UInt64(Int.max), let base = mmap(nil, Int(actual.size), PROT_READ, MAP_SHARED, fd, 0),
                  base != MAP_FAILED else { return nil }
            bytes = UnsafeRawBufferPointer(start: base, count: Int(actual.size))
        }
        poison = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        poison.initialize(to: 0)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
        poison.deallocate()
    }

    /// Whether pages of the mapping read as zeros because the file shrank (see ``poison``).
    var isPoisoned: Bool { origo_guard_poisoned(poison) != 0 }

    /// The `count` bytes at `offset`; throws when they are not all inside the file.
    public func slice(at offset: UInt64, count: Int) throws(StorageError) -> UnsafeRawBufferPointer {
        try LocalFile.checkRange(identity.path, offset: offset, count: count, size: UInt64(bytes.count))
        return UnsafeRawBufferPointer(rebasing: bytes[Int(offset)..<(Int(offset) + count)])
    }

    /// The process's mappings.
    static let table = MappedFileTable(maxBytes: 16 << 30, idleSeconds: 60)

    /// The process's mapping of `identity`, mapped on first use; nil when SIGBUS cannot be
    /// guarded here or the file cannot be mapped (then read it with `pread`).
    public static func shared(_ identity: FileIdentity) throws(StorageError) -> MappedFile? {
        guard MappedReadGuard.available else { return nil }
        return try table.file(identity)
    }

    /// Drops the process's mapping of `identity` (its file was found shorter than mapped).
    public static func forget(_ identity: FileIdentity) { table.remove(identity) }

    /// Drops mappings no request has read for a while, when that is due (every few seconds; a
    /// clock read otherwise): call it from every request, so a process that no longer reads a
    /// deleted file gives its space back.
    public static func sweepIfDue() { table.sweepIfDue() }
}

/// The mappings of a process: one per path, of the file as it was last asked for (a changed file
/// replaces its old mapping), least recently used ones dropped beyond `maxBytes` of address space,
/// and any left unused for `idleSeconds` dropped too, so a deleted or replaced file's space is
/// given back to the file system once no request reads it.
final class MappedFileTable: @unchecked Sendable {
    private struct Entry {
        let file: MappedFile
        /// Monotonic seconds of the last use (idle expiry) and its rank among uses (LRU order).
        var lastUse: Int64
        var rank: UInt64
    }

    private var entries: [String: Entry] = [:]
    private var mappedBytes = 0
    /// When the next idle sweep is due (monotonic seconds), read without the lock by ``sweepIfDue()``.
    private let nextSweep = Atomic<Int64>(0)
    private var uses: UInt64 = 0
    private let maxBytes: Int
    /// Each mapping is a memory area of the process (`vm.max_map_count`, 65530 by default).
    private let maxEntries: Int
    private let idleSeconds: Int64
    private let lock = Lock()

    init(maxBytes: Int, maxEntries: Int = 4096, idleSeconds: Int64) {
        self.maxBytes = maxBytes
        self.maxEntries = maxEntries
        self.idleSeconds = idleSeconds
    }

    private func locked<T>(_ body: () -> T) -> T {
        lock.locked(body)
    }

    static func now() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &t)
        return Int64(t.tv_sec)
    }

    var count: Int { locked { entries.count } }

    func contains(_ identity: FileIdentity) -> Bool { locked { entries[identity.path]?.file.identity == identity } }

    func file(_ identity: FileIdentity) throws(StorageError) -> MappedFile? {
        let now = Self.now()
        // What is dropped is unmapped when its last reference goes: after the lock is released.
        var dropped: [MappedFile] = []
        let hit: MappedFile? = locked {
            guard let entry = entries[identity.path], entry.file.identity == identity, !entry.file.isPoisoned else {
                return nil
            }
            uses &+= 1
            entries[identity.path]?.lastUse = now
            entries[identity.path]?.rank = uses
            dropped = evict(now: now)
            return entry.file
        }
        if let hit { return hit }
        // Mapped outside the lock; a request that mapped the same file meanwhile wins.
        guard let file = try MappedFile(identity) else { return nil }
        let chosen: MappedFile = locked {
            if let entry = entries[identity.path], entry.file.identity == identity, !entry.file.isPoisoned {
                return entry.file
            }
            if let old = drop(identity.path) { dropped.append(old) }
            uses &+= 1
            entries[identity.path] = Entry(file: file, lastUse: now, rank: uses)
            mappedBytes &+= file.bytes.count
            dropped += evict(now: now)
            return file
        }
        return chosen  // `dropped` goes here, unlocked
    }

    func remove(_ identity: FileIdentity) {
        let dropped: MappedFile? = locked {
            guard entries[identity.path]?.file.identity == identity else { return nil }
            return drop(identity.path)
        }
        _ = dropped  // unmapped here, unlocked
    }

    /// Takes the mapping of `path` out of the table (lock held); it is unmapped once released.
    private func drop(_ path: String) -> MappedFile? {
        guard let old = entries.removeValue(forKey: path) else { return nil }
        mappedBytes &-= old.file.bytes.count
        return old.file
    }

    /// Drops idle mappings (looked for at most every 5 seconds) and, beyond `maxBytes`, the least
    /// recently used. Called with the lock held; returns what it dropped.
    private func evict(now: Int64) -> [MappedFile] {
        let over = { self.mappedBytes > self.maxBytes || self.entries.count > self.maxEntries }
        let sweepDue = now >= nextSweep.load(ordering: .relaxed)
        guard sweepDue || over() else { return [] }
        var dropped: [MappedFile] = []
        if sweepDue {
            nextSweep.store(now &+ 5, ordering: .relaxed)
            for (path, entry) in entries where now &- entry.lastUse > idleSeconds {
                if let old = drop(path) { dropped.append(old) }
            }
        }
        while over(), entries.count > 1, let oldest = entries.min(by: { $0.value.rank < $1.value.rank }) {
            if let old = drop(oldest.key) { dropped.append(old) }
        }
        return dropped
    }

    func sweepIfDue() {
        let now = Self.now()
        guard now >= nextSweep.load(ordering: .relaxed) else { return }
        sweep(now: now)
    }

    /// Runs the idle sweep as of `now`, if it is due then (a lookup runs it too).
    func sweep(now: Int64 = MappedFileTable.now()) {
        let dropped: [MappedFile] = locked { evict(now: now) }
        _ = dropped  // unmapped here, unlocked
    }
}

/// A section of one thread's work that reads mapped files (see ``MappedFile``): begin it, add
/// every mapping before reading it, and end it before using what was read.
public enum MappedReadGuard {
    /// Whether the SIGBUS handler is installed (once per process, on first use).
    static let available: Bool = origo_guard_install() == 0

    /// Starts a section on this thread.
    public static func begin() { origo_guard_begin() }

    /// Counts every page fault the guard answers (a file shrank under a reader) at `counter`, a
    /// counter possibly shared with other processes; nil stops counting.
    public static func countFaults(at counter: UnsafeMutablePointer<UInt64>?) {
        origo_guard_count_faults(counter)
    }

    /// Guards reads of `file` until ``end(reading:)``; false when it cannot be guarded (read it otherwise).
    public static func add(_ file: MappedFile) -> Bool {
        guard let base = file.bytes.baseAddress else { return true }
        return origo_guard_add(base, file.bytes.count, file.poison) == 0
    }

    /// Ends the section. When a guarded file shrank while it was read, by this thread or any other
    /// (pages past its new end read as zeros), the process's mappings of `files` (those the
    /// section read) are dropped, so the next request maps the file as it is now, and the error
    /// says what happened.
    public static func end(reading files: [MappedFile]) throws(StorageError) {
        guard origo_guard_end() != 0 else { return }
        for file in files { MappedFile.forget(file.identity) }
        throw StorageError(code: .changed, path: files.map(\.identity.path).sorted().joined(separator: ", "),
                           detail: "shrank while it was read")
    }
}
