import AxonStorage
import MatrixModel

/// Synapse's federation destinations API: every server Axon sends to, how that goes, the
/// rooms it shares with each, and ending a back-off.
extension ServerContext {
    func registerAdminFederationRoutes(on routes: RouteTable) {
        let base = "/_synapse/admin/v1/federation/destinations"
        routes.add(.get, base) { request in
            try requireAdmin(request)
            var query = DestinationQuery()
            (query.from, query.limit) = try request.adminPage()
            query.search = request.query("destination")
            query.order = try request.orderQuery { DestinationQuery.Order(rawValue: $0) } ?? query.order
            query.descending = try request.backwardsQuery()
            let (destinations, total) = try await storage.destinations(query)
            var response: JSONObject = ["destinations": .array(destinations.map { .object(Self.destinationJSON($0)) }), "total": .int(Int64(total))]
            if query.from + destinations.count < total { response["next_token"] = .string(String(query.from + destinations.count)) }
            return .ok(.object(response))
        }
        routes.add(.get, base + "/{destination}") { request in
            try requireAdmin(request)
            return .ok(.object(Self.destinationJSON(try await knownDestination(request))))
        }
        routes.add(.get, base + "/{destination}/rooms") { request in
            try requireAdmin(request)
            let destination = try await knownDestination(request).destination
            let (from, limit) = try request.adminPage()
            let (rooms, total) = try await storage.destinationRooms(destination, from: from, limit: limit, descending: try request.backwardsQuery())
            var response: JSONObject = [
                "rooms": .array(rooms.map { ["room_id": .string($0.roomID), "stream_ordering": .int($0.streamOrdering)] }),
                "total": .int(Int64(total)),
            ]
            if from + rooms.count < total { response["next_token"] = .string(String(from + rooms.count)) }
            return .ok(.object(response))
        }
        routes.add(.post, base + "/{destination}/reset_connection") { request in
            try requireAdmin(request)
            let destination = try await knownDestination(request).destination
            _ = try await storage.resetDestination(destination)
            federation.sender.wake()
            return .ok([:])
        }
    }

    private func knownDestination(_ request: MatrixRequest) async throws -> DestinationStatus {
        let name = request.parameter("destination")
        guard ServerName(name) != nil else { throw MatrixError.invalidParam("'\(name)' is not a server name") }
        guard let destination = try await storage.destination(name) else { throw MatrixError.notFound("Unknown destination") }
        return destination
    }

    private static func destinationJSON(_ status: DestinationStatus) -> JSONObject {
        [
            "destination": .string(status.destination), "retry_last_ts": .int(status.retryLastTS), "retry_interval": .int(status.retryInterval),
            "failure_ts": status.failureTS.map(JSON.int) ?? .null,
            "last_successful_stream_ordering": status.lastSuccessfulStreamOrdering.map(JSON.int) ?? .null,
        ]
    }
}
