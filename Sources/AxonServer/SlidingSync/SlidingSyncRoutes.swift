import MatrixModel

extension ServerContext {
    /// Where Element X and other matrix-rust-sdk clients call sliding sync today.
    static let unstableSlidingSyncPath = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"

    func registerSlidingSyncRoutes(on routes: RouteTable) {
        let service = SlidingSyncService(
            storage: storage, rooms: rooms, notifier: notifier, presence: presence, maxTimeout: .seconds(config.maxLongPollSeconds),
            roomLists: RoomListCache())
        routes.add(.post, Self.unstableSlidingSyncPath, auth: .required(allowGuests: true)) { request in
            let parser = SlidingSyncRequestParser(shape: .unstable, userID: request.user.userID)
            let timeout = try request.integerQuery("timeout", default: 0, maximum: config.maxLongPollSeconds * 1000)
            let parsed = try parser.parse(
                body: try request.jsonObject(), pos: request.query("pos"), timeout: timeout, setPresence: request.query("set_presence"))
            return .ok(try await service.sync(parsed, user: request.user))
        }
        routes.add(.post, "/_matrix/client/v4/sync", auth: .required(allowGuests: true)) { request in
            let parser = SlidingSyncRequestParser(shape: .v4, userID: request.user.userID)
            let parsed = try parser.parse(body: try request.jsonObject(), pos: nil, timeout: nil, setPresence: nil)
            return .ok(try await service.sync(parsed, user: request.user))
        }
    }
}
