/// A sliding-sync `pos`: `p<stream>_<connection>_<n>`. The connection and its position
/// number find what was sent; the stream position lets `/messages` and `/relations` take a
/// `pos` as `from`, as they take a `/v3/sync` `next_batch`. Ownership is checked in the
/// database, never inferred from the token.
struct SlidingSyncPos: Sendable, Equatable {
    var streamPosition: Int64
    var connectionID: Int64
    var position: Int64

    init(streamPosition: Int64, connectionID: Int64, position: Int64) {
        self.streamPosition = streamPosition
        self.connectionID = connectionID
        self.position = position
    }

    init?(_ token: String) {
        guard token.hasPrefix("p") else { return nil }
        let parts = token.dropFirst().split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, let stream = Int64(parts[0]), let connection = Int64(parts[1]), let position = Int64(parts[2]),
            stream >= 0, connection > 0, position > 0
        else { return nil }
        self.init(streamPosition: stream, connectionID: connection, position: position)
    }

    var string: String { "p\(streamPosition)_\(connectionID)_\(position)" }
}
