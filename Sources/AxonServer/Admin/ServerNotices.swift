import AxonStorage
import HTTPTypes
import MatrixModel

/// Server notices (Synapse's `send_server_notice`; spec "Server Notices"): a message from
/// the notices user to one local user, in a room the two share, tagged `m.server_notice`
/// for the recipient, which the recipient cannot write in.
extension ServerContext {
    func registerServerNoticeRoutes(on routes: RouteTable) {
        for (method, path) in [(HTTPRequest.Method.post, "/_synapse/admin/v1/send_server_notice"), (.put, "/_synapse/admin/v1/send_server_notice/{txnId}")] {
            routes.add(method, path) { request in
                try requireAdmin(request)
                guard let localpart = config.serverNoticesLocalpart else {
                    throw MatrixError.invalidParam("Server notices are not enabled on this server (server_notices_localpart)")
                }
                let body = try request.jsonObject()
                let recipient = try body.requiredString("user_id")
                guard UserID(recipient)?.server == serverName, let account = try await storage.account(userID: recipient), !account.isDeactivated
                else { throw MatrixError.invalidParam("Server notices can only be sent to active local users") }
                guard let content = try body.optionalObject("content") else { throw MatrixError.missingParam("Missing 'content'") }
                let type = try body.optionalString("type") ?? "m.room.message"
                let stateKey = try body.optionalString("state_key")
                let sender = try await noticesUser(localpart)
                let roomID = try await noticeRoom(for: recipient, from: sender)
                let eventID = try await rooms.send(
                    roomID: roomID, EventTemplate(type: type, stateKey: stateKey, sender: sender, content: content),
                    transaction: method == .put ? transactionKey(request, scope: "server_notice") : nil)
                return .ok(["event_id": .string(eventID)])
            }
        }
    }

    /// The notices user, made on first use (no password: nobody logs in as it).
    private func noticesUser(_ localpart: String) async throws -> String {
        let userID = try accounts.validatedNewUserID(localpart).description
        if try await storage.account(userID: userID) == nil {
            do {
                _ = try await accounts.register(userID: UserID(userID)!, password: nil, login: nil)
            } catch let error as MatrixError where error.errcode == "M_USER_IN_USE" {}
            _ = try await storage.setProfileField(userID: userID, key: "displayname", value: .string(config.serverNoticesDisplayName))
        }
        return userID
    }

    /// A room the notices user is in and the recipient is joined or invited to; else a new
    /// one, the recipient invited to it.
    private func noticeRoom(for recipient: String, from sender: String) async throws -> String {
        for membership in try await storage.memberships(userID: sender) where membership.membership == "join" {
            let theirs = try await storage.membership(roomID: membership.roomID, userID: recipient)?.membership
            if theirs == "join" || theirs == "invite" { return membership.roomID }
        }
        let owner = TokenOwner(userID: sender, deviceID: "", isGuest: false, isAdmin: false)
        let roomID = try await rooms.createRoom(
            [
                "preset": "private_chat", "name": .string(config.serverNoticesRoomName), "invite": [.string(recipient)],
                "power_level_content_override": ["users_default": -10],
            ],
            creator: owner)
        try await updateTags(userID: recipient, roomID: roomID) { $0["m.server_notice"] = [:] }
        return roomID
    }
}
