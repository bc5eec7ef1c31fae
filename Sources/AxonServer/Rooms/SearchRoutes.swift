import AxonStorage
import MatrixModel

/// `POST /search` (spec search.yaml): full-text search of message bodies, room names and
/// topics in the rooms the user is joined to, through each backend's own index (SQLite FTS5,
/// PostgreSQL tsvector). Results pass the same history-visibility and ignore filters as
/// every other read.
extension ServerContext {
    func registerSearchRoutes(on routes: RouteTable) {
        routes.client(.post, "/search") { request in
            let body = try request.jsonObject()
            guard let categories = body["search_categories"]?.objectValue else {
                throw MatrixError.badJSON("'search_categories' must be an object")
            }
            var response: JSONObject = [:]
            if let roomEvents = categories["room_events"] {
                response["room_events"] = try await searchRoomEvents(roomEvents, nextBatch: request.query("next_batch"), request: request)
            }
            return .ok(["search_categories": .object(response)])
        }
    }

    private func searchRoomEvents(_ criteria: JSON, nextBatch: String?, request: MatrixRequest) async throws -> JSON {
        guard case .object = criteria else { throw MatrixError.badJSON("'room_events' must be an object") }
        let term = try criteria.requiredString("search_term")
        let keys = try criteria.optionalStringArray("keys") ?? SearchIndex.keys
        guard keys.allSatisfy(SearchIndex.keys.contains) else {
            throw MatrixError.invalidParam("'keys' may contain only \(SearchIndex.keys.joined(separator: ", "))")
        }
        let order: SearchOrder
        switch try criteria.optionalString("order_by") ?? "rank" {
        case "rank": order = .rank
        case "recent": order = .recent
        default: throw MatrixError.invalidParam("'order_by' must be 'rank' or 'recent'")
        }
        let filter = try RoomEventFilter(criteria.optional("filter"))
        let limit = min(filter.limit ?? 10, 100)
        let context = try criteria.optionalObject("event_context")
        let userID = request.user.userID
        let joined = try await storage.memberships(userID: userID).filter { $0.membership == "join" }.map(\.roomID)
        let rooms = joined.filter(filter.allowsRoom)

        var offset = 0
        var before: Int64?
        if let nextBatch {
            switch (order, nextBatch.split(separator: ":", maxSplits: 1).map(String.init)) {
            case (.rank, let parts) where parts.count == 2 && parts[0] == "o" && Int(parts[1]).map({ $0 >= 0 && $0 <= 10_000 }) == true:
                offset = Int(parts[1]) ?? 0
            case (.recent, let parts) where parts.count == 2 && parts[0] == "s" && Int64(parts[1]) != nil:
                before = Int64(parts[1])
            default:
                throw MatrixError.invalidParam("Invalid 'next_batch' token for this ordering")
            }
        }
        // Matching cost grows with the words and their length: bound both.
        guard term.utf8.count <= Self.maxSearchTermBytes else {
            throw MatrixError.invalidParam("'search_term' may be at most \(Self.maxSearchTermBytes) bytes")
        }
        let words = SearchIndex.words(term)
        guard words.count <= Self.maxSearchWords else { throw MatrixError.invalidParam("'search_term' may have at most \(Self.maxSearchWords) words") }
        let (hits, count) = try await storage.search(
            SearchQuery(words: words, roomIDs: rooms, keys: keys, order: order, offset: offset, before: before, limit: limit))
        let ignored = try await self.rooms.visibility.ignoredUsers(userID)

        var results: [JSON] = []
        var resultRooms = Set<String>()
        for hit in hits {
            let event = hit.event
            guard filter.allows(event.pdu),
                try await !self.rooms.visibility.filter([event], roomID: event.roomID, userID: userID, ignoring: ignored).isEmpty
            else { continue }
            var result: JSONObject = ["rank": .double(hit.rank), "result": ClientEventFormat.json(event, viewer: request.user, version: nil)]
            if let context {
                result["context"] = try await searchContext(event, context, ignored: ignored, request: request)
            }
            results.append(.object(result))
            resultRooms.insert(event.roomID)
        }
        var body: JSONObject = ["highlights": .array(words.map(JSON.string)), "results": .array(results)]
        // The count (optional in the spec) is of results the user may see, never of hidden
        // ones; it is given with the first page, where clients read it, so later pages cost
        // no second query.
        if offset == 0 && before == nil {
            let counted = count <= hits.count
                ? results.count : try await visibleHitCount(words: words, rooms: rooms, keys: keys, filter: filter, userID: userID, ignored: ignored)
            body["count"] = .int(Int64(counted))
        }
        if hits.count == limit, let last = hits.last {
            body["next_batch"] = .string(order == .rank ? "o:\(offset + hits.count)" : "s:\(last.event.streamPosition)")
        }
        if criteria["include_state"]?.boolValue == true {
            var state = JSONObject()
            for roomID in resultRooms.sorted() {
                let events = try await self.rooms.visibleStateEvents(roomID: roomID, userID: userID)
                state[roomID] = .array(events.map { ClientEventFormat.json($0, viewer: request.user, version: nil) })
            }
            body["state"] = .object(state)
        }
        if let groupBy = criteria["groupings"]?["group_by"]?.arrayValue {
            body["groups"] = .object(groups(results, by: groupBy.compactMap { $0["key"]?.stringValue }, nextBatch: body["next_batch"]))
        }
        return .object(body)
    }

    static let maxSearchTermBytes = 512
    static let maxSearchWords = 16
    static let maxCountedHits = 500

    /// How many matches the user may see, counting at most `maxCountedHits`.
    private func visibleHitCount(
        words: [String], rooms: [String], keys: [String], filter: RoomEventFilter, userID: String, ignored: Set<String>
    ) async throws -> Int {
        let (hits, _) = try await storage.search(
            SearchQuery(words: words, roomIDs: rooms, keys: keys, order: .recent, offset: 0, before: nil, limit: Self.maxCountedHits))
        var count = 0
        for (roomID, events) in Dictionary(grouping: hits.map(\.event), by: \.roomID) {
            count += try await self.rooms.visibility.filter(events, roomID: roomID, userID: userID, ignoring: ignored)
                .filter { filter.allows($0.pdu) }.count
        }
        return count
    }

    /// Events around a result, and the senders' profiles as of the result when asked.
    private func searchContext(_ event: StoredEvent, _ context: JSON, ignored: Set<String>, request: MatrixRequest) async throws -> JSON {
        let beforeLimit = Int(min(max(context["before_limit"]?.intValue ?? 5, 0), 50))
        let afterLimit = Int(min(max(context["after_limit"]?.intValue ?? 5, 0), 50))
        let position = TopologicalPosition(depth: event.pdu.depth, stream: event.streamPosition)
        let userID = request.user.userID
        let before = try await rooms.visibility.filter(
            storage.roomEvents(roomID: event.roomID, from: position, direction: .backward, limit: beforeLimit),
            roomID: event.roomID, userID: userID, ignoring: ignored)
        let after = try await rooms.visibility.filter(
            storage.roomEvents(roomID: event.roomID, from: position, direction: .forward, limit: afterLimit),
            roomID: event.roomID, userID: userID, ignoring: ignored)
        let format = { (stored: StoredEvent) in ClientEventFormat.json(stored, viewer: request.user, version: nil) }
        var json: JSONObject = [
            "events_before": .array(before.map(format)), "events_after": .array(after.map(format)),
            "start": .string(RoomGap.before(before.last ?? event).token),
            "end": .string(RoomGap.after(after.last ?? event).token),
        ]
        if context["include_profile"]?.boolValue == true {
            var profiles = JSONObject()
            for sender in Set(([event] + before + after).map(\.pdu.sender)) {
                guard let member = try await storage.stateEvent(group: event.stateGroup, key: .member(sender)) else { continue }
                var profile = JSONObject()
                if let name = member.content["displayname"]?.stringValue { profile["displayname"] = .string(name) }
                if let avatar = member.content["avatar_url"]?.stringValue { profile["avatar_url"] = .string(avatar) }
                profiles[sender] = .object(profile)
            }
            json["profile_info"] = .object(profiles)
        }
        return .object(json)
    }

    /// `groups`: result event IDs per room or per sender, in result order.
    private func groups(_ results: [JSON], by keys: [String], nextBatch: JSON?) -> JSONObject {
        var groups = JSONObject()
        for key in keys where key == "room_id" || key == "sender" {
            var byValue: [(String, [JSON])] = []
            for result in results {
                guard let value = result["result"]?[key]?.stringValue, let id = result["result"]?["event_id"] else { continue }
                if let index = byValue.firstIndex(where: { $0.0 == value }) {
                    byValue[index].1.append(id)
                } else {
                    byValue.append((value, [id]))
                }
            }
            var group = JSONObject()
            for (order, (value, ids)) in byValue.enumerated() {
                var entry: JSONObject = ["results": .array(ids), "order": .int(Int64(order + 1))]
                if let nextBatch { entry["next_batch"] = nextBatch }
                group[value] = .object(entry)
            }
            groups[key] = .object(group)
        }
        return groups
    }
}
