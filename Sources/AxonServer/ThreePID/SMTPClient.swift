import Foundation
import MatrixModel
import NIOCore
import NIOPosix
import NIOSSL

/// Outgoing mail (`email` in the config): one SMTP conversation per message, over plain TCP
/// upgraded with STARTTLS, or TLS from the start, with AUTH PLAIN when credentials are set.
struct SMTPClient: Sendable {
    enum Security: String, Sendable, Decodable {
        /// No encryption: only for a relay on the same machine.
        case none
        /// STARTTLS, required: a server that does not offer it is not used.
        case starttls
        /// TLS from the first byte (port 465).
        case tls
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        /// The reply code that ended the conversation, when the server gave one.
        var code: Int?
        /// The server refused the recipient for good (5xx to RCPT): the address is at fault.
        var recipientRefused = false
        init(_ description: String, code: Int? = nil) {
            self.description = description
            self.code = code
        }
    }

    let host: String
    let port: Int
    let security: Security
    let username: String?
    let password: String?
    /// The sender, `Name <address>` or an address.
    let from: String
    let caFile: String?
    /// The name given in EHLO.
    let heloName: String

    func send(to recipient: String, subject: String, text: String) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await converse(recipient: recipient, message: message(to: recipient, subject: subject, text: text)) }
            group.addTask {
                try await Task.sleep(for: .seconds(30))
                throw Failure("the mail server did not finish within 30 seconds")
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// RFC 5322 headers and a UTF-8 text body, with lines of the body that start with a dot
    /// doubled (RFC 5321 §4.5.2).
    func message(to recipient: String, subject: String, text: String) -> String {
        let date = DateFormatter.rfc5322.string(from: Date())
        let id = "<\(RandomString.alphanumeric(24))@\(heloName)>"
        let encodedSubject = "=?UTF-8?B?\(Data(subject.utf8).base64EncodedString())?="
        let body = text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix(".") ? "." + $0 : String($0) }.joined(separator: "\r\n")
        return """
            From: \(from)\r\nTo: <\(recipient)>\r\nSubject: \(encodedSubject)\r\nDate: \(date)\r\nMessage-ID: \(id)\r\nMIME-Version: 1.0\r
            Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\(body)
            """
    }

    static func address(of sender: String) -> String {
        if let open = sender.lastIndex(of: "<"), let close = sender.lastIndex(of: ">"), open < close {
            return String(sender[sender.index(after: open)..<close])
        }
        return sender
    }

    private func tlsHandler() throws -> NIOSSLClientHandler {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile { configuration.additionalTrustRoots = [.file(caFile)] }
        return try NIOSSLClientHandler(context: try NIOSSLContext(configuration: configuration), serverHostname: host)
    }

    private func converse(recipient: String, message: String) async throws {
        let (stream, continuation) = AsyncStream<String>.makeStream()
        let implicitTLS = security == .tls ? try tlsHandler() : nil
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let implicitTLS { try channel.pipeline.syncOperations.addHandler(implicitTLS) }
                    try channel.pipeline.syncOperations.addHandler(SMTPLineHandler(continuation: continuation))
                }
            }
            .connect(host: host, port: port).get()
        defer { channel.close(promise: nil) }
        var lines = stream.makeAsyncIterator()
        /// One reply, of one or more lines (`250-…` continues, `250 …` ends it).
        func reply(_ expected: [Int], to sent: String = "the greeting") async throws -> [String] {
            var texts: [String] = []
            while let line = await lines.next() {
                texts.append(String(line.dropFirst(4)))
                if line.count >= 4, line[line.index(line.startIndex, offsetBy: 3)] == "-" { continue }
                guard let code = Int(line.prefix(3)), expected.contains(code) else {
                    throw Failure("the mail server answered '\(line)' to \(sent)", code: Int(line.prefix(3)))
                }
                return texts
            }
            throw Failure("the mail server closed the connection")
        }
        func command(_ text: String, _ expected: Int...) async throws -> [String] {
            try await channel.writeAndFlush(ByteBuffer(string: text + "\r\n"))
            return try await reply(expected, to: String(text.prefix(4)))
        }
        _ = try await reply([220])
        let extensions = try await command("EHLO \(heloName)", 250)
        if security == .starttls {
            guard extensions.contains(where: { $0.uppercased().hasPrefix("STARTTLS") }) else {
                throw Failure("the mail server does not offer STARTTLS")
            }
            _ = try await command("STARTTLS", 220)
            try await channel.pipeline.addHandler(try tlsHandler(), position: .first).get()
            // RFC 3207 §4.2: what was said before TLS is forgotten, so EHLO again.
            _ = try await command("EHLO \(heloName)", 250)
        }
        if let username, let password {
            let credentials = Data(([0] + Array(username.utf8) + [0] + Array(password.utf8))).base64EncodedString()
            _ = try await command("AUTH PLAIN \(credentials)", 235)
        }
        _ = try await command("MAIL FROM:<\(Self.address(of: from))>", 250)
        do {
            _ = try await command("RCPT TO:<\(recipient)>", 250, 251)
        } catch var failure as Failure {
            failure.recipientRefused = (500..<600).contains(failure.code ?? 0)
            throw failure
        }
        _ = try await command("DATA", 354)
        _ = try await command(message + "\r\n.", 250)
        _ = try? await command("QUIT", 221)
    }
}

/// Splits what the server sends into lines for the conversation.
private final class SMTPLineHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let continuation: AsyncStream<String>.Continuation
    private var pending = ""

    init(continuation: AsyncStream<String>.Continuation) { self.continuation = continuation }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        pending += buffer.readString(length: buffer.readableBytes) ?? ""
        guard pending.utf8.count < 64 * 1024 else {
            continuation.finish()
            context.close(promise: nil)
            return
        }
        while let end = pending.range(of: "\r\n") {
            continuation.yield(String(pending[..<end.lowerBound]))
            pending.removeSubrange(..<end.upperBound)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        continuation.finish()
        context.close(promise: nil)
    }
}

extension DateFormatter {
    static let rfc5322: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter
    }()
}
