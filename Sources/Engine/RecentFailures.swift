import ByteIO
import Storage

/// Remote presentations that failed to load a moment ago, by presentation key.
///
/// A broken or missing object upstream would otherwise cost a full round of upstream reads on
/// every request for it; for a few seconds the same answer is given again without asking.
/// Failures that a second attempt can cure (an object that changed while it was read) are not
/// remembered.
final class RecentFailures: Sendable {
    private struct Failure: Sendable {
        let status: Int
        let reason: String
        let until: Int64
    }

    /// The answer given again, with what the first attempt logged.
    struct Remembered: StatusCodedError {
        let httpStatus: Int
        let first: String
        var logReason: String { first + " (remembered for a few seconds)" }
    }

    private let seconds: Int64
    private let entries = BoundedCache<String, Failure>(capacity: 1 << 20)

    init(seconds: Int64) {
        self.seconds = seconds
    }

    /// The value of `load`, or the failure it gave for `key` less than `seconds` ago.
    func remembering<T>(_ key: String, now: Int64, _ load: () throws -> T) throws -> T {
        if seconds > 0, let failure = entries.value(for: key) {
            if now < failure.until { throw Remembered(httpStatus: failure.status, first: failure.reason) }
            entries.remove(key)
        }
        do {
            return try load()
        } catch let error as UpstreamError where error.code == .changed {
            throw error
        } catch let error as any StatusCodedError {
            if seconds > 0 {
                let failure = Failure(status: error.httpStatus, reason: error.logReason, until: now &+ seconds)
                entries.insert(failure, for: key, cost: key.utf8.count + failure.reason.utf8.count + 64)
            }
            throw error
        }
    }

    func forget(_ key: String) {
        entries.remove(key)
    }
}
