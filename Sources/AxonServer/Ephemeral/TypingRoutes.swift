import AxonStorage
import MatrixModel
import ServiceLifecycle

/// Typing notifications (spec "Typing Notifications"): stored with the stream so every node
/// and every `/sync` sees them, and ended by `TypingSweeper` when their time runs out.
extension ServerContext {
    static let defaultTypingTimeoutMs: Int64 = 30_000
    static let maxTypingTimeoutMs: Int64 = 120_000

    func registerTypingRoutes(on routes: RouteTable) {
        routes.client(.put, "/rooms/{roomId}/typing/{userId}", auth: .required(allowGuests: true)) { request in
            let roomID = try roomIDParameter(request)
            try requireSelf(request, userID: request.parameter("userId"))
            let body = try request.jsonObject()
            guard let typing = try body.optionalBool("typing") else { throw MatrixError.missingParam("Missing 'typing'") }
            let timeout: Int64
            if let value = body.optional("timeout") {
                guard let milliseconds = value.intValue, milliseconds >= 0 else { throw MatrixError.badJSON("'timeout' must be a non-negative integer") }
                timeout = min(milliseconds, Self.maxTypingTimeoutMs)
            } else {
                timeout = Self.defaultTypingTimeoutMs
            }
            guard try await storage.membership(roomID: roomID, userID: request.user.userID)?.membership == "join" else {
                throw MatrixError.forbidden("You are not in this room")
            }
            if request.user.isShadowBanned { return .ok([:]) }
            let position = try await storage.setTyping(
                roomID: roomID, userID: request.user.userID, expiresAt: typing ? nowMillis() + timeout : nil)
            notifier.roomChanged(roomID, position: position)
            try await sendEDU(
                "m.typing", content: ["room_id": .string(roomID), "user_id": .string(request.user.userID), "typing": .bool(typing)], roomID: roomID)
            return .empty
        }
    }
}

/// Ends typing notices whose timeout passed, once a second.
struct TypingSweeper: Service {
    let storage: any Storage
    let notifier: Notifier

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    for expired in (try? await storage.expireTyping(now: nowMillis())) ?? [] {
                        notifier.roomChanged(expired.roomID, position: expired.position)
                    }
                    try await Task.sleep(for: .seconds(1))
                }
            }
        } catch is CancellationError {}
    }
}
