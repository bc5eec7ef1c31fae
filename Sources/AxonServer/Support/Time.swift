import Foundation

/// Milliseconds since the Unix epoch, the unit of every Matrix timestamp.
func nowMillis() -> Int64 {
    Int64(Date().timeIntervalSince1970 * 1000)
}

enum RandomString {
    private static let alphanumerics = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    private static let uppercase = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    /// A random string from a cryptographically secure source (the system generator).
    static func alphanumeric(_ length: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphanumerics.randomElement(using: &generator)! })
    }

    static func deviceID() -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<10).map { _ in uppercase.randomElement(using: &generator)! })
    }

    static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
