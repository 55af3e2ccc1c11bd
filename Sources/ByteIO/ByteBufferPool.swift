#if canImport(Glibc)
import Glibc
#endif

/// Byte arrays kept between requests for output that must be copied (a TS segment and its PES
/// scratch), so the next request writes into memory that is already allocated and mapped instead
/// of asking malloc for megabytes again.
///
/// Safety does not depend on the caller: a buffer given back while something else still holds it
/// (a response Apache is still sending) is shared, and the next taker that writes to it gets a
/// fresh copy by copy-on-write instead of writing over the bytes in flight. Give
/// buffers back after the last other reference is gone and they are reused without a copy.
///
/// Bounded: at most ``maxBuffers`` buffers and ``maxRetainedBytes`` of capacity are kept; a buffer
/// that would not fit is dropped (freed).
public final class ByteBufferPool: @unchecked Sendable {
    public let maxBuffers: Int
    public let maxRetainedBytes: Int

    private var free: [[UInt8]] = []
    private var retained = 0
    private let lock = Lock()

    public init(maxBuffers: Int, maxRetainedBytes: Int) {
        self.maxBuffers = max(0, maxBuffers)
        self.maxRetainedBytes = max(0, maxRetainedBytes)
    }

    /// An empty buffer with room for at least `minimumCapacity` bytes: the smallest kept buffer
    /// that is large enough, else the largest kept one (grown), else a new one.
    public func take(minimumCapacity: Int = 0) -> [UInt8] {
        var buffer = pop(minimum: minimumCapacity, byCount: false) ?? []
        buffer.removeAll(keepingCapacity: true)
        buffer.reserveCapacity(max(0, minimumCapacity))
        return buffer
    }

    /// A kept buffer as it is, stale bytes included, for a writer that overwrites what it uses and
    /// cuts off the rest (its count is what is initialized: writing within it costs no zeroing):
    /// the one with the smallest count of at least `minimumCount`, else the one with the largest.
    /// Empty when none is kept.
    public func takeForOverwrite(minimumCount: Int) -> [UInt8] {
        pop(minimum: minimumCount, byCount: true) ?? []
    }

    /// Keeps `buffer` for a later ``take(minimumCapacity:)`` if the bounds allow; its contents
    /// are not looked at.
    public func give(_ buffer: consuming [UInt8]) {
        let capacity = buffer.capacity
        guard capacity > 0 else { return }
        let kept = consume buffer
        lock.locked {
            guard free.count < maxBuffers, capacity <= maxRetainedBytes &- retained else { return }
            retained &+= capacity
            free.append(kept)
        }
    }

    /// Buffers kept and their total capacity (for tests and the benchmark).
    public var kept: (count: Int, bytes: Int) {
        lock.locked { (free.count, retained) }
    }

    /// Takes the kept buffer that fits `minimum` best, by count or by capacity.
    private func pop(minimum: Int, byCount: Bool) -> [UInt8]? {
        lock.locked { () -> [UInt8]? in
            guard !free.isEmpty else { return nil }
            var best = 0
            for i in free.indices.dropFirst() {
                let candidate = byCount ? free[i].count : free[i].capacity
                let current = byCount ? free[best].count : free[best].capacity
                let fits = candidate >= minimum, currentFits = current >= minimum
                // A fitting buffer beats one that does not; among fitting ones the smallest wins,
                // among too-small ones the largest (it grows least).
                if fits != currentFits ? fits : (fits ? candidate < current : candidate > current) { best = i }
            }
            free.swapAt(best, free.count - 1)
            let buffer = free.removeLast()
            retained &-= buffer.capacity
            return buffer
        }
    }
}
