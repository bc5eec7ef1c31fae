/// A position in the global stream, as `/sync`'s `next_batch` and `/events`' `end` carry it:
/// `s<position>`, opaque to clients. When a sync delivered only part of a device's pending
/// to-device messages, the token also says how far those got: `s<position>_<to-device position>`.
struct SyncToken: Sendable, Equatable {
    var position: Int64
    var toDevice: Int64?

    init(position: Int64, toDevice: Int64? = nil) {
        self.position = position
        self.toDevice = toDevice
    }

    init?(_ token: String) {
        guard token.hasPrefix("s") else { return nil }
        let parts = token.dropFirst().split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count <= 2, let position = Int64(parts[0]), position >= 0 else { return nil }
        self.position = position
        if parts.count == 2 {
            guard let toDevice = Int64(parts[1]), toDevice >= 0, toDevice <= position else { return nil }
            self.toDevice = toDevice
        }
    }

    var string: String { toDevice.map { "s\(position)_\($0)" } ?? "s\(position)" }

    /// Where this token acknowledges to-device messages up to.
    var toDeviceAcknowledged: Int64 { toDevice ?? position }
}
