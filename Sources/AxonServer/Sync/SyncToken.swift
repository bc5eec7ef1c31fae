/// A position in the global stream, as `/sync`'s `next_batch` and `/events`' `end` carry it:
/// `s<position>`, opaque to clients.
struct SyncToken: Sendable, Equatable {
    var position: Int64

    init(position: Int64) {
        self.position = position
    }

    init?(_ token: String) {
        guard token.hasPrefix("s"), let position = Int64(token.dropFirst()), position >= 0 else { return nil }
        self.position = position
    }

    var string: String { "s\(position)" }
}
