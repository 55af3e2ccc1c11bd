import CEngineAPI
import Storage

/// The status counters this process adds to (`origo_engine_counter` in `origo_engine.h`): an
/// array the module shares between all processes of the server, so that one scrape of the status
/// endpoint sees the sum over every child. Nothing is counted until ``attach(_:)``.
final class SharedCounters: @unchecked Sendable {
    /// Set in ``attach(_:)``, which the module calls before the process takes requests and after
    /// its last one; read by every request without a lock.
    private var base: UnsafeMutablePointer<UInt64>?

    var isAttached: Bool { base != nil }

    func attach(_ counters: UnsafeMutablePointer<UInt64>?) {
        base = counters
        MappedReadGuard.countFaults(at: counters.map { $0 + Int(ORIGO_COUNTER_MAPPED_FILE_FAULTS.rawValue) })
    }

    func add(_ counter: origo_engine_counter, _ delta: Int) {
        guard let base else { return }
        origo_counter_add(base + Int(counter.rawValue), Int64(delta))
    }

    /// Counts one cache's lookups, evictions and contents.
    struct Cache: CacheObserver {
        let counters: SharedCounters
        let hits, misses, evictions, bytes, entries: origo_engine_counter

        func lookedUp(hit: Bool) {
            counters.add(hit ? hits : misses, 1)
        }

        func changed(entries count: Int, cost: Int, evicted: Int) {
            counters.add(entries, count)
            counters.add(bytes, cost)
            if evicted != 0 { counters.add(evictions, evicted) }
        }
    }

    var indexCache: Cache {
        Cache(counters: self, hits: ORIGO_COUNTER_INDEX_CACHE_HITS, misses: ORIGO_COUNTER_INDEX_CACHE_MISSES,
              evictions: ORIGO_COUNTER_INDEX_CACHE_EVICTIONS, bytes: ORIGO_COUNTER_INDEX_CACHE_BYTES,
              entries: ORIGO_COUNTER_INDEX_CACHE_ENTRIES)
    }

    var presentationCache: Cache {
        Cache(counters: self, hits: ORIGO_COUNTER_PRESENTATION_CACHE_HITS,
              misses: ORIGO_COUNTER_PRESENTATION_CACHE_MISSES, evictions: ORIGO_COUNTER_PRESENTATION_CACHE_EVICTIONS,
              bytes: ORIGO_COUNTER_PRESENTATION_CACHE_BYTES, entries: ORIGO_COUNTER_PRESENTATION_CACHE_ENTRIES)
    }
}
