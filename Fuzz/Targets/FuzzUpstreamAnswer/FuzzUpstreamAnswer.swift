import FuzzDriver
import Storage

/// One input: an upstream answer as the web server module hands it to the engine, checked by
/// `UpstreamResponse(checking:url:)` (which parses `Content-Range` with `ContentRange` and
/// `Content-Length` with `ContentLength`).
///
///   byte 0        bits 0-1: status (0 and 3: 206, 1: 200, 2: 404); bit 2: the body ended;
///                 bit 3: a Content-Range is present; bit 4: a Content-Length is present
///   bytes 1-2     body length (little-endian; the bytes themselves do not matter)
///   bytes 3-10    the cut offset (little-endian)
///   the rest      `<Content-Range>\n<Content-Length>` (the second line may be missing)
///
/// Besides the sanitizers it checks: a parsed range has first <= last < total and its canonical
/// text parses to the same range, and only such characters made it; a parsed length is digits
/// written back the same; an accepted answer says what its headers say (a 206's body is exactly
/// its range, a 200's size is its length as read or its Content-Length); a refused one is a 502
/// with a one-line log reason.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    guard bytes.count >= 11 else {
        checkRange(String(decoding: bytes, as: UTF8.self))
        return 0
    }
    let flags = bytes[0]
    let bodyCount = Int(bytes[1]) | Int(bytes[2]) << 8
    let cutOffset = bytes[3..<11].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    let lines = bytes[11...].split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false)
    let rangeText = lines.first.map { String(decoding: $0, as: UTF8.self) } ?? ""
    let lengthText = lines.count > 1 ? String(decoding: lines[1], as: UTF8.self) : ""
    let range = checkRange(rangeText)
    let length = checkLength(lengthText)

    let status = [206, 200, 404, 206][Int(flags & 3)]
    let answer = ReceivedAnswer(status: status, body: [UInt8](repeating: 0x47, count: bodyCount),
                                contentRange: flags & 8 != 0 ? rangeText : nil,
                                contentLength: flags & 16 != 0 ? lengthText : nil,
                                cutOffset: cutOffset, ended: flags & 4 != 0)
    do {
        let r = try UpstreamResponse(checking: answer, url: "http://s/a.mp4")
        guard r.status == status, r.body.count == bodyCount else { fatalError("status or body changed") }
        switch status {
        case 206:
            guard let range, answer.contentRange != nil, range.isLength(of: bodyCount),
                  r.bodyOffset == range.first, r.totalSize == range.total else {
                fatalError("206 accepted that does not match \(rangeText.debugDescription): \(r)")
            }
        case 200:
            let end = cutOffset.addingReportingOverflow(UInt64(bodyCount))
            let announced = answer.contentLength != nil ? length : nil
            guard !end.overflow, r.bodyOffset == cutOffset, answer.contentLength == nil || length != nil else {
                fatalError("200 accepted with a bad offset or Content-Length: \(r)")
            }
            if answer.ended {
                guard r.totalSize == end.partialValue, announced.map({ $0 == end.partialValue }) ?? true else {
                    fatalError("ended 200 with size \(String(describing: r.totalSize)), read \(end.partialValue)")
                }
            } else {
                guard r.totalSize == announced, announced.map({ $0 >= end.partialValue }) ?? true else {
                    fatalError("cut 200 with size \(String(describing: r.totalSize)), Content-Length \(lengthText)")
                }
            }
        default:
            guard r.bodyOffset == 0, r.totalSize == nil else { fatalError("\(status) interpreted: \(r)") }
        }
    } catch {
        guard status != 404, error.code == .shortBody, error.httpStatus == 502,
              !error.logReason.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            fatalError("refused as \(error)")
        }
    }
    return 0
}

/// Parses `text` as a Content-Range and checks what came out.
@discardableResult
private func checkRange(_ text: String) -> ContentRange? {
    guard let range = ContentRange(parsing: text) else { return nil }
    guard range.first <= range.last, range.total.map({ range.last < $0 }) ?? true else {
        fatalError("\(text.debugDescription) parsed to \(range)")
    }
    guard ContentRange(parsing: range.description) == range else {
        fatalError("canonical text \(range.description) of \(text.debugDescription) does not parse back")
    }
    guard text.utf8.dropFirst(6).allSatisfy({ "0123456789-/*".utf8.contains($0) }) else {
        fatalError("\(text.debugDescription) parsed with other characters")
    }
    return range
}

/// Parses `text` as a Content-Length and checks what came out.
private func checkLength(_ text: String) -> UInt64? {
    guard let length = ContentLength.parse(text) else { return nil }
    guard text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
          ContentLength.parse(String(length)) == length else {
        fatalError("\(text.debugDescription) parsed to \(length)")
    }
    return length
}

/// SwiftPM links executables with `main` aliased to `<Module>_main`: hand over to libFuzzer's driver.
@_cdecl("FuzzUpstreamAnswer_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzOne)
}
