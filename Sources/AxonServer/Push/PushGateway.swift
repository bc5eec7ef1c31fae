import AsyncHTTPClient
import AxonStorage
import Foundation
import Logging
import MatrixModel
import NIOCore

/// Sends notifications to HTTP pushers' push gateways (Push Gateway API
/// `POST /_matrix/push/v1/notify`) after the event has committed. A failed delivery is
/// retried with doubling delays; pushkeys the gateway rejects lose their pusher.
///
/// Deliveries are in memory: a notification still being retried when the process stops is
/// not sent. The event and its unread count are safe in the database either way.
struct PushGateway: Sendable {
    let storage: any Storage
    let attempts: Int
    let initialDelay: Duration
    let allowPrivateAddresses: Bool
    /// False when the server may contact no other host (`outbound_enabled`).
    let enabled: Bool
    let logger: Logger
    private let client: HTTPClient

    init(
        storage: any Storage, attempts: Int, initialDelay: Duration, allowPrivateAddresses: Bool, enabled: Bool = true,
        caFile: String? = nil, logger: Logger
    ) {
        self.storage = storage
        self.client = OutboundHTTP.client(extraCAFile: caFile)
        self.enabled = enabled
        self.attempts = attempts
        self.initialDelay = initialDelay
        self.allowPrivateAddresses = allowPrivateAddresses
        self.logger = logger
    }

    /// Starts delivering the event's notifications; returns at once.
    func eventPersisted(_ event: StoredEvent) {
        guard enabled else { return }
        Task {
            do {
                let deliveries = try await storage.pushDeliveries(eventID: event.pdu.eventID)
                for delivery in deliveries where delivery.pusher.kind == "http" {
                    let body = try await notification(event, delivery)
                    Task { await send(body, to: delivery.pusher) }
                }
            } catch {
                logger.warning("push: could not prepare notifications", metadata: ["event": "\(event.pdu.eventID)", "error": "\(error)"])
            }
        }
    }

    private func send(_ body: JSON, to pusher: Pusher) async {
        guard let url = pusher.data["url"]?.stringValue, let host = URLComponents(string: url)?.host else { return }
        var delay = initialDelay
        for attempt in 1...attempts {
            // Checked before every attempt: what a name resolves to can change between them.
            if !allowPrivateAddresses, (try? await PushDestination.resolvesInternally(host)) != false {
                logger.warning("push: refusing a gateway on an internal or unresolvable address", metadata: ["url": "\(url)"])
                return
            }
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body.encodedBytes()))
                let response = try await client.execute(request, timeout: .seconds(15))
                let responseBody = try await response.body.collect(upTo: 64 * 1024)
                if (200..<300).contains(Int(response.status.code)) {
                    let rejected = (try? JSONParser.parse(Array(buffer: responseBody)))?["rejected"]?.arrayValue ?? []
                    if rejected.contains(.string(pusher.pushkey)) {
                        logger.info("push: gateway rejected a pushkey; removing its pusher", metadata: ["app_id": "\(pusher.appID)"])
                        try await storage.deletePusher(userID: pusher.userID, appID: pusher.appID, pushkey: pusher.pushkey)
                    }
                    return
                }
                // Redirects are not followed (OutboundHTTP), and neither they nor 4xx other
                // than 429 will get better by retrying.
                if (300..<500).contains(Int(response.status.code)) && response.status.code != 429 {
                    logger.warning("push: gateway refused the notification", metadata: ["status": "\(response.status.code)", "url": "\(url)"])
                    return
                }
            } catch {
                logger.debug("push: delivery failed", metadata: ["attempt": "\(attempt)", "url": "\(url)", "error": "\(error)"])
            }
            guard attempt < attempts else { break }
            try? await Task.sleep(for: delay)
            delay *= 2
        }
        logger.warning("push: giving up on a notification", metadata: ["url": "\(url)", "attempts": "\(attempts)"])
    }

    /// The notification as the Push Gateway API describes it; `event_id_only` pushers get
    /// no content, for gateways that should not see messages.
    private func notification(_ event: StoredEvent, _ delivery: PushDelivery) async throws -> JSON {
        let pusher = delivery.pusher
        let pdu = event.pdu
        var data = pusher.data.objectValue ?? [:]
        data["url"] = nil
        let device: JSON = [
            "app_id": .string(pusher.appID), "pushkey": .string(pusher.pushkey), "pushkey_ts": .int(pusher.createdAt / 1000),
            "data": .object(data), "tweaks": .object(PushActions(delivery.action.actions.arrayValue ?? []).tweaks),
        ]
        var notification: JSONObject = [
            "event_id": .string(pdu.eventID), "room_id": .string(event.roomID),
            "counts": ["unread": .int(Int64(try await unreadTotal(pusher.userID)))], "devices": [device],
            "prio": delivery.action.highlight || pdu.type == "m.room.member" || pdu.type == "m.call.invite" ? "high" : "low",
        ]
        guard pusher.data["format"]?.stringValue != "event_id_only" else { return ["notification": .object(notification)] }
        notification["type"] = .string(pdu.type)
        notification["sender"] = .string(pdu.sender)
        notification["content"] = pdu.content
        if pdu.type == "m.room.member" { notification["user_is_target"] = .bool(pdu.stateKey == pusher.userID) }
        let roomID = event.roomID
        if let name = try await storage.currentStateEvent(roomID: roomID, key: StateKey("m.room.name", ""))?.content["name"]?.stringValue {
            notification["room_name"] = .string(name)
        }
        if let alias = try await storage.currentStateEvent(roomID: roomID, key: StateKey("m.room.canonical_alias", ""))?
            .content["alias"]?.stringValue
        {
            notification["room_alias"] = .string(alias)
        }
        if let displayName = try await storage.currentStateEvent(roomID: roomID, key: .member(pdu.sender))?
            .content["displayname"]?.stringValue
        {
            notification["sender_display_name"] = .string(displayName)
        }
        return ["notification": .object(notification)]
    }

    /// The badge count: unread notifications over the user's joined rooms.
    private func unreadTotal(_ userID: String) async throws -> Int {
        var total = 0
        for membership in try await storage.memberships(userID: userID) where membership.membership == "join" {
            total += try await storage.notificationCounts(userID: userID, roomID: membership.roomID).reduce(0) { $0 + $1.notifications }
        }
        return total
    }
}
