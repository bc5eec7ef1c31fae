import AxonStorage
import MatrixModel

extension ServerContext {

    func registerSyncRoutes(on routes: RouteTable) {
        let sync = SyncService(storage: storage, rooms: rooms, notifier: notifier, presence: presence)
        routes.client(.get, "/sync", auth: .required(allowGuests: true)) { request in
            if let presence = request.query("set_presence"), !["online", "offline", "unavailable"].contains(presence) {
                throw MatrixError.invalidParam("set_presence must be online, offline or unavailable")
            }
            let since = try request.query("since").map { token throws(MatrixError) -> SyncToken in
                guard let parsed = SyncToken(token) else { throw MatrixError.invalidParam("Invalid 'since' token") }
                return parsed
            }
            try await presence.syncing(userID: request.user.userID, state: request.query("set_presence") ?? "online")
            let fullState = request.query("full_state") == "true"
            let filter = try await syncFilter(request)
            return .ok(
                try await sync.sync(
                    .init(
                        user: request.user, since: since?.position, toDeviceAcknowledged: since?.toDeviceAcknowledged, filter: filter,
                        fullState: fullState, timeout: try timeout(request))))
        }
        routes.client(.post, "/user/{userId}/filter") { request in
            guard request.parameter("userId") == request.user.userID else {
                throw MatrixError.forbidden("Cannot create filters for other users")
            }
            let body = try request.jsonObject()
            _ = try SyncFilter(body)
            guard body.encodedBytes().count <= SyncFilter.maxStoredBytes else {
                throw MatrixError.invalidParam("A filter may be at most \(SyncFilter.maxStoredBytes) bytes")
            }
            let id = try await storage.createFilter(userID: request.user.userID, filter: body, keepingAtMost: SyncFilter.maxStoredPerUser)
            return .ok(["filter_id": .string(id)])
        }
        routes.client(.get, "/user/{userId}/filter/{filterId}") { request in
            guard request.parameter("userId") == request.user.userID else {
                throw MatrixError.forbidden("Cannot read filters of other users")
            }
            guard let filter = try await storage.filter(userID: request.user.userID, filterID: request.parameter("filterId")) else {
                throw MatrixError.notFound("No such filter")
            }
            return .ok(filter)
        }
    }

    /// `timeout` in milliseconds, 0 when absent.
    func timeout(_ request: MatrixRequest, default defaultValue: Int64 = 0) throws(MatrixError) -> Duration {
        // Capped (`max_long_poll_seconds`), the default too, so no request is held forever.
        let cap = config.maxLongPollSeconds * 1000
        return .milliseconds(try request.integerQuery("timeout", default: min(Int(defaultValue), cap), maximum: cap))
    }

    /// A filter given inline as JSON or by the ID of a stored one.
    private func syncFilter(_ request: MatrixRequest) async throws -> SyncFilter {
        guard let text = request.query("filter") else { return SyncFilter() }
        if text.hasPrefix("{") {
            guard let json = try? JSONParser.parse(text) else { throw MatrixError.invalidParam("'filter' is not valid JSON") }
            return try SyncFilter(json)
        }
        guard let stored = try await storage.filter(userID: request.user.userID, filterID: text) else {
            throw MatrixError.invalidParam("Unknown filter \(text)")
        }
        return try SyncFilter(stored)
    }
}
