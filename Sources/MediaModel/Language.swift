/// Language codes as players want them: RFC 5646 tags (two-letter where ISO 639-1 has one).
public enum Language {
    /// ISO 639-2 (B and T) codes of common languages → ISO 639-1 and an English display name.
    private static let table: [String: (String, String)] = [
        "eng": ("en", "English"), "fra": ("fr", "French"), "fre": ("fr", "French"),
        "deu": ("de", "German"), "ger": ("de", "German"), "spa": ("es", "Spanish"),
        "ita": ("it", "Italian"), "nld": ("nl", "Dutch"), "dut": ("nl", "Dutch"),
        "por": ("pt", "Portuguese"), "rus": ("ru", "Russian"), "jpn": ("ja", "Japanese"),
        "zho": ("zh", "Chinese"), "chi": ("zh", "Chinese"), "kor": ("ko", "Korean"),
        "ara": ("ar", "Arabic"), "hin": ("hi", "Hindi"), "tur": ("tr", "Turkish"),
        "pol": ("pl", "Polish"), "swe": ("sv", "Swedish"), "nor": ("no", "Norwegian"),
        "dan": ("da", "Danish"), "fin": ("fi", "Finnish"), "ces": ("cs", "Czech"),
        "cze": ("cs", "Czech"), "ell": ("el", "Greek"), "gre": ("el", "Greek"),
        "heb": ("he", "Hebrew"), "hun": ("hu", "Hungarian"), "ukr": ("uk", "Ukrainian"),
        "cat": ("ca", "Catalan"), "ron": ("ro", "Romanian"), "rum": ("ro", "Romanian"),
    ]

    /// True for codes that mean "no language given".
    public static func isUndetermined(_ code: String) -> Bool {
        code.isEmpty || code == "und" || code == "zxx" || code == "mis" || code == "mul"
    }

    /// The RFC 5646 tag for a code from a track or server manifest (`eng` → `en`; other codes as given).
    public static func tag(_ code: String) -> String {
        table[code.lowercased()]?.0 ?? code
    }

    /// A human-readable name for playlists (`English`), or the code itself.
    public static func displayName(_ code: String) -> String {
        table[code.lowercased()]?.1 ?? code
    }
}
