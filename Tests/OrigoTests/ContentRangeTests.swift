import CEngineAPI
@testable import Engine
@testable import Storage
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `Content-Range` and `Content-Length` as the engine reads them, and the checks of an upstream
/// answer as the module received it (``ReceivedAnswer``): the one place they happen.
@Suite struct ContentRangeTests {
    @Test func validRanges() {
        #expect(ContentRange(parsing: "bytes 0-9/100") == ContentRange(first: 0, last: 9, total: 100))
        #expect(ContentRange(parsing: "bytes 5-5/*") == ContentRange(first: 5, last: 5, total: nil))
        #expect(ContentRange(parsing: "bytes 500-999/*") == ContentRange(first: 500, last: 999, total: nil))
        #expect(ContentRange(parsing: "bytes 0-0/1") == ContentRange(first: 0, last: 0, total: 1))
        #expect(ContentRange(parsing: "bytes 1233-1233/1234") == ContentRange(first: 1233, last: 1233, total: 1234))
        #expect(ContentRange(parsing: "Bytes 0-9/10") == ContentRange(first: 0, last: 9, total: 10))
        #expect(ContentRange(parsing: "BYTES 0-9/10") == ContentRange(first: 0, last: 9, total: 10))
        #expect(ContentRange(parsing: "bytes 007-9/010") == ContentRange(first: 7, last: 9, total: 10))
        #expect(ContentRange(parsing: "bytes 9999999999999999998-9999999999999999998/9999999999999999999")
                == ContentRange(first: 9_999_999_999_999_999_998, last: 9_999_999_999_999_999_998,
                                total: 9_999_999_999_999_999_999))
        #expect(ContentRange(parsing: "bytes 0-18446744073709551614/18446744073709551615")
                == ContentRange(first: 0, last: UInt64.max - 1, total: UInt64.max))
        #expect(ContentRange(parsing: "bytes 0-18446744073709551615/*") == ContentRange(first: 0, last: .max, total: nil))
    }

    @Test func malformedRanges() {
        let malformed = [
            "bytes 9-5/100", "bytes 10-5/20",                  // last < first
            "bytes 0-99/99", "bytes 0-9/9", "bytes 0-0/0",      // last not below total
            "bytes -1-5/9", "bytes +1-5/9", "bytes 0-+5/9",     // signs
            "bytes 0-5/9x", "bytes 0-9/10 ", "bytes 0-9/10\r\n", "bytes 0-9/*x", "bytes 0-9/**",  // trailing
            "bytes 0-18446744073709551616/*", "bytes 18446744073709551616-18446744073709551617/*",
            "bytes 0-1/99999999999999999999", "bytes 0-1/18446744073709551616",  // beyond 64 bits
            "bytes 0 - 9 / 10", "bytes  0-9/10", " bytes 0-9/10", "bytes\t0-9/10",  // spaces
            "bytes */1234", "bytes */*",                       // unsatisfied: no bytes
            "", "bytes", "bytes ", "bytes=0-9/10", "items 0-9/10", "bytes 0-9", "bytes 0-9/", "bytes -9/10",
            "bytes 0-/10", "bytes 0x1-9/10", "bytes 1e2-200/300", "bytes \u{FF10}-9/10",
            "bytes 0-9/100,bytes 0-9/100", "bytes 0-9/100, bytes 0-9/100",  // a repeated header, joined
        ]
        for value in malformed {
            #expect(ContentRange(parsing: value) == nil, "\(value.debugDescription) parsed")
        }
        #expect(ContentRange(first: 9, last: 5, total: nil) == nil)
        #expect(ContentRange(first: 0, last: 9, total: 9) == nil)
    }

    @Test func canonicalFormParsesBack() throws {
        for value in ["bytes 0-9/100", "bytes 5-5/*", "BYTES 007-9/010", "bytes 0-18446744073709551615/*"] {
            let range = try #require(ContentRange(parsing: value))
            #expect(ContentRange(parsing: range.description) == range)
        }
        #expect(ContentRange(first: 1, last: 2, total: nil)?.description == "bytes 1-2/*")
    }

    @Test func bodyLengths() throws {
        let range = try #require(ContentRange(parsing: "bytes 10-19/100"))
        #expect(range.isLength(of: 10))
        #expect(!range.isLength(of: 9) && !range.isLength(of: 11) && !range.isLength(of: 0))
        // last - first + 1 does not fit in 64 bits: no body is that long, and nothing traps.
        let everything = try #require(ContentRange(parsing: "bytes 0-18446744073709551615/*"))
        #expect(!everything.isLength(of: Int.max) && !everything.isLength(of: 0))
    }

    @Test func contentLengths() {
        #expect(ContentLength.parse("0") == 0)
        #expect(ContentLength.parse("1000") == 1000)
        #expect(ContentLength.parse("007") == 7)
        #expect(ContentLength.parse("18446744073709551615") == UInt64.max)
        for value in ["", " 1", "1 ", "-1", "+1", "5,5", "5, 5", "18446744073709551616", "1e3", "0x10", "1.0", "\u{FF11}"] {
            #expect(ContentLength.parse(value) == nil, "\(value.debugDescription) parsed")
        }
    }
}

/// ``UpstreamResponse/init(checking:url:)``: what the module received, interpreted and checked.
@Suite struct ReceivedAnswerTests {
    let url = "http://s/a.mp4?sig=secret"

    func check(_ answer: ReceivedAnswer) throws(UpstreamError) -> UpstreamResponse {
        try UpstreamResponse(checking: answer, url: url)
    }

    /// The error `answer` is refused with; fails the test when it is accepted.
    func refusal(_ answer: ReceivedAnswer, sourceLocation: SourceLocation = #_sourceLocation) -> UpstreamError? {
        do {
            let r = try check(answer)
            Issue.record("accepted: \(r)", sourceLocation: sourceLocation)
            return nil
        } catch {
            #expect(error.code == .shortBody && error.httpStatus == 502, sourceLocation: sourceLocation)
            #expect(!error.logReason.contains("secret"), sourceLocation: sourceLocation)
            return error
        }
    }

    @Test func partialContent() throws {
        let body = [UInt8](repeating: 7, count: 10)
        let r = try check(ReceivedAnswer(status: 206, body: body, contentRange: "bytes 1000-1009/5000",
                                         contentLength: "10", etag: "\"e\"", lastModified: 42))
        #expect(r == UpstreamResponse(status: 206, body: body, bodyOffset: 1000, totalSize: 5000, etag: "\"e\"",
                                      lastModified: 42))
        let open = try check(ReceivedAnswer(status: 206, body: body, contentRange: "bytes 1000-1009/*"))
        #expect(open.bodyOffset == 1000 && open.totalSize == nil)
    }

    @Test func partialContentWithoutAUsableRange() {
        let body = [UInt8](repeating: 7, count: 10)
        for range in [nil, "", "bytes 1000-1009", "bytes 1009-1000/5000", "bytes 1000-1009/1009", "bytes */5000",
                      "bytes 0-18446744073709551616/*", "bytes 1000-1009/5000,bytes 1000-1009/5000"] {
            let error = refusal(ReceivedAnswer(status: 206, body: body, contentRange: range))
            #expect(error?.logReason.contains("206 with a missing or inconsistent Content-Range") == true,
                    "\(String(describing: range)): \(String(describing: error?.logReason))")
        }
    }

    @Test func partialContentOfAnotherLength() {
        for count in [0, 9, 11] {
            let error = refusal(ReceivedAnswer(status: 206, body: [UInt8](repeating: 1, count: count),
                                               contentRange: "bytes 1000-1009/5000"))
            #expect(error?.logReason.contains("206 body does not match its Content-Range") == true)
        }
    }

    @Test func wholeOK() throws {
        let body: [UInt8] = Array(0..<100)
        let r = try check(ReceivedAnswer(status: 200, body: body, contentLength: "100"))
        #expect(r.bodyOffset == 0 && r.totalSize == 100 && r.body == body)
        // Chunked: no Content-Length, the entity's length is what was read.
        #expect(try check(ReceivedAnswer(status: 200, body: body)).totalSize == 100)
        #expect(try check(ReceivedAnswer(status: 200, body: [], contentLength: "0")).totalSize == 0)
        // A Content-Range on a 200 means nothing.
        #expect(try check(ReceivedAnswer(status: 200, body: body, contentRange: "garbage")).totalSize == 100)
    }

    @Test func wholeOKWithAnotherContentLength() {
        let body = [UInt8](repeating: 1, count: 100)
        let shorter = refusal(ReceivedAnswer(status: 200, body: body, contentLength: "1000"))
        #expect(shorter?.logReason.contains("200 body shorter than its Content-Length") == true)
        let longer = refusal(ReceivedAnswer(status: 200, body: body, contentLength: "99"))
        #expect(longer?.logReason.contains("200 body longer than its Content-Length") == true)
        for length in ["", "-100", "100,100", "1e2", "18446744073709551616"] {
            let error = refusal(ReceivedAnswer(status: 200, body: body, contentLength: length))
            #expect(error?.logReason.contains("200 with a malformed Content-Length") == true)
        }
    }

    /// A 200 to a ranged read (upstream ignored Range), cut by the module at the wanted range.
    @Test func trimmedOK() throws {
        let body = [UInt8](repeating: 3, count: 500)
        // Cut at the range's end: the object's size is its Content-Length, or unknown.
        let cut = try check(ReceivedAnswer(status: 200, body: body, contentLength: "10737418240", cutOffset: 1000,
                                           ended: false))
        #expect(cut.bodyOffset == 1000 && cut.totalSize == 10 << 30)
        #expect(try check(ReceivedAnswer(status: 200, body: body, cutOffset: 1000, ended: false)).totalSize == nil)
        // Read to its end: the size is known from what was read, and the Content-Length must agree.
        let ended = try check(ReceivedAnswer(status: 200, body: body, contentLength: "1500", cutOffset: 1000))
        #expect(ended.bodyOffset == 1000 && ended.totalSize == 1500)
        #expect(try check(ReceivedAnswer(status: 200, body: body, cutOffset: 1000)).totalSize == 1500)
        // The object ended before the range: nothing kept, the cut at its end.
        let before = try check(ReceivedAnswer(status: 200, body: [], contentLength: "800", cutOffset: 800))
        #expect(before.bodyOffset == 800 && before.totalSize == 800)
    }

    @Test func trimmedOKThatDisagrees() {
        let body = [UInt8](repeating: 3, count: 500)
        let past = refusal(ReceivedAnswer(status: 200, body: body, contentLength: "1200", cutOffset: 1000, ended: false))
        #expect(past?.logReason.contains("200 body runs past its Content-Length") == true)
        let short = refusal(ReceivedAnswer(status: 200, body: body, contentLength: "5000", cutOffset: 1000))
        #expect(short?.logReason.contains("200 body shorter than its Content-Length") == true)
        let overflow = refusal(ReceivedAnswer(status: 200, body: [1], cutOffset: .max))
        #expect(overflow?.logReason.contains("200 body runs past") == true)
    }

    @Test func otherStatusesAreTakenAsTheyAre() throws {
        let r = try check(ReceivedAnswer(status: 404, body: Array("gone".utf8), contentRange: "x", contentLength: "y",
                                         cutOffset: 5, ended: false))
        #expect(r == UpstreamResponse(status: 404, body: Array("gone".utf8)))
    }
}

/// An upstream whose answers go through the checks, as the module's do.
struct ReceivingUpstream: Upstream {
    let answer: @Sendable (UInt64, UInt64) -> ReceivedAnswer

    func fetch(_ url: String, offset: UInt64, length: UInt64) throws(UpstreamError) -> UpstreamResponse {
        try UpstreamResponse(checking: answer(offset, length), url: url)
    }
}

@Suite struct CheckedFetchTests {
    let url = "http://s/obj"
    static let object: [UInt8] = (0..<5000).map { UInt8(truncatingIfNeeded: $0) }

    /// What a storage that ignores Range looks like after the module cut its 200 at the range.
    static func trimmed(offset: UInt64, length: UInt64, contentLength: Bool) -> ReceivedAnswer {
        let size = UInt64(object.count)
        let start = min(offset, size), end = length == 0 ? size : min(offset + length, size)
        return ReceivedAnswer(status: 200, body: Array(object[Int(start)..<Int(end)]),
                              contentLength: contentLength ? String(size) : nil, cutOffset: start,
                              ended: length == 0 || offset + length > size)
    }

    @Test func aPartialAnswerMustStartAtTheOffset() throws {
        let early = ReceivingUpstream { _, _ in
            ReceivedAnswer(status: 206, body: Array(Self.object[90..<200]), contentRange: "bytes 90-199/5000")
        }
        #expect(throws: UpstreamError.self) { try early.fetchChecked(url, offset: 100, length: 100) }
        let exact = ReceivingUpstream { _, _ in
            ReceivedAnswer(status: 206, body: Array(Self.object[100..<200]), contentRange: "bytes 100-199/5000")
        }
        #expect(try exact.fetchChecked(url, offset: 100, length: 100).bodyOffset == 100)
    }

    @Test func trimmedAnswersCoverTheRange() throws {
        for contentLength in [true, false] {
            let u = ReceivingUpstream { Self.trimmed(offset: $0, length: $1, contentLength: contentLength) }
            let middle = try u.fetchChecked(url, offset: 1000, length: 500)
            #expect(middle.bodyOffset == 1000 && middle.body == Array(Self.object[1000..<1500]))
            // Past the end: the size comes from what was read, with or without Content-Length.
            let tail = try u.fetchChecked(url, offset: 4000, length: 5000)
            #expect(tail.totalSize == 5000 && tail.body == Array(Self.object[4000...]))
            let reader = try RemoteReader(url: url, upstream: u, window: 10_000)
            #expect(reader.size == 5000)
        }
    }

    /// A 200 cut at the first window without a Content-Length says nothing about the size: the
    /// reader must not take the window for the object.
    @Test func aCutAnswerWithoutSizeOpensNothing() {
        let u = ReceivingUpstream { Self.trimmed(offset: $0, length: $1, contentLength: false) }
        do {
            _ = try RemoteReader(url: url, upstream: u, window: 100)
            Issue.record("opened with a guessed size")
        } catch {
            #expect(error.code == .shortBody)
        }
    }
}

/// The module's fetch callback through the C ABI: raw fields in, checked answers out.
@Suite struct CUpstreamTests {
    /// Answers by URL: "ok" a 206 of bytes 10-19 of 100, "bad" the same body saying 10-29, "cut"
    /// a 200 cut at the range without Content-Length, "whole" a 200 with a wrong Content-Length.
    static var table: origo_upstream { origo_upstream(ctx: nil, fetch: { _, url, offset, _, out in
        guard let url, let out else { return 502 }
        let name = String(cString: url)
        let body = (0..<10).map { UInt8(truncatingIfNeeded: $0) }
        out.pointee.data = malloc(body.count)?.assumingMemoryBound(to: UInt8.self)
        body.withUnsafeBufferPointer { if let b = $0.baseAddress { out.pointee.data?.update(from: b, count: body.count) } }
        out.pointee.length = UInt64(body.count)
        out.pointee.etag = strdup("\"v\"")
        out.pointee.ended = 1
        switch name {
        case "http://s/ok", "http://s/bad":
            out.pointee.status = 206
            out.pointee.content_range = strdup(name.hasSuffix("ok") ? "bytes 10-19/100" : "bytes 10-29/100")
            out.pointee.content_length = strdup("10")
        case "http://s/cut":
            out.pointee.status = 200
            out.pointee.data_offset = offset
            out.pointee.ended = 0
        default:
            out.pointee.status = 200
            out.pointee.content_length = strdup("11")
        }
        return 0
    }, scope: nil) }

    @Test func rawFieldsAreCheckedByTheEngine() throws {
        let u = CUpstream(table: Self.table)
        let ok = try u.fetchChecked("http://s/ok", offset: 10, length: 10)
        #expect(ok.bodyOffset == 10 && ok.totalSize == 100 && ok.etag == "\"v\"" && ok.body.count == 10)
        let cut = try u.fetchChecked("http://s/cut", offset: 10, length: 10)
        #expect(cut.bodyOffset == 10 && cut.totalSize == nil)
        do {
            _ = try u.fetch("http://s/bad", offset: 10, length: 10)
            Issue.record("a 206 that does not match its Content-Range accepted")
        } catch {
            #expect(error.logReason.contains("206 body does not match its Content-Range"))
        }
        do {
            _ = try u.fetch("http://s/whole", offset: 0, length: 0)
            Issue.record("a 200 shorter than its Content-Length accepted")
        } catch {
            #expect(error.logReason.contains("200 body shorter than its Content-Length"))
        }
    }
}
