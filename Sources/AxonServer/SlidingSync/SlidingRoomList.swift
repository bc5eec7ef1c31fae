import AxonStorage
import MatrixModel

/// The user's rooms as sliding-sync lists see them (MSC4186 "Lists"): every room they are
/// joined to, invited to, knocking on, were kicked from, or banned from after joining, plus
/// rooms they left themselves that this connection has already sent; most recent activity
/// first. The activity is the room's bump stamp, or for a room the user is not in, when their
/// membership last changed. A join counts as activity, so a room just joined comes first.
struct SlidingRoomList: Sendable {
    struct Room: Sendable {
        var entry: RoomListEntry
        var bumpStamp: Int64
        /// For a ban: whether the user had joined before it (else the room is not listed).
        var bannedAfterJoining = false
        var roomID: String { entry.roomID }

        /// Most recent activity first; the room ID breaks ties so every node agrees.
        static func precedes(_ a: Room, _ b: Room) -> Bool { (a.bumpStamp, a.roomID) > (b.bumpStamp, b.roomID) }
    }

    /// Every room the user has a membership in, most recent first, and the ones of them
    /// that are not listed; walking the order skipping those is cheaper than copying it.
    let snapshot: RoomListCache.Snapshot
    let unlisted: Set<String>

    /// The listed rooms in order.
    var rooms: LazyFilterSequence<[Room]> {
        // Usually nothing is unlisted: then no room ID is hashed at all.
        let unlisted = self.unlisted
        return snapshot.rooms.lazy.filter { unlisted.isEmpty || !unlisted.contains($0.roomID) }
    }
    /// Every room the user has a membership in, listed or not (subscriptions may name any).
    var all: [String: Room] { snapshot.byID }
    /// How many rooms are listed.
    var count: Int { snapshot.rooms.count - unlisted.count }
    /// What a waiting request watches.
    var allRoomIDs: Set<String> { snapshot.roomIDs }

    func membership(_ roomID: String) -> RoomListEntry? { all[roomID]?.entry }

    static func bumpStamp(_ entry: RoomListEntry) -> Int64 {
        entry.membership == "join" ? max(entry.bumpStamp ?? 0, entry.membershipPosition) : entry.membershipPosition
    }

    /// Whether the user left on their own (left rooms are then listed only once sent).
    static func leftThemselves(_ entry: RoomListEntry, userID: String) -> Bool {
        entry.membership == "leave" && (entry.membershipSender == nil || entry.membershipSender == userID)
    }

    static func load(
        userID: String, connectionID: Int64, ignored: Set<String>, current: Int64, changedSince: (after: Int64, changed: [String: Int64])?,
        cache: RoomListCache, storage: any Storage
    ) async throws -> SlidingRoomList {
        let snapshot = try await cache.snapshot(userID: userID, current: current, known: changedSince, storage: storage)
        var selfLeft: [String] = []
        var unlisted = Set<String>()
        for entry in snapshot.unlistable {
            switch entry.membership {
            case "invite":
                if let sender = entry.membershipSender, ignored.contains(sender) { unlisted.insert(entry.roomID) }
            // Banned without ever having joined: nothing the user has seen.
            case "ban":
                if snapshot.byID[entry.roomID]?.bannedAfterJoining != true { unlisted.insert(entry.roomID) }
            default:
                if leftThemselves(entry, userID: userID) { selfLeft.append(entry.roomID) }
            }
        }
        let sentBefore = try await storage.slidingSyncRooms(connectionID: connectionID, roomIDs: selfLeft)
        for roomID in selfLeft where sentBefore[roomID] == nil { unlisted.insert(roomID) }
        return SlidingRoomList(snapshot: snapshot, unlisted: unlisted)
    }
}

/// One list's answer: how many rooms pass its filters, and the rooms in each of its ranges.
struct SlidingListResult: Sendable {
    var name: String
    var count: Int
    var windows: [(range: ClosedRange<Int>, roomIDs: [String])]

    var roomIDs: [String] { windows.flatMap(\.roomIDs) }

    /// A short digest of what the client was told, so an unchanged list is no news.
    var digestText: String { "\(name):\(count):" + windows.map { "\($0.range)=\($0.roomIDs.joined(separator: ","))" }.joined(separator: ";") }
}

/// Applies list filters, loading only the facts the filters in use need.
struct RoomListFiltering {
    let storage: any Storage
    let rooms: RoomService
    let userID: String

    private struct Facts {
        var roomType: String?
        var encrypted = false
        var name: String?
    }

    func results(for lists: [SlidingListRequest], in list: SlidingRoomList) async throws -> [SlidingListResult] {
        let filters = lists.map(\.filters)
        let direct = filters.contains(where: \.needsDirect) ? try await directRooms() : []
        let tags = filters.contains(where: \.needsTags) ? try await roomTags(list.rooms.map(\.roomID)) : [:]
        let facts = filters.contains(where: \.needsState) ? try await facts(Array(list.rooms)) : [:]
        var spaceChildren: [String: Set<String>] = [:]
        for space in Set(filters.compactMap(\.spaces).joined()) where list.membership(space)?.membership == "join" {
            spaceChildren[space] = try await children(of: space)
        }
        return lists.map { request in
            let f = request.filters
            var count = 0
            var windows = (request.ranges ?? [0...Int.max]).map { (range: $0, roomIDs: [String]()) }
            // Without filters the count is known and the walk stops after the last range.
            let unfiltered = f == RoomListFilters() && request.ranges != nil
            let lastIndex = windows.map(\.range.upperBound).max() ?? -1
            for room in list.rooms {
                if unfiltered, count > lastIndex { break }
                let id = room.roomID
                if let isDM = f.isDM, direct.contains(id) != isDM { continue }
                if let isInvite = f.isInvite, (room.entry.membership == "invite") != isInvite { continue }
                if f.needsState {
                    if let encrypted = f.isEncrypted, (facts[id]?.encrypted ?? false) != encrypted { continue }
                    let type = facts[id]?.roomType
                    if let types = f.roomTypes, !types.contains(type) { continue }
                    if let types = f.notRoomTypes, types.contains(type) { continue }
                    if let like = f.roomNameLike, !(facts[id]?.name?.localizedCaseInsensitiveContains(like) ?? false) { continue }
                }
                if let spaces = f.spaces, !spaces.contains(where: { spaceChildren[$0]?.contains(id) ?? false }) { continue }
                if f.needsTags {
                    let roomTags = tags[id] ?? []
                    if let not = f.notTags, !roomTags.isDisjoint(with: not) { continue }
                    if let wanted = f.tags, roomTags.isDisjoint(with: wanted) { continue }
                }
                for index in windows.indices where windows[index].range.contains(count) { windows[index].roomIDs.append(id) }
                count += 1
            }
            if unfiltered { count = list.count }
            // No ranges: the whole list.
            if request.ranges == nil { windows = count == 0 ? [] : [(0...(count - 1), windows[0].roomIDs)] }
            return SlidingListResult(name: request.name, count: count, windows: windows)
        }
    }

    /// Rooms named in the user's `m.direct`.
    func directRooms() async throws -> Set<String> {
        guard let content = try await storage.accountData(userID: userID, roomID: nil, type: "m.direct")?.objectValue else { return [] }
        return Set(content.flatMap { $0.value.arrayValue?.compactMap(\.stringValue) ?? [] })
    }

    private func roomTags(_ roomIDs: [String]) async throws -> [String: Set<String>] {
        var tags: [String: Set<String>] = [:]
        for entry in try await storage.accountData(userID: userID, roomIDs: roomIDs, includingGlobal: false) where entry.type == "m.tag" {
            if let roomID = entry.roomID, let names = entry.content["tags"]?.objectValue { tags[roomID] = Set(names.map(\.key)) }
        }
        return tags
    }

    private func facts(_ list: [SlidingRoomList.Room]) async throws -> [String: Facts] {
        let keys = [StateKey.create, StateKey("m.room.encryption", ""), StateKey("m.room.name", "")]
        var facts: [String: Facts] = [:]
        func record(type: String, content: JSON, roomID: String) {
            switch type {
            case "m.room.create": facts[roomID, default: Facts()].roomType = content["type"]?.stringValue
            case "m.room.encryption": facts[roomID, default: Facts()].encrypted = true
            case "m.room.name": facts[roomID, default: Facts()].name = content["name"]?.stringValue
            default: break
            }
        }
        for event in try await storage.currentStateEvents(roomIDs: list.map(\.roomID), keys: keys) {
            record(type: event.pdu.type, content: event.pdu.content, roomID: event.roomID)
        }
        // Invites to rooms this server is not in: what the inviting server shared.
        for room in list where ["invite", "knock"].contains(room.entry.membership) && facts[room.roomID] == nil {
            guard let event = try await storage.event(id: room.entry.membershipEventID) else { continue }
            for stripped in try await rooms.strippedState(event) {
                record(type: stripped["type"]?.stringValue ?? "", content: stripped["content"] ?? [:], roomID: room.roomID)
            }
        }
        return facts
    }

    private func children(of space: String) async throws -> Set<String> {
        Set(
            try await storage.currentStateEvents(roomID: space, types: ["m.space.child"], keys: []).compactMap { event in
                (event.pdu.content["via"]?.arrayValue?.isEmpty ?? true) ? nil : event.pdu.stateKey
            })
    }
}
