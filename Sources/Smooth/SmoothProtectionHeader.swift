import XML

/// The `Protection` element of a Smooth client manifest (MS-SSTR 2.2.2.2): one `ProtectionHeader`
/// naming a DRM system, whose content is that system's header in base64 (for PlayReady, its
/// PlayReady Object). Clients that play protected Smooth read the key ID and license server from
/// it; the fragments carry only the IVs and subsamples.
public struct SmoothProtectionHeader: Sendable, Equatable {
    /// The system's ID as a GUID (`9A04F079-9840-4286-AB92-E65BE0885F95` for PlayReady).
    public var systemID: String
    /// The header, base64.
    public var data: String

    public init(systemID: String, data: String) {
        self.systemID = systemID
        self.data = data
    }

    func write(_ w: inout XMLWriter) {
        w.open("Protection")
        w.element("ProtectionHeader", attributes: [("SystemID", systemID)], text: data)
        w.close()
    }
}
