import Testing
@testable import Storage

@Suite struct BoundedCacheTests {
    @Test func evictsLeastRecentlyUsedBeyondTheBound() {
        let cache = BoundedCache<String, Int>(capacity: 10)
        cache.insert(1, for: "a", cost: 4)
        cache.insert(2, for: "b", cost: 4)
        #expect(cache.value(for: "a") == 1)      // "b" is now the least recently used
        cache.insert(3, for: "c", cost: 4)
        #expect(cache.value(for: "b") == nil)
        #expect(cache.value(for: "a") == 1 && cache.value(for: "c") == 3)
        #expect(cache.cost == 8)
    }

    @Test func aValueLargerThanTheBoundIsNotKept() {
        let cache = BoundedCache<String, Int>(capacity: 10)
        cache.insert(1, for: "big", cost: 11)
        #expect(cache.count == 0 && cache.cost == 0)
    }

    @Test func shrinkingTheBoundEvictsAndGrowingKeepsEverything() {
        let cache = BoundedCache<Int, Int>(capacity: 100)
        for k in 0..<10 { cache.insert(k, for: k, cost: 10) }
        _ = cache.value(for: 0)                  // 0 becomes the most recently used
        cache.setCapacity(30)
        #expect(cache.capacity == 30 && cache.cost <= 30 && cache.count == 3)
        #expect(cache.value(for: 0) == 0 && cache.value(for: 9) == 9 && cache.value(for: 8) == 8)
        cache.setCapacity(1000)
        #expect(cache.count == 3)
        cache.setCapacity(-5)
        #expect(cache.capacity == 0 && cache.count == 0)
    }
}
