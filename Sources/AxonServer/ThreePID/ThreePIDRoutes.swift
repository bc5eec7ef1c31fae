import AxonStorage
import MatrixModel

/// The account's third-party identifiers (spec "Adding Account Administrative Contact
/// Information"). Axon uses no identity server: binding to one is refused as untrusted and
/// unbinding answers `no-support`.
extension ServerContext {
    func registerThreePIDRoutes(on routes: RouteTable) {
        routes.client(.get, "/account/3pid") { request in
            let bound = try await storage.threePIDs(userID: request.user.userID)
            return .ok([
                "threepids": .array(bound.map {
                    ["medium": .string($0.medium), "address": .string($0.address), "validated_at": .int($0.validatedAt), "added_at": .int($0.addedAt)]
                })
            ])
        }
        routes.client(.post, "/account/3pid/add") { request in
            let body = try request.jsonObject()
            guard config.email != nil else { throw MatrixError(400, "M_THREEPID_MEDIUM_NOT_SUPPORTED", "This server does not send email") }
            let credentials: JSON = ["sid": .string(try body.requiredString("sid")), "client_secret": .string(try body.requiredString("client_secret"))]
            try await uia.require(passwordRequirement("account/3pid/add", request), body: body)
            guard let validation = try await uia.validatedThreePID(credentials, purpose: ValidationPurpose.add.rawValue) else {
                throw MatrixError(400, "M_THREEPID_AUTH_FAILED", "The email address has not been confirmed (or the link expired)")
            }
            try await bind(validation, to: request.user.userID)
            return .empty
        }
        routes.client(.post, "/account/3pid/delete") { request in
            let body = try request.jsonObject()
            let medium = try body.requiredString("medium")
            let address = medium == "email" ? try Self.canonicalEmail(try body.requiredString("address")) : try body.requiredString("address")
            _ = try await storage.unbindThreePID(userID: request.user.userID, medium: medium, address: address)
            return .ok(["id_server_unbind_result": "no-support"])
        }
        routes.client(.post, "/account/3pid/unbind") { request in
            _ = try request.jsonObject().requiredString("medium")
            return .ok(["id_server_unbind_result": "no-support"])
        }
        for path in ["/account/3pid/bind", "/account/3pid"] {
            routes.client(.post, path) { _ in
                throw MatrixError(400, "M_SERVER_NOT_TRUSTED", "This server does not use identity servers")
            }
        }
    }

    func bind(_ validation: ThreePIDValidation, to userID: String) async throws {
        do {
            try await storage.bindThreePID(
                userID: userID,
                UserThreePID(medium: validation.medium, address: validation.address, validatedAt: validation.validatedAt ?? nowMillis(), addedAt: nowMillis()))
        } catch StorageError.conflict {
            throw MatrixError(400, "M_THREEPID_IN_USE", "This email address is already in use")
        }
    }
}
