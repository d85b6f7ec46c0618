import Crypto
import Foundation
import HTTPTypes
import HandoffCore
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A webhook receiver on a free loopback port, for the dispatcher's tests: records every request it gets and
/// answers as told (fail the first N, fail always, answer with a body, take its time).
final class Receiver: Sendable {
    struct Received: Sendable, Equatable {
        var id: String
        var timestamp: String
        var signature: String
        var body: String

        /// The body's JSON.
        var json: Value { (try? Value(parsing: body)) ?? .null }
    }

    struct Script: Sendable {
        /// Requests answered 500 before the first success.
        var failures = 0
        /// Every request answered 500.
        var alwaysFail = false
        /// The body of a success.
        var answer = "{}"
        /// How long each answer takes.
        var delay: Duration = .zero
    }

    private let state: Mutex<(received: [Received], script: Script)>
    private let task: Mutex<Task<Void, any Error>?> = Mutex(nil)
    let port: Int

    private init(port: Int, script: Script) {
        self.port = port
        state = Mutex(([], script))
    }

    var received: [Received] { state.withLock { $0.received } }
    var url: String { "http://127.0.0.1:\(port)/hook" }

    func change(_ update: @Sendable (inout Script) -> Void) {
        state.withLock { update(&$0.script) }
    }

    /// Starts a receiver; `stop()` ends it.
    static func start(_ script: Script = Script()) async throws -> Receiver {
        let ready = AsyncStream<Int>.makeStream()
        let box = Mutex<Receiver?>(nil)
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let received = Received(
                id: request.headers[HTTPField.Name("webhook-id")!] ?? "",
                timestamp: request.headers[HTTPField.Name("webhook-timestamp")!] ?? "",
                signature: request.headers[HTTPField.Name("webhook-signature")!] ?? "", body: String(buffer: body))
            guard let receiver = box.withLock({ $0 }) else { return Response(status: .serviceUnavailable) }
            let script = receiver.state.withLock { state -> Script in
                state.received.append(received)
                let script = state.script
                if state.script.failures > 0 { state.script.failures -= 1 }
                return script
            }
            if script.delay > .zero { try await Task.sleep(for: script.delay) }
            if script.alwaysFail || script.failures > 0 {
                return Response(status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: "not now")))
            }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: script.answer)))
        }
        var logger = Logger(label: "receiver")
        logger.logLevel = .critical
        let application = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                ready.continuation.yield(channel.localAddress?.port ?? 0)
                ready.continuation.finish()
            }, logger: logger)
        let task = Task { try await application.runService(gracefulShutdownSignals: []) }
        var port = 0
        for await value in ready.stream { port = value }
        let receiver = Receiver(port: port, script: script)
        box.withLock { $0 = receiver }
        receiver.task.withLock { $0 = task }
        return receiver
    }

    func stop() async {
        let task = task.withLock { $0 }
        task?.cancel()
        _ = await task?.result
    }

    /// Whether a delivery's signature is the Standard Webhooks one for `secret`, checked here independently of
    /// Handoff's own signing code.
    static func verify(_ received: Received, secret: String) -> Bool {
        guard secret.hasPrefix("whsec_"), let key = Data(base64Encoded: String(secret.dropFirst(6))) else { return false }
        let message = Data("\(received.id).\(received.timestamp).\(received.body)".utf8)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))
        let expected = "v1," + Data(mac).base64EncodedString()
        return received.signature.split(separator: " ").contains { $0 == expected }
    }
}
