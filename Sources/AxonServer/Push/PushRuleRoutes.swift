import AxonStorage
import Hummingbird
import MatrixModel

/// `GET/PUT/DELETE /pushrules/...` (spec pushrules.yaml). Every change is written with the
/// full rules as `m.push_rules` account data, so other clients see it in their next /sync.
extension ServerContext {
    func registerPushRuleRoutes(on routes: RouteTable) {
        for path in ["/pushrules/", "/pushrules"] {
            routes.client(.get, path) { request in
                .ok(.object(try await pushRules(request.user.userID).json))
            }
        }
        for path in ["/pushrules/global/", "/pushrules/global"] {
            routes.client(.get, path) { request in
                .ok(try await pushRules(request.user.userID).json["global"] ?? .object([:]))
            }
        }
        let rulePath = "/pushrules/global/{kind}/{ruleId}"
        routes.client(.get, rulePath) { request in
            let (kind, id) = try ruleAddress(request)
            // `/pushrules/global/{kind}/`: the rules of one kind, as Synapse serves them.
            if id.isEmpty { return .ok(try await pushRules(request.user.userID).json["global"]?[kind.rawValue] ?? []) }
            return .ok(.object(try await existingRule(request.user.userID, kind, id).json))
        }
        // Malformed addresses are parameter errors, not unknown endpoints: an unknown scope,
        // or an attribute other than `enabled` and `actions`.
        for method in [HTTPRequest.Method.get, .put, .delete] {
            for path in ["/pushrules/{scope}/{kind}/{ruleId}", "/pushrules/{scope}/{kind}/{ruleId}/{attribute}"] {
                routes.client(method, path) { request in
                    throw MatrixError.invalidParam("Unknown push rule scope '\(request.parameter("scope"))': only 'global' exists")
                }
            }
            routes.client(method, rulePath + "/{attribute}") { request in
                throw MatrixError.invalidParam("Unknown push rule attribute '\(request.parameter("attribute"))'")
            }
        }
        routes.client(.put, rulePath) { request in
            let (kind, id) = try ruleAddress(request, creating: true)
            let body = try request.jsonObject().objectValue ?? [:]
            let before = request.query("before")
            let after = request.query("after")
            try await changePushRules(request.user.userID) { rules throws(MatrixError) in
                try rules.setRule(kind, id: id, body: body, before: before, after: after)
            }
            return .empty
        }
        routes.client(.delete, rulePath) { request in
            let (kind, id) = try ruleAddress(request)
            try await changePushRules(request.user.userID) { rules throws(MatrixError) in try rules.deleteRule(kind, id: id) }
            return .empty
        }
        routes.client(.get, rulePath + "/enabled") { request in
            let (kind, id) = try ruleAddress(request)
            return .ok(["enabled": .bool(try await existingRule(request.user.userID, kind, id).enabled)])
        }
        routes.client(.put, rulePath + "/enabled") { request in
            let (kind, id) = try ruleAddress(request)
            guard let enabled = try request.jsonObject()["enabled"]?.boolValue else {
                throw MatrixError.badJSON("'enabled' must be a boolean")
            }
            try await changePushRules(request.user.userID) { rules throws(MatrixError) in
                try rules.setEnabled(kind, id: id, enabled: enabled)
            }
            return .empty
        }
        routes.client(.get, rulePath + "/actions") { request in
            let (kind, id) = try ruleAddress(request)
            return .ok(["actions": .array(try await existingRule(request.user.userID, kind, id).actions)])
        }
        routes.client(.put, rulePath + "/actions") { request in
            let (kind, id) = try ruleAddress(request)
            guard let actions = try request.jsonObject()["actions"] else { throw MatrixError.missingParam("'actions' is required") }
            try await changePushRules(request.user.userID) { rules throws(MatrixError) in
                try rules.setActions(kind, id: id, actions: actions)
            }
            return .empty
        }
    }

    func pushRules(_ userID: String) async throws -> PushRuleSet {
        PushRuleSet(userID: userID, document: try await storage.pushRules(userID: userID))
    }

    private func existingRule(_ userID: String, _ kind: PushRuleKind, _ id: String) async throws -> PushRule {
        guard let rule = try await pushRules(userID).rule(kind, id: id) else { throw MatrixError.notFound("The push rule was not found.") }
        return rule
    }

    private func changePushRules(_ userID: String, _ change: @escaping @Sendable (inout PushRuleSet) throws(MatrixError) -> Void) async throws {
        let position = try await storage.updatePushRules(userID: userID) { document in
            var rules = PushRuleSet(userID: userID, document: document)
            try change(&rules)
            return (rules.document, .object(rules.json))
        }
        notifier.userChanged(userID, position: position)
    }

    /// An unknown kind is an unknown rule, except when creating one, where it is a bad parameter.
    private func ruleAddress(_ request: MatrixRequest, creating: Bool = false) throws(MatrixError) -> (PushRuleKind, String) {
        guard let kind = PushRuleKind(rawValue: request.parameter("kind")) else {
            if creating { throw MatrixError.invalidParam("Unknown push rule kind \(request.parameter("kind"))") }
            throw MatrixError.notFound("The push rule was not found.")
        }
        return (kind, request.parameter("ruleId"))
    }
}
