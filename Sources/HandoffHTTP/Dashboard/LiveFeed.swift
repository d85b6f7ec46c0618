import Foundation
import HTTPTypes
import HandoffService
import HandoffStore
import Hummingbird
import NIOCore
import Postgres
import ServiceLifecycle
import Synchronization

/// What wakes the live pages: one LISTEN connection per server on the channel writers notify after they commit
/// events (`LogNotifier`), with a polling fallback (a notification lost while the listener reconnects delays a page by `pollInterval` at
/// most). Each wake-up is a tick to every open `/events/stream`, which then reads what is new from the global log
/// itself, so every client sees every event exactly once, in log order, whatever ticks are merged or lost.
final class LiveFeed: Service, Sendable {
    private let configuration: ConnectionConfiguration
    private let subscribers = Mutex<[UUID: AsyncStream<Void>.Continuation]>([:])
    let pollInterval: Duration

    init(configuration: ConnectionConfiguration, pollInterval: Duration = .seconds(2)) {
        self.configuration = configuration
        self.pollInterval = pollInterval
    }

    func run() async throws {
        let listener = NotificationListener(configuration, channels: [EventStore.notificationChannel])
        defer {
            listener.stop()
            let open = subscribers.withLock { subscribers in
                defer { subscribers.removeAll() }
                return Array(subscribers.values)
            }
            for continuation in open { continuation.finish() }
        }
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in
                for await _ in listener.notifications.cancelOnGracefulShutdown() { tick() }
            }
            group.addTask { [self] in
                while !Task.isCancelled, !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: pollInterval)
                    tick()
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    /// Ticks from now on, until the stream is dropped or the server stops.
    func subscribe() -> AsyncStream<Void> {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = continuation }
        return stream
    }

    private func tick() {
        let open = subscribers.withLock { Array($0.values) }
        for continuation in open { continuation.yield() }
    }
}

/// `GET /events/stream`: server-sent events, one per new event of the global log (`id` its log position, `data`
/// the event as `/onboardings/{id}/events` shows it). `Last-Event-ID` (which browsers send when they reconnect)
/// resumes after that event; without it the stream starts with what comes next. A comment line every
/// `keepAlive` keeps proxies from closing a quiet stream.
struct EventStream {
    let engine: Engine
    let feed: LiveFeed
    var keepAlive: Duration = .seconds(15)

    func response(_ request: Request) async throws -> Response {
        let position: LogPosition
        if let last = request.headers[.lastEventID], !last.isEmpty {
            guard let parsed = Self.position(last) else {
                throw EngineError(.invalidInput, "Last-Event-ID is an event id of this stream (\"123/45\"), not '\(last)'")
            }
            position = parsed
        } else {
            position = try await engine.feedEnd()
        }
        let ticks = feed.subscribe()
        let engine = engine
        let quietTicks = max(1, Int(keepAlive / feed.pollInterval))
        let start = position
        let body = ResponseBody { writer in
            var position = start
            try await writer.write(ByteBuffer(string: "retry: 1000\n: connected\n\n"))
            var quiet = 0
            var iterator = ticks.cancelOnGracefulShutdown().makeAsyncIterator()
            repeat {
                let events = try await engine.feed(after: position, limit: 500)
                if events.isEmpty {
                    quiet += 1
                    if quiet >= quietTicks {
                        quiet = 0
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    }
                    continue
                }
                quiet = 0
                var text = ""
                for item in events {
                    text += "id: \(item.position.transactionId)/\(item.position.position)\n"
                    text += "data: " + String(decoding: try JSONBody.encoder.encode(item.event), as: UTF8.self) + "\n\n"
                    position = item.position
                }
                try await writer.write(ByteBuffer(string: text))
            } while await iterator.next() != nil
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store", .init("X-Accel-Buffering")!: "no"],
            body: body)
    }

    /// `transactionId/position`, as the stream writes each event's `id`.
    static func position(_ text: String) -> LogPosition? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let transaction = UInt64(parts[0]), let position = Int64(parts[1]), position >= 0 else {
            return nil
        }
        return LogPosition(transactionId: transaction, position: position)
    }
}

extension HTTPField.Name {
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
}
