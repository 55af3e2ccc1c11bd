#if canImport(Glibc)
import Glibc
#endif

/// The one lock of the engine: a pthread mutex around a closure. Shared state (caches, buffer
/// pools, mappings, remote readers) is touched by Apache's worker threads only through it; the
/// design notes measured `Synchronization.Mutex` degrading badly with more threads than cores.
///
/// `locked` is inlinable so that callers in other modules (the caches' lookups, per request) get
/// it specialized.
public final class Lock: @unchecked Sendable {
    @usableFromInline let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the mutex held (never re-entered: `body` must not take this lock again).
    @inlinable
    public func locked<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
