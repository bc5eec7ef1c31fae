import AxonStorage
import MatrixModel

/// Simplified sliding sync (MSC4186), one engine for both wire shapes. A request resumes its
/// connection at `pos` (what the client acknowledged), works out which rooms the lists and
/// subscriptions cover, sends each one whole the first time and only what changed after
/// that, and long-polls on the notifier when there is nothing to say. What each connection
/// has been sent lives in the database, so any node sharing it can continue the connection.
struct SlidingSyncService: Sendable {
    let storage: any Storage
    let rooms: RoomService
    let notifier: Notifier
    let presence: PresenceService
    let maxTimeout: Duration
    let roomLists: RoomListCache

    /// Connections per device; more push out the least recently used.
    static let connectionsPerDevice = 10
    /// A connection unused this long is forgotten: its `pos` is then `M_UNKNOWN_POS`.
    static let connectionLifetimeMillis: Int64 = 7 * 24 * 3600 * 1000

    static func unknownPos(_ message: String) -> MatrixError { MatrixError(400, "M_UNKNOWN_POS", message) }

    func sync(_ request: SlidingSyncRequest, user: TokenOwner) async throws -> JSON {
        let now = nowMillis()
        var connectionID: Int64
        var parent: Int64?
        var from: Int64?
        var previousDigest: String?
        if let pos = request.pos {
            guard let token = SlidingSyncPos(pos) else { throw Self.unknownPos("Unknown pos token") }
            guard
                let resumed = try await storage.resumeSlidingSyncConnection(
                    connectionID: token.connectionID, pos: token.position, userID: user.userID, deviceID: user.deviceID, connID: request.connID,
                    now: now, unusedSince: now - Self.connectionLifetimeMillis)
                // The whole token must be one this server issued, not just its connection and number.
                , resumed.streamPosition == token.streamPosition
            else { throw Self.unknownPos("This pos is not known for this connection: start again without one") }
            connectionID = token.connectionID
            parent = token.position
            from = resumed.streamPosition
            previousDigest = resumed.listsDigest
        } else {
            connectionID = try await storage.openSlidingSyncConnection(
                userID: user.userID, deviceID: user.deviceID, connID: request.connID, now: now, keepingAtMost: Self.connectionsPerDevice)
        }
        try await presence.syncing(userID: user.userID, state: request.setPresence ?? "online")
        let clock = ContinuousClock()
        // A first request always answers at once (MSC4186: `timeout` is ignored without `pos`).
        let deadline = clock.now + (from == nil ? .zero : min(.milliseconds(request.timeoutMilliseconds), maxTimeout))
        while true {
            let current = try await storage.currentStreamPosition()
            let response = try await build(request, user: user, connectionID: connectionID, from: from, current: current)
            if from == nil || response.hasNews || response.listsDigest != previousDigest || clock.now >= deadline {
                let position: Int64
                do {
                    position = try await storage.recordSlidingSyncPosition(
                        connectionID: connectionID, parent: parent, streamPosition: current, listsDigest: response.listsDigest,
                        rooms: response.records)
                } catch StorageError.notFound {
                    // Replaced by a new request with the same conn_id, or pushed out by newer
                    // connections, while this one was working: the client must start again.
                    throw Self.unknownPos("This connection was replaced while the request was running: start again without a pos")
                }
                let pos = SlidingSyncPos(streamPosition: current, connectionID: connectionID, position: position)
                return SlidingSyncResponseFormat(shape: request.shape).json(response, pos: pos.string)
            }
            await notifier.wait(userID: user.userID, rooms: response.watched, since: current, timeout: deadline - clock.now)
            if Task.isCancelled { throw CancellationError() }
        }
    }

    struct Response {
        var lists: [SlidingListResult]
        var rooms: [SlidingRoomResult]
        var extensions: JSONObject
        var hasNews: Bool
        var listsDigest: String
        var records: [SlidingSyncRoomRecord]
        var watched: Set<String>
    }

    private func build(
        _ request: SlidingSyncRequest, user: TokenOwner, connectionID: Int64, from: Int64?, current: Int64
    ) async throws -> Response {
        let userID = user.userID
        let ignored = try await rooms.visibility.ignoredUsers(userID)
        // Rooms with events since the position: what decides which rooms to send, and (read once)
        // what moves the cached room list forward.
        let changed = try await from.asyncMap { try await storage.changedRooms(userID: userID, after: $0, upTo: current) } ?? [:]
        let list = try await SlidingRoomList.load(
            userID: userID, connectionID: connectionID, ignored: ignored, current: current,
            changedSince: from.map { ($0, changed) }, cache: roomLists, storage: storage)
        let filtering = RoomListFiltering(storage: storage, rooms: rooms, userID: userID)
        let lists = try await filtering.results(for: request.lists, in: list)

        // Which rooms this request covers, under which combined config.
        var configs: [String: RoomConfig] = [:]
        var roomLists: [String: [String]] = [:]
        var order: [String] = []
        func cover(_ roomID: String, _ config: RoomConfig) {
            if let existing = configs[roomID] {
                configs[roomID] = existing.combined(with: config)
            } else {
                configs[roomID] = config
                order.append(roomID)
            }
        }
        for (result, listRequest) in zip(lists, request.lists) {
            for roomID in result.roomIDs {
                cover(roomID, listRequest.config)
                if roomLists[roomID]?.contains(result.name) != true { roomLists[roomID, default: []].append(result.name) }
            }
        }
        // A subscription shows a room the user is or was in (MSC4186 "Subscriptions"); others are ignored.
        let subscribed = request.subscriptions.keys.sorted().filter { list.membership($0) != nil }
        for roomID in subscribed { cover(roomID, request.subscriptions[roomID]!) }

        let records = from == nil
            ? [:] : try await storage.slidingSyncRooms(connectionID: connectionID, roomIDs: Array(Set(order).union(changed.keys)))
        let direct = try await filtering.directRooms()
        let builder = SlidingRoomBuilder(
            storage: storage, rooms: rooms, user: user, shape: request.shape, ignored: ignored, from: from, current: current)
        var results: [SlidingRoomResult] = []
        var newRecords: [SlidingSyncRoomRecord] = []
        for roomID in order {
            guard let room = list.all[roomID], let config = configs[roomID] else { continue }
            let input = SlidingRoomBuilder.Input(
                entry: room.entry, bumpStamp: room.bumpStamp, config: config, record: records[roomID],
                changedSinceFrom: changed[roomID] != nil, isDM: direct.contains(roomID), lists: roomLists[roomID] ?? [])
            guard let built = try await builder.build(input) else { continue }
            results.append(built.0)
            newRecords.append(built.1)
        }
        // A live room that changed while outside every list is now only up to date as of `from`.
        if let from {
            let covered = Set(order)
            for (roomID, _) in changed where !covered.contains(roomID) {
                guard var record = records[roomID], record.sentUpTo == nil else { continue }
                record.sentUpTo = from
                newRecords.append(record)
            }
        }

        let extensionRooms = SlidingSyncExtensions.Rooms(
            byList: Dictionary(lists.map { ($0.name, $0.roomIDs) }, uniquingKeysWith: { first, _ in first }), subscriptions: subscribed,
            initial: Set(results.filter(\.initial).map(\.roomID)),
            timelines: Dictionary(results.map { ($0.roomID, $0.timelineEventIDs) }, uniquingKeysWith: { first, _ in first }))
        let extensions = try await SlidingSyncExtensions(storage: storage, user: user, from: from, current: current)
            .build(request.extensions, rooms: extensionRooms)
        return Response(
            lists: lists, rooms: results, extensions: extensions.body, hasNews: !results.isEmpty || extensions.hasNews,
            listsDigest: Self.digest(lists.map(\.digestText).joined(separator: "|")), records: newRecords,
            watched: list.allRoomIDs)
    }

    /// FNV-1a, 64 bits: enough to tell whether lists changed, and stable across nodes.
    static func digest(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}
