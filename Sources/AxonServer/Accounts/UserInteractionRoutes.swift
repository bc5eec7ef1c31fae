import AxonStorage
import Crypto
import Foundation
import MatrixModel

/// TURN credentials, mutual rooms and reports: what clients call about other users.
extension ServerContext {
    func registerUserInteractionRoutes(on routes: RouteTable) {
        routes.client(.get, "/voip/turnServer", auth: .required(allowGuests: true)) { request in
            // coturn's REST API: the username carries the expiry, the password is an HMAC of it.
            guard let secret = config.turnSharedSecret, !config.turnURIs.isEmpty else {
                // No TURN configured: a valid answer with no servers (clients then use STUN or peer-to-peer).
                return .ok(["username": "", "password": "", "uris": [], "ttl": .int(Int64(config.turnUserLifetimeSeconds))])
            }
            let expiry = Int64(Date().timeIntervalSince1970) + Int64(config.turnUserLifetimeSeconds)
            let username = "\(expiry):\(request.user.userID)"
            let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(username.utf8), using: SymmetricKey(data: Array(secret.utf8)))
            return .ok([
                "username": .string(username), "password": .string(Data(mac).base64EncodedString()),
                "uris": .array(config.turnURIs.map(JSON.string)), "ttl": .int(Int64(config.turnUserLifetimeSeconds)),
            ])
        }
        routes.add(.get, "/_matrix/client/v1/mutual_rooms") { request in
            guard let other = request.query("user_id") else { throw MatrixError.missingParam("Missing 'user_id'") }
            guard UserID(other) != nil else { throw MatrixError.invalidParam("Invalid user_id") }
            if request.query("from") != nil { throw MatrixError(400, "M_INVALID_PARAM", "Unknown 'from' token: results are never batched") }
            let mine = Set(try await storage.memberships(userID: request.user.userID).filter { $0.membership == "join" }.map(\.roomID))
            let shared = try await storage.memberships(userID: other).filter { $0.membership == "join" && mine.contains($0.roomID) }
            let joined = shared.map(\.roomID).sorted()
            return .ok(["joined": .array(joined.map(JSON.string)), "count": .int(Int64(joined.count))])
        }
        routes.client(.post, "/rooms/{roomId}/report/{eventId}") { request in
            let roomID = try roomIDParameter(request)
            let reason = try request.jsonObject().optionalString("reason")
            let event = try await rooms.visibleEvent(roomID: roomID, eventID: request.parameter("eventId"), userID: request.user.userID)
            try await report(request, roomID: roomID, eventID: event.pdu.eventID, userID: event.pdu.sender, reason: reason)
            return .empty
        }
        routes.client(.post, "/rooms/{roomId}/report") { request in
            let roomID = try roomIDParameter(request)
            let reason = try request.jsonObject().optionalString("reason")
            guard try await storage.room(id: roomID) != nil else { throw MatrixError.notFound("Room not found") }
            try await report(request, roomID: roomID, eventID: nil, userID: nil, reason: reason)
            return .empty
        }
        routes.client(.post, "/users/{userId}/report") { request in
            let userID = request.parameter("userId")
            let reason = try request.jsonObject().optionalString("reason")
            guard UserID(userID) != nil, try await storage.account(userID: userID) != nil else {
                throw MatrixError.notFound("User not found")
            }
            try await report(request, roomID: nil, eventID: nil, userID: userID, reason: reason)
            return .empty
        }
    }

    private func report(_ request: MatrixRequest, roomID: String?, eventID: String?, userID: String?, reason: String?) async throws {
        try await storage.saveReport(
            ContentReport(reporter: request.user.userID, roomID: roomID, eventID: eventID, userID: userID, reason: reason, createdAt: nowMillis()))
        logger.notice(
            "content reported",
            metadata: ["reporter": "\(request.user.userID)", "room_id": "\(roomID ?? "-")", "event_id": "\(eventID ?? "-")", "user_id": "\(userID ?? "-")"])
    }
}
