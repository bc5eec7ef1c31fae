import MatrixModel
import Synchronization

/// `/publicRooms` entries per room, kept until the room changes. The directory is served
/// without authentication, so building each entry from the room's full state on every
/// request would let anyone make the server read every public room's state at will.
final class PublicRoomCache: Sendable {
    private let entries = Mutex([String: (position: Int64, entry: JSONObject)]())

    /// The cached entry when the room has not changed since it was built.
    func entry(_ roomID: String, position: Int64) -> JSONObject? {
        entries.withLock { entries in
            guard let cached = entries[roomID], cached.position == position else { return nil }
            return cached.entry
        }
    }

    func store(_ entry: JSONObject, roomID: String, position: Int64) {
        entries.withLock { $0[roomID] = (position, entry) }
    }

    /// Forgets rooms no longer published.
    func keep(only roomIDs: Set<String>) {
        entries.withLock { entries in entries = entries.filter { roomIDs.contains($0.key) } }
    }
}
