import AxonStorage
import MatrixModel

/// Event relationships (relations.yaml) and threads (threads_list.yaml). Children are shown
/// only when the parent and each child are visible to the user.
extension ServerContext {
    func registerRelationRoutes(on routes: RouteTable) {
        let base = "/_matrix/client/v1/rooms/{roomId}/relations/{eventId}"
        for path in [base, base + "/{relType}", base + "/{relType}/{eventType}"] {
            routes.add(.get, path, auth: .required(allowGuests: true)) { request in
                try await relations(request)
            }
        }
        routes.add(.get, "/_matrix/client/v1/rooms/{roomId}/threads", auth: .required(allowGuests: true)) { request in
            try await threads(request)
        }
    }

    /// A relations token, or a `/sync` `next_batch` or sliding-sync `pos` (the position after
    /// everything that sync showed: going backwards, what it showed is included).
    private func streamToken(_ text: String?, forward: Bool = false) throws(MatrixError) -> Int64? {
        guard let text else { return nil }
        if let position = SyncToken(text)?.position ?? SlidingSyncPos(text)?.streamPosition { return forward ? position : position + 1 }
        guard text.hasPrefix("r"), let position = Int64(text.dropFirst()) else { throw MatrixError.invalidParam("Invalid pagination token") }
        return position
    }

    private func pageLimit(_ request: MatrixRequest, default defaultValue: Int) throws(MatrixError) -> Int {
        try request.integerQuery("limit", default: defaultValue, maximum: Self.maxPageSize)
    }

    private func relations(_ request: MatrixRequest) async throws -> MatrixResponse {
        let roomID = try roomIDParameter(request)
        let userID = request.user.userID
        _ = try await rooms.readAccess(roomID: roomID, userID: userID)
        let parent = try await rooms.visibleEvent(roomID: roomID, eventID: request.parameter("eventId"), userID: userID)
        let dir = request.query("dir") ?? "b"
        guard dir == "b" || dir == "f" else { throw MatrixError.invalidParam("'dir' must be 'b' or 'f'") }
        let forward = dir == "f"
        let limit = try pageLimit(request, default: 50)
        let from = try streamToken(request.query("from"), forward: forward)
        let to = try streamToken(request.query("to"), forward: !forward)
        let relType = request.pathParameters["relType"]
        let eventType = request.pathParameters["eventType"]
        let fetched = try await storage.relations(
            roomID: roomID, parentID: parent.pdu.eventID, relType: relType, eventType: eventType, from: from, forward: forward, limit: limit + 1)
        var page = Array(fetched.prefix(limit))
        if let to { page = page.filter { forward ? $0.streamPosition < to : $0.streamPosition > to } }
        let visible = try await rooms.visibility.filter(page, roomID: roomID, userID: userID)
        var response: JSONObject = [
            "chunk": .array(try await rooms.aggregations.clientEvents(visible, viewer: request.user))
        ]
        if fetched.count > limit, page.count == limit, let last = page.last { response["next_batch"] = .string("r\(last.streamPosition)") }
        if let from { response["prev_batch"] = .string("r\(from)") }
        // Only direct children are returned; say so when the client asked to recurse.
        if request.query("recurse") != nil { response["recursion_depth"] = 1 }
        return .ok(.object(response))
    }

    private func threads(_ request: MatrixRequest) async throws -> MatrixResponse {
        let roomID = try roomIDParameter(request)
        let userID = request.user.userID
        _ = try await rooms.readAccess(roomID: roomID, userID: userID)
        let include = request.query("include") ?? "all"
        guard include == "all" || include == "participated" else { throw MatrixError.invalidParam("'include' must be all or participated") }
        let limit = try pageLimit(request, default: 20)
        let roots = try await storage.threadRoots(
            roomID: roomID, participant: include == "participated" ? userID : nil, before: try streamToken(request.query("from")),
            limit: limit + 1)
        let visibleRoots = try await rooms.visibility.filter(
            try await storage.events(ids: roots.prefix(limit).map(\.rootID)).filter { $0.roomID == roomID }, roomID: roomID, userID: userID)
        let order = Dictionary(roots.enumerated().map { ($1.rootID, $0) }, uniquingKeysWith: { first, _ in first })
        let chunk = try await rooms.aggregations.clientEvents(
            visibleRoots.sorted { (order[$0.pdu.eventID] ?? 0) < (order[$1.pdu.eventID] ?? 0) }, viewer: request.user)
        var response: JSONObject = ["chunk": .array(chunk)]
        if roots.count > limit, let last = roots.prefix(limit).last { response["next_batch"] = .string("r\(last.latest)") }
        return .ok(.object(response))
    }
}
