import MatrixModel

extension ServerContext {
    /// Spec versions Axon serves. Clients pick features by these (nheko needs one of v1.1–v1.5).
    static let specVersions = ["r0.5.0", "r0.6.0", "r0.6.1"] + (1...19).map { "v1.\($0)" }

    func registerDiscoveryRoutes(on routes: RouteTable, metrics: ServerMetrics) {
        routes.add(.get, "/_matrix/client/versions", auth: .none) { _ in
            // Element X will not sign in without simplified sliding sync.
            .ok(["versions": .array(Self.specVersions.map(JSON.string)), "unstable_features": ["org.matrix.simplified_msc3575": true]])
        }
        routes.add(.get, "/.well-known/matrix/client", auth: .none) { _ in
            .ok(["m.homeserver": ["base_url": .string(config.baseURL)]])
        }
        routes.add(.get, "/.well-known/matrix/support", auth: .none) { _ in
            guard config.adminContact != nil || config.supportPage != nil else {
                throw MatrixError.notFound("No support information is configured")
            }
            var answer: JSONObject = [:]
            if let contact = config.adminContact {
                var entry: JSONObject = ["role": "m.role.admin"]
                if contact.hasPrefix("@") {
                    entry["matrix_id"] = .string(contact)
                } else {
                    entry["email_address"] = .string(contact.hasPrefix("mailto:") ? String(contact.dropFirst(7)) : contact)
                }
                answer["contacts"] = [.object(entry)]
            }
            if let page = config.supportPage { answer["support_page"] = .string(page) }
            return .ok(.object(answer))
        }
        routes.add(.get, "/.well-known/matrix/policy_server", auth: .none) { _ in
            guard let keys = config.policyServerPublicKeys else { throw MatrixError.notFound("This server runs no policy server") }
            return .ok(["public_keys": .object(JSONObject(keys.mapValues(JSON.string)))])
        }
        routes.client(.get, "/capabilities", auth: .required(allowGuests: true)) { request in
            // A login token needs the user's identity confirmed: by password or through a provider.
            let canConfirm = try await canConfirmIdentity(request.user.userID)
            let loginTokens = config.loginViaExistingSession && canConfirm
            return .ok(["capabilities": capabilities(loginTokens: loginTokens)])
        }
        if config.metricsEnabled {
            routes.add(.get, "/metrics", auth: .none) { request in
                // Compared in constant time: the token is the scraper's password.
                if let token = config.metricsToken,
                    !constantTimeEqual(Array((request.accessToken ?? "").utf8), Array(token.utf8))
                {
                    throw MatrixError(401, "M_UNKNOWN_TOKEN", "Metrics need the configured metrics_token")
                }
                let body = metrics.exposition() + ServerMetrics.cacheExposition(storage.cacheStatistics)
                return MatrixResponse(bytes: body, contentType: "text/plain; version=0.0.4; charset=utf-8")
            }
        }
    }

    private func capabilities(loginTokens: Bool) -> JSON {
        var versions = JSONObject()
        for version in RoomVersion.supported { versions[version.identifier] = "stable" }
        return [
            "m.change_password": ["enabled": true],
            "m.room_versions": ["default": .string(RoomVersion.default.identifier), "available": .object(versions)],
            "m.set_displayname": ["enabled": true],
            "m.set_avatar_url": ["enabled": true],
            "m.3pid_changes": ["enabled": .bool(config.email != nil)],
            "m.get_login_token": ["enabled": .bool(loginTokens)],
            "m.profile_fields": ["enabled": true],
            "m.forget_forced_upon_leave": ["enabled": false],
        ]
    }
}
