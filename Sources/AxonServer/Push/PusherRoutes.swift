import AxonStorage
import Foundation
import MatrixModel

/// Pushers (spec pusher.yaml) and the notification list (notifications.yaml).
extension ServerContext {
    static let pushGatewayPath = "/_matrix/push/v1/notify"

    func registerPusherRoutes(on routes: RouteTable) {
        routes.client(.get, "/pushers") { request in
            let pushers = try await storage.pushers(userID: request.user.userID)
            return .ok(["pushers": .array(pushers.map(Self.pusherJSON))])
        }
        routes.client(.post, "/pushers/set") { request in
            let body = try request.jsonObject()
            let appID = try body.requiredString("app_id")
            let pushkey = try body.requiredString("pushkey")
            guard let kind = body["kind"] else { throw MatrixError.missingParam("Missing parameter: kind") }
            guard appID.utf8.count <= 64 else { throw MatrixError.invalidParam("app_id is longer than 64 bytes") }
            guard pushkey.utf8.count <= 512 else { throw MatrixError.invalidParam("pushkey is longer than 512 bytes") }
            if kind.isNull {
                try await storage.deletePusher(userID: request.user.userID, appID: appID, pushkey: pushkey)
                return .empty
            }
            let pusher = try Self.pusher(body, request: request, appID: appID, pushkey: pushkey)
            if !config.pushAllowPrivateAddresses, let host = pusher.data["url"]?.stringValue.flatMap({ URLComponents(string: $0)?.host }),
                PushDestination.isInternalLiteral(host)
            {
                throw MatrixError.invalidParam("Push gateways on loopback or private addresses are not allowed on this server")
            }
            try await storage.setPusher(pusher, append: body["append"]?.boolValue ?? false)
            return .empty
        }
        routes.client(.get, "/notifications") { request in
            let limit = max(1, try request.integerQuery("limit", default: 50, maximum: 1000))
            var before: Int64?
            if let from = request.query("from") {
                guard let position = Int64(from), position >= 0 else { throw MatrixError.invalidParam("Invalid 'from' token") }
                before = position
            }
            let only = request.query("only")
            let page = try await storage.notifications(
                userID: request.user.userID, before: before, limit: limit, highlightsOnly: only == "highlight")
            // Rules are per account, not per pusher: the tag of the user's tagged pusher says
            // which device profile the notifications are for.
            let profileTag = try await storage.pushers(userID: request.user.userID).lazy.compactMap(\.profileTag).first
            var notifications: [JSON] = []
            for entry in page {
                var notification: JSONObject = [
                    "actions": entry.actions, "read": .bool(entry.read), "room_id": .string(entry.event.roomID),
                    "ts": .int(entry.event.pdu.originServerTS),
                    "event": ClientEventFormat.json(entry.event, viewer: request.user, version: nil),
                ]
                if let profileTag { notification["profile_tag"] = .string(profileTag) }
                notifications.append(.object(notification))
            }
            var body: JSONObject = ["notifications": .array(notifications)]
            if page.count == limit, let last = page.last { body["next_token"] = .string(String(last.event.streamPosition)) }
            return .ok(.object(body))
        }
    }


    private static func pusher(_ body: JSON, request: MatrixRequest, appID: String, pushkey: String) throws(MatrixError) -> Pusher {
        guard let kind = body["kind"]?.stringValue else { throw MatrixError.badJSON("'kind' must be a string or null") }
        let required = ["app_display_name", "device_display_name", "lang", "data"]
        let missing = required.filter { body[$0] == nil || body[$0]?.isNull == true }
        guard missing.isEmpty else { throw MatrixError.missingParam("Missing parameters: \(missing.joined(separator: ", "))") }
        guard let data = body["data"], case .object = data else { throw MatrixError.badJSON("'data' must be an object") }
        switch kind {
        case "http":
            guard let url = data["url"]?.stringValue, let components = URLComponents(string: url),
                ["http", "https"].contains(components.scheme?.lowercased()), components.host?.isEmpty == false
            else { throw MatrixError.invalidParam("An http pusher needs data.url, an http(s) URL of a push gateway") }
            guard components.path == pushGatewayPath else { throw MatrixError.invalidParam("data.url's path must be \(pushGatewayPath)") }
        case "email":
            throw MatrixError.invalidParam("Email pushers need outgoing mail, which this server does not send")
        default:
            throw MatrixError.invalidParam("Unknown pusher kind '\(kind)'")
        }
        return Pusher(
            userID: request.user.userID, appID: appID, pushkey: pushkey, kind: kind,
            appDisplayName: try body.requiredString("app_display_name"), deviceDisplayName: try body.requiredString("device_display_name"),
            profileTag: try body.optionalString("profile_tag"), lang: try body.requiredString("lang"), data: data,
            deviceID: request.user.deviceID, createdAt: nowMillis())
    }

    static func pusherJSON(_ pusher: Pusher) -> JSON {
        var json: JSONObject = [
            "pushkey": .string(pusher.pushkey), "kind": .string(pusher.kind), "app_id": .string(pusher.appID),
            "app_display_name": .string(pusher.appDisplayName), "device_display_name": .string(pusher.deviceDisplayName),
            "lang": .string(pusher.lang), "data": pusher.data,
        ]
        if let tag = pusher.profileTag { json["profile_tag"] = .string(tag) }
        return .object(json)
    }
}
