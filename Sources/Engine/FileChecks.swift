import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How long local files found unchanged are trusted by requests that read nothing from them
/// (`origo_request.file_check_interval_ms`): a warm manifest then costs no `stat` per source.
public struct FileCheckInterval: Sendable, Equatable {
    /// 0: every request.
    public let milliseconds: Int64

    public static let `default` = FileCheckInterval(exactly: 1000)
    public static let everyRequest = FileCheckInterval(exactly: 0)

    public init(exactly milliseconds: Int64) {
        self.milliseconds = max(0, milliseconds)
    }

    /// The ABI's convention: 0 is the default, a negative value every request.
    public init(milliseconds: Int32) {
        self = milliseconds == 0 ? .default : FileCheckInterval(exactly: Int64(milliseconds))
    }

    static func monotonicMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) &* 1000 &+ Int64(ts.tv_nsec) / 1_000_000
    }
}

/// When a set of files was last found unchanged, shared by every thread that asks.
final class RecentCheck: Sendable {
    /// Monotonic milliseconds of the last check that passed; -1: none yet.
    private let passedAt: Atomic<Int64>

    init(passedAt: Int64 = -1) {
        self.passedAt = Atomic(passedAt)
    }

    /// Whether the files are unchanged: trusted without `check` while the last pass is younger
    /// than `interval`; otherwise `check` decides, and a pass is remembered.
    func passes(now: Int64, within interval: FileCheckInterval, _ check: () throws -> Bool) rethrows -> Bool {
        let last = passedAt.load(ordering: .relaxed)
        if interval.milliseconds > 0, last >= 0, now >= last, now &- last < interval.milliseconds {
            return true
        }
        guard try check() else { return false }
        passedAt.store(now, ordering: .relaxed)
        return true
    }
}
