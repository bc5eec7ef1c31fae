import AsyncHTTPClient
import AxonStorage
import MatrixModel
import NIOCore
import NIOHTTP1

/// The client API's application service parts: `ping` (v1.7), and the third-party lookups
/// (spec "Third-party Networks"), which the services declaring a protocol answer.
extension ServerContext {
    func registerAppServiceRoutes(on routes: RouteTable) {
        routes.add(.post, "/_matrix/client/v1/appservice/{appserviceId}/ping", auth: .none) { request in
            let service = try await callingAppService(request)
            guard service.id == request.parameter("appserviceId") else {
                throw MatrixError.forbidden("The as_token belongs to another application service")
            }
            guard let url = service.url else { throw MatrixError(400, "M_URL_NOT_SET", "The application service has no URL") }
            var body: JSONObject = [:]
            if let transaction = try request.jsonObject().optionalString("transaction_id") { body["transaction_id"] = .string(transaction) }
            let started = ContinuousClock.now
            let answer: (status: HTTPResponseStatus, json: JSON)
            do {
                answer = try await AppServiceClient.request(.POST, url: url + "/_matrix/app/v1/ping", token: service.hsToken, body: .object(body))
            } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
                throw MatrixError(504, "M_CONNECTION_TIMEOUT", "The application service did not answer in time")
            } catch {
                throw MatrixError(502, "M_CONNECTION_FAILED", "Could not reach the application service: \(error)")
            }
            guard (200..<300).contains(Int(answer.status.code)) else {
                throw MatrixError(502, "M_BAD_STATUS", "The application service answered \(answer.status.code)", extra: [
                    "status": .int(Int64(answer.status.code)), "body": .string(answer.json.encodedString()),
                ])
            }
            let elapsed = ContinuousClock.now - started
            return .ok(["duration_ms": .int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)])
        }
        routes.client(.get, "/thirdparty/protocols") { _ in
            var protocols = JSONObject()
            for name in Set(appServices.services.flatMap(\.protocols)).sorted() {
                if let merged = try await protocolDescription(name) { protocols[name] = .object(merged) }
            }
            return .ok(.object(protocols))
        }
        routes.client(.get, "/thirdparty/protocol/{protocol}") { request in
            guard let merged = try await protocolDescription(request.parameter("protocol")) else { throw MatrixError.notFound("Unknown protocol") }
            return .ok(.object(merged))
        }
        for kind in ["location", "user"] {
            routes.client(.get, "/thirdparty/\(kind)/{protocol}") { request in
                let name = request.parameter("protocol")
                let services = appServices.services.filter { $0.protocols.contains(name) }
                guard !services.isEmpty else { throw MatrixError.notFound("Unknown protocol") }
                let fields = request.query.compactMapValues(\.last)
                return .ok(.array(await lookup(services, path: "/_matrix/app/v1/thirdparty/\(kind)/" + PercentEncoding.component(name), query: fields)))
            }
            // Reverse lookups: by Matrix alias (location) or user ID (user), asked of every service.
            routes.client(.get, "/thirdparty/\(kind)") { request in
                let key = kind == "location" ? "alias" : "userid"
                guard let value = request.query(key) else { throw MatrixError.missingParam("Missing '\(key)'") }
                return .ok(.array(await lookup(appServices.services, path: "/_matrix/app/v1/thirdparty/\(kind)", query: [key: value])))
            }
        }
    }

    /// A protocol as the services declaring it describe it, their instances together.
    private func protocolDescription(_ name: String) async throws -> JSONObject? {
        var merged: JSONObject?
        for service in appServices.services where service.protocols.contains(name) {
            guard let url = service.url,
                let answer = try? await AppServiceClient.request(
                    .GET, url: url + "/_matrix/app/v1/thirdparty/protocol/" + PercentEncoding.component(name), token: service.hsToken),
                answer.status == .ok, var description = answer.json.objectValue
            else { continue }
            // Instances say which service they belong to, so directory lookups reach it.
            let instances = (description["instances"]?.arrayValue ?? []).map { instance -> JSON in
                var object = instance.objectValue ?? [:]
                if let id = object["network_id"]?.stringValue { object["instance_id"] = .string("\(service.id)|\(id)") }
                return .object(object)
            }
            if var existing = merged {
                existing["instances"] = .array((existing["instances"]?.arrayValue ?? []) + instances)
                merged = existing
            } else {
                description["instances"] = .array(instances)
                merged = description
            }
        }
        return merged
    }

    /// The services' answers to a third-party query, joined; one that fails adds nothing.
    private func lookup(_ services: [AppServiceRegistration], path: String, query: [String: String]) async -> [JSON] {
        let queryString = query.sorted { $0.key < $1.key }.map { PercentEncoding.queryValue($0.key) + "=" + PercentEncoding.queryValue($0.value) }
            .joined(separator: "&")
        var results: [JSON] = []
        for service in services {
            guard let url = service.url,
                let answer = try? await AppServiceClient.request(.GET, url: url + path + (queryString.isEmpty ? "" : "?" + queryString), token: service.hsToken),
                answer.status == .ok, let list = answer.json.arrayValue
            else { continue }
            results += list
        }
        return results
    }

    /// Asks the services whose namespace holds `userID` whether it exists (`GET
    /// /_matrix/app/v1/users/{userId}`): one that answers 200 has just made it.
    func appServiceMadeUser(_ userID: String) async -> Bool {
        for service in appServices.services where service.users.contains(where: { $0.matches(userID) }) {
            guard let url = service.url,
                let answer = try? await AppServiceClient.request(.GET, url: url + "/_matrix/app/v1/users/" + PercentEncoding.component(userID), token: service.hsToken)
            else { continue }
            if answer.status == .ok, (try? await storage.account(userID: userID)) != nil { return true }
        }
        return false
    }

    /// The room a local alias names, asking the services whose namespace holds it when it is
    /// unknown (`GET /_matrix/app/v1/rooms/{alias}`): one that answers 200 has just made it.
    func localAliasTarget(_ alias: String) async throws -> (roomID: String, creator: String)? {
        if let target = try await storage.aliasTarget(alias) { return target }
        for service in appServices.services where service.aliases.contains(where: { $0.matches(alias) }) {
            guard let url = service.url,
                let answer = try? await AppServiceClient.request(.GET, url: url + "/_matrix/app/v1/rooms/" + PercentEncoding.component(alias), token: service.hsToken),
                answer.status == .ok
            else { continue }
            if let target = try await storage.aliasTarget(alias) { return target }
        }
        return nil
    }
}
