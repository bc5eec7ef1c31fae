import Foundation
import MatrixModel

/// The server's Ed25519 key, created on first start and kept in the data directory in
/// Synapse's file format, readable only by the owner.
enum SigningKeyFile {
    static func loadOrCreate(path: String) throws -> SigningKey {
        if FileManager.default.fileExists(atPath: path) {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            guard let key = SigningKey(fileRepresentation: text) else {
                throw ConfigError("signing key file \(path) is malformed")
            }
            return key
        }
        let key = SigningKey.generate(version: "a_" + RandomString.alphanumeric(4))
        let created = FileManager.default.createFile(
            atPath: path, contents: Data(key.fileRepresentation.utf8), attributes: [.posixPermissions: 0o600])
        guard created else { throw ConfigError("cannot write signing key to \(path)") }
        return key
    }
}
