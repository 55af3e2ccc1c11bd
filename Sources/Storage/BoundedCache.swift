import ByteIO

/// Told what a ``BoundedCache`` does, for counters an operator reads (the engine's status
/// counters). Called with the cache's lock held: keep it to a few atomic additions.
public protocol CacheObserver: Sendable {
    /// A lookup found its entry (`hit`) or did not.
    func lookedUp(hit: Bool)
    /// Entries and their cost came (positive) or went (negative); `evicted` counts entries
    /// dropped to make room.
    func changed(entries: Int, cost: Int, evicted: Int)
}

/// A thread-safe least-recently-used cache bounded by a total cost (bytes, roughly).
///
/// Shared by Apache's worker threads, behind the engine's ``ByteIO/Lock``. Values are immutable
/// snapshots; a lookup hands out a reference and never blocks on parsing (parse outside the lock,
/// then insert).
///
/// The lookup and insert paths are `@inlinable` so that callers in other modules get them
/// specialized for their key and value types (an unspecialized generic lookup costs a metadata
/// lookup and boxed hashing on every request).
public final class BoundedCache<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    @usableFromInline
    struct Entry {
        @usableFromInline var value: Value
        @usableFromInline var cost: Int
        @usableFromInline var lastUse: UInt64

        @usableFromInline
        init(value: Value, cost: Int, lastUse: UInt64) {
            self.value = value
            self.cost = cost
            self.lastUse = lastUse
        }
    }

    @usableFromInline var entries: [Key: Entry] = [:]
    @usableFromInline var totalCost = 0
    @usableFromInline var clock: UInt64 = 0
    @usableFromInline let lock = Lock()
    @usableFromInline var bound: Int

    @usableFromInline var hitCount = 0
    @usableFromInline var missCount = 0
    @usableFromInline var evictionCount = 0
    @usableFromInline let observer: (any CacheObserver)?

    public var hits: Int { locked { hitCount } }
    public var misses: Int { locked { missCount } }
    public var evictions: Int { locked { evictionCount } }

    public init(capacity: Int, observer: (any CacheObserver)? = nil) {
        bound = max(capacity, 0)
        self.observer = observer
    }

    @inlinable
    func locked<T>(_ body: () -> T) -> T {
        lock.locked(body)
    }

    @inlinable
    public func value(for key: Key) -> Value? {
        locked {
            clock &+= 1
            guard let index = entries.index(forKey: key) else {
                missCount += 1
                observer?.lookedUp(hit: false)
                return nil
            }
            hitCount += 1
            observer?.lookedUp(hit: true)
            entries.values[index].lastUse = clock
            return entries.values[index].value
        }
    }

    /// Inserts `value`; evicts the least recently used entries until the total fits. A value
    /// costing more than the whole capacity is not kept.
    @inlinable
    public func insert(_ value: Value, for key: Key, cost: Int) {
        locked {
            guard cost <= bound else { return }
            clock &+= 1
            if let old = entries.removeValue(forKey: key) { dropped(old.cost) }
            evict(toFit: bound - cost)
            entries[key] = Entry(value: value, cost: cost, lastUse: clock)
            totalCost += cost
            observer?.changed(entries: 1, cost: cost, evicted: 0)
        }
    }

    /// Accounts for an entry of `cost` that left the cache (lock held).
    @usableFromInline
    func dropped(_ cost: Int, evicted: Bool = false) {
        totalCost -= cost
        observer?.changed(entries: -1, cost: -cost, evicted: evicted ? 1 : 0)
    }

    /// Changes the bound; entries beyond it are evicted, least recently used first.
    public func setCapacity(_ newCapacity: Int) {
        locked {
            bound = max(newCapacity, 0)
            evict(toFit: bound)
        }
    }

    /// Evicts least recently used entries until the total cost is at most `limit` (lock held).
    @usableFromInline
    func evict(toFit limit: Int) {
        while totalCost > limit, let victim = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            entries.removeValue(forKey: victim.key)
            dropped(victim.value.cost, evicted: true)
            evictionCount += 1
        }
    }

    /// Tells the observer about every entry held as if it came now (`arriving`) or went: for an
    /// observer that starts or stops counting while the cache holds entries.
    public func announceContents(arriving: Bool) {
        locked {
            let sign = arriving ? 1 : -1
            observer?.changed(entries: sign * entries.count, cost: sign * totalCost, evicted: 0)
        }
    }

    /// Forgets the entry for `key`, if any.
    public func remove(_ key: Key) {
        locked {
            if let old = entries.removeValue(forKey: key) { dropped(old.cost) }
        }
    }

    public func removeAll() {
        locked {
            observer?.changed(entries: -entries.count, cost: -totalCost, evicted: 0)
            entries.removeAll()
            totalCost = 0
        }
    }

    /// The bound on the total cost.
    public var capacity: Int { locked { bound } }
    public var count: Int { locked { entries.count } }
    public var cost: Int { locked { totalCost } }
}
