import Testing
import MediaModel

/// Per-sample arrays used as the reference the compact columns must reproduce exactly.
private struct Reference {
    var decodeTimes: [Int64] = []
    var durations: [UInt32] = []
    var compositionOffsets: [Int32] = []
    var sizes: [UInt32] = []
    var offsets: [UInt64] = []
    var syncFlags: [Bool] = []
}

/// A deterministic pseudo-random generator (xorshift) so failures reproduce.
private struct Xorshift {
    var state: UInt64
    mutating func next(_ bound: UInt64) -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state % bound
    }
}

private func makeReference(count: Int, seed: UInt64, wideJumps: Bool) -> Reference {
    var rng = Xorshift(state: seed)
    var ref = Reference()
    var t: Int64 = Int64(rng.next(1000))
    var offset: UInt64 = 48
    var duration: UInt32 = 1024
    for i in 0..<count {
        if rng.next(20) == 0 { duration = UInt32(rng.next(3)) &* 512 }   // new run, sometimes zero
        if rng.next(50) == 0 { t &+= Int64(rng.next(90)) }                 // a gap in decode times
        let size = UInt32(rng.next(5000))
        if rng.next(10) == 0 { offset &+= rng.next(100_000) }              // a new chunk
        if wideJumps, i == count / 2 { offset &+= 10_000_000_000 }         // beyond 32-bit deltas
        ref.decodeTimes.append(t)
        ref.durations.append(duration)
        ref.compositionOffsets.append(Int32(rng.next(4)) * 512 - 512)
        ref.sizes.append(size)
        ref.offsets.append(offset)
        ref.syncFlags.append(i % 25 == 0)
        t &+= Int64(duration)
        offset &+= UInt64(size)
    }
    return ref
}

private func expectMatches(_ table: SampleTable, _ ref: Reference) {
    #expect(table.count == ref.sizes.count)
    #expect(Array(table.decodeTimes) == ref.decodeTimes)
    #expect(Array(table.durations) == ref.durations)
    #expect(table.compositionOffsets == ref.compositionOffsets)
    #expect(table.sizes == ref.sizes)
    #expect(Array(table.offsets) == ref.offsets)
    #expect(Array(table.syncFlags) == ref.syncFlags)
    #expect(table.decodeTimes.first == ref.decodeTimes.first && table.decodeTimes.last == ref.decodeTimes.last)
    for i in stride(from: 0, to: ref.sizes.count, by: 7) {
        #expect(table.decodeTimes[i] == ref.decodeTimes[i] && table.offsets[i] == ref.offsets[i])
        #expect(table.compositionOffset(i) == ref.compositionOffsets[i] && table.isSync(i) == ref.syncFlags[i])
    }
}

@Suite struct SampleTableTests {
    @Test(arguments: [false, true])
    func compactColumnsReproduceEveryValue(wideJumps: Bool) throws {
        let ref = makeReference(count: 5000, seed: 0x9E37_79B9_7F4A_7C15, wideJumps: wideJumps)
        var appended = SampleTable()
        for i in ref.sizes.indices {
            appended.append(decodeTime: ref.decodeTimes[i], duration: ref.durations[i],
                            compositionOffset: ref.compositionOffsets[i], size: ref.sizes[i],
                            offset: ref.offsets[i], isSync: ref.syncFlags[i])
        }
        try appended.validate()
        expectMatches(appended, ref)
        let fromArrays = SampleTable(decodeTimes: ref.decodeTimes, durations: ref.durations,
                                     compositionOffsets: ref.compositionOffsets, sizes: ref.sizes,
                                     offsets: ref.offsets, syncFlags: ref.syncFlags)
        expectMatches(fromArrays, ref)
        #expect(fromArrays == appended)
    }

    @Test func firstIndexMatchesLinearSearch() {
        let ref = makeReference(count: 3000, seed: 12345, wideJumps: false)
        let table = SampleTable(decodeTimes: ref.decodeTimes, durations: ref.durations, sizes: ref.sizes,
                                offsets: ref.offsets)
        guard let last = ref.decodeTimes.last else { return }
        for time in stride(from: Int64(-5), through: last + 600, by: 97) {
            let expected = ref.decodeTimes.firstIndex { $0 >= time } ?? ref.decodeTimes.count
            #expect(table.firstIndex(decodeTimeAtLeast: time) == expected)
        }
    }

    @Test func constantRateTrackIsOneRunAndDefaultsStayEmpty() throws {
        var table = SampleTable()
        for i in 0..<1000 {
            table.append(decodeTime: Int64(i) * 1024, duration: 1024, compositionOffset: 0,
                         size: 300, offset: UInt64(i) * 300, isSync: true)
        }
        try table.validate()
        #expect(table.compositionOffsets.isEmpty && table.syncFlags.isEmpty)
        #expect(table.totalDuration == 1000 * 1024 && table.totalSize == 300_000)
        #expect(table.durations.allSatisfy { $0 == 1024 } && table.decodeTimes[999] == 999 * 1024)
    }

    @Test func memoryFootprintCountsTheCompactColumns() {
        var plain = SampleTable(), full = SampleTable()
        for i in 0..<1000 {
            plain.append(decodeTime: Int64(i) * 1024, duration: 1024, compositionOffset: 0,
                         size: 300, offset: UInt64(i) * 300, isSync: true)
            full.append(decodeTime: Int64(i) * 1024, duration: 1024, compositionOffset: Int32(i % 3) * 1024,
                        size: 300, offset: UInt64(i) * 300, isSync: i % 48 == 0)
        }
        // One timing run, 4-byte sizes, 64-sample offset blocks of 4-byte deltas.
        #expect(plain.memoryFootprint == 20 + 4000 + 16 * 8 + 4000)
        // Plus 4-byte composition offsets and a 1-bit sync flag per sample.
        #expect(full.memoryFootprint == plain.memoryFootprint + 4000 + 16 * 8)
    }

    @Test func explicitDefaultColumnsAreKept() {
        let table = SampleTable(decodeTimes: [0, 10], durations: [10, 10], compositionOffsets: [0, 0],
                                sizes: [1, 2], offsets: [0, 1], syncFlags: [true, true])
        #expect(table.compositionOffsets == [0, 0])
        #expect(Array(table.syncFlags) == [true, true])
    }

    @Test func validateRejectsBadTables() {
        let backwards = SampleTable(decodeTimes: [0, 10, 5], durations: [10, 10, 10], sizes: [1, 1, 1],
                                    offsets: [0, 1, 2])
        #expect(throws: MediaModelError.inconsistentSampleTable("decode times go backwards at sample 2")) {
            try backwards.validate()
        }
        let ragged = SampleTable(decodeTimes: [0, 10], durations: [10], sizes: [1, 1], offsets: [0, 1])
        #expect(throws: MediaModelError.inconsistentSampleTable("array lengths differ")) {
            try ragged.validate()
        }
    }
}
