import AxonStorage
import MatrixModel
import Synchronization

/// Users' rooms in activity order, kept between requests so a sliding-sync request does not
/// read and sort every room of a big account each time. A copy is only ever a shortcut to
/// what the database says: each use first compares the user's membership count and latest
/// membership position with the database (one index-only query), reloading on any difference
/// (a join, leave, invite or forget on any node), and then moves the bump stamps of the rooms
/// with events since the copy's position. Bounded to `capacity` users, least recently used out.
final class RoomListCache: Sendable {
    struct Snapshot: Sendable {
        /// Every membership the user has not forgotten, most recent activity first.
        var rooms: [SlidingRoomList.Room]
        var byID: [String: SlidingRoomList.Room]
        var roomIDs: Set<String>
        /// The rooms that may be left out of a list (invites, bans, leaves): only these are
        /// looked at per request. Membership changes reload the snapshot, so this stays right.
        var unlistable: [RoomListEntry]
        var position: Int64
        var count: Int
        var latestMembership: Int64
    }

    private struct State {
        var snapshots: [String: Snapshot] = [:]
        var lastUse: [String: UInt64] = [:]
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int = 1000) {
        self.capacity = capacity
    }

    /// `known` is what the caller already read of the user's changed rooms in (after, current]:
    /// when the copy stands at `after`, it is used instead of reading the same range again.
    func snapshot(
        userID: String, current: Int64, known: (after: Int64, changed: [String: Int64])?, storage: any Storage
    ) async throws -> Snapshot {
        let summary = try await storage.roomListSummary(userID: userID)
        // Taken out while it is brought forward, so moving rooms does not copy the whole order
        // (a concurrent request of the same user meanwhile loads its own).
        let cached = state.withLock { $0.snapshots.removeValue(forKey: userID) }
        var snapshot: Snapshot
        if var cached, cached.count == summary.count, cached.latestMembership == summary.latestMembership, cached.position <= current {
            if cached.position < current {
                let changed: [String: Int64]
                if let known, known.after == cached.position {
                    changed = known.changed
                } else {
                    changed = try await storage.changedRooms(userID: userID, after: cached.position, upTo: current)
                }
                let stamps = try await storage.bumpStamps(roomIDs: Array(changed.keys))
                for (roomID, stamp) in stamps { cached.move(roomID, bumpStamp: stamp) }
                cached.position = current
            }
            snapshot = cached
        } else {
            snapshot = try await Self.load(userID: userID, position: current, storage: storage)
        }
        store(snapshot, userID: userID)
        return snapshot
    }

    private func store(_ snapshot: Snapshot, userID: String) {
        state.withLock { state in
            state.clock += 1
            // An older request finishing late must not put back an older copy.
            if let existing = state.snapshots[userID], existing.position > snapshot.position { return }
            state.snapshots[userID] = snapshot
            state.lastUse[userID] = state.clock
            if state.snapshots.count > capacity, let oldest = state.lastUse.min(by: { $0.value < $1.value })?.key {
                state.snapshots[oldest] = nil
                state.lastUse[oldest] = nil
            }
        }
    }

    private static func load(userID: String, position: Int64, storage: any Storage) async throws -> Snapshot {
        let entries = try await storage.roomList(userID: userID)
        var rooms: [SlidingRoomList.Room] = []
        rooms.reserveCapacity(entries.count)
        for entry in entries {
            var bannedAfterJoining = false
            if entry.membership == "ban" {
                bannedAfterJoining = try await storage.joinPositions(roomID: entry.roomID, userID: userID)
                    .contains { $0 < entry.membershipPosition }
            }
            rooms.append(SlidingRoomList.Room(entry: entry, bumpStamp: SlidingRoomList.bumpStamp(entry), bannedAfterJoining: bannedAfterJoining))
        }
        rooms.sort(by: SlidingRoomList.Room.precedes)
        return Snapshot(
            rooms: rooms, byID: Dictionary(rooms.map { ($0.roomID, $0) }, uniquingKeysWith: { first, _ in first }),
            roomIDs: Set(rooms.map(\.roomID)), unlistable: entries.filter { !["join", "knock"].contains($0.membership) },
            position: position, count: entries.count,
            latestMembership: entries.map(\.membershipPosition).max() ?? 0)
    }
}

extension RoomListCache.Snapshot {
    /// Gives a room its new bump stamp and moves it to its place in the order.
    mutating func move(_ roomID: String, bumpStamp stamp: Int64) {
        guard var room = byID[roomID], room.entry.bumpStamp != stamp else { return }
        room.entry.bumpStamp = stamp
        room.bumpStamp = SlidingRoomList.bumpStamp(room.entry)
        byID[roomID] = room
        if let index = rooms.firstIndex(where: { $0.roomID == roomID }) { rooms.remove(at: index) }
        var low = 0
        var high = rooms.count
        while low < high {
            let middle = (low + high) / 2
            if SlidingRoomList.Room.precedes(rooms[middle], room) { low = middle + 1 } else { high = middle }
        }
        rooms.insert(room, at: low)
    }
}
