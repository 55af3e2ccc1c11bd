/// Makes text from outside (a request, a file from storage) safe for a one-line log message:
/// control characters become `?`, and it is cut at `limit` characters.
public enum Sanitized {
    public static func text(_ s: String, limit: Int = 200) -> String {
        var out = ""
        for scalar in s.unicodeScalars.prefix(limit) {
            out.unicodeScalars.append(scalar.value < 0x20 || scalar.value == 0x7F ? "?" : scalar)
        }
        if s.unicodeScalars.count > limit { out += "…" }
        return out
    }
}
