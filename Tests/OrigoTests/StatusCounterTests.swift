import ByteIO
import CEngineAPI
@testable import Engine
import PlayerURL
@testable import Storage
import Testing

/// What the engine adds to the status endpoint's shared counters (`origo_engine_counter`), and
/// how it names the output format of a path.
@Suite struct StatusCounterTests {
    /// Counts everything a cache reports, like the engine's shared counters do.
    final class Tally: CacheObserver, @unchecked Sendable {
        private let lock = Lock()
        private var values = (hits: 0, misses: 0, entries: 0, cost: 0, evictions: 0)
        var snapshot: (hits: Int, misses: Int, entries: Int, cost: Int, evictions: Int) { lock.locked { values } }

        func lookedUp(hit: Bool) {
            lock.locked { if hit { values.hits += 1 } else { values.misses += 1 } }
        }

        func changed(entries: Int, cost: Int, evicted: Int) {
            lock.locked {
                values.entries += entries
                values.cost += cost
                values.evictions += evicted
            }
        }
    }

    @Test func aCacheReportsLookupsAndEveryWayAnEntryComesAndGoes() {
        let tally = Tally()
        let cache = BoundedCache<String, Int>(capacity: 10, observer: tally)
        #expect(cache.value(for: "a") == nil)
        cache.insert(1, for: "a", cost: 4)
        cache.insert(2, for: "b", cost: 4)
        #expect(cache.value(for: "a") == 1)
        cache.insert(3, for: "c", cost: 4)            // evicts "b"
        cache.insert(4, for: "a", cost: 3)            // replaces "a"
        var s = tally.snapshot
        #expect(s.hits == 1 && s.misses == 1 && s.evictions == 1)
        #expect(s.entries == cache.count && s.cost == cache.cost && s.cost == 7)
        cache.remove("c")
        cache.setCapacity(1)                          // evicts "a"
        s = tally.snapshot
        #expect(s.entries == 0 && s.cost == 0 && s.evictions == 2)

        cache.setCapacity(100)
        cache.insert(5, for: "d", cost: 9)
        cache.announceContents(arriving: false)
        #expect(tally.snapshot.entries == 0 && tally.snapshot.cost == 0)
        cache.announceContents(arriving: true)
        #expect(tally.snapshot.entries == 1 && tally.snapshot.cost == 9)
        cache.removeAll()
        #expect(tally.snapshot.entries == 0 && tally.snapshot.cost == 0 && tally.snapshot.evictions == 2)
    }

    func counter(_ array: UnsafeMutablePointer<UInt64>, _ c: origo_engine_counter) -> Int64 {
        Int64(bitPattern: array[Int(c.rawValue)])
    }

    @Test func theEngineCountsItsCachesAndWithdrawsItsGaugesWhenDetached() throws {
        let array = UnsafeMutablePointer<UInt64>.allocate(capacity: Int(ORIGO_ENGINE_COUNTERS.rawValue))
        array.initialize(repeating: 0, count: Int(ORIGO_ENGINE_COUNTERS.rawValue))
        defer { array.deallocate() }
        let counters = SharedCounters()
        let loader = PresentationLoader(indexCacheBytes: 1 << 26, presentationCacheBytes: 1 << 26, counters: counters)
        let engine = Engine(loader: loader, counters: counters)
        let movie = Fixtures.path("progressive.mp4")
        func get(_ path: String) -> Int {
            engine.handle(EngineRequest(method: "GET", manifestPath: movie, virtualPath: path, query: nil)).status
        }

        #expect(get(".m3u8") == 200)                  // before attaching: nothing is counted
        engine.configure(counters: array)
        // What the caches already held arrives in the gauges.
        #expect(counter(array, ORIGO_COUNTER_PRESENTATION_CACHE_ENTRIES) == 1)
        #expect(counter(array, ORIGO_COUNTER_INDEX_CACHE_ENTRIES) == 1)
        #expect(counter(array, ORIGO_COUNTER_PRESENTATION_CACHE_MISSES) == 0)
        #expect(get(".mpd") == 200)
        #expect(get("Manifest") == 200)
        #expect(counter(array, ORIGO_COUNTER_PRESENTATION_CACHE_HITS) == 2)
        #expect(counter(array, ORIGO_COUNTER_PRESENTATION_CACHE_MISSES) == 0)
        #expect(counter(array, ORIGO_COUNTER_PRESENTATION_CACHE_BYTES) == Int64(loader.cacheUse.presentationBytes))
        #expect(counter(array, ORIGO_COUNTER_INDEX_CACHE_BYTES) == Int64(loader.cacheUse.indexBytes))
        #expect(loader.cacheUse.indexBytes > 0)

        // A cache too small for the presentation: evicted, and missed on every request.
        engine.configure(indexCacheBytes: 1 << 26, presentationCacheBytes: 1)
        #expect(counter(array, ORIGO_COUNTER_PRESENTATION_CACHE_EVICTIONS) == 1)
        #expect(counter(array, ORIGO_COUNTER_PRESENTATION_CACHE_ENTRIES) == 0)
        #expect(get(".mpd") == 200)
        #expect(counter(array, ORIGO_COUNTER_PRESENTATION_CACHE_MISSES) == 1)
        #expect(counter(array, ORIGO_COUNTER_INDEX_CACHE_HITS) == 1)  // the index was still cached

        engine.configure(counters: nil)
        #expect(counter(array, ORIGO_COUNTER_INDEX_CACHE_ENTRIES) == 0)
        #expect(counter(array, ORIGO_COUNTER_INDEX_CACHE_BYTES) == 0)
        #expect(counter(array, ORIGO_COUNTER_PRESENTATION_CACHE_BYTES) == 0)
        #expect(counter(array, ORIGO_COUNTER_PRESENTATION_CACHE_HITS) == 2)  // counters stay
        #expect(get(".mpd") == 200)
        #expect(counter(array, ORIGO_COUNTER_PRESENTATION_CACHE_MISSES) == 1)
    }

    func format(_ path: String) -> OutputFormat? {
        var bytes = Array(path.utf8)
        return bytes.withUnsafeMutableBufferPointer { OutputFormat(virtualPath: UnsafeBufferPointer($0)) }
    }

    @Test func theFormatOfAPathComesFromItsShapeAlone() {
        #expect(format(".m3u8") == .hls)
        #expect(format("movie-video=1000-audio=64.m3u8") == .hls)
        #expect(format("nosuchtrack=1-7.ts") == .hls)
        #expect(format("x-video=1-3.m4s") == .hls)
        #expect(format("x-text=1-3.webvtt") == .hls)
        #expect(format("keyframes/x-video=1.m3u8") == .hls)
        #expect(format(".mpd") == .dash)
        #expect(format("x-video=1-n4.dash") == .dash)
        #expect(format("Manifest") == .smooth)
        #expect(format("manifest") == .smooth)
        #expect(format("QualityLevels(100)/Fragments(video=0)") == .smooth)
        #expect(format("x.f4m") == .hds)
        #expect(format("x-video=1-Seg1-Frag3") == .hds)
        #expect(format("") == nil)
        #expect(format("x.mp4") == nil)
        #expect(format("a/b.m3u8") == nil)
        #expect(format("noextension") == nil)
        #expect(format("x.M3U8") == nil)                // extensions are matched as the grammar does
    }
}
