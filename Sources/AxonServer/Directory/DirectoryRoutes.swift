import Foundation
import AxonStorage
import MatrixModel
import NIOHTTP1

/// Room aliases, the published room directory and `publicRooms`.
extension ServerContext {
    func registerDirectoryRoutes(on routes: RouteTable) {
        routes.client(.put, "/directory/room/{roomAlias}") { request in
            let alias = try localAlias(request)
            try appServices.checkAlias(alias.description, caller: request.user.appServiceID)
            let roomID = try request.jsonObject().requiredString("room_id")
            guard RoomID(roomID) != nil else { throw MatrixError.invalidParam("Invalid room ID") }
            guard try await storage.room(id: roomID) != nil else { throw MatrixError.notFound("Unknown room") }
            guard try await storage.membership(roomID: roomID, userID: request.user.userID)?.membership == "join" else {
                throw MatrixError.forbidden("You must be in the room to give it an alias")
            }
            do {
                try await storage.setAlias(alias.description, roomID: roomID, creator: request.user.userID)
            } catch StorageError.conflict {
                throw MatrixError(409, "M_UNKNOWN", "Room alias \(alias) already exists")
            }
            return .empty
        }
        routes.client(.get, "/directory/room/{roomAlias}", auth: .none) { request in
            let alias = request.parameter("roomAlias")
            guard let parsed = RoomAlias(alias) else { throw MatrixError.invalidParam("Invalid room alias") }
            if parsed.server != serverName {
                let (roomID, servers) = try await remoteAlias(alias)
                var unique: [String] = []
                for server in servers where !unique.contains(server) { unique.append(server) }
                return .ok(["room_id": .string(roomID), "servers": .array(unique.map(JSON.string))])
            }
            guard let target = try await localAliasTarget(alias) else { throw MatrixError.notFound("Room alias \(alias) not found") }
            let others = try await storage.joinedServers(roomID: target.roomID, excluding: serverName.value)
            return .ok(["room_id": .string(target.roomID), "servers": .array(([serverName.value] + others).map(JSON.string))])
        }
        routes.client(.delete, "/directory/room/{roomAlias}") { request in
            let alias = try localAlias(request)
            guard let target = try await storage.aliasTarget(alias.description) else {
                throw MatrixError.notFound("Room alias \(alias) not found")
            }
            guard try await canManageAliases(request.user, roomID: target.roomID, creator: target.creator) else {
                throw MatrixError.forbidden("You may not remove this alias")
            }
            try await storage.deleteAlias(alias.description)
            try await dropFromCanonicalAlias(alias.description, roomID: target.roomID, by: request.user.userID)
            return .empty
        }
        routes.client(.get, "/rooms/{roomId}/aliases", auth: .required(allowGuests: true)) { request in
            let roomID = try roomIDParameter(request)
            if case .until = try await rooms.readAccess(roomID: roomID, userID: request.user.userID) {
                throw MatrixError.forbidden("You are not in this room")
            }
            return .ok(["aliases": .array(try await storage.aliases(roomID: roomID).map(JSON.string))])
        }
        routes.client(.get, "/directory/list/room/{roomId}", auth: .none) { request in
            guard let room = try await storage.room(id: try roomIDParameter(request)) else { throw MatrixError.notFound("Unknown room") }
            return .ok(["visibility": room.isPublic ? "public" : "private"])
        }
        routes.client(.put, "/directory/list/room/{roomId}") { request in
            let roomID = try roomIDParameter(request)
            let visibility = try request.jsonObject().optionalString("visibility") ?? "public"
            guard visibility == "public" || visibility == "private" else { throw MatrixError.invalidParam("Unknown visibility") }
            guard try await storage.room(id: roomID) != nil else { throw MatrixError.notFound("Unknown room") }
            // The room's power levels decide, never who created it: a creator may have been
            // demoted or banned since.
            guard try await canManageAliases(request.user, roomID: roomID, creator: nil) else {
                throw MatrixError.forbidden("You may not change the directory visibility of this room")
            }
            try await storage.setPublic(roomID: roomID, isPublic: visibility == "public")
            return .empty
        }
        // An application service lists rooms in its network's directory (spec "Room directories").
        routes.client(.put, "/directory/list/appservice/{networkId}/{roomId}") { request in
            guard let service = request.user.appServiceID else {
                throw MatrixError.forbidden("Only application services may list rooms in a network's directory")
            }
            let roomID = try roomIDParameter(request)
            let visibility = try request.jsonObject().optionalString("visibility") ?? "public"
            guard visibility == "public" || visibility == "private" else { throw MatrixError.invalidParam("Unknown visibility") }
            guard try await storage.room(id: roomID) != nil else { throw MatrixError.notFound("Unknown room") }
            try await storage.setAppServiceListing(
                roomID: roomID, appServiceID: service, networkID: request.parameter("networkId"), listed: visibility == "public")
            return .ok([:])
        }
        routes.client(.get, "/publicRooms", auth: .none) { request in
            if let server = try remoteDirectoryServer(request) {
                return try await remotePublicRooms(server: server, method: .GET, query: request.query, body: nil)
            }
            return try await publicRooms(
                limit: request.query("limit").flatMap(Int.init), since: request.query("since"), search: nil,
                network: try DirectoryNetwork(all: try request.booleanQuery("include_all_networks"), instance: request.query("third_party_instance_id")))
        }
        routes.client(.post, "/publicRooms") { request in
            let body = try request.jsonObject()
            if let server = try remoteDirectoryServer(request) {
                return try await remotePublicRooms(server: server, method: .POST, query: [:], body: body)
            }
            return try await publicRooms(body)
        }
        // Another server's users browsing this server's directory (`?server=` on their side).
        routes.add(.get, "/_matrix/federation/v1/publicRooms", auth: .server) { request in
            try await publicRooms(
                limit: request.query("limit").flatMap(Int.init), since: request.query("since"), search: nil,
                network: try DirectoryNetwork(all: try request.booleanQuery("include_all_networks"), instance: request.query("third_party_instance_id")))
        }
        routes.add(.post, "/_matrix/federation/v1/publicRooms", auth: .server) { request in
            try await publicRooms(try request.jsonObject())
        }
    }

    private func publicRooms(_ body: JSON) async throws -> MatrixResponse {
        let limit = body.optional("limit")?.intValue.map(Int.init)
        let search = try body.optionalObject("filter")?.optionalString("generic_search_term")
        let network = try DirectoryNetwork(all: try body.optionalBool("include_all_networks"), instance: try body.optionalString("third_party_instance_id"))
        return try await publicRooms(limit: limit, since: try body.optionalString("since"), search: search, network: network)
    }

    /// `?server=` naming another server: its directory is asked over federation.
    private func remoteDirectoryServer(_ request: MatrixRequest) throws -> String? {
        guard let server = request.query("server"), server != serverName.value else { return nil }
        guard ServerName(server) != nil else { throw MatrixError.invalidParam("'\(server)' is not a server name") }
        return server
    }

    private func remotePublicRooms(server: String, method: HTTPMethod, query: [String: [String]], body: JSON?) async throws -> MatrixResponse {
        guard federation.client.mayFederate(with: server) else { throw MatrixError.forbidden("This server does not federate with \(server)") }
        // Only the paging and filter parameters travel; `server` itself is ours.
        var forwarded: [String] = []
        for name in ["limit", "since", "include_all_networks", "third_party_instance_id"] {
            if let value = query[name]?.last { forwarded.append(name + "=" + PercentEncoding.queryValue(value)) }
        }
        let path = "/_matrix/federation/v1/publicRooms" + (forwarded.isEmpty ? "" : "?" + forwarded.joined(separator: "&"))
        let response: FederationClient.Response
        do {
            response = try await federation.client.request(method, destination: server, path: path, body: body, timeout: .seconds(20))
        } catch {
            throw MatrixError(502, "M_UNKNOWN", "Could not reach \(server): \(error)")
        }
        guard response.status == 200, case .object(let answer) = response.json, answer["chunk"]?.arrayValue != nil else {
            throw MatrixError(502, "M_UNKNOWN", "\(server) did not answer with a room directory (HTTP \(response.status))")
        }
        return .ok(.object(answer))
    }

    /// Directory pages use offset tokens (`p12`, `h40`). Offsets come from clients: a negative
    /// or absurd one is a 400, never a trap in `dropFirst` or an overflowing sum.
    static let maxPageOffset = 100_000

    static func pageOffset(_ token: String?, prefix: Character) throws(MatrixError) -> Int {
        guard let token else { return 0 }
        guard token.first == prefix, let offset = Int(token.dropFirst()), (0...maxPageOffset).contains(offset) else {
            throw MatrixError.invalidParam("Invalid pagination token")
        }
        return offset
    }

    private func localAlias(_ request: MatrixRequest) throws(MatrixError) -> RoomAlias {
        guard let alias = RoomAlias(request.parameter("roomAlias")) else { throw MatrixError.invalidParam("Invalid room alias") }
        guard alias.server == serverName else { throw MatrixError.invalidParam("Aliases must be on \(serverName)") }
        return alias
    }

    /// A deleted alias leaves the room's `m.room.canonical_alias` (`alias` and `alt_aliases`),
    /// as Synapse does, sent by whoever deleted it when they may; otherwise it stays.
    private func dropFromCanonicalAlias(_ alias: String, roomID: String, by userID: String) async throws {
        guard var content = try await storage.currentStateEvent(roomID: roomID, key: StateKey("m.room.canonical_alias", ""))?.content.objectValue
        else { return }
        let alternatives = content["alt_aliases"]?.arrayValue ?? []
        guard content["alias"]?.stringValue == alias || alternatives.contains(.string(alias)) else { return }
        if content["alias"]?.stringValue == alias { content["alias"] = nil }
        if content["alt_aliases"] != nil { content["alt_aliases"] = .array(alternatives.filter { $0 != .string(alias) }) }
        _ = try? await rooms.send(
            roomID: roomID, EventTemplate(type: "m.room.canonical_alias", stateKey: "", sender: userID, content: .object(content)))
    }

    /// `m.room.canonical_alias` may only name aliases of this room (400 `M_BAD_ALIAS`). An
    /// alias on another server cannot be checked without federation and is taken as given.
    func checkCanonicalAlias(_ content: JSON, roomID: String) async throws {
        var named: [JSON] = []
        if let alias = content["alias"], !alias.isNull { named.append(alias) }
        if let alternatives = content["alt_aliases"] {
            guard let array = alternatives.arrayValue else { throw MatrixError.badJSON("'alt_aliases' must be an array") }
            named += array
        }
        for value in named {
            guard let text = value.stringValue, let alias = RoomAlias(text) else {
                throw MatrixError.invalidParam("\(value.encodedString()) is not a room alias")
            }
            guard alias.server == serverName else { continue }
            guard try await storage.aliasTarget(text)?.roomID == roomID else {
                throw MatrixError(400, "M_BAD_ALIAS", "\(text) does not point to this room")
            }
        }
    }

    /// Server admins, the alias's creator (for an alias), and room members allowed to set the
    /// canonical alias.
    private func canManageAliases(_ user: TokenOwner, roomID: String, creator: String?) async throws -> Bool {
        if user.isAdmin || user.userID == creator { return true }
        guard try await storage.membership(roomID: roomID, userID: user.userID)?.membership == "join",
            let room = try await storage.room(id: roomID)
        else { return false }
        let levels = PowerLevels(
            content: try await storage.currentStateEvent(roomID: roomID, key: .powerLevels)?.content,
            create: try await storage.currentStateEvent(roomID: roomID, key: .create), version: room.version)
        return levels.userLevel(user.userID) >= levels.requiredLevel(eventType: "m.room.canonical_alias", isState: true)
    }

    private func publicRooms(limit: Int?, since: String?, search: String?, network: DirectoryNetwork) async throws -> MatrixResponse {
        var entries: [JSON] = []
        let published = try await network.rooms(storage)
        publicRoomCache.keep(only: Set(published))
        for roomID in published {
            // The key is read before the state, so a change while building invalidates it.
            let position = notifier.position(ofRoom: roomID)
            let entry: JSONObject
            if let cached = publicRoomCache.entry(roomID, position: position) {
                entry = cached
            } else {
                entry = try await chunk(roomID: roomID, state: try await storage.currentState(roomID: roomID))
                publicRoomCache.store(entry, roomID: roomID, position: position)
            }
            if let search, !search.isEmpty {
                let haystack = ["name", "topic", "canonical_alias"].compactMap { entry[$0]?.stringValue?.lowercased() }
                guard haystack.contains(where: { $0.contains(search.lowercased()) }) else { continue }
            }
            entries.append(.object(entry))
        }
        entries.sort { ($0["num_joined_members"]?.intValue ?? 0, $1["room_id"]?.stringValue ?? "") > ($1["num_joined_members"]?.intValue ?? 0, $0["room_id"]?.stringValue ?? "") }
        let offset = try Self.pageOffset(since, prefix: "p")
        let pageSize = min(max(limit ?? 100, 1), 500)
        let page = entries.dropFirst(offset).prefix(pageSize)
        var response: JSONObject = ["chunk": .array(Array(page)), "total_room_count_estimate": .int(Int64(entries.count))]
        if offset + page.count < entries.count { response["next_batch"] = .string("p\(offset + page.count)") }
        if offset > 0 { response["prev_batch"] = .string("p\(max(0, offset - pageSize))") }
        return .ok(.object(response))
    }
}

/// Which directory `/publicRooms` lists: the server's own (the default), every network's
/// (`include_all_networks`), or one application service network (`third_party_instance_id`,
/// `"{appservice}|{network}"` as the protocol's instances name it).
enum DirectoryNetwork {
    case main, all
    case instance(appServiceID: String, networkID: String)

    init(all: Bool?, instance: String?) throws(MatrixError) {
        if let instance {
            guard all != true else { throw MatrixError.invalidParam("'include_all_networks' and 'third_party_instance_id' exclude each other") }
            let parts = instance.split(separator: "|", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw MatrixError.invalidParam("Unknown third_party_instance_id") }
            self = .instance(appServiceID: parts[0], networkID: parts[1])
        } else {
            self = all == true ? .all : .main
        }
    }

    func rooms(_ storage: any Storage) async throws -> [String] {
        switch self {
        case .main:
            return try await storage.publicRooms()
        case .all:
            let listed = try await storage.appServiceListings().map(\.roomID)
            return Array(Set(try await storage.publicRooms() + listed)).sorted()
        case .instance(let service, let network):
            return try await storage.appServiceListings().filter { $0.appServiceID == service && $0.networkID == network }.map(\.roomID)
        }
    }
}
