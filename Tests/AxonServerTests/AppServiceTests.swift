@testable import AxonServer
import AxonStorage
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import MatrixModel
import NIOCore
import Synchronization
import Testing

/// Application services: registration files, masquerading, namespaces, and transactions.
@Suite struct AppServiceTests {
    static func registration(id: String = "bridge", url: String? = "http://127.0.0.1:9", extra: String = "") -> String {
        """
        id: "\(id)"
        url: \(url.map { "\"\($0)\"" } ?? "null")
        as_token: "as-\(id)"
        hs_token: "hs-\(id)"
        sender_localpart: "_\(id)_bot"
        namespaces:
          users:
            - exclusive: true
              regex: "@_\(id)_.*:localhost"
          aliases:
            - exclusive: true
              regex: "#_\(id)_.*"
          rooms: []
        rate_limited: false
        \(extra)
        """
    }

    static func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("as-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func registrationFilesAreChecked() throws {
        let good = try AppServiceRegistration.load(path: try Self.file(Self.registration()))
        #expect(good.id == "bridge" && good.users.count == 1 && !good.rateLimited && good.sender(on: ServerName("localhost")!) == "@_bridge_bot:localhost")
        #expect(good.users[0].matches("@_bridge_alice:localhost") && !good.users[0].matches("@alice:localhost"))
        for (broken, field) in [
            (Self.registration().replacingOccurrences(of: "as_token: \"as-bridge\"\n", with: ""), "'as_token' is missing"),
            (Self.registration().replacingOccurrences(of: "@_bridge_.*:localhost", with: "@_bridge_(:localhost"), "namespaces.users[0].regex"),
            (Self.registration().replacingOccurrences(of: "\"http://127.0.0.1:9\"", with: "\"ftp://x\""), "'url'"),
            (Self.registration().replacingOccurrences(of: "rate_limited: false", with: "rate_limited: maybe"), "'rate_limited'"),
        ] {
            let path = try Self.file(broken)
            #expect(throws: ConfigError.self) { try AppServiceRegistration.load(path: path) }
            do { _ = try AppServiceRegistration.load(path: path) } catch {
                #expect(error.description.contains(path) && error.description.contains(field), "\(error)")
            }
        }
        let other = try AppServiceRegistration.load(path: try Self.file(Self.registration(id: "bridge")))
        #expect(throws: ConfigError.self) { try AppServiceRegistry([good, other], serverName: ServerName("localhost")!) }
    }

    @Test func servicesRegisterMasqueradeAndKeepTheirNamespaces() async throws {
        let path = try Self.file(Self.registration(extra: "org.matrix.msc3202: true"))
        let second = try Self.file(Self.registration(id: "other"))
        try await TestServer.run(configure: { $0.appServiceConfigFiles = [path, second] }) { server in
            let register: JSON = ["type": "m.login.application_service", "username": "_bridge_alice"]
            let registered = try await server.call(.post, "/_matrix/client/v3/register", token: "as-bridge", json: register)
            #expect(registered.json["user_id"] == "@_bridge_alice:localhost" && registered.json["access_token"] != nil, "\(registered.raw)")
            let outside = try await server.call(.post, "/_matrix/client/v3/register", token: "as-bridge", json: ["type": "m.login.application_service", "username": "alice"])
            #expect(outside.status == 400 && outside.errcode == "M_EXCLUSIVE")
            let theirs = try await server.call(.post, "/_matrix/client/v3/register", token: "as-bridge", json: ["type": "m.login.application_service", "username": "_other_x"])
            #expect(theirs.errcode == "M_EXCLUSIVE")
            let human = try await server.call(.post, "/_matrix/client/v3/register", json: ["username": "_bridge_bob", "password": "a long password"])
            #expect(human.status == 400 && human.errcode == "M_EXCLUSIVE", "\(human.raw)")
            #expect(try await server.call(.post, "/_matrix/client/v3/register", token: "wrong", json: register).errcode == "M_UNKNOWN_TOKEN")
            // A user's own token is not an as_token, and is not called logged out for it.
            let someone = try await server.register("someone")
            let asUser = try await server.call(.post, "/_matrix/client/v3/register", token: someone.token, json: register)
            #expect(asUser.status == 403 && asUser.errcode == "M_FORBIDDEN", "\(asUser.raw)")
            let quiet = try await server.call(
                .post, "/_matrix/client/v3/register", token: "as-bridge", json: ["type": "m.login.application_service", "username": "_bridge_carol", "inhibit_login": true])
            #expect(quiet.json == ["user_id": "@_bridge_carol:localhost"])

            // The sender exists from the start; user_id masquerades within the namespace only.
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami", token: "as-bridge").json["user_id"] == "@_bridge_bot:localhost")
            let puppet = try await server.call(.get, "/_matrix/client/v3/account/whoami?user_id=%40_bridge_alice%3Alocalhost", token: "as-bridge")
            #expect(puppet.json["user_id"] == "@_bridge_alice:localhost", "\(puppet.raw)")
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami?user_id=%40_bridge_nobody%3Alocalhost", token: "as-bridge").status == 403)
            _ = try await server.register("alice")
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami?user_id=%40alice%3Alocalhost", token: "as-bridge").status == 403)
            // MSC3202: a device of the user, and only an existing one.
            let device = try #require(registered.json["device_id"]?.stringValue)
            let asDevice = try await server.call(.get, "/_matrix/client/v3/account/whoami?user_id=%40_bridge_alice%3Alocalhost&device_id=\(device)", token: "as-bridge")
            #expect(asDevice.json["device_id"] == .string(device), "\(asDevice.raw)")
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami?user_id=%40_bridge_alice%3Alocalhost&device_id=NOPE", token: "as-bridge").status == 403)
            #expect(try await server.call(.get, "/_matrix/client/v3/account/whoami?device_id=X", token: "as-other").status == 403)

            // Login as a namespace user; aliases in the namespace are the service's.
            let login = try await server.call(
                .post, "/_matrix/client/v3/login", token: "as-bridge",
                json: ["type": "m.login.application_service", "identifier": ["type": "m.id.user", "user": "_bridge_carol"]])
            #expect(login.json["user_id"] == "@_bridge_carol:localhost" && login.json["access_token"] != nil, "\(login.raw)")
            let aliceToken = try #require(try await server.login("alice").json["access_token"]?.stringValue)
            let roomID = try await server.createRoom(aliceToken)
            let claimed = try await server.call(.put, "/_matrix/client/v3/directory/room/%23_bridge_x:localhost", token: aliceToken, json: ["room_id": .string(roomID)])
            #expect(claimed.errcode == "M_EXCLUSIVE")
            let bridged = try await server.call(.post, "/_matrix/client/v3/createRoom", token: "as-bridge", json: ["room_alias_name": "_bridge_x"])
            #expect(bridged.status == 200, "\(bridged.raw)")

            // Timestamp massaging: the service's `ts` is kept, anyone else's ignored.
            let bridgedRoom = try #require(bridged.json["room_id"]?.stringValue)
            let massaged = try await server.call(
                .put, server.room(bridgedRoom, "/send/m.room.message/ts1?ts=1234"), token: "as-bridge", json: ["msgtype": "m.text", "body": "old"])
            let event = try await server.server.storage.event(id: try #require(massaged.json["event_id"]?.stringValue))
            #expect(event?.pdu.originServerTS == 1234)
            let plain = try await server.call(.put, server.room(roomID, "/send/m.room.message/ts2?ts=1234"), token: aliceToken, json: ["msgtype": "m.text", "body": "now"])
            #expect(try await server.server.storage.event(id: try #require(plain.json["event_id"]?.stringValue))?.pdu.originServerTS != 1234)
        }
    }
}

/// A stand-in application service on loopback: records transactions, answers queries, and
/// fails transactions while told to.
final class FakeAppService: Sendable {
    let transactions = Mutex<[(id: String, body: JSON)]>([])
    let failing = Mutex(false)
    let pings = Mutex<[JSON]>([])
    let queries = Mutex<[String]>([])
    let hsToken: String
    /// How long each transaction is held before it is answered.
    let delay: Duration

    init(hsToken: String = "hs-bridge", delay: Duration = .zero) {
        self.hsToken = hsToken
        self.delay = delay
    }

    func application() -> some ApplicationProtocol {
        let router = Router()
        router.put("/_matrix/app/v1/transactions/:txn") { request, context -> Response in
            guard request.headers[.authorization] == "Bearer \(self.hsToken)" else { return Response(status: .forbidden) }
            if self.delay > .zero { try await Task.sleep(for: self.delay) }
            let body = try JSONParser.parse(Array(buffer: try await request.body.collect(upTo: 1 << 22)))
            let id = context.parameters.get("txn") ?? ""
            if self.failing.withLock({ $0 }) { return Response(status: .internalServerError) }
            self.transactions.withLock { $0.append((id, body)) }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        router.get("/_matrix/app/v1/thirdparty/protocol/irc") { _, _ -> Response in
            Self.json([
                "user_fields": ["nick"], "location_fields": [], "icon": "mxc://localhost/icon", "field_types": [:],
                "instances": [["network_id": "libera", "desc": "Libera", "fields": [:]]],
            ])
        }
        router.get("/_matrix/app/v1/thirdparty/user/irc") { request, _ -> Response in
            let nick = request.uri.queryParameters.get("nick") ?? ""
            return Self.json([["userid": .string("@_bridge_\(nick):localhost"), "protocol": "irc", "fields": ["nick": .string(nick)]]])
        }
        router.get("/_matrix/app/v1/users/:user") { _, context -> Response in
            self.queries.withLock { $0.append(context.parameters.get("user")?.removingPercentEncoding ?? "") }
            return Self.json([:])
        }
        router.get("/_matrix/app/v1/rooms/:alias") { _, context -> Response in
            // Hummingbird hands path parameters over still percent-encoded.
            self.queries.withLock { $0.append(context.parameters.get("alias")?.removingPercentEncoding ?? "") }
            return Self.json([:])
        }
        router.post("/_matrix/app/v1/ping") { request, _ -> Response in
            let body = try JSONParser.parse(Array(buffer: try await request.body.collect(upTo: 1 << 16)))
            self.pings.withLock { $0.append(body) }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    static func json(_ body: JSON) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body.encodedString())))
    }

    func events() -> [JSON] { transactions.withLock { $0.flatMap { $0.body["events"]?.arrayValue ?? [] } } }
}

extension AppServiceTests {
    @Test func transactionsCarryWhatIsInterestingAndSurviveFailures() async throws {
        let service = FakeAppService()
        try await service.application().test(.live) { client in
            let path = try Self.file(Self.registration(url: "http://127.0.0.1:\(client.port!)"))
            try await TestServer.run(configure: { $0.appServiceConfigFiles = [path] }) { server in
                let sender = server.server.context.appServiceSender
                let bridge = try #require(server.server.context.appServices.services.first)
                await sender.deliver(to: bridge)  // starts the cursor at the present
                let (alice, bob, roomID) = try await server.aliceAndBobInARoom()
                try await server.send(alice.token, roomID, "not for the bridge")
                await sender.deliver(to: bridge)
                #expect(service.events().isEmpty)

                // A puppet joins: from then on the room is interesting.
                _ = try await server.call(.post, "/_matrix/client/v3/register", token: "as-bridge", json: ["type": "m.login.application_service", "username": "_bridge_p"])
                _ = try await server.call(.post, server.room(roomID, "/join") + "?user_id=%40_bridge_p%3Alocalhost", token: "as-bridge", json: [:])
                try await server.send(bob.token, roomID, "hello bridge")
                await sender.deliver(to: bridge)
                let bodies = service.events().compactMap { $0["content"]?["body"]?.stringValue }
                #expect(bodies == ["hello bridge"], "\(service.events())")
                #expect(service.events().contains { $0["type"] == "m.room.member" && $0["state_key"] == "@_bridge_p:localhost" })

                // The service fails: the transaction waits, and is sent again with its ID.
                service.failing.withLock { $0 = true }
                try await server.send(bob.token, roomID, "while down")
                await sender.deliver(to: bridge)
                let before = service.transactions.withLock { $0.count }
                let pending = try #require(try await server.server.storage.appServiceDelivery(id: "bridge")?.pending)
                service.failing.withLock { $0 = false }
                var delivery = try #require(try await server.server.storage.appServiceDelivery(id: "bridge"))
                delivery.retryAt = 0
                try await server.server.storage.saveAppServiceDelivery(id: "bridge", delivery)
                // The server stops (its lease goes) and a fresh one on the same database sends it.
                await sender.releaseLeases()
                let restarted = try await AxonServer(config: server.server.config, storage: server.server.storage, logger: .init(label: "restart"))
                await restarted.context.appServiceSender.deliver(to: bridge)
                // The first server's own retry may take the released lease and send it first
                // (a busy machine makes that likely): either way it goes once, with its ID.
                for _ in 0..<200 where service.transactions.withLock({ $0.count }) == before {
                    try await Task.sleep(for: .milliseconds(100))
                }
                let after = service.transactions.withLock { $0 }
                #expect(after.count == before + 1 && after.last?.id == String(pending.id))
                #expect(after.last?.body["events"]?[0]?["content"]?["body"] == "while down")
                await restarted.context.appServiceSender.deliver(to: bridge)
                #expect(service.transactions.withLock { $0.count } == before + 1)
                #expect(Set(service.transactions.withLock { $0.map(\.id) }).count == before + 1)

                let ping = try await server.call(.post, "/_matrix/client/v1/appservice/bridge/ping", token: "as-bridge", json: ["transaction_id": "t1"])
                #expect(ping.status == 200 && ping.json["duration_ms"]?.intValue != nil, "\(ping.raw)")
                #expect(service.pings.withLock { $0 } == [["transaction_id": "t1"]])
                #expect(try await server.call(.post, "/_matrix/client/v1/appservice/other/ping", token: "as-bridge", json: [:]).status == 403)
            }
        }
    }
}

extension AppServiceTests {
    @Test func ephemeralEventsReachServicesThatAskForThem() async throws {
        let service = FakeAppService()
        try await service.application().test(.live) { client in
            let path = try Self.file(Self.registration(url: "http://127.0.0.1:\(client.port!)", extra: "receive_ephemeral: true"))
            try await TestServer.run(configure: { $0.appServiceConfigFiles = [path] }) { server in
                let sender = server.server.context.appServiceSender
                let bridge = try #require(server.server.context.appServices.services.first)
                let (alice, _, roomID) = try await server.aliceAndBobInARoom()
                _ = try await server.call(.post, "/_matrix/client/v3/register", token: "as-bridge", json: ["type": "m.login.application_service", "username": "_bridge_p"])
                _ = try await server.call(.post, server.room(roomID, "/join") + "?user_id=%40_bridge_p%3Alocalhost", token: "as-bridge", json: [:])
                await sender.deliver(to: bridge)
                let eventID = try #require(try await server.send(alice.token, roomID, "read me").json["event_id"]?.stringValue)
                _ = try await server.call(.post, server.room(roomID, "/receipt/m.read/\(TestServer.path(eventID))"), token: alice.token, json: [:])
                _ = try await server.call(.put, server.room(roomID, "/typing/\(TestServer.path(alice.userID))"), token: alice.token, json: ["typing": true, "timeout": 30000])
                await sender.deliver(to: bridge)
                let bodies = service.transactions.withLock { $0.map(\.body) }
                let ephemeral = bodies.flatMap { $0["ephemeral"]?.arrayValue ?? [] }
                let receipt = try #require(ephemeral.first { $0["type"] == "m.receipt" }, "\(bodies)")
                #expect(receipt["room_id"] == .string(roomID) && receipt["content"]?[eventID]?["m.read"]?[alice.userID]?["ts"] != nil)
                let typing = try #require(ephemeral.first { $0["type"] == "m.typing" })
                #expect(typing["content"]?["user_ids"] == [.string(alice.userID)])
                #expect(bodies.last?["de.sorunome.msc2409.ephemeral"] == bodies.last?["ephemeral"])
            }
        }
    }
}

extension AppServiceTests {
    @Test func msc4190ServicesManageTheirUsersDevices() async throws {
        let path = try Self.file(Self.registration(extra: "io.element.msc4190: true"))
        let plain = try Self.file(Self.registration(id: "other"))
        try await TestServer.run(configure: { $0.appServiceConfigFiles = [path, plain] }) { server in
            _ = try await server.call(
                .post, "/_matrix/client/v3/register", token: "as-bridge", json: ["type": "m.login.application_service", "username": "_bridge_e", "inhibit_login": true])
            let asUser = "?user_id=%40_bridge_e%3Alocalhost"
            let created = try await server.call(.put, "/_matrix/client/v3/devices/BRIDGEDEV" + asUser, token: "as-bridge", json: ["display_name": "Bridge"])
            #expect(created.status == 201, "\(created.raw)")
            #expect(try await server.call(.put, "/_matrix/client/v3/devices/BRIDGEDEV" + asUser, token: "as-bridge", json: ["display_name": "Renamed"]).status == 200)
            let whoami = try await server.call(.get, "/_matrix/client/v3/account/whoami" + asUser + "&device_id=BRIDGEDEV", token: "as-bridge")
            #expect(whoami.json["device_id"] == "BRIDGEDEV", "\(whoami.raw)")
            // No access token was made for it, and deleting needs no password.
            #expect(try await server.call(.delete, "/_matrix/client/v3/devices/BRIDGEDEV" + asUser, token: "as-bridge", json: [:]).status == 200)
            #expect(try await server.server.storage.devices(userID: "@_bridge_e:localhost").isEmpty)

            // A service without the flag makes no devices this way, and a user cannot either.
            _ = try await server.call(.post, "/_matrix/client/v3/register", token: "as-other", json: ["type": "m.login.application_service", "username": "_other_e"])
            #expect(try await server.call(.put, "/_matrix/client/v3/devices/NEW?user_id=%40_other_e%3Alocalhost", token: "as-other", json: [:]).status == 404)
            let alice = try await server.register("alice")
            #expect(try await server.call(.put, "/_matrix/client/v3/devices/NEW", token: alice.token, json: [:]).status == 404)
        }
    }
}

extension AppServiceTests {
    @Test func servicesListRoomsInTheirNetworksDirectory() async throws {
        let path = try Self.file(Self.registration())
        try await TestServer.run(configure: { $0.appServiceConfigFiles = [path] }) { server in
            let alice = try await server.register("alice")
            let ordinary = try await server.createRoom(alice.token, ["preset": "public_chat", "visibility": "public", "name": "Ordinary"])
            let bridged = try await server.createRoom(alice.token, ["preset": "public_chat", "name": "Bridged"])
            let list = "/_matrix/client/v3/directory/list/appservice/irc/\(TestServer.path(bridged))"
            #expect(try await server.call(.put, list, token: alice.token, json: ["visibility": "public"]).status == 403)
            #expect(try await server.call(.put, list, token: "as-bridge", json: ["visibility": "public"]).status == 200)
            func rooms(_ query: String) async throws -> [JSON] {
                try await server.call(.get, "/_matrix/client/v3/publicRooms" + query, token: alice.token).json["chunk"]?.arrayValue?.compactMap { $0["room_id"] } ?? []
            }
            #expect(try await rooms("") == [.string(ordinary)])
            #expect(try await rooms("?third_party_instance_id=bridge%7Circ") == [.string(bridged)])
            #expect(Set(try await rooms("?include_all_networks=true").compactMap(\.stringValue)) == [ordinary, bridged])
            let posted = try await server.call(.post, "/_matrix/client/v3/publicRooms", token: alice.token, json: ["third_party_instance_id": "bridge|irc"])
            #expect(posted.json["chunk"]?[0]?["room_id"] == .string(bridged))
            #expect(try await server.call(.get, "/_matrix/client/v3/publicRooms?third_party_instance_id=nonsense", token: alice.token).status == 400)
            #expect(try await server.call(.put, list, token: "as-bridge", json: ["visibility": "private"]).status == 200)
            #expect(try await rooms("?third_party_instance_id=bridge%7Circ").isEmpty)
        }
    }
}

extension AppServiceTests {
    @Test func encryptedBridgesGetToDeviceMessagesKeyCountsAndDeviceLists() async throws {
        let service = FakeAppService()
        try await service.application().test(.live) { client in
            let path = try Self.file(Self.registration(url: "http://127.0.0.1:\(client.port!)", extra: "org.matrix.msc3202: true"))
            try await TestServer.run(configure: { $0.appServiceConfigFiles = [path] }) { server in
                let sender = server.server.context.appServiceSender
                let bridge = try #require(server.server.context.appServices.services.first)
                let (alice, _, roomID) = try await server.aliceAndBobInARoom()
                let puppet = try await server.call(.post, "/_matrix/client/v3/register", token: "as-bridge", json: ["type": "m.login.application_service", "username": "_bridge_p"])
                let device = try #require(puppet.json["device_id"]?.stringValue)
                let asPuppet = "user_id=%40_bridge_p%3Alocalhost&device_id=\(device)"
                _ = try await server.call(.post, server.room(roomID, "/join") + "?" + asPuppet, token: "as-bridge", json: [:])
                await sender.deliver(to: bridge)
                let uploaded = try await server.call(
                    .post, "/_matrix/client/v3/keys/upload?" + asPuppet, token: "as-bridge",
                    json: ["one_time_keys": ["signed_curve25519:AAAA": ["key": "k1"], "signed_curve25519:AAAB": ["key": "k2"]]])
                #expect(uploaded.status == 200, "\(uploaded.raw)")
                var messages = JSONObject()
                messages[device] = ["hello": "bridge"]
                let toDevice = try await server.call(
                    .put, "/_matrix/client/v3/sendToDevice/m.room_key_request/t1", token: alice.token,
                    json: ["messages": ["@_bridge_p:localhost": .object(messages)]])
                #expect(toDevice.status == 200)
                _ = try await server.login("alice", device: "NEWPHONE")
                try await server.send(alice.token, roomID, "an event for the bridge")
                await sender.deliver(to: bridge)
                let bodies = service.transactions.withLock { $0.map(\.body) }
                let delivered = bodies.flatMap { $0["to_device"]?.arrayValue ?? [] }
                #expect(delivered.contains { $0["type"] == "m.room_key_request" && $0["to_device_id"] == .string(device) && $0["content"] == ["hello": "bridge"] }, "\(bodies)")
                #expect(bodies.contains { $0["org.matrix.msc3202.device_one_time_keys_count"]?["@_bridge_p:localhost"]?[device]?["signed_curve25519"] == 2 })
                #expect(bodies.contains { $0["device_lists"]?["changed"]?.arrayValue?.contains(.string(alice.userID)) == true })
                #expect(bodies.last?["de.sorunome.msc2409.to_device"] != nil)
                // Delivered to the service: nothing waits for the device any more.
                let left = try await server.server.storage.toDeviceByStream(after: 0, upTo: Int64.max).filter { $0.deviceID == device }
                #expect(left.isEmpty)
            }
        }
    }
}

extension AppServiceTests {
    func loaded(_ yaml: String) throws -> AppServiceRegistration {
        try AppServiceRegistration.load(path: try Self.file(yaml))
    }

    static func service(id: String, users: String = "(?!)", aliases: String = "(?!)", rooms: String = "(?!)") -> String {
        """
        id: \(id)
        url: null
        as_token: as-\(id)
        hs_token: hs-\(id)
        sender_localpart: _\(id)_bot
        namespaces:
          users: [{exclusive: false, regex: '\(users)'}]
          aliases: [{exclusive: false, regex: '\(aliases)'}]
          rooms: [{exclusive: false, regex: '\(rooms)'}]
        """
    }

    /// Each rule of spec "Pushing events" on its own, against real stored events.
    @Test func everyInterestRuleOnItsOwn() async throws {
        try await TestServer.run { server in
            let (alice, _, roomID) = try await server.aliceAndBobInARoom()
            let carol = try await server.register("carol")
            _ = try await server.call(.put, "/_matrix/client/v3/directory/room/%23_b_room:localhost", token: alice.token, json: ["room_id": .string(roomID)])
            let messageID = try #require(try await server.send(alice.token, roomID, "hi").json["event_id"]?.stringValue)
            _ = try await server.call(.post, server.room(roomID, "/invite"), token: alice.token, json: ["user_id": .string(carol.userID)])
            let storage = server.server.storage
            let message = try #require(try await storage.event(id: messageID))
            let invite = try #require(try await storage.currentStateEvent(roomID: roomID, key: .member(carol.userID)))
            let inviteEvent = try #require(try await storage.event(id: invite.eventID))
            let serverName = ServerName("localhost")!
            func interested(_ service: AppServiceRegistration, _ event: StoredEvent) async throws -> Bool {
                var interest = AppServiceInterest(storage: storage, serverName: serverName)
                return try await interest.isInteresting(event, to: service)
            }
            let bySender = try loaded(Self.service(id: "s", users: "@alice:localhost"))
            let byStateKey = try loaded(Self.service(id: "k", users: "@carol:localhost"))
            let byRoom = try loaded(Self.service(id: "r", rooms: NSRegularExpression.escapedPattern(for: roomID)))
            let byAlias = try loaded(Self.service(id: "a", aliases: "#_b_.*"))
            let byMember = try loaded(Self.service(id: "m", users: "@bob:.*"))
            let nobody = try loaded(Self.service(id: "n"))
            #expect(try await interested(bySender, message))
            #expect(try await interested(byStateKey, inviteEvent))
            let carolsMessage = try await interested(byStateKey, message)
            #expect(!carolsMessage, "carol is invited, not joined")
            #expect(try await interested(byRoom, message))
            #expect(try await interested(byAlias, message))
            #expect(try await interested(byMember, message))
            let nobodyMessage = try await interested(nobody, message)
            let nobodyInvite = try await interested(nobody, inviteEvent)
            #expect(!nobodyMessage && !nobodyInvite)
        }
    }

    @Test func thirdPartyLookupsAndAliasQueriesReachTheService() async throws {
        let service = FakeAppService()
        try await service.application().test(.live) { client in
            let path = try Self.file(Self.registration(url: "http://127.0.0.1:\(client.port!)", extra: "protocols: [irc]"))
            try await TestServer.run(configure: { $0.appServiceConfigFiles = [path] }) { server in
                let alice = try await server.register("alice")
                let protocols = try await server.call(.get, "/_matrix/client/v3/thirdparty/protocols", token: alice.token)
                #expect(protocols.json["irc"]?["instances"]?[0]?["instance_id"] == "bridge|libera", "\(protocols.raw)")
                let one = try await server.call(.get, "/_matrix/client/v3/thirdparty/protocol/irc", token: alice.token)
                #expect(one.json["user_fields"] == ["nick"])
                #expect(try await server.call(.get, "/_matrix/client/v3/thirdparty/protocol/xmpp", token: alice.token).status == 404)
                let users = try await server.call(.get, "/_matrix/client/v3/thirdparty/user/irc?nick=someone", token: alice.token)
                #expect(users.json == [["userid": "@_bridge_someone:localhost", "protocol": "irc", "fields": ["nick": "someone"]]], "\(users.raw)")
                // An unknown alias of the namespace is asked of the service (which makes nothing here).
                let alias = try await server.call(.get, "/_matrix/client/v3/directory/room/%23_bridge_chan:localhost", token: alice.token)
                #expect(alias.status == 404)
                #expect(service.queries.withLock { $0 } == ["#_bridge_chan:localhost"])
                #expect(try await server.call(.get, "/_matrix/client/v3/directory/room/%23other:localhost", token: alice.token).status == 404)
                #expect(service.queries.withLock { $0 }.count == 1)
                // So is an unknown user of the namespace someone invites, or whose profile is read.
                let roomID = try await server.createRoom(alice.token)
                let invite = try await server.call(.post, server.room(roomID, "/invite"), token: alice.token, json: ["user_id": "@_bridge_new:localhost"])
                #expect(invite.status == 404)
                #expect(try await server.call(.get, "/_matrix/client/v3/profile/@_bridge_other:localhost", token: alice.token).status == 404)
                #expect(try await server.call(.get, "/_matrix/client/v3/profile/@carol:localhost", token: alice.token).status == 404)
                #expect(service.queries.withLock { $0 } == ["#_bridge_chan:localhost", "@_bridge_new:localhost", "@_bridge_other:localhost"])
            }
        }
    }
}

extension AppServiceTests {
    /// A bad registration stops the server from starting, naming the file and the field.
    @Test func aBadRegistrationStopsStartUp() async throws {
        let broken = try Self.file(Self.registration().replacingOccurrences(of: "sender_localpart: \"_bridge_bot\"\n", with: ""))
        await #expect(throws: ConfigError.self) {
            try await TestServer.run(configure: { $0.appServiceConfigFiles = [broken] }) { _ in }
        }
        do {
            try await TestServer.run(configure: { $0.appServiceConfigFiles = [broken] }) { _ in }
        } catch let error as ConfigError {
            #expect(error.description.contains(broken) && error.description.contains("'sender_localpart' is missing"), "\(error)")
        }
        let twice = try Self.file(Self.registration())
        await #expect(throws: ConfigError.self) {
            try await TestServer.run(configure: { $0.appServiceConfigFiles = [twice, twice] }) { _ in }
        }
    }

    @Test func exclusiveNamesAreNotAvailableToOthers() async throws {
        let path = try Self.file(Self.registration())
        try await TestServer.run(configure: { $0.appServiceConfigFiles = [path] }) { server in
            let taken = try await server.call(.get, "/_matrix/client/v3/register/available?username=_bridge_someone")
            #expect(taken.status == 400 && taken.errcode == "M_EXCLUSIVE", "\(taken.raw)")
            #expect(try await server.call(.get, "/_matrix/client/v3/register/available?username=someone").json == ["available": true])
            let sender = try await server.call(.get, "/_matrix/client/v3/register/available?username=_bridge_bot")
            #expect(sender.status == 400)
        }
    }
}

extension AppServiceTests {
    /// The running sender (woken by room changes, not called by the test): a service that
    /// takes seconds to answer does not hold back another.
    @Test func aSlowServiceDelaysNoOther() async throws {
        let slow = FakeAppService(hsToken: "hs-slow", delay: .seconds(3))
        let fast = FakeAppService(hsToken: "hs-bridge")
        try await slow.application().test(.live) { slowClient in
            try await fast.application().test(.live) { fastClient in
                let slowFile = try Self.file(
                    Self.registration(id: "slow", url: "http://127.0.0.1:\(slowClient.port!)").replacingOccurrences(of: "@_slow_.*:localhost", with: "@alice:localhost"))
                let fastFile = try Self.file(
                    Self.registration(url: "http://127.0.0.1:\(fastClient.port!)").replacingOccurrences(of: "@_bridge_.*:localhost", with: "@alice:localhost"))
                try await TestServer.run(configure: { $0.appServiceConfigFiles = [slowFile, fastFile] }) { server in
                    // Both services claim alice (exclusively, so she is made directly, as an admin would).
                    _ = try await server.server.accounts.register(
                        userID: try server.server.accounts.validatedNewUserID("alice"), password: "correct horse", login: nil)
                    let token = try #require(try await server.login("alice").json["access_token"]?.stringValue)
                    let roomID = try await server.createRoom(token)
                    try await Task.sleep(for: .milliseconds(700))  // both cursors start
                    try await server.send(token, roomID, "first")
                    try await Task.sleep(for: .milliseconds(300))  // the slow service now holds a transaction
                    try await server.send(token, roomID, "second")
                    var fastBodies: [String] = []
                    for _ in 0..<40 where !fastBodies.contains("second") {
                        try await Task.sleep(for: .milliseconds(50))
                        fastBodies = fast.events().compactMap { $0["content"]?["body"]?.stringValue }
                    }
                    #expect(fastBodies.contains("second"), "\(fastBodies)")
                    #expect(!slow.events().contains { $0["content"]?["body"] == "second" })
                }
            }
        }
    }
}
