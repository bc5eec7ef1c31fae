import AxonStorage
import MatrixModel

/// What `axon admin` does for an admin with shell access and no token: the same operations
/// as the admin API, on the database directly, with the same consequences.
public struct AdminCommands: Sendable {
    let context: ServerContext

    /// Who blocks and quarantines, in the records, when it is done from the shell.
    var actor: String { "@axon-cli:\(context.serverName)" }

    /// `alice` or `@alice:server`, resolved as login resolves it.
    private func existing(_ text: String) async throws -> Account {
        guard let account = try await context.accounts.resolveLocalAccount(text) else { throw MatrixError.notFound("No user \(text)") }
        return account
    }

    public func listUsers(deactivated: Bool, adminsOnly: Bool) async throws -> [Account] {
        var query = AccountListQuery()
        query.limit = Int.max
        query.deactivated = deactivated ? nil : false
        query.admins = adminsOnly ? true : nil
        return try await context.storage.listAccounts(query).accounts
    }

    public func createUser(_ name: String, password: String, admin: Bool) async throws -> String {
        let userID = try context.accounts.validatedNewUserID(name)
        try await context.accounts.ensureAvailable(userID)
        _ = try await context.accounts.register(userID: userID, password: password, isAdmin: admin, login: nil)
        return userID.description
    }

    public func deactivate(_ user: String, erase: Bool) async throws -> String {
        let account = try await existing(user)
        try await context.deactivate(account.userID, erase: erase)
        return account.userID
    }

    public func resetPassword(_ user: String, password: String, logoutDevices: Bool) async throws -> String {
        let account = try await existing(user)
        try context.accounts.checkPasswordShape(password)
        try await context.setPassword(account.userID, password, logoutDevices: logoutDevices)
        return account.userID
    }

    public func setAdmin(_ user: String, _ isAdmin: Bool) async throws -> String {
        let account = try await existing(user)
        try await context.storage.setAdmin(userID: account.userID, isAdmin: isAdmin)
        return account.userID
    }

    public func listRooms(search: String?) async throws -> [RoomSummary] {
        var query = RoomListQuery()
        query.limit = Int.max
        query.searchTerm = search
        return try await context.storage.listRooms(query, localServer: context.serverName.value).rooms
    }

    /// Shuts the room down as `DELETE /_synapse/admin/v1/rooms/{roomId}` does, in the name of
    /// the server itself; the answer is that API's.
    public func deleteRoom(_ roomID: String, block: Bool, purge: Bool) async throws -> JSON {
        guard RoomID(roomID) != nil else { throw MatrixError.invalidParam("'\(roomID)' is not a room ID") }
        let known = try await context.storage.room(id: roomID) != nil
        guard block || known else { throw MatrixError.notFound("Unknown room \(roomID)") }
        let request = try RoomShutdownRequest(["block": .bool(block), "purge": .bool(purge)], localServer: context.serverName)
        return .object(try await context.shutdownRoom(roomID, admin: actor, request))
    }

    public func reports() async throws -> [ContentReport] {
        try await context.storage.reports()
    }

    public func report(id: Int64) async throws -> ContentReport? {
        try await context.storage.report(id: id)
    }

    /// Quarantines (or releases) one item named `mxc://server/id` or `server/id`.
    public func quarantine(_ media: String, release: Bool) async throws -> Int {
        let uri = media.hasPrefix("mxc://") ? media : "mxc://" + media
        guard let (origin, mediaID) = ServerContext.mxcParts(uri) else { throw MatrixError.invalidParam("'\(media)' is not server/media_id") }
        return try await context.storage.setMediaQuarantine(
            origin: origin == context.serverName.value ? nil : origin, mediaIDs: [mediaID], by: release ? nil : actor)
    }
}

extension AxonServer {
    public var admin: AdminCommands { AdminCommands(context: context) }
}
