#if canImport(Glibc)
import Glibc
#endif
import ByteIO

/// A failure the CLI reports as one line on stderr.
struct CLIError: Error {
    /// 1 for a failed operation, 2 for bad usage.
    var status: Int32
    var message: String

    static func usage(_ message: String) -> CLIError { CLIError(status: 2, message: message) }
    static func failed(_ message: String) -> CLIError { CLIError(status: 1, message: message) }

    /// Wraps any error thrown by the engine modules.
    static func from(_ error: any Error, context: String) -> CLIError {
        if let e = error as? CLIError { return e }
        let reason = (error as? any StatusCodedError)?.logReason ?? String(describing: error)
        return .failed("\(context): \(reason)")
    }
}

/// `origo <command> ...`: dispatch, usage text and exit statuses (0 ok, 1 error, 2 usage).
enum Command {
    static let usage = """
        usage: origo create -o OUT.ism [--GROUP.NAME[=VALUE] | --NAME=VALUE ...] INPUT.mp4 [TRACK OPTIONS] ...
               origo create -o OUT-index.mp4 --use_dref_no_subs INPUT.mp4 [TRACK OPTIONS] ...
               origo info FILE.mp4|FILE.ism ...

        create   writes a server manifest with one entry per selected track of each input.
                 Options before the first input are stored in the manifest: --hls.fmp4 becomes
                 <paramGroup id="hls"><meta name="fmp4" content="true"/>, --dvr_window_length=30 a head meta.
                 Track options apply to the input they follow:
                   --track_type=video|audio|text   --track_id=N   --track_language=CODE
                 With --use_dref_no_subs (alias --index) the output is an index MP4: the sample
                 tables of the selected tracks and a relative reference to each input, no media.
                 A server manifest over index MP4s is then made from the index files.
        info     prints one line per track: id, kind, codec, size or rate, language, duration,
                 samples, average bitrate (for a server manifest: its options and the tracks it names).

        """

    static func run(_ arguments: [String]) -> Int32 {
        do {
            guard let command = arguments.first else { throw CLIError.usage("missing command") }
            let rest = Array(arguments.dropFirst())
            switch command {
            case "create":
                try CreateCommand.run(try CreateCommand.Options.parse(rest))
            case "info":
                guard !rest.isEmpty else { throw CLIError.usage("info needs a file") }
                try InfoCommand.run(rest)
            case "help", "-h", "--help":
                writeOut(usage)
            default:
                throw CLIError.usage("unknown command \(command)")
            }
            return 0
        } catch let error as CLIError {
            writeError("origo: \(oneLine(error.message))\n")
            if error.status == 2 { writeError(usage) }
            return error.status
        } catch {
            writeError("origo: \(oneLine(CLIError.from(error, context: "error").message))\n")
            return 1
        }
    }

    /// Error messages may quote file contents; keep them to one line.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }

    static func writeOut(_ text: String) { write(text, to: 1) }

    static func writeError(_ text: String) { write(text, to: 2) }

    private static func write(_ text: String, to fd: Int32) {
        var text = text
        text.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return }
            var done = 0
            while done < buffer.count {
                let n = Glibc.write(fd, base + done, buffer.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                done += n
            }
        }
    }
}
